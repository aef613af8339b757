//! The guest CPU and its execution loop.
//!
//! Owns the per-vCPU loop: look a block up or translate it, run it, and handle the reason it
//! returned (syscall, exception, exit request). One host thread runs one [`Vcpu`]; everything
//! vCPUs share lives in the [`Machine`]: the block table (`tb-cache`), the backend and its code
//! cache, and the guest process (`linux-user`, with the address space). The x86 register file
//! itself is the frontend's [`X86State`], whose layout the translated code addresses.
//!
//! # Threads and exclusive sections
//! A guest `clone(CLONE_VM | CLONE_THREAD)` starts a new host thread with its own [`Vcpu`]
//! (MTTCG: one host thread per guest thread). Every vCPU is registered with the machine's
//! [`exclusive::Exclusive`]: it is *running* while it executes or translates guest code and
//! stopped in syscalls. Work that no running vCPU may observe half-done (flushing the code
//! cache, forking the emulator) runs in an exclusive section; a kicked vCPU leaves translated
//! code at the next block entry (the exit-request check every block starts with).
//!
//! # Epochs
//! A vCPU keeps an epoch guard pinned while it runs translated code and while it holds
//! references to blocks, and repins at dispatcher boundaries; it unpins around syscalls,
//! which may block. Invalidated blocks are therefore freed only when no vCPU can be running
//! them (design question 5).
//!
//! # Families of processes
//! A forked child starts with its parent's blocks, but what it translates or tiers up dies
//! with it. The processes forked from one emulator share run counters and a hint log
//! (crate `family`): a block's interpreted runs add up over every process that has it, and a
//! process that forks takes its children's hints (blocks they translated, blocks that got
//! hot, jumps they chained) on its background compiler, translating its own memory and
//! linking its own blocks where their jump targets agree, so that its later children start
//! with those blocks, compiled once hot and chained. A shell that runs the same program a
//! hundred times stops re-translating and interpreting its start-up in every child.

mod cpuinfo;
mod fault;
mod log;

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use family::{BlockCode, Family, Hint};

use guest_memory::{Access, GuestSpace, GUEST_PAGE_SIZE};
use linux_user::{clone_flags, nr, CloneRequest, Process, SyscallOutcome, ThreadCtx};
use tb_cache::{pin, Guard, JumpCache, NewBlock, TbCache, TbKey, TranslationBlock};
use tcg::InterpExit;
use tcg_backend_cranelift::{Backend, BackendConfig, BlockExit, CompileError, Compiler};
pub use tcg_frontend_x86::{cpuid, CpuModel, TranslateConfig, X86State};
use tcg_frontend_x86::{exit, translate_block, vector};

pub use cpuinfo::{cpuinfo_flags, cpuinfo_names};
pub use fault::die_with_signal;
pub use log::LogFlags;

/// How the machine translates and what it logs.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// Translation settings, including the CPU model the guest sees.
    pub translate: TranslateConfig,
    /// Never chain blocks or look indirect targets up from translated code (`-d nochain`).
    pub nochain: bool,
    /// What `-d` asked for.
    pub log: LogFlags,
    /// Code cache size in bytes (`None`: the backend's default).
    pub code_cache_size: Option<usize>,
    /// Runs of a block in the interpreter (the cheap tier) before it is compiled; 0 compiles
    /// every block when it is first translated. See "Tiers" in the crate docs.
    pub tier_up_after: u32,
    /// Name compiled blocks in `/tmp/perf-PID.map` for `perf` (`-perfmap`).
    pub perfmap: bool,
    /// Tier-up compiles run on a background thread while the vCPU goes on interpreting the
    /// block (`false`: the vCPU that reaches the threshold compiles, and waits for it).
    pub background_compile: bool,
    /// A guest `execve` replaces the program in this emulator, keeping the translations of
    /// unchanged code, when the guest has one thread (`false`: always through a fresh
    /// emulator, see `linux_user::Process::exec_fresh`).
    pub exec_in_place: bool,
}

/// Default of [`MachineConfig::tier_up_after`]: measured on the bench workloads (see the
/// README's Performance section), high enough that code run a few times (startup, shells)
/// never pays for Cranelift, low enough that hot loops leave the interpreter at once.
pub const DEFAULT_TIER_UP_AFTER: u32 = 32;

/// Counters for `-d stats`, beyond the block table's own.
///
/// Striped: each thread counts in its own cache line ([`MachineStats::local`]), so that vCPUs
/// counting every block run and translation do not bounce one line between cores (with two
/// vCPUs translating, shared counters cost ~5% of the translation time).
#[derive(Debug, Default)]
pub struct MachineStats {
    stripes: [CachePadded<Counters>; STAT_STRIPES],
    /// Code-cache flushes. Not striped: a vCPU compares it with what it saw to learn whether
    /// another flushed meanwhile.
    pub cache_flushes: AtomicU64,
    /// `execve`s done in place.
    pub execs_in_place: AtomicU64,
    /// Blocks that stayed through those `execve`s (their code was the same in the new
    /// program), summed over them.
    pub exec_kept_blocks: AtomicU64,
}

/// Stripes of [`MachineStats`]; threads beyond this many share stripes (still exact).
const STAT_STRIPES: usize = 16;

/// One stripe of [`MachineStats`].
#[derive(Debug, Default)]
pub struct Counters {
    /// Blocks translated (including those that lost an insertion race).
    pub blocks_translated: AtomicU64,
    /// Guest instructions translated.
    pub insns_translated: AtomicU64,
    /// Nanoseconds spent in the frontend.
    pub frontend_ns: AtomicU64,
    /// Nanoseconds spent in the backend.
    pub backend_ns: AtomicU64,
    /// Blocks compiled by the backend (when translated, or at tier-up).
    pub blocks_compiled: AtomicU64,
    /// Of those, blocks compiled at tier-up (after running in the interpreter).
    pub tier_ups: AtomicU64,
    /// Blocks prepared for the interpreter.
    pub blocks_prepared: AtomicU64,
    /// Nanoseconds spent preparing blocks for the interpreter.
    pub prepare_ns: AtomicU64,
    /// Block runs in the interpreter.
    pub interpreted_runs: AtomicU64,
    /// Tier-up requests sent to the background compiler (a block that waits long is asked
    /// for again, at the queue's front).
    pub tier_up_requests: AtomicU64,
    /// Of [`Counters::tier_ups`], those the background compiler did.
    pub background_tier_ups: AtomicU64,
    /// Translations dropped because the guest wrote their code meanwhile.
    pub code_write_retries: AtomicU64,
    /// Locked instructions run alone in an exclusive section because the host's atomics
    /// cannot do them (`exit::ATOMIC`: a misaligned operand, or a 16-byte compare-and-swap).
    pub exclusive_atomics: AtomicU64,
    /// Hints posted to the family (blocks translated, blocks that got hot).
    pub hints_posted: AtomicU64,
    /// Other processes' hints queued for the background compiler.
    pub hints_taken: AtomicU64,
    /// Blocks the background compiler translated from hints.
    pub hinted_translations: AtomicU64,
    /// Jumps the background compiler linked from hints.
    pub hinted_links: AtomicU64,
}

impl MachineStats {
    /// The calling thread's stripe, to count in.
    pub fn local(&self) -> &Counters {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % STAT_STRIPES
            };
        }
        &self.stripes[STRIPE.with(|s| *s)]
    }

    /// One counter summed over the stripes.
    pub fn total(&self, counter: fn(&Counters) -> &AtomicU64) -> u64 {
        self.stripes
            .iter()
            .map(|c| counter(c).load(Ordering::Relaxed))
            .sum()
    }
}

/// Everything the vCPUs of one guest process share.
pub struct Machine {
    /// The guest process: address space, files, signal dispositions.
    pub process: Arc<Process>,
    /// The block table.
    pub tbs: TbCache,
    /// The host backend and its code cache.
    pub backend: Arc<Backend>,
    config: MachineConfig,
    /// Translation counters.
    pub stats: MachineStats,
    log: log::Sink,
    /// The `-D` log file's descriptor, which an `execve` in place keeps open.
    log_fd: Option<RawFd>,
    perfmap: log::PerfMap,
    /// `TbKey::flags` for this configuration.
    key_flags: u32,
    /// Registry of the vCPUs and their run state, for exclusive sections.
    exclusive: exclusive::Exclusive,
    /// Guest threads alive (vCPUs created and not yet stopped): the process ends when the
    /// last one exits.
    live_threads: AtomicUsize,
    /// CPUs this process may run on: with at least as many guest threads, the compiler
    /// thread would take a core from a vCPU, so vCPUs compile their hot blocks themselves.
    host_cpus: usize,
    /// When the machine was made: the epoch of [`Tier0::asked_at`].
    started: Instant,
    /// The background compiler, started on demand.
    compile_queue: parking_lot::Mutex<BackgroundCompiler>,
    /// [`Machine::nanos_since_start`] when this process's compile queue began (at a fork in
    /// the child, at an `execve` in place): tier-up requests before it were another
    /// process's, or another program's.
    requests_since: AtomicU64,
    /// This process's id, as hints name their poster.
    pid: AtomicU32,
    /// Set once this process forked: from then on it takes the family's hints (see "Families
    /// of processes" above).
    has_forked: AtomicBool,
    /// How far this process has read the family's hint log.
    hint_cursor: parking_lot::Mutex<u64>,
    /// Run inside every exclusive atomic step, with the other vCPUs stopped (tests observe
    /// that they are).
    #[cfg(test)]
    step_probe: parking_lot::Mutex<Option<StepProbe>>,
}

#[cfg(test)]
type StepProbe = Box<dyn Fn(&Machine) + Send + Sync>;

/// Queued tier-up requests beyond which requests are dropped (the blocks wait for
/// [`BACKGROUND_PATIENCE`]); a bound on memory only (each block asks at most twice).
const MAX_PENDING_COMPILES: usize = 4096;
/// How long a block may wait in the interpreter, from its tier-up request, for the
/// background compiler before its vCPU compiles it. Counted in time, not runs: a hot loop
/// runs hundreds of times in the 0.1-0.3 ms one compile takes, and a vCPU that stopped to
/// compile it would stall for that long while the compiler thread was about to deliver
/// (process start-up paid this once or twice, ~10% of `busybox true`).
const BACKGROUND_PATIENCE: Duration = Duration::from_millis(2);
/// How long a process (or forked child) runs before it starts its compiler thread (see
/// [`BackgroundCompiler::NotStarted`]).
const COMPILER_GRACE: Duration = Duration::from_millis(3);
// The table's blocks have the slots the translator may use.
const _: () = assert!(tb_cache::JUMP_SLOTS == tcg::JUMP_SLOTS);

/// The largest block (guest bytes) hints are posted for; larger ones are rare and not worth
/// hashing.
const MAX_HINTED_BLOCK: u32 = 4096;

