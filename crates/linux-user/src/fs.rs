//! File-system and file-descriptor syscalls.
//!
//! Guest file descriptors are host file descriptors. Guest buffers are handed to the
//! host kernel through [`Process::ptr`] after checking the whole range; structures whose
//! layout could differ are converted field by field (`stat`, `statfs`, `flock`,
//! timespecs). `AT_*` flag values, `fcntl` commands, tty ioctl numbers and `poll` bits
//! are the same in the x86-64 and the generic Linux ABI of every supported host and are
//! passed on unchanged. Pass-through structures (`dirent64`, `pollfd`, `fd_set`,
//! `termios`, `winsize`) assume a little-endian host.

use crate::abi::{self, Le};
use crate::host::cvt;
use crate::process::{Process, SysResult};
use guest_memory::{Access, Errno};
use std::ffi::CString;
use std::mem::MaybeUninit;

/// Largest byte count of one read/write (Linux `MAX_RW_COUNT`).
const MAX_RW: u64 = 0x7fff_f000;
/// Most iovecs accepted (Linux `UIO_MAXIOV`).
const IOV_MAX: u64 = 1024;

fn fd(a: u64) -> i32 {
    a as i32
}

fn empty() -> CString {
    CString::default()
}

impl Process {
    pub(crate) fn sys_read(&self, a: [u64; 6]) -> SysResult {
        let n = a[2].min(MAX_RW);
        let p = self.ptr(a[1], n, Access::Write)?;
        // SAFETY: `p` addresses `n` mapped, writable guest bytes inside the reservation
        // (checked by `ptr`); the kernel writes them directly, no Rust reference exists.
        cvt(unsafe { libc::read(fd(a[0]), p.cast(), n as usize) } as i64)
    }

    pub(crate) fn sys_write(&self, a: [u64; 6]) -> SysResult {
        let n = a[2].min(MAX_RW);
        let p = self.ptr(a[1], n, Access::Read)?;
        // SAFETY: `p` addresses `n` mapped, readable guest bytes (checked by `ptr`).
        cvt(unsafe { libc::write(fd(a[0]), p.cast(), n as usize) } as i64)
    }

    pub(crate) fn sys_pread(&self, a: [u64; 6]) -> SysResult {
        let n = a[2].min(MAX_RW);
        let p = self.ptr(a[1], n, Access::Write)?;
        // SAFETY: as in `sys_read`.
        cvt(unsafe { libc::pread(fd(a[0]), p.cast(), n as usize, a[3] as i64) } as i64)
    }

    pub(crate) fn sys_pwrite(&self, a: [u64; 6]) -> SysResult {
        let n = a[2].min(MAX_RW);
        let p = self.ptr(a[1], n, Access::Read)?;
        // SAFETY: as in `sys_write`.
        cvt(unsafe { libc::pwrite(fd(a[0]), p.cast(), n as usize, a[3] as i64) } as i64)
    }

    /// readv / writev / preadv / pwritev: every iovec is checked before the host call.
    pub(crate) fn sys_rwv(&self, a: [u64; 6], write: bool, offset: Option<i64>) -> SysResult {
        let (iov_addr, cnt) = (a[1], a[2]);
        if cnt > IOV_MAX {
            return Err(Errno::EINVAL);
        }
        let raw = self.read_bytes(iov_addr, cnt as usize * 16)?;
        let mut iovs = Vec::with_capacity(cnt as usize);
        let mut total: u64 = 0;
        let access = if write { Access::Read } else { Access::Write };
        for i in 0..cnt as usize {
            let base = abi::le_u64(&raw, i * 16);
            let len = abi::le_u64(&raw, i * 16 + 8);
            if len > i64::MAX as u64 {
                return Err(Errno::EINVAL);
            }
            let len = len.min(MAX_RW - total.min(MAX_RW));
            total += len;
            let p = if len == 0 {
                std::ptr::null_mut()
            } else {
                self.ptr(base, len, access)?
            };
            iovs.push(libc::iovec {
                iov_base: p.cast(),
                iov_len: len as usize,
            });
        }
        let (f, v, c) = (fd(a[0]), iovs.as_ptr(), cnt as i32);
        // SAFETY: every iovec points at a checked guest range of its length (or is empty),
        // and `iovs` outlives the call.
        let r = unsafe {
            match (write, offset) {
                (false, None) => libc::readv(f, v, c),
                (true, None) => libc::writev(f, v, c),
                (false, Some(o)) => libc::preadv(f, v, c, o),
                (true, Some(o)) => libc::pwritev(f, v, c, o),
            }
        };
        cvt(r as i64)
    }

    pub(crate) fn sys_lseek(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: lseek takes only integers.
        cvt(unsafe { libc::lseek(fd(a[0]), a[1] as i64, a[2] as i32) })
    }

