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
    space.write(CODE, &code).unwrap();
    let process = Arc::new(Process::new(space, ProcessConfig::new("/test")));
    let config = MachineConfig {
        translate: TranslateConfig::default(),
        nochain,
        log: LogFlags::default(),
        code_cache_size: None,
        tier_up_after,
        perfmap: false,
        background_compile,
    };
    let machine = Machine::new(process, config, None).unwrap();
    let mut cpu = Vcpu::new(&machine, ThreadCtx::current(), CODE, STACK_TOP - 64);
    (cpu.run(), machine)
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
    assert!(machine.stats.blocks_translated.load(Ordering::Relaxed) < 10);
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
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = &machine.stats;
        match tier {
            0 => assert_eq!(get(&s.blocks_prepared), 0),
            u32::MAX => {
                assert_eq!(get(&s.blocks_compiled), 0);
                // Three blocks a round (the loop's `dec; jnz` block also holds the exit).
                assert!(get(&s.interpreted_runs) >= 300);
            }
            _ => {
                assert!(
                    get(&s.tier_ups) > 0,
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
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let s = &machine.stats;
    assert!(get(&s.tier_up_requests) > 0);
    assert!(
        get(&s.tier_ups) > 0,
        "the compiler thread published nothing"
    );
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
    const ITERS: u32 = 3_000_000;
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    let mut add = a.create_label();
    let mut mix = a.create_label();
    a.xor(edi, edi).unwrap();
    a.mov(ecx, ITERS).unwrap();
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
    for c in (1..=u64::from(ITERS)).rev() {
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
        std::thread::sleep(std::time::Duration::from_micros(300));
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
