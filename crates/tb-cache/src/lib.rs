//! Translation blocks and the shared table that finds them.
//!
//! Owns [`TranslationBlock`] (its key, the atomic `cflags` with the [`CF_INVALID`] bit, the
//! guest pages it covers, its host code and jump slots), the lookup path (a per-vCPU
//! [`JumpCache`], then the shared `qht` table with a key predicate), the insertion race in
//! which the loser drops its translation, the page index used for invalidation, and RCU-style
//! reclamation of invalidated blocks. It does not translate and does not execute: host code is
//! an opaque pointer and linking a jump slot is a store the caller's backend defines.
//!
//! # Invariants
//! * A block is reachable (from `qht`, a jump cache, the page index or a linked jump slot) only
//!   while its `CF_INVALID` bit is clear, except for readers that found it before the bit was
//!   set: they compare the bit and treat such a block as absent.
//! * [`TbCache::invalidate`] sets the bit first, then removes every other path to the block,
//!   and removes it from `qht` last, which defers its drop past the current epoch: a vCPU that
//!   found it earlier (it runs with an epoch guard pinned) can finish with it.
//! * Only one of two vCPUs that translated the same key gets its block into `qht`; the other
//!   gets the winner back and its own block never becomes reachable.
//! * The page index is sharded by page; an insertion holds the shards of its block's pages
//!   from before its `qht` insert until the block is in the index, and an invalidation holds
//!   the shards of every page it looks at, so an invalidation of a page runs wholly before an
//!   insertion of a block on it (which may then be stale, as if translated just before the
//!   write) or wholly after (and finds the block). Shards are always locked in index order.
//! * A jump slot is linked to a target only under `links` and only if neither block is
//!   invalid, and [`TbCache::invalidate`] unlinks under `links`, so no slot is left pointing
//!   at an invalidated block.
//! * No jump-cache entry outlives the invalidation of its block: a lookup that fills an entry
//!   with a block it found in `qht` before the bit was set, racing with the invalidation's
//!   clearing of the entries, re-reads the bit after the store (a Dekker pair of SeqCst
//!   fences with [`TbCache::invalidate`]: either the invalidation sees the entry and clears
//!   it, or the lookup sees the bit and clears it). Otherwise the entry would point at the
//!   block after its grace period had freed it.
//!
//! # Tiers
//! A block may enter the table without host code, with a cheap-tier payload instead
//! ([`TranslationBlock::set_tier0`]); the vCPU runs that until it decides to compile the block
//! and publishes the code with [`TranslationBlock::set_code_shared`]. The invariants this
//! relies on:
//! * Host code is set at most once (a `OnceLock`): two vCPUs that compile the same block race
//!   like two translations, and the loser's code stays unreachable until the next flush.
//! * A jump slot is only ever linked to a block that has host code (checked under `links`);
//!   a block without code is reached through the dispatcher only. A slot linked to it later
//!   points at code that can no longer change, so other vCPUs running or chaining into the
//!   block see either the cheap tier (through the dispatcher) or the final code, never a
//!   half-published one.
//! * Publishing code does not bypass invalidation: an invalid block may still get code (a
//!   compile that raced with the invalidation), but it stays unreachable, since lookups and
//!   [`TbCache::link`] compare [`CF_INVALID`] before they look at the code. Whoever compiles
//!   must hold an epoch guard from before it read the block until it published the code, so
//!   the block is not freed under it; and a code-cache flush (which frees every block and all
//!   code) must not overlap the compile: the caller serialises the two (the vCPU compiles
//!   while it counts as running, which excludes flushes).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

pub use qht::{pin, Guard};
use qht::{Duplicate, Qht, Resize};

mod sync;
/// The type of a jump slot (loom's model of it under `--cfg loom`).
pub use sync::AtomicUsize;
use sync::{fence, AtomicPtr, AtomicU32, AtomicU64, Mutex, MutexGuard};

/// The block must not be found, chained to or entered any more.
pub const CF_INVALID: u32 = 1 << 31;
/// Bits of `cflags` that are part of the key (everything but the invalid bit).
pub const CF_KEY_MASK: u32 = !CF_INVALID;

/// Guest page size used for the page index.
pub const PAGE_SIZE: u64 = 4096;

