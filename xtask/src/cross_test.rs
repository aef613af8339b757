//! `cargo xtask cross-test <arch>`: proves that `emu` built for another host architecture
//! (aarch64, riscv64) runs the x86-64 test programs, on this x86-64 machine, with qemu-user
//! standing in for the other host.
//!
//! 1. Checks (and unless `--no-install`, installs) what it needs: the Rust target, Debian's
//!    cross C compiler and C library as linker, and qemu-user. qemu-user 7.2 (Debian 12)
//!    crashes when a process forked from a multithreaded one creates a thread, which
//!    `forkthreads` does, and keeps a descriptor per mapped page (the 1 TiB guest reservation
//!    costs it ~6 GB); when the qemu on `PATH` is older than 8, a newer one is taken from
//!    Debian's backports for this release, unpacked privately under `target/cross/qemu/` (the
//!    system's qemu is left alone), using the system's own Debian source.
//! 2. Cross-builds the workspace's tests and `emu` for the target, with the `cross` cargo
//!    profile (the tests' optimisation, no debug info).
//! 3. Runs every crate's tests for the target under qemu (the cargo `runner` of
//!    `.cargo/config.toml`, pointed at the chosen qemu). Tests that need an x86-64 host (the
//!    native oracle, difftest) are compiled out there. qemu emulates its `max` CPU, for
//!    riscv64 without Ztso (see `Arch::default_qemu_cpu`), or the one `--qemu-cpu` names.
//! 4. Runs the guest-program suite (`crates/emu/tests/guest_programs.rs`, `busybox.rs` and
//!    `emu_options.rs`) built natively, with `EMU_TEST_RUNNER` set to a wrapper that runs the
//!    cross-built emu under qemu (and that emu re-executes for a guest `execve`, through
//!    `-exec-emu`): the x86-64 guests run natively and under the other host's emu, and must
//!    agree byte for byte as in the x86-64 suite.
//!
//! Ends with `<arch>: N passed, M failed` (tests counted from cargo's `test result` lines;
//! a cargo step that fails without one counts as one failure).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::ValueEnum;

use crate::runner::workspace_root;
use crate::Error;

/// A host architecture to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    /// 64-bit Arm.
    Aarch64,
    /// 64-bit RISC-V (RV64GC).
    Riscv64,
}

impl Arch {
    fn name(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    fn triple(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    /// The target's C library, as qemu's `-L` sysroot.
    fn sysroot(self) -> &'static str {
        match self {
            Arch::Aarch64 => "/usr/aarch64-linux-gnu",
            Arch::Riscv64 => "/usr/riscv64-linux-gnu",
        }
    }

    /// The cross C compiler used as linker (as in `.cargo/config.toml`).
    fn linker(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64-linux-gnu-gcc",
            Arch::Riscv64 => "riscv64-linux-gnu-gcc",
        }
    }

    /// Debian packages providing the linker and the target's C library.
    fn packages(self) -> &'static [&'static str] {
        match self {
            Arch::Aarch64 => &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
            Arch::Riscv64 => &["gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"],
        }
    }

    fn qemu(self) -> &'static str {
        match self {
            Arch::Aarch64 => "qemu-aarch64",
            Arch::Riscv64 => "qemu-riscv64",
        }
    }

    /// The CPU qemu emulates unless `--qemu-cpu` names one. riscv64: qemu's `max` without
    /// Ztso. With Ztso, qemu-riscv64 puts a barrier before every store and after every load
    /// of the program it runs (on an x86-64 host, an `mfence` per store): the vcpu crate's
    /// `vcpus_survive_invalidation_and_flushes_under_load` took 363 s instead of 7, the guest
    /// programs 2.5 times as long. emu never looks for Ztso (it fences for RVWMO, as every
    /// riscv64 host without Ztso needs), so the extension only costs time here.
    fn default_qemu_cpu(self) -> Option<&'static str> {
        match self {
            Arch::Aarch64 => None,
            Arch::Riscv64 => Some("max,ztso=false"),
        }
    }

    /// cargo's environment variable for the target's runner.
    fn runner_var(self) -> String {
        format!(
            "CARGO_TARGET_{}_RUNNER",
            self.triple().to_uppercase().replace('-', "_")
        )
    }
}

