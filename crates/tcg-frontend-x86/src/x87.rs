//! x87 floating point: translation (memory operands pass through the scratch register
//! `xmm_tmp`) and the helper that runs each instruction on the state with [`crate::f80`].

use std::cmp::Ordering;

use iced_x86::{Instruction, MemorySize, Mnemonic as M, OpKind, Register};
use tcg::{BinOp, Type};

use crate::f80::{self, exc, Class, Ctl, F80};
use crate::helpers;
use crate::state::{flags, off, X86State};
use crate::translate::{Flow, Tr, Unsupported, R};
use crate::x87_trans;

/// x87 helper operations.
pub(crate) mod op {
    pub const LD_F32: u64 = 1;
    pub const LD_F64: u64 = 2;
    pub const LD_F80: u64 = 3;
    pub const LD_I16: u64 = 4;
    pub const LD_I32: u64 = 5;
    pub const LD_I64: u64 = 6;
    pub const LD_ST: u64 = 7;
    pub const LD_CONST: u64 = 8;
    pub const ST_F32: u64 = 9;
    pub const ST_F64: u64 = 10;
    pub const ST_F80: u64 = 11;
    pub const ST_I16: u64 = 12;
    pub const ST_I32: u64 = 13;
    pub const ST_I64: u64 = 14;
    pub const ST_ST: u64 = 15;
    pub const ARITH: u64 = 16;
    pub const COM: u64 = 17;
    pub const COMI: u64 = 18;
    pub const CHS: u64 = 19;
    pub const ABS: u64 = 20;
    pub const TST: u64 = 21;
    pub const XAM: u64 = 22;
    pub const XCH: u64 = 23;
    pub const RNDINT: u64 = 24;
    pub const SQRT: u64 = 25;
    pub const PREM: u64 = 26;
    pub const SCALE: u64 = 27;
    pub const INCSTP: u64 = 28;
    pub const DECSTP: u64 = 29;
    pub const FREE: u64 = 30;
    pub const INIT: u64 = 31;
    pub const CLEX: u64 = 32;
    pub const STSW: u64 = 33;
    pub const STCW: u64 = 34;
    pub const LDCW: u64 = 35;
    pub const CMOV: u64 = 36;
    pub const PREM1: u64 = 37;
    pub const XTRACT: u64 = 38;
    pub const SIN: u64 = 39;
    pub const COS: u64 = 40;
    pub const SINCOS: u64 = 41;
    pub const PTAN: u64 = 42;
    pub const PATAN: u64 = 43;
    pub const YL2X: u64 = 44;
    pub const YL2XP1: u64 = 45;
    pub const F2XM1: u64 = 46;
    pub const STPNCE: u64 = 47;
    pub const LD_BCD: u64 = 48;
    pub const ST_BCD: u64 = 49;
}

const C0: u16 = 1 << 8;
const C1: u16 = 1 << 9;
const C2: u16 = 1 << 10;
const C3: u16 = 1 << 14;
const SF: u16 = 1 << 6;
/// Exception summary: an unmasked exception is pending (kept equal to B, bit 15).
const ES: u16 = 1 << 7;

/// Recomputes ES and B from the exception flags and masks: the hardware derives them (a
/// status word loaded by `fldenv`/`frstor`/`fxrstor` keeps neither bit as stored).
fn update_es(s: &mut X86State) {
    let pending = s.fpu_sw & !s.fpu_cw & 0x3f != 0;
    s.fpu_sw = s.fpu_sw & !(ES | 0x8000) | if pending { ES | 0x8000 } else { 0 };
}

fn reg(s: &X86State, phys: usize) -> F80 {
    F80 {
        m: s.fpregs[phys].mantissa,
        se: s.fpregs[phys].sign_exp,
    }
}

fn set_reg(s: &mut X86State, phys: usize, v: F80) {
    s.fpregs[phys].mantissa = v.m;
    s.fpregs[phys].sign_exp = v.se;
}

fn phys(s: &X86State, i: u64) -> usize {
    ((s.fpu_top as u64 + i) & 7) as usize
}

fn valid(s: &X86State, p: usize) -> bool {
    s.fpu_tw & (1 << p) != 0
}

/// Reads ST(i); an empty register is a stack underflow (IE|SF, the default NaN) and sets
/// `uf`.
fn st_uf(s: &mut X86State, i: u64, uf: &mut bool) -> F80 {
    let p = phys(s, i);
    if !valid(s, p) {
        s.fpu_sw = (s.fpu_sw | exc::IE | SF) & !C1;
        *uf = true;
        return f80::INDEFINITE;
    }
    reg(s, p)
}

/// Reads ST(i) (see [`st_uf`]).
fn st(s: &mut X86State, i: u64) -> F80 {
    st_uf(s, i, &mut false)
}

fn set_st(s: &mut X86State, i: u64, v: F80) {
    let p = phys(s, i);
    set_reg(s, p, v);
    s.fpu_tw |= 1 << p;
}

fn push(s: &mut X86State, v: F80) {
    let top = (s.fpu_top.wrapping_sub(1)) & 7;
    s.fpu_top = top;
    let p = top as usize;
    if valid(s, p) {
        s.fpu_sw |= exc::IE | SF | C1;
        set_reg(s, p, f80::INDEFINITE);
    } else {
        set_reg(s, p, v);
    }
    s.fpu_tw |= 1 << p;
}

fn pop(s: &mut X86State) {
    let p = s.fpu_top as usize & 7;
    s.fpu_tw &= !(1 << p);
    s.fpu_top = (s.fpu_top + 1) & 7;
}

fn tmp_u64(s: &X86State) -> u64 {
    s.xmm_tmp[0]
}

fn tmp_f80(s: &X86State) -> F80 {
    F80 {
        m: s.xmm_tmp[0],
        se: s.xmm_tmp[1] as u16,
    }
}

fn ctl(s: &X86State) -> Ctl {
    Ctl::from_cw(s.fpu_cw)
}

/// The memory or integer operand of arithmetic/compare forms 0..=3, as an F80, and the
/// flags of its conversion (IE, DE: the caller drops them on a stack fault).
fn mem_operand(s: &X86State, form: u64) -> (F80, u16) {
    let (v, f) = match form {
        0 => F80::from_f32(tmp_u64(s) as u32),
        1 => F80::from_f64(tmp_u64(s)),
        2 => (F80::from_i64(tmp_u64(s) as u16 as i16 as i64), 0),
        _ => (F80::from_i64(tmp_u64(s) as u32 as i32 as i64), 0),
    };
    if f & exc::IE != 0 && v.is_nan() {
        // A signalling NaN operand stays signalling for the NaN-selection rules (two SNaNs:
        // the larger significand wins; the conversion alone would make it quiet).
        return (
            F80 {
                m: v.m & !(1 << 62),
                se: v.se,
            },
            f,
        );
    }
    (v, f)
}

