//! Virtual memory areas and the table of them.

use crate::prot::{Access, Prot};
use crate::MMAP_MIN_ADDR;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What backs a virtual memory area; decides its `/proc/self/maps` name.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum VmaKind {
    /// Anonymous memory.
    Anon,
    /// The `brk` heap (`[heap]`).
    Heap,
    /// The initial thread's stack (`[stack]`).
    Stack,
    /// A file mapping (also used by the ELF loader for program segments, which it fills
    /// by copying).
    File {
        /// Host path of the file.
        path: String,
        /// File offset of the first byte of the area.
        offset: u64,
        /// Device number of the file (Linux `dev_t` encoding).
        dev: u64,
        /// Inode number of the file.
        inode: u64,
    },
}

/// One guest virtual memory area: a page-aligned range with uniform properties.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Vma {
    /// First guest address (page-aligned).
    pub start: u64,
    /// Length in bytes (a non-zero multiple of the page size).
    pub len: u64,
    /// Guest protection.
    pub prot: Prot,
    /// `MAP_SHARED` rather than `MAP_PRIVATE`.
    pub shared: bool,
    /// The guest `MAP_*` flags the area was created with.
    pub flags: u32,
    /// What backs the area.
    pub kind: VmaKind,
}

impl Vma {
    /// One past the last guest address.
    pub fn end(&self) -> u64 {
        self.start + self.len
    }

    /// The part of `self` starting at `at` (which must lie strictly inside).
    fn tail_from(&self, at: u64) -> Vma {
        debug_assert!(self.start < at && at < self.end());
        let mut t = self.clone();
        t.start = at;
        t.len = self.end() - at;
        if let VmaKind::File { offset, .. } = &mut t.kind {
            *offset += at - self.start;
        }
        t
    }

    /// Whether `next` (starting at `self.end()`) can be merged into `self`.
    fn mergeable_with(&self, next: &Vma) -> bool {
        if self.end() != next.start || self.prot != next.prot || self.shared != next.shared {
            return false;
        }
        match (&self.kind, &next.kind) {
            (VmaKind::Anon, VmaKind::Anon)
            | (VmaKind::Heap, VmaKind::Heap)
            | (VmaKind::Stack, VmaKind::Stack) => true,
            (
                VmaKind::File {
                    path: p1,
                    offset: o1,
                    dev: d1,
                    inode: i1,
                },
                VmaKind::File {
                    path: p2,
                    offset: o2,
                    dev: d2,
                    inode: i2,
                },
            ) => p1 == p2 && d1 == d2 && i1 == i2 && o1.checked_add(self.len) == Some(*o2),
            _ => false,
        }
    }

    /// Appends this area's `/proc/self/maps` line to `out`.
    pub(crate) fn write_maps_line(&self, out: &mut String) {
        let p = self.prot;
        let line_start = out.len();
        let (offset, dev, inode, name) = match &self.kind {
            VmaKind::Anon => (0, 0, 0, ""),
            VmaKind::Heap => (0, 0, 0, "[heap]"),
            VmaKind::Stack => (0, 0, 0, "[stack]"),
            VmaKind::File {
                path,
                offset,
                dev,
                inode,
            } => (*offset, *dev, *inode, path.as_str()),
        };
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let _ = write!(
            out,
            "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
            self.start,
            self.end(),
            if p.contains(Prot::READ) { 'r' } else { '-' },
            if p.contains(Prot::WRITE) { 'w' } else { '-' },
            if p.contains(Prot::EXEC) { 'x' } else { '-' },
            if self.shared { 's' } else { 'p' },
            offset,
            major,
            minor,
            inode
        );
        if !name.is_empty() {
            // Linux pads the header to 72 columns, then one space, then the name.
            while out.len() - line_start < 72 {
                out.push(' ');
            }
            out.push(' ');
            out.push_str(name);
        }
        out.push('\n');
    }
}

/// The table of guest VMAs, keyed by start address. Areas never overlap.
#[derive(Debug, Default)]
pub(crate) struct VmaMap {
    map: BTreeMap<u64, Vma>,
}

