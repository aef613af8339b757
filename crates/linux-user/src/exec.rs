//! `execve`: the new program replaces the old one in this emulator, or under a fresh one.
//!
//! The syscall checks everything Linux checks before its point of no return (the path, `#!`
//! lines, permissions, the ELF headers) and hands an [`ExecRequest`] to the vCPU layer,
//! which either
//! - replaces the program in place ([`Process::exec_in_place`]): the guest's memory is
//!   emptied and the new program loaded into the same reservation, and the translations of
//!   code that is byte for byte the same at the same address (a shell that execs a
//!   program of its own binary, as busybox does) survive; or
//! - re-executes the emulator ([`Process::exec_fresh`]): the host executes
//!   `EMU [emu_args_for_exec] -0 ARGV0 PROGRAM ARGS...` where `EMU` is the current executable
//!   (or `ProcessConfig::emu_exe`), `PROGRAM` the host path of the x86-64 ELF and the
//!   environment is the guest's `envp`. The emulator's command line must therefore accept
//!   `-0 ARGV0` (set the guest's `argv[0]`, as qemu-user does). Used when the guest has
//!   other threads (Linux kills them; the host's `execve` does that for us) or when another
//!   emulator binary was asked for (`-exec-emu`).

use crate::abi::{sig::SIG_IGN, AT_EMPTY_PATH};
use crate::elf;
use crate::loader::{check_program, load_elf, LoadedProgram};
use crate::process::{Process, SyscallOutcome, ThreadCtx};
use guest_memory::Errno;
use std::ffi::{CString, OsStr};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

/// Longest accepted argument or environment string (Linux `MAX_ARG_STRLEN`).
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// Most arguments plus environment strings accepted.
const MAX_ARGS: usize = 1 << 20;
/// Bytes of a file examined for an ELF header or a `#!` line (Linux `BINPRM_BUF_SIZE`).
const BINPRM_BUF_SIZE: usize = 256;

fn io_errno(e: &std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Where a guest `execve` ends up: the host program and its final argument list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecTarget {
    /// Host path of the x86-64 ELF program to run.
    pub program: Vec<u8>,
    /// The guest's argument list (`argv[0]` included), after `#!` processing.
    pub argv: Vec<Vec<u8>>,
}

/// A guest `execve` that passed every check made before Linux's point of no return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecRequest {
    /// The program and its arguments.
    pub target: ExecTarget,
    /// The new program's environment.
    pub envp: Vec<Vec<u8>>,
    /// The path as the guest gave it, whose last component names the thread.
    pub path: Vec<u8>,
}

/// The name (`PR_GET_NAME`, `comm`) Linux gives a thread that execs `path`: the path's last
/// component, cut to 15 bytes, NUL-padded.
pub fn thread_name_for(path: &[u8]) -> [u8; 16] {
    let mut name = [0u8; 16];
    let base = path.rsplit(|b| *b == b'/').next().unwrap_or(&[]);
    let n = base.len().min(15);
    name[..n].copy_from_slice(&base[..n]);
    name
}

impl Process {
    pub(crate) fn sys_execve(&self, path: u64, argv: u64, envp: u64) -> ExecResult {
        let path = self.guest_str(path)?;
        let argv = self.str_array(argv)?;
        let envp = self.str_array(envp)?;
        self.exec(path, argv, envp)
    }

    pub(crate) fn sys_execveat(
        &self,
        dirfd: i32,
        path: u64,
        argv: u64,
        envp: u64,
        flags: i32,
    ) -> ExecResult {
        let p = if path == 0 && flags & AT_EMPTY_PATH != 0 {
            Vec::new()
        } else {
            self.guest_str(path)?
        };
        let full = if p.starts_with(b"/") || dirfd == crate::abi::AT_FDCWD && !p.is_empty() {
            p
        } else {
            let dir =
                std::fs::read_link(format!("/proc/self/fd/{dirfd}")).map_err(|_| Errno::EBADF)?;
            let mut d = dir.as_os_str().as_bytes().to_vec();
            if p.is_empty() {
                if flags & AT_EMPTY_PATH == 0 {
                    return Err(Errno::ENOENT);
                }
            } else {
                d.push(b'/');
                d.extend_from_slice(&p);
            }
            d
        };
        let argv = self.str_array(argv)?;
        let envp = self.str_array(envp)?;
        self.exec(full, argv, envp)
    }

    /// Reads a NULL-terminated guest array of string pointers (a NULL array is empty).
    fn str_array(&self, addr: u64) -> Result<Vec<Vec<u8>>, Errno> {
        let mut out = Vec::new();
        if addr == 0 {
            return Ok(out);
        }
        for i in 0.. {
            if i >= MAX_ARGS {
                return Err(Errno::E2BIG);
            }
            let p = self.read_u64(addr + i as u64 * 8)?;
            if p == 0 {
                break;
            }
            let s = self.space.read_cstr(p, MAX_ARG_STRLEN).map_err(|e| {
                if e == Errno::ENAMETOOLONG {
                    Errno::E2BIG
                } else {
                    e
                }
            })?;
            out.push(s);
        }
        Ok(out)
    }

