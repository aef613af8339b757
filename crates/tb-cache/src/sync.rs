//! The synchronisation primitives the table is built from, switched to loom's models under
//! `--cfg loom` so that the jump-slot and jump-cache protocols can be model-checked
//! (`tests/loom.rs`). Like `qht` under loom, nothing is freed there.

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub use std::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

/// The table's mutexes (page index, links, jump-cache registry, incoming lists).
#[cfg(not(loom))]
pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) use loom::sync::MutexGuard;
#[cfg(loom)]
pub(crate) use loom_mutex::Mutex;

#[cfg(loom)]
mod loom_mutex {
    /// parking_lot's API over loom's mutex.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(v: T) -> Self {
            Mutex(loom::sync::Mutex::new(v))
        }
        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }
}
