//! `-d` logging: guest code, IR and host code of each translated block, and executed blocks.

use std::fmt;
use std::io::Write;

use guest_memory::GuestSpace;
use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter};
use parking_lot::Mutex;

/// What `-d` asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogFlags {
    /// Guest code of each translated block.
    pub in_asm: bool,
    /// IR of each translated block.
    pub op: bool,
    /// Host code of each translated block.
    pub out_asm: bool,
    /// Every block entered from the dispatcher.
    pub exec: bool,
    /// Statistics at exit.
    pub stats: bool,
}

impl LogFlags {
    /// The items `-d` accepts, with help text.
    pub const ITEMS: &'static [(&'static str, &'static str)] = &[
        ("in_asm", "show guest code of each translated block"),
        ("op", "show the IR of each translated block"),
        ("out_asm", "show host code of each translated block"),
        ("exec", "show every block entered from the dispatcher"),
        (
            "nochain",
            "do not chain blocks (every block returns to the dispatcher)",
        ),
        ("stats", "print translation and lookup statistics at exit"),
    ];
}

pub(crate) struct Sink(Mutex<Box<dyn Write + Send>>);

impl Sink {
    pub(crate) fn new(out: Option<Box<dyn Write + Send>>) -> Sink {
        Sink(Mutex::new(
            out.unwrap_or_else(|| Box::new(std::io::stderr())),
        ))
    }

    pub(crate) fn line(&self, args: fmt::Arguments<'_>) {
        let mut out = self.0.lock();
        let _ = writeln!(out, "{args}");
        let _ = out.flush();
    }

    /// The guest instructions of `block`, in the order it runs them (a block that followed
    /// a jump is not one run of bytes).
    pub(crate) fn in_asm(&self, space: &GuestSpace, block: &tcg::Block) {
        let mut text = "IN:\n".to_string();
        for op in &block.ops {
            if let tcg::Op::InsnStart { pc } = *op {
                let mut bytes = [0u8; 15];
                let n = crate::fetch_code(space, pc, &mut bytes);
                disassemble(&mut text, &bytes[..n], pc, 1);
            }
        }
        self.line(format_args!("{text}"));
    }

    pub(crate) fn out_asm(&self, guest_pc: u64, code: *const u8, len: usize) {
        // SAFETY: `code..code+len` is the block just emitted into the executable view.
        let bytes = unsafe { std::slice::from_raw_parts(code, len) };
        let mut text = format!("OUT: [guest {guest_pc:#x}] {len} bytes\n");
        if cfg!(target_arch = "x86_64") {
            disassemble(&mut text, bytes, code as u64, usize::MAX);
        } else {
            for chunk in bytes.chunks(16) {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                text.push_str(&hex.join(" "));
                text.push('\n');
            }
        }
        self.line(format_args!("{text}"));
    }
}

/// Appends at most `max` instructions decoded from `bytes` (at guest or host address `ip`).
fn disassemble(out: &mut String, bytes: &[u8], ip: u64, max: usize) {
    let mut decoder = Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE);
    let mut formatter = GasFormatter::new();
    let mut insn = String::new();
    for _ in 0..max {
        if !decoder.can_decode() {
            break;
        }
        let i = decoder.decode();
        insn.clear();
        formatter.format(&i, &mut insn);
        out.push_str(&format!("0x{:016x}:  {insn}\n", i.ip()));
    }
}

/// `-perfmap`: a `/tmp/perf-PID.map` file naming each compiled block, in the format `perf`
/// reads for JIT code (`START SIZE name`, hex), so that profiles show guest pcs instead of
/// anonymous addresses. A forked child starts its own file (its pid changed); blocks it
/// inherited from the parent are named in the parent's file only.
pub(crate) struct PerfMap(Mutex<Option<(u32, std::fs::File)>>);

impl PerfMap {
    pub(crate) fn new() -> PerfMap {
        PerfMap(Mutex::new(None))
    }

    /// The map file's descriptor, once it is open.
    pub(crate) fn fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.0.lock().as_ref().map(|(_, f)| f.as_raw_fd())
    }

    /// Records the block for guest `pc` at host `code..code+len`. Errors are ignored: the
    /// map is a debugging aid and must not kill the guest.
    pub(crate) fn block(&self, pc: u64, code: *const u8, len: usize) {
        let pid = std::process::id();
        let mut f = self.0.lock();
        if f.as_ref().is_none_or(|(p, _)| *p != pid) {
            *f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(format!("/tmp/perf-{pid}.map"))
                .ok()
                .map(|file| (pid, file));
        }
        if let Some((_, file)) = f.as_mut() {
            let _ = writeln!(file, "{:x} {len:x} guest_{pc:x}", code as usize);
        }
    }
}