    /// Finds the x86-64 program a guest `execve(path, argv)` runs, following `#!`
    /// interpreter lines like Linux (interpreter, optional single argument, script path,
    /// then `argv[1..]`), up to 4 levels deep.
    pub fn resolve_exec(&self, path: &[u8], argv: &[Vec<u8>]) -> Result<ExecTarget, Errno> {
        let mut path = path.to_vec();
        let mut argv = argv.to_vec();
        for _ in 0..5 {
            if path.is_empty() {
                return Err(Errno::ENOENT);
            }
            let host = self.host_path_bytes(&path);
            let os = OsStr::from_bytes(&host);
            let mut f = std::fs::File::open(os).map_err(|e| io_errno(&e))?;
            let meta = f.metadata().map_err(|e| io_errno(&e))?;
            if !meta.is_file() {
                return Err(Errno::EACCES);
            }
            let c = CString::new(host.clone()).map_err(|_| Errno::ENOENT)?;
            // SAFETY: `c` is a live C string.
            if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
                return Err(Errno::last_host());
            }
            let mut buf = Vec::with_capacity(BINPRM_BUF_SIZE);
            f.by_ref()
                .take(BINPRM_BUF_SIZE as u64)
                .read_to_end(&mut buf)
                .map_err(|e| io_errno(&e))?;
            if elf::is_elf(&buf) {
                let x86_64 = buf.len() >= 20
                    && buf[4] == 2
                    && buf[5] == 1
                    && u16::from_le_bytes([buf[18], buf[19]]) == elf::EM_X86_64;
                if !x86_64 {
                    return Err(Errno::ENOEXEC);
                }
                return Ok(ExecTarget {
                    program: host,
                    argv,
                });
            }
            let Some(line) = buf.strip_prefix(b"#!") else {
                return Err(Errno::ENOEXEC);
            };
            let line = match line.iter().position(|b| *b == b'\n') {
                Some(n) => &line[..n],
                None => line,
            };
            let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
            let start = line.iter().position(|b| !is_ws(b)).unwrap_or(line.len());
            let line = &line[start..];
            let interp_len = line.iter().position(is_ws).unwrap_or(line.len());
            let interp = line[..interp_len].to_vec();
            if interp.is_empty() {
                return Err(Errno::ENOEXEC);
            }
            let rest = &line[interp_len..];
            let a = rest.iter().position(|b| !is_ws(b)).unwrap_or(rest.len());
            let z = rest.iter().rposition(|b| !is_ws(b)).map_or(a, |z| z + 1);
            let mut new_argv = vec![interp.clone()];
            if a < z {
                new_argv.push(rest[a..z].to_vec());
            }
            new_argv.push(path.clone());
            new_argv.extend(argv.iter().skip(1).cloned());
            argv = new_argv;
            path = interp;
        }
        Err(Errno::ELOOP)
    }

    /// The host command line a guest `execve` of `target` runs.
    pub fn exec_command_line(&self, target: &ExecTarget) -> Result<Vec<Vec<u8>>, Errno> {
        let emu = match &self.config.emu_exe {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|e| io_errno(&e))?,
        };
        let mut cmd = vec![emu.as_os_str().as_bytes().to_vec()];
        cmd.extend(
            self.config
                .emu_args_for_exec
                .iter()
                .map(|a| a.as_bytes().to_vec()),
        );
        cmd.push(b"-0".to_vec());
        cmd.push(target.argv.first().cloned().unwrap_or_default());
        cmd.push(target.program.clone());
        cmd.extend(target.argv.iter().skip(1).cloned());
        Ok(cmd)
    }

    /// Checks a guest `execve` of `path` as Linux does before its point of no return.
    fn exec(&self, path: Vec<u8>, argv: Vec<Vec<u8>>, envp: Vec<Vec<u8>>) -> ExecResult {
        let target = self.resolve_exec(&path, &argv)?;
        let program = std::path::Path::new(OsStr::from_bytes(&target.program));
        match check_program(program) {
            Ok(()) => Ok(SyscallOutcome::Exec(Box::new(ExecRequest {
                target,
                envp,
                path,
            }))),
            Err(crate::LoadError::Io { error, .. }) => Err(io_errno(&error)),
            // A program Linux would run but emu cannot (a dynamically linked one): said so,
            // and the process ends as a fresh emu refusing it would (ENOEXEC would make a
            // shell run the binary as a script).
            Err(e @ crate::LoadError::Unsupported(_)) => {
                eprintln!("emu: {}: {e}", program.display());
                Ok(SyscallOutcome::ExitGroup(1))
            }
            Err(_) => Err(Errno::ENOEXEC),
        }
    }

    /// Replaces this host process with a fresh emulator running `req`; returns only on
    /// failure, with the errno for the guest. The guest's ignored signals and the mask of
    /// `thread` go to the new emulator as `-inherit-signals IGNORED:BLOCKED` (hex bit sets),
    /// what Linux's `execve` would pass on, and the thread's new name as `-comm NAME`.
    pub fn exec_fresh(&self, req: &ExecRequest, thread: &ThreadCtx) -> Errno {
        match self.exec_fresh_inner(req, thread) {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    fn exec_fresh_inner(
        &self,
        req: &ExecRequest,
        thread: &ThreadCtx,
    ) -> Result<std::convert::Infallible, Errno> {
        let ignored = self
            .lock(&self.sigactions)
            .iter()
            .enumerate()
            .filter(|(_, a)| a.handler == SIG_IGN)
            .fold(0u64, |bits, (i, _)| bits | 1 << i);
        let mut cmd = self.exec_command_line(&req.target)?;
        let state = format!("{ignored:x}:{:x}", thread.signal_mask);
        let name = thread_name_for(&req.path);
        let name = name.split(|b| *b == 0).next().unwrap_or(&[]).to_vec();
        cmd.splice(
            1..1,
            [
                b"-inherit-signals".to_vec(),
                state.into_bytes(),
                b"-comm".to_vec(),
                name,
            ],
        );
        let to_c = |v: &[Vec<u8>]| -> Result<Vec<CString>, Errno> {
            v.iter()
                .map(|s| CString::new(s.clone()).map_err(|_| Errno::EINVAL))
                .collect()
        };
        let cmd = to_c(&cmd)?;
        let env = to_c(&req.envp)?;
        let mut cmd_ptrs: Vec<*const libc::c_char> = cmd.iter().map(|c| c.as_ptr()).collect();
        cmd_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());
        // SAFETY: all pointers refer to live C strings in `cmd`/`env`, and both arrays
        // are NULL-terminated; execve only returns on failure.
        unsafe { libc::execve(cmd_ptrs[0], cmd_ptrs.as_ptr(), env_ptrs.as_ptr()) };
        Err(Errno::last_host())
    }

    /// Replaces the guest program with `req`'s in this emulator, past the point of no
    /// return: closes the guest's close-on-exec descriptors (all but `keep_fds`, the
    /// emulator's own), resets handled signals to their default action, empties the guest's
    /// memory, loads the new program and resets `thread` as `execve` resets the calling
    /// thread. The caller must be the process's only thread and must drop the translations
    /// of code that changed. An error is fatal to the guest (its old program is gone).
    pub fn exec_in_place(
        &self,
        req: &ExecRequest,
        thread: &mut ThreadCtx,
        keep_fds: &[i32],
        hwcap: u64,
    ) -> Result<LoadedProgram, String> {
        close_on_exec_fds(keep_fds);
        for action in self.lock(&self.sigactions).iter_mut() {
            if action.handler != SIG_IGN {
                *action = Default::default();
            } else {
                action.flags = 0;
                action.mask = 0;
                action.restorer = 0;
            }
        }
        let program = std::path::Path::new(OsStr::from_bytes(&req.target.program));
        self.space.unmap_all();
        let loaded = load_elf(
            &self.space,
            program,
            &req.target.argv,
            &req.envp,
            &req.target.program,
            hwcap,
        )
        .map_err(|e| format!("{}: {e}", program.display()))?;
        *self.lock(&self.exe_path) =
            std::fs::canonicalize(program).unwrap_or(program.to_path_buf());
        *self.lock(&self.argv) = req.target.argv.clone();
        let name = thread_name_for(&req.path);
        let signal_mask = thread.signal_mask;
        let pending_signals = thread.pending_signals;
        *thread = ThreadCtx {
            signal_mask,
            pending_signals,
            name,
            ..ThreadCtx::new(thread.tid)
        };
        Ok(loaded)
    }
}

/// What the `execve` syscalls give the vCPU layer.
type ExecResult = Result<SyscallOutcome, Errno>;

/// Closes every descriptor marked close-on-exec except `keep`, as the kernel does at exec.
fn close_on_exec_fds(keep: &[i32]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    // Collected first: closing while the directory is open would race its own fd.
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if keep.contains(&fd) {
            continue;
        }
        // SAFETY: integer-only fcntl/close on descriptors of this process; the emulator's
        // own are in `keep`, and the directory's was closed when `dir` was consumed (it is
        // then no longer open, so F_GETFD fails for it).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC != 0 {
                libc::close(fd);
            }
        }
    }
}
