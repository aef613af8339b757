//! Write protection of guest pages that hold translated code, so that self-modifying and
//! cross-modifying code is noticed (QEMU user mode's `page_protect`/`page_unprotect`).
//!
//! A guest-writable page that code was translated from is made read-only on the host while
//! the guest still believes it writable. A guest store to it then faults; the fault handler
//! calls [`crate::GuestSpace::unprotect_code`], which runs the code-write hook (the
//! translator drops every block of the page), restores the host protection, and lets the
//! store be retried. Syscalls that write guest memory unprotect first (the host kernel
//! would return `EFAULT` instead of faulting).
//!
//! # Generations
//! A translation reads the bytes of its pages after protecting them, but is inserted into the
//! block table later; a write in between must not leave a stale block behind. Every page has
//! a write count, bumped (under the code lock) before its blocks are invalidated, and the
//! space has a mapping generation, bumped by every change of mappings or protections. The
//! translator snapshots [`crate::GuestSpace::code_generation`] (their sum, which only grows)
//! when it protects a page and checks it again after inserting its block: if it moved, a
//! write or remap may have raced with the translation, and the block is dropped and
//! translated again. Either the invalidation ran after the insertion and removed the block,
//! or the bump came first and the check sees it.
//!
//! # Lock order
//! The code lock is taken before the space's mapping lock, never after it; the code-write
//! hook runs under the code lock and must not call back into mapping changes.

use std::collections::BTreeMap;

/// State of one page that code was translated from while it was guest-writable, or that
/// maps the same file page as code (an alias, such as the writable view of a dual-mapped JIT
/// buffer).
#[derive(Debug, Default, Clone)]
pub(crate) struct CodePage {
    /// Read-only on the host while the guest may write it.
    pub(crate) protected: bool,
    /// Writes (and remaps) noticed since the page was first protected.
    pub(crate) writes: u64,
    /// Code pages elsewhere in the space that show the same file page: a write here
    /// changes their code too.
    pub(crate) aliases: Vec<u64>,
}

/// The code-protection state of a space, behind the code lock.
#[derive(Debug, Default)]
pub(crate) struct CodePages {
    /// Pages by address (page-aligned).
    pub(crate) pages: BTreeMap<u64, CodePage>,
    /// Bumped by every change of mappings or protections.
    pub(crate) map_generation: u64,
    /// Pages with `protected` set.
    pub(crate) protected: usize,
}

impl CodePages {
    /// The generation snapshot of the page at `page`.
    pub(crate) fn generation(&self, page: u64) -> u64 {
        self.map_generation + self.pages.get(&page).map_or(0, |p| p.writes)
    }

    /// Protected pages in `[start, end)`.
    pub(crate) fn protected_in(&self, start: u64, end: u64) -> Vec<u64> {
        if self.protected == 0 {
            return Vec::new();
        }
        self.pages
            .range(start..end)
            .filter(|(_, p)| p.protected)
            .map(|(a, _)| *a)
            .collect()
    }

    /// Marks `page` unprotected after a write or remap; returns the code pages it aliases.
    pub(crate) fn unmark(&mut self, page: u64) -> Vec<u64> {
        let Some(p) = self.pages.get_mut(&page) else {
            return Vec::new();
        };
        if p.protected {
            p.protected = false;
            self.protected -= 1;
        }
        p.writes += 1;
        let aliases = std::mem::take(&mut p.aliases);
        for &a in &aliases {
            self.pages.entry(a).or_default().writes += 1;
        }
        aliases
    }
}
