//! `cargo xtask bench-scaling`: the multi-threaded guest workloads of `benchmarks/scaling/`
//! at 1, 2, 4, ... threads (past the host's cores), under `emu -smp N`, `qemu-x86_64` and
//! natively. The total work is fixed (strong scaling), so speedup(N) = t(1) / t(N). Prints a
//! table, writes `target/bench/scaling.json` and plots speedups in `target/bench/scaling.svg`.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::runner::{self, ratio, rotated, CommonArgs, Point, Record, Runner, Tools};
use crate::Error;

/// Options of `cargo xtask bench-scaling`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Thread counts [default: powers of two up to twice the host's cores].
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    /// Where to write the plot [default: target/bench/scaling.svg].
    #[arg(long)]
    svg: Option<PathBuf>,
}

/// One workload: its source and the arguments that follow the thread count.
#[derive(Debug)]
struct Workload {
    name: &'static str,
    source: &'static str,
    full: &'static [&'static str],
    quick: &'static [&'static str],
}

/// The workloads, sized so a native one-thread full run takes about 0.2-0.5 s (except
/// `transl`, whose cost is the emulator's translation, and is near zero natively).
const WORKLOADS: &[Workload] = &[
    Workload {
        name: "int",
        source: "scaling/int.c",
        full: &["2000"],
        quick: &["500"],
    },
    Workload {
        name: "fp",
        source: "scaling/fp.c",
        full: &["1200"],
        quick: &["400"],
    },
    Workload {
        name: "atomic",
        source: "scaling/atomic.c",
        full: &["40"],
        quick: &["5"],
    },
    Workload {
        name: "mutex",
        source: "scaling/mutex.c",
        full: &["30000"],
        quick: &["2500"],
    },
    Workload {
        name: "membw",
        source: "scaling/membw.c",
        full: &["64", "24"],
        quick: &["32", "4"],
    },
    Workload {
        name: "transl",
        source: "scaling/transl.c",
        full: &["8", "4096"],
        quick: &["4", "1024"],
    },
    Workload {
        name: "smc",
        source: "scaling/smc.c",
        full: &["2000", "40"],
        quick: &["300", "20"],
    },
];

/// Powers of two from 1 up to twice `cores` (so the count goes past the host's cores), plus
/// `cores` itself when it is not a power of two.
fn default_threads(cores: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..)
        .map(|i| 1usize << i)
        .take_while(|&n| n <= 2 * cores.max(1))
        .collect();
    if !v.contains(&cores) {
        v.push(cores);
        v.sort_unstable();
    }
    v
}

/// All points of one workload: `(runner, threads) -> Point`.
#[derive(Debug, Default)]
struct Series {
    workload: &'static str,
    points: Vec<(Runner, usize, Point)>,
}

impl Series {
    fn point(&self, r: Runner, n: usize) -> Option<&Point> {
        self.points
            .iter()
            .find(|(x, m, _)| *x == r && *m == n)
            .map(|(_, _, p)| p)
    }
    fn median(&self, r: Runner, n: usize) -> Option<f64> {
        self.point(r, n).and_then(Point::median)
    }
    /// t(1) / t(n), when both points succeeded (t(1) is the smallest count measured).
    fn speedup(&self, r: Runner, n: usize, base: usize) -> Option<f64> {
        match (self.median(r, base), self.median(r, n)) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b * base as f64),
            _ => None,
        }
    }
}

