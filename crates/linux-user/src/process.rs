//! The guest process: its configuration, per-thread syscall state, and the syscall
//! dispatcher.

use crate::exec::ExecRequest;
use crate::nr;
use crate::strace;
use guest_memory::{Access, Errno, GuestSpace, NoFork};
use parking_lot::{Mutex, MutexGuard};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

/// Result of one emulated syscall before encoding: a value or a guest errno.
pub(crate) type SysResult = Result<u64, Errno>;

/// Longest path accepted from the guest, including the NUL (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Settings of one emulated process.
#[derive(Clone, Debug)]
pub struct ProcessConfig {
    /// Sysroot prefix for absolute guest paths (`-L`): `prefix + path` is tried first,
    /// then `path` itself.
    pub sysroot: Option<PathBuf>,
    /// Print every syscall to stderr (`-strace`).
    pub strace: bool,
    /// Number of CPUs the guest sees (`sched_getaffinity`, `getcpu`, `/proc/cpuinfo`,
    /// `/sys/devices/system/cpu/{online,possible,present}`).
    pub cpu_count: usize,
    /// `/proc/cpuinfo` fields of every guest CPU: the `vendor_id` (CPUID's vendor string).
    pub cpu_vendor: String,
    /// `/proc/cpuinfo` fields of every guest CPU: the `model name`.
    pub cpu_model_name: String,
    /// `/proc/cpuinfo` fields of every guest CPU: the space-separated `flags`.
    pub cpu_flags: String,
    /// Host path of the first guest program (the answer to `/proc/self/exe` until an
    /// `execve` in place).
    pub exe_path: PathBuf,
    /// The first guest program's arguments (`/proc/self/cmdline`).
    pub argv: Vec<Vec<u8>>,
    /// Signals the guest starts with ignored (bit `n-1` for signal `n`), as its `execve`
    /// caller left them.
    pub ignored_signals: u64,
    /// Options passed to the emulator when a guest `execve` re-executes it (e.g. `-L`,
    /// `-strace`, `-cpu`); the new command line is
    /// `EMU [emu_args_for_exec] -0 ARGV0 PROGRAM ARGS...`.
    pub emu_args_for_exec: Vec<OsString>,
    /// The emulator binary to re-execute on `execve` (default: the current executable).
    pub emu_exe: Option<PathBuf>,
}

impl ProcessConfig {
    /// A configuration for running `exe_path` with defaults: no sysroot, no strace, the
    /// host's available parallelism as CPU count, no extra exec options.
    pub fn new(exe_path: impl Into<PathBuf>) -> ProcessConfig {
        ProcessConfig {
            sysroot: None,
            strace: false,
            cpu_count: crate::host::cpu_count(),
            cpu_vendor: "AuthenticAMD".to_string(),
            cpu_model_name: "emu x86-64 CPU".to_string(),
            cpu_flags: "fpu tsc cx8 cmov pse36 clflush mmx fxsr sse sse2 syscall lm".to_string(),
            exe_path: exe_path.into(),
            argv: Vec::new(),
            ignored_signals: 0,
            emu_args_for_exec: Vec::new(),
            emu_exe: None,
        }
    }
}

/// A guest signal action as set by `rt_sigaction` (x86-64 kernel layout:
/// handler@0 flags@8 restorer@16 mask@24).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct GuestSigaction {
    /// Handler address, or `SIG_DFL` (0) / `SIG_IGN` (1).
    pub handler: u64,
    /// `SA_*` flags.
    pub flags: u64,
    /// `sa_restorer` (used with `SA_RESTORER`).
    pub restorer: u64,
    /// Signals blocked while the handler runs (bit `n-1` for signal `n`).
    pub mask: u64,
}

/// An alternate signal stack as set by `sigaltstack`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct AltStack {
    /// Base address.
    pub sp: u64,
    /// `SS_*` flags (`SS_DISABLE` = 2 when none is set).
    pub flags: u32,
    /// Size in bytes.
    pub size: u64,
}

