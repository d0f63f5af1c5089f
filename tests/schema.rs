//! The JSON Schema and the model must agree: every struct's fields are
//! the schema's `properties` at the same place, both ways. A field added to
//! one but not the other fails `schema_and_model_have_the_same_fields`.
//! Every shipped policy must validate against the schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use openshell_sandbox::policy::model::{Policy, QueryAny};
use openshell_sandbox::policy::schema::SCHEMA;
use openshell_sandbox::yaml::FromNode;
use serde_json::Value;

// ---------------------------------------------------------------------------
// The struct fields the YAML reader accepts, by path: `.field`, `[]` for
// sequence items, `{}` for map values. They come from the same declarations
// the reader is built from (`yaml::from_node_struct!`).
// ---------------------------------------------------------------------------

fn trace<T: FromNode>(root: &str) -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut out = BTreeMap::new();
    T::fields(root, &mut out);
    out
}

// ---------------------------------------------------------------------------
// Walking the schema along the same paths.
// ---------------------------------------------------------------------------

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("schema is JSON")
}

fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("local $ref");
            resolve(root, &root["$defs"][name])
        }
        None => s,
    }
}

/// The object-typed branch of a schema (through $ref and oneOf).
fn object_branch<'a>(root: &'a Value, s: &'a Value) -> Option<&'a Value> {
    let s = resolve(root, s);
    if s.get("properties").is_some() || s.get("additionalProperties").is_some() {
        return Some(s);
    }
    s.get("oneOf")?
        .as_array()?
        .iter()
        .find_map(|b| object_branch(root, b).filter(|o| o.get("properties").is_some()))
}

fn at<'a>(root: &'a Value, path: &str) -> &'a Value {
    let mut cur = root;
    let mut rest = path;
    while !rest.is_empty() {
        let s = resolve(root, cur);
        if let Some(r) = rest.strip_prefix("[]") {
            cur = &s["items"];
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{}") {
            cur = &object_branch(root, s).expect("map schema")["additionalProperties"];
            rest = r;
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[', '{']).unwrap_or(r.len());
            let obj =
                object_branch(root, s).unwrap_or_else(|| panic!("no object schema at {path}"));
            cur = &obj["properties"][&r[..end]];
            assert!(!cur.is_null(), "schema has no property at {path}");
            rest = &r[end..];
        } else {
            panic!("bad path {path}");
        }
    }
    cur
}

fn schema_fields(root: &Value, path: &str) -> BTreeSet<String> {
    let s = object_branch(root, at(root, path))
        .unwrap_or_else(|| panic!("no object schema at {path:?}"));
    s["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn schema_and_model_have_the_same_fields() {
    let root = schema();
    let mut traced = trace::<Policy>("");
    // Untagged enum branches are invisible to the tracer; trace them directly
    // at the place the schema puts them.
    traced.extend(trace::<QueryAny>(
        ".network_policies{}.endpoints[].rules[].allow.tool",
    ));
    let mut checked = 0;
    for (path, fields) in &traced {
        let model: BTreeSet<String> = fields.iter().map(|f| f.to_string()).collect();
        let in_schema = schema_fields(&root, path);
        assert_eq!(
            model,
            in_schema,
            "fields differ at {path:?}: model-only {:?}, schema-only {:?}",
            model.difference(&in_schema).collect::<Vec<_>>(),
            in_schema.difference(&model).collect::<Vec<_>>()
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} structs traced");
}

/// Every object in the schema rejects unknown keys, like the model.
#[test]
fn schema_objects_reject_additional_properties() {
    fn walk(v: &Value, path: &str) {
        if let Some(props) = v.get("properties") {
            assert_eq!(
                v["additionalProperties"],
                Value::Bool(false),
                "{path} allows unknown keys"
            );
            for (k, p) in props.as_object().unwrap() {
                walk(p, &format!("{path}.{k}"));
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(x) = v.get(key).filter(|x| x.is_object()) {
                walk(x, &format!("{path}/{key}"));
            }
        }
        if let Some(defs) = v.get("$defs").and_then(Value::as_object) {
            for (k, d) in defs {
                walk(d, &format!("$defs.{k}"));
            }
        }
    }
    walk(&schema(), "");
}

// ---------------------------------------------------------------------------
// A small validator for the keywords the schema uses, so agreement is
// checked without network access or extra crates. CI also runs Python's
// jsonschema over the same files (see `python_jsonschema_validates`).
// ---------------------------------------------------------------------------

fn validate(root: &Value, s: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let s = resolve(root, s);
    if let Some(c) = s.get("const") {
        if c != v {
            errs.push(format!("{path}: expected {c}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!("{path}: not one of {e:?}"));
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let ok = one
            .iter()
            .filter(|b| {
                let mut e = Vec::new();
                validate(root, b, v, path, &mut e);
                e.is_empty()
            })
            .count();
        if ok != 1 {
            errs.push(format!("{path}: matches {ok} oneOf branches"));
        }
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "boolean" => v.is_boolean(),
            _ => true,
        };
        if !ok {
            errs.push(format!("{path}: expected {t}"));
            return;
        }
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_i64), v.as_i64()) {
        if n < min {
            errs.push(format!("{path}: below {min}"));
        }
    }
    if let (Some(max), Some(n)) = (s.get("maximum").and_then(Value::as_u64), v.as_u64()) {
        if n > max {
            errs.push(format!("{path}: above {max}"));
        }
    }
    if let (Some(max), Some(st)) = (s.get("maxLength").and_then(Value::as_u64), v.as_str()) {
        if st.chars().count() as u64 > max {
            errs.push(format!("{path}: too long"));
        }
    }
    if let Some(items) = s.get("items") {
        for (i, x) in v.as_array().into_iter().flatten().enumerate() {
            validate(root, items, x, &format!("{path}[{i}]"), errs);
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !obj.contains_key(r.as_str().unwrap_or_default()) {
                errs.push(format!("{path}: missing {r}"));
            }
        }
        for (k, x) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(root, ps, x, &format!("{path}.{k}"), errs),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{path}: unknown key {k}")),
                    Some(ap) if ap.is_object() => {
                        validate(root, ap, x, &format!("{path}.{k}"), errs)
                    }
                    _ => {}
                },
            }
        }
    }
}

fn shipped_policies() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    let mut v = vec![dir.join("default.yaml")];
    for e in std::fs::read_dir(dir.join("examples")).unwrap() {
        v.push(e.unwrap().path());
    }
    v.sort();
    v
}

fn as_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let node = openshell_sandbox::yaml::parse(&text, Default::default()).unwrap();
    openshell_sandbox::yaml::from_node(&node).unwrap()
}

