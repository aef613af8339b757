//! Process, identity, time, signal, futex and memory syscalls.

use crate::abi::{self, sig, DefaultAction, Le};
use crate::host::{self, cvt};
use crate::nr;
use crate::process::{CloneRequest, GuestSigaction, Process, SysResult, SyscallOutcome, ThreadCtx};
use guest_memory::consts::MAP_ANONYMOUS;
use guest_memory::{Access, Errno};
use std::mem::MaybeUninit;

/// `clone` flags (x86-64 / generic values).
pub mod clone_flags {
    /// Share the address space.
    pub const CLONE_VM: u64 = 0x100;
    /// Share signal handlers.
    pub const CLONE_SIGHAND: u64 = 0x800;
    /// Parent sleeps until the child execs or exits.
    pub const CLONE_VFORK: u64 = 0x4000;
    /// Same thread group.
    pub const CLONE_THREAD: u64 = 0x10000;
    /// Set the TLS (fs base).
    pub const CLONE_SETTLS: u64 = 0x80000;
    /// Store the child tid in the parent.
    pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
    /// Clear the child tid at exit.
    pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
    /// Store the child tid in the child.
    pub const CLONE_CHILD_SETTID: u64 = 0x100_0000;
    /// Exit signal mask.
    pub const CSIGNAL: u64 = 0xff;
}

const fn sigbit(s: i32) -> u64 {
    1 << (s - 1)
}

/// Signals that can never be blocked or caught.
const UNBLOCKABLE: u64 = sigbit(sig::SIGKILL) | sigbit(sig::SIGSTOP);

impl Process {
    pub(crate) fn sys_mmap(&self, a: [u64; 6]) -> SysResult {
        let flags = a[3] as u32;
        let fd = (flags & MAP_ANONYMOUS == 0).then_some(a[4] as i32);
        self.space.mmap(a[0], a[1], a[2] as u32, flags, fd, a[5])
    }

    /// `exit`: release the thread's robust futexes, zero and wake `clear_child_tid` (in the
    /// kernel's order at thread exit), then let the caller end the thread.
    pub(crate) fn sys_exit(&self, t: &mut ThreadCtx, code: i32) -> SyscallOutcome {
        self.exit_robust_list(t);
        if t.clear_child_tid != 0 && self.space.write_u32(t.clear_child_tid, 0).is_ok() {
            if let Ok(p) = self.ptr(t.clear_child_tid, 4, Access::Write) {
                // SAFETY: `p` addresses a mapped, 4-byte guest word; FUTEX_WAKE only reads
                // the address as a key.
                unsafe { libc::syscall(libc::SYS_futex, p, libc::FUTEX_WAKE, 1, 0, 0, 0) };
            }
        }
        SyscallOutcome::Exit(code)
    }

    /// What the kernel's `exit_robust_list` does for a dying thread: every robust futex the
    /// thread still owns (listed from `set_robust_list`'s head, plus the one it was about to
    /// take or release) gets `FUTEX_OWNER_DIED`, and one waiter is woken, so that the next
    /// locker sees `EOWNERDEAD` instead of hanging. A malformed list ends the walk, as in
    /// Linux, after at most `ROBUST_LIST_LIMIT` entries.
    pub(crate) fn exit_robust_list(&self, t: &ThreadCtx) {
        const ROBUST_LIST_LIMIT: usize = 2048;
        let head = t.robust_list_head;
        if head == 0 {
            return;
        }
        // struct robust_list_head { next; long futex_offset; list_op_pending; }
        // Bit 0 of a list pointer flags a priority-inheritance futex; the word is handled
        // the same way here.
        let (Ok(mut entry), Ok(offset), Ok(pending)) = (
            self.read_u64(head).map(|e| e & !1),
            self.read_u64(head + 8),
            self.read_u64(head + 16).map(|e| e & !1),
        ) else {
            return;
        };
        let mut seen = 0;
        while entry != head && seen < ROBUST_LIST_LIMIT {
            // Read the next link first: waking a waiter lets it free this entry.
            let Ok(next) = self.read_u64(entry).map(|e| e & !1) else {
                return;
            };
            if entry != pending {
                self.release_robust_futex(entry.wrapping_add(offset), t.tid);
            }
            entry = next;
            seen += 1;
        }
        if pending != 0 {
            self.release_robust_futex(pending.wrapping_add(offset), t.tid);
        }
    }

