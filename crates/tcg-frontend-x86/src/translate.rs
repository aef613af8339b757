//! The translator core: decoding loop, operand access, lazy flags, block exits.

use std::cell::RefCell;

use iced_x86::{
    Code, Decoder, DecoderError, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind,
    Register,
};
use tcg::{BinOp, Block, Cond, Conv, Label, MemOp, Op, Temp, Type, UnOp};

use crate::helpers;
use crate::state::{cc, flags, off};
use crate::{exit, vector, TranslateConfig};

const I64: Type = Type::I64;

/// An instruction operand after decoding.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Opnd {
    /// General register `r` (0..16) of `size` bytes; `high` for ah/ch/dh/bh.
    Reg { r: usize, size: u32, high: bool },
    /// Guest memory at `addr` of `size` bytes.
    Mem { addr: Temp, size: u32 },
    /// An immediate (sign-extended to 64 bits as the instruction defines).
    Imm { v: u64, size: u32 },
}

impl Opnd {
    pub(crate) fn size(&self) -> u32 {
        match *self {
            Opnd::Reg { size, .. } | Opnd::Mem { size, .. } | Opnd::Imm { size, .. } => size,
        }
    }
}

/// Why an instruction could not be translated: it becomes a #UD exit.
#[derive(Debug)]
pub(crate) struct Unsupported;

/// What an instruction did to the block.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Execution continues with the next instruction.
    Next,
    /// The instruction ended the block (all paths exit).
    End,
}

pub(crate) type R = Result<Flow, Unsupported>;

pub(crate) fn mask(size: u32) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

/// The translation context of one block.
pub(crate) struct Tr<'c> {
    pub(crate) b: Block,
    pub(crate) cfg: &'c TranslateConfig,
    pub(crate) regs: [Temp; 16],
    pub(crate) rip: Temp,
    pub(crate) cc_op: Temp,
    pub(crate) cc_dst: Temp,
    pub(crate) cc_src: Temp,
    pub(crate) cc_src2: Temp,
    pub(crate) df: Temp,
    pub(crate) eflags_rest: Temp,
    pub(crate) fs_base: Temp,
    pub(crate) gs_base: Temp,
    pub(crate) env: Temp,
    /// The halves of xmm0..xmm15 and of the scratch register (index 16) as globals, declared
    /// on first use (see [`Tr::ld_state`]).
    pub(crate) xmm_globals: [[Option<Temp>; 2]; 17],
    /// What the SSE fast paths established on the path being translated.
    pub(crate) fp: FpKnown,
    /// The statically known cc_op, or `None` when only the state knows it.
    pub(crate) cc: Option<u64>,
    /// `cc` differs from what the state's cc_op holds.
    pub(crate) cc_dirty: bool,
    /// The operands of the `sub`/`cmp` whose flags are current, both zero-extended from its
    /// size (QEMU's `cc_srcT`): a condition compares them directly instead of rebuilding
    /// the first from `cc_dst + cc_src`, off the subtraction's path. Set only by
    /// [`Tr::set_cc_sub`]; every other change of the flags, and every label (a path that
    /// joins may not have defined these temps) but a side exit's fall-through, forgets it.
    cc_sub: Option<(Temp, Temp)>,
    /// The flags are still those the block was entered with (`cc` is `None` because of
    /// that), so [`TranslateConfig::entry_cc`] may be speculated on.
    entry_flags: bool,
    /// Guest pc of the current instruction.
    pub(crate) pc: u64,
    /// Guest pc of the next instruction.
    pub(crate) next: u64,
    /// The arithmetic flags (RFLAGS positions) that may be read after the current
    /// instruction (see [`crate::liveness`]); the others need not be computed.
    pub(crate) live: u64,
    /// The targets the jump slots were given (an exit to a target beyond them looks its block
    /// up instead).
    slot_targets: [Option<u64>; tcg::JUMP_SLOTS],
    /// Exit targets whose code overwrites every flag before reading one: an exit there
    /// discards the flags state instead of storing it.
    flags_dead_targets: Vec<u64>,
    /// Conditional branches inside the block, when it goes on after them.
    pub(crate) region: Region,
    /// Instructions after the first that a later branch of the block goes back to
    /// ([`TranslateConfig::inner_loops`]), with their label once placed.
    loop_heads: Vec<(u64, Option<Label>)>,
}

/// Facts about the guest state that the SSE fast paths (`sse_fast`) established on the path
/// being translated, so that later instructions skip their guards.
///
/// Sound because the facts only shrink where they may stop holding: every write to an xmm
/// register's bytes goes through [`Tr::st_state`] (or the SSE helper's reload) and forgets
/// those bytes, a helper that writes the state forgets everything, and so does a label,
/// except where the translator knows every edge into it ([`Tr::branch_within`],
/// [`Tr::place_target`] intersect what each edge knew).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FpKnown {
    /// MXCSR passes the fast-path guard (round to nearest, PM masked, PE set). The SSE
    /// helper only ever adds exception flags, which keeps this true; `ldmxcsr` and
    /// helpers that write the state make it false.
    pub(crate) mxcsr_ok: bool,
    /// Per register (16: the scratch register), bit `i`: dword `i` holds a binary32 that is
    /// neither a NaN nor a denormal (what the fast paths check their operands for).
    pub(crate) f32: [u8; 17],
    /// Per register, bit `i`: qword `i` holds a binary64 that is neither a NaN nor a
    /// denormal.
    pub(crate) f64: [u8; 17],
    /// Per register: an `I128` temporary holding its 16 bytes, written by the 16-byte store
    /// that last set them on this path. A 16-byte read returns it instead of concatenating
    /// the halves, so that a chain of vector ops keeps its values in one piece (in a host
    /// vector register, for the lane ops). Never written again once recorded.
    pub(crate) whole: [Option<Temp>; 17],
    /// Per register and dword: the result of a host float op (unguarded, with
    /// [`TranslateConfig::host_sse`](crate::TranslateConfig::host_sse)) stored there and not
    /// read since on this path. Overwriting it would leave the op dead, and Cranelift drops
    /// dead ops, exceptions and all: [`Tr::st_state`] stores such a result to the state's
    /// float sink first.
    pub(crate) unread: [[Option<Temp>; 4]; 17],
}

impl FpKnown {
    /// What both `self` and `o` know.
    pub(crate) fn meet(&self, o: &FpKnown) -> FpKnown {
        FpKnown {
            mxcsr_ok: self.mxcsr_ok && o.mxcsr_ok,
            f32: std::array::from_fn(|i| self.f32[i] & o.f32[i]),
            f64: std::array::from_fn(|i| self.f64[i] & o.f64[i]),
            // The same temporary on both edges was recorded before they parted.
            whole: std::array::from_fn(|i| self.whole[i].filter(|_| self.whole[i] == o.whole[i])),
            unread: std::array::from_fn(|i| {
                std::array::from_fn(|j| {
                    self.unread[i][j].filter(|_| self.unread[i][j] == o.unread[i][j])
                })
            }),
        }
    }

    /// Forgets what is known of the state bytes `offset..offset + size` (any field).
    pub(crate) fn forget(&mut self, offset: u32, size: u32) {
        if offset < off::MXCSR + 4 && offset + size > off::MXCSR {
            self.mxcsr_ok = false;
        }
        let (lo, hi) = (off::XMM, off::XMM_TMP + 16);
        let (a, b) = (offset.max(lo), (offset + size).min(hi));
        for byte in (a..b).map(|x| x - lo) {
            let r = (byte / 16) as usize;
            self.f32[r] &= !(1 << (byte % 16 / 4));
            self.f64[r] &= !(1 << (byte % 16 / 8));
            self.whole[r] = None;
            self.unread[r][(byte % 16 / 4) as usize] = None;
        }
    }

