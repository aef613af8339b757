//! A concurrent hash table whose lookups never lock, after QEMU's `qht`.
//!
//! Built for the translation-block table of a multicore emulator: every vCPU looks blocks up
//! millions of times a second while others insert, remove and resize. The design follows
//! QEMU's `util/qht.c` as described in "Cross-ISA Machine Emulation for Multicores" (CGO'17):
//!
//! * A power-of-two array of head buckets, each one cache line holding four (hash, pointer)
//!   slots and a link to an overflow bucket. The full 32-bit hash sits beside each pointer,
//!   so a miss touches only the chain's cache lines and a resize never rehashes.
//! * Lookups read a per-chain sequence counter, scan, and retry if a writer changed the chain
//!   meanwhile ([`bucket`](self) protocol). Writers take a per-chain spin lock.
//! * [`Qht::insert`] refuses an element equal to one already present and returns that one:
//!   two vCPUs that translated the same block learn there who won.
//! * The table owns its elements. Removed elements and replaced bucket arrays are freed
//!   through crossbeam-epoch only after every thread that could still see them has unpinned.
//!
//! # Ownership and lifetimes
//! An inserted element belongs to the table. References handed out by [`Qht::lookup`] and
//! [`Qht::insert`] live as long as both the table borrow and the epoch [`Guard`] they were
//! obtained with. After [`Qht::remove`] (or [`Qht::retain`], [`Qht::reset`]) the element is
//! dropped once every guard that was pinned at the time of removal is gone; a reader holding a
//! reference from before the removal may keep using it until its guard ends. Dropping the
//! table drops the elements still in it.
//!
//! # Hashes
//! The caller supplies each element's 32-bit hash and must give the same element the same
//! hash on insert, lookup and remove. Bucket selection uses the hash's low bits, so they must
//! be well mixed.

mod bucket;
mod sync;

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crossbeam_utils::CachePadded;

use bucket::{Bucket, SLOTS};
use sync::{defer_drop_box, fence, AtomicIsize, AtomicPtr, AtomicUsize, Mutex};
pub use sync::{pin, Guard};

/// How the table grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    /// Grow when too many overflow buckets have been added: a small table sixteen-fold (up to
    /// [`FAST_GROWTH_BUCKETS`] head buckets), a larger one two-fold.
    Auto,
    /// Only on an explicit [`Qht::resize`].
    Manual,
}

/// An insert lost to an equal element already in the table.
#[derive(Debug)]
pub struct Duplicate<'g, T> {
    /// The element that was there first.
    pub existing: &'g T,
    /// The element that was refused, handed back so the caller can undo its side effects.
    pub rejected: Box<T>,
}

/// Occupancy figures from [`Qht::stats`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Head buckets in the array.
    pub head_buckets: usize,
    /// Head buckets holding at least one element.
    pub used_head_buckets: usize,
    /// Elements in the table.
    pub entries: usize,
    /// `chain_lengths[k]` is how many used chains are `k` buckets long (index 0 unused).
    pub chain_lengths: Vec<usize>,
    /// Used slots over available slots, across the buckets of used chains (0.0 to 1.0).
    pub occupancy: f64,
}

impl Stats {
    /// Mean chain length of used chains, in buckets.
    pub fn mean_chain_length(&self) -> f64 {
        let chains: usize = self.chain_lengths.iter().sum();
        let buckets: usize = self
            .chain_lengths
            .iter()
            .enumerate()
            .map(|(k, n)| k * n)
            .sum();
        if chains == 0 {
            0.0
        } else {
            buckets as f64 / chains as f64
        }
    }
}

/// Stripes of the element counter: writers of different chains rarely share a cache line.
const COUNT_STRIPES: usize = 16;

/// Growth trigger: more overflow buckets than `head buckets / ADDED_BUCKETS_DIV` (as QEMU).
const ADDED_BUCKETS_DIV: usize = 8;

