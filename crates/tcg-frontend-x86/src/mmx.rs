//! MMX, and the MMX-register forms of SSE (`pshufw`, `pavgb`, ..., the `cvt*pi*`
//! conversions), SSE2 (`paddq`, `psubq`, `pmuludq`, `movq2dq`, `movdq2q`) and SSSE3.
//!
//! The eight mm registers are the significands of the physical x87 registers R0..R7
//! (`fpregs[i].mantissa`, whatever TOP is). Every instruction that names an mm register
//! first raises #MF if an unmasked x87 exception is pending, then switches the x87 unit to
//! MMX use: TOP becomes 0 and every register is tagged valid; writing an mm register sets
//! its x87 sign and exponent to all ones. `emms` tags every register empty and, as on AMD
//! processors, sets TOP to 0. The conversions with only a memory source (`cvtpi2ps` and
//! `cvtpi2pd xmm, m64`) run as plain SSE instructions and do none of this (as on the host).
//!
//! Moves and bitwise ops are inline; everything else runs the SSE helpers' implementations
//! at 64-bit width (their destination index names an mm register, see
//! [`crate::sse_impl::MM0`]).

use iced_x86::{Instruction, Mnemonic as M, OpKind};
use tcg::{BinOp, Temp, Type};

use crate::sse::{helper_op, xmm_of, xoff};
use crate::sse_ext::{binary_op, imm8, masked_store};
use crate::sse_impl::{op, MM0};
use crate::state::off;
use crate::translate::{gpr, Flow, Opnd, Tr, Unsupported, R};

/// The mm register number of operand `i`, if it is one.
fn mm_of(ins: &Instruction, i: u32) -> Option<usize> {
    if ins.op_kind(i) != OpKind::Register {
        return None;
    }
    let r = ins.op_register(i);
    r.is_mm().then(|| r.number())
}

/// State offset of mm register `i`.
fn mmoff(i: usize) -> u32 {
    off::FPREGS + 16 * i as u32
}

/// Whether this module translates `ins`: it names an mm register, or is `emms`, or one of
/// the conversions from two packed int32 whose source may be an mm register.
pub(crate) fn is_mmx(ins: &Instruction) -> bool {
    matches!(ins.mnemonic(), M::Emms | M::Cvtpi2ps | M::Cvtpi2pd)
        || (0..ins.op_count()).any(|i| mm_of(ins, i).is_some())
}

impl Tr<'_> {
    fn mm_read(&mut self, i: usize) -> Temp {
        self.ld_state(Type::I64, mmoff(i), 8)
    }

    fn mm_write(&mut self, i: usize, v: Temp) {
        self.st_state(v, mmoff(i), 8);
        let ones = self.cst(0xffff);
        self.st_state(ones, mmoff(i) + 8, 2);
    }

    /// Operand `i` as a helper register index: an mm register, or a memory operand loaded
    /// into the scratch register (zero-extended).
    fn mm_src(&mut self, ins: &Instruction, i: u32) -> Result<usize, Unsupported> {
        match mm_of(ins, i) {
            Some(r) => Ok(MM0 + r),
            None => self.xsrc(ins, i),
        }
    }

    /// Operand `i` (an mm register or 64-bit memory) as a value.
    fn mm_value(&mut self, ins: &Instruction, i: u32) -> Result<Temp, Unsupported> {
        match mm_of(ins, i) {
            Some(r) => Ok(self.mm_read(r)),
            None if ins.op_kind(i) == OpKind::Memory => {
                let a = self.mem_addr(ins)?;
                Ok(self.load(a, 8))
            }
            None => Err(Unsupported),
        }
    }
}