    /// Copies what is known of qword `sq` of register `s` to qword `dq` of register `d`.
    pub(crate) fn copy_qword(&mut self, from: &FpKnown, d: usize, dq: u32, s: usize, sq: u32) {
        let b64 = from.f64[s] >> sq & 1;
        self.f64[d] = self.f64[d] & !(1 << dq) | b64 << dq;
        let b32 = from.f32[s] >> (2 * sq) & 3;
        self.f32[d] = self.f32[d] & !(3 << (2 * dq)) | b32 << (2 * dq);
    }
}

/// What the translator knows of the rest of the block: conditional branches do not end a
/// block unless they are its last instruction; a branch forward to an instruction of the
/// block becomes a branch to a label there, one elsewhere a side exit; a direct `jmp` the
/// block follows (see [`predecode`]) becomes no code at all.
#[derive(Default)]
pub(crate) struct Region {
    /// The start of every instruction the block will translate, in the order it runs them
    /// (not in address order once it followed a jump).
    starts: Vec<u64>,
    /// The index in `starts` of the instruction being translated.
    at: usize,
    /// Labels of branch targets inside the block, with the static `cc_op` each branch to it
    /// had (all synced to the state) and what all of them knew of the SSE state.
    targets: Vec<(u64, Label, Vec<Option<u64>>, FpKnown)>,
}

impl Region {
    /// True if the instruction being translated is not the block's last one.
    pub(crate) fn continues(&self) -> bool {
        self.at + 1 < self.starts.len()
    }

    /// True if the instruction after the current one is at `target` (a jump there is
    /// followed: it needs no code).
    pub(crate) fn follows_to(&self, target: u64) -> bool {
        self.starts.get(self.at + 1) == Some(&target)
    }

    /// True if `target` is an instruction the block translates after the current one.
    fn is_ahead(&self, target: u64) -> bool {
        self.starts
            .get(self.at + 1..)
            .is_some_and(|rest| rest.contains(&target))
    }
}

const REG_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// Maps an iced general register to (index, size in bytes, high-byte).
pub(crate) fn gpr(r: Register) -> Option<(usize, u32, bool)> {
    if !r.is_gpr() {
        return None;
    }
    let high = matches!(r, Register::AH | Register::CH | Register::DH | Register::BH);
    Some((r.full_register().number(), r.size() as u32, high))
}

impl<'c> Tr<'c> {
    pub(crate) fn new(pc: u64, cfg: &'c TranslateConfig) -> Tr<'c> {
        let mut b = Block::new(pc);
        let mut regs = [Temp(0); 16];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = b.new_global(I64, off::REGS + 8 * i as u32, REG_NAMES[i]);
        }
        let rip = b.new_global(I64, off::RIP, "rip");
        let cc_op = b.new_global(I64, off::CC_OP, "cc_op");
        let cc_dst = b.new_global(I64, off::CC_DST, "cc_dst");
        let cc_src = b.new_global(I64, off::CC_SRC, "cc_src");
        let cc_src2 = b.new_global(I64, off::CC_SRC2, "cc_src2");
        let df = b.new_global(I64, off::DF, "df");
        let eflags_rest = b.new_global(I64, off::EFLAGS_REST, "eflags_rest");
        let fs_base = b.new_global(I64, off::FS_BASE, "fs_base");
        let gs_base = b.new_global(I64, off::GS_BASE, "gs_base");
        let env = b.env();
        Tr {
            b,
            cfg,
            regs,
            rip,
            cc_op,
            cc_dst,
            cc_src,
            cc_src2,
            df,
            eflags_rest,
            fs_base,
            gs_base,
            env,
            xmm_globals: [[None; 2]; 17],
            fp: FpKnown::default(),
            cc: None,
            cc_dirty: false,
            cc_sub: None,
            entry_flags: true,
            pc,
            next: pc,
            live: crate::liveness::ALL,
            slot_targets: [None; tcg::JUMP_SLOTS],
            flags_dead_targets: Vec::new(),
            region: Region::default(),
            loop_heads: Vec::new(),
        }
    }

    // ---- small IR builders (all values are I64 unless said otherwise) ----

    pub(crate) fn tmp(&mut self) -> Temp {
        self.b.new_temp(I64)
    }
    pub(crate) fn cst(&mut self, v: u64) -> Temp {
        self.b.constant(I64, v)
    }
    pub(crate) fn label(&mut self) -> Label {
        self.b.new_label()
    }
    /// Places label `l`. What the fast paths knew is forgotten: other edges may lead here.
    pub(crate) fn set_label(&mut self, l: Label) {
        self.b.push(Op::SetLabel { label: l });
        self.cc_sub = None;
        self.fp = FpKnown::default();
    }
    pub(crate) fn mov(&mut self, dst: Temp, src: Temp) {
        self.b.push(Op::Mov { dst, src });
    }
    pub(crate) fn movi(&mut self, dst: Temp, imm: u64) {
        self.b.push(Op::Const { dst, imm });
    }
    pub(crate) fn copy(&mut self, v: Temp) -> Temp {
        let t = self.tmp();
        self.mov(t, v);
        t
    }
    pub(crate) fn bin(&mut self, op: BinOp, a: Temp, b: Temp) -> Temp {
        let t = self.tmp();
        self.b.push(Op::Binary { op, dst: t, a, b });
        t
    }
    pub(crate) fn bini(&mut self, op: BinOp, a: Temp, imm: u64) -> Temp {
        let c = self.cst(imm);
        self.bin(op, a, c)
    }
    pub(crate) fn un(&mut self, op: UnOp, a: Temp) -> Temp {
        let t = self.tmp();
        self.b.push(Op::Unary { op, dst: t, src: a });
        t
    }
    pub(crate) fn conv(&mut self, conv: Conv, a: Temp) -> Temp {
        let t = self.tmp();
        self.b.push(Op::Convert {
            conv,
            dst: t,
            src: a,
        });
        t
    }
    /// Zero-extends the low `size` bytes (always a new temp).
    pub(crate) fn zext(&mut self, v: Temp, size: u32) -> Temp {
        match size {
            1 => self.conv(Conv::Ext8u, v),
            2 => self.conv(Conv::Ext16u, v),
            4 => self.conv(Conv::Ext32u, v),
            _ => self.copy(v),
        }
    }
    /// Sign-extends the low `size` bytes (always a new temp).
    pub(crate) fn sext(&mut self, v: Temp, size: u32) -> Temp {
        match size {
            1 => self.conv(Conv::Ext8s, v),
            2 => self.conv(Conv::Ext16s, v),
            4 => self.conv(Conv::Ext32s, v),
            _ => self.copy(v),
        }
    }
    pub(crate) fn setcond(&mut self, cond: Cond, a: Temp, b: Temp) -> Temp {
        let t = self.tmp();
        self.b.push(Op::SetCond { cond, dst: t, a, b });
        t
    }
    pub(crate) fn select(&mut self, cond: Cond, a: Temp, b: Temp, t: Temp, f: Temp) -> Temp {
        let d = self.tmp();
        self.b.push(Op::Select {
            cond,
            dst: d,
            a,
            b,
            t,
            f,
        });
        d
    }
    pub(crate) fn brcond(&mut self, cond: Cond, a: Temp, b: Temp, label: Label) {
        self.b.push(Op::BrCond { cond, a, b, label });
    }
    pub(crate) fn brcondi(&mut self, cond: Cond, a: Temp, imm: u64, label: Label) {
        let c = self.cst(imm);
        self.brcond(cond, a, c, label);
    }
    pub(crate) fn extract(&mut self, v: Temp, pos: u8, len: u8) -> Temp {
        let t = self.tmp();
        self.b.push(Op::Extract {
            dst: t,
            src: v,
            pos,
            len,
            signed: false,
        });
        t
    }
    pub(crate) fn deposit(&mut self, base: Temp, val: Temp, pos: u8, len: u8) -> Temp {
        let t = self.tmp();
        self.b.push(Op::Deposit {
            dst: t,
            base,
            val,
            pos,
            len,
        });
        t
    }
    pub(crate) fn load(&mut self, addr: Temp, size: u32) -> Temp {
        let t = self.tmp();
        self.b.push(Op::Load {
            dst: t,
            addr,
            mem: MemOp::unsigned(size as u8),
        });
        t
    }
    pub(crate) fn store(&mut self, v: Temp, addr: Temp, size: u32) {
        self.b.push(Op::Store {
            src: v,
            addr,
            mem: MemOp::unsigned(size as u8),
        });
    }
    pub(crate) fn call(&mut self, h: &'static tcg::Helper, args: Vec<Temp>) -> Temp {
        if h.flags.writes_state {
            self.fp = FpKnown::default();
        }
        let t = self.tmp();
        self.b.push(Op::Call {
            helper: h,
            args,
            ret: Some(t),
        });
        t
    }

