//! loom models of the protocols that keep invalidated blocks unreachable: linking a jump slot
//! against invalidating either block, and filling a jump cache against invalidation.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p tb-cache --release --test loom`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use tb_cache::{pin, AtomicUsize, NewBlock, TbCache, TbKey, TranslationBlock, JUMP_CACHE_SIZE};

use std::sync::atomic::Ordering;

/// What an unlinked jump slot holds.
const UNLINKED: usize = 1;

fn key(pc: u64) -> TbKey {
    TbKey {
        pc,
        cs_base: 0,
        flags: 0,
        cflags: 0,
    }
}

/// Inserts a block for `pc` with (fake) host code and returns its address. Under loom the
/// table never frees a block, so the address stays valid for the whole model.
fn insert(tbs: &TbCache, pc: u64) -> usize {
    let mut tb = TranslationBlock::new(
        NewBlock {
            key: key(pc),
            guest_start: pc,
            guest_size: 4,
            num_insns: 1,
        },
        UNLINKED,
    );
    tb.set_code(
        (0x10_0000 + pc) as *const u8,
        16,
        Vec::new(),
        Vec::new(),
        [None; tb_cache::JUMP_SLOTS],
    );
    let guard = pin();
    let tb = tbs.insert(tb, &guard).expect("no other block for this pc");
    tb as *const TranslationBlock as usize
}

fn block(addr: usize) -> &'static TranslationBlock {
    // SAFETY: `addr` came from `insert`; under loom blocks are never freed (see `insert`).
    unsafe { &*(addr as *const TranslationBlock) }
}

fn write_slot(slot: &AtomicUsize, target: Option<*const u8>) {
    slot.store(target.map_or(UNLINKED, |c| c as usize), Ordering::Release);
}

/// Links `a`'s slot 0 to `b` on another thread.
fn link_on_a_thread(tbs: &Arc<TbCache>, a: usize, b: usize) -> thread::JoinHandle<()> {
    let tbs = tbs.clone();
    thread::spawn(move || {
        tbs.link(block(a), 0, block(b), &write_slot);
    })
}

/// Linking A → B races with invalidating B: afterwards A's slot must not lead to B.
#[test]
fn link_against_invalidation_of_the_target() {
    loom::model(|| {
        let tbs = Arc::new(TbCache::new());
        let (a, b) = (insert(&tbs, 0x1000), insert(&tbs, 0x2000));
        let linker = link_on_a_thread(&tbs, a, b);
        assert!(tbs.invalidate(block(b), &write_slot, &pin()));
        linker.join().unwrap();
        assert_eq!(block(a).jump_slots[0].load(Ordering::Acquire), UNLINKED);
    });
}

/// Linking A → B races with invalidating A: afterwards B must not remember the link (when B
/// is invalidated later, unlinking it would write into A, freed by then).
#[test]
fn link_against_invalidation_of_the_source() {
    loom::model(|| {
        let tbs = Arc::new(TbCache::new());
        let (a, b) = (insert(&tbs, 0x1000), insert(&tbs, 0x2000));
        let linker = link_on_a_thread(&tbs, a, b);
        assert!(tbs.invalidate(block(a), &write_slot, &pin()));
        linker.join().unwrap();
        let a_slot = &block(a).jump_slots[0] as *const AtomicUsize;
        let touches_a = |slot: &AtomicUsize, _: Option<*const u8>| {
            assert!(
                !std::ptr::eq(slot, a_slot),
                "B still lists the invalidated A"
            );
        };
        assert!(tbs.invalidate(block(b), &touches_a, &pin()));
    });
}

/// A lookup that found B in the table fills its jump cache while B is invalidated: no entry
/// may point at B afterwards (it would outlive B's grace period).
#[test]
fn jump_cache_fill_against_invalidation() {
    loom::model(|| {
        let tbs = Arc::new(TbCache::new());
        let b = insert(&tbs, 0x2000);
        let jc = tbs.new_jump_cache();
        let looker = {
            let (tbs, jc) = (tbs.clone(), jc.clone());
            thread::spawn(move || {
                let guard = pin();
                let _ = tbs.lookup(&jc, &key(0x2000), &guard);
            })
        };
        assert!(tbs.invalidate(block(b), &write_slot, &pin()));
        looker.join().unwrap();
        for i in 0..JUMP_CACHE_SIZE {
            // SAFETY: the entry array has JUMP_CACHE_SIZE entries and lives as long as `jc`.
            let entry = unsafe { &*jc.entries_ptr().add(i) };
            assert_ne!(
                entry.load(Ordering::Acquire) as usize,
                b,
                "a jump-cache entry outlives the invalidation of its block"
            );
        }
    });
}
