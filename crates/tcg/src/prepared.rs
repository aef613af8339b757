//! The fast interpreter: a block pre-decoded once into a flat program, run many times.
//!
//! This is the cheap execution tier. Preparing a block costs about as much as building its IR
//! (no code generation), so code that runs a few times never pays for Cranelift. Semantics are
//! those of the reference interpreter ([`crate::interpret`]) with two differences that make it
//! behave like compiled code instead:
//! - guest addresses are clamped (`base + min(addr, size)`): an access beyond the guest space
//!   hits the caller's guard region and faults on the host at the instruction where a
//!   compiled block traps (its bound check), so the emulator's fault handler deals with both
//!   tiers alike (write-protected code pages included: the faulting store is retried);
//! - globals are loaded into slots at entry and written back at exits and around helper calls
//!   that read or write the state (the backend's contract), not on every access.
//!
//! Temporaries live in `u128` slots, zero-extended from their type's width; labels are resolved
//! to op indices; every op's operand types are decided at preparation, so running an op is one
//! `match` on a small enum and a few slot accesses. Nothing allocates while running.

use std::cell::RefCell;
use std::sync::atomic::{self, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::interp::{call_helper, GuestMemoryView, InterpExit};
use crate::{
    for_each_src, op_dst, AtomicOp, BinOp, Block, Cond, Conv, Fence, Helper, MemOp, Op, TempKind,
    Type, UnOp,
};

/// Slot index.
type S = u32;

/// One pre-decoded op. `w` is the operation width in bits (32 or 64) where it matters.
#[derive(Clone, Debug)]
enum Ins {
    Pc(u64),
    Mov {
        d: S,
        s: S,
    },
    /// A constant that fits 64 bits (already masked to its type).
    Const {
        d: S,
        v: u64,
    },
    /// A 128-bit constant: index into [`Prepared::consts`].
    Const128 {
        d: S,
        idx: u32,
    },
    // The common integer operations get variants of their own: one dispatch per op instead of
    // two (the `Bin` path matches on the operation again).
    Add64 {
        d: S,
        a: S,
        b: S,
    },
    Sub64 {
        d: S,
        a: S,
        b: S,
    },
    And64 {
        d: S,
        a: S,
        b: S,
    },
    Or64 {
        d: S,
        a: S,
        b: S,
    },
    Xor64 {
        d: S,
        a: S,
        b: S,
    },
    Bin {
        op: BinOp,
        w: u8,
        d: S,
        a: S,
        b: S,
    },
    Bin128 {
        op: BinOp,
        d: S,
        a: S,
        b: S,
    },
    Un {
        op: UnOp,
        w: u8,
        d: S,
        s: S,
    },
    Not128 {
        d: S,
        s: S,
    },
    Conv {
        conv: Conv,
        d: S,
        s: S,
        ty: Type,
    },
    Concat {
        d: S,
        lo: S,
        hi: S,
    },
    Extract {
        d: S,
        s: S,
        pos: u8,
        len: u8,
        signed: bool,
        ty: Type,
    },
    Deposit {
        d: S,
        base: S,
        val: S,
        pos: u8,
        len: u8,
        ty: Type,
    },
    SetCond {
        cond: Cond,
        w: u8,
        d: S,
        a: S,
        b: S,
    },
    /// Operands `a, b, t, f` are `Prepared::operands[ops..ops + 4]`.
    Select {
        cond: Cond,
        w: u8,
        d: S,
        ops: u32,
    },
    BrCond {
        cond: Cond,
        w: u8,
        a: S,
        b: S,
        to: u32,
    },
    Br {
        to: u32,
    },
    Load {
        d: S,
        addr: S,
        mem: MemOp,
        ty: Type,
    },
    Store {
        s: S,
        addr: S,
        mem: MemOp,
    },
    LoadState {
        d: S,
        off: u32,
        mem: MemOp,
        ty: Type,
    },
    StoreState {
        s: S,
        off: u32,
        mem: MemOp,
    },
    /// Operands `addr, val` are `Prepared::operands[ops..ops + 2]`.
    AtomicRmw {
        op: AtomicOp,
        d: S,
        ops: u32,
        mem: MemOp,
        ty: Type,
    },
    /// Operands `addr, expected, new` are `Prepared::operands[ops..ops + 3]`.
    AtomicCas {
        d: S,
        ops: u32,
        mem: MemOp,
        ty: Type,
    },
    Fence(Fence),
    /// `Prepared::operands[ops]` is the result's slot ([`NO_SLOT`] for none), the `n`
    /// arguments follow it.
    Call {
        helper: &'static Helper,
        ops: u32,
        n: u8,
    },
    GotoTb(u8),
    ExitTb(u32),
    Lookup,
}

/// [`Ins::Call`]'s `ret` without a result.
const NO_SLOT: S = S::MAX;

/// A global: its slot, byte offset in the state and width in bytes.
#[derive(Clone, Copy, Debug)]
struct Global {
    slot: S,
    off: u32,
    bytes: u8,
}

/// Globals to copy between the state and their slots, the 8-byte ones (almost all) first, so
/// that they are copied without a dispatch on the width (a run copies dozens).
#[derive(Debug)]
struct GlobalCopies {
    all: Box<[Global]>,
    eight_bytes: usize,
}

impl GlobalCopies {
    fn new(globals: &mut [Global]) -> GlobalCopies {
        globals.sort_by_key(|g| g.bytes != 8);
        GlobalCopies {
            eight_bytes: globals.iter().take_while(|g| g.bytes == 8).count(),
            all: Box::from(&*globals),
        }
    }

    /// # Safety
    /// `env` is valid at every global's offset.
    #[inline]
    unsafe fn load(&self, s: &mut [u128], env: *const u8) {
        let (eight, rest) = self.all.split_at(self.eight_bytes);
        for g in eight {
            // SAFETY: per the function's contract.
            let v = unsafe { env.add(g.off as usize).cast::<u64>().read_unaligned() };
            s[g.slot as usize] = u128::from(u64::from_le(v));
        }
        for g in rest {
            // SAFETY: per the function's contract.
            s[g.slot as usize] = unsafe { rd(env.add(g.off as usize), g.bytes) };
        }
    }

    /// # Safety
    /// `env` is valid at every global's offset.
    #[inline]
    unsafe fn store(&self, s: &[u128], env: *mut u8) {
        let (eight, rest) = self.all.split_at(self.eight_bytes);
        for g in eight {
            let v = (s[g.slot as usize] as u64).to_le();
            // SAFETY: per the function's contract.
            unsafe { env.add(g.off as usize).cast::<u64>().write_unaligned(v) };
        }
        for g in rest {
            // SAFETY: per the function's contract.
            unsafe { wr(env.add(g.off as usize), g.bytes, s[g.slot as usize]) };
        }
    }
}

/// A block ready for the fast interpreter.
#[derive(Debug)]
pub struct Prepared {
    code: Box<[Ins]>,
    /// The 128-bit constants ([`Ins::Const128`]), kept out of line so that an [`Ins`] stays
    /// small: blocks are prepared by the thousand and stay in memory.
    consts: Box<[u128]>,
    /// The operands of the ops that have more than fit in an [`Ins`], one run after another.
    operands: Box<[S]>,
    /// The globals the block uses, loaded at entry.
    loads: GlobalCopies,
    /// The globals the block writes, stored at exits.
    stores: GlobalCopies,
    slots: usize,
    env_slot: Option<S>,
}

/// Why a block cannot be prepared: it needs something only compiled code does faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPreparable(pub &'static str);

#[inline]
fn mask(ty: Type) -> u128 {
    match ty {
        Type::I32 => u32::MAX as u128,
        Type::I64 => u64::MAX as u128,
        Type::I128 => u128::MAX,
    }
}

fn width(ty: Type) -> u8 {
    ty.bits() as u8
}

/// The working vectors of [`Prepared::new`], kept per thread: allocating them for every
/// block was a tenth of a preparation.
#[derive(Default)]
struct Scratch {
    labels: Vec<u32>,
    fixups: Vec<usize>,
    access: Vec<u8>,
    globals: Vec<Global>,
    written: Vec<Global>,
    code: Vec<Ins>,
    consts: Vec<u128>,
    operands: Vec<S>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

impl Prepared {
    /// Pre-decodes `block`, which must pass [`crate::verify`].
    ///
    /// Refuses blocks with a 16-byte compare-and-swap: compiled code does it with the host's
    /// own 16-byte instruction, which a lock here would not be atomic with when another vCPU
    /// runs the compiled version of a block on the same bytes.
    pub fn new(block: &Block) -> Result<Prepared, NotPreparable> {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => Prepared::new_with(block, &mut s),
            Err(_) => Prepared::new_with(block, &mut Scratch::default()),
        })
    }

    fn new_with(block: &Block, scratch: &mut Scratch) -> Result<Prepared, NotPreparable> {
        let Scratch {
            labels,
            fixups,
            access,
            globals,
            written,
            code,
            consts,
            operands,
        } = scratch;
        // One pass over the ops (this runs for every block translated): branches are emitted
        // with their label's number, resolved at the end through `fixups`.
        labels.clear();
        labels.resize(block.num_labels as usize, u32::MAX);
        fixups.clear();
        // Per temp: 1 if read, 2 if written (only the globals' are used).
        access.clear();
        access.resize(block.temps.len(), 0);
        globals.clear();
        written.clear();
        code.clear();
        consts.clear();
        operands.clear();
        // Every slot index in the prepared code comes from here, checked against the slot
        // count (`run` indexes slots without bounds checks).
        let n_slots = block.temps.len();
        assert!(n_slots < NO_SLOT as usize, "too many temporaries");
        let slot = |t: crate::Temp| {
            assert!((t.0 as usize) < n_slots, "temp {} out of range", t.0);
            t.0 as S
        };
        let ty = |t: crate::Temp| block.ty(t);
        let mut env_slot = None;
        for (i, info) in block.temps.iter().enumerate() {
            match info.kind {
                TempKind::Global { offset, .. } => globals.push(Global {
                    slot: i as S,
                    off: offset,
                    bytes: (info.ty.bits() / 8) as u8,
                }),
                TempKind::Env => env_slot = Some(i as S),
                TempKind::Local => {}
            }
        }
        // Appends a run of operands, returning where it starts.
        let mut spill = |slots: &[S]| {
            operands.extend_from_slice(slots);
            (operands.len() - slots.len()) as u32
        };
        for op in &block.ops {
            if let Some(d) = op_dst(op) {
                access[d.0 as usize] |= 2;
            }
            for_each_src(op, |t| access[t.0 as usize] |= 1);
            let ins = match *op {
                Op::SetLabel { label } => {
                    labels[label.0 as usize] = code.len() as u32;
                    continue;
                }
                Op::AtomicCmpxchg { mem, .. } if mem.size == 16 => {
                    return Err(NotPreparable("16-byte compare-and-swap"));
                }
                Op::Discard { .. } => continue,
                Op::InsnStart { pc } => Ins::Pc(pc),
                Op::Mov { dst, src } => Ins::Mov {
                    d: slot(dst),
                    s: slot(src),
                },
                Op::Const { dst, imm } => {
                    let v = u128::from(imm) & mask(ty(dst));
                    match u64::try_from(v) {
                        Ok(v) => Ins::Const { d: slot(dst), v },
                        Err(_) => {
                            consts.push(v);
                            Ins::Const128 {
                                d: slot(dst),
                                idx: (consts.len() - 1) as u32,
                            }
                        }
                    }
                }
                Op::Binary { op, dst, a, b } if ty(dst) == Type::I128 => Ins::Bin128 {
                    op,
                    d: slot(dst),
                    a: slot(a),
                    b: slot(b),
                },
                Op::Binary { op, dst, a, b } => {
                    let (d, a, b) = (slot(dst), slot(a), slot(b));
                    match (op, ty(dst)) {
                        (BinOp::Add, Type::I64) => Ins::Add64 { d, a, b },
                        (BinOp::Sub, Type::I64) => Ins::Sub64 { d, a, b },
                        (BinOp::And, Type::I64) => Ins::And64 { d, a, b },
                        (BinOp::Or, Type::I64) => Ins::Or64 { d, a, b },
                        (BinOp::Xor, Type::I64) => Ins::Xor64 { d, a, b },
                        (op, t) => Ins::Bin {
                            op,
                            w: width(t),
                            d,
                            a,
                            b,
                        },
                    }
                }
                Op::Unary { op, dst, src } if ty(dst) == Type::I128 => {
                    if op == UnOp::Not {
                        Ins::Not128 {
                            d: slot(dst),
                            s: slot(src),
                        }
                    } else {
                        // The verifier rejects it; the reference gives 0.
                        Ins::Const { d: slot(dst), v: 0 }
                    }
                }
                Op::Unary { op, dst, src } => Ins::Un {
                    op,
                    w: width(ty(dst)),
                    d: slot(dst),
                    s: slot(src),
                },
                Op::Convert { conv, dst, src } => Ins::Conv {
                    conv,
                    d: slot(dst),
                    s: slot(src),
                    ty: ty(dst),
                },
                Op::Concat { dst, lo, hi } => Ins::Concat {
                    d: slot(dst),
                    lo: slot(lo),
                    hi: slot(hi),
                },
                Op::Extract {
                    dst,
                    src,
                    pos,
                    len,
                    signed,
                } => Ins::Extract {
                    d: slot(dst),
                    s: slot(src),
                    pos,
                    len,
                    signed,
                    ty: ty(dst),
                },
                Op::Deposit {
                    dst,
                    base,
                    val,
                    pos,
                    len,
                } => Ins::Deposit {
                    d: slot(dst),
                    base: slot(base),
                    val: slot(val),
                    pos,
                    len,
                    ty: ty(dst),
                },
                Op::SetCond { cond, dst, a, b } => Ins::SetCond {
                    cond,
                    w: width(ty(a)),
                    d: slot(dst),
                    a: slot(a),
                    b: slot(b),
                },
                Op::Select {
                    cond,
                    dst,
                    a,
                    b,
                    t,
                    f,
                } => Ins::Select {
                    cond,
                    w: width(ty(a)),
                    d: slot(dst),
                    ops: spill(&[slot(a), slot(b), slot(t), slot(f)]),
                },
                Op::BrCond { cond, a, b, label } => {
                    fixups.push(code.len());
                    Ins::BrCond {
                        cond,
                        w: width(ty(a)),
                        a: slot(a),
                        b: slot(b),
                        to: label.0,
                    }
                }
                Op::Br { label } => {
                    fixups.push(code.len());
                    Ins::Br { to: label.0 }
                }
                Op::Load { dst, addr, mem } => Ins::Load {
                    d: slot(dst),
                    addr: slot(addr),
                    mem,
                    ty: ty(dst),
                },
                Op::Store { src, addr, mem } => Ins::Store {
                    s: slot(src),
                    addr: slot(addr),
                    mem,
                },
                Op::LoadState { dst, offset, mem } => Ins::LoadState {
                    d: slot(dst),
                    off: offset,
                    mem,
                    ty: ty(dst),
                },
                Op::StoreState { src, offset, mem } => Ins::StoreState {
                    s: slot(src),
                    off: offset,
                    mem,
                },
                Op::AtomicRmw {
                    op,
                    dst,
                    addr,
                    val,
                    mem,
                } => Ins::AtomicRmw {
                    op,
                    d: slot(dst),
                    ops: spill(&[slot(addr), slot(val)]),
                    mem,
                    ty: ty(dst),
                },
                Op::AtomicCmpxchg {
                    dst,
                    addr,
                    expected,
                    new,
                    mem,
                } => Ins::AtomicCas {
                    d: slot(dst),
                    ops: spill(&[slot(addr), slot(expected), slot(new)]),
                    mem,
                    ty: ty(dst),
                },
                Op::Fence { kind } => Ins::Fence(kind),
                Op::Call {
                    helper,
                    ref args,
                    ret,
                } => {
                    if args.len() > 6 {
                        return Err(NotPreparable("helper with more than six arguments"));
                    }
                    let mut run = [NO_SLOT; 7];
                    run[0] = ret.map_or(NO_SLOT, slot);
                    for (r, &a) in run[1..].iter_mut().zip(args) {
                        *r = slot(a);
                    }
                    Ins::Call {
                        helper,
                        ops: spill(&run[..=args.len()]),
                        n: args.len() as u8,
                    }
                }
                Op::GotoTb { slot } | Op::GotoStart { slot } => Ins::GotoTb(slot),
                Op::ExitTb { code } => Ins::ExitTb(code),
                Op::LookupAndGotoPtr => Ins::Lookup,
            };
            code.push(ins);
        }
        for &k in fixups.iter() {
            if let Ins::BrCond { to, .. } | Ins::Br { to } = &mut code[k] {
                *to = labels[*to as usize];
            }
        }
        globals.retain(|g| access[g.slot as usize] != 0);
        written.extend(globals.iter().filter(|g| access[g.slot as usize] & 2 != 0));
        if code.is_empty() {
            return Err(NotPreparable("empty block"));
        }
        Ok(Prepared {
            code: Box::from(&code[..]),
            consts: Box::from(&consts[..]),
            operands: Box::from(&operands[..]),
            loads: GlobalCopies::new(globals),
            stores: GlobalCopies::new(written),
            slots: block.temps.len(),
            env_slot,
        })
    }

    /// Slots a run needs in its scratch buffer.
    pub fn scratch_len(&self) -> usize {
        self.slots
    }

    /// Runs the block against the CPU state at `env` and guest memory `mem` until it exits.
    ///
    /// `scratch` is reused between runs (it grows to [`Prepared::scratch_len`]). The guest pc
    /// of each instruction is written to `*cur_pc` as it starts, so that a host fault in a
    /// guest access can be reported against the right instruction. Returns
    /// [`InterpExit::Fault`] only for a misaligned access the IR marked `aligned` (state may
    /// be out of sync then, as after a compiled block's trap); other bad accesses fault on the
    /// host, as compiled code does.
    ///
    /// # Safety
    /// As for [`crate::interpret`], and: `mem.size` must be a power of two followed by a
    /// guard region (never accessible) of at least 16 bytes, since addresses are clamped to
    /// `mem.size` rather than checked; `cur_pc` must be valid for writes.
    pub unsafe fn run(
        &self,
        env: *mut u8,
        mem: GuestMemoryView,
        scratch: &mut Vec<u128>,
        cur_pc: *mut u64,
    ) -> InterpExit {
        if scratch.len() < self.slots {
            scratch.resize(self.slots, 0);
        }
        let s = &mut scratch[..self.slots];
        if let Some(e) = self.env_slot {
            s[e as usize] = env as usize as u128;
        }
        // SAFETY: the caller guarantees the state is valid at every global's offset.
        unsafe { self.load_globals(s, env) };
        let host =
            |a: u128| -> *mut u8 { mem.base.wrapping_add(((a as u64).min(mem.size)) as usize) };
        let mut pc = 0u64;
        let mut i = 0usize;
        // The slots are read and written without bounds checks (they were a fifth of the
        // interpreter's instructions).
        macro_rules! v {
            ($x:expr) => {
                // SAFETY: every slot index in `code` and `operands` was checked against
                // `self.slots` in `new_with` (`NO_SLOT` is tested before use), and `s` has
                // `self.slots` elements.
                *unsafe { s.get_unchecked_mut($x as usize) }
            };
        }
        loop {
            // SAFETY (index): labels resolve to op indices inside `code`, and every path ends
            // in an exit (the block was verified), so `i` stays in bounds; a bad block panics
            // on the bounds check instead.
            let ins = &self.code[i];
            i += 1;
            match *ins {
                Ins::Pc(p) => {
                    pc = p;
                    // SAFETY: the caller guarantees `cur_pc` is writable.
                    unsafe { cur_pc.write_volatile(p) };
                }
                Ins::Mov { d, s: x } => v!(d) = v!(x),
                Ins::Const { d, v } => v!(d) = u128::from(v),
                Ins::Const128 { d, idx } => v!(d) = self.consts[idx as usize],
                // 64-bit operands are zero-extended in their slots, and the results of these
                // stay within 64 bits.
                Ins::Add64 { d, a, b } => {
                    v!(d) = u128::from((v!(a) as u64).wrapping_add(v!(b) as u64))
                }
                Ins::Sub64 { d, a, b } => {
                    v!(d) = u128::from((v!(a) as u64).wrapping_sub(v!(b) as u64))
                }
                Ins::And64 { d, a, b } => v!(d) = v!(a) & v!(b),
                Ins::Or64 { d, a, b } => v!(d) = v!(a) | v!(b),
                Ins::Xor64 { d, a, b } => v!(d) = v!(a) ^ v!(b),
                Ins::Bin { op, w, d, a, b } => v!(d) = bin(op, w, v!(a) as u64, v!(b) as u64),
                Ins::Bin128 { op, d, a, b } => {
                    let (a, b) = (v!(a), v!(b));
                    v!(d) = match op {
                        BinOp::And => a & b,
                        BinOp::Or => a | b,
                        BinOp::Xor => a ^ b,
                        BinOp::AndNot => a & !b,
                        BinOp::Lanes { op, bits } => op.apply(bits, a, b),
                        _ => 0,
                    }
                }
                Ins::Un { op, w, d, s: x } => v!(d) = un(op, w, v!(x) as u64),
                Ins::Not128 { d, s: x } => v!(d) = !v!(x),
                Ins::Conv { conv, d, s: x, ty } => {
                    let x = v!(x);
                    let lo = x as u64;
                    let r = match conv {
                        Conv::Ext8s => lo as i8 as i64 as u64,
                        Conv::Ext8u => lo & 0xff,
                        Conv::Ext16s => lo as i16 as i64 as u64,
                        Conv::Ext16u => lo & 0xffff,
                        Conv::Ext32s | Conv::I32ToI64s => lo as i32 as i64 as u64,
                        Conv::Ext32u | Conv::I32ToI64u | Conv::I64ToI32 => lo & 0xffff_ffff,
                        Conv::I128Lo => lo,
                        Conv::I128Hi => (x >> 64) as u64,
                        Conv::ByteSignBits => crate::byte_sign_bits(x),
                    };
                    v!(d) = u128::from(r) & mask(ty);
                }
                Ins::Concat { d, lo, hi } => {
                    v!(d) = (v!(hi) << 64) | (v!(lo) & u128::from(u64::MAX));
                }
                Ins::Extract {
                    d,
                    s: x,
                    pos,
                    len,
                    signed,
                    ty,
                } => {
                    let x = v!(x) >> pos;
                    let len = u32::from(len);
                    let field = if len >= 128 {
                        x
                    } else {
                        x & ((1u128 << len) - 1)
                    };
                    let r = if signed && len < 128 {
                        (((field << (128 - len)) as i128) >> (128 - len)) as u128
                    } else {
                        field
                    };
                    v!(d) = r & mask(ty);
                }
                Ins::Deposit {
                    d,
                    base,
                    val,
                    pos,
                    len,
                    ty,
                } => {
                    let len = u32::from(len);
                    let m = if len >= 128 {
                        u128::MAX
                    } else {
                        (1u128 << len) - 1
                    } << pos;
                    v!(d) = ((v!(base) & !m) | ((v!(val) << pos) & m)) & mask(ty);
                }
                Ins::SetCond { cond, w, d, a, b } => {
                    v!(d) = u128::from(cond_holds(cond, w, v!(a) as u64, v!(b) as u64));
                }
                Ins::Select { cond, w, d, ops } => {
                    let [a, b, t, f] = self.spilled(ops);
                    let c = cond_holds(cond, w, v!(a) as u64, v!(b) as u64);
                    v!(d) = if c { v!(t) } else { v!(f) };
                }
                Ins::BrCond { cond, w, a, b, to } => {
                    if cond_holds(cond, w, v!(a) as u64, v!(b) as u64) {
                        i = to as usize;
                    }
                }
                Ins::Br { to } => i = to as usize,
                Ins::Load {
                    d,
                    addr,
                    mem: m,
                    ty,
                } => {
                    let a = v!(addr) as u64;
                    if m.aligned && a % u64::from(m.size) != 0 {
                        return misaligned(a, pc);
                    }
                    // SAFETY: the clamped address lies in the guest space or its guard region
                    // (the caller's contract); a bad access faults on the host as in compiled
                    // code.
                    let x = unsafe { rd(host(u128::from(a)), m.size) };
                    v!(d) = extend(x, m) & mask(ty);
                }
                Ins::Store { s: x, addr, mem: m } => {
                    let a = v!(addr) as u64;
                    if m.aligned && a % u64::from(m.size) != 0 {
                        return misaligned(a, pc);
                    }
                    let val = v!(x);
                    // SAFETY: as for `Load`.
                    unsafe { wr(host(u128::from(a)), m.size, val) };
                }
                Ins::LoadState { d, off, mem: m, ty } => {
                    // SAFETY: the caller guarantees the state is valid at this offset.
                    let x = unsafe { rd(env.add(off as usize), m.size) };
                    v!(d) = extend(x, m) & mask(ty);
                }
                Ins::StoreState { s: x, off, mem: m } => {
                    let val = v!(x);
                    // SAFETY: the caller guarantees the state is valid at this offset.
                    unsafe { wr(env.add(off as usize), m.size, val) };
                }
                Ins::AtomicRmw {
                    op,
                    d,
                    ops,
                    mem: m,
                    ty,
                } => {
                    let [addr, val] = self.spilled(ops);
                    let a = v!(addr) as u64;
                    if m.aligned && a % u64::from(m.size) != 0 {
                        return misaligned(a, pc);
                    }
                    let p = host(u128::from(a));
                    let x = v!(val) as u64;
                    // SAFETY: `p` is a clamped guest address (see `Load`).
                    let old = unsafe { atomic_rmw(op, p, m.size, x) };
                    v!(d) = extend(u128::from(old), m) & mask(ty);
                }
                Ins::AtomicCas { d, ops, mem: m, ty } => {
                    let [addr, exp, new] = self.spilled(ops);
                    let a = v!(addr) as u64;
                    if m.aligned && a % u64::from(m.size) != 0 {
                        return misaligned(a, pc);
                    }
                    let p = host(u128::from(a));
                    let size_mask = (1u64 << (u32::from(m.size) * 8 - 1) << 1).wrapping_sub(1);
                    let e = v!(exp) as u64 & size_mask;
                    let n = v!(new) as u64;
                    // SAFETY: `p` is a clamped guest address (see `Load`); 16-byte
                    // compare-and-swaps were refused at preparation.
                    let old = unsafe { atomic_cas(p, m.size, e, n) };
                    v!(d) = extend(u128::from(old), m) & mask(ty);
                }
                Ins::Fence(kind) => atomic::fence(match kind {
                    Fence::LoadLoad => Ordering::Acquire,
                    Fence::StoreStore => Ordering::Release,
                    Fence::Full => Ordering::SeqCst,
                }),
                Ins::Call { helper, ops, n } => {
                    let ret = self.operands[ops as usize];
                    let args = &self.operands[ops as usize + 1..][..usize::from(n)];
                    let f = helper.flags;
                    if f.reads_state || f.writes_state {
                        // SAFETY: as at entry.
                        unsafe { self.store_globals(s, env) };
                    }
                    let mut a = [0u64; 6];
                    for (k, &x) in args.iter().enumerate() {
                        a[k] = v!(x) as u64;
                    }
                    // SAFETY: the caller guarantees every helper matches its declaration;
                    // `args.len() <= 6` was checked at preparation.
                    let r = unsafe { call_helper(helper.addr, &a[..args.len()]) };
                    if f.writes_state {
                        // SAFETY: as at entry.
                        unsafe { self.load_globals(s, env) };
                    }
                    if ret != NO_SLOT {
                        v!(ret) = u128::from(r);
                    }
                }
                Ins::GotoTb(slot) => {
                    // SAFETY: as at entry.
                    unsafe { self.store_globals(s, env) };
                    return InterpExit::GotoTb { slot };
                }
                Ins::ExitTb(code) => {
                    // SAFETY: as at entry.
                    unsafe { self.store_globals(s, env) };
                    return InterpExit::ExitTb { code };
                }
                Ins::Lookup => {
                    // SAFETY: as at entry.
                    unsafe { self.store_globals(s, env) };
                    return InterpExit::LookupAndGotoPtr;
                }
            }
        }
    }

    /// The `N` operands spilled at `ops`.
    #[inline]
    fn spilled<const N: usize>(&self, ops: u32) -> [S; N] {
        let mut r = [0; N];
        r.copy_from_slice(&self.operands[ops as usize..][..N]);
        r
    }

    /// # Safety
    /// `env` is valid at every global's offset.
    unsafe fn load_globals(&self, s: &mut [u128], env: *mut u8) {
        // SAFETY: per the function's contract.
        unsafe { self.loads.load(s, env) }
    }

    /// # Safety
    /// `env` is valid at every global's offset.
    unsafe fn store_globals(&self, s: &[u128], env: *mut u8) {
        // SAFETY: per the function's contract.
        unsafe { self.stores.store(s, env) }
    }
}

