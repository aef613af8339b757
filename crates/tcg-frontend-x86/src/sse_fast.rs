//! Host floating point for the common SSE arithmetic and compares, with the exact x86
//! behaviour kept by a guard that falls back to the helper ([`crate::sse_impl`]).
//!
//! The IR's float ops ([`BinOp::FAdd`]..) round to nearest-even, and their NaNs, denormals
//! and flags are the host's. On a host that is not x86 they give x86's result and leave the
//! guest's MXCSR as x86 would exactly when no case that needs care can arise, which the
//! translated code checks before it commits a result:
//! - MXCSR has round-to-nearest, PE already set and PM masked: inexactness then changes
//!   nothing and raises nothing (FTZ, DAZ and the other masks only matter for the cases
//!   excluded below);
//! - no input is a denormal (DE, DAZ);
//! - every result has a biased exponent from 2 to max-1: not a NaN (IE and x86's NaN rules:
//!   a NaN input or an invalid operation always gives a NaN), not an infinity (OE, ZE, or an
//!   infinite input), not zero, denormal or near the underflow threshold (UE, FTZ; x86 detects
//!   tininess after rounding, so exponent 1 is left to the helper too).
//!
//! Anything else runs the helper on the original operands. Compares (`ucomis*`/`comis*`)
//! need only non-NaN, non-denormal inputs: they round nothing.
//!
//! With [`TranslateConfig::host_sse`](crate::TranslateConfig::host_sse) (an x86-64 host) the
//! float ops are the host's SSE instructions under the default MXCSR, which are x86's for
//! every input, exceptions included ([`crate::host_fp`]): the arithmetic then only checks
//! that the guest's MXCSR control bits are the default (the host's), and runs unguarded.
//!
//! Also inline: the shuffles and lane arithmetic hot in glibc's string and memory functions
//! (`punpck*`, `pshufd`/`pshuflw`/`pshufhw`, `unpck[lh]pd`, `shufpd`, `padd*`, `psub*`,
//! `pslldq`/`psrldq`, `pminub`/`pmaxub`, `palignr`), as moves, shifts, masks and SWAR
//! arithmetic; `pshufb` through a pure helper per half (no state sync).

use iced_x86::{Instruction, Mnemonic as M};
use tcg::{BinOp, Cond, Conv, Label, LaneOp, Op, Temp, Type, UnOp};

use crate::sse::{xmm_of, xoff};
use crate::sse_impl::op;
use crate::state::off;
use crate::translate::{Flow, Tr, R};

/// MXCSR bits the fast path depends on: RC (13-14), PM (12), PE (5).
const MXCSR_GUARD_MASK: u64 = 0x6000 | 0x1000 | 0x20;
/// Their required values: round to nearest, PM masked, PE set.
const MXCSR_GUARD: u64 = 0x1000 | 0x20;
/// With [`TranslateConfig::host_sse`](crate::TranslateConfig::host_sse), the fast path
/// depends on every control bit (DAZ, the masks, RC, FTZ) being the host's: the default.
const MXCSR_HOST_MASK: u64 = 0xffc0;
const MXCSR_HOST: u64 = 0x1f80;

/// The layout of one floating-point format, as seen by the guards.
#[derive(Clone, Copy)]
struct Fmt {
    /// Bytes per element (4 or 8).
    bytes: u32,
    /// `bits << SHIFT` drops the sign and puts the exponent at the top of 64 bits.
    shift: u64,
    /// Bits below the exponent after that shift (53 or 56).
    low: u32,
    /// All-ones exponent.
    emax: u64,
}

const F64: Fmt = Fmt {
    bytes: 8,
    shift: 1,
    low: 53,
    emax: 0x7ff,
};
const F32: Fmt = Fmt {
    bytes: 4,
    shift: 33,
    low: 56,
    emax: 0xff,
};

