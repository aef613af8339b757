//! Acceptance tests: the C programs in `tests/guest/` are compiled statically with glibc
//! (`gcc -static -O2`, and again with `-march=x86-64-v2`) and musl (`musl-gcc -static -O2`),
//! run natively and under `emu` with the same argv, environment and working directory, and
//! must behave identically: same stdout, stderr, exit status (code or signal) and files left
//! behind. One test per program and build (`glibc::hello`, `glibc_v2::hello`,
//! `musl::hello`, ...). A program can add compiler flags with a line
//! `// emu-cflags: <flags>` in its source (e.g. `-O3 -march=x86-64-v2` or `-maes`).
//!
//! Binaries are cached under `target/tmp/guest-bin/`, keyed by a hash of the source, the
//! compiler and the flags, so reruns do not recompile. See `common/mod.rs` for
//! `EMU_TEST_FILTER`, `EMU_TEST_RUNNER` and `EMU_TEST_TIMEOUT`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{check_all, fnv, scratch, selected, workspace_root, Expect, Invocation};

/// The C library a guest is linked with.
#[derive(Debug, Clone, Copy)]
enum Libc {
    Glibc,
    /// glibc, compiled for x86-64-v2 (SSE4.2, POPCNT).
    GlibcV2,
    Musl,
}

impl Libc {
    fn name(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::GlibcV2 => "glibc_v2",
            Libc::Musl => "musl",
        }
    }

    /// Flags this build adds to [`CFLAGS`].
    fn flags(self) -> &'static [&'static str] {
        match self {
            Libc::GlibcV2 => &["-march=x86-64-v2"],
            _ => &[],
        }
    }

    fn compiler(self) -> &'static str {
        match self {
            Libc::Glibc | Libc::GlibcV2 => "gcc",
            Libc::Musl => "musl-gcc",
        }
    }
}

const CFLAGS: &[&str] = &["-static", "-O2"];
const LIBS: &[&str] = &["-lm"];

