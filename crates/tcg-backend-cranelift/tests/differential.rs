//! Random IR programs covering every op and type, run through the backend and through the
//! reference interpreter, which must agree on state, guest memory and exit.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tcg::{
    AtomicOp, BinOp, Block, Cond, Conv, Fence, Helper, HelperFlags, Label, MemOp, Op, Temp, Type,
    UnOp,
};

extern "C" fn h0() -> u64 {
    0x1234_5678_9abc_def0
}
extern "C" fn h1(a: u64) -> u64 {
    a.rotate_left(7) ^ 1
}
extern "C" fn h2(a: u64, b: u64) -> u64 {
    a.wrapping_mul(3) ^ b
}
extern "C" fn h3(a: u64, b: u64, c: u64) -> u64 {
    a.wrapping_sub(b).rotate_right(3) ^ c
}
extern "C" fn h4(a: u64, b: u64, c: u64, d: u64) -> u64 {
    a ^ b.wrapping_mul(5) ^ c.wrapping_mul(7) ^ d.wrapping_mul(11)
}
extern "C" fn h5(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    h4(a, b, c, d).wrapping_add(e.wrapping_mul(13))
}
extern "C" fn h6(a: u64, b: u64, c: u64, d: u64, e: u64, f: u64) -> u64 {
    h5(a, b, c, d, e).wrapping_sub(f.rotate_left(17))
}

/// Reads the i64 globals through `env` (a helper that reads the state: the backend must
/// have stored what the block changed).
extern "C" fn h_read_state(env: u64) -> u64 {
    let p = env as usize as *const u64;
    // SAFETY: translated code and the interpreter pass the test's `Env`, whose first 48
    // bytes are the six i64 globals.
    (0..6).fold(0u64, |acc, i| unsafe {
        acc.rotate_left(9) ^ p.add(i).read_unaligned()
    })
}

/// Reads and rewrites globals through `env` (the backend must reload what the block reads
/// after it).
extern "C" fn h_write_state(env: u64, v: u64) -> u64 {
    let p = env as usize as *mut u64;
    // SAFETY: as for `h_read_state`; bytes 48..52 are the first i32 global.
    unsafe {
        let a = p.add(1).read_unaligned();
        p.add(1).write_unaligned(a.rotate_left(13) ^ v);
        p.add(4).write_unaligned(v.wrapping_mul(3));
        (p as *mut u8)
            .add(48)
            .cast::<u32>()
            .write_unaligned(v as u32 ^ 0x5a5a);
        a
    }
}

fn state_helpers() -> [&'static Helper; 2] {
    const ARGS: [Type; 2] = [Type::I64; 2];
    static HELPERS: std::sync::OnceLock<[Helper; 2]> = std::sync::OnceLock::new();
    let [r, w] = HELPERS.get_or_init(|| {
        [
            Helper {
                name: "h_read_state",
                addr: h_read_state as *const () as usize,
                args: &ARGS[..1],
                ret: Some(Type::I64),
                flags: HelperFlags {
                    reads_state: true,
                    ..HelperFlags::default()
                },
            },
            Helper {
                name: "h_write_state",
                addr: h_write_state as *const () as usize,
                args: &ARGS[..2],
                ret: Some(Type::I64),
                flags: HelperFlags {
                    reads_state: true,
                    writes_state: true,
                    pure: false,
                },
            },
        ]
    });
    [r, w]
}

fn helpers() -> Vec<&'static Helper> {
    const I: Type = Type::I64;
    const ARGS: [Type; 6] = [I; 6];
    let addrs: [usize; 7] = [
        h0 as *const () as usize,
        h1 as *const () as usize,
        h2 as *const () as usize,
        h3 as *const () as usize,
        h4 as *const () as usize,
        h5 as *const () as usize,
        h6 as *const () as usize,
    ];
    addrs
        .iter()
        .enumerate()
        .map(|(n, &addr)| {
            &*Box::leak(Box::new(Helper {
                name: ["h0", "h1", "h2", "h3", "h4", "h5", "h6"][n],
                addr,
                args: &ARGS[..n],
                ret: Some(I),
                flags: HelperFlags {
                    pure: n % 2 == 0,
                    ..HelperFlags::default()
                },
            }))
        })
        .collect()
}

