//! The `plan` phase: a pure function from (policy, run options, host facts)
//! to a [`Plan`] — plain data listing every rule this host would enforce and
//! every one it could not. `openshell-sandbox plan` prints it; `apply`
//! performs exactly it; tests compare it whole. Nothing here reads the host:
//! everything host-dependent arrives in [`HostFacts`], gathered by `resolve`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::Finding;
use crate::identity::{self, IdentityPlan};
use crate::landlock::{FilesystemPlan, LandlockFeatures, NetworkPlan, fs_rights, handled_rights};
// Landlock's plan types, named here too for callers outside the crate.
pub use crate::landlock::{
    Access, FsRule, LANDLOCK_ABI_KNOWN, RuleOrigin, linux_for_abi, no_landlock_hint,
};
use crate::policy::model::{Compatibility, Policy, RlimitValue};
use crate::policy::{Source, paths, validate};
use crate::probe::HostFacts;
use crate::safepath::PathKind;
use crate::{env, seccomp};

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
    /// Plan the seccomp filter for this machine's architecture only (a
    /// launch installs nothing else); the `plan` command shows both.
    pub native_only: bool,
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
    pub capabilities: crate::capabilities::CapabilityPlan,
    /// `None` only when the seccomp plan itself failed (then `blockers`
    /// says why and `run` stops).
    pub seccomp: Option<seccomp::SeccompPlan>,
    pub devices: crate::cdi::grants::DevicesPlan,
    /// Everything the policy asked for that this host will not enforce,
    /// each naming what and why. Empty under full enforcement.
    pub dropped: Vec<Finding>,
    /// Rules that grant more than they read as (a `read_only` path beneath a
    /// `read_write` one is writable).
    pub widened: Vec<String>,
    /// Conditions that stop `run` with exit 125 (`plan` only reports them);
    /// the first is the error `run` stops with.
    pub blockers: Vec<Finding>,
    /// Gaps of this kernel or node that no policy can close, with what the
    /// operator can do (logged at info level, shown in plans and reports).
    pub host_limits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    pub source: Source,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RlimitPlan {
    pub name: &'static str,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
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
                blockers.push(Finding::new(
                    "landlock",
                    format!("{path}: {why} (landlock.compatibility is hard_requirement)"),
                ));
            } else {
                dropped.push(Finding::new(
                    format!("filesystem rule for {path} skipped"),
                    why,
                ));
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
                    Finding::new(
                        "landlock",
                        format!("filesystem isolation required but the kernel provides {have}"),
                    )
                    .with_hint(format!(
                        "{}, or {how} to run without it",
                        no_landlock_hint(&host.landlock)
                    )),
                );
            } else {
                dropped.insert(
                    0,
                    Finding::new(
                        "filesystem not enforced",
                        format!(
                            "the kernel provides {have}; no Landlock filesystem, TCP or IPC-scope rule applies"
                        ),
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
            blockers.push(
                Finding::new(
                    "landlock",
                    format!(
                        "the policy requires {what} (ABI {need}) but the kernel provides {have}"
                    ),
                )
                .with_hint(format!(
                    "run on Linux >= {}, or {other_fix}",
                    linux_for_abi(need)
                )),
            );
        } else if kernel_abi >= 1 {
            let consequence = if what == UNIX_SOCKETS {
                "; the workload can connect to any pathname unix socket its file modes allow"
            } else {
                ""
            };
            dropped.push(Finding::new(
                "not enforced",
                format!(
                    "{what} (needs Landlock ABI {need}, the kernel provides {have}){consequence}"
                ),
            ));
        }
    }
    if kernel_abi == 0 {
        // One line says it: no per-path noise when nothing can be enforced.
        dropped.retain(|d| !d.object.starts_with("filesystem rule"));
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
    let mut devices = crate::cdi::grants::devices_plan(policy, &opts.devices, &opts.cdi_dirs, host);
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
        blockers.push(
            Finding::new(
                "cdi",
                format!(
                    "device {d:?} requested by NVIDIA_VISIBLE_DEVICES is not allowed (the flags and the policy name: {})",
                    bound.join(", ")
                ),
            )
            .with_hint("NVIDIA_VISIBLE_DEVICES may narrow the devices the policy names, never add to them: add it to devices.cdi.devices or drop it from the variable"),
        );
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
        match blockers.iter().position(|x| {
            x.object == "landlock" && x.cause.starts_with("the policy requires ioctl control")
        }) {
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
            k.sort();
            k.dedup();
            k
        })
        .unwrap_or_default();
    let mask = keep
        .iter()
        .filter_map(|n| validate::capability_index(n))
        .fold(0u64, |m, i| m | (1u64 << i));
    let sc = policy.seccomp.clone().unwrap_or_default();
    let (capabilities, cap_blockers) =
        crate::capabilities::plan(keep, mask, &sc.allow, identity.switch, &host.caps);
    blockers.extend(cap_blockers);
    dropped.extend(capabilities.acknowledged_bypasses.iter().map(|b| {
        Finding::new(
            "not enforced",
            format!("kept capability {b} (capabilities.bypass_acknowledged)"),
        )
    }));
    let listen_allowed = listen || sc.allow.iter().any(|n| n == "listen");
    let arches: &[seccomp::Arch] = if opts.native_only {
        &[seccomp::Arch::native()]
    } else {
        &seccomp::Arch::ALL
    };
    let seccomp = match seccomp::plan_for(
        &seccomp::SeccompConfig {
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
        },
        arches,
    ) {
        Ok(p) => Some(p),
        Err(e) => {
            blockers.push(Finding::new("seccomp", e.to_string()));
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
        dropped.push(Finding::new(
            "not enforced",
            format!(
                "listen() on an unbound TCP socket takes an ephemeral port without a Landlock bind check ({why})"
            ),
        ));
    }
    if sc.log {
        dropped.push(Finding::new(
            "seccomp",
            "log mode: denied syscalls are logged, not refused (seccomp.log: true)",
        ));
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
fn never_writable_blocker(path: &str, origin: RuleOrigin, host: &HostFacts) -> Option<Finding> {
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
        RuleOrigin::Workdir => Finding::new(
            "workdir",
            format!("{what} would become a read-write rule, and {canonical} is never writable"),
        )
        .with_hint(
            "use a working directory of its own, or set filesystem_policy.include_workdir: false",
        ),
        _ => Finding::new(
            "filesystem_policy.read_write",
            format!(
                "{what} is never writable: a read-write rule there hands the workload the system"
            ),
        )
        .with_hint(format!(
            "grant a directory of its own, or list {canonical} under read_only"
        )),
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

fn limit(v: RlimitValue) -> Option<u64> {
    match v {
        RlimitValue::Limited(n) => Some(n),
        RlimitValue::Unlimited => None,
    }
}
