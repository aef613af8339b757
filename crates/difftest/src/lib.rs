//! Differential tester: the host CPU is the oracle for the emulator's translation path.
//!
//! Random sequences of 1 to 5 instructions, drawn from every instruction form the frontend
//! implements (discovered from iced's form tables, see [`forms`]), run twice in a forked
//! worker from the same random state: natively, and through `translate_block` → Cranelift
//! `Compiler::compile` → `Backend::execute`, the code the emulator runs. The two final states
//! (GPRs, defined flags, xmm, MXCSR, x87, scratch memory) and ends (reaching the end or the
//! signal and its rip: #DE ↔ SIGFPE, #UD ↔ SIGILL, #GP ↔ SIGSEGV, ...) must agree.
//!
//! `cargo xtask difftest` is the command line; `tests/short.rs` a short run in `cargo test`.
//!
//! Only x86-64 hosts can run it (the native run is the reference); elsewhere [`run`]
//! returns an error saying so.
//!
//! # What is not compared, and why
//! * Forms that cannot run or compare in user space: privileged and I/O instructions,
//!   `syscall` and `int 0x80`, `cpuid`, `rdtsc(p)`, `rdrand`/`rdseed`/`rdpid`, `xgetbv`,
//!   fs/gs base access, fences and `pause` (nothing to compare), `ret` and indirect
//!   `jmp`/`call` (random targets); forms of features the host lacks; MMX (not generated).
//!   The list is [`forms::EXCLUDED`] and [`forms::EXCLUDED_CODES`]; `--list` prints every
//!   form left out with its reason, including those the frontend does not implement.
//! * Arithmetic flags the architecture leaves undefined (iced's `rflags_undefined`),
//!   tracked through the sequence; flags that a later instruction would read while
//!   undefined make the generator pick another instruction.
//! * The MXCSR_MASK in `fxsave` images (CPU-model specific). Every MXCSR and x87 status
//!   bit is compared (the random MXCSR includes FTZ and DAZ).
//! * The bits of `rcpps`, `rcpss`, `rsqrtps` and `rsqrtss`, which are model-specific: their
//!   results are checked against the architectural bound instead (see
//!   [`compare::is_approximation`]).
//! * Sequences where the guest set TF (single-step traps) or AC and then made a misaligned
//!   access (alignment checking): counted as skipped, the emulator models neither.
//! * The state after a guest page fault (the emulator guarantees only the faulting pc).
//! * After an x87 transcendental (`fsin`, `fcos`, `fsincos`, `fptan`, `fpatan`, `fyl2x`,
//!   `fyl2xp1`, `f2xm1`): ST values one ulp apart and C1 are tolerated, and no x87
//!   instruction follows one in a sequence (which could make a one-ulp difference large or
//!   store it). The host's results are within one ulp but not always correctly rounded, the
//!   emulator's always are (see [`compare::has_x87_transcendental`]).
//! * The x87 instruction and operand pointers (FIP, FCS, FOP, FDP, FDS) in `fnstenv` and
//!   `fnsave` images: the emulator does not track them.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;
#[cfg(target_arch = "x86_64")]
use std::time::Instant;

#[cfg(target_arch = "x86_64")]
pub mod compare;
#[cfg(target_arch = "x86_64")]
pub mod forms;
#[cfg(target_arch = "x86_64")]
pub mod gen;
#[cfg(target_arch = "x86_64")]
pub mod state;
#[cfg(target_arch = "x86_64")]
mod worker;
#[cfg(target_arch = "x86_64")]
pub use worker::{EndKind, Outcome, RunOut};

/// Runs sequences in a worker process, natively and emulated.
#[cfg(target_arch = "x86_64")]
#[derive(Debug)]
pub struct Harness {
    worker: worker::Worker,
    cpu: tcg_frontend_x86::CpuModel,
}

#[cfg(target_arch = "x86_64")]
impl Harness {
    /// Forks the worker.
    pub fn new() -> std::io::Result<Harness> {
        Ok(Harness {
            worker: worker::Worker::spawn()?,
            cpu: forms::cpu_model(),
        })
    }

