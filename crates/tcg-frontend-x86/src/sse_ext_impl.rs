//! SSE3, SSSE3, SSE4.1, SSE4.2, AES-NI and PCLMULQDQ semantics run by the `sse_ext` helper.

use crate::sse_impl::{arith, daz, get, join, lanes, map2, put, sat_s, sat_u, sx, width, Fp};
use crate::state::{flags, X86State};

/// Operations of the `sse_ext` helper.
#[allow(missing_docs)]
pub(crate) mod op {
    // SSE3.
    pub const ADDSUBPS: u32 = 1;
    pub const ADDSUBPD: u32 = 2;
    pub const HADDPS: u32 = 3;
    pub const HADDPD: u32 = 4;
    pub const HSUBPS: u32 = 5;
    pub const HSUBPD: u32 = 6;
    pub const MOVDDUP: u32 = 7;
    pub const MOVSHDUP: u32 = 8;
    pub const MOVSLDUP: u32 = 9;
    // SSSE3.
    pub const PABSB: u32 = 20;
    pub const PABSW: u32 = 21;
    pub const PABSD: u32 = 22;
    pub const PALIGNR: u32 = 23;
    pub const PHADDW: u32 = 24;
    pub const PHADDD: u32 = 25;
    pub const PHADDSW: u32 = 26;
    pub const PHSUBW: u32 = 27;
    pub const PHSUBD: u32 = 28;
    pub const PHSUBSW: u32 = 29;
    pub const PMADDUBSW: u32 = 30;
    pub const PMULHRSW: u32 = 31;
    pub const PSHUFB: u32 = 32;
    pub const PSIGNB: u32 = 33;
    pub const PSIGNW: u32 = 34;
    pub const PSIGND: u32 = 35;
    // SSE4.1.
    pub const BLENDPS: u32 = 40;
    pub const BLENDPD: u32 = 41;
    pub const BLENDVPS: u32 = 42;
    pub const BLENDVPD: u32 = 43;
    pub const PBLENDVB: u32 = 44;
    pub const PBLENDW: u32 = 45;
    pub const DPPS: u32 = 46;
    pub const DPPD: u32 = 47;
    pub const INSERTPS: u32 = 48;
    pub const MPSADBW: u32 = 49;
    pub const PACKUSDW: u32 = 50;
    pub const PCMPEQQ: u32 = 51;
    pub const PHMINPOSUW: u32 = 52;
    pub const PMAXSB: u32 = 53;
    pub const PMAXSD: u32 = 54;
    pub const PMAXUD: u32 = 55;
    pub const PMAXUW: u32 = 56;
    pub const PMINSB: u32 = 57;
    pub const PMINSD: u32 = 58;
    pub const PMINUD: u32 = 59;
    pub const PMINUW: u32 = 60;
    /// + 0..6: bw, bd, bq, wd, wq, dq.
    pub const PMOVSX: u32 = 61;
    /// + 0..6: bw, bd, bq, wd, wq, dq.
    pub const PMOVZX: u32 = 67;
    pub const PMULDQ: u32 = 73;
    pub const PMULLD: u32 = 74;
    pub const PTEST: u32 = 75;
    /// + 0..4: ps, pd, ss, sd.
    pub const ROUND: u32 = 76;
    /// Element `imm` of `bits` (imm >> 8) bits of the source, as a value.
    pub const EXTRACT: u32 = 80;
    /// Inserts the low bits of the source into element imm & 0xff of (imm >> 8) bits.
    pub const INSERT: u32 = 81;
    // SSE4.2.
    pub const PCMPGTQ: u32 = 90;
    /// + 0..4: estri, estrm, istri, istrm.
    pub const PCMPSTR: u32 = 91;
    // AES, PCLMULQDQ.
    pub const AESENC: u32 = 100;
    pub const AESENCLAST: u32 = 101;
    pub const AESDEC: u32 = 102;
    pub const AESDECLAST: u32 = 103;
    pub const AESIMC: u32 = 104;
    pub const AESKEYGENASSIST: u32 = 105;
    pub const PCLMULQDQ: u32 = 106;
}

// MXCSR bits.
const IE: u32 = 1;
const PE: u32 = 1 << 5;

/// Lane-wise binary f32/f64 op with x86 rules (kind: 0 add, 1 sub, 2 mul).
fn fop<F: Fp>(mx: &mut u32, kind: u32, a: u64, b: u64) -> u64 {
    arith(mx, kind, F::from_bits64(a), F::from_bits64(b))
}

