use super::*;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A hint whose every field derives from `n`, so that a mixed record shows.
fn hint(n: u64) -> Hint {
    let block = BlockCode {
        pc: 0x40_0000 + n,
        flags: n as u32 ^ 0x55,
        start: 0x40_0000 + n - (n % 7),
        size: (n % 97) as u32 + 1,
        hash: code_hash(&n.to_le_bytes()),
    };
    match n % 3 {
        0 => Hint::Translated(block),
        1 => Hint::Hot(block),
        _ => Hint::Linked {
            flags: n as u32 ^ 0x55,
            from: 0x40_0000 + n,
            slot: (n % 2) as u8,
            to: 0x50_0000 + n,
        },
    }
}

fn consistent(h: &Hint) -> Option<u64> {
    let n = h.pc() - 0x40_0000;
    (*h == hint(n)).then_some(n)
}

#[test]
fn readers_see_what_others_posted_once_and_skip_their_own() {
    let f = Family::private(4, 16);
    f.post(1, &hint(10));
    f.post(2, &hint(11));
    f.post(1, &hint(12));
    let mut seen = Vec::new();
    let cursor = f.read(0, 2, |h| seen.push(h));
    assert_eq!(seen, [hint(10), hint(12)]);
    assert_eq!(cursor, 3);
    seen.clear();
    assert_eq!(f.read(cursor, 2, |h| seen.push(h)), 3);
    assert!(seen.is_empty());
    f.post(3, &hint(13));
    assert_eq!(f.read(cursor, 2, |h| seen.push(h)), 4);
    assert_eq!(seen, [hint(13)]);
}

#[test]
fn a_reader_behind_by_more_than_the_log_gets_the_newest() {
    let f = Family::private(0, 4);
    for n in 0..10 {
        f.post(1, &hint(n));
    }
    let mut seen = Vec::new();
    assert_eq!(f.read(0, 9, |h| seen.push(h)), 10);
    assert_eq!(seen, [hint(6), hint(7), hint(8), hint(9)]);
}

#[test]
fn counters_are_handed_out_once_until_none_remain() {
    let f = Family::private(3, 1);
    let a = f.counter().unwrap();
    let b = f.counter().unwrap();
    let c = f.counter().unwrap();
    assert!(f.counter().is_none());
    a.fetch_add(5, Ordering::Relaxed);
    assert_eq!(
        [a, b, c].map(|x| x.load(Ordering::Relaxed)),
        [5, 0, 0],
        "distinct counters"
    );
}

#[test]
fn hint_kinds_and_fields_round_trip() {
    for n in [0, 1, u64::from(u32::MAX), 0xdead_beef_f00d] {
        let b = BlockCode {
            pc: n,
            flags: u32::MAX,
            start: !n,
            size: u32::MAX,
            hash: n.rotate_left(7),
        };
        let l = Hint::Linked {
            flags: u32::MAX,
            from: n,
            slot: 1,
            to: !n,
        };
        for h in [Hint::Translated(b), Hint::Hot(b), l] {
            assert_eq!(Hint::decode(h.encode(0xffff_fffe)), (h, 0xffff_fffe));
        }
    }
}

/// Posters and readers at once, on a log large enough not to wrap: every record a reader
/// takes is whole, and after the posters finish each reader has seen every other poster's
/// hint exactly once.
#[test]
fn concurrent_posts_are_read_whole_and_once() {
    const POSTERS: u64 = 4;
    const EACH: u64 = if cfg!(miri) { 20 } else { 20_000 };
    let f = Arc::new(Family::private(0, (POSTERS * EACH) as usize));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2u32)
        .map(|r| {
            let (f, done) = (f.clone(), done.clone());
            std::thread::spawn(move || {
                let mut seen = vec![0u8; (POSTERS * EACH) as usize];
                let mut cursor = 0;
                let mut finished = false;
                // Read until the posters are done, then once more for what came last.
                loop {
                    let last = finished;
                    cursor = f.read(cursor, 100 + r, |h| {
                        let n = consistent(&h).expect("a whole record");
                        seen[n as usize] += 1;
                    });
                    if last {
                        break;
                    }
                    finished = done.load(Ordering::Acquire);
                }
                seen
            })
        })
        .collect();
    let posters: Vec<_> = (0..POSTERS)
        .map(|p| {
            let f = f.clone();
            std::thread::spawn(move || {
                for k in 0..EACH {
                    f.post(p as u32, &hint(p * EACH + k));
                }
            })
        })
        .collect();
    for p in posters {
        p.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        let seen = r.join().unwrap();
        assert!(seen.iter().all(|&c| c <= 1), "no record read twice");
        let missed = seen.iter().filter(|&&c| c == 0).count();
        assert_eq!(missed, 0, "records missed");
    }
    // A reader starting after the posters finished misses nothing.
    let mut all = 0;
    f.read(0, 1000, |h| {
        consistent(&h).unwrap();
        all += 1;
    });
    assert_eq!(all, POSTERS * EACH);
}

/// The point of the crate: a forked child's counts and hints reach its parent.
#[cfg(not(miri))]
#[test]
fn a_forked_child_shares_counters_and_hints() {
    let f = Family::shared().expect("mmap");
    let counter = f.counter().unwrap();
    let parent = std::process::id();
    let cursor = f.end();
    // SAFETY: the child only does atomic stores and `_exit`, which are async-signal-safe (the
    // test harness's other threads do not exist in it).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        counter.fetch_add(7, Ordering::Relaxed);
        f.post(parent + 1, &hint(42));
        // SAFETY: ends the child without running the harness's exit handlers.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(counter.load(Ordering::Relaxed), 7);
    let mut seen = Vec::new();
    f.read(cursor, parent, |h| seen.push(h));
    assert_eq!(seen, [hint(42)]);
}