/// Below this many head buckets, [`Resize::Auto`] grows sixteen-fold rather than doubling.
/// A resize holds every chain's lock, so concurrent writers wait it out: a table that
/// outgrew a small start (sized so that short-lived users touch little memory) usually goes
/// on growing, and reaching its working size in one step instead of four spares the writers
/// three stalls (a 4,700-block translation-heavy run on two vCPUs: ~5% of its time).
pub const FAST_GROWTH_BUCKETS: usize = 4096;

/// One generation of the table: the head bucket array and its growth bookkeeping.
struct Map<T> {
    buckets: Box<[Bucket<T>]>,
    added_buckets: AtomicUsize,
}

impl<T> Map<T> {
    fn new(n_buckets: usize) -> Self {
        debug_assert!(n_buckets.is_power_of_two());
        Map {
            buckets: (0..n_buckets).map(|_| Bucket::new()).collect(),
            added_buckets: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn head(&self, hash: u32) -> &Bucket<T> {
        &self.buckets[hash as usize & (self.buckets.len() - 1)]
    }

    fn needs_growth(&self) -> bool {
        self.added_buckets.load(Relaxed) > (self.buckets.len() / ADDED_BUCKETS_DIV).max(1)
    }
}

/// The concurrent table. See the [crate docs](crate).
pub struct Qht<T: Send + Sync + 'static> {
    /// Current map. Replaced only under `resize_lock`, with every head bucket of the old map
    /// locked, so a writer that locked a head bucket and still sees its map here may change it.
    map: AtomicPtr<Map<T>>,
    /// Serialises resize, reset, retain and for_each.
    resize_lock: Mutex<()>,
    eq: fn(&T, &T) -> bool,
    mode: Resize,
    counts: Box<[CachePadded<AtomicIsize>]>,
    _owns: PhantomData<Box<T>>,
}

impl<T: Send + Sync + 'static> fmt::Debug for Qht<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Qht")
            .field("len", &self.len())
            .field("mode", &self.mode)
            .finish()
    }
}

fn buckets_for(expected: usize) -> usize {
    expected.div_ceil(SLOTS).max(1).next_power_of_two()
}

