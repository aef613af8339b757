//! Shared machinery of the acceptance tests: run a program natively and under `emu` with the
//! same argv, environment and working directory, and compare what each did: stdout, stderr,
//! exit status (code or signal) and the files left in the working directory.
//!
//! Environment variables:
//! - `EMU_TEST_FILTER`: comma-separated substrings; only tests whose name (`glibc::hello`,
//!   `musl::strings`, `busybox::gzip`) contains one of them run, the others pass with a note.
//! - `EMU_TEST_RUNNER`: a command (split on whitespace) to run guests with instead of the
//!   `emu` binary, e.g. `qemu-x86_64` or a pass-through script, to check the suite itself,
//!   or a cross-built emu under qemu-user (`cargo xtask cross-test`). qemu-user's own report
//!   of a death by signal (`qemu: uncaught target signal ...`) is dropped from stderr.
//! - `EMU_TEST_TIMEOUT`: seconds one run may take (default 120) before it is killed.

#![allow(dead_code)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The fixed environment every guest runs with (the harness clears everything else).
pub const GUEST_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("HOME", "/nonexistent-home"),
    ("LANG", "C"),
    ("LC_ALL", "C"),
    ("TZ", "UTC"),
    ("EMU_TEST_A", "alpha"),
    ("EMU_TEST_B", "two words = \"quoted\""),
    ("EMU_TEST_EMPTY", ""),
];

/// Where a program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Directly on this (x86-64) host.
    Native,
    /// Under the `emu` binary (or `EMU_TEST_RUNNER`).
    Emu,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Native => "native",
            Side::Emu => "emu",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Code(i32),
    Signal(i32),
    /// Killed by the harness after this many seconds.
    TimedOut(u64),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Status::Code(c) => write!(f, "exit code {c}"),
            Status::Signal(s) => write!(f, "killed by signal {s} ({})", signal_name(s)),
            Status::TimedOut(t) => write!(f, "timed out after {t}s (killed by the harness)"),
        }
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        _ => "?",
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: Status,
    /// The working directory's contents afterwards: one line per entry with its type, size
    /// and a hash of its contents.
    pub files: Vec<String>,
    pub elapsed: Duration,
}

/// One program invocation, the same on both sides.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Absolute path of the program; also its argv[0].
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub stdin: Vec<u8>,
    /// Working directory: emptied and repopulated by the setup before each side runs.
    pub cwd: PathBuf,
}

/// What the comparison expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Identical stdout, stderr, status and files.
    Same,
    /// The program dies of a memory fault: both sides are killed by SIGSEGV with identical
    /// stdout; emu's stderr is one line mentioning SIGSEGV or a segmentation fault, which the
    /// native run does not print.
    Fault,
}

/// `true` when the test should run under `EMU_TEST_FILTER`; otherwise prints a note.
pub fn selected(test: &str) -> bool {
    let filter = std::env::var("EMU_TEST_FILTER").unwrap_or_default();
    if filter.trim().is_empty() {
        return true;
    }
    let hit = filter
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .any(|f| test.contains(f));
    if !hit {
        eprintln!("note: {test} skipped by EMU_TEST_FILTER={filter}");
    }
    hit
}

