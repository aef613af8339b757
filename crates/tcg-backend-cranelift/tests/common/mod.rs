//! Shared test harness: guest memory with a guard region, a CPU-state buffer, and running a
//! block through both the backend and the reference interpreter.

#![allow(dead_code)]

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use tcg::Block;
use tcg::{interpret, GuestMemoryView, InterpExit};
use tcg_backend_cranelift::{Backend, BackendConfig, BlockExit, CompiledBlock, Compiler};

/// Size of the test guest address space.
pub const GUEST_SIZE: u64 = 1 << 20;
/// Size of the guard region after it.
pub const GUARD: usize = 1 << 16;
/// Bytes of CPU state.
pub const ENV_BYTES: usize = 512;
/// The tag blocks are compiled with.
pub const TAG: u64 = 0x1000;

/// A guest address space: `GUEST_SIZE` readable/writable bytes and a PROT_NONE guard.
pub struct GuestMem {
    pub base: *mut u8,
}

impl GuestMem {
    pub fn new() -> GuestMem {
        let total = GUEST_SIZE as usize + GUARD;
        // SAFETY: a fresh anonymous private mapping; nothing else refers to it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let base = p.cast::<u8>();
        // SAFETY: the guard lies inside the mapping made above.
        let r = unsafe { libc::mprotect(base.add(GUEST_SIZE as usize).cast(), GUARD, 0) };
        assert_eq!(r, 0);
        GuestMem { base }
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the first GUEST_SIZE bytes are mapped for the struct's life; the tests use
        // the slice only while no translated code runs.
        unsafe { std::slice::from_raw_parts(self.base, GUEST_SIZE as usize) }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `bytes`, and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.base, GUEST_SIZE as usize) }
    }

    pub fn view(&self) -> GuestMemoryView {
        GuestMemoryView {
            base: self.base,
            size: GUEST_SIZE,
        }
    }
}

impl Drop for GuestMem {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping made in `new`.
        unsafe { libc::munmap(self.base.cast(), GUEST_SIZE as usize + GUARD) };
    }
}

/// CPU state: 16-aligned bytes.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct Env(pub [u8; ENV_BYTES]);

impl Env {
    pub fn new() -> Box<Env> {
        Box::new(Env([0; ENV_BYTES]))
    }
    pub fn u64(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.0[off..off + 8].try_into().unwrap())
    }
    pub fn set_u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }
    pub fn ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
}

pub fn backend_for(mem: &GuestMem, lookup_fn: usize, cache: usize) -> Arc<Backend> {
    let mut cfg = BackendConfig::new(mem.base as u64, GUEST_SIZE, lookup_fn);
    cfg.cache_capacity = cache;
    Backend::new(cfg).expect("backend")
}

/// A block's jump slots, initially unlinked.
pub struct Slots(pub [AtomicUsize; tcg::JUMP_SLOTS]);

impl Slots {
    pub fn new(b: &Backend) -> Box<Slots> {
        let s = b.unlinked_stub_addr() as usize;
        Box::new(Slots(std::array::from_fn(|_| AtomicUsize::new(s))))
    }
    pub fn ptrs(&self) -> [*const AtomicUsize; tcg::JUMP_SLOTS] {
        self.0.each_ref().map(|s| s as *const AtomicUsize)
    }
}

pub fn compile(b: &Backend, c: &mut Compiler, blk: &Block, slots: &Slots) -> CompiledBlock {
    c.compile(b, blk, TAG, slots.ptrs())
        .unwrap_or_else(|e| panic!("compile failed: {e}\n{blk}"))
}

/// Runs `blk` compiled (on `env`/`mem`) and interpreted (on copies), and checks that state,
/// guest memory and exit agree. Returns the compiled run's exit.
pub fn run_both(b: &Backend, blk: &Block, env: &mut Env, mem: &GuestMem) -> BlockExit {
    let mut c = Compiler::new();
    let slots = Slots::new(b);
    let cb = compile(b, &mut c, blk, &slots);

    let mut ienv = env.clone();
    let mut imem = GuestMem::new();
    imem.bytes_mut().copy_from_slice(mem.bytes());
    // SAFETY: the env buffers cover every offset the test blocks use; guest memory is
    // mapped as the backend and interpreter expect; test helpers match their declarations.
    let iexit = unsafe { interpret(blk, ienv.ptr(), imem.view()) };
    // The fast interpreter (the cheap tier) on copies of its own.
    let mut fenv = env.clone();
    let mut fmem = GuestMem::new();
    fmem.bytes_mut().copy_from_slice(mem.bytes());
    let fexit = tcg::Prepared::new(blk).ok().map(|p| {
        let mut pc = 0u64;
        // SAFETY: as above; `fmem` has its guard region after `GUEST_SIZE`.
        unsafe { p.run(fenv.ptr(), fmem.view(), &mut Vec::new(), &mut pc) }
    });
    // SAFETY: as above; the code was just compiled for this backend.
    let exit = unsafe { b.execute(env.ptr(), cb.code) };
    if let Some(fexit) = fexit {
        assert_eq!(fexit, iexit, "fast interpreter exit differs\n{blk}");
        for off in (0..ENV_BYTES).step_by(8) {
            assert_eq!(
                fenv.u64(off),
                ienv.u64(off),
                "state at {off:#x} differs (fast vs reference interpreter)\n{blk}"
            );
        }
        assert!(
            fmem.bytes() == imem.bytes(),
            "guest memory differs (fast vs reference interpreter)\n{blk}"
        );
    }
    let want = match iexit {
        InterpExit::GotoTb { slot } => BlockExit::Unchained { tb_tag: TAG, slot },
        InterpExit::ExitTb { code } => BlockExit::Exit(code),
        InterpExit::LookupAndGotoPtr => BlockExit::Exit(0),
        InterpExit::Fault { .. } => panic!("interpreter faulted: {iexit:?}\n{blk}"),
    };
    assert_eq!(exit, want, "exit differs\n{blk}");
    for off in (0..ENV_BYTES).step_by(8) {
        assert_eq!(
            env.u64(off),
            ienv.u64(off),
            "state at {off:#x} differs (backend vs interpreter)\n{blk}"
        );
    }
    if mem.bytes() != imem.bytes() {
        let i = (0..GUEST_SIZE as usize)
            .find(|&i| mem.bytes()[i] != imem.bytes()[i])
            .unwrap();
        panic!(
            "guest memory differs at {i:#x}: {:#x} vs {:#x}\n{blk}",
            mem.bytes()[i],
            imem.bytes()[i]
        );
    }
    exit
}
