//! The code cache: one region of executable memory, filled by bump allocation and flushed
//! whole.
//!
//! The region is a `memfd` mapped twice: a read-write view that the compiler copies code
//! into and a read-execute view that runs it. No page is ever writable and executable at
//! once in one view, so hosts that enforce W^X work, and no `mprotect` is needed per block.
//! The whole capacity is reserved up front but the kernel allocates pages only when they are
//! first written, so the memory a cache costs is the code it holds (rounded up to pages).
//!
//! Allocation takes a short lock (bump a cursor); copying and the instruction-cache flush
//! happen outside it, into space no other thread owns.
//!
//! After a fork both processes map the same memfd: the parent keeps it (writing past what
//! the child has, and mapping a fresh memfd when it flushes), the child copies its part to a
//! memfd of its own before it first writes code.

use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Every allocation starts at a multiple of this (a cache line on every supported host).
const MIN_ALIGN: usize = 16;

/// A region of executable memory for translated code.
pub struct CodeCache {
    /// Start of the read-write view.
    rw: NonNull<u8>,
    /// Start of the read-execute view (same pages as `rw`).
    rx: NonNull<u8>,
    /// Size of each view in bytes.
    capacity: usize,
    /// The memfd both views map (replaced after a fork: see `borrowed` and `lent`).
    fd: std::sync::atomic::AtomicI32,
    /// The memfd is also a forked child's (set at every fork): [`CodeCache::flush`] maps a
    /// fresh one instead of punching holes in pages the child may still run.
    lent: AtomicBool,
    /// The memfd is the parent's (set in a forked child), which goes on writing past our
    /// `used`: the first write maps a private copy of our part first. A child that execs or
    /// exits without compiling (most do) never copies the cache.
    borrowed: AtomicBool,
    /// Bump state.
    state: Mutex<State>,
    /// A lock-free copy of `State::used` for [`CodeCache::contains`] and
    /// [`CodeCache::used`], which signal handlers may call.
    used: AtomicUsize,
}

#[derive(Debug)]
struct State {
    /// Bytes handed out so far.
    used: usize,
    /// Bytes kept by [`CodeCache::flush`] (code that lives as long as the cache, such as the
    /// trampoline and the unlinked stub).
    permanent: usize,
}

// SAFETY: the raw pointers name a mapping that this struct owns for its whole life and that no
// one else unmaps. Shared access is sound: the bump cursor is behind a mutex, each allocation's
// bytes are written only by the thread that allocated them (before it publishes the code),
// and `flush` is unsafe with a contract that excludes concurrent use.
unsafe impl Send for CodeCache {}
// SAFETY: as for `Send`.
unsafe impl Sync for CodeCache {}

impl fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeCache")
            .field("rx", &self.rx)
            .field("capacity", &self.capacity)
            .field("used", &self.used())
            .finish()
    }
}

/// The cache has no room for a block: flush it and compile again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheFull;

