//! The intermediate representation between guest frontends and host backends.
//!
//! A TCG-style IR (after QEMU's Tiny Code Generator): typed temporaries, globals that name
//! fields of the guest CPU state, labels and branches inside one block, guest memory
//! accesses, atomics, helper calls, `insn_start` markers back to guest pcs and block exits.
//! This crate owns the IR's data types, its printer (`-d op`) and its verifier. It knows
//! nothing of x86 or of any host: frontends and backends meet only here.
//!
//! # Execution model
//! A [`Block`] is one translation block: straight-line guest code translated into ops that
//! may branch forward and backward to labels inside the block. Every path ends in an exit
//! ([`Op::GotoTb`], [`Op::GotoStart`], [`Op::ExitTb`] or
//! [`Op::LookupAndGotoPtr`]). Temporaries are mutable
//! variables (not SSA); a backend turns them into SSA itself.
//!
//! Globals are temporaries backed by a field of the guest CPU state at a fixed byte offset
//! from the `env` pointer the block runs with. A backend may keep a global in a host register
//! inside the block, but the CPU state in memory must hold every global's value at each
//! block exit and before every helper call whose [`HelperFlags`] say it reads or writes the
//! state (and globals must be reloaded after a call that writes it). Guest memory accesses
//! do not force a sync: after a guest fault the backend guarantees only that the faulting
//! instruction's guest pc can be recovered from the `insn_start` markers.

mod interp;
mod prepared;
mod print;
mod verify;

pub use interp::{interpret, GuestMemoryView, InterpExit};
pub use prepared::{NotPreparable, Prepared};
pub use verify::{verify, VerifyError};

/// The type of a temporary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// 32-bit integer.
    I32,
    /// 64-bit integer (also used for guest addresses and host pointers).
    I64,
    /// 128-bit value (vector registers, 128-bit atomics).
    I128,
}

impl Type {
    /// Width in bits.
    pub fn bits(self) -> u32 {
        match self {
            Type::I32 => 32,
            Type::I64 => 64,
            Type::I128 => 128,
        }
    }
}

/// A temporary: an index into [`Block::temps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Temp(pub u32);

/// A label inside a block: an index below [`Block::num_labels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub u32);

/// What a temporary is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TempKind {
    /// A block-local variable; its value is undefined until first written.
    Local,
    /// A field of the guest CPU state at this byte offset from `env`.
    Global {
        /// Byte offset from the `env` pointer.
        offset: u32,
        /// Name used by the printer.
        name: &'static str,
    },
    /// The `env` pointer itself (host pointer to the guest CPU state), type `I64`.
    /// Read-only.
    Env,
}

/// Declaration of one temporary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TempInfo {
    /// Its type.
    pub ty: Type,
    /// Local, global or env.
    pub kind: TempKind,
}

/// Comparison conditions. `Lt..Gt` are signed, `Ltu..Gtu` unsigned; `TstEq`/`TstNe`
/// compare `a & b` with zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Cond {
    Eq,
    Ne,
    Lt,
    Ge,
    Le,
    Gt,
    Ltu,
    Geu,
    Leu,
    Gtu,
    TstEq,
    TstNe,
}

impl Cond {
    /// The condition that holds exactly when `self` does not.
    pub fn invert(self) -> Cond {
        use Cond::*;
        match self {
            Eq => Ne,
            Ne => Eq,
            Lt => Ge,
            Ge => Lt,
            Le => Gt,
            Gt => Le,
            Ltu => Geu,
            Geu => Ltu,
            Leu => Gtu,
            Gtu => Leu,
            TstEq => TstNe,
            TstNe => TstEq,
        }
    }
}

