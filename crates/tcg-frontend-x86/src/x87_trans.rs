//! The x87 transcendental instructions on [`F80`] values: special operands as the hardware
//! treats them, finite ones evaluated in 128-bit precision ([`crate::fx`]) and rounded once
//! to 64 bits under the rounding control (precision control does not apply to them).
//!
//! Like the hardware, `fsin`/`fcos`/`fsincos`/`fptan` reduce their argument modulo an
//! approximation of π with 66 significant bits (so results for large arguments or near
//! multiples of π/2 follow that π, not the true one); the reduction itself is exact. The
//! hardware's own results are within one ulp and usually, but not always, correctly rounded:
//! where the exact value lies within a few hundredths of an ulp of a rounding boundary it may
//! round the other way, and this implementation (always correctly rounded) then differs by
//! one ulp.

use crate::f80::{self, exc, Class, Ctl, F80};
use crate::fx::{self, Fx, LN2, LOG2E, ONE, PI};

/// π rounded to 66 significant bits, times 2^64 (the x87's internal π for argument
/// reduction).
const PI66: u128 = 0x3_243f_6a88_85a3_08d3;

/// A unary result: the value and exception flags, or `None` when the operand is out of range
/// (|x| >= 2^63: C2 is set and the stack is unchanged).
pub(crate) type Unary = Option<(F80, u16)>;

/// DE for a denormal operand.
fn denormal(v: F80) -> u16 {
    if v.class() == Class::Finite && v.exp() == 0 {
        exc::DE
    } else {
        0
    }
}

/// The result for a NaN or unsupported operand of a unary operation.
fn nan1(v: F80) -> (F80, u16) {
    match v.class() {
        Class::SNaN => (v.quiet(), exc::IE),
        Class::QNaN => (v, 0),
        _ => (f80::INDEFINITE, exc::IE),
    }
}

/// `x = k * (pi66 / 2) + r` with |r| <= pi66 / 4: (k mod 4, r), for finite |x| < 2^63.
fn reduce(x: F80) -> (u32, Fx) {
    let (_, e, m) = x.abs().unpack();
    if e < -2 {
        return (0, Fx::from_f80(x.abs()));
    }
    // |x| * 2^65 as an integer: m << (e + 2), below 2^128 since e <= 62.
    let big = u128::from(m) << (e + 2) as u32;
    let mut k = big / PI66;
    if big % PI66 > PI66 / 2 {
        k += 1;
    }
    // |r| < pi66 / 2 * 2^65 < 2^66: the wrapping difference is exact.
    let r = big.wrapping_sub(k.wrapping_mul(PI66)) as i128;
    ((k & 3) as u32, Fx::from_i128(r).ldexp(-65))
}

fn in_range(x: F80) -> bool {
    x.exp() < 16383 + 63
}

/// `fsin` (`cos` false) or `fcos` (`cos` true).
pub(crate) fn sin_or_cos(x: F80, cos: bool, ctl: Ctl) -> Unary {
    match x.class() {
        Class::Zero => {
            return Some(if cos {
                (F80::new(false, 16383, 1 << 63), 0)
            } else {
                (x, 0)
            })
        }
        Class::Inf => return Some((f80::INDEFINITE, exc::IE)),
        Class::Finite => {}
        _ => return Some(nan1(x)),
    }
    if !in_range(x) {
        return None;
    }
    let (k, r) = reduce(x);
    let (s, c) = fx::sin_cos(r);
    let q = if cos { (k + 1) & 3 } else { k };
    let mut v = match q {
        0 => s,
        1 => c,
        2 => s.neg(),
        _ => c.neg(),
    };
    if x.sign() && !cos {
        v = v.neg();
    }
    let (r, f) = v.to_f80_inexact(ctl);
    Some((r, f | denormal(x)))
}