/// roundps/roundss element: `mode` bits 1:0 RC, bit 2 use MXCSR.RC, bit 3 suppress PE; DAZ
/// applies (no DE).
fn round_elem<F: Fp>(mx: &mut u32, mode: u64, bits: u64) -> u64 {
    let x = F::from_bits64(bits);
    if x.is_nan() {
        if x.is_snan() {
            *mx |= IE;
        }
        return bits | F::QUIET;
    }
    let bits = daz(*mx, x).to_bits64();
    let rc = if mode & 4 != 0 {
        (*mx >> 13) & 3
    } else {
        (mode & 3) as u32
    };
    let v = if F::BITS == 32 {
        let f = f32::from_bits(bits as u32);
        let r = match rc {
            0 => f.round_ties_even(),
            1 => f.floor(),
            2 => f.ceil(),
            _ => f.trunc(),
        };
        u64::from(r.to_bits())
    } else {
        let f = f64::from_bits(bits);
        let r = match rc {
            0 => f.round_ties_even(),
            1 => f.floor(),
            2 => f.ceil(),
            _ => f.trunc(),
        };
        r.to_bits()
    };
    if v != bits && mode & 8 == 0 {
        *mx |= PE;
    }
    v
}

fn bytes(v: u128) -> [u8; 16] {
    v.to_le_bytes()
}

fn from_bytes(b: [u8; 16]) -> u128 {
    u128::from_le_bytes(b)
}

// ---- AES ----

const fn gmul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

const fn sbox_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        // Multiplicative inverse by exponentiation: x^254.
        let x = i as u8;
        let mut inv = 1u8;
        let mut k = 0;
        while k < 254 {
            inv = gmul(inv, x);
            k += 1;
        }
        if x == 0 {
            inv = 0;
        }
        let b = inv;
        let s =
            b ^ b.rotate_left(1) ^ b.rotate_left(2) ^ b.rotate_left(3) ^ b.rotate_left(4) ^ 0x63;
        t[i] = s;
        i += 1;
    }
    t
}

const SBOX: [u8; 256] = sbox_table();

const fn inv_sbox_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[SBOX[i] as usize] = i as u8;
        i += 1;
    }
    t
}

const INV_SBOX: [u8; 256] = inv_sbox_table();

fn shift_rows(s: [u8; 16], inv: bool) -> [u8; 16] {
    std::array::from_fn(|i| {
        let (r, c) = (i % 4, i / 4);
        let c2 = if inv { (c + 4 - r) % 4 } else { (c + r) % 4 };
        s[r + 4 * c2]
    })
}

fn mix_columns(s: [u8; 16], inv: bool) -> [u8; 16] {
    let m: [u8; 4] = if inv { [14, 11, 13, 9] } else { [2, 3, 1, 1] };
    std::array::from_fn(|i| {
        let (r, c) = (i % 4, i / 4);
        (0..4).fold(0u8, |acc, k| acc ^ gmul(m[(k + 4 - r) % 4], s[k + 4 * c]))
    })
}

fn sub_word(w: u32) -> u32 {
    u32::from_le_bytes(w.to_le_bytes().map(|b| SBOX[b as usize]))
}

fn aes(op: u32, state: u128, key: u128, imm: u64) -> u128 {
    use op::*;
    let s = bytes(state);
    let r = match op {
        AESENC | AESENCLAST => {
            let t = shift_rows(s, false).map(|b| SBOX[b as usize]);
            if op == AESENC {
                mix_columns(t, false)
            } else {
                t
            }
        }
        AESDEC | AESDECLAST => {
            let t = shift_rows(s, true).map(|b| INV_SBOX[b as usize]);
            if op == AESDEC {
                mix_columns(t, true)
            } else {
                t
            }
        }
        AESIMC => return from_bytes(mix_columns(bytes(key), true)),
        _ => {
            let x: [u64; 4] = lanes(key, 32);
            let rcon = imm as u32 & 0xff;
            let (x1, x3) = (sub_word(x[1] as u32), sub_word(x[3] as u32));
            return join(
                [
                    u64::from(x1),
                    u64::from(x1.rotate_right(8) ^ rcon),
                    u64::from(x3),
                    u64::from(x3.rotate_right(8) ^ rcon),
                ],
                32,
            );
        }
    };
    from_bytes(r) ^ key
}

