//! The `unsafe` fence: the crate denies `unsafe_code` (Cargo.toml), and
//! only the syscall wrappers in `src/sys/` and the allocator in
//! `src/alloc.rs` allow it. Any other file that mentions `unsafe` — a
//! block, an `allow`, even a comment that would hide one from a reviewer's
//! grep — fails this test. (clippy's `undocumented_unsafe_blocks`, denied
//! in Cargo.toml, makes every block inside the fence carry its `SAFETY:`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

const FENCED: [&str; 2] = ["src/sys/", "src/alloc.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `(file, line number, line)` for every line that mentions `unsafe` as a
/// word.
fn mentions(root: &Path) -> Vec<(String, usize, String)> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut hits = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let word = line.match_indices("unsafe").any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + 6..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if word {
                hits.push((rel.clone(), i + 1, line.trim().to_string()));
            }
        }
    }
    hits
}

fn fenced(file: &str) -> bool {
    FENCED.iter().any(|f| file == *f || file.starts_with(f))
}

#[test]
fn unsafe_code_lives_only_in_the_fenced_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hits = mentions(root);
    // Control: the scan does see the wrappers, so an empty result below
    // is not a scan that found nothing anywhere.
    assert!(
        hits.iter()
            .any(|(f, _, l)| f == "src/sys/mod.rs" && l.contains("unsafe {")),
        "the scan found no unsafe block in src/sys/mod.rs"
    );
    let outside: Vec<String> = hits
        .iter()
        .filter(|(f, _, _)| !fenced(f))
        .map(|(f, n, l)| format!("{f}:{n}: {l}"))
        .collect();
    assert!(
        outside.is_empty(),
        "unsafe outside src/sys/ and src/alloc.rs:\n{}",
        outside.join("\n")
    );
}

#[test]
fn the_crate_denies_unsafe_and_only_the_fence_allows_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("unsafe_code = \"deny\""),
        "Cargo.toml must deny unsafe_code"
    );
    for f in ["src/sys/mod.rs", "src/alloc.rs"] {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        assert!(text.contains("#![allow(unsafe_code)]"), "{f}");
    }
}
