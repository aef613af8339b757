//! Unit tests of the guest address space.

use crate::consts::*;
use crate::*;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const P: u64 = GUEST_PAGE_SIZE;
const ANON: u32 = MAP_PRIVATE | MAP_ANONYMOUS;
const RW: u32 = PROT_READ | PROT_WRITE;

fn space() -> GuestSpace {
    GuestSpace::with_max_size(MIN_SPACE_SIZE).expect("reserve 4 GiB")
}

fn temp_file(contents: &[u8]) -> (std::path::PathBuf, std::fs::File) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "guest-memory-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.write_all(contents).unwrap();
    (path, f)
}

#[test]
fn reservation() {
    let s = GuestSpace::new().expect("reserve");
    assert!(s.size().is_power_of_two());
    assert!(s.size() >= MIN_SPACE_SIZE && s.size() <= MAX_SPACE_SIZE);
    assert!(!s.base().is_null());
    assert!(s.vmas().is_empty());
    assert!(!s.is_mapped(0, 1, Access::Read));
    assert_eq!(s.mmap_base(), s.size() / 2);
    assert!(matches!(
        GuestSpace::with_max_size(3 << 32),
        Err(SpaceError::BadSize(_))
    ));
    let s4 = space();
    assert_eq!(s4.size(), 1 << 32);
}

#[test]
fn mmap_anonymous_and_access() {
    let s = space();
    let a = s.mmap(0, 3 * P + 1, RW, ANON, None, 0).unwrap();
    assert_eq!(a % P, 0);
    assert!(a >= MMAP_MIN_ADDR && a + 4 * P <= s.mmap_base());
    assert!(s.is_mapped(a, 4 * P, Access::Write));
    assert!(!s.is_mapped(a, 4 * P, Access::Exec));
    assert_eq!(s.read_u64(a + 8).unwrap(), 0, "fresh memory is zero");
    s.write_u64(a + 8, 0x1122_3344_5566_7788).unwrap();
    assert_eq!(s.read_u64(a + 8).unwrap(), 0x1122_3344_5566_7788);
    assert_eq!(s.read_u32(a + 8).unwrap(), 0x5566_7788, "little-endian");
    // A second mapping goes below the first (top-down).
    let b = s.mmap(0, P, PROT_READ, ANON, None, 0).unwrap();
    assert_eq!(b + P, a);
    assert_eq!(s.write_u32(b, 1), Err(Efault { addr: b }));
    assert!(s.read_u32(b).is_ok());
    // Page 0 is never handed out without MAP_FIXED.
    let c = s.mmap(1, P, RW, ANON, None, 0).unwrap();
    assert!(c >= MMAP_MIN_ADDR);
}