fn clmul(a: u64, b: u64) -> u128 {
    (0..64).fold(0u128, |acc, i| {
        if b >> i & 1 != 0 {
            acc ^ (u128::from(a) << i)
        } else {
            acc
        }
    })
}

/// CRC-32C (Castagnoli, reflected) of the low `size` bytes of `data`, from `crc`.
pub(crate) fn crc32c(mut crc: u32, data: u64, size: u32) -> u32 {
    for i in 0..size {
        crc ^= u32::from((data >> (8 * i)) as u8);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    crc
}

// ---- pcmpestri/pcmpestrm/pcmpistri/pcmpistrm ----

/// The string compare instructions: returns (IntRes2, lb < n, la < n, n).
/// Bit `i` set iff byte `i` of `v` is zero (exact for every byte: no borrow between bytes).
fn zero_bytes(v: u128) -> u32 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let half = |h: u64| {
        // The top bit of each byte of `nz` is set iff the byte is nonzero.
        let nz = ((h & LOW7).wrapping_add(LOW7) | h) & !LOW7;
        let zero = !nz & !LOW7;
        // Gather the eight top bits into bits 0..8.
        ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    };
    half(v as u64) | half((v >> 64) as u64) << 8
}

fn pcmpstr(a: u128, b: u128, imm: u64, lens: Option<(i64, i64)>) -> (u32, bool, bool, u32) {
    let words = imm & 1 != 0;
    let signed = imm & 2 != 0;
    let n: u32 = if words { 8 } else { 16 };
    let agg = (imm >> 2) & 3;
    if !words && lens.is_none() && (agg == 0 || agg == 2) {
        // Equal any (strspn, strcspn, strpbrk) and equal each (strcmp) on implicit-length
        // bytes, the hot forms, with 64-bit SWAR (equality ignores signedness).
        let la = zero_bytes(a).trailing_zeros().min(16);
        let lb = zero_bytes(b).trailing_zeros().min(16);
        let (va, vb) = ((1u32 << la) - 1, (1u32 << lb) - 1);
        let res1 = if agg == 2 {
            let eq = zero_bytes(a ^ b);
            (eq & va & vb) | (!va & !vb & 0xffff)
        } else if la <= 4 {
            // A small set (strtok's delimiters): compare with each of its bytes at once.
            let mut r = 0u32;
            for i in 0..la {
                let c = (a >> (8 * i)) as u8;
                let all = u128::from(c) * 0x0101_0101_0101_0101_0101_0101_0101_0101;
                r |= zero_bytes(b ^ all);
            }
            r & vb
        } else {
            let (x, y) = (a.to_le_bytes(), b.to_le_bytes());
            let mut set = [0u64; 4];
            for &c in &x[..la as usize] {
                set[usize::from(c >> 6)] |= 1 << (c & 63);
            }
            let mut r = 0u32;
            for (i, &c) in y.iter().enumerate() {
                r |= ((set[usize::from(c >> 6)] >> (c & 63)) as u32 & 1) << i;
            }
            r & vb
        };
        return (polarity(res1, 16, lb, imm), lb < 16, la < 16, 16);
    }
    // The elements, extended once (this is hot in glibc's strcspn/strpbrk/strspn).
    let unpack = |v: u128| -> [i64; 16] {
        let mut e = [0i64; 16];
        let bytes = v.to_le_bytes();
        if words {
            for (i, w) in bytes.chunks_exact(2).enumerate() {
                let x = u16::from_le_bytes([w[0], w[1]]);
                e[i] = if signed {
                    i64::from(x as i16)
                } else {
                    i64::from(x)
                };
            }
        } else {
            for (i, &x) in bytes.iter().enumerate() {
                e[i] = if signed {
                    i64::from(x as i8)
                } else {
                    i64::from(x)
                };
            }
        }
        e
    };
    let (ua, ub) = (unpack(a), unpack(b));
    let elem = |v: &[i64; 16], i: u32| v[i as usize];
    let implicit_len = |v: &[i64; 16]| (0..n).find(|&i| elem(v, i) == 0).unwrap_or(n);
    let (la, lb) = match lens {
        Some((x, y)) => {
            let l = |v: i64| v.unsigned_abs().min(u64::from(n)) as u32;
            (l(x), l(y))
        }
        None => (implicit_len(&ua), implicit_len(&ub)),
    };
    // Equal-any on bytes: a set of the first operand's bytes (equality ignores signedness).
    let byte_set = (agg == 0 && !words).then(|| {
        let mut set = [0u64; 4];
        for &x in &ua[..la as usize] {
            let x = x as u8;
            set[usize::from(x >> 6)] |= 1 << (x & 63);
        }
        set
    });
    let (a, b) = (&ua, &ub);
    let mut res1 = 0u32;
    for i in 0..n {
        let bi = elem(b, i);
        let bit = match agg {
            // Equal any.
            0 => {
                i < lb
                    && match &byte_set {
                        Some(set) => set[usize::from(bi as u8 >> 6)] >> (bi as u8 & 63) & 1 != 0,
                        None => (0..la).any(|j| elem(a, j) == bi),
                    }
            }
            // Ranges.
            1 => {
                i < lb
                    && (0..la / 2 * 2)
                        .step_by(2)
                        .any(|j| elem(a, j) <= bi && bi <= elem(a, j + 1))
            }
            // Equal each.
            2 => match (i < la, i < lb) {
                (true, true) => elem(a, i) == bi,
                (false, false) => true,
                _ => false,
            },
            // Equal ordered.
            _ => (0..n - i).all(|k| {
                if k >= la {
                    true
                } else if i + k >= lb {
                    false
                } else {
                    elem(a, k) == elem(b, i + k)
                }
            }),
        };
        res1 |= u32::from(bit) << i;
    }
    (polarity(res1, n, lb, imm), lb < n, la < n, n)
}

