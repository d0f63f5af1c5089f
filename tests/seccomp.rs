//! Seccomp escape tests: the workload makes one call under the sandbox and
//! gets the rule's errno.
//!
//! A workload without capabilities gets EPERM from many privileged
//! syscalls anyway, so EPERM alone would prove nothing. Every rule test
//! therefore has two controls:
//! 1. the same sandbox with only that rule removed (`seccomp.allow`), with
//!    the capability the syscall needs kept, must NOT give EPERM — so the
//!    EPERM came from the filter;
//! 2. the same call run bare (as root, with harmless invalid arguments)
//!    must NOT give EPERM either.
//!
//! The arguments are chosen to fail harmlessly (EFAULT, EBADF, EINVAL,
//! ESRCH) when the call is allowed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Run, bare, base_policy, need_root, probe, sandbox, scratch, skip, write_policy};
use openshell_sandbox::seccomp::{Arch, lookup};

const USER: &str = "process: {run_as_user: 1500, run_as_group: 1500}\n";

fn policy(test: &str, extra: &str) -> std::path::PathBuf {
    let d = scratch(test);
    write_policy(&d, &base_policy(&[], &["/tmp"], &format!("{USER}{extra}")))
}

fn probe_args(action: &[&str]) -> Vec<String> {
    let mut v = vec![probe().display().to_string()];
    v.extend(action.iter().map(|s| s.to_string()));
    v
}

fn run(pol: &std::path::Path, action: &[&str]) -> Run {
    let a = probe_args(action);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    sandbox(pol, &["--exec"], &refs)
}

fn run_bare(action: &[&str]) -> Run {
    let a = probe_args(action);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    bare(&refs)
}

fn is_eperm(r: &Run) -> bool {
    r.stdout.starts_with("errno=EPERM(1)")
}

/// The filter refuses `name` with EPERM; removing just that rule (and
/// keeping `cap`) makes the same call behave differently, and so does the
/// bare call.
fn rule(test: &str, name: &str, args: &[&str], cap: Option<&str>) {
    if need_root(test) {
        return;
    }
    let Some(nr) = lookup(Arch::native(), name) else {
        skip(test, &format!("{name} does not exist on this architecture"));
        return;
    };
    let nr = nr.to_string();
    let mut action = vec!["syscall", nr.as_str()];
    action.extend_from_slice(args);
    let caps = cap
        .map(|c| format!("capabilities: {{keep: [{c}]}}\n"))
        .unwrap_or_default();

    let denied = run(&policy(test, &caps), &action);
    assert!(
        is_eperm(&denied),
        "{name}: expected EPERM under the sandbox\n{}",
        denied.explain()
    );

    let allowed = run(
        &policy(
            &format!("{test}_control"),
            &format!("{caps}seccomp: {{allow: [{name}]}}\n"),
        ),
        &action,
    );
    assert!(
        allowed.code != 125 && !is_eperm(&allowed) && allowed.signal.is_none(),
        "{name}: control (rule removed) still EPERM, the test would prove nothing\n{}",
        allowed.explain()
    );

    let b = run_bare(&action);
    assert!(
        !is_eperm(&b) && b.signal.is_none(),
        "{name}: bare control\n{}",
        b.explain()
    );
}

