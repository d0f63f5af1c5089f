//! Semantic rules over a parsed policy. Each problem is an [`Issue`] naming
//! its YAML path; the loader turns the path into line:column. All problems
//! are collected, none stops the walk.
//!
//! OpenShell's rules are kept (absolute paths, no `..`, no read-write `/`,
//! at most 4096 bytes per path and 256 paths, identities never root, ports
//! 1..65535, `access`/`rules` exclusive, ...) and their gaps closed: `version`
//! must be 1, paths are normalized before the checks (so `/.` is `/`), and an
//! unknown `compatibility` is a parse error instead of a silent best_effort.

use std::collections::{BTreeMap, BTreeSet};

use super::caps;
use super::model::{Endpoint, Id, L7Match, Policy};
use super::paths;
use crate::yaml::{join_index, join_key};

pub const MAX_PATHS: usize = 256;
pub const MAX_PATH_BYTES: usize = 4096;
pub const MAX_MIDDLEWARES: usize = 10;
pub const MAX_SELECTOR_PATTERNS: usize = 32;
pub const MAX_ID: u64 = 4_294_967_294;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Issue {
            path: path.into(),
            message: message.into(),
            hint: None,
        });
    }
    fn hint(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Issue {
            path: path.into(),
            message: message.into(),
            hint: Some(hint.into()),
        });
    }
}

pub fn validate(p: &Policy) -> Vec<Issue> {
    let mut out = Issues::default();
    if p.version != 1 {
        out.hint(
            "version",
            format!("unsupported policy version {}", p.version),
            "this build accepts version 1",
        );
    }
    filesystem(p, &mut out);
    process(p, &mut out);
    network_policies(p, &mut out);
    middlewares(p, &mut out);
    extensions(p, &mut out);
    out.0
}

/// Checks one absolute policy path; returns false when it is unusable.
fn check_path(path: &str, yaml: &str, out: &mut Issues) -> bool {
    if path.len() > MAX_PATH_BYTES {
        out.push(
            yaml,
            format!(
                "path is {} bytes long; the limit is {MAX_PATH_BYTES}",
                path.len()
            ),
        );
        return false;
    }
    if path.contains('\0') {
        out.push(yaml, "path contains a NUL byte");
        return false;
    }
    if !path.starts_with('/') {
        out.hint(
            yaml,
            format!("{path:?} is not an absolute path"),
            format!(
                "write it from the root, e.g. \"/{}\"",
                path.trim_start_matches("./")
            ),
        );
        return false;
    }
    if paths::has_parent_component(path) {
        out.push(yaml, format!("{path:?} contains a \"..\" component"));
        return false;
    }
    true
}

fn filesystem(p: &Policy, out: &mut Issues) {
    let Some(fs) = &p.filesystem_policy else {
        return;
    };
    let exec = fs.execute.as_deref().unwrap_or_default();
    let total = fs.read_only.len() + fs.read_write.len() + exec.len();
    if total > MAX_PATHS {
        out.push(
            "filesystem_policy",
            format!("too many filesystem paths ({total} > {MAX_PATHS})"),
        );
    }
    for (i, path) in fs.read_only.iter().enumerate() {
        check_path(path, &join_index("filesystem_policy.read_only", i), out);
    }
    if fs.execute.as_ref().is_some_and(Vec::is_empty) {
        out.hint(
            "filesystem_policy.execute",
            "an empty list lets nothing run, not even the workload",
            "list the directories that hold the workload's programs, e.g. /usr and /bin",
        );
    }
    for (i, path) in exec.iter().enumerate() {
        let yaml = join_index("filesystem_policy.execute", i);
        if check_path(path, &yaml, out) && paths::normalize(path) == "/" {
            out.hint(
                &yaml,
                format!(
                    "{path:?} makes every file executable, which is what omitting execute does"
                ),
                "list the directories that hold programs, e.g. /usr, or remove execute",
            );
        }
    }
    for (i, path) in fs.read_write.iter().enumerate() {
        let yaml = join_index("filesystem_policy.read_write", i);
        if check_path(path, &yaml, out) && paths::normalize(path) == "/" {
            out.hint(
                &yaml,
                format!("{path:?} would make the whole filesystem writable"),
                "list the directories the workload writes to, e.g. /tmp",
            );
        }
    }
}