fn misaligned(addr: u64, pc: u64) -> InterpExit {
    InterpExit::Fault {
        addr,
        pc,
        misaligned: true,
    }
}

/// Extends a loaded value of `mem.size` bytes (sign or zero); the caller masks to the type.
#[inline]
fn extend(v: u128, mem: MemOp) -> u128 {
    let bits = u32::from(mem.size) * 8;
    if mem.signed && bits < 128 {
        (((v << (128 - bits)) as i128) >> (128 - bits)) as u128
    } else {
        v
    }
}

#[inline]
fn sext(v: u64, w: u8) -> i64 {
    if w == 32 {
        v as i32 as i64
    } else {
        v as i64
    }
}

#[inline]
fn cond_holds(cond: Cond, w: u8, a: u64, b: u64) -> bool {
    let (a, b) = if w == 32 {
        (a & 0xffff_ffff, b & 0xffff_ffff)
    } else {
        (a, b)
    };
    match cond {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::Lt => sext(a, w) < sext(b, w),
        Cond::Ge => sext(a, w) >= sext(b, w),
        Cond::Le => sext(a, w) <= sext(b, w),
        Cond::Gt => sext(a, w) > sext(b, w),
        Cond::Ltu => a < b,
        Cond::Geu => a >= b,
        Cond::Leu => a <= b,
        Cond::Gtu => a > b,
        Cond::TstEq => a & b == 0,
        Cond::TstNe => a & b != 0,
    }
}

