//! Comparing the two runs and printing a mismatch.

use std::fmt::Write;

use iced_x86::{Formatter, IntelFormatter};

use crate::gen::Sequence;
use crate::state::{fx, CpuState, COMPARED, G, GPR_NAMES};
use crate::worker::{EndKind, Outcome, RunOut};

/// Whether `seq` runs an x87 transcendental (`fsin`, `fcos`, `fsincos`, `fptan`, `fpatan`,
/// `fyl2x`, `fyl2xp1`, `f2xm1`). The host's results are within one ulp but not always
/// correctly rounded, the emulator's always are (see the README): after one, ST values may
/// differ by one ulp and C1 ("rounded up") may differ.
/// The generator lets no x87 instruction follow one, so the result is not used.
pub fn has_x87_transcendental(seq: &Sequence) -> bool {
    seq.insns
        .iter()
        .any(|i| is_x87_transcendental(i.mnemonic()))
}

/// Whether `m` is an x87 transcendental (see [`has_x87_transcendental`]).
pub fn is_x87_transcendental(m: iced_x86::Mnemonic) -> bool {
    use iced_x86::Mnemonic as M;
    matches!(
        m,
        M::Fsin | M::Fcos | M::Fsincos | M::Fptan | M::Fpatan | M::Fyl2x | M::Fyl2xp1 | M::F2xm1
    )
}

/// Whether `m` is one of the approximations `rcpps`, `rcpss`, `rsqrtps`, `rsqrtss`: the
/// architecture bounds their error and leaves the bits to the processor model, so their
/// results are checked against the bound (see [`approximation_ok`]). The generator puts
/// one only last in a sequence, with a source other than its destination.
pub fn is_approximation(m: iced_x86::Mnemonic) -> bool {
    use iced_x86::Mnemonic as M;
    matches!(m, M::Rcpps | M::Rcpss | M::Rsqrtps | M::Rsqrtss)
}

/// Whether `r` is an acceptable `rcp` (or, `sqrt`, `rsqrt`) result for the operand `x`:
/// the special cases exactly as the SDM gives them (NaN quieted; zero or denormal: infinity
/// of its sign; infinity: zero of its sign; negative operand of rsqrt: the default NaN),
/// else within 1.5 * 2^-12 relative of the exact value, or a zero of its sign when a
/// result within the bound may be below the smallest normal (tiny results are flushed).
pub fn approximation_within_bound(x: u32, r: u32, sqrt: bool) -> bool {
    let sign = x & 0x8000_0000;
    let xf = f32::from_bits(x);
    if xf.is_nan() {
        return r == x | 0x0040_0000;
    }
    if x & 0x7f80_0000 == 0 {
        return r == sign | 0x7f80_0000;
    }
    if sqrt && sign != 0 {
        return r == 0xffc0_0000;
    }
    if xf.is_infinite() {
        return r == sign;
    }
    let exact = if sqrt {
        1.0 / f64::from(xf).sqrt()
    } else {
        1.0 / f64::from(xf)
    };
    let bound = 1.5 * 2f64.powi(-12) * exact.abs();
    let rf = f64::from(f32::from_bits(r));
    if r == sign && exact.abs() - bound < f64::from(f32::MIN_POSITIVE) {
        return true;
    }
    r & 0x7f80_0000 != 0 && (rf - exact).abs() <= bound
}

