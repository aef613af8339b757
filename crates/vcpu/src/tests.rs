//! The execution loop on small assembled programs: chaining, indirect jumps, syscalls and the
//! signals a guest dies of.

use std::sync::Arc;

use guest_memory::consts::{
    MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE,
};
use iced_x86::code_asm::*;
use linux_user::ProcessConfig;

use super::*;

const CODE: u64 = 0x40_0000;
const STACK_TOP: u64 = 0x80_0000;

/// Assembles `build`'s program at `CODE`, runs it on a fresh machine and returns how it ended
/// and the machine (for its counters).
fn run(
    build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    nochain: bool,
) -> (VcpuExit, Arc<Machine>) {
    run_tiered(build, nochain, DEFAULT_TIER_UP_AFTER, true)
}

/// [`run`] with blocks interpreted `tier_up_after` times before they are compiled, in the
/// background or not.
fn run_tiered(
    build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    nochain: bool,
    tier_up_after: u32,
    background_compile: bool,
) -> (VcpuExit, Arc<Machine>) {
    let config = MachineConfig {
        translate: TranslateConfig::default(),
        nochain,
        log: LogFlags::default(),
        code_cache_size: None,
        tier_up_after,
        perfmap: false,
        exec_in_place: true,
        background_compile,
    };
    let machine = machine_with(build, config);
    let mut cpu = Vcpu::new(&machine, ThreadCtx::current(), CODE, STACK_TOP - 64);
    (cpu.run(), machine)
}

/// A machine with `build`'s program at `CODE` and a stack below `STACK_TOP`.
fn machine_with(
    build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    config: MachineConfig,
) -> Arc<Machine> {
    let mut a = CodeAssembler::new(64).unwrap();
    build(&mut a).unwrap();
    let code = a.assemble(CODE).unwrap();
    // The smallest space: each test's machine stays alive (the fault handler keeps it), and
    // under qemu-user (cross-host tests) the emulated address space is bounded.
    let space = Arc::new(GuestSpace::with_max_size(guest_memory::MIN_SPACE_SIZE).unwrap());
    let anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    space
        .mmap(
            CODE,
            0x1_0000,
            PROT_READ | PROT_WRITE | PROT_EXEC,
            anon,
            None,
            0,
        )
        .unwrap();
    map_stack(&space);
    space.write(CODE, &code).unwrap();
    let process = Arc::new(Process::new(space, ProcessConfig::new("/test")));
    Machine::new(process, config, None).unwrap()
}

/// Maps the stack (and the data of the atomics tests) below `STACK_TOP`.
fn map_stack(space: &GuestSpace) {
    let anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    space
        .mmap(
            STACK_TOP - 0x1_0000,
            0x1_0000,
            PROT_READ | PROT_WRITE,
            anon,
            None,
            0,
        )
        .unwrap();
}

/// exit_group(rdi) via the syscall instruction.
fn exit_with_rdi(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(eax, 231)?;
    a.syscall()
}

/// Sums 1..=100 in a loop of chained blocks, through a call and an indirect return, and exits
/// with the low byte of the sum.
fn sum_program(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut top = a.create_label();
    let mut add = a.create_label();
    a.xor(edi, edi)?;
    a.mov(ecx, 100)?;
    a.set_label(&mut top)?;
    a.call(add)?;
    a.dec(ecx)?;
    a.jnz(top)?;
    exit_with_rdi(a)?;
    a.set_label(&mut add)?;
    a.add(rdi, rcx)?;
    a.ret()
}

#[test]
fn loop_with_calls_exits_with_the_right_status() {
    // Tier-up after one run, on the vCPU: the loop is too short to count on the background
    // compiler for the chaining checked here.
    let (end, machine) = run_tiered(sum_program, false, 1, false);
    assert_eq!(end, VcpuExit::Exit(5050));
    assert!(
        machine.tbs.stats.links.load(Ordering::Relaxed) > 0,
        "no block was chained"
    );
    // 100 iterations ran from a handful of translations.
    assert!(machine.stats.total(|c| &c.blocks_translated) < 10);
}

#[test]
fn nochain_gives_the_same_result_without_linking() {
    let (end, machine) = run(sum_program, true);
    assert_eq!(end, VcpuExit::Exit(5050));
    assert_eq!(machine.tbs.stats.links.load(Ordering::Relaxed), 0);
}

