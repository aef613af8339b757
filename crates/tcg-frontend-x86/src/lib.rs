//! The x86-64 guest frontend.
//!
//! Decodes guest code with iced-x86 and translates one block at a time (up to an
//! unconditional branch, a page end or an instruction limit; a small block goes on after
//! up to three conditional branches, which branch to a label when their target is further
//! on in the block and leave it otherwise) into `tcg` IR, computing condition flags lazily
//! (the operation and its operands are recorded; flags are materialised only when read,
//! inline for an operation known at translation, and not at all when the block overwrites
//! them before any read: see `liveness`). A block that jumps to its own start ends in
//! `GotoStart`, which the backend may turn into a loop inside the block.
//! It owns the guest ISA's semantics and the layout of the x86 CPU state as IR globals;
//! it knows nothing of the host, of Cranelift, or of how blocks are cached.
//!
//! Entry points: [`translate_block`], [`X86State`], the [`exit`] codes and [`vector`]s
//! a block reports, and [`describe_unimplemented`] for the SIGILL diagnostic.
//!
//! # Coverage
//! * All general-purpose integer instructions at every operand size (incl. high-byte
//!   registers, `lock`ed forms as IR atomics, string ops with `rep`/`repe`/`repne` as
//!   in-block loops, fs/gs overrides), control flow, `cpuid`, `rdtsc`, fences.
//! * SSE/SSE2: moves, bitwise ops, shuffles, `padd`/`psub` inline; add, sub, mul, div and
//!   sqrt (ss/sd/ps/pd) and `ucomis*`/`comis*` on the host's FP unit behind a guard that
//!   sends every case needing care (MXCSR modes and flags, NaNs, denormals, results near
//!   the range ends) to the helper (`sse_fast`); packed/scalar integer and floating-point
//!   ops, compares and conversions through one helper with x86 NaN rules, MXCSR.RC, DAZ and
//!   FTZ, and every MXCSR exception flag (IE, DE, ZE, OE, UE, PE) as the hardware raises
//!   them (masked responses only: an unmasked SIMD exception is not delivered).
//! * x87 with an 80-bit soft-float: loads/stores of every format, arithmetic, compares
//!   (incl. `fcomi`, `fcmov`), `fprem`/`fprem1`, `fscale`, `fxtract`, `fsqrt`, `frndint`,
//!   control/status/tag words, stack under/overflow, `fxsave`/`fxrstor`,
//!   `fnstenv`/`fldenv`, `fnsave`/`frstor`, BCD `fbld`/`fbstp`; the transcendentals (`fsin`, `fcos`, `fsincos`, `fptan`, `fpatan`,
//!   `fyl2x`, `fyl2xp1`, `f2xm1`) correctly rounded from 128-bit evaluations, with the
//!   hardware's 66-bit π for argument reduction (see `x87_trans` for how close to the
//!   hardware that is).
//! * SSE3, SSSE3, SSE4.1, SSE4.2 (incl. `crc32` and the string compares), AES-NI and
//!   PCLMULQDQ through a second helper (`sse_ext`); each raises #UD unless the
//!   [`CpuModel`] has its feature.
//! * MMX, and the mm-register forms of SSE, SSE2 and SSSE3, on the x87 registers'
//!   significands (`mmx`), through the same helpers at 64-bit width.
//! * `rcpps`/`rcpss`/`rsqrtps`/`rsqrtss`: their bits are model-specific; these are the
//!   values rounded to nearest, within the architectural bound (see
//!   `sse_impl::approx_recip`).
//!
//! Not implemented (raise #UD): 3DNow!, AVX and later, FMA, BMI (except `tzcnt`), 16-bit
//! `popf`/`leave`/`ret`, `enter` with a nesting level, string ops with 32-bit addressing.
//! Unmasked SIMD exceptions (#XM) are not delivered; unmasked x87 exceptions are, as #MF
//! at the next waiting x87 or MMX instruction (`fwait` included).
//!
//! # Precision of guest state after a memory fault
//! Blocks store `cc_op` only at exits, so after a guest memory fault (where the IR
//! guarantees only the faulting pc) the lazy-flags state may be stale; flags that a later
//! instruction of the block overwrites before reading may not have been computed at all.
//! Likewise an exit to code that overwrites every flag before reading one leaves the state's
//! flags as they were: a signal delivered between the two blocks sees flags nothing reads.

