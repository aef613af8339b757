//! The sandbox: a forked worker process runs each sequence natively and through the
//! emulator's translation path (frontend `translate_block`, Cranelift `Compiler::compile`,
//! `Backend::execute`) and hands both results back through shared memory.
//!
//! Everything that can go wrong in a run stays in the worker: a native fault or hang, an
//! emulator crash, panic or endless loop. Guest faults are caught by signal handlers that
//! record the signal and the interrupted context and resume at a recovery stub (a
//! `setjmp`/`longjmp` done by editing the signal context); hangs end by a `SIGALRM` timer in
//! the worker, and the parent kills a worker that stops answering and starts another.
//!
//! Both runs end at the same terminator, a `hlt`: natively it raises #GP (SIGSEGV) at its
//! address, in the emulator a #GP exception exit there. Every native outcome therefore
//! arrives as a signal whose context holds the complete final state (GPRs, RFLAGS and the
//! `fxsave` image of x87, MXCSR and xmm).

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tcg_backend_cranelift::{Backend, BackendConfig, BlockExit, CompiledBlock, Compiler};
use tcg_frontend_x86::{exit, translate_block, vector, TranslateConfig, X86State};

use crate::state::{CpuState, CODE, CODE_MAX, ENTRY_SLOT, G, OFF_GPR, OFF_RFLAGS, SIZE};

/// How a run ended, in the native run's terms (the emulator's exits are mapped to the
/// signal Linux would deliver for them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Outcome {
    /// What kind of end.
    pub kind: EndKind,
    /// The signal (0 when none).
    pub sig: i32,
    /// The signal's `si_code` (native) or the exception vector (emulated).
    pub code: i32,
    /// The guest rip the signal reports (the faulting instruction, or after a trap).
    pub rip: u64,
    /// The faulting data address, when the signal has one.
    pub addr: u64,
    /// Whether the whole state at the end is architecturally defined and compared (false
    /// for guest memory faults, after which the emulator guarantees only the pc).
    pub precise: bool,
}

/// The kinds of [`Outcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum EndKind {
    /// Reached the terminating `hlt`.
    Done = 0,
    /// A signal before the terminator.
    Signal = 1,
    /// Ran out of time (or, emulated, of blocks).
    Timeout = 2,
    /// The emulator failed: a panic, a compile error, a host fault outside guest code, a
    /// syscall exit or an unknown exit code (`detail` says which).
    EmuError = 3,
    /// The worker died or stopped answering.
    WorkerLost = 4,
}

impl Outcome {
    fn new(kind: EndKind) -> Outcome {
        Outcome {
            kind,
            sig: 0,
            code: 0,
            rip: 0,
            addr: 0,
            precise: kind == EndKind::Done,
        }
    }
}

/// One run's result.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct RunOut {
    /// How it ended.
    pub outcome: Outcome,
    /// The final state (meaningful when `outcome.precise`).
    pub state: CpuState,
    /// The test region afterwards.
    pub mem: [u8; SIZE as usize],
    detail: [u8; 512],
    detail_len: u32,
}

impl RunOut {
    /// An empty result (for a run that never happened).
    pub fn lost() -> RunOut {
        RunOut {
            outcome: Outcome::new(EndKind::WorkerLost),
            state: CpuState::default(),
            mem: [0; SIZE as usize],
            detail: [0; 512],
            detail_len: 0,
        }
    }

    /// Extra text about the end (panic messages, emulator exits).
    pub fn detail(&self) -> String {
        String::from_utf8_lossy(&self.detail[..self.detail_len as usize]).into_owned()
    }
    fn set_detail(&mut self, s: &str) {
        let n = s.len().min(self.detail.len());
        self.detail[..n].copy_from_slice(&s.as_bytes()[..n]);
        self.detail_len = n as u32;
    }
}

/// One job: the region image (code included), the initial state and the terminator.
#[repr(C)]
pub struct Job {
    /// The initial state.
    pub init: CpuState,
    /// Guest address of the terminating `hlt`.
    pub end: u64,
    /// The translation configuration's CPU model bits.
    pub cpu_bits: u64,
    /// The whole test region as both runs start with it.
    pub image: [u8; SIZE as usize],
}

#[repr(C)]
struct Shared {
    job: Job,
    native: RunOut,
    emu: RunOut,
}

