//! Landlock escape tests: each attack runs under the sandbox and must fail
//! with the pinned errno, and the same action run without the sandbox (as
//! the workload's uid 1500, so permissions are not what stops it) must
//! succeed. The policies name `run_as_user: 1500`; scratch directories are
//! 0777 and files 0666 so the outcome is the same whether the workload runs
//! as root or as 1500 (root bypasses permission bits, never Landlock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Run, bare_as, probe, sandbox, skip};

const UID: u32 = 1500;
const PROCESS: &str = "process: {run_as_user: 1500, run_as_group: 1500}\n";

use common::{chmod, open_dir as dir, open_scratch as setup};

fn file(parent: &str, name: &str) -> String {
    let f = Path::new(parent).join(name);
    common::write_file(&f, "data\n");
    chmod(&f, 0o666);
    f.display().to_string()
}

/// A policy with the system paths, the probe, `ro`/`rw` and `extra` YAML.
fn policy(d: &Path, ro: &[&str], rw: &[&str], extra: &str) -> PathBuf {
    common::write_policy(
        d,
        &common::base_policy(ro, rw, &format!("{PROCESS}{extra}")),
    )
}

fn p() -> String {
    probe().display().to_string()
}

/// The sandboxed run failed with exactly `line`.
fn assert_denied(r: &Run, line: &str) {
    assert_eq!(r.stdout, format!("{line}\n"), "{}", r.explain());
    assert_eq!(r.code, 1, "{}", r.explain());
}

/// The run (sandboxed or the control) succeeded with exactly `line`.
fn assert_ok(r: &Run, line: &str) {
    assert_eq!(r.stdout, format!("{line}\n"), "{}", r.explain());
    assert_eq!(r.code, 0, "{}", r.explain());
}

/// The control: the same probe action, unsandboxed, as uid 1500.
fn control(args: &[&str], line: &str) {
    let pr = p();
    let mut w = vec![pr.as_str()];
    w.extend_from_slice(args);
    assert_ok(&bare_as(UID, &w), line);
}

fn run(pol: &Path, args: &[&str]) -> Run {
    let pr = p();
    let mut w = vec![pr.as_str()];
    w.extend_from_slice(args);
    sandbox(pol, &[], &w)
}

/// The sandbox under `nolandlock ERRNO`.
fn sandbox_without_landlock(errno: &str, pol: &Path, args: &[&str]) -> Run {
    let out = Command::new(common::nolandlock())
        .arg(errno)
        .arg(common::BIN)
        .arg("--policy")
        .arg(pol)
        .arg("--")
        .arg(probe())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Run::from(out)
}

/// A free loopback TCP port (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------
// Filesystem
// ---------------------------------------------------------------------------

#[test]
fn sandbox_blocks_write_to_file_in_read_only_dir() {
    let Some(d) = setup("sandbox_blocks_write_to_file_in_read_only_dir", 1) else {
        return;
    };
    let ro = dir(&d, "ro");
    let f = file(&ro, "f");
    let pol = policy(&d, &[&ro], &[], "");
    assert_denied(
        &run(&pol, &["openrw", &f]),
        &format!("errno=EACCES(13): {f}"),
    );
    control(&["openrw", &f], &format!("ok: {f}"));
}

#[test]
fn sandbox_blocks_write_outside_every_rule() {
    let Some(d) = setup("sandbox_blocks_write_outside_every_rule", 1) else {
        return;
    };
    let out = dir(&d, "out");
    let f = file(&out, "f");
    let pol = policy(&d, &[], &[], "");
    assert_denied(
        &run(&pol, &["write", &f]),
        &format!("errno=EACCES(13): {f}"),
    );
    control(&["write", &f], &format!("ok: {f}"));
}

#[test]
fn sandbox_blocks_create_file_in_read_only_dir() {
    let Some(d) = setup("sandbox_blocks_create_file_in_read_only_dir", 1) else {
        return;
    };
    let ro = dir(&d, "ro");
    let f = format!("{ro}/new");
    let pol = policy(&d, &[&ro], &[], "");
    assert_denied(
        &run(&pol, &["write", &f]),
        &format!("errno=EACCES(13): {f}"),
    );
    assert!(!Path::new(&f).exists());
    control(&["write", &f], &format!("ok: {f}"));
}