fn constant(k: u64, rc: u8) -> F80 {
    let down = rc == 1 || rc == 3;
    let up = rc == 2;
    match k {
        0 => F80::new(false, 0x3fff, 1 << 63),
        1 => F80::zero(false),
        2 => F80::new(false, 0x4000, 0xc90f_daa2_2168_c235 - u64::from(down)),
        3 => F80::new(false, 0x4000, 0xd49a_784b_cd1b_8afe + u64::from(up)),
        4 => F80::new(false, 0x3fff, 0xb8aa_3b29_5c17_f0bc - u64::from(down)),
        5 => F80::new(false, 0x3ffd, 0x9a20_9a84_fbcf_f799 - u64::from(down)),
        _ => F80::new(false, 0x3ffe, 0xb172_17f7_d1cf_79ac - u64::from(down)),
    }
}

/// A control word as loaded (fldcw, fldenv, frstor, fxrstor): the reserved bits 7 and
/// 13..15 read as 0, bit 6 as 1; the infinity control (bit 12) is kept.
fn control_word(v: u16) -> u16 {
    v & 0x1f3f | 0x40
}

/// DE for operands of an arithmetic or compare operation: set when one is denormal (or
/// pseudo-denormal) and none is a NaN or unsupported encoding.
fn denormals(vs: &[F80]) -> u16 {
    let nan = vs.iter().any(|v| v.is_nan());
    let den = vs
        .iter()
        .any(|v| v.class() == Class::Finite && v.exp() == 0);
    if den && !nan {
        exc::DE
    } else {
        0
    }
}

/// The flags of an operation on `vs`: no DE (also for a denormal memory operand) next to a
/// NaN operand or when the operation is invalid or divides by zero.
fn operand_flags(f: u16, vs: &[F80]) -> u16 {
    if f & (exc::IE | exc::ZE) != 0 || vs.iter().any(|v| v.is_nan()) {
        f & !exc::DE
    } else {
        f
    }
}

/// Whether an operand makes even an unordered compare invalid: an SNaN or an unsupported
/// encoding.
fn signals(v: F80) -> bool {
    matches!(v.class(), Class::SNaN | Class::Invalid)
}

fn compare_bits(o: Option<Ordering>) -> u16 {
    match o {
        None => C3 | C2 | C0,
        Some(Ordering::Less) => C0,
        Some(Ordering::Equal) => C3,
        Some(Ordering::Greater) => 0,
    }
}

/// Runs x87 operation `op` with argument `arg`; returns a value for ops with a result
/// (status/control word, EFLAGS bits of fcomi; for the stores to memory, 1 when nothing may
/// be stored).
///
/// An unmasked exception leaves its flag set and becomes pending (ES, B: the next waiting
/// instruction raises #MF); an unmasked invalid operation (stack faults included), zero
/// divide or denormal operand (except for the loads of a single or double) leaves the
/// registers, tags and TOP unchanged, and so does an unmasked overflow or underflow of a
/// store to memory (which then stores nothing). An unmasked overflow or underflow of a
/// register result keeps it with its exponent wrapped by 24576 (see `f80::Ctl`).
pub(crate) fn exec(s: &mut X86State, op: u64, arg: u64) -> u64 {
    use op::*;
    if matches!(op, STSW | STCW | LDCW | INIT | CLEX) {
        let r = exec_op(s, op, arg);
        update_es(s);
        return r;
    }
    let (regs, tw, top, sw) = (s.fpregs, s.fpu_tw, s.fpu_top, s.fpu_sw);
    // The flags this operation raises (SF included: a stack fault).
    s.fpu_sw &= !(0x3f | SF);
    let mut ret = exec_op(s, op, arg);
    let raised = s.fpu_sw & (0x3f | SF);
    s.fpu_sw |= sw & (0x3f | SF);
    let unmasked = raised & !s.fpu_cw;
    // A load of a denormal single or double completes even with DE unmasked.
    let undone = if matches!(op, LD_F32 | LD_F64) {
        exc::IE | exc::ZE
    } else {
        exc::IE | exc::ZE | exc::DE
    };
    if unmasked & undone != 0 {
        // The operation does not happen: only the operand checks' flags are raised.
        s.fpregs = regs;
        s.fpu_tw = tw;
        s.fpu_top = top;
        let c1 = if raised & SF != 0 { C1 } else { 0 };
        let checks = raised & (exc::IE | exc::ZE | exc::DE);
        if matches!(op, COM | TST) {
            // Compares still report (unordered).
            s.fpu_sw = s.fpu_sw & !0x3f | sw & 0x3f | checks;
        } else {
            // C1 is cleared (or reports the stack fault), and so is C2 by the instructions
            // that report an incomplete reduction or out-of-range operand in it.
            // (fcomi keeps C1 as it was unless the stack faulted.)
            let mut cleared = if op == COMI && raised & SF == 0 {
                0
            } else {
                C1
            };
            if matches!(op, PREM | PREM1 | SIN | COS | SINCOS | PTAN) {
                cleared |= C2;
            }
            s.fpu_sw = sw & !cleared | (s.fpu_sw & (c1 | SF)) | checks;
        }
        if matches!(op, ST_F32..=ST_I64 | ST_BCD) {
            ret = 1;
        }
    } else if unmasked & (exc::OE | exc::UE) != 0 && matches!(op, ST_F32..=ST_I64 | ST_BCD) {
        // A store to memory stores nothing and does not pop; only OE or UE is raised (no
        // PE) and C1 is cleared.
        s.fpregs = regs;
        s.fpu_tw = tw;
        s.fpu_top = top;
        s.fpu_sw = sw & !C1 | raised & (exc::OE | exc::UE);
        ret = 1;
    }
    update_es(s);
    ret
}

