//! `emu`: run an x86-64 Linux program on this host.
//!
//! Command line conventions follow QEMU's user-mode emulator (`qemu-x86_64`): single-dash
//! options before the program, everything after the program belongs to the guest.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use guest_memory::GuestSpace;
use linux_user::{load_elf, Process, ProcessConfig, ThreadCtx};
use vcpu::{CpuModel, LogFlags, Machine, MachineConfig, TranslateConfig, Vcpu};

const USAGE: &str = "\
usage: emu [options] program [arguments...]
Runs an x86-64 Linux program on this host.

Options:
  -h, -help, --help     print this help and exit
  -version, --version   print the version and exit
  -d item[,...]         log the given items (use '-d help' for a list)
  -D logfile            write logs to logfile instead of stderr
  -strace               log every system call of the guest
  -cpu model            the CPU the guest sees (use '-cpu help' for a list)
  -E var=value          set a variable in the guest's environment
  -U var                remove a variable from the guest's environment
  -L path               prefix for the guest's absolute paths (its sysroot)
  -smp n                number of CPUs the guest sees (default: this host's)
  -tb-size n            code cache size in MiB (default 64; flushed when full)
  -R size               reserve at most size bytes of host address space for the guest
                        (a power of two from 4G to 1T, suffix k, M, G or T; default: the
                        largest the host grants up to 1T)
  -tier-up n            interpret a block n times before compiling it (default 32;
                        0 compiles every block at once)
  -perfmap              name compiled blocks in /tmp/perf-PID.map (for perf)
  -sync-compile         compile hot blocks on the vCPU's thread, not in the background
  -exclusive-atomics    run misaligned locked instructions and cmpxchg16b alone, with the
                        other vCPUs stopped, as on hosts whose atomics cannot do them
                        (always so on hosts other than x86-64; for testing)
  -0 argv0              the guest's argv[0] (default: program as given)
  -inherit-signals i:b  the guest starts with the signals in hex bit set i ignored and those
                        in b blocked (default: as emu was started; a guest execve passes
                        its own on)
  -comm name            the guest thread's name (default: the program's file name; a guest
                        execve passes the name Linux would give on)
  -exec-emu path        the program a guest execve runs the new guest program with, with
                        emu's options (default: this emu; e.g. a script that runs emu under
                        qemu-user, when emu is built for another host)
  -exec-fresh           a guest execve always starts a fresh emu (default: a single-threaded
                        guest's new program replaces the old one in this emu, keeping the
                        translations of code both share)
  --stats               same as '-d stats'
";

/// CPU models for `-cpu`: every feature a model advertises is implemented, and the
/// instructions of the features it does not advertise raise SIGILL.
const CPU_MODELS: &[(&str, &str)] = &[
    (
        "max",
        "everything implemented: x86-64-v2 + AES, PCLMULQDQ, LZCNT, RDTSCP (default)",
    ),
    (
        "x86-64-v2",
        "x86-64 baseline + CMPXCHG16B, POPCNT, SSE3, SSSE3, SSE4.1, SSE4.2",
    ),
    (
        "baseline",
        "x86-64 baseline (v1: SSE2); aliases: x86-64-v1, qemu64, x86-64",
    ),
];

fn cpu_model(name: &str) -> Option<CpuModel> {
    match name {
        // BMI1 is not advertised: only its tzcnt is implemented (andn, bextr, blsi... are
        // VEX-encoded and are not).
        "max" | "host" => Some(CpuModel {
            bmi1: false,
            ..CpuModel::MAX
        }),
        "x86-64-v2" => Some(CpuModel::X86_64_V2),
        "baseline" | "x86-64-v1" | "qemu64" | "x86-64" => Some(CpuModel::BASELINE),
        _ => None,
    }
}

struct Options {
    log: LogFlags,
    nochain: bool,
    log_file: Option<PathBuf>,
    strace: bool,
    cpu: CpuModel,
    cpu_name: String,
    set_env: Vec<(OsString, OsString)>,
    unset_env: Vec<OsString>,
    sysroot: Option<PathBuf>,
    smp: Option<usize>,
    /// Code cache size in MiB (`-tb-size`).
    tb_size: Option<usize>,
    /// Most bytes of host address space to reserve for the guest (`-R`).
    reserved_va: Option<u64>,
    /// Interpreted runs before a block is compiled (`-tier-up`).
    tier_up: Option<u32>,
    /// `-perfmap`.
    perfmap: bool,
    /// `-sync-compile`.
    sync_compile: bool,
    /// `-exclusive-atomics`.
    exclusive_atomics: bool,
    /// `-exec-emu`.
    exec_emu: Option<PathBuf>,
    /// `-exec-fresh`.
    exec_fresh: bool,
    /// `-inherit-signals`: ignored and blocked signals (bit `n-1` for signal `n`).
    inherit_signals: Option<(u64, u64)>,
    /// `-comm`.
    comm: Option<OsString>,
    argv0: Option<OsString>,
    program: OsString,
    args: Vec<OsString>,
}