#[test]
fn sandbox_blocks_mkdir_in_read_only_dir() {
    let Some(d) = setup("sandbox_blocks_mkdir_in_read_only_dir", 1) else {
        return;
    };
    let ro = dir(&d, "ro");
    let sub = format!("{ro}/sub");
    let pol = policy(&d, &[&ro], &[], "");
    assert_denied(
        &run(&pol, &["mkdir", &sub]),
        &format!("errno=EACCES(13): {sub}"),
    );
    control(&["mkdir", &sub], &format!("ok: {sub}"));
}

#[test]
fn sandbox_blocks_unlink_in_read_only_dir() {
    let Some(d) = setup("sandbox_blocks_unlink_in_read_only_dir", 1) else {
        return;
    };
    let ro = dir(&d, "ro");
    let f = file(&ro, "f");
    let pol = policy(&d, &[&ro], &[], "");
    assert_denied(
        &run(&pol, &["unlink", &f]),
        &format!("errno=EACCES(13): {f}"),
    );
    assert!(Path::new(&f).exists());
    control(&["unlink", &f], &format!("ok: {f}"));
}

#[test]
fn sandbox_blocks_truncate_of_read_only_file() {
    let Some(d) = setup("sandbox_blocks_truncate_of_read_only_file", 3) else {
        return;
    };
    let ro = dir(&d, "ro");
    let f = file(&ro, "f");
    let pol = policy(&d, &[&ro], &[], "");
    assert_denied(
        &run(&pol, &["truncate", &f]),
        &format!("errno=EACCES(13): {f}"),
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "data\n");
    control(&["truncate", &f], &format!("ok: {f}"));
}

#[test]
fn sandbox_blocks_read_outside_every_rule() {
    let Some(d) = setup("sandbox_blocks_read_outside_every_rule", 1) else {
        return;
    };
    let secret = file(&dir(&d, "secret"), "key");
    let pol = policy(&d, &[], &[], "");
    assert_denied(
        &run(&pol, &["read", &secret]),
        &format!("errno=EACCES(13): {secret}"),
    );
    control(&["read", &secret], &format!("ok: {secret}"));
}

#[test]
fn sandbox_blocks_listing_dir_outside_every_rule() {
    let Some(d) = setup("sandbox_blocks_listing_dir_outside_every_rule", 1) else {
        return;
    };
    let secret = dir(&d, "secret");
    let pol = policy(&d, &[], &[], "");
    assert_denied(
        &run(&pol, &["ls", &secret]),
        &format!("errno=EACCES(13): {secret}"),
    );
    control(&["ls", &secret], &format!("ok: {secret}"));
}

#[test]
fn sandbox_blocks_exec_outside_every_rule() {
    let Some(d) = setup("sandbox_blocks_exec_outside_every_rule", 1) else {
        return;
    };
    let bin = format!("{}/probe-copy", dir(&d, "bin"));
    std::fs::copy(probe(), &bin).unwrap();
    chmod(Path::new(&bin), 0o755);
    let pol = policy(&d, &[], &[], "");
    assert_denied(
        &run(&pol, &["exec", &bin, "true"]),
        &format!("errno=EACCES(13): {bin}"),
    );
    // The copy itself runs: `probe true` prints nothing and exits 0.
    let c = bare_as(UID, &[&p(), "exec", &bin, "true"]);
    assert_eq!((c.code, c.stdout.as_str()), (0, ""), "{}", c.explain());
}

#[test]
fn sandbox_blocks_write_to_file_granted_read_only() {
    let Some(d) = setup("sandbox_blocks_write_to_file_granted_read_only", 1) else {
        return;
    };
    let f = file(&dir(&d, "etc"), "conf");
    let pol = policy(&d, &[&f], &[], "");
    assert_ok(&run(&pol, &["read", &f]), &format!("ok: {f}"));
    assert_denied(
        &run(&pol, &["openrw", &f]),
        &format!("errno=EACCES(13): {f}"),
    );
    control(&["openrw", &f], &format!("ok: {f}"));
}

#[test]
fn sandbox_blocks_create_beside_file_granted_read_write() {
    // A read_write rule on a file grants that file only (file rights,
    // decided by the opened fd), never its directory.
    let Some(d) = setup("sandbox_blocks_create_beside_file_granted_read_write", 1) else {
        return;
    };
    let parent = dir(&d, "data");
    let f = file(&parent, "log");
    let sibling = format!("{parent}/sibling");
    let pol = policy(&d, &[], &[&f], "");
    assert_ok(&run(&pol, &["write", &f]), &format!("ok: {f}"));
    assert_denied(
        &run(&pol, &["write", &sibling]),
        &format!("errno=EACCES(13): {sibling}"),
    );
    control(&["write", &sibling], &format!("ok: {sibling}"));
}