/// Whether xmm register `reg` may differ between the native final state `nat` and the
/// emulated `emu` because `seq` ends with an approximation writing it: then each lane it
/// computes must be within the bound in both runs (from the operand, which the instruction
/// left in place), and every other lane equal.
fn approximation_ok(seq: &Sequence, nat: &RunOut, emu: &RunOut, reg: usize) -> bool {
    use iced_x86::{Mnemonic as M, OpKind};
    let Some(ins) = seq.insns.last() else {
        return false;
    };
    let m = ins.mnemonic();
    if !is_approximation(m)
        || nat.outcome.kind != EndKind::Done
        || ins.op0_kind() != OpKind::Register
        || ins.op0_register().number() != reg
    {
        return false;
    }
    let (a, b) = (&nat.state, &emu.state);
    let src: u128 = match ins.op1_kind() {
        OpKind::Register => {
            let v = a.xmm(ins.op1_register().number());
            u128::from(v[0]) | u128::from(v[1]) << 64
        }
        OpKind::Memory => {
            let mut ea = ins.memory_displacement64();
            let gpr = |r: iced_x86::Register| a.gpr[r.full_register().number()];
            if ins.memory_base() != iced_x86::Register::None
                && ins.memory_base() != iced_x86::Register::RIP
            {
                ea = ea.wrapping_add(gpr(ins.memory_base()));
            }
            if ins.memory_index() != iced_x86::Register::None {
                ea = ea.wrapping_add(
                    gpr(ins.memory_index()).wrapping_mul(u64::from(ins.memory_index_scale())),
                );
            }
            if ins.memory_base().size() == 4 || ins.memory_index().size() == 4 {
                ea &= 0xffff_ffff;
            }
            let n = ins.memory_size().size();
            let Some(o) = ea.checked_sub(G).map(|o| o as usize) else {
                return false;
            };
            let Some(bytes) = nat.mem.get(o..o + n) else {
                return false;
            };
            let mut buf = [0u8; 16];
            buf[..n].copy_from_slice(bytes);
            u128::from_le_bytes(buf)
        }
        _ => return false,
    };
    let lanes = if matches!(m, M::Rcpps | M::Rsqrtps) {
        4
    } else {
        1
    };
    let sqrt = matches!(m, M::Rsqrtps | M::Rsqrtss);
    let (na, ea) = (a.xmm(reg), b.xmm(reg));
    let lane = |v: [u64; 2], i: usize| (v[i / 2] >> (32 * (i % 2))) as u32;
    (0..4).all(|i| {
        if i >= lanes {
            lane(na, i) == lane(ea, i)
        } else {
            let x = (src >> (32 * i)) as u32;
            approximation_within_bound(x, lane(na, i), sqrt)
                && approximation_within_bound(x, lane(ea, i), sqrt)
        }
    })
}

/// Whether two extended values are one ulp apart (same sign, finite, adjacent encodings).
fn one_ulp_apart(a: (u64, u16), b: (u64, u16)) -> bool {
    if a.1 & 0x7fff == 0x7fff || b.1 & 0x7fff == 0x7fff || (a.1 ^ b.1) & 0x8000 != 0 {
        return false;
    }
    let key = |v: (u64, u16)| u128::from(v.1 & 0x7fff) << 63 | u128::from(v.0 & !(1 << 63));
    key(a).abs_diff(key(b)) == 1
}

/// Whether ST(i) differs between the native state `a` and the emulated `b` (only a valid
/// native register is compared; one ulp is tolerated when `trans`).
fn st_differs(a: &CpuState, b: &CpuState, i: usize, trans: bool) -> bool {
    a.st_valid(i) && a.st(i) != b.st(i) && !(trans && one_ulp_apart(a.st(i), b.st(i)))
}

/// The verdict on one sequence.
#[derive(Debug)]
pub enum Verdict {
    /// Everything compared is equal.
    Match,
    /// Not comparable (the reason), e.g. the guest single-stepped itself.
    Skipped(&'static str),
    /// The listed differences.
    Mismatch(Vec<String>),
}

fn sig_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGALRM => "SIGALRM",
        0 => "-",
        _ => "signal",
    }
}

/// One line describing an outcome.
pub fn describe(o: &Outcome, detail: &str) -> String {
    match o.kind {
        EndKind::Done => "reached the end".into(),
        EndKind::Signal => {
            let mut s = format!("{} (code {}) at rip {:#x}", sig_name(o.sig), o.code, o.rip);
            if o.addr != 0 {
                let _ = write!(s, ", address {:#x}", o.addr);
            }
            s
        }
        EndKind::Timeout => "timed out".into(),
        EndKind::EmuError => format!("emulator error: {detail}"),
        EndKind::WorkerLost => "the worker died or hung".into(),
    }
}

