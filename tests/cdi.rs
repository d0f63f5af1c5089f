//! CDI: spec parsing, directory precedence, resolution, merge and grants,
//! over the fixtures in tests/data/cdi/. Pure (no privileges) except the
//! few fallback tests that create files, which skip without root.
//!
//! Golden files in tests/data/cdi/golden/ hold the reviewed result of each
//! scenario; nodes and mounts are compared as sets keyed by path, env in
//! order. Regenerate deliberately with `UPDATE_GOLDEN=1 cargo test --test
//! cdi` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openshell_sandbox::cdi::grants::{Emulation, Link, NodeCreate};
use openshell_sandbox::cdi::resolve::resolve;
use openshell_sandbox::cdi::scan::{self, Registry, SpecFile};
use openshell_sandbox::cdi::spec::{self, Version};
use openshell_sandbox::cdi::{self as cdi};
use openshell_sandbox::plan::{self, Plan, RunOptions};
use openshell_sandbox::policy::{self, Origin, Source};
use openshell_sandbox::probe::{HostFacts, LandlockSupport, NodeStat, PathKind};
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn data(p: &str) -> String {
    format!("{ROOT}/tests/data/cdi/{p}")
}

/// Paths in messages relative to the repository.
fn rel(s: &str) -> String {
    s.replace(&format!("{ROOT}/"), "")
}

fn reg(dirs: &[&str]) -> Registry {
    let dirs: Vec<String> = dirs.iter().map(|d| data(d)).collect();
    scan::scan(&dirs, &Default::default())
}

fn errors(r: &Registry) -> Vec<String> {
    r.errors.iter().map(|e| rel(&e.to_string())).collect()
}

fn golden(name: &str, got: &Value) {
    let path = PathBuf::from(data(&format!("golden/{name}.json")));
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, serde_json::to_string_pretty(got).unwrap() + "\n").unwrap();
        return;
    }
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display())),
    )
    .unwrap();
    assert!(
        *got == want,
        "{} differs:\n--- got\n{}\n",
        path.display(),
        serde_json::to_string_pretty(got).unwrap()
    );
}

/// One resolution, with nodes and mounts keyed by path and env in order.
fn resolution(r: &Registry, request: &[&str]) -> Value {
    let req: Vec<String> = request.iter().map(|s| s.to_string()).collect();
    let res = resolve(r, &req);
    let nodes: BTreeMap<String, Value> = res
        .merged
        .nodes
        .iter()
        .map(|(n, who)| {
            let mut v = serde_json::to_value(n).unwrap();
            v["devices"] = json!(who);
            (n.path.clone(), v)
        })
        .collect();
    let mounts: BTreeMap<String, Value> = res
        .merged
        .mounts
        .iter()
        .map(|(m, who)| {
            let mut v = serde_json::to_value(m).unwrap();
            v["devices"] = json!(who);
            (m.container_path.clone(), v)
        })
        .collect();
    json!({
        "request": request,
        "found": res.found.iter().map(|f| &f.name).collect::<Vec<_>>(),
        "missing": res.missing,
        "env": res.merged.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "nodes": nodes,
        "mounts": mounts,
        "hooks": res.merged.hooks.iter().map(|(h, who)| json!({"hook": h, "devices": who})).collect::<Vec<_>>(),
        "additional_gids": res.merged.gids,
        "net_devices": res.merged.net_devices,
        "intel_rdt": res.merged.intel_rdt,
    })
}

fn scenario(name: &str, dirs: &[&str], requests: &[&[&str]]) -> Registry {
    let r = reg(dirs);
    let got = json!({
        "dirs": dirs,
        "devices": r.names(),
        "errors": errors(&r),
        "resolutions": requests.iter().map(|q| resolution(&r, q)).collect::<Vec<_>>(),
    });
    golden(name, &got);
    r
}

const GPU0_UUID: &str = "nvidia.com/gpu=GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c";

// ---------------------------------------------------------------- goldens

/// Blockers and drops as `plan --format text` lists them.
fn texts(v: &[openshell_sandbox::error::Finding]) -> Vec<String> {
    v.iter().map(|f| f.text()).collect()
}

#[test]
fn golden_nvidia_two_gpus_by_index_uuid_and_all() {
    let r = scenario(
        "nvidia",
        &["nvidia"],
        &[
            &["nvidia.com/gpu=0"],
            &[GPU0_UUID],
            &["nvidia.com/gpu=0", "nvidia.com/gpu=1"],
            &["nvidia.com/gpu=all"],
            &["nvidia.com/gpu=1", "nvidia.com/gpu=0", "nvidia.com/gpu=all"],
        ],
    );
    assert!(r.errors.is_empty(), "{:?}", errors(&r));
    // Index and UUID name the same GPU: identical edits.
    let by_index = resolve(&r, &["nvidia.com/gpu=0".into()]).merged;
    let by_uuid = resolve(&r, &[GPU0_UUID.into()]).merged;
    assert_eq!(by_index.nodes.len(), by_uuid.nodes.len());
    for ((a, _), (b, _)) in by_index.nodes.iter().zip(&by_uuid.nodes) {
        assert_eq!(a, b);
    }
    // GPU 0 alone never names GPU 1's node.
    assert!(!by_index.nodes.iter().any(|(n, _)| n.path == "/dev/nvidia1"));
    // fileMode 0666 is YAML 1.1 octal, as Go reads it.
    let n0 = by_index
        .nodes
        .iter()
        .find(|(n, _)| n.path == "/dev/nvidia0");
    assert_eq!(n0.and_then(|(n, _)| n.file_mode), Some(0o666));
}

#[test]
fn golden_mig_devices_from_json() {
    let r = scenario(
        "mig",
        &["mig"],
        &[
            &["nvidia.com/gpu=0:1"],
            &[
                "nvidia.com/gpu=0:0",
                "nvidia.com/gpu=MIG-1f7c2a44-9e0b-5d3a-b6c8-2e4f6a8b0c1d",
            ],
        ],
    );
    assert!(r.errors.is_empty(), "{:?}", errors(&r));
    assert!(r.devices.contains_key("nvidia.com/gpu=0:1"));
}

#[test]
fn golden_wsl_dxg() {
    let r = scenario("wsl", &["wsl"], &[&["nvidia.com/gpu=all"]]);
    let m = resolve(&r, &["nvidia.com/gpu=all".into()]).merged;
    assert_eq!(
        m.nodes
            .iter()
            .map(|(n, _)| n.path.as_str())
            .collect::<Vec<_>>(),
        ["/dev/dxg"]
    );
}

#[test]
fn golden_env_only_first_position_last_value() {
    let r = scenario(
        "env-only",
        &["env-only"],
        &[
            &["example.com/feature=fast-math", "example.com/feature=debug"],
            &["example.com/feature=debug"],
        ],
    );
    let m = resolve(
        &r,
        &[
            "example.com/feature=fast-math".into(),
            "example.com/feature=debug".into(),
        ],
    )
    .merged;
    // Spec-level edits once, first; MODE keeps its first position and
    // takes the last value.
    assert_eq!(
        m.env,
        [
            ("MODE".to_string(), "debug".to_string()),
            ("FEATURE_SPEC".into(), "1".into()),
            ("FAST_MATH".into(), "1".into()),
            ("DEBUG".into(), "1".into()),
        ]
    );
}

#[test]
fn golden_non_nvidia_vendor() {
    let r = scenario(
        "vendor",
        &["vendor"],
        &[&["vendor.example/fpga=fpga0", "vendor.example/fpga=fpga1"]],
    );
    let m = resolve(
        &r,
        &[
            "vendor.example/fpga=fpga0".into(),
            "vendor.example/fpga=fpga1".into(),
        ],
    )
    .merged;
    // 0 and repeats dropped; `additionalGIDs` accepted as a spelling.
    assert_eq!(m.gids, [44, 45]);
    let f0 = &m
        .nodes
        .iter()
        .find(|(n, _)| n.path == "/dev/fpga0")
        .unwrap()
        .0;
    assert_eq!(f0.file_mode, Some(0o660));
    assert_eq!(f0.host_path.as_deref(), Some("/dev/xdev/fpga0"));
}

#[test]
fn golden_invalid_specs_are_skipped_with_located_errors() {
    let r = scenario("invalid", &["invalid"], &[&["vendor.com/device=good"]]);
    assert!(r.devices.is_empty());
    let e = errors(&r);
    let has = |s: &str| {
        assert!(
            e.iter().any(|x| x == s),
            "missing error {s:?} in\n{}",
            e.join("\n")
        );
    };
    has(
        "tests/data/cdi/invalid/bad-kind.yaml:2:7: kind: \"nvidia.com\" is not vendor/class (e.g. nvidia.com/gpu)",
    );
    has(
        "tests/data/cdi/invalid/bad-vendor.yaml:2:7: kind: invalid vendor \"vendor.com-\": must end with a letter or digit",
    );
    has(
        "tests/data/cdi/invalid/duplicate-device.yaml:10:9: devices[2].name: duplicate device \"0\" (also devices[0])",
    );
    has(
        "tests/data/cdi/invalid/no-edits.yaml:4:3: devices[0]: device \"bare\" has no containerEdits (a device needs at least one edit)",
    );
    has(
        "tests/data/cdi/invalid/unknown-version.yaml:1:13: cdiVersion: unknown version \"1.2.0\" (known: 0.3.0, 0.4.0, 0.5.0, 0.6.0, 0.7.0, 0.8.0, 1.0.0, 1.1.0)",
    );
    has(
        "tests/data/cdi/invalid/newer-feature.yaml:13:21: devices[0].containerEdits.additionalGids: additionalGids needs cdiVersion 0.7.0 or later, the spec declares 0.6.0",
    );
    has(
        "tests/data/cdi/invalid/newer-feature.yaml:15:5: devices[0].containerEdits.netDevices: netDevices needs cdiVersion 1.1.0 or later, the spec declares 0.6.0",
    );
    has("tests/data/cdi/invalid/no-devices.yaml:3:10: devices: the spec has no devices");
    has(
        "tests/data/cdi/invalid/unknown-field.yaml:8:7: devices[0].containerEdits.deviceNodes[0].hostpath: unknown field \"hostpath\" (did you mean \"hostPath\"?)",
    );
    has("tests/data/cdi/invalid/duplicate-key.yaml:3:1: duplicate key \"kind\"");
    has(
        "tests/data/cdi/invalid/too-old.yaml:1:13: cdiVersion: version 0.2.0 is not supported (the oldest supported is 0.3.0)",
    );
    has(
        "tests/data/cdi/invalid/digit-name-0.3.yaml:4:9: devices[0].name: a device name starting with a digit needs cdiVersion 0.5.0 or later, the spec declares 0.4.0",
    );
    has("tests/data/cdi/invalid/empty.yaml:1:1: empty spec");
    has(
        "tests/data/cdi/invalid/wrong-types.yaml:1:13: cdiVersion: expected a string, found a float",
    );
}

