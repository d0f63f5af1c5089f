//! The module import graph of `src/` has no cycle.
//!
//! Each mechanism module owns its plan type, its planner and its apply
//! step; `plan` only composes them, `apply` only orders the steps, and
//! `verify` reads plan data. A module that imports `plan` for a type it
//! also feeds into the plan would close a loop; this test finds such loops
//! from the source text alone, so it needs no extra tool.
//!
//! Rules:
//! - **Nodes** are module files: `src/x.rs` and `src/x/mod.rs` are `x`,
//!   `src/x/y.rs` is `x::y`. Submodules are nodes of their own, so a loop
//!   `plan -> cdi::grants -> plan` is named as such.
//! - **Edges** come from `use` declarations (brace groups, `self` in a
//!   group, multi-line, `pub use` re-exports included) and from paths in
//!   code: `crate::…`, `super::…`, `self::…`, and in a directory module's
//!   `mod.rs` a path through one of its own child modules (`spec::load`).
//!   A path maps to the longest module prefix it names (`crate::cdi::CdiPlan`
//!   is `cdi`, `crate::cdi::grants::plan` is `cdi::grants`).
//! - **Parent and child**: a submodule's references to its own ancestors
//!   (`super::Arch` in `seccomp::bpf`, `crate::cdi::…` inside `cdi/`) are
//!   not counted; everything else is, a parent's use of its children
//!   included. A directory's `mod.rs` holds what its children share and
//!   re-exports their API, so counting both directions would make every
//!   directory module a loop by construction, while the downward edges
//!   are the ones that carry a loop out of the directory and back
//!   (`plan -> cdi -> cdi::fallback -> plan`). What this leaves unseen is
//!   a loop whose only way back is a child's use of its parent. A `mod x;`
//!   declaration is not an edge: it places a file, it imports nothing.
//! - **Left out**: test code — `#[cfg(test)]` items (the usual `mod tests`)
//!   and the files they load (`seccomp/tests.rs`, `seccomp/kernel_tests.rs`);
//!   `lib.rs`, the crate root, which only declares the modules and hands
//!   argv to `cli` and `run`, and which no module imports; `main.rs`, a
//!   separate binary crate that calls into the library by its name.
//!
//! `cargo test --test module_graph -- --nocapture` prints the graph, one
//! module per line with what it imports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Test code loaded by a `#[cfg(test)] mod x;` declaration.
const TEST_FILES: [&str; 2] = ["seccomp/tests.rs", "seccomp/kernel_tests.rs"];

