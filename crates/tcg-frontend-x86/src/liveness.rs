//! Which arithmetic flags a later instruction of the block may still read: the translator
//! skips computing the others (the carry an `inc` keeps, the flags of a shift by `cl`, the
//! flags a rotate or `bt` leaves alone) when nothing reads them before they are written again.
//!
//! The analysis is conservative. Only instructions of [`is_simple`] are looked through: they
//! neither leave the block nor raise an exception other than a memory fault (after which
//! the guest state is imprecise anyway, see the crate docs). Any other instruction, and the
//! end of the block, count as reading every flag. A simple instruction kills the flags it
//! always writes, defined or undefined (a program cannot read an undefined flag); a shift or
//! rotate whose count may be zero kills none.

use iced_x86::{Instruction, Mnemonic as M, OpKind, RflagsBits};

use crate::state::flags;

/// All six arithmetic flags, in RFLAGS positions.
pub(crate) const ALL: u64 = flags::OSZAPC;

/// iced's flag bits to RFLAGS positions.
fn from_iced(b: u32) -> u64 {
    let mut f = 0;
    for (i, x) in [
        (RflagsBits::CF, flags::CF),
        (RflagsBits::PF, flags::PF),
        (RflagsBits::AF, flags::AF),
        (RflagsBits::ZF, flags::ZF),
        (RflagsBits::SF, flags::SF),
        (RflagsBits::OF, flags::OF),
    ] {
        if b & i != 0 {
            f |= x;
        }
    }
    f
}

/// Instructions whose translation has no exit of its own and whose flag effects iced
/// describes exactly (up to the zero-count shifts handled in [`kills`]).
fn is_simple(ins: &Instruction) -> bool {
    if ins.has_lock_prefix() || ins.has_rep_prefix() || ins.has_repne_prefix() {
        return false;
    }
    // General registers, memory and immediates only (no segment or other special registers).
    if (0..ins.op_count())
        .any(|i| ins.op_kind(i) == OpKind::Register && !ins.op_register(i).is_gpr())
    {
        return false;
    }
    matches!(
        ins.mnemonic(),
        M::Mov
            | M::Movzx
            | M::Movsx
            | M::Movsxd
            | M::Lea
            | M::Add
            | M::Sub
            | M::And
            | M::Or
            | M::Xor
            | M::Cmp
            | M::Test
            | M::Inc
            | M::Dec
            | M::Neg
            | M::Not
            | M::Adc
            | M::Sbb
            | M::Shl
            | M::Sal
            | M::Shr
            | M::Sar
            | M::Rol
            | M::Ror
            | M::Imul
            | M::Push
            | M::Pop
            | M::Bswap
            | M::Cdqe
            | M::Cwde
            | M::Cdq
            | M::Cqo
            | M::Nop
            | M::Bt
            | M::Bsf
            | M::Bsr
            | M::Tzcnt
            | M::Lzcnt
            | M::Popcnt
            | M::Cmovo
            | M::Cmovno
            | M::Cmovb
            | M::Cmovae
            | M::Cmove
            | M::Cmovne
            | M::Cmovbe
            | M::Cmova
            | M::Cmovs
            | M::Cmovns
            | M::Cmovp
            | M::Cmovnp
            | M::Cmovl
            | M::Cmovge
            | M::Cmovle
            | M::Cmovg
            | M::Seto
            | M::Setno
            | M::Setb
            | M::Setae
            | M::Sete
            | M::Setne
            | M::Setbe
            | M::Seta
            | M::Sets
            | M::Setns
            | M::Setp
            | M::Setnp
            | M::Setl
            | M::Setge
            | M::Setle
            | M::Setg
    )
}

/// The flags `ins` (simple) certainly writes.
fn kills(ins: &Instruction) -> u64 {
    let shifts = matches!(
        ins.mnemonic(),
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror
    );
    if shifts {
        // A count of zero (after masking) leaves every flag as it was.
        let k = ins.op_kind(1);
        if !matches!(k, OpKind::Immediate8) {
            return 0;
        }
        let m = if ins.op0_register().size() == 8 || ins.memory_size().size() == 8 {
            63
        } else {
            31
        };
        if ins.immediate8() as u64 & m == 0 {
            return 0;
        }
    }
    from_iced(ins.rflags_modified())
}

/// For each instruction of a block (in order, the last one ending it), the flags that may
/// be read after it.
pub(crate) fn live_out(insns: &[Instruction]) -> Vec<u64> {
    let mut out = vec![ALL; insns.len()];
    let mut live = ALL;
    for (i, ins) in insns.iter().enumerate().rev() {
        out[i] = live;
        if is_simple(ins) {
            live = (live & !kills(ins)) | from_iced(ins.rflags_read());
        } else if !is_followed_jump(ins, insns.get(i + 1)) {
            live = ALL;
        }
    }
    out
}

