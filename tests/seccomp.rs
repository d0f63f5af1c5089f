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
    // Most of these capabilities bypass the sandbox (or do once the rule is
    // allowed), so the policy acknowledges what it keeps.
    let caps = cap
        .map(|c| format!("capabilities: {{keep: [{c}], bypass_acknowledged: [{c}]}}\n"))
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
    let p = policy(
        "af_packet",
        "capabilities: {keep: [NET_RAW], bypass_acknowledged: [NET_RAW]}\n",
    );
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
        "capabilities: {keep: [NET_RAW], bypass_acknowledged: [NET_RAW]}\nnetwork: {connect_tcp: [443]}\n",
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
fn sandbox_blocks_tiocsetd_line_discipline_change() {
    if need_root("sandbox_blocks_tiocsetd_line_discipline_change") {
        return;
    }
    // The pty devices are granted, so Landlock lets the pair open and only
    // the filter stands between the workload and the ioctl.
    let d = scratch("tiocsetd");
    let pol = write_policy(
        &d,
        &base_policy(&[], &["/tmp", "/dev/ptmx", "/dev/pts"], USER),
    );
    let r = run(&pol, &["tiocsetd"]);
    println!("sandbox: {}", r.stdout.trim_end());
    expect(&r, "errno=EPERM(1): TIOCSETD", "TIOCSETD");
    let b = run_bare(&["tiocsetd"]);
    println!("bare: {}", b.stdout.trim_end());
    expect(&b, "ok: TIOCSETD", "bare TIOCSETD");
    // Control: the same sandbox without the ioctl rule sets it.
    let d2 = scratch("tiocsetd_control");
    let pol2 = write_policy(
        &d2,
        &base_policy(
            &[],
            &["/tmp", "/dev/ptmx", "/dev/pts"],
            &format!("{USER}seccomp: {{allow: [ioctl]}}\n"),
        ),
    );
    let c = run(&pol2, &["tiocsetd"]);
    println!(
        "sandbox with seccomp.allow: [ioctl]: {}",
        c.stdout.trim_end()
    );
    expect(&c, "ok: TIOCSETD", "TIOCSETD with the ioctl rule removed");
}

/// Start `probe inotify DIR` (through the sandbox with `pol`, or bare),
/// wait until it reports the watch, create a file in `dir` from this
/// (unsandboxed) process, and return everything the probe printed.
fn inotify_watch(pol: Option<&std::path::Path>, dir: &std::path::Path, file: &str) -> Run {
    use std::io::{BufRead, Read};
    use std::process::{Command, Stdio};
    let probe = probe().display().to_string();
    let dir_s = dir.display().to_string();
    let mut c = match pol {
        Some(p) => {
            let mut c = Command::new(common::BIN);
            c.arg("--policy")
                .arg(p)
                .args(["--exec", "--", &probe, "inotify", &dir_s]);
            c
        }
        None => {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=1500",
                "--regid=1500",
                "--clear-groups",
                "--",
                &probe,
                "inotify",
                &dir_s,
            ]);
            c
        }
    };
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    if first.starts_with("ok: inotify_add_watch") {
        std::fs::write(dir.join(file), "x").unwrap();
    }
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let st = child.wait().unwrap();
    Run {
        code: st.code().unwrap_or(-1),
        signal: std::os::unix::process::ExitStatusExt::signal(&st),
        stdout: first + &rest,
        stderr,
    }
}

