//! Differential tests of general-purpose instructions against the host CPU.
//!
//! Every 64-bit-mode instruction form (iced `Code`) of the tested mnemonics is generated with
//! random registers, memory operands and values, run through the translator and the tcg
//! interpreter, and natively; GPRs, the defined flags, the data/stack memory and the value
//! of all sixteen conditions (setcc right after the instruction, in the same block or in the
//! next one) must agree.
#![cfg(target_arch = "x86_64")]

mod common;

use common::*;
use iced_x86::code_asm::CodeAssembler;
use iced_x86::{Code, Decoder, DecoderOptions, Instruction, MemoryOperand, Mnemonic, Register};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tcg_frontend_x86::{CpuModel, TranslateConfig};

#[derive(Clone, Copy, Debug)]
enum Spec {
    Reg(u32),
    Rm(u32),
    Mem,
    Fixed(Register),
    Imm(u32),
    One,
}

#[derive(Clone, Copy, Debug)]
enum Arg {
    R(Register),
    M(MemoryOperand),
    I(i64),
}

fn parse(code: Code) -> Option<Vec<Spec>> {
    let name = format!("{code:?}");
    let mut specs = vec![];
    for tok in name.split('_').skip(1) {
        let s = match tok {
            "r8" => Spec::Reg(1),
            "r16" => Spec::Reg(2),
            "r32" => Spec::Reg(4),
            "r64" => Spec::Reg(8),
            "rm8" => Spec::Rm(1),
            "rm16" => Spec::Rm(2),
            "rm32" => Spec::Rm(4),
            "rm64" => Spec::Rm(8),
            "m" => Spec::Mem,
            "imm8" => Spec::Imm(1),
            "imm16" => Spec::Imm(2),
            "imm32" => Spec::Imm(4),
            "imm64" => Spec::Imm(8),
            "1" => Spec::One,
            "AL" => Spec::Fixed(Register::AL),
            "AX" => Spec::Fixed(Register::AX),
            "EAX" => Spec::Fixed(Register::EAX),
            "RAX" => Spec::Fixed(Register::RAX),
            "CL" => Spec::Fixed(Register::CL),
            _ => return None,
        };
        specs.push(s);
    }
    Some(specs)
}

const R8: [Register; 18] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::AH,
    Register::CH,
    Register::DH,
    Register::BH,
    Register::BPL,
    Register::SIL,
    Register::DIL,
    Register::R8L,
    Register::R9L,
    Register::R10L,
    Register::R11L,
    Register::R12L,
    Register::R13L,
    Register::R14L,
];

fn reg_of(idx: usize, size: u32) -> Register {
    let base = match size {
        2 => Register::AX,
        4 => Register::EAX,
        _ => Register::RAX,
    };
    // SAFETY-free arithmetic on the enum through iced's own iterator.
    Register::values()
        .find(|r| r.is_gpr() && r.size() == size as usize && r.number() == idx && *r >= base)
        .expect("register")
}

fn random_reg(rng: &mut StdRng, size: u32) -> Register {
    if size == 1 {
        return R8[rng.gen_range(0..R8.len())];
    }
    loop {
        let i = rng.gen_range(0..15);
        if i != 4 {
            return reg_of(i, size);
        }
    }
}

fn interesting(rng: &mut StdRng) -> u64 {
    const V: [u64; 16] = [
        0,
        1,
        2,
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
        u64::MAX,
        0x1_0000_0000,
    ];
    match rng.gen_range(0..4) {
        0 => V[rng.gen_range(0..V.len())],
        1 => rng.gen_range(0..64),
        _ => rng.gen(),
    }
}

fn imm(rng: &mut StdRng, size: u32) -> i64 {
    let v = interesting(rng);
    match size {
        1 => v as i8 as i64,
        2 => v as i16 as i64,
        4 => v as i32 as i64,
        _ => v as i64,
    }
}

fn build(code: Code, args: &[Arg]) -> Option<Instruction> {
    use Arg::*;
    let r = match *args {
        [] => Ok(Instruction::with(code)),
        [R(a)] => Instruction::with1(code, a),
        [M(a)] => Instruction::with1(code, a),
        [I(a)] => Instruction::with1(code, a as i32),
        [R(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), M(b)] => Instruction::with2(code, a, b),
        [M(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), I(b)] if code == Code::Mov_r64_imm64 => Instruction::with2(code, a, b),
        [R(a), I(b)] => Instruction::with2(code, a, b as i32),
        [M(a), I(b)] => Instruction::with2(code, a, b as i32),
        [R(a), R(b), R(c)] => Instruction::with3(code, a, b, c),
        [M(a), R(b), R(c)] => Instruction::with3(code, a, b, c),
        [R(a), R(b), I(c)] => Instruction::with3(code, a, b, c as i32),
        [M(a), R(b), I(c)] => Instruction::with3(code, a, b, c as i32),
        [R(a), M(b), I(c)] => Instruction::with3(code, a, b, c as i32),
        _ => return None,
    };
    r.ok()
}

