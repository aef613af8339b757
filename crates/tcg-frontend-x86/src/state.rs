//! The x86-64 CPU state: its layout is what translated code addresses through `env`.

use std::mem::offset_of;

/// Arithmetic flag bits of RFLAGS.
pub mod flags {
    /// Carry.
    pub const CF: u64 = 1 << 0;
    /// Parity (of the low byte of the result).
    pub const PF: u64 = 1 << 2;
    /// Auxiliary carry (out of bit 3).
    pub const AF: u64 = 1 << 4;
    /// Zero.
    pub const ZF: u64 = 1 << 6;
    /// Sign.
    pub const SF: u64 = 1 << 7;
    /// Trap (single step).
    pub const TF: u64 = 1 << 8;
    /// Interrupt enable (always set in user mode).
    pub const IF: u64 = 1 << 9;
    /// Direction.
    pub const DF: u64 = 1 << 10;
    /// Overflow.
    pub const OF: u64 = 1 << 11;
    /// Nested task.
    pub const NT: u64 = 1 << 14;
    /// Alignment check.
    pub const AC: u64 = 1 << 18;
    /// CPUID available.
    pub const ID: u64 = 1 << 21;
    /// The six arithmetic flags, which live in the lazy `cc_*` fields.
    pub const OSZAPC: u64 = CF | PF | AF | ZF | SF | OF;
    /// The bits a user-mode `popf` may change.
    pub const USER_WRITABLE: u64 = OSZAPC | TF | DF | NT | AC | ID;
    /// Bits that always read as set in user mode (reserved bit 1 and IF).
    pub const FIXED_ONE: u64 = 0x2 | IF;
}

/// Lazy condition-code operations (QEMU's `CC_OP_*`): what `cc_dst`/`cc_src`/`cc_src2` hold.
///
/// A `cc_op` value is `kind * 4 + size_index` where `size_index` is 0..=3 for 8, 16, 32 and 64
/// bit operations. `kind`s are the `CC_*` constants here.
pub mod cc {
    /// `cc_src` holds the six flags in RFLAGS positions.
    pub const EFLAGS: u64 = 0;
    /// `cc_dst` = result, `cc_src` = second operand.
    pub const ADD: u64 = 1;
    /// As `ADD`, `cc_src2` = carry in (0 or 1).
    pub const ADC: u64 = 2;
    /// `cc_dst` = result, `cc_src` = second operand (first = dst + src).
    pub const SUB: u64 = 3;
    /// As `SUB`, `cc_src2` = borrow in (0 or 1).
    pub const SBB: u64 = 4;
    /// `cc_dst` = result; CF = OF = AF = 0.
    pub const LOGIC: u64 = 5;
    /// `cc_dst` = result, `cc_src` = the preserved CF (0 or 1).
    pub const INC: u64 = 6;
    /// `cc_dst` = result, `cc_src` = the preserved CF (0 or 1).
    pub const DEC: u64 = 7;
    /// `cc_dst` = result, `cc_src` = value shifted left by `count - 1`: CF = its top bit.
    pub const SHL: u64 = 8;
    /// `cc_dst` = result, `cc_src` = value shifted right by `count - 1`: CF = its low bit.
    pub const SAR: u64 = 9;
    /// `cc_dst` = low result, `cc_src` nonzero iff CF = OF = 1.
    pub const MUL: u64 = 10;
    /// Number of kinds.
    pub const KINDS: u64 = 11;

    /// The `cc_op` value for `kind` at operand size `bytes` (1, 2, 4 or 8).
    pub const fn op(kind: u64, bytes: u32) -> u64 {
        kind * 4 + bytes.trailing_zeros() as u64
    }
}

fn parity(v: u64) -> bool {
    (v as u8).count_ones() % 2 == 0
}