#[test]
fn undefined_instruction_kills_with_sigill_naming_the_bytes() {
    let (end, _) = run(
        |a| {
            a.nop()?;
            a.ud2()
        },
        false,
    );
    let VcpuExit::Signal { sig, message } = end else {
        panic!("{end:?}")
    };
    assert_eq!(sig, libc::SIGILL);
    let message = message.unwrap();
    assert!(
        message.contains("0x400001") && message.contains("0f 0b"),
        "{message}"
    );
}

#[test]
fn divide_by_zero_kills_with_sigfpe() {
    let (end, _) = run(
        |a| {
            a.xor(ecx, ecx)?;
            a.mov(eax, 7)?;
            a.div(ecx)
        },
        false,
    );
    assert!(
        matches!(
            end,
            VcpuExit::Signal {
                sig: libc::SIGFPE,
                ..
            }
        ),
        "{end:?}"
    );
}

#[test]
fn jumping_to_unmapped_memory_is_a_sigsegv() {
    let (end, _) = run(
        |a| {
            a.mov(rax, 0x1234_5000u64)?;
            a.jmp(rax)
        },
        false,
    );
    let VcpuExit::Signal { sig, message } = end else {
        panic!("{end:?}")
    };
    assert_eq!(sig, libc::SIGSEGV);
    assert!(message.unwrap().contains("0x12345000"));
}

#[test]
fn unmapping_code_drops_its_translations() {
    // munmap the code page from inside the guest: its blocks must be invalidated, and the next
    // fetch faults instead of running stale code.
    let (end, machine) = run(
        |a| {
            a.mov(edi, CODE as u32 + 0x1000)?;
            a.mov(esi, 0x1000)?;
            a.mov(eax, 11)?; // munmap(CODE + 0x1000, 0x1000): a page with no code
            a.syscall()?;
            a.mov(edi, CODE as u32)?;
            a.mov(eax, 11)?; // munmap(CODE, 0x1000): our own page
            a.syscall()?;
            exit_with_rdi(a)
        },
        false,
    );
    assert!(
        matches!(
            end,
            VcpuExit::Signal {
                sig: libc::SIGSEGV,
                ..
            }
        ),
        "{end:?}"
    );
    assert!(machine.tbs.stats.invalidated.load(Ordering::Relaxed) >= 1);
}

/// The racing paths of the shared block table, on purpose: four vCPU threads run the same
/// chained loop (so they translate the same blocks concurrently and race at insertion) while
/// another thread keeps invalidating the code under them (unlinking jumps into blocks that are
/// running) and flushing the whole code cache in exclusive sections. Every vCPU must still
/// compute the right result.
#[test]
fn every_tier_setting_gives_the_same_result() {
    // 0: compiled at once; 1 and 7: tier-up in the middle of the loop; MAX: interpreted only.
    for tier in [0, 1, 7, u32::MAX] {
        let (end, machine) = run_tiered(sum_program, false, tier, false);
        assert_eq!(end, VcpuExit::Exit(5050), "tier-up after {tier}");
        let get = |c: fn(&crate::Counters) -> &AtomicU64| machine.stats.total(c);
        match tier {
            0 => assert_eq!(get(|c| &c.blocks_prepared), 0),
            u32::MAX => {
                assert_eq!(get(|c| &c.blocks_compiled), 0);
                // Three blocks a round (the loop's `dec; jnz` block also holds the exit).
                assert!(get(|c| &c.interpreted_runs) >= 300);
            }
            _ => {
                assert!(
                    get(|c| &c.tier_ups) > 0,
                    "tier-up after {tier}: nothing tiered up"
                );
                assert!(machine.tbs.stats.links.load(Ordering::Relaxed) > 0);
            }
        }
    }
}

#[test]
fn background_tier_up_publishes_code_while_the_vcpu_interprets() {
    // A loop long enough for the compiler thread to deliver: the vCPU never waits for it.
    let long_loop = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut top = a.create_label();
        a.xor(edi, edi)?;
        a.mov(ecx, 2_000_000)?;
        a.set_label(&mut top)?;
        a.add(rdi, rcx)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        exit_with_rdi(a)
    };
    let (end, machine) = run_tiered(long_loop, false, 2, true);
    assert_eq!(end, VcpuExit::Exit((2_000_000u64 * 2_000_001 / 2) as i32));
    let get = |c: fn(&crate::Counters) -> &AtomicU64| machine.stats.total(c);
    assert!(get(|c| &c.tier_up_requests) > 0);
    assert!(
        get(|c| &c.tier_ups) > 0,
        "the compiler thread published nothing"
    );
}

