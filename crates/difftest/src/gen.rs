//! Random sequences: 1 to a few instructions from the forms under test, with random
//! operands (registers of every size incl. ah..bh, immediates, memory operands with every
//! addressing form pointing into the scratch buffer), prefixes (lock, rep/repe/repne) and
//! forward branches, and a random initial state (GPRs, flags, xmm, MXCSR, x87, memory).
//!
//! Sequence `index` of seed `seed` depends on nothing else than the two numbers and the
//! form pool, so any sequence can be replayed alone.

use iced_x86::{
    BlockEncoder, BlockEncoderOptions, Code, Decoder, DecoderOptions, Encoder, FlowControl,
    Instruction, InstructionBlock, InstructionInfoFactory, Mnemonic as M, OpAccess,
    OpCodeOperandKind as K, OpKind, Register, RflagsBits,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::forms::{regs_of, Class, Form};
use crate::state::{CpuState, CODE, CODE_MAX, DATA, DATA_SIZE, G, SIZE, STACK_LO, STACK_TOP};

/// A generated sequence, ready to run.
#[derive(Clone, Debug)]
pub struct Sequence {
    /// The instructions as encoded (real addresses), without the terminator.
    pub insns: Vec<Instruction>,
    /// The encoded body followed by the terminating `hlt`.
    pub bytes: Vec<u8>,
    /// Address of the terminating `hlt`.
    pub end: u64,
    /// The initial state.
    pub init: CpuState,
    /// The test region image (code included).
    pub image: Vec<u8>,
    /// Arithmetic RFLAGS bits undefined on entry to each instruction, then at the
    /// terminator (in RFLAGS positions; not compared).
    pub undefined_in: Vec<u64>,
    /// The forms used, in order.
    pub forms: Vec<Code>,
    /// Memory bytes not compared, with why (e.g. the CPU-model specific MXCSR_MASK that
    /// `fxsave` stores).
    pub masked: Vec<(std::ops::Range<u64>, &'static str)>,
}

/// What a pinned register must hold for an instruction to stay inside the test region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// A string operand pointer: inside the scratch buffer with room both ways.
    Ptr,
    /// A stack pointer.
    Stack,
    /// A small repeat count.
    Count,
    /// A bit offset of a `bt*` memory form, at most this many bits either way.
    BitOffset,
}

impl Need {
    fn accepts(self, v: u64) -> bool {
        match self {
            Need::Ptr => (DATA + 0x300..DATA + DATA_SIZE - 0x300).contains(&v),
            Need::Stack => (STACK_LO + 0x400..STACK_TOP - 0x100).contains(&v),
            Need::Count => v <= 64,
            Need::BitOffset => (v as i64).unsigned_abs() <= 0x1800,
        }
    }
    fn fresh(self, rng: &mut StdRng) -> u64 {
        match self {
            Need::Ptr => DATA + 0x400 + rng.gen_range(0..DATA_SIZE - 0x800),
            Need::Stack => STACK_TOP - 0x800 + 8 * rng.gen_range(0..64u64),
            Need::Count => {
                if rng.gen_bool(0.8) {
                    rng.gen_range(0..=12)
                } else {
                    rng.gen_range(0..=64)
                }
            }
            Need::BitOffset => rng.gen_range(-0x1800i64..=0x1800) as u64,
        }
    }
}

const RSP: usize = 4;
const RBP: usize = 5;
const RSI: usize = 6;
const RDI: usize = 7;
const RCX: usize = 1;
const RBX: usize = 3;

struct Gen<'a> {
    rng: StdRng,
    forms: &'a [Form],
    by_class: [Vec<usize>; 4],
    init: CpuState,
    image: Vec<u8>,
    /// GPRs whose initial value is fixed (an address, count, ...).
    pinned: u16,
    /// GPRs written by an earlier instruction.
    clobbered: u16,
    /// GPRs an earlier instruction moved far from their initial value while keeping them
    /// usable for implicit operands (rbp after `enter`): no longer memory operand bases.
    moved: u16,
    /// An earlier instruction wrote memory.
    mem_written: bool,
    insns: Vec<Instruction>,
    used: Vec<Code>,
    /// Per instruction: the index of the instruction a branch targets (`n` = terminator).
    targets: Vec<Option<usize>>,
    /// Undefined-flags dataflow: the set at entry to each instruction so far.
    undef_in: Vec<u64>,
    undef_out: Vec<u64>,
    info: InstructionInfoFactory,
    /// An earlier instruction is an x87 transcendental (see
    /// [`crate::compare::has_x87_transcendental`]): no x87 instruction may follow, so its
    /// result, compared within one ulp, is not used (an x87 remainder, for one, turns a
    /// one-ulp difference into a large one).
    after_transcendental: bool,
    masked: Vec<(std::ops::Range<u64>, &'static str)>,
}

fn fake_ip(i: usize) -> u64 {
    CODE + 16 * i as u64
}

const INTERESTING: [u64; 16] = [
    0,
    1,
    2,
    u64::MAX,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0x1_0000_0000,
];

fn value(rng: &mut StdRng) -> u64 {
    match rng.gen_range(0..10) {
        0..=2 => INTERESTING[rng.gen_range(0..INTERESTING.len())],
        3 => rng.gen_range(0..64),
        4 => (rng.gen_range(0..64) as u64).wrapping_neg(),
        5 => u64::from(rng.gen::<u32>()),
        6 => u64::from(rng.gen::<u8>()) << (8 * rng.gen_range(0..8)),
        _ => rng.gen(),
    }
}

/// A random 64-bit lane for xmm registers: integers, or float bit patterns with specials.
fn fp_lane(rng: &mut StdRng) -> u64 {
    const F64: [u64; 12] = [
        0,
        0x8000_0000_0000_0000,
        0x3ff0_0000_0000_0000, // 1.0
        0xbff8_0000_0000_0000, // -1.5
        0x7ff0_0000_0000_0000, // inf
        0xfff0_0000_0000_0000, // -inf
        0x7ff8_0000_0000_0000, // qnan
        0x7ff4_0000_0000_0001, // snan
        0x0000_0000_0000_0001, // denormal
        0x7fef_ffff_ffff_ffff, // max
        0x4340_0000_0000_0000, // 2^53
        0x41e0_0000_0000_0000, // 2^31
    ];
    const F32: [u32; 12] = [
        0,
        0x8000_0000,
        0x3f80_0000,
        0xbfc0_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0x7fa0_0001,
        0x0000_0001,
        0x7f7f_ffff,
        0x4f00_0000,
        0x4b00_0000,
    ];
    match rng.gen_range(0..6) {
        0 => F64[rng.gen_range(0..F64.len())],
        1 => {
            let lo = F32[rng.gen_range(0..F32.len())];
            let hi = F32[rng.gen_range(0..F32.len())];
            u64::from(lo) | u64::from(hi) << 32
        }
        2 => {
            // A "normal" double of moderate magnitude.
            let f: f64 = rng.gen_range(-1e6..1e6);
            f.to_bits()
        }
        3 => {
            let a: f32 = rng.gen_range(-1e4..1e4);
            let b: f32 = rng.gen_range(-1e4..1e4);
            u64::from(a.to_bits()) | u64::from(b.to_bits()) << 32
        }
        _ => value(rng),
    }
}

/// A random x87 register value (significand, sign and exponent).
fn x87_value(rng: &mut StdRng) -> (u64, u16) {
    match rng.gen_range(0..11) {
        // Integer patterns, as MMX instructions see the significands.
        10 => (value(rng), rng.gen()),
        0..=3 => {
            let f: f64 = match rng.gen_range(0..3) {
                0 => rng.gen_range(-10.0..10.0),
                1 => rng.gen_range(-1e12..1e12),
                _ => [0.0, -0.0, 1.0, -1.0, 0.5, 2.5, 1e300, -1e-300][rng.gen_range(0..8)],
            };
            let b = f.to_bits();
            let sign = ((b >> 63) as u16) << 15;
            let e = ((b >> 52) & 0x7ff) as u16;
            if e == 0 {
                (0, sign)
            } else {
                (1 << 63 | (b << 11), sign | (e + 16383 - 1023))
            }
        }
        4..=6 => {
            let e: u16 = 16383 + rng.gen_range(0..80) - 40;
            (
                rng.gen::<u64>() | 1 << 63,
                e | if rng.gen() { 0x8000 } else { 0 },
            )
        }
        7 => [
            (1 << 63, 0x7fff),
            (1 << 63, 0xffff),
            (0xc000_0000_0000_0000, 0x7fff),
            (0xa000_0000_0000_0001, 0x7fff),
            (0xc000_0000_0000_0000, 0xffff),
        ][rng.gen_range(0..5)],
        8 => (rng.gen::<u64>() >> 1, if rng.gen() { 0x8000 } else { 0 }),
        _ => (1 << 63, 16383 + rng.gen_range(0..64)),
    }
}

/// An MXCSR with every exception masked and random rounding control, FTZ and DAZ, no flags.
fn random_mxcsr(rng: &mut StdRng) -> u32 {
    let mut mx = 0x1f80u32 | (rng.gen_range(0..4u32) << 13);
    if rng.gen_bool(0.3) {
        mx |= 0x8000; // FTZ
    }
    if rng.gen_bool(0.3) {
        mx |= 0x40; // DAZ
    }
    mx
}

fn random_state(rng: &mut StdRng) -> (CpuState, Vec<u8>) {
    let mut s = CpuState::default();
    for r in s.gpr.iter_mut() {
        *r = value(rng);
    }
    s.gpr[RSP] = Need::Stack.fresh(rng);
    let mut f = 0x202u64;
    for bit in [0u64, 2, 4, 6, 7, 11] {
        if rng.gen() {
            f |= 1 << bit;
        }
    }
    if rng.gen_bool(0.3) {
        f |= 1 << 10; // DF
    }
    s.rflags = f;
    for i in 0..16 {
        s.set_xmm(i, [fp_lane(rng), fp_lane(rng)]);
    }
    // MXCSR: every exception masked (unmasked SIMD exceptions are not delivered), random
    // rounding, FTZ, DAZ and sticky flags.
    let mut mx = random_mxcsr(rng);
    if rng.gen_bool(0.3) {
        mx |= rng.gen_range(0..64u32);
    }
    s.set_u32(crate::state::fx::MXCSR, mx);
    // x87: random rounding and precision control, random TOP and tags; sometimes unmasked
    // exceptions, and sometimes exception flags already raised: an unmasked one is pending
    // (ES and B set, as the hardware derives them) and the next waiting x87 or MMX
    // instruction, `fwait` included, raises #MF.
    let cw = 0x037fu16 & !0x0f00 | (rng.gen_range(0..4u16) << 10) | (rng.gen_range(0..4u16) << 8);
    let mut cw = if rng.gen_bool(0.5) { 0x037f } else { cw };
    if rng.gen_bool(0.1) {
        cw &= !rng.gen_range(0..64u16);
    }
    s.set_u16(crate::state::fx::FCW, cw);
    let top = rng.gen_range(0..8u16);
    let mut sw = top << 11;
    for b in [8u16, 9, 10, 14] {
        if rng.gen() {
            sw |= 1 << b;
        }
    }
    if rng.gen_bool(0.1) {
        sw |= rng.gen_range(0..64u16);
    }
    if sw & !cw & 0x3f != 0 {
        sw |= 0x8080;
    }
    s.set_u16(crate::state::fx::FSW, sw);
    let mut tags = 0u8;
    let valid_p = [0.0, 0.3, 0.7, 1.0][rng.gen_range(0..4)];
    for i in 0..8 {
        if rng.gen_bool(valid_p) {
            tags |= 1 << i;
        }
    }
    s.fx[crate::state::fx::FTW] = tags;
    for i in 0..8 {
        s.set_st(i, x87_value(rng));
    }
    let mut image = vec![0u8; SIZE as usize];
    let d = (DATA - G) as usize;
    let e = (STACK_TOP - G) as usize;
    rng.fill(&mut image[d..e]);
    // Some runs of zeros and repeated bytes (for repe/repne compares and scans).
    for _ in 0..rng.gen_range(0..6) {
        let at = d + rng.gen_range(0..(DATA_SIZE as usize - 64));
        let len = rng.gen_range(1..64);
        let b = if rng.gen() { 0 } else { rng.gen() };
        image[at..at + len].fill(b);
    }
    // Some float values in the scratch buffer for memory operands.
    for _ in 0..64 {
        let at = d + 8 * rng.gen_range(0..(DATA_SIZE as usize / 8));
        let v = fp_lane(rng);
        image[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    (s, image)
}

fn gpr_index(r: Register) -> Option<usize> {
    r.is_gpr().then(|| r.full_register().number())
}

fn bit(r: usize) -> u16 {
    1 << r
}

fn to_x86_flags(f: u32) -> u64 {
    let mut r = 0;
    for (b, x) in [
        (RflagsBits::OF, 1u64 << 11),
        (RflagsBits::SF, 1 << 7),
        (RflagsBits::ZF, 1 << 6),
        (RflagsBits::AF, 1 << 4),
        (RflagsBits::CF, 1),
        (RflagsBits::PF, 1 << 2),
    ] {
        if f & b != 0 {
            r |= x;
        }
    }
    r
}

fn is_string(m: M) -> bool {
    use M::*;
    matches!(
        m,
        Movsb
            | Movsw
            | Movsd
            | Movsq
            | Stosb
            | Stosw
            | Stosd
            | Stosq
            | Lodsb
            | Lodsw
            | Lodsd
            | Lodsq
            | Cmpsb
            | Cmpsw
            | Cmpsd
            | Cmpsq
            | Scasb
            | Scasw
            | Scasd
            | Scasq
    )
}

fn is_stack_op(m: M) -> bool {
    use M::*;
    matches!(
        m,
        Push | Pop | Pushf | Pushfq | Popf | Popfq | Call | Enter | Leave
    )
}

/// Builds one instance of `form` with throwaway operands (for discovery).
pub(crate) fn sample_bytes(form: &Form) -> Option<Vec<u8>> {
    for seed in 0..64 {
        let mut g = Gen::new(&[], seed);
        let Ok(mut ins) = g.build(form, 0, 1) else {
            continue;
        };
        if g.finish(form, &mut ins, 0).is_err() {
            continue;
        }
        if ins.is_ip_rel_memory_operand() {
            ins.set_memory_displacement64(CODE + 0x100);
        }
        if matches!(ins.op0_kind(), OpKind::NearBranch64) {
            ins.set_near_branch64(CODE + 0x20);
        }
        let mut enc = Encoder::new(64);
        if enc.encode(&ins, CODE).is_ok() {
            return Some(enc.take_buffer());
        }
    }
    None
}

/// Why an instruction cannot go at this position.
struct Reject;

impl<'a> Gen<'a> {
    fn new(forms: &'a [Form], seed: u64) -> Gen<'a> {
        let mut rng = StdRng::seed_from_u64(seed);
        let (init, image) = random_state(&mut rng);
        let mut by_class: [Vec<usize>; 4] = Default::default();
        for (i, f) in forms.iter().enumerate() {
            by_class[f.class as usize].push(i);
        }
        Gen {
            rng,
            forms,
            by_class,
            init,
            image,
            pinned: bit(RSP),
            clobbered: 0,
            moved: 0,
            mem_written: false,
            insns: vec![],
            used: vec![],
            targets: vec![],
            undef_in: vec![],
            undef_out: vec![],
            info: InstructionInfoFactory::new(),
            after_transcendental: false,
            masked: vec![],
        }
    }

    fn pick_form(&mut self) -> &'a Form {
        // int, sse, x87, mmx.
        let weights = [0.5, 0.27, 0.15, 0.08];
        let classes: Vec<usize> = (0..4).filter(|&c| !self.by_class[c].is_empty()).collect();
        let total: f64 = classes.iter().map(|&c| weights[c]).sum();
        let mut x = self.rng.gen_range(0.0..total);
        let mut class = classes[0];
        for &c in &classes {
            if x < weights[c] {
                class = c;
                break;
            }
            x -= weights[c];
        }
        let v = &self.by_class[class];
        &self.forms[v[self.rng.gen_range(0..v.len())]]
    }

    /// Requires GPR `r` to hold a value `need` accepts at this point of the sequence.
    fn require(&mut self, r: usize, need: Need) -> Result<(), Reject> {
        if self.clobbered & bit(r) != 0 {
            return Err(Reject);
        }
        if self.pinned & bit(r) != 0 {
            return if need.accepts(self.init.gpr[r]) {
                Ok(())
            } else {
                Err(Reject)
            };
        }
        self.init.gpr[r] = need.fresh(&mut self.rng);
        self.pinned |= bit(r);
        Ok(())
    }

    /// A memory target of `size` bytes in the scratch buffer.
    fn target(&mut self, size: usize, align: usize) -> u64 {
        let lo = DATA + 0x400;
        let hi = DATA + DATA_SIZE - 0x400 - size.max(16) as u64;
        let t = self.rng.gen_range(lo..hi);
        let a = align.max(1) as u64;
        if self.rng.gen_bool(0.85) {
            t & !(a - 1)
        } else {
            t
        }
    }

    fn random_disp(&mut self) -> i64 {
        match self.rng.gen_range(0..4) {
            0 => 0,
            1 => self.rng.gen_range(-128..128),
            2 => self.rng.gen_range(-0x1000..0x1000),
            _ => self.rng.gen_range(-0x10_0000..0x10_0000),
        }
    }

    /// Sets up a memory operand of `size` bytes at a fresh target; returns the target.
    fn memory(&mut self, ins: &mut Instruction, size: usize, moffs: bool) -> Result<u64, Reject> {
        let t = self.target(size, size.clamp(1, 16));
        ins.set_memory_index_scale(1);
        if moffs {
            ins.set_memory_base(Register::None);
            ins.set_memory_index(Register::None);
            ins.set_memory_displacement64(t);
            ins.set_memory_displ_size(8);
            return Ok(t);
        }
        match self.rng.gen_range(0..10) {
            0 => {
                // rip-relative
                ins.set_memory_base(Register::RIP);
                ins.set_memory_index(Register::None);
                ins.set_memory_displacement64(t);
                ins.set_memory_displ_size(8);
                return Ok(t);
            }
            1 => {
                // absolute disp32
                ins.set_memory_base(Register::None);
                ins.set_memory_index(Register::None);
                ins.set_memory_displacement64(t);
                ins.set_memory_displ_size(4);
                return Ok(t);
            }
            _ => {}
        }
        let addr32 = self.rng.gen_bool(0.1);
        let regs = if addr32 {
            regs_of(K::r32_reg)
        } else {
            regs_of(K::r64_reg)
        };
        let base_i = self.rng.gen_range(0..16);
        let use_base = self.rng.gen_bool(0.9);
        let use_index = self.rng.gen_bool(0.5);
        let mut index_i = self.rng.gen_range(0..16);
        if index_i == RSP {
            index_i = 0;
        }
        let scale = [1u64, 2, 4, 8][self.rng.gen_range(0..4)];
        if !use_base && !use_index {
            return Err(Reject);
        }
        for r in [use_base.then_some(base_i), use_index.then_some(index_i)]
            .into_iter()
            .flatten()
        {
            if (self.clobbered | self.moved) & bit(r) != 0 {
                return Err(Reject);
            }
        }
        if use_base && use_index && base_i == index_i && self.pinned & bit(base_i) == 0 {
            return Err(Reject);
        }
        let mut idx_val = 0u64;
        if use_index {
            if self.pinned & bit(index_i) == 0 {
                let v = self.rng.gen_range(-64i64..64) as u64;
                self.init.gpr[index_i] = v;
                self.pinned |= bit(index_i);
            }
            idx_val = self.init.gpr[index_i].wrapping_mul(scale);
        }
        let mut disp = self.random_disp() as u64;
        if use_base {
            if self.pinned & bit(base_i) == 0 {
                self.init.gpr[base_i] = t.wrapping_sub(disp).wrapping_sub(idx_val);
                self.pinned |= bit(base_i);
            }
            disp = t.wrapping_sub(self.init.gpr[base_i]).wrapping_sub(idx_val);
        } else {
            disp = t.wrapping_sub(idx_val);
        }
        let mut sdisp = disp as i64;
        if addr32 {
            sdisp = (disp as u32) as i32 as i64;
            let b = if use_base {
                self.init.gpr[base_i] as u32
            } else {
                0
            };
            let ea = b
                .wrapping_add(
                    self.init.gpr[index_i].wrapping_mul(scale) as u32 * u32::from(use_index),
                )
                .wrapping_add(sdisp as u32);
            if u64::from(ea) != t {
                return Err(Reject);
            }
        } else if sdisp != i64::from(sdisp as i32) {
            return Err(Reject);
        }
        ins.set_memory_base(if use_base {
            regs[base_i]
        } else {
            Register::None
        });
        ins.set_memory_index(if use_index {
            regs[index_i]
        } else {
            Register::None
        });
        ins.set_memory_index_scale(scale as u32);
        ins.set_memory_displacement64(sdisp as u64);
        let ds = if sdisp == 0 && use_base && base_i != RBP && base_i != 13 {
            0
        } else if (-128..128).contains(&sdisp) && use_base {
            1
        } else {
            4
        };
        ins.set_memory_displ_size(ds);
        Ok(t)
    }

    fn imm(&mut self, bits: u32) -> u64 {
        let v = value(&mut self.rng);
        match bits {
            8 => v & 0xff,
            16 => v & 0xffff,
            32 => v & 0xffff_ffff,
            _ => v,
        }
    }

    /// Builds an instance of `form` at position `pos` of `n` instructions.
    fn build(&mut self, form: &Form, pos: usize, n: usize) -> Result<Instruction, Reject> {
        let approximation = crate::compare::is_approximation(form.mnemonic);
        if approximation && pos + 1 != n {
            // Its result may differ from the host's within a bound: nothing may use it.
            return Err(Reject);
        }
        let mut ins = Instruction::default();
        ins.set_code(form.code);
        ins.set_ip(fake_ip(pos));
        let msize = ins.memory_size().size();
        let mut target = None;
        let mut prev_imm16 = false;
        for (i, &k) in form.ops.iter().enumerate() {
            let i = i as u32;
            let regs = regs_of(k);
            let mem_ok = matches!(
                k,
                K::r8_or_mem
                    | K::r16_or_mem
                    | K::r32_or_mem
                    | K::r64_or_mem
                    | K::xmm_or_mem
                    | K::mm_or_mem
            );
            if matches!(k, K::mem | K::mem_offs) || (mem_ok && self.rng.gen_bool(0.5)) {
                ins.set_op_kind(i, OpKind::Memory);
                target = Some(self.memory(&mut ins, msize.max(1), k == K::mem_offs)?);
                continue;
            }
            if !regs.is_empty() {
                let mut n = regs.len();
                if regs.len() == 20 && self.rng.gen_bool(0.6) {
                    n = 16; // high-byte registers less often
                }
                let r = regs[self.rng.gen_range(0..n)];
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, r);
                continue;
            }
            match k {
                K::al | K::cl | K::ax | K::eax | K::rax | K::st0 => {
                    let r = match k {
                        K::al => Register::AL,
                        K::cl => Register::CL,
                        K::ax => Register::AX,
                        K::eax => Register::EAX,
                        K::rax => Register::RAX,
                        _ => Register::ST0,
                    };
                    ins.set_op_kind(i, OpKind::Register);
                    ins.set_op_register(i, r);
                }
                K::imm8 if prev_imm16 => {
                    ins.set_op_kind(i, OpKind::Immediate8_2nd);
                    ins.set_immediate8_2nd(self.imm(8) as u8);
                }
                K::imm8 => {
                    ins.set_op_kind(i, OpKind::Immediate8);
                    ins.set_immediate8(self.imm(8) as u8);
                }
                K::imm8_const_1 => {
                    ins.set_op_kind(i, OpKind::Immediate8);
                    ins.set_immediate8(1);
                }
                K::imm8sex16 => {
                    ins.set_op_kind(i, OpKind::Immediate8to16);
                    ins.set_immediate8to16(self.imm(8) as i8 as i16);
                }
                K::imm8sex32 => {
                    ins.set_op_kind(i, OpKind::Immediate8to32);
                    ins.set_immediate8to32(self.imm(8) as i8 as i32);
                }
                K::imm8sex64 => {
                    ins.set_op_kind(i, OpKind::Immediate8to64);
                    ins.set_immediate8to64(self.imm(8) as i8 as i64);
                }
                K::imm16 => {
                    ins.set_op_kind(i, OpKind::Immediate16);
                    ins.set_immediate16(self.imm(16) as u16);
                }
                K::imm32 => {
                    ins.set_op_kind(i, OpKind::Immediate32);
                    ins.set_immediate32(self.imm(32) as u32);
                }
                K::imm32sex64 => {
                    ins.set_op_kind(i, OpKind::Immediate32to64);
                    ins.set_immediate32to64(self.imm(32) as u32 as i32 as i64);
                }
                K::imm64 => {
                    ins.set_op_kind(i, OpKind::Immediate64);
                    ins.set_immediate64(self.imm(64));
                }
                K::seg_rSI => ins.set_op_kind(i, OpKind::MemorySegRSI),
                K::seg_rDI => ins.set_op_kind(i, OpKind::MemorySegRDI),
                K::es_rDI => ins.set_op_kind(i, OpKind::MemoryESRDI),
                K::seg_rBX_al => {
                    ins.set_op_kind(i, OpKind::Memory);
                    ins.set_memory_base(Register::RBX);
                    ins.set_memory_index(Register::AL);
                    ins.set_memory_index_scale(1);
                    ins.set_memory_displ_size(0);
                }
                K::br64_1 | K::br64_4 => {
                    // A forward target: a later instruction or the terminator.
                    let j = self.rng.gen_range(pos + 1..=n);
                    ins.set_op_kind(i, OpKind::NearBranch64);
                    ins.set_near_branch64(fake_ip(j));
                }
                _ => return Err(Reject),
            }
            prev_imm16 = k == K::imm16;
        }
        ins.set_segment_prefix(Register::None);
        let _ = target;
        if approximation
            && ins.op1_kind() == OpKind::Register
            && ins.op1_register() == ins.op0_register()
        {
            // The operand must survive for the bound check.
            return Err(Reject);
        }
        Ok(ins)
    }

    /// Prefixes, implicit-register needs and per-mnemonic value fix-ups for `ins`.
    fn finish(&mut self, form: &Form, ins: &mut Instruction, pos: usize) -> Result<(), Reject> {
        let m = form.mnemonic;
        let oc = form.code.op_code();
        let has_mem = (0..ins.op_count()).any(|i| ins.op_kind(i) == OpKind::Memory);
        if oc.can_use_lock_prefix()
            && has_mem
            && ins.op0_kind() == OpKind::Memory
            && self.rng.gen_bool(0.3)
        {
            ins.set_has_lock_prefix(true);
        }
        let first = pos == 0;
        if is_string(m) {
            if self.rng.gen_bool(0.6) {
                if matches!(
                    m,
                    M::Cmpsb
                        | M::Cmpsw
                        | M::Cmpsd
                        | M::Cmpsq
                        | M::Scasb
                        | M::Scasw
                        | M::Scasd
                        | M::Scasq
                ) {
                    if self.rng.gen() {
                        ins.set_has_repe_prefix(true);
                    } else {
                        ins.set_has_repne_prefix(true);
                    }
                } else {
                    ins.set_has_rep_prefix(true);
                }
                self.require(RCX, Need::Count)?;
            }
            for i in 0..ins.op_count() {
                match ins.op_kind(i) {
                    OpKind::MemorySegRSI => self.require(RSI, Need::Ptr)?,
                    OpKind::MemoryESRDI | OpKind::MemorySegRDI => self.require(RDI, Need::Ptr)?,
                    _ => {}
                }
            }
        }
        for i in 0..ins.op_count() {
            if ins.op_kind(i) == OpKind::MemorySegRDI {
                self.require(RDI, Need::Ptr)?; // maskmovdqu
            }
        }
        if m == M::Xlatb {
            self.require(RBX, Need::Ptr)?;
        }
        if is_stack_op(m) || form.code.is_stack_instruction() {
            self.require(RSP, Need::Stack)?;
        }
        if m == M::Leave {
            self.require(RBP, Need::Stack)?;
        }
        if m == M::Enter {
            // At most a small frame, nesting level 0 (levels > 0 are not implemented:
            // see `limits`).
            ins.set_immediate16(ins.immediate16() & 0xf8);
            ins.set_immediate8_2nd(0);
        }
        if matches!(m, M::Bt | M::Bts | M::Btr | M::Btc)
            && ins.op0_kind() == OpKind::Memory
            && ins.op1_kind() == OpKind::Register
        {
            let r = gpr_index(ins.op1_register()).ok_or(Reject)?;
            self.require(r, Need::BitOffset)?;
        }
        // Value fix-ups on the initial state: only where the operand still holds it.
        let reg_free = |g: &Gen, r: Register| -> Option<usize> {
            let i = gpr_index(r)?;
            (g.clobbered & bit(i) == 0 && g.pinned & bit(i) == 0).then_some(i)
        };
        match m {
            // `int 0x80` is the 32-bit system call: excluded (it would enter the kernel).
            M::Int if ins.immediate8() == 0x80 => return Err(Reject),
            M::Div | M::Idiv if self.rng.gen_bool(0.75) => {
                let size = ins
                    .memory_size()
                    .size()
                    .max(if ins.op0_kind() == OpKind::Register {
                        ins.op0_register().size()
                    } else {
                        0
                    });
                self.fix_divisor(ins, size, m == M::Idiv, first, &reg_free)?;
            }
            M::Shld | M::Shrd => {
                // A 16-bit count above 16 leaves the result undefined.
                let size = if ins.op0_kind() == OpKind::Register {
                    ins.op0_register().size()
                } else {
                    ins.memory_size().size()
                };
                if size == 2 {
                    if ins.op2_kind() == OpKind::Immediate8 {
                        let c = ins.immediate8() & 31;
                        if c > 16 {
                            ins.set_immediate8(ins.immediate8() & !31 | (c % 17));
                        }
                    } else {
                        let r = reg_free(self, Register::RCX).ok_or(Reject)?;
                        let v = self.init.gpr[r];
                        if v & 31 > 16 {
                            self.init.gpr[r] = v & !31 | ((v & 31) % 17);
                        }
                        self.pinned |= bit(r);
                    }
                }
            }
            M::Cmpxchg8b | M::Cmpxchg16b if !self.mem_written => {
                let size = ins.memory_size().size() / 2;
                let a = self.mem_addr(ins).ok_or(Reject)?;
                if m == M::Cmpxchg16b && self.rng.gen_bool(0.9) && a % 16 != 0 {
                    return Err(Reject);
                }
                if self.rng.gen() {
                    if let (Some(ra), Some(rd)) =
                        (reg_free(self, Register::RAX), reg_free(self, Register::RDX))
                    {
                        let lo = self.read_mem(a, size);
                        let hi = self.read_mem(a + size as u64, size);
                        self.init.gpr[ra] = lo;
                        self.init.gpr[rd] = hi;
                        self.pinned |= bit(ra) | bit(rd);
                    }
                }
            }
            M::Cmpxchg if self.rng.gen() => {
                let size = if ins.op0_kind() == OpKind::Register {
                    ins.op0_register().size()
                } else {
                    ins.memory_size().size()
                };
                let cur = if ins.op0_kind() == OpKind::Memory {
                    if self.mem_written {
                        None
                    } else {
                        self.mem_addr(ins).map(|a| self.read_mem(a, size))
                    }
                } else {
                    let r = ins.op0_register();
                    gpr_index(r)
                        .filter(|&i| self.clobbered & bit(i) == 0)
                        .map(|i| reg_value(self.init.gpr[i], r))
                };
                if let (Some(v), Some(ra)) = (cur, reg_free(self, Register::RAX)) {
                    let mask = if size == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * size)) - 1
                    };
                    self.init.gpr[ra] = self.init.gpr[ra] & !mask | v & mask;
                    self.pinned |= bit(ra);
                }
            }
            M::Fxsave | M::Fxsave64 => {
                let a = self.mem_addr(ins).ok_or(Reject)?;
                self.masked
                    .push((a + 28..a + 32, "fxsave's MXCSR_MASK is CPU-model specific"));
                self.masked.push((
                    a + 6..a + 24,
                    "the last x87 instruction and operand pointers (FOP, FIP, FDP) are not \
                     tracked (AMD stores them only with an exception pending)",
                ));
            }
            M::Fnstenv | M::Fstenv | M::Fnsave | M::Fsave => {
                let a = self.mem_addr(ins).ok_or(Reject)?;
                self.masked.push((
                    a + 12..a + 28,
                    "the last x87 instruction and operand pointers (FIP, FCS, FOP, FDP, FDS) \
                     are not tracked",
                ));
            }
            M::Ldmxcsr if !self.mem_written => {
                let a = self.mem_addr(ins).ok_or(Reject)?;
                let v = random_mxcsr(&mut self.rng) | self.rng.gen_range(0..64u32);
                self.write_mem(a, 4, u64::from(v));
            }
            M::Fldcw if !self.mem_written => {
                let a = self.mem_addr(ins).ok_or(Reject)?;
                let v = 0x7fu64 | (self.rng.gen_range(0..16u64) << 8);
                self.write_mem(a, 2, v);
            }
            M::Fxrstor | M::Fxrstor64 if !self.mem_written => {
                let a = self.mem_addr(ins).ok_or(Reject)?;
                let mut img = CpuState::default();
                let (s, _) = random_state(&mut self.rng);
                img.fx = s.fx;
                img.set_u16(0, 0x7f | (self.rng.gen_range(0..16u16) << 8));
                img.set_u32(24, random_mxcsr(&mut self.rng));
                img.set_u32(28, 0);
                for (i, b) in img.fx.iter().enumerate() {
                    self.write_mem(a + i as u64, 1, u64::from(*b));
                }
            }
            M::Fldenv if !self.mem_written => {
                let a = self.mem_addr(ins).ok_or(Reject)?;
                let v = 0x7fu64 | (self.rng.gen_range(0..16u64) << 8);
                self.write_mem(a, 2, v);
            }
            M::Cmpxchg8b | M::Cmpxchg16b => {
                let a = self.mem_addr(ins).ok_or(Reject)?;
                if m == M::Cmpxchg16b && self.rng.gen_bool(0.9) && a % 16 != 0 {
                    return Err(Reject);
                }
            }
            M::Ldmxcsr | M::Fldcw | M::Fxrstor | M::Fxrstor64 | M::Fldenv => return Err(Reject),
            _ => {}
        }
        Ok(())
    }

    fn fix_divisor(
        &mut self,
        ins: &Instruction,
        size: usize,
        signed: bool,
        first: bool,
        reg_free: &dyn Fn(&Gen, Register) -> Option<usize>,
    ) -> Result<(), Reject> {
        let _ = first;
        let mask = if size == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * size)) - 1
        };
        let divisor = if ins.op0_kind() == OpKind::Memory {
            if self.mem_written {
                return Ok(());
            }
            let a = self.mem_addr(ins).ok_or(Reject)?;
            let mut d = self.read_mem(a, size);
            if d == 0 {
                d = 1 + self.rng.gen_range(0..mask.min(1000));
                self.write_mem(a, size, d);
            }
            d
        } else {
            let r = ins.op0_register();
            let Some(i) = gpr_index(r) else { return Ok(()) };
            if self.clobbered & bit(i) != 0 || matches!(i, 0 | 2) {
                return Ok(()); // divisor is rax/rdx itself: leave it to chance
            }
            let d = reg_value(self.init.gpr[i], r);
            if d == 0 {
                return Ok(());
            }
            self.pinned |= bit(i);
            d
        };
        let (Some(ra), Some(rd)) = (reg_free(self, Register::RAX), reg_free(self, Register::RDX))
        else {
            return Ok(());
        };
        let lo = self.init.gpr[ra] & mask;
        let hi = if signed {
            if lo & (1 << (8 * size - 1)) != 0 {
                mask
            } else {
                0
            }
        } else {
            self.rng.gen_range(0..divisor)
        };
        if size == 1 {
            self.init.gpr[ra] = self.init.gpr[ra] & !0xffff | (hi & 0xff) << 8 | lo;
            self.pinned |= bit(ra);
        } else {
            self.init.gpr[rd] = self.init.gpr[rd] & !mask | hi;
            self.pinned |= bit(ra) | bit(rd);
        }
        Ok(())
    }

    fn mem_addr(&self, ins: &Instruction) -> Option<u64> {
        let mut a = if ins.memory_base() == Register::RIP {
            return Some(ins.memory_displacement64());
        } else {
            ins.memory_displacement64()
        };
        if ins.memory_base() != Register::None {
            a = a.wrapping_add(self.init.gpr[gpr_index(ins.memory_base())?]);
        }
        if ins.memory_index() != Register::None {
            a = a.wrapping_add(
                self.init.gpr[gpr_index(ins.memory_index())?]
                    .wrapping_mul(u64::from(ins.memory_index_scale())),
            );
        }
        if ins.memory_base().size() == 4 || ins.memory_index().size() == 4 {
            a &= 0xffff_ffff;
        }
        (DATA..DATA + DATA_SIZE).contains(&a).then_some(a)
    }

    fn read_mem(&self, a: u64, size: usize) -> u64 {
        let o = (a - G) as usize;
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(&self.image[o..o + size]);
        u64::from_le_bytes(b)
    }

    fn write_mem(&mut self, a: u64, size: usize, v: u64) {
        let o = (a - G) as usize;
        self.image[o..o + size].copy_from_slice(&v.to_le_bytes()[..size]);
    }

    /// Checks `ins` against the state of the sequence so far and records its effects.
    fn accept(&mut self, ins: &Instruction, pos: usize) -> Result<(), Reject> {
        let info = self.info.info(ins).clone();
        let m = ins.mnemonic();
        // MMX instructions read the x87 registers' significands.
        let x87 = self
            .forms
            .iter()
            .any(|f| f.code == ins.code() && matches!(f.class, Class::X87 | Class::Mmx));
        if x87 && self.after_transcendental {
            return Err(Reject);
        }
        // Bytes left out of the comparison (say fxsave's MXCSR_MASK) must not be loaded
        // into compared state either (by frstor, for one).
        if let (true, Some(a)) = (!self.masked.is_empty(), self.mem_addr(ins)) {
            let end = a.wrapping_add(ins.memory_size().size() as u64);
            if self.masked.iter().any(|(r, _)| r.start < end && a < r.end) {
                return Err(Reject);
            }
        }
        // Undefined-flags dataflow: entry set = union over predecessors.
        let mut uin =
            if pos == 0 || self.insns[pos - 1].flow_control() == FlowControl::UnconditionalBranch {
                0
            } else {
                self.undef_out[pos - 1]
            };
        for (j, t) in self.targets.iter().enumerate() {
            if *t == Some(pos) {
                uin |= self.undef_out[j];
            }
        }
        if to_x86_flags(ins.rflags_read()) & uin != 0 {
            return Err(Reject);
        }
        let mut writes = 0u16;
        for u in info.used_registers() {
            if !matches!(
                u.access(),
                OpAccess::Write
                    | OpAccess::ReadWrite
                    | OpAccess::CondWrite
                    | OpAccess::ReadCondWrite
            ) {
                continue;
            }
            let Some(r) = gpr_index(u.register()) else {
                continue;
            };
            writes |= bit(r);
        }
        // Writes that keep a pinned register usable: stack ops move rsp a little, string ops
        // move rsi/rdi a little and leave rcx at 0 or below its start, enter sets rbp to the
        // stack.
        let mut benign = 0u16;
        if is_stack_op(m) || ins.code().is_stack_instruction() {
            benign |= bit(RSP);
        }
        if is_string(m) {
            benign |= bit(RSI) | bit(RDI) | bit(RCX);
        }
        if m == M::Enter {
            benign |= bit(RBP);
            self.moved |= bit(RBP);
        }
        let explicit_rsp = (0..ins.op_count()).any(|i| {
            ins.op_kind(i) == OpKind::Register && gpr_index(ins.op_register(i)) == Some(RSP)
        });
        if writes & bit(RSP) != 0 && (benign & bit(RSP) == 0 || explicit_rsp) {
            // Only stack instructions may move the stack pointer.
            return Err(Reject);
        }
        self.clobbered |= writes & !benign;
        if info.used_memory().iter().any(|u| {
            matches!(
                u.access(),
                OpAccess::Write
                    | OpAccess::ReadWrite
                    | OpAccess::CondWrite
                    | OpAccess::ReadCondWrite
            )
        }) {
            self.mem_written = true;
        }
        let mut modified = to_x86_flags(ins.rflags_modified());
        let mut undefined = to_x86_flags(ins.rflags_undefined());
        // Flags a shift or rotate changes only for a nonzero (masked) count, and repeated
        // compares or scans only for a nonzero count: with a count in a register they may be
        // left as they were, so they do not make earlier undefined flags defined.
        if matches!(
            m,
            M::Shl
                | M::Sal
                | M::Shr
                | M::Sar
                | M::Rol
                | M::Ror
                | M::Rcl
                | M::Rcr
                | M::Shld
                | M::Shrd
        ) {
            let last = ins.op_count() - 1;
            if ins.op_kind(last) == OpKind::Register {
                modified = 0;
            } else {
                let size = if ins.op0_kind() == OpKind::Register {
                    ins.op0_register().size()
                } else {
                    ins.memory_size().size()
                };
                let mask = if size == 8 { 63 } else { 31 };
                if ins.immediate8() & mask == 0 {
                    modified = 0;
                    undefined = 0;
                } else if matches!(m, M::Rcl | M::Rcr) && ins.immediate8() & mask != 1 {
                    // OF is defined for a count of 1 only (the SDM), and cores differ: on an
                    // 8- or 16-bit rotate by a whole turn (9, 18, 27; 17) Intel leaves it,
                    // AMD (the EPYC of the long runs in the README) and emu, which reports
                    // itself as AMD, recompute it.
                    undefined |= 0x800; // OF
                }
            }
            if matches!(m, M::Rcl | M::Rcr) && ins.op_kind(last) == OpKind::Register {
                undefined |= 0x800; // OF
            }
        }
        if is_string(m) && (ins.has_rep_prefix() || ins.has_repe_prefix() || ins.has_repne_prefix())
        {
            modified = 0;
        }
        self.undef_in.push(uin);
        self.undef_out.push((uin & !modified) | undefined);
        if crate::compare::is_x87_transcendental(m) {
            self.after_transcendental = true;
        }
        Ok(())
    }
}

