//! A 128-bit-significand binary float for evaluating the x87 transcendental functions.
//!
//! The x87 returns its transcendental results with a 64-bit significand, within one ulp and
//! almost always correctly rounded. Evaluating them in 128-bit precision (errors of a few
//! units of 2^-127) and then rounding once gives the correctly rounded result except when the
//! exact value lies within ~2^-60 ulp of a rounding boundary.
//!
//! Values are `m * 2^(e - 127)` with `m` normalised (bit 127 set) or zero. No infinities or
//! NaNs: callers handle special operands before calling in.

use crate::f80::{self, Ctl, F80};

/// A finite value with a 128-bit significand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fx {
    /// Sign.
    pub neg: bool,
    /// Exponent of bit 127 of `m`.
    pub e: i32,
    /// Significand, normalised (or zero).
    pub m: u128,
}

/// (h, l) >> d as a 256-bit number, with a sticky bit for what is shifted out.
fn shr256(h: u128, l: u128, d: u32) -> (u128, u128) {
    match d {
        0 => (h, l),
        1..=127 => {
            let lost = l << (128 - d) != 0;
            (h >> d, (l >> d) | (h << (128 - d)) | u128::from(lost))
        }
        128 => (0, h | u128::from(l != 0)),
        129..=255 => {
            let s = d - 128;
            let lost = l != 0 || h << (128 - s) != 0;
            (0, (h >> s) | u128::from(lost))
        }
        _ => (0, u128::from(h != 0 || l != 0)),
    }
}

/// ln 2.
pub(crate) const LN2: Fx = Fx {
    neg: false,
    e: -1,
    m: 0xb172_17f7_d1cf_79ab_c9e3_b398_03f2_f6af,
};
/// π.
pub(crate) const PI: Fx = Fx {
    neg: false,
    e: 1,
    m: 0xc90f_daa2_2168_c234_c4c6_628b_80dc_1cd1,
};
/// log2(e) = 1 / ln 2.
pub(crate) const LOG2E: Fx = Fx {
    neg: false,
    e: 0,
    m: 0xb8aa_3b29_5c17_f0bb_be87_fed0_691d_3e89,
};
/// 1.
pub(crate) const ONE: Fx = Fx {
    neg: false,
    e: 0,
    m: 1 << 127,
};
/// 0.
pub(crate) const ZERO: Fx = Fx {
    neg: false,
    e: 0,
    m: 0,
};

/// The full 256-bit product of two u128s as (high, low).
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & u128::from(u64::MAX));
    let (b1, b0) = (b >> 64, b & u128::from(u64::MAX));
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u128::from(u64::MAX)) + (p10 & u128::from(u64::MAX));
    let lo = (p00 & u128::from(u64::MAX)) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

impl Fx {
    /// Normalises `m * 2^(e - 127)` (any `m`).
    pub(crate) fn new(neg: bool, e: i32, m: u128) -> Fx {
        if m == 0 {
            return Fx { neg, e: 0, m: 0 };
        }
        let lz = m.leading_zeros();
        Fx {
            neg,
            e: e - lz as i32,
            m: m << lz,
        }
    }

    /// An exact integer.
    pub(crate) fn from_u128(v: u128) -> Fx {
        Fx::new(false, 127, v)
    }

    /// An exact signed integer.
    pub(crate) fn from_i128(v: i128) -> Fx {
        Fx::new(v < 0, 127, v.unsigned_abs())
    }

    /// A finite extended value (exact).
    pub(crate) fn from_f80(v: F80) -> Fx {
        let exp = i32::from(v.exp());
        let e = if exp == 0 { 1 } else { exp } - 16383;
        Fx::new(v.sign(), e, u128::from(v.m) << 64)
    }

    /// An f64 (exact); used for initial approximations.
    fn from_f64(x: f64) -> Fx {
        let (v, _) = F80::from_f64(x.to_bits());
        Fx::from_f80(v)
    }

    /// Nearest f64 (for initial approximations of iterations).
    fn to_f64(self) -> f64 {
        if self.m == 0 {
            return 0.0;
        }
        let e = self.e.clamp(-1000, 1000);
        let v = (self.m >> 64) as u64 as f64 * 2f64.powi(e - 63);
        if self.neg {
            -v
        } else {
            v
        }
    }

    /// True for zero.
    pub(crate) fn is_zero(self) -> bool {
        self.m == 0
    }

    /// The value with the opposite sign.
    pub(crate) fn neg(self) -> Fx {
        Fx {
            neg: !self.neg,
            ..self
        }
    }

