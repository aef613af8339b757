//! The reference interpreter: executes a [`Block`] op by op, exactly as the IR documents.
//!
//! It defines the IR's semantics for backend tests and can serve as a cheap execution tier.
//! Temporaries live in `u128` slots holding the value zero-extended from its type's width;
//! globals are read from and written to the CPU state (`env + offset`) on every access, so
//! the state is always in sync. Guest memory is `guest_base + addr`, checked against
//! `guest_size`.

use std::sync::atomic::{self, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use crate::{AtomicOp, BinOp, Block, Cond, Conv, Fence, MemOp, Op, Temp, TempKind, Type, UnOp};

/// The guest address space as the interpreter sees it: guest address `a` is host address
/// `base + a`, valid when `a + size <= size`.
#[derive(Clone, Copy, Debug)]
pub struct GuestMemoryView {
    /// Host address of guest address 0 (may be a wrapped value; only `base + a` is used).
    pub base: *mut u8,
    /// Guest addresses `0..size` are accessible.
    pub size: u64,
}

/// Why [`interpret`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterpExit {
    /// [`Op::GotoTb`] with this slot.
    GotoTb {
        /// The jump slot (below [`crate::JUMP_SLOTS`]).
        slot: u8,
    },
    /// [`Op::ExitTb`] with this code.
    ExitTb {
        /// The exit code.
        code: u32,
    },
    /// [`Op::LookupAndGotoPtr`].
    LookupAndGotoPtr,
    /// A guest memory access was out of bounds (or misaligned where the op demands
    /// alignment); `pc` is the guest pc of the last [`Op::InsnStart`] executed.
    Fault {
        /// The guest address accessed.
        addr: u64,
        /// The guest pc of the faulting instruction.
        pc: u64,
        /// True if the access was in bounds but not naturally aligned.
        misaligned: bool,
    },
}

fn mask(ty: Type) -> u128 {
    match ty {
        Type::I32 => u32::MAX as u128,
        Type::I64 => u64::MAX as u128,
        Type::I128 => u128::MAX,
    }
}

/// Sign-extends the low `bits` of `v` to 64 bits.
fn sext(v: u64, bits: u32) -> u64 {
    if bits >= 64 {
        v
    } else {
        (((v << (64 - bits)) as i64) >> (64 - bits)) as u64
    }
}

fn cond_holds(cond: Cond, ty: Type, a: u128, b: u128) -> bool {
    let bits = ty.bits();
    let (a, b) = (a as u64, b as u64);
    let (sa, sb) = (sext(a, bits) as i64, sext(b, bits) as i64);
    match cond {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::Lt => sa < sb,
        Cond::Ge => sa >= sb,
        Cond::Le => sa <= sb,
        Cond::Gt => sa > sb,
        Cond::Ltu => a < b,
        Cond::Geu => a >= b,
        Cond::Leu => a <= b,
        Cond::Gtu => a > b,
        Cond::TstEq => a & b == 0,
        Cond::TstNe => a & b != 0,
    }
}

fn binary(op: BinOp, ty: Type, a: u128, b: u128) -> u128 {
    if ty == Type::I128 {
        return match op {
            BinOp::And => a & b,
            BinOp::Or => a | b,
            BinOp::Xor => a ^ b,
            BinOp::AndNot => a & !b,
            BinOp::Lanes { op, bits } => op.apply(bits, a, b),
            // The verifier rejects other I128 binary ops; give a defined value anyway.
            _ => 0,
        };
    }
    let bits = ty.bits();
    let (a, b) = (a as u64, b as u64);
    if op.is_float() {
        return u128::from(float_binary(op, ty == Type::I64, a, b));
    }
    let (sa, sb) = (sext(a, bits) as i64, sext(b, bits) as i64);
    let sh = (b % u64::from(bits)) as u32;
    let m = mask(ty) as u64;
    let r = match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::MulHu => ((u128::from(a) * u128::from(b)) >> bits) as u64,
        BinOp::MulHs => ((i128::from(sa) * i128::from(sb)) >> bits) as u64,
        // Zero divisors and signed overflow are outside the IR's contract; the
        // interpreter gives 0 and the wrapped quotient so that it never panics.
        BinOp::DivU => a.checked_div(b).unwrap_or(0),
        BinOp::RemU => a.checked_rem(b).unwrap_or(0),
        BinOp::DivS => {
            if sb == 0 {
                0
            } else {
                sa.wrapping_div(sb) as u64
            }
        }
        BinOp::RemS => {
            if sb == 0 {
                0
            } else {
                sa.wrapping_rem(sb) as u64
            }
        }
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::AndNot => a & !b,
        BinOp::Shl => a << sh,
        BinOp::Shr => (a & m) >> sh,
        BinOp::Sar => (sa >> sh) as u64,
        BinOp::FAdd | BinOp::FSub | BinOp::FMul | BinOp::FDiv => unreachable!("handled above"),
        // I128 only (the verifier rejects it here): a defined value anyway.
        BinOp::Lanes { .. } => 0,
        BinOp::Rotl | BinOp::Rotr => {
            let a = a & m;
            let sh = if op == BinOp::Rotr {
                (bits - sh) % bits
            } else {
                sh
            };
            if sh == 0 {
                a
            } else {
                (a << sh) | (a >> (bits - sh))
            }
        }
    };
    u128::from(r & m)
}

fn unary(op: UnOp, ty: Type, v: u128) -> u128 {
    if ty == Type::I128 {
        return match op {
            UnOp::Not => !v,
            _ => 0,
        };
    }
    let bits = ty.bits();
    let v = v as u64 & (mask(ty) as u64);
    let r = match op {
        UnOp::Neg => v.wrapping_neg(),
        UnOp::Not => !v,
        UnOp::Clz => u64::from(v.leading_zeros() - (64 - bits)),
        UnOp::Ctz => u64::from(v.trailing_zeros().min(bits)),
        UnOp::Popcnt => u64::from(v.count_ones()),
        UnOp::Bswap16 => u64::from((v as u16).swap_bytes()),
        UnOp::Bswap32 => u64::from((v as u32).swap_bytes()),
        UnOp::Bswap64 => v.swap_bytes(),
        UnOp::FSqrt => float_sqrt(ty == Type::I64, v),
    };
    u128::from(r) & mask(ty)
}