/// Both results of a job.
pub struct Results<'a> {
    /// The native run.
    pub native: &'a RunOut,
    /// The emulated run.
    pub emu: &'a RunOut,
}

// ---------------------------------------------------------------------------------------
// Signal handling and the guarded call.

const PHASE_IDLE: u32 = 0;
const PHASE_NATIVE: u32 = 1;
const PHASE_EMU: u32 = 2;

static PHASE: AtomicU32 = AtomicU32::new(PHASE_IDLE);
/// The host stack pointer `difftest_recover` restores (set by `difftest_guarded_call`).
static SAVED_RSP: AtomicU64 = AtomicU64::new(0);

/// What the signal handler saw.
struct SigRecord {
    sig: i32,
    code: i32,
    addr: u64,
    pc: u64,
    gregs: [i64; 23],
    fx: [u8; 512],
}

struct RecordCell(UnsafeCell<SigRecord>);
// SAFETY: the worker is single-threaded; the record is written by the signal handler while the
// main flow is stopped inside a guarded call, and read by the main flow after it returns.
unsafe impl Sync for RecordCell {}

static RECORD: RecordCell = RecordCell(UnsafeCell::new(SigRecord {
    sig: 0,
    code: 0,
    addr: 0,
    pc: 0,
    gregs: [0; 23],
    fx: [0; 512],
}));

std::arch::global_asm!(
    // difftest_guarded_call(f: extern "C" fn(*mut u8), arg: *mut u8) -> u64
    // Calls f(arg) and returns 0, or 1 when a signal handler resumed at difftest_recover.
    ".globl difftest_guarded_call",
    "difftest_guarded_call:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 8",
    "mov qword ptr [rip + {saved}], rsp",
    "mov rax, rdi",
    "mov rdi, rsi",
    "call rax",
    "xor eax, eax",
    "2:",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".globl difftest_recover",
    "difftest_recover:",
    "mov rsp, qword ptr [rip + {saved}]",
    "mov eax, 1",
    "jmp 2b",
    // difftest_enter_guest(ctx: *const CpuState): loads the state and jumps to the code.
    // Never returns: the sequence ends in a signal.
    ".globl difftest_enter_guest",
    "difftest_enter_guest:",
    "fxrstor [rdi]",
    "push qword ptr [rdi + {rflags}]",
    "popfq",
    "mov rax, [rdi + {gpr}]",
    "mov rcx, [rdi + {gpr} + 8]",
    "mov rdx, [rdi + {gpr} + 16]",
    "mov rbx, [rdi + {gpr} + 24]",
    "mov rsp, [rdi + {gpr} + 32]",
    "mov rbp, [rdi + {gpr} + 40]",
    "mov rsi, [rdi + {gpr} + 48]",
    "mov r8, [rdi + {gpr} + 64]",
    "mov r9, [rdi + {gpr} + 72]",
    "mov r10, [rdi + {gpr} + 80]",
    "mov r11, [rdi + {gpr} + 88]",
    "mov r12, [rdi + {gpr} + 96]",
    "mov r13, [rdi + {gpr} + 104]",
    "mov r14, [rdi + {gpr} + 112]",
    "mov r15, [rdi + {gpr} + 120]",
    "mov rdi, [rdi + {gpr} + 56]",
    "jmp qword ptr [{entry}]",
    saved = sym SAVED_RSP,
    gpr = const OFF_GPR,
    rflags = const OFF_RFLAGS,
    entry = const ENTRY_SLOT,
);

extern "C" {
    fn difftest_guarded_call(f: extern "C" fn(*mut u8), arg: *mut u8) -> u64;
    fn difftest_recover();
    fn difftest_enter_guest(ctx: *mut u8);
}

extern "C" fn enter_guest(ctx: *mut u8) {
    // SAFETY: called only through `difftest_guarded_call` with a `CpuState`; the stub never
    // returns, the run ends in a signal that resumes at `difftest_recover`.
    unsafe { difftest_enter_guest(ctx) }
}

