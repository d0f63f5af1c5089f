//! One CDI spec file: strict structure, names, versions.
//!
//! The file is read with [`crate::yaml`] (JSON is YAML, so `.json` and
//! `.yaml` share the parser) with YAML 1.1 octal on, as the Go reference
//! decodes specs, so `fileMode: 0666` is 438. Unknown keys, duplicate keys
//! and wrong types are errors; every error carries `line:col` and the key
//! path. After the structure, the rules the reference library applies on
//! load: version known and at least what the spec's features need, vendor,
//! class and device-name grammar, valid edits, at least one device, every
//! device with edits, no device name twice. Any error rejects the whole
//! file.
//!
//! Key spelling: the reference decodes through Go's `encoding/json`, which
//! matches keys case-insensitively. We match exactly, with one documented
//! exception: `additionalGIDs` (the spelling in the CDI specification's own
//! example) is accepted for `additionalGids`. Any other case variant is an
//! unknown key, reported with a "did you mean" hint.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::yaml::{self, Mark, Node, ParseOptions};

/// Versions the specification has defined, oldest first.
pub const KNOWN_VERSIONS: [&str; 10] = [
    "0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0",
];

/// The oldest version this reader (and the reference library) supports.
pub const OLDEST_SUPPORTED: Version = Version(0, 3, 0);

/// Hook names the OCI runtime specification defines.
pub const HOOK_NAMES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A known spec version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u8, pub u8, pub u8);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    /// A known version string, with or without a leading `v`.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.strip_prefix('v').unwrap_or(s);
        if !KNOWN_VERSIONS.contains(&s) {
            return None;
        }
        let mut it = s.split('.').map(|p| p.parse::<u8>().ok());
        Some(Version(it.next()??, it.next()??, it.next()??))
    }
}

/// The file as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RawSpec {
    #[serde(rename = "cdiVersion")]
    pub cdi_version: String,
    pub kind: String,
    pub annotations: BTreeMap<String, String>,
    pub devices: Vec<RawDevice>,
    #[serde(rename = "containerEdits")]
    pub container_edits: ContainerEdits,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RawDevice {
    pub name: String,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "containerEdits")]
    pub container_edits: ContainerEdits,
}

/// Edits, at spec level (applied once per spec) or device level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ContainerEdits {
    /// `NAME=VALUE`.
    pub env: Vec<String>,
    #[serde(rename = "deviceNodes")]
    pub device_nodes: Vec<DeviceNode>,
    pub hooks: Vec<Hook>,
    pub mounts: Vec<Mount>,
    #[serde(rename = "additionalGids")]
    pub additional_gids: Vec<u32>,
    #[serde(rename = "intelRdt")]
    pub intel_rdt: Option<IntelRdt>,
    #[serde(rename = "netDevices")]
    pub net_devices: Vec<NetDevice>,
}

