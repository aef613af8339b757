//! loom models of the bucket protocol: every interleaving (up to loom's bounds) of a reader
//! against a writer on one chain.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p qht --release --test loom`.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use qht::{pin, Qht, Resize};

/// The payload is a loom cell, so loom checks that a reader that finds an element also sees
/// the writes that built it (the pointer publication), not only the table's atomics.
#[derive(Debug)]
struct Elem {
    key: u64,
    payload: UnsafeCell<u64>,
}

// SAFETY: `payload` is written only before the element is inserted and read only after; loom
// reports any read that is not ordered after the write, which is what these models check.
unsafe impl Sync for Elem {}

fn elem(key: u64) -> Box<Elem> {
    let e = Box::new(Elem {
        key,
        payload: UnsafeCell::new(0),
    });
    // SAFETY: the element is not shared yet.
    e.payload.with_mut(|p| unsafe { *p = key * 3 });
    e
}

fn read(e: &Elem) -> u64 {
    // SAFETY: no one writes `payload` after publication.
    e.payload.with(|p| unsafe { *p })
}

fn table() -> Arc<Qht<Elem>> {
    Arc::new(Qht::new(
        |a: &Elem, b: &Elem| a.key == b.key,
        1,
        Resize::Manual,
    ))
}

/// Every key lands in the single head bucket: one chain, the worst case for the protocol.
const H: u32 = 0;

/// Runs `f` on a spawned thread. Readers go on spawned threads and writers on the model's main
/// thread: with the roles the other way round loom explored a single interleaving.
fn reader(t: &Arc<Qht<Elem>>, f: fn(&Qht<Elem>)) -> thread::JoinHandle<()> {
    let t = t.clone();
    thread::spawn(move || f(&t))
}

fn find(t: &Qht<Elem>, key: u64) -> Option<u64> {
    let g = pin();
    t.lookup(H, |e| e.key == key, &g).map(read)
}

#[test]
fn seqlock_reader_against_inserter() {
    loom::model(|| {
        let t = table();
        t.insert(elem(1), H, &pin()).unwrap();
        let r = reader(&t, |t| {
            assert_eq!(find(t, 1), Some(3));
            let two = find(t, 2);
            assert!(two.is_none() || two == Some(6));
        });
        t.insert(elem(2), H, &pin()).unwrap();
        r.join().unwrap();
        assert_eq!(find(&t, 2), Some(6));
    });
}

#[test]
fn dense_removal_never_hides_the_moved_element() {
    loom::model(|| {
        let t = table();
        // Five elements: a full head bucket and one in an overflow bucket. Removing the first
        // moves the last into its slot; a concurrent reader of the last must still find it.
        for k in 0..5 {
            t.insert(elem(k), H, &pin()).unwrap();
        }
        let r = reader(&t, |t| assert_eq!(find(t, 4), Some(12)));
        let g = pin();
        let first = t.lookup(H, |e| e.key == 0, &g).unwrap();
        assert!(t.remove(first, H, &g));
        r.join().unwrap();
        assert_eq!(find(&t, 0), None);
        assert_eq!(t.len(), 4);
    });
}

#[test]
fn lookup_during_resize() {
    loom::model(|| {
        let t = table();
        t.insert(elem(7), H, &pin()).unwrap();
        let r = reader(&t, |t| assert_eq!(find(t, 7), Some(21)));
        assert!(t.resize(8));
        r.join().unwrap();
        assert_eq!(find(&t, 7), Some(21));
    });
}

#[test]
fn insert_during_resize_is_not_lost() {
    loom::model(|| {
        let t = table();
        t.insert(elem(1), H, &pin()).unwrap();
        let w = {
            let t = t.clone();
            thread::spawn(move || {
                t.resize(8);
            })
        };
        t.insert(elem(2), H, &pin()).unwrap();
        w.join().unwrap();
        assert_eq!(find(&t, 1), Some(3));
        assert_eq!(find(&t, 2), Some(6));
        assert_eq!(t.len(), 2);
    });
}

#[test]
fn racing_inserts_of_one_key_have_one_winner() {
    loom::model(|| {
        let t = table();
        let w = {
            let t = t.clone();
            thread::spawn(move || t.insert(elem(5), H, &pin()).is_ok())
        };
        let mine = t.insert(elem(5), H, &pin()).is_ok();
        let theirs = w.join().unwrap();
        assert!(mine ^ theirs, "exactly one insert wins");
        assert_eq!(t.len(), 1);
    });
}
