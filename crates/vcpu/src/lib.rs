//! The guest CPU and its execution loop.
//!
//! Owns the x86-64 CPU state (general registers, rip, lazy flags, fs/gs base, xmm, mxcsr,
//! x87) and the per-vCPU loop: look a block up or translate it, run it, and handle the
//! reason it returned (syscall, exception, exit request, halt). One host thread runs one
//! vCPU; everything a vCPU shares with others goes through `tb-cache` and `guest-memory`.