#[inline]
fn bin(op: BinOp, w: u8, a: u64, b: u64) -> u128 {
    if w == 32 {
        let (a, b) = (a as u32, b as u32);
        let sh = b & 31;
        let r = match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::MulHu => ((u64::from(a) * u64::from(b)) >> 32) as u32,
            BinOp::MulHs => ((i64::from(a as i32) * i64::from(b as i32)) >> 32) as u32,
            BinOp::DivU => a.checked_div(b).unwrap_or(0),
            BinOp::RemU => a.checked_rem(b).unwrap_or(0),
            BinOp::DivS => {
                if b == 0 {
                    0
                } else {
                    (a as i32).wrapping_div(b as i32) as u32
                }
            }
            BinOp::RemS => {
                if b == 0 {
                    0
                } else {
                    (a as i32).wrapping_rem(b as i32) as u32
                }
            }
            BinOp::And => a & b,
            BinOp::Or => a | b,
            BinOp::Xor => a ^ b,
            BinOp::AndNot => a & !b,
            BinOp::Shl => a << sh,
            BinOp::Shr => a >> sh,
            BinOp::Sar => ((a as i32) >> sh) as u32,
            BinOp::Rotl => a.rotate_left(sh),
            BinOp::Rotr => a.rotate_right(sh),
            BinOp::FAdd | BinOp::FSub | BinOp::FMul | BinOp::FDiv => {
                crate::interp::float_binary(op, false, u64::from(a), u64::from(b)) as u32
            }
            // I128 only (verified): `Bin128` runs it.
            BinOp::Lanes { .. } => 0,
        };
        u128::from(r)
    } else {
        let sh = (b & 63) as u32;
        let r = match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::MulHu => ((u128::from(a) * u128::from(b)) >> 64) as u64,
            BinOp::MulHs => ((i128::from(a as i64) * i128::from(b as i64)) >> 64) as u64,
            BinOp::DivU => a.checked_div(b).unwrap_or(0),
            BinOp::RemU => a.checked_rem(b).unwrap_or(0),
            BinOp::DivS => {
                if b == 0 {
                    0
                } else {
                    (a as i64).wrapping_div(b as i64) as u64
                }
            }
            BinOp::RemS => {
                if b == 0 {
                    0
                } else {
                    (a as i64).wrapping_rem(b as i64) as u64
                }
            }
            BinOp::And => a & b,
            BinOp::Or => a | b,
            BinOp::Xor => a ^ b,
            BinOp::AndNot => a & !b,
            BinOp::Shl => a << sh,
            BinOp::Shr => a >> sh,
            BinOp::Sar => ((a as i64) >> sh) as u64,
            BinOp::Rotl => a.rotate_left(sh),
            BinOp::Rotr => a.rotate_right(sh),
            BinOp::FAdd | BinOp::FSub | BinOp::FMul | BinOp::FDiv => {
                crate::interp::float_binary(op, true, a, b)
            }
            BinOp::Lanes { .. } => 0,
        };
        u128::from(r)
    }
}

