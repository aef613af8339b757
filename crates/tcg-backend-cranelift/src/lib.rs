//! The Cranelift host backend.
//!
//! Lowers `tcg` IR to host machine code with Cranelift for any host it targets, owns the
//! code cache (regions of executable memory that are filled in batches and flushed whole),
//! emits chainable direct jumps, and maps host pcs back to guest instruction starts. It
//! knows nothing of x86 or of how blocks are looked up.
