//! General-purpose instructions.

use iced_x86::{Code, ConditionCode, Instruction, Mnemonic as M, OpKind, Register};
use tcg::{AtomicOp, BinOp, Cond, Fence, MemOp, Op, Temp, Type, UnOp};

use crate::helpers;
use crate::state::{cc, flags};
use crate::translate::{mask, uses_ecx, Flow, Opnd, Tr, Unsupported, R};
use crate::{exit, vector};

const RAX: usize = 0;
const RCX: usize = 1;
const RDX: usize = 2;
const RBX: usize = 3;
const RSP: usize = 4;
const RBP: usize = 5;
const RSI: usize = 6;
const RDI: usize = 7;

fn ok() -> R {
    Ok(Flow::Next)
}

/// Translates one instruction (the dispatcher over mnemonics).
pub(crate) fn translate_insn(t: &mut Tr, ins: &Instruction) -> R {
    use M::*;
    match ins.mnemonic() {
        Nop | Endbr64 | Endbr32 | Pause | Prefetchnta | Prefetcht0 | Prefetcht1 | Prefetcht2
        | Prefetchw | Prefetch | Prefetchit0 | Prefetchit1 => ok(),
        // fwait: raises #MF if an unmasked x87 exception is pending, else nothing.
        Wait => {
            t.x87_pending_check();
            ok()
        }
        // 0f 0d is AMD's prefetch group: its register forms are #UD (the hint NOPs
        // 0f 18..0f 1f take registers too).
        Reservednop
            if ins.op0_kind() == OpKind::Register
                && matches!(
                    ins.code(),
                    Code::Reservednop_rm16_r16_0F0D
                        | Code::Reservednop_rm32_r32_0F0D
                        | Code::Reservednop_rm64_r64_0F0D
                ) =>
        {
            Err(Unsupported)
        }
        Reservednop => ok(),
        Xlatb => {
            // al = [rbx + zero-extended al] (ebx with a 67 prefix; segment override if
            // any). Not `ea`: its index is al, not a full register.
            let al = t.get_reg(RAX, 1, false);
            let mut a = t.bin(BinOp::Add, t.regs[RBX], al);
            if ins.memory_base() == Register::EBX {
                a = t.zext(a, 4);
            }
            match ins.memory_segment() {
                Register::FS => a = t.bin(BinOp::Add, a, t.fs_base),
                Register::GS => a = t.bin(BinOp::Add, a, t.gs_base),
                _ => {}
            }
            let v = t.load(a, 1);
            t.set_reg(RAX, 1, false, v);
            ok()
        }
        Mov => mov(t, ins),
        Movzx => movx(t, ins, false),
        Movsx | Movsxd => movx(t, ins, true),
        Lea => lea(t, ins),
        Add | Or | Adc | Sbb | And | Sub | Xor | Cmp | Test => arith(t, ins),
        Inc | Dec => incdec(t, ins),
        Neg | Not => negnot(t, ins),
        Mul | Imul if ins.op_count() == 1 => mul1(t, ins),
        Imul => imul(t, ins),
        Div | Idiv => div(t, ins),
        Shl | Sal | Shr | Sar => shift(t, ins),
        Rol | Ror => rotate(t, ins),
        Rcl | Rcr => rotate_carry(t, ins),
        Shld | Shrd => shiftd(t, ins),
        Bt | Bts | Btr | Btc => bittest(t, ins),
        Bsf | Bsr | Tzcnt | Lzcnt | Popcnt => bitscan(t, ins),
        Bswap => bswap(t, ins),
        Xchg => xchg(t, ins),
        Xadd => xadd(t, ins),
        Cmpxchg => cmpxchg(t, ins),
        Cmpxchg8b | Cmpxchg16b => cmpxchg_wide(t, ins),
        Cbw | Cwde | Cdqe => {
            let size = match ins.mnemonic() {
                Cbw => 2,
                Cwde => 4,
                _ => 8,
            };
            let v = t.get_reg(RAX, size / 2, false);
            let v = t.sext(v, size / 2);
            t.set_reg(RAX, size, false, v);
            ok()
        }
        Cwd | Cdq | Cqo => {
            let size = match ins.mnemonic() {
                Cwd => 2,
                Cdq => 4,
                _ => 8,
            };
            let v = t.sext(t.regs[RAX], size);
            let s = t.bini(BinOp::Sar, v, 63);
            t.set_reg(RDX, size, false, s);
            ok()
        }
        Push => push(t, ins),
        Pop => pop(t, ins),
        Pushf | Pushfq => pushf(t, ins),
        Popf | Popfq => popf(t, ins),
        Lahf => {
            let f = t.flags_all();
            let v = t.bini(
                BinOp::And,
                f,
                flags::SF | flags::ZF | flags::AF | flags::PF | flags::CF,
            );
            let v = t.bini(BinOp::Or, v, 2);
            t.set_reg(RAX, 1, true, v);
            ok()
        }
        Sahf => {
            let f = t.flags_all();
            let keep = t.bini(BinOp::And, f, flags::OF);
            let ah = t.get_reg(RAX, 1, true);
            let ah = t.bini(
                BinOp::And,
                ah,
                flags::SF | flags::ZF | flags::AF | flags::PF | flags::CF,
            );
            let nf = t.bin(BinOp::Or, keep, ah);
            t.set_cc_eflags(nf);
            ok()
        }
        Enter => enter(t, ins),
        Leave => {
            if ins.code() != Code::Leaveq {
                return Err(Unsupported);
            }
            t.mov(t.regs[RSP], t.regs[RBP]);
            let v = t.load(t.regs[RSP], 8);
            let sp = t.bini(BinOp::Add, t.regs[RSP], 8);
            t.mov(t.regs[RSP], sp);
            t.mov(t.regs[RBP], v);
            ok()
        }
        Cmovo | Cmovno | Cmovb | Cmovae | Cmove | Cmovne | Cmovbe | Cmova | Cmovs | Cmovns
        | Cmovp | Cmovnp | Cmovl | Cmovge | Cmovle | Cmovg => cmov(t, ins),
        Seto | Setno | Setb | Setae | Sete | Setne | Setbe | Seta | Sets | Setns | Setp | Setnp
        | Setl | Setge | Setle | Setg => {
            let d = t.opnd(ins, 0)?;
            let v = t.cond_value(cc_code(ins)?);
            t.write(d, v);
            ok()
        }
        Jo | Jno | Jb | Jae | Je | Jne | Jbe | Ja | Js | Jns | Jp | Jnp | Jl | Jge | Jle | Jg => {
            let target = branch_target(ins)?;
            let (c, a, b) = t.cond(cc_code(ins)?);
            if t.region.continues() {
                if target != t.next && t.region.follows_to(target) {
                    // The block goes on at the target (see `predecode`): the fall-through
                    // is the branch that leaves.
                    let fallthrough = t.next;
                    t.branch_within(c.invert(), a, b, fallthrough);
                    t.next = target;
                } else {
                    t.branch_within(c, a, b, target);
                }
                return ok();
            }
            t.sync_cc();
            let taken = t.label();
            t.brcond(c, a, b, taken);
            t.goto_tb(t.next);
            t.set_label(taken);
            t.goto_tb(target);
            Ok(Flow::End)
        }
        Jmp => {
            if ins.op_kind(0) == OpKind::NearBranch64 {
                let target = ins.near_branch64();
                if t.region.follows_to(target) {
                    // The block goes on at the target.
                    t.next = target;
                    return ok();
                }
                t.goto_tb(target);
            } else {
                let o = t.opnd(ins, 0)?;
                if o.size() != 8 {
                    return Err(Unsupported);
                }
                let v = t.read(o);
                t.goto_ptr(v);
            }
            Ok(Flow::End)
        }
        Call => {
            let target = if ins.op_kind(0) == OpKind::NearBranch64 {
                None
            } else {
                let o = t.opnd(ins, 0)?;
                if o.size() != 8 {
                    return Err(Unsupported);
                }
                Some(t.read(o))
            };
            let ret = t.cst(t.next);
            push_val(t, ret, 8);
            match target {
                None => t.goto_tb(ins.near_branch64()),
                Some(v) => t.goto_ptr(v),
            }
            Ok(Flow::End)
        }
        Ret => {
            if ins.stack_pointer_increment() < 8 {
                return Err(Unsupported);
            }
            let v = t.load(t.regs[RSP], 8);
            let n = ins.stack_pointer_increment() as u64;
            let sp = t.bini(BinOp::Add, t.regs[RSP], n);
            t.mov(t.regs[RSP], sp);
            t.goto_ptr(v);
            Ok(Flow::End)
        }
        Loop | Loope | Loopne | Jrcxz | Jecxz => loops(t, ins),
        Syscall => {
            t.sync_cc_side();
            t.movi(t.rip, t.next);
            t.b.push(Op::ExitTb {
                code: exit::SYSCALL,
            });
            Ok(Flow::End)
        }
        Int3 => {
            t.raise_at(vector::BP, 0, t.next);
            Ok(Flow::End)
        }
        Int => {
            // Linux gives user mode the gates of #BP (3) and #OF (4): traps, reported after
            // the instruction as `int3` and `into` are. Every other vector is #GP.
            let n = ins.immediate8() as u32;
            match n {
                3 => t.raise_at(vector::BP, 0, t.next),
                4 => t.raise_at(vector::OF, 0, t.next),
                _ => t.raise(vector::GP, (n << 3) | 2),
            }
            Ok(Flow::End)
        }
        Hlt => {
            t.raise(vector::GP, 0);
            Ok(Flow::End)
        }
        Ud0 | Ud1 | Ud2 => {
            t.raise(vector::UD, 0);
            Ok(Flow::End)
        }
        Cpuid => {
            let m = t.cst(t.cfg.cpu.bits());
            let args = vec![t.env, m];
            t.call(&helpers::CPUID, args);
            ok()
        }
        Rdtsc | Rdtscp => {
            if ins.mnemonic() == Rdtscp && !t.cfg.cpu.rdtscp {
                return Err(Unsupported);
            }
            let v = t.call(&helpers::RDTSC, vec![]);
            t.set_reg(RAX, 4, false, v);
            let hi = t.bini(BinOp::Shr, v, 32);
            t.set_reg(RDX, 4, false, hi);
            if ins.mnemonic() == Rdtscp {
                let z = t.cst(0);
                t.set_reg(RCX, 4, false, z);
            }
            ok()
        }
        Cld | Std => {
            let v = if ins.mnemonic() == Cld { 1 } else { u64::MAX };
            t.movi(t.df, v);
            ok()
        }
        Clc | Stc | Cmc => {
            let f = t.flags_all();
            let nf = match ins.mnemonic() {
                Clc => t.bini(BinOp::AndNot, f, flags::CF),
                Stc => t.bini(BinOp::Or, f, flags::CF),
                _ => t.bini(BinOp::Xor, f, flags::CF),
            };
            t.set_cc_eflags(nf);
            ok()
        }
        Lfence | Sfence | Mfence => {
            let kind = match ins.mnemonic() {
                Lfence => Fence::LoadLoad,
                Sfence => Fence::StoreStore,
                _ => Fence::Full,
            };
            t.b.push(Op::Fence { kind });
            ok()
        }
        Movsb | Movsw | Movsq | Stosb | Stosw | Stosd | Stosq | Lodsb | Lodsw | Lodsd | Lodsq
        | Cmpsb | Cmpsw | Cmpsq | Scasb | Scasw | Scasd | Scasq => string_op(t, ins),
        Movsd if ins.code() == Code::Movsd_m32_m32 => string_op(t, ins),
        Cmpsd if ins.code() == Code::Cmpsd_m32_m32 => string_op(t, ins),
        _ => match crate::x87::translate_x87(t, ins) {
            Err(Unsupported) => crate::sse::translate_sse(t, ins),
            done => done,
        },
    }
}

