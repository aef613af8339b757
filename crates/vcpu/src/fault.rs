//! Host signals raised by guest behaviour: a guest access to unmapped or protected memory
//! faults in translated code (or in a helper touching guest memory), and the guest must die
//! of SIGSEGV after one line naming its rip and the address, as Linux would kill it. One
//! kind of fault is ours, not the guest's: a write to a page write-protected because code
//! was translated from it, which invalidates that code and is retried.

use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use guest_memory::GUARD_SIZE;

use crate::{Machine, VcpuEnv};

/// `si_code` of a fault on a mapped page whose protection forbids the access (Linux's
/// generic value; `libc` does not export it).
const SEGV_ACCERR: i32 = 2;

/// The machine the handler reports against (one per emulator process).
static MACHINE: AtomicPtr<Machine> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// The env of the vCPU running on this thread, for faults inside helpers.
    static CURRENT: Cell<*const VcpuEnv> = const { Cell::new(std::ptr::null()) };
}

/// Records the vCPU running on this thread (null when none).
pub(crate) fn set_current(env: *const VcpuEnv) {
    CURRENT.with(|c| c.set(env));
}

/// Installs the SIGSEGV/SIGBUS/SIGILL handlers that turn host faults caused by the guest into
/// guest deaths. The machine is kept alive for the rest of the process.
pub(crate) fn install(machine: &Arc<Machine>) {
    let leaked = Arc::into_raw(machine.clone()).cast_mut();
    MACHINE.store(leaked, Ordering::Release);
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL] {
        // SAFETY: a zeroed sigaction is a valid starting point; we set a handler with the
        // three-argument signature SA_SIGINFO requires.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fault as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Ends the process with `sig` as if it had been delivered with its default action, without
/// a core file (the emulator's core would be of no use for the guest).
pub fn die_with_signal(sig: i32) -> ! {
    // SAFETY: plain libc calls on our own process; async-signal-safe.
    unsafe {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        // A signal whose default action is to ignore or stop: exit like a killed process.
        libc::_exit(128 + sig)
    }
}

fn write_stderr(msg: &str) {
    // SAFETY: writing a valid buffer to fd 2; async-signal-safe.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let host_pc = host_pc(uctx);
    let env = CURRENT.with(|c| c.get());
    // The machine of the vCPU running on this thread; else the last one installed (a process
    // normally has one; tests have several).
    // SAFETY: a non-null `env` is this thread's live vCPU env, whose machine outlives it;
    // `MACHINE` holds a leaked Arc, never freed.
    let machine = unsafe {
        if env.is_null() {
            MACHINE.load(Ordering::Acquire).as_ref()
        } else {
            (*env).machine.as_ref()
        }
    };
    let Some(machine) = machine else {
        die_with_signal(sig);
    };
    let space = machine.space();
    let base = space.base() as usize;
    let in_guest = addr >= base && addr < base + (space.size() + GUARD_SIZE) as usize;
    // SAFETY: as above, a valid siginfo.
    let code = unsafe { (*info).si_code };
    if sig == libc::SIGSEGV && code == SEGV_ACCERR && in_guest {
        // A write to a page that holds translated code (self- or cross-modifying code): drop
        // the page's blocks, make it writable, and retry the store. The faulting thread is
        // running translated code or copying guest memory, holding no lock this takes.
        let gaddr = (addr - base) as u64;
        if gaddr < space.size() && space.unprotect_code(gaddr) {
            if !env.is_null() {
                // The running block may have been translated from the bytes just released:
                // blocks from writable pages check this flag after every instruction.
                // SAFETY: `env` is this thread's live vCPU env (set around `execute`); its
                // exit-request word is only accessed atomically.
                unsafe { &*crate::exit_request_word(env.cast_mut()) }.store(1, Ordering::SeqCst);
            }
            return;
        }
    }
    let in_code = machine.backend.code_cache().contains(host_pc);
    let helper_fault = in_guest && !env.is_null();
    if !in_code && !helper_fault {
        write_stderr(&format!(
            "emu: internal error: host signal {sig} at host pc {host_pc:#x} (address {addr:#x})\n"
        ));
        die_with_signal(sig);
    }
    // The guest's fault. Building the message allocates, which is not async-signal-safe; the
    // faulting thread was running translated code or a helper, not the allocator, and the
    // process ends right after.
    let at = if in_code {
        machine.tbs.find_by_host_pc(host_pc, &tb_cache::pin())
    } else {
        None
    };
    let rip = at.map(|at| at.pc);
    // In the interpreter `interp_pc` names the instruction; elsewhere the state's rip is the
    // best we know.
    let rip = rip.or_else(|| {
        // SAFETY: `env` is this thread's running vCPU (set around `execute`).
        (!env.is_null()).then(|| unsafe {
            match (*env).interp_pc {
                0 => (*env).state.rip,
                pc => pc,
            }
        })
    });
    let rip = rip.map_or("?".to_string(), |r| format!("{r:#x}"));
    // Translated code traps (SIGILL) on a misaligned operand and on an address beyond the
    // guest address space, before accessing it; any other access fault is a host fault.
    let what = if sig == libc::SIGILL && in_code && at.is_some_and(|at| at.alignment_trap) {
        "misaligned operand (general protection)".to_string()
    } else if sig == libc::SIGILL && in_code {
        "access to an address outside the guest address space".to_string()
    } else if in_guest {
        let gaddr = (addr - base) as u64;
        if gaddr >= space.size() {
            "access to an address outside the guest address space".to_string()
        } else {
            format!("invalid access to address {gaddr:#x}")
        }
    } else {
        format!("fault at host address {addr:#x}")
    };
    write_stderr(&format!("emu: guest SIGSEGV at rip={rip}: {what}\n"));
    die_with_signal(libc::SIGSEGV);
}

/// The host pc the signal interrupted.
fn host_pc(uctx: *mut libc::c_void) -> usize {
    let uc = uctx.cast::<libc::ucontext_t>();
    // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers; each arm reads the
    // pc field of that host's machine context.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        {
            (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize
        }
        #[cfg(target_arch = "aarch64")]
        {
            (*uc).uc_mcontext.pc as usize
        }
        #[cfg(target_arch = "riscv64")]
        {
            (*uc).uc_mcontext.__gregs[0] as usize
        }
        #[cfg(target_arch = "s390x")]
        {
            (*uc).uc_mcontext.psw.addr as usize
        }
        #[cfg(not(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "riscv64",
            target_arch = "s390x"
        )))]
        {
            let _ = uc;
            0
        }
    }
}
