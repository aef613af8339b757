//! Memory the processes forked from one emulator share, so that a shell that spawns the same
//! program again and again learns what its children run: each child's blocks begin cold
//! (interpreted, or translated afresh), and only an ancestor that forks again can keep what
//! they needed, in the table its next children inherit.
//!
//! Two things live in one `MAP_SHARED` mapping made before the first fork:
//! - **run counters**: a block's interpreted-run count, so that runs in every process that
//!   inherited the block add up (a child runs its start-up code once; a hundred children
//!   run it a hundred times);
//! - a **hint log**: fixed-size records ([`Hint`]) that any process appends and every other
//!   process reads from its own cursor: "I translated the block at this pc", "this block got
//!   hot", "I chained this block's jump to that block". A reader acts on hints only by
//!   translating its *own* memory and linking its own blocks where their own jump targets
//!   agree, so a hint is never trusted for correctness: a stale, foreign (another program's)
//!   or torn hint costs at most some wasted work.
//!
//! This crate knows nothing of blocks or translation: a hint is plain data.
//!
//! # Invariants
//! - A log slot's `seq` is `2 i + 2` once record `i` is completely written into it, `2 i + 1`
//!   while it is being written, and 0 before any write. A reader accepts record `i` only if
//!   it read `seq == 2 i + 2` both before and after reading the words (a seqlock: writers
//!   store `seq` odd, fence, the words, then `seq` even with release). Two writers a lap
//!   apart can still interleave in one slot (only when the log wraps within one write); the
//!   reader may then take a mixed record, which is harmless by the rule above.
//! - A reader never waits: it stops at the first record not yet complete (its writer is
//!   between claiming and finishing it) and resumes there next time; records overwritten by
//!   a later lap are skipped. (A writer killed mid-write holds readers up until the log laps
//!   its record.) Hints may be lost, never invented.
//! - Counters are handed out once each (a bump index that only grows) and never freed.

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use std::fmt;

/// Run counters in the mapping [`Family::shared`] makes.
pub const COUNTERS: usize = 1 << 18;
/// Hint log records in the mapping [`Family::shared`] makes.
pub const HINTS: usize = 1 << 14;

/// One record of the hint log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// The poster translated this block (it had none for the pc).
    Translated(BlockCode),
    /// This block's run count reached the tier-up threshold in the poster.
    Hot(BlockCode),
    /// The poster chained jump slot `slot` of its block at `from` to its block at `to`.
    Linked {
        /// The blocks' key CPU flags.
        flags: u32,
        /// Guest pc of the block jumping.
        from: u64,
        /// Its jump slot.
        slot: u8,
        /// Guest pc of the block jumped to.
        to: u64,
    },
}

/// A block a hint names, and what its guest code was, for a reader to check against its own
/// memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockCode {
    /// Guest pc of the block.
    pub pc: u64,
    /// The block key's CPU flags.
    pub flags: u32,
    /// Lowest guest address the block covered.
    pub start: u64,
    /// Guest bytes covered from `start`.
    pub size: u32,
    /// [`code_hash`] of those bytes.
    pub hash: u64,
}

impl Hint {
    /// The guest pc of the block the hint is about (for a link, the block jumping).
    pub fn pc(&self) -> u64 {
        match self {
            Hint::Translated(b) | Hint::Hot(b) => b.pc,
            Hint::Linked { from, .. } => *from,
        }
    }

    /// The key CPU flags of the block(s) the hint names.
    pub fn flags(&self) -> u32 {
        match self {
            Hint::Translated(b) | Hint::Hot(b) => b.flags,
            Hint::Linked { flags, .. } => *flags,
        }
    }

    fn encode(&self, poster: u32) -> [u64; 5] {
        let poster = u64::from(poster) << 32;
        let block = |b: &BlockCode, kind| {
            [
                b.pc,
                b.start,
                b.hash,
                u64::from(b.size) << 32 | u64::from(b.flags),
                poster | kind,
            ]
        };
        match self {
            Hint::Translated(b) => block(b, 0),
            Hint::Hot(b) => block(b, 1),
            Hint::Linked {
                flags,
                from,
                slot,
                to,
            } => [*from, *to, u64::from(*slot), u64::from(*flags), poster | 2],
        }
    }

    fn decode(w: [u64; 5]) -> (Hint, u32) {
        let block = BlockCode {
            pc: w[0],
            flags: w[3] as u32,
            start: w[1],
            size: (w[3] >> 32) as u32,
            hash: w[2],
        };
        let hint = match w[4] as u32 {
            0 => Hint::Translated(block),
            1 => Hint::Hot(block),
            _ => Hint::Linked {
                flags: w[3] as u32,
                from: w[0],
                slot: w[2] as u8,
                to: w[1],
            },
        };
        (hint, (w[4] >> 32) as u32)
    }
}