fn write_stderr(msg: &str) {
    // SAFETY: writing a valid buffer to fd 2 (async-signal-safe).
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // The kernel keeps the guest's AC flag for the handler: with it, any misaligned access
    // here would raise SIGBUS (alignment checking is on in user mode). Clear it first.
    // SAFETY: only clears RFLAGS.AC; the stack is balanced.
    unsafe {
        std::arch::asm!(
            "pushfq",
            "and qword ptr [rsp], {m}",
            "popfq",
            m = const !0x4_0000i32,
        );
    }
    let uc = uctx.cast::<libc::ucontext_t>();
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers, with `fpregs`
    // pointing at the fxsave-format area of the signal frame.
    unsafe {
        let gregs = &mut (*uc).uc_mcontext.gregs;
        let pc = gregs[libc::REG_RIP as usize] as u64;
        let phase = PHASE.load(Ordering::Relaxed);
        let in_guest = (G..G + SIZE).contains(&pc);
        let ok = match phase {
            PHASE_NATIVE => in_guest,
            PHASE_EMU => true,
            _ => false,
        };
        if !ok {
            if sig == libc::SIGALRM {
                return; // a late timer outside a run
            }
            write_stderr(&format!(
                "difftest worker: signal {sig} outside a run (phase {phase}, pc {pc:#x})\n"
            ));
            libc::_exit(101);
        }
        let rec = &mut *RECORD.0.get();
        rec.sig = sig;
        rec.code = (*info).si_code;
        rec.addr = if matches!(sig, libc::SIGSEGV | libc::SIGBUS) {
            (*info).si_addr() as u64
        } else {
            0
        };
        rec.pc = pc;
        rec.gregs = *gregs;
        let fp = (*uc).uc_mcontext.fpregs;
        if !fp.is_null() {
            let bytes = std::slice::from_raw_parts_mut(fp.cast::<u8>(), 512);
            rec.fx.copy_from_slice(bytes);
            // Resume with a clean FPU: default control words, empty stack.
            bytes[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
            bytes[2..4].copy_from_slice(&0u16.to_le_bytes());
            bytes[4] = 0;
            bytes[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        }
        PHASE.store(PHASE_IDLE, Ordering::Relaxed);
        // Clear DF, TF and AC the guest may have set; resume at the recovery stub.
        gregs[libc::REG_EFL as usize] = 0x202;
        gregs[libc::REG_RIP as usize] = difftest_recover as *const () as i64;
    }
}

fn install_handlers() {
    // SAFETY: an alternate signal stack owned for the worker's life (leaked), so that
    // handlers never write on the guest's stack; plain sigaction setup.
    unsafe {
        let size = 1 << 18;
        let stack = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(stack, libc::MAP_FAILED);
        let ss = libc::stack_t {
            ss_sp: stack,
            ss_flags: 0,
            ss_size: size,
        };
        libc::sigaltstack(&ss, std::ptr::null_mut());
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGTRAP,
            libc::SIGALRM,
        ] {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn set_timer(usec: i64) {
    let t = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: usec / 1_000_000,
            tv_usec: usec % 1_000_000,
        },
    };
    // SAFETY: plain setitimer on our own process.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &t, std::ptr::null_mut()) };
}

/// Runs `f(arg)` with signals recorded; true if a signal ended it.
fn guarded(phase: u32, f: extern "C" fn(*mut u8), arg: *mut u8) -> bool {
    PHASE.store(phase, Ordering::Relaxed);
    // SAFETY: `difftest_guarded_call` saves the callee-saved registers and the stack pointer;
    // on a signal the handler resumes at `difftest_recover`, which returns from it with those
    // restored. Frames skipped that way (the native guest code, translated code, helpers and
    // `Backend::execute`) own nothing that needs dropping.
    let r = unsafe { difftest_guarded_call(f, arg) };
    PHASE.store(PHASE_IDLE, Ordering::Relaxed);
    r != 0
}

// ---------------------------------------------------------------------------------------
// The worker's two runners.

fn gpr_from_gregs(g: &[i64; 23]) -> [u64; 16] {
    use libc::*;
    let idx = [
        REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI, REG_R8, REG_R9,
        REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
    ];
    idx.map(|i| g[i as usize] as u64)
}

struct Native {
    region: &'static mut [u8],
}

impl Native {
    fn new() -> Native {
        // SAFETY: a fresh mapping at a fixed address that must not replace anything.
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
        if p as u64 != G {
            write_stderr(&format!(
                "difftest worker: cannot map the region at {G:#x}\n"
            ));
            // SAFETY: ending the worker.
            unsafe { libc::_exit(102) };
        }
        // SAFETY: the mapping above, owned by the worker for its life.
        let region = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), SIZE as usize) };
        Native { region }
    }

    fn run(&mut self, job: &Job, out: &mut RunOut) {
        self.region.copy_from_slice(&job.image);
        self.region[(ENTRY_SLOT - G) as usize..][..8].copy_from_slice(&CODE.to_le_bytes());
        let mut ctx = job.init;
        set_timer(200_000);
        let faulted = guarded(
            PHASE_NATIVE,
            enter_guest,
            (&mut ctx as *mut CpuState).cast(),
        );
        set_timer(0);
        assert!(faulted, "the native run always ends in a signal");
        // SAFETY: written by the handler, which has returned.
        let rec = unsafe { &*RECORD.0.get() };
        let mut st = CpuState {
            gpr: gpr_from_gregs(&rec.gregs),
            rflags: rec.gregs[libc::REG_EFL as usize] as u64,
            ..CpuState::default()
        };
        st.fx = rec.fx;
        out.state = st;
        out.mem.copy_from_slice(self.region);
        out.detail_len = 0;
        let mut o = Outcome::new(EndKind::Signal);
        o.sig = rec.sig;
        o.code = rec.code;
        o.rip = rec.pc;
        o.addr = rec.addr;
        o.precise = true;
        // The terminator's #GP (trap number 13), not a trap that lands on it (`int 4`).
        let trapno = rec.gregs[libc::REG_TRAPNO as usize];
        if rec.sig == libc::SIGSEGV && rec.pc == job.end && rec.code == 0x80 && trapno == 13 {
            o = Outcome::new(EndKind::Done);
        } else if rec.sig == libc::SIGALRM {
            o.kind = EndKind::Timeout;
            o.precise = false;
        } else if rec.sig == libc::SIGSEGV && rec.code != 0x80 {
            // A page fault: the emulator guarantees only the pc.
            o.precise = false;
        }
        out.outcome = o;
    }
}

