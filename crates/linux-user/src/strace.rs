//! `-strace`: one line per syscall on stderr, like qemu-user's
//! (`PID name(args) = result`).

use crate::nr;
use crate::process::{Process, SyscallOutcome};
use std::fmt::Write as _;
use std::io::Write as _;

/// Argument formats of the syscalls the emulator implements: one character per argument
/// (`d` signed int, `l` signed long, `u` unsigned, `x` hex, `o` octal, `s` string).
/// A syscall missing here is reported as unknown.
fn spec(n: u64) -> Option<&'static str> {
    Some(match n {
        nr::READ | nr::WRITE | nr::GETDENTS64 => "dxu",
        nr::PREAD64 | nr::PWRITE64 => "dxul",
        nr::READV | nr::WRITEV => "dxd",
        nr::PREADV | nr::PWRITEV => "dxdl",
        nr::LSEEK => "dld",
        nr::OPEN => "sxo",
        nr::CREAT => "so",
        nr::OPENAT => "dsxo",
        nr::CLOSE | nr::DUP | nr::FCHDIR | nr::FSYNC | nr::FDATASYNC => "d",
        nr::FSTAT | nr::FSTATFS => "dx",
        nr::STAT | nr::LSTAT | nr::STATFS => "sx",
        nr::NEWFSTATAT => "dsxx",
        nr::STATX => "dsxxx",
        nr::FCNTL => "ddx",
        nr::IOCTL => "dxx",
        nr::DUP2 => "dd",
        nr::DUP3 => "ddx",
        nr::PIPE => "x",
        nr::PIPE2 => "xx",
        nr::ACCESS => "so",
        nr::FACCESSAT => "dso",
        nr::FACCESSAT2 => "dsox",
        nr::READLINK => "sxu",
        nr::READLINKAT => "dsxu",
        nr::GETCWD => "xu",
        nr::CHDIR | nr::UNLINK | nr::RMDIR => "s",
        nr::UNLINKAT => "dsx",
        nr::RENAME | nr::LINK | nr::SYMLINK => "ss",
        nr::RENAMEAT => "dsds",
        nr::RENAMEAT2 => "dsdsx",
        nr::MKDIR | nr::CHMOD => "so",
        nr::MKDIRAT | nr::FCHMODAT => "dso",
        nr::MKNOD => "sox",
        nr::MKNODAT => "dsox",
        nr::SYMLINKAT => "sds",
        nr::LINKAT => "dsdsx",
        nr::FCHMOD => "do",
        nr::CHOWN | nr::LCHOWN => "sdd",
        nr::FCHOWN => "ddd",
        nr::FCHOWNAT => "dsddx",
        nr::UTIMENSAT => "dsxx",
        nr::TRUNCATE => "sl",
        nr::FTRUNCATE => "dl",
        nr::SYNC
        | nr::GETPID
        | nr::GETPPID
        | nr::GETTID
        | nr::GETUID
        | nr::GETEUID
        | nr::GETGID
        | nr::GETEGID
        | nr::SETSID
        | nr::GETPGRP
        | nr::SCHED_YIELD
        | nr::FORK
        | nr::VFORK => "",
        nr::SENDFILE => "ddxu",
        nr::POLL => "xud",
        nr::PPOLL => "xuxxu",
        nr::SELECT => "dxxxx",
        nr::PSELECT6 => "dxxxxx",
        nr::UMASK => "o",
        nr::FLOCK => "dd",
        nr::FADVISE64 => "dlld",
        nr::MEMFD_CREATE => "sx",
        nr::SETXATTR | nr::LSETXATTR => "ssxud",
        nr::FSETXATTR => "dsxud",
        nr::GETXATTR | nr::LGETXATTR => "ssxu",
        nr::FGETXATTR => "dsxu",
        nr::LISTXATTR | nr::LLISTXATTR => "sxu",
        nr::FLISTXATTR => "dxu",
        nr::REMOVEXATTR | nr::LREMOVEXATTR => "ss",
        nr::FREMOVEXATTR => "ds",
        nr::MMAP => "xuxxdx",
        nr::MUNMAP => "xu",
        nr::MPROTECT => "xux",
        nr::BRK => "x",
        nr::MREMAP => "xuuxx",
        nr::MADVISE => "xud",
        nr::MSYNC => "xux",
        nr::MINCORE => "xux",
        nr::EXIT | nr::EXIT_GROUP => "d",
        nr::KILL | nr::TKILL => "dd",
        nr::TGKILL => "ddd",
        nr::CLONE => "xxxxx",
        nr::CLONE3 => "xu",
        nr::EXECVE => "sxx",
        nr::EXECVEAT => "dsxxx",
        nr::GETGROUPS | nr::SETGROUPS => "dx",
        nr::SETUID | nr::SETGID | nr::SETFSUID | nr::SETFSGID => "u",
        nr::SETREUID | nr::SETREGID => "uu",
        nr::SETRESUID | nr::SETRESGID => "uuu",
        nr::GETRESUID | nr::GETRESGID => "xxx",
        nr::GETPGID | nr::GETSID => "d",
        nr::SETPGID => "dd",
        nr::UNAME | nr::TIMES | nr::SYSINFO | nr::TIME => "x",
        nr::PRLIMIT64 => "ddxx",
        nr::GETRLIMIT | nr::SETRLIMIT | nr::GETRUSAGE => "dx",
        nr::GETRANDOM => "xux",
        nr::CLOCK_GETTIME | nr::CLOCK_GETRES => "dx",
        nr::GETTIMEOFDAY => "xx",
        nr::NANOSLEEP => "xx",
        nr::CLOCK_NANOSLEEP => "ddxx",
        nr::SET_TID_ADDRESS => "x",
        nr::ARCH_PRCTL => "xx",
        nr::RT_SIGACTION => "dxxu",
        nr::RT_SIGPROCMASK => "dxxu",
        nr::RT_SIGPENDING => "xu",
        nr::SIGALTSTACK => "xx",
        nr::SCHED_GETAFFINITY | nr::SCHED_SETAFFINITY => "dux",
        nr::PRCTL => "dxxxx",
        nr::WAIT4 => "dxxx",
        nr::WAITID => "ddxxx",
        nr::SET_ROBUST_LIST => "xu",
        nr::GET_ROBUST_LIST => "dxx",
        nr::RSEQ => "xuxx",
        nr::FUTEX => "xdxxxx",
        nr::GETCPU => "xxx",
        nr::SOCKET => "ddd",
        nr::CONNECT | nr::BIND => "dxu",
        nr::ACCEPT | nr::GETSOCKNAME | nr::GETPEERNAME => "dxx",
        nr::ACCEPT4 => "dxxx",
        nr::SENDTO | nr::RECVFROM => "dxuxxu",
        nr::SENDMSG | nr::RECVMSG => "dxx",
        nr::SHUTDOWN | nr::LISTEN => "dd",
        nr::SOCKETPAIR => "dddx",
        nr::SETSOCKOPT | nr::GETSOCKOPT => "dddxx",
        _ => return None,
    })
}

