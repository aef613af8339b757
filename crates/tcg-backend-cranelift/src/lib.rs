//! The Cranelift host backend.
//!
//! Lowers `tcg` IR to host machine code with Cranelift for any host it targets, owns the
//! code cache (regions of executable memory that are filled in batches and flushed whole),
//! emits chainable direct jumps, and maps host pcs back to guest instruction starts. It
//! knows nothing of x86 or of how blocks are looked up.
//!
//! # Pieces
//! - [`Backend`]: shared by every vCPU thread (in an `Arc`). Holds the target ISA, the
//!   guest memory layout, the [`CodeCache`], and three stubs: the trampoline that enters
//!   translated code from Rust, the "unlinked" stub that every jump slot points at until it
//!   is linked, and the lookup stub. Their addresses are fixed at construction and their
//!   code compiled by [`Backend::ensure_stubs`], before the first block.
//! - [`Compiler`]: one per vCPU thread; lowers a [`tcg::Block`] into the cache.
//!
//! # Block calling convention
//! Every block is a Cranelift function with the `tail` calling convention and signature
//! `(env: i64, from: i64) -> i64`. Blocks leave by tail calls (chaining, no stack growth)
//! or by returning a value that [`Backend::execute`] decodes into a [`BlockExit`]:
//! - `ExitTb { code }` returns `code << 3` (decoded as [`BlockExit::Exit`]);
//! - `GotoTb { slot }` loads the code pointer in jump slot `slot` (an [`AtomicUsize`] owned
//!   by the caller, its address baked into the code) and tail-calls it with
//!   `from = tb_tag | slot` (`tb_tag` is a multiple of 8). An unlinked slot holds
//!   [`Backend::unlinked_stub_addr`], a stub that returns `from | UNCHAINED_BIT` (decoded as
//!   [`BlockExit::Unchained`]);
//! - `LookupAndGotoPtr` calls `lookup_fn(env)` and tail-calls the result with `from = 0`, or
//!   returns 0 (decoded as `BlockExit::Exit(0)`) when it gives 0.
//!
//! # Guest memory
//! Guest address `a` is host address `guest_base + a`. An access to an address `>=
//! guest_size` raises a trap ([`CompiledBlock::bounds_traps`]) before it happens, and the
//! caller maps a guard region (at least one page, never accessible) at `guest_base +
//! guest_size`, so an access that starts below `guest_size` and runs past it faults: no
//! guest address reaches other host memory. On x86-64 and aarch64 hosts the bound is kept in
//! Cranelift's pinned register (r15, x21), which no block allocates: the trampoline that
//! enters translated code sets it and gives the caller's value back on return (it is
//! callee-saved there, so helpers preserve it). Accesses that the IR marks `aligned` are
//! checked and raise a trap ([`CompiledBlock::alignment_traps`]) when misaligned. A fault's host pc maps back to the
//! guest pc with [`CompiledBlock::guest_pc`].
//!
//! # Memory ordering
//! The guest (x86) assumes TSO. On TSO-like hosts (x86-64, s390x) ordinary guest accesses
//! get no barriers. On weak hosts (aarch64, riscv64) the lowering keeps TSO with Cranelift's
//! only barrier, the full `fence`: a fence before a guest load if a guest load came before it
//! since the last fence (load→load), and before a guest store if any guest access did
//! (load→store, store→store); history before a block's entry, a label or a helper call is
//! unknown and counts as "an access came before". This is QEMU's "barrier after each load,
//! barrier before each store" with adjacent barriers merged. Atomics get a full fence on
//! both sides on weak hosts (x86 locked instructions are full barriers; the fence before is
//! left out when one is already in place); `Fence::Full` is always a fence, `LoadLoad` and
//! `StoreStore` are a fence on weak hosts and nothing on TSO hosts. See [`MemoryModel`].
//! Cranelift IR has no lighter barrier than `fence` (`dmb ish` / `fence rw,rw`), so weak hosts
//! pay a full barrier where QEMU would use `dmb ishld`/`dmb ishst`.
//!
//! # Compile time
//! Measured on the x86-64 development host (`tests/compile_time.rs`, verifier off), for a
//! typical block of 16 guest instructions (127 ops): `opt_level=none` 143 µs with the
//! backtracking allocator (902 bytes of code), 199 µs with single-pass (1700 bytes);
//! `opt_level=speed` 218 µs backtracking (771 bytes), 245 µs single-pass. For 4 and 48
//! instructions: none/backtracking 58 and 376 µs, speed/backtracking 86 and 520-600 µs.
//! The default is `none` + backtracking, the quickest to compile; `speed` gives 15-30%
//! smaller code for about 1.5x the compile time (a candidate for recompiling hot blocks).
//!
//! # Host specifics
//! 16-byte compare-and-swap calls a helper: `lock cmpxchg16b` on x86-64 hosts, `casp` or an
//! `ldxp`/`stxp` loop on aarch64, `amocas.q` on riscv64 with Zacas; riscv64 without Zacas has
//! only a fallback atomic with respect to other 16-byte compare-and-swaps
//! ([`cmpxchg16_is_lock_free`] is then false; documented at the helper). Outside x86-64,
//! atomics need naturally aligned addresses ([`misaligned_atomics_supported`]). A frontend
//! diverts what the host cannot do to an exclusive section (the x86 frontend's
//! `exclusive_split_atomics` and `exclusive_cmpxchg16b`). This crate's tests run on x86-64
//! and, cross-built, on aarch64 and riscv64 under qemu-user (`cargo xtask cross-test`);
//! s390x code is generated and inspected but not run.