/// If the code that starts with `insns` overwrites every flag before reading any (and
/// before leaving that code), the end of the instruction that completes it: a jump there
/// need not leave the flags in the state.
pub(crate) fn flags_dead_at(insns: impl IntoIterator<Item = Instruction>) -> Option<u64> {
    let mut killed = 0;
    for ins in insns {
        if !is_simple(&ins) || from_iced(ins.rflags_read()) & !killed != 0 {
            return None;
        }
        killed |= kills(&ins);
        if killed == ALL {
            return Some(ins.next_ip());
        }
    }
    None
}

/// True for a direct `jmp` to the next instruction of the block (the block followed it: it
/// translates to nothing).
fn is_followed_jump(ins: &Instruction, next: Option<&Instruction>) -> bool {
    crate::translate::direct_jump_target(ins).is_some_and(|t| next.is_some_and(|n| n.ip() == t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    fn decode(bytes: &[u8]) -> Vec<Instruction> {
        Decoder::with_ip(64, bytes, 0x1000, DecoderOptions::NONE)
            .into_iter()
            .collect()
    }

    #[test]
    fn flags_overwritten_before_any_read_are_dead() {
        // inc eax; cmp eax, ebx; jne
        let v = live_out(&decode(&[0xff, 0xc0, 0x39, 0xd8, 0x75, 0x00]));
        assert_eq!(v[0], 0, "cmp overwrites every flag inc leaves");
        assert_eq!(v[1], ALL, "the jcc ends the block");
        assert_eq!(v[2], ALL);
    }

    #[test]
    fn readers_and_partial_writers_keep_flags_live() {
        // inc eax; adc ebx, ecx; jmp
        let v = live_out(&decode(&[0xff, 0xc0, 0x11, 0xcb, 0xeb, 0x00]));
        assert_eq!(v[0], flags::CF, "adc reads the carry inc kept");
        // add eax, ebx; inc ecx; jmp: inc does not write CF.
        let v = live_out(&decode(&[0x01, 0xd8, 0xff, 0xc1, 0xeb, 0x00]));
        assert_eq!(v[0], flags::CF);
    }

    #[test]
    fn shifts_that_may_not_write_kill_nothing() {
        // shl eax, cl; shl eax, 0 (encoded with imm 0x20: masked to 0); add; jmp
        let v = live_out(&decode(&[
            0xd3, 0xe0, 0xc1, 0xe0, 0x20, 0x01, 0xd8, 0xeb, 0x00,
        ]));
        assert_eq!(v[0], 0, "add overwrites all; the zero shift writes nothing");
        // shl eax, cl; jmp
        let v = live_out(&decode(&[0xd3, 0xe0, 0xeb, 0x00]));
        assert_eq!(v[0], ALL);
        // shl eax, cl; shl eax, 3; jmp: the immediate shift kills all six.
        let v = live_out(&decode(&[0xd3, 0xe0, 0xc1, 0xe0, 0x03, 0xeb, 0x00]));
        assert_eq!(v[0], 0);
    }

    #[test]
    fn flags_are_dead_where_code_overwrites_them_all_first() {
        // mov eax, ebx; cmp eax, ecx; (jne)
        let code = [0x89, 0xd8, 0x39, 0xc8, 0x75, 0x00];
        assert_eq!(flags_dead_at(decode(&code)), Some(0x1004));
        // inc eax (keeps CF); add eax, ebx
        assert_eq!(
            flags_dead_at(decode(&[0xff, 0xc0, 0x01, 0xd8])),
            Some(0x1004)
        );
        // inc eax; jc: the carry is read
        assert_eq!(flags_dead_at(decode(&[0xff, 0xc0, 0x72, 0x00])), None);
        // adc eax, ebx reads CF first
        assert_eq!(flags_dead_at(decode(&[0x11, 0xd8, 0x01, 0xd8])), None);
        // mov only, then the code ends: unknown
        assert_eq!(flags_dead_at(decode(&[0x89, 0xd8])), None);
        // shl eax, cl may write nothing; then a ret (leaves)
        assert_eq!(flags_dead_at(decode(&[0xd3, 0xe0, 0xc3])), None);
    }

    #[test]
    fn other_instructions_read_everything() {
        // inc eax; div ecx (may raise #DE with the flags of inc); add; jmp
        let v = live_out(&decode(&[0xff, 0xc0, 0xf7, 0xf1, 0x01, 0xd8, 0xeb, 0x00]));
        assert_eq!(v[0], ALL);
    }
}
