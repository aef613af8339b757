//! Execution tests on this host: chaining, lookup, helpers and state sync, insn_map and
//! faults, the code cache, and concurrent compilation.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use tcg::{BinOp, Block, Cond, Helper, HelperFlags, MemOp, Op, Type};
use tcg_backend_cranelift::{Backend, BackendConfig, BlockExit, CompileError, Compiler};

const RAX: u32 = 0;
const RBX: u32 = 8;
const RCX: u32 = 24;
const RIP: u32 = 16;

/// `rax = rax op imm`, then `exit`.
fn arith_block(op: BinOp, imm: u64, exit: Op) -> Block {
    let mut b = Block::new(0x1000);
    let rax = b.global(Type::I64, RAX, "rax");
    let k = b.constant(Type::I64, imm);
    b.push(Op::InsnStart { pc: 0x1000 });
    b.push(Op::Binary {
        op,
        dst: rax,
        a: rax,
        b: k,
    });
    b.push(exit);
    b
}

#[test]
fn exit_codes_round_trip() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    for code in [0u32, 1, 2, 3, 0x7fff_ffff, u32::MAX] {
        let blk = arith_block(BinOp::Add, 1, Op::ExitTb { code });
        let mut env = Env::new();
        assert_eq!(run_both(&be, &blk, &mut env, &mem), BlockExit::Exit(code));
        assert_eq!(env.u64(0), 1);
    }
}

#[test]
fn chained_blocks_run_without_returning_and_unlink() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    let mut c = Compiler::new();
    let slots_a = Slots::new(&be);
    let slots_b = Slots::new(&be);
    let a = arith_block(BinOp::Add, 1, Op::GotoTb { slot: 1 });
    let b = arith_block(BinOp::Mul, 10, Op::ExitTb { code: 5 });
    let ca = c.compile(&be, &a, 0x5000, slots_a.ptrs()).unwrap();
    let cb = c.compile(&be, &b, 0x6000, slots_b.ptrs()).unwrap();
    let mut env = Env::new();
    // SAFETY: (this and the executes below) blocks compiled for this backend; env and
    // memory valid; the slots outlive the runs.
    let e = unsafe { be.execute(env.ptr(), ca.code) };
    assert_eq!(
        e,
        BlockExit::Unchained {
            tb_tag: 0x5000,
            slot: 1
        }
    );
    assert_eq!(env.u64(0), 1);
    be.link_slot(&slots_a.0[1], cb.code);
    // SAFETY: a live block of this backend; env and guest memory are valid.
    let e = unsafe { be.execute(env.ptr(), ca.code) };
    assert_eq!(e, BlockExit::Exit(5));
    assert_eq!(
        env.u64(0),
        20,
        "(1 + 1) * 10: both blocks ran in one execute"
    );
    be.unlink_slot(&slots_a.0[1]);
    // SAFETY: a live block of this backend; env and guest memory are valid.
    let e = unsafe { be.execute(env.ptr(), ca.code) };
    assert_eq!(
        e,
        BlockExit::Unchained {
            tb_tag: 0x5000,
            slot: 1
        }
    );
    assert_eq!(env.u64(0), 21);
}

/// `rax += 1; rbx += 2; if rax == 1_000_000 exit 9 else <back>`.
fn count_to_a_million(back: Op) -> Block {
    let mut b = Block::new(0x1000);
    let rax = b.global(Type::I64, RAX, "rax");
    let rbx = b.global(Type::I64, RBX, "rbx");
    let one = b.constant(Type::I64, 1);
    let two = b.constant(Type::I64, 2);
    let n = b.constant(Type::I64, 1_000_000);
    let done = b.new_label();
    b.push(Op::InsnStart { pc: 0x1000 });
    for (r, k) in [(rax, one), (rbx, two)] {
        b.push(Op::Binary {
            op: BinOp::Add,
            dst: r,
            a: r,
            b: k,
        });
    }
    b.push(Op::BrCond {
        cond: Cond::Eq,
        a: rax,
        b: n,
        label: done,
    });
    b.push(back);
    b.push(Op::SetLabel { label: done });
    b.push(Op::ExitTb { code: 9 });
    b
}

#[test]
fn a_self_chained_block_loops_a_million_times_without_growing_the_stack() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    // Linked to itself.
    let b = count_to_a_million(Op::GotoTb { slot: 0 });
    let cb = c.compile(&be, &b, 0x5000, slots.ptrs()).unwrap();
    be.link_slot(&slots.0[0], cb.code);
    let mut env = Env::new();
    // SAFETY: a live block of this backend; env and guest memory are valid. A tail call per
    // iteration keeps the stack flat (a non-tail call would overflow the 2 MiB test-thread
    // stack long before a million frames).
    let e = unsafe { be.execute(env.ptr(), cb.code) };
    assert_eq!(e, BlockExit::Exit(9));
    assert_eq!(env.u64(0), 1_000_000);
}

/// A backend whose `GotoStart` loops inside the block.
fn looping_backend(mem: &GuestMem) -> Arc<tcg_backend_cranelift::Backend> {
    let mut cfg = tcg_backend_cranelift::BackendConfig::new(mem.base as u64, GUEST_SIZE, 0);
    cfg.cache_capacity = 1 << 20;
    cfg.goto_start_loops = true;
    tcg_backend_cranelift::Backend::new(cfg).expect("backend")
}

