//! Linux error numbers as the guest sees them.

use std::fmt;

/// A positive Linux errno value (guest numbering, which equals the host's on every
/// supported host).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $v:expr),* $(,)?) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: Errno = Errno($v);
            )*

            /// The symbolic name (`"ENOENT"`), if this is one of the named constants.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7,
    ENOEXEC = 8, EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13,
    EFAULT = 14, EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20,
    EISDIR = 21, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOTTY = 25, ETXTBSY = 26,
    EFBIG = 27, ENOSPC = 28, ESPIPE = 29, EROFS = 30, EMLINK = 31, EPIPE = 32,
    ERANGE = 34, EDEADLK = 35, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39,
    ELOOP = 40, ENODATA = 61, EOVERFLOW = 75, EOPNOTSUPP = 95, ETIMEDOUT = 110,
}

impl Errno {
    /// The errno of the last failed host call on this thread (`EIO` if there is none).
    pub fn last_host() -> Errno {
        Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    }

    /// Converts a host errno to the guest's (the identity on supported hosts).
    pub const fn from_host(e: i32) -> Errno {
        Errno(e)
    }

    /// The syscall return value Linux uses for this error: `-errno` as a `u64`.
    pub const fn to_syscall_ret(self) -> u64 {
        (-(self.0 as i64)) as u64
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = std::io::Error::from_raw_os_error(self.0);
        match self.name() {
            Some(n) => write!(f, "{n}: {msg}"),
            None => write!(f, "errno {}: {msg}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

/// A checked guest access touched memory that is not mapped with the needed access.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Efault {
    /// The first guest address of the range that could not be accessed.
    pub addr: u64,
}

impl fmt::Display for Efault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad guest address {:#x}", self.addr)
    }
}

impl std::error::Error for Efault {}

impl From<Efault> for Errno {
    fn from(_: Efault) -> Errno {
        Errno::EFAULT
    }
}
