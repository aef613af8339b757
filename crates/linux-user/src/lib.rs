//! The Linux user-mode personality.
//!
//! Loads static x86-64 ELF programs, builds the initial stack (argv, envp, auxv), and
//! emulates Linux system calls on behalf of the guest, translating between guest memory
//! and the host kernel. It knows nothing of translation or of the CPU beyond the syscall
//! register convention.
//!
//! - [`load_elf`] maps a static executable (`ET_EXEC` or static-pie) into a
//!   [`guest_memory::GuestSpace`] and builds its stack; see [`loader`] for the layout.
//! - [`Process::syscall`] emulates one x86-64 syscall for a thread ([`ThreadCtx`]) and
//!   tells the vCPU loop what to do next ([`SyscallOutcome`]).
//!
//! # Host requirements
//!
//! Linux hosts with 4 KiB pages, 64-bit, little-endian (x86-64, aarch64, riscv64).
//! Structures whose layout differs between architectures (`stat`, `statfs`, `flock`,
//! `sigaction`, timespecs, `rusage`, `sysinfo`, open flags) are converted explicitly;
//! a few arch-independent ones (`dirent64`, `pollfd`, `fd_set`, `termios`, `siginfo_t`)
//! and futex words are handed to the host kernel as they are, which is wrong on a
//! big-endian host (s390x): that port is future work.

pub mod abi;
pub mod elf;
mod exec;
mod fs;
mod host;
pub mod loader;
pub mod nr;
mod process;
pub mod strace;
mod sysproc;

pub use elf::LoadError;
pub use exec::{thread_name_for, ExecRequest, ExecTarget};
pub use host::{cpu_count as host_cpu_count, take_inherited_signal_state};
pub use loader::{load_elf, LoadedProgram};
pub use process::{
    AltStack, CloneRequest, GuestSigaction, Process, ProcessConfig, SyscallOutcome, ThreadCtx,
    PATH_MAX,
};
pub use sysproc::clone_flags;

#[cfg(test)]
mod tests;