/// The family's shared memory, mapped before this process first forks (by the first
/// [`Machine`]); only this process's heap if the mapping fails.
fn family() -> &'static Family {
    static FAMILY: std::sync::OnceLock<Family> = std::sync::OnceLock::new();
    FAMILY.get_or_init(|| Family::shared().unwrap_or_else(|_| Family::private(0, 1)))
}

/// How many times the threshold a block runs before its request moves to the queue's front.
const BACKGROUND_URGENT: u32 = 2;

/// One piece of the background compiler's work.
#[derive(Clone, Copy, Debug)]
struct CompileJob {
    /// The block to tier up.
    key: TbKey,
    /// For a job from another process's hint: what that process did. The block is
    /// translated here if missing and our guest code is the same (a `Translated` hint only
    /// translates it, a `Hot` one tiers it up too); a `Linked` one links it.
    hint: Option<Hint>,
}

/// The background compiler's work list, most urgent first.
///
/// std's lock and condition variable, not parking_lot's: parking_lot keeps the queues of
/// waiting threads in one process-wide table, and a fork while the compiler thread was
/// entering or leaving a wait left the child a half-updated table entry (its new compiler
/// thread then dereferenced a null queue tail). std's keep their state in themselves, and
/// the compiler thread takes no other lock outside `exec_start`..`exec_end`, which no fork
/// overlaps.
struct CompileQueue {
    state: std::sync::Mutex<QueueState>,
    /// Signalled when a key is queued or the queue closes.
    ready: std::sync::Condvar,
}

impl CompileQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A panic while holding it leaves a consistent queue (plain pushes and pops).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct QueueState {
    jobs: VecDeque<CompileJob>,
    /// Set when the machine goes: the compiler thread returns.
    closed: bool,
}

/// The vCPUs' end of a [`CompileQueue`]; dropping it (with the machine) closes the queue.
struct CompileRequests(Arc<CompileQueue>);

impl Drop for CompileRequests {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_one();
    }
}

/// Whether there is a compiler thread.
enum BackgroundCompiler {
    /// Not yet: it starts with the first tier-up request after `not_before`
    /// ([`COMPILER_GRACE`] after the process or fork began), when a block stays hot
    /// [`BACKGROUND_PATIENCE`] after its request, or when the guest starts a thread.
    /// Requests before then are dropped (the blocks go on interpreting). Most processes that
    /// live only milliseconds (a shell's forked child that execs or exits, `true`) so never
    /// pay for the thread, for compiles they would not live to use, or for a fork's flush of
    /// a second CPU's TLB.
    NotStarted { not_before: Instant },
    /// The queue of the running thread.
    Running(CompileRequests),
    /// None: background compiling is off, or the thread could not be created (tier-up
    /// falls back to the vCPUs).
    Unavailable,
}

impl BackgroundCompiler {
    fn not_started() -> BackgroundCompiler {
        BackgroundCompiler::NotStarted {
            not_before: Instant::now() + COMPILER_GRACE,
        }
    }
}

/// Most pages of code an `execve` in place compares (16 MiB saved at most).
const MAX_EXEC_SAVED_PAGES: usize = 4096;

/// What became of a guest `execve`.
enum Exec {
    /// The new program could not be run: the old one gets this errno.
    Failed(guest_memory::Errno),
    /// The new program is loaded; the vCPU starts it.
    Replaced(linux_user::LoadedProgram),
    /// Loading failed after the old program was gone: the guest dies.
    Fatal(String),
}

/// What became of a tier-up request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// Queued for the compiler thread.
    Queued,
    /// Dropped: the queue is full, or the thread is not started yet.
    Dropped,
    /// There is no compiler thread.
    NoCompiler,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine").field("tbs", &self.tbs).finish()
    }
}

