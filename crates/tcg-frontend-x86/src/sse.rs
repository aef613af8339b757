//! SSE/SSE2 instructions: moves and bitwise ops inline, the rest through one helper
//! ([`crate::sse_impl::exec`]) operating on the xmm registers in the CPU state.

use iced_x86::{Code, Instruction, Mnemonic as M, OpKind};
use tcg::{BinOp, Conv, LaneOp, MemOp, Op, Temp, Type};

use crate::helpers;
use crate::sse_impl::op;
use crate::state::off;
use crate::translate::{gpr, Opnd, Tr, Unsupported, R};

fn ok() -> R {
    Ok(crate::translate::Flow::Next)
}

pub(crate) fn xoff(i: usize) -> u32 {
    off::XMM + 16 * i as u32
}

pub(crate) fn xmm_of(ins: &Instruction, i: u32) -> Option<usize> {
    if ins.op_kind(i) != OpKind::Register {
        return None;
    }
    let r = ins.op_register(i);
    if r.is_xmm() {
        Some(r.number())
    } else {
        None
    }
}

fn is_mem(ins: &Instruction, i: u32) -> bool {
    ins.op_kind(i) == OpKind::Memory
}

/// Names of the xmm half globals (`-d op`), indexed by register (16: the scratch register)
/// and half.
const XMM_NAMES: [[&str; 2]; 17] = [
    ["xmm0.lo", "xmm0.hi"],
    ["xmm1.lo", "xmm1.hi"],
    ["xmm2.lo", "xmm2.hi"],
    ["xmm3.lo", "xmm3.hi"],
    ["xmm4.lo", "xmm4.hi"],
    ["xmm5.lo", "xmm5.hi"],
    ["xmm6.lo", "xmm6.hi"],
    ["xmm7.lo", "xmm7.hi"],
    ["xmm8.lo", "xmm8.hi"],
    ["xmm9.lo", "xmm9.hi"],
    ["xmm10.lo", "xmm10.hi"],
    ["xmm11.lo", "xmm11.hi"],
    ["xmm12.lo", "xmm12.hi"],
    ["xmm13.lo", "xmm13.hi"],
    ["xmm14.lo", "xmm14.hi"],
    ["xmm15.lo", "xmm15.hi"],
    ["xmm_tmp.lo", "xmm_tmp.hi"],
];

/// The register (16: the scratch register) whose bytes include state offset `offset`.
fn xmm_index(offset: u32) -> usize {
    ((offset - off::XMM) / 16) as usize
}

/// The state bytes kept in xmm half globals: `xmm[0..16]` and `xmm_tmp`.
const XMM_GLOBALS: std::ops::Range<u32> = off::XMM..off::XMM_TMP + 16;