/// Flags each condition (o, b, e, be, s, p, l, le) depends on.
const COND_FLAGS: [u64; 8] = [
    1 << 11,
    1,
    1 << 6,
    1 | 1 << 6,
    1 << 7,
    1 << 2,
    1 << 7 | 1 << 11,
    1 << 6 | 1 << 7 | 1 << 11,
];
const OSZAPC: u64 = 0x8d5;
const DF: u64 = 1 << 10;
const SETCC_AT: i64 = 0xe00;

fn setcc_all(a: &mut CodeAssembler) {
    use iced_x86::code_asm::*;
    for i in 0..16 {
        let m = byte_ptr(r15 + SETCC_AT + i);
        match i {
            0 => a.seto(m),
            1 => a.setno(m),
            2 => a.setb(m),
            3 => a.setae(m),
            4 => a.sete(m),
            5 => a.setne(m),
            6 => a.setbe(m),
            7 => a.seta(m),
            8 => a.sets(m),
            9 => a.setns(m),
            10 => a.setp(m),
            11 => a.setnp(m),
            12 => a.setl(m),
            13 => a.setge(m),
            14 => a.setle(m),
            _ => a.setg(m),
        }
        .unwrap();
    }
}

struct Case {
    ins: Instruction,
    init: Regs,
    data: Vec<u8>,
    variant: u32,
}

/// Extra undefined flags that depend on operand values.
fn value_undefined(ins: &Instruction, init: &Regs) -> u64 {
    use Mnemonic::*;
    let m = ins.mnemonic();
    if !matches!(
        m,
        Shl | Sal | Shr | Sar | Rol | Ror | Rcl | Rcr | Shld | Shrd
    ) {
        return 0;
    }
    let size = if ins.op_kind(0) == iced_x86::OpKind::Register {
        ins.op0_register().size() as u64
    } else {
        ins.memory_size().size() as u64
    };
    let last = ins.op_count() - 1;
    let raw = if ins.op_kind(last) == iced_x86::OpKind::Register {
        init.gpr[1] & 0xff
    } else {
        ins.immediate(last)
    };
    let count = raw & if size == 8 { 0x3f } else { 0x1f };
    let mut u = 0;
    if count != 1 {
        u |= 1 << 11;
    }
    if matches!(m, Shl | Sal | Shr) && count >= size * 8 {
        u |= 1;
    }
    u
}