#[test]
fn compiler_thread_starts_on_demand() {
    let running = |m: &Machine| matches!(*m.compile_queue.lock(), BackgroundCompiler::Running(_));
    let sum_loop = |n: u32| {
        move |a: &mut CodeAssembler| -> Result<(), IcedError> {
            let mut top = a.create_label();
            a.xor(edi, edi)?;
            a.mov(ecx, n)?;
            a.set_label(&mut top)?;
            a.add(rdi, rcx)?;
            a.dec(ecx)?;
            a.jnz(top)?;
            exit_with_rdi(a)
        }
    };
    // A short run: its block reaches the threshold, but the request falls in the grace.
    let (end, machine) = run_tiered(sum_loop(100), false, 2, true);
    assert_eq!(end, VcpuExit::Exit(5050));
    if machine.started.elapsed() < COMPILER_GRACE {
        assert!(!running(&machine), "a compiler thread for a short process");
    }
    // A long one: the block stays hot, which starts the thread early and queues the block.
    let (end, machine) = run_tiered(sum_loop(2_000_000), false, 2, true);
    assert_eq!(end, VcpuExit::Exit((2_000_000u64 * 2_000_001 / 2) as i32));
    assert!(running(&machine));
    assert!(machine.stats.total(|c| &c.tier_up_requests) > 0);
}

#[test]
fn vcpus_survive_invalidation_and_flushes_under_load() {
    vcpus_under_invalidation_and_flushes(0, false);
}

/// Tier-up races invalidation and flushes: blocks invalidated every 300 µs run in the
/// interpreter a few times and are compiled again, by four vCPUs at once.
#[test]
fn tier_up_survives_invalidation_and_flushes_under_load() {
    vcpus_under_invalidation_and_flushes(3, false);
}

/// The same with the compiler thread publishing code while vCPUs run, invalidate and flush.
#[test]
fn background_tier_up_survives_invalidation_and_flushes_under_load() {
    vcpus_under_invalidation_and_flushes(3, true);
}

