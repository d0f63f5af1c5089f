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

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Policy {
    /// Schema version; only `1` is accepted.
    pub version: u32,
    pub filesystem_policy: Option<FilesystemPolicy>,
    pub landlock: Option<Landlock>,
    pub process: Option<Process>,
    /// `network_policies:` with no value (null) is an empty map, as in
    /// OpenShell (its new-policy template writes it so).
    pub network_policies: BTreeMap<String, NetworkPolicyRule>,
    pub network_middlewares: BTreeMap<String, NetworkMiddleware>,
    // ---- extensions ----
    pub network: Option<Network>,
    pub seccomp: Option<Seccomp>,
    pub capabilities: Option<Capabilities>,
    pub devices: Option<Devices>,
    pub environment: Option<Environment>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FilesystemPolicy {
    /// Grant the working directory read-write. When the whole
    /// `filesystem_policy` section is absent this is `true` (OpenShell's
    /// runtime default); inside the section an omitted key means `false`.
    pub include_workdir: bool,
    pub read_only: Vec<String>,
    pub read_write: Vec<String>,
    /// Extension (W^X): when present, Landlock's execute right is granted
    /// only beneath these paths (which are also readable), and `read_only`
    /// and `read_write` grant none. Absent: both grant execute, as in
    /// OpenShell.
    pub execute: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compatibility {
    #[default]
    BestEffort,
    HardRequirement,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Landlock {
    pub compatibility: Compatibility,
    /// IPC scoping (Landlock ABI 6): on unless turned off here.
    pub scopes: Option<LandlockScopes>,
    /// Per-feature minimums. An unset feature follows `compatibility`:
    /// required under `hard_requirement`, optional under `best_effort`.
    pub require: Option<LandlockRequire>,
    /// Kernel audit logging of denials (Landlock ABI 7).
    pub audit: Option<LandlockAudit>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LandlockScopes {
    pub abstract_unix_socket: bool,
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

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LandlockRequire {
    pub filesystem: Option<bool>,
    pub truncate: Option<bool>,
    pub ioctl_dev: Option<bool>,
    pub network: Option<bool>,
    pub scopes: Option<bool>,
    /// Connecting to pathname unix sockets confined to the policy's paths
    /// (Landlock ABI 9, `resolve_unix`). `false` accepts that below it a
    /// socket such as /run/docker.sock is reachable wherever file modes
    /// allow; `network.unix_sockets: false` closes the gap instead.
    pub unix_sockets: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LandlockAudit {
    /// Log the workload's denials (they happen after exec, which the kernel
    /// does not log unless asked).
    pub log_denials: bool,
}

impl Default for LandlockAudit {
    fn default() -> Self {
        LandlockAudit { log_denials: true }
    }
}

/// A user or group: a name, or a numeric id (written quoted or not).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Id(pub String);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Process {
    pub run_as_user: Option<Id>,
    pub run_as_group: Option<Id>,
    pub supplementary_groups: Vec<Id>,
    pub rlimits: Option<Rlimits>,
    pub workdir: Option<String>,
}

/// `RLIMIT_*` by their lowercase names; each sets soft and hard.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Rlimits {
    #[serde(rename = "as")]
    pub as_: Option<Rlimit>,
    pub core: Option<Rlimit>,
    pub cpu: Option<Rlimit>,
    pub data: Option<Rlimit>,
    pub fsize: Option<Rlimit>,
    pub locks: Option<Rlimit>,
    pub memlock: Option<Rlimit>,
    pub msgqueue: Option<Rlimit>,
    pub nice: Option<Rlimit>,
    pub nofile: Option<Rlimit>,
    pub nproc: Option<Rlimit>,
    pub rtprio: Option<Rlimit>,
    pub rttime: Option<Rlimit>,
    pub sigpending: Option<Rlimit>,
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

#[derive(Clone, Debug, PartialEq, Serialize)]
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

// ---------------------------------------------------------------------------
// network_policies / network_middlewares: OpenShell's proxy schema. Parsed and
// validated structurally here; only their ports are enforceable by this binary.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetworkPolicyRule {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    pub binaries: Vec<Binary>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Endpoint {
    pub host: String,
    pub path: String,
    pub port: u16,
    pub ports: Vec<u16>,
    pub protocol: String,
    pub tls: String,
    pub enforcement: String,
    pub access: String,
    /// `None` when absent; `Some([])` is an (invalid) explicit empty list.
    pub rules: Option<Vec<L7Rule>>,
    pub allowed_ips: Vec<String>,
    pub deny_rules: Vec<L7Match>,
    pub allow_encoded_slash: bool,
    pub websocket_credential_rewrite: bool,
    pub request_body_credential_rewrite: bool,
    pub allow_uninspected_credentials: bool,
    pub persisted_queries: String,
    pub graphql_persisted_queries: BTreeMap<String, GraphqlOperation>,
    pub graphql_max_body_bytes: u32,
    pub credential_signing: String,
    pub signing_service: String,
    pub signing_region: String,
    pub credential_binding: Option<CredentialBinding>,
    pub json_rpc: Option<JsonRpc>,
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

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CredentialBinding {
    pub provider: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JsonRpc {
    pub max_body_bytes: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Mcp {
    pub max_body_bytes: u32,
    pub strict_tool_names: Option<bool>,
    pub allow_all_known_mcp_methods: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GraphqlOperation {
    pub operation_type: String,
    pub operation_name: String,
    pub fields: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct L7Rule {
    pub allow: L7Match,
}

/// The body of an `allow` rule and of a `deny_rules` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct L7Match {
    pub method: String,
    pub path: String,
    pub command: String,
    pub query: BTreeMap<String, QueryMatcher>,
    pub operation_type: String,
    pub operation_name: String,
    pub fields: Vec<String>,
    pub tool: Option<QueryMatcher>,
    pub params: BTreeMap<String, ParamMatcher>,
}

impl L7Match {
    pub fn is_empty(&self) -> bool {
        self == &L7Match::default()
    }
}

/// `"glob"` or `{any: ["glob", ...]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum QueryMatcher {
    Glob(String),
    Any(QueryAny),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueryAny {
    pub any: Vec<String>,
}

/// A matcher, or a nested map of matchers (MCP params).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamMatcher {
    Matcher(QueryMatcher),
    Object(BTreeMap<String, ParamMatcher>),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Binary {
    pub path: String,
    /// Deprecated in OpenShell and ignored; accepted so old files load.
    pub harness: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetworkMiddleware {
    /// Optional: defaults to the map key, as in OpenShell.
    pub name: String,
    pub middleware: String,
    pub order: i32,
    pub config: BTreeMap<String, serde_json::Value>,
    pub on_error: String,
    pub endpoints: Option<MiddlewareSelector>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MiddlewareSelector {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

// ---------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------

/// L4 rules this binary enforces itself (Landlock TCP, ABI >= 4; seccomp).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Network {
    pub connect_tcp: Vec<u16>,
    pub bind_tcp: Vec<u16>,
    /// `listen` with inet sockets allowed and no `bind_tcp` port: an
    /// unbound socket would listen on an ephemeral port that Landlock does
    /// not check, so it is refused unless this is `true`.
    pub allow_listen: bool,
    /// `socket(AF_UNIX, ..)`; `false` refuses it (socket pairs stay).
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompAction {
    #[default]
    Errno,
    Kill,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Seccomp {
    /// Syscalls taken out of the default deny list.
    pub allow: Vec<String>,
    /// Syscalls added to the deny list.
    pub deny: Vec<String>,
    pub action: SeccompAction,
    /// Log instead of deny (for authoring a policy; never in production).
    pub log: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Capabilities {
    /// Capabilities the workload keeps (raised as ambient for non-root).
    pub keep: Vec<String>,
    /// Kept capabilities that bypass a rule of the sandbox, acknowledged
    /// by the policy author (see `policy::caps`); each must be in `keep`.
    pub bypass_acknowledged: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Devices {
    pub cdi: Option<Cdi>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cdi {
    pub spec_dirs: Vec<String>,
    pub devices: Vec<String>,
    /// The container runtime already created the nodes and mounts (the
    /// Kubernetes default); the supervisor verifies and grants them.
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

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Environment {
    /// Variables passed from the supervisor's environment. A trailing `*`
    /// matches a prefix (`LC_*`).
    pub pass: Vec<String>,
    /// Variables set to fixed values (win over passed ones).
    pub set: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------
// Reading from YAML (see `yaml::FromNode` for why this is not serde).
// ---------------------------------------------------------------------------

use crate::yaml::{Cursor, Fail, FromNode, nullable};

/// `execute:` written with no items (all of them commented out, say) is an
/// empty list, which validation refuses, not an absent one: absent turns
/// W^X off, which is the opposite of what a list-in-progress asks for.
fn null_as_empty_list(c: &Cursor<'_>) -> Result<Option<Vec<String>>, Fail> {
    nullable::<Vec<String>>(c).map(Some)
}

/// An empty identity is an omitted one, as in OpenShell.
fn empty_id_as_none(c: &Cursor<'_>) -> Result<Option<Id>, Fail> {
    Option::<Id>::from_node(c).map(|id| id.filter(|i| !i.0.is_empty()))
}

crate::from_node_struct!(Policy {
    "version" => version: u32;
    "filesystem_policy" => filesystem_policy: Option<FilesystemPolicy> = None;
    "landlock" => landlock: Option<Landlock> = None;
    "process" => process: Option<Process> = None;
    "network_policies" => network_policies: BTreeMap<String, NetworkPolicyRule> [nullable] = BTreeMap::new();
    "network_middlewares" => network_middlewares: BTreeMap<String, NetworkMiddleware> [nullable] = BTreeMap::new();
    "network" => network: Option<Network> = None;
    "seccomp" => seccomp: Option<Seccomp> = None;
    "capabilities" => capabilities: Option<Capabilities> = None;
    "devices" => devices: Option<Devices> = None;
    "environment" => environment: Option<Environment> = None;
});

crate::from_node_struct!(FilesystemPolicy {
    "include_workdir" => include_workdir: bool = false;
    "read_only" => read_only: Vec<String> = Vec::new();
    "read_write" => read_write: Vec<String> = Vec::new();
    "execute" => execute: Option<Vec<String>> [null_as_empty_list] = None;
});

crate::from_node_enum!(Compatibility {
    "best_effort" => BestEffort,
    "hard_requirement" => HardRequirement,
});

crate::from_node_struct!(Landlock {
    "compatibility" => compatibility: Compatibility = Compatibility::default();
    "scopes" => scopes: Option<LandlockScopes> = None;
    "require" => require: Option<LandlockRequire> = None;
    "audit" => audit: Option<LandlockAudit> = None;
});

crate::from_node_struct!(LandlockScopes {
    "abstract_unix_socket" => abstract_unix_socket: bool = true;
    "signal" => signal: bool = true;
});

crate::from_node_struct!(LandlockRequire {
    "filesystem" => filesystem: Option<bool> = None;
    "truncate" => truncate: Option<bool> = None;
    "ioctl_dev" => ioctl_dev: Option<bool> = None;
    "network" => network: Option<bool> = None;
    "scopes" => scopes: Option<bool> = None;
    "unix_sockets" => unix_sockets: Option<bool> = None;
});

crate::from_node_struct!(LandlockAudit {
    "log_denials" => log_denials: bool = true;
});

impl FromNode for Id {
    fn from_node(c: &Cursor<'_>) -> Result<Self, Fail> {
        match c.value() {
            crate::yaml::Value::Str(s) => Ok(Id(s.clone())),
            crate::yaml::Value::Int(n)
                if u64::try_from(*n).is_ok() || i64::try_from(*n).is_ok() =>
            {
                Ok(Id(n.to_string()))
            }
            _ => Err(c.invalid("a user/group name or a numeric id")),
        }
    }
}

crate::from_node_struct!(Process {
    "run_as_user" => run_as_user: Option<Id> [empty_id_as_none] = None;
    "run_as_group" => run_as_group: Option<Id> [empty_id_as_none] = None;
    "supplementary_groups" => supplementary_groups: Vec<Id> = Vec::new();
    "rlimits" => rlimits: Option<Rlimits> = None;
    "workdir" => workdir: Option<String> = None;
});

crate::from_node_struct!(Rlimits {
    "as" => as_: Option<Rlimit> = None;
    "core" => core: Option<Rlimit> = None;
    "cpu" => cpu: Option<Rlimit> = None;
    "data" => data: Option<Rlimit> = None;
    "fsize" => fsize: Option<Rlimit> = None;
    "locks" => locks: Option<Rlimit> = None;
    "memlock" => memlock: Option<Rlimit> = None;
    "msgqueue" => msgqueue: Option<Rlimit> = None;
    "nice" => nice: Option<Rlimit> = None;
    "nofile" => nofile: Option<Rlimit> = None;
    "nproc" => nproc: Option<Rlimit> = None;
    "rtprio" => rtprio: Option<Rlimit> = None;
    "rttime" => rttime: Option<Rlimit> = None;
    "sigpending" => sigpending: Option<Rlimit> = None;
    "stack" => stack: Option<Rlimit> = None;
});

crate::from_node_struct!(Rlimit {
    "soft" => soft: RlimitValue;
    "hard" => hard: RlimitValue;
});

impl FromNode for RlimitValue {
    fn from_node(c: &Cursor<'_>) -> Result<Self, Fail> {
        match c.value() {
            crate::yaml::Value::Str(s) if s == "unlimited" => Ok(RlimitValue::Unlimited),
            crate::yaml::Value::Str(s) => Err(c.fail(format!(
                "\"{s}\" is not a limit; expected a number or \"unlimited\""
            ))),
            crate::yaml::Value::Int(n) => match (u64::try_from(*n), i64::try_from(*n)) {
                (Ok(u), _) => Ok(RlimitValue::Limited(u)),
                (_, Ok(i)) => Err(c.fail(format!("{i} is negative; expected a limit >= 0"))),
                _ => Err(c.invalid("a non-negative integer or \"unlimited\"")),
            },
            _ => Err(c.invalid("a non-negative integer or \"unlimited\"")),
        }
    }
}

crate::from_node_struct!(NetworkPolicyRule {
    "name" => name: String = String::new();
    "endpoints" => endpoints: Vec<Endpoint> = Vec::new();
    "binaries" => binaries: Vec<Binary> = Vec::new();
});

crate::from_node_struct!(Endpoint {
    "host" => host: String = String::new();
    "path" => path: String = String::new();
    "port" => port: u16 = 0;
    "ports" => ports: Vec<u16> = Vec::new();
    "protocol" => protocol: String = String::new();
    "tls" => tls: String = String::new();
    "enforcement" => enforcement: String = String::new();
    "access" => access: String = String::new();
    "rules" => rules: Option<Vec<L7Rule>> = None;
    "allowed_ips" => allowed_ips: Vec<String> = Vec::new();
    "deny_rules" => deny_rules: Vec<L7Match> = Vec::new();
    "allow_encoded_slash" => allow_encoded_slash: bool = false;
    "websocket_credential_rewrite" => websocket_credential_rewrite: bool = false;
    "request_body_credential_rewrite" => request_body_credential_rewrite: bool = false;
    "allow_uninspected_credentials" => allow_uninspected_credentials: bool = false;
    "persisted_queries" => persisted_queries: String = String::new();
    "graphql_persisted_queries" => graphql_persisted_queries: BTreeMap<String, GraphqlOperation> = BTreeMap::new();
    "graphql_max_body_bytes" => graphql_max_body_bytes: u32 = 0;
    "credential_signing" => credential_signing: String = String::new();
    "signing_service" => signing_service: String = String::new();
    "signing_region" => signing_region: String = String::new();
    "credential_binding" => credential_binding: Option<CredentialBinding> = None;
    "json_rpc" => json_rpc: Option<JsonRpc> = None;
    "mcp" => mcp: Option<Mcp> = None;
});

crate::from_node_struct!(CredentialBinding {
    "provider" => provider: String;
});

crate::from_node_struct!(JsonRpc {
    "max_body_bytes" => max_body_bytes: u32 = 0;
});

crate::from_node_struct!(Mcp {
    "max_body_bytes" => max_body_bytes: u32 = 0;
    "strict_tool_names" => strict_tool_names: Option<bool> = None;
    "allow_all_known_mcp_methods" => allow_all_known_mcp_methods: Option<bool> = None;
});

crate::from_node_struct!(GraphqlOperation {
    "operation_type" => operation_type: String = String::new();
    "operation_name" => operation_name: String = String::new();
    "fields" => fields: Vec<String> = Vec::new();
});

crate::from_node_struct!(L7Rule {
    "allow" => allow: L7Match;
});

crate::from_node_struct!(L7Match {
    "method" => method: String = String::new();
    "path" => path: String = String::new();
    "command" => command: String = String::new();
    "query" => query: BTreeMap<String, QueryMatcher> = BTreeMap::new();
    "operation_type" => operation_type: String = String::new();
    "operation_name" => operation_name: String = String::new();
    "fields" => fields: Vec<String> = Vec::new();
    "tool" => tool: Option<QueryMatcher> = None;
    "params" => params: BTreeMap<String, ParamMatcher> = BTreeMap::new();
});

/// `QueryMatcher` and `ParamMatcher` are untagged: the first variant whose
/// shape the value has wins, as serde's `untagged` tried them. serde also
/// read a struct from a list of its fields in order, so `[[a, b]]` (and
/// `[]`) is a `QueryAny` too.
impl FromNode for QueryMatcher {
    fn from_node(c: &Cursor<'_>) -> Result<Self, Fail> {
        query_matcher(&c.content()?).ok_or_else(|| {
            Fail::custom("data did not match any variant of untagged enum QueryMatcher")
        })
    }
}

impl FromNode for ParamMatcher {
    fn from_node(c: &Cursor<'_>) -> Result<Self, Fail> {
        param_matcher(&c.content()?).ok_or_else(|| {
            Fail::custom("data did not match any variant of untagged enum ParamMatcher")
        })
    }
}

fn query_matcher(v: &serde_json::Value) -> Option<QueryMatcher> {
    match v {
        serde_json::Value::String(s) => Some(QueryMatcher::Glob(s.clone())),
        _ => query_any(v).map(QueryMatcher::Any),
    }
}

fn query_any(v: &serde_json::Value) -> Option<QueryAny> {
    let any = match v {
        serde_json::Value::Object(m) => match m.iter().collect::<Vec<_>>().as_slice() {
            [] => Vec::new(),
            [(k, v)] if *k == "any" => strings(v)?,
            _ => return None,
        },
        serde_json::Value::Array(items) => match items.as_slice() {
            [] => Vec::new(),
            [v] => strings(v)?,
            _ => return None,
        },
        _ => return None,
    };
    Some(QueryAny { any })
}

fn strings(v: &serde_json::Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

fn param_matcher(v: &serde_json::Value) -> Option<ParamMatcher> {
    if let Some(m) = query_matcher(v) {
        return Some(ParamMatcher::Matcher(m));
    }
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), param_matcher(v)?)))
        .collect::<Option<_>>()
        .map(ParamMatcher::Object)
}

crate::from_node_struct!(QueryAny {
    "any" => any: Vec<String> = Vec::new();
});

crate::from_node_struct!(Binary {
    "path" => path: String;
    "harness" => harness: bool = false;
});

crate::from_node_struct!(NetworkMiddleware {
    "name" => name: String = String::new();
    "middleware" => middleware: String;
    "order" => order: i32 = 0;
    "config" => config: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    "on_error" => on_error: String = String::new();
    "endpoints" => endpoints: Option<MiddlewareSelector> = None;
});

crate::from_node_struct!(MiddlewareSelector {
    "include" => include: Vec<String> = Vec::new();
    "exclude" => exclude: Vec<String> = Vec::new();
});

crate::from_node_struct!(Network {
    "connect_tcp" => connect_tcp: Vec<u16> = Vec::new();
    "bind_tcp" => bind_tcp: Vec<u16> = Vec::new();
    "allow_listen" => allow_listen: bool = false;
    "unix_sockets" => unix_sockets: bool = true;
});

crate::from_node_enum!(SeccompAction {
    "errno" => Errno,
    "kill" => Kill,
});

crate::from_node_struct!(Seccomp {
    "allow" => allow: Vec<String> = Vec::new();
    "deny" => deny: Vec<String> = Vec::new();
    "action" => action: SeccompAction = SeccompAction::default();
    "log" => log: bool = false;
});

crate::from_node_struct!(Capabilities {
    "keep" => keep: Vec<String> = Vec::new();
    "bypass_acknowledged" => bypass_acknowledged: Vec<String> = Vec::new();
});

crate::from_node_struct!(Devices {
    "cdi" => cdi: Option<Cdi> = None;
});

crate::from_node_struct!(Cdi {
    "spec_dirs" => spec_dirs: Vec<String> = Vec::new();
    "devices" => devices: Vec<String> = Vec::new();
    "runtime_applied" => runtime_applied: bool = true;
});

crate::from_node_struct!(Environment {
    "pass" => pass: Vec<String> = Vec::new();
    "set" => set: BTreeMap<String, String> = BTreeMap::new();
});