mod f80;
mod fx;
mod helpers;
mod host_fp;
mod host_simd;
mod insn;
mod liveness;
mod mmx;
mod sse;
mod sse_ext;
mod sse_ext_impl;
mod sse_fast;
mod sse_impl;
mod state;
mod translate;
mod x87;
mod x87_trans;

pub use helpers::cpuid;
pub use host_fp::{discard_host_fp_flags, fold_host_fp_flags};
pub use state::{cc, cc_compute_all, flags, off, X86State, X87Reg};
pub use translate::translate_block;

/// `ExitTb` codes: the contract between translated blocks and the vCPU loop.
pub mod exit {
    /// Look the next block up at the `rip` stored in the state (the backend also returns 0
    /// when an indirect-jump lookup misses, and single-step blocks exit with it).
    pub const LOOKUP: u32 = 0;
    /// `syscall`: `rip` already points after the instruction. The vCPU performs the system
    /// call with rax/rdi/rsi/rdx/r10/r8/r9 and writes rax, rcx = rip, r11 = rflags.
    pub const SYSCALL: u32 = 1;
    /// An exception: `state.exception` holds the [`crate::vector`], `exception_error` the
    /// error code, `exception_addr` the faulting address for #PF. `rip` is the faulting
    /// instruction, except for the traps #BP (`int3`) where it points after it, as the
    /// hardware reports. `hlt` and `int n` (n != 3) raise #GP, as in user mode.
    pub const EXCEPTION: u32 = 2;
    /// Reserved (never emitted): `hlt` is privileged in user mode and raises #GP instead.
    pub const RESERVED: u32 = 3;
    /// The exit request flag was set at block entry: nothing was executed, `rip` = block
    /// start.
    pub const EXIT_REQUEST: u32 = 4;
    /// A locked operation this host cannot do atomically in translated code (QEMU's
    /// `EXCP_ATOMIC`): a misaligned operand under [`crate::TranslateConfig::exclusive_split_atomics`],
    /// or `cmpxchg16b` under [`crate::TranslateConfig::exclusive_cmpxchg16b`]. Nothing of the
    /// instruction was executed; `rip` = the instruction. The vCPU runs it alone, with every
    /// other vCPU stopped (an exclusive section), from a translation without these exits.
    pub const ATOMIC: u32 = 5;
}

/// Exception vectors stored in `X86State::exception`.
pub mod vector {
    /// Divide error (SIGFPE).
    pub const DE: u32 = 0;
    /// Debug (SIGTRAP).
    pub const DB: u32 = 1;
    /// Breakpoint, `int3` (SIGTRAP; rip after the instruction).
    pub const BP: u32 = 3;
    /// Overflow (SIGSEGV in Linux 64-bit mode).
    pub const OF: u32 = 4;
    /// Invalid opcode (SIGILL), also every instruction this frontend does not implement.
    pub const UD: u32 = 6;
    /// General protection (SIGSEGV): `hlt`, `int n`, misaligned SSE operands.
    pub const GP: u32 = 13;
    /// Page fault on instruction fetch (SIGSEGV); `exception_addr` is the address.
    pub const PF: u32 = 14;
    /// x87 floating-point error (SIGFPE): a waiting x87 instruction found an unmasked
    /// exception pending in the status word.
    pub const MF: u32 = 16;
    /// SIMD floating-point exception (SIGFPE).
    pub const XM: u32 = 19;
}

