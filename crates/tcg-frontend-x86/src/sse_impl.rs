//! SSE/SSE2 semantics run by helpers: lane arithmetic, x86 NaN rules, conversions.

use crate::f80::{self, Ctl, F80};
use crate::state::{flags, X86State};

/// Operations implemented by [`exec`] (the `op` argument of the SSE helper).
#[allow(missing_docs, dead_code)]
pub(crate) mod op {
    pub const PADDB: u32 = 1;
    pub const PADDW: u32 = 2;
    pub const PADDD: u32 = 3;
    pub const PADDQ: u32 = 4;
    pub const PSUBB: u32 = 5;
    pub const PSUBW: u32 = 6;
    pub const PSUBD: u32 = 7;
    pub const PSUBQ: u32 = 8;
    pub const PADDSB: u32 = 9;
    pub const PADDSW: u32 = 10;
    pub const PADDUSB: u32 = 11;
    pub const PADDUSW: u32 = 12;
    pub const PSUBSB: u32 = 13;
    pub const PSUBSW: u32 = 14;
    pub const PSUBUSB: u32 = 15;
    pub const PSUBUSW: u32 = 16;
    pub const PCMPEQB: u32 = 17;
    pub const PCMPEQW: u32 = 18;
    pub const PCMPEQD: u32 = 19;
    pub const PCMPGTB: u32 = 20;
    pub const PCMPGTW: u32 = 21;
    pub const PCMPGTD: u32 = 22;
    pub const PMINUB: u32 = 23;
    pub const PMAXUB: u32 = 24;
    pub const PMINSW: u32 = 25;
    pub const PMAXSW: u32 = 26;
    pub const PAVGB: u32 = 27;
    pub const PAVGW: u32 = 28;
    pub const PMULLW: u32 = 29;
    pub const PMULHW: u32 = 30;
    pub const PMULHUW: u32 = 31;
    pub const PMULUDQ: u32 = 32;
    pub const PMADDWD: u32 = 33;
    pub const PSADBW: u32 = 34;
    pub const PUNPCKLBW: u32 = 35;
    pub const PUNPCKLWD: u32 = 36;
    pub const PUNPCKLDQ: u32 = 37;
    pub const PUNPCKLQDQ: u32 = 38;
    pub const PUNPCKHBW: u32 = 39;
    pub const PUNPCKHWD: u32 = 40;
    pub const PUNPCKHDQ: u32 = 41;
    pub const PUNPCKHQDQ: u32 = 42;
    pub const PACKSSWB: u32 = 43;
    pub const PACKSSDW: u32 = 44;
    pub const PACKUSWB: u32 = 45;
    pub const PSHUFD: u32 = 46;
    pub const PSHUFLW: u32 = 47;
    pub const PSHUFHW: u32 = 48;
    pub const PSLLW: u32 = 49;
    pub const PSLLD: u32 = 50;
    pub const PSLLQ: u32 = 51;
    pub const PSRLW: u32 = 52;
    pub const PSRLD: u32 = 53;
    pub const PSRLQ: u32 = 54;
    pub const PSRAW: u32 = 55;
    pub const PSRAD: u32 = 56;
    pub const PSLLDQ: u32 = 57;
    pub const PSRLDQ: u32 = 58;
    pub const SHUFPS: u32 = 59;
    pub const SHUFPD: u32 = 60;
    pub const UNPCKLPS: u32 = 61;
    pub const UNPCKHPS: u32 = 62;
    pub const UNPCKLPD: u32 = 63;
    pub const UNPCKHPD: u32 = 64;
    pub const PMOVMSKB: u32 = 65;
    pub const MOVMSKPS: u32 = 66;
    pub const MOVMSKPD: u32 = 67;
    // Floating point: base + kind, kind 0 = ps, 1 = pd, 2 = ss, 3 = sd.
    pub const ADD: u32 = 100;
    pub const SUB: u32 = 104;
    pub const MUL: u32 = 108;
    pub const DIV: u32 = 112;
    pub const MIN: u32 = 116;
    pub const MAX: u32 = 120;
    pub const SQRT: u32 = 124;
    pub const CMP: u32 = 128;
    pub const UCOMI: u32 = 132; // + 2 (ss) or 3 (sd)
    pub const COMI: u32 = 136; // + 2 or 3
    /// rcpps, rcpss (+ 2).
    pub const RCP: u32 = 140;
    /// rsqrtps, rsqrtss (+ 2).
    pub const RSQRT: u32 = 144;
    // Conversions.
    pub const CVTSI2SD32: u32 = 200;
    pub const CVTSI2SD64: u32 = 201;
    pub const CVTSI2SS32: u32 = 202;
    pub const CVTSI2SS64: u32 = 203;
    pub const CVTTSD2SI32: u32 = 204;
    pub const CVTTSD2SI64: u32 = 205;
    pub const CVTSD2SI32: u32 = 206;
    pub const CVTSD2SI64: u32 = 207;
    pub const CVTTSS2SI32: u32 = 208;
    pub const CVTTSS2SI64: u32 = 209;
    pub const CVTSS2SI32: u32 = 210;
    pub const CVTSS2SI64: u32 = 211;
    pub const CVTSS2SD: u32 = 212;
    pub const CVTSD2SS: u32 = 213;
    pub const CVTDQ2PD: u32 = 214;
    pub const CVTDQ2PS: u32 = 215;
    pub const CVTTPD2DQ: u32 = 216;
    pub const CVTPD2DQ: u32 = 217;
    pub const CVTTPS2DQ: u32 = 218;
    pub const CVTPS2DQ: u32 = 219;
    pub const CVTPD2PS: u32 = 220;
    pub const CVTPS2PD: u32 = 221;
    pub const PINSRW: u32 = 222;
    pub const PEXTRW: u32 = 223;
    /// cvtpi2ps: two int32 (an mm register or m64) into the low floats of an xmm register.
    pub const CVTPI2PS: u32 = 224;
}

// MXCSR bits.
const IE: u32 = 1;
const DE: u32 = 1 << 1;
const ZE: u32 = 1 << 2;
const UE: u32 = 1 << 4;
const PE: u32 = 1 << 5;
/// Denormals are zeros: a denormal source operand reads as a zero of its sign (and
/// raises no DE).
const DAZ: u32 = 1 << 6;
/// Underflow masked.
const UM: u32 = 1 << 11;
/// Flush to zero: with UM, a tiny result becomes a zero of its sign (raising UE and PE).
const FTZ: u32 = 1 << 15;

