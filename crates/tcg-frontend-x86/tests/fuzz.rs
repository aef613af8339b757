//! Robustness: random bytes and mutated real code must translate to verified IR (never a
//! panic), and one block of it must execute in the interpreter without escaping the guest
//! memory it is given.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tcg_frontend_x86::{translate_block, CpuModel, TranslateConfig, X86State};

fn run_one(code: &[u8], cfg: &TranslateConfig, rng: &mut StdRng) {
    let pc = 0x1000u64;
    let mut fetch = |addr: u64, buf: &mut [u8]| -> usize {
        let off = addr.wrapping_sub(pc) as usize;
        if off >= code.len() {
            return 0;
        }
        let n = (code.len() - off).min(buf.len());
        buf[..n].copy_from_slice(&code[off..off + n]);
        n
    };
    let block = translate_block(pc, &mut fetch, cfg);
    if let Err(e) = tcg::verify(&block) {
        panic!("{e} for {code:02x?}\n{block}");
    }
    let mut mem = vec![0u8; 0x10000];
    rng.fill(&mut mem[..]);
    let mut s = X86State::new();
    for r in s.regs.iter_mut() {
        *r = rng.gen_range(0..0x10000);
    }
    // A huge count would make rep loops long; keep it modest.
    s.regs[1] = rng.gen_range(0..64);
    s.rip = pc;
    let view = tcg::GuestMemoryView {
        base: mem.as_mut_ptr(),
        size: mem.len() as u64,
    };
    // SAFETY: `s` is a valid state, `mem` backs every guest address below its length, and
    // the frontend's helpers match their declarations.
    let _ = unsafe { tcg::interpret(&block, (&mut s as *mut X86State).cast(), view) };
}

#[test]
fn random_bytes_translate_verify_and_run() {
    let mut rng = StdRng::seed_from_u64(42);
    for model in [CpuModel::BASELINE, CpuModel::MAX] {
        let cfg = TranslateConfig {
            cpu: model,
            ..TranslateConfig::default()
        };
        for _ in 0..20_000 {
            let len = rng.gen_range(1..48);
            let mut code: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            // Bias towards common prefixes and opcode maps.
            if rng.gen_bool(0.3) {
                code.insert(
                    0,
                    [0x0f, 0x66, 0xf3, 0xf2, 0x48, 0x4c, 0xf0][rng.gen_range(0..7)],
                );
            }
            // And towards the SSSE3/SSE4 (0f 38, 0f 3a) and x87 (d8..df) opcode maps.
            if rng.gen_bool(0.2) {
                let esc: &[u8] = [
                    &[0x66, 0x0f, 0x38][..],
                    &[0x66, 0x0f, 0x3a],
                    &[0xf2, 0x0f, 0x38],
                    &[0xd9],
                    &[0xdd],
                ][rng.gen_range(0..5)];
                code.splice(0..0, esc.iter().copied());
            }
            run_one(&code, &cfg, &mut rng);
        }
    }
}
