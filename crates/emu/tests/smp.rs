//! `-smp N` is the number of CPUs the guest sees, by every route a program can ask:
//! `sysconf`, `sched_getaffinity`, `/proc/cpuinfo` and `/sys/devices/system/cpu/online`.

use std::path::PathBuf;
use std::process::Command;

fn build_nproc() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/tmp/smp");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    let out = dir.join(format!("nproc-{}", std::process::id()));
    let st = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(root.join("tests/guest/nproc.c"))
        .status()
        .expect("gcc is needed to build the guest programs");
    assert!(st.success(), "gcc failed on nproc.c");
    out
}

fn emu_output(args: &[&str], program: &PathBuf) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_emu"))
        .args(args)
        .arg(program)
        .output()
        .expect("run emu");
    assert!(out.status.success(), "emu failed: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn smp_sets_the_cpu_count_the_guest_sees() {
    let nproc = build_nproc();
    assert_eq!(
        emu_output(&["-smp", "3"], &nproc),
        "onln 3 conf 3 affinity 3 cpuinfo 3 online 0-2\n"
    );
    assert_eq!(
        emu_output(&["-smp", "1"], &nproc),
        "onln 1 conf 1 affinity 1 cpuinfo 1 online 0\n"
    );
    assert_eq!(
        emu_output(&["-smp", "70"], &nproc),
        "onln 70 conf 70 affinity 70 cpuinfo 70 online 0-69\n"
    );
    let _ = std::fs::remove_file(&nproc);
}