pub fn timeout() -> Duration {
    let secs = std::env::var("EMU_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// The command that runs a guest under emulation: `emu` or `EMU_TEST_RUNNER`.
fn emu_command() -> Vec<String> {
    match std::env::var("EMU_TEST_RUNNER") {
        Ok(r) if !r.trim().is_empty() => r.split_whitespace().map(String::from).collect(),
        _ => vec![env!("CARGO_BIN_EXE_emu").to_string()],
    }
}

/// A short description of what runs a guest under emulation, for messages.
pub fn emu_description() -> String {
    emu_command().join(" ")
}

/// The workspace root (where `tests/guest` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch directory under `target/`.
pub fn scratch(sub: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(sub);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Empties `dir` (creating it if needed).
pub fn reset_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", dir.display()),
    }
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
}

/// 64-bit FNV-1a.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Lists `dir` recursively: `path type size hash`, sorted.
pub fn snapshot(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                out.push(format!("{rel}/ dir"));
                walk(root, &path, out);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_default();
                out.push(format!("{rel} symlink -> {}", target.display()));
            } else {
                let data = std::fs::read(&path).unwrap_or_default();
                out.push(format!(
                    "{rel} file {} bytes fnv {:016x}",
                    data.len(),
                    fnv(&data)
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Runs `inv` on one side, with a clean environment (`GUEST_ENV`), in its own process group,
/// without core dumps, killed after `timeout()`.
pub fn run(side: Side, inv: &Invocation) -> Outcome {
    let mut cmd = match side {
        Side::Native => Command::new(&inv.program),
        Side::Emu => {
            let runner = emu_command();
            let mut c = Command::new(&runner[0]);
            c.args(&runner[1..]).arg(&inv.program);
            c
        }
    };
    cmd.args(&inv.args)
        .current_dir(&inv.cwd)
        .env_clear()
        .envs(GUEST_ENV.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit,
    // which is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        });
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {side:?} {:?}: {e}", cmd.get_program()));
    let pid = child.id() as libc::pid_t;

    let mut stdin = child.stdin.take().expect("stdin");
    let input = inv.stdin.clone();
    let writer = std::thread::spawn(move || {
        // The program may exit without reading its input: ignore EPIPE.
        let _ = stdin.write_all(&input);
    });
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });

    let limit = timeout();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                break match (st.code(), st.signal()) {
                    (Some(c), _) => Status::Code(c),
                    (None, Some(s)) => Status::Signal(s),
                    (None, None) => Status::Code(-1),
                };
            }
            Ok(None) if start.elapsed() > limit => {
                kill_group(pid);
                let _ = child.wait();
                break Status::TimedOut(limit.as_secs());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("wait: {e}"),
        }
    };
    let elapsed = start.elapsed();
    // Anything the program left running in its group (it would hold the pipes open).
    kill_group(pid);
    let _ = writer.join();
    let stdout = out_reader.join().expect("stdout reader");
    let mut stderr = err_reader.join().expect("stderr reader");
    if side == Side::Emu && std::env::var_os("EMU_TEST_RUNNER").is_some() {
        stderr = drop_runner_report(stderr);
    }
    Outcome {
        stdout,
        stderr,
        status,
        files: snapshot(&inv.cwd),
        elapsed,
    }
}

/// Drops the line qemu-user prints when the program it runs dies of a core-dumping signal
/// (`qemu: uncaught target signal 6 (Aborted) - core dumped`): the runner's, not emu's.
fn drop_runner_report(stderr: Vec<u8>) -> Vec<u8> {
    const REPORT: &[u8] = b"qemu: uncaught target signal ";
    stderr
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.starts_with(REPORT))
        .flatten()
        .copied()
        .collect()
}

