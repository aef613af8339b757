//! Guest (x86-64 Linux) ABI values and structure layouts, and their conversion from and
//! to the host's.
//!
//! Constants whose value is the same in the generic Linux ABI used by every supported
//! host (errno, signal numbers, `AT_*` flags, `fcntl` commands, ioctl numbers of the tty
//! layer, `poll` bits, clock ids) are still named here with their x86-64 values; the
//! ones that differ between architectures (open flags) are translated bit by bit.
//! Structures are built field by field in little-endian order, so they are right on
//! any host.

/// `openat` etc.: the current directory.
pub const AT_FDCWD: i32 = -100;
/// Do not follow a final symlink.
pub const AT_SYMLINK_NOFOLLOW: i32 = 0x100;
/// `unlinkat`: remove a directory.
pub const AT_REMOVEDIR: i32 = 0x200;
/// Operate on the fd itself when the path is empty.
pub const AT_EMPTY_PATH: i32 = 0x1000;

/// Guest open flags (x86-64 values) and their host equivalents.
const OPEN_FLAGS: [(u32, libc::c_int); 17] = [
    (0o1, libc::O_WRONLY),
    (0o2, libc::O_RDWR),
    (0o100, libc::O_CREAT),
    (0o200, libc::O_EXCL),
    (0o400, libc::O_NOCTTY),
    (0o1000, libc::O_TRUNC),
    (0o2000, libc::O_APPEND),
    (0o4000, libc::O_NONBLOCK),
    (0o10000, libc::O_DSYNC),
    (0o20000, libc::O_ASYNC),
    (0o40000, libc::O_DIRECT),
    (0o200000, libc::O_DIRECTORY),
    (0o400000, libc::O_NOFOLLOW),
    (0o1000000, libc::O_NOATIME),
    (0o2000000, libc::O_CLOEXEC),
    (0o4000000, libc::O_SYNC & !libc::O_DSYNC),
    (0o10000000, libc::O_PATH),
];

/// Guest `O_LARGEFILE` (x86-64).
pub const O_LARGEFILE: u32 = 0o100000;
/// Guest `__O_TMPFILE` bit (x86-64; `O_TMPFILE` is this plus `O_DIRECTORY`).
const O_TMPFILE_BIT: u32 = 0o20000000;
/// Guest `O_CLOEXEC`.
pub const O_CLOEXEC: u32 = 0o2000000;
/// Guest `O_NONBLOCK`.
pub const O_NONBLOCK: u32 = 0o4000;

/// The host kernel's `O_LARGEFILE` bit (glibc's 64-bit headers define it as 0).
#[cfg(target_arch = "aarch64")]
const HOST_O_LARGEFILE: libc::c_int = 0o400000;
#[cfg(not(target_arch = "aarch64"))]
const HOST_O_LARGEFILE: libc::c_int = 0o100000;

/// Converts guest open/status flags to the host's. Unknown bits are dropped; the access
/// mode is carried by `O_WRONLY`/`O_RDWR`.
pub fn open_flags_to_host(g: u32) -> libc::c_int {
    let mut h = 0;
    for (gb, hb) in OPEN_FLAGS {
        if g & gb != 0 {
            h |= hb;
        }
    }
    if g & O_TMPFILE_BIT != 0 {
        h |= libc::O_TMPFILE & !libc::O_DIRECTORY;
    }
    h
}

/// Converts host file status flags (`F_GETFL`) to the guest's.
pub fn open_flags_to_guest(h: libc::c_int) -> u32 {
    let mut g = 0;
    for (gb, hb) in OPEN_FLAGS {
        if hb != 0 && h & hb == hb {
            g |= gb;
        }
    }
    if h & HOST_O_LARGEFILE != 0 {
        g |= O_LARGEFILE;
    }
    let tmp = libc::O_TMPFILE & !libc::O_DIRECTORY;
    if h & tmp == tmp {
        g |= O_TMPFILE_BIT;
    }
    g
}

/// Little-endian structure builder.
#[derive(Debug)]
pub struct Le {
    /// The bytes.
    pub buf: Vec<u8>,
}

