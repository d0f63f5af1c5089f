//! OpenShell compatibility corpus (our own documents, written after
//! OpenShell's validation rules): every document under
//! tests/data/openshell-compat/valid passes `check`, every one under
//! invalid/ fails with exactly the FILE:LINE:COL message pinned in the
//! NAME.err beside it. A deliberate difference from OpenShell is listed in
//! policy/README.md ("Differences from OpenShell"), not here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn docs(kind: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/openshell-compat")
        .join(kind);
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no documents in {}", dir.display());
    v
}

/// `check --policy NAME` run in the corpus directory: (exit code, stderr).
fn check(kind: &str, name: &str) -> (i32, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/openshell-compat")
        .join(kind);
    let out = Command::new(env!("CARGO_BIN_EXE_openshell-sandbox"))
        .args(["check", "--policy", name])
        .current_dir(&dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn openshell_valid_documents_pass_check() {
    for name in docs("valid") {
        let (code, stderr) = check("valid", &name);
        assert_eq!(code, 0, "{name} was refused:\n{stderr}");
    }
}

#[test]
fn openshell_invalid_documents_fail_with_their_pinned_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/openshell-compat/invalid");
    for name in docs("invalid") {
        let (code, stderr) = check("invalid", &name);
        assert_ne!(code, 0, "{name} was accepted");
        let want = std::fs::read_to_string(dir.join(name.replace(".yaml", ".err"))).unwrap();
        assert_eq!(stderr, want, "{name}: message differs");
    }
}
