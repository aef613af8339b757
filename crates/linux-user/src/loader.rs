//! Loading a static x86-64 ELF program and building its initial stack.
//!
//! # Guest layout
//!
//! For a guest space of `size` bytes:
//! - `ET_EXEC` programs are loaded at their link addresses (typically 0x400000);
//! - static-pie (`ET_DYN` without `PT_INTERP`) programs are loaded at
//!   [`et_dyn_base`] = `size * 2/3` rounded down to a page, the same ratio as Linux's
//!   `ELF_ET_DYN_BASE` (0x555555554000 on a 47-bit address space);
//! - the heap (`brk`) starts at the first page after the highest segment;
//! - the main stack is an 8 MiB area ending at [`stack_top`] = `size - 1 GiB`
//!   (it does not grow); the gigabyte above it stays unmapped;
//! - `mmap` without `MAP_FIXED` allocates top-down below `size / 2` (see
//!   `GuestSpace::mmap_base`).

use crate::elf::{self, ElfInfo, LoadError, ET_DYN, PF_R, PF_W, PF_X, PHDR_SIZE};
use crate::host;
use guest_memory::{page_down, page_up, GuestSpace, Prot, VmaKind, GUEST_PAGE_SIZE};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

/// Size of the main thread's stack area.
pub const STACK_SIZE: u64 = 8 << 20;

/// Distance from the top of the guest space to the top of the main stack.
pub const STACK_TOP_GAP: u64 = 1 << 30;

/// Value of `AT_MINSIGSTKSZ`: the signal frame the (future) signal delivery code builds
/// for an SSE-only x86-64 CPU fits in it.
pub const MINSIGSTKSZ: u64 = 2048;

/// `auxv` entry types (x86-64 Linux).
pub mod auxv {
    /// End of the vector.
    pub const AT_NULL: u64 = 0;
    /// Address of the program headers.
    pub const AT_PHDR: u64 = 3;
    /// Size of one program header.
    pub const AT_PHENT: u64 = 4;
    /// Number of program headers.
    pub const AT_PHNUM: u64 = 5;
    /// Page size.
    pub const AT_PAGESZ: u64 = 6;
    /// Base address of the interpreter (0: none).
    pub const AT_BASE: u64 = 7;
    /// Flags (0).
    pub const AT_FLAGS: u64 = 8;
    /// Program entry point.
    pub const AT_ENTRY: u64 = 9;
    /// Real user id.
    pub const AT_UID: u64 = 11;
    /// Effective user id.
    pub const AT_EUID: u64 = 12;
    /// Real group id.
    pub const AT_GID: u64 = 13;
    /// Effective group id.
    pub const AT_EGID: u64 = 14;
    /// Address of the platform string.
    pub const AT_PLATFORM: u64 = 15;
    /// CPU feature bits (CPUID.1:EDX on x86).
    pub const AT_HWCAP: u64 = 16;
    /// Clock ticks per second.
    pub const AT_CLKTCK: u64 = 17;
    /// Secure mode (setuid) flag.
    pub const AT_SECURE: u64 = 23;
    /// Address of 16 random bytes.
    pub const AT_RANDOM: u64 = 25;
    /// More CPU feature bits.
    pub const AT_HWCAP2: u64 = 26;
    /// Address of the executed file name.
    pub const AT_EXECFN: u64 = 31;
    /// Minimal signal stack size.
    pub const AT_MINSIGSTKSZ: u64 = 51;
}

/// Top of the main stack for a guest space.
pub fn stack_top(space: &GuestSpace) -> u64 {
    space.size() - STACK_TOP_GAP
}

/// Load address of static-pie programs for a guest space.
pub fn et_dyn_base(space: &GuestSpace) -> u64 {
    page_down(space.size() / 3 * 2)
}

/// A program image mapped into guest memory (before its stack is built).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    /// Entry point (load bias applied).
    pub entry: u64,
    /// Amount added to every link-time address (0 for `ET_EXEC`).
    pub load_bias: u64,
    /// Guest address of the program headers (0 if they are not in a loaded segment).
    pub phdr: u64,
    /// Number of program headers.
    pub phnum: u64,
    /// Initial program break (page after the highest segment).
    pub brk_start: u64,
    /// Whether `PT_GNU_STACK` asks for an executable stack (or is missing).
    pub exec_stack: bool,
}