/// `Some(reason)` when `id` cannot name the workload's user or group.
fn bad_identity(id: &Id) -> Option<(String, Option<&'static str>)> {
    let s = id.0.as_str();
    let hint =
        Some("use a numeric id such as 1000, or a non-root name from the image's /etc/passwd");
    if s.is_empty() {
        return Some(("empty identity".into(), hint));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<u64>() {
            Ok(0) => Some(("0 is root; the workload never runs as root".into(), hint)),
            Ok(n) if n <= MAX_ID => None,
            _ => Some((format!("{s} is out of range 1..{MAX_ID}"), None)),
        };
    }
    if s == "root" {
        return Some((
            "\"root\" is not allowed; the workload never runs as root".into(),
            hint,
        ));
    }
    let valid = s.len() <= 32
        && s.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphabetic()
                || b == b'_'
                || (i > 0 && (b.is_ascii_digit() || b == b'-' || b == b'.'))
                || (i + 1 == s.len() && i > 0 && b == b'$')
        });
    if valid {
        None
    } else {
        Some((format!("{s:?} is not a valid user or group name"), None))
    }
}

fn process(p: &Policy, out: &mut Issues) {
    let Some(pr) = &p.process else {
        return;
    };
    let mut id = |v: &Id, yaml: &str| {
        if let Some((msg, hint)) = bad_identity(v) {
            match hint {
                Some(h) => out.hint(yaml, msg, h),
                None => out.push(yaml, msg),
            }
        }
    };
    if let Some(u) = &pr.run_as_user {
        id(u, "process.run_as_user");
    }
    if let Some(g) = &pr.run_as_group {
        id(g, "process.run_as_group");
    }
    for (i, g) in pr.supplementary_groups.iter().enumerate() {
        id(g, &join_index("process.supplementary_groups", i));
    }
    if let Some(w) = &pr.workdir {
        check_path(w, "process.workdir", out);
    }
    if let Some(rl) = &pr.rlimits {
        use super::model::RlimitValue::{Limited, Unlimited};
        for (name, r) in rl.entries() {
            let bad = match (r.soft, r.hard) {
                (Limited(s), Limited(h)) => s > h,
                (Unlimited, Limited(_)) => true,
                _ => false,
            };
            if bad {
                out.push(
                    join_key("process.rlimits", name),
                    "soft limit is above the hard limit",
                );
            }
        }
    }
}

fn is_ip_literal(h: &str) -> bool {
    h.parse::<std::net::IpAddr>().is_ok()
        || (h.starts_with('[') && h.ends_with(']'))
        || h.contains(':')
}

/// Host selector rules: `*` as a whole first label, `**` only as the whole
/// first label, never a bare wildcard or a wildcard over a TLD.
fn host_problem(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    if host == "*" || host == "**" {
        return Some(format!("{host:?} matches every host"));
    }
    let wild = labels.first().is_some_and(|l| l.contains('*'));
    if wild && labels.len() <= 2 {
        return Some(format!("{host:?} is a wildcard over a top-level domain"));
    }
    for (i, l) in labels.iter().enumerate() {
        if l.contains("**") && (i != 0 || *l != "**") {
            return Some(format!("\"**\" must be the whole first label in {host:?}"));
        }
        if i > 0 && l.contains('*') {
            return Some(format!(
                "wildcards are only allowed in the first label of {host:?}"
            ));
        }
    }
    None
}

