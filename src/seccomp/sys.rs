//! Installing a program: `seccompiler::apply_filter` (it sets
//! `no_new_privs` itself, then `seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`),
//! and the action-availability query through `crate::sys`.
//!
//! Only the installer is seccompiler's. The program is this module's own
//! BPF tree (`bpf.rs`), not seccompiler's filter builder: the builder
//! checks syscalls one after another where the tree bisects (the same
//! rules took 190 µs to build and install against 27 µs here, and more
//! instructions run on every syscall), and it has no x32 check (an x86_64
//! filter must refuse the x32 ABI's numbers, which alias the native ones
//! with bit 30 set).

use super::{BPF_MAXINSNS, SeccompError, SockFilter};

/// Sets `no_new_privs` for the calling thread (inherited across fork and
/// exec), which unprivileged `seccomp(2)` requires.
pub fn set_no_new_privs() -> Result<(), SeccompError> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| SeccompError::NoNewPrivs { errno: e as i32 })
}

/// Installs `prog` on the calling thread (no TSYNC: the process is
/// single-threaded). The filter is inherited by children and survives
/// exec; it cannot be removed.
pub fn install(prog: &[SockFilter]) -> Result<(), SeccompError> {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return Err(SeccompError::UnsupportedArch);
    }
    if prog.is_empty() {
        return Err(SeccompError::EmptyProgram);
    }
    // seccompiler truncates the length to u16 without a check.
    if prog.len() > BPF_MAXINSNS {
        return Err(SeccompError::ProgramTooLarge {
            arch: super::Arch::native(),
            len: prog.len(),
            max: BPF_MAXINSNS,
        });
    }
    let bpf: Vec<seccompiler::sock_filter> = prog
        .iter()
        .map(|i| seccompiler::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    seccompiler::apply_filter(&bpf).map_err(|e| match e {
        seccompiler::Error::Prctl(io) => SeccompError::NoNewPrivs {
            errno: io.raw_os_error().unwrap_or(0),
        },
        seccompiler::Error::Seccomp(io) => SeccompError::Install {
            errno: io.raw_os_error().unwrap_or(0),
        },
        seccompiler::Error::EmptyFilter => SeccompError::EmptyProgram,
        other => SeccompError::Internal(other.to_string()),
    })
}

/// Installs `prog` like [`install`], with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`, and returns the notification
/// listener (seccompiler has no flag for it).
pub fn install_with_listener(prog: &[SockFilter]) -> Result<std::os::fd::OwnedFd, SeccompError> {
    let kernel: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    crate::sys::notify::install_with_listener(&kernel)
        .map_err(|errno| SeccompError::InstallListener { errno })
}

/// Whether the kernel knows the filter return action `action`
/// (`seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action)`, Linux >= 4.14):
/// `Ok(())`, or the errno (`EOPNOTSUPP`: unknown action; `EINVAL` or
/// `ENOSYS`: no seccomp filters; `EPERM`: the call is filtered). Installs
/// nothing.
pub fn action_available(action: u32) -> Result<(), i32> {
    crate::sys::seccomp_action_available(action)
}

/// Message for a failed `seccomp(SECCOMP_SET_MODE_FILTER)`, with a hint for
/// the common causes.
pub(super) fn install_error_text(errno: i32) -> String {
    let hint = match errno {
        libc::EACCES => " (no_new_privs is not set and the caller lacks CAP_SYS_ADMIN)",
        libc::EINVAL => " (the kernel rejected the program or seccomp filters are unavailable)",
        _ => "",
    };
    format!(
        "seccomp(SECCOMP_SET_MODE_FILTER) failed: {}{hint}",
        std::io::Error::from_raw_os_error(errno)
    )
}
