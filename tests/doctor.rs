//! `openshell-sandbox doctor`: what this host provides, every line with a
//! status, on this machine and on one where Landlock is hidden.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{BIN, Run, landlock_abi, nolandlock};
use serde_json::Value;

const STATUSES: [&str; 4] = ["supported", "limited", "not supported", "info"];

fn doctor(wrapper: Option<&str>, args: &[&str]) -> Run {
    let mut c = match wrapper {
        Some(errno) => {
            let mut c = Command::new(nolandlock());
            c.arg(errno).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    Run::from(c.arg("doctor").args(args).output().unwrap())
}

/// The check lines (status first) of a text report, each split into
/// (status, name, detail), with the `means:`/`fix:` lines under it.
fn parse(text: &str) -> Vec<(String, String, String, Vec<String>)> {
    let mut out: Vec<(String, String, String, Vec<String>)> = Vec::new();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("openshell-sandbox doctor: Linux "),
        "{text}"
    );
    for l in lines {
        if l.starts_with(' ') {
            let t = l.trim_start();
            assert!(
                t.starts_with("means: ") || t.starts_with("fix: "),
                "an indented line is a means: or fix: line: {l:?}"
            );
            out.last_mut()
                .expect("a check before it")
                .3
                .push(t.to_string());
            continue;
        }
        let status = STATUSES
            .iter()
            .filter(|s| l.starts_with(*s))
            .max_by_key(|s| s.len())
            .unwrap_or_else(|| panic!("line without a status: {l:?}"));
        let rest = l[status.len()..].trim_start();
        let (name, detail) = rest.split_once("  ").unwrap();
        out.push((
            status.to_string(),
            name.to_string(),
            detail.trim_start().to_string(),
            Vec::new(),
        ));
    }
    out
}

fn line<'a>(
    c: &'a [(String, String, String, Vec<String>)],
    name: &str,
) -> &'a (String, String, String, Vec<String>) {
    c.iter()
        .find(|l| l.1 == name)
        .unwrap_or_else(|| panic!("no {name} line"))
}

#[test]
fn doctor_on_this_machine_agrees_with_the_kernel_and_every_line_has_a_status() {
    let r = doctor(None, &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let c = parse(&r.stdout);
    let abi = landlock_abi();
    let ll = line(&c, "landlock");
    if abi == 0 {
        assert_eq!(ll.0, "not supported", "{}", r.stdout);
    } else {
        assert_eq!(ll.0, "supported", "{}", r.stdout);
        assert!(ll.2.starts_with(&format!("ABI {abi} (")), "{}", r.stdout);
    }
    for (name, need) in [
        ("filesystem", 1),
        ("truncate", 3),
        ("tcp", 4),
        ("scopes", 6),
    ] {
        let f = line(&c, &format!("landlock.{name}"));
        let want = if abi.min(10) >= need {
            "supported"
        } else {
            "not supported"
        };
        assert_eq!(f.0, want, "{name}\n{}", r.stdout);
        assert!(
            f.2.starts_with(&format!("Landlock ABI {need}, Linux ")),
            "{f:?}"
        );
    }
    for name in [
        "seccomp",
        "seccomp.user_notification",
        "no_new_privs",
        "vm.memfd_noexec",
        "capabilities",
        "capabilities.setpcap",
        "identity",
        "identity.groups",
        "user_namespace",
    ] {
        line(&c, name);
    }
    // Every line that is not plainly supported says what it means.
    for l in c.iter().filter(|l| l.0 == "not supported") {
        assert!(l.3.iter().any(|m| m.starts_with("means: ")), "{l:?}");
    }
    let uid = own_uid();
    assert!(
        line(&c, "identity").2.starts_with(&format!("uid {uid} ")),
        "{}",
        r.stdout
    );

    // The same checks for tools.
    let j = doctor(None, &["--format", "json"]);
    assert_eq!(j.code, 0, "{}", j.explain());
    let v: Value = serde_json::from_str(&j.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), c.len());
    for (k, t) in checks.iter().zip(&c) {
        assert_eq!(k["name"], t.1.as_str());
        assert_eq!(k["status"], t.0.replace(' ', "_"), "{k}");
        assert_eq!(k["detail"], t.2.as_str());
    }
    assert_eq!(v["landlock_abi_known"], 10);
}

/// The uid of this test process, from /proc (no unsafe needed).
fn own_uid() -> u32 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn doctor_without_landlock_says_it_is_unavailable_and_how_to_fix_it() {
    // ENOSYS: a kernel built without Landlock.
    let r = doctor(Some("38"), &[]);
    assert_eq!(r.code, 0, "{}", r.explain());
    let c = parse(&r.stdout);
    let ll = line(&c, "landlock");
    assert_eq!(
        (ll.0.as_str(), ll.2.as_str()),
        ("not supported", "no Landlock (ENOSYS)"),
        "{}",
        r.stdout
    );
    assert!(
        ll.3.contains(
            &"fix: run on a kernel built with Landlock (Linux >= 5.13, CONFIG_SECURITY_LANDLOCK=y)"
                .to_string()
        )
    );
    assert!(
        ll.3.iter()
            .any(|m| m.starts_with("means: ") && m.contains("125"))
    );
    for f in ["filesystem", "truncate", "tcp", "scopes", "resolve_unix"] {
        assert_eq!(line(&c, &format!("landlock.{f}")).0, "not supported");
    }
    // The wrapper's own filter shows as inherited.
    let inh = line(&c, "seccomp.inherited");
    assert!(inh.2.contains("already installed"), "{}", r.stdout);

    // EPERM: a container profile that blocks the calls.
    let j = doctor(Some("1"), &["--format", "json"]);
    assert_eq!(j.code, 0, "{}", j.explain());
    let v: Value = serde_json::from_str(&j.stdout).unwrap();
    let ll = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "landlock")
        .unwrap();
    assert_eq!(ll["status"], "not_supported");
    assert_eq!(
        ll["detail"],
        "no Landlock: blocked, e.g. by a seccomp profile (EPERM)"
    );
    assert_eq!(
        ll["fix"],
        "allow landlock_create_ruleset, landlock_add_rule and landlock_restrict_self in the container's seccomp profile"
    );
}

#[test]
fn doctor_rejects_an_unknown_format_as_a_usage_error() {
    let r = doctor(None, &["--format", "yaml"]);
    assert_eq!(r.code, 2, "{}", r.explain());
    assert_eq!(
        r.stderr,
        "openshell-sandbox: --format: unknown format \"yaml\" (text or json)\n"
    );
}
