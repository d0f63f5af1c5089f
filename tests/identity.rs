//! Identity and capabilities, end to end: the built binary runs the probe
//! as root on the real kernel; each check has a control run without the
//! sandbox (or without the policy line under test).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const AS_1500: &str = "process: {run_as_user: 1500, run_as_group: 1500}\n";

/// The value of `Name:` in `probe status` output.
fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
        .trim()
        .to_string()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Run the sandbox through `setpriv` as uid/gid 1500 (an unprivileged start).
fn sandbox_as_1500(policy: &Path, workload: &[&str]) -> Run {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=1500",
        "--regid=1500",
        "--clear-groups",
        "--",
        BIN,
        "--policy",
    ])
    .arg(policy)
    .arg("--")
    .args(workload);
    Run::from(c.stdin(Stdio::null()).output().expect("spawn setpriv"))
}

/// Run the sandbox through `setpriv` (as root) with `setpriv_args`.
fn sandbox_setpriv(setpriv_args: &[&str], policy: &Path, workload: &[&str]) -> Run {
    let mut c = Command::new("setpriv");
    c.args(setpriv_args)
        .args(["--", BIN, "--policy"])
        .arg(policy)
        .arg("--")
        .args(workload);
    Run::from(c.stdin(Stdio::null()).output().expect("spawn setpriv"))
}

#[test]
fn sandbox_drops_every_capability_and_runs_as_1500() {
    if need_root("sandbox_drops_every_capability_and_runs_as_1500") {
        return;
    }
    let d = scratch("id_drop_all");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let probe = p(&probe());
    let r = sandbox(&pol, &[], &[&probe, "status"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(field(&r.stdout, "Uid"), "1500\t1500\t1500\t1500");
    assert_eq!(field(&r.stdout, "Gid"), "1500\t1500\t1500\t1500");
    assert_eq!(field(&r.stdout, "Groups"), "");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(&r.stdout, set), "0000000000000000", "{set}");
    }
    assert_eq!(field(&r.stdout, "NoNewPrivs"), "1");
    // Control: the same probe without the sandbox is root with capabilities.
    let c = bare(&[&probe, "status"]);
    assert_eq!(c.code, 0, "{}", c.explain());
    assert!(field(&c.stdout, "Uid").starts_with("0\t"));
    assert_ne!(field(&c.stdout, "CapEff"), "0000000000000000");
    assert_ne!(field(&c.stdout, "CapBnd"), "0000000000000000");
    assert_eq!(field(&c.stdout, "NoNewPrivs"), "0");
}

#[test]
fn sandbox_sets_exactly_the_planned_groups_not_roots() {
    if need_root("sandbox_sets_exactly_the_planned_groups_not_roots") {
        return;
    }
    let d = scratch("id_groups");
    let pol = write_policy(
        &d,
        &base_policy(
            &[],
            &[],
            "process: {run_as_user: 1500, run_as_group: 1500, supplementary_groups: [1700, 1600]}\n",
        ),
    );
    let probe = p(&probe());
    let out = Command::new(BIN)
        .args(["plan", "--format", "json", "--policy"])
        .arg(&pol)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["identity"]["groups"], serde_json::json!([1700, 1600]));
    let r = sandbox(&pol, &[], &[&probe, "status"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(field(&r.stdout, "Groups"), "1600 1700");
    // Control: root's own groups, which must not be inherited.
    let c = bare(&[&probe, "status"]);
    assert!(
        field(&c.stdout, "Groups")
            .split_whitespace()
            .any(|g| g == "0")
            || field(&c.stdout, "Gid").starts_with("0\t"),
        "{}",
        c.explain()
    );
}

#[test]
fn sandbox_keeps_net_bind_service_only_when_asked() {
    if need_root("sandbox_keeps_net_bind_service_only_when_asked") {
        return;
    }
    let d = scratch("id_keep_nbs");
    let probe = p(&probe());
    let net = "network: {bind_tcp: [80]}\n";
    let keep = write_policy(
        &d,
        &base_policy(
            &[],
            &[],
            &format!("{AS_1500}{net}capabilities: {{keep: [NET_BIND_SERVICE]}}\n"),
        ),
    );
    let r = sandbox(&keep, &[], &[&probe, "bind", "80"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "ok: 80\n"),
        "{}",
        r.explain()
    );
    let r = sandbox(&keep, &[], &[&probe, "status"]);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(&r.stdout, set), "0000000000000400", "{set}");
    }
    // Control: the same policy without `keep`, and the bare probe as 1500.
    let d2 = scratch("id_keep_nbs_control");
    let nokeep = write_policy(&d2, &base_policy(&[], &[], &format!("{AS_1500}{net}")));
    let r = sandbox(&nokeep, &[], &[&probe, "bind", "80"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (1, "errno=EACCES(13): 80\n"),
        "{}",
        r.explain()
    );
    let c = bare_as(1500, &[&probe, "bind", "80"]);
    assert_eq!(c.stdout, "errno=EACCES(13): 80\n", "{}", c.explain());
}