fn cc_code(ins: &Instruction) -> Result<u8, Unsupported> {
    match ins.condition_code() {
        ConditionCode::None => Err(Unsupported),
        c => Ok(c as u8 - 1),
    }
}

fn branch_target(ins: &Instruction) -> Result<u64, Unsupported> {
    if ins.op_kind(0) == OpKind::NearBranch64 {
        Ok(ins.near_branch64())
    } else {
        Err(Unsupported)
    }
}

fn mov(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let s = t.opnd(ins, 1)?;
    let v = t.read(s);
    t.write(d, v);
    ok()
}

fn movx(t: &mut Tr, ins: &Instruction, signed: bool) -> R {
    let d = t.opnd(ins, 0)?;
    let s = t.opnd(ins, 1)?;
    let v = t.read(s);
    let v = if signed { t.sext(v, s.size()) } else { v };
    t.write(d, v);
    ok()
}

fn lea(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    if ins.op_kind(1) != OpKind::Memory {
        return Err(Unsupported);
    }
    let a = t.ea(ins, false)?;
    t.write(d, a);
    ok()
}

/// A lock-prefixed read-modify-write by compare-and-swap loop: `f(old) -> new`.
fn cas_loop(t: &mut Tr, addr: Temp, size: u32, f: impl Fn(&mut Tr, Temp) -> Temp) -> (Temp, Temp) {
    t.split_atomic_exit(addr, size);
    let top = t.label();
    t.set_label(top);
    let old = t.load(addr, size);
    let new = f(t, old);
    let got = t.tmp();
    t.b.push(Op::AtomicCmpxchg {
        dst: got,
        addr,
        expected: old,
        new,
        mem: MemOp::unsigned(size as u8),
    });
    t.brcond(Cond::Ne, got, old, top);
    (old, new)
}