#[test]
fn goto_start_loops_inside_the_block() {
    let mem = GuestMem::new();
    let be = looping_backend(&mem);
    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    let b = count_to_a_million(Op::GotoStart { slot: 0 });
    let cb = c.compile(&be, &b, 0x5000, slots.ptrs()).unwrap();
    let mut env = Env::new();
    // SAFETY: a live block of this backend; env and guest memory are valid.
    let e = unsafe { be.execute(env.ptr(), cb.code) };
    assert_eq!(e, BlockExit::Exit(9));
    assert_eq!(env.u64(RAX as usize), 1_000_000);
    assert_eq!(
        env.u64(RBX as usize),
        2_000_000,
        "globals written back at the exit"
    );
}

/// The contract of `goto_start_loops`: the loop checks nothing of its own, so a request
/// another thread raises is seen by the block's first op at the next iteration.
#[test]
fn goto_start_loop_sees_a_request_raised_by_another_thread() {
    // start: if request != 0 exit 7; rax += 1; goto_start
    const REQUEST: u32 = 32;
    let mem = GuestMem::new();
    let be = looping_backend(&mem);
    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    let mut b = Block::new(0x1000);
    let rax = b.global(Type::I64, RAX, "rax");
    let one = b.constant(Type::I64, 1);
    let zero = b.constant(Type::I32, 0);
    let req = b.new_temp(Type::I32);
    let leave = b.new_label();
    b.push(Op::LoadState {
        dst: req,
        offset: REQUEST,
        mem: MemOp::unsigned(4),
    });
    b.push(Op::BrCond {
        cond: Cond::Ne,
        a: req,
        b: zero,
        label: leave,
    });
    b.push(Op::InsnStart { pc: 0x1000 });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: rax,
        a: rax,
        b: one,
    });
    b.push(Op::GotoStart { slot: 0 });
    b.push(Op::SetLabel { label: leave });
    b.push(Op::ExitTb { code: 7 });
    let cb = c.compile(&be, &b, 0x5000, slots.ptrs()).unwrap();
    for round in 0..20 {
        let mut env = Env::new();
        let p = env.ptr();
        assert_eq!(p as usize % 4, 0, "the allocator aligns the env");
        // SAFETY: 4-aligned (checked) and inside the env, which outlives the
        // scope below; the block reads the word with a plain 4-byte load while this thread
        // only stores to it atomically.
        let word = unsafe {
            &*p.add(REQUEST as usize)
                .cast::<std::sync::atomic::AtomicU32>()
        };
        let e = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_micros(100 * round));
                word.store(1, Ordering::SeqCst);
            });
            // SAFETY: a live block of this backend; env and guest memory are valid.
            unsafe { be.execute(p, cb.code) }
        });
        assert_eq!(e, BlockExit::Exit(7));
        assert_eq!(
            env.u64(RBX as usize),
            0,
            "only rax is written (round {round})"
        );
    }
}

#[test]
fn goto_start_loop_exits_before_its_writes_see_the_last_iteration() {
    // start: if rax == 1000 goto done; rax += 1; rbx += 2; goto_start
    // done:  rcx += rbx; exit
    // At the exit rax and rbx are dirty from the previous iteration (not from this one), and
    // rcx is read only there: the stores and loads must see the loop's values.
    let mem = GuestMem::new();
    let be = looping_backend(&mem);
    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    let mut b = Block::new(0x1000);
    let rax = b.global(Type::I64, RAX, "rax");
    let rbx = b.global(Type::I64, RBX, "rbx");
    let rcx = b.global(Type::I64, RCX, "rcx");
    let one = b.constant(Type::I64, 1);
    let two = b.constant(Type::I64, 2);
    let n = b.constant(Type::I64, 1000);
    let done = b.new_label();
    b.push(Op::InsnStart { pc: 0x1000 });
    b.push(Op::BrCond {
        cond: Cond::Eq,
        a: rax,
        b: n,
        label: done,
    });
    for (r, k) in [(rax, one), (rbx, two)] {
        b.push(Op::Binary {
            op: BinOp::Add,
            dst: r,
            a: r,
            b: k,
        });
    }
    b.push(Op::GotoStart { slot: 0 });
    b.push(Op::SetLabel { label: done });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: rcx,
        a: rcx,
        b: rbx,
    });
    b.push(Op::ExitTb { code: 9 });
    let cb = c.compile(&be, &b, 0x5000, slots.ptrs()).unwrap();
    let mut env = Env::new();
    env.set_u64(RCX as usize, 5);
    // SAFETY: a live block of this backend; env and guest memory are valid.
    let e = unsafe { be.execute(env.ptr(), cb.code) };
    assert_eq!(e, BlockExit::Exit(9));
    assert_eq!(env.u64(RAX as usize), 1000);
    assert_eq!(env.u64(RBX as usize), 2000);
    assert_eq!(env.u64(RCX as usize), 2005);
}

/// Code addresses for `lookup`, indexed by `rip & 7`.
static TABLE: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

extern "C" fn lookup(env: *mut u8) -> usize {
    // SAFETY: the tests pass an `Env` buffer, which holds rip at offset RIP.
    let rip = unsafe { env.add(RIP as usize).cast::<u64>().read_unaligned() };
    TABLE[(rip & 7) as usize].load(Ordering::Acquire)
}

