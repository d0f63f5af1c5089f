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

use crate::yaml::nullable;

crate::from_node_struct!(direct RawSpec {
    "cdiVersion" => cdi_version: String;
    "kind" => kind: String;
    "annotations" => annotations: BTreeMap<String, String> [nullable] = BTreeMap::new();
    "devices" => devices: Vec<RawDevice> [nullable] = Vec::new();
    "containerEdits" => container_edits: ContainerEdits [nullable] = ContainerEdits::default();
});

crate::from_node_struct!(direct RawDevice {
    "name" => name: String;
    "annotations" => annotations: BTreeMap<String, String> [nullable] = BTreeMap::new();
    "containerEdits" => container_edits: ContainerEdits [nullable] = ContainerEdits::default();
});

crate::from_node_struct!(direct ContainerEdits {
    "env" => env: Vec<String> [nullable] = Vec::new();
    "deviceNodes" => device_nodes: Vec<DeviceNode> [nullable] = Vec::new();
    "hooks" => hooks: Vec<Hook> [nullable] = Vec::new();
    "mounts" => mounts: Vec<Mount> [nullable] = Vec::new();
    "additionalGids" => additional_gids: Vec<u32> [nullable] = Vec::new(), or "additionalGIDs";
    "intelRdt" => intel_rdt: Option<IntelRdt> = None;
    "netDevices" => net_devices: Vec<NetDevice> [nullable] = Vec::new();
});