/// Runs the benchmark.
pub fn run(args: Args) -> Result<(), Error> {
    let common = &args.common;
    let runners = common.runner_list();
    let runs = common.runs();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut threads = if args.threads.is_empty() {
        default_threads(cores)
    } else {
        args.threads.clone()
    };
    threads.sort_unstable();
    threads.dedup();
    if runners.is_empty() || runs == 0 || threads.contains(&0) {
        return Err("--runners must name a runner, --runs and --threads be positive".into());
    }
    let workloads: Vec<&Workload> = WORKLOADS
        .iter()
        .filter(|w| common.selected(w.name))
        .collect();
    if workloads.is_empty() {
        return Err(format!("no workload matches --filter {:?}", common.filter).into());
    }
    let tools = Tools::prepare(common, &runners)?;
    let mut exes = Vec::new();
    for w in &workloads {
        exes.push(runner::build_workload(w.source, w.name, &["-pthread"])?);
    }

    let load = runner::loadavg();
    println!(
        "bench-scaling: {} workloads x threads {:?} x {} runners, {runs} runs each{}; {cores} \
         host cores, load average {}",
        workloads.len(),
        threads,
        runners.len(),
        if common.quick { " (quick sizes)" } else { "" },
        load.map_or("?".into(), |l| format!("{l:.2}")),
    );
    let started = std::time::Instant::now();
    let total = workloads.len() * threads.len() * runners.len() * runs;
    let mut done = 0;
    let mut all = Vec::new();
    for (w, exe) in workloads.iter().zip(&exes) {
        let sizes = if common.quick { w.quick } else { w.full };
        let argv = |r: Runner, n: usize| {
            let mut a = vec![n.to_string()];
            a.extend(sizes.iter().map(|s| s.to_string()));
            tools.argv(r, Some(n), exe, &a)
        };
        // The reference output: one native single-thread run. Every run at every thread count
        // must print the same (the workloads' checksums do not depend on the thread count).
        let reference = tools.measure(&argv(Runner::Native, 1), w.name, common.timeout())?;
        if let Some(f) = &reference.failure {
            return Err(format!(
                "{} fails natively ({})",
                w.name,
                runner::describe(f, &reference.stderr_tail)
            )
            .into());
        }
        let mut series = Series {
            workload: w.name,
            points: Vec::new(),
        };
        for &n in &threads {
            for &r in &runners {
                series.points.push((r, n, Point::default()));
            }
        }
        // Each repetition visits every thread count, so a change of the host's load during
        // the run shifts all of them alike instead of skewing the speedups.
        for rep in 0..runs {
            for &n in &threads {
                for r in rotated(&runners, rep) {
                    done += 1;
                    let p = series
                        .points
                        .iter_mut()
                        .find(|(x, m, _)| *x == r && *m == n)
                        .map(|(_, _, p)| p)
                        .expect("point");
                    if p.failure.is_some() {
                        continue;
                    }
                    let tag = format!("{}.{}.{n}", w.name, r.name());
                    let s = tools.measure(&argv(r, n), &tag, common.timeout())?;
                    p.add(&s, &reference.stdout);
                    eprintln!(
                        "[{done:>3}/{total}] {:<7} N={n:<3} {:<6} run {}/{runs}  {}",
                        w.name,
                        r.name(),
                        rep + 1,
                        match &p.failure {
                            Some(f) => format!("FAILED: {f}"),
                            None => format!(
                                "{} s  cpu {:.0}%",
                                runner::secs(s.seconds),
                                100.0 * s.cpu_seconds / s.seconds.max(1e-9)
                            ),
                        }
                    );
                }
            }
        }
        all.push(series);
    }

    print!("{}", table(&all, &runners, &threads));
    println!("measured in {:.0} s", started.elapsed().as_secs_f64());
    let failures: Vec<String> = all
        .iter()
        .flat_map(|s| {
            s.points.iter().filter_map(move |(r, n, p)| {
                p.failure
                    .as_ref()
                    .map(|f| format!("{} N={n} under {r}: {f}", s.workload))
            })
        })
        .collect();
    if let (Some(a), Some(b)) = (load, runner::loadavg()) {
        if a.max(b) > 0.5 {
            println!(
                "note: load average {a:.2} before, {b:.2} after: other work on the host takes \
                 cores away and flattens the speedups"
            );
        }
    }
    let records: Vec<Record> = all
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(|(r, n, p)| Record::new(s.workload, *r, Some(*n), p, false))
        })
        .collect();
    let root = runner::workspace_root();
    let json = common
        .json
        .clone()
        .unwrap_or_else(|| root.join("target/bench/scaling.json"));
    runner::write_json(&json, &records)?;
    let svg_path = args
        .svg
        .clone()
        .unwrap_or_else(|| root.join("target/bench/scaling.svg"));
    std::fs::write(&svg_path, svg(&all, &runners, &threads, cores))?;
    println!("wrote {}", svg_path.display());
    let mismatches = all
        .iter()
        .flat_map(|s| &s.points)
        .filter(|(_, _, p)| p.mismatch)
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

