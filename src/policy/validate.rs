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
/// Names in `seccomp.allow` or `seccomp.deny`: about 470 syscalls exist on
/// the supported architectures, and each unknown name is compared with all
/// of them for a suggestion, so a list of hundreds of thousands (a 1 MiB
/// policy holds that many) would take hours to report.
pub const MAX_SYSCALL_NAMES: usize = 1024;
/// Entries in `network_policies` (more than any deployment names, few
/// enough that checking them stays in milliseconds).
pub const MAX_NETWORK_POLICIES: usize = 1024;
/// Endpoints in one network policy (the same reasoning).
pub const MAX_ENDPOINTS: usize = 1024;
/// Endpoints in all network policies together: every two are compared
/// for conflicting proxy settings, so the total bounds that work (a
/// million comparisons at this bound, in milliseconds).
pub const MAX_ALL_ENDPOINTS: usize = 4096;
pub const MAX_ID: u64 = 4_294_967_294;
/// Entries in `process.supplementary_groups`, `environment.pass` and
/// `devices.cdi.devices` (and `--device` on the command line): more than
/// any workload needs, few enough that a launch handles them in
/// milliseconds (a 1 MiB policy holds a hundred thousand, which took
/// seconds to launch, and the kernel takes at most 65,536 groups).
pub const MAX_LIST: usize = 1024;

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