    // ---- registers and operands ----

    /// Reads a register part, zero-extended (new temp).
    pub(crate) fn get_reg(&mut self, r: usize, size: u32, high: bool) -> Temp {
        let g = self.regs[r];
        if high {
            self.extract(g, 8, 8)
        } else {
            self.zext(g, size)
        }
    }

    /// The full 64-bit register value after writing `v` to its `size`-byte part.
    pub(crate) fn merged_reg(&mut self, r: usize, size: u32, high: bool, v: Temp) -> Temp {
        let g = self.regs[r];
        match (size, high) {
            (_, true) => self.deposit(g, v, 8, 8),
            (1, false) => self.deposit(g, v, 0, 8),
            (2, _) => self.deposit(g, v, 0, 16),
            (4, _) => self.conv(Conv::Ext32u, v),
            _ => self.copy(v),
        }
    }

    /// Writes a register part with x86 rules (32-bit writes zero the upper half).
    pub(crate) fn set_reg(&mut self, r: usize, size: u32, high: bool, v: Temp) {
        let g = self.regs[r];
        match (size, high) {
            (_, true) => self.b.push(Op::Deposit {
                dst: g,
                base: g,
                val: v,
                pos: 8,
                len: 8,
            }),
            (1, false) | (2, _) => self.b.push(Op::Deposit {
                dst: g,
                base: g,
                val: v,
                pos: 0,
                len: (size * 8) as u8,
            }),
            (4, _) => self.b.push(Op::Convert {
                conv: Conv::Ext32u,
                dst: g,
                src: v,
            }),
            _ => self.mov(g, v),
        }
    }

    /// The effective address of the memory operand (with fs/gs base unless `lea`).
    pub(crate) fn ea(
        &mut self,
        ins: &Instruction,
        with_segment: bool,
    ) -> Result<Temp, Unsupported> {
        let base = ins.memory_base();
        let index = ins.memory_index();
        let a = if base == Register::RIP {
            self.cst(ins.memory_displacement64())
        } else if base == Register::EIP {
            self.cst(ins.memory_displacement64() & 0xffff_ffff)
        } else {
            // No add of a zero displacement: at `opt_level=none` Cranelift makes the zero in
            // a register. The address is a new temp (a copy, not the register itself): an
            // instruction may write the register before it stores to the address.
            let disp = ins.memory_displacement64();
            let mut t = (disp != 0).then(|| self.cst(disp));
            let mut addr32 = false;
            if base != Register::None {
                let (r, size, _) = gpr(base).ok_or(Unsupported)?;
                addr32 |= size == 4;
                let g = self.regs[r];
                t = Some(match t {
                    Some(t) => self.bin(BinOp::Add, t, g),
                    None => self.copy(g),
                });
            }
            if index != Register::None {
                let (r, size, _) = gpr(index).ok_or(Unsupported)?;
                addr32 |= size == 4;
                let sh = ins.memory_index_scale().trailing_zeros() as u64;
                let x = if sh == 0 {
                    self.regs[r]
                } else {
                    self.bini(BinOp::Shl, self.regs[r], sh)
                };
                t = Some(match t {
                    Some(t) => self.bin(BinOp::Add, t, x),
                    None => self.copy(x),
                });
            }
            let mut t = t.unwrap_or_else(|| self.cst(0));
            if addr32 {
                t = self.zext(t, 4);
            }
            t
        };
        if !with_segment {
            return Ok(a);
        }
        Ok(match ins.memory_segment() {
            Register::FS => self.bin(BinOp::Add, a, self.fs_base),
            Register::GS => self.bin(BinOp::Add, a, self.gs_base),
            _ => a,
        })
    }

    /// Decodes operand `i` (registers, memory, immediates; anything else is unsupported).
    pub(crate) fn opnd(&mut self, ins: &Instruction, i: u32) -> Result<Opnd, Unsupported> {
        Ok(match ins.op_kind(i) {
            OpKind::Register => {
                let (r, size, high) = gpr(ins.op_register(i)).ok_or(Unsupported)?;
                Opnd::Reg { r, size, high }
            }
            OpKind::Memory => {
                let size = ins.memory_size().size() as u32;
                if ![1, 2, 4, 8, 16].contains(&size) {
                    return Err(Unsupported);
                }
                Opnd::Mem {
                    addr: self.ea(ins, true)?,
                    size,
                }
            }
            k @ (OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64) => Opnd::Imm {
                v: ins.immediate(i),
                size: match k {
                    OpKind::Immediate8 => 1,
                    OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
                    OpKind::Immediate32 | OpKind::Immediate8to32 => 4,
                    _ => 8,
                },
            },
            _ => return Err(Unsupported),
        })
    }

    /// Reads an operand zero-extended from its size (new temp).
    pub(crate) fn read(&mut self, o: Opnd) -> Temp {
        match o {
            Opnd::Reg { r, size, high } => self.get_reg(r, size, high),
            Opnd::Mem { addr, size } => self.load(addr, size),
            Opnd::Imm { v, .. } => self.cst(v),
        }
    }

    /// Reads an operand for an operation whose result and flags depend only on the low
    /// `size` bytes of its inputs (add, adc): a 32-bit register is not
    /// zero-extended first (the result is, when written; the flags mask by size).
    pub(crate) fn read_low(&mut self, o: Opnd) -> Temp {
        match o {
            Opnd::Reg {
                r,
                size: 4,
                high: false,
            } => self.copy(self.regs[r]),
            _ => self.read(o),
        }
    }

    /// Writes the low bytes of `v` to an operand.
    pub(crate) fn write(&mut self, o: Opnd, v: Temp) {
        match o {
            Opnd::Reg { r, size, high } => self.set_reg(r, size, high, v),
            Opnd::Mem { addr, size } => self.store(v, addr, size),
            Opnd::Imm { .. } => unreachable!("write to an immediate"),
        }
    }

    // ---- lazy flags ----

    /// Records flags as `kind` at `size` bytes over `dst`, `src`, `src2`.
    pub(crate) fn set_cc(
        &mut self,
        kind: u64,
        size: u32,
        dst: Temp,
        src: Option<Temp>,
        src2: Option<Temp>,
    ) {
        let op = cc::op(kind, size);
        self.cc_sub = None;
        self.mov(self.cc_dst, dst);
        if let Some(s) = src {
            self.mov(self.cc_src, s);
        }
        if let Some(s) = src2 {
            self.mov(self.cc_src2, s);
        }
        if self.cc != Some(op) {
            self.cc = Some(op);
            self.cc_dirty = true;
        }
    }

    /// Records flags as a `size`-byte subtraction `a - b = dst`, where `a` and `b` are
    /// zero-extended from `size` and stay unchanged for the rest of the block.
    pub(crate) fn set_cc_sub(&mut self, size: u32, dst: Temp, a: Temp, b: Temp) {
        self.set_cc(cc::SUB, size, dst, Some(b), None);
        self.cc_sub = Some((a, b));
    }