impl<T: Send + Sync + 'static> Qht<T> {
    /// A table sized for about `expected` elements, using `eq` to detect duplicates on insert.
    pub fn new(eq: fn(&T, &T) -> bool, expected: usize, mode: Resize) -> Self {
        let map = Box::into_raw(Box::new(Map::new(buckets_for(expected))));
        Qht {
            map: AtomicPtr::new(map),
            resize_lock: Mutex::new(()),
            eq,
            mode,
            counts: (0..COUNT_STRIPES)
                .map(|_| CachePadded::new(AtomicIsize::new(0)))
                .collect(),
            _owns: PhantomData,
        }
    }

    #[inline]
    fn map<'g>(&'g self, _guard: &'g Guard) -> &'g Map<T> {
        // SAFETY: the map pointer is never null; a replaced map is freed through the epoch only
        // after every guard pinned before the replacement is gone, and `_guard` is pinned for
        // 'g. Acquire pairs with the release store that published the map.
        unsafe { &*self.map.load(Acquire) }
    }

    fn count(&self, hash: u32, delta: isize) {
        self.counts[hash as usize % COUNT_STRIPES].fetch_add(delta, Relaxed);
    }

    /// Locks the head bucket for `hash` in the current map, retrying if a resize replaces the
    /// map while we wait.
    fn lock_head<'g>(&'g self, hash: u32, guard: &'g Guard) -> (&'g Map<T>, &'g Bucket<T>) {
        loop {
            let map = self.map(guard);
            let head = map.head(hash);
            head.lock();
            if std::ptr::eq(self.map.load(Acquire), map) {
                return (map, head);
            }
            head.unlock();
        }
    }

    /// Finds an element with hash `hash` for which `pred` holds, without locking.
    ///
    /// `pred` compares against a key that need not be an element (QEMU's
    /// `qht_lookup_custom`). It may be called on elements that a concurrent writer is moving or
    /// removing, and more than once per element if the scan is retried; it must only read.
    #[inline]
    pub fn lookup<'g, F>(&'g self, hash: u32, mut pred: F, guard: &'g Guard) -> Option<&'g T>
    where
        F: FnMut(&T) -> bool,
    {
        let head = self.map(guard).head(hash);
        loop {
            let seq = head.read_begin();
            let found = scan(head, hash, &mut pred);
            if !head.read_retry(seq) {
                // SAFETY: the pointer was in the table during a validated scan, so it is a
                // live element or one removed after this guard was pinned; either way the
                // epoch keeps it alive for 'g.
                return found.map(|p| unsafe { &*p });
            }
        }
    }

    /// Inserts `elem`, or returns the equal element already present (by the table's `eq`)
    /// together with `elem` itself.
    pub fn insert<'g>(
        &'g self,
        elem: Box<T>,
        hash: u32,
        guard: &'g Guard,
    ) -> Result<&'g T, Duplicate<'g, T>> {
        let (map, head) = self.lock_head(hash, guard);
        // Look for an equal element and for the first free slot in one pass.
        let mut bucket = head;
        let mut free = None;
        'chain: loop {
            for i in 0..SLOTS {
                let p = bucket.ptrs[i].load(Relaxed);
                if p.is_null() {
                    free = Some((bucket, i));
                    break 'chain;
                }
                // SAFETY: we hold the chain's lock, so `p` is a live element of the table.
                let existing = unsafe { &*p };
                if bucket.hashes[i].load(Relaxed) == hash && (self.eq)(existing, &elem) {
                    head.unlock();
                    return Err(Duplicate {
                        existing,
                        rejected: elem,
                    });
                }
            }
            match bucket.next() {
                Some(next) => bucket = next,
                None => break,
            }
        }
        let ptr = Box::into_raw(elem);
        head.write_begin();
        let grew_chain = free.is_none();
        let (bucket, i) = free.unwrap_or_else(|| (bucket.push_overflow(), 0));
        bucket.hashes[i].store(hash, Relaxed);
        bucket.ptrs[i].store(ptr, Release);
        head.write_end();
        head.unlock();
        self.count(hash, 1);
        if grew_chain {
            map.added_buckets.fetch_add(1, Relaxed);
            if self.mode == Resize::Auto && map.needs_growth() {
                self.grow(map, guard);
            }
        }
        // SAFETY: just inserted; any removal frees it through the epoch, after 'g.
        Ok(unsafe { &*ptr })
    }

    /// Removes `elem` (found by identity, under `hash`) and schedules it to be dropped once no
    /// reader can still see it. Returns false if it was not in the table.
    pub fn remove(&self, elem: &T, hash: u32, guard: &Guard) -> bool {
        let target = elem as *const T;
        let (_, head) = self.lock_head(hash, guard);
        let mut found = None;
        let mut last = None;
        let mut bucket = head;
        'chain: loop {
            for i in 0..SLOTS {
                let p = bucket.ptrs[i].load(Relaxed);
                if p.is_null() {
                    break 'chain;
                }
                if std::ptr::eq(p, target) {
                    found = Some((bucket, i, p));
                }
                last = Some((bucket, i));
            }
            match bucket.next() {
                Some(next) => bucket = next,
                None => break,
            }
        }
        let (Some((fb, fi, owned)), Some((lb, li))) = (found, last) else {
            head.unlock();
            return false;
        };
        // Keep the chain dense: the last element moves into the hole.
        head.write_begin();
        if !(std::ptr::eq(fb, lb) && fi == li) {
            fb.hashes[fi].store(lb.hashes[li].load(Relaxed), Relaxed);
            fb.ptrs[fi].store(lb.ptrs[li].load(Relaxed), Release);
        }
        lb.ptrs[li].store(std::ptr::null_mut(), Relaxed);
        head.write_end();
        head.unlock();
        self.count(hash, -1);
        // SAFETY: `owned` is the table's own pointer from `Box::into_raw` in `insert` (not one
        // derived from the caller's shared reference, which may not be used to free), is now
        // unreachable from the table, and only the thread that unlinked it schedules its drop.
        unsafe { defer_drop_box(guard, owned) };
        true
    }

    /// Removes every element for which `keep` returns false; returns how many were removed.
    /// Elements present throughout the call are each offered to `keep` exactly once.
    pub fn retain(&self, mut keep: impl FnMut(&T) -> bool, guard: &Guard) -> usize {
        let _l = self.resize_lock.lock();
        let map = self.map(guard);
        let mut removed = 0;
        for head in map.buckets.iter() {
            head.lock();
            let entries = head.entries_locked();
            let mut kept = Vec::with_capacity(entries.len());
            let mut gone = Vec::new();
            for (h, p) in entries {
                // SAFETY: we hold the chain's lock, so `p` is a live element.
                if keep(unsafe { &*p }) {
                    kept.push((h, p));
                } else {
                    gone.push((h, p));
                }
            }
            if !gone.is_empty() {
                head.write_begin();
                head.fill_locked(&kept);
                head.write_end();
            }
            head.unlock();
            for (h, p) in gone {
                self.count(h, -1);
                removed += 1;
                // SAFETY: unlinked above under the lock; only this thread schedules its drop.
                unsafe { defer_drop_box(guard, p) };
            }
        }
        removed
    }

    /// Removes every element (QEMU's `qht_reset`), keeping the table's size.
    pub fn reset(&self, guard: &Guard) {
        self.retain(|_| false, guard);
    }

    /// Calls `f` on every element. Elements present throughout the call are visited exactly
    /// once; elements inserted or removed meanwhile may or may not be. `f` may use the table
    /// except for calls that take the resize lock (`resize`, `retain`, `reset`, `for_each`).
    pub fn for_each(&self, mut f: impl FnMut(&T), guard: &Guard) {
        let _l = self.resize_lock.lock();
        let map = self.map(guard);
        let mut snapshot = Vec::new();
        for head in map.buckets.iter() {
            loop {
                snapshot.clear();
                let seq = head.read_begin();
                let mut b = Some(head);
                'chain: while let Some(bucket) = b {
                    for i in 0..SLOTS {
                        let p = bucket.ptrs[i].load(Relaxed);
                        if p.is_null() {
                            break 'chain;
                        }
                        snapshot.push(p);
                    }
                    b = bucket.next();
                }
                if !head.read_retry(seq) {
                    break;
                }
            }
            fence(Acquire);
            for &p in &snapshot {
                // SAFETY: `p` was in the chain during a validated read; the epoch keeps it
                // alive while `guard` is pinned even if it has been removed since.
                f(unsafe { &*p });
            }
        }
    }

    /// Number of elements. Exact when no writer runs concurrently.
    pub fn len(&self) -> usize {
        self.counts
            .iter()
            .map(|c| c.load(Relaxed))
            .sum::<isize>()
            .max(0) as usize
    }

    /// True if [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resizes to hold about `expected` elements (rounded to a power of two of head
    /// buckets). Returns false if the size did not change.
    pub fn resize(&self, expected: usize) -> bool {
        let guard = pin();
        let _l = self.resize_lock.lock();
        self.resize_locked(buckets_for(expected), &guard)
    }

    fn grow(&self, seen: &Map<T>, guard: &Guard) {
        // A concurrent resize already does the work; one denied try costs nothing, the next
        // insert that adds an overflow bucket tries again.
        if let Some(_l) = self.resize_lock.try_lock() {
            if std::ptr::eq(self.map(guard), seen) {
                let n = seen.buckets.len();
                let factor = if n < FAST_GROWTH_BUCKETS { 16 } else { 2 };
                self.resize_locked((n * factor).min(FAST_GROWTH_BUCKETS.max(n * 2)), guard);
            }
        }
    }

    /// Replaces the map by one with `n_buckets` heads. Caller holds `resize_lock`.
    fn resize_locked(&self, n_buckets: usize, guard: &Guard) -> bool {
        let old = self.map(guard);
        if old.buckets.len() == n_buckets {
            return false;
        }
        // Lock every chain: writers wait, readers carry on reading the old map, which no one
        // changes from here on.
        for head in old.buckets.iter() {
            head.lock();
        }
        let new = Map::new(n_buckets);
        let mut per_head: Vec<Vec<(u32, *mut T)>> = vec![Vec::new(); n_buckets];
        for head in old.buckets.iter() {
            for (h, p) in head.entries_locked() {
                per_head[h as usize & (n_buckets - 1)].push((h, p));
            }
        }
        let mut added = 0;
        for (head, entries) in new.buckets.iter().zip(&per_head) {
            added += head.fill_locked(entries);
        }
        new.added_buckets.store(added, Relaxed);
        let new = Box::into_raw(Box::new(new));
        let old_ptr = self.map.swap(new, Release);
        for head in old.buckets.iter() {
            head.unlock();
        }
        // SAFETY: the old map came from `Box::into_raw`, is unreachable for threads that load
        // the map pointer from now on, and only the resizer (serialised by `resize_lock`)
        // schedules its drop. Its elements moved to the new map; dropping a `Map` frees buckets
        // only.
        unsafe { defer_drop_box(guard, old_ptr) };
        true
    }

    /// Occupancy figures, read without stopping writers (so approximate under writes).
    pub fn stats(&self) -> Stats {
        let guard = pin();
        let map = self.map(&guard);
        let mut stats = Stats {
            head_buckets: map.buckets.len(),
            ..Stats::default()
        };
        let mut slots = 0;
        for head in map.buckets.iter() {
            let (entries, buckets) = loop {
                let seq = head.read_begin();
                let (mut entries, mut buckets) = (0usize, 0usize);
                let mut b = Some(head);
                'chain: while let Some(bucket) = b {
                    buckets += 1;
                    for i in 0..SLOTS {
                        if bucket.ptrs[i].load(Relaxed).is_null() {
                            break 'chain;
                        }
                        entries += 1;
                    }
                    b = bucket.next();
                }
                if !head.read_retry(seq) {
                    break (entries, buckets);
                }
            };
            if entries == 0 {
                continue;
            }
            // A full last bucket followed by none is counted as the chain's end.
            let buckets = buckets.min(entries.div_ceil(SLOTS));
            stats.used_head_buckets += 1;
            stats.entries += entries;
            slots += buckets * SLOTS;
            if stats.chain_lengths.len() <= buckets {
                stats.chain_lengths.resize(buckets + 1, 0);
            }
            stats.chain_lengths[buckets] += 1;
        }
        stats.occupancy = if slots == 0 {
            0.0
        } else {
            stats.entries as f64 / slots as f64
        };
        stats
    }
}

