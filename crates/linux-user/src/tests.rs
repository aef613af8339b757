//! Unit tests: ELF parsing and loading, the initial stack, and syscalls that need no CPU.

use crate::loader::{self, auxv::*};
use crate::{elf, nr, LoadError, Process, ProcessConfig, SyscallOutcome, ThreadCtx};
use guest_memory::{Access, GuestSpace, Prot, VmaKind, MIN_SPACE_SIZE};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn space() -> Arc<GuestSpace> {
    Arc::new(GuestSpace::with_max_size(MIN_SPACE_SIZE).expect("reserve 4 GiB"))
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "linux-user-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ----- synthetic ELF files -----

/// (p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz)
type Ph = (u32, u32, u64, u64, u64, u64);

fn build_elf(e_type: u16, entry: u64, phdrs: &[Ph], len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len.max(64 + 56 * phdrs.len())];
    d[..4].copy_from_slice(b"\x7fELF");
    d[4] = 2;
    d[5] = 1;
    d[6] = 1;
    d[16..18].copy_from_slice(&e_type.to_le_bytes());
    d[18..20].copy_from_slice(&62u16.to_le_bytes());
    d[20..24].copy_from_slice(&1u32.to_le_bytes());
    d[24..32].copy_from_slice(&entry.to_le_bytes());
    d[32..40].copy_from_slice(&64u64.to_le_bytes());
    d[52..54].copy_from_slice(&64u16.to_le_bytes());
    d[54..56].copy_from_slice(&56u16.to_le_bytes());
    d[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for (i, &(ty, fl, off, va, fsz, msz)) in phdrs.iter().enumerate() {
        let o = 64 + 56 * i;
        d[o..o + 4].copy_from_slice(&ty.to_le_bytes());
        d[o + 4..o + 8].copy_from_slice(&fl.to_le_bytes());
        d[o + 8..o + 16].copy_from_slice(&off.to_le_bytes());
        d[o + 16..o + 24].copy_from_slice(&va.to_le_bytes());
        d[o + 24..o + 32].copy_from_slice(&va.to_le_bytes());
        d[o + 32..o + 40].copy_from_slice(&fsz.to_le_bytes());
        d[o + 40..o + 48].copy_from_slice(&msz.to_le_bytes());
        d[o + 48..o + 56].copy_from_slice(&0x1000u64.to_le_bytes());
    }
    d
}

/// `PT_NOTE`, ignored by the loader.
const PT_NOTE: u32 = 4;
const RX: u32 = elf::PF_R | elf::PF_X;
const RW: u32 = elf::PF_R | elf::PF_W;

/// A valid static executable: text at 0x400000 (file 0..0x200), data at 0x401200 (file
/// 0x200..0x210) with 0x3000 bytes of memory.
fn good_elf() -> Vec<u8> {
    let mut d = build_elf(
        elf::ET_EXEC,
        0x400100,
        &[
            (elf::PT_LOAD, RX, 0, 0x400000, 0x200, 0x200),
            (elf::PT_LOAD, RW, 0x200, 0x401200, 0x10, 0x3000),
            (elf::PT_GNU_STACK, RW, 0, 0, 0, 0),
        ],
        0x400,
    );
    d[0x100..0x104].copy_from_slice(&[0x0f, 0x05, 0xeb, 0xfe]);
    d[0x200..0x210].fill(0xaa);
    d[0x210..0x400].fill(0x55); // file bytes past p_filesz: must not be loaded
    d
}

fn parse_err(d: &[u8]) -> String {
    elf::parse(d).expect_err("should be refused").to_string()
}

#[test]
fn elf_parse_errors() {
    let good = good_elf();
    assert!(elf::parse(&good).is_ok());

    assert!(matches!(elf::parse(b"#!/bin/sh\n"), Err(LoadError::NotElf)));
    assert!(matches!(elf::parse(b""), Err(LoadError::NotElf)));
    assert!(parse_err(&good[..40]).contains("truncated"));

    let mut d = good.clone();
    d[4] = 1;
    assert!(parse_err(&d).contains("32-bit"));
    d = good.clone();
    d[5] = 2;
    assert!(parse_err(&d).contains("big-endian"));
    d = good.clone();
    d[18] = 183; // aarch64
    assert!(parse_err(&d).contains("not x86-64"));
    d = good.clone();
    d[16] = 1; // ET_REL
    assert!(parse_err(&d).contains("not an executable"));
    d = good.clone();
    d[54] = 32;
    assert!(parse_err(&d).contains("program header size"));
    d = good.clone();
    d[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(parse_err(&d).contains("beyond the end"));
    d = good.clone();
    d[56..58].copy_from_slice(&0u16.to_le_bytes());
    assert!(parse_err(&d).contains("no program headers"));

    let e = |phdrs: &[Ph]| parse_err(&build_elf(elf::ET_EXEC, 0x400000, phdrs, 0x1000));
    assert!(e(&[(elf::PT_LOAD, RX, 0, 0x400000, 0x300, 0x200)]).contains("p_filesz"));
    assert!(e(&[(elf::PT_LOAD, RX, 0, 0x400000, 0x2000, 0x2000)]).contains("beyond the end"));
    assert!(e(&[(elf::PT_LOAD, RX, u64::MAX, 0x400000, 2, 2)]).contains("beyond the end"));
    assert!(e(&[(elf::PT_LOAD, RX, 0, u64::MAX - 1, 0, 0x10)]).contains("overflows"));
    assert!(e(&[(elf::PT_LOAD, RX, 0x10, 0x400000, 0x10, 0x10)]).contains("modulo"));
    assert!(e(&[(PT_NOTE, 0, 0, 0, 0, 0)]).contains("no loadable"));
    assert!(e(&[
        (elf::PT_LOAD, RX, 0, 0x400000, 0x100, 0x2000),
        (elf::PT_LOAD, RW, 0x100, 0x401100, 0x10, 0x10),
    ])
    .contains("overlapping"));
    assert!(parse_err(&build_elf(
        elf::ET_EXEC,
        0x500000,
        &[(elf::PT_LOAD, RX, 0, 0x400000, 0x100, 0x100)],
        0x1000
    ))
    .contains("entry point"));

    // Dynamically linked programs are refused, naming the interpreter.
    let mut d = build_elf(
        elf::ET_DYN,
        0x1000,
        &[
            (elf::PT_INTERP, 0, 0x200, 0, 28, 28),
            (elf::PT_LOAD, RX, 0, 0, 0x300, 0x300),
        ],
        0x300,
    );
    d[0x200..0x21c].copy_from_slice(b"/lib64/ld-linux-x86-64.so.2\0");
    let msg = parse_err(&d);
    assert!(
        msg.contains(
            "dynamically linked programs are not supported yet (PT_INTERP \
             /lib64/ld-linux-x86-64.so.2)"
        ),
        "{msg}"
    );
}

fn file_kind() -> VmaKind {
    VmaKind::File {
        path: "/test/prog".into(),
        offset: 0,
        dev: 0,
        inode: 1,
    }
}

#[test]
fn load_synthetic_image() {
    let s = space();
    let img = loader::load_image(&s, &good_elf(), &file_kind()).unwrap();
    assert_eq!(img.entry, 0x400100);
    assert_eq!(img.load_bias, 0);
    assert_eq!(img.phdr, 0x400040);
    assert_eq!(img.phnum, 3);
    assert_eq!(img.brk_start, 0x405000);
    assert!(!img.exec_stack);
    assert_eq!(s.prot_at(0x400000), Some(Prot::RX));
    assert_eq!(s.prot_at(0x401000), Some(Prot::RW));
    assert_eq!(s.prot_at(0x404fff), Some(Prot::RW));
    assert_eq!(s.prot_at(0x405000), None);
    assert_eq!(s.read_u32(0x400100).unwrap(), 0xfeeb_050f);
    assert_eq!(s.read_u64(0x401208).unwrap(), 0xaaaa_aaaa_aaaa_aaaa);
    assert_eq!(
        s.read_u64(0x401210).unwrap(),
        0,
        "bss is zero, not file bytes"
    );
    assert_eq!(s.read_u64(0x404ff8).unwrap(), 0);
    assert_eq!(s.brk_start(), 0x405000);
    assert!(s.maps_text().contains("/test/prog"));
    // Text is read-only: the loader wrote it with write_ignoring_prot.
    assert!(!s.is_mapped(0x400100, 1, Access::Write));
}

#[test]
fn load_segments_sharing_a_page_and_static_pie() {
    let s = space();
    let mut d = build_elf(
        elf::ET_EXEC,
        0x400080,
        &[
            (elf::PT_LOAD, RX, 0, 0x400000, 0x100, 0x100),
            (elf::PT_LOAD, RW, 0x100, 0x400100, 0x20, 0x40),
        ],
        0x200,
    );
    d[0x100..0x120].fill(0x11);
    d[0x120..0x140].fill(0x22);
    let img = loader::load_image(&s, &d, &file_kind()).unwrap();
    assert_eq!(
        s.prot_at(0x400000),
        Some(Prot::RWX),
        "union of both segments"
    );
    assert_eq!(s.read_u8(0x400000).unwrap(), 0x7f, "first segment kept");
    assert_eq!(s.read_u8(0x40011f).unwrap(), 0x11);
    assert_eq!(s.read_u8(0x400120).unwrap(), 0, "bss of the second segment");
    assert_eq!(img.brk_start, 0x401000);
    // No PT_GNU_STACK: executable stack, as Linux/x86-64 does.
    assert!(img.exec_stack);

    // Static-pie: loaded at the scaled ET_DYN base.
    let s2 = space();
    let d = build_elf(
        elf::ET_DYN,
        0x80,
        &[(elf::PT_LOAD, RX, 0, 0, 0x100, 0x100)],
        0x100,
    );
    let img = loader::load_image(&s2, &d, &file_kind()).unwrap();
    let base = loader::et_dyn_base(&s2);
    assert_eq!(base % 4096, 0);
    assert_eq!(img.load_bias, base);
    assert_eq!(img.entry, base + 0x80);
    assert_eq!(img.phdr, base + 64);
    assert!(s2.is_mapped(base, 0x100, Access::Exec));

    // A segment that does not fit below the stack is refused.
    let s3 = space();
    let d = build_elf(
        elf::ET_EXEC,
        0xf000_0000,
        &[(elf::PT_LOAD, RX, 0, 0xf000_0000, 0x100, 0x100)],
        0x100,
    );
    let e = loader::load_image(&s3, &d, &file_kind()).unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
}

/// The loader maps a program's file pages rather than copying them: the guest must see the
/// same bytes as the copying loader, with the bss zero although the file has bytes after the
/// segment in the same page, and segments sharing a page both present.
#[test]
fn load_elf_maps_file_pages_like_the_copying_loader() {
    let mut d = build_elf(
        elf::ET_EXEC,
        0x400100,
        &[
            (elf::PT_LOAD, RX, 0, 0x400000, 0x2100, 0x2100),
            // Shares its first page with the text; its bss ends two pages on.
            (elf::PT_LOAD, RW, 0x2100, 0x402100, 0x1f00, 0x4000),
            // Page-aligned, with file bytes past its end in the same page.
            (elf::PT_LOAD, RW, 0x5000, 0x409000, 0x800, 0x1800),
        ],
        0x6000,
    );
    for (i, b) in d.iter_mut().enumerate().skip(0x100) {
        *b = (i * 7 % 251) as u8 | 1;
    }
    let dir = temp_dir("map");
    let path = dir.join("prog");
    std::fs::write(&path, &d).unwrap();
    let mapped = space();
    let img = crate::load_elf(&mapped, &path, &[b"prog".to_vec()], &[], b"prog", 0).unwrap();
    let copied = space();
    let img2 = loader::load_image(&copied, &d, &file_kind()).unwrap();
    assert_eq!((img.entry, img.brk_start), (img2.entry, img2.brk_start));
    for (start, end) in [(0x400000u64, 0x407000u64), (0x409000, 0x40b000)] {
        let mut a = vec![0; (end - start) as usize];
        let mut b = a.clone();
        mapped.read(start, &mut a).unwrap();
        copied.read(start, &mut b).unwrap();
        assert!(
            a == b,
            "guest bytes at {start:#x} differ between the loaders"
        );
    }
    assert_eq!(mapped.read_u8(0x402100).unwrap(), d[0x2100], "shared page");
    assert_eq!(mapped.read_u8(0x403fff).unwrap(), d[0x3fff]);
    assert_eq!(
        mapped.read_u8(0x404000).unwrap(),
        0,
        "bss after the file bytes"
    );
    assert_eq!(
        mapped.read_u8(0x409800).unwrap(),
        0,
        "bss in the last file page"
    );
    assert_eq!(mapped.prot_at(0x409000), Some(Prot::RW));
    assert!(
        !mapped.is_mapped(0x401000, 1, Access::Write),
        "text stays read-only"
    );
    // The guest writes its private copy, never the file.
    mapped.write_u64(0x409000, 0).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), d);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Reads the auxv of a freshly built stack into (type, value) pairs, plus argv/envp.
/// argv, envp and auxv read back from an initial stack.
type StackContents = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<(u64, u64)>);

