//! The reserved guest address space and its Linux-semantics memory operations.

use crate::code::CodePages;
use crate::consts::*;
use crate::fork_gate::{ForkGate, ForkLock, Gated, NoFork};
use crate::vma::VmaMap;
use crate::{
    page_up, Access, Efault, Errno, Prot, Vma, VmaKind, GUARD_SIZE, GUEST_PAGE_SIZE,
    MAX_SPACE_SIZE, MIN_SPACE_SIZE, MMAP_MIN_ADDR,
};
use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::fmt;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::OnceLock;

const PAGE: u64 = GUEST_PAGE_SIZE;

/// Why a [`GuestSpace`] could not be created.
#[derive(Debug)]
pub enum SpaceError {
    /// The host's page size is not 4 KiB (16 KiB / 64 KiB page hosts are future work).
    HostPageSize(u64),
    /// The requested maximum size is not a power of two of at least 4 GiB.
    BadSize(u64),
    /// The host refused even the smallest reservation.
    Reserve {
        /// The last size tried.
        size: u64,
        /// The host's error.
        error: std::io::Error,
    },
}

impl fmt::Display for SpaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpaceError::HostPageSize(p) => write!(
                f,
                "host page size is {p} bytes; only 4096-byte host pages are supported \
                 (16K/64K page hosts are future work)"
            ),
            SpaceError::BadSize(s) => write!(
                f,
                "guest space size {s:#x} is not a power of two between 4 GiB and 1 TiB"
            ),
            SpaceError::Reserve { size, error } => write!(
                f,
                "cannot reserve {size:#x} bytes of host address space for the guest: {error}"
            ),
        }
    }
}

impl std::error::Error for SpaceError {}

/// The mutable state behind the lock.
#[derive(Debug)]
struct Inner {
    vmas: VmaMap,
    /// Top of the region searched top-down for non-fixed mappings.
    mmap_base: u64,
    /// First address of the heap (page-aligned).
    brk_start: u64,
    /// Current program break (not necessarily page-aligned).
    brk: u64,
}

/// One guest process's address space: a single reserved host region of `size` bytes plus
/// a guard, and the table of guest mappings inside it.
pub struct GuestSpace {
    base: *mut u8,
    size: u64,
    inner: RwLock<Inner>,
    /// Pages write-protected because code was translated from them (see `code.rs`). Taken
    /// before `inner`, never after.
    code: Mutex<CodePages>,
    /// Called with a page address when the guest writes a protected code page.
    code_write_hook: OnceLock<CodeWriteHook>,
    /// Entered, shared, by every use of `inner` and `code` (see `fork_gate.rs`).
    fork_gate: ForkGate,
}

/// What to do when the guest is about to write a page that code was translated from.
pub type CodeWriteHook = Box<dyn Fn(u64) + Send + Sync>;

// SAFETY: `base` is the address of a host reservation owned by this value for its whole
// life; it is never dereferenced through Rust references, only through raw-pointer copies
// and host syscalls, and all bookkeeping is behind `inner`'s lock. Sharing or sending the
// pointer value between threads is therefore sound.
unsafe impl Send for GuestSpace {}
// SAFETY: as above; every `&self` method synchronises through `inner`.
unsafe impl Sync for GuestSpace {}

impl fmt::Debug for GuestSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.read_inner();
        f.debug_struct("GuestSpace")
            .field("base", &self.base)
            .field("size", &format_args!("{:#x}", self.size))
            .field("mmap_base", &format_args!("{:#x}", inner.mmap_base))
            .field("vmas", &inner.vmas.iter().count())
            .finish()
    }
}

/// The host's page size.
fn host_page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).unwrap_or(0)
}

fn errno_if(failed: bool) -> Result<(), Errno> {
    if failed {
        Err(Errno::last_host())
    } else {
        Ok(())
    }
}

impl GuestSpace {
    /// Reserves the largest guest space the host grants, from 1 TiB down to 4 GiB.
    pub fn new() -> Result<GuestSpace, SpaceError> {
        GuestSpace::with_max_size(MAX_SPACE_SIZE)
    }