#[test]
fn sandbox_blocks_inotify_watch_outside_the_policy() {
    if need_root("sandbox_blocks_inotify_watch_outside_the_policy") {
        return;
    }
    // A directory no rule grants, readable by file modes: the workload
    // cannot list it, and must not watch it either.
    let watched = scratch("inotify_watched");
    let p = policy("inotify", "");
    let ls = run(&p, &["ls", &watched.display().to_string()]);
    println!("sandbox ls: {}", ls.stdout.trim_end());
    expect(&ls, "errno=EACCES(13)", "listing the watched directory");

    let r = inotify_watch(Some(&p), &watched, "created-while-sandboxed");
    println!("sandbox: {}", r.stdout.trim_end());
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (1, "errno=EPERM(1): inotify_add_watch\n"),
        "{}",
        r.explain()
    );
    // Control: the same uid bare watches it and sees the name of the file
    // another process creates there.
    let b = inotify_watch(None, &watched, "created-while-bare");
    println!("bare: {}", b.stdout.trim_end());
    assert_eq!(
        b.stdout,
        "ok: inotify_add_watch\nevent: IN_CREATE created-while-bare\n",
        "{}",
        b.explain()
    );
    // Control: `seccomp.allow: [inotify_add_watch]` gives the watch back,
    // and with it the reach outside the policy.
    let opt_in = policy("inotify_opt_in", "seccomp: {allow: [inotify_add_watch]}\n");
    let c = inotify_watch(Some(&opt_in), &watched, "created-with-opt-in");
    println!(
        "sandbox with seccomp.allow: [inotify_add_watch]: {}",
        c.stdout.trim_end()
    );
    assert_eq!(
        c.stdout,
        "ok: inotify_add_watch\nevent: IN_CREATE created-with-opt-in\n",
        "{}",
        c.explain()
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
fn a_policy_may_deny_prctl_and_getpid_to_its_workload() {
    let t = "a_policy_may_deny_prctl_and_getpid_to_its_workload";
    if need_root(t) {
        return;
    }
    // The supervisor reads securebits back with prctl and exports
    // LISTEN_PID from getpid: both are asked before the filter goes in,
    // so a policy that denies them still launches, and only the workload
    // is refused them. PR_GET_DUMPABLE (3) is a harmless prctl.
    let prctl = lookup(Arch::native(), "prctl").unwrap().to_string();
    let p = policy(t, "seccomp: {deny: [prctl, getpid]}\n");
    expect(
        &run(&p, &["syscall", &prctl, "3", "0"]),
        "errno=EPERM(1)",
        "denied prctl",
    );
    // Under action: kill the workload dies of its own prctl; the report,
    // written after the read-back, shows the supervisor got that far.
    let d = scratch(&format!("{t}_kill"));
    let report = d.join("report.json");
    let k = write_policy(
        &d,
        &base_policy(
            &[],
            &["/tmp"],
            &format!("{USER}seccomp: {{action: kill, deny: [prctl, getpid]}}\n"),
        ),
    );
    let a = probe_args(&["syscall", &prctl, "3", "0"]);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let r = sandbox(&k, &["--exec", "--report", report.to_str().unwrap()], &refs);
    assert_eq!(r.signal, Some(libc::SIGSYS), "{}", r.explain());
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(
        text.contains("\"readback\""),
        "report: {text}\n{}",
        r.explain()
    );
    // Control: without the deny the same call answers.
    let c = policy(&format!("{t}_control"), "");
    let r = run(&c, &["syscall", &prctl, "3", "0"]);
    assert!(
        r.code == 0 && !is_eperm(&r) && r.signal.is_none(),
        "{}",
        r.explain()
    );
}

#[test]
fn a_failed_exec_under_a_killing_filter_still_says_why() {
    let t = "a_failed_exec_under_a_killing_filter_still_says_why";
    if need_root(t) {
        return;
    }
    // After a failed execve the supervisor is under the workload's
    // filter: it writes one line and exits, with no descriptor closed,
    // no memory unmapped and no signal stack torn down on the way, calls
    // a policy may deny and, under action: kill, would die of.
    let d = scratch(t);
    for deny in ["close", "munmap", "sigaltstack", ""] {
        let p = write_policy(
            &d,
            &base_policy(
                &[],
                &["/tmp"],
                &format!("{USER}seccomp: {{action: kill, deny: [{deny}]}}\n"),
            ),
        );
        for mode in ["--exec", "--init"] {
            let r = sandbox(&p, &[mode], &["/nonexistent/workload"]);
            assert_eq!(r.code, 127, "deny [{deny}] {mode}\n{}", r.explain());
            assert!(
                r.stderr.ends_with(
                    "openshell-sandbox: workload /nonexistent/workload: no such file or directory\n"
                ),
                "deny [{deny}] {mode}\n{}",
                r.explain()
            );
        }
    }
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

// ---- TCP entry points that Landlock's port rules do not see ----
//
// Landlock (ABI >= 4) checks connect() and bind() of plain TCP sockets.
// Each test below names another way to a TCP connection or a listening
// port, with a listener on a loopback port the policy does not list.

use std::net::TcpListener;

fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    (l, port)
}

/// A policy that allows TCP connect to `listed` only.
fn net_policy(test: &str, listed: &str, extra: &str) -> std::path::PathBuf {
    policy(
        test,
        &format!("network: {{connect_tcp: [{listed}]{extra}}}\n"),
    )
}

fn tfo_client_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .is_some_and(|v| v & 1 != 0)
}

