//! `cargo xtask bench`: single-threaded guest workloads (the C programs in
//! `benchmarks/guest/` and Debian's static busybox) run under `emu`, `qemu-x86_64` and
//! natively, several interleaved runs each; prints medians, spreads, ratios and peak RSS and
//! writes `target/bench/guest.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::runner::{self, geomean, ratio, rotated, CommonArgs, Point, Record, Runner, Tools};
use crate::Error;

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The busybox binary of the busybox workloads (Debian's busybox-static).
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
}

/// The program a workload runs.
#[derive(Clone, Copy, Debug)]
enum Program {
    /// A C file under `benchmarks/`, built static with gcc -O2.
    C(&'static str),
    /// The busybox binary.
    Busybox,
}

/// One workload: its program and arguments for the full and the quick run. In arguments,
/// `{input}` is the generated gzip input file and `{wrap}` the command that runs a child
/// program the way the runner runs the parent (`qemu-x86_64` for qemu, which does not follow
/// `execve` into new programs by itself; empty otherwise: emu follows `execve`).
#[derive(Debug)]
struct Workload {
    name: &'static str,
    program: Program,
    full: &'static [&'static str],
    quick: &'static [&'static str],
    /// Megabytes of generated input (full, quick), for `{input}`.
    input_mb: Option<(usize, usize)>,
}

const SH_LOOP: &str = "i=0; s=0; while [ $i -lt $1 ]; do s=$(( (s * 31 + i) % 1000003 )); \
                       i=$((i + 1)); done; echo $s";
const SPAWN: &str = "i=0; while [ $i -lt $1 ]; do $2 /bin/busybox true; i=$((i + 1)); done; \
                     echo spawned $i";

/// The workloads, sized so a native full run takes about 0.2-0.5 s.
const WORKLOADS: &[Workload] = &[
    Workload {
        name: "sieve",
        program: Program::C("guest/sieve.c"),
        full: &["10000", "12"],
        quick: &["10000", "2"],
        input_mb: None,
    },
    Workload {
        name: "crc",
        program: Program::C("guest/crc.c"),
        full: &["16", "4"],
        quick: &["4", "2"],
        input_mb: None,
    },
    Workload {
        name: "bitops",
        program: Program::C("guest/bitops.c"),
        full: &["12"],
        quick: &["2"],
        input_mb: None,
    },
    Workload {
        name: "nbody",
        program: Program::C("guest/nbody.c"),
        full: &["3000"],
        quick: &["200"],
        input_mb: None,
    },
    Workload {
        name: "qsort",
        program: Program::C("guest/qsort.c"),
        full: &["300", "4"],
        quick: &["100", "2"],
        input_mb: None,
    },
    Workload {
        name: "interp",
        program: Program::C("guest/interp.c"),
        full: &["350"],
        quick: &["100"],
        input_mb: None,
    },
    Workload {
        name: "strings",
        program: Program::C("guest/strings.c"),
        full: &["2048", "8"],
        quick: &["1024", "2"],
        input_mb: None,
    },
    Workload {
        name: "bb-sh-loop",
        program: Program::Busybox,
        full: &["sh", "-c", SH_LOOP, "sh", "80000"],
        quick: &["sh", "-c", SH_LOOP, "sh", "5000"],
        input_mb: None,
    },
    Workload {
        name: "bb-gzip",
        program: Program::Busybox,
        full: &["gzip", "-c", "{input}"],
        quick: &["gzip", "-c", "{input}"],
        input_mb: Some((20, 4)),
    },
    Workload {
        name: "bb-spawn",
        program: Program::Busybox,
        full: &["sh", "-c", SPAWN, "sh", "300", "{wrap}"],
        quick: &["sh", "-c", SPAWN, "sh", "30", "{wrap}"],
        input_mb: None,
    },
];