#[inline]
fn un(op: UnOp, w: u8, v: u64) -> u128 {
    let m = if w == 32 { 0xffff_ffff } else { u64::MAX };
    let v = v & m;
    let r = match op {
        UnOp::Neg => v.wrapping_neg(),
        UnOp::Not => !v,
        UnOp::Clz => u64::from(v.leading_zeros() - (64 - u32::from(w))),
        UnOp::Ctz => u64::from(v.trailing_zeros().min(u32::from(w))),
        UnOp::Popcnt => u64::from(v.count_ones()),
        UnOp::Bswap16 => u64::from((v as u16).swap_bytes()),
        UnOp::Bswap32 => u64::from((v as u32).swap_bytes()),
        UnOp::Bswap64 => v.swap_bytes(),
        UnOp::FSqrt => crate::interp::float_sqrt(w == 64, v),
    };
    u128::from(r & m)
}

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

macro_rules! rmw_at {
    ($aty:ty, $ty:ty, $p:expr, $op:expr, $v:expr) => {{
        // SAFETY: the caller checked alignment; `$p` is valid for the access.
        let a = unsafe { &*($p as *const $aty) };
        let v = $v as $ty;
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

macro_rules! cas_at {
    ($aty:ty, $ty:ty, $p:expr, $e:expr, $n:expr) => {{
        // SAFETY: the caller checked alignment; `$p` is valid for the access.
        let a = unsafe { &*($p as *const $aty) };
        match a.compare_exchange($e as $ty, $n as $ty, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(v) | Err(v) => v as u64,
        }
    }};
}

/// Atomic read-modify-write of `size` (1, 2, 4 or 8) bytes at `p`; returns the old value.
///
/// # Safety
/// `p..p+size` is guest memory (or its guard, which faults).
unsafe fn atomic_rmw(op: AtomicOp, p: *mut u8, size: u8, v: u64) -> u64 {
    if (p as usize) % usize::from(size) == 0 {
        return match size {
            1 => rmw_at!(AtomicU8, u8, p, op, v),
            2 => rmw_at!(AtomicU16, u16, p, op, v),
            4 => rmw_at!(AtomicU32, u32, p, op, v),
            _ => rmw_at!(AtomicU64, u64, p, op, v),
        };
    }
    // Misaligned: a compare-and-swap loop.
    loop {
        // SAFETY: per the function's contract.
        let old = unsafe { rd(p, size) } as u64;
        // SAFETY: as above.
        if unsafe { atomic_cas(p, size, old, rmw(op, old, v)) } == old {
            return old;
        }
    }
}

/// Atomic compare-and-swap of `size` (1, 2, 4 or 8) bytes at `p`; returns the old value.
///
/// A misaligned one is still atomic on x86-64 hosts (`lock cmpxchg` allows any alignment, as
/// compiled code relies on too); elsewhere it takes a process-wide lock, atomic only with
/// respect to other misaligned atomics of this interpreter, not to compiled code or plain
/// stores on other threads: frontends keep misaligned atomics out of blocks on those hosts
/// (the x86 frontend leaves the block and runs the instruction in an exclusive section).
///
/// # Safety
/// `p..p+size` is guest memory (or its guard, which faults).
unsafe fn atomic_cas(p: *mut u8, size: u8, e: u64, n: u64) -> u64 {
    if (p as usize) % usize::from(size) == 0 {
        return match size {
            1 => cas_at!(AtomicU8, u8, p, e, n),
            2 => cas_at!(AtomicU16, u16, p, e, n),
            4 => cas_at!(AtomicU32, u32, p, e, n),
            _ => cas_at!(AtomicU64, u64, p, e, n),
        };
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut old = e;
        // SAFETY: `p` is valid for `size` bytes; `lock cmpxchg` of any alignment is atomic on
        // x86-64 (a split lock at worst).
        unsafe {
            match size {
                2 => std::arch::asm!("lock cmpxchg word ptr [{p}], {n:x}", p = in(reg) p,
                    n = in(reg) n, inout("rax") old, options(nostack)),
                4 => std::arch::asm!("lock cmpxchg dword ptr [{p}], {n:e}", p = in(reg) p,
                    n = in(reg) n, inout("rax") old, options(nostack)),
                _ => std::arch::asm!("lock cmpxchg qword ptr [{p}], {n}", p = in(reg) p,
                    n = in(reg) n, inout("rax") old, options(nostack)),
            }
        }
        let m = (1u64 << (u32::from(size) * 8 - 1) << 1).wrapping_sub(1);
        old & m
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: per the function's contract; serialised by the lock.
        let old = unsafe { rd(p, size) } as u64;
        if old == e {
            // SAFETY: as above.
            unsafe { wr(p, size, u128::from(n)) };
        }
        old
    }
}

/// Reads `size` (1, 2, 4, 8 or 16) little-endian bytes at `p`, zero-extended.
///
/// # Safety
/// `p..p+size` must be readable.
#[inline(always)]
unsafe fn rd(p: *const u8, size: u8) -> u128 {
    // SAFETY: per the function's contract; unaligned reads.
    unsafe {
        match size {
            1 => u128::from(p.read()),
            2 => u128::from(u16::from_le(p.cast::<u16>().read_unaligned())),
            4 => u128::from(u32::from_le(p.cast::<u32>().read_unaligned())),
            8 => u128::from(u64::from_le(p.cast::<u64>().read_unaligned())),
            _ => u128::from_le(p.cast::<u128>().read_unaligned()),
        }
    }
}

/// Writes the low `size` (1, 2, 4, 8 or 16) bytes of `v` at `p`, little-endian.
///
/// # Safety
/// `p..p+size` must be writable.
#[inline(always)]
unsafe fn wr(p: *mut u8, size: u8, v: u128) {
    // SAFETY: per the function's contract; unaligned writes.
    unsafe {
        match size {
            1 => p.write(v as u8),
            2 => p.cast::<u16>().write_unaligned((v as u16).to_le()),
            4 => p.cast::<u32>().write_unaligned((v as u32).to_le()),
            8 => p.cast::<u64>().write_unaligned((v as u64).to_le()),
            _ => p.cast::<u128>().write_unaligned(v.to_le()),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Prepared blocks stay in memory for every block that has no host code, thousands of them
    /// in a large program: an op must stay small.
    #[test]
    fn an_op_takes_at_most_16_bytes() {
        assert!(std::mem::size_of::<super::Ins>() <= 16);
    }

    /// `run` indexes slots unchecked: a temp that does not exist must stop preparation.
    #[test]
    #[should_panic]
    fn a_temp_beyond_the_block_is_refused() {
        let mut b = crate::Block::new(0);
        let t = b.new_temp(crate::Type::I64);
        b.push(crate::Op::Mov {
            dst: t,
            src: crate::Temp(7),
        });
        b.push(crate::Op::ExitTb { code: 0 });
        let _ = super::Prepared::new(&b);
    }
}
