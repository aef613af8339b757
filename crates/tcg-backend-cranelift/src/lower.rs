//! Lowering `tcg` IR to Cranelift IR, and the per-thread [`Compiler`].

use std::sync::atomic::AtomicUsize;

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    self, types, AbiParam, AtomicRmwOp, Endianness, InstBuilder, InstructionData, MemFlagsData,
    Opcode, Signature, SourceLoc, StackSlotData, StackSlotKind, TrapCode, UserFuncName, Value,
};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use tcg::{
    for_each_src, op_dst, AtomicOp, BinOp, Block, Cond, Conv, Fence, LaneOp, MemOp, Op, Temp,
    TempKind, Type, UnOp,
};

use crate::{block_signature, Backend, CompileError, MemoryModel};

/// The Cranelift user trap code of the check that a guest access marked `aligned` is
/// naturally aligned (also used for the 16-byte compare-and-swap, which x86 requires to be
/// aligned). The trap is a host `SIGILL` at one of [`CompiledBlock::alignment_traps`].
pub const ALIGNMENT_TRAP_CODE: u8 = 1;

/// The Cranelift user trap code of the check that a guest address lies below `guest_size`.
/// The trap is a host `SIGILL` at one of [`CompiledBlock::bounds_traps`].
pub const BOUNDS_TRAP_CODE: u8 = 2;

/// A block's code in the code cache.
#[derive(Debug, Clone)]
pub struct CompiledBlock {
    /// Entry point (in the cache's executable view); pass it to [`Backend::execute`] or link
    /// a jump slot to it.
    pub code: *const u8,
    /// Length of the code in bytes.
    pub len: usize,
    /// `(host offset, guest pc)` pairs sorted by offset: code from each offset up to the next
    /// entry belongs to the guest instruction at that pc. Code before the first entry (the
    /// prologue, loading globals) belongs to no instruction.
    pub insn_map: Vec<(u32, u64)>,
    /// Host offsets of the alignment-check traps ([`ALIGNMENT_TRAP_CODE`]).
    pub alignment_traps: Vec<u32>,
    /// Host offsets of the address-bound traps ([`BOUNDS_TRAP_CODE`]).
    pub bounds_traps: Vec<u32>,
}

// SAFETY: `code` points into the code cache, which is shared, immutable once emitted and
// valid until a flush (whose contract is on the caller); the struct owns nothing else unsafe.
unsafe impl Send for CompiledBlock {}
// SAFETY: as for `Send`.
unsafe impl Sync for CompiledBlock {}

impl CompiledBlock {
    /// The guest pc of the instruction whose code contains host address `host_pc`, if
    /// `host_pc` lies in this block after its first instruction start.
    pub fn guest_pc(&self, host_pc: usize) -> Option<u64> {
        let start = self.code as usize;
        if host_pc < start || host_pc >= start + self.len {
            return None;
        }
        let off = (host_pc - start) as u32;
        let i = self.insn_map.partition_point(|&(o, _)| o <= off);
        i.checked_sub(1).map(|i| self.insn_map[i].1)
    }

    /// True if `host_pc` is one of this block's alignment-check traps.
    pub fn is_alignment_trap(&self, host_pc: usize) -> bool {
        self.is_in(&self.alignment_traps, host_pc)
    }

    /// True if `host_pc` is one of this block's address-bound traps.
    pub fn is_bounds_trap(&self, host_pc: usize) -> bool {
        self.is_in(&self.bounds_traps, host_pc)
    }

    fn is_in(&self, offsets: &[u32], host_pc: usize) -> bool {
        let start = self.code as usize;
        host_pc >= start && offsets.contains(&((host_pc - start) as u32))
    }
}

/// A block lowered without being emitted, for tests and `-d out_asm`-style dumps.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The Cranelift IR as built (before Cranelift's own optimisation).
    pub clif: String,
    /// The lowered machine code, disassembled by Cranelift (VCode form).
    pub disasm: String,
    /// The machine code's size in bytes.
    pub code_len: usize,
}

/// Lowers blocks; one per vCPU thread (it keeps Cranelift's contexts for reuse).
pub struct Compiler {
    ctx: Context,
    fctx: FunctionBuilderContext,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler").finish_non_exhaustive()
    }
}

impl Default for Compiler {
    fn default() -> Self {
        Compiler::new()
    }
}

impl Compiler {
    /// A compiler with empty contexts.
    pub fn new() -> Compiler {
        Compiler {
            ctx: Context::new(),
            fctx: FunctionBuilderContext::new(),
        }
    }

    /// Lowers `block` and emits it into `backend`'s code cache.
    ///
    /// `tb_tag` (4-aligned, e.g. the address of the TB) is what a `GotoTb` through an unlinked
    /// slot reports in [`crate::BlockExit::Unchained`]; `jump_slots[n]` is the slot read by
    /// `GotoTb { slot: n }` (it must outlive the code and hold the unlinked stub or a block;
    /// a null pointer is allowed when the block has no such `GotoTb`).
    pub fn compile(
        &mut self,
        backend: &Backend,
        block: &Block,
        tb_tag: u64,
        jump_slots: [*const AtomicUsize; tcg::JUMP_SLOTS],
    ) -> Result<CompiledBlock, CompileError> {
        // The block may reach the stubs (and its caller run it through the trampoline) as
        // soon as it is published.
        backend.ensure_stubs()?;
        let pcs = self.build(backend, block, tb_tag, jump_slots)?;
        let compiled = self
            .ctx
            .compile(backend.isa(), &mut ControlPlane::default())
            .map_err(|e| CompileError::Codegen(format!("{:?}", e.inner)))?;
        let buf = &compiled.buffer;
        if let Some(r) = buf.relocs().first() {
            return Err(CompileError::Codegen(format!(
                "unexpected relocation {:?} at {:#x}",
                r.kind, r.offset
            )));
        }
        let mut insn_map: Vec<(u32, u64)> = Vec::new();
        for s in buf.get_srclocs_sorted() {
            if s.loc.is_default() || s.start == s.end {
                continue;
            }
            let pc = pcs[s.loc.bits() as usize];
            match insn_map.last() {
                Some(&(_, last)) if last == pc => {}
                _ => insn_map.push((s.start, pc)),
            }
        }
        let traps = |code: u8| {
            buf.traps()
                .iter()
                .filter(|t| t.code == TrapCode::unwrap_user(code))
                .map(|t| t.offset)
                .collect()
        };
        let alignment_traps = traps(ALIGNMENT_TRAP_CODE);
        let bounds_traps = traps(BOUNDS_TRAP_CODE);
        let code = compiled.code_buffer();
        let align =
            (buf.alignment as usize).max(backend.isa().function_alignment().minimum as usize);
        let len = code.len();
        let code = backend.code_cache().emit(code, align)?;
        Ok(CompiledBlock {
            code,
            len,
            insn_map,
            alignment_traps,
            bounds_traps,
        })
    }

    /// Lowers `block` as [`Compiler::compile`] does but only returns the Cranelift IR and the
    /// disassembly, emitting nothing (works for backends of any ISA).
    pub fn inspect(
        &mut self,
        backend: &Backend,
        block: &Block,
        tb_tag: u64,
        jump_slots: [*const AtomicUsize; tcg::JUMP_SLOTS],
    ) -> Result<Inspection, CompileError> {
        self.build(backend, block, tb_tag, jump_slots)?;
        let clif = self.ctx.func.display().to_string();
        self.ctx.set_disasm(true);
        let res = self
            .ctx
            .compile(backend.isa(), &mut ControlPlane::default())
            .map(|c| (c.vcode.clone().unwrap_or_default(), c.code_buffer().len()))
            .map_err(|e| CompileError::Codegen(format!("{:?}", e.inner)));
        self.ctx.set_disasm(false);
        let (disasm, code_len) = res?;
        Ok(Inspection {
            clif,
            disasm,
            code_len,
        })
    }