    /// Records materialised flags (OSZAPC bits in `f`).
    pub(crate) fn set_cc_eflags(&mut self, f: Temp) {
        self.cc_sub = None;
        self.mov(self.cc_src, f);
        if self.cc != Some(cc::EFLAGS) {
            self.cc = Some(cc::EFLAGS);
            self.cc_dirty = true;
        }
    }

    /// The translator's static flags state, to emit a path that leaves the block and then
    /// go on with the main path's ([`Tr::cc_restore`]).
    pub(crate) fn cc_snapshot(&self) -> (Option<u64>, bool, bool) {
        (self.cc, self.cc_dirty, self.entry_flags)
    }

    /// Restores a [`Tr::cc_snapshot`].
    pub(crate) fn cc_restore(&mut self, s: (Option<u64>, bool, bool)) {
        self.cc_sub = None;
        (self.cc, self.cc_dirty, self.entry_flags) = s;
    }

    /// Stores the static cc_op to the state if it is not there yet.
    pub(crate) fn sync_cc(&mut self) {
        if self.cc_dirty {
            let op = self.cc.expect("dirty implies static");
            self.movi(self.cc_op, op);
            self.cc_dirty = false;
        }
    }

    /// Like `sync_cc` for a side exit: the main path still considers the state stale.
    pub(crate) fn sync_cc_side(&mut self) {
        if self.cc_dirty {
            let op = self.cc.expect("dirty implies static");
            self.movi(self.cc_op, op);
        }
    }

    /// After control flow that may or may not have changed the flags (both paths stored
    /// cc_op in the state): only the state knows.
    pub(crate) fn cc_dynamic(&mut self) {
        self.cc = None;
        self.cc_sub = None;
        self.cc_dirty = false;
        self.entry_flags = false;
    }

    /// While the flags are the block's entry flags and the configuration guesses their
    /// `cc_op`: `f` computed inline under that guess if the state's `cc_op` matches it, and
    /// with `cc_op` unknown otherwise (a 64-bit value either way).
    fn speculate_entry(&mut self, f: impl Fn(&mut Self) -> Temp) -> Option<Temp> {
        let guess = self
            .cfg
            .entry_cc
            .filter(|_| self.cc.is_none() && self.entry_flags)?;
        let v = self.tmp();
        let other = self.label();
        let done = self.label();
        let g = self.cst(guess);
        self.brcond(Cond::Ne, self.cc_op, g, other);
        self.entry_flags = false;
        self.cc = Some(guess);
        let x = f(self);
        self.mov(v, x);
        self.b.push(Op::Br { label: done });
        self.set_label(other);
        self.cc = None;
        let x = f(self);
        self.mov(v, x);
        self.set_label(done);
        self.entry_flags = true;
        Some(v)
    }

    /// All six arithmetic flags, in RFLAGS positions.
    pub(crate) fn flags_all(&mut self) -> Temp {
        if let Some(v) = self.speculate_entry(Self::flags_all) {
            return v;
        }
        match self.cc {
            Some(cc::EFLAGS) => self.copy(self.cc_src),
            Some(op) => {
                let o = self.cst(op);
                let args = vec![o, self.cc_dst, self.cc_src, self.cc_src2];
                self.call(&helpers::CC_COMPUTE_ALL, args)
            }
            None => {
                let args = vec![self.cc_op, self.cc_dst, self.cc_src, self.cc_src2];
                self.call(&helpers::CC_COMPUTE_ALL, args)
            }
        }
    }

    /// CF as 0 or 1.
    pub(crate) fn flag_cf(&mut self) -> Temp {
        if let Some(v) = self.speculate_entry(Self::flag_cf) {
            return v;
        }
        let Some(op) = self.cc else {
            let f = self.flags_all();
            return self.bini(BinOp::And, f, 1);
        };
        let (kind, size) = (op / 4, 1u32 << (op % 4));
        match kind {
            cc::EFLAGS | cc::INC | cc::DEC | cc::SAR => self.bini(BinOp::And, self.cc_src, 1),
            cc::ADD => {
                let d = self.zext(self.cc_dst, size);
                let s = self.zext(self.cc_src, size);
                self.setcond(Cond::Ltu, d, s)
            }
            cc::SUB => {
                if let Some((a, b)) = self.cc_sub {
                    return self.setcond(Cond::Ltu, a, b);
                }
                let s1 = self.bin(BinOp::Add, self.cc_dst, self.cc_src);
                let s1 = self.zext(s1, size);
                let s = self.zext(self.cc_src, size);
                self.setcond(Cond::Ltu, s1, s)
            }
            cc::LOGIC => self.cst(0),
            cc::SHL => self.extract(self.cc_src, (size * 8 - 1) as u8, 1),
            cc::MUL => {
                let z = self.cst(0);
                self.setcond(Cond::Ne, self.cc_src, z)
            }
            _ => self.static_cf(kind, size),
        }
    }

    /// ZF (0 or 1) of a static non-`EFLAGS` operation of `size` bytes.
    fn static_zf(&mut self, size: u32) -> Temp {
        let m = self.cst(mask(size));
        self.setcond(Cond::TstEq, self.cc_dst, m)
    }

    /// PF (0 or 1) of a static non-`EFLAGS` operation: even parity of the result's low byte.
    fn static_pf(&mut self) -> Temp {
        let b = self.zext(self.cc_dst, 1);
        let n = self.un(UnOp::Popcnt, b);
        let odd = self.bini(BinOp::And, n, 1);
        self.bini(BinOp::Xor, odd, 1)
    }

    /// CF (0 or 1) of static operation `kind` at `size` bytes (as `cc_compute_all`).
    fn static_cf(&mut self, kind: u64, size: u32) -> Temp {
        match kind {
            cc::ADC | cc::SBB => {
                let d = self.zext(self.cc_dst, size);
                let s = self.zext(self.cc_src, size);
                // ADC: the first operand is dst - src - cin; SBB: dst + src + cin.
                let (x, y) = if kind == cc::ADC {
                    (d, s)
                } else {
                    let cin = self.bini(BinOp::And, self.cc_src2, 1);
                    let s1 = self.bin(BinOp::Add, self.cc_dst, self.cc_src);
                    let s1 = self.bin(BinOp::Add, s1, cin);
                    (self.zext(s1, size), s)
                };
                let lt = self.setcond(Cond::Ltu, x, y);
                let le = self.setcond(Cond::Leu, x, y);
                let one = self.cst(1);
                self.select(Cond::TstNe, self.cc_src2, one, le, lt)
            }
            _ => self.flag_cf(),
        }
    }

    /// OF (0 or 1) of static operation `kind` at `size` bytes (as `cc_compute_all`).
    fn static_of(&mut self, kind: u64, size: u32) -> Temp {
        let top = (size * 8 - 1) as u8;
        match kind {
            cc::ADD | cc::ADC | cc::SUB | cc::SBB => {
                // The first operand, recovered from the result and the second.
                let cin = if matches!(kind, cc::ADC | cc::SBB) {
                    self.bini(BinOp::And, self.cc_src2, 1)
                } else {
                    self.cst(0)
                };
                let x = if matches!(kind, cc::ADD | cc::ADC) {
                    let s1 = self.bin(BinOp::Sub, self.cc_dst, self.cc_src);
                    let s1 = self.bin(BinOp::Sub, s1, cin);
                    // Overflow when both operands have one sign and the result the other.
                    let a = self.bin(BinOp::Xor, s1, self.cc_src);
                    let b = self.bin(BinOp::Xor, s1, self.cc_dst);
                    self.bin(BinOp::AndNot, b, a)
                } else {
                    let s1 = self.bin(BinOp::Add, self.cc_dst, self.cc_src);
                    let s1 = self.bin(BinOp::Add, s1, cin);
                    // Overflow when the operands' signs differ and the result's is the second's.
                    let a = self.bin(BinOp::Xor, s1, self.cc_src);
                    let b = self.bin(BinOp::Xor, s1, self.cc_dst);
                    self.bin(BinOp::And, a, b)
                };
                self.extract(x, top, 1)
            }
            cc::INC | cc::DEC => {
                let d = self.zext(self.cc_dst, size);
                let sign = 1u64 << top;
                let v = self.cst(if kind == cc::INC { sign } else { sign - 1 });
                self.setcond(Cond::Eq, d, v)
            }
            cc::SHL | cc::SAR => {
                let x = self.bin(BinOp::Xor, self.cc_src, self.cc_dst);
                self.extract(x, top, 1)
            }
            cc::MUL => {
                let z = self.cst(0);
                self.setcond(Cond::Ne, self.cc_src, z)
            }
            _ => self.cst(0), // LOGIC
        }
    }