/// Two-operand integer operations; operands and result share one type (`I32` or `I64`; the
/// bitwise `And`, `Or`, `Xor` and `AndNot` (`a & !b`) also take `I128`).
///
/// Shift and rotate counts are taken modulo the width. `DivU`..`RemS` must not be given a zero
/// divisor or, for the signed ones, `MIN / -1`: the frontend checks first (x86 raises #DE).
/// `MulHu`/`MulHs` give the high half of the double-width product.
///
/// `FAdd`..`FDiv` are IEEE 754 arithmetic on the operands' bits as binary64 (`I64`) or
/// binary32 (`I32`), rounded to nearest-even (the host's default environment), trapping
/// never; they are the host's own instructions, so a NaN result's bits, denormal handling
/// and the exception flags they leave in the host's status register are the host's (on an
/// x86-64 host: SSE's. Frontends that need another guest's rules check operands and results
/// themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    MulHu,
    MulHs,
    DivU,
    DivS,
    RemU,
    RemS,
    And,
    Or,
    Xor,
    AndNot,
    Shl,
    Shr,
    Sar,
    Rotl,
    Rotr,
    FAdd,
    FSub,
    FMul,
    FDiv,
    /// Lane-wise `op` on `I128` operands seen as vectors of `bits`-bit integers (8, 16, 32 or
    /// 64; lane 0 in the low bits). A backend may run it on the host's SIMD unit; a frontend
    /// emits it only where the backend says it does ([`LaneOp`]).
    Lanes {
        op: LaneOp,
        bits: u8,
    },
}

/// The lane-wise operations of [`BinOp::Lanes`]: wrapping `Add`/`Sub`; `CmpEq` gives all ones
/// in each lane where the lanes are equal and zero elsewhere; `MinU`/`MaxU` compare unsigned.
/// The rearrangements: `InterleaveLow` takes lanes from the low halves of `a` and `b`
/// alternately (`a0 b0 a1 b1 ...`, x86's `punpckl*`), `InterleaveHigh` from the high halves;
/// `Swizzle` (8-bit lanes only) gives in byte `i` the byte of `a` that byte `i` of `b` indexes,
/// or zero where that index is 16 or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum LaneOp {
    Add,
    Sub,
    CmpEq,
    MinU,
    MaxU,
    InterleaveLow,
    InterleaveHigh,
    Swizzle,
}

impl LaneOp {
    /// Every lane op.
    pub const ALL: [LaneOp; 8] = [
        LaneOp::Add,
        LaneOp::Sub,
        LaneOp::CmpEq,
        LaneOp::MinU,
        LaneOp::MaxU,
        LaneOp::InterleaveLow,
        LaneOp::InterleaveHigh,
        LaneOp::Swizzle,
    ];

    /// `op` on every `bits`-bit lane of `a` and `b` (the IR's reference semantics).
    pub fn apply(self, bits: u8, a: u128, b: u128) -> u128 {
        let bits = u32::from(bits);
        let mask = u128::MAX >> (128 - bits);
        let lane = |v: u128, i: u32| (v >> (i * bits)) & mask;
        match self {
            LaneOp::InterleaveLow | LaneOp::InterleaveHigh => {
                let n = 128 / bits;
                let from = if self == LaneOp::InterleaveLow {
                    0
                } else {
                    n / 2
                };
                return (0..n / 2).fold(0, |r, i| {
                    r | lane(a, from + i) << (2 * i * bits)
                        | lane(b, from + i) << ((2 * i + 1) * bits)
                });
            }
            LaneOp::Swizzle => {
                return (0..16).fold(0, |r, i| {
                    let idx = (b >> (8 * i)) & 0xff;
                    let v = if idx < 16 { (a >> (8 * idx)) & 0xff } else { 0 };
                    r | v << (8 * i)
                });
            }
            _ => {}
        }
        let mut r = 0;
        for pos in (0..128).step_by(bits as usize) {
            let (x, y) = ((a >> pos) & mask, (b >> pos) & mask);
            let v = match self {
                LaneOp::Add => x.wrapping_add(y),
                LaneOp::Sub => x.wrapping_sub(y),
                LaneOp::CmpEq => {
                    if x == y {
                        mask
                    } else {
                        0
                    }
                }
                LaneOp::MinU => x.min(y),
                LaneOp::MaxU => x.max(y),
                LaneOp::InterleaveLow | LaneOp::InterleaveHigh | LaneOp::Swizzle => {
                    unreachable!("rearrangements are done above")
                }
            };
            r |= (v & mask) << pos;
        }
        r
    }
}

