//! The openshell-policy document, version 1.
//!
//! The OpenShell sections (`version`, `filesystem_policy`, `landlock`,
//! `process`, `network_policies`, `network_middlewares`) mirror NVIDIA
//! OpenShell's schema field for field, so an OpenShell policy loads unchanged.
//! The extension sections (`seccomp`, `capabilities`, `devices`,
//! `environment`, `network`, and the extra keys of `landlock` and `process`)
//! are all optional and secure when absent. Every struct rejects unknown keys;
//! the YAML layer reports each with its line:column and a did-you-mean hint.
//!
//! Structure lives here, rules live in `validate.rs`: this file only says
//! what shape a document has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Schema version; only `1` is accepted.
    pub version: u32,
    #[serde(default)]
    pub filesystem_policy: Option<FilesystemPolicy>,
    #[serde(default)]
    pub landlock: Option<Landlock>,
    #[serde(default)]
    pub process: Option<Process>,
    /// `network_policies:` with no value (null) is an empty map, as in
    /// OpenShell (its new-policy template writes it so).
    #[serde(default, deserialize_with = "null_as_default")]
    pub network_policies: BTreeMap<String, NetworkPolicyRule>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub network_middlewares: BTreeMap<String, NetworkMiddleware>,
    // ---- extensions ----
    #[serde(default)]
    pub network: Option<Network>,
    #[serde(default)]
    pub seccomp: Option<Seccomp>,
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
    #[serde(default)]
    pub devices: Option<Devices>,
    #[serde(default)]
    pub environment: Option<Environment>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// An empty identity is an omitted one, as in OpenShell.
