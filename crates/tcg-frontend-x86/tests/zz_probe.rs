//! Temporary hardware probe (not committed).
#![cfg(target_arch = "x86_64")]
mod common;
use common::*;
use iced_x86::code_asm::*;
use tcg_frontend_x86::TranslateConfig;

fn probe(
    name: &str,
    cw: u16,
    sw: u16,
    depth: usize,
    st: &[(u64, u16)],
    body: &dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>,
) {
    let mut init = base_regs();
    init.gpr[15] = DATA + 0x100;
    let top = 3u16;
    let mut x = X87 {
        cw,
        sw: sw | top << 11,
        ..X87::default()
    };
    for (i, v) in st.iter().enumerate() {
        x.st[i] = *v;
    }
    for i in 0..depth {
        x.tw |= 1 << ((top as usize + i) & 7);
    }
    init.set_x87(&x);
    let data = vec![0u8; 0x1000];
    let s = assemble(body);
    let img = image(&data);
    let emu = run_emu(
        &s.emu,
        s.end,
        &init,
        &img,
        &TranslateConfig::default(),
        &|_| {},
    );
    let (nat, _) = run_native(&s.native, &init, &img);
    let (e, n) = (emu_x87(&emu.state), nat.x87());
    println!("{name:<28} cw {cw:#06x} in {:#06x} -> native {:#06x} emu {:#06x} {} st0 n {:x?} e {:x?} st1 n {:x?} e {:x?}", x.sw, n.sw, e.sw,
        if (n.sw ^ e.sw) & 0x477f != 0 || n.st[0] != e.st[0] { "DIFF" } else { "" }, n.st[0], e.st[0], n.st[1], e.st[1]);
}

fn f(v: f64) -> (u64, u16) {
    let b = v.to_bits();
    let sign = ((b >> 63) as u16) << 15;
    let e = ((b >> 52) & 0x7ff) as u16;
    if e == 0 {
        (0, sign)
    } else {
        (1 << 63 | (b << 11), sign | (e + 16383 - 1023))
    }
}