fn exec_op(s: &mut X86State, op: u64, arg: u64) -> u64 {
    use op::*;
    let c = ctl(s);
    // Precision control applies only to the basic arithmetic and square root.
    let c64 = Ctl { prec: 64, ..c };
    let mut ret = 0;
    match op {
        LD_F32 | LD_F64 | LD_F80 | LD_I16 | LD_I32 | LD_I64 => {
            let (v, f) = match op {
                LD_F32 => F80::from_f32(tmp_u64(s) as u32),
                LD_F64 => F80::from_f64(tmp_u64(s)),
                LD_F80 => (tmp_f80(s), 0),
                LD_I16 => (F80::from_i64(tmp_u64(s) as u16 as i16 as i64), 0),
                LD_I32 => (F80::from_i64(tmp_u64(s) as u32 as i32 as i64), 0),
                _ => (F80::from_i64(tmp_u64(s) as i64), 0),
            };
            // A stack overflow reports nothing about the loaded value.
            let overflow = valid(s, (s.fpu_top.wrapping_sub(1) & 7) as usize);
            s.fpu_sw = (s.fpu_sw & !C1) | if overflow { 0 } else { f };
            push(s, v);
        }
        LD_ST => {
            let mut uf = false;
            let v = st_uf(s, arg, &mut uf);
            s.fpu_sw &= !C1;
            push(s, v);
            if uf {
                // An underflow and an overflow together report the underflow.
                s.fpu_sw &= !C1;
            }
        }
        LD_CONST => {
            // The constants are never reported as rounded up.
            s.fpu_sw &= !C1;
            push(s, constant(arg, c.rc));
        }
        ST_F32 | ST_F64 | ST_F80 | ST_I16 | ST_I32 | ST_I64 => {
            let v = st(s, 0);
            // fisttp (arg bit 1) truncates whatever the rounding control.
            let rc = if arg & 2 != 0 { 3 } else { c.rc };
            let (bits, f) = match op {
                ST_F32 => {
                    let (b, f) = f80::to_f32(v, c.rc);
                    (u64::from(b), f)
                }
                ST_F64 => f80::to_f64(v, c.rc),
                ST_F80 => {
                    s.xmm_tmp[1] = u64::from(v.se);
                    (v.m, 0)
                }
                ST_I16 => f80::to_signed(v, 16, rc),
                ST_I32 => f80::to_signed(v, 32, rc),
                _ => f80::to_signed(v, 64, rc),
            };
            s.xmm_tmp[0] = bits;
            s.fpu_sw = (s.fpu_sw & !C1) | f;
            if arg & 1 != 0 || op == ST_F80 {
                pop(s);
            }
        }
        ST_ST => {
            let v = st(s, 0);
            s.fpu_sw &= !C1;
            set_st(s, arg & 7, v);
            if arg & 0x100 != 0 {
                pop(s);
            }
        }
        ARITH => {
            let kind = arg & 7;
            let form = (arg >> 4) & 7;
            let i = (arg >> 8) & 7;
            let mut uf = false;
            let mut mf = 0;
            let (dst, a, b) = match form {
                0..=3 => {
                    let (m, f) = mem_operand(s, form);
                    mf = f;
                    (0, st_uf(s, 0, &mut uf), m)
                }
                4 => (0, st_uf(s, 0, &mut uf), st_uf(s, i, &mut uf)),
                _ => (i, st_uf(s, i, &mut uf), st_uf(s, 0, &mut uf)),
            };
            let (r, f) = if uf {
                (f80::INDEFINITE, 0)
            } else {
                let (r, f) = match kind {
                    0 => f80::add(a, b, false, c),
                    1 => f80::mul(a, b, c),
                    2 => f80::add(a, b, true, c),
                    3 => f80::add(b, a, true, c),
                    4 => f80::div(a, b, c),
                    _ => f80::div(b, a, c),
                };
                // A stack fault reports nothing about the memory operand.
                (r, operand_flags(f | mf | denormals(&[a, b]), &[a, b]))
            };
            s.fpu_sw = (s.fpu_sw & !C1) | f;
            set_st(s, dst, r);
            if arg & 0x1000 != 0 {
                pop(s);
            }
        }
        COM => {
            let form = arg & 7;
            let i = (arg >> 8) & 7;
            let pops = (arg >> 12) & 3;
            let unordered = arg & 0x4000 != 0;
            let mut uf = false;
            let a = st_uf(s, 0, &mut uf);
            let mut mf = 0;
            let b = if form == 4 {
                st_uf(s, i, &mut uf)
            } else {
                let (m, f) = mem_operand(s, form);
                mf = f;
                m
            };
            let o = if uf { None } else { f80::cmp(a, b) };
            let snan = signals(a) || signals(b);
            if !uf {
                let invalid = if o.is_none() && (!unordered || snan) {
                    exc::IE
                } else {
                    0
                };
                s.fpu_sw |= operand_flags(invalid | mf | denormals(&[a, b]), &[a, b]);
            }
            s.fpu_sw = (s.fpu_sw & !(C0 | C1 | C2 | C3)) | compare_bits(o);
            for _ in 0..pops {
                pop(s);
            }
        }
        COMI => {
            let i = arg & 7;
            let unordered = arg & 0x200 != 0;
            let mut uf = false;
            let (a, b) = (st_uf(s, 0, &mut uf), st_uf(s, i, &mut uf));
            let o = if uf { None } else { f80::cmp(a, b) };
            let snan = signals(a) || signals(b);
            if !uf {
                let invalid = if o.is_none() && (!unordered || snan) {
                    exc::IE
                } else {
                    0
                };
                s.fpu_sw |= operand_flags(invalid | denormals(&[a, b]), &[a, b]);
            }
            // C1 is kept (cleared only by a stack underflow).
            ret = match o {
                None => flags::ZF | flags::PF | flags::CF,
                Some(Ordering::Less) => flags::CF,
                Some(Ordering::Equal) => flags::ZF,
                Some(Ordering::Greater) => 0,
            };
            if arg & 0x100 != 0 {
                pop(s);
            }
        }
        CHS | ABS => {
            let mut uf = false;
            let v = st_uf(s, 0, &mut uf);
            s.fpu_sw &= !C1;
            let r = if uf {
                v
            } else if op == CHS {
                v.neg()
            } else {
                v.abs()
            };
            set_st(s, 0, r);
        }
        TST => {
            let mut uf = false;
            let a = st_uf(s, 0, &mut uf);
            let o = f80::cmp(a, F80::zero(false));
            if !uf {
                s.fpu_sw |= denormals(&[a]);
            }
            if o.is_none() {
                s.fpu_sw |= exc::IE;
            }
            s.fpu_sw = (s.fpu_sw & !(C0 | C1 | C2 | C3)) | compare_bits(o);
        }
        XAM => {
            let p = phys(s, 0);
            let v = reg(s, p);
            let bits = if !valid(s, p) {
                C3 | C0
            } else {
                match v.class() {
                    Class::Invalid => 0,
                    Class::QNaN | Class::SNaN => C0,
                    Class::Inf => C2 | C0,
                    Class::Zero => C3,
                    Class::Finite if v.exp() == 0 => C3 | C2,
                    Class::Finite => C2,
                }
            };
            let sign = if v.sign() { C1 } else { 0 };
            s.fpu_sw = (s.fpu_sw & !(C0 | C1 | C2 | C3)) | bits | sign;
        }
        XCH => {
            let (a, b) = (st(s, 0), st(s, arg & 7));
            set_st(s, 0, b);
            set_st(s, arg & 7, a);
            s.fpu_sw &= !C1;
        }
        RNDINT | SQRT => {
            let mut uf = false;
            let v = st_uf(s, 0, &mut uf);
            let (r, f) = if uf {
                (v, 0)
            } else if op == SQRT {
                let (r, f) = f80::sqrt(v, c);
                (r, operand_flags(f | denormals(&[v]), &[v]))
            } else {
                let (r, f) = f80::round_to_int(v, c);
                (r, operand_flags(f | denormals(&[v]), &[v]))
            };
            s.fpu_sw = (s.fpu_sw & !C1) | f;
            set_st(s, 0, r);
        }
        PREM | PREM1 => {
            let mut uf = false;
            let (a, b) = (st_uf(s, 0, &mut uf), st_uf(s, 1, &mut uf));
            let (r, q, partial, f) = if uf {
                (f80::INDEFINITE, 0, false, 0)
            } else {
                let (r, q, p, f) = if op == PREM {
                    f80::prem(a, b, c)
                } else {
                    f80::prem1(a, b, c)
                };
                (r, q, p, operand_flags(f | denormals(&[a, b]), &[a, b]))
            };
            // A NaN result (NaN or invalid operands, stack underflow) leaves C0 and C3 as
            // they were; C1 and C2 are cleared.
            let kept = if r.is_nan() { C0 | C3 } else { 0 };
            let mut sw = (s.fpu_sw | (f & !C1)) & !((C0 | C1 | C2 | C3) & !kept);
            if partial {
                sw |= C2;
            } else {
                if q & 4 != 0 {
                    sw |= C0;
                }
                if q & 2 != 0 {
                    sw |= C3;
                }
                if q & 1 != 0 {
                    sw |= C1;
                }
            }
            s.fpu_sw = sw;
            set_st(s, 0, r);
        }
        SCALE => {
            let mut uf = false;
            let (a, b) = (st_uf(s, 0, &mut uf), st_uf(s, 1, &mut uf));
            // Precision control does not apply to fscale.
            let full = c64;
            let (r, f) = if uf {
                (f80::INDEFINITE, 0)
            } else {
                let (r, f) = f80::scale(a, b, full);
                (r, operand_flags(f | denormals(&[a, b]), &[a, b]))
            };
            s.fpu_sw = (s.fpu_sw & !C1) | f;
            set_st(s, 0, r);
        }
        XTRACT => {
            let mut uf = false;
            let v = st_uf(s, 0, &mut uf);
            // A full stack overflows: both results are the default NaN.
            let full = valid(s, (s.fpu_top.wrapping_sub(1) & 7) as usize);
            let (e, m, f) = if uf || full {
                (f80::INDEFINITE, f80::INDEFINITE, 0)
            } else {
                let (e, m, f) = f80::xtract(v);
                (e, m, operand_flags(f | denormals(&[v]), &[v]))
            };
            s.fpu_sw = (s.fpu_sw & !C1) | f;
            set_st(s, 0, e);
            push(s, m);
            if uf {
                // An underflow and an overflow together report the underflow (C1 clear).
                s.fpu_sw &= !C1;
            }
        }
        SIN | COS | F2XM1 => {
            let mut uf = false;
            let v = st_uf(s, 0, &mut uf);
            let r = if uf {
                Some((v, 0))
            } else if op == F2XM1 {
                Some(x87_trans::f2xm1(v, c64))
            } else {
                x87_trans::sin_or_cos(v, op == COS, c64)
            };
            // f2xm1 has no out-of-range case and leaves C2 alone.
            s.fpu_sw &= if op == F2XM1 { !C1 } else { !(C1 | C2) };
            match r {
                Some((r, f)) => {
                    s.fpu_sw |= f;
                    set_st(s, 0, r);
                }
                None => s.fpu_sw |= C2,
            }
        }
        SINCOS | PTAN => {
            let mut uf = false;
            let v = st_uf(s, 0, &mut uf);
            let full = valid(s, (s.fpu_top.wrapping_sub(1) & 7) as usize);
            s.fpu_sw &= !(C1 | C2);
            let r = if uf || full {
                Some((f80::INDEFINITE, f80::INDEFINITE, 0))
            } else if op == PTAN {
                x87_trans::tan(v, c64).map(|(t, f)| {
                    let one = F80::new(false, 16383, 1 << 63);
                    (t, if t.is_nan() { t } else { one }, f)
                })
            } else {
                match (
                    x87_trans::sin_or_cos(v, false, c64),
                    x87_trans::sin_or_cos(v, true, c64),
                ) {
                    // C1 reports the rounding of the sine.
                    (Some((a, f)), Some((b, g))) => Some((a, b, f | (g & !C1))),
                    _ => None,
                }
            };
            match r {
                Some((a, b, f)) => {
                    s.fpu_sw |= f;
                    set_st(s, 0, a);
                    push(s, b);
                    if uf {
                        // An underflow and an overflow together report the underflow.
                        s.fpu_sw &= !C1;
                    }
                }
                None => s.fpu_sw |= C2,
            }
        }
        PATAN | YL2X | YL2XP1 => {
            let mut uf = false;
            let (x, y) = (st_uf(s, 0, &mut uf), st_uf(s, 1, &mut uf));
            let (r, f) = if uf {
                (f80::INDEFINITE, 0)
            } else {
                match op {
                    PATAN => x87_trans::patan(x, y, c64),
                    YL2X => x87_trans::yl2x(x, y, c64),
                    _ => x87_trans::yl2xp1(x, y, c64),
                }
            };
            s.fpu_sw = (s.fpu_sw & !C1) | f;
            set_st(s, 1, r);
            pop(s);
        }
        LD_BCD => {
            // 18 packed decimal digits (low byte first), sign in bit 79.
            let (lo, hi) = (s.xmm_tmp[0], s.xmm_tmp[1]);
            let bytes: Vec<u8> = lo.to_le_bytes().into_iter().chain([hi as u8]).collect();
            let v = bytes.iter().rev().fold(0i64, |acc, &b| {
                acc * 100 + i64::from(b >> 4) * 10 + i64::from(b & 15)
            });
            let neg = hi & 0x8000 != 0;
            let r = if v == 0 {
                F80::zero(neg)
            } else {
                F80::from_i64(if neg { -v } else { v })
            };
            s.fpu_sw &= !C1;
            push(s, r);
        }
        ST_BCD => {
            let mut uf = false;
            let v = st_uf(s, 0, &mut uf);
            // The packed BCD indefinite, for NaN, infinite or out-of-range values.
            let mut out = (0xc000_0000_0000_0000u64, 0xffffu64);
            let mut f = 0;
            match f80::to_int(v, c.rc) {
                _ if uf => {}
                Ok((neg, mag, pe)) if mag < 1_000_000_000_000_000_000 => {
                    let mut m = mag as u64;
                    let mut b = [0u8; 10];
                    for byte in b.iter_mut().take(9) {
                        *byte = ((m % 10) | (m / 10 % 10) << 4) as u8;
                        m /= 100;
                    }
                    if neg {
                        b[9] = 0x80;
                    }
                    out = (
                        u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
                        u64::from(u16::from_le_bytes([b[8], b[9]])),
                    );
                    f = pe;
                }
                _ => f = exc::IE,
            }
            s.xmm_tmp = [out.0, out.1];
            s.fpu_sw = (s.fpu_sw & !C1) | f;
            pop(s);
        }
        STPNCE => {
            // fstpnce: copies ST(0) into ST(i) and pops, raising nothing; an empty ST(0)
            // leaves ST(i) (value and tag) as it was.
            let (src, dst) = (phys(s, 0), phys(s, arg & 7));
            if valid(s, src) {
                s.fpregs[dst] = s.fpregs[src];
                s.fpu_tw |= 1 << dst;
            }
            s.fpu_sw &= !C1;
            pop(s);
        }
        INCSTP => {
            s.fpu_top = (s.fpu_top + 1) & 7;
            s.fpu_sw &= !C1;
        }
        DECSTP => {
            s.fpu_top = s.fpu_top.wrapping_sub(1) & 7;
            s.fpu_sw &= !C1;
        }
        FREE => {
            let p = phys(s, arg & 7);
            s.fpu_tw &= !(1 << p);
            s.fpu_sw &= !C1;
        }
        INIT => {
            s.fpu_cw = 0x37f;
            s.fpu_sw = 0;
            s.fpu_tw = 0;
            s.fpu_top = 0;
        }
        CLEX => s.fpu_sw &= !0x80ff,
        STSW => {
            ret = u64::from(s.fpu_sw & !0x3800) | (u64::from(s.fpu_top & 7) << 11);
        }
        STCW => ret = u64::from(s.fpu_cw),
        LDCW => s.fpu_cw = control_word(arg as u16),
        CMOV => {
            let mut uf = false;
            let d = st_uf(s, 0, &mut uf);
            let v = st_uf(s, arg & 7, &mut uf);
            // C1 is kept (cleared only by a stack underflow).
            if uf {
                set_st(s, 0, f80::INDEFINITE);
            } else if arg & 0x100 != 0 {
                set_st(s, 0, v);
            } else {
                set_st(s, 0, d);
            }
        }
        _ => {}
    }
    ret
}