/// Masks applied to one comparison.
#[derive(Clone, Copy, Debug)]
pub struct Masks {
    /// RFLAGS bits compared.
    pub rflags: u64,
    /// MXCSR bits compared.
    pub mxcsr: u32,
    /// x87 status word bits compared.
    pub fsw: u16,
}

/// The arithmetic flags undefined where a run of `seq` ended with `o`.
pub fn undefined_at(seq: &Sequence, o: &Outcome) -> u64 {
    let n = seq.insns.len();
    if o.kind == EndKind::Done {
        return seq.undefined_in[n];
    }
    // A fault reports the faulting instruction, a trap the next one.
    match seq.insns.iter().position(|i| i.ip() == o.rip) {
        Some(k) => seq.undefined_in[k],
        None if o.rip == seq.end => seq.undefined_in[n],
        None => seq.undefined_in.iter().fold(0, |a, b| a | b),
    }
}

/// The masks for `seq` ended with `o`.
///
/// Every MXCSR and x87 status bit is compared, except C1 after an x87 transcendental (see
/// [`has_x87_transcendental`]).
pub fn masks(seq: &Sequence, o: &Outcome) -> Masks {
    // OSZAPC (less the undefined ones), TF, DF, NT, AC, ID.
    let rflags = (0x8d5 & !undefined_at(seq, o)) | 0x100 | 0x400 | 0x4000 | 0x4_0000 | 0x20_0000;
    let c1 = if has_x87_transcendental(seq) {
        0x200
    } else {
        0
    };
    Masks {
        rflags,
        mxcsr: !0,
        fsw: !c1,
    }
}

/// Compares the two runs of `seq`.
#[allow(clippy::needless_range_loop)]
pub fn compare(seq: &Sequence, nat: &RunOut, emu: &RunOut) -> Verdict {
    let no = &nat.outcome;
    let eo = &emu.outcome;
    if no.kind == EndKind::Signal && no.sig == libc::SIGTRAP && no.code == libc::TRAP_TRACE {
        return Verdict::Skipped("the guest set TF (single-step traps are not modelled)");
    }
    if no.kind == EndKind::Signal && no.sig == libc::SIGBUS {
        return Verdict::Skipped("the guest set AC (alignment checking is not modelled)");
    }
    if no.kind == EndKind::WorkerLost || eo.kind == EndKind::WorkerLost {
        return Verdict::Mismatch(vec!["the worker died or hung".into()]);
    }
    if no.kind == EndKind::Timeout {
        return Verdict::Skipped("the native run timed out");
    }
    let mut diffs = vec![];
    let same_end = match (no.kind, eo.kind) {
        (EndKind::Done, EndKind::Done) => true,
        (EndKind::Signal, EndKind::Signal) => {
            no.sig == eo.sig && (no.rip == eo.rip || eo.rip == u64::MAX)
        }
        _ => false,
    };
    if !same_end {
        diffs.push(format!(
            "end: native {}, emulated {}",
            describe(no, &nat.detail()),
            describe(eo, &emu.detail())
        ));
        return Verdict::Mismatch(diffs);
    }
    if !(no.precise && eo.precise) {
        return Verdict::Match;
    }
    let m = masks(seq, no);
    let (a, b) = (&nat.state, &emu.state);
    for i in 0..16 {
        if a.gpr[i] != b.gpr[i] {
            diffs.push(GPR_NAMES[i].to_string());
        }
    }
    if (a.rflags ^ b.rflags) & m.rflags != 0 {
        diffs.push("rflags".into());
    }
    for i in 0..16 {
        if a.xmm(i) != b.xmm(i) && !approximation_ok(seq, nat, emu, i) {
            diffs.push(format!("xmm{i}"));
        }
    }
    if (a.mxcsr() ^ b.mxcsr()) & m.mxcsr != 0 {
        diffs.push("mxcsr".into());
    }
    if a.u16(fx::FCW) != b.u16(fx::FCW) {
        diffs.push("fcw".into());
    }
    if (a.u16(fx::FSW) ^ b.u16(fx::FSW)) & m.fsw != 0 {
        diffs.push("fsw".into());
    }
    if a.fx[fx::FTW] != b.fx[fx::FTW] {
        diffs.push("ftw".into());
    }
    let trans = has_x87_transcendental(seq);
    for i in 0..8 {
        if st_differs(a, b, i, trans) {
            diffs.push(format!("st{i}"));
        }
    }
    if first_memory_difference(seq, nat, emu).is_some() {
        diffs.push("memory".into());
    }
    if diffs.is_empty() {
        Verdict::Match
    } else {
        Verdict::Mismatch(diffs)
    }
}

