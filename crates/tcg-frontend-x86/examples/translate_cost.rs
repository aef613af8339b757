//! Translation cost per block, outside the emulator: translates the blocks an `-d in_asm`
//! log names (from the ELF file's bytes) many times and reports the time per block of the
//! frontend and of interpreter preparation.
//!
//! `cargo run --release -p tcg-frontend-x86 --example translate_cost -- ELF IN_ASM_LOG [ROUNDS]`

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let elf = std::fs::read(&args[1]).expect("read ELF");
    let log = std::fs::read_to_string(&args[2]).expect("read log");
    let rounds: usize = args.get(3).map_or(200, |s| s.parse().unwrap());
    let segs = load_segments(&elf);
    let mut pcs = Vec::new();
    let mut next_is_start = false;
    for line in log.lines() {
        if line == "IN:" {
            next_is_start = true;
        } else if next_is_start {
            next_is_start = false;
            let hex = line.split(':').next().unwrap().trim_start_matches("0x");
            pcs.push(u64::from_str_radix(hex, 16).unwrap());
        }
    }
    let fetch = |addr: u64, buf: &mut [u8]| -> usize {
        for &(vaddr, off, len) in &segs {
            if addr >= vaddr && addr < vaddr + len {
                let n = ((vaddr + len - addr) as usize).min(buf.len());
                let start = (off + addr - vaddr) as usize;
                buf[..n].copy_from_slice(&elf[start..start + n]);
                return n;
            }
        }
        0
    };
    let cfg = tcg_frontend_x86::TranslateConfig::default();
    let t = Instant::now();
    let b = tcg_frontend_x86::translate_block(pcs[0], &mut { fetch }, &cfg);
    let t1 = Instant::now();
    let _ = tcg::Prepared::new(&b);
    println!(
        "first block: frontend {:?} prepare {:?}",
        t1 - t,
        t1.elapsed()
    );
    let (mut front, mut prep, mut insns) = (0u128, 0u128, 0u64);
    for _ in 0..rounds {
        for &pc in &pcs {
            let t0 = Instant::now();
            let block = tcg_frontend_x86::translate_block(pc, &mut { fetch }, &cfg);
            let t1 = Instant::now();
            let p = tcg::Prepared::new(&block);
            let t2 = Instant::now();
            std::hint::black_box(p.ok());
            front += (t1 - t0).as_nanos();
            prep += (t2 - t1).as_nanos();
            insns += u64::from(block.num_insns);
        }
    }
    let n = (rounds * pcs.len()) as f64;
    println!(
        "{} blocks, {:.1} insns/block: frontend {:.2} us/block, prepare {:.2} us/block",
        pcs.len(),
        insns as f64 / n,
        front as f64 / n / 1e3,
        prep as f64 / n / 1e3
    );
}

/// (vaddr, file offset, file size) of each PT_LOAD segment of a little-endian ELF64 file.
fn load_segments(elf: &[u8]) -> Vec<(u64, u64, u64)> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .filter(|&ph| u32::from_le_bytes(elf[ph..ph + 4].try_into().unwrap()) == 1)
        .map(|ph| (u64_at(ph + 16), u64_at(ph + 8), u64_at(ph + 32)))
        .collect()
}