#![warn(missing_docs)]

mod cache;
mod lower;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use cranelift_codegen::ir::{types, AbiParam, InstBuilder, Signature, UserFuncName};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use target_lexicon::Architecture;

pub use cache::{CacheFull, CodeCache};
pub use lower::{
    cmpxchg16_is_lock_free, misaligned_atomics_supported, CompiledBlock, Compiler, Inspection,
    ALIGNMENT_TRAP_CODE, BOUNDS_TRAP_CODE,
};

/// Set in a block's return value when it left through an unlinked jump slot (below it, the
/// slot; above, the block's tag).
pub const UNCHAINED_BIT: u64 = 4;

/// How strongly the host orders ordinary memory accesses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryModel {
    /// Total store order or stronger (x86-64, s390x): only store→load may be reordered, as on
    /// the guest, so plain guest accesses need no barriers.
    Tso,
    /// Weaker than TSO (aarch64, riscv64): barriers keep the guest's TSO.
    Weak,
}

impl MemoryModel {
    /// The memory model of hosts of architecture `arch`.
    pub fn of(arch: Architecture) -> MemoryModel {
        match arch {
            Architecture::X86_64 | Architecture::S390x => MemoryModel::Tso,
            _ => MemoryModel::Weak,
        }
    }
}

/// Cranelift's optimisation level for blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLevel {
    /// No mid-end optimisation (fastest compile).
    None,
    /// The e-graph mid-end (GVN, constant folding, LICM, ...).
    Speed,
}

/// Cranelift's register allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regalloc {
    /// regalloc2's single-pass allocator: fast, more spills.
    SinglePass,
    /// regalloc2's backtracking allocator: slower, better code.
    Backtracking,
}

