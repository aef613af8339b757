//! Model check of the hint log's seqlock. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p family --release --test loom`.
#![cfg(loom)]

use family::{BlockCode, Family, Hint};
use loom::sync::Arc;
use loom::thread;

fn hint(n: u64) -> Hint {
    Hint::Hot(BlockCode {
        pc: n,
        flags: n as u32,
        start: n,
        size: n as u32,
        hash: n,
    })
}

/// Two posters and a reader at once: the reader takes only whole records, each at most once;
/// once the posters are done a reader sees both.
#[test]
fn a_reader_takes_only_whole_records() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let f = Arc::new(Family::private(0, 2));
        let posters: Vec<_> = [1u64, 2]
            .into_iter()
            .map(|n| {
                let f = f.clone();
                thread::spawn(move || f.post(n as u32, &hint(n)))
            })
            .collect();
        let mut seen = Vec::new();
        let cursor = f.read(0, 0, |h| seen.push(h));
        for p in posters {
            p.join().unwrap();
        }
        for h in &seen {
            assert!(*h == hint(1) || *h == hint(2), "torn record {h:?}");
        }
        let mut again = Vec::new();
        f.read(0, 0, |h| again.push(h));
        again.sort_by_key(|h| match h {
            Hint::Hot(b) => b.pc,
            _ => unreachable!(),
        });
        assert_eq!(again, [hint(1), hint(2)]);
        let _ = cursor;
    });
}
