//! Parsing of x86-64 ELF64 executables, with bounds checks on every field.

use std::fmt;
use std::path::PathBuf;

/// `e_type` of a fixed-address executable.
pub const ET_EXEC: u16 = 2;
/// `e_type` of a position-independent executable (static-pie when there is no
/// `PT_INTERP`).
pub const ET_DYN: u16 = 3;
/// `e_machine` of x86-64.
pub const EM_X86_64: u16 = 62;
/// Loadable segment.
pub const PT_LOAD: u32 = 1;
/// Program interpreter (dynamic linking).
pub const PT_INTERP: u32 = 3;
/// The program header table itself.
pub const PT_PHDR: u32 = 6;
/// Thread-local storage template (ignored: libc sets TLS up itself).
pub const PT_TLS: u32 = 7;
/// Stack executability.
pub const PT_GNU_STACK: u32 = 0x6474_e551;
/// Segment is executable.
pub const PF_X: u32 = 1;
/// Segment is writable.
pub const PF_W: u32 = 2;
/// Segment is readable.
pub const PF_R: u32 = 4;
/// Size of an ELF64 program header.
pub const PHDR_SIZE: u64 = 56;
/// Size of the ELF64 file header.
pub const EHDR_SIZE: usize = 64;

/// Why a program could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The host error.
        error: std::io::Error,
    },
    /// The file is not an ELF file.
    NotElf,
    /// The ELF file is malformed.
    Invalid(String),
    /// The ELF file is well-formed but of a kind the loader does not handle.
    Unsupported(String),
    /// Mapping or writing guest memory failed.
    Memory(String),
    /// The arguments and environment do not fit on the initial stack (`E2BIG`).
    ArgumentsTooLong,
    /// An argument or environment string contains a NUL byte.
    BadArgument(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            LoadError::NotElf => write!(f, "not an ELF file (bad magic)"),
            LoadError::Invalid(m) => write!(f, "malformed ELF file: {m}"),
            LoadError::Unsupported(m) => write!(f, "unsupported program: {m}"),
            LoadError::Memory(m) => write!(f, "cannot set up guest memory: {m}"),
            LoadError::ArgumentsTooLong => {
                write!(
                    f,
                    "arguments and environment too long for the initial stack"
                )
            }
            LoadError::BadArgument(m) => write!(f, "bad argument: {m}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Segment {
    /// Virtual address (before any load bias).
    pub vaddr: u64,
    /// Size in memory.
    pub memsz: u64,
    /// Offset of the file bytes.
    pub offset: u64,
    /// Number of file bytes (at most `memsz`; the rest is zero).
    pub filesz: u64,
    /// `PF_*` flags.
    pub flags: u32,
}

impl Segment {
    /// One past the last virtual address.
    pub fn end(&self) -> u64 {
        self.vaddr + self.memsz
    }
}

/// What the loader needs to know about an executable.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ElfInfo {
    /// `ET_EXEC` or `ET_DYN`.
    pub e_type: u16,
    /// Entry point (before any load bias).
    pub entry: u64,
    /// File offset of the program headers.
    pub phoff: u64,
    /// Number of program headers.
    pub phnum: u16,
    /// Non-empty `PT_LOAD` segments, sorted by address, non-overlapping.
    pub segments: Vec<Segment>,
    /// Flags of `PT_GNU_STACK`, if present.
    pub gnu_stack_flags: Option<u32>,
    /// Address of `PT_PHDR`, if present.
    pub phdr_vaddr: Option<u64>,
}

fn u16_at(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([d[o], d[o + 1]])
}

fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().expect("4 bytes"))
}

fn u64_at(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().expect("8 bytes"))
}

fn invalid(m: impl Into<String>) -> LoadError {
    LoadError::Invalid(m.into())
}

/// Checks the ELF identification of `data` (an x86-64 executable or a script is told
/// apart with this by `execve`).
pub fn is_elf(data: &[u8]) -> bool {
    data.len() >= 4 && data[..4] == *b"\x7fELF"
}

/// Parses and validates the headers of a static x86-64 ELF64 executable.
pub fn parse(data: &[u8]) -> Result<ElfInfo, LoadError> {
    parse_head(data, data.len() as u64)
}

/// How many bytes from the start of a file [`parse_head`] needs, given its first bytes
/// (at least the ELF header; fewer give `EHDR_SIZE`): the ELF header and the program headers.
pub fn head_len(first: &[u8]) -> u64 {
    if first.len() < EHDR_SIZE {
        return EHDR_SIZE as u64;
    }
    let phoff = u64_at(first, 32);
    let phnum = u16_at(first, 56) as u64;
    phoff
        .saturating_add(phnum.saturating_mul(PHDR_SIZE))
        .max(EHDR_SIZE as u64)
}