/// The table: per workload and thread count, each runner's median seconds, speedup over the
/// smallest thread count and efficiency (speedup / N), then emu/qemu and emu/native time
/// ratios.
fn table(all: &[Series], runners: &[Runner], threads: &[usize]) -> String {
    let has = |r| runners.contains(&r);
    let base = threads[0];
    let mut s = String::new();
    s += &format!("\n{:<7} {:>3}", "workload", "N");
    for r in runners {
        s += &format!(" | {:>8} {:>7} {:>5}", format!("{r} s"), "speedup", "eff");
    }
    s += " |";
    if has(Runner::Emu) && has(Runner::Qemu) {
        s += &format!(" {:>8}", "emu/qemu");
    }
    if has(Runner::Emu) && has(Runner::Native) {
        s += &format!(" {:>10}", "emu/native");
    }
    s += "\n";
    for series in all {
        for &n in threads {
            s += &format!("{:<8} {n:>3}", series.workload);
            for &r in runners {
                match (series.median(r, n), series.speedup(r, n, base)) {
                    (Some(t), Some(x)) => {
                        let _ = write!(
                            s,
                            " | {:>8} {:>6.2}x {:>4.0}%",
                            runner::secs(t),
                            x,
                            100.0 * x / n as f64
                        );
                    }
                    (Some(t), None) => {
                        let _ = write!(s, " | {:>8} {:>7} {:>5}", runner::secs(t), "-", "-");
                    }
                    (None, _) => {
                        let failed = series.point(r, n).is_some_and(|p| p.failure.is_some());
                        let cell = if failed { "FAILED" } else { "-" };
                        let _ = write!(s, " | {cell:>8} {:>7} {:>5}", "", "");
                    }
                }
            }
            s += " |";
            let e = series.median(Runner::Emu, n);
            if has(Runner::Emu) && has(Runner::Qemu) {
                s += &format!(" {:>8}", ratio(e, series.median(Runner::Qemu, n)));
            }
            if has(Runner::Emu) && has(Runner::Native) {
                s += &format!(" {:>10}", ratio(e, series.median(Runner::Native, n)));
            }
            s += "\n";
        }
    }
    s += &format!(
        "speedup = t({base}) / t(N) x {base} (fixed total work); eff = speedup / N; emu/qemu and \
         emu/native are time ratios (above 1: emu is slower)\n"
    );
    s
}

/// Line colours, one per workload.
const COLOURS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Dash pattern per runner.
fn dash(r: Runner) -> &'static str {
    match r {
        Runner::Native => "",
        Runner::Qemu => "8,4",
        Runner::Emu => "2,3",
    }
}