    /// The x86 condition `code` (0 = O .. 15 = G) as a comparison of two I64 temps.
    pub(crate) fn cond(&mut self, code: u8) -> (Cond, Temp, Temp) {
        if let Some(v) = self.speculate_entry(|t| t.cond_value(code)) {
            let z = self.cst(0);
            return (Cond::Ne, v, z);
        }
        let (c, a, b) = self.cond_positive(code & !1);
        if code & 1 != 0 {
            (c.invert(), a, b)
        } else {
            (c, a, b)
        }
    }

    fn cond_positive(&mut self, code: u8) -> (Cond, Temp, Temp) {
        const O: u8 = 0;
        const B: u8 = 2;
        const E: u8 = 4;
        const BE: u8 = 6;
        const S: u8 = 8;
        const P: u8 = 10;
        const L: u8 = 12;
        const LE: u8 = 14;
        if let Some(op) = self.cc {
            let (kind, size) = (op / 4, 1u32 << (op % 4));
            let m = mask(size);
            let sign = 1u64 << (size * 8 - 1);
            match (kind, code) {
                (cc::EFLAGS, _) => {}
                (cc::SUB, B | BE | L | LE | E) if self.cc_sub.is_some() => {
                    let (a, b) = self.cc_sub.expect("checked");
                    return match code {
                        B => (Cond::Ltu, a, b),
                        BE => (Cond::Leu, a, b),
                        E => (Cond::Eq, a, b),
                        _ => {
                            let (a, b) = (self.sext(a, size), self.sext(b, size));
                            (if code == L { Cond::Lt } else { Cond::Le }, a, b)
                        }
                    };
                }
                (_, E) => {
                    let c = self.cst(m);
                    return (Cond::TstEq, self.cc_dst, c);
                }
                (_, S) => {
                    let c = self.cst(sign);
                    return (Cond::TstNe, self.cc_dst, c);
                }
                (cc::SUB, B | BE) => {
                    let s1 = self.bin(BinOp::Add, self.cc_dst, self.cc_src);
                    let s1 = self.zext(s1, size);
                    let s2 = self.zext(self.cc_src, size);
                    return (if code == B { Cond::Ltu } else { Cond::Leu }, s1, s2);
                }
                (cc::SUB, L | LE) => {
                    let s1 = self.bin(BinOp::Add, self.cc_dst, self.cc_src);
                    let s1 = self.sext(s1, size);
                    let s2 = self.sext(self.cc_src, size);
                    return (if code == L { Cond::Lt } else { Cond::Le }, s1, s2);
                }
                (cc::LOGIC, O | B) => {
                    let z = self.cst(0);
                    return (Cond::Ne, z, z);
                }
                (cc::LOGIC, BE) => {
                    let c = self.cst(m);
                    return (Cond::TstEq, self.cc_dst, c);
                }
                (cc::LOGIC, L) => {
                    let c = self.cst(sign);
                    return (Cond::TstNe, self.cc_dst, c);
                }
                (cc::LOGIC, LE) => {
                    let d = self.sext(self.cc_dst, size);
                    let z = self.cst(0);
                    return (Cond::Le, d, z);
                }
                (cc::ADD | cc::INC | cc::DEC | cc::SHL | cc::SAR | cc::MUL, B) => {
                    let c = self.flag_cf();
                    let z = self.cst(0);
                    return (Cond::Ne, c, z);
                }
                _ => {
                    // Any other static operation: compute just the flags the condition
                    // reads, inline.
                    let v = match code {
                        O => self.static_of(kind, size),
                        B => self.static_cf(kind, size),
                        BE => {
                            let c = self.static_cf(kind, size);
                            let z = self.static_zf(size);
                            self.bin(BinOp::Or, c, z)
                        }
                        P => self.static_pf(),
                        _ => {
                            let sf = self.extract(self.cc_dst, (size * 8 - 1) as u8, 1);
                            let of = self.static_of(kind, size);
                            let l = self.bin(BinOp::Xor, sf, of);
                            if code == L {
                                l
                            } else {
                                let z = self.static_zf(size);
                                self.bin(BinOp::Or, l, z)
                            }
                        }
                    };
                    let z = self.cst(0);
                    return (Cond::Ne, v, z);
                }
            }
        }
        let f = self.flags_all();
        let bit = |t: &mut Self, v: Temp, m: u64| {
            let c = t.cst(m);
            (Cond::TstNe, v, c)
        };
        match code {
            O => bit(self, f, flags::OF),
            B => bit(self, f, flags::CF),
            E => bit(self, f, flags::ZF),
            BE => bit(self, f, flags::CF | flags::ZF),
            S => bit(self, f, flags::SF),
            P => bit(self, f, flags::PF),
            _ => {
                // bit 7 of f ^ (f >> 4) is SF ^ OF; bit 6 is ZF.
                let sh = self.bini(BinOp::Shr, f, 4);
                let x = self.bin(BinOp::Xor, f, sh);
                let m = if code == L {
                    flags::SF
                } else {
                    flags::SF | flags::ZF
                };
                bit(self, x, m)
            }
        }
    }

    /// The condition as a 0/1 temp.
    pub(crate) fn cond_value(&mut self, code: u8) -> Temp {
        let (c, a, b) = self.cond(code);
        self.setcond(c, a, b)
    }

    // ---- exits ----

    /// Leaves the block for guest pc `target` (direct): through the jump slot given that
    /// target, or a free one; with all taken by other targets, by looking the target up.
    pub(crate) fn goto_tb(&mut self, target: u64) {
        if let Some(&(_, Some(head))) = self.loop_heads.iter().find(|h| h.0 == target) {
            // Back to an instruction of the block: round the loop inside it. The head
            // expects the flags in the state.
            self.sync_cc_side();
            self.b.push(Op::Br { label: head });
            return;
        }
        let slot = match self.slot_targets.iter().position(|&s| s == Some(target)) {
            Some(i) => Some(i),
            None => {
                let free = self.slot_targets.iter().position(|s| s.is_none());
                if let Some(i) = free {
                    self.slot_targets[i] = Some(target);
                }
                free
            }
        };
        let Some(slot) = slot.map(|s| s as u8) else {
            let t = self.cst(target);
            self.goto_ptr(t);
            return;
        };
        // (Never the block's own start: a loop back keeps its flags.)
        if self.flags_dead_targets.contains(&target) {
            for g in [self.cc_op, self.cc_dst, self.cc_src, self.cc_src2] {
                self.b.push(Op::Discard { global: g });
            }
        } else {
            self.sync_cc_side();
        }
        self.movi(self.rip, target);
        if self.cfg.single_step {
            self.b.push(Op::ExitTb { code: exit::LOOKUP });
        } else if target == self.b.pc && !self.cfg.smc_checks {
            // A loop of one block: the backend may branch back inside it. (Blocks with
            // self-modifying-code checks leave through the dispatcher as before.)
            self.b.push(Op::GotoStart { slot });
        } else {
            self.b.push(Op::GotoTb { slot });
        }
    }