fn atomic_rmw(t: &mut Tr, op: AtomicOp, addr: Temp, val: Temp, size: u32) -> Temp {
    t.split_atomic_exit(addr, size);
    let d = t.tmp();
    t.b.push(Op::AtomicRmw {
        op,
        dst: d,
        addr,
        val,
        mem: MemOp::unsigned(size as u8),
    });
    d
}

fn arith(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let s = t.opnd(ins, 1)?;
    let size = d.size();
    let m = ins.mnemonic();
    // An add's result needs its zero extension when written anyway, so its operands need
    // none. Sub, sbb and cmp keep theirs (conditions compare them); and, or and xor too:
    // the backend sees that a result of zero-extended operands needs no extension.
    let low_only = matches!(m, M::Add | M::Adc);
    let b = if low_only { t.read_low(s) } else { t.read(s) };
    let locked = ins.has_lock_prefix();
    if locked && !matches!(d, Opnd::Mem { .. }) {
        return Err(Unsupported);
    }
    // Carry in, read before anything changes the flags.
    let cin = if matches!(m, M::Adc | M::Sbb) {
        Some(t.flag_cf())
    } else {
        None
    };
    let op = match m {
        M::Add | M::Adc => BinOp::Add,
        M::Sub | M::Sbb | M::Cmp => BinOp::Sub,
        M::And | M::Test => BinOp::And,
        M::Or => BinOp::Or,
        _ => BinOp::Xor,
    };
    // `cmp $0` and the like, and `test r, r` (`or r, r`): the result is the operand (no op
    // on the way to the flags; Cranelift does not fold `x & x`).
    let same_reg = matches!(
        (d, s),
        (Opnd::Reg { r, size: n, high: h }, Opnd::Reg { r: r2, size: n2, high: h2 })
            if r == r2 && n == n2 && h == h2
    );
    let identity = cin.is_none()
        && (matches!(s, Opnd::Imm { v, .. } if v & mask(size) == 0)
            && matches!(op, BinOp::Add | BinOp::Sub | BinOp::Or | BinOp::Xor)
            || same_reg && matches!(op, BinOp::And | BinOp::Or));
    let compute = |t: &mut Tr, a: Temp| {
        if identity {
            return t.copy(a);
        }
        let r = t.bin(op, a, b);
        match cin {
            Some(c) => t.bin(op, r, c),
            None => r,
        }
    };
    let mut a_read = None;
    let r = match (locked, d) {
        (true, Opnd::Mem { addr, .. }) if cin.is_none() => {
            let aop = match op {
                BinOp::Add => AtomicOp::Add,
                BinOp::Sub => AtomicOp::Sub,
                BinOp::And => AtomicOp::And,
                BinOp::Or => AtomicOp::Or,
                _ => AtomicOp::Xor,
            };
            let old = atomic_rmw(t, aop, addr, b, size);
            compute(t, old)
        }
        (true, Opnd::Mem { addr, .. }) => cas_loop(t, addr, size, compute).1,
        _ => {
            let a = if low_only { t.read_low(d) } else { t.read(d) };
            a_read = Some(a);
            let r = compute(t, a);
            if !matches!(m, M::Cmp | M::Test) {
                t.write(d, r);
            }
            r
        }
    };
    match m {
        M::Add => t.set_cc(cc::ADD, size, r, Some(b), None),
        M::Adc => t.set_cc(cc::ADC, size, r, Some(b), cin),
        M::Sub | M::Cmp if !locked => {
            // `read` zero-extends registers and memory; an immediate is sign-extended.
            let bz = match s {
                Opnd::Imm { v, .. } => t.cst(v & mask(size)),
                _ => b,
            };
            t.set_cc_sub(size, r, a_read.expect("unlocked"), bz);
        }
        M::Sub | M::Cmp => t.set_cc(cc::SUB, size, r, Some(b), None),
        M::Sbb => t.set_cc(cc::SBB, size, r, Some(b), cin),
        _ => t.set_cc(cc::LOGIC, size, r, None, None),
    }
    ok()
}

fn incdec(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let size = d.size();
    let inc = ins.mnemonic() == M::Inc;
    // The carry inc/dec keep, unless nothing reads it.
    let c = if t.live & flags::CF != 0 {
        t.flag_cf()
    } else {
        t.cst(0)
    };
    let one = t.cst(1);
    let op = if inc { BinOp::Add } else { BinOp::Sub };
    let r = match d {
        Opnd::Mem { addr, .. } if ins.has_lock_prefix() => {
            let aop = if inc { AtomicOp::Add } else { AtomicOp::Sub };
            let old = atomic_rmw(t, aop, addr, one, size);
            t.bin(op, old, one)
        }
        _ if ins.has_lock_prefix() => return Err(Unsupported),
        _ => {
            let a = t.read(d);
            let r = t.bin(op, a, one);
            t.write(d, r);
            r
        }
    };
    t.set_cc(if inc { cc::INC } else { cc::DEC }, size, r, Some(c), None);
    ok()
}

fn negnot(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let size = d.size();
    let neg = ins.mnemonic() == M::Neg;
    let f = |t: &mut Tr, a: Temp| {
        if neg {
            t.un(UnOp::Neg, a)
        } else {
            t.un(UnOp::Not, a)
        }
    };
    let (a, r) = match d {
        Opnd::Mem { addr, .. } if ins.has_lock_prefix() => cas_loop(t, addr, size, f),
        _ if ins.has_lock_prefix() => return Err(Unsupported),
        _ => {
            let a = t.read(d);
            let r = f(t, a);
            t.write(d, r);
            (a, r)
        }
    };
    if neg {
        t.set_cc(cc::SUB, size, r, Some(a), None);
    }
    ok()
}