    /// Builds the Cranelift function for `block` in `self.ctx`; returns the guest pcs indexed
    /// by the source locations it set.
    fn build(
        &mut self,
        backend: &Backend,
        block: &Block,
        tb_tag: u64,
        jump_slots: [*const AtomicUsize; tcg::JUMP_SLOTS],
    ) -> Result<Vec<u64>, CompileError> {
        tcg::verify(block).map_err(CompileError::Invalid)?;
        if tb_tag & 7 != 0 {
            return Err(CompileError::Unsupported(format!(
                "tb_tag {tb_tag:#x} is not 8-aligned"
            )));
        }
        for op in &block.ops {
            match *op {
                Op::GotoTb { slot } | Op::GotoStart { slot }
                    if jump_slots[usize::from(slot)].is_null() =>
                {
                    return Err(CompileError::Unsupported(format!(
                        "goto_tb {slot} without a jump slot"
                    )))
                }
                Op::LookupAndGotoPtr if backend.config.lookup_fn == 0 => {
                    return Err(CompileError::Unsupported(
                        "lookup_and_goto_ptr without lookup_fn".into(),
                    ))
                }
                _ => {}
            }
        }
        self.ctx.clear();
        self.ctx.func.signature = block_signature();
        self.ctx.func.name = UserFuncName::user(0, 0);
        let b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fctx);
        let mut l = Lower::new(b, backend, block, tb_tag, jump_slots);
        l.lower_all();
        let pcs = std::mem::take(&mut l.pcs);
        l.b.seal_all_blocks();
        l.b.finalize(backend.isa().frontend_config());
        Ok(pcs)
    }
}

/// Where the host stands on barriers for TSO (weak hosts only).
#[derive(Clone, Copy)]
struct Barriers {
    /// A guest load may have happened since the last fence.
    load: bool,
    /// A guest store may have happened since the last fence.
    store: bool,
}

impl Barriers {
    const UNKNOWN: Barriers = Barriers {
        load: true,
        store: true,
    };
    const CLEAN: Barriers = Barriers {
        load: false,
        store: false,
    };
}

struct Lower<'a> {
    b: FunctionBuilder<'a>,
    backend: &'a Backend,
    block: &'a Block,
    tb_tag: u64,
    jump_slots: [*const AtomicUsize; tcg::JUMP_SLOTS],
    env: Value,
    /// `guest_base`, made once at entry: Cranelift keeps it in a register (or a spill slot)
    /// across the block, instead of a 10-byte constant before every access (`bb-sh-loop`
    /// 4%, `bitops` and `sieve` 3% faster; gzip's hash-chain loop, short of registers, 1%
    /// slower).
    guest_base: Value,
    /// One variable per temp (unused for `Env`).
    vars: Vec<Variable>,
    labels: Vec<ir::Block>,
    /// Every global the block reads or writes: (temp, offset).
    globals: Vec<(Temp, u32)>,
    /// Which globals (bits indexing `globals`) to load at entry and to store at each
    /// exit or state-syncing call.
    flow: GlobalFlow,
    /// Index in `block.ops` of the op being lowered.
    op_index: usize,
    /// Where `GotoStart` branches back to (after the entry loads), if it may.
    start: Option<ir::Block>,
    /// The current Cranelift block is terminated (following ops are unreachable until a label).
    terminated: bool,
    barriers: Barriers,
    weak: bool,
    /// The block has lane ops (and the host runs them): its 16-byte loads and constants go
    /// to vector registers. Elsewhere (moves, float code working on the halves) they stay
    /// in general registers: a vector load whose halves are taken out cost `nbody` 20%.
    vector_block: bool,
    /// Flags of guest memory accesses (may trap; little-endian).
    guest_flags: MemFlagsData,
    /// Guest pcs, indexed by the source locations set at each `InsnStart`.
    pcs: Vec<u64>,
    /// The float each integer value made by [`Lower::float_as_bits`] holds the bits of, so
    /// that a float op fed by another's result uses it directly (no move through a general
    /// register and back).
    float_of: std::collections::HashMap<Value, Value>,
    /// The same for `i128` values made by [`Lower::vector_as_i128`]: the host vector (of any
    /// lane type) they hold the bits of, so that lane ops, bitwise ops and 16-byte stores
    /// chained on one another stay in vector registers.
    vector_of: std::collections::HashMap<Value, Value>,
    /// The `i128` value (one of [`Lower::vector_of`]'s) each `i64` half taken from one is
    /// the low (`false`) or high (`true`) half of: two globals holding both halves of one
    /// vector, side by side, are stored as one 16-byte store from the vector register.
    half_of: std::collections::HashMap<Value, (Value, bool)>,
    /// Labels that a branch placed after them jumps to (their blocks are sealed last).
    backward_labels: Vec<bool>,
}

fn cl_type(t: Type) -> ir::Type {
    match t {
        Type::I32 => types::I32,
        Type::I64 => types::I64,
        Type::I128 => types::I128,
    }
}

