//! The fork gate: what keeps a host `fork` from splitting another thread's critical section.
//!
//! A forked child has only the forking thread. A lock that another thread held at the
//! moment of the fork stays held in the child for ever, and a lock some thread was waiting
//! for may be handed, in the child, to a thread that does not exist (parking_lot's fair
//! unlock). So every critical section that the child may need (the address space's locks,
//! and those of the process's other shared state) runs inside the gate, shared, and the
//! fork takes the gate exclusively: it waits until no thread is inside one, and no thread
//! enters one until the fork is done.
//!
//! # Invariants
//! - While a [`ForkLock`] is held, no thread other than its holder is inside a [`NoFork`]
//!   section, nor waiting for a lock taken inside one.
//! - The gate is std's lock, not parking_lot's: its whole state is its own word, so the child
//!   can release the copy the forking thread held (a wake of waiters who are not there is a
//!   no-op); parking_lot's lives partly in a process-wide table other threads may have been
//!   updating.
//! - A thread never takes the gate twice: sections nest (a copy into guest memory that
//!   faults into the code-write path, a fork that writes the child's tid), counted per
//!   thread, so a nested section cannot wait behind a fork that waits for the outer one.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

thread_local! {
    /// How many gate sections (or a fork lock) this thread is inside. Const-initialised with
    /// no destructor, so reading it is safe in a signal handler (the fault path).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct ForkGate(RwLock<()>);

impl ForkGate {
    /// Enters a section that a fork must not split.
    pub(crate) fn enter(&self) -> NoFork<'_> {
        let depth = DEPTH.get();
        DEPTH.set(depth + 1);
        let held = (depth == 0).then(|| self.0.read().unwrap_or_else(PoisonError::into_inner));
        NoFork { _held: held }
    }

    /// Waits until no other thread is inside a section and keeps them out until dropped.
    pub(crate) fn lock_for_fork(&self) -> ForkLock<'_> {
        // Inside a section of its own, the caller would wait for itself.
        debug_assert_eq!(DEPTH.get(), 0, "lock_for_fork inside a NoFork section");
        let held = self.0.write().unwrap_or_else(PoisonError::into_inner);
        DEPTH.set(DEPTH.get() + 1);
        ForkLock { _held: held }
    }
}

/// A critical section that a host fork must not split (see [`crate::GuestSpace::hold_off_fork`]).
#[must_use = "the section ends when this is dropped"]
#[derive(Debug)]
pub struct NoFork<'a> {
    /// `None` for a nested section.
    _held: Option<RwLockReadGuard<'a, ()>>,
}

impl Drop for NoFork<'_> {
    fn drop(&mut self) {
        DEPTH.set(DEPTH.get() - 1);
    }
}

/// Held by the forking thread around a host fork (see [`crate::GuestSpace::lock_for_fork`]).
#[must_use = "the gate opens again when this is dropped"]
#[derive(Debug)]
pub struct ForkLock<'a> {
    _held: RwLockWriteGuard<'a, ()>,
}

impl Drop for ForkLock<'_> {
    fn drop(&mut self) {
        DEPTH.set(DEPTH.get() - 1);
    }
}

/// A lock guard taken inside the gate; the guard is released before the gate.
pub(crate) struct Gated<'a, G> {
    pub(crate) guard: G,
    pub(crate) _section: NoFork<'a>,
}

impl<G: Deref> Deref for Gated<'_, G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: DerefMut> DerefMut for Gated<'_, G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}
