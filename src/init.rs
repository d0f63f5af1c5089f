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
//! parent's seccomp filter to a handful of syscalls, forwards signals
//! 32–34 too (musl's `sigaction` refuses them, so tokio's signal driver
//! cannot register them, and a runtime that unblocks them dies of them)
//! and adds nothing to the binary. README "Dependencies" has the numbers.

use crate::capabilities::{self, CAP_KILL, errno_name};
use std::io::Read;

use crate::error::{Error, Result};
use crate::sys;

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

fn fail(what: &str, errno: i32) -> Error {
    Error::apply("init", format!("{what} failed: {}", errno_name(errno)))
}

/// Fork. The child runs `child` (apply + exec; it returns only the error
/// that stopped it) and its error is returned as `Err`; the parent
/// supervises and returns the workload's exit status.
pub fn run(child: impl FnOnce(libc::pid_t) -> Error) -> Result<i32> {
    run_with(child, supervise)
}

/// [`run`] with another loop for the parent (`learn` observes the
/// workload as well as supervising it).
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
    // unblocks them just before execve. The kernel's sigset: the C
    // library's leaves its reserved real-time signals out.
    sys::sigprocmask(libc::SIG_BLOCK, kernel_set(1..=NSIG))
        .map_err(|e| fail("blocking signals", e))?;
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| fail("PR_SET_CHILD_SUBREAPER", e as i32))?;
    let parent = nix::unistd::getpid().as_raw();
    // Single-threaded here (checked above where /proc is readable; nothing
    // in the launch starts a thread), as `sys::fork` requires.
    match sys::fork().map_err(|e| fail("fork", e))? {
        None => {
            crate::process::die_with_parent(parent)?;
            Err(child(parent))
        }
        Some(pid) => {
            // What the child's closure owns (descriptors held for it) is
            // the child's alone.
            drop(child);
            parent_loop(pid)
        }
    }
}

/// The parent after fork: shed what it does not need, then loop.
fn supervise(child: libc::pid_t) -> Result<i32> {
    // The inherited fds (preserved ones, sockets) are the workload's.
    crate::process::close_fds(&[], &[])?;
    let set = kernel_set(forwarded().chain([libc::SIGCHLD]));
    let mut sfd = std::fs::File::from(sys::signalfd(set).map_err(|e| fail("signalfd", e))?);
    capabilities::keep_only(capabilities::bit(CAP_KILL))?;
    capabilities::set_no_new_privs()?;
    crate::seccomp::install_parent().map_err(|e| Error::apply("init", format!("seccomp: {e}")))?;

    // One `struct signalfd_siginfo` (128 bytes); the signal number is its
    // first field, a native-endian u32.
    let mut info = [0u8; 128];
    loop {
        if let Some(status) = reap(child)? {
            kill_leftovers();
            return Ok(status);
        }
        match sfd.read(&mut info) {
            Ok(n) if n == info.len() => {}
            Ok(_) => return Err(fail("reading the signalfd", libc::EIO)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail("reading the signalfd", e.raw_os_error().unwrap_or(0))),
        }
        let sig = i32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
        if sig != libc::SIGCHLD && sig > 0 {
            // `child` is our unreaped child, so its pid cannot have been
            // reused.
            match sys::kill(child, sig) {
                Ok(()) | Err(libc::ESRCH) => {}
                Err(e) => return Err(fail("forwarding a signal", e)),
            }
        }
    }
}

/// Once the workload has exited, nothing it started may outlive the
/// supervisor: as PID 1 the pid namespace's end kills the rest, but with
/// `--init` elsewhere its orphans (reparented here, the child subreaper)
/// would run on unsupervised. Each child left is killed and reaped, again
/// as grandchildren are reparented, for at most about five seconds.
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
            // `k` is our unreaped child, so its pid cannot have been
            // reused; one already gone is fine.
            let _ = sys::kill(*k, libc::SIGKILL);
        }
        loop {
            match sys::wait_any_nohang() {
                Ok(Some(_)) => continue,
                Err(libc::ECHILD) => return,
                _ => break,
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Reap every child that has exited; the workload's exit status once it
/// has.
pub(crate) fn reap(child: libc::pid_t) -> Result<Option<i32>> {
    loop {
        match sys::wait_any_nohang() {
            Ok(None) => return Ok(None),
            Ok(Some((pid, st))) if pid == child => return Ok(Some(exit_status(st))),
            Ok(Some(_)) | Err(libc::EINTR) => continue,
            Err(libc::ECHILD) => {
                return Err(Error::Internal(
                    "init: the workload is gone but was not reaped".into(),
                ));
            }
            Err(e) => return Err(fail("waitpid", e)),
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
