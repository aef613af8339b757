//! What `cargo xtask bench` and `cargo xtask bench-scaling` share: the runners (`emu`,
//! `qemu-x86_64`, native), one measured run of a guest program (wall time, peak RSS from
//! `wait4`, output compared with the native run's), building the bundled workloads, the
//! statistics and the JSON records.

use std::fmt;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Error;

/// The three ways a guest program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    /// Under our emulator, `target/release/emu`.
    Emu,
    /// Under Debian's `qemu-x86_64` (user mode, TCG).
    Qemu,
    /// Directly on the host.
    Native,
}

impl Runner {
    /// Every runner, in the order the tables show them.
    pub const ALL: [Runner; 3] = [Runner::Native, Runner::Qemu, Runner::Emu];

    /// The name used in tables, progress lines and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Runner::Emu => "emu",
            Runner::Qemu => "qemu",
            Runner::Native => "native",
        }
    }
}

impl fmt::Display for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Options both benchmark commands take (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// A short run (under two minutes): smaller inputs, fewer runs.
    #[arg(long)]
    pub quick: bool,
    /// Measured runs per workload and runner [default: 5, 3 with --quick].
    #[arg(long)]
    pub runs: Option<usize>,
    /// Only the workloads whose name contains one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub filter: Vec<String>,
    /// The runners to compare.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Runner::ALL)]
    pub runners: Vec<Runner>,
    /// Use this emu binary instead of building `target/release/emu`.
    #[arg(long)]
    pub emu: Option<PathBuf>,
    /// The qemu-user binary.
    #[arg(long, default_value = "qemu-x86_64")]
    pub qemu: PathBuf,
    /// Seconds after which one run is killed and counted as failed [default: 300, 60 with
    /// --quick].
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Where to write the JSON results [default: target/bench/<command>.json].
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl CommonArgs {
    /// Measured runs per point.
    pub fn runs(&self) -> usize {
        self.runs.unwrap_or(if self.quick { 3 } else { 5 })
    }

    /// The per-run time limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(
            self.timeout
                .unwrap_or(if self.quick { 60.0 } else { 300.0 }),
        )
    }

    /// Whether a workload passes `--filter`.
    pub fn selected(&self, workload: &str) -> bool {
        self.filter.is_empty() || self.filter.iter().any(|f| workload.contains(f.as_str()))
    }

    /// The chosen runners, deduplicated, in table order.
    pub fn runner_list(&self) -> Vec<Runner> {
        Runner::ALL
            .into_iter()
            .filter(|r| self.runners.contains(r))
            .collect()
    }
}

/// The programs that stand for each runner, found or built once per invocation.
#[derive(Debug)]
pub struct Tools {
    /// The emu binary (when the emu runner is selected).
    pub emu: Option<PathBuf>,
    /// The qemu-user binary (when the qemu runner is selected).
    pub qemu: Option<PathBuf>,
    /// The launcher every run goes through ([`launcher`]).
    pub launch: PathBuf,
}

impl Tools {
    /// Builds emu (release) unless `--emu` names one, and checks that qemu runs.
    pub fn prepare(args: &CommonArgs, runners: &[Runner]) -> Result<Tools, Error> {
        let emu = if !runners.contains(&Runner::Emu) {
            None
        } else if let Some(p) = &args.emu {
            Some(p.clone())
        } else {
            eprintln!("building emu (cargo build --release -p emu)...");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--release", "-p", "emu"])
                .current_dir(workspace_root())
                .status()?;
            if !status.success() {
                return Err("cargo build --release -p emu failed".into());
            }
            Some(workspace_root().join("target/release/emu"))
        };
        let qemu = if runners.contains(&Runner::Qemu) {
            let ok = Command::new(&args.qemu)
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!(
                    "cannot run {} (apt-get install qemu-user, or leave qemu out of --runners)",
                    args.qemu.display()
                )
                .into());
            }
            Some(args.qemu.clone())
        } else {
            None
        };
        Ok(Tools {
            emu,
            qemu,
            launch: launcher()?,
        })
    }

    /// Runs `argv` once ([`measure`]).
    pub fn measure(&self, argv: &[String], tag: &str, timeout: Duration) -> Result<Sample, Error> {
        measure(&self.launch, argv, tag, timeout)
    }

    /// The command line that runs `program args` under `runner` with `vcpus` guest CPUs
    /// (given to emu as `-smp`; the program's own arguments carry the thread count).
    pub fn argv(
        &self,
        runner: Runner,
        vcpus: Option<usize>,
        program: &Path,
        args: &[String],
    ) -> Vec<String> {
        let mut v = Vec::new();
        match runner {
            Runner::Native => {}
            Runner::Qemu => v.push(
                self.qemu
                    .as_deref()
                    .unwrap_or(Path::new("qemu-x86_64"))
                    .display()
                    .to_string(),
            ),
            Runner::Emu => {
                v.push(
                    self.emu
                        .as_deref()
                        .unwrap_or(Path::new("emu"))
                        .display()
                        .to_string(),
                );
                if let Some(n) = vcpus {
                    v.push("-smp".into());
                    v.push(n.to_string());
                }
            }
        }
        v.push(program.display().to_string());
        v.extend(args.iter().cloned());
        v
    }
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `target/bench`, created.
pub fn bench_dir() -> Result<PathBuf, Error> {
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::create_dir_all(dir.join("out"))?;
    Ok(dir)
}