/// A failure to set the machine up.
#[derive(Debug)]
pub struct SetupError(pub String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

impl Machine {
    /// A machine for `process`, logging to `log` (stderr if `None`).
    pub fn new(
        process: Arc<Process>,
        config: MachineConfig,
        log: Option<std::fs::File>,
    ) -> Result<Arc<Machine>, SetupError> {
        let mut config = config;
        // Locked instructions this host's atomics cannot do leave translated code and run in
        // an exclusive section (QEMU's `cpu_exec_step_atomic`), which is atomic with respect
        // to every access of the other vCPUs, plain stores included.
        config.translate.exclusive_split_atomics |=
            !tcg_backend_cranelift::misaligned_atomics_supported();
        config.translate.exclusive_cmpxchg16b |= !tcg_backend_cranelift::cmpxchg16_is_lock_free();
        let space = process.space();
        let mut backend_config = BackendConfig::new(
            space.base() as u64,
            space.size(),
            lookup_helper as *const () as usize,
        );
        if let Some(size) = config.code_cache_size {
            backend_config.cache_capacity = size;
        }
        if !config.nochain {
            // Indirect jumps, calls and returns probe the vCPU's jump cache inline and call
            // `lookup_helper` only on a miss. Blocks stay allocated while a vCPU runs (its
            // epoch guard) and jump-cache entries are cleared before a block is freed.
            let (desc_pc, desc_valid, desc_code) = TranslationBlock::probe_offsets();
            let rip_offset =
                (std::mem::offset_of!(VcpuEnv, state) + std::mem::offset_of!(X86State, rip)) as i32;
            backend_config.jump_cache_probe = Some(tcg_backend_cranelift::JumpCacheProbe {
                pc_env_offset: rip_offset,
                entries_env_offset: std::mem::offset_of!(VcpuEnv, jc_entries) as i32,
                mask: (tb_cache::JUMP_CACHE_SIZE - 1) as u64,
                shift: tb_cache::JUMP_CACHE_SHIFT,
                desc_pc: desc_pc as i32,
                desc_valid: desc_valid as i32,
                desc_code: desc_code as i32,
            });
            // A block that jumps to its own start loops inside its code, back to its
            // exit-request check and nothing else: every invalidation that drops a block
            // raises every vCPU's exit request once the block can no longer be entered (see
            // `Machine::kick_after_invalidation`), and the block stays allocated while a vCPU
            // runs it (epoch guard), so the loop ends at the next iteration.
            backend_config.goto_start_loops = true;
            // Exits through a jump slot leave rip unstored; the dispatcher sets it from the
            // slot's jump target when the slot is unlinked (`BlockExit::Unchained`).
            backend_config.pc_env_offset = Some(rip_offset);
        }
        let backend = Backend::new(backend_config)
            .map_err(|e| SetupError(format!("cannot set up the host backend: {e}")))?;
        config.translate.lanes &= backend.has_lanes();
        let key_flags =
            (config.translate.cpu.bits() as u32) << 1 | u32::from(config.translate.single_step);
        let background = if config.background_compile && config.tier_up_after > 0 {
            BackgroundCompiler::not_started()
        } else {
            BackgroundCompiler::Unavailable
        };
        let machine = Arc::new(Machine {
            process,
            tbs: TbCache::new(),
            backend,
            config,
            stats: MachineStats::default(),
            log_fd: log.as_ref().map(|f| f.as_raw_fd()),
            log: log::Sink::new(log.map(|f| Box::new(f) as Box<dyn Write + Send>)),
            perfmap: log::PerfMap::new(),
            key_flags,
            exclusive: exclusive::Exclusive::new(),
            live_threads: AtomicUsize::new(0),
            host_cpus: linux_user::host_cpu_count(),
            started: Instant::now(),
            compile_queue: parking_lot::Mutex::new(background),
            requests_since: AtomicU64::new(0),
            pid: AtomicU32::new(std::process::id()),
            has_forked: AtomicBool::new(false),
            hint_cursor: parking_lot::Mutex::new(family().end()),
            #[cfg(test)]
            step_probe: parking_lot::Mutex::new(None),
        });
        let weak = Arc::downgrade(&machine);
        machine
            .space()
            .set_code_write_hook(Box::new(move |page| {
                if let Some(m) = weak.upgrade() {
                    m.invalidate_range(page, GUEST_PAGE_SIZE);
                }
            }))
            .map_err(|_| SetupError("the guest address space already has a machine".into()))?;
        fault::install(&machine);
        Ok(machine)
    }

    /// Starts the background compiler thread.
    fn start_compiler_thread(self: &Arc<Machine>) -> BackgroundCompiler {
        let queue = Arc::new(CompileQueue {
            state: std::sync::Mutex::new(QueueState {
                jobs: VecDeque::new(),
                closed: false,
            }),
            ready: std::sync::Condvar::new(),
        });
        let rx = queue.clone();
        let weak = Arc::downgrade(self);
        // Registered as a CPU of the exclusive registry, so that a code-cache flush (or a
        // fork) never overlaps a compile: it is "running" from before it looks the block up
        // until it has published the code.
        let cpu = self.exclusive.register(|| {});
        let jc = self.tbs.new_jump_cache();
        let spawned = std::thread::Builder::new()
            .name("emu-compiler".into())
            .stack_size(VCPU_THREAD_STACK)
            .spawn(move || compiler_thread(weak, rx, cpu, jc));
        match spawned {
            Ok(_) => BackgroundCompiler::Running(CompileRequests(queue)),
            Err(_) => BackgroundCompiler::Unavailable,
        }
    }

    /// Asks the background compiler to tier the block for `key` up, before every other
    /// queued block if `urgent`.
    fn request_tier_up(self: &Arc<Machine>, key: TbKey, urgent: bool) -> Request {
        self.request(CompileJob { key, hint: None }, urgent)
    }

    /// Queues `job` for the background compiler (see [`Machine::request_tier_up`]).
    fn request(self: &Arc<Machine>, job: CompileJob, urgent: bool) -> Request {
        let mut q = self.compile_queue.lock();
        if let BackgroundCompiler::NotStarted { not_before } = *q {
            if Instant::now() < not_before {
                return Request::Dropped;
            }
            // Under the lock, by a running vCPU: no fork or second start overlaps it.
            *q = self.start_compiler_thread();
        }
        let BackgroundCompiler::Running(CompileRequests(queue)) = &*q else {
            return Request::NoCompiler;
        };
        let mut state = queue.lock();
        if state.jobs.len() >= MAX_PENDING_COMPILES {
            return Request::Dropped;
        }
        if urgent {
            state.jobs.push_front(job);
        } else {
            state.jobs.push_back(job);
        }
        drop(state);
        queue.ready.notify_one();
        self.stats
            .local()
            .tier_up_requests
            .fetch_add(1, Ordering::Relaxed);
        Request::Queued
    }

    /// Tells the family that `tb` was translated here, or got `hot` (see "Families of
    /// processes" above).
    fn post_block_hint(&self, hot: bool, tb: &TranslationBlock) {
        let Some(hash) = self.code_hash(tb.guest_start, tb.guest_size) else {
            return;
        };
        let block = BlockCode {
            pc: tb.pc(),
            flags: self.key_flags,
            start: tb.guest_start,
            size: tb.guest_size,
            hash,
        };
        self.post_hint(if hot {
            Hint::Hot(block)
        } else {
            Hint::Translated(block)
        });
    }

    fn post_hint(&self, hint: Hint) {
        family().post(self.pid.load(Ordering::Relaxed), &hint);
        self.stats
            .local()
            .hints_posted
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The family's hash of our guest code at `start`, if `size` bytes there are executable.
    fn code_hash(&self, start: u64, size: u32) -> Option<u64> {
        let space = self.space();
        if size == 0
            || size > MAX_HINTED_BLOCK
            || !space.is_mapped(start, size.into(), Access::Exec)
        {
            return None;
        }
        // On the stack: this runs for every translation.
        let mut buf = [0; MAX_HINTED_BLOCK as usize];
        let bytes = &mut buf[..size as usize];
        space.read(start, bytes).ok()?;
        Some(family::code_hash(bytes))
    }

    /// Queues the hints the family posted since the last call for the background compiler,
    /// if this process has forked (only a process that forks again can use them: its later
    /// children inherit what it translates). Called after syscalls: cheap when there is
    /// nothing new.
    fn take_hints(self: &Arc<Machine>) {
        if !self.has_forked.load(Ordering::Relaxed) {
            return;
        }
        let Some(mut cursor) = self.hint_cursor.try_lock() else {
            return;
        };
        if family().end() == *cursor {
            return;
        }
        *cursor = family().read(*cursor, self.pid.load(Ordering::Relaxed), |hint| {
            if hint.flags() == self.key_flags {
                let job = CompileJob {
                    key: self.key(hint.pc()),
                    hint: Some(hint),
                };
                // A translation for the cheap tier or a link takes microseconds, a compile a
                // tenth of a millisecond: the cheap ones go first, so that the next children
                // find more of what they need (measured: `bb-spawn` 485 -> 472 ms).
                let cheap = !matches!(hint, Hint::Hot(_));
                if self.request(job, cheap) == Request::Queued {
                    self.stats
                        .local()
                        .hints_taken
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }

    /// Whether our guest code is what `hint` says its poster's was (its flags were checked
    /// when it was taken).
    fn has_hinted_code(&self, hint: &BlockCode) -> bool {
        (hint.start..hint.start + u64::from(hint.size)).contains(&hint.pc)
            && self.code_hash(hint.start, hint.size) == Some(hint.hash)
    }

    fn nanos_since_start(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// Starts the compiler thread if it is waiting out its grace; true if this started it.
    fn start_compiler_early(self: &Arc<Machine>) -> bool {
        let mut q = self.compile_queue.lock();
        if let BackgroundCompiler::NotStarted { .. } = *q {
            *q = self.start_compiler_thread();
            matches!(*q, BackgroundCompiler::Running(_))
        } else {
            false
        }
    }

    /// The guest address space.
    pub fn space(&self) -> &Arc<GuestSpace> {
        self.process.space()
    }

    /// The configuration.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    fn key(&self, pc: u64) -> TbKey {
        TbKey {
            pc,
            cs_base: 0,
            flags: self.key_flags,
            cflags: 0,
        }
    }

    /// Writes a slot: a code address, or the backend's unlinked stub.
    fn write_slot(&self, slot: &std::sync::atomic::AtomicUsize, target: Option<*const u8>) {
        match target {
            Some(code) => self.backend.link_slot(slot, code),
            None => self.backend.unlink_slot(slot),
        }
    }

    /// Invalidates translations of guest `[start, start + len)` (its code changed or went away).
    pub fn invalidate_range(&self, start: u64, len: u64) {
        let guard = pin();
        let n = self
            .tbs
            .invalidate_range(start, len, &|s, t| self.write_slot(s, t), &guard);
        if n > 0 {
            self.kick_after_invalidation();
        }
    }

    /// Makes every vCPU leave translated code at its next block entry or `goto_start`
    /// iteration, after blocks were invalidated.
    ///
    /// Invariant (what lets a block that loops on itself check nothing but the exit request
    /// per iteration, `BackendConfig::goto_start_loops`): the invalidation is complete when
    /// this runs: `CF_INVALID` set, the block out of every jump cache and unlinked from every
    /// slot, so no vCPU can enter it anew. A vCPU inside it then finds its exit request raised
    /// at the loop's head; one that takes the request in the dispatcher first (a SeqCst swap
    /// that reads this SeqCst store) sees every effect of the invalidation in its next lookup.
    fn kick_after_invalidation(&self) {
        self.exclusive.kick_all();
    }

    /// Carries out a guest `execve` that passed its checks, for a vCPU that is not running,
    /// whose thread state is `thread`: in place when this is the guest's only thread
    /// (and the thread is the process's leader, whose tid Linux keeps), else by executing a
    /// fresh emulator.
    ///
    /// In place, in an exclusive section (the compiler thread is the only other party): the
    /// bytes of every page that holds translated code are saved, the process replaces its
    /// program, and the blocks of every page whose bytes changed, or that the new program
    /// may write, are invalidated. What stays is translated from the very bytes that are now
    /// at those addresses, as if the new program had translated them itself.
    fn exec(&self, req: &linux_user::ExecRequest, thread: &mut ThreadCtx) -> Exec {
        // SAFETY: getpid has no preconditions.
        let only_thread = self.live_threads.load(Ordering::Acquire) == 1
            && thread.tid == unsafe { libc::getpid() };
        if !(self.config.exec_in_place && only_thread) {
            return Exec::Failed(self.process.exec_fresh(req, thread));
        }
        let _section = self.exclusive.start_exclusive();
        let space = self.space();
        let pages = self.tbs.code_pages();
        let page_len = GUEST_PAGE_SIZE as usize;
        // Beyond this much code (a big JIT's) the copy is not worth it: every block goes.
        let save = pages.len() <= MAX_EXEC_SAVED_PAGES;
        let mut old = vec![0u8; if save { pages.len() * page_len } else { 0 }];
        let saved: Vec<bool> = pages
            .iter()
            .zip(old.chunks_mut(page_len))
            .map(|(&page, buf)| space.read(page, buf).is_ok())
            .collect();
        let mut keep_fds: Vec<RawFd> = vec![self.backend.code_cache().fd()];
        keep_fds.extend(self.log_fd);
        keep_fds.extend(self.perfmap.fd());
        let hwcap = u64::from(cpuid(&self.config.translate.cpu, 1, 0).3);
        let loaded = match self.process.exec_in_place(req, thread, &keep_fds, hwcap) {
            Ok(loaded) => loaded,
            Err(message) => return Exec::Fatal(message),
        };
        if !save {
            self.invalidate_range(0, space.size());
        }
        let mut now = vec![0u8; page_len];
        for ((&page, was), &saved) in pages.iter().zip(old.chunks(page_len)).zip(&saved) {
            let same = saved
                && !space.prot_at(page).is_some_and(|p| p.allows(Access::Write))
                && space.read(page, &mut now).is_ok()
                && now == was;
            if !same {
                self.invalidate_range(page, GUEST_PAGE_SIZE);
            }
        }
        // The new program gets a new process's grace before it starts a compiler thread (a
        // forked child that execs has none yet; a compiler thread that runs stays).
        let mut q = self.compile_queue.lock();
        if let BackgroundCompiler::NotStarted { .. } = *q {
            *q = BackgroundCompiler::not_started();
            self.requests_since
                .store(self.nanos_since_start(), Ordering::Relaxed);
        }
        drop(q);
        self.stats.execs_in_place.fetch_add(1, Ordering::Relaxed);
        self.stats
            .exec_kept_blocks
            .fetch_add(self.tbs.len() as u64, Ordering::Relaxed);
        Exec::Replaced(loaded)
    }

    /// Drops every block and all host code, unless another vCPU flushed since the caller saw
    /// the cache full (`seen_flushes`). The caller must not be running (it holds no block
    /// reference); the flush happens in an exclusive section, so no vCPU runs or translates.
    fn flush_code_cache(&self, seen_flushes: u64) {
        let _section = self.exclusive.start_exclusive();
        if self.stats.cache_flushes.load(Ordering::Acquire) != seen_flushes {
            return;
        }
        let guard = pin();
        self.tbs.flush(&guard);
        // SAFETY: inside the exclusive section no vCPU executes translated code, translates,
        // or holds a block reference (each dropped them before `exec_end`), and the table just
        // forgot every block and cleared every jump cache, so no slot, cache entry or pointer
        // to flushed code survives; emission is serialised by the same section.
        unsafe { self.backend.code_cache().flush() };
        self.stats.cache_flushes.fetch_add(1, Ordering::AcqRel);
    }

    /// What the host thread of a vCPU does once its [`Vcpu::run`] returned: ends the process
    /// if the guest asked for it (`exit_group`, a fatal signal) or if this was its last thread,
    /// printing `-d stats` first; otherwise returns so that the thread can end.
    pub fn vcpu_stopped(&self, exit: VcpuExit) {
        let status = match exit {
            VcpuExit::ThreadExit(code) => {
                if self.live_threads.fetch_sub(1, Ordering::AcqRel) > 1 {
                    return;
                }
                code
            }
            VcpuExit::Exit(code) => code,
            VcpuExit::Signal { sig, message } => {
                self.print_stats_if_asked();
                if let Some(m) = message {
                    eprintln!("{m}");
                }
                die_with_signal(sig);
            }
        };
        self.print_stats_if_asked();
        // `_exit`: the other vCPU threads must stop where they are, without running any
        // exit-time code of ours under their feet. The guest wrote through write(2), so
        // nothing of its output is buffered here; the status is truncated as the kernel does.
        // SAFETY: plain process exit.
        unsafe { libc::_exit(status & 0xff) }
    }

    fn print_stats_if_asked(&self) {
        if self.config.log.stats {
            self.print_stats(&mut std::io::stderr());
        }
    }

    /// Prints the `-d stats` report.
    pub fn print_stats(&self, out: &mut dyn Write) {
        let s = &self.stats;
        let t = &self.tbs.stats;
        let l = self.tbs.lookup_counts();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sum = |c: fn(&Counters) -> &AtomicU64| s.total(c);
        let blocks = sum(|c| &c.blocks_translated).max(1);
        let cache = self.backend.code_cache();
        let lookups = get(&l.jump_cache_hits) + get(&l.qht_lookups);
        let compiled = sum(|c| &c.blocks_compiled).max(1);
        let prepared = sum(|c| &c.blocks_prepared).max(1);
        let _ = writeln!(
            out,
            "emu stats:\n  blocks translated   {}\n  guest insns         {} ({:.1}/block)\n  \
             frontend time       {:.3} ms ({:.1} us/block)\n  \
             tier 0 (interp)     {} blocks prepared in {:.3} ms ({:.1} us/block), {} runs\n  \
             tier 1 (cranelift)  {} blocks compiled in {:.3} ms ({:.1} us/block), {} at tier-up \
             ({} in the background, {} requests)\n  \
             code cache          {} KiB used of {} KiB, {} flushes\n  blocks in table     {}\n  \
             lookups             {} (jump cache hit rate {:.1}%)\n  qht lookups         {} ({} misses)\n  \
             insertion races     {} lost\n  chained jumps       {}\n  invalidations       {}\n  \
             code-write retries  {}\n  exclusive atomics   {}\n  \
             execve in place     {} ({} blocks kept)\n  \
             family hints        {} posted, {} taken ({} blocks translated, {} jumps linked \
             from them)",
            sum(|c| &c.blocks_translated),
            sum(|c| &c.insns_translated),
            sum(|c| &c.insns_translated) as f64 / blocks as f64,
            sum(|c| &c.frontend_ns) as f64 / 1e6,
            sum(|c| &c.frontend_ns) as f64 / 1e3 / blocks as f64,
            sum(|c| &c.blocks_prepared),
            sum(|c| &c.prepare_ns) as f64 / 1e6,
            sum(|c| &c.prepare_ns) as f64 / 1e3 / prepared as f64,
            sum(|c| &c.interpreted_runs),
            sum(|c| &c.blocks_compiled),
            sum(|c| &c.backend_ns) as f64 / 1e6,
            sum(|c| &c.backend_ns) as f64 / 1e3 / compiled as f64,
            sum(|c| &c.tier_ups),
            sum(|c| &c.background_tier_ups),
            sum(|c| &c.tier_up_requests),
            cache.used() / 1024,
            cache.capacity() / 1024,
            get(&s.cache_flushes),
            self.tbs.len(),
            lookups,
            100.0 * get(&l.jump_cache_hits) as f64 / lookups.max(1) as f64,
            get(&l.qht_lookups),
            get(&l.qht_misses),
            get(&t.insert_races_lost),
            get(&t.links),
            get(&t.invalidated),
            sum(|c| &c.code_write_retries),
            sum(|c| &c.exclusive_atomics),
            get(&s.execs_in_place),
            get(&s.exec_kept_blocks),
            sum(|c| &c.hints_posted),
            sum(|c| &c.hints_taken),
            sum(|c| &c.hinted_translations),
            sum(|c| &c.hinted_links),
        );
    }
}

/// How a vCPU's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VcpuExit {
    /// The guest process exited (`exit_group`) with this status.
    Exit(i32),
    /// This guest thread exited (`exit`) with this status; the process goes on while other
    /// threads live.
    ThreadExit(i32),
    /// The guest must die of this host signal, after printing `message` (if any) to stderr.
    Signal {
        /// Signal number.
        sig: i32,
        /// One line for stderr, naming the guest rip and what happened.
        message: Option<String>,
    },
}

/// The memory a vCPU's translated code runs against: the x86 state first (translated code
/// addresses it at fixed offsets from `env`), then what the lookup helper needs.
#[repr(C, align(64))]
struct VcpuEnv {
    state: X86State,
    machine: *const Machine,
    jump_cache: *const JumpCache,
    /// The guard pinned while translated code runs (valid only during `execute`).
    guard: *const Guard,
    /// The guest pc of the instruction the interpreter is running (0 outside it), for fault
    /// reports.
    interp_pc: u64,
    /// The jump cache's entries, which translated code probes inline.
    jc_entries: *const std::sync::atomic::AtomicPtr<TranslationBlock>,
}

/// One guest CPU.
pub struct Vcpu {
    machine: Arc<Machine>,
    env: Box<VcpuEnv>,
    /// Per-thread state the syscall layer keeps (tid, fs base, signal mask...).
    pub thread: ThreadCtx,
    compiler: Compiler,
    /// The interpreter's temporaries, reused between runs.
    scratch: Vec<u128>,
    jump_cache: Arc<JumpCache>,
    /// This vCPU in the machine's exclusive-section registry.
    cpu: Arc<exclusive::Cpu>,
}

/// The address of a vCPU's exit-request word, for the kick of another thread.
struct ExitRequest(*const AtomicU32);

// SAFETY: the pointer addresses a word inside a `VcpuEnv` that outlives the vCPU's
// registration (`Vcpu::drop` unregisters before the env is freed, and the registry calls kicks
// only under its lock); the word is only ever accessed atomically from Rust, and read by
// translated code at block entry.
unsafe impl Send for ExitRequest {}
// SAFETY: as above; shared use is atomic stores only.
unsafe impl Sync for ExitRequest {}

impl ExitRequest {
    fn set(&self) {
        // SAFETY: see the `Send` impl: the word is alive and only accessed atomically.
        unsafe { &*self.0 }.store(1, Ordering::SeqCst);
    }
}

// SAFETY: a vCPU moves to its host thread before it runs. Its env's raw pointers address the
// machine and the jump cache, which the vCPU keeps alive through its own `Arc`s and which are
// shared-safe, and a guard pointer that is null outside `run`.
unsafe impl Send for Vcpu {}

impl fmt::Debug for Vcpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vcpu")
            .field("rip", &format_args!("{:#x}", self.env.state.rip))
            .finish()
    }
}

impl Drop for Vcpu {
    fn drop(&mut self) {
        // A dying thread is not running: a fork must not copy the jump caches' list locked.
        let _no_fork = self.machine.space().hold_off_fork();
        self.machine.exclusive.unregister(&self.cpu);
        self.machine.tbs.drop_jump_cache(&self.jump_cache);
    }
}

const RAX: usize = 0;
const RCX: usize = 1;
const RDX: usize = 2;
const RSP: usize = 4;
const RSI: usize = 6;
const RDI: usize = 7;
const R8: usize = 8;
const R9: usize = 9;
const R10: usize = 10;
const R11: usize = 11;

/// Dispatcher returns between two repins of the epoch guard when nothing else forces one.
const REPIN_INTERVAL: u32 = 64;

impl Vcpu {
    /// A vCPU about to run at `entry` with stack pointer `sp`.
    pub fn new(machine: &Arc<Machine>, thread: ThreadCtx, entry: u64, sp: u64) -> Vcpu {
        let mut state = X86State::new();
        state.rip = entry;
        state.regs[RSP] = sp;
        state.fs_base = thread.fs_base;
        state.gs_base = thread.gs_base;
        Vcpu::with_state(machine, thread, state)
    }

    /// A vCPU that starts from `state` (a new thread's copy of its parent's registers).
    fn with_state(machine: &Arc<Machine>, thread: ThreadCtx, mut state: X86State) -> Vcpu {
        let space = machine.space();
        state.guest_base = space.base() as u64;
        state.guest_size = space.size();
        state.exit_request = 0;
        let jump_cache = machine.tbs.new_jump_cache();
        let mut env = Box::new(VcpuEnv {
            state,
            machine: Arc::as_ptr(machine),
            jump_cache: Arc::as_ptr(&jump_cache),
            guard: std::ptr::null(),
            interp_pc: 0,
            jc_entries: jump_cache.entries_ptr(),
        });
        let word = ExitRequest(exit_request_word(&mut *env));
        let cpu = machine.exclusive.register(move || word.set());
        machine.live_threads.fetch_add(1, Ordering::AcqRel);
        Vcpu {
            env,
            machine: machine.clone(),
            thread,
            compiler: Compiler::new(),
            scratch: Vec::new(),
            jump_cache,
            cpu,
        }
    }

    /// Starts a new program at `entry` with stack pointer `sp` (after an `execve` in place):
    /// every register as a new process has it, the pending exit request kept.
    fn start_program(&mut self, entry: u64, sp: u64) {
        // Field by field, every field named: `exit_request` is other threads' to set at any
        // moment (a kick), so it is neither read nor written here.
        let X86State {
            regs,
            rip: _,
            cc_op,
            cc_dst,
            cc_src,
            cc_src2,
            df,
            eflags_rest,
            fs_base,
            gs_base,
            exit_request: _,
            exception,
            exception_addr,
            exception_error,
            mxcsr,
            guest_base: _,
            guest_size: _,
            float_sink: _,
            xmm,
            xmm_tmp,
            fpregs,
            fpu_top,
            fpu_cw,
            fpu_sw,
            fpu_tw,
            pad1: _,
        } = X86State::new();
        let st = &mut self.env.state;
        st.regs = regs;
        st.regs[RSP] = sp;
        st.rip = entry;
        (st.cc_op, st.cc_dst, st.cc_src, st.cc_src2) = (cc_op, cc_dst, cc_src, cc_src2);
        (st.df, st.eflags_rest, st.fs_base, st.gs_base) = (df, eflags_rest, fs_base, gs_base);
        (st.exception, st.exception_addr) = (exception, exception_addr);
        (st.exception_error, st.mxcsr) = (exception_error, mxcsr);
        (st.xmm, st.xmm_tmp, st.fpregs) = (xmm, xmm_tmp, fpregs);
        (st.fpu_top, st.fpu_cw, st.fpu_sw, st.fpu_tw) = (fpu_top, fpu_cw, fpu_sw, fpu_tw);
        // The old program's exception flags are not the new one's.
        tcg_frontend_x86::discard_host_fp_flags();
    }

    /// Takes a pending exit request (a kick from another thread's exclusive section).
    fn take_exit_request(&mut self) -> bool {
        // SAFETY: the word lives in our env; other threads only store to it atomically.
        let word = unsafe { &*exit_request_word(&mut *self.env) };
        word.load(Ordering::Relaxed) != 0 && word.swap(0, Ordering::SeqCst) != 0
    }

    /// The register file.
    pub fn state(&self) -> &X86State {
        &self.env.state
    }

    /// The register file, for setting up or inspecting.
    pub fn state_mut(&mut self) -> &mut X86State {
        &mut self.env.state
    }

    /// Runs the guest until it exits or must die of a signal.
    pub fn run(&mut self) -> VcpuExit {
        let machine = self.machine.clone();
        // From here on the guest's exception flags accrue in this thread's MXCSR (see
        // `tcg_frontend_x86::fold_host_fp_flags`); what the emulator raised is not theirs.
        tcg_frontend_x86::discard_host_fp_flags();
        machine.exclusive.exec_start(&self.cpu);
        let end = self.run_loop();
        machine.exclusive.exec_end(&self.cpu);
        end
    }

    /// The dispatcher loop, entered and left running (see [`exclusive::Exclusive`]).
    fn run_loop(&mut self) -> VcpuExit {
        let machine = self.machine.clone();
        let mut guard = pin();
        // The block that left through an unlinked jump slot, to be chained to the next one.
        // Valid only while `guard` has not been repinned since it was obtained.
        let mut chain_from: Option<(*const TranslationBlock, u8)> = None;
        let mut since_repin = 0;
        loop {
            if self.take_exit_request() {
                // Another vCPU wants an exclusive section: stop holding block references and
                // let it run; the world may have changed (flushed) when we resume.
                chain_from = None;
                machine.exclusive.exec_end(&self.cpu);
                guard.repin_after(|| machine.exclusive.exec_start(&self.cpu));
                since_repin = 0;
            }
            let key = machine.key(self.env.state.rip);
            let tb = match machine.tbs.lookup(&self.jump_cache, &key, &guard) {
                Some(tb) => tb,
                None => match translate(&mut self.compiler, &machine, &key, &guard) {
                    Ok(tb) => {
                        machine.post_block_hint(false, tb);
                        tb
                    }
                    Err(CacheFull { seen_flushes }) => {
                        // Every block reference is stale after the flush.
                        chain_from = None;
                        flush_stopped(&machine, &self.cpu, &mut guard, seen_flushes);
                        since_repin = 0;
                        continue;
                    }
                },
            };
            if let Some((from, slot)) = chain_from.take() {
                if !machine.config.nochain {
                    // SAFETY: `from` was the running block when it exited, and `guard` has
                    // stayed pinned since, so it has not been freed.
                    let from = unsafe { &*from };
                    if machine
                        .tbs
                        .link(from, slot, tb, &|s, t| machine.write_slot(s, t))
                    {
                        machine.post_hint(Hint::Linked {
                            flags: machine.key_flags,
                            from: from.pc(),
                            slot,
                            to: tb.pc(),
                        });
                    }
                }
            }
            let mut code = tb.code();
            let tier0 = if code.is_null() {
                let t0 = tier0_of(tb);
                let runs = t0.runs().fetch_add(1, Ordering::Relaxed);
                let threshold = machine.config.tier_up_after;
                if runs == threshold {
                    machine.post_block_hint(true, tb);
                }
                let mut compile_here = false;
                if runs >= threshold && !tb.is_invalid() {
                    let background = machine.config.background_compile
                        && machine.live_threads.load(Ordering::Relaxed) < machine.host_cpus;
                    if background {
                        // Ask at the threshold and go on interpreting; a block still waiting
                        // at BACKGROUND_URGENT times the threshold is asked for again at the
                        // queue's front (the hottest first). Compile here only when the block
                        // waited BACKGROUND_PATIENCE without getting code (on a host without
                        // an idle core the thread gets little time; a compile the thread has
                        // under way is not repeated, see `tier_up`), checked at powers of two
                        // of its runs, or when there is no compiler thread (it could not be
                        // started). A long queue alone does not stall the vCPU: the burst of
                        // a loop's blocks reaching the threshold together is the compiler
                        // thread's work.
                        if runs == threshold {
                            t0.asked_at
                                .store(machine.nanos_since_start().max(1), Ordering::Relaxed);
                            compile_here =
                                machine.request_tier_up(*tb.key(), false) == Request::NoCompiler;
                        } else if runs == threshold.saturating_mul(BACKGROUND_URGENT) {
                            machine.request_tier_up(*tb.key(), true);
                        } else if runs.is_power_of_two() {
                            let asked = t0.asked_at.load(Ordering::Relaxed);
                            let now = machine.nanos_since_start();
                            if asked < machine.requests_since.load(Ordering::Relaxed) {
                                // Asked for by the process this one forked from (or by the
                                // program before an `execve`): not waiting on our compiler.
                                t0.asked_at.store(now.max(1), Ordering::Relaxed);
                                compile_here = machine.request_tier_up(*tb.key(), false)
                                    == Request::NoCompiler;
                            } else if now.saturating_sub(asked)
                                >= BACKGROUND_PATIENCE.as_nanos() as u64
                            {
                                // Still hot: ends the compiler thread's grace (with this block
                                // first and a fresh wait), or, if it runs, compile here.
                                compile_here = !(machine.start_compiler_early()
                                    && machine.request_tier_up(*tb.key(), true) == Request::Queued);
                                if !compile_here {
                                    t0.asked_at.store(now, Ordering::Relaxed);
                                }
                            }
                        }
                    } else {
                        // Compiled here (`-sync-compile`, or as many guest threads as host
                        // CPUs: each vCPU compiles what it reaches first, and one block is
                        // compiled once). At the threshold; again now and then if that
                        // compile published nothing (the block changed under it), never on
                        // every run.
                        compile_here = runs == threshold || runs.is_power_of_two();
                    }
                }
                if compile_here {
                    if let Err(CacheFull { seen_flushes }) =
                        tier_up(&mut self.compiler, &machine, tb, t0)
                    {
                        chain_from = None;
                        flush_stopped(&machine, &self.cpu, &mut guard, seen_flushes);
                        since_repin = 0;
                        continue;
                    }
                    code = tb.code();
                }
                code.is_null().then_some(t0)
            } else {
                None
            };
            if machine.config.log.exec {
                machine
                    .log
                    .line(format_args!("Trace {:p} [{:016x}]", code, tb.pc()));
            }
            self.env.guard = &guard;
            fault::set_current(&*self.env);
            let env = std::ptr::addr_of_mut!(*self.env).cast::<u8>();
            let exit = match tier0 {
                Some(t0) => {
                    machine
                        .stats
                        .local()
                        .interpreted_runs
                        .fetch_add(1, Ordering::Relaxed);
                    let space = machine.space();
                    let mem = tcg::GuestMemoryView {
                        base: space.base(),
                        size: space.size(),
                    };
                    t0.note_entry_cc(self.env.state.cc_op);
                    let pc_word = std::ptr::addr_of_mut!(self.env.interp_pc);
                    // SAFETY: `env` is this vCPU's state, valid at every offset the frontend's
                    // IR uses; guest memory is the reservation with its guard region after
                    // `size` (a power of two); helpers are the frontend's, matching their
                    // declarations; `pc_word` is a field of our env.
                    let e = unsafe { t0.prepared.run(env, mem, &mut self.scratch, pc_word) };
                    self.env.interp_pc = 0;
                    match e {
                        InterpExit::GotoTb { .. } => BlockExit::Exit(exit::LOOKUP),
                        InterpExit::ExitTb { code } => BlockExit::Exit(code),
                        InterpExit::LookupAndGotoPtr => BlockExit::Exit(exit::LOOKUP),
                        InterpExit::Fault { pc, .. } => {
                            self.env.guard = std::ptr::null();
                            fault::set_current(std::ptr::null());
                            return VcpuExit::Signal {
                                sig: libc::SIGSEGV,
                                message: Some(format!(
                                    "emu: guest SIGSEGV at rip={pc:#x}: misaligned operand \
                                     (general protection)"
                                )),
                            };
                        }
                    }
                }
                // SAFETY: `tb`'s code was emitted by this machine's backend for this state
                // layout; `env` points at this vCPU's state, which nothing else touches while
                // it runs; the guard pinned in `env.guard` keeps every block the code can
                // reach alive.
                None => unsafe { machine.backend.execute(env, code) },
            };
            self.env.guard = std::ptr::null();
            fault::set_current(std::ptr::null());
            match exit {
                BlockExit::Unchained { tb_tag, slot } => {
                    let from = tb_tag as *const TranslationBlock;
                    // SAFETY: `from` is the block that just ran, kept alive by `guard`.
                    if let Some(target) = unsafe { &*from }.jump_target(usize::from(slot)) {
                        self.env.state.rip = target;
                    }
                    chain_from = Some((from, slot));
                    continue;
                }
                BlockExit::Exit(exit::LOOKUP) | BlockExit::Exit(exit::EXIT_REQUEST) => {}
                BlockExit::Exit(exit::SYSCALL) => {
                    if let Some(end) = self.syscall(&mut guard) {
                        return end;
                    }
                    since_repin = 0;
                    continue;
                }
                BlockExit::Exit(exit::EXCEPTION) => return self.exception(),
                BlockExit::Exit(exit::ATOMIC) => {
                    if let Some(end) = self.step_exclusive(&mut guard) {
                        return end;
                    }
                    since_repin = 0;
                    continue;
                }
                BlockExit::Exit(code) => {
                    return VcpuExit::Signal {
                        sig: libc::SIGABRT,
                        message: Some(format!(
                            "emu: internal error: unknown block exit {code} at rip={:#x}",
                            self.env.state.rip
                        )),
                    }
                }
            }
            since_repin += 1;
            if since_repin >= REPIN_INTERVAL {
                since_repin = 0;
                guard.repin();
            }
        }
    }

    /// Runs the instruction at rip alone, with every other vCPU stopped (QEMU's
    /// `cpu_exec_step_atomic`): a locked instruction that translated code left for
    /// ([`exit::ATOMIC`]) because the host's atomics cannot do it. Inside the exclusive section
    /// nothing else accesses guest memory from translated code, so the reference interpreter's
    /// locked read-modify-write is atomic for the guest. `Some` when the vCPU must stop.
    ///
    /// The instruction is translated afresh on its own, without the exits that sent it here,
    /// and not cached (the next run of the block exits again if the operand is still
    /// misaligned).
    fn step_exclusive(&mut self, guard: &mut Guard) -> Option<VcpuExit> {
        let machine = self.machine.clone();
        machine
            .stats
            .local()
            .exclusive_atomics
            .fetch_add(1, Ordering::Relaxed);
        let mut config = machine.config.translate;
        config.single_step = true;
        config.smc_checks = false;
        config.exclusive_split_atomics = false;
        config.exclusive_cmpxchg16b = false;
        let rip = self.env.state.rip;
        let space = machine.space();
        let mem = tcg::GuestMemoryView {
            base: space.base(),
            size: space.size(),
        };
        machine.exclusive.exec_end(&self.cpu);
        let outcome = guard.repin_after(|| {
            let section = machine.exclusive.start_exclusive();
            // A kick from a section that ended while this one waited: nothing to leave now,
            // and the block's entry check must not turn the step into a no-op.
            self.take_exit_request();
            let block = translate_block(rip, &mut |a, buf| fetch_code(space, a, buf), &config);
            fault::set_current(&*self.env);
            let env = std::ptr::addr_of_mut!(*self.env).cast::<u8>();
            // SAFETY: as for the interpreter tier in `run_loop`: `env` is this vCPU's state,
            // valid at every offset the frontend's IR uses; guest memory is the reservation
            // with its guard region after `size`; helpers are the frontend's, matching their
            // declarations. No other vCPU runs guest code during the section.
            let outcome = unsafe { tcg::interpret(&block, env, mem) };
            fault::set_current(std::ptr::null());
            #[cfg(test)]
            if let Some(probe) = &*machine.step_probe.lock() {
                probe(&machine);
            }
            drop(section);
            machine.exclusive.exec_start(&self.cpu);
            outcome
        });
        match outcome {
            InterpExit::ExitTb {
                code: exit::EXCEPTION,
            } => Some(self.exception()),
            InterpExit::ExitTb { .. }
            | InterpExit::GotoTb { .. }
            | InterpExit::LookupAndGotoPtr => None,
            InterpExit::Fault { pc, misaligned, .. } => Some(VcpuExit::Signal {
                sig: libc::SIGSEGV,
                message: Some(if misaligned {
                    format!("emu: guest SIGSEGV at rip={pc:#x}: misaligned operand (general protection)")
                } else {
                    format!("emu: guest SIGSEGV at rip={pc:#x}: access to an address outside the guest address space")
                }),
            }),
        }
    }

    /// Performs the syscall the guest asked for. `Some` when the vCPU must stop.
    fn syscall(&mut self, guard: &mut Guard) -> Option<VcpuExit> {
        let machine = self.machine.clone();
        let st = &mut self.env.state;
        let nr = st.regs[RAX];
        let args = [
            st.regs[RDI],
            st.regs[RSI],
            st.regs[RDX],
            st.regs[R10],
            st.regs[R8],
            st.regs[R9],
        ];
        self.thread.fs_base = st.fs_base;
        self.thread.gs_base = st.gs_base;
        let thread = &mut self.thread;
        let cpu = &self.cpu;
        let forks = forks_emulator(machine.space(), nr, &args);
        // Unpinned and not running while the host kernel has it: a syscall may block for ever.
        // A fork happens with every other vCPU stopped, so that the child's copy of the
        // emulator holds no lock or half-done translation of a thread it does not have.
        machine.exclusive.exec_end(cpu);
        let (outcome, exec) = guard.repin_after(|| {
            let section = forks.then(|| machine.exclusive.start_exclusive());
            let mut syscall = || machine.process.syscall(thread, nr, args);
            let is_child = |o: &SyscallOutcome| matches!(o, SyscallOutcome::ChildReturn { .. });
            let outcome = match &section {
                Some(s) => {
                    machine.backend.code_cache().before_fork();
                    // The vCPUs in syscalls (and threads being born) are stopped only for
                    // translated code: they may be inside a lock the child will need (the
                    // address space's, the signal table's). The fork waits until they are out.
                    let _gate = machine.space().lock_for_fork();
                    s.fork(cpu, syscall, is_child)
                }
                None => syscall(),
            };
            if is_child(&outcome) {
                machine.live_threads.store(1, Ordering::Release);
                machine.pid.store(std::process::id(), Ordering::Relaxed);
                machine.has_forked.store(false, Ordering::Relaxed);
                *machine.hint_cursor.lock() = family().end();
                let mut q = machine.compile_queue.lock();
                if let BackgroundCompiler::Running(_) | BackgroundCompiler::NotStarted { .. } = *q {
                    // The child has no copy of the parent's thread, and its own starts as a
                    // new process's would. The parent's queue is leaked, not dropped:
                    // dropping it closes the queue under the queue's lock, which the parent's
                    // compiler thread may have held at the moment of the fork.
                    std::mem::forget(std::mem::replace(
                        &mut *q,
                        BackgroundCompiler::not_started(),
                    ));
                    machine
                        .requests_since
                        .store(machine.nanos_since_start(), Ordering::Relaxed);
                }
            } else if forks {
                machine.has_forked.store(true, Ordering::Relaxed);
            }
            drop(section);
            // A vfork parent waits for its child's exec with the other vCPUs running, as
            // Linux suspends only the calling thread.
            let outcome = outcome.finish_vfork();
            let exec = match &outcome {
                SyscallOutcome::Exec(req) => Some(machine.exec(req, thread)),
                _ => None,
            };
            machine.exclusive.exec_start(cpu);
            (outcome, exec)
        });
        let outcome = match exec {
            None => outcome,
            Some(Exec::Failed(errno)) => SyscallOutcome::Return(errno.to_syscall_ret()),
            Some(Exec::Fatal(message)) => {
                return Some(VcpuExit::Signal {
                    sig: libc::SIGSEGV,
                    message: Some(format!("emu: execve: {message}")),
                })
            }
            Some(Exec::Replaced(loaded)) => {
                self.start_program(loaded.entry, loaded.stack_pointer);
                return None;
            }
        };
        let st = &mut self.env.state;
        st.fs_base = self.thread.fs_base;
        st.gs_base = self.thread.gs_base;
        st.regs[RCX] = st.rip;
        st.regs[R11] = st.eflags();
        match outcome {
            SyscallOutcome::Return(v) => {
                st.regs[RAX] = v;
                if (v as i64) >= 0 || (v as i64) < -4095 {
                    self.after_memory_syscall(nr, &args, v);
                }
                machine.take_hints();
                // A signal raised while blocked and unblocked by this syscall takes effect now.
                let sig = machine
                    .process
                    .take_fatal_pending_signal(&mut self.thread)?;
                Some(VcpuExit::Signal { sig, message: None })
            }
            SyscallOutcome::VforkParent { .. } => unreachable!("finish_vfork ran above"),
            SyscallOutcome::Exec(_) => unreachable!("carried out above"),
            SyscallOutcome::Exit(code) => Some(VcpuExit::ThreadExit(code)),
            SyscallOutcome::ExitGroup(code) => Some(VcpuExit::Exit(code)),
            SyscallOutcome::KillSelf(sig) => Some(VcpuExit::Signal { sig, message: None }),
            SyscallOutcome::ChildReturn { new_sp } => {
                st.regs[RAX] = 0;
                if let Some(sp) = new_sp {
                    st.regs[RSP] = sp;
                }
                // The code cache's pages stay the parent's until this process first writes
                // code (most children exec or exit before).
                machine.backend.code_cache().after_fork_in_child();
                None
            }
            SyscallOutcome::NewThread(req) => {
                let ret = match self.spawn_thread(req) {
                    Ok(tid) => u64::from(tid as u32),
                    Err(errno) => (-i64::from(errno)) as u64,
                };
                self.env.state.regs[RAX] = ret;
                None
            }
        }
    }

    /// Starts a guest thread on a new host thread with a copy of this vCPU's registers, as
    /// `clone(CLONE_VM | CLONE_THREAD)` asked. Returns the new thread's id or an errno.
    fn spawn_thread(&mut self, req: CloneRequest) -> Result<i32, i32> {
        use clone_flags::*;
        let machine = self.machine.clone();
        // This vCPU is in a syscall, so a fork by another may run meanwhile: it must not copy
        // the compile queue's lock or the jump caches' list locked.
        let _no_fork = machine.space().hold_off_fork();
        // A threaded guest is no few-millisecond process: the compiler thread starts now,
        // and its first, cold compile (the stubs) overlaps the new thread's start instead of
        // stalling a vCPU's first tier-up (`transl` at 2 vCPUs: 21 -> 19 ms).
        machine.start_compiler_early();
        // The child's MXCSR is the parent's, flags included (its thread starts with none).
        tcg_frontend_x86::fold_host_fp_flags(&mut self.env.state);
        let mut state = self.env.state.clone();
        state.regs[RAX] = 0;
        if req.stack != 0 {
            state.regs[RSP] = req.stack;
        }
        if req.flags & CLONE_SETTLS != 0 {
            state.fs_base = req.tls;
        }
        let mut thread = self.thread.clone();
        thread.clear_child_tid = if req.flags & CLONE_CHILD_CLEARTID != 0 {
            req.child_tid
        } else {
            0
        };
        thread.robust_list_head = 0;
        thread.robust_list_len = 0;
        thread.pending_signals = 0;
        thread.altstack = ThreadCtx::new(0).altstack;
        thread.fs_base = state.fs_base;
        // The child reports its host tid, then waits until the parent has published it
        // (CLONE_PARENT_SETTID), as the kernel writes the parent's copy before the child runs.
        let (tid_tx, tid_rx) = mpsc::channel::<i32>();
        let (go_tx, go_rx) = mpsc::channel::<Vcpu>();
        let spawned = std::thread::Builder::new()
            .name("emu-vcpu".into())
            .stack_size(VCPU_THREAD_STACK)
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                if tid_tx.send(tid).is_err() {
                    return;
                }
                let Ok(mut vcpu) = go_rx.recv() else {
                    return;
                };
                vcpu.thread.tid = tid;
                let machine = vcpu.machine.clone();
                if req.flags & CLONE_CHILD_SETTID != 0 {
                    // A bad address is ignored, as the kernel does.
                    let _ = machine.space().write_u32(req.child_tid, tid as u32);
                }
                let exit = vcpu.run();
                drop(vcpu);
                machine.vcpu_stopped(exit);
            });
        if spawned.is_err() {
            return Err(libc::EAGAIN);
        }
        let tid = tid_rx.recv().map_err(|_| libc::EAGAIN)?;
        if req.flags & CLONE_PARENT_SETTID != 0 {
            let _ = machine.space().write_u32(req.parent_tid, tid as u32);
        }
        // Created here, in the parent, so that the thread counts as alive (and registered)
        // before `clone` returns.
        let vcpu = Vcpu::with_state(&machine, thread, state);
        go_tx.send(vcpu).map_err(|_| libc::EAGAIN)?;
        Ok(tid)
    }

    /// Drops translations of guest code that a successful memory syscall unmapped, remapped
    /// or reprotected.
    fn after_memory_syscall(&self, nr: u64, args: &[u64; 6], ret: u64) {
        let range = match nr {
            nr::MUNMAP | nr::MPROTECT => Some((args[0], args[1])),
            nr::MMAP if args[3] & guest_memory::consts::MAP_FIXED as u64 != 0 => {
                Some((ret, args[1]))
            }
            nr::MREMAP => {
                self.machine.invalidate_range(ret, args[2]);
                Some((args[0], args[1]))
            }
            nr::MADVISE => Some((args[0], args[1])),
            _ => None,
        };
        if let Some((start, len)) = range {
            self.machine.invalidate_range(start, len);
        }
    }

    /// The signal the current exception kills the guest with (guest signal handlers are not
    /// delivered yet).
    fn exception(&self) -> VcpuExit {
        let st = &self.env.state;
        let rip = st.rip;
        let (sig, what) = match st.exception {
            vector::DE => (libc::SIGFPE, "integer divide error".to_string()),
            vector::XM => (libc::SIGFPE, "SIMD floating-point exception".to_string()),
            vector::MF => (libc::SIGFPE, "x87 floating-point exception".to_string()),
            vector::UD => {
                let mut bytes = [0u8; 15];
                let n = fetch_code(self.machine.space(), rip, &mut bytes);
                (
                    libc::SIGILL,
                    tcg_frontend_x86::describe_unimplemented(rip, &bytes[..n]),
                )
            }
            vector::BP | vector::DB => (libc::SIGTRAP, "trace/breakpoint trap".to_string()),
            vector::PF => (
                libc::SIGSEGV,
                format!(
                    "instruction fetch from unmapped or non-executable address {:#x}",
                    st.exception_addr
                ),
            ),
            vector::GP => (libc::SIGSEGV, "general protection fault".to_string()),
            v => (libc::SIGSEGV, format!("exception {v}")),
        };
        VcpuExit::Signal {
            sig,
            message: Some(format!(
                "emu: guest {} at rip={rip:#x}: {what}",
                signal_name(sig)
            )),
        }
    }
}

/// Host stack of a vCPU thread: translation (Cranelift) needs more than std's 2 MiB default
/// for large blocks; untouched pages cost nothing.
const VCPU_THREAD_STACK: usize = 8 << 20;

/// Whether syscall `nr` with `args` may fork the emulator (a new process, not a thread).
fn forks_emulator(space: &GuestSpace, nr: u64, args: &[u64; 6]) -> bool {
    let flags = match nr {
        nr::FORK | nr::VFORK => return true,
        nr::CLONE => args[0],
        // clone3's flags are the first field of its argument block (unreadable: it fails).
        nr::CLONE3 => space.read_u64(args[0]).unwrap_or(clone_flags::CLONE_THREAD),
        _ => return false,
    };
    flags & clone_flags::CLONE_THREAD == 0
}

/// The code cache had no room for a block: the caller must flush it (unless a flush already
/// happened since `seen_flushes` was read).
struct CacheFull {
    seen_flushes: u64,
}

/// Translates and compiles the block for `key` and inserts it, or returns the block
/// another vCPU inserted first.
fn translate<'g>(
    compiler: &mut Compiler,
    machine: &'g Machine,
    key: &TbKey,
    guard: &'g Guard,
) -> Result<&'g TranslationBlock, CacheFull> {
    loop {
        if let Some(tb) = translate_once(compiler, machine, key, guard)? {
            return Ok(tb);
        }
        machine
            .stats
            .local()
            .code_write_retries
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// One attempt of [`translate`]; `None` if the guest code may have changed while it was
/// being translated (the block was dropped again).
///
/// Self-modifying code: the pages the block comes from are write-protected before their
/// bytes are read (see `guest_memory::GuestSpace::protect_code`), and their generation is
/// checked again once the block is in the table. Code from a guest-writable page is
/// translated with `smc_checks`, so that a store into the running block takes effect at the
/// next instruction, as on the hardware: the store faults, the handler invalidates the page's
/// blocks and raises this vCPU's exit request, the block leaves after the storing
/// instruction, and the next one is translated afresh.
fn translate_once<'g>(
    compiler: &mut Compiler,
    machine: &'g Machine,
    key: &TbKey,
    guard: &'g Guard,
) -> Result<Option<&'g TranslationBlock>, CacheFull> {
    let space = machine.space();
    let t0 = Instant::now();
    let page = key.pc & !(GUEST_PAGE_SIZE - 1);
    let (generation, writable) = space.protect_code(page);
    let mut config = machine.config.translate;
    config.smc_checks |= writable;
    // Loops inside a block are for compiled code only (the interpreter tier leaves at every
    // round so that its runs are counted), where the backend loops inside blocks.
    let inner_loops = !machine.config.nochain;
    config.inner_loops = inner_loops && machine.config.tier_up_after == 0;
    // Keeps what the frontend read, to check bytes of a second page read before it was
    // protected.
    let mut fetcher = CodeFetcher::new(space, key.pc, true);
    let mut block = translate_block(key.pc, &mut |addr, buf| fetcher.fetch(addr, buf), &config);
    let last = block
        .guest_start
        .wrapping_add(u64::from(block.guest_size.max(1)) - 1);
    let second = if last & !(GUEST_PAGE_SIZE - 1) != page {
        let page2 = last & !(GUEST_PAGE_SIZE - 1);
        let (g, writable2) = space.protect_code(page2);
        if writable2 && !config.smc_checks {
            // The block runs into a writable page: it needs the checks too.
            config.smc_checks = true;
            fetcher = CodeFetcher::new(space, key.pc, true);
            block = translate_block(key.pc, &mut |addr, buf| fetcher.fetch(addr, buf), &config);
        }
        let unchanged = fetcher.log.take().unwrap_or_default().unchanged(space);
        if !unchanged {
            return Ok(None);
        }
        Some((page2, g))
    } else {
        None
    };
    let t1 = Instant::now();
    machine
        .stats
        .local()
        .frontend_ns
        .fetch_add((t1 - t0).as_nanos() as u64, Ordering::Relaxed);
    machine
        .stats
        .local()
        .blocks_translated
        .fetch_add(1, Ordering::Relaxed);
    machine
        .stats
        .local()
        .insns_translated
        .fetch_add(u64::from(block.num_insns), Ordering::Relaxed);
    if machine.config.log.in_asm {
        machine.log.in_asm(space, &block);
    }
    if machine.config.log.op {
        machine.log.line(format_args!("OP:\n{block}"));
    }
    let mut tb = TranslationBlock::new(
        NewBlock {
            key: *key,
            guest_start: block.guest_start,
            guest_size: block.guest_size,
            num_insns: block.num_insns,
        },
        machine.backend.unlinked_stub_addr() as usize,
    );
    let prepared = if machine.config.tier_up_after > 0 {
        tcg::Prepared::new(&block).ok()
    } else {
        None
    };
    if let Some(prepared) = prepared {
        machine
            .stats
            .local()
            .prepare_ns
            .fetch_add(t1.elapsed().as_nanos() as u64, Ordering::Relaxed);
        machine
            .stats
            .local()
            .blocks_prepared
            .fetch_add(1, Ordering::Relaxed);
        tb.set_tier0(Box::new(Tier0 {
            prepared,
            config: TranslateConfig {
                inner_loops,
                ..config
            },
            entry_cc: AtomicU64::new(ENTRY_CC_NONE),
            compiling: std::sync::atomic::AtomicBool::new(false),
            asked_at: AtomicU64::new(0),
            shared_runs: family().counter(),
            own_runs: AtomicU32::new(0),
        }));
    } else {
        let slots = tb.jump_slots.each_ref().map(|s| s as *const _);
        let compiled = compile(compiler, machine, &block, tb.tag(), slots)?;
        tb.set_code(
            compiled.code,
            compiled.len as u32,
            compiled.insn_map,
            compiled.alignment_traps,
            block.jump_targets,
        );
    }
    let tb = match machine.tbs.insert(tb, guard) {
        Ok(tb) => tb,
        // Another vCPU won the race: our block is dropped (its code stays unreachable in
        // the cache until the next flush) and we run the winner's.
        Err(dup) => dup.existing,
    };
    // A write or remap since the pages were protected may have come before the insertion,
    // when its invalidation could not see the block: drop it and translate again.
    let stale = space.code_generation(page) != generation
        || second.is_some_and(|(p, g)| space.code_generation(p) != g);
    if stale {
        // Another vCPU may have found the block and be looping in it.
        if machine
            .tbs
            .invalidate(tb, &|s, t| machine.write_slot(s, t), guard)
        {
            machine.kick_after_invalidation();
        }
        return Ok(None);
    }
    Ok(Some(tb))
}