/// Translates the SSE floating-point instructions that have a host fast path, or returns
/// `None` to leave `ins` to the generic translation.
pub(crate) fn translate(t: &mut Tr, ins: &Instruction) -> Option<R> {
    let m = ins.mnemonic();
    let (base, kind) = match m {
        M::Addps => (op::ADD, 0),
        M::Addpd => (op::ADD, 1),
        M::Addss => (op::ADD, 2),
        M::Addsd => (op::ADD, 3),
        M::Subps => (op::SUB, 0),
        M::Subpd => (op::SUB, 1),
        M::Subss => (op::SUB, 2),
        M::Subsd => (op::SUB, 3),
        M::Mulps => (op::MUL, 0),
        M::Mulpd => (op::MUL, 1),
        M::Mulss => (op::MUL, 2),
        M::Mulsd => (op::MUL, 3),
        M::Divps => (op::DIV, 0),
        M::Divpd => (op::DIV, 1),
        M::Divss => (op::DIV, 2),
        M::Divsd => (op::DIV, 3),
        M::Sqrtps => (op::SQRT, 0),
        M::Sqrtpd => (op::SQRT, 1),
        M::Sqrtss => (op::SQRT, 2),
        M::Sqrtsd => (op::SQRT, 3),
        M::Ucomiss => (op::UCOMI, 2),
        M::Ucomisd => (op::UCOMI, 3),
        M::Comiss => (op::COMI, 2),
        M::Comisd => (op::COMI, 3),
        M::Unpcklpd | M::Unpckhpd | M::Shufpd => return Some(shuffle_pd(t, ins)),
        M::Punpcklbw
        | M::Punpcklwd
        | M::Punpckldq
        | M::Punpcklqdq
        | M::Punpckhbw
        | M::Punpckhwd
        | M::Punpckhdq
        | M::Punpckhqdq => return Some(interleave(t, ins)),
        M::Pshufd | M::Pshuflw | M::Pshufhw => return Some(shuffle_lanes(t, ins)),
        M::Paddb | M::Paddw | M::Paddd | M::Paddq | M::Psubb | M::Psubw | M::Psubd | M::Psubq => {
            return Some(add_lanes(t, ins))
        }
        M::Pslldq | M::Psrldq if ins.op_kind(1) == iced_x86::OpKind::Immediate8 => {
            return Some(byte_shift(t, ins))
        }
        M::Pminub | M::Pmaxub => return Some(min_max_bytes(t, ins)),
        M::Palignr => return Some(palignr(t, ins)),
        M::Pshufb => return Some(pshufb(t, ins)),
        _ => return None,
    };
    let d = xmm_of(ins, 0)?;
    if ins.op_count() != 2 {
        return None;
    }
    Some(if base == op::UCOMI || base == op::COMI {
        compare(t, ins, base + kind, d)
    } else {
        arith(t, ins, base, kind, d)
    })
}

/// The sign-less shifted bits of `x` (see [`Fmt::shift`]).
fn shifted(t: &mut Tr, f: Fmt, x: Temp) -> Temp {
    let x = if f.bytes == 4 {
        t.conv(Conv::I32ToI64u, x)
    } else {
        x
    };
    t.bini(BinOp::Shl, x, f.shift)
}

/// Branches to `slow` if `x` is a denormal.
fn guard_not_denormal(t: &mut Tr, f: Fmt, x: Temp, slow: Label) {
    let x2 = shifted(t, f, x);
    let m1 = t.bini(BinOp::Sub, x2, 1);
    let lim = t.cst((1u64 << f.low) - 1);
    t.brcond(Cond::Ltu, m1, lim, slow);
}

/// Branches to `slow` unless `r` has a biased exponent from 2 to `emax - 1`.
fn guard_safe_result(t: &mut Tr, f: Fmt, r: Temp, slow: Label) {
    let r2 = shifted(t, f, r);
    let rel = t.bini(BinOp::Sub, r2, 2u64 << f.low);
    let lim = t.cst((f.emax - 2) << f.low);
    t.brcond(Cond::Geu, rel, lim, slow);
}

/// Branches to `slow` if `x` is a NaN.
fn guard_not_nan(t: &mut Tr, f: Fmt, x: Temp, slow: Label) {
    let x2 = shifted(t, f, x);
    let inf = t.cst(f.emax << f.low);
    t.brcond(Cond::Gtu, x2, inf, slow);
}

