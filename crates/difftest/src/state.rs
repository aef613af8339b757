//! The machine state both runs start from and end in, in one host-neutral form: the GPRs,
//! RFLAGS and an `fxsave` image (x87, MXCSR, xmm), plus the fixed guest memory layout.

use tcg_frontend_x86::X86State;

/// Guest address of the test region; the native run maps it at the same host address, so
/// absolute and rip-relative operands mean the same bytes in both runs.
pub const G: u64 = 0x10_0000;
/// Size of the test region.
pub const SIZE: u64 = 0x1_0000;
/// Slot holding the code address the native entry stub jumps to.
pub const ENTRY_SLOT: u64 = G + 8;
/// Where sequences are placed (one page).
pub const CODE: u64 = G + 0x1000;
/// Bytes available for a sequence (its terminator included).
pub const CODE_MAX: usize = 0x1000;
/// The scratch buffer memory operands point into.
pub const DATA: u64 = G + 0x4000;
/// Size of the scratch buffer.
pub const DATA_SIZE: u64 = 0x2000;
/// Lowest address of the stack page(s).
pub const STACK_LO: u64 = G + 0x7000;
/// Initial stack pointer neighbourhood (the stack grows down from here).
pub const STACK_TOP: u64 = G + 0x9000;
/// The compared memory: scratch buffer and stack.
pub const COMPARED: std::ops::Range<u64> = DATA..STACK_TOP;

/// fxsave image offsets.
pub mod fx {
    /// x87 control word.
    pub const FCW: usize = 0;
    /// x87 status word (with TOP in bits 11..14).
    pub const FSW: usize = 2;
    /// Abridged tag word (bit i set = physical register i valid).
    pub const FTW: usize = 4;
    /// MXCSR.
    pub const MXCSR: usize = 24;
    /// MXCSR_MASK.
    pub const MXCSR_MASK: usize = 28;
    /// ST(0) (each 16 bytes: 8 significand, 2 sign+exponent).
    pub const ST: usize = 32;
    /// xmm0 (each 16 bytes).
    pub const XMM: usize = 160;
}

/// GPRs, RFLAGS and the fxsave image. The layout is what the native entry stub reads.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuState {
    /// The `fxsave` image (x87 state, MXCSR, xmm0..15).
    pub fx: [u8; 512],
    /// rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15.
    pub gpr: [u64; 16],
    /// RFLAGS.
    pub rflags: u64,
    /// Padding to a multiple of 64 bytes.
    pub pad: [u64; 7],
}

/// Offset of `gpr` (the entry stub addresses it).
pub const OFF_GPR: usize = 512;
/// Offset of `rflags`.
pub const OFF_RFLAGS: usize = 640;
const _: () = assert!(std::mem::offset_of!(CpuState, gpr) == OFF_GPR);
const _: () = assert!(std::mem::offset_of!(CpuState, rflags) == OFF_RFLAGS);

impl Default for CpuState {
    fn default() -> Self {
        let mut s = CpuState {
            fx: [0; 512],
            gpr: [0; 16],
            rflags: 0x202,
            pad: [0; 7],
        };
        s.set_u16(fx::FCW, 0x37f);
        s.set_u32(fx::MXCSR, 0x1f80);
        s.set_u32(fx::MXCSR_MASK, 0xffff);
        s
    }
}