/// A block's cheap tier: its pre-decoded program, and its IR for the compile at tier-up.
///
/// The IR is not kept (it costs more memory than the program): tier-up translates the guest
/// bytes again with the same settings.
struct Tier0 {
    prepared: tcg::Prepared,
    /// The translation settings the block was translated with (`smc_checks` may differ from
    /// the machine's).
    config: TranslateConfig,
    /// The `cc_op` the interpreted runs were entered with: [`ENTRY_CC_NONE`] before the
    /// first, [`ENTRY_CC_MIXED`] once two differed. Tier-up speculates on it
    /// ([`TranslateConfig::entry_cc`]).
    entry_cc: AtomicU64,
    /// Set while a thread compiles the block (`tier_up`), so that the compiler thread and a
    /// vCPU that lost patience do not both compile it: the other goes on (interpreting, or
    /// with the next request).
    compiling: std::sync::atomic::AtomicBool,
    /// When the block asked for the background compiler (or, having started the thread,
    /// began its wait again), in nanoseconds after [`Machine::started`] (0: not yet).
    asked_at: AtomicU64,
    /// Interpreted runs in every process of the family that has the block (a tier-up
    /// heuristic; relaxed, approximate). `None` once the family's counters are all handed
    /// out: then `own_runs` counts this process's.
    shared_runs: Option<&'static AtomicU32>,
    own_runs: AtomicU32,
}

