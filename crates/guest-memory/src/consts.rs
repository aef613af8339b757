//! Guest (x86-64 Linux) values of the memory-management ABI constants.
//!
//! These are the numbers the guest passes in syscall arguments. They are translated to
//! the host's `libc` values wherever a host call is made, never passed through blindly.

/// No access.
pub const PROT_NONE: u32 = 0x0;
/// Pages may be read.
pub const PROT_READ: u32 = 0x1;
/// Pages may be written.
pub const PROT_WRITE: u32 = 0x2;
/// Pages may be executed.
pub const PROT_EXEC: u32 = 0x4;
/// `mprotect` only: the SysV semaphore flag (ignored).
pub const PROT_SEM: u32 = 0x8;
/// `mprotect` only: extend the change down to the start of a grows-down mapping (ignored).
pub const PROT_GROWSDOWN: u32 = 0x0100_0000;
/// `mprotect` only: extend the change up to the end of a grows-up mapping (ignored).
pub const PROT_GROWSUP: u32 = 0x0200_0000;

/// Share changes with other mappings of the same object.
pub const MAP_SHARED: u32 = 0x01;
/// Private copy-on-write mapping.
pub const MAP_PRIVATE: u32 = 0x02;
/// `MAP_SHARED` that rejects unknown flags.
pub const MAP_SHARED_VALIDATE: u32 = 0x03;
/// Mask of the mapping-type bits.
pub const MAP_TYPE: u32 = 0x0f;
/// Place the mapping exactly at `addr`, replacing what is there.
pub const MAP_FIXED: u32 = 0x10;
/// The mapping is not backed by a file.
pub const MAP_ANONYMOUS: u32 = 0x20;
/// Only give out 32-bit addresses (honoured as a placement preference below 2 GiB).
pub const MAP_32BIT: u32 = 0x40;
/// Stack-like segment (accepted, not emulated).
pub const MAP_GROWSDOWN: u32 = 0x100;
/// Ignored by Linux.
pub const MAP_DENYWRITE: u32 = 0x800;
/// Ignored by Linux.
pub const MAP_EXECUTABLE: u32 = 0x1000;
/// Lock the pages (accepted, not passed on).
pub const MAP_LOCKED: u32 = 0x2000;
/// Do not reserve swap space.
pub const MAP_NORESERVE: u32 = 0x4000;
/// Prefault the pages.
pub const MAP_POPULATE: u32 = 0x8000;
/// Do not block on I/O (ignored).
pub const MAP_NONBLOCK: u32 = 0x10000;
/// Mapping is a thread stack (ignored).
pub const MAP_STACK: u32 = 0x20000;
/// Huge pages (ignored: normal pages are used).
pub const MAP_HUGETLB: u32 = 0x40000;
/// Like `MAP_FIXED` but fail with `EEXIST` instead of replacing.
pub const MAP_FIXED_NOREPLACE: u32 = 0x10_0000;

/// `mremap`: the mapping may move.
pub const MREMAP_MAYMOVE: u32 = 1;
/// `mremap`: move to exactly `new_addr`.
pub const MREMAP_FIXED: u32 = 2;
/// `mremap`: leave the old range mapped (not supported: `EINVAL`).
pub const MREMAP_DONTUNMAP: u32 = 4;

/// `madvise`: no special treatment.
pub const MADV_NORMAL: i32 = 0;
/// `madvise`: expect random access.
pub const MADV_RANDOM: i32 = 1;
/// `madvise`: expect sequential access.
pub const MADV_SEQUENTIAL: i32 = 2;
/// `madvise`: will need these pages.
pub const MADV_WILLNEED: i32 = 3;
/// `madvise`: drop the pages (private anonymous memory reads back as zero).
pub const MADV_DONTNEED: i32 = 4;
/// `madvise`: the pages may be freed lazily.
pub const MADV_FREE: i32 = 8;

/// `msync`: schedule the write-back.
pub const MS_ASYNC: i32 = 1;
/// `msync`: invalidate other mappings.
pub const MS_INVALIDATE: i32 = 2;
/// `msync`: write back synchronously.
pub const MS_SYNC: i32 = 4;