#[test]
fn lookup_and_goto_ptr_hit_and_miss() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, lookup as *const () as usize, 1 << 20);
    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    // Block A: rax += 3; rip = <given>; lookup_and_goto_ptr.
    let mk = |target: u64| {
        let mut b = Block::new(0x1000);
        let rax = b.global(Type::I64, RAX, "rax");
        let rip = b.global(Type::I64, RIP, "rip");
        let k = b.constant(Type::I64, 3);
        b.push(Op::InsnStart { pc: 0x1000 });
        b.push(Op::Binary {
            op: BinOp::Add,
            dst: rax,
            a: rax,
            b: k,
        });
        b.push(Op::Const {
            dst: rip,
            imm: target,
        });
        b.push(Op::LookupAndGotoPtr);
        b
    };
    let target = arith_block(BinOp::Mul, 7, Op::ExitTb { code: 77 });
    let ct = c.compile(&be, &target, 0x7000, slots.ptrs()).unwrap();
    TABLE[1].store(ct.code as usize, Ordering::Release);
    let hit = c.compile(&be, &mk(0x2001), 0x5000, slots.ptrs()).unwrap();
    let miss = c.compile(&be, &mk(0x2002), 0x5000, slots.ptrs()).unwrap();
    let mut env = Env::new();
    // SAFETY: as above; `lookup` returns only live blocks of this backend or 0.
    let e = unsafe { be.execute(env.ptr(), hit.code) };
    assert_eq!(e, BlockExit::Exit(77));
    assert_eq!(
        env.u64(0),
        21,
        "lookup saw the written-back rip, target ran"
    );
    // SAFETY: a live block of this backend; env and guest memory are valid.
    let e = unsafe { be.execute(env.ptr(), miss.code) };
    assert_eq!(e, BlockExit::Exit(0));
    assert_eq!(env.u64(0), 24);
    assert_eq!(env.u64(RIP as usize), 0x2002);
}

extern "C" fn read_rbx(env: u64) -> u64 {
    // SAFETY: called by test blocks with their env pointer.
    unsafe { (env as *const u64).add(RBX as usize / 8).read() }
}

extern "C" fn write_rbx(env: u64, v: u64) -> u64 {
    // SAFETY: called by test blocks with their env pointer.
    unsafe { (env as *mut u64).add(RBX as usize / 8).write(v) };
    0
}

#[test]
fn helpers_see_and_change_globals() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    let reader: &'static Helper = Box::leak(Box::new(Helper {
        name: "read_rbx",
        addr: read_rbx as *const () as usize,
        args: &[Type::I64],
        ret: Some(Type::I64),
        flags: HelperFlags {
            reads_state: true,
            ..Default::default()
        },
    }));
    let writer: &'static Helper = Box::leak(Box::new(Helper {
        name: "write_rbx",
        addr: write_rbx as *const () as usize,
        args: &[Type::I64, Type::I64],
        ret: Some(Type::I64),
        flags: HelperFlags {
            writes_state: true,
            ..Default::default()
        },
    }));
    let mut b = Block::new(0x1000);
    let env_t = b.env();
    let rax = b.global(Type::I64, RAX, "rax");
    let rbx = b.global(Type::I64, RBX, "rbx");
    let k = b.constant(Type::I64, 41);
    let one = b.constant(Type::I64, 1);
    let t = b.new_temp(Type::I64);
    b.push(Op::InsnStart { pc: 0x1000 });
    // rbx = 41 (kept in a register), the reader must see it.
    b.push(Op::Mov { dst: rbx, src: k });
    b.push(Op::Call {
        helper: reader,
        args: vec![env_t],
        ret: Some(t),
    });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: rax,
        a: t,
        b: one,
    });
    // The writer sets rbx = rax * 2 behind the block's back; the block must reload it.
    let two = b.constant(Type::I64, 2);
    let v = b.new_temp(Type::I64);
    b.push(Op::Binary {
        op: BinOp::Mul,
        dst: v,
        a: rax,
        b: two,
    });
    b.push(Op::Call {
        helper: writer,
        args: vec![env_t, v],
        ret: None,
    });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: rax,
        a: rbx,
        b: one,
    });
    b.push(Op::ExitTb { code: 1 });
    let mut env = Env::new();
    run_both(&be, &b, &mut env, &mem);
    assert_eq!(env.u64(RAX as usize), 85);
    assert_eq!(env.u64(RBX as usize), 84);
}

extern "C" fn sum6(a: u64, b: u64, c: u64, d: u64, e: u64, f: u64) -> u64 {
    a + 10 * b + 100 * c + 1000 * d + 10000 * e + 100000 * f
}

#[test]
fn helper_arguments_arrive_in_order() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    static ARGS: [Type; 6] = [Type::I64; 6];
    let h: &'static Helper = Box::leak(Box::new(Helper {
        name: "sum6",
        addr: sum6 as *const () as usize,
        args: &ARGS,
        ret: Some(Type::I64),
        flags: HelperFlags {
            pure: true,
            ..Default::default()
        },
    }));
    let mut b = Block::new(0);
    let rax = b.global(Type::I64, RAX, "rax");
    let args = (1..=6).map(|i| b.constant(Type::I64, i)).collect();
    b.push(Op::Call {
        helper: h,
        args,
        ret: Some(rax),
    });
    b.push(Op::ExitTb { code: 0 });
    let mut env = Env::new();
    run_both(&be, &b, &mut env, &mem);
    assert_eq!(env.u64(0), 654321);
}

#[test]
fn backward_branch_loop() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    // for i in 0..100 { mem[0x100 + 8*i] = i * i; rax += i }
    let mut b = Block::new(0);
    let rax = b.global(Type::I64, RAX, "rax");
    let i = b.constant(Type::I64, 0);
    let one = b.constant(Type::I64, 1);
    let n = b.constant(Type::I64, 100);
    let eight = b.constant(Type::I64, 8);
    let base = b.constant(Type::I64, 0x100);
    let top = b.new_label();
    let (sq, a) = (b.new_temp(Type::I64), b.new_temp(Type::I64));
    b.push(Op::SetLabel { label: top });
    b.push(Op::Binary {
        op: BinOp::Mul,
        dst: sq,
        a: i,
        b: i,
    });
    b.push(Op::Binary {
        op: BinOp::Mul,
        dst: a,
        a: i,
        b: eight,
    });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: a,
        a,
        b: base,
    });
    b.push(Op::Store {
        src: sq,
        addr: a,
        mem: MemOp::unsigned(8),
    });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: rax,
        a: rax,
        b: i,
    });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: i,
        a: i,
        b: one,
    });
    b.push(Op::BrCond {
        cond: Cond::Ltu,
        a: i,
        b: n,
        label: top,
    });
    b.push(Op::ExitTb { code: 3 });
    let mut env = Env::new();
    run_both(&be, &b, &mut env, &mem);
    assert_eq!(env.u64(0), 4950);
    assert_eq!(
        u64::from_le_bytes(
            mem.bytes()[0x100 + 8 * 99..0x100 + 8 * 100]
                .try_into()
                .unwrap()
        ),
        99 * 99
    );
}

