//! Safe wrappers around argument-less or value-only host calls.

use guest_memory::Errno;

/// Host `getpid()`.
pub fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// Host `getppid()`.
pub fn getppid() -> i32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() }
}

/// Host `gettid()` of the calling thread.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Host `getuid()`.
pub fn getuid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// Host `geteuid()`.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Host `getgid()`.
pub fn getgid() -> u32 {
    // SAFETY: getgid has no preconditions.
    unsafe { libc::getgid() }
}

/// Host `getegid()`.
pub fn getegid() -> u32 {
    // SAFETY: getegid has no preconditions.
    unsafe { libc::getegid() }
}

/// Fills `buf` from the host's random source (falls back to a weak time-based mix if
/// `getrandom` fails, which only happens on very old kernels).
pub fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the pointer and length describe the writable local slice `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    if done < buf.len() {
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            ^ u64::from(getpid().unsigned_abs());
        for b in &mut buf[done..] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

/// Turns a host return value into a syscall result: negative means "see errno".
pub fn cvt(r: i64) -> Result<u64, Errno> {
    if r < 0 {
        Err(Errno::last_host())
    } else {
        Ok(r as u64)
    }
}

/// The CPUs this process may run on (its affinity mask), at least 1; asked once. One
/// system call: `std::thread::available_parallelism` also reads cgroup files, a tenth of
/// the emulator's start-up, and a CPU quota does not change how many threads run at once.
pub fn cpu_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        // SAFETY: `set` is a plain bitmask that sched_getaffinity fills in; its size is
        // passed along, and CPU_COUNT only reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
                (libc::CPU_COUNT(&set) as usize).max(1)
            } else {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            }
        }
    })
}

/// Signal numbers whose inherited action this process can still see: the ones the host
/// lets a process set, less `SIGPIPE`, which Rust's runtime sets to ignored before `main`
/// (the emulator takes `EPIPE` from its writes; a fresh emulator learns the guest's from
/// `-inherit-signals`).
fn inheritable_signals() -> impl Iterator<Item = i32> {
    (1..=64).filter(|&s| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGPIPE, 32, 33].contains(&s))
}

/// The signal state this process was started with, which `execve` passes on: the ignored
/// signals and the blocked ones (bit `n-1` for signal `n`). Both become the guest's, and the
/// host's go back to the defaults (the emulator's own signal handling assumes them). Call
/// before any other thread starts.
pub fn take_inherited_signal_state() -> (u64, u64) {
    let mut ignored = 0u64;
    for signo in inheritable_signals() {
        let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: reads the action into our local; no action is installed.
        let ok = unsafe { libc::sigaction(signo, std::ptr::null(), old.as_mut_ptr()) } == 0;
        // SAFETY: zero-initialised, and filled in by the call when it succeeded.
        if ok && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN {
            ignored |= 1 << (signo - 1);
            // SAFETY: restores the default action of a signal the process ignored.
            unsafe { libc::signal(signo, libc::SIG_DFL) };
        }
    }
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    let mut none = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    let mut blocked = 0u64;
    // SAFETY: the sets are local; sigemptyset initialises `none`, and `old` is filled by
    // pthread_sigmask before it is read.
    unsafe {
        libc::sigemptyset(none.as_mut_ptr());
        if libc::pthread_sigmask(libc::SIG_SETMASK, none.as_ptr(), old.as_mut_ptr()) == 0 {
            for signo in 1..=64 {
                if libc::sigismember(old.as_ptr(), signo) == 1 {
                    blocked |= 1 << (signo - 1);
                }
            }
        }
    }
    (ignored, blocked)
}