/// Arguments of `cargo xtask cross-test`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The host architecture to build emu for and test under qemu-user.
    #[arg(value_enum)]
    arch: Arch,
    /// Only check the prerequisites; install nothing (fail if something is missing).
    #[arg(long)]
    no_install: bool,
    /// Run only the guest tests whose name contains one of these comma-separated substrings
    /// (EMU_TEST_FILTER, e.g. `glibc::,litmus,busybox::sh,options::jit`); the others pass
    /// with a note.
    #[arg(long)]
    guest_filter: Option<String>,
    /// Skip every crate's tests (run only the guest programs).
    #[arg(long)]
    skip_unit: bool,
    /// Skip the guest programs (run only every crate's tests).
    #[arg(long)]
    skip_guests: bool,
    /// The CPU qemu-user emulates (its `-cpu`; default: `max`, for riscv64 without Ztso), for
    /// a host path that depends on an extension: e.g. `rv64` (riscv64 without Zacas:
    /// `cmpxchg16b` in exclusive sections instead of `amocas.q`) or, for aarch64, `cortex-a57`
    /// (no LSE: `ldxp`/`stxp` instead of `casp`).
    #[arg(long, value_name = "MODEL")]
    qemu_cpu: Option<String>,
}

/// Tests counted from cargo's output.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
    }
}

/// The cargo profile of the cross build (`Cargo.toml`): `test`'s optimisation without debug
/// info, which would cost most of the cross build's link time and disk.
const PROFILE: &str = "cross";

/// Runs the cross test.
pub fn run(args: Args) -> Result<(), Error> {
    let start = Instant::now();
    let root = workspace_root();
    let arch = args.arch;
    eprintln!("=== cross-test {}: prerequisites", arch.name());
    ensure_rust_target(arch, args.no_install)?;
    ensure_packages(arch, args.no_install)?;
    let qemu = find_qemu(arch, &root, args.no_install)?;
    eprintln!(
        "using {} (version {}.{})",
        qemu.path.display(),
        qemu.version.0,
        qemu.version.1
    );
    // qemu-user before 8 tracks every page of a mapping: bound the emulated process's
    // address space (the guest reservation halves until it fits).
    let mut qemu_cmd = vec![
        qemu.path.display().to_string(),
        "-L".into(),
        arch.sysroot().into(),
    ];
    if qemu.version.0 < 8 {
        qemu_cmd.extend(["-R".to_string(), "64G".to_string()]);
    }

    let mut phases: Vec<(&str, Duration, Tally)> = Vec::new();
    let t = Instant::now();
    eprintln!("=== cross-test {}: cross-building", arch.name());
    let target = arch.triple();
    let build = cargo(
        &root,
        &[
            "test",
            "--workspace",
            "--exclude",
            "xtask",
            "--profile",
            PROFILE,
            "--target",
            target,
            "--no-run",
        ],
        &[],
    )?;
    // The emu the guest programs run under.
    let build_emu = cargo(
        &root,
        &[
            "build",
            "--profile",
            PROFILE,
            "-p",
            "emu",
            "--target",
            target,
        ],
        &[],
    )?;
    if build.failed > 0 || build_emu.failed > 0 {
        return Err(format!("cross-building for {target} failed").into());
    }
    phases.push(("cross-build", t.elapsed(), Tally::default()));
    let emu = root.join("target").join(target).join(PROFILE).join("emu");

    // The emulated CPU: the one asked for, else the default if this qemu knows it (an older
    // qemu may lack a property the default names: it then runs with its own default CPU).
    let cpu = match &args.qemu_cpu {
        Some(cpu) => Some(cpu.clone()),
        None => arch.default_qemu_cpu().and_then(|cpu| {
            let known = output(
                Command::new(&qemu_cmd[0])
                    .args(&qemu_cmd[1..])
                    .args(["-cpu", cpu])
                    .arg(&emu)
                    .arg("--version"),
            )
            .is_some();
            if !known {
                eprintln!(
                    "note: {} does not take -cpu {cpu}; using its default CPU",
                    qemu.path.display()
                );
            }
            known.then(|| cpu.to_string())
        }),
    };
    if let Some(cpu) = &cpu {
        qemu_cmd.extend(["-cpu".to_string(), cpu.clone()]);
    }
    let runner = qemu_cmd.join(" ");

    let mut total = Tally::default();
    if !args.skip_unit {
        let t = Instant::now();
        eprintln!(
            "=== cross-test {}: every crate's tests under {runner}",
            arch.name()
        );
        // Timing bounds in the tests are for real hosts; under qemu the code runs tens of
        // times slower.
        let env = [
            (arch.runner_var(), runner.clone()),
            ("EMU_TEST_TIME_SCALE".to_string(), "20".to_string()),
        ];
        let mut tally = cargo(
            &root,
            &[
                "test",
                "--workspace",
                "--exclude",
                "xtask",
                "--exclude",
                "emu",
                "--profile",
                PROFILE,
                "--target",
                target,
                "--no-fail-fast",
            ],
            &env,
        )?;
        // emu's own unit tests; its integration tests spawn guests and run below instead.
        tally.add(cargo(
            &root,
            &[
                "test",
                "-p",
                "emu",
                "--bins",
                "--profile",
                PROFILE,
                "--target",
                target,
            ],
            &env,
        )?);
        phases.push(("crate tests", t.elapsed(), tally));
        total.add(tally);
    }
    if !args.skip_guests {
        let t = Instant::now();
        let emu_runner = build_emu_wrapper(&root, arch, &qemu_cmd, &emu)?;
        eprintln!(
            "=== cross-test {}: guest programs, native vs `{emu_runner}`",
            arch.name()
        );
        let mut env = vec![("EMU_TEST_RUNNER".to_string(), emu_runner)];
        if let Some(f) = &args.guest_filter {
            env.push(("EMU_TEST_FILTER".to_string(), f.clone()));
        }
        // Runs under two levels of emulation take far longer than native ones.
        env.push(("EMU_TEST_TIMEOUT".to_string(), "600".to_string()));
        let tally = cargo(
            &root,
            &[
                "test",
                "-p",
                "emu",
                "--test",
                "guest_programs",
                "--test",
                "busybox",
                "--test",
                "emu_options",
                "--no-fail-fast",
            ],
            &env,
        )?;
        phases.push(("guest programs", t.elapsed(), tally));
        total.add(tally);
    }

    eprintln!();
    for (name, took, tally) in &phases {
        eprintln!(
            "{name:<15} {:>7.1}s  {} passed, {} failed",
            took.as_secs_f64(),
            tally.passed,
            tally.failed
        );
    }
    let mut notes = String::new();
    if let Some(cpu) = &cpu {
        notes.push_str(&format!("  (qemu -cpu {cpu})"));
    }
    if let Some(f) = &args.guest_filter {
        notes.push_str(&format!("  (guest programs filtered by {f})"));
    }
    eprintln!(
        "{:<15} {:>7.1}s{notes}",
        "total",
        start.elapsed().as_secs_f64(),
    );
    println!(
        "{}: {} passed, {} failed",
        arch.name(),
        total.passed,
        total.failed
    );
    if total.failed > 0 {
        return Err(format!("{} test(s) failed on {}", total.failed, arch.name()).into());
    }
    Ok(())
}