extern "C" fn no_lookup(_env: *mut u8) -> usize {
    0
}

struct Emu {
    backend: Arc<Backend>,
    compiler: Compiler,
    mem: *mut u8,
    mem_size: u64,
}

const GUEST_SIZE: u64 = 1 << 21;
const GUARD: u64 = 1 << 16;

struct ExecArgs {
    backend: *const Backend,
    env: *mut u8,
    code: *const u8,
    exit: Option<BlockExit>,
}

extern "C" fn exec_block(arg: *mut u8) {
    // SAFETY: `arg` is the `ExecArgs` `Emu::run` passes, whose pointers are valid for the
    // call; `execute`'s contract is upheld there.
    unsafe {
        let a = &mut *arg.cast::<ExecArgs>();
        a.exit = Some((*a.backend).execute(a.env, a.code));
    }
}

struct Tb {
    cb: CompiledBlock,
    _slots: Box<[AtomicUsize; tcg::JUMP_SLOTS]>,
}

impl Emu {
    fn new() -> Emu {
        let total = (GUEST_SIZE + GUARD) as usize;
        // SAFETY: a fresh private mapping; the guard after the guest space is made
        // inaccessible so that clamped addresses fault.
        let mem = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::mprotect(
                p.cast::<u8>().add(GUEST_SIZE as usize).cast(),
                GUARD as usize,
                libc::PROT_NONE,
            );
            // Only the test region is accessible, as in the native run.
            libc::mprotect(p, G as usize, libc::PROT_NONE);
            libc::mprotect(
                p.cast::<u8>().add((G + SIZE) as usize).cast(),
                (GUEST_SIZE - G - SIZE) as usize,
                libc::PROT_NONE,
            );
            p.cast::<u8>()
        };
        let mut cfg = BackendConfig::new(mem as u64, GUEST_SIZE, no_lookup as *const () as usize);
        cfg.cache_capacity = 64 << 20;
        let backend = Backend::new(cfg).expect("cranelift backend for the host");
        Emu {
            backend,
            compiler: Compiler::new(),
            mem,
            mem_size: GUEST_SIZE,
        }
    }

    fn guest(&mut self) -> &mut [u8] {
        // SAFETY: the first GUEST_SIZE bytes of the mapping are readable and writable; no
        // translated code runs while the slice is used.
        unsafe { std::slice::from_raw_parts_mut(self.mem, self.mem_size as usize) }
    }

    #[allow(clippy::map_entry)] // the entry is filled after fallible steps that break out
    fn run(&mut self, job: &Job, out: &mut RunOut) -> bool {
        let mut healthy = true;
        let g = G as usize;
        self.guest()[g..g + SIZE as usize].copy_from_slice(&job.image);
        let code_snapshot: Vec<u8> =
            job.image[(CODE - G) as usize..(CODE - G) as usize + CODE_MAX].to_vec();
        let mut s = Box::new(X86State::new());
        job.init.to_x86(&mut s);
        s.rip = CODE;
        s.guest_base = self.mem as u64;
        s.guest_size = self.mem_size;
        let cfg = TranslateConfig {
            cpu: tcg_frontend_x86::CpuModel::from_bits(job.cpu_bits),
            ..TranslateConfig::default()
        };
        let mut tbs: HashMap<u64, Tb> = HashMap::new();
        out.detail_len = 0;
        // The guest's exception flags accrue in the host's MXCSR from here on.
        tcg_frontend_x86::discard_host_fp_flags();
        let mut outcome = Outcome::new(EndKind::Timeout);
        set_timer(2_000_000);
        for _ in 0..10_000 {
            let pc = s.rip;
            if !tbs.contains_key(&pc) {
                let mut fetch = |addr: u64, buf: &mut [u8]| -> usize {
                    if addr < CODE || addr >= CODE + CODE_MAX as u64 {
                        return 0;
                    }
                    let o = (addr - CODE) as usize;
                    let n = (CODE_MAX - o).min(buf.len());
                    buf[..n].copy_from_slice(&code_snapshot[o..o + n]);
                    n
                };
                let block = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    translate_block(pc, &mut fetch, &cfg)
                })) {
                    Ok(b) => b,
                    Err(e) => {
                        outcome = Outcome::new(EndKind::EmuError);
                        out.set_detail(&format!("translate_block panicked: {}", panic_text(&e)));
                        break;
                    }
                };
                let unlinked = self.backend.unlinked_stub_addr() as usize;
                let slots: Box<[AtomicUsize; tcg::JUMP_SLOTS]> =
                    Box::new(std::array::from_fn(|_| AtomicUsize::new(unlinked)));
                let ptrs = slots.each_ref().map(|s| s as *const AtomicUsize);
                let cb = match self.compiler.compile(&self.backend, &block, 0x1000, ptrs) {
                    Ok(cb) => cb,
                    Err(e) => {
                        outcome = Outcome::new(EndKind::EmuError);
                        out.set_detail(&format!("compile failed: {e}\n{block}"));
                        break;
                    }
                };
                tbs.insert(pc, Tb { cb, _slots: slots });
            }
            let code = tbs[&pc].cb.code;
            let mut args = ExecArgs {
                backend: Arc::as_ptr(&self.backend),
                env: (&mut *s as *mut X86State).cast(),
                code,
                exit: None,
            };
            let faulted = guarded(PHASE_EMU, exec_block, (&mut args as *mut ExecArgs).cast());
            if faulted {
                // SAFETY: written by the handler, which has returned.
                let rec = unsafe { &*RECORD.0.get() };
                outcome = self.classify_fault(rec, &tbs, out);
                healthy = outcome.kind != EndKind::EmuError && outcome.kind != EndKind::Timeout;
                break;
            }
            match args.exit.expect("set by exec_block") {
                BlockExit::Unchained { .. } | BlockExit::Exit(exit::LOOKUP) => continue,
                BlockExit::Exit(exit::EXCEPTION) => {
                    outcome = exception_outcome(&s, job.end);
                    break;
                }
                BlockExit::Exit(c) => {
                    outcome = Outcome::new(EndKind::EmuError);
                    out.set_detail(&format!("unexpected block exit {c} at rip {:#x}", s.rip));
                    break;
                }
            }
        }
        set_timer(0);
        tcg_frontend_x86::fold_host_fp_flags(&mut s);
        out.outcome = outcome;
        out.state = CpuState::from_x86(&s);
        out.mem.copy_from_slice(&self.guest()[g..g + SIZE as usize]);
        if self.backend.code_cache().used() > self.backend.code_cache().capacity() / 2 {
            drop(tbs);
            // SAFETY: no translated code runs and every block and jump slot of this job is
            // dropped; nothing refers into the cache any more.
            unsafe { self.backend.code_cache().flush() };
        }
        healthy
    }

    fn classify_fault(&self, rec: &SigRecord, tbs: &HashMap<u64, Tb>, out: &mut RunOut) -> Outcome {
        let mut o = Outcome::new(EndKind::Signal);
        if rec.sig == libc::SIGALRM {
            return Outcome::new(EndKind::Timeout);
        }
        let guest_pc = tbs.values().find_map(|tb| tb.cb.guest_pc(rec.pc as usize));
        let in_guest_mem =
            rec.addr >= self.mem as u64 && rec.addr < self.mem as u64 + GUEST_SIZE + GUARD;
        match guest_pc {
            Some(pc) => {
                o.rip = pc;
                let aligned_trap = rec.sig == libc::SIGILL
                    && tbs
                        .values()
                        .any(|tb| tb.cb.is_alignment_trap(rec.pc as usize));
                let bounds_trap = rec.sig == libc::SIGILL
                    && tbs.values().any(|tb| tb.cb.is_bounds_trap(rec.pc as usize));
                if aligned_trap {
                    // A misaligned operand: #GP, reported by Linux as SIGSEGV (SI_KERNEL).
                    o.sig = libc::SIGSEGV;
                    o.code = 0x80;
                } else if bounds_trap {
                    // An address past the guest's memory (which the backend checks before
                    // the access): reported as a fault at the memory's end, as an access
                    // that runs into the guard region is.
                    o.sig = libc::SIGSEGV;
                    o.code = 1;
                    o.addr = GUEST_SIZE;
                } else if matches!(rec.sig, libc::SIGSEGV | libc::SIGBUS) && in_guest_mem {
                    o.sig = libc::SIGSEGV;
                    o.code = 1;
                    o.addr = rec.addr - self.mem as u64;
                } else {
                    o = Outcome::new(EndKind::EmuError);
                    out.set_detail(&format!(
                        "host signal {} (code {}) in translated code of guest pc {pc:#x}",
                        rec.sig, rec.code
                    ));
                }
            }
            None if in_guest_mem && matches!(rec.sig, libc::SIGSEGV | libc::SIGBUS) => {
                // A helper touching guest memory.
                o.sig = libc::SIGSEGV;
                o.code = 1;
                o.addr = rec.addr - self.mem as u64;
                o.rip = u64::MAX;
            }
            None => {
                o = Outcome::new(EndKind::EmuError);
                out.set_detail(&format!(
                    "host signal {} (code {}) at host pc {:#x} outside translated code",
                    rec.sig, rec.code, rec.pc
                ));
            }
        }
        o.precise = false;
        o
    }
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "?".into()
    }
}

