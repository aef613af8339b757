//! The guest's SSE exception flags while its float arithmetic runs as the host's own SSE.
//!
//! On an x86-64 host the IR's float operations compile to the SSE instructions of the same
//! name (Cranelift), and the interpreters run them as Rust float operations, which are those
//! instructions too, all under the vCPU thread's MXCSR. Its control bits stay at the default
//! (nothing here changes them), so while the guest's control bits are at the default as well,
//! these operations give x86's result for every input, NaNs and denormals included (the
//! translator's fast paths then need no guards, see [`crate::TranslateConfig::host_sse`]),
//! and raise the exceptions x86 would into the host's MXCSR flags. The guest's flags are
//! therefore the state's `mxcsr` flags ORed with the host's; [`fold_host_fp_flags`] moves the
//! host's into the state. Everything that reads or writes the guest's MXCSR folds first
//! (`stmxcsr`, `ldmxcsr`, `fxsave`, `fxrstor` and every SSE and x87 helper, which also drop
//! whatever their own host float arithmetic raised before they return), and so does whoever
//! inspects a stopped guest's state.
//!
//! Elsewhere the functions here do nothing.

use crate::X86State;

/// The exception flag bits of MXCSR (IE, DE, ZE, OE, UE, PE).
#[cfg(target_arch = "x86_64")]
const FLAGS: u32 = 0x3f;

/// Moves the exception flags raised on this thread's host MXCSR since the last fold into
/// `s.mxcsr`: with [`TranslateConfig::host_sse`](crate::TranslateConfig::host_sse) the
/// guest's float arithmetic runs as the host's SSE, whose exceptions accrue there. Whoever
/// reads or writes a running guest's MXCSR (or inspects a stopped one's state) folds first.
/// A no-op on hosts other than x86-64.
pub fn fold_host_fp_flags(s: &mut X86State) {
    s.mxcsr |= take_flags();
}

/// Clears this thread's host MXCSR exception flags: before a guest starts running on the
/// thread, and after a helper's own float arithmetic (what it raised is not the guest's).
pub fn discard_host_fp_flags() {
    take_flags();
}

/// Reads and clears the host MXCSR's exception flags.
#[cfg(target_arch = "x86_64")]
fn take_flags() -> u32 {
    let mut m: u32 = 0;
    // SAFETY: `stmxcsr` writes the 4 bytes at the address of `m`, a live local.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut m, options(nostack, preserves_flags));
    }
    let flags = m & FLAGS;
    if flags != 0 {
        let cleared = m & !FLAGS;
        // SAFETY: `ldmxcsr` reads the 4 bytes of `cleared`, a live local; it keeps every
        // control bit as it was (the default the compiler's code assumes) and clears only
        // the sticky flags, which no Rust code reads.
        unsafe {
            std::arch::asm!(
                "ldmxcsr [{}]",
                in(reg) &cleared,
                options(nostack, preserves_flags, readonly)
            );
        }
    }
    flags
}

#[cfg(not(target_arch = "x86_64"))]
fn take_flags() -> u32 {
    0
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn host_exceptions_fold_into_the_guest_flags_once() {
        discard_host_fp_flags();
        let mut s = X86State::new();
        assert_eq!(s.mxcsr, 0x1f80);
        // 1/3 is inexact (PE), 1/0 divides by zero (ZE); black_box keeps them at run time.
        let third = std::hint::black_box(1.0f64) / std::hint::black_box(3.0f64);
        let inf = std::hint::black_box(1.0f64) / std::hint::black_box(0.0f64);
        assert!(third > 0.3 && inf.is_infinite());
        fold_host_fp_flags(&mut s);
        assert_eq!(s.mxcsr, 0x1f80 | 0x20 | 0x04);
        // Folded means cleared on the host: a second fold adds nothing.
        let mut t = X86State::new();
        fold_host_fp_flags(&mut t);
        assert_eq!(t.mxcsr, 0x1f80);
    }
}
