//! Records build facts for `openshell-sandbox version`: git commit, whether
//! the tree was clean, target triple, rustc version and profile. Nothing
//! time-dependent is recorded, so two builds of one commit are identical.

use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = std::env::var("OPENSHELL_BUILD_COMMIT")
        .ok()
        .or_else(|| run("git", &["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let dirty = match std::env::var("OPENSHELL_BUILD_DIRTY") {
        Ok(v) => v == "1" || v == "true",
        Err(_) => run("git", &["status", "--porcelain", "--untracked-files=no"])
            .map(|s| !s.is_empty())
            .unwrap_or(true),
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = run(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=OPENSHELL_COMMIT={commit}");
    println!("cargo:rustc-env=OPENSHELL_DIRTY={dirty}");
    println!("cargo:rustc-env=OPENSHELL_RUSTC={rustc_version}");
    println!("cargo:rustc-env=OPENSHELL_TARGET={target}");
    println!("cargo:rustc-env=OPENSHELL_PROFILE={profile}");
    println!("cargo:rerun-if-env-changed=OPENSHELL_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=OPENSHELL_BUILD_DIRTY");
    // Watch the files git really uses: in a worktree `.git` is a file
    // and `.git/HEAD` does not exist, and a missing path makes cargo rerun
    // this script, and rebuild the crate, on every build.
    for f in git_files() {
        println!("cargo:rerun-if-changed={f}");
    }
    link_layout();
    minify_schema();
    seccomp_sources();
}

/// A digest of the seccomp sources the prebuilt programs are compiled
/// from (`src/seccomp/*.rs` but the table itself and the tests), as
/// `OPENSHELL_SECCOMP_SOURCES`. The table records the digest it was
/// generated at; a launch takes a program from it by configuration alone
/// only when the two agree (`seccomp::prebuilt`), so a table left stale
/// after a change to the rules is never installed in their place. FNV-1a
/// over each file's name and bytes, in name order.
fn seccomp_sources() {
    let dir = "src/seccomp";
    println!("cargo:rerun-if-changed={dir}");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("{dir}: {e}")).file_name())
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.ends_with(".rs"))
        .filter(|n| {
            !matches!(
                n.as_str(),
                "prebuilt_table.rs" | "tests.rs" | "kernel_tests.rs"
            )
        })
        .collect();
    names.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for n in &names {
        let path = format!("{dir}/{n}");
        println!("cargo:rerun-if-changed={path}");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for b in n.bytes().chain([0]).chain(bytes) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=OPENSHELL_SECCOMP_SOURCES={h:016x}");
}

/// For cross/build.sh (`OPENSHELL_LINK_LAYOUT=1`, rust-lld): link the
/// functions a launch runs first, from this architecture's list
/// (cross/launch-order/<arch>.txt), with cross/launch.ld, and write the
/// link map to `$OPENSHELL_LINK_MAP_DIR/<target>.map`, where
/// cross/verify.sh counts how much of the list this build has.
/// Here rather than in the flags: each architecture gets its own list,
/// and cargo relinks when a list or the script changes.
fn link_layout() {
    println!("cargo:rerun-if-env-changed=OPENSHELL_LINK_LAYOUT");
    println!("cargo:rerun-if-env-changed=OPENSHELL_LINK_MAP_DIR");
    if std::env::var("OPENSHELL_LINK_LAYOUT").as_deref() != Ok("1") {
        return;
    }
    let var = |k: &str| std::env::var(k).unwrap_or_else(|e| panic!("{k}: {e}"));
    let dir = var("CARGO_MANIFEST_DIR");
    let order = format!(
        "{dir}/cross/launch-order/{}.txt",
        var("CARGO_CFG_TARGET_ARCH")
    );
    let script = format!("{dir}/cross/launch.ld");
    println!("cargo:rerun-if-changed={script}");
    assert!(std::path::Path::new(&script).is_file(), "{script}: missing");
    println!("cargo:rustc-link-arg-bins=--script={script}");
    // No list yet (cross/launch-order.sh writes the first one from a build
    // without it): cross/verify.sh fails a build that has none.
    println!("cargo:rerun-if-changed={order}");
    if std::path::Path::new(&order).is_file() {
        println!("cargo:rustc-link-arg-bins=--symbol-ordering-file={order}");
    }
    if let Ok(maps) = std::env::var("OPENSHELL_LINK_MAP_DIR") {
        std::fs::create_dir_all(&maps).unwrap_or_else(|e| panic!("{maps}: {e}"));
        println!(
            "cargo:rustc-link-arg-bins=-Map={maps}/{}.map",
            var("TARGET")
        );
        // The map's names as the list spells them.
        println!("cargo:rustc-link-arg-bins=--no-demangle");
    }
}

/// `policy/schema.json` without the whitespace between tokens, for the
/// binary to embed (about 14 KiB instead of 30 KiB); `schema` prints it
/// indented again, byte for byte the file (src/policy/schema.rs).
fn minify_schema() {
    let src = "policy/schema.json";
    println!("cargo:rerun-if-changed={src}");
    let text = std::fs::read_to_string(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            in_string = c == '"';
            out.push(c);
        }
    }
    let dir = std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}"));
    let dst = std::path::Path::new(&dir).join("schema.min.json");
    std::fs::write(&dst, out).unwrap_or_else(|e| panic!("{}: {e}", dst.display()));
}

/// HEAD, the index and the branch HEAD names (or packed-refs), where they
/// exist.
fn git_files() -> Vec<String> {
    let mut names = vec!["HEAD".to_string(), "index".to_string()];
    if let Some(r) = run("git", &["symbolic-ref", "-q", "HEAD"]) {
        names.push(r);
        names.push("packed-refs".to_string());
    }
    names
        .iter()
        .filter_map(|n| run("git", &["rev-parse", "--git-path", n]))
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}
