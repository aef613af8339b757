//! A soft-float implementation of the x87 80-bit extended format (64-bit significand with
//! explicit integer bit, 15-bit exponent), with the x87 rounding controls and NaN rules.

/// An 80-bit extended value: sign and biased exponent in `se`, significand in `m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct F80 {
    /// Significand (bit 63 is the explicit integer bit).
    pub m: u64,
    /// Bit 15: sign; bits 0..15: biased exponent.
    pub se: u16,
}

/// x87 exception flags (status word bit positions).
pub mod exc {
    /// Invalid operation.
    pub const IE: u16 = 1;
    /// Denormal operand.
    pub const DE: u16 = 2;
    /// Divide by zero.
    pub const ZE: u16 = 4;
    /// Overflow.
    pub const OE: u16 = 8;
    /// Underflow.
    pub const UE: u16 = 16;
    /// Precision (inexact).
    pub const PE: u16 = 32;
    /// Not an exception: the inexact result was rounded up in magnitude, which the x87
    /// reports in C1 (the status word's bit of that name). SSE callers mask it off.
    pub const C1: u16 = 1 << 9;
}
use exc::*;

const BIAS: i32 = 16383;
/// The x87 default NaN ("real indefinite").
pub const INDEFINITE: F80 = F80 {
    m: 0xc000_0000_0000_0000,
    se: 0xffff,
};

/// Rounding control and precision for one operation.
#[derive(Clone, Copy, Debug)]
pub struct Ctl {
    /// 0 nearest-even, 1 down, 2 up, 3 toward zero.
    pub rc: u8,
    /// Significand bits kept: 24, 53 or 64.
    pub prec: u32,
    /// Smallest normal exponent (unbiased) of the target format.
    pub emin: i32,
    /// Largest exponent (unbiased) of the target format.
    pub emax: i32,
    /// x87 register results with the overflow exception unmasked: an overflowing result
    /// is kept with its exponent reduced by 24576, raising OE.
    pub trap_over: bool,
    /// x87 register results with the underflow exception unmasked: a tiny result (even an
    /// exact one) is kept normalised with its exponent increased by 24576, raising UE.
    pub trap_under: bool,
}

/// The exponent adjustment of the unmasked overflow and underflow responses.
const WRAP: i32 = 24576;

impl Ctl {
    /// x87 rounding: `prec` bits, extended exponent range.
    pub const fn x87(rc: u8, prec: u32) -> Ctl {
        Ctl {
            rc,
            prec,
            emin: 1 - BIAS,
            emax: BIAS,
            trap_over: false,
            trap_under: false,
        }
    }

    /// IEEE binary64 (`double`) rounding.
    pub const fn binary64(rc: u8) -> Ctl {
        Ctl {
            rc,
            prec: 53,
            emin: -1022,
            emax: 1023,
            trap_over: false,
            trap_under: false,
        }
    }

    /// IEEE binary32 (`float`) rounding.
    pub const fn binary32(rc: u8) -> Ctl {
        Ctl {
            rc,
            prec: 24,
            emin: -126,
            emax: 127,
            trap_over: false,
            trap_under: false,
        }
    }

    /// From an x87 control word (rounding, precision, and the overflow and underflow masks).
    pub fn from_cw(cw: u16) -> Ctl {
        Ctl {
            trap_over: cw & OE == 0,
            trap_under: cw & UE == 0,
            ..Ctl::x87(
                ((cw >> 10) & 3) as u8,
                match (cw >> 8) & 3 {
                    0 => 24,
                    2 => 53,
                    _ => 64,
                },
            )
        }
    }
}

/// What a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// ±0.
    Zero,
    /// A finite nonzero value (normal or denormal).
    Finite,
    /// ±infinity.
    Inf,
    /// A quiet NaN.
    QNaN,
    /// A signalling NaN.
    SNaN,
    /// An unsupported encoding (unnormal, pseudo-NaN, pseudo-infinity).
    Invalid,
}