#[test]
fn sandbox_blocks_rename_from_read_write_into_read_only_tree() {
    let Some(d) = setup(
        "sandbox_blocks_rename_from_read_write_into_read_only_tree",
        2,
    ) else {
        return;
    };
    let rw = dir(&d, "rw");
    let ro = dir(&d, "ro");
    let f = file(&rw, "f");
    let dst = format!("{ro}/f");
    let pol = policy(&d, &[&ro], &[&rw], "");
    assert_denied(
        &run(&pol, &["rename", &f, &dst]),
        &format!("errno=EACCES(13): {dst}"),
    );
    assert!(Path::new(&f).exists());
    control(&["rename", &f, &dst], &format!("ok: {dst}"));
}

#[test]
fn sandbox_blocks_link_from_read_write_into_unlisted_tree() {
    let Some(d) = setup("sandbox_blocks_link_from_read_write_into_unlisted_tree", 2) else {
        return;
    };
    let rw = dir(&d, "rw");
    let out = dir(&d, "out");
    let f = file(&rw, "f");
    let dst = format!("{out}/f");
    let pol = policy(&d, &[], &[&rw], "");
    assert_denied(
        &run(&pol, &["link", &f, &dst]),
        &format!("errno=EACCES(13): {dst}"),
    );
    control(&["link", &f, &dst], &format!("ok: {dst}"));
}

#[test]
fn sandbox_blocks_rename_of_read_only_file_into_read_write() {
    // Pulling a file out of a read-only tree into a writable one would
    // give the workload write access to it.
    let Some(d) = setup("sandbox_blocks_rename_of_read_only_file_into_read_write", 2) else {
        return;
    };
    let rw = dir(&d, "rw");
    let ro = dir(&d, "ro");
    let f = file(&ro, "f");
    let dst = format!("{rw}/f");
    let pol = policy(&d, &[&ro], &[&rw], "");
    assert_denied(
        &run(&pol, &["rename", &f, &dst]),
        &format!("errno=EACCES(13): {dst}"),
    );
    control(&["rename", &f, &dst], &format!("ok: {dst}"));
}

#[test]
fn sandbox_blocks_symlink_in_read_write_to_denied_file() {
    let Some(d) = setup("sandbox_blocks_symlink_in_read_write_to_denied_file", 1) else {
        return;
    };
    let rw = dir(&d, "rw");
    let secret = file(&dir(&d, "secret"), "key");
    let link = format!("{rw}/link");
    let pol = policy(&d, &[], &[&rw], "");
    // Making the link is allowed; following it is not.
    assert_ok(
        &run(&pol, &["symlink", &secret, &link]),
        &format!("ok: {link}"),
    );
    assert_denied(
        &run(&pol, &["read", &link]),
        &format!("errno=EACCES(13): {link}"),
    );
    control(&["read", &link], &format!("ok: {link}"));
}

#[test]
fn sandbox_blocks_proc_self_root_traversal_to_denied_file() {
    let Some(d) = setup("sandbox_blocks_proc_self_root_traversal_to_denied_file", 1) else {
        return;
    };
    let secret = file(&dir(&d, "secret"), "key");
    let via_proc = format!("/proc/self/root{secret}");
    let pol = policy(&d, &[], &[], "");
    assert_denied(
        &run(&pol, &["read", &via_proc]),
        &format!("errno=EACCES(13): {via_proc}"),
    );
    control(&["read", &via_proc], &format!("ok: {via_proc}"));
}