/// A floating-point [`BinOp`] on binary64 (`f64`) or binary32 bits, as the host computes it.
pub(crate) fn float_binary(op: BinOp, f64_: bool, a: u64, b: u64) -> u64 {
    if f64_ {
        let (x, y) = (f64::from_bits(a), f64::from_bits(b));
        let r = match op {
            BinOp::FAdd => x + y,
            BinOp::FSub => x - y,
            BinOp::FMul => x * y,
            _ => x / y,
        };
        r.to_bits()
    } else {
        let (x, y) = (f32::from_bits(a as u32), f32::from_bits(b as u32));
        let r = match op {
            BinOp::FAdd => x + y,
            BinOp::FSub => x - y,
            BinOp::FMul => x * y,
            _ => x / y,
        };
        u64::from(r.to_bits())
    }
}

/// [`UnOp::FSqrt`] on binary64 or binary32 bits.
pub(crate) fn float_sqrt(f64_: bool, v: u64) -> u64 {
    if f64_ {
        f64::from_bits(v).sqrt().to_bits()
    } else {
        u64::from(f32::from_bits(v as u32).sqrt().to_bits())
    }
}

fn convert(conv: Conv, v: u128) -> u128 {
    let lo = v as u64;
    let r = match conv {
        Conv::Ext8s => sext(lo, 8),
        Conv::Ext8u => lo & 0xff,
        Conv::Ext16s => sext(lo, 16),
        Conv::Ext16u => lo & 0xffff,
        Conv::Ext32s | Conv::I32ToI64s => sext(lo, 32),
        Conv::Ext32u | Conv::I32ToI64u | Conv::I64ToI32 => lo & 0xffff_ffff,
        Conv::I128Lo => lo,
        Conv::I128Hi => (v >> 64) as u64,
        Conv::ByteSignBits => crate::byte_sign_bits(v),
    };
    u128::from(r)
}

/// Reads `size` little-endian bytes at `p`.
///
/// # Safety
/// `p..p+size` must be readable.
unsafe fn read_bytes(p: *const u8, size: u8) -> u128 {
    let mut buf = [0u8; 16];
    // SAFETY: the caller guarantees `size` readable bytes at `p`; `buf` holds 16 >= size.
    unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), usize::from(size)) };
    u128::from_le_bytes(buf)
}

/// Writes the low `size` bytes of `v` at `p`, little-endian.
///
/// # Safety
/// `p..p+size` must be writable.
unsafe fn write_bytes(p: *mut u8, size: u8, v: u128) {
    let buf = v.to_le_bytes();
    // SAFETY: the caller guarantees `size` writable bytes at `p`.
    unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), p, usize::from(size)) };
}

/// Extends a loaded value of `mem.size` bytes into a value of type `ty`.
fn extend_load(v: u128, mem: MemOp, ty: Type) -> u128 {
    let bits = u32::from(mem.size) * 8;
    let v = if mem.signed && bits < 128 {
        let s = ((v << (128 - bits)) as i128) >> (128 - bits);
        s as u128
    } else {
        v
    };
    v & mask(ty)
}

/// Serialises atomics that std atomics cannot express (16 bytes, or misaligned).
static WIDE_ATOMIC_LOCK: Mutex<()> = Mutex::new(());

fn rmw(op: AtomicOp, old: u64, val: u64) -> u64 {
    match op {
        AtomicOp::Xchg => val,
        AtomicOp::Add => old.wrapping_add(val),
        AtomicOp::Sub => old.wrapping_sub(val),
        AtomicOp::And => old & val,
        AtomicOp::Or => old | val,
        AtomicOp::Xor => old ^ val,
    }
}

macro_rules! atomic_rmw {
    ($ty:ty, $aty:ty, $p:expr, $op:expr, $val:expr) => {{
        // SAFETY: the caller checked that the address is in bounds and naturally aligned.
        let a = unsafe { &*($p as *const $aty) };
        let v = $val as $ty;
        (match $op {
            AtomicOp::Xchg => a.swap(v, Ordering::SeqCst),
            AtomicOp::Add => a.fetch_add(v, Ordering::SeqCst),
            AtomicOp::Sub => a.fetch_sub(v, Ordering::SeqCst),
            AtomicOp::And => a.fetch_and(v, Ordering::SeqCst),
            AtomicOp::Or => a.fetch_or(v, Ordering::SeqCst),
            AtomicOp::Xor => a.fetch_xor(v, Ordering::SeqCst),
        }) as u64
    }};
}

macro_rules! atomic_cas {
    ($ty:ty, $aty:ty, $p:expr, $exp:expr, $new:expr) => {{
        // SAFETY: the caller checked that the address is in bounds and naturally aligned.
        let a = unsafe { &*($p as *const $aty) };
        match a.compare_exchange($exp as $ty, $new as $ty, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(v) | Err(v) => v as u64,
        }
    }};
}

type H0 = extern "C" fn() -> u64;
type H1 = extern "C" fn(u64) -> u64;
type H2 = extern "C" fn(u64, u64) -> u64;
type H3 = extern "C" fn(u64, u64, u64) -> u64;
type H4 = extern "C" fn(u64, u64, u64, u64) -> u64;
type H5 = extern "C" fn(u64, u64, u64, u64, u64) -> u64;
type H6 = extern "C" fn(u64, u64, u64, u64, u64, u64) -> u64;

/// Calls the helper at `addr` with `a.len()` (at most six) `u64` arguments.
///
/// # Safety
/// `addr` must be an `extern "C"` function taking `a.len()` `u64`s; if it returns nothing
/// the value read from the return register is garbage and must be ignored.
pub(crate) unsafe fn call_helper(addr: usize, a: &[u64]) -> u64 {
    // SAFETY: (for every arm) the caller guarantees that `addr` is an `extern "C"`
    // function of this arity over `u64`s. A function declared to return nothing leaves an
    // arbitrary value in the return register, which on every supported ABI is harmless to
    // read as an integer; the interpreter discards it.
    unsafe {
        match a.len() {
            0 => std::mem::transmute::<usize, H0>(addr)(),
            1 => std::mem::transmute::<usize, H1>(addr)(a[0]),
            2 => std::mem::transmute::<usize, H2>(addr)(a[0], a[1]),
            3 => std::mem::transmute::<usize, H3>(addr)(a[0], a[1], a[2]),
            4 => std::mem::transmute::<usize, H4>(addr)(a[0], a[1], a[2], a[3]),
            5 => std::mem::transmute::<usize, H5>(addr)(a[0], a[1], a[2], a[3], a[4]),
            6 => std::mem::transmute::<usize, H6>(addr)(a[0], a[1], a[2], a[3], a[4], a[5]),
            n => panic!("helper with {n} arguments (at most six allowed)"),
        }
    }
}