/// A loaded program ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedProgram {
    /// Entry point: the initial `rip`.
    pub entry: u64,
    /// Initial `rsp` (16-byte aligned, pointing at `argc`).
    pub stack_pointer: u64,
    /// Start of the heap.
    pub brk_start: u64,
    /// Guest address of the program headers (`AT_PHDR`).
    pub phdr: u64,
    /// Size of a program header (`AT_PHENT`).
    pub phent: u64,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u64,
    /// Load bias (0 for `ET_EXEC`).
    pub load_bias: u64,
    /// Top of the stack area.
    pub stack_top: u64,
    /// Lowest address of the stack area.
    pub stack_limit: u64,
    /// Whether the stack is executable.
    pub exec_stack: bool,
    /// Address of the 16 `AT_RANDOM` bytes.
    pub random_addr: u64,
    /// Address of the `AT_EXECFN` string.
    pub execfn_addr: u64,
}

fn prot_of(flags: u32) -> Prot {
    let mut p = Prot::NONE;
    if flags & PF_R != 0 {
        p = p | Prot::READ;
    }
    if flags & PF_W != 0 {
        p = p | Prot::WRITE;
    }
    if flags & PF_X != 0 {
        p = p | Prot::EXEC;
    }
    p
}

fn mem_err(what: &str, addr: u64, e: impl std::fmt::Display) -> LoadError {
    LoadError::Memory(format!("{what} at {addr:#x}: {e}"))
}

/// Loads the static x86-64 executable at `path` into `space`, builds its initial stack
/// with `argv`, `envp` and `execfn` (`AT_EXECFN`), and sets the heap start.
///
/// `hwcap` is the `AT_HWCAP` value (CPUID.1:EDX of the emulated CPU).
pub fn load_elf(
    space: &GuestSpace,
    path: &Path,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    hwcap: u64,
) -> Result<LoadedProgram, LoadError> {
    let io = |error| LoadError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let head = read_head(&file, meta.len()).map_err(io)?;
    let kind = VmaKind::File {
        path: std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .to_string_lossy()
            .into_owned(),
        offset: 0,
        dev: meta.dev(),
        inode: meta.ino(),
    };
    let info = elf::parse_head(&head, meta.len())?;
    let image = load_segments(space, &info, &Source::File(&file), &kind)?;
    build_stack(space, &image, argv, envp, execfn, hwcap)
}

/// Checks that `path` is an ELF program [`load_elf`] can load, reading only its headers:
/// `execve` fails with an errno while the old program can still get it.
pub fn check_program(path: &Path) -> Result<(), LoadError> {
    let io = |error| LoadError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let head = read_head(&file, len).map_err(io)?;
    elf::parse_head(&head, len).map(|_| ())
}

/// Reads the first bytes of an ELF file of `len` bytes: enough for [`elf::parse_head`] (the
/// whole file when its program headers lie beyond [`MAX_HEAD`]).
fn read_head(file: &std::fs::File, len: u64) -> std::io::Result<Vec<u8>> {
    /// More than any real program's headers; a crafted `e_phoff` cannot make us read more
    /// than this before the whole file.
    const MAX_HEAD: u64 = 1 << 20;
    let mut first = vec![0; len.min(4096) as usize];
    file.read_exact_at(&mut first, 0)?;
    let need = elf::head_len(&first).min(len);
    if need <= first.len() as u64 {
        return Ok(first);
    }
    let mut head = vec![0; if need <= MAX_HEAD { need } else { len } as usize];
    file.read_exact_at(&mut head, 0)?;
    Ok(head)
}

/// Where the bytes of the segments come from.
enum Source<'a> {
    /// The file itself: its pages are mapped copy-on-write, as Linux does, so that only the
    /// pages the guest touches are read (and none is copied).
    File(&'a std::fs::File),
    /// The whole file in memory: copied.
    Bytes(&'a [u8]),
}

impl Source<'_> {
    /// Writes the file bytes `[offset, offset + len)` at guest `addr`.
    fn copy(&self, space: &GuestSpace, addr: u64, offset: u64, len: u64) -> Result<(), LoadError> {
        let mut buf;
        let bytes = match self {
            Source::Bytes(data) => &data[offset as usize..(offset + len) as usize],
            Source::File(f) => {
                buf = vec![0; len as usize];
                f.read_exact_at(&mut buf, offset)
                    .map_err(|e| mem_err("reading segment", addr, e))?;
                &buf[..]
            }
        };
        space
            .write_ignoring_prot(addr, bytes)
            .map_err(|e| mem_err("writing segment", addr, e))
    }
}

/// Maps the segments of the ELF file `data` into `space` (labelled `kind`, a
/// `VmaKind::File` whose offset is adjusted per segment) and sets the heap start.
pub fn load_image(
    space: &GuestSpace,
    data: &[u8],
    kind: &VmaKind,
) -> Result<LoadedImage, LoadError> {
    let info: ElfInfo = elf::parse(data)?;
    load_segments(space, &info, &Source::Bytes(data), kind)
}