/// The offset of the source operand in the state: an xmm register, or the scratch
/// register the memory operand is loaded into.
fn source(t: &mut Tr, ins: &Instruction) -> Result<(usize, u32), crate::translate::Unsupported> {
    let s = t.xsrc(ins, 1)?;
    Ok((s, if s == 16 { off::XMM_TMP } else { xoff(s) }))
}

/// True if lane `lane` of register `r` (format `f`) is known to be neither a NaN nor a
/// denormal on this path.
fn known_ok(t: &Tr, f: Fmt, r: usize, lane: u32) -> bool {
    let bits = if f.bytes == 8 {
        t.fp.f64[r]
    } else {
        t.fp.f32[r]
    };
    bits >> lane & 1 != 0
}

/// Records that lanes `0..lanes` of register `r` (format `f`) hold values that are neither
/// NaNs nor denormals.
fn mark_ok(t: &mut Tr, f: Fmt, r: usize, lanes: u32) {
    let m = (1u8 << lanes) - 1;
    if f.bytes == 8 {
        t.fp.f64[r] |= m;
    } else {
        t.fp.f32[r] |= m;
    }
}

fn arith(t: &mut Tr, ins: &Instruction, base: u32, kind: u32, d: usize) -> R {
    let (s, soff) = source(t, ins)?;
    let fmt = if kind % 2 == 1 { F64 } else { F32 };
    let lanes = match kind {
        0 => 4,
        1 => 2,
        _ => 1,
    };
    let ty = if fmt.bytes == 8 { Type::I64 } else { Type::I32 };
    let slow = t.label();
    let done = t.label();
    // What earlier fast paths on this path established need not be checked again.
    let known = t.fp;
    // With the host's SSE, the operation is x86's for any operands under the default
    // control bits: no operand or result guard.
    let native = t.cfg.host_sse;
    if !known.mxcsr_ok {
        let (mask, want) = if native {
            (MXCSR_HOST_MASK, MXCSR_HOST)
        } else {
            (MXCSR_GUARD_MASK, MXCSR_GUARD)
        };
        let mx = t.ld_state(Type::I64, off::MXCSR, 4);
        let g = t.bini(BinOp::And, mx, mask);
        let want = t.cst(want);
        t.brcond(Cond::Ne, g, want, slow);
    }
    let mut results = Vec::with_capacity(lanes);
    for lane in 0..lanes as u32 {
        let o = lane * fmt.bytes;
        let b = t.ld_state(ty, soff + o, fmt.bytes as u8);
        if !native && !known_ok(t, fmt, s, lane) {
            guard_not_denormal(t, fmt, b, slow);
        }
        let r = t.b.new_temp(ty);
        if base == op::SQRT {
            t.b.push(Op::Unary {
                op: UnOp::FSqrt,
                dst: r,
                src: b,
            });
        } else {
            let a = t.ld_state(ty, xoff(d) + o, fmt.bytes as u8);
            if !native && !known_ok(t, fmt, d, lane) {
                guard_not_denormal(t, fmt, a, slow);
            }
            let fop = match base {
                op::ADD => BinOp::FAdd,
                op::SUB => BinOp::FSub,
                op::MUL => BinOp::FMul,
                _ => BinOp::FDiv,
            };
            t.b.push(Op::Binary {
                op: fop,
                dst: r,
                a,
                b,
            });
        }
        if !native {
            guard_safe_result(t, fmt, r, slow);
        }
        results.push(r);
    }
    // Commit only when every lane passed: the helper recomputes from the original operands.
    for (lane, r) in results.into_iter().enumerate() {
        t.st_state(r, xoff(d) + lane as u32 * fmt.bytes, fmt.bytes as u8);
        if native {
            // Unguarded: nothing else reads the result (see `FpKnown::unread`).
            let first = lane * fmt.bytes as usize / 4;
            for dw in first..first + fmt.bytes as usize / 4 {
                t.fp.unread[d][dw] = Some(r);
            }
        }
    }
    let after = t.fp;
    t.b.push(Op::Br { label: done });
    // The slow path leaves the block after the helper: only the fast path reaches what
    // follows, with every global where it left it (no merge, no reload), MXCSR checked and
    // the results known to be normal numbers.
    t.set_label(slow);
    t.sse_call(base + kind, d, s, 0);
    t.exit_to_next();
    t.set_label(done);
    t.fp = after;
    t.fp.mxcsr_ok = true;
    // Unchecked results (host SSE) may be anything: storing them forgot their lanes.
    if !native {
        mark_ok(t, fmt, d, lanes as u32);
    }
    Ok(Flow::Next)
}