impl F80 {
    /// Builds from sign, biased exponent and significand.
    pub const fn new(sign: bool, exp: u16, m: u64) -> F80 {
        F80 {
            m,
            se: ((sign as u16) << 15) | (exp & 0x7fff),
        }
    }
    /// The sign bit.
    pub fn sign(self) -> bool {
        self.se >> 15 != 0
    }
    /// The biased exponent.
    pub fn exp(self) -> u16 {
        self.se & 0x7fff
    }
    /// Classifies the encoding.
    pub fn class(self) -> Class {
        let int = self.m >> 63 != 0;
        match self.exp() {
            0 if self.m == 0 => Class::Zero,
            0 => Class::Finite,
            0x7fff if !int => Class::Invalid,
            0x7fff if self.m << 1 == 0 => Class::Inf,
            0x7fff if self.m & (1 << 62) != 0 => Class::QNaN,
            0x7fff => Class::SNaN,
            _ if !int => Class::Invalid,
            _ => Class::Finite,
        }
    }
    /// True for NaNs and unsupported encodings.
    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::QNaN | Class::SNaN | Class::Invalid)
    }
    /// The value with its sign flipped.
    pub fn neg(self) -> F80 {
        F80 {
            m: self.m,
            se: self.se ^ 0x8000,
        }
    }
    /// The absolute value.
    pub fn abs(self) -> F80 {
        F80 {
            m: self.m,
            se: self.se & 0x7fff,
        }
    }
    /// ±0.
    pub fn zero(sign: bool) -> F80 {
        F80::new(sign, 0, 0)
    }
    /// ±infinity.
    pub fn inf(sign: bool) -> F80 {
        F80::new(sign, 0x7fff, 1 << 63)
    }
    /// The quiet version of a NaN.
    pub(crate) fn quiet(self) -> F80 {
        F80 {
            m: self.m | (1 << 62),
            se: self.se,
        }
    }
    /// Unpacks a finite value as (sign, unbiased exponent of bit 63 of `m`, m) with `m`
    /// normalised (bit 63 set).
    pub(crate) fn unpack(self) -> (bool, i32, u64) {
        let mut e = if self.exp() == 0 {
            1 - BIAS
        } else {
            self.exp() as i32 - BIAS
        };
        let mut m = self.m;
        let lz = m.leading_zeros();
        m <<= lz;
        e -= lz as i32;
        (self.sign(), e, m)
    }

    /// From an f64 bit pattern (exact).
    pub fn from_f64(b: u64) -> (F80, u16) {
        let sign = b >> 63 != 0;
        let e = ((b >> 52) & 0x7ff) as i32;
        let f = b & ((1 << 52) - 1);
        match e {
            0 if f == 0 => (F80::zero(sign), 0),
            0 => {
                // value = f * 2^-1074; normalise f to bit 63.
                let lz = f.leading_zeros();
                let m = f << lz;
                let ue = -1011 - lz as i32;
                (F80::new(sign, (ue + BIAS) as u16, m), DE)
            }
            0x7ff if f == 0 => (F80::inf(sign), 0),
            0x7ff => {
                let snan = f & (1 << 51) == 0;
                let v = F80::new(sign, 0x7fff, (1 << 63) | (f << 11));
                if snan {
                    (v.quiet(), IE)
                } else {
                    (v, 0)
                }
            }
            _ => (
                F80::new(sign, (e - 1023 + BIAS) as u16, (1 << 63) | (f << 11)),
                0,
            ),
        }
    }

    /// From an f32 bit pattern (exact).
    pub fn from_f32(b: u32) -> (F80, u16) {
        let sign = b >> 31 != 0;
        let e = ((b >> 23) & 0xff) as i32;
        let f = u64::from(b & 0x7f_ffff);
        match e {
            0 if f == 0 => (F80::zero(sign), 0),
            0 => {
                // value = f * 2^-149.
                let lz = f.leading_zeros();
                let m = f << lz;
                let ue = -86 - lz as i32;
                (F80::new(sign, (ue + BIAS) as u16, m), DE)
            }
            0xff if f == 0 => (F80::inf(sign), 0),
            0xff => {
                let snan = f & (1 << 22) == 0;
                let v = F80::new(sign, 0x7fff, (1 << 63) | (f << 40));
                if snan {
                    (v.quiet(), IE)
                } else {
                    (v, 0)
                }
            }
            _ => (
                F80::new(sign, (e - 127 + BIAS) as u16, (1 << 63) | (f << 40)),
                0,
            ),
        }
    }

    /// From a signed integer (exact).
    pub fn from_i64(v: i64) -> F80 {
        if v == 0 {
            return F80::zero(false);
        }
        let sign = v < 0;
        let a = v.unsigned_abs();
        let lz = a.leading_zeros();
        F80::new(sign, (63 - lz as i32 + BIAS) as u16, a << lz)
    }
}

