//! Release bundles: cross/bundle.sh makes them, cross/verify-bundle.sh
//! must accept them and refuse every tampered variant with its message.
//!
//! The tampering tests bundle the test binary (debug info stripped to keep
//! them quick) for this machine's arch, then rewrite the tarball with
//! tests/bundle/tamper.py, one broken rule per variant. The release test
//! bundles what cross/build.sh built for both arches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{BIN, Run, scratch, skip};

const BINARY: &str = "opt/openshell/bin/openshell-sandbox";
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    Path::new(BIN)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

fn host_arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "amd64"
    } else {
        "arm64"
    }
}

fn other_arch() -> &'static str {
    if host_arch() == "amd64" {
        "arm64"
    } else {
        "amd64"
    }
}

fn top() -> String {
    format!("openshell-sandbox-{VERSION}-{}", host_arch())
}

fn script(name: &str) -> Command {
    let mut c = Command::new(repo().join("cross").join(name));
    c.env("CARGO_TARGET_DIR", target_dir());
    c
}

fn verify(tarball: &Path, arch: Option<&str>) -> Run {
    let mut c = script("verify-bundle.sh");
    c.arg(tarball);
    if let Some(a) = arch {
        c.arg(a);
    }
    Run::from(c.output().unwrap())
}

/// The binary the tampering tests bundle, and its size.
struct Good {
    tarball: PathBuf,
    size: u64,
}

/// A bundle of the test binary for this arch, made once per run.
fn good() -> &'static Good {
    static G: OnceLock<Good> = OnceLock::new();
    G.get_or_init(|| {
        let dir = scratch("bundle_good");
        let small = dir.join("openshell-sandbox");
        let stripped = Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(&small)
            .arg(BIN)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(BIN, &small).unwrap();
        }
        let out = dir.join("dist");
        let r = Run::from(
            script("bundle.sh")
                .arg("--out")
                .arg(&out)
                .arg("--bin")
                .arg(&small)
                .arg("--arch")
                .arg(host_arch())
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 0, "{}", r.explain());
        Good {
            tarball: out.join(format!("{}.tar.gz", top())),
            size: std::fs::metadata(&small).unwrap().len(),
        }
    })
}

/// Tamper with the good bundle; verify-bundle must exit 1 with `message`.
fn refused(variant: &str, message: &str) {
    refused_with(variant, Some(host_arch()), |got| got == message, message);
}

fn refused_with(variant: &str, arch: Option<&str>, ok: impl Fn(&str) -> bool, message: &str) {
    let dir = scratch(&format!("bundle_{variant}"));
    let bad = dir.join("bad.tar.gz");
    let t = Run::from(
        Command::new("python3")
            .arg(repo().join("tests/bundle/tamper.py"))
            .arg(&good().tarball)
            .arg(&bad)
            .arg(variant)
            .output()
            .unwrap(),
    );
    assert_eq!(t.code, 0, "tamper {variant}: {}", t.explain());
    let r = verify(&bad, arch);
    let prefix = format!("verify-bundle: {}: ", bad.display());
    let line = r
        .stderr
        .strip_prefix(&prefix)
        .unwrap_or(&r.stderr)
        .trim_end();
    assert_eq!(r.code, 1, "{variant}: {}", r.explain());
    assert!(r.stderr.starts_with(&prefix), "{variant}: {}", r.explain());
    assert_eq!(r.stderr.lines().count(), 1, "{variant}: {}", r.explain());
    assert!(ok(line), "{variant}: got {line:?}, expected {message:?}");
}

#[test]
fn verify_bundle_accepts_a_fresh_bundle() {
    let g = good();
    let r = verify(&g.tarball, Some(host_arch()));
    assert_eq!(r.code, 0, "{}", r.explain());
    assert!(
        r.stdout.starts_with(&format!(
            "verify-bundle: {}: ok: openshell-sandbox {VERSION} (",
            g.tarball.display()
        )),
        "{}",
        r.explain()
    );
    // Without ARCH only the manifest and the ELF machine are compared.
    assert_eq!(verify(&g.tarball, None).code, 0);
}

