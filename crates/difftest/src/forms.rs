//! The instruction forms under test: every legacy-encoded iced `Code` valid in 64-bit mode
//! whose operands the generator can build, that the host CPU has and that the frontend
//! translates (found by translating one instance: an unimplemented form becomes a bare #UD
//! exit). New frontend work (more SSE, x87) is picked up without a table entry; the tables
//! here only exclude what cannot be compared natively and tune operands.

use iced_x86::{Code, CpuidFeature, EncodingKind, Mnemonic, OpCodeOperandKind as K, Register};
use tcg_frontend_x86::{translate_block, CpuModel, TranslateConfig};

use crate::state::CODE;

/// Which state an instruction form mostly works on (for statistics and state setup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// General-purpose instructions.
    Int,
    /// SSE and later vector instructions.
    Sse,
    /// x87.
    X87,
    /// MMX, and the forms of later extensions on mm registers.
    Mmx,
}

/// One instruction form.
#[derive(Clone, Debug)]
pub struct Form {
    /// The iced code.
    pub code: Code,
    /// Its mnemonic.
    pub mnemonic: Mnemonic,
    /// Its operand kinds.
    pub ops: Vec<K>,
    /// The state it works on.
    pub class: Class,
}

/// Mnemonics excluded because they cannot be compared natively in user space, with why.
pub const EXCLUDED: &[(Mnemonic, &str)] = &[
    (Mnemonic::Syscall, "enters the host kernel"),
    (
        Mnemonic::Cpuid,
        "the emulated CPU model differs from the host by design",
    ),
    (
        Mnemonic::Rdtsc,
        "time stamp counter: different on every read",
    ),
    (
        Mnemonic::Rdtscp,
        "time stamp counter: different on every read",
    ),
    (Mnemonic::Rdrand, "random"),
    (Mnemonic::Rdseed, "random"),
    (Mnemonic::Rdpid, "host processor number"),
    (Mnemonic::Xgetbv, "host XCR0"),
    (
        Mnemonic::Rdfsbase,
        "the native fs base is the host thread's TLS",
    ),
    (Mnemonic::Rdgsbase, "host segment base"),
    (Mnemonic::Wrfsbase, "would replace the host thread's TLS"),
    (Mnemonic::Wrgsbase, "host segment base"),
    (
        Mnemonic::Ret,
        "returns to an address taken from random stack contents",
    ),
    (Mnemonic::Pause, "a hint; nothing to compare"),
    (Mnemonic::Lfence, "a fence; nothing to compare"),
    (Mnemonic::Sfence, "a fence; nothing to compare"),
    (Mnemonic::Mfence, "a fence; nothing to compare"),
];

/// Codes (by their iced name) excluded, with why.
pub const EXCLUDED_CODES: &[(&str, &str)] = &[
    (
        "Jmp_rm64",
        "indirect jump to a random target (direct and conditional jumps are tested)",
    ),
    (
        "Call_rm64",
        "indirect call to a random target (direct calls are tested)",
    ),
];

fn host_has(f: CpuidFeature) -> bool {
    use CpuidFeature as F;
    match f {
        F::INTEL8086
        | F::INTEL186
        | F::INTEL286
        | F::INTEL386
        | F::INTEL486
        | F::X64
        | F::FPU
        | F::FPU287
        | F::FPU387
        | F::CMOV
        | F::CX8
        | F::FXSR
        | F::SSE
        | F::SSE2
        | F::MMX
        | F::MULTIBYTENOP
        | F::CLFSH => true,
        F::SSE3 => std::arch::is_x86_feature_detected!("sse3"),
        F::SSSE3 => std::arch::is_x86_feature_detected!("ssse3"),
        F::SSE4_1 => std::arch::is_x86_feature_detected!("sse4.1"),
        F::SSE4_2 => std::arch::is_x86_feature_detected!("sse4.2"),
        F::POPCNT => std::arch::is_x86_feature_detected!("popcnt"),
        F::LZCNT => std::arch::is_x86_feature_detected!("lzcnt"),
        F::BMI1 => std::arch::is_x86_feature_detected!("bmi1"),
        F::AES => std::arch::is_x86_feature_detected!("aes"),
        F::PCLMULQDQ => std::arch::is_x86_feature_detected!("pclmulqdq"),
        F::CMPXCHG16B => std::arch::is_x86_feature_detected!("cmpxchg16b"),
        F::MOVBE => std::arch::is_x86_feature_detected!("movbe"),
        F::ADX => std::arch::is_x86_feature_detected!("adx"),
        F::SHA => std::arch::is_x86_feature_detected!("sha"),
        _ => false,
    }
}