#[test]
fn golden_directory_precedence_and_same_priority_conflicts() {
    let r = scenario(
        "precedence",
        &["precedence/etc", "precedence/run"],
        &[&[
            "x.example/dev=one",
            "x.example/dev=two",
            "x.example/dev=three",
            "x.example/dev=four",
        ]],
    );
    // `one`: run wins silently; `two`: defined twice in etc, removed with
    // an error for both files; `four`: conflicting in etc but run defines
    // it, so run's wins; `.yml` files and subdirectories are not read.
    assert_eq!(
        r.names(),
        [
            "x.example/dev=four",
            "x.example/dev=one",
            "x.example/dev=three"
        ]
    );
    let env = |n: &str| resolve(&r, &[n.into()]).merged.env;
    assert_eq!(env("x.example/dev=one"), [("ONE".into(), "run-c".into())]);
    assert_eq!(env("x.example/dev=four"), [("FOUR".into(), "run-c".into())]);
    let e = errors(&r);
    for f in ["a", "b"] {
        assert!(e.contains(&format!(
            "tests/data/cdi/precedence/etc/{f}.yaml: conflicting device \"x.example/dev=two\" (specs \"tests/data/cdi/precedence/etc/b.yaml\", \"tests/data/cdi/precedence/etc/a.yaml\")"
        )), "{e:?}");
    }
}

// ------------------------------------------------------------ spec rules