/// The CPU the guest sees: every feature advertised by `cpuid` is implemented, and the
/// instructions of every feature it lacks raise #UD.
///
/// The baseline is x86-64 v1 (SSE2): FPU, TSC, CX8, CMOV, MMX, FXSR, SSE, SSE2, SYSCALL,
/// NX, LM, LAHF/SAHF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CpuModel {
    /// POPCNT.
    pub popcnt: bool,
    /// CMPXCHG16B.
    pub cx16: bool,
    /// BMI1 (TZCNT; without it `tzcnt` executes as `bsf`). Only `tzcnt` of BMI1 is
    /// implemented, so front ends should not advertise it to programs (see `emu -cpu`).
    pub bmi1: bool,
    /// LZCNT/ABM (without it `lzcnt` executes as `bsr`).
    pub lzcnt: bool,
    /// RDTSCP.
    pub rdtscp: bool,
    /// SSE3 (incl. `fisttp`).
    pub sse3: bool,
    /// SSSE3.
    pub ssse3: bool,
    /// SSE4.1.
    pub sse41: bool,
    /// SSE4.2 (incl. `crc32` and the string compares).
    pub sse42: bool,
    /// AES-NI.
    pub aes: bool,
    /// PCLMULQDQ.
    pub pclmul: bool,
}

impl CpuModel {
    /// Baseline x86-64 (v1: SSE2 only).
    pub const BASELINE: CpuModel = CpuModel {
        popcnt: false,
        cx16: false,
        bmi1: false,
        lzcnt: false,
        rdtscp: false,
        sse3: false,
        ssse3: false,
        sse41: false,
        sse42: false,
        aes: false,
        pclmul: false,
    };

    /// x86-64-v2: the baseline plus CMPXCHG16B, POPCNT, SSE3, SSSE3, SSE4.1, SSE4.2.
    pub const X86_64_V2: CpuModel = CpuModel {
        popcnt: true,
        cx16: true,
        sse3: true,
        ssse3: true,
        sse41: true,
        sse42: true,
        ..CpuModel::BASELINE
    };

    /// Everything this frontend implements beyond the baseline.
    pub const MAX: CpuModel = CpuModel {
        popcnt: true,
        cx16: true,
        bmi1: true,
        lzcnt: true,
        rdtscp: true,
        sse3: true,
        ssse3: true,
        sse41: true,
        sse42: true,
        aes: true,
        pclmul: true,
    };

    /// Packs the model into bits (for helpers and translation-block keys; fits in 31 bits).
    pub fn bits(&self) -> u64 {
        [
            self.popcnt,
            self.cx16,
            self.bmi1,
            self.lzcnt,
            self.rdtscp,
            self.sse3,
            self.ssse3,
            self.sse41,
            self.sse42,
            self.aes,
            self.pclmul,
        ]
        .iter()
        .enumerate()
        .fold(0, |acc, (i, &f)| acc | u64::from(f) << i)
    }

    /// Unpacks [`CpuModel::bits`].
    pub fn from_bits(b: u64) -> CpuModel {
        let f = |i: u32| b >> i & 1 != 0;
        CpuModel {
            popcnt: f(0),
            cx16: f(1),
            bmi1: f(2),
            lzcnt: f(3),
            rdtscp: f(4),
            sse3: f(5),
            ssse3: f(6),
            sse41: f(7),
            sse42: f(8),
            aes: f(9),
            pclmul: f(10),
        }
    }
}