/// What identifies a block: the guest state it was translated for.
///
/// In user mode the "physical" page is the guest page itself; both pages are kept so that
/// aliasing mappings can later name the backing page instead (see design question 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TbKey {
    /// Guest pc of the first instruction.
    pub pc: u64,
    /// Segment base the code was translated for (0 in 64-bit user mode).
    pub cs_base: u64,
    /// CPU mode and features the translation assumed (CPU model, single-step...).
    pub flags: u32,
    /// Translation options that change the code (never includes [`CF_INVALID`]).
    pub cflags: u32,
}

impl TbKey {
    /// The 32-bit hash the table files the block under.
    pub fn hash(&self) -> u32 {
        let mut h = self.pc.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= self.cs_base.rotate_left(17);
        h ^= u64::from(self.flags) << 32 | u64::from(self.cflags);
        h = (h ^ (h >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        (h ^ (h >> 29)) as u32
    }
}

/// Direct-jump slots a block has (the translator's limit; `vcpu` checks they agree).
pub const JUMP_SLOTS: usize = 4;

/// One translated block of guest code.
pub struct TranslationBlock {
    key: TbKey,
    /// `key.cflags` plus [`CF_INVALID`]; read atomically because another vCPU may set the bit
    /// while this one compares it.
    cflags: AtomicU32,
    /// First guest page covered, and the second one if the block crosses into it.
    pages: [Option<u64>; 2],
    /// Lowest guest address covered (below `key.pc` if the block followed a jump back).
    pub guest_start: u64,
    /// Guest bytes covered, from `guest_start`.
    pub guest_size: u32,
    /// Guest instructions covered.
    pub num_insns: u32,
    /// Host code, once compiled: set once, before insertion or later by a tier-up (see
    /// "Tiers" in the crate docs).
    host: OnceLock<HostCode>,
    /// What runs the block until it has host code (opaque here: the vCPU's cheap tier).
    tier0: Option<Box<dyn Any + Send + Sync>>,
    /// The host code entry once `host` is set (0 before): one word translated code can read
    /// (see [`TranslationBlock::probe_offsets`]).
    code_word: AtomicUsize,
    /// The chainable direct-jump slots: host code addresses the block's `goto_tb` jumps to.
    /// Their addresses are baked into the block's code, so they live exactly as long as it.
    pub jump_slots: [AtomicUsize; JUMP_SLOTS],
    /// The block each slot is linked to (null if unlinked). Guarded by `TbCache::links`.
    jump_dest: [AtomicPtr<TranslationBlock>; JUMP_SLOTS],
    /// Slots of other blocks linked to this one. Guarded by `TbCache::links`.
    incoming: Mutex<Vec<(*const TranslationBlock, u8)>>,
}

// SAFETY: the raw pointers in `jump_dest` and `incoming` name blocks owned by the table; they
// are only dereferenced under `TbCache::links` while both blocks are valid (unlinking removes
// them before either block can be freed), so sharing them between threads is sound.
unsafe impl Send for TranslationBlock {}
// SAFETY: as for `Send`; all mutable fields are atomics or behind a mutex.
unsafe impl Sync for TranslationBlock {}

impl fmt::Debug for TranslationBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TranslationBlock")
            .field("pc", &format_args!("{:#x}", self.key.pc))
            .field("cflags", &format_args!("{:#x}", self.cflags()))
            .field("size", &self.guest_size)
            .field("code", &self.code())
            .finish()
    }
}

/// A block's host code.
struct HostCode {
    /// Entry.
    code: usize,
    /// Length in bytes.
    len: u32,
    /// (host offset, guest pc) of each instruction start, in host order.
    insn_map: Box<[(u32, u64)]>,
    /// Host offsets of the traps that stand for a misaligned operand (see [`GuestPcAt`]).
    alignment_traps: Box<[u32]>,
    /// The guest pc each jump slot of this code leaves for (see
    /// [`TranslationBlock::set_code`]).
    jump_targets: [Option<u64>; JUMP_SLOTS],
}

/// Where a host pc inside a block's code stands in the guest (from
/// [`TbCache::find_by_host_pc`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestPcAt {
    /// The guest pc of the instruction whose host code contains it.
    pub pc: u64,
    /// It is one of the block's alignment traps (a misaligned operand, not a bad address).
    pub alignment_trap: bool,
}