/// `fptan`: tan(x) (the caller pushes 1.0).
pub(crate) fn tan(x: F80, ctl: Ctl) -> Unary {
    match x.class() {
        Class::Zero => return Some((x, 0)),
        Class::Inf => return Some((f80::INDEFINITE, exc::IE)),
        Class::Finite => {}
        _ => return Some(nan1(x)),
    }
    if !in_range(x) {
        return None;
    }
    let (k, r) = reduce(x);
    let (s, c) = fx::sin_cos(r);
    let mut v = if k & 1 == 0 && r.e < -70 {
        // tan r = r + r^3/3 + ...: just above |r| (a quotient of the rounded series would
        // lose the direction).
        r.add(Fx::new(r.neg, r.e - 127, 1))
    } else if k & 1 == 0 {
        s.div(c)
    } else {
        c.div(s).neg()
    };
    if x.sign() {
        v = v.neg();
    }
    let (r, f) = v.to_f80_inexact(ctl);
    Some((r, f | denormal(x)))
}

/// `f2xm1`: 2^x - 1 for -1 <= x <= 1.
pub(crate) fn f2xm1(x: F80, ctl: Ctl) -> (F80, u16) {
    match x.class() {
        Class::Zero => return (x, 0),
        Class::Inf if x.sign() => return (F80::new(true, 16383, 1 << 63), 0),
        Class::Inf => return (x, 0),
        Class::Finite => {}
        _ => return nan1(x),
    }
    let de = denormal(x);
    let fx = Fx::from_f80(x);
    if fx == ONE {
        // The hardware's 2^1 - 1 is just below 1 (and inexact).
        return ONE.sub(Fx::new(false, 0, 1)).to_f80_inexact(ctl);
    }
    if fx == ONE.neg() {
        // Exactly -0.5, but reported inexact.
        return (F80::new(true, 16382, 1 << 63), exc::PE);
    }
    if fx.e < 0 {
        let (r, f) = fx::expm1(fx.mul(LN2)).to_f80_inexact(ctl);
        return (r, f | de);
    }
    // Outside [-1, 1] (undefined in the manuals) the operand is left unchanged and reported
    // inexact, as AMD processors do.
    (x, exc::PE | de)
}

/// `y * log2(w)` for w = 2^k exactly.
fn times_int(y: F80, k: i64, ctl: Ctl) -> (F80, u16) {
    f80::mul(y, F80::from_i64(k), ctl)
}

/// The result of `y * log2(x)` where log2(x) is -inf (x = 0): ZE (not DE) for finite y.
fn times_log_zero(y: F80) -> (F80, u16) {
    match y.class() {
        Class::Zero => (f80::INDEFINITE, exc::IE),
        Class::Inf => (F80::inf(!y.sign()), 0),
        // A zero divide reports no denormal operand.
        _ => (F80::inf(!y.sign()), exc::ZE),
    }
}

/// `fyl2x`: y * log2(x).
pub(crate) fn yl2x(x: F80, y: F80, ctl: Ctl) -> (F80, u16) {
    if x.is_nan() || y.is_nan() {
        return f80::nan2(x, y);
    }
    let de = denormal(x) | denormal(y);
    if x.sign() && x.class() != Class::Zero {
        return (f80::INDEFINITE, exc::IE);
    }
    match x.class() {
        Class::Zero => return times_log_zero(y),
        Class::Inf => {
            return match y.class() {
                Class::Zero => (f80::INDEFINITE, exc::IE),
                _ => (F80::inf(y.sign()), de),
            }
        }
        _ => {}
    }
    let fx = Fx::from_f80(x);
    if fx.m == 1 << 127 {
        // x = 2^k: the value y * k is exact, but the hardware reports it inexact (and
        // tiny results as underflows) unless k or y is zero.
        let (r, mut f) = times_int(y, i64::from(fx.e), ctl);
        if fx.e != 0 && y.class() == Class::Finite {
            f |= exc::PE;
            if r.exp() == 0 {
                f |= exc::UE;
            }
        }
        return (r, f | de);
    }
    let below_one = fx.e < 0;
    match y.class() {
        Class::Zero => return (F80::zero(y.sign() != below_one), de),
        Class::Inf => return (F80::inf(y.sign() != below_one), de),
        _ => {}
    }
    let v = Fx::from_f80(y).mul(fx::log2(fx));
    let (r, f) = v.to_f80_inexact(ctl);
    (r, f | de)
}