fn read_stack(s: &GuestSpace, sp: u64) -> StackContents {
    let argc = s.read_u64(sp).unwrap();
    let mut p = sp + 8;
    let mut argv = Vec::new();
    for _ in 0..argc {
        argv.push(s.read_cstr(s.read_u64(p).unwrap(), 4096).unwrap());
        p += 8;
    }
    assert_eq!(s.read_u64(p).unwrap(), 0, "argv NULL");
    p += 8;
    let mut envp = Vec::new();
    loop {
        let q = s.read_u64(p).unwrap();
        p += 8;
        if q == 0 {
            break;
        }
        envp.push(s.read_cstr(q, 4096).unwrap());
    }
    let mut aux = Vec::new();
    loop {
        let (k, v) = (s.read_u64(p).unwrap(), s.read_u64(p + 8).unwrap());
        p += 16;
        aux.push((k, v));
        if k == AT_NULL {
            break;
        }
    }
    (argv, envp, aux)
}

#[test]
fn initial_stack_layout() {
    let s = space();
    let img = loader::load_image(&s, &good_elf(), &file_kind()).unwrap();
    let argv = vec![b"prog".to_vec(), b"arg one".to_vec(), Vec::new()];
    let envp = vec![b"A=1".to_vec(), b"PATH=/bin".to_vec()];
    let p = loader::build_stack(&s, &img, &argv, &envp, b"/test/prog", 0x1234).unwrap();
    assert_eq!(p.stack_pointer % 16, 0, "ABI: rsp 16-byte aligned at entry");
    assert_eq!(p.stack_top, s.size() - loader::STACK_TOP_GAP);
    assert_eq!(p.stack_limit, p.stack_top - loader::STACK_SIZE);
    assert!(p.stack_pointer > p.stack_limit && p.stack_pointer < p.stack_top);
    assert_eq!(
        s.prot_at(p.stack_limit),
        Some(Prot::RW),
        "PT_GNU_STACK without X"
    );
    assert!(s.maps_text().contains("[stack]"));
    let (a, e, aux) = read_stack(&s, p.stack_pointer);
    assert_eq!(a, argv);
    assert_eq!(e, envp);
    let get = |k: u64| aux.iter().find(|(t, _)| *t == k).map(|(_, v)| *v);
    assert_eq!(get(AT_PAGESZ), Some(4096));
    assert_eq!(get(AT_PHDR), Some(0x400040));
    assert_eq!(get(AT_PHENT), Some(56));
    assert_eq!(get(AT_PHNUM), Some(3));
    assert_eq!(get(AT_BASE), Some(0));
    assert_eq!(get(AT_FLAGS), Some(0));
    assert_eq!(get(AT_ENTRY), Some(0x400100));
    assert_eq!(get(AT_HWCAP), Some(0x1234));
    assert_eq!(get(AT_HWCAP2), Some(0));
    assert_eq!(get(AT_CLKTCK), Some(100));
    assert_eq!(get(AT_SECURE), Some(0));
    assert_eq!(get(AT_MINSIGSTKSZ), Some(loader::MINSIGSTKSZ));
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(get(AT_UID), Some(uid as u64));
    assert_eq!(get(AT_GID), Some(gid as u64));
    assert!(get(AT_EUID).is_some() && get(AT_EGID).is_some());
    let execfn = get(AT_EXECFN).unwrap();
    assert_eq!(execfn, p.execfn_addr);
    assert_eq!(s.read_cstr(execfn, 100).unwrap(), b"/test/prog");
    assert_eq!(
        s.read_cstr(get(AT_PLATFORM).unwrap(), 100).unwrap(),
        b"x86_64"
    );
    let rnd = get(AT_RANDOM).unwrap();
    assert_eq!(rnd, p.random_addr);
    let mut r = [0u8; 16];
    s.read(rnd, &mut r).unwrap();
    assert_ne!(r, [0; 16]);
    // Strings sit above the vectors; the 8 bytes at the very top are zero.
    assert!(rnd > p.stack_pointer + 8 * (aux.len() as u64 * 2 + 7));
    assert_eq!(s.read_u64(p.stack_top - 8).unwrap(), 0);
    assert_eq!(aux.len(), 20);

    // Arguments with NUL bytes and oversized environments are refused.
    let s2 = space();
    let bad = loader::build_stack(&s2, &img, &[b"a\0b".to_vec()], &[], b"x", 0);
    assert!(matches!(bad, Err(LoadError::BadArgument(_))));
    let huge = vec![vec![b'x'; 1 << 20]; 3];
    assert!(matches!(
        loader::build_stack(&s2, &img, &huge, &[], b"x", 0),
        Err(LoadError::ArgumentsTooLong)
    ));
}