/// What a new block is made of, before it has host code.
#[derive(Clone, Debug)]
pub struct NewBlock {
    /// Its key.
    pub key: TbKey,
    /// Lowest guest address covered: `key.pc`, or below it on the same page.
    pub guest_start: u64,
    /// Guest bytes covered (starting at `guest_start`).
    pub guest_size: u32,
    /// Guest instructions covered.
    pub num_insns: u32,
}

impl TranslationBlock {
    /// A block with no code yet; the backend compiles it knowing the block's address (its tag)
    /// and its jump slots' addresses, then [`TranslationBlock::set_code`] completes it.
    /// `unlinked` is the initial value of both jump slots.
    pub fn new(new: NewBlock, unlinked: usize) -> Box<TranslationBlock> {
        let first = new.guest_start & !(PAGE_SIZE - 1);
        let last = (new.guest_start + u64::from(new.guest_size.max(1)) - 1) & !(PAGE_SIZE - 1);
        debug_assert!(
            new.guest_start <= new.key.pc
                && new.key.pc < new.guest_start + u64::from(new.guest_size.max(1)),
            "a block covers its first instruction"
        );
        Box::new(TranslationBlock {
            key: new.key,
            cflags: AtomicU32::new(new.key.cflags & CF_KEY_MASK),
            pages: [Some(first), (last != first).then_some(last)],
            guest_start: new.guest_start,
            guest_size: new.guest_size,
            num_insns: new.num_insns,
            host: OnceLock::new(),
            tier0: None,
            code_word: AtomicUsize::new(0),
            jump_slots: std::array::from_fn(|_| AtomicUsize::new(unlinked)),
            jump_dest: Default::default(),
            incoming: Mutex::new(Vec::new()),
        })
    }

    /// Records the host code before the block is inserted. `jump_targets` is the guest pc
    /// each of the code's jump slots leaves for: [`TbCache::link`] chains a slot only to the
    /// block at its target (`None` for an unused slot, or where the translator does not say:
    /// then any link asked for is taken as right). The targets belong to this code, not to
    /// the block: a tier-up's translation may number its exits differently from the one the
    /// cheap tier ran.
    pub fn set_code(
        &mut self,
        code: *const u8,
        len: u32,
        insn_map: Vec<(u32, u64)>,
        alignment_traps: Vec<u32>,
        jump_targets: [Option<u64>; JUMP_SLOTS],
    ) {
        let _ = self.set_code_shared(code, len, insn_map, alignment_traps, jump_targets);
    }

    /// Records the host code of a block that may already be in the table and run by other
    /// vCPUs (a tier-up). Only the first call wins; returns false (and records nothing) if the
    /// block had code already, in which case the caller's code stays unused.
    ///
    /// Ordering: a vCPU that reads [`TranslationBlock::code`] afterwards sees the code with
    /// everything written before this call (the code bytes, made coherent by the backend's
    /// emit); a vCPU that read null before keeps running the block's cheap tier, which is
    /// the same guest semantics.
    pub fn set_code_shared(
        &self,
        code: *const u8,
        len: u32,
        insn_map: Vec<(u32, u64)>,
        alignment_traps: Vec<u32>,
        jump_targets: [Option<u64>; JUMP_SLOTS],
    ) -> bool {
        let won = self
            .host
            .set(HostCode {
                code: code as usize,
                len,
                insn_map: insn_map.into_boxed_slice(),
                alignment_traps: alignment_traps.into_boxed_slice(),
                jump_targets,
            })
            .is_ok();
        if won {
            self.code_word.store(code as usize, Ordering::Release);
        }
        won
    }

    /// Byte offsets in a block of its guest pc (u64), of its cflags word (u32: 0 when the
    /// block is valid and its key's cflags are 0) and of its host code word (usize, 0 while it
    /// has no code), for translated code that probes a [`JumpCache`] inline.
    pub const fn probe_offsets() -> (usize, usize, usize) {
        (
            std::mem::offset_of!(TranslationBlock, key) + std::mem::offset_of!(TbKey, pc),
            std::mem::offset_of!(TranslationBlock, cflags),
            std::mem::offset_of!(TranslationBlock, code_word),
        )
    }

    /// Attaches what runs the block before it has host code. Only before insertion.
    pub fn set_tier0(&mut self, tier0: Box<dyn Any + Send + Sync>) {
        self.tier0 = Some(tier0);
    }

