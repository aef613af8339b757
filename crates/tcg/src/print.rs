//! The `-d op` printer: one op per line, temporaries named by kind.

use std::fmt;

use crate::{BinOp, Block, Op, Temp, TempKind};

struct T<'a>(&'a Block, Temp);

impl fmt::Display for T<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.temps.get(self.1 .0 as usize).map(|t| t.kind) {
            Some(TempKind::Global { name, .. }) => write!(f, "{name}"),
            Some(TempKind::Env) => write!(f, "env"),
            _ => write!(f, "t{}", self.1 .0),
        }
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "block pc={:#x} insns={} bytes={}{}",
            self.pc,
            self.num_insns,
            self.guest_size,
            if self.guest_start == self.pc {
                String::new()
            } else {
                format!(" from {:#x}", self.guest_start)
            }
        )?;
        for op in &self.ops {
            let t = |x: Temp| T(self, x);
            let ty = |x: Temp| match self.temps.get(x.0 as usize).map(|i| i.ty) {
                Some(ty) => format!("{ty:?}").to_lowercase(),
                None => "?".into(),
            };
            match op {
                Op::InsnStart { pc } => writeln!(f, " ---- {pc:#x}")?,
                Op::SetLabel { label } => writeln!(f, " L{}:", label.0)?,
                Op::Mov { dst, src } => writeln!(f, "  mov_{} {}, {}", ty(*dst), t(*dst), t(*src))?,
                Op::Const { dst, imm } => writeln!(f, "  movi_{} {}, {imm:#x}", ty(*dst), t(*dst))?,
                Op::Binary { op, dst, a, b } => writeln!(
                    f,
                    "  {}_{} {}, {}, {}",
                    match op {
                        BinOp::Lanes { op, bits } => format!("{op:?}{bits}").to_lowercase(),
                        _ => format!("{op:?}").to_lowercase(),
                    },
                    ty(*dst),
                    t(*dst),
                    t(*a),
                    t(*b)
                )?,
                Op::Unary { op, dst, src } => writeln!(
                    f,
                    "  {}_{} {}, {}",
                    format!("{op:?}").to_lowercase(),
                    ty(*dst),
                    t(*dst),
                    t(*src)
                )?,
                Op::Convert { conv, dst, src } => writeln!(
                    f,
                    "  {} {}, {}",
                    format!("{conv:?}").to_lowercase(),
                    t(*dst),
                    t(*src)
                )?,
                Op::Concat { dst, lo, hi } => {
                    writeln!(f, "  concat {}, {}, {}", t(*dst), t(*lo), t(*hi))?
                }
                Op::Extract {
                    dst,
                    src,
                    pos,
                    len,
                    signed,
                } => writeln!(
                    f,
                    "  {}extract_{} {}, {}, {pos}, {len}",
                    if *signed { "s" } else { "" },
                    ty(*dst),
                    t(*dst),
                    t(*src)
                )?,
                Op::Deposit {
                    dst,
                    base,
                    val,
                    pos,
                    len,
                } => writeln!(
                    f,
                    "  deposit_{} {}, {}, {}, {pos}, {len}",
                    ty(*dst),
                    t(*dst),
                    t(*base),
                    t(*val)
                )?,
                Op::SetCond { cond, dst, a, b } => writeln!(
                    f,
                    "  setcond_{} {}, {}, {}, {cond:?}",
                    ty(*a),
                    t(*dst),
                    t(*a),
                    t(*b)
                )?,
                Op::Select {
                    cond,
                    dst,
                    a,
                    b,
                    t: tv,
                    f: fv,
                } => writeln!(
                    f,
                    "  movcond_{} {}, {}, {}, {}, {}, {cond:?}",
                    ty(*dst),
                    t(*dst),
                    t(*a),
                    t(*b),
                    t(*tv),
                    t(*fv)
                )?,
                Op::BrCond { cond, a, b, label } => writeln!(
                    f,
                    "  brcond_{} {}, {}, {cond:?}, L{}",
                    ty(*a),
                    t(*a),
                    t(*b),
                    label.0
                )?,
                Op::Br { label } => writeln!(f, "  br L{}", label.0)?,
                Op::Load { dst, addr, mem } => writeln!(
                    f,
                    "  qemu_ld_{} {}, {}, {}{}{}",
                    ty(*dst),
                    t(*dst),
                    t(*addr),
                    if mem.signed { "s" } else { "u" },
                    mem.size * 8,
                    if mem.aligned { "+al" } else { "" }
                )?,
                Op::Store { src, addr, mem } => writeln!(
                    f,
                    "  qemu_st_{} {}, {}, {}{}",
                    ty(*src),
                    t(*src),
                    t(*addr),
                    mem.size * 8,
                    if mem.aligned { "+al" } else { "" }
                )?,
                Op::LoadState { dst, offset, mem } => writeln!(
                    f,
                    "  ld{}{}_{} {}, env, {offset:#x}",
                    mem.size * 8,
                    if mem.signed { "s" } else { "u" },
                    ty(*dst),
                    t(*dst)
                )?,
                Op::StoreState { src, offset, mem } => writeln!(
                    f,
                    "  st{}_{} {}, env, {offset:#x}",
                    mem.size * 8,
                    ty(*src),
                    t(*src)
                )?,
                Op::AtomicRmw {
                    op,
                    dst,
                    addr,
                    val,
                    mem,
                } => writeln!(
                    f,
                    "  atomic_{}{} {}, {}, {}",
                    format!("{op:?}").to_lowercase(),
                    mem.size * 8,
                    t(*dst),
                    t(*addr),
                    t(*val)
                )?,
                Op::AtomicCmpxchg {
                    dst,
                    addr,
                    expected,
                    new,
                    mem,
                } => writeln!(
                    f,
                    "  atomic_cmpxchg{} {}, {}, {}, {}",
                    mem.size * 8,
                    t(*dst),
                    t(*addr),
                    t(*expected),
                    t(*new)
                )?,
                Op::Fence { kind } => writeln!(f, "  mb {kind:?}")?,
                Op::Discard { global } => writeln!(f, "  discard {}", t(*global))?,
                Op::Call { helper, args, ret } => {
                    write!(f, "  call {}", helper.name)?;
                    if let Some(r) = ret {
                        write!(f, " -> {}", t(*r))?;
                    }
                    for a in args {
                        write!(f, ", {}", t(*a))?;
                    }
                    writeln!(f)?
                }
                Op::GotoTb { slot } => writeln!(f, "  goto_tb {slot}")?,
                Op::GotoStart { slot } => writeln!(f, "  goto_start {slot}")?,
                Op::ExitTb { code } => writeln!(f, "  exit_tb {code}")?,
                Op::LookupAndGotoPtr => writeln!(f, "  lookup_and_goto_ptr")?,
            }
        }
        Ok(())
    }
}