/// `ucomis*`/`comis*`: ZF, PF, CF from an ordered compare of non-NaN, non-denormal values
/// (OF, SF, AF cleared); NaNs (IE) and denormals (DE) go to the helper.
fn compare(t: &mut Tr, ins: &Instruction, o: u32, d: usize) -> R {
    let (s, soff) = source(t, ins)?;
    let fmt = if o % 2 == 1 { F64 } else { F32 };
    let ty = if fmt.bytes == 8 { Type::I64 } else { Type::I32 };
    let slow = t.label();
    let done = t.label();
    let a = t.ld_state(ty, xoff(d), fmt.bytes as u8);
    let b = t.ld_state(ty, soff, fmt.bytes as u8);
    let mut keys = [Temp(0); 2];
    for ((k, x), r) in keys.iter_mut().zip([a, b]).zip([d, s]) {
        if !known_ok(t, fmt, r, 0) {
            guard_not_nan(t, fmt, x, slow);
            guard_not_denormal(t, fmt, x, slow);
        }
        // An integer with the value's order: ±magnitude (both zeros give 0).
        let x2 = shifted(t, fmt, x);
        let mag = t.bini(BinOp::Shr, x2, 1);
        let neg = t.un(UnOp::Neg, mag);
        let x64 = if fmt.bytes == 4 {
            t.conv(Conv::I32ToI64u, x)
        } else {
            x
        };
        let sign = t.cst(1u64 << (fmt.bytes * 8 - 1));
        *k = t.select(Cond::TstNe, x64, sign, neg, mag);
    }
    let lt = t.setcond(Cond::Lt, keys[0], keys[1]);
    let eq = t.setcond(Cond::Eq, keys[0], keys[1]);
    let zf = t.bini(BinOp::Shl, eq, 6);
    let f = t.bin(BinOp::Or, lt, zf);
    let known = t.fp;
    t.b.push(Op::Br { label: done });
    // The slow path sets the flags and leaves the block (see `arith`); the translator's
    // static flags state is that of the main path.
    t.set_label(slow);
    let snapshot = t.cc_snapshot();
    let slow_flags = t.sse_call(o, d, s, 0);
    t.set_cc_eflags(slow_flags);
    t.exit_to_next();
    t.cc_restore(snapshot);
    t.set_label(done);
    // Only the fast path goes on: both operands are known to be neither NaNs nor denormals.
    t.fp = known;
    mark_ok(t, fmt, d, 1);
    mark_ok(t, fmt, s, 1);
    t.set_cc_eflags(f);
    Ok(Flow::Next)
}

/// `unpcklpd`, `unpckhpd`, `shufpd`: moves of quadwords.
fn shuffle_pd(t: &mut Tr, ins: &Instruction) -> R {
    let d = xmm_of(ins, 0).ok_or(crate::translate::Unsupported)?;
    let (s, _) = source(t, ins)?;
    // (register, qword) of the result's low and high qwords.
    let (lo_from, hi_from) = match ins.mnemonic() {
        M::Unpcklpd => ((d, 0), (s, 0)),
        M::Unpckhpd => ((d, 1), (s, 1)),
        _ => {
            let imm = ins.immediate(2) as u32;
            ((d, imm & 1), (s, imm >> 1 & 1))
        }
    };
    let known = t.fp;
    let lo = t.ld_state(Type::I64, xoff(lo_from.0) + 8 * lo_from.1, 8);
    let hi = t.ld_state(Type::I64, xoff(hi_from.0) + 8 * hi_from.1, 8);
    store_halves(t, d, lo, hi)?;
    t.fp.copy_qword(&known, d, 0, lo_from.0, lo_from.1);
    t.fp.copy_qword(&known, d, 1, hi_from.0, hi_from.1);
    Ok(Flow::Next)
}