    /// Reserves a guest space of at most `max_size` bytes (a power of two of at least
    /// 4 GiB), halving down to 4 GiB while the host refuses.
    pub fn with_max_size(max_size: u64) -> Result<GuestSpace, SpaceError> {
        let hps = host_page_size();
        if hps != PAGE {
            return Err(SpaceError::HostPageSize(hps));
        }
        if !max_size.is_power_of_two() || !(MIN_SPACE_SIZE..=MAX_SPACE_SIZE).contains(&max_size) {
            return Err(SpaceError::BadSize(max_size));
        }
        let mut size = max_size;
        loop {
            let total = (size + GUARD_SIZE) as usize;
            // SAFETY: a fresh, non-fixed PROT_NONE anonymous mapping cannot alias any
            // existing memory.
            let p = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    total,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                return Ok(GuestSpace {
                    base: p.cast(),
                    size,
                    inner: RwLock::new(Inner {
                        vmas: VmaMap::default(),
                        mmap_base: size / 2,
                        brk_start: 0,
                        brk: 0,
                    }),
                    code: Mutex::new(CodePages::default()),
                    code_write_hook: OnceLock::new(),
                    fork_gate: ForkGate::default(),
                });
            }
            let error = std::io::Error::last_os_error();
            if size <= MIN_SPACE_SIZE {
                return Err(SpaceError::Reserve { size, error });
            }
            size /= 2;
        }
    }

    /// Enters a critical section that a host fork must wait for: the caller may take locks
    /// that the forked child will need (the process's shared state). This space's own
    /// methods enter it themselves; sections nest.
    pub fn hold_off_fork(&self) -> NoFork<'_> {
        self.fork_gate.enter()
    }

    /// Waits until no thread is inside a [`Self::hold_off_fork`] section and keeps them out
    /// until dropped: hold it across a host `fork`, so that the child finds every lock taken
    /// in such a section free. The holder may still use this space.
    pub fn lock_for_fork(&self) -> ForkLock<'_> {
        self.fork_gate.lock_for_fork()
    }

    /// Takes one of this space's locks inside the fork gate.
    fn gated<'a, G>(&'a self, take: impl FnOnce() -> G) -> Gated<'a, G> {
        let section = self.fork_gate.enter();
        Gated {
            guard: take(),
            _section: section,
        }
    }

    fn read_inner(&self) -> Gated<'_, RwLockReadGuard<'_, Inner>> {
        self.gated(|| self.inner.read())
    }

    /// For a thread that may already hold `inner` shared (a fault in a copy of `write`).
    fn read_inner_recursive(&self) -> Gated<'_, RwLockReadGuard<'_, Inner>> {
        self.gated(|| self.inner.read_recursive())
    }

    fn write_inner(&self) -> Gated<'_, RwLockWriteGuard<'_, Inner>> {
        self.gated(|| self.inner.write())
    }

    fn code_pages(&self) -> Gated<'_, MutexGuard<'_, CodePages>> {
        self.gated(|| self.code.lock())
    }

    /// Host address of guest address 0.
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// Size of the guest space in bytes (a power of two); valid guest addresses are
    /// `0..size`.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Top of the region searched top-down for mappings without `MAP_FIXED`
    /// (default `size / 2`; memory above it is left to the ELF image, heap and stack).
    pub fn mmap_base(&self) -> u64 {
        self.read_inner().mmap_base
    }

    /// Sets the top of the top-down mmap search region (clamped to the space).
    pub fn set_mmap_base(&self, addr: u64) {
        self.write_inner().mmap_base = crate::page_down(addr.min(self.size));
    }

    /// Host pointer for guest address `addr`, which must be at most `size`.
    fn host(&self, addr: u64) -> *mut u8 {
        assert!(
            addr <= self.size,
            "guest address {addr:#x} outside the space"
        );
        self.base.wrapping_add(addr as usize)
    }

    /// Asserts that `[addr, addr + len)` is a page-aligned range inside the space.
    fn assert_range(&self, addr: u64, len: u64) {
        assert!(
            addr % PAGE == 0
                && len % PAGE == 0
                && addr.checked_add(len).is_some_and(|e| e <= self.size),
            "bad guest range {addr:#x}+{len:#x}"
        );
    }

    /// Replaces `[addr, addr + len)` with an inaccessible `PROT_NONE` placeholder.
    fn reserve(&self, addr: u64, len: u64) -> Result<(), Errno> {
        self.assert_range(addr, len);
        // SAFETY: the range lies inside this space's own reservation (asserted above),
        // which no Rust reference points into; MAP_FIXED only replaces our own mappings.
        let p = unsafe {
            libc::mmap(
                self.host(addr).cast(),
                len as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        errno_if(p == libc::MAP_FAILED)
    }

    /// Like [`Self::reserve`], for paths where failing would leave a hole in the
    /// reservation that host allocations could fall into: aborts instead.
    fn reserve_or_abort(&self, addr: u64, len: u64) {
        if let Err(e) = self.reserve(addr, len) {
            eprintln!(
                "guest-memory: cannot re-reserve guest range {addr:#x}+{len:#x} ({e}); \
                 the guest space would have a hole, aborting"
            );
            std::process::abort();
        }
    }

    /// Host `mmap(MAP_FIXED)` of `[addr, addr + len)`.
    fn host_mmap(
        &self,
        addr: u64,
        len: u64,
        prot: libc::c_int,
        flags: libc::c_int,
        fd: RawFd,
        offset: u64,
    ) -> Result<(), Errno> {
        self.assert_range(addr, len);
        let offset = libc::off_t::try_from(offset).map_err(|_| Errno::EOVERFLOW)?;
        // SAFETY: the range lies inside our reservation (asserted), so MAP_FIXED replaces
        // only guest memory, which Rust code never holds references into.
        let p = unsafe {
            libc::mmap(
                self.host(addr).cast(),
                len as usize,
                prot,
                flags | libc::MAP_FIXED,
                fd,
                offset,
            )
        };
        errno_if(p == libc::MAP_FAILED)
    }

    /// Host `mprotect` of `[addr, addr + len)`.
    fn host_mprotect(&self, addr: u64, len: u64, prot: libc::c_int) -> Result<(), Errno> {
        self.assert_range(addr, len);
        // SAFETY: the range lies inside our reservation (asserted); changing protections
        // of guest memory cannot invalidate any Rust reference since none point there.
        errno_if(unsafe { libc::mprotect(self.host(addr).cast(), len as usize, prot) } != 0)
    }

    /// Guest `mmap` with Linux semantics; returns the address of the new mapping.
    ///
    /// `prot` and `flags` are the guest's `PROT_*` / `MAP_*` values; `fd` is the host file
    /// descriptor for file mappings (ignored with `MAP_ANONYMOUS`). Without `MAP_FIXED` a
    /// page-aligned hint at or above [`MMAP_MIN_ADDR`] is used when free; otherwise the
    /// highest free range below [`Self::mmap_base`] is chosen (then the lowest above it).
    /// `MAP_HUGETLB`, `MAP_LOCKED`, `MAP_GROWSDOWN` are accepted and ignored. If the host
    /// refuses a `MAP_FIXED` mapping after the checks, the target range ends up unmapped,
    /// as Linux documents may happen.
    pub fn mmap(
        &self,
        addr: u64,
        len: u64,
        prot: u32,
        flags: u32,
        fd: Option<RawFd>,
        offset: u64,
    ) -> Result<u64, Errno> {
        let prot = Prot::from_bits_truncate(prot);
        let shared = match flags & MAP_TYPE {
            MAP_SHARED | MAP_SHARED_VALIDATE => true,
            MAP_PRIVATE => false,
            _ => return Err(Errno::EINVAL),
        };
        if len == 0 || offset % PAGE != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len)
            .filter(|l| *l <= self.size)
            .ok_or(Errno::ENOMEM)?;
        let anon = flags & MAP_ANONYMOUS != 0;
        let noreplace = flags & MAP_FIXED_NOREPLACE != 0;
        let fixed = noreplace || flags & MAP_FIXED != 0;
        let (kind, host_fd) = if anon {
            (VmaKind::Anon, -1)
        } else {
            let fd = fd.ok_or(Errno::EBADF)?;
            if offset.checked_add(len).is_none() || i64::try_from(offset).is_err() {
                return Err(Errno::EOVERFLOW);
            }
            (file_kind(fd, offset, shared, prot)?, fd)
        };
        let mut code = self.lock_code();
        let mut inner = self.write_inner();
        if fixed {
            // A fixed mapping may replace pages holding translated code.
            self.forget_code(&mut code, &inner.vmas, addr, addr.saturating_add(len));
        }
        let start = if fixed {
            if addr % PAGE != 0 {
                return Err(Errno::EINVAL);
            }
            if addr.checked_add(len).is_none_or(|e| e > self.size) {
                return Err(Errno::ENOMEM);
            }
            if noreplace && inner.vmas.overlaps(addr, addr + len) {
                return Err(Errno::EEXIST);
            }
            addr
        } else {
            self.choose_free(&inner, addr, len, flags)?
        };
        let end = start + len;
        let mut hflags = if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        if anon {
            hflags |= libc::MAP_ANONYMOUS;
        }
        if flags & MAP_NORESERVE != 0 {
            hflags |= libc::MAP_NORESERVE;
        }
        if flags & MAP_POPULATE != 0 {
            hflags |= libc::MAP_POPULATE;
        }
        if let Err(e) = self.host_mmap(start, len, prot.host(), hflags, host_fd, offset) {
            // The host may have unmapped the target before failing: restore the
            // placeholder and forget whatever the guest had there.
            self.reserve_or_abort(start, len);
            inner.vmas.remove_range(start, end);
            return Err(e);
        }
        inner.vmas.remove_range(start, end);
        inner.vmas.insert(Vma {
            start,
            len,
            prot,
            shared,
            flags,
            kind,
        });
        Ok(start)
    }

    /// Picks a free range for a non-fixed mapping of `len` bytes.
    fn choose_free(&self, inner: &Inner, hint: u64, len: u64, flags: u32) -> Result<u64, Errno> {
        if hint != 0 {
            if let Some(h) = page_up(hint) {
                if h >= MMAP_MIN_ADDR
                    && h.checked_add(len).is_some_and(|e| e <= self.size)
                    && !inner.vmas.overlaps(h, h + len)
                {
                    return Ok(h);
                }
            }
        }
        let (below, limit) = if flags & MAP_32BIT != 0 {
            (inner.mmap_base.min(0x8000_0000), 0x8000_0000)
        } else {
            (inner.mmap_base, self.size)
        };
        inner.vmas.find_free(len, below, limit).ok_or(Errno::ENOMEM)
    }

    /// Maps fresh zeroed private anonymous memory at exactly `[addr, addr + len)`,
    /// replacing what was there, labelled `kind` (for the loader: program segments,
    /// stack).
    pub fn map_fixed_anon(
        &self,
        addr: u64,
        len: u64,
        prot: Prot,
        kind: VmaKind,
    ) -> Result<(), Errno> {
        self.map_fixed(addr, len, prot, None, kind)
    }

    /// Maps the host file `fd` from `offset` copy-on-write (private) at exactly
    /// `[addr, addr + len)`, replacing what was there, labelled `kind` (for the loader:
    /// program segments, read from the file only as the guest touches them).
    pub fn map_fixed_file(
        &self,
        addr: u64,
        len: u64,
        prot: Prot,
        fd: RawFd,
        offset: u64,
        kind: VmaKind,
    ) -> Result<(), Errno> {
        if offset % PAGE != 0 || i64::try_from(offset).is_err() {
            return Err(Errno::EINVAL);
        }
        self.map_fixed(addr, len, prot, Some((fd, offset)), kind)
    }

    fn map_fixed(
        &self,
        addr: u64,
        len: u64,
        prot: Prot,
        file: Option<(RawFd, u64)>,
        kind: VmaKind,
    ) -> Result<(), Errno> {
        if addr % PAGE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if addr.checked_add(len).is_none_or(|e| e > self.size) {
            return Err(Errno::ENOMEM);
        }
        let mut code = self.lock_code();
        let mut inner = self.write_inner();
        self.forget_code(&mut code, &inner.vmas, addr, addr.saturating_add(len));
        let (hflags, fd, offset, flags) = match file {
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            ),
            Some((fd, offset)) => (libc::MAP_PRIVATE, fd, offset, MAP_PRIVATE | MAP_FIXED),
        };
        if let Err(e) = self.host_mmap(addr, len, prot.host(), hflags, fd, offset) {
            self.reserve_or_abort(addr, len);
            inner.vmas.remove_range(addr, addr + len);
            return Err(e);
        }
        inner.vmas.remove_range(addr, addr + len);
        inner.vmas.insert(Vma {
            start: addr,
            len,
            prot,
            shared: false,
            flags,
            kind,
        });
        Ok(())
    }

    /// Guest `munmap`: unmaps `[addr, addr + len)` (unmapped parts are fine).
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        if addr % PAGE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if end > self.size {
            return Err(Errno::EINVAL);
        }
        let mut code = self.lock_code();
        let mut inner = self.write_inner();
        self.forget_code(&mut code, &inner.vmas, addr, end);
        if !inner.vmas.overlaps(addr, end) {
            return Ok(());
        }
        self.reserve(addr, len)?;
        inner.vmas.remove_range(addr, end);
        Ok(())
    }

    /// Unmaps every guest mapping and forgets the heap and the mmap search base, leaving the
    /// space as [`Self::new`] made it (same reservation): what `execve` does to the old
    /// program's memory. The caller invalidates the translations it no longer wants.
    pub fn unmap_all(&self) {
        let mut code = self.lock_code();
        let mut inner = self.write_inner();
        self.forget_code(&mut code, &inner.vmas, 0, self.size);
        // One host call for the whole space; failing would leave the old program mapped,
        // which `reserve_or_abort` refuses to go on with.
        self.reserve_or_abort(0, self.size);
        inner.vmas.remove_range(0, self.size);
        inner.mmap_base = self.size / 2;
        inner.brk_start = 0;
        inner.brk = 0;
    }

    /// Guest `mprotect`: the whole range must be mapped (`ENOMEM` otherwise).
    /// `PROT_SEM`, `PROT_GROWSDOWN` and `PROT_GROWSUP` are accepted and ignored.
    pub fn mprotect(&self, addr: u64, len: u64, prot: u32) -> Result<(), Errno> {
        if addr % PAGE != 0
            || prot
                & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP)
                != 0
            || prot & PROT_GROWSDOWN != 0 && prot & PROT_GROWSUP != 0
        {
            return Err(Errno::EINVAL);
        }
        let prot = Prot::from_bits_truncate(prot);
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end > self.size {
            return Err(Errno::ENOMEM);
        }
        let mut code = self.lock_code();
        let mut inner = self.write_inner();
        self.forget_code(&mut code, &inner.vmas, addr, end);
        if inner.vmas.first_gap(addr, end, None).is_some() {
            return Err(Errno::ENOMEM);
        }
        self.host_mprotect(addr, len, prot.host())?;
        inner.vmas.set_prot(addr, end, prot);
        Ok(())
    }

    /// Sets the start of the heap (rounded up to a page) and the break to it; called
    /// once after loading the program.
    pub fn set_brk_start(&self, addr: u64) {
        let a = page_up(addr).unwrap_or(self.size).min(self.size);
        let mut inner = self.write_inner();
        inner.brk_start = a;
        inner.brk = a;
    }

    /// Start of the heap.
    pub fn brk_start(&self) -> u64 {
        self.read_inner().brk_start
    }

    /// Guest `brk`: moves the break to `new` if possible and returns the resulting break
    /// (the unchanged one on failure, as Linux does). Growing needs a one-page gap to the
    /// next mapping, as on Linux.
    pub fn brk(&self, new: u64) -> u64 {
        let mut code = self.lock_code();
        let mut inner = self.write_inner();
        let cur = inner.brk;
        if new < inner.brk_start {
            return cur;
        }
        let (Some(old_top), Some(new_top)) = (page_up(cur), page_up(new)) else {
            return cur;
        };
        if new_top > self.size {
            return cur;
        }
        if new_top > old_top {
            let guard_end = new_top.saturating_add(PAGE).min(self.size);
            if inner.vmas.overlaps(old_top, guard_end) {
                return cur;
            }
            let len = new_top - old_top;
            let hflags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
            if self
                .host_mmap(old_top, len, Prot::RW.host(), hflags, -1, 0)
                .is_err()
            {
                self.reserve_or_abort(old_top, len);
                return cur;
            }
            inner.vmas.insert(Vma {
                start: old_top,
                len,
                prot: Prot::RW,
                shared: false,
                flags: MAP_PRIVATE | MAP_ANONYMOUS,
                kind: VmaKind::Heap,
            });
        } else if new_top < old_top {
            self.forget_code(&mut code, &inner.vmas, new_top, old_top);
            if self.reserve(new_top, old_top - new_top).is_err() {
                return cur;
            }
            inner.vmas.remove_range(new_top, old_top);
        }
        inner.brk = new;
        new
    }

    /// Guest `mremap` (flags `MREMAP_MAYMOVE`, `MREMAP_FIXED`).
    ///
    /// Shrinking unmaps the tail; growing extends in place when the following range is
    /// free, else moves the mapping (with `MREMAP_MAYMOVE`) using the host's `mremap`,
    /// so file and shared mappings keep their backing. Private anonymous mappings the
    /// host cannot move in one piece are copied. Not supported: `old_len == 0`
    /// (duplicating a shared mapping) and `MREMAP_DONTUNMAP`, both `EINVAL`.
    ///
    /// Moving leaves the old host range unmapped for the instant between the host
    /// `mremap` and its re-reservation (as QEMU does); a concurrent host `mmap` by
    /// another emulator thread could in principle land there.
    pub fn mremap(
        &self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0
            || flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0
            || old_addr % PAGE != 0
        {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 || old_len == 0 {
            return Err(Errno::EINVAL);
        }
        let old_end = old_addr
            .checked_add(old_len)
            .filter(|e| *e <= self.size)
            .ok_or(Errno::EFAULT)?;
        if flags & MREMAP_FIXED != 0 {
            if new_addr % PAGE != 0 {
                return Err(Errno::EINVAL);
            }
            let new_end = new_addr
                .checked_add(new_len)
                .filter(|e| *e <= self.size)
                .ok_or(Errno::EINVAL)?;
            if new_addr < old_end && old_addr < new_end {
                return Err(Errno::EINVAL);
            }
        }
        let mut code = self.lock_code();
        let mut inner = self.write_inner();
        self.forget_code(&mut code, &inner.vmas, old_addr, old_end);
        if flags & MREMAP_FIXED != 0 {
            self.forget_code(
                &mut code,
                &inner.vmas,
                new_addr,
                new_addr.saturating_add(new_len),
            );
        }
        let vma = match inner.vmas.containing(old_addr) {
            Some(v) if v.end() >= old_end => v.clone(),
            _ => return Err(Errno::EFAULT),
        };
        if flags & MREMAP_FIXED != 0 {
            self.move_mapping(&mut inner, &vma, old_addr, old_len, new_len, new_addr)?;
            return Ok(new_addr);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.reserve(old_addr + new_len, old_len - new_len)?;
                inner.vmas.remove_range(old_addr + new_len, old_end);
            }
            return Ok(old_addr);
        }
        let grow_end = old_addr.checked_add(new_len).filter(|e| *e <= self.size);
        if let Some(grow_end) = grow_end {
            if old_end == vma.end()
                && !inner.vmas.overlaps(old_end, grow_end)
                && self.grow_in_place(&mut inner, &vma, old_addr, old_len, new_len)
            {
                return Ok(old_addr);
            }
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let dest = self.choose_free(&inner, 0, new_len, 0)?;
        self.move_mapping(&mut inner, &vma, old_addr, old_len, new_len, dest)?;
        Ok(dest)
    }

    /// Extends the mapping `[old_addr, old_addr + old_len)` (the tail of `vma`) to
    /// `new_len` bytes in place; the following range is known to be free. Returns whether
    /// it worked.
    fn grow_in_place(
        &self,
        inner: &mut Inner,
        vma: &Vma,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
    ) -> bool {
        let old_end = old_addr + old_len;
        let extra = new_len - old_len;
        let anon_private = !vma.shared && !matches!(vma.kind, VmaKind::File { .. });
        if anon_private {
            let hflags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
            if self
                .host_mmap(old_end, extra, vma.prot.host(), hflags, -1, 0)
                .is_err()
            {
                self.reserve_or_abort(old_end, extra);
                return false;
            }
        } else {
            self.assert_range(old_addr, new_len);
            // SAFETY: the range is inside our reservation and holds only the placeholder
            // (checked free by the caller), so unmapping it touches no live memory.
            if unsafe { libc::munmap(self.host(old_end).cast(), extra as usize) } != 0 {
                return false;
            }
            // SAFETY: both ranges are inside our reservation (asserted above); growing in
            // place (no MREMAP_MAYMOVE) only uses the hole just made.
            let p = unsafe {
                libc::mremap(
                    self.host(old_addr).cast(),
                    old_len as usize,
                    new_len as usize,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                self.reserve_or_abort(old_end, extra);
                return false;
            }
        }
        let mut piece = vma.clone();
        piece.start = old_end;
        piece.len = extra;
        if let VmaKind::File { offset, .. } = &mut piece.kind {
            *offset += old_end - vma.start;
        }
        inner.vmas.insert(piece);
        true
    }

    /// Moves `[old_addr, old_addr + old_len)` (inside `vma`) to `[dest, dest + new_len)`,
    /// replacing whatever was at the destination.
    fn move_mapping(
        &self,
        inner: &mut Inner,
        vma: &Vma,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        dest: u64,
    ) -> Result<(), Errno> {
        self.assert_range(old_addr, old_len);
        self.assert_range(dest, new_len);
        // SAFETY: source and destination are disjoint ranges inside our reservation
        // (asserted; the caller checked disjointness); MREMAP_FIXED replaces only guest
        // memory at the destination.
        let p = unsafe {
            libc::mremap(
                self.host(old_addr).cast(),
                old_len as usize,
                new_len as usize,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                self.host(dest).cast::<libc::c_void>(),
            )
        };
        if p == libc::MAP_FAILED {
            let e = Errno::last_host();
            // The destination may have been unmapped before the failure.
            self.reserve_or_abort(dest, new_len);
            inner.vmas.remove_range(dest, dest + new_len);
            let anon_private = !vma.shared && !matches!(vma.kind, VmaKind::File { .. });
            if !(anon_private && e == Errno::EFAULT) {
                return Err(e);
            }
            // The host splits this guest area into several host areas: copy instead.
            self.copy_move(vma.prot, old_addr, old_len, new_len, dest)?;
        } else {
            self.reserve_or_abort(old_addr, old_len);
        }
        let mut moved = vma.clone();
        if let VmaKind::File { offset, .. } = &mut moved.kind {
            *offset += old_addr - vma.start;
        }
        moved.start = dest;
        moved.len = new_len;
        inner.vmas.remove_range(old_addr, old_addr + old_len);
        inner.vmas.remove_range(dest, dest + new_len);
        inner.vmas.insert(moved);
        Ok(())
    }

    /// Moves private anonymous memory by copying.
    fn copy_move(
        &self,
        prot: Prot,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        dest: u64,
    ) -> Result<(), Errno> {
        let hflags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        if let Err(e) = self.host_mmap(
            dest,
            new_len,
            libc::PROT_READ | libc::PROT_WRITE,
            hflags,
            -1,
            0,
        ) {
            self.reserve_or_abort(dest, new_len);
            return Err(e);
        }
        if prot.host() == libc::PROT_NONE {
            self.host_mprotect(old_addr, old_len, libc::PROT_READ)?;
        }
        // SAFETY: both ranges are inside our reservation, disjoint, and readable
        // (source) / writable (destination) on the host; no Rust reference points there.
        unsafe {
            ptr::copy_nonoverlapping(
                self.host(old_addr),
                self.host(dest),
                old_len.min(new_len) as usize,
            )
        };
        self.host_mprotect(dest, new_len, prot.host())?;
        self.reserve_or_abort(old_addr, old_len);
        Ok(())
    }

    /// Guest `madvise`. `MADV_DONTNEED`/`MADV_FREE` are passed to the host (private
    /// anonymous pages read back as zero); `NORMAL`, `RANDOM`, `SEQUENTIAL`, `WILLNEED`
    /// are passed on as hints; every other advice succeeds without effect. The range
    /// must be mapped (`ENOMEM`).
    pub fn madvise(&self, addr: u64, len: u64, advice: i32) -> Result<(), Errno> {
        if addr % PAGE != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if end > self.size {
            return Err(Errno::ENOMEM);
        }
        let mut code = self.lock_code();
        let inner = self.read_inner();
        if inner.vmas.first_gap(addr, end, None).is_some() {
            return Err(Errno::ENOMEM);
        }
        if advice == MADV_DONTNEED || advice == MADV_FREE {
            // Discarded private pages read back as zeros: their code changed.
            self.forget_code(&mut code, &inner.vmas, addr, end);
        }
        let host_advice = match advice {
            MADV_DONTNEED => libc::MADV_DONTNEED,
            MADV_FREE => libc::MADV_FREE,
            MADV_NORMAL => libc::MADV_NORMAL,
            MADV_RANDOM => libc::MADV_RANDOM,
            MADV_SEQUENTIAL => libc::MADV_SEQUENTIAL,
            MADV_WILLNEED => libc::MADV_WILLNEED,
            _ => return Ok(()),
        };
        // SAFETY: the range is mapped guest memory inside our reservation (checked above
        // under the lock); discarding its pages cannot affect emulator memory.
        errno_if(unsafe { libc::madvise(self.host(addr).cast(), len as usize, host_advice) } != 0)
    }

    /// Guest `msync`; the range must be mapped (`ENOMEM`).
    pub fn msync(&self, addr: u64, len: u64, flags: i32) -> Result<(), Errno> {
        if addr % PAGE != 0
            || flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
            || flags & MS_ASYNC != 0 && flags & MS_SYNC != 0
        {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end > self.size {
            return Err(Errno::ENOMEM);
        }
        let inner = self.read_inner();
        if inner.vmas.first_gap(addr, end, None).is_some() {
            return Err(Errno::ENOMEM);
        }
        let mut hflags = 0;
        if flags & MS_ASYNC != 0 {
            hflags |= libc::MS_ASYNC;
        }
        if flags & MS_SYNC != 0 {
            hflags |= libc::MS_SYNC;
        }
        if flags & MS_INVALIDATE != 0 {
            hflags |= libc::MS_INVALIDATE;
        }
        // SAFETY: the range is mapped guest memory inside our reservation (checked above).
        errno_if(unsafe { libc::msync(self.host(addr).cast(), len as usize, hflags) } != 0)
    }

    /// Whether all of `[addr, addr + len)` is mapped with `access` allowed (an empty range
    /// is mapped if `addr <= size`).
    pub fn is_mapped(&self, addr: u64, len: u64, access: Access) -> bool {
        self.check(&self.read_inner(), addr, len, Some(access))
            .is_ok()
    }

    /// The guest protection of the page containing `addr`, or `None` if unmapped.
    pub fn prot_at(&self, addr: u64) -> Option<Prot> {
        self.read_inner().vmas.containing(addr).map(|v| v.prot)
    }

    /// The area containing `addr`, if any.
    pub fn vma_at(&self, addr: u64) -> Option<Vma> {
        self.read_inner().vmas.containing(addr).cloned()
    }

    /// A snapshot of all areas in address order.
    pub fn vmas(&self) -> Vec<Vma> {
        self.read_inner().vmas.iter().cloned().collect()
    }

    /// The guest's `/proc/self/maps` text.
    pub fn maps_text(&self) -> String {
        self.read_inner().vmas.maps_text()
    }

    /// Checks `[addr, addr + len)` is inside the space and mapped with `access` (or mapped
    /// at all when `None`).
    fn check(
        &self,
        inner: &Inner,
        addr: u64,
        len: u64,
        access: Option<Access>,
    ) -> Result<(), Efault> {
        if addr > self.size {
            return Err(Efault { addr });
        }
        if len == 0 {
            return Ok(());
        }
        let end = addr.saturating_add(len);
        let lim = end.min(self.size);
        if let Some(a) = inner.vmas.first_gap(addr, lim, access) {
            return Err(Efault { addr: a });
        }
        if end > self.size {
            return Err(Efault { addr: self.size });
        }
        Ok(())
    }

    /// Copies guest memory at `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Efault> {
        let inner = self.read_inner();
        self.check(&inner, addr, buf.len() as u64, Some(Access::Read))?;
        // SAFETY: the source range is inside the reservation and host-readable (guest
        // readable areas are host PROT_READ), and the read lock keeps it mapped during
        // the copy; `buf` is emulator memory, disjoint from the reservation. Other guest
        // threads may write the source concurrently; we copy through raw pointers only.
        unsafe { ptr::copy_nonoverlapping(self.host(addr), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` into guest memory at `addr`, which must be writable.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), Efault> {
        self.unprotect_code_range(addr, data.len() as u64);
        let inner = self.read_inner();
        self.check(&inner, addr, data.len() as u64, Some(Access::Write))?;
        // SAFETY: the destination range is inside the reservation and host-writable
        // (guest-writable areas are host PROT_READ|PROT_WRITE), kept mapped by the read
        // lock; `data` is emulator memory, disjoint from it.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), self.host(addr), data.len()) };
        Ok(())
    }

    /// Reads a little-endian `u64`.
    pub fn read_u64(&self, addr: u64) -> Result<u64, Efault> {
        let mut b = [0; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a little-endian `u32`.
    pub fn read_u32(&self, addr: u64) -> Result<u32, Efault> {
        let mut b = [0; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a little-endian `u16`.
    pub fn read_u16(&self, addr: u64) -> Result<u16, Efault> {
        let mut b = [0; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Reads one byte.
    pub fn read_u8(&self, addr: u64) -> Result<u8, Efault> {
        let mut b = [0; 1];
        self.read(addr, &mut b)?;
        Ok(b[0])
    }

    /// Writes a little-endian `u64`.
    pub fn write_u64(&self, addr: u64, v: u64) -> Result<(), Efault> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u32`.
    pub fn write_u32(&self, addr: u64, v: u32) -> Result<(), Efault> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u16`.
    pub fn write_u16(&self, addr: u64, v: u16) -> Result<(), Efault> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    /// `EFAULT` if it runs into unreadable memory, `ENAMETOOLONG` if no NUL is found
    /// within `max` bytes.
    pub fn read_cstr(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let inner = self.read_inner();
        let mut out = Vec::new();
        let mut cur = addr;
        let mut chunk = [0u8; 256];
        loop {
            let v_end = match inner.vmas.containing(cur) {
                Some(v) if v.prot.allows(Access::Read) && cur < self.size => v.end(),
                _ => return Err(Errno::EFAULT),
            };
            let budget = (max.saturating_add(1) - out.len()) as u64;
            let n = (v_end - cur).min(chunk.len() as u64).min(budget) as usize;
            // SAFETY: `[cur, cur + n)` lies inside one readable area (host PROT_READ),
            // kept mapped by the read lock; `chunk` is a local buffer of at least `n`
            // bytes.
            unsafe { ptr::copy_nonoverlapping(self.host(cur), chunk.as_mut_ptr(), n) };
            if let Some(i) = chunk[..n].iter().position(|b| *b == 0) {
                out.extend_from_slice(&chunk[..i]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            cur += n as u64;
        }
    }

    /// Takes the code lock for a change of mappings, which moves the mapping generation.
    fn lock_code(&self) -> Gated<'_, MutexGuard<'_, CodePages>> {
        let mut code = self.code_pages();
        code.map_generation += 1;
        code
    }

    /// Drops the code protection of `[start, end)` before its mapping changes: host
    /// protections go back to the guest's (from `vmas`), so that a moved or re-protected
    /// range does not keep a stale read-only host page. The caller invalidates the
    /// translations of the range after the change.
    fn forget_code(&self, code: &mut CodePages, vmas: &VmaMap, start: u64, end: u64) {
        for page in code.protected_in(start, end) {
            if let Some(v) = vmas.containing(page) {
                // The page was mapped and writable when protected; restoring cannot fail
                // short of host memory exhaustion, and a failure would only keep it
                // read-only (writes keep faulting into `unprotect_code`).
                let _ = self.host_mprotect(page, PAGE, v.prot.host());
            }
            // The caller invalidates the range; aliases' generations moved with it.
            code.unmark(page);
        }
    }

    /// Installs the function called (with the page address) when the guest is about to
    /// write a page that code was translated from; it must drop the page's translations.
    /// Set once, before the guest runs; `Err` gives `hook` back if one is set already.
    pub fn set_code_write_hook(&self, hook: CodeWriteHook) -> Result<(), CodeWriteHook> {
        self.code_write_hook.set(hook)
    }

    /// Prepares the page holding `addr` for translation: if the guest may write it, it is
    /// made read-only on the host (so that a write faults into [`Self::unprotect_code`]);
    /// so are the writable guest pages that map the same page of a shared file (the other
    /// view of a dual-mapped JIT buffer). Returns the page's [`Self::code_generation`] and
    /// whether the guest may write the page itself. Call before reading the code bytes.
    pub fn protect_code(&self, addr: u64) -> (u64, bool) {
        let page = crate::page_down(addr);
        let mut code = self.code_pages();
        let inner = self.read_inner_recursive();
        let Some(vma) = inner.vmas.containing(page) else {
            return (code.generation(page), false);
        };
        let writable = vma.prot.allows(Access::Write);
        if writable {
            self.protect_page(&mut code, page, None);
        }
        if let (
            true,
            VmaKind::File {
                offset, dev, inode, ..
            },
        ) = (vma.shared, &vma.kind)
        {
            let file_offset = offset + (page - vma.start);
            for other in inner.vmas.iter() {
                let VmaKind::File {
                    offset: o,
                    dev: d,
                    inode: i,
                    ..
                } = other.kind
                else {
                    continue;
                };
                let covers = (o..o + other.len).contains(&file_offset);
                if other.shared
                    && (d, i) == (*dev, *inode)
                    && covers
                    && other.start != vma.start
                    && other.prot.allows(Access::Write)
                {
                    self.protect_page(&mut code, other.start + (file_offset - o), Some(page));
                }
            }
        }
        (code.generation(page), writable)
    }

    /// Write-protects `page` on the host (once), noting `alias_of` as a code page a write
    /// to it changes.
    fn protect_page(&self, code: &mut CodePages, page: u64, alias_of: Option<u64>) {
        let entry = code.pages.entry(page).or_default();
        if let Some(a) = alias_of {
            if !entry.aliases.contains(&a) {
                entry.aliases.push(a);
            }
        }
        if !entry.protected && self.host_mprotect(page, PAGE, libc::PROT_READ).is_ok() {
            entry.protected = true;
            code.protected += 1;
        }
    }

    /// A number that changes whenever the code at the page holding `addr` may have changed
    /// since [`Self::protect_code`] returned it: a write to the protected page, or any
    /// change of mappings or protections.
    pub fn code_generation(&self, addr: u64) -> u64 {
        self.code_pages().generation(crate::page_down(addr))
    }

    /// Called when a guest write to `addr` faulted, or before the emulator writes there for
    /// the guest: if the page is write-protected for code, the code-write hook drops its
    /// translations and the host protection is restored. Returns true if the write may be
    /// retried (the page is, now, writable for the guest); false if the fault is the
    /// guest's own (unmapped or read-only page).
    pub fn unprotect_code(&self, addr: u64) -> bool {
        let page = crate::page_down(addr);
        let mut code = self.code_pages();
        // Recursive: the faulting thread may hold the lock shared (a copy in `write`).
        let inner = self.read_inner_recursive();
        let Some(vma) = inner.vmas.containing(page) else {
            return false;
        };
        if !vma.prot.allows(Access::Write) {
            return false;
        }
        if code.pages.get(&page).is_some_and(|p| p.protected) {
            // Count the write before the invalidation (see the generations in `code.rs`).
            let aliases = code.unmark(page);
            if let Some(hook) = self.code_write_hook.get() {
                hook(page);
                for a in aliases {
                    hook(a);
                }
            }
            let _ = self.host_mprotect(page, PAGE, vma.prot.host());
        }
        // Protected by us and now released, or released by another thread meanwhile.
        true
    }

    /// [`Self::unprotect_code`] for every protected page in `[addr, addr + len)`.
    fn unprotect_code_range(&self, addr: u64, len: u64) {
        let pages = {
            let code = self.code_pages();
            code.protected_in(crate::page_down(addr), addr.saturating_add(len))
        };
        for page in pages {
            self.unprotect_code(page);
        }
    }

    /// Host pointer to `[addr, addr + len)` after checking the whole range is mapped with
    /// `access`, for handing guest buffers to host syscalls.
    ///
    /// The check is only a snapshot: another guest thread may unmap the range right
    /// afterwards, in which case the kernel sees a `PROT_NONE` placeholder (still inside
    /// the reservation) and fails with `EFAULT`, exactly as on Linux. Never turn the
    /// pointer into a Rust reference: other threads write guest memory concurrently.
    pub fn host_ptr(&self, addr: u64, len: u64, access: Access) -> Result<*mut u8, Efault> {
        if access == Access::Write {
            self.unprotect_code_range(addr, len);
        }
        let inner = self.read_inner();
        self.check(&inner, addr, len, Some(access))?;
        Ok(self.host(addr))
    }

    /// Writes `data` at `addr` whatever the protection of the (mapped) pages, for the
    /// loader. Read-only pages are made writable on the host for the duration of the
    /// copy, so other threads could briefly write them: use it before the guest runs.
    pub fn write_ignoring_prot(&self, addr: u64, data: &[u8]) -> Result<(), Efault> {
        let inner = self.write_inner();
        let len = data.len() as u64;
        self.check(&inner, addr, len, None)?;
        let end = addr + len;
        let mut cur = addr;
        while cur < end {
            let v = inner
                .vmas
                .containing(cur)
                .expect("range checked mapped above");
            let piece_end = v.end().min(end);
            let src = &data[(cur - addr) as usize..(piece_end - addr) as usize];
            let writable = v.prot.allows(Access::Write);
            let (pstart, pend) = (
                crate::page_down(cur),
                page_up(piece_end).expect("inside the space"),
            );
            if !writable {
                self.host_mprotect(pstart, pend - pstart, libc::PROT_READ | libc::PROT_WRITE)
                    .map_err(|_| Efault { addr: cur })?;
            }
            // SAFETY: `[cur, piece_end)` is inside one mapped area of our reservation,
            // host-writable now; `src` is emulator memory of the same length.
            unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.host(cur), src.len()) };
            if !writable {
                self.host_mprotect(pstart, pend - pstart, v.prot.host())
                    .map_err(|_| Efault { addr: cur })?;
            }
            cur = piece_end;
        }
        Ok(())
    }
}

impl Drop for GuestSpace {
    fn drop(&mut self) {
        // SAFETY: the reservation (and everything mapped inside it) belongs to this value
        // alone and nothing can use it after drop.
        unsafe { libc::munmap(self.base.cast(), (self.size + GUARD_SIZE) as usize) };
    }
}

/// Validates a host fd for a file mapping and describes it.
fn file_kind(fd: RawFd, offset: u64, shared: bool, prot: Prot) -> Result<VmaKind, Errno> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole `struct stat` into the buffer on success.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err(Errno::last_host());
    }
    // SAFETY: fstat succeeded, so the buffer is initialised.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return Err(Errno::ENODEV);
    }
    // SAFETY: F_GETFL takes no argument and has no memory effects.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl < 0 {
        return Err(Errno::last_host());
    }
    let acc = fl & libc::O_ACCMODE;
    if acc == libc::O_WRONLY || shared && prot.contains(Prot::WRITE) && acc != libc::O_RDWR {
        return Err(Errno::EACCES);
    }
    let path = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(VmaKind::File {
        path,
        offset,
        dev: st.st_dev,
        inode: st.st_ino,
    })
}