/// How to translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranslateConfig {
    /// At most this many guest instructions per block (at least 1).
    pub max_insns: u32,
    /// The CPU model the guest sees.
    pub cpu: CpuModel,
    /// One instruction per block, and every exit returns to the dispatcher (`ExitTb 0`
    /// after storing rip) instead of chaining, so the vCPU loop regains control after each
    /// instruction.
    pub single_step: bool,
    /// Check the exit-request flag after every instruction and leave the block for the next
    /// one when it is set. For code on guest-writable pages: a store into the running block
    /// raises the flag (through the fault handler), and the rest of the block, translated
    /// from the old bytes, must not run.
    pub smc_checks: bool,
    /// A guess at the state's `cc_op` when the block starts (e.g. the one its runs in the
    /// interpreter saw): flags read before the block sets any are computed inline under the
    /// guess, after checking it (correct whatever the state holds). `None`: no guess.
    pub entry_cc: Option<u64>,
    /// Leave the block with [`exit::ATOMIC`] before a locked access (`lock`-prefixed
    /// read-modify-write, `xchg` with memory, `cmpxchg`, `cmpxchg8b`) whose operand is not
    /// naturally aligned, as x86 allows (split locks): for hosts whose atomic instructions
    /// need aligned operands, where emulating it with a lock would not be atomic with respect
    /// to the other vCPUs' plain or aligned atomic accesses to the same bytes.
    pub exclusive_split_atomics: bool,
    /// Leave the block with [`exit::ATOMIC`] at every `cmpxchg16b`: for hosts without a
    /// 16-byte compare-and-swap that is atomic with respect to every other access.
    pub exclusive_cmpxchg16b: bool,
    /// The IR's float operations run as the host's SSE instructions, so with MXCSR's
    /// control bits at their default they are x86's own, exceptions included (raised into
    /// the host's MXCSR, see [`fold_host_fp_flags`]): the SSE arithmetic fast paths check
    /// only MXCSR, not their operands and results. Only for code run on an x86-64 host
    /// (the default there).
    pub host_sse: bool,
    /// The backend runs the IR's lane ops (`BinOp::Lanes`, `Conv::ByteSignBits`) on the
    /// host's vector unit: SSE2's integer compares, adds, subtracts, byte minimum and
    /// maximum and `pmovmskb` become those ops instead of 64-bit SWAR sequences. On by
    /// default on x86-64 and aarch64 hosts; the vCPU turns it off when its backend says it
    /// has no lanes.
    pub lanes: bool,
    /// A branch back to an instruction of the block other than its first (a loop whose head
    /// is not where the block starts, or a loop with two heads) is a branch inside the
    /// block, with an exit-request check at that instruction, instead of an exit. Only for
    /// blocks compiled by a backend that loops inside blocks (see `GotoStart`): the
    /// interpreter tier must leave at every iteration, or a long loop would never be counted
    /// and compiled.
    pub inner_loops: bool,
}

impl Default for TranslateConfig {
    fn default() -> Self {
        TranslateConfig {
            max_insns: 512,
            cpu: CpuModel::BASELINE,
            single_step: false,
            smc_checks: false,
            entry_cc: None,
            exclusive_split_atomics: false,
            exclusive_cmpxchg16b: false,
            host_sse: cfg!(target_arch = "x86_64"),
            lanes: cfg!(any(target_arch = "x86_64", target_arch = "aarch64")),
            inner_loops: false,
        }
    }
}

/// The diagnostic for a guest killed by #UD at `pc`: the instruction bytes and, when the
/// decoder knows it, the mnemonic, e.g.
/// `unimplemented or invalid instruction at 0x401000: 0f 0b (ud2)`.
pub fn describe_unimplemented(pc: u64, bytes: &[u8]) -> String {
    use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
    let mut dec = Decoder::with_ip(64, bytes, pc, DecoderOptions::NONE);
    let ins = dec.decode();
    let n = if ins.is_invalid() {
        bytes.len().min(15)
    } else {
        ins.len()
    };
    let hex: Vec<String> = bytes[..n].iter().map(|b| format!("{b:02x}")).collect();
    let what = if ins.is_invalid() {
        "invalid".to_string()
    } else {
        let mut s = String::new();
        IntelFormatter::new().format(&ins, &mut s);
        s
    };
    format!(
        "unimplemented or invalid instruction at {pc:#x}: {} ({what})",
        hex.join(" ")
    )
}