fn vcpus_under_invalidation_and_flushes(tier_up_after: u32, background_compile: bool) {
    const VCPUS: usize = 4;
    // Under emulation (`cargo xtask cross-test` runs this under qemu-user, tens of times
    // slower) the vCPUs do proportionally less work and the chaos thread slows down with them.
    let scale: u32 = std::env::var("EMU_TEST_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let iters: u32 = 3_000_000 / scale;
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    let mut add = a.create_label();
    let mut mix = a.create_label();
    a.xor(edi, edi).unwrap();
    a.mov(ecx, iters).unwrap();
    a.set_label(&mut top).unwrap();
    a.call(add).unwrap();
    a.call(mix).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    a.mov(eax, 60).unwrap(); // exit: this thread only
    a.syscall().unwrap();
    a.set_label(&mut add).unwrap();
    a.add(rdi, rcx).unwrap();
    a.ret().unwrap();
    a.set_label(&mut mix).unwrap();
    a.xor(rdi, 0x55).unwrap();
    a.add(rdi, 3).unwrap();
    a.ret().unwrap();
    let code = a.assemble(CODE).unwrap();
    let mut expect: u64 = 0;
    for c in (1..=u64::from(iters)).rev() {
        expect = ((expect + c) ^ 0x55) + 3;
    }

    let space = Arc::new(GuestSpace::new().unwrap());
    let anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    space
        .mmap(CODE, 0x1_0000, PROT_READ | PROT_WRITE, anon, None, 0)
        .unwrap();
    space.write(CODE, &code).unwrap();
    space
        .mprotect(CODE, 0x1_0000, PROT_READ | PROT_EXEC)
        .unwrap();
    let stacks = STACK_TOP - 0x10_0000;
    space
        .mmap(stacks, 0x10_0000, PROT_READ | PROT_WRITE, anon, None, 0)
        .unwrap();
    let process = Arc::new(Process::new(space, ProcessConfig::new("/test")));
    let config = MachineConfig {
        translate: TranslateConfig::default(),
        nochain: false,
        log: LogFlags::default(),
        code_cache_size: None,
        tier_up_after,
        perfmap: false,
        exec_in_place: true,
        background_compile,
    };
    let machine = Machine::new(process, config, None).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..VCPUS {
        let stack = STACK_TOP - 0x1000 - i as u64 * 0x4_0000;
        let mut cpu = Vcpu::new(&machine, ThreadCtx::current(), CODE, stack);
        let done = done.clone();
        handles.push(std::thread::spawn(move || {
            let end = cpu.run();
            done.fetch_add(1, Ordering::SeqCst);
            end
        }));
    }
    let mut rounds = 0u64;
    while done.load(Ordering::SeqCst) < VCPUS {
        machine.invalidate_range(CODE, code.len() as u64);
        if rounds % 8 == 7 {
            let seen = machine.stats.cache_flushes.load(Ordering::Acquire);
            machine.flush_code_cache(seen);
        }
        rounds += 1;
        std::thread::sleep(std::time::Duration::from_micros(300 * u64::from(scale)));
    }
    for h in handles {
        assert_eq!(h.join().unwrap(), VcpuExit::ThreadExit(expect as i32));
    }
    let flushes = machine.stats.cache_flushes.load(Ordering::Relaxed);
    let invalidated = machine.tbs.stats.invalidated.load(Ordering::Relaxed);
    eprintln!("{rounds} rounds, {flushes} flushes, {invalidated} invalidations");
    assert!(
        flushes >= 1 && invalidated >= 1,
        "the chaos thread did not get a turn ({rounds} rounds, {flushes} flushes, {invalidated} invalidations)"
    );
}

/// Guest data for the atomics tests: in the stack mapping, 64-aligned.
const DATA: u64 = STACK_TOP - 0x8000;

/// A machine for the atomics tests: every CPU feature (cmpxchg16b), and with `forced`, the
/// exits to exclusive sections that hosts other than x86-64 need, on this host too.
fn atomics_config(forced: bool, tier_up_after: u32) -> MachineConfig {
    MachineConfig {
        translate: TranslateConfig {
            cpu: CpuModel::MAX,
            exclusive_split_atomics: forced,
            exclusive_cmpxchg16b: forced,
            ..TranslateConfig::default()
        },
        nochain: false,
        log: LogFlags::default(),
        code_cache_size: None,
        tier_up_after,
        perfmap: false,
        exec_in_place: true,
        background_compile: false,
    }
}

fn read_u64(machine: &Machine, addr: u64) -> u64 {
    let mut b = [0u8; 8];
    machine.space().read(addr, &mut b).unwrap();
    u64::from_le_bytes(b)
}

/// Locked instructions on operands across a cache line (seven of them) and one aligned
/// cmpxchg16b, one by one.
fn split_lock_program(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rdi, DATA)?;
    a.mov(rax, 0x1122_3344_5566_7788u64)?;
    a.mov(qword_ptr(rdi + 60), rax)?;
    a.mov(rcx, 0x0101_0101_0101_0101u64)?;
    a.lock().xadd(qword_ptr(rdi + 60), rcx)?;
    a.mov(qword_ptr(rdi + 0x200), rcx)?;
    a.mov(edx, 7)?;
    a.xchg(qword_ptr(rdi + 60), rdx)?;
    a.mov(qword_ptr(rdi + 0x208), rdx)?;
    a.mov(eax, 7)?;
    a.mov(esi, 42)?;
    a.lock().cmpxchg(qword_ptr(rdi + 60), rsi)?; // succeeds
    a.xor(eax, eax)?;
    a.lock().cmpxchg(qword_ptr(rdi + 60), rsi)?; // fails: rax = 42
    a.mov(qword_ptr(rdi + 0x210), rax)?;
    a.lock().inc(dword_ptr(rdi + 126))?;
    a.lock().not(qword_ptr(rdi + 60))?; // a compare-and-swap loop
    a.xor(eax, eax)?;
    a.xor(edx, edx)?;
    a.mov(ebx, 0x3333_4444)?;
    a.mov(ecx, 0x1111_2222)?;
    a.lock().cmpxchg8b(qword_ptr(rdi + 188))?;
    a.xor(eax, eax)?;
    a.xor(edx, edx)?;
    a.mov(ebx, 5)?;
    a.mov(ecx, 6)?;
    a.lock().cmpxchg16b(xmmword_ptr(rdi + 0x100))?;
    a.xor(edi, edi)?;
    exit_with_rdi(a)
}