fn mul1(t: &mut Tr, ins: &Instruction) -> R {
    let s = t.opnd(ins, 0)?;
    let size = s.size();
    let signed = ins.mnemonic() == M::Imul;
    let b = t.read(s);
    let (lo, ind) = if size == 8 {
        let a = t.regs[RAX];
        let lo = t.bin(BinOp::Mul, a, b);
        let hi = t.bin(if signed { BinOp::MulHs } else { BinOp::MulHu }, a, b);
        let ind = if signed {
            let s = t.bini(BinOp::Sar, lo, 63);
            t.bin(BinOp::Sub, hi, s)
        } else {
            t.copy(hi)
        };
        t.mov(t.regs[RAX], lo);
        t.mov(t.regs[RDX], hi);
        (lo, ind)
    } else {
        let a = t.get_reg(RAX, size, false);
        let (a, b) = if signed {
            (t.sext(a, size), t.sext(b, size))
        } else {
            (a, b)
        };
        let p = t.bin(BinOp::Mul, a, b);
        let ind = if signed {
            let x = t.sext(p, size);
            t.bin(BinOp::Sub, p, x)
        } else {
            t.bini(BinOp::Shr, p, u64::from(size * 8))
        };
        if size == 1 {
            t.set_reg(RAX, 2, false, p);
        } else {
            t.set_reg(RAX, size, false, p);
            let hi = t.bini(BinOp::Shr, p, u64::from(size * 8));
            t.set_reg(RDX, size, false, hi);
        }
        (p, ind)
    };
    t.set_cc(cc::MUL, size, lo, Some(ind), None);
    ok()
}

fn imul(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let size = d.size();
    let (x, y) = if ins.op_count() == 3 {
        let s1 = t.opnd(ins, 1)?;
        let s2 = t.opnd(ins, 2)?;
        (t.read(s1), t.read(s2))
    } else {
        let s = t.opnd(ins, 1)?;
        (t.read(d), t.read(s))
    };
    let (lo, ind) = if size == 8 {
        let lo = t.bin(BinOp::Mul, x, y);
        let hi = t.bin(BinOp::MulHs, x, y);
        let s = t.bini(BinOp::Sar, lo, 63);
        (lo, t.bin(BinOp::Sub, hi, s))
    } else {
        let (x, y) = (t.sext(x, size), t.sext(y, size));
        let p = t.bin(BinOp::Mul, x, y);
        let e = t.sext(p, size);
        (p, t.bin(BinOp::Sub, p, e))
    };
    t.write(d, lo);
    t.set_cc(cc::MUL, size, lo, Some(ind), None);
    ok()
}

/// `div`/`idiv`. 32- and 64-bit divisions whose dividend fits in one register (rdx/edx zero,
/// or the sign of rax/eax, the usual case: compilers emit `xor edx, edx` or `cqo` first) divide
/// inline; the rest, and every case that may raise #DE (divisor 0, a signed divisor of -1),
/// go to the helper. Flags are undefined after a division: both paths leave them alone.
fn div(t: &mut Tr, ins: &Instruction) -> R {
    let s = t.opnd(ins, 0)?;
    let size = s.size();
    let v = t.read(s);
    let signed = ins.mnemonic() == M::Idiv;
    let fast = (size >= 4).then(|| {
        let slow = t.label();
        let done = t.label();
        let z = t.cst(0);
        t.brcond(Cond::Eq, v, z, slow);
        let (n, d) = if signed {
            let m1 = t.cst(u64::MAX);
            let d = t.sext(v, size);
            t.brcond(Cond::Eq, d, m1, slow);
            let n = t.sext(t.regs[RAX], size);
            // rdx must be the sign extension of the low half.
            let sign = t.bini(BinOp::Sar, n, 63);
            let (hi, want) = if size == 8 {
                (t.regs[RDX], sign)
            } else {
                let hi = t.bini(BinOp::And, t.regs[RDX], 0xffff_ffff);
                (hi, t.bini(BinOp::And, sign, 0xffff_ffff))
            };
            t.brcond(Cond::Ne, hi, want, slow);
            (n, d)
        } else {
            let (n, hi) = if size == 8 {
                (t.regs[RAX], t.regs[RDX])
            } else {
                (
                    t.bini(BinOp::And, t.regs[RAX], 0xffff_ffff),
                    t.bini(BinOp::And, t.regs[RDX], 0xffff_ffff),
                )
            };
            t.brcond(Cond::Ne, hi, z, slow);
            (n, v)
        };
        let (qop, rop) = if signed {
            (BinOp::DivS, BinOp::RemS)
        } else {
            (BinOp::DivU, BinOp::RemU)
        };
        let q = t.bin(qop, n, d);
        let r = t.bin(rop, n, d);
        t.set_reg(RAX, size, false, q);
        t.set_reg(RDX, size, false, r);
        t.b.push(Op::Br { label: done });
        t.set_label(slow);
        done
    });
    let kind = u64::from(size) | if signed { 0x100 } else { 0 };
    let k = t.cst(kind);
    let args = vec![t.env, v, k];
    let r = t.call(&helpers::DIV, args);
    let z = t.cst(0);
    t.raise_if(Cond::Ne, r, z, vector::DE);
    if let Some(done) = fast {
        t.set_label(done);
    }
    ok()
}

/// The shift count operand, masked as x86 does, and whether it is a known constant.
fn shift_count(
    t: &mut Tr,
    ins: &Instruction,
    i: u32,
    size: u32,
) -> Result<(Temp, Option<u64>), Unsupported> {
    let cm = if size == 8 { 0x3f } else { 0x1f };
    match t.opnd(ins, i)? {
        Opnd::Imm { v, .. } => {
            let c = v & cm;
            Ok((t.cst(c), Some(c)))
        }
        Opnd::Reg {
            r: RCX,
            size: 1,
            high: false,
        } => {
            let c = t.bini(BinOp::And, t.regs[RCX], cm);
            Ok((c, None))
        }
        _ => Err(Unsupported),
    }
}

/// Sets the flags of a shift-like op unless the count is zero (then they stay unchanged).
fn shift_flags(
    t: &mut Tr,
    count: Temp,
    known: Option<u64>,
    body: impl FnOnce(&mut Tr) -> (u64, Temp, Temp),
) {
    if t.live & flags::OSZAPC == 0 {
        // Nothing reads them: leave the flags alone whatever the count.
        return;
    }
    match known {
        Some(0) => {}
        Some(_) => {
            let (op, dst, src) = body(t);
            set_cc_op(t, op, dst, src);
        }
        None => {
            t.sync_cc();
            let skip = t.label();
            t.brcondi(Cond::Eq, count, 0, skip);
            let (op, dst, src) = body(t);
            t.mov(t.cc_dst, dst);
            t.mov(t.cc_src, src);
            t.movi(t.cc_op, op);
            t.set_label(skip);
            t.cc_dynamic();
        }
    }
}