fn parse(text: &str) -> Result<spec::Spec, Vec<String>> {
    spec::parse("t.yaml", text, 0).map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn one_error(text: &str) -> String {
    let e = parse(text).expect_err("should be rejected");
    assert_eq!(e.len(), 1, "{e:?}");
    e[0].clone()
}

#[test]
fn an_error_at_the_end_of_a_cut_off_spec_points_inside_it() {
    // Without a final line break the YAML parser places these one line
    // past the end; found by fuzz/run.sh.
    assert_eq!(
        one_error("cdiVersion: 0.3.0\nkind: a.com/b\ndevices: ["),
        "t.yaml:3:11: while parsing a node, did not find expected node content"
    );
    assert_eq!(
        one_error("devices:\n- name: gpu0\n  containerEdits: {env: [A=1]"),
        "t.yaml:3:30: while parsing a flow mapping, did not find expected ',' or '}'"
    );
    // An empty key or document at the very end is placed there too.
    assert_eq!(one_error("---"), "t.yaml:1:4: empty spec");
    assert_eq!(
        parse("?\n  ").unwrap_err(),
        [
            "t.yaml:1:1: missing field \"cdiVersion\"",
            "t.yaml:2:3: [\"\"]: unknown field \"\" (expected one of: cdiVersion, kind, annotations, devices, containerEdits)",
        ]
    );
}

#[test]
fn versions_known_with_optional_v() {
    for v in [
        "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0", "v1.1.0", "v0.3.0",
    ] {
        let t = format!(
            "cdiVersion: \"{v}\"\nkind: a.com/b\ndevices: [{{name: x, containerEdits: {{env: [A=1]}}}}]\n"
        );
        assert!(parse(&t).is_ok(), "{v}: {:?}", parse(&t).err());
    }
    assert_eq!(Version::parse("v0.5.0"), Some(Version(0, 5, 0)));
    for v in [
        "1.2.0",
        "1.0.1",
        "0.3",
        "",
        "vv1.0.0",
        "1.0.0-rc1",
        "0.1.0 ",
    ] {
        let t = format!(
            "cdiVersion: \"{v}\"\nkind: a.com/b\ndevices: [{{name: x, containerEdits: {{env: [A=1]}}}}]\n"
        );
        let e = one_error(&t);
        assert!(
            e.starts_with("t.yaml:1:13: cdiVersion: unknown version"),
            "{v}: {e}"
        );
    }
}

/// A path with a control character in it is a spec error, located, and
/// shown escaped: it names nothing a spec means (a NUL cannot be created)
/// and would otherwise reach log lines as it is. The control spells the
/// same paths without one.
#[test]
fn spec_paths_with_control_characters_are_rejected() {
    let spec = |edits: &str| {
        format!(
            "cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits: {{{edits}}}\n"
        )
    };
    for (edits, at, want) in [
        (
            "deviceNodes: [{path: \"/dev/x\\ninfo: FORGED\"}]",
            "t.yaml:5:41",
            "devices[0].containerEdits.deviceNodes[0].path: path \"/dev/x\\ninfo: FORGED\" has a control character",
        ),
        (
            "deviceNodes: [{path: /dev/x, hostPath: \"/dev/\\0y\"}]",
            "t.yaml:5:59",
            "devices[0].containerEdits.deviceNodes[0].hostPath: hostPath \"/dev/\\0y\" has a control character",
        ),
        (
            "mounts: [{hostPath: \"/a\\u0085\", containerPath: /b}]",
            "t.yaml:5:40",
            "devices[0].containerEdits.mounts[0].hostPath: hostPath \"/a\\u{85}\" has a control character",
        ),
        (
            "mounts: [{hostPath: /a, containerPath: \"/b\\r\"}]",
            "t.yaml:5:59",
            "devices[0].containerEdits.mounts[0].containerPath: containerPath \"/b\\r\" has a control character",
        ),
        (
            "hooks: [{hookName: createContainer, path: \"/bin/h\\x1b[2J\"}]",
            "t.yaml:5:62",
            "devices[0].containerEdits.hooks[0].path: path \"/bin/h\\u{1b}[2J\" has a control character",
        ),
        (
            "deviceNodes: [{path: \"/dev/x\\u202e\"}]",
            "t.yaml:5:41",
            "devices[0].containerEdits.deviceNodes[0].path: path \"/dev/x\\u{202e}\" has a character that breaks or reorders a shown line",
        ),
        (
            "deviceNodes: [{path: /dev/x, hostPath: \"/dev/\\u2028y\"}]",
            "t.yaml:5:59",
            "devices[0].containerEdits.deviceNodes[0].hostPath: hostPath \"/dev/\\u{2028}y\" has a character that breaks or reorders a shown line",
        ),
    ] {
        let e = one_error(&spec(edits));
        assert_eq!(e, format!("{at}: {want}"), "{edits}");
    }
    parse(&spec(
        "deviceNodes: [{path: /dev/x, hostPath: /dev/y}], mounts: [{hostPath: /a, containerPath: /b}], hooks: [{hookName: createContainer, path: /bin/h}]",
    ))
    .unwrap();
}

/// A spec file's name is chosen by whoever may write its directory (in a
/// sticky one, anyone): a load error stays one line as it was meant,
/// whatever the name holds. The control is a plain name.
#[test]
fn a_load_error_shows_the_names_in_it_escaped() {
    let e = |file: &str, message: &str| {
        spec::LoadError {
            file: file.into(),
            mark: None,
            path: String::new(),
            message: message.into(),
            kind: None,
        }
        .to_string()
    };
    assert_eq!(
        e("/etc/cdi/a.yaml", "not a regular file"),
        "/etc/cdi/a.yaml: not a regular file"
    );
    assert_eq!(
        e(
            "/s/line\u{2028}openshell-sandbox: info: all good.yaml",
            "not read: /s/evil\u{202e}gpj.yaml is owned by uid 1500"
        ),
        "/s/line\\u{2028}openshell-sandbox: info: all good.yaml: not read: /s/evil\\u{202e}gpj.yaml is owned by uid 1500"
    );
}

#[test]
fn feature_newer_than_declared_version_is_rejected() {
    let cases = [
        (
            "0.3.0",
            "mounts: [{hostPath: /a, containerPath: /a, type: bind}]",
            "a mount type needs cdiVersion 0.4.0",
        ),
        (
            "0.4.0",
            "deviceNodes: [{path: /dev/x, hostPath: /dev/x}]",
            "hostPath needs cdiVersion 0.5.0",
        ),
        (
            "0.6.0",
            "additionalGids: [5]",
            "additionalGids needs cdiVersion 0.7.0",
        ),
        (
            "0.6.0",
            "intelRdt: {closID: x}",
            "intelRdt needs cdiVersion 0.7.0",
        ),
        (
            "1.0.0",
            "intelRdt: {schemata: [L3:0=f]}",
            "intelRdt.schemata needs cdiVersion 1.1.0",
        ),
        (
            "1.0.0",
            "intelRdt: {enableMonitoring: true}",
            "intelRdt.enableMonitoring needs cdiVersion 1.1.0",
        ),
        (
            "1.0.0",
            "netDevices: [{hostInterfaceName: eth1, name: n}]",
            "netDevices needs cdiVersion 1.1.0",
        ),
    ];
    for (v, edit, want) in cases {
        let t = format!(
            "cdiVersion: {v}\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits: {{{edit}}}\n"
        );
        let e = parse(&t).expect_err(edit);
        assert!(e.iter().any(|x| x.contains(want)), "{edit}: {e:?}");
        // The same spec at 1.1.0 is fine.
        let ok = t.replace(&format!("cdiVersion: {v}"), "cdiVersion: 1.1.0");
        assert!(parse(&ok).is_ok(), "{edit}: {:?}", parse(&ok).err());
    }
    let e = one_error(
        "cdiVersion: 0.5.0\nkind: a.com/b.c\ndevices: [{name: x, containerEdits: {env: [A=1]}}]\n",
    );
    assert_eq!(
        e,
        "t.yaml:2:7: kind: a '.' in the class name needs cdiVersion 0.6.0 or later, the spec declares 0.5.0"
    );
    let e = one_error(
        "cdiVersion: 0.5.0\nkind: a.com/b\nannotations: {a: b}\ndevices: [{name: x, containerEdits: {env: [A=1]}}]\n",
    );
    assert!(e.contains("annotations needs cdiVersion 0.6.0"), "{e}");
}

#[test]
fn names_follow_the_cdi_grammar() {
    for ok in ["0", "0:1", "gpu0", "GPU-4cf8db2d", "a.b_c-d", "x"] {
        assert_eq!(spec::name_problem(ok, true), None, "{ok}");
    }
    for bad in ["", "-a", "a-", "a/b", "a=b", "a,b", "a b", ":0"] {
        assert!(spec::name_problem(bad, true).is_some(), "{bad:?}");
    }
    assert!(spec::name_problem("0vendor", false).is_some());
    assert!(spec::name_problem("a:b", false).is_some());
    assert!(spec::parse_qualified("nvidia.com/gpu=0:1").is_ok());
    assert_eq!(
        spec::parse_qualified("nvidia.com/gpu").unwrap_err(),
        "\"nvidia.com/gpu\" is not a fully-qualified CDI name (vendor/class=name)"
    );
    assert_eq!(
        spec::parse_qualified("nvidia.com=0").unwrap_err(),
        "\"nvidia.com=0\" is not a fully-qualified CDI name (vendor/class=name)"
    );
}

#[test]
fn every_edit_type_parses() {
    let t = r#"
cdiVersion: 1.1.0
kind: vendor.com/all
annotations: {a: b}
devices:
- name: d
  annotations: {c: d}
  containerEdits:
    env: ["A=1=2", "B="]
    deviceNodes:
    - {path: /dev/x, hostPath: /dev/y, type: b, major: 8, minor: 1, fileMode: 0640, permissions: r, uid: 1, gid: 2}
    mounts:
    - {hostPath: /h, containerPath: /c, type: tmpfs, options: [size=1m]}
    hooks:
    - {hookName: poststop, path: /bin/h, args: [h, x], env: [K=V], timeout: 5}
    additionalGids: [7]
    intelRdt: {closID: "/", l3CacheSchema: "L3:0=f", memBwSchema: "MB:0=50", schemata: ["L2:0=3"], enableMonitoring: true}
    netDevices:
    - {hostInterfaceName: eth1, name: net1}
"#;
    let s = parse(t).unwrap();
    let d = &s.devices[0].edits;
    assert_eq!(d.env, ["A=1=2", "B="]);
    let n = &d.device_nodes[0];
    assert_eq!(
        (
            n.dev_type.as_deref(),
            n.major,
            n.minor,
            n.file_mode,
            n.uid,
            n.gid
        ),
        (Some("b"), Some(8), Some(1), Some(0o640), Some(1), Some(2))
    );
    assert_eq!(n.host_path(), "/dev/y");
    assert_eq!(d.mounts[0].mount_type(), Some("tmpfs"));
    assert_eq!(d.hooks[0].timeout, Some(5));
    assert_eq!(d.additional_gids, [7]);
    let rdt = d.intel_rdt.as_ref().unwrap();
    assert!(rdt.enable_monitoring && rdt.clos_id.as_deref() == Some("/"));
    assert_eq!(d.net_devices[0].host_interface_name, "eth1");
}

#[test]
fn json_is_read_by_the_same_parser() {
    let s = parse(
        r#"{"cdiVersion": "0.5.0", "kind": "a.com/b", "devices": [{"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/x", "fileMode": 438}]}}]}"#,
    )
    .unwrap();
    assert_eq!(s.devices[0].edits.device_nodes[0].file_mode, Some(438));
    let e = one_error(
        r#"{"cdiVersion": "0.5.0", "kind": "a.com/b", "kind": "a.com/c", "devices": []}"#,
    );
    assert_eq!(e, "t.yaml:1:44: duplicate key \"kind\"");
}

#[test]
fn case_variant_keys_other_than_additional_gids_are_unknown() {
    let e = one_error(
        "cdiVersion: 0.7.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n    Env: [A=1]\n",
    );
    assert_eq!(
        e,
        "t.yaml:6:5: devices[0].containerEdits.Env: unknown field \"Env\" (did you mean \"env\"?)"
    );
    let s = parse(
        "cdiVersion: 0.7.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n    additionalGIDs: [5]\n",
    )
    .unwrap();
    assert_eq!(s.devices[0].edits.additional_gids, [5]);
    let e = parse(
        "cdiVersion: 0.7.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n    additionalGIDs: [5]\n    additionalGids: [6]\n",
    )
    .expect_err("both spellings");
    assert!(e[0].contains("duplicate field \"additionalGids\""), "{e:?}");
}

#[test]
fn every_rejection_lists_all_problems_with_positions() {
    let r = reg(&["invalid"]);
    let bad: Vec<String> = errors(&r)
        .into_iter()
        .filter(|e| e.starts_with("tests/data/cdi/invalid/bad-values.yaml"))
        .collect();
    assert_eq!(bad.len(), 14, "{}", bad.join("\n"));
    assert!(bad.iter().all(|e| {
        e.strip_prefix("tests/data/cdi/invalid/bad-values.yaml:")
            .is_some_and(|r| r.split(':').take(2).all(|n| n.parse::<u32>().is_ok()))
    }));
}

// ------------------------------------------------- scanning edge cases

fn file(prio: usize, path: &str, text: &str) -> SpecFile {
    SpecFile {
        priority: prio,
        path: path.into(),
        content: Ok(text.into()),
    }
}

const DEV_A: &str =
    "cdiVersion: 0.3.0\nkind: v.com/c\ndevices: [{name: a, containerEdits: {env: [X=1]}}]\n";
const DEV_AB: &str = "cdiVersion: 0.3.0\nkind: v.com/c\ndevices: [{name: a, containerEdits: {env: [X=2]}}, {name: b, containerEdits: {env: [Y=2]}}]\n";

#[test]
fn bad_file_is_skipped_and_others_stay_usable() {
    let r = scan::build(
        &[],
        vec![
            file(0, "/etc/cdi/a.yaml", DEV_A),
            file(0, "/etc/cdi/broken.yaml", "cdiVersion: [\n"),
            SpecFile {
                priority: 0,
                path: "/etc/cdi/unreadable.yaml".into(),
                content: Err("permission denied".into()),
            },
        ],
        Vec::new(),
    );
    assert_eq!(r.names(), ["v.com/c=a"]);
    assert_eq!(errors(&r)[1], "/etc/cdi/unreadable.yaml: permission denied");
}

#[test]
fn same_priority_conflict_removes_only_that_device() {
    let r = scan::build(
        &[],
        vec![file(0, "/x/1.yaml", DEV_A), file(0, "/x/2.yaml", DEV_AB)],
        Vec::new(),
    );
    assert_eq!(r.names(), ["v.com/c=b"]);
    assert_eq!(r.errors.len(), 2);
    // A later directory defines it again: that one wins.
    let r = scan::build(
        &[],
        vec![
            file(0, "/x/1.yaml", DEV_A),
            file(0, "/x/2.yaml", DEV_AB),
            file(1, "/y/3.yaml", DEV_A),
        ],
        Vec::new(),
    );
    assert_eq!(r.names(), ["v.com/c=a", "v.com/c=b"]);
    assert_eq!(r.lookup("v.com/c=a").unwrap().0.path, "/y/3.yaml");
}

#[test]
fn missing_directories_are_skipped_and_fifos_do_not_hang() {
    let d = common::scratch("cdi_scan_fifo");
    std::fs::write(d.join("a.yaml"), DEV_A).unwrap();
    let fifo = d.join("b.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    #[allow(unsafe_code)]
    // SAFETY: c is a NUL-terminated path that outlives the call.
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(r, 0);
    std::fs::write(d.join("c.yml"), "garbage").unwrap();
    let dirs = vec!["/nonexistent/cdi".to_string(), d.display().to_string()];
    let r = scan::scan(&dirs, &Default::default());
    assert_eq!(r.names(), ["v.com/c=a"]);
    assert_eq!(
        r.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [format!("{}: not a regular file", fifo.display())]
    );
}

// ------------------------------------------------------------ requests

fn plan_with(policy_yaml: &str, opts: RunOptions, host: &HostFacts) -> Plan {
    let p = policy::parse_str("test.yaml", policy_yaml).unwrap();
    let source = Source {
        origin: Origin::Flag,
        path: Some("test.yaml".into()),
    };
    plan::build(&p, &source, &opts, host)
}

fn node(kind: PathKind, major: u64, minor: u64) -> Result<NodeStat, String> {
    Ok(NodeStat {
        kind,
        symlink: false,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
        inode: (0, 0),
    })
}

/// A host with the NVIDIA fixture scanned, every node the spec names
/// present with matching numbers (GPU 1's too), the mounts present, and
/// the CUDA paths present.
fn gpu_host(abi: u32) -> HostFacts {
    let mut h = HostFacts {
        landlock: LandlockSupport::Available { abi },
        pid: 4242,
        uid: 0,
        gid: 0,
        passwd: Some("root:x:0:0::/root:/bin/sh\n".into()),
        group: Some("root:x:0:\n".into()),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        // A container's root: every capability (the switch needs
        // CAP_SETUID and CAP_SETGID, the bounding set CAP_SETPCAP).
        caps: openshell_sandbox::capabilities::CapState {
            effective: (1 << 41) - 1,
            permitted: (1 << 41) - 1,
            inheritable: 0,
            bounding: (1 << 41) - 1,
        },
        ..HostFacts::default()
    };
    h.cdi.scanned = true;
    h.cdi.registry = reg(&["nvidia"]);
    for (p, ma, mi) in [
        ("/dev/nvidia0", 195, 0),
        ("/dev/nvidia1", 195, 1),
        ("/dev/nvidiactl", 195, 255),
        ("/dev/nvidia-modeset", 195, 254),
        ("/dev/nvidia-uvm", 511, 0),
        ("/dev/nvidia-uvm-tools", 511, 1),
        ("/dev/dri/card1", 226, 1),
        ("/dev/dri/card2", 226, 2),
        ("/dev/dri/renderD128", 226, 128),
        ("/dev/dri/renderD129", 226, 129),
    ] {
        h.cdi
            .nodes
            .insert(p.into(), node(PathKind::CharDevice, ma, mi));
    }
    for p in [
        "/usr/lib/x86_64-linux-gnu/libcuda.so.570.133.20",
        "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.570.133.20",
        "/usr/bin/nvidia-smi",
        "/lib/firmware/nvidia/570.133.20/gsp_ga10x.bin",
    ] {
        h.paths.insert(p.into(), Ok(PathKind::File));
    }
    h.paths.insert(
        "/run/nvidia-persistenced/socket".into(),
        Ok(PathKind::Socket),
    );
    for p in [
        "/proc/driver/nvidia",
        "/proc/self/task",
        "/run/nvidia-persistenced",
    ] {
        h.paths.insert(p.into(), Ok(PathKind::Directory));
    }
    h.paths.insert(
        "/proc/driver/nvidia-uvm".into(),
        Err("does not exist".into()),
    );
    h
}

const GPU_POLICY: &str = "version: 1\nfilesystem_policy:\n  read_only: [/usr, /proc]\n  read_write: [/tmp]\nprocess: {run_as_user: 1500, run_as_group: 1500}\n";

fn opts(devices: &[&str]) -> RunOptions {
    RunOptions {
        devices: devices.iter().map(|s| s.to_string()).collect(),
        command: vec!["python3".into()],
        ..RunOptions::default()
    }
}

fn device_rules(p: &Plan) -> Vec<(String, Vec<&'static str>)> {
    p.filesystem
        .rules
        .iter()
        .filter(|r| r.origin == plan::RuleOrigin::Device)
        .map(|r| (r.path.clone(), r.rights.clone()))
        .collect()
}

/// The parts of a plan the devices touch, for goldens.
fn device_view(p: &Plan) -> Value {
    let full = serde_json::to_value(p).unwrap();
    let rules: Vec<Value> = full["filesystem"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["origin"] == "device")
        .cloned()
        .collect();
    let mut devices = full["devices"].clone();
    devices["spec_dirs"] = json!(["$DATA"]);
    let text = rel(&serde_json::to_string(&json!({
        "devices": devices,
        "device_rules": rules,
        "environment": full["environment"]["vars"],
        "groups": full["identity"]["groups"],
        "blockers": full["blockers"],
        "dropped": full["dropped"],
    }))
    .unwrap());
    serde_json::from_str(&text).unwrap()
}

#[test]
fn golden_plan_gpu0_grants_exactly_its_nodes() {
    let mut h = gpu_host(7);
    // One of GPU 0's nodes is missing: marked, and a blocker for `run`.
    h.cdi.nodes.remove("/dev/dri/renderD128");
    let p = plan_with(GPU_POLICY, opts(&["nvidia.com/gpu=0"]), &h);
    golden("plan_gpu0", &device_view(&p));
    let rules = device_rules(&p);
    let paths: Vec<&str> = rules.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.contains(&"/dev/nvidia0") && paths.contains(&"/dev/nvidiactl"));
    assert!(!paths.contains(&"/dev/nvidia1"), "GPU 1 must get no rule");
    let n0 = rules.iter().find(|(p, _)| p == "/dev/nvidia0").unwrap();
    assert_eq!(n0.1, ["write_file", "read_file", "truncate", "ioctl_dev"]);
    assert_eq!(
        texts(&p.blockers),
        [
            "cdi: device node /dev/dri/renderD128 (nvidia.com/gpu=0): does not exist\nhint: the container runtime did not inject this device: check the pod's CDI device request, or set devices.cdi.runtime_applied: false to let the supervisor create it"
        ]
    );
    let np = p
        .devices
        .cdi
        .nodes
        .iter()
        .find(|n| n.path == "/dev/dri/renderD128")
        .unwrap();
    assert!(!np.present);
}

#[test]
fn unknown_device_is_all_or_nothing_and_names_the_available_ones() {
    let p = plan_with(
        GPU_POLICY,
        opts(&["nvidia.com/gpu=0", "nvidia.com/gpu=3"]),
        &gpu_host(7),
    );
    assert_eq!(p.devices.cdi.missing, ["nvidia.com/gpu=3"]);
    assert_eq!(
        texts(&p.blockers),
        [format!(
            "cdi: device \"nvidia.com/gpu=3\" not found (available: nvidia.com/gpu=0, nvidia.com/gpu=1, {GPU0_UUID}, nvidia.com/gpu=GPU-9a3e11f0-5b2c-44d1-8e6f-0c7d2b1a9e55, nvidia.com/gpu=all)\nhint: run `openshell-sandbox devices` on the node to list the device names and spec errors"
        )]
    );
}

#[test]
fn missing_device_message_carries_the_load_errors_that_may_explain_it() {
    let mut h = gpu_host(7);
    let gpu_broken = "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"3\"\n  containerEdits:\n    deviceNodes: [{path: /dev/nvidia3, permissions: rwx}]\n";
    let other_broken = "cdiVersion: 0.5.0\nkind: other.com/x\ndevices: []\n";
    h.cdi.registry = scan::build(
        &[],
        vec![
            file(0, "/etc/cdi/gpu3.yaml", gpu_broken),
            file(0, "/etc/cdi/other.yaml", other_broken),
            file(0, "/etc/cdi/garbage.yaml", "{"),
        ],
        Vec::new(),
    );
    let p = plan_with(GPU_POLICY, opts(&["nvidia.com/gpu=3"]), &h);
    assert_eq!(
        p.blockers[0].text(),
        "cdi: device \"nvidia.com/gpu=3\" not found (no CDI devices found in /etc/cdi, /var/run/cdi)\n\
         spec skipped: /etc/cdi/gpu3.yaml:6:53: devices[0].containerEdits.deviceNodes[0].permissions: invalid permissions \"rwx\" (a subset of \"rwm\", or \"none\")\n\
         spec skipped: /etc/cdi/garbage.yaml:1:2: while parsing a node, did not find expected node content\n\
         hint: run `openshell-sandbox devices` on the node to list the device names and spec errors"
    );
    // Every load error is still in the plan.
    assert_eq!(p.devices.cdi.load_errors.len(), 3);
}

/// A spec directory may hold any number of files: the missing-device
/// message lists the first 64 device names and 16 skipped specs, then
/// counts the rest (`devices` lists them all, as the plan does). The
/// control, at the limits, counts nothing.
#[test]
fn missing_device_message_is_bounded_by_the_specs_it_lists() {
    let one = |n: usize| {
        let devices: Vec<String> = (0..n)
            .map(|i| format!("{{name: d{i:03}, containerEdits: {{env: [X=1]}}}}"))
            .collect();
        format!(
            "cdiVersion: 0.3.0\nkind: v.com/c\ndevices: [{}]\n",
            devices.join(", ")
        )
    };
    let message = |devices: usize, broken: usize| {
        let mut h = gpu_host(7);
        let mut files = vec![file(0, "/etc/cdi/ok.yaml", &one(devices))];
        for i in 0..broken {
            files.push(file(0, &format!("/etc/cdi/bad{i:03}.yaml"), "{"));
        }
        h.cdi.registry = scan::build(&[], files, Vec::new());
        let p = plan_with(GPU_POLICY, opts(&["v.com/c=missing"]), &h);
        assert_eq!(p.devices.cdi.load_errors.len(), broken);
        p.blockers[0].text()
    };
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("v.com/c=d{i:03}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let skipped = |n: usize| {
        (0..n)
            .map(|i| {
                format!("\nspec skipped: /etc/cdi/bad{i:03}.yaml:1:2: while parsing a node, did not find expected node content")
            })
            .collect::<String>()
    };
    let hint = "\nhint: run `openshell-sandbox devices` on the node to list the device names and spec errors";
    assert_eq!(
        message(64, 16),
        format!(
            "cdi: device \"v.com/c=missing\" not found (available: {}){}{hint}",
            names(64),
            skipped(16)
        )
    );
    assert_eq!(
        message(1000, 5000),
        format!(
            "cdi: device \"v.com/c=missing\" not found (available: {} and 936 more){}\n4984 more specs skipped{hint}",
            names(64),
            skipped(16)
        )
    );
}

#[test]
fn nvidia_visible_devices_maps_to_cdi_requests_with_their_source() {
    let mut h = gpu_host(7);
    h.env.push(("NVIDIA_VISIBLE_DEVICES".into(), "1".into()));
    let p = plan_with(GPU_POLICY, opts(&[]), &h);
    assert_eq!(p.devices.requested[0].name, "nvidia.com/gpu=1");
    assert_eq!(p.devices.requested[0].source, "NVIDIA_VISIBLE_DEVICES");
    let paths: Vec<String> = device_rules(&p).into_iter().map(|(p, _)| p).collect();
    assert!(paths.contains(&"/dev/nvidia1".to_string()));
    assert!(!paths.contains(&"/dev/nvidia0".to_string()));
    for none in ["none", "void", ""] {
        let mut h = gpu_host(7);
        h.env.push(("NVIDIA_VISIBLE_DEVICES".into(), none.into()));
        let p = plan_with(GPU_POLICY, opts(&[]), &h);
        assert!(p.devices.requested.is_empty(), "{none:?}");
        assert!(device_rules(&p).is_empty());
    }
}

#[test]
fn cdi_env_and_gids_join_the_workload() {
    let p = plan_with(
        "version: 1\nprocess: {run_as_user: 1500, supplementary_groups: [7]}\nenvironment: {set: {NVIDIA_VISIBLE_DEVICES: all}}\n",
        opts(&["vendor.example/fpga=fpga0"]),
        &{
            let mut h = gpu_host(7);
            h.cdi.registry = reg(&["vendor"]);
            h.cdi
                .nodes
                .insert("/dev/fpga0".into(), node(PathKind::CharDevice, 240, 0));
            h.paths.insert("/opt/fpga".into(), Ok(PathKind::Directory));
            h.paths
                .insert("/var/lib/fpga/scratch".into(), Ok(PathKind::Directory));
            h
        },
    );
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    assert_eq!(p.identity.groups, Some(vec![7, 44]));
    let env: Vec<(String, Option<String>, String)> = p
        .environment
        .vars
        .iter()
        .map(|v| (v.name.clone(), v.value.clone(), format!("{:?}", v.origin)))
        .collect();
    let fpga = env.iter().position(|v| v.0 == "FPGA_RUNTIME").unwrap();
    let fixed = env.iter().position(|v| v.0 == "OPENSHELL_SANDBOX").unwrap();
    assert_eq!(env[fpga].1.as_deref(), Some("/opt/fpga"));
    assert_eq!(env[fpga].2, "Device");
    assert!(fpga < fixed, "CDI env comes before the fixed variable");
}

#[test]
fn cdi_env_overrides_policy_set_in_place() {
    let p = plan_with(
        "version: 1\nprocess: {run_as_user: 1500}\nenvironment: {set: {NVIDIA_VISIBLE_DEVICES: all}}\n",
        opts(&["nvidia.com/gpu=0"]),
        &gpu_host(7),
    );
    let v = p
        .environment
        .vars
        .iter()
        .find(|v| v.name == "NVIDIA_VISIBLE_DEVICES")
        .unwrap();
    assert_eq!(v.value.as_deref(), Some("void"));
}

#[test]
fn permissions_decide_the_rights() {
    let mut h = gpu_host(7);
    h.cdi.registry = reg(&["vendor"]);
    h.cdi
        .nodes
        .insert("/dev/fpga1".into(), node(PathKind::CharDevice, 240, 1));
    h.cdi.nodes.insert(
        "/dev/fpga-mgmt".into(),
        node(PathKind::CharDevice, 240, 255),
    );
    h.paths.insert("/opt/fpga".into(), Ok(PathKind::Directory));
    h.paths
        .insert("/var/lib/fpga/scratch".into(), Ok(PathKind::Directory));
    let p = plan_with(GPU_POLICY, opts(&["vendor.example/fpga=fpga1"]), &h);
    let rules = device_rules(&p);
    // `r`: read + ioctl, no write; `none`: no rule at all.
    assert_eq!(
        rules.iter().find(|(p, _)| p == "/dev/fpga1").unwrap().1,
        ["read_file", "ioctl_dev"]
    );
    assert!(!rules.iter().any(|(p, _)| p == "/dev/fpga-mgmt"));
    let mgmt = p
        .devices
        .cdi
        .nodes
        .iter()
        .find(|n| n.path == "/dev/fpga-mgmt")
        .unwrap();
    assert_eq!(mgmt.access, "none");
    // ABI 3: no ioctl right exists to grant.
    let p = plan_with(
        "version: 1\nprocess: {run_as_user: 1500}\nlandlock: {compatibility: best_effort}\n",
        opts(&["vendor.example/fpga=fpga1"]),
        &{
            let mut h3 = h.clone();
            h3.landlock = LandlockSupport::Available { abi: 3 };
            h3
        },
    );
    assert_eq!(
        device_rules(&p)
            .iter()
            .find(|(p, _)| p == "/dev/fpga1")
            .unwrap()
            .1,
        ["read_file"]
    );
}

#[test]
fn gpu_grant_without_ioctl_control_under_hard_requirement_is_a_blocker() {
    let p = plan_with(
        "version: 1\nprocess: {run_as_user: 1500}\nlandlock: {compatibility: hard_requirement}\n",
        opts(&["nvidia.com/gpu=0"]),
        &gpu_host(3),
    );
    assert!(
        texts(&p.blockers).contains(&"landlock: the policy requires ioctl control on /dev/nvidia0 (ABI 5) but the kernel provides ABI 3\nhint: run on Linux >= 6.10, or set landlock.compatibility: best_effort".to_string()),
        "{:?}",
        p.blockers
    );
    assert!(
        !p.blockers
            .iter()
            .any(|b| b.text().contains("ioctl control on device files"))
    );
}

#[test]
fn mismatching_or_fake_nodes_fail_closed() {
    let cases: [(Result<NodeStat, String>, &str); 4] = [
        (
            node(PathKind::CharDevice, 1, 3),
            "is c 1:3, the spec says 195:0",
        ),
        (
            node(PathKind::File, 0, 0),
            "is a regular file, not a device node",
        ),
        (
            Ok(NodeStat {
                symlink: true,
                ..node(PathKind::File, 0, 0).unwrap()
            }),
            "is a symbolic link, not a device node",
        ),
        (node(PathKind::BlockDevice, 195, 0), ""),
    ];
    for (st, want) in cases {
        let mut h = gpu_host(7);
        h.cdi.nodes.insert("/dev/nvidia0".into(), st);
        let p = plan_with(GPU_POLICY, opts(&["nvidia.com/gpu=0"]), &h);
        if want.is_empty() {
            // No type in the spec: a block device with the right numbers
            // is accepted, like the reference fills the type from the host.
            assert!(p.blockers.is_empty(), "{:?}", p.blockers);
            continue;
        }
        assert_eq!(
            texts(&p.blockers),
            [format!(
                "cdi: device node /dev/nvidia0 (nvidia.com/gpu=0): {want}\nhint: the spec does not describe this node: regenerate the CDI spec (e.g. nvidia-ctk cdi generate)"
            )]
        );
        assert!(!device_rules(&p).iter().any(|(p, _)| p == "/dev/nvidia0"));
    }
}

fn spec_host(spec_text: &str) -> HostFacts {
    let mut h = gpu_host(7);
    h.cdi.registry = scan::build(&[], vec![file(0, "/etc/cdi/t.yaml", spec_text)], Vec::new());
    assert!(
        h.cdi.registry.errors.is_empty(),
        "{:?}",
        errors(&h.cdi.registry)
    );
    h
}

#[test]
fn broad_roots_and_relative_paths_from_a_spec_are_refused() {
    for (path, why) in [
        ("/usr", "/usr is too broad to grant from a CDI spec"),
        ("/dev/", "/dev is too broad to grant from a CDI spec"),
        ("/", "/ is too broad to grant from a CDI spec"),
        ("/proc", "/proc is too broad to grant from a CDI spec"),
        ("lib/x", "is not an absolute path"),
        ("/opt/../etc", "contains '..'"),
    ] {
        let h = spec_host(&format!(
            "cdiVersion: 0.3.0\nkind: v.com/c\ndevices: [{{name: d, containerEdits: {{mounts: [{{hostPath: /x, containerPath: \"{path}\"}}]}}}}]\n"
        ));
        let p = plan_with(GPU_POLICY, opts(&["v.com/c=d"]), &h);
        assert_eq!(
            texts(&p.blockers),
            [format!("cdi: mount {path} (v.com/c=d): {why}")]
        );
        assert!(device_rules(&p).is_empty(), "{path}");
    }
}

#[test]
fn writable_mount_is_writable_only_where_the_policy_allows() {
    let mut h = gpu_host(7);
    h.cdi.registry = reg(&["vendor"]);
    h.cdi
        .nodes
        .insert("/dev/fpga0".into(), node(PathKind::CharDevice, 240, 0));
    h.paths.insert("/opt/fpga".into(), Ok(PathKind::Directory));
    h.paths
        .insert("/var/lib/fpga/scratch".into(), Ok(PathKind::Directory));
    let access = |policy: &str| -> Vec<(String, String)> {
        let p = plan_with(policy, opts(&["vendor.example/fpga=fpga0"]), &h);
        p.devices
            .cdi
            .mounts
            .iter()
            .map(|m| (m.path.clone(), m.access.clone()))
            .collect()
    };
    assert_eq!(
        access(GPU_POLICY),
        [
            ("/opt/fpga".to_string(), "read_only".to_string()),
            ("/var/lib/fpga/scratch".into(), "read_only".into())
        ]
    );
    assert_eq!(
        access(
            "version: 1\nfilesystem_policy: {read_write: [/var/lib/fpga, /opt]}\nprocess: {run_as_user: 1500}\n"
        ),
        [
            // `ro` in the spec stays read-only even under a policy rw path.
            ("/opt/fpga".to_string(), "read_only".to_string()),
            ("/var/lib/fpga/scratch".into(), "read_write".into())
        ]
    );
}

#[test]
fn cuda_extras_for_nvidia_only() {
    let p = plan_with(GPU_POLICY, opts(&["nvidia.com/gpu=0"]), &gpu_host(7));
    let cuda = p.devices.cdi.cuda.clone().unwrap();
    assert_eq!(
        cuda.granted,
        [
            "/proc/driver/nvidia",
            "/proc/self/task",
            "/run/nvidia-persistenced"
        ]
    );
    assert_eq!(cuda.skipped, ["/proc/driver/nvidia-uvm: does not exist"]);
    assert!(cuda.pin_proc_task);
    let task = device_rules(&p)
        .into_iter()
        .find(|(p, _)| p == "/proc/self/task")
        .unwrap();
    assert_eq!(task.1, ["write_file", "read_file", "truncate"]);
    // The fpga vendor gets none of it.
    let mut h = gpu_host(7);
    h.cdi.registry = reg(&["env-only"]);
    let p = plan_with(GPU_POLICY, opts(&["example.com/feature=debug"]), &h);
    assert!(p.devices.cdi.cuda.is_none());
    assert!(device_rules(&p).is_empty());
}

#[test]
fn unprivileged_supervisor_must_already_hold_the_gids() {
    let mut h = gpu_host(7);
    h.uid = 1500;
    h.gid = 1500;
    h.caps = Default::default(); // started unprivileged: no capabilities
    h.cdi.registry = reg(&["vendor"]);
    h.cdi
        .nodes
        .insert("/dev/fpga0".into(), node(PathKind::CharDevice, 240, 0));
    h.paths.insert("/opt/fpga".into(), Ok(PathKind::Directory));
    h.paths
        .insert("/var/lib/fpga/scratch".into(), Ok(PathKind::Directory));
    let policy = "version: 1\n";
    let p = plan_with(policy, opts(&["vendor.example/fpga=fpga0"]), &h);
    assert_eq!(
        texts(&p.blockers),
        [
            "cdi: additional gid 44: the supervisor started unprivileged and is not in this group, so it cannot give it to the workload\nhint: add 44 to the pod's securityContext.supplementalGroups"
        ]
    );
    h.cdi.groups = vec![44];
    let p = plan_with(policy, opts(&["vendor.example/fpga=fpga0"]), &h);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
}

// ------------------------------------------------------------- fallback

const FALLBACK: &str =
    "version: 1\nprocess: {run_as_user: 1500}\ndevices: {cdi: {runtime_applied: false}}\n";

/// A host with the vendor fixture scanned and its FPGA's directories.
fn fpga_host() -> HostFacts {
    let mut h = gpu_host(7);
    h.cdi.registry = reg(&["vendor"]);
    h.paths.insert("/opt/fpga".into(), Ok(PathKind::Directory));
    h.paths
        .insert("/var/lib/fpga/scratch".into(), Ok(PathKind::Directory));
    h
}

#[test]
fn fallback_plans_node_creation_and_hook_emulation() {
    let mut h = gpu_host(7);
    h.cdi.registry = reg(&["mig"]);
    for p in [
        "/dev/nvidiactl",
        "/dev/nvidia-uvm",
        "/dev/nvidia-uvm-tools",
        "/dev/nvidia-caps/nvidia-cap21",
        "/dev/nvidia-caps/nvidia-cap22",
    ] {
        h.cdi
            .nodes
            .insert(p.into(), node(PathKind::CharDevice, 500, 1));
    }
    h.cdi.nodes.remove("/dev/nvidia0");
    h.paths.insert(
        "/usr/lib64/libcuda.so.570.133.20".into(),
        Ok(PathKind::File),
    );
    let p = plan_with(FALLBACK, opts(&["nvidia.com/gpu=0:1"]), &h);
    // /dev/nvidia0 is missing and the spec gives no numbers to create it.
    assert_eq!(
        texts(&p.blockers),
        [
            "cdi: device node /dev/nvidia0 (nvidia.com/gpu=0:1): does not exist, and the spec gives no type and major:minor (nor a visible host path) to create it"
        ]
    );
    // The `nvidia-ctk hook chmod` form is understood.
    let hook = &p.devices.cdi.hooks[0];
    assert_eq!(hook.action, "emulate chmod");
    assert_eq!(
        hook.emulate,
        Some(Emulation::Chmod {
            mode: 0o755,
            paths: vec!["/dev/nvidia-caps".into()]
        })
    );

    // Fully specified nodes are created by the supervisor.
    let p = plan_with(FALLBACK, opts(&["vendor.example/fpga=fpga1"]), &fpga_host());
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    let f1 = p
        .devices
        .cdi
        .nodes
        .iter()
        .find(|n| n.path == "/dev/fpga1")
        .unwrap();
    assert_eq!(
        f1.create,
        Some(NodeCreate {
            dev_type: "c".into(),
            major: 240,
            minor: 1,
            mode: 0o666,
            uid: 1500,
            gid: 1500
        })
    );
    let rule = p
        .filesystem
        .rules
        .iter()
        .find(|r| r.path == "/dev/fpga1")
        .unwrap();
    // Created before Landlock opens its paths, so the rule is not skipped.
    assert!(rule.present && rule.kind == PathKind::CharDevice);
    assert!(!f1.present);
}

/// A node given only by its `hostPath` copies the host node's type,
/// major:minor and mode, as `resolve` found it in `host_nodes`: a host
/// path refused there (a directory the workload could change) or missing
/// is a blocker that names it, and a node path of the same spelling is
/// never taken for it.
#[test]
fn fallback_copies_a_host_node_only_as_resolve_found_it() {
    let mut h = gpu_host(7);
    h.cdi.registry = reg(&["hostpath"]);
    let mut a = node(PathKind::CharDevice, 240, 7).unwrap();
    a.mode = 0o620;
    h.cdi.host_nodes.insert("/dev/host-a".into(), Ok(a));
    let why = "is not used: /var/tmp is writable under the policy, so the workload could choose which host node is copied";
    h.cdi
        .host_nodes
        .insert("/dev/host-b".into(), Err(why.into()));
    // Seen as a node's own path, not as a host path: not copied.
    h.cdi
        .nodes
        .insert("/dev/host-c".into(), node(PathKind::CharDevice, 1, 3));
    let p = plan_with(FALLBACK, opts(&["example.com/hp=a"]), &h);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    let created = p.devices.cdi.nodes.iter().find(|n| n.path == "/dev/hp-a");
    assert_eq!(
        created.and_then(|n| n.create.clone()),
        Some(NodeCreate {
            dev_type: "c".into(),
            major: 240,
            minor: 7,
            mode: 0o620,
            uid: 1500,
            gid: 1500
        })
    );
    let p = plan_with(FALLBACK, opts(&["example.com/hp=b"]), &h);
    assert_eq!(
        texts(&p.blockers),
        [format!(
            "cdi: device node /dev/hp-b (example.com/hp=b): does not exist, and the spec gives no type and major:minor to create it; its host path /dev/host-b: {why}"
        )]
    );
    let p = plan_with(FALLBACK, opts(&["example.com/hp=c"]), &h);
    assert_eq!(
        texts(&p.blockers),
        [
            "cdi: device node /dev/hp-c (example.com/hp=c): does not exist, and the spec gives no type and major:minor (nor a visible host path) to create it"
        ]
    );
}

/// A device node's rule names the object the node's own check saw, even
/// where the policy's rule of the same path resolved to another: the
/// rule is added on that object or not at all.
#[test]
fn a_device_rule_names_the_node_its_check_saw() {
    let mut h = gpu_host(7);
    let mut st = node(PathKind::CharDevice, 195, 0).unwrap();
    st.inode = (7, 9);
    h.cdi.nodes.insert("/dev/nvidia0".into(), Ok(st));
    h.resolved.insert(
        "/dev/nvidia0".into(),
        openshell_sandbox::probe::ResolvedPath {
            path: "/dev/nvidia0".into(),
            dev: 7,
            ino: 10,
            kernel_fs: None,
            mount_id: None,
        },
    );
    let p = plan_with(GPU_POLICY, opts(&["nvidia.com/gpu=0"]), &h);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    let rule = p
        .filesystem
        .rules
        .iter()
        .find(|r| r.path == "/dev/nvidia0" && r.origin == plan::RuleOrigin::Device)
        .unwrap();
    assert_eq!(rule.inode, Some((7, 9)));
    // A node the fallback creates has no object yet: its rule opens it.
    let p = plan_with(FALLBACK, opts(&["vendor.example/fpga=fpga1"]), &fpga_host());
    let rule = p
        .filesystem
        .rules
        .iter()
        .find(|r| r.path == "/dev/fpga1")
        .unwrap();
    assert_eq!(rule.inode, None);
}

/// A node found whose spec gives no numbers is held to the node at its
/// `hostPath` when that one could be read; the control finds the same
/// numbers there. A node the spec numbers is held to those instead.
#[test]
fn a_found_node_is_held_to_its_host_node() {
    let plan = |found: (PathKind, u64, u64), host: (PathKind, u64, u64)| {
        let mut h = gpu_host(7);
        h.cdi.registry = reg(&["hostpath"]);
        h.cdi
            .nodes
            .insert("/dev/hp-a".into(), node(found.0, found.1, found.2));
        h.cdi
            .host_nodes
            .insert("/dev/host-a".into(), node(host.0, host.1, host.2));
        texts(&plan_with(GPU_POLICY, opts(&["example.com/hp=a"]), &h).blockers)
    };
    let c = PathKind::CharDevice;
    assert!(plan((c, 195, 0), (c, 195, 0)).is_empty());
    assert_eq!(
        plan((c, 195, 1), (c, 195, 0)),
        [
            "cdi: device node /dev/hp-a (example.com/hp=a): is c 195:1, its host path /dev/host-a is c 195:0\nhint: the spec does not describe this node: regenerate the CDI spec (e.g. nvidia-ctk cdi generate)"
        ]
    );
    assert_eq!(
        plan((PathKind::BlockDevice, 195, 0), (c, 195, 0)),
        [
            "cdi: device node /dev/hp-a (example.com/hp=a): is b 195:0, its host path /dev/host-a is c 195:0\nhint: the spec does not describe this node: regenerate the CDI spec (e.g. nvidia-ctk cdi generate)"
        ]
    );
    // A host node that could not be read leaves the node's kind to judge.
    let mut h = gpu_host(7);
    h.cdi.registry = reg(&["hostpath"]);
    h.cdi.nodes.insert("/dev/hp-a".into(), node(c, 195, 1));
    h.cdi
        .host_nodes
        .insert("/dev/host-a".into(), Err("does not exist".into()));
    let p = plan_with(GPU_POLICY, opts(&["example.com/hp=a"]), &h);
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
}

/// A node found whose name someone other than root could change is
/// neither granted nor created over, in either mode; the hint for a node
/// the runtime did not inject is kept for nodes that are missing.
#[test]
fn a_node_resolve_would_not_use_is_a_blocker_without_the_runtime_hint() {
    let why = "is not used: /dev/stk/x is owned by uid 1500 in the sticky directory /dev/stk, so the workload could choose which node is granted";
    for policy in [GPU_POLICY, FALLBACK] {
        let mut h = gpu_host(7);
        h.cdi.nodes.insert("/dev/nvidia0".into(), Err(why.into()));
        let p = plan_with(policy, opts(&["nvidia.com/gpu=0"]), &h);
        assert_eq!(
            texts(&p.blockers),
            [format!(
                "cdi: device node /dev/nvidia0 (nvidia.com/gpu=0): {why}"
            )]
        );
        let n = p
            .devices
            .cdi
            .nodes
            .iter()
            .find(|n| n.path == "/dev/nvidia0");
        assert_eq!(n.and_then(|n| n.create.clone()), None);
    }
}

/// Device numbers past Linux's 12-bit major and 20-bit minor would be cut
/// to another device's when created: refused, at either limit's control.
#[test]
fn fallback_refuses_device_numbers_linux_cannot_hold() {
    let plan = |major: u64, minor: u64| {
        let spec = format!(
            "cdiVersion: 0.5.0\nkind: v.com/c\ndevices: [{{name: d, containerEdits: {{deviceNodes: [{{path: /dev/big, type: b, major: {major}, minor: {minor}}}]}}}}]\n"
        );
        let mut h = gpu_host(7);
        h.cdi.registry = scan::build(&[], vec![file(0, "/etc/cdi/big.yaml", &spec)], Vec::new());
        plan_with(FALLBACK, opts(&["v.com/c=d"]), &h)
    };
    for (major, minor) in [(4095, 1_048_575), (8, 0)] {
        let p = plan(major, minor);
        assert!(p.blockers.is_empty(), "{major}:{minor} {:?}", p.blockers);
    }
    for (major, minor) in [
        (4096, 0),
        (4104, 0),
        (8, 1_048_576),
        (4_294_967_295, 4_294_967_295),
    ] {
        assert_eq!(
            texts(&plan(major, minor).blockers),
            [format!(
                "cdi: device node /dev/big (v.com/c=d): does not exist, and the spec's {major}:{minor} cannot be created: Linux's device numbers go up to 4095:1048575"
            )]
        );
    }
}

#[test]
fn fallback_hooks_nvidia_forms_and_unknown_ones() {
    let mut h = gpu_host(7);
    h.cdi.registry = reg(&["nvidia"]);
    let p = plan_with(FALLBACK, opts(&["nvidia.com/gpu=0"]), &h);
    let actions: Vec<&str> = p
        .devices
        .cdi
        .hooks
        .iter()
        .map(|h| h.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "emulate create-symlinks",
            "skip: CUDA forward-compatibility libraries are not selected by the supervisor",
            "emulate update-ldcache",
            "skip: not needed: Landlock and the dropped CAP_MKNOD already stop device node creation",
            "emulate create-symlinks",
        ]
    );
    let cdi_dropped: Vec<String> = texts(&p.dropped)
        .into_iter()
        .filter(|d| d.starts_with("cdi: "))
        .collect();
    assert_eq!(
        cdi_dropped,
        [
            "cdi: hook createContainer: nvidia-cdi-hook enable-cuda-compat --host-driver-version=570.133.20 not run: CUDA forward-compatibility libraries are not selected by the supervisor"
        ]
    );
    let h = spec_host(
        "cdiVersion: 0.3.0\nkind: v.com/c\ndevices: [{name: d, containerEdits: {hooks: [{hookName: createContainer, path: /usr/local/bin/vendor-hook, args: [vendor-hook, setup]}, {hookName: createContainer, path: /usr/bin/nvidia-ctk, args: [nvidia-ctk, hook, frobnicate]}, {hookName: createContainer, path: /usr/bin/nvidia-cdi-hook, args: [nvidia-cdi-hook, create-symlinks, --link, bad]}]}}]\n",
    );
    let p = plan_with(FALLBACK, opts(&["v.com/c=d"]), &h);
    let cdi_dropped: Vec<String> = texts(&p.dropped)
        .into_iter()
        .filter(|d| d.starts_with("cdi: "))
        .collect();
    assert_eq!(
        cdi_dropped,
        [
            "cdi: hook createContainer: vendor-hook setup not run: the supervisor runs no hooks but the NVIDIA ones it emulates (createContainer)",
            "cdi: hook createContainer: nvidia-ctk hook frobnicate not run: unknown NVIDIA hook \"frobnicate\"",
        ]
    );
    assert_eq!(
        texts(&p.blockers),
        [
            "cdi: hook createContainer: nvidia-cdi-hook create-symlinks --link bad: invalid symlink specification \"bad\" (want TARGET::LINK)"
        ]
    );
}