/// A rounded result in some binary format.
struct Rounded {
    /// 0 = zero, 1 = finite, 2 = overflow to infinity, 3 = overflow to the largest finite.
    kind: u8,
    /// Unbiased exponent of the integer bit position (for finite values).
    e: i32,
    /// `p` significand bits; the top one (bit p-1) is clear for denormals.
    m: u64,
    flags: u16,
}

/// Rounds `sig * 2^(e - 127)` (sig normalised to bit 127, or zero) to `p` bits with exponent
/// range `emin..=emax`.
fn round(sign: bool, e: i32, sig: u128, p: u32, emin: i32, emax: i32, rc: u8) -> Rounded {
    if sig == 0 {
        return Rounded {
            kind: 0,
            e: 0,
            m: 0,
            flags: 0,
        };
    }
    let mut eo = e;
    let mut shift = 128 - p;
    let tiny = e < emin;
    if tiny {
        let extra = (emin - e) as u32;
        shift = shift.saturating_add(extra);
        eo = emin;
    }
    let (mut kept, rem, half) = if shift >= 128 {
        (0u128, sig, if shift == 128 { 1u128 << 127 } else { 0 })
    } else {
        (
            sig >> shift,
            sig & ((1u128 << shift) - 1),
            1u128 << (shift - 1),
        )
    };
    let inexact = rem != 0;
    let up = match rc & 3 {
        0 => {
            if shift > 128 {
                false
            } else {
                rem > half || (rem == half && kept & 1 == 1)
            }
        }
        1 => sign && inexact,
        2 => !sign && inexact,
        _ => false,
    };
    if up {
        kept += 1;
    }
    if kept >> p != 0 {
        kept >>= 1;
        eo += 1;
    }
    let mut flags = if inexact { PE } else { 0 };
    if up {
        flags |= C1;
    }
    if tiny && inexact {
        flags |= UE;
    }
    if kept == 0 {
        return Rounded {
            kind: 0,
            e: 0,
            m: 0,
            flags,
        };
    }
    if eo > emax {
        let to_inf = match rc & 3 {
            0 => true,
            1 => sign,
            2 => !sign,
            _ => false,
        };
        // Rounding to infinity increases the magnitude; to the largest finite value not.
        let flags = if to_inf { flags | C1 } else { flags & !C1 };
        return Rounded {
            kind: if to_inf { 2 } else { 3 },
            e: emax,
            m: if p == 64 { u64::MAX } else { (1 << p) - 1 },
            flags: flags | OE | PE,
        };
    }
    Rounded {
        kind: 1,
        e: eo,
        m: kept as u64,
        flags,
    }
}

/// Rounds to the precision and exponent range of `c`; the result is an extended value
/// (exactly representable in the target format).
pub(crate) fn round80(sign: bool, e: i32, sig: u128, c: Ctl) -> (F80, u16) {
    if sig != 0 && (c.trap_over || c.trap_under) {
        // The unmasked responses: round with an unbounded exponent, then wrap it.
        let w = round(sign, e, sig, c.prec, -(1 << 24), 1 << 24, c.rc);
        let wrapped = if c.trap_under && e < c.emin {
            Some((w.e + WRAP, UE))
        } else if c.trap_over && w.e > c.emax {
            Some((w.e - WRAP, OE))
        } else {
            None
        };
        match wrapped {
            Some((ew, flag)) if (c.emin..=c.emax).contains(&ew) => {
                let m = w.m << (64 - c.prec);
                return (F80::new(sign, (ew + BIAS) as u16, m), w.flags | flag);
            }
            // Out of range even wrapped (fscale): an infinity, rounded up whatever RC, or a
            // zero.
            Some((_, OE)) => return (F80::inf(sign), OE | PE | C1),
            Some(_) => return (F80::zero(sign), UE | PE),
            None => {}
        }
    }
    let r = round(sign, e, sig, c.prec, c.emin, c.emax, c.rc);
    let v = match r.kind {
        0 => F80::zero(sign),
        2 => F80::inf(sign),
        3 => F80::new(sign, (c.emax + BIAS) as u16, r.m << (64 - c.prec)),
        _ => {
            let m = r.m << (64 - c.prec);
            if m >> 63 != 0 {
                F80::new(sign, (r.e + BIAS) as u16, m)
            } else if c.emin == 1 - BIAS {
                F80::new(sign, 0, m)
            } else {
                // A denormal of a narrower format is normal in the extended one.
                let lz = m.leading_zeros();
                F80::new(sign, (r.e - lz as i32 + BIAS) as u16, m << lz)
            }
        }
    };
    (v, r.flags)
}

