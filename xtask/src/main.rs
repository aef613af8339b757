//! Project automation: `cargo xtask <command>` (see `cargo xtask --help`).
//!
//! Each subcommand lives in its own module; `main` only parses and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench_qht;
mod demo;
mod difftest;

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
    /// Concurrent hash table benchmark after QEMU's qht-bench: qht against dashmap, papaya,
    /// scc::HashIndex and RwLock<HashMap>.
    BenchQht(Box<bench_qht::Args>),
    /// Build a bundled C program, run it natively and under emu, and compare.
    Demo,
    /// Differential tester: random instruction sequences natively and emulated, compared.
    Difftest(Box<difftest::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::BenchQht(args) => bench_qht::run(*args),
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
