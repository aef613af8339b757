//! `cargo xtask difftest`: the differential tester (crates/difftest) — random instruction
//! sequences run natively and through the emulator's translation path, compared.

use std::io::IsTerminal;

use crate::Error;

/// Arguments of `cargo xtask difftest`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seed of the sequences.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of sequences.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Index of the first sequence (with `--count 1`: replay one sequence).
    #[arg(long, default_value_t = 0)]
    index: u64,
    /// Only forms of these mnemonics or iced codes (comma-separated, case-insensitive).
    #[arg(long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Only forms of these classes: int, sse, x87, mmx (comma-separated).
    #[arg(long = "class", value_delimiter = ',')]
    classes: Vec<String>,
    /// Print every sequence.
    #[arg(long, short)]
    verbose: bool,
    /// Print at most this many mismatch reports.
    #[arg(long, default_value_t = 10)]
    max_reports: usize,
    /// List the forms under test and the ones left out, then exit.
    #[arg(long)]
    list: bool,
}

/// Runs the tester.
pub fn run(a: Args) -> Result<(), Error> {
    let mut out = std::io::stdout();
    if a.list {
        difftest::list_forms(&mut out)?;
        return Ok(());
    }
    let opts = difftest::Options {
        seed: a.seed,
        count: a.count,
        start: a.index,
        filter: a.filter,
        classes: a.classes,
        verbose: a.verbose,
        max_reports: a.max_reports,
        color: std::io::stdout().is_terminal(),
    };
    let sum = difftest::run(&opts, &mut out)?;
    difftest::print_summary(&sum, &opts, &mut out);
    if sum.mismatches > 0 {
        return Err(format!("{} mismatching sequences", sum.mismatches).into());
    }
    Ok(())
}
