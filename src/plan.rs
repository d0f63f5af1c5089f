//! The `plan` phase: a pure function from (policy, run options, host facts)
//! to a [`Plan`] — plain data listing every rule this host would enforce and
//! every one it could not. `openshell-sandbox plan` prints it; `apply`
//! performs exactly it; tests compare it whole. Nothing here reads the host:
//! everything host-dependent arrives in [`HostFacts`] from `probe`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::identity::{self, IdentityPlan};
use crate::policy::model::{Compatibility, Policy, RlimitValue};
use crate::policy::{Source, paths, validate};
use crate::probe::{HostFacts, LandlockSupport, PathKind};
use crate::{env, seccomp};

/// Highest Landlock ABI this build knows how to use.
pub const LANDLOCK_ABI_KNOWN: u32 = 10;

/// How the workload is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Apply, then replace this process with the workload.
    Exec,
    /// Fork; the child applies and execs, the parent stays as a minimal init.
    Init,
}

/// Run options that shape the plan (from the command line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    pub workdir: Option<String>,
    pub devices: Vec<String>,
    pub cdi_dirs: Vec<String>,
    /// `Some(true)` = `--init`, `Some(false)` = `--exec`, `None` = decide.
    pub init: Option<bool>,
    pub preserve_fds: Vec<i32>,
    /// The workload's argv, as bytes.
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub policy: PolicyInfo,
    pub mode: Mode,
    /// Bytes that are not UTF-8 are shown as `\xNN` (see `bytes`).
    #[serde(serialize_with = "crate::bytes::serialize_list")]
    pub command: Vec<std::ffi::OsString>,
    pub workdir: Option<String>,
    pub identity: IdentityPlan,
    pub filesystem: FilesystemPlan,
    pub network: NetworkPlan,
    pub environment: env::EnvPlan,
    pub rlimits: Vec<RlimitPlan>,
    pub capabilities: CapabilityPlan,
    /// `None` only when the seccomp plan itself failed (then `blockers`
    /// says why and `run` stops).
    pub seccomp: Option<seccomp::SeccompPlan>,
    pub devices: DevicesPlan,
    /// Everything the policy asked for that this host will not enforce,
    /// in words. Empty under full enforcement.
    pub dropped: Vec<String>,
    /// Rules that grant more than they read as (a `read_only` path beneath a
    /// `read_write` one is writable).
    pub widened: Vec<String>,
    /// Conditions that stop `run` with exit 125 (`plan` only reports them).
    pub blockers: Vec<String>,
    /// Gaps of this kernel or node that no policy can close, with what the
    /// operator can do (logged at info level, shown in plans and reports).
    pub host_limits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    pub source: Source,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    ReadOnly,
    ReadWrite,
    /// A CDI device node: read/write as its permissions say, plus ioctl.
    Device,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    Policy,
    Workdir,
    Baseline,
    Device,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FsRule {
    pub path: String,
    pub access: Access,
    pub origin: RuleOrigin,
    /// Landlock rights granted beneath the path, under the ABI in use.
    pub rights: Vec<&'static str>,
    /// `directory`, `file`, `char_device`, ... or `missing`.
    pub kind: PathKind,
    pub present: bool,
    /// Why a rule is skipped (missing path under best_effort).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// What the path resolves to, when that differs from `path` (trusted
    /// links followed; see `safepath`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// `(st_dev, st_ino)` found while planning: apply opens the path again
    /// and refuses a different object.
    #[serde(skip)]
    pub inode: Option<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LandlockFeatures {
    pub filesystem: bool,
    pub truncate: bool,
    pub ioctl_dev: bool,
    pub network: bool,
    pub scopes: bool,
    pub audit: bool,
    /// Connect to pathname unix sockets only within the policy's paths
    /// (ABI 9).
    pub unix_sockets: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FilesystemPlan {
    pub compatibility: Compatibility,
    /// What the kernel reported for Landlock.
    pub kernel: LandlockSupport,
    /// ABI rules are built for: min(kernel, this build's highest).
    pub abi: u32,
    /// Features that are required (a shortfall is a 125).
    pub required: LandlockFeatures,
    /// Features that will actually be enforced on this host.
    pub enforced: LandlockFeatures,
    /// Handled filesystem rights (everything not granted below is denied).
    pub handled: Vec<&'static str>,
    pub rules: Vec<FsRule>,
    pub scopes: Vec<&'static str>,
    pub log_denials: bool,
    /// The uid the workload runs as (never a trusted owner, see
    /// `safepath::Trust`).
    #[serde(skip)]
    pub workload_uid: u32,
    /// Inodes no read-write or workdir rule may grant (`/` and the system
    /// trees, see `safepath::NEVER_WRITABLE`); apply checks the opened
    /// object against them again.
    #[serde(skip)]
    pub never_writable: Vec<(u64, u64)>,
}

impl FilesystemPlan {
    /// The paths this plan makes writable, spelled and resolved: links
    /// beneath them are never followed when a privileged step opens a path
    /// (see `safepath`).
    pub fn trust(&self) -> crate::safepath::Trust {
        let mut writable: Vec<String> = Vec::new();
        for r in self.rules.iter().filter(|r| r.access == Access::ReadWrite) {
            writable.push(r.path.clone());
            writable.extend(r.resolved.clone());
        }
        crate::sort::sort_dedup(&mut writable);
        crate::safepath::Trust {
            writable,
            workload_uid: Some(self.workload_uid),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NetworkPlan {
    /// AF_INET/AF_INET6 sockets (seccomp): allowed only when the policy
    /// declares any network access.
    pub inet_sockets: bool,
    /// Landlock TCP rules (ABI >= 4): ports the workload may connect to /
    /// bind. Everything else is denied when enforced.
    pub connect_tcp: Vec<u16>,
    pub bind_tcp: Vec<u16>,
    pub tcp_enforced: bool,
    /// What the policy says that only an OpenShell network proxy enforces.
    pub proxy_only: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RlimitPlan {
    pub name: &'static str,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapabilityPlan {
    /// Kept in bounding, inheritable, permitted and raised as ambient.
    pub keep: Vec<String>,
    /// Bit mask of `keep` (`/proc/self/status` CapInh/CapPrm/CapEff/CapAmb
    /// must equal it).
    pub mask: u64,
    /// The bounding set after apply (CapBnd): `mask`, or the inherited set
    /// when it cannot or need not be cleared (see `capabilities`).
    pub bounding: u64,
    /// Securebits set and locked (none when CAP_SETPCAP is not held).
    pub securebits: Vec<&'static str>,
    pub no_new_privs: bool,
    /// Kept capabilities that get around a rule of the sandbox, each with
    /// what it lets the workload do (the policy acknowledged them under
    /// `capabilities.bypass_acknowledged`; also listed under `dropped`).
    pub acknowledged_bypasses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceRequest {
    pub name: String,
    /// `flag`, `policy` or `NVIDIA_VISIBLE_DEVICES`.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DevicesPlan {
    pub requested: Vec<DeviceRequest>,
    /// Devices `NVIDIA_VISIBLE_DEVICES` asks for beyond what the flags and
    /// the policy name (a blocker: the environment may narrow, not widen).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_allowed: Vec<String>,
    pub spec_dirs: Vec<String>,
    pub runtime_applied: bool,
    /// What the requests resolve to and what is granted (see `cdi::grants`).
    #[serde(flatten)]
    pub cdi: crate::cdi::CdiPlan,
}

/// Landlock filesystem rights by ABI, in the kernel's bit order.
const FS_RIGHTS: [(&str, u32, bool); 17] = [
    // (name, first ABI, applies to files)
    ("execute", 1, true),
    ("write_file", 1, true),
    ("read_file", 1, true),
    ("read_dir", 1, false),
    ("remove_dir", 1, false),
    ("remove_file", 1, false),
    ("make_char", 1, false),
    ("make_dir", 1, false),
    ("make_reg", 1, false),
    ("make_sock", 1, false),
    ("make_fifo", 1, false),
    ("make_block", 1, false),
    ("make_sym", 1, false),
    ("refer", 2, false),
    ("truncate", 3, true),
    ("ioctl_dev", 5, true),
    // connect(2)/sendmsg(2) to a named unix socket: checked on the socket
    // file itself, so it applies to files as well as beneath directories.
    ("resolve_unix", 9, true),
];

const READ_RIGHTS: [&str; 3] = ["execute", "read_file", "read_dir"];

/// The rights `access` grants on a path of `kind` under `abi`.
pub fn fs_rights(abi: u32, access: Access, kind: PathKind, dev_write: bool) -> Vec<&'static str> {
    let is_dir = matches!(kind, PathKind::Directory | PathKind::Missing);
    FS_RIGHTS
        .iter()
        .filter(|(_, since, _)| *since <= abi)
        .filter(|(_, _, file_ok)| is_dir || *file_ok)
        .filter(|(name, _, _)| match access {
            Access::ReadOnly => READ_RIGHTS.contains(name),
            Access::ReadWrite => true,
            Access::Device => {
                matches!(*name, "read_file" | "ioctl_dev")
                    || (dev_write && matches!(*name, "write_file" | "truncate"))
            }
        })
        .map(|(n, _, _)| *n)
        .collect()
}

pub fn handled_rights(abi: u32) -> Vec<&'static str> {
    FS_RIGHTS
        .iter()
        .filter(|(_, since, _)| *since <= abi)
        .map(|(n, _, _)| *n)
        .collect()
}

fn required(policy_req: Option<bool>, compat: Compatibility, used: bool) -> bool {
    used && policy_req.unwrap_or(compat == Compatibility::HardRequirement)
}

/// Build the plan. Pure: the same inputs always give the same plan.
pub fn build(policy: &Policy, source: &Source, opts: &RunOptions, host: &HostFacts) -> Plan {
    let mut dropped = Vec::new();
    let mut blockers = Vec::new();
    let mut widened = Vec::new();

    let ll = policy.landlock.clone().unwrap_or_default();
    let compat = ll.compatibility;
    let kernel_abi = host.landlock.abi();
    let abi = kernel_abi.min(LANDLOCK_ABI_KNOWN);

    // ---- workdir ----
    let workdir = opts
        .workdir
        .clone()
        .or_else(|| policy.process.as_ref().and_then(|p| p.workdir.clone()))
        .map(|w| paths::normalize(&w));

    // ---- filesystem rules ----
    let fs = policy.filesystem_policy.clone();
    let include_workdir = fs.as_ref().is_none_or(|f| f.include_workdir);
    let mut wanted: Vec<(String, Access, RuleOrigin)> = Vec::new();
    if let Some(f) = &fs {
        for p in &f.read_only {
            wanted.push((paths::normalize(p), Access::ReadOnly, RuleOrigin::Policy));
        }
        for p in &f.read_write {
            wanted.push((paths::normalize(p), Access::ReadWrite, RuleOrigin::Policy));
        }
        // An execute path is readable too: running a program reads it.
        for p in f.execute.iter().flatten() {
            wanted.push((paths::normalize(p), Access::ReadOnly, RuleOrigin::Policy));
        }
    }
    // W^X: with `execute` listed, only rules beneath those paths keep the
    // execute right.
    let exec_only: Option<Vec<String>> = fs
        .as_ref()
        .and_then(|f| f.execute.as_ref())
        .map(|e| e.iter().map(|p| paths::normalize(p)).collect());
    let may_execute = |path: &str| {
        exec_only
            .as_ref()
            .is_none_or(|e| e.iter().any(|x| paths::is_within(path, x)))
    };
    if include_workdir {
        if let Some(w) = &workdir {
            wanted.push((w.clone(), Access::ReadWrite, RuleOrigin::Workdir));
        }
    }
    // One rule per path: read-write wins over read-only, first origin kept.
    let mut by_path: BTreeMap<String, (Access, RuleOrigin)> = BTreeMap::new();
    for (p, a, o) in wanted {
        by_path
            .entry(p)
            .and_modify(|e| {
                if a > e.0 {
                    *e = (a, o);
                }
            })
            .or_insert((a, o));
    }
    let mut rules = Vec::new();
    for (path, (access, origin)) in by_path {
        let mut kind = host.path_kind(&path);
        if access == Access::ReadWrite {
            if let Some(b) = never_writable_blocker(&path, origin, host) {
                blockers.push(b);
                kind = PathKind::Missing;
            }
        }
        let present = kind != PathKind::Missing;
        let skipped = if !present && access == Access::ReadWrite && kind_is_refused(&path, host) {
            Some("never writable".to_string())
        } else if present {
            None
        } else {
            let why = host.path_error(&path).unwrap_or("does not exist");
            if compat == Compatibility::HardRequirement {
                blockers.push(format!(
                    "landlock: {path}: {why} (landlock.compatibility is hard_requirement)"
                ));
            } else {
                dropped.push(format!("filesystem rule for {path} skipped: {why}"));
            }
            Some(why.to_string())
        };
        rules.push(FsRule {
            rights: if present {
                let mut r = fs_rights(abi, access, kind, true);
                if !may_execute(&path) {
                    r.retain(|n| *n != "execute");
                }
                r
            } else {
                Vec::new()
            },
            path,
            access,
            origin,
            kind,
            present,
            skipped,
            resolved: None,
            inode: None,
        });
    }
    widened_lines(&rules, &mut widened);

    // ---- network ----
    let net_ext = policy.network.clone().unwrap_or_default();
    let mut connect: BTreeSet<u16> = net_ext.connect_tcp.iter().copied().collect();
    let bind: BTreeSet<u16> = net_ext.bind_tcp.iter().copied().collect();
    let mut proxy_only = Vec::new();
    for (name, rule) in &policy.network_policies {
        let mut hosts = Vec::new();
        for ep in &rule.endpoints {
            let ports = ep.effective_ports();
            connect.extend(ports.iter().copied());
            let host = if ep.host.is_empty() {
                ep.allowed_ips.join(",")
            } else {
                ep.host.clone()
            };
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            hosts.push(format!("{host}:{}", ports.join(",")));
        }
        proxy_only.push(format!(
            "network_policies.{name}: host names, addresses, paths, L7 rules and binaries ({}) need an OpenShell network proxy; only the ports are enforced here",
            hosts.join(" ")
        ));
    }
    if !policy.network_middlewares.is_empty() {
        proxy_only.push(format!(
            "network_middlewares ({}) run only in an OpenShell network proxy",
            policy
                .network_middlewares
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let inet = !connect.is_empty() || !bind.is_empty();
    let tcp_enforced = abi >= 4;
    // An unbound socket's listen() autobinds an ephemeral port without
    // Landlock's bind check; seccomp cannot tell a TCP socket at listen, so
    // listen is refused outright unless the policy grants a bind port or
    // opts in. Without inet sockets only unix sockets can listen.
    let listen = !inet || !bind.is_empty() || net_ext.allow_listen;

    // ---- landlock features ----
    let req = ll.require.clone().unwrap_or_default();
    let req_explicit_fs = req.filesystem == Some(true);
    let scopes_cfg = ll.scopes.clone().unwrap_or_default();
    let audit_cfg = ll.audit.clone().unwrap_or_default();
    let uses_scopes = scopes_cfg.abstract_unix_socket || scopes_cfg.signal;
    // Handling ioctl_dev restricts ioctl on every device file not granted,
    // so like truncate it is always in use.
    let uses_ioctl = true;
    // Pathname unix sockets are reachable unless seccomp refuses AF_UNIX.
    let uses_unix = !af_unix_refused(policy);
    let required_f = LandlockFeatures {
        filesystem: required(req.filesystem, compat, true),
        truncate: required(req.truncate, compat, true),
        ioctl_dev: required(req.ioctl_dev, compat, uses_ioctl),
        network: required(req.network, compat, true),
        scopes: required(req.scopes, compat, uses_scopes),
        audit: false,
        unix_sockets: required(req.unix_sockets, compat, uses_unix),
    };
    let enforced = LandlockFeatures {
        filesystem: abi >= 1,
        truncate: abi >= 3,
        ioctl_dev: abi >= 5,
        network: abi >= 4,
        scopes: abi >= 6 && uses_scopes,
        audit: abi >= 7 && audit_cfg.log_denials,
        unix_sockets: abi >= 9 && uses_unix,
    };
    // Each feature the policy uses is either enforced, required (a 125),
    // or dropped and listed in words.
    let features = [
        (
            required_f.filesystem,
            enforced.filesystem,
            true,
            1,
            "filesystem access control",
        ),
        (
            required_f.truncate,
            enforced.truncate,
            true,
            3,
            "truncate control",
        ),
        (
            required_f.ioctl_dev,
            enforced.ioctl_dev,
            uses_ioctl,
            5,
            "ioctl control on device files",
        ),
        (
            required_f.network,
            enforced.network,
            true,
            4,
            "TCP bind/connect rules",
        ),
        (
            required_f.scopes,
            abi >= 6,
            uses_scopes,
            6,
            "IPC scoping (abstract unix sockets, signals)",
        ),
        (
            required_f.unix_sockets,
            enforced.unix_sockets,
            uses_unix,
            9,
            UNIX_SOCKETS,
        ),
    ];
    for (req, enf, used, need, what) in features {
        if enf || !used {
            continue;
        }
        if need == 1 {
            // No Landlock at all: one clear line, first, whatever else the
            // policy uses.
            let have = host.landlock.describe();
            if req {
                let how = if req_explicit_fs {
                    "set landlock.require.filesystem: false"
                } else {
                    "set landlock.compatibility: best_effort"
                };
                blockers.insert(
                    0,
                    format!(
                        "landlock: filesystem isolation required but the kernel provides {have}\nhint: {}, or {how} to run without it",
                        no_landlock_hint(&host.landlock)
                    ),
                );
            } else {
                dropped.insert(
                    0,
                    format!(
                        "filesystem not enforced: the kernel provides {have}; no Landlock filesystem, TCP or IPC-scope rule applies"
                    ),
                );
            }
            continue;
        }
        let have = host.landlock.describe();
        let other_fix = if what == UNIX_SOCKETS {
            "set landlock.require.unix_sockets: false to accept that unix sockets are reachable wherever file modes allow, or network.unix_sockets: false to refuse them"
        } else {
            "set landlock.compatibility: best_effort"
        };
        if req {
            blockers.push(format!(
                "landlock: the policy requires {what} (ABI {need}) but the kernel provides {have}\nhint: run on Linux >= {}, or {other_fix}",
                linux_for_abi(need)
            ));
        } else if kernel_abi >= 1 {
            let consequence = if what == UNIX_SOCKETS {
                "; the workload can connect to any pathname unix socket its file modes allow"
            } else {
                ""
            };
            dropped.push(format!(
                "not enforced: {what} (needs Landlock ABI {need}, the kernel provides {have}){consequence}"
            ));
        }
    }
    if kernel_abi == 0 {
        // One line says it: no per-path noise when nothing can be enforced.
        dropped.retain(|d| !d.starts_with("filesystem rule"));
    }
    let mut scopes = Vec::new();
    if abi >= 6 {
        if scopes_cfg.abstract_unix_socket {
            scopes.push("abstract_unix_socket");
        }
        if scopes_cfg.signal {
            scopes.push("signal");
        }
    }

    // ---- identity, devices, env, caps, seccomp, rlimits ----
    let mut identity = identity::plan(policy, host);
    if let Some(b) = &identity.blocker {
        blockers.push(b.clone());
    }
    // CDI devices add Landlock rules, env and supplementary groups.
    let mut devices = devices_plan(policy, opts, host);
    for d in &devices.not_allowed {
        let bound: Vec<&str> = opts
            .devices
            .iter()
            .chain(
                policy
                    .devices
                    .iter()
                    .filter_map(|x| x.cdi.as_ref())
                    .flat_map(|c| c.devices.iter()),
            )
            .map(String::as_str)
            .collect();
        blockers.push(format!(
            "cdi: device {d:?} requested by NVIDIA_VISIBLE_DEVICES is not allowed (the flags and the policy name: {})\nhint: NVIDIA_VISIBLE_DEVICES may narrow the devices the policy names, never add to them: add it to devices.cdi.devices or drop it from the variable",
            bound.join(", ")
        ));
    }
    let cdi = crate::cdi::grants::plan(
        &devices,
        &crate::cdi::grants::Context {
            policy,
            host,
            abi,
            ioctl_required: required_f.ioctl_dev,
            ioctl_enforced: enforced.ioctl_dev,
            uid: identity.uid,
            gid: identity.gid,
            sets_groups: identity.groups.is_some(),
        },
    );
    devices.cdi = cdi.cdi;
    rules.extend(cdi.rules);
    for r in &mut rules {
        // /proc/self names whichever process opens it: the plan may be made
        // in the PID-1 parent and applied in its child.
        let per_process = ["/proc/self", "/proc/thread-self"]
            .iter()
            .any(|p| paths::is_within(&r.path, p));
        if per_process {
            continue;
        }
        if let Some(rp) = host.resolved.get(&r.path) {
            r.inode = Some((rp.dev, rp.ino));
            if rp.path != r.path {
                r.resolved = Some(rp.path.clone());
            }
        }
    }
    if let Some(b) = cdi.ioctl_blocker {
        // Name the device node rather than "device files".
        match blockers
            .iter()
            .position(|x| x.starts_with("landlock: the policy requires ioctl control"))
        {
            Some(i) => blockers[i] = b,
            None => blockers.push(b),
        }
    }
    blockers.extend(cdi.blockers);
    dropped.extend(cdi.dropped);
    identity::add_device_groups(&mut identity, &cdi.gids);
    let mut environment = env::plan(policy, host, &identity);
    env::add_device_env(&mut environment, &cdi.env);
    let keep: Vec<String> = policy
        .capabilities
        .as_ref()
        .map(|c| {
            let mut k: Vec<String> = c
                .keep
                .iter()
                .filter_map(|n| validate::capability_index(n).map(|i| validate::CAPABILITIES[i]))
                .map(|n| format!("CAP_{n}"))
                .collect();
            crate::sort::sort_dedup(&mut k);
            k
        })
        .unwrap_or_default();
    let mask = keep
        .iter()
        .filter_map(|n| validate::capability_index(n))
        .fold(0u64, |m, i| m | (1u64 << i));
    let sc = policy.seccomp.clone().unwrap_or_default();
    let (capabilities, cap_blockers) =
        crate::capabilities::plan(keep, mask, &sc.allow, &identity, &host.caps);
    blockers.extend(cap_blockers);
    dropped.extend(
        capabilities.acknowledged_bypasses.iter().map(|b| {
            format!("not enforced: kept capability {b} (capabilities.bypass_acknowledged)")
        }),
    );
    let listen_allowed = listen || sc.allow.iter().any(|n| n == "listen");
    let seccomp = match seccomp::plan(&seccomp::SeccompConfig {
        allow: sc.allow,
        deny: sc.deny,
        action: match sc.action {
            crate::policy::model::SeccompAction::Errno => seccomp::DenyAction::Errno,
            crate::policy::model::SeccompAction::Kill => seccomp::DenyAction::Kill,
        },
        log: sc.log,
        inet,
        unix_sockets: net_ext.unix_sockets,
        listen,
        allowed_namespaces: Vec::new(),
    }) {
        Ok(p) => Some(p),
        Err(e) => {
            blockers.push(format!("seccomp: {e}"));
            None
        }
    };
    if inet && tcp_enforced && listen_allowed {
        let why = if !listen {
            "seccomp.allow: [listen]"
        } else if net_ext.allow_listen {
            "network.allow_listen: true"
        } else {
            "network.bind_tcp grants a port"
        };
        dropped.push(format!(
            "not enforced: listen() on an unbound TCP socket takes an ephemeral port without a Landlock bind check ({why})"
        ));
    }
    if sc.log {
        dropped.push(
            "seccomp: log mode: denied syscalls are logged, not refused (seccomp.log: true)".into(),
        );
    }

    let rlimits = policy
        .process
        .as_ref()
        .and_then(|p| p.rlimits.as_ref())
        .map(|r| {
            r.entries()
                .into_iter()
                .map(|(name, v)| RlimitPlan {
                    name,
                    soft: limit(v.soft),
                    hard: limit(v.hard),
                })
                .collect()
        })
        .unwrap_or_default();

    let mode = match opts.init {
        Some(true) => Mode::Init,
        Some(false) => Mode::Exec,
        None if host.pid == 1 => Mode::Init,
        None => Mode::Exec,
    };

    // Landlock does not check files on the kernel's internal mounts, where
    // memfds live, so executing a memfd through /proc/self/fd/N is only
    // refused when the pid namespace makes memfds non-executable.
    // (execveat with AT_EMPTY_PATH is refused by seccomp regardless.)
    let mut host_limits = Vec::new();
    if host.memfd_noexec != Some(2) {
        host_limits.push(format!(
            "exec of memfd files through /proc/self/fd is possible (vm.memfd_noexec is {}); set vm.memfd_noexec=2 on the node (Linux >= 6.6) to refuse it",
            host.memfd_noexec.map_or("unavailable".to_string(), |v| v.to_string())
        ));
    }
    // What Landlock does not cover on any kernel this build knows: said in
    // every plan so the plan, not a README, is the whole answer.
    host_limits.push(
        "metadata changes (chmod, chown, utimes, extended attributes) and stat are not restricted by Landlock: the workload can change them on any file its uid owns or may reach by file modes".into(),
    );
    if inet {
        host_limits.push(
            "UDP is not restricted by port: with a network policy the workload can send datagrams to any address and port (only TCP has Landlock rules here)".into(),
        );
    }

    let workload_uid = identity.uid;
    Plan {
        policy: PolicyInfo {
            description: source.describe(),
            source: source.clone(),
        },
        mode,
        command: opts.command.clone(),
        workdir,
        identity,
        filesystem: FilesystemPlan {
            compatibility: compat,
            kernel: host.landlock.clone(),
            abi,
            required: required_f,
            enforced,
            handled: handled_rights(abi),
            rules,
            scopes,
            log_denials: abi >= 7 && audit_cfg.log_denials,
            never_writable: host.never_writable.clone(),
            workload_uid,
        },
        network: NetworkPlan {
            inet_sockets: inet,
            connect_tcp: connect.into_iter().collect(),
            bind_tcp: bind.into_iter().collect(),
            tcp_enforced,
            proxy_only,
        },
        environment,
        rlimits,
        capabilities,
        seccomp,
        devices,
        dropped,
        widened,
        blockers,
        host_limits,
    }
}

/// The path a rule resolves to on this host, or its spelling when the host
/// facts do not say.
fn resolved_path<'a>(path: &'a str, host: &'a HostFacts) -> &'a str {
    host.resolved.get(path).map_or(path, |r| r.path.as_str())
}

/// `true` when a read-write rule's path is, after resolution, `/` or one
/// of the system trees (compared by inode where the host facts have one,
/// and by canonical spelling otherwise).
fn kind_is_refused(path: &str, host: &HostFacts) -> bool {
    let canonical = resolved_path(path, host);
    crate::safepath::NEVER_WRITABLE.contains(&canonical)
        || crate::safepath::NEVER_WRITABLE.contains(&path)
        || host
            .resolved
            .get(path)
            .is_some_and(|r| host.never_writable.contains(&(r.dev, r.ino)))
}

/// A read-write or workdir rule on `/` or a system tree, however spelled,
/// stops the launch: no compatibility setting accepts it.
fn never_writable_blocker(path: &str, origin: RuleOrigin, host: &HostFacts) -> Option<String> {
    if !kind_is_refused(path, host) {
        return None;
    }
    let canonical = resolved_path(path, host);
    let what = if canonical == path {
        path.to_string()
    } else {
        format!("{path} (resolves to {canonical})")
    };
    Some(match origin {
        RuleOrigin::Workdir => format!(
            "workdir: {what} would become a read-write rule, and {canonical} is never writable\nhint: use a working directory of its own, or set filesystem_policy.include_workdir: false"
        ),
        _ => format!(
            "filesystem_policy.read_write: {what} is never writable: a read-write rule there hands the workload the system\nhint: grant a directory of its own, or list {canonical} under read_only"
        ),
    })
}

/// A `read_only` rule beneath a `read_write` one is writable all the same:
/// Landlock rights beneath a path add up. Say so instead of letting the
/// policy read as if it narrowed access.
fn widened_lines(rules: &[FsRule], out: &mut Vec<String>) {
    for ro in rules.iter().filter(|r| r.access == Access::ReadOnly) {
        if let Some(rw) = rules.iter().find(|w| {
            w.access == Access::ReadWrite && w.present && paths::is_within(&ro.path, &w.path)
        }) {
            out.push(format!(
                "filesystem: read_only {} lies beneath read_write {}, so it is writable too (Landlock rights beneath a path add up)",
                ro.path, rw.path
            ));
        }
    }
}

/// The feature's name in plans and errors.
const UNIX_SOCKETS: &str = "connect control on pathname unix sockets";

/// The policy refuses AF_UNIX sockets altogether (seccomp), so no pathname
/// socket is reachable whatever Landlock enforces.
fn af_unix_refused(policy: &Policy) -> bool {
    policy.network.as_ref().is_some_and(|n| !n.unix_sockets)
}

/// The first Linux release with a Landlock ABI (for hints).
pub fn linux_for_abi(abi: u32) -> &'static str {
    match abi {
        0 | 1 => "5.13",
        2 => "5.19",
        3 => "6.2",
        4 => "6.7",
        5 => "6.10",
        6 => "6.12",
        7 => "6.15",
        8 => "7.0",
        9 => "7.1",
        _ => "7.2",
    }
}

/// What an operator can do about a kernel without usable Landlock.
pub fn no_landlock_hint(support: &LandlockSupport) -> &'static str {
    match support {
        LandlockSupport::NotEnabled => {
            "enable Landlock at boot (add landlock to the lsm= kernel parameter)"
        }
        LandlockSupport::Blocked => {
            "allow landlock_create_ruleset, landlock_add_rule and landlock_restrict_self in the container's seccomp profile"
        }
        _ => "run on a kernel built with Landlock (Linux >= 5.13, CONFIG_SECURITY_LANDLOCK=y)",
    }
}

fn limit(v: RlimitValue) -> Option<u64> {
    match v {
        RlimitValue::Limited(n) => Some(n),
        RlimitValue::Unlimited => None,
    }
}

/// Device requests in the order they will be resolved: `--device` flags,
/// then the policy, then `NVIDIA_VISIBLE_DEVICES`.
///
/// When the flags or the policy name devices, they are the upper bound:
/// `NVIDIA_VISIBLE_DEVICES` (which images set, `all` in NVIDIA's CUDA base
/// images) may narrow the list to the names it shares with it, never add
/// to it. `all` leaves the list as it is, and so do `none`, `void` and an
/// empty value (NVIDIA's CDI specs set `void` in the container so the
/// legacy hook stays idle; it is not a request for no device). A name the
/// bound does not contain is listed in `not_allowed`, which stops the
/// launch. With no devices named by the flags or the policy, the variable
/// requests devices as the NVIDIA runtime would.
pub fn devices_plan(policy: &Policy, opts: &RunOptions, host: &HostFacts) -> DevicesPlan {
    let cdi = policy
        .devices
        .as_ref()
        .and_then(|d| d.cdi.clone())
        .unwrap_or_default();
    let mut requested: Vec<DeviceRequest> = Vec::new();
    let push = |requested: &mut Vec<DeviceRequest>, name: String, source: &str| {
        if !requested.iter().any(|r| r.name == name) {
            requested.push(DeviceRequest {
                name,
                source: source.to_string(),
            });
        }
    };
    for d in &opts.devices {
        push(&mut requested, d.clone(), "flag");
    }
    for d in &cdi.devices {
        push(&mut requested, d.clone(), "policy");
    }
    let mut not_allowed = Vec::new();
    let from_env = host
        .env_var("NVIDIA_VISIBLE_DEVICES")
        .map(|v| nvidia_visible_devices(&v))
        .unwrap_or_default();
    if requested.is_empty() {
        for name in from_env {
            push(&mut requested, name, "NVIDIA_VISIBLE_DEVICES");
        }
    } else if !from_env.is_empty() && from_env != ["nvidia.com/gpu=all"] {
        not_allowed = from_env
            .iter()
            .filter(|n| !requested.iter().any(|r| &r.name == *n))
            .cloned()
            .collect();
        requested.retain(|r| from_env.contains(&r.name));
    }
    let spec_dirs = if !opts.cdi_dirs.is_empty() {
        opts.cdi_dirs.clone()
    } else if !cdi.spec_dirs.is_empty() {
        cdi.spec_dirs.clone()
    } else {
        vec!["/etc/cdi".to_string(), "/var/run/cdi".to_string()]
    };
    DevicesPlan {
        requested,
        not_allowed,
        spec_dirs,
        runtime_applied: cdi.runtime_applied,
        cdi: crate::cdi::CdiPlan::default(),
    }
}

/// `NVIDIA_VISIBLE_DEVICES` (indices, UUIDs, `all`; `none`, `void` and
/// empty mean none) as CDI names.
pub fn nvidia_visible_devices(v: &str) -> Vec<String> {
    let v = v.trim();
    if v.is_empty() || v == "none" || v == "void" {
        return Vec::new();
    }
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("nvidia.com/gpu={s}"))
        .collect()
}