impl<'a> Lower<'a> {
    fn new(
        mut b: FunctionBuilder<'a>,
        backend: &'a Backend,
        block: &'a Block,
        tb_tag: u64,
        jump_slots: [*const AtomicUsize; tcg::JUMP_SLOTS],
    ) -> Lower<'a> {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let env = b.block_params(entry)[0];
        let guest_base = b.ins().iconst(types::I64, backend.guest_base() as i64);
        let vars = block
            .temps
            .iter()
            .map(|t| b.declare_var(cl_type(t.ty)))
            .collect();
        let labels = (0..block.num_labels).map(|_| b.create_block()).collect();
        let mut globals = Vec::new();
        for (i, t) in block.temps.iter().enumerate() {
            if let TempKind::Global { offset, .. } = t.kind {
                globals.push((Temp(i as u32), offset));
            }
        }
        let mut is_used = vec![false; block.temps.len()];
        for op in &block.ops {
            if let Some(d) = op_dst(op) {
                is_used[d.0 as usize] = true;
            }
            for_each_src(op, |s| is_used[s.0 as usize] = true);
        }
        // Globals the block never touches are neither loaded nor stored: the frontend
        // declares every register for every block, and loading them all at each entry cost
        // more than many small blocks' own work.
        globals.retain(|(t, _)| is_used[t.0 as usize]);
        let flow = GlobalFlow::analyse(block, &globals);
        let mut placed = vec![false; block.num_labels as usize];
        let mut backward_labels = vec![false; block.num_labels as usize];
        for op in &block.ops {
            match *op {
                Op::SetLabel { label } => placed[label.0 as usize] = true,
                Op::BrCond { label, .. } | Op::Br { label } if placed[label.0 as usize] => {
                    backward_labels[label.0 as usize] = true;
                }
                _ => {}
            }
        }
        let mut guest_flags =
            MemFlagsData::new().with_trap_code(Some(TrapCode::HEAP_OUT_OF_BOUNDS));
        if backend.isa().endianness() == Endianness::Big {
            guest_flags = guest_flags.with_endianness(Endianness::Little);
        }
        let mut l = Lower {
            b,
            backend,
            block,
            tb_tag,
            jump_slots,
            env,
            guest_base,
            vars,
            labels,
            globals,
            flow,
            op_index: 0,
            start: None,
            terminated: false,
            barriers: Barriers::UNKNOWN,
            weak: backend.memory_model() == MemoryModel::Weak,
            vector_block: backend.has_lanes()
                && block.ops.iter().any(|op| {
                    matches!(
                        op,
                        Op::Binary {
                            op: BinOp::Lanes { .. },
                            ..
                        }
                    )
                }),
            guest_flags,
            pcs: Vec::new(),
            float_of: std::collections::HashMap::new(),
            vector_of: std::collections::HashMap::new(),
            half_of: std::collections::HashMap::new(),
            backward_labels,
        };
        l.load_globals_at_entry();
        let loops = block
            .ops
            .iter()
            .any(|op| matches!(op, Op::GotoStart { .. }));
        if loops && backend.config.goto_start_loops {
            let start = l.b.create_block();
            l.b.ins().jump(start, &[]);
            l.b.switch_to_block(start);
            l.start = Some(start);
        }
        l
    }

    /// Loads the globals some path may read (or store at an exit) before writing them.
    fn load_globals_at_entry(&mut self) {
        for i in 0..self.globals.len() {
            if self.flow.entry & (1 << i) != 0 {
                let (t, off) = self.globals[i];
                self.reload_global(t, off);
            }
        }
    }

    /// Loads the globals in `mask` that the op about to be lowered reads first on this path
    /// (see [`GlobalFlow::lazy`]).
    fn load_lazy(&mut self, mask: u128) {
        for i in 0..self.globals.len() {
            if mask & (1 << i) != 0 {
                let (t, off) = self.globals[i];
                self.reload_global(t, off);
            }
        }
    }

    /// Continues in `blk`, whose predecessors are all emitted: sealing it now lets the SSA
    /// builder find each variable's definition without a speculative block parameter.
    fn switch_sealed(&mut self, blk: ir::Block) {
        self.b.switch_to_block(blk);
        self.b.seal_block(blk);
    }

    fn env_flags() -> MemFlagsData {
        MemFlagsData::new().with_notrap()
    }

    fn reload_global(&mut self, t: Temp, off: u32) {
        let ty = cl_type(self.block.ty(t));
        let v = self
            .b
            .ins()
            .load(ty, Self::env_flags(), self.env, off as i32);
        self.b.def_var(self.vars[t.0 as usize], v);
    }

    /// Stores the globals that a path to the current op may have changed since entry (or
    /// since the last sync).
    fn store_written_globals(&mut self) {
        self.store_written_globals_but(None);
    }

    /// [`Lower::store_written_globals`] except the global at env offset `skip`.
    fn store_written_globals_but(&mut self, skip: Option<u32>) {
        let mask = self.flow.stores[self.op_index];
        let written: Vec<(Value, u32)> = (0..self.globals.len())
            .filter(|&i| mask & (1 << i) != 0 && Some(self.globals[i].1) != skip)
            .map(|i| {
                let (t, off) = self.globals[i];
                (self.b.use_var(self.vars[t.0 as usize]), off)
            })
            .collect();
        let mut done = vec![false; written.len()];
        for i in 0..written.len() {
            if done[i] {
                continue;
            }
            let (v, off) = written[i];
            let high = match self.half_of.get(&v) {
                Some(&(whole, false)) => written
                    .iter()
                    .position(|&(h, o)| {
                        o == off + 8 && self.half_of.get(&h) == Some(&(whole, true))
                    })
                    .map(|j| (j, self.vector_of[&whole])),
                _ => None,
            };
            let v = match high {
                Some((j, vector)) => {
                    done[j] = true;
                    vector
                }
                None => v,
            };
            self.b
                .ins()
                .store(Self::env_flags(), v, self.env, off as i32);
        }
    }

    fn reload_all_globals(&mut self) {
        for i in 0..self.globals.len() {
            let (t, off) = self.globals[i];
            self.reload_global(t, off);
        }
    }

    fn ty(&self, t: Temp) -> Type {
        self.block.ty(t)
    }

    fn get(&mut self, t: Temp) -> Value {
        if self.block.temps[t.0 as usize].kind == TempKind::Env {
            self.env
        } else {
            self.b.use_var(self.vars[t.0 as usize])
        }
    }

    fn set(&mut self, t: Temp, v: Value) {
        self.b.def_var(self.vars[t.0 as usize], v);
    }

    fn iconst(&mut self, ty: ir::Type, v: u64) -> Value {
        match ty {
            types::I128 => {
                let lo = self.b.ins().iconst(types::I64, v as i64);
                self.b.ins().uextend(types::I128, lo)
            }
            types::I64 => self.b.ins().iconst(types::I64, v as i64),
            _ => {
                let bits = ty.bits();
                let m = if bits >= 64 {
                    u64::MAX
                } else {
                    (1 << bits) - 1
                };
                self.b.ins().iconst(ty, (v & m) as i64)
            }
        }
    }

    /// The float (`f64` for an `i64`, `f32` for an `i32`) with the bits of `x`.
    fn bits_as_float(&mut self, x: Value) -> Value {
        if let Some(&f) = self.float_of.get(&x) {
            // `x` is defined right after `f`, so `f` is available wherever `x` is.
            return f;
        }
        let fty = if self.b.func.dfg.value_type(x) == types::I64 {
            types::F64
        } else {
            types::F32
        };
        self.b.ins().bitcast(fty, MemFlagsData::new(), x)
    }

    /// The value of `x` if an `iconst` defines it.
    fn iconst_of(&self, x: Value) -> Option<u64> {
        let dfg = &self.b.func.dfg;
        match dfg.insts[dfg.value_def(x).inst()?] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.bits() as u64),
            _ => None,
        }
    }

    /// The host vector of type `vty` with the bits of `i128` value `x` (lane 0 in its low
    /// bits).
    fn i128_as_vector(&mut self, x: Value, vty: ir::Type) -> Value {
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        match self.vector_of.get(&x) {
            // `x` is defined right after `v`, so `v` is available wherever `x` is.
            Some(&v) if self.b.func.dfg.value_type(v) == vty => v,
            Some(&v) => self.b.ins().bitcast(vty, little, v),
            None => self.b.ins().bitcast(vty, little, x),
        }
    }

    /// The `i128` with the bits of host vector `v` (the inverse of [`Lower::i128_as_vector`]).
    /// Lowered only where a scalar use needs it.
    fn vector_as_i128(&mut self, v: Value) -> Value {
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        let x = self.b.ins().bitcast(types::I128, little, v);
        self.vector_of.insert(x, v);
        x
    }

    /// The `i128` constant `v`, made in a vector register (from the constant pool).
    fn vector_const(&mut self, v: u128) -> Value {
        let c = self
            .b
            .func
            .dfg
            .constants
            .insert(v.to_le_bytes().to_vec().into());
        let v = self.b.ins().vconst(types::I8X16, c);
        self.vector_as_i128(v)
    }

    /// `op` on the lanes of `a` and `b` (see [`BinOp::Lanes`]) on the host's vector unit.
    fn lanes(&mut self, op: LaneOp, bits: u8, a: Value, b: Value) -> Value {
        let vty = match bits {
            8 => types::I8X16,
            16 => types::I16X8,
            32 => types::I32X4,
            _ => types::I64X2,
        };
        if matches!(op, LaneOp::InterleaveLow | LaneOp::InterleaveHigh) {
            // A byte shuffle of the two: lane `i` of the chosen half of each, alternately.
            let k = bits / 8;
            let from = if op == LaneOp::InterleaveLow { 0 } else { 8 };
            let mask: Vec<u8> = (0..16u8)
                .map(|i| {
                    let (lane, byte) = (i / k, i % k);
                    let src = if lane % 2 == 0 { 0 } else { 16 };
                    src + from + (lane / 2) * k + byte
                })
                .collect();
            let (x, y) = (
                self.i128_as_vector(a, types::I8X16),
                self.i128_as_vector(b, types::I8X16),
            );
            let imm = self.b.func.dfg.immediates.push(mask.into());
            let v = self.b.ins().shuffle(x, y, imm);
            return self.vector_as_i128(v);
        }
        let (x, y) = (self.i128_as_vector(a, vty), self.i128_as_vector(b, vty));
        let ins = self.b.ins();
        let v = match op {
            LaneOp::Add => ins.iadd(x, y),
            LaneOp::Sub => ins.isub(x, y),
            LaneOp::CmpEq => ins.icmp(IntCC::Equal, x, y),
            LaneOp::MinU => ins.umin(x, y),
            LaneOp::MaxU => ins.umax(x, y),
            LaneOp::Swizzle => ins.swizzle(x, y),
            LaneOp::InterleaveLow | LaneOp::InterleaveHigh => unreachable!("shuffled above"),
        };
        self.vector_as_i128(v)
    }

    /// The integer with the bits of float `x` (the inverse of [`Lower::bits_as_float`]).
    fn float_as_bits(&mut self, x: Value) -> Value {
        let ity = if self.b.func.dfg.value_type(x) == types::F64 {
            types::I64
        } else {
            types::I32
        };
        let bits = self.b.ins().bitcast(ity, MemFlagsData::new(), x);
        self.float_of.insert(bits, x);
        bits
    }

    fn fence(&mut self) {
        self.b.ins().fence();
        self.barriers = Barriers::CLEAN;
    }

    fn before_guest_load(&mut self) {
        if self.weak && self.barriers.load {
            self.fence();
        }
    }

    fn after_guest_load(&mut self) {
        self.barriers.load = true;
    }

    fn before_guest_store(&mut self) {
        if self.weak && (self.barriers.load || self.barriers.store) {
            self.fence();
        }
    }

    fn after_guest_store(&mut self) {
        self.barriers.store = true;
    }

    /// Host address of guest address `addr`: `guest_base + addr`, after a trap unless
    /// `addr < guest_size`. A compare and a branch predicted not taken, off the address's
    /// path to the access: clamping the address instead (`umin`, a conditional move the
    /// access waited for, and no base-plus-index addressing) made `interp` 11% and gzip 10%
    /// slower. An address known to be below the bound gets no check: a constant (every
    /// RIP-relative global of a static program: `bb-sh-loop` 2% faster) or a value of fewer
    /// bits than the guest space has (a 32-bit address).
    fn host_addr(&mut self, addr: Value) -> Value {
        let guest_size = self.backend.guest_size();
        if let Some(a) = self.iconst_of(addr).filter(|&a| a < guest_size) {
            // A RIP-relative or absolute address (a global of the guest program).
            return self.iconst(types::I64, self.backend.guest_base() + a);
        }
        let width = self.width_bound(addr, 3);
        if width < 64 && 1 << width <= guest_size {
            // A 32-bit address, or one masked below the bound.
            return self.b.ins().iadd(self.guest_base, addr);
        }
        let size = if self.backend.pinned_bound() {
            self.b.ins().get_pinned_reg(types::I64)
        } else {
            self.iconst(types::I64, self.backend.guest_size())
        };
        let outside = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, addr, size);
        self.b
            .ins()
            .trapnz(outside, TrapCode::unwrap_user(BOUNDS_TRAP_CODE));
        self.b.ins().iadd(self.guest_base, addr)
    }

    fn check_alignment(&mut self, addr: Value, size: u8) {
        if size > 1 {
            let low = self.b.ins().band_imm_u(addr, i64::from(size - 1));
            self.b
                .ins()
                .trapnz(low, TrapCode::unwrap_user(ALIGNMENT_TRAP_CODE));
        }
    }

    /// Loads `mem.size` bytes at `p + off` and extends them to `ty`.
    fn load_sized(
        &mut self,
        ty: Type,
        mem: MemOp,
        flags: MemFlagsData,
        p: Value,
        off: i32,
    ) -> Value {
        let cty = cl_type(ty);
        if u32::from(mem.size) * 8 == ty.bits() {
            if ty == Type::I128 && self.vector_block {
                // Into a vector register: where lane ops use it, they need no move there,
                // and scalar uses take the halves out of it.
                let v = self.b.ins().load(types::I8X16, flags, p, off);
                return self.vector_as_i128(v);
            }
            return self.b.ins().load(cty, flags, p, off);
        }
        // Load into an i64 (or i32) first, then widen to i128 if needed.
        let inner = if ty == Type::I128 { types::I64 } else { cty };
        let ins = self.b.ins();
        let v = match (mem.size, mem.signed) {
            (1, false) => ins.uload8(inner, flags, p, off),
            (1, true) => ins.sload8(inner, flags, p, off),
            (2, false) => ins.uload16(inner, flags, p, off),
            (2, true) => ins.sload16(inner, flags, p, off),
            (4, false) => ins.uload32(flags, p, off),
            (4, true) => ins.sload32(flags, p, off),
            _ => ins.load(types::I64, flags, p, off),
        };
        if ty == Type::I128 {
            if mem.signed {
                self.b.ins().sextend(types::I128, v)
            } else {
                self.b.ins().uextend(types::I128, v)
            }
        } else {
            v
        }
    }

    /// Stores the low `mem.size` bytes of `v` (of type `ty`) at `p + off`.
    fn store_sized(
        &mut self,
        ty: Type,
        mem: MemOp,
        flags: MemFlagsData,
        v: Value,
        p: Value,
        off: i32,
    ) {
        if u32::from(mem.size) * 8 == ty.bits() {
            // A lane op's result goes to memory straight from its vector register.
            let v = self.vector_of.get(&v).copied().unwrap_or(v);
            self.b.ins().store(flags, v, p, off);
            return;
        }
        let v = if ty == Type::I128 {
            self.b.ins().isplit(v).0
        } else {
            v
        };
        let ins = self.b.ins();
        match mem.size {
            1 => ins.istore8(flags, v, p, off),
            2 => ins.istore16(flags, v, p, off),
            4 => ins.istore32(flags, v, p, off),
            _ => ins.store(flags, v, p, off),
        };
    }

    fn cmp(&mut self, cond: Cond, a: Temp, b: Temp) -> Value {
        let (a, b) = (self.get(a), self.get(b));
        let cc = match cond {
            Cond::Eq => IntCC::Equal,
            Cond::Ne => IntCC::NotEqual,
            Cond::Lt => IntCC::SignedLessThan,
            Cond::Ge => IntCC::SignedGreaterThanOrEqual,
            Cond::Le => IntCC::SignedLessThanOrEqual,
            Cond::Gt => IntCC::SignedGreaterThan,
            Cond::Ltu => IntCC::UnsignedLessThan,
            Cond::Geu => IntCC::UnsignedGreaterThanOrEqual,
            Cond::Leu => IntCC::UnsignedLessThanOrEqual,
            Cond::Gtu => IntCC::UnsignedGreaterThan,
            Cond::TstEq | Cond::TstNe => {
                let x = self.b.ins().band(a, b);
                let cc = if cond == Cond::TstEq {
                    IntCC::Equal
                } else {
                    IntCC::NotEqual
                };
                return self.b.ins().icmp_imm_u(cc, x, 0);
            }
        };
        self.b.ins().icmp(cc, a, b)
    }

    /// Ops after a terminator and before the next label are unreachable; give them a block.
    fn ensure_block(&mut self) {
        if self.terminated {
            let blk = self.b.create_block();
            self.switch_sealed(blk);
            self.terminated = false;
            self.barriers = Barriers::UNKNOWN;
        }
    }

    fn lower_all(&mut self) {
        for (i, op) in self.block.ops.iter().enumerate() {
            self.op_index = i;
            if !self.terminated && self.flow.lazy[i] != 0 {
                self.load_lazy(self.flow.lazy[i]);
            }
            if let Op::SetLabel { label } = *op {
                let target = self.labels[label.0 as usize];
                if !self.terminated {
                    self.b.ins().jump(target, &[]);
                }
                if self.backward_labels[label.0 as usize] {
                    self.b.switch_to_block(target);
                } else {
                    // Every branch here came before: no more predecessors.
                    self.switch_sealed(target);
                }
                self.terminated = false;
                self.barriers = Barriers::UNKNOWN;
                continue;
            }
            self.ensure_block();
            self.lower_op(op);
        }
        if !self.terminated {
            // Unreachable for verified blocks (they end in a terminator): store nothing.
            self.op_index = self.flow.stores.len() - 1;
            let z = self.iconst(types::I64, 0);
            self.b.ins().return_(&[z]);
        }
    }

    fn lower_op(&mut self, op: &Op) {
        match *op {
            Op::InsnStart { pc } => {
                self.b.set_srcloc(SourceLoc::new(self.pcs.len() as u32));
                self.pcs.push(pc);
            }
            Op::SetLabel { .. } => unreachable!("handled by lower_all"),
            // Only the global flow analysis looks at it.
            Op::Discard { .. } => {}
            Op::Mov { dst, src } => {
                let v = self.get(src);
                self.set(dst, v);
            }
            Op::Const { dst, imm } if self.ty(dst) == Type::I128 && self.vector_block => {
                let v = self.vector_const(u128::from(imm));
                self.set(dst, v);
            }
            Op::Const { dst, imm } => {
                let v = self.iconst(cl_type(self.ty(dst)), imm);
                self.set(dst, v);
            }
            Op::Binary { op, dst, a, b } if op.is_float() => {
                let (x, y) = (self.get(a), self.get(b));
                let (x, y) = (self.bits_as_float(x), self.bits_as_float(y));
                let ins = self.b.ins();
                let v = match op {
                    BinOp::FAdd => ins.fadd(x, y),
                    BinOp::FSub => ins.fsub(x, y),
                    BinOp::FMul => ins.fmul(x, y),
                    _ => ins.fdiv(x, y),
                };
                let v = self.float_as_bits(v);
                self.set(dst, v);
            }
            Op::Binary {
                op: BinOp::Lanes { op, bits },
                dst,
                a,
                b,
            } => {
                let (x, y) = (self.get(a), self.get(b));
                let v = self.lanes(op, bits, x, y);
                self.set(dst, v);
            }
            Op::Binary { op, dst, a, b } => {
                let (x, y) = (self.get(a), self.get(b));
                if self.vector_of.contains_key(&x) || self.vector_of.contains_key(&y) {
                    // A bitwise op (`I128`) on a lane op's result: on the vector unit too.
                    let (x, y) = (
                        self.i128_as_vector(x, types::I64X2),
                        self.i128_as_vector(y, types::I64X2),
                    );
                    let ins = self.b.ins();
                    let v = match op {
                        BinOp::And => ins.band(x, y),
                        BinOp::Or => ins.bor(x, y),
                        BinOp::Xor => ins.bxor(x, y),
                        _ => ins.band_not(x, y),
                    };
                    let v = self.vector_as_i128(v);
                    self.set(dst, v);
                    return;
                }
                let ins = self.b.ins();
                let v = match op {
                    BinOp::Add => ins.iadd(x, y),
                    BinOp::Sub => ins.isub(x, y),
                    BinOp::Mul => ins.imul(x, y),
                    BinOp::MulHu => ins.umulhi(x, y),
                    BinOp::MulHs => ins.smulhi(x, y),
                    BinOp::DivU => ins.udiv(x, y),
                    BinOp::DivS => ins.sdiv(x, y),
                    BinOp::RemU => ins.urem(x, y),
                    BinOp::RemS => ins.srem(x, y),
                    BinOp::And => ins.band(x, y),
                    BinOp::Or => ins.bor(x, y),
                    BinOp::Xor => ins.bxor(x, y),
                    BinOp::AndNot => ins.band_not(x, y),
                    BinOp::Shl => ins.ishl(x, y),
                    BinOp::Shr => ins.ushr(x, y),
                    BinOp::Sar => ins.sshr(x, y),
                    BinOp::Rotl => ins.rotl(x, y),
                    BinOp::Rotr => ins.rotr(x, y),
                    BinOp::FAdd | BinOp::FSub | BinOp::FMul | BinOp::FDiv | BinOp::Lanes { .. } => {
                        unreachable!("lowered above")
                    }
                };
                self.set(dst, v);
            }
            Op::Unary { op, dst, src } => {
                let ty = cl_type(self.ty(dst));
                let x = self.get(src);
                let v = match op {
                    UnOp::Neg => self.b.ins().ineg(x),
                    UnOp::Not => self.b.ins().bnot(x),
                    UnOp::Clz => self.b.ins().clz(x),
                    UnOp::Ctz => self.b.ins().ctz(x),
                    UnOp::Popcnt => self.b.ins().popcnt(x),
                    UnOp::FSqrt => {
                        let f = self.bits_as_float(x);
                        let r = self.b.ins().sqrt(f);
                        self.float_as_bits(r)
                    }
                    UnOp::Bswap16 => self.bswap_low(x, ty, types::I16),
                    UnOp::Bswap32 => self.bswap_low(x, ty, types::I32),
                    UnOp::Bswap64 => {
                        if ty == types::I64 {
                            self.b.ins().bswap(x)
                        } else {
                            // The reference semantics: byte-swap the zero-extended value
                            // as 64 bits and keep the low half.
                            let w = self.b.ins().uextend(types::I64, x);
                            let s = self.b.ins().bswap(w);
                            self.b.ins().ireduce(ty, s)
                        }
                    }
                };
                self.set(dst, v);
            }
            Op::Convert { conv, dst, src } => {
                let x = self.get(src);
                let ty = cl_type(self.ty(dst));
                let v = match conv {
                    Conv::Ext8s => self.sext_low(x, ty, types::I8),
                    Conv::Ext8u => self.zext_low(x, ty, types::I8),
                    Conv::Ext16s => self.sext_low(x, ty, types::I16),
                    Conv::Ext16u => self.zext_low(x, ty, types::I16),
                    Conv::Ext32s => self.sext_low(x, ty, types::I32),
                    Conv::Ext32u => self.zext_low(x, ty, types::I32),
                    Conv::I32ToI64s => self.b.ins().sextend(types::I64, x),
                    Conv::I32ToI64u => self.b.ins().uextend(types::I64, x),
                    Conv::I64ToI32 => self.b.ins().ireduce(types::I32, x),
                    Conv::I128Lo | Conv::I128Hi => {
                        let high = conv == Conv::I128Hi;
                        let (lo, hi) = self.b.ins().isplit(x);
                        let half = if high { hi } else { lo };
                        if self.vector_of.contains_key(&x) {
                            self.half_of.insert(half, (x, high));
                        }
                        half
                    }
                    Conv::ByteSignBits => {
                        let v = self.i128_as_vector(x, types::I8X16);
                        let m = self.b.ins().vhigh_bits(types::I32, v);
                        self.b.ins().uextend(types::I64, m)
                    }
                };
                self.set(dst, v);
            }
            Op::Concat { dst, lo, hi } => {
                let (lo, hi) = (self.get(lo), self.get(hi));
                let v = match (self.iconst_of(lo), self.iconst_of(hi)) {
                    (Some(l), Some(h)) if self.vector_block => {
                        // A constant vector (a shuffle's indices, a mask): from the pool.
                        self.vector_const(u128::from(h) << 64 | u128::from(l))
                    }
                    _ => self.b.ins().iconcat(lo, hi),
                };
                self.set(dst, v);
            }
            Op::Extract {
                dst,
                src,
                pos,
                len,
                signed,
            } => {
                let w = self.ty(dst).bits() as i64;
                let (pos, len) = (i64::from(pos), i64::from(len));
                let x = self.get(src);
                let v = if signed {
                    let up = self.b.ins().ishl_imm_u(x, w - pos - len);
                    self.b.ins().sshr_imm_u(up, w - len)
                } else if pos + len == w {
                    self.b.ins().ushr_imm_u(x, pos)
                } else {
                    let sh = self.b.ins().ushr_imm_u(x, pos);
                    let m = self.iconst(cl_type(self.ty(dst)), (1u64 << len) - 1);
                    self.b.ins().band(sh, m)
                };
                self.set(dst, v);
            }
            Op::Deposit {
                dst,
                base,
                val,
                pos,
                len,
            } => {
                let ty = cl_type(self.ty(dst));
                let field = if len >= 64 {
                    u64::MAX
                } else {
                    (1u64 << len) - 1
                } << pos;
                let (bv, vv) = (self.get(base), self.get(val));
                let keep = self.iconst(ty, !field);
                let kept = self.b.ins().band(bv, keep);
                // A byte or word register write: the value is often a zero-extending load,
                // which needs neither the shift nor the mask.
                let sh = if pos == 0 {
                    vv
                } else {
                    self.b.ins().ishl_imm_u(vv, i64::from(pos))
                };
                let ins =
                    if u32::from(len) >= ty.bits() || self.width_bound(vv, 3) <= u32::from(len) {
                        sh
                    } else {
                        let m = self.iconst(ty, field);
                        self.b.ins().band(sh, m)
                    };
                let v = self.b.ins().bor(kept, ins);
                self.set(dst, v);
            }
            Op::SetCond { cond, dst, a, b } => {
                let c = self.cmp(cond, a, b);
                let ty = cl_type(self.ty(dst));
                let v = self.b.ins().uextend(ty, c);
                self.set(dst, v);
            }
            Op::Select {
                cond,
                dst,
                a,
                b,
                t,
                f,
            } => {
                let c = self.cmp(cond, a, b);
                let (tv, fv) = (self.get(t), self.get(f));
                let v = self.b.ins().select(c, tv, fv);
                self.set(dst, v);
            }
            Op::BrCond { cond, a, b, label } => {
                let c = self.cmp(cond, a, b);
                let next = self.b.create_block();
                let target = self.labels[label.0 as usize];
                self.b.ins().brif(c, target, &[], next, &[]);
                self.switch_sealed(next);
            }
            Op::Br { label } => {
                let target = self.labels[label.0 as usize];
                self.b.ins().jump(target, &[]);
                self.terminated = true;
            }
            Op::Load { dst, addr, mem } => {
                let a = self.get(addr);
                if mem.aligned {
                    self.check_alignment(a, mem.size);
                }
                let p = self.host_addr(a);
                self.before_guest_load();
                let v = self.load_sized(self.ty(dst), mem, self.guest_flags, p, 0);
                self.after_guest_load();
                self.set(dst, v);
            }
            Op::Store { src, addr, mem } => {
                let a = self.get(addr);
                if mem.aligned {
                    self.check_alignment(a, mem.size);
                }
                let p = self.host_addr(a);
                let v = self.get(src);
                self.before_guest_store();
                self.store_sized(self.ty(src), mem, self.guest_flags, v, p, 0);
                self.after_guest_store();
            }
            Op::LoadState { dst, offset, mem } => {
                let env = self.env;
                let v = self.load_sized(self.ty(dst), mem, Self::env_flags(), env, offset as i32);
                self.set(dst, v);
            }
            Op::StoreState { src, offset, mem } => {
                let v = self.get(src);
                let env = self.env;
                self.store_sized(self.ty(src), mem, Self::env_flags(), v, env, offset as i32);
            }
            Op::AtomicRmw {
                op,
                dst,
                addr,
                val,
                mem,
            } => {
                let a = self.get(addr);
                if mem.aligned {
                    self.check_alignment(a, mem.size);
                }
                let p = self.host_addr(a);
                let mty = ir::Type::int(u16::from(mem.size) * 8).expect("valid size");
                let x = self.get(val);
                let x = self.narrow(x, self.ty(val), mty);
                let rop = match op {
                    AtomicOp::Xchg => AtomicRmwOp::Xchg,
                    AtomicOp::Add => AtomicRmwOp::Add,
                    AtomicOp::Sub => AtomicRmwOp::Sub,
                    AtomicOp::And => AtomicRmwOp::And,
                    AtomicOp::Or => AtomicRmwOp::Or,
                    AtomicOp::Xor => AtomicRmwOp::Xor,
                };
                self.fence_before_atomic();
                let old = self.b.ins().atomic_rmw(mty, self.guest_flags, rop, p, x);
                self.fence_after_atomic();
                let v = self.widen(old, mty, self.ty(dst), mem.signed);
                self.set(dst, v);
            }
            Op::AtomicCmpxchg {
                dst,
                addr,
                expected,
                new,
                mem,
            } => {
                let a = self.get(addr);
                if mem.size == 16 {
                    self.cmpxchg16(dst, a, expected, new);
                    return;
                }
                if mem.aligned {
                    self.check_alignment(a, mem.size);
                }
                let p = self.host_addr(a);
                let mty = ir::Type::int(u16::from(mem.size) * 8).expect("valid size");
                let e = self.get(expected);
                let e = self.narrow(e, self.ty(expected), mty);
                let n = self.get(new);
                let n = self.narrow(n, self.ty(new), mty);
                self.fence_before_atomic();
                let old = self.b.ins().atomic_cas(self.guest_flags, p, e, n);
                self.fence_after_atomic();
                let v = self.widen(old, mty, self.ty(dst), mem.signed);
                self.set(dst, v);
            }
            Op::Fence { kind } => match kind {
                Fence::Full => self.fence(),
                Fence::LoadLoad | Fence::StoreStore => {
                    if self.weak {
                        self.fence();
                    }
                }
            },
            Op::Call {
                helper,
                ref args,
                ret,
            } => {
                let f = helper.flags;
                if f.reads_state || f.writes_state {
                    self.store_written_globals();
                }
                if self.weak && !f.pure && (self.barriers.load || self.barriers.store) {
                    self.fence();
                }
                let vals: Vec<Value> = args.iter().map(|&a| self.get(a)).collect();
                let mut sig = Signature::new(self.backend.isa().default_call_conv());
                sig.params
                    .extend(vals.iter().map(|_| AbiParam::new(types::I64)));
                if helper.ret.is_some() {
                    sig.returns.push(AbiParam::new(types::I64));
                }
                let sig = self.b.import_signature(sig);
                let callee = self.iconst(types::I64, helper.addr as u64);
                let call = self.b.ins().call_indirect(sig, callee, &vals);
                let result = self.b.inst_results(call).first().copied();
                if f.writes_state {
                    self.reload_all_globals();
                }
                if !f.pure {
                    self.barriers = Barriers::UNKNOWN;
                }
                if let (Some(r), Some(v)) = (ret, result) {
                    self.set(r, v);
                }
            }
            Op::GotoStart { slot } => match self.start {
                // Back to the block's first op, its exit-request check: invalidation raises
                // the request of every vCPU (see `BackendConfig::goto_start_loops`).
                Some(start) => {
                    self.b.ins().jump(start, &[]);
                    self.terminated = true;
                }
                None => self.goto_tb(slot),
            },
            Op::GotoTb { slot } => self.goto_tb(slot),
            Op::ExitTb { code } => {
                self.store_written_globals();
                let v = self.iconst(types::I64, u64::from(code) << 3);
                self.b.ins().return_(&[v]);
                self.terminated = true;
            }
            Op::LookupAndGotoPtr => {
                match self.backend.config.jump_cache_probe {
                    Some(probe) => {
                        // The pc, if the paths here wrote it, is stored on a miss only: the
                        // block a hit enters knows its own pc.
                        let pc = self.written_global(probe.pc_env_offset);
                        self.store_written_globals_but(pc.map(|_| probe.pc_env_offset as u32));
                        self.inline_probe(probe, pc);
                        if let Some(pc) = pc {
                            let flags = Self::env_flags();
                            self.b.ins().store(flags, pc, self.env, probe.pc_env_offset);
                        }
                    }
                    None => self.store_written_globals(),
                }
                let stub = self.iconst(types::I64, self.backend.lookup_stub_addr() as u64);
                let zero = self.iconst(types::I64, 0);
                let bsig = self.b.import_signature(block_signature());
                let env = self.env;
                self.b.ins().return_call_indirect(bsig, stub, &[env, zero]);
                self.terminated = true;
            }
        }
    }

    /// Leaves through jump slot `slot`: stores what the paths here wrote and tail-calls the
    /// slot's target (the next block, or the unlinked stub).
    fn goto_tb(&mut self, slot: u8) {
        // The pc, if it holds the slot's target: the next block knows its own pc, and the
        // dispatcher sets it from the target when the slot is unlinked.
        let target = self.block.jump_targets[usize::from(slot)];
        let pc_global = self.backend.config.pc_env_offset.filter(|&off| {
            target.is_some() && self.written_global(off).and_then(|v| self.iconst_of(v)) == target
        });
        self.store_written_globals_but(pc_global.map(|off| off as u32));
        let slot_addr = self.jump_slots[usize::from(slot)] as u64;
        let p = self.iconst(types::I64, slot_addr);
        let target = self
            .b
            .ins()
            .atomic_load(types::I64, MemFlagsData::trusted(), p);
        let from = self.iconst(types::I64, self.tb_tag | u64::from(slot));
        let sig = self.b.import_signature(block_signature());
        let env = self.env;
        self.b.ins().return_call_indirect(sig, target, &[env, from]);
        self.terminated = true;
    }

    /// The value of the global at env offset `off` if the paths to the op being lowered
    /// wrote it (it is stored at an exit there).
    fn written_global(&mut self, off: i32) -> Option<Value> {
        let mask = self.flow.stores[self.op_index];
        let i = (0..self.globals.len())
            .find(|&i| mask & (1 << i) != 0 && self.globals[i].1 as i32 == off)?;
        Some(self.b.use_var(self.vars[self.globals[i].0 .0 as usize]))
    }

    /// The inline jump-cache probe of `LookupAndGotoPtr` (see [`crate::JumpCacheProbe`]):
    /// tail-calls the cached block on a hit, falls through (to the lookup stub) on a miss.
    /// Globals are already stored, except the pc if `written` holds it.
    fn inline_probe(&mut self, p: crate::JumpCacheProbe, written: Option<Value>) {
        let env = self.env;
        let flags = Self::env_flags();
        let pc = match written {
            Some(pc) => pc,
            None => self.b.ins().load(types::I64, flags, env, p.pc_env_offset),
        };
        let hi = self.b.ins().ushr_imm_u(pc, i64::from(p.shift));
        let h = self.b.ins().bxor(pc, hi);
        let idx = self.b.ins().band_imm_u(h, p.mask as i64);
        let off = self.b.ins().ishl_imm_u(idx, 3);
        let entries = self
            .b
            .ins()
            .load(types::I64, flags, env, p.entries_env_offset);
        let slot = self.b.ins().iadd(entries, off);
        // Acquire: the descriptor was published with a release store.
        let desc = self
            .b
            .ins()
            .atomic_load(types::I64, MemFlagsData::trusted(), slot);
        let miss = self.b.create_block();
        let check_pc = self.b.create_block();
        let check_valid = self.b.create_block();
        let check_code = self.b.create_block();
        let hit = self.b.create_block();
        self.b.ins().brif(desc, check_pc, &[], miss, &[]);
        self.switch_sealed(check_pc);
        let dpc = self.b.ins().load(types::I64, flags, desc, p.desc_pc);
        let same = self.b.ins().icmp(IntCC::Equal, dpc, pc);
        self.b.ins().brif(same, check_valid, &[], miss, &[]);
        self.switch_sealed(check_valid);
        let valid = self.b.ins().load(types::I32, flags, desc, p.desc_valid);
        self.b.ins().brif(valid, miss, &[], check_code, &[]);
        self.switch_sealed(check_code);
        let code = self.b.ins().load(types::I64, flags, desc, p.desc_code);
        self.b.ins().brif(code, hit, &[], miss, &[]);
        self.switch_sealed(hit);
        let zero = self.iconst(types::I64, 0);
        let bsig = self.b.import_signature(block_signature());
        self.b.ins().return_call_indirect(bsig, code, &[env, zero]);
        self.switch_sealed(miss);
    }

    /// On weak hosts, a full fence before an atomic unless nothing happened since the last
    /// one (x86 locked instructions are full barriers).
    fn fence_before_atomic(&mut self) {
        if self.weak && (self.barriers.load || self.barriers.store) {
            self.fence();
        }
    }

    /// On weak hosts, a full fence after an atomic: Cranelift's atomics are only
    /// acquire-release on aarch64/riscv64, and later loads must not pass the locked store.
    fn fence_after_atomic(&mut self) {
        if self.weak {
            self.fence();
        }
    }

    /// Byte-swaps the low `part` bits of `x` (of type `ty`) and zeroes the rest.
    fn bswap_low(&mut self, x: Value, ty: ir::Type, part: ir::Type) -> Value {
        if ty == part {
            return self.b.ins().bswap(x);
        }
        let n = self.b.ins().ireduce(part, x);
        let s = self.b.ins().bswap(n);
        self.b.ins().uextend(ty, s)
    }

    fn sext_low(&mut self, x: Value, ty: ir::Type, part: ir::Type) -> Value {
        // `movslq` after a 32-bit read: sign-extend the narrow value the zero extension
        // started from, not the extension.
        let dfg = &self.b.func.dfg;
        let narrow = match dfg.value_def(x).inst().map(|i| dfg.insts[i]) {
            Some(InstructionData::Unary {
                opcode: Opcode::Uextend,
                arg,
            }) if dfg.value_type(arg) == part => Some(arg),
            _ => None,
        };
        let n = match narrow {
            Some(n) => n,
            None => self.b.ins().ireduce(part, x),
        };
        self.b.ins().sextend(ty, n)
    }

    fn zext_low(&mut self, x: Value, ty: ir::Type, part: ir::Type) -> Value {
        if self.width_bound(x, 3) <= part.bits() {
            return x;
        }
        let n = self.b.ins().ireduce(part, x);
        self.b.ins().uextend(ty, n)
    }

    /// An upper bound on the number of low bits of `x` that may be set, from the
    /// instructions that made it (looking `depth` deep). The frontend zero-extends every
    /// 32-bit result (x86 does) and then zero-extends it again where it reads it; each
    /// extension Cranelift cannot see through is a register copy on the value's path.
    fn width_bound(&self, x: Value, depth: u32) -> u32 {
        let dfg = &self.b.func.dfg;
        let bits = dfg.value_type(x).bits();
        let Some(inst) = dfg.value_def(x).inst() else {
            return bits;
        };
        let bound = match dfg.insts[inst] {
            InstructionData::Unary {
                opcode: Opcode::Uextend,
                arg,
            } => dfg.value_type(arg).bits(),
            InstructionData::Load { opcode, .. } => match opcode {
                Opcode::Uload8 => 8,
                Opcode::Uload16 => 16,
                Opcode::Uload32 => 32,
                _ => bits,
            },
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => 64 - (imm.bits() as u64).leading_zeros(),
            InstructionData::Binary {
                opcode: opcode @ (Opcode::Band | Opcode::Bor | Opcode::Bxor),
                args: [a, b],
            } if depth > 0 => {
                let (a, b) = (
                    self.width_bound(a, depth - 1),
                    self.width_bound(b, depth - 1),
                );
                if opcode == Opcode::Band {
                    a.min(b)
                } else {
                    a.max(b)
                }
            }
            _ => bits,
        };
        bound.min(bits)
    }

    /// Truncates `x` (IR type `ty`) to `to`.
    fn narrow(&mut self, x: Value, ty: Type, to: ir::Type) -> Value {
        if cl_type(ty) == to {
            x
        } else {
            self.b.ins().ireduce(to, x)
        }
    }

    /// Extends `x` of type `from` to IR type `ty`.
    fn widen(&mut self, x: Value, from: ir::Type, ty: Type, signed: bool) -> Value {
        let to = cl_type(ty);
        if to == from {
            x
        } else if signed {
            self.b.ins().sextend(to, x)
        } else {
            self.b.ins().uextend(to, x)
        }
    }

    /// 16-byte compare-and-swap: an alignment check and a write probe in the block (so that
    /// faults are attributed to the guest instruction), then [`cmpxchg16_helper`].
    fn cmpxchg16(&mut self, dst: Temp, a: Value, expected: Temp, new: Temp) {
        self.check_alignment(a, 16);
        let p = self.host_addr(a);
        self.fence_before_atomic();
        // Write probe: an atomic add of 0 to the first byte faults here, in translated code,
        // if the 16 aligned bytes are unmapped, read-only or beyond guest_size.
        let zero8 = self.b.ins().iconst(types::I8, 0);
        self.b
            .ins()
            .atomic_rmw(types::I8, self.guest_flags, AtomicRmwOp::Add, p, zero8);
        let e = self.get(expected);
        let (elo, ehi) = self.b.ins().isplit(e);
        let n = self.get(new);
        let (nlo, nhi) = self.b.ins().isplit(n);
        let slot =
            self.b
                .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 16, 4));
        let out = self.b.ins().stack_addr(types::I64, slot, 0);
        let mut sig = Signature::new(self.backend.isa().default_call_conv());
        sig.params
            .extend(std::iter::repeat_n(AbiParam::new(types::I64), 6));
        let sig = self.b.import_signature(sig);
        let f = self.iconst(types::I64, cmpxchg16_helper as *const () as u64);
        self.b
            .ins()
            .call_indirect(sig, f, &[p, elo, ehi, nlo, nhi, out]);
        let flags = MemFlagsData::trusted();
        let lo = self.b.ins().load(types::I64, flags, out, 0);
        let hi = self.b.ins().load(types::I64, flags, out, 8);
        let v = self.b.ins().iconcat(lo, hi);
        self.fence_after_atomic();
        self.set(dst, v);
    }
}

