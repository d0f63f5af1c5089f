//! Temporary: the hand-written conversion against serde's, on shipped
//! documents and random mutations of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::cdi::spec::RawSpec;
use crate::policy::model::Policy;
use crate::yaml::{self, FromNode, Mark, Node, ParseOptions, Value};
use proptest::prelude::*;
use std::path::Path;

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "yaml" || x == "json" || x == "yml")
        {
            out.push(p);
        }
    }
}

fn seeds(cdi: bool) -> Vec<Node> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    if cdi {
        files(&root.join("tests/data/cdi"), &mut paths);
    } else {
        files(&root.join("policy"), &mut paths);
        files(&root.join("tests/data"), &mut paths);
    }
    paths.sort();
    let opts = ParseOptions { yaml11_octal: cdi };
    let v: Vec<Node> = paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| yaml::parse(&t, opts).ok())
        .collect();
    assert!(v.len() > 3);
    v
}

fn names() -> Vec<String> {
    let mut m = yaml::FieldMap::new();
    Policy::fields("", &mut m);
    RawSpec::fields("", &mut m);
    let mut v: Vec<String> = m.values().flatten().map(|s| s.to_string()).collect();
    v.extend(
        [
            "any",
            "zzz",
            "x",
            "a",
            "tcp",
            "Errno",
            "best_effort",
            "unlimited",
        ]
        .map(String::from),
    );
    v.sort();
    v.dedup();
    v
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            0i128,
            1,
            -1,
            443,
            65535,
            65536,
            70000,
            4294967295,
            4294967296,
            -2147483649,
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
            i128::from(i64::MIN) - 1,
        ])
        .prop_map(Value::Int),
        prop::sample::select(vec![1.5f64, f64::NAN, -0.0]).prop_map(Value::Float),
        prop::sample::select(vec![
            "",
            "x",
            "unlimited",
            "tcp",
            "best_effort",
            "hard_requirement",
            "kill",
            "errno",
            "a=b",
            "/tmp",
            "root",
            "0",
            "*",
            "Errno",
        ])
        .prop_map(|s| Value::Str(s.into())),
    ]
}

fn tree(names: Vec<String>) -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 24, 4, move |inner| {
        let key = prop::sample::select(names.clone());
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| Value::Seq(v.into_iter().map(node).collect())),
            prop::collection::btree_map(key, inner, 0..4).prop_map(|m| Value::Map(
                m.into_iter()
                    .map(|(k, v)| (node(Value::Str(k)), node(v)))
                    .collect()
            )),
        ]
    })
}

fn node(value: Value) -> Node {
    Node {
        value,
        mark: Mark { line: 0, col: 0 },
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, Value),
    Delete(usize),
    AddKey(usize, String, Value),
}

fn count(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(v) => v.iter().map(count).sum(),
        Value::Map(v) => v.iter().map(|(_, x)| count(x)).sum(),
        _ => 0,
    }
}

/// Applies `e` to the node numbered `*i` in pre-order.
fn apply(n: &mut Node, i: &mut usize, e: &Edit) -> bool {
    let target = match e {
        Edit::Replace(t, _) | Edit::Delete(t) | Edit::AddKey(t, _, _) => *t,
    };
    if *i == target {
        match e {
            Edit::Replace(_, v) => n.value = v.clone(),
            Edit::AddKey(_, k, v) => {
                if let Value::Map(m) = &mut n.value {
                    if !m.iter().any(|(x, _)| x.value == Value::Str(k.clone())) {
                        m.push((node(Value::Str(k.clone())), node(v.clone())));
                    }
                }
            }
            Edit::Delete(_) => return true,
        }
        return false;
    }
    *i += 1;
    match &mut n.value {
        Value::Seq(v) => {
            let mut del = None;
            for (j, x) in v.iter_mut().enumerate() {
                if apply(x, i, e) {
                    del = Some(j);
                }
            }
            if let Some(j) = del {
                v.remove(j);
            }
        }
        Value::Map(v) => {
            let mut del = None;
            for (j, (_, x)) in v.iter_mut().enumerate() {
                if apply(x, i, e) {
                    del = Some(j);
                }
            }
            if let Some(j) = del {
                v.remove(j);
            }
        }
        _ => {}
    }
    false
}

/// Distinct marks so a misplaced error cannot hide.
fn number(n: &mut Node, next: &mut u32) {
    *next += 1;
    n.mark = Mark {
        line: *next,
        col: 1,
    };
    match &mut n.value {
        Value::Seq(v) => v.iter_mut().for_each(|x| number(x, next)),
        Value::Map(v) => v.iter_mut().for_each(|(k, x)| {
            number(k, next);
            number(x, next);
        }),
        _ => {}
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let names = names();
    prop_oneof![
        (0usize..400, tree(names.clone())).prop_map(|(i, v)| Edit::Replace(i, v)),
        (0usize..400).prop_map(Edit::Delete),
        (
            0usize..400,
            prop::sample::select(names.clone()),
            tree(names)
        )
            .prop_map(|(i, k, v)| Edit::AddKey(i, k, v)),
    ]
}

fn check<T: FromNode + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    n: &Node,
) -> Result<(), TestCaseError> {
    let old = yaml::serde_de::serde_from_node_partial::<T>(n);
    let new = yaml::from_node_partial::<T>(n);
    prop_assert_eq!(&old.1, &new.1, "{:?}", n);
    prop_assert_eq!(&old.0, &new.0);
    let old = yaml::serde_de::serde_from_node_partial::<serde_json::Value>(n);
    let new = yaml::from_node_partial::<serde_json::Value>(n);
    prop_assert_eq!(&old.1, &new.1);
    prop_assert_eq!(format!("{:?}", old.0), format!("{:?}", new.0));
    Ok(())
}

