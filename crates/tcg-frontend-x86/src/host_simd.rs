//! The host's own `pcmpistri` and `pshufb` for the pure string helpers, on x86-64 hosts that
//! have SSE4.2 and SSSE3: glibc's `strcmp`, `strspn` and friends run them in their inner
//! loops, and the portable implementations ([`crate::sse_ext_impl`], [`crate::helpers`]) cost
//! several times the instruction itself. Elsewhere, or for an immediate not specialised here,
//! the callers use the portable ones (which the tests compare these with).

/// `pcmpistri` as [`crate::sse_ext_impl::pcmpistri`] returns it (ECX, then the flags from
/// bit 32), or `None` if the host cannot run it for `imm`.
#[cfg(target_arch = "x86_64")]
pub(crate) fn pcmpistri(a: u128, b: u128, imm: u64) -> Option<u64> {
    if !std::arch::is_x86_feature_detected!("sse4.2") {
        return None;
    }
    let (alo, ahi, blo, bhi) = (a as u64, (a >> 64) as u64, b as u64, (b >> 64) as u64);
    macro_rules! run {
        ($imm:literal) => {{
            let ecx: u32;
            let (cf, zf, sf, of): (u8, u8, u8, u8);
            // SAFETY: register-only instructions (the vectors are built from general
            // registers: a 16-byte load of two 8-byte stores would stall on store
            // forwarding); they write only the named registers and the arithmetic flags,
            // which the `setcc`s read. SSE4.2 was detected above.
            unsafe {
                std::arch::asm!(
                    "movq {xa}, {alo}",
                    "movq {t}, {ahi}",
                    "punpcklqdq {xa}, {t}",
                    "movq {xb}, {blo}",
                    "movq {t}, {bhi}",
                    "punpcklqdq {xb}, {t}",
                    concat!("pcmpistri {xa}, {xb}, ", $imm),
                    "setc {cf}",
                    "setz {zf}",
                    "sets {sf}",
                    "seto {of}",
                    alo = in(reg) alo,
                    ahi = in(reg) ahi,
                    blo = in(reg) blo,
                    bhi = in(reg) bhi,
                    xa = out(xmm_reg) _,
                    xb = out(xmm_reg) _,
                    t = out(xmm_reg) _,
                    cf = out(reg_byte) cf,
                    zf = out(reg_byte) zf,
                    sf = out(reg_byte) sf,
                    of = out(reg_byte) of,
                    out("ecx") ecx,
                    options(nostack, nomem, pure),
                );
            }
            // CF, ZF, SF, OF at their EFLAGS positions (pcmpistri clears AF and PF).
            let flags = u64::from(cf) | u64::from(zf) << 6 | u64::from(sf) << 7 | u64::from(of) << 11;
            Some(u64::from(ecx) | flags << 32)
        }};
    }
    // The forms glibc uses.
    match imm {
        0x1a => run!("0x1a"),
        0x3a => run!("0x3a"),
        0x12 => run!("0x12"),
        0x02 => run!("0x02"),
        0x0a => run!("0x0a"),
        0x0c => run!("0x0c"),
        _ => None,
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn pcmpistri(_a: u128, _b: u128, _imm: u64) -> Option<u64> {
    None
}

/// The eight bytes `pshufb` makes from the eight mask bytes in `mask` and the source
/// `lo`/`hi` (as [`crate::helpers`]' portable `pshufb` half), or `None` without SSSE3.
#[cfg(target_arch = "x86_64")]
pub(crate) fn pshufb_half(lo: u64, hi: u64, mask: u64) -> Option<u64> {
    if !std::arch::is_x86_feature_detected!("ssse3") {
        return None;
    }
    let out: u64;
    // SAFETY: register-only instructions (see `pcmpistri`) writing only the named
    // registers. SSSE3 was detected above.
    unsafe {
        std::arch::asm!(
            "movq {xs}, {lo}",
            "movq {t}, {hi}",
            "punpcklqdq {xs}, {t}",
            "movq {xm}, {mask}",
            "pshufb {xs}, {xm}",
            "movq {out}, {xs}",
            lo = in(reg) lo,
            hi = in(reg) hi,
            mask = in(reg) mask,
            xs = out(xmm_reg) _,
            xm = out(xmm_reg) _,
            t = out(xmm_reg) _,
            out = lateout(reg) out,
            options(nostack, nomem, pure, preserves_flags),
        );
    }
    Some(out)
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn pshufb_half(_lo: u64, _hi: u64, _mask: u64) -> Option<u64> {
    None
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// Random 16-byte strings with zero bytes now and then (the ends the compares look for).
    fn strings(n: usize) -> Vec<u128> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|_| {
                let mut b = (u128::from(next()) | u128::from(next()) << 64).to_le_bytes();
                for byte in &mut b {
                    // Few distinct values, so that equal bytes occur, and some zeros.
                    *byte = match *byte % 8 {
                        0 => 0,
                        k => b'a' + k,
                    };
                }
                u128::from_le_bytes(b)
            })
            .collect()
    }

    #[test]
    fn host_pcmpistri_matches_the_portable_one() {
        if !std::arch::is_x86_feature_detected!("sse4.2") {
            return;
        }
        let s = strings(300);
        for imm in [0x1a, 0x3a, 0x12, 0x02, 0x0a, 0x0c] {
            for (i, &a) in s.iter().enumerate() {
                let b = s[(i * 7 + 3) % s.len()];
                for (a, b) in [(a, b), (a, a), (b, a)] {
                    assert_eq!(
                        pcmpistri(a, b, imm),
                        Some(crate::sse_ext_impl::pcmpistri(a, b, imm)),
                        "imm {imm:#x} a {a:#034x} b {b:#034x}"
                    );
                }
            }
        }
        assert_eq!(
            pcmpistri(0, 0, 0x40),
            None,
            "unspecialised immediates are left"
        );
    }

    #[test]
    fn host_pshufb_matches_the_portable_one() {
        if !std::arch::is_x86_feature_detected!("ssse3") {
            return;
        }
        let s = strings(200);
        for (i, &v) in s.iter().enumerate() {
            let m = s[(i * 5 + 1) % s.len()] as u64 ^ 0x8a13_0f85_7f00_9c42;
            let (lo, hi) = (v as u64, (v >> 64) as u64);
            assert_eq!(
                pshufb_half(lo, hi, m),
                Some(crate::helpers::pshufb_half(lo, hi, m)),
                "mask {m:#018x}"
            );
        }
    }
}