/// Helper register index of `mm0`: the SSE helpers name xmm0..15 as 0..15, the scratch
/// register as 16 and mm0..7 as `MM0..MM0 + 8`. An op whose destination is an mm register
/// works at 64 bits (see [`width`]).
pub(crate) const MM0: usize = 32;

/// The vector width in bits of an op with destination register `d`: 64 for an mm register,
/// else 128.
pub(crate) fn width(d: usize) -> u32 {
    if d >= MM0 {
        64
    } else {
        128
    }
}

/// Register `i` (an xmm register, the scratch register or, zero-extended, an mm register).
pub(crate) fn get(s: &X86State, i: usize) -> u128 {
    if i >= MM0 {
        return u128::from(s.fpregs[i - MM0].mantissa);
    }
    let v = if i == 16 { s.xmm_tmp } else { s.xmm[i] };
    u128::from(v[0]) | (u128::from(v[1]) << 64)
}

/// Writes register `i`; an mm register takes the low 64 bits, and its x87 sign and exponent
/// become all ones, as an MMX write leaves them.
pub(crate) fn put(s: &mut X86State, i: usize, v: u128) {
    if i >= MM0 {
        s.fpregs[i - MM0].mantissa = v as u64;
        s.fpregs[i - MM0].sign_exp = 0xffff;
        return;
    }
    s.xmm[i] = [v as u64, (v >> 64) as u64];
}

pub(crate) fn lanes<const N: usize>(v: u128, bits: u32) -> [u64; N] {
    let m = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    std::array::from_fn(|i| ((v >> (i as u32 * bits)) as u64) & m)
}

pub(crate) fn join<const N: usize>(l: [u64; N], bits: u32) -> u128 {
    let m = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    l.iter().enumerate().fold(0u128, |acc, (i, &x)| {
        acc | (u128::from(x & m) << (i as u32 * bits))
    })
}