    /// What runs the block before it has host code, if it was given one.
    pub fn tier0(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.tier0.as_deref()
    }

    /// Host code length in bytes (0 without host code).
    pub fn code_len(&self) -> u32 {
        self.host.get().map_or(0, |h| h.len)
    }

    /// The key.
    pub fn key(&self) -> &TbKey {
        &self.key
    }

    /// Guest pc of the first instruction.
    pub fn pc(&self) -> u64 {
        self.key.pc
    }

    /// Current cflags, including [`CF_INVALID`].
    pub fn cflags(&self) -> u32 {
        self.cflags.load(Ordering::Acquire)
    }

    /// True once invalidated.
    pub fn is_invalid(&self) -> bool {
        self.cflags() & CF_INVALID != 0
    }

    /// Host code entry, or null while the block has none (it runs in its cheap tier).
    #[inline]
    pub fn code(&self) -> *const u8 {
        self.host
            .get()
            .map_or(std::ptr::null(), |h| h.code as *const u8)
    }

    /// The guest pc jump slot `slot` of the block's code leaves for, if it has code and the
    /// slot a fixed target.
    pub fn jump_target(&self, slot: usize) -> Option<u64> {
        *self.host.get()?.jump_targets.get(slot)?
    }

    /// The guest pages covered.
    pub fn pages(&self) -> impl Iterator<Item = u64> + '_ {
        self.pages.iter().flatten().copied()
    }

    /// The tag passed to the backend: the block's address (aligned to 8, so the low bits are
    /// free for a slot number).
    pub fn tag(&self) -> u64 {
        self as *const TranslationBlock as u64
    }

    /// The guest pc of the instruction whose host code contains `host_pc`.
    pub fn guest_pc_at(&self, host_pc: usize) -> Option<u64> {
        self.host_pc_at(host_pc).map(|at| at.pc)
    }

    /// Where `host_pc` stands in the guest, if it lies in this block's code.
    pub fn host_pc_at(&self, host_pc: usize) -> Option<GuestPcAt> {
        let h = self.host.get()?;
        let off = host_pc.checked_sub(h.code)?;
        if off >= h.len as usize {
            return None;
        }
        let i = h.insn_map.partition_point(|&(o, _)| (o as usize) <= off);
        Some(GuestPcAt {
            pc: if i == 0 {
                self.key.pc
            } else {
                h.insn_map[i - 1].1
            },
            alignment_trap: h.alignment_traps.contains(&(off as u32)),
        })
    }

    /// Does this block answer a lookup for `key`? Compares the invalid bit too (expected
    /// clear), so an invalidated block is invisible at once.
    fn matches(&self, key: &TbKey) -> bool {
        self.key.pc == key.pc
            && self.key.cs_base == key.cs_base
            && self.key.flags == key.flags
            && self.cflags() == key.cflags & CF_KEY_MASK
    }
}

/// Adds one to a counter only its owner writes: a plain load and store, not a locked
/// read-modify-write (which cost more than the rest of a jump-cache hit). A concurrent writer
/// (none by design) could only lose counts.
#[inline]
fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

fn same_block(a: &TranslationBlock, b: &TranslationBlock) -> bool {
    a.key == b.key && a.pages == b.pages
}

/// Slots in a [`JumpCache`].
#[cfg(not(loom))]
pub const JUMP_CACHE_SIZE: usize = 4096;
/// Slots in a [`JumpCache`] (few under loom, whose atomics are costly to model).
#[cfg(loom)]
pub const JUMP_CACHE_SIZE: usize = 4;
/// The shift of a [`JumpCache`]'s index hash (see [`JumpCache::entries_ptr`]).
pub const JUMP_CACHE_SHIFT: u8 = 12;

/// A vCPU's direct-mapped cache from guest pc to block, checked before the shared table.
///
/// Entries are atomics because invalidation on another vCPU clears them. The lookup counters
/// live here, written only by the owning vCPU, so that counting costs no shared cache line on
/// the lookup path.
pub struct JumpCache {
    entries: Box<[AtomicPtr<TranslationBlock>]>,
    counts: LookupCounts,
}