fn memfd_noexec() -> Option<u8> {
    std::fs::read_to_string("/proc/sys/vm/memfd_noexec")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Landlock does not check memfd inodes (they live on the kernel's internal
/// shm mount), so exec of a memfd via /proc/self/fd/N is refused only when
/// memfds are non-executable (vm.memfd_noexec=2). The plan must say which
/// case this host is in, and the behaviour must match what it says.
#[test]
fn sandbox_reports_memfd_exec_exactly_as_this_host_enforces_it() {
    let t = "sandbox_reports_memfd_exec_exactly_as_this_host_enforces_it";
    let Some(d) = setup(t, 1) else { return };
    let pol = policy(&d, &[], &[], "");
    // memfd_create itself stays allowed (V8, Wasmtime, CUDA need it).
    assert_ok(&run(&pol, &["memfd"]), "ok: memfd_create");
    let plan = Run::from(
        std::process::Command::new(common::BIN)
            .args(["plan", "--format", "json", "--policy"])
            .arg(&pol)
            .output()
            .unwrap(),
    );
    let v: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let limits = v["host_limits"].to_string();
    let r = run(&pol, &["memfd-exec"]);
    if memfd_noexec() == Some(2) {
        assert!(!limits.contains("memfd"), "{limits}");
        assert!(
            r.stdout.starts_with("errno=EACCES(13): /proc/self/fd/"),
            "{}",
            r.explain()
        );
    } else {
        assert!(
            limits.contains("exec of memfd files through /proc/self/fd is possible"),
            "{limits}"
        );
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, ""),
            "plan and behaviour disagree\n{}",
            r.explain()
        );
    }
}

/// The documented mitigation works: in a pid namespace with
/// vm.memfd_noexec=2 the same exec is refused while memfd_create works;
/// the control (this namespace, unsandboxed) execs the memfd.
#[test]
fn sandbox_blocks_memfd_exec_when_the_node_sets_memfd_noexec() {
    let t = "sandbox_blocks_memfd_exec_when_the_node_sets_memfd_noexec";
    let Some(d) = setup(t, 1) else { return };
    if memfd_noexec().is_none() && skip(t, "the kernel has no vm.memfd_noexec (Linux < 6.6)") {
        return;
    }
    let pol = policy(&d, &[], &[], "");
    let c = bare_as(UID, &[&p(), "memfd-exec"]);
    if memfd_noexec() != Some(2) {
        assert_eq!(
            (c.code, c.stdout.as_str()),
            (0, ""),
            "control\n{}",
            c.explain()
        );
    }
    let script = format!(
        "echo 2 > /proc/sys/vm/memfd_noexec && exec {} --exec --policy {} -- {} ",
        common::BIN,
        pol.display(),
        p()
    );
    let out = |action: &str| {
        Run::from(
            std::process::Command::new("unshare")
                .args(["--pid", "--fork", "--mount-proc", "sh", "-c"])
                .arg(format!("{script}{action}"))
                .output()
                .unwrap(),
        )
    };
    let r = out("memfd-exec");
    assert!(
        r.stdout.starts_with("errno=EACCES(13): /proc/self/fd/"),
        "{}",
        r.explain()
    );
    assert_ok(&out("memfd"), "ok: memfd_create");
}

// ---------------------------------------------------------------------------
// Devices (ioctl, ABI 5)
// ---------------------------------------------------------------------------

/// A device where FIONREAD succeeds unsandboxed: a pseudo-terminal master.
const PTMX: &str = "/dev/ptmx";

fn have_ptmx(test: &str) -> bool {
    let ok = bare_as(UID, &[&p(), "ioctl", PTMX]).code == 0;
    ok || skip(test, "FIONREAD on /dev/ptmx fails even without the sandbox")
}

#[test]
fn sandbox_blocks_ioctl_on_device_granted_read_only() {
    let t = "sandbox_blocks_ioctl_on_device_granted_read_only";
    let Some(d) = setup(t, 5) else { return };
    if !have_ptmx(t) {
        return;
    }
    let pol = policy(&d, &[PTMX], &[], "");
    assert_ok(&run(&pol, &["read", "/etc/hostname"]), "ok: /etc/hostname");
    assert_denied(
        &run(&pol, &["ioctl", PTMX]),
        &format!("errno=EACCES(13): {PTMX}"),
    );
    control(&["ioctl", PTMX], &format!("ok: {PTMX}"));
}

#[test]
fn sandbox_allows_ioctl_on_device_granted_read_write() {
    let t = "sandbox_allows_ioctl_on_device_granted_read_write";
    let Some(d) = setup(t, 5) else { return };
    if !have_ptmx(t) {
        return;
    }
    let pol = policy(&d, &[], &[PTMX], "");
    assert_ok(&run(&pol, &["ioctl", PTMX]), &format!("ok: {PTMX}"));
}

// ---------------------------------------------------------------------------
// TCP (ABI 4)
// ---------------------------------------------------------------------------

