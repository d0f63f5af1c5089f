//! Exit codes of `run`: 125 setup failed, 126 cannot execute, 127 not
//! found, else the workload's own status — in exec and in init mode, each
//! with its one-line message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::*;

const AS_1500: &str = "process: {run_as_user: 1500, run_as_group: 1500}\n";

#[test]
fn exit_125_when_the_sandbox_cannot_be_set_up() {
    if need_root("exit_125_when_the_sandbox_cannot_be_set_up") {
        return;
    }
    let d = scratch("ec_125");
    let pol = write_policy(&d, "version: 1\nprocess: {run_as_user: 0}\n");
    let probe = probe().display().to_string();
    for mode in ["--exec", "--init"] {
        let r = sandbox(&pol, &[mode], &[&probe, "true"]);
        assert_eq!(r.code, 125, "{}", r.explain());
        assert_eq!(r.stdout, "", "the workload ran: {}", r.explain());
        let want = format!(
            "openshell-sandbox: {}:2:24: process.run_as_user: 0 is root; the workload never runs as root\n",
            pol.display()
        );
        assert!(r.stderr.starts_with(&want), "{}", r.explain());
    }
    // A failure while applying (after the plan) is a 125 too, in both modes.
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    for mode in ["--exec", "--init"] {
        let r = sandbox(
            &pol,
            &[mode, "--workdir", "/nonexistent-dir"],
            &[&probe, "true"],
        );
        assert_eq!(r.code, 125, "{}", r.explain());
        assert!(
            r.stderr.ends_with(
                "openshell-sandbox: workdir /nonexistent-dir: no such file or directory\n"
            ),
            "{}",
            r.explain()
        );
    }
}