/// `punpck[lh](bw|wd|dq|qdq)`: interleaves the elements of the low (high) quadwords of the
/// destination and the source, spreading each half's elements apart with shifts and masks.
fn interleave(t: &mut Tr, ins: &Instruction) -> R {
    let (bits, high) = match ins.mnemonic() {
        M::Punpcklbw => (8u32, false),
        M::Punpcklwd => (16, false),
        M::Punpckldq => (32, false),
        M::Punpcklqdq => (64, false),
        M::Punpckhbw => (8, true),
        M::Punpckhwd => (16, true),
        M::Punpckhdq => (32, true),
        _ => (64, true),
    };
    if t.cfg.lanes {
        let op = if high {
            LaneOp::InterleaveHigh
        } else {
            LaneOp::InterleaveLow
        };
        return t.lanes(ins, op, bits as u8);
    }
    let d = xmm_of(ins, 0).ok_or(crate::translate::Unsupported)?;
    let (_, soff) = source(t, ins)?;
    let half = if high { 8 } else { 0 };
    let dq = t.ld_state(Type::I64, xoff(d) + half, 8);
    let sq = t.ld_state(Type::I64, soff + half, 8);
    let (lo, hi) = if bits == 64 {
        (dq, sq)
    } else {
        // Elements of 32 bits at positions 0.. -> elements at every other slot.
        let spread = |t: &mut Tr, x: Temp| {
            let mut x = x;
            if bits <= 16 {
                let y = t.bini(BinOp::Shl, x, 16);
                let y = t.bin(BinOp::Or, x, y);
                x = t.bini(BinOp::And, y, 0x0000_ffff_0000_ffff);
            }
            if bits == 8 {
                let y = t.bini(BinOp::Shl, x, 8);
                let y = t.bin(BinOp::Or, x, y);
                x = t.bini(BinOp::And, y, 0x00ff_00ff_00ff_00ff);
            }
            x
        };
        let mut out = [Temp(0); 2];
        for (k, o) in out.iter_mut().enumerate() {
            let (a, b) = if k == 0 {
                (t.zext(dq, 4), t.zext(sq, 4))
            } else {
                (t.bini(BinOp::Shr, dq, 32), t.bini(BinOp::Shr, sq, 32))
            };
            let a = spread(t, a);
            let b = spread(t, b);
            let b = t.bini(BinOp::Shl, b, u64::from(bits));
            *o = t.bin(BinOp::Or, a, b);
        }
        (out[0], out[1])
    };
    store_halves(t, d, lo, hi)
}

/// `pshufd` (dwords), `pshuflw`/`pshufhw` (words of one half; the other half is copied).
fn shuffle_lanes(t: &mut Tr, ins: &Instruction) -> R {
    let d = xmm_of(ins, 0).ok_or(crate::translate::Unsupported)?;
    let imm = ins.immediate(2) as u32;
    let (bytes, base, copy) = match ins.mnemonic() {
        M::Pshufd => (4, 0, None),
        M::Pshuflw => (2, 0, Some(8)),
        _ => (2, 8, Some(0)),
    };
    if t.cfg.lanes {
        // One byte shuffle of the source by a constant index vector: the four selected
        // lanes where they go, the other half (`pshuflw`/`pshufhw`) where it is.
        let indices = byte_indices(|i| match i.checked_sub(base) {
            Some(b) if b < 4 * bytes => {
                let sel = imm >> (2 * (b / bytes)) & 3;
                Some(base + sel * bytes + b % bytes)
            }
            _ => Some(i),
        });
        let src = match xmm_of(ins, 1) {
            Some(s) => t.ld_state(Type::I128, xoff(s), 16),
            None => {
                let a = t.mem_addr(ins)?;
                t.ld128(a, true)
            }
        };
        let idx = t.const128(indices);
        let r = t.lane_op(LaneOp::Swizzle, 8, src, idx);
        return store_whole(t, d, r);
    }
    let (_, soff) = source(t, ins)?;
    // Read everything first: the source may be the destination.
    let lanes: Vec<Temp> = (0..4)
        .map(|i| {
            let sel = imm >> (2 * i) & 3;
            t.ld_state(Type::I64, soff + base + sel * bytes, bytes as u8)
        })
        .collect();
    let kept = copy.map(|c| t.ld_state(Type::I64, soff + c, 8));
    for (i, v) in lanes.into_iter().enumerate() {
        t.st_state(v, xoff(d) + base + i as u32 * bytes, bytes as u8);
    }
    if let (Some(c), Some(v)) = (copy, kept) {
        t.st_state(v, xoff(d) + c, 8);
    }
    Ok(Flow::Next)
}