#[test]
fn sandbox_blocks_tcp_connect_to_unlisted_port() {
    let Some(d) = setup("sandbox_blocks_tcp_connect_to_unlisted_port", 4) else {
        return;
    };
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pa, po) = (
        allowed.local_addr().unwrap().port().to_string(),
        other.local_addr().unwrap().port().to_string(),
    );
    let pol = policy(&d, &[], &[], &format!("network: {{connect_tcp: [{pa}]}}\n"));
    assert_ok(&run(&pol, &["connect", &pa]), &format!("ok: {pa}"));
    assert_denied(
        &run(&pol, &["connect", &po]),
        &format!("errno=EACCES(13): {po}"),
    );
    control(&["connect", &po], &format!("ok: {po}"));
}

#[test]
fn sandbox_blocks_tcp_connect_to_port_granted_for_bind_only() {
    let Some(d) = setup(
        "sandbox_blocks_tcp_connect_to_port_granted_for_bind_only",
        4,
    ) else {
        return;
    };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let pol = policy(&d, &[], &[], &format!("network: {{bind_tcp: [{port}]}}\n"));
    assert_denied(
        &run(&pol, &["connect", &port]),
        &format!("errno=EACCES(13): {port}"),
    );
    control(&["connect", &port], &format!("ok: {port}"));
}

#[test]
fn sandbox_blocks_tcp_bind_to_unlisted_port() {
    let Some(d) = setup("sandbox_blocks_tcp_bind_to_unlisted_port", 4) else {
        return;
    };
    let allowed = free_port().to_string();
    let other = free_port().to_string();
    let pol = policy(
        &d,
        &[],
        &[],
        &format!("network: {{bind_tcp: [{allowed}]}}\n"),
    );
    assert_ok(&run(&pol, &["bind", &allowed]), &format!("ok: {allowed}"));
    assert_denied(
        &run(&pol, &["bind", &other]),
        &format!("errno=EACCES(13): {other}"),
    );
    control(&["bind", &other], &format!("ok: {other}"));
}

// ---------------------------------------------------------------------------
// IPC scopes (ABI 6)
// ---------------------------------------------------------------------------

fn abstract_listener(tag: &str) -> (std::os::unix::net::UnixListener, String) {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("openshell-test-{tag}-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    (
        std::os::unix::net::UnixListener::bind_addr(&addr).unwrap(),
        name,
    )
}

#[test]
fn sandbox_blocks_abstract_unix_connect_outside_domain() {
    let Some(d) = setup("sandbox_blocks_abstract_unix_connect_outside_domain", 6) else {
        return;
    };
    let (_l, name) = abstract_listener("scope");
    let pol = policy(&d, &[], &[], "");
    assert_denied(
        &run(&pol, &["abstract", &name]),
        &format!("errno=EPERM(1): {name}"),
    );
    control(&["abstract", &name], &format!("ok: {name}"));
}

#[test]
fn sandbox_allows_abstract_unix_connect_when_scope_turned_off() {
    let Some(d) = setup(
        "sandbox_allows_abstract_unix_connect_when_scope_turned_off",
        6,
    ) else {
        return;
    };
    let (_l, name) = abstract_listener("noscope");
    let pol = policy(
        &d,
        &[],
        &[],
        "landlock: {scopes: {abstract_unix_socket: false}}\n",
    );
    assert_ok(&run(&pol, &["abstract", &name]), &format!("ok: {name}"));
}

#[test]
fn sandbox_blocks_kill_of_process_outside_domain() {
    let Some(d) = setup("sandbox_blocks_kill_of_process_outside_domain", 6) else {
        return;
    };
    // A process of the workload's own uid, so only Landlock can refuse.
    let mut victim = Command::new("setpriv")
        .args([
            "--reuid=1500",
            "--regid=1500",
            "--clear-groups",
            "--",
            "sleep",
            "30",
        ])
        .spawn()
        .unwrap();
    let pid = victim.id().to_string();
    let pol = policy(&d, &[], &[], "");
    let r = run(&pol, &["kill", &pid, "15"]);
    let c = bare_as(UID, &[&p(), "kill", &pid, "0"]);
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert_denied(&r, &format!("errno=EPERM(1): {pid}"));
    assert_ok(&c, &format!("ok: {pid}"));
}

// ---------------------------------------------------------------------------
// Named unix sockets (ABI 9)
// ---------------------------------------------------------------------------