impl BinOp {
    /// True for the floating-point operations (`FAdd`..`FDiv`).
    pub fn is_float(self) -> bool {
        matches!(self, BinOp::FAdd | BinOp::FSub | BinOp::FMul | BinOp::FDiv)
    }
}

/// One-operand operations; operand and result share one type (`I32` or `I64`; `Not` also
/// takes `I128`).
///
/// `Clz`/`Ctz` of zero give the width. `Bswap16` swaps the low two bytes and zeroes the rest.
/// `FSqrt` is the IEEE square root of a binary64 (`I64`) or binary32 (`I32`), as for the
/// floating-point [`BinOp`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum UnOp {
    Neg,
    Not,
    Clz,
    Ctz,
    Popcnt,
    Bswap16,
    Bswap32,
    Bswap64,
    FSqrt,
}

/// Conversions between widths and sign- or zero-extension of the low bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Conv {
    /// Sign-extend the low 8 bits (same type in and out).
    Ext8s,
    /// Zero-extend the low 8 bits (same type in and out).
    Ext8u,
    /// Sign-extend the low 16 bits (same type in and out).
    Ext16s,
    /// Zero-extend the low 16 bits (same type in and out).
    Ext16u,
    /// `I64` → `I64`: sign-extend the low 32 bits.
    Ext32s,
    /// `I64` → `I64`: zero-extend the low 32 bits.
    Ext32u,
    /// `I32` → `I64`, sign-extending.
    I32ToI64s,
    /// `I32` → `I64`, zero-extending.
    I32ToI64u,
    /// `I64` → `I32`, keeping the low half.
    I64ToI32,
    /// `I128` → `I64`: the low half.
    I128Lo,
    /// `I128` → `I64`: the high half.
    I128Hi,
    /// `I128` → `I64`: bit `i` is the top bit of byte `i` (x86's `pmovmskb`), the rest zero.
    ByteSignBits,
}

/// The reference semantics of [`Conv::ByteSignBits`].
pub fn byte_sign_bits(v: u128) -> u64 {
    (0..16).fold(0, |m, i| m | (((v >> (8 * i + 7)) & 1) as u64) << i)
}

/// Size and signedness of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemOp {
    /// Bytes accessed: 1, 2, 4, 8 or 16.
    pub size: u8,
    /// Sign-extend a load into the destination (only for sizes below the destination's).
    pub signed: bool,
    /// The access must be naturally aligned (otherwise the guest gets an alignment fault);
    /// x86 ordinary accesses are unaligned-tolerant, `movaps` and friends are not.
    pub aligned: bool,
}

impl MemOp {
    /// Unsigned, unaligned-tolerant access of `size` bytes.
    pub const fn unsigned(size: u8) -> MemOp {
        MemOp {
            size,
            signed: false,
            aligned: false,
        }
    }
    /// Sign-extending, unaligned-tolerant access of `size` bytes.
    pub const fn signed(size: u8) -> MemOp {
        MemOp {
            size,
            signed: true,
            aligned: false,
        }
    }
}

/// Atomic read-modify-write operations on guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum AtomicOp {
    Xchg,
    Add,
    Sub,
    And,
    Or,
    Xor,
}

/// Memory barriers, named by what they order (as x86 `lfence`/`sfence`/`mfence` need).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fence {
    /// Loads before it complete before loads after it.
    LoadLoad,
    /// Stores before it complete before stores after it.
    StoreStore,
    /// Full barrier, including store→load ordering.
    Full,
}

