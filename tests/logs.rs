//! `--log-format json`: every line the supervisor writes is one JSON object
//! a log collector can index without parsing the sentence — timestamp,
//! level, msg, and the fields behind the sentence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::{BIN, Run, base_policy, need_abi, probe, scratch, write_policy};
use serde_json::Value;

/// Every stderr line parsed as JSON (a line that is not JSON fails the
/// test: the workload's own output goes to stdout here).
fn lines(r: &Run) -> Vec<Value> {
    r.stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}\n{}", r.explain()))
        })
        .collect()
}

/// `2026-11-30T11:59:45.990337Z`: RFC 3339, UTC, microseconds.
fn assert_rfc3339(v: &Value) {
    let t = v["timestamp"].as_str().expect("timestamp");
    let b = t.as_bytes();
    assert_eq!(b.len(), 27, "{t}");
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        assert_eq!(b[i], c, "{t}");
    }
    assert_eq!(b[26], b'Z', "{t}");
    let digits = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap();
    assert!(digits(0..4) >= 2024, "the clock is read: {t}");
    assert!((1..=12).contains(&digits(5..7)), "{t}");
    assert!((1..=31).contains(&digits(8..10)), "{t}");
    assert!(digits(11..13) < 24 && digits(14..16) < 60 && digits(17..19) < 61);
}

fn run_json(policy: &std::path::Path, workload: &[&str]) -> Run {
    Run::from(
        Command::new(BIN)
            .arg("--log-format")
            .arg("json")
            .arg("--policy")
            .arg(policy)
            .arg("--")
            .args(workload)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

#[test]
fn json_log_info_line_carries_the_landlock_figures_it_quotes() {
    let t = "json_log_info_line_carries_the_landlock_figures_it_quotes";
    if need_abi(t, 1) {
        return;
    }
    let d = scratch(t);
    let pol = write_policy(&d, &base_policy(&[], &[], ""));
    let p = probe().display().to_string();
    let r = run_json(&pol, &[&p, "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let all = lines(&r);
    for v in &all {
        assert_rfc3339(v);
        assert_eq!(v["source"], "openshell-sandbox");
        assert!(v["msg"].is_string() && v["level"].is_string(), "{v}");
    }
    let ll = all
        .iter()
        .find(|v| v["msg"].as_str().unwrap().starts_with("landlock: "))
        .unwrap_or_else(|| panic!("no landlock line\n{}", r.explain()));
    assert_eq!(ll["level"], "info");
    assert_eq!(ll["object"], "landlock");
    assert_eq!(ll["ruleset"], "fully_enforced");
    let kernel = u64::from(common::landlock_abi());
    assert_eq!(ll["abi"].as_u64(), Some(kernel.min(10)), "{ll}");
    // The figures are the ones the sentence quotes.
    let msg = ll["msg"].as_str().unwrap();
    let n = ll["path_rules"].as_u64().unwrap();
    assert!(n >= 6, "{ll}");
    assert!(
        msg.starts_with(&format!(
            "landlock: fully enforced (ABI {}): {n} path rules, {} TCP port rule",
            ll["abi"], ll["port_rules"]
        )),
        "{ll}"
    );
    let policy_line = &all[0];
    assert_eq!(policy_line["object"], "policy");
    assert_eq!(policy_line["origin"], "flag");
    assert_eq!(policy_line["path"], pol.display().to_string());
}

#[test]
fn json_log_warning_for_a_dropped_rule_has_a_kind() {
    let t = "json_log_warning_for_a_dropped_rule_has_a_kind";
    if need_abi(t, 1) {
        return;
    }
    let d = scratch(t);
    let missing = d.join("missing").display().to_string();
    let pol = write_policy(
        &d,
        &base_policy(&[&missing], &[], "landlock: {compatibility: best_effort}\n"),
    );
    let p = probe().display().to_string();
    let r = run_json(&pol, &[&p, "true"]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let all = lines(&r);
    let w = all
        .iter()
        .find(|v| v["msg"].as_str().unwrap().contains(&missing))
        .unwrap_or_else(|| panic!("no line for {missing}\n{}", r.explain()));
    assert_eq!(w["level"], "warning", "{w}");
    assert_eq!(w["kind"], "dropped", "{w}");
    assert_eq!(
        w["msg"],
        format!("filesystem rule for {missing} skipped: does not exist")
    );
    assert_rfc3339(w);
    // Gaps of the node are info lines of their own kind.
    assert!(
        all.iter()
            .any(|v| v["kind"] == "host_limit" && v["level"] == "info"),
        "{}",
        r.explain()
    );
}

#[test]
fn json_log_error_with_exit_125_names_object_cause_and_hint() {
    let d = scratch("json_log_error_with_exit_125");
    let missing = d.join("nope.yaml");
    let r = run_json(&missing, &["/bin/true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    let all = lines(&r);
    assert_eq!(all.len(), 1, "one line, no text after it\n{}", r.explain());
    let e = &all[0];
    assert_rfc3339(e);
    assert_eq!(e["level"], "error");
    assert_eq!(e["exit_code"], 125);
    assert_eq!(e["group"], "host");
    assert_eq!(e["object"], format!("policy {}", missing.display()));
    assert_eq!(e["cause"], "cannot open: no such file or directory");
    assert_eq!(
        e["msg"],
        format!(
            "policy {}: cannot open: no such file or directory",
            missing.display()
        )
    );
    assert!(e["hint"].as_str().unwrap().contains("ConfigMap"), "{e}");

    // A policy error: one line per problem, located.
    let bad = write_policy(
        &d,
        "version: 1\nfilesystem_policy:\n  read_write: [tmp/x]\n",
    );
    let r = run_json(&bad, &["/bin/true"]);
    assert_eq!(r.code, 125, "{}", r.explain());
    let all = lines(&r);
    assert_eq!(all.len(), 1, "{}", r.explain());
    let e = &all[0];
    assert_eq!(e["group"], "policy");
    assert_eq!(e["object"], bad.display().to_string());
    assert_eq!((e["line"].as_u64(), e["col"].as_u64()), (Some(3), Some(16)));
    assert_eq!(e["field"], "filesystem_policy.read_write[0]");
    assert_eq!(e["cause"], "\"tmp/x\" is not an absolute path");
    assert_eq!(e["hint"], "write it from the root, e.g. \"/tmp/x\"");
    assert!(!e["msg"].as_str().unwrap().contains("hint:"), "{e}");
}

#[test]
fn text_log_lines_are_unchanged_by_the_json_fields() {
    let d = scratch("text_log_lines_are_unchanged");
    let missing = d.join("nope.yaml");
    let r = Run::from(
        Command::new(BIN)
            .arg("--policy")
            .arg(&missing)
            .args(["--", "/bin/true"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 125);
    assert_eq!(
        r.stderr,
        format!(
            "openshell-sandbox: policy {}: cannot open: no such file or directory\nhint: mount the policy (e.g. a ConfigMap) there, or fix --policy / $OPENSHELL_POLICY\n",
            missing.display()
        )
    );
}