    /// Runs `seq` both ways: (native, emulated). A lost worker (died or hung; it is
    /// replaced) shows as [`EndKind::WorkerLost`] on the emulated side.
    pub fn run(&mut self, seq: &gen::Sequence) -> (Box<RunOut>, Box<RunOut>) {
        self.worker.ensure_alive();
        let job = self.worker.job();
        job.init = seq.init;
        job.end = seq.end;
        job.cpu_bits = self.cpu.bits();
        job.image.copy_from_slice(&seq.image);
        match self.worker.run() {
            Some(r) => (Box::new(*r.native), Box::new(*r.emu)),
            None => {
                let mut lost = Box::new(RunOut::lost());
                lost.outcome.kind = EndKind::WorkerLost;
                (Box::new(RunOut::lost()), lost)
            }
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The seed; sequence `i` of a seed is always the same (for a given form pool).
    pub seed: u64,
    /// How many sequences.
    pub count: u64,
    /// The index of the first sequence (to replay one: `start = i`, `count = 1`).
    pub start: u64,
    /// Only forms with these mnemonics or iced codes (case-insensitive; empty = all).
    pub filter: Vec<String>,
    /// Only forms of these classes: `int`, `sse`, `x87`, `mmx` (empty = all).
    pub classes: Vec<String>,
    /// Print every sequence, not only mismatches.
    pub verbose: bool,
    /// Print at most this many mismatch reports (all are counted).
    pub max_reports: usize,
    /// ANSI colours in reports.
    pub color: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            count: 1000,
            start: 0,
            filter: vec![],
            classes: vec![],
            verbose: false,
            max_reports: 10,
            color: false,
        }
    }
}

/// Counters of one mnemonic.
#[derive(Clone, Copy, Debug, Default)]
pub struct Count {
    /// Sequences it appeared in.
    pub runs: u64,
    /// Mismatching sequences it appeared in.
    pub mismatches: u64,
}

/// The result of a run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Sequences run.
    pub run: u64,
    /// Sequences whose runs differed.
    pub mismatches: u64,
    /// Sequences not comparable (reason → count).
    pub skipped: BTreeMap<&'static str, u64>,
    /// Per mnemonic.
    pub by_mnemonic: BTreeMap<String, Count>,
    /// Indices of the mismatching sequences (the first 1000).
    pub mismatch_indices: Vec<u64>,
    /// Forms under test.
    pub forms: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// The command that replays sequence `index` under `opts`.
pub fn replay_command(opts: &Options, index: u64) -> String {
    let mut s = format!(
        "cargo xtask difftest --seed {} --index {index} --count 1",
        opts.seed
    );
    if !opts.filter.is_empty() {
        s.push_str(&format!(" --filter {}", opts.filter.join(",")));
    }
    if !opts.classes.is_empty() {
        s.push_str(&format!(" --class {}", opts.classes.join(",")));
    }
    s
}

/// Lists the forms under test and the ones left out (with why) to `out`.
#[cfg(target_arch = "x86_64")]
pub fn list_forms(out: &mut dyn Write) -> std::io::Result<()> {
    let d = forms::discover(forms::cpu_model());
    for f in &d.forms {
        writeln!(out, "test  {:?} ({:?})", f.code, f.class)?;
    }
    for (c, why) in &d.skipped {
        writeln!(out, "skip  {c:?}: {why}")?;
    }
    writeln!(
        out,
        "{} forms under test, {} left out",
        d.forms.len(),
        d.skipped.len()
    )
}

/// Lists the forms (unsupported host).
#[cfg(not(target_arch = "x86_64"))]
pub fn list_forms(_out: &mut dyn Write) -> std::io::Result<()> {
    Err(std::io::Error::other(unsupported_host()))
}

#[cfg(not(target_arch = "x86_64"))]
fn unsupported_host() -> String {
    format!(
        "the differential tester runs only on x86-64 hosts (the host CPU is the oracle); \
         this host is {}",
        std::env::consts::ARCH
    )
}

/// Runs `opts.count` sequences and reports mismatches to `out`.
#[cfg(not(target_arch = "x86_64"))]
pub fn run(_opts: &Options, _out: &mut dyn Write) -> Result<Summary, String> {
    Err(unsupported_host())
}