/// [`parse`] from the first bytes of a file of `file_len` bytes: `head` must hold the ELF
/// header and the program headers ([`head_len`]) where the file has them; the segments'
/// file ranges are checked against `file_len`.
pub fn parse_head(data: &[u8], file_len: u64) -> Result<ElfInfo, LoadError> {
    if !is_elf(data) {
        return Err(LoadError::NotElf);
    }
    if data.len() < EHDR_SIZE {
        return Err(invalid("truncated ELF header"));
    }
    match data[4] {
        2 => {}
        1 => {
            return Err(LoadError::Unsupported(
                "32-bit ELF (ELFCLASS32); only x86-64 ELF64 programs are supported".into(),
            ))
        }
        c => return Err(invalid(format!("bad ELF class {c}"))),
    }
    match data[5] {
        1 => {}
        2 => {
            return Err(LoadError::Unsupported(
                "big-endian ELF; x86-64 programs are little-endian".into(),
            ))
        }
        d => return Err(invalid(format!("bad ELF data encoding {d}"))),
    }
    if data[6] != 1 {
        return Err(invalid(format!("bad ELF version {}", data[6])));
    }
    let e_type = u16_at(data, 16);
    let machine = u16_at(data, 18);
    if machine != EM_X86_64 {
        return Err(LoadError::Unsupported(format!(
            "ELF machine {machine} is not x86-64 ({EM_X86_64})"
        )));
    }
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Err(LoadError::Unsupported(format!(
            "ELF type {e_type} is not an executable (ET_EXEC or ET_DYN)"
        )));
    }
    let entry = u64_at(data, 24);
    let phoff = u64_at(data, 32);
    let phentsize = u16_at(data, 54);
    let phnum = u16_at(data, 56);
    if phentsize as u64 != PHDR_SIZE {
        return Err(invalid(format!(
            "program header size {phentsize}, expected {PHDR_SIZE}"
        )));
    }
    if phnum == 0xffff {
        return Err(LoadError::Unsupported(
            "extended program header count (PN_XNUM)".into(),
        ));
    }
    if phnum == 0 {
        return Err(invalid("no program headers"));
    }
    if (phnum as u64)
        .checked_mul(PHDR_SIZE)
        .and_then(|n| n.checked_add(phoff))
        .is_none_or(|e| e > data.len() as u64)
    {
        return Err(invalid("program headers extend beyond the end of the file"));
    }
    let mut segments = Vec::new();
    let mut gnu_stack_flags = None;
    let mut phdr_vaddr = None;
    for i in 0..phnum as usize {
        let o = phoff as usize + i * PHDR_SIZE as usize;
        let p_type = u32_at(data, o);
        let flags = u32_at(data, o + 4);
        let offset = u64_at(data, o + 8);
        let vaddr = u64_at(data, o + 16);
        let filesz = u64_at(data, o + 32);
        let memsz = u64_at(data, o + 40);
        match p_type {
            PT_INTERP => {
                let name = offset
                    .checked_add(filesz)
                    .filter(|e| *e <= data.len() as u64)
                    .map(|e| {
                        let b = &data[offset as usize..e as usize];
                        let b = b.split(|c| *c == 0).next().unwrap_or(b);
                        String::from_utf8_lossy(b).into_owned()
                    })
                    .unwrap_or_else(|| "?".into());
                return Err(LoadError::Unsupported(format!(
                    "dynamically linked programs are not supported yet (PT_INTERP {name})"
                )));
            }
            PT_GNU_STACK => gnu_stack_flags = Some(flags),
            PT_PHDR => phdr_vaddr = Some(vaddr),
            PT_LOAD => {
                if filesz > memsz {
                    return Err(invalid(format!(
                        "segment {i}: p_filesz {filesz:#x} > p_memsz {memsz:#x}"
                    )));
                }
                if offset.checked_add(filesz).is_none_or(|e| e > file_len) {
                    return Err(invalid(format!(
                        "segment {i}: file range {offset:#x}+{filesz:#x} beyond the end of the \
                         file ({file_len:#x} bytes)"
                    )));
                }
                if vaddr.checked_add(memsz).is_none() {
                    return Err(invalid(format!(
                        "segment {i}: address range {vaddr:#x}+{memsz:#x} overflows"
                    )));
                }
                if vaddr % 4096 != offset % 4096 {
                    return Err(invalid(format!(
                        "segment {i}: p_vaddr {vaddr:#x} and p_offset {offset:#x} differ \
                         modulo the page size"
                    )));
                }
                if memsz > 0 {
                    segments.push(Segment {
                        vaddr,
                        memsz,
                        offset,
                        filesz,
                        flags,
                    });
                }
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(invalid("no loadable (PT_LOAD) segment"));
    }
    segments.sort_by_key(|s| s.vaddr);
    for w in segments.windows(2) {
        if w[0].end() > w[1].vaddr {
            return Err(invalid(format!(
                "overlapping PT_LOAD segments at {:#x} and {:#x}",
                w[0].vaddr, w[1].vaddr
            )));
        }
    }
    if !segments.iter().any(|s| s.vaddr <= entry && entry < s.end()) {
        return Err(invalid(format!(
            "entry point {entry:#x} is outside every loadable segment"
        )));
    }
    Ok(ElfInfo {
        e_type,
        entry,
        phoff,
        phnum,
        segments,
        gnu_stack_flags,
        phdr_vaddr,
    })
}