/// [`Tier0::entry_cc`] before any run.
const ENTRY_CC_NONE: u64 = u64::MAX;
/// [`Tier0::entry_cc`] once runs were entered with different `cc_op`s.
const ENTRY_CC_MIXED: u64 = u64::MAX - 1;

impl Tier0 {
    fn runs(&self) -> &AtomicU32 {
        self.shared_runs.unwrap_or(&self.own_runs)
    }

    /// Notes the `cc_op` of a run about to start (racy updates among vCPUs at worst lose a
    /// guess: the guess only selects a fast path that checks it).
    fn note_entry_cc(&self, cc_op: u64) {
        let seen = self.entry_cc.load(Ordering::Relaxed);
        if seen != cc_op && seen != ENTRY_CC_MIXED {
            let next = if seen == ENTRY_CC_NONE {
                cc_op
            } else {
                ENTRY_CC_MIXED
            };
            self.entry_cc.store(next, Ordering::Relaxed);
        }
    }

    /// The settings to compile the block with: its own, plus the guess at its entry `cc_op`.
    fn tier_up_config(&self) -> TranslateConfig {
        let seen = self.entry_cc.load(Ordering::Relaxed);
        TranslateConfig {
            entry_cc: (seen != ENTRY_CC_NONE && seen != ENTRY_CC_MIXED).then_some(seen),
            ..self.config
        }
    }
}