impl Tr<'_> {
    /// `xmm[d] = xmm[d] op source` on `bits`-bit lanes, as one IR lane op (with
    /// [`TranslateConfig::lanes`](crate::TranslateConfig::lanes)); a memory source must be
    /// 16-byte aligned, as for every legacy-encoded SSE operand.
    pub(crate) fn lanes(&mut self, ins: &Instruction, op: LaneOp, bits: u8) -> R {
        let (d, a, b) = self.xmm_operands(ins)?;
        let r = self.lane_op(op, bits, a, b);
        self.st_state(r, xoff(d), 16);
        ok()
    }

    /// `a op b` on `bits`-bit lanes, into a new `I128` temporary.
    pub(crate) fn lane_op(&mut self, op: LaneOp, bits: u8, a: Temp, b: Temp) -> Temp {
        let r = self.b.new_temp(Type::I128);
        self.b.push(Op::Binary {
            op: BinOp::Lanes { op, bits },
            dst: r,
            a,
            b,
        });
        r
    }

    /// A new `I128` temporary holding `v`.
    pub(crate) fn const128(&mut self, v: u128) -> Temp {
        if v >> 64 == 0 {
            return self.b.constant(Type::I128, v as u64);
        }
        let (lo, hi) = (self.cst(v as u64), self.cst((v >> 64) as u64));
        let t = self.b.new_temp(Type::I128);
        self.b.push(Op::Concat { dst: t, lo, hi });
        t
    }

    /// The destination register of a two-operand xmm instruction and its two operands' 16
    /// bytes (a memory source must be 16-byte aligned).
    pub(crate) fn xmm_operands(
        &mut self,
        ins: &Instruction,
    ) -> Result<(usize, Temp, Temp), Unsupported> {
        let d = xmm_of(ins, 0).ok_or(Unsupported)?;
        let b = match xmm_of(ins, 1) {
            Some(s) => self.ld_state(Type::I128, xoff(s), 16),
            None => {
                let a = self.mem_addr(ins)?;
                self.ld128(a, true)
            }
        };
        let a = self.ld_state(Type::I128, xoff(d), 16);
        Ok((d, a, b))
    }

    /// The global holding the 8 state bytes at `offset` (8-aligned, inside [`XMM_GLOBALS`]).
    fn xmm_half(&mut self, offset: u32) -> Temp {
        let q = ((offset - off::XMM) / 8) as usize;
        let (r, h) = (q / 2, q % 2);
        if let Some(g) = self.xmm_globals[r][h] {
            return g;
        }
        let g = self.b.global(Type::I64, offset, XMM_NAMES[r][h]);
        self.xmm_globals[r][h] = Some(g);
        g
    }

    /// Reads `size` bytes of the CPU state at `offset` into a new temporary of type `ty`,
    /// zero-extended.
    ///
    /// The xmm registers (and the scratch register) are globals, one per 8-byte half, so that
    /// the backend keeps them in host registers across a block: their bytes are read from the
    /// halves (a move, an extract, a concatenation), never from memory, whose copy may be
    /// stale inside a block. Every access to those bytes must come through here or
    /// [`Tr::st_state`].
    pub(crate) fn ld_state(&mut self, ty: Type, offset: u32, size: u8) -> Temp {
        if XMM_GLOBALS.contains(&offset) {
            return self.ld_xmm(ty, offset, size);
        }
        let t = self.b.new_temp(ty);
        self.b.push(Op::LoadState {
            dst: t,
            offset,
            mem: MemOp::unsigned(size),
        });
        t
    }

    /// Writes the low `size` bytes of `v` to the CPU state at `offset` (see [`Tr::ld_state`]
    /// for the xmm registers).
    pub(crate) fn st_state(&mut self, v: Temp, offset: u32, size: u8) {
        self.sink_unread(offset, u32::from(size));
        self.fp.forget(offset, u32::from(size));
        if XMM_GLOBALS.contains(&offset) {
            self.st_xmm(v, offset, size);
            return;
        }
        self.b.push(Op::StoreState {
            src: v,
            offset,
            mem: MemOp::unsigned(size),
        });
    }

    fn ld_xmm(&mut self, ty: Type, offset: u32, size: u8) -> Temp {
        let size = u32::from(size);
        // Read: whatever float results these bytes hold are used.
        for byte in (offset..offset + size).step_by(4) {
            let r = xmm_index(byte);
            self.fp.unread[r][((byte - off::XMM) % 16 / 4) as usize] = None;
        }
        assert!(
            offset + size <= XMM_GLOBALS.end && size <= ty.bits() / 8,
            "xmm state access out of range"
        );
        let pos = (offset % 8) * 8;
        if size == 16 {
            if let Some(v) = self.fp.whole[xmm_index(offset)] {
                return self.copy_whole(v);
            }
        }
        let lo = self.xmm_half(offset & !7);
        if size == 16 {
            assert_eq!(pos, 0, "misaligned 16-byte xmm access");
            let hi = self.xmm_half(offset + 8);
            let (l, h) = (self.copy(lo), self.copy(hi));
            let t = self.b.new_temp(Type::I128);
            self.b.push(Op::Concat {
                dst: t,
                lo: l,
                hi: h,
            });
            return t;
        }
        let bits = size * 8;
        let v = if pos == 0 && bits == 64 {
            self.copy(lo)
        } else if pos + bits <= 64 {
            let t = self.tmp();
            self.b.push(Op::Extract {
                dst: t,
                src: lo,
                pos: pos as u8,
                len: bits as u8,
                signed: false,
            });
            t
        } else {
            // The bytes straddle the two halves.
            let hi = self.xmm_half((offset & !7) + 8);
            let a = self.bini(BinOp::Shr, lo, u64::from(pos));
            let b = self.bini(BinOp::Shl, hi, u64::from(64 - pos));
            let v = self.bin(BinOp::Or, a, b);
            if bits == 64 {
                v
            } else {
                self.bini(BinOp::And, v, (1u64 << bits) - 1)
            }
        };
        match ty {
            Type::I64 => v,
            Type::I32 => self.conv_to(Type::I32, Conv::I64ToI32, v),
            Type::I128 => {
                let z = self.cst(0);
                let t = self.b.new_temp(Type::I128);
                self.b.push(Op::Concat {
                    dst: t,
                    lo: v,
                    hi: z,
                });
                t
            }
        }
    }

    /// A new `I128` temporary equal to `v`.
    fn copy_whole(&mut self, v: Temp) -> Temp {
        let t = self.b.new_temp(Type::I128);
        self.mov(t, v);
        t
    }

    /// Stores to the float sink every unread host float result (see
    /// [`FpKnown::unread`](crate::translate::FpKnown::unread)) in the state bytes
    /// `offset..offset + size`, about to be overwritten.
    fn sink_unread(&mut self, offset: u32, size: u32) {
        let (lo, hi) = (offset.max(off::XMM), (offset + size).min(XMM_GLOBALS.end));
        for byte in (lo..hi).filter(|b| (b - off::XMM) % 4 == 0 || *b == lo) {
            let (r, dw) = (xmm_index(byte), ((byte - off::XMM) % 16 / 4) as usize);
            let Some(v) = self.fp.unread[r][dw] else {
                continue;
            };
            for slot in self.fp.unread[r].iter_mut() {
                if *slot == Some(v) {
                    *slot = None;
                }
            }
            let bytes = self.b.ty(v).bits() / 8;
            self.b.push(Op::StoreState {
                src: v,
                offset: off::FLOAT_SINK,
                mem: MemOp::unsigned(bytes as u8),
            });
        }
    }

    /// `conv(a)` into a new temporary of type `ty`.
    fn conv_to(&mut self, ty: Type, conv: Conv, a: Temp) -> Temp {
        let t = self.b.new_temp(ty);
        self.b.push(Op::Convert {
            conv,
            dst: t,
            src: a,
        });
        t
    }

    fn st_xmm(&mut self, v: Temp, offset: u32, size: u8) {
        let size = u32::from(size);
        let ty = self.b.ty(v);
        assert!(
            offset + size <= XMM_GLOBALS.end && size <= ty.bits() / 8,
            "xmm state access out of range"
        );
        let pos = (offset % 8) * 8;
        let lo = self.xmm_half(offset & !7);
        if size == 16 {
            assert_eq!(pos, 0, "misaligned 16-byte xmm access");
            let hi = self.xmm_half(offset + 8);
            let (l, h) = (self.conv(Conv::I128Lo, v), self.conv(Conv::I128Hi, v));
            self.mov(lo, l);
            self.mov(hi, h);
            let whole = self.copy_whole(v);
            self.fp.whole[xmm_index(offset)] = Some(whole);
            return;
        }
        let v = match ty {
            Type::I64 => v,
            Type::I32 => self.conv(Conv::I32ToI64u, v),
            Type::I128 => self.conv(Conv::I128Lo, v),
        };
        let bits = size * 8;
        let deposit = |t: &mut Self, g: Temp, val: Temp, pos: u32, len: u32| {
            if pos == 0 && len == 64 {
                t.mov(g, val);
            } else {
                t.b.push(Op::Deposit {
                    dst: g,
                    base: g,
                    val,
                    pos: pos as u8,
                    len: len as u8,
                });
            }
        };
        if pos + bits <= 64 {
            deposit(self, lo, v, pos, bits);
        } else {
            // The bytes straddle the two halves.
            let hi = self.xmm_half((offset & !7) + 8);
            let low_len = 64 - pos;
            let rest = self.bini(BinOp::Shr, v, u64::from(low_len));
            deposit(self, lo, v, pos, low_len);
            deposit(self, hi, rest, 0, bits - low_len);
        }
    }

    pub(crate) fn ld128(&mut self, addr: Temp, aligned: bool) -> Temp {
        let t = self.b.new_temp(Type::I128);
        self.b.push(Op::Load {
            dst: t,
            addr,
            mem: MemOp {
                size: 16,
                signed: false,
                aligned,
            },
        });
        t
    }
    pub(crate) fn st128(&mut self, v: Temp, addr: Temp, aligned: bool) {
        self.b.push(Op::Store {
            src: v,
            addr,
            mem: MemOp {
                size: 16,
                signed: false,
                aligned,
            },
        });
    }
    pub(crate) fn mem_addr(&mut self, ins: &Instruction) -> Result<Temp, Unsupported> {
        self.ea(ins, true)
    }

    /// Makes operand `i` available as an xmm index: a register, or a memory operand loaded
    /// into the scratch register 16 (zero-extended when narrower than 16 bytes).
    pub(crate) fn xsrc(&mut self, ins: &Instruction, i: u32) -> Result<usize, Unsupported> {
        if let Some(x) = xmm_of(ins, i) {
            return Ok(x);
        }
        if !is_mem(ins, i) {
            return Err(Unsupported);
        }
        let size = ins.memory_size().size();
        let addr = self.mem_addr(ins)?;
        match size {
            16 => {
                let v = self.ld128(addr, true);
                self.st_state(v, off::XMM_TMP, 16);
            }
            1 | 2 | 4 | 8 => {
                let v = self.load(addr, size as u32);
                self.st_state(v, off::XMM_TMP, 8);
                let z = self.cst(0);
                self.st_state(z, off::XMM_TMP + 8, 8);
            }
            _ => return Err(Unsupported),
        }
        Ok(16)
    }

    pub(crate) fn sse_call(&mut self, op: u32, d: usize, s: usize, imm: u64) -> Temp {
        let i = self.cst(imm);
        self.sse_call_dyn(op, d, s, i)
    }

    /// Calls the SSE helper ([`crate::sse_impl::exec`]) on registers `d` and `s` (helper
    /// indices: 16 is the scratch register, [`crate::sse_impl::MM0`].. the mm registers).
    ///
    /// The helper reads registers `d` and `s` and MXCSR and writes `d` and MXCSR, nothing
    /// else, so it is declared as touching no global: the xmm halves it reads are stored here
    /// and the ones it writes reloaded, and the block keeps every other global in host
    /// registers across the call (instead of storing and reloading them all).
    pub(crate) fn sse_call_dyn(&mut self, op: u32, d: usize, s: usize, imm: Temp) -> Temp {
        self.register_helper_call(&helpers::SSE, op, d, s, imm, &[])
    }

    /// Calls `helper(env, op, d, s, imm)`, a helper declared as touching no global that
    /// reads xmm registers `d`, `s` and `also` and writes only `d` (and state that is no
    /// global: MXCSR, the mm registers): stores those it reads before, reloads `d` after.
    pub(crate) fn register_helper_call(
        &mut self,
        helper: &'static tcg::Helper,
        op: u32,
        d: usize,
        s: usize,
        imm: Temp,
        also: &[usize],
    ) -> Temp {
        debug_assert!(!helper.flags.reads_state && !helper.flags.writes_state);
        let o = self.cst(u64::from(op));
        let dt = self.cst(d as u64);
        let st = self.cst(s as u64);
        let mut synced = [false; 17];
        for &r in [d, s].iter().chain(also) {
            if r <= 16 && !synced[r] {
                synced[r] = true;
                for h in 0..2 {
                    let off = xoff(r) + 8 * h;
                    let g = self.xmm_half(off);
                    self.b.push(Op::StoreState {
                        src: g,
                        offset: off,
                        mem: MemOp::unsigned(8),
                    });
                }
            }
        }
        let args = vec![self.env, o, dt, st, imm];
        let ret = self.call(helper, args);
        if d <= 16 {
            self.fp.forget(xoff(d), 16);
            for h in 0..2 {
                let off = xoff(d) + 8 * h;
                let g = self.xmm_half(off);
                self.b.push(Op::LoadState {
                    dst: g,
                    offset: off,
                    mem: MemOp::unsigned(8),
                });
            }
        }
        ret
    }
}