    /// Marks the robust futex at `uaddr` as owned by a dead thread if `tid` owns it.
    fn release_robust_futex(&self, uaddr: u64, tid: i32) {
        const FUTEX_WAITERS: u32 = 0x8000_0000;
        const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
        const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
        if uaddr % 4 != 0 {
            return;
        }
        let Ok(p) = self.ptr(uaddr, 4, Access::Write) else {
            return;
        };
        // SAFETY: `p` is a 4-aligned host address of a mapped, writable guest word inside the
        // reservation; other guest threads access it only atomically (futex protocol).
        let word = unsafe { std::sync::atomic::AtomicU32::from_ptr(p.cast::<u32>()) };
        let mut cur = word.load(std::sync::atomic::Ordering::SeqCst);
        loop {
            if cur & FUTEX_TID_MASK != tid as u32 {
                return;
            }
            let new = (cur & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
            match word.compare_exchange(
                cur,
                new,
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur & FUTEX_WAITERS != 0 {
            // SAFETY: FUTEX_WAKE only uses the address as a key.
            unsafe { libc::syscall(libc::SYS_futex, p, libc::FUTEX_WAKE, 1, 0, 0, 0) };
        }
    }

    pub(crate) fn sys_getgroups(&self, a: [u64; 6]) -> SysResult {
        let n = a[0] as i32;
        if n < 0 {
            return Err(Errno::EINVAL);
        }
        let p = if n == 0 {
            std::ptr::null_mut()
        } else {
            self.ptr(a[1], n as u64 * 4, Access::Write)?
        };
        // SAFETY: `p` is null (size 0) or addresses `n` writable guest gid_t slots.
        cvt(unsafe { libc::syscall(libc::SYS_getgroups, n, p) })
    }

    pub(crate) fn sys_setgroups(&self, a: [u64; 6]) -> SysResult {
        let n = a[0] as i32;
        if !(0..=65536).contains(&n) {
            return Err(Errno::EINVAL);
        }
        let p = self.ptr_or_null(a[1], n as u64 * 4, Access::Read)?;
        // SAFETY: `p` is null or addresses `n` readable guest gid_t values. The raw
        // syscall changes only this thread, as the guest's libc expects.
        cvt(unsafe { libc::syscall(libc::SYS_setgroups, n, p) })
    }

    /// The set*id family, passed through as raw per-thread syscalls (the guest libc does
    /// its own cross-thread broadcast).
    pub(crate) fn sys_setid(&self, n: u64, a: [u64; 6]) -> SysResult {
        let (hnr, argc) = match n {
            nr::SETUID => (libc::SYS_setuid, 1),
            nr::SETGID => (libc::SYS_setgid, 1),
            nr::SETREUID => (libc::SYS_setreuid, 2),
            nr::SETREGID => (libc::SYS_setregid, 2),
            nr::SETRESUID => (libc::SYS_setresuid, 3),
            nr::SETRESGID => (libc::SYS_setresgid, 3),
            nr::SETFSUID => (libc::SYS_setfsuid, 1),
            _ => (libc::SYS_setfsgid, 1),
        };
        let v = |i: usize| if i < argc { a[i] as u32 } else { 0 };
        // SAFETY: these syscalls take only integer ids.
        cvt(unsafe { libc::syscall(hnr, v(0), v(1), v(2)) })
    }

    pub(crate) fn sys_getresid(&self, n: u64, a: [u64; 6]) -> SysResult {
        let mut ids = [0u32; 3];
        let hnr = if n == nr::GETRESUID {
            libc::SYS_getresuid
        } else {
            libc::SYS_getresgid
        };
        let [p0, p1, p2] = ids.each_mut().map(|r| r as *mut u32);
        // SAFETY: the three pointers address the live local array `ids`.
        cvt(unsafe { libc::syscall(hnr, p0, p1, p2) })?;
        for (i, id) in ids.iter().enumerate() {
            self.write_bytes(a[i], &id.to_le_bytes())?;
        }
        Ok(0)
    }

    pub(crate) fn sys_getpgid(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        cvt(unsafe { libc::getpgid(a[0] as i32) } as i64)
    }

    pub(crate) fn sys_setpgid(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        cvt(unsafe { libc::setpgid(a[0] as i32, a[1] as i32) } as i64)
    }

    pub(crate) fn sys_getsid(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: integer-only call.
        cvt(unsafe { libc::getsid(a[0] as i32) } as i64)
    }

    pub(crate) fn sys_setsid(&self) -> SysResult {
        // SAFETY: no arguments.
        cvt(unsafe { libc::setsid() } as i64)
    }

    /// `uname`: the host's answers, except `machine`, which is `x86_64`.
    pub(crate) fn sys_uname(&self, a: [u64; 6]) -> SysResult {
        let mut u = MaybeUninit::<libc::utsname>::uninit();
        // SAFETY: `u` is a local buffer of the right type.
        if unsafe { libc::uname(u.as_mut_ptr()) } != 0 {
            return Err(Errno::last_host());
        }
        // SAFETY: uname returned 0, so it filled the structure.
        let u = unsafe { u.assume_init() };
        let mut out = vec![0u8; 6 * 65];
        let fields: [&[libc::c_char]; 6] = [
            &u.sysname,
            &u.nodename,
            &u.release,
            &u.version,
            &u.machine,
            &u.domainname,
        ];
        for (i, f) in fields.iter().enumerate() {
            let bytes: Vec<u8> = if i == 4 {
                b"x86_64".to_vec()
            } else {
                f.iter()
                    .take_while(|c| **c != 0)
                    // c_char is i8 on x86-64 and u8 on aarch64/riscv64: keep the bits.
                    .map(|c| c.to_ne_bytes()[0])
                    .collect()
            };
            let n = bytes.len().min(64);
            out[i * 65..i * 65 + n].copy_from_slice(&bytes[..n]);
        }
        self.write_bytes(a[0], &out)?;
        Ok(0)
    }

    /// `prlimit64` (and `getrlimit`/`setrlimit` through it); `struct rlimit64` is two
    /// 64-bit words on both sides and `RLIMIT_*` numbers are the generic ones.
    pub(crate) fn sys_prlimit(&self, pid: i32, res: u32, new: u64, old: u64) -> SysResult {
        let mut newv = [0u64; 2];
        if new != 0 {
            newv = [self.read_u64(new)?, self.read_u64(new + 8)?];
        }
        let mut oldv = [0u64; 2];
        let np = if new != 0 {
            newv.as_ptr()
        } else {
            std::ptr::null()
        };
        let op = if old != 0 {
            oldv.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: `np`/`op` are null or point at live local two-word arrays.
        cvt(unsafe { libc::syscall(libc::SYS_prlimit64, pid, res, np, op) })?;
        if old != 0 {
            let mut b = Le::new(16);
            b.u64(0, oldv[0]).u64(8, oldv[1]);
            self.write_bytes(old, &b.buf)?;
        }
        Ok(0)
    }

    pub(crate) fn sys_getrusage(&self, a: [u64; 6]) -> SysResult {
        let mut r = MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: `r` is a local buffer of the right type.
        if unsafe { libc::getrusage(a[0] as i32, r.as_mut_ptr()) } != 0 {
            return Err(Errno::last_host());
        }
        // SAFETY: getrusage returned 0, so it filled the structure.
        let r = unsafe { r.assume_init() };
        self.write_bytes(a[1], &abi::guest_rusage(&r))?;
        Ok(0)
    }

    #[allow(clippy::unnecessary_cast)] // clock_t varies between hosts
    pub(crate) fn sys_times(&self, a: [u64; 6]) -> SysResult {
        let mut t = MaybeUninit::<libc::tms>::uninit();
        // SAFETY: `t` is a local buffer of the right type.
        let ticks = unsafe { libc::times(t.as_mut_ptr()) };
        if ticks as i64 == -1 {
            return Err(Errno::last_host());
        }
        // SAFETY: times succeeded, so it filled the structure.
        let t = unsafe { t.assume_init() };
        if a[0] != 0 {
            let mut b = Le::new(32);
            b.u64(0, t.tms_utime as u64)
                .u64(8, t.tms_stime as u64)
                .u64(16, t.tms_cutime as u64)
                .u64(24, t.tms_cstime as u64);
            self.write_bytes(a[0], &b.buf)?;
        }
        Ok(ticks as u64)
    }

    pub(crate) fn sys_getrandom(&self, a: [u64; 6]) -> SysResult {
        let n = a[1].min(0x200_0000);
        let p = self.ptr(a[0], n, Access::Write)?;
        // SAFETY: `p` addresses `n` writable guest bytes; GRND_* flags are the same
        // everywhere.
        cvt(unsafe { libc::getrandom(p.cast(), n as usize, a[2] as u32) } as i64)
    }

    pub(crate) fn sys_clock_gettime(&self, a: [u64; 6], res: bool) -> SysResult {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a live local timespec; clock ids are the same everywhere.
        let r = unsafe {
            if res {
                libc::clock_getres(a[0] as i32, &mut ts)
            } else {
                libc::clock_gettime(a[0] as i32, &mut ts)
            }
        };
        cvt(r as i64)?;
        if a[1] != 0 || !res {
            self.write_bytes(a[1], &abi::guest_time_pair(ts.tv_sec, ts.tv_nsec))?;
        }
        Ok(0)
    }

    pub(crate) fn sys_gettimeofday(&self, a: [u64; 6]) -> SysResult {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: `tv` is a live local timeval; the timezone argument is null.
        cvt(unsafe { libc::gettimeofday(&mut tv, std::ptr::null_mut()) } as i64)?;
        if a[0] != 0 {
            self.write_bytes(a[0], &abi::guest_time_pair(tv.tv_sec, tv.tv_usec))?;
        }
        if a[1] != 0 {
            // struct timezone: minutes west and DST type, both 0 (UTC) as on most kernels.
            self.write_bytes(a[1], &[0; 8])?;
        }
        Ok(0)
    }

    pub(crate) fn sys_time(&self, a: [u64; 6]) -> SysResult {
        // SAFETY: a null argument makes time() only return the value.
        let t = unsafe { libc::time(std::ptr::null_mut()) } as i64;
        if a[0] != 0 {
            self.write_bytes(a[0], &t.to_le_bytes())?;
        }
        Ok(t as u64)
    }

    pub(crate) fn sys_nanosleep(&self, a: [u64; 6]) -> SysResult {
        let req = self.read_timespec(a[0])?;
        let mut rem = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `req` and `rem` are live local timespecs.
        let r = cvt(unsafe { libc::nanosleep(&req, &mut rem) } as i64);
        if r == Err(Errno::EINTR) && a[1] != 0 {
            self.write_bytes(a[1], &abi::guest_time_pair(rem.tv_sec, rem.tv_nsec))?;
        }
        r
    }

    pub(crate) fn sys_clock_nanosleep(&self, a: [u64; 6]) -> SysResult {
        let req = self.read_timespec(a[2])?;
        let mut rem = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `req` and `rem` are live local timespecs; TIMER_ABSTIME is 1 everywhere.
        let e = unsafe { libc::clock_nanosleep(a[0] as i32, a[1] as i32, &req, &mut rem) };
        if e == 0 {
            return Ok(0);
        }
        if e == libc::EINTR && a[3] != 0 && a[1] & 1 == 0 {
            self.write_bytes(a[3], &abi::guest_time_pair(rem.tv_sec, rem.tv_nsec))?;
        }
        Err(Errno(e))
    }

    fn read_timespec(&self, addr: u64) -> Result<libc::timespec, Errno> {
        let b = self.read_bytes(addr, 16)?;
        Ok(libc::timespec {
            tv_sec: abi::le_u64(&b, 0) as _,
            tv_nsec: abi::le_u64(&b, 8) as _,
        })
    }

    pub(crate) fn sys_arch_prctl(&self, t: &mut ThreadCtx, a: [u64; 6]) -> SysResult {
        const ARCH_SET_GS: u64 = 0x1001;
        const ARCH_SET_FS: u64 = 0x1002;
        const ARCH_GET_FS: u64 = 0x1003;
        const ARCH_GET_GS: u64 = 0x1004;
        match a[0] {
            ARCH_SET_FS => t.fs_base = a[1],
            ARCH_SET_GS => t.gs_base = a[1],
            ARCH_GET_FS => self.write_bytes(a[1], &t.fs_base.to_le_bytes())?,
            ARCH_GET_GS => self.write_bytes(a[1], &t.gs_base.to_le_bytes())?,
            _ => return Err(Errno::EINVAL),
        }
        Ok(0)
    }

    /// `rt_sigaction`: records the guest's action (no host handler is installed).
    pub(crate) fn sys_rt_sigaction(&self, _t: &mut ThreadCtx, a: [u64; 6]) -> SysResult {
        let (signo, act, oact, size) = (a[0] as i32, a[1], a[2], a[3]);
        if size != 8 || !(1..=sig::NSIG).contains(&signo) {
            return Err(Errno::EINVAL);
        }
        if act != 0 && (signo == sig::SIGKILL || signo == sig::SIGSTOP) {
            return Err(Errno::EINVAL);
        }
        let new = if act != 0 {
            let b = self.read_bytes(act, 32)?;
            Some(GuestSigaction {
                handler: abi::le_u64(&b, 0),
                flags: abi::le_u64(&b, 8),
                restorer: abi::le_u64(&b, 16),
                mask: abi::le_u64(&b, 24) & !UNBLOCKABLE,
            })
        } else {
            None
        };
        let old = {
            let mut table = self.lock(&self.sigactions);
            let slot = &mut table[signo as usize - 1];
            let old = *slot;
            if let Some(n) = new {
                *slot = n;
            }
            old
        };
        if oact != 0 {
            let mut b = Le::new(32);
            b.u64(0, old.handler)
                .u64(8, old.flags)
                .u64(16, old.restorer)
                .u64(24, old.mask);
            self.write_bytes(oact, &b.buf)?;
        }
        Ok(0)
    }

    /// `rt_sigprocmask`: records the mask in the thread (host signals are unaffected).
    pub(crate) fn sys_rt_sigprocmask(&self, t: &mut ThreadCtx, a: [u64; 6]) -> SysResult {
        let (how, set, oset, size) = (a[0], a[1], a[2], a[3]);
        if size != 8 {
            return Err(Errno::EINVAL);
        }
        let old = t.signal_mask;
        if set != 0 {
            let s = self.read_u64(set)?;
            let m = match how {
                0 => old | s,
                1 => old & !s,
                2 => s,
                _ => return Err(Errno::EINVAL),
            };
            t.signal_mask = m & !UNBLOCKABLE;
        }
        if oset != 0 {
            self.write_bytes(oset, &old.to_le_bytes())?;
        }
        Ok(0)
    }

    pub(crate) fn sys_rt_sigpending(&self, t: &mut ThreadCtx, a: [u64; 6]) -> SysResult {
        if a[1] > 8 {
            return Err(Errno::EINVAL);
        }
        let v = t.pending_signals.to_le_bytes();
        self.write_bytes(a[0], &v[..a[1] as usize])?;
        Ok(0)
    }

    /// `sigaltstack`: guest `stack_t` is sp@0 flags@8 size@16 (24 bytes).
    pub(crate) fn sys_sigaltstack(&self, t: &mut ThreadCtx, a: [u64; 6]) -> SysResult {
        const SS_ONSTACK: u32 = 1;
        const SS_DISABLE: u32 = 2;
        const SS_AUTODISARM: u32 = 1 << 31;
        let new = if a[0] != 0 {
            let b = self.read_bytes(a[0], 24)?;
            let (sp, flags, size) = (abi::le_u64(&b, 0), abi::le_u32(&b, 8), abi::le_u64(&b, 16));
            let mode = flags & !SS_AUTODISARM;
            if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
                return Err(Errno::EINVAL);
            }
            Some(if mode == SS_DISABLE {
                crate::process::AltStack {
                    sp: 0,
                    flags: SS_DISABLE,
                    size: 0,
                }
            } else {
                if size < crate::loader::MINSIGSTKSZ {
                    return Err(Errno::ENOMEM);
                }
                crate::process::AltStack {
                    sp,
                    flags: flags & SS_AUTODISARM,
                    size,
                }
            })
        } else {
            None
        };
        if a[1] != 0 {
            let o = t.altstack;
            let mut b = Le::new(24);
            b.u64(0, o.sp).u32(8, o.flags).u64(16, o.size);
            self.write_bytes(a[1], &b.buf)?;
        }
        if let Some(n) = new {
            t.altstack = n;
        }
        Ok(0)
    }

    /// `sched_getaffinity`: reports CPUs `0..cpu_count` whatever the pid.
    pub(crate) fn sys_sched_getaffinity(&self, a: [u64; 6]) -> SysResult {
        let len = a[1];
        let cpus = self.config.cpu_count.max(1) as u64;
        let need = cpus.div_ceil(64) * 8;
        if len.saturating_mul(8) < cpus || len % 8 != 0 {
            return Err(Errno::EINVAL);
        }
        let ret = need.min(len);
        let mut mask = vec![0u8; ret as usize];
        for c in 0..cpus.min(ret * 8) {
            mask[(c / 8) as usize] |= 1 << (c % 8);
        }
        self.write_bytes(a[2], &mask)?;
        Ok(ret)
    }

    /// `sched_setaffinity`: accepted and ignored (the mask is checked for readability).
    pub(crate) fn sys_sched_setaffinity(&self, a: [u64; 6]) -> SysResult {
        self.ptr(a[2], a[1].min(1 << 16), Access::Read)?;
        Ok(0)
    }

    pub(crate) fn sys_sched_yield(&self) -> SysResult {
        std::thread::yield_now();
        Ok(0)
    }

    /// `sysinfo`: x86-64 layout uptime@0 loads@8 totalram@32 freeram@40 sharedram@48
    /// bufferram@56 totalswap@64 freeswap@72 procs@80 totalhigh@88 freehigh@96
    /// mem_unit@104 (112 bytes).
    #[allow(clippy::unnecessary_cast)] // field types vary between hosts
    pub(crate) fn sys_sysinfo(&self, a: [u64; 6]) -> SysResult {
        let mut s = MaybeUninit::<libc::sysinfo>::uninit();
        // SAFETY: `s` is a local buffer of the right type.
        if unsafe { libc::sysinfo(s.as_mut_ptr()) } != 0 {
            return Err(Errno::last_host());
        }
        // SAFETY: sysinfo returned 0, so it filled the structure.
        let s = unsafe { s.assume_init() };
        let mut b = Le::new(112);
        b.u64(0, s.uptime as u64)
            .u64(8, s.loads[0] as u64)
            .u64(16, s.loads[1] as u64)
            .u64(24, s.loads[2] as u64)
            .u64(32, s.totalram as u64)
            .u64(40, s.freeram as u64)
            .u64(48, s.sharedram as u64)
            .u64(56, s.bufferram as u64)
            .u64(64, s.totalswap as u64)
            .u64(72, s.freeswap as u64)
            .u16(80, s.procs)
            .u64(88, s.totalhigh as u64)
            .u64(96, s.freehigh as u64)
            .u32(104, s.mem_unit);
        self.write_bytes(a[0], &b.buf)?;
        Ok(0)
    }

    /// `prctl`: only `PR_SET_NAME` / `PR_GET_NAME` (kept per thread); others `EINVAL`.
    pub(crate) fn sys_prctl(&self, t: &mut ThreadCtx, a: [u64; 6]) -> SysResult {
        const PR_SET_NAME: u64 = 15;
        const PR_GET_NAME: u64 = 16;
        match a[0] {
            PR_SET_NAME => {
                let mut name = [0u8; 16];
                for (i, slot) in name.iter_mut().take(15).enumerate() {
                    let c = self
                        .space
                        .read_u8(a[1] + i as u64)
                        .map_err(|_| Errno::EFAULT)?;
                    if c == 0 {
                        break;
                    }
                    *slot = c;
                }
                t.name = name;
                Ok(0)
            }
            PR_GET_NAME => {
                self.write_bytes(a[1], &t.name)?;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn sys_wait4(&self, a: [u64; 6]) -> SysResult {
        let (pid, status, options, ru) = (a[0] as i32, a[1], a[2] as i32, a[3]);
        let mut st: libc::c_int = 0;
        let mut r = MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `st` and `r` are live locals of the types wait4 writes.
        let child = cvt(unsafe { libc::wait4(pid, &mut st, options, r.as_mut_ptr()) } as i64)?;
        if child != 0 {
            if status != 0 {
                self.write_bytes(status, &(st as u32).to_le_bytes())?;
            }
            if ru != 0 {
                // SAFETY: zero-initialised and possibly filled by wait4: always valid.
                let r = unsafe { r.assume_init() };
                self.write_bytes(ru, &abi::guest_rusage(&r))?;
            }
        }
        Ok(child)
    }

    /// `waitid`: `siginfo_t` has the same layout on every supported (little-endian)
    /// host, so the guest buffer is handed to the kernel.
    pub(crate) fn sys_waitid(&self, a: [u64; 6]) -> SysResult {
        let info = self.ptr_or_null(a[2], 128, Access::Write)?;
        let mut r = MaybeUninit::<libc::rusage>::zeroed();
        let rp = if a[4] != 0 {
            r.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: `info` is null or 128 writable guest bytes; `rp` is null or a live local.
        cvt(unsafe {
            libc::syscall(
                libc::SYS_waitid,
                a[0] as i32,
                a[1] as i32,
                info,
                a[3] as i32,
                rp,
            )
        })?;
        if a[4] != 0 {
            // SAFETY: zero-initialised and possibly filled by waitid: always valid.
            let r = unsafe { r.assume_init() };
            self.write_bytes(a[4], &abi::guest_rusage(&r))?;
        }
        Ok(0)
    }

    pub(crate) fn sys_get_robust_list(&self, t: &mut ThreadCtx, a: [u64; 6]) -> SysResult {
        if a[0] != 0 && a[0] as i32 != t.tid {
            return Err(Errno::EPERM);
        }
        self.write_bytes(a[1], &t.robust_list_head.to_le_bytes())?;
        self.write_bytes(a[2], &t.robust_list_len.to_le_bytes())?;
        Ok(0)
    }

    /// `futex`: passed to the host futex on the host address of the guest word, so it
    /// works between threads and processes sharing the memory. Timeouts are converted.
    pub(crate) fn sys_futex(&self, a: [u64; 6]) -> SysResult {
        let (uaddr, op, val, arg4, uaddr2, val3) = (a[0], a[1] as i32, a[2], a[3], a[4], a[5]);
        let cmd = op & 0x7f;
        // Commands whose 4th argument is a timeout pointer, and those using uaddr2.
        let timeout_cmd = matches!(cmd, 0 | 6 | 9 | 11 | 13);
        let uses_uaddr2 = matches!(cmd, 3 | 4 | 5 | 11 | 12);
        if !(0..=13).contains(&cmd) || cmd == 2 {
            return Err(Errno::ENOSYS);
        }
        let p1 = self.ptr(uaddr, 4, Access::Read)?;
        let p2 = if uses_uaddr2 {
            self.ptr(uaddr2, 4, Access::Read)?
        } else {
            std::ptr::null_mut()
        };
        let mut ts = if timeout_cmd && arg4 != 0 {
            Some(self.read_timespec(arg4)?)
        } else {
            None
        };
        let a4: usize = match ts.as_mut() {
            Some(t) => t as *mut libc::timespec as usize,
            None if timeout_cmd => 0,
            None => arg4 as usize,
        };
        // SAFETY: `p1`/`p2` are null or addresses of mapped 4-byte guest words inside the
        // reservation; `a4` is an integer or the address of the live local timespec.
        cvt(unsafe { libc::syscall(libc::SYS_futex, p1, op, val as u32, a4, p2, val3 as u32) })
    }

    /// `getcpu`: the host CPU folded into `0..cpu_count`, node 0.
    pub(crate) fn sys_getcpu(&self, a: [u64; 6]) -> SysResult {
        let mut cpu: u32 = 0;
        let mut node: u32 = 0;
        // SAFETY: both pointers address live locals; the cache argument is null.
        cvt(unsafe {
            libc::syscall(
                libc::SYS_getcpu,
                &mut cpu as *mut u32,
                &mut node as *mut u32,
                0usize,
            )
        })?;
        let cpu = cpu % self.config.cpu_count.max(1) as u32;
        if a[0] != 0 {
            self.write_bytes(a[0], &cpu.to_le_bytes())?;
        }
        if a[1] != 0 {
            self.write_bytes(a[1], &0u32.to_le_bytes())?;
        }
        Ok(0)
    }

    /// kill / tkill / tgkill. A signal to this very thread or process whose action is
    /// the fatal default ends in [`SyscallOutcome::KillSelf`]; one with a guest handler,
    /// or blocked by the thread's mask, is recorded as pending in the thread (delivery
    /// belongs to the vCPU layer);
    /// ignored ones do nothing. Signals to other processes, process groups or threads go
    /// to the host.
    pub(crate) fn sys_kill(&self, t: &mut ThreadCtx, n: u64, a: [u64; 6]) -> SyscallOutcome {
        let pid = host::getpid();
        let (to_self, signo) = match n {
            nr::KILL => (a[0] as i32 == pid, a[1] as i32),
            nr::TKILL => (a[0] as i32 == t.tid, a[1] as i32),
            _ => (a[0] as i32 == pid && a[1] as i32 == t.tid, a[2] as i32),
        };
        if !(0..=sig::NSIG).contains(&signo) {
            return SyscallOutcome::from_result(Err(Errno::EINVAL));
        }
        if to_self {
            if signo == 0 {
                return SyscallOutcome::Return(0);
            }
            return self.signal_self(t, signo);
        }
        // SAFETY: integer-only calls.
        let r = unsafe {
            match n {
                nr::KILL => libc::kill(a[0] as i32, signo) as i64,
                nr::TKILL => libc::syscall(libc::SYS_tkill, a[0] as i32, signo),
                _ => libc::syscall(libc::SYS_tgkill, a[0] as i32, a[1] as i32, signo),
            }
        };
        SyscallOutcome::from_result(cvt(r))
    }

    /// Acts on signals that are pending and no longer blocked, as the kernel does when a
    /// thread unblocks them: ignored ones are dropped, and the first whose default action
    /// terminates is returned for the caller to die of. Signals with a guest handler stay
    /// pending (handlers are not delivered yet).
    pub fn take_fatal_pending_signal(&self, t: &mut ThreadCtx) -> Option<i32> {
        let mut ready = t.pending_signals & !t.signal_mask;
        while ready != 0 {
            let signo = ready.trailing_zeros() as i32 + 1;
            ready &= ready - 1;
            let act = self.sigaction(signo).unwrap_or_default();
            let action = if act.handler == sig::SIG_IGN {
                DefaultAction::Ignore
            } else if act.handler == sig::SIG_DFL {
                abi::default_action(signo)
            } else {
                continue;
            };
            t.pending_signals &= !sigbit(signo);
            if action == DefaultAction::Terminate {
                return Some(signo);
            }
        }
        None
    }

    fn signal_self(&self, t: &mut ThreadCtx, signo: i32) -> SyscallOutcome {
        let act = self.sigaction(signo).unwrap_or_default();
        let uncatchable = signo == sig::SIGKILL || signo == sig::SIGSTOP;
        if !uncatchable && act.handler == sig::SIG_IGN {
            return SyscallOutcome::Return(0);
        }
        if !uncatchable && t.signal_mask & sigbit(signo) != 0 {
            // Blocked: stays pending for the vCPU layer to act on once unblocked.
            t.pending_signals |= sigbit(signo);
            return SyscallOutcome::Return(0);
        }
        if uncatchable || act.handler == sig::SIG_DFL {
            return match abi::default_action(signo) {
                DefaultAction::Terminate => SyscallOutcome::KillSelf(signo),
                DefaultAction::Ignore | DefaultAction::Continue => SyscallOutcome::Return(0),
                DefaultAction::Stop => {
                    // SAFETY: integer-only call; stopping the whole emulator is exactly
                    // what stopping the guest process means.
                    unsafe { libc::kill(host::getpid(), signo) };
                    SyscallOutcome::Return(0)
                }
            };
        }
        t.pending_signals |= sigbit(signo);
        SyscallOutcome::Return(0)
    }

    /// clone / fork / vfork.
    ///
    /// With `CLONE_VM | CLONE_THREAD` the request goes to the vCPU layer
    /// ([`SyscallOutcome::NewThread`]). Without `CLONE_VM` (and for `CLONE_VM |
    /// CLONE_VFORK`, as `posix_spawn` uses) the host process forks, so the child gets a
    /// copy of the guest memory; for `CLONE_VFORK` the parent waits until the child execs
    /// or exits ([`SyscallOutcome::VforkParent`]). A vfork child's writes to memory are therefore not seen by the parent.
    /// The caller forks with every other thread of the emulator stopped outside its locks
    /// (the vCPU layer's exclusive section for translated code, `GuestSpace::lock_for_fork`
    /// for syscalls); `CLONE_VM` without
    /// `CLONE_THREAD` or `CLONE_VFORK` is `ENOSYS`.
    pub(crate) fn sys_clone(
        &self,
        t: &mut ThreadCtx,
        flags: u64,
        newsp: u64,
        parent_tid: u64,
        child_tid: u64,
        tls: u64,
    ) -> SyscallOutcome {
        use clone_flags::*;
        if flags & CLONE_VM != 0 && flags & CLONE_THREAD != 0 {
            return SyscallOutcome::NewThread(CloneRequest {
                flags,
                stack: newsp,
                parent_tid,
                child_tid,
                tls,
            });
        }
        if flags & CLONE_THREAD != 0 || flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
            return SyscallOutcome::from_result(Err(Errno::EINVAL));
        }
        if flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0 {
            return SyscallOutcome::from_result(Err(Errno::ENOSYS));
        }
        let vfork = flags & CLONE_VFORK != 0;
        // For vfork: the child holds the write end (close-on-exec) of a pipe; the parent
        // reads until EOF, which comes when the child execs or exits.
        let mut pipe = [-1 as libc::c_int; 2];
        // SAFETY: `pipe` is a live local array of two ints.
        if vfork && unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            pipe = [-1, -1];
        }
        let exit_signal = (flags & CSIGNAL) as i32;
        // SAFETY: the other threads of the emulator are stopped outside its locks (the
        // caller's exclusive section and `GuestSpace::lock_for_fork`), so the child's copy of
        // the emulator's state is consistent; with the usual
        // SIGCHLD exit signal libc's fork() runs its at-fork handlers (the allocator's),
        // otherwise a raw clone sets the exit signal.
        let child = unsafe {
            if exit_signal == sig::SIGCHLD {
                libc::fork() as i64
            } else {
                libc::syscall(
                    libc::SYS_clone,
                    exit_signal as u64,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            }
        };
        if child < 0 {
            let e = Errno::last_host();
            close_pair(pipe);
            return SyscallOutcome::from_result(Err(e));
        }
        if child == 0 {
            if pipe[0] >= 0 {
                // SAFETY: closing our own pipe's read end in the child.
                unsafe { libc::close(pipe[0]) };
            }
            t.tid = host::gettid();
            if flags & CLONE_CHILD_SETTID != 0 {
                let _ = self.space.write_u32(child_tid, t.tid as u32);
            }
            if flags & CLONE_CHILD_CLEARTID != 0 {
                t.clear_child_tid = child_tid;
            }
            if flags & CLONE_SETTLS != 0 {
                t.fs_base = tls;
            }
            return SyscallOutcome::ChildReturn {
                new_sp: (newsp != 0).then_some(newsp),
            };
        }
        if flags & CLONE_PARENT_SETTID != 0 {
            let _ = self.space.write_u32(parent_tid, child as u32);
        }
        if pipe[1] >= 0 {
            // SAFETY: closing our own write end; the read end goes to the outcome.
            unsafe { libc::close(pipe[1]) };
            return SyscallOutcome::VforkParent {
                child: child as u32,
                exec_wait: pipe[0],
            };
        }
        SyscallOutcome::Return(child as u64)
    }
}

impl Process {
    /// `clone3`: the `struct clone_args` form of [`Self::sys_clone`]. The extensions clone
    /// cannot express (pidfd, set_tid, cgroup) are refused with `EINVAL`, which makes libc
    /// fall back to `clone` where it can.
    pub(crate) fn sys_clone3(&self, t: &mut ThreadCtx, args: u64, size: u64) -> SyscallOutcome {
        const CLONE_ARGS_SIZE_VER0: u64 = 64;
        const CLONE_PIDFD: u64 = 0x1000;
        const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
        if !(CLONE_ARGS_SIZE_VER0..=4096).contains(&size) {
            return SyscallOutcome::from_result(Err(Errno::EINVAL));
        }
        let Ok(raw) = self.read_bytes(args, size as usize) else {
            return SyscallOutcome::from_result(Err(Errno::EFAULT));
        };
        let field = |i: usize| {
            raw.get(i * 8..i * 8 + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        // Field 1 (pidfd) matters only with CLONE_PIDFD, which is refused.
        let (flags, child_tid, parent_tid, exit_signal) = (field(0), field(2), field(3), field(4));
        let (stack, stack_size, tls, set_tid_size, cgroup) =
            (field(5), field(6), field(7), field(9), field(10));
        // Fields beyond those we know must be zero, as the kernel checks.
        let unknown_nonzero = raw.iter().skip(88).any(|&b| b != 0);
        if flags & (CLONE_PIDFD | CLONE_INTO_CGROUP | clone_flags::CSIGNAL) != 0
            || exit_signal > 64
            || set_tid_size != 0
            || cgroup != 0
            || unknown_nonzero
            || (stack == 0) != (stack_size == 0)
        {
            return SyscallOutcome::from_result(Err(Errno::EINVAL));
        }
        let sp = if stack == 0 {
            0
        } else {
            stack.wrapping_add(stack_size)
        };
        self.sys_clone(t, flags | exit_signal, sp, parent_tid, child_tid, tls)
    }
}

fn close_pair(p: [libc::c_int; 2]) {
    for f in p {
        if f >= 0 {
            // SAFETY: closing fds this module created.
            unsafe { libc::close(f) };
        }
    }
}
