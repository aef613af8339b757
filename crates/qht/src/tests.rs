//! Unit tests; small enough to run under Miri (`cargo +nightly miri test -p qht --lib`).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use super::*;

/// An element that counts its drops, so that tests can prove nothing leaks or drops twice.
#[derive(Debug)]
struct Elem {
    key: u64,
    tag: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Elem {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

fn same_key(a: &Elem, b: &Elem) -> bool {
    a.key == b.key
}

fn hash(key: u64) -> u32 {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
}

/// A deliberately terrible hash: everything in one chain.
fn one_chain(_key: u64) -> u32 {
    7
}

fn elem(key: u64, drops: &Arc<AtomicUsize>) -> Box<Elem> {
    Box::new(Elem {
        key,
        tag: key * 10,
        drops: drops.clone(),
    })
}

fn find<'g>(t: &'g Qht<Elem>, key: u64, h: u32, g: &'g Guard) -> Option<&'g Elem> {
    t.lookup(h, |e| e.key == key, g)
}

/// Runs deferred drops until `drops` reaches `want` (the epoch frees lazily).
fn settle(drops: &AtomicUsize, want: usize) {
    // Other tests running in parallel may hold pins that delay the epoch; wait for them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while drops.load(SeqCst) < want && std::time::Instant::now() < deadline {
        pin().flush();
        std::thread::yield_now();
    }
    assert_eq!(drops.load(SeqCst), want);
}

#[test]
fn bucket_is_one_cache_line() {
    assert_eq!(std::mem::size_of::<Bucket<Elem>>(), 64);
    assert_eq!(std::mem::align_of::<Bucket<Elem>>(), 64);
}

#[test]
fn insert_lookup_remove() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Qht::new(same_key, 16, Resize::Manual);
    let g = pin();
    for k in 0..40 {
        let e = t.insert(elem(k, &drops), hash(k), &g).unwrap();
        assert_eq!(e.key, k);
    }
    assert_eq!(t.len(), 40);
    for k in 0..40 {
        assert_eq!(find(&t, k, hash(k), &g).unwrap().tag, k * 10);
    }
    assert!(find(&t, 99, hash(99), &g).is_none());
    // The hash filters before the predicate decides: right key under a wrong hash misses.
    assert!(find(&t, 3, hash(3) ^ 1, &g).is_none());

    for k in (0..40).step_by(3) {
        let e = find(&t, k, hash(k), &g).unwrap();
        assert!(t.remove(e, hash(k), &g));
        assert!(
            !t.remove(e, hash(k), &g),
            "second remove of the same element"
        );
    }
    for k in 0..40 {
        assert_eq!(find(&t, k, hash(k), &g).is_some(), k % 3 != 0, "key {k}");
    }
    assert_eq!(t.len(), 40 - 14);
    drop(g);
    drop(t);
    settle(&drops, 40);
}

#[test]
fn duplicate_insert_returns_the_winner_and_the_loser() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Qht::new(same_key, 4, Resize::Manual);
    let g = pin();
    let first = t.insert(elem(5, &drops), hash(5), &g).unwrap() as *const Elem;
    let mut loser = elem(5, &drops);
    loser.tag = 1234;
    let dup = t.insert(loser, hash(5), &g).unwrap_err();
    assert!(std::ptr::eq(dup.existing, first));
    assert_eq!(dup.rejected.tag, 1234);
    assert_eq!(t.len(), 1);
    drop(dup);
    assert_eq!(
        drops.load(SeqCst),
        1,
        "the rejected element is the caller's to drop"
    );
    // Equal by `eq` but under another hash is a different slot: not a duplicate.
    assert!(t.insert(elem(5, &drops), hash(5) ^ 0x100, &g).is_ok());
    drop(g);
    drop(t);
    settle(&drops, 3);
}

#[test]
fn long_chains_stay_dense_through_removals() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Qht::new(same_key, 1, Resize::Manual);
    let g = pin();
    for k in 0..23 {
        t.insert(elem(k, &drops), one_chain(k), &g).unwrap();
    }
    let s = t.stats();
    assert_eq!(s.head_buckets, 1);
    assert_eq!(s.chain_lengths[6], 1, "{s:?}");
    // Remove from the front, the middle and the end; the rest must stay reachable.
    for k in [0, 11, 22, 5, 6, 7, 8] {
        let e = find(&t, k, one_chain(k), &g).unwrap();
        assert!(t.remove(e, one_chain(k), &g));
        for other in 0..23 {
            let gone = [0, 11, 22, 5, 6, 7, 8]
                .iter()
                .take_while(|&&x| x != k)
                .any(|&x| x == other)
                || other == k;
            assert_eq!(
                find(&t, other, one_chain(other), &g).is_some(),
                !gone,
                "{other}"
            );
        }
    }
    assert_eq!(t.len(), 16);
    assert_eq!(t.stats().entries, 16);
    drop(g);
    drop(t);
    settle(&drops, 23);
}