/// A host function the translated code may call.
///
/// The function must be `extern "C"`, take [`Helper::args`] `u64` arguments (at most six) and
/// return a `u64` when [`Helper::ret`] is `Some(Type::I64)`. One argument type keeps a single
/// ABI on every host (some, like riscv64, require 32-bit arguments sign-extended); frontends
/// widen 32-bit values first. Helpers never unwind.
#[derive(Debug, PartialEq, Eq)]
pub struct Helper {
    /// Name used by the printer and profilers.
    pub name: &'static str,
    /// The function's address.
    pub addr: usize,
    /// Argument types: each must be `I64`.
    pub args: &'static [Type],
    /// Result type, if any: `I64`.
    pub ret: Option<Type>,
    /// What the helper may touch.
    pub flags: HelperFlags,
}

/// What a helper may touch, so that the backend knows which globals to sync around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HelperFlags {
    /// It reads guest CPU state through `env` (globals must be stored before the call).
    pub reads_state: bool,
    /// It writes guest CPU state through `env` (globals must be reloaded after the call).
    pub writes_state: bool,
    /// It has no side effects at all and may be removed when its result is unused.
    pub pure: bool,
}

/// Why a block returned to the dispatcher ([`Op::ExitTb`]); the meaning of each code belongs to
/// the frontend and the vCPU loop, the IR only carries it.
pub type ExitCode = u32;

/// One IR operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Start of the guest instruction at `pc`; maps host code back to guest pcs.
    InsnStart {
        /// The guest pc of the instruction.
        pc: u64,
    },
    /// `dst = src` (same type).
    Mov { dst: Temp, src: Temp },
    /// `dst = imm` (`I32` takes the low 32 bits; `I128` zero-extends).
    Const { dst: Temp, imm: u64 },
    /// `dst = a op b`.
    Binary {
        op: BinOp,
        dst: Temp,
        a: Temp,
        b: Temp,
    },
    /// `dst = op src`.
    Unary { op: UnOp, dst: Temp, src: Temp },
    /// `dst = conv(src)`.
    Convert { conv: Conv, dst: Temp, src: Temp },
    /// `dst: I128 = hi:lo`.
    Concat { dst: Temp, lo: Temp, hi: Temp },
    /// `dst = (src >> pos) & ((1 << len) - 1)`, sign-extended from bit `len - 1` if `signed`.
    Extract {
        dst: Temp,
        src: Temp,
        pos: u8,
        len: u8,
        signed: bool,
    },
    /// `dst = base` with bits `pos..pos+len` replaced by the low `len` bits of `val`.
    Deposit {
        dst: Temp,
        base: Temp,
        val: Temp,
        pos: u8,
        len: u8,
    },
    /// `dst = (a cond b) as type` (0 or 1).
    SetCond {
        cond: Cond,
        dst: Temp,
        a: Temp,
        b: Temp,
    },
    /// `dst = if a cond b { t } else { f }`; `a`, `b` may differ in type from `dst`.
    Select {
        cond: Cond,
        dst: Temp,
        a: Temp,
        b: Temp,
        t: Temp,
        f: Temp,
    },
    /// Branch to `label` if `a cond b`.
    BrCond {
        cond: Cond,
        a: Temp,
        b: Temp,
        label: Label,
    },
    /// Unconditional branch to `label`.
    Br { label: Label },
    /// Place `label` here.
    SetLabel { label: Label },
    /// `dst = guest memory[addr]` (`addr` is an `I64` guest address).
    Load { dst: Temp, addr: Temp, mem: MemOp },
    /// `guest memory[addr] = low bytes of src`.
    Store { src: Temp, addr: Temp, mem: MemOp },
    /// `dst = *(env + offset)`, reading `mem.size` bytes (CPU-state fields that are not globals,
    /// such as vector registers).
    LoadState { dst: Temp, offset: u32, mem: MemOp },
    /// `*(env + offset) = low bytes of src`.
    StoreState { src: Temp, offset: u32, mem: MemOp },
    /// Atomically `dst = guest memory[addr]; guest memory[addr] = dst op val` (sequentially
    /// consistent, as an x86 locked instruction is).
    AtomicRmw {
        op: AtomicOp,
        dst: Temp,
        addr: Temp,
        val: Temp,
        mem: MemOp,
    },
    /// Atomically: `dst = guest memory[addr]; if dst == expected { memory[addr] = new }`
    /// (sequentially consistent). With `mem.size == 16` all three temps are `I128`.
    AtomicCmpxchg {
        dst: Temp,
        addr: Temp,
        expected: Temp,
        new: Temp,
        mem: MemOp,
    },
    /// A memory barrier.
    Fence { kind: Fence },
    /// The value of `global` is dead on this path until written again: exits and
    /// state-syncing calls after it need not store it (the state may keep an older value).
    /// The block does not read it before writing it. Interpreters ignore it.
    Discard { global: Temp },
    /// Call a helper: `ret = helper(args...)`.
    Call {
        helper: &'static Helper,
        args: Vec<Temp>,
        ret: Option<Temp>,
    },
    /// Leave the block for the guest pc already stored in the state, through the chainable
    /// direct jump slot `slot` (below [`JUMP_SLOTS`]) of this block. The backend returns to
    /// the dispatcher with the slot number until the slot is linked to the next block.
    GotoTb { slot: u8 },
    /// `GotoTb { slot }` to the block's own start (the pc stored in the state is the block's
    /// pc): a backend may instead branch back to the beginning of the block, globals and all,
    /// for as long as the block has not been invalidated (see the backend's configuration).
    GotoStart { slot: u8 },
    /// Return to the dispatcher with `code`.
    ExitTb { code: ExitCode },
    /// Leave the block for the guest pc already stored in the state by looking the target
    /// block up without returning to the dispatcher (indirect jumps, calls, returns).
    LookupAndGotoPtr,
}

