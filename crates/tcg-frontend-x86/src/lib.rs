//! The x86-64 guest frontend.
//!
//! Decodes guest code with iced-x86 and translates one block at a time (up to a branch,
//! a page end or an instruction limit) into `tcg` IR, computing condition flags lazily
//! (the operation and its operands are recorded; flags are materialised only when read).
//! It owns the guest ISA's semantics and the layout of the x86 CPU state as IR globals;
//! it knows nothing of the host, of Cranelift, or of how blocks are cached.
