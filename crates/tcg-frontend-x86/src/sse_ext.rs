//! Translation of SSE3, SSSE3, SSE4.1, SSE4.2 (incl. `crc32`), AES-NI and PCLMULQDQ
//! (legacy encodings on xmm registers; the MMX forms of SSSE3 are in `mmx`). Loads and moves
//! are inline; everything else goes through the `sse_ext`
//! helper ([`crate::sse_ext_impl::exec`]). Instructions of a feature the CPU model lacks
//! raise #UD, as on a processor without it.

use iced_x86::{CpuidFeature, Instruction, Mnemonic as M, OpKind};
use tcg::Temp;

use crate::helpers;
use crate::sse::{xmm_of, xoff};
use crate::sse_ext_impl::op;
use crate::state::off;
use crate::translate::{Flow, Opnd, Tr, Unsupported, R};
use crate::CpuModel;

/// True if every optional feature the instruction needs is in `cpu`.
pub(crate) fn features_ok(cpu: &CpuModel, ins: &Instruction) -> bool {
    ins.cpuid_features().iter().all(|f| match f {
        CpuidFeature::SSE3 => cpu.sse3,
        CpuidFeature::SSSE3 => cpu.ssse3,
        CpuidFeature::SSE4_1 => cpu.sse41,
        CpuidFeature::SSE4_2 => cpu.sse42,
        CpuidFeature::AES => cpu.aes,
        CpuidFeature::PCLMULQDQ => cpu.pclmul,
        CpuidFeature::POPCNT => cpu.popcnt,
        // 3DNow! is never part of a model (its mm-register forms would otherwise reach
        // the MMX translator).
        CpuidFeature::D3NOW | CpuidFeature::D3NOWEXT => false,
        _ => true,
    })
}

/// `xmm_d = f(xmm_d, xmm/mem)` ops of the helper.
pub(crate) fn binary_op(m: M) -> Option<u32> {
    use op::*;
    Some(match m {
        M::Addsubps => ADDSUBPS,
        M::Addsubpd => ADDSUBPD,
        M::Haddps => HADDPS,
        M::Haddpd => HADDPD,
        M::Hsubps => HSUBPS,
        M::Hsubpd => HSUBPD,
        M::Movddup => MOVDDUP,
        M::Movshdup => MOVSHDUP,
        M::Movsldup => MOVSLDUP,
        M::Pabsb => PABSB,
        M::Pabsw => PABSW,
        M::Pabsd => PABSD,
        M::Palignr => PALIGNR,
        M::Phaddw => PHADDW,
        M::Phaddd => PHADDD,
        M::Phaddsw => PHADDSW,
        M::Phsubw => PHSUBW,
        M::Phsubd => PHSUBD,
        M::Phsubsw => PHSUBSW,
        M::Pmaddubsw => PMADDUBSW,
        M::Pmulhrsw => PMULHRSW,
        M::Pshufb => PSHUFB,
        M::Psignb => PSIGNB,
        M::Psignw => PSIGNW,
        M::Psignd => PSIGND,
        M::Blendps => BLENDPS,
        M::Blendpd => BLENDPD,
        M::Blendvps => BLENDVPS,
        M::Blendvpd => BLENDVPD,
        M::Pblendvb => PBLENDVB,
        M::Pblendw => PBLENDW,
        M::Dpps => DPPS,
        M::Dppd => DPPD,
        M::Insertps => INSERTPS,
        M::Mpsadbw => MPSADBW,
        M::Packusdw => PACKUSDW,
        M::Pcmpeqq => PCMPEQQ,
        M::Pcmpgtq => PCMPGTQ,
        M::Phminposuw => PHMINPOSUW,
        M::Pmaxsb => PMAXSB,
        M::Pmaxsd => PMAXSD,
        M::Pmaxud => PMAXUD,
        M::Pmaxuw => PMAXUW,
        M::Pminsb => PMINSB,
        M::Pminsd => PMINSD,
        M::Pminud => PMINUD,
        M::Pminuw => PMINUW,
        M::Pmovsxbw => PMOVSX,
        M::Pmovsxbd => PMOVSX + 1,
        M::Pmovsxbq => PMOVSX + 2,
        M::Pmovsxwd => PMOVSX + 3,
        M::Pmovsxwq => PMOVSX + 4,
        M::Pmovsxdq => PMOVSX + 5,
        M::Pmovzxbw => PMOVZX,
        M::Pmovzxbd => PMOVZX + 1,
        M::Pmovzxbq => PMOVZX + 2,
        M::Pmovzxwd => PMOVZX + 3,
        M::Pmovzxwq => PMOVZX + 4,
        M::Pmovzxdq => PMOVZX + 5,
        M::Pmuldq => PMULDQ,
        M::Pmulld => PMULLD,
        M::Roundps => ROUND,
        M::Roundpd => ROUND + 1,
        M::Roundss => ROUND + 2,
        M::Roundsd => ROUND + 3,
        M::Aesenc => AESENC,
        M::Aesenclast => AESENCLAST,
        M::Aesdec => AESDEC,
        M::Aesdeclast => AESDECLAST,
        M::Aesimc => AESIMC,
        M::Aeskeygenassist => AESKEYGENASSIST,
        M::Pclmulqdq => PCLMULQDQ,
        _ => return None,
    })
}