#[test]
fn split_locks_and_cmpxchg16b_run_in_exclusive_sections() {
    // Compiled at once, and interpreted only; with the exits forced, and as this host needs.
    for (forced, tier) in [(true, 0), (true, u32::MAX), (false, 0), (false, u32::MAX)] {
        let machine = machine_with(split_lock_program, atomics_config(forced, tier));
        let mut cpu = Vcpu::new(&machine, ThreadCtx::current(), CODE, STACK_TOP - 64);
        let end = cpu.run();
        let what = format!("forced {forced}, tier-up after {tier}");
        assert_eq!(end, VcpuExit::Exit(0), "{what}");
        let m = &*machine;
        assert_eq!(read_u64(m, DATA + 60), !42, "{what}");
        assert_eq!(read_u64(m, DATA + 124) >> 16, 1, "{what}"); // the dword at 126
        assert_eq!(read_u64(m, DATA + 188), 0x1111_2222_3333_4444, "{what}");
        assert_eq!(read_u64(m, DATA + 0x100), 5, "{what}");
        assert_eq!(read_u64(m, DATA + 0x108), 6, "{what}");
        assert_eq!(read_u64(m, DATA + 0x200), 0x1122_3344_5566_7788, "{what}");
        assert_eq!(read_u64(m, DATA + 0x208), 0x1223_3445_5667_7889, "{what}");
        assert_eq!(read_u64(m, DATA + 0x210), 42, "{what}");
        let split = forced || !tcg_backend_cranelift::misaligned_atomics_supported();
        let wide = forced || !tcg_backend_cranelift::cmpxchg16_is_lock_free();
        assert_eq!(
            m.stats.total(|c| &c.exclusive_atomics),
            7 * u64::from(split) + u64::from(wide),
            "{what}"
        );
    }
}

/// As in translated code (whose alignment trap ends the process, so it is not tested here).
#[test]
fn misaligned_cmpxchg16b_is_a_sigsegv_in_an_exclusive_section_too() {
    let machine = machine_with(
        |a| {
            a.mov(rdi, DATA)?;
            a.lock().cmpxchg16b(xmmword_ptr(rdi + 0x108))?;
            exit_with_rdi(a)
        },
        atomics_config(true, 0),
    );
    let mut cpu = Vcpu::new(&machine, ThreadCtx::current(), CODE, STACK_TOP - 64);
    let end = cpu.run();
    let VcpuExit::Signal { sig, message } = end else {
        panic!("{end:?}")
    };
    assert_eq!(sig, libc::SIGSEGV);
    let message = message.unwrap();
    assert!(
        message.contains("rip=0x40000a") && message.contains("misaligned"),
        "{message}"
    );
}