/// Maps the segments of the parsed ELF file `info` into `space` with their bytes from `src`
/// (labelled `kind`, a `VmaKind::File` whose offset is adjusted per segment) and sets the
/// heap start.
fn load_segments(
    space: &GuestSpace,
    info: &ElfInfo,
    src: &Source,
    kind: &VmaKind,
) -> Result<LoadedImage, LoadError> {
    let load_bias = if info.e_type == ET_DYN {
        et_dyn_base(space).wrapping_sub(page_down(info.segments[0].vaddr))
    } else {
        0
    };
    let stack_low = stack_top(space) - STACK_SIZE;
    let mut mapped_end = 0u64; // end of the pages mapped so far
    let mut brk_start = 0u64;
    for seg in &info.segments {
        let start = seg.vaddr.wrapping_add(load_bias);
        let end = start.checked_add(seg.memsz).filter(|e| *e <= stack_low);
        let Some(end) = end else {
            return Err(LoadError::Unsupported(format!(
                "segment at {:#x}+{:#x} does not fit below the stack at {stack_low:#x} in a \
                 {:#x}-byte guest address space",
                seg.vaddr,
                seg.memsz,
                space.size()
            )));
        };
        let prot = prot_of(seg.flags);
        let file_end = start + seg.filesz;
        // File offset of the page at guest address `a` of this segment (`p_vaddr` and
        // `p_offset` agree modulo the page size: `elf::parse` checks it).
        let offset_of = |a: u64| page_down(seg.offset) + (a - page_down(start));
        let mut map_start = page_down(start);
        let map_end = page_up(end).expect("below the stack");
        if map_start < mapped_end {
            // The first page is shared with the previous segment: keep its contents, give it
            // the union of both protections, and copy this segment's bytes into it.
            let shared_prot = space.prot_at(map_start).unwrap_or(Prot::NONE) | prot;
            space
                .mprotect(map_start, GUEST_PAGE_SIZE, shared_prot.bits())
                .map_err(|e| mem_err("mprotect", map_start, e))?;
            map_start += GUEST_PAGE_SIZE;
            let n = file_end.min(map_start) - start;
            src.copy(space, start, seg.offset, n)?;
        }
        let mut k = kind.clone();
        if let VmaKind::File { offset, .. } = &mut k {
            *offset = offset_of(map_start);
        }
        match src {
            Source::File(f) if map_start < file_end => {
                let file_map_end = page_up(file_end).expect("below the stack");
                space
                    .map_fixed_file(
                        map_start,
                        file_map_end - map_start,
                        prot,
                        f.as_raw_fd(),
                        offset_of(map_start),
                        k,
                    )
                    .map_err(|e| mem_err("mapping segment", map_start, e))?;
                if file_map_end < map_end {
                    // The bss beyond the file's pages: anonymous, as Linux shows it.
                    space
                        .map_fixed_anon(file_map_end, map_end - file_map_end, prot, VmaKind::Anon)
                        .map_err(|e| mem_err("mapping segment", file_map_end, e))?;
                }
            }
            _ if map_start < map_end => {
                space
                    .map_fixed_anon(map_start, map_end - map_start, prot, k)
                    .map_err(|e| mem_err("mapping segment", map_start, e))?;
                if map_start < file_end {
                    let from = start.max(map_start);
                    src.copy(space, from, seg.offset + (from - start), file_end - from)?;
                }
            }
            _ => {}
        }
        // Zero the bss part of the last file page: fresh anonymous pages are zero already,
        // but a mapped file page holds whatever the file has after the segment.
        let tail_end = page_up(file_end).expect("below the stack").min(end);
        if tail_end > file_end {
            space
                .write_ignoring_prot(file_end, &vec![0; (tail_end - file_end) as usize])
                .map_err(|e| mem_err("zeroing bss", file_end, e))?;
        }
        mapped_end = mapped_end.max(map_end);
        brk_start = brk_start.max(end);
    }
    let phdr = match info.phdr_vaddr {
        Some(v) => v.wrapping_add(load_bias),
        None => info
            .segments
            .iter()
            .find(|s| {
                s.offset <= info.phoff
                    && info.phoff + info.phnum as u64 * PHDR_SIZE <= s.offset + s.filesz
            })
            .map_or(0, |s| {
                (s.vaddr + (info.phoff - s.offset)).wrapping_add(load_bias)
            }),
    };
    let brk_start = page_up(brk_start).expect("below the stack");
    space.set_brk_start(brk_start);
    Ok(LoadedImage {
        entry: info.entry.wrapping_add(load_bias),
        load_bias,
        phdr,
        phnum: info.phnum as u64,
        brk_start,
        exec_stack: info.gnu_stack_flags.is_none_or(|f| f & PF_X != 0),
    })
}