/// Guest addresses the programs touch: `WINDOW..WINDOW + 0x1000`.
const WINDOW: u64 = 0x4000;
/// State scratch for LoadState/StoreState (globals live below 0x80).
const SCRATCH: u32 = 0x100;

struct Gen {
    rng: StdRng,
    b: Block,
    pool: [Vec<Temp>; 3],
    helpers: Vec<&'static Helper>,
    /// The backend takes lane ops (`Backend::has_lanes`).
    lanes: bool,
}

const TYPES: [Type; 3] = [Type::I32, Type::I64, Type::I128];

fn ti(t: Type) -> usize {
    match t {
        Type::I32 => 0,
        Type::I64 => 1,
        Type::I128 => 2,
    }
}

impl Gen {
    fn new(seed: u64, lanes: bool) -> Gen {
        let mut g = Gen {
            rng: StdRng::seed_from_u64(seed),
            b: Block::new(0x40_0000),
            pool: [vec![], vec![], vec![]],
            helpers: helpers(),
            lanes,
        };
        // Globals: 6 i64 at 0..48, 4 i32 at 48..64, one i128 at 64.
        for i in 0..6u32 {
            let t = g.b.global(Type::I64, i * 8, "g64");
            g.pool[1].push(t);
        }
        for i in 0..4u32 {
            let t = g.b.global(Type::I32, 48 + i * 4, "g32");
            g.pool[0].push(t);
        }
        let t = g.b.global(Type::I128, 64, "g128");
        g.pool[2].push(t);
        let interesting = [
            0u64,
            1,
            u64::MAX,
            0x8000_0000,
            0x7fff_ffff,
            0x8000_0000_0000_0000,
            0xff,
            0x1234_5678_9abc_def1,
        ];
        for ty in TYPES {
            for _ in 0..3 {
                let v = if g.rng.gen_bool(0.5) {
                    interesting[g.rng.gen_range(0..interesting.len())]
                } else {
                    g.rng.gen()
                };
                let t = g.b.constant(ty, v);
                g.pool[ti(ty)].push(t);
            }
        }
        g
    }

    fn pick(&mut self, ty: Type) -> Temp {
        let p = &self.pool[ti(ty)];
        p[self.rng.gen_range(0..p.len())]
    }

    /// A destination: usually a fresh local, sometimes an existing temp (global or local).
    fn dst(&mut self, ty: Type) -> Temp {
        if self.rng.gen_bool(0.3) {
            self.pick(ty)
        } else {
            let t = self.b.new_temp(ty);
            self.pool[ti(ty)].push(t);
            t
        }
    }

    fn int_ty(&mut self) -> Type {
        if self.rng.gen_bool(0.5) {
            Type::I32
        } else {
            Type::I64
        }
    }

    fn any_ty(&mut self) -> Type {
        TYPES[self.rng.gen_range(0..3)]
    }

    /// Replaces a NaN in float result `x` by one fixed NaN: which operand's NaN the host
    /// propagates may depend on how each side ordered a commutative operation.
    fn canonical_nan(&mut self, ty: Type, x: Temp) {
        let (shift, inf) = if ty == Type::I64 {
            (1, 0xffe0_0000_0000_0000u64)
        } else {
            (1, 0xff00_0000u64)
        };
        let sh = self.konst(ty, shift);
        let x2 = self.b.new_temp(ty);
        self.b.push(Op::Binary {
            op: BinOp::Shl,
            dst: x2,
            a: x,
            b: sh,
        });
        let inf = self.konst(ty, inf);
        let nan = self.konst(ty, 0x7ff8_0000_0000_0000 >> (64 - ty.bits()));
        self.b.push(Op::Select {
            cond: Cond::Gtu,
            dst: x,
            a: x2,
            b: inf,
            t: nan,
            f: x,
        });
    }