fn set_cc_op(t: &mut Tr, op: u64, dst: Temp, src: Temp) {
    let (kind, size) = (op / 4, 1u32 << (op % 4));
    if kind == cc::EFLAGS {
        t.set_cc_eflags(src);
    } else {
        t.set_cc(kind, size, dst, Some(src), None);
    }
}

fn shift(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let size = d.size();
    let (cnt, known) = shift_count(t, ins, 1, size)?;
    let v = t.read(d);
    let m = ins.mnemonic();
    let (x, op) = match m {
        M::Shl | M::Sal => (v, BinOp::Shl),
        M::Shr => (v, BinOp::Shr),
        _ => (t.sext(v, size), BinOp::Sar),
    };
    let r = t.bin(op, x, cnt);
    t.write(d, r);
    let kind = if op == BinOp::Shl { cc::SHL } else { cc::SAR };
    shift_flags(t, cnt, known, |t| {
        let c1 = t.bini(BinOp::Sub, cnt, 1);
        let src = t.bin(op, x, c1);
        (cc::op(kind, size), r, src)
    });
    ok()
}

fn rotate(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let size = d.size();
    let bits = u64::from(size * 8);
    let (cnt, known) = shift_count(t, ins, 1, size)?;
    let v = t.read(d);
    let left = ins.mnemonic() == M::Rol;
    let r = if size == 8 {
        t.bin(if left { BinOp::Rotl } else { BinOp::Rotr }, v, cnt)
    } else {
        let n = t.bini(BinOp::And, cnt, bits - 1);
        let bn = t.cst(bits);
        let inv = t.bin(BinOp::Sub, bn, n);
        let (a, b) = if left {
            (t.bin(BinOp::Shl, v, n), t.bin(BinOp::Shr, v, inv))
        } else {
            (t.bin(BinOp::Shr, v, n), t.bin(BinOp::Shl, v, inv))
        };
        let r = t.bin(BinOp::Or, a, b);
        t.zext(r, size)
    };
    t.write(d, r);
    shift_flags(t, cnt, known, |t| {
        // Rotates keep SF, ZF, AF, PF.
        let f = if t.live & (flags::OSZAPC & !(flags::CF | flags::OF)) != 0 {
            t.flags_all()
        } else {
            t.cst(0)
        };
        let f = t.bini(BinOp::AndNot, f, flags::CF | flags::OF);
        let msb = t.extract(r, (bits - 1) as u8, 1);
        let (cf, of) = if left {
            let cf = t.bini(BinOp::And, r, 1);
            (cf, t.bin(BinOp::Xor, msb, cf))
        } else {
            let b2 = t.extract(r, (bits - 2) as u8, 1);
            (msb, t.bin(BinOp::Xor, msb, b2))
        };
        let of = t.bini(BinOp::Shl, of, 11);
        let f = t.bin(BinOp::Or, f, cf);
        let f = t.bin(BinOp::Or, f, of);
        (cc::EFLAGS, r, f)
    });
    ok()
}

fn rotate_carry(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let size = d.size();
    let cnt = match t.opnd(ins, 1)? {
        Opnd::Imm { v, .. } => t.cst(v),
        Opnd::Reg {
            r: RCX,
            size: 1,
            high: false,
        } => t.copy(t.regs[RCX]),
        _ => return Err(Unsupported),
    };
    let v = t.read(d);
    t.sync_cc();
    let kind = u64::from(size) | if ins.mnemonic() == M::Rcr { 0x100 } else { 0 };
    let k = t.cst(kind);
    let args = vec![t.env, v, cnt, k];
    let r = t.call(&helpers::RCX, args);
    t.cc_dynamic();
    t.write(d, r);
    ok()
}

fn shiftd(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let s = t.opnd(ins, 1)?;
    let size = d.size();
    let bits = u64::from(size * 8);
    let (cnt, known) = shift_count(t, ins, 2, size)?;
    let a = t.read(d);
    let b = t.read(s);
    let left = ins.mnemonic() == M::Shld;
    let (r, src) = if size == 8 {
        let c64 = t.cst(64);
        let inv = t.bin(BinOp::Sub, c64, cnt);
        let (x, y) = if left {
            (t.bin(BinOp::Shl, a, cnt), t.bin(BinOp::Shr, b, inv))
        } else {
            (t.bin(BinOp::Shr, a, cnt), t.bin(BinOp::Shl, b, inv))
        };
        let r = t.bin(BinOp::Or, x, y);
        let z = t.cst(0);
        let r = t.select(Cond::Eq, cnt, z, a, r);
        let c1 = t.bini(BinOp::Sub, cnt, 1);
        let src = t.bin(if left { BinOp::Shl } else { BinOp::Shr }, a, c1);
        (r, src)
    } else {
        // Concatenate into one 64-bit value (the count is below 32).
        let c1 = t.bini(BinOp::Sub, cnt, 1);
        if left {
            let hi = t.bini(BinOp::Shl, a, bits);
            let x = t.bin(BinOp::Or, hi, b);
            let y = t.bin(BinOp::Shl, x, cnt);
            let r = t.bini(BinOp::Shr, y, bits);
            let src = t.bin(BinOp::Shl, a, c1);
            (r, src)
        } else {
            let hi = t.bini(BinOp::Shl, b, bits);
            let x = t.bin(BinOp::Or, hi, a);
            let r = t.bin(BinOp::Shr, x, cnt);
            let src = t.bin(BinOp::Shr, x, c1);
            (r, src)
        }
    };
    t.write(d, r);
    let kind = if left { cc::SHL } else { cc::SAR };
    shift_flags(t, cnt, known, |_| (cc::op(kind, size), r, src));
    ok()
}

