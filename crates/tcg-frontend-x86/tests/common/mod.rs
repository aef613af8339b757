//! Test harness: runs x86-64 snippets through translate_block + the tcg interpreter and,
//! on x86-64 hosts, natively, so that the real CPU is the oracle.

#![allow(dead_code)]

use iced_x86::code_asm::CodeAssembler;
use iced_x86::IcedError;
use tcg::{interpret, GuestMemoryView, InterpExit};
use tcg_frontend_x86::{exit, translate_block, vector, TranslateConfig, X86State};

/// Guest address of the test region (also where it is mapped natively).
pub const G: u64 = 0x10_0000;
/// Size of the test region.
pub const SIZE: u64 = 0x10000;
/// Where snippets are placed.
pub const CODE: u64 = G + 0x1000;
/// A 4 KiB data area, random-filled.
pub const DATA: u64 = G + 0x4000;
/// The stack (grows down from here).
pub const STACK_TOP: u64 = G + 0x9000;
/// Slots used by the native trampoline.
const CTX_SLOT: u64 = G;
const ENTRY_SLOT: u64 = G + 8;
const STUB_SLOT: u64 = G + 16;
const SAVE_SLOT: u64 = G + 24;

/// Registers in and out of a snippet.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Regs {
    /// rax..r15.
    pub gpr: [u64; 16],
    /// RFLAGS.
    pub rflags: u64,
    host_rsp: u64,
    /// xmm0..xmm15 (low quadword first).
    pub xmm: [[u64; 2]; 16],
    /// MXCSR (0 means the default 0x1f80).
    pub mxcsr: u32,
    host_mxcsr: u32,
    pad: u64,
    /// The x87 state as an `fxsave` image (an FCW of 0 means the default 0x37f).
    pub fx: [[u8; 32]; 16],
}

/// x87 state in and out of a snippet, in `fxsave` terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct X87 {
    pub cw: u16,
    pub sw: u16,
    /// Abridged tag: bit i set = physical register i valid.
    pub tw: u8,
    /// ST(0)..ST(7) as (significand, sign+exponent).
    pub st: [(u64, u16); 8],
}

impl Regs {
    /// The x87 part of the fxsave image.
    pub fn x87(&self) -> X87 {
        let b = self.fx.as_flattened();
        let mut st = [(0, 0); 8];
        for (i, r) in st.iter_mut().enumerate() {
            let o = 32 + 16 * i;
            *r = (
                u64::from_le_bytes(b[o..o + 8].try_into().unwrap()),
                u16::from_le_bytes(b[o + 8..o + 10].try_into().unwrap()),
            );
        }
        X87 {
            cw: u16::from_le_bytes([b[0], b[1]]),
            sw: u16::from_le_bytes([b[2], b[3]]),
            tw: b[4],
            st,
        }
    }

    /// Sets the x87 part of the fxsave image.
    pub fn set_x87(&mut self, x: &X87) {
        let b = self.fx.as_flattened_mut();
        b[0..2].copy_from_slice(&x.cw.to_le_bytes());
        b[2..4].copy_from_slice(&x.sw.to_le_bytes());
        b[4] = x.tw;
        for (i, r) in x.st.iter().enumerate() {
            let o = 32 + 16 * i;
            b[o..o + 8].copy_from_slice(&r.0.to_le_bytes());
            b[o + 8..o + 10].copy_from_slice(&r.1.to_le_bytes());
        }
    }
}

/// The emulated x87 state in the same terms.
pub fn emu_x87(s: &X86State) -> X87 {
    let top = s.fpu_top & 7;
    let mut st = [(0, 0); 8];
    for (i, r) in st.iter_mut().enumerate() {
        let p = (top as usize + i) & 7;
        *r = (s.fpregs[p].mantissa, s.fpregs[p].sign_exp);
    }
    X87 {
        cw: s.fpu_cw,
        sw: (s.fpu_sw & !0x3800) | ((top as u16) << 11),
        tw: s.fpu_tw as u8,
        st,
    }
}

/// The emulated memory pages compared after a run: data and stack.
pub const COMPARED: [(u64, u64); 2] = [(DATA, 0x1000), (STACK_TOP - 0x1000, 0x1000)];

/// A snippet ready to run.
pub struct Snippet {
    /// Bytes run by the emulator: body then `hlt`.
    pub emu: Vec<u8>,
    /// Bytes run natively: body then a jump back to the trampoline.
    pub native: Vec<u8>,
    /// Guest address of the `hlt` that ends the emulated run.
    pub end: u64,
}