/// Computes the six arithmetic flags (in RFLAGS bit positions) from the lazy state.
///
/// This is the single definition of the lazy-flags encoding; translated code calls it as a
/// pure helper when it needs flags it does not compute inline.
pub fn cc_compute_all(cc_op: u64, dst: u64, src: u64, src2: u64) -> u64 {
    use flags::*;
    let kind = cc_op / 4;
    if kind == cc::EFLAGS || kind >= cc::KINDS {
        return src & OSZAPC;
    }
    let bits = 8u32 << (cc_op % 4);
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let sign = 1u64 << (bits - 1);
    let d = dst & mask;
    let s = src & mask;
    // Only ADC/SBB record a carry-in; for the others `src2` is stale from an earlier op.
    let cin = if kind == cc::ADC || kind == cc::SBB {
        src2 & 1
    } else {
        0
    };
    let (cf, of, af) = match kind {
        cc::ADD | cc::ADC => {
            let s1 = d.wrapping_sub(s).wrapping_sub(cin) & mask;
            let cf = if cin != 0 { d <= s } else { d < s };
            let of = (!(s1 ^ s) & (s1 ^ d)) & sign != 0;
            (cf, of, (d ^ s1 ^ s) & 0x10 != 0)
        }
        cc::SUB | cc::SBB => {
            let s1 = d.wrapping_add(s).wrapping_add(cin) & mask;
            let cf = if cin != 0 { s1 <= s } else { s1 < s };
            let of = ((s1 ^ s) & (s1 ^ d)) & sign != 0;
            (cf, of, (d ^ s1 ^ s) & 0x10 != 0)
        }
        cc::LOGIC => (false, false, false),
        cc::INC => (
            src & 1 != 0,
            d == sign,
            (d ^ d.wrapping_sub(1) ^ 1) & 0x10 != 0,
        ),
        cc::DEC => (
            src & 1 != 0,
            d == sign - 1,
            (d ^ d.wrapping_add(1) ^ 1) & 0x10 != 0,
        ),
        cc::SHL => (s & sign != 0, (s ^ d) & sign != 0, false),
        cc::SAR => (s & 1 != 0, (s ^ d) & sign != 0, false),
        _ => (src != 0, src != 0, false), // MUL
    };
    let mut f = 0;
    if cf {
        f |= CF;
    }
    if parity(d) {
        f |= PF;
    }
    if af {
        f |= AF;
    }
    if d == 0 {
        f |= ZF;
    }
    if d & sign != 0 {
        f |= SF;
    }
    if of {
        f |= OF;
    }
    f
}

/// One x87 register in a soft-float-ready form: 64-bit significand (explicit integer bit)
/// and sign plus 15-bit exponent, as in the 80-bit extended format.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct X87Reg {
    /// The significand, with the explicit integer bit at bit 63.
    pub mantissa: u64,
    /// Bit 15: sign; bits 0..15: biased exponent.
    pub sign_exp: u16,
    /// Padding to 16 bytes.
    pub pad: [u16; 3],
}

/// The guest CPU state of one x86-64 vCPU, addressed by translated code through `env`.
///
/// Arithmetic flags are lazy: `cc_op` says what `cc_dst`, `cc_src` and `cc_src2` hold
/// (see [`cc`]); [`X86State::eflags`] materialises them.
#[repr(C, align(64))]
#[derive(Clone, Debug)]
pub struct X86State {
    /// rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15 (x86 encoding order).
    pub regs: [u64; 16],
    /// The instruction pointer (valid at every block exit).
    pub rip: u64,
    /// The lazy-flags operation (a [`cc`] value).
    pub cc_op: u64,
    /// Lazy flags: usually the result.
    pub cc_dst: u64,
    /// Lazy flags: usually the second operand.
    pub cc_src: u64,
    /// Lazy flags: the carry in of adc/sbb.
    pub cc_src2: u64,
    /// The direction flag as the string-op step sign: 1 (DF clear) or -1 (DF set).
    pub df: i64,
    /// RFLAGS bits other than the six arithmetic flags and DF (IF, AC, ID, TF, NT, bit 1).
    pub eflags_rest: u64,
    /// The fs segment base.
    pub fs_base: u64,
    /// The gs segment base.
    pub gs_base: u64,
    /// Nonzero asks the vCPU to leave translated code at the next block entry.
    pub exit_request: u32,
    /// The exception vector when a block exits with [`crate::exit::EXCEPTION`].
    pub exception: u32,
    /// The faulting address of a page fault (instruction fetch).
    pub exception_addr: u64,
    /// The exception's error code.
    pub exception_error: u32,
    /// SSE control and status.
    pub mxcsr: u32,
    /// Host address of guest address 0 (for helpers that touch guest memory).
    pub guest_base: u64,
    /// Guest addresses below this are accessible to helpers.
    pub guest_size: u64,
    /// Written by translated code, never read: a host float op whose result nothing reads is
    /// stored here, so that the op stays and raises its exceptions in the host's MXCSR (see
    /// `TranslateConfig::host_sse`). Also pads `xmm` to a 64-byte boundary.
    pub float_sink: [u64; 2],
    /// The sixteen xmm registers, low quadword first.
    pub xmm: [[u64; 2]; 16],
    /// Scratch register (index 16 for SSE helpers): holds a memory source operand.
    pub xmm_tmp: [u64; 2],
    /// x87 registers, physical order (ST(i) is `fpregs[(fpu_top + i) % 8]`).
    pub fpregs: [X87Reg; 8],
    /// x87 top-of-stack index.
    pub fpu_top: u32,
    /// x87 control word.
    pub fpu_cw: u16,
    /// x87 status word (without TOP, which is `fpu_top`).
    pub fpu_sw: u16,
    /// x87 tag word (abridged: bit i set = register i valid).
    pub fpu_tw: u16,
    /// Padding.
    pub pad1: [u16; 3],
}