/// The hash hints carry of a block's guest bytes (FNV-1a: stable across processes of one
/// build, which is all that compare hashes).
pub fn code_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One record's place in the log.
struct Slot {
    /// See the crate invariants.
    seq: AtomicU64,
    words: [AtomicU64; 5],
}

/// The shared counters and hint log of a family of processes (or, from
/// [`Family::private`], of one process's threads).
pub struct Family {
    next_counter: &'static AtomicU32,
    counters: &'static [AtomicU32],
    /// Records ever claimed; record `i` lives in slot `i % slots.len()`.
    end: &'static AtomicU64,
    slots: &'static [Slot],
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("counters", &self.counters.len())
            .field("hints", &self.slots.len())
            .finish()
    }
}

impl Family {
    /// The family's memory, mapped shared so that every process forked from this one (after
    /// this call) shares it. The mapping lives as long as the process. Pages are touched
    /// only as counters and records are used.
    #[cfg(not(any(loom, miri)))]
    pub fn shared() -> std::io::Result<Family> {
        const HEADER: usize = 128;
        let counters_len = COUNTERS * std::mem::size_of::<AtomicU32>();
        let len = HEADER + counters_len + HINTS * std::mem::size_of::<Slot>();
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let base = base.cast::<u8>();
        // SAFETY: the mapping is `len` bytes, page-aligned, zero-filled and never unmapped,
        // so `'static` references into it stay valid; zero is a valid value of every atomic
        // type used, and atomics have the size and alignment of their integers (the offsets
        // below are multiples of 64, 4 and 8 as needed). Other processes touch the memory only
        // through these same atomics (the family's code, after fork).
        unsafe {
            Ok(Family {
                next_counter: &*base.cast::<AtomicU32>(),
                end: &*base.add(64).cast::<AtomicU64>(),
                counters: std::slice::from_raw_parts(base.add(HEADER).cast(), COUNTERS),
                slots: std::slice::from_raw_parts(base.add(HEADER + counters_len).cast(), HINTS),
            })
        }
    }

    /// A family in this process's heap only (its threads share it; forked children get a
    /// copy). For tests, and where [`Family::shared`] fails. The memory is leaked.
    pub fn private(counters: usize, hints: usize) -> Family {
        let hints = hints.max(1);
        Family {
            next_counter: Box::leak(Box::new(AtomicU32::new(0))),
            counters: Box::leak((0..counters).map(|_| AtomicU32::new(0)).collect()),
            end: Box::leak(Box::new(AtomicU64::new(0))),
            slots: Box::leak(
                (0..hints)
                    .map(|_| Slot {
                        seq: AtomicU64::new(0),
                        words: std::array::from_fn(|_| AtomicU64::new(0)),
                    })
                    .collect(),
            ),
        }
    }

    /// A fresh counter (0), or `None` once all are handed out.
    pub fn counter(&self) -> Option<&'static AtomicU32> {
        if self.next_counter.load(Ordering::Relaxed) as usize >= self.counters.len() {
            return None;
        }
        let i = self.next_counter.fetch_add(1, Ordering::Relaxed) as usize;
        self.counters.get(i)
    }

    /// Appends `hint` as posted by `poster` (a process id: readers skip their own).
    pub fn post(&self, poster: u32, hint: &Hint) {
        let i = self.end.fetch_add(1, Ordering::Relaxed);
        let slot = &self.slots[(i % self.slots.len() as u64) as usize];
        slot.seq.store(2 * i + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (w, v) in slot.words.iter().zip(hint.encode(poster)) {
            w.store(v, Ordering::Relaxed);
        }
        slot.seq.store(2 * i + 2, Ordering::Release);
    }

    /// Where the log ends now: a cursor from which [`Family::read`] sees only later hints.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Calls `f` with each complete hint from cursor `from` towards the log's end that
    /// `reader` did not post itself; returns the new cursor: the end, or the first record
    /// still being written. Hints overwritten since `from` (more than the log holds were
    /// posted) are skipped.
    pub fn read(&self, from: u64, reader: u32, mut f: impl FnMut(Hint)) -> u64 {
        let end = self.end();
        let len = self.slots.len() as u64;
        for i in from.max(end.saturating_sub(len))..end {
            let slot = &self.slots[(i % len) as usize];
            let seq = slot.seq.load(Ordering::Acquire);
            if seq < 2 * i + 2 {
                return i;
            }
            if seq != 2 * i + 2 {
                continue;
            }
            let words = std::array::from_fn(|k| slot.words[k].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != seq {
                continue;
            }
            let (hint, poster) = Hint::decode(words);
            if poster != reader {
                f(hint);
            }
        }
        end
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
