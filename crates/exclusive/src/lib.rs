//! Exclusive sections: a vCPU stops every other vCPU before it does something that no
//! translated code may observe half-done (flushing the code cache, an atomic operation the
//! host cannot do natively). The protocol is QEMU's (`cpus-common.c`): each vCPU marks itself
//! *running* while it may execute or translate guest code, and checks a shared `pending`
//! count on the way in and out; the vCPU that wants exclusivity counts the running vCPUs,
//! kicks them (the caller's kick makes translated code leave at the next block boundary) and
//! waits until each has left.
//!
//! This crate knows nothing of translation: a vCPU is a [`Cpu`] handle and a kick closure.
//!
//! # Invariants
//! - Between [`Exclusive::start_exclusive`] returning and the [`ExclusiveSection`] being
//!   dropped, no other registered vCPU is between [`Exclusive::exec_start`] and
//!   [`Exclusive::exec_end`].
//! - A vCPU not running (blocked in a syscall, waiting, or not started) counts as stopped; it
//!   cannot become running while a section is active: `exec_start` waits for the section's end.
//! - `pending` is 0 when no section is requested; otherwise 1 + the number of running vCPUs
//!   that were counted and have not yet left (each such vCPU has `has_waiter` set). It is
//!   written only under the lock, and read without it on the fast path after a full fence that
//!   orders it against the reader's own `running` store (a Dekker pair with
//!   `start_exclusive`, which stores `pending` then reads every `running`).

#[cfg(loom)]
use loom::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
use std::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

use std::fmt;

/// One registered vCPU.
pub struct Cpu {
    /// True from `exec_start` to `exec_end`.
    running: AtomicBool,
    /// Counted in `pending` by the current section; only read and written under the lock.
    has_waiter: AtomicBool,
    /// Makes the vCPU leave translated code soon (sets its exit-request flag).
    kick: Box<dyn Fn() + Send + Sync>,
}

impl fmt::Debug for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cpu")
            .field("running", &self.running.load(Ordering::Relaxed))
            .finish()
    }
}

/// The vCPU registry and its exclusive-section state.
pub struct Exclusive {
    /// Registered vCPUs (QEMU's `qemu_cpu_list_lock` protects the list and the handshake).
    cpus: Mutex<Vec<Arc<Cpu>>>,
    /// See the crate invariants.
    pending: AtomicUsize,
    /// Signalled when the last counted vCPU leaves (`pending` drops to 1).
    all_stopped: Condvar,
    /// Broadcast when a section ends (`pending` drops to 0).
    resumed: Condvar,
    /// The thread forking in [`ExclusiveSection::fork`] with the lock held ([`thread_tag`]),
    /// 0 if none: a guest-memory write of the fork (a tid it stores) may fault into
    /// [`Exclusive::kick_all`] on that thread, which must not wait for its own lock.
    fork_owner: AtomicUsize,
}

/// A nonzero number for the calling thread, the same in a forked child (the address of a
/// thread-local; readable in a signal handler).
fn thread_tag() -> usize {
    thread_local! {
        static TAG: u8 = const { 0 };
    }
    TAG.with(|t| t as *const u8 as usize)
}

impl fmt::Debug for Exclusive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exclusive")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for Exclusive {
    fn default() -> Self {
        Self::new()
    }
}

/// Proof that an exclusive section is active; ends it when dropped.
#[must_use = "the section ends when this is dropped"]
#[derive(Debug)]
pub struct ExclusiveSection<'a> {
    owner: &'a Exclusive,
}

impl ExclusiveSection<'_> {
    /// Runs `fork_process`, a call that may fork the host process, with the registry lock
    /// held: a vCPU or another thread may be inside one of its short critical sections even
    /// while the section is active, and the child, which has no copy of that thread, would
    /// find the lock held for ever. In the child (`is_child` of the result), only `survivor`
    /// stays registered; the section is still active there and ends when dropped.
    pub fn fork<R>(
        &self,
        survivor: &Arc<Cpu>,
        fork_process: impl FnOnce() -> R,
        is_child: impl FnOnce(&R) -> bool,
    ) -> R {
        let mut cpus = self.owner.lock();
        self.owner.fork_owner.store(thread_tag(), Ordering::SeqCst);
        let result = fork_process();
        self.owner.fork_owner.store(0, Ordering::SeqCst);
        if is_child(&result) {
            cpus.retain(|c| Arc::ptr_eq(c, survivor));
            for c in cpus.iter() {
                c.has_waiter.store(false, Ordering::Relaxed);
            }
            self.owner.pending.store(1, Ordering::SeqCst);
        }
        result
    }
}

impl Drop for ExclusiveSection<'_> {
    fn drop(&mut self) {
        let _cpus = self.owner.lock();
        self.owner.pending.store(0, Ordering::SeqCst);
        self.owner.resumed.notify_all();
    }
}