/// The signal Linux delivers for an emulated exception exit.
fn exception_outcome(s: &X86State, end: u64) -> Outcome {
    if s.exception == vector::GP && s.rip == end {
        return Outcome::new(EndKind::Done);
    }
    let (sig, code) = match s.exception {
        vector::DE => (libc::SIGFPE, 1),
        vector::UD => (libc::SIGILL, 2),
        vector::BP => (libc::SIGTRAP, 0x80),
        vector::DB => (libc::SIGTRAP, libc::TRAP_TRACE),
        vector::GP | vector::OF => (libc::SIGSEGV, 0x80),
        vector::PF => (libc::SIGSEGV, 1),
        vector::XM | vector::MF => (libc::SIGFPE, 0),
        _ => (0, 0),
    };
    Outcome {
        kind: EndKind::Signal,
        sig,
        code,
        rip: s.rip,
        addr: s.exception_addr,
        precise: s.exception != vector::PF,
    }
}

fn worker_main(shared: *mut Shared, rd: i32, wr: i32) -> ! {
    install_handlers();
    let mut native = Native::new();
    let mut emu = Emu::new();
    loop {
        let mut b = 0u8;
        // SAFETY: reading one byte from our pipe.
        let n = unsafe { libc::read(rd, (&mut b as *mut u8).cast(), 1) };
        if n != 1 {
            // SAFETY: the parent is gone: end the worker.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: the parent wrote the job before the byte and waits for our answer; the
        // shared mapping is valid for the worker's life.
        let sh = unsafe { &mut *shared };
        native.run(&sh.job, &mut sh.native);
        let healthy = emu.run(&sh.job, &mut sh.emu);
        // SAFETY: writing one byte to our pipe.
        unsafe { libc::write(wr, (&b as *const u8).cast(), 1) };
        if !healthy {
            // The emulator was interrupted outside translated code: start afresh.
            // SAFETY: ending the worker.
            unsafe { libc::_exit(0) };
        }
    }
}

/// A worker process and the shared memory it answers in.
pub struct Worker {
    pid: libc::pid_t,
    to_child: i32,
    from_child: i32,
    shared: *mut Shared,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("pid", &self.pid).finish()
    }
}

