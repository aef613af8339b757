//! Page protections and access kinds.

use crate::consts::{PROT_EXEC, PROT_READ, PROT_WRITE};
use std::ops::BitOr;

/// Guest page protection: a combination of read, write and execute.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Prot(u32);

impl Prot {
    /// No access.
    pub const NONE: Prot = Prot(0);
    /// Readable.
    pub const READ: Prot = Prot(PROT_READ);
    /// Writable.
    pub const WRITE: Prot = Prot(PROT_WRITE);
    /// Executable.
    pub const EXEC: Prot = Prot(PROT_EXEC);
    /// Readable and writable.
    pub const RW: Prot = Prot(PROT_READ | PROT_WRITE);
    /// Readable and executable.
    pub const RX: Prot = Prot(PROT_READ | PROT_EXEC);
    /// Readable, writable and executable.
    pub const RWX: Prot = Prot(PROT_READ | PROT_WRITE | PROT_EXEC);

    /// The protection made of the read/write/exec bits of a guest `PROT_*` value; other
    /// bits are dropped.
    pub const fn from_bits_truncate(bits: u32) -> Prot {
        Prot(bits & (PROT_READ | PROT_WRITE | PROT_EXEC))
    }

    /// The guest `PROT_*` bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether pages with this protection allow `access` on an x86-64 guest.
    ///
    /// x86 page tables cannot express write-only or execute-only pages, so any
    /// protection other than `PROT_NONE` is readable (as on Linux/x86-64 without
    /// protection keys).
    pub const fn allows(self, access: Access) -> bool {
        match access {
            Access::Read => self.0 != 0,
            Access::Write => self.0 & PROT_WRITE != 0,
            Access::Exec => self.0 & PROT_EXEC != 0,
        }
    }

    /// The host `mmap`/`mprotect` protection for guest pages with this protection.
    ///
    /// Guest code never runs natively, so host pages are never executable; readability
    /// follows [`Prot::allows`].
    pub(crate) fn host(self) -> libc::c_int {
        if self.0 & PROT_WRITE != 0 {
            libc::PROT_READ | libc::PROT_WRITE
        } else if self.0 != 0 {
            libc::PROT_READ
        } else {
            libc::PROT_NONE
        }
    }
}

impl BitOr for Prot {
    type Output = Prot;
    fn bitor(self, rhs: Prot) -> Prot {
        Prot(self.0 | rhs.0)
    }
}

/// The kind of access a checked guest access needs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Access {
    /// Reading data.
    Read,
    /// Writing data.
    Write,
    /// Fetching instructions.
    Exec,
}