fn run_case(c: &Case, cfg: &TranslateConfig) -> Result<(), String> {
    let ins = c.ins;
    let variant = c.variant;
    let snippet = assemble(&|a| {
        a.add_instruction(ins)?;
        match variant {
            1 => setcc_all(a),
            2 => {
                let mut l = a.create_label();
                a.jmp(l)?;
                a.set_label(&mut l)?;
                setcc_all(a);
            }
            _ => {}
        }
        Ok(())
    });
    let img = image(&c.data);
    let emu = run_emu(&snippet.emu, snippet.end, &c.init, &img, cfg, &|_| {});
    let (nat, nmem) = run_native(&snippet.native, &c.init, &img);
    let mut errs = vec![];
    if emu.end != End::Done {
        errs.push(format!("emulation ended with {:?}", emu.end));
    }
    let undefined = iced_flags_to_x86(ins.rflags_undefined()) | value_undefined(&ins, &c.init);
    for i in 0..16 {
        if emu.state.regs[i] != nat.gpr[i] {
            errs.push(format!(
                "r{i}: emu {:#x} native {:#x} (init {:#x})",
                emu.state.regs[i], nat.gpr[i], c.init.gpr[i]
            ));
        }
    }
    let mask = (OSZAPC | DF) & !undefined;
    let ef = emu.state.eflags();
    if (ef ^ nat.rflags) & mask != 0 {
        errs.push(format!(
            "flags: emu {ef:#x} native {:#x} (init {:#x}, compared {mask:#x})",
            nat.rflags, c.init.rflags
        ));
    }
    for (base, len) in COMPARED {
        for a in base..base + len {
            let (e, n) = (emu.mem[a as usize], nmem[a as usize]);
            if e == n {
                continue;
            }
            let setcc = a as i64 - (DATA as i64 + 0x100 + SETCC_AT);
            if variant != 0 && (0..16).contains(&setcc) {
                let deps = COND_FLAGS[setcc as usize / 2];
                if deps & undefined != 0 {
                    continue;
                }
                errs.push(format!("setcc #{setcc}: emu {e} native {n}"));
                continue;
            }
            errs.push(format!("mem {a:#x}: emu {e:#x} native {n:#x}"));
            break;
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

fn gen_case(code: Code, specs: &[Spec], rng: &mut StdRng, it: u32, lock: bool) -> Option<Case> {
    use Mnemonic::*;
    let mn = code.mnemonic();
    let mut init = Regs::default();
    for (i, r) in init.gpr.iter_mut().enumerate() {
        *r = interesting(rng);
        if i == 4 {
            *r = STACK_TOP - 0x800;
        }
    }
    init.gpr[15] = DATA + 0x100;
    init.rflags = 0x202 | (rng.gen::<u64>() & OSZAPC);
    let mut data = vec![0u8; 0x1000];
    rng.fill(&mut data[..]);
    let mut args = vec![];
    let mut mem_disp = None;
    let mut count_cap = None;
    for (k, s) in specs.iter().enumerate() {
        let use_mem = lock || it % 2 == 1;
        let a = match *s {
            Spec::Reg(sz) => Arg::R(random_reg(rng, sz)),
            Spec::Rm(sz) if !use_mem => Arg::R(random_reg(rng, sz)),
            Spec::Rm(_) | Spec::Mem => {
                let d = rng.gen_range(0..0x200i64) - 0x80;
                mem_disp = Some(d);
                Arg::M(MemoryOperand::with_base_displ(Register::R15, d))
            }
            Spec::Fixed(r) => Arg::R(r),
            Spec::Imm(sz) => {
                let mut v = imm(rng, sz);
                if k > 0
                    && matches!(
                        mn,
                        Shl | Sal | Shr | Sar | Rol | Ror | Rcl | Rcr | Shld | Shrd
                    )
                {
                    v = rng.gen_range(0..72);
                }
                Arg::I(v)
            }
            Spec::One => Arg::I(1),
        };
        args.push(a);
    }
    if mn == Lea {
        // Random addressing: any base, index and scale, 64- or 32-bit.
        let size32 = rng.gen_bool(0.3);
        let pick = |rng: &mut StdRng| {
            let i = rng.gen_range(0..16);
            reg_of(i, if size32 { 4 } else { 8 })
        };
        let base = if rng.gen_bool(0.9) {
            pick(rng)
        } else {
            Register::None
        };
        let mut index = if rng.gen_bool(0.7) {
            pick(rng)
        } else {
            Register::None
        };
        if index == Register::RSP || index == Register::ESP {
            index = Register::None;
        }
        let scale = 1 << rng.gen_range(0..4);
        let disp = imm(rng, 4);
        let disp = if base == Register::None && index == Register::None && !size32 {
            disp & 0xffff
        } else {
            disp
        };
        args[1] = Arg::M(MemoryOperand::new(
            base,
            index,
            scale,
            disp,
            if disp == 0 { 0 } else { 4 },
            false,
            Register::None,
        ));
    }
    // Keep values in ranges where the result is architecturally defined and accesses stay
    // inside the test region.
    if matches!(mn, Shld | Shrd) {
        let size = match args[0] {
            Arg::R(r) => r.size(),
            _ => match specs[0] {
                Spec::Rm(s) => s as usize,
                _ => 8,
            },
        };
        if size == 2 {
            count_cap = Some(16u64);
        }
    }
    if let Some(cap) = count_cap {
        init.gpr[1] = (init.gpr[1] & !0xff) | rng.gen_range(0..=cap);
        if let Some(Arg::I(v)) = args.last_mut() {
            *v = rng.gen_range(0..=cap as i64);
        }
    }
    if matches!(mn, Bt | Bts | Btr | Btc) {
        if let (Arg::M(_), Arg::R(r)) = (args[0], args[1]) {
            let idx = r.full_register().number();
            init.gpr[idx] = rng.gen_range(0..0x1800u64).wrapping_sub(0x800);
        }
    }
    if mn == Cmpxchg && rng.gen_bool(0.5) {
        match args[0] {
            Arg::R(r) => init.gpr[0] = init.gpr[r.full_register().number()],
            _ => {
                let d = (0x100 + mem_disp.unwrap_or(0)) as usize;
                data[d..d + 8].copy_from_slice(&init.gpr[0].to_le_bytes());
            }
        }
    }
    let mut ins = build(code, &args)?;
    if lock {
        if !matches!(args.first(), Some(Arg::M(_))) {
            return None;
        }
        ins.set_has_lock_prefix(true);
    }
    // The encoder must accept it in 64-bit mode and decode back to the same code.
    let mut a = CodeAssembler::new(64).ok()?;
    a.add_instruction(ins).ok()?;
    let bytes = a.assemble(CODE).ok()?;
    let back = Decoder::with_ip(64, &bytes, CODE, DecoderOptions::NONE).decode();
    if back.code() != code {
        return None;
    }
    Some(Case {
        ins: back,
        init,
        data,
        variant: it % 3,
    })
}

fn run_mnemonics(mnemonics: &[Mnemonic], iterations: u32, cfg: &TranslateConfig) {
    run_forms(mnemonics, iterations, cfg, false)
}

fn run_forms(mnemonics: &[Mnemonic], iterations: u32, cfg: &TranslateConfig, lock: bool) {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut failures = vec![];
    let mut forms = 0;
    let mut runs = 0;
    for code in Code::values() {
        if !mnemonics.contains(&code.mnemonic()) {
            continue;
        }
        let Some(specs) = parse(code) else { continue };
        let mut ran = false;
        for it in 0..iterations {
            let Some(case) = gen_case(code, &specs, &mut rng, it, lock) else {
                continue;
            };
            ran = true;
            runs += 1;
            if let Err(e) = run_case(&case, cfg) {
                failures.push(format!("{code:?} `{}` it {it}: {e}", case.ins));
            }
        }
        if ran {
            forms += 1;
        }
    }
    eprintln!("{forms} forms, {runs} runs, {} failures", failures.len());
    assert!(forms > 0);
    if !failures.is_empty() {
        let n = failures.len();
        failures.truncate(40);
        panic!("{n} failures:\n{}", failures.join("\n"));
    }
}

const ITERS: u32 = 60;

fn cfg() -> TranslateConfig {
    TranslateConfig {
        cpu: CpuModel::MAX,
        ..TranslateConfig::default()
    }
}

#[test]
fn alu() {
    use Mnemonic::*;
    run_mnemonics(
        &[Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test],
        ITERS,
        &cfg(),
    );
}

#[test]
fn unary_and_incdec() {
    use Mnemonic::*;
    run_mnemonics(&[Inc, Dec, Neg, Not], ITERS, &cfg());
}

#[test]
fn mul() {
    use Mnemonic::*;
    run_mnemonics(&[Mul, Imul], ITERS, &cfg());
}

#[test]
fn shifts() {
    use Mnemonic::*;
    run_mnemonics(&[Shl, Sal, Shr, Sar], ITERS * 2, &cfg());
}

#[test]
fn rotates() {
    use Mnemonic::*;
    run_mnemonics(&[Rol, Ror, Rcl, Rcr], ITERS * 2, &cfg());
}

#[test]
fn double_shifts() {
    use Mnemonic::*;
    run_mnemonics(&[Shld, Shrd], ITERS * 2, &cfg());
}

#[test]
fn bit_ops() {
    use Mnemonic::*;
    run_mnemonics(
        &[Bt, Bts, Btr, Btc, Bsf, Bsr, Tzcnt, Lzcnt, Popcnt, Bswap],
        ITERS,
        &cfg(),
    );
}

#[test]
fn moves() {
    use Mnemonic::*;
    run_mnemonics(
        &[
            Mov, Movzx, Movsx, Movsxd, Lea, Xchg, Cbw, Cwde, Cdqe, Cwd, Cdq, Cqo,
        ],
        ITERS,
        &cfg(),
    );
}

#[test]
fn exchange_and_compare() {
    use Mnemonic::*;
    run_mnemonics(&[Xadd, Cmpxchg], ITERS, &cfg());
}

#[test]
fn conditional() {
    use Mnemonic::*;
    run_mnemonics(
        &[
            Cmovo, Cmovno, Cmovb, Cmovae, Cmove, Cmovne, Cmovbe, Cmova, Cmovs, Cmovns, Cmovp,
            Cmovnp, Cmovl, Cmovge, Cmovle, Cmovg, Seto, Setno, Setb, Setae, Sete, Setne, Setbe,
            Seta, Sets, Setns, Setp, Setnp, Setl, Setge, Setle, Setg,
        ],
        ITERS / 2,
        &cfg(),
    );
}

#[test]
fn stack_and_flags_ops() {
    use Mnemonic::*;
    run_mnemonics(
        &[Push, Pop, Pushfq, Lahf, Sahf, Clc, Stc, Cmc, Cld, Std],
        ITERS,
        &cfg(),
    );
}

#[test]
fn locked_read_modify_write() {
    use Mnemonic::*;
    run_forms(
        &[
            Add, Or, Adc, Sbb, And, Sub, Xor, Inc, Dec, Neg, Not, Xadd, Cmpxchg, Bts, Btr, Btc,
            Xchg,
        ],
        ITERS,
        &cfg(),
        true,
    );
}