impl Tr<'_> {
    /// Calls the extensions' helper ([`crate::sse_ext_impl::exec`]). Every op but the
    /// explicit-length and mask string compares reads only registers `d` and `s` (and xmm0,
    /// the blends) and writes only `d`: those run through a helper that touches no global,
    /// with just these registers synced (see [`Tr::register_helper_call`]).
    pub(crate) fn ext_call(&mut self, op: u32, d: usize, s: usize, imm: u64) -> Temp {
        let i = self.cst(imm);
        if (op::PCMPSTR..op::PCMPSTR + 4).contains(&op) {
            // rax, rdx, rcx and xmm0 too.
            let o = self.cst(u64::from(op));
            let d = self.cst(d as u64);
            let s = self.cst(s as u64);
            let args = vec![self.env, o, d, s, i];
            return self.call(&helpers::SSE_EXT, args);
        }
        let also: &[usize] = if (op::BLENDPS..=op::PBLENDW).contains(&op) {
            &[0]
        } else {
            &[]
        };
        self.register_helper_call(&helpers::SSE_EXT_REGS, op, d, s, i, also)
    }

    /// Like `xsrc` but a 16-byte memory operand may be misaligned (the SSE4.2 string
    /// instructions).
    fn xsrc_unaligned(&mut self, ins: &Instruction, i: u32) -> Result<usize, Unsupported> {
        if ins.op_kind(i) == OpKind::Memory && ins.memory_size().size() == 16 {
            let a = self.mem_addr(ins)?;
            let v = self.ld128(a, false);
            self.st_state(v, off::XMM_TMP, 16);
            return Ok(16);
        }
        self.xsrc(ins, i)
    }
}

pub(crate) fn imm8(ins: &Instruction) -> u64 {
    (0..ins.op_count())
        .find(|&i| ins.op_kind(i) == OpKind::Immediate8)
        .map_or(0, |i| ins.immediate(i) & 0xff)
}

/// Translates the instruction if it belongs to these extensions (`None` otherwise).
pub(crate) fn translate(t: &mut Tr, ins: &Instruction) -> Option<R> {
    let m = ins.mnemonic();
    if matches!(m, M::Palignr | M::Pshufb) && xmm_of(ins, 0).is_some() {
        return crate::sse_fast::translate(t, ins);
    }
    if let Some(o) = binary_op(m) {
        return Some(binary(t, ins, o));
    }
    Some(match m {
        M::Lddqu | M::Movntdqa => load(t, ins),
        M::Pextrb | M::Pextrw | M::Pextrd | M::Pextrq | M::Extractps => extract(t, ins),
        M::Pinsrb | M::Pinsrd | M::Pinsrq => insert(t, ins),
        M::Ptest => ptest(t, ins),
        M::Pcmpestri
        | M::Pcmpestri64
        | M::Pcmpestrm
        | M::Pcmpestrm64
        | M::Pcmpistri
        | M::Pcmpistrm => pcmpstr(t, ins),
        M::Crc32 => crc32(t, ins),
        M::Maskmovdqu => maskmovdqu(t, ins),
        // Cache-line flushes have no architectural effect here.
        M::Clflush => Ok(Flow::Next),
        _ => return None,
    })
}

fn binary(t: &mut Tr, ins: &Instruction, o: u32) -> R {
    let d = xmm_of(ins, 0).ok_or(Unsupported)?;
    let s = t.xsrc(ins, 1)?;
    let mut imm = imm8(ins);
    if o == op::INSERTPS && s == 16 {
        imm |= 0x100;
    }
    t.ext_call(o, d, s, imm);
    Ok(Flow::Next)
}

fn load(t: &mut Tr, ins: &Instruction) -> R {
    let d = xmm_of(ins, 0).ok_or(Unsupported)?;
    if ins.op_kind(1) != OpKind::Memory {
        return Err(Unsupported);
    }
    let a = t.mem_addr(ins)?;
    let v = t.ld128(a, ins.mnemonic() == M::Movntdqa);
    t.st_state(v, xoff(d), 16);
    Ok(Flow::Next)
}