/// IntRes2 from IntRes1 by the polarity bits of `imm` (`n` elements, `lb` valid in the
/// second operand).
fn polarity(res1: u32, n: u32, lb: u32, imm: u64) -> u32 {
    let all = (1u32 << n) - 1;
    let valid_b = (1u32 << lb) - 1;
    match (imm >> 4) & 3 {
        1 => !res1 & all,
        3 => (res1 ^ valid_b) & all,
        _ => res1,
    }
}

/// The flags of the string compares from their (IntRes2, lb < n, la < n).
fn pcmpstr_flags(res: u32, zf: bool, sf: bool) -> u64 {
    let mut f = 0;
    if res != 0 {
        f |= flags::CF;
    }
    if zf {
        f |= flags::ZF;
    }
    if sf {
        f |= flags::SF;
    }
    if res & 1 != 0 {
        f |= flags::OF;
    }
    f
}

/// The index `pcmpestri`/`pcmpistri` leave in ECX.
fn pcmpstr_index(res: u32, n: u32, imm: u64) -> u32 {
    if res == 0 {
        n
    } else if imm & 0x40 != 0 {
        31 - res.leading_zeros()
    } else {
        res.trailing_zeros()
    }
}

/// `pcmpistri` without touching the state: ECX's value in the low 32 bits, the flags
/// above.
pub(crate) fn pcmpistri(a: u128, b: u128, imm: u64) -> u64 {
    let (res, zf, sf, n) = pcmpstr(a, b, imm, None);
    u64::from(pcmpstr_index(res, n, imm)) | pcmpstr_flags(res, zf, sf) << 32
}