    /// The absolute value.
    pub(crate) fn abs(self) -> Fx {
        Fx { neg: false, ..self }
    }

    /// Multiplies by 2^k (exact).
    pub(crate) fn ldexp(self, k: i32) -> Fx {
        if self.m == 0 {
            return self;
        }
        Fx {
            e: self.e + k,
            ..self
        }
    }

    /// `self * o`, rounded to nearest.
    pub(crate) fn mul(self, o: Fx) -> Fx {
        if self.m == 0 || o.m == 0 {
            return ZERO;
        }
        let (hi, lo) = mul_wide(self.m, o.m);
        let neg = self.neg != o.neg;
        // hi >= 2^126.
        let (m, rest, e) = if hi >> 127 != 0 {
            (hi, lo, self.e + o.e + 1)
        } else {
            ((hi << 1) | (lo >> 127), lo << 1, self.e + o.e)
        };
        let up = rest >> 127 != 0;
        let (m, e) = match m.checked_add(u128::from(up)) {
            Some(m) => (m, e),
            None => (1 << 127, e + 1),
        };
        Fx { neg, e, m }
    }

    /// `self + o`, rounded to nearest.
    pub(crate) fn add(self, o: Fx) -> Fx {
        if self.m == 0 {
            return o;
        }
        if o.m == 0 {
            return self;
        }
        let (a, b) = if (self.e, self.m) >= (o.e, o.m) {
            (self, o)
        } else {
            (o, self)
        };
        let d = (a.e - b.e) as u32;
        // 256-bit fixed point: N = m << 127 (one bit of headroom), value = N * 2^(a.e - 254).
        let (ah, al) = (a.m >> 1, a.m << 127);
        let (bh, bl) = shr256(b.m >> 1, b.m << 127, d);
        let (h, l) = if a.neg == b.neg {
            let (l, c) = al.overflowing_add(bl);
            (ah + bh + u128::from(c), l)
        } else {
            let (l, c) = al.overflowing_sub(bl);
            (ah - bh - u128::from(c), l)
        };
        if h == 0 && l == 0 {
            return ZERO;
        }
        // Top bit position p of the 256-bit result.
        let p = if h != 0 {
            255 - h.leading_zeros()
        } else {
            127 - l.leading_zeros()
        };
        // The 128 bits from p down, and the bits below them.
        let (m, rest) = match p {
            128.. if p == 255 => (h, l),
            127 => (l, 0),
            128.. => {
                let sh = p - 127;
                ((h << (128 - sh)) | (l >> sh), l << (128 - sh))
            }
            _ => (l << (127 - p), 0),
        };
        let e = p as i32 + a.e - 254;
        let up = rest >> 127 != 0;
        match m.checked_add(u128::from(up)) {
            Some(m) => Fx { neg: a.neg, e, m },
            None => Fx {
                neg: a.neg,
                e: e + 1,
                m: 1 << 127,
            },
        }
    }

    /// `self - o`.
    pub(crate) fn sub(self, o: Fx) -> Fx {
        self.add(o.neg())
    }

    /// `self / o` (`o` nonzero), truncated.
    pub(crate) fn div(self, o: Fx) -> Fx {
        if self.m == 0 {
            return ZERO;
        }
        let neg = self.neg != o.neg;
        let (mut r, d) = (self.m, o.m);
        let mut q: u128;
        let e;
        let n;
        if r >= d {
            r -= d;
            q = 1;
            e = self.e - o.e;
            n = 127;
        } else {
            q = 0;
            e = self.e - o.e - 1;
            n = 128;
        }
        for _ in 0..n {
            let carry = r >> 127 != 0;
            r <<= 1;
            q <<= 1;
            if carry || r >= d {
                r = r.wrapping_sub(d);
                q |= 1;
            }
        }
        Fx { neg, e, m: q }
    }

    /// `self / n` for a small positive integer `n`.
    pub(crate) fn div_small(self, n: u64) -> Fx {
        if self.m == 0 {
            return self;
        }
        let n = u128::from(n);
        let q = self.m / n;
        let r = self.m % n;
        let lz = q.leading_zeros();
        // Extend the quotient by lz more bits from the remainder (r < n < 2^64, lz < 64).
        let extra = (r << lz) / n;
        Fx::new(self.neg, self.e - lz as i32, (q << lz) | extra)
    }

