//! A first end-to-end check against the host CPU: needs an x86-64 host (the oracle).
#![cfg(target_arch = "x86_64")]

mod common;
use common::*;
use iced_x86::code_asm::*;
use tcg_frontend_x86::TranslateConfig;

#[test]
fn add_and_flags_match_native() {
    let s = assemble(&|a| {
        a.add(rax, rbx)?;
        a.mov(rcx, 5u64)?;
        Ok(())
    });
    let mut init = Regs::default();
    init.gpr[0] = u64::MAX;
    init.gpr[3] = 1;
    init.gpr[4] = STACK_TOP;
    init.rflags = 0x202;
    let img = image(&[0; 16]);
    let e = run_emu(
        &s.emu,
        s.end,
        &init,
        &img,
        &TranslateConfig::default(),
        &|_| {},
    );
    assert_eq!(e.end, End::Done);
    let (n, _) = run_native(&s.native, &init, &img);
    assert_eq!(e.state.regs, n.gpr);
    assert_eq!(
        e.state.eflags() & 0x8d5,
        n.rflags & 0x8d5,
        "{:#x} {:#x}",
        e.state.eflags(),
        n.rflags
    );
}
