//! Guest programs whose expected behaviour depends on emu's own options, so that they cannot
//! be compared with a native run as they are: `-smp N` (the CPU count the guest sees) and
//! `-tb-size` (a code cache small enough that a guest JIT overflows it under load, in a
//! forked child too), `-R`
//! (the guest address space's size), `-exclusive-atomics` (checked through `-d stats`),
//! `-exec-emu` (what a guest `execve` runs), `-exec-fresh` and what an `execve` in place keeps
//! (checked through `-d stats`).
//!
//! `EMU_TEST_RUNNER`, as in `common/mod.rs`, replaces the `emu` binary (e.g. by a cross-built
//! emu under qemu-user); `EMU_TEST_FILTER` selects by the names `options::smp`,
//! `options::jit`, `options::reserved_va`, `options::exclusive_atomics` and
//! `options::exec_emu`, `options::exec_in_place`, `options::family`.

mod common;

use std::path::{Path, PathBuf};

use common::selected;
use std::process::{Command, Output};

fn build(name: &str) -> PathBuf {
    build_with(name, name, &[])
}

/// Builds `tests/guest/<name>.c` with extra `flags` into a binary named after `out_name`.
fn build_with(name: &str, out_name: &str, flags: &[&str]) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/tmp/emu-options");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    let out = dir.join(format!("{out_name}-{}", std::process::id()));
    let st = Command::new("gcc")
        .args(["-static", "-O2"])
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(root.join(format!("tests/guest/{name}.c")))
        .status()
        .expect("gcc is needed to build the guest programs");
    assert!(st.success(), "gcc failed on {name}.c");
    out
}

/// A command that runs emu (or `EMU_TEST_RUNNER`), before its options.
fn emu_command() -> Command {
    let runner: Vec<String> = match std::env::var("EMU_TEST_RUNNER") {
        Ok(r) if !r.trim().is_empty() => r.split_whitespace().map(String::from).collect(),
        _ => vec![env!("CARGO_BIN_EXE_emu").to_string()],
    };
    let mut cmd = Command::new(&runner[0]);
    cmd.args(&runner[1..]);
    cmd
}

fn emu(args: &[&str], program: &Path, guest_args: &[&str]) -> Output {
    emu_command()
        .args(args)
        .arg(program)
        .args(guest_args)
        .output()
        .expect("run emu")
}

fn stdout_of(out: &Output) -> String {
    assert!(out.status.success(), "run failed: {out:?}");
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

#[test]
fn smp_sets_the_cpu_count_the_guest_sees() {
    if !selected("options::smp") {
        return;
    }
    let nproc = build("nproc");
    for (smp, expect) in [
        ("3", "onln 3 conf 3 affinity 3 cpuinfo 3 online 0-2\n"),
        ("1", "onln 1 conf 1 affinity 1 cpuinfo 1 online 0\n"),
        ("70", "onln 70 conf 70 affinity 70 cpuinfo 70 online 0-69\n"),
    ] {
        assert_eq!(stdout_of(&emu(&["-smp", smp], &nproc, &[])), expect);
    }
    let _ = std::fs::remove_file(&nproc);
}

/// An access beyond the guest's address space, by compiled code (`-tier-up 0`) and by the
/// interpreter tier: the guest dies of SIGSEGV naming the instruction, as natively.
#[test]
fn an_address_beyond_the_guest_space_is_a_guest_segv() {
    if !selected("options::segv") {
        return;
    }
    let segv = build("segv");
    for tier_up in ["0", "32"] {
        for (arg, what) in [
            ("", "invalid access to address 0x10"),
            ("high", "outside the guest address space"),
            ("wild", "outside the guest address space"),
        ] {
            let args: &[&str] = if arg.is_empty() { &[] } else { &[arg] };
            let out = emu(&["-tier-up", tier_up], &segv, args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&out.status),
                Some(libc::SIGSEGV),
                "-tier-up {tier_up} {arg}: {out:?}"
            );
            assert!(
                err.starts_with("emu: guest SIGSEGV at rip=0x") && err.contains(what),
                "-tier-up {tier_up} {arg}: {err}"
            );
        }
    }
    let _ = std::fs::remove_file(&segv);
}