/// `send*(MSG_FASTOPEN)` refused by the filter; the same sandbox with only
/// that rule removed must not answer EPERM (it connects: Landlock has no hook
/// there), and the bare call connects.
fn fastopen(test: &str, action: &str, syscall: &str) {
    if need_root(test) || common::need_abi(test, 4) {
        return;
    }
    if !tfo_client_enabled() {
        skip(test, "net.ipv4.tcp_fastopen has the client bit off");
        return;
    }
    let (_listed, listed) = listener();
    let (_l, port) = listener();
    let p = net_policy(test, &listed, "");
    let r = run(&p, &[action, &port]);
    println!("sandboxed {action} {port} (unlisted): {}", r.stdout.trim());
    expect(&r, "errno=EPERM(1)", "TCP Fast Open to an unlisted port");
    let c = run(
        &net_policy(
            &format!("{test}_control"),
            &listed,
            &format!("}}\nseccomp: {{allow: [{syscall}]"),
        ),
        &[action, &port],
    );
    println!("sandboxed without the {syscall} rule: {}", c.stdout.trim());
    assert!(
        c.code != 125 && !is_eperm(&c),
        "control with the rule removed\n{}",
        c.explain()
    );
    let b = run_bare(&[action, &port]);
    println!("bare: {}", b.stdout.trim());
    expect(&b, "ok", "bare TCP Fast Open");
}

#[test]
fn sandbox_blocks_tcp_fast_open_sendto_to_unlisted_port() {
    fastopen(
        "sandbox_blocks_tcp_fast_open_sendto_to_unlisted_port",
        "tfo",
        "sendto",
    );
}

#[test]
fn sandbox_blocks_tcp_fast_open_sendmsg_to_unlisted_port() {
    fastopen(
        "sandbox_blocks_tcp_fast_open_sendmsg_to_unlisted_port",
        "tfo-sendmsg",
        "sendmsg",
    );
}

#[test]
fn sandbox_blocks_tcp_fastopen_connect_to_unlisted_port() {
    // TCP_FASTOPEN_CONNECT defers the SYN to the first write, but connect()
    // still runs the Landlock hook: refused with EACCES by Landlock.
    let test = "sandbox_blocks_tcp_fastopen_connect_to_unlisted_port";
    if need_root(test) || common::need_abi(test, 4) {
        return;
    }
    let (_listed, listed) = listener();
    let (_l, port) = listener();
    let p = net_policy(test, &listed, "");
    let r = run(&p, &["tfo-connect", &port]);
    println!(
        "sandboxed tfo-connect {port} (unlisted): {}",
        r.stdout.trim()
    );
    expect(
        &r,
        "errno=EACCES(13)",
        "TCP_FASTOPEN_CONNECT to an unlisted port",
    );
    let ok = run(&p, &["tfo-connect", &listed]);
    println!(
        "sandboxed tfo-connect {listed} (listed): {}",
        ok.stdout.trim()
    );
    expect(&ok, "ok", "TCP_FASTOPEN_CONNECT to the listed port");
    let b = run_bare(&["tfo-connect", &port]);
    println!("bare: {}", b.stdout.trim());
    expect(&b, "ok", "bare TCP_FASTOPEN_CONNECT");
}

#[test]
fn sandbox_blocks_mptcp_connect_to_unlisted_port() {
    let test = "sandbox_blocks_mptcp_connect_to_unlisted_port";
    if need_root(test) || common::need_abi(test, 4) {
        return;
    }
    let mptcp =
        std::fs::read_to_string("/proc/sys/net/mptcp/enabled").is_ok_and(|v| v.trim() == "1");
    if !mptcp {
        skip(test, "the kernel has no MPTCP (net.mptcp.enabled)");
        return;
    }
    let (_listed, listed) = listener();
    let (_l, port) = listener();
    let p = net_policy(test, &listed, "");
    let r = run(&p, &["mptcp", &port]);
    println!("sandboxed mptcp {port} (unlisted): {}", r.stdout.trim());
    expect(&r, "errno=EPERM(1)", "MPTCP socket");
    let r = run(&p, &["mptcp", &listed]);
    println!("sandboxed mptcp {listed} (listed): {}", r.stdout.trim());
    expect(&r, "errno=EPERM(1)", "MPTCP socket, listed port");
    // Only the socket rules removed: MPTCP reaches the unlisted port, which
    // is why the protocol itself is refused.
    let c = run(
        &net_policy(
            &format!("{test}_control"),
            &listed,
            "}\nseccomp: {allow: [socket]",
        ),
        &["mptcp", &port],
    );
    println!("sandboxed without the socket rules: {}", c.stdout.trim());
    assert!(
        c.code != 125 && !is_eperm(&c),
        "control with the rules removed\n{}",
        c.explain()
    );
    let b = run_bare(&["mptcp", &port]);
    println!("bare: {}", b.stdout.trim());
    expect(&b, "ok", "bare MPTCP connect");
}