/// `padd[bwdq]`/`psub[bwdq]`: lane-wise wrapping add or subtract on each quadword, SWAR: the
/// lanes' top bits are set aside so that no carry or borrow crosses a lane, then restored.
fn add_lanes(t: &mut Tr, ins: &Instruction) -> R {
    let m = ins.mnemonic();
    let sub = matches!(m, M::Psubb | M::Psubw | M::Psubd | M::Psubq);
    if t.cfg.lanes {
        let bits = match m {
            M::Paddb | M::Psubb => 8,
            M::Paddw | M::Psubw => 16,
            M::Paddd | M::Psubd => 32,
            _ => 64,
        };
        return t.lanes(ins, if sub { LaneOp::Sub } else { LaneOp::Add }, bits);
    }
    let d = xmm_of(ins, 0).ok_or(crate::translate::Unsupported)?;
    let (_, soff) = source(t, ins)?;
    // The top bit of every lane.
    let high: u64 = match m {
        M::Paddb | M::Psubb => 0x8080_8080_8080_8080,
        M::Paddw | M::Psubw => 0x8000_8000_8000_8000,
        M::Paddd | M::Psubd => 0x8000_0000_8000_0000,
        _ => 0,
    };
    let mut out = [Temp(0); 2];
    for (k, o) in out.iter_mut().enumerate() {
        let a = t.ld_state(Type::I64, xoff(d) + 8 * k as u32, 8);
        let b = t.ld_state(Type::I64, soff + 8 * k as u32, 8);
        *o = if high == 0 {
            t.bin(if sub { BinOp::Sub } else { BinOp::Add }, a, b)
        } else if sub {
            // ((a | H) - (b & !H)) ^ ((a ^ !b) & H)
            let ah = t.bini(BinOp::Or, a, high);
            let bl = t.bini(BinOp::And, b, !high);
            let diff = t.bin(BinOp::Sub, ah, bl);
            let x = t.bin(BinOp::Xor, a, b);
            let nx = t.bini(BinOp::Xor, x, high);
            let top = t.bini(BinOp::And, nx, high);
            t.bin(BinOp::Xor, diff, top)
        } else {
            // ((a & !H) + (b & !H)) ^ ((a ^ b) & H)
            let al = t.bini(BinOp::And, a, !high);
            let bl = t.bini(BinOp::And, b, !high);
            let sum = t.bin(BinOp::Add, al, bl);
            let x = t.bin(BinOp::Xor, a, b);
            let top = t.bini(BinOp::And, x, high);
            t.bin(BinOp::Xor, sum, top)
        };
    }
    store_halves(t, d, out[0], out[1])
}