// ---- translation ----

impl Tr<'_> {
    fn x87(&mut self, op: u64, arg: u64) -> tcg::Temp {
        let o = self.cst(op);
        let a = self.cst(arg);
        let args = vec![self.env, o, a];
        self.call(&helpers::X87, args)
    }

    /// Raises #MF when the status word's ES bit says an unmasked exception is pending.
    pub(crate) fn x87_pending_check(&mut self) {
        let sw = self.load_state8(off::FPU_SW, 2);
        let es = self.bini(BinOp::And, sw, u64::from(ES));
        let zero = self.cst(0);
        self.raise_if(tcg::Cond::Ne, es, zero, crate::vector::MF);
    }

    /// Loads the memory operand (`size` bytes) into the scratch register.
    fn x87_load_tmp(&mut self, ins: &Instruction, size: u32) -> Result<(), Unsupported> {
        let a = self.ea(ins, true)?;
        let lo = self.load(a, size.min(8));
        self.store_state8(lo, off::XMM_TMP, 8);
        if size == 10 {
            let a2 = self.bini(BinOp::Add, a, 8);
            let hi = self.load(a2, 2);
            self.store_state8(hi, off::XMM_TMP + 8, 8);
        }
        Ok(())
    }

    /// Stores the scratch register to `addr` unless `skip` (a store helper's result) is
    /// nonzero.
    fn x87_store_tmp_unless(&mut self, skip: tcg::Temp, addr: tcg::Temp, size: u32) {
        let done = self.label();
        self.brcondi(tcg::Cond::Ne, skip, 0, done);
        self.x87_store_tmp(addr, size);
        self.set_label(done);
    }

    /// Stores the scratch register's low `size` bytes to the memory operand at `addr`.
    fn x87_store_tmp(&mut self, addr: tcg::Temp, size: u32) {
        let lo = self.load_state8(off::XMM_TMP, size.min(8) as u8);
        self.store(lo, addr, size.min(8));
        if size == 10 {
            let hi = self.load_state8(off::XMM_TMP + 8, 2);
            let a2 = self.bini(BinOp::Add, addr, 8);
            self.store(hi, a2, 2);
        }
    }

    fn store_state8(&mut self, v: tcg::Temp, offset: u32, size: u8) {
        self.st_state(v, offset, size);
    }

    fn load_state8(&mut self, offset: u32, size: u8) -> tcg::Temp {
        self.ld_state(Type::I64, offset, size)
    }
}