    fn konst(&mut self, ty: Type, v: u64) -> Temp {
        self.b.constant(ty, v)
    }

    /// A guest address in the window aligned to `align`.
    fn addr(&mut self, align: u64) -> Temp {
        let x = self.pick(Type::I64);
        let m = self.konst(Type::I64, 0xfff & !(align - 1));
        let a = self.b.new_temp(Type::I64);
        self.b.push(Op::Binary {
            op: BinOp::And,
            dst: a,
            a: x,
            b: m,
        });
        let base = self.konst(Type::I64, WINDOW);
        self.b.push(Op::Binary {
            op: BinOp::Add,
            dst: a,
            a,
            b: base,
        });
        a
    }

    fn mem(&mut self, ty: Type, allow16: bool) -> MemOp {
        let sizes: &[u8] = match ty {
            Type::I32 => &[1, 2, 4],
            Type::I64 => &[1, 2, 4, 8],
            Type::I128 if allow16 => &[1, 2, 4, 8, 16],
            Type::I128 => &[1, 2, 4, 8],
        };
        let size = sizes[self.rng.gen_range(0..sizes.len())];
        MemOp {
            size,
            signed: u32::from(size) * 8 < ty.bits() && self.rng.gen_bool(0.5),
            aligned: self.rng.gen_bool(0.3),
        }
    }

    fn cond(&mut self) -> Cond {
        use Cond::*;
        [Eq, Ne, Lt, Ge, Le, Gt, Ltu, Geu, Leu, Gtu, TstEq, TstNe][self.rng.gen_range(0..12)]
    }