/// `dst = f(dst, src[, imm])` ops that go through the helper.
pub(crate) fn helper_op(m: M) -> Option<u32> {
    use op::*;
    Some(match m {
        M::Paddb => PADDB,
        M::Paddw => PADDW,
        M::Paddd => PADDD,
        M::Paddq => PADDQ,
        M::Psubb => PSUBB,
        M::Psubw => PSUBW,
        M::Psubd => PSUBD,
        M::Psubq => PSUBQ,
        M::Paddsb => PADDSB,
        M::Paddsw => PADDSW,
        M::Paddusb => PADDUSB,
        M::Paddusw => PADDUSW,
        M::Psubsb => PSUBSB,
        M::Psubsw => PSUBSW,
        M::Psubusb => PSUBUSB,
        M::Psubusw => PSUBUSW,
        M::Pcmpeqb => PCMPEQB,
        M::Pcmpeqw => PCMPEQW,
        M::Pcmpeqd => PCMPEQD,
        M::Pcmpgtb => PCMPGTB,
        M::Pcmpgtw => PCMPGTW,
        M::Pcmpgtd => PCMPGTD,
        M::Pminub => PMINUB,
        M::Pmaxub => PMAXUB,
        M::Pminsw => PMINSW,
        M::Pmaxsw => PMAXSW,
        M::Pavgb => PAVGB,
        M::Pavgw => PAVGW,
        M::Pmullw => PMULLW,
        M::Pmulhw => PMULHW,
        M::Pmulhuw => PMULHUW,
        M::Pmuludq => PMULUDQ,
        M::Pmaddwd => PMADDWD,
        M::Psadbw => PSADBW,
        M::Punpcklbw => PUNPCKLBW,
        M::Punpcklwd => PUNPCKLWD,
        M::Punpckldq => PUNPCKLDQ,
        M::Punpcklqdq => PUNPCKLQDQ,
        M::Punpckhbw => PUNPCKHBW,
        M::Punpckhwd => PUNPCKHWD,
        M::Punpckhdq => PUNPCKHDQ,
        M::Punpckhqdq => PUNPCKHQDQ,
        M::Packsswb => PACKSSWB,
        M::Packssdw => PACKSSDW,
        M::Packuswb => PACKUSWB,
        M::Pshufd => PSHUFD,
        M::Pshuflw => PSHUFLW,
        M::Pshufhw => PSHUFHW,
        M::Psllw => PSLLW,
        M::Pslld => PSLLD,
        M::Psllq => PSLLQ,
        M::Psrlw => PSRLW,
        M::Psrld => PSRLD,
        M::Psrlq => PSRLQ,
        M::Psraw => PSRAW,
        M::Psrad => PSRAD,
        M::Pslldq => PSLLDQ,
        M::Psrldq => PSRLDQ,
        M::Shufps => SHUFPS,
        M::Shufpd => SHUFPD,
        M::Unpcklps => UNPCKLPS,
        M::Unpckhps => UNPCKHPS,
        M::Unpcklpd => UNPCKLPD,
        M::Unpckhpd => UNPCKHPD,
        M::Addps => ADD,
        M::Addpd => ADD + 1,
        M::Addss => ADD + 2,
        M::Addsd => ADD + 3,
        M::Subps => SUB,
        M::Subpd => SUB + 1,
        M::Subss => SUB + 2,
        M::Subsd => SUB + 3,
        M::Mulps => MUL,
        M::Mulpd => MUL + 1,
        M::Mulss => MUL + 2,
        M::Mulsd => MUL + 3,
        M::Divps => DIV,
        M::Divpd => DIV + 1,
        M::Divss => DIV + 2,
        M::Divsd => DIV + 3,
        M::Minps => MIN,
        M::Minpd => MIN + 1,
        M::Minss => MIN + 2,
        M::Minsd => MIN + 3,
        M::Maxps => MAX,
        M::Maxpd => MAX + 1,
        M::Maxss => MAX + 2,
        M::Maxsd => MAX + 3,
        M::Sqrtps => SQRT,
        M::Sqrtpd => SQRT + 1,
        M::Sqrtss => SQRT + 2,
        M::Sqrtsd => SQRT + 3,
        M::Rcpps => RCP,
        M::Rcpss => RCP + 2,
        M::Rsqrtps => RSQRT,
        M::Rsqrtss => RSQRT + 2,
        M::Cmpps => CMP,
        M::Cmppd => CMP + 1,
        M::Cmpss => CMP + 2,
        M::Cmpsd => CMP + 3,
        M::Cvtss2sd => CVTSS2SD,
        M::Cvtsd2ss => CVTSD2SS,
        M::Cvtdq2pd => CVTDQ2PD,
        M::Cvtdq2ps => CVTDQ2PS,
        M::Cvttpd2dq => CVTTPD2DQ,
        M::Cvtpd2dq => CVTPD2DQ,
        M::Cvttps2dq => CVTTPS2DQ,
        M::Cvtps2dq => CVTPS2DQ,
        M::Cvtpd2ps => CVTPD2PS,
        M::Cvtps2pd => CVTPS2PD,
        _ => return None,
    })
}