    pub(crate) fn sys_openat(&self, dirfd: i32, path: u64, flags: u32, mode: u32) -> SysResult {
        let guest = self.guest_str(path)?;
        if self.is_proc_self(&guest, "maps") {
            return self.fake_file(self.space.maps_text().as_bytes(), flags);
        }
        if self.is_proc_self(&guest, "cmdline") {
            // The guest's arguments, not the emulator's command line (which an `execve` in
            // place does not change).
            let text: Vec<u8> = self
                .lock(&self.argv)
                .iter()
                .flat_map(|a| a.iter().chain(&[0]))
                .copied()
                .collect();
            return self.fake_file(&text, flags);
        }
        if let Some(text) = self.cpu_topology_file(&guest) {
            return self.fake_file(text.as_bytes(), flags);
        }
        let p = CString::new(self.host_path_bytes(&guest)).expect("no NUL");
        let hflags = abi::open_flags_to_host(flags);
        // SAFETY: `p` is a NUL-terminated string that lives across the call.
        cvt(unsafe { libc::openat(dirfd, p.as_ptr(), hflags, mode as libc::c_uint) } as i64)
    }

    /// The guest's view of the files that tell how many CPUs there are (what libc's
    /// `sysconf(_SC_NPROCESSORS_*)` and `nproc` read): `-smp` CPUs, not the host's.
    fn cpu_topology_file(&self, path: &[u8]) -> Option<String> {
        let n = self.config.cpu_count.max(1);
        let range = if n == 1 {
            "0\n".to_string()
        } else {
            format!("0-{}\n", n - 1)
        };
        match path {
            b"/sys/devices/system/cpu/online"
            | b"/sys/devices/system/cpu/possible"
            | b"/sys/devices/system/cpu/present" => Some(range),
            b"/proc/cpuinfo" => Some(
                (0..n)
                    .map(|i| {
                        format!(
                            "processor\t: {i}\nvendor_id\t: {}\nmodel name\t: {}\n\
                             physical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {i}\n\
                             cpu cores\t: {n}\napicid\t\t: {i}\nfpu\t\t: yes\n\
                             cpuid level\t: 13\nflags\t\t: {}\nclflush size\t: 64\n\
                             cache_alignment\t: 64\naddress sizes\t: 48 bits physical, \
                             48 bits virtual\n\n",
                            self.config.cpu_vendor,
                            self.config.cpu_model_name,
                            self.config.cpu_flags
                        )
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    /// An fd reading back `contents` (used for `/proc/self/maps` and `cmdline`).
    fn fake_file(&self, contents: &[u8], flags: u32) -> SysResult {
        let mfd_flags = if flags & abi::O_CLOEXEC != 0 {
            libc::MFD_CLOEXEC
        } else {
            0
        };
        // SAFETY: the name is a static NUL-terminated string.
        let f = unsafe { libc::memfd_create(c"emu-proc".as_ptr(), mfd_flags) };
        if f < 0 {
            return Err(Errno::last_host());
        }
        let mut off = 0;
        while off < contents.len() {
            let rest = &contents[off..];
            // SAFETY: `rest` is a live local slice of the given length.
            let n = unsafe { libc::write(f, rest.as_ptr().cast(), rest.len()) };
            if n <= 0 {
                let e = Errno::last_host();
                // SAFETY: `f` is the fd we just created.
                unsafe { libc::close(f) };
                return Err(e);
            }
            off += n as usize;
        }
        // SAFETY: integer-only call on our own fd.
        unsafe { libc::lseek(f, 0, libc::SEEK_SET) };
        Ok(f as u64)
    }

    pub(crate) fn sys_close(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: closing an fd number the guest owns; the emulator keeps no fds across
        // syscalls that the guest could close under it.
        cvt(unsafe { libc::close(fd(a[0])) } as i64)
    }

    fn stat_into(&self, buf: u64, r: libc::c_int, st: MaybeUninit<libc::stat>) -> SysResult {
        if r != 0 {
            return Err(Errno::last_host());
        }
        // SAFETY: the stat call returned 0, so it filled the whole structure.
        let st = unsafe { st.assume_init() };
        self.write_bytes(buf, &abi::guest_stat(&st))?;
        Ok(0)
    }

    pub(crate) fn sys_fstat(&self, a: [u64; 6]) -> SysResult {
        let mut st = MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `st` is a local buffer of the right type.
        let r = unsafe { libc::fstat(fd(a[0]), st.as_mut_ptr()) };
        self.stat_into(a[1], r, st)
    }

    pub(crate) fn sys_fstatat(&self, dirfd: i32, path: u64, buf: u64, flags: i32) -> SysResult {
        let p = if path == 0 && flags & abi::AT_EMPTY_PATH != 0 {
            empty()
        } else {
            self.host_path(path)?
        };
        let mut st = MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `p` is a live C string and `st` a local buffer of the right type.
        let r = unsafe { libc::fstatat(dirfd, p.as_ptr(), st.as_mut_ptr(), flags) };
        self.stat_into(buf, r, st)
    }

    pub(crate) fn sys_statx(&self, a: [u64; 6]) -> SysResult {
        let (dirfd, path, flags, mask, buf) = (a[0] as i32, a[1], a[2] as i32, a[3] as u32, a[4]);
        let p = if path == 0 && flags & abi::AT_EMPTY_PATH != 0 {
            empty()
        } else {
            self.host_path(path)?
        };
        #[repr(C, align(8))]
        struct Buf([u8; abi::STATX_SIZE]);
        let mut out = Buf([0; abi::STATX_SIZE]);
        // SAFETY: `p` is a live C string and `out` a local, suitably aligned buffer of the
        // size of the kernel's `struct statx`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_statx,
                dirfd,
                p.as_ptr(),
                flags,
                mask,
                out.0.as_mut_ptr(),
            )
        };
        cvt(r)?;
        self.write_bytes(buf, &abi::guest_statx(&out.0))?;
        Ok(0)
    }

    pub(crate) fn sys_getdents64(&self, a: [u64; 6]) -> SysResult {
        let n = a[2].min(u32::MAX as u64 / 2);
        let p = self.ptr(a[1], n, Access::Write)?;
        // SAFETY: `p` addresses `n` mapped, writable guest bytes; `linux_dirent64` has the
        // same layout on every Linux architecture.
        cvt(unsafe { libc::syscall(libc::SYS_getdents64, fd(a[0]), p, n as libc::c_uint) })
    }

    pub(crate) fn sys_fcntl(&self, a: [u64; 6]) -> SysResult {
        let (f, cmd, arg) = (fd(a[0]), a[1] as i32, a[2]);
        // Guest (x86-64) fcntl commands.
        const F_DUPFD: i32 = 0;
        const F_GETFD: i32 = 1;
        const F_SETFD: i32 = 2;
        const F_GETFL: i32 = 3;
        const F_SETFL: i32 = 4;
        const F_GETLK: i32 = 5;
        const F_SETLK: i32 = 6;
        const F_SETLKW: i32 = 7;
        const F_SETOWN: i32 = 8;
        const F_GETOWN: i32 = 9;
        const F_SETSIG: i32 = 10;
        const F_GETSIG: i32 = 11;
        const F_OFD_GETLK: i32 = 36;
        const F_OFD_SETLK: i32 = 37;
        const F_OFD_SETLKW: i32 = 38;
        const F_SETLEASE: i32 = 1024;
        const F_GETLEASE: i32 = 1025;
        const F_NOTIFY: i32 = 1026;
        const F_DUPFD_CLOEXEC: i32 = 1030;
        const F_SETPIPE_SZ: i32 = 1031;
        const F_GETPIPE_SZ: i32 = 1032;
        const F_ADD_SEALS: i32 = 1033;
        const F_GET_SEALS: i32 = 1034;
        let int_cmd = |hcmd: i32, v: libc::c_int| {
            // SAFETY: these commands take an integer argument (or none) and touch no memory.
            cvt(unsafe { libc::fcntl(f, hcmd, v) } as i64)
        };
        match cmd {
            F_DUPFD => int_cmd(libc::F_DUPFD, arg as i32),
            F_DUPFD_CLOEXEC => int_cmd(libc::F_DUPFD_CLOEXEC, arg as i32),
            F_GETFD => int_cmd(libc::F_GETFD, 0),
            F_SETFD => int_cmd(libc::F_SETFD, arg as i32 & libc::FD_CLOEXEC),
            F_GETFL => int_cmd(libc::F_GETFL, 0).map(|h| abi::open_flags_to_guest(h as i32) as u64),
            F_SETFL => int_cmd(libc::F_SETFL, abi::open_flags_to_host(arg as u32)),
            F_SETOWN => int_cmd(libc::F_SETOWN, arg as i32),
            F_GETOWN => int_cmd(libc::F_GETOWN, 0),
            // F_SETSIG/F_GETSIG are 10/11 on every Linux host (missing from `libc`).
            F_SETSIG => int_cmd(F_SETSIG, arg as i32),
            F_GETSIG => int_cmd(F_GETSIG, 0),
            F_SETLEASE => int_cmd(libc::F_SETLEASE, arg as i32),
            F_GETLEASE => int_cmd(libc::F_GETLEASE, 0),
            F_NOTIFY => int_cmd(libc::F_NOTIFY, arg as i32),
            F_SETPIPE_SZ => int_cmd(libc::F_SETPIPE_SZ, arg as i32),
            F_GETPIPE_SZ => int_cmd(libc::F_GETPIPE_SZ, 0),
            F_ADD_SEALS => int_cmd(libc::F_ADD_SEALS, arg as i32),
            F_GET_SEALS => int_cmd(libc::F_GET_SEALS, 0),
            F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
                let hcmd = match cmd {
                    F_GETLK => libc::F_GETLK,
                    F_SETLK => libc::F_SETLK,
                    F_SETLKW => libc::F_SETLKW,
                    F_OFD_GETLK => libc::F_OFD_GETLK,
                    F_OFD_SETLK => libc::F_OFD_SETLK,
                    _ => libc::F_OFD_SETLKW,
                };
                self.fcntl_lock(f, hcmd, arg)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Record locks: the guest `struct flock` (type@0 whence@2 start@8 len@16 pid@24,
    /// 32 bytes) is converted to the host's and back.
    fn fcntl_lock(&self, f: i32, hcmd: i32, addr: u64) -> SysResult {
        let g = self.read_bytes(addr, 32)?;
        let ty = i16::from_le_bytes([g[0], g[1]]);
        // SAFETY: `flock` is plain old data; all-zero is a valid value.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = match ty {
            0 => libc::F_RDLCK as i16,
            1 => libc::F_WRLCK as i16,
            2 => libc::F_UNLCK as i16,
            _ => return Err(Errno::EINVAL),
        };
        fl.l_whence = i16::from_le_bytes([g[2], g[3]]);
        fl.l_start = abi::le_u64(&g, 8) as i64;
        fl.l_len = abi::le_u64(&g, 16) as i64;
        fl.l_pid = abi::le_u32(&g, 24) as i32;
        // SAFETY: `fl` is a live local `struct flock`, as these commands expect.
        cvt(unsafe { libc::fcntl(f, hcmd, &mut fl as *mut libc::flock) } as i64)?;
        if hcmd == libc::F_GETLK || hcmd == libc::F_OFD_GETLK {
            let ty: u16 = match fl.l_type as i32 {
                libc::F_RDLCK => 0,
                libc::F_WRLCK => 1,
                _ => 2,
            };
            let mut b = Le::new(32);
            b.u16(0, ty)
                .u16(2, fl.l_whence as u16)
                .u64(8, fl.l_start as u64)
                .u64(16, fl.l_len as u64)
                .u32(24, fl.l_pid as u32);
            self.write_bytes(addr, &b.buf)?;
        }
        Ok(0)
    }

    pub(crate) fn sys_ioctl(&self, a: [u64; 6]) -> SysResult {
        let (f, req, arg) = (fd(a[0]), a[1] as u32, a[2]);
        const TCGETS: u32 = 0x5401;
        const TCSETS: u32 = 0x5402;
        const TCSETSW: u32 = 0x5403;
        const TCSETSF: u32 = 0x5404;
        const TCSBRK: u32 = 0x5409;
        const TCXONC: u32 = 0x540A;
        const TCFLSH: u32 = 0x540B;
        const TIOCSCTTY: u32 = 0x540E;
        const TIOCGPGRP: u32 = 0x540F;
        const TIOCSPGRP: u32 = 0x5410;
        const TIOCGWINSZ: u32 = 0x5413;
        const TIOCSWINSZ: u32 = 0x5414;
        const FIONREAD: u32 = 0x541B;
        const FIONBIO: u32 = 0x5421;
        const TIOCGSID: u32 = 0x5429;
        const FIONCLEX: u32 = 0x5450;
        const FIOCLEX: u32 = 0x5451;
        /// Size of the kernel's `struct termios` (x86-64 and generic).
        const TERMIOS: usize = 36;
        let call = |hreq: libc::c_ulong, p: *mut libc::c_void| {
            // SAFETY: `p` is null, an integer argument, or a live local buffer at least as
            // large as the structure `hreq` transfers.
            cvt(unsafe { libc::ioctl(f, hreq as _, p) } as i64)
        };
        match req {
            TCGETS => {
                let mut buf = [0u8; 64];
                call(libc::TCGETS as _, buf.as_mut_ptr().cast())?;
                self.write_bytes(arg, &buf[..TERMIOS])?;
                Ok(0)
            }
            TCSETS | TCSETSW | TCSETSF => {
                let mut buf = [0u8; 64];
                buf[..TERMIOS].copy_from_slice(&self.read_bytes(arg, TERMIOS)?);
                let hreq = match req {
                    TCSETS => libc::TCSETS,
                    TCSETSW => libc::TCSETSW,
                    _ => libc::TCSETSF,
                };
                call(hreq as _, buf.as_mut_ptr().cast())
            }
            TIOCGWINSZ => {
                let mut buf = [0u8; 8];
                call(libc::TIOCGWINSZ as _, buf.as_mut_ptr().cast())?;
                self.write_bytes(arg, &buf)?;
                Ok(0)
            }
            TIOCSWINSZ => {
                let mut buf = [0u8; 8];
                buf.copy_from_slice(&self.read_bytes(arg, 8)?);
                call(libc::TIOCSWINSZ as _, buf.as_mut_ptr().cast())
            }
            FIONREAD | TIOCGPGRP | TIOCGSID => {
                let mut v: libc::c_int = 0;
                let hreq = match req {
                    FIONREAD => libc::FIONREAD as libc::c_ulong,
                    TIOCGPGRP => libc::TIOCGPGRP as _,
                    _ => libc::TIOCGSID as _,
                };
                call(hreq, (&mut v as *mut libc::c_int).cast())?;
                self.write_bytes(arg, &(v as u32).to_le_bytes())?;
                Ok(0)
            }
            TIOCSPGRP | FIONBIO => {
                let mut v = self.space.read_u32(arg).map_err(|_| Errno::EFAULT)? as libc::c_int;
                let hreq = if req == TIOCSPGRP {
                    libc::TIOCSPGRP as libc::c_ulong
                } else {
                    libc::FIONBIO as _
                };
                call(hreq, (&mut v as *mut libc::c_int).cast())
            }
            TCSBRK | TCXONC | TCFLSH | TIOCSCTTY => {
                let hreq = match req {
                    TCSBRK => libc::TCSBRK as libc::c_ulong,
                    TCXONC => libc::TCXONC as _,
                    TCFLSH => libc::TCFLSH as _,
                    _ => libc::TIOCSCTTY as _,
                };
                call(hreq, arg as usize as *mut libc::c_void)
            }
            FIOCLEX => call(libc::FIOCLEX as _, std::ptr::null_mut()),
            FIONCLEX => call(libc::FIONCLEX as _, std::ptr::null_mut()),
            _ => Err(Errno::ENOTTY),
        }
    }

    pub(crate) fn sys_dup(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        cvt(unsafe { libc::dup(fd(a[0])) } as i64)
    }

    pub(crate) fn sys_dup2(&self, a: [u64; 6]) -> SysResult {
        let (old, new) = (fd(a[0]), fd(a[1]));
        if old == new {
            // SAFETY: integer-only call.
            cvt(unsafe { libc::fcntl(old, libc::F_GETFD) } as i64)?;
            return Ok(new as u64);
        }
        // SAFETY: integer-only call.
        cvt(unsafe { libc::dup3(old, new, 0) } as i64)
    }

    pub(crate) fn sys_dup3(&self, a: [u64; 6]) -> SysResult {
        let flags = a[2] as u32;
        if flags & !abi::O_CLOEXEC != 0 {
            return Err(Errno::EINVAL);
        }
        let hflags = if flags != 0 { libc::O_CLOEXEC } else { 0 };
        // SAFETY: integer-only call.
        cvt(unsafe { libc::dup3(fd(a[0]), fd(a[1]), hflags) } as i64)
    }

    pub(crate) fn sys_pipe2(&self, addr: u64, flags: u32) -> SysResult {
        const O_DIRECT: u32 = 0o40000;
        if flags & !(abi::O_CLOEXEC | abi::O_NONBLOCK | O_DIRECT) != 0 {
            return Err(Errno::EINVAL);
        }
        self.ptr(addr, 8, Access::Write)?;
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a live local array of two ints.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), abi::open_flags_to_host(flags)) } as i64)?;
        let mut b = Le::new(8);
        b.u32(0, fds[0] as u32).u32(4, fds[1] as u32);
        if let Err(e) = self.write_bytes(addr, &b.buf) {
            // SAFETY: closing the two fds we just created.
            unsafe {
                libc::close(fds[0]);
                libc::close(fds[1]);
            }
            return Err(e);
        }
        Ok(0)
    }

    pub(crate) fn sys_faccessat(&self, dirfd: i32, path: u64, mode: i32, flags: i32) -> SysResult {
        let p = self.host_path(path)?;
        // SAFETY: `p` is a live C string.
        cvt(unsafe { libc::faccessat(dirfd, p.as_ptr(), mode, flags) } as i64)
    }

    pub(crate) fn sys_readlinkat(&self, dirfd: i32, path: u64, buf: u64, size: u64) -> SysResult {
        if size as i64 <= 0 {
            return Err(Errno::EINVAL);
        }
        let size = size.min(i32::MAX as u64);
        let guest = self.guest_str(path)?;
        if self.is_proc_self(&guest, "exe") {
            let exe = self.lock(&self.exe_path).clone();
            let bytes = std::os::unix::ffi::OsStrExt::as_bytes(exe.as_os_str());
            let n = bytes.len().min(size as usize);
            self.write_bytes(buf, &bytes[..n])?;
            return Ok(n as u64);
        }
        let p = CString::new(self.host_path_bytes(&guest)).expect("no NUL");
        let out = self.ptr(buf, size, Access::Write)?;
        // SAFETY: `p` is a live C string; `out` addresses `size` writable guest bytes.
        cvt(unsafe { libc::readlinkat(dirfd, p.as_ptr(), out.cast(), size as usize) } as i64)
    }

    pub(crate) fn sys_getcwd(&self, a: [u64; 6]) -> SysResult {
        let size = a[1].min(crate::process::PATH_MAX as u64);
        let p = self.ptr(a[0], size, Access::Write)?;
        // SAFETY: `p` addresses `size` writable guest bytes.
        cvt(unsafe { libc::syscall(libc::SYS_getcwd, p, size as usize) })
    }

    pub(crate) fn sys_chdir(&self, a: [u64; 6]) -> SysResult {
        let p = self.host_path(a[0])?;
        // SAFETY: `p` is a live C string.
        cvt(unsafe { libc::chdir(p.as_ptr()) } as i64)
    }

    pub(crate) fn sys_fchdir(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        cvt(unsafe { libc::fchdir(fd(a[0])) } as i64)
    }

    pub(crate) fn sys_unlinkat(&self, dirfd: i32, path: u64, flags: i32) -> SysResult {
        let p = self.host_path(path)?;
        // SAFETY: `p` is a live C string.
        cvt(unsafe { libc::unlinkat(dirfd, p.as_ptr(), flags) } as i64)
    }

    pub(crate) fn sys_renameat2(
        &self,
        od: u64,
        op: u64,
        nd: u64,
        np: u64,
        flags: u64,
    ) -> SysResult {
        let (o, n) = (self.host_path(op)?, self.host_path(np)?);
        // SAFETY: `o` and `n` are live C strings.
        cvt(
            unsafe { libc::renameat2(od as i32, o.as_ptr(), nd as i32, n.as_ptr(), flags as u32) }
                as i64,
        )
    }

    pub(crate) fn sys_mkdirat(&self, dirfd: i32, path: u64, mode: u64) -> SysResult {
        let p = self.host_path(path)?;
        // SAFETY: `p` is a live C string.
        cvt(unsafe { libc::mkdirat(dirfd, p.as_ptr(), mode as libc::mode_t) } as i64)
    }

    pub(crate) fn sys_mknodat(&self, dirfd: i32, path: u64, mode: u64, dev: u64) -> SysResult {
        let p = self.host_path(path)?;
        // SAFETY: `p` is a live C string.
        cvt(
            unsafe { libc::mknodat(dirfd, p.as_ptr(), mode as libc::mode_t, dev as libc::dev_t) }
                as i64,
        )
    }

    pub(crate) fn sys_symlinkat(&self, target: u64, dirfd: i32, linkpath: u64) -> SysResult {
        // The target is stored as written: it is not a path the emulator opens.
        let t = CString::new(self.guest_str(target)?).expect("no NUL");
        let l = self.host_path(linkpath)?;
        // SAFETY: `t` and `l` are live C strings.
        cvt(unsafe { libc::symlinkat(t.as_ptr(), dirfd, l.as_ptr()) } as i64)
    }

    pub(crate) fn sys_linkat(&self, od: i32, op: u64, nd: i32, np: u64, flags: i32) -> SysResult {
        let (o, n) = (self.host_path(op)?, self.host_path(np)?);
        // SAFETY: `o` and `n` are live C strings.
        cvt(unsafe { libc::linkat(od, o.as_ptr(), nd, n.as_ptr(), flags) } as i64)
    }

    pub(crate) fn sys_fchmodat(&self, dirfd: i32, path: u64, mode: u64) -> SysResult {
        let p = self.host_path(path)?;
        // SAFETY: `p` is a live C string.
        cvt(unsafe { libc::fchmodat(dirfd, p.as_ptr(), mode as libc::mode_t, 0) } as i64)
    }

    pub(crate) fn sys_fchmod(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        cvt(unsafe { libc::fchmod(fd(a[0]), a[1] as libc::mode_t) } as i64)
    }

    pub(crate) fn sys_fchownat(
        &self,
        dirfd: i32,
        path: u64,
        uid: u64,
        gid: u64,
        flags: i32,
    ) -> SysResult {
        let p = if path == 0 && flags & abi::AT_EMPTY_PATH != 0 {
            empty()
        } else {
            self.host_path(path)?
        };
        // SAFETY: `p` is a live C string.
        cvt(unsafe { libc::fchownat(dirfd, p.as_ptr(), uid as u32, gid as u32, flags) } as i64)
    }

    pub(crate) fn sys_fchown(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        cvt(unsafe { libc::fchown(fd(a[0]), a[1] as u32, a[2] as u32) } as i64)
    }

    pub(crate) fn sys_utimensat(&self, a: [u64; 6]) -> SysResult {
        let (dirfd, path, times, flags) = (a[0] as i32, a[1], a[2], a[3] as i32);
        let p = if path == 0 {
            None
        } else {
            Some(self.host_path(path)?)
        };
        let ts = if times == 0 {
            None
        } else {
            let b = self.read_bytes(times, 32)?;
            let t = |o: usize| libc::timespec {
                tv_sec: abi::le_u64(&b, o) as _,
                tv_nsec: abi::le_u64(&b, o + 8) as _,
            };
            Some([t(0), t(16)])
        };
        let pp = p.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let tp = ts.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
        // SAFETY: `pp` is null or a live C string; `tp` is null or a live local array of
        // two timespecs.
        cvt(unsafe { libc::syscall(libc::SYS_utimensat, dirfd, pp, tp, flags) })
    }

    pub(crate) fn sys_truncate(&self, a: [u64; 6]) -> SysResult {
        let p = self.host_path(a[0])?;
        // SAFETY: `p` is a live C string.
        cvt(unsafe { libc::truncate(p.as_ptr(), a[1] as i64) } as i64)
    }

    pub(crate) fn sys_ftruncate(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        cvt(unsafe { libc::ftruncate(fd(a[0]), a[1] as i64) } as i64)
    }

    pub(crate) fn sys_fsync(&self, a: [u64; 6], data_only: bool) -> SysResult {
        // SAFETY: integer-only calls.
        let r = unsafe {
            if data_only {
                libc::fdatasync(fd(a[0]))
            } else {
                libc::fsync(fd(a[0]))
            }
        };
        cvt(r as i64)
    }

    pub(crate) fn sys_sync(&self) -> SysResult {
        // SAFETY: no arguments.
        unsafe { libc::sync() };
        Ok(0)
    }

    pub(crate) fn sys_sendfile(&self, a: [u64; 6]) -> SysResult {
        let (out, inp, off_addr, count) = (fd(a[0]), fd(a[1]), a[2], a[3].min(MAX_RW));
        let mut off: libc::off_t = 0;
        if off_addr != 0 {
            off = self.read_u64(off_addr)? as i64;
        }
        let op = if off_addr != 0 {
            &mut off as *mut libc::off_t
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: `op` is null or points at the live local `off`.
        let r = cvt(unsafe { libc::sendfile(out, inp, op, count as usize) } as i64);
        if off_addr != 0 {
            self.write_bytes(off_addr, &(off as u64).to_le_bytes())?;
        }
        r
    }

    pub(crate) fn sys_poll(&self, a: [u64; 6]) -> SysResult {
        let nfds = a[1];
        let p = self.pollfds(a[0], nfds)?;
        // SAFETY: `p` is null (nfds == 0) or addresses `nfds` writable guest pollfds;
        // `struct pollfd` and the POLL* bits are the same on every Linux architecture.
        cvt(unsafe { libc::poll(p.cast(), nfds as libc::nfds_t, a[2] as i32) } as i64)
    }

    fn pollfds(&self, addr: u64, nfds: u64) -> Result<*mut u8, Errno> {
        if nfds > 1 << 20 {
            return Err(Errno::EINVAL);
        }
        if nfds == 0 {
            return Ok(std::ptr::null_mut());
        }
        self.ptr(addr, nfds * 8, Access::Write)
    }

    /// Reads a guest timespec into a host one.
    fn timespec(&self, addr: u64) -> Result<libc::timespec, Errno> {
        let b = self.read_bytes(addr, 16)?;
        Ok(libc::timespec {
            tv_sec: abi::le_u64(&b, 0) as _,
            tv_nsec: abi::le_u64(&b, 8) as _,
        })
    }

    pub(crate) fn sys_ppoll(&self, a: [u64; 6]) -> SysResult {
        // The signal mask argument is ignored: guest signals are not delivered yet.
        let (nfds, tsp) = (a[1], a[2]);
        let p = self.pollfds(a[0], nfds)?;
        let mut ts = if tsp != 0 {
            Some(self.timespec(tsp)?)
        } else {
            None
        };
        let tp = ts
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
        // SAFETY: `p` as in `sys_poll`; `tp` is null or the live local timespec.
        let r = cvt(unsafe {
            libc::syscall(libc::SYS_ppoll, p, nfds, tp, std::ptr::null::<u8>(), 8usize)
        });
        if let Some(t) = ts {
            let _ = self.write_bytes(tsp, &abi::guest_time_pair(t.tv_sec, t.tv_nsec));
        }
        r
    }

    fn fdsets(&self, nfds: u64, sets: [u64; 3]) -> Result<[*mut u8; 3], Errno> {
        if nfds as i64 > 1 << 20 || (nfds as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        let bytes = nfds.div_ceil(64) * 8;
        let mut out = [std::ptr::null_mut(); 3];
        for (o, s) in out.iter_mut().zip(sets) {
            *o = self.ptr_or_null(s, bytes, Access::Write)?;
        }
        Ok(out)
    }

    pub(crate) fn sys_select(&self, a: [u64; 6]) -> SysResult {
        let [r, w, e] = self.fdsets(a[0], [a[1], a[2], a[3]])?;
        let tv = a[4];
        let mut ts = if tv != 0 {
            let b = self.read_bytes(tv, 16)?;
            let (sec, usec) = (abi::le_u64(&b, 0) as i64, abi::le_u64(&b, 8) as i64);
            if sec < 0 || !(0..1_000_000).contains(&usec) {
                return Err(Errno::EINVAL);
            }
            Some(libc::timespec {
                tv_sec: sec as _,
                tv_nsec: (usec * 1000) as _,
            })
        } else {
            None
        };
        let tp = ts
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
        // SAFETY: the fd_set pointers are null or checked guest ranges covering `nfds`
        // bits; `tp` is null or the live local timespec.
        let res = cvt(unsafe {
            libc::syscall(
                libc::SYS_pselect6,
                a[0] as i32,
                r,
                w,
                e,
                tp,
                std::ptr::null::<u8>(),
            )
        });
        if let Some(t) = ts {
            let usec = t.tv_nsec / 1000;
            let _ = self.write_bytes(tv, &abi::guest_time_pair(t.tv_sec, usec));
        }
        res
    }

    pub(crate) fn sys_pselect6(&self, a: [u64; 6]) -> SysResult {
        // The signal mask argument (a[5]) is ignored: guest signals are not delivered yet.
        let [r, w, e] = self.fdsets(a[0], [a[1], a[2], a[3]])?;
        let tsp = a[4];
        let mut ts = if tsp != 0 {
            Some(self.timespec(tsp)?)
        } else {
            None
        };
        let tp = ts
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
        // SAFETY: as in `sys_select`.
        let res = cvt(unsafe {
            libc::syscall(
                libc::SYS_pselect6,
                a[0] as i32,
                r,
                w,
                e,
                tp,
                std::ptr::null::<u8>(),
            )
        });
        if let Some(t) = ts {
            let _ = self.write_bytes(tsp, &abi::guest_time_pair(t.tv_sec, t.tv_nsec));
        }
        res
    }

    pub(crate) fn sys_umask(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        Ok(unsafe { libc::umask(a[0] as libc::mode_t & 0o777) } as u64)
    }

    fn statfs_into(&self, buf: u64, r: libc::c_int, st: MaybeUninit<libc::statfs>) -> SysResult {
        if r != 0 {
            return Err(Errno::last_host());
        }
        // SAFETY: the statfs call returned 0, so it filled the whole structure.
        let st = unsafe { st.assume_init() };
        self.write_bytes(buf, &abi::guest_statfs(&st))?;
        Ok(0)
    }

    pub(crate) fn sys_statfs(&self, a: [u64; 6]) -> SysResult {
        let p = self.host_path(a[0])?;
        let mut st = MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: `p` is a live C string, `st` a local buffer of the right type.
        let r = unsafe { libc::statfs(p.as_ptr(), st.as_mut_ptr()) };
        self.statfs_into(a[1], r, st)
    }

    pub(crate) fn sys_fstatfs(&self, a: [u64; 6]) -> SysResult {
        let mut st = MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: `st` is a local buffer of the right type.
        let r = unsafe { libc::fstatfs(fd(a[0]), st.as_mut_ptr()) };
        self.statfs_into(a[1], r, st)
    }

    pub(crate) fn sys_flock(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call (LOCK_* values are the same everywhere).
        cvt(unsafe { libc::flock(fd(a[0]), a[1] as i32) } as i64)
    }

    pub(crate) fn sys_fadvise(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        let r = unsafe { libc::posix_fadvise(fd(a[0]), a[1] as i64, a[2] as i64, a[3] as i32) };
        if r != 0 {
            Err(Errno(r))
        } else {
            Ok(0)
        }
    }

    pub(crate) fn sys_memfd_create(&self, a: [u64; 6]) -> SysResult {
        let name = CString::new(self.space.read_cstr(a[0], 249)?).expect("no NUL");
        // SAFETY: `name` is a live C string; MFD_* flags are the same everywhere.
        cvt(unsafe { libc::memfd_create(name.as_ptr(), a[1] as u32) } as i64)
    }
}