#[test]
fn sandbox_blocks_sctp_sockets() {
    let test = "sandbox_blocks_sctp_sockets";
    if need_root(test) {
        return;
    }
    let p = policy(test, "network: {connect_tcp: [443]}\n");
    // one-to-one (SOCK_STREAM) and one-to-many (SOCK_SEQPACKET) SCTP
    for ty in ["1", "5"] {
        let r = run(&p, &["socket", "2", ty, "132"]);
        println!(
            "sandboxed socket(AF_INET, {ty}, IPPROTO_SCTP): {}",
            r.stdout.trim()
        );
        expect(&r, "errno=EPERM(1)", "SCTP socket");
        // Without the module the kernel answers EPROTONOSUPPORT; with it,
        // a socket. Either way not the filter's EPERM.
        let b = run_bare(&["socket", "2", ty, "132"]);
        println!("bare: {}", b.stdout.trim());
        assert!(!is_eperm(&b), "bare SCTP socket\n{}", b.explain());
    }
}

#[test]
fn sandbox_blocks_udplite_sockets() {
    let test = "sandbox_blocks_udplite_sockets";
    if need_root(test) {
        return;
    }
    let p = policy(test, "network: {connect_tcp: [443]}\n");
    let r = run(&p, &["socket", "2", "2", "136"]);
    println!(
        "sandboxed socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE): {}",
        r.stdout.trim()
    );
    expect(&r, "errno=EPERM(1)", "UDP-Lite socket");
    expect(&run(&p, &["socket", "2", "2", "17"]), "ok", "UDP socket");
    expect(&run(&p, &["socket", "10", "1", "6"]), "ok", "TCP over IPv6");
    let b = run_bare(&["socket", "2", "2", "136"]);
    println!("bare: {}", b.stdout.trim());
    assert!(!is_eperm(&b), "bare UDP-Lite socket\n{}", b.explain());
}

#[test]
fn sandbox_blocks_listen_autobind_without_bind_port() {
    let test = "sandbox_blocks_listen_autobind_without_bind_port";
    if need_root(test) {
        return;
    }
    let p = policy(test, "network: {connect_tcp: [443]}\n");
    let r = run(&p, &["listen"]);
    println!("sandboxed listen (connect_tcp only): {}", r.stdout.trim());
    expect(&r, "errno=EPERM(1)", "listen on an unbound TCP socket");
    let b = run_bare(&["listen"]);
    println!("bare: {}", b.stdout.trim());
    expect(&b, "ok: listening on port", "bare listen autobinds");
}

#[test]
fn sandbox_allow_listen_restores_listen() {
    let test = "sandbox_allow_listen_restores_listen";
    if need_root(test) {
        return;
    }
    let p = policy(test, "network: {connect_tcp: [443], allow_listen: true}\n");
    let r = run(&p, &["listen"]);
    println!("sandboxed listen (allow_listen: true): {}", r.stdout.trim());
    expect(&r, "ok: listening on port", "listen with allow_listen");
    assert!(
        r.stderr.contains("not enforced: listen()"),
        "the unchecked ephemeral listen must be reported\n{}",
        r.explain()
    );
    let p = policy(&format!("{test}_bind"), "network: {bind_tcp: [8080]}\n");
    let r = run(&p, &["listen"]);
    println!("sandboxed listen (bind_tcp: [8080]): {}", r.stdout.trim());
    expect(&r, "ok: listening on port", "listen with a bind port");
    // Without a network policy inet sockets are refused, and listen stays
    // allowed for unix-socket servers.
    let p = policy(&format!("{test}_none"), "");
    let r = run(&p, &["listen"]);
    println!("sandboxed listen (no network): {}", r.stdout.trim());
    expect(
        &r,
        "errno=EPERM(1): socket(AF_INET)",
        "no inet socket to listen on",
    );
}