/// The source with comments, string and char literals blanked (newlines
/// kept), so braces and `crate::` in them are not read as code.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &[u8]| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'/' && next == Some(b'*') {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &b[i..j]);
            i = j;
        } else if (c == b'r' || (c == b'b' && next == Some(b'r')))
            && !prev_is_ident(b, i)
            && raw_string_start(b, if c == b'b' { i + 1 } else { i }).is_some()
        {
            let start = if c == b'b' { i + 1 } else { i };
            let (hashes, body) = raw_string_start(b, start).unwrap();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let end = b[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| body + p + close.len());
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = if next == Some(b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 3 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 3)
            } else {
                // Multi-byte char literal or a lifetime.
                let rest = &src[i + 1..];
                let ch = rest.chars().next();
                match ch {
                    Some(ch) if rest[ch.len_utf8()..].starts_with('\'') => {
                        Some(i + 1 + ch.len_utf8() + 1)
                    }
                    _ => None,
                }
            };
            match end {
                Some(e) => {
                    blank(&mut out, &b[i..e]);
                    i = e;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn prev_is_ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// At `r`: `r"`, `r#"`, ... gives (number of hashes, index after the quote).
fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if b.get(i) != Some(&b'r') {
        return None;
    }
    let mut j = i + 1;
    while b.get(j) == Some(&b'#') {
        j += 1;
    }
    (b.get(j) == Some(&b'"')).then_some((j - i - 1, j + 1))
}

/// Blank every item under `#[cfg(test)]`: up to its `;`, or its balanced
/// `{ … }` block. Works on stripped source.
fn drop_test_items(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(p) = out[from..].find("#[cfg(test)]") {
        let start = from + p;
        let b = out.as_bytes();
        let mut j = start + "#[cfg(test)]".len();
        let mut depth = 0usize;
        let mut end = b.len();
        while j < b.len() {
            match b[j] {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    end = j + 1;
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let blanked: String = out[start..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(start..end, &blanked);
        from = end;
    }
    out
}

/// Expand a use tree (`crate::{a, b::{c, self}}`) into full paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn go(prefix: &[String], s: &str, out: &mut Vec<Vec<String>>) {
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        if let Some(open) = s.find('{') {
            let head: Vec<String> = s[..open]
                .split("::")
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect();
            let close = s.rfind('}').unwrap_or(s.len());
            let inner = &s[open + 1..close];
            let mut p = prefix.to_vec();
            p.extend(head);
            // Split the group at top-level commas.
            let mut depth = 0;
            let mut last = 0;
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&p, &inner[last..k], out);
                        last = k + 1;
                    }
                    _ => {}
                }
            }
            go(&p, &inner[last..], out);
        } else {
            let s = s.split(" as ").next().unwrap_or(s);
            let mut p = prefix.to_vec();
            for seg in s.split("::").map(str::trim).filter(|x| !x.is_empty()) {
                if seg != "self" || p.is_empty() {
                    p.push(seg.to_string());
                }
            }
            out.push(p);
        }
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Paths written in code (not in `use`): each `crate::a::b`, `super::a`,
/// `self::a` or `child::a` (for a child module name) with its segments.
fn code_paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if is_ident(c) && (i == 0 || !(is_ident(b[i - 1] as char) || b[i - 1] == b':')) {
            let mut j = i;
            let mut segs = Vec::new();
            loop {
                let s = j;
                while j < b.len() && is_ident(b[j] as char) {
                    j += 1;
                }
                if s == j {
                    break;
                }
                segs.push(code[s..j].to_string());
                let mut k = j;
                while k < b.len() && (b[k] as char).is_whitespace() {
                    k += 1;
                }
                if code[k..].starts_with("::") {
                    k += 2;
                    while k < b.len() && (b[k] as char).is_whitespace() {
                        k += 1;
                    }
                    j = k;
                } else {
                    break;
                }
            }
            let first = segs[0].as_str();
            if segs.len() > 1
                && (matches!(first, "crate" | "super" | "self") || children.contains(first))
            {
                out.push(segs);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// `use …;` declarations: (start, end) byte ranges and their trees.
fn use_decls(code: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(p) = code[from..].find("use") {
        let s = from + p;
        let e = s + 3;
        let word_start = s == 0 || !is_ident(b[s - 1] as char);
        let word_end = e < b.len() && (b[e] as char).is_whitespace();
        if word_start && word_end {
            if let Some(semi) = code[e..].find(';') {
                out.push((s, e + semi + 1, code[e..e + semi].to_string()));
                from = e + semi + 1;
                continue;
            }
        }
        from = e;
    }
    out
}

/// Every path a module's (stripped) code refers to within the crate:
/// `use` trees expanded, then paths in the code outside them.
fn references(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = String::with_capacity(code.len());
    let mut last = 0;
    for (s, e, tree) in use_decls(code) {
        for p in expand_use(&tree) {
            let first = p.first().map(String::as_str).unwrap_or("");
            if matches!(first, "crate" | "super" | "self") || children.contains(first) {
                paths.push(p);
            }
        }
        rest.push_str(&code[last..s]);
        last = e;
    }
    rest.push_str(&code[last..]);
    paths.extend(code_paths(&rest, children));
    paths
}

/// Module name of a file under src/ (`None` for files left out).
fn module_of(rel: &str) -> Option<String> {
    if rel == "lib.rs" || rel == "main.rs" || TEST_FILES.contains(&rel) {
        return None;
    }
    let rel = rel.strip_suffix(".rs")?;
    let rel = rel.strip_suffix("/mod").unwrap_or(rel);
    Some(rel.replace('/', "::"))
}

/// The module a path names: its longest prefix that is a module.
fn resolve(path: &[String], here: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut base: Vec<String> = here.split("::").map(String::from).collect();
    // For a file module `a::b`, `self` is `a::b` and `super` is `a`.
    let mut rest = path;
    let first = rest.first()?.as_str();
    let mut abs: Vec<String> = match first {
        "crate" => {
            rest = &rest[1..];
            Vec::new()
        }
        "self" => {
            rest = &rest[1..];
            base.clone()
        }
        "super" => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            base.clone()
        }
        // A child module's name: relative to this module.
        _ => base.clone(),
    };
    abs.extend(rest.iter().cloned());
    (1..=abs.len())
        .rev()
        .map(|n| abs[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The graph of `src/` under the rules in this file's doc comment.
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut by_module = BTreeMap::new();
    for f in &files {
        let rel = f
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if let Some(m) = module_of(&rel) {
            by_module.insert(
                m,
                (rel.ends_with("mod.rs"), std::fs::read_to_string(f).unwrap()),
            );
        }
    }
    let modules: BTreeSet<String> = by_module.keys().cloned().collect();
    let mut g = Graph::new();
    for (m, (is_dir, text)) in &by_module {
        let code = drop_test_items(&strip(text));
        let children: BTreeSet<String> = if *is_dir {
            modules
                .iter()
                .filter_map(|x| x.strip_prefix(&format!("{m}::")))
                .filter(|x| !x.contains("::"))
                .map(String::from)
                .collect()
        } else {
            BTreeSet::new()
        };
        let paths = references(&code, &children);
        let deps = g.entry(m.clone()).or_default();
        for p in paths {
            if let Some(t) = resolve(&p, m, &modules) {
                // Not counted: the module itself, and its own ancestors.
                if !(m == &t || m.starts_with(&format!("{t}::"))) {
                    deps.insert(t);
                }
            }
        }
    }
    g
}

/// Every strongly connected component with more than one module (Tarjan):
/// its members, and one loop through its least member (`a -> b -> c -> a`).
fn cycles(g: &Graph) -> Vec<(BTreeSet<String>, Vec<String>)> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        sccs: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                t.sccs.push(scc);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        sccs: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    // One concrete loop per component: breadth-first from its least
    // member back to itself, within the component.
    let mut out = Vec::new();
    for scc in t.sccs {
        let set: BTreeSet<&str> = scc.iter().copied().collect();
        let start = *set.iter().next().unwrap();
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut found = None;
        'bfs: while let Some(v) = queue.pop_front() {
            for w in g.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !set.contains(w) {
                    continue;
                }
                if w == start {
                    found = Some(v);
                    break 'bfs;
                }
                if !prev.contains_key(w) {
                    prev.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        let mut cycle = vec![start.to_string()];
        let mut v = found.unwrap();
        let mut back = vec![v.to_string()];
        while v != start {
            v = prev[v];
            if v != start {
                back.push(v.to_string());
            }
        }
        back.reverse();
        cycle.extend(back);
        cycle.push(start.to_string());
        out.push((set.iter().map(|m| m.to_string()).collect(), cycle));
    }
    out
}

fn render(g: &Graph) -> String {
    let mut s = String::new();
    for (m, deps) in g {
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        s.push_str(&format!("{m} -> {}\n", deps.join(", ")));
    }
    s
}

#[test]
fn the_module_graph_has_no_cycle() {
    let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    println!("{}", render(&g));
    // The graph is read, not empty: the pipeline's own edges are there.
    for (from, to) in [
        ("run", "plan"),
        ("apply", "capabilities"),
        ("plan", "seccomp"),
    ] {
        assert!(
            g.get(from).is_some_and(|d| d.contains(to)),
            "{from} -> {to} missing from the graph:\n{}",
            render(&g)
        );
    }
    let found = cycles(&g);
    let mut why = String::new();
    for (members, c) in &found {
        why.push_str(&format!("  {}\n    edges among them:", c.join(" -> ")));
        for m in members {
            for d in g[m].iter().filter(|d| members.contains(*d)) {
                why.push_str(&format!(" {m}->{d}"));
            }
        }
        why.push('\n');
    }
    assert!(
        found.is_empty(),
        "the module graph has cycles (one loop per strongly connected set of modules):\n{why}\ngraph:\n{}",
        render(&g)
    );
}

fn synthetic(edges: &[(&str, &str)]) -> Graph {
    let mut g = Graph::new();
    for (a, b) in edges {
        g.entry(a.to_string()).or_default().insert(b.to_string());
        g.entry(b.to_string()).or_default();
    }
    g
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle_and_passes_a_dag() {
    let dag = synthetic(&[("run", "plan"), ("plan", "identity"), ("run", "identity")]);
    assert!(cycles(&dag).is_empty());
    let members: Vec<Vec<String>> = cycles(&synthetic(&[
        ("a", "b"),
        ("b", "c"),
        ("c", "b"),
        ("c", "a"),
    ]))
    .into_iter()
    .map(|(m, _)| m.into_iter().collect())
    .collect();
    assert_eq!(members, [["a", "b", "c"]]);
    let g = synthetic(&[
        ("run", "plan"),
        ("plan", "identity"),
        ("identity", "probe"),
        ("probe", "plan"),
        ("apply", "verify"),
        ("verify", "apply"),
        ("run", "apply"),
    ]);
    assert_eq!(
        cycles(&g).into_iter().map(|(_, c)| c).collect::<Vec<_>>(),
        [
            vec!["apply", "verify", "apply"],
            vec!["identity", "probe", "plan", "identity"],
        ]
    );
}

#[test]
fn the_parser_reads_every_kind_of_reference() {
    let src = r#"
//! Docs mention crate::doc_only::X.
use crate::{a, b::{c, self}, d::E as F};
use super::sibling;
pub use crate::g
    ::H;
use std::fmt;
fn f() -> crate::h::I {
    let s = "crate::in_string::X";
    let c = '{';
    child::run();
    self::child::go();
    crate::a::b::c::d();
}
#[cfg(test)]
mod tests {
    use crate::only_in_tests;
    fn g() { crate::test_only::x(); }
}
"#;
    let modules: BTreeSet<String> = [
        "a",
        "b",
        "b::c",
        "d",
        "g",
        "h",
        "x",
        "x::child",
        "x::sibling",
        "doc_only",
        "in_string",
        "only_in_tests",
        "test_only",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let code = drop_test_items(&strip(src));
    let children: BTreeSet<String> = ["child".to_string()].into();
    let deps: BTreeSet<String> = references(&code, &children)
        .iter()
        .filter_map(|p| resolve(p, "x", &modules))
        .collect();
    let want: BTreeSet<String> = ["a", "b", "b::c", "d", "g", "h", "x::child"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(deps, want);
    // `super::sibling` from a file module `x::y` is `x::sibling`.
    let p = expand_use("super::sibling");
    assert_eq!(
        resolve(&p[0], "x::y", &modules).as_deref(),
        Some("x::sibling")
    );
}