    fn op(&mut self) {
        match self.rng.gen_range(0..23) {
            22 => {
                // A helper that reads, or reads and writes, the globals in the state.
                let [r, w] = state_helpers();
                let env = self.b.env();
                let ret = Some(self.dst(Type::I64));
                if self.rng.gen_bool(0.5) {
                    self.b.push(Op::Call {
                        helper: r,
                        args: vec![env],
                        ret,
                    });
                } else {
                    let v = self.pick(Type::I64);
                    self.b.push(Op::Call {
                        helper: w,
                        args: vec![env, v],
                        ret,
                    });
                }
            }
            0..=3 => {
                use BinOp::*;
                let ty = self.any_ty();
                let lane_op = tcg::LaneOp::ALL[self.rng.gen_range(0..tcg::LaneOp::ALL.len())];
                let bits = if lane_op == tcg::LaneOp::Swizzle {
                    8
                } else {
                    [8, 16, 32, 64][self.rng.gen_range(0..4)]
                };
                let lanes = Lanes { op: lane_op, bits };
                let ops: &[BinOp] = if ty == Type::I128 && self.lanes {
                    &[And, Or, Xor, AndNot, lanes, lanes, lanes]
                } else if ty == Type::I128 {
                    &[And, Or, Xor, AndNot]
                } else {
                    &[
                        Add, Sub, Mul, MulHu, MulHs, DivU, DivS, RemU, RemS, And, Or, Xor, AndNot,
                        Shl, Shr, Sar, Rotl, Rotr, FAdd, FSub, FMul, FDiv,
                    ]
                };
                let op = ops[self.rng.gen_range(0..ops.len())];
                let a = self.pick(ty);
                let mut b = self.pick(ty);
                if matches!(op, DivU | DivS | RemU | RemS) {
                    // A positive odd divisor: never zero, never MIN / -1.
                    let m = self.konst(ty, 0x7fff);
                    let one = self.konst(ty, 1);
                    let d = self.b.new_temp(ty);
                    self.b.push(Op::Binary {
                        op: And,
                        dst: d,
                        a: b,
                        b: m,
                    });
                    self.b.push(Op::Binary {
                        op: Or,
                        dst: d,
                        a: d,
                        b: one,
                    });
                    b = d;
                }
                let dst = self.dst(ty);
                self.b.push(Op::Binary { op, dst, a, b });
                if op.is_float() {
                    self.canonical_nan(ty, dst);
                }
            }
            4 | 5 => {
                use UnOp::*;
                let ty = self.any_ty();
                let ops: &[UnOp] = if ty == Type::I128 {
                    &[Not]
                } else {
                    &[Neg, Not, Clz, Ctz, Popcnt, Bswap16, Bswap32, Bswap64, FSqrt]
                };
                let op = ops[self.rng.gen_range(0..ops.len())];
                let src = self.pick(ty);
                let dst = self.dst(ty);
                self.b.push(Op::Unary { op, dst, src });
                if op == FSqrt {
                    self.canonical_nan(ty, dst);
                }
            }
            6 | 7 => {
                use Conv::*;
                let convs = [
                    (Ext8s, Type::I32, Type::I32),
                    (Ext8u, Type::I32, Type::I32),
                    (Ext16s, Type::I32, Type::I32),
                    (Ext16u, Type::I32, Type::I32),
                    (Ext8s, Type::I64, Type::I64),
                    (Ext8u, Type::I64, Type::I64),
                    (Ext16s, Type::I64, Type::I64),
                    (Ext16u, Type::I64, Type::I64),
                    (Ext32s, Type::I64, Type::I64),
                    (Ext32u, Type::I64, Type::I64),
                    (I32ToI64s, Type::I64, Type::I32),
                    (I32ToI64u, Type::I64, Type::I32),
                    (I64ToI32, Type::I32, Type::I64),
                    (I128Lo, Type::I64, Type::I128),
                    (I128Hi, Type::I64, Type::I128),
                    (ByteSignBits, Type::I64, Type::I128),
                ];
                let n = convs.len() - usize::from(!self.lanes);
                let (conv, d, s) = convs[self.rng.gen_range(0..n)];
                let src = self.pick(s);
                let dst = self.dst(d);
                self.b.push(Op::Convert { conv, dst, src });
            }
            8 => {
                let lo = self.pick(Type::I64);
                let hi = self.pick(Type::I64);
                let dst = self.dst(Type::I128);
                self.b.push(Op::Concat { dst, lo, hi });
            }
            9 => {
                let ty = self.int_ty();
                let w = ty.bits() as u8;
                let len = self.rng.gen_range(1..=w);
                let pos = self.rng.gen_range(0..=w - len);
                let src = self.pick(ty);
                let dst = self.dst(ty);
                let signed = self.rng.gen();
                self.b.push(Op::Extract {
                    dst,
                    src,
                    pos,
                    len,
                    signed,
                });
            }
            10 => {
                let ty = self.int_ty();
                let w = ty.bits() as u8;
                let len = self.rng.gen_range(1..=w);
                let pos = self.rng.gen_range(0..=w - len);
                let base = self.pick(ty);
                let val = self.pick(ty);
                let dst = self.dst(ty);
                self.b.push(Op::Deposit {
                    dst,
                    base,
                    val,
                    pos,
                    len,
                });
            }
            11 => {
                let cty = self.int_ty();
                let cond = self.cond();
                let (a, b) = (self.pick(cty), self.pick(cty));
                if self.rng.gen_bool(0.5) {
                    let dty = self.int_ty();
                    let dst = self.dst(dty);
                    self.b.push(Op::SetCond { cond, dst, a, b });
                } else {
                    let ty = self.any_ty();
                    let (t, f) = (self.pick(ty), self.pick(ty));
                    let dst = self.dst(ty);
                    self.b.push(Op::Select {
                        cond,
                        dst,
                        a,
                        b,
                        t,
                        f,
                    });
                }
            }
            12 | 13 => {
                let ty = self.any_ty();
                let mem = self.mem(ty, true);
                let addr = self.addr(u64::from(mem.size));
                let dst = self.dst(ty);
                self.b.push(Op::Load { dst, addr, mem });
            }
            14 | 15 => {
                let ty = self.any_ty();
                let mem = self.mem(ty, true);
                let addr = self.addr(u64::from(mem.size));
                let src = self.pick(ty);
                self.b.push(Op::Store { src, addr, mem });
            }
            16 => {
                let ty = self.any_ty();
                let mem = self.mem(ty, true);
                let offset = SCRATCH + 16 * self.rng.gen_range(0..16);
                if self.rng.gen_bool(0.5) {
                    let dst = self.dst(ty);
                    self.b.push(Op::LoadState { dst, offset, mem });
                } else {
                    let src = self.pick(ty);
                    self.b.push(Op::StoreState { src, offset, mem });
                }
            }
            17 => {
                use AtomicOp::*;
                let ty = self.int_ty();
                let mut mem = self.mem(ty, false);
                mem.aligned = false;
                let addr = self.addr(u64::from(mem.size));
                let val = self.pick(ty);
                let dst = self.dst(ty);
                let op = [Xchg, Add, Sub, And, Or, Xor][self.rng.gen_range(0..6)];
                self.b.push(Op::AtomicRmw {
                    op,
                    dst,
                    addr,
                    val,
                    mem,
                });
            }
            18 => {
                let ty = self.any_ty();
                let mut mem = self.mem(ty, true);
                if ty == Type::I128 {
                    mem = MemOp {
                        size: 16,
                        signed: false,
                        aligned: true,
                    };
                }
                let addr = self.addr(u64::from(mem.size));
                let expected = if self.rng.gen_bool(0.5) {
                    // Expect what is there, so that the swap happens.
                    let e = self.b.new_temp(ty);
                    self.b.push(Op::Load {
                        dst: e,
                        addr,
                        mem: MemOp::unsigned(mem.size),
                    });
                    e
                } else {
                    self.pick(ty)
                };
                let new = self.pick(ty);
                let dst = self.dst(ty);
                self.b.push(Op::AtomicCmpxchg {
                    dst,
                    addr,
                    expected,
                    new,
                    mem,
                });
            }
            19 => {
                let kind =
                    [Fence::LoadLoad, Fence::StoreStore, Fence::Full][self.rng.gen_range(0..3)];
                self.b.push(Op::Fence { kind });
            }
            20 => {
                let n = self.rng.gen_range(0..7);
                let helper = self.helpers[n];
                let args = (0..n).map(|_| self.pick(Type::I64)).collect();
                let ret = Some(self.dst(Type::I64));
                self.b.push(Op::Call { helper, args, ret });
            }
            _ => {
                let t = self.any_ty();
                let src = self.pick(t);
                let dst = self.dst(t);
                self.b.push(Op::Mov { dst, src });
            }
        }
    }