/// Builds `target/cross/emu-<arch>`, a small native program that runs the cross-built emu
/// under qemu (`qemu_cmd`) and names itself as emu's `-exec-emu`: a guest `execve` re-executes
/// emu, which on this host must go through qemu too (qemu-user does not follow `execve`
/// without binfmt_misc). A C program rather than a shell script, which would add `PWD` to the
/// guest's environment. Returns its path.
fn build_emu_wrapper(
    root: &Path,
    arch: Arch,
    qemu_cmd: &[String],
    emu: &Path,
) -> Result<String, Error> {
    let dir = root.join("target/cross");
    std::fs::create_dir_all(&dir)?;
    let wrapper = dir.join(format!("emu-{}", arch.name()));
    let c_str = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut fixed: Vec<String> = qemu_cmd.iter().map(|a| c_str(a)).collect();
    fixed.push(c_str(&emu.display().to_string()));
    fixed.push(c_str("-exec-emu"));
    fixed.push(c_str(&wrapper.display().to_string()));
    let source = format!(
        "/* emu built for {}, under qemu-user (written by cargo xtask cross-test). */\n\
         #include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n\
         int main(int argc, char **argv) {{\n\
         \x20   static char *fixed[] = {{{}}};\n\
         \x20   size_t n = sizeof fixed / sizeof *fixed, k = 0;\n\
         \x20   char **args = calloc(n + (size_t)argc, sizeof *args);\n\
         \x20   if (!args) return 127;\n\
         \x20   for (; k < n; k++) args[k] = fixed[k];\n\
         \x20   for (int i = 1; i < argc; i++) args[k++] = argv[i];\n\
         \x20   execv(args[0], args);\n\
         \x20   perror(args[0]);\n\
         \x20   return 127;\n}}\n",
        arch.name(),
        fixed.join(", ")
    );
    let src = dir.join(format!("emu-{}.c", arch.name()));
    std::fs::write(&src, source)?;
    run_status(
        Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(&wrapper)
            .arg(&src),
    )?;
    Ok(wrapper.display().to_string())
}

