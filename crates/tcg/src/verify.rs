//! The verifier: catches frontend bugs before a backend turns them into wrong host code.

use std::fmt;

use crate::{BinOp, Block, Conv, LaneOp, Op, Temp, TempKind, Type, UnOp};

/// A broken rule, with the index of the op that broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// Index into [`Block::ops`] (or `ops.len()` for rules about the whole block).
    pub op_index: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {}: {}", self.op_index, self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Checks that every temporary and label exists, operand types agree, `env` is never written,
/// memory sizes are valid, helper calls match their signatures, every label used is placed
/// exactly once, and the block cannot run off its end.
pub fn verify(block: &Block) -> Result<(), VerifyError> {
    let mut placed = vec![false; block.num_labels as usize];
    for (i, op) in block.ops.iter().enumerate() {
        let err = |message: String| VerifyError {
            op_index: i,
            message,
        };
        check_op(block, op, &mut placed).map_err(err)?;
    }
    let end = block.ops.len();
    for op in &block.ops {
        let label = match op {
            Op::Br { label } | Op::BrCond { label, .. } => label,
            _ => continue,
        };
        if !placed[label.0 as usize] {
            return Err(VerifyError {
                op_index: end,
                message: format!("label L{} is used but never placed", label.0),
            });
        }
    }
    match block.ops.last() {
        Some(op) if op.is_terminator() => Ok(()),
        _ => Err(VerifyError {
            op_index: end,
            message: "block does not end in an exit or branch".into(),
        }),
    }
}

