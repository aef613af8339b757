//! The intermediate representation between guest frontends and host backends.
//!
//! A TCG-style IR (after QEMU's Tiny Code Generator): typed temporaries, globals that name
//! fields of the guest CPU state, labels and branches inside one block, guest memory
//! accesses, atomics, helper calls, `insn_start` markers back to guest pcs and block exits.
//! This crate owns the IR's data types, its printer (`-d op`) and its verifier. It knows
//! nothing of x86 or of any host: frontends and backends meet only here.
