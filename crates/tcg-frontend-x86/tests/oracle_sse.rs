//! Differential tests of SSE/SSE2 instructions against the host CPU: every legacy-encoded
//! xmm form of the tested mnemonics with random and special (NaN, infinity, zero, denormal,
//! out-of-range) operands.
#![cfg(target_arch = "x86_64")]

mod common;

use common::*;
use iced_x86::code_asm::CodeAssembler;
use iced_x86::{
    Code, Decoder, DecoderOptions, EncodingKind, Instruction, MemoryOperand, Mnemonic, Register,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tcg_frontend_x86::{CpuModel, TranslateConfig};

#[derive(Clone, Copy, Debug)]
enum Spec {
    Mm,
    /// An mm register or memory of this many bytes.
    MmRm(u32),
    Xmm,
    XmmRm(u32),
    Mem(u32),
    Reg(u32),
    /// A register of this size or memory (of the size the code implies).
    Rm(u32, #[allow(dead_code)] u32),
    Imm,
}

#[derive(Clone, Copy, Debug)]
enum Arg {
    R(Register),
    M(MemoryOperand),
    I(i32),
}

fn parse(code: Code) -> Option<Vec<Spec>> {
    let name = format!("{code:?}");
    let mut v = vec![];
    for tok in name.split('_').skip(1) {
        v.push(match tok {
            "mm" => Spec::Mm,
            "mmm64" => Spec::MmRm(8),
            "mmm32" => Spec::MmRm(4),
            "xmm" => Spec::Xmm,
            "xmmm128" => Spec::XmmRm(16),
            "xmmm64" => Spec::XmmRm(8),
            "xmmm32" => Spec::XmmRm(4),
            "m128" => Spec::Mem(16),
            "m64" => Spec::Mem(8),
            "m32" => Spec::Mem(4),
            "r32" => Spec::Reg(4),
            "r64" => Spec::Reg(8),
            "xmmm16" => Spec::XmmRm(2),
            "rm8" => Spec::Rm(1, 1),
            "rm16" => Spec::Rm(2, 2),
            "rm32" => Spec::Rm(4, 4),
            "rm64" => Spec::Rm(8, 8),
            "r32m8" => Spec::Rm(4, 1),
            "r64m8" => Spec::Rm(8, 1),
            "r32m16" => Spec::Rm(4, 2),
            "r64m16" => Spec::Rm(8, 2),
            "r64m32" => Spec::Rm(8, 4),
            "imm8" => Spec::Imm,
            _ => return None,
        });
    }
    Some(v)
}

fn mm(i: usize) -> Register {
    Register::values()
        .find(|r| r.is_mm() && r.number() == i)
        .unwrap()
}

fn xmm(i: usize) -> Register {
    Register::values()
        .find(|r| r.is_xmm() && r.number() == i)
        .unwrap()
}

fn gpr(i: usize, size: u32) -> Register {
    Register::values()
        .find(|r| {
            r.is_gpr()
                && r.size() == size as usize
                && r.full_register().number() == i
                && !matches!(r, Register::AH | Register::CH | Register::DH | Register::BH)
        })
        .unwrap()
}

const F32: [u32; 27] = [
    0,
    0x8000_0000,
    0x3f80_0000,
    0xbf80_0000,
    0x3fc0_0000,
    0x4040_0000,
    0xc020_0000,
    0x3dcc_cccd,
    0x7149_f2ca,
    0x8ca2_5c04,
    0x7f80_0000,
    0xff80_0000,
    0x7fc0_0000,
    0x7f80_0001,
    0xffc0_0001,
    0x0000_0001,
    0x7f7f_ffff,
    0x4f00_0000,
    0xcf00_0000,
    0x4020_0000,
    0x3f00_0000,
    0x4f80_0000,
    // Around the underflow and overflow thresholds, and 1 +- ulp.
    0x0080_0001,
    0x007f_ffff,
    0x3f80_0001,
    0x3f7f_ffff,
    0x7f00_0000,
];
const F64: [u64; 27] = [
    0,
    0x8000_0000_0000_0000,
    0x3ff0_0000_0000_0000,
    0xbff0_0000_0000_0000,
    0x3ff8_0000_0000_0000,
    0x4008_0000_0000_0000,
    0xc004_0000_0000_0000,
    0x3fb9_9999_9999_999a,
    0x7e37_e43c_8800_759c,
    0x8194_8b0f_cd6e_9e06,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0x7ff0_0000_0000_0001,
    0xfff8_0000_0000_0001,
    0x0000_0000_0000_0001,
    0x7fef_ffff_ffff_ffff,
    0x41e0_0000_0000_0000,
    0xc3e0_0000_0000_0000,
    0x4004_0000_0000_0000,
    0x43e0_0000_0000_0000,
    0x41df_ffff_ffc0_0000,
    0x0010_0000_0000_0001,
    0x000f_ffff_ffff_ffff,
    0x3ff0_0000_0000_0001,
    0x3fef_ffff_ffff_ffff,
    0x7fe0_0000_0000_0000,
];

/// Whether two xmm values hold the same four f32 lanes, counting any two NaNs as equal.
fn same_f32_lanes_any_nan(a: [u64; 2], b: [u64; 2]) -> bool {
    let lanes = |x: [u64; 2]| x.map(|h| [h as u32, (h >> 32) as u32]).concat();
    let nan = |l: u32| l & 0x7f80_0000 == 0x7f80_0000 && l & 0x007f_ffff != 0;
    lanes(a)
        .iter()
        .zip(lanes(b))
        .all(|(&x, y)| x == y || nan(x) && nan(y))
}

fn special_half(rng: &mut StdRng) -> u64 {
    match rng.gen_range(0..5) {
        0 => rng.gen(),
        1 | 2 => {
            let a = F32[rng.gen_range(0..F32.len())] as u64;
            let b = F32[rng.gen_range(0..F32.len())] as u64;
            a | b << 32
        }
        3 => F64[rng.gen_range(0..F64.len())],
        _ => {
            // Small integers and byte patterns for the integer ops.
            let v: u64 = rng.gen();
            v & 0x8181_8181_8181_8181
        }
    }
}

fn build(code: Code, args: &[Arg]) -> Option<Instruction> {
    use Arg::*;
    match *args {
        [] => return Some(Instruction::with(code)),
        [R(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), M(b)] => Instruction::with2(code, a, b),
        [M(a), R(b)] => Instruction::with2(code, a, b),
        [R(a), I(b)] => Instruction::with2(code, a, b),
        [R(a), R(b), I(c)] => Instruction::with3(code, a, b, c),
        [R(a), M(b), I(c)] => Instruction::with3(code, a, b, c),
        [M(a)] => Instruction::with1(code, a),
        _ => return None,
    }
    .ok()
}

fn gen(
    code: Code,
    specs: &[Spec],
    rng: &mut StdRng,
    it: u32,
) -> Option<(Instruction, Regs, Vec<u8>)> {
    let mut init = base_regs();
    init.gpr[15] = DATA + 0x100;
    for (i, r) in init.gpr.iter_mut().enumerate() {
        if i != 4 && i != 15 {
            *r = special_half(rng);
        }
    }
    let strings = format!("{:?}", code.mnemonic()).starts_with("Pcmp")
        && format!("{:?}", code.mnemonic()).contains("str");
    let fill = if strings { stringy } else { special_half };
    for x in init.xmm.iter_mut() {
        *x = [fill(rng), fill(rng)];
    }
    init.rflags = 0x202 | (rng.gen::<u64>() & 0x8d5);
    // The x87 registers (the mm registers are their significands), TOP and tags: MMX
    // instructions must leave TOP 0, every tag valid and, for a written register, the sign
    // and exponent all ones.
    let mut x = X87 {
        sw: rng.gen_range(0..8) << 11,
        tw: rng.gen(),
        ..X87::default()
    };
    for r in x.st.iter_mut() {
        *r = (fill(rng), rng.gen());
    }
    init.set_x87(&x);
    let mut data = vec![0u8; 0x1000];
    for c in data.chunks_mut(8) {
        c.copy_from_slice(&fill(rng).to_le_bytes());
    }
    let use_mem = it % 2 == 1;
    let mut args = vec![];
    for s in specs {
        args.push(match *s {
            Spec::Mm => Arg::R(mm(rng.gen_range(0..8))),
            Spec::MmRm(_) if !use_mem => Arg::R(mm(rng.gen_range(0..8))),
            Spec::Xmm => Arg::R(xmm(rng.gen_range(0..16))),
            Spec::XmmRm(_) if !use_mem => Arg::R(xmm(rng.gen_range(0..16))),
            Spec::XmmRm(sz) | Spec::Mem(sz) | Spec::MmRm(sz) => {
                let d = if sz == 16 {
                    rng.gen_range(0..16i64) * 16
                } else {
                    rng.gen_range(0..0x100i64)
                };
                Arg::M(MemoryOperand::with_base_displ(Register::R15, d))
            }
            Spec::Reg(sz) => Arg::R(loop {
                let i = rng.gen_range(0..15);
                if i != 4 {
                    break gpr(i, sz);
                }
            }),
            Spec::Rm(sz, _) if !use_mem => Arg::R(loop {
                let i = rng.gen_range(0..15);
                if i != 4 {
                    break gpr(i, sz);
                }
            }),
            Spec::Rm(_, _) => Arg::M(MemoryOperand::with_base_displ(
                Register::R15,
                rng.gen_range(0..0x100i64),
            )),
            // Half the string compares get the inline forms (bytes, equal each, least
            // significant index: the glibc strcmp's), every polarity.
            Spec::Imm if strings && rng.gen_bool(0.5) => Arg::I(
                0x08 | rng.gen_range(0..4) << 4
                    | rng.gen_range(0..2) << 1
                    | rng.gen_range(0..2) << 7,
            ),
            Spec::Imm => Arg::I(rng.gen_range(0..256)),
        });
    }
    let ins = build(code, &args)?;
    let mut a = CodeAssembler::new(64).ok()?;
    a.add_instruction(ins).ok()?;
    let bytes = a.assemble(CODE).ok()?;
    let back = Decoder::with_ip(64, &bytes, CODE, DecoderOptions::NONE).decode();
    (back.code() == code).then_some((back, init, data))
}

fn run(mnemonics: &[Mnemonic], iterations: u32) {
    run_cpu(mnemonics, iterations, CpuModel::BASELINE, false);
}

/// Runs every form of `mnemonics` under `cpu`; `all_rc` cycles MXCSR through the four
/// rounding modes.
fn run_cpu(mnemonics: &[Mnemonic], iterations: u32, cpu: CpuModel, all_rc: bool) {
    let cfg = TranslateConfig {
        cpu,
        ..TranslateConfig::default()
    };
    run_cfg(mnemonics, iterations, cfg, all_rc);
}

/// [`run_cpu`] with the translation configuration `cfg`.
fn run_cfg(mnemonics: &[Mnemonic], iterations: u32, cfg: TranslateConfig, all_rc: bool) {
    let cpu = cfg.cpu;
    let mut rng = StdRng::seed_from_u64(
        std::env::var("ORACLE_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x55e),
    );
    let mut failures = vec![];
    let (mut forms, mut runs) = (0, 0);
    for code in Code::values() {
        // SSE4.1's pextrw r/m16 form is not part of the advertised (SSE2) model.
        if !mnemonics.contains(&code.mnemonic())
            || (matches!(
                code,
                Code::Pextrw_r32m16_xmm_imm8 | Code::Pextrw_r64m16_xmm_imm8
            ) && !cpu.sse41)
        {
            continue;
        }
        let Some(specs) = parse(code) else { continue };
        let mut ran = false;
        for it in 0..iterations {
            let Some((ins, init, data)) = gen(code, &specs, &mut rng, it) else {
                continue;
            };
            if ins.encoding() != EncodingKind::Legacy {
                continue;
            }
            let mut init = init;
            // Floating-point ops and conversions honour MXCSR.RC, DAZ and FTZ: try every
            // rounding mode with each, and with PE clear and already set (the host fast path
            // needs it set).
            if all_rc
                || mnemonics.contains(&Mnemonic::Cvtsd2si)
                || mnemonics.contains(&Mnemonic::Addps)
            {
                init.mxcsr = 0x1f80
                    | ((it / 2) % 4) << 13
                    | (it % 2) << 5
                    | [0, 0x40, 0x8000, 0x8040][it as usize / 8 % 4];
            }
            if matches!(
                code.mnemonic(),
                Mnemonic::Pcmpestri
                    | Mnemonic::Pcmpestrm
                    | Mnemonic::Pcmpestri64
                    | Mnemonic::Pcmpestrm64
            ) {
                // Explicit lengths: mostly in range, sometimes negative or huge.
                for r in [0, 2] {
                    init.gpr[r] = match rng.gen_range(0..4) {
                        0 => rng.gen(),
                        1 => (rng.gen_range(-20i64..0)) as u64,
                        _ => rng.gen_range(0..20),
                    };
                }
            }
            ran = true;
            runs += 1;
            let s = assemble(&|a| a.add_instruction(ins));
            let img = image(&data);
            let emu = run_emu(&s.emu, s.end, &init, &img, &cfg, &|_| {});
            let (nat, nmem) = run_native(&s.native, &init, &img);
            let mut errs = vec![];
            if emu.end != End::Done {
                errs.push(format!("ended with {:?}", emu.end));
            }
            for i in 0..16 {
                if emu.state.regs[i] != nat.gpr[i] {
                    errs.push(format!(
                        "r{i}: emu {:#x} native {:#x}",
                        emu.state.regs[i], nat.gpr[i]
                    ));
                }
                // Which NaN DPPS returns differs between Intel cores (some propagate an
                // operand's, some give the default NaN or drop the payload): only whether a
                // lane is NaN is the architecture's.
                let same = emu.state.xmm[i] == nat.xmm[i]
                    || ins.mnemonic() == Mnemonic::Dpps
                        && same_f32_lanes_any_nan(emu.state.xmm[i], nat.xmm[i]);
                if !same {
                    errs.push(format!(
                        "xmm{i}: emu {:x?} native {:x?} (init {:x?})",
                        emu.state.xmm[i], nat.xmm[i], init.xmm[i]
                    ));
                }
            }
            if emu_x87(&emu.state) != nat.x87() {
                errs.push(format!(
                    "x87/mm state: emu {:x?} native {:x?} (init {:x?})",
                    emu_x87(&emu.state),
                    nat.x87(),
                    init.x87()
                ));
            }
            if (emu.state.eflags() ^ nat.rflags) & 0x8d5 != 0 {
                errs.push(format!(
                    "flags emu {:#x} native {:#x}",
                    emu.state.eflags(),
                    nat.rflags
                ));
            }
            if emu.state.mxcsr != nat.mxcsr {
                errs.push(format!(
                    "mxcsr emu {:#x} native {:#x}",
                    emu.state.mxcsr, nat.mxcsr
                ));
            }
            for (base, len) in COMPARED {
                let r = base as usize..(base + len) as usize;
                if emu.mem[r.clone()] != nmem[r.clone()] {
                    errs.push("memory differs".into());
                }
            }
            if !errs.is_empty() {
                failures.push(format!("{code:?} `{ins}`: {}", errs.join("; ")));
            }
        }
        forms += usize::from(ran);
    }
    eprintln!("{forms} forms, {runs} runs, {} failures", failures.len());
    assert!(forms > 0);
    if !failures.is_empty() {
        let n = failures.len();
        failures.truncate(30);
        panic!("{n} failures:\n{}", failures.join("\n"));
    }
}

const N: u32 = 60;

#[test]
fn sse_moves() {
    use Mnemonic::*;
    run(
        &[
            Movd, Movq, Movdqa, Movdqu, Movaps, Movups, Movapd, Movupd, Movss, Movsd, Movhps,
            Movhpd, Movlps, Movlpd, Movhlps, Movlhps, Movntdq, Movntps, Movntpd, Movnti, Pmovmskb,
            Movmskps, Movmskpd, Pinsrw, Pextrw,
        ],
        N,
    );
}

#[test]
fn sse_integer() {
    use Mnemonic::*;
    run(
        &[
            Pxor, Por, Pand, Pandn, Paddb, Paddw, Paddd, Paddq, Psubb, Psubw, Psubd, Psubq, Paddsb,
            Paddsw, Paddusb, Paddusw, Psubsb, Psubsw, Psubusb, Psubusw, Pcmpeqb, Pcmpeqw, Pcmpeqd,
            Pcmpgtb, Pcmpgtw, Pcmpgtd, Pminub, Pmaxub, Pminsw, Pmaxsw, Pavgb, Pavgw, Pmullw,
            Pmulhw, Pmulhuw, Pmuludq, Pmaddwd, Psadbw, Punpcklbw, Punpcklwd, Punpckldq, Punpcklqdq,
            Punpckhbw, Punpckhwd, Punpckhdq, Punpckhqdq, Packsswb, Packssdw, Packuswb, Pshufd,
            Pshuflw, Pshufhw, Psllw, Pslld, Psllq, Psrlw, Psrld, Psrlq, Psraw, Psrad, Pslldq,
            Psrldq,
        ],
        N,
    );
}

/// The integer ops as hosts without lane ops run them (64-bit SWAR sequences); the default
/// on an x86-64 host is the IR's lane ops.
#[test]
fn sse_integer_without_lanes() {
    use Mnemonic::*;
    let cfg = TranslateConfig {
        lanes: false,
        cpu: CpuModel::X86_64_V2,
        ..TranslateConfig::default()
    };
    run_cfg(
        &[
            Paddb, Paddw, Paddd, Paddq, Psubb, Psubw, Psubd, Psubq, Pcmpeqb, Pcmpeqw, Pcmpeqd,
            Pminub, Pmaxub, Pmovmskb, Pxor, Punpcklbw, Punpcklwd, Punpckldq, Punpcklqdq, Punpckhbw,
            Punpckhwd, Punpckhdq, Punpckhqdq, Pshufd, Pshuflw, Pshufhw, Pshufb,
        ],
        N,
        cfg,
        false,
    );
}

#[test]
fn sse_float() {
    use Mnemonic::*;
    run(
        &[
            Xorps, Xorpd, Andps, Andpd, Orps, Orpd, Andnps, Andnpd, Shufps, Shufpd, Unpcklps,
            Unpckhps, Unpcklpd, Unpckhpd, Addps, Addpd, Addss, Addsd, Subps, Subpd, Subss, Subsd,
            Mulps, Mulpd, Mulss, Mulsd, Divps, Divpd, Divss, Divsd, Minps, Minpd, Minss, Minsd,
            Maxps, Maxpd, Maxss, Maxsd, Sqrtps, Sqrtpd, Sqrtss, Sqrtsd, Cmpps, Cmppd, Cmpss, Cmpsd,
            Ucomiss, Ucomisd, Comiss, Comisd,
        ],
        N * 3,
    );
}

/// The arithmetic fast paths as other hosts run them: operands and results guarded (the
/// default on an x86-64 host is its own SSE, unguarded).
#[test]
fn sse_float_guarded() {
    use Mnemonic::*;
    let cfg = TranslateConfig {
        host_sse: false,
        ..TranslateConfig::default()
    };
    run_cfg(
        &[
            Addps, Addpd, Addss, Addsd, Subps, Subpd, Subss, Subsd, Mulps, Mulpd, Mulss, Mulsd,
            Divps, Divpd, Divss, Divsd, Sqrtps, Sqrtpd, Sqrtss, Sqrtsd,
        ],
        N * 3,
        cfg,
        true,
    );
}

#[test]
fn sse_conversions() {
    use Mnemonic::*;
    run(
        &[
            Cvtsi2sd, Cvtsi2ss, Cvttsd2si, Cvtsd2si, Cvttss2si, Cvtss2si, Cvtss2sd, Cvtsd2ss,
            Cvtdq2pd, Cvtdq2ps, Cvttpd2dq, Cvtpd2dq, Cvttps2dq, Cvtps2dq, Cvtpd2ps, Cvtps2pd,
        ],
        N,
    );
}

/// The instructions only MMX has, and the SSE/SSE2 forms between mm and xmm registers (the
/// other MMX forms are tested with their xmm forms above: every test compares the x87
/// registers, TOP and tags too).
#[test]
fn mmx_moves_and_conversions() {
    use Mnemonic::*;
    run_cpu(
        &[
            Emms, Movq2dq, Movdq2q, Movntq, Pshufw, Cvtpi2ps, Cvtps2pi, Cvttps2pi, Cvtpi2pd,
            Cvtpd2pi, Cvttpd2pi,
        ],
        N * 2,
        CpuModel::BASELINE,
        true,
    );
}

/// String-like data for the SSE4.2 string compares: a small alphabet with NULs.
fn stringy(rng: &mut StdRng) -> u64 {
    let mut v = 0u64;
    for i in 0..8 {
        let c: u64 = match rng.gen_range(0..10) {
            0 => 0,
            1 => rng.gen_range(0..256),
            _ => b"abcAZ09_"[rng.gen_range(0..8)] as u64,
        };
        v |= c << (8 * i);
    }
    v
}

#[test]
fn sse3_ssse3() {
    use Mnemonic::*;
    run_cpu(
        &[
            Addsubps, Addsubpd, Haddps, Haddpd, Hsubps, Hsubpd, Movddup, Movshdup, Movsldup, Lddqu,
            Pabsb, Pabsw, Pabsd, Palignr, Phaddw, Phaddd, Phaddsw, Phsubw, Phsubd, Phsubsw,
            Pmaddubsw, Pmulhrsw, Pshufb, Psignb, Psignw, Psignd,
        ],
        N * 2,
        CpuModel::X86_64_V2,
        true,
    );
}

#[test]
fn sse41() {
    use Mnemonic::*;
    run_cpu(
        &[
            Blendps, Blendpd, Blendvps, Blendvpd, Pblendvb, Pblendw, Dpps, Dppd, Extractps,
            Insertps, Movntdqa, Mpsadbw, Packusdw, Pcmpeqq, Pextrb, Pextrd, Pextrq, Pextrw,
            Phminposuw, Pinsrb, Pinsrd, Pinsrq, Pmaxsb, Pmaxsd, Pmaxud, Pmaxuw, Pminsb, Pminsd,
            Pminud, Pminuw, Pmovsxbw, Pmovsxbd, Pmovsxbq, Pmovsxwd, Pmovsxwq, Pmovsxdq, Pmovzxbw,
            Pmovzxbd, Pmovzxbq, Pmovzxwd, Pmovzxwq, Pmovzxdq, Pmuldq, Pmulld, Ptest, Roundps,
            Roundpd, Roundss, Roundsd,
        ],
        N * 2,
        CpuModel::X86_64_V2,
        true,
    );
}

#[test]
fn sse42_aes_pclmul() {
    use Mnemonic::*;
    run_cpu(
        &[
            Pcmpgtq,
            Pcmpestri,
            Pcmpestri64,
            Pcmpestrm,
            Pcmpestrm64,
            Pcmpistri,
            Pcmpistrm,
            Crc32,
            Aesenc,
            Aesenclast,
            Aesdec,
            Aesdeclast,
            Aesimc,
            Aeskeygenassist,
            Pclmulqdq,
        ],
        N * 4,
        CpuModel::MAX,
        false,
    );
}

/// `pcmpistri` at length, half of the runs in the forms translated inline.
#[test]
fn pcmpistri_inline_forms() {
    run_cpu(&[Mnemonic::Pcmpistri], N * 20, CpuModel::MAX, false);
}

/// A snippet body.
type Body = dyn Fn(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>;

#[test]
fn extensions_raise_ud_without_their_feature() {
    use iced_x86::code_asm::*;
    let init = base_regs();
    let img = image(&[0u8; 0x1000]);
    let cases: [(&Body, CpuModel); 6] = [
        (&|a| a.haddps(xmm1, xmm2), CpuModel::BASELINE),
        (&|a| a.pshufb(xmm1, xmm2), CpuModel::BASELINE),
        (&|a| a.ptest(xmm1, xmm2), CpuModel::BASELINE),
        (&|a| a.crc32(eax, ecx), CpuModel::BASELINE),
        (&|a| a.aesenc(xmm1, xmm2), CpuModel::X86_64_V2),
        (&|a| a.pclmulqdq(xmm1, xmm2, 0), CpuModel::X86_64_V2),
    ];
    for (i, (body, cpu)) in cases.iter().enumerate() {
        let s = assemble(*body);
        let cfg = TranslateConfig {
            cpu: *cpu,
            ..TranslateConfig::default()
        };
        let run = run_emu(&s.emu, s.end, &init, &img, &cfg, &|_| {});
        assert_eq!(
            run.end,
            End::Exception {
                vector: tcg_frontend_x86::vector::UD,
                rip: CODE
            },
            "case {i}"
        );
        let run = run_emu(
            &s.emu,
            s.end,
            &init,
            &img,
            &TranslateConfig {
                cpu: CpuModel::MAX,
                ..TranslateConfig::default()
            },
            &|_| {},
        );
        assert_eq!(run.end, End::Done, "case {i} under max");
    }
}

#[test]
fn maskmovdqu_maskmovq_and_clflush_match_native() {
    use iced_x86::code_asm::*;
    let mut rng = StdRng::seed_from_u64(77);
    for round in 0..64 {
        let mut init = base_regs();
        init.gpr[7] = DATA + rng.gen_range(0..0x800);
        for x in init.xmm.iter_mut() {
            *x = [special_half(&mut rng), rng.gen()];
        }
        let mut x87 = X87::default();
        for r in x87.st.iter_mut() {
            *r = (special_half(&mut rng), rng.gen());
        }
        init.set_x87(&x87);
        let mut data = vec![0u8; 0x1000];
        rng.fill(&mut data[..]);
        let (s, m) = (rng.gen_range(0..16), rng.gen_range(0..16));
        let body = move |a: &mut CodeAssembler| -> Result<(), IcedError> {
            a.clflush(ptr(rdi))?;
            let x = [
                xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12,
                xmm13, xmm14, xmm15,
            ];
            a.maskmovdqu(x[s], x[m])?;
            let mm = [mm0, mm1, mm2, mm3, mm4, mm5, mm6, mm7];
            a.add(rdi, 32)?;
            a.maskmovq(mm[s % 8], mm[m % 8])
        };
        let sn = assemble(&body);
        let img = image(&data);
        let cfg = TranslateConfig::default();
        let emu = run_emu(&sn.emu, sn.end, &init, &img, &cfg, &|_| {});
        assert_eq!(emu.end, End::Done, "round {round}");
        let (nat, nmem) = run_native(&sn.native, &init, &img);
        for (base, len) in COMPARED {
            let r = base as usize..(base + len) as usize;
            assert!(
                emu.mem[r.clone()] == nmem[r],
                "round {round}: memory differs"
            );
        }
        assert_eq!(emu.state.xmm, nat.xmm);
        assert_eq!(emu_x87(&emu.state), nat.x87());
    }
}