/// A block of three instructions; the second loads from `addr` (8 bytes, `aligned` as given).
fn faulting_block(addr: u64, aligned: bool) -> Block {
    let mut b = Block::new(0x1000);
    let rax = b.global(Type::I64, RAX, "rax");
    let rbx = b.global(Type::I64, RBX, "rbx");
    let one = b.constant(Type::I64, 1);
    let a = b.constant(Type::I64, addr);
    b.push(Op::InsnStart { pc: 0x1000 });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: rax,
        a: rax,
        b: one,
    });
    b.push(Op::InsnStart { pc: 0x1004 });
    b.push(Op::Load {
        dst: rbx,
        addr: a,
        mem: MemOp {
            size: 8,
            signed: false,
            aligned,
        },
    });
    b.push(Op::InsnStart { pc: 0x1009 });
    b.push(Op::Binary {
        op: BinOp::Add,
        dst: rax,
        a: rax,
        b: rbx,
    });
    b.push(Op::ExitTb { code: 0 });
    b
}

/// Runs `code` in a forked child and returns (faulting host pc, signal), read back through
/// a shared page.
fn fault_in_child(be: &tcg_backend_cranelift::Backend, code: *const u8) -> (usize, i32) {
    // SAFETY: a shared anonymous page for the child's report.
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    }
    .cast::<usize>();
    assert_ne!(shared.cast(), libc::MAP_FAILED);
    let mut env = Env::new();
    // SAFETY: fork; the child only calls async-signal-safe functions, runs translated code
    // (which takes no locks) and exits with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: installing a handler in the child; it records and _exits.
        unsafe {
            CHILD_SHARED.store(shared as usize, Ordering::SeqCst);
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = child_handler as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            for sig in [libc::SIGSEGV, libc::SIGILL, libc::SIGBUS] {
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
            be.execute(env.ptr(), code);
            libc::_exit(1);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child did not fault"
    );
    // SAFETY: the child wrote both words before exiting.
    let r = unsafe { (shared.read_volatile(), shared.add(1).read_volatile() as i32) };
    // SAFETY: unmapping the page mapped above.
    unsafe { libc::munmap(shared.cast(), 4096) };
    r
}

static CHILD_SHARED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn child_handler(sig: libc::c_int, _: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    let shared = CHILD_SHARED.load(Ordering::SeqCst) as *mut usize;
    // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler; `shared` is the
    // shared page mapped by the parent before the fork; _exit is async-signal-safe.
    unsafe {
        let pc = signal_pc(uc.cast::<libc::ucontext_t>());
        shared.write_volatile(pc);
        shared.add(1).write_volatile(sig as usize);
        libc::_exit(0);
    }
}

/// The pc a signal interrupted, from the host's machine context.
///
/// # Safety
/// `uc` is the ucontext the kernel passed to an `SA_SIGINFO` handler.
unsafe fn signal_pc(uc: *const libc::ucontext_t) -> usize {
    // SAFETY: by the caller's contract `uc` is valid; each arm reads that host's pc field.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        let pc = (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
        #[cfg(target_arch = "aarch64")]
        let pc = (*uc).uc_mcontext.pc as usize;
        #[cfg(target_arch = "riscv64")]
        let pc = (*uc).uc_mcontext.__gregs[0] as usize;
        #[cfg(target_arch = "s390x")]
        let pc = (*uc).uc_mcontext.psw.addr as usize;
        pc
    }
}