/// The CPU model the emulator is configured with: everything it implements that the host
/// has too (so that `lzcnt`/`tzcnt` mean the same on both sides).
pub fn cpu_model() -> CpuModel {
    let m = CpuModel::MAX;
    CpuModel {
        popcnt: m.popcnt && std::arch::is_x86_feature_detected!("popcnt"),
        cx16: m.cx16 && std::arch::is_x86_feature_detected!("cmpxchg16b"),
        bmi1: m.bmi1 && std::arch::is_x86_feature_detected!("bmi1"),
        lzcnt: m.lzcnt && std::arch::is_x86_feature_detected!("lzcnt"),
        rdtscp: m.rdtscp,
        sse3: m.sse3 && std::arch::is_x86_feature_detected!("sse3"),
        ssse3: m.ssse3 && std::arch::is_x86_feature_detected!("ssse3"),
        sse41: m.sse41 && std::arch::is_x86_feature_detected!("sse4.1"),
        sse42: m.sse42 && std::arch::is_x86_feature_detected!("sse4.2"),
        aes: m.aes && std::arch::is_x86_feature_detected!("aes"),
        pclmul: m.pclmul && std::arch::is_x86_feature_detected!("pclmulqdq"),
    }
}

/// Whether the generator can build an operand of this kind.
fn buildable(k: K) -> bool {
    matches!(
        k,
        K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r64_or_mem
            | K::xmm_or_mem
            | K::mem
            | K::mem_offs
            | K::r8_reg
            | K::r8_opcode
            | K::r16_reg
            | K::r16_rm
            | K::r16_opcode
            | K::r32_reg
            | K::r32_rm
            | K::r32_opcode
            | K::r64_reg
            | K::r64_rm
            | K::r64_opcode
            | K::xmm_reg
            | K::xmm_rm
            | K::mm_or_mem
            | K::mm_reg
            | K::mm_rm
            | K::al
            | K::cl
            | K::ax
            | K::eax
            | K::rax
            | K::st0
            | K::sti_opcode
            | K::imm8
            | K::imm8_const_1
            | K::imm8sex16
            | K::imm8sex32
            | K::imm8sex64
            | K::imm16
            | K::imm32
            | K::imm32sex64
            | K::imm64
            | K::seg_rSI
            | K::es_rDI
            | K::seg_rDI
            | K::seg_rBX_al
            | K::br64_1
            | K::br64_4
    )
}

fn class_of(code: Code, ops: &[K]) -> Class {
    let name = format!("{code:?}");
    if ops.iter().any(|k| matches!(k, K::st0 | K::sti_opcode)) || name.starts_with('F') {
        Class::X87
    } else if code.mnemonic() == Mnemonic::Emms
        || ops
            .iter()
            .any(|k| matches!(k, K::mm_reg | K::mm_rm | K::mm_or_mem))
    {
        Class::Mmx
    } else if ops
        .iter()
        .any(|k| matches!(k, K::xmm_reg | K::xmm_rm | K::xmm_or_mem))
        || code.cpuid_features().iter().any(|f| {
            !matches!(
                f,
                CpuidFeature::INTEL8086
                    | CpuidFeature::INTEL186
                    | CpuidFeature::INTEL286
                    | CpuidFeature::INTEL386
                    | CpuidFeature::INTEL486
                    | CpuidFeature::X64
                    | CpuidFeature::CMOV
                    | CpuidFeature::CX8
                    | CpuidFeature::POPCNT
                    | CpuidFeature::LZCNT
                    | CpuidFeature::BMI1
                    | CpuidFeature::CMPXCHG16B
                    | CpuidFeature::MOVBE
                    | CpuidFeature::ADX
                    | CpuidFeature::MULTIBYTENOP
            )
        })
    {
        Class::Sse
    } else {
        Class::Int
    }
}

/// Why a code is not under test, or `None` if it is a candidate.
fn excluded(code: Code) -> Option<String> {
    let oc = code.op_code();
    if code.encoding() != EncodingKind::Legacy || !oc.is_instruction() {
        return Some("not a legacy-encoded instruction".into());
    }
    if !oc.mode64() {
        return Some("invalid in 64-bit mode".into());
    }
    if oc.is_privileged() || oc.is_input_output() {
        return Some("privileged or I/O (cannot run in user space)".into());
    }
    if let Some((_, why)) = EXCLUDED.iter().find(|(m, _)| *m == code.mnemonic()) {
        return Some((*why).into());
    }
    let name = format!("{code:?}");
    if let Some((_, why)) = EXCLUDED_CODES.iter().find(|(c, _)| *c == name) {
        return Some((*why).into());
    }
    if let Some(f) = code.cpuid_features().iter().find(|f| !host_has(**f)) {
        return Some(format!("the host lacks {f:?}"));
    }
    if let Some(k) = oc.op_kinds().iter().find(|k| !buildable(**k)) {
        return Some(format!("operand kind {k:?} not generated"));
    }
    // Forms only the decoder's options enable, or 16/32-bit branch forms.
    if oc.decoder_option() != 0 {
        return Some("needs a decoder option".into());
    }
    None
}

/// The result of [`discover`].
#[derive(Debug, Default)]
pub struct Discovery {
    /// The forms under test.
    pub forms: Vec<Form>,
    /// Forms left out with the reason (not implemented by the frontend, excluded, ...).
    pub skipped: Vec<(Code, String)>,
}