fn st_index(r: Register) -> Option<u64> {
    if r.is_st() {
        Some(r.number() as u64)
    } else {
        None
    }
}

fn mem_form(ins: &Instruction) -> Option<(u64, u32)> {
    Some(match ins.memory_size() {
        MemorySize::Float32 => (0, 4),
        MemorySize::Float64 => (1, 8),
        MemorySize::Int16 => (2, 2),
        MemorySize::Int32 => (3, 4),
        _ => return None,
    })
}

/// Whether `m` is an x87 instruction that first checks for a pending unmasked exception
/// (#MF). The control instructions without a wait (`fninit`, `fnclex`, `fnstsw`, `fnstcw`,
/// `fnstenv`, `fnsave`, the 287 no-ops) and `fxsave`/`fxrstor` do not (`fldcw`, `fldenv`
/// and `frstor` do: the host faults at a second `frstor`).
fn waits(m: M) -> bool {
    matches!(
        m,
        M::Fld
            | M::Fild
            | M::Fst
            | M::Fstp
            | M::Fist
            | M::Fistp
            | M::Fisttp
            | M::Fadd
            | M::Fmul
            | M::Fsub
            | M::Fsubr
            | M::Fdiv
            | M::Fdivr
            | M::Faddp
            | M::Fmulp
            | M::Fsubp
            | M::Fsubrp
            | M::Fdivp
            | M::Fdivrp
            | M::Fiadd
            | M::Fimul
            | M::Fisub
            | M::Fisubr
            | M::Fidiv
            | M::Fidivr
            | M::Fcom
            | M::Fcomp
            | M::Fcompp
            | M::Fucom
            | M::Fucomp
            | M::Fucompp
            | M::Ficom
            | M::Ficomp
            | M::Fcomi
            | M::Fcomip
            | M::Fucomi
            | M::Fucomip
            | M::Fchs
            | M::Fabs
            | M::Ftst
            | M::Fxam
            | M::Fxch
            | M::Frndint
            | M::Fsqrt
            | M::Fprem
            | M::Fprem1
            | M::Fscale
            | M::Fxtract
            | M::Fsin
            | M::Fcos
            | M::Fsincos
            | M::Fptan
            | M::Fpatan
            | M::Fyl2x
            | M::Fyl2xp1
            | M::F2xm1
            | M::Fincstp
            | M::Fdecstp
            | M::Ffree
            | M::Ffreep
            | M::Fld1
            | M::Fldz
            | M::Fldpi
            | M::Fldl2t
            | M::Fldl2e
            | M::Fldlg2
            | M::Fldln2
            | M::Fcmovb
            | M::Fcmove
            | M::Fcmovbe
            | M::Fcmovu
            | M::Fcmovnb
            | M::Fcmovne
            | M::Fcmovnbe
            | M::Fcmovnu
            | M::Fnop
            | M::Fbld
            | M::Fbstp
            | M::Fstpnce
            | M::Fldcw
            | M::Fldenv
            | M::Frstor
            | M::Finit
            | M::Fclex
            | M::Fstsw
            | M::Fstcw
            | M::Fstenv
            | M::Fsave
            | M::Feni
            | M::Fdisi
            | M::Fsetpm
    )
}