#[test]
fn faults_map_back_to_the_guest_instruction() {
    let mut mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    let mut c = Compiler::new();
    let slots = Slots::new(&be);

    // An address past guest_size traps at its bound check, before the access.
    let cb = compile(
        &be,
        &mut c,
        &faulting_block(GUEST_SIZE + 0x10_0000, false),
        &slots,
    );
    // Pure code may move or merge across instruction starts (the first add folds into the
    // last one), but the load stays in its instruction and the map is sorted and merged.
    let pcs: Vec<u64> = cb.insn_map.iter().map(|&(_, pc)| pc).collect();
    assert!(pcs.contains(&0x1004), "{:?}", cb.insn_map);
    assert!(pcs.iter().all(|pc| [0x1000, 0x1004, 0x1009].contains(pc)));
    assert!(pcs.windows(2).all(|w| w[0] != w[1]));
    assert!(cb.insn_map.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(cb.guest_pc(cb.code as usize + cb.len), None);
    let (pc, sig) = fault_in_child(&be, cb.code);
    assert_eq!(sig, libc::SIGILL);
    assert!(be.code_cache().contains(pc));
    assert_eq!(cb.guest_pc(pc), Some(0x1004));
    assert!(cb.is_bounds_trap(pc));
    assert!(!cb.is_alignment_trap(pc));
    // So does an address near the top of the 64-bit space, which added to the base wraps
    // around below it.
    let cb = compile(
        &be,
        &mut c,
        &faulting_block(u64::MAX - 0xfff, false),
        &slots,
    );
    let (pc, sig) = fault_in_child(&be, cb.code);
    assert_eq!(sig, libc::SIGILL);
    assert!(cb.is_bounds_trap(pc));
    assert_eq!(cb.guest_pc(pc), Some(0x1004));

    // An 8-byte access straddling the end of guest memory faults too.
    let cb = compile(&be, &mut c, &faulting_block(GUEST_SIZE - 4, false), &slots);
    let (pc, sig) = fault_in_child(&be, cb.code);
    assert_eq!(sig, libc::SIGSEGV);
    assert_eq!(cb.guest_pc(pc), Some(0x1004));
    assert!(!cb.is_bounds_trap(pc));

    // A misaligned access marked `aligned` traps at its alignment check.
    let cb = compile(&be, &mut c, &faulting_block(0x103, true), &slots);
    assert_eq!(cb.alignment_traps.len(), 1);
    let (pc, sig) = fault_in_child(&be, cb.code);
    assert_eq!(sig, libc::SIGILL);
    assert!(cb.is_alignment_trap(pc));
    assert!(!cb.is_bounds_trap(pc));
    assert_eq!(cb.guest_pc(pc), Some(0x1004));

    // The same block with an aligned address runs through.
    let blk = faulting_block(0x100, true);
    let mut env = Env::new();
    mem.bytes_mut()[0x100..0x108].copy_from_slice(&5u64.to_le_bytes());
    run_both(&be, &blk, &mut env, &mem);
    assert_eq!(env.u64(0), 6);

    // An address known to be below the bound needs no check: a constant (a RIP-relative
    // global's), or one masked to fewer bits than the guest space has.
    let cb = compile(&be, &mut c, &faulting_block(0x100, false), &slots);
    assert!(cb.bounds_traps.is_empty());
    let masked = |mask: u64| {
        let mut b = Block::new(0x1000);
        let rax = b.global(Type::I64, RAX, "rax");
        let m = b.constant(Type::I64, mask);
        let a = b.new_temp(Type::I64);
        b.push(Op::InsnStart { pc: 0x1000 });
        b.push(Op::Binary {
            op: BinOp::And,
            dst: a,
            a: rax,
            b: m,
        });
        b.push(Op::Load {
            dst: rax,
            addr: a,
            mem: MemOp::unsigned(8),
        });
        b.push(Op::ExitTb { code: 0 });
        b
    };
    let cb = compile(&be, &mut c, &masked(GUEST_SIZE - 8), &slots);
    assert!(cb.bounds_traps.is_empty());
    let mut env = Env::new();
    env.set_u64(0, 0xdead_0000_0000_0100);
    run_both(&be, &masked(GUEST_SIZE - 8), &mut env, &mem);
    assert_eq!(env.u64(0), 5);
    // A mask wider than the guest space keeps the check.
    let cb = compile(&be, &mut c, &masked(GUEST_SIZE * 2 - 1), &slots);
    assert_eq!(cb.bounds_traps.len(), 1);
}

#[test]
fn cache_full_then_flush_and_reuse() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 64 << 10);
    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    let cache = be.code_cache();
    let base_used = cache.used();
    assert!(base_used > 0, "trampoline and stub are in the cache");
    let mut blocks = Vec::new();
    let err = loop {
        let blk = arith_block(BinOp::Add, blocks.len() as u64, Op::ExitTb { code: 1 });
        match c.compile(&be, &blk, 0x1000, slots.ptrs()) {
            Ok(cb) => blocks.push(cb),
            Err(e) => break e,
        }
        assert!(blocks.len() < 100_000);
    };
    assert_eq!(err, CompileError::CacheFull);
    assert!(blocks.len() > 100, "{} blocks fit in 64 KiB", blocks.len());
    let per_block = (cache.used() - base_used) / blocks.len();
    assert!(per_block <= 256, "{per_block} bytes per tiny block");
    assert!(cache.contains(blocks[0].code as usize));
    assert!(cache.used() <= cache.capacity());
    // SAFETY: nothing runs translated code and no compile is in progress; the blocks are
    // discarded below.
    unsafe { cache.flush() };
    assert_eq!(cache.used(), base_used);
    assert!(!cache.contains(blocks[0].code as usize));
    blocks.clear();
    let blk = arith_block(BinOp::Add, 5, Op::ExitTb { code: 2 });
    let cb = c.compile(&be, &blk, 0x1000, slots.ptrs()).unwrap();
    let mut env = Env::new();
    assert_eq!(
        // SAFETY: freshly compiled after the flush; the trampoline survived the flush.
        unsafe { be.execute(env.ptr(), cb.code) },
        BlockExit::Exit(2)
    );
    assert_eq!(env.u64(0), 5);
}

#[test]
fn concurrent_compiles_share_one_cache() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 8 << 20);
    let threads = 4;
    let per = 150;
    let results: Vec<Vec<(usize, usize, u64)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let be = Arc::clone(&be);
                s.spawn(move || {
                    let mut c = Compiler::new();
                    let slots = Slots::new(&be);
                    let mut out = Vec::new();
                    for i in 0..per {
                        let k = (t * 1000 + i) as u64;
                        let blk = arith_block(BinOp::Add, k, Op::ExitTb { code: k as u32 });
                        let cb = c.compile(&be, &blk, 0x1000, slots.ptrs()).unwrap();
                        let mut env = Env::new();
                        // SAFETY: compiled for this backend, nothing flushes.
                        let e = unsafe { be.execute(env.ptr(), cb.code) };
                        assert_eq!(e, BlockExit::Exit(k as u32));
                        assert_eq!(env.u64(0), k);
                        out.push((cb.code as usize, cb.len, k));
                    }
                    out
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<(usize, usize, u64)> = results.into_iter().flatten().collect();
    all.sort();
    for w in all.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "blocks overlap");
    }
    // Every block still runs correctly after all threads finished writing.
    for &(code, _, k) in &all {
        let mut env = Env::new();
        // SAFETY: live blocks of this backend.
        let e = unsafe { be.execute(env.ptr(), code as *const u8) };
        assert_eq!(e, BlockExit::Exit(k as u32));
    }
}