pub(crate) fn sx(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Lane-wise `f(a, b)` on `bits`-wide lanes.
pub(crate) fn map2(a: u128, b: u128, bits: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    match bits {
        8 => join::<16>(
            {
                let (x, y) = (lanes::<16>(a, 8), lanes::<16>(b, 8));
                std::array::from_fn(|i| f(x[i], y[i]))
            },
            8,
        ),
        16 => join::<8>(
            {
                let (x, y) = (lanes::<8>(a, 16), lanes::<8>(b, 16));
                std::array::from_fn(|i| f(x[i], y[i]))
            },
            16,
        ),
        32 => join::<4>(
            {
                let (x, y) = (lanes::<4>(a, 32), lanes::<4>(b, 32));
                std::array::from_fn(|i| f(x[i], y[i]))
            },
            32,
        ),
        _ => join::<2>(
            {
                let (x, y) = (lanes::<2>(a, 64), lanes::<2>(b, 64));
                std::array::from_fn(|i| f(x[i], y[i]))
            },
            64,
        ),
    }
}

pub(crate) fn sat_s(v: i64, bits: u32) -> u64 {
    let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    v.clamp(lo, hi) as u64
}

pub(crate) fn sat_u(v: i64, bits: u32) -> u64 {
    v.clamp(0, (1i64 << bits) - 1) as u64
}

/// Interleaves the low (or high) halves of the `width`-bit vectors `a` and `b` in `bits`
/// lanes.
fn unpack(a: u128, b: u128, bits: u32, high: bool, width: u32) -> u128 {
    let n = width / bits;
    let m = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let lane = |v: u128, i: u32| ((v >> (i * bits)) as u64) & m;
    let base = if high { n / 2 } else { 0 };
    let mut r = 0u128;
    for i in 0..n / 2 {
        r |= u128::from(lane(a, base + i)) << (2 * i * bits);
        r |= u128::from(lane(b, base + i)) << ((2 * i + 1) * bits);
    }
    r
}

/// Narrows the `from`-bit lanes of the `width`-bit vectors `a` then `b` with `sat`.
fn pack(a: u128, b: u128, from: u32, sat: impl Fn(i64) -> u64, width: u32) -> u128 {
    let to = from / 2;
    let n = width / from;
    let m = (1u64 << from) - 1;
    let mut r = 0u128;
    for i in 0..n {
        let x = sx(((a >> (i * from)) as u64) & m, from);
        let y = sx(((b >> (i * from)) as u64) & m, from);
        r |= u128::from(sat(x) & ((1 << to) - 1)) << (i * to);
        r |= u128::from(sat(y) & ((1 << to) - 1)) << ((i + n) * to);
    }
    r
}

// ---- floating point with x86 rules ----

/// A floating-point format: f32 or f64 on raw bits.
pub(crate) trait Fp: Copy {
    const BITS: u32;
    const QUIET: u64;
    const DEFAULT_NAN: u64;
    /// The exponent field.
    const EXP_MASK: u64;
    fn from_bits64(b: u64) -> Self;
    fn to_bits64(self) -> u64;
    fn is_nan(self) -> bool;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn sqrt(self) -> Self;
    /// `self * b + c` with one rounding.
    fn fma(self, b: Self, c: Self) -> Self;
    /// `2^(2 * precision)` times the smallest normal: above it, the residual of a rounded
    /// product or quotient cannot underflow.
    const SAFE_MIN: f64;
    fn lt(self, o: Self) -> bool;
    fn eq(self, o: Self) -> bool;
    fn is_snan(self) -> bool {
        self.is_nan() && self.to_bits64() & Self::QUIET == 0
    }
    /// The value with its sign flipped.
    fn neg_(self) -> Self {
        Self::from_bits64(self.to_bits64() ^ (1 << (Self::BITS - 1)))
    }
    /// A zero of this value's sign.
    fn signed_zero(self) -> Self {
        Self::from_bits64(self.to_bits64() & (1 << (Self::BITS - 1)))
    }
    /// Nonzero with a zero exponent field.
    fn is_denormal(self) -> bool {
        let b = self.to_bits64();
        b & Self::EXP_MASK == 0 && b << (65 - Self::BITS) != 0
    }
    /// From an f64 (rounded).
    fn from_f64(v: f64) -> Self;
    fn is_zero(self) -> bool;
    fn is_finite(self) -> bool;
    /// Exact conversion to the extended format.
    fn to_f80(self) -> F80;
    /// Conversion from an extended value exactly representable in this format.
    fn from_f80(v: F80) -> u64;
    /// The rounding parameters of this format.
    fn ctl(rc: u8) -> Ctl;
}

impl Fp for f32 {
    const BITS: u32 = 32;
    const QUIET: u64 = 1 << 22;
    const DEFAULT_NAN: u64 = 0xffc0_0000;
    const EXP_MASK: u64 = 0x7f80_0000;
    fn from_bits64(b: u64) -> Self {
        f32::from_bits(b as u32)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_bits64(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn div(self, o: Self) -> Self {
        self / o
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn fma(self, b: Self, c: Self) -> Self {
        self.mul_add(b, c)
    }
    const SAFE_MIN: f64 = 1.1754943508222875e-38 * 281474976710656.0;
    fn lt(self, o: Self) -> bool {
        self < o
    }
    fn eq(self, o: Self) -> bool {
        self == o
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn is_finite(self) -> bool {
        self.is_finite()
    }
    fn to_f80(self) -> F80 {
        F80::from_f32(self.to_bits()).0
    }
    fn from_f80(v: F80) -> u64 {
        u64::from(f80::to_f32(v, 0).0)
    }
    fn ctl(rc: u8) -> Ctl {
        Ctl::binary32(rc)
    }
}

impl Fp for f64 {
    const BITS: u32 = 64;
    const QUIET: u64 = 1 << 51;
    const DEFAULT_NAN: u64 = 0xfff8_0000_0000_0000;
    const EXP_MASK: u64 = 0x7ff0_0000_0000_0000;
    fn from_bits64(b: u64) -> Self {
        f64::from_bits(b)
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_bits64(self) -> u64 {
        self.to_bits()
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn div(self, o: Self) -> Self {
        self / o
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn fma(self, b: Self, c: Self) -> Self {
        self.mul_add(b, c)
    }
    const SAFE_MIN: f64 = f64::MIN_POSITIVE * 8.112963841460668e31;
    fn lt(self, o: Self) -> bool {
        self < o
    }
    fn eq(self, o: Self) -> bool {
        self == o
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn is_finite(self) -> bool {
        self.is_finite()
    }
    fn to_f80(self) -> F80 {
        F80::from_f64(self.to_bits()).0
    }
    fn from_f80(v: F80) -> u64 {
        f80::to_f64(v, 0).0
    }
    fn ctl(rc: u8) -> Ctl {
        Ctl::binary64(rc)
    }
}

/// The soft-float result of `kind` (0 add, 1 sub, 2 mul, 3 div, 4 sqrt of `b`) and its
/// MXCSR flags (IE, ZE, OE, UE, PE), with underflow detected after rounding as x86 does.
fn soft<F: Fp>(kind: u32, a: F, b: F, rc: u8) -> (u64, u32) {
    let (x, y) = (a.to_f80(), b.to_f80());
    let op = |c: Ctl| match kind {
        0 => f80::add(x, y, false, c),
        1 => f80::add(x, y, true, c),
        2 => f80::mul(x, y, c),
        3 => f80::div(x, y, c),
        _ => f80::sqrt(y, c),
    };
    let c = F::ctl(rc);
    let (r, fl) = op(c);
    if r.is_nan() {
        return (F::DEFAULT_NAN, u32::from(fl & 0x3d));
    }
    let mut fl = u32::from(fl & 0x3d);
    // The soft-float detects tininess before rounding, x86 after rounding (to the target
    // precision with an unbounded exponent): redo the rounding without the exponent limit.
    if fl & UE != 0 {
        let (wide, _) = op(Ctl { emin: -16382, ..c });
        if wide.class() != f80::Class::Zero && i32::from(wide.exp()) - 16383 >= c.emin {
            fl &= !UE;
        }
    }
    (F::from_f80(r), fl)
}

/// A source operand of an SSE arithmetic, compare or conversion instruction as it reads
/// it: under MXCSR.DAZ a denormal is a zero of its sign; otherwise a denormal sets `den`
/// (DE, unless the operation has a NaN operand or is invalid or divides by zero).
fn source<F: Fp>(mx: u32, x: F, den: &mut bool) -> F {
    if !x.is_denormal() {
        x
    } else if mx & DAZ != 0 {
        x.signed_zero()
    } else {
        *den = true;
        x
    }
}

/// The result `r` of an operation that raised `fl` under MXCSR `mx`: with FTZ and underflow
/// masked, a tiny result (underflow raised, or an exact denormal) becomes a zero of its
/// sign, raising UE and PE.
fn flush<F: Fp>(mx: u32, r: u64, fl: &mut u32) -> u64 {
    if mx & (FTZ | UM) != FTZ | UM {
        return r;
    }
    let v = F::from_bits64(r);
    if *fl & UE != 0 || v.is_denormal() {
        *fl |= UE | PE;
        return v.signed_zero().to_bits64();
    }
    r
}

/// x86 arithmetic (`kind`: 0 add, 1 sub, 2 mul, 3 div, 4 sqrt of `b`) under MXCSR `mx`:
/// a NaN operand propagates (the first one, quieted); an invalid operation gives the
/// default NaN (negative quiet NaN); DAZ and FTZ apply; raises IE, DE, ZE, OE, UE and PE
/// (underflow only for inexact tiny results, detected after rounding).
pub(crate) fn arith<F: Fp>(mx: &mut u32, kind: u32, a: F, b: F) -> u64 {
    if a.is_nan() || b.is_nan() {
        return ieee_arith(mx, kind, a, b);
    }
    let mut den = false;
    let (a, b) = (source(*mx, a, &mut den), source(*mx, b, &mut den));
    let mut m = *mx & !0x3f;
    let r = ieee_arith(&mut m, kind, a, b);
    let mut fl = m & 0x3f;
    if den && fl & (IE | ZE) == 0 {
        fl |= DE;
    }
    let r = flush::<F>(*mx, r, &mut fl);
    *mx |= fl;
    r
}

/// [`arith`] on operands as they are, without DAZ, FTZ or DE: IEEE 754 with x86 NaNs.
fn ieee_arith<F: Fp>(mx: &mut u32, kind: u32, a: F, b: F) -> u64 {
    if a.is_nan() || b.is_nan() {
        if a.is_snan() || b.is_snan() {
            *mx |= IE;
        }
        let n = if a.is_nan() { a } else { b };
        return n.to_bits64() | F::QUIET;
    }
    let rc = ((*mx >> 13) & 3) as u8;
    if rc != 0 {
        // Directed rounding: the soft-float computes the exact result and rounds it.
        let (r, fl) = soft(kind, a, b, rc);
        *mx |= fl;
        return r;
    }
    let r = match kind {
        0 => a.add(b),
        1 => a.sub(b),
        2 => a.mul(b),
        3 => {
            if b.is_zero() && !a.is_zero() && a.is_finite() {
                *mx |= ZE;
            }
            a.div(b)
        }
        _ => a.sqrt(),
    };
    if r.is_nan() {
        *mx |= IE;
        return F::DEFAULT_NAN;
    }
    // Inexactness from an exact residual on the host; tiny or overflowing results (where
    // residuals may underflow, or flags need care) go through the soft-float.
    if !a.is_finite() || !b.is_finite() || (kind == 3 && b.is_zero()) {
        return r.to_bits64();
    }
    let safe = |v: F| {
        v.is_zero()
            || !F::from_bits64(v.to_bits64() & !(1 << (F::BITS - 1))).lt(F::from_f64(F::SAFE_MIN))
    };
    let exact = match kind {
        0 | 1 => {
            if !r.is_finite() {
                None
            } else {
                // TwoSum: the rounding error of a + b' is exactly representable.
                let bb0 = if kind == 1 {
                    F::from_bits64(0).sub(b)
                } else {
                    b
                };
                let bb = r.sub(a);
                let err = a.sub(r.sub(bb)).add(bb0.sub(bb));
                Some(err.is_zero())
            }
        }
        2 => (safe(r) && r.is_finite() && !r.is_zero()).then(|| a.fma(b, r.neg_()).is_zero()),
        3 => (safe(r) && safe(a) && r.is_finite() && !r.is_zero())
            .then(|| r.fma(b, a.neg_()).is_zero()),
        _ => (safe(b) && !b.is_zero()).then(|| r.fma(r, b.neg_()).is_zero()),
    };
    match exact {
        Some(true) => {}
        Some(false) => *mx |= PE,
        None => {
            let (_, fl) = soft(kind, a, b, 0);
            *mx |= fl;
        }
    }
    r.to_bits64()
}

fn sqrt_op<F: Fp>(mx: &mut u32, b: F) -> u64 {
    if b.is_nan() {
        if b.is_snan() {
            *mx |= IE;
        }
        return b.to_bits64() | F::QUIET;
    }
    arith(mx, 4, b, b)
}

/// minps/maxps: the second operand whenever either is NaN or both are zero.
fn minmax<F: Fp>(mx: &mut u32, max: bool, a: F, b: F) -> u64 {
    let mut den = false;
    let (a, b) = (source(*mx, a, &mut den), source(*mx, b, &mut den));
    if a.is_nan() || b.is_nan() {
        *mx |= IE;
    } else if den {
        *mx |= DE;
    }
    let pick_a = if max { b.lt(a) } else { a.lt(b) };
    if pick_a {
        a.to_bits64()
    } else {
        b.to_bits64()
    }
}

/// cmpps predicate 0..7: eq, lt, le, unord, neq, nlt, nle, ord.
fn cmp_pred<F: Fp>(mx: &mut u32, pred: u64, a: F, b: F) -> u64 {
    let mut den = false;
    let (a, b) = (source(*mx, a, &mut den), source(*mx, b, &mut den));
    let unord = a.is_nan() || b.is_nan();
    if a.is_snan() || b.is_snan() || (unord && matches!(pred & 7, 1 | 2 | 5 | 6)) {
        *mx |= IE;
    } else if den && !unord {
        *mx |= DE;
    }
    let r = match pred & 7 {
        0 => !unord && a.eq(b),
        1 => !unord && a.lt(b),
        2 => !unord && (a.lt(b) || a.eq(b)),
        3 => unord,
        4 => unord || !a.eq(b),
        5 => unord || !a.lt(b),
        6 => unord || !(a.lt(b) || a.eq(b)),
        _ => !unord,
    };
    if r {
        if F::BITS == 64 {
            u64::MAX
        } else {
            0xffff_ffff
        }
    } else {
        0
    }
}

/// Applies an f32/f64 binary op to ps/pd/ss/sd lanes.
fn fp_lanes(
    a: u128,
    b: u128,
    kind: u32,
    f32op: &mut dyn FnMut(f32, f32) -> u64,
    f64op: &mut dyn FnMut(f64, f64) -> u64,
) -> u128 {
    match kind {
        0 => {
            let (x, y) = (lanes::<4>(a, 32), lanes::<4>(b, 32));
            let r: [u64; 4] =
                std::array::from_fn(|i| f32op(f32::from_bits64(x[i]), f32::from_bits64(y[i])));
            join(r, 32)
        }
        1 => {
            let (x, y) = (lanes::<2>(a, 64), lanes::<2>(b, 64));
            let r: [u64; 2] =
                std::array::from_fn(|i| f64op(f64::from_bits64(x[i]), f64::from_bits64(y[i])));
            join(r, 64)
        }
        2 => {
            let r = f32op(f32::from_bits64(a as u64), f32::from_bits64(b as u64));
            (a & !0xffff_ffffu128) | u128::from(r & 0xffff_ffff)
        }
        _ => {
            let r = f64op(f64::from_bits64(a as u64), f64::from_bits64(b as u64));
            (a & !(u64::MAX as u128)) | u128::from(r)
        }
    }
}

/// One lane of `rcpps` (1/x) or `rsqrtps` (1/sqrt(x)).
///
/// The architecture bounds the error of these approximations (|relative error| <=
/// 1.5 * 2^-12) and leaves their bits to the processor model (Intel's and AMD's differ).
/// This gives no model's bits: it returns the value rounded to nearest from a binary64
/// evaluation (correctly rounded for 1/x; for 1/sqrt(x) within 2^-24 relative), which is
/// deterministic on every host. The special cases are the architecture's: a NaN comes back
/// quiet, a zero or a denormal (read as zero) gives an infinity of its sign, an infinity
/// a zero of its sign, a negative operand of `rsqrt` the default NaN, and a result below
/// the smallest normal is flushed to a zero of its sign. No MXCSR flags are raised, and
/// RC, DAZ and FTZ do not apply.
pub(crate) fn approx_recip(x: u32, sqrt: bool) -> u32 {
    let sign = x & 0x8000_0000;
    let f = f32::from_bits(x);
    if f.is_nan() {
        return x | 0x0040_0000;
    }
    if x & 0x7f80_0000 == 0 {
        return sign | 0x7f80_0000;
    }
    if sqrt && sign != 0 {
        return 0xffc0_0000;
    }
    if f.is_infinite() {
        return sign;
    }
    let v = f64::from(f);
    let r = if sqrt { 1.0 / v.sqrt() } else { 1.0 / v } as f32;
    if r.abs() < f32::MIN_POSITIVE {
        sign
    } else {
        r.to_bits()
    }
}

/// Rounds per MXCSR.RC (0 nearest-even, 1 down, 2 up, 3 toward zero).
fn round_rc(x: f64, rc: u32) -> f64 {
    match rc & 3 {
        0 => x.round_ties_even(),
        1 => x.floor(),
        2 => x.ceil(),
        _ => x.trunc(),
    }
}

/// Float to integer with the x86 "integer indefinite" result for NaN and overflow.
fn to_int(mx: &mut u32, x: f64, bits: u32, rc: Option<u32>) -> u64 {
    let r = match rc {
        Some(rc) => round_rc(x, rc),
        None => x.trunc(),
    };
    let lim = 2f64.powi(bits as i32 - 1);
    if x.is_nan() || r >= lim || r < -lim {
        *mx |= IE;
        return if bits == 64 { 1 << 63 } else { 1 << 31 };
    }
    if r != x {
        *mx |= PE;
    }
    let v = r as i64 as u64;
    if bits == 32 {
        v & 0xffff_ffff
    } else {
        v
    }
}

/// A source operand under DAZ only (the conversions to integers and the roundings raise no
/// DE).
pub(crate) fn daz<F: Fp>(mx: u32, x: F) -> F {
    source(mx, x, &mut false)
}

/// cvtsd2ss of one lane: a NaN is quieted (IE for an SNaN); DAZ, DE and FTZ apply;
/// underflow is detected after rounding.
fn f64_to_f32(mx: &mut u32, x: f64, rc: u32) -> u32 {
    if x.is_nan() {
        if x.is_snan() {
            *mx |= IE;
        }
        let b = x.to_bits();
        let sign = ((b >> 63) as u32) << 31;
        let payload = ((b >> 29) as u32) & 0x003f_ffff;
        return sign | 0x7fc0_0000 | payload;
    }
    let mut den = false;
    let x = source(*mx, x, &mut den);
    let x80 = F80::from_f64(x.to_bits()).0;
    let (r, f) = f80::to_f32(x80, rc as u8);
    let mut f = u32::from(f & 0x3d);
    if den {
        f |= DE;
    }
    // Tininess is detected after rounding (to 24 bits with an unbounded exponent).
    if f & UE != 0 {
        let c = Ctl {
            emin: -16382,
            ..Ctl::binary32(rc as u8)
        };
        let (wide, _) = f80::add(x80, F80::zero(false), false, c);
        if i32::from(wide.exp()) - 16383 >= -126 {
            f &= !UE;
        }
    }
    let r = flush::<f32>(*mx, u64::from(r), &mut f) as u32;
    *mx |= f;
    r
}

/// cvtss2sd of one lane (exact): a NaN is quieted (IE for an SNaN); DAZ and DE apply.
fn f32_to_f64(mx: &mut u32, x: f32) -> u64 {
    if x.is_nan() {
        if x.is_snan() {
            *mx |= IE;
        }
        let b = x.to_bits();
        let sign = u64::from(b >> 31) << 63;
        let payload = u64::from(b & 0x003f_ffff) << 29;
        return sign | 0x7ff8_0000_0000_0000 | payload;
    }
    let mut den = false;
    let x = source(*mx, x, &mut den);
    if den {
        *mx |= DE;
    }
    f64::from(x).to_bits()
}

/// An exactly representable integer as f64 bits.
fn int_to_f64(v: i64) -> u64 {
    (v as f64).to_bits()
}

/// Executes SSE op `op` with destination register `d` and source `s` (helper register
/// indices, see [`MM0`]: 16 is the scratch register holding a memory operand), immediate/GPR
/// value `imm`. Returns the value for ops with a GPR or flags result, else 0.
pub(crate) fn exec(st: &mut X86State, op: u32, d: usize, s: usize, imm: u64) -> u64 {
    use op::*;
    let a = if d == 16 { 0 } else { get(st, d) };
    let w = width(d);
    let b = get(st, s);
    // At 64 bits the source is 64 bits too (an xmm source of cvtps2pi: its low half), except
    // for the two doubles of cvtpd2pi.
    let b = if w == 64 && !matches!(op, CVTPD2DQ | CVTTPD2DQ) {
        b & u128::from(u64::MAX)
    } else {
        b
    };
    let mut mx = st.mxcsr;
    let rc = (mx >> 13) & 3;
    let mut ret = 0u64;
    let r: Option<u128> = match op {
        PADDB | PADDW | PADDD | PADDQ => {
            let bits = 8 << (op - PADDB);
            Some(map2(a, b, bits, |x, y| x.wrapping_add(y)))
        }
        PSUBB | PSUBW | PSUBD | PSUBQ => {
            let bits = 8 << (op - PSUBB);
            Some(map2(a, b, bits, |x, y| x.wrapping_sub(y)))
        }
        PADDSB | PADDSW => {
            let bits = if op == PADDSB { 8 } else { 16 };
            Some(map2(a, b, bits, |x, y| {
                sat_s(sx(x, bits) + sx(y, bits), bits)
            }))
        }
        PSUBSB | PSUBSW => {
            let bits = if op == PSUBSB { 8 } else { 16 };
            Some(map2(a, b, bits, |x, y| {
                sat_s(sx(x, bits) - sx(y, bits), bits)
            }))
        }
        PADDUSB | PADDUSW => {
            let bits = if op == PADDUSB { 8 } else { 16 };
            Some(map2(a, b, bits, |x, y| sat_u(x as i64 + y as i64, bits)))
        }
        PSUBUSB | PSUBUSW => {
            let bits = if op == PSUBUSB { 8 } else { 16 };
            Some(map2(a, b, bits, |x, y| sat_u(x as i64 - y as i64, bits)))
        }
        PCMPEQB | PCMPEQW | PCMPEQD => {
            let bits = 8 << (op - PCMPEQB);
            Some(map2(a, b, bits, |x, y| if x == y { u64::MAX } else { 0 }))
        }
        PCMPGTB | PCMPGTW | PCMPGTD => {
            let bits = 8 << (op - PCMPGTB);
            Some(map2(a, b, bits, |x, y| {
                if sx(x, bits) > sx(y, bits) {
                    u64::MAX
                } else {
                    0
                }
            }))
        }
        PMINUB => Some(map2(a, b, 8, |x, y| x.min(y))),
        PMAXUB => Some(map2(a, b, 8, |x, y| x.max(y))),
        PMINSW => Some(map2(a, b, 16, |x, y| sx(x, 16).min(sx(y, 16)) as u64)),
        PMAXSW => Some(map2(a, b, 16, |x, y| sx(x, 16).max(sx(y, 16)) as u64)),
        PAVGB => Some(map2(a, b, 8, |x, y| (x + y + 1) >> 1)),
        PAVGW => Some(map2(a, b, 16, |x, y| (x + y + 1) >> 1)),
        PMULLW => Some(map2(a, b, 16, |x, y| x.wrapping_mul(y))),
        PMULHW => Some(map2(a, b, 16, |x, y| {
            ((sx(x, 16) * sx(y, 16)) >> 16) as u64
        })),
        PMULHUW => Some(map2(a, b, 16, |x, y| (x * y) >> 16)),
        PMULUDQ => {
            let (x, y) = (lanes::<4>(a, 32), lanes::<4>(b, 32));
            Some(join([x[0] * y[0], x[2] * y[2]], 64))
        }
        PMADDWD => {
            let (x, y) = (lanes::<8>(a, 16), lanes::<8>(b, 16));
            let r: [u64; 4] = std::array::from_fn(|i| {
                let p = sx(x[2 * i], 16) * sx(y[2 * i], 16)
                    + sx(x[2 * i + 1], 16) * sx(y[2 * i + 1], 16);
                p as u64
            });
            Some(join(r, 32))
        }
        PSADBW => {
            let (x, y) = (lanes::<16>(a, 8), lanes::<16>(b, 8));
            let lo: u64 = (0..8).map(|i| x[i].abs_diff(y[i])).sum();
            let hi: u64 = (8..16).map(|i| x[i].abs_diff(y[i])).sum();
            Some(join([lo, hi], 64))
        }
        PUNPCKLBW..=PUNPCKHQDQ => {
            let k = op - PUNPCKLBW;
            Some(unpack(a, b, 8 << (k % 4), k >= 4, w))
        }
        PACKSSWB => Some(pack(a, b, 16, |v| sat_s(v, 8), w)),
        PACKSSDW => Some(pack(a, b, 32, |v| sat_s(v, 16), w)),
        PACKUSWB => Some(pack(a, b, 16, |v| sat_u(v, 8), w)),
        PSHUFD => {
            let x = lanes::<4>(b, 32);
            Some(join::<4>(
                std::array::from_fn(|i| x[((imm >> (2 * i)) & 3) as usize]),
                32,
            ))
        }
        PSHUFLW | PSHUFHW => {
            let x = lanes::<8>(b, 16);
            let base = if op == PSHUFLW { 0 } else { 4 };
            let r: [u64; 8] = std::array::from_fn(|i| {
                if i / 4 == base / 4 {
                    x[base + ((imm >> (2 * (i - base))) & 3) as usize]
                } else {
                    x[i]
                }
            });
            Some(join(r, 16))
        }
        PSLLW..=PSRAD => {
            // The count: the low 64 bits of the source, or the immediate (bit 63 of imm set).
            let count = if imm >> 63 != 0 { imm & 0xff } else { b as u64 };
            let (bits, kind) = match op {
                PSLLW => (16, 0),
                PSLLD => (32, 0),
                PSLLQ => (64, 0),
                PSRLW => (16, 1),
                PSRLD => (32, 1),
                PSRLQ => (64, 1),
                PSRAW => (16, 2),
                _ => (32, 2),
            };
            Some(map2(a, 0, bits, |x, _| match kind {
                0 if count >= u64::from(bits) => 0,
                0 => x << count,
                1 if count >= u64::from(bits) => 0,
                1 => x >> count,
                _ => (sx(x, bits) >> count.min(u64::from(bits) - 1)) as u64,
            }))
        }
        PSLLDQ | PSRLDQ => {
            let n = (imm & 0xff).min(16) as u32;
            Some(if n == 16 {
                0
            } else if op == PSLLDQ {
                a << (8 * n)
            } else {
                a >> (8 * n)
            })
        }
        SHUFPS => {
            let (x, y) = (lanes::<4>(a, 32), lanes::<4>(b, 32));
            let sel = |v: &[u64; 4], k: u64| v[((imm >> (2 * k)) & 3) as usize];
            Some(join([sel(&x, 0), sel(&x, 1), sel(&y, 2), sel(&y, 3)], 32))
        }
        SHUFPD => {
            let (x, y) = (lanes::<2>(a, 64), lanes::<2>(b, 64));
            Some(join(
                [x[(imm & 1) as usize], y[((imm >> 1) & 1) as usize]],
                64,
            ))
        }
        UNPCKLPS => Some(unpack(a, b, 32, false, 128)),
        UNPCKHPS => Some(unpack(a, b, 32, true, 128)),
        UNPCKLPD => Some(unpack(a, b, 64, false, 128)),
        UNPCKHPD => Some(unpack(a, b, 64, true, 128)),
        PMOVMSKB => {
            ret = lanes::<16>(b, 8)
                .iter()
                .enumerate()
                .fold(0, |m, (i, &x)| m | ((x >> 7) << i));
            None
        }
        MOVMSKPS => {
            ret = lanes::<4>(b, 32)
                .iter()
                .enumerate()
                .fold(0, |m, (i, &x)| m | ((x >> 31) << i));
            None
        }
        MOVMSKPD => {
            ret = (b as u64 >> 63) | (((b >> 127) as u64) << 1);
            None
        }
        100..=131 => {
            let kind = op % 4;
            let base = op - kind;
            let mut m1 = mx;
            let mut m2 = mx;
            let r = match base {
                ADD | SUB | MUL | DIV => {
                    let k = (base - ADD) / 4;
                    fp_lanes(
                        a,
                        b,
                        kind,
                        &mut |x, y| arith(&mut m1, k, x, y),
                        &mut |x, y| arith(&mut m2, k, x, y),
                    )
                }
                MIN | MAX => fp_lanes(
                    a,
                    b,
                    kind,
                    &mut |x, y| minmax(&mut m1, base == MAX, x, y),
                    &mut |x, y| minmax(&mut m2, base == MAX, x, y),
                ),
                SQRT => fp_lanes(a, b, kind, &mut |_, y| sqrt_op(&mut m1, y), &mut |_, y| {
                    sqrt_op(&mut m2, y)
                }),
                _ => fp_lanes(
                    a,
                    b,
                    kind,
                    &mut |x, y| cmp_pred(&mut m1, imm, x, y),
                    &mut |x, y| cmp_pred(&mut m2, imm, x, y),
                ),
            };
            mx |= m1 | m2;
            Some(r)
        }
        RCP | 142 | RSQRT | 146 => {
            let f = |x: u64| u64::from(approx_recip(x as u32, op >= RSQRT));
            Some(if op % 4 == 0 {
                map2(0, b, 32, |_, y| f(y))
            } else {
                (a & !0xffff_ffffu128) | u128::from(f(b as u64))
            })
        }
        132..=139 => {
            let comi = op >= COMI;
            let mut den = false;
            let (x, y, snan) = if op % 4 == 2 {
                let p = source(mx, f32::from_bits(a as u32), &mut den);
                let q = source(mx, f32::from_bits(b as u32), &mut den);
                (f64::from(p), f64::from(q), p.is_snan() || q.is_snan())
            } else {
                let p = source(mx, f64::from_bits(a as u64), &mut den);
                let q = source(mx, f64::from_bits(b as u64), &mut den);
                (p, q, p.is_snan() || q.is_snan())
            };
            let unord = x.is_nan() || y.is_nan();
            if snan || (comi && unord) {
                mx |= IE;
            } else if den && !unord {
                mx |= DE;
            }
            ret = if unord {
                flags::ZF | flags::PF | flags::CF
            } else if x < y {
                flags::CF
            } else if x == y {
                flags::ZF
            } else {
                0
            };
            None
        }
        CVTSI2SD32 | CVTSI2SD64 => {
            let v = if op == CVTSI2SD32 {
                imm as u32 as i32 as i64
            } else {
                imm as i64
            };
            let (r, f) = f80::to_f64(F80::from_i64(v), rc as u8);
            mx |= u32::from(f) & PE;
            Some((a & !(u64::MAX as u128)) | u128::from(r))
        }
        CVTSI2SS32 | CVTSI2SS64 => {
            let v = if op == CVTSI2SS32 {
                imm as u32 as i32 as i64
            } else {
                imm as i64
            };
            let (r, f) = f80::to_f32(F80::from_i64(v), rc as u8);
            mx |= u32::from(f) & PE;
            Some((a & !0xffff_ffffu128) | u128::from(r))
        }
        CVTTSD2SI32..=CVTSS2SI64 => {
            let k = op - CVTTSD2SI32;
            let x = if k < 4 {
                daz(mx, f64::from_bits(b as u64))
            } else {
                f64::from(daz(mx, f32::from_bits(b as u32)))
            };
            let truncate = k % 4 < 2;
            let bits = if k % 2 == 0 { 32 } else { 64 };
            ret = to_int(&mut mx, x, bits, if truncate { None } else { Some(rc) });
            None
        }
        CVTSS2SD => {
            let r = f32_to_f64(&mut mx, f32::from_bits(b as u32));
            Some((a & !(u64::MAX as u128)) | u128::from(r))
        }
        CVTSD2SS => {
            let r = f64_to_f32(&mut mx, f64::from_bits(b as u64), rc);
            Some((a & !0xffff_ffffu128) | u128::from(r))
        }
        CVTDQ2PD => {
            let x = lanes::<4>(b, 32);
            Some(join(
                [int_to_f64(sx(x[0], 32)), int_to_f64(sx(x[1], 32))],
                64,
            ))
        }
        CVTDQ2PS | CVTPI2PS => {
            let x = lanes::<4>(b, 32);
            let r = join::<4>(
                std::array::from_fn(|i| {
                    let (r, f) = f80::to_f32(F80::from_i64(sx(x[i], 32)), rc as u8);
                    mx |= u32::from(f) & PE;
                    u64::from(r)
                }),
                32,
            );
            Some(if op == CVTPI2PS {
                // The source's upper lanes are zero (exact), the destination's kept.
                let low = u128::from(u64::MAX);
                (a & !low) | (r & low)
            } else {
                r
            })
        }
        CVTTPD2DQ | CVTPD2DQ => {
            let x = lanes::<2>(b, 64);
            let r = if op == CVTTPD2DQ { None } else { Some(rc) };
            let (x0, x1) = (daz(mx, f64::from_bits(x[0])), daz(mx, f64::from_bits(x[1])));
            let v0 = to_int(&mut mx, x0, 32, r);
            let v1 = to_int(&mut mx, x1, 32, r);
            Some(join([v0, v1, 0, 0], 32))
        }
        CVTTPS2DQ | CVTPS2DQ => {
            let x = lanes::<4>(b, 32);
            let r = if op == CVTTPS2DQ { None } else { Some(rc) };
            let v: [u64; 4] = std::array::from_fn(|i| {
                let xi = daz(mx, f32::from_bits(x[i] as u32));
                to_int(&mut mx, f64::from(xi), 32, r)
            });
            Some(join(v, 32))
        }
        CVTPD2PS => {
            let x = lanes::<2>(b, 64);
            Some(join(
                [
                    u64::from(f64_to_f32(&mut mx, f64::from_bits(x[0]), rc)),
                    u64::from(f64_to_f32(&mut mx, f64::from_bits(x[1]), rc)),
                    0,
                    0,
                ],
                32,
            ))
        }
        CVTPS2PD => {
            let x = lanes::<4>(b, 32);
            Some(join(
                [
                    f32_to_f64(&mut mx, f32::from_bits(x[0] as u32)),
                    f32_to_f64(&mut mx, f32::from_bits(x[1] as u32)),
                ],
                64,
            ))
        }
        PINSRW => {
            let sh = (imm & 7) * 16;
            let v = (imm >> 8) & 0xffff;
            Some((a & !(0xffffu128 << sh)) | (u128::from(v) << sh))
        }
        PEXTRW => {
            ret = ((b >> ((imm & 7) * 16)) as u64) & 0xffff;
            None
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

    #[test]
    fn nan_rules_and_min_max() {
        let mut mx = 0;
        let qnan1 = f64::from_bits(0x7ff8_0000_0000_0001);
        let snan2 = f64::from_bits(0xfff0_0000_0000_0002);
        assert_eq!(arith(&mut mx, 0, qnan1, snan2), 0x7ff8_0000_0000_0001);
        assert_eq!(mx & IE, IE);
        assert_eq!(arith(&mut mx, 0, 1.0, snan2), 0xfff8_0000_0000_0002);
        assert_eq!(
            arith(&mut mx, 1, f64::INFINITY, f64::INFINITY),
            0xfff8_0000_0000_0000
        );
        assert_eq!(arith(&mut 0, 3, 0.0f32, 0.0f32), 0xffc0_0000);
        assert_eq!(minmax(&mut mx, false, f64::NAN, 1.0), 1.0f64.to_bits());
        assert_eq!(minmax(&mut mx, false, 1.0, f64::NAN), f64::NAN.to_bits());
        assert_eq!(minmax(&mut mx, true, 0.0, -0.0), (-0.0f64).to_bits());
        assert_eq!(to_int(&mut mx, 1e300, 32, None), 0x8000_0000);
        assert_eq!(to_int(&mut mx, -2.5, 64, Some(0)), (-2i64) as u64);
        assert_eq!(to_int(&mut mx, -2.5, 64, Some(1)), (-3i64) as u64);
        assert_eq!(to_int(&mut mx, -2.5, 64, None), (-2i64) as u64);
    }

    #[test]
    fn rcp_and_rsqrt_special_cases_and_bound() {
        let (inf, ninf) = (0x7f80_0000u32, 0xff80_0000u32);
        for (x, rcp, rsqrt) in [
            (0u32, inf, inf),
            (0x8000_0000, ninf, ninf),
            (0x0000_0001, inf, inf),   // denormal: read as zero
            (0x807f_ffff, ninf, ninf), // negative denormal: -0
            (inf, 0, 0),               // 1/inf
            (ninf, 0x8000_0000, 0xffc0_0000),
            (0xbf80_0000, 0xbf80_0000, 0xffc0_0000), // -1
            (0x7fa0_0001, 0x7fe0_0001, 0x7fe0_0001), // SNaN: quieted
            (0xffc0_1234, 0xffc0_1234, 0xffc0_1234),
            (0x7f7f_ffff, 0, 0x1f80_0000), // 1/max is tiny: flushed
            (0x3f80_0000, 0x3f80_0000, 0x3f80_0000), // 1
            (0x4080_0000, 0x3e80_0000, 0x3f00_0000), // 4
        ] {
            assert_eq!(approx_recip(x, false), rcp, "rcp {x:#x}");
            assert_eq!(approx_recip(x, true), rsqrt, "rsqrt {x:#x}");
        }
        // Every significand at a few exponents: within the architectural bound.
        for e in [1u32, 100, 127, 128, 200, 252] {
            for m in (0..1 << 23).step_by(97) {
                let x = e << 23 | m;
                let xf = f64::from(f32::from_bits(x));
                for (sqrt, exact) in [(false, 1.0 / xf), (true, 1.0 / xf.sqrt())] {
                    let r = f64::from(f32::from_bits(approx_recip(x, sqrt)));
                    if exact < f64::from(f32::MIN_POSITIVE) {
                        assert_eq!(r, 0.0);
                    } else {
                        assert!(((r - exact) / exact).abs() <= 1.5 * 2f64.powi(-12));
                    }
                }
            }
        }
    }

    #[test]
    fn precision_underflow_overflow_flags() {
        let f = |b: u64| f64::from_bits(b);
        // Values measured on x86 hardware: tininess is detected after rounding.
        let mut mx = 0x1f80;
        let r = arith(
            &mut mx,
            2,
            f(0x3ff0_0000_0000_0001),
            f(0x000f_ffff_ffff_ffff),
        );
        assert_eq!((r, mx), (0x0010_0000_0000_0000, 0x1f80 | PE | DE));
        let mut mx = 0x1f80;
        let r = arith(&mut mx, 2, f(0x3fef_ffff_ffff_ffff), f64::MIN_POSITIVE);
        assert_eq!((r, mx), (0x0010_0000_0000_0000, 0x1f80 | PE | UE));
        let mut mx = 0x1f80;
        arith(&mut mx, 0, 1.0f64, 1e-30);
        assert_eq!(mx, 0x1f80 | PE);
        let mut mx = 0x1f80;
        arith(&mut mx, 3, 1.0f64, 4.0);
        assert_eq!(mx, 0x1f80);
        let mut mx = 0x1f80;
        arith(&mut mx, 2, 1e300f64, 1e300);
        assert_eq!(mx, 0x1f80 | PE | (1 << 3));
        let mut mx = 0x1f80;
        arith(&mut mx, 4, 2.0f32, 2.0f32);
        assert_eq!(mx, 0x1f80 | PE);
        // Narrowing (measured on hardware): 2^-126 (1 - 3 2^-26) rounds up to the smallest
        // normal float but is tiny after rounding to 24 bits; 2^-126 (1 - 2^-25) is not.
        let mut mx = 0x1f80;
        let r = f64_to_f32(&mut mx, 2f64.powi(-126) * (1.0 - 3.0 * 2f64.powi(-26)), 0);
        assert_eq!((r, mx), (0x0080_0000, 0x1f80 | PE | UE));
        let mut mx = 0x1f80;
        let r = f64_to_f32(&mut mx, 2f64.powi(-126) * (1.0 - 2f64.powi(-25)), 0);
        assert_eq!((r, mx), (0x0080_0000, 0x1f80 | PE));
    }

    #[test]
    fn daz_ftz_and_denormal_flag() {
        let den = f32::from_bits(1);
        // A denormal operand raises DE; with DAZ it reads as zero and raises nothing.
        let mut mx = 0x1f80;
        assert_eq!(arith(&mut mx, 0, den, 1.0f32), 0x3f80_0000);
        assert_eq!(mx, 0x1f80 | DE | PE);
        let mut mx = 0x1f80 | DAZ;
        assert_eq!(arith(&mut mx, 0, den, 1.0f32), 0x3f80_0000);
        assert_eq!(mx, 0x1f80 | DAZ);
        // DE gives way to ZE and IE: denormal / 0, sqrt(-denormal).
        let mut mx = 0x1f80;
        arith(&mut mx, 3, den, 0.0f32);
        assert_eq!(mx, 0x1f80 | ZE);
        let mut mx = 0x1f80;
        assert_eq!(sqrt_op(&mut mx, -den), 0xffc0_0000);
        assert_eq!(mx, 0x1f80 | IE);
        // With DAZ, denormal / denormal is 0/0: invalid.
        let mut mx = 0x1f80 | DAZ;
        assert_eq!(arith(&mut mx, 3, den, den), 0xffc0_0000);
        assert_eq!(mx, 0x1f80 | DAZ | IE);
        // FTZ (underflow masked): an exact denormal result becomes zero with UE and PE.
        let tiny = f32::from_bits(0x0080_0000);
        let mut mx = 0x1f80 | FTZ;
        assert_eq!(arith(&mut mx, 2, -tiny, 0.5f32), 0x8000_0000);
        assert_eq!(mx, 0x1f80 | FTZ | UE | PE);
        // Unmasked underflow: FTZ does not apply.
        let mut mx = 0x1f80 & !UM | FTZ;
        assert_eq!(arith(&mut mx, 2, -tiny, 0.5f32), 0x8040_0000);
        // Narrowing: DAZ on the double, FTZ on the float.
        let mut mx = 0x1f80 | FTZ;
        assert_eq!(f64_to_f32(&mut mx, 1e-40, 0), 0);
        assert_eq!(mx, 0x1f80 | FTZ | UE | PE);
        let mut mx = 0x1f80 | DAZ;
        assert_eq!(f64_to_f32(&mut mx, f64::from_bits(5), 0), 0);
        assert_eq!(mx, 0x1f80 | DAZ);
    }
}