fn bittest(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let s = t.opnd(ins, 1)?;
    let size = d.size();
    let bits = u64::from(size * 8);
    let (target, bit) = match (d, s) {
        (_, Opnd::Imm { v, .. }) => {
            let b = t.cst(v & (bits - 1));
            (d, b)
        }
        (Opnd::Reg { .. }, _) => {
            let o = t.read(s);
            (d, t.bini(BinOp::And, o, bits - 1))
        }
        (Opnd::Mem { addr, size }, _) => {
            let o = t.read(s);
            let o = t.sext(o, s.size());
            let idx = t.bini(BinOp::Sar, o, bits.trailing_zeros() as u64);
            let byte = t.bini(BinOp::Shl, idx, size.trailing_zeros() as u64);
            let a = t.bin(BinOp::Add, addr, byte);
            let b = t.bini(BinOp::And, o, bits - 1);
            (Opnd::Mem { addr: a, size }, b)
        }
        _ => return Err(Unsupported),
    };
    let one = t.cst(1);
    let m = t.bin(BinOp::Shl, one, bit);
    let op = ins.mnemonic();
    let old = match target {
        Opnd::Mem { addr, .. } if ins.has_lock_prefix() && op != M::Bt => match op {
            M::Bts => atomic_rmw(t, AtomicOp::Or, addr, m, size),
            M::Btr => {
                let nm = t.un(UnOp::Not, m);
                atomic_rmw(t, AtomicOp::And, addr, nm, size)
            }
            _ => atomic_rmw(t, AtomicOp::Xor, addr, m, size),
        },
        _ if ins.has_lock_prefix() => return Err(Unsupported),
        _ => {
            let v = t.read(target);
            let nv = match op {
                M::Bts => Some(t.bin(BinOp::Or, v, m)),
                M::Btr => Some(t.bin(BinOp::AndNot, v, m)),
                M::Btc => Some(t.bin(BinOp::Xor, v, m)),
                _ => None,
            };
            if let Some(nv) = nv {
                t.write(target, nv);
            }
            v
        }
    };
    let cf = t.bin(BinOp::Shr, old, bit);
    let cf = t.bini(BinOp::And, cf, 1);
    // bt keeps the other flags.
    let f = if t.live & (flags::OSZAPC & !flags::CF) != 0 {
        t.flags_all()
    } else {
        t.cst(0)
    };
    let f = t.bini(BinOp::AndNot, f, flags::CF);
    let f = t.bin(BinOp::Or, f, cf);
    t.set_cc_eflags(f);
    ok()
}

fn bitscan(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let s = t.opnd(ins, 1)?;
    let size = d.size();
    let bits = u64::from(size * 8);
    let v = t.read(s);
    let z = t.cst(0);
    let mut m = ins.mnemonic();
    let cpu = t.cfg.cpu;
    // Without BMI1/LZCNT the F3 prefix is ignored: tzcnt runs as bsf, lzcnt as bsr.
    if m == M::Tzcnt && !cpu.bmi1 {
        m = M::Bsf;
    }
    if m == M::Lzcnt && !cpu.lzcnt {
        m = M::Bsr;
    }
    if m == M::Popcnt && !cpu.popcnt {
        return Err(Unsupported);
    }
    let zf_of = |t: &mut Tr, x: Temp| {
        let isz = t.setcond(Cond::Eq, x, z);
        t.bini(BinOp::Shl, isz, 6)
    };
    match m {
        M::Bsf | M::Bsr => {
            let idx = if m == M::Bsf {
                t.un(UnOp::Ctz, v)
            } else {
                let c = t.un(UnOp::Clz, v);
                let c63 = t.cst(63);
                t.bin(BinOp::Sub, c63, c)
            };
            // A zero source leaves the destination unchanged.
            let skip = t.label();
            t.brcond(Cond::Eq, v, z, skip);
            t.write(d, idx);
            t.set_label(skip);
            let f = zf_of(t, v);
            t.set_cc_eflags(f);
        }
        M::Tzcnt | M::Lzcnt => {
            let r = if m == M::Tzcnt {
                let c = t.un(UnOp::Ctz, v);
                let b = t.cst(bits);
                t.select(Cond::Eq, v, z, b, c)
            } else {
                let c = t.un(UnOp::Clz, v);
                t.bini(BinOp::Sub, c, 64 - bits)
            };
            t.write(d, r);
            let cf = t.setcond(Cond::Eq, v, z);
            let zf = zf_of(t, r);
            let f = t.bin(BinOp::Or, cf, zf);
            t.set_cc_eflags(f);
        }
        _ => {
            let r = t.un(UnOp::Popcnt, v);
            t.write(d, r);
            let f = zf_of(t, v);
            t.set_cc_eflags(f);
        }
    }
    ok()
}

fn bswap(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let v = t.read(d);
    let r = match d.size() {
        8 => t.un(UnOp::Bswap64, v),
        4 => t.un(UnOp::Bswap32, v),
        // Undefined by the manuals; Intel and AMD processors zero the low word.
        _ => t.cst(0),
    };
    t.write(d, r);
    ok()
}

fn xchg(t: &mut Tr, ins: &Instruction) -> R {
    let a = t.opnd(ins, 0)?;
    let b = t.opnd(ins, 1)?;
    match (a, b) {
        (Opnd::Mem { addr, size }, r @ Opnd::Reg { .. })
        | (r @ Opnd::Reg { .. }, Opnd::Mem { addr, size }) => {
            let v = t.read(r);
            let old = atomic_rmw(t, AtomicOp::Xchg, addr, v, size);
            t.write(r, old);
        }
        _ => {
            let x = t.read(a);
            let y = t.read(b);
            t.write(a, y);
            t.write(b, x);
        }
    }
    ok()
}

fn xadd(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let s = t.opnd(ins, 1)?;
    let size = d.size();
    let b = t.read(s);
    let r = match d {
        Opnd::Mem { addr, .. } if ins.has_lock_prefix() => {
            let old = atomic_rmw(t, AtomicOp::Add, addr, b, size);
            t.write(s, old);
            t.bin(BinOp::Add, old, b)
        }
        _ if ins.has_lock_prefix() => return Err(Unsupported),
        _ => {
            let a = t.read(d);
            let r = t.bin(BinOp::Add, a, b);
            t.write(s, a);
            t.write(d, r);
            r
        }
    };
    t.set_cc(cc::ADD, size, r, Some(b), None);
    ok()
}

fn cmpxchg(t: &mut Tr, ins: &Instruction) -> R {
    let d = t.opnd(ins, 0)?;
    let s = t.opnd(ins, 1)?;
    let size = d.size();
    let acc = t.get_reg(RAX, size, false);
    let new = t.read(s);
    let old = match d {
        Opnd::Mem { addr, .. } => {
            t.split_atomic_exit(addr, size);
            let got = t.tmp();
            t.b.push(Op::AtomicCmpxchg {
                dst: got,
                addr,
                expected: acc,
                new,
                mem: MemOp::unsigned(size as u8),
            });
            got
        }
        _ if ins.has_lock_prefix() => return Err(Unsupported),
        Opnd::Reg { r, high, .. } => {
            let old = t.read(d);
            // The destination is written only when equal (a 32-bit register keeps its
            // upper half otherwise), as the hardware does.
            let upd = t.merged_reg(r, size, high, new);
            let v = t.select(Cond::Eq, old, acc, upd, t.regs[r]);
            t.mov(t.regs[r], v);
            old
        }
        Opnd::Imm { .. } => return Err(Unsupported),
    };
    // The accumulator is written only when the values differ.
    let merged = t.merged_reg(RAX, size, false, old);
    let v = t.select(Cond::Eq, old, acc, t.regs[RAX], merged);
    t.mov(t.regs[RAX], v);
    let r = t.bin(BinOp::Sub, acc, old);
    t.set_cc(cc::SUB, size, r, Some(old), None);
    ok()
}

