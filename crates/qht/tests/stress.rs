//! Many threads insert, remove, look up and resize at once; the invariants must hold
//! throughout and at the end.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use qht::{pin, Qht, Resize};
use rand::{Rng, SeedableRng};

static LIVE: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
struct Elem {
    key: u64,
    /// Derived from the key, so a reader can detect a torn or foreign element.
    check: u64,
}

impl Elem {
    fn new(key: u64) -> Box<Elem> {
        LIVE.fetch_add(1, SeqCst);
        Box::new(Elem {
            key,
            check: !key.rotate_left(17),
        })
    }
}

impl Drop for Elem {
    fn drop(&mut self) {
        assert_eq!(
            self.check,
            !self.key.rotate_left(17),
            "element corrupted before drop"
        );
        self.check = 0;
        LIVE.fetch_sub(1, SeqCst);
    }
}

fn hash(key: u64) -> u32 {
    let x = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x ^ (x >> 29)) as u32
}

const THREADS: u64 = 8;
const KEYS_PER_THREAD: u64 = 512;

/// Each thread owns a disjoint key range and knows exactly which of its keys are present, so
/// it can check every lookup; it also reads other threads' keys, which must never come back
/// torn. A resizer thread cycles the table through sizes meanwhile.
#[test]
fn owners_always_find_their_keys_under_resize() {
    let table = Arc::new(Qht::new(
        |a: &Elem, b: &Elem| a.key == b.key,
        64,
        Resize::Auto,
    ));
    let stop = Arc::new(AtomicBool::new(false));
    // Workers, the resizer and this thread.
    let barrier = Arc::new(Barrier::new(THREADS as usize + 2));
    let run_for = Duration::from_millis(1500);

    let resizer = {
        let (table, stop, barrier) = (table.clone(), stop.clone(), barrier.clone());
        std::thread::spawn(move || {
            barrier.wait();
            let sizes = [16usize, 4096, 64, 1, 1024, 256];
            let mut n = 0;
            while !stop.load(SeqCst) {
                table.resize(sizes[n % sizes.len()]);
                n += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            n
        })
    };

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (table, stop, barrier) = (table.clone(), stop.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                let base = t * KEYS_PER_THREAD;
                let mut present = vec![false; KEYS_PER_THREAD as usize];
                let mut ops = 0u64;
                barrier.wait();
                while !stop.load(SeqCst) {
                    let guard = pin();
                    for _ in 0..64 {
                        let i = rng.gen_range(0..KEYS_PER_THREAD);
                        let key = base + i;
                        let h = hash(key);
                        let found = table.lookup(h, |e| e.key == key, &guard);
                        assert_eq!(found.is_some(), present[i as usize], "key {key}");
                        match rng.gen_range(0..10) {
                            0..=2 => match table.insert(Elem::new(key), h, &guard) {
                                Ok(e) => {
                                    assert!(!present[i as usize], "duplicate inserted: {key}");
                                    assert_eq!(e.key, key);
                                    present[i as usize] = true;
                                }
                                Err(dup) => {
                                    assert!(present[i as usize], "false duplicate: {key}");
                                    assert_eq!(dup.existing.key, key);
                                }
                            },
                            3..=5 => {
                                if let Some(e) = found {
                                    assert!(table.remove(e, h, &guard), "remove of {key}");
                                    present[i as usize] = false;
                                }
                            }
                            _ => {
                                // Someone else's key: may or may not be there, never torn.
                                let other = rng.gen_range(0..THREADS * KEYS_PER_THREAD);
                                if let Some(e) =
                                    table.lookup(hash(other), |e| e.key == other, &guard)
                                {
                                    assert_eq!(e.key, other);
                                    assert_eq!(e.check, !other.rotate_left(17));
                                }
                            }
                        }
                        ops += 1;
                    }
                }
                (present.iter().filter(|&&p| p).count(), ops)
            })
        })
        .collect();

    barrier.wait();
    let start = Instant::now();
    std::thread::sleep(run_for);
    stop.store(true, SeqCst);
    let mut expected = 0;
    let mut ops = 0;
    for w in workers {
        let (n, o) = w.join().expect("worker panicked");
        expected += n;
        ops += o;
    }
    let resizes = resizer.join().unwrap();
    assert!(ops > 10_000, "too little work to mean anything: {ops} ops");
    assert!(resizes > 10, "too few resizes raced: {resizes}");
    eprintln!("{ops} ops and {resizes} resizes in {:?}", start.elapsed());

    // `len` adds up, and iteration sees each present element exactly once.
    assert_eq!(table.len(), expected);
    assert_eq!(table.stats().entries, expected);
    let mut keys = Vec::new();
    table.for_each(|e| keys.push(e.key), &pin());
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "an element was visited twice");
    assert_eq!(n, expected);

    drop(table);
    // Nothing leaks: every element ever created is dropped once the epoch lets it be.
    let deadline = Instant::now() + Duration::from_secs(30);
    while LIVE.load(SeqCst) != 0 && Instant::now() < deadline {
        pin().flush();
        std::thread::yield_now();
    }
    assert_eq!(LIVE.load(SeqCst), 0, "elements leaked");
}

/// All threads translate the same "blocks" at once: every key ends with exactly one element
/// and every thread agrees on which one won.
#[test]
fn insertion_races_have_one_winner_everyone_agrees_on() {
    let table = Arc::new(Qht::new(
        |a: &Elem, b: &Elem| a.key == b.key,
        16,
        Resize::Auto,
    ));
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let keys = 4096u64;
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (table, barrier) = (table.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let guard = pin();
                (0..keys)
                    .map(|k| match table.insert(Elem::new(k), hash(k), &guard) {
                        Ok(e) => (e as *const Elem as usize, true),
                        Err(d) => (d.existing as *const Elem as usize, false),
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<Vec<(usize, bool)>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    for k in 0..keys as usize {
        let winners = results.iter().filter(|r| r[k].1).count();
        assert_eq!(winners, 1, "key {k}");
        assert!(
            results.iter().all(|r| r[k].0 == results[0][k].0),
            "threads disagree on key {k}"
        );
    }
    assert_eq!(table.len(), keys as usize);
}