#[test]
fn sandbox_blocks_setuid_root_binary_from_raising_euid() {
    if need_root("sandbox_blocks_setuid_root_binary_from_raising_euid") {
        return;
    }
    let d = scratch("id_setuid");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let suid = d.join("suid-probe");
    std::fs::copy(probe(), &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let pol = write_policy(&d, &base_policy(&[&p(&d)], &[], AS_1500));
    let r = sandbox(&pol, &[], &[&p(&suid), "euid"]);
    assert_eq!(r.stdout, "euid=1500 uid=1500\n", "{}", r.explain());
    // Control: the same file run bare by uid 1500 does become euid 0.
    let c = bare_as(1500, &[&p(&suid), "euid"]);
    assert_eq!(
        c.stdout,
        "euid=0 uid=1500\n",
        "control failed (nosuid mount?): {}",
        c.explain()
    );
}

#[test]
fn sandbox_blocks_setresuid_back_to_root() {
    if need_root("sandbox_blocks_setresuid_back_to_root") {
        return;
    }
    let d = scratch("id_setuid0");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let probe = p(&probe());
    let r = sandbox(&pol, &[], &[&probe, "setuid0"]);
    assert_eq!(
        r.stdout,
        "errno=EPERM(1): setresuid(0,0,0)\n",
        "{}",
        r.explain()
    );
    let c = bare(&[&probe, "setuid0"]);
    assert_eq!(c.stdout, "ok: setresuid(0,0,0)\n", "{}", c.explain());
}

#[test]
fn unprivileged_start_still_sets_no_new_privs() {
    if need_root("unprivileged_start_still_sets_no_new_privs") {
        return;
    }
    let d = scratch("id_unpriv");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let probe = p(&probe());
    let r = sandbox_as_1500(&pol, &[&probe, "status"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(field(&r.stdout, "Uid"), "1500\t1500\t1500\t1500");
    assert_eq!(field(&r.stdout, "NoNewPrivs"), "1");
    assert_eq!(field(&r.stdout, "Seccomp"), "2");
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(field(&r.stdout, set), "0000000000000000", "{set}");
    }
    // Control: the same start without the sandbox has no_new_privs off.
    let c = bare_as(1500, &[&probe, "status"]);
    assert_eq!(field(&c.stdout, "NoNewPrivs"), "0", "{}", c.explain());
    assert_eq!(field(&c.stdout, "Seccomp"), "0", "{}", c.explain());
}

#[test]
fn unprivileged_start_refuses_another_uid() {
    if need_root("unprivileged_start_refuses_another_uid") {
        return;
    }
    let d = scratch("id_unpriv_1600");
    let pol = write_policy(&d, &base_policy(&[], &[], "process: {run_as_user: 1600}\n"));
    let probe = p(&probe());
    let r = sandbox_as_1500(&pol, &[&probe, "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.ends_with(
            "openshell-sandbox: identity: the supervisor runs as uid 1500 gid 1500 and cannot switch to uid 1600 gid 1600\n\
             hint: set securityContext.runAsUser/runAsGroup to match, or remove process.run_as_user/run_as_group from the policy\n"
        ),
        "{}",
        r.explain()
    );
    // Control: started as root, the same policy runs.
    let c = sandbox(&pol, &[], &[&probe, "euid"]);
    assert_eq!(c.stdout, "euid=1600 uid=1600\n", "{}", c.explain());
}

/// Started through `setpriv` with `setpriv_args`, `plan` names `cause`
/// as a blocker and a launch stops on it (125, the line and `hint`)
/// before anything is applied.
fn plan_and_launch_refuse(setpriv_args: &[&str], pol: &Path, cause: &str, hint: &str) {
    let mut c = Command::new("setpriv");
    c.args(setpriv_args)
        .args(["--", BIN, "plan", "--policy"])
        .arg(pol);
    let r = Run::from(c.stdin(Stdio::null()).output().expect("spawn setpriv"));
    assert!(
        r.stdout.contains(cause),
        "plan {setpriv_args:?}\n{}",
        r.explain()
    );
    let r = sandbox_setpriv(setpriv_args, pol, &[&p(&probe()), "true"]);
    assert_eq!(r.code, 125, "{setpriv_args:?}\n{}", r.explain());
    assert!(
        r.stderr
            .ends_with(&format!("openshell-sandbox: identity: {cause}\n{hint}")),
        "{setpriv_args:?}\n{}",
        r.explain()
    );
}

#[test]
fn a_start_that_could_become_root_again_is_refused_by_the_plan() {
    let t = "a_start_that_could_become_root_again_is_refused_by_the_plan";
    if need_root(t) {
        return;
    }
    let d = scratch(t);
    let pol = write_policy(&d, &base_policy(&[], &[], ""));
    let probe = p(&probe());
    let hint = "hint: start the supervisor as root, or as one user (every id the same) without CAP_SETUID\n";
    let plan_says = |setpriv_args: &[&str], cause: &str| {
        plan_and_launch_refuse(setpriv_args, &pol, cause, hint)
    };
    // Real ids 1500, effective and saved 0.
    plan_says(
        &["--ruid=1500", "--rgid=1500", "--clear-groups"],
        "the supervisor started with uids [1500, 0, 0] and gids [1500, 0, 0] (real, effective, saved): it is not one user",
    );
    // One user, 1500, with CAP_SETUID in effect (ambient across exec).
    plan_says(
        &[
            "--reuid=1500",
            "--regid=1500",
            "--clear-groups",
            "--inh-caps=+setuid",
            "--ambient-caps=+setuid",
        ],
        "the supervisor runs as uid 1500 with CAP_SETUID in effect, so it could become root again",
    );
    // Control: the same user without it runs.
    let r = sandbox_setpriv(
        &["--reuid=1500", "--regid=1500", "--clear-groups"],
        &pol,
        &[&probe, "euid"],
    );
    assert_eq!(r.stdout, "euid=1500 uid=1500\n", "{}", r.explain());
}

#[test]
fn a_root_start_without_setuid_or_setgid_is_refused_by_the_plan() {
    let t = "a_root_start_without_setuid_or_setgid_is_refused_by_the_plan";
    if need_root(t) {
        return;
    }
    let d = scratch(t);
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let probe = p(&probe());
    let hint = "hint: add them to the container, e.g. Kubernetes securityContext.capabilities.add: [SETUID, SETGID] (they are dropped before the workload starts)\n";
    for (drop, names) in [
        ("-setuid", "CAP_SETUID"),
        ("-setgid", "CAP_SETGID"),
        ("-setuid,-setgid", "CAP_SETGID, CAP_SETUID"),
    ] {
        let args = [
            &format!("--bounding-set={drop}")[..],
            &format!("--inh-caps={drop}")[..],
        ];
        let cause = format!(
            "the supervisor runs as root without {names}, so it cannot switch to uid 1500 gid 1500"
        );
        plan_and_launch_refuse(&args, &pol, &cause, hint);
    }
    // Control: with both, the same start switches.
    let r = sandbox_setpriv(&["--bounding-set=-net_raw"], &pol, &[&probe, "euid"]);
    assert_eq!(r.stdout, "euid=1500 uid=1500\n", "{}", r.explain());
}

#[test]
fn missing_setpcap_fails_closed_with_the_kubernetes_hint() {
    if need_root("missing_setpcap_fails_closed_with_the_kubernetes_hint") {
        return;
    }
    let d = scratch("id_no_setpcap");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let probe = p(&probe());
    let r = sandbox_setpriv(&["--bounding-set=-setpcap"], &pol, &[&probe, "true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.ends_with(
            "openshell-sandbox: capabilities: cannot clear the bounding set: the supervisor lacks CAP_SETPCAP\n\
             hint: add it to the container, e.g. Kubernetes securityContext.capabilities.add: [SETPCAP] (it is dropped before the workload starts)\n"
        ),
        "{}",
        r.explain()
    );
    // Control: with CAP_SETPCAP the same launch succeeds.
    let c = sandbox(&pol, &[], &[&probe, "true"]);
    assert_eq!(c.code, 0, "{}", c.explain());
}

#[test]
fn keeping_a_capability_the_container_lacks_fails_closed() {
    if need_root("keeping_a_capability_the_container_lacks_fails_closed") {
        return;
    }
    let d = scratch("id_keep_missing");
    let pol = write_policy(
        &d,
        &base_policy(
            &[],
            &[],
            &format!("{AS_1500}capabilities: {{keep: [NET_BIND_SERVICE]}}\n"),
        ),
    );
    let probe = p(&probe());
    let r = sandbox_setpriv(
        &["--bounding-set=-net_bind_service"],
        &pol,
        &[&probe, "true"],
    );
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(
        r.stderr.ends_with(
            "openshell-sandbox: capabilities: cannot keep CAP_NET_BIND_SERVICE: the supervisor does not hold it\n\
             hint: grant it to the container, e.g. Kubernetes securityContext.capabilities.add: [NET_BIND_SERVICE]\n"
        ),
        "{}",
        r.explain()
    );
    let c = sandbox(&pol, &[], &[&probe, "true"]);
    assert_eq!(c.code, 0, "{}", c.explain());
}

#[test]
fn report_holds_the_readback() {
    if need_root("report_holds_the_readback") {
        return;
    }
    let d = scratch("id_report");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let report = d.join("report.json");
    let probe = p(&probe());
    let r = sandbox(&pol, &["--report", &p(&report)], &[&probe, "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let rb = &v["readback"];
    assert_eq!(rb["uid"], serde_json::json!([1500, 1500, 1500, 1500]));
    assert_eq!(rb["gid"], serde_json::json!([1500, 1500, 1500, 1500]));
    assert_eq!(rb["groups"], serde_json::json!([]));
    for k in ["cap_inh", "cap_prm", "cap_eff", "cap_bnd", "cap_amb"] {
        assert_eq!(rb[k], "0000000000000000", "{k}");
    }
    assert_eq!(
        (rb["no_new_privs"].as_u64(), rb["seccomp"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(
        v.get("landlock").is_some() && v.get("seccomp").is_some(),
        "{v}"
    );
    // Per-phase timings, for bench/run.sh: every phase, in microseconds.
    let t = &v["timings_us"];
    for k in [
        "load",
        "resolve",
        "plan",
        "landlock_prepare",
        "identity",
        "capabilities",
        "landlock_restrict",
        "seccomp",
        "readback",
        "total",
    ] {
        assert!(t[k].as_f64().is_some_and(|us| us >= 0.0), "{k}: {t}");
    }
    let m = &v["memory_kib"];
    assert!(m["peak"].as_u64().is_some_and(|kib| kib > 0), "{m}");
    // `-` writes the same document to stderr.
    let r = sandbox(&pol, &["--report", "-"], &[&probe, "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let json = &r.stderr[r.stderr.find('{').unwrap()..];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        v["readback"]["uid"],
        serde_json::json!([1500, 1500, 1500, 1500])
    );
}

#[test]
fn unprivileged_start_in_init_mode_runs_and_propagates_status() {
    if need_root("unprivileged_start_in_init_mode_runs_and_propagates_status") {
        return;
    }
    let d = scratch("id_unpriv_init");
    let pol = write_policy(&d, &base_policy(&[], &[], AS_1500));
    let probe = p(&probe());
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=1500",
        "--regid=1500",
        "--clear-groups",
        "--",
        BIN,
        "--init",
        "--policy",
    ])
    .arg(&pol)
    .args(["--", &probe, "exit", "3"]);
    let r = Run::from(c.stdin(Stdio::null()).output().unwrap());
    assert_eq!(r.code, 3, "{}", r.explain());
}

/// A file only root (user or group) may read: `dir/secret`, mode `mode`,
/// owned by 0:0, in a directory everyone may enter.
fn root_file(dir: &Path, mode: u32) -> String {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = dir.join("secret");
    std::fs::write(&f, "root only\n").unwrap();
    std::os::unix::fs::chown(&f, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
    p(&f)
}

/// `check` and `run` (exit 125) both refuse `policy` with `message`, and the
/// workload never starts.
fn refused(pol: &Path, message: &str) -> Run {
    let c = Run::from(
        Command::new(BIN)
            .args(["check", "--policy"])
            .arg(pol)
            .output()
            .unwrap(),
    );
    assert_ne!(c.code, 0, "check accepted the policy\n{}", c.explain());
    assert!(c.stderr.contains(message), "{}", c.explain());
    let r = sandbox(pol, &[], &[&p(&probe()), "exit", "7"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert!(r.stderr.contains(message), "{}", r.explain());
    r
}

#[test]
fn sandbox_refuses_keeping_setgid() {
    if need_root("sandbox_refuses_keeping_setgid") {
        return;
    }
    let d = scratch("id_keep_setgid");
    let secret = root_file(&d, 0o640);
    let pol = write_policy(
        &d,
        &base_policy(
            &[&p(&d)],
            &[],
            &format!("{AS_1500}capabilities: {{keep: [SETGID]}}\n"),
        ),
    );
    let r = refused(
        &pol,
        "capabilities.keep[0]: CAP_SETGID cannot be kept: setresgid(0)/setgroups([0]) give the workload root's group and every root-group file",
    );
    println!("sandbox: exit {}: {}", r.code, r.stderr.trim_end());
    // Control: uid 1500 holding CAP_SETGID (ambient, as `keep` would give
    // it) becomes gid 0 and reads the root-group file.
    let probe = p(&probe());
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=1500",
        "--regid=1500",
        "--clear-groups",
        "--inh-caps=+setgid",
        "--ambient-caps=+setgid",
        "--",
        &probe,
        "setgid0",
        &secret,
    ]);
    let c = Run::from(c.stdin(Stdio::null()).output().unwrap());
    println!("control: {}", c.stdout.trim_end());
    assert_eq!(
        c.stdout,
        format!("gid=0 read 10 bytes of {secret}\nok: setresgid(0,0,0) and read\n"),
        "{}",
        c.explain()
    );
    // Control: without CAP_SETGID the same uid cannot.
    let c = bare_as(1500, &[&probe, "setgid0", &secret]);
    println!("control without the capability: {}", c.stdout.trim_end());
    assert_eq!(
        c.stdout,
        "errno=EPERM(1): setgroups([0])\n",
        "{}",
        c.explain()
    );
}

#[test]
fn sandbox_refuses_dac_override_without_acknowledgement() {
    if need_root("sandbox_refuses_dac_override_without_acknowledgement") {
        return;
    }
    // Landlock grants the directory read-only; the file's mode is the only
    // thing that keeps uid 1500 out (as for /etc/shadow under /etc), and
    // CAP_DAC_OVERRIDE ignores it.
    let d = scratch("id_keep_dac_override");
    let secret = root_file(&d, 0o600);
    let probe = p(&probe());
    let keep = format!("{AS_1500}capabilities: {{keep: [DAC_OVERRIDE]}}\n");
    let pol = write_policy(&d, &base_policy(&[&p(&d)], &[], &keep));
    let r = refused(
        &pol,
        "capabilities.keep[0]: keeping CAP_DAC_OVERRIDE bypasses the sandbox: reads and writes files inside the granted trees whatever their mode (e.g. /etc/shadow under a read_only /etc)\nhint: if the workload needs it, acknowledge it with capabilities.bypass_acknowledged: [DAC_OVERRIDE]",
    );
    println!("sandbox: exit {}: {}", r.code, r.stderr.trim_end());

    // Acknowledged: the launch runs, the file is read, and the plan says
    // what the capability allows.
    let d2 = scratch("id_keep_dac_override_ack");
    let ack = format!(
        "{AS_1500}capabilities: {{keep: [DAC_OVERRIDE], bypass_acknowledged: [DAC_OVERRIDE]}}\n"
    );
    let pol2 = write_policy(&d2, &base_policy(&[&p(&d)], &[], &ack));
    let out = Command::new(BIN)
        .args(["plan", "--format", "json", "--policy"])
        .arg(&pol2)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let allows = "CAP_DAC_OVERRIDE: reads and writes files inside the granted trees whatever their mode (e.g. /etc/shadow under a read_only /etc)";
    assert_eq!(
        plan["capabilities"]["acknowledged_bypasses"],
        serde_json::json!([allows])
    );
    assert!(
        plan["dropped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["cause"].as_str().is_some_and(|l| l.contains(allows))),
        "{plan}"
    );
    let r = sandbox(&pol2, &[], &[&probe, "read", &secret]);
    println!("acknowledged: {}", r.stdout.trim_end());
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(r.stderr.contains(allows), "run warns: {}", r.explain());

    // Control: the same policy without the capability is refused by the
    // file mode, so the acknowledgement is what opened it.
    let d3 = scratch("id_keep_dac_override_none");
    let pol3 = write_policy(&d3, &base_policy(&[&p(&d)], &[], AS_1500));
    let c = sandbox(&pol3, &[], &[&probe, "read", &secret]);
    println!("control without keep: {}", c.stdout.trim_end());
    assert!(c.stdout.starts_with("errno=EACCES(13)"), "{}", c.explain());
}

/// Started unprivileged with supplementary group 0 (Kubernetes
/// `supplementalGroups: [0]`, `docker --group-add 0`), the supervisor
/// cannot drop the group and the workload would read root-group files: the
/// launch stops, like a primary gid 0. Other inherited groups are kept,
/// shown in the plan and compared by the read-back.
#[test]
fn unprivileged_start_refuses_inherited_root_group() {
    let t = "unprivileged_start_refuses_inherited_root_group";
    if need_root(t) {
        return;
    }
    let d = scratch(t);
    // A root-group file the workload's tree contains.
    let secret = d.join("root-group-secret");
    std::fs::write(&secret, "secret\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let dir = d.display().to_string();
    let pol = write_policy(&d, &base_policy(&[&dir], &[], ""));
    let probe = p(&probe());
    let as_1500_with = |groups: &str, w: &[&str]| {
        let mut a = vec!["--reuid=1500", "--regid=1500", groups];
        a.retain(|x| !x.is_empty());
        sandbox_setpriv(&a, &pol, w)
    };
    let secret_s = secret.display().to_string();
    let r = as_1500_with("--groups=0", &[&probe, "read", &secret_s]);
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(r.stdout, "", "{}", r.explain());
    assert!(
        r.stderr.ends_with(
            "openshell-sandbox: identity: the supervisor runs as uid 1500 with supplementary group 0 (root), which it cannot drop, and the workload would keep it\n\
             hint: remove group 0 from the pod's securityContext.supplementalGroups (docker: --group-add 0), or start the supervisor as root so it can set the groups\n"
        ),
        "{}",
        r.explain()
    );
    // Control: the same start without the sandbox reads the file.
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=1500",
        "--regid=1500",
        "--groups=0",
        "--",
        &probe,
        "read",
        &secret_s,
    ]);
    let c = Run::from(c.stdin(Stdio::null()).output().unwrap());
    assert_eq!(c.stdout, format!("ok: {secret_s}\n"), "{}", c.explain());
    // Another inherited group is kept and the read-back agrees.
    let r = as_1500_with("--groups=1600", &[&probe, "status"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    assert_eq!(field(&r.stdout, "Groups"), "1600");
}