/// Which globals a block must load at entry, load later and store where, from forward
/// passes over its ops (a may-be-dirty set and must-be-valid sets per program point, merged
/// at labels).
///
/// A global is stored at an exit or a state-syncing call only if some path to it may have
/// written it since entry or since the last sync. It is read from the state where a path
/// first needs it, not at entry, when it is clean there (the state holds its value): a block
/// whose cold side paths touch many registers does not load them all on its hot path. It is
/// loaded at entry instead when a path may need it while it is dirty on another path that
/// merges with it (the variable must hold a value on every path), and when a path that loops
/// back to the block's start (`GotoStart`) reads it, so that the loop keeps it in a register.
/// Labels that a later branch jumps back to are taken conservatively (everything written may
/// be dirty, nothing is valid). Blocks with more than 128 used globals fall back to loading
/// every used global at entry and storing every written one.
struct GlobalFlow {
    /// Bits of the globals to load at entry.
    entry: u128,
    /// Per op: bits of the globals to load just before it.
    lazy: Vec<u128>,
    /// Per op (plus one for the end): bits of the globals to store there.
    stores: Vec<u128>,
}

impl GlobalFlow {
    fn analyse(block: &Block, globals: &[(Temp, u32)]) -> GlobalFlow {
        let n_ops = block.ops.len();
        let mut index = vec![usize::MAX; block.temps.len()];
        for (i, &(t, _)) in globals.iter().enumerate() {
            index[t.0 as usize] = i;
        }
        let bit = |t: Temp| match index[t.0 as usize] {
            i if i < 128 => 1u128 << i,
            _ => 0,
        };
        let mut written_all = 0u128;
        for op in &block.ops {
            if let Some(d) = op_dst(op) {
                written_all |= bit(d);
            }
        }
        if globals.len() > 128 {
            return GlobalFlow {
                entry: u128::MAX,
                lazy: vec![0; n_ops],
                stores: vec![written_all; n_ops + 1],
            };
        }
        let all = if globals.len() == 128 {
            u128::MAX
        } else {
            (1u128 << globals.len()) - 1
        };
        // Labels jumped to from a later op.
        let mut placed = vec![usize::MAX; block.num_labels as usize];
        let mut backward = vec![false; block.num_labels as usize];
        for (i, op) in block.ops.iter().enumerate() {
            match *op {
                Op::SetLabel { label } => placed[label.0 as usize] = i,
                Op::BrCond { label, .. } | Op::Br { label } if placed[label.0 as usize] < i => {
                    backward[label.0 as usize] = true;
                }
                _ => {}
            }
        }
        let on_loop = Self::on_loop_paths(block, &backward);
        // A block that may branch back to its start is entered with what the paths that do
        // so write possibly dirty (from an earlier iteration): iterate to that set.
        let mut head = 0u128;
        loop {
            let (flow, at_loops) =
                Self::pass(block, &bit, all, written_all, &backward, &on_loop, head);
            if at_loops & !head == 0 {
                return flow;
            }
            head |= at_loops;
        }
    }