fn mutated(cdi: bool) -> impl Strategy<Value = Node> {
    let seeds = seeds(cdi);
    (0..seeds.len(), prop::collection::vec(edit(), 1..5)).prop_map(move |(s, edits)| {
        let mut n = seeds[s].clone();
        let total = count(&n);
        for e in &edits {
            let e = match e.clone() {
                Edit::Replace(i, v) => Edit::Replace(i % total, v),
                Edit::Delete(i) => Edit::Delete(1 + i % total.max(2)),
                Edit::AddKey(i, k, v) => Edit::AddKey(i % total, k, v),
            };
            apply(&mut n, &mut 0, &e);
        }
        number(&mut n, &mut 0);
        n
    })
}

#[test]
fn seeds_agree() {
    for n in seeds(false) {
        check::<Policy>(&n).unwrap();
    }
    for n in seeds(true) {
        check::<RawSpec>(&n).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn policies_agree(n in mutated(false)) {
        check::<Policy>(&n)?;
    }

    #[test]
    fn cdi_specs_agree(n in mutated(true)) {
        check::<RawSpec>(&n)?;
    }

    #[test]
    fn random_trees_agree(v in tree(names())) {
        let mut n = node(v);
        number(&mut n, &mut 0);
        check::<Policy>(&n)?;
        check::<RawSpec>(&n)?;
    }
}

/// `path` (keys, `#` for a one-item list) holding `v`, inside `doc`.
fn put(doc: &mut Node, path: &[&str], v: Value) {
    let Some((first, rest)) = path.split_first() else {
        doc.value = v;
        return;
    };
    if *first == "#" {
        if !matches!(&doc.value, Value::Seq(v) if !v.is_empty()) {
            doc.value = Value::Seq(vec![node(Value::Map(vec![]))]);
        }
        if let Value::Seq(items) = &mut doc.value {
            put(&mut items[0], rest, v);
        }
        return;
    }
    if !matches!(doc.value, Value::Map(_)) {
        doc.value = Value::Map(vec![]);
    }
    if let Value::Map(m) = &mut doc.value {
        let i = match m
            .iter()
            .position(|(k, _)| k.value == Value::Str(first.to_string()))
        {
            Some(i) => i,
            None => {
                m.push((
                    node(Value::Str(first.to_string())),
                    node(Value::Map(vec![])),
                ));
                m.len() - 1
            }
        };
        put(&mut m[i].1, rest, v);
    }
}

const SLOTS: &[&[&str]] = &[
    &[
        "network_policies",
        "a",
        "endpoints",
        "#",
        "rules",
        "#",
        "allow",
        "query",
        "k",
    ],
    &[
        "network_policies",
        "a",
        "endpoints",
        "#",
        "rules",
        "#",
        "allow",
        "tool",
    ],
    &[
        "network_policies",
        "a",
        "endpoints",
        "#",
        "rules",
        "#",
        "allow",
        "params",
        "k",
    ],
    &[
        "network_policies",
        "a",
        "endpoints",
        "#",
        "rules",
        "#",
        "allow",
        "params",
    ],
    &[
        "network_policies",
        "a",
        "endpoints",
        "#",
        "deny_rules",
        "#",
        "query",
    ],
    &["network_policies", "a", "endpoints", "#", "rules"],
    &["network_policies", "a", "endpoints", "#", "ports"],
    &["network_policies", "a", "binaries"],
    &["network_middlewares", "m", "config"],
    &["network_middlewares", "m"],
    &["process", "rlimits", "nofile", "soft"],
    &["process", "rlimits", "nofile"],
    &["process", "run_as_user"],
    &["process", "supplementary_groups"],
    &["landlock", "compatibility"],
    &["landlock", "scopes"],
    &["seccomp", "action"],
    &["environment", "set"],
    &["network_policies"],
    &["version"],
    &["containerEdits", "additionalGids"],
    &["containerEdits", "additionalGIDs"],
    &["containerEdits", "intelRdt"],
    &["containerEdits", "deviceNodes", "#"],
    &["devices", "#", "containerEdits", "mounts", "#"],
    &["devices", "#", "name"],
    &["devices"],
    &["annotations"],
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 20000, ..ProptestConfig::default() })]

    #[test]
    fn targeted_slots_agree(
        puts in prop::collection::vec((0..SLOTS.len(), tree(names())), 1..4),
        version in any::<bool>(),
    ) {
        let mut n = node(Value::Map(vec![]));
        if version {
            put(&mut n, &["version"], Value::Int(1));
        }
        for (slot, v) in puts {
            put(&mut n, SLOTS[slot], v);
        }
        number(&mut n, &mut 0);
        check::<Policy>(&n)?;
        check::<RawSpec>(&n)?;
    }
}