/// Whether the emulator implements syscall `n` (possibly as a deliberate `ENOSYS`).
pub fn is_known(n: u64) -> bool {
    spec(n).is_some()
}

fn returns_address(n: u64) -> bool {
    matches!(n, nr::MMAP | nr::BRK | nr::MREMAP)
}

/// Prints the `PID name(args)` part before the syscall runs.
pub(crate) fn enter(p: &Process, n: u64, args: &[u64; 6]) {
    let line = format_enter(p, crate::host::getpid(), n, args);
    // Inside the fork gate: a fork while another thread held stderr's lock would leave the
    // child's copy held.
    let _section = p.space.hold_off_fork();
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The `PID name(args)` text.
pub(crate) fn format_enter(p: &Process, pid: i32, n: u64, args: &[u64; 6]) -> String {
    let mut line = String::new();
    match (spec(n), nr::name(n)) {
        (Some(spec), Some(name)) => {
            let _ = write!(line, "{pid} {name}(");
            for (i, (c, a)) in spec.chars().zip(args).enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = match c {
                    'd' => write!(line, "{}", *a as i32),
                    'l' => write!(line, "{}", *a as i64),
                    'u' => write!(line, "{a}"),
                    'o' if *a == 0 => write!(line, "0"),
                    'o' => write!(line, "0{a:o}"),
                    's' => match p.space.read_cstr(*a, 256) {
                        Ok(s) => write!(line, "\"{}\"", s.escape_ascii()),
                        Err(_) => write!(line, "{a:#x}"),
                    },
                    _ => write!(line, "{a:#x}"),
                };
            }
            line.push(')');
        }
        _ => {
            let _ = write!(line, "{pid} Unknown syscall {n}");
        }
    }
    line
}

/// Prints the ` = result` part after the syscall ran.
pub(crate) fn exit(p: &Process, n: u64, out: &SyscallOutcome) {
    let _section = p.space.hold_off_fork();
    let _ = std::io::stderr()
        .lock()
        .write_all(format_exit(n, out).as_bytes());
}

/// The ` = result` text (with the newline).
pub(crate) fn format_exit(n: u64, out: &SyscallOutcome) -> String {
    match *out {
        SyscallOutcome::Return(v) if (v as i64) < 0 && (v as i64) >= -4095 => {
            let e = -(v as i64) as i32;
            let msg = std::io::Error::from_raw_os_error(e).to_string();
            let msg = msg.split(" (os error").next().unwrap_or_default();
            format!(" = -1 errno={e} ({msg})\n")
        }
        SyscallOutcome::Return(v) if returns_address(n) => format!(" = {v:#x}\n"),
        SyscallOutcome::Return(v) => format!(" = {}\n", v as i64),
        SyscallOutcome::Exit(_) | SyscallOutcome::ExitGroup(_) => "\n".to_string(),
        SyscallOutcome::KillSelf(s) => format!(" = ? (killed by signal {s})\n"),
        SyscallOutcome::ChildReturn { .. } => " = 0 (child)\n".to_string(),
        SyscallOutcome::NewThread(_) => " = ? (new thread)\n".to_string(),
        SyscallOutcome::VforkParent { child, .. } => format!(" = {child}\n"),
        SyscallOutcome::Exec(_) => " = 0\n".to_string(),
    }
}