/// Runs `opts.count` sequences and reports mismatches to `out`.
#[cfg(target_arch = "x86_64")]
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<Summary, String> {
    use compare::Verdict;

    let t0 = Instant::now();
    let cpu = forms::cpu_model();
    let mut pool = forms::discover(cpu).forms;
    if !opts.filter.is_empty() {
        let want: Vec<String> = opts.filter.iter().map(|f| f.to_lowercase()).collect();
        pool.retain(|f| {
            let m = format!("{:?}", f.mnemonic).to_lowercase();
            let c = format!("{:?}", f.code).to_lowercase();
            want.iter().any(|w| *w == m || *w == c)
        });
        if pool.is_empty() {
            return Err(format!("no form under test matches {:?}", opts.filter));
        }
    }
    if !opts.classes.is_empty() {
        pool.retain(|f| {
            opts.classes
                .iter()
                .any(|c| c.eq_ignore_ascii_case(gen::class_name(f.class)))
        });
        if pool.is_empty() {
            return Err(format!("no form under test is of class {:?}", opts.classes));
        }
    }
    let mut sum = Summary {
        forms: pool.len(),
        ..Summary::default()
    };
    let mut h = Harness::new().map_err(|e| format!("cannot fork the worker: {e}"))?;
    let mut reports = 0;
    let mut last_progress = Instant::now();
    for index in opts.start..opts.start + opts.count {
        let seq = gen::generate(&pool, opts.seed, index);
        let (nat, emu) = h.run(&seq);
        let verdict = compare::compare(&seq, &nat, &emu);
        let mut text = String::new();
        if let Verdict::Mismatch(d) = &verdict {
            if reports < opts.max_reports || opts.verbose {
                text = compare::report(&seq, &nat, &emu, d, opts.color);
            }
        } else if opts.verbose {
            text = compare::disassembly(&seq);
        }
        sum.run += 1;
        let mut mnems: Vec<String> = seq
            .insns
            .iter()
            .map(|i| format!("{:?}", i.mnemonic()).to_lowercase())
            .collect();
        mnems.sort();
        mnems.dedup();
        let bad = matches!(verdict, Verdict::Mismatch(_));
        for m in &mnems {
            let c = sum.by_mnemonic.entry(m.clone()).or_default();
            c.runs += 1;
            c.mismatches += u64::from(bad);
        }
        match &verdict {
            Verdict::Match => {
                if opts.verbose {
                    let _ = write!(out, "ok #{index}\n{text}");
                }
            }
            Verdict::Skipped(why) => {
                *sum.skipped.entry(why).or_default() += 1;
                if opts.verbose {
                    let _ = write!(out, "skipped #{index}: {why}\n{text}");
                }
            }
            Verdict::Mismatch(d) => {
                sum.mismatches += 1;
                if sum.mismatch_indices.len() < 1000 {
                    sum.mismatch_indices.push(index);
                }
                if reports < opts.max_reports || opts.verbose {
                    reports += 1;
                    let _ = writeln!(
                        out,
                        "MISMATCH seed {} index {index} ({}): {}",
                        opts.seed,
                        mnems.join(" "),
                        d.join(", ")
                    );
                    let _ = write!(out, "{text}");
                    let _ = writeln!(out, "  replay: {}\n", replay_command(opts, index));
                }
            }
        }
        if last_progress.elapsed() > Duration::from_secs(10) && !opts.verbose {
            last_progress = Instant::now();
            let _ = writeln!(
                out,
                "... {} sequences, {} mismatches, {:.0?}",
                sum.run,
                sum.mismatches,
                t0.elapsed()
            );
        }
    }
    sum.elapsed = t0.elapsed();
    Ok(sum)
}

/// Prints a summary: totals, skipped reasons and mismatches by mnemonic.
pub fn print_summary(sum: &Summary, opts: &Options, out: &mut dyn Write) {
    let _ = writeln!(
        out,
        "difftest: seed {} sequences {}..{} ({} forms): {} run, {} mismatches, {} skipped, {:.1?}",
        opts.seed,
        opts.start,
        opts.start + opts.count,
        sum.forms,
        sum.run,
        sum.mismatches,
        sum.skipped.values().sum::<u64>(),
        sum.elapsed
    );
    for (why, n) in &sum.skipped {
        let _ = writeln!(out, "  skipped {n}: {why}");
    }
    let mut bad: Vec<(&String, &Count)> = sum
        .by_mnemonic
        .iter()
        .filter(|(_, c)| c.mismatches > 0)
        .collect();
    bad.sort_by_key(|(_, c)| std::cmp::Reverse(c.mismatches));
    if !bad.is_empty() {
        let _ = writeln!(
            out,
            "  mismatches by mnemonic (mismatching / sequences with it):"
        );
        for (m, c) in bad {
            let _ = writeln!(out, "    {m:<14} {} / {}", c.mismatches, c.runs);
        }
    }
}