impl VmaMap {
    /// The area containing `addr`, if any.
    pub(crate) fn containing(&self, addr: u64) -> Option<&Vma> {
        self.map
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| addr < v.end())
    }

    /// All areas in address order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    /// Whether any area intersects `[start, end)`.
    pub(crate) fn overlaps(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return false;
        }
        if self.containing(start).is_some() {
            return true;
        }
        self.map.range(start..end).next().is_some()
    }

    /// The first address in `[start, end)` not covered by an area allowing `access`
    /// (any area at all when `access` is `None`), or `None` if the whole range is.
    pub(crate) fn first_gap(&self, start: u64, end: u64, access: Option<Access>) -> Option<u64> {
        let mut cur = start;
        while cur < end {
            match self.containing(cur) {
                Some(v) if access.is_none_or(|a| v.prot.allows(a)) => cur = v.end(),
                _ => return Some(cur),
            }
        }
        None
    }

    /// Splits the area strictly containing `at` (if any) into two at `at`.
    pub(crate) fn split_at(&mut self, at: u64) {
        let tail = match self.containing(at) {
            Some(v) if v.start < at => v.tail_from(at),
            _ => return,
        };
        let head_start = self
            .containing(at)
            .map(|v| v.start)
            .expect("area found just above");
        if let Some(head) = self.map.get_mut(&head_start) {
            head.len = at - head.start;
        }
        self.map.insert(at, tail);
    }

    /// Removes every area (or part of one) inside `[start, end)`, returning the removed
    /// pieces.
    pub(crate) fn remove_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.map.range(start..end).map(|(k, _)| *k).collect();
        keys.into_iter()
            .filter_map(|k| self.map.remove(&k))
            .collect()
    }

    /// Inserts `vma`, which must not overlap any area, and merges it with compatible
    /// neighbours.
    pub(crate) fn insert(&mut self, vma: Vma) {
        debug_assert!(!self.overlaps(vma.start, vma.end()));
        let (start, end) = (vma.start, vma.end());
        self.map.insert(start, vma);
        self.merge_at(end);
        self.merge_at(start);
    }

    /// Sets the protection of every area inside `[start, end)` (which must be fully
    /// covered) and merges where possible.
    pub(crate) fn set_prot(&mut self, start: u64, end: u64, prot: Prot) {
        self.split_at(start);
        self.split_at(end);
        for (_, v) in self.map.range_mut(start..end) {
            v.prot = prot;
        }
        let starts: Vec<u64> = self.map.range(start..end).map(|(k, _)| *k).collect();
        self.merge_at(end);
        for s in starts.into_iter().rev() {
            self.merge_at(s);
        }
    }

    /// Merges the area ending at `addr` with the one starting there, if compatible.
    fn merge_at(&mut self, addr: u64) {
        let Some(next) = self.map.get(&addr) else {
            return;
        };
        let Some(prev) = self.containing(addr.wrapping_sub(1)) else {
            return;
        };
        if addr == 0 || !prev.mergeable_with(next) {
            return;
        }
        let prev_start = prev.start;
        let next = self.map.remove(&addr).expect("present above");
        if let Some(p) = self.map.get_mut(&prev_start) {
            p.len += next.len;
        }
    }

    /// A free range of `len` bytes: the highest one ending at or below `below` and
    /// starting at or above [`MMAP_MIN_ADDR`]; failing that, the lowest one starting at or
    /// above `below` and ending at or below `limit`.
    pub(crate) fn find_free(&self, len: u64, below: u64, limit: u64) -> Option<u64> {
        let below = below.min(limit);
        // Top-down below `below`.
        let mut hi = below;
        for v in self.map.range(..below).rev().map(|(_, v)| v) {
            let end = v.end();
            if end < hi && hi - end >= len {
                return Some(hi - len);
            }
            hi = hi.min(v.start);
            if hi < MMAP_MIN_ADDR.saturating_add(len) {
                break;
            }
        }
        if hi >= MMAP_MIN_ADDR && hi - MMAP_MIN_ADDR >= len {
            return Some(hi - len);
        }
        // Bottom-up from `below`.
        let mut lo = below.max(MMAP_MIN_ADDR);
        if let Some(v) = self.containing(lo) {
            lo = v.end();
        }
        for v in self.map.range(lo..).map(|(_, v)| v) {
            let gap_end = v.start.min(limit);
            if gap_end >= lo && gap_end - lo >= len {
                return Some(lo);
            }
            lo = v.end();
            if lo >= limit {
                return None;
            }
        }
        (limit > lo && limit - lo >= len).then_some(lo)
    }

    /// `/proc/self/maps` text for all areas.
    pub(crate) fn maps_text(&self) -> String {
        let mut s = String::new();
        for v in self.map.values() {
            v.write_maps_line(&mut s);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(start: u64, len: u64, prot: Prot) -> Vma {
        Vma {
            start,
            len,
            prot,
            shared: false,
            flags: 0,
            kind: VmaKind::Anon,
        }
    }

    #[test]
    fn split_merge_and_remove() {
        let mut m = VmaMap::default();
        m.insert(anon(0x10000, 0x4000, Prot::RW));
        m.insert(anon(0x14000, 0x1000, Prot::RW));
        assert_eq!(m.iter().count(), 1, "adjacent compatible areas merge");
        m.set_prot(0x11000, 0x12000, Prot::READ);
        assert_eq!(m.iter().count(), 3);
        m.set_prot(0x11000, 0x12000, Prot::RW);
        assert_eq!(m.iter().count(), 1, "restoring the protection merges again");
        let removed = m.remove_range(0x12000, 0x13000);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].start, 0x12000);
        let v: Vec<_> = m.iter().map(|v| (v.start, v.len)).collect();
        assert_eq!(v, vec![(0x10000, 0x2000), (0x13000, 0x2000)]);
        assert!(m.overlaps(0x11fff, 0x12001));
        assert!(!m.overlaps(0x12000, 0x13000));
        assert_eq!(m.first_gap(0x10000, 0x15000, None), Some(0x12000));
    }

    #[test]
    fn file_split_adjusts_offset() {
        let mut m = VmaMap::default();
        let mut v = anon(0x20000, 0x3000, Prot::READ);
        v.kind = VmaKind::File {
            path: "/f".into(),
            offset: 0x1000,
            dev: 1,
            inode: 2,
        };
        m.insert(v);
        m.split_at(0x21000);
        match &m.containing(0x21000).unwrap().kind {
            VmaKind::File { offset, .. } => assert_eq!(*offset, 0x2000),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn find_free_top_down_then_up() {
        let mut m = VmaMap::default();
        m.insert(anon(0x7000_0000, 0x1000_0000, Prot::RW));
        assert_eq!(m.find_free(0x1000, 0x8000_0000, 1 << 32), Some(0x6fff_f000));
        assert_eq!(
            m.find_free(0x8000_0000, 0x8000_0000, 1 << 32),
            Some(0x8000_0000)
        );
        assert_eq!(m.find_free(1 << 33, 0x8000_0000, 1 << 32), None);
    }
}