/// A hand-written SVG plot of speedup against threads (log2 axis), one line per workload and
/// runner (colour: workload, dashes: runner), with the ideal line and the host's core count.
fn svg(all: &[Series], runners: &[Runner], threads: &[usize], cores: usize) -> String {
    let (w, h) = (760.0, 480.0);
    let (left, right, top, bottom) = (60.0, 200.0, 30.0, 50.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let base = threads[0];
    let lo = (threads[0] as f64).log2();
    let hi = (*threads.last().expect("threads") as f64)
        .log2()
        .max(lo + 1.0);
    let mut ymax = *threads.last().expect("threads") as f64;
    for s in all {
        for &r in runners {
            for &n in threads {
                if let Some(x) = s.speedup(r, n, base) {
                    ymax = ymax.max(x);
                }
            }
        }
    }
    let ymax = ymax.ceil().max(1.0);
    let px = |n: f64| left + (n.log2() - lo) / (hi - lo) * pw;
    let py = |y: f64| top + ph - y / ymax * ph;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="18" text-anchor="middle" font-size="14">Speedup over {base} thread{}, fixed total work</text>"#,
        left + pw / 2.0,
        if base == 1 { "" } else { "s" }
    );
    // Grid and axes.
    let step = if ymax > 16.0 {
        (ymax / 8.0).ceil()
    } else {
        1.0
    };
    let mut y = 0.0;
    while y <= ymax + 1e-9 {
        let _ = writeln!(
            o,
            r##"<line x1="{left}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{y}</text>"##,
            py(y),
            left + pw,
            left - 6.0,
            py(y) + 4.0
        );
        y += step;
    }
    for &n in threads {
        let _ = writeln!(
            o,
            r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{1}" stroke="#ddd"/><text x="{0:.1}" y="{2}" text-anchor="middle">{n}</text>"##,
            px(n as f64),
            top + ph,
            top + ph + 16.0
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">threads = guest vCPUs (emu -smp N)</text>"#,
        left + pw / 2.0,
        h - 12.0
    );
    let _ = writeln!(
        o,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">speedup</text>"#,
        top + ph / 2.0,
        top + ph / 2.0
    );
    if (base..=*threads.last().expect("threads")).contains(&cores) {
        let _ = writeln!(
            o,
            r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{1}" stroke="#999" stroke-dasharray="1,4"/><text x="{2:.1}" y="{3}" fill="#666">{cores} host cores</text>"##,
            px(cores as f64),
            top + ph,
            px(cores as f64) + 4.0,
            top + 12.0
        );
    }
    // Ideal scaling.
    let ideal: Vec<String> = threads
        .iter()
        .filter(|&&n| n as f64 <= ymax)
        .map(|&n| format!("{:.1},{:.1}", px(n as f64), py(n as f64)))
        .collect();
    let _ = writeln!(
        o,
        r##"<polyline points="{}" fill="none" stroke="#bbb" stroke-width="1"/>"##,
        ideal.join(" ")
    );
    // Measured lines, with a dot per point.
    for (i, s) in all.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        for &r in runners {
            let pts: Vec<(f64, f64)> = threads
                .iter()
                .filter_map(|&n| s.speedup(r, n, base).map(|x| (px(n as f64), py(x))))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let list: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                o,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{}"><title>{} {r}</title></polyline>"#,
                list.join(" "),
                dash(r),
                s.workload
            );
            for (x, y) in pts {
                let _ = writeln!(
                    o,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{colour}"/>"#
                );
            }
        }
    }
    // Legend: workloads by colour, runners by dashes.
    let lx = w - right + 20.0;
    let mut ly = top + 10.0;
    for (i, s) in all.iter().enumerate() {
        let _ = writeln!(
            o,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            COLOURS[i % COLOURS.len()],
            lx + 30.0,
            ly + 4.0,
            s.workload
        );
        ly += 18.0;
    }
    ly += 10.0;
    for &r in runners {
        let _ = writeln!(
            o,
            r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="#333" stroke-width="2" stroke-dasharray="{}"/><text x="{}" y="{}">{r}</text>"##,
            lx + 24.0,
            dash(r),
            lx + 30.0,
            ly + 4.0
        );
        ly += 18.0;
    }
    let _ = writeln!(
        o,
        r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="#bbb"/><text x="{}" y="{}">ideal</text>"##,
        lx + 24.0,
        lx + 30.0,
        ly + 4.0
    );
    o += "</svg>\n";
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(secs: f64) -> Point {
        Point {
            seconds: vec![secs],
            rss_kb: vec![1],
            cpu_share: vec![1.0],
            failure: None,
            mismatch: false,
        }
    }

    fn series() -> Series {
        let failed = Point {
            failure: Some("exit status 3: pthread_create: Function not implemented".into()),
            ..Point::default()
        };
        Series {
            workload: "int",
            points: vec![
                (Runner::Native, 1, point(1.0)),
                (Runner::Native, 2, point(0.5)),
                (Runner::Native, 4, point(0.4)),
                (Runner::Emu, 1, point(4.0)),
                (Runner::Emu, 2, failed.clone()),
                (Runner::Emu, 4, failed),
            ],
        }
    }

    #[test]
    fn default_threads_go_past_the_cores() {
        assert_eq!(default_threads(2), vec![1, 2, 4]);
        assert_eq!(default_threads(6), vec![1, 2, 4, 6, 8]);
        assert_eq!(default_threads(1), vec![1, 2]);
    }

    #[test]
    fn speedup_efficiency_and_failures_in_the_table() {
        let s = series();
        assert_eq!(s.speedup(Runner::Native, 2, 1), Some(2.0));
        assert_eq!(s.speedup(Runner::Native, 4, 1), Some(2.5));
        assert_eq!(s.speedup(Runner::Emu, 2, 1), None);
        let t = table(&[s], &[Runner::Native, Runner::Emu], &[1, 2, 4]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[2].contains("1.000   1.00x  100%"), "{t}");
        assert!(lines[2].ends_with("4.00x"), "{t}");
        assert!(lines[3].contains("0.500   2.00x  100%"), "{t}");
        assert!(
            lines[3].contains("FAILED") && lines[3].ends_with("-"),
            "{t}"
        );
        assert!(lines[4].contains("0.400   2.50x   62%"), "{t}");
    }

    #[test]
    fn svg_has_one_line_per_measured_series() {
        let svg = svg(&[series()], &Runner::ALL, &[1, 2, 4], 2);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        // native (3 points) and emu (1 point) are measured; qemu has no points. Plus the ideal.
        assert_eq!(svg.matches("<polyline").count(), 3, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
        assert!(svg.contains("<title>int emu</title>"));
    }
}