#[test]
fn fallback_refuses_net_devices_intel_rdt_and_tmpfs() {
    let h = spec_host(
        "cdiVersion: 1.1.0\nkind: v.com/c\ndevices: [{name: d, containerEdits: {netDevices: [{hostInterfaceName: eth1, name: n}], intelRdt: {closID: x}, mounts: [{hostPath: tmpfs, containerPath: /scratch, type: tmpfs}]}}]\n",
    );
    let p = plan_with(FALLBACK, opts(&["v.com/c=d"]), &h);
    assert_eq!(
        texts(&p.blockers),
        [
            "cdi: mount /scratch (v.com/c=d): tmpfs mounts cannot be made by the supervisor (runtime_applied is false)\nhint: let the container runtime inject this device (devices.cdi.runtime_applied: true)",
            "cdi: netDevices cannot be applied by the supervisor (runtime_applied is false)\nhint: let the container runtime inject this device (devices.cdi.runtime_applied: true)",
            "cdi: intelRdt cannot be applied by the supervisor (runtime_applied is false)\nhint: let the container runtime inject this device (devices.cdi.runtime_applied: true)",
        ]
    );
    // Applied by the runtime, they are only reported.
    let mut h2 = h.clone();
    h2.paths.insert("/scratch".into(), Ok(PathKind::Directory));
    let p = plan_with(
        "version: 1\nprocess: {run_as_user: 1500}\n",
        opts(&["v.com/c=d"]),
        &h2,
    );
    assert!(p.blockers.is_empty(), "{:?}", p.blockers);
    assert_eq!(p.devices.cdi.net_devices.len(), 1);
}