#[test]
fn probe_all() {
    let spec = std::env::var("PROBE").unwrap_or_default();
    let tiny = (0xa2c07cf0ef913742u64, 0x3fc9u16);
    let ntiny = (0xa2c07cf0ef913742u64, 0xbfc9u16);
    if spec.contains("tiny") {
        for cw in [0x37fu16, 0x77f, 0xb7f, 0xf7f] {
            for v in [
                (0xbb26c06435824e54u64, 0xbfc0u16),
                (0xbb26c06435824e54u64, 0x3fc0u16),
                (0xbb26c06435824e54u64, 0x3fd0u16),
                (0xbb26c06435824e54u64, 0x3fdd),
                (0xbb26c06435824e54u64, 0x3fde),
                (0xbb26c06435824e54u64, 0x3fdf),
                (0xbb26c06435824e54u64, 0x3fe0),
            ] {
                probe("fsin", cw, 0, 1, &[v], &|a| a.fsin());
                probe("fcos", cw, 0, 1, &[v], &|a| a.fcos());
                probe("fptan", cw, 0, 1, &[v], &|a| a.fptan());
                probe("f2xm1", cw, 0, 1, &[v], &|a| a.f2xm1());
            }
        }
    }
    if spec.contains("ptan") {
        for cw in [0x37fu16, 0x77f, 0xb7f, 0xf7f] {
            for sw in [0u16, 0x4700] {
                probe("fptan tiny", cw, sw, 1, &[tiny], &|a| a.fptan());
                probe("fptan -tiny", cw, sw, 1, &[ntiny], &|a| a.fptan());
                probe("fptan 1", cw, sw, 1, &[f(1.0)], &|a| a.fptan());
                probe("fptan 0.3", cw, sw, 1, &[f(0.3)], &|a| a.fptan());
                probe("fptan -0.3", cw, sw, 1, &[f(-0.3)], &|a| a.fptan());
                probe("fsin tiny", cw, sw, 1, &[tiny], &|a| a.fsin());
                probe("fsincos tiny", cw, sw, 1, &[tiny], &|a| a.fsincos());
                probe("fsincos 0.3", cw, sw, 1, &[f(0.3)], &|a| a.fsincos());
                probe("fsincos -0.3", cw, sw, 1, &[f(-0.3)], &|a| a.fsincos());
                probe("fsincos 2.5", cw, sw, 1, &[f(2.5)], &|a| a.fsincos());
                probe("fsin 0.3", cw, sw, 1, &[f(0.3)], &|a| a.fsin());
                probe("fcos 0.3", cw, sw, 1, &[f(0.3)], &|a| a.fcos());
                probe("fsin 2.5", cw, sw, 1, &[f(2.5)], &|a| a.fsin());
                probe("fcos 2.5", cw, sw, 1, &[f(2.5)], &|a| a.fcos());
            }
        }
    }
    if spec.contains("cmov") {
        for sw in [0x4700u16, 0x200] {
            probe("fcmovb uf", 0x37f, sw, 0, &[], &|a| a.fcmovb(st0, st1));
            probe("fcmovb uf1", 0x37f, sw, 1, &[f(1.0)], &|a| {
                a.fcmovb(st0, st1)
            });
            probe("fcomi uf", 0x37f, sw, 0, &[], &|a| a.fcomi(st0, st1));
            probe(
                "fcomi nan",
                0x37f,
                sw,
                2,
                &[f(1.0), (0xc000000000000000, 0xffff)],
                &|a| a.fcomi(st0, st1),
            );
            probe(
                "fucomi snan",
                0x37f,
                sw,
                2,
                &[f(1.0), (0xa000000000000000, 0xffff)],
                &|a| a.fucomi(st0, st1),
            );
            probe("fcomi ok", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| {
                a.fcomip(st0, st1)
            });
            probe("ffree", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| a.ffree(st1));
            probe("fxch", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| {
                a.fxch(st0, st1)
            });
            probe("fxch uf", 0x37f, sw, 1, &[f(1.0), f(2.0)], &|a| {
                a.fxch(st0, st1)
            });
            probe("fincstp", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| a.fincstp());
            probe("fchs", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| a.fchs());
            probe("fchs uf", 0x37f, sw, 0, &[f(1.0), f(2.0)], &|a| a.fchs());
            probe("fld1 of", 0x37f, sw, 8, &[f(1.0), f(2.0)], &|a| a.fld1());
            probe("fldpi up", 0xb7f, sw, 1, &[f(1.0), f(2.0)], &|a| a.fldpi());
            probe("fldpi", 0x37f, sw, 1, &[f(1.0), f(2.0)], &|a| a.fldpi());
            probe("fld st1", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| a.fld(st1));
            probe("fld st1 uf", 0x37f, sw, 1, &[f(1.0), f(2.0)], &|a| {
                a.fld(st1)
            });
            probe("fst st1 uf", 0x37f, sw, 0, &[f(1.0), f(2.0)], &|a| {
                a.fst(st1)
            });
            probe("fstp st1", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| {
                a.fstp(st1)
            });
            probe("fdecstp", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| a.fdecstp());
            probe("fnop", 0x37f, sw, 2, &[f(1.0), f(2.0)], &|a| a.fnop());
            probe("fxam", 0x37f, sw, 2, &[f(-1.0), f(2.0)], &|a| a.fxam());
            probe("ftst", 0x37f, sw, 2, &[f(-1.0), f(2.0)], &|a| a.ftst());
            probe("fcom uf", 0x37f, sw, 0, &[f(-1.0), f(2.0)], &|a| {
                a.fcom_2(st0, st1)
            });
            probe("f2xm1 0.3", 0x37f, sw | 0x400, 1, &[f(0.3)], &|a| a.f2xm1());
            probe("f2xm1 uf", 0x37f, sw | 0x400, 0, &[f(0.3)], &|a| a.f2xm1());
            probe("fsin uf", 0x37f, sw | 0x400, 0, &[f(0.3)], &|a| a.fsin());
            probe(
                "fsin big",
                0x37f,
                sw | 0x400,
                1,
                &[(1 << 63, 16383 + 64)],
                &|a| a.fsin(),
            );
            probe(
                "fsin nan",
                0x37f,
                sw | 0x400,
                1,
                &[(0xc000000000000000, 0xffff)],
                &|a| a.fsin(),
            );
            probe("fsincos of", 0x37f, sw | 0x400, 8, &[f(0.3)], &|a| {
                a.fsincos()
            });
            probe("fptan of", 0x37f, sw | 0x400, 8, &[f(0.3)], &|a| a.fptan());
            probe("fsincos uf", 0x37f, sw | 0x400, 0, &[f(0.3)], &|a| {
                a.fsincos()
            });
            probe("fprem 0/x", 0x37f, sw | 0x400, 2, &[f(0.0), f(3.0)], &|a| {
                a.fprem()
            });
            probe(
                "fprem x/inf",
                0x37f,
                sw | 0x400,
                2,
                &[f(1.0), (1 << 63, 0x7fff)],
                &|a| a.fprem(),
            );
            probe("fprem 7/2", 0x37f, sw | 0x400, 2, &[f(7.0), f(2.0)], &|a| {
                a.fprem()
            });
            probe("fprem 1/2", 0x37f, sw | 0x400, 2, &[f(1.0), f(2.0)], &|a| {
                a.fprem()
            });
            probe(
                "fprem big",
                0x37f,
                sw | 0x400,
                2,
                &[(1 << 63, 16383 + 100), f(3.0)],
                &|a| a.fprem(),
            );
            probe("fxtract uf", 0x37f, sw | 0x400, 0, &[f(0.3)], &|a| {
                a.fxtract()
            });
            probe("fxtract of", 0x37f, sw | 0x400, 8, &[f(0.3)], &|a| {
                a.fxtract()
            });
            probe("fscale uf", 0x37f, sw | 0x400, 1, &[f(0.3)], &|a| {
                a.fscale()
            });
            probe("fyl2x uf", 0x37f, sw | 0x400, 1, &[f(0.3)], &|a| a.fyl2x());
        }
    }
}