/// Compiles `benchmarks/<source>` with `gcc -static -O2` (plus `extra` flags) into
/// `target/bench/bin/<name>`, unless the binary is newer than the source and the shared
/// headers.
pub fn build_workload(source: &str, name: &str, extra: &[&str]) -> Result<PathBuf, Error> {
    let root = workspace_root();
    let src = root.join("benchmarks").join(source);
    let exe = bench_dir()?.join("bin").join(name);
    let inputs = [
        src.clone(),
        root.join("benchmarks/bench.h"),
        root.join("benchmarks/scaling/par.h"),
    ];
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let Some(built) = modified(&exe) {
        if inputs
            .iter()
            .all(|i| modified(i).is_none_or(|m| m <= built))
        {
            return Ok(exe);
        }
    }
    eprintln!("compiling {source}...");
    let out = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(extra)
        .arg("-lm")
        .output()
        .map_err(|e| format!("cannot run gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gcc -static failed for {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(exe)
}

/// How a run ended, when it did not end well.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// Non-zero exit status.
    Exit(i32),
    /// Killed by a signal (SIGILL for an unimplemented instruction, ...).
    Signal(i32),
    /// Killed by the runner after `--timeout`.
    Timeout(f64),
    /// Exited 0, but its output differs from the native run's.
    Mismatch,
    /// Could not be started.
    Spawn(String),
}

/// One finished run.
#[derive(Debug)]
pub struct Sample {
    /// Wall-clock seconds from spawn to exit.
    pub seconds: f64,
    /// Peak resident set of the process (and the children it waited for), in KiB.
    pub max_rss_kb: u64,
    /// User plus system CPU seconds.
    pub cpu_seconds: f64,
    /// Everything the program wrote to stdout.
    pub stdout: Vec<u8>,
    /// The last line the program wrote to stderr (the reason of a failure).
    pub stderr_tail: String,
    /// Why the run failed, if it did (outputs are compared by the caller).
    pub failure: Option<Failure>,
}

/// A failure with its explanation, for the lines under the tables.
pub fn describe(failure: &Failure, sample_stderr: &str) -> String {
    let what = match failure {
        Failure::Exit(c) => format!("exit status {c}"),
        Failure::Signal(s) => format!("killed by {}", signal_name(*s)),
        Failure::Timeout(t) => format!("timed out after {t:.0} s"),
        Failure::Mismatch => "output differs from the native run".to_string(),
        Failure::Spawn(e) => format!("cannot start: {e}"),
    };
    if sample_stderr.is_empty() || matches!(failure, Failure::Mismatch) {
        what
    } else {
        format!("{what}: {sample_stderr}")
    }
}

/// The usual name of a signal.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGILL => "SIGILL".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGSYS => "SIGSYS".into(),
        libc::SIGTRAP => "SIGTRAP".into(),
        s => format!("signal {s}"),
    }
}

/// Compiles `benchmarks/launch.c`, the small program through which every run is started (it
/// forks the run, reads its rusage with `wait4` and writes it to a report file: see the file
/// for why peak RSS cannot be taken from a child of xtask itself).
pub fn launcher() -> Result<PathBuf, Error> {
    build_workload("launch.c", "launch", &[])
}

