//! The translator core: decoding loop, operand access, lazy flags, block exits.

use iced_x86::{Code, Decoder, DecoderError, DecoderOptions, Instruction, OpKind, Register};
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
    /// The statically known cc_op, or `None` when only the state knows it.
    pub(crate) cc: Option<u64>,
    /// `cc` differs from what the state's cc_op holds.
    pub(crate) cc_dirty: bool,
    /// Guest pc of the current instruction.
    pub(crate) pc: u64,
    /// Guest pc of the next instruction.
    pub(crate) next: u64,
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
            *r = b.global(I64, off::REGS + 8 * i as u32, REG_NAMES[i]);
        }
        let rip = b.global(I64, off::RIP, "rip");
        let cc_op = b.global(I64, off::CC_OP, "cc_op");
        let cc_dst = b.global(I64, off::CC_DST, "cc_dst");
        let cc_src = b.global(I64, off::CC_SRC, "cc_src");
        let cc_src2 = b.global(I64, off::CC_SRC2, "cc_src2");
        let df = b.global(I64, off::DF, "df");
        let eflags_rest = b.global(I64, off::EFLAGS_REST, "eflags_rest");
        let fs_base = b.global(I64, off::FS_BASE, "fs_base");
        let gs_base = b.global(I64, off::GS_BASE, "gs_base");
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
            cc: None,
            cc_dirty: false,
            pc,
            next: pc,
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
    pub(crate) fn set_label(&mut self, l: Label) {
        self.b.push(Op::SetLabel { label: l });
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
            let mut t = self.cst(ins.memory_displacement64());
            let mut addr32 = false;
            if base != Register::None {
                let (r, size, _) = gpr(base).ok_or(Unsupported)?;
                addr32 |= size == 4;
                t = self.bin(BinOp::Add, t, self.regs[r]);
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
                t = self.bin(BinOp::Add, t, x);
            }
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

    /// Records materialised flags (OSZAPC bits in `f`).
    pub(crate) fn set_cc_eflags(&mut self, f: Temp) {
        self.mov(self.cc_src, f);
        if self.cc != Some(cc::EFLAGS) {
            self.cc = Some(cc::EFLAGS);
            self.cc_dirty = true;
        }
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
        self.cc_dirty = false;
    }

    /// All six arithmetic flags, in RFLAGS positions.
    pub(crate) fn flags_all(&mut self) -> Temp {
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
            _ => {
                let f = self.flags_all();
                self.bini(BinOp::And, f, 1)
            }
        }
    }

    /// The x86 condition `code` (0 = O .. 15 = G) as a comparison of two I64 temps.
    pub(crate) fn cond(&mut self, code: u8) -> (Cond, Temp, Temp) {
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
                _ => {}
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

    /// Leaves the block through jump slot `slot` to guest pc `target` (direct).
    pub(crate) fn goto_tb(&mut self, slot: u8, target: u64) {
        self.sync_cc_side();
        self.movi(self.rip, target);
        if self.cfg.single_step {
            self.b.push(Op::ExitTb { code: exit::LOOKUP });
        } else {
            self.b.push(Op::GotoTb { slot });
        }
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
/// exit-request check, holds one `InsnStart` per guest instruction, and ends at a control
/// transfer, after the instruction that leaves the first instruction's 4 KiB page, or after
/// `cfg.max_insns` instructions. Untranslatable instructions become a #UD exception exit,
/// and a fetch fault a #PF exception exit (`exception_addr` = the unreadable address), both
/// with `rip` = that instruction.
pub fn translate_block(
    pc: u64,
    fetch: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    cfg: &TranslateConfig,
) -> Block {
    let mut t = Tr::new(pc, cfg);
    let req = t.b.new_temp(Type::I32);
    t.b.push(Op::LoadState {
        dst: req,
        offset: off::EXIT_REQUEST,
        mem: MemOp::unsigned(4),
    });
    let zero32 = t.b.constant(Type::I32, 0);
    let exit_label = t.label();
    t.b.push(Op::BrCond {
        cond: Cond::Ne,
        a: req,
        b: zero32,
        label: exit_label,
    });
    let max = if cfg.single_step {
        1
    } else {
        cfg.max_insns.max(1)
    };
    let page = pc & !0xfff;
    let mut cur = pc;
    let mut n = 0u32;
    loop {
        let mut buf = [0u8; 15];
        let got = fetch(cur, &mut buf).min(15);
        t.pc = cur;
        t.b.push(Op::InsnStart { pc: cur });
        n += 1;
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
            break;
        }
        t.next = ins.next_ip();
        let snapshot = (t.b.ops.len(), t.cc, t.cc_dirty);
        let flow = crate::insn::translate_insn(&mut t, &ins);
        let flow = match flow {
            Ok(f) => f,
            Err(Unsupported) => {
                t.b.ops.truncate(snapshot.0);
                t.cc = snapshot.1;
                t.cc_dirty = snapshot.2;
                t.raise(vector::UD, 0);
                Flow::End
            }
        };
        cur = t.next;
        if flow == Flow::End {
            break;
        }
        if n >= max || cur & !0xfff != page {
            t.goto_tb(0, cur);
            break;
        }
        if cfg.smc_checks {
            // The instruction may have written the code that follows: leave for it if asked.
            let req = t.b.new_temp(Type::I32);
            t.b.push(Op::LoadState {
                dst: req,
                offset: off::EXIT_REQUEST,
                mem: MemOp::unsigned(4),
            });
            let go_on = t.label();
            t.b.push(Op::BrCond {
                cond: Cond::Eq,
                a: req,
                b: zero32,
                label: go_on,
            });
            t.sync_cc_side();
            t.movi(t.rip, cur);
            t.b.push(Op::ExitTb { code: exit::LOOKUP });
            t.set_label(go_on);
        }
    }
    t.set_label(exit_label);
    t.movi(t.rip, pc);
    t.b.push(Op::ExitTb {
        code: exit::EXIT_REQUEST,
    });
    t.b.num_insns = n;
    t.b.guest_size = cur.wrapping_sub(pc) as u32;
    #[cfg(debug_assertions)]
    if let Err(e) = tcg::verify(&t.b) {
        panic!("x86 frontend produced invalid IR: {e}\n{}", t.b);
    }
    t.b
}

/// True if iced decodes `code` as one of the `...ECX` (32-bit address size) loop forms.
pub(crate) fn uses_ecx(code: Code) -> bool {
    format!("{code:?}").contains("ECX")
}