/// The cheap tier of a block that has no host code (every such block has one).
fn tier0_of(tb: &TranslationBlock) -> &Tier0 {
    tb.tier0()
        .and_then(|t| t.downcast_ref::<Tier0>())
        .expect("a block without host code has a cheap tier")
}

/// Compiles `block` (the IR of the block `tag` with these jump slots) into the code cache,
/// counting the time.
fn compile(
    compiler: &mut Compiler,
    machine: &Machine,
    block: &tcg::Block,
    tag: u64,
    slots: [*const std::sync::atomic::AtomicUsize; tcg::JUMP_SLOTS],
) -> Result<tcg_backend_cranelift::CompiledBlock, CacheFull> {
    let t0 = Instant::now();
    let compiled = match compiler.compile(&machine.backend, block, tag, slots) {
        Ok(c) => c,
        Err(CompileError::CacheFull) => {
            return Err(CacheFull {
                seen_flushes: machine.stats.cache_flushes.load(Ordering::Acquire),
            });
        }
        Err(e) => {
            // A backend failure on valid IR is an emulator bug; die loudly, not silently.
            eprintln!(
                "emu: internal error: cannot compile the block at {:#x}: {e}",
                block.pc
            );
            std::process::abort();
        }
    };
    machine
        .stats
        .local()
        .backend_ns
        .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    machine
        .stats
        .local()
        .blocks_compiled
        .fetch_add(1, Ordering::Relaxed);
    if machine.config.log.out_asm {
        machine.log.out_asm(block.pc, compiled.code, compiled.len);
    }
    if machine.config.perfmap {
        machine.perfmap.block(block.pc, compiled.code, compiled.len);
    }
    Ok(compiled)
}

