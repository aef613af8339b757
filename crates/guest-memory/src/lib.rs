//! The guest address space.
//!
//! Reserves one host region at start-up and places every guest mapping inside it, so that
//! no guest address, however crafted, reaches emulator memory. Owns the page map
//! (protections, which pages hold translated code) and the checked accessors the emulator
//! itself uses to read and write guest memory.