    /// A conditional branch to `target` on `a cond b` (flags already read): a branch to a
    /// label if `target` is an instruction further on in the block, else a side exit.
    /// Only for a branch the block goes on after ([`Region::continues`]).
    pub(crate) fn branch_within(&mut self, cond: Cond, a: Temp, b: Temp, target: u64) {
        self.sync_cc();
        let inside = self.region.is_ahead(target);
        if inside {
            let cc = self.cc;
            let fp = self.fp;
            let label = match self.region.targets.iter_mut().find(|e| e.0 == target) {
                Some(e) => {
                    e.2.push(cc);
                    e.3 = e.3.meet(&fp);
                    e.1
                }
                None => {
                    let l = self.label();
                    self.region.targets.push((target, l, vec![cc], fp));
                    l
                }
            };
            self.brcond(cond, a, b, label);
        } else {
            let stay = self.label();
            self.brcond(cond.invert(), a, b, stay);
            let (fp, cc_sub) = (self.fp, self.cc_sub);
            self.goto_tb(target);
            // Only the branch above leads here.
            self.set_label(stay);
            (self.fp, self.cc_sub) = (fp, cc_sub);
        }
    }

    /// Places the label of branches to the instruction at `pc`, if any, merging the static
    /// flags state of the paths that meet there.
    fn place_target(&mut self, pc: u64, fallthrough: bool) {
        let Some(i) = self.region.targets.iter().position(|e| e.0 == pc) else {
            return;
        };
        let (_, label, mut ccs, mut fp) = self.region.targets.swap_remove(i);
        if fallthrough {
            self.sync_cc();
            ccs.push(self.cc);
            fp = fp.meet(&self.fp);
        }
        // Only forward branches lead here (and the fall-through, if any).
        self.set_label(label);
        self.fp = fp;
        let first = ccs[0];
        if first.is_some() && ccs.iter().all(|&c| c == first) {
            self.cc = first;
            self.cc_dirty = false;
        } else {
            self.cc_dynamic();
        }
    }

    /// Branches to `label` if this vCPU's exit request is raised (`Cond::Ne`) or clear
    /// (`Cond::Eq`).
    fn on_exit_request(&mut self, cond: Cond, label: Label) {
        let req = self.b.new_temp(Type::I32);
        self.b.push(Op::LoadState {
            dst: req,
            offset: off::EXIT_REQUEST,
            mem: MemOp::unsigned(4),
        });
        let zero = self.b.constant(Type::I32, 0);
        self.b.push(Op::BrCond {
            cond,
            a: req,
            b: zero,
            label,
        });
    }

    /// Leaves the block for the pc in `target` (indirect).
    pub(crate) fn goto_ptr(&mut self, target: Temp) {
        self.sync_cc_side();
        self.mov(self.rip, target);
        if self.cfg.single_step {
            self.b.push(Op::ExitTb { code: exit::LOOKUP });
        } else {
            self.b.push(Op::LookupAndGotoPtr);
        }
    }

    /// A side exit to the next instruction, after a slow path has run the current one: the
    /// main path goes on knowing what the fast path established (see `sse_fast`). The target
    /// is looked up, not chained, so that the jump slots stay for the block's own exits.
    pub(crate) fn exit_to_next(&mut self) {
        let t = self.cst(self.next);
        self.goto_ptr(t);
    }

    /// Raises exception `vec` with rip = `rip` (a side exit; the block may continue after).
    pub(crate) fn raise_at(&mut self, vec: u32, error: u32, rip: u64) {
        self.sync_cc_side();
        self.movi(self.rip, rip);
        let v = self.b.new_temp(Type::I32);
        self.b.push(Op::Const {
            dst: v,
            imm: u64::from(vec),
        });
        self.b.push(Op::StoreState {
            src: v,
            offset: off::EXCEPTION,
            mem: MemOp::unsigned(4),
        });
        let e = self.b.new_temp(Type::I32);
        self.b.push(Op::Const {
            dst: e,
            imm: u64::from(error),
        });
        self.b.push(Op::StoreState {
            src: e,
            offset: off::EXCEPTION_ERROR,
            mem: MemOp::unsigned(4),
        });
        self.b.push(Op::ExitTb {
            code: exit::EXCEPTION,
        });
    }

    /// Leaves the block for the vCPU to run the current instruction in an exclusive section
    /// ([`exit::ATOMIC`]); a side exit, emitted before the instruction changes anything.
    pub(crate) fn exit_atomic(&mut self) {
        self.sync_cc_side();
        self.movi(self.rip, self.pc);
        self.b.push(Op::ExitTb { code: exit::ATOMIC });
    }

    /// Before a locked access of `size` bytes at `addr`: under
    /// `cfg.exclusive_split_atomics`, [`Self::exit_atomic`] when `addr` is not a multiple of
    /// `size`.
    pub(crate) fn split_atomic_exit(&mut self, addr: Temp, size: u32) {
        if !self.cfg.exclusive_split_atomics || size <= 1 {
            return;
        }
        let aligned = self.label();
        self.brcondi(Cond::TstEq, addr, u64::from(size - 1), aligned);
        self.exit_atomic();
        self.set_label(aligned);
    }

    /// Raises `vec` at the current instruction.
    pub(crate) fn raise(&mut self, vec: u32, error: u32) {
        self.raise_at(vec, error, self.pc);
    }

    /// Raises `vec` at the current instruction when `a cond b` holds.
    pub(crate) fn raise_if(&mut self, cond: Cond, a: Temp, b: Temp, vec: u32) {
        let ok = self.label();
        self.brcond(cond.invert(), a, b, ok);
        self.raise(vec, 0);
        self.set_label(ok);
    }
}

/// Translates the guest block starting at `pc` into IR.
///
/// `fetch(addr, buf)` copies guest code bytes starting at `addr` into `buf` and returns how
/// many it could (fewer at an unmapped or non-executable page). The block starts with the
/// exit-request check, holds one `InsnStart` per guest instruction (in the order they run),
/// and ends at a control transfer, after the instruction that leaves the first instruction's
/// 4 KiB page, or after `cfg.max_insns` instructions. Small blocks go on past conditional
/// branches and direct jumps within the first page (see `predecode`); the block's
/// `guest_start`/`guest_size` then cover every byte from its lowest instruction to the end
/// of its highest. Untranslatable instructions become a #UD exception exit,
/// and a fetch fault a #PF exception exit (`exception_addr` = the unreadable address), both
/// with `rip` = that instruction.
pub fn translate_block(
    pc: u64,
    fetch: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    cfg: &TranslateConfig,
) -> Block {
    let max = if cfg.single_step {
        1
    } else {
        cfg.max_insns.max(1)
    };
    // The decoded instructions are kept in a vector per thread: allocating one per block
    // was a tenth of predecoding.
    thread_local! {
        static PREDECODED: RefCell<Vec<Instruction>> = const { RefCell::new(Vec::new()) };
    }
    PREDECODED.with(|p| match p.try_borrow_mut() {
        Ok(mut pre) => translate_predecoded(pc, fetch, cfg, max, &mut pre),
        Err(_) => translate_predecoded(pc, fetch, cfg, max, &mut Vec::new()),
    })
}

fn translate_predecoded(
    pc: u64,
    fetch: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    cfg: &TranslateConfig,
    max: u32,
    pre: &mut Vec<Instruction>,
) -> Block {
    predecode(pc, fetch, max, pre);
    // Flag liveness needs the block's instructions up front; blocks that may leave after
    // any instruction (single-stepping, self-modifying-code checks) read all flags anyway.
    let live = (!cfg.single_step && !cfg.smc_checks).then(|| crate::liveness::live_out(pre));
    match translate_with(pc, fetch, cfg, pre, live.as_deref()) {
        Ok(b) => b,
        // An instruction the analysis looked through became a #UD exit, which reads the
        // flags: translate again with every flag live.
        Err(()) => translate_with(pc, fetch, cfg, pre, None).unwrap_or_else(|()| unreachable!()),
    }
}

