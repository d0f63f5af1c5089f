//! Environment, file descriptors, session, rlimits, workdir, and the
//! process model (exec and PID-1 init), end to end with controls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const AS_1500: &str = "process: {run_as_user: 1500, run_as_group: 1500}\n";

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn policy(test: &str, extra: &str) -> std::path::PathBuf {
    let d = scratch(test);
    write_policy(&d, &base_policy(&[], &[], &format!("{AS_1500}{extra}")))
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

// ---- environment ----

fn with_secrets(cmd: &mut Command) -> &mut Command {
    cmd.env("SECRET_TOKEN", "s3cret")
        .env("LD_PRELOAD", "/nonexistent/preload.so")
}

#[test]
fn sandbox_blocks_supervisor_secrets_from_the_workload_env() {
    if need_root("sandbox_blocks_supervisor_secrets_from_the_workload_env") {
        return;
    }
    let pol = policy("pm_env", "");
    let probe = p(&probe());
    let mut c = Command::new(BIN);
    c.arg("--policy").arg(&pol).args(["--", &probe, "env"]);
    let r = Run::from(with_secrets(&mut c).stdin(Stdio::null()).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.explain());
    let env: Vec<&str> = r.stdout.lines().collect();
    assert!(!r.stdout.contains("SECRET_TOKEN"), "{}", r.explain());
    assert!(!r.stdout.contains("LD_PRELOAD"), "{}", r.explain());
    for v in ["OPENSHELL_SANDBOX=1", "HOME=/", "USER=1500", "LOGNAME=1500"] {
        assert!(env.contains(&v), "{v} missing: {}", r.explain());
    }
    // Control: run bare, the probe sees both.
    let mut c = Command::new(&probe);
    c.arg("env");
    let c = Run::from(with_secrets(&mut c).output().unwrap());
    assert!(
        c.stdout.contains("SECRET_TOKEN=s3cret\n"),
        "{}",
        c.explain()
    );
    assert!(
        c.stdout.contains("LD_PRELOAD=/nonexistent/preload.so\n"),
        "{}",
        c.explain()
    );
    // environment.pass lets exactly the named one through.
    let pol = policy("pm_env_pass", "environment: {pass: [SECRET_TOKEN]}\n");
    let mut c = Command::new(BIN);
    c.arg("--policy").arg(&pol).args(["--", &probe, "env"]);
    let r = Run::from(with_secrets(&mut c).stdin(Stdio::null()).output().unwrap());
    assert!(
        r.stdout.contains("SECRET_TOKEN=s3cret\n"),
        "{}",
        r.explain()
    );
    assert!(!r.stdout.contains("LD_PRELOAD"), "{}", r.explain());
}

// ---- file descriptors ----

/// Spawn `cmd` with fd 7 open (not close-on-exec), as a careless parent
/// would leave it.
#[allow(unsafe_code)]
fn with_fd7(cmd: &mut Command) -> Run {
    let f = std::fs::File::open("/proc/self/exe").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    // SAFETY: dup2 is async-signal-safe; `fd` stays open in the parent
    // until the child has exec'd (`f` lives past output()).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let r = Run::from(cmd.stdin(Stdio::null()).output().unwrap());
    drop(f);
    r
}

#[test]
fn sandbox_blocks_leaked_fds_unless_preserved() {
    if need_root("sandbox_blocks_leaked_fds_unless_preserved") {
        return;
    }
    let pol = policy("pm_fds", "");
    let probe = p(&probe());
    // The launch holds its policy paths open until exec (close-on-exec),
    // in exec mode and in the PID-1 child alike: none reaches the workload.
    for mode in ["--exec", "--init"] {
        let r = with_fd7(
            Command::new(BIN)
                .arg("--policy")
                .arg(&pol)
                .args([mode, "--", &probe, "fds"]),
        );
        assert_eq!(r.stdout, "0\n1\n2\n", "{mode}: {}", r.explain());
    }
    let r = with_fd7(Command::new(BIN).arg("--policy").arg(&pol).args([
        "--preserve-fd",
        "7",
        "--",
        &probe,
        "fds",
    ]));
    assert_eq!(r.stdout, "0\n1\n2\n7\n", "{}", r.explain());
    // Control: the bare probe inherits fd 7.
    let c = with_fd7(Command::new(&probe).arg("fds"));
    assert!(c.stdout.lines().any(|l| l == "7"), "{}", c.explain());
}

#[test]
fn preserving_a_closed_fd_fails_closed() {
    if need_root("preserving_a_closed_fd_fails_closed") {
        return;
    }
    let pol = policy("pm_fds_closed", "");
    let probe = p(&probe());
    let r = sandbox(&pol, &["--preserve-fd", "9"], &[&probe, "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr
            .ends_with("openshell-sandbox: fds: fd 9 to keep is not open (EBADF)\n"),
        "{}",
        r.explain()
    );
}

/// `sh -c` line that opens fds 3 and 4 and execs the sandbox with
/// LISTEN_PID=`listen_pid` (`$$` = the sandbox's own pid) and LISTEN_FDS=1.
fn socket_activated(pol: &Path, listen_pid: &str, action: &str) -> Run {
    socket_activated_with(pol, "3</dev/null 4</dev/null", listen_pid, action)
}

/// [`socket_activated`] with the shell's `exec` redirections `opens`.
fn socket_activated_with(pol: &Path, opens: &str, listen_pid: &str, action: &str) -> Run {
    let script = format!(
        "exec {opens}; export LISTEN_PID={listen_pid} LISTEN_FDS=1 LISTEN_FDNAMES=web; exec {BIN} --policy {} -- {} {action}",
        pol.display(),
        probe().display()
    );
    Run::from(
        Command::new("/bin/sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

#[test]
fn socket_activation_fds_reach_the_workload() {
    if need_root("socket_activation_fds_reach_the_workload") {
        return;
    }
    let pol = policy("pm_listen", "");
    let r = socket_activated(&pol, "$$", "fds");
    assert_eq!(r.stdout, "0\n1\n2\n3\n", "{}", r.explain());
    let r = socket_activated(&pol, "$$", "env");
    let env: Vec<&str> = r.stdout.lines().collect();
    assert!(env.contains(&"LISTEN_FDS=1"), "{}", r.explain());
    assert!(env.contains(&"LISTEN_FDNAMES=web"), "{}", r.explain());
    // Exec mode: the workload keeps the sandbox's pid, which $$ was.
    let pid_line = env.iter().find(|l| l.starts_with("LISTEN_PID=")).unwrap();
    assert!(pid_line.len() > "LISTEN_PID=".len(), "{}", r.explain());
    // Control: LISTEN_PID naming another process hands nothing on.
    let c = socket_activated(&pol, "1", "fds");
    assert_eq!(c.stdout, "0\n1\n2\n", "{}", c.explain());
    let c = socket_activated(&pol, "1", "env");
    assert!(!c.stdout.contains("LISTEN_"), "{}", c.explain());
}

#[test]
fn socket_activation_refuses_files_directories_and_block_devices() {
    if need_root("socket_activation_refuses_files_directories_and_block_devices") {
        return;
    }
    // A descriptor the starter had open on a file (as root, say) would
    // reach the workload past Landlock with the starter's rights.
    let pol = policy("pm_listen_kinds", "");
    let d = scratch("pm_listen_kinds_files");
    let secret = d.join("secret");
    std::fs::write(&secret, "root only\n").unwrap();
    for (open, what) in [
        (format!("3<{}", secret.display()), "a regular file"),
        (format!("3<{}", d.display()), "a directory"),
    ] {
        let r = socket_activated_with(&pol, &open, "$$", "fds");
        assert_eq!(r.code, 125, "{what}\n{}", r.explain());
        assert!(
            r.stderr.contains(&format!(
                "openshell-sandbox: LISTEN_FDS: descriptor 3 is {what}, which socket activation does not pass"
            )),
            "{what}\n{}",
            r.explain()
        );
        assert_eq!(r.stdout, "", "nothing ran\n{}", r.explain());
    }
    // Control: a character device (and, in the test above, a socket's
    // stand-in) passes.
    let r = socket_activated(&pol, "$$", "fds");
    assert_eq!(r.stdout, "0\n1\n2\n3\n", "{}", r.explain());
}

// ---- session, rlimits, workdir ----

/// `(pid, session, tty_nr)` of a shell, read from its /proc/self/stat.
fn session_of(out: &str) -> (String, String, String) {
    let after = &out[out.rfind(')').unwrap() + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (
        out.split_whitespace().next().unwrap().to_string(),
        f[3].to_string(),
        f[4].to_string(),
    )
}

#[test]
fn workload_runs_in_a_new_session_without_a_terminal() {
    if need_root("workload_runs_in_a_new_session_without_a_terminal") {
        return;
    }
    let pol = policy("pm_session", "");
    let line = "read -r s < /proc/self/stat; echo \"$s\"";
    let r = sandbox(&pol, &[], &["/bin/sh", "-c", line]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let (pid, sid, tty) = session_of(&r.stdout);
    assert_eq!(
        (sid.as_str(), tty.as_str()),
        (pid.as_str(), "0"),
        "{}",
        r.explain()
    );
    // Control: bare, the shell stays in the test's session.
    let c = bare(&["/bin/sh", "-c", line]);
    let (pid, sid, _) = session_of(&c.stdout);
    assert_ne!(sid, pid, "{}", c.explain());
}

#[test]
fn rlimits_from_the_policy_apply() {
    if need_root("rlimits_from_the_policy_apply") {
        return;
    }
    let d = scratch("pm_rlimits");
    let pol = write_policy(
        &d,
        &base_policy(
            &[],
            &[],
            "process: {run_as_user: 1500, run_as_group: 1500, rlimits: {nofile: {soft: 64, hard: 128}}}\n",
        ),
    );
    let line = "ulimit -Sn; ulimit -Hn";
    let r = sandbox(&pol, &[], &["/bin/sh", "-c", line]);
    assert_eq!(r.stdout, "64\n128\n", "{}", r.explain());
    let c = bare(&["/bin/sh", "-c", line]);
    assert_ne!(c.stdout, "64\n128\n", "{}", c.explain());
}

#[test]
fn a_low_nofile_limits_the_workload_not_the_launch() {
    if need_root("a_low_nofile_limits_the_workload_not_the_launch") {
        return;
    }
    // The read-back and report handles are opened before the rlimits are
    // set: with 4 descriptors, 0-2 and the read-back's would not fit
    // after them (the launch stopped with "no file descriptors").
    let d = scratch("pm_low_nofile");
    let pol = write_policy(
        &d,
        &base_policy(
            &[],
            &[],
            "process: {run_as_user: 1500, run_as_group: 1500, rlimits: {nofile: {soft: 4, hard: 4}}}\n",
        ),
    );
    let report = d.join("report.json");
    let line = "ulimit -Sn; ulimit -Hn";
    let r = sandbox(&pol, &["--report", &p(&report)], &["/bin/sh", "-c", line]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "4\n4\n"),
        "{}",
        r.explain()
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        v["readback"]["uid"],
        serde_json::json!([1500, 1500, 1500, 1500])
    );
    // Control: the workload's own limit is 4 (not the supervisor's).
    let c = bare(&["/bin/sh", "-c", line]);
    assert_ne!(c.stdout, "4\n4\n", "{}", c.explain());
}

#[test]
fn workdir_is_entered_as_the_workload_user() {
    if need_root("workdir_is_entered_as_the_workload_user") {
        return;
    }
    let d = scratch("pm_workdir");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let r = sandbox(&pol, &["--workdir", &p(&d)], &["/bin/sh", "-c", "pwd"]);
    assert_eq!(r.stdout, format!("{}\n", d.display()), "{}", r.explain());
    // A directory only root may enter: root could, the workload cannot.
    let private = d.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let r = sandbox(
        &pol,
        &["--workdir", &p(&private)],
        &["/bin/sh", "-c", "pwd"],
    );
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.ends_with(&format!(
            "openshell-sandbox: workdir {}: permission denied\n",
            private.display()
        )),
        "{}",
        r.explain()
    );
    let c = bare(&["/bin/sh", "-c", &format!("cd {} && pwd", private.display())]);
    assert_eq!(c.code, 0, "{}", c.explain());
}

// ---- init mode ----

/// Start the sandbox as PID 1 of a new pid namespace.
fn spawn_pid1(pol: &Path, args: &[&str], workload: &[&str]) -> Child {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", BIN, "--policy"])
        .arg(pol)
        .args(args)
        .arg("--")
        .args(workload)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare")
}

/// The sandbox's pid outside the namespace: unshare's only child.
fn outer_pid(unshare: &Child) -> i32 {
    let f = format!("/proc/{0}/task/{0}/children", unshare.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "unshare started no child");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[allow(unsafe_code)]
fn kill(pid: i32, sig: i32) {
    // SAFETY: kill takes integers only.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

fn status_field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn need_unshare(test: &str) -> bool {
    need_root(test) || (!have("unshare") && skip(test, "needs unshare (util-linux)"))
}

#[test]
fn init_reaps_orphaned_zombies() {
    if need_unshare("init_reaps_orphaned_zombies") {
        return;
    }
    let pol = policy("pm_init_orphan", "");
    let probe = p(&probe());
    let r = Run::from(
        spawn_pid1(&pol, &[], &[&probe, "orphan"])
            .wait_with_output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.ends_with("ok: grandchild reaped\n"),
        "{}",
        r.explain()
    );
    // --init outside a pid namespace: the parent is a child subreaper.
    let r = sandbox(&pol, &["--init"], &[&probe, "orphan"]);
    assert!(
        r.stdout.ends_with("ok: grandchild reaped\n"),
        "{}",
        r.explain()
    );
    // Control: the probe itself as PID 1 leaves the zombie.
    let c = Run::from(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", &probe, "orphan"])
            .output()
            .unwrap(),
    );
    assert!(
        c.stdout.contains("not reaped: grandchild"),
        "{}",
        c.explain()
    );
    assert!(c.stdout.ends_with(", state Z\n"), "{}", c.explain());
}

#[test]
fn init_forwards_term_int_and_usr1_to_the_workload() {
    if need_unshare("init_forwards_term_int_and_usr1_to_the_workload") {
        return;
    }
    let pol = policy("pm_init_signals", "");
    let probe = p(&probe());
    let mut child = spawn_pid1(&pol, &[], &[&probe, "signals", "3"]);
    let pid1 = outer_pid(&child);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
        kill(pid1, sig);
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, format!("signal {sig}\n"));
    }
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));

    // Control: with --exec the workload is PID 1 itself; the kernel drops
    // a SIGTERM it has no handler for, so it keeps running.
    let mut child = spawn_pid1(&pol, &["--exec"], &[&probe, "sleep", "30"]);
    let pid1 = outer_pid(&child);
    std::thread::sleep(Duration::from_millis(300));
    kill(pid1, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGTERM reached a PID-1 workload"
    );
    kill(pid1, libc::SIGKILL);
    child.wait().unwrap();
}

#[test]
fn init_propagates_exit_statuses() {
    if need_unshare("init_propagates_exit_statuses") {
        return;
    }
    let pol = policy("pm_init_exit", "");
    let probe = p(&probe());
    for code in [0, 3] {
        let c = code.to_string();
        let r = Run::from(
            spawn_pid1(&pol, &[], &[&probe, "exit", &c])
                .wait_with_output()
                .unwrap(),
        );
        assert_eq!(r.code, code, "{}", r.explain());
    }
    // Killed by a forwarded SIGTERM: 128+15.
    let child = spawn_pid1(&pol, &[], &[&probe, "sleep", "30"]);
    let pid1 = outer_pid(&child);
    // The workload is running once pid 1 has a child of its own.
    let f = format!("/proc/{pid1}/task/{pid1}/children");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&f)
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no workload");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    kill(pid1, libc::SIGTERM);
    let r = Run::from(child.wait_with_output().unwrap());
    assert_eq!(r.code, 143, "{}", r.explain());
}

/// A rule through a link to /proc/self (Debian's /dev/fd is one) names
/// the process that planned it. In init mode that is the parent, and the
/// child applies the rules: the rule must not land on the parent's
/// /proc/PID, or the workload reads the supervisor's status and argv.
#[test]
fn init_never_grants_the_parents_proc_through_a_link() {
    if need_root("init_never_grants_the_parents_proc_through_a_link") {
        return;
    }
    let d = scratch("pm_init_proc_link");
    let root = std::path::PathBuf::from(format!(
        "/run/openshell-test-proclink-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let link = root.join("me");
    std::os::unix::fs::symlink("/proc/self", &link).unwrap();
    let libs = if Path::new("/lib64").exists() {
        "/lib, /lib64"
    } else {
        "/lib"
    };
    let policy = |extra: &str| {
        write_policy(
            &d.join(extra.replace('/', "_")),
            &format!(
                "version: 1\nfilesystem_policy:\n  read_only: [/usr, /bin, {libs}, {}{extra}]\n{AS_1500}",
                link.display()
            ),
        )
    };
    let read_parent = [
        "/bin/sh",
        "-c",
        "read l </proc/$PPID/status && echo readable || echo denied",
    ];
    let r = sandbox(&policy(""), &["--init"], &read_parent);
    // Control: with /proc granted, the same read works.
    let c = sandbox(&policy(", /proc"), &["--init"], &read_parent);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(r.stdout, "denied\n", "{}", r.explain());
    assert_eq!(c.stdout, "readable\n", "{}", c.explain());
}

#[test]
fn init_parent_keeps_only_cap_kill() {
    if need_unshare("init_parent_keeps_only_cap_kill") {
        return;
    }
    let pol = policy("pm_init_caps", "");
    let probe = p(&probe());
    let mut child = spawn_pid1(&pol, &[], &[&probe, "signals", "1"]);
    let pid1 = outer_pid(&child);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let st = std::fs::read_to_string(format!("/proc/{pid1}/status")).unwrap();
    kill(pid1, libc::SIGTERM);
    for (k, v) in [
        ("CapEff", "0000000000000020"),
        ("CapPrm", "0000000000000020"),
        ("CapBnd", "0000000000000020"),
        ("CapInh", "0000000000000000"),
        ("CapAmb", "0000000000000000"),
        ("NoNewPrivs", "1"),
    ] {
        assert_eq!(status_field(&st, k), v, "{k}:\n{st}");
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // Control: unshare, the same process before the sandbox, holds more.
    let c = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_ne!(status_field(&c, "CapEff"), "0000000000000020");
    assert_eq!(status_field(&c, "NoNewPrivs"), "0");
}

// ---- bytes: argv, environment values and PATH are not text ----

fn bytes(b: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b)
}

/// A shell line that prints its first argument (or a variable) as hex.
const HEX_ARG: &str = "printf %s \"$1\" | od -An -tx1";

#[test]
fn a_workload_argument_that_is_not_utf8_reaches_the_workload_byte_exact() {
    if need_root("a_workload_argument_that_is_not_utf8_reaches_the_workload_byte_exact") {
        return;
    }
    let pol = policy("pm_argv_bytes", "");
    // Control: without the sandbox the shell sees the two bytes.
    let c = Run::from(
        Command::new("/bin/sh")
            .args(["-c", HEX_ARG, "sh"])
            .arg(bytes(b"\xff\xfe"))
            .output()
            .unwrap(),
    );
    assert_eq!(c.stdout.trim(), "ff fe", "{}", c.explain());
    for mode in ["--exec", "--init"] {
        let r = output_within(
            Command::new(BIN)
                .arg("--policy")
                .arg(&pol)
                .args([mode, "--", "/bin/sh", "-c", HEX_ARG, "sh"])
                .arg(bytes(b"\xff\xfe")),
            60,
        );
        assert_eq!(r.code, 0, "{mode}: {}", r.explain());
        assert_eq!(r.stdout.trim(), "ff fe", "{mode}: {}", r.explain());
    }
    // The plan shows the argument with its bytes escaped.
    let r = output_within(
        Command::new(BIN)
            .args(["plan", "--format", "json", "--policy"])
            .arg(&pol)
            .args(["--", "/bin/echo"])
            .arg(bytes(b"a\xff\xfe")),
        60,
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["command"],
        serde_json::json!(["/bin/echo", "a\\xff\\xfe"])
    );
}

#[test]
fn environment_pass_carries_a_value_that_is_not_utf8_byte_exact() {
    if need_root("environment_pass_carries_a_value_that_is_not_utf8_byte_exact") {
        return;
    }
    let pol = policy("pm_env_bytes", "environment:\n  pass: [BYTES_VAR, LC_*]\n");
    for mode in ["--exec", "--init"] {
        let r = output_within(
            Command::new(BIN)
                .arg("--policy")
                .arg(&pol)
                .args([
                    mode,
                    "--",
                    "/bin/sh",
                    "-c",
                    "printf %s \"$BYTES_VAR\" | od -An -tx1; printf %s \"$LC_X\" | od -An -tx1",
                ])
                .env("BYTES_VAR", bytes(b"v\xff\xfe"))
                .env("LC_X", bytes(b"\xc3")),
            60,
        );
        assert_eq!(r.code, 0, "{mode}: {}", r.explain());
        assert_eq!(
            r.stdout.lines().map(str::trim).collect::<Vec<_>>(),
            ["76 ff fe", "c3"],
            "{mode}: {}",
            r.explain()
        );
    }
}

#[test]
fn a_path_entry_that_is_not_utf8_still_finds_the_workload() {
    if need_root("a_path_entry_that_is_not_utf8_still_finds_the_workload") {
        return;
    }
    let d = scratch("pm_path_bytes");
    let dir = d.join(bytes(b"bin\xff"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(probe(), dir.join("probe-copy")).unwrap();
    let pol = write_policy(&d, &base_policy(&[&p(&d)], &[], AS_1500));
    let mut path = std::ffi::OsString::from("/nonexistent:");
    path.push(&dir);
    path.push(":/usr/bin:/bin");
    let r = output_within(
        Command::new(BIN)
            .arg("--policy")
            .arg(&pol)
            .args(["--", "probe-copy", "exit", "3"])
            .env("PATH", &path),
        60,
    );
    assert_eq!(r.code, 3, "{}", r.explain());
}

#[test]
fn a_nvidia_visible_devices_that_is_not_utf8_is_125_not_no_devices() {
    let d = scratch("pm_nvd_bytes");
    let pol = write_policy(&d, "version: 1\n");
    let marker = d.join("marker");
    let r = output_within(
        Command::new(BIN)
            .arg("--policy")
            .arg(&pol)
            .args(["--", "/bin/sh", "-c", "echo ran > \"$1\"", "sh"])
            .arg(&marker)
            .env("NVIDIA_VISIBLE_DEVICES", bytes(b"0,\xff")),
        60,
    );
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(
        r.stderr,
        "openshell-sandbox: NVIDIA_VISIBLE_DEVICES: \"0,\\xff\" is not valid UTF-8\n"
    );
    assert!(!marker.exists(), "the workload ran: {}", r.explain());
}

#[test]
fn a_listen_pid_that_is_not_a_number_is_125_not_ignored() {
    let d = scratch("pm_listen_pid");
    let pol = write_policy(&d, "version: 1\n");
    let marker = d.join("marker");
    let r = output_within(
        Command::new(BIN)
            .arg("--policy")
            .arg(&pol)
            .args(["--", "/bin/sh", "-c", "echo ran > \"$1\"", "sh"])
            .arg(&marker)
            .env("LISTEN_PID", "self")
            .env("LISTEN_FDS", "1"),
        60,
    );
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr
            .ends_with("openshell-sandbox: LISTEN_PID: \"self\" is not a process id\n"),
        "{}",
        r.explain()
    );
    assert!(!marker.exists(), "the workload ran: {}", r.explain());
}

/// `LC_*` in the default allowlist let any variable named `LC_SOMETHING`
/// through (sshd forwards `LC_*`; such names smuggle values past
/// allowlists). The locale categories pass by name; others do not.
#[test]
fn sandbox_blocks_lc_prefixed_secrets_but_passes_locale_categories() {
    let t = "sandbox_blocks_lc_prefixed_secrets_but_passes_locale_categories";
    if need_root(t) {
        return;
    }
    let pol = policy(t, "");
    let probe = p(&probe());
    let env = [
        ("LC_TOKEN", "s3cret"),
        ("LC_ALL", "C.UTF-8"),
        ("LC_MESSAGES", "C"),
    ];
    let mut c = Command::new(BIN);
    c.arg("--policy").arg(&pol).args(["--", &probe, "env"]);
    c.envs(env);
    let r = Run::from(c.stdin(Stdio::null()).output().unwrap());
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(!r.stdout.contains("LC_TOKEN"), "{}", r.explain());
    assert!(r.stdout.contains("LC_ALL=C.UTF-8\n"), "{}", r.explain());
    assert!(r.stdout.contains("LC_MESSAGES=C\n"), "{}", r.explain());
    // Control: bare, the probe sees LC_TOKEN.
    let mut c = Command::new(&probe);
    c.arg("env").envs(env);
    let c = Run::from(c.output().unwrap());
    assert!(c.stdout.contains("LC_TOKEN=s3cret\n"), "{}", c.explain());
    // A policy that asks for LC_* gets it.
    let pol = policy(&format!("{t}-pass"), "environment: {pass: [LC_*]}\n");
    let mut c = Command::new(BIN);
    c.arg("--policy").arg(&pol).args(["--", &probe, "env"]);
    c.envs(env);
    let r = Run::from(c.stdin(Stdio::null()).output().unwrap());
    assert!(r.stdout.contains("LC_TOKEN=s3cret\n"), "{}", r.explain());
}

/// With `--init` outside a pid namespace, the workload's orphans are
/// reparented to the supervisor (a child subreaper). When the workload
/// exits they must not outlive it, unsupervised.
#[test]
fn init_leaves_nothing_running_after_the_workload_exits() {
    let t = "init_leaves_nothing_running_after_the_workload_exits";
    if need_root(t) {
        return;
    }
    let pol = policy(t, "");
    // A unique argument to find the straggler by.
    let marker = format!("{}", 1_000_000 + std::process::id());
    let script = format!("(setsid /bin/sleep {marker} >/dev/null 2>&1 &); echo main-exit");
    let running = || {
        Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output()
            .unwrap()
            .stdout
    };
    let r = sandbox(&pol, &["--init"], &["/bin/sh", "-c", &script]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(r.stdout, "main-exit\n", "{}", r.explain());
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        running().is_empty(),
        "a workload process outlived the supervisor: {}",
        String::from_utf8_lossy(&running())
    );
    // Control: without the sandbox the straggler keeps running.
    let c = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(c.status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let left = running();
    assert!(!left.is_empty(), "the control left nothing running");
    let _ = Command::new("pkill")
        .args(["-f", &format!("sleep {marker}")])
        .status();
}