/// How to build a [`Backend`].
#[derive(Clone, Copy, Debug)]
pub struct BackendConfig {
    /// Host address of guest address 0.
    pub guest_base: u64,
    /// Size of the guest address space (a power of two); a guard region must follow it.
    pub guest_size: u64,
    /// `extern "C" fn(env: *mut u8) -> usize` for `LookupAndGotoPtr`: the host code address of
    /// the block for the guest pc in the state, or 0. May be 0 if no block uses that op.
    pub lookup_fn: usize,
    /// Optimisation level (default: [`OptLevel::None`]: see "Compile time" in the crate
    /// docs).
    pub opt_level: OptLevel,
    /// Register allocator (default: [`Regalloc::Backtracking`], which here is both faster to
    /// run and better than `SinglePass`).
    pub regalloc: Regalloc,
    /// Code cache size in bytes (default 64 MiB; reserved, committed as used).
    pub cache_capacity: usize,
    /// Run Cranelift's IR verifier on every block (default: on in debug builds).
    pub verify_clif: bool,
    /// Probe the caller's jump cache inline before calling `lookup_fn` (default: none).
    pub jump_cache_probe: Option<JumpCacheProbe>,
    /// `GotoStart` branches back to the block's first op, inside its code (a loop that keeps
    /// its guest registers in host registers, with no check of its own); `false` (default):
    /// `GotoStart` is a `GotoTb`. The caller guarantees that every block's ops begin with a
    /// check that leaves the block when asked to (the frontend's exit-request check), and
    /// that whoever makes a block unfit to run (invalidation) asks every thread that may be
    /// running it to leave, after the block can no longer be entered anew.
    pub goto_start_loops: bool,
    /// Offset from `env` of the guest pc (u64), if the caller wants exits through a jump
    /// slot not to store it: where the paths to a `GotoTb { slot }` wrote the block's
    /// [`tcg::Block::jump_targets`]`[slot]` there, the store is left out (the next block
    /// knows its own pc), and a caller seeing [`BlockExit::Unchained`] sets the pc to that
    /// jump target itself. `None` (default): the pc is stored like any other global.
    pub pc_env_offset: Option<i32>,
}

/// Where `LookupAndGotoPtr` finds a per-CPU jump cache, so that translated code can look an
/// indirect target up without a call: the cache is an array of pointers to block
/// descriptors (0 when empty), indexed by `(pc ^ (pc >> shift)) & mask`; an entry answers
/// `pc` if the descriptor's pc equals it, its 32-bit validity word is 0 and its code word is
/// not 0. Anything else falls back to `lookup_fn`. The backend knows only these offsets. A
/// block that wrote the pc stores it only on a miss: the block a hit enters knows its pc.
///
/// The caller guarantees that while a block runs, every descriptor the cache points at stays
/// allocated (e.g. under an epoch guard), and that a descriptor's code word, once non-zero,
/// is the entry of a block of this backend with jump slots alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JumpCacheProbe {
    /// Offset from `env` of the guest pc (the state's pc field).
    pub pc_env_offset: i32,
    /// Offset from `env` of the pointer to the entry array.
    pub entries_env_offset: i32,
    /// Index mask (entries - 1).
    pub mask: u64,
    /// Index shift.
    pub shift: u8,
    /// Offset in a descriptor of its guest pc (u64).
    pub desc_pc: i32,
    /// Offset in a descriptor of its validity word (u32, 0 when valid).
    pub desc_valid: i32,
    /// Offset in a descriptor of its host code address (usize, 0 when it has none).
    pub desc_code: i32,
}

impl BackendConfig {
    /// The default configuration for this guest memory layout and lookup function.
    pub fn new(guest_base: u64, guest_size: u64, lookup_fn: usize) -> BackendConfig {
        BackendConfig {
            guest_base,
            guest_size,
            lookup_fn,
            opt_level: OptLevel::None,
            regalloc: Regalloc::Backtracking,
            cache_capacity: 64 << 20,
            verify_clif: cfg!(debug_assertions),
            jump_cache_probe: None,
            goto_start_loops: false,
            pc_env_offset: None,
        }
    }
}

/// Why a [`Backend`] could not be built.
#[derive(Debug)]
pub enum BackendError {
    /// Cranelift does not support the host or the requested triple.
    Isa(String),
    /// The configuration is invalid (e.g. `guest_size` not a power of two).
    Config(String),
    /// The code cache could not be mapped.
    Io(std::io::Error),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Isa(s) => write!(f, "unsupported target: {s}"),
            BackendError::Config(s) => write!(f, "bad backend configuration: {s}"),
            BackendError::Io(e) => write!(f, "code cache: {e}"),
        }
    }
}

impl std::error::Error for BackendError {}