/// Compiles a tiny static x86-64 program with the host `cc`, if there is one that
/// targets x86-64.
fn compile_static(dir: &Path, extra: &[&str]) -> Option<PathBuf> {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipping: the host compiler does not target x86-64");
        return None;
    }
    let src = dir.join("prog.S");
    std::fs::write(
        &src,
        ".globl _start\n.text\n_start:\n  mov $60, %eax\n  xor %edi, %edi\n  syscall\n\
         .data\nmsg: .ascii \"hello\"\n.bss\nbuf: .zero 8192\n",
    )
    .unwrap();
    let out = dir.join("prog");
    let status = std::process::Command::new("cc")
        .args(["-static", "-nostdlib"])
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        Ok(s) => {
            eprintln!("skipping: cc {extra:?} failed ({s})");
            None
        }
        Err(e) => {
            eprintln!("skipping: no cc ({e})");
            None
        }
    }
}

#[test]
fn load_real_static_binary() {
    let dir = temp_dir("cc");
    let Some(prog) = compile_static(&dir, &[]) else {
        return;
    };
    let data = std::fs::read(&prog).unwrap();
    let info = elf::parse(&data).unwrap();
    let s = space();
    let p = crate::load_elf(&s, &prog, &[b"prog".to_vec()], &[], b"prog", 0).unwrap();
    assert_eq!(p.entry, info.entry);
    assert_eq!(p.load_bias, 0);
    let mut code = [0u8; 9];
    s.read(p.entry, &mut code).unwrap();
    assert_eq!(code, [0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    assert!(s.is_mapped(p.entry, 9, Access::Exec));
    assert!(!s.is_mapped(p.entry, 1, Access::Write));
    assert!(p.brk_start > p.entry && p.brk_start % 4096 == 0);
    let maps = s.maps_text();
    assert!(maps.contains(&*std::fs::canonicalize(&prog).unwrap().to_string_lossy()));
    // The 8 KiB bss is mapped, writable and zero.
    let data_seg = info
        .segments
        .iter()
        .find(|g| g.flags & elf::PF_W != 0)
        .unwrap();
    assert!(s.is_mapped(data_seg.vaddr, data_seg.memsz, Access::Write));
    assert_eq!(s.read_u64(data_seg.vaddr + data_seg.memsz - 8).unwrap(), 0);

    if let Some(pie) = compile_static(&dir, &["-static-pie", "-fPIE"]) {
        let s = space();
        let p = crate::load_elf(&s, &pie, &[b"pie".to_vec()], &[], b"pie", 0).unwrap();
        assert_eq!(p.load_bias, loader::et_dyn_base(&s));
        let mut code = [0u8; 5];
        s.read(p.entry, &mut code).unwrap();
        assert_eq!(code, [0xb8, 0x3c, 0, 0, 0]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn load_elf_refuses_missing_and_dynamic_programs() {
    let s = space();
    let e = crate::load_elf(&s, Path::new("/nonexistent/prog"), &[], &[], b"", 0).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }), "{e}");
    if cfg!(target_arch = "x86_64") && Path::new("/bin/sh").exists() {
        // The host's /bin/sh is dynamically linked on Debian.
        if let Err(e) = crate::load_elf(&s, Path::new("/bin/sh"), &[], &[], b"", 0) {
            assert!(e.to_string().contains("PT_INTERP"), "{e}");
        }
    }
}

// ----- syscalls -----

struct Env {
    p: Process,
    t: ThreadCtx,
    /// 64 KiB of scratch guest memory.
    buf: u64,
}

const NEG_ENOENT: i64 = -2;
const NEG_EBADF: i64 = -9;
const NEG_EFAULT: i64 = -14;
const NEG_EINVAL: i64 = -22;
const NEG_ENOSYS: i64 = -38;

impl Env {
    fn new() -> Env {
        Env::with_config(ProcessConfig::new("/guest/prog"))
    }

    fn with_config(cfg: ProcessConfig) -> Env {
        let p = Process::new(space(), cfg);
        let mut t = ThreadCtx::current();
        let buf = match p.syscall(&mut t, nr::MMAP, [0, 0x10000, 3, 0x22, u64::MAX, 0]) {
            SyscallOutcome::Return(v) => v,
            o => panic!("{o:?}"),
        };
        Env { p, t, buf }
    }

    fn sys(&mut self, n: u64, args: &[u64]) -> i64 {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        match self.p.syscall(&mut self.t, n, a).finish_vfork() {
            SyscallOutcome::Return(v) => v as i64,
            o => panic!("syscall {n}: {o:?}"),
        }
    }

    fn mem(&self) -> &GuestSpace {
        self.p.space()
    }

    /// Writes a NUL-terminated string at `buf + off` and returns its address.
    fn cstr(&self, off: u64, s: &str) -> u64 {
        let a = self.buf + off;
        self.mem().write(a, s.as_bytes()).unwrap();
        self.mem().write(a + s.len() as u64, &[0]).unwrap();
        a
    }
}

#[test]
fn write_to_a_pipe_and_read_back() {
    let mut e = Env::new();
    let fds = e.buf;
    assert_eq!(e.sys(nr::PIPE2, &[fds, 0o2000000]), 0);
    let (r, w) = (
        e.mem().read_u32(fds).unwrap() as u64,
        e.mem().read_u32(fds + 4).unwrap() as u64,
    );
    let msg = e.cstr(0x100, "hello, pipe");
    assert_eq!(e.sys(nr::WRITE, &[w, msg, 11]), 11);
    // fcntl sees O_CLOEXEC on the fd.
    assert_eq!(e.sys(nr::FCNTL, &[r, 1]), 1);
    let out = e.buf + 0x200;
    assert_eq!(e.sys(nr::READ, &[r, out, 100]), 11);
    let mut b = [0u8; 11];
    e.mem().read(out, &mut b).unwrap();
    assert_eq!(&b, b"hello, pipe");
    // writev with two iovecs, readv into one.
    let iov = e.buf + 0x300;
    e.mem().write_u64(iov, msg).unwrap();
    e.mem().write_u64(iov + 8, 5).unwrap();
    e.mem().write_u64(iov + 16, msg + 7).unwrap();
    e.mem().write_u64(iov + 24, 4).unwrap();
    assert_eq!(e.sys(nr::WRITEV, &[w, iov, 2]), 9);
    e.mem().write_u64(iov, out).unwrap();
    e.mem().write_u64(iov + 8, 64).unwrap();
    // poll reports the pipe readable.
    let pfd = e.buf + 0x400;
    e.mem().write_u32(pfd, r as u32).unwrap();
    e.mem().write_u32(pfd + 4, 1).unwrap(); // events = POLLIN
    assert_eq!(e.sys(nr::POLL, &[pfd, 1, 0]), 1);
    assert_eq!(e.mem().read_u16(pfd + 6).unwrap() & 1, 1);
    assert_eq!(e.sys(nr::READV, &[r, iov, 1]), 9);
    let mut b = [0u8; 9];
    e.mem().read(out, &mut b).unwrap();
    assert_eq!(&b, b"hellopipe");
    // A bad iovec fails the whole call.
    e.mem().write_u64(iov, 0x10).unwrap();
    assert_eq!(e.sys(nr::WRITEV, &[w, iov, 1]), NEG_EFAULT);
    assert_eq!(e.sys(nr::WRITEV, &[w, iov, 5000]), NEG_EINVAL);
    assert_eq!(e.sys(nr::CLOSE, &[r]), 0);
    assert_eq!(e.sys(nr::CLOSE, &[w]), 0);
    assert_eq!(e.sys(nr::CLOSE, &[w]), NEG_EBADF);
}

#[test]
fn openat_read_fstat_and_guest_stat_layout() {
    let mut e = Env::new();
    let dir = temp_dir("stat");
    let file = dir.join("data.txt");
    std::fs::write(&file, vec![b'z'; 12345]).unwrap();
    let path = e.cstr(0, file.to_str().unwrap());
    let fd = e.sys(nr::OPENAT, &[(-100i64) as u64, path, 0, 0]);
    assert!(fd >= 0, "{fd}");
    let fd = fd as u64;
    let out = e.buf + 0x1000;
    assert_eq!(e.sys(nr::READ, &[fd, out, 10]), 10);
    assert_eq!(e.mem().read_u8(out + 9).unwrap(), b'z');
    assert_eq!(e.sys(nr::LSEEK, &[fd, 0, 2]), 12345);
    assert_eq!(e.sys(nr::PREAD64, &[fd, out, 4, 12343]), 2);
    let st = e.buf + 0x2000;
    assert_eq!(e.sys(nr::FSTAT, &[fd, st]), 0);
    assert_eq!(e.mem().read_u64(st + 48).unwrap(), 12345, "st_size at 48");
    assert_eq!(
        e.mem().read_u32(st + 24).unwrap() & 0o170000,
        0o100000,
        "st_mode at 24 is a regular file"
    );
    let meta = std::fs::metadata(&file).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(e.mem().read_u64(st + 8).unwrap(), meta.ino(), "st_ino at 8");
    assert_eq!(
        e.mem().read_u32(st + 28).unwrap(),
        meta.uid(),
        "st_uid at 28"
    );
    assert_eq!(
        e.mem().read_u64(st + 88).unwrap() as i64,
        meta.mtime(),
        "st_mtime at 88"
    );
    // stat / lstat / newfstatat agree.
    let st2 = e.buf + 0x3000;
    assert_eq!(e.sys(nr::STAT, &[path, st2]), 0);
    assert_eq!(e.mem().read_u64(st2 + 48).unwrap(), 12345);
    assert_eq!(e.sys(nr::NEWFSTATAT, &[(-100i64) as u64, path, st2, 0]), 0);
    assert_eq!(e.mem().read_u64(st2 + 8).unwrap(), meta.ino());
    // statx: stx_size at 40, stx_mode at 28.
    let sx = e.buf + 0x4000;
    assert_eq!(e.sys(nr::STATX, &[(-100i64) as u64, path, 0, 0xfff, sx]), 0);
    assert_eq!(e.mem().read_u64(sx + 40).unwrap(), 12345);
    assert_eq!(
        e.mem().read_u16(sx + 28).unwrap() as u32 & 0o170000,
        0o100000
    );
    // Errors.
    let missing = e.cstr(0x500, "/nonexistent/file");
    assert_eq!(e.sys(nr::OPEN, &[missing, 0, 0]), NEG_ENOENT);
    assert_eq!(e.sys(nr::STAT, &[missing, st2]), NEG_ENOENT);
    assert_eq!(e.sys(nr::FSTAT, &[fd, 0x10]), NEG_EFAULT);
    assert_eq!(e.sys(nr::CLOSE, &[fd]), 0);
    // statfs fills the guest layout (f_bsize at 8 is non-zero).
    let sf = e.buf + 0x5000;
    assert_eq!(e.sys(nr::STATFS, &[path, sf]), 0);
    assert!(e.mem().read_u64(sf + 8).unwrap() > 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn getdents64_lists_a_directory() {
    let mut e = Env::new();
    let dir = temp_dir("dents");
    for n in ["alpha", "beta", "gamma"] {
        std::fs::write(dir.join(n), b"x").unwrap();
    }
    let path = e.cstr(0, dir.to_str().unwrap());
    let fd = e.sys(nr::OPEN, &[path, 0o200000, 0]);
    assert!(fd >= 0);
    let out = e.buf + 0x1000;
    let n = e.sys(nr::GETDENTS64, &[fd as u64, out, 0x4000]);
    assert!(n > 0);
    let mut raw = vec![0u8; n as usize];
    e.mem().read(out, &mut raw).unwrap();
    let mut names = Vec::new();
    let mut off = 0;
    while off < raw.len() {
        let reclen = u16::from_le_bytes([raw[off + 16], raw[off + 17]]) as usize;
        let name = &raw[off + 19..off + reclen];
        let name = &name[..name.iter().position(|b| *b == 0).unwrap()];
        names.push(String::from_utf8(name.to_vec()).unwrap());
        off += reclen;
    }
    names.sort();
    assert_eq!(names, [".", "..", "alpha", "beta", "gamma"]);
    assert_eq!(e.sys(nr::GETDENTS64, &[fd as u64, out, 0x4000]), 0);
    assert_eq!(
        e.sys(nr::GETDENTS64, &[fd as u64, 0x10, 0x4000]),
        NEG_EFAULT
    );
    e.sys(nr::CLOSE, &[fd as u64]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn memory_syscalls() {
    let mut e = Env::new();
    e.mem().set_brk_start(0x60_0000);
    assert_eq!(e.sys(nr::BRK, &[0]), 0x60_0000);
    assert_eq!(e.sys(nr::BRK, &[0x60_2010]), 0x60_2010);
    assert!(e.mem().is_mapped(0x60_0000, 0x3000, Access::Write));
    assert_eq!(
        e.sys(nr::BRK, &[0x10]),
        0x60_2010,
        "failure returns the old break"
    );
    let a = e.sys(nr::MMAP, &[0, 0x3000, 3, 0x22, u64::MAX, 0]);
    assert!(a > 0 && a % 4096 == 0);
    let a = a as u64;
    assert!(e.mem().is_mapped(a, 0x3000, Access::Write));
    assert_eq!(e.sys(nr::MPROTECT, &[a, 0x1000, 1]), 0);
    assert!(!e.mem().is_mapped(a, 1, Access::Write));
    assert_eq!(e.sys(nr::MUNMAP, &[a, 0x3000]), 0);
    assert!(!e.mem().is_mapped(a, 1, Access::Read));
    assert_eq!(e.sys(nr::MMAP, &[0, 0, 3, 0x22, u64::MAX, 0]), NEG_EINVAL);
    assert_eq!(e.sys(nr::MMAP, &[0, 0x1000, 3, 0x02, 12345, 0]), NEG_EBADF);
    let f = e.sys(nr::MMAP, &[0x7000_0000, 0x1000, 3, 0x32, u64::MAX, 0]);
    assert_eq!(f, 0x7000_0000);
    let m = e.sys(nr::MREMAP, &[0x7000_0000, 0x1000, 0x2000, 1, 0]);
    assert_eq!(m, 0x7000_0000);
    e.mem().write_u64(0x7000_1000, 5).unwrap();
    assert_eq!(e.sys(nr::MADVISE, &[0x7000_0000, 0x2000, 4]), 0);
    assert_eq!(e.mem().read_u64(0x7000_1000).unwrap(), 0);
    assert_eq!(
        e.sys(nr::MINCORE, &[0x7000_0000, 0x1000, e.buf]),
        NEG_ENOSYS
    );
}

#[test]
fn identity_uname_time_and_arch_prctl() {
    let mut e = Env::new();
    let u = e.buf;
    assert_eq!(e.sys(nr::UNAME, &[u]), 0);
    assert_eq!(e.mem().read_cstr(u + 4 * 65, 65).unwrap(), b"x86_64");
    assert_eq!(e.mem().read_cstr(u, 65).unwrap(), b"Linux");
    assert_eq!(e.sys(nr::GETPID, &[]), std::process::id() as i64);
    assert_eq!(e.sys(nr::GETTID, &[]), e.t.tid as i64);
    // arch_prctl: FS/GS base live in the thread context.
    assert_eq!(e.sys(nr::ARCH_PRCTL, &[0x1002, 0xdead_b000]), 0);
    assert_eq!(e.t.fs_base, 0xdead_b000);
    assert_eq!(e.sys(nr::ARCH_PRCTL, &[0x1003, e.buf]), 0);
    assert_eq!(e.mem().read_u64(e.buf).unwrap(), 0xdead_b000);
    assert_eq!(e.sys(nr::ARCH_PRCTL, &[0x1001, 0x1234]), 0);
    assert_eq!(e.t.gs_base, 0x1234);
    assert_eq!(e.sys(nr::ARCH_PRCTL, &[0x1003, 0x10]), NEG_EFAULT);
    assert_eq!(e.sys(nr::ARCH_PRCTL, &[0x9999, 0]), NEG_EINVAL);
    // set_tid_address records and returns the tid.
    assert_eq!(e.sys(nr::SET_TID_ADDRESS, &[e.buf + 8]), e.t.tid as i64);
    assert_eq!(e.t.clear_child_tid, e.buf + 8);
    // Time.
    let ts = e.buf + 0x100;
    assert_eq!(e.sys(nr::CLOCK_GETTIME, &[0, ts]), 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(e.mem().read_u64(ts).unwrap().abs_diff(now) < 5);
    assert!(e.mem().read_u64(ts + 8).unwrap() < 1_000_000_000);
    assert_eq!(e.sys(nr::CLOCK_GETTIME, &[0, 0x10]), NEG_EFAULT);
    assert!((e.sys(nr::TIME, &[0]) as u64).abs_diff(now) < 5);
    assert_eq!(e.sys(nr::NANOSLEEP, &[ts + 16, 0]), 0, "zero-length sleep");
    // getrandom and sched_getaffinity.
    assert_eq!(e.sys(nr::GETRANDOM, &[e.buf + 0x200, 32, 0]), 32);
    let mut cfg = ProcessConfig::new("/x");
    cfg.cpu_count = 3;
    let mut e2 = Env::with_config(cfg);
    assert_eq!(e2.sys(nr::SCHED_GETAFFINITY, &[0, 128, e2.buf]), 8);
    assert_eq!(e2.mem().read_u64(e2.buf).unwrap(), 0b111);
    assert_eq!(e2.sys(nr::SCHED_GETAFFINITY, &[0, 4, e2.buf]), NEG_EINVAL);
    // prlimit64 round trip.
    assert_eq!(e.sys(nr::PRLIMIT64, &[0, 7, 0, e.buf + 0x300]), 0);
    assert!(e.mem().read_u64(e.buf + 0x300).unwrap() > 0);
    // prctl names.
    let name = e.cstr(0x400, "a-very-long-thread-name");
    assert_eq!(e.sys(nr::PRCTL, &[15, name]), 0);
    assert_eq!(e.sys(nr::PRCTL, &[16, e.buf + 0x500]), 0);
    assert_eq!(
        e.mem().read_cstr(e.buf + 0x500, 16).unwrap(),
        b"a-very-long-thr"
    );
    assert_eq!(e.sys(nr::PRCTL, &[38, 1]), NEG_EINVAL);
}

#[test]
fn unknown_and_unsupported_syscalls() {
    let mut e = Env::new();
    assert_eq!(e.sys(9999, &[]), NEG_ENOSYS);
    assert_eq!(e.sys(nr::RSEQ, &[0, 32, 0, 0]), NEG_ENOSYS);
    assert_eq!(e.sys(nr::SOCKET, &[2, 1, 0]), NEG_ENOSYS);
    // clone3 is implemented; an argument block smaller than its first version is invalid.
    assert_eq!(e.sys(nr::CLONE3, &[e.buf, 8]), NEG_EINVAL);
    assert_eq!(e.sys(nr::GETXATTR, &[0, 0, 0, 0]), -95);
    assert!(!crate::strace::is_known(9999));
    assert!(crate::strace::is_known(nr::OPENAT));
}

#[test]
fn efault_on_unmapped_buffers() {
    let mut e = Env::new();
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a live local array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (r, w) = (fds[0] as u64, fds[1] as u64);
    assert_eq!(e.sys(nr::WRITE, &[w, 0x1000, 4]), NEG_EFAULT);
    assert_eq!(
        e.sys(nr::WRITE, &[w, e.buf + 0xfffe, 4]),
        NEG_EFAULT,
        "runs off the end"
    );
    assert_eq!(
        e.sys(nr::WRITE, &[w, 1 << 40, 4]),
        NEG_EFAULT,
        "beyond the space"
    );
    assert_eq!(e.sys(nr::WRITE, &[w, e.buf, 4]), 4);
    assert_eq!(e.sys(nr::READ, &[r, 0x1000, 4]), NEG_EFAULT);
    // Read-only memory cannot receive data.
    assert_eq!(e.sys(nr::MPROTECT, &[e.buf, 0x1000, 1]), 0);
    assert_eq!(e.sys(nr::READ, &[r, e.buf, 4]), NEG_EFAULT);
    assert_eq!(e.sys(nr::READ, &[r, e.buf + 0x1000, 4]), 4);
    assert_eq!(e.sys(nr::OPEN, &[0x1000, 0, 0]), NEG_EFAULT);
    assert_eq!(e.sys(nr::UNAME, &[0x1000]), NEG_EFAULT);
    assert_eq!(e.sys(nr::PIPE, &[0x1000]), NEG_EFAULT);
    e.sys(nr::CLOSE, &[r]);
    e.sys(nr::CLOSE, &[w]);
}

#[test]
fn readlink_proc_self_exe_and_fake_maps() {
    let mut cfg = ProcessConfig::new("/opt/guest/bin/prog");
    cfg.cpu_count = 1;
    let mut e = Env::with_config(cfg);
    let p = e.cstr(0, "/proc/self/exe");
    let out = e.buf + 0x100;
    assert_eq!(e.sys(nr::READLINK, &[p, out, 100]), 19);
    let mut b = [0u8; 19];
    e.mem().read(out, &mut b).unwrap();
    assert_eq!(&b, b"/opt/guest/bin/prog");
    assert_eq!(e.sys(nr::READLINKAT, &[(-100i64) as u64, p, out, 4]), 4);
    assert_eq!(e.sys(nr::READLINK, &[p, out, 0]), NEG_EINVAL);
    let pid_exe = e.cstr(0x200, &format!("/proc/{}/exe", std::process::id()));
    assert_eq!(e.sys(nr::READLINK, &[pid_exe, out, 100]), 19);
    // Other links are the host's.
    let dir = temp_dir("link");
    let link = dir.join("l");
    std::os::unix::fs::symlink("target-of-link", &link).unwrap();
    let lp = e.cstr(0x300, link.to_str().unwrap());
    assert_eq!(e.sys(nr::READLINK, &[lp, out, 100]), 14);
    // symlink / unlink / mkdir / rmdir / rename / access round trip.
    let l2 = e.cstr(0x400, dir.join("l2").to_str().unwrap());
    let tgt = e.cstr(0x500, "somewhere");
    assert_eq!(e.sys(nr::SYMLINK, &[tgt, l2]), 0);
    assert_eq!(
        std::fs::read_link(dir.join("l2")).unwrap(),
        Path::new("somewhere")
    );
    assert_eq!(e.sys(nr::UNLINK, &[l2]), 0);
    let sub = e.cstr(0x600, dir.join("sub").to_str().unwrap());
    assert_eq!(e.sys(nr::MKDIR, &[sub, 0o755]), 0);
    assert_eq!(e.sys(nr::ACCESS, &[sub, 0]), 0);
    let sub2 = e.cstr(0x700, dir.join("sub2").to_str().unwrap());
    assert_eq!(e.sys(nr::RENAME, &[sub, sub2]), 0);
    assert_eq!(e.sys(nr::RMDIR, &[sub2]), 0);
    assert_eq!(e.sys(nr::ACCESS, &[sub2, 0]), NEG_ENOENT);
    std::fs::remove_dir_all(dir).unwrap();
    // /proc/self/maps is the guest's.
    let maps = e.cstr(0x800, "/proc/self/maps");
    let fd = e.sys(nr::OPEN, &[maps, 0, 0]);
    assert!(fd >= 0);
    let n = e.sys(nr::READ, &[fd as u64, e.buf + 0x1000, 0x8000]);
    let mut text = vec![0u8; n as usize];
    e.mem().read(e.buf + 0x1000, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text, e.mem().maps_text());
    assert!(text.starts_with(&format!("{:08x}-", e.buf)));
    e.sys(nr::CLOSE, &[fd as u64]);
    // getcwd answers the host cwd.
    let n = e.sys(nr::GETCWD, &[out, 4096]);
    assert!(n > 1);
    let cwd = e.mem().read_cstr(out, 4096).unwrap();
    assert_eq!(cwd.len() as i64, n - 1);
}

#[test]
fn sysroot_prefix_is_tried_first() {
    let root = temp_dir("sysroot");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/only-in-sysroot"), b"inside").unwrap();
    let mut cfg = ProcessConfig::new("/x");
    cfg.sysroot = Some(root.clone());
    let mut e = Env::with_config(cfg);
    let p = e.cstr(0, "/etc/only-in-sysroot");
    let fd = e.sys(nr::OPEN, &[p, 0, 0]);
    assert!(fd >= 0, "found under the sysroot");
    assert_eq!(e.sys(nr::READ, &[fd as u64, e.buf + 0x100, 10]), 6);
    e.sys(nr::CLOSE, &[fd as u64]);
    // Paths missing from the sysroot fall back to the host's.
    let dev_null = e.cstr(0x200, "/dev/null");
    let fd = e.sys(nr::OPEN, &[dev_null, 1, 0]);
    assert!(fd >= 0);
    e.sys(nr::CLOSE, &[fd as u64]);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn fcntl_flags_and_dup() {
    let mut e = Env::new();
    let p = e.cstr(0, "/dev/null");
    // O_RDWR | O_NONBLOCK | O_APPEND (x86-64 values).
    let fd = e.sys(nr::OPEN, &[p, 0o2 | 0o4000 | 0o2000, 0]) as u64;
    let fl = e.sys(nr::FCNTL, &[fd, 3]) as u32;
    assert_eq!(fl & 0o3, 0o2);
    assert_ne!(fl & 0o4000, 0);
    assert_ne!(fl & 0o2000, 0);
    assert_eq!(e.sys(nr::FCNTL, &[fd, 4, 0]), 0);
    assert_eq!(e.sys(nr::FCNTL, &[fd, 3]) as u32 & 0o4000, 0);
    let d = e.sys(nr::FCNTL, &[fd, 1030, 50]);
    assert!(d >= 50);
    assert_eq!(e.sys(nr::FCNTL, &[d as u64, 1]), 1, "F_DUPFD_CLOEXEC");
    assert_eq!(e.sys(nr::DUP2, &[fd, fd]), fd as i64);
    assert_eq!(e.sys(nr::DUP3, &[fd, fd, 0]), NEG_EINVAL);
    assert_eq!(e.sys(nr::FCNTL, &[fd, 9999]), NEG_EINVAL);
    // ioctl on a non-tty.
    assert_eq!(e.sys(nr::IOCTL, &[fd, 0x5401, e.buf]), -25);
    assert_eq!(e.sys(nr::IOCTL, &[fd, 0x1234_5678, e.buf]), -25);
    e.sys(nr::CLOSE, &[d as u64]);
    e.sys(nr::CLOSE, &[fd]);
}

#[test]
fn signals_are_recorded() {
    let mut e = Env::new();
    // rt_sigaction round trip in the guest layout.
    let act = e.buf;
    for (i, v) in [0x401000u64, 0x0400_0000, 0x402000, 1 << 8 | 1 << 1]
        .iter()
        .enumerate()
    {
        e.mem().write_u64(act + 8 * i as u64, *v).unwrap();
    }
    assert_eq!(e.sys(nr::RT_SIGACTION, &[10, act, 0, 8]), 0);
    let old = e.buf + 0x100;
    assert_eq!(e.sys(nr::RT_SIGACTION, &[10, 0, old, 8]), 0);
    assert_eq!(e.mem().read_u64(old).unwrap(), 0x401000);
    assert_eq!(e.mem().read_u64(old + 16).unwrap(), 0x402000);
    assert_eq!(
        e.mem().read_u64(old + 24).unwrap(),
        1 << 1,
        "SIGKILL not maskable"
    );
    assert_eq!(e.p.sigaction(10).unwrap().handler, 0x401000);
    assert_eq!(e.sys(nr::RT_SIGACTION, &[9, act, 0, 8]), NEG_EINVAL);
    assert_eq!(e.sys(nr::RT_SIGACTION, &[10, act, 0, 4]), NEG_EINVAL);
    assert_eq!(e.sys(nr::RT_SIGACTION, &[65, 0, 0, 8]), NEG_EINVAL);
    // rt_sigprocmask.
    let set = e.buf + 0x200;
    e.mem().write_u64(set, 1 << 1 | 1 << 8).unwrap();
    assert_eq!(e.sys(nr::RT_SIGPROCMASK, &[0, set, 0, 8]), 0);
    assert_eq!(e.t.signal_mask, 1 << 1, "SIGKILL cannot be blocked");
    assert_eq!(e.sys(nr::RT_SIGPROCMASK, &[1, set, old, 8]), 0);
    assert_eq!(e.mem().read_u64(old).unwrap(), 1 << 1);
    assert_eq!(e.t.signal_mask, 0);
    assert_eq!(e.sys(nr::RT_SIGPROCMASK, &[7, set, 0, 8]), NEG_EINVAL);
    // sigaltstack.
    let ss = e.buf + 0x300;
    e.mem().write_u64(ss, 0x7000_0000).unwrap();
    e.mem().write_u32(ss + 8, 0).unwrap();
    e.mem().write_u64(ss + 16, 0x10000).unwrap();
    assert_eq!(e.sys(nr::SIGALTSTACK, &[ss, old]), 0);
    assert_eq!(e.mem().read_u32(old + 8).unwrap(), 2, "was disabled");
    assert_eq!(e.t.altstack.sp, 0x7000_0000);
    e.mem().write_u64(ss + 16, 100).unwrap();
    assert_eq!(e.sys(nr::SIGALTSTACK, &[ss, 0]), -12);
    // kill to self: handled -> pending; default fatal -> KillSelf; default ignore -> 0.
    let pid = std::process::id() as u64;
    assert_eq!(e.sys(nr::KILL, &[pid, 10]), 0);
    assert_eq!(e.t.pending_signals, 1 << 9);
    assert_eq!(e.sys(nr::KILL, &[pid, 17]), 0);
    assert_eq!(e.sys(nr::KILL, &[pid, 0]), 0);
    let tid = e.t.tid as u64;
    let out = e.p.syscall(&mut e.t, nr::TGKILL, [pid, tid, 15, 0, 0, 0]);
    assert_eq!(out, SyscallOutcome::KillSelf(15));
    let out = e.p.syscall(&mut e.t, nr::TKILL, [tid, 6, 0, 0, 0, 0]);
    assert_eq!(out, SyscallOutcome::KillSelf(6));
    // A blocked fatal signal stays pending.
    e.t.signal_mask = 1 << 14;
    assert_eq!(e.sys(nr::KILL, &[pid, 15]), 0);
    assert_ne!(e.t.pending_signals & 1 << 14, 0);
    e.t.signal_mask = 0;
    // SIG_IGN.
    e.mem().write_u64(act, 1).unwrap();
    assert_eq!(e.sys(nr::RT_SIGACTION, &[15, act, 0, 8]), 0);
    assert_eq!(e.sys(nr::KILL, &[pid, 15]), 0);
    assert_eq!(e.sys(nr::KILL, &[pid, 99]), NEG_EINVAL);
}

#[test]
fn futex_wait_and_wake() {
    let mut e = Env::new();
    let w = e.buf;
    e.mem().write_u32(w, 5).unwrap();
    // FUTEX_WAIT with a different expected value: EAGAIN at once.
    assert_eq!(e.sys(nr::FUTEX, &[w, 128, 4, 0, 0, 0]), -11);
    // With a timeout: ETIMEDOUT.
    let ts = e.buf + 0x100;
    e.mem().write_u64(ts, 0).unwrap();
    e.mem().write_u64(ts + 8, 1_000_000).unwrap();
    assert_eq!(e.sys(nr::FUTEX, &[w, 128, 5, ts, 0, 0]), -110);
    assert_eq!(e.sys(nr::FUTEX, &[w, 129, 1, 0, 0, 0]), 0, "nobody to wake");
    assert_eq!(e.sys(nr::FUTEX, &[0x1000, 129, 1, 0, 0, 0]), NEG_EFAULT);
    // A waiter on another thread is woken through the host futex.
    let p = Arc::new(e);
    let waiter = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || {
            let mut t = ThreadCtx::current();
            p.p.syscall(&mut t, nr::FUTEX, [p.buf, 128, 5, 0, 0, 0])
        })
    };
    let mut t = ThreadCtx::current();
    let mut woken = 0;
    for _ in 0..2000 {
        if let SyscallOutcome::Return(n) = p.p.syscall(&mut t, nr::FUTEX, [p.buf, 129, 1, 0, 0, 0])
        {
            woken = n;
        }
        if woken == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(woken, 1);
    assert_eq!(waiter.join().unwrap(), SyscallOutcome::Return(0));
}

#[test]
fn thread_clone_goes_to_the_vcpu_layer() {
    let mut e = Env::new();
    let flags = 0x3d0f00u64; // glibc pthread_create's flags
    let out =
        e.p.syscall(&mut e.t, nr::CLONE, [flags, 0x7000_0000, 1, 2, 3, 0]);
    assert_eq!(
        out,
        SyscallOutcome::NewThread(crate::CloneRequest {
            flags,
            stack: 0x7000_0000,
            parent_tid: 1,
            child_tid: 2,
            tls: 3,
        })
    );
    assert_eq!(e.sys(nr::CLONE, &[0x100, 0, 0, 0, 0]), NEG_ENOSYS);
    let out = e.p.syscall(&mut e.t, nr::EXIT_GROUP, [3, 0, 0, 0, 0, 0]);
    assert_eq!(out, SyscallOutcome::ExitGroup(3));
    // exit clears and wakes clear_child_tid.
    e.mem().write_u32(e.buf, 77).unwrap();
    e.t.clear_child_tid = e.buf;
    assert_eq!(
        e.p.syscall(&mut e.t, nr::EXIT, [4, 0, 0, 0, 0, 0]),
        SyscallOutcome::Exit(4)
    );
    assert_eq!(e.mem().read_u32(e.buf).unwrap(), 0);
}

#[test]
fn fork_and_vfork_then_wait() {
    for n in [nr::FORK, nr::VFORK] {
        let mut e = Env::new();
        e.mem().write_u32(e.buf, 1).unwrap();
        let outcome = e.p.syscall(&mut e.t, n, [0; 6]);
        if let SyscallOutcome::Return(_) | SyscallOutcome::VforkParent { .. } = outcome {
            // The parent of a vfork waits for the child's exec or exit in `finish_vfork`.
            let vfork_parent = matches!(outcome, SyscallOutcome::VforkParent { .. });
            assert_eq!(vfork_parent, n == nr::VFORK, "{outcome:?}");
        }
        match outcome.finish_vfork() {
            SyscallOutcome::ChildReturn { new_sp } => {
                // In the child: touch the (copied) memory and leave at once.
                let ok = new_sp.is_none() && e.mem().read_u32(e.buf).unwrap() == 1;
                let _ = e.mem().write_u32(e.buf, 2);
                // SAFETY: _exit is async-signal-safe and ends the forked child.
                unsafe { libc::_exit(if ok { 42 } else { 1 }) };
            }
            SyscallOutcome::Return(pid) => {
                assert!((pid as i64) > 0);
                let st = e.buf + 0x100;
                assert_eq!(e.sys(nr::WAIT4, &[pid, st, 0, 0]), pid as i64);
                let status = e.mem().read_u32(st).unwrap();
                assert_eq!(status, 42 << 8, "exited normally with 42");
                assert_eq!(e.mem().read_u32(e.buf).unwrap(), 1, "memory is not shared");
            }
            o => panic!("{o:?}"),
        }
    }
}

#[test]
fn execve_resolves_scripts_and_builds_the_command_line() {
    let dir = temp_dir("exec");
    let elf_path = dir.join("prog");
    std::fs::write(&elf_path, good_elf()).unwrap();
    let script = dir.join("script");
    std::fs::write(
        &script,
        format!("#!  {}  -x -y  \necho hi\n", elf_path.display()),
    )
    .unwrap();
    let plain = dir.join("plain");
    std::fs::write(&plain, b"just text\n").unwrap();
    let arm = dir.join("arm");
    let mut a = good_elf();
    a[18] = 183;
    std::fs::write(&arm, a).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in [&elf_path, &script, &plain, &arm] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cfg = ProcessConfig::new("/x");
    cfg.emu_exe = Some("/usr/bin/emu".into());
    cfg.emu_args_for_exec = vec!["-L".into(), "/sysroot".into()];
    let e = Env::with_config(cfg);
    let b = |p: &Path| p.to_str().unwrap().as_bytes().to_vec();

    let t =
        e.p.resolve_exec(&b(&script), &[b"myscript".to_vec(), b"arg1".to_vec()])
            .unwrap();
    assert_eq!(t.program, b(&elf_path));
    assert_eq!(
        t.argv,
        vec![
            b(&elf_path),
            b"-x -y".to_vec(),
            b(&script),
            b"arg1".to_vec()
        ]
    );
    let cmd = e.p.exec_command_line(&t).unwrap();
    let expect: Vec<Vec<u8>> = vec![
        b"/usr/bin/emu".to_vec(),
        b"-L".to_vec(),
        b"/sysroot".to_vec(),
        b"-0".to_vec(),
        b(&elf_path),
        b(&elf_path),
        b"-x -y".to_vec(),
        b(&script),
        b"arg1".to_vec(),
    ];
    assert_eq!(cmd, expect);

    let t =
        e.p.resolve_exec(&b(&elf_path), &[b"zero".to_vec()])
            .unwrap();
    assert_eq!(t.argv, vec![b"zero".to_vec()]);
    use guest_memory::Errno;
    assert_eq!(e.p.resolve_exec(&b(&plain), &[]), Err(Errno::ENOEXEC));
    assert_eq!(e.p.resolve_exec(&b(&arm), &[]), Err(Errno::ENOEXEC));
    assert_eq!(
        e.p.resolve_exec(b"/nonexistent/prog", &[]),
        Err(Errno::ENOENT)
    );
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert_eq!(e.p.resolve_exec(&b(&plain), &[]), Err(Errno::EACCES));
    }
    // A failing execve syscall returns -errno to the guest.
    let mut e = e;
    let path = e.cstr(0, "/nonexistent/prog");
    assert_eq!(e.sys(nr::EXECVE, &[path, 0, 0]), NEG_ENOENT);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn strace_lines() {
    use crate::strace::{format_enter, format_exit};
    let e = Env::new();
    let path = e.cstr(0, "/etc/passwd");
    assert_eq!(
        format_enter(
            &e.p,
            7,
            nr::OPENAT,
            &[(-100i64) as u64, path, 0o2000000, 0, 0, 0]
        ),
        "7 openat(-100,\"/etc/passwd\",0x80000,0)"
    );
    assert_eq!(
        format_enter(&e.p, 7, 9999, &[0; 6]),
        "7 Unknown syscall 9999"
    );
    assert_eq!(
        format_exit(nr::OPENAT, &SyscallOutcome::Return(3)),
        " = 3\n"
    );
    assert_eq!(
        format_exit(nr::OPENAT, &SyscallOutcome::Return(-2i64 as u64)),
        " = -1 errno=2 (No such file or directory)\n"
    );
    assert_eq!(
        format_exit(nr::MMAP, &SyscallOutcome::Return(0x7000_0000)),
        " = 0x70000000\n"
    );
    assert_eq!(
        format_exit(nr::EXIT_GROUP, &SyscallOutcome::ExitGroup(0)),
        "\n"
    );
}

#[test]
fn process_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Process>();
    check::<ThreadCtx>();
}

#[test]
fn a_blocked_fatal_signal_takes_effect_once_unblocked() {
    let mut e = Env::new();
    let (abrt, chld) = (6u64, 17u64);
    let set = e.buf + 0x200;
    e.mem()
        .write_u64(set, 1 << (abrt - 1) | 1 << (chld - 1))
        .unwrap();
    assert_eq!(e.sys(nr::RT_SIGPROCMASK, &[0, set, 0, 8]), 0); // SIG_BLOCK
    let tid = e.t.tid as u64;
    assert_eq!(e.sys(nr::TKILL, &[tid, chld]), 0);
    assert_eq!(e.sys(nr::TKILL, &[tid, abrt]), 0, "blocked: stays pending");
    assert_eq!(
        e.p.take_fatal_pending_signal(&mut e.t),
        None,
        "still blocked"
    );
    assert_eq!(e.sys(nr::RT_SIGPROCMASK, &[1, set, 0, 8]), 0); // SIG_UNBLOCK
                                                               // SIGCHLD's default is to ignore: dropped; SIGABRT's is to terminate.
    assert_eq!(e.p.take_fatal_pending_signal(&mut e.t), Some(abrt as i32));
    assert_eq!(e.t.pending_signals & 1 << (abrt - 1), 0);
    assert_eq!(e.p.take_fatal_pending_signal(&mut e.t), None);
    assert_eq!(
        e.t.pending_signals, 0,
        "SIGCHLD dropped: its default is to ignore"
    );
}