fn empty_id_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Id>, D::Error> {
    Option::<Id>::deserialize(d).map(|id| id.filter(|i| !i.0.is_empty()))
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemPolicy {
    /// Grant the working directory read-write. When the whole
    /// `filesystem_policy` section is absent this is `true` (OpenShell's
    /// runtime default); inside the section an omitted key means `false`.
    #[serde(default)]
    pub include_workdir: bool,
    #[serde(default)]
    pub read_only: Vec<String>,
    #[serde(default)]
    pub read_write: Vec<String>,
    /// Extension (W^X): when present, Landlock's execute right is granted
    /// only beneath these paths (which are also readable), and `read_only`
    /// and `read_write` grant none. Absent: both grant execute, as in
    /// OpenShell.
    #[serde(default)]
    pub execute: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    #[default]
    BestEffort,
    HardRequirement,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Landlock {
    #[serde(default)]
    pub compatibility: Compatibility,
    /// IPC scoping (Landlock ABI 6): on unless turned off here.
    #[serde(default)]
    pub scopes: Option<LandlockScopes>,
    /// Per-feature minimums. An unset feature follows `compatibility`:
    /// required under `hard_requirement`, optional under `best_effort`.
    #[serde(default)]
    pub require: Option<LandlockRequire>,
    /// Kernel audit logging of denials (Landlock ABI 7).
    #[serde(default)]
    pub audit: Option<LandlockAudit>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockScopes {
    #[serde(default = "yes")]
    pub abstract_unix_socket: bool,
    #[serde(default = "yes")]
    pub signal: bool,
}

impl Default for LandlockScopes {
    fn default() -> Self {
        LandlockScopes {
            abstract_unix_socket: true,
            signal: true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockRequire {
    #[serde(default)]
    pub filesystem: Option<bool>,
    #[serde(default)]
    pub truncate: Option<bool>,
    #[serde(default)]
    pub ioctl_dev: Option<bool>,
    #[serde(default)]
    pub network: Option<bool>,
    #[serde(default)]
    pub scopes: Option<bool>,
    /// Connecting to pathname unix sockets confined to the policy's paths
    /// (Landlock ABI 9, `resolve_unix`). `false` accepts that below it a
    /// socket such as /run/docker.sock is reachable wherever file modes
    /// allow; `network.unix_sockets: false` closes the gap instead.
    #[serde(default)]
    pub unix_sockets: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockAudit {
    /// Log the workload's denials (they happen after exec, which the kernel
    /// does not log unless asked).
    #[serde(default = "yes")]
    pub log_denials: bool,
}

impl Default for LandlockAudit {
    fn default() -> Self {
        LandlockAudit { log_denials: true }
    }
}

fn yes() -> bool {
    true
}

/// A user or group: a name, or a numeric id (written quoted or not).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a user/group name or a numeric id")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    #[serde(default, deserialize_with = "empty_id_as_none")]
    pub run_as_user: Option<Id>,
    #[serde(default, deserialize_with = "empty_id_as_none")]
    pub run_as_group: Option<Id>,
    #[serde(default)]
    pub supplementary_groups: Vec<Id>,
    #[serde(default)]
    pub rlimits: Option<Rlimits>,
    #[serde(default)]
    pub workdir: Option<String>,
}

/// `RLIMIT_*` by their lowercase names; each sets soft and hard.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimits {
    #[serde(default, rename = "as")]
    pub as_: Option<Rlimit>,
    #[serde(default)]
    pub core: Option<Rlimit>,
    #[serde(default)]
    pub cpu: Option<Rlimit>,
    #[serde(default)]
    pub data: Option<Rlimit>,
    #[serde(default)]
    pub fsize: Option<Rlimit>,
    #[serde(default)]
    pub locks: Option<Rlimit>,
    #[serde(default)]
    pub memlock: Option<Rlimit>,
    #[serde(default)]
    pub msgqueue: Option<Rlimit>,
    #[serde(default)]
    pub nice: Option<Rlimit>,
    #[serde(default)]
    pub nofile: Option<Rlimit>,
    #[serde(default)]
    pub nproc: Option<Rlimit>,
    #[serde(default)]
    pub rtprio: Option<Rlimit>,
    #[serde(default)]
    pub rttime: Option<Rlimit>,
    #[serde(default)]
    pub sigpending: Option<Rlimit>,
    #[serde(default)]
    pub stack: Option<Rlimit>,
}

impl Rlimits {
    /// `(name, value)` for every limit that is set, in a fixed order.
    pub fn entries(&self) -> Vec<(&'static str, &Rlimit)> {
        let all: [(&'static str, &Option<Rlimit>); 15] = [
            ("as", &self.as_),
            ("core", &self.core),
            ("cpu", &self.cpu),
            ("data", &self.data),
            ("fsize", &self.fsize),
            ("locks", &self.locks),
            ("memlock", &self.memlock),
            ("msgqueue", &self.msgqueue),
            ("nice", &self.nice),
            ("nofile", &self.nofile),
            ("nproc", &self.nproc),
            ("rtprio", &self.rtprio),
            ("rttime", &self.rttime),
            ("sigpending", &self.sigpending),
            ("stack", &self.stack),
        ];
        all.into_iter()
            .filter_map(|(n, v)| v.as_ref().map(|v| (n, v)))
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimit {
    pub soft: RlimitValue,
    pub hard: RlimitValue,
}

/// A limit: a number, or `unlimited`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RlimitValue {
    Limited(u64),
    Unlimited,
}

impl Serialize for RlimitValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RlimitValue::Limited(n) => s.serialize_u64(*n),
            RlimitValue::Unlimited => s.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for RlimitValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RlimitValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative integer or \"unlimited\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RlimitValue, E> {
                Ok(RlimitValue::Limited(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RlimitValue, E> {
                u64::try_from(v)
                    .map(RlimitValue::Limited)
                    .map_err(|_| E::custom(format!("{v} is negative; expected a limit >= 0")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RlimitValue, E> {
                if v == "unlimited" {
                    Ok(RlimitValue::Unlimited)
                } else {
                    Err(E::custom(format!(
                        "\"{v}\" is not a limit; expected a number or \"unlimited\""
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// network_policies / network_middlewares: OpenShell's proxy schema. Parsed and
// validated structurally here; only their ports are enforceable by this binary.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicyRule {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub binaries: Vec<Binary>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub protocol: String,
    #[serde(default)]
    pub tls: String,
    #[serde(default)]
    pub enforcement: String,
    #[serde(default)]
    pub access: String,
    /// `None` when absent; `Some([])` is an (invalid) explicit empty list.
    #[serde(default)]
    pub rules: Option<Vec<L7Rule>>,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub deny_rules: Vec<L7Match>,
    #[serde(default)]
    pub allow_encoded_slash: bool,
    #[serde(default)]
    pub websocket_credential_rewrite: bool,
    #[serde(default)]
    pub request_body_credential_rewrite: bool,
    #[serde(default)]
    pub allow_uninspected_credentials: bool,
    #[serde(default)]
    pub persisted_queries: String,
    #[serde(default)]
    pub graphql_persisted_queries: BTreeMap<String, GraphqlOperation>,
    #[serde(default)]
    pub graphql_max_body_bytes: u32,
    #[serde(default)]
    pub credential_signing: String,
    #[serde(default)]
    pub signing_service: String,
    #[serde(default)]
    pub signing_region: String,
    #[serde(default)]
    pub credential_binding: Option<CredentialBinding>,
    #[serde(default)]
    pub json_rpc: Option<JsonRpc>,
    #[serde(default)]
    pub mcp: Option<Mcp>,
}

impl Endpoint {
    /// The ports this endpoint covers, as OpenShell resolves them: `ports`
    /// when it is non-empty (and `port` is then ignored), else `port` when it
    /// is not 0. Never the union: `port: 22, ports: [443]` covers 443 only.
    /// Zero is dropped here; validation refuses it.
    pub fn effective_ports(&self) -> Vec<u16> {
        let mut p: Vec<u16> = if self.ports.is_empty() {
            vec![self.port]
        } else {
            self.ports.clone()
        };
        p.retain(|&x| x != 0);
        crate::sort::sort_dedup(&mut p);
        p
    }

    /// `protocol: tcp` in any case, as OpenShell compares it.
    pub fn is_tcp(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("tcp")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialBinding {
    pub provider: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRpc {
    #[serde(default)]
    pub max_body_bytes: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mcp {
    #[serde(default)]
    pub max_body_bytes: u32,
    #[serde(default)]
    pub strict_tool_names: Option<bool>,
    #[serde(default)]
    pub allow_all_known_mcp_methods: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlOperation {
    #[serde(default)]
    pub operation_type: String,
    #[serde(default)]
    pub operation_name: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct L7Rule {
    pub allow: L7Match,
}

/// The body of an `allow` rule and of a `deny_rules` entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct L7Match {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub query: BTreeMap<String, QueryMatcher>,
    #[serde(default)]
    pub operation_type: String,
    #[serde(default)]
    pub operation_name: String,
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub tool: Option<QueryMatcher>,
    #[serde(default)]
    pub params: BTreeMap<String, ParamMatcher>,
}

impl L7Match {
    pub fn is_empty(&self) -> bool {
        self == &L7Match::default()
    }
}

/// `"glob"` or `{any: ["glob", ...]}`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum QueryMatcher {
    Glob(String),
    Any(QueryAny),
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueryAny {
    #[serde(default)]
    pub any: Vec<String>,
}

/// A matcher, or a nested map of matchers (MCP params).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ParamMatcher {
    Matcher(QueryMatcher),
    Object(BTreeMap<String, ParamMatcher>),
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Binary {
    pub path: String,
    /// Deprecated in OpenShell and ignored; accepted so old files load.
    #[serde(default)]
    pub harness: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkMiddleware {
    /// Optional: defaults to the map key, as in OpenShell.
    #[serde(default)]
    pub name: String,
    pub middleware: String,
    #[serde(default)]
    pub order: i32,
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub on_error: String,
    #[serde(default)]
    pub endpoints: Option<MiddlewareSelector>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MiddlewareSelector {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

// ---------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------

/// L4 rules this binary enforces itself (Landlock TCP, ABI >= 4; seccomp).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub connect_tcp: Vec<u16>,
    #[serde(default)]
    pub bind_tcp: Vec<u16>,
    /// `listen` with inet sockets allowed and no `bind_tcp` port: an
    /// unbound socket would listen on an ephemeral port that Landlock does
    /// not check, so it is refused unless this is `true`.
    #[serde(default)]
    pub allow_listen: bool,
    /// `socket(AF_UNIX, ..)`; `false` refuses it (socket pairs stay).
    #[serde(default = "yes")]
    pub unix_sockets: bool,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            connect_tcp: Vec::new(),
            bind_tcp: Vec::new(),
            allow_listen: false,
            unix_sockets: true,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompAction {
    #[default]
    Errno,
    Kill,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Seccomp {
    /// Syscalls taken out of the default deny list.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Syscalls added to the deny list.
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub action: SeccompAction,
    /// Log instead of deny (for authoring a policy; never in production).
    #[serde(default)]
    pub log: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Capabilities the workload keeps (raised as ambient for non-root).
    #[serde(default)]
    pub keep: Vec<String>,
    /// Kept capabilities that bypass a rule of the sandbox, acknowledged
    /// by the policy author (see `policy::caps`); each must be in `keep`.
    #[serde(default)]
    pub bypass_acknowledged: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Devices {
    #[serde(default)]
    pub cdi: Option<Cdi>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cdi {
    #[serde(default)]
    pub spec_dirs: Vec<String>,
    #[serde(default)]
    pub devices: Vec<String>,
    /// The container runtime already created the nodes and mounts (the
    /// Kubernetes default); the supervisor verifies and grants them.
    #[serde(default = "yes")]
    pub runtime_applied: bool,
}

impl Default for Cdi {
    fn default() -> Self {
        Cdi {
            spec_dirs: Vec::new(),
            devices: Vec::new(),
            runtime_applied: true,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Variables passed from the supervisor's environment. A trailing `*`
    /// matches a prefix (`LC_*`).
    #[serde(default)]
    pub pass: Vec<String>,
    /// Variables set to fixed values (win over passed ones).
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}