fn check_op(block: &Block, op: &Op, placed: &mut [bool]) -> Result<(), String> {
    let ty = |t: Temp| -> Result<Type, String> {
        block
            .temps
            .get(t.0 as usize)
            .map(|i| i.ty)
            .ok_or_else(|| format!("temp t{} does not exist", t.0))
    };
    let write = |t: Temp| -> Result<Type, String> {
        let ty = ty(t)?;
        if block.temps[t.0 as usize].kind == TempKind::Env {
            return Err("env is read-only".into());
        }
        Ok(ty)
    };
    let same = |what: &str, a: Type, b: Type| -> Result<(), String> {
        if a == b {
            Ok(())
        } else {
            Err(format!("{what}: type {a:?} does not match {b:?}"))
        }
    };
    let int = |what: &str, t: Type| -> Result<(), String> {
        if t == Type::I128 {
            Err(format!("{what}: i128 not allowed here"))
        } else {
            Ok(())
        }
    };
    let mem_size = |size: u8, t: Type| -> Result<(), String> {
        if ![1, 2, 4, 8, 16].contains(&size) || u32::from(size) * 8 > t.bits() {
            Err(format!("memory access of {size} bytes does not fit {t:?}"))
        } else {
            Ok(())
        }
    };
    let label = |l: crate::Label| -> Result<(), String> {
        if l.0 < block.num_labels {
            Ok(())
        } else {
            Err(format!("label L{} does not exist", l.0))
        }
    };
    match *op {
        Op::InsnStart { .. } | Op::Fence { .. } | Op::ExitTb { .. } | Op::LookupAndGotoPtr => {}
        Op::GotoTb { slot } | Op::GotoStart { slot } => {
            if usize::from(slot) >= crate::JUMP_SLOTS {
                return Err(format!(
                    "goto_tb slot {slot} (only {} exist)",
                    crate::JUMP_SLOTS
                ));
            }
        }
        Op::Discard { global } => {
            if !matches!(
                block.temps.get(global.0 as usize).map(|t| t.kind),
                Some(TempKind::Global { .. })
            ) {
                return Err(format!("discard of t{}, not a global", global.0));
            }
        }
        Op::Mov { dst, src } => same("mov", write(dst)?, ty(src)?)?,
        Op::Const { dst, .. } => {
            write(dst)?;
        }
        Op::Binary { op, dst, a, b } => {
            let t = write(dst)?;
            same("binary a", t, ty(a)?)?;
            same("binary b", t, ty(b)?)?;
            if let BinOp::Lanes { op, bits } = op {
                same("lanes", t, Type::I128)?;
                if ![8, 16, 32, 64].contains(&bits) || (op == LaneOp::Swizzle && bits != 8) {
                    return Err(format!("{op:?} on lanes of {bits} bits"));
                }
            } else if !matches!(op, BinOp::And | BinOp::Or | BinOp::Xor | BinOp::AndNot) {
                int("binary", t)?;
            }
        }
        Op::Unary { op, dst, src } => {
            let t = write(dst)?;
            same("unary", t, ty(src)?)?;
            if op != UnOp::Not {
                int("unary", t)?;
            }
        }
        Op::Convert { conv, dst, src } => {
            let (d, s) = (write(dst)?, ty(src)?);
            let ok = match conv {
                Conv::Ext8s | Conv::Ext8u | Conv::Ext16s | Conv::Ext16u => {
                    d == s && d != Type::I128
                }
                Conv::Ext32s | Conv::Ext32u => d == Type::I64 && s == Type::I64,
                Conv::I32ToI64s | Conv::I32ToI64u => d == Type::I64 && s == Type::I32,
                Conv::I64ToI32 => d == Type::I32 && s == Type::I64,
                Conv::I128Lo | Conv::I128Hi | Conv::ByteSignBits => {
                    d == Type::I64 && s == Type::I128
                }
            };
            if !ok {
                return Err(format!("{conv:?} from {s:?} to {d:?}"));
            }
        }
        Op::Concat { dst, lo, hi } => {
            same("concat dst", write(dst)?, Type::I128)?;
            same("concat lo", ty(lo)?, Type::I64)?;
            same("concat hi", ty(hi)?, Type::I64)?;
        }
        Op::Extract {
            dst, src, pos, len, ..
        } => {
            let t = write(dst)?;
            same("extract", t, ty(src)?)?;
            int("extract", t)?;
            if len == 0 || u32::from(pos) + u32::from(len) > t.bits() {
                return Err(format!("extract field {pos}+{len} outside {t:?}"));
            }
        }
        Op::Deposit {
            dst,
            base,
            val,
            pos,
            len,
        } => {
            let t = write(dst)?;
            same("deposit base", t, ty(base)?)?;
            same("deposit val", t, ty(val)?)?;
            int("deposit", t)?;
            if len == 0 || u32::from(pos) + u32::from(len) > t.bits() {
                return Err(format!("deposit field {pos}+{len} outside {t:?}"));
            }
        }
        Op::SetCond { dst, a, b, .. } => {
            int("setcond", write(dst)?)?;
            same("setcond", ty(a)?, ty(b)?)?;
            int("setcond", ty(a)?)?;
        }
        Op::Select {
            dst, a, b, t, f, ..
        } => {
            let d = write(dst)?;
            same("movcond t", d, ty(t)?)?;
            same("movcond f", d, ty(f)?)?;
            same("movcond cmp", ty(a)?, ty(b)?)?;
            int("movcond cmp", ty(a)?)?;
        }
        Op::BrCond { a, b, label: l, .. } => {
            same("brcond", ty(a)?, ty(b)?)?;
            int("brcond", ty(a)?)?;
            label(l)?;
        }
        Op::Br { label: l } => label(l)?,
        Op::SetLabel { label: l } => {
            label(l)?;
            if std::mem::replace(&mut placed[l.0 as usize], true) {
                return Err(format!("label L{} placed twice", l.0));
            }
        }
        Op::Load { dst, addr, mem } => {
            mem_size(mem.size, write(dst)?)?;
            same("load address", ty(addr)?, Type::I64)?;
        }
        Op::Store { src, addr, mem } => {
            mem_size(mem.size, ty(src)?)?;
            same("store address", ty(addr)?, Type::I64)?;
        }
        Op::LoadState { dst, mem, .. } => mem_size(mem.size, write(dst)?)?,
        Op::StoreState { src, mem, .. } => mem_size(mem.size, ty(src)?)?,
        Op::AtomicRmw {
            dst,
            addr,
            val,
            mem,
            ..
        } => {
            let t = write(dst)?;
            int("atomic", t)?;
            same("atomic val", t, ty(val)?)?;
            same("atomic address", ty(addr)?, Type::I64)?;
            mem_size(mem.size, t)?;
        }
        Op::AtomicCmpxchg {
            dst,
            addr,
            expected,
            new,
            mem,
        } => {
            let t = write(dst)?;
            same("cmpxchg expected", t, ty(expected)?)?;
            same("cmpxchg new", t, ty(new)?)?;
            same("cmpxchg address", ty(addr)?, Type::I64)?;
            mem_size(mem.size, t)?;
            if (mem.size == 16) != (t == Type::I128) {
                return Err("cmpxchg: 16-byte accesses need i128 temps and only they".into());
            }
        }
        Op::Call {
            helper,
            ref args,
            ret,
        } => {
            if args.len() != helper.args.len() {
                return Err(format!(
                    "call {}: {} arguments given, {} expected",
                    helper.name,
                    args.len(),
                    helper.args.len()
                ));
            }
            if args.len() > 6
                || helper
                    .args
                    .iter()
                    .chain(&helper.ret)
                    .any(|t| *t != Type::I64)
            {
                return Err(format!(
                    "call {}: helpers take at most six i64s and return i64",
                    helper.name
                ));
            }
            for (a, want) in args.iter().zip(helper.args) {
                same(helper.name, ty(*a)?, *want)?;
            }
            match (ret, helper.ret) {
                (None, _) => {}
                (Some(r), Some(want)) => same(helper.name, write(r)?, want)?,
                (Some(_), None) => {
                    return Err(format!("call {}: helper returns nothing", helper.name))
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cond, Label, MemOp};

    #[test]
    fn accepts_a_well_formed_block_and_prints_it() {
        let mut b = Block::new(0x1000);
        let rax = b.global(Type::I64, 0, "rax");
        let rip = b.global(Type::I64, 128, "rip");
        let one = b.constant(Type::I64, 1);
        let skip = b.new_label();
        b.push(Op::InsnStart { pc: 0x1000 });
        b.push(Op::Binary {
            op: BinOp::Add,
            dst: rax,
            a: rax,
            b: one,
        });
        b.push(Op::BrCond {
            cond: Cond::Eq,
            a: rax,
            b: one,
            label: skip,
        });
        let v = b.new_temp(Type::I32);
        b.push(Op::Load {
            dst: v,
            addr: rax,
            mem: MemOp::signed(2),
        });
        b.push(Op::SetLabel { label: skip });
        b.push(Op::Const {
            dst: rip,
            imm: 0x1004,
        });
        b.push(Op::GotoTb { slot: 0 });
        verify(&b).unwrap();
        let text = b.to_string();
        assert!(text.contains("add_i64 rax, rax, t2"), "{text}");
        assert!(text.contains("qemu_ld_i32 t3, rax, s16"), "{text}");
        assert!(text.contains("goto_tb 0"), "{text}");
    }

    #[test]
    fn rejects_broken_blocks() {
        let mut b = Block::new(0);
        let a = b.new_temp(Type::I32);
        let c = b.new_temp(Type::I64);
        b.push(Op::Binary {
            op: BinOp::Add,
            dst: a,
            a,
            b: c,
        });
        b.push(Op::ExitTb { code: 0 });
        assert!(verify(&b).unwrap_err().message.contains("does not match"));

        let mut b = Block::new(0);
        b.push(Op::Br { label: Label(0) });
        assert!(verify(&b).unwrap_err().message.contains("does not exist"));

        let mut b = Block::new(0);
        let l = b.new_label();
        b.push(Op::Br { label: l });
        assert!(verify(&b).unwrap_err().message.contains("never placed"));

        let mut b = Block::new(0);
        let e = b.env();
        b.push(Op::Const { dst: e, imm: 0 });
        b.push(Op::ExitTb { code: 0 });
        assert!(verify(&b).unwrap_err().message.contains("read-only"));

        let mut b = Block::new(0);
        let x = b.new_temp(Type::I32);
        b.push(Op::Const { dst: x, imm: 0 });
        assert!(verify(&b).unwrap_err().message.contains("does not end"));

        let mut b = Block::new(0);
        let x = b.new_temp(Type::I32);
        let addr = b.new_temp(Type::I64);
        b.push(Op::Load {
            dst: x,
            addr,
            mem: MemOp::unsigned(8),
        });
        b.push(Op::ExitTb { code: 0 });
        assert!(verify(&b).unwrap_err().message.contains("does not fit"));
    }
}