/// Why a block could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// The code cache is full: flush it (in an exclusive section) and compile again.
    CacheFull,
    /// The block fails [`tcg::verify`].
    Invalid(tcg::VerifyError),
    /// The block needs something the backend was not given (a jump slot, `lookup_fn`), or the
    /// `tb_tag` is not 4-aligned.
    Unsupported(String),
    /// Cranelift failed (a backend bug).
    Codegen(String),
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::CacheFull => write!(f, "code cache full"),
            CompileError::Invalid(e) => write!(f, "invalid block: {e}"),
            CompileError::Unsupported(s) => write!(f, "unsupported: {s}"),
            CompileError::Codegen(s) => write!(f, "cranelift: {s}"),
        }
    }
}

impl std::error::Error for CompileError {}

impl From<CacheFull> for CompileError {
    fn from(_: CacheFull) -> Self {
        CompileError::CacheFull
    }
}

/// Why translated code returned to [`Backend::execute`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockExit {
    /// `ExitTb { code }` ran, or `LookupAndGotoPtr` missed (code 0).
    Exit(u32),
    /// `GotoTb { slot }` of the block compiled with `tb_tag` ran while its slot was unlinked:
    /// the dispatcher may now link that slot to the next block. With
    /// [`BackendConfig::pc_env_offset`], the guest pc is the slot's jump target, unstored.
    Unchained {
        /// The `tb_tag` the block was compiled with.
        tb_tag: u64,
        /// The jump slot (below [`tcg::JUMP_SLOTS`]).
        slot: u8,
    },
}

impl BlockExit {
    /// Decodes a block's raw return value.
    pub fn decode(raw: u64) -> BlockExit {
        if raw & UNCHAINED_BIT != 0 {
            BlockExit::Unchained {
                tb_tag: raw & !7,
                slot: (raw & 3) as u8,
            }
        } else {
            BlockExit::Exit((raw >> 3) as u32)
        }
    }
}

/// The backend shared by all vCPU threads.
pub struct Backend {
    isa: OwnedTargetIsa,
    is_host: bool,
    memory_model: MemoryModel,
    /// `guest_size` lives in Cranelift's pinned register while translated code runs.
    pinned_bound: bool,
    config: BackendConfig,
    cache: CodeCache,
    /// `extern "C" fn(env, code) -> u64` entering a block. Like the other stubs, its space
    /// is reserved (and its address known) at construction, and its code compiled by
    /// [`Backend::ensure_stubs`].
    trampoline: usize,
    /// Tail-cc `(env, from) -> from | UNCHAINED_BIT`.
    unlinked_stub: usize,
    /// Tail-cc `(env, from)`: calls `lookup_fn` and tail-calls the block it found, or returns
    /// 0 (0 without a `lookup_fn`). Blocks tail-call it on a jump-cache miss instead of
    /// calling `lookup_fn` themselves: a call would make every block with an indirect exit
    /// save and restore a callee-saved register for `env` on all its paths.
    lookup_stub: usize,
    /// Set once the stubs are compiled (or failed to compile).
    stubs: OnceLock<Result<(), CompileError>>,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("isa", &self.isa.triple().to_string())
            .field("memory_model", &self.memory_model)
            .field("config", &self.config)
            .field("cache", &self.cache)
            .finish()
    }
}

impl Backend {
    /// A backend for this host (the ISA and its features detected by `cranelift-native`).
    pub fn new(config: BackendConfig) -> Result<Arc<Backend>, BackendError> {
        let builder = cranelift_native::builder().map_err(|e| BackendError::Isa(e.into()))?;
        Backend::build(builder, true, config)
    }

    /// A backend that generates code for `triple` (e.g. `"aarch64-unknown-linux-gnu"`) with
    /// that ISA's baseline features. Its code can be inspected ([`Compiler::inspect`]) but,
    /// unless `triple` is the host's, never executed.
    pub fn for_triple(triple: &str, config: BackendConfig) -> Result<Arc<Backend>, BackendError> {
        let builder = cranelift_codegen::isa::lookup_by_name(triple)
            .map_err(|e| BackendError::Isa(e.to_string()))?;
        let is_host = builder.triple().architecture == target_lexicon::HOST.architecture;
        Backend::build(builder, is_host, config)
    }