/// Translates an instruction [`is_mmx`] accepts (feature checks are the caller's).
pub(crate) fn translate(t: &mut Tr, ins: &Instruction) -> R {
    let m = ins.mnemonic();
    let names_mm = (0..ins.op_count()).any(|i| mm_of(ins, i).is_some());
    if names_mm || m == M::Emms {
        t.x87_pending_check();
    }
    if names_mm {
        let zero = t.cst(0);
        t.st_state(zero, off::FPU_TOP, 4);
        let valid = t.cst(0xff);
        t.st_state(valid, off::FPU_TW, 2);
    }
    let dst = mm_of(ins, 0);
    match m {
        M::Emms => {
            // Every register empty, and (as AMD processors do) TOP 0.
            let zero = t.cst(0);
            t.st_state(zero, off::FPU_TW, 2);
            t.st_state(zero, off::FPU_TOP, 4);
        }
        M::Movd | M::Movq => {
            let size = if m == M::Movd { 4 } else { 8 };
            match (dst, mm_of(ins, 1)) {
                (Some(d), Some(s)) => {
                    let v = t.mm_read(s);
                    t.mm_write(d, v);
                }
                (Some(d), None) => {
                    let v = match t.opnd(ins, 1)? {
                        Opnd::Imm { .. } => return Err(Unsupported),
                        o => t.read(o),
                    };
                    t.mm_write(d, v);
                }
                (None, Some(s)) => {
                    let v = t.mm_read(s);
                    match t.opnd(ins, 0)? {
                        Opnd::Reg { r, .. } => t.set_reg(r, size, false, v),
                        Opnd::Mem { addr, .. } => t.store(v, addr, size),
                        Opnd::Imm { .. } => return Err(Unsupported),
                    }
                }
                (None, None) => return Err(Unsupported),
            }
        }
        M::Movntq => {
            let s = mm_of(ins, 1).ok_or(Unsupported)?;
            let a = t.mem_addr(ins)?;
            let v = t.mm_read(s);
            t.store(v, a, 8);
        }
        M::Movq2dq => {
            let (Some(d), Some(s)) = (xmm_of(ins, 0), mm_of(ins, 1)) else {
                return Err(Unsupported);
            };
            let v = t.mm_read(s);
            let z = t.cst(0);
            t.st_state(v, xoff(d), 8);
            t.st_state(z, xoff(d) + 8, 8);
        }
        M::Movdq2q => {
            let (Some(d), Some(s)) = (dst, xmm_of(ins, 1)) else {
                return Err(Unsupported);
            };
            let v = t.ld_state(Type::I64, xoff(s), 8);
            t.mm_write(d, v);
        }
        M::Pand | M::Pandn | M::Por | M::Pxor => {
            let d = dst.ok_or(Unsupported)?;
            let b = t.mm_value(ins, 1)?;
            let a = t.mm_read(d);
            let r = match m {
                M::Pand => t.bin(BinOp::And, a, b),
                M::Por => t.bin(BinOp::Or, a, b),
                M::Pxor => t.bin(BinOp::Xor, a, b),
                _ => t.bin(BinOp::AndNot, b, a),
            };
            t.mm_write(d, r);
        }
        M::Pmovmskb => {
            let Opnd::Reg { r, size, high } = t.opnd(ins, 0)? else {
                return Err(Unsupported);
            };
            let s = mm_of(ins, 1).ok_or(Unsupported)?;
            let v = t.sse_call(op::PMOVMSKB, 0, MM0 + s, 0);
            t.set_reg(r, size, high, v);
        }
        M::Pextrw => {
            let Opnd::Reg { r, size, high } = t.opnd(ins, 0)? else {
                return Err(Unsupported);
            };
            let s = mm_of(ins, 1).ok_or(Unsupported)?;
            let v = t.sse_call(op::PEXTRW, 0, MM0 + s, imm8(ins) & 3);
            t.set_reg(r, size, high, v);
        }
        M::Pinsrw => {
            let d = dst.ok_or(Unsupported)?;
            let v = match ins.op_kind(1) {
                OpKind::Register => {
                    let (r, _, _) = gpr(ins.op_register(1)).ok_or(Unsupported)?;
                    t.zext(t.regs[r], 2)
                }
                _ => {
                    let a = t.mem_addr(ins)?;
                    t.load(a, 2)
                }
            };
            let v = t.bini(BinOp::Shl, v, 8);
            let v = t.bini(BinOp::Or, v, imm8(ins) & 3);
            t.sse_call_dyn(op::PINSRW, MM0 + d, MM0 + d, v);
        }
        M::Maskmovq => {
            // iced lists the implicit [rdi] first.
            let first = ins.op_count() - 2;
            let (Some(src), Some(mask)) = (mm_of(ins, first), mm_of(ins, first + 1)) else {
                return Err(Unsupported);
            };
            return masked_store(t, ins, mmoff(src), mmoff(mask), 8);
        }
        M::Cvtpi2ps | M::Cvtpi2pd => {
            let d = xmm_of(ins, 0).ok_or(Unsupported)?;
            let s = t.mm_src(ins, 1)?;
            let o = if m == M::Cvtpi2ps {
                op::CVTPI2PS
            } else {
                op::CVTDQ2PD
            };
            t.sse_call(o, d, s, 0);
        }
        M::Cvtps2pi | M::Cvttps2pi | M::Cvtpd2pi | M::Cvttpd2pi => {
            let d = dst.ok_or(Unsupported)?;
            let s = t.xsrc(ins, 1)?;
            let o = match m {
                M::Cvtps2pi => op::CVTPS2DQ,
                M::Cvttps2pi => op::CVTTPS2DQ,
                M::Cvtpd2pi => op::CVTPD2DQ,
                _ => op::CVTTPD2DQ,
            };
            t.sse_call(o, MM0 + d, s, 0);
        }
        M::Pshufw => {
            let d = dst.ok_or(Unsupported)?;
            let s = t.mm_src(ins, 1)?;
            t.sse_call(op::PSHUFLW, MM0 + d, s, imm8(ins));
        }
        _ => {
            let d = dst.ok_or(Unsupported)?;
            if let Some(o) = helper_op(m) {
                let is_shift_imm = ins.op_count() == 2 && ins.op_kind(1) == OpKind::Immediate8;
                if is_shift_imm {
                    t.sse_call(o, MM0 + d, MM0 + d, ins.immediate(1) | 1 << 63);
                } else {
                    let s = t.mm_src(ins, 1)?;
                    t.sse_call(o, MM0 + d, s, 0);
                }
            } else if let Some(o) = binary_op(m) {
                let s = t.mm_src(ins, 1)?;
                t.ext_call(o, MM0 + d, s, imm8(ins));
            } else {
                return Err(Unsupported);
            }
        }
    }
    Ok(Flow::Next)
}