/// `pslldq`/`psrldq` by an immediate: the register as 16 bytes shifted by whole bytes.
fn byte_shift(t: &mut Tr, ins: &Instruction) -> R {
    let d = xmm_of(ins, 0).ok_or(crate::translate::Unsupported)?;
    let n = (ins.immediate(1) & 0xff).min(16) as u32;
    if t.cfg.lanes {
        // A swizzle by constant indices; those out of the register pick zero.
        let left = ins.mnemonic() == M::Pslldq;
        let indices = byte_indices(|i| if left { i.checked_sub(n) } else { Some(i + n) });
        let v = t.ld_state(Type::I128, xoff(d), 16);
        let idx = t.const128(indices);
        let r = t.lane_op(LaneOp::Swizzle, 8, v, idx);
        return store_whole(t, d, r);
    }
    let lo = t.ld_state(Type::I64, xoff(d), 8);
    let hi = t.ld_state(Type::I64, xoff(d) + 8, 8);
    let left = ins.mnemonic() == M::Pslldq;
    // Shifting left moves bytes from `lo` to `hi`; right, from `hi` to `lo`.
    let (near, far) = if left { (lo, hi) } else { (hi, lo) };
    let (sh_near, sh_far) = if left {
        (BinOp::Shl, BinOp::Shr)
    } else {
        (BinOp::Shr, BinOp::Shl)
    };
    // `far` becomes what `near` pushes into it; `near` keeps its own bytes shifted.
    let (new_near, new_far) = if n >= 16 {
        (t.cst(0), t.cst(0))
    } else if n >= 8 {
        let f = t.bini(sh_near, near, u64::from(8 * (n - 8)));
        (t.cst(0), f)
    } else if n == 0 {
        (near, far)
    } else {
        let a = t.bini(sh_near, far, u64::from(8 * n));
        let b = t.bini(sh_far, near, u64::from(64 - 8 * n));
        let f = t.bin(BinOp::Or, a, b);
        (t.bini(sh_near, near, u64::from(8 * n)), f)
    };
    if left {
        store_halves(t, d, new_near, new_far)
    } else {
        store_halves(t, d, new_far, new_near)
    }
}

/// `pminub`/`pmaxub`: per byte, SWAR on each quadword. A byte of `a` is below `b`'s when
/// its top bit is lower, or the top bits are equal and its low seven bits are lower (the
/// borrow-free `(a | H) - (b & !H)` has its top bit clear exactly then).
fn min_max_bytes(t: &mut Tr, ins: &Instruction) -> R {
    let max = ins.mnemonic() == M::Pmaxub;
    if t.cfg.lanes {
        return t.lanes(ins, if max { LaneOp::MaxU } else { LaneOp::MinU }, 8);
    }
    let d = xmm_of(ins, 0).ok_or(crate::translate::Unsupported)?;
    let (_, soff) = source(t, ins)?;
    const H: u64 = 0x8080_8080_8080_8080;
    let mut out = [Temp(0); 2];
    for (k, o) in out.iter_mut().enumerate() {
        let a = t.ld_state(Type::I64, xoff(d) + 8 * k as u32, 8);
        let b = t.ld_state(Type::I64, soff + 8 * k as u32, 8);
        let ah = t.bini(BinOp::Or, a, H);
        let hmask = t.cst(H);
        let bl = t.bin(BinOp::AndNot, b, hmask);
        let x = t.bin(BinOp::Sub, ah, bl);
        let top_lt = t.bin(BinOp::AndNot, b, a);
        let diff = t.bin(BinOp::Xor, a, b);
        let either = t.bin(BinOp::Or, diff, x);
        let low_lt = t.bini(BinOp::Xor, either, u64::MAX);
        let lt = t.bin(BinOp::Or, top_lt, low_lt);
        let lt = t.bini(BinOp::And, lt, H);
        let ones = t.bini(BinOp::Shr, lt, 7);
        // 0xff in every byte where a < b.
        let m = t.bini(BinOp::Mul, ones, 0xff);
        let (pick_a, pick_b) = if max { (b, a) } else { (a, b) };
        let x1 = t.bin(BinOp::And, pick_a, m);
        let x2 = t.bin(BinOp::AndNot, pick_b, m);
        *o = t.bin(BinOp::Or, x1, x2);
    }
    store_halves(t, d, out[0], out[1])
}