fn valid_dns_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && !h.ends_with('.')
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && (l == "*"
                    || l == "**"
                    || l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*'))
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

const ACCESS_PRESETS: [&str; 3] = ["read-only", "read-write", "full"];
const SIGNING: [&str; 3] = ["sigv4", "sigv4:body", "sigv4:no_body"];

fn endpoint(ep: &Endpoint, yaml: &str, out: &mut Issues) {
    let tcp = ep.is_tcp();
    if ep.host.is_empty() {
        if ep.allowed_ips.is_empty() || tcp {
            out.hint(
                yaml,
                "endpoint has no host",
                if tcp {
                    "a tcp endpoint needs a DNS host name"
                } else {
                    "set host, or allowed_ips for an address-only endpoint"
                },
            );
        }
    } else if let Some(msg) = host_problem(&ep.host) {
        out.push(join_key(yaml, "host"), msg);
    } else if tcp && (is_ip_literal(&ep.host) || !valid_dns_name(&ep.host)) {
        out.push(
            join_key(yaml, "host"),
            format!(
                "{:?} is not a DNS host name (tcp endpoints need one)",
                ep.host
            ),
        );
    }
    if !ep.ports.is_empty() {
        // OpenShell uses `ports` and ignores `port` when both are given.
        for (i, port) in ep.ports.iter().enumerate() {
            if *port == 0 {
                out.push(
                    join_index(&join_key(yaml, "ports"), i),
                    "port 0 is not a port; expected 1..65535",
                );
            }
        }
    } else if ep.port == 0 {
        out.hint(
            yaml,
            "endpoint has no port",
            "set port (or ports) to a value in 1..65535",
        );
    }
    if !ep.access.is_empty() {
        if ep.rules.is_some() {
            out.push(
                join_key(yaml, "access"),
                "access and rules are mutually exclusive",
            );
        }
        if !ACCESS_PRESETS.contains(&ep.access.as_str()) {
            out.push(
                join_key(yaml, "access"),
                format!(
                    "unknown access preset {:?}; expected one of: {}",
                    ep.access,
                    ACCESS_PRESETS.join(", ")
                ),
            );
        }
    }
    if let Some(rules) = &ep.rules {
        if rules.is_empty() {
            out.hint(
                join_key(yaml, "rules"),
                "rules is an empty list, which allows nothing",
                "remove rules, or list at least one allow rule",
            );
        }
        for (i, r) in rules.iter().enumerate() {
            l7_match(
                &r.allow,
                &join_key(&join_index(&join_key(yaml, "rules"), i), "allow"),
                out,
            );
        }
    }
    for (i, d) in ep.deny_rules.iter().enumerate() {
        l7_match(d, &join_index(&join_key(yaml, "deny_rules"), i), out);
    }
    if !ep.credential_signing.is_empty() {
        if !SIGNING.contains(&ep.credential_signing.as_str()) {
            out.push(
                join_key(yaml, "credential_signing"),
                format!(
                    "unknown credential_signing {:?}; expected one of: {}",
                    ep.credential_signing,
                    SIGNING.join(", ")
                ),
            );
        }
        if ep.signing_service.is_empty() {
            out.push(
                join_key(yaml, "credential_signing"),
                "credential_signing needs signing_service",
            );
        }
        if ep.request_body_credential_rewrite {
            out.push(
                join_key(yaml, "credential_signing"),
                "credential_signing and request_body_credential_rewrite are mutually exclusive",
            );
        }
    }
    if ep.mcp.is_some() && ep.protocol != "mcp" {
        out.push(join_key(yaml, "mcp"), "mcp settings need protocol: mcp");
    }
    if tcp && (ep.rules.is_some() || !ep.access.is_empty() || !ep.deny_rules.is_empty()) {
        out.push(
            join_key(yaml, "protocol"),
            "tcp endpoints cannot carry L7 access, rules or deny_rules",
        );
    }
}

fn l7_match(m: &L7Match, yaml: &str, out: &mut Issues) {
    if m.is_empty() {
        out.push(yaml, "rule matches nothing (all fields are empty)");
    }
    if !m.path.is_empty() && !m.path.starts_with('/') && m.path != "**" {
        out.push(
            join_key(yaml, "path"),
            format!("{:?} must start with \"/\" or be \"**\"", m.path),
        );
    }
}

fn network_policies(p: &Policy, out: &mut Issues) {
    for (name, rule) in &p.network_policies {
        let base = join_key("network_policies", name);
        for (i, ep) in rule.endpoints.iter().enumerate() {
            endpoint(ep, &join_index(&join_key(&base, "endpoints"), i), out);
        }
        for (i, b) in rule.binaries.iter().enumerate() {
            check_path(
                &b.path,
                &join_key(&join_index(&join_key(&base, "binaries"), i), "path"),
                out,
            );
        }
    }
}

fn middlewares(p: &Policy, out: &mut Issues) {
    if p.network_middlewares.len() > MAX_MIDDLEWARES {
        out.push(
            "network_middlewares",
            format!(
                "too many middleware configs ({} > {MAX_MIDDLEWARES})",
                p.network_middlewares.len()
            ),
        );
    }
    let mut orders: BTreeMap<i32, &str> = BTreeMap::new();
    for (key, m) in &p.network_middlewares {
        let base = join_key("network_middlewares", key);
        if m.name.is_empty() {
            out.push(join_key(&base, "name"), "name is empty");
        }
        if m.middleware.is_empty() {
            out.push(join_key(&base, "middleware"), "middleware is empty");
        }
        if let Some(first) = orders.insert(m.order, key) {
            out.push(
                join_key(&base, "order"),
                format!("order {} is also used by {first:?}", m.order),
            );
        }
        if let Some(sel) = &m.endpoints {
            let n = sel.include.len() + sel.exclude.len();
            if n > MAX_SELECTOR_PATTERNS {
                out.push(
                    join_key(&base, "endpoints"),
                    format!("too many selector patterns ({n} > {MAX_SELECTOR_PATTERNS})"),
                );
            }
        }
    }
}

/// Capability names the kernel knows (without the `CAP_` prefix).
pub const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// `NET_BIND_SERVICE` or `CAP_NET_BIND_SERVICE` (any case) → its index.
pub fn capability_index(name: &str) -> Option<usize> {
    let up = name.to_ascii_uppercase();
    let bare = up.strip_prefix("CAP_").unwrap_or(&up);
    CAPABILITIES.iter().position(|c| *c == bare)
}

/// `capabilities.keep` and `capabilities.bypass_acknowledged` against the
/// tiers of `caps::TABLE`; `allow` is `seccomp.allow` (it can turn a
/// capability whose calls seccomp refuses into a bypass).
fn capabilities(c: &super::model::Capabilities, allow: &[String], out: &mut Issues) {
    let acknowledged: BTreeSet<usize> = c
        .bypass_acknowledged
        .iter()
        .filter_map(|n| capability_index(n))
        .collect();
    for (i, name) in c.keep.iter().enumerate() {
        let yaml = join_index("capabilities.keep", i);
        let Some(idx) = capability_index(name) else {
            out.push(yaml, format!("unknown capability {name:?}"));
            continue;
        };
        let bare = CAPABILITIES[idx];
        match caps::tier(idx, allow) {
            Some(caps::Tier::Refused) => out.push(
                yaml,
                format!(
                    "CAP_{bare} cannot be kept: {}",
                    caps::TABLE[idx].reason
                ),
            ),
            Some(caps::Tier::Bypass) if !acknowledged.contains(&idx) => out.hint(
                yaml,
                format!(
                    "keeping CAP_{bare} bypasses the sandbox: {}",
                    caps::bypass_reason(idx, allow).unwrap_or_default()
                ),
                format!(
                    "if the workload needs it, acknowledge it with capabilities.bypass_acknowledged: [{bare}]"
                ),
            ),
            _ => {}
        }
    }
    let kept: BTreeSet<usize> = c.keep.iter().filter_map(|n| capability_index(n)).collect();
    for (i, name) in c.bypass_acknowledged.iter().enumerate() {
        let yaml = join_index("capabilities.bypass_acknowledged", i);
        match capability_index(name) {
            None => out.push(yaml, format!("unknown capability {name:?}")),
            Some(idx) if !kept.contains(&idx) => out.hint(
                yaml,
                format!(
                    "CAP_{} is acknowledged but not in capabilities.keep",
                    CAPABILITIES[idx]
                ),
                "add it to capabilities.keep, or remove the acknowledgement",
            ),
            Some(_) => {}
        }
    }
}

fn env_name_ok(n: &str) -> bool {
    !n.is_empty()
        && !n.contains('=')
        && !n.contains('\0')
        && !n.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// `vendor/class=name` as the CDI specification defines it.
pub fn cdi_name_problem(q: &str) -> Option<String> {
    let Some((kind, name)) = q.split_once('=') else {
        return Some(format!(
            "{q:?} is not a fully-qualified CDI name (vendor/class=name)"
        ));
    };
    let Some((vendor, class)) = kind.split_once('/') else {
        return Some(format!(
            "{q:?} is not a fully-qualified CDI name (vendor/class=name)"
        ));
    };
    let part = |s: &str, device: bool| {
        let b = s.as_bytes();
        b.first()
            .is_some_and(|c| c.is_ascii_alphabetic() || (device && c.is_ascii_digit()))
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c) || (device && *c == b':'))
    };
    if !part(vendor, false) {
        return Some(format!("{q:?}: invalid vendor {vendor:?}"));
    }
    if !part(class, false) {
        return Some(format!("{q:?}: invalid class {class:?}"));
    }
    // Device names may start with a digit and contain ':' (MIG "0:1").
    if !part(name, true) {
        return Some(format!("{q:?}: invalid device name {name:?}"));
    }
    None
}