/// Two threads run JIT-generated code that needs several times the code cache: the cache
/// is flushed (in exclusive sections) while the other vCPU runs, and the JIT's rewrite of
/// its code is seen. Then the same in a parent and its forked child at once, each flushing
/// its own cache (the child copies its part at its first compile, right after the fork).
/// Output must match the native run's.
#[test]
fn jit_overflowing_a_small_code_cache_matches_native() {
    if !selected("options::jit") {
        return;
    }
    let jit = build("jit");
    for args in [&["4000"][..], &["4000", "fork"]] {
        let native = Command::new(&jit).args(args).output().expect("run jit");
        // Every block compiled at once (`-tier-up 0`): with the interpreter tier, code run a
        // few times never reaches the code cache.
        let out = emu(
            &["-tb-size", "1", "-tier-up", "0", "-d", "stats"],
            &jit,
            args,
        );
        assert_eq!(stdout_of(&out), stdout_of(&native), "jit {args:?}");
        let stats = String::from_utf8_lossy(&out.stderr);
        // One report per process.
        let flushes = flush_counts(&stats);
        assert_eq!(flushes.len(), args.len(), "stats:\n{stats}");
        assert!(
            flushes.iter().all(|&n| n >= 2),
            "jit {args:?}: the code cache was flushed {flushes:?} times:\n{stats}"
        );
    }
    let _ = std::fs::remove_file(&jit);
}

/// The code-cache flush count of each `-d stats` report in `stats` (one per process).
fn flush_counts(stats: &str) -> Vec<u64> {
    stats
        .lines()
        .filter_map(|l| {
            l.split(" KiB, ")
                .nth(1)?
                .strip_suffix(" flushes")?
                .parse()
                .ok()
        })
        .collect()
}

/// A forked child runs code translated before the fork, from cache pages it shares with its
/// parent, while the parent overflows a small code cache with a JIT's code and flushes it:
/// the parent must not take those pages from the child (a flush maps itself fresh ones),
/// and the child copies them only when it first writes code. Output must match native.
#[test]
fn forked_child_runs_shared_code_while_the_parent_flushes() {
    if !selected("options::jit") {
        return;
    }
    let prog = build("forkjit");
    let native = Command::new(&prog).output().expect("run forkjit");
    // Compiled at the third run, on the vCPU: the parent's new code fills the cache at once.
    let flags = [
        "-tb-size",
        "1",
        "-tier-up",
        "2",
        "-sync-compile",
        "-d",
        "stats",
    ];
    let out = emu(&flags, &prog, &[]);
    assert_eq!(stdout_of(&out), stdout_of(&native));
    let stats = String::from_utf8_lossy(&out.stderr);
    assert!(
        flush_counts(&stats).iter().any(|&n| n > 0),
        "the parent never flushed:\n{stats}"
    );
    let _ = std::fs::remove_file(&prog);
}

/// `-exclusive-atomics` runs what the hosts other than x86-64 cannot do with their atomics in
/// exclusive sections on this host too: misaligned locked instructions and cmpxchg16b, racing
/// with another thread's aligned ones, still lose no update, and each went through a section.
#[test]
fn exclusive_atomics_match_native() {
    if !selected("options::exclusive_atomics") {
        return;
    }
    let prog = build("splitlock");
    let native = Command::new(&prog).output().expect("run splitlock");
    let out = emu(&["-exclusive-atomics", "-d", "stats"], &prog, &[]);
    assert_eq!(stdout_of(&out), stdout_of(&native));
    let stats = String::from_utf8_lossy(&out.stderr);
    let steps: u64 = stats
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("exclusive atomics")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no exclusive-atomics count in stats:\n{stats}"));
    // 200 split-lock adds and at least 200 cmpxchg16b in the race alone.
    assert!(steps >= 400, "{steps} exclusive steps:\n{stats}");
    let _ = std::fs::remove_file(&prog);
}