    fn program(mut self, nops: usize) -> Block {
        let mut pc = 0x40_0000u64;
        let mut pending: Vec<(Label, usize)> = Vec::new();
        // Early exits from the middle, so that exits see different sets of written globals.
        let early = self.b.new_label();
        for i in 0..nops {
            if i % 3 == 0 {
                self.b.push(Op::InsnStart { pc });
                pc += 3;
            }
            if self.rng.gen_bool(0.04) {
                let cty = self.int_ty();
                let cond = self.cond();
                let (a, b) = (self.pick(cty), self.pick(cty));
                self.b.push(Op::BrCond {
                    cond,
                    a,
                    b,
                    label: early,
                });
            }
            // Forward branches over a few ops, and once in a while a bounded backward loop.
            if self.rng.gen_bool(0.08) {
                let l = self.b.new_label();
                let cty = self.int_ty();
                let cond = self.cond();
                let (a, b) = (self.pick(cty), self.pick(cty));
                self.b.push(Op::BrCond {
                    cond,
                    a,
                    b,
                    label: l,
                });
                pending.push((l, i + self.rng.gen_range(1..4)));
            }
            self.op();
            pending.retain(|&(l, at)| {
                if at <= i {
                    self.b.push(Op::SetLabel { label: l });
                    false
                } else {
                    true
                }
            });
        }
        for (l, _) in pending.drain(..) {
            self.b.push(Op::SetLabel { label: l });
        }
        // Fold every temp into a global so that all results are checked.
        let acc = self.b.global(Type::I64, 0x80, "acc");
        let k = self.konst(Type::I64, 0x9e37_79b9_7f4a_7c15);
        let all: Vec<(Temp, Type)> = (0..self.b.temps.len() as u32)
            .map(Temp)
            .filter(|&t| self.b.temps[t.0 as usize].kind == tcg::TempKind::Local)
            .map(|t| (t, self.b.ty(t)))
            .collect();
        for (t, ty) in all {
            let w = self.b.new_temp(Type::I64);
            let parts: Vec<Conv> = match ty {
                Type::I32 => vec![Conv::I32ToI64u],
                Type::I64 => vec![],
                Type::I128 => vec![Conv::I128Lo, Conv::I128Hi],
            };
            if parts.is_empty() {
                self.b.push(Op::Mov { dst: w, src: t });
                self.fold(acc, k, w);
            }
            for conv in parts {
                self.b.push(Op::Convert {
                    conv,
                    dst: w,
                    src: t,
                });
                self.fold(acc, k, w);
            }
        }
        match self.rng.gen_range(0..4) {
            0 | 1 => {
                let slot = self.rng.gen_range(0..tcg::JUMP_SLOTS as u8);
                self.b.push(Op::GotoTb { slot })
            }
            2 => self.b.push(Op::LookupAndGotoPtr),
            _ => {
                let code = self.rng.gen();
                self.b.push(Op::ExitTb { code })
            }
        }
        self.b.push(Op::SetLabel { label: early });
        self.b.push(Op::ExitTb { code: 0x3e });
        self.b
    }