impl Worker {
    /// Forks a worker.
    pub fn spawn() -> std::io::Result<Worker> {
        let size = std::mem::size_of::<Shared>();
        // SAFETY: a fresh shared anonymous mapping (inherited by the child).
        let shared = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if shared == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let mut p1 = [0i32; 2];
        let mut p2 = [0i32; 2];
        // SAFETY: creating pipes and forking. The child only uses its own copies of memory
        // and the shared mapping, and never returns into the parent's code.
        unsafe {
            if libc::pipe2(p1.as_mut_ptr(), libc::O_CLOEXEC) != 0
                || libc::pipe2(p2.as_mut_ptr(), libc::O_CLOEXEC) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            let pid = libc::fork();
            if pid < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if pid == 0 {
                libc::close(p1[1]);
                libc::close(p2[0]);
                // Die with the parent.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                worker_main(shared.cast(), p1[0], p2[1]);
            }
            libc::close(p1[0]);
            libc::close(p2[1]);
            Ok(Worker {
                pid,
                to_child: p1[1],
                from_child: p2[0],
                shared: shared.cast(),
            })
        }
    }

    /// The job area to fill before [`Worker::run`].
    pub fn job(&mut self) -> &mut Job {
        // SAFETY: the worker reads the job only between our byte and its answer.
        unsafe { &mut (*self.shared).job }
    }