fn extract(t: &mut Tr, ins: &Instruction) -> R {
    let bits: u64 = match ins.mnemonic() {
        M::Pextrb => 8,
        M::Pextrw => 16,
        M::Pextrd | M::Extractps => 32,
        _ => 64,
    };
    let s = xmm_of(ins, 1).ok_or(Unsupported)?;
    let dst = t.opnd(ins, 0)?;
    let v = t.ext_call(op::EXTRACT, 0, s, imm8(ins) | bits << 8);
    match dst {
        Opnd::Reg { r, size, .. } => t.set_reg(r, size.max(4), false, v),
        Opnd::Mem { addr, .. } => t.store(v, addr, (bits / 8) as u32),
        Opnd::Imm { .. } => return Err(Unsupported),
    }
    Ok(Flow::Next)
}

fn insert(t: &mut Tr, ins: &Instruction) -> R {
    let bits: u64 = match ins.mnemonic() {
        M::Pinsrb => 8,
        M::Pinsrd => 32,
        _ => 64,
    };
    let d = xmm_of(ins, 0).ok_or(Unsupported)?;
    let src = t.opnd(ins, 1)?;
    let v = t.read(src);
    t.st_state(v, off::XMM_TMP, 8);
    t.ext_call(op::INSERT, d, 16, imm8(ins) | bits << 8);
    Ok(Flow::Next)
}

fn ptest(t: &mut Tr, ins: &Instruction) -> R {
    let d = xmm_of(ins, 0).ok_or(Unsupported)?;
    let s = t.xsrc(ins, 1)?;
    let f = t.ext_call(op::PTEST, d, s, 0);
    t.set_cc_eflags(f);
    Ok(Flow::Next)
}

fn pcmpstr(t: &mut Tr, ins: &Instruction) -> R {
    let k = match ins.mnemonic() {
        M::Pcmpestri | M::Pcmpestri64 => 0,
        M::Pcmpestrm | M::Pcmpestrm64 => 1,
        M::Pcmpistri => 2,
        _ => 3,
    };
    let wide = matches!(ins.mnemonic(), M::Pcmpestri64 | M::Pcmpestrm64);
    let d = xmm_of(ins, 0).ok_or(Unsupported)?;
    // Byte elements (signed or not: equality does not care), "equal each", the least
    // significant index: strcmp's form, inline with lane ops.
    if k == 2 && t.cfg.lanes && imm8(ins) & 0b0100_1101 == 0b1000 {
        return pcmpistri_equal_each(t, ins, d);
    }
    let s = t.xsrc_unaligned(ins, 1)?;
    if k == 2 {
        // pcmpistri through a pure helper: operands in, ECX and flags out.
        let soff = if s == 16 { off::XMM_TMP } else { xoff(s) };
        let mut args = Vec::with_capacity(5);
        for o in [xoff(d), xoff(d) + 8, soff, soff + 8] {
            args.push(t.ld_state(tcg::Type::I64, o, 8));
        }
        args.push(t.cst(imm8(ins)));
        let r = t.call(&helpers::PCMPISTRI, args);
        let ecx = t.zext(r, 4);
        t.set_reg(1, 4, false, ecx);
        let f = t.bini(tcg::BinOp::Shr, r, 32);
        t.set_cc_eflags(f);
        return Ok(Flow::Next);
    }
    let f = t.ext_call(op::PCMPSTR + k, d, s, imm8(ins) | u64::from(wide) << 8);
    t.set_cc_eflags(f);
    Ok(Flow::Next)
}