/// Per-thread state the syscalls read and write.
#[derive(Clone, Debug)]
pub struct ThreadCtx {
    /// Thread id (the host thread's id).
    pub tid: i32,
    /// `fs` segment base (TLS), set by `arch_prctl(ARCH_SET_FS)` and `clone`.
    pub fs_base: u64,
    /// `gs` segment base.
    pub gs_base: u64,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID` address: zeroed and woken at exit.
    pub clear_child_tid: u64,
    /// Blocked signals (bit `n-1` for signal `n`).
    pub signal_mask: u64,
    /// Signals sent to this thread with a guest handler installed, waiting for delivery
    /// by the vCPU layer (not implemented yet).
    pub pending_signals: u64,
    /// Alternate signal stack.
    pub altstack: AltStack,
    /// `set_robust_list` head.
    pub robust_list_head: u64,
    /// `set_robust_list` length.
    pub robust_list_len: u64,
    /// `PR_SET_NAME` name (NUL-padded).
    pub name: [u8; 16],
}

impl ThreadCtx {
    /// State for a thread whose host thread id is `tid`.
    pub fn new(tid: i32) -> ThreadCtx {
        ThreadCtx {
            tid,
            fs_base: 0,
            gs_base: 0,
            clear_child_tid: 0,
            signal_mask: 0,
            pending_signals: 0,
            altstack: AltStack {
                flags: 2,
                ..AltStack::default()
            },
            robust_list_head: 0,
            robust_list_len: 0,
            name: [0; 16],
        }
    }

    /// State for the calling host thread.
    pub fn current() -> ThreadCtx {
        ThreadCtx::new(crate::host::gettid())
    }
}

/// The arguments of a `clone` that creates a thread in the same address space.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CloneRequest {
    /// `CLONE_*` flags.
    pub flags: u64,
    /// Initial stack pointer of the new thread (0: same as the parent's).
    pub stack: u64,
    /// `CLONE_PARENT_SETTID` address.
    pub parent_tid: u64,
    /// `CLONE_CHILD_SETTID` / `CLONE_CHILD_CLEARTID` address.
    pub child_tid: u64,
    /// `CLONE_SETTLS` value (the new `fs` base).
    pub tls: u64,
}

/// What the vCPU loop must do after a syscall.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SyscallOutcome {
    /// Put this value in `rax` (negative errno encoded as `-errno as u64`) and continue.
    Return(u64),
    /// This thread exits with the given status.
    Exit(i32),
    /// The whole process exits with the given status.
    ExitGroup(i32),
    /// The guest sent itself a signal whose default action is fatal: terminate the
    /// emulator with this host signal (reset its disposition to default, then raise).
    KillSelf(i32),
    /// In the child of a fork-like `clone`/`fork`/`vfork`: set `rax` to 0 and, if given,
    /// `rsp` to the new stack pointer, then continue.
    ChildReturn {
        /// New stack pointer requested by `clone`.
        new_sp: Option<u64>,
    },
    /// `clone(CLONE_VM | CLONE_THREAD)`: the vCPU layer must start a new thread and set the
    /// parent's `rax` to the new thread id.
    NewThread(CloneRequest),
    /// `execve`: the checks passed; the vCPU layer replaces the program, with
    /// [`Process::exec_in_place`] or [`Process::exec_fresh`].
    Exec(Box<ExecRequest>),
    /// In the parent of a `vfork`: the child runs; the caller must call
    /// [`SyscallOutcome::finish_vfork`], which waits until the child execs or exits and gives
    /// `Return(child)`. Separate so that the vCPU layer can let its other threads run
    /// meanwhile, as Linux suspends only the calling thread.
    VforkParent {
        /// The child's pid.
        child: u32,
        /// Read end of a close-on-exec pipe whose write end only the child holds (owned by
        /// this outcome until `finish_vfork`).
        exec_wait: i32,
    },
}

impl SyscallOutcome {
    /// For [`SyscallOutcome::VforkParent`]: waits until the child has exec'd or exited and
    /// returns `Return(child)`; any other outcome is returned as it is.
    pub fn finish_vfork(self) -> SyscallOutcome {
        let SyscallOutcome::VforkParent { child, exec_wait } = self else {
            return self;
        };
        // SAFETY: `exec_wait` is the read end of our pipe, owned by this outcome; we read
        // into a local byte until EOF (the child's exec or exit closed the write end) or an
        // error, then close it.
        unsafe {
            let mut b = 0u8;
            loop {
                let n = libc::read(exec_wait, (&mut b as *mut u8).cast(), 1);
                if n == 0 || n < 0 && Errno::last_host() != Errno::EINTR {
                    break;
                }
            }
            libc::close(exec_wait);
        }
        SyscallOutcome::Return(u64::from(child))
    }

    pub(crate) fn from_result(r: SysResult) -> SyscallOutcome {
        SyscallOutcome::Return(match r {
            Ok(v) => v,
            Err(e) => e.to_syscall_ret(),
        })
    }
}

/// A lock of the process's shared state held inside the fork gate ([`Process::lock`]); the
/// lock is released before the gate.
pub(crate) struct Locked<'a, T> {
    guard: MutexGuard<'a, T>,
    _section: NoFork<'a>,
}

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// One emulated guest process, shared by all its vCPU threads.
#[derive(Debug)]
pub struct Process {
    pub(crate) space: Arc<GuestSpace>,
    pub(crate) config: ProcessConfig,
    pub(crate) sigactions: Mutex<[GuestSigaction; 64]>,
    /// Host path of the running guest program (`/proc/self/exe`).
    pub(crate) exe_path: Mutex<PathBuf>,
    /// The running guest program's arguments (`/proc/self/cmdline`).
    pub(crate) argv: Mutex<Vec<Vec<u8>>>,
}

impl Process {
    /// A process running in `space` with `config`.
    pub fn new(space: Arc<GuestSpace>, config: ProcessConfig) -> Process {
        let mut sigactions = [GuestSigaction::default(); 64];
        for (i, action) in sigactions.iter_mut().enumerate() {
            if config.ignored_signals & 1 << i != 0 {
                action.handler = crate::abi::sig::SIG_IGN;
            }
        }
        Process {
            space,
            exe_path: Mutex::new(config.exe_path.clone()),
            argv: Mutex::new(config.argv.clone()),
            config,
            sigactions: Mutex::new(sigactions),
        }
    }

    /// Locks `m`, one of this process's shared tables, inside the fork gate
    /// ([`GuestSpace::hold_off_fork`]): a fork that split the critical section would leave
    /// the child's copy locked for ever.
    pub(crate) fn lock<'a, T>(&'a self, m: &'a Mutex<T>) -> Locked<'a, T> {
        let section = self.space.hold_off_fork();
        Locked {
            guard: m.lock(),
            _section: section,
        }
    }

    /// The guest address space.
    pub fn space(&self) -> &Arc<GuestSpace> {
        &self.space
    }

    /// The configuration.
    pub fn config(&self) -> &ProcessConfig {
        &self.config
    }

    /// The action currently installed for signal `sig` (1..=64).
    pub fn sigaction(&self, sig: i32) -> Option<GuestSigaction> {
        let i = usize::try_from(sig).ok()?.checked_sub(1)?;
        self.lock(&self.sigactions).get(i).copied()
    }

    /// Emulates x86-64 syscall `nr` with arguments `args` (rdi, rsi, rdx, r10, r8, r9) for
    /// the thread `thread`.
    pub fn syscall(&self, thread: &mut ThreadCtx, nr: u64, args: [u64; 6]) -> SyscallOutcome {
        if self.config.strace {
            strace::enter(self, nr, &args);
        }
        let out = self
            .dispatch(thread, nr, args)
            .unwrap_or(SyscallOutcome::Return(Errno::ENOSYS.to_syscall_ret()));
        if self.config.strace {
            strace::exit(self, nr, &out);
        }
        out
    }

    /// Routes a syscall to its implementation; `None` for unknown numbers.
    fn dispatch(&self, t: &mut ThreadCtx, n: u64, a: [u64; 6]) -> Option<SyscallOutcome> {
        use SyscallOutcome as O;
        let r: SysResult = match n {
            nr::EXIT => return Some(self.sys_exit(t, a[0] as i32)),
            nr::EXIT_GROUP => return Some(O::ExitGroup(a[0] as i32)),
            nr::KILL | nr::TKILL | nr::TGKILL => return Some(self.sys_kill(t, n, a)),
            nr::CLONE => return Some(self.sys_clone(t, a[0], a[1], a[2], a[3], a[4])),
            nr::FORK | nr::VFORK => {
                let flags = if n == nr::VFORK { 0x4000 | 17 } else { 17 };
                return Some(self.sys_clone(t, flags, 0, 0, 0, 0));
            }
            nr::EXECVE | nr::EXECVEAT => {
                let r = if n == nr::EXECVE {
                    self.sys_execve(a[0], a[1], a[2])
                } else {
                    self.sys_execveat(a[0] as i32, a[1], a[2], a[3], a[4] as i32)
                };
                return Some(r.unwrap_or_else(|e| O::from_result(Err(e))));
            }

            // Files.
            nr::READ => self.sys_read(a),
            nr::WRITE => self.sys_write(a),
            nr::READV => self.sys_rwv(a, false, None),
            nr::WRITEV => self.sys_rwv(a, true, None),
            nr::PREADV => self.sys_rwv(a, false, Some(a[3] as i64)),
            nr::PWRITEV => self.sys_rwv(a, true, Some(a[3] as i64)),
            nr::PREAD64 => self.sys_pread(a),
            nr::PWRITE64 => self.sys_pwrite(a),
            nr::LSEEK => self.sys_lseek(a),
            nr::OPEN => self.sys_openat(crate::abi::AT_FDCWD, a[0], a[1] as u32, a[2] as u32),
            nr::CREAT => self.sys_openat(crate::abi::AT_FDCWD, a[0], 0o1101, a[1] as u32),
            nr::OPENAT => self.sys_openat(a[0] as i32, a[1], a[2] as u32, a[3] as u32),
            nr::CLOSE => self.sys_close(a),
            nr::FSTAT => self.sys_fstat(a),
            nr::STAT => self.sys_fstatat(crate::abi::AT_FDCWD, a[0], a[1], 0),
            nr::LSTAT => self.sys_fstatat(
                crate::abi::AT_FDCWD,
                a[0],
                a[1],
                crate::abi::AT_SYMLINK_NOFOLLOW,
            ),
            nr::NEWFSTATAT => self.sys_fstatat(a[0] as i32, a[1], a[2], a[3] as i32),
            nr::STATX => self.sys_statx(a),
            nr::GETDENTS64 => self.sys_getdents64(a),
            nr::FCNTL => self.sys_fcntl(a),
            nr::IOCTL => self.sys_ioctl(a),
            nr::DUP => self.sys_dup(a),
            nr::DUP2 => self.sys_dup2(a),
            nr::DUP3 => self.sys_dup3(a),
            nr::PIPE => self.sys_pipe2(a[0], 0),
            nr::PIPE2 => self.sys_pipe2(a[0], a[1] as u32),
            nr::ACCESS => self.sys_faccessat(crate::abi::AT_FDCWD, a[0], a[1] as i32, 0),
            nr::FACCESSAT => self.sys_faccessat(a[0] as i32, a[1], a[2] as i32, 0),
            nr::FACCESSAT2 => self.sys_faccessat(a[0] as i32, a[1], a[2] as i32, a[3] as i32),
            nr::READLINK => self.sys_readlinkat(crate::abi::AT_FDCWD, a[0], a[1], a[2]),
            nr::READLINKAT => self.sys_readlinkat(a[0] as i32, a[1], a[2], a[3]),
            nr::GETCWD => self.sys_getcwd(a),
            nr::CHDIR => self.sys_chdir(a),
            nr::FCHDIR => self.sys_fchdir(a),
            nr::UNLINK => self.sys_unlinkat(crate::abi::AT_FDCWD, a[0], 0),
            nr::UNLINKAT => self.sys_unlinkat(a[0] as i32, a[1], a[2] as i32),
            nr::RMDIR => self.sys_unlinkat(crate::abi::AT_FDCWD, a[0], crate::abi::AT_REMOVEDIR),
            nr::RENAME => {
                let cwd = crate::abi::AT_FDCWD as u64;
                self.sys_renameat2(cwd, a[0], cwd, a[1], 0)
            }
            nr::RENAMEAT => self.sys_renameat2(a[0], a[1], a[2], a[3], 0),
            nr::RENAMEAT2 => self.sys_renameat2(a[0], a[1], a[2], a[3], a[4]),
            nr::MKDIR => self.sys_mkdirat(crate::abi::AT_FDCWD, a[0], a[1]),
            nr::MKDIRAT => self.sys_mkdirat(a[0] as i32, a[1], a[2]),
            nr::MKNOD => self.sys_mknodat(crate::abi::AT_FDCWD, a[0], a[1], a[2]),
            nr::MKNODAT => self.sys_mknodat(a[0] as i32, a[1], a[2], a[3]),
            nr::SYMLINK => self.sys_symlinkat(a[0], crate::abi::AT_FDCWD, a[1]),
            nr::SYMLINKAT => self.sys_symlinkat(a[0], a[1] as i32, a[2]),
            nr::LINK => {
                let cwd = crate::abi::AT_FDCWD;
                self.sys_linkat(cwd, a[0], cwd, a[1], 0)
            }
            nr::LINKAT => self.sys_linkat(a[0] as i32, a[1], a[2] as i32, a[3], a[4] as i32),
            nr::CHMOD => self.sys_fchmodat(crate::abi::AT_FDCWD, a[0], a[1]),
            nr::FCHMOD => self.sys_fchmod(a),
            nr::FCHMODAT => self.sys_fchmodat(a[0] as i32, a[1], a[2]),
            nr::CHOWN => self.sys_fchownat(crate::abi::AT_FDCWD, a[0], a[1], a[2], 0),
            nr::LCHOWN => self.sys_fchownat(
                crate::abi::AT_FDCWD,
                a[0],
                a[1],
                a[2],
                crate::abi::AT_SYMLINK_NOFOLLOW,
            ),
            nr::FCHOWN => self.sys_fchown(a),
            nr::FCHOWNAT => self.sys_fchownat(a[0] as i32, a[1], a[2], a[3], a[4] as i32),
            nr::UTIMENSAT => self.sys_utimensat(a),
            nr::TRUNCATE => self.sys_truncate(a),
            nr::FTRUNCATE => self.sys_ftruncate(a),
            nr::FSYNC => self.sys_fsync(a, false),
            nr::FDATASYNC => self.sys_fsync(a, true),
            nr::SYNC => self.sys_sync(),
            nr::SENDFILE => self.sys_sendfile(a),
            nr::POLL => self.sys_poll(a),
            nr::PPOLL => self.sys_ppoll(a),
            nr::SELECT => self.sys_select(a),
            nr::PSELECT6 => self.sys_pselect6(a),
            nr::UMASK => self.sys_umask(a),
            nr::STATFS => self.sys_statfs(a),
            nr::FSTATFS => self.sys_fstatfs(a),
            nr::FLOCK => self.sys_flock(a),
            nr::FADVISE64 => self.sys_fadvise(a),
            nr::MEMFD_CREATE => self.sys_memfd_create(a),
            nr::SETXATTR
            | nr::LSETXATTR
            | nr::FSETXATTR
            | nr::GETXATTR
            | nr::LGETXATTR
            | nr::FGETXATTR
            | nr::LISTXATTR
            | nr::LLISTXATTR
            | nr::FLISTXATTR
            | nr::REMOVEXATTR
            | nr::LREMOVEXATTR
            | nr::FREMOVEXATTR => Err(Errno::EOPNOTSUPP),

            // Memory.
            nr::MMAP => self.sys_mmap(a),
            nr::MUNMAP => self.space.munmap(a[0], a[1]).map(|_| 0),
            nr::MPROTECT => self.space.mprotect(a[0], a[1], a[2] as u32).map(|_| 0),
            nr::BRK => Ok(self.space.brk(a[0])),
            nr::MREMAP => self.space.mremap(a[0], a[1], a[2], a[3] as u32, a[4]),
            nr::MADVISE => self.space.madvise(a[0], a[1], a[2] as i32).map(|_| 0),
            nr::MSYNC => self.space.msync(a[0], a[1], a[2] as i32).map(|_| 0),
            nr::MINCORE => Err(Errno::ENOSYS),

            // Process, identity, time, signals.
            nr::GETPID => Ok(crate::host::getpid() as u64),
            nr::GETPPID => Ok(crate::host::getppid() as u64),
            nr::GETTID => Ok(t.tid as u64),
            nr::GETUID => Ok(crate::host::getuid() as u64),
            nr::GETEUID => Ok(crate::host::geteuid() as u64),
            nr::GETGID => Ok(crate::host::getgid() as u64),
            nr::GETEGID => Ok(crate::host::getegid() as u64),
            nr::GETGROUPS => self.sys_getgroups(a),
            nr::SETGROUPS => self.sys_setgroups(a),
            nr::SETUID
            | nr::SETGID
            | nr::SETREUID
            | nr::SETREGID
            | nr::SETRESUID
            | nr::SETRESGID
            | nr::SETFSUID
            | nr::SETFSGID => self.sys_setid(n, a),
            nr::GETRESUID | nr::GETRESGID => self.sys_getresid(n, a),
            nr::GETPGID => self.sys_getpgid(a),
            nr::SETPGID => self.sys_setpgid(a),
            nr::GETSID => self.sys_getsid(a),
            nr::SETSID => self.sys_setsid(),
            nr::GETPGRP => self.sys_getpgid([0; 6]),
            nr::UNAME => self.sys_uname(a),
            nr::PRLIMIT64 => self.sys_prlimit(a[0] as i32, a[1] as u32, a[2], a[3]),
            nr::GETRLIMIT => self.sys_prlimit(0, a[0] as u32, 0, a[1]),
            nr::SETRLIMIT => self.sys_prlimit(0, a[0] as u32, a[1], 0),
            nr::GETRUSAGE => self.sys_getrusage(a),
            nr::TIMES => self.sys_times(a),
            nr::GETRANDOM => self.sys_getrandom(a),
            nr::CLOCK_GETTIME => self.sys_clock_gettime(a, false),
            nr::CLOCK_GETRES => self.sys_clock_gettime(a, true),
            nr::GETTIMEOFDAY => self.sys_gettimeofday(a),
            nr::TIME => self.sys_time(a),
            nr::NANOSLEEP => self.sys_nanosleep(a),
            nr::CLOCK_NANOSLEEP => self.sys_clock_nanosleep(a),
            nr::SET_TID_ADDRESS => {
                t.clear_child_tid = a[0];
                Ok(t.tid as u64)
            }
            nr::ARCH_PRCTL => self.sys_arch_prctl(t, a),
            nr::RT_SIGACTION => self.sys_rt_sigaction(t, a),
            nr::RT_SIGPROCMASK => self.sys_rt_sigprocmask(t, a),
            nr::RT_SIGPENDING => self.sys_rt_sigpending(t, a),
            nr::SIGALTSTACK => self.sys_sigaltstack(t, a),
            nr::SCHED_GETAFFINITY => self.sys_sched_getaffinity(a),
            nr::SCHED_SETAFFINITY => self.sys_sched_setaffinity(a),
            nr::SCHED_YIELD => self.sys_sched_yield(),
            nr::SYSINFO => self.sys_sysinfo(a),
            nr::PRCTL => self.sys_prctl(t, a),
            nr::WAIT4 => self.sys_wait4(a),
            nr::WAITID => self.sys_waitid(a),
            nr::SET_ROBUST_LIST => {
                if a[1] != 24 {
                    Err(Errno::EINVAL)
                } else {
                    t.robust_list_head = a[0];
                    t.robust_list_len = a[1];
                    Ok(0)
                }
            }
            nr::GET_ROBUST_LIST => self.sys_get_robust_list(t, a),
            nr::CLONE3 => return Some(self.sys_clone3(t, a[0], a[1])),
            // Restartable sequences are refused; libc then runs without them.
            nr::RSEQ => Err(Errno::ENOSYS),
            nr::FUTEX => self.sys_futex(a),
            nr::GETCPU => self.sys_getcpu(a),
            nr::SOCKET
            | nr::CONNECT
            | nr::ACCEPT
            | nr::ACCEPT4
            | nr::SENDTO
            | nr::RECVFROM
            | nr::SENDMSG
            | nr::RECVMSG
            | nr::SHUTDOWN
            | nr::BIND
            | nr::LISTEN
            | nr::GETSOCKNAME
            | nr::GETPEERNAME
            | nr::SOCKETPAIR
            | nr::SETSOCKOPT
            | nr::GETSOCKOPT => Err(Errno::ENOSYS),
            _ => return None,
        };
        Some(SyscallOutcome::from_result(r))
    }

    // ----- helpers shared by the syscall implementations -----

    /// Checked host pointer to a guest buffer (`EFAULT` otherwise).
    pub(crate) fn ptr(&self, addr: u64, len: u64, access: Access) -> Result<*mut u8, Errno> {
        self.space
            .host_ptr(addr, len, access)
            .map_err(|_| Errno::EFAULT)
    }

    /// Like [`Self::ptr`], but a guest NULL gives a host NULL.
    pub(crate) fn ptr_or_null(
        &self,
        addr: u64,
        len: u64,
        access: Access,
    ) -> Result<*mut u8, Errno> {
        if addr == 0 {
            Ok(std::ptr::null_mut())
        } else {
            self.ptr(addr, len, access)
        }
    }

    /// Copies `len` guest bytes at `addr`.
    pub(crate) fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut v = vec![0; len];
        self.space.read(addr, &mut v).map_err(|_| Errno::EFAULT)?;
        Ok(v)
    }

    /// Copies `data` to guest memory at `addr`.
    pub(crate) fn write_bytes(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        self.space.write(addr, data).map_err(|_| Errno::EFAULT)
    }

    /// Reads a guest `u64`.
    pub(crate) fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        self.space.read_u64(addr).map_err(|_| Errno::EFAULT)
    }

    /// Reads a guest path string (`ENAMETOOLONG` beyond `PATH_MAX`).
    pub(crate) fn guest_str(&self, addr: u64) -> Result<Vec<u8>, Errno> {
        self.space.read_cstr(addr, PATH_MAX - 1)
    }

    /// Whether `path` names `/proc/self/<what>` (or `/proc/<our pid>/<what>`).
    pub(crate) fn is_proc_self(&self, path: &[u8], what: &str) -> bool {
        let pid = format!("/proc/{}/{what}", crate::host::getpid());
        path == format!("/proc/self/{what}").as_bytes() || path == pid.as_bytes()
    }

    /// The host path for guest path bytes: `/proc/self/exe` becomes the guest program,
    /// absolute paths are tried under the sysroot first.
    pub(crate) fn host_path_bytes(&self, path: &[u8]) -> Vec<u8> {
        if self.is_proc_self(path, "exe") {
            return self.lock(&self.exe_path).as_os_str().as_bytes().to_vec();
        }
        if let (Some(root), true) = (&self.config.sysroot, path.starts_with(b"/")) {
            let mut cand = root.as_os_str().as_bytes().to_vec();
            cand.extend_from_slice(path);
            let os = std::ffi::OsStr::from_bytes(&cand);
            if std::fs::symlink_metadata(os).is_ok() {
                return cand;
            }
        }
        path.to_vec()
    }

    /// Reads a guest path and resolves it to a host C string.
    pub(crate) fn host_path(&self, addr: u64) -> Result<CString, Errno> {
        let p = self.guest_str(addr)?;
        Ok(CString::new(self.host_path_bytes(&p)).expect("no NUL inside a C string"))
    }
}
