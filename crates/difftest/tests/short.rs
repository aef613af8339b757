//! A short differential run as part of `cargo test` (the long runs are `cargo xtask
//! difftest`): random sequences of every implemented form, natively and emulated.
#![cfg(target_arch = "x86_64")]

use difftest::{print_summary, run, Options};

fn check(classes: &[&str], seed: u64, count: u64) {
    check_filtered(classes, &[], seed, count);
}

fn check_filtered(classes: &[&str], filter: &[&str], seed: u64, count: u64) {
    let opts = Options {
        seed,
        count,
        classes: classes.iter().map(|c| c.to_string()).collect(),
        filter: filter.iter().map(|c| c.to_string()).collect(),
        max_reports: 5,
        ..Options::default()
    };
    let mut out = Vec::new();
    let sum = run(&opts, &mut out).expect("difftest runs on x86-64");
    print_summary(&sum, &opts, &mut out);
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert_eq!(sum.run, count);
    assert!(sum.forms > 0);
    assert_eq!(sum.mismatches, 0, "mismatches:\n{text}");
}

#[test]
fn integer_sequences_match_native() {
    check(&["int"], 0x5eed_0001, 8000);
}

#[test]
fn sse_sequences_match_native() {
    check(&["sse"], 0x5eed_0002, 3000);
}

#[test]
fn x87_sequences_match_native() {
    check(&["x87"], 0x5eed_0003, 2000);
}

#[test]
fn mmx_sequences_match_native() {
    check(&["mmx"], 0x5eed_0004, 2000);
}

#[test]
fn rotates_through_carry_compare_only_defined_flags() {
    // OF after rcl/rcr by more than one: undefined, and Intel and AMD cores differ on a
    // whole turn of an 8- or 16-bit operand (counts 9, 18, 27; 17).
    check_filtered(&[], &["rcl", "rcr"], 0x5eed_0006, 3000);
}

#[test]
fn approximations_are_within_the_bound() {
    // rcpps and friends: the host's and the emulator's bits differ; both must be within the
    // architectural bound, and the special cases equal.
    check_filtered(
        &[],
        &["rcpps", "rcpss", "rsqrtps", "rsqrtss"],
        0x5eed_0005,
        1000,
    );
    use difftest::compare::approximation_within_bound as ok;
    let one = 0x3f80_0000;
    assert!(ok(one, one, false) && ok(one, one + 0x800, true));
    assert!(!ok(one, one + 0x1000, false), "2^-11 is outside the bound");
    assert!(!ok(0x4080_0000, 0x3f00_0000, false), "1/4 is not 1/2");
    assert!(!ok(0, 0xff80_0000, false), "1/+0 is +inf");
    assert!(ok(0x7f7f_ffff, 0, false), "1/max may flush");
    assert!(
        !ok(0xbf80_0000, 0xbf80_0000, true),
        "rsqrt(-1) is the default NaN"
    );
}

#[test]
fn a_sequence_replays_alone() {
    // Sequence i of a seed is the same whether run alone or within a range.
    let forms = difftest::forms::discover(difftest::forms::cpu_model()).forms;
    let a = difftest::gen::generate(&forms, 7, 123);
    let b = difftest::gen::generate(&forms, 7, 123);
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(a.init, b.init);
    assert_eq!(a.image, b.image);
}

#[test]
fn a_wrong_translation_is_reported() {
    // The tester must be able to fail: compare a native run against a doctored emulated
    // state.
    let forms = difftest::forms::discover(difftest::forms::cpu_model()).forms;
    let seq = difftest::gen::generate(&forms, 1, 0);
    let mut w = difftest::Harness::new().unwrap();
    let (nat, mut emu) = w.run(&seq);
    assert!(matches!(
        difftest::compare::compare(&seq, &nat, &emu),
        difftest::compare::Verdict::Match | difftest::compare::Verdict::Skipped(_)
    ));
    emu.state.gpr[3] ^= 1;
    if nat.outcome.precise {
        assert!(matches!(
            difftest::compare::compare(&seq, &nat, &emu),
            difftest::compare::Verdict::Mismatch(_)
        ));
    }
}

#[test]
fn float_results_overwritten_unread_still_raise_their_exceptions() {
    // A host float op whose result the next instruction overwrites is dead code to
    // Cranelift; dropped, it would not raise its exceptions in MXCSR.
    check_filtered(
        &["sse"],
        &[
            "addps", "mulsd", "sqrtpd", "divss", "movaps", "movdqa", "movsd", "xorps",
        ],
        0x5eed_0006,
        5000,
    );
}