    fn fold(&mut self, acc: Temp, k: Temp, w: Temp) {
        self.b.push(Op::Binary {
            op: BinOp::Mul,
            dst: acc,
            a: acc,
            b: k,
        });
        self.b.push(Op::Binary {
            op: BinOp::Xor,
            dst: acc,
            a: acc,
            b: w,
        });
    }
}

extern "C" fn lookup_miss(_env: *mut u8) -> usize {
    0
}

fn run_seed(backend: &tcg_backend_cranelift::Backend, mem: &mut GuestMem, seed: u64, nops: usize) {
    let blk = Gen::new(seed, backend.has_lanes()).program(nops);
    let mut rng = StdRng::seed_from_u64(seed ^ 0xdead_beef);
    let mut env = Env::new();
    rng.fill(&mut env.0[..]);
    rng.fill(&mut mem.bytes_mut()[WINDOW as usize..WINDOW as usize + 0x1000]);
    run_both(backend, &blk, &mut env, mem);
}

#[test]
fn random_programs_match_the_interpreter() {
    let mut mem = GuestMem::new();
    let backend = backend_for(&mem, lookup_miss as *const () as usize, 16 << 20);
    for seed in 0..300 {
        run_seed(&backend, &mut mem, seed, 12 + (seed as usize % 5) * 10);
    }
}

#[test]
fn random_programs_match_with_other_configurations() {
    use tcg_backend_cranelift::{OptLevel, Regalloc};
    let mut mem = GuestMem::new();
    for (opt, ra) in [
        (OptLevel::Speed, Regalloc::Backtracking),
        (OptLevel::None, Regalloc::SinglePass),
    ] {
        let mut cfg = tcg_backend_cranelift::BackendConfig::new(
            mem.base as u64,
            GUEST_SIZE,
            lookup_miss as *const () as usize,
        );
        cfg.opt_level = opt;
        cfg.regalloc = ra;
        cfg.cache_capacity = 16 << 20;
        let backend = tcg_backend_cranelift::Backend::new(cfg).unwrap();
        for seed in 1000..1120 {
            run_seed(&backend, &mut mem, seed, 40);
        }
    }
}

