//! `cargo xtask demo`: build `emu` and a bundled C program, run the program natively and under
//! `emu`, and show that the two runs agree.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use crate::Error;

/// The bundled guest programs the demo runs, from `tests/guest/`.
const PROGRAMS: &[(&str, &[&str])] = &[("hello.c", &[]), ("sort.c", &[]), ("intarith.c", &[])];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn run_checked(cmd: &mut Command) -> Result<Output, Error> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    Ok(out)
}

/// Runs the demo.
pub fn run() -> Result<(), Error> {
    let root = workspace_root();
    eprintln!("building emu (release)...");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "emu"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        return Err("cargo build -p emu failed".into());
    }
    let emu = root.join("target/release/emu");
    let out_dir = root.join("target/demo");
    std::fs::create_dir_all(&out_dir)?;
    let mut all_same = true;
    for (source, args) in PROGRAMS {
        let src = root.join("tests/guest").join(source);
        let exe = out_dir.join(source.trim_end_matches(".c"));
        let cc = run_checked(
            Command::new("gcc")
                .args(["-static", "-O2", "-o"])
                .arg(&exe)
                .arg(&src),
        )?;
        if !cc.status.success() {
            return Err(format!(
                "gcc -static failed for {}:\n{}",
                src.display(),
                String::from_utf8_lossy(&cc.stderr)
            )
            .into());
        }
        let t = Instant::now();
        let native = run_checked(Command::new(&exe).args(*args))?;
        let native_time = t.elapsed();
        let t = Instant::now();
        let emulated = run_checked(Command::new(&emu).arg(&exe).args(*args))?;
        let emu_time = t.elapsed();
        let same = native.stdout == emulated.stdout
            && native.stderr == emulated.stderr
            && native.status == emulated.status;
        all_same &= same;
        println!(
            "=== {source}: emu output ({} bytes, {:?} native, {:?} under emu)",
            emulated.stdout.len(),
            native_time,
            emu_time
        );
        let text = String::from_utf8_lossy(&emulated.stdout);
        for line in text.lines().take(8) {
            println!("  {line}");
        }
        if text.lines().count() > 8 {
            println!("  ...");
        }
        println!(
            "  {} ({})",
            if same {
                "identical to the native run"
            } else {
                "DIFFERS from the native run"
            },
            emulated.status
        );
    }
    if all_same {
        Ok(())
    } else {
        Err("emulated output differs from native".into())
    }
}