/// The value of register part `r` within the 64-bit `full` value.
fn reg_value(full: u64, r: Register) -> u64 {
    use Register::*;
    if matches!(r, AH | CH | DH | BH) {
        return (full >> 8) & 0xff;
    }
    match r.size() {
        1 => full & 0xff,
        2 => full & 0xffff,
        4 => full & 0xffff_ffff,
        _ => full,
    }
}

/// Generates sequence `index` of `seed` over `forms`.
pub fn generate(forms: &[Form], seed: u64, index: u64) -> Sequence {
    // One rng per sequence, so that any sequence can be replayed alone.
    let mixed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
        ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03);
    let mut attempt = 0u64;
    loop {
        if let Some(s) = try_generate(forms, mixed.wrapping_add(attempt)) {
            return s;
        }
        attempt += 1;
    }
}

fn try_generate(forms: &[Form], seed: u64) -> Option<Sequence> {
    let mut g = Gen::new(forms, seed);
    let n = match g.rng.gen_range(0..20) {
        0..=7 => 1,
        8..=12 => 2,
        13..=16 => 3,
        17..=18 => 4,
        _ => 5,
    };
    for pos in 0..n {
        let mut placed = false;
        for _ in 0..64 {
            let form = g.pick_form();
            let saved = (g.init, g.pinned, g.image.clone());
            let r = g.build(form, pos, n).and_then(|mut ins| {
                g.finish(form, &mut ins, pos)?;
                g.accept(&ins, pos)?;
                Ok(ins)
            });
            match r {
                Ok(ins) => {
                    g.targets.push(if ins.op0_kind() == OpKind::NearBranch64 {
                        Some(((ins.near_branch64() - CODE) / 16) as usize)
                    } else {
                        None
                    });
                    g.insns.push(ins);
                    g.used.push(form.code);
                    placed = true;
                    break;
                }
                Err(Reject) => {
                    g.init = saved.0;
                    g.pinned = saved.1;
                    g.image = saved.2;
                }
            }
        }
        if !placed {
            return None;
        }
    }
    // Undefined flags at the terminator.
    let mut uend = if n > 0 && g.insns[n - 1].flow_control() != FlowControl::UnconditionalBranch {
        g.undef_out[n - 1]
    } else {
        0
    };
    for (j, t) in g.targets.iter().enumerate() {
        if *t == Some(n) {
            uend |= g.undef_out[j];
        }
    }
    // Encode with branch targets resolved.
    let mut list = g.insns.clone();
    let mut hlt = Instruction::with(Code::Hlt);
    hlt.set_ip(fake_ip(n));
    list.push(hlt);
    let block = InstructionBlock::new(&list, CODE);
    let res = BlockEncoder::encode(64, block, BlockEncoderOptions::NONE).ok()?;
    let bytes = res.code_buffer;
    if bytes.len() > CODE_MAX {
        return None;
    }
    let mut dec = Decoder::with_ip(64, &bytes, CODE, DecoderOptions::NONE);
    let mut insns = vec![];
    for _ in 0..n {
        let i = dec.decode();
        if i.is_invalid() {
            return None;
        }
        insns.push(i);
    }
    let end = dec.ip();
    let last = dec.decode();
    if last.code() != Code::Hlt {
        return None;
    }
    // The decoded forms must be the generated ones (no encoder surprises).
    if insns.iter().zip(&g.used).any(|(i, c)| i.code() != *c) {
        return None;
    }
    let mut image = g.image;
    let c = (CODE - G) as usize;
    image[c..c + bytes.len()].copy_from_slice(&bytes);
    Some(Sequence {
        insns,
        bytes,
        end,
        init: g.init,
        image,
        undefined_in: {
            let mut v = g.undef_in;
            v.push(uend);
            v
        },
        forms: g.used,
        masked: g.masked,
    })
}

/// True if the form is of `class` (helper for statistics).
pub fn class_name(c: Class) -> &'static str {
    match c {
        Class::Int => "int",
        Class::Sse => "sse",
        Class::X87 => "x87",
        Class::Mmx => "mmx",
    }
}