fn cmpxchg_wide(t: &mut Tr, ins: &Instruction) -> R {
    let Opnd::Mem { addr, .. } = t.opnd(ins, 0)? else {
        return Err(Unsupported);
    };
    let wide = ins.mnemonic() == M::Cmpxchg16b;
    let (ty, size) = if wide {
        if !t.cfg.cpu.cx16 {
            return Err(Unsupported);
        }
        if t.cfg.exclusive_cmpxchg16b {
            t.exit_atomic();
            return Ok(Flow::End);
        }
        (Type::I128, 16u8)
    } else {
        t.split_atomic_exit(addr, 8);
        (Type::I64, 8u8)
    };
    let pair = |t: &mut Tr, lo: usize, hi: usize| -> Temp {
        if wide {
            let v = t.b.new_temp(Type::I128);
            t.b.push(Op::Concat {
                dst: v,
                lo: t.regs[lo],
                hi: t.regs[hi],
            });
            v
        } else {
            let l = t.zext(t.regs[lo], 4);
            let h = t.bini(BinOp::Shl, t.regs[hi], 32);
            t.bin(BinOp::Or, h, l)
        }
    };
    let exp = pair(t, RAX, RDX);
    let new = pair(t, RBX, RCX);
    let got = t.b.new_temp(ty);
    t.b.push(Op::AtomicCmpxchg {
        dst: got,
        addr,
        expected: exp,
        new,
        mem: MemOp {
            size,
            signed: false,
            aligned: wide,
        },
    });
    let (glo, ghi, elo, ehi) = if wide {
        let mut parts = [Temp(0); 4];
        for (i, (v, conv)) in [
            (got, tcg::Conv::I128Lo),
            (got, tcg::Conv::I128Hi),
            (exp, tcg::Conv::I128Lo),
            (exp, tcg::Conv::I128Hi),
        ]
        .into_iter()
        .enumerate()
        {
            parts[i] = t.conv(conv, v);
        }
        (parts[0], parts[1], parts[2], parts[3])
    } else {
        let gl = t.zext(got, 4);
        let gh = t.bini(BinOp::Shr, got, 32);
        let el = t.zext(exp, 4);
        let eh = t.bini(BinOp::Shr, exp, 32);
        (gl, gh, el, eh)
    };
    // eq = (glo ^ elo) | (ghi ^ ehi) == 0
    let x1 = t.bin(BinOp::Xor, glo, elo);
    let x2 = t.bin(BinOp::Xor, ghi, ehi);
    let x = t.bin(BinOp::Or, x1, x2);
    let z = t.cst(0);
    let rax = t.select(Cond::Eq, x, z, t.regs[RAX], glo);
    let rdx = t.select(Cond::Eq, x, z, t.regs[RDX], ghi);
    t.mov(t.regs[RAX], rax);
    t.mov(t.regs[RDX], rdx);
    let zf = t.setcond(Cond::Eq, x, z);
    let zf = t.bini(BinOp::Shl, zf, 6);
    let f = t.flags_all();
    let f = t.bini(BinOp::AndNot, f, flags::ZF);
    let f = t.bin(BinOp::Or, f, zf);
    t.set_cc_eflags(f);
    ok()
}

/// Pushes the low `size` bytes of `v`.
pub(crate) fn push_val(t: &mut Tr, v: Temp, size: u32) {
    let sp = t.bini(BinOp::Sub, t.regs[RSP], u64::from(size));
    t.store(v, sp, size);
    t.mov(t.regs[RSP], sp);
}

fn push(t: &mut Tr, ins: &Instruction) -> R {
    let size = (-ins.stack_pointer_increment()) as u32;
    if size != 8 && size != 2 {
        return Err(Unsupported);
    }
    let s = t.opnd(ins, 0)?;
    let v = t.read(s);
    push_val(t, v, size);
    ok()
}

fn pop(t: &mut Tr, ins: &Instruction) -> R {
    let size = ins.stack_pointer_increment() as u32;
    if size != 8 && size != 2 {
        return Err(Unsupported);
    }
    let v = t.load(t.regs[RSP], size);
    let sp = t.bini(BinOp::Add, t.regs[RSP], u64::from(size));
    t.mov(t.regs[RSP], sp);
    // A memory destination's address is computed after rsp is incremented.
    let d = t.opnd(ins, 0)?;
    t.write(d, v);
    ok()
}

fn pushf(t: &mut Tr, ins: &Instruction) -> R {
    let size = (-ins.stack_pointer_increment()) as u32;
    let f = t.flags_all();
    let dfb = t.bini(BinOp::Shr, t.df, 63);
    let dfb = t.bini(BinOp::Shl, dfb, 10);
    let f = t.bin(BinOp::Or, f, dfb);
    let f = t.bin(BinOp::Or, f, t.eflags_rest);
    push_val(t, f, size);
    ok()
}

fn popf(t: &mut Tr, ins: &Instruction) -> R {
    let size = ins.stack_pointer_increment() as u32;
    if size != 8 {
        return Err(Unsupported);
    }
    let v = t.load(t.regs[RSP], 8);
    let sp = t.bini(BinOp::Add, t.regs[RSP], 8);
    t.mov(t.regs[RSP], sp);
    let f = t.bini(BinOp::And, v, flags::OSZAPC);
    t.set_cc_eflags(f);
    let dfb = t.bini(BinOp::And, v, flags::DF);
    let z = t.cst(0);
    let one = t.cst(1);
    let m1 = t.cst(u64::MAX);
    let df = t.select(Cond::Ne, dfb, z, m1, one);
    t.mov(t.df, df);
    let rest = t.bini(
        BinOp::And,
        v,
        flags::USER_WRITABLE & !(flags::OSZAPC | flags::DF),
    );
    let rest = t.bini(BinOp::Or, rest, flags::FIXED_ONE);
    t.mov(t.eflags_rest, rest);
    ok()
}

fn enter(t: &mut Tr, ins: &Instruction) -> R {
    let alloc = ins.immediate16() as u64;
    let level = ins.immediate8_2nd() & 31;
    if level != 0 || ins.stack_pointer_increment() > 0 || ins.code() != Code::Enterq_imm16_imm8 {
        return Err(Unsupported);
    }
    let bp = t.copy(t.regs[RBP]);
    push_val(t, bp, 8);
    let frame = t.copy(t.regs[RSP]);
    let sp = t.bini(BinOp::Sub, frame, alloc);
    t.mov(t.regs[RBP], frame);
    t.mov(t.regs[RSP], sp);
    ok()
}