/// Compiles a block that ran in the interpreter and publishes its code (see "Tiers" in the
/// `tb_cache` docs). The caller is running (so no code-cache flush overlaps this) and holds
/// the guard it found `tb` under (so `tb` stays allocated); if `tb` was invalidated meanwhile
/// its code is published all the same and stays unreachable. If another vCPU published first,
/// ours is left unused in the cache; if another thread is compiling the block, this returns at
/// once (false: nothing published here).
///
/// The guest bytes are translated again. That is sound without new write protection: a guest
/// write to the block's pages invalidates the block *before* the write happens (the fault
/// handler), so if the block is still valid once the bytes were read, they were the bytes it
/// was made from; if it is not, nothing is compiled.
fn tier_up(
    compiler: &mut Compiler,
    machine: &Machine,
    tb: &TranslationBlock,
    t0: &Tier0,
) -> Result<bool, CacheFull> {
    if t0.compiling.swap(true, Ordering::Acquire) {
        return Ok(false);
    }
    let result = tier_up_claimed(compiler, machine, tb, t0);
    if !matches!(result, Ok(true)) {
        // Nothing published: a later run or request may try again.
        t0.compiling.store(false, Ordering::Release);
    }
    result
}

/// [`tier_up`] once this thread has claimed the block.
fn tier_up_claimed(
    compiler: &mut Compiler,
    machine: &Machine,
    tb: &TranslationBlock,
    t0: &Tier0,
) -> Result<bool, CacheFull> {
    let t = Instant::now();
    let space = machine.space();
    let mut fetcher = CodeFetcher::new(space, tb.pc(), false);
    let block = translate_block(
        tb.pc(),
        &mut |a, buf| fetcher.fetch(a, buf),
        &t0.tier_up_config(),
    );
    machine
        .stats
        .local()
        .frontend_ns
        .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    // Orders the byte reads before the validity check (loads may pass loads on weak hosts).
    std::sync::atomic::fence(Ordering::SeqCst);
    if tb.is_invalid() || block.guest_start != tb.guest_start || block.guest_size != tb.guest_size {
        return Ok(false);
    }
    let slots = tb.jump_slots.each_ref().map(|s| s as *const _);
    let compiled = compile(compiler, machine, &block, tb.tag(), slots)?;
    let published = tb.set_code_shared(
        compiled.code,
        compiled.len as u32,
        compiled.insn_map,
        compiled.alignment_traps,
        block.jump_targets,
    );
    if published {
        machine
            .stats
            .local()
            .tier_ups
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(published)
}

/// Flushes the full code cache in an exclusive section, with `cpu` stopped and unpinned
/// meanwhile (the caller must drop every block reference first).
fn flush_stopped(machine: &Machine, cpu: &exclusive::Cpu, guard: &mut Guard, seen_flushes: u64) {
    machine.exclusive.exec_end(cpu);
    guard.repin_after(|| {
        machine.flush_code_cache(seen_flushes);
        machine.exclusive.exec_start(cpu);
    });
}

/// The background compiler: tiers up the blocks the vCPUs ask for, until the machine goes.
///
/// Invariants (see also "Tiers" in the `tb_cache` docs): it looks the block up afresh by key
/// (the one the vCPU saw may have been invalidated and freed since; a newer valid block for
/// the key is as good), with an epoch guard pinned and while counted as running, so the block
/// stays allocated and no flush frees the code cache under the emit; it reads the guest bytes
/// again and publishes only if the block is still valid after that (`tier_up`). A full cache
/// is flushed after it stopped running, as a vCPU does.
fn compiler_thread(
    machine: std::sync::Weak<Machine>,
    queue: Arc<CompileQueue>,
    cpu: Arc<exclusive::Cpu>,
    jc: Arc<JumpCache>,
) {
    let mut compiler = Compiler::new();
    // The backend's stubs first, which the first compile would otherwise wait for (a vCPU's,
    // if it tiers up before this thread): inside the running section, so that no fork copies
    // them half-written.
    if let Some(m) = machine.upgrade() {
        m.exclusive.exec_start(&cpu);
        // An error here comes back from the first compile, which reports it.
        let _ = m.backend.ensure_stubs();
        m.exclusive.exec_end(&cpu);
    }
    loop {
        let job = {
            let mut state = queue.lock();
            loop {
                if let Some(job) = state.jobs.pop_front() {
                    break job;
                }
                if state.closed {
                    return;
                }
                state = queue.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(m) = machine.upgrade() else {
            return;
        };
        m.exclusive.exec_start(&cpu);
        let guard = pin();
        let result = match (m.tbs.lookup(&jc, &job.key, &guard), job.hint) {
            (Some(from), Some(Hint::Linked { slot, to, .. })) => {
                // `link` checks that `from`'s own slot leaves for `to`.
                let to = m.tbs.lookup(&jc, &m.key(to), &guard);
                if to.is_some_and(|to| m.tbs.link(from, slot, to, &|s, t| m.write_slot(s, t))) {
                    m.stats.local().hinted_links.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false)
            }
            (Some(tb), None | Some(Hint::Hot(_))) if tb.code().is_null() => {
                tier_up(&mut compiler, &m, tb, tier0_of(tb))
            }
            (None, Some(Hint::Translated(b))) if m.has_hinted_code(&b) => {
                translate_hinted(&mut compiler, &m, &job.key, false, &guard)
            }
            (None, Some(Hint::Hot(b))) if m.has_hinted_code(&b) => {
                translate_hinted(&mut compiler, &m, &job.key, true, &guard)
            }
            _ => Ok(false),
        };
        if let Ok(true) = result {
            m.stats
                .local()
                .background_tier_ups
                .fetch_add(1, Ordering::Relaxed);
        }
        drop(guard);
        m.exclusive.exec_end(&cpu);
        if let Err(CacheFull { seen_flushes }) = result {
            m.flush_code_cache(seen_flushes);
        }
    }
}

/// Translates the block another process of the family hinted at (from our own memory), and
/// tiers it up if the hint says it is `hot`. True if code was published.
fn translate_hinted(
    compiler: &mut Compiler,
    machine: &Machine,
    key: &TbKey,
    hot: bool,
    guard: &Guard,
) -> Result<bool, CacheFull> {
    let tb = translate(compiler, machine, key, guard)?;
    machine
        .stats
        .local()
        .hinted_translations
        .fetch_add(1, Ordering::Relaxed);
    if hot && tb.code().is_null() {
        tier_up(compiler, machine, tb, tier0_of(tb))
    } else {
        Ok(false)
    }
}

/// The conventional name of a signal.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGBUS => "SIGBUS",
        libc::SIGABRT => "SIGABRT",
        _ => "signal",
    }
}

/// How much guest code a [`CodeFetcher`] copies at once (at most to the page's end).
const FETCH_CHUNK: usize = 256;

/// Reads guest code for one translation: the frontend asks per instruction, and checking the
/// page and copying through the address-space lock each time made vCPUs that translate at
/// once contend on that lock; this checks and copies a chunk once, then serves from it.
/// Optionally keeps a copy of every answer that reaches beyond the page of `home` (`log`),
/// for the second-page re-check.
struct CodeFetcher<'a> {
    space: &'a GuestSpace,
    start: u64,
    len: usize,
    bytes: [u8; FETCH_CHUNK],
    home_page: u64,
    log: Option<FetchLog>,
}