fn extensions(p: &Policy, out: &mut Issues) {
    if let Some(n) = &p.network {
        for (key, ports) in [("connect_tcp", &n.connect_tcp), ("bind_tcp", &n.bind_tcp)] {
            for (i, port) in ports.iter().enumerate() {
                if *port == 0 {
                    out.push(
                        join_index(&join_key("network", key), i),
                        "port 0 is not a port; expected 1..65535",
                    );
                }
            }
        }
    }
    if let (Some(n), Some(s)) = (&p.network, &p.seccomp) {
        // seccomp.allow drops every default rule of a syscall, the AF_UNIX
        // refusal with the others.
        if !n.unix_sockets && s.allow.iter().any(|a| a == "socket") {
            out.push(
                "network.unix_sockets",
                "false is undone by seccomp.allow: [socket], which drops every socket rule",
            );
        }
    }
    if let Some(s) = &p.seccomp {
        for (key, list) in [("allow", &s.allow), ("deny", &s.deny)] {
            for (i, message) in crate::seccomp::validate_names(list) {
                out.push(join_index(&join_key("seccomp", key), i), message);
            }
        }
        let allow: BTreeSet<&str> = s.allow.iter().map(String::as_str).collect();
        for (i, name) in s.deny.iter().enumerate() {
            if allow.contains(name.as_str()) {
                out.push(
                    join_index("seccomp.deny", i),
                    format!("{name:?} is in both seccomp.allow and seccomp.deny"),
                );
            }
        }
    }
    if let Some(c) = &p.capabilities {
        let allow = p.seccomp.as_ref().map_or(&[][..], |s| &s.allow[..]);
        capabilities(c, allow, out);
    }
    if let Some(cdi) = p.devices.as_ref().and_then(|d| d.cdi.as_ref()) {
        for (i, d) in cdi.spec_dirs.iter().enumerate() {
            check_path(d, &join_index("devices.cdi.spec_dirs", i), out);
        }
        for (i, d) in cdi.devices.iter().enumerate() {
            if let Some(msg) = cdi_name_problem(d) {
                out.hint(
                    join_index("devices.cdi.devices", i),
                    msg,
                    "run `openshell-sandbox devices` on the node to list the names",
                );
            }
        }
    }
    if let Some(e) = &p.environment {
        for (i, n) in e.pass.iter().enumerate() {
            let bare = n.strip_suffix('*').unwrap_or(n);
            if !env_name_ok(bare) || bare.contains('*') {
                out.push(
                    join_index("environment.pass", i),
                    format!("{n:?} is not a variable name (or NAME_PREFIX*)"),
                );
            }
        }
        for (k, v) in &e.set {
            if !env_name_ok(k) {
                out.push(
                    join_key("environment.set", k),
                    format!("{k:?} is not a variable name"),
                );
            } else if v.contains('\0') {
                out.push(join_key("environment.set", k), "value contains a NUL byte");
            }
        }
    }
}
