//! Links `emu` as a position-dependent executable on Linux. As a PIE it carries ~13,000
//! relative relocations that the dynamic linker applies, touching ~50 pages, at every start:
//! ~10% of the CPU time of a short guest's run, and every guest `execve` starts emu again.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