/// Enumerates the forms under test for the emulator configured with `cpu`.
pub fn discover(cpu: CpuModel) -> Discovery {
    let mut d = Discovery::default();
    let cfg = TranslateConfig {
        cpu,
        max_insns: 1,
        ..TranslateConfig::default()
    };
    let ud = ud_signature(&cfg);
    for code in Code::values() {
        if let Some(why) = excluded(code) {
            if code.encoding() == EncodingKind::Legacy && code.op_code().mode64() {
                d.skipped.push((code, why));
            }
            continue;
        }
        let ops = code.op_code().op_kinds().to_vec();
        let form = Form {
            code,
            mnemonic: code.mnemonic(),
            class: class_of(code, &ops),
            ops,
        };
        let Some(bytes) = crate::gen::sample_bytes(&form) else {
            d.skipped.push((code, "no encodable sample".into()));
            continue;
        };
        // ud0/ud1/ud2 translate to exactly the #UD exit, and are under test all the same.
        let is_ud = matches!(form.mnemonic, Mnemonic::Ud0 | Mnemonic::Ud1 | Mnemonic::Ud2);
        if !is_ud && is_ud_block(&bytes, &cfg, &ud) {
            d.skipped
                .push((code, "not implemented by the frontend (#UD)".into()));
            continue;
        }
        d.forms.push(form);
    }
    d
}

/// The shape of the block the frontend makes for an instruction it cannot translate.
struct UdSig {
    kinds: Vec<std::mem::Discriminant<tcg::Op>>,
}

fn translate_one(bytes: &[u8], cfg: &TranslateConfig) -> tcg::Block {
    let mut fetch = |addr: u64, buf: &mut [u8]| -> usize {
        let o = (addr - CODE) as usize;
        if o >= bytes.len() {
            return 0;
        }
        let n = (bytes.len() - o).min(buf.len());
        buf[..n].copy_from_slice(&bytes[o..o + n]);
        n
    };
    translate_block(CODE, &mut fetch, cfg)
}

fn ud_signature(cfg: &TranslateConfig) -> UdSig {
    // An instruction no frontend translates: a VEX-encoded AVX-512 form would do, but ud2 is
    // the plainest: its translation is exactly the #UD exit.
    let b = translate_one(&[0x0f, 0x0b, 0xf4], cfg);
    UdSig {
        kinds: b.ops.iter().map(std::mem::discriminant).collect(),
    }
}

fn is_ud_block(bytes: &[u8], cfg: &TranslateConfig, ud: &UdSig) -> bool {
    let mut with_end = bytes.to_vec();
    with_end.push(0xf4);
    let b = translate_one(&with_end, cfg);
    if b.ops.len() != ud.kinds.len()
        || !b
            .ops
            .iter()
            .map(std::mem::discriminant)
            .eq(ud.kinds.iter().copied())
    {
        return false;
    }
    // Same shape: check that the stored vector is #UD (ud2's block stores 6).
    b.ops.iter().any(|op| {
        matches!(op, tcg::Op::Const { imm, .. } if *imm == u64::from(tcg_frontend_x86::vector::UD))
    })
}

/// The registers of a size class, in encoding order (with the high-byte registers after
/// the low bytes for 8-bit).
pub fn regs_of(k: K) -> &'static [Register] {
    use Register::*;
    const R8: &[Register] = &[
        AL, CL, DL, BL, SPL, BPL, SIL, DIL, R8L, R9L, R10L, R11L, R12L, R13L, R14L, R15L, AH, CH,
        DH, BH,
    ];
    const R16: &[Register] = &[
        AX, CX, DX, BX, SP, BP, SI, DI, R8W, R9W, R10W, R11W, R12W, R13W, R14W, R15W,
    ];
    const R32: &[Register] = &[
        EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, R8D, R9D, R10D, R11D, R12D, R13D, R14D, R15D,
    ];
    const R64: &[Register] = &[
        RAX,
        RCX,
        RDX,
        RBX,
        RSP,
        RBP,
        RSI,
        RDI,
        Register::R8,
        Register::R9,
        R10,
        R11,
        R12,
        R13,
        R14,
        R15,
    ];
    const XMM: &[Register] = &[
        XMM0, XMM1, XMM2, XMM3, XMM4, XMM5, XMM6, XMM7, XMM8, XMM9, XMM10, XMM11, XMM12, XMM13,
        XMM14, XMM15,
    ];
    const ST: &[Register] = &[ST0, ST1, ST2, ST3, ST4, ST5, ST6, ST7];
    const MM: &[Register] = &[MM0, MM1, MM2, MM3, MM4, MM5, MM6, MM7];
    match k {
        K::r8_or_mem | K::r8_reg | K::r8_opcode => R8,
        K::r16_or_mem | K::r16_reg | K::r16_rm | K::r16_opcode => R16,
        K::r32_or_mem | K::r32_reg | K::r32_rm | K::r32_opcode => R32,
        K::r64_or_mem | K::r64_reg | K::r64_rm | K::r64_opcode => R64,
        K::xmm_or_mem | K::xmm_reg | K::xmm_rm => XMM,
        K::sti_opcode => ST,
        K::mm_or_mem | K::mm_reg | K::mm_rm => MM,
        _ => &[],
    }
}