#[test]
fn bundle_is_deterministic() {
    let g = good();
    let again = scratch("bundle_again");
    let r = Run::from(
        script("bundle.sh")
            .arg("--out")
            .arg(&again)
            .arg("--bin")
            .arg(
                g.tarball
                    .parent()
                    .unwrap()
                    .parent()
                    .unwrap()
                    .join("openshell-sandbox"),
            )
            .arg("--arch")
            .arg(host_arch())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    let a = std::fs::read(&g.tarball).unwrap();
    let b = std::fs::read(again.join(format!("{}.tar.gz", top()))).unwrap();
    assert!(a == b, "two bundles of one binary differ");
}

#[test]
fn bundle_refuses_a_binary_for_another_arch() {
    let g = good();
    let dir = scratch("bundle_wrong_arch");
    let small = g
        .tarball
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("openshell-sandbox");
    let r = Run::from(
        script("bundle.sh")
            .arg("--out")
            .arg(&dir)
            .arg("--bin")
            .arg(&small)
            .arg("--arch")
            .arg(other_arch())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(
        r.stderr,
        format!(
            "bundle.sh: {} is built for {}, not {}\n",
            small.display(),
            host_arch(),
            other_arch()
        )
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn verify_bundle_refuses_more_than_one_top_level_entry() {
    refused(
        "two_top_level",
        &format!("more than one top-level entry: README, {}", top()),
    );
}

#[test]
fn verify_bundle_refuses_invalid_json() {
    refused_with(
        "invalid_json",
        Some(host_arch()),
        |l| l.starts_with("manifest.json is not valid JSON: "),
        "manifest.json is not valid JSON: ...",
    );
}

#[test]
fn verify_bundle_refuses_an_arch_other_than_asked() {
    let r = verify(&good().tarball, Some(other_arch()));
    assert_eq!(r.code, 1, "{}", r.explain());
    assert_eq!(
        r.stderr,
        format!(
            "verify-bundle: {}: arch mismatch: expected {}, the manifest says {}\n",
            good().tarball.display(),
            other_arch(),
            host_arch()
        )
    );
}

#[test]
fn verify_bundle_refuses_a_manifest_arch_the_binary_does_not_have() {
    refused_with(
        "manifest_arch_vs_elf",
        None,
        |l| {
            l == format!(
                "arch mismatch: the manifest says {} but {BINARY} is built for {}",
                other_arch(),
                host_arch()
            )
        },
        "arch mismatch: the manifest says OTHER but ... is built for HOST",
    );
}

#[test]
fn verify_bundle_refuses_a_checksum_mismatch() {
    refused_with(
        "checksum",
        Some(host_arch()),
        |l| l.starts_with(&format!("checksum mismatch for {BINARY}: manifest sha256 ")),
        "checksum mismatch for ...",
    );
}

#[test]
fn verify_bundle_refuses_a_size_mismatch() {
    let size = good().size;
    refused(
        "size",
        &format!(
            "size mismatch for {BINARY}: manifest {} bytes, archive {size} bytes",
            size + 1
        ),
    );
}

#[test]
fn verify_bundle_refuses_a_missing_required_path() {
    refused(
        "missing_required",
        &format!("missing required path {BINARY}"),
    );
}

#[test]
fn verify_bundle_refuses_a_listed_file_the_archive_lacks() {
    refused(
        "listed_but_missing",
        "opt/openshell/bin/helper is listed in the manifest but missing from the archive",
    );
}

#[test]
fn verify_bundle_refuses_an_extra_unlisted_file() {
    refused("unlisted_file", "unlisted file opt/openshell/bin/helper");
}

#[test]
fn verify_bundle_refuses_an_extra_directory() {
    refused("unlisted_directory", "unlisted directory etc");
}

#[test]
fn verify_bundle_refuses_a_missing_manifest() {
    refused(
        "missing_manifest",
        &format!("missing {}/manifest.json", top()),
    );
}

#[test]
fn verify_bundle_refuses_a_top_level_directory_the_manifest_does_not_name() {
    refused(
        "wrong_top_level",
        &format!(
            "top-level directory 'payload' does not match the manifest (expected '{}')",
            top()
        ),
    );
}

#[test]
fn verify_bundle_refuses_path_traversal() {
    refused(
        "path_traversal",
        &format!(
            "unsafe path '{}/../evil': empty, '.' or '..' component",
            top()
        ),
    );
}

#[test]
fn verify_bundle_refuses_an_absolute_path() {
    refused("absolute_path", "unsafe path '/etc/cron.d/evil': absolute");
}

#[test]
fn verify_bundle_refuses_a_symlink() {
    refused(
        "symlink",
        &format!(
            "entry '{}/opt/openshell/bin/sh' is a symlink to '/bin/sh'; \
             only regular files and directories are allowed",
            top()
        ),
    );
}

#[test]
fn verify_bundle_refuses_a_hard_link() {
    refused(
        "hardlink",
        &format!(
            "entry '{t}/opt/openshell/bin/again' is a hard link to '{t}/{BINARY}'; \
             only regular files and directories are allowed",
            t = top()
        ),
    );
}

#[test]
fn verify_bundle_refuses_a_duplicate_entry_that_would_shadow_the_binary() {
    refused(
        "duplicate",
        &format!("duplicate entry '{}/{BINARY}'", top()),
    );
}

#[test]
fn verify_bundle_refuses_a_mode_mismatch() {
    refused(
        "mode",
        &format!("mode mismatch for {BINARY}: manifest 0755, archive 0644"),
    );
}

#[test]
fn verify_bundle_refuses_a_binary_that_is_not_executable() {
    refused(
        "not_executable",
        &format!("{BINARY} is not executable (mode 0644)"),
    );
}

#[test]
fn verify_bundle_refuses_an_uncompressed_tar() {
    refused(
        "not_gzip",
        "not a gzip-compressed tar archive: not a gzip file",
    );
}

#[test]
fn release_bundles_for_both_arches_are_accepted() {
    let test = "release_bundles_for_both_arches_are_accepted";
    for t in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"] {
        let b = target_dir().join(t).join("release/openshell-sandbox");
        if !b.exists()
            && skip(
                test,
                &format!("{} missing: run cross/build.sh all first", b.display()),
            )
        {
            return;
        }
    }
    let dir = scratch("bundle_release");
    let r = Run::from(
        script("bundle.sh")
            .arg("--out")
            .arg(&dir)
            .arg("all")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    for (arch, other) in [("amd64", "arm64"), ("arm64", "amd64")] {
        let tarball = dir.join(format!("openshell-sandbox-{VERSION}-{arch}.tar.gz"));
        let ok = verify(&tarball, Some(arch));
        assert_eq!(ok.code, 0, "{}", ok.explain());
        assert!(
            ok.stdout.contains(&format!(") for {arch}, 1 file(s)")),
            "{}",
            ok.explain()
        );
        let wrong = verify(&tarball, Some(other));
        assert_eq!(
            wrong.stderr,
            format!(
                "verify-bundle: {}: arch mismatch: expected {other}, the manifest says {arch}\n",
                tarball.display()
            )
        );
    }
}