impl Exclusive {
    /// An empty registry.
    pub fn new() -> Exclusive {
        Exclusive {
            cpus: Mutex::new(Vec::new()),
            pending: AtomicUsize::new(0),
            all_stopped: Condvar::new(),
            resumed: Condvar::new(),
            fork_owner: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Cpu>>> {
        // A panic while holding the lock leaves the list consistent (every critical section
        // below writes it last), so poisoning is ignored.
        self.cpus.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (lock held) until no section is active or requested.
    fn wait_idle<'a>(
        &self,
        mut cpus: MutexGuard<'a, Vec<Arc<Cpu>>>,
    ) -> MutexGuard<'a, Vec<Arc<Cpu>>> {
        while self.pending.load(Ordering::SeqCst) != 0 {
            cpus = self.resumed.wait(cpus).unwrap_or_else(|e| e.into_inner());
        }
        cpus
    }

    /// Registers a vCPU (not running). `kick` must make it reach [`Self::exec_end`] or
    /// [`Self::exec_start`] soon when it is running.
    pub fn register(&self, kick: impl Fn() + Send + Sync + 'static) -> Arc<Cpu> {
        let cpu = Arc::new(Cpu {
            running: AtomicBool::new(false),
            has_waiter: AtomicBool::new(false),
            kick: Box::new(kick),
        });
        self.lock().push(cpu.clone());
        cpu
    }

    /// Removes a vCPU that is not running.
    pub fn unregister(&self, cpu: &Arc<Cpu>) {
        debug_assert!(!cpu.running.load(Ordering::Relaxed));
        self.lock().retain(|c| !Arc::ptr_eq(c, cpu));
    }

    /// Number of registered vCPUs.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no vCPU is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `cpu` is about to run or translate guest code. Waits while a section is active.
    pub fn exec_start(&self, cpu: &Cpu) {
        cpu.running.store(true, Ordering::SeqCst);
        // Store `running`, then read `pending` (pairs with the fence in `start_exclusive`).
        fence(Ordering::SeqCst);
        if self.pending.load(Ordering::SeqCst) == 0 {
            return;
        }
        let cpus = self.lock();
        if !cpu.has_waiter.load(Ordering::Relaxed) {
            // Not counted by the section: stay out until it ends. Under the lock, so the
            // owner cannot be counting us in between.
            cpu.running.store(false, Ordering::SeqCst);
            let _cpus = self.wait_idle(cpus);
            cpu.running.store(true, Ordering::SeqCst);
        }
        // Otherwise we were counted while still running: `exec_end` will release the owner.
    }

    /// `cpu` stopped running guest code (it holds no reference to translated code).
    pub fn exec_end(&self, cpu: &Cpu) {
        cpu.running.store(false, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.pending.load(Ordering::SeqCst) == 0 {
            return;
        }
        let _cpus = self.lock();
        if cpu.has_waiter.load(Ordering::Relaxed) {
            cpu.has_waiter.store(false, Ordering::Relaxed);
            let left = self.pending.load(Ordering::SeqCst) - 1;
            self.pending.store(left, Ordering::SeqCst);
            if left == 1 {
                self.all_stopped.notify_one();
            }
        }
    }

    /// Kicks every registered vCPU, running or not (a stopped one finds its request when it
    /// next starts, and leaves its first block at once). Used when something a vCPU may be
    /// running went away, so that it leaves without waiting for a section.
    ///
    /// May run in a signal handler (a guest write that faults on a code page): on the thread
    /// that forks in an exclusive section, which holds the lock, it kicks no one, which is
    /// enough there: every other vCPU is stopped, and resumes through this lock after the
    /// section, into its dispatcher.
    pub fn kick_all(&self) {
        loop {
            match self.cpus.try_lock() {
                Ok(cpus) => {
                    for c in cpus.iter() {
                        (c.kick)();
                    }
                    return;
                }
                Err(std::sync::TryLockError::Poisoned(e)) => {
                    for c in e.into_inner().iter() {
                        (c.kick)();
                    }
                    return;
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    if self.fork_owner.load(Ordering::SeqCst) == thread_tag() {
                        return;
                    }
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Stops every other vCPU and returns when none is running. The caller must not be
    /// running (call [`Self::exec_end`] first). Sections are serialised.
    pub fn start_exclusive(&self) -> ExclusiveSection<'_> {
        let cpus = self.lock();
        let cpus = self.wait_idle(cpus);
        self.pending.store(1, Ordering::SeqCst);
        // Store `pending`, then read every `running` (pairs with `exec_start`/`exec_end`).
        fence(Ordering::SeqCst);
        let mut counted = 0;
        for c in cpus.iter() {
            if c.running.load(Ordering::SeqCst) {
                c.has_waiter.store(true, Ordering::Relaxed);
                counted += 1;
                (c.kick)();
            }
        }
        self.pending.store(counted + 1, Ordering::SeqCst);
        let mut cpus = cpus;
        while self.pending.load(Ordering::SeqCst) > 1 {
            cpus = self
                .all_stopped
                .wait(cpus)
                .unwrap_or_else(|e| e.into_inner());
        }
        drop(cpus);
        ExclusiveSection { owner: self }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
