//! Barriers that keep the guest's TSO, checked in code lowered for weak hosts (aarch64,
//! riscv64; compiled, never executed) and, for contrast, for TSO hosts (x86-64, s390x).

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use tcg::{AtomicOp, Block, Fence, Label, MemOp, Op, Type};
use tcg_backend_cranelift::{Backend, BackendConfig, Compiler, Inspection, MemoryModel};

const X86: &str = "x86_64-unknown-linux-gnu";
const ARM: &str = "aarch64-unknown-linux-gnu";
const RV: &str = "riscv64gc-unknown-linux-gnu";
const S390X: &str = "s390x-unknown-linux-gnu";

fn backend(triple: &str) -> Arc<Backend> {
    let mut cfg = BackendConfig::new(0x7f00_0000_0000, 1 << 32, 0);
    cfg.cache_capacity = 1 << 20;
    Backend::for_triple(triple, cfg).unwrap()
}

fn inspect(triple: &str, blk: &Block) -> Inspection {
    let be = backend(triple);
    let slot = AtomicUsize::new(be.unlinked_stub_addr() as usize);
    Compiler::new()
        .inspect(&be, blk, 0x1000, [&slot; tcg::JUMP_SLOTS])
        .unwrap_or_else(|e| panic!("{triple}: {e}"))
}

/// The guest accesses and fences of the CLIF, in order: `L` guest load, `S` guest store,
/// `A` atomic, `F` fence (state accesses are `notrap` and left out).
fn shape(clif: &str) -> String {
    let mut out = String::new();
    for line in clif.lines() {
        let l = line.split(';').next().unwrap_or("").trim();
        let rhs = l.split_once(" = ").map_or(l, |(_, r)| r);
        let word = rhs.split_whitespace().next().unwrap_or("");
        if l.contains("notrap") {
            continue;
        }
        if word == "fence" {
            out.push('F');
        } else if word.starts_with("atomic_") {
            out.push('A');
        } else if word.starts_with("load")
            || word.contains("load8")
            || word.contains("load16")
            || word.contains("load32")
        {
            out.push('L');
        } else if word.starts_with("store") || word.starts_with("istore") {
            out.push('S');
        }
    }
    out
}

/// A block of guest accesses described by `ops`: `L` load, `S` store, `F` full fence,
/// `l` load-load fence, `s` store-store fence, `A` atomic add, `C` cmpxchg, `W` 16-byte
/// cmpxchg.
fn block(ops: &str) -> Block {
    let mut b = Block::new(0);
    let rax = b.global(Type::I64, 0, "rax");
    let a = b.constant(Type::I64, 0x100);
    let wide = b.new_temp(Type::I128);
    b.push(Op::Concat {
        dst: wide,
        lo: rax,
        hi: rax,
    });
    for c in ops.chars() {
        b.push(match c {
            'L' => Op::Load {
                dst: rax,
                addr: a,
                mem: MemOp::unsigned(8),
            },
            'S' => Op::Store {
                src: rax,
                addr: a,
                mem: MemOp::unsigned(4),
            },
            'F' => Op::Fence { kind: Fence::Full },
            'l' => Op::Fence {
                kind: Fence::LoadLoad,
            },
            's' => Op::Fence {
                kind: Fence::StoreStore,
            },
            'A' => Op::AtomicRmw {
                op: AtomicOp::Add,
                dst: rax,
                addr: a,
                val: rax,
                mem: MemOp::unsigned(8),
            },
            'C' => Op::AtomicCmpxchg {
                dst: rax,
                addr: a,
                expected: rax,
                new: rax,
                mem: MemOp::unsigned(8),
            },
            'W' => Op::AtomicCmpxchg {
                dst: wide,
                addr: a,
                expected: wide,
                new: wide,
                mem: MemOp::unsigned(16),
            },
            _ => unreachable!(),
        });
    }
    b.push(Op::ExitTb { code: 0 });
    b
}

#[test]
fn memory_models_of_the_targets() {
    assert_eq!(backend(X86).memory_model(), MemoryModel::Tso);
    assert_eq!(backend(S390X).memory_model(), MemoryModel::Tso);
    assert_eq!(backend(ARM).memory_model(), MemoryModel::Weak);
    assert_eq!(backend(RV).memory_model(), MemoryModel::Weak);
}

#[test]
fn tso_hosts_emit_no_barriers_for_plain_accesses() {
    for t in [X86, S390X] {
        let i = inspect(t, &block("LSLSSLLls"));
        assert_eq!(shape(&i.clif), "LSLSSLL", "{t}\n{}", i.clif);
    }
    let i = inspect(X86, &block("LSLSSLL"));
    for insn in ["mfence", "lfence", "sfence", "  lock "] {
        assert!(!i.disasm.contains(insn), "{insn} in\n{}", i.disasm);
    }
}

#[test]
fn tso_hosts_keep_full_fences_and_locked_atomics() {
    let i = inspect(X86, &block("LFS"));
    assert_eq!(shape(&i.clif), "LFS");
    assert_eq!(i.disasm.matches("mfence").count(), 1, "{}", i.disasm);
    let i = inspect(X86, &block("A"));
    assert!(i.disasm.contains("lock xadd"), "{}", i.disasm);
    let i = inspect(X86, &block("C"));
    assert!(i.disasm.contains("lock cmpxchg"), "{}", i.disasm);
    let i = inspect(S390X, &block("F"));
    assert_eq!(shape(&i.clif), "F");
}