    /// For each op: true if a path from it may branch back to the block's start (or to a
    /// label placed before it, taken conservatively).
    fn on_loop_paths(block: &Block, backward: &[bool]) -> Vec<bool> {
        let n = block.ops.len();
        let mut on = vec![false; n + 1];
        let mut at_label = vec![false; block.num_labels as usize];
        for i in (0..n).rev() {
            on[i] = match block.ops[i] {
                Op::GotoStart { .. } => true,
                Op::GotoTb { .. } | Op::ExitTb { .. } | Op::LookupAndGotoPtr => false,
                Op::Br { label } => backward[label.0 as usize] || at_label[label.0 as usize],
                Op::BrCond { label, .. } => {
                    on[i + 1] || backward[label.0 as usize] || at_label[label.0 as usize]
                }
                Op::SetLabel { label } => {
                    at_label[label.0 as usize] = on[i + 1];
                    on[i + 1]
                }
                _ => on[i + 1],
            };
        }
        on
    }

    /// One forward pass, with `head` the globals dirty when the block loops back to its
    /// start; also returns the globals possibly dirty at its `GotoStart`s.
    fn pass(
        block: &Block,
        bit: &dyn Fn(Temp) -> u128,
        all: u128,
        written_all: u128,
        backward: &[bool],
        on_loop: &[bool],
        head: u128,
    ) -> (GlobalFlow, u128) {
        let n_ops = block.ops.len();
        // Per label: (may be dirty, defined by a write on every path, valid from a lazy
        // load on every path).
        let mut at_label: Vec<Option<(u128, u128, u128)>> = vec![None; block.num_labels as usize];
        let merge = |slot: &mut Option<(u128, u128, u128)>, s: (u128, u128, u128)| {
            *slot = Some(match *slot {
                Some((m, d, l)) => (m | s.0, d & s.1, l & s.2),
                None => s,
            });
        };
        let mut entry = 0u128;
        let mut lazy = vec![0u128; n_ops];
        let mut stores = vec![0u128; n_ops + 1];
        let mut at_loops = 0u128;
        let (mut may, mut def, mut lz) = (head, 0u128, 0u128);
        let mut live = true;
        for (i, op) in block.ops.iter().enumerate() {
            if let Op::SetLabel { label } = *op {
                let l = label.0 as usize;
                if live {
                    merge(&mut at_label[l], (may, def, lz));
                }
                (may, def, lz) = match at_label[l] {
                    _ if backward[l] => (written_all, 0, 0),
                    Some(s) => s,
                    // Unreachable: nothing to store, nothing to load.
                    None => (0, all, 0),
                };
                live = true;
                continue;
            }
            if !live {
                // After a terminator and before a label: unreachable.
                continue;
            }
            for_each_src(op, |t| {
                let b = bit(t);
                if b & !def & !lz & !entry == 0 {
                    return;
                }
                if b & may != 0 || on_loop[i] {
                    // Dirty on some path here (its variable must hold a value on every
                    // path), or kept in a register around the loop.
                    entry |= b;
                } else {
                    // Clean: the state holds its value.
                    lazy[i] |= b;
                    lz |= b;
                }
            });
            let sync = match *op {
                Op::Call { helper, .. } => helper.flags.reads_state || helper.flags.writes_state,
                Op::GotoTb { .. }
                | Op::GotoStart { .. }
                | Op::ExitTb { .. }
                | Op::LookupAndGotoPtr => true,
                _ => false,
            };
            if sync {
                stores[i] = may;
                entry |= may & !def & !lz;
                if let Op::GotoStart { .. } = *op {
                    at_loops |= may;
                }
                if let Op::Call { helper, .. } = *op {
                    // Memory now holds every global; after a call that writes the state the
                    // lowering reloads them all.
                    may = 0;
                    if helper.flags.writes_state {
                        def = all;
                    }
                }
            }
            if let Some(d) = op_dst(op) {
                may |= bit(d);
                def |= bit(d);
            }
            if let Op::Discard { global } = *op {
                // Dead on this path: no exit after it stores it.
                may &= !bit(global);
            }
            match *op {
                Op::BrCond { label, .. } => merge(&mut at_label[label.0 as usize], (may, def, lz)),
                Op::Br { label } => {
                    merge(&mut at_label[label.0 as usize], (may, def, lz));
                    live = false;
                }
                Op::GotoTb { .. }
                | Op::GotoStart { .. }
                | Op::ExitTb { .. }
                | Op::LookupAndGotoPtr => live = false,
                _ => {}
            }
        }
        (
            GlobalFlow {
                entry,
                lazy,
                stores,
            },
            at_loops,
        )
    }
}