impl Op {
    /// True for ops that end a straight-line path: exits and unconditional branches.
    pub fn is_terminator(&self) -> bool {
        matches!(
            self,
            Op::GotoTb { .. }
                | Op::GotoStart { .. }
                | Op::ExitTb { .. }
                | Op::LookupAndGotoPtr
                | Op::Br { .. }
        )
    }
}

/// Chainable direct-jump slots a block may have: exits beyond them look their block up.
/// Superblocks that follow jumps often have three or four exits.
pub const JUMP_SLOTS: usize = 4;

/// One translation block's IR.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// Lowest guest address of the translated code: below `pc` when the block followed a
    /// jump backwards.
    pub guest_start: u64,
    /// Number of guest bytes from `guest_start` to the end of the last translated byte: the
    /// code whose change invalidates the block (it may include bytes not translated).
    pub guest_size: u32,
    /// Number of guest instructions translated.
    pub num_insns: u32,
    /// The guest pc each jump slot's `GotoTb` (or `GotoStart`) leaves for, if the slot is
    /// used: what a slot may be chained to.
    pub jump_targets: [Option<u64>; JUMP_SLOTS],
    /// Every temporary, indexed by [`Temp`].
    pub temps: Vec<TempInfo>,
    /// Number of labels allocated.
    pub num_labels: u32,
    /// The ops, in order.
    pub ops: Vec<Op>,
}

impl Block {
    /// An empty block starting at guest `pc`.
    pub fn new(pc: u64) -> Block {
        // Room for a typical block: growing the vectors op by op cost more than a tenth of
        // a translation in reallocations.
        Block {
            pc,
            guest_start: pc,
            temps: Vec::with_capacity(128),
            ops: Vec::with_capacity(192),
            ..Block::default()
        }
    }

    /// A new local temporary of type `ty`.
    pub fn new_temp(&mut self, ty: Type) -> Temp {
        self.push_temp(TempInfo {
            ty,
            kind: TempKind::Local,
        })
    }

    /// A global: CPU-state field `name` at `offset` from `env`. Declaring the same offset twice
    /// returns the same temporary.
    pub fn global(&mut self, ty: Type, offset: u32, name: &'static str) -> Temp {
        if let Some(i) = self.temps.iter().position(|t| {
            matches!(t.kind, TempKind::Global { offset: o, .. } if o == offset) && t.ty == ty
        }) {
            return Temp(i as u32);
        }
        self.push_temp(TempInfo {
            ty,
            kind: TempKind::Global { offset, name },
        })
    }