#[test]
fn sandbox_blocks_ipv4_mapped_ipv6_connect_to_unlisted_port() {
    let test = "sandbox_blocks_ipv4_mapped_ipv6_connect_to_unlisted_port";
    if need_root(test) || common::need_abi(test, 4) {
        return;
    }
    let (_listed, listed) = listener();
    let (_l, port) = listener();
    let p = net_policy(test, &listed, "");
    let mapped = "::ffff:127.0.0.1";
    let r = run(&p, &["connect6", &port, mapped]);
    println!(
        "sandboxed connect6 {port} {mapped} (unlisted): {}",
        r.stdout.trim()
    );
    expect(
        &r,
        "errno=EACCES(13)",
        "IPv4-mapped connect to an unlisted port",
    );
    let ok = run(&p, &["connect6", &listed, mapped]);
    println!("sandboxed connect6 {listed} (listed): {}", ok.stdout.trim());
    expect(&ok, "ok", "IPv4-mapped connect to the listed port");
    let b = run_bare(&["connect6", &port, mapped]);
    println!("bare: {}", b.stdout.trim());
    expect(&b, "ok", "bare IPv4-mapped connect");
}

#[test]
fn sandbox_blocks_af_unspec_bind_to_unlisted_port() {
    let test = "sandbox_blocks_af_unspec_bind_to_unlisted_port";
    if need_root(test) || common::need_abi(test, 4) {
        return;
    }
    // A free port: bound and released.
    let port = listener().1;
    let p = policy(test, "network: {bind_tcp: [8081]}\n");
    let r = run(&p, &["bind-unspec", &port]);
    println!("sandboxed bind-unspec {port}: {}", r.stdout.trim());
    expect(
        &r,
        "errno=EACCES(13)",
        "bind(AF_UNSPEC) to an unlisted port",
    );
    let b = run_bare(&["bind-unspec", &port]);
    println!("bare: {}", b.stdout.trim());
    expect(&b, "ok", "bare bind(AF_UNSPEC)");
}

#[test]
fn sandbox_blocks_reconnect_after_af_unspec_disconnect() {
    let test = "sandbox_blocks_reconnect_after_af_unspec_disconnect";
    if need_root(test) || common::need_abi(test, 4) {
        return;
    }
    let (_listed, listed) = listener();
    let (_l, port) = listener();
    let p = net_policy(test, &listed, "");
    let r = run(&p, &["reconnect", &listed, &port]);
    println!(
        "sandboxed reconnect {listed} -> {port}: {}",
        r.stdout.trim()
    );
    expect(
        &r,
        "errno=EACCES(13): connect after AF_UNSPEC",
        "reconnect to an unlisted port",
    );
    let b = run_bare(&["reconnect", &listed, &port]);
    println!("bare: {}", b.stdout.trim());
    expect(&b, "ok", "bare reconnect");
}

// ---- unix sockets ----