#[test]
fn sandbox_blocks_unix_socket_connect_in_read_only_dir() {
    let Some(d) = setup("sandbox_blocks_unix_socket_connect_in_read_only_dir", 9) else {
        return;
    };
    let run_dir = dir(&d, "run");
    let sock = format!("{run_dir}/daemon.sock");
    let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    chmod(Path::new(&sock), 0o777);
    let pol = policy(&d, &[&run_dir], &[], "");
    assert_denied(
        &run(&pol, &["unix", &sock]),
        &format!("errno=EACCES(13): {sock}"),
    );
    control(&["unix", &sock], &format!("ok: {sock}"));
}

/// Below ABI 9 Landlock cannot confine connect(2) to a pathname socket. The
/// plan and the log must say so, and the behaviour must match what they
/// say: refused where enforced, reachable (the documented gap) where not.
#[test]
fn sandbox_reports_pathname_unix_socket_connect_exactly_as_enforced() {
    let t = "sandbox_reports_pathname_unix_socket_connect_exactly_as_enforced";
    let Some(d) = setup(t, 1) else {
        return;
    };
    // sun_path is short: the socket lives in a short directory of its own.
    let run_dir = format!("/tmp/ossb-unix-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir(&run_dir).unwrap();
    chmod(Path::new(&run_dir), 0o777);
    let sock = format!("{run_dir}/daemon.sock");
    let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    chmod(Path::new(&sock), 0o777);
    let pol = policy(&d, &[], &[], "");
    let r = run(&pol, &["unix", &sock]);
    let plan = plan_json(&pol);
    let enforced = plan["filesystem"]["enforced"]["unix_sockets"]
        .as_bool()
        .unwrap();
    assert_eq!(enforced, common::landlock_abi() >= 9);
    if enforced {
        assert_denied(&r, &format!("errno=EACCES(13): {sock}"));
    } else {
        assert_ok(&r, &format!("ok: {sock}"));
        let line = format!(
            "not enforced: connect control on pathname unix sockets (needs Landlock ABI 9, the kernel provides ABI {}); the workload can connect to any pathname unix socket its file modes allow",
            common::landlock_abi()
        );
        assert!(
            r.stderr
                .contains(&format!("openshell-sandbox: warning: {line}\n")),
            "{}",
            r.explain()
        );
        assert!(
            plan["dropped"].as_array().unwrap().iter().any(|d| format!(
                "{}: {}",
                d["object"].as_str().unwrap(),
                d["cause"].as_str().unwrap()
            ) == *line),
            "{plan}"
        );
    }
    control(&["unix", &sock], &format!("ok: {sock}"));
    std::fs::remove_dir_all(&run_dir).unwrap();
}

/// Under hard_requirement a kernel that cannot confine pathname sockets
/// stops the launch, unless the policy accepts the gap in so many words.
#[test]
fn sandbox_refuses_unconfined_unix_sockets_under_hard_requirement() {
    let t = "sandbox_refuses_unconfined_unix_sockets_under_hard_requirement";
    let Some(d) = setup(t, 1) else {
        return;
    };
    let abi = common::landlock_abi();
    let strict = policy(
        &d,
        &[],
        &[],
        "landlock: {compatibility: hard_requirement}\n",
    );
    let r = run(&strict, &["true"]);
    if abi >= 9 {
        assert_eq!(r.code, 0, "{}", r.explain());
        return;
    }
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.ends_with(&format!(
            "openshell-sandbox: landlock: the policy requires connect control on pathname unix sockets (ABI 9) but the kernel provides ABI {abi}\nhint: run on Linux >= 7.1, or set landlock.require.unix_sockets: false to accept that unix sockets are reachable wherever file modes allow, or network.unix_sockets: false to refuse them\n"
        )),
        "{}",
        r.explain()
    );
    let accepted = policy(
        &d,
        &[],
        &[],
        "landlock: {compatibility: hard_requirement, require: {unix_sockets: false}}\n",
    );
    let r = run(&accepted, &["true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    // Refusing AF_UNIX sockets altogether closes the gap instead.
    let no_unix = policy(
        &d,
        &[],
        &[],
        "landlock: {compatibility: hard_requirement}\nnetwork: {unix_sockets: false}\n",
    );
    let r = run(&no_unix, &["unix", "/run/any.sock"]);
    assert_denied(&r, "errno=EPERM(1): socket(AF_UNIX)");
}

fn plan_json(pol: &Path) -> serde_json::Value {
    let out = Command::new(common::BIN)
        .args(["plan", "--format", "json", "--policy"])
        .arg(pol)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

// ---------------------------------------------------------------------------
// Compatibility: missing paths, no Landlock, full enforcement
// ---------------------------------------------------------------------------

#[test]
fn sandbox_skips_missing_path_under_best_effort_with_warning() {
    let Some(d) = setup(
        "sandbox_skips_missing_path_under_best_effort_with_warning",
        1,
    ) else {
        return;
    };
    let missing = format!("{}/missing", d.display());
    let pol = policy(&d, &[], &[&missing], "");
    let r = run(&pol, &["read", "/etc/hostname"]);
    assert_ok(&r, "ok: /etc/hostname");
    assert!(
        r.stderr.contains(&format!(
            "openshell-sandbox: warning: filesystem rule for {missing} skipped: does not exist\n"
        )),
        "{}",
        r.explain()
    );
    // Skipping the rule grants nothing: the path stays denied if it appears.
    assert_denied(
        &run(&pol, &["write", &missing]),
        &format!("errno=EACCES(13): {missing}"),
    );
    control(&["write", &missing], &format!("ok: {missing}"));
}

#[test]
fn sandbox_refuses_missing_path_under_hard_requirement() {
    let Some(d) = setup("sandbox_refuses_missing_path_under_hard_requirement", 1) else {
        return;
    };
    let missing = format!("{}/missing", d.display());
    let pol = policy(
        &d,
        &[],
        &[&missing],
        "landlock: {compatibility: hard_requirement}\n",
    );
    let r = run(&pol, &["true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.ends_with(&format!(
            "openshell-sandbox: landlock: {missing}: does not exist (landlock.compatibility is hard_requirement)\n"
        )),
        "{}",
        r.explain()
    );
}

#[test]
fn sandbox_refuses_to_run_without_landlock_under_hard_requirement() {
    let Some(d) = setup(
        "sandbox_refuses_to_run_without_landlock_under_hard_requirement",
        1,
    ) else {
        return;
    };
    let pol = policy(
        &d,
        &[],
        &[],
        // Unix-socket control (ABI 9) is waived so that the control below
        // can run on any kernel with Landlock.
        "landlock: {compatibility: hard_requirement, require: {unix_sockets: false}}\n",
    );
    let r = sandbox_without_landlock("38", &pol, &["true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.ends_with(
            "openshell-sandbox: landlock: filesystem isolation required but the kernel provides no Landlock (ENOSYS)\n\
             hint: run on a kernel built with Landlock (Linux >= 5.13, CONFIG_SECURITY_LANDLOCK=y), or set landlock.compatibility: best_effort to run without it\n"
        ),
        "{}",
        r.explain()
    );
    // Control: with Landlock available the same policy runs.
    assert_eq!(run(&pol, &["true"]).code, 0);
}

#[test]
fn sandbox_refuses_to_run_when_landlock_blocked_and_filesystem_required() {
    let t = "sandbox_refuses_to_run_when_landlock_blocked_and_filesystem_required";
    let Some(d) = setup(t, 1) else { return };
    // best_effort overall, but filesystem isolation demanded explicitly.
    let pol = policy(&d, &[], &[], "landlock: {require: {filesystem: true}}\n");
    let r = sandbox_without_landlock("1", &pol, &["true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.ends_with(
            "openshell-sandbox: landlock: filesystem isolation required but the kernel provides no Landlock: blocked, e.g. by a seccomp profile (EPERM)\n\
             hint: allow landlock_create_ruleset, landlock_add_rule and landlock_restrict_self in the container's seccomp profile, or set landlock.require.filesystem: false to run without it\n"
        ),
        "{}",
        r.explain()
    );
    assert_eq!(run(&pol, &["true"]).code, 0);
}

#[test]
fn sandbox_says_filesystem_not_enforced_without_landlock_under_best_effort() {
    let t = "sandbox_says_filesystem_not_enforced_without_landlock_under_best_effort";
    let Some(d) = setup(t, 1) else { return };
    let secret = file(&dir(&d, "secret"), "key");
    let pol = policy(&d, &[], &[], "");
    // With Landlock the read is denied...
    assert_denied(
        &run(&pol, &["read", &secret]),
        &format!("errno=EACCES(13): {secret}"),
    );
    // ...without it the workload runs, and the log says so in words.
    let r = sandbox_without_landlock("38", &pol, &["read", &secret]);
    assert_ok(&r, &format!("ok: {secret}"));
    assert!(
        r.stderr.contains(
            "openshell-sandbox: warning: filesystem not enforced: the kernel provides no Landlock (ENOSYS); no Landlock filesystem, TCP or IPC-scope rule applies\n"
        ),
        "{}",
        r.explain()
    );
    assert!(
        !r.stderr.contains("landlock: fully enforced"),
        "{}",
        r.explain()
    );
}

#[test]
fn sandbox_enforces_every_feature_under_hard_requirement() {
    let Some(d) = setup("sandbox_enforces_every_feature_under_hard_requirement", 1) else {
        return;
    };
    let abi = common::landlock_abi().min(10);
    let rw = dir(&d, "rw");
    let port = free_port();
    // Below ABI 9 pathname unix sockets cannot be confined: the policy
    // must say it accepts that (see the unix-socket tests below).
    let unix = if abi >= 9 {
        ""
    } else {
        ", require: {unix_sockets: false}"
    };
    let pol = policy(
        &d,
        &[],
        &[&rw],
        &format!(
            "landlock: {{compatibility: hard_requirement{unix}}}\nnetwork: {{connect_tcp: [{port}]}}\n"
        ),
    );
    let r = run(&pol, &["true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    // base_policy: 6 read-only paths (+ /lib64), /dev/null, and `rw`.
    let rules = 8 + usize::from(Path::new("/lib64").exists());
    let mut want = format!(
        "openshell-sandbox: info: landlock: fully enforced (ABI {abi}): {rules} path rules, "
    );
    want.push_str(if abi >= 4 {
        "1 TCP port rule"
    } else {
        "0 TCP port rules"
    });
    if abi >= 6 {
        want.push_str(", scoped: abstract_unix_socket, signal");
    }
    if abi >= 7 {
        want.push_str(", denials logged");
    }
    want.push('\n');
    assert!(r.stderr.contains(&want), "want {want:?}\n{}", r.explain());
}

/// A policy like [`policy`] with `filesystem_policy.execute` set to the
/// system directories and the probe's own directory.
fn wx_policy(d: &Path, rw: &[&str]) -> PathBuf {
    let probe_dir = probe().parent().unwrap().display().to_string();
    let mut exec = vec!["/usr", "/bin", "/lib", probe_dir.as_str()];
    if Path::new("/lib64").exists() {
        exec.push("/lib64");
    }
    let base = common::base_policy(&[], rw, PROCESS);
    let (fs, rest) = base.split_once("process:").unwrap();
    let text = format!("{fs}  execute: [{}]\nprocess:{rest}", exec.join(", "));
    common::write_policy(d, &text)
}

#[test]
fn sandbox_blocks_exec_of_binary_dropped_in_writable_dir() {
    let Some(d) = setup("sandbox_blocks_exec_of_binary_dropped_in_writable_dir", 1) else {
        return;
    };
    let drop = dir(&d, "drop");
    let bin = format!("{drop}/probe-copy");
    std::fs::copy(probe(), &bin).unwrap();
    chmod(Path::new(&bin), 0o755);
    let pol = wx_policy(&d, &[&drop]);
    // The directory is writable under the sandbox: the drop itself works.
    assert_ok(
        &run(&pol, &["write", &format!("{drop}/new")]),
        &format!("ok: {drop}/new"),
    );
    // W^X: what lies there cannot be run.
    assert_denied(
        &run(&pol, &["exec", &bin, "true"]),
        &format!("errno=EACCES(13): {bin}"),
    );
    // Control: the same uid runs the copy unsandboxed ...
    let c = bare_as(UID, &[&p(), "exec", &bin, "true"]);
    assert_eq!((c.code, c.stdout.as_str()), (0, ""), "{}", c.explain());
    // ... and under a policy without `execute`, read_write grants execute
    // as in OpenShell.
    let open = policy(&d, &[], &[&drop], "");
    let r = run(&open, &["exec", &bin, "true"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.explain());
    // The workload's interpreters, beneath the execute paths, still run.
    let sh = run(&pol, &["exec", "/bin/sh", "-c", "echo sh-ran"]);
    assert_eq!(
        (sh.code, sh.stdout.as_str()),
        (0, "sh-ran\n"),
        "{}",
        sh.explain()
    );
}