#[test]
fn resize_keeps_every_element() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Qht::new(same_key, 8, Resize::Manual);
    let g = pin();
    for k in 0..100 {
        t.insert(elem(k, &drops), hash(k), &g).unwrap();
    }
    for size in [1024, 1, 64, 64] {
        let before = t.stats().head_buckets;
        let changed = t.resize(size);
        assert_eq!(changed, before != buckets_for(size));
        assert_eq!(t.stats().head_buckets, buckets_for(size));
        for k in 0..100 {
            assert!(
                find(&t, k, hash(k), &g).is_some(),
                "key {k} after resize to {size}"
            );
        }
        assert_eq!(t.len(), 100);
        assert_eq!(t.stats().entries, 100);
    }
    drop(g);
    drop(t);
    settle(&drops, 100);
}

#[test]
fn auto_resize_grows_when_chains_overflow() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Qht::new(same_key, 4, Resize::Auto);
    let g = pin();
    let before = t.stats().head_buckets;
    for k in 0..200 {
        t.insert(elem(k, &drops), hash(k), &g).unwrap();
    }
    let after = t.stats();
    assert!(after.head_buckets > before, "{after:?}");
    assert!(after.mean_chain_length() < 2.0, "{after:?}");
    let manual = Qht::new(same_key, 4, Resize::Manual);
    for k in 0..200 {
        manual.insert(elem(k, &drops), hash(k), &g).unwrap();
    }
    assert_eq!(manual.stats().head_buckets, before);
    drop(g);
    drop(t);
    drop(manual);
    settle(&drops, 400);
}

#[test]
fn auto_resize_grows_small_tables_sixteen_fold_then_doubles() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Qht::new(same_key, 4, Resize::Auto);
    let g = pin();
    let n = if cfg!(miri) { 300 } else { 40_000 };
    let mut sizes = vec![t.stats().head_buckets];
    for k in 0..n {
        t.insert(elem(k, &drops), hash(k), &g).unwrap();
        let now = t.stats().head_buckets;
        if now != *sizes.last().unwrap() {
            sizes.push(now);
        }
    }
    assert!(sizes.len() > 1, "{sizes:?}");
    for w in sizes.windows(2) {
        let factor = if w[0] < crate::FAST_GROWTH_BUCKETS {
            16
        } else {
            2
        };
        let want = (w[0] * factor).min(crate::FAST_GROWTH_BUCKETS.max(w[0] * 2));
        assert_eq!(w[1], want, "{sizes:?}");
    }
    if !cfg!(miri) {
        assert!(
            *sizes.last().unwrap() > crate::FAST_GROWTH_BUCKETS,
            "{sizes:?}"
        );
    }
    drop(g);
    drop(t);
    settle(&drops, n as usize);
}

#[test]
fn retain_reset_and_for_each() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Qht::new(same_key, 8, Resize::Auto);
    let g = pin();
    for k in 0..60 {
        t.insert(elem(k, &drops), hash(k), &g).unwrap();
    }
    let mut seen = Vec::new();
    t.for_each(|e| seen.push(e.key), &g);
    seen.sort();
    assert_eq!(seen, (0..60).collect::<Vec<_>>());

    assert_eq!(t.retain(|e| e.key % 2 == 0, &g), 30);
    assert_eq!(t.len(), 30);
    for k in 0..60 {
        assert_eq!(find(&t, k, hash(k), &g).is_some(), k % 2 == 0);
    }
    t.reset(&g);
    assert!(t.is_empty());
    assert_eq!(t.stats().entries, 0);
    assert!(find(&t, 0, hash(0), &g).is_none());
    // The table is usable after a reset.
    t.insert(elem(1, &drops), hash(1), &g).unwrap();
    drop(g);
    drop(t);
    settle(&drops, 61);
}

#[test]
fn removed_element_stays_readable_until_the_guard_ends() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Qht::new(same_key, 4, Resize::Manual);
    let reader = pin();
    let e = t.insert(elem(9, &drops), hash(9), &reader).unwrap();
    {
        let writer = pin();
        assert!(t.remove(e, hash(9), &writer));
    }
    for _ in 0..100 {
        pin().flush();
    }
    // `reader` was pinned before the removal, so the element cannot have been freed.
    assert_eq!(drops.load(SeqCst), 0);
    assert_eq!(e.tag, 90);
    drop(reader);
    settle(&drops, 1);
    drop(t);
}

#[test]
fn threads_race_to_insert_the_same_keys() {
    let drops = Arc::new(AtomicUsize::new(0));
    let t = Arc::new(Qht::new(same_key, 4, Resize::Auto));
    let keys = 40u64;
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (t, drops) = (t.clone(), drops.clone());
            std::thread::spawn(move || {
                let g = pin();
                let mut won = 0;
                for k in 0..keys {
                    match t.insert(elem(k, &drops), hash(k), &g) {
                        Ok(_) => won += 1,
                        Err(d) => assert_eq!(d.existing.key, k),
                    }
                }
                won
            })
        })
        .collect();
    let won: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(won, keys, "exactly one winner per key");
    assert_eq!(t.len(), keys as usize);
    drop(t);
    settle(&drops, 3 * keys as usize);
}