#[test]
fn weak_hosts_fence_guest_loads_and_stores() {
    for t in [ARM, RV] {
        // Fence before the first load (history unknown), between load and store
        // (load→store), none between store and load (store→load may pass on TSO), and before
        // a store that follows a store (store→store).
        let i = inspect(t, &block("LSLS"));
        assert_eq!(shape(&i.clif), "FLFSLFS", "{t}\n{}", i.clif);
        let i = inspect(t, &block("LL"));
        assert_eq!(shape(&i.clif), "FLFL", "{t}");
        let i = inspect(t, &block("SS"));
        assert_eq!(shape(&i.clif), "FSFS", "{t}");
        // Explicit fences always lower to a fence on weak hosts.
        let i = inspect(t, &block("lsF"));
        assert_eq!(shape(&i.clif), "FFF", "{t}");
    }
    let i = inspect(ARM, &block("LS"));
    assert_eq!(i.disasm.matches("dmb ish").count(), 2, "{}", i.disasm);
    let dmbs: Vec<usize> = i.disasm.match_indices("dmb ish").map(|(p, _)| p).collect();
    let (between, after) = (&i.disasm[dmbs[0]..dmbs[1]], &i.disasm[dmbs[1]..]);
    assert!(
        between.contains("ldr") && !between.contains("str w"),
        "{}",
        i.disasm
    );
    assert!(after.contains("str w"), "{}", i.disasm);
    let i = inspect(RV, &block("L"));
    assert!(i.disasm.contains("fence rw,rw") || i.disasm.contains("fence iorw,iorw"));
}

#[test]
fn weak_hosts_fence_atomics_on_both_sides() {
    for t in [ARM, RV] {
        // Before (unless a fence is already in place) and after every atomic.
        assert_eq!(shape(&inspect(t, &block("A")).clif), "FAF", "{t}");
        assert_eq!(shape(&inspect(t, &block("C")).clif), "FAF", "{t}");
        assert_eq!(shape(&inspect(t, &block("LAL")).clif), "FLFAFL", "{t}");
        // 16-byte: fence, write probe (an atomic add of 0), helper call, fence.
        assert_eq!(shape(&inspect(t, &block("W")).clif), "FAF", "{t}");
    }
    let i = inspect(ARM, &block("A"));
    assert_eq!(i.disasm.matches("dmb ish").count(), 2, "{}", i.disasm);
}

#[test]
fn barrier_history_is_unknown_after_labels_and_calls() {
    // A load after a label needs a fence again even if one was emitted just before.
    let mut b = Block::new(0);
    let rax = b.global(Type::I64, 0, "rax");
    let a = b.constant(Type::I64, 0x100);
    let l = Label(b.new_label().0);
    b.push(Op::Fence { kind: Fence::Full });
    b.push(Op::SetLabel { label: l });
    b.push(Op::Load {
        dst: rax,
        addr: a,
        mem: MemOp::unsigned(8),
    });
    b.push(Op::ExitTb { code: 0 });
    assert_eq!(shape(&inspect(ARM, &b).clif), "FFL");
}

/// Host barrier instructions in a weak target's disassembly.
fn host_barriers(triple: &str, disasm: &str) -> usize {
    match triple {
        ARM => disasm.matches("dmb ish").count(),
        RV => disasm.matches("fence rw,rw").count() + disasm.matches("fence iorw,iorw").count(),
        _ => unreachable!("not a weak target: {triple}"),
    }
}

/// The four kinds of guest access TSO constrains — loads, stores, `mfence` (a full fence)
/// and locked instructions (atomic read-modify-write, compare-and-swap of 8 and 16 bytes) —
/// each reach the host code of both weak targets with a real barrier instruction for every
/// fence of the lowering, alone and mixed.
#[test]
fn weak_hosts_emit_host_barriers_for_loads_stores_mfence_and_locked_ops() {
    for t in [ARM, RV] {
        for ops in ["L", "S", "F", "A", "C", "W", "LSFACW", "SLSL", "CLWS"] {
            let i = inspect(t, &block(ops));
            let fences = shape(&i.clif).matches('F').count();
            assert!(fences > 0, "{t} {ops}: no fence\n{}", i.clif);
            assert!(
                host_barriers(t, &i.disasm) >= fences,
                "{t} {ops}: {fences} fences in the IR but fewer barriers in\n{}",
                i.disasm
            );
        }
        // mfence between a store and a load is the one barrier TSO needs there: the store
        // (unknown history before it) is fenced, then the mfence, and the load needs no
        // other fence.
        assert_eq!(shape(&inspect(t, &block("SFL")).clif), "FSFL", "{t}");
        // A locked op is a full barrier both ways: no load or store moves across it.
        assert_eq!(shape(&inspect(t, &block("SAL")).clif), "FSFAFL", "{t}");
        assert_eq!(shape(&inspect(t, &block("LCS")).clif), "FLFAFS", "{t}");
    }
}