/// Writes `mb` megabytes of deterministic, moderately compressible text (words, numbers,
/// line breaks) to `target/bench/data/`, once.
fn gzip_input(mb: usize) -> Result<PathBuf, Error> {
    let dir = runner::bench_dir()?.join("data");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("text-{mb}mb.txt"));
    let size = mb << 20;
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size as u64) {
        return Ok(path);
    }
    const WORDS: &[&str] = &[
        "the",
        "emulator",
        "translates",
        "blocks",
        "of",
        "guest",
        "code",
        "into",
        "host",
        "instructions",
        "and",
        "chains",
        "them",
        "so",
        "hot",
        "loops",
        "never",
        "return",
        "to",
        "dispatcher",
        "memory",
        "ordering",
        "vcpu",
        "thread",
        "signal",
        "page",
    ];
    let mut out = Vec::with_capacity(size + 64);
    let mut x: u64 = 0x853c_49e6_748f_ea9b;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 7 == 0 {
            write!(out, "{} ", (x >> 20) % 100_000)?;
        } else {
            out.extend_from_slice(WORDS[(x >> 33) as usize % WORDS.len()].as_bytes());
            out.push(if (x >> 50) % 12 == 0 { b'\n' } else { b' ' });
        }
    }
    out.truncate(size);
    std::fs::write(&path, &out)?;
    Ok(path)
}

/// The program and arguments of `w` under `runner`.
fn command_of(
    w: &Workload,
    exe: &Path,
    quick: bool,
    input: Option<&Path>,
    tools: &Tools,
    runner: Runner,
) -> Vec<String> {
    let wrap = match runner {
        Runner::Qemu => tools
            .qemu
            .as_deref()
            .map(|q| which(q).display().to_string())
            .unwrap_or_default(),
        Runner::Emu | Runner::Native => String::new(),
    };
    let args: Vec<String> = (if quick { w.quick } else { w.full })
        .iter()
        .map(|a| match *a {
            "{input}" => input.map(|p| p.display().to_string()).unwrap_or_default(),
            "{wrap}" => wrap.clone(),
            a => a.to_string(),
        })
        .collect();
    tools.argv(runner, None, exe, &args)
}