#[test]
fn exit_126_when_the_workload_cannot_be_executed() {
    if need_root("exit_126_when_the_workload_cannot_be_executed") {
        return;
    }
    let d = scratch("ec_126");
    let file = d.join("not-executable");
    std::fs::write(&file, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let pol = write_policy(&d, &base_policy(&[&d.display().to_string()], &[], AS_1500));
    let f = file.display().to_string();
    for mode in ["--exec", "--init"] {
        let r = sandbox(&pol, &[mode], &[&f]);
        assert_eq!(r.code, 126, "{}", r.explain());
        assert!(
            r.stderr.ends_with(&format!(
                "openshell-sandbox: workload {f}: permission denied\n"
            )),
            "{}",
            r.explain()
        );
    }
}

#[test]
fn exit_127_when_the_workload_is_not_found() {
    if need_root("exit_127_when_the_workload_is_not_found") {
        return;
    }
    let d = scratch("ec_127");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    for mode in ["--exec", "--init"] {
        let r = sandbox(&pol, &[mode], &["no-such-command-xyz"]);
        assert_eq!(r.code, 127, "{}", r.explain());
        assert!(
            r.stderr.ends_with(
                "openshell-sandbox: workload \"no-such-command-xyz\": not found in PATH\n"
            ),
            "{}",
            r.explain()
        );
        let r = sandbox(&pol, &[mode], &["/nonexistent/prog"]);
        assert_eq!(r.code, 127, "{}", r.explain());
        assert!(
            r.stderr.ends_with(
                "openshell-sandbox: workload /nonexistent/prog: no such file or directory\n"
            ),
            "{}",
            r.explain()
        );
    }
}

#[test]
fn exit_127_with_its_line_under_the_workloads_filter() {
    if need_root("exit_127_with_its_line_under_the_workloads_filter") {
        return;
    }
    // The filter is installed before the exec, so the failed exec's line
    // is written under it. A policy cannot deny that write (validation
    // refuses `write` in seccomp.deny, with its own line, before anything
    // is applied); a deny of anything else leaves the 127 and its line.
    let d = scratch("ec_127_no_write");
    let pol = write_policy(
        &d,
        &base_policy(&[], &[], &format!("{AS_1500}seccomp: {{deny: [write]}}\n")),
    );
    let r = sandbox(&pol, &["--exec"], &["/nonexistent/prog"]);
    assert_eq!((r.code, r.signal), (125, None), "{}", r.explain());
    assert!(
        r.stderr
            .contains("seccomp.deny[0]: write is how the supervisor says why a launch stopped"),
        "{}",
        r.explain()
    );
    for deny in ["[ptrace]", "[close, munmap]"] {
        let pol = write_policy(
            &d,
            &base_policy(&[], &[], &format!("{AS_1500}seccomp: {{deny: {deny}}}\n")),
        );
        for mode in ["--exec", "--init"] {
            let r = sandbox(&pol, &[mode], &["/nonexistent/prog"]);
            assert_eq!((r.code, r.signal), (127, None), "{deny}: {}", r.explain());
            assert!(
                r.stderr.ends_with(
                    "openshell-sandbox: workload /nonexistent/prog: no such file or directory\n"
                ),
                "{deny}: {}",
                r.explain()
            );
        }
    }
}

#[test]
fn a_policy_path_cannot_forge_a_line_or_name_a_kernel_file() {
    if need_root("a_policy_path_cannot_forge_a_line_or_name_a_kernel_file") {
        return;
    }
    // The path starts the one line about the policy: control characters
    // in it are escaped, so it stays one line.
    let forged = "/nonexistent/x\nopenshell-sandbox: info: landlock: fully enforced\u{1b}[31m";
    let r = Run::from(
        Command::new(BIN)
            .args(["--policy", forged, "--exec", "--", "/bin/true"])
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(
        r.stderr,
        "openshell-sandbox: policy /nonexistent/x\\nopenshell-sandbox: info: landlock: fully enforced\\u{1b}[31m: cannot open: no such file or directory\n\
         hint: mount the policy (e.g. a ConfigMap) there, or fix --policy / $OPENSHELL_POLICY\n"
    );
    // A kernel interface file is no policy, and is not read: some hand
    // out what they hold once (/proc/kmsg).
    for kernel in ["/proc/sys/kernel/hostname", "/sys/kernel/uevent_seqnum"] {
        let r = Run::from(
            Command::new(BIN)
                .env("OPENSHELL_POLICY", kernel)
                .args(["--exec", "--", "/bin/true"])
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 125, "{kernel}\n{}", r.explain());
        assert!(
            r.stderr.starts_with(&format!(
                "openshell-sandbox: policy {kernel}: a kernel interface file (procfs, sysfs or the like), not a policy\n"
            )),
            "{kernel}\n{}",
            r.explain()
        );
    }
}

#[test]
fn the_workloads_own_status_otherwise() {
    if need_root("the_workloads_own_status_otherwise") {
        return;
    }
    let d = scratch("ec_workload");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let probe = probe().display().to_string();
    for mode in ["--exec", "--init"] {
        for code in [0, 3, 125] {
            let r = sandbox(&pol, &[mode], &[&probe, "exit", &code.to_string()]);
            assert_eq!(r.code, code, "{mode}: {}", r.explain());
        }
    }
    // Killed by a signal: exec mode shows the signal itself, init mode
    // reports 128+signal.
    let r = sandbox(&pol, &["--exec"], &["/bin/sh", "-c", "kill -USR1 $$"]);
    assert_eq!(r.signal, Some(libc::SIGUSR1), "{}", r.explain());
    let r = sandbox(&pol, &["--init"], &["/bin/sh", "-c", "kill -USR1 $$"]);
    assert_eq!(r.code, 128 + libc::SIGUSR1, "{}", r.explain());
}

/// `run` with `args` and `env`, a workload that would leave `marker`
/// behind; the test fails rather than hangs if the launch blocks.
fn run_marking(args: &[&str], env: &[(&str, &std::ffi::OsStr)], marker: &std::path::Path) -> Run {
    let mut c = std::process::Command::new(BIN);
    c.env_remove("OPENSHELL_POLICY")
        .args(args)
        .args(["--", "/bin/sh", "-c", "echo ran > \"$1\"", "sh"])
        .arg(marker);
    for (k, v) in env {
        c.env(k, v);
    }
    output_within(&mut c, 20)
}

#[test]
fn run_refuses_a_fifo_policy_at_once_with_125() {
    let d = scratch("ec_fifo_policy");
    let fifo = d.join("fifo");
    mkfifo(&fifo);
    let marker = d.join("marker");
    let f = fifo.display().to_string();
    let want = format!("openshell-sandbox: policy {f}: not a regular file (fifo)\n");
    for r in [
        run_marking(&["--policy", &f], &[], &marker),
        run_marking(&[], &[("OPENSHELL_POLICY", fifo.as_os_str())], &marker),
    ] {
        assert_eq!(r.code, 125, "{}", r.explain());
        assert_eq!(r.stderr, want, "{}", r.explain());
        assert!(!marker.exists(), "the workload ran: {}", r.explain());
    }
}

#[test]
fn run_with_an_unusable_openshell_policy_exits_125_and_never_uses_the_default() {
    use std::os::unix::ffi::OsStrExt;
    let d = scratch("ec_env_policy");
    let marker = d.join("marker");
    let bytes = d.join(std::ffi::OsStr::from_bytes(b"\xff\xfe.yaml"));
    let cases: Vec<(std::ffi::OsString, String)> = vec![
        (
            "".into(),
            "openshell-sandbox: $OPENSHELL_POLICY: set but empty\nhint: set it to the policy file, or unset it to use /etc/openshell/policy.yaml or the embedded default\n".into(),
        ),
        (
            bytes.clone().into_os_string(),
            // Bytes that are not UTF-8 shown as such, not replaced.
            format!(
                "openshell-sandbox: policy {}/\\xff\\xfe.yaml: cannot open: no such file or directory\nhint: mount the policy (e.g. a ConfigMap) there, or fix --policy / $OPENSHELL_POLICY\n",
                d.display()
            ),
        ),
        (
            "/nonexistent/p.yaml".into(),
            "openshell-sandbox: policy /nonexistent/p.yaml: cannot open: no such file or directory\nhint: mount the policy (e.g. a ConfigMap) there, or fix --policy / $OPENSHELL_POLICY\n".into(),
        ),
        (
            // Unreadable for anyone, root included: a path through a file.
            "/etc/passwd/p.yaml".into(),
            "openshell-sandbox: policy /etc/passwd/p.yaml: cannot open: not a directory\n".into(),
        ),
    ];
    for (value, want) in cases {
        let r = run_marking(&[], &[("OPENSHELL_POLICY", &value)], &marker);
        assert_eq!(r.code, 125, "{value:?}: {}", r.explain());
        assert_eq!(r.stderr, want, "{value:?}: {}", r.explain());
        assert!(
            !marker.exists(),
            "{value:?}: the workload ran: {}",
            r.explain()
        );
    }
}

#[test]
fn a_relative_or_empty_workdir_is_refused_at_parse() {
    let d = scratch("ec_workdir");
    let marker = d.join("marker");
    for (value, want) in [
        (
            "tmp/x",
            "openshell-sandbox: --workdir: \"tmp/x\" is not an absolute path\nhint: write it from the root, e.g. \"/tmp/x\"\n",
        ),
        (
            "",
            "openshell-sandbox: --workdir: the path is empty\nhint: --workdir takes an absolute path, e.g. --workdir /work\n",
        ),
        (
            "/tmp/x\nopenshell-sandbox: info: forged",
            "openshell-sandbox: --workdir: \"/tmp/x\\nopenshell-sandbox: info: forged\" has a control character\n",
        ),
        (
            "/tmp/\u{1b}[31mx",
            "openshell-sandbox: --workdir: \"/tmp/\\u{1b}[31mx\" has a control character\n",
        ),
    ] {
        let r = run_marking(&["--workdir", value], &[], &marker);
        assert_eq!((r.code, r.stderr.as_str()), (125, want), "{}", r.explain());
        assert!(!marker.exists(), "the workload ran: {}", r.explain());
        let r = output_within(
            std::process::Command::new(BIN).args(["plan", "--workdir", value]),
            20,
        );
        assert_eq!((r.code, r.stderr.as_str()), (2, want), "{}", r.explain());
    }
}
