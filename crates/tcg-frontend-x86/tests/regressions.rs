//! Regression tests for bugs found by the differential tester (crates/difftest): each runs
//! the failing sequence natively and emulated and compares.
#![cfg(target_arch = "x86_64")]

mod common;

use common::*;
use iced_x86::code_asm::*;
use tcg_frontend_x86::{CpuModel, TranslateConfig};

const FLAGS: u64 = 0x8d5 | 0x400;

fn cfg() -> TranslateConfig {
    TranslateConfig {
        cpu: CpuModel::MAX,
        ..TranslateConfig::default()
    }
}

#[test]
fn jecxz_tests_ecx_not_rcx() {
    // rcx = 2^32: ecx is zero, so jecxz jumps (jrcxz would not).
    for count in [0x1_0000_0000u64, 0, 1, 0xffff_ffff_0000_0001] {
        let mut init = base_regs();
        init.gpr[1] = count;
        let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
            // jecxz +5 (code_asm has no 64-bit-mode jecxz), over `mov eax, 7`.
            a.db(&[0x67, 0xe3, 0x05])?;
            a.mov(eax, 7u32)?;
            a.nop()?;
            Ok(())
        };
        let emu = check_native(&body, &init, &[0; 16], &cfg(), FLAGS);
        assert_eq!(emu.state.regs[0] == 7, count as u32 != 0);
    }
}

#[test]
fn int_3_and_int_4_trap_after_the_instruction_like_linux() {
    // `int 3` (cd 03) is #BP and `int 4` #OF through user-accessible gates: traps reported
    // after the instruction (SIGTRAP and SIGSEGV natively); other vectors are #GP at it.
    for (n, vec, after) in [
        (3u8, tcg_frontend_x86::vector::BP, true),
        (4, tcg_frontend_x86::vector::OF, true),
        (5, tcg_frontend_x86::vector::GP, false),
        (0x21, tcg_frontend_x86::vector::GP, false),
    ] {
        let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
            a.nop()?;
            a.db(&[0xcd, n])?;
            Ok(())
        };
        let s = assemble(&body);
        let run = run_emu(&s.emu, s.end, &base_regs(), &image(&[]), &cfg(), &|_| {});
        let rip = CODE + 1 + if after { 2 } else { 0 };
        assert_eq!(run.end, End::Exception { vector: vec, rip }, "int {n:#x}");
    }
}

#[test]
fn xlat_and_reserved_nops_are_implemented() {
    // xlat (d7, and 67 d7 with ebx) used to raise #UD; so did the hint NOPs 0f 18..0f 1f
    // with reg fields the decoder calls "reserved nop", which CPUs execute as NOPs.
    let data: Vec<u8> = (0..=255u8).map(|b| b.wrapping_mul(37) ^ 0x5a).collect();
    for (low, addr32) in [(0u64, false), (0x7f, false), (0xff, true), (0x80, true)] {
        let mut init = base_regs();
        init.gpr[0] = 0x1234_5600 | low;
        init.gpr[3] = if addr32 {
            DATA | 0xdead_0000_0000_0000
        } else {
            DATA
        };
        let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
            if addr32 {
                a.db(&[0x67, 0xd7])?;
            } else {
                a.db(&[0xd7])?;
            }
            a.db(&[0x0f, 0x18, 0x38])?; // prefetchit0 [rax] (0f 18 /7), a hint
            a.db(&[0x0f, 0x19, 0x00])?; // reserved nop [rax] (0f 19 /0)
            a.db(&[0x0f, 0x0d, 0x38])?; // reserved prefetch [rax] (0f 0d /7)
            a.db(&[0x0f, 0x1e, 0xc8])?; // reserved nop eax, ecx (0f 1e /1)
            Ok(())
        };
        let emu = check_native(&body, &init, &data, &cfg(), FLAGS);
        assert_eq!(emu.state.regs[0] & 0xff, u64::from(data[low as usize]));
    }
}

#[test]
fn register_forms_of_0f_0d_raise_ud() {
    // 0f 0d with a register operand is #UD (natively SIGILL); its memory forms are hints.
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        a.db(&[0x0f, 0x0d, 0x08])?; // prefetchw-group [rax]: a NOP
        a.db(&[0x41, 0x0f, 0x0d, 0xe2])?; // register form: #UD
        Ok(())
    };
    let s = assemble(&body);
    let run = run_emu(&s.emu, s.end, &base_regs(), &image(&[]), &cfg(), &|_| {});
    assert_eq!(
        run.end,
        End::Exception {
            vector: tcg_frontend_x86::vector::UD,
            rip: CODE + 3
        }
    );
}