/// Executes `op` on xmm `d` (destination and first source) and `s` (source, 16 = scratch),
/// with immediate or GPR value `imm`. Returns a GPR value or EFLAGS for the ops that have
/// one.
pub(crate) fn exec(st: &mut X86State, op: u32, d: usize, s: usize, imm: u64) -> u64 {
    use op::*;
    let a = get(st, d);
    let b = get(st, s);
    // 64 for the MMX forms of SSSE3: the vector shuffles and horizontal ops depend on it.
    let w = width(d);
    let mut mx = st.mxcsr;
    let mut ret = 0u64;
    let f32s = |v: u128| lanes::<4>(v, 32);
    let f64s = |v: u128| lanes::<2>(v, 64);
    let r: Option<u128> = match op {
        ADDSUBPS => {
            let (x, y) = (f32s(a), f32s(b));
            let r: [u64; 4] = std::array::from_fn(|i| {
                fop::<f32>(&mut mx, if i % 2 == 0 { 1 } else { 0 }, x[i], y[i])
            });
            Some(join(r, 32))
        }
        ADDSUBPD => {
            let (x, y) = (f64s(a), f64s(b));
            Some(join(
                [
                    fop::<f64>(&mut mx, 1, x[0], y[0]),
                    fop::<f64>(&mut mx, 0, x[1], y[1]),
                ],
                64,
            ))
        }
        HADDPS | HSUBPS => {
            let k = u32::from(op == HSUBPS);
            let (x, y) = (f32s(a), f32s(b));
            let r = [
                fop::<f32>(&mut mx, k, x[0], x[1]),
                fop::<f32>(&mut mx, k, x[2], x[3]),
                fop::<f32>(&mut mx, k, y[0], y[1]),
                fop::<f32>(&mut mx, k, y[2], y[3]),
            ];
            Some(join(r, 32))
        }
        HADDPD | HSUBPD => {
            let k = u32::from(op == HSUBPD);
            let (x, y) = (f64s(a), f64s(b));
            Some(join(
                [
                    fop::<f64>(&mut mx, k, x[0], x[1]),
                    fop::<f64>(&mut mx, k, y[0], y[1]),
                ],
                64,
            ))
        }
        MOVDDUP => Some(join([b as u64, b as u64], 64)),
        MOVSHDUP => {
            let y = f32s(b);
            Some(join([y[1], y[1], y[3], y[3]], 32))
        }
        MOVSLDUP => {
            let y = f32s(b);
            Some(join([y[0], y[0], y[2], y[2]], 32))
        }
        PABSB | PABSW | PABSD => {
            let bits = 8 << (op - PABSB);
            Some(map2(0, b, bits, |_, y| sx(y, bits).unsigned_abs()))
        }
        PALIGNR if w == 64 => {
            // (a:b) >> 8n, as 128 bits; the low 64 bits are the result.
            let n = (imm & 0xff) as u32;
            let v = a << 64 | b;
            Some(if n >= 16 { 0 } else { v >> (8 * n) })
        }
        PALIGNR => {
            let n = (imm & 0xff) as u32;
            // (a:b) >> 8n, as 256 bits.
            Some(if n >= 32 {
                0
            } else if n >= 16 {
                a >> (8 * (n - 16))
            } else if n == 0 {
                b
            } else {
                (b >> (8 * n)) | (a << (8 * (16 - n)))
            })
        }
        PHADDW | PHADDSW | PHSUBW | PHSUBSW => {
            let (x, y) = (lanes::<8>(a, 16), lanes::<8>(b, 16));
            let f = |p: u64, q: u64| -> u64 {
                let (p, q) = (sx(p, 16), sx(q, 16));
                match op {
                    PHADDW => (p + q) as u64,
                    PHADDSW => sat_s(p + q, 16),
                    PHSUBW => (p - q) as u64,
                    _ => sat_s(p - q, 16),
                }
            };
            // The pairs of the first operand fill the low half of the result, those of the
            // second the high half.
            let half = (w / 32) as usize;
            let r: [u64; 8] = std::array::from_fn(|i| {
                let v = if i < half { &x } else { &y };
                let j = (i % half) * 2;
                if i < 2 * half {
                    f(v[j], v[j + 1])
                } else {
                    0
                }
            });
            Some(join(r, 16))
        }
        PHADDD | PHSUBD => {
            let (x, y) = (lanes::<4>(a, 32), lanes::<4>(b, 32));
            let f = |p: u64, q: u64| {
                if op == PHADDD {
                    p.wrapping_add(q)
                } else {
                    p.wrapping_sub(q)
                }
            };
            Some(if w == 64 {
                join([f(x[0], x[1]), f(y[0], y[1]), 0, 0], 32)
            } else {
                join(
                    [f(x[0], x[1]), f(x[2], x[3]), f(y[0], y[1]), f(y[2], y[3])],
                    32,
                )
            })
        }
        PMADDUBSW => {
            let (x, y) = (lanes::<16>(a, 8), lanes::<16>(b, 8));
            let r: [u64; 8] = std::array::from_fn(|i| {
                let p =
                    x[2 * i] as i64 * sx(y[2 * i], 8) + x[2 * i + 1] as i64 * sx(y[2 * i + 1], 8);
                sat_s(p, 16)
            });
            Some(join(r, 16))
        }
        PMULHRSW => Some(map2(a, b, 16, |x, y| {
            ((((sx(x, 16) * sx(y, 16)) >> 14) + 1) >> 1) as u64
        })),
        PSHUFB => {
            let (x, y) = (bytes(a), bytes(b));
            let n = (w / 8) as usize;
            Some(from_bytes(std::array::from_fn(|i| {
                if i >= n || y[i] & 0x80 != 0 {
                    0
                } else {
                    x[usize::from(y[i]) & (n - 1)]
                }
            })))
        }
        PSIGNB | PSIGNW | PSIGND => {
            let bits = 8 << (op - PSIGNB);
            Some(map2(a, b, bits, |x, y| match sx(y, bits) {
                v if v < 0 => x.wrapping_neg(),
                0 => 0,
                _ => x,
            }))
        }
        BLENDPS | BLENDPD | PBLENDW | BLENDVPS | BLENDVPD | PBLENDVB => {
            let bits = match op {
                BLENDPS | BLENDVPS => 32,
                BLENDPD | BLENDVPD => 64,
                PBLENDW => 16,
                _ => 8,
            };
            let x0 = get(st, 0);
            let n = 128 / bits;
            let mut r = a;
            for i in 0..n {
                let pick = if matches!(op, BLENDPS | BLENDPD | PBLENDW) {
                    imm >> i & 1 != 0
                } else {
                    x0 >> (i * bits + bits - 1) & 1 != 0
                };
                if pick {
                    let m = (u128::MAX >> (128 - bits)) << (i * bits);
                    r = (r & !m) | (b & m);
                }
            }
            Some(r)
        }
        DPPS => {
            let (x, y) = (f32s(a), f32s(b));
            let p: [u64; 4] = std::array::from_fn(|i| {
                if imm >> (4 + i) & 1 != 0 {
                    fop::<f32>(&mut mx, 2, x[i], y[i])
                } else {
                    0
                }
            });
            let t1 = fop::<f32>(&mut mx, 0, p[0], p[1]);
            let t2 = fop::<f32>(&mut mx, 0, p[2], p[3]);
            let sum = fop::<f32>(&mut mx, 0, t1, t2);
            Some(join(
                std::array::from_fn::<u64, 4, _>(|i| if imm >> i & 1 != 0 { sum } else { 0 }),
                32,
            ))
        }
        DPPD => {
            let (x, y) = (f64s(a), f64s(b));
            let p: [u64; 2] = std::array::from_fn(|i| {
                if imm >> (4 + i) & 1 != 0 {
                    fop::<f64>(&mut mx, 2, x[i], y[i])
                } else {
                    0
                }
            });
            let sum = fop::<f64>(&mut mx, 0, p[0], p[1]);
            Some(join(
                std::array::from_fn::<u64, 2, _>(|i| if imm >> i & 1 != 0 { sum } else { 0 }),
                64,
            ))
        }
        INSERTPS => {
            let y = f32s(b);
            // Bit 8: the source is a 32-bit memory operand (element 0).
            let v = if imm & 0x100 != 0 {
                y[0]
            } else {
                y[((imm >> 6) & 3) as usize]
            };
            let mut x = f32s(a);
            x[((imm >> 4) & 3) as usize] = v;
            for (i, e) in x.iter_mut().enumerate() {
                if imm >> i & 1 != 0 {
                    *e = 0;
                }
            }
            Some(join(x, 32))
        }
        MPSADBW => {
            let (x, y) = (bytes(a), bytes(b));
            let ao = ((imm >> 2) & 1) as usize * 4;
            let bo = (imm & 3) as usize * 4;
            let r: [u64; 8] = std::array::from_fn(|i| {
                (0..4)
                    .map(|k| u64::from(x[ao + i + k].abs_diff(y[bo + k])))
                    .sum()
            });
            Some(join(r, 16))
        }
        PACKUSDW => {
            let (x, y) = (lanes::<4>(a, 32), lanes::<4>(b, 32));
            let r: [u64; 8] = std::array::from_fn(|i| {
                let v = if i < 4 { x[i] } else { y[i - 4] };
                sat_u(sx(v, 32), 16)
            });
            Some(join(r, 16))
        }
        PCMPEQQ => Some(map2(a, b, 64, |x, y| if x == y { u64::MAX } else { 0 })),
        PCMPGTQ => Some(map2(a, b, 64, |x, y| {
            if (x as i64) > (y as i64) {
                u64::MAX
            } else {
                0
            }
        })),
        PHMINPOSUW => {
            let y = lanes::<8>(b, 16);
            let (i, m) = y
                .iter()
                .enumerate()
                .min_by_key(|&(i, &v)| (v, i))
                .map(|(i, &v)| (i, v))
                .unwrap_or((0, 0));
            Some(u128::from(m) | (i as u128) << 16)
        }
        PMAXSB => Some(map2(a, b, 8, |x, y| sx(x, 8).max(sx(y, 8)) as u64)),
        PMAXSD => Some(map2(a, b, 32, |x, y| sx(x, 32).max(sx(y, 32)) as u64)),
        PMAXUD | PMAXUW => Some(map2(a, b, if op == PMAXUD { 32 } else { 16 }, |x, y| {
            x.max(y)
        })),
        PMINSB => Some(map2(a, b, 8, |x, y| sx(x, 8).min(sx(y, 8)) as u64)),
        PMINSD => Some(map2(a, b, 32, |x, y| sx(x, 32).min(sx(y, 32)) as u64)),
        PMINUD | PMINUW => Some(map2(a, b, if op == PMINUD { 32 } else { 16 }, |x, y| {
            x.min(y)
        })),
        PMOVSX..=72 => {
            let signed = op < PMOVZX;
            let k = (op - if signed { PMOVSX } else { PMOVZX }) as usize;
            let (from, to) = [(8, 16), (8, 32), (8, 64), (16, 32), (16, 64), (32, 64)][k];
            let n = 128 / to;
            let mut r = 0u128;
            for i in 0..n {
                let v = ((b >> (i * from)) as u64) & ((1u64 << from) - 1);
                let v = if signed { sx(v, from) as u64 } else { v };
                let m = if to == 64 { u64::MAX } else { (1u64 << to) - 1 };
                r |= u128::from(v & m) << (i * to);
            }
            Some(r)
        }
        PMULDQ => {
            let (x, y) = (lanes::<4>(a, 32), lanes::<4>(b, 32));
            Some(join(
                [
                    (sx(x[0], 32) * sx(y[0], 32)) as u64,
                    (sx(x[2], 32) * sx(y[2], 32)) as u64,
                ],
                64,
            ))
        }
        PMULLD => Some(map2(a, b, 32, |x, y| x.wrapping_mul(y))),
        PTEST => {
            let mut f = 0;
            if a & b == 0 {
                f |= flags::ZF;
            }
            if !a & b == 0 {
                f |= flags::CF;
            }
            ret = f;
            None
        }
        ROUND..=79 => {
            let r = match op - ROUND {
                0 => join::<4>(
                    std::array::from_fn(|i| round_elem::<f32>(&mut mx, imm, f32s(b)[i])),
                    32,
                ),
                1 => join::<2>(
                    std::array::from_fn(|i| round_elem::<f64>(&mut mx, imm, f64s(b)[i])),
                    64,
                ),
                2 => {
                    let v = round_elem::<f32>(&mut mx, imm, b as u32 as u64);
                    (a & !0xffff_ffffu128) | u128::from(v)
                }
                _ => {
                    let v = round_elem::<f64>(&mut mx, imm, b as u64);
                    (a & !u128::from(u64::MAX)) | u128::from(v)
                }
            };
            Some(r)
        }
        EXTRACT => {
            let bits = (imm >> 8) as u32;
            let i = (imm & 0xff) as u32 % (128 / bits);
            let m = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            ret = ((b >> (i * bits)) as u64) & m;
            None
        }
        INSERT => {
            let bits = ((imm >> 8) & 0xff) as u32;
            let i = (imm & 0xff) as u32 % (128 / bits);
            let v = b as u64;
            let m = (u128::MAX >> (128 - bits)) << (i * bits);
            Some((a & !m) | ((u128::from(v) << (i * bits)) & m))
        }
        PCMPSTR..=94 => {
            let k = op - PCMPSTR;
            let lens = if k < 2 {
                let (ax, dx) = (st.regs[0], st.regs[2]);
                Some(if imm & 0x100 != 0 {
                    (ax as i64, dx as i64)
                } else {
                    (i64::from(ax as i32), i64::from(dx as i32))
                })
            } else {
                None
            };
            let (res, zf, sf, n) = pcmpstr(a, b, imm, lens);
            ret = pcmpstr_flags(res, zf, sf);
            if k % 2 == 0 {
                st.regs[1] = u64::from(pcmpstr_index(res, n, imm));
            } else {
                // Mask into xmm0.
                let m = if imm & 0x40 == 0 {
                    u128::from(res)
                } else {
                    let bits = 128 / n;
                    (0..n).fold(0u128, |acc, i| {
                        if res >> i & 1 != 0 {
                            acc | (u128::MAX >> (128 - bits)) << (i * bits)
                        } else {
                            acc
                        }
                    })
                };
                put(st, 0, m);
            }
            None
        }
        AESENC..=AESKEYGENASSIST => Some(aes(op, a, b, imm)),
        PCLMULQDQ => {
            let x = if imm & 1 != 0 {
                (a >> 64) as u64
            } else {
                a as u64
            };
            let y = if imm & 0x10 != 0 {
                (b >> 64) as u64
            } else {
                b as u64
            };
            Some(clmul(x, y))
        }
        _ => None,
    };
    if let Some(r) = r {
        put(st, d, r);
    }
    st.mxcsr = mx;
    ret
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-by-byte implicit-length equal-any and equal-each (the fast path before the
    /// SWAR one), as the reference for it.
    fn pcmpistr_bytes_reference(a: u128, b: u128, imm: u64) -> (u32, bool, bool, u32) {
        let (x, y) = (a.to_le_bytes(), b.to_le_bytes());
        let len = |v: &[u8; 16]| v.iter().position(|&c| c == 0).unwrap_or(16) as u32;
        let (la, lb) = (len(&x), len(&y));
        let (va, vb) = ((1u32 << la) - 1, (1u32 << lb) - 1);
        let res1 = if (imm >> 2) & 3 == 2 {
            let eq = (0..16).fold(0u32, |acc, i| acc | u32::from(x[i] == y[i]) << i);
            (eq & va & vb) | (!va & !vb & 0xffff)
        } else {
            let r = (0..16).fold(0u32, |acc, i| {
                acc | u32::from(x[..la as usize].contains(&y[i])) << i
            });
            r & vb
        };
        (polarity(res1, 16, lb, imm), lb < 16, la < 16, 16)
    }

    #[test]
    fn pcmpistr_byte_fast_path_matches_byte_by_byte() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // Strings over a small alphabet (so that bytes match), with a terminating zero at
        // any place or none, and sets of every size.
        let string = |rng: &mut rand::rngs::StdRng| {
            let mut b = [0u8; 16];
            for c in b.iter_mut() {
                *c = [b' ', b'\n', b'a', b'b', 0x80, 0xff, 1][rng.gen_range(0..7)];
            }
            if rng.gen_bool(0.7) {
                b[rng.gen_range(0..16)] = 0;
            }
            u128::from_le_bytes(b)
        };
        for _ in 0..20000 {
            let (a, b) = (string(&mut rng), string(&mut rng));
            for imm in [0x00, 0x02, 0x12, 0x32, 0x08, 0x0a, 0x1a, 0x3a, 0x42] {
                assert_eq!(
                    pcmpstr(a, b, imm, None),
                    pcmpistr_bytes_reference(a, b, imm),
                    "a {a:032x} b {b:032x} imm {imm:#x}"
                );
            }
        }
        assert_eq!(zero_bytes(0), 0xffff);
        assert_eq!(zero_bytes(u128::MAX), 0);
        assert_eq!(zero_bytes(0x0100), 0xfffd);
    }

    #[test]
    fn aes_fips197_round() {
        assert_eq!(SBOX[0], 0x63);
        assert_eq!(SBOX[0x53], 0xed);
        assert_eq!(INV_SBOX[0x63], 0);
        // FIPS-197 appendix B, round 1: start of round -> after MixColumns, then the key.
        let start: u128 = u128::from_be_bytes([
            0x19, 0x3d, 0xe3, 0xbe, 0xa0, 0xf4, 0xe2, 0x2b, 0x9a, 0xc6, 0x8d, 0x2a, 0xe9, 0xf8,
            0x48, 0x08,
        ])
        .swap_bytes();
        let mixed: u128 = u128::from_be_bytes([
            0x04, 0x66, 0x81, 0xe5, 0xe0, 0xcb, 0x19, 0x9a, 0x48, 0xf8, 0xd3, 0x7a, 0x28, 0x06,
            0x26, 0x4c,
        ])
        .swap_bytes();
        assert_eq!(aes(op::AESENC, start, 0, 0), mixed);
        let crc = b"123456789"
            .iter()
            .fold(!0u32, |c, &b| crc32c(c, u64::from(b), 1));
        assert_eq!(!crc, 0xe306_9283);
        assert_eq!(clmul(3, 3), 5);
    }
}