/// `*out = old 16 bytes at p; if old == expected { *p = new }`, atomically with respect to
/// every other access to those bytes, on every host:
///
/// - x86-64: `lock cmpxchg16b`.
/// - aarch64: portable-atomic's `AtomicU128`: `casp` where the CPU has FEAT_LSE (detected at
///   run time), otherwise an `ldxp`/`stxp` loop (which stores back the old value when the
///   comparison fails, so the read is single-copy atomic too).
/// - riscv64: `amocas.q` where the CPU has Zacas (detected at run time with `riscv_hwprobe`);
///   without it portable-atomic falls back to a global seqlock, which is atomic only with
///   respect to other 16-byte operations, not to 8-byte atomics or plain stores to the same
///   bytes (RISC-V has no other 16-byte atomic). [`cmpxchg16_is_lock_free`] tells which: where
///   it is false the frontend must not emit 16-byte compare-and-swaps for code that other
///   threads run concurrently (the x86 frontend leaves the block and the vCPU runs the
///   instruction in an exclusive section instead).
/// - s390x: `cdsg`.
///
/// Translated code calls it only after checking that `p` is 16-aligned and writable.
extern "C" fn cmpxchg16_helper(p: u64, elo: u64, ehi: u64, nlo: u64, nhi: u64, out: u64) {
    let p = p as usize as *mut u64;
    let out = out as usize as *mut u64;
    #[cfg(target_arch = "x86_64")]
    {
        let (mut lo, mut hi) = (elo, ehi);
        // SAFETY: translated code passes a 16-aligned host address inside guest memory that
        // it has just probed for writing; rbx (reserved by LLVM) is swapped with a scratch
        // register around the instruction and restored before the asm block ends.
        unsafe {
            std::arch::asm!(
                "xchg {tmp}, rbx",
                "lock cmpxchg16b xmmword ptr [{p}]",
                "mov rbx, {tmp}",
                p = in(reg) p,
                tmp = inout(reg) nlo => _,
                inout("rax") lo,
                inout("rdx") hi,
                in("rcx") nhi,
                options(nostack),
            );
            // SAFETY: `out` is the 16-byte stack slot of the calling block.
            out.write(lo);
            out.add(1).write(hi);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use portable_atomic::{AtomicU128, Ordering};
        // Guest memory is little-endian: the pair as the 16 bytes it is in memory, read as a
        // host integer (so that the comparison is of bytes, whatever the host's byte order).
        let pair = |lo: u64, hi: u64| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&lo.to_le_bytes());
            b[8..].copy_from_slice(&hi.to_le_bytes());
            u128::from_ne_bytes(b)
        };
        // SAFETY: `p` is 16-aligned (checked by the caller), inside guest memory and writable
        // (probed), and every access to it here is atomic; AtomicU128 has u128's layout.
        let cell = unsafe { AtomicU128::from_ptr(p.cast::<u128>()) };
        let old = match cell.compare_exchange(
            pair(elo, ehi),
            pair(nlo, nhi),
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(v) | Err(v) => v,
        };
        let b = old.to_ne_bytes();
        let half = |h: &[u8]| u64::from_le_bytes(h.try_into().expect("8 bytes"));
        // SAFETY: `out` is the 16-byte stack slot of the calling block.
        unsafe {
            out.write(half(&b[..8]));
            out.add(1).write(half(&b[8..]));
        }
    }
}

/// True if the host's atomic instructions accept operands that are not naturally aligned, as
/// x86's locked instructions do (split locks): x86-64 only. Elsewhere such an access faults
/// (aarch64, riscv64, s390x), and the lowering of an atomic requires a naturally aligned
/// address: a frontend whose guest allows misaligned atomics must divert them (the x86
/// frontend leaves the block and the vCPU runs the instruction in an exclusive section).
pub fn misaligned_atomics_supported() -> bool {
    cfg!(target_arch = "x86_64")
}

/// True if 16-byte compare-and-swap on this host is atomic with respect to every other
/// access to the same bytes (always, except on riscv64 CPUs without Zacas; see
/// [`cmpxchg16_helper`]).
pub fn cmpxchg16_is_lock_free() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // x86-64 hosts without CMPXCHG16B (the very first ones) are not supported.
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable_atomic::AtomicU128::is_lock_free()
    }
}