/// `-exec-emu` names what a guest `execve` runs the new program with (emu's options follow,
/// `-exec-emu` among them): a shell's child applets go through a wrapper that notes each
/// call, and the output is the native one.
#[test]
fn exec_emu_runs_execve_through_the_given_program() {
    if !selected("options::exec_emu") {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        eprintln!("note: /bin/busybox not found: skipping (apt-get install busybox-static)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/tmp/emu-options");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    let log = dir.join(format!("exec-emu-{}.log", std::process::id()));
    let wrapper = dir.join(format!("exec-emu-{}.sh", std::process::id()));
    // Under EMU_TEST_RUNNER (a cross-built emu under qemu) the wrapper runs that instead.
    let runner = match std::env::var("EMU_TEST_RUNNER") {
        Ok(r) if !r.trim().is_empty() => r,
        _ => env!("CARGO_BIN_EXE_emu").to_string(),
    };
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec {runner} \"$@\"\n",
            log.display()
        ),
    )
    .expect("write wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = "busybox echo one | busybox tr a-z A-Z; busybox true && echo two";
    let native = Command::new(busybox)
        .args(["sh", "-c", script])
        .output()
        .expect("run busybox");
    let wrapper_str = wrapper.to_str().expect("UTF-8 path");
    let out = emu(&["-exec-emu", wrapper_str], busybox, &["sh", "-c", script]);
    assert_eq!(stdout_of(&out), stdout_of(&native));
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    // Three execve's, each passing `-exec-emu` on.
    assert_eq!(calls.lines().count(), 3, "{calls}");
    assert!(
        calls
            .lines()
            .all(|l| l.contains(&format!("-exec-emu {wrapper_str}"))),
        "{calls}"
    );
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&wrapper);
}