/// `palignr` (xmm form): the 32 bytes `d:s` shifted right by the immediate, low 16 kept.
fn palignr(t: &mut Tr, ins: &Instruction) -> R {
    let n = (ins.immediate(2) & 0xff) as u32;
    if t.cfg.lanes {
        // Bytes `n..n + 16` of destination:source (the source low): each register swizzled
        // to where its bytes go, zero elsewhere, and the two or-ed.
        let (d, dst, src) = t.xmm_operands(ins)?;
        let from_src = byte_indices(|i| Some(i + n));
        let from_dst = byte_indices(|i| (i + n).checked_sub(16));
        let (is, id) = (t.const128(from_src), t.const128(from_dst));
        let a = t.lane_op(LaneOp::Swizzle, 8, src, is);
        let b = t.lane_op(LaneOp::Swizzle, 8, dst, id);
        let r = t.b.new_temp(Type::I128);
        t.b.push(Op::Binary {
            op: BinOp::Or,
            dst: r,
            a,
            b,
        });
        return store_whole(t, d, r);
    }
    let d = xmm_of(ins, 0).ok_or(crate::translate::Unsupported)?;
    let (_, soff) = source(t, ins)?;
    let mut q = Vec::with_capacity(4);
    for o in [soff, soff + 8, xoff(d), xoff(d) + 8] {
        q.push(t.ld_state(Type::I64, o, 8));
    }
    let mut out = [Temp(0); 2];
    for (j, o) in out.iter_mut().enumerate() {
        let byte = n + 8 * j as u32;
        let (qi, sh) = ((byte / 8) as usize, (byte % 8) * 8);
        *o = if qi >= 4 {
            t.cst(0)
        } else if sh == 0 {
            q[qi]
        } else {
            let low = t.bini(BinOp::Shr, q[qi], u64::from(sh));
            if qi + 1 < 4 {
                let high = t.bini(BinOp::Shl, q[qi + 1], u64::from(64 - sh));
                t.bin(BinOp::Or, low, high)
            } else {
                low
            }
        };
    }
    store_halves(t, d, out[0], out[1])
}

/// `pshufb` (xmm form): each half of the result from a pure helper (no state sync).
fn pshufb(t: &mut Tr, ins: &Instruction) -> R {
    if t.cfg.lanes {
        // An index with bit 7 set gives zero, any other its low four bits: keeping just
        // those bits makes the first 16 or more, as the swizzle wants.
        let (d, a, b) = t.xmm_operands(ins)?;
        let keep = t.const128(u128::from_le_bytes([0x8f; 16]));
        let idx = t.b.new_temp(Type::I128);
        t.b.push(Op::Binary {
            op: BinOp::And,
            dst: idx,
            a: b,
            b: keep,
        });
        let r = t.lane_op(LaneOp::Swizzle, 8, a, idx);
        return store_whole(t, d, r);
    }
    let d = xmm_of(ins, 0).ok_or(crate::translate::Unsupported)?;
    let (_, soff) = source(t, ins)?;
    let lo = t.ld_state(Type::I64, xoff(d), 8);
    let hi = t.ld_state(Type::I64, xoff(d) + 8, 8);
    let mut out = [Temp(0); 2];
    for (k, o) in out.iter_mut().enumerate() {
        let m = t.ld_state(Type::I64, soff + 8 * k as u32, 8);
        *o = t.call(&crate::helpers::PSHUFB, vec![lo, hi, m]);
    }
    store_halves(t, d, out[0], out[1])
}

/// The indices of a swizzle whose byte `i` is byte `pick(i)` of its source, or zero where
/// that is `None` or beyond the register.
fn byte_indices(pick: impl Fn(u32) -> Option<u32>) -> u128 {
    u128::from_le_bytes(std::array::from_fn(|i| match pick(i as u32) {
        Some(j) if j < 16 => j as u8,
        _ => 0x80,
    }))
}

/// Writes xmm `d` as one 16-byte value.
fn store_whole(t: &mut Tr, d: usize, v: Temp) -> R {
    t.st_state(v, xoff(d), 16);
    Ok(Flow::Next)
}

/// Writes xmm `d` as two quadwords.
fn store_halves(t: &mut Tr, d: usize, lo: Temp, hi: Temp) -> R {
    t.st_state(lo, xoff(d), 8);
    t.st_state(hi, xoff(d) + 8, 8);
    Ok(Flow::Next)
}