/// Assembles `body` at [`CODE`] twice, with both terminators.
pub fn assemble(body: &dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Snippet {
    let mut a = CodeAssembler::new(64).unwrap();
    body(&mut a).unwrap();
    a.hlt().unwrap();
    let emu = a.assemble(CODE).unwrap();
    let end = CODE + emu.len() as u64 - 1;
    let mut a = CodeAssembler::new(64).unwrap();
    body(&mut a).unwrap();
    a.jmp(iced_x86::code_asm::qword_ptr(STUB_SLOT)).unwrap();
    let native = a.assemble(CODE).unwrap();
    Snippet { emu, native, end }
}

/// How an emulated run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Reached the final `hlt`.
    Done,
    /// An exception exit other than the final `hlt`.
    Exception { vector: u32, rip: u64 },
    /// A guest memory fault.
    Fault { addr: u64, pc: u64 },
    /// A syscall exit.
    Syscall { rip: u64 },
    /// Too many blocks.
    Timeout,
}

/// The result of an emulated run.
pub struct EmuRun {
    pub state: X86State,
    pub mem: Vec<u8>,
    pub end: End,
    pub blocks: usize,
}

/// Runs `code` (placed at [`CODE`]) in the emulator from `init`, over memory `image`
/// (indexed by guest address, [`G`] + [`SIZE`] bytes).
pub fn run_emu(
    code: &[u8],
    end: u64,
    init: &Regs,
    image: &[u8],
    cfg: &TranslateConfig,
    setup: &dyn Fn(&mut X86State),
) -> EmuRun {
    let mut mem = image.to_vec();
    let c = (CODE) as usize;
    mem[c..c + code.len()].copy_from_slice(code);
    let mut s = X86State::new();
    s.regs = init.gpr;
    s.set_eflags(init.rflags);
    s.xmm = init.xmm;
    s.mxcsr = if init.mxcsr == 0 { 0x1f80 } else { init.mxcsr };
    let x = init.x87();
    s.fpu_cw = if x.cw == 0 { 0x37f } else { x.cw };
    s.fpu_top = u32::from(x.sw >> 11) & 7;
    s.fpu_sw = x.sw & !0x3800;
    s.fpu_tw = u16::from(x.tw);
    for i in 0..8 {
        let p = (s.fpu_top as usize + i) & 7;
        s.fpregs[p].mantissa = x.st[i].0;
        s.fpregs[p].sign_exp = x.st[i].1;
    }
    s.rip = CODE;
    s.guest_base = mem.as_mut_ptr() as u64;
    s.guest_size = mem.len() as u64;
    setup(&mut s);
    // The guest's exception flags accrue in the host's MXCSR from here on (with `host_sse`).
    tcg_frontend_x86::discard_host_fp_flags();
    let mut blocks = 0;
    let end_state = loop {
        if blocks > 100_000 {
            break End::Timeout;
        }
        blocks += 1;
        let snapshot = &mem[CODE as usize..(CODE + 0x2000) as usize];
        let mut fetch = |addr: u64, buf: &mut [u8]| -> usize {
            let lo = CODE;
            let hi = CODE + 0x2000;
            if addr < lo || addr >= hi {
                return 0;
            }
            let n = ((hi - addr) as usize).min(buf.len());
            let o = (addr - CODE) as usize;
            buf[..n].copy_from_slice(&snapshot[o..o + n]);
            n
        };
        let block = translate_block(s.rip, &mut fetch, cfg);
        tcg::verify(&block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        let view = GuestMemoryView {
            base: mem.as_mut_ptr(),
            size: mem.len() as u64,
        };
        // SAFETY: `s` is a valid X86State (every offset the frontend uses lies inside it),
        // `mem` backs every guest address below its length, and the frontend's helpers
        // match their declarations.
        let r = unsafe { interpret(&block, (&mut s as *mut X86State).cast(), view) };
        match r {
            InterpExit::GotoTb { .. } | InterpExit::LookupAndGotoPtr => {}
            InterpExit::ExitTb { code } if code == exit::LOOKUP => {}
            InterpExit::ExitTb { code } if code == exit::EXCEPTION => {
                if s.exception == vector::GP && s.rip == end {
                    break End::Done;
                }
                break End::Exception {
                    vector: s.exception,
                    rip: s.rip,
                };
            }
            InterpExit::ExitTb { code } if code == exit::SYSCALL => {
                break End::Syscall { rip: s.rip }
            }
            InterpExit::ExitTb { code } => panic!("unexpected exit code {code}"),
            InterpExit::Fault { addr, pc, .. } => break End::Fault { addr, pc },
        }
    };
    tcg_frontend_x86::fold_host_fp_flags(&mut s);
    EmuRun {
        state: s,
        mem,
        end: end_state,
        blocks,
    }
}

/// A fresh memory image: zero except for `data` at [`DATA`].
pub fn image(data: &[u8]) -> Vec<u8> {
    let mut m = vec![0u8; (G + SIZE) as usize];
    m[DATA as usize..DATA as usize + data.len()].copy_from_slice(data);
    m
}

#[cfg(target_arch = "x86_64")]
mod native {
    use super::*;
    use std::sync::{Mutex, OnceLock};

    std::arch::global_asm!(
        ".globl dbt_test_native_enter",
        "dbt_test_native_enter:",
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov [rdi + 136], rsp",
        "mov qword ptr [{ctx}], rdi",
        "stmxcsr [rdi + 404]",
        "fxrstor [rdi + 416]",
        "ldmxcsr [rdi + 400]",
        "movdqu xmm0, [rdi + 144]",
        "movdqu xmm1, [rdi + 160]",
        "movdqu xmm2, [rdi + 176]",
        "movdqu xmm3, [rdi + 192]",
        "movdqu xmm4, [rdi + 208]",
        "movdqu xmm5, [rdi + 224]",
        "movdqu xmm6, [rdi + 240]",
        "movdqu xmm7, [rdi + 256]",
        "movdqu xmm8, [rdi + 272]",
        "movdqu xmm9, [rdi + 288]",
        "movdqu xmm10, [rdi + 304]",
        "movdqu xmm11, [rdi + 320]",
        "movdqu xmm12, [rdi + 336]",
        "movdqu xmm13, [rdi + 352]",
        "movdqu xmm14, [rdi + 368]",
        "movdqu xmm15, [rdi + 384]",
        "push qword ptr [rdi + 128]",
        "popfq",
        "mov rax, [rdi]",
        "mov rcx, [rdi + 8]",
        "mov rdx, [rdi + 16]",
        "mov rbx, [rdi + 24]",
        "mov rsp, [rdi + 32]",
        "mov rbp, [rdi + 40]",
        "mov rsi, [rdi + 48]",
        "mov r8, [rdi + 64]",
        "mov r9, [rdi + 72]",
        "mov r10, [rdi + 80]",
        "mov r11, [rdi + 88]",
        "mov r12, [rdi + 96]",
        "mov r13, [rdi + 104]",
        "mov r14, [rdi + 112]",
        "mov r15, [rdi + 120]",
        "mov rdi, [rdi + 56]",
        "jmp qword ptr [{entry}]",
        ".globl dbt_test_native_return",
        "dbt_test_native_return:",
        "mov qword ptr [{save}], rax",
        "mov rax, qword ptr [{ctx}]",
        "mov [rax + 8], rcx",
        "mov [rax + 16], rdx",
        "mov [rax + 24], rbx",
        "mov [rax + 32], rsp",
        "mov [rax + 40], rbp",
        "mov [rax + 48], rsi",
        "mov [rax + 56], rdi",
        "mov [rax + 64], r8",
        "mov [rax + 72], r9",
        "mov [rax + 80], r10",
        "mov [rax + 88], r11",
        "mov [rax + 96], r12",
        "mov [rax + 104], r13",
        "mov [rax + 112], r14",
        "mov [rax + 120], r15",
        "mov rsp, [rax + 136]",
        "pushfq",
        "pop qword ptr [rax + 128]",
        "mov rcx, qword ptr [{save}]",
        "mov [rax], rcx",
        "movdqu [rax + 144], xmm0",
        "movdqu [rax + 160], xmm1",
        "movdqu [rax + 176], xmm2",
        "movdqu [rax + 192], xmm3",
        "movdqu [rax + 208], xmm4",
        "movdqu [rax + 224], xmm5",
        "movdqu [rax + 240], xmm6",
        "movdqu [rax + 256], xmm7",
        "movdqu [rax + 272], xmm8",
        "movdqu [rax + 288], xmm9",
        "movdqu [rax + 304], xmm10",
        "movdqu [rax + 320], xmm11",
        "movdqu [rax + 336], xmm12",
        "movdqu [rax + 352], xmm13",
        "movdqu [rax + 368], xmm14",
        "movdqu [rax + 384], xmm15",
        "stmxcsr [rax + 400]",
        "fxsave [rax + 416]",
        "fninit",
        "ldmxcsr [rax + 404]",
        "cld",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
        ctx = const CTX_SLOT,
        entry = const ENTRY_SLOT,
        save = const SAVE_SLOT,
    );

    extern "C" {
        fn dbt_test_native_enter(ctx: *mut Regs);
        fn dbt_test_native_return();
    }

    struct Region(*mut u8);
    // SAFETY: the region pointer is only used under `LOCK`.
    unsafe impl Send for Region {}
    // SAFETY: as above.
    unsafe impl Sync for Region {}

    static LOCK: Mutex<()> = Mutex::new(());
    static REGION: OnceLock<Region> = OnceLock::new();

    fn region() -> *mut u8 {
        REGION
            .get_or_init(|| {
                // SAFETY: a fresh anonymous mapping at a fixed address that must not
                // replace anything (MAP_FIXED_NOREPLACE).
                let p = unsafe {
                    libc::mmap(
                        G as *mut libc::c_void,
                        SIZE as usize,
                        libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                        -1,
                        0,
                    )
                };
                assert_eq!(p as u64, G, "cannot map the native test region at {G:#x}");
                Region(p.cast())
            })
            .0
    }

    /// Runs `code` natively from `init` over memory `image`; returns registers and the
    /// compared memory pages (the whole region copied back).
    pub fn run_native(code: &[u8], init: &Regs, image: &[u8]) -> (Regs, Vec<u8>) {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let base = region();
        let mut out = image.to_vec();
        // SAFETY: the region is SIZE bytes at G, owned by this harness, used under LOCK.
        let reg = unsafe { std::slice::from_raw_parts_mut(base, SIZE as usize) };
        reg.copy_from_slice(&image[G as usize..]);
        let c = (CODE - G) as usize;
        reg[c..c + code.len()].copy_from_slice(code);
        reg[8..16].copy_from_slice(&CODE.to_le_bytes());
        let stub = dbt_test_native_return as *const () as u64;
        reg[16..24].copy_from_slice(&stub.to_le_bytes());
        let mut ctx = *init;
        if ctx.mxcsr == 0 {
            ctx.mxcsr = 0x1f80;
        }
        let mut x = ctx.x87();
        if x.cw == 0 {
            x.cw = 0x37f;
            ctx.set_x87(&x);
        }
        // SAFETY: the trampoline saves the callee-saved registers and the host stack
        // pointer, runs the snippet (which must end by jumping to the return stub and
        // must only touch the test region), and restores everything, with DF clear.
        unsafe { dbt_test_native_enter(&mut ctx) };
        out[G as usize..].copy_from_slice(reg);
        (ctx, out)
    }
}

#[cfg(target_arch = "x86_64")]
pub use native::run_native;

/// x86 RFLAGS bits from iced's `RflagsBits`.
pub fn iced_flags_to_x86(f: u32) -> u64 {
    use iced_x86::RflagsBits as B;
    let mut r = 0;
    for (b, x) in [
        (B::OF, 1u64 << 11),
        (B::SF, 1 << 7),
        (B::ZF, 1 << 6),
        (B::AF, 1 << 4),
        (B::CF, 1),
        (B::PF, 1 << 2),
        (B::DF, 1 << 10),
    ] {
        if f & b != 0 {
            r |= x;
        }
    }
    r
}

/// Runs `body` emulated and natively from `init` with `data` at [`DATA`] and asserts that all
/// GPRs, the flags in `flag_mask` and the data and stack pages agree. Returns the emulated run.
#[cfg(target_arch = "x86_64")]
pub fn check_native(
    body: &dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>,
    init: &Regs,
    data: &[u8],
    cfg: &TranslateConfig,
    flag_mask: u64,
) -> EmuRun {
    let s = assemble(body);
    let img = image(data);
    let emu = run_emu(&s.emu, s.end, init, &img, cfg, &|_| {});
    assert_eq!(emu.end, End::Done, "emulation did not finish");
    let (nat, nmem) = run_native(&s.native, init, &img);
    for i in 0..16 {
        assert_eq!(
            emu.state.regs[i], nat.gpr[i],
            "register {i} differs (emu {:#x}, native {:#x})",
            emu.state.regs[i], nat.gpr[i]
        );
    }
    assert_eq!(
        emu.state.eflags() & flag_mask,
        nat.rflags & flag_mask,
        "flags differ: emu {:#x} native {:#x}",
        emu.state.eflags(),
        nat.rflags
    );
    for (base, len) in COMPARED {
        let r = base as usize..(base + len) as usize;
        if emu.mem[r.clone()] != nmem[r.clone()] {
            let first = r.clone().find(|&a| emu.mem[a] != nmem[a]).unwrap();
            panic!(
                "memory differs at {first:#x}: emu {:#x} native {:#x}",
                emu.mem[first], nmem[first]
            );
        }
    }
    emu
}

/// Registers with rsp at a usable stack and r15 pointing at [`DATA`].
pub fn base_regs() -> Regs {
    let mut r = Regs::default();
    r.gpr[4] = STACK_TOP - 0x800;
    r.gpr[15] = DATA;
    r.rflags = 0x202;
    r
}

const _: () = assert!(std::mem::offset_of!(Regs, xmm) == 144);
const _: () = assert!(std::mem::offset_of!(Regs, mxcsr) == 400);
const _: () = assert!(std::mem::offset_of!(Regs, fx) == 416);