/// Byte offsets of the fields translated code uses.
pub mod off {
    use super::*;
    /// `regs[0]`; register `i` is at `REGS + 8 * i`.
    pub const REGS: u32 = offset_of!(X86State, regs) as u32;
    /// `rip`.
    pub const RIP: u32 = offset_of!(X86State, rip) as u32;
    /// `cc_op`.
    pub const CC_OP: u32 = offset_of!(X86State, cc_op) as u32;
    /// `cc_dst`.
    pub const CC_DST: u32 = offset_of!(X86State, cc_dst) as u32;
    /// `cc_src`.
    pub const CC_SRC: u32 = offset_of!(X86State, cc_src) as u32;
    /// `cc_src2`.
    pub const CC_SRC2: u32 = offset_of!(X86State, cc_src2) as u32;
    /// `df`.
    pub const DF: u32 = offset_of!(X86State, df) as u32;
    /// `eflags_rest`.
    pub const EFLAGS_REST: u32 = offset_of!(X86State, eflags_rest) as u32;
    /// `fs_base`.
    pub const FS_BASE: u32 = offset_of!(X86State, fs_base) as u32;
    /// `gs_base`.
    pub const GS_BASE: u32 = offset_of!(X86State, gs_base) as u32;
    /// `exit_request` (4 bytes).
    pub const EXIT_REQUEST: u32 = offset_of!(X86State, exit_request) as u32;
    /// `exception` (4 bytes).
    pub const EXCEPTION: u32 = offset_of!(X86State, exception) as u32;
    /// `exception_addr`.
    pub const EXCEPTION_ADDR: u32 = offset_of!(X86State, exception_addr) as u32;
    /// `exception_error` (4 bytes).
    pub const EXCEPTION_ERROR: u32 = offset_of!(X86State, exception_error) as u32;
    /// `mxcsr` (4 bytes).
    pub const MXCSR: u32 = offset_of!(X86State, mxcsr) as u32;
    pub const FLOAT_SINK: u32 = offset_of!(X86State, float_sink) as u32;
    /// `xmm[0]`; register `i` is at `XMM + 16 * i`.
    pub const XMM: u32 = offset_of!(X86State, xmm) as u32;
    /// `xmm_tmp`, the SSE helpers' register 16.
    pub const XMM_TMP: u32 = offset_of!(X86State, xmm_tmp) as u32;
    /// `fpregs[0]`; physical x87 register `i` (and MMX register `mm<i>`, its significand)
    /// is at `FPREGS + 16 * i`, its sign and exponent 8 bytes further.
    pub const FPREGS: u32 = offset_of!(X86State, fpregs) as u32;
    /// `fpu_top` (4 bytes).
    pub const FPU_TOP: u32 = offset_of!(X86State, fpu_top) as u32;
    /// `fpu_sw` (2 bytes).
    pub const FPU_SW: u32 = offset_of!(X86State, fpu_sw) as u32;
    /// `fpu_tw` (2 bytes).
    pub const FPU_TW: u32 = offset_of!(X86State, fpu_tw) as u32;
}

impl Default for X86State {
    fn default() -> Self {
        Self::new()
    }
}

impl X86State {
    /// A reset state: all registers zero, flags clear (IF and bit 1 set), DF clear,
    /// MXCSR 0x1f80, x87 control word 0x37f.
    pub fn new() -> X86State {
        X86State {
            regs: [0; 16],
            rip: 0,
            cc_op: cc::EFLAGS,
            cc_dst: 0,
            cc_src: 0,
            cc_src2: 0,
            df: 1,
            eflags_rest: flags::FIXED_ONE,
            fs_base: 0,
            gs_base: 0,
            exit_request: 0,
            exception: 0,
            exception_addr: 0,
            exception_error: 0,
            mxcsr: 0x1f80,
            guest_base: 0,
            guest_size: 0,
            float_sink: [0; 2],
            xmm: [[0; 2]; 16],
            xmm_tmp: [0; 2],
            fpregs: [X87Reg::default(); 8],
            fpu_top: 0,
            fpu_cw: 0x37f,
            fpu_sw: 0,
            fpu_tw: 0,
            pad1: [0; 3],
        }
    }