/// Executes `block` against the CPU state at `env` and the guest memory `mem`, until an exit
/// op or a guest memory fault.
///
/// Blocks should pass [`crate::verify`] first; the interpreter panics on a label that is never
/// placed or a helper with more than six arguments, and otherwise gives every op a defined
/// result (a zero divisor yields 0). Atomics use host atomics when the access is naturally
/// aligned and a process-wide lock otherwise (16-byte and misaligned accesses), so they are
/// atomic with respect to each other across interpreter threads.
///
/// # Safety
/// `env` must point to a CPU state that is valid for reads and writes at every global's
/// offset and every `LoadState`/`StoreState` offset of the block (for the access's size).
/// Host addresses `mem.base + a` must be readable and writable for every guest address
/// `a < mem.size`. Every helper's address must be an `extern "C"` function with its declared
/// signature, safe to call with the values the block passes.
pub unsafe fn interpret(block: &Block, env: *mut u8, mem: GuestMemoryView) -> InterpExit {
    let mut labels = vec![usize::MAX; block.num_labels as usize];
    for (i, op) in block.ops.iter().enumerate() {
        if let Op::SetLabel { label } = op {
            labels[label.0 as usize] = i;
        }
    }
    let mut slots = vec![0u128; block.temps.len()];
    let mut pc = block.pc;
    let mut i = 0usize;

    let ty = |t: Temp| block.temps[t.0 as usize].ty;
    let state_size = |ty: Type| (ty.bits() / 8) as u8;

    // Reads a temporary (globals from the state, env as the pointer).
    let get = |slots: &[u128], t: Temp| -> u128 {
        let info = &block.temps[t.0 as usize];
        match info.kind {
            TempKind::Local => slots[t.0 as usize],
            TempKind::Env => env as usize as u128,
            // SAFETY: the caller guarantees the state is valid at every global's offset.
            TempKind::Global { offset, .. } => unsafe {
                read_bytes(env.add(offset as usize), state_size(info.ty))
            },
        }
    };
    // Writes a temporary, truncating to its type.
    let set = |slots: &mut [u128], t: Temp, v: u128| {
        let info = &block.temps[t.0 as usize];
        let v = v & mask(info.ty);
        match info.kind {
            TempKind::Local => slots[t.0 as usize] = v,
            TempKind::Env => panic!("write to env (the block was not verified)"),
            // SAFETY: the caller guarantees the state is valid at every global's offset.
            TempKind::Global { offset, .. } => unsafe {
                write_bytes(env.add(offset as usize), state_size(info.ty), v)
            },
        }
    };
    // Checks a guest access and gives its host address.
    let host = |addr: u64, m: MemOp, pc: u64| -> Result<*mut u8, InterpExit> {
        let end = addr.checked_add(u64::from(m.size));
        if end.is_none_or(|e| e > mem.size) {
            return Err(InterpExit::Fault {
                addr,
                pc,
                misaligned: false,
            });
        }
        if m.aligned && addr % u64::from(m.size) != 0 {
            return Err(InterpExit::Fault {
                addr,
                pc,
                misaligned: true,
            });
        }
        Ok(mem.base.wrapping_add(addr as usize))
    };

    loop {
        let op = block
            .ops
            .get(i)
            .expect("the block ran off its end (it was not verified)");
        i += 1;
        match *op {
            Op::InsnStart { pc: p } => pc = p,
            Op::Discard { .. } => {}
            Op::Mov { dst, src } => {
                let v = get(&slots, src);
                set(&mut slots, dst, v);
            }
            Op::Const { dst, imm } => set(&mut slots, dst, u128::from(imm)),
            Op::Binary { op, dst, a, b } => {
                let v = binary(op, ty(dst), get(&slots, a), get(&slots, b));
                set(&mut slots, dst, v);
            }
            Op::Unary { op, dst, src } => {
                let v = unary(op, ty(dst), get(&slots, src));
                set(&mut slots, dst, v);
            }
            Op::Convert { conv, dst, src } => {
                let v = convert(conv, get(&slots, src) & mask(ty(src)));
                set(&mut slots, dst, v);
            }
            Op::Concat { dst, lo, hi } => {
                let v = (get(&slots, hi) << 64) | (get(&slots, lo) & u128::from(u64::MAX));
                set(&mut slots, dst, v);
            }
            Op::Extract {
                dst,
                src,
                pos,
                len,
                signed,
            } => {
                let v = get(&slots, src) >> pos;
                let len = u32::from(len);
                let field = if len >= 128 {
                    v
                } else {
                    v & ((1u128 << len) - 1)
                };
                let v = if signed && len < 128 {
                    (((field << (128 - len)) as i128) >> (128 - len)) as u128
                } else {
                    field
                };
                set(&mut slots, dst, v);
            }
            Op::Deposit {
                dst,
                base,
                val,
                pos,
                len,
            } => {
                let len = u32::from(len);
                let m = if len >= 128 {
                    u128::MAX
                } else {
                    (1u128 << len) - 1
                } << pos;
                let v = (get(&slots, base) & !m) | ((get(&slots, val) << pos) & m);
                set(&mut slots, dst, v);
            }
            Op::SetCond { cond, dst, a, b } => {
                let v = cond_holds(cond, ty(a), get(&slots, a), get(&slots, b));
                set(&mut slots, dst, u128::from(v));
            }
            Op::Select {
                cond,
                dst,
                a,
                b,
                t,
                f,
            } => {
                let c = cond_holds(cond, ty(a), get(&slots, a), get(&slots, b));
                let v = get(&slots, if c { t } else { f });
                set(&mut slots, dst, v);
            }
            Op::BrCond { cond, a, b, label } => {
                if cond_holds(cond, ty(a), get(&slots, a), get(&slots, b)) {
                    i = labels[label.0 as usize];
                }
            }
            Op::Br { label } => i = labels[label.0 as usize],
            Op::SetLabel { .. } => {}
            Op::Load { dst, addr, mem: m } => {
                let p = match host(get(&slots, addr) as u64, m, pc) {
                    Ok(p) => p,
                    Err(e) => return e,
                };
                // SAFETY: `host` checked the access against the guest size; the caller
                // guarantees those guest addresses are backed by host memory.
                let v = unsafe { read_bytes(p, m.size) };
                set(&mut slots, dst, extend_load(v, m, ty(dst)));
            }
            Op::Store { src, addr, mem: m } => {
                let p = match host(get(&slots, addr) as u64, m, pc) {
                    Ok(p) => p,
                    Err(e) => return e,
                };
                // SAFETY: as for `Load`.
                unsafe { write_bytes(p, m.size, get(&slots, src)) };
            }
            Op::LoadState {
                dst,
                offset,
                mem: m,
            } => {
                // SAFETY: the caller guarantees the state is valid at this offset.
                let v = unsafe { read_bytes(env.add(offset as usize), m.size) };
                set(&mut slots, dst, extend_load(v, m, ty(dst)));
            }
            Op::StoreState {
                src,
                offset,
                mem: m,
            } => {
                let v = get(&slots, src);
                // SAFETY: the caller guarantees the state is valid at this offset.
                unsafe { write_bytes(env.add(offset as usize), m.size, v) };
            }
            Op::AtomicRmw {
                op,
                dst,
                addr,
                val,
                mem: m,
            } => {
                let a = get(&slots, addr) as u64;
                let p = match host(a, m, pc) {
                    Ok(p) => p,
                    Err(e) => return e,
                };
                let v = get(&slots, val) as u64;
                let old = if (p as usize) % usize::from(m.size) == 0 {
                    match m.size {
                        1 => atomic_rmw!(u8, AtomicU8, p, op, v),
                        2 => atomic_rmw!(u16, AtomicU16, p, op, v),
                        4 => atomic_rmw!(u32, AtomicU32, p, op, v),
                        _ => atomic_rmw!(u64, AtomicU64, p, op, v),
                    }
                } else {
                    let _g = WIDE_ATOMIC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                    // SAFETY: in bounds (checked by `host`); serialised by the lock.
                    let old = unsafe { read_bytes(p, m.size) } as u64;
                    // SAFETY: as above.
                    unsafe { write_bytes(p, m.size, u128::from(rmw(op, old, v))) };
                    old
                };
                set(&mut slots, dst, extend_load(u128::from(old), m, ty(dst)));
            }
            Op::AtomicCmpxchg {
                dst,
                addr,
                expected,
                new,
                mem: m,
            } => {
                let a = get(&slots, addr) as u64;
                let p = match host(a, m, pc) {
                    Ok(p) => p,
                    Err(e) => return e,
                };
                let size_mask = if m.size == 16 {
                    u128::MAX
                } else {
                    (1u128 << (u32::from(m.size) * 8)) - 1
                };
                let exp = get(&slots, expected) & size_mask;
                let nv = get(&slots, new);
                let old = if m.size < 16 && (p as usize) % usize::from(m.size) == 0 {
                    let (e, n) = (exp as u64, nv as u64);
                    u128::from(match m.size {
                        1 => atomic_cas!(u8, AtomicU8, p, e, n),
                        2 => atomic_cas!(u16, AtomicU16, p, e, n),
                        4 => atomic_cas!(u32, AtomicU32, p, e, n),
                        _ => atomic_cas!(u64, AtomicU64, p, e, n),
                    })
                } else {
                    let _g = WIDE_ATOMIC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                    // SAFETY: in bounds (checked by `host`); serialised by the lock.
                    let old = unsafe { read_bytes(p, m.size) };
                    if old == exp {
                        // SAFETY: as above.
                        unsafe { write_bytes(p, m.size, nv) };
                    }
                    old
                };
                set(&mut slots, dst, extend_load(old, m, ty(dst)));
            }
            Op::Fence { kind } => atomic::fence(match kind {
                Fence::LoadLoad => Ordering::Acquire,
                Fence::StoreStore => Ordering::Release,
                Fence::Full => Ordering::SeqCst,
            }),
            Op::Call {
                helper,
                ref args,
                ret,
            } => {
                let vals: Vec<u64> = args.iter().map(|&a| get(&slots, a) as u64).collect();
                // SAFETY: the caller guarantees every helper matches its declaration.
                let r = unsafe { call_helper(helper.addr, &vals) };
                if let Some(ret) = ret {
                    set(&mut slots, ret, u128::from(r));
                }
            }
            Op::GotoTb { slot } | Op::GotoStart { slot } => return InterpExit::GotoTb { slot },
            Op::ExitTb { code } => return InterpExit::ExitTb { code },
            Op::LookupAndGotoPtr => return InterpExit::LookupAndGotoPtr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{verify, Helper, HelperFlags, Label};

    /// A small env: 64 bytes of state.
    struct Env([u64; 8]);

    fn run_with(b: &Block, env: &mut Env, mem: &mut [u8]) -> InterpExit {
        verify(b).unwrap();
        let view = GuestMemoryView {
            base: mem.as_mut_ptr(),
            size: mem.len() as u64,
        };
        // SAFETY: env is 64 bytes and the blocks only use offsets below 64; `mem` backs
        // every guest address below its length; the helpers match their declarations.
        unsafe { interpret(b, env.0.as_mut_ptr().cast(), view) }
    }

    /// Builds `g0 = f(a, b)` for type `ty` and returns the result read back from the state.
    fn eval2(ty: Type, a: u64, b: u64, f: impl Fn(&mut Block, Temp, Temp, Temp)) -> u64 {
        let mut blk = Block::new(0);
        let out = blk.global(Type::I64, 0, "out");
        let ta = blk.constant(ty, a);
        let tb = blk.constant(ty, b);
        let d = blk.new_temp(ty);
        f(&mut blk, d, ta, tb);
        let wide = blk.new_temp(Type::I64);
        match ty {
            Type::I32 => blk.push(Op::Convert {
                conv: Conv::I32ToI64u,
                dst: wide,
                src: d,
            }),
            Type::I64 => blk.push(Op::Mov { dst: wide, src: d }),
            Type::I128 => blk.push(Op::Convert {
                conv: Conv::I128Lo,
                dst: wide,
                src: d,
            }),
        }
        blk.push(Op::Mov {
            dst: out,
            src: wide,
        });
        blk.push(Op::ExitTb { code: 7 });
        let mut env = Env([0; 8]);
        assert_eq!(
            run_with(&blk, &mut env, &mut []),
            InterpExit::ExitTb { code: 7 }
        );
        env.0[0]
    }

    fn bin(op: BinOp, ty: Type, a: u64, b: u64) -> u64 {
        eval2(ty, a, b, |blk, d, a, b| {
            blk.push(Op::Binary { op, dst: d, a, b })
        })
    }

    fn un(op: UnOp, ty: Type, a: u64) -> u64 {
        eval2(ty, a, 0, |blk, d, a, _| {
            blk.push(Op::Unary { op, dst: d, src: a })
        })
    }

    #[test]
    fn lane_ops_work_lane_by_lane() {
        use crate::LaneOp::*;
        let a = 0x0102_03ff_8000_7f10_ffff_0000_1234_5678u128;
        let b = 0x0102_0301_7fff_8010_0001_0000_1234_0078u128;
        // Bytes: equal where equal, wrapping, unsigned.
        assert_eq!(
            CmpEq.apply(8, a, b),
            0xffff_ff00_0000_00ff_0000_ffff_ffff_00ff
        );
        assert_eq!(
            Add.apply(8, a, b),
            0x0204_0600_ffff_ff20_ff00_0000_2468_56f0
        );
        assert_eq!(
            Sub.apply(8, a, b),
            0x0000_00fe_0101_ff00_fffe_0000_0000_5600
        );
        assert_eq!(
            MinU.apply(8, a, b),
            0x0102_0301_7f00_7f10_0001_0000_1234_0078
        );
        assert_eq!(
            MaxU.apply(8, a, b),
            0x0102_03ff_80ff_8010_ffff_0000_1234_5678
        );
        // Wider lanes: no carry or borrow crosses a lane.
        assert_eq!(
            Add.apply(16, a, b),
            0x0204_0700_ffff_ff20_0000_0000_2468_56f0
        );
        assert_eq!(Sub.apply(32, 0, 1), 0xffff_ffff);
        assert_eq!(Add.apply(64, u128::MAX, 1), u128::MAX << 64);
        assert_eq!(CmpEq.apply(32, a, b), 0);
        assert_eq!(CmpEq.apply(32, a, a ^ 1 << 40), !(0xffff_ffffu128 << 32));
        assert_eq!(
            crate::byte_sign_bits(0x80 | 0x7f << 8 | 0xff << 120),
            0x8001
        );
        assert_eq!(crate::byte_sign_bits(u128::MAX), 0xffff);
        // Rearrangements: bytes 0..15 of `seq` are 0..15, of `seq + 0x10..` 0x10..0x1f.
        let seq = u128::from_le_bytes(std::array::from_fn(|i| i as u8));
        let high = seq + u128::from_le_bytes([0x10; 16]);
        assert_eq!(
            InterleaveLow.apply(8, seq, high),
            0x1707_1606_1505_1404_1303_1202_1101_1000
        );
        assert_eq!(
            InterleaveHigh.apply(16, seq, high),
            0x1f1e_0f0e_1d1c_0d0c_1b1a_0b0a_1918_0908
        );
        assert_eq!(
            InterleaveLow.apply(64, seq, high),
            high << 64 | seq & u64::MAX as u128
        );
        let reverse = u128::from_le_bytes(std::array::from_fn(|i| 15 - i as u8));
        assert_eq!(Swizzle.apply(8, high, reverse), high.swap_bytes());
        // An index of 16 or more gives zero (x86's `pshufb` sets bit 7 for that).
        assert_eq!(
            Swizzle.apply(8, seq, 0x80 << 8 | 0x10 | 3 << 16),
            0x03_00_00
        );
        let lanes = |bits| BinOp::Lanes { op: CmpEq, bits };
        let both = |blk: &mut Block, d, x, y| {
            blk.push(Op::Binary {
                op: lanes(8),
                dst: d,
                a: x,
                b: y,
            })
        };
        assert_eq!(
            eval2(Type::I128, 0x1200_3400, 0x1200_3500, both),
            0xffff_ffff_ffff_00ff
        );
    }

    #[test]
    fn binary_ops_i32_truncate_and_i64() {
        use BinOp::*;
        let t32 = Type::I32;
        let t64 = Type::I64;
        assert_eq!(bin(Add, t32, 0xffff_ffff, 2), 1);
        assert_eq!(bin(Add, t64, u64::MAX, 2), 1);
        assert_eq!(bin(Sub, t32, 1, 2), 0xffff_ffff);
        assert_eq!(bin(Sub, t64, 1, 2), u64::MAX);
        assert_eq!(bin(Mul, t32, 0x1_0001, 0x1_0001), 0x0002_0001);
        assert_eq!(bin(Mul, t64, 1 << 40, 1 << 30), 0);
        assert_eq!(bin(MulHu, t32, 0xffff_ffff, 0xffff_ffff), 0xffff_fffe);
        assert_eq!(bin(MulHs, t32, 0xffff_ffff, 0xffff_ffff), 0);
        assert_eq!(bin(MulHs, t32, 0x8000_0000, 2), 0xffff_ffff);
        assert_eq!(bin(MulHu, t64, u64::MAX, u64::MAX), u64::MAX - 1);
        assert_eq!(bin(MulHs, t64, u64::MAX, 5), u64::MAX);
        assert_eq!(bin(DivU, t32, 0xffff_fff0, 16), 0x0fff_ffff);
        assert_eq!(bin(DivS, t32, 0xffff_fff0, 16), 0xffff_ffff);
        assert_eq!(bin(RemU, t64, 17, 5), 2);
        assert_eq!(bin(RemS, t64, (-17i64) as u64, 5), (-2i64) as u64);
        assert_eq!(
            bin(RemS, t32, (-17i32) as u32 as u64, 5),
            (-2i32) as u32 as u64
        );
        assert_eq!(bin(DivS, t64, (-17i64) as u64, 5), (-3i64) as u64);
        assert_eq!(bin(And, t32, 0xf0f0, 0xff00), 0xf000);
        assert_eq!(bin(Or, t64, 0xf0f0, 0xff00), 0xfff0);
        assert_eq!(bin(Xor, t64, 0xf0f0, 0xff00), 0x0ff0);
        assert_eq!(bin(AndNot, t32, 0xf0f0, 0xff00), 0x00f0);
        assert_eq!(bin(Shl, t32, 0x8000_0001, 33), 2);
        assert_eq!(bin(Shl, t64, 1, 65), 2);
        assert_eq!(bin(Shr, t32, 0x8000_0000, 31), 1);
        assert_eq!(bin(Shr, t32, 0x8000_0000, 32), 0x8000_0000);
        assert_eq!(bin(Sar, t32, 0x8000_0000, 4), 0xf800_0000);
        assert_eq!(bin(Sar, t64, 1 << 63, 63), u64::MAX);
        assert_eq!(bin(Rotl, t32, 0x8000_0001, 1), 3);
        assert_eq!(bin(Rotl, t32, 0x8000_0001, 32), 0x8000_0001);
        assert_eq!(bin(Rotr, t32, 3, 1), 0x8000_0001);
        assert_eq!(bin(Rotr, t64, 3, 1), 0x8000_0000_0000_0001);
        assert_eq!(bin(Rotl, t64, 0x8000_0000_0000_0001, 4), 0x18);
        assert_eq!(bin(Rotr, t64, 0x10, 0), 0x10);
    }

    #[test]
    fn i128_bitwise_ops() {
        let r = eval2(Type::I128, 0, 0, |b, d, _, _| {
            let lo = b.constant(Type::I64, 0xff00);
            let hi = b.constant(Type::I64, 1);
            let x = b.new_temp(Type::I128);
            b.push(Op::Concat { dst: x, lo, hi });
            let y = b.constant(Type::I128, 0x0ff0);
            b.push(Op::Binary {
                op: BinOp::AndNot,
                dst: d,
                a: x,
                b: y,
            });
            let hi2 = b.new_temp(Type::I64);
            b.push(Op::Convert {
                conv: Conv::I128Hi,
                dst: hi2,
                src: d,
            });
            b.push(Op::Unary {
                op: UnOp::Not,
                dst: d,
                src: d,
            });
        });
        assert_eq!(r, !0xf000u64);
    }

    #[test]
    fn unary_ops() {
        use UnOp::*;
        assert_eq!(un(Neg, Type::I32, 1), 0xffff_ffff);
        assert_eq!(un(Neg, Type::I64, 1), u64::MAX);
        assert_eq!(un(Not, Type::I32, 0), 0xffff_ffff);
        assert_eq!(un(Clz, Type::I32, 0), 32);
        assert_eq!(un(Clz, Type::I64, 0), 64);
        assert_eq!(un(Clz, Type::I32, 1), 31);
        assert_eq!(un(Clz, Type::I64, 1), 63);
        assert_eq!(un(Ctz, Type::I32, 0), 32);
        assert_eq!(un(Ctz, Type::I64, 0), 64);
        assert_eq!(un(Ctz, Type::I64, 0x100), 8);
        assert_eq!(un(Popcnt, Type::I64, u64::MAX), 64);
        assert_eq!(un(Popcnt, Type::I32, 0xf0f0), 8);
        assert_eq!(un(Bswap16, Type::I32, 0x1234_5678), 0x7856);
        assert_eq!(un(Bswap32, Type::I32, 0x1234_5678), 0x7856_3412);
        assert_eq!(un(Bswap32, Type::I64, 0xaa_1234_5678), 0x7856_3412);
        assert_eq!(
            un(Bswap64, Type::I64, 0x0102_0304_0506_0708),
            0x0807_0605_0403_0201
        );
    }

    fn conv(c: Conv, from: Type, to: Type, v: u64) -> u64 {
        let mut blk = Block::new(0);
        let out = blk.global(to, 0, "out");
        let src = blk.constant(from, v);
        blk.push(Op::Convert {
            conv: c,
            dst: out,
            src,
        });
        blk.push(Op::ExitTb { code: 0 });
        let mut env = Env([0; 8]);
        run_with(&blk, &mut env, &mut []);
        env.0[0]
    }

    #[test]
    fn conversions() {
        use Conv::*;
        use Type::*;
        assert_eq!(conv(Ext8s, I32, I32, 0x80), 0xffff_ff80);
        assert_eq!(conv(Ext8s, I64, I64, 0x7f80), u64::MAX - 0x7f);
        assert_eq!(conv(Ext8u, I64, I64, 0x1ff), 0xff);
        assert_eq!(conv(Ext16s, I32, I32, 0x8000), 0xffff_8000);
        assert_eq!(conv(Ext16u, I64, I64, 0x1_8000), 0x8000);
        assert_eq!(conv(Ext32s, I64, I64, 0x8000_0000), 0xffff_ffff_8000_0000);
        assert_eq!(conv(Ext32u, I64, I64, u64::MAX), 0xffff_ffff);
        assert_eq!(
            conv(I32ToI64s, I32, I64, 0x8000_0000),
            0xffff_ffff_8000_0000
        );
        assert_eq!(conv(I32ToI64u, I32, I64, 0x8000_0000), 0x8000_0000);
        assert_eq!(conv(I64ToI32, I64, I32, u64::MAX), 0xffff_ffff);
        // An I32 global is 4 bytes: the upper half of the 8-byte slot stays untouched.
        assert_eq!(conv(I64ToI32, I64, I32, 0x1_0000_0002), 2);
    }

    #[test]
    fn extract_deposit_setcond_select() {
        let ex = |v: u64, pos, len, signed, ty| {
            eval2(ty, v, 0, |b, d, a, _| {
                b.push(Op::Extract {
                    dst: d,
                    src: a,
                    pos,
                    len,
                    signed,
                })
            })
        };
        assert_eq!(ex(0xabcd, 8, 8, false, Type::I64), 0xab);
        assert_eq!(ex(0xabcd, 8, 8, true, Type::I64), 0xffff_ffff_ffff_ffab);
        assert_eq!(ex(0xabcd, 8, 8, true, Type::I32), 0xffff_ffab);
        assert_eq!(ex(u64::MAX, 0, 64, false, Type::I64), u64::MAX);
        assert_eq!(ex(0x8000_0000, 31, 1, true, Type::I32), 0xffff_ffff);
        let dep = |base, val, pos, len, ty| {
            eval2(ty, base, val, |b, d, x, y| {
                b.push(Op::Deposit {
                    dst: d,
                    base: x,
                    val: y,
                    pos,
                    len,
                })
            })
        };
        assert_eq!(dep(0xffff_ffff, 0x1234, 8, 8, Type::I32), 0xffff_34ff);
        assert_eq!(dep(u64::MAX, 0, 0, 64, Type::I64), 0);
        assert_eq!(dep(0, u64::MAX, 60, 4, Type::I64), 0xf000_0000_0000_0000);
        assert_eq!(dep(0, u64::MAX, 28, 4, Type::I32), 0xf000_0000);
        use Cond::*;
        let cases: &[(Cond, Type, u64, u64, bool)] = &[
            (Eq, Type::I32, 5, 5, true),
            (Ne, Type::I32, 5, 5, false),
            (Lt, Type::I32, 0xffff_ffff, 0, true),
            (Ltu, Type::I32, 0xffff_ffff, 0, false),
            (Lt, Type::I64, 0xffff_ffff, 0, false),
            (Lt, Type::I64, u64::MAX, 0, true),
            (Ge, Type::I64, 0, u64::MAX, true),
            (Le, Type::I32, 3, 3, true),
            (Gt, Type::I32, 0x7fff_ffff, 0x8000_0000, true),
            (Geu, Type::I64, 0, 1, false),
            (Leu, Type::I64, 1, 1, true),
            (Gtu, Type::I32, 0x8000_0000, 0x7fff_ffff, true),
            (TstEq, Type::I64, 0xf0, 0x0f, true),
            (TstNe, Type::I64, 0xf0, 0x1f, true),
        ];
        for &(cond, ty, a, b, want) in cases {
            let r = eval2(ty, a, b, |blk, d, x, y| {
                blk.push(Op::SetCond {
                    cond,
                    dst: d,
                    a: x,
                    b: y,
                })
            });
            assert_eq!(r, u64::from(want), "{cond:?} {ty:?} {a:#x} {b:#x}");
            let r = eval2(Type::I64, a, b, |blk, d, x, y| {
                let (x, y) = if ty == Type::I32 {
                    let (x2, y2) = (blk.new_temp(Type::I32), blk.new_temp(Type::I32));
                    blk.push(Op::Convert {
                        conv: Conv::I64ToI32,
                        dst: x2,
                        src: x,
                    });
                    blk.push(Op::Convert {
                        conv: Conv::I64ToI32,
                        dst: y2,
                        src: y,
                    });
                    (x2, y2)
                } else {
                    (x, y)
                };
                let t = blk.constant(Type::I64, 111);
                let f = blk.constant(Type::I64, 222);
                blk.push(Op::Select {
                    cond,
                    dst: d,
                    a: x,
                    b: y,
                    t,
                    f,
                });
            });
            assert_eq!(r, if want { 111 } else { 222 }, "select {cond:?}");
        }
    }

    #[test]
    fn branches_loop_and_exits() {
        // sum = 0; i = 10; do { sum += i; i -= 1 } while i != 0; goto_tb 1
        let mut b = Block::new(0x400);
        let sum = b.global(Type::I64, 8, "sum");
        let i = b.new_temp(Type::I64);
        let one = b.constant(Type::I64, 1);
        let zero = b.constant(Type::I64, 0);
        b.push(Op::Const { dst: sum, imm: 0 });
        b.push(Op::Const { dst: i, imm: 10 });
        let top = b.new_label();
        b.push(Op::SetLabel { label: top });
        b.push(Op::Binary {
            op: BinOp::Add,
            dst: sum,
            a: sum,
            b: i,
        });
        b.push(Op::Binary {
            op: BinOp::Sub,
            dst: i,
            a: i,
            b: one,
        });
        b.push(Op::BrCond {
            cond: Cond::Ne,
            a: i,
            b: zero,
            label: top,
        });
        let skip = b.new_label();
        b.push(Op::Br { label: skip });
        b.push(Op::ExitTb { code: 9 });
        b.push(Op::SetLabel { label: skip });
        b.push(Op::GotoTb { slot: 1 });
        let mut env = Env([0; 8]);
        assert_eq!(
            run_with(&b, &mut env, &mut []),
            InterpExit::GotoTb { slot: 1 }
        );
        assert_eq!(env.0[1], 55);

        let mut b = Block::new(0);
        b.push(Op::LookupAndGotoPtr);
        assert_eq!(
            run_with(&b, &mut env, &mut []),
            InterpExit::LookupAndGotoPtr
        );
        let _ = Label(0);
    }

    #[test]
    fn memory_loads_stores_and_faults() {
        let mut mem = vec![0u8; 64];
        let mut b = Block::new(0);
        let out = b.global(Type::I64, 0, "out");
        let out2 = b.global(Type::I64, 8, "out2");
        let a = b.constant(Type::I64, 8);
        let v = b.constant(Type::I64, 0x8899_aabb_ccdd_eeff);
        b.push(Op::InsnStart { pc: 0x10 });
        b.push(Op::Store {
            src: v,
            addr: a,
            mem: MemOp::unsigned(8),
        });
        let w = b.new_temp(Type::I32);
        b.push(Op::Load {
            dst: w,
            addr: a,
            mem: MemOp::signed(1),
        });
        b.push(Op::Convert {
            conv: Conv::I32ToI64u,
            dst: out,
            src: w,
        });
        b.push(Op::Load {
            dst: out2,
            addr: a,
            mem: MemOp::signed(4),
        });
        let v128 = b.new_temp(Type::I128);
        b.push(Op::Load {
            dst: v128,
            addr: a,
            mem: MemOp::unsigned(16),
        });
        let a2 = b.constant(Type::I64, 32);
        b.push(Op::Store {
            src: v128,
            addr: a2,
            mem: MemOp {
                size: 16,
                signed: false,
                aligned: true,
            },
        });
        b.push(Op::InsnStart { pc: 0x14 });
        let bad = b.constant(Type::I64, 60);
        b.push(Op::Load {
            dst: out,
            addr: bad,
            mem: MemOp::unsigned(8),
        });
        b.push(Op::ExitTb { code: 0 });
        let mut env = Env([0; 8]);
        let r = run_with(&b, &mut env, &mut mem);
        assert_eq!(
            r,
            InterpExit::Fault {
                addr: 60,
                pc: 0x14,
                misaligned: false
            }
        );
        assert_eq!(env.0[0], 0xffff_ffff);
        assert_eq!(env.0[1], 0xffff_ffff_ccdd_eeff);
        assert_eq!(&mem[32..40], &0x8899_aabb_ccdd_eeffu64.to_le_bytes());

        // Misaligned access where alignment is demanded, and an address that overflows.
        for (addr, misaligned) in [(4u64, true), (u64::MAX - 1, false)] {
            let mut b = Block::new(0);
            let a = b.constant(Type::I64, addr);
            let d = b.new_temp(Type::I64);
            b.push(Op::Load {
                dst: d,
                addr: a,
                mem: MemOp {
                    size: 8,
                    signed: false,
                    aligned: true,
                },
            });
            b.push(Op::ExitTb { code: 0 });
            assert_eq!(
                run_with(&b, &mut env, &mut mem),
                InterpExit::Fault {
                    addr,
                    pc: 0,
                    misaligned
                }
            );
        }
    }

    #[test]
    fn state_access() {
        let mut b = Block::new(0);
        let x = b.new_temp(Type::I64);
        b.push(Op::LoadState {
            dst: x,
            offset: 8,
            mem: MemOp::signed(2),
        });
        b.push(Op::StoreState {
            src: x,
            offset: 16,
            mem: MemOp::unsigned(4),
        });
        let y = b.new_temp(Type::I128);
        b.push(Op::LoadState {
            dst: y,
            offset: 24,
            mem: MemOp::unsigned(16),
        });
        b.push(Op::StoreState {
            src: y,
            offset: 40,
            mem: MemOp::unsigned(16),
        });
        b.push(Op::ExitTb { code: 0 });
        let mut env = Env([0, 0x1_8001, 0, 5, 6, 0, 0, 0]);
        run_with(&b, &mut env, &mut []);
        assert_eq!(env.0[2], 0xffff_8001);
        assert_eq!((env.0[5], env.0[6]), (5, 6));
    }

    #[test]
    fn atomics() {
        let mut mem = vec![0u8; 64];
        mem[0..8].copy_from_slice(&10u64.to_le_bytes());
        let run_rmw = |op, size: u8, addr: u64, val: u64, mem: &mut Vec<u8>| -> u64 {
            let mut b = Block::new(0);
            let out = b.global(Type::I64, 0, "out");
            let a = b.constant(Type::I64, addr);
            let v = b.constant(Type::I64, val);
            b.push(Op::AtomicRmw {
                op,
                dst: out,
                addr: a,
                val: v,
                mem: MemOp::unsigned(size),
            });
            b.push(Op::ExitTb { code: 0 });
            let mut env = Env([0; 8]);
            run_with(&b, &mut env, mem);
            env.0[0]
        };
        assert_eq!(run_rmw(AtomicOp::Add, 8, 0, 5, &mut mem), 10);
        assert_eq!(run_rmw(AtomicOp::Sub, 8, 0, 1, &mut mem), 15);
        assert_eq!(run_rmw(AtomicOp::Xchg, 4, 0, 0xffff_ffff, &mut mem), 14);
        assert_eq!(run_rmw(AtomicOp::And, 2, 0, 0xf0f0, &mut mem), 0xffff);
        assert_eq!(run_rmw(AtomicOp::Or, 1, 0, 0x0f, &mut mem), 0xf0);
        assert_eq!(run_rmw(AtomicOp::Xor, 8, 0, 0xff, &mut mem), 0xffff_f0ff);
        // Misaligned falls back to the lock.
        assert_eq!(run_rmw(AtomicOp::Add, 4, 1, 1, &mut mem), 0x00ff_fff0);
        assert_eq!(&mem[0..8], &[0, 0xf1, 0xff, 0xff, 0, 0, 0, 0]);

        let cas = |size: u8, addr: u64, exp: u128, new: u128, mem: &mut Vec<u8>| -> u128 {
            let ty = if size == 16 { Type::I128 } else { Type::I64 };
            let mut b = Block::new(0);
            let out = b.global(ty, 0, "out");
            let a = b.constant(Type::I64, addr);
            let mk = |b: &mut Block, v: u128| {
                if ty == Type::I128 {
                    let lo = b.constant(Type::I64, v as u64);
                    let hi = b.constant(Type::I64, (v >> 64) as u64);
                    let t = b.new_temp(Type::I128);
                    b.push(Op::Concat { dst: t, lo, hi });
                    t
                } else {
                    b.constant(Type::I64, v as u64)
                }
            };
            let e = mk(&mut b, exp);
            let n = mk(&mut b, new);
            b.push(Op::AtomicCmpxchg {
                dst: out,
                addr: a,
                expected: e,
                new: n,
                mem: MemOp::unsigned(size),
            });
            b.push(Op::ExitTb { code: 0 });
            let mut env = Env([0; 8]);
            run_with(&b, &mut env, mem);
            u128::from(env.0[0]) | (u128::from(env.0[1]) << 64)
        };
        mem[16..32].fill(0);
        assert_eq!(cas(8, 16, 1, 2, &mut mem), 0);
        assert_eq!(&mem[16..24], &0u64.to_le_bytes());
        assert_eq!(cas(8, 16, 0, 2, &mut mem), 0);
        assert_eq!(&mem[16..24], &2u64.to_le_bytes());
        assert_eq!(cas(1, 16, 2, 0x1ff, &mut mem), 2);
        assert_eq!(mem[16], 0xff);
        assert_eq!(cas(16, 16, 0xff, 1u128 << 100, &mut mem), 0xff);
        assert_eq!(cas(16, 16, 0, 0, &mut mem), 1u128 << 100);
    }

    extern "C" fn h_sum6(a: u64, b: u64, c: u64, d: u64, e: u64, f: u64) -> u64 {
        a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f
    }
    extern "C" fn h_const() -> u64 {
        42
    }

    #[test]
    fn helper_calls() {
        static SUM6: std::sync::LazyLock<Helper> = std::sync::LazyLock::new(|| Helper {
            name: "sum6",
            addr: h_sum6 as *const () as usize,
            args: &[Type::I64; 6],
            ret: Some(Type::I64),
            flags: HelperFlags {
                pure: true,
                ..HelperFlags::default()
            },
        });
        static CONST: std::sync::LazyLock<Helper> = std::sync::LazyLock::new(|| Helper {
            name: "const",
            addr: h_const as *const () as usize,
            args: &[],
            ret: Some(Type::I64),
            flags: HelperFlags::default(),
        });
        let mut b = Block::new(0);
        let out = b.global(Type::I64, 0, "out");
        let out2 = b.global(Type::I64, 8, "out2");
        let args: Vec<Temp> = (1..=6).map(|v| b.constant(Type::I64, v)).collect();
        b.push(Op::Call {
            helper: &SUM6,
            args,
            ret: Some(out),
        });
        b.push(Op::Call {
            helper: &CONST,
            args: vec![],
            ret: Some(out2),
        });
        b.push(Op::Fence { kind: Fence::Full });
        b.push(Op::ExitTb { code: 3 });
        let mut env = Env([0; 8]);
        assert_eq!(
            run_with(&b, &mut env, &mut []),
            InterpExit::ExitTb { code: 3 }
        );
        assert_eq!(env.0[0], 1 + 4 + 9 + 16 + 25 + 36);
        assert_eq!(env.0[1], 42);
    }
}
