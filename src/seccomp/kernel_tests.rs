//! Behaviour of the compiled native program under the real kernel. Each case
//! forks a child that sets `no_new_privs`, installs the filter, makes one
//! raw syscall and reports the errno through a pipe; a control child makes
//! the same call without the filter.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The syscall returned; 0 for success, else the errno.
    Returned(i32),
    /// The child died from this signal.
    Signaled(i32),
    /// Setting up the filter failed with this errno.
    SetupFailed(i32),
}

fn program(cfg: &SeccompConfig) -> Vec<SockFilter> {
    let p = plan(cfg).expect("plan");
    compile(p.native().expect("native plan"), p.log_only)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Runs `attempt` in a forked child, under `prog` when given.
fn in_child(prog: Option<&[SockFilter]>, attempt: fn() -> libc::c_long) -> Outcome {
    let end = crate::sys::testing::in_child(|| {
        match prog.map(|p| set_no_new_privs().and_then(|()| install(p))) {
            Some(Err(SeccompError::Install { errno } | SeccompError::NoNewPrivs { errno })) => {
                [1, errno]
            }
            Some(Err(_)) => [1, -1],
            _ => {
                let rc = attempt();
                [0, if rc < 0 { errno() } else { 0 }]
            }
        }
    });
    let status = end.status;
    if libc::WIFSIGNALED(status) {
        return Outcome::Signaled(libc::WTERMSIG(status));
    }
    match end.report {
        Some([0, e]) => Outcome::Returned(e),
        Some([_, e]) => Outcome::SetupFailed(e),
        None => panic!("child reported nothing, status {status:#x}"),
    }
}

use crate::sys::testing::raw;

fn ptrace_traceme() -> libc::c_long {
    raw(
        libc::SYS_ptrace,
        [libc::PTRACE_TRACEME as libc::c_long, 0, 0],
    )
}
fn clone3_null() -> libc::c_long {
    raw(libc::SYS_clone3, [0, 0, 0])
}
fn unshare_user() -> libc::c_long {
    raw(
        libc::SYS_unshare,
        [libc::CLONE_NEWUSER as libc::c_long, 0, 0],
    )
}
fn netlink_sock_diag() -> libc::c_long {
    raw(
        libc::SYS_socket,
        [libc::AF_NETLINK.into(), libc::SOCK_RAW.into(), 4],
    )
}
fn netlink_route() -> libc::c_long {
    raw(
        libc::SYS_socket,
        [libc::AF_NETLINK.into(), libc::SOCK_RAW.into(), 0],
    )
}
fn inet_stream() -> libc::c_long {
    raw(
        libc::SYS_socket,
        [libc::AF_INET.into(), libc::SOCK_STREAM.into(), 0],
    )
}
fn packet_socket() -> libc::c_long {
    raw(
        libc::SYS_socket,
        [libc::AF_PACKET.into(), libc::SOCK_RAW.into(), 0],
    )
}
fn memfd() -> libc::c_long {
    raw(
        libc::SYS_memfd_create,
        [c"seccomp-test".as_ptr() as libc::c_long, 1, 0],
    )
}
fn getppid() -> libc::c_long {
    raw(libc::SYS_getppid, [0, 0, 0])
}
/// TIOCSTI with junk in the high half of the request, on fd -1.
fn ioctl_tiocsti_high() -> libc::c_long {
    raw(libc::SYS_ioctl, [-1, 0x1_0000_5412, 0])
}
#[cfg(target_arch = "x86_64")]
fn x32_getpid() -> libc::c_long {
    raw(0x4000_0000 | libc::SYS_getpid, [0, 0, 0])
}
#[cfg(target_arch = "x86_64")]
use crate::sys::testing::i386_getpid;

#[test]
fn kernel_ptrace_denied() {
    let prog = program(&SeccompConfig::default());
    assert_eq!(
        in_child(Some(&prog), ptrace_traceme),
        Outcome::Returned(libc::EPERM)
    );
    assert_ne!(
        in_child(None, ptrace_traceme),
        Outcome::Returned(libc::EPERM)
    );
}

#[test]
fn kernel_clone3_enosys() {
    let prog = program(&SeccompConfig::default());
    assert_eq!(
        in_child(Some(&prog), clone3_null),
        Outcome::Returned(libc::ENOSYS)
    );
    assert_eq!(in_child(None, clone3_null), Outcome::Returned(libc::EINVAL));
}

#[test]
fn kernel_unshare_user_denied() {
    let prog = program(&SeccompConfig::default());
    assert_eq!(
        in_child(Some(&prog), unshare_user),
        Outcome::Returned(libc::EPERM)
    );
    assert_eq!(in_child(None, unshare_user), Outcome::Returned(0));
    let allowed = program(&SeccompConfig {
        allowed_namespaces: vec!["user".into()],
        ..SeccompConfig::default()
    });
    assert_eq!(in_child(Some(&allowed), unshare_user), Outcome::Returned(0));
}

#[test]
fn kernel_netlink_and_packet() {
    let prog = program(&SeccompConfig::default());
    assert_eq!(
        in_child(Some(&prog), netlink_sock_diag),
        Outcome::Returned(libc::EPERM)
    );
    assert_eq!(in_child(Some(&prog), netlink_route), Outcome::Returned(0));
    assert_eq!(in_child(None, netlink_sock_diag), Outcome::Returned(0));
    assert_eq!(
        in_child(Some(&prog), packet_socket),
        Outcome::Returned(libc::EPERM)
    );
}

#[test]
fn kernel_inet_switch() {
    let off = program(&SeccompConfig {
        inet: false,
        ..SeccompConfig::default()
    });
    let on = program(&SeccompConfig::default());
    assert_eq!(
        in_child(Some(&off), inet_stream),
        Outcome::Returned(libc::EPERM)
    );
    assert_eq!(in_child(Some(&on), inet_stream), Outcome::Returned(0));
}

#[test]
fn kernel_allowed_calls_work() {
    let prog = program(&SeccompConfig::default());
    assert_eq!(in_child(Some(&prog), memfd), Outcome::Returned(0));
    assert_eq!(in_child(Some(&prog), getppid), Outcome::Returned(0));
}

#[test]
fn kernel_ioctl_high_bits_still_denied() {
    let prog = program(&SeccompConfig::default());
    assert_eq!(
        in_child(Some(&prog), ioctl_tiocsti_high),
        Outcome::Returned(libc::EPERM)
    );
    assert_eq!(
        in_child(None, ioctl_tiocsti_high),
        Outcome::Returned(libc::EBADF)
    );
}

#[test]
fn kernel_kill_and_log_actions() {
    let kill = program(&SeccompConfig {
        action: DenyAction::Kill,
        ..SeccompConfig::default()
    });
    assert_eq!(
        in_child(Some(&kill), ptrace_traceme),
        Outcome::Signaled(libc::SIGSYS)
    );
    assert_eq!(in_child(Some(&kill), getppid), Outcome::Returned(0));
    let log = program(&SeccompConfig {
        log: true,
        ..SeccompConfig::default()
    });
    assert_eq!(in_child(Some(&log), packet_socket), Outcome::Returned(0));
    assert_eq!(
        in_child(Some(&log), clone3_null),
        Outcome::Returned(libc::ENOSYS)
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn kernel_x32_and_i386() {
    let prog = program(&SeccompConfig::default());
    assert_eq!(
        in_child(Some(&prog), x32_getpid),
        Outcome::Returned(libc::EPERM)
    );
    assert_eq!(in_child(None, x32_getpid), Outcome::Returned(libc::ENOSYS));
    assert_eq!(
        in_child(Some(&prog), i386_getpid),
        Outcome::Signaled(libc::SIGSYS)
    );
    assert_eq!(in_child(None, i386_getpid), Outcome::Returned(0));
}

#[test]
fn kernel_parent_plan() {
    let prog = compile(&parent_plan(), false);
    assert_eq!(
        in_child(Some(&prog), ptrace_traceme),
        Outcome::Returned(libc::EPERM)
    );
    assert_eq!(
        in_child(Some(&prog), unshare_user),
        Outcome::Returned(libc::EPERM)
    );
    assert_eq!(in_child(Some(&prog), getppid), Outcome::Returned(0));
    assert_eq!(in_child(Some(&prog), netlink_route), Outcome::Returned(0));
}

#[test]
fn kernel_install_reports_errno() {
    // Without no_new_privs an unprivileged caller gets EACCES; as root the
    // call succeeds, so only the error path for a bad program is checked.
    assert_eq!(install(&[]), Err(SeccompError::EmptyProgram));
    let huge = vec![
        SockFilter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0x7fff_0000,
        };
        BPF_MAXINSNS + 1
    ];
    assert!(matches!(
        install(&huge),
        Err(SeccompError::ProgramTooLarge { .. })
    ));
    let bad: &[SockFilter] = &[SockFilter {
        code: 0x20,
        jt: 0,
        jf: 0,
        k: 1000,
    }];
    let r = in_child(Some(bad), getppid);
    assert_eq!(r, Outcome::SetupFailed(libc::EINVAL));
    let msg = SeccompError::Install {
        errno: libc::EINVAL,
    }
    .to_string();
    assert!(
        msg.starts_with("seccomp(SECCOMP_SET_MODE_FILTER) failed: Invalid argument"),
        "{msg}"
    );
}