#[test]
fn compile_errors() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    let blk = arith_block(BinOp::Add, 1, Op::ExitTb { code: 0 });
    assert!(matches!(
        c.compile(&be, &blk, 0x1002, slots.ptrs()),
        Err(CompileError::Unsupported(_))
    ));
    let blk = arith_block(BinOp::Add, 1, Op::GotoTb { slot: 0 });
    assert!(matches!(
        c.compile(&be, &blk, 0x1000, [std::ptr::null(); tcg::JUMP_SLOTS]),
        Err(CompileError::Unsupported(_))
    ));
    let blk = arith_block(BinOp::Add, 1, Op::LookupAndGotoPtr);
    assert!(matches!(
        c.compile(&be, &blk, 0x1000, slots.ptrs()),
        Err(CompileError::Unsupported(_))
    ));
    let mut bad = Block::new(0);
    let x = bad.new_temp(Type::I32);
    bad.push(Op::Const { dst: x, imm: 1 });
    assert!(matches!(
        c.compile(&be, &bad, 0x1000, slots.ptrs()),
        Err(CompileError::Invalid(_))
    ));
}

#[test]
fn shared_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<tcg_backend_cranelift::Backend>();
    send_sync::<tcg_backend_cranelift::CodeCache>();
    send_sync::<tcg_backend_cranelift::CompiledBlock>();
    send::<Compiler>();
}

/// The 16-byte compare-and-swap is atomic with respect to 8-byte atomics on the same bytes:
/// threads increment both halves of a pair by 16-byte CAS loops in translated code while
/// another adds to its high half with 8-byte atomic adds meanwhile, and no update is lost.
/// (A lock around a plain read-modify-write of the pair serialises only the 16-byte
/// operations and loses 8-byte adds that land between its read and its write; that takes
/// threads running at the same time on different cores: under qemu-user on this 2-core,
/// shared CI machine the lock version was not caught in several tries.)
#[test]
fn cmpxchg16_is_atomic_against_8_byte_atomics() {
    use tcg::{AtomicOp, Conv};
    const PAIR: u64 = 0x2000;
    const CAS_ROUNDS: u64 = 50_000;
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);

    // rax:rbx = cmpxchg16(PAIR, expected rax:rbx, new (rax+1):(rbx+1)); exit.
    let mut cas = Block::new(0x1000);
    let rax = cas.global(Type::I64, RAX, "rax");
    let rbx = cas.global(Type::I64, RBX, "rbx");
    let addr = cas.constant(Type::I64, PAIR);
    let one = cas.constant(Type::I64, 1);
    let (e, n, old) = (
        cas.new_temp(Type::I128),
        cas.new_temp(Type::I128),
        cas.new_temp(Type::I128),
    );
    let (nlo, nhi) = (cas.new_temp(Type::I64), cas.new_temp(Type::I64));
    cas.push(Op::InsnStart { pc: 0x1000 });
    cas.push(Op::Concat {
        dst: e,
        lo: rax,
        hi: rbx,
    });
    for (dst, src) in [(nlo, rax), (nhi, rbx)] {
        cas.push(Op::Binary {
            op: BinOp::Add,
            dst,
            a: src,
            b: one,
        });
    }
    cas.push(Op::Concat {
        dst: n,
        lo: nlo,
        hi: nhi,
    });
    cas.push(Op::AtomicCmpxchg {
        dst: old,
        addr,
        expected: e,
        new: n,
        mem: MemOp {
            size: 16,
            signed: false,
            aligned: true,
        },
    });
    for (dst, conv) in [(rax, Conv::I128Lo), (rbx, Conv::I128Hi)] {
        cas.push(Op::Convert {
            conv,
            dst,
            src: old,
        });
    }
    cas.push(Op::ExitTb { code: 0 });

    // rax = atomic_add(PAIR + 8, 1); exit.
    let mut add = Block::new(0x2000);
    let rax = add.global(Type::I64, RAX, "rax");
    let hi_addr = add.constant(Type::I64, PAIR + 8);
    let one = add.constant(Type::I64, 1);
    add.push(Op::InsnStart { pc: 0x2000 });
    add.push(Op::AtomicRmw {
        op: AtomicOp::Add,
        dst: rax,
        addr: hi_addr,
        val: one,
        mem: MemOp::unsigned(8),
    });
    add.push(Op::ExitTb { code: 0 });

    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    let cas_code = compile(&be, &mut c, &cas, &slots).code as usize;
    let add_code = compile(&be, &mut c, &add, &slots).code as usize;
    let running = AtomicUsize::new(2);
    let adds = std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut env = Env::new();
                let mut done = 0;
                let (mut lo, mut hi) = (0u64, 0u64);
                while done < CAS_ROUNDS {
                    env.set_u64(RAX as usize, lo);
                    env.set_u64(RBX as usize, hi);
                    // SAFETY: a block of this backend; env and guest memory are valid and
                    // the block touches guest memory only atomically.
                    unsafe { be.execute(env.ptr(), cas_code as *const u8) };
                    let (old_lo, old_hi) = (env.u64(RAX as usize), env.u64(RBX as usize));
                    if (old_lo, old_hi) == (lo, hi) {
                        done += 1;
                        (lo, hi) = (lo + 1, hi + 1);
                    } else {
                        (lo, hi) = (old_lo, old_hi);
                    }
                }
                running.fetch_sub(1, Ordering::SeqCst);
            });
        }
        // Add for as long as the CAS loops run.
        s.spawn(|| {
            let mut env = Env::new();
            let mut adds = 0u64;
            while running.load(Ordering::SeqCst) > 0 {
                // SAFETY: as above.
                unsafe { be.execute(env.ptr(), add_code as *const u8) };
                adds += 1;
            }
            adds
        })
        .join()
        .expect("adder")
    });
    let b = mem.bytes();
    let word = |a: u64| u64::from_le_bytes(b[a as usize..a as usize + 8].try_into().unwrap());
    assert_eq!(word(PAIR), 2 * CAS_ROUNDS, "low half: the CAS increments");
    assert_eq!(
        word(PAIR + 8),
        2 * CAS_ROUNDS + adds,
        "high half: the CAS increments and the {adds} 8-byte adds"
    );
    assert!(tcg_backend_cranelift::cmpxchg16_is_lock_free() || cfg!(target_arch = "riscv64"));
}