/// Compiles `tests/guest/<name>.c` (or reuses a cached binary); `None` when the compiler
/// is missing (musl-gcc is optional outside CI).
fn compile(libc: Libc, name: &str) -> Option<PathBuf> {
    let src = workspace_root()
        .join("tests/guest")
        .join(format!("{name}.c"));
    let source = std::fs::read(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
    let cc = libc.compiler();
    let version = match Command::new(cc).arg("--version").output() {
        Ok(o) if o.status.success() => o.stdout,
        _ => {
            if !matches!(libc, Libc::Musl) {
                panic!("{cc} is needed to build the guest programs");
            }
            eprintln!("note: {cc} not found: skipping the {} build of {name} (apt-get install musl-tools)", libc.name());
            return None;
        }
    };
    // Per-program flags from a `// emu-cflags: ...` line.
    let text = String::from_utf8_lossy(&source);
    let extra: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("// emu-cflags:"))
        .flat_map(str::split_whitespace)
        .collect();
    let flags: Vec<&str> = CFLAGS
        .iter()
        .chain(libc.flags())
        .copied()
        .chain(extra.iter().copied())
        .collect();
    let mut key = source.clone();
    key.extend_from_slice(&version);
    key.extend_from_slice(format!("{cc} {flags:?} {LIBS:?}").as_bytes());
    let dir = scratch(&format!("guest-bin/{}", libc.name()));
    let out = dir.join(format!("{name}-{:016x}", fnv(&key)));
    if out.exists() {
        return Some(out);
    }
    let tmp = dir.join(format!(
        "{name}.tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let result = Command::new(cc)
        .args(&flags)
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .args(LIBS)
        .output()
        .unwrap_or_else(|e| panic!("run {cc}: {e}"));
    if !result.status.success() {
        panic!(
            "{cc} failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    // Drop stale builds of this program, then publish the new one atomically.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if f.starts_with(&format!("{name}-")) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    std::fs::rename(&tmp, &out).unwrap_or_else(|e| panic!("rename {}: {e}", tmp.display()));
    Some(out)
}

/// Builds `program` with `libc`, then runs it with each argument list natively and under
/// emu in `target/tmp/guest-run/<libc>-<program>/`. `{cwd}` in an argument stands for
/// that directory's absolute path.
fn check_program(libc: Libc, program: &str, runs: &[&[&str]], expect: Expect) {
    let test = format!("{}::{program}", libc.name());
    if !selected(&test) {
        return;
    }
    let Some(binary) = compile(libc, program) else {
        return;
    };
    let cwd = scratch("guest-run").join(format!("{}-{program}", libc.name()));
    let cwd_str = cwd.to_str().expect("UTF-8 path").to_string();
    let invs: Vec<(Invocation, Expect)> = runs
        .iter()
        .map(|args| {
            let inv = Invocation {
                program: binary.clone(),
                args: args
                    .iter()
                    .map(|a| a.replace("{cwd}", &cwd_str).into())
                    .collect(),
                stdin: Vec::new(),
                cwd: cwd.clone(),
            };
            (inv, expect)
        })
        .collect();
    check_all(&test, &invs, &|_: &Path| {});
}

/// One `#[test]` per program and C library.
macro_rules! guest_programs {
    ($($(#[$attr:meta])* $program:ident: $runs:expr, $expect:expr;)*) => {
        mod glibc {
            $(
                #[test]
                $(#[$attr])*
                fn $program() {
                    super::check_program(super::Libc::Glibc, stringify!($program), $runs, $expect);
                }
            )*
        }
        mod glibc_v2 {
            $(
                #[test]
                $(#[$attr])*
                fn $program() {
                    super::check_program(super::Libc::GlibcV2, stringify!($program), $runs, $expect);
                }
            )*
        }
        mod musl {
            $(
                #[test]
                $(#[$attr])*
                fn $program() {
                    super::check_program(super::Libc::Musl, stringify!($program), $runs, $expect);
                }
            )*
        }
    };
}

guest_programs! {
    hello: &[&[]], crate::Expect::Same;
    args: &[
        &[],
        &["one", "two words", "", "--help", "-d", "in_asm", "-E", "X=1", "--", "ünïcödé", "*"],
    ], crate::Expect::Same;
    intarith: &[&[]], crate::Expect::Same;
    printf: &[&[]], crate::Expect::Same;
    longdouble: &[&[]], crate::Expect::Same;
    strings: &[&[]], crate::Expect::Same;
    sort: &[&[]], crate::Expect::Same;
    malloc: &[&[]], crate::Expect::Same;
    fileio: &[&["."], &["{cwd}"]], crate::Expect::Same;
    exitcode: &[&["0"], &["3"], &["42"], &["255"], &["256"], &["7", "_exit"]], crate::Expect::Same;
    segv: &[&[], &["high"], &["wild"]], crate::Expect::Fault;
    // execve: what the new program inherits and what it does not, failures, scripts, exec
    // from forked and vforked children, chains (in place, and through a fresh emu).
    execchain: &[&[]], crate::Expect::Same;
    abort: &[&[]], crate::Expect::Same;
    fpconv: &[&[]], crate::Expect::Same;
    libm: &[&[]], crate::Expect::Same;
    strfuncs: &[&[]], crate::Expect::Same;
    vector: &[&[]], crate::Expect::Same;
    crypto: &[&[]], crate::Expect::Same;
    // MMX through inline assembly, and the x87 state it leaves.
    mmx: &[&[]], crate::Expect::Same;
    // -ffast-math: MXCSR.FTZ and DAZ set at startup.
    fastmath: &[&[]], crate::Expect::Same;
    // Chains of SSE arithmetic with special values, compiled with the host-FPU fast paths.
    fpchain: &[&[]], crate::Expect::Same;
    // Threads (one vCPU per guest thread); the argument is the thread-churn count.
    threads: &[&["10000"]], crate::Expect::Same;
    robust: &[&[]], crate::Expect::Same;
    forkthreads: &[&[]], crate::Expect::Same;
    // Forks while other threads are inside memory syscalls: no lock they held stays held in
    // the child.
    forksyscalls: &[&["100"]], crate::Expect::Same;
    // Self-modifying code, and cross-modifying code seen by other threads.
    smc: &[&[]], crate::Expect::Same;
    xmodify: &[&[]], crate::Expect::Same;
    // A forked child runs code translated before the fork while its parent's JIT makes new
    // code (`emu_options` runs it with a cache small enough to flush).
    forkjit: &[&[]], crate::Expect::Same;
    // A file page mapped twice: written through one view, run through the other.
    dualmap: &[&[]], crate::Expect::Same;
    // With no -smp the guest sees the host's CPUs, as natively.
    nproc: &[&[]], crate::Expect::Same;
    // x86-TSO litmus tests (two threads, N rounds): outcomes TSO forbids never show up,
    // which on weak-memory hosts depends on the barriers the backend emits.
    litmus_mp: &[&["5000"]], crate::Expect::Same;
    litmus_sb: &[&["5000"]], crate::Expect::Same;
    litmus_sbfence: &[&["5000"]], crate::Expect::Same;
    // Locked instructions on operands across a cache line, and cmpxchg16b, racing with
    // aligned ones of another thread (hosts other than x86-64 run them in exclusive sections).
    splitlock: &[&[]], crate::Expect::Same;
}