/// Answers of a [`CodeFetcher`]: `(address, length)` of each, their bytes one after another.
#[derive(Default)]
struct FetchLog {
    answers: Vec<(u64, usize)>,
    bytes: Vec<u8>,
}

impl FetchLog {
    /// Whether guest code still holds every logged answer.
    fn unchanged(&self, space: &GuestSpace) -> bool {
        let mut at = 0;
        self.answers.iter().all(|&(addr, n)| {
            let mut now = vec![0; n];
            let same = fetch_code(space, addr, &mut now) == n && now == self.bytes[at..at + n];
            at += n;
            same
        })
    }
}

impl<'a> CodeFetcher<'a> {
    fn new(space: &'a GuestSpace, home: u64, keep_log: bool) -> Self {
        CodeFetcher {
            space,
            start: 0,
            len: 0,
            bytes: [0; FETCH_CHUNK],
            home_page: home & !(GUEST_PAGE_SIZE - 1),
            log: keep_log.then(FetchLog::default),
        }
    }

    /// Copies guest code at `addr` into `buf`, as [`fetch_code`].
    fn fetch(&mut self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let a = addr.wrapping_add(done as u64);
            let off = a.wrapping_sub(self.start);
            if off >= self.len as u64 && !self.load(a) {
                break;
            }
            let off = a.wrapping_sub(self.start) as usize;
            let n = (buf.len() - done).min(self.len - off);
            buf[done..done + n].copy_from_slice(&self.bytes[off..off + n]);
            done += n;
        }
        if let Some(log) = &mut self.log {
            let beyond_home = done > 0
                && addr.wrapping_add(done as u64 - 1) & !(GUEST_PAGE_SIZE - 1) != self.home_page;
            if beyond_home {
                log.answers.push((addr, done));
                log.bytes.extend_from_slice(&buf[..done]);
            }
        }
        done
    }

    /// Makes the chunk start at `addr`; false if `addr` is not mapped executable.
    fn load(&mut self, addr: u64) -> bool {
        let to_page_end = GUEST_PAGE_SIZE - addr % GUEST_PAGE_SIZE;
        let n = (FETCH_CHUNK as u64).min(to_page_end) as usize;
        // A page is mapped whole, so checking the chunk checks what the frontend may ask.
        if !self.space.is_mapped(addr, n as u64, Access::Exec)
            || self.space.read(addr, &mut self.bytes[..n]).is_err()
        {
            self.len = 0;
            return false;
        }
        self.start = addr;
        self.len = n;
        true
    }
}

/// Copies guest code at `addr` into `buf`; stops at the first byte that is not mapped
/// executable. Returns how many bytes were copied.
fn fetch_code(space: &GuestSpace, addr: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        let a = addr.wrapping_add(done as u64);
        let in_page = (GUEST_PAGE_SIZE - (a % GUEST_PAGE_SIZE)) as usize;
        let n = in_page.min(buf.len() - done);
        if !space.is_mapped(a, n as u64, Access::Exec)
            || space.read(a, &mut buf[done..done + n]).is_err()
        {
            break;
        }
        done += n;
    }
    done
}

/// The exit-request word of `env`, which other threads set atomically.
fn exit_request_word(env: *mut VcpuEnv) -> *const AtomicU32 {
    // An `AtomicU32` has the layout of the `u32` field. Like the env pointer translated code
    // runs with, this is a raw pointer into the boxed env that stays valid for its lifetime.
    let offset =
        std::mem::offset_of!(VcpuEnv, state) + std::mem::offset_of!(X86State, exit_request);
    env.wrapping_byte_add(offset).cast::<AtomicU32>()
}

/// `LookupAndGotoPtr`'s helper: the host code of the valid block for the rip in `env`, or 0.
extern "C" fn lookup_helper(env: *mut u8) -> usize {
    let env = env.cast::<VcpuEnv>();
    // SAFETY: translated code passes the `env` it runs with, which is a live `VcpuEnv` whose
    // `machine`, `jump_cache` and `guard` were set by `Vcpu::run` before `execute`; the state's
    // globals were written back before the call, so reading `rip` sees the target.
    let (machine, jc, guard, rip) = unsafe {
        (
            &*(*env).machine,
            &*(*env).jump_cache,
            &*(*env).guard,
            std::ptr::addr_of!((*env).state.rip).read(),
        )
    };
    if machine.config.nochain {
        return 0;
    }
    match machine.tbs.lookup(jc, &machine.key(rip), guard) {
        Some(tb) => tb.code() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests;