/// What parsing asks `main` to do.
enum Parsed {
    Run(Box<Options>),
    Exit(ExitCode),
}

fn fail(msg: &str) -> Parsed {
    eprintln!("emu: {msg}");
    eprintln!("Try 'emu --help' for more information.");
    Parsed::Exit(ExitCode::from(1))
}

fn parse(mut argv: impl Iterator<Item = OsString>) -> Parsed {
    let mut o = Options {
        log: LogFlags::default(),
        nochain: false,
        log_file: None,
        strace: false,
        cpu: cpu_model("max").expect("default model exists"),
        cpu_name: "max".into(),
        set_env: Vec::new(),
        unset_env: Vec::new(),
        sysroot: None,
        smp: None,
        tb_size: None,
        reserved_va: None,
        tier_up: None,
        perfmap: false,
        sync_compile: false,
        exclusive_atomics: false,
        exec_emu: None,
        exec_fresh: false,
        inherit_signals: None,
        comm: None,
        argv0: None,
        program: OsString::new(),
        args: Vec::new(),
    };
    while let Some(arg) = argv.next() {
        let Some(opt) = arg.to_str().filter(|a| a.starts_with('-') && a.len() > 1) else {
            o.program = arg;
            o.args = argv.collect();
            return Parsed::Run(Box::new(o));
        };
        let opt = opt.to_string();
        let name = opt.trim_start_matches('-');
        let mut value = |what: &str| -> Result<OsString, Parsed> {
            argv.next()
                .ok_or_else(|| fail(&format!("option '{opt}' needs {what}")))
        };
        match name {
            "h" | "help" => {
                print!("{USAGE}");
                return Parsed::Exit(ExitCode::SUCCESS);
            }
            "version" => {
                println!(
                    "emu {} (x86-64 guests on {} hosts)",
                    env!("CARGO_PKG_VERSION"),
                    std::env::consts::ARCH
                );
                return Parsed::Exit(ExitCode::SUCCESS);
            }
            "strace" => o.strace = true,
            "stats" => o.log.stats = true,
            "d" => {
                let items = match value("a list of items") {
                    Ok(v) => v,
                    Err(p) => return p,
                };
                for item in items.to_string_lossy().split(',') {
                    match item {
                        "help" => {
                            println!("Log items (comma separated):");
                            for (n, h) in LogFlags::ITEMS {
                                println!("{n:<10} {h}");
                            }
                            return Parsed::Exit(ExitCode::SUCCESS);
                        }
                        "in_asm" => o.log.in_asm = true,
                        "op" => o.log.op = true,
                        "out_asm" => o.log.out_asm = true,
                        "exec" => o.log.exec = true,
                        "nochain" => o.nochain = true,
                        "stats" => o.log.stats = true,
                        other => {
                            return fail(&format!("unknown log item '{other}' (see '-d help')"))
                        }
                    }
                }
            }
            "D" => match value("a file name") {
                Ok(v) => o.log_file = Some(v.into()),
                Err(p) => return p,
            },
            "cpu" => {
                let v = match value("a model name") {
                    Ok(v) => v.to_string_lossy().into_owned(),
                    Err(p) => return p,
                };
                if v == "help" {
                    println!("Available CPU models:");
                    for (n, h) in CPU_MODELS {
                        println!("  {n:<10} {h}");
                    }
                    return Parsed::Exit(ExitCode::SUCCESS);
                }
                match cpu_model(&v) {
                    Some(m) => {
                        o.cpu = m;
                        o.cpu_name = v;
                    }
                    None => return fail(&format!("unknown CPU model '{v}' (see '-cpu help')")),
                }
            }
            "E" => {
                let v = match value("var=value") {
                    Ok(v) => v,
                    Err(p) => return p,
                };
                let bytes = v.as_bytes();
                let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
                    return fail(&format!(
                        "'-E {}' is not of the form var=value",
                        v.to_string_lossy()
                    ));
                };
                o.set_env.push((
                    OsStr::from_bytes(&bytes[..eq]).to_owned(),
                    OsStr::from_bytes(&bytes[eq + 1..]).to_owned(),
                ));
            }
            "U" => match value("a variable name") {
                Ok(v) => o.unset_env.push(v),
                Err(p) => return p,
            },
            "L" => match value("a path") {
                Ok(v) => o.sysroot = Some(v.into()),
                Err(p) => return p,
            },
            "smp" => {
                let v = match value("a CPU count") {
                    Ok(v) => v.to_string_lossy().into_owned(),
                    Err(p) => return p,
                };
                // QEMU also accepts "cpus=N"; take the first number either way.
                let n = v
                    .trim_start_matches("cpus=")
                    .split(',')
                    .next()
                    .unwrap_or("");
                match n.parse::<usize>() {
                    Ok(n) if (1..=4096).contains(&n) => o.smp = Some(n),
                    _ => return fail(&format!("'-smp {v}': expected a CPU count from 1 to 4096")),
                }
            }
            "tb-size" => {
                let v = match value("a size in MiB") {
                    Ok(v) => v.to_string_lossy().into_owned(),
                    Err(p) => return p,
                };
                match v.parse::<usize>() {
                    Ok(n) if (1..=2048).contains(&n) => o.tb_size = Some(n),
                    _ => return fail(&format!("'-tb-size {v}': expected MiB from 1 to 2048")),
                }
            }
            "R" => {
                let v = match value("a size") {
                    Ok(v) => v.to_string_lossy().into_owned(),
                    Err(p) => return p,
                };
                match parse_size(&v) {
                    Some(n) if n.is_power_of_two() && (4 << 30..=1 << 40).contains(&n) => {
                        o.reserved_va = Some(n)
                    }
                    _ => {
                        return fail(&format!(
                            "'-R {v}': expected a power of two from 4G to 1T (e.g. 4G, 64G)"
                        ))
                    }
                }
            }
            "perfmap" => o.perfmap = true,
            "sync-compile" => o.sync_compile = true,
            "exclusive-atomics" => o.exclusive_atomics = true,
            "exec-fresh" => o.exec_fresh = true,
            "comm" => match value("a name") {
                Ok(v) => o.comm = Some(v),
                Err(p) => return p,
            },
            "inherit-signals" => {
                let v = match value("IGNORED:BLOCKED") {
                    Ok(v) => v.to_string_lossy().into_owned(),
                    Err(p) => return p,
                };
                let parsed = v.split_once(':').and_then(|(i, b)| {
                    Some((
                        u64::from_str_radix(i, 16).ok()?,
                        u64::from_str_radix(b, 16).ok()?,
                    ))
                });
                match parsed {
                    Some(p) => o.inherit_signals = Some(p),
                    None => {
                        return fail(&format!(
                            "'-inherit-signals {v}': expected two hex bit sets, IGNORED:BLOCKED"
                        ))
                    }
                }
            }
            "tier-up" => {
                let v = match value("a run count") {
                    Ok(v) => v.to_string_lossy().into_owned(),
                    Err(p) => return p,
                };
                match v.parse::<u32>() {
                    Ok(n) if n <= 1_000_000 => o.tier_up = Some(n),
                    _ => return fail(&format!("'-tier-up {v}': expected a count up to 1000000")),
                }
            }
            "exec-emu" => match value("a path") {
                Ok(v) => o.exec_emu = Some(v.into()),
                Err(p) => return p,
            },
            "0" => match value("an argv[0]") {
                Ok(v) => o.argv0 = Some(v),
                Err(p) => return p,
            },
            _ => return fail(&format!("unknown option '{opt}'")),
        }
    }
    eprint!("{USAGE}");
    Parsed::Exit(ExitCode::from(1))
}

