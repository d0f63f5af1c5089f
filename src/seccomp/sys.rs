//! The raw system calls: `prctl(PR_SET_NO_NEW_PRIVS)` and
//! `seccomp(SECCOMP_SET_MODE_FILTER)`. The only unsafe code of the module.

use super::{BPF_MAXINSNS, SeccompError, SockFilter};

/// `SECCOMP_SET_MODE_FILTER`.
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// The kernel's `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const SockFilter,
}

// The layouts must match the kernel's; libc mirrors them.
const _: () = {
    assert!(std::mem::size_of::<SockFilter>() == std::mem::size_of::<libc::sock_filter>());
    assert!(std::mem::align_of::<SockFilter>() == std::mem::align_of::<libc::sock_filter>());
    assert!(std::mem::size_of::<SockFprog>() == std::mem::size_of::<libc::sock_fprog>());
};

/// Sets `no_new_privs` for the calling thread (inherited across fork and
/// exec), which unprivileged `seccomp(2)` requires.
#[allow(unsafe_code)]
pub fn set_no_new_privs() -> Result<(), SeccompError> {
    let one: libc::c_ulong = 1;
    let zero: libc::c_ulong = 0;
    // SAFETY: PR_SET_NO_NEW_PRIVS takes four integer arguments and no
    // pointers; the kernel reads nothing from our memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, one, zero, zero, zero) };
    if rc == 0 {
        Ok(())
    } else {
        Err(SeccompError::NoNewPrivs {
            errno: last_errno(),
        })
    }
}

/// Installs `prog` on the calling thread with
/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`.
///
/// The caller must have set `no_new_privs` (see [`set_no_new_privs`]) unless
/// it has `CAP_SYS_ADMIN`. The filter is inherited by children and survives
/// exec; it cannot be removed. Does not allocate, so it may run in a child
/// between `fork` and `exec`.
#[allow(unsafe_code)]
pub fn install(prog: &[SockFilter]) -> Result<(), SeccompError> {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return Err(SeccompError::UnsupportedArch);
    }
    if prog.is_empty() {
        return Err(SeccompError::EmptyProgram);
    }
    let len = match libc::c_ushort::try_from(prog.len()) {
        Ok(len) if prog.len() <= BPF_MAXINSNS => len,
        _ => {
            return Err(SeccompError::ProgramTooLarge {
                arch: super::Arch::native(),
                len: prog.len(),
                max: BPF_MAXINSNS,
            });
        }
    };
    let fprog = SockFprog {
        len,
        filter: prog.as_ptr(),
    };
    let flags: libc::c_ulong = 0;
    // SAFETY: the kernel reads one `struct sock_fprog` from `&fprog` and
    // copies `fprog.len` `struct sock_filter` entries from `fprog.filter`.
    // `fprog` lives on this stack frame and `filter` points at `prog`, which
    // holds exactly `len` entries with the kernel's layout (checked above);
    // both outlive the call and the kernel keeps no pointer to them after it
    // returns.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const SockFprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(SeccompError::Install {
            errno: last_errno(),
        })
    }
}

/// `SECCOMP_GET_ACTION_AVAIL`.
const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;

/// Whether the kernel knows the filter return action `action`
/// (`seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action)`, Linux >= 4.14):
/// `Ok(())`, or the errno (`EOPNOTSUPP`: unknown action; `EINVAL` or
/// `ENOSYS`: no seccomp filters; `EPERM`: the call is filtered). Installs
/// nothing.
#[allow(unsafe_code)]
pub fn action_available(action: u32) -> Result<(), i32> {
    let a: u32 = action;
    // SAFETY: for SECCOMP_GET_ACTION_AVAIL the kernel reads one u32 from
    // the pointer (`copy_from_user(&action, uargs, sizeof(action))`); `a`
    // is a u32 on this stack frame that outlives the call, and the kernel
    // writes nothing and keeps no pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            &a as *const u32,
        )
    };
    if rc == 0 { Ok(()) } else { Err(last_errno()) }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
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