#[test]
fn emulated_create_symlinks_and_chmod() {
    let root = common::scratch("cdi_emulate_links");
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    // A wrong link is replaced, a regular file too (ln -sfn), parents made.
    std::os::unix::fs::symlink("wrong", root.join("usr/lib/libcuda.so")).unwrap();
    std::fs::write(root.join("usr/lib/libx.so"), "file").unwrap();
    let links = vec![
        Link {
            target: "libcuda.so.1".into(),
            link: "/usr/lib/libcuda.so".into(),
        },
        Link {
            target: "libx.so.1".into(),
            link: "/usr/lib/libx.so".into(),
        },
        Link {
            target: "../card1".into(),
            link: "/dev/dri/by-path/pci-0000:17:00.0-card".into(),
        },
    ];
    cdi::fallback::emulate(&root, &Emulation::CreateSymlinks { links }).unwrap();
    let rl = |p: &str| std::fs::read_link(root.join(p)).unwrap();
    assert_eq!(rl("usr/lib/libcuda.so"), Path::new("libcuda.so.1"));
    assert_eq!(rl("usr/lib/libx.so"), Path::new("libx.so.1"));
    assert_eq!(
        rl("dev/dri/by-path/pci-0000:17:00.0-card"),
        Path::new("../card1")
    );
    // chmod: existing paths only.
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root.join("dev/nvidia-caps")).unwrap();
    std::fs::set_permissions(
        root.join("dev/nvidia-caps"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    cdi::fallback::emulate(
        &root,
        &Emulation::Chmod {
            mode: 0o755,
            paths: vec!["/dev/nvidia-caps".into(), "/dev/absent".into()],
        },
    )
    .unwrap();
    let mode = std::fs::metadata(root.join("dev/nvidia-caps"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn emulated_update_ldcache_writes_the_conf_files() {
    let root = common::scratch("cdi_emulate_ldcache");
    std::fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
    std::fs::write(
        root.join("etc/ld.so.conf.d/cuda.conf"),
        "/usr/local/cuda/lib64\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/alpine-release"), "3.20.0\n").unwrap();
    cdi::fallback::emulate(
        &root,
        &Emulation::UpdateLdcache {
            folders: vec![
                "/usr/lib/wsl/lib".into(),
                "/usr/local/cuda/lib64".into(),
                "/usr/lib".into(),
                "/usr/lib/wsl/lib/".into(),
            ],
        },
    )
    .unwrap();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(read("etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n");
    // Already listed and system directories are left out.
    assert_eq!(
        read("etc/ld.so.conf.d/00-openshell-cdi.conf"),
        "/usr/lib/wsl/lib\n"
    );
    let arch = if cfg!(target_arch = "aarch64") {
        "aarch64"
    } else {
        "x86_64"
    };
    assert_eq!(
        read(&format!("etc/ld-musl-{arch}.path")),
        "/lib\n/usr/local/lib\n/usr/lib\n/usr/lib/wsl/lib\n"
    );
}

#[test]
fn fallback_creates_fully_specified_nodes() {
    if common::need_root("fallback_creates_fully_specified_nodes") {
        return;
    }
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let d = common::scratch("cdi_mknod");
    let path = d.join("sub/nvidia9");
    cdi::fallback::create_node(
        path.to_str().unwrap(),
        &NodeCreate {
            dev_type: "c".into(),
            major: 1,
            minor: 3,
            mode: 0o660,
            uid: 1500,
            gid: 44,
        },
    )
    .unwrap();
    let m = std::fs::symlink_metadata(&path).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!((libc::major(m.rdev()), libc::minor(m.rdev())), (1, 3));
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o660, 1500, 44));
}

// ------------------------------------------------------------------ CLI

fn bin(args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut c = std::process::Command::new(common::BIN);
    c.args(args).env_remove("NVIDIA_VISIBLE_DEVICES");
    for (k, v) in env {
        c.env(k, v);
    }
    common::Run::from(c.output().unwrap())
}

#[test]
fn devices_command_lists_names_and_load_errors() {
    let r = bin(
        &[
            "devices",
            "--cdi-dir",
            &data("nvidia"),
            "--cdi-dir",
            &data("mig"),
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    // MIG's spec is the later directory: its devices win, the rest stay.
    assert_eq!(
        r.stdout,
        format!(
            "nvidia.com/gpu=0\nnvidia.com/gpu=0:0\nnvidia.com/gpu=0:1\nnvidia.com/gpu=1\n{GPU0_UUID}\nnvidia.com/gpu=GPU-9a3e11f0-5b2c-44d1-8e6f-0c7d2b1a9e55\nnvidia.com/gpu=MIG-1f7c2a44-9e0b-5d3a-b6c8-2e4f6a8b0c1d\nnvidia.com/gpu=all\n"
        )
    );
    assert_eq!(r.stderr, "");
    let r = bin(&["devices", "--cdi-dir", &data("invalid")], &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert!(
        rel(&r.stderr).contains("openshell-sandbox: cdi: tests/data/cdi/invalid/bad-kind.yaml:2:7: kind: \"nvidia.com\" is not vendor/class (e.g. nvidia.com/gpu)\n"),
        "{}",
        r.stderr
    );
    let r = bin(&["devices", "--cdi-dir", "/nonexistent"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (
            0,
            "",
            "openshell-sandbox: cdi: no devices found in /nonexistent\n"
        )
    );
}

#[test]
fn plan_shows_granted_devices_and_marks_missing_nodes() {
    let d = common::scratch("cdi_plan_cli");
    // Not /tmp: the spec directory is in the checkout, and a spec beneath a
    // writable path is not read.
    let policy = common::write_policy(&d, &GPU_POLICY.replace("[/tmp]", "[/dev/null]"));
    let r = bin(
        &[
            "plan",
            "--policy",
            policy.to_str().unwrap(),
            "--device",
            "nvidia.com/gpu=0",
            "--cdi-dir",
            &data("nvidia"),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.explain());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let dev = &v["devices"];
    assert_eq!(dev["granted"][0]["name"], "nvidia.com/gpu=0");
    assert_eq!(dev["granted"][0]["source"], "flag");
    assert_eq!(
        rel(dev["granted"][0]["spec"].as_str().unwrap()),
        "tests/data/cdi/nvidia/nvidia.yaml"
    );
    let nodes = dev["granted"][0]["nodes"].as_array().unwrap();
    assert!(nodes.contains(&json!({"path": "/dev/nvidia0", "access": "read_write", "present": Path::new("/dev/nvidia0").exists()})));
    assert!(nodes.iter().any(|n| n["path"] == "/dev/nvidiactl"));
    assert!(!nodes.iter().any(|n| n["path"] == "/dev/nvidia1"));
    let mounts = dev["granted"][0]["mounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["path"] == "/usr/bin/nvidia-smi" && m["access"] == "read_only")
    );
    assert_eq!(
        dev["granted"][0]["env"],
        json!([
            "NVIDIA_VISIBLE_DEVICES=void",
            "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu"
        ])
    );
    assert_eq!(dev["granted"][0]["additional_gids"], json!([]));
    assert_eq!(
        dev["granted"][0]["hooks"][0],
        "createContainer: nvidia-cdi-hook create-symlinks --link libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so"
    );
    if !Path::new("/dev/nvidia0").exists() {
        // Marked, and a blocker for `run`, but `plan` still succeeds.
        let n0 = dev["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["path"] == "/dev/nvidia0")
            .unwrap();
        assert_eq!(n0["present"], false);
        assert_eq!(n0["problem"], "does not exist");
        assert!(v["blockers"].as_array().unwrap().iter().any(|b| {
            b["object"] == "cdi"
                && b["cause"] == "device node /dev/nvidia0 (nvidia.com/gpu=0): does not exist"
                && b["hint"].is_string()
        }));
    }
}

#[test]
fn run_with_an_unknown_device_exits_125_naming_it() {
    let d = common::scratch("cdi_run_missing");
    // Not /tmp: the spec directory is in the checkout, and a spec beneath a
    // writable path is not read.
    let policy = common::write_policy(&d, &GPU_POLICY.replace("[/tmp]", "[/dev/null]"));
    let r = bin(
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--log-level",
            "error",
            "--device",
            "nvidia.com/gpu=3",
            "--cdi-dir",
            &data("nvidia"),
            "--",
            "/bin/true",
        ],
        &[],
    );
    assert_eq!(r.code, 125, "{}", r.explain());
    assert_eq!(
        r.stderr,
        format!(
            "openshell-sandbox: cdi: device \"nvidia.com/gpu=3\" not found (available: nvidia.com/gpu=0, nvidia.com/gpu=1, {GPU0_UUID}, nvidia.com/gpu=GPU-9a3e11f0-5b2c-44d1-8e6f-0c7d2b1a9e55, nvidia.com/gpu=all)\nhint: run `openshell-sandbox devices` on the node to list the device names and spec errors\n"
        )
    );
}

// ------------------------------------------------------------- property

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn fixtures() -> Vec<String> {
        [
            "nvidia/nvidia.yaml",
            "mig/nvidia-mig.json",
            "wsl/nvidia-wsl.yaml",
            "env-only/feature.yaml",
            "vendor/fpga.yaml",
        ]
        .iter()
        .map(|f| std::fs::read_to_string(data(f)).unwrap())
        .collect()
    }

    /// Parse; any rejection must be a non-empty list of located,
    /// non-empty messages, and an accepted spec must satisfy the rules.
    fn check(text: &str) {
        match spec::parse("p.yaml", text, 0) {
            Ok(s) => {
                assert!(!s.devices.is_empty());
                assert!(s.devices.iter().all(|d| !d.edits.is_empty()));
                assert!(spec::Version::parse(&s.version.to_string()).is_some());
            }
            Err(errs) => {
                assert!(!errs.is_empty());
                for e in errs {
                    assert!(!e.message.is_empty());
                    assert!(e.to_string().starts_with("p.yaml"));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            check(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn mutated_specs_never_panic(
            which in 0usize..5,
            edits in proptest::collection::vec((any::<u16>(), 0u8..4, any::<u8>()), 1..8),
        ) {
            let fx = fixtures();
            let mut b = fx[which].clone().into_bytes();
            for (pos, op, byte) in edits {
                if b.is_empty() {
                    break;
                }
                let i = usize::from(pos) % b.len();
                match op {
                    0 => { b.remove(i); }
                    1 => b.insert(i, byte),
                    2 => b[i] = byte,
                    _ => b.truncate(i),
                }
            }
            check(&String::from_utf8_lossy(&b));
        }

        #[test]
        fn token_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
            Just("cdiVersion: 0.5.0\n"), Just("kind: a.com/b\n"), Just("devices:\n"),
            Just("- name: x\n"), Just("  containerEdits:\n"), Just("    env: [A=1]\n"),
            Just("    deviceNodes: [{path: /dev/x, major: -1}]\n"), Just("    additionalGids: [0]\n"),
            Just("{"), Just("}"), Just("["), Just("]"), Just("\""), Just(": "), Just("- "),
            Just("  "), Just("\n"), Just("0666"), Just("null"), Just("~"), Just("&a "), Just("*a"),
        ], 0..40)) {
            check(&parts.concat());
        }
    }
}