/// Maps the main stack and lays out argc, argv, envp, auxv and the strings as Linux does
/// for x86-64, returning the finished program description.
pub fn build_stack(
    space: &GuestSpace,
    image: &LoadedImage,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    hwcap: u64,
) -> Result<LoadedProgram, LoadError> {
    for s in argv
        .iter()
        .chain(envp)
        .chain(std::iter::once(&execfn.to_vec()))
    {
        if s.contains(&0) {
            return Err(LoadError::BadArgument(format!(
                "{:?} contains a NUL byte",
                String::from_utf8_lossy(s)
            )));
        }
    }
    let strings: u64 = argv
        .iter()
        .chain(envp)
        .map(|s| s.len() as u64 + 1)
        .sum::<u64>()
        + execfn.len() as u64
        + 1;
    let vectors = (argv.len() + envp.len() + 3 + 2 * 20) as u64 * 8;
    // Linux allows a quarter of the stack limit for arguments and environment.
    if strings + vectors > STACK_SIZE / 4 {
        return Err(LoadError::ArgumentsTooLong);
    }
    let top = stack_top(space);
    let low = top - STACK_SIZE;
    let prot = if image.exec_stack {
        Prot::RWX
    } else {
        Prot::RW
    };
    space
        .map_fixed_anon(low, STACK_SIZE, prot, VmaKind::Stack)
        .map_err(|e| mem_err("mapping the stack", low, e))?;
    let w = |addr: u64, bytes: &[u8]| {
        space
            .write(addr, bytes)
            .map_err(|e| mem_err("writing the stack", addr, e))
    };
    // Strings, highest first: an 8-byte end marker, execfn, envp, argv (each list in
    // order, so the first string is lowest).
    let mut p = top - 8;
    w(p, &[0; 8])?;
    let push_str = |p: &mut u64, s: &[u8]| -> Result<u64, LoadError> {
        *p -= s.len() as u64 + 1;
        w(*p, s)?;
        w(*p + s.len() as u64, &[0])?;
        Ok(*p)
    };
    let execfn_addr = push_str(&mut p, execfn)?;
    let mut env_addrs = Vec::with_capacity(envp.len());
    for s in envp.iter().rev() {
        env_addrs.push(push_str(&mut p, s)?);
    }
    env_addrs.reverse();
    let mut arg_addrs = Vec::with_capacity(argv.len());
    for s in argv.iter().rev() {
        arg_addrs.push(push_str(&mut p, s)?);
    }
    arg_addrs.reverse();
    p &= !15;
    let platform_addr = push_str(&mut p, b"x86_64")?;
    let mut random = [0u8; 16];
    host::fill_random(&mut random);
    p -= 16;
    let random_addr = p;
    w(p, &random)?;

    use auxv::*;
    let auxv: [(u64, u64); 20] = [
        (AT_MINSIGSTKSZ, MINSIGSTKSZ),
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, GUEST_PAGE_SIZE),
        (AT_CLKTCK, 100),
        (AT_PHDR, image.phdr),
        (AT_PHENT, PHDR_SIZE),
        (AT_PHNUM, image.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, host::getuid() as u64),
        (AT_EUID, host::geteuid() as u64),
        (AT_GID, host::getgid() as u64),
        (AT_EGID, host::getegid() as u64),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, 0),
        (AT_EXECFN, execfn_addr),
        (AT_PLATFORM, platform_addr),
        (AT_NULL, 0),
    ];
    let mut words: Vec<u64> = Vec::with_capacity(3 + argv.len() + envp.len() + 40);
    words.push(argv.len() as u64);
    words.extend(&arg_addrs);
    words.push(0);
    words.extend(&env_addrs);
    words.push(0);
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    let sp = (p - words.len() as u64 * 8) & !15;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    w(sp, &bytes)?;
    Ok(LoadedProgram {
        entry: image.entry,
        stack_pointer: sp,
        brk_start: image.brk_start,
        phdr: image.phdr,
        phent: PHDR_SIZE,
        phnum: image.phnum,
        load_bias: image.load_bias,
        stack_top: top,
        stack_limit: low,
        exec_stack: image.exec_stack,
        random_addr,
        execfn_addr,
    })
}