fn main() -> ExitCode {
    // SAFETY: mallopt only sets glibc malloc parameters; no other thread exists yet.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
    // What the execve that started us passed on, before any thread starts.
    let inherited_signals = linux_user::take_inherited_signal_state();
    let o = match parse(std::env::args_os().skip(1)) {
        Parsed::Run(o) => o,
        Parsed::Exit(code) => return code,
    };
    match run(&o, o.inherit_signals.unwrap_or(inherited_signals)) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("emu: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(o: &Options, (ignored_signals, blocked_signals): (u64, u64)) -> Result<ExitCode, String> {
    let program = PathBuf::from(&o.program);
    let shown = program.display();
    let space = match o.reserved_va {
        Some(max) => GuestSpace::with_max_size(max),
        None => GuestSpace::new(),
    };
    let space =
        Arc::new(space.map_err(|e| format!("cannot reserve the guest address space: {e}"))?);

    // The guest's environment: ours, edited by -E and -U.
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for name in &o.unset_env {
        env.retain(|(k, _)| k != name);
    }
    for (k, v) in &o.set_env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    let envp: Vec<Vec<u8>> = env
        .into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            kv
        })
        .collect();
    let mut argv = vec![o
        .argv0
        .clone()
        .unwrap_or_else(|| o.program.clone())
        .into_vec()];
    argv.extend(o.args.iter().map(|a| a.clone().into_vec()));

    // On x86 Linux's AT_HWCAP is CPUID leaf 1's EDX.
    let hwcap = u64::from(vcpu::cpuid(&o.cpu, 1, 0).3);
    let loaded = load_elf(&space, &program, &argv, &envp, o.program.as_bytes(), hwcap)
        .map_err(|e| format!("{shown}: {e}"))?;

    let mut config = ProcessConfig::new(std::fs::canonicalize(&program).unwrap_or(program.clone()));
    config.sysroot = o.sysroot.clone();
    config.strace = o.strace;
    if let Some(n) = o.smp {
        config.cpu_count = n;
    }
    (config.cpu_vendor, config.cpu_model_name) = vcpu::cpuinfo_names(&o.cpu);
    config.cpu_flags = vcpu::cpuinfo_flags(&o.cpu);
    config.argv = argv;
    config.ignored_signals = ignored_signals;
    config.emu_exe = o.exec_emu.clone().or_else(|| std::env::current_exe().ok());
    config.emu_args_for_exec = exec_args(o);
    let process = Arc::new(Process::new(space, config));

    let log = match &o.log_file {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let machine = Machine::new(
        process,
        MachineConfig {
            translate: TranslateConfig {
                cpu: o.cpu,
                exclusive_split_atomics: o.exclusive_atomics,
                exclusive_cmpxchg16b: o.exclusive_atomics,
                ..TranslateConfig::default()
            },
            nochain: o.nochain,
            code_cache_size: o.tb_size.map(|m| m << 20),
            tier_up_after: o.tier_up.unwrap_or(vcpu::DEFAULT_TIER_UP_AFTER),
            perfmap: o.perfmap,
            background_compile: !o.sync_compile,
            // Another emulator binary was asked for: the guest's execve must run it.
            exec_in_place: o.exec_emu.is_none() && !o.exec_fresh,
            log: o.log,
        },
        log,
    )
    .map_err(|e| e.to_string())?;
    let mut thread = ThreadCtx::current();
    thread.signal_mask = blocked_signals;
    thread.name = linux_user::thread_name_for(o.comm.as_ref().unwrap_or(&o.program).as_bytes());
    let mut cpu = Vcpu::new(&machine, thread, loaded.entry, loaded.stack_pointer);
    machine.vcpu_stopped(cpu.run());
    // The guest's main thread exited while others live: they end the process.
    drop(cpu);
    loop {
        std::thread::park();
    }
}