/// NaN propagation for two operands (x87 rules): SNaNs are quieted; between two NaNs the one
/// with the larger significand wins; a QNaN beats an SNaN.
pub(crate) fn nan2(a: F80, b: F80) -> (F80, u16) {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Invalid || cb == Class::Invalid {
        return (INDEFINITE, IE);
    }
    let flags = if ca == Class::SNaN || cb == Class::SNaN {
        IE
    } else {
        0
    };
    let r = match (a.is_nan(), b.is_nan()) {
        (true, false) => a,
        (false, true) => b,
        _ => {
            if ca == Class::QNaN && cb == Class::SNaN {
                a
            } else if ca == Class::SNaN && cb == Class::QNaN {
                b
            } else if (a.m << 1) >= (b.m << 1) {
                if (a.m << 1) == (b.m << 1) && a.sign() && !b.sign() {
                    b
                } else {
                    a
                }
            } else {
                b
            }
        }
    };
    (r.quiet(), flags)
}

fn norm(v: u128) -> (u128, u32) {
    let lz = v.leading_zeros();
    (v << lz, lz)
}

/// `a + b` (or `a - b` with `sub`).
pub fn add(a: F80, b: F80, sub: bool, c: Ctl) -> (F80, u16) {
    let b = if sub { b.neg() } else { b };
    if a.is_nan() || b.is_nan() {
        return nan2(a, if sub { b.neg() } else { b });
    }
    let (ca, cb) = (a.class(), b.class());
    match (ca, cb) {
        (Class::Inf, Class::Inf) => {
            return if a.sign() == b.sign() {
                (a, 0)
            } else {
                (INDEFINITE, IE)
            }
        }
        (Class::Inf, _) => return (a, 0),
        (_, Class::Inf) => return (b, 0),
        (Class::Zero, Class::Zero) => {
            let s = if a.sign() == b.sign() {
                a.sign()
            } else {
                c.rc == 1
            };
            return (F80::zero(s), 0);
        }
        (Class::Zero, _) => return round_exact(b, c),
        (_, Class::Zero) => return round_exact(a, c),
        _ => {}
    }
    let (sa, ea, ma) = a.unpack();
    let (sb, eb, mb) = b.unpack();
    // Larger magnitude first.
    let (s1, e1, m1, s2, e2, m2) = if (ea, ma) >= (eb, mb) {
        (sa, ea, ma, sb, eb, mb)
    } else {
        (sb, eb, mb, sa, ea, ma)
    };
    let big = u128::from(m1) << 62;
    let d = (e1 - e2) as u32;
    let small0 = u128::from(m2) << 62;
    let small = if d >= 127 {
        1
    } else {
        let s = small0 >> d;
        s | u128::from(s << d != small0)
    };
    let (sum, sign) = if s1 == s2 {
        (big + small, s1)
    } else {
        (big - small, s1)
    };
    if sum == 0 {
        return (F80::zero(c.rc == 1), 0);
    }
    let (sig, lz) = norm(sum);
    round80(sign, e1 + 2 - lz as i32, sig, c)
}

/// Rounds an existing value to the current precision (x + 0).
fn round_exact(a: F80, c: Ctl) -> (F80, u16) {
    if a.class() == Class::Zero {
        return (a, 0);
    }
    let (s, e, m) = a.unpack();
    round80(s, e, u128::from(m) << 64, c)
}

