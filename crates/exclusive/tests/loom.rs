//! Model checks of the exclusive-section handshake. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p exclusive --release --test loom`.
#![cfg(loom)]

use exclusive::Exclusive;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// One vCPU runs a block (checking its kick flag like translated code), the main thread takes
/// a section: the vCPU's block and the section never overlap, whatever the interleaving.
#[test]
fn section_excludes_a_running_vcpu() {
    loom::model(|| {
        let ex = Arc::new(Exclusive::new());
        let kicked = Arc::new(AtomicBool::new(false));
        let running_block = Arc::new(AtomicUsize::new(0));
        let k = kicked.clone();
        let cpu = ex.register(move || k.store(true, Ordering::SeqCst));
        let t = {
            let (ex, cpu, running_block) = (ex.clone(), cpu.clone(), running_block.clone());
            thread::spawn(move || {
                ex.exec_start(&cpu);
                running_block.store(1, Ordering::SeqCst);
                running_block.store(0, Ordering::SeqCst);
                ex.exec_end(&cpu);
            })
        };
        {
            let _s = ex.start_exclusive();
            assert_eq!(running_block.load(Ordering::SeqCst), 0);
        }
        t.join().unwrap();
        let _ = kicked.load(Ordering::SeqCst);
    });
}

/// Two vCPUs each enter and leave once while a third thread takes a section (bounded to
/// three preemptions: the full space takes minutes).
#[test]
fn section_excludes_two_vcpus() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let ex = Arc::new(Exclusive::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let mut ts = Vec::new();
        for _ in 0..2 {
            let cpu = ex.register(|| {});
            let (ex, inside) = (ex.clone(), inside.clone());
            ts.push(thread::spawn(move || {
                ex.exec_start(&cpu);
                inside.fetch_add(1, Ordering::SeqCst);
                inside.fetch_sub(1, Ordering::SeqCst);
                ex.exec_end(&cpu);
            }));
        }
        {
            let _s = ex.start_exclusive();
            assert_eq!(inside.load(Ordering::SeqCst), 0);
        }
        for t in ts {
            t.join().unwrap();
        }
    });
}