    /// Runs the job; `None` if the worker died or hung (it is replaced).
    pub fn run(&mut self) -> Option<Results<'_>> {
        let b = 1u8;
        // SAFETY: writing one byte to our pipe.
        let w = unsafe { libc::write(self.to_child, (&b as *const u8).cast(), 1) };
        let mut ok = w == 1;
        if ok {
            let mut pfd = libc::pollfd {
                fd: self.from_child,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: polling and reading our pipe.
            ok = unsafe {
                let n = libc::poll(&mut pfd, 1, 20_000);
                let mut r = 0u8;
                n == 1 && libc::read(self.from_child, (&mut r as *mut u8).cast(), 1) == 1
            };
        }
        if !ok {
            self.restart();
            return None;
        }
        // SAFETY: the worker wrote the results before its byte and now waits for a job.
        let sh = unsafe { &*self.shared };
        Some(Results {
            native: &sh.native,
            emu: &sh.emu,
        })
    }

    /// Kills (if still running) and reaps the child, and releases the pipes and mapping.
    fn shut_down(&mut self) {
        if self.pid == 0 {
            return;
        }
        // SAFETY: ending and reaping our own child by its pid (not yet reaped, so the pid is
        // still ours); closing our pipe ends; unmapping our mapping once the child is gone.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            libc::close(self.to_child);
            libc::close(self.from_child);
            libc::munmap(self.shared.cast(), std::mem::size_of::<Shared>());
        }
        self.pid = 0;
    }

    fn restart(&mut self) {
        self.shut_down();
        *self = Worker::spawn().expect("cannot fork a new worker");
    }

    /// Replaces a worker that ended after its last answer (it does so after an emulator
    /// crash, to start afresh).
    pub fn ensure_alive(&mut self) {
        let mut info: libc::siginfo_t = unsafe_zeroed();
        // SAFETY: a non-blocking check on our own, not yet reaped, child with a valid siginfo
        // buffer; WNOWAIT leaves the child for `shut_down` to reap.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid for a waitid result (0 when no child changed state).
        if r == 0 && unsafe { info.si_pid() } == self.pid {
            self.restart();
        }
    }
}

fn unsafe_zeroed() -> libc::siginfo_t {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shut_down();
    }
}
