//! The README's "two commands" work on a checkout: the first is taken from
//! README.md verbatim and run in the repository, so the README and this
//! test cannot drift apart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::Run;

/// The `sh` code blocks of the README's "The two commands" section, in
/// order.
fn two_commands() -> Vec<String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("The two commands\n"))
        .expect("README.md has a \"The two commands\" section");
    section
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("\n```").next().unwrap().to_string())
        .collect()
}

#[test]
fn readme_first_command_runs_a_workload_from_the_checkout() {
    let blocks = two_commands();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    let first = &blocks[0];
    assert!(!first.contains('\n'), "one line: {first:?}");
    assert!(
        first.starts_with("cargo run --release -- -- "),
        "builds from the clone: {first:?}"
    );
    // Run the line as written, in the checkout. tests/run.sh builds the
    // release binary before the tests, so cargo only checks it is fresh.
    let r = Run::from(
        Command::new("sh")
            .arg("-c")
            .arg(first)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("OPENSHELL_POLICY")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{first}\n{}", r.explain());
    assert!(r.stdout.starts_with("uid="), "{}", r.explain());
    assert!(
        r.stdout.contains("/etc is read-only\n"),
        "the write to /etc is refused\n{}",
        r.explain()
    );
    assert!(
        r.stderr.contains("touch: ") && r.stderr.contains("/etc/x"),
        "{}",
        r.explain()
    );
    let abi = common::landlock_abi();
    if abi > 0 {
        assert!(
            r.stderr
                .contains("openshell-sandbox: info: landlock: fully enforced (ABI "),
            "{}",
            r.explain()
        );
    }
    assert!(
        r.stderr
            .contains("openshell-sandbox: info: policy: embedded default policy\n"),
        "{}",
        r.explain()
    );
}

#[test]
fn readme_second_command_is_the_test_suite() {
    let blocks = two_commands();
    assert_eq!(blocks.get(1).map(String::as_str), Some("tests/run.sh"));
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/run.sh")).unwrap();
    assert!(
        m.permissions().mode() & 0o111 != 0,
        "tests/run.sh is executable"
    );
}