/// Lookup counters of one jump cache, or summed over several.
#[derive(Debug, Default)]
pub struct LookupCounts {
    /// Lookups answered by a jump cache.
    pub jump_cache_hits: AtomicU64,
    /// Lookups that went to `qht`.
    pub qht_lookups: AtomicU64,
    /// `qht` lookups that found nothing.
    pub qht_misses: AtomicU64,
}

impl LookupCounts {
    fn add(&self, other: &LookupCounts) {
        for (a, b) in [
            (&self.jump_cache_hits, &other.jump_cache_hits),
            (&self.qht_lookups, &other.qht_lookups),
            (&self.qht_misses, &other.qht_misses),
        ] {
            a.fetch_add(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for JumpCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JumpCache")
            .field("size", &self.entries.len())
            .finish()
    }
}

impl Default for JumpCache {
    fn default() -> Self {
        JumpCache {
            entries: (0..JUMP_CACHE_SIZE).map(|_| AtomicPtr::default()).collect(),
            counts: LookupCounts::default(),
        }
    }
}

impl JumpCache {
    #[inline]
    fn slot(&self, pc: u64) -> &AtomicPtr<TranslationBlock> {
        let i = (pc ^ (pc >> JUMP_CACHE_SHIFT)) as usize & (JUMP_CACHE_SIZE - 1);
        &self.entries[i]
    }

    /// The entry array, for translated code that probes the cache inline: entry
    /// `(pc ^ (pc >> JUMP_CACHE_SHIFT)) & (JUMP_CACHE_SIZE - 1)` holds a block (or null) that
    /// was valid when stored; readers must compare its pc and cflags as [`TbCache::lookup`]
    /// does, and hold an epoch guard while they use it.
    pub fn entries_ptr(&self) -> *const AtomicPtr<TranslationBlock> {
        self.entries.as_ptr()
    }

    fn clear_block(&self, tb: *const TranslationBlock, pc: u64) {
        let _ = self.slot(pc).compare_exchange(
            tb.cast_mut(),
            std::ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    fn clear(&self) {
        for e in self.entries.iter() {
            e.store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}

/// Counters for `-d stats` (lookups are counted per vCPU: see [`TbCache::lookup_counts`]).
#[derive(Debug, Default)]
pub struct TbStats {
    /// Lookup counts of jump caches already dropped.
    retired: LookupCounts,
    /// Blocks inserted.
    pub inserted: AtomicU64,
    /// Insertions lost to an equal block of another vCPU.
    pub insert_races_lost: AtomicU64,
    /// Blocks invalidated.
    pub invalidated: AtomicU64,
    /// Jump slots linked.
    pub links: AtomicU64,
    /// Whole-cache flushes.
    pub flushes: AtomicU64,
}

/// The shared translation-block table of one guest process.
pub struct TbCache {
    table: Qht<TranslationBlock>,
    /// Guest page → blocks covering it, in [`PAGE_SHARDS`] shards (by page). Also serialises
    /// insertion against invalidation, page by page (see the crate invariants).
    pages: Box<[Mutex<PageIndex>]>,
    /// Serialises linking and unlinking of jump slots.
    links: Mutex<()>,
    /// Every vCPU's jump cache, so invalidation can clear them.
    jump_caches: Mutex<Vec<Arc<JumpCache>>>,
    /// Counters.
    pub stats: TbStats,
}

impl fmt::Debug for TbCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TbCache")
            .field("blocks", &self.table.len())
            .finish()
    }
}

impl Default for TbCache {
    fn default() -> Self {
        Self::new()
    }
}

/// Head buckets of a new table (few under loom and Miri, whose atomics are costly to model;
/// the table grows as blocks arrive). 1024 buckets are 64 KiB: every process (each short-lived
/// `busybox` applet) touches most of its table's pages, and 1 MiB (1 << 14) cost ~230 page
/// faults and a quarter of the system time of `busybox true`.
const INITIAL_BUCKETS: usize = if cfg!(any(loom, miri)) { 1 } else { 1 << 10 };

/// Shards of the page index: vCPUs inserting blocks on different pages take different locks
/// (one lock for all was contended by two vCPUs translating at once).
const PAGE_SHARDS: usize = if cfg!(loom) { 2 } else { 16 };

/// One shard of the page index: guest page → addresses of the blocks covering it.
type PageIndex = HashMap<u64, Vec<usize>>;

fn shard_of(page: u64) -> usize {
    (page / PAGE_SIZE) as usize % PAGE_SHARDS
}

/// Some shards of the page index, locked.
struct LockedPages<'a> {
    shards: [Option<MutexGuard<'a, PageIndex>>; PAGE_SHARDS],
}

impl LockedPages<'_> {
    /// The locked shard holding `page`.
    fn shard(&mut self, page: u64) -> &mut PageIndex {
        self.shards[shard_of(page)]
            .as_mut()
            .expect("the shard of a page in use is locked")
    }

    /// The blocks indexed under `page` (whose shard is locked).
    fn blocks_on(&self, page: u64) -> Option<&Vec<usize>> {
        self.shards[shard_of(page)]
            .as_ref()
            .expect("the shard of a page in use is locked")
            .get(&page)
    }

    /// The locked shards.
    fn iter(&self) -> impl Iterator<Item = &PageIndex> {
        self.shards.iter().flatten().map(|g| &**g)
    }
}

/// How a backend links a jump slot to a code address (or back to its unlinked stub).
pub type SlotWriter<'a> = &'a dyn Fn(&AtomicUsize, Option<*const u8>);

impl TbCache {
    /// An empty table.
    pub fn new() -> TbCache {
        TbCache {
            table: Qht::new(same_block, INITIAL_BUCKETS, Resize::Auto),
            pages: (0..PAGE_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            links: Mutex::new(()),
            jump_caches: Mutex::new(Vec::new()),
            stats: TbStats::default(),
        }
    }

    /// A new jump cache for a vCPU, registered for invalidation.
    pub fn new_jump_cache(&self) -> Arc<JumpCache> {
        let jc = Arc::new(JumpCache::default());
        self.jump_caches.lock().push(jc.clone());
        jc
    }

    /// Unregisters a vCPU's jump cache (when the vCPU exits).
    pub fn drop_jump_cache(&self, jc: &Arc<JumpCache>) {
        self.jump_caches.lock().retain(|j| !Arc::ptr_eq(j, jc));
        self.stats.retired.add(&jc.counts);
    }

    /// Lookup counts summed over every vCPU, live or gone.
    pub fn lookup_counts(&self) -> LookupCounts {
        let sum = LookupCounts::default();
        sum.add(&self.stats.retired);
        for jc in self.jump_caches.lock().iter() {
            sum.add(&jc.counts);
        }
        sum
    }

    /// Number of blocks in the table.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True if no block is in the table.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Finds the valid block for `key`: the jump cache first, then the shared table (filling
    /// the jump cache on a hit). Lock-free.
    #[inline]
    pub fn lookup<'g>(
        &'g self,
        jc: &JumpCache,
        key: &TbKey,
        guard: &'g Guard,
    ) -> Option<&'g TranslationBlock> {
        let slot = jc.slot(key.pc);
        let cached = slot.load(Ordering::Acquire);
        // SAFETY: a jump-cache entry is a block of this table that was valid when stored;
        // invalidation clears entries before removing the block from the table, which defers
        // its drop past every guard pinned now, `guard` included.
        if let Some(tb) = unsafe { cached.as_ref() } {
            if tb.matches(key) {
                bump(&jc.counts.jump_cache_hits);
                return Some(tb);
            }
        }
        bump(&jc.counts.qht_lookups);
        match self.table.lookup(key.hash(), |tb| tb.matches(key), guard) {
            Some(tb) => {
                let ptr = tb as *const TranslationBlock as *mut TranslationBlock;
                slot.store(ptr, Ordering::Release);
                // Store the entry, then read the bit (pairs with the fence in
                // `invalidate_locked`; see the crate invariants).
                fence(Ordering::SeqCst);
                if tb.is_invalid() {
                    let _ = slot.compare_exchange(
                        ptr,
                        std::ptr::null_mut(),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                }
                Some(tb)
            }
            None => {
                bump(&jc.counts.qht_misses);
                None
            }
        }
    }

    /// Inserts a freshly translated block. If another vCPU inserted an equal block first,
    /// returns that one and `tb` in `Err`: the caller drops its translation (its code stays
    /// unreachable) and runs the winner's.
    pub fn insert<'g>(
        &'g self,
        tb: Box<TranslationBlock>,
        guard: &'g Guard,
    ) -> Result<&'g TranslationBlock, Duplicate<'g, TranslationBlock>> {
        let hash = tb.key.hash();
        // Holding the block's shards of the page index across the insert means a concurrent
        // invalidation of its pages either runs before (and the caller's translation may be
        // stale: acceptable, the same as translating just before the write) or after, and
        // then sees the block.
        let mut pages = self.lock_pages(|s| tb.pages().any(|p| shard_of(p) == s));
        let tb = self.table.insert(tb, hash, guard).inspect_err(|_| {
            self.stats.insert_races_lost.fetch_add(1, Ordering::Relaxed);
        })?;
        for page in tb.pages() {
            pages
                .shard(page)
                .entry(page)
                .or_default()
                .push(tb as *const _ as usize);
        }
        self.stats.inserted.fetch_add(1, Ordering::Relaxed);
        Ok(tb)
    }

    /// Links `from`'s jump `slot` to `to`, unless either is invalid or has no code, the slot
    /// is linked already or `from`'s code leaves through that slot for another pc.
    /// `write` stores a code address into a slot (the backend's `link_slot`). Returns
    /// whether it linked.
    pub fn link(
        &self,
        from: &TranslationBlock,
        slot: u8,
        to: &TranslationBlock,
        write: SlotWriter,
    ) -> bool {
        let s = usize::from(slot);
        let Some(code) = from.host.get() else {
            return false;
        };
        if s >= JUMP_SLOTS || code.jump_targets[s].is_some_and(|t| t != to.key.pc) {
            return false;
        }
        let _l = self.links.lock();
        if from.is_invalid()
            || to.is_invalid()
            || to.code().is_null()
            || !from.jump_dest[s].load(Ordering::Relaxed).is_null()
        {
            return false;
        }
        to.incoming.lock().push((from, slot));
        from.jump_dest[s].store(to as *const _ as *mut _, Ordering::Relaxed);
        write(&from.jump_slots[s], Some(to.code()));
        self.stats.links.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Invalidates `tb`: sets [`CF_INVALID`], clears it from every jump cache, unlinks every
    /// jump into it and out of it, removes it from the page index, and removes it from the
    /// table, which frees it once no vCPU can still be running it. Returns false if it was
    /// already invalid.
    pub fn invalidate(&self, tb: &TranslationBlock, write: SlotWriter, guard: &Guard) -> bool {
        let mut pages = self.lock_pages(|s| tb.pages().any(|p| shard_of(p) == s));
        self.invalidate_locked(tb, write, &mut pages, guard)
    }

    /// Locks the shards of the page index for which `wanted` holds, in index order.
    fn lock_pages(&self, wanted: impl Fn(usize) -> bool) -> LockedPages<'_> {
        let mut shards: [Option<MutexGuard<'_, PageIndex>>; PAGE_SHARDS] = Default::default();
        for (i, s) in shards.iter_mut().enumerate() {
            if wanted(i) {
                *s = Some(self.pages[i].lock());
            }
        }
        LockedPages { shards }
    }

    fn invalidate_locked(
        &self,
        tb: &TranslationBlock,
        write: SlotWriter,
        pages: &mut LockedPages<'_>,
        guard: &Guard,
    ) -> bool {
        if tb.cflags.fetch_or(CF_INVALID, Ordering::AcqRel) & CF_INVALID != 0 {
            return false;
        }
        // Set the bit, then read the jump-cache entries (pairs with the fence in `lookup`).
        fence(Ordering::SeqCst);
        for jc in self.jump_caches.lock().iter() {
            jc.clear_block(tb, tb.key.pc);
        }
        {
            let _l = self.links.lock();
            for (from, slot) in tb.incoming.lock().drain(..) {
                // SAFETY: an incoming entry names a block that is still allocated: a block
                // removes itself from its targets' lists (below) before it can be freed.
                let from = unsafe { &*from };
                from.jump_dest[usize::from(slot)].store(std::ptr::null_mut(), Ordering::Relaxed);
                write(&from.jump_slots[usize::from(slot)], None);
            }
            for s in 0..JUMP_SLOTS {
                let dest = tb.jump_dest[s].swap(std::ptr::null_mut(), Ordering::Relaxed);
                // SAFETY: as above: a linked target is still allocated while the link exists.
                if let Some(dest) = unsafe { dest.as_ref() } {
                    dest.incoming
                        .lock()
                        .retain(|&(f, sl)| !(std::ptr::eq(f, tb) && usize::from(sl) == s));
                    write(&tb.jump_slots[s], None);
                }
            }
        }
        for page in tb.pages() {
            let shard = pages.shard(page);
            if let Some(v) = shard.get_mut(&page) {
                v.retain(|&p| p != tb as *const _ as usize);
                if v.is_empty() {
                    shard.remove(&page);
                }
            }
        }
        self.table.remove(tb, tb.key.hash(), guard);
        self.stats.invalidated.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Invalidates every block that covers any byte of guest `[start, start + len)`; returns
    /// how many. Used when guest code is written, unmapped or reprotected.
    pub fn invalidate_range(
        &self,
        start: u64,
        len: u64,
        write: SlotWriter,
        guard: &Guard,
    ) -> usize {
        if len == 0 {
            return 0;
        }
        let end = start.saturating_add(len);
        // Every shard: a block on a page of the range may also cover a page outside it.
        let mut pages = self.lock_pages(|_| true);
        let first = start & !(PAGE_SIZE - 1);
        let n_pages = (end - first).div_ceil(PAGE_SIZE);
        let indexed: usize = pages.iter().map(|s| s.len()).sum();
        let mut victims: Vec<usize> = if n_pages > indexed as u64 {
            // A range larger than the index (a big munmap): walk the index instead.
            pages
                .iter()
                .flat_map(|s| s.iter())
                .filter(|(&p, _)| p >= first && p < end)
                .flat_map(|(_, v)| v.iter().copied())
                .collect()
        } else {
            (0..n_pages)
                .map(|i| first + i * PAGE_SIZE)
                .filter_map(|p| pages.blocks_on(p))
                .flat_map(|v| v.iter().copied())
                .collect()
        };
        victims.sort_unstable();
        victims.dedup();
        let mut n = 0;
        for p in victims {
            // SAFETY: blocks in the page index are in the table (removal from the index
            // precedes removal from the table, both under this lock), so still allocated.
            let tb = unsafe { &*(p as *const TranslationBlock) };
            let tb_end = tb.guest_start + u64::from(tb.guest_size.max(1));
            if tb.guest_start < end
                && start < tb_end
                && self.invalidate_locked(tb, write, &mut pages, guard)
            {
                n += 1;
            }
        }
        n
    }

    /// Invalidates every block on guest page `page` (QEMU's `tb_invalidate_phys_page`).
    pub fn invalidate_page(&self, page: u64, write: SlotWriter, guard: &Guard) -> usize {
        self.invalidate_range(page & !(PAGE_SIZE - 1), PAGE_SIZE, write, guard)
    }

    /// True if some block covers guest page `page`.
    pub fn page_has_code(&self, page: u64) -> bool {
        let page = page & !(PAGE_SIZE - 1);
        self.pages[shard_of(page)].lock().contains_key(&page)
    }

    /// Every guest page some block covers, in ascending order (a snapshot).
    pub fn code_pages(&self) -> Vec<u64> {
        let mut pages: Vec<u64> = self
            .pages
            .iter()
            .flat_map(|shard| shard.lock().keys().copied().collect::<Vec<_>>())
            .collect();
        pages.sort_unstable();
        pages
    }

    /// Drops every block (for a full code cache). The caller must hold every vCPU out of
    /// translated code (an exclusive section) and then flush the host code itself.
    pub fn flush(&self, guard: &Guard) {
        let mut pages = self.lock_pages(|_| true);
        let _l = self.links.lock();
        for jc in self.jump_caches.lock().iter() {
            jc.clear();
        }
        self.table.retain(
            |tb| {
                tb.cflags.fetch_or(CF_INVALID, Ordering::AcqRel);
                false
            },
            guard,
        );
        for s in pages.shards.iter_mut().flatten() {
            s.clear();
        }
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// The block whose host code contains `host_pc`, if any (slow: walks the table; for fault
    /// reports, not hot paths).
    pub fn find_by_host_pc(&self, host_pc: usize, guard: &Guard) -> Option<GuestPcAt> {
        let mut found = None;
        self.table.for_each(
            |tb| {
                if found.is_none() {
                    found = tb.host_pc_at(host_pc);
                }
            },
            guard,
        );
        found
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