    /// A global for a field the block has not declared yet (what [`Block::global`] returns
    /// for a first declaration, without looking through the temporaries for an earlier one:
    /// a frontend declares its fixed globals this way in every block).
    pub fn new_global(&mut self, ty: Type, offset: u32, name: &'static str) -> Temp {
        debug_assert!(
            !self
                .temps
                .iter()
                .any(|t| matches!(t.kind, TempKind::Global { offset: o, .. } if o == offset)),
            "global {name} declared twice"
        );
        self.push_temp(TempInfo {
            ty,
            kind: TempKind::Global { offset, name },
        })
    }

    /// The `env` pointer as a temporary.
    pub fn env(&mut self) -> Temp {
        if let Some(i) = self.temps.iter().position(|t| t.kind == TempKind::Env) {
            return Temp(i as u32);
        }
        self.push_temp(TempInfo {
            ty: Type::I64,
            kind: TempKind::Env,
        })
    }

    /// A new label.
    pub fn new_label(&mut self) -> Label {
        self.num_labels += 1;
        Label(self.num_labels - 1)
    }

    /// Append an op.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// The type of `t`.
    pub fn ty(&self, t: Temp) -> Type {
        self.temps[t.0 as usize].ty
    }

    fn push_temp(&mut self, info: TempInfo) -> Temp {
        self.temps.push(info);
        Temp(self.temps.len() as u32 - 1)
    }

    /// A new temporary holding the constant `imm`.
    pub fn constant(&mut self, ty: Type, imm: u64) -> Temp {
        let t = self.new_temp(ty);
        self.push(Op::Const { dst: t, imm });
        t
    }
}

/// Calls `f` on each temporary `op` reads.
pub fn for_each_src(op: &Op, mut f: impl FnMut(Temp)) {
    match *op {
        Op::Mov { src, .. }
        | Op::Unary { src, .. }
        | Op::Convert { src, .. }
        | Op::Extract { src, .. }
        | Op::StoreState { src, .. } => f(src),
        Op::Binary { a, b, .. } | Op::SetCond { a, b, .. } | Op::BrCond { a, b, .. } => {
            f(a);
            f(b);
        }
        Op::Concat { lo, hi, .. } => {
            f(lo);
            f(hi);
        }
        Op::Deposit { base, val, .. } => {
            f(base);
            f(val);
        }
        Op::Select { a, b, t, f: e, .. } => {
            f(a);
            f(b);
            f(t);
            f(e);
        }
        Op::Load { addr, .. } => f(addr),
        Op::Store { src, addr, .. } => {
            f(src);
            f(addr);
        }
        Op::AtomicRmw { addr, val, .. } => {
            f(addr);
            f(val);
        }
        Op::AtomicCmpxchg {
            addr,
            expected,
            new,
            ..
        } => {
            f(addr);
            f(expected);
            f(new);
        }
        Op::Call { ref args, .. } => args.iter().for_each(|&a| f(a)),
        _ => {}
    }
}

/// The temporary `op` writes, if any.
pub fn op_dst(op: &Op) -> Option<Temp> {
    match *op {
        Op::Mov { dst, .. }
        | Op::Const { dst, .. }
        | Op::Binary { dst, .. }
        | Op::Unary { dst, .. }
        | Op::Convert { dst, .. }
        | Op::Concat { dst, .. }
        | Op::Extract { dst, .. }
        | Op::Deposit { dst, .. }
        | Op::SetCond { dst, .. }
        | Op::Select { dst, .. }
        | Op::Load { dst, .. }
        | Op::LoadState { dst, .. }
        | Op::AtomicRmw { dst, .. }
        | Op::AtomicCmpxchg { dst, .. } => Some(dst),
        Op::Call { ret, .. } => ret,
        _ => None,
    }
}