    fn build(
        isa_builder: cranelift_codegen::isa::Builder,
        is_host: bool,
        config: BackendConfig,
    ) -> Result<Arc<Backend>, BackendError> {
        if !config.guest_size.is_power_of_two() || config.guest_size < 16 {
            return Err(BackendError::Config(format!(
                "guest_size {:#x} is not a power of two >= 16",
                config.guest_size
            )));
        }
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v)
                .map_err(|e| BackendError::Isa(format!("{k}={v}: {e}")))
        };
        set(
            &mut flags,
            "opt_level",
            match config.opt_level {
                OptLevel::None => "none",
                OptLevel::Speed => "speed",
            },
        )?;
        set(
            &mut flags,
            "regalloc_algorithm",
            match config.regalloc {
                Regalloc::SinglePass => "single_pass",
                Regalloc::Backtracking => "backtracking",
            },
        )?;
        set(
            &mut flags,
            "enable_verifier",
            if config.verify_clif { "true" } else { "false" },
        )?;
        // Guest loads must never be merged across a spin loop's back edge; globals live in
        // variables anyway, so alias analysis would gain little.
        set(&mut flags, "enable_alias_analysis", "false")?;
        set(&mut flags, "unwind_info", "false")?;
        // Cranelift's tail calls rely on frame pointers (and profilers like them).
        set(&mut flags, "preserve_frame_pointers", "true")?;
        set(&mut flags, "is_pic", "false")?;
        // The bound every guest access is compared with, in a register that no block
        // allocates (r15, x21) instead of a constant read at each compare: `interp` 5%
        // faster. Cranelift pins a register on these two hosts only.
        let pinned_bound = matches!(
            isa_builder.triple().architecture,
            Architecture::X86_64 | Architecture::Aarch64(_)
        );
        if pinned_bound {
            set(&mut flags, "enable_pinned_reg", "true")?;
        }
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| BackendError::Isa(e.to_string()))?;
        let memory_model = MemoryModel::of(isa.triple().architecture);
        let cache = CodeCache::new(config.cache_capacity).map_err(BackendError::Io)?;
        // Compiling the stubs is the first Cranelift compile of the process, slow while its
        // code and data are cold (about 0.4 ms): only their space is taken here, so the
        // compile can happen off the path to the guest's first instruction.
        let align = (isa.function_alignment().preferred as usize).max(64);
        let reserve = || {
            cache
                .reserve(STUB_SPACE, align)
                .map(|offset| cache.exec_addr(offset) as usize)
                .map_err(|_| BackendError::Config("code cache too small for the stubs".into()))
        };
        let (trampoline, unlinked_stub, lookup_stub) = (reserve()?, reserve()?, reserve()?);
        cache.make_permanent();
        Ok(Arc::new(Backend {
            isa,
            is_host,
            memory_model,
            pinned_bound,
            config,
            cache,
            trampoline,
            unlinked_stub,
            lookup_stub,
            stubs: OnceLock::new(),
        }))
    }

    /// Compiles the stubs every block relies on (the trampoline, the unlinked stub, the
    /// lookup stub) into their reserved space, once; later calls return the first one's
    /// result. [`Compiler::compile`] calls it; calling it earlier, on a thread with nothing
    /// better to do, takes the compile off the first block's path.
    pub fn ensure_stubs(&self) -> Result<(), CompileError> {
        self.stubs
            .get_or_init(|| {
                for (kind, addr) in [
                    (Stub::Trampoline, self.trampoline),
                    (Stub::Unlinked, self.unlinked_stub),
                    (Stub::Lookup, self.lookup_stub),
                ] {
                    let code = self.compile_stub(kind)?;
                    if code.len() > STUB_SPACE {
                        return Err(CompileError::Codegen(format!(
                            "a stub of {} bytes exceeds its {STUB_SPACE}",
                            code.len()
                        )));
                    }
                    let offset = addr - self.cache.exec_addr(0) as usize;
                    // SAFETY: `offset` is the start of the STUB_SPACE bytes reserved for this
                    // stub at construction; only this initialiser (which runs once) writes
                    // them, and nothing runs them before it returns: blocks come from
                    // `Compiler::compile`, which waits for it.
                    unsafe { self.cache.fill(offset, &code) };
                }
                Ok(())
            })
            .clone()
    }

    /// The code of one of the fixed pieces of code every block relies on.
    fn compile_stub(&self, kind: Stub) -> Result<Vec<u8>, CompileError> {
        let mut ctx = Context::new();
        let mut fctx = FunctionBuilderContext::new();
        ctx.func.name = UserFuncName::user(0, kind as u32);
        if kind == Stub::Trampoline {
            let mut sig = Signature::new(self.isa.default_call_conv());
            sig.params.push(AbiParam::new(types::I64));
            sig.params.push(AbiParam::new(types::I64));
            sig.returns.push(AbiParam::new(types::I64));
            ctx.func.signature = sig;
        } else {
            ctx.func.signature = block_signature();
        }
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let (p0, p1) = (b.block_params(entry)[0], b.block_params(entry)[1]);
            let ret = match kind {
                Stub::Trampoline => {
                    // The pinned register is callee-saved in the host's C ABI: the caller's
                    // value goes back in before returning.
                    let saved = self.pinned_bound.then(|| {
                        let saved = b.ins().get_pinned_reg(types::I64);
                        let bound = b.ins().iconst(types::I64, self.config.guest_size as i64);
                        b.ins().set_pinned_reg(bound);
                        saved
                    });
                    let sig = b.import_signature(block_signature());
                    let from = b.ins().iconst(types::I64, 0);
                    let call = b.ins().call_indirect(sig, p1, &[p0, from]);
                    let ret = b.inst_results(call)[0];
                    if let Some(saved) = saved {
                        b.ins().set_pinned_reg(saved);
                    }
                    ret
                }
                Stub::Unlinked => b.ins().bor_imm_u(p1, UNCHAINED_BIT as i64),
                Stub::Lookup if self.config.lookup_fn == 0 => b.ins().iconst(types::I64, 0),
                Stub::Lookup => {
                    let mut sig = Signature::new(self.isa.default_call_conv());
                    sig.params.push(AbiParam::new(types::I64));
                    sig.returns.push(AbiParam::new(types::I64));
                    let sig = b.import_signature(sig);
                    let f = b.ins().iconst(types::I64, self.config.lookup_fn as i64);
                    let call = b.ins().call_indirect(sig, f, &[p0]);
                    let target = b.inst_results(call)[0];
                    let zero = b.ins().iconst(types::I64, 0);
                    let hit = b.create_block();
                    let miss = b.create_block();
                    b.ins().brif(target, hit, &[], miss, &[]);
                    b.switch_to_block(hit);
                    let bsig = b.import_signature(block_signature());
                    b.ins().return_call_indirect(bsig, target, &[p0, zero]);
                    b.switch_to_block(miss);
                    zero
                }
            };
            b.ins().return_(&[ret]);
            b.seal_all_blocks();
            b.finalize(self.isa.frontend_config());
        }
        let compiled = ctx
            .compile(&*self.isa, &mut Default::default())
            .map_err(|e| CompileError::Codegen(format!("{:?}", e.inner)))?;
        Ok(compiled.code_buffer().to_vec())
    }

    /// The target ISA.
    pub fn isa(&self) -> &dyn TargetIsa {
        &*self.isa
    }

    /// True if blocks may use [`tcg::BinOp::Lanes`] and [`tcg::Conv::ByteSignBits`]: the host
    /// has 128-bit integer vectors Cranelift lowers them to (x86-64's SSE2, aarch64's
    /// Advanced SIMD). Elsewhere (riscv64 without V, big-endian s390x, whose lane order
    /// differs) a frontend keeps to 64-bit operations.
    pub fn has_lanes(&self) -> bool {
        matches!(
            self.isa.triple().architecture,
            Architecture::X86_64 | Architecture::Aarch64(_)
        )
    }

    /// The host's memory model, which decides the barriers around guest accesses.
    pub fn memory_model(&self) -> MemoryModel {
        self.memory_model
    }

    /// The configuration the backend was built with.
    pub fn config(&self) -> &BackendConfig {
        &self.config
    }

    /// Host address of guest address 0.
    pub fn guest_base(&self) -> u64 {
        self.config.guest_base
    }

    /// Size of the guest address space.
    pub fn guest_size(&self) -> u64 {
        self.config.guest_size
    }

    /// True if translated code finds `guest_size` in Cranelift's pinned register (set by the
    /// trampoline that enters it).
    pub(crate) fn pinned_bound(&self) -> bool {
        self.pinned_bound
    }

    /// The code cache (for `flush`, `contains` and statistics).
    pub fn code_cache(&self) -> &CodeCache {
        &self.cache
    }

    /// The value a jump slot must hold while unlinked (its initial value).
    pub fn unlinked_stub_addr(&self) -> *const u8 {
        self.unlinked_stub as *const u8
    }

    /// The code a block's indirect exit tail-calls on a jump-cache miss (see `lookup_stub`).
    pub(crate) fn lookup_stub_addr(&self) -> usize {
        self.lookup_stub
    }

    /// Points jump slot `slot` at the block whose code starts at `target`.
    ///
    /// Ordering: a `Release` store; translated code reads slots with Cranelift's
    /// `atomic_load` (sequentially consistent, so at least `Acquire`). A thread that follows
    /// the link therefore sees everything written before it, notably the target's code and
    /// constants (already written and made coherent by [`CodeCache::emit`]). Another thread
    /// running the block concurrently takes either the old value or the new one; both are
    /// valid code until the cache is flushed, which happens only when no vCPU runs.
    pub fn link_slot(&self, slot: &AtomicUsize, target: *const u8) {
        slot.store(target as usize, Ordering::Release);
    }

    /// Points jump slot `slot` back at the unlinked stub (e.g. when its target is
    /// invalidated); a thread running the block concurrently may still take the old link
    /// once, as described at [`Backend::link_slot`].
    pub fn unlink_slot(&self, slot: &AtomicUsize) {
        slot.store(self.unlinked_stub, Ordering::Release);
    }

    /// Runs translated code starting at the block `code` until a block returns.
    ///
    /// # Safety
    /// This backend must target the host ([`Backend::new`]). `code` must be a block returned
    /// by [`Compiler::compile`] on this backend and not flushed since; `env` must point to a
    /// CPU state valid for every global and state offset the reachable blocks use; the guest
    /// memory layout given at construction must be mapped (with its guard region); every
    /// jump slot the reachable blocks were compiled with must still be alive and hold either
    /// the unlinked stub or a live block; helpers and `lookup_fn` must match their
    /// declarations. Guest faults arrive as host signals inside the translated code; the
    /// caller's signal handler must deal with them (e.g. by `siglongjmp` out of this call).
    pub unsafe fn execute(&self, env: *mut u8, code: *const u8) -> BlockExit {
        assert!(self.is_host, "executing code generated for another ISA");
        debug_assert!(matches!(self.stubs.get(), Some(Ok(()))));
        // SAFETY: `trampoline` was emitted by `ensure_stubs` (before `code` was compiled) for
        // the host's default calling convention, which is `extern "C"`, with signature
        // (i64, i64) -> i64; it stays in the permanent part of the cache for the backend's life. What it runs is the caller's
        // responsibility as documented above.
        let raw = unsafe {
            let f: extern "C" fn(*mut u8, *const u8) -> u64 =
                std::mem::transmute::<usize, _>(self.trampoline);
            f(env, code)
        };
        BlockExit::decode(raw)
    }
}

/// Bytes reserved for each stub: the largest measured is 172 (s390x; 108 riscv64, 72 aarch64),
/// checked for every host by `random_programs_lower_for_every_host_isa`.
const STUB_SPACE: usize = 512;

/// The fixed pieces of code [`Backend::ensure_stubs`] emits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stub {
    Trampoline,
    Unlinked,
    Lookup,
}

/// The signature of every block: tail calling convention, `(env, from) -> i64`.
pub(crate) fn block_signature() -> Signature {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::I64));
    sig
}