/// `fyl2xp1`: y * log2(x + 1) (defined by the hardware for |x| < 1 - sqrt(2)/2).
pub(crate) fn yl2xp1(x: F80, y: F80, ctl: Ctl) -> (F80, u16) {
    if x.is_nan() || y.is_nan() {
        return f80::nan2(x, y);
    }
    let de = denormal(x) | denormal(y);
    match x.class() {
        Class::Zero => {
            return match y.class() {
                Class::Inf => (f80::INDEFINITE, exc::IE),
                _ => (F80::zero(x.sign() != y.sign()), de),
            }
        }
        Class::Inf if x.sign() => return (f80::INDEFINITE, exc::IE),
        Class::Inf => {
            return match y.class() {
                Class::Zero => (f80::INDEFINITE, exc::IE),
                _ => (F80::inf(y.sign()), de),
            }
        }
        _ => {}
    }
    let fx = Fx::from_f80(x);
    let w = ONE.add(fx);
    if y.class() == Class::Zero && (w.neg || w.is_zero()) {
        return (F80::zero(y.sign() != x.sign()), de);
    }
    if w.neg || w.is_zero() {
        // x <= -1 (undefined in the manuals): AMD processors return x, inexact, unless y is
        // infinite.
        if y.class() == Class::Inf {
            return (F80::inf(y.sign() != x.sign()), de);
        }
        return (x, exc::PE | de);
    }
    match y.class() {
        Class::Zero => return (F80::zero(y.sign() != x.sign()), de),
        Class::Inf => return (F80::inf(y.sign() != x.sign()), de),
        _ => {}
    }
    if w.m == 1 << 127 && fx.e > -64 {
        // 1 + x is exactly a power of two (only outside the documented domain): the value
        // is exact, but the hardware reports it inexact.
        let (r, mut f) = times_int(y, i64::from(w.e), ctl);
        f |= exc::PE;
        if r.exp() == 0 {
            f |= exc::UE;
        }
        return (r, f | de);
    }
    let v = Fx::from_f80(y).mul(fx::ln1p(fx).mul(LOG2E));
    let (r, f) = v.to_f80_inexact(ctl);
    (r, f | de)
}

/// `fpatan`: atan2(y, x), the angle of (x, y).
pub(crate) fn patan(x: F80, y: F80, ctl: Ctl) -> (F80, u16) {
    if x.is_nan() || y.is_nan() {
        return f80::nan2(x, y);
    }
    let de = denormal(x) | denormal(y);
    let signed = |v: Fx| if y.sign() { v.neg() } else { v };
    let pi_frac = |num: u64, den: u64| {
        let v = PI.mul(Fx::from_u128(u128::from(num))).div_small(den);
        let (r, f) = signed(v).to_f80_inexact(ctl);
        (r, f | de)
    };
    match (y.class(), x.class()) {
        (Class::Zero, _) | (Class::Finite, Class::Inf) => {
            return if x.sign() {
                pi_frac(1, 1)
            } else {
                (F80::zero(y.sign()), de)
            }
        }
        (Class::Inf, Class::Inf) => return pi_frac(if x.sign() { 3 } else { 1 }, 4),
        (Class::Inf, _) | (_, Class::Zero) => return pi_frac(1, 2),
        _ => {}
    }
    let (a, b) = (Fx::from_f80(y.abs()), Fx::from_f80(x.abs()));
    let mut t = fx::atan(a.div(b));
    if x.sign() {
        t = PI.sub(t);
    }
    let (r, f) = signed(t).to_f80_inexact(ctl);
    (r, f | de)
}