/// Translates an x87 instruction, or reports it unsupported.
pub(crate) fn translate_x87(t: &mut Tr, ins: &Instruction) -> R {
    use op::*;
    let m = ins.mnemonic();
    let has_mem = (0..ins.op_count()).any(|i| ins.op_kind(i) == OpKind::Memory);
    let reg_arg = |k: u32| -> Option<u64> {
        if ins.op_count() > k && ins.op_kind(k) == OpKind::Register {
            st_index(ins.op_register(k))
        } else {
            None
        }
    };
    if m == M::Fisttp && !t.cfg.cpu.sse3 {
        return Err(Unsupported);
    }
    if waits(m) {
        t.x87_pending_check();
    }
    match m {
        M::Fld | M::Fild => {
            if has_mem {
                let (o, size) = match ins.memory_size() {
                    MemorySize::Float32 => (LD_F32, 4),
                    MemorySize::Float64 => (LD_F64, 8),
                    MemorySize::Float80 => (LD_F80, 10),
                    MemorySize::Int16 => (LD_I16, 2),
                    MemorySize::Int32 => (LD_I32, 4),
                    MemorySize::Int64 => (LD_I64, 8),
                    _ => return Err(Unsupported),
                };
                t.x87_load_tmp(ins, size)?;
                t.x87(o, 0);
            } else {
                t.x87(LD_ST, reg_arg(0).ok_or(Unsupported)?);
            }
        }
        M::Fst | M::Fstp | M::Fist | M::Fistp | M::Fisttp => {
            if m == M::Fisttp && !t.cfg.cpu.sse3 {
                return Err(Unsupported);
            }
            let pop = u64::from(matches!(m, M::Fstp | M::Fistp | M::Fisttp))
                | u64::from(m == M::Fisttp) << 1;
            if has_mem {
                let (o, size) = match ins.memory_size() {
                    MemorySize::Float32 => (ST_F32, 4),
                    MemorySize::Float64 => (ST_F64, 8),
                    MemorySize::Float80 => (ST_F80, 10),
                    MemorySize::Int16 => (ST_I16, 2),
                    MemorySize::Int32 => (ST_I32, 4),
                    MemorySize::Int64 => (ST_I64, 8),
                    _ => return Err(Unsupported),
                };
                let a = t.ea(ins, true)?;
                let r = t.x87(o, pop);
                t.x87_store_tmp_unless(r, a, size);
            } else {
                t.x87(ST_ST, reg_arg(0).ok_or(Unsupported)? | pop << 8);
            }
        }
        M::Fadd
        | M::Fmul
        | M::Fsub
        | M::Fsubr
        | M::Fdiv
        | M::Fdivr
        | M::Faddp
        | M::Fmulp
        | M::Fsubp
        | M::Fsubrp
        | M::Fdivp
        | M::Fdivrp
        | M::Fiadd
        | M::Fimul
        | M::Fisub
        | M::Fisubr
        | M::Fidiv
        | M::Fidivr => {
            let kind = match m {
                M::Fadd | M::Faddp | M::Fiadd => 0,
                M::Fmul | M::Fmulp | M::Fimul => 1,
                M::Fsub | M::Fsubp | M::Fisub => 2,
                M::Fsubr | M::Fsubrp | M::Fisubr => 3,
                M::Fdiv | M::Fdivp | M::Fidiv => 4,
                _ => 5,
            };
            let pop = u64::from(matches!(
                m,
                M::Faddp | M::Fmulp | M::Fsubp | M::Fsubrp | M::Fdivp | M::Fdivrp
            ));
            let arg = if has_mem {
                let (form, size) = mem_form(ins).ok_or(Unsupported)?;
                t.x87_load_tmp(ins, size)?;
                kind | form << 4
            } else {
                let (a, b) = (reg_arg(0), reg_arg(1));
                match (a, b) {
                    (Some(0), Some(i)) if pop == 0 => kind | 4 << 4 | i << 8,
                    (Some(i), Some(0)) => kind | 5 << 4 | i << 8,
                    (Some(i), None) => kind | 5 << 4 | i << 8,
                    _ => return Err(Unsupported),
                }
            };
            t.x87(ARITH, arg | pop << 12);
        }
        M::Fcom
        | M::Fcomp
        | M::Fcompp
        | M::Fucom
        | M::Fucomp
        | M::Fucompp
        | M::Ficom
        | M::Ficomp => {
            let pops = match m {
                M::Fcomp | M::Fucomp | M::Ficomp => 1,
                M::Fcompp | M::Fucompp => 2,
                _ => 0,
            };
            let unordered = u64::from(matches!(m, M::Fucom | M::Fucomp | M::Fucompp));
            let arg = if has_mem {
                let (form, size) = mem_form(ins).ok_or(Unsupported)?;
                t.x87_load_tmp(ins, size)?;
                form
            } else {
                let i = match (reg_arg(0), reg_arg(1)) {
                    (Some(0), Some(i)) => i,
                    (Some(i), None) => i,
                    (None, None) => 1,
                    _ => return Err(Unsupported),
                };
                4 | i << 8
            };
            t.x87(COM, arg | pops << 12 | unordered << 14);
        }
        M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip => {
            let i = match (reg_arg(0), reg_arg(1)) {
                (Some(0), Some(i)) => i,
                _ => return Err(Unsupported),
            };
            let pop = u64::from(matches!(m, M::Fcomip | M::Fucomip));
            let unordered = u64::from(matches!(m, M::Fucomi | M::Fucomip));
            let f = t.x87(COMI, i | pop << 8 | unordered << 9);
            t.set_cc_eflags(f);
        }
        M::Fchs => {
            t.x87(CHS, 0);
        }
        M::Fabs => {
            t.x87(ABS, 0);
        }
        M::Ftst => {
            t.x87(TST, 0);
        }
        M::Fxam => {
            t.x87(XAM, 0);
        }
        M::Fxch => {
            let i = match (reg_arg(0), reg_arg(1)) {
                (Some(0), Some(i)) | (Some(i), None) => i,
                (None, None) => 1,
                _ => return Err(Unsupported),
            };
            t.x87(XCH, i);
        }
        M::Frndint => {
            t.x87(RNDINT, 0);
        }
        M::Fsqrt => {
            t.x87(SQRT, 0);
        }
        M::Fprem => {
            t.x87(PREM, 0);
        }
        M::Fscale => {
            t.x87(SCALE, 0);
        }
        M::Fprem1 => {
            t.x87(PREM1, 0);
        }
        M::Fxtract => {
            t.x87(XTRACT, 0);
        }
        M::Fsin
        | M::Fcos
        | M::Fsincos
        | M::Fptan
        | M::Fpatan
        | M::Fyl2x
        | M::Fyl2xp1
        | M::F2xm1 => {
            let o = match m {
                M::Fsin => SIN,
                M::Fcos => COS,
                M::Fsincos => SINCOS,
                M::Fptan => PTAN,
                M::Fpatan => PATAN,
                M::Fyl2x => YL2X,
                M::Fyl2xp1 => YL2XP1,
                _ => F2XM1,
            };
            t.x87(o, 0);
        }
        M::Fincstp => {
            t.x87(INCSTP, 0);
        }
        M::Fdecstp => {
            t.x87(DECSTP, 0);
        }
        M::Ffree => {
            t.x87(FREE, reg_arg(0).ok_or(Unsupported)?);
        }
        M::Fninit | M::Finit => {
            t.x87(INIT, 0);
        }
        M::Fnclex | M::Fclex => {
            t.x87(CLEX, 0);
        }
        M::Fld1 | M::Fldz | M::Fldpi | M::Fldl2t | M::Fldl2e | M::Fldlg2 | M::Fldln2 => {
            let k = match m {
                M::Fld1 => 0,
                M::Fldz => 1,
                M::Fldpi => 2,
                M::Fldl2t => 3,
                M::Fldl2e => 4,
                M::Fldlg2 => 5,
                _ => 6,
            };
            t.x87(LD_CONST, k);
        }
        M::Fnstsw | M::Fstsw => {
            let v = t.x87(STSW, 0);
            if has_mem {
                let a = t.ea(ins, true)?;
                t.store(v, a, 2);
            } else {
                t.set_reg(0, 2, false, v);
            }
        }
        M::Fnstcw | M::Fstcw => {
            let v = t.x87(STCW, 0);
            let a = t.ea(ins, true)?;
            t.store(v, a, 2);
        }
        M::Fldcw => {
            let a = t.ea(ins, true)?;
            let v = t.load(a, 2);
            let o = t.cst(LDCW);
            let args = vec![t.env, o, v];
            t.call(&helpers::X87, args);
        }
        M::Fcmovb
        | M::Fcmove
        | M::Fcmovbe
        | M::Fcmovu
        | M::Fcmovnb
        | M::Fcmovne
        | M::Fcmovnbe
        | M::Fcmovnu => {
            let i = match (reg_arg(0), reg_arg(1)) {
                (Some(0), Some(i)) => i,
                _ => return Err(Unsupported),
            };
            let code = match m {
                M::Fcmovb => 2,
                M::Fcmovnb => 3,
                M::Fcmove => 4,
                M::Fcmovne => 5,
                M::Fcmovbe => 6,
                M::Fcmovnbe => 7,
                M::Fcmovu => 10,
                _ => 11,
            };
            let c = t.cond_value(code);
            let c = t.bini(BinOp::Shl, c, 8);
            let a = t.bini(BinOp::Or, c, i);
            let o = t.cst(CMOV);
            let args = vec![t.env, o, a];
            t.call(&helpers::X87, args);
        }
        M::Fnop => {}
        M::Fxsave
        | M::Fxsave64
        | M::Fxrstor
        | M::Fxrstor64
        | M::Fnstenv
        | M::Fstenv
        | M::Fldenv
        | M::Fnsave
        | M::Fsave
        | M::Frstor => return translate_state_image(t, ins),
        // 287-era controls: no-ops (like fnop) since the 387.
        M::Fneni | M::Feni | M::Fndisi | M::Fdisi | M::Fnsetpm | M::Fsetpm => {}
        M::Ffreep => {
            // Free ST(i), then pop.
            t.x87(FREE, reg_arg(0).ok_or(Unsupported)?);
            t.x87(FREE, 0);
            t.x87(INCSTP, 0);
        }
        M::Fbld | M::Fbstp if ins.memory_size() == MemorySize::Bcd => {
            if m == M::Fbld {
                t.x87_load_tmp(ins, 10)?;
                t.x87(LD_BCD, 0);
            } else {
                let a = t.ea(ins, true)?;
                let r = t.x87(ST_BCD, 0);
                t.x87_store_tmp_unless(r, a, 10);
            }
        }
        M::Fstpnce => {
            t.x87(STPNCE, reg_arg(0).ok_or(Unsupported)?);
        }
        _ => return Err(Unsupported),
    }
    Ok(Flow::Next)
}