/// A block goes on after at most this many conditional branches...
const REGION_BRANCHES: u32 = 3;
/// ...and only while it has fewer instructions than this.
const REGION_INSNS: usize = 32;

/// A block follows at most this many direct jumps...
const FOLLOWED_JUMPS: u32 = 4;

/// Decodes the instructions `translate_with` will translate (it may stop earlier, at an
/// instruction that ends the block without being a branch).
///
/// A direct `jmp` to the block's first page does not end a block that is still small: the
/// block goes on at its target (unless the block already holds that instruction), so a
/// chain of blocks linked by jumps (a loop's latch jumping to its head, a `switch` case
/// jumping back to the dispatch) runs as one, without an exit and an entry between them.
/// The block then covers the bytes from its lowest to its highest instruction; targets stay
/// on the first page so that it still covers at most two pages.
///
/// A conditional branch is followed the same way when its target is not a short way ahead
/// and the code there soon jumps back to the block's start ([`closes_loop`]): a loop whose
/// taken side is the way round (gzip's match search: `jne` to the chain walk, which loops
/// back) becomes one block, leaving at the fall-through, instead of two that exchange the
/// guest state through memory at every iteration.
fn predecode(
    pc: u64,
    fetch: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    max: u32,
    v: &mut Vec<Instruction>,
) {
    let page = pc & !0xfff;
    v.clear();
    let mut cur = pc;
    let mut branches = 0;
    let mut jumps = 0;
    // Decoded from a window of bytes with one decoder, refilled when an instruction might
    // not fit in what is left: fetching and setting up a decoder per instruction was a fifth
    // of a translation.
    let mut buf = [0u8; PREDECODE_WINDOW];
    'window: loop {
        let got = fetch(cur, &mut buf).min(buf.len());
        let mut dec = Decoder::with_ip(64, &buf[..got], cur, DecoderOptions::NONE);
        loop {
            // A short window that is not full ends where the code stops being readable.
            if got == buf.len() && got - dec.position() < MAX_INSN_LEN {
                continue 'window;
            }
            let ins = dec.decode();
            if ins.is_invalid() {
                break 'window;
            }
            v.push(ins);
            cur = ins.next_ip();
            // A conditional branch does not end a block that is still small (each branch
            // that leaves it stores what the block changed: exits make big blocks slow to
            // compile).
            let goes_on = ins.flow_control() == FlowControl::Next || {
                branches += u32::from(is_jcc(&ins));
                is_jcc(&ins) && branches <= REGION_BRANCHES && v.len() < REGION_INSNS
            };
            if goes_on && jumps > 0 && v.iter().any(|i| i.ip() == cur) {
                // Back at an instruction the block holds: the block ends with a jump there.
                break 'window;
            }
            if is_jcc(&ins) && jumps < FOLLOWED_JUMPS && v.len() < REGION_INSNS {
                let target = ins.near_branch64();
                // A branch a short way forward stays a branch inside the block (an `if`
                // within the loop, whose fall-through is as likely as not).
                let near = (cur..cur + PREDECODE_WINDOW as u64).contains(&target);
                if target & !0xfff == page
                    && !near
                    && !v.iter().any(|i| i.ip() == target)
                    && (v.len() as u32) < max
                    && closes_loop(fetch, target, pc)
                {
                    // The taken side leads back to the block's start: the block goes on
                    // there and the fall-through leaves, so that the loop is one block.
                    jumps += 1;
                    cur = target;
                    continue 'window;
                }
            }
            if let Some(target) = direct_jump_target(&ins) {
                if jumps < FOLLOWED_JUMPS
                    && v.len() < REGION_INSNS
                    && (v.len() as u32) < max
                    && target & !0xfff == page
                    && !v.iter().any(|i| i.ip() == target)
                {
                    jumps += 1;
                    cur = target;
                    continue 'window;
                }
            }
            if !goes_on || v.len() as u32 >= max || cur & !0xfff != page {
                break 'window;
            }
        }
    }
}

/// Instructions [`closes_loop`] looks through.
const LOOP_LOOKAHEAD: usize = 8;

/// True if the code at `at` jumps back to `start` within a few instructions: conditional
/// branches elsewhere are side exits and the search goes on past them; any other way out
/// (an unconditional jump elsewhere, a call, a return, an indirect branch) ends it.
fn closes_loop(fetch: &mut dyn FnMut(u64, &mut [u8]) -> usize, at: u64, start: u64) -> bool {
    let mut buf = [0u8; PREDECODE_WINDOW];
    let got = fetch(at, &mut buf).min(buf.len());
    let mut dec = Decoder::with_ip(64, &buf[..got], at, DecoderOptions::NONE);
    for _ in 0..LOOP_LOOKAHEAD {
        if !dec.can_decode() {
            return false;
        }
        let ins = dec.decode();
        if ins.is_invalid() {
            return false;
        }
        if is_jcc(&ins) || direct_jump_target(&ins).is_some() {
            if ins.near_branch64() == start {
                return true;
            }
            if !is_jcc(&ins) {
                return false;
            }
        } else if ins.flow_control() != FlowControl::Next {
            return false;
        }
    }
    false
}

/// Bytes looked at where an exit goes, for whether the flags are dead there.
const FLAGS_LOOKAHEAD_BYTES: usize = 32;

/// The longest x86 instruction, in bytes.
const MAX_INSN_LEN: usize = 15;
/// Bytes [`predecode`] fetches at once (a typical block is shorter).
const PREDECODE_WINDOW: usize = 128;

