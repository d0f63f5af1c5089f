//! The commands policy authors and operators use, through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{BIN, Run, scratch, write_policy};

fn run(args: &[&str]) -> Run {
    Run::from(
        Command::new(BIN)
            .args(args)
            .env_remove("OPENSHELL_POLICY")
            .output()
            .unwrap(),
    )
}

fn repo(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_accepts_every_shipped_policy() {
    let mut files = vec![repo("policy/default.yaml")];
    for e in std::fs::read_dir(repo("policy/examples")).unwrap() {
        files.push(e.unwrap().path().display().to_string());
    }
    files.sort();
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().map(String::as_str))
        .collect();
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.explain());
    for f in &files {
        assert!(
            r.stdout.contains(&format!("ok: {f}\n")),
            "{f} not ok\n{}",
            r.explain()
        );
    }
}

#[test]
fn check_reports_each_invalid_file_and_exits_1() {
    let d = scratch("check_invalid");
    let good = write_policy(&d, "version: 1\n");
    let bad = d.join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\nfilesystem_policy:\n  read_write: [tmp]\n",
    )
    .unwrap();
    let r = run(&[
        "check",
        good.to_str().unwrap(),
        "--policy",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(r.stdout, format!("ok: {}\n", good.display()));
    assert_eq!(
        r.stderr,
        format!(
            "openshell-sandbox: {}:3:16: filesystem_policy.read_write[0]: \"tmp\" is not an absolute path\nhint: write it from the root, e.g. \"/tmp\"\n",
            bad.display()
        )
    );
}

#[test]
fn check_of_a_missing_file_names_it() {
    let r = run(&["check", "/nonexistent/policy.yaml"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "openshell-sandbox: policy /nonexistent/policy.yaml: cannot open: no such file or directory\nhint: mount the policy (e.g. a ConfigMap) there, or fix --policy / $OPENSHELL_POLICY\n"
    );
}

#[test]
fn run_with_an_invalid_policy_exits_125_and_runs_nothing() {
    let d = scratch("run_invalid_policy");
    let marker = d.join("ran");
    let p = write_policy(&d, "version: 2\n");
    let r = run(&[
        "--policy",
        p.to_str().unwrap(),
        "--",
        "/bin/sh",
        "-c",
        &format!("touch {}", marker.display()),
    ]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(
        r.stderr,
        format!(
            "openshell-sandbox: {}:1:10: version: unsupported policy version 2\nhint: this build accepts version 1\n",
            p.display()
        )
    );
    assert!(!marker.exists(), "the workload ran");
}

#[test]
fn run_without_a_command_is_a_usage_error() {
    let r = run(&["--policy", "x.yaml"]);
    assert_eq!(r.code, 125);
    assert_eq!(
        r.stderr,
        "openshell-sandbox: no workload command given; usage: openshell-sandbox [OPTIONS] -- CMD [ARGS...]\n"
    );
    let r = run(&["check", "--bogus"]);
    assert_eq!(r.code, 2);
}

#[test]
fn policy_env_var_is_used_and_a_missing_one_is_an_error() {
    let r = Run::from(
        Command::new(BIN)
            .args(["plan", "--format", "json"])
            .env("OPENSHELL_POLICY", "/nonexistent/p.yaml")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    assert!(
        r.stderr
            .starts_with("openshell-sandbox: policy /nonexistent/p.yaml: cannot open"),
        "{}",
        r.explain()
    );
}

#[test]
fn version_json_has_the_documented_keys() {
    let r = run(&["version", "--json"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for k in [
        "version",
        "commit",
        "target",
        "rustc",
        "landlock_abi",
        "policy_versions",
    ] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    assert_eq!(v["policy_versions"], serde_json::json!([1]));
    let r = run(&["--version"]);
    assert!(
        r.stdout.starts_with("openshell-sandbox "),
        "{}",
        r.explain()
    );
}

#[test]
fn plan_json_parses_and_has_every_section() {
    let r = run(&[
        "plan",
        "--format",
        "json",
        "--policy",
        &repo("policy/examples/agent-network.yaml"),
    ]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for k in [
        "policy",
        "mode",
        "identity",
        "filesystem",
        "network",
        "environment",
        "rlimits",
        "capabilities",
        "seccomp",
        "devices",
        "dropped",
        "blockers",
    ] {
        assert!(v.get(k).is_some(), "plan lacks section {k}");
    }
    assert_eq!(v["policy"]["source"]["origin"], "flag");
}

#[test]
fn plan_yaml_is_valid_yaml_equal_to_the_json() {
    let p = repo("policy/examples/gpu.yaml");
    let y = run(&["plan", "--policy", &p]);
    let j = run(&["plan", "--format", "json", "--policy", &p]);
    assert_eq!((y.code, j.code), (0, 0), "{}{}", y.explain(), j.explain());
    let node = openshell_sandbox::yaml::parse(&y.stdout, Default::default()).unwrap();
    let from_yaml: serde_json::Value = openshell_sandbox::yaml::from_node(&node).unwrap();
    let from_json: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(from_yaml, from_json);
}

#[test]
fn plan_marks_a_missing_path_instead_of_failing() {
    let d = scratch("plan_missing_path");
    let p = write_policy(
        &d,
        "version: 1\nfilesystem_policy:\n  read_only: [/nonexistent-dir]\n",
    );
    let r = run(&["plan", "--format", "json", "--policy", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rule = &v["filesystem"]["rules"][0];
    assert_eq!(rule["path"], "/nonexistent-dir");
    assert_eq!(rule["present"], false);
    assert_eq!(rule["skipped"], "does not exist");
}

#[test]
fn schema_prints_the_json_schema() {
    let r = run(&["schema"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

/// Acceptance: with no policy file anywhere, the embedded default is used
/// and the log says so.
#[test]
fn run_without_policy_uses_the_embedded_default() {
    if std::path::Path::new(openshell_sandbox::policy::ETC_POLICY).exists()
        && common::skip(
            "run_without_policy_uses_the_embedded_default",
            "/etc/openshell/policy.yaml exists on this machine",
        )
    {
        return;
    }
    if common::need_root("run_without_policy_uses_the_embedded_default") {
        return;
    }
    let r = run(&["--", "/bin/true"]);
    assert!(
        r.stderr
            .contains("openshell-sandbox: info: policy: embedded default policy\n"),
        "{}",
        r.explain()
    );
    assert_eq!(r.code, 0, "{}", r.explain());
}

/// Every kind of policy source that is not a regular file, with the word
/// the error uses for it. The FIFO has no writer: reading it would block
/// forever, /dev/zero would never end.
fn non_regular_sources(d: &std::path::Path) -> Vec<(String, &'static str)> {
    let fifo = d.join("fifo");
    common::mkfifo(&fifo);
    let sock = d.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::mem::forget(listener);
    vec![
        (fifo.display().to_string(), "fifo"),
        (d.display().to_string(), "directory"),
        ("/dev/zero".to_string(), "character device"),
        (sock.display().to_string(), "socket"),
    ]
}

#[test]
fn check_and_plan_refuse_a_policy_that_is_not_a_regular_file_without_blocking() {
    let d = scratch("check_non_regular");
    for (path, kind) in non_regular_sources(&d) {
        let want = format!("openshell-sandbox: policy {path}: not a regular file ({kind})\n");
        let r = common::output_within(
            Command::new(BIN)
                .args(["check", &path])
                .env_remove("OPENSHELL_POLICY"),
            20,
        );
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (1, want.as_str()),
            "{}",
            r.explain()
        );
        let r = common::output_within(
            Command::new(BIN)
                .args(["check", "--policy", &path])
                .env_remove("OPENSHELL_POLICY"),
            20,
        );
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (1, want.as_str()),
            "{}",
            r.explain()
        );
        let r = common::output_within(Command::new(BIN).args(["plan", "--policy", &path]), 20);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (1, want.as_str()),
            "{}",
            r.explain()
        );
        assert_eq!(r.stdout, "", "{}", r.explain());
        // The same file named by $OPENSHELL_POLICY.
        let r = common::output_within(
            Command::new(BIN)
                .arg("check")
                .env("OPENSHELL_POLICY", &path),
            20,
        );
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (1, want.as_str()),
            "{}",
            r.explain()
        );
    }
}

#[test]
fn a_policy_on_stdin_is_refused_with_a_hint() {
    let r = common::output_within(
        Command::new(BIN)
            .args(["check", "-"])
            .env_remove("OPENSHELL_POLICY"),
        20,
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(
        r.stderr,
        "openshell-sandbox: policy -: reading a policy from stdin is not supported\nhint: write the policy to a file and name that (./- names a file called -)\n"
    );
}

#[test]
fn an_empty_openshell_policy_is_an_error_not_the_default() {
    let r = common::output_within(
        Command::new(BIN).arg("check").env("OPENSHELL_POLICY", ""),
        20,
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(r.stdout, "", "{}", r.explain());
    assert_eq!(
        r.stderr,
        "openshell-sandbox: $OPENSHELL_POLICY: set but empty\nhint: set it to the policy file, or unset it to use /etc/openshell/policy.yaml or the embedded default\n"
    );
    let r = common::output_within(Command::new(BIN).args(["plan", "--policy="]), 20);
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(
        r.stderr,
        "openshell-sandbox: policy \"\": the path is empty\n"
    );
}

#[test]
fn a_non_utf8_openshell_policy_names_a_file_by_its_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let d = scratch("policy_env_bytes");
    let name = std::ffi::OsStr::from_bytes(b"p\xff.yaml");
    let path = d.join(name);
    // Missing: an error naming the file, never the embedded default.
    let r = common::output_within(
        Command::new(BIN)
            .args(["plan", "--format", "json"])
            .env("OPENSHELL_POLICY", &path),
        20,
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(r.stdout, "", "{}", r.explain());
    // The name with the byte that is not UTF-8 escaped, as the plan shows
    // it below.
    assert_eq!(
        r.stderr,
        format!(
            "openshell-sandbox: policy {}/p\\xff.yaml: cannot open: no such file or directory\nhint: mount the policy (e.g. a ConfigMap) there, or fix --policy / $OPENSHELL_POLICY\n",
            d.display()
        )
    );
    // Present: that very file is the policy, and the plan shows its name
    // with the byte that is not UTF-8 escaped.
    std::fs::write(&path, "version: 1\n").unwrap();
    let r = common::output_within(
        Command::new(BIN)
            .args(["plan", "--format", "json"])
            .env("OPENSHELL_POLICY", &path),
        20,
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["policy"]["source"]["origin"], "env");
    assert_eq!(
        v["policy"]["source"]["path"],
        format!("{}/p\\xff.yaml", d.display())
    );
}

/// Allowing `socket` or `listen` back, or log mode, opens what the network
/// lines would otherwise call refused; the text plan says so (the control
/// is the default policy's "refused" line in the test below).
#[test]
fn plan_text_says_when_seccomp_opens_ip_sockets_or_listen() {
    let d = scratch("plan_text_seccomp_opens");
    for (name, extra, ip, listen) in [
        (
            "socket",
            "seccomp: {allow: [socket]}\n",
            Some("(seccomp.allow: [socket])"),
            "allowed on any socket",
        ),
        (
            "log",
            "seccomp: {log: true}\n",
            Some("(seccomp.log: true only logs them)"),
            "allowed on any socket",
        ),
        (
            "listen",
            "network: {connect_tcp: [443]}\nseccomp: {allow: [listen]}\n",
            None,
            "allowed on any socket",
        ),
        (
            "uring",
            "seccomp: {allow: [io_uring_setup, io_uring_enter]}\n",
            Some("(seccomp.allow: [io_uring_setup]: io_uring makes sockets without socket(2))"),
            "allowed on any socket",
        ),
        (
            "plain",
            "network: {connect_tcp: [443]}\n",
            None,
            "listen: refused",
        ),
    ] {
        let p = write_policy(&d.join(name), &format!("version: 1\n{extra}"));
        let r = run(&[
            "plan",
            "--format",
            "text",
            "--policy",
            p.to_str().unwrap(),
            "--",
            "/bin/true",
        ]);
        assert_eq!(r.code, 0, "{}", r.explain());
        if let Some(why) = ip {
            assert!(
                r.stdout.contains(&format!(
                    "  IP sockets: NOT refused although no network policy grants any {why}"
                )),
                "{name}\n{}",
                r.stdout
            );
        }
        assert!(
            !r.stdout.contains("IP sockets: refused"),
            "{name}\n{}",
            r.stdout
        );
        assert!(
            r.stdout.contains(listen),
            "{name}: {listen:?}\n{}",
            r.stdout
        );
    }
}

#[test]
fn plan_text_summarizes_the_default_policy_on_this_host() {
    let r = run(&["plan", "--format", "text", "--", "/bin/true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let abi = common::landlock_abi().min(10);
    for want in [
        "policy: embedded default policy\n",
        "command: /bin/true (exec: the supervisor becomes the workload)\n",
        "\nruns as: uid ",
        &if abi == 0 {
            "\nfilesystem: NOT enforced".to_string()
        } else {
            format!(
                "\nfilesystem (Landlock ABI {abi}, best_effort): everything not listed is denied\n"
            )
        },
        "  IP sockets: refused (no network policy)\n",
        "\ndevices: none requested\n",
    ] {
        assert!(r.stdout.contains(want), "{want:?} missing\n{}", r.explain());
    }
    let lines = r.stdout.lines().count();
    assert!(lines <= 50, "one screen, not {lines} lines\n{}", r.stdout);
    let e = run(&["plan", "--format", "html"]);
    assert_eq!(e.code, 2);
    assert_eq!(
        e.stderr,
        "openshell-sandbox: --format: unknown format \"html\" (text, yaml or json)\n"
    );
}