/// Two vCPUs: one does split-lock adds to a qword across a cache line and increments a
/// 16-byte pair's low half by cmpxchg16b, the other aligned locked adds to the qword's high
/// half and the pair's high half, until the first is done. With the exclusive-section path
/// forced, every operation of the first runs with the second stopped: no update is lost, and
/// the other's counter does not move while a step's probe waits. (The lost updates of a
/// locked read-modify-write under a lock of its own are rare on a fast host: its window is a
/// few instructions; the probe widens it.)
#[test]
fn split_locks_are_atomic_with_respect_to_other_vcpus() {
    const ROUNDS: u32 = 1000;
    // The vCPU started with this stack pointer is the first; the other gets another.
    const FIRST_SP: u64 = STACK_TOP - 0x1000;
    let program = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        let mut other = a.create_label();
        let mut top = a.create_label();
        let mut retry = a.create_label();
        let mut again = a.create_label();
        a.mov(rdi, DATA)?;
        a.mov(rax, FIRST_SP)?;
        a.cmp(rsp, rax)?;
        a.jne(other)?;
        let mut wait = a.create_label();
        a.set_label(&mut wait)?; // until the other runs
        a.cmp(qword_ptr(rdi + 0x318), 0)?;
        a.je(wait)?;
        a.mov(esi, ROUNDS)?;
        a.set_label(&mut top)?;
        a.lock().add(qword_ptr(rdi + 60), 1)?;
        a.mov(rax, qword_ptr(rdi + 0x100))?;
        a.mov(rdx, qword_ptr(rdi + 0x108))?;
        a.set_label(&mut retry)?;
        a.lea(rbx, qword_ptr(rax + 1))?;
        a.mov(rcx, rdx)?;
        a.lock().cmpxchg16b(xmmword_ptr(rdi + 0x100))?;
        a.jne(retry)?;
        a.dec(esi)?;
        a.jnz(top)?;
        a.mov(qword_ptr(rdi + 0x300), 1)?;
        a.mov(eax, 60)?;
        a.syscall()?;
        // The other: aligned adds until the flag at 0x300 is set, counted.
        a.set_label(&mut other)?;
        a.mov(qword_ptr(rdi + 0x318), 1)?;
        a.xor(esi, esi)?;
        a.set_label(&mut again)?;
        a.lock().add(dword_ptr(rdi + 64), 1)?;
        a.lock().add(qword_ptr(rdi + 0x108), 1)?;
        a.inc(rsi)?;
        a.cmp(qword_ptr(rdi + 0x300), 0)?;
        a.je(again)?;
        a.mov(qword_ptr(rdi + 0x310), rsi)?;
        a.mov(eax, 60)?;
        a.syscall()
    };
    let machine = machine_with(program, atomics_config(true, 0));
    let moved = Arc::new(AtomicUsize::new(0));
    let probe_moved = moved.clone();
    let calls = AtomicUsize::new(0);
    *machine.step_probe.lock() = Some(Box::new(move |m: &Machine| {
        if calls.fetch_add(1, Ordering::Relaxed) % 8 != 0 {
            return;
        }
        let before = read_u64(m, DATA + 0x108);
        std::thread::sleep(std::time::Duration::from_micros(50));
        if read_u64(m, DATA + 0x108) != before {
            probe_moved.fetch_add(1, Ordering::Relaxed);
        }
    }));
    let handles: Vec<_> = [FIRST_SP, STACK_TOP - 0x4000]
        .into_iter()
        .map(|stack| {
            let mut cpu = Vcpu::new(&machine, ThreadCtx::current(), CODE, stack);
            std::thread::spawn(move || cpu.run())
        })
        .collect();
    for h in handles {
        let end = h.join().unwrap();
        assert!(matches!(end, VcpuExit::ThreadExit(_)), "{end:?}");
    }
    let m = &*machine;
    let other = read_u64(m, DATA + 0x310);
    let rounds = u64::from(ROUNDS);
    assert!(other > 0);
    assert_eq!(
        read_u64(m, DATA + 60),
        rounds | other << 32,
        "qword across the line"
    );
    assert_eq!(read_u64(m, DATA + 0x100), rounds, "pair, low half");
    assert_eq!(read_u64(m, DATA + 0x108), other, "pair, high half");
    assert!(m.stats.total(|c| &c.exclusive_atomics) >= 2 * rounds);
    assert_eq!(
        moved.load(Ordering::Relaxed),
        0,
        "another vCPU ran during exclusive steps"
    );
}

/// The second-page re-check of a translation sees what the frontend read beyond the block's
/// first page, and only that: bytes of the first page are guarded by its protection instead.
#[test]
fn fetch_log_keeps_answers_beyond_the_first_page() {
    let space = GuestSpace::with_max_size(guest_memory::MIN_SPACE_SIZE).unwrap();
    let anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    let rwx = PROT_READ | PROT_WRITE | PROT_EXEC;
    space.mmap(CODE, 0x2000, rwx, anon, None, 0).unwrap();
    space.write(CODE, &[0x90; 0x2000]).unwrap();
    let pc = CODE + 0x1000 - 8;
    let mut fetcher = CodeFetcher::new(&space, pc, true);
    let mut buf = [0; 32];
    // Within the first page: not logged.
    assert_eq!(fetcher.fetch(CODE + 0x10, &mut buf[..8]), 8);
    // Across the page end: logged whole.
    assert_eq!(fetcher.fetch(pc, &mut buf), 32);
    let log = fetcher.log.take().unwrap();
    assert_eq!(log.answers, vec![(pc, 32)]);
    assert!(log.unchanged(&space));
    space.write(CODE + 0x10, &[0xcc]).unwrap();
    assert!(
        log.unchanged(&space),
        "a first-page write is the protection's business"
    );
    space.write(CODE + 0x1000 + 20, &[0xcc]).unwrap();
    assert!(!log.unchanged(&space));
}