#[test]
fn mmap_argument_errors() {
    let s = space();
    assert_eq!(s.mmap(0, 0, RW, ANON, None, 0), Err(Errno::EINVAL));
    assert_eq!(
        s.mmap(0, P, RW, MAP_ANONYMOUS, None, 0),
        Err(Errno::EINVAL),
        "no map type"
    );
    assert_eq!(
        s.mmap(0x10001, P, RW, ANON | MAP_FIXED, None, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.mmap(s.size() - P, 2 * P, RW, ANON | MAP_FIXED, None, 0),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        s.mmap(0, P, RW, MAP_PRIVATE, None, 0),
        Err(Errno::EBADF),
        "file mapping without fd"
    );
    assert_eq!(
        s.mmap(0, P, RW, MAP_PRIVATE, Some(-1), 0),
        Err(Errno::EBADF)
    );
    assert_eq!(s.mmap(0, 1 << 33, RW, ANON, None, 0), Err(Errno::ENOMEM));
    assert_eq!(s.mmap(0, P, RW, ANON, None, 1), Err(Errno::EINVAL));
    assert!(s.vmas().is_empty(), "failed calls leave no trace");
}

#[test]
fn mmap_fixed_and_noreplace() {
    let s = space();
    let a = 0x4000_0000;
    assert_eq!(s.mmap(a, 4 * P, RW, ANON | MAP_FIXED, None, 0), Ok(a));
    s.write_u64(a + P, 7).unwrap();
    assert_eq!(
        s.mmap(a + P, P, RW, ANON | MAP_FIXED_NOREPLACE, None, 0),
        Err(Errno::EEXIST)
    );
    assert_eq!(s.read_u64(a + P).unwrap(), 7);
    // MAP_FIXED replaces (and zeroes) the middle page, splitting the area.
    assert_eq!(
        s.mmap(a + P, P, PROT_READ, ANON | MAP_FIXED, None, 0),
        Ok(a + P)
    );
    assert_eq!(s.read_u64(a + P).unwrap(), 0);
    let v = s.vmas();
    assert_eq!(v.len(), 3);
    assert_eq!((v[1].start, v[1].len, v[1].prot), (a + P, P, Prot::READ));
    // Fixed at page 0 is allowed.
    assert_eq!(s.mmap(0, P, RW, ANON | MAP_FIXED, None, 0), Ok(0));
    assert!(s.is_mapped(0, P, Access::Write));
}

#[test]
fn mmap_hint() {
    let s = space();
    let hint = 0x1234_5000;
    assert_eq!(s.mmap(hint, P, RW, ANON, None, 0), Ok(hint));
    let other = s.mmap(hint, P, RW, ANON, None, 0).unwrap();
    assert_ne!(other, hint, "an occupied hint is not replaced");
    assert!(s.is_mapped(hint, P, Access::Write));
    // Unaligned hints are rounded up.
    assert_eq!(s.mmap(0x2000_0001, P, RW, ANON, None, 0), Ok(0x2000_1000));
    // MAP_32BIT places below 2 GiB.
    let s2 = space();
    s2.set_mmap_base(0xc000_0000);
    let low = s2.mmap(0, P, RW, ANON | MAP_32BIT, None, 0).unwrap();
    assert!(low + P <= 0x8000_0000);
}

#[test]
fn mmap_file_private_and_shared() {
    let s = space();
    let mut data = vec![0u8; 2 * P as usize];
    data[..5].copy_from_slice(b"hello");
    data[P as usize..P as usize + 5].copy_from_slice(b"world");
    let (path, f) = temp_file(&data);
    let fd = f.as_raw_fd();
    let a = s.mmap(0, P, PROT_READ, MAP_PRIVATE, Some(fd), P).unwrap();
    let mut b = [0u8; 5];
    s.read(a, &mut b).unwrap();
    assert_eq!(&b, b"world");
    let text = s.maps_text();
    assert!(
        text.contains(&format!(" {:08x} ", P)) && text.contains(path.to_str().unwrap()),
        "{text}"
    );
    // Shared writable mapping writes through to the file.
    let w = s.mmap(0, P, RW, MAP_SHARED, Some(fd), 0).unwrap();
    s.write(w, b"HELLO").unwrap();
    s.msync(w, P, MS_SYNC).unwrap();
    let back = std::fs::read(&path).unwrap();
    assert_eq!(&back[..5], b"HELLO");
    assert!(s.vma_at(w).unwrap().shared);
    // A read-only fd cannot back a shared writable mapping; a directory cannot be mapped.
    let ro = std::fs::File::open(&path).unwrap();
    assert_eq!(
        s.mmap(0, P, RW, MAP_SHARED, Some(ro.as_raw_fd()), 0),
        Err(Errno::EACCES)
    );
    let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
    assert_eq!(
        s.mmap(0, P, PROT_READ, MAP_PRIVATE, Some(dir.as_raw_fd()), 0),
        Err(Errno::ENODEV)
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn munmap_then_access_fails() {
    let s = space();
    let a = s.mmap(0, 3 * P, RW, ANON, None, 0).unwrap();
    s.write_u64(a + P, 5).unwrap();
    s.munmap(a + P, P).unwrap();
    assert_eq!(s.read_u64(a + P), Err(Efault { addr: a + P }));
    assert_eq!(s.read_u64(a + P - 4), Err(Efault { addr: a + P }));
    assert!(s.is_mapped(a, P, Access::Write));
    assert!(s.is_mapped(a + 2 * P, P, Access::Write));
    assert_eq!(s.vmas().len(), 2);
    // Unmapping nothing is fine; bad arguments are not.
    s.munmap(a + P, P).unwrap();
    assert_eq!(s.munmap(a + 1, P), Err(Errno::EINVAL));
    assert_eq!(s.munmap(a, 0), Err(Errno::EINVAL));
    assert_eq!(s.munmap(s.size() - P, 2 * P), Err(Errno::EINVAL));
    // Re-mapping the hole gives fresh zero memory.
    assert_eq!(s.mmap(a + P, P, RW, ANON | MAP_FIXED, None, 0), Ok(a + P));
    assert_eq!(s.read_u64(a + P).unwrap(), 0);
    assert_eq!(s.vmas().len(), 1, "merged back into one area");
    s.munmap(a, 3 * P).unwrap();
    assert!(s.vmas().is_empty());
}

#[test]
fn mprotect_changes_access() {
    let s = space();
    let a = s.mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    s.mprotect(a, P, PROT_READ | PROT_EXEC).unwrap();
    assert!(!s.is_mapped(a, 1, Access::Write));
    assert!(s.is_mapped(a, P, Access::Exec));
    assert!(s.is_mapped(a + P, P, Access::Write));
    assert_eq!(s.prot_at(a), Some(Prot::RX));
    assert_eq!(s.write_u32(a, 1), Err(Efault { addr: a }));
    s.mprotect(a, 2 * P, PROT_NONE).unwrap();
    assert!(!s.is_mapped(a, 1, Access::Read));
    assert_eq!(s.vmas().len(), 1);
    s.mprotect(a, 2 * P, RW).unwrap();
    assert!(s.is_mapped(a, 2 * P, Access::Write));
    // Partially unmapped ranges and bad flags are refused.
    assert_eq!(s.mprotect(a, 3 * P, RW), Err(Errno::ENOMEM));
    assert_eq!(s.mprotect(a + 1, P, RW), Err(Errno::EINVAL));
    assert_eq!(s.mprotect(a, P, 0x100), Err(Errno::EINVAL));
    // Write-only pages are readable, as on x86.
    s.mprotect(a, P, PROT_WRITE).unwrap();
    assert!(s.is_mapped(a, P, Access::Read));
}

#[test]
fn brk_grow_and_shrink() {
    let s = space();
    s.set_brk_start(0x60_0123);
    assert_eq!(s.brk_start(), 0x60_1000);
    assert_eq!(s.brk(0), 0x60_1000);
    assert_eq!(s.brk(0x60_1000 + 10 * P + 5), 0x60_1000 + 10 * P + 5);
    assert!(s.is_mapped(0x60_1000, 11 * P, Access::Write));
    s.write_u64(0x60_1000 + 10 * P, 9).unwrap();
    assert!(s.maps_text().contains("[heap]"));
    // Shrink then grow again: the dropped pages come back zeroed.
    assert_eq!(s.brk(0x60_1000 + P), 0x60_1000 + P);
    assert!(!s.is_mapped(0x60_1000 + P, 1, Access::Read));
    assert_eq!(s.brk(0x60_1000 + 11 * P), 0x60_1000 + 11 * P);
    assert_eq!(s.read_u64(0x60_1000 + 10 * P).unwrap(), 0);
    assert_eq!(s.vmas().len(), 1);
    // Below the start or into another mapping: unchanged.
    assert_eq!(s.brk(0x1000), 0x60_1000 + 11 * P);
    s.mmap(0x70_0000, P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    assert_eq!(s.brk(0x70_0000), 0x60_1000 + 11 * P);
    assert_eq!(s.brk(0x6f_f001), 0x60_1000 + 11 * P, "one-page gap kept");
    assert_eq!(s.brk(0x6f_f000), 0x6f_f000);
    assert_eq!(s.brk(u64::MAX), 0x6f_f000);
}

#[test]
fn mremap_grow_shrink_move() {
    let s = space();
    let a = 0x1000_0000;
    s.mmap(a, 2 * P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    s.write_u64(a, 0xabc).unwrap();
    // Grow in place.
    assert_eq!(s.mremap(a, 2 * P, 4 * P, 0, 0), Ok(a));
    assert!(s.is_mapped(a, 4 * P, Access::Write));
    assert_eq!(s.vmas().len(), 1);
    // Shrink.
    assert_eq!(s.mremap(a, 4 * P, P, 0, 0), Ok(a));
    assert!(!s.is_mapped(a + P, 1, Access::Read));
    // Blocked growth: ENOMEM without MAYMOVE, moves with it.
    s.mmap(a + P, P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(s.mremap(a, P, 3 * P, 0, 0), Err(Errno::ENOMEM));
    let b = s.mremap(a, P, 3 * P, MREMAP_MAYMOVE, 0).unwrap();
    assert_ne!(b, a);
    assert_eq!(s.read_u64(b).unwrap(), 0xabc, "contents move along");
    assert!(s.is_mapped(b, 3 * P, Access::Write));
    assert!(!s.is_mapped(a, 1, Access::Read));
    // Fixed move over an existing mapping.
    let c = 0x2000_0000;
    s.mmap(c, 8 * P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    assert_eq!(
        s.mremap(b, 3 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, c + P),
        Ok(c + P)
    );
    assert_eq!(s.read_u64(c + P).unwrap(), 0xabc);
    assert!(s.is_mapped(c + P, 2 * P, Access::Write));
    assert!(!s.is_mapped(c + 3 * P, 1, Access::Write));
    assert!(!s.is_mapped(b, 1, Access::Read));
    // Errors.
    assert_eq!(
        s.mremap(c, P, 2 * P, MREMAP_FIXED, c + 16 * P),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        s.mremap(c, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, c + P),
        Err(Errno::EINVAL),
        "overlapping ranges"
    );
    assert_eq!(
        s.mremap(0x3000_0000, P, 2 * P, MREMAP_MAYMOVE, 0),
        Err(Errno::EFAULT)
    );
    assert_eq!(s.mremap(c, P, 0, MREMAP_MAYMOVE, 0), Err(Errno::EINVAL));
    // Spanning two areas is EFAULT.
    assert_eq!(
        s.mremap(c, 4 * P, 8 * P, MREMAP_MAYMOVE, 0),
        Err(Errno::EFAULT)
    );
}

#[test]
fn mremap_moves_file_mapping() {
    let s = space();
    let (path, f) = temp_file(b"filedata");
    let a = s
        .mmap(
            0x1000_0000,
            P,
            PROT_READ,
            MAP_PRIVATE | MAP_FIXED,
            Some(f.as_raw_fd()),
            0,
        )
        .unwrap();
    s.mmap(a + P, P, PROT_READ, ANON | MAP_FIXED, None, 0)
        .unwrap();
    let b = s.mremap(a, P, 2 * P, MREMAP_MAYMOVE, 0).unwrap();
    let mut buf = [0u8; 8];
    s.read(b, &mut buf).unwrap();
    assert_eq!(&buf, b"filedata");
    assert!(matches!(s.vma_at(b).unwrap().kind, VmaKind::File { .. }));
    std::fs::remove_file(path).unwrap();
}

#[test]
fn mremap_of_area_built_from_two_mappings() {
    let s = space();
    let a = 0x1000_0000;
    // Two host mappings that the guest table merges into one area.
    s.mmap(a, P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    s.write_u64(a, 1).unwrap();
    s.mmap(a + P, P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    s.write_u64(a + P, 2).unwrap();
    assert_eq!(s.vmas().len(), 1);
    let b = s
        .mremap(a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 0x2000_0000)
        .unwrap();
    assert_eq!(s.read_u64(b).unwrap(), 1);
    assert_eq!(s.read_u64(b + P).unwrap(), 2);
    assert!(!s.is_mapped(a, 1, Access::Read));
}

#[test]
fn maps_text_format() {
    let s = space();
    s.mmap(
        0x40_0000,
        P,
        PROT_READ | PROT_EXEC,
        ANON | MAP_FIXED,
        None,
        0,
    )
    .unwrap();
    s.set_brk_start(0x50_0000);
    s.brk(0x50_0000 + P);
    let text = s.maps_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "00400000-00401000 r-xp 00000000 00:00 0 ");
    assert_eq!(
        lines[1],
        format!(
            "00500000-00501000 rw-p 00000000 00:00 0{}[heap]",
            " ".repeat(34)
        )
    );
    assert_eq!(lines[1].find("[heap]"), Some(73));
}

#[test]
fn out_of_space_addresses_refused() {
    let s = space();
    let top = s.size() - P;
    s.mmap(top, P, RW, ANON | MAP_FIXED, None, 0).unwrap();
    assert!(s.write_u64(top + P - 8, 1).is_ok());
    assert_eq!(s.read_u64(top + P - 4), Err(Efault { addr: s.size() }));
    assert_eq!(s.read_u64(s.size()), Err(Efault { addr: s.size() }));
    assert_eq!(s.read_u64(u64::MAX - 3), Err(Efault { addr: u64::MAX - 3 }));
    assert!(s.host_ptr(s.size() + 1, 0, Access::Read).is_err());
    assert!(s.host_ptr(top, P + 1, Access::Read).is_err());
    let p = s.host_ptr(top, P, Access::Write).unwrap();
    assert_eq!(p as usize, s.base() as usize + top as usize);
    assert!(!s.is_mapped(top, u64::MAX, Access::Read));
    assert_eq!(
        s.mmap(s.size(), P, RW, ANON | MAP_FIXED, None, 0),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        s.mmap(!(P - 1), P, RW, ANON | MAP_FIXED, None, 0),
        Err(Errno::ENOMEM)
    );
    assert_eq!(s.mprotect(top, 2 * P, RW), Err(Errno::ENOMEM));
}

#[test]
fn cstr_and_loader_writes() {
    let s = space();
    let a = s.mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    s.write(a + P - 3, b"abcdef\0").unwrap();
    assert_eq!(s.read_cstr(a + P - 3, 100).unwrap(), b"abcdef");
    assert_eq!(s.read_cstr(a + P - 3, 6).unwrap(), b"abcdef");
    assert_eq!(s.read_cstr(a + P - 3, 5), Err(Errno::ENAMETOOLONG));
    s.write(a + 2 * P - 2, b"xy").unwrap();
    assert_eq!(s.read_cstr(a + 2 * P - 2, 100), Err(Errno::EFAULT));
    assert_eq!(s.read_cstr(0, 100), Err(Errno::EFAULT));
    s.mprotect(a, 2 * P, PROT_READ).unwrap();
    assert!(s.write(a, b"z").is_err());
    s.write_ignoring_prot(a + P - 1, b"zz").unwrap();
    assert_eq!(s.read_u16(a + P - 1).unwrap(), u16::from_le_bytes(*b"zz"));
    assert!(!s.is_mapped(a, 1, Access::Write), "protection restored");
    assert!(s.write_ignoring_prot(a + 2 * P - 1, b"zz").is_err());
}

#[test]
fn madvise_dontneed_zeroes() {
    let s = space();
    let a = s.mmap(0, 2 * P, RW, ANON, None, 0).unwrap();
    s.write_u64(a, 42).unwrap();
    s.madvise(a, P, MADV_DONTNEED).unwrap();
    assert_eq!(s.read_u64(a).unwrap(), 0);
    s.madvise(a, 2 * P, 100).unwrap();
    assert_eq!(s.madvise(a, 3 * P, MADV_DONTNEED), Err(Errno::ENOMEM));
}

#[test]
fn concurrent_mmap_munmap_keeps_table_consistent() {
    let s = Arc::new(space());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..300u64 {
                    let len = (1 + (i * 7 + t) % 5) * P;
                    let a = s.mmap(0, len, RW, ANON, None, 0).unwrap();
                    let tag = t << 32 | i;
                    s.write_u64(a, tag).unwrap();
                    s.write_u64(a + len - 8, tag).unwrap();
                    mine.push((a, len, tag));
                    if i % 3 == 0 {
                        let (a, len, tag) = mine.swap_remove((i as usize * 13) % mine.len());
                        assert_eq!(s.read_u64(a).unwrap(), tag);
                        assert_eq!(s.read_u64(a + len - 8).unwrap(), tag);
                        s.munmap(a, len).unwrap();
                    }
                }
                for (a, len, tag) in mine {
                    assert_eq!(s.read_u64(a).unwrap(), tag, "nobody else mapped over us");
                    assert_eq!(s.read_u64(a + len - 8).unwrap(), tag);
                    s.munmap(a, len).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(s.vmas().is_empty(), "{}", s.maps_text());
}

#[test]
fn vmas_never_overlap_after_mixed_operations() {
    let s = space();
    let base = 0x1000_0000;
    for i in 0..64u64 {
        let addr = base + (i * 5 % 17) * P;
        let len = (1 + i % 4) * P;
        match i % 4 {
            0 => drop(s.mmap(addr, len, RW, ANON | MAP_FIXED, None, 0)),
            1 => drop(s.mprotect(addr, len, PROT_READ)),
            2 => drop(s.munmap(addr, len)),
            _ => drop(s.mmap(addr, len, PROT_READ, ANON | MAP_FIXED, None, 0)),
        }
        let v = s.vmas();
        for w in v.windows(2) {
            assert!(w[0].end() <= w[1].start, "{v:?}");
            assert!(
                !(w[0].end() == w[1].start && w[0].prot == w[1].prot),
                "unmerged neighbours {v:?}"
            );
        }
        for area in &v {
            assert!(s.is_mapped(area.start, area.len, Access::Read) || area.prot == Prot::NONE);
        }
    }
}

#[test]
fn space_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<GuestSpace>();
}

#[test]
fn code_protection_invalidates_before_writes_and_moves_generations() {
    const PAGE: u64 = GUEST_PAGE_SIZE;
    let s = space();
    let rwx = PROT_READ | PROT_WRITE | PROT_EXEC;
    let a = s
        .mmap(0, 2 * PAGE, rwx, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)
        .unwrap();
    let hits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = hits.clone();
    assert!(s
        .set_code_write_hook(Box::new(move |page| h.lock().unwrap().push(page)))
        .is_ok());
    assert!(s.set_code_write_hook(Box::new(|_| {})).is_err());

    let (g0, writable) = s.protect_code(a + 10);
    assert!(writable);
    // Protected: the host page is read-only now, but emulator writes unprotect first.
    assert_eq!(s.code_generation(a), g0);
    s.write(a + 100, &[1, 2, 3]).unwrap();
    assert_eq!(*hits.lock().unwrap(), vec![a]);
    let g1 = s.code_generation(a);
    assert_ne!(g1, g0, "a write to a code page moves its generation");
    // Unprotected now: a second write does not call the hook again.
    s.write(a + 200, &[4]).unwrap();
    assert_eq!(hits.lock().unwrap().len(), 1);
    assert_eq!(s.code_generation(a), g1);
    // The other page was never protected.
    s.write(a + PAGE, &[5]).unwrap();
    assert_eq!(hits.lock().unwrap().len(), 1);

    // A fault-path unprotect of a page that is not protected but writable: retry is fine.
    assert!(s.unprotect_code(a + PAGE));
    // A read-only page is the guest's own fault.
    s.mprotect(a + PAGE, PAGE, PROT_READ).unwrap();
    assert!(!s.unprotect_code(a + PAGE));

    // Re-protect, then change the mapping: the generation moves, the host page is
    // writable again (no stale read-only page), and the hook is not needed.
    let (g2, _) = s.protect_code(a);
    s.mprotect(a, PAGE, rwx).unwrap();
    assert_ne!(s.code_generation(a), g2);
    s.write(a, &[6]).unwrap();
    assert_eq!(hits.lock().unwrap().len(), 1);
    let mut b = [0u8; 1];
    s.read(a, &mut b).unwrap();
    assert_eq!(b, [6]);

    // Non-writable code pages are not protected (writes need an mprotect first).
    let (_, w) = s.protect_code(a + PAGE);
    assert!(!w);
    // host_ptr for writing unprotects too (the host kernel would return EFAULT).
    s.protect_code(a);
    let p = s.host_ptr(a, 8, Access::Write).unwrap();
    // SAFETY: `p` addresses 8 writable bytes of the mapping, made host-writable above.
    unsafe { p.write(9) };
    assert_eq!(hits.lock().unwrap().len(), 2);
}

#[test]
fn a_fork_lock_waits_for_sections_and_keeps_new_ones_out() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Barrier;
    use std::time::Duration;
    let s = Arc::new(space());
    let left = Arc::new(AtomicBool::new(false));
    let inside = Arc::new(Barrier::new(2));
    let holder = {
        let (s, left, inside) = (s.clone(), left.clone(), inside.clone());
        std::thread::spawn(move || {
            let _section = s.hold_off_fork();
            inside.wait();
            std::thread::sleep(Duration::from_millis(50));
            left.store(true, Ordering::SeqCst);
        })
    };
    inside.wait();
    let fork = s.lock_for_fork();
    assert!(
        left.load(Ordering::SeqCst),
        "the fork lock came before the section ended"
    );
    holder.join().unwrap();
    let entered = Arc::new(AtomicBool::new(false));
    let late = {
        let (s, entered) = (s.clone(), entered.clone());
        std::thread::spawn(move || {
            let _section = s.hold_off_fork();
            // A section's own locks: mapping takes the space's.
            s.mmap(0, P, RW, ANON, None, 0).unwrap();
            entered.store(true, Ordering::SeqCst);
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !entered.load(Ordering::SeqCst),
        "a section began under the fork lock"
    );
    // The holder itself still uses the space (sections nest on its thread).
    let a = s.mmap(0, P, RW, ANON, None, 0).unwrap();
    s.write_u32(a, 7).unwrap();
    assert_eq!(s.read_u32(a).unwrap(), 7);
    drop(fork);
    late.join().unwrap();
    assert!(entered.load(Ordering::SeqCst));
}

/// Threads map, unmap and copy all the time; each fork holds the fork lock, and each child
/// must find the space's locks free (it maps and copies, under an alarm that kills it if
/// it hangs).
#[test]
#[cfg_attr(miri, ignore = "fork")]
fn a_forked_child_finds_the_space_unlocked() {
    use std::sync::atomic::AtomicBool;
    let s = Arc::new(space());
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..3)
        .map(|_| {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let a = s.mmap(0, P, RW, ANON, None, 0).unwrap();
                    s.write_u64(a, 1).unwrap();
                    s.munmap(a, P).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..30 {
        let pid = {
            let _fork = s.lock_for_fork();
            // SAFETY: the child only uses the space (its locks are free: the fork lock is
            // held), the allocator (glibc's fork takes its locks) and async-signal-safe
            // calls, then leaves with _exit.
            unsafe { libc::fork() }
        };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: alarm and _exit are async-signal-safe.
            unsafe { libc::alarm(10) };
            let ok = s
                .mmap(0, 4 * P, RW, ANON, None, 0)
                .and_then(|a| s.write_u64(a, 2).map_err(|_| Errno::EFAULT).map(|_| a))
                .is_ok_and(|a| s.read_u64(a) == Ok(2));
            // SAFETY: as above.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child with a live status int.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status:#x} (SIGALRM: it hung on a lock)"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in busy {
        t.join().unwrap();
    }
}