/// `a * b`.
pub fn mul(a: F80, b: F80, c: Ctl) -> (F80, u16) {
    if a.is_nan() || b.is_nan() {
        return nan2(a, b);
    }
    let sign = a.sign() != b.sign();
    let (ca, cb) = (a.class(), b.class());
    match (ca, cb) {
        (Class::Inf, Class::Zero) | (Class::Zero, Class::Inf) => return (INDEFINITE, IE),
        (Class::Inf, _) | (_, Class::Inf) => return (F80::inf(sign), 0),
        (Class::Zero, _) | (_, Class::Zero) => return (F80::zero(sign), 0),
        _ => {}
    }
    let (_, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let p = u128::from(ma) * u128::from(mb);
    let (sig, lz) = norm(p);
    round80(sign, ea + eb + 1 - lz as i32, sig, c)
}

/// `a / b`.
pub fn div(a: F80, b: F80, c: Ctl) -> (F80, u16) {
    if a.is_nan() || b.is_nan() {
        return nan2(a, b);
    }
    let sign = a.sign() != b.sign();
    match (a.class(), b.class()) {
        (Class::Inf, Class::Inf) | (Class::Zero, Class::Zero) => return (INDEFINITE, IE),
        (Class::Inf, _) => return (F80::inf(sign), 0),
        (_, Class::Inf) => return (F80::zero(sign), 0),
        (_, Class::Zero) => return (F80::inf(sign), ZE),
        (Class::Zero, _) => return (F80::zero(sign), 0),
        _ => {}
    }
    let (_, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let (mut r, d) = (u128::from(ma), u128::from(mb));
    let mut q: u128 = 0;
    for _ in 0..68 {
        q <<= 1;
        if r >= d {
            r -= d;
            q |= 1;
        }
        r <<= 1;
    }
    q = (q << 1) | u128::from(r != 0);
    let (sig, lz) = norm(q);
    // q = (ma / mb) * 2^68 (with one sticky bit below): value = q * 2^(ea - eb - 68).
    round80(sign, ea - eb - 68 + 127 - lz as i32, sig, c)
}

/// The square root.
pub fn sqrt(a: F80, c: Ctl) -> (F80, u16) {
    match a.class() {
        Class::QNaN => return (a, 0),
        Class::SNaN => return (a.quiet(), IE),
        Class::Invalid => return (INDEFINITE, IE),
        Class::Zero => return (a, 0),
        Class::Inf if !a.sign() => return (a, 0),
        _ if a.sign() => return (INDEFINITE, IE),
        _ => {}
    }
    let (_, e, m) = a.unpack();
    // value = m * 2^(e - 63); make the exponent even.
    let mut ex = e - 63;
    let mut big = u128::from(m);
    if ex & 1 != 0 {
        big <<= 1;
        ex -= 1;
    }
    let frac = 36u32;
    let bits = 128 - big.leading_zeros();
    let groups = bits.div_ceil(2) + frac;
    let (mut rem, mut root) = (0u128, 0u128);
    for i in (0..groups).rev() {
        let g = if i >= frac {
            (big >> (2 * (i - frac))) & 3
        } else {
            0
        };
        rem = (rem << 2) | g;
        let trial = (root << 2) | 1;
        root <<= 1;
        if rem >= trial {
            rem -= trial;
            root |= 1;
        }
    }
    let v = (root << 1) | u128::from(rem != 0);
    // value = v * 2^(ex/2 - frac - 1)
    let (sig, lz) = norm(v);
    round80(false, ex / 2 - frac as i32 - 1 + 127 - lz as i32, sig, c)
}

/// Compares: `None` if unordered, else the ordering of `a` and `b`.
pub fn cmp(a: F80, b: F80) -> Option<std::cmp::Ordering> {
    if a.is_nan() || b.is_nan() {
        return None;
    }
    let key = |v: F80| -> (i8, i32, u64) {
        match v.class() {
            Class::Zero => (0, 0, 0),
            Class::Inf => (if v.sign() { -2 } else { 2 }, 0, 0),
            _ => {
                let (s, e, m) = v.unpack();
                (if s { -1 } else { 1 }, e, m)
            }
        }
    };
    let (ka, kb) = (key(a), key(b));
    if ka.0 != kb.0 {
        return Some(ka.0.cmp(&kb.0));
    }
    let o = (ka.1, ka.2).cmp(&(kb.1, kb.2));
    Some(if ka.0 < 0 { o.reverse() } else { o })
}

/// Rounds to an integer value (frndint), or to a signed integer of `bits` bits when
/// `bits` is given (fist: out of range gives the integer indefinite with IE).
pub fn to_int(a: F80, rc: u8) -> Result<(bool, u128, u16), u16> {
    match a.class() {
        Class::Zero => return Ok((a.sign(), 0, 0)),
        Class::Finite => {}
        _ => return Err(IE),
    }
    let (s, e, m) = a.unpack();
    if e >= 63 {
        if e >= 127 {
            return Err(IE);
        }
        return Ok((s, u128::from(m) << (e - 63), 0));
    }
    let sh = (63 - e) as u32;
    let full = u128::from(m) << 64;
    let (kept, rem, half) = if sh + 64 >= 128 {
        (0u128, full, if sh + 64 == 128 { 1u128 << 127 } else { 0 })
    } else {
        let s2 = sh + 64;
        (full >> s2, full & ((1u128 << s2) - 1), 1u128 << (s2 - 1))
    };
    let inexact = rem != 0;
    let up = match rc & 3 {
        0 => half != 0 && (rem > half || (rem == half && kept & 1 == 1)),
        1 => s && inexact,
        2 => !s && inexact,
        _ => false,
    };
    let f = if inexact { PE } else { 0 } | if up { C1 } else { 0 };
    Ok((s, kept + u128::from(up), f))
}

/// Converts to a signed integer of `bits` bits (fist/fistp); out of range or NaN gives the
/// integer indefinite and IE.
pub fn to_signed(a: F80, bits: u32, rc: u8) -> (u64, u16) {
    let indefinite = 1u64 << (bits - 1);
    match to_int(a, rc) {
        Err(f) => (indefinite, f),
        Ok((s, mag, f)) => {
            let lim = 1u128 << (bits - 1);
            if (!s && mag >= lim) || (s && mag > lim) {
                return (indefinite, IE);
            }
            let v = if s {
                (mag as u64).wrapping_neg()
            } else {
                mag as u64
            };
            let m = if bits == 64 {
                u64::MAX
            } else {
                (1 << bits) - 1
            };
            (v & m, f)
        }
    }
}

/// frndint.
pub fn round_to_int(a: F80, c: Ctl) -> (F80, u16) {
    match a.class() {
        Class::Finite => {}
        Class::SNaN => return (a.quiet(), IE),
        Class::Invalid => return (INDEFINITE, IE),
        _ => return (a, 0),
    }
    let (_, e, _) = a.unpack();
    if e >= 63 {
        return (a, 0);
    }
    match to_int(a, c.rc) {
        Ok((s, mag, f)) => {
            if mag == 0 {
                return (F80::zero(s), f);
            }
            let v = F80::from_i64(mag as i64);
            (if s { v.neg() } else { v }, f)
        }
        Err(f) => (INDEFINITE, f),
    }
}

/// Converts to f64 bits with rounding control `rc`.
pub fn to_f64(a: F80, rc: u8) -> (u64, u16) {
    to_bin(a, rc, 53, 11)
}

/// Converts to f32 bits with rounding control `rc`.
pub fn to_f32(a: F80, rc: u8) -> (u32, u16) {
    let (v, f) = to_bin(a, rc, 24, 8);
    (v as u32, f)
}

fn to_bin(a: F80, rc: u8, p: u32, ebits: u32) -> (u64, u16) {
    let frac_bits = p - 1;
    let bias = (1i32 << (ebits - 1)) - 1;
    let sign_bit = u64::from(a.sign()) << (frac_bits + ebits);
    let exp_all = (1u64 << ebits) - 1;
    match a.class() {
        Class::Zero => return (sign_bit, 0),
        Class::Inf => return (sign_bit | (exp_all << frac_bits), 0),
        Class::QNaN | Class::SNaN => {
            let payload = (a.m << 1) >> (64 - frac_bits);
            let q = 1u64 << (frac_bits - 1);
            let f = if a.class() == Class::SNaN { IE } else { 0 };
            return (sign_bit | (exp_all << frac_bits) | payload | q, f);
        }
        Class::Invalid => {
            return (
                (1 << (frac_bits + ebits)) | (exp_all << frac_bits) | (1 << (frac_bits - 1)),
                IE,
            )
        }
        Class::Finite => {}
    }
    let (s, e, m) = a.unpack();
    let r = round(s, e, u128::from(m) << 64, p, 1 - bias, bias, rc);
    let bits = match r.kind {
        0 => 0,
        2 => exp_all << frac_bits,
        3 => ((exp_all - 1) << frac_bits) | ((1u64 << frac_bits) - 1),
        _ => {
            if r.m >> frac_bits != 0 {
                (((r.e + bias) as u64) << frac_bits) | (r.m & ((1 << frac_bits) - 1))
            } else {
                r.m
            }
        }
    };
    (sign_bit | bits, r.flags)
}

/// fprem: the partial remainder of `a / b` with the quotient truncated; returns the
/// remainder, the low three quotient bits and whether the reduction is incomplete (C2).
/// The remainder is exact; `c` matters for its unmasked underflow response only.
pub fn prem(a: F80, b: F80, c: Ctl) -> (F80, u8, bool, u16) {
    prem_impl(a, b, false, c)
}

/// fprem1: as [`prem`] but with the quotient rounded to nearest (IEEE remainder).
pub fn prem1(a: F80, b: F80, c: Ctl) -> (F80, u8, bool, u16) {
    prem_impl(a, b, true, c)
}

fn prem_impl(a: F80, b: F80, nearest: bool, c: Ctl) -> (F80, u8, bool, u16) {
    let c = Ctl { prec: 64, ..c };
    if a.is_nan() || b.is_nan() {
        let (v, f) = nan2(a, b);
        return (v, 0, false, f);
    }
    // The remainder is `a` itself: tiny if `a` is denormal.
    let keep_a = || {
        let (v, f) = if c.trap_under && a.exp() == 0 {
            round_exact(a, c)
        } else {
            (a, 0)
        };
        (v, 0, false, f)
    };
    match (a.class(), b.class()) {
        (Class::Inf, _) | (_, Class::Zero) => return (INDEFINITE, 0, false, IE),
        (Class::Zero, _) | (_, Class::Inf) => return keep_a(),
        _ => {}
    }
    let (sa, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let d = ea - eb;
    if d < 0 {
        // |a| < |b|: for fprem1 the quotient may still round to 1 (when |a| > |b| / 2).
        if nearest && d == -1 && ma > mb {
            let r = u128::from(mb) * 2 - u128::from(ma);
            let (sig, lz) = norm(r);
            let (v, f) = round80(!sa, eb + 63 - lz as i32, sig, c);
            return (v, 1, false, f);
        }
        return keep_a();
    }
    // Reduce at most 63 bits of exponent difference per step, as the hardware does.
    let (steps, partial) = if d >= 64 {
        ((d & 31) + 32, true)
    } else {
        (d, false)
    };
    let mut r = u128::from(ma);
    let m = u128::from(mb);
    let mut q: u64 = 0;
    for i in 0..=steps {
        q <<= 1;
        if r >= m {
            r -= m;
            q |= 1;
        }
        if i < steps {
            r <<= 1;
        }
    }
    // remainder = r * 2^(ea - steps - 63)
    let mut sign = sa;
    if nearest && !partial && (2 * r > m || (2 * r == m && q & 1 == 1)) {
        r = m - r;
        sign = !sa;
        q += 1;
    }
    if r == 0 {
        return (F80::zero(sa), (q & 7) as u8, partial, 0);
    }
    let (sig, lz) = norm(r);
    let e = ea - steps + 127 - 63 - lz as i32;
    let (v, f) = round80(sign, e, sig, c);
    (v, if partial { 0 } else { (q & 7) as u8 }, partial, f)
}

/// fxtract: (exponent, significand) of `a`; the exponent of zero is -infinity (ZE).
pub fn xtract(a: F80) -> (F80, F80, u16) {
    match a.class() {
        Class::Zero => (F80::inf(true), a, ZE),
        Class::Inf => (F80::inf(false), a, 0),
        Class::QNaN => (a, a, 0),
        Class::SNaN => (a.quiet(), a.quiet(), IE),
        Class::Invalid => (INDEFINITE, INDEFINITE, IE),
        Class::Finite => {
            let (s, e, m) = a.unpack();
            (F80::from_i64(i64::from(e)), F80::new(s, BIAS as u16, m), 0)
        }
    }
}

/// fscale: `a * 2^trunc(b)`.
pub fn scale(a: F80, b: F80, c: Ctl) -> (F80, u16) {
    if a.is_nan() || b.is_nan() {
        return nan2(a, b);
    }
    match (a.class(), b.class()) {
        (Class::Zero, Class::Inf) if !b.sign() => return (INDEFINITE, IE),
        (Class::Inf, Class::Inf) if b.sign() => return (INDEFINITE, IE),
        (Class::Zero | Class::Inf, _) => return (a, 0),
        (_, Class::Inf) => {
            return if b.sign() {
                (F80::zero(a.sign()), 0)
            } else {
                (F80::inf(a.sign()), 0)
            }
        }
        _ => {}
    }
    let n = match to_int(b, 3) {
        Ok((s, mag, _)) => {
            let m = mag.min(1 << 20) as i32;
            if s {
                -m
            } else {
                m
            }
        }
        // |b| >= 2^127: saturate (the result over- or underflows either way).
        Err(_) if b.sign() => -(1 << 20),
        Err(_) => 1 << 20,
    };
    let (s, e, m) = a.unpack();
    round80(s, e + n, u128::from(m) << 64, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: Ctl = Ctl::x87(0, 64);

    fn f(v: f64) -> F80 {
        F80::from_f64(v.to_bits()).0
    }
    fn g(v: F80) -> f64 {
        f64::from_bits(to_f64(v, 0).0)
    }

    #[test]
    fn arithmetic_matches_f64_where_exact() {
        assert_eq!(g(add(f(1.5), f(2.25), false, X).0), 3.75);
        assert_eq!(g(add(f(1.5), f(2.25), true, X).0), -0.75);
        assert_eq!(g(mul(f(-3.0), f(0.5), X).0), -1.5);
        assert_eq!(g(div(f(1.0), f(4.0), X).0), 0.25);
        assert_eq!(g(sqrt(f(2.25), X).0), 1.5);
        assert_eq!(g(div(f(1.0), f(3.0), X).0), 1.0 / 3.0);
        // 1/3 in extended precision: 0xaaaa...ab significand.
        let third = div(f(1.0), f(3.0), X).0;
        assert_eq!(third.m, 0xaaaa_aaaa_aaaa_aaab);
        assert_eq!(third.exp(), 16383 - 2);
        // Rounding control: 1/3 toward zero ends in ...aa.
        assert_eq!(
            div(f(1.0), f(3.0), Ctl::x87(3, 64)).0.m,
            0xaaaa_aaaa_aaaa_aaaa
        );
        // Precision control 53 bits: rounds like a double.
        assert_eq!(g(div(f(1.0), f(3.0), Ctl::x87(0, 53)).0), 1.0 / 3.0);
        assert_eq!(div(f(1.0), f(0.0), X), (F80::inf(false), ZE));
        assert_eq!(
            add(F80::inf(false), F80::inf(true), false, X),
            (INDEFINITE, IE)
        );
        assert_eq!(to_signed(f(-2.5), 32, 0), ((-2i32) as u32 as u64, PE));
        assert_eq!(to_signed(f(3e10), 32, 0), (0x8000_0000, IE));
        assert_eq!(to_signed(f(-7.9), 64, 3), ((-7i64) as u64, PE));
        assert_eq!(g(round_to_int(f(2.5), X).0), 2.0);
        assert_eq!(g(round_to_int(f(-2.5), Ctl::x87(1, 64)).0), -3.0);
        let (r, q, partial, _) = prem(f(7.0), f(2.0), X);
        assert_eq!((g(r), q, partial), (1.0, 3, false));
        assert_eq!(g(scale(f(3.0), f(4.7), X).0), 48.0);
        assert_eq!(cmp(f(-1.0), f(2.0)), Some(std::cmp::Ordering::Less));
        assert_eq!(cmp(f(0.0), f(-0.0)), Some(std::cmp::Ordering::Equal));
        // Denormal round trip.
        let d = f64::from_bits(1);
        assert_eq!(to_f64(f(d), 0).0, 1);
        assert_eq!(to_f32(f(1.0 / 3.0), 0).0, (1.0f32 / 3.0).to_bits());
    }

    #[test]
    fn unmasked_overflow_and_underflow_wrap_the_exponent() {
        let c = Ctl {
            trap_over: true,
            trap_under: true,
            ..X
        };
        // 2^-16382 / 2 is tiny (exact): kept normalised, biased exponent 0 + 24576.
        let tiny = F80::new(false, 1, 1 << 63);
        assert_eq!(mul(tiny, f(0.5), c), (F80::new(false, 24576, 1 << 63), UE));
        // Masked: the denormal, no flag (exact).
        assert_eq!(mul(tiny, f(0.5), X), (F80::new(false, 0, 1 << 62), 0));
        // 2^16383 * 2 overflows: biased exponent 32767 - 24576.
        let big = F80::new(true, 0x7ffe, 1 << 63);
        assert_eq!(
            mul(big, f(2.0), c),
            (F80::new(true, 32767 - 24576, 1 << 63), OE)
        );
        // Beyond even the wrapped range (fscale): infinity, rounded up.
        assert_eq!(scale(big, f(1e6), c), (F80::inf(true), OE | PE | C1));
    }
}