/// Runs `argv` once through `launcher` with stdout and stderr sent to files under
/// `target/bench/out`, and returns its wall time, peak RSS and CPU time. A run that outlives
/// `timeout` is killed with its whole process group. Outputs are not compared here.
pub fn measure(
    launcher: &Path,
    argv: &[String],
    tag: &str,
    timeout: Duration,
) -> Result<Sample, Error> {
    let dir = bench_dir()?.join("out");
    let out_path = dir.join(format!("{tag}.stdout"));
    let err_path = dir.join(format!("{tag}.stderr"));
    let report_path = dir.join(format!("{tag}.rusage"));
    let _ = std::fs::remove_file(&report_path);
    let mut cmd = Command::new(launcher);
    cmd.arg(&report_path)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .process_group(0);
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", launcher.display()))?;
    let pid = child.id() as libc::pid_t;
    // We reap the launcher ourselves with waitpid; std's handle only goes out of scope, which
    // neither waits nor kills.
    drop(child);
    let timed_out = !wait_exit(pid, timeout)?;
    if timed_out {
        // SAFETY: `pid` is our unreaped child (a zombie at worst), so neither it nor its
        // process group id can have been reused; SIGKILL on a group has no memory effects.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: `status` is valid for writes for the duration of the call.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    let elapsed = start.elapsed().as_secs_f64();
    if r != pid {
        return Err(format!("waitpid({pid}): {}", std::io::Error::last_os_error()).into());
    }
    if timed_out {
        // Take the rest of the group (the run and its children) down too.
        // SAFETY: as above; a group with no members left makes kill return ESRCH, harmlessly.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let stdout = std::fs::read(&out_path)?;
    let stderr = std::fs::read(&err_path)?;
    let stderr = String::from_utf8_lossy(&stderr);
    let stderr_tail: String = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(160)
        .collect();
    let report = std::fs::read_to_string(&report_path).unwrap_or_default();
    let fields: Vec<f64> = report
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let mut sample = Sample {
        seconds: elapsed,
        max_rss_kb: 0,
        cpu_seconds: 0.0,
        stdout,
        stderr_tail,
        failure: None,
    };
    if timed_out {
        sample.failure = Some(Failure::Timeout(timeout.as_secs_f64()));
        return Ok(sample);
    }
    let [st, rss, user, sys, wall] = fields[..] else {
        // The launcher itself failed: it could not start the program, or was killed.
        sample.failure = Some(Failure::Spawn(if sample.stderr_tail.is_empty() {
            format!("launcher ended with wait status {status:#x}")
        } else {
            sample.stderr_tail.clone()
        }));
        return Ok(sample);
    };
    let st = st as i32;
    sample.seconds = wall;
    sample.max_rss_kb = rss as u64;
    sample.cpu_seconds = user + sys;
    sample.failure = if libc::WIFSIGNALED(st) {
        Some(Failure::Signal(libc::WTERMSIG(st)))
    } else if libc::WEXITSTATUS(st) != 0 {
        Some(Failure::Exit(libc::WEXITSTATUS(st)))
    } else {
        None
    };
    Ok(sample)
}

/// Waits until child `pid` has exited (without reaping it) or `timeout` has passed; true if
/// it exited. Uses a pidfd, so the exit time is exact rather than a polling interval's.
fn wait_exit(pid: libc::pid_t, timeout: Duration) -> Result<bool, Error> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    if fd < 0 {
        return Err(format!("pidfd_open: {}", std::io::Error::last_os_error()).into());
    }
    let deadline = Instant::now() + timeout;
    let exited = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break false;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: `pfd` is one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r > 0 {
            break true;
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            let e = std::io::Error::last_os_error();
            // SAFETY: `fd` is our descriptor, closed once.
            unsafe { libc::close(fd) };
            return Err(format!("poll: {e}").into());
        }
    };
    // SAFETY: `fd` is our descriptor, closed once.
    unsafe { libc::close(fd) };
    Ok(exited)
}

