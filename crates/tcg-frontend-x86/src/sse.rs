//! SSE/SSE2 instructions.

use iced_x86::Instruction;

use crate::translate::{Tr, Unsupported, R};

/// Translates an SSE/SSE2 instruction, or reports it unsupported.
pub(crate) fn translate_sse(_t: &mut Tr, _ins: &Instruction) -> R {
    Err(Unsupported)
}