/// Runs cargo in the workspace, echoing its output, and counts the tests its `test result`
/// lines report. A run that fails without reporting a failed test counts as one failure.
fn cargo(root: &Path, args: &[&str], env: &[(String, String)]) -> Result<Tally, Error> {
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = Command::new(env!("CARGO"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut tally = Tally::default();
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(t) = parse_test_result(&line) {
            tally.add(t);
        }
    }
    let status = child.wait()?;
    if !status.success() && tally.failed == 0 {
        eprintln!("cargo {} failed ({status}) without a failed test", args[0]);
        tally.failed += 1;
    }
    Ok(tally)
}

/// Counts from a libtest summary: `test result: ok. 12 passed; 0 failed; 1 ignored; ...`.
fn parse_test_result(line: &str) -> Option<Tally> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let count = |what: &str| -> Option<u64> {
        rest.split(';').find_map(|part| {
            let part = part
                .trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ");
            part.strip_suffix(what)?.trim().parse().ok()
        })
    };
    Some(Tally {
        passed: count(" passed")?,
        failed: count(" failed")?,
    })
}

/// Output of a command, or `None` if it cannot run or fails.
fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run_status(cmd: &mut Command) -> Result<(), Error> {
    eprintln!("$ {cmd:?}");
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !st.success() {
        return Err(format!("{cmd:?} failed: {st}").into());
    }
    Ok(())
}

fn ensure_rust_target(arch: Arch, no_install: bool) -> Result<(), Error> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))
        .ok_or("cannot run `rustup target list --installed`")?;
    if installed.lines().any(|l| l.trim() == arch.triple()) {
        return Ok(());
    }
    if no_install {
        return Err(format!(
            "the Rust target {0} is missing: rustup target add {0}",
            arch.triple()
        )
        .into());
    }
    run_status(Command::new("rustup").args(["target", "add", arch.triple()]))
}

fn package_installed(name: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", name]))
        .is_some_and(|s| s.contains("install ok installed"))
}

fn ensure_packages(arch: Arch, no_install: bool) -> Result<(), Error> {
    let missing: Vec<&str> = arch
        .packages()
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if no_install {
        return Err(format!(
            "missing Debian packages: {0} (apt-get install {0})",
            missing.join(" ")
        )
        .into());
    }
    run_status(Command::new("apt-get").args(["update", "-qq"]))?;
    run_status(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if output(Command::new(arch.linker()).arg("--version")).is_none() {
        return Err(format!("{} still cannot run after installing", arch.linker()).into());
    }
    Ok(())
}

/// A qemu-user binary and its version.
struct Qemu {
    path: PathBuf,
    version: (u32, u32),
}

/// `qemu-aarch64 version 10.0.2 (...)` → (10, 0).
fn qemu_version(path: &Path) -> Option<(u32, u32)> {
    let text = output(Command::new(path).arg("--version"))?;
    let v = text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The qemu-user to run the target's programs with: the one on `PATH` if it is 8 or newer,
/// else a private newer one (fetched once into `target/cross/qemu/`), else the old one.
fn find_qemu(arch: Arch, root: &Path, no_install: bool) -> Result<Qemu, Error> {
    let system = PathBuf::from(arch.qemu());
    let system_version = qemu_version(&system);
    if let Some(v) = system_version.filter(|v| v.0 >= 8) {
        return Ok(Qemu {
            path: system,
            version: v,
        });
    }
    let private_root = root.join("target/cross/qemu");
    let private = private_root.join("usr/bin").join(arch.qemu());
    if let Some(v) = qemu_version(&private) {
        return Ok(Qemu {
            path: private,
            version: v,
        });
    }
    if !no_install {
        match fetch_backports_qemu(root, &private_root) {
            Ok(()) => {
                if let Some(v) = qemu_version(&private) {
                    return Ok(Qemu {
                        path: private,
                        version: v,
                    });
                }
                eprintln!("warning: the unpacked {} does not run", private.display());
            }
            Err(e) => eprintln!("warning: no newer qemu-user from backports: {e}"),
        }
    }
    match system_version {
        Some(v) => {
            eprintln!(
                "warning: using {} {}.{}: `forkthreads` is expected to fail (a qemu-user bug \
                 fixed in 8)",
                arch.qemu(),
                v.0,
                v.1
            );
            Ok(Qemu {
                path: system,
                version: v,
            })
        }
        None if no_install => {
            Err(format!("{} is missing (apt-get install qemu-user)", arch.qemu()).into())
        }
        None => {
            run_status(
                Command::new("apt-get")
                    .args(["install", "-y", "-qq", "qemu-user"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )?;
            find_qemu(arch, root, true)
        }
    }
}

/// The Debian source the system installs from: (URI, keyring) of the entry for `codename`.
fn debian_source(codename: &str) -> Option<(String, Option<String>)> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if f.extension().is_some_and(|e| e == "sources") {
            // deb822 stanzas separated by blank lines.
            for stanza in text.split("\n\n") {
                let field = |name: &str| {
                    stanza.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
                    })
                };
                let suites = field("Suites").unwrap_or_default();
                let types = field("Types").unwrap_or_default();
                if types.split_whitespace().any(|t| t == "deb")
                    && suites.split_whitespace().any(|s| s == codename)
                {
                    let uri = field("URIs")?.split_whitespace().next()?.to_string();
                    return Some((uri, field("Signed-By")));
                }
            }
        } else {
            // One-line format: deb [options] uri suite components...
            for line in text.lines() {
                let words: Vec<&str> = line
                    .split_whitespace()
                    .filter(|w| !w.starts_with('[') && !w.ends_with(']'))
                    .collect();
                if words.len() >= 3 && words[0] == "deb" && words[2] == codename {
                    return Some((words[1].to_string(), None));
                }
            }
        }
    }
    None
}