/// [`translate_block`] of the predecoded instructions `pre` (fetching and decoding any
/// further ones itself), with their flag liveness `live` if given. Fails if an instruction
/// was unsupported while liveness was in use.
fn translate_with(
    pc: u64,
    fetch: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    cfg: &TranslateConfig,
    pre: &[Instruction],
    live: Option<&[u64]>,
) -> Result<Block, ()> {
    let mut t = Tr::new(pc, cfg);
    if !cfg.single_step {
        t.region.starts = pre.iter().map(|i| i.ip()).collect();
    }
    if cfg.inner_loops && !cfg.single_step && !cfg.smc_checks {
        let end = pre.last().map(|i| i.next_ip());
        // The last branch back to the block's start: heads before it are inside that loop.
        let start_loop = pre.iter().rposition(|j| branches_to(j, pc));
        let heads: Vec<(u64, Option<Label>)> = pre
            .iter()
            .enumerate()
            .skip(1)
            .filter(|&(i, h)| {
                end == Some(h.ip()) || pre[i..].iter().any(|j| branches_to(j, h.ip()))
            })
            .filter(|&(i, _)| start_loop.is_none_or(|s| i < s))
            .map(|(_, h)| (h.ip(), None))
            .collect();
        // One loop per block: a second head outside the start's loop (loops one after the
        // other, or nested) keeps every register both use live around both, and the host's
        // spills cost more than the transitions saved (`membw` 19%, `sieve` 6% slower).
        if start_loop.is_some() || heads.len() == 1 {
            t.loop_heads = heads;
        }
    }
    let mut head_exits = Vec::new();
    if !cfg.single_step && !cfg.smc_checks && pre.iter().any(|i| branches_to(i, pc)) {
        // A block that branches back to its start is a loop: that branch becomes a
        // `GotoStart` only through a slot of its own, so it gets one before other exits
        // take both (gzip's match search leaves twice before its loop closes).
        t.slot_targets[0] = Some(pc);
    }
    // Exits to code that overwrites the flags before reading them leave them unstored; the
    // block covers the code it looked at, so that rewriting it invalidates the block.
    let mut looked_at = Vec::new();
    if live.is_some() {
        let page = pc & !0xfff;
        // Direct jumps, calls and conditional branches to an instruction the block does not
        // go on to, and the fall-through at its end.
        let exits = pre.iter().enumerate().filter_map(|(k, i)| {
            let direct = is_jcc(i)
                || direct_jump_target(i).is_some()
                || i.flow_control() == FlowControl::Call && i.op0_kind() == OpKind::NearBranch64;
            let target = i.near_branch64();
            (direct && !pre[k + 1..].iter().any(|j| j.ip() == target)).then_some(target)
        });
        let fall_through = pre
            .last()
            .filter(|i| {
                matches!(
                    i.flow_control(),
                    FlowControl::Next | FlowControl::ConditionalBranch
                )
            })
            .map(|i| i.next_ip());
        for target in exits.chain(fall_through) {
            if target & !0xfff != page || target == pc || t.flags_dead_targets.contains(&target) {
                continue;
            }
            let mut buf = [0u8; FLAGS_LOOKAHEAD_BYTES];
            let room = (0x1000 - (target & 0xfff)) as usize;
            let got = fetch(target, &mut buf[..room.min(FLAGS_LOOKAHEAD_BYTES)]);
            let dec = Decoder::with_ip(64, &buf[..got], target, DecoderOptions::NONE);
            let insns = dec.into_iter().take_while(|i| !i.is_invalid()).take(4);
            if let Some(end) = crate::liveness::flags_dead_at(insns) {
                t.flags_dead_targets.push(target);
                looked_at.push((target, end));
            }
        }
    }
    let exit_label = t.label();
    t.on_exit_request(Cond::Ne, exit_label);
    let max = if cfg.single_step {
        1
    } else {
        cfg.max_insns.max(1)
    };
    let page = pc & !0xfff;
    // Whether the block follows a jump: it may then come back to an instruction it holds.
    let followed = pre.windows(2).any(|w| w[0].next_ip() != w[1].ip());
    let mut cur = pc;
    // The bytes covered: [lo, hi).
    let (mut lo, mut hi) = (pc, pc);
    let mut n = 0u32;
    loop {
        let i = n as usize;
        t.region.at = i;
        lo = lo.min(cur);
        t.place_target(cur, true);
        if let Some(h) = t
            .loop_heads
            .iter()
            .position(|h| h.0 == cur && h.1.is_none())
        {
            // A loop head: every path here leaves the flags in the state, and each round
            // checks the exit request, as the block's start does.
            t.sync_cc();
            t.cc_dynamic();
            let head = t.label();
            t.set_label(head);
            t.loop_heads[h].1 = Some(head);
            let leave = t.label();
            t.on_exit_request(Cond::Ne, leave);
            head_exits.push((cur, leave));
        }
        t.pc = cur;
        t.b.push(Op::InsnStart { pc: cur });
        n += 1;
        let (ins, live_out) = match pre.get(i) {
            Some(&p) if p.ip() == cur => (p, live.map_or(crate::liveness::ALL, |l| l[i])),
            _ => {
                let mut buf = [0u8; 15];
                let got = fetch(cur, &mut buf).min(15);
                let mut dec = Decoder::with_ip(64, &buf[..got], cur, DecoderOptions::NONE);
                let ins = dec.decode();
                if ins.is_invalid() {
                    if dec.last_error() == DecoderError::NoMoreBytes && got < 15 {
                        // The instruction runs into memory that cannot be fetched.
                        let e = t.cst(cur.wrapping_add(got as u64));
                        t.b.push(Op::StoreState {
                            src: e,
                            offset: off::EXCEPTION_ADDR,
                            mem: MemOp::unsigned(8),
                        });
                        t.raise(vector::PF, 0x14 | 0x4);
                    } else {
                        t.raise(vector::UD, 0);
                    }
                    // Account for the bytes looked at, so that writes to them invalidate the block.
                    cur = cur.wrapping_add(got.max(1) as u64);
                    hi = hi.max(cur);
                    break;
                }
                (ins, crate::liveness::ALL)
            }
        };
        t.next = ins.next_ip();
        hi = hi.max(t.next);
        t.live = live_out;
        let snapshot = (t.b.ops.len(), t.cc, t.cc_dirty);
        let flow = crate::insn::translate_insn(&mut t, &ins);
        let flow = match flow {
            Ok(f) => f,
            Err(Unsupported) if live.is_some() => return Err(()),
            Err(Unsupported) => {
                t.b.ops.truncate(snapshot.0);
                t.cc = snapshot.1;
                t.cc_dirty = snapshot.2;
                t.cc_sub = None;
                // Its ops are gone, and with them the temporaries it may have recorded.
                t.fp = FpKnown::default();
                t.raise(vector::UD, 0);
                Flow::End
            }
        };
        cur = t.next;
        if flow == Flow::End {
            break;
        }
        if n >= max
            || cur & !0xfff != page
            || followed && t.region.starts.iter().take(i + 1).any(|&s| s == cur)
        {
            t.goto_tb(cur);
            break;
        }
        if cfg.smc_checks {
            // The instruction may have written the code that follows: leave for it if asked.
            let go_on = t.label();
            t.on_exit_request(Cond::Eq, go_on);
            t.sync_cc_side();
            t.movi(t.rip, cur);
            t.b.push(Op::ExitTb { code: exit::LOOKUP });
            t.set_label(go_on);
        }
    }
    // Branches to instructions the translation did not reach (it ended early): exits.
    while let Some((target, label, _, _)) = t.region.targets.pop() {
        t.set_label(label);
        // Every branch here stored its cc_op in the state.
        t.cc_dynamic();
        t.goto_tb(target);
    }
    for (head, leave) in head_exits {
        t.set_label(leave);
        t.cc_dynamic();
        t.movi(t.rip, head);
        t.b.push(Op::ExitTb {
            code: exit::EXIT_REQUEST,
        });
    }
    t.set_label(exit_label);
    t.movi(t.rip, pc);
    t.b.push(Op::ExitTb {
        code: exit::EXIT_REQUEST,
    });
    for (start, end) in looked_at {
        lo = lo.min(start);
        hi = hi.max(end);
    }
    t.b.num_insns = n;
    t.b.jump_targets = t.slot_targets;
    t.b.guest_start = lo;
    t.b.guest_size = hi.wrapping_sub(lo) as u32;
    #[cfg(debug_assertions)]
    if let Err(e) = tcg::verify(&t.b) {
        panic!("x86 frontend produced invalid IR: {e}\n{}", t.b);
    }
    Ok(t.b)
}

/// The target of a direct `jmp rel` (the jumps a block may follow).
pub(crate) fn direct_jump_target(ins: &Instruction) -> Option<u64> {
    (ins.mnemonic() == Mnemonic::Jmp && ins.op0_kind() == OpKind::NearBranch64)
        .then(|| ins.near_branch64())
}

/// Whether `ins` is a direct jump or conditional branch to `target`.
fn branches_to(ins: &Instruction, target: u64) -> bool {
    matches!(
        ins.flow_control(),
        FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
    ) && ins.op0_kind() == OpKind::NearBranch64
        && ins.near_branch_target() == target
}

/// True for `jcc rel` (not the `loop`/`jrcxz` family).
fn is_jcc(ins: &Instruction) -> bool {
    use iced_x86::Mnemonic as M;
    matches!(
        ins.mnemonic(),
        M::Jo
            | M::Jno
            | M::Jb
            | M::Jae
            | M::Je
            | M::Jne
            | M::Jbe
            | M::Ja
            | M::Js
            | M::Jns
            | M::Jp
            | M::Jnp
            | M::Jl
            | M::Jge
            | M::Jle
            | M::Jg
    ) && ins.op0_kind() == OpKind::NearBranch64
}

/// True if iced decodes `code` as one of the `...ECX` (32-bit address size) loop forms.
pub(crate) fn uses_ecx(code: Code) -> bool {
    format!("{code:?}").contains("ECX")
}