/// `prog` as an absolute path (searching PATH), so a guest shell can run it.
fn which(prog: &Path) -> PathBuf {
    if prog.components().count() > 1 {
        return prog.to_path_buf();
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
        .unwrap_or_else(|| prog.to_path_buf())
}

/// The measured points of one workload, one per runner.
#[derive(Debug)]
struct Row {
    workload: &'static str,
    points: Vec<(Runner, Point)>,
}

impl Row {
    fn point(&self, r: Runner) -> Option<&Point> {
        self.points.iter().find(|(x, _)| *x == r).map(|(_, p)| p)
    }
    fn median(&self, r: Runner) -> Option<f64> {
        self.point(r).and_then(Point::median)
    }
}

/// Runs the benchmark.
pub fn run(args: Args) -> Result<(), Error> {
    let common = &args.common;
    let runners = common.runner_list();
    let runs = common.runs();
    if runners.is_empty() || runs == 0 {
        return Err("--runners must name at least one runner and --runs be positive".into());
    }
    let workloads: Vec<&Workload> = WORKLOADS
        .iter()
        .filter(|w| common.selected(w.name))
        .collect();
    if workloads.is_empty() {
        return Err(format!("no workload matches --filter {:?}", common.filter).into());
    }
    let tools = Tools::prepare(common, &runners)?;
    let mut skipped = Vec::new();
    let mut prepared = Vec::new();
    for w in workloads {
        let exe = match w.program {
            Program::C(src) => runner::build_workload(src, w.name, &[])?,
            Program::Busybox if args.busybox.is_file() => args.busybox.clone(),
            Program::Busybox => {
                skipped.push(format!(
                    "{}: {} not found (apt-get install busybox-static)",
                    w.name,
                    args.busybox.display()
                ));
                continue;
            }
        };
        let input = match w.input_mb {
            Some((full, quick)) => Some(gzip_input(if common.quick { quick } else { full })?),
            None => None,
        };
        prepared.push((w, exe, input));
    }

    let load = runner::loadavg();
    println!(
        "bench: {} workloads x {} runners, {runs} runs each{}; load average {}",
        prepared.len(),
        runners.len(),
        if common.quick { " (quick sizes)" } else { "" },
        load.map_or("?".into(), |l| format!("{l:.2}")),
    );
    let started = std::time::Instant::now();
    let total = prepared.len() * runners.len() * runs;
    let mut done = 0;
    let mut rows = Vec::new();
    for (w, exe, input) in &prepared {
        let cmd = |r| command_of(w, exe, common.quick, input.as_deref(), &tools, r);
        // The reference: one native run, not measured (it also warms the page cache).
        let reference = tools.measure(&cmd(Runner::Native), w.name, common.timeout())?;
        if let Some(f) = &reference.failure {
            return Err(format!(
                "{} fails natively ({}): {}",
                w.name,
                runner::describe(f, &reference.stderr_tail),
                cmd(Runner::Native).join(" ")
            )
            .into());
        }
        let mut points: Vec<(Runner, Point)> =
            runners.iter().map(|&r| (r, Point::default())).collect();
        for rep in 0..runs {
            for r in rotated(&runners, rep) {
                let (_, p) = points.iter_mut().find(|(x, _)| *x == r).expect("runner");
                done += 1;
                if p.failure.is_some() {
                    continue; // a failed point is not run again
                }
                let tag = format!("{}.{}", w.name, r.name());
                let s = tools.measure(&cmd(r), &tag, common.timeout())?;
                p.add(&s, &reference.stdout);
                eprintln!(
                    "[{done:>3}/{total}] {:<11} {:<6} run {}/{runs}  {}",
                    w.name,
                    r.name(),
                    rep + 1,
                    match &p.failure {
                        Some(f) => format!("FAILED: {f}"),
                        None => format!(
                            "{} s  {:.1} MB",
                            runner::secs(s.seconds),
                            s.max_rss_kb as f64 / 1024.0
                        ),
                    }
                );
            }
        }
        rows.push(Row {
            workload: w.name,
            points,
        });
    }

    print!("{}", table(&rows, &runners));
    println!("measured in {:.0} s", started.elapsed().as_secs_f64());
    for s in &skipped {
        println!("skipped {s}");
    }
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            row.points.iter().filter_map(move |(r, p)| {
                p.failure
                    .as_ref()
                    .map(|f| format!("{} under {r}: {f}", row.workload))
            })
        })
        .collect();
    if let (Some(a), Some(b)) = (load, runner::loadavg()) {
        if a.max(b) > 0.5 {
            println!("note: load average {a:.2} before, {b:.2} after: other work on the host skews these timings");
        }
    }
    let records: Vec<Record> = rows
        .iter()
        .flat_map(|row| {
            row.points
                .iter()
                .map(|(r, p)| Record::new(row.workload, *r, None, p, true))
        })
        .collect();
    let path = common
        .json
        .clone()
        .unwrap_or_else(|| runner::workspace_root().join("target/bench/guest.json"));
    runner::write_json(&path, &records)?;

    let mismatches = rows
        .iter()
        .flat_map(|r| &r.points)
        .filter(|(_, p)| p.mismatch)
        .count();
    if mismatches > 0 {
        println!(
            "!!! {mismatches} point(s) printed a checksum different from the native run's !!!"
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} point(s) FAILED:\n  {}",
            failures.len(),
            failures.join("\n  ")
        )
        .into())
    }
}

