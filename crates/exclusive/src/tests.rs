use super::*;
use std::sync::atomic::AtomicU32;
use std::thread;
use std::time::{Duration, Instant};

/// Many vCPUs enter and leave "running" while others take exclusive sections; inside a
/// section no vCPU may be running, and every vCPU must keep making progress.
#[test]
fn no_vcpu_runs_inside_a_section() {
    const VCPUS: usize = 6;
    const OWNERS: usize = 2;
    let ex = Arc::new(Exclusive::new());
    let inside = Arc::new(AtomicU32::new(0));
    let in_section = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_millis(700);
    let mut handles = Vec::new();
    for _ in 0..VCPUS {
        let (ex, inside, in_section, stop, violations) = (
            ex.clone(),
            inside.clone(),
            in_section.clone(),
            stop.clone(),
            violations.clone(),
        );
        handles.push(thread::spawn(move || {
            let kicked = Arc::new(AtomicBool::new(false));
            let k = kicked.clone();
            let cpu = ex.register(move || k.store(true, Ordering::SeqCst));
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                ex.exec_start(&cpu);
                inside.fetch_add(1, Ordering::SeqCst);
                // "Run translated code" until kicked or for a while.
                for _ in 0..200 {
                    if in_section.load(Ordering::SeqCst) {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                    if kicked.swap(false, Ordering::SeqCst) {
                        break;
                    }
                    std::hint::spin_loop();
                }
                inside.fetch_sub(1, Ordering::SeqCst);
                ex.exec_end(&cpu);
                rounds += 1;
                if rounds % 16 == 0 {
                    thread::yield_now();
                }
            }
            ex.unregister(&cpu);
            rounds
        }));
    }
    let mut owners = Vec::new();
    for _ in 0..OWNERS {
        let (ex, inside, in_section, violations) = (
            ex.clone(),
            inside.clone(),
            in_section.clone(),
            violations.clone(),
        );
        owners.push(thread::spawn(move || {
            let mut sections = 0u64;
            while Instant::now() < deadline {
                let s = ex.start_exclusive();
                in_section.store(true, Ordering::SeqCst);
                if inside.load(Ordering::SeqCst) != 0 {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
                thread::sleep(Duration::from_micros(50));
                if inside.load(Ordering::SeqCst) != 0 {
                    violations.fetch_add(1, Ordering::SeqCst);
                }
                in_section.store(false, Ordering::SeqCst);
                drop(s);
                sections += 1;
                thread::sleep(Duration::from_micros(200));
            }
            sections
        }));
    }
    let sections: u64 = owners.into_iter().map(|h| h.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    let rounds: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(violations.load(Ordering::SeqCst), 0);
    assert!(sections > 10, "only {sections} sections");
    assert!(rounds.iter().all(|&r| r > 10), "a vCPU starved: {rounds:?}");
    assert!(ex.is_empty());
}

/// A vCPU that is not running (e.g. blocked in a syscall) does not hold a section up, and
/// cannot start running until the section ends.
#[test]
fn stopped_vcpu_waits_for_the_section() {
    let ex = Arc::new(Exclusive::new());
    let cpu = ex.register(|| {});
    let started = Arc::new(AtomicBool::new(false));
    let s = ex.start_exclusive();
    let t = {
        let (ex, cpu, started) = (ex.clone(), cpu.clone(), started.clone());
        thread::spawn(move || {
            ex.exec_start(&cpu);
            started.store(true, Ordering::SeqCst);
            ex.exec_end(&cpu);
        })
    };
    thread::sleep(Duration::from_millis(50));
    assert!(!started.load(Ordering::SeqCst), "ran inside a section");
    drop(s);
    t.join().unwrap();
    assert!(started.load(Ordering::SeqCst));
}

/// A fork inside a section, while other vCPUs hammer the registry's slow paths: the child
/// must find the registry usable (its lock not held by a thread it does not have).
#[cfg(unix)]
#[test]
fn fork_inside_a_section_leaves_the_child_a_usable_registry() {
    const VCPUS: usize = 3;
    const FORKS: usize = 200;
    let ex = Arc::new(Exclusive::new());
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..VCPUS)
        .map(|_| {
            let (ex, stop) = (ex.clone(), stop.clone());
            thread::spawn(move || {
                let cpu = ex.register(|| {});
                while !stop.load(Ordering::Relaxed) {
                    ex.exec_start(&cpu);
                    ex.exec_end(&cpu);
                }
                ex.unregister(&cpu);
            })
        })
        .collect();
    // A thread that is not a running vCPU uses the registry during sections too (a new
    // thread registering, a count of vCPUs).
    let bystander = {
        let (ex, stop) = (ex.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                assert!(!ex.is_empty());
            }
        })
    };
    let me = ex.register(|| {});
    for _ in 0..FORKS {
        let section = ex.start_exclusive();
        // SAFETY: fork in a multithreaded process; the child only uses the registry (whose
        // lock `fork` holds across the call), the allocator (made fork-safe by libc's
        // at-fork handlers) and `_exit`.
        let pid = section.fork(&me, || unsafe { libc::fork() }, |pid| *pid == 0);
        if pid == 0 {
            drop(section);
            let ok = ex.len() == 1;
            ex.exec_start(&me);
            ex.exec_end(&me);
            let other = ex.register(|| {});
            drop(ex.start_exclusive());
            ex.unregister(&other);
            // SAFETY: ends the child without running the test harness's exit code.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        assert!(pid > 0, "fork failed");
        drop(section);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "the child saw other vCPUs registered"
                );
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: killing and reaping our own hung child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                panic!("a child deadlocked on the registry lock");
            }
            thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    bystander.join().unwrap();
}

/// `kick_all` kicks every registered vCPU, running or not; on the thread that forks inside a
/// section (which holds the registry's lock: a guest write of the fork may fault into the
/// kick) it returns at once instead of waiting for itself, and from another thread it waits
/// for the lock.
#[test]
fn kick_all_kicks_everyone_and_never_waits_for_its_own_fork() {
    let ex = Arc::new(Exclusive::new());
    let kicks = Arc::new(AtomicUsize::new(0));
    let cpus: Vec<_> = (0..3)
        .map(|_| {
            let k = kicks.clone();
            ex.register(move || {
                k.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    ex.exec_start(&cpus[0]);
    ex.kick_all();
    assert_eq!(kicks.load(Ordering::SeqCst), 3, "running or not");
    ex.exec_end(&cpus[0]);
    let section = ex.start_exclusive();
    let other = {
        let ex = ex.clone();
        let kicks = kicks.clone();
        move || {
            ex.kick_all();
            kicks.load(Ordering::SeqCst)
        }
    };
    let (result, waiter) = section.fork(
        &cpus[1],
        || {
            // The forking thread holds the lock: no kick, no wait.
            ex.kick_all();
            let waiter = thread::spawn(other);
            thread::sleep(Duration::from_millis(20));
            (kicks.load(Ordering::SeqCst), waiter)
        },
        |_| false,
    );
    assert_eq!(result, 3);
    drop(section);
    assert_eq!(
        waiter.join().unwrap(),
        6,
        "another thread kicks once the lock is free"
    );
}