/// `pcmpistri` on bytes with "equal each" aggregation and the least significant index (imm
/// bits 0, 2, 3, 6 = 0, 0, 1, 0), inline. A string ends at its first zero byte; byte `i`
/// matches when both strings have it and the bytes are equal, or neither has it. The
/// polarity (bits 4-5) negates all matches or those of bytes the second string has; ECX is
/// the index of the first set result bit (16 if none); CF: some bit set, ZF/SF: the
/// second/first string ends in the register, OF: result bit 0.
fn pcmpistri_equal_each(t: &mut Tr, ins: &Instruction, d: usize) -> R {
    use tcg::{BinOp::*, Conv, LaneOp::CmpEq};
    let b = if let Some(s) = xmm_of(ins, 1) {
        t.ld_state(tcg::Type::I128, xoff(s), 16)
    } else {
        let a = t.mem_addr(ins)?;
        t.ld128(a, false)
    };
    let a = t.ld_state(tcg::Type::I128, xoff(d), 16);
    let zero = t.const128(0);
    let mask = |t: &mut Tr, x: Temp, y: Temp| {
        let eq = t.lane_op(CmpEq, 8, x, y);
        t.conv(Conv::ByteSignBits, eq)
    };
    let (za, zb, eq) = (mask(t, a, zero), mask(t, b, zero), mask(t, a, b));
    // The bytes before the first zero: (z & -z) - 1, all 16 when there is none.
    let valid = |t: &mut Tr, z: Temp| {
        let neg = t.un(tcg::UnOp::Neg, z);
        let first = t.bin(And, z, neg);
        let below = t.bini(Sub, first, 1);
        t.bini(And, below, 0xffff)
    };
    let (va, vb) = (valid(t, za), valid(t, zb));
    let both = t.bin(And, va, vb);
    let matched = t.bin(And, both, eq);
    let either = t.bin(Or, va, vb);
    let neither = t.bini(Xor, either, 0xffff);
    let res1 = t.bin(Or, matched, neither);
    let res2 = match imm8(ins) >> 4 & 3 {
        1 => t.bini(Xor, res1, 0xffff),
        3 => t.bin(Xor, res1, vb),
        _ => res1,
    };
    let stop = t.bini(Or, res2, 0x1_0000);
    let ecx = t.un(tcg::UnOp::Ctz, stop);
    t.set_reg(1, 4, false, ecx);
    // CF (bit 0): res2 != 0; ZF (6): zb != 0; SF (7): za != 0; OF (11): res2 bit 0.
    let zero64 = t.cst(0);
    let cf = t.setcond(tcg::Cond::Ne, res2, zero64);
    let zf = t.setcond(tcg::Cond::Ne, zb, zero64);
    let sf = t.setcond(tcg::Cond::Ne, za, zero64);
    let of = t.bini(And, res2, 1);
    let zf = t.bini(Shl, zf, 6);
    let sf = t.bini(Shl, sf, 7);
    let of = t.bini(Shl, of, 11);
    let f = t.bin(Or, cf, zf);
    let f = t.bin(Or, f, sf);
    let f = t.bin(Or, f, of);
    t.set_cc_eflags(f);
    Ok(Flow::Next)
}

/// `maskmovdqu` (SSE2).
fn maskmovdqu(t: &mut Tr, ins: &Instruction) -> R {
    // iced lists the implicit [rdi] first.
    let first = ins.op_count() - 2;
    let (Some(src), Some(mask)) = (xmm_of(ins, first), xmm_of(ins, first + 1)) else {
        return Err(Unsupported);
    };
    masked_store(t, ins, xoff(src), xoff(mask), 16)
}

/// `maskmovdqu` and `maskmovq`: stores the `n` bytes of the register at state offset `src`
/// whose mask byte (register at `mask`) has its top bit set to [rdi], one byte at a time
/// (unselected bytes are not accessed).
pub(crate) fn masked_store(t: &mut Tr, ins: &Instruction, src: u32, mask: u32, n: u32) -> R {
    let base = match ins.op0_kind() {
        OpKind::MemorySegRDI => t.copy(t.regs[7]),
        OpKind::MemorySegEDI => t.zext(t.regs[7], 4),
        _ => return Err(Unsupported),
    };
    let base = match ins.memory_segment() {
        iced_x86::Register::FS => t.bin(tcg::BinOp::Add, base, t.fs_base),
        iced_x86::Register::GS => t.bin(tcg::BinOp::Add, base, t.gs_base),
        _ => base,
    };
    for i in 0..n {
        let m = t.ld_state(tcg::Type::I64, mask + i, 1);
        let skip = t.label();
        t.brcondi(tcg::Cond::TstEq, m, 0x80, skip);
        let v = t.ld_state(tcg::Type::I64, src + i, 1);
        let a = t.bini(tcg::BinOp::Add, base, u64::from(i));
        t.store(v, a, 1);
        t.set_label(skip);
    }
    Ok(Flow::Next)
}

fn crc32(t: &mut Tr, ins: &Instruction) -> R {
    let Opnd::Reg { r, .. } = t.opnd(ins, 0)? else {
        return Err(Unsupported);
    };
    let src = t.opnd(ins, 1)?;
    let data = t.read(src);
    let crc = t.get_reg(r, 4, false);
    let n = t.cst(u64::from(src.size()));
    let v = t.call(&helpers::CRC32C, vec![crc, data, n]);
    t.set_reg(r, 4, false, v);
    Ok(Flow::Next)
}