#[test]
fn random_programs_lower_for_every_host_isa() {
    // Not executed: checks that the stubs and every op lower (and pass Cranelift's verifier)
    // on each host Cranelift supports, with both optimisation levels.
    for triple in [
        "aarch64-unknown-linux-gnu",
        "riscv64gc-unknown-linux-gnu",
        "s390x-unknown-linux-gnu",
    ] {
        for opt in [
            tcg_backend_cranelift::OptLevel::None,
            tcg_backend_cranelift::OptLevel::Speed,
        ] {
            let mut cfg =
                tcg_backend_cranelift::BackendConfig::new(0x7000_0000_0000, 1 << 32, 0x1000);
            cfg.opt_level = opt;
            cfg.verify_clif = true;
            cfg.cache_capacity = 1 << 20;
            let be = tcg_backend_cranelift::Backend::for_triple(triple, cfg).unwrap();
            // The stubs fit the space reserved for them.
            if let Err(e) = be.ensure_stubs() {
                panic!("{triple} {opt:?} stubs: {e}");
            }
            let slot = std::sync::atomic::AtomicUsize::new(be.unlinked_stub_addr() as usize);
            let mut c = tcg_backend_cranelift::Compiler::new();
            for seed in 0..60 {
                let blk = Gen::new(seed, be.has_lanes()).program(40);
                if let Err(e) = c.inspect(&be, &blk, 0x1000, [&slot; tcg::JUMP_SLOTS]) {
                    panic!("{triple} {opt:?} seed {seed}: {e}\n{blk}");
                }
            }
        }
    }
}

#[test]
fn every_lane_op_lowers_on_every_host_with_lanes() {
    // The random programs may miss a combination; this block has each op at each width
    // it is defined for (each result stored, so that none is dead), plus the byte mask.
    let mut blk = Block::new(0x40_0000);
    let a = blk.new_temp(Type::I128);
    blk.push(Op::LoadState {
        dst: a,
        offset: 64,
        mem: tcg::MemOp::unsigned(16),
    });
    let mut offset = SCRATCH;
    for op in tcg::LaneOp::ALL {
        for bits in [8u8, 16, 32, 64] {
            if op == tcg::LaneOp::Swizzle && bits != 8 {
                continue;
            }
            let r = blk.new_temp(Type::I128);
            blk.push(Op::Binary {
                op: BinOp::Lanes { op, bits },
                dst: r,
                a,
                b: a,
            });
            blk.push(Op::StoreState {
                src: r,
                offset,
                mem: tcg::MemOp::unsigned(16),
            });
            offset += 16;
        }
    }
    let m = blk.new_temp(Type::I64);
    blk.push(Op::Convert {
        conv: Conv::ByteSignBits,
        dst: m,
        src: a,
    });
    blk.push(Op::StoreState {
        src: m,
        offset,
        mem: tcg::MemOp::unsigned(8),
    });
    blk.push(Op::ExitTb { code: 0 });
    tcg::verify(&blk).unwrap();
    for triple in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        let mut cfg = tcg_backend_cranelift::BackendConfig::new(0x7000_0000_0000, 1 << 32, 0x1000);
        cfg.verify_clif = true;
        let be = tcg_backend_cranelift::Backend::for_triple(triple, cfg).unwrap();
        assert!(be.has_lanes(), "{triple}");
        let slot = std::sync::atomic::AtomicUsize::new(0x1000);
        let mut c = tcg_backend_cranelift::Compiler::new();
        if let Err(e) = c.inspect(&be, &blk, 0x1000, [&slot; tcg::JUMP_SLOTS]) {
            panic!("{triple}: {e}\n{blk}");
        }
    }
}
