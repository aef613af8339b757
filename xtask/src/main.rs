//! Project automation: `cargo xtask <command>` (see `cargo xtask --help`).
//!
//! Each subcommand lives in its own module; `main` only parses and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod bench_qht;
mod bench_scaling;
mod cross_test;
mod demo;
mod difftest;
mod runner;

/// Error type shared by the subcommands.
type Error = Box<dyn std::error::Error>;

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "Project automation", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Single-threaded guest workloads (bundled C programs, busybox) under emu, qemu-x86_64
    /// and natively: medians, ratios, peak RSS; writes target/bench/guest.json.
    Bench(Box<bench::Args>),
    /// Thread-scaling guest workloads at 1, 2, 4, ... threads under emu (-smp N), qemu-x86_64
    /// and natively; writes target/bench/scaling.json and scaling.svg.
    BenchScaling(Box<bench_scaling::Args>),
    /// Concurrent hash table benchmark after QEMU's qht-bench: qht against dashmap, papaya,
    /// scc::HashIndex and RwLock<HashMap>.
    BenchQht(Box<bench_qht::Args>),
    /// Cross-build emu for another host (aarch64, riscv64) and run every crate's tests and
    /// the guest programs there under qemu-user; ends with `<arch>: N passed, M failed`.
    CrossTest(Box<cross_test::Args>),
    /// Build a bundled C program, run it natively and under emu, and compare.
    Demo,
    /// Differential tester: random instruction sequences natively and emulated, compared.
    Difftest(Box<difftest::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(*args),
        Command::BenchScaling(args) => bench_scaling::run(*args),
        Command::BenchQht(args) => bench_qht::run(*args),
        Command::CrossTest(args) => cross_test::run(*args),
        Command::Demo => demo::run(),
        Command::Difftest(args) => difftest::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
