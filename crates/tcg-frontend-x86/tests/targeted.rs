//! Targeted tests: control flow, lazy flags across blocks, string ops, exceptions, segment
//! overrides, exit requests, fetch faults, and the shape of the generated IR.

mod common;

use common::*;
use iced_x86::code_asm::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tcg::Op;
use tcg_frontend_x86::{
    describe_unimplemented, exit, off, translate_block, vector, CpuModel, TranslateConfig,
};

/// The flags compared with the host CPU (the oracle tests need an x86-64 host).
#[cfg(target_arch = "x86_64")]
const FLAGS: u64 = 0x8d5 | 0x400;

fn cfg() -> TranslateConfig {
    TranslateConfig {
        cpu: CpuModel::MAX,
        ..TranslateConfig::default()
    }
}

/// How many of `b`'s ops `pred` holds for.
fn count_ops(b: &tcg::Block, pred: impl Fn(&Op) -> bool) -> usize {
    b.ops.iter().filter(|o| pred(o)).count()
}

fn random_data(seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut d = vec![0u8; 0x1000];
    rng.fill(&mut d[..]);
    d
}

#[cfg(target_arch = "x86_64")]
#[test]
fn loops_calls_and_lazy_flags_across_blocks() {
    // A checksum loop mixing adc chains, variable shifts (count often 0), conditional moves
    // and branches on flags produced in earlier blocks, plus call/ret and push/pop.
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut func = a.create_label();
        let mut top = a.create_label();
        let mut skip = a.create_label();
        let mut after = a.create_label();
        let mut done = a.create_label();
        a.mov(ecx, 200u32)?;
        a.xor(eax, eax)?;
        a.set_label(&mut top)?;
        a.mov(rdx, qword_ptr(r15 + rcx * 8 - 8))?;
        a.add(rax, rdx)?;
        a.adc(rbx, 0)?;
        a.jmp(after)?;
        a.set_label(&mut after)?;
        a.adc(rsi, rdx)?;
        a.mov(r8, rcx)?;
        // Counts 0 and 1 only: after a shift by more than one OF is undefined, and the `jno`
        // below reads it (cores differ: one family 6 model 167 Xeon sets it otherwise).
        a.and(r8d, 1)?;
        a.push(rcx)?;
        a.mov(ecx, r8d)?;
        a.shl(rdx, cl)?;
        a.pop(rcx)?;
        a.cmovc(r9, rdx)?;
        a.jno(skip)?;
        a.inc(r10)?;
        a.set_label(&mut skip)?;
        a.call(func)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.setb(byte_ptr(r15 + 0x800))?;
        a.jmp(done)?;
        a.set_label(&mut func)?;
        a.rcl(r11, 1)?;
        a.sbb(r12, rdx)?;
        a.ret()?;
        a.set_label(&mut done)?;
        Ok(())
    };
    for seed in 0..8 {
        let mut init = base_regs();
        let mut rng = StdRng::seed_from_u64(seed);
        for r in [3, 6, 9, 10, 11, 12] {
            init.gpr[r] = rng.gen();
        }
        init.rflags = 0x202 | (rng.gen::<u64>() & 0x8d5);
        let run = check_native(&body, &init, &random_data(seed), &cfg(), FLAGS);
        assert!(run.blocks > 200, "the loop ran {} blocks", run.blocks);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn loop_jrcxz_enter_leave_ret_imm_and_indirect() {
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut l1 = a.create_label();
        let mut z = a.create_label();
        let mut f = a.create_label();
        let mut g = a.create_label();
        let mut done = a.create_label();
        a.mov(ecx, 10u32)?;
        a.set_label(&mut l1)?;
        a.add(rax, rcx)?;
        a.loop_(l1)?;
        a.jrcxz(z)?;
        a.inc(rbx)?;
        a.set_label(&mut z)?;
        a.mov(ecx, 5u32)?;
        let mut l2 = a.create_label();
        a.set_label(&mut l2)?;
        a.inc(rdx)?;
        a.cmp(rdx, 3)?;
        a.loopne(l2)?;
        a.push(0x1234)?;
        a.call(f)?;
        a.lea(rsi, ptr(g))?;
        a.mov(qword_ptr(r15 + 0x100), rsi)?;
        a.call(qword_ptr(r15 + 0x100))?;
        a.lea(rsi, ptr(done))?;
        a.jmp(rsi)?;
        a.set_label(&mut f)?;
        a.enter(32u32, 0u32)?;
        a.mov(qword_ptr(rbp - 8), rax)?;
        a.mov(rdi, qword_ptr(rbp + 16))?;
        a.leave()?;
        a.ret_1(8)?;
        a.set_label(&mut g)?;
        a.xchg(qword_ptr(rsp), r8)?;
        a.xchg(qword_ptr(rsp), r8)?;
        a.ret()?;
        a.set_label(&mut done)?;
        Ok(())
    };
    let mut init = base_regs();
    init.gpr[5] = 0x5555;
    init.gpr[8] = 0x8888;
    check_native(&body, &init, &random_data(1), &cfg(), FLAGS);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn string_ops_all_sizes_rep_df_and_zero_count() {
    type Op = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let ops: [(&str, Op); 20] = [
        ("movsb", |a| a.movsb()),
        ("movsw", |a| a.movsw()),
        ("movsd", |a| a.movsd()),
        ("movsq", |a| a.movsq()),
        ("stosb", |a| a.stosb()),
        ("stosw", |a| a.stosw()),
        ("stosd", |a| a.stosd()),
        ("stosq", |a| a.stosq()),
        ("lodsb", |a| a.lodsb()),
        ("lodsq", |a| a.lodsq()),
        ("rep movsb", |a| a.rep().movsb()),
        ("rep movsq", |a| a.rep().movsq()),
        ("rep stosd", |a| a.rep().stosd()),
        ("rep stosb", |a| a.rep().stosb()),
        ("repe cmpsb", |a| a.repe().cmpsb()),
        ("repne cmpsw", |a| a.repne().cmpsw()),
        ("repne scasb", |a| a.repne().scasb()),
        ("repe scasd", |a| a.repe().scasd()),
        ("cmpsq", |a| a.cmpsq()),
        ("scasw", |a| a.scasw()),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    for (name, op) in ops {
        for round in 0..24 {
            let df = round % 2 == 1;
            let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
                if df {
                    a.std()?;
                }
                op(a)?;
                // Leave DF as found natively (the trampoline clears it anyway).
                a.setc(byte_ptr(r15 + 0xff0))?;
                a.setz(byte_ptr(r15 + 0xff1))?;
                Ok(())
            };
            let mut init = base_regs();
            init.gpr[0] = rng.gen();
            // rcx: 0 sometimes, else small.
            init.gpr[1] = if round % 6 == 0 {
                0
            } else {
                rng.gen_range(1..40)
            };
            init.gpr[6] = DATA + 0x400 + rng.gen_range(0..0x100);
            init.gpr[7] = DATA + 0x800 + rng.gen_range(0..0x100);
            init.rflags = 0x202 | (rng.gen::<u64>() & 0x8d5);
            let mut data = random_data(round as u64);
            // Make compares run a while: copy the source region over the destination,
            // with one random difference.
            let (src, dst) = (
                (init.gpr[6] - DATA - 0x200) as usize,
                (init.gpr[7] - DATA - 0x200) as usize,
            );
            let chunk = data[src..src + 0x300].to_vec();
            data[dst..dst + 0x300].copy_from_slice(&chunk);
            let k = dst + rng.gen_range(0..0x300);
            data[k] ^= 1;
            if name.contains("scas") {
                // Put the accumulator's low byte somewhere in the scanned range.
                let k = (init.gpr[7] - DATA) as usize - 0x20 + rng.gen_range(0..0x40);
                data[k] = init.gpr[0] as u8;
            }
            let run = std::panic::catch_unwind(|| {
                check_native(&body, &init, &data, &cfg(), FLAGS & !0x400)
            });
            assert!(run.is_ok(), "{name} round {round} (df {df}) failed");
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn division_matches_native_for_valid_inputs() {
    let mut rng = StdRng::seed_from_u64(3);
    type Op = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let ops: [(u32, bool, Op); 8] = [
        (1, false, |a| a.div(bl)),
        (2, false, |a| a.div(bx)),
        (4, false, |a| a.div(ebx)),
        (8, false, |a| a.div(rbx)),
        (1, true, |a| a.idiv(bl)),
        (2, true, |a| a.idiv(bx)),
        (4, true, |a| a.idiv(ebx)),
        (8, true, |a| a.idiv(qword_ptr(r15 + 8))),
    ];
    for (size, signed, op) in ops {
        for _ in 0..200 {
            let bits = size * 8;
            let m = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            let mut init = base_regs();
            let mut data = vec![0u8; 16];
            let divisor = loop {
                let d: u64 = rng.gen::<u64>() >> rng.gen_range(0..64);
                if d & m != 0 && !(signed && d & m == m) {
                    break d;
                }
            };
            init.gpr[3] = divisor;
            data[8..16].copy_from_slice(&divisor.to_le_bytes());
            // A dividend whose quotient fits: high part below the divisor (unsigned) or the
            // sign extension of a small low part (signed).
            let lo: u64 = rng.gen();
            let hi = if signed {
                let l = lo >> rng.gen_range(1..bits) as u64;
                init.gpr[0] = l;
                if rng.gen_bool(0.5) {
                    m
                } else {
                    0
                }
            } else {
                init.gpr[0] = lo;
                // Half the time a high part of zero (the case divided inline).
                if rng.gen_bool(0.5) {
                    0
                } else {
                    rng.gen::<u64>() % (divisor & m)
                }
            };
            if size == 1 {
                // ax / bl: the dividend is ax.
                init.gpr[0] = (init.gpr[0] & !0xff00) | ((hi & 0xff) << 8);
                if signed {
                    let v = init.gpr[0] as u8 as i8 as i16 as u16 as u64;
                    init.gpr[0] = (init.gpr[0] & !0xffff) | v;
                }
            } else {
                init.gpr[2] = hi;
                if signed {
                    let l = init.gpr[0] & m;
                    let neg = (l >> (bits - 1)) & 1 == 1;
                    init.gpr[2] = if neg { u64::MAX } else { 0 };
                }
                if size == 4 && rng.gen_bool(0.5) {
                    // 32-bit division ignores (and clears) the upper halves.
                    init.gpr[0] = init.gpr[0] & m | rng.gen::<u64>() << 32;
                    init.gpr[2] = init.gpr[2] & m | rng.gen::<u64>() << 32;
                }
            }
            let run = std::panic::catch_unwind(|| check_native(&op, &init, &data, &cfg(), 0));
            assert!(
                run.is_ok(),
                "size {size} signed {signed} init {:x?}",
                init.gpr
            );
        }
    }
}

fn emu_only(
    body: &dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>,
    init: &Regs,
    setup: &dyn Fn(&mut tcg_frontend_x86::X86State),
) -> EmuRun {
    let s = assemble(body);
    let img = image(&random_data(9));
    run_emu(&s.emu, s.end, init, &img, &cfg(), setup)
}

#[test]
fn divide_errors_raise_de_at_the_instruction() {
    for (dividend_hi, divisor) in [(0u64, 0u64), (5, 3)] {
        let mut init = base_regs();
        init.gpr[0] = 77;
        init.gpr[2] = dividend_hi;
        init.gpr[3] = divisor;
        let run = emu_only(
            &|a| {
                a.nop()?;
                a.div(rbx)
            },
            &init,
            &|_| {},
        );
        assert_eq!(
            run.end,
            End::Exception {
                vector: vector::DE,
                rip: CODE + 1
            }
        );
        assert_eq!(run.state.regs[0], 77, "rax unchanged");
        assert_eq!(run.state.regs[2], dividend_hi, "rdx unchanged");
    }
    // idiv: i64::MIN / -1 and i32::MIN / -1 overflow (a dividend that is the sign
    // extension of rax, the case otherwise divided inline).
    type Op = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let cases: [(u64, u64, Op); 2] = [
        (1 << 63, u64::MAX, |a| a.idiv(rbx)),
        (0xffff_ffff_8000_0000, 0xffff_ffff, |a| a.idiv(ebx)),
    ];
    for (lo, hi, op) in cases {
        let mut init = base_regs();
        init.gpr[0] = lo;
        init.gpr[2] = hi;
        init.gpr[3] = u64::MAX;
        let run = emu_only(&op, &init, &|_| {});
        assert_eq!(
            run.end,
            End::Exception {
                vector: vector::DE,
                rip: CODE
            }
        );
        assert_eq!(run.state.regs[0], lo, "rax unchanged");
    }
}

#[test]
fn unimplemented_instruction_raises_ud_with_a_diagnostic() {
    let init = base_regs();
    // AVX is not implemented; the instructions before it must have run.
    let run = emu_only(
        &|a| {
            a.mov(eax, 42u32)?;
            a.vpaddb(xmm0, xmm1, xmm2)
        },
        &init,
        &|_| {},
    );
    assert_eq!(
        run.end,
        End::Exception {
            vector: vector::UD,
            rip: CODE + 5
        }
    );
    assert_eq!(run.state.regs[0], 42);
    let line = describe_unimplemented(CODE + 5, &[0xc5, 0xf1, 0xfc, 0xc2, 0x90]);
    assert!(
        line.contains("c5 f1 fc c2") && line.contains("vpaddb"),
        "{line}"
    );
    assert!(line.contains("0x101005"), "{line}");
    // ud2 is #UD too; hlt is #GP; int3 is #BP with rip after it.
    let run = emu_only(&|a| a.ud2(), &init, &|_| {});
    assert_eq!(
        run.end,
        End::Exception {
            vector: vector::UD,
            rip: CODE
        }
    );
    let run = emu_only(&|a| a.int3(), &init, &|_| {});
    assert_eq!(
        run.end,
        End::Exception {
            vector: vector::BP,
            rip: CODE + 1
        }
    );
}

#[test]
fn fs_and_gs_overrides_add_the_segment_base() {
    let mut init = base_regs();
    init.gpr[3] = 0x10;
    let run = emu_only(
        &|a| {
            a.mov(rax, qword_ptr(rbx + 8).fs())?;
            a.mov(qword_ptr(0x20).gs(), rax)?;
            a.lea(rcx, qword_ptr(rbx + 8).fs())?;
            a.add(dword_ptr(rbx).fs(), 1)?;
            Ok(())
        },
        &init,
        &|s| {
            s.fs_base = DATA;
            s.gs_base = DATA + 0x100;
        },
    );
    assert_eq!(run.end, End::Done);
    let rd =
        |m: &[u8], a: u64| u64::from_le_bytes(m[a as usize..a as usize + 8].try_into().unwrap());
    let orig = random_data(9);
    let want = u64::from_le_bytes(orig[0x18..0x20].try_into().unwrap());
    assert_eq!(run.state.regs[0], want);
    assert_eq!(rd(&run.mem, DATA + 0x120), want);
    assert_eq!(run.state.regs[1], 0x18, "lea ignores the segment base");
    let old = u32::from_le_bytes(orig[0x10..0x14].try_into().unwrap());
    assert_eq!(rd(&run.mem, DATA + 0x10) as u32, old.wrapping_add(1));
}

#[test]
fn syscall_exits_with_rip_after_it() {
    let run = emu_only(&|a| a.syscall(), &base_regs(), &|_| {});
    assert_eq!(run.end, End::Syscall { rip: CODE + 2 });
}

fn translate(code: &[u8], pc: u64, cfg: &TranslateConfig) -> tcg::Block {
    translate_from(code, pc, pc, cfg)
}

/// The block at `pc` of `code` loaded at `base`.
fn translate_from(code: &[u8], base: u64, pc: u64, cfg: &TranslateConfig) -> tcg::Block {
    let mut fetch = |addr: u64, buf: &mut [u8]| -> usize {
        let off = addr.wrapping_sub(base) as usize;
        if off >= code.len() {
            return 0;
        }
        let n = (code.len() - off).min(buf.len());
        buf[..n].copy_from_slice(&code[off..off + n]);
        n
    };
    translate_block(pc, &mut fetch, cfg)
}

fn asm(f: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>, pc: u64) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.assemble(pc).unwrap()
}

#[test]
fn exit_request_leaves_before_executing_anything() {
    let code = asm(|a| a.mov(eax, 1u32), 0x1000);
    let b = translate(&code, 0x1000, &cfg());
    let mut s = tcg_frontend_x86::X86State::new();
    s.exit_request = 1;
    s.rip = 0x1000;
    let mut mem = vec![0u8; 16];
    let view = tcg::GuestMemoryView {
        base: mem.as_mut_ptr(),
        size: 16,
    };
    // SAFETY: a valid state; the block touches no guest memory before exiting.
    let r = unsafe { tcg::interpret(&b, (&mut s as *mut tcg_frontend_x86::X86State).cast(), view) };
    assert_eq!(
        r,
        tcg::InterpExit::ExitTb {
            code: exit::EXIT_REQUEST
        }
    );
    assert_eq!(s.regs[0], 0);
    assert_eq!(s.rip, 0x1000);
}

#[test]
fn fetch_fault_and_page_end() {
    // An instruction cut off by the end of fetchable memory raises #PF at its address.
    let code = asm(
        |a| {
            a.nop()?;
            a.mov(rax, 0x1122334455667788u64)
        },
        0x2000,
    );
    let b = translate(&code[..5], 0x2000, &cfg());
    tcg::verify(&b).unwrap();
    let text = b.to_string();
    assert!(
        text.contains("exit_tb 2") || text.contains("exit_tb"),
        "{text}"
    );
    let mut s = tcg_frontend_x86::X86State::new();
    let view = tcg::GuestMemoryView {
        base: std::ptr::null_mut(),
        size: 0,
    };
    // SAFETY: a valid state; the block touches no guest memory.
    let r = unsafe { tcg::interpret(&b, (&mut s as *mut tcg_frontend_x86::X86State).cast(), view) };
    assert_eq!(
        r,
        tcg::InterpExit::ExitTb {
            code: exit::EXCEPTION
        }
    );
    assert_eq!(
        (s.exception, s.rip, s.exception_addr),
        (vector::PF, 0x2001, 0x2005)
    );

    // A block stops after the instruction that crosses its first page's end.
    let pc = 0x2ffc;
    let code = asm(
        |a| {
            a.nop()?;
            a.nop()?;
            a.nop()?;
            a.mov(eax, 7u32)?;
            a.nop()
        },
        pc,
    );
    let b = translate(&code, pc, &cfg());
    assert_eq!(b.num_insns, 4);
    assert_eq!(b.guest_size, 8);
    // And at max_insns.
    let b = translate(
        &code,
        pc,
        &TranslateConfig {
            max_insns: 2,
            ..cfg()
        },
    );
    assert_eq!(b.num_insns, 2);
    let inst = count_ops(&b, |o| matches!(o, Op::InsnStart { .. }));
    assert_eq!(inst, 2);
}

#[test]
fn flags_stay_lazy_inside_a_block() {
    let code = asm(
        |a| {
            a.add(rax, rbx)?;
            a.sub(ecx, edx)?;
            a.xor(esi, esi)?;
            a.cmp(rdi, r8)?;
            let mut l = a.create_label();
            a.jb(l)?;
            a.set_label(&mut l)?;
            a.nop()
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    let calls = count_ops(&b, |o| matches!(o, Op::Call { .. }));
    assert_eq!(calls, 0, "{b}");
    // cc_op is written once (before the branch), not per instruction.
    let cc_op_writes = count_ops(&b, |o| match o {
        Op::Const { dst, .. } | Op::Mov { dst, .. } => matches!(
            b.temps[dst.0 as usize].kind,
            tcg::TempKind::Global { offset, .. } if offset == off::CC_OP
        ),
        _ => false,
    });
    assert_eq!(cc_op_writes, 1, "{b}");
    // Locked ops and xchg with memory use atomics.
    let code = asm(
        |a| {
            a.xchg(qword_ptr(rax), rbx)?;
            a.lock().add(dword_ptr(rax), ecx)?;
            a.lock().cmpxchg(qword_ptr(rax), rdx)?;
            a.ret()
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    let atomics = count_ops(&b, |o| {
        matches!(o, Op::AtomicRmw { .. } | Op::AtomicCmpxchg { .. })
    });
    assert_eq!(atomics, 3, "{b}");
    assert!(b.ops.iter().any(|o| matches!(o, Op::LookupAndGotoPtr)));
}

#[test]
fn a_vector_compare_chain_stays_whole() {
    // glibc's strcmp: two 16-byte loads, a zeroed register, two byte compares, a subtract
    // and the byte mask. With lane ops each is one IR op on whole 16-byte values: no value
    // is put together from its halves again (no concatenation) once loaded or computed.
    let code = asm(
        |a| {
            a.movdqu(xmm1, xmmword_ptr(rdi))?;
            a.movdqu(xmm2, xmmword_ptr(rsi))?;
            a.pxor(xmm0, xmm0)?;
            a.pcmpeqb(xmm0, xmm1)?;
            a.pcmpeqb(xmm1, xmm2)?;
            a.psubb(xmm1, xmm0)?;
            a.pmovmskb(edx, xmm1)?;
            a.jmp(rbx)
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    let count = |f: &dyn Fn(&Op) -> bool| count_ops(&b, |o| f(o));
    let lanes = count(&|o| {
        matches!(
            o,
            Op::Binary {
                op: tcg::BinOp::Lanes { bits: 8, .. },
                ..
            }
        )
    });
    assert_eq!(lanes, 3, "{b}");
    assert_eq!(count(&|o| matches!(o, Op::Concat { .. })), 0, "{b}");
    let masks = count(&|o| {
        matches!(
            o,
            Op::Convert {
                conv: tcg::Conv::ByteSignBits,
                ..
            }
        )
    });
    assert_eq!(masks, 1, "{b}");
    // Without lane ops (other hosts), the same code still translates, as 64-bit SWAR.
    let swar = translate(
        &code,
        0x3000,
        &TranslateConfig {
            lanes: false,
            ..cfg()
        },
    );
    assert!(!swar.ops.iter().any(|o| matches!(
        o,
        Op::Binary {
            op: tcg::BinOp::Lanes { .. },
            ..
        }
    )));
}

#[test]
fn shuffles_are_lane_ops() {
    // strchr's byte broadcast (`punpcklbw`, `punpcklwd`, `pshufd $0`) and `pshufb`: one
    // lane op each (a swizzle by constant indices for `pshufd`), no helper call.
    let code = asm(
        |a| {
            a.movd(xmm1, esi)?;
            a.punpcklbw(xmm1, xmm1)?;
            a.punpcklwd(xmm1, xmm1)?;
            a.pshufd(xmm1, xmm1, 0)?;
            a.pshufb(xmm0, xmm2)?;
            a.jmp(rbx)
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    let lanes = count_ops(&b, |o| {
        matches!(
            o,
            Op::Binary {
                op: tcg::BinOp::Lanes { .. },
                ..
            }
        )
    });
    assert_eq!(lanes, 4, "{b}");
    assert!(!b.ops.iter().any(|o| matches!(o, Op::Call { .. })), "{b}");
}

#[test]
fn a_branch_after_cmp_compares_its_operands() {
    // Like QEMU's `cc_srcT`: `jb`/`jbe`/`jl`/`jle`/`je` after `cmp` or `sub` (and the carry
    // an `inc`/`dec` after them keeps) compare the two operands, not `cc_dst + cc_src` (an
    // add on the way from the subtraction to the branch).
    let code = asm(
        |a| {
            let mut l = a.create_label();
            a.cmp(ecx, -2)?;
            a.jb(l)?;
            a.sub(rdi, qword_ptr(rsi))?;
            a.jle(l)?;
            a.cmp(dl, bl)?;
            a.jbe(l)?;
            a.cmp(ax, 7)?;
            a.jl(l)?;
            // `dec` keeps the carry of the `cmp` before it.
            a.cmp(esi, edi)?;
            a.dec(ecx)?;
            a.jb(l)?;
            a.nop()?;
            a.set_label(&mut l)?;
            a.nop()
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    assert_eq!(cc_dst_rebuilds(&b), 0, "{b}");
    let branches = count_ops(&b, |o| matches!(o, Op::BrCond { .. }));
    assert!(branches >= 4, "{b}");
    // A side exit's fall-through is reached from its branch only: `sbb` there reads the
    // carry of the `cmp` before the branch from its operands too.
    let code = asm(
        |a| {
            a.cmp(esi, edi)?;
            a.je(0x9000)?;
            a.sbb(eax, eax)?;
            a.jmp(rbx)
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    assert_eq!(b.num_insns, 4, "{b}");
    assert_eq!(cc_dst_rebuilds(&b), 0, "{b}");
}

/// Adds that read `cc_dst` (a subtraction's first operand rebuilt from the flags state).
fn cc_dst_rebuilds(b: &tcg::Block) -> usize {
    let is_cc_dst = |t: &tcg::Temp| {
        matches!(
            b.temps[t.0 as usize].kind,
            tcg::TempKind::Global { offset, .. } if offset == off::CC_DST
        )
    };
    count_ops(
        b,
        |o| matches!(o, Op::Binary { op: tcg::BinOp::Add, a, b, .. } if is_cc_dst(a) || is_cc_dst(b)),
    )
}

#[test]
fn a_scan_loop_adds_nothing_but_its_increment() {
    // `inc rax; cmp byte [rax], 0; jne`: no add of a zero displacement, no `x - 0`.
    let code = asm(
        |a| {
            let mut top = a.create_label();
            a.set_label(&mut top)?;
            a.inc(rax)?;
            a.cmp(byte_ptr(rax), 0)?;
            a.jne(top)?;
            a.jmp(rbx)
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    let binary = count_ops(&b, |o| matches!(o, Op::Binary { .. }));
    assert_eq!(binary, 1, "{b}");
}

#[test]
fn test_or_and_of_a_register_with_itself_compute_nothing() {
    // `test r, r`, `or r, r`, `and r, r` (every size): the result is the operand.
    let code = asm(
        |a| {
            a.test(rax, rax)?;
            a.setne(dl)?;
            a.or(ecx, ecx)?;
            a.and(bh, bh)?;
            a.test(si, si)?;
            a.jmp(rbx)
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    let logic = count_ops(&b, |o| {
        matches!(
            o,
            Op::Binary {
                op: tcg::BinOp::And | tcg::BinOp::Or,
                ..
            }
        )
    });
    // The `and` that keeps bits of rbx around the byte `bh` is written back into.
    assert!(logic <= 2, "{b}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn test_or_and_of_a_register_with_itself_match_native() {
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..50 {
        let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
            a.test(rax, rax)?;
            a.sets(dl)?;
            a.setz(dh)?;
            a.setp(r8b)?;
            a.or(ecx, ecx)?;
            a.setz(r9b)?;
            a.and(bh, bh)?;
            a.sets(r10b)?;
            a.test(si, si)?;
            a.setz(r11b)?;
            a.and(rdi, rdi)
        };
        let mut init = base_regs();
        for r in [0, 1, 3, 6, 7] {
            // Zeros and sign bits in every width now and then.
            init.gpr[r] = match rng.gen_range(0..4) {
                0 => 0,
                1 => rng.gen::<u64>() & 0xffff_ffff_0000_0000,
                _ => rng.gen(),
            };
        }
        check_native(&body, &init, &[0; 16], &cfg(), FLAGS);
    }
}

#[test]
fn a_32_bit_add_extends_only_its_result() {
    let code = asm(
        |a| {
            a.add(eax, ecx)?;
            a.jmp(rbx)
        },
        0x3000,
    );
    let b = translate(&code, 0x3000, &cfg());
    let extensions = count_ops(&b, |o| {
        matches!(
            o,
            Op::Convert {
                conv: tcg::Conv::Ext32u,
                ..
            }
        )
    });
    assert_eq!(extensions, 1, "{b}");
}

#[test]
fn single_step_translates_one_instruction_and_never_chains() {
    let code = asm(
        |a| {
            a.nop()?;
            a.nop()?;
            a.jmp(0x1000u64)
        },
        0x4000,
    );
    let c = TranslateConfig {
        single_step: true,
        ..cfg()
    };
    let b = translate(&code, 0x4000, &c);
    assert_eq!(b.num_insns, 1);
    assert!(!b
        .ops
        .iter()
        .any(|o| matches!(o, Op::GotoTb { .. } | Op::LookupAndGotoPtr)));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn cmpxchg8b_16b_pushf_popf_match_native() {
    let mut rng = StdRng::seed_from_u64(11);
    for i in 0..64 {
        let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
            a.lock().cmpxchg8b(qword_ptr(r15 + 0x40))?;
            a.setz(byte_ptr(r15 + 0x80))?;
            a.cmpxchg16b(xmmword_ptr(r15 + 0x50))?;
            a.pushfq()?;
            a.pop(r8)?;
            a.and(r8, 0xcd5)?;
            a.push(r8)?;
            a.popfq()?;
            a.lahf()?;
            a.sahf()?;
            a.cmc()?;
            Ok(())
        };
        let mut init = base_regs();
        for r in [0, 1, 2, 3] {
            init.gpr[r] = rng.gen();
        }
        init.rflags = 0x202 | (rng.gen::<u64>() & 0x8d5);
        let mut data = random_data(i);
        if i % 2 == 0 {
            data[0x40..0x44].copy_from_slice(&(init.gpr[0] as u32).to_le_bytes());
            data[0x44..0x48].copy_from_slice(&(init.gpr[2] as u32).to_le_bytes());
        }
        if i % 4 < 2 {
            data[0x50..0x58].copy_from_slice(&init.gpr[0].to_le_bytes());
            data[0x58..0x60].copy_from_slice(&init.gpr[2].to_le_bytes());
        }
        check_native(&body, &init, &data, &cfg(), FLAGS);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn sse2_string_function_kernels_match_native() {
    // strlen (pcmpeqb/pmovmskb/bsf over aligned 16-byte chunks) and memchr (byte broadcast
    // with punpcklbw/pshuflw/pshufd), as glibc's SSE2 versions do them.
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut lp = a.create_label();
        let mut found = a.create_label();
        let mut lp2 = a.create_label();
        let mut found2 = a.create_label();
        let mut done = a.create_label();
        // strlen(r15)
        a.mov(rax, r15)?;
        a.pxor(xmm0, xmm0)?;
        a.set_label(&mut lp)?;
        a.movdqa(xmm1, xmmword_ptr(rax))?;
        a.pcmpeqb(xmm1, xmm0)?;
        a.pmovmskb(edx, xmm1)?;
        a.test(edx, edx)?;
        a.jnz(found)?;
        a.add(rax, 16)?;
        a.jmp(lp)?;
        a.set_label(&mut found)?;
        a.bsf(edx, edx)?;
        a.add(rax, rdx)?;
        a.sub(rax, r15)?;
        // memchr(r15 + 0x400, sil, ...): broadcast the byte.
        a.movd(xmm2, esi)?;
        a.punpcklbw(xmm2, xmm2)?;
        a.punpcklwd(xmm2, xmm2)?;
        a.pshufd(xmm2, xmm2, 0)?;
        a.lea(rcx, qword_ptr(r15 + 0x400))?;
        a.set_label(&mut lp2)?;
        a.movdqu(xmm3, xmmword_ptr(rcx))?;
        a.pcmpeqb(xmm3, xmm2)?;
        a.pmovmskb(r8d, xmm3)?;
        a.test(r8d, r8d)?;
        a.jnz(found2)?;
        a.add(rcx, 16)?;
        a.jmp(lp2)?;
        a.set_label(&mut found2)?;
        a.bsf(r8d, r8d)?;
        a.add(rcx, r8)?;
        a.jmp(done)?;
        a.set_label(&mut done)?;
        Ok(())
    };
    let mut rng = StdRng::seed_from_u64(21);
    for _ in 0..32 {
        let mut data = vec![0u8; 0x1000];
        for b in data.iter_mut() {
            *b = rng.gen_range(1..=255);
        }
        let n = rng.gen_range(0..0x300);
        data[n] = 0;
        let c: u8 = rng.gen_range(1..=255);
        let k = 0x400 + rng.gen_range(0..0x300);
        data[k] = c;
        let mut init = base_regs();
        init.gpr[6] = u64::from(c);
        let run = check_native(&body, &init, &data, &cfg(), FLAGS);
        assert_eq!(run.state.regs[0], n as u64);
        assert!(run.state.regs[1] <= DATA + k as u64);
    }
}

#[test]
fn cpuid_describes_each_model_consistently() {
    use tcg_frontend_x86::cpuid;
    let sse3 = 1 << 0;
    let pclmul = 1 << 1;
    let ssse3 = 1 << 9;
    let fma = 1 << 12;
    let cx16 = 1 << 13;
    let sse41 = 1 << 19;
    let sse42 = 1 << 20;
    let popcnt = 1 << 23;
    let aes = 1 << 25;
    let xsave_osxsave_avx = (1 << 26) | (1 << 27) | (1 << 28);
    let v2 = sse3 | ssse3 | cx16 | sse41 | sse42 | popcnt;
    for (model, want) in [
        (CpuModel::BASELINE, 0u32),
        (CpuModel::X86_64_V2, v2),
        (CpuModel::MAX, v2 | aes | pclmul),
    ] {
        let (_, _, c, d) = cpuid(&model, 1, 0);
        assert_eq!(c, want, "{model:?}");
        assert_eq!(c & (fma | xsave_osxsave_avx), 0);
        // SSE2, SSE, FXSR, MMX, CMOV, CX8, TSC, FPU.
        assert_eq!(d & 0x0780_8111, 0x0780_8111);
        let (_, b, _, _) = cpuid(&model, 7, 0);
        // No AVX2, BMI2, AVX-512; BMI1 only as the model says.
        assert_eq!(b & !(1 << 3), 0);
        assert_eq!(b & (1 << 3) != 0, model.bmi1);
        let (_, _, c, _) = cpuid(&model, 0x8000_0001, 0);
        assert_eq!(c & 1, 1, "LAHF/SAHF");
        assert_eq!(CpuModel::from_bits(model.bits()), model);
        assert!(model.bits() < 1 << 31);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn sse_arithmetic_in_regions_across_mxcsr_changes() {
    // A loop of double-precision arithmetic on random bits (NaNs, denormals and infinities
    // among them) with forward branches inside its block, a compare feeding a branch, and
    // ldmxcsr switching the rounding mode, the exception flags and DAZ/FTZ every round: every
    // result, the flags and the final MXCSR are stored and compared with the CPU.
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut top = a.create_label();
        let mut skip = a.create_label();
        let mut keep = a.create_label();
        a.movsd_2(xmm1, qword_ptr(r15 + 0x700))?;
        a.movsd_2(xmm2, qword_ptr(r15 + 0x708))?;
        a.movsd_2(xmm3, qword_ptr(r15 + 0x710))?;
        a.mov(ecx, 64u32)?;
        a.set_label(&mut top)?;
        a.movsd_2(xmm0, qword_ptr(r15 + rcx * 8))?;
        a.mulsd(xmm0, xmm1)?;
        a.addsd(xmm0, xmm2)?;
        // Alternate MXCSR between two values with nothing but arithmetic around.
        a.mov(eax, ecx)?;
        a.and(eax, 1)?;
        a.ldmxcsr(dword_ptr(r15 + rax * 4 + 0x7f0))?;
        a.mulsd(xmm0, xmm1)?;
        a.cmp(ecx, 32)?;
        a.jne(skip)?;
        a.addsd(xmm0, xmm1)?;
        a.set_label(&mut skip)?;
        a.ucomisd(xmm0, xmm3)?;
        a.jbe(keep)?;
        a.divsd(xmm0, xmm3)?;
        a.sqrtsd(xmm0, xmm0)?;
        a.set_label(&mut keep)?;
        a.subsd(xmm0, xmm1)?;
        a.movsd_2(qword_ptr(r15 + rcx * 8 + 0x400), xmm0)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.stmxcsr(dword_ptr(r15 + 0x7f8))?;
        Ok(())
    };
    for seed in 0..16 {
        let mut data = random_data(seed);
        let mut rng = StdRng::seed_from_u64(seed);
        // Mostly ordinary numbers, so that the host fast path runs.
        for i in 0..64 {
            if rng.gen_bool(0.8) {
                let v: f64 = rng.gen_range(-1e6..1e6);
                data[8 * i..8 * i + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        for (o, v) in [(0x700, 1.000_1f64), (0x708, -3.5), (0x710, 2.0)] {
            data[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        // Any rounding mode, DAZ/FTZ, exception flags, and the fast path's mode (nearest,
        // PE set); all exceptions masked.
        let mx = 0x1f80 | (rng.gen::<u32>() & (0x6000 | 0x8040 | 0x3f)) | 0x2000;
        data[0x7f0..0x7f4].copy_from_slice(&mx.to_le_bytes());
        data[0x7f4..0x7f8].copy_from_slice(&0x1fa0u32.to_le_bytes());
        check_native(&body, &base_regs(), &data, &cfg(), FLAGS);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn followed_jumps_match_native() {
    // A `switch`-like dispatch: cases jump back to a dispatch that jumps forward again, a
    // `cmp` whose flags a `jb` reads across a followed jump, and a jump back into the block
    // the dispatch already holds.
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut check = a.create_label();
        let mut body = a.create_label();
        let mut cont = a.create_label();
        let mut back = a.create_label();
        let mut done = a.create_label();
        a.mov(ecx, 40u32)?;
        a.xor(eax, eax)?;
        a.jmp(check)?;
        a.set_label(&mut body)?;
        a.add(eax, ecx)?;
        a.cmp(eax, 300)?;
        a.jmp(cont)?;
        a.set_label(&mut back)?;
        a.dec(ecx)?;
        a.jmp(check)?;
        a.set_label(&mut cont)?;
        a.jb(back)?;
        a.inc(ebx)?;
        a.sub(eax, 7)?;
        a.jmp(back)?;
        a.set_label(&mut check)?;
        a.test(ecx, ecx)?;
        a.jnz(body)?;
        a.jmp(done)?;
        a.nop()?;
        a.set_label(&mut done)?;
        Ok(())
    };
    for seed in 0..4 {
        let mut init = base_regs();
        init.gpr[3] = seed;
        init.rflags = 0x202 | ((seed * 0x41) & 0x8d5);
        check_native(&body, &init, &random_data(seed), &cfg(), FLAGS);
    }
}

#[test]
fn a_block_follows_jumps_on_its_page_and_covers_their_targets() {
    let pc = 0x1040;
    // 0x1000: inc eax; ret    ...    0x1040: nop; jmp 0x1000
    let mut code = [0x90u8; 0x50];
    code[..3].copy_from_slice(&[0xff, 0xc0, 0xc3]);
    code[0x40..0x43].copy_from_slice(&[0x90, 0xeb, 0xbd]);
    let b = translate_from(&code, 0x1000, pc, &cfg());
    let starts: Vec<u64> = b
        .ops
        .iter()
        .filter_map(|op| match *op {
            Op::InsnStart { pc } => Some(pc),
            _ => None,
        })
        .collect();
    assert_eq!(starts, [0x1040, 0x1041, 0x1000, 0x1002]);
    assert_eq!((b.pc, b.num_insns), (pc, 4));
    assert_eq!((b.guest_start, b.guest_size), (0x1000, 0x43));
    // Not onto another page: the block ends with the jump.
    // nop; jmp 0x1000
    let b = translate(&[0x90, 0xe9, 0xfa, 0xef, 0xff, 0xff], 0x2000, &cfg());
    assert_eq!((b.num_insns, b.guest_start, b.guest_size), (2, 0x2000, 6));
}

/// A loop whose usual path is a conditional branch far ahead, to code that jumps back to the
/// loop's start, runs as one block an iteration: the block follows the taken side and leaves
/// at the fall-through. Both paths compute what the CPU does.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_loop_through_a_far_branch_target_is_one_block() {
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut top = a.create_label();
        let mut far = a.create_label();
        a.mov(ecx, 100u32)?;
        a.xor(eax, eax)?;
        a.xor(edx, edx)?;
        a.set_label(&mut top)?;
        a.add(eax, 3)?;
        a.test(eax, 31)?;
        a.jne(far)?;
        // The rare path (eax a multiple of 32): farther than the branch's near reach, with
        // more conditional branches (never taken) than a block goes on past.
        a.add(edx, eax)?;
        a.db(&[0x90; 160])?;
        for _ in 0..4 {
            a.cmp(eax, 1000)?;
            a.ja(far)?;
        }
        a.set_label(&mut far)?;
        a.dec(ecx)?;
        a.jne(top)?;
        Ok(())
    };
    let emu = check_native(&body, &base_regs(), &[], &cfg(), 0x8d5);
    assert_eq!(
        emu.state.regs[2],
        96 + 192 + 288,
        "the rare path ran three times"
    );
    // One block an iteration (two if the loop went through the far target's own block).
    assert!(emu.blocks < 130, "{} blocks for 100 iterations", emu.blocks);
}

/// A loop with two heads (Collatz: the odd step falls into the even test, which branches
/// back to the odd step) runs inside one block with `inner_loops`, as the CPU computes it;
/// without, every step leaves a block.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_loop_with_a_second_head_stays_in_its_block_with_inner_loops() {
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut odd = a.create_label();
        let mut test = a.create_label();
        let mut done = a.create_label();
        a.mov(eax, 27u32)?;
        a.xor(edx, edx)?;
        a.jmp(test)?;
        a.set_label(&mut odd)?;
        a.lea(eax, ptr(rax + rax * 2 + 1))?;
        a.inc(edx)?;
        a.set_label(&mut test)?;
        a.test(eax, 1)?;
        a.jne(odd)?;
        a.shr(eax, 1)?;
        a.inc(edx)?;
        a.cmp(eax, 1)?;
        a.jne(test)?;
        a.set_label(&mut done)?;
        a.nop()?;
        Ok(())
    };
    let looping = TranslateConfig {
        inner_loops: true,
        ..cfg()
    };
    let emu = check_native(&body, &base_regs(), &[], &looping, 0x8d5);
    assert_eq!(emu.state.regs[2], 111, "27 takes 111 steps");
    // The reference interpreter leaves at every `GotoStart` (an odd step here, 41 of them)
    // but not at a branch back to the second head (an even step, 70).
    assert!(emu.blocks <= 45, "{} blocks", emu.blocks);
    let emu = check_native(&body, &base_regs(), &[], &cfg(), 0x8d5);
    assert!(
        emu.blocks > 110,
        "{} blocks without inner loops",
        emu.blocks
    );
}

/// Branches in `b` to a label placed before them (loops inside the block other than
/// `GotoStart`).
fn backward_branches(b: &tcg::Block) -> usize {
    let mut placed = std::collections::HashSet::new();
    b.ops
        .iter()
        .filter(|op| match op {
            Op::SetLabel { label } => {
                placed.insert(label.0);
                false
            }
            Op::Br { label } | Op::BrCond { label, .. } => placed.contains(&label.0),
            _ => false,
        })
        .count()
}

/// With `inner_loops`, a block holds one loop: a second loop after the one that goes back to
/// the block's start leaves the block at its back edge, as without (keeping both in one
/// block kept every register of both live and made the host spill in the hot loop); a
/// second head inside the start's loop is a branch inside the block.
#[test]
fn inner_loops_keep_one_loop_per_block() {
    let base = 0x1000;
    let looping = TranslateConfig {
        inner_loops: true,
        ..cfg()
    };
    let one_after_another = asm(
        |a| {
            let mut first = a.create_label();
            let mut second = a.create_label();
            a.set_label(&mut first)?;
            a.add(qword_ptr(rax), 1)?;
            a.add(rax, 8)?;
            a.cmp(rax, rsi)?;
            a.jne(first)?;
            a.mov(rax, rdi)?;
            a.set_label(&mut second)?;
            a.add(rcx, qword_ptr(rax))?;
            a.add(rax, 8)?;
            a.cmp(rax, rsi)?;
            a.jne(second)?;
            a.ret()?;
            Ok(())
        },
        base,
    );
    let b = translate(&one_after_another, base, &looping);
    assert_eq!(backward_branches(&b), 0, "{b}");
    // Collatz's odd step, whose block starts the loop, falls into the even test: one loop
    // with two heads.
    let two_heads = asm(
        |a| {
            let mut odd = a.create_label();
            let mut test = a.create_label();
            a.set_label(&mut odd)?;
            a.lea(eax, ptr(rax + rax * 2 + 1))?;
            a.inc(edx)?;
            a.set_label(&mut test)?;
            a.test(eax, 1)?;
            a.jne(odd)?;
            a.shr(eax, 1)?;
            a.inc(edx)?;
            a.cmp(eax, 1)?;
            a.jne(test)?;
            a.ret()?;
            Ok(())
        },
        base,
    );
    let b = translate(&two_heads, base, &looping);
    assert_eq!(backward_branches(&b), 1, "{b}");
    assert_eq!(backward_branches(&translate(&two_heads, base, &cfg())), 0);
}

/// A block whose loop closes only after two exits to other places keeps a jump slot for its
/// own start, so that the loop runs inside its code (`GotoStart`) instead of looking the block
/// up at every iteration.
#[test]
fn a_loop_closing_after_two_exits_goes_back_to_its_start() {
    let base = 0x1000;
    let code = asm(
        |a| {
            let mut top = a.create_label();
            let mut out1 = a.create_label();
            let mut out2 = a.create_label();
            // Exit targets before the block, so that they are not branches inside it.
            a.set_label(&mut out1)?;
            a.ret()?;
            a.set_label(&mut out2)?;
            a.ret()?;
            a.set_label(&mut top)?;
            a.add(eax, 1)?;
            a.cmp(eax, 50)?;
            a.je(out1)?;
            a.cmp(eax, 60)?;
            a.je(out2)?;
            a.test(eax, 7)?;
            a.jne(top)?;
            a.ret()?;
            Ok(())
        },
        base,
    );
    // The block starts after the two exit targets (one `ret` each).
    let b = translate(&code[2..], base + 2, &cfg());
    let exits: Vec<&Op> = b
        .ops
        .iter()
        .filter(|op| {
            matches!(
                op,
                Op::GotoTb { .. } | Op::GotoStart { .. } | Op::LookupAndGotoPtr
            )
        })
        .collect();
    assert!(
        exits.iter().any(|op| matches!(op, Op::GotoStart { .. })),
        "no GotoStart among {exits:?}\n{b}"
    );
}

/// An exit to code that overwrites every flag before reading one discards the flags state
/// instead of storing it, and the block covers the code it looked at (rewriting it must
/// invalidate the block); an exit to code that reads a flag stores them.
#[test]
fn an_exit_to_code_that_overwrites_the_flags_discards_them() {
    let block_with_target = |target_code: &[u8]| {
        let mut code = [0xcc; 0x30];
        // add eax, 1; jne 0x1020; ret
        code[..6].copy_from_slice(&[0x83, 0xc0, 0x01, 0x75, 0x1b, 0xc3]);
        code[0x20..0x20 + target_code.len()].copy_from_slice(target_code);
        translate(&code, 0x1000, &cfg())
    };
    let discards = |b: &tcg::Block| {
        b.ops
            .iter()
            .filter(|op| matches!(op, Op::Discard { .. }))
            .count()
    };
    // mov ecx, edx; cmp eax, ebx
    let b = block_with_target(&[0x89, 0xd1, 0x39, 0xd8]);
    assert_eq!(discards(&b), 4, "{b}");
    assert_eq!((b.guest_start, b.guest_size), (0x1000, 0x24));
    // jc: reads the carry `add` left
    let b = block_with_target(&[0x72, 0x00]);
    assert_eq!(discards(&b), 0, "{b}");
    assert_eq!((b.guest_start, b.guest_size), (0x1000, 6));
}