// ---- escape primitives: other processes ----
#[test]
fn sandbox_blocks_ptrace() {
    // PTRACE_PEEKDATA on pid 0: ESRCH when allowed.
    rule(
        "sandbox_blocks_ptrace",
        "ptrace",
        &["2", "0"],
        Some("SYS_PTRACE"),
    );
}
#[test]
fn sandbox_blocks_process_vm_readv() {
    rule(
        "sandbox_blocks_process_vm_readv",
        "process_vm_readv",
        &["0"],
        Some("SYS_PTRACE"),
    );
}
#[test]
fn sandbox_blocks_process_vm_writev() {
    rule(
        "sandbox_blocks_process_vm_writev",
        "process_vm_writev",
        &["0"],
        Some("SYS_PTRACE"),
    );
}
#[test]
fn sandbox_blocks_pidfd_getfd() {
    rule("sandbox_blocks_pidfd_getfd", "pidfd_getfd", &["-1"], None);
}
// ---- kernel attack surface ----
#[test]
fn sandbox_blocks_bpf() {
    rule("sandbox_blocks_bpf", "bpf", &["0", "0", "0"], Some("BPF"));
}
#[test]
fn sandbox_blocks_perf_event_open() {
    rule(
        "sandbox_blocks_perf_event_open",
        "perf_event_open",
        &["0"],
        Some("PERFMON"),
    );
}
#[test]
fn sandbox_blocks_userfaultfd() {
    // An invalid flag: EINVAL when allowed.
    rule(
        "sandbox_blocks_userfaultfd",
        "userfaultfd",
        &["0x7ffffff0"],
        Some("SYS_PTRACE"),
    );
}
#[test]
fn sandbox_blocks_io_uring_setup() {
    rule(
        "sandbox_blocks_io_uring_setup",
        "io_uring_setup",
        &["0", "0"],
        None,
    );
}
#[test]
fn sandbox_blocks_io_uring_enter() {
    rule(
        "sandbox_blocks_io_uring_enter",
        "io_uring_enter",
        &["-1"],
        None,
    );
}
#[test]
fn sandbox_blocks_io_uring_register() {
    rule(
        "sandbox_blocks_io_uring_register",
        "io_uring_register",
        &["-1"],
        None,
    );
}
#[test]
fn sandbox_blocks_kexec_file_load() {
    rule(
        "sandbox_blocks_kexec_file_load",
        "kexec_file_load",
        &["-1", "-1"],
        Some("SYS_BOOT"),
    );
}
#[test]
fn sandbox_blocks_init_module() {
    rule(
        "sandbox_blocks_init_module",
        "init_module",
        &["0", "0", "0"],
        Some("SYS_MODULE"),
    );
}
#[test]
fn sandbox_blocks_finit_module() {
    rule(
        "sandbox_blocks_finit_module",
        "finit_module",
        &["-1"],
        Some("SYS_MODULE"),
    );
}
#[test]
fn sandbox_blocks_delete_module() {
    rule(
        "sandbox_blocks_delete_module",
        "delete_module",
        &["0"],
        Some("SYS_MODULE"),
    );
}
#[test]
fn sandbox_blocks_keyctl() {
    // KEYCTL_READ of key 0: an error other than EPERM when allowed.
    rule(
        "sandbox_blocks_keyctl",
        "keyctl",
        &["11", "0", "0", "0"],
        None,
    );
}
#[test]
fn sandbox_blocks_add_key() {
    rule("sandbox_blocks_add_key", "add_key", &["0"], None);
}
#[test]
fn sandbox_blocks_request_key() {
    rule("sandbox_blocks_request_key", "request_key", &["0"], None);
}
// ---- mounts, roots and namespaces ----
#[test]
fn sandbox_blocks_mount() {
    rule(
        "sandbox_blocks_mount",
        "mount",
        &["0", "0", "0", "0", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_umount2() {
    rule(
        "sandbox_blocks_umount2",
        "umount2",
        &["0", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_pivot_root() {
    rule(
        "sandbox_blocks_pivot_root",
        "pivot_root",
        &["0", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_chroot() {
    rule(
        "sandbox_blocks_chroot",
        "chroot",
        &["0"],
        Some("SYS_CHROOT"),
    );
}
#[test]
fn sandbox_blocks_fsopen() {
    rule(
        "sandbox_blocks_fsopen",
        "fsopen",
        &["0", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_open_tree() {
    rule(
        "sandbox_blocks_open_tree",
        "open_tree",
        &["-1", "0", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_move_mount() {
    rule(
        "sandbox_blocks_move_mount",
        "move_mount",
        &["-1", "0", "-1", "0", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_setns() {
    rule(
        "sandbox_blocks_setns",
        "setns",
        &["-1", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_open_by_handle_at() {
    rule(
        "sandbox_blocks_open_by_handle_at",
        "open_by_handle_at",
        &["-1", "0", "0"],
        Some("DAC_READ_SEARCH"),
    );
}
#[test]
fn sandbox_blocks_name_to_handle_at() {
    rule(
        "sandbox_blocks_name_to_handle_at",
        "name_to_handle_at",
        &["-1", "0", "0", "0", "0"],
        None,
    );
}
// ---- host administration ----
#[test]
fn sandbox_blocks_swapon() {
    rule(
        "sandbox_blocks_swapon",
        "swapon",
        &["0", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_reboot() {
    // Wrong magic numbers: EINVAL when allowed.
    rule(
        "sandbox_blocks_reboot",
        "reboot",
        &["0", "0", "0", "0"],
        Some("SYS_BOOT"),
    );
}
#[test]
fn sandbox_blocks_clock_settime() {
    rule(
        "sandbox_blocks_clock_settime",
        "clock_settime",
        &["0", "0"],
        Some("SYS_TIME"),
    );
}
#[test]
fn sandbox_blocks_adjtimex() {
    rule(
        "sandbox_blocks_adjtimex",
        "adjtimex",
        &["0"],
        Some("SYS_TIME"),
    );
}
#[test]
fn sandbox_blocks_quotactl() {
    rule(
        "sandbox_blocks_quotactl",
        "quotactl",
        &["0", "0", "0", "0"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_acct() {
    // acct on a path that does not exist: ENOENT when allowed.
    rule("sandbox_blocks_acct", "acct", &["1"], Some("SYS_PACCT"));
}
#[test]
fn sandbox_blocks_sethostname() {
    // A length beyond the limit: EINVAL when allowed.
    rule(
        "sandbox_blocks_sethostname",
        "sethostname",
        &["0", "100000"],
        Some("SYS_ADMIN"),
    );
}
#[test]
fn sandbox_blocks_iopl() {
    // Level 4 is invalid: EINVAL when allowed.
    rule("sandbox_blocks_iopl", "iopl", &["4"], Some("SYS_RAWIO"));
}

// ---- conditional rules ----

fn expect(r: &Run, prefix: &str, what: &str) {
    assert!(
        r.stdout.starts_with(prefix),
        "{what}: expected {prefix}\n{}",
        r.explain()
    );
}

#[test]
fn sandbox_blocks_unshare_user_namespace() {
    if need_root("sandbox_blocks_unshare_user_namespace") {
        return;
    }
    let p = policy("unshare_userns", "");
    expect(
        &run(&p, &["unshare", "0x10000000"]),
        "errno=EPERM(1)",
        "unshare(CLONE_NEWUSER)",
    );
    // Control: an unprivileged user may create a user namespace bare.
    let a = probe_args(&["unshare", "0x10000000"]);
    let c = common::bare_as(1500, &a.iter().map(String::as_str).collect::<Vec<_>>());
    expect(&c, "ok", "bare unshare(CLONE_NEWUSER) as uid 1500");
}

#[test]
fn sandbox_blocks_clone_new_user_namespace() {
    if need_root("sandbox_blocks_clone_new_user_namespace") {
        return;
    }
    let p = policy("clone_userns", "");
    expect(
        &run(&p, &["clone", "0x10000000"]),
        "errno=EPERM(1)",
        "clone(CLONE_NEWUSER)",
    );
    expect(&run(&p, &["fork"]), "ok", "plain fork still works");
    expect(
        &run_bare(&["clone", "0x10000000"]),
        "ok",
        "bare clone(CLONE_NEWUSER)",
    );
}

#[test]
fn sandbox_answers_clone3_with_enosys() {
    if need_root("sandbox_answers_clone3_with_enosys") {
        return;
    }
    let p = policy("clone3", "");
    expect(&run(&p, &["clone3"]), "errno=ENOSYS(38)", "clone3");
    expect(&run_bare(&["clone3"]), "ok", "bare clone3");
}

#[test]
fn sandbox_blocks_af_packet_sockets() {
    if need_root("sandbox_blocks_af_packet_sockets") {
        return;
    }
    let p = policy("af_packet", "capabilities: {keep: [NET_RAW]}\n");
    expect(
        &run(&p, &["socket", "17", "3", "0"]),
        "errno=EPERM(1)",
        "socket(AF_PACKET)",
    );
    expect(
        &run_bare(&["socket", "17", "3", "0"]),
        "ok",
        "bare socket(AF_PACKET) as root",
    );
}

#[test]
fn sandbox_blocks_raw_ip_sockets_even_with_network() {
    if need_root("sandbox_blocks_raw_ip_sockets_even_with_network") {
        return;
    }
    let p = policy(
        "raw_ip",
        "capabilities: {keep: [NET_RAW]}\nnetwork: {connect_tcp: [443]}\n",
    );
    expect(
        &run(&p, &["socket", "2", "3", "1"]),
        "errno=EPERM(1)",
        "socket(AF_INET, SOCK_RAW)",
    );
    expect(
        &run(&p, &["socket", "2", "1", "0"]),
        "ok",
        "socket(AF_INET, SOCK_STREAM) with network",
    );
    expect(
        &run_bare(&["socket", "2", "3", "1"]),
        "ok",
        "bare raw socket as root",
    );
}

#[test]
fn sandbox_blocks_netlink_sock_diag_but_allows_route() {
    if need_root("sandbox_blocks_netlink_sock_diag_but_allows_route") {
        return;
    }
    let p = policy("netlink", "");
    expect(
        &run(&p, &["socket", "16", "3", "4"]),
        "errno=EPERM(1)",
        "NETLINK_SOCK_DIAG",
    );
    expect(&run(&p, &["socket", "16", "3", "0"]), "ok", "NETLINK_ROUTE");
    let a = probe_args(&["socket", "16", "3", "4"]);
    let c = common::bare_as(1500, &a.iter().map(String::as_str).collect::<Vec<_>>());
    expect(&c, "ok", "bare NETLINK_SOCK_DIAG as uid 1500");
}

#[test]
fn sandbox_without_network_policy_refuses_ip_sockets() {
    if need_root("sandbox_without_network_policy_refuses_ip_sockets") {
        return;
    }
    let none = policy("inet_none", "");
    expect(
        &run(&none, &["socket", "2", "1", "0"]),
        "errno=EPERM(1)",
        "AF_INET without network",
    );
    expect(
        &run(&none, &["socket", "10", "1", "0"]),
        "errno=EPERM(1)",
        "AF_INET6 without network",
    );
    expect(
        &run(&none, &["socket", "1", "1", "0"]),
        "ok",
        "AF_UNIX without network",
    );
    let net = policy("inet_some", "network: {connect_tcp: [443]}\n");
    expect(
        &run(&net, &["socket", "2", "1", "0"]),
        "ok",
        "AF_INET with a network policy",
    );
}

#[test]
fn sandbox_with_openshell_network_policies_allows_ip_sockets() {
    if need_root("sandbox_with_openshell_network_policies_allows_ip_sockets") {
        return;
    }
    let net = policy(
        "inet_openshell",
        "network_policies:\n  api:\n    endpoints:\n      - {host: api.example.com, port: 443}\n",
    );
    expect(
        &run(&net, &["socket", "2", "1", "0"]),
        "ok",
        "AF_INET with network_policies",
    );
}

#[test]
fn sandbox_blocks_vsock_sockets() {
    if need_root("sandbox_blocks_vsock_sockets") {
        return;
    }
    let p = policy("vsock", "");
    expect(
        &run(&p, &["socket", "40", "1", "0"]),
        "errno=EPERM(1)",
        "socket(AF_VSOCK)",
    );
    let b = run_bare(&["socket", "40", "1", "0"]);
    assert!(!is_eperm(&b), "bare vsock\n{}", b.explain());
}

#[test]
fn sandbox_blocks_tiocsti_terminal_injection() {
    if need_root("sandbox_blocks_tiocsti_terminal_injection") {
        return;
    }
    let p = policy("tiocsti", "");
    // stdin is /dev/null: unsandboxed the call fails with ENOTTY; the
    // filter answers before the tty check.
    expect(&run(&p, &["tiocsti"]), "errno=EPERM(1)", "TIOCSTI");
    expect(&run_bare(&["tiocsti"]), "errno=ENOTTY(25)", "bare TIOCSTI");
}

#[test]
fn sandbox_blocks_tioclinux() {
    if need_root("sandbox_blocks_tioclinux") {
        return;
    }
    let p = policy("tioclinux", "");
    expect(&run(&p, &["tioclinux"]), "errno=EPERM(1)", "TIOCLINUX");
    expect(
        &run_bare(&["tioclinux"]),
        "errno=ENOTTY(25)",
        "bare TIOCLINUX",
    );
}

#[test]
fn sandbox_blocks_execveat_empty_path() {
    if need_root("sandbox_blocks_execveat_empty_path") {
        return;
    }
    let p = policy("execveat", "");
    let probe = probe().display().to_string();
    expect(
        &run(&p, &["execveat-empty", &probe]),
        "errno=EPERM(1)",
        "execveat(AT_EMPTY_PATH)",
    );
    let b = run_bare(&["execveat-empty", &probe]);
    assert_eq!(
        (b.code, b.stdout.as_str()),
        (0, ""),
        "bare execveat runs probe true\n{}",
        b.explain()
    );
}

#[test]
fn sandbox_allows_memfd_create() {
    if need_root("sandbox_allows_memfd_create") {
        return;
    }
    let p = policy("memfd", "");
    expect(&run(&p, &["memfd"]), "ok", "memfd_create");
}

#[test]
fn sandbox_blocks_personality_changes() {
    if need_root("sandbox_blocks_personality_changes") {
        return;
    }
    let p = policy("personality", "");
    // ADDR_NO_RANDOMIZE would turn off ASLR for the workload.
    expect(
        &run(&p, &["personality", "0x0040000"]),
        "errno=EPERM(1)",
        "personality(ADDR_NO_RANDOMIZE)",
    );
    expect(
        &run(&p, &["personality", "0xffffffff"]),
        "ok",
        "personality query",
    );
    expect(
        &run_bare(&["personality", "0x0040000"]),
        "ok",
        "bare personality",
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn sandbox_refuses_x32_syscalls() {
    if need_root("sandbox_refuses_x32_syscalls") {
        return;
    }
    let p = policy("x32", "");
    expect(&run(&p, &["x32"]), "errno=EPERM(1)", "x32 getpid");
    // Bare: this kernel has no x32 ABI, so the call reaches it and gets ENOSYS
    // (on an x32 kernel it would succeed) — either way not EPERM.
    let b = run_bare(&["x32"]);
    assert!(!is_eperm(&b), "bare x32\n{}", b.explain());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn sandbox_kills_i386_int80_syscalls() {
    if need_root("sandbox_kills_i386_int80_syscalls") {
        return;
    }
    let p = policy("int80", "");
    let r = run(&p, &["int80"]);
    assert_eq!(
        r.signal,
        Some(libc::SIGSYS),
        "int 0x80 must be killed\n{}",
        r.explain()
    );
    expect(&run_bare(&["int80"]), "ok", "bare int 0x80");
}

// ---- policy knobs ----

#[test]
fn seccomp_kill_action_kills_with_sigsys() {
    if need_root("seccomp_kill_action_kills_with_sigsys") {
        return;
    }
    let p = policy("kill_action", "seccomp: {action: kill}\n");
    let nr = lookup(Arch::native(), "ptrace").unwrap().to_string();
    let r = run(&p, &["syscall", &nr, "2", "0"]);
    assert_eq!(r.signal, Some(libc::SIGSYS), "{}", r.explain());
}

#[test]
fn seccomp_deny_adds_a_syscall() {
    if need_root("seccomp_deny_adds_a_syscall") {
        return;
    }
    let nr = lookup(Arch::native(), "getcwd").unwrap().to_string();
    let p = policy("deny_getcwd", "seccomp: {deny: [getcwd]}\n");
    expect(
        &run(&p, &["syscall", &nr, "0", "0"]),
        "errno=EPERM(1)",
        "denied getcwd",
    );
    let c = policy("deny_getcwd_control", "");
    let r = run(&c, &["syscall", &nr, "0", "0"]);
    assert!(!is_eperm(&r), "getcwd without the deny\n{}", r.explain());
}

#[test]
fn seccomp_log_mode_logs_instead_of_denying() {
    if need_root("seccomp_log_mode_logs_instead_of_denying") {
        return;
    }
    let nr = lookup(Arch::native(), "ptrace").unwrap().to_string();
    let p = policy("log_mode", "seccomp: {log: true}\n");
    let r = run(&p, &["syscall", &nr, "2", "0"]);
    assert!(r.stdout.starts_with("errno=ESRCH(3)"), "{}", r.explain());
    assert!(
        r.stderr.contains("seccomp: log mode"),
        "log mode must be reported\n{}",
        r.explain()
    );
}
