//! Init mode: the process forks once the plan is made. The child applies
//! the sandbox and execs the workload; the parent stays as a minimal init
//! for it:
//!
//! - it reaps every child that dies — the workload and any orphan the
//!   kernel reparents to it (it is PID 1 of a pid namespace, or a child
//!   subreaper when `--init` is used elsewhere);
//! - it forwards every catchable signal to the workload (not to its
//!   process group, like `tini` without `-g`): HUP, INT, QUIT, USR1, USR2,
//!   ALRM, TERM, STKFLT, CONT, TSTP, TTIN, TTOU, URG, XCPU, XFSZ, VTALRM,
//!   PROF, WINCH, IO, PWR and the real-time signals 32..=64.
//!   Not forwarded: KILL and STOP (cannot be caught), CHLD (reaping),
//!   PIPE (only ever about the init's own writes) and the fault signals
//!   SEGV, BUS, ILL, FPE, TRAP, ABRT, SYS (about the init itself);
//! - it exits with the workload's status, or 128+signal when the workload
//!   was killed by one, after killing and reaping whatever the workload
//!   left running (as PID 1 the namespace's end would; elsewhere its
//!   orphans would outlive the supervisor).
//!
//! The parent keeps only CAP_KILL (the workload runs as another user),
//! sets no_new_privs and installs its own seccomp filter; it never execs.
//!
//! Signals and child status come from a signalfd with every signal
//! blocked, not from an async runtime: the loop is read → kill / wait4,
//! with no handler, no extra thread and no allocation, which keeps the
//! parent's seccomp filter to a handful of syscalls, forwards SIGRTMAX too
//! (tokio's signal driver cannot register it) and adds nothing to the
//! binary.

use crate::capabilities::{self, CAP_KILL, errno_name};
use crate::error::{Error, Result};

/// Signals the kernel knows on x86_64 and aarch64 (`_NSIG`).
const NSIG: libc::c_int = 64;

/// Not forwarded (module docs).
const KEPT: [libc::c_int; 11] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGCHLD,
    libc::SIGPIPE,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGABRT,
    libc::SIGSYS,
];

/// The signals forwarded to the workload: every catchable one but
/// [`KEPT`], the real-time signals 32..=64 included (the C library's own
/// reservations among them do not apply: the parent never creates a
/// thread, and signals are handled by number through the kernel's API).
pub(crate) fn forwarded() -> impl Iterator<Item = libc::c_int> {
    (1..=NSIG).filter(|s| !KEPT.contains(s))
}

/// The kernel's sigset for `signals` (bit n-1 for signal n).
pub(crate) fn kernel_set(signals: impl Iterator<Item = libc::c_int>) -> u64 {
    signals.fold(0, |m, s| m | (1u64 << (s - 1)))
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn fail(what: &str) -> Error {
    Error::apply("init", format!("{what} failed: {}", errno_name(errno())))
}

/// Fork. The child runs `child` (apply + exec; it returns only the error
/// that stopped it) and its error is returned as `Err`; the parent
/// supervises and returns the workload's exit status.
pub fn run(child: impl FnOnce(libc::pid_t) -> Error) -> Result<i32> {
    run_with(child, supervise)
}

/// [`run`] with another loop for the parent (`learn` observes the
/// workload as well as supervising it).
#[allow(unsafe_code)]
pub fn run_with<T>(
    child: impl FnOnce(libc::pid_t) -> Error,
    parent_loop: impl FnOnce(libc::pid_t) -> Result<T>,
) -> Result<T> {
    if let Ok(d) = std::fs::read_dir("/proc/self/task") {
        let n = d.count();
        if n != 1 {
            return Err(Error::Internal(format!(
                "init: {n} threads before fork (the apply path must run alone)"
            )));
        }
    }
    // Block everything before fork: the parent reads signals from a
    // signalfd, and none may be lost or act before it exists. The child
    // unblocks them just before execve. Raw syscall: the C library's
    // wrappers leave its reserved real-time signals out.
    let all = kernel_set(1..=NSIG);
    // SAFETY: `all` is a kernel sigset (8 bytes, the size passed) that
    // outlives the call; the old-set pointer is NULL.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            &all as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    if r != 0 {
        return Err(fail("blocking signals"));
    }
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(fail("PR_SET_CHILD_SUBREAPER"));
    }
    // SAFETY: getpid takes no arguments and cannot fail.
    let parent = unsafe { libc::getpid() };
    // SAFETY: this process has one thread (checked above where /proc is
    // readable; nothing in the launch starts one), so the child is a
    // complete copy that may keep running Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(fail("fork")),
        0 => {
            crate::process::die_with_parent(parent)?;
            Err(child(parent))
        }
        pid => parent_loop(pid),
    }
}