/// Downloads Debian's `qemu-user` from this release's backports with a private apt
/// configuration (the system's sources and package state are not touched) and unpacks it
/// into `dest` (its binaries are static).
fn fetch_backports_qemu(root: &Path, dest: &Path) -> Result<(), Error> {
    let os = std::fs::read_to_string("/etc/os-release")?;
    let codename = os
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|c| c.trim_matches('"').to_string())
        .filter(|c| !c.is_empty())
        .ok_or("no VERSION_CODENAME in /etc/os-release (not Debian?)")?;
    let (uri, keyring) =
        debian_source(&codename).ok_or(format!("no apt source for {codename} found"))?;
    let keyring =
        keyring.unwrap_or_else(|| "/usr/share/keyrings/debian-archive-keyring.gpg".to_string());
    let apt = root.join("target/cross/apt");
    for d in ["lists/partial", "cache/archives/partial", "parts", "debs"] {
        std::fs::create_dir_all(apt.join(d))?;
    }
    std::fs::write(
        apt.join("sources.list"),
        format!("deb [signed-by={keyring}] {uri} {codename}-backports main\n"),
    )?;
    let opt = |k: &str, v: &Path| format!("-o{k}={}", v.display());
    let opts = [
        opt("Dir::Etc::SourceList", &apt.join("sources.list")),
        opt("Dir::Etc::SourceParts", &apt.join("parts")),
        opt("Dir::State::Lists", &apt.join("lists")),
        opt("Dir::Cache", &apt.join("cache")),
        "-oAPT::Sandbox::User=root".to_string(),
    ];
    run_status(Command::new("apt-get").args(&opts).args(["update", "-qq"]))?;
    let debs = apt.join("debs");
    for e in std::fs::read_dir(&debs)?.flatten() {
        let _ = std::fs::remove_file(e.path());
    }
    run_status(
        Command::new("apt-get")
            .args(&opts)
            .args([
                "download",
                "-qq",
                &format!("qemu-user/{codename}-backports"),
            ])
            .current_dir(&debs),
    )?;
    let deb = std::fs::read_dir(&debs)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .ok_or("apt-get download left no .deb")?;
    let _ = std::fs::remove_dir_all(dest);
    run_status(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dest))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_result_lines_are_counted() {
        let t = parse_test_result(
            "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; \
             finished in 0.07s",
        )
        .unwrap();
        assert_eq!((t.passed, t.failed), (12, 0));
        let t = parse_test_result("test result: FAILED. 69 passed; 9 failed; 0 ignored").unwrap();
        assert_eq!((t.passed, t.failed), (69, 9));
        assert!(parse_test_result("test foo ... ok").is_none());
    }

    #[test]
    fn runner_variable_names_follow_cargo() {
        assert_eq!(
            Arch::Riscv64.runner_var(),
            "CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_RUNNER"
        );
    }
}