#[test]
fn sandbox_unix_sockets_false_blocks_pathname_socket_outside_policy() {
    let test = "sandbox_unix_sockets_false_blocks_pathname_socket_outside_policy";
    if need_root(test) {
        return;
    }
    // Outside the policy's paths, and short enough for sun_path.
    let path = std::path::PathBuf::from(format!("/var/tmp/osb-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let path = path.display().to_string();
    let p = policy(test, "network: {unix_sockets: false}\n");
    let r = run(&p, &["unix", &path]);
    println!("sandboxed connect {path}: {}", r.stdout.trim());
    expect(&r, "errno=EPERM(1): socket(AF_UNIX)", "AF_UNIX socket");
    let r = run(&p, &["socketpair"]);
    println!("sandboxed socketpair: {}", r.stdout.trim());
    expect(&r, "ok", "socketpair(AF_UNIX) stays allowed");
    let b = run_bare(&["unix", &path]);
    println!("bare: {}", b.stdout.trim());
    drop(server);
    let _ = std::fs::remove_file(&path);
    expect(&b, "ok", "bare connect to the pathname socket");
}

/// A datagram socket pair is not connected for good: `sendto` with a path,
/// or `connect` again, reaches any pathname datagram socket its file mode
/// lets the uid write (`/dev/log`, the journal). With `unix_sockets: false`
/// only stream and seqpacket pairs are made (`SOCK_RAW` is a datagram
/// socket to `AF_UNIX`), and those reach nothing. The control is the same
/// pair under the default policy (unix sockets allowed), which reaches
/// the socket.
#[test]
fn sandbox_unix_sockets_false_blocks_datagram_pairs_reaching_a_pathname_socket() {
    let test = "sandbox_unix_sockets_false_blocks_datagram_pairs_reaching_a_pathname_socket";
    if need_root(test) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let path = std::path::PathBuf::from(format!("/var/tmp/osb-dg-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    server.set_nonblocking(true).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let received = || {
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok(n) = server.recv(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let sock = path.display().to_string();
    let refused = policy(test, "network: {unix_sockets: false}\n");
    for ty in ["dgram", "raw"] {
        let r = run(&refused, &["pair-sendto", ty, &sock]);
        println!("unix_sockets: false, {ty} pair: {}", r.stdout.trim());
        expect(&r, "errno=EPERM(1): socketpair(AF_UNIX)", "a datagram pair");
    }
    let r = run(&refused, &["pair-sendto", "seqpacket", &sock]);
    println!("unix_sockets: false, seqpacket pair: {}", r.stdout.trim());
    // Its `sendto` goes to the other end; `connect` fails (a seqpacket
    // end is connected, and the socket there is a datagram one).
    assert!(
        r.stdout.starts_with("errno=") && r.stdout.trim_end().ends_with(": connect(PATH)"),
        "a seqpacket pair\n{}",
        r.explain()
    );
    assert_eq!(received(), "", "nothing may reach the socket");
    let allowed = policy(&format!("{test}-allowed"), "");
    let c = run(&allowed, &["pair-sendto", "dgram", &sock]);
    println!("unix sockets allowed, dgram pair: {}", c.stdout.trim());
    let got = received();
    drop(server);
    let _ = std::fs::remove_file(&path);
    expect(&c, "ok: send after connect", "the control's datagram pair");
    assert_eq!(got, "xy", "the control reaches the socket");
}

/// `listmount` lists every mount by id, which `/proc/self/mountinfo`
/// shows only where the policy grants `/proc`: `ENOSYS` in the sandbox
/// (readers fall back to `/proc`). The control lists them bare.
#[test]
fn sandbox_hides_the_mount_table_from_listmount() {
    let test = "sandbox_hides_the_mount_table_from_listmount";
    if need_root(test) {
        return;
    }
    let p = policy(test, "");
    let r = run(&p, &["listmount"]);
    println!("sandboxed listmount: {}", r.stdout.trim());
    expect(
        &r,
        "errno=ENOSYS(38): listmount",
        "listmount in the sandbox",
    );
    let b = run_bare(&["listmount"]);
    println!("bare listmount: {}", b.stdout.trim());
    expect(&b, "ok: listmount", "bare listmount (Linux >= 6.8)");
}

// ---- SysV IPC and POSIX message queues ----

/// A key unique to this test run and `n`.
fn ipc_key(n: u32) -> String {
    (0x05ec_0000u32 | ((std::process::id() & 0xfff) << 4) | n).to_string()
}

fn bare1500(action: &[&str]) -> Run {
    let a = probe_args(action);
    common::bare_as(1500, &a.iter().map(String::as_str).collect::<Vec<_>>())
}

fn created_id(r: &Run) -> String {
    r.stdout
        .trim()
        .strip_prefix("ok: id=")
        .unwrap_or_else(|| panic!("creating the IPC object failed\n{}", r.explain()))
        .to_owned()
}

#[test]
fn sandbox_blocks_sysv_shm_of_same_uid_process_outside() {
    let test = "sandbox_blocks_sysv_shm_of_same_uid_process_outside";
    if need_root(test) {
        return;
    }
    let key = ipc_key(1);
    let id = created_id(&bare1500(&["shm-create", &key]));
    let p = policy(test, "");
    let r = run(&p, &["shmat", &id]);
    println!("sandboxed shmat {id}: {}", r.stdout.trim());
    let g = run(&p, &["shmget", &key]);
    println!("sandboxed shmget {key}: {}", g.stdout.trim());
    let b = bare1500(&["shmat", &id]);
    println!("bare uid 1500 shmat: {}", b.stdout.trim());
    let o = run(
        &policy(&format!("{test}_allow"), "seccomp: {allow: [shmat]}\n"),
        &["shmat", &id],
    );
    println!("sandboxed with seccomp.allow: [shmat]: {}", o.stdout.trim());
    bare(&[probe().to_str().unwrap(), "shm-rm", &id]);
    expect(&r, "errno=EPERM(1)", "shmat of a segment created outside");
    expect(&g, "errno=EPERM(1)", "shmget of a segment created outside");
    expect(&b, "ok", "bare shmat as the same uid");
    expect(&o, "ok", "shmat with seccomp.allow: [shmat]");
}

#[test]
fn sandbox_blocks_sysv_msg_queue_of_same_uid_process_outside() {
    let test = "sandbox_blocks_sysv_msg_queue_of_same_uid_process_outside";
    if need_root(test) {
        return;
    }
    let id = created_id(&bare1500(&["msg-create", &ipc_key(2)]));
    let p = policy(test, "");
    let r = run(&p, &["msgsnd", &id]);
    println!("sandboxed msgsnd {id}: {}", r.stdout.trim());
    let b = bare1500(&["msgsnd", &id]);
    println!("bare uid 1500 msgsnd: {}", b.stdout.trim());
    bare(&[probe().to_str().unwrap(), "msg-rm", &id]);
    expect(&r, "errno=EPERM(1)", "msgsnd to a queue created outside");
    expect(&b, "ok", "bare msgsnd as the same uid");
}

#[test]
fn sandbox_blocks_posix_mq_open_of_same_uid_queue_outside() {
    let test = "sandbox_blocks_posix_mq_open_of_same_uid_queue_outside";
    if need_root(test) {
        return;
    }
    let name = format!("openshell-test-{}", std::process::id());
    let c = bare1500(&["mq-create", &name]);
    if c.stdout.starts_with("errno=ENOSYS") {
        skip(test, "the kernel has no POSIX message queues");
        return;
    }
    expect(&c, "ok", "creating the queue outside as uid 1500");
    let p = policy(test, "");
    let r = run(&p, &["mq-open", &name]);
    println!("sandboxed mq_open {name}: {}", r.stdout.trim());
    let u = run(&p, &["mq-unlink", &name]);
    println!("sandboxed mq_unlink {name}: {}", u.stdout.trim());
    let b = bare1500(&["mq-open", &name]);
    println!("bare uid 1500 mq_open: {}", b.stdout.trim());
    bare(&[probe().to_str().unwrap(), "mq-unlink", &name]);
    expect(&r, "errno=EPERM(1)", "mq_open of a queue created outside");
    expect(&u, "errno=EPERM(1)", "mq_unlink of a queue created outside");
    expect(&b, "ok", "bare mq_open as the same uid");
}

// ---- acting on other processes ----

/// A process of uid 1500 outside the sandbox, killed on drop.
struct Target(std::process::Child);

impl Target {
    fn start() -> Target {
        let child = std::process::Command::new("setpriv")
            .args(["--reuid=1500", "--regid=1500", "--clear-groups", "--"])
            .arg(probe())
            .args(["sleep", "60"])
            .spawn()
            .expect("spawn setpriv");
        // setpriv execs the probe: wait until it runs as 1500.
        for _ in 0..200 {
            let st =
                std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
            if st.contains("Uid:\t1500") && st.contains("Name:\tprobe") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Target(child)
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `action TARGET_PID` is refused in the sandbox (uid 1500), works with only
/// `syscall`'s rule removed and bare as uid 1500; `action 0` (the caller)
/// works in the sandbox.
fn on_other_process(test: &str, action: &[&str], syscall: &str) {
    if need_root(test) {
        return;
    }
    let t = Target::start();
    let pid = t.pid();
    let with = |v: &str| {
        action
            .iter()
            .map(|a| {
                if *a == "PID" {
                    v.to_owned()
                } else {
                    (*a).to_owned()
                }
            })
            .collect::<Vec<_>>()
    };
    let refs = |v: &[String]| v.iter().map(String::as_str).collect::<Vec<_>>().join(" ");
    let other = with(&pid);
    let other: Vec<&str> = other.iter().map(String::as_str).collect();
    let own = with("0");
    let own: Vec<&str> = own.iter().map(String::as_str).collect();

    let p = policy(test, "");
    let r = run(&p, &other);
    println!(
        "sandboxed {} (uid 1500 outside): {}",
        refs(&with(&pid)),
        r.stdout.trim()
    );
    let s = run(&p, &own);
    println!(
        "sandboxed {} (itself): {}",
        refs(&with("0")),
        s.stdout.trim()
    );
    let c = run(
        &policy(
            &format!("{test}_control"),
            &format!("seccomp: {{allow: [{syscall}]}}\n"),
        ),
        &other,
    );
    println!("sandboxed without the {syscall} rule: {}", c.stdout.trim());
    let b = bare1500(&other);
    println!("bare uid 1500: {}", b.stdout.trim());
    expect(&r, "errno=EPERM(1)", "acting on a same-uid process outside");
    expect(&s, "ok", "acting on itself");
    expect(&c, "ok", "control with the rule removed");
    expect(&b, "ok", "bare as the same uid");
}

#[test]
fn sandbox_blocks_prlimit_on_same_uid_process_outside() {
    on_other_process(
        "sandbox_blocks_prlimit_on_same_uid_process_outside",
        &["prlimit", "PID"],
        "prlimit64",
    );
}

#[test]
fn sandbox_blocks_setpriority_on_same_uid_process_outside() {
    on_other_process(
        "sandbox_blocks_setpriority_on_same_uid_process_outside",
        &["setpriority", "0", "PID"],
        "setpriority",
    );
}

#[test]
fn sandbox_blocks_setpriority_prio_user() {
    let test = "sandbox_blocks_setpriority_prio_user";
    if need_root(test) {
        return;
    }
    let _t = Target::start();
    let p = policy(test, "");
    // PRIO_USER 2, who 1500: every process of uid 1500, the target too.
    let r = run(&p, &["setpriority", "2", "1500"]);
    println!(
        "sandboxed setpriority(PRIO_USER, 1500): {}",
        r.stdout.trim()
    );
    expect(&r, "errno=EPERM(1)", "setpriority(PRIO_USER)");
    let r = run(&p, &["setpriority", "2", "0"]);
    println!("sandboxed setpriority(PRIO_USER, 0): {}", r.stdout.trim());
    expect(&r, "errno=EPERM(1)", "setpriority(PRIO_USER, self)");
    // PRIO_PGRP 1, who 0: the caller's process group, which holds other
    // processes when the workload could not start its own session.
    let r = run(&p, &["setpriority", "1", "0"]);
    println!("sandboxed setpriority(PRIO_PGRP, 0): {}", r.stdout.trim());
    expect(&r, "errno=EPERM(1)", "setpriority(PRIO_PGRP, own group)");
    // On itself it may.
    let r = run(&p, &["setpriority", "0", "0"]);
    expect(&r, "ok", "setpriority(PRIO_PROCESS, self)");
    // Control: bare, in a process group of its own (setsid), it may.
    let mut a = vec!["setsid".to_string(), "-w".to_string()];
    a.extend(probe_args(&["setpriority", "1", "0"]));
    let b = common::bare_as(1577, &a.iter().map(String::as_str).collect::<Vec<_>>());
    expect(&b, "ok", "bare setpriority(PRIO_PGRP)");
    // The control changes every process of its uid, so it uses a uid no
    // concurrent test runs as (another test's uid-1500 process in the
    // middle of an identity switch would make it fail with EPERM).
    let a = probe_args(&["setpriority", "2", "1577"]);
    let b = common::bare_as(1577, &a.iter().map(String::as_str).collect::<Vec<_>>());
    println!("bare uid 1577: {}", b.stdout.trim());
    expect(&b, "ok", "bare setpriority(PRIO_USER)");
}

#[test]
fn sandbox_blocks_sched_setaffinity_on_same_uid_process_outside() {
    on_other_process(
        "sandbox_blocks_sched_setaffinity_on_same_uid_process_outside",
        &["setaffinity", "PID"],
        "sched_setaffinity",
    );
}

#[test]
fn sandbox_blocks_ioprio_set_on_same_uid_process_outside() {
    on_other_process(
        "sandbox_blocks_ioprio_set_on_same_uid_process_outside",
        &["ioprio", "PID"],
        "ioprio_set",
    );
}

/// The sandbox started unprivileged (uid 1500) in `--init` mode: the
/// supervising parent has the workload's uid.
fn sandbox_init_as_1500(pol: &std::path::Path, action: &[&str]) -> Run {
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=1500", "--regid=1500", "--clear-groups", "--"])
        .arg(common::BIN)
        .args(["--init", "--policy"])
        .arg(pol)
        .arg("--")
        .args(probe_args(action))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn setpriv");
    Run::from(out)
}

#[test]
fn sandbox_blocks_prlimit_and_affinity_on_unprivileged_init_parent() {
    let test = "sandbox_blocks_prlimit_and_affinity_on_unprivileged_init_parent";
    if need_root(test) {
        return;
    }
    for (action, syscall) in [
        ("prlimit", "prlimit64"),
        ("setaffinity", "sched_setaffinity"),
    ] {
        let p = policy(&format!("{test}_{action}"), "");
        let r = sandbox_init_as_1500(&p, &[action, "ppid"]);
        println!(
            "sandboxed {action} on the --init parent: {}",
            r.stdout.trim()
        );
        expect(&r, "errno=EPERM(1)", "acting on the init parent");
        // The parent is reachable once the rule is gone: same uid.
        let c = sandbox_init_as_1500(
            &policy(
                &format!("{test}_{action}_control"),
                &format!("seccomp: {{allow: [{syscall}]}}\n"),
            ),
            &[action, "ppid"],
        );
        println!("sandboxed without the {syscall} rule: {}", c.stdout.trim());
        expect(&c, "ok", "control with the rule removed");
    }
}
