//! Host functions called from translated code, and their `tcg::Helper` descriptors.

use std::sync::LazyLock;

use tcg::{Helper, HelperFlags, Type};

use crate::state::{cc, cc_compute_all, flags, X86State};
use crate::{fold_host_fp_flags, CpuModel};

const PURE: HelperFlags = HelperFlags {
    reads_state: false,
    writes_state: false,
    pure: true,
};
const RW_STATE: HelperFlags = HelperFlags {
    reads_state: true,
    writes_state: true,
    pure: false,
};
const NONE: HelperFlags = HelperFlags {
    reads_state: false,
    writes_state: false,
    pure: false,
};

const I64X: [Type; 6] = [Type::I64; 6];

macro_rules! helper {
    ($(#[$m:meta])* $name:ident, $f:path, $n:expr, $flags:expr) => {
        $(#[$m])*
        pub(crate) static $name: LazyLock<Helper> = LazyLock::new(|| Helper {
            name: stringify!($f),
            addr: $f as *const () as usize,
            args: &I64X[..$n],
            ret: Some(Type::I64),
            flags: $flags,
        });
    };
}

/// Reborrows `env` as the CPU state.
///
/// # Safety
/// `env` must be the `env` pointer translated code runs with: a valid, exclusively used
/// `X86State`.
unsafe fn state<'a>(env: u64) -> &'a mut X86State {
    // SAFETY: guaranteed by the caller.
    unsafe { &mut *(env as usize as *mut X86State) }
}

extern "C" fn h_cc_compute_all(op: u64, dst: u64, src: u64, src2: u64) -> u64 {
    cc_compute_all(op, dst, src, src2)
}
helper!(
    /// `cc_compute_all(cc_op, dst, src, src2) -> flags` (pure).
    CC_COMPUTE_ALL, h_cc_compute_all, 4, PURE
);

/// `div`/`idiv`: `kind` = operand bytes | 0x100 if signed. Returns 1 on #DE (state unchanged).
extern "C" fn h_div(env: u64, divisor: u64, kind: u64) -> u64 {
    // SAFETY: translated code passes its `env`.
    let s = unsafe { state(env) };
    let size = (kind & 0xff) as u32;
    let signed = kind & 0x100 != 0;
    let bits = size * 8;
    let (rax, rdx) = (s.regs[0], s.regs[2]);
    let mask: u128 = if bits == 64 {
        u64::MAX as u128
    } else {
        (1u128 << bits) - 1
    };
    let dividend: u128 = match size {
        1 => (rax & 0xffff) as u128,
        _ => (((rdx as u128) & mask) << bits) | ((rax as u128) & mask),
    };
    let dbits = if size == 1 { 16 } else { 2 * bits };
    let d = (divisor as u128) & mask;
    if d == 0 {
        return 1;
    }
    let (q, r) = if signed {
        let sx = |v: u128, b: u32| ((v << (128 - b)) as i128) >> (128 - b);
        let n = sx(dividend, dbits);
        let dv = sx(d, bits);
        // n fits in 128 bits with dbits <= 128; i128::MIN / -1 cannot occur since dbits <= 128
        // and only a 128-bit dividend reaches i128::MIN: check explicitly.
        if n == i128::MIN && dv == -1 {
            return 1;
        }
        let (q, r) = (n / dv, n % dv);
        let lim = 1i128 << (bits - 1);
        if q >= lim || q < -lim {
            return 1;
        }
        (q as u128 & mask, r as u128 & mask)
    } else {
        let q = dividend / d;
        if q > mask {
            return 1;
        }
        (q, dividend % d)
    };
    let (q, r) = (q as u64, r as u64);
    match size {
        1 => s.regs[0] = (rax & !0xffff) | (r << 8) | q,
        2 => {
            s.regs[0] = (rax & !0xffff) | q;
            s.regs[2] = (rdx & !0xffff) | r;
        }
        4 => {
            s.regs[0] = q;
            s.regs[2] = r;
        }
        _ => {
            s.regs[0] = q;
            s.regs[2] = r;
        }
    }
    0
}
helper!(
    /// `div(env, divisor, kind) -> 1 on #DE`.
    DIV, h_div, 3, RW_STATE
);

/// `rcl`/`rcr`: `kind` = operand bytes | 0x100 for rcr. Reads the flags from the state's
/// lazy fields (cc_op must be stored) and, for a nonzero count, writes them back as EFLAGS.
extern "C" fn h_rcx(env: u64, val: u64, count: u64, kind: u64) -> u64 {
    // SAFETY: translated code passes its `env`.
    let s = unsafe { state(env) };
    let size = (kind & 0xff) as u32;
    let right = kind & 0x100 != 0;
    let bits = size * 8;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let c = (count & if bits == 64 { 0x3f } else { 0x1f }) as u32;
    let n = match bits {
        8 => c % 9,
        16 => c % 17,
        _ => c,
    };
    let f = cc_compute_all(s.cc_op, s.cc_dst, s.cc_src, s.cc_src2);
    let v = val & mask;
    if c == 0 {
        return v;
    }
    // Work in bits + 1 wide arithmetic (at most 65 bits: u128).
    let w = bits + 1;
    let wmask = (1u128 << w) - 1;
    let x = (v as u128) | (((f & flags::CF) as u128) << bits);
    let n = n % w;
    let r = if n == 0 {
        x
    } else if right {
        ((x >> n) | (x << (w - n))) & wmask
    } else {
        ((x << n) | (x >> (w - n))) & wmask
    };
    let res = (r as u64) & mask;
    let cf = ((r >> bits) & 1) as u64;
    let msb = |x: u64| (x >> (bits - 1)) & 1;
    let of = if right {
        msb(res) ^ ((res >> (bits - 2)) & 1)
    } else {
        msb(res) ^ cf
    };
    s.cc_src = (f & !(flags::CF | flags::OF)) | cf | (of << 11);
    s.cc_op = cc::EFLAGS;
    res
}
helper!(
    /// `rcx(env, val, count, kind) -> result` (rcl/rcr).
    RCX, h_rcx, 4, RW_STATE
);

fn put_str(regs: [&mut u32; 4], s: &[u8; 16]) {
    for (i, r) in regs.into_iter().enumerate() {
        *r = u32::from_le_bytes(s[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    }
}

/// The cpuid result for `leaf`/`subleaf` under `model`: (eax, ebx, ecx, edx).
pub fn cpuid(model: &CpuModel, leaf: u32, _subleaf: u32) -> (u32, u32, u32, u32) {
    let vendor = b"AuthenticAMD";
    let w = |i: usize| u32::from_le_bytes(vendor[i..i + 4].try_into().expect("4 bytes"));
    match leaf {
        0 => (7, w(0), w(8), w(4)),
        1 => {
            // Family 6 model 0x0f stepping 1 (family in eax[11:8]).
            let eax = 0x0000_06f1;
            let ebx = 8 << 8; // clflush line size 64 bytes, one logical processor
            let mut ecx = 0u32;
            for (on, bit) in [
                (model.sse3, 0),
                (model.pclmul, 1),
                (model.ssse3, 9),
                (model.cx16, 13),
                (model.sse41, 19),
                (model.sse42, 20),
                (model.popcnt, 23),
                (model.aes, 25),
            ] {
                if on {
                    ecx |= 1 << bit;
                }
            }
            // FPU, TSC, CX8, CMOV, MMX, FXSR, SSE, SSE2.
            let edx = (1 << 0) | (1 << 4) | (1 << 8) | (1 << 15) | (1 << 23) | (1 << 24);
            (eax, ebx, ecx, edx | (1 << 25) | (1 << 26))
        }
        7 => {
            let ebx = if model.bmi1 { 1 << 3 } else { 0 };
            (0, ebx, 0, 0)
        }
        0x8000_0000 => (0x8000_0008, w(0), w(8), w(4)),
        0x8000_0001 => {
            let mut ecx = 1; // LAHF/SAHF in 64-bit mode
            if model.lzcnt {
                ecx |= 1 << 5;
            }
            let mut edx = (1 << 11) | (1 << 20) | (1 << 29); // SYSCALL, NX, LM
            if model.rdtscp {
                edx |= 1 << 27;
            }
            (0x0000_06f1, 0, ecx, edx)
        }
        0x8000_0002..=0x8000_0004 => {
            let name: &[u8] = if model.aes && model.pclmul {
                b"emu x86-64 TCG CPU (max)"
            } else if model.sse42 {
                b"emu x86-64 TCG CPU (x86-64-v2)"
            } else {
                b"emu x86-64 TCG CPU (baseline)"
            };
            let mut brand = [0u8; 48];
            brand[..name.len()].copy_from_slice(name);
            let i = (leaf - 0x8000_0002) as usize * 16;
            let mut r = (0, 0, 0, 0);
            put_str(
                [&mut r.0, &mut r.1, &mut r.2, &mut r.3],
                brand[i..i + 16].try_into().expect("16 bytes"),
            );
            r
        }
        // L1: 32 KiB 8-way data and instruction caches, 64-byte lines.
        0x8000_0005 => (0, 0, 0x2008_0140, 0x2008_0140),
        // L2 512 KiB 8-way, L3 8 MiB 16-way (in 512 KiB units), 64-byte lines.
        0x8000_0006 => (0, 0, 0x0200_6140, 0x0040_8140),
        0x8000_0008 => (0x3030, 0, 0, 0),
        _ => (0, 0, 0, 0),
    }
}

extern "C" fn h_cpuid(env: u64, model: u64) -> u64 {
    // SAFETY: translated code passes its `env`.
    let s = unsafe { state(env) };
    let m = CpuModel::from_bits(model);
    let (a, b, c, d) = cpuid(&m, s.regs[0] as u32, s.regs[1] as u32);
    s.regs[0] = u64::from(a);
    s.regs[3] = u64::from(b);
    s.regs[1] = u64::from(c);
    s.regs[2] = u64::from(d);
    0
}
helper!(
    /// `cpuid(env, model_bits)`.
    CPUID, h_cpuid, 2, RW_STATE
);

extern "C" fn h_rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86-64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}
helper!(
    /// `rdtsc() -> tsc`.
    RDTSC, h_rdtsc, 0, NONE
);

/// Runs a floating-point helper on the state with the guest's exception flags all in
/// `mxcsr` (see [`crate::host_fp`]), and drops what the helper's own host float arithmetic
/// raised.
fn with_guest_fp_flags(st: &mut X86State, f: impl FnOnce(&mut X86State) -> u64) -> u64 {
    fold_host_fp_flags(st);
    let r = f(st);
    crate::discard_host_fp_flags();
    r
}

extern "C" fn h_sse(env: u64, op: u64, d: u64, s: u64, imm: u64) -> u64 {
    // SAFETY: translated code passes its `env`.
    let st = unsafe { state(env) };
    with_guest_fp_flags(st, |st| {
        crate::sse_impl::exec(st, op as u32, d as usize, s as usize, imm)
    })
}
helper!(
    /// `sse(env, op, dst, src, imm) -> value` (SSE/SSE2 ops on the xmm registers). It touches
    /// only registers `dst` and `src`, which its caller syncs itself
    /// ([`crate::translate::Tr::sse_call_dyn`]), MXCSR and the mm registers, none of them
    /// globals: declared as touching no global state.
    SSE, h_sse, 5, NONE
);

extern "C" fn h_x87(env: u64, op: u64, arg: u64) -> u64 {
    // SAFETY: translated code passes its `env`.
    let st = unsafe { state(env) };
    with_guest_fp_flags(st, |st| crate::x87::exec(st, op, arg))
}
helper!(
    /// `x87(env, op, arg) -> value` (x87 instructions on the soft-float register stack).
    X87, h_x87, 3, RW_STATE
);

extern "C" fn h_x87_mem(env: u64, op: u64, addr: u64) -> u64 {
    // SAFETY: translated code passes its `env`.
    let st = unsafe { state(env) };
    with_guest_fp_flags(st, |st| crate::x87::exec_mem(st, op, addr))
}
helper!(
    /// `x87_mem(env, op, addr) -> 0 | 1 (#PF) | 2 (#GP)`: fxsave/fxrstor/fnstenv/fldenv on
    /// guest memory through `guest_base`/`guest_size`.
    X87_MEM, h_x87_mem, 3, RW_STATE
);

extern "C" fn h_sse_ext(env: u64, op: u64, d: u64, s: u64, imm: u64) -> u64 {
    // SAFETY: translated code passes its `env`.
    let st = unsafe { state(env) };
    with_guest_fp_flags(st, |st| {
        crate::sse_ext_impl::exec(st, op as u32, d as usize, s as usize, imm)
    })
}

extern "C" fn h_fold_fp_flags(env: u64) -> u64 {
    // SAFETY: translated code passes its `env`.
    fold_host_fp_flags(unsafe { state(env) });
    0
}
helper!(
    /// `fold_fp_flags(env)`: moves the host's MXCSR exception flags into the state's (see
    /// [`crate::host_fp`]), before `stmxcsr` reads or `ldmxcsr` writes it. MXCSR is no
    /// global: declared as touching no global state.
    FOLD_FP_FLAGS, h_fold_fp_flags, 1, NONE
);
helper!(
    /// `sse_ext(env, op, dst, src, imm) -> value` (SSE3..SSE4.2, AES, PCLMULQDQ), for the
    /// string compares that read and write general registers.
    SSE_EXT, h_sse_ext, 5, RW_STATE
);
helper!(
    /// [`SSE_EXT`] for the ops that touch only registers `dst`, `src` and xmm0, which the
    /// caller syncs itself ([`crate::translate::Tr::register_helper_call`]), MXCSR and the mm
    /// registers: declared as touching no global state.
    SSE_EXT_REGS, h_sse_ext, 5, NONE
);

extern "C" fn h_pcmpistri(alo: u64, ahi: u64, blo: u64, bhi: u64, imm: u64) -> u64 {
    let join = |lo: u64, hi: u64| u128::from(lo) | u128::from(hi) << 64;
    let (a, b) = (join(alo, ahi), join(blo, bhi));
    crate::host_simd::pcmpistri(a, b, imm)
        .unwrap_or_else(|| crate::sse_ext_impl::pcmpistri(a, b, imm))
}
helper!(
    /// `pcmpistri(a_lo, a_hi, b_lo, b_hi, imm) -> ecx | flags << 32` (pure: the hot string
    /// compare without a state sync).
    PCMPISTRI, h_pcmpistri, 5, PURE
);

extern "C" fn h_pshufb(lo: u64, hi: u64, mask: u64) -> u64 {
    crate::host_simd::pshufb_half(lo, hi, mask).unwrap_or_else(|| pshufb_half(lo, hi, mask))
}

/// The eight bytes `pshufb` makes from the eight mask bytes in `mask` (portable).
pub(crate) fn pshufb_half(lo: u64, hi: u64, mask: u64) -> u64 {
    let src = u128::from(lo) | u128::from(hi) << 64;
    (0..8).fold(0, |acc, i| {
        let m = mask >> (8 * i) & 0xff;
        let byte = (src >> (8 * (m & 15))) as u64 & 0xff;
        // Bit 7 of the mask byte selects zero.
        let keep = (m >> 7 ^ 1).wrapping_neg();
        acc | (byte & keep) << (8 * i)
    })
}
helper!(
    /// `pshufb_half(src_lo, src_hi, mask) -> result`: the eight result bytes `pshufb` makes
    /// from the eight mask bytes in `mask` (pure).
    PSHUFB, h_pshufb, 3, PURE
);

extern "C" fn h_crc32c(crc: u64, data: u64, size: u64) -> u64 {
    u64::from(crate::sse_ext_impl::crc32c(crc as u32, data, size as u32))
}
helper!(
    /// `crc32c(crc, data, bytes) -> crc` (the SSE4.2 `crc32` instruction; pure).
    CRC32C, h_crc32c, 3, PURE
);