/// Our options that a guest `execve` passes on to the emu that runs the new program.
fn exec_args(o: &Options) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    if o.strace {
        args.push("-strace".into());
    }
    if let Some(root) = &o.sysroot {
        args.push("-L".into());
        args.push(root.clone().into());
    }
    if let Some(n) = o.smp {
        args.push("-smp".into());
        args.push(n.to_string().into());
    }
    if let Some(n) = o.tb_size {
        args.push("-tb-size".into());
        args.push(n.to_string().into());
    }
    if let Some(n) = o.reserved_va {
        args.push("-R".into());
        args.push(n.to_string().into());
    }
    if o.perfmap {
        args.push("-perfmap".into());
    }
    if o.sync_compile {
        args.push("-sync-compile".into());
    }
    if o.exclusive_atomics {
        args.push("-exclusive-atomics".into());
    }
    if o.exec_fresh {
        args.push("-exec-fresh".into());
    }
    if let Some(p) = &o.exec_emu {
        args.push("-exec-emu".into());
        args.push(p.clone().into());
    }
    if let Some(n) = o.tier_up {
        args.push("-tier-up".into());
        args.push(n.to_string().into());
    }
    args.push("-cpu".into());
    args.push(o.cpu_name.clone().into());
    args
}

/// A byte count with an optional binary suffix (`k`, `M`, `G`, `T`, either case), as QEMU's
/// `-R` takes it.
fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1 << shift)
}