/// Translates an SSE/SSE2 instruction, or reports it unsupported.
pub(crate) fn translate_sse(t: &mut Tr, ins: &Instruction) -> R {
    let m = ins.mnemonic();
    // Only legacy encodings (no VEX/EVEX).
    if ins.encoding() != iced_x86::EncodingKind::Legacy {
        return Err(Unsupported);
    }
    if !crate::sse_ext::features_ok(&t.cfg.cpu, ins) {
        return Err(Unsupported);
    }
    if crate::mmx::is_mmx(ins) {
        return crate::mmx::translate(t, ins);
    }
    if let Some(r) = crate::sse_ext::translate(t, ins) {
        return r;
    }
    if let Some(r) = crate::sse_fast::translate(t, ins) {
        return r;
    }
    match m {
        M::Movdqa
        | M::Movdqu
        | M::Movaps
        | M::Movups
        | M::Movapd
        | M::Movupd
        | M::Movntdq
        | M::Movntps
        | M::Movntpd => {
            let aligned = !matches!(m, M::Movdqu | M::Movups | M::Movupd);
            match (xmm_of(ins, 0), xmm_of(ins, 1)) {
                (Some(d), Some(s)) => {
                    let known = t.fp;
                    let v = t.ld_state(Type::I128, xoff(s), 16);
                    t.st_state(v, xoff(d), 16);
                    t.fp.copy_qword(&known, d, 0, s, 0);
                    t.fp.copy_qword(&known, d, 1, s, 1);
                }
                (Some(d), None) => {
                    let a = t.mem_addr(ins)?;
                    let v = t.ld128(a, aligned);
                    t.st_state(v, xoff(d), 16);
                }
                (None, Some(s)) => {
                    let a = t.mem_addr(ins)?;
                    let v = t.ld_state(Type::I128, xoff(s), 16);
                    t.st128(v, a, aligned);
                }
                _ => return Err(Unsupported),
            }
            ok()
        }
        M::Movd | M::Movq => movdq(t, ins),
        M::Movss | M::Movsd => {
            let size: u8 = if m == M::Movss { 4 } else { 8 };
            match (xmm_of(ins, 0), xmm_of(ins, 1)) {
                (Some(d), Some(s)) => {
                    let known = t.fp;
                    let v = t.ld_state(Type::I64, xoff(s), size);
                    t.st_state(v, xoff(d), size);
                    if size == 8 {
                        t.fp.copy_qword(&known, d, 0, s, 0);
                    } else {
                        t.fp.f32[d] |= known.f32[s] & 1;
                    }
                }
                (Some(d), None) => {
                    let a = t.mem_addr(ins)?;
                    let v = t.load(a, u32::from(size));
                    let z = t.cst(0);
                    t.st_state(v, xoff(d), 8);
                    t.st_state(z, xoff(d) + 8, 8);
                }
                (None, Some(s)) => {
                    let a = t.mem_addr(ins)?;
                    let v = t.ld_state(Type::I64, xoff(s), size);
                    t.store(v, a, u32::from(size));
                }
                _ => return Err(Unsupported),
            }
            ok()
        }
        M::Movhps | M::Movhpd | M::Movlps | M::Movlpd => {
            let half = if matches!(m, M::Movhps | M::Movhpd) {
                8
            } else {
                0
            };
            match (xmm_of(ins, 0), xmm_of(ins, 1)) {
                (Some(d), None) => {
                    let a = t.mem_addr(ins)?;
                    let v = t.load(a, 8);
                    t.st_state(v, xoff(d) + half, 8);
                }
                (None, Some(s)) => {
                    let a = t.mem_addr(ins)?;
                    let v = t.ld_state(Type::I64, xoff(s) + half, 8);
                    t.store(v, a, 8);
                }
                _ => return Err(Unsupported),
            }
            ok()
        }
        M::Movhlps | M::Movlhps => {
            let (Some(d), Some(s)) = (xmm_of(ins, 0), xmm_of(ins, 1)) else {
                return Err(Unsupported);
            };
            let (from, to) = if m == M::Movhlps { (8, 0) } else { (0, 8) };
            let v = t.ld_state(Type::I64, xoff(s) + from, 8);
            t.st_state(v, xoff(d) + to, 8);
            ok()
        }
        M::Movnti => {
            let d = t.opnd(ins, 0)?;
            let s = t.opnd(ins, 1)?;
            let v = t.read(s);
            t.write(d, v);
            ok()
        }
        M::Pxor
        | M::Por
        | M::Pand
        | M::Pandn
        | M::Xorps
        | M::Xorpd
        | M::Andps
        | M::Andpd
        | M::Orps
        | M::Orpd
        | M::Andnps
        | M::Andnpd => {
            let d = xmm_of(ins, 0).ok_or(Unsupported)?;
            if matches!(m, M::Pxor | M::Xorps | M::Xorpd) && xmm_of(ins, 1) == Some(d) {
                // The zeroing idiom: no need to read the register.
                let z = t.b.constant(Type::I128, 0);
                t.st_state(z, xoff(d), 16);
                return ok();
            }
            let (d, a, b) = t.xmm_operands(ins)?;
            let r = t.b.new_temp(Type::I128);
            let (op, x, y) = match m {
                M::Pxor | M::Xorps | M::Xorpd => (BinOp::Xor, a, b),
                M::Por | M::Orps | M::Orpd => (BinOp::Or, a, b),
                M::Pand | M::Andps | M::Andpd => (BinOp::And, a, b),
                _ => (BinOp::AndNot, b, a),
            };
            t.b.push(Op::Binary {
                op,
                dst: r,
                a: x,
                b: y,
            });
            t.st_state(r, xoff(d), 16);
            ok()
        }
        M::Pcmpeqb | M::Pcmpeqw | M::Pcmpeqd if t.cfg.lanes => {
            let bits = match m {
                M::Pcmpeqb => 8,
                M::Pcmpeqw => 16,
                _ => 32,
            };
            t.lanes(ins, LaneOp::CmpEq, bits)
        }
        M::Pcmpeqb | M::Pcmpeqw | M::Pcmpeqd => {
            // Inline SWAR compare (hot in the string functions): per lane, x = a ^ b is zero
            // exactly when equal; the high bit of ((x & low) + low) | x marks nonzero lanes.
            let d = xmm_of(ins, 0).ok_or(Unsupported)?;
            let (lane_low, bits) = match m {
                M::Pcmpeqb => (0x7f7f_7f7f_7f7f_7f7fu64, 8u32),
                M::Pcmpeqw => (0x7fff_7fff_7fff_7fff, 16),
                _ => (0x7fff_ffff_7fff_ffff, 32),
            };
            let high = !lane_low;
            let ones = if bits == 32 {
                0xffff_ffff
            } else {
                (1u64 << bits) - 1
            };
            let src = if let Some(sx) = xmm_of(ins, 1) {
                xoff(sx)
            } else {
                t.xsrc(ins, 1)?;
                off::XMM_TMP
            };
            for half in [0, 8] {
                let a = t.ld_state(Type::I64, xoff(d) + half, 8);
                let b = t.ld_state(Type::I64, src + half, 8);
                let x = t.bin(BinOp::Xor, a, b);
                let lo = t.bini(BinOp::And, x, lane_low);
                let sum = t.bini(BinOp::Add, lo, lane_low);
                let nz = t.bin(BinOp::Or, sum, x);
                let hm = t.cst(high);
                let z = t.bin(BinOp::AndNot, hm, nz);
                let z = t.bini(BinOp::Shr, z, u64::from(bits - 1));
                let r = t.bini(BinOp::Mul, z, ones);
                t.st_state(r, xoff(d) + half, 8);
            }
            ok()
        }
        M::Pmovmskb => {
            let Opnd::Reg { r, size, high } = t.opnd(ins, 0)? else {
                return Err(Unsupported);
            };
            let s = xmm_of(ins, 1).ok_or(Unsupported)?;
            if t.cfg.lanes {
                let v = t.ld_state(Type::I128, xoff(s), 16);
                let m = t.conv(Conv::ByteSignBits, v);
                t.set_reg(r, size, high, m);
                return ok();
            }
            // Gather the byte sign bits: ((v >> 7) & 0x0101..) * 0x0102040810204080 >> 56.
            let mut parts = vec![];
            for half in [0, 8] {
                let v = t.ld_state(Type::I64, xoff(s) + half, 8);
                let v = t.bini(BinOp::Shr, v, 7);
                let v = t.bini(BinOp::And, v, 0x0101_0101_0101_0101);
                let v = t.bini(BinOp::Mul, v, 0x0102_0408_1020_4080);
                parts.push(t.bini(BinOp::Shr, v, 56));
            }
            let hi = t.bini(BinOp::Shl, parts[1], 8);
            let v = t.bin(BinOp::Or, parts[0], hi);
            t.set_reg(r, size, high, v);
            ok()
        }
        M::Movmskps | M::Movmskpd => {
            let Opnd::Reg { r, size, high } = t.opnd(ins, 0)? else {
                return Err(Unsupported);
            };
            let s = xmm_of(ins, 1).ok_or(Unsupported)?;
            let o = if m == M::Movmskps {
                op::MOVMSKPS
            } else {
                op::MOVMSKPD
            };
            let v = t.sse_call(o, 0, s, 0);
            t.set_reg(r, size, high, v);
            ok()
        }
        M::Cvtsi2sd | M::Cvtsi2ss => {
            let d = xmm_of(ins, 0).ok_or(Unsupported)?;
            let s = t.opnd(ins, 1)?;
            let v = t.read(s);
            let o = match (m, s.size()) {
                (M::Cvtsi2sd, 4) => op::CVTSI2SD32,
                (M::Cvtsi2sd, _) => op::CVTSI2SD64,
                (_, 4) => op::CVTSI2SS32,
                _ => op::CVTSI2SS64,
            };
            t.sse_call_dyn(o, d, 0, v);
            ok()
        }
        M::Cvttsd2si | M::Cvtsd2si | M::Cvttss2si | M::Cvtss2si => {
            let Opnd::Reg { r, size, high } = t.opnd(ins, 0)? else {
                return Err(Unsupported);
            };
            let s = t.xsrc(ins, 1)?;
            let base = match m {
                M::Cvttsd2si => op::CVTTSD2SI32,
                M::Cvtsd2si => op::CVTSD2SI32,
                M::Cvttss2si => op::CVTTSS2SI32,
                _ => op::CVTSS2SI32,
            };
            let o = base + u32::from(size == 8);
            let v = t.sse_call(o, 0, s, 0);
            t.set_reg(r, size, high, v);
            ok()
        }
        M::Ucomiss | M::Ucomisd | M::Comiss | M::Comisd => {
            let d = xmm_of(ins, 0).ok_or(Unsupported)?;
            let s = t.xsrc(ins, 1)?;
            let o = match m {
                M::Ucomiss => op::UCOMI + 2,
                M::Ucomisd => op::UCOMI + 3,
                M::Comiss => op::COMI + 2,
                _ => op::COMI + 3,
            };
            let f = t.sse_call(o, d, s, 0);
            t.set_cc_eflags(f);
            ok()
        }
        M::Pinsrw => {
            let d = xmm_of(ins, 0).ok_or(Unsupported)?;
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
            let sel = ins.immediate(2) & 7;
            let v = t.bini(BinOp::Shl, v, 8);
            let v = t.bini(BinOp::Or, v, sel);
            t.sse_call_dyn(op::PINSRW, d, d, v);
            ok()
        }
        M::Pextrw
            if matches!(
                ins.code(),
                Code::Pextrw_r32_xmm_imm8 | Code::Pextrw_r64_xmm_imm8
            ) =>
        {
            let Opnd::Reg { r, size, high } = t.opnd(ins, 0)? else {
                return Err(Unsupported);
            };
            let s = xmm_of(ins, 1).ok_or(Unsupported)?;
            let v = t.sse_call(op::PEXTRW, 0, s, ins.immediate(2));
            t.set_reg(r, size, high, v);
            ok()
        }
        M::Ldmxcsr | M::Stmxcsr => {
            let a = t.mem_addr(ins)?;
            // The guest's flags may still be partly the host's (see `crate::host_fp`).
            let env = t.env;
            t.call(&crate::helpers::FOLD_FP_FLAGS, vec![env]);
            if m == M::Ldmxcsr {
                let v = t.load(a, 4);
                // Reserved bits set raise #GP.
                let hi = t.bini(BinOp::And, v, !0xffffu64);
                let z = t.cst(0);
                t.raise_if(tcg::Cond::Ne, hi, z, crate::vector::GP);
                t.st_state(v, off::MXCSR, 4);
            } else {
                let v = t.ld_state(Type::I64, off::MXCSR, 4);
                t.store(v, a, 4);
            }
            ok()
        }
        _ => {
            let o = helper_op(m).ok_or(Unsupported)?;
            let d = xmm_of(ins, 0).ok_or(Unsupported)?;
            let is_shift = matches!(
                m,
                M::Psllw
                    | M::Pslld
                    | M::Psllq
                    | M::Psrlw
                    | M::Psrld
                    | M::Psrlq
                    | M::Psraw
                    | M::Psrad
                    | M::Pslldq
                    | M::Psrldq
            );
            let (s, imm) =
                if is_shift && ins.op_count() == 2 && ins.op_kind(1) == OpKind::Immediate8 {
                    (d, ins.immediate(1) | 1 << 63)
                } else {
                    let s = t.xsrc(ins, 1)?;
                    let imm = if ins.op_count() == 3 {
                        ins.immediate(2)
                    } else {
                        0
                    };
                    (s, imm)
                };
            t.sse_call(o, d, s, imm);
            ok()
        }
    }
}