/// The results table: median seconds [min-max] per runner, emu/native and qemu/emu, peak RSS,
/// and the geometric means of the ratios over the workloads where both sides succeeded.
fn table(rows: &[Row], runners: &[Runner]) -> String {
    let has = |r| runners.contains(&r);
    let mut s = String::new();
    s += &format!("\n{:<11}", "workload");
    for r in runners {
        s += &format!(" {:>22}", format!("{r} s [min-max]"));
    }
    if has(Runner::Emu) && has(Runner::Native) {
        s += &format!(" {:>10}", "emu/native");
    }
    if has(Runner::Emu) && has(Runner::Qemu) {
        s += &format!(" {:>9}", "qemu/emu");
    }
    let rss_head = format!(
        "peak RSS MB {}",
        runners
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join("/")
    );
    s += &format!("  {rss_head}\n");
    let mut emu_native = Vec::new();
    let mut qemu_emu = Vec::new();
    let mut any_starved = false;
    for row in rows {
        s += &format!("{:<11}", row.workload);
        for &r in runners {
            let cell = row.point(r).map_or("-".into(), |p| {
                let star = if p.starved() && p.failure.is_none() {
                    "*"
                } else {
                    ""
                };
                any_starved |= !star.is_empty();
                p.cell() + star
            });
            s += &format!(" {cell:>22}");
        }
        let (e, n, q) = (
            row.median(Runner::Emu),
            row.median(Runner::Native),
            row.median(Runner::Qemu),
        );
        if has(Runner::Emu) && has(Runner::Native) {
            s += &format!(" {:>10}", ratio(e, n));
            if let (Some(e), Some(n)) = (e, n) {
                emu_native.push(e / n);
            }
        }
        if has(Runner::Emu) && has(Runner::Qemu) {
            s += &format!(" {:>9}", ratio(q, e));
            if let (Some(q), Some(e)) = (q, e) {
                qemu_emu.push(q / e);
            }
        }
        let rss: Vec<String> = runners
            .iter()
            .map(|&r| {
                let p = row.point(r);
                let kb: Vec<f64> = p
                    .filter(|p| p.failure.is_none())
                    .map(|p| p.rss_kb.iter().map(|&k| k as f64).collect())
                    .unwrap_or_default();
                runner::median(&kb).map_or("-".into(), |k| format!("{:.1}", k / 1024.0))
            })
            .collect();
        s += &format!("  {}\n", rss.join("/"));
    }
    let gm =
        |v: &[f64]| geomean(v).map_or("-".to_string(), |g| format!("{g:.2}x ({} wl)", v.len()));
    if has(Runner::Emu) && (has(Runner::Native) || has(Runner::Qemu)) {
        s += &format!("{:<11}", "geomean");
        s += &" ".repeat(23 * runners.len());
        if has(Runner::Native) {
            s += &format!(" {:>10}", gm(&emu_native));
        }
        if has(Runner::Qemu) {
            s += &format!(" {:>9}", gm(&qemu_emu));
        }
        s += "\n";
    }
    if any_starved {
        s += "* the median run got less than 90% of a CPU (other load on the host): its time is inflated\n";
    }
    s += "emu/native: how many times slower than native emu is; qemu/emu: above 1 means emu is faster than qemu\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(secs: &[f64], failure: Option<&str>) -> Point {
        Point {
            seconds: secs.to_vec(),
            rss_kb: secs.iter().map(|_| 2048).collect(),
            cpu_share: secs.iter().map(|_| 1.0).collect(),
            failure: failure.map(str::to_string),
            mismatch: false,
        }
    }

    #[test]
    fn table_shows_ratios_failures_and_geomeans() {
        let mut rows = vec![
            Row {
                workload: "a",
                points: vec![
                    (Runner::Native, point(&[1.0], None)),
                    (Runner::Qemu, point(&[8.0], None)),
                    (Runner::Emu, point(&[4.0], None)),
                ],
            },
            Row {
                workload: "b",
                points: vec![
                    (Runner::Native, point(&[1.0], None)),
                    (Runner::Qemu, point(&[2.0], None)),
                    (Runner::Emu, point(&[], Some("killed by SIGILL"))),
                ],
            },
            Row {
                workload: "c",
                points: vec![
                    (Runner::Native, point(&[0.5], None)),
                    (Runner::Qemu, point(&[2.0], None)),
                    (Runner::Emu, point(&[8.0], None)),
                ],
            },
        ];
        rows[2].points[1].1.cpu_share = vec![0.5];
        let t = table(&rows, &Runner::ALL);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[2].starts_with("a "), "{t}");
        assert!(
            lines[2].contains("4.00x") && lines[2].contains("2.00x"),
            "{t}"
        );
        assert!(lines[2].ends_with("2.0/2.0/2.0"), "{t}");
        assert!(
            lines[3].contains("FAILED") && lines[3].ends_with("2.0/2.0/-"),
            "{t}"
        );
        // emu/native: 4 and 16 -> 8; qemu/emu: 2 and 0.25 -> 0.71; b is left out.
        assert!(lines[5].contains("8.00x (2 wl)"), "{t}");
        assert!(lines[5].contains("0.71x (2 wl)"), "{t}");
        assert!(lines[4].contains("2.000 [2.000-2.000]* "), "{t}");
        assert!(
            !lines[2].contains('*') && lines[6].starts_with("* the median run"),
            "{t}"
        );
    }

    #[test]
    fn workload_names_are_unique() {
        for (i, a) in WORKLOADS.iter().enumerate() {
            assert!(
                WORKLOADS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
    }
}
