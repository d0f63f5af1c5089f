//! Property tests over the policy parser: arbitrary bytes and mutated valid
//! policies never panic, never hang, and every rejection is a diagnostic
//! with a location inside the document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use openshell_sandbox::policy::parse_str;
use proptest::prelude::*;

/// Every shipped policy, as seeds for mutation.
fn seeds() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    let mut v = vec![std::fs::read_to_string(dir.join("default.yaml")).unwrap()];
    for e in std::fs::read_dir(dir.join("examples")).unwrap() {
        v.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    v
}

/// Parse `text`; check the outcome is well-formed and fast.
fn check(text: &str) -> Result<(), TestCaseError> {
    let start = Instant::now();
    let r = parse_str("p.yaml", text);
    prop_assert!(
        start.elapsed() < Duration::from_secs(2),
        "parse took {:?}",
        start.elapsed()
    );
    if let Err(diags) = r {
        prop_assert!(!diags.is_empty(), "a rejection without a diagnostic");
        // YAML breaks lines at \n, \r\n and a lone \r.
        let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() as u32 + 1;
        for d in &diags {
            prop_assert!(!d.message.is_empty());
            prop_assert!(
                d.line >= 1 && d.line <= lines,
                "line {} outside 1..={lines}: {d}",
                d.line
            );
            prop_assert!(d.col >= 1, "column 0: {d}");
        }
    }
    Ok(())
}

/// One mutation of a policy's lines.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    Truncate(usize),
    SwapToken(usize, usize),
    Insert(usize, String),
}

const TOKENS: [&str; 16] = [
    "/", "..", "tmp", "- ", ": ", "[", "]", "{", "}", "0", "70000", "root", "\"", "&a", "*a", "\t",
];

fn mutate(text: &str, muts: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in muts {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::Truncate(i) => {
                let l = &mut lines[i % n];
                let cut = l
                    .char_indices()
                    .map(|(p, _)| p)
                    .nth(i % (l.len() + 1))
                    .unwrap_or(l.len());
                l.truncate(cut);
            }
            Mutation::SwapToken(i, t) => {
                let l = &mut lines[i % n];
                let at = l
                    .char_indices()
                    .map(|(p, _)| p)
                    .nth(i % (l.chars().count() + 1))
                    .unwrap_or(l.len());
                l.insert_str(at, TOKENS[t % TOKENS.len()]);
            }
            Mutation::Insert(i, s) => lines.insert(i % (n + 1), s.clone()),
        }
    }
    lines.join("\n") + "\n"
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapToken(a, b)),
        (any::<usize>(), "[ -~]{0,40}").prop_map(|(a, s)| Mutation::Insert(a, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-z_:\\-\\[\\]{}/ \n0-9\"'.*&!#|>]{0,400}") {
        check(&text)?;
    }

    #[test]
    fn mutated_valid_policies_never_panic(seed in 0usize..16, muts in prop::collection::vec(mutation(), 1..6)) {
        let seeds = seeds();
        let text = mutate(&seeds[seed % seeds.len()], &muts);
        check(&text)?;
    }
}

/// The seeds themselves are valid (so mutation starts from real policies).
#[test]
fn seeds_are_valid() {
    for s in seeds() {
        assert!(parse_str("p.yaml", &s).is_ok(), "{s}");
    }
}

/// Deep nesting and huge flow collections are refused quickly, not by a
/// stack overflow.
#[test]
fn pathological_documents_are_refused_quickly() {
    for text in [
        format!(
            "version: 1\nx: {}{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
        format!("version: 1\nx: {}\n", "{a: ".repeat(5_000)),
        format!(
            "version: 1\nfilesystem_policy:\n  read_only: [{}]\n",
            vec!["/a"; 100_000].join(", ")
        ),
    ] {
        let start = Instant::now();
        let r = parse_str("p.yaml", &text);
        assert!(r.is_err());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}