#[test]
fn shipped_policies_validate_against_the_schema() {
    let root = schema();
    for p in shipped_policies() {
        let mut errs = Vec::new();
        validate(&root, &root, &as_json(&p), "", &mut errs);
        assert!(errs.is_empty(), "{}: {errs:?}", p.display());
    }
    // The validator is not vacuous: a bad document fails it.
    let mut errs = Vec::new();
    let bad =
        serde_json::json!({"version": 1, "filesystem_policy": {"read_only": ["tmp"], "colour": 1}});
    validate(&root, &root, &bad, "", &mut errs);
    assert_eq!(errs, [".filesystem_policy: unknown key colour"]);
}

/// The schema is a valid draft 2020-12 schema and the policies pass a full
/// validator (Python's jsonschema, installed by tests/run.sh).
#[test]
fn python_jsonschema_validates() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok
        && common::skip(
            "python_jsonschema_validates",
            "python3 jsonschema is not installed",
        )
    {
        return;
    }
    let dir = common::scratch("python_jsonschema");
    let schema_path = dir.join("schema.json");
    std::fs::write(&schema_path, SCHEMA).unwrap();
    let mut docs = Vec::new();
    for p in shipped_policies() {
        let j = dir.join(format!("{}.json", p.file_stem().unwrap().to_string_lossy()));
        std::fs::write(&j, as_json(&p).to_string()).unwrap();
        docs.push(j);
    }
    let script = r#"
import json, sys, jsonschema
s = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(s)
v = jsonschema.Draft202012Validator(s)
bad = 0
for f in sys.argv[2:]:
    for e in v.iter_errors(json.load(open(f))):
        print(f, e.message)
        bad = 1
x = {"version": 1, "filesystem_policy": {"read_only": ["tmp"]}}
assert list(v.iter_errors(x)), "relative path accepted"
sys.exit(bad)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&schema_path)
        .args(&docs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