fn movdq(t: &mut Tr, ins: &Instruction) -> R {
    let size: u32 = if ins.mnemonic() == M::Movd { 4 } else { 8 };
    match (xmm_of(ins, 0), xmm_of(ins, 1)) {
        (Some(d), Some(s)) => {
            // movq xmm, xmm: low quadword, upper zeroed.
            let v = t.ld_state(Type::I64, xoff(s), 8);
            let z = t.cst(0);
            t.st_state(v, xoff(d), 8);
            t.st_state(z, xoff(d) + 8, 8);
        }
        (Some(d), None) => {
            let v = match ins.op_kind(1) {
                OpKind::Register => {
                    let r = ins.op_register(1);
                    let (idx, sz, _) = gpr(r).ok_or(Unsupported)?;
                    t.get_reg(idx, sz, false)
                }
                OpKind::Memory => {
                    let a = t.mem_addr(ins)?;
                    t.load(a, size)
                }
                _ => return Err(Unsupported),
            };
            let z = t.cst(0);
            t.st_state(v, xoff(d), 8);
            t.st_state(z, xoff(d) + 8, 8);
        }
        (None, Some(s)) => {
            let v = t.ld_state(Type::I64, xoff(s), size as u8);
            match ins.op_kind(0) {
                OpKind::Register => {
                    let (idx, sz, _) = gpr(ins.op_register(0)).ok_or(Unsupported)?;
                    t.set_reg(idx, sz, false, v);
                }
                OpKind::Memory => {
                    let a = t.mem_addr(ins)?;
                    t.store(v, a, size);
                }
                _ => return Err(Unsupported),
            }
        }
        _ => return Err(Unsupported),
    }
    ok()
}
