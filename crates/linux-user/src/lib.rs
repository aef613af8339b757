//! The Linux user-mode personality.
//!
//! Loads static x86-64 ELF programs, builds the initial stack (argv, envp, auxv), and
//! emulates Linux system calls on behalf of the guest, translating between guest memory
//! and the host kernel. It knows nothing of translation or of the CPU beyond the syscall
//! register convention.