/// Kills the process group this harness created for a run (by its id, never by name).
fn kill_group(pgid: libc::pid_t) {
    // SAFETY: kill(2) with a negative pid signals the process group `pgid`, which is the
    // group made for our own child by `process_group(0)`; it has no memory-safety effects.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Runs `inv` natively and then under emu, each after `setup` has repopulated the working
/// directory, and returns both outcomes.
pub fn run_both(inv: &Invocation, setup: &dyn Fn(&Path)) -> (Outcome, Outcome) {
    reset_dir(&inv.cwd);
    setup(&inv.cwd);
    let native = run(Side::Native, inv);
    reset_dir(&inv.cwd);
    setup(&inv.cwd);
    let emu = run(Side::Emu, inv);
    (native, emu)
}

/// Compares two outcomes; returns a readable description of every difference (empty when
/// they agree).
pub fn compare(native: &Outcome, emu: &Outcome, expect: Expect) -> Vec<String> {
    let mut problems = Vec::new();
    if native.status != emu.status {
        problems.push(format!(
            "exit status differs: native {}, emu {}",
            native.status, emu.status
        ));
    }
    match expect {
        Expect::Same => {
            if native.stderr != emu.stderr {
                problems.push(render_diff("stderr", &native.stderr, &emu.stderr));
            }
        }
        Expect::Fault => {
            if native.status != Status::Signal(libc::SIGSEGV) {
                problems.push(format!(
                    "the native run was expected to die of SIGSEGV but ended with {}",
                    native.status
                ));
            }
            let text = String::from_utf8_lossy(&emu.stderr);
            let body = text.strip_suffix('\n').unwrap_or(&text);
            let lower = body.to_lowercase();
            if body.is_empty() || body.contains('\n') {
                problems.push(format!(
                    "emu's stderr should be exactly one line naming the fault, got {} line(s):\n{}",
                    if body.is_empty() {
                        0
                    } else {
                        body.lines().count()
                    },
                    excerpt(&emu.stderr)
                ));
            } else if !lower.contains("sigsegv") && !lower.contains("segmentation") {
                problems.push(format!(
                    "emu's stderr line does not mention SIGSEGV or a segmentation fault: {body}"
                ));
            }
        }
    }
    if native.stdout != emu.stdout {
        problems.push(render_diff("stdout", &native.stdout, &emu.stdout));
    }
    if native.files != emu.files {
        problems.push(render_diff(
            "working-directory contents afterwards",
            native.files.join("\n").as_bytes(),
            emu.files.join("\n").as_bytes(),
        ));
    }
    problems
}

const EXCERPT_LINES: usize = 25;
const EXCERPT_BYTES: usize = 2500;
const LINE_BYTES: usize = 300;

/// Escapes control bytes and invalid UTF-8 so output is readable (and one line stays one).
fn escape_line(line: &[u8]) -> String {
    let mut s = String::new();
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    if s.len() > LINE_BYTES {
        let mut cut = LINE_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let more = s.len() - cut;
        s.truncate(cut);
        let _ = write!(s, "... ({more} more bytes)");
    }
    s
}

/// The first lines of an output, indented, with a note of what was left out.
pub fn excerpt(data: &[u8]) -> String {
    if data.is_empty() {
        return "    (empty)\n".to_string();
    }
    let mut s = String::new();
    let mut used = 0;
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if i == EXCERPT_LINES || used >= EXCERPT_BYTES {
            let _ = writeln!(
                s,
                "    ... ({} more lines, {} more bytes)",
                lines.len() - i,
                data.len() - used
            );
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let _ = writeln!(
            s,
            "    |{}{}",
            escape_line(body),
            if line.ends_with(b"\n") {
                ""
            } else {
                "  (no newline at end)"
            }
        );
        used += line.len();
    }
    s
}

/// Describes how two outputs differ: sizes, the first differing line of each, and excerpts.
pub fn render_diff(what: &str, native: &[u8], emu: &[u8]) -> String {
    let first_byte = native
        .iter()
        .zip(emu)
        .position(|(a, b)| a != b)
        .unwrap_or(native.len().min(emu.len()));
    let line_no = native[..first_byte].iter().filter(|&&b| b == b'\n').count();
    let nth = |data: &[u8]| -> String {
        match data.split(|&b| b == b'\n').nth(line_no) {
            Some(l) if !(l.is_empty() && data.len() <= first_byte) => escape_line(l),
            _ => "(end of output)".to_string(),
        }
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{what} differs: native {} bytes, emu {} bytes; first difference at byte {first_byte}, line {}",
        native.len(),
        emu.len(),
        line_no + 1
    );
    let _ = writeln!(s, "  native line {}: {}", line_no + 1, nth(native));
    let _ = writeln!(s, "  emu    line {}: {}", line_no + 1, nth(emu));
    let _ = write!(s, "  native {what}:\n{}", excerpt(native));
    let _ = write!(s, "  emu {what}:\n{}", excerpt(emu));
    s
}

/// A one-paragraph account of a failed comparison. Differences in the status and stderr
/// (where emu reports an unimplemented instruction or syscall) come before stdout's.
pub fn report(
    label: &str,
    inv: &Invocation,
    native: &Outcome,
    emu: &Outcome,
    problems: &[String],
) -> String {
    let mut s = String::new();
    let args: Vec<String> = inv.args.iter().map(|a| format!("{a:?}")).collect();
    let _ = writeln!(
        s,
        "=== {label}: {} [{}] (emu: {})",
        inv.program.display(),
        args.join(", "),
        emu_description()
    );
    let _ = writeln!(
        s,
        "native: {} in {:?}; emu: {} in {:?}",
        native.status, native.elapsed, emu.status, emu.elapsed
    );
    for p in problems {
        let _ = writeln!(s, "- {p}");
    }
    s
}

/// Runs every invocation on both sides and panics with a readable report if any differ;
/// returns the (native, emu) outcomes otherwise.
pub fn check_all(
    test: &str,
    invs: &[(Invocation, Expect)],
    setup: &dyn Fn(&Path),
) -> Vec<(Outcome, Outcome)> {
    let mut failures = String::new();
    let mut outcomes = Vec::new();
    for (i, (inv, expect)) in invs.iter().enumerate() {
        let (native, emu) = run_both(inv, setup);
        let problems = compare(&native, &emu, *expect);
        let label = format!("{test} run {}/{}", i + 1, invs.len());
        eprintln!(
            "{label}: native {} in {:?}, emu {} in {:?}: {}",
            native.status,
            native.elapsed,
            emu.status,
            emu.elapsed,
            if problems.is_empty() {
                "same"
            } else {
                "DIFFERENT"
            }
        );
        if !problems.is_empty() {
            failures.push_str(&report(&label, inv, &native, &emu, &problems));
        }
        outcomes.push((native, emu));
    }
    if !failures.is_empty() {
        panic!("{test}: native and emu runs differ\n{failures}");
    }
    outcomes
}

/// Sets a file's or directory's modification time.
pub fn set_mtime(path: &Path, t: SystemTime) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.set_modified(t)
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

/// `true` when `program --version` (or `--help`) can be run.
pub fn have_program(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}