    /// The square root (`self` >= 0).
    pub(crate) fn sqrt(self) -> Fx {
        if self.m == 0 {
            return ZERO;
        }
        // y ~ 1/sqrt(x) by Newton's iteration from an f64 estimate, then x*y corrected once.
        let (x, k) = if self.e % 2 == 0 {
            (Fx { e: 0, ..self }, self.e / 2)
        } else {
            (Fx { e: 1, ..self }, (self.e - 1) / 2)
        };
        let mut y = Fx::from_f64(1.0 / x.to_f64().sqrt());
        let three_halves = Fx::from_f64(1.5);
        for _ in 0..3 {
            let t = x.mul(y).mul(y).ldexp(-1);
            y = y.mul(three_halves.sub(t));
        }
        let s = x.mul(y);
        let corr = x.sub(s.mul(s)).mul(y).ldexp(-1);
        s.add(corr).ldexp(k)
    }

    /// Rounds to an extended value under `c`, known to be inexact: PE is always reported
    /// (the 128-bit approximation may happen to end in zeros).
    pub(crate) fn to_f80_inexact(self, c: Ctl) -> (F80, u16) {
        if self.m == 0 {
            return (F80::zero(self.neg), f80::exc::PE);
        }
        // A sticky bit below the approximation's last bit marks the value inexact.
        let (v, f) = f80::round80(self.neg, self.e, self.m | 1, c);
        (v, f | f80::exc::PE)
    }
}

// ---- elementary functions ----

/// ln(1 + x) for x > -1, accurate for small |x| (x is given exactly).
pub(crate) fn ln1p(x: Fx) -> Fx {
    // 1 + x = 2^k * m with m in [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh((m - 1) / (m + 1)).
    let y = ONE.add(x);
    let (k, s) = if y.e == 0 && y.m < SQRT_HALF_M2 || y.e == -1 && y.m >= SQRT_HALF_M {
        // 1 + x is near 1: s = x / (2 + x) keeps the relative precision of x.
        (0, x.div(ONE.ldexp(1).add(x)))
    } else {
        let mut k = y.e;
        let mut m = Fx { e: 0, ..y };
        if m.m >= SQRT_HALF_M2 {
            // m in [sqrt 2, 2): halve it.
            m = m.ldexp(-1);
            k += 1;
        }
        (k, m.sub(ONE).div(m.add(ONE)))
    };
    let at = atanh_series(s).ldexp(1);
    LN2.mul(Fx::from_i128(i128::from(k))).add(at)
}

/// The significand of sqrt(2) at exponent 0 (1.414..): at or above it, m is halved.
const SQRT_HALF_M2: u128 = 0xb504_f333_f9de_6484_597d_89b3_754a_be9f;
/// The significand of sqrt(1/2) at exponent -1 (0.7071..).
const SQRT_HALF_M: u128 = SQRT_HALF_M2;

/// Moves a truncated series sum by one unit of its last place toward the first neglected
/// term, so that an approximation that happens to be exactly representable (the sum of a
/// series whose later terms vanish below 2^-128, e.g. sin x = x - ... for tiny x) rounds in
/// the right direction under directed rounding.
fn nudge(sum: Fx, term: Fx) -> Fx {
    if term.is_zero() || sum.is_zero() {
        return sum;
    }
    sum.add(Fx {
        neg: term.neg,
        e: sum.e - 127,
        m: 1 << 127,
    })
}

/// atanh(s) = s + s^3/3 + s^5/5 + ... for |s| <= 0.172.
fn atanh_series(s: Fx) -> Fx {
    let s2 = s.mul(s);
    let mut p = s;
    let mut sum = s;
    let mut k = 1u64;
    loop {
        p = p.mul(s2);
        k += 2;
        let t = p.div_small(k);
        if t.is_zero() || t.e < sum.e - 126 {
            sum = nudge(sum, t);
            break;
        }
        sum = sum.add(t);
    }
    sum
}

/// log2(x) for x > 0 (not a power of two, or the result is exact anyway).
pub(crate) fn log2(x: Fx) -> Fx {
    // x = 2^k * m, m in [sqrt(1/2), sqrt(2)).
    let mut k = x.e;
    let mut m = Fx { e: 0, ..x };
    if m.m >= SQRT_HALF_M2 {
        m = m.ldexp(-1);
        k += 1;
    }
    let s = m.sub(ONE).div(m.add(ONE));
    let ln = atanh_series(s).ldexp(1);
    Fx::from_i128(i128::from(k)).add(ln.mul(LOG2E))
}

