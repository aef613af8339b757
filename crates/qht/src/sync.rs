//! The synchronisation primitives `qht` is built from, switched to loom's models under
//! `--cfg loom` so that the bucket protocol can be model-checked.
//!
//! Under loom, epoch reclamation is replaced by never freeing: the models check the
//! orderings of the bucket protocol (seqlock, dense removal, map swap), while Miri and the
//! stress tests check reclamation through crossbeam-epoch.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicIsize, AtomicPtr, AtomicU32, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicIsize, AtomicPtr, AtomicU32, AtomicUsize};

/// One step of a spin-wait. Under loom every step yields so the model checker can schedule
/// the thread we wait for.
#[inline]
pub(crate) fn spin(step: &mut u32) {
    #[cfg(loom)]
    {
        let _ = step;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    {
        if *step < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
        *step = step.saturating_add(1);
    }
}

/// The mutex that serialises resizes, resets and whole-table walks.
#[cfg(not(loom))]
pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
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
        pub(crate) fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }
}

#[cfg(not(loom))]
pub use crossbeam_epoch::{pin, Guard};

#[cfg(loom)]
pub use loom_epoch::{pin, Guard};

#[cfg(loom)]
mod loom_epoch {
    /// Stand-in for `crossbeam_epoch::Guard` under loom (nothing is ever freed there).
    #[derive(Debug)]
    pub struct Guard {
        _private: (),
    }

    /// Stand-in for `crossbeam_epoch::pin`.
    pub fn pin() -> Guard {
        Guard { _private: () }
    }
}

/// Frees the `Box` behind `ptr` once no thread pinned now can still be reading it.
///
/// # Safety
/// `ptr` came from `Box::into_raw`, is no longer reachable from the table for threads that
/// pin after this call, and is passed here exactly once.
pub(crate) unsafe fn defer_drop_box<X: Send + 'static>(guard: &Guard, ptr: *mut X) {
    #[cfg(not(loom))]
    {
        let ptr = SendPtr(ptr);
        // SAFETY: the caller guarantees `ptr` is unreachable for new readers and owned by
        // us; the epoch runs the closure only after every thread pinned now has unpinned, so
        // no reader can still hold a reference. `X: Send` makes dropping it elsewhere sound.
        unsafe {
            guard.defer_unchecked(move || {
                let ptr = ptr;
                drop(Box::from_raw(ptr.0));
            })
        };
        thread_local!(static DEFERRED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
        DEFERRED.with(|d| {
            let n = d.get().wrapping_add(1);
            d.set(n);
            if n % 64 == 0 {
                guard.flush();
            }
        });
    }
    #[cfg(loom)]
    {
        let _ = (guard, ptr);
    }
}

/// A raw pointer that may cross threads; only used to hand an owned box to the collector.
#[cfg(not(loom))]
struct SendPtr<X>(*mut X);
// SAFETY: the pointer is an owned `Box<X>` with `X: Send`, moved to the thread that frees it.
#[cfg(not(loom))]
unsafe impl<X: Send> Send for SendPtr<X> {}
