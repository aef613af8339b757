//! The CPU model as `/proc/cpuinfo` shows it, derived from the CPUID the guest sees, so that
//! programs reading the file (instead of executing CPUID) get the same answer.

use tcg_frontend_x86::{cpuid, CpuModel};

/// Linux's names for CPUID feature bits: (leaf, register index eax=0..edx=3, bit, name).
const FLAGS: &[(u32, usize, u32, &str)] = &[
    (1, 3, 0, "fpu"),
    (1, 3, 1, "vme"),
    (1, 3, 2, "de"),
    (1, 3, 3, "pse"),
    (1, 3, 4, "tsc"),
    (1, 3, 5, "msr"),
    (1, 3, 6, "pae"),
    (1, 3, 7, "mce"),
    (1, 3, 8, "cx8"),
    (1, 3, 9, "apic"),
    (1, 3, 11, "sep"),
    (1, 3, 12, "mtrr"),
    (1, 3, 13, "pge"),
    (1, 3, 14, "mca"),
    (1, 3, 15, "cmov"),
    (1, 3, 16, "pat"),
    (1, 3, 17, "pse36"),
    (1, 3, 19, "clflush"),
    (1, 3, 23, "mmx"),
    (1, 3, 24, "fxsr"),
    (1, 3, 25, "sse"),
    (1, 3, 26, "sse2"),
    (1, 3, 28, "ht"),
    (0x8000_0001, 3, 11, "syscall"),
    (0x8000_0001, 3, 20, "nx"),
    (0x8000_0001, 3, 27, "rdtscp"),
    (0x8000_0001, 3, 29, "lm"),
    (1, 2, 0, "pni"),
    (1, 2, 1, "pclmulqdq"),
    (1, 2, 9, "ssse3"),
    (1, 2, 12, "fma"),
    (1, 2, 13, "cx16"),
    (1, 2, 19, "sse4_1"),
    (1, 2, 20, "sse4_2"),
    (1, 2, 22, "movbe"),
    (1, 2, 23, "popcnt"),
    (1, 2, 25, "aes"),
    (1, 2, 26, "xsave"),
    (1, 2, 28, "avx"),
    (1, 2, 29, "f16c"),
    (1, 2, 30, "rdrand"),
    (0x8000_0001, 2, 0, "lahf_lm"),
    (0x8000_0001, 2, 5, "abm"),
    (7, 1, 3, "bmi1"),
    (7, 1, 5, "avx2"),
    (7, 1, 8, "bmi2"),
    (7, 1, 18, "rdseed"),
    (7, 1, 19, "adx"),
    (7, 1, 29, "sha_ni"),
];

/// The space-separated `flags` line for `model`.
pub fn cpuinfo_flags(model: &CpuModel) -> String {
    let mut out: Vec<&str> = Vec::new();
    let max_leaf = cpuid(model, 0, 0).0;
    let max_ext = cpuid(model, 0x8000_0000, 0).0;
    for &(leaf, reg, bit, name) in FLAGS {
        let present = if leaf >= 0x8000_0000 {
            leaf <= max_ext
        } else {
            leaf <= max_leaf
        };
        if !present {
            continue;
        }
        let r = cpuid(model, leaf, 0);
        let v = [r.0, r.1, r.2, r.3][reg];
        if v >> bit & 1 != 0 {
            out.push(name);
        }
    }
    out.join(" ")
}

/// The `vendor_id` and `model name` lines for `model` (CPUID's vendor and brand strings).
pub fn cpuinfo_names(model: &CpuModel) -> (String, String) {
    let v = cpuid(model, 0, 0);
    let mut vendor = Vec::new();
    for r in [v.1, v.3, v.2] {
        vendor.extend_from_slice(&r.to_le_bytes());
    }
    let mut brand = Vec::new();
    if cpuid(model, 0x8000_0000, 0).0 >= 0x8000_0004 {
        for leaf in 0x8000_0002..=0x8000_0004 {
            let r = cpuid(model, leaf, 0);
            for x in [r.0, r.1, r.2, r.3] {
                brand.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    let text = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .trim_end_matches('\0')
            .trim()
            .to_string()
    };
    (text(&vendor), text(&brand))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_model() {
        let base = cpuinfo_flags(&CpuModel::BASELINE);
        assert!(base.split(' ').any(|f| f == "sse2"), "{base}");
        assert!(!base.split(' ').any(|f| f == "popcnt"), "{base}");
        let max = cpuinfo_flags(&CpuModel::MAX);
        assert!(max.split(' ').any(|f| f == "popcnt"), "{max}");
        let (vendor, name) = cpuinfo_names(&CpuModel::BASELINE);
        assert_eq!(vendor.len(), 12);
        assert!(!name.is_empty());
    }
}