impl CodeCache {
    /// The host descriptor of the memfd both views map: the emulator's own, which an
    /// `execve` in place must not close.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.fd.load(Ordering::Acquire)
    }

    /// Reserves a cache of `capacity` bytes (rounded up to whole pages).
    pub fn new(capacity: usize) -> io::Result<CodeCache> {
        let page = page_size();
        let capacity = capacity.max(page).div_ceil(page) * page;
        // SAFETY: the name is a valid NUL-terminated string; flags are valid.
        let fd = unsafe { libc::memfd_create(c"tcg-code-cache".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fail = |fd| {
            let e = io::Error::last_os_error();
            // SAFETY: `fd` is the memfd opened above and not used after this.
            unsafe { libc::close(fd) };
            e
        };
        // SAFETY: `fd` is a valid memfd; growing it only sets its size (pages stay sparse).
        if unsafe { libc::ftruncate(fd, capacity as libc::off_t) } != 0 {
            return Err(fail(fd));
        }
        let map = |prot| {
            // SAFETY: a fresh shared mapping of our own memfd at an address the kernel picks;
            // it aliases no Rust object.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    capacity,
                    prot,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                None
            } else {
                NonNull::new(p.cast::<u8>())
            }
        };
        let Some(rw) = map(libc::PROT_READ | libc::PROT_WRITE) else {
            return Err(fail(fd));
        };
        let Some(rx) = map(libc::PROT_READ | libc::PROT_EXEC) else {
            let e = fail(fd);
            // SAFETY: `rw` was mapped above with this length and nothing refers to it yet.
            unsafe { libc::munmap(rw.as_ptr().cast(), capacity) };
            return Err(e);
        };
        Ok(CodeCache {
            rw,
            rx,
            capacity,
            fd: std::sync::atomic::AtomicI32::new(fd),
            lent: AtomicBool::new(false),
            borrowed: AtomicBool::new(false),
            state: Mutex::new(State {
                used: 0,
                permanent: 0,
            }),
            used: AtomicUsize::new(0),
        })
    }

    /// Copies `code` into the cache at an address aligned to `align` (a power of two) and
    /// returns its address in the executable view, ready to run on any thread once the
    /// pointer is published with release ordering (the instruction cache is already flushed).
    pub fn emit(&self, code: &[u8], align: usize) -> Result<*const u8, CacheFull> {
        let offset = self.reserve(code.len(), align)?;
        // SAFETY: `reserve` just handed `offset..offset + code.len()` to this call alone.
        Ok(unsafe { self.fill(offset, code) })
    }

    /// Hands out `len` bytes at an offset aligned to `align` (a power of two) without writing
    /// them: for code whose address must be known before it is compiled.
    pub(crate) fn reserve(&self, len: usize, align: usize) -> Result<usize, CacheFull> {
        let align = align.max(MIN_ALIGN);
        debug_assert!(align.is_power_of_two());
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let start = st.used.next_multiple_of(align);
        let end = start.checked_add(len).ok_or(CacheFull)?;
        if end > self.capacity {
            return Err(CacheFull);
        }
        st.used = end;
        self.used.store(end, Ordering::Release);
        Ok(start)
    }

    /// The executable address of the byte at `offset`.
    pub(crate) fn exec_addr(&self, offset: usize) -> *const u8 {
        assert!(offset < self.capacity);
        self.rx.as_ptr().wrapping_add(offset).cast_const()
    }

    /// Copies `code` to `offset` and returns its executable address, ready to run on any
    /// thread once published with release ordering (the instruction cache is flushed).
    ///
    /// # Safety
    /// `offset..offset + code.len()` must lie in space [`CodeCache::reserve`] handed out,
    /// that no other thread writes or runs meanwhile.
    pub(crate) unsafe fn fill(&self, offset: usize, code: &[u8]) -> *const u8 {
        assert!(offset
            .checked_add(code.len())
            .is_some_and(|end| end <= self.capacity));
        if self.borrowed.load(Ordering::Acquire) {
            let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if self.borrowed.load(Ordering::Acquire) {
                // SAFETY: the copy keeps every byte handed out so far where it was, so code
                // that runs meanwhile (on our other threads) sees the same instructions, and
                // space handed out but not yet filled is filled after this (its `fill` waits
                // for the lock, then sees `borrowed` clear).
                if let Err(e) = unsafe { self.replace_memfd(st.used) } {
                    eprintln!("emu: cannot copy the code cache after fork: {e}");
                    std::process::abort();
                }
            }
        }
        // SAFETY: the range lies inside the mapping (asserted) and, by the caller's contract,
        // belongs to this call alone; `code` is a separate Rust slice, so they don't overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), self.rw.as_ptr().add(offset), code.len());
            let rx = self.rx.as_ptr().add(offset);
            flush_icache(self.rw.as_ptr().add(offset), rx, code.len());
            rx.cast_const()
        }
    }

    /// Marks everything emitted so far as permanent: [`CodeCache::flush`] keeps it. The
    /// permanent code gets whole pages, so that blocks, before and after a flush, never share
    /// a page with it (a flush then forgets whole pages; see `forget_translations_of`).
    pub(crate) fn make_permanent(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.used = st.used.next_multiple_of(page_size()).min(self.capacity);
        st.permanent = st.used;
        self.used.store(st.used, Ordering::Release);
    }

    /// Forgets every block (keeping only the backend's own trampoline and stub) and returns
    /// their pages to the kernel.
    ///
    /// # Safety
    /// No thread may be running code from this cache (other than the permanent stubs), hold a
    /// pointer to a flushed block that it will run or link later, or be inside
    /// [`CodeCache::emit`] while this runs: call it inside an exclusive section with every
    /// jump slot that points at flushed code discarded too.
    pub unsafe fn flush(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let page = page_size();
        let keep = st.permanent.div_ceil(page) * page;
        if self.lent.load(Ordering::Acquire) || self.borrowed.load(Ordering::Acquire) {
            // Another process may run these pages: leave them to it.
            // SAFETY: by the caller's contract nothing runs or writes past the permanent code.
            if let Err(e) = unsafe { self.replace_memfd(st.permanent) } {
                eprintln!("emu: cannot replace the code cache: {e}");
                std::process::abort();
            }
        } else if keep < self.capacity {
            // SAFETY: punching a hole in our own memfd past the permanent code; by the caller's
            // contract nothing uses those bytes any more. A failure only keeps the pages.
            unsafe {
                libc::fallocate(
                    self.fd.load(Ordering::Relaxed),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    keep as libc::off_t,
                    (self.capacity - keep) as libc::off_t,
                );
            }
        }
        st.used = st.permanent;
        self.used.store(st.used, Ordering::Release);
        drop(st);
        // SAFETY: by the caller's contract nothing runs from the flushed range.
        unsafe { self.forget_translations_of(keep) };
        sync_other_cores();
    }

    /// riscv64: takes execute permission away from the read-execute view past `keep` and
    /// gives it back. An emulator of the host that notices code changes only through writes
    /// to executable pages (qemu-user: its `riscv_flush_icache` and `fence.i` do nothing)
    /// never sees the writes through the read-write alias, and would go on running its
    /// translations of flushed blocks at the addresses new blocks reuse; losing and regaining
    /// `PROT_EXEC` makes it drop them, as `ic ivau` does for qemu-aarch64. On hardware,
    /// `riscv_flush_icache` in [`CodeCache::emit`] is what keeps instruction fetch coherent;
    /// this costs two system calls per flush. Nothing to do on other hosts.
    ///
    /// # Safety
    /// No thread may run code past `keep` (as for [`CodeCache::flush`]).
    #[allow(unused_variables)]
    unsafe fn forget_translations_of(&self, keep: usize) {
        #[cfg(target_arch = "riscv64")]
        if keep < self.capacity {
            // SAFETY: a page-aligned range of our own read-execute view (`keep` is a page
            // multiple), from which nothing runs meanwhile (the caller's contract). If taking
            // the permission away fails nothing changed (only qemu's stale translations
            // remain); if giving it back fails (the kernel out of memory for the split
            // mapping), no block could run any more, and the process ends.
            unsafe {
                let start = self.rx.as_ptr().add(keep).cast::<libc::c_void>();
                let len = self.capacity - keep;
                if libc::mprotect(start, len, libc::PROT_READ) == 0
                    && libc::mprotect(start, len, libc::PROT_READ | libc::PROT_EXEC) != 0
                {
                    eprintln!(
                        "emu: cannot make the code cache executable again: {}",
                        io::Error::last_os_error()
                    );
                    std::process::abort();
                }
            }
        }
    }

    /// Notes a fork about to happen: both processes will map this memfd (see `lent`).
    pub fn before_fork(&self) {
        self.lent.store(true, Ordering::Release);
    }

    /// In the child of a fork: the memfd is the parent's (see `borrowed`).
    pub fn after_fork_in_child(&self) {
        self.borrowed.store(true, Ordering::Release);
    }

    /// Maps a fresh memfd over both views holding the first `keep` bytes of the current one,
    /// so every code pointer below `keep` stays valid, and clears `lent` and `borrowed`.
    ///
    /// # Safety
    /// The caller holds the state lock; no thread writes into the cache meanwhile. Code below
    /// `keep` may run on other threads: the new pages hold the same bytes (a thread that
    /// touches a page while it is being replaced waits in the kernel's fault handler for
    /// the new mapping).
    unsafe fn replace_memfd(&self, keep: usize) -> io::Result<()> {
        // SAFETY: valid name and flags.
        let fd = unsafe { libc::memfd_create(c"tcg-code-cache".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is our fresh memfd; the source range is the first `keep` bytes of the
        // read-execute view, which are mapped and readable.
        let ok = unsafe {
            libc::ftruncate(fd, self.capacity as libc::off_t) == 0
                && write_all_at(fd, self.rx.as_ptr(), keep)
        };
        if !ok {
            let e = io::Error::last_os_error();
            // SAFETY: our fd, not used again.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        for (view, prot) in [
            (self.rw, libc::PROT_READ | libc::PROT_WRITE),
            (self.rx, libc::PROT_READ | libc::PROT_EXEC),
        ] {
            // SAFETY: replaces our own view (same address and length) by the same bytes from
            // the new memfd, as the caller's contract allows.
            let p = unsafe {
                libc::mmap(
                    view.as_ptr().cast(),
                    self.capacity,
                    prot,
                    libc::MAP_SHARED | libc::MAP_FIXED,
                    fd,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
        }
        let old = self.fd.swap(fd, Ordering::Relaxed);
        // SAFETY: the old memfd is no longer mapped by us through this cache.
        unsafe { libc::close(old) };
        // SAFETY: both views now hold the same bytes as before; resynchronise the instruction
        // cache for the new pages on hosts that need it.
        unsafe { flush_icache(self.rw.as_ptr(), self.rx.as_ptr(), keep) };
        self.lent.store(false, Ordering::Release);
        self.borrowed.store(false, Ordering::Release);
        Ok(())
    }

    /// True if `host_pc` lies in code emitted into this cache. Lock-free and
    /// async-signal-safe (for a SIGSEGV handler deciding whether a fault is the guest's).
    pub fn contains(&self, host_pc: usize) -> bool {
        let start = self.rx.as_ptr() as usize;
        host_pc >= start && host_pc < start + self.used()
    }

    /// Bytes handed out (including alignment padding). Lock-free.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Total bytes the cache can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for CodeCache {
    fn drop(&mut self) {
        // SAFETY: both views were mapped with `capacity` bytes in `new` and the cache is being
        // dropped, so no code from it runs any more (the `Backend` owning it is gone).
        unsafe {
            libc::munmap(self.rw.as_ptr().cast(), self.capacity);
            libc::munmap(self.rx.as_ptr().cast(), self.capacity);
            libc::close(self.fd.load(Ordering::Relaxed));
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p <= 0 {
        4096
    } else {
        p as usize
    }
}

/// Makes freshly written code at `rx` (written through its alias `rw`) visible to instruction
/// fetch on every core.
///
/// - x86-64: instruction fetch is coherent with data writes; code at an address that no core
///   has executed since it was written needs no maintenance (and flushed code is only reused
///   after [`CodeCache::flush`], which runs in an exclusive section).
/// - s390x: the same (stores are seen by instruction fetch of all CPUs).
/// - aarch64: clean the data cache to the point of unification by the RW alias (`dc cvau`),
///   `dsb ish`, invalidate the instruction cache by the RX alias (`ic ivau`, broadcast to the
///   inner-shareable domain), `dsb ish`, `isb`, with line sizes read from `CTR_EL0`.
/// - riscv64: the `riscv_flush_icache` system call (what `__riscv_flush_icache` does) with
///   flags 0, which makes the range coherent on every hart of the process.
///
/// # Safety
/// `rw..rw+len` and `rx..rx+len` must be mapped views of the same bytes.
#[allow(unused_variables)]
unsafe fn flush_icache(rw: *mut u8, rx: *mut u8, len: usize) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: cache maintenance by VA on addresses the caller guarantees are mapped; these
    // instructions are allowed at EL0 on Linux (SCTLR_EL1.UCI is set).
    unsafe {
        let ctr: u64;
        std::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack));
        let dline = 4usize << ((ctr >> 16) & 0xf);
        let iline = 4usize << (ctr & 0xf);
        let mut a = (rw as usize) & !(dline - 1);
        while a < rw as usize + len {
            std::arch::asm!("dc cvau, {}", in(reg) a, options(nostack));
            a += dline;
        }
        std::arch::asm!("dsb ish", options(nostack));
        let mut a = (rx as usize) & !(iline - 1);
        while a < rx as usize + len {
            std::arch::asm!("ic ivau, {}", in(reg) a, options(nostack));
            a += iline;
        }
        std::arch::asm!("dsb ish", "isb", options(nostack));
    }
    #[cfg(target_arch = "riscv64")]
    // SAFETY: the system call only takes the address range as numbers; 259 is
    // __NR_riscv_flush_icache on riscv64 Linux.
    unsafe {
        libc::syscall(259, rx as usize, rx as usize + len, 0usize);
    }
}

/// After a flush, addresses are reused for new code: on weak hosts make every core of the
/// process discard instructions it may have fetched from them before (a context
/// synchronisation on each core via `membarrier(PRIVATE_EXPEDITED_SYNC_CORE)`; best effort:
/// ignored where the kernel lacks it, and the vCPUs also pass through the exclusive section's
/// locks). Nothing to do on x86-64 and s390x.
fn sync_other_cores() {
    #[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
    // SAFETY: membarrier takes only integer arguments; registering is idempotent.
    unsafe {
        const REGISTER_SYNC_CORE: libc::c_long = 1 << 6;
        const SYNC_CORE: libc::c_long = 1 << 5;
        libc::syscall(libc::SYS_membarrier, REGISTER_SYNC_CORE, 0, 0);
        libc::syscall(libc::SYS_membarrier, SYNC_CORE, 0, 0);
    }
}

/// Writes `len` bytes from `src` to `fd` at offset 0.
///
/// # Safety
/// `src..src+len` must be readable.
unsafe fn write_all_at(fd: libc::c_int, src: *const u8, len: usize) -> bool {
    let mut done = 0;
    while done < len {
        // SAFETY: within the caller's readable range.
        let n = unsafe { libc::pwrite(fd, src.add(done).cast(), len - done, done as libc::off_t) };
        if n <= 0 {
            return false;
        }
        done += n as usize;
    }
    true
}