impl ContainerEdits {
    /// Whether there is nothing to apply (invalid for a device).
    pub fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.device_nodes.is_empty()
            && self.hooks.is_empty()
            && self.mounts.is_empty()
            && self.additional_gids.is_empty()
            && self.intel_rdt.is_none()
            && self.net_devices.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeviceNode {
    /// Path inside the container.
    pub path: String,
    /// Host node to take type/major/minor from (default: `path`).
    #[serde(rename = "hostPath", skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// `b`, `c`, `u` or `p`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub dev_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    #[serde(rename = "fileMode", skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
    /// Subset of `rwm`, or `none`; empty means `rwm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

impl DeviceNode {
    pub fn host_path(&self) -> &str {
        self.host_path
            .as_deref()
            .filter(|h| !h.is_empty())
            .unwrap_or(&self.path)
    }

    pub fn dev_type(&self) -> Option<&str> {
        self.dev_type.as_deref().filter(|t| !t.is_empty())
    }

    /// The effective cgroup permissions (`""` for `none`).
    pub fn permissions(&self) -> &str {
        match self.permissions.as_deref() {
            None | Some("") => "rwm",
            Some("none") => "",
            Some(p) => p,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Mount {
    #[serde(rename = "hostPath")]
    pub host_path: String,
    #[serde(rename = "containerPath")]
    pub container_path: String,
    pub options: Vec<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub mount_type: Option<String>,
}

impl Mount {
    pub fn mount_type(&self) -> Option<&str> {
        self.mount_type.as_deref().filter(|t| !t.is_empty())
    }

    /// A bind mount (no type, `bind`/`rbind`, or a bind option).
    pub fn is_bind(&self) -> bool {
        matches!(self.mount_type(), None | Some("bind" | "rbind" | "none"))
            || self.options.iter().any(|o| o == "bind" || o == "rbind")
    }

    /// Whether the mount is writable (no `ro` option).
    pub fn is_rw(&self) -> bool {
        !self.options.iter().any(|o| o == "ro")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Hook {
    #[serde(rename = "hookName")]
    pub hook_name: String,
    pub path: String,
    /// Full argv, argv[0] included.
    pub args: Vec<String>,
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntelRdt {
    #[serde(rename = "closID", skip_serializing_if = "Option::is_none")]
    pub clos_id: Option<String>,
    #[serde(rename = "l3CacheSchema", skip_serializing_if = "Option::is_none")]
    pub l3_cache_schema: Option<String>,
    #[serde(rename = "memBwSchema", skip_serializing_if = "Option::is_none")]
    pub mem_bw_schema: Option<String>,
    pub schemata: Vec<String>,
    #[serde(rename = "enableMonitoring")]
    pub enable_monitoring: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetDevice {
    #[serde(rename = "hostInterfaceName")]
    pub host_interface_name: String,
    pub name: String,
}

// Reading from YAML (see `yaml::FromNode` for why this is not serde).

use crate::yaml::nullable as null_ok;

crate::from_node_struct!(RawSpec {
    "cdiVersion" => cdi_version: String;
    "kind" => kind: String;
    "annotations" => annotations: BTreeMap<String, String> [null_ok] = BTreeMap::new();
    "devices" => devices: Vec<RawDevice> [null_ok] = Vec::new();
    "containerEdits" => container_edits: ContainerEdits [null_ok] = ContainerEdits::default();
});

crate::from_node_struct!(RawDevice {
    "name" => name: String;
    "annotations" => annotations: BTreeMap<String, String> [null_ok] = BTreeMap::new();
    "containerEdits" => container_edits: ContainerEdits [null_ok] = ContainerEdits::default();
});

crate::from_node_struct!(ContainerEdits {
    "env" => env: Vec<String> [null_ok] = Vec::new();
    "deviceNodes" => device_nodes: Vec<DeviceNode> [null_ok] = Vec::new();
    "hooks" => hooks: Vec<Hook> [null_ok] = Vec::new();
    "mounts" => mounts: Vec<Mount> [null_ok] = Vec::new();
    "additionalGids" => additional_gids: Vec<u32> [null_ok] = Vec::new(), or "additionalGIDs";
    "intelRdt" => intel_rdt: Option<IntelRdt> = None;
    "netDevices" => net_devices: Vec<NetDevice> [null_ok] = Vec::new();
});

crate::from_node_struct!(DeviceNode {
    "path" => path: String;
    "hostPath" => host_path: Option<String> = None;
    "type" => dev_type: Option<String> = None;
    "major" => major: Option<i64> = None;
    "minor" => minor: Option<i64> = None;
    "fileMode" => file_mode: Option<u32> = None;
    "permissions" => permissions: Option<String> = None;
    "uid" => uid: Option<u32> = None;
    "gid" => gid: Option<u32> = None;
});

crate::from_node_struct!(Mount {
    "hostPath" => host_path: String;
    "containerPath" => container_path: String;
    "options" => options: Vec<String> [null_ok] = Vec::new();
    "type" => mount_type: Option<String> = None;
});

crate::from_node_struct!(Hook {
    "hookName" => hook_name: String;
    "path" => path: String;
    "args" => args: Vec<String> [null_ok] = Vec::new();
    "env" => env: Vec<String> [null_ok] = Vec::new();
    "timeout" => timeout: Option<i64> = None;
});

crate::from_node_struct!(IntelRdt {
    "closID" => clos_id: Option<String> = None;
    "l3CacheSchema" => l3_cache_schema: Option<String> = None;
    "memBwSchema" => mem_bw_schema: Option<String> = None;
    "schemata" => schemata: Vec<String> [null_ok] = Vec::new();
    "enableMonitoring" => enable_monitoring: bool = false;
});

crate::from_node_struct!(NetDevice {
    "hostInterfaceName" => host_interface_name: String;
    "name" => name: String;
});

/// A device of a loaded spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub edits: ContainerEdits,
}

/// A spec that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The file it came from.
    pub path: String,
    /// Index of its directory (later directories win).
    pub priority: usize,
    pub version: Version,
    pub vendor: String,
    pub class: String,
    pub edits: ContainerEdits,
    pub devices: Vec<Device>,
}

impl Spec {
    pub fn kind(&self) -> String {
        format!("{}/{}", self.vendor, self.class)
    }

    pub fn qualified(&self, device: &str) -> String {
        format!("{}/{}={device}", self.vendor, self.class)
    }
}

/// A problem with a spec file or directory: `FILE:LINE:COL: PATH: message`
/// (`FILE: message` when there is no position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoadError {
    pub file: String,
    pub mark: Option<Mark>,
    pub path: String,
    pub message: String,
    /// The file's `kind` when it could be read, to tell which requests the
    /// error may explain.
    #[serde(skip)]
    pub kind: Option<String>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(m) = self.mark {
            write!(f, ":{}:{}", m.line, m.col)?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a vendor, class or device name is invalid; `None` when valid.
///
/// Vendor and class: a letter first, a letter or digit last, letters,
/// digits, `_`, `.` and `-` between. Device names may also start with a
/// digit and contain `:` (MIG devices are named like `0:1`).
pub fn name_problem(s: &str, device: bool) -> Option<String> {
    let b = s.as_bytes();
    let Some(first) = b.first() else {
        return Some("is empty".into());
    };
    if !(first.is_ascii_alphabetic() || (device && first.is_ascii_digit())) {
        return Some(if device {
            "must start with a letter or digit".into()
        } else {
            "must start with a letter".into()
        });
    }
    if !b.last().is_some_and(u8::is_ascii_alphanumeric) {
        return Some("must end with a letter or digit".into());
    }
    let bad = b
        .iter()
        .find(|c| !(c.is_ascii_alphanumeric() || b"_.-".contains(c) || (device && **c == b':')));
    bad.map(|c| format!("contains {:?}", char::from(*c)))
}

/// Split `vendor/class=name`, checking all three parts.
pub fn parse_qualified(q: &str) -> Result<(&str, &str, &str), String> {
    let Some((kind, name)) = q.split_once('=') else {
        return Err(format!(
            "{q:?} is not a fully-qualified CDI name (vendor/class=name)"
        ));
    };
    let Some((vendor, class)) = kind.split_once('/') else {
        return Err(format!(
            "{q:?} is not a fully-qualified CDI name (vendor/class=name)"
        ));
    };
    if let Some(p) = name_problem(vendor, false) {
        return Err(format!("{q:?}: vendor {vendor:?} {p}"));
    }
    if let Some(p) = name_problem(class, false) {
        return Err(format!("{q:?}: class {class:?} {p}"));
    }
    if let Some(p) = name_problem(name, true) {
        return Err(format!("{q:?}: device name {name:?} {p}"));
    }
    Ok((vendor, class, name))
}

/// Largest spec file read (NVIDIA specs with every driver file are ~100 KiB).
pub const MAX_SPEC_BYTES: u64 = 4 << 20;

/// Collects located errors for one file.
struct Errors<'a> {
    file: &'a str,
    root: &'a Node,
    kind: Option<String>,
    out: Vec<LoadError>,
}

impl Errors<'_> {
    /// Report at `path`, or at its nearest ancestor present in the file
    /// (an alias spelling, or a key that was left out).
    fn at(&mut self, path: &str, message: String) {
        let mut p = path.to_string();
        let mark = loop {
            if let Some(m) = yaml::locate(self.root, &p) {
                break m;
            }
            // The accepted alias spelling.
            if let Some(base) = p.strip_suffix("additionalGids") {
                if let Some(m) = yaml::locate(self.root, &format!("{base}additionalGIDs")) {
                    break m;
                }
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => break self.root.mark,
            }
        };
        self.out.push(LoadError {
            file: self.file.to_string(),
            mark: Some(mark),
            path: path.to_string(),
            message,
            kind: self.kind.clone(),
        });
    }
}

/// Parse and check one spec file. `file` names it in errors.
pub fn parse(file: &str, text: &str, priority: usize) -> Result<Spec, Vec<LoadError>> {
    let plain = |mark: Option<Mark>, message: String| LoadError {
        file: file.to_string(),
        mark,
        path: String::new(),
        message,
        kind: None,
    };
    let root = yaml::parse(text, ParseOptions { yaml11_octal: true })
        .map_err(|e| vec![plain(Some(e.mark), e.message)])?;
    if matches!(root.value, yaml::Value::Null) {
        return Err(vec![plain(Some(root.mark), "empty spec".into())]);
    }
    // The kind, if readable, tells which requests an error may explain.
    let kind = match &root.value {
        yaml::Value::Map(entries) => entries
            .iter()
            .find_map(|(k, v)| match (&k.value, &v.value) {
                (yaml::Value::Str(k), yaml::Value::Str(v)) if k == "kind" => Some(v.clone()),
                _ => None,
            }),
        _ => None,
    };
    let raw: RawSpec = yaml::from_node(&root).map_err(|errs| {
        errs.into_iter()
            .map(|e| LoadError {
                file: file.to_string(),
                mark: Some(e.mark),
                path: e.path,
                message: match e.hint {
                    Some(h) => format!("{} ({h})", e.message),
                    None => e.message,
                },
                kind: kind.clone(),
            })
            .collect::<Vec<_>>()
    })?;
    let mut errs = Errors {
        file,
        root: &root,
        kind,
        out: Vec::new(),
    };
    let spec = check(&raw, &mut errs, file, priority);
    let mut out = errs.out;
    match spec {
        Some(s) if out.is_empty() => Ok(s),
        _ => {
            super::sort_stable_by_key(&mut out, |e| e.mark.map(|m| (m.line, m.col)));
            Err(out)
        }
    }
}

fn check(raw: &RawSpec, e: &mut Errors<'_>, file: &str, priority: usize) -> Option<Spec> {
    // Version.
    let version = Version::parse(&raw.cdi_version);
    match version {
        None => e.at(
            "cdiVersion",
            format!(
                "unknown version {:?} (known: {})",
                raw.cdi_version,
                KNOWN_VERSIONS[2..].join(", ")
            ),
        ),
        Some(v) if v < OLDEST_SUPPORTED => e.at(
            "cdiVersion",
            format!("version {v} is not supported (the oldest supported is {OLDEST_SUPPORTED})"),
        ),
        Some(_) => {}
    }
    // Kind.
    let (vendor, class) = match raw.kind.split_once('/') {
        Some((v, c)) => {
            if let Some(p) = name_problem(v, false) {
                e.at("kind", format!("invalid vendor {v:?}: {p}"));
            }
            if let Some(p) = name_problem(c, false) {
                e.at("kind", format!("invalid class {c:?}: {p}"));
            }
            (v, c)
        }
        None => {
            e.at(
                "kind",
                format!("{:?} is not vendor/class (e.g. nvidia.com/gpu)", raw.kind),
            );
            ("", "")
        }
    };
    check_edits(&raw.container_edits, "containerEdits", e);
    // Devices.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, d) in raw.devices.iter().enumerate() {
        let at = yaml::join_index("devices", i);
        if let Some(p) = name_problem(&d.name, true) {
            e.at(
                &yaml::join_key(&at, "name"),
                format!("invalid device name {:?}: {p}", d.name),
            );
        }
        if d.container_edits.is_empty() {
            e.at(
                &at,
                format!(
                    "device {:?} has no containerEdits (a device needs at least one edit)",
                    d.name
                ),
            );
        }
        check_edits(
            &d.container_edits,
            &yaml::join_key(&at, "containerEdits"),
            e,
        );
        if let Some(first) = seen.insert(&d.name, i) {
            e.at(
                &yaml::join_key(&at, "name"),
                format!("duplicate device {:?} (also devices[{first}])", d.name),
            );
            seen.insert(&d.name, first);
        }
    }
    if raw.devices.is_empty() {
        e.at("devices", "the spec has no devices".into());
    }
    // Features newer than the declared version.
    if let Some(v) = version {
        for (need, path, what) in features(raw) {
            if need > v {
                e.at(
                    &path,
                    format!("{what} needs cdiVersion {need} or later, the spec declares {v}"),
                );
            }
        }
    }
    let version = version?;
    Some(Spec {
        path: file.to_string(),
        priority,
        version,
        vendor: vendor.to_string(),
        class: class.to_string(),
        edits: raw.container_edits.clone(),
        devices: raw
            .devices
            .iter()
            .map(|d| Device {
                name: d.name.clone(),
                edits: d.container_edits.clone(),
            })
            .collect(),
    })
}

fn env_ok(v: &str) -> bool {
    v.find('=').is_some_and(|i| i > 0)
}

fn check_edits(ed: &ContainerEdits, at: &str, e: &mut Errors<'_>) {
    let key = |k: &str| yaml::join_key(at, k);
    for (i, v) in ed.env.iter().enumerate() {
        if !env_ok(v) {
            e.at(
                &yaml::join_index(&key("env"), i),
                format!("invalid environment variable {v:?} (want NAME=VALUE)"),
            );
        }
    }
    for (i, n) in ed.device_nodes.iter().enumerate() {
        let p = yaml::join_index(&key("deviceNodes"), i);
        if n.path.is_empty() {
            e.at(&yaml::join_key(&p, "path"), "empty device path".into());
        }
        if let Some(t) = n.dev_type() {
            if !matches!(t, "b" | "c" | "u" | "p") {
                e.at(
                    &yaml::join_key(&p, "type"),
                    format!("invalid device type {t:?} (b, c, u or p)"),
                );
            }
        }
        for (k, v) in [("major", n.major), ("minor", n.minor)] {
            if v.is_some_and(|v| v < 0) {
                e.at(
                    &yaml::join_key(&p, k),
                    format!("negative device number {}", v.unwrap_or_default()),
                );
            }
        }
        if let Some(perm) = n.permissions.as_deref() {
            if perm != "none" && !perm.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                e.at(
                    &yaml::join_key(&p, "permissions"),
                    format!("invalid permissions {perm:?} (a subset of \"rwm\", or \"none\")"),
                );
            }
        }
    }
    for (i, h) in ed.hooks.iter().enumerate() {
        let p = yaml::join_index(&key("hooks"), i);
        if !HOOK_NAMES.contains(&h.hook_name.as_str()) {
            e.at(
                &yaml::join_key(&p, "hookName"),
                format!(
                    "invalid hook name {:?} (one of {})",
                    h.hook_name,
                    HOOK_NAMES.join(", ")
                ),
            );
        }
        if h.path.is_empty() {
            e.at(&yaml::join_key(&p, "path"), "empty hook path".into());
        }
        for (j, v) in h.env.iter().enumerate() {
            if !env_ok(v) {
                e.at(
                    &yaml::join_index(&yaml::join_key(&p, "env"), j),
                    format!("invalid environment variable {v:?} (want NAME=VALUE)"),
                );
            }
        }
    }
    for (i, m) in ed.mounts.iter().enumerate() {
        let p = yaml::join_index(&key("mounts"), i);
        if m.host_path.is_empty() {
            e.at(&yaml::join_key(&p, "hostPath"), "empty host path".into());
        }
        if m.container_path.is_empty() {
            e.at(
                &yaml::join_key(&p, "containerPath"),
                "empty container path".into(),
            );
        }
    }
    if let Some(c) = ed.intel_rdt.as_ref().and_then(|r| r.clos_id.as_deref()) {
        if c != "/" && (c.len() >= 4096 || c == "." || c == ".." || c.contains(['/', '\n'])) {
            e.at(
                &yaml::join_key(&key("intelRdt"), "closID"),
                format!("invalid closID {c:?} (a file name, or \"/\")"),
            );
        }
    }
    let mut hosts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in ed.net_devices.iter().enumerate() {
        let p = yaml::join_index(&key("netDevices"), i);
        if n.host_interface_name.is_empty() {
            e.at(
                &yaml::join_key(&p, "hostInterfaceName"),
                "empty hostInterfaceName".into(),
            );
        } else if let Some(j) = hosts.insert(&n.host_interface_name, i) {
            e.at(
                &yaml::join_key(&p, "hostInterfaceName"),
                format!(
                    "duplicate hostInterfaceName {:?} (also netDevices[{j}])",
                    n.host_interface_name
                ),
            );
        }
        if n.name.is_empty() {
            e.at(&yaml::join_key(&p, "name"), "empty name".into());
        } else if let Some(j) = names.insert(&n.name, i) {
            e.at(
                &yaml::join_key(&p, "name"),
                format!("duplicate name {:?} (also netDevices[{j}])", n.name),
            );
        }
    }
}

/// Every feature with a minimum version: `(version, path, what)`, the
/// first occurrence of each.
fn features(raw: &RawSpec) -> Vec<(Version, String, &'static str)> {
    let mut out: Vec<(Version, String, &'static str)> = Vec::new();
    let mut add = |v: Version, path: String, what: &'static str| {
        if !out.iter().any(|(_, _, w)| *w == what) {
            out.push((v, path, what));
        }
    };
    let edits = std::iter::once(("containerEdits".to_string(), &raw.container_edits)).chain(
        raw.devices.iter().enumerate().map(|(i, d)| {
            (
                yaml::join_key(&yaml::join_index("devices", i), "containerEdits"),
                &d.container_edits,
            )
        }),
    );
    if !raw.annotations.is_empty() {
        add(Version(0, 6, 0), "annotations".into(), "annotations");
    }
    if raw
        .kind
        .split_once('/')
        .is_some_and(|(_, c)| c.contains('.'))
    {
        add(Version(0, 6, 0), "kind".into(), "a '.' in the class name");
    }
    for (i, d) in raw.devices.iter().enumerate() {
        let at = yaml::join_index("devices", i);
        if d.name.starts_with(|c: char| c.is_ascii_digit()) {
            add(
                Version(0, 5, 0),
                yaml::join_key(&at, "name"),
                "a device name starting with a digit",
            );
        }
        if !d.annotations.is_empty() {
            add(
                Version(0, 6, 0),
                yaml::join_key(&at, "annotations"),
                "annotations",
            );
        }
    }
    for (at, ed) in edits {
        let key = |k: &str| yaml::join_key(&at, k);
        if let Some(i) = ed.mounts.iter().position(|m| m.mount_type().is_some()) {
            add(
                Version(0, 4, 0),
                yaml::join_key(&yaml::join_index(&key("mounts"), i), "type"),
                "a mount type",
            );
        }
        if let Some(i) = ed
            .device_nodes
            .iter()
            .position(|n| n.host_path.as_deref().is_some_and(|h| !h.is_empty()))
        {
            add(
                Version(0, 5, 0),
                yaml::join_key(&yaml::join_index(&key("deviceNodes"), i), "hostPath"),
                "hostPath",
            );
        }
        if let Some(r) = &ed.intel_rdt {
            add(Version(0, 7, 0), key("intelRdt"), "intelRdt");
            if !r.schemata.is_empty() {
                add(
                    Version(1, 1, 0),
                    yaml::join_key(&key("intelRdt"), "schemata"),
                    "intelRdt.schemata",
                );
            }
            if r.enable_monitoring {
                add(
                    Version(1, 1, 0),
                    yaml::join_key(&key("intelRdt"), "enableMonitoring"),
                    "intelRdt.enableMonitoring",
                );
            }
        }
        if !ed.additional_gids.is_empty() {
            add(Version(0, 7, 0), key("additionalGids"), "additionalGids");
        }
        if !ed.net_devices.is_empty() {
            add(Version(1, 1, 0), key("netDevices"), "netDevices");
        }
    }
    out
}