/// A vCPU looping inside a block that jumps to its own start (`goto_start`, which checks only
/// the exit request per iteration) leaves the loop when another thread invalidates the block:
/// the invalidation raises every vCPU's exit request after the block can no longer be entered
/// (`Machine::kick_after_invalidation`). Each round the guest calls a `jmp $` in a read-only
/// code page; the test thread waits a varying time (the vCPU is then interpreting, compiling,
/// or looping in compiled code), rewrites it to `ret` and invalidates it. Without the kick the
/// vCPU would spin for ever.
#[test]
fn goto_start_loop_leaves_when_its_block_is_invalidated() {
    const ROUNDS: u32 = 60;
    const SPIN: u64 = CODE + 0x2000;
    const GO: u64 = DATA;
    const DONE: u64 = DATA + 64;
    let mut a = CodeAssembler::new(64).unwrap();
    let mut wait = a.create_label();
    a.xor(edi, edi).unwrap();
    a.set_label(&mut wait).unwrap();
    // Wait for round edi + 1 (a loop of one block on a data flag).
    a.cmp(dword_ptr(GO), edi).unwrap();
    a.jbe(wait).unwrap();
    a.mov(rax, SPIN).unwrap();
    a.call(rax).unwrap();
    a.inc(edi).unwrap();
    a.mov(dword_ptr(DONE), edi).unwrap();
    a.cmp(edi, ROUNDS).unwrap();
    a.jne(wait).unwrap();
    a.mov(eax, 60).unwrap(); // exit: this thread only
    a.syscall().unwrap();
    let code = a.assemble(CODE).unwrap();

    let space = Arc::new(GuestSpace::with_max_size(guest_memory::MIN_SPACE_SIZE).unwrap());
    let anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    space
        .mmap(CODE, 0x1_0000, PROT_READ | PROT_EXEC, anon, None, 0)
        .unwrap();
    space.write_ignoring_prot(CODE, &code).unwrap();
    map_stack(&space);
    let process = Arc::new(Process::new(space.clone(), ProcessConfig::new("/test")));
    let config = MachineConfig {
        translate: TranslateConfig::default(),
        nochain: false,
        log: LogFlags::default(),
        code_cache_size: None,
        // Compiled after a few runs in the background: rounds see the loop interpreted,
        // waiting for the compiler, and compiled.
        tier_up_after: 2,
        perfmap: false,
        exec_in_place: true,
        background_compile: true,
    };
    let machine = Machine::new(process, config, None).unwrap();
    let mut cpu = Vcpu::new(&machine, ThreadCtx::current(), CODE, STACK_TOP - 64);
    let vcpu = std::thread::spawn(move || cpu.run());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let jc = machine.tbs.new_jump_cache();
    for r in 0..ROUNDS {
        space.write_ignoring_prot(SPIN, &[0xeb, 0xfe]).unwrap(); // jmp $
        machine.invalidate_range(SPIN, 2);
        space.write_u32(GO, r + 1).unwrap();
        // The loop's block is in the table: its translation read `jmp $` (the test writes
        // code behind the guest's back, which no mapping generation records, so it must not
        // race with a translation).
        while machine
            .tbs
            .lookup(&jc, &machine.key(SPIN), &pin())
            .is_none()
        {
            assert!(std::time::Instant::now() < deadline, "round {r}: no loop");
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_micros(u64::from(r % 12) * 150));
        space.write_ignoring_prot(SPIN, &[0xc3]).unwrap(); // ret
        machine.invalidate_range(SPIN, 2);
        while space.read_u32(DONE).unwrap() != r + 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "round {r}: the vCPU did not leave the invalidated loop"
            );
            std::thread::yield_now();
        }
    }
    assert_eq!(vcpu.join().unwrap(), VcpuExit::ThreadExit(ROUNDS as i32));
    assert!(machine.tbs.stats.invalidated.load(Ordering::Relaxed) >= u64::from(ROUNDS));
}