/// The parent after fork: shed what it does not need, then loop.
#[allow(unsafe_code)]
fn supervise(child: libc::pid_t) -> Result<i32> {
    // The inherited fds (preserved ones, sockets) are the workload's.
    crate::process::close_fds(&[])?;
    let set = kernel_set(forwarded().chain([libc::SIGCHLD]));
    // SAFETY: `set` is a kernel sigset (8 bytes, the size passed) that
    // outlives the call.
    let sfd = unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            -1,
            &set as *const u64,
            8usize,
            libc::SFD_CLOEXEC,
        )
    };
    let sfd = match libc::c_int::try_from(sfd) {
        Ok(fd) if fd >= 0 => fd,
        _ => return Err(fail("signalfd")),
    };
    capabilities::keep_only(capabilities::bit(CAP_KILL))?;
    capabilities::set_no_new_privs()?;
    crate::seccomp::install_parent().map_err(|e| Error::apply("init", format!("seccomp: {e}")))?;

    // SAFETY: signalfd_siginfo is plain old data; all-zero is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        if let Some(status) = reap(child)? {
            kill_leftovers();
            return Ok(status);
        }
        // SAFETY: `info` is a writable signalfd_siginfo of `size` bytes,
        // the exact record size signalfd returns.
        let n = unsafe { libc::read(sfd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err(fail("reading the signalfd"));
        }
        let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
        if sig != libc::SIGCHLD && sig != 0 {
            // SAFETY: kill takes integers; `child` is our unreaped child,
            // so its pid cannot have been reused.
            let r = unsafe { libc::kill(child, sig) };
            if r != 0 && errno() != libc::ESRCH {
                return Err(fail("forwarding a signal"));
            }
        }
    }
}

/// Once the workload has exited, nothing it started may outlive the
/// supervisor: as PID 1 the pid namespace's end kills the rest, but with
/// `--init` elsewhere its orphans (reparented here, the child subreaper)
/// would run on unsupervised. Each child left is killed and reaped, again
/// as grandchildren are reparented, for at most about five seconds.
#[allow(unsafe_code)]
pub(crate) fn kill_leftovers() {
    let me = std::process::id();
    let list = format!("/proc/{me}/task/{me}/children");
    for _ in 0..500 {
        let kids: Vec<libc::pid_t> = std::fs::read_to_string(&list)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        for k in &kids {
            // SAFETY: kill takes integers; `k` is our unreaped child, so its
            // pid cannot have been reused.
            unsafe { libc::kill(*k, libc::SIGKILL) };
        }
        let mut st: libc::c_int = 0;
        loop {
            // SAFETY: `st` is a writable c_int for the status.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid > 0 {
                continue;
            }
            if pid < 0 && errno() == libc::ECHILD {
                return;
            }
            break;
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        // SAFETY: `pause` is a valid timespec; no remainder is asked for.
        unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
    }
}

/// Reap every child that has exited; the workload's exit status once it
/// has.
#[allow(unsafe_code)]
pub(crate) fn reap(child: libc::pid_t) -> Result<Option<i32>> {
    loop {
        let mut st: libc::c_int = 0;
        // SAFETY: `st` is a writable c_int for the status.
        let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if pid == 0 {
            return Ok(None);
        }
        if pid < 0 {
            match errno() {
                libc::EINTR => continue,
                libc::ECHILD => {
                    return Err(Error::Internal(
                        "init: the workload is gone but was not reaped".into(),
                    ));
                }
                _ => return Err(fail("waitpid")),
            }
        }
        if pid == child {
            return Ok(Some(exit_status(st)));
        }
    }
}

/// The exit status init reports for a wait status: the workload's code,
/// or 128+signal.
pub fn exit_status(st: libc::c_int) -> i32 {
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st)
    } else {
        125
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_is_code_or_128_plus_signal() {
        assert_eq!(exit_status(3 << 8), 3);
        assert_eq!(exit_status(libc::SIGTERM), 143);
        assert_eq!(exit_status(libc::SIGKILL | 0x80), 137); // core dumped
    }

    #[test]
    fn forwards_every_catchable_signal_but_faults_and_pipe() {
        let f: Vec<i32> = forwarded().collect();
        for s in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGUSR1,
            libc::SIGWINCH,
            libc::SIGCONT,
        ] {
            assert!(f.contains(&s), "{s}");
        }
        assert!((32..=64).all(|s| f.contains(&s)), "real-time signals");
        for s in KEPT {
            assert!(!f.contains(&s), "{s}");
        }
        assert_eq!(f.len(), 64 - KEPT.len());
        assert_eq!(kernel_set([1, 64].into_iter()), 1 | (1 << 63));
    }
}