/// Scans a chain for an element with `hash` satisfying `pred`. May see a chain mid-change;
/// the caller validates with the chain's sequence counter.
#[inline]
fn scan<T>(head: &Bucket<T>, hash: u32, pred: &mut impl FnMut(&T) -> bool) -> Option<*mut T> {
    let mut bucket = head;
    loop {
        // Match all four hashes first, without branching on the slot position: the matching
        // slot is random, so a slot-by-slot scan mispredicts about once per lookup.
        let mut m = 0u32;
        for i in 0..SLOTS {
            m |= u32::from(bucket.hashes[i].load(Relaxed) == hash) << i;
        }
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            let p = bucket.ptrs[i].load(Relaxed);
            if p.is_null() {
                // Dense chain: this slot and all later ones are empty (stale hash).
                return None;
            }
            // Pairs with the release store of the pointer: the element is fully built.
            fence(Acquire);
            // SAFETY: every pointer ever stored in a slot is a live element or one whose
            // drop the epoch defers past the caller's guard.
            if pred(unsafe { &*p }) {
                return Some(p);
            }
            m &= m - 1;
        }
        // Dense chain: a bucket with a free last slot ends it.
        if bucket.ptrs[SLOTS - 1].load(Relaxed).is_null() {
            return None;
        }
        bucket = bucket.next()?;
    }
}

impl<T: Send + Sync + 'static> Drop for Qht<T> {
    fn drop(&mut self) {
        let map = self.map.swap(std::ptr::null_mut(), Relaxed);
        // SAFETY: `&mut self` means no other thread uses the table, and every reference it
        // handed out borrowed the table, so none outlives it. The map and its elements came
        // from `Box::into_raw`, and each element is in exactly one slot.
        unsafe {
            let map = Box::from_raw(map);
            for head in map.buckets.iter() {
                for (_, p) in head.entries_locked() {
                    drop(Box::from_raw(p));
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