/// The first line of a program's output, shortened, to show in a mismatch report.
pub fn first_line(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(&out[..out.len().min(200)]);
    let line = text.lines().next().unwrap_or("");
    if line.chars().any(|c| c.is_control()) || out.len() > 200 && !text.contains('\n') {
        format!("{} bytes of binary output", out.len())
    } else {
        line.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// Median of the samples (mean of the middle two for an even count); None when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// Geometric mean of positive values; None when empty or when one is not positive.
pub fn geomean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|&x| !(x > 0.0 && x.is_finite())) {
        return None;
    }
    Some((xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp())
}

/// The measured runs of one workload under one runner (at one vCPU count).
#[derive(Debug, Default, Clone)]
pub struct Point {
    /// Seconds of the successful runs.
    pub seconds: Vec<f64>,
    /// Peak RSS (KiB) of the successful runs.
    pub rss_kb: Vec<u64>,
    /// CPU seconds over wall seconds of the successful runs.
    pub cpu_share: Vec<f64>,
    /// The first failure, with its explanation; a failed point is not run again.
    pub failure: Option<String>,
    /// Whether a successful run printed something other than the native run did.
    pub mismatch: bool,
}

impl Point {
    /// Median seconds, if the point succeeded.
    pub fn median(&self) -> Option<f64> {
        if self.failure.is_some() {
            None
        } else {
            median(&self.seconds)
        }
    }

    /// Records one run: its time, or the reason it failed (comparing its output with the
    /// native reference).
    pub fn add(&mut self, s: &Sample, reference: &[u8]) {
        let failure = match &s.failure {
            Some(f) => Some(f.clone()),
            None if s.stdout != reference => Some(Failure::Mismatch),
            None => None,
        };
        match failure {
            None => {
                self.seconds.push(s.seconds);
                self.rss_kb.push(s.max_rss_kb);
                self.cpu_share.push(s.cpu_seconds / s.seconds.max(1e-9));
            }
            Some(f) => {
                let mut why = describe(&f, &s.stderr_tail);
                if f == Failure::Mismatch {
                    self.mismatch = true;
                    why = format!(
                        "{why}: got \"{}\", native printed \"{}\"",
                        first_line(&s.stdout),
                        first_line(reference)
                    );
                }
                self.failure.get_or_insert(why);
            }
        }
    }

    /// Whether the typical run of a single-threaded program got less than 90% of a CPU:
    /// other load on the host took its core away, so its time is inflated.
    pub fn starved(&self) -> bool {
        median(&self.cpu_share).is_some_and(|c| c < 0.9)
    }

    /// The median cell of a table: `0.251 [0.249-0.262]`, or `FAILED`.
    pub fn cell(&self) -> String {
        match (self.median(), &self.failure) {
            (_, Some(_)) => "FAILED".to_string(),
            (Some(m), None) => {
                let lo = self.seconds.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = self.seconds.iter().copied().fold(0.0, f64::max);
                format!("{} [{}-{}]", secs(m), secs(lo), secs(hi))
            }
            (None, None) => "-".to_string(),
        }
    }
}

/// Seconds with three significant digits (at least millisecond resolution).
pub fn secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0}")
    } else if s >= 10.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.3}")
    }
}

/// A ratio cell: `4.21x`, or `-` when a side is missing.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".to_string(),
    }
}

/// One JSON record: the median of a point, or `null` seconds and the failure.
#[derive(Serialize, Debug, PartialEq)]
pub struct Record {
    /// Workload name.
    pub workload: String,
    /// Which runner.
    pub runner: Runner,
    /// Guest vCPUs / threads (bench-scaling only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<usize>,
    /// Median seconds; null when the point failed.
    pub seconds: Option<f64>,
    /// Fastest and slowest successful runs.
    pub min: Option<f64>,
    /// See `min`.
    pub max: Option<f64>,
    /// Successful measured runs.
    pub runs: usize,
    /// Median peak RSS in KiB (bench only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rss_kb: Option<Option<u64>>,
    /// Why the point failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Record {
    /// The record of a point.
    pub fn new(workload: &str, runner: Runner, vcpus: Option<usize>, p: &Point, rss: bool) -> Self {
        let ok = p.failure.is_none() && !p.seconds.is_empty();
        let rss_kb = if ok {
            let r: Vec<f64> = p.rss_kb.iter().map(|&k| k as f64).collect();
            median(&r).map(|m| m.round() as u64)
        } else {
            None
        };
        Record {
            workload: workload.to_string(),
            runner,
            vcpus,
            seconds: p.median(),
            min: ok.then(|| p.seconds.iter().copied().fold(f64::INFINITY, f64::min)),
            max: ok.then(|| p.seconds.iter().copied().fold(0.0, f64::max)),
            runs: p.seconds.len(),
            max_rss_kb: rss.then_some(rss_kb),
            error: p.failure.clone(),
        }
    }
}