/// Whether the byte at `addr` is compared.
fn compared_byte(seq: &Sequence, addr: u64) -> bool {
    !seq.masked.iter().any(|(r, _)| r.contains(&addr))
}

/// The first compared address whose bytes differ.
fn first_memory_difference(seq: &Sequence, nat: &RunOut, emu: &RunOut) -> Option<u64> {
    let r = (COMPARED.start - G) as usize..(COMPARED.end - G) as usize;
    if nat.mem[r.clone()] == emu.mem[r.clone()] {
        return None;
    }
    COMPARED.clone().find(|&a| {
        let o = (a - G) as usize;
        nat.mem[o] != emu.mem[o] && compared_byte(seq, a)
    })
}

fn mark(differs: bool, color: bool) -> (&'static str, &'static str) {
    match (differs, color) {
        (false, _) => ("  ", ""),
        (true, false) => ("!!", ""),
        (true, true) => ("\x1b[31m!!", "\x1b[0m"),
    }
}

/// The disassembly of a sequence with its bytes, one instruction a line.
pub fn disassembly(seq: &Sequence) -> String {
    let mut s = String::new();
    let mut f = IntelFormatter::new();
    for ins in &seq.insns {
        let mut t = String::new();
        f.format(ins, &mut t);
        let o = (ins.ip() - crate::state::CODE) as usize;
        let bytes: Vec<String> = seq.bytes[o..o + ins.len()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(s, "    {:#x}: {:<36} {}", ins.ip(), bytes.join(" "), t);
    }
    let _ = writeln!(s, "    {:#x}: {:<36} hlt (end)", seq.end, "f4");
    s
}

/// The full report of a mismatch: code, outcomes, the initial and both final states with
/// the differing lines marked, and the differing memory.
#[allow(clippy::needless_range_loop)]
pub fn report(seq: &Sequence, nat: &RunOut, emu: &RunOut, diffs: &[String], color: bool) -> String {
    let mut s = String::new();
    let hex: Vec<String> = seq.bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(s, "  bytes: {}", hex.join(" "));
    s.push_str(&disassembly(seq));
    let _ = writeln!(s, "  differs: {}", diffs.join(", "));
    let _ = writeln!(
        s,
        "  end: native {}; emulated {}",
        describe(&nat.outcome, &nat.detail()),
        describe(&emu.outcome, &emu.detail())
    );
    let m = masks(seq, &nat.outcome);
    let (i, a, b) = (&seq.init, &nat.state, &emu.state);
    let _ = writeln!(
        s,
        "     {:<8} {:<34} {:<34} {:<34}",
        "", "initial", "native", "emulated"
    );
    let row = |s: &mut String, name: &str, iv: String, av: String, bv: String, differs: bool| {
        let (m0, m1) = mark(differs, color);
        let _ = writeln!(s, "  {m0} {name:<8} {iv:<34} {av:<34} {bv:<34}{m1}");
    };
    for r in 0..16 {
        row(
            &mut s,
            GPR_NAMES[r],
            format!("{:#018x}", i.gpr[r]),
            format!("{:#018x}", a.gpr[r]),
            format!("{:#018x}", b.gpr[r]),
            a.gpr[r] != b.gpr[r],
        );
    }
    let fl = |v: u64| {
        let mut t = format!("{v:#08x} ");
        for (bit, c) in [
            (11, 'O'),
            (10, 'D'),
            (7, 'S'),
            (6, 'Z'),
            (4, 'A'),
            (2, 'P'),
            (0, 'C'),
        ] {
            t.push(if v >> bit & 1 != 0 { c } else { '.' });
        }
        t
    };
    row(
        &mut s,
        "rflags",
        fl(i.rflags),
        fl(a.rflags),
        fl(b.rflags),
        (a.rflags ^ b.rflags) & m.rflags != 0,
    );
    let _ = writeln!(
        s,
        "           (compared rflags bits: {:#x}; undefined here: {:#x})",
        m.rflags,
        undefined_at(seq, &nat.outcome)
    );
    for r in 0..16 {
        let x = |c: &CpuState| format!("{:016x}:{:016x}", c.xmm(r)[1], c.xmm(r)[0]);
        let d = a.xmm(r) != b.xmm(r);
        if d || i.xmm(r) != a.xmm(r) {
            row(&mut s, &format!("xmm{r}"), x(i), x(a), x(b), d);
        }
    }
    row(
        &mut s,
        "mxcsr",
        format!("{:#x}", i.mxcsr()),
        format!("{:#x}", a.mxcsr()),
        format!("{:#x}", b.mxcsr()),
        (a.mxcsr() ^ b.mxcsr()) & m.mxcsr != 0,
    );
    for (name, o) in [("fcw", fx::FCW), ("fsw", fx::FSW)] {
        let msk = if name == "fsw" { m.fsw } else { !0 };
        row(
            &mut s,
            name,
            format!("{:#06x}", i.u16(o)),
            format!("{:#06x}", a.u16(o)),
            format!("{:#06x}", b.u16(o)),
            (a.u16(o) ^ b.u16(o)) & msk != 0,
        );
    }
    row(
        &mut s,
        "ftw",
        format!("{:08b}", i.fx[fx::FTW]),
        format!("{:08b}", a.fx[fx::FTW]),
        format!("{:08b}", b.fx[fx::FTW]),
        a.fx[fx::FTW] != b.fx[fx::FTW],
    );
    for r in 0..8 {
        let x = |c: &CpuState| {
            let (mm, e) = c.st(r);
            format!("{}{e:04x}:{mm:016x}", if c.st_valid(r) { ' ' } else { '-' })
        };
        let d = st_differs(a, b, r, has_x87_transcendental(seq));
        if d || i.st_valid(r) || a.st_valid(r) {
            row(&mut s, &format!("st{r}"), x(i), x(a), x(b), d);
        }
    }
    // Memory: differing 16-byte lines.
    let mut shown = 0;
    let mut line = COMPARED.start;
    while line < COMPARED.end {
        let o = (line - G) as usize;
        let (na, ea) = (&nat.mem[o..o + 16], &emu.mem[o..o + 16]);
        if (0..16).any(|k| na[k] != ea[k] && compared_byte(seq, line + k as u64)) {
            if shown == 0 {
                let _ = writeln!(s, "  memory (initial / native / emulated):");
            }
            if shown < 16 {
                let h = |b: &[u8]| {
                    b.iter()
                        .map(|x| format!("{x:02x}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let (m0, m1) = mark(true, color);
                let _ = writeln!(s, "     {line:#x}: {}", h(&seq.image[o..o + 16]));
                let _ = writeln!(s, "  {m0} {line:#x}: {}{m1}", h(na));
                let _ = writeln!(s, "  {m0} {line:#x}: {}{m1}", h(ea));
            }
            shown += 1;
        }
        line += 16;
    }
    if shown > 16 {
        let _ = writeln!(s, "     ... {} more differing lines", shown - 16);
    }
    s
}
