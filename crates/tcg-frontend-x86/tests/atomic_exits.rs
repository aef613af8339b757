//! The exits to an exclusive section (`exit::ATOMIC`) for locked instructions the host's
//! atomics cannot do, checked on the IR (any host): emitted only when configured, before the
//! instruction's atomic op and after nothing of it, and not for byte operands.

use iced_x86::code_asm::*;
use tcg::{op_dst, Block, Op, TempKind};
use tcg_frontend_x86::{exit, translate_block, CpuModel, TranslateConfig};

const PC: u64 = 0x40_0000;

/// Assembles a test's instruction.
type Build = fn(&mut CodeAssembler) -> Result<(), IcedError>;

fn translate(
    build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    split: bool,
    wide: bool,
) -> Block {
    let mut a = CodeAssembler::new(64).unwrap();
    build(&mut a).unwrap();
    a.ret().unwrap();
    let code = a.assemble(PC).unwrap();
    let cfg = TranslateConfig {
        cpu: CpuModel::MAX,
        exclusive_split_atomics: split,
        exclusive_cmpxchg16b: wide,
        ..TranslateConfig::default()
    };
    translate_block(
        PC,
        &mut |addr, buf| {
            let off = (addr - PC) as usize;
            let n = buf.len().min(code.len().saturating_sub(off));
            buf[..n].copy_from_slice(&code[off..off + n]);
            n
        },
        &cfg,
    )
}

/// Indices of the `ExitTb { ATOMIC }` ops and of the atomic ops.
fn positions(b: &Block) -> (Vec<usize>, Vec<usize>) {
    let mut exits = Vec::new();
    let mut atomics = Vec::new();
    for (i, op) in b.ops.iter().enumerate() {
        match op {
            Op::ExitTb { code } if *code == exit::ATOMIC => exits.push(i),
            Op::AtomicRmw { .. } | Op::AtomicCmpxchg { .. } => atomics.push(i),
            _ => {}
        }
    }
    (exits, atomics)
}

#[test]
fn locked_operations_exit_before_their_atomic_only_when_configured() {
    let locked: [(&str, Build); 7] = [
        ("lock add", |a| a.lock().add(dword_ptr(rdi), eax)),
        ("lock xadd", |a| a.lock().xadd(qword_ptr(rdi + 3), rax)),
        ("xchg", |a| a.xchg(word_ptr(rdi), ax)),
        ("lock cmpxchg", |a| a.lock().cmpxchg(qword_ptr(rdi), rcx)),
        ("lock not", |a| a.lock().not(dword_ptr(rdi))),
        ("lock bts", |a| a.lock().bts(qword_ptr(rdi), rcx)),
        ("lock cmpxchg8b", |a| a.lock().cmpxchg8b(qword_ptr(rdi))),
    ];
    for (what, build) in locked {
        let (exits, atomics) = positions(&translate(build, false, false));
        assert!(exits.is_empty(), "{what}: exit without the option");
        assert_eq!(atomics.len(), 1, "{what}");
        let b = translate(build, true, false);
        let (exits, atomics) = positions(&b);
        assert_eq!(exits.len(), 1, "{what}:\n{b}");
        assert!(
            exits[0] < atomics[0],
            "{what}: the exit comes after the atomic:\n{b}"
        );
        // Nothing of the instruction before the alignment check writes guest state or
        // memory: the instruction restarts from scratch in the exclusive section.
        let start = b.ops[..exits[0]]
            .iter()
            .rposition(|op| matches!(op, Op::InsnStart { .. }))
            .unwrap();
        let check = b.ops[..exits[0]]
            .iter()
            .rposition(|op| matches!(op, Op::BrCond { .. }))
            .unwrap();
        for op in &b.ops[start..check] {
            let writes_global = op_dst(op)
                .is_some_and(|t| matches!(b.temps[t.0 as usize].kind, TempKind::Global { .. }));
            assert!(
                !writes_global
                    && !matches!(
                        op,
                        Op::Store { .. } | Op::StoreState { .. } | Op::Call { .. }
                    ),
                "{what}: {op:?} before the exit:\n{b}"
            );
        }
    }
    // A byte is always aligned.
    let (exits, _) = positions(&translate(|a| a.lock().inc(byte_ptr(rdi)), true, false));
    assert!(exits.is_empty());
}

#[test]
fn cmpxchg16b_always_exits_when_configured() {
    let build = |a: &mut CodeAssembler| a.lock().cmpxchg16b(xmmword_ptr(rdi));
    let (exits, atomics) = positions(&translate(build, true, false));
    assert!(exits.is_empty());
    assert_eq!(atomics.len(), 1);
    let b = translate(build, false, true);
    let (exits, atomics) = positions(&b);
    assert_eq!(exits.len(), 1, "{b}");
    assert!(atomics.is_empty(), "{b}");
}