crate::from_node_struct!(direct DeviceNode {
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

crate::from_node_struct!(direct Mount {
    "hostPath" => host_path: String;
    "containerPath" => container_path: String;
    "options" => options: Vec<String> [nullable] = Vec::new();
    "type" => mount_type: Option<String> = None;
});

crate::from_node_struct!(direct Hook {
    "hookName" => hook_name: String;
    "path" => path: String;
    "args" => args: Vec<String> [nullable] = Vec::new();
    "env" => env: Vec<String> [nullable] = Vec::new();
    "timeout" => timeout: Option<i64> = None;
});

crate::from_node_struct!(direct IntelRdt {
    "closID" => clos_id: Option<String> = None;
    "l3CacheSchema" => l3_cache_schema: Option<String> = None;
    "memBwSchema" => mem_bw_schema: Option<String> = None;
    "schemata" => schemata: Vec<String> [nullable] = Vec::new();
    "enableMonitoring" => enable_monitoring: bool = false;
});

crate::from_node_struct!(direct NetDevice {
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
        let mut q = String::with_capacity(self.vendor.len() + self.class.len() + device.len() + 2);
        for part in [&self.vendor, "/", &self.class, "=", device] {
            q.push_str(part);
        }
        q
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

/// One line, whatever the names in it: a spec file's name is chosen by
/// whoever can write its directory (a sticky one: anyone), so characters
/// that would break or reorder the line are shown escaped.
impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::bytes::escape_controls as esc;
        f.write_str(&esc(&self.file))?;
        if let Some(m) = self.mark {
            write!(f, ":{}:{}", m.line, m.col)?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", esc(&self.path))?;
        }
        f.write_str(&esc(&self.message))
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

/// How specs are read: YAML 1.1 octal, as the Go reference decodes them.
const READ: ParseOptions = ParseOptions { yaml11_octal: true };

/// A place in a spec, spelled as a path (`devices[0].containerEdits`)
/// only for an error.
#[derive(Clone, Copy)]
enum Loc<'a> {
    Top(&'static str),
    Key(&'a Loc<'a>, &'static str),
    Index(&'a Loc<'a>, usize),
}

impl Loc<'_> {
    fn path(&self) -> String {
        match self {
            Loc::Top(key) => (*key).to_string(),
            Loc::Key(parent, key) => yaml::join_key(&parent.path(), key),
            Loc::Index(parent, i) => yaml::join_index(&parent.path(), *i),
        }
    }
}

/// Most errors kept for one spec file (a 4 MiB spec can hold hundreds of
/// thousands of bad entries); the list then ends with `too many errors`.
const MAX_SPEC_ERRORS: usize = 64;

/// Collects the errors of one file, located in its tree; without a tree,
/// only whether there were any matters (see [`parse`]).
struct Errors<'a> {
    file: &'a str,
    root: Option<&'a Node>,
    kind: Option<String>,
    out: Vec<LoadError>,
    /// How many errors are kept.
    limit: usize,
    /// Whether any was not kept.
    more: bool,
}

impl<'a> Errors<'a> {
    fn new(file: &'a str, root: Option<&'a Node>, kind: Option<String>) -> Errors<'a> {
        Errors {
            file,
            root,
            kind,
            out: Vec::new(),
            // Without a tree one error is as good as all of them.
            limit: if root.is_some() { MAX_SPEC_ERRORS } else { 1 },
            more: false,
        }
    }

    /// Report at `at`, or at its nearest ancestor present in the file
    /// (an alias spelling, or a key that was left out).
    fn at(&mut self, at: &Loc<'_>, message: String) {
        if self.out.len() >= self.limit {
            self.more = true;
            return;
        }
        self.at_path(at.path(), message);
    }

    /// [`Errors::at`] the place spelled `path`.
    fn at_path(&mut self, path: String, message: String) {
        if self.out.len() >= self.limit {
            self.more = true;
            return;
        }
        let mark = self.root.map(|root| {
            let mut p = path.clone();
            loop {
                if let Some(m) = yaml::locate(root, &p) {
                    break m;
                }
                // The accepted alias spelling.
                if let Some(base) = p.strip_suffix("additionalGids") {
                    if let Some(m) = yaml::locate(root, &format!("{base}additionalGIDs")) {
                        break m;
                    }
                }
                match p.rfind(['.', '[']) {
                    Some(i) => p.truncate(i),
                    None => break root.mark,
                }
            }
        });
        self.out.push(LoadError {
            file: self.file.to_string(),
            mark,
            path,
            message,
            kind: self.kind.clone(),
        });
    }
}

/// Parse and check one spec file. `file` names it in errors.
///
/// Nearly every spec is of the simple shape ([`yaml::direct`]) and has no
/// problem, so it is read straight into its types first and checked
/// without a tree. Anything else, and any spec with a problem, is read
/// again through the tree, which locates every problem.
pub fn parse(file: &str, text: &str, priority: usize) -> Result<Spec, Vec<LoadError>> {
    if let Some(raw) = yaml::direct::read::<RawSpec>(text, READ) {
        let mut errs = Errors::new(file, None, None);
        if let Some(version) = check(&raw, &mut errs)
            && errs.out.is_empty()
            && let Some(spec) = into_spec(raw, file, priority, version)
        {
            return Ok(spec);
        }
    }
    parse_located(file, text, priority)
}

/// [`parse`] through the tree alone, for the fuzz target that holds the
/// two to the same answers.
#[doc(hidden)]
pub fn parse_through_tree(file: &str, text: &str, priority: usize) -> Result<Spec, Vec<LoadError>> {
    parse_located(file, text, priority)
}

/// [`parse`] through the tree: every problem, located.
fn parse_located(file: &str, text: &str, priority: usize) -> Result<Spec, Vec<LoadError>> {
    let plain = |mark: Option<Mark>, message: String| LoadError {
        file: file.to_string(),
        mark,
        path: String::new(),
        message,
        kind: None,
    };
    let root = yaml::parse(text, READ).map_err(|e| vec![plain(Some(e.mark), e.message)])?;
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
    let mut errs = Errors::new(file, Some(&root), kind);
    let version = check(&raw, &mut errs);
    let (mut out, more, kind) = (errs.out, errs.more, errs.kind);
    match version.and_then(|v| into_spec(raw, file, priority, v)) {
        Some(s) if out.is_empty() => Ok(s),
        _ => {
            crate::sort::sort_by_key(&mut out, |e| e.mark.map(|m| (m.line, m.col)));
            if more {
                out.push(LoadError {
                    file: file.to_string(),
                    mark: Some(root.mark),
                    path: String::new(),
                    message: format!("too many errors (the first {MAX_SPEC_ERRORS} are listed)"),
                    kind,
                });
            }
            Err(out)
        }
    }
}

/// The spec a checked `raw` makes; `None` when its kind is not
/// `vendor/class` (which [`check`] reports).
fn into_spec(raw: RawSpec, file: &str, priority: usize, version: Version) -> Option<Spec> {
    let (vendor, class) = raw.kind.split_once('/')?;
    let (vendor, class) = (vendor.to_string(), class.to_string());
    Some(Spec {
        path: file.to_string(),
        priority,
        version,
        vendor,
        class,
        edits: raw.container_edits,
        devices: raw
            .devices
            .into_iter()
            .map(|d| Device {
                name: d.name,
                edits: d.container_edits,
            })
            .collect(),
    })
}

/// Every rule a spec must meet beyond its structure, each problem reported
/// to `e`. The version when it is known (even with other problems).
fn check(raw: &RawSpec, e: &mut Errors<'_>) -> Option<Version> {
    // Version.
    let version = Version::parse(&raw.cdi_version);
    match version {
        None => e.at(
            &Loc::Top("cdiVersion"),
            format!(
                "unknown version {:?} (known: {})",
                raw.cdi_version,
                KNOWN_VERSIONS[2..].join(", ")
            ),
        ),
        Some(v) if v < OLDEST_SUPPORTED => e.at(
            &Loc::Top("cdiVersion"),
            format!("version {v} is not supported (the oldest supported is {OLDEST_SUPPORTED})"),
        ),
        Some(_) => {}
    }
    // Kind.
    let kind = Loc::Top("kind");
    match raw.kind.split_once('/') {
        Some((v, c)) => {
            if let Some(p) = name_problem(v, false) {
                e.at(&kind, format!("invalid vendor {v:?}: {p}"));
            }
            if let Some(p) = name_problem(c, false) {
                e.at(&kind, format!("invalid class {c:?}: {p}"));
            }
        }
        None => e.at(
            &kind,
            format!("{:?} is not vendor/class (e.g. nvidia.com/gpu)", raw.kind),
        ),
    }
    check_edits(&raw.container_edits, &Loc::Top("containerEdits"), e);
    // Devices.
    let devices = Loc::Top("devices");
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, d) in raw.devices.iter().enumerate() {
        let at = Loc::Index(&devices, i);
        if let Some(p) = name_problem(&d.name, true) {
            e.at(
                &Loc::Key(&at, "name"),
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
        check_edits(&d.container_edits, &Loc::Key(&at, "containerEdits"), e);
        if let Some(first) = seen.insert(&d.name, i) {
            e.at(
                &Loc::Key(&at, "name"),
                format!("duplicate device {:?} (also devices[{first}])", d.name),
            );
            seen.insert(&d.name, first);
        }
    }
    if raw.devices.is_empty() {
        e.at(&devices, "the spec has no devices".into());
    }
    // Features newer than the declared version.
    if let Some(v) = version {
        for (need, path, what) in features(raw) {
            if need > v {
                e.at_path(
                    path,
                    format!("{what} needs cdiVersion {need} or later, the spec declares {v}"),
                );
            }
        }
    }
    version
}

/// What is wrong with an environment entry: it must be `NAME=VALUE` with
/// a name, and hold no NUL (the workload's environment cannot, and the
/// launch would find out only at its exec, after the sandbox is applied).
fn env_problem(v: &str) -> Option<String> {
    if v.contains('\0') {
        Some(format!("environment variable {v:?} has a NUL byte"))
    } else if v.find('=').is_none_or(|i| i == 0) {
        Some(format!(
            "invalid environment variable {v:?} (want NAME=VALUE)"
        ))
    } else {
        None
    }
}

/// A path with a control character (a newline, a NUL), or one that breaks
/// or reorders a shown line (U+2028, a bidirectional override), names
/// nothing a spec means, and would reach messages as it is.
fn check_path_chars(v: &str, at: &Loc<'_>, key: &'static str, e: &mut Errors<'_>) {
    if crate::bytes::has_escaped(v) {
        let what = if v.chars().any(char::is_control) {
            "a control character"
        } else {
            "a character that breaks or reorders a shown line"
        };
        e.at(
            &Loc::Key(at, key),
            format!(
                "{key} {} has {what}",
                crate::bytes::escape_controls(&format!("{v:?}"))
            ),
        );
    }
}

fn check_edits(ed: &ContainerEdits, at: &Loc<'_>, e: &mut Errors<'_>) {
    let env = Loc::Key(at, "env");
    for (i, v) in ed.env.iter().enumerate() {
        if let Some(why) = env_problem(v) {
            e.at(&Loc::Index(&env, i), why);
        }
    }
    let nodes = Loc::Key(at, "deviceNodes");
    for (i, n) in ed.device_nodes.iter().enumerate() {
        let p = Loc::Index(&nodes, i);
        if n.path.is_empty() {
            e.at(&Loc::Key(&p, "path"), "empty device path".into());
        }
        check_path_chars(&n.path, &p, "path", e);
        if let Some(h) = &n.host_path {
            check_path_chars(h, &p, "hostPath", e);
        }
        if let Some(t) = n.dev_type() {
            if !matches!(t, "b" | "c" | "u" | "p") {
                e.at(
                    &Loc::Key(&p, "type"),
                    format!("invalid device type {t:?} (b, c, u or p)"),
                );
            }
        }
        if let Some(m) = n.file_mode.filter(|m| *m > 0o7777) {
            e.at(
                &Loc::Key(&p, "fileMode"),
                format!("fileMode {m:#o} has bits beyond a node's permission bits (07777)"),
            );
        }
        for (k, v) in [("major", n.major), ("minor", n.minor)] {
            if v.is_some_and(|v| v < 0) {
                e.at(
                    &Loc::Key(&p, k),
                    format!("negative device number {}", v.unwrap_or_default()),
                );
            }
        }
        if let Some(perm) = n.permissions.as_deref() {
            if perm != "none" && !perm.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                e.at(
                    &Loc::Key(&p, "permissions"),
                    format!("invalid permissions {perm:?} (a subset of \"rwm\", or \"none\")"),
                );
            }
        }
    }
    let hooks = Loc::Key(at, "hooks");
    for (i, h) in ed.hooks.iter().enumerate() {
        let p = Loc::Index(&hooks, i);
        if !HOOK_NAMES.contains(&h.hook_name.as_str()) {
            e.at(
                &Loc::Key(&p, "hookName"),
                format!(
                    "invalid hook name {:?} (one of {})",
                    h.hook_name,
                    HOOK_NAMES.join(", ")
                ),
            );
        }
        if h.path.is_empty() {
            e.at(&Loc::Key(&p, "path"), "empty hook path".into());
        }
        check_path_chars(&h.path, &p, "path", e);
        let env = Loc::Key(&p, "env");
        for (j, v) in h.env.iter().enumerate() {
            if let Some(why) = env_problem(v) {
                e.at(&Loc::Index(&env, j), why);
            }
        }
    }
    let mounts = Loc::Key(at, "mounts");
    for (i, m) in ed.mounts.iter().enumerate() {
        let p = Loc::Index(&mounts, i);
        if m.host_path.is_empty() {
            e.at(&Loc::Key(&p, "hostPath"), "empty host path".into());
        }
        if m.container_path.is_empty() {
            e.at(
                &Loc::Key(&p, "containerPath"),
                "empty container path".into(),
            );
        }
        check_path_chars(&m.host_path, &p, "hostPath", e);
        check_path_chars(&m.container_path, &p, "containerPath", e);
    }
    if let Some(c) = ed.intel_rdt.as_ref().and_then(|r| r.clos_id.as_deref()) {
        if c != "/" && (c.len() >= 4096 || c == "." || c == ".." || c.contains(['/', '\n'])) {
            let rdt = Loc::Key(at, "intelRdt");
            e.at(
                &Loc::Key(&rdt, "closID"),
                format!("invalid closID {c:?} (a file name, or \"/\")"),
            );
        }
    }
    let net = Loc::Key(at, "netDevices");
    let mut hosts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in ed.net_devices.iter().enumerate() {
        let p = Loc::Index(&net, i);
        if n.host_interface_name.is_empty() {
            e.at(
                &Loc::Key(&p, "hostInterfaceName"),
                "empty hostInterfaceName".into(),
            );
        } else if let Some(j) = hosts.insert(&n.host_interface_name, i) {
            e.at(
                &Loc::Key(&p, "hostInterfaceName"),
                format!(
                    "duplicate hostInterfaceName {:?} (also netDevices[{j}])",
                    n.host_interface_name
                ),
            );
        }
        if n.name.is_empty() {
            e.at(&Loc::Key(&p, "name"), "empty name".into());
        } else if let Some(j) = names.insert(&n.name, i) {
            e.at(
                &Loc::Key(&p, "name"),
                format!("duplicate name {:?} (also netDevices[{j}])", n.name),
            );
        }
    }
}

/// The features with a minimum version that a spec uses: `(version,
/// where, what)`, the first occurrence of each.
struct Features(Vec<(Version, String, &'static str)>);

impl Features {
    fn add(&mut self, v: Version, at: &Loc<'_>, what: &'static str) {
        if !self.0.iter().any(|(_, _, w)| *w == what) {
            self.0.push((v, at.path(), what));
        }
    }

    fn edits(&mut self, at: &Loc<'_>, ed: &ContainerEdits) {
        if let Some(i) = ed.mounts.iter().position(|m| m.mount_type().is_some()) {
            let list = Loc::Key(at, "mounts");
            let item = Loc::Index(&list, i);
            self.add(Version(0, 4, 0), &Loc::Key(&item, "type"), "a mount type");
        }
        if let Some(i) = ed
            .device_nodes
            .iter()
            .position(|n| n.host_path.as_deref().is_some_and(|h| !h.is_empty()))
        {
            let list = Loc::Key(at, "deviceNodes");
            let item = Loc::Index(&list, i);
            self.add(Version(0, 5, 0), &Loc::Key(&item, "hostPath"), "hostPath");
        }
        if let Some(r) = &ed.intel_rdt {
            let rdt = Loc::Key(at, "intelRdt");
            self.add(Version(0, 7, 0), &rdt, "intelRdt");
            if !r.schemata.is_empty() {
                let schemata = Loc::Key(&rdt, "schemata");
                self.add(Version(1, 1, 0), &schemata, "intelRdt.schemata");
            }
            if r.enable_monitoring {
                let monitoring = Loc::Key(&rdt, "enableMonitoring");
                self.add(Version(1, 1, 0), &monitoring, "intelRdt.enableMonitoring");
            }
        }
        if !ed.additional_gids.is_empty() {
            self.add(
                Version(0, 7, 0),
                &Loc::Key(at, "additionalGids"),
                "additionalGids",
            );
        }
        if !ed.net_devices.is_empty() {
            self.add(Version(1, 1, 0), &Loc::Key(at, "netDevices"), "netDevices");
        }
    }
}

/// Every feature with a minimum version: `(version, path, what)`, the
/// first occurrence of each.
fn features(raw: &RawSpec) -> Vec<(Version, String, &'static str)> {
    let mut out = Features(Vec::new());
    if !raw.annotations.is_empty() {
        out.add(Version(0, 6, 0), &Loc::Top("annotations"), "annotations");
    }
    if raw
        .kind
        .split_once('/')
        .is_some_and(|(_, c)| c.contains('.'))
    {
        out.add(
            Version(0, 6, 0),
            &Loc::Top("kind"),
            "a '.' in the class name",
        );
    }
    let devices = Loc::Top("devices");
    for (i, d) in raw.devices.iter().enumerate() {
        let at = Loc::Index(&devices, i);
        if d.name.starts_with(|c: char| c.is_ascii_digit()) {
            out.add(
                Version(0, 5, 0),
                &Loc::Key(&at, "name"),
                "a device name starting with a digit",
            );
        }
        if !d.annotations.is_empty() {
            out.add(
                Version(0, 6, 0),
                &Loc::Key(&at, "annotations"),
                "annotations",
            );
        }
    }
    out.edits(&Loc::Top("containerEdits"), &raw.container_edits);
    for (i, d) in raw.devices.iter().enumerate() {
        let at = Loc::Index(&devices, i);
        out.edits(&Loc::Key(&at, "containerEdits"), &d.container_edits);
    }
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Both ways of reading `text` agree: where the direct reader answers,
    /// the tree's conversion gives the same value without an error, and
    /// [`parse`] gives what [`parse_located`] gives, errors included.
    /// Returns whether the direct reader answered.
    fn agrees(text: &str) -> bool {
        let direct = yaml::direct::read::<RawSpec>(text, READ);
        if let Some(raw) = &direct {
            let tree = yaml::parse(text, READ)
                .map_err(|e| format!("{e}"))
                .and_then(|root| yaml::from_node::<RawSpec>(&root).map_err(|e| format!("{e:?}")));
            assert_eq!(tree.as_ref(), Ok(raw), "the readers disagree on {text:?}");
        }
        assert_eq!(
            parse("spec.yaml", text, 3),
            parse_located("spec.yaml", text, 3),
            "parse differs on {text:?}"
        );
        direct.is_some()
    }

    /// A spec of the shape `nvidia-ctk cdi generate` writes.
    fn nvidia_shaped() -> String {
        let mut s = String::from("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n");
        for i in 0..4 {
            s += &format!(
                "- name: \"{i}\"\n  containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia{i}\n      major: 195\n      minor: {i}\n      permissions: rwm\n    - path: /dev/dri/card{i}\n    hooks:\n    - hookName: createContainer\n      path: /usr/bin/nvidia-cdi-hook\n      args:\n      - nvidia-cdi-hook\n      - create-symlinks\n      - --link\n      - ../card{i}::/dev/dri/by-path/pci-0000:1{i}:00.0-card\n      env:\n      - NVIDIA_CTK_DEBUG=false\n"
            );
        }
        s += "containerEdits:\n  env:\n  - NVIDIA_VISIBLE_DEVICES=void\n  deviceNodes:\n  - path: /dev/nvidiactl\n  mounts:\n  - hostPath: /usr/lib/libcuda.so.550.54.15\n    containerPath: /usr/lib/libcuda.so.550.54.15\n    options: [ro, nosuid, nodev, rbind, rprivate]\n";
        s
    }

    #[test]
    fn an_environment_entry_with_a_nul_is_an_error() {
        let spec = |v: &str| {
            format!(
                "cdiVersion: 0.5.0\nkind: example.com/dev\ndevices:\n- name: \"0\"\n  containerEdits:\n    env: [\"{v}\"]\n    hooks: [{{hookName: createContainer, path: /bin/h, env: [\"{v}\"]}}]\n"
            )
        };
        assert!(parse("s.yaml", &spec("A=1"), 0).is_ok());
        for bad in ["A=z\\u0000w", "A\\u0000=1"] {
            let errors = parse("s.yaml", &spec(bad), 0).err().unwrap_or_default();
            assert_eq!(
                errors
                    .iter()
                    .filter(|e| e.message.contains("has a NUL byte"))
                    .count(),
                2,
                "{bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn a_file_mode_beyond_the_permission_bits_is_an_error() {
        let spec = |m: &str| {
            format!(
                "cdiVersion: 0.5.0\nkind: example.com/dev\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes: [{{path: /dev/x, fileMode: {m}}}]\n"
            )
        };
        for ok in ["07777", "0666", "0"] {
            assert!(parse("s.yaml", &spec(ok), 0).is_ok(), "{ok}");
        }
        for bad in ["010000", "4096", "0o20000666"] {
            let errors = parse("s.yaml", &spec(bad), 0).err().unwrap_or_default();
            assert!(
                errors.iter().any(|e| e
                    .to_string()
                    .contains("has bits beyond a node's permission bits")),
                "{bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn specs_of_the_common_shape_are_read_directly() {
        let example = "cdiVersion: 0.5.0\nkind: example.com/dev\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes: [{path: /dev/x, type: c, major: 1, minor: 3}]\n- name: '1'\n  containerEdits:\n    env: [A=1]\n    deviceNodes:\n    - path: /dev/y\n      fileMode: 0666\n      uid: 0\n";
        for text in [example, &nvidia_shaped()] {
            assert!(agrees(text), "not read directly: {text}");
            assert!(parse("spec.yaml", text, 0).is_ok());
        }
        // `fileMode: 0666` is YAML 1.1 octal, as the reference reads it.
        let raw = yaml::direct::read::<RawSpec>(example, READ).unwrap_or_default();
        let node = raw
            .devices
            .get(1)
            .and_then(|d| d.container_edits.device_nodes.first());
        assert_eq!(node.and_then(|n| n.file_mode), Some(0o666));
    }

    #[test]
    fn what_the_conversion_reports_is_left_to_it() {
        for text in [
            // An unknown key, one in the wrong case, an alias and its key.
            "cdiVersion: 0.5.0\nkind: a.b/c\nbogus: 1\ndevices:\n- name: x\n  containerEdits:\n    env: [A=1]\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    Env: [A=1]\n",
            "cdiVersion: 0.7.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    additionalGids: [1]\n    additionalGIDs: [2]\n",
            // Missing, null and mistyped values.
            "kind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    env: [A=1]\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: ~\n  containerEdits:\n    env: [A=1]\n",
            "cdiVersion: 0.5\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    env: [A=1]\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: 0\n  containerEdits:\n    env: [A=1]\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    deviceNodes: [{path: /d, major: \"1\"}]\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    deviceNodes: [{path: /d, uid: -1}]\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    deviceNodes: [{path: /d, major: 99999999999999999999}]\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    deviceNodes: {path: /d}\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits: [env]\n",
            "cdiVersion: 0.7.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    intelRdt: {enableMonitoring: \"true\"}\n",
        ] {
            assert!(!agrees(text), "read directly: {text}");
            assert!(parse("spec.yaml", text, 0).is_err(), "accepted: {text}");
        }
        // The controls: the same documents without the problem are read.
        for text in [
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    env: [A=1]\n",
            "cdiVersion: 0.7.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    additionalGIDs: [2]\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    deviceNodes: [{path: /d, major: 1, uid: 1}]\n",
            "cdiVersion: 0.7.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    intelRdt: {enableMonitoring: false}\n",
            "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits: ~\n  annotations: ~\n- name: y\n  containerEdits:\n    env: [A=1]\n",
        ] {
            assert!(agrees(text), "not read directly: {text}");
        }
    }

    #[test]
    fn specs_that_break_a_rule_are_reported_at_their_place() {
        // Read directly, then checked: a problem sends the spec through
        // the tree, whose errors are located.
        let text = "cdiVersion: 0.5.0\nkind: a.b/c\ndevices:\n- name: x\n  containerEdits:\n    env: [noequals]\n";
        assert!(agrees(text));
        let errs = parse("spec.yaml", text, 0).err().unwrap_or_default();
        let first = errs.first().map(ToString::to_string);
        assert_eq!(
            first.as_deref(),
            Some(
                "spec.yaml:6:11: devices[0].containerEdits.env[0]: invalid environment variable \"noequals\" (want NAME=VALUE)"
            )
        );
    }

    /// A spec near the size limit with a bad entry on every line: the
    /// first errors, then one line that says there were more, in about the
    /// time reading it takes (sorting every error one by one hung on it).
    #[test]
    fn a_spec_of_many_errors_is_refused_with_the_first_of_them() {
        let mut text = String::from(
            "cdiVersion: 0.5.0\nkind: example.com/dev\ndevices:\n- name: x\n  containerEdits:\n    env:\n",
        );
        let bad = 200_000;
        for _ in 0..bad {
            text += "    - a\n";
        }
        let start = std::time::Instant::now();
        let errs = parse("spec.yaml", &text, 0).err().unwrap_or_default();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "took {:?}",
            start.elapsed()
        );
        assert_eq!(errs.len(), MAX_SPEC_ERRORS + 1);
        assert_eq!(
            errs.first().map(ToString::to_string).as_deref(),
            Some(
                "spec.yaml:7:7: devices[0].containerEdits.env[0]: invalid environment variable \"a\" (want NAME=VALUE)"
            )
        );
        assert_eq!(
            errs.last().map(|e| e.message.as_str()),
            Some("too many errors (the first 64 are listed)")
        );
        // The control: as many errors as the limit are all listed, and
        // nothing more is said.
        let few: String = text
            .lines()
            .take(6 + MAX_SPEC_ERRORS)
            .map(|l| format!("{l}\n"))
            .collect();
        let errs = parse("spec.yaml", &few, 0).err().unwrap_or_default();
        assert_eq!(errs.len(), MAX_SPEC_ERRORS);
        assert!(
            errs.iter()
                .all(|e| e.message.starts_with("invalid environment"))
        );
    }

    /// Every spec the test suite reads.
    #[test]
    fn the_suites_specs_read_alike() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cdi");
        let mut stack = vec![root];
        let (mut seen, mut direct) = (0, 0);
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    seen += 1;
                    direct += usize::from(agrees(&text));
                }
            }
        }
        assert!(seen > 20, "only {seen} specs found");
        assert!(direct > 5, "{direct} of {seen} specs read directly");
    }

    // Each list holds values that read (several, so that most drawn specs
    // are valid) and values that the conversion or a rule refuses.
    const VERSIONS: &[&str] = &[
        "0.5.0",
        "0.6.0",
        "1.1.0",
        "\"0.7.0\"",
        "v0.7.0",
        "0.3.0",
        "0.1.0",
        "9.9.9",
        "0.5",
        "~",
    ];
    const KINDS: &[&str] = &[
        "example.com/dev",
        "vendor.io/class",
        "'a.b/c'",
        "a/b.c",
        "bad",
        "1x/y",
        "{a: b}",
    ];
    const NAMES: &[&str] = &[
        "\"0\"", "gpu0", "'1'", "all", "MIG-0:1", "dev-x", "0", "a b", "~", "-x", "\"\"",
    ];
    const EDITS: &[&str] = &[
        // Read, and valid at a recent enough version.
        "env: [A=1, \"B=2\"]",
        "deviceNodes: [{path: /dev/x, type: c, major: 1, minor: 3}]",
        "deviceNodes:\n{i}- path: /dev/a\n{i}  type: b\n{i}  major: 8\n{i}- path: /dev/b",
        "deviceNodes: [{path: /dev/y, hostPath: /dev/z, fileMode: 0666, permissions: rw, uid: 1000, gid: 44}]",
        "mounts: [{hostPath: /a, containerPath: /b, options: [ro, bind]}]",
        "mounts:\n{i}- hostPath: /a\n{i}  containerPath: /c\n{i}  options: ~",
        "hooks:\n{i}- hookName: createContainer\n{i}  path: /bin/h\n{i}  args:\n{i}  - h\n{i}  - --link\n{i}  - a::b",
        "hooks: [{hookName: poststop, path: /bin/h, args: [h, --x], env: [A=1], timeout: 5}]",
        "additionalGids: [44, 45]",
        "intelRdt: {closID: x, schemata: [L3], enableMonitoring: true}",
        "netDevices: [{hostInterfaceName: eth0, name: e0}]",
        "env: ~",
        // Refused by the conversion or by a rule, or not of the shape.
        "env: [noequals]",
        "env: [1]",
        "env:\n{i}- C=3\n{i}- D=",
        "deviceNodes: [{path: /dev/x, major: -1}]",
        "deviceNodes: [{path: /dev/x, type: q, permissions: none}]",
        "deviceNodes: [{path: /dev/x, bogus: 1}]",
        "deviceNodes: [{path: \"\", fileMode: 0x1ff}]",
        "deviceNodes: [{path: /dev/x, minor: 1.5}]",
        "deviceNodes: 5",
        "mounts: [{hostPath: /a, containerPath: /b, type: tmpfs}]",
        "mounts: [{hostPath: /a}]",
        "hooks: [{hookName: nope, path: /bin/h}]",
        "hooks: [{hookName: poststop, path: /bin/h, env: [x]}]",
        "additionalGIDs: [7]",
        "additionalGids: [-1]",
        "additionalGids: [\"5\"]",
        "intelRdt: {closID: a/b}",
        "intelRdt: ~",
        "netDevices: [{hostInterfaceName: eth0, name: e0}, {hostInterfaceName: eth0, name: e1}]",
        "unknownKey: 1",
        "Env: [A=1]",
    ];

    /// How many values at the start of each list read.
    const GOOD: (usize, usize, usize, usize) = (5, 3, 6, 12);

    /// Edits at `indent`, one per line (block values one deeper), each key
    /// at most once.
    fn edits(picks: &[usize], indent: usize) -> String {
        let pad = " ".repeat(indent);
        let mut out = String::new();
        let mut keys: Vec<&str> = Vec::new();
        for &i in picks {
            let line = pick(EDITS, GOOD.3, i);
            let key = line.split(':').next().unwrap_or_default();
            if keys.contains(&key) {
                continue;
            }
            keys.push(key);
            out += &pad;
            out += &line.replace("{i}", &pad);
            out.push('\n');
        }
        out
    }

    /// A value of `list` by `i`: one of its first `good` three times in
    /// four.
    fn pick(list: &[&'static str], good: usize, i: usize) -> &'static str {
        let at = if i % 4 == 0 {
            i / 4 % list.len()
        } else {
            i / 4 % good
        };
        list.get(at).copied().unwrap_or_default()
    }

    /// A spec written from drawn parts: `drop` leaves out (or adds) one
    /// top-level key, each device is `(name, edits, form)`.
    fn written(
        version: usize,
        kind: usize,
        top: &[usize],
        devices: &[(usize, Vec<usize>, u8)],
        drop: u8,
    ) -> String {
        let mut s = String::new();
        if drop != 0 {
            s += &format!("cdiVersion: {}\n", pick(VERSIONS, GOOD.0, version));
        }
        if drop != 1 {
            s += &format!("kind: {}\n", pick(KINDS, GOOD.1, kind));
        }
        if drop == 2 {
            s += "annotations: {a: b}\n";
        }
        if !top.is_empty() {
            s += "containerEdits:\n";
            s += &edits(top, 2);
        }
        if drop != 3 {
            s += "devices:\n";
            for (name, picks, form) in devices {
                s += &format!("- name: {}\n", pick(NAMES, GOOD.2, *name));
                match (form, picks.is_empty()) {
                    (0, _) => s += "  containerEdits: ~\n",
                    (1, _) => s += "  containerEdits: {}\n",
                    (_, true) => {}
                    (_, false) => {
                        s += "  containerEdits:\n";
                        s += &edits(picks, 4);
                    }
                }
                if *form == 7 {
                    s += "  annotations: {x: y}\n";
                }
            }
            if devices.is_empty() {
                s += "- name: only\n  containerEdits:\n    env: [A=1]\n";
            }
        }
        s
    }

    /// The generator below reaches all three outcomes often: read
    /// directly and valid, read directly and then refused by a rule, and
    /// left to the tree.
    #[test]
    fn written_specs_reach_every_outcome() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut draw = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(seed >> 33).unwrap_or_default() % n
        };
        let (mut ok, mut refused, mut tree) = (0, 0, 0);
        for _ in 0..600 {
            let top: Vec<usize> = (0..draw(3)).map(|_| draw(1000)).collect();
            let devices: Vec<(usize, Vec<usize>, u8)> = (0..draw(4))
                .map(|_| {
                    let picks = (0..draw(4)).map(|_| draw(1000)).collect();
                    (draw(1000), picks, u8::try_from(draw(8)).unwrap_or(0))
                })
                .collect();
            let drop = u8::try_from(draw(24)).unwrap_or(0);
            let text = written(draw(1000), draw(1000), &top, &devices, drop);
            match (agrees(&text), parse("spec.yaml", &text, 0).is_ok()) {
                (true, true) => ok += 1,
                (true, false) => refused += 1,
                (false, _) => tree += 1,
            }
        }
        assert!(
            ok > 30 && refused > 30 && tree > 30,
            "ok {ok}, refused {refused}, tree {tree}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn written_specs_read_alike(
            version in any::<usize>(),
            kind in any::<usize>(),
            top in prop::collection::vec(any::<usize>(), 0..3),
            devices in prop::collection::vec(
                (any::<usize>(), prop::collection::vec(any::<usize>(), 0..4), 0u8..8),
                0..4,
            ),
            drop in 0u8..24,
        ) {
            agrees(&written(version, kind, &top, &devices, drop));
        }
    }
}