    /// RFLAGS, materialised from the lazy state.
    pub fn eflags(&self) -> u64 {
        let arith = cc_compute_all(self.cc_op, self.cc_dst, self.cc_src, self.cc_src2);
        let df = if self.df < 0 { flags::DF } else { 0 };
        arith | df | (self.eflags_rest & !(flags::OSZAPC | flags::DF)) | flags::FIXED_ONE
    }

    /// Sets RFLAGS (the bits user mode can write; IF and bit 1 stay set).
    pub fn set_eflags(&mut self, v: u64) {
        self.cc_op = cc::EFLAGS;
        self.cc_src = v & flags::OSZAPC;
        self.cc_dst = 0;
        self.cc_src2 = 0;
        self.df = if v & flags::DF != 0 { -1 } else { 1 };
        self.eflags_rest =
            (v & flags::USER_WRITABLE & !(flags::OSZAPC | flags::DF)) | flags::FIXED_ONE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(off::RIP, 128);
        assert_eq!(off::XMM % 64, 0);
        assert_eq!(off::XMM_TMP, off::XMM + 256);
        // The documented layout (the vCPU and backends rely on it).
        let pinned = [
            (off::CC_OP, 136),
            (off::CC_DST, 144),
            (off::CC_SRC, 152),
            (off::CC_SRC2, 160),
            (off::DF, 168),
            (off::EFLAGS_REST, 176),
            (off::FS_BASE, 184),
            (off::GS_BASE, 192),
            (off::EXIT_REQUEST, 200),
            (off::EXCEPTION, 204),
            (off::EXCEPTION_ADDR, 208),
            (off::EXCEPTION_ERROR, 216),
            (off::MXCSR, 220),
            (offset_of!(X86State, guest_base) as u32, 224),
            (offset_of!(X86State, guest_size) as u32, 232),
            (off::XMM, 256),
            (off::FPREGS, 528),
            (off::FPU_TOP, 656),
            (offset_of!(X86State, fpu_cw) as u32, 660),
            (off::FPU_SW, 662),
            (off::FPU_TW, 664),
        ];
        for (got, want) in pinned {
            assert_eq!(got, want);
        }
        assert_eq!(std::mem::size_of::<X86State>(), 704);
        assert_eq!(std::mem::align_of::<X86State>(), 64);
    }

    #[test]
    fn eflags_round_trip_and_lazy_kinds() {
        let mut s = X86State::new();
        s.set_eflags(flags::CF | flags::ZF | flags::DF | flags::AC | flags::OF);
        assert_eq!(
            s.eflags(),
            flags::CF | flags::ZF | flags::DF | flags::AC | flags::OF | flags::FIXED_ONE
        );
        // cmp 1, 2 at 8 bits: 1 - 2 = 0xff, CF, SF, AF, PF set.
        let f = cc_compute_all(cc::op(cc::SUB, 1), 0xff, 2, 0);
        // A stale carry-in left in src2 by an earlier ADC/SBB must not leak into SUB/ADD:
        // 127 - (-1) overflows in 8 bits, 127 - 0 does not.
        for stale in [0, 1] {
            let of =
                |d: u64, s: u64| cc_compute_all(cc::op(cc::SUB, 1), d, s, stale) & flags::OF != 0;
            assert!(of(0x80, 0xff));
            assert!(!of(0x7f, 0x00));
            let add_of = cc_compute_all(cc::op(cc::ADD, 1), 0x80, 0x01, stale) & flags::OF != 0;
            assert!(add_of, "127 + 1 overflows in 8 bits");
        }
        assert_eq!(f, flags::CF | flags::SF | flags::AF | flags::PF);
        // add 0x7fffffff + 1 at 32 bits: OF, SF, AF, PF.
        let f = cc_compute_all(cc::op(cc::ADD, 4), 0x8000_0000, 1, 0);
        assert_eq!(f, flags::OF | flags::SF | flags::AF | flags::PF);
    }
}