static PROBE_MISSES: AtomicUsize = AtomicUsize::new(0);

extern "C" fn counting_miss(_env: *mut u8) -> usize {
    PROBE_MISSES.fetch_add(1, Ordering::SeqCst);
    0
}

/// A block descriptor as the probe reads it.
#[repr(C)]
struct Desc {
    pc: u64,
    valid: u32,
    pad: u32,
    code: usize,
}

#[test]
fn inline_jump_cache_probe_hits_without_calling_and_misses_to_lookup_fn() {
    const ENTRIES: u32 = 256;
    let mem = GuestMem::new();
    let mut cfg = tcg_backend_cranelift::BackendConfig::new(
        mem.base as u64,
        GUEST_SIZE,
        counting_miss as *const () as usize,
    );
    cfg.cache_capacity = 1 << 20;
    cfg.jump_cache_probe = Some(tcg_backend_cranelift::JumpCacheProbe {
        pc_env_offset: RIP as i32,
        entries_env_offset: ENTRIES as i32,
        mask: 15,
        shift: 12,
        desc_pc: 0,
        desc_valid: 8,
        desc_code: 16,
    });
    let be = tcg_backend_cranelift::Backend::new(cfg).unwrap();
    let mut c = Compiler::new();
    let slots = Slots::new(&be);
    let target = arith_block(BinOp::Mul, 7, Op::ExitTb { code: 77 });
    let ct = c.compile(&be, &target, 0x7000, slots.ptrs()).unwrap();
    // Block: rip = 0x2003; lookup_and_goto_ptr. Index of 0x2003: (0x2003 ^ 0x2) & 15 = 1.
    let mut b = Block::new(0x1000);
    let rip = b.global(Type::I64, RIP, "rip");
    b.push(Op::InsnStart { pc: 0x1000 });
    b.push(Op::Const {
        dst: rip,
        imm: 0x2003,
    });
    b.push(Op::LookupAndGotoPtr);
    let jumper = c.compile(&be, &b, 0x5000, slots.ptrs()).unwrap();
    let mut table = [0usize; 16];
    let mut run = |desc: Option<&Desc>| {
        table[1] = desc.map_or(0, |d| d as *const Desc as usize);
        let mut env = Env::new();
        env.set_u64(0, 3);
        env.set_u64(ENTRIES as usize, table.as_ptr() as u64);
        let before = PROBE_MISSES.load(Ordering::SeqCst);
        // SAFETY: blocks of this backend; env is valid for the offsets used and holds the
        // table pointer, whose descriptors outlive the run and name live code or 0.
        let e = unsafe { be.execute(env.ptr(), jumper.code) };
        let misses = PROBE_MISSES.load(Ordering::SeqCst) - before;
        (e, env.u64(0), misses, env.u64(RIP as usize))
    };
    let good = Desc {
        pc: 0x2003,
        valid: 0,
        pad: 0,
        code: ct.code as usize,
    };
    // A hit leaves the pc unstored (the block entered knows its own), a miss stores it for
    // the lookup.
    assert_eq!(run(Some(&good)), (BlockExit::Exit(77), 21, 0, 0), "hit");
    for (what, d) in [
        ("other pc", Desc { pc: 0x2004, ..good }),
        ("invalid", Desc { valid: 1, ..good }),
        ("no code", Desc { code: 0, ..good }),
    ] {
        assert_eq!(run(Some(&d)), (BlockExit::Exit(0), 3, 1, 0x2003), "{what}");
    }
    assert_eq!(run(None), (BlockExit::Exit(0), 3, 1, 0x2003), "empty entry");
}

/// `rcx = convs(load(size at 0x40) & mask)` (the conversions applied in order), then exit.
fn extension_block(size: u8, mask: u64, convs: &[tcg::Conv]) -> Block {
    let mut b = Block::new(0x1000);
    let rcx = b.global(Type::I64, RCX, "rcx");
    let a = b.constant(Type::I64, 0x40);
    let m = b.constant(Type::I64, mask);
    let v = b.new_temp(Type::I64);
    b.push(Op::InsnStart { pc: 0x1000 });
    b.push(Op::Load {
        dst: v,
        addr: a,
        mem: MemOp::unsigned(size),
    });
    let mut x = b.new_temp(Type::I64);
    b.push(Op::Binary {
        op: BinOp::And,
        dst: x,
        a: v,
        b: m,
    });
    for &conv in convs {
        let y = b.new_temp(Type::I64);
        b.push(Op::Convert {
            conv,
            dst: y,
            src: x,
        });
        x = y;
    }
    b.push(Op::Mov { dst: rcx, src: x });
    b.push(Op::ExitTb { code: 0 });
    b
}

