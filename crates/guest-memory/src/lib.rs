//! The guest address space.
//!
//! Reserves one host region at start-up and places every guest mapping inside it, so that
//! no guest address, however crafted, reaches emulator memory. Owns the page map
//! (protections, which pages hold translated code) and the checked accessors the emulator
//! itself uses to read and write guest memory.
//!
//! # Layout
//!
//! [`GuestSpace`] reserves `size + GUARD_SIZE` bytes of host address space with
//! `PROT_NONE` at start-up, where `size` is a power of two between 4 GiB and 1 TiB (the
//! largest the host grants). Guest address `a` lives at host address `base + a`.
//! Translated code traps on any guest address at or above `size` before computing `base +
//! a`, and an access that starts below `size` and runs past it lands in the
//! always-inaccessible guard and faults.
//!
//! Every guest mapping is a host mapping placed with `MAP_FIXED` inside the reservation;
//! unmapping re-reserves the range as `PROT_NONE`, so the reservation never has holes
//! (except for the brief window documented on [`GuestSpace::mremap`]).
//!
//! # Host requirements
//!
//! Linux hosts with 4 KiB pages only: 16 KiB and 64 KiB page hosts (some aarch64 and
//! ppc64 configurations) are future work and are refused at start-up with
//! [`SpaceError::HostPageSize`]. Errno values are assumed identical between the x86-64
//! guest and the host, which holds for every host Cranelift targets (x86-64, aarch64,
//! riscv64, s390x all use the generic Linux errno numbering).
//!
//! # Concurrency
//!
//! One [`GuestSpace`] is shared by all vCPU threads (`Send + Sync`). The mapping table
//! sits behind a reader-writer lock: checked accesses hold it shared while they copy, so
//! a concurrent `munmap` or `mprotect` cannot pull memory from under them. Guest memory
//! itself is written concurrently by other threads, so this crate never forms Rust
//! references into it: all copies go through raw pointers.
//!
//! # Self-modifying code
//!
//! Pages that code was translated from while guest-writable are write-protected on the
//! host; a guest write faults, and [`GuestSpace::unprotect_code`] (called by the fault
//! handler, and by every emulator write on the guest's behalf) runs the translator's hook
//! before making the page writable again. The per-page state sits behind its own lock,
//! taken before the mapping lock; see the private `code` module.

#[cfg(not(target_os = "linux"))]
compile_error!("guest-memory needs a Linux host");

#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc64",
    target_arch = "powerpc64"
))]
compile_error!("guest-memory assumes the generic Linux errno and mmap ABI of the host");

mod code;
pub mod consts;
mod errno;
mod fork_gate;
mod prot;
mod space;
mod vma;

#[cfg(test)]
mod tests;

pub use errno::{Efault, Errno};
pub use fork_gate::{ForkLock, NoFork};
pub use prot::{Access, Prot};
pub use space::{CodeWriteHook, GuestSpace, SpaceError};
pub use vma::{Vma, VmaKind};

/// Size of a guest page in bytes (x86-64: 4 KiB).
pub const GUEST_PAGE_SIZE: u64 = 4096;

/// Size of the always-`PROT_NONE` guard placed after the guest space.
pub const GUARD_SIZE: u64 = 1 << 20;

/// Largest guest space tried at start-up (1 TiB).
pub const MAX_SPACE_SIZE: u64 = 1 << 40;

/// Smallest guest space accepted (4 GiB).
pub const MIN_SPACE_SIZE: u64 = 1 << 32;

/// Lowest address a non-`MAP_FIXED` mapping may be placed at (Linux's default
/// `vm.mmap_min_addr`).
pub const MMAP_MIN_ADDR: u64 = 0x10000;

/// Rounds `a` down to a guest page boundary.
#[inline]
pub const fn page_down(a: u64) -> u64 {
    a & !(GUEST_PAGE_SIZE - 1)
}

/// Rounds `a` up to a guest page boundary, or `None` on overflow.
#[inline]
pub const fn page_up(a: u64) -> Option<u64> {
    match a.checked_add(GUEST_PAGE_SIZE - 1) {
        Some(v) => Some(v & !(GUEST_PAGE_SIZE - 1)),
        None => None,
    }
}
