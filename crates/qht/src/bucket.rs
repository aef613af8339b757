//! One cache line of the table: a lock, a sequence counter, four (hash, pointer) slots and a
//! link to an overflow bucket.
//!
//! # The bucket protocol
//! * A chain is a head bucket and the overflow buckets linked from it. Only the head's `lock`
//!   and `seq` are used; they cover the whole chain.
//! * Chains are dense: the non-null pointers of a chain form a prefix of its slots, in chain
//!   order. A reader stops at the first null pointer.
//! * Writers hold the head's `lock` and wrap every change in `write_begin`/`write_end`, which
//!   make `seq` odd and then even again.
//! * Readers never lock: `read_begin` waits for an even `seq`, they scan with relaxed loads,
//!   and `read_retry` tells whether `seq` moved meanwhile; if so they scan again. A scan may
//!   see a half-written chain, but then it is discarded.
//! * A pointer is stored (release) only after its element is fully built, and its hash is
//!   stored before it, so a reader that sees the pointer sees the element (acquire fence).
//! * Overflow buckets are never unlinked while the map they belong to is live; they are freed
//!   with the map.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::sync::{fence, spin, AtomicPtr, AtomicU32};

/// Slots per bucket: four (hash, pointer) pairs fill a 64-byte line with the header.
pub(crate) const SLOTS: usize = 4;

#[repr(C, align(64))]
pub(crate) struct Bucket<T> {
    lock: AtomicU32,
    seq: AtomicU32,
    pub(crate) hashes: [AtomicU32; SLOTS],
    pub(crate) ptrs: [AtomicPtr<T>; SLOTS],
    pub(crate) next: AtomicPtr<Bucket<T>>,
}

// A bucket is exactly one cache line on 64-bit hosts (loom's atomics are larger).
#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<Bucket<u8>>() == 64);
#[cfg(not(loom))]
const _: () = assert!(std::mem::align_of::<Bucket<u8>>() == 64);

impl<T> Bucket<T> {
    pub(crate) fn new() -> Self {
        Bucket {
            lock: AtomicU32::new(0),
            seq: AtomicU32::new(0),
            hashes: std::array::from_fn(|_| AtomicU32::new(0)),
            ptrs: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Takes the chain's write lock.
    pub(crate) fn lock(&self) {
        let mut step = 0;
        while self
            .lock
            .compare_exchange_weak(0, 1, Acquire, Relaxed)
            .is_err()
        {
            while self.lock.load(Relaxed) != 0 {
                spin(&mut step);
            }
        }
    }

    pub(crate) fn unlock(&self) {
        self.lock.store(0, Release);
    }

    /// Starts a change readers must not see half-done. Lock held.
    pub(crate) fn write_begin(&self) {
        let s = self.seq.load(Relaxed);
        debug_assert!(s & 1 == 0);
        self.seq.store(s.wrapping_add(1), Relaxed);
        // Orders the odd sequence before the slot stores that follow: a reader that sees any
        // of those stores (and then its own acquire fence) sees the odd sequence.
        fence(Release);
    }

    /// Ends a change: readers that overlapped it will retry. Lock held.
    pub(crate) fn write_end(&self) {
        let s = self.seq.load(Relaxed);
        self.seq.store(s.wrapping_add(1), Release);
    }

    /// Waits until no change is in progress and returns the sequence to validate against.
    #[inline]
    pub(crate) fn read_begin(&self) -> u32 {
        let mut step = 0;
        loop {
            let s = self.seq.load(Acquire);
            if s & 1 == 0 {
                return s;
            }
            spin(&mut step);
        }
    }

    /// True if a change overlapped the read that began at `seq`.
    #[inline]
    pub(crate) fn read_retry(&self, seq: u32) -> bool {
        // Orders the scan's loads before the sequence re-read (pairs with `write_begin`).
        fence(Acquire);
        self.seq.load(Relaxed) != seq
    }

    /// The overflow bucket after this one, if any.
    #[inline]
    pub(crate) fn next(&self) -> Option<&Bucket<T>> {
        let next = self.next.load(Acquire);
        // SAFETY: a non-null `next` points to an overflow bucket that was fully initialised
        // before it was published with a release store (or before the map was published), and
        // that lives as long as its map, which outlives `self`'s borrow.
        unsafe { next.as_ref() }
    }

    /// Every (bucket, slot) of the chain holding an element, in chain order. Lock held (or the
    /// map not yet published), so the chain cannot change underneath.
    pub(crate) fn entries_locked(&self) -> Vec<(u32, *mut T)> {
        let mut out = Vec::new();
        let mut b = Some(self);
        while let Some(bucket) = b {
            for i in 0..SLOTS {
                let p = bucket.ptrs[i].load(Relaxed);
                if p.is_null() {
                    return out;
                }
                out.push((bucket.hashes[i].load(Relaxed), p));
            }
            b = bucket.next();
        }
        out
    }

    /// Rewrites the chain to hold exactly `entries`, densely, allocating overflow buckets as
    /// needed. Returns how many overflow buckets were added. Lock held and inside a write
    /// section (or the map not yet published).
    pub(crate) fn fill_locked(&self, entries: &[(u32, *mut T)]) -> usize {
        let mut added = 0;
        let mut it = entries.iter();
        let mut bucket = self;
        loop {
            for i in 0..SLOTS {
                match it.next() {
                    Some(&(h, p)) => {
                        bucket.hashes[i].store(h, Relaxed);
                        bucket.ptrs[i].store(p, Release);
                    }
                    // Leftover overflow buckets stay linked, empty, for later inserts.
                    None => bucket.ptrs[i].store(std::ptr::null_mut(), Relaxed),
                }
            }
            bucket = match bucket.next() {
                Some(next) => next,
                None if it.len() > 0 => {
                    added += 1;
                    bucket.push_overflow()
                }
                None => return added,
            };
        }
    }

    /// Links a fresh, empty overflow bucket after this one (which has none) and returns it.
    pub(crate) fn push_overflow(&self) -> &Bucket<T> {
        debug_assert!(self.next.load(Relaxed).is_null());
        let new = Box::into_raw(Box::new(Bucket::new()));
        self.next.store(new, Release);
        // SAFETY: just allocated and published; freed only with the map, which outlives `self`.
        unsafe { &*new }
    }
}

impl<T> Drop for Bucket<T> {
    fn drop(&mut self) {
        // Free the overflow chain iteratively (a long chain must not recurse deeply).
        let mut next = self.next.swap(std::ptr::null_mut(), Relaxed);
        while !next.is_null() {
            // SAFETY: overflow buckets are created by `push_overflow` with `Box::into_raw`, are
            // linked from exactly one place, and the map that owns the chain is being dropped,
            // so nothing else can reach them.
            let b = unsafe { Box::from_raw(next) };
            next = b.next.swap(std::ptr::null_mut(), Relaxed);
        }
    }
}