/// e^t - 1 for |t| <= 1, with full relative precision near 0.
pub(crate) fn expm1(t: Fx) -> Fx {
    // Halve the argument 8 times, sum the Taylor series, then double back with
    // expm1(2u) = expm1(u) * (expm1(u) + 2).
    const HALVINGS: i32 = 8;
    let u = t.ldexp(-HALVINGS);
    let mut term = u;
    let mut sum = u;
    let mut n = 1u64;
    loop {
        n += 1;
        term = term.mul(u).div_small(n);
        if term.is_zero() || term.e < sum.e - 126 {
            sum = nudge(sum, term);
            break;
        }
        sum = sum.add(term);
    }
    let two = ONE.ldexp(1);
    for _ in 0..HALVINGS {
        sum = sum.mul(sum.add(two));
    }
    sum
}

/// sin(r) and cos(r) for |r| <= pi/4 (Taylor series).
pub(crate) fn sin_cos(r: Fx) -> (Fx, Fx) {
    let r2 = r.mul(r);
    let mut s = r;
    let mut term = r;
    let mut n = 1u64;
    loop {
        term = term.mul(r2).div_small((n + 1) * (n + 2)).neg();
        n += 2;
        if term.is_zero() || term.e < s.e - 126 {
            s = nudge(s, term);
            break;
        }
        s = s.add(term);
    }
    let mut c = ONE;
    let mut term = ONE;
    let mut n = 0u64;
    loop {
        term = term.mul(r2).div_small((n + 1) * (n + 2)).neg();
        n += 2;
        if term.is_zero() || term.e < c.e - 126 {
            c = nudge(c, term);
            break;
        }
        c = c.add(term);
    }
    (s, c)
}

/// atan(z) for any finite z.
pub(crate) fn atan(z: Fx) -> Fx {
    if z.is_zero() {
        return z;
    }
    let a = z.abs();
    let (a, flip) = if a.e >= 0 && a != ONE {
        (ONE.div(a), true)
    } else {
        (a, false)
    };
    // Three halvings: atan(a) = 2 atan(a / (1 + sqrt(1 + a^2))); |a| <= tan(pi/32).
    let mut x = a;
    for _ in 0..3 {
        let d = ONE.add(ONE.add(x.mul(x)).sqrt());
        x = x.div(d);
    }
    let x2 = x.mul(x);
    let mut p = x;
    let mut sum = x;
    let mut k = 1u64;
    loop {
        p = p.mul(x2).neg();
        k += 2;
        let t = p.div_small(k);
        if t.is_zero() || t.e < sum.e - 126 {
            sum = nudge(sum, t);
            break;
        }
        sum = sum.add(t);
    }
    let mut r = sum.ldexp(3);
    if flip {
        r = PI.ldexp(-1).sub(r);
    }
    if z.neg {
        r.neg()
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> Fx {
        Fx::from_f64(x)
    }
    fn close(a: Fx, b: f64) {
        let x = a.to_f64();
        assert!(
            (x - b).abs() <= b.abs() * 4e-16 + 1e-300,
            "{x:e} != {b:e} ({a:?})"
        );
    }

    #[test]
    fn arithmetic() {
        close(f(1.5).mul(f(-2.25)), -3.375);
        close(f(1.0).div(f(3.0)), 1.0 / 3.0);
        close(f(2.0).sqrt(), 2f64.sqrt());
        close(f(1e-10).sqrt(), 1e-5);
        close(f(1.0).sub(f(1.0 - f64::EPSILON)), f64::EPSILON);
        close(f(7.0).div_small(3), 7.0 / 3.0);
        assert_eq!(f(0.75).add(f(0.25)), ONE);
        let third = ONE.div(f(3.0));
        assert_eq!(third.m, 0xaaaa_aaaa_aaaa_aaaa_aaaa_aaaa_aaaa_aaaa);
        // The square root of 2 to 128 bits.
        let s = f(2.0).sqrt();
        assert!(s.m.abs_diff(SQRT_HALF_M2) <= 2, "{:x}", s.m);
    }

    #[test]
    fn functions() {
        close(ln1p(f(1.0)), 2f64.ln());
        close(ln1p(f(-0.25)), 0.75f64.ln());
        close(ln1p(f(1e-20)), 1e-20);
        close(log2(f(10.0)), 10f64.log2());
        close(log2(f(0.3)), 0.3f64.log2());
        close(expm1(f(0.5)), 0.5f64.exp_m1());
        close(expm1(f(-0.6)), (-0.6f64).exp_m1());
        let (s, c) = sin_cos(f(0.7));
        close(s, 0.7f64.sin());
        close(c, 0.7f64.cos());
        close(atan(f(0.3)), 0.3f64.atan());
        close(atan(f(-5.0)), (-5f64).atan());
        close(atan(f(1.0)), std::f64::consts::FRAC_PI_4);
    }
}