impl Le {
    /// A zeroed buffer of `len` bytes.
    pub fn new(len: usize) -> Le {
        Le { buf: vec![0; len] }
    }
    /// Stores `v` at `off`.
    pub fn u16(&mut self, off: usize, v: u16) -> &mut Le {
        self.buf[off..off + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// Stores `v` at `off`.
    pub fn u32(&mut self, off: usize, v: u32) -> &mut Le {
        self.buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// Stores `v` at `off`.
    pub fn u64(&mut self, off: usize, v: u64) -> &mut Le {
        self.buf[off..off + 8].copy_from_slice(&v.to_le_bytes());
        self
    }
}

/// Reads a little-endian `u64` at `off` of `b`.
pub fn le_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Reads a little-endian `u32` at `off` of `b`.
pub fn le_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Size of the x86-64 `struct stat`.
pub const STAT_SIZE: usize = 144;

/// The x86-64 `struct stat` for a host `stat` result:
/// dev@0 ino@8 nlink@16 mode@24 uid@28 gid@32 rdev@40 size@48 blksize@56 blocks@64
/// atime@72 atime_nsec@80 mtime@88 mtime_nsec@96 ctime@104 ctime_nsec@112.
#[allow(clippy::unnecessary_cast)] // field types vary between hosts
pub fn guest_stat(st: &libc::stat) -> Vec<u8> {
    let mut b = Le::new(STAT_SIZE);
    b.u64(0, st.st_dev as u64)
        .u64(8, st.st_ino as u64)
        .u64(16, st.st_nlink as u64)
        .u32(24, st.st_mode as u32)
        .u32(28, st.st_uid as u32)
        .u32(32, st.st_gid as u32)
        .u64(40, st.st_rdev as u64)
        .u64(48, st.st_size as u64)
        .u64(56, st.st_blksize as u64)
        .u64(64, st.st_blocks as u64)
        .u64(72, st.st_atime as u64)
        .u64(80, st.st_atime_nsec as u64)
        .u64(88, st.st_mtime as u64)
        .u64(96, st.st_mtime_nsec as u64)
        .u64(104, st.st_ctime as u64)
        .u64(112, st.st_ctime_nsec as u64);
    b.buf
}

/// Size of `struct statx` (arch-independent).
pub const STATX_SIZE: usize = 256;

/// Field layout of the kernel's `struct statx` as (offset, size), for byte-order
/// conversion of a host result.
const STATX_FIELDS: &[(usize, usize)] = &[
    (0, 4),
    (4, 4),
    (8, 8),
    (16, 4),
    (20, 4),
    (24, 4),
    (28, 2),
    (32, 8),
    (40, 8),
    (48, 8),
    (56, 8),
    (64, 8),
    (72, 4),
    (80, 8),
    (88, 4),
    (96, 8),
    (104, 4),
    (112, 8),
    (120, 4),
    (128, 4),
    (132, 4),
    (136, 4),
    (140, 4),
    (144, 8),
    (152, 4),
    (156, 4),
    (160, 8),
];

/// Converts a host `struct statx` (native byte order) to the guest's (little-endian).
pub fn guest_statx(host: &[u8; STATX_SIZE]) -> [u8; STATX_SIZE] {
    let mut out = *host;
    if cfg!(target_endian = "big") {
        for &(off, len) in STATX_FIELDS {
            out[off..off + len].reverse();
        }
    }
    out
}

/// Size of the x86-64 `struct statfs`.
pub const STATFS_SIZE: usize = 120;

/// The x86-64 `struct statfs` for a host result: type@0 bsize@8 blocks@16 bfree@24
/// bavail@32 files@40 ffree@48 fsid@56 namelen@64 frsize@72 flags@80 spare@88..120.
///
/// `f_flags` is not exposed by the `libc` crate; it is taken from the host structure's
/// first spare word, where the generic 64-bit Linux layout keeps it.
#[allow(clippy::unnecessary_cast)] // field types vary between hosts
pub fn guest_statfs(st: &libc::statfs) -> Vec<u8> {
    let mut b = Le::new(STATFS_SIZE);
    // SAFETY: `fsid_t` is a `repr(C)` pair of `c_int`s; reading it as `[i32; 2]` reads
    // initialised memory of exactly that layout.
    let fsid: [i32; 2] = unsafe { std::ptr::read((&raw const st.f_fsid).cast::<[i32; 2]>()) };
    let flags = if std::mem::size_of::<libc::statfs>() >= 88 {
        // SAFETY: the structure is at least 88 bytes long (checked), so the 8 bytes at
        // offset 80 are inside it; `read_unaligned` has no alignment requirement.
        unsafe {
            std::ptr::read_unaligned(
                (st as *const libc::statfs)
                    .cast::<u8>()
                    .add(80)
                    .cast::<u64>(),
            )
        }
    } else {
        0
    };
    b.u64(0, st.f_type as u64)
        .u64(8, st.f_bsize as u64)
        .u64(16, st.f_blocks as u64)
        .u64(24, st.f_bfree as u64)
        .u64(32, st.f_bavail as u64)
        .u64(40, st.f_files as u64)
        .u64(48, st.f_ffree as u64)
        .u32(56, fsid[0] as u32)
        .u32(60, fsid[1] as u32)
        .u64(64, st.f_namelen as u64)
        .u64(72, st.f_frsize as u64)
        .u64(80, flags);
    b.buf
}

/// Size of the x86-64 `struct rusage`.
pub const RUSAGE_SIZE: usize = 144;

/// The x86-64 `struct rusage` (two timevals then 14 longs).
#[allow(clippy::unnecessary_cast)] // field types vary between hosts
pub fn guest_rusage(r: &libc::rusage) -> Vec<u8> {
    let mut b = Le::new(RUSAGE_SIZE);
    b.u64(0, r.ru_utime.tv_sec as u64)
        .u64(8, r.ru_utime.tv_usec as u64)
        .u64(16, r.ru_stime.tv_sec as u64)
        .u64(24, r.ru_stime.tv_usec as u64);
    let longs = [
        r.ru_maxrss,
        r.ru_ixrss,
        r.ru_idrss,
        r.ru_isrss,
        r.ru_minflt,
        r.ru_majflt,
        r.ru_nswap,
        r.ru_inblock,
        r.ru_oublock,
        r.ru_msgsnd,
        r.ru_msgrcv,
        r.ru_nsignals,
        r.ru_nvcsw,
        r.ru_nivcsw,
    ];
    for (i, v) in longs.iter().enumerate() {
        b.u64(32 + 8 * i, *v as u64);
    }
    b.buf
}

/// A `timespec` / `timeval` pair of 64-bit words as stored in guest memory.
pub fn guest_time_pair(sec: i64, sub: i64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_le_bytes());
    b[8..].copy_from_slice(&sub.to_le_bytes());
    b
}

/// Signal numbers (the generic Linux numbering, which x86-64 uses).
pub mod sig {
    /// Hangup.
    pub const SIGHUP: i32 = 1;
    /// Kill (cannot be caught).
    pub const SIGKILL: i32 = 9;
    /// Child status changed.
    pub const SIGCHLD: i32 = 17;
    /// Continue.
    pub const SIGCONT: i32 = 18;
    /// Stop (cannot be caught).
    pub const SIGSTOP: i32 = 19;
    /// Terminal stop.
    pub const SIGTSTP: i32 = 20;
    /// Background read from tty.
    pub const SIGTTIN: i32 = 21;
    /// Background write to tty.
    pub const SIGTTOU: i32 = 22;
    /// Urgent socket data.
    pub const SIGURG: i32 = 23;
    /// Window size change.
    pub const SIGWINCH: i32 = 28;
    /// Highest signal number.
    pub const NSIG: i32 = 64;
    /// Default action handler value.
    pub const SIG_DFL: u64 = 0;
    /// Ignore handler value.
    pub const SIG_IGN: u64 = 1;
}

/// What a signal does when its handler is `SIG_DFL`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DefaultAction {
    /// Terminate the process (possibly with a core dump).
    Terminate,
    /// Nothing.
    Ignore,
    /// Stop the process.
    Stop,
    /// Continue a stopped process (otherwise nothing).
    Continue,
}

/// The default action of signal `s` (1..=64).
pub fn default_action(s: i32) -> DefaultAction {
    use sig::*;
    match s {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGCONT => DefaultAction::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        _ => DefaultAction::Terminate,
    }
}