/// Bytes of host code for `blk`.
fn code_len(be: &tcg_backend_cranelift::Backend, blk: &Block) -> usize {
    let mut c = Compiler::new();
    compile(be, &mut c, blk, &Slots::new(be)).len
}

#[test]
fn zero_extending_a_value_that_fits_costs_nothing() {
    use tcg::Conv::{Ext16u, Ext32u};
    let mut mem = GuestMem::new();
    mem.bytes_mut()[0x40..0x48].copy_from_slice(&0x8899_aabb_ccdd_eeffu64.to_le_bytes());
    let be = backend_for(&mem, 0, 1 << 20);
    let all = u64::MAX;
    // A 16-bit load, or a mask of 16 bits, fits in 32 (and 16) bits.
    for (size, mask, conv) in [(2, all, Ext32u), (2, all, Ext16u), (8, 0xffff, Ext32u)] {
        let blk = extension_block(size, mask, &[conv]);
        let plain = code_len(&be, &extension_block(size, mask, &[]));
        assert_eq!(
            code_len(&be, &blk),
            plain,
            "{conv:?} of {size} bytes & {mask:#x}\n{blk}"
        );
        let mut env = Env::new();
        run_both(&be, &blk, &mut env, &mem);
    }
    // Control: a 64-bit value does need the extension.
    let blk = extension_block(8, all, &[Ext32u]);
    assert!(
        code_len(&be, &blk) > code_len(&be, &extension_block(8, all, &[])),
        "{blk}"
    );
    let mut env = Env::new();
    run_both(&be, &blk, &mut env, &mem);
    assert_eq!(env.u64(RCX as usize), 0xccdd_eeff);
}

#[test]
fn sign_extending_a_zero_extension_starts_from_the_narrow_value() {
    // `movslq` of a register a 32-bit op wrote: `ext32s(ext32u(x))` is `ext32s(x)`.
    use tcg::Conv::{Ext32s, Ext32u};
    let mut mem = GuestMem::new();
    mem.bytes_mut()[0x40..0x48].copy_from_slice(&0x1234_5678_8000_0001u64.to_le_bytes());
    let be = backend_for(&mem, 0, 1 << 20);
    let blk = extension_block(8, u64::MAX, &[Ext32u, Ext32s]);
    let direct = extension_block(8, u64::MAX, &[Ext32s]);
    assert!(code_len(&be, &blk) <= code_len(&be, &direct), "{blk}");
    let mut env = Env::new();
    run_both(&be, &blk, &mut env, &mem);
    assert_eq!(env.u64(RCX as usize), 0xffff_ffff_8000_0001);
}

#[test]
fn the_guest_base_is_made_once_per_block() {
    let mem = GuestMem::new();
    let be = backend_for(&mem, 0, 1 << 20);
    let slots = Slots::new(&be);
    let mut b = Block::new(0x1000);
    let rax = b.global(Type::I64, RAX, "rax");
    let rbx = b.global(Type::I64, RBX, "rbx");
    b.push(Op::InsnStart { pc: 0x1000 });
    for (dst, addr) in [(rbx, rax), (rax, rbx), (rbx, rax)] {
        b.push(Op::Load {
            dst,
            addr,
            mem: MemOp::unsigned(8),
        });
    }
    b.push(Op::ExitTb { code: 0 });
    let i = Compiler::new().inspect(&be, &b, TAG, slots.ptrs()).unwrap();
    let base_consts = i
        .clif
        .lines()
        .filter_map(|l| l.split("iconst.i64 ").nth(1))
        .filter_map(|v| {
            let v = v.split_whitespace().next()?.replace('_', "");
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => v.parse::<i64>().ok().map(|v| v as u64),
            }
        })
        .filter(|&v| v == be.guest_base())
        .count();
    assert_eq!(base_consts, 1, "{}", i.clif);
}

#[test]
fn an_exit_through_a_slot_leaves_its_target_pc_unstored_when_asked() {
    const PC: u32 = 0x40;
    let mem = GuestMem::new();
    let block = |target: u64| {
        let mut b = Block::new(0x1000);
        let rax = b.global(Type::I64, RAX, "rax");
        let rip = b.global(Type::I64, PC, "rip");
        let one = b.constant(Type::I64, 1);
        b.push(Op::InsnStart { pc: 0x1000 });
        b.push(Op::Binary {
            op: BinOp::Add,
            dst: rax,
            a: rax,
            b: one,
        });
        b.push(Op::Const {
            dst: rip,
            imm: 0x2000,
        });
        b.push(Op::GotoTb { slot: 1 });
        b.jump_targets[1] = Some(target);
        b
    };
    for (pc_env_offset, target, stored) in [
        (None, 0x2000, true),
        (Some(PC as i32), 0x2000, false),
        // The pc written is not the slot's target: stored.
        (Some(PC as i32), 0x3000, true),
    ] {
        let mut cfg = BackendConfig::new(mem.base as u64, GUEST_SIZE, 0);
        cfg.cache_capacity = 1 << 20;
        cfg.pc_env_offset = pc_env_offset;
        let be = Backend::new(cfg).unwrap();
        let slots = Slots::new(&be);
        let cb = compile(&be, &mut Compiler::new(), &block(target), &slots);
        let mut env = Env::new();
        env.set_u64(PC as usize, 0x1000);
        // SAFETY: the code was just compiled for this backend; `env` covers its offsets.
        let exit = unsafe { be.execute(env.ptr(), cb.code) };
        assert_eq!(
            exit,
            BlockExit::Unchained {
                tb_tag: TAG,
                slot: 1
            }
        );
        assert_eq!(env.u64(RAX as usize), 1);
        let want = if stored { 0x2000 } else { 0x1000 };
        assert_eq!(env.u64(PC as usize), want, "{pc_env_offset:?} {target:#x}");
    }
}