/// A shell that runs the same program again and again learns what its children ran: they
/// post the blocks they translated, those that got hot and the jumps they chained, and the
/// shell, having forked, translates and links them in its own memory on its compiler thread,
/// for its later children to inherit (`family hints` in `-d stats`: the shell's report is the
/// last).
#[test]
fn a_shell_translates_what_its_children_ran() {
    if !selected("options::family") {
        return;
    }
    // Enough children for blocks to get hot family-wide (32 runs), be compiled by the shell's
    // compiler thread (which shares the machine with the children) and then be linked.
    const CHILDREN: usize = 150;
    let script = format!(
        "i=0; while [ $i -lt {CHILDREN} ]; do /bin/busybox true; i=$((i + 1)); done; echo $i"
    );
    let out = emu(
        &["-d", "stats"],
        Path::new("/bin/busybox"),
        &["sh", "-c", &script],
    );
    assert_eq!(stdout_of(&out), format!("{CHILDREN}\n"));
    let err = String::from_utf8_lossy(&out.stderr);
    let reports: Vec<Vec<u64>> = err
        .lines()
        .filter(|l| l.contains("family hints"))
        .map(|l| {
            l.split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .collect();
    assert_eq!(reports.len(), CHILDREN + 1, "one report per process: {err}");
    let shell = &reports[CHILDREN];
    let (taken, translated, linked) = (shell[1], shell[2], shell[3]);
    assert!(
        taken > 0 && translated > 0 && linked > 0,
        "the shell took {taken} hints, translated {translated} blocks and linked {linked} jumps \
         from them: {err}"
    );
}

/// An `execve` in place keeps the translations of code that is the same in the new program
/// and drops those of code that changed: two builds of one program differ only in a function
/// linked at the same address, and each must run its own. `-exec-fresh` starts a new emu
/// instead.
#[test]
fn exec_in_place_keeps_only_unchanged_code() {
    if !selected("options::exec_in_place") {
        return;
    }
    let section = ["-Wl,--section-start=.fixedcode=0x10000000"];
    let one = build_with(
        "execcode",
        "execcode1",
        &[&section[..], &["-DVALUE=1"]].concat(),
    );
    let two = build_with(
        "execcode",
        "execcode2",
        &[&section[..], &["-DVALUE=2"]].concat(),
    );
    let (one_s, two_s) = (one.to_str().unwrap(), two.to_str().unwrap());
    let in_place = |out: &Output| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let line = err
            .lines()
            .find(|l| l.contains("execve in place"))
            .unwrap_or_else(|| panic!("no execve line in the stats: {err}"))
            .to_string();
        let nums: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        (nums[0], nums[1])
    };
    // one -> two -> one: each prints its own value.
    let out = emu(&["-d", "stats"], &one, &[two_s, one_s]);
    assert_eq!(stdout_of(&out), "value 1\nvalue 2\nvalue 1\n");
    let (execs, kept) = in_place(&out);
    assert_eq!(execs, 2);
    // The C library's start-up code is the same in both builds.
    assert!(kept > 50, "only {kept} blocks kept");
    let out = emu(&["-d", "stats", "-exec-fresh"], &one, &[two_s, one_s]);
    assert_eq!(stdout_of(&out), "value 1\nvalue 2\nvalue 1\n");
    // The program that exited ran in a fresh emu, which `-d` is not passed on to.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("emu stats"));
    let _ = std::fs::remove_file(&one);
    let _ = std::fs::remove_file(&two);
}

/// A guest `execve` of a program emu cannot run (a dynamically linked one) ends the process
/// with a message naming it and status 1, as a fresh emu refusing it does, in place and
/// fresh; a shell must not get `ENOEXEC`, on which it would run the binary as a script.
#[test]
fn an_unsupported_program_execed_is_refused_by_name() {
    if !selected("options::exec_in_place") {
        return;
    }
    let dynamic = Path::new("/bin/ls");
    let busybox = Path::new("/bin/busybox");
    let is_dynamic = std::fs::read(dynamic)
        .is_ok_and(|b| b.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"));
    if !busybox.exists() || !is_dynamic {
        eprintln!("note: needs /bin/busybox and a dynamically linked /bin/ls: skipping");
        return;
    }
    for options in [&[][..], &["-exec-fresh"]] {
        let out = emu(options, busybox, &["sh", "-c", "/bin/ls /; echo status $?"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("/bin/ls: unsupported program: dynamically linked"),
            "{options:?}: {err}"
        );
        assert_eq!(stdout_of(&out), "status 1\n", "{options:?}");
    }
}

/// `-exec-fresh`: every `execve` starts a new emu, which gets what Linux's `execve` passes on
/// (ignored signals, the signal mask, descriptors) from the old one; `execchain.c` checks it
/// against a native run.
#[test]
fn exec_fresh_passes_the_process_state_on() {
    if !selected("options::exec_in_place") {
        return;
    }
    let program = build("execchain");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run_in = |side: &str, cmd: &mut Command| {
        let dir = root
            .join("target/tmp/emu-options")
            .join(format!("execchain-{side}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create run dir");
        let out = cmd.current_dir(&dir).output().expect("run execchain");
        let _ = std::fs::remove_dir_all(&dir);
        out
    };
    let native = run_in("native", &mut Command::new(&program));
    let emu = run_in("emu", emu_command().arg("-exec-fresh").arg(&program));
    assert_eq!(native.status.code(), Some(7), "{native:?}");
    assert_eq!(emu.status.code(), Some(7), "{emu:?}");
    assert_eq!(
        String::from_utf8_lossy(&emu.stdout),
        String::from_utf8_lossy(&native.stdout)
    );
    let _ = std::fs::remove_file(&program);
}

/// `-R` bounds the reservation: a guest runs in the smallest space, and sizes that are not a
/// power of two from 4G to 1T are refused.
#[test]
fn reserved_va_bounds_the_guest_space() {
    if !selected("options::reserved_va") {
        return;
    }
    let nproc = build("nproc");
    let out = emu(&["-R", "4G", "-smp", "2"], &nproc, &[]);
    assert_eq!(
        stdout_of(&out),
        "onln 2 conf 2 affinity 2 cpuinfo 2 online 0-1\n"
    );
    for bad in ["3G", "2G", "2T", "4X", ""] {
        let out = emu(&["-R", bad], &nproc, &[]);
        assert_eq!(out.status.code(), Some(1), "-R {bad:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("-R"),
            "-R {bad:?}: {out:?}"
        );
    }
    let _ = std::fs::remove_file(&nproc);
}
