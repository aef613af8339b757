//! `emu`: run an x86-64 Linux program on this host.

fn main() {
    eprintln!("emu: the translation pipeline is not built yet");
    std::process::exit(1);
}