/// Checks one absolute policy path at `yaml`; returns false when it is
/// unusable. The location is spelled only for a problem: a policy may list
/// hundreds of paths.
fn check_path(path: &str, yaml: &dyn Fn() -> String, out: &mut Issues) -> bool {
    if path.len() > MAX_PATH_BYTES {
        out.push(
            yaml(),
            format!(
                "path is {} bytes long; the limit is {MAX_PATH_BYTES}",
                path.len()
            ),
        );
        return false;
    }
    // A line break or escape sequence in a path is a mistake or a forged
    // line in the plan and the logs, never a file anyone means. NUL is a
    // control character too, named as such wherever it is.
    if let Some(c) = paths::first_control(path) {
        if path.contains('\0') {
            out.push(yaml(), "path contains a NUL byte");
        } else {
            out.push(
                yaml(),
                format!("path contains the control character {}", c.escape_default()),
            );
        }
        return false;
    }
    if !path.starts_with('/') {
        out.hint(
            yaml(),
            format!("{path:?} is not an absolute path"),
            format!(
                "write it from the root, e.g. \"/{}\"",
                path.trim_start_matches("./")
            ),
        );
        return false;
    }
    if paths::has_parent_component(path) {
        out.push(yaml(), format!("{path:?} contains a \"..\" component"));
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
        // Not each of thousands of paths as well: one line says it.
        return;
    }
    for (i, path) in fs.read_only.iter().enumerate() {
        check_path(path, &|| join_index("filesystem_policy.read_only", i), out);
    }
    if fs.execute.as_ref().is_some_and(Vec::is_empty) {
        out.hint(
            "filesystem_policy.execute",
            "an empty list lets nothing run, not even the workload",
            "list the directories that hold the workload's programs, e.g. /usr and /bin",
        );
    }
    for (i, path) in exec.iter().enumerate() {
        let list = "filesystem_policy.execute";
        if check_path(path, &|| join_index(list, i), out) && paths::is_root(path) {
            out.hint(
                join_index(list, i),
                format!(
                    "{path:?} makes every file executable, which is what omitting execute does"
                ),
                "list the directories that hold programs, e.g. /usr, or remove execute",
            );
        }
    }
    for (i, path) in fs.read_write.iter().enumerate() {
        let list = "filesystem_policy.read_write";
        if check_path(path, &|| join_index(list, i), out) && paths::is_root(path) {
            out.hint(
                join_index(list, i),
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
    if pr.supplementary_groups.len() > MAX_LIST {
        out.push(
            "process.supplementary_groups",
            format!(
                "too many groups ({} > {MAX_LIST})",
                pr.supplementary_groups.len()
            ),
        );
    } else {
        for (i, g) in pr.supplementary_groups.iter().enumerate() {
            id(g, &join_index("process.supplementary_groups", i));
        }
    }
    if let Some(w) = &pr.workdir {
        check_path(w, &|| "process.workdir".to_owned(), out);
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
        // A later label may be a whole-label `*` (`*.s3.*.amazonaws.com`),
        // never a partial one.
        if i > 0 && l.contains('*') && *l != "*" {
            return Some(format!(
                "{l:?} in {host:?}: a wildcard after the first label must be the whole label"
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
        let at = join_index(&join_key(yaml, "deny_rules"), i);
        if d.is_empty() {
            out.push(&at, "rule matches nothing (all fields are empty)");
        }
        l7_match(d, &at, out);
    }
    l7_semantics(ep, yaml, out);
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

const L7_PROTOCOLS: [&str; 6] = ["rest", "websocket", "graphql", "sql", "json-rpc", "mcp"];
const GRAPHQL_OPERATIONS: [&str; 3] = ["query", "mutation", "subscription"];

/// An allow clause that selects something. `query` alone does not: it
/// narrows a method or path, as in OpenShell.
fn allows_something(m: &L7Match) -> bool {
    !m.method.is_empty()
        || !m.path.is_empty()
        || !m.command.is_empty()
        || !m.operation_type.is_empty()
        || !m.operation_name.is_empty()
        || !m.fields.is_empty()
        || m.tool.is_some()
        || !m.params.is_empty()
}

/// OpenShell's L7 rules (its proxy enforces them; `check` validates them
/// so a document that passes here loads there).
fn l7_semantics(ep: &Endpoint, yaml: &str, out: &mut Issues) {
    let protocol = ep.protocol.to_ascii_lowercase();
    let at_protocol = join_key(yaml, "protocol");
    let l7 = L7_PROTOCOLS.contains(&protocol.as_str());
    let mcp = protocol == "mcp";
    let jsonrpc = protocol == "json-rpc";
    let has_rules = ep.rules.as_ref().is_some_and(|r| !r.is_empty());
    let has_access = !ep.access.is_empty();
    let has_deny = !ep.deny_rules.is_empty();
    let allow_all_mcp = ep
        .mcp
        .as_ref()
        .and_then(|m| m.allow_all_known_mcp_methods)
        .unwrap_or(false);
    if !protocol.is_empty() && !l7 && protocol != "tcp" {
        out.push(
            &at_protocol,
            format!(
                "unknown protocol {:?}; expected one of: tcp, {}",
                ep.protocol,
                L7_PROTOCOLS.join(", ")
            ),
        );
    }
    if protocol == "tcp" {
        let mut l7_only = Vec::new();
        for (name, set) in [
            ("enforcement", !ep.enforcement.is_empty()),
            ("path", !ep.path.is_empty()),
            ("allow_encoded_slash", ep.allow_encoded_slash),
            (
                "websocket_credential_rewrite",
                ep.websocket_credential_rewrite,
            ),
            (
                "request_body_credential_rewrite",
                ep.request_body_credential_rewrite,
            ),
            ("persisted_queries", !ep.persisted_queries.is_empty()),
            (
                "graphql_persisted_queries",
                !ep.graphql_persisted_queries.is_empty(),
            ),
            ("graphql_max_body_bytes", ep.graphql_max_body_bytes > 0),
            (
                "json_rpc",
                ep.json_rpc.as_ref().is_some_and(|j| j.max_body_bytes > 0),
            ),
        ] {
            if set {
                l7_only.push(name);
            }
        }
        if !l7_only.is_empty() {
            out.push(
                &at_protocol,
                format!(
                    "protocol tcp does not support the L7-only fields {}",
                    l7_only.join(", ")
                ),
            );
        }
    }
    if (mcp || jsonrpc) && has_access {
        out.hint(
            join_key(yaml, "access"),
            format!("protocol {protocol} does not support access presets"),
            if mcp {
                "use rules/deny_rules, or mcp.allow_all_known_mcp_methods: true to allow every known method"
            } else {
                "use rules with allow.method, e.g. \"*\""
            },
        );
    }
    if jsonrpc && !has_rules && !has_access {
        out.hint(
            yaml,
            "protocol json-rpc needs rules with allow.method",
            "add rules: [{allow: {method: \"*\"}}] or narrower methods",
        );
    }
    if l7 && !mcp && !jsonrpc && !has_rules && !has_access {
        out.hint(
            yaml,
            format!("protocol {protocol} needs rules or access to say what is allowed"),
            "add access: read-only (or read-write, full), or rules",
        );
    }
    if mcp && !has_rules && !has_access && !allow_all_mcp {
        out.hint(
            yaml,
            "protocol mcp needs rules unless mcp.allow_all_known_mcp_methods is true",
            "add rules, or set mcp.allow_all_known_mcp_methods: true",
        );
    }
    if let Some(rules) = &ep.rules {
        let deny_all = !rules.is_empty() && rules.iter().all(|r| !allows_something(&r.allow));
        if deny_all && !(mcp && allow_all_mcp) {
            out.hint(
                join_key(yaml, "rules"),
                "no rule allows anything (every allow is empty or only a query), so all traffic is denied",
                "add method, path or another clause to an allow rule, or use access: full",
            );
        }
    }
    if has_deny && !l7 {
        out.push(
            join_key(yaml, "deny_rules"),
            "deny_rules need an L7 protocol (rest, websocket, graphql, sql, json-rpc or mcp)",
        );
    }
    if has_deny && !mcp && !has_rules && !has_access {
        out.push(
            join_key(yaml, "deny_rules"),
            "deny_rules need rules or access to deny from",
        );
    }
    if !ep.path.is_empty() && !ep.path.starts_with('/') && ep.path != "**" {
        out.push(
            join_key(yaml, "path"),
            format!("{:?} must start with \"/\" or be \"**\"", ep.path),
        );
    }
    if !ep.persisted_queries.is_empty()
        && !matches!(ep.persisted_queries.as_str(), "deny" | "allow_registered")
    {
        out.push(
            join_key(yaml, "persisted_queries"),
            format!(
                "unknown persisted_queries {:?}; expected one of: deny, allow_registered",
                ep.persisted_queries
            ),
        );
    }
    if protocol == "sql" && ep.enforcement == "enforce" {
        out.hint(
            join_key(yaml, "enforcement"),
            "protocol sql cannot be enforced (that needs full SQL parsing)",
            "use enforcement: audit",
        );
    }
    if protocol == "graphql" {
        let op = |o: &str, at: String, out: &mut Issues| {
            if !GRAPHQL_OPERATIONS.contains(&o) {
                out.push(
                    at,
                    format!(
                        "operation_type {o:?} is not one of: {}",
                        GRAPHQL_OPERATIONS.join(", ")
                    ),
                );
            }
        };
        for (i, r) in ep.rules.iter().flatten().enumerate() {
            let at = join_key(&join_index(&join_key(yaml, "rules"), i), "allow");
            op(
                &r.allow.operation_type,
                join_key(&at, "operation_type"),
                out,
            );
        }
        for (i, d) in ep.deny_rules.iter().enumerate() {
            let at = join_index(&join_key(yaml, "deny_rules"), i);
            op(&d.operation_type, join_key(&at, "operation_type"), out);
        }
        for (k, q) in &ep.graphql_persisted_queries {
            let at = join_key(&join_key(yaml, "graphql_persisted_queries"), k);
            op(&q.operation_type, join_key(&at, "operation_type"), out);
        }
    }
}

fn l7_match(m: &L7Match, yaml: &str, out: &mut Issues) {
    if !m.path.is_empty() && !m.path.starts_with('/') && m.path != "**" {
        out.push(
            join_key(yaml, "path"),
            format!("{:?} must start with \"/\" or be \"**\"", m.path),
        );
    }
}

fn network_policies(p: &Policy, out: &mut Issues) {
    if p.network_policies.len() > MAX_NETWORK_POLICIES {
        out.push(
            "network_policies",
            format!(
                "too many network policies ({} > {MAX_NETWORK_POLICIES})",
                p.network_policies.len()
            ),
        );
        return;
    }
    let all: usize = p.network_policies.values().map(|r| r.endpoints.len()).sum();
    if all > MAX_ALL_ENDPOINTS {
        out.push(
            "network_policies",
            format!("too many endpoints in all ({all} > {MAX_ALL_ENDPOINTS})"),
        );
        return;
    }
    for (name, rule) in &p.network_policies {
        let base = join_key("network_policies", name);
        if rule.endpoints.len() > MAX_ENDPOINTS {
            out.push(
                join_key(&base, "endpoints"),
                format!(
                    "too many endpoints ({} > {MAX_ENDPOINTS})",
                    rule.endpoints.len()
                ),
            );
            continue;
        }
        for (i, ep) in rule.endpoints.iter().enumerate() {
            endpoint(ep, &join_index(&join_key(&base, "endpoints"), i), out);
        }
        // A binary path may be relative (`python3`), as in OpenShell: the
        // proxy matches it, this binary never opens it.
        for (i, b) in rule.binaries.iter().enumerate() {
            let yaml = join_key(&join_index(&join_key(&base, "binaries"), i), "path");
            if b.path.is_empty() {
                out.push(yaml, "binary path is empty");
            } else if b.path.len() > MAX_PATH_BYTES || b.path.contains('\0') {
                out.push(
                    yaml,
                    "binary path is longer than 4096 bytes or contains a NUL byte",
                );
            }
        }
    }
    ambiguity(p, out);
}

/// `host` matches the selector `pattern`: `*` is one label (or part of the
/// first), `**` one or more labels; letters compare without case.
fn host_matches(pattern: &str, host: &str) -> bool {
    fn label(p: &[u8], h: &[u8]) -> bool {
        match p.split_first() {
            None => h.is_empty(),
            Some((b'*', rest)) => (0..=h.len()).any(|k| label(rest, &h[k..])),
            Some((c, rest)) => h
                .split_first()
                .is_some_and(|(d, hr)| c.eq_ignore_ascii_case(d) && label(rest, hr)),
        }
    }
    fn labels(p: &[&str], h: &[&str]) -> bool {
        match p.split_first() {
            None => h.is_empty(),
            Some((&"**", rest)) => (1..=h.len()).any(|k| labels(rest, &h[k..])),
            Some((l, rest)) => h
                .split_first()
                .is_some_and(|(hl, hr)| label(l.as_bytes(), hl.as_bytes()) && labels(rest, hr)),
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    labels(&p, &h)
}

/// Two host selectors may name the same host (a close, conservative
/// approximation of OpenShell's overlap test).
fn hosts_overlap(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || host_matches(a, b) || host_matches(b, a)
}

fn tls_mode(tls: &str) -> &'static str {
    if tls.eq_ignore_ascii_case("skip") {
        "skip"
    } else {
        "auto"
    }
}

/// Endpoints of any two policies that cover the same host and port must
/// agree on how the proxy handles the connection (`tls`, explicit `tcp`),
/// or OpenShell cannot tell which applies.
fn ambiguity(p: &Policy, out: &mut Issues) {
    // Each endpoint with its ports, sorted once: every pair is compared.
    let eps: Vec<(String, &Endpoint, Vec<u16>)> = p
        .network_policies
        .iter()
        .flat_map(|(name, rule)| {
            rule.endpoints.iter().enumerate().map(move |(i, ep)| {
                let mut ports = ep.effective_ports();
                crate::sort::sort_dedup(&mut ports);
                (
                    join_index(
                        &join_key(&join_key("network_policies", name), "endpoints"),
                        i,
                    ),
                    ep,
                    ports,
                )
            })
        })
        .collect();
    for (j, (yb, b, pb)) in eps.iter().enumerate() {
        // Past the errors that are shown, more are only counted as "too
        // many": one more is enough to say so.
        if out.0.len() > crate::yaml::MAX_ERRORS {
            return;
        }
        for (ya, a, pa) in &eps[..j] {
            // Only endpoints handled differently can conflict: asked
            // first, as most pairs are handled alike.
            if tls_mode(&a.tls) == tls_mode(&b.tls) && a.is_tcp() == b.is_tcp() {
                continue;
            }
            if a.host.is_empty() || b.host.is_empty() || !hosts_overlap(&a.host, &b.host) {
                continue;
            }
            let shared: Vec<String> = pb
                .iter()
                .filter(|x| pa.binary_search(x).is_ok())
                .map(|x| x.to_string())
                .collect();
            if shared.is_empty() {
                continue;
            }
            let mut conflicts = Vec::new();
            if tls_mode(&a.tls) != tls_mode(&b.tls) {
                conflicts.push(format!("tls {} vs {}", tls_mode(&a.tls), tls_mode(&b.tls)));
            }
            if a.is_tcp() != b.is_tcp() {
                conflicts.push("protocol tcp on one only".to_string());
            }
            if !conflicts.is_empty() {
                out.hint(
                    yb.as_str(),
                    format!(
                        "{}:{} overlaps {ya} on port {} with conflicting {}",
                        b.host,
                        shared.join(","),
                        shared.join(","),
                        conflicts.join(", ")
                    ),
                    "give both endpoints the same tls and protocol, or split their hosts or ports",
                );
            }
        }
    }
}

/// A middleware selector pattern: DNS characters and `*` only.
fn selector_pattern_ok(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.*_".contains(&b))
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
        if key.is_empty() {
            out.push(&base, "the middleware's key is empty");
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
        if !matches!(m.on_error.as_str(), "" | "fail_closed" | "fail_open") {
            out.push(
                join_key(&base, "on_error"),
                format!(
                    "unknown on_error {:?}; expected one of: fail_closed, fail_open",
                    m.on_error
                ),
            );
        }
        let Some(sel) = &m.endpoints else {
            out.hint(
                &base,
                "middleware has no endpoints selector",
                "add endpoints: {include: [\"api.example.com\"]}",
            );
            continue;
        };
        let at = join_key(&base, "endpoints");
        let n = sel.include.len() + sel.exclude.len();
        if n > MAX_SELECTOR_PATTERNS {
            out.push(
                &at,
                format!("too many selector patterns ({n} > {MAX_SELECTOR_PATTERNS})"),
            );
            continue;
        }
        if sel.include.is_empty() {
            out.push(
                &at,
                "endpoints.include is empty, so the middleware selects nothing",
            );
        }
        let mut valid = !sel.include.is_empty();
        for (list, pats) in [("include", &sel.include), ("exclude", &sel.exclude)] {
            for (i, pat) in pats.iter().enumerate() {
                if !selector_pattern_ok(pat) {
                    valid = false;
                    out.push(
                        join_index(&join_key(&at, list), i),
                        format!("{pat:?} is not a host pattern (letters, digits, '-', '.', '*')"),
                    );
                }
            }
        }
        // A fail-closed middleware must see the traffic it selects; a
        // `tls: skip` endpoint is never inspected.
        if valid && matches!(m.on_error.as_str(), "" | "fail_closed") {
            for (name, rule) in &p.network_policies {
                for (i, ep) in rule.endpoints.iter().enumerate() {
                    let selected = sel.include.iter().any(|x| hosts_overlap(x, &ep.host))
                        && !sel.exclude.iter().any(|x| host_matches(x, &ep.host));
                    if tls_mode(&ep.tls) == "skip" && !ep.host.is_empty() && selected {
                        out.hint(
                            &at,
                            format!(
                                "the fail-closed middleware selects {:?} (network_policies.{name}.endpoints[{i}]), which has tls: skip and is never inspected",
                                ep.host
                            ),
                            "exclude that host, set on_error: fail_open, or drop tls: skip",
                        );
                    }
                }
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
            if list.len() > MAX_SYSCALL_NAMES {
                out.push(
                    join_key("seccomp", key),
                    format!(
                        "too many syscall names ({} > {MAX_SYSCALL_NAMES})",
                        list.len()
                    ),
                );
                continue;
            }
            for (i, message) in crate::seccomp::validate_names(list) {
                out.push(join_index(&join_key("seccomp", key), i), message);
            }
        }
        // The supervisor installs the filter and then calls execve: a
        // policy that denies it can never start its workload. Without
        // exit and exit_group nothing under the filter can end: a failed
        // exec (or the workload) would retry the call forever. Between
        // the filter and the exec the supervisor also reads back what it
        // applied (pread64 of /proc/self/status) and hands the workload
        // default signals (rt_sigaction, rt_sigprocmask): denied, every
        // launch would stop there (killed outright under action: kill).
        for (i, name) in s.deny.iter().enumerate() {
            match name.as_str() {
                "execve" => out.hint(
                    join_index("seccomp.deny", i),
                    "execve is how the workload is started: denying it means nothing ever runs",
                    "remove execve from seccomp.deny (the default rules already refuse execveat on a descriptor)",
                ),
                "write" => out.hint(
                    join_index("seccomp.deny", i),
                    "write is how the supervisor says why a launch stopped under the filter, and writes --report: denying it leaves a failed launch silent",
                    "remove write from seccomp.deny",
                ),
                "pread64" | "rt_sigaction" | "rt_sigprocmask" => out.hint(
                    join_index("seccomp.deny", i),
                    format!(
                        "{name} is one the supervisor makes under the filter, before it starts the workload ({}): denying it means nothing ever runs",
                        if name == "pread64" {
                            "to read back what it applied"
                        } else {
                            "to give the workload default signal handling"
                        }
                    ),
                    format!("remove {name} from seccomp.deny"),
                ),
                "exit" | "exit_group" => out.hint(
                    join_index("seccomp.deny", i),
                    format!("{name} is how a process ends: denying it leaves the workload unable to exit"),
                    format!("remove {name} from seccomp.deny"),
                ),
                _ => {}
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
            check_path(d, &|| join_index("devices.cdi.spec_dirs", i), out);
        }
        if cdi.devices.len() > MAX_LIST {
            out.push(
                "devices.cdi.devices",
                format!("too many devices ({} > {MAX_LIST})", cdi.devices.len()),
            );
        }
        for (i, d) in cdi.devices.iter().enumerate().take(MAX_LIST) {
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
        if e.pass.len() > MAX_LIST {
            out.push(
                "environment.pass",
                format!("too many names ({} > {MAX_LIST})", e.pass.len()),
            );
        }
        for (i, n) in e.pass.iter().enumerate().take(MAX_LIST) {
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