fn cmov(t: &mut Tr, ins: &Instruction) -> R {
    let Opnd::Reg { r, size, high } = t.opnd(ins, 0)? else {
        return Err(Unsupported);
    };
    let s = t.opnd(ins, 1)?;
    let v = t.read(s);
    let (c, a, b) = t.cond(cc_code(ins)?);
    let cur = t.get_reg(r, size, high);
    let nv = t.merged_reg(r, size, high, v);
    let ov = t.merged_reg(r, size, high, cur);
    let x = t.select(c, a, b, nv, ov);
    t.mov(t.regs[r], x);
    ok()
}

fn loops(t: &mut Tr, ins: &Instruction) -> R {
    let target = branch_target(ins)?;
    let m = ins.mnemonic();
    // `jecxz` (67 e3) tests ecx; its iced code name does not say ECX like the loop forms'.
    let csize = if uses_ecx(ins.code()) || m == M::Jecxz {
        4
    } else {
        8
    };
    if matches!(ins.code(), Code::Loop_rel8_16_CX | Code::Loop_rel8_32_CX) {
        return Err(Unsupported);
    }
    let zf_cond = match m {
        M::Loope => Some(t.cond(4)),
        M::Loopne => Some(t.cond(5)),
        _ => None,
    };
    t.sync_cc();
    let taken = t.label();
    if matches!(m, M::Jrcxz | M::Jecxz) {
        let c = t.zext(t.regs[RCX], csize);
        t.brcondi(Cond::Eq, c, 0, taken);
    } else {
        let c = t.bini(BinOp::Sub, t.regs[RCX], 1);
        t.set_reg(RCX, csize, false, c);
        let c = t.zext(c, csize);
        match zf_cond {
            None => t.brcondi(Cond::Ne, c, 0, taken),
            Some((cond, a, b)) => {
                let not_taken = t.label();
                t.brcondi(Cond::Eq, c, 0, not_taken);
                t.brcond(cond, a, b, taken);
                t.set_label(not_taken);
            }
        }
    }
    t.goto_tb(t.next);
    t.set_label(taken);
    t.goto_tb(target);
    Ok(Flow::End)
}

fn string_op(t: &mut Tr, ins: &Instruction) -> R {
    use M::*;
    let m = ins.mnemonic();
    let size: u32 = match m {
        Movsb | Stosb | Lodsb | Cmpsb | Scasb => 1,
        Movsw | Stosw | Lodsw | Cmpsw | Scasw => 2,
        Movsd | Stosd | Lodsd | Cmpsd | Scasd => 4,
        _ => 8,
    };
    // 32-bit address size forms are not implemented.
    let uses_rsi = matches!(
        m,
        Movsb
            | Movsw
            | Movsd
            | Movsq
            | Lodsb
            | Lodsw
            | Lodsd
            | Lodsq
            | Cmpsb
            | Cmpsw
            | Cmpsd
            | Cmpsq
    );
    let op0 = ins.op_kind(0);
    let op1 = if ins.op_count() > 1 {
        ins.op_kind(1)
    } else {
        op0
    };
    if [op0, op1].iter().any(|k| {
        matches!(
            k,
            OpKind::MemorySegESI | OpKind::MemorySegSI | OpKind::MemoryESEDI | OpKind::MemoryESDI
        )
    }) {
        return Err(Unsupported);
    }
    let compares = matches!(
        m,
        Cmpsb | Cmpsw | Cmpsd | Cmpsq | Scasb | Scasw | Scasd | Scasq
    );
    let rep = ins.has_rep_prefix() || ins.has_repne_prefix();
    let seg = match ins.segment_prefix() {
        Register::FS => Some(t.fs_base),
        Register::GS => Some(t.gs_base),
        _ => None,
    };
    let step = t.bini(BinOp::Shl, t.df, size.trailing_zeros() as u64);
    let (top, done) = (t.label(), t.label());
    if rep {
        if compares {
            t.sync_cc();
        }
        t.set_label(top);
        t.brcondi(Cond::Eq, t.regs[RCX], 0, done);
    }
    let src_addr = |t: &mut Tr| match seg {
        Some(base) => t.bin(BinOp::Add, t.regs[RSI], base),
        None => t.copy(t.regs[RSI]),
    };
    let mut result = None;
    match m {
        Movsb | Movsw | Movsd | Movsq => {
            let a = src_addr(t);
            let v = t.load(a, size);
            t.store(v, t.regs[RDI], size);
        }
        Stosb | Stosw | Stosd | Stosq => {
            t.store(t.regs[RAX], t.regs[RDI], size);
        }
        Lodsb | Lodsw | Lodsd | Lodsq => {
            let a = src_addr(t);
            let v = t.load(a, size);
            t.set_reg(RAX, size, false, v);
        }
        Cmpsb | Cmpsw | Cmpsd | Cmpsq => {
            let a = src_addr(t);
            let x = t.load(a, size);
            let y = t.load(t.regs[RDI], size);
            result = Some((t.bin(BinOp::Sub, x, y), y));
        }
        _ => {
            let y = t.load(t.regs[RDI], size);
            let x = t.get_reg(RAX, size, false);
            result = Some((t.bin(BinOp::Sub, x, y), y));
        }
    }
    if uses_rsi {
        let v = t.bin(BinOp::Add, t.regs[RSI], step);
        t.mov(t.regs[RSI], v);
    }
    if !matches!(m, Lodsb | Lodsw | Lodsd | Lodsq) {
        let v = t.bin(BinOp::Add, t.regs[RDI], step);
        t.mov(t.regs[RDI], v);
    }
    if let Some((r, y)) = result {
        if rep {
            t.mov(t.cc_dst, r);
            t.mov(t.cc_src, y);
            t.movi(t.cc_op, cc::op(cc::SUB, size));
        } else {
            t.set_cc(cc::SUB, size, r, Some(y), None);
        }
    }
    if rep {
        let c = t.bini(BinOp::Sub, t.regs[RCX], 1);
        t.mov(t.regs[RCX], c);
        if let Some((r, _)) = result {
            let mk = t.cst(mask(size));
            // repe stops when ZF = 0, repne when ZF = 1.
            let stop = if ins.has_repne_prefix() {
                Cond::TstEq
            } else {
                Cond::TstNe
            };
            t.brcond(stop, r, mk, done);
        }
        t.b.push(Op::Br { label: top });
        t.set_label(done);
        if compares {
            t.cc_dynamic();
        }
    }
    ok()
}