/// Writes `records` as a pretty JSON array to `path` (creating its directory).
pub fn write_json(path: &Path, records: &[Record]) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(records)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The host's load average over the last minute (other agents' work skews timings).
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The interleaved order of one repetition: the runners rotated by `rep`, so that no runner
/// is always the first (cold caches) or the last.
pub fn rotated(runners: &[Runner], rep: usize) -> Vec<Runner> {
    let mut v = runners.to_vec();
    if !v.is_empty() {
        let k = rep % v.len();
        v.rotate_left(k);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn geomean_of_ratios() {
        let g = geomean(&[2.0, 8.0]).unwrap();
        assert!((g - 4.0).abs() < 1e-12, "{g}");
        assert_eq!(geomean(&[1.0, 0.0]), None);
        assert_eq!(geomean(&[]), None);
    }

    #[test]
    fn point_records_failures_and_mismatches() {
        let ok = |s: f64, out: &str| Sample {
            seconds: s,
            max_rss_kb: 1000,
            cpu_seconds: s,
            stdout: out.as_bytes().to_vec(),
            stderr_tail: String::new(),
            failure: None,
        };
        let mut p = Point::default();
        p.add(&ok(0.5, "sum=1\n"), b"sum=1\n");
        p.add(&ok(0.7, "sum=1\n"), b"sum=1\n");
        p.add(&ok(0.6, "sum=1\n"), b"sum=1\n");
        assert_eq!(p.median(), Some(0.6));
        assert_eq!(p.cell(), "0.600 [0.500-0.700]");
        let r = Record::new("w", Runner::Emu, None, &p, true);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"workload":"w","runner":"emu","seconds":0.6,"min":0.5,"max":0.7,"runs":3,"max_rss_kb":1000}"#
        );

        p.add(&ok(0.1, "sum=2\n"), b"sum=1\n");
        assert!(p.mismatch);
        assert_eq!(p.median(), None);
        assert_eq!(p.cell(), "FAILED");
        let why = p.failure.clone().unwrap();
        assert!(
            why.contains("got \"sum=2\", native printed \"sum=1\""),
            "{why}"
        );

        let mut q = Point::default();
        let mut s = ok(0.2, "");
        s.failure = Some(Failure::Signal(libc::SIGILL));
        s.stderr_tail = "emu: unimplemented instruction".into();
        q.add(&s, b"x");
        assert!(!q.mismatch);
        assert_eq!(
            q.failure.as_deref(),
            Some("killed by SIGILL: emu: unimplemented instruction")
        );
        let r = Record::new("w", Runner::Qemu, Some(4), &q, false);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""vcpus":4,"seconds":null"#), "{json}");
        assert!(!json.contains("max_rss_kb"), "{json}");
    }

    #[test]
    fn rotation_interleaves_runners() {
        let r = Runner::ALL;
        assert_eq!(
            rotated(&r, 0),
            vec![Runner::Native, Runner::Qemu, Runner::Emu]
        );
        assert_eq!(
            rotated(&r, 1),
            vec![Runner::Qemu, Runner::Emu, Runner::Native]
        );
        assert_eq!(rotated(&r, 3), rotated(&r, 0));
    }

    #[test]
    fn measure_times_and_reports_exit_status() {
        let launch = launcher().unwrap();
        let sh = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        let measure = |argv: Vec<String>, tag: &str, t| measure(&launch, &argv, tag, t);
        let s = measure(sh("echo hi"), "unit-ok", Duration::from_secs(10)).unwrap();
        assert_eq!(s.stdout, b"hi\n");
        assert_eq!(s.failure, None);
        assert!(s.max_rss_kb > 0);
        let s = measure(
            sh("echo oops >&2; exit 3"),
            "unit-exit",
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(s.failure, Some(Failure::Exit(3)));
        assert_eq!(s.stderr_tail, "oops");
        let s = measure(sh("kill -ILL $$"), "unit-sig", Duration::from_secs(10)).unwrap();
        assert_eq!(s.failure, Some(Failure::Signal(libc::SIGILL)));
        let s = measure(sh("sleep 5"), "unit-timeout", Duration::from_millis(200)).unwrap();
        assert_eq!(s.failure, Some(Failure::Timeout(0.2)));
        assert!(s.seconds < 2.0, "{}", s.seconds);
        // Peak RSS is the program's, not xtask's: a shell that fills 64 MiB shows it, and an
        // idle one stays far below.
        let big = measure(
            sh("x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo ${#x}"),
            "unit-big",
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(big.stdout, b"64000000\n");
        assert!(big.max_rss_kb > 64_000, "{}", big.max_rss_kb);
        let small = measure(vec!["true".into()], "unit-small", Duration::from_secs(10)).unwrap();
        assert!(small.max_rss_kb < 4_000, "{}", small.max_rss_kb);
        let missing = measure(
            vec!["/nonexistent/prog".into()],
            "unit-missing",
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(missing.failure, Some(Failure::Exit(127)));
    }
}