/// Memory-image x87/SSE state operations (fxsave, fxrstor, fnstenv, fldenv).
pub(crate) mod memop {
    pub const FXSAVE: u64 = 1;
    pub const FXSAVE64: u64 = 2;
    pub const FXRSTOR: u64 = 3;
    pub const FXRSTOR64: u64 = 4;
    pub const FNSTENV: u64 = 5;
    pub const FLDENV: u64 = 6;
    pub const FNSAVE: u64 = 7;
    pub const FRSTOR: u64 = 8;
}

/// The full (2-bit) tag of physical register `p`: 0 valid, 1 zero, 2 special, 3 empty.
fn full_tag(s: &X86State, p: usize) -> u16 {
    if !valid(s, p) {
        return 3;
    }
    let v = reg(s, p);
    match v.class() {
        Class::Zero => 1,
        Class::Finite if v.exp() != 0 => 0,
        _ => 2,
    }
}

/// Runs a memory-image operation at guest address `addr`: returns 0, or 1 for an
/// inaccessible address (`exception_addr` set), or 2 for a misaligned or invalid image.
pub(crate) fn exec_mem(s: &mut X86State, op: u64, addr: u64) -> u64 {
    use memop::*;
    let len: u64 = match op {
        FXSAVE | FXSAVE64 | FXRSTOR | FXRSTOR64 => 512,
        FNSAVE | FRSTOR => 108,
        _ => 28,
    };
    if matches!(op, FXSAVE | FXSAVE64 | FXRSTOR | FXRSTOR64) && addr % 16 != 0 {
        return 2;
    }
    if addr.checked_add(len).is_none_or(|e| e > s.guest_size) {
        s.exception_addr = addr;
        return 1;
    }
    let host = s.guest_base.wrapping_add(addr) as usize as *mut u8;
    // SAFETY: the vCPU guarantees that guest addresses below `guest_size` are backed by
    // host memory at `guest_base + addr`; the range was checked above.
    let mem = unsafe { std::slice::from_raw_parts_mut(host, len as usize) };
    let sw = s.fpu_sw & !0x3800 | ((s.fpu_top as u16 & 7) << 11);
    match op {
        FXSAVE | FXSAVE64 => {
            mem[0..2].copy_from_slice(&s.fpu_cw.to_le_bytes());
            mem[2..4].copy_from_slice(&sw.to_le_bytes());
            mem[4] = s.fpu_tw as u8;
            mem[5] = 0;
            mem[6..24].fill(0);
            mem[24..28].copy_from_slice(&s.mxcsr.to_le_bytes());
            mem[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
            for i in 0..8 {
                let p = phys(s, i as u64);
                let o = 32 + 16 * i;
                mem[o..o + 8].copy_from_slice(&s.fpregs[p].mantissa.to_le_bytes());
                mem[o + 8..o + 10].copy_from_slice(&s.fpregs[p].sign_exp.to_le_bytes());
                mem[o + 10..o + 16].fill(0);
            }
            for i in 0..16 {
                let o = 160 + 16 * i;
                mem[o..o + 8].copy_from_slice(&s.xmm[i][0].to_le_bytes());
                mem[o + 8..o + 16].copy_from_slice(&s.xmm[i][1].to_le_bytes());
            }
        }
        FXRSTOR | FXRSTOR64 => {
            let mxcsr = u32::from_le_bytes(mem[24..28].try_into().expect("4 bytes"));
            if mxcsr & !0xffff != 0 {
                return 2;
            }
            s.fpu_cw = control_word(u16::from_le_bytes([mem[0], mem[1]]));
            let sw = u16::from_le_bytes([mem[2], mem[3]]);
            s.fpu_top = u32::from(sw >> 11) & 7;
            s.fpu_sw = sw & !0x3800;
            s.fpu_tw = u16::from(mem[4]);
            s.mxcsr = mxcsr;
            for i in 0..8 {
                let p = phys(s, i as u64);
                let o = 32 + 16 * i;
                s.fpregs[p].mantissa = u64::from_le_bytes(mem[o..o + 8].try_into().expect("8"));
                s.fpregs[p].sign_exp = u16::from_le_bytes([mem[o + 8], mem[o + 9]]);
            }
            for i in 0..16 {
                let o = 160 + 16 * i;
                s.xmm[i][0] = u64::from_le_bytes(mem[o..o + 8].try_into().expect("8"));
                s.xmm[i][1] = u64::from_le_bytes(mem[o + 8..o + 16].try_into().expect("8"));
            }
        }
        FNSTENV | FNSAVE => {
            let tags = (0..8).fold(0u16, |t, p| t | (full_tag(s, p) << (2 * p)));
            let w = |mem: &mut [u8], o: usize, v: u16| {
                mem[o..o + 2].copy_from_slice(&v.to_le_bytes());
                mem[o + 2..o + 4].copy_from_slice(&0xffffu16.to_le_bytes());
            };
            w(mem, 0, s.fpu_cw);
            w(mem, 4, sw);
            w(mem, 8, tags);
            mem[12..28].fill(0);
            mem[26..28].copy_from_slice(&0xffffu16.to_le_bytes());
            if op == FNSAVE {
                // The registers in stack order, then the state is reinitialised.
                for i in 0..8 {
                    let p = phys(s, i as u64);
                    let o = 28 + 10 * i;
                    mem[o..o + 8].copy_from_slice(&s.fpregs[p].mantissa.to_le_bytes());
                    mem[o + 8..o + 10].copy_from_slice(&s.fpregs[p].sign_exp.to_le_bytes());
                }
                exec(s, op::INIT, 0);
            } else {
                // fnstenv masks all exceptions afterwards.
                s.fpu_cw |= 0x3f;
            }
        }
        _ => {
            s.fpu_cw = control_word(u16::from_le_bytes([mem[0], mem[1]]));
            let sw = u16::from_le_bytes([mem[4], mem[5]]);
            s.fpu_top = u32::from(sw >> 11) & 7;
            s.fpu_sw = sw & !0x3800;
            let tags = u16::from_le_bytes([mem[8], mem[9]]);
            s.fpu_tw = (0..8).fold(0, |t, p| {
                if (tags >> (2 * p)) & 3 != 3 {
                    t | (1 << p)
                } else {
                    t
                }
            });
            if op == FRSTOR {
                for i in 0..8 {
                    let p = phys(s, i as u64);
                    let o = 28 + 10 * i;
                    s.fpregs[p].mantissa =
                        u64::from_le_bytes(mem[o..o + 8].try_into().expect("8 bytes"));
                    s.fpregs[p].sign_exp = u16::from_le_bytes([mem[o + 8], mem[o + 9]]);
                }
            }
        }
    }
    update_es(s);
    0
}

/// Translates fxsave/fxrstor/fnstenv/fldenv (their images go through a helper).
pub(crate) fn translate_state_image(t: &mut Tr, ins: &Instruction) -> R {
    use memop::*;
    let op = match ins.mnemonic() {
        M::Fxsave => FXSAVE,
        M::Fxsave64 => FXSAVE64,
        M::Fxrstor => FXRSTOR,
        M::Fxrstor64 => FXRSTOR64,
        M::Fnstenv | M::Fstenv => FNSTENV,
        M::Fldenv => FLDENV,
        M::Fnsave | M::Fsave => FNSAVE,
        M::Frstor => FRSTOR,
        _ => return Err(Unsupported),
    };
    if ins.op_count() != 1 || ins.op_kind(0) != OpKind::Memory {
        return Err(Unsupported);
    }
    if matches!(op, FNSTENV | FLDENV) && ins.memory_size() != MemorySize::FpuEnv28
        || matches!(op, FNSAVE | FRSTOR) && ins.memory_size() != MemorySize::FpuState108
    {
        return Err(Unsupported);
    }
    let a = t.ea(ins, true)?;
    let o = t.cst(op);
    let args = vec![t.env, o, a];
    let r = t.call(&helpers::X87_MEM, args);
    let one = t.cst(1);
    t.raise_if(tcg::Cond::Eq, r, one, crate::vector::PF);
    let two = t.cst(2);
    t.raise_if(tcg::Cond::Eq, r, two, crate::vector::GP);
    Ok(Flow::Next)
}