impl CpuState {
    /// A little-endian u16 of the fxsave image.
    pub fn u16(&self, o: usize) -> u16 {
        u16::from_le_bytes([self.fx[o], self.fx[o + 1]])
    }
    /// A little-endian u32 of the fxsave image.
    pub fn u32(&self, o: usize) -> u32 {
        u32::from_le_bytes(self.fx[o..o + 4].try_into().unwrap())
    }
    /// A little-endian u64 of the fxsave image.
    pub fn u64(&self, o: usize) -> u64 {
        u64::from_le_bytes(self.fx[o..o + 8].try_into().unwrap())
    }
    /// Sets a u16 of the fxsave image.
    pub fn set_u16(&mut self, o: usize, v: u16) {
        self.fx[o..o + 2].copy_from_slice(&v.to_le_bytes());
    }
    /// Sets a u32 of the fxsave image.
    pub fn set_u32(&mut self, o: usize, v: u32) {
        self.fx[o..o + 4].copy_from_slice(&v.to_le_bytes());
    }
    /// Sets a u64 of the fxsave image.
    pub fn set_u64(&mut self, o: usize, v: u64) {
        self.fx[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }
    /// MXCSR.
    pub fn mxcsr(&self) -> u32 {
        self.u32(fx::MXCSR)
    }
    /// xmm register `i` as (low, high) quadwords.
    pub fn xmm(&self, i: usize) -> [u64; 2] {
        let o = fx::XMM + 16 * i;
        [self.u64(o), self.u64(o + 8)]
    }
    /// Sets xmm register `i`.
    pub fn set_xmm(&mut self, i: usize, v: [u64; 2]) {
        let o = fx::XMM + 16 * i;
        self.set_u64(o, v[0]);
        self.set_u64(o + 8, v[1]);
    }
    /// x87 TOP.
    pub fn top(&self) -> usize {
        usize::from(self.u16(fx::FSW) >> 11) & 7
    }
    /// ST(i) as (significand, sign and exponent).
    pub fn st(&self, i: usize) -> (u64, u16) {
        let o = fx::ST + 16 * i;
        (self.u64(o), self.u16(o + 8))
    }
    /// Sets ST(i).
    pub fn set_st(&mut self, i: usize, v: (u64, u16)) {
        let o = fx::ST + 16 * i;
        self.set_u64(o, v.0);
        self.set_u16(o + 8, v.1);
        self.set_u16(o + 10, 0);
        self.set_u32(o + 12, 0);
    }
    /// Whether ST(i) is tagged valid.
    pub fn st_valid(&self, i: usize) -> bool {
        let phys = (self.top() + i) & 7;
        self.fx[fx::FTW] & (1 << phys) != 0
    }

    /// Loads this state into an emulator CPU state (guest memory fields untouched).
    pub fn to_x86(&self, s: &mut X86State) {
        s.regs = self.gpr;
        s.set_eflags(self.rflags);
        for i in 0..16 {
            s.xmm[i] = self.xmm(i);
        }
        s.mxcsr = self.mxcsr();
        s.fpu_cw = self.u16(fx::FCW);
        let sw = self.u16(fx::FSW);
        s.fpu_top = u32::from(sw >> 11) & 7;
        s.fpu_sw = sw & !0x3800;
        s.fpu_tw = u16::from(self.fx[fx::FTW]);
        for i in 0..8 {
            let p = (s.fpu_top as usize + i) & 7;
            let (m, e) = self.st(i);
            s.fpregs[p].mantissa = m;
            s.fpregs[p].sign_exp = e;
        }
    }

    /// The state of an emulator CPU state in these terms.
    pub fn from_x86(s: &X86State) -> CpuState {
        let mut c = CpuState {
            gpr: s.regs,
            rflags: s.eflags(),
            ..CpuState::default()
        };
        for i in 0..16 {
            c.set_xmm(i, s.xmm[i]);
        }
        c.set_u32(fx::MXCSR, s.mxcsr);
        c.set_u16(fx::FCW, s.fpu_cw);
        let top = s.fpu_top & 7;
        c.set_u16(fx::FSW, (s.fpu_sw & !0x3800) | ((top as u16) << 11));
        c.fx[fx::FTW] = s.fpu_tw as u8;
        for i in 0..8 {
            let p = (top as usize + i) & 7;
            c.set_st(i, (s.fpregs[p].mantissa, s.fpregs[p].sign_exp));
        }
        c
    }
}

/// Names of the GPRs in encoding order.
pub const GPR_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
