//! Landlock: the filesystem, TCP and IPC-scope boundary.
//!
//! [`plan`] decides, from the policy and the host facts, the rules, the
//! features required and enforced, the TCP ports and what is dropped; CDI
//! device rules join them through [`add_rules`].
//!
//! Applying is two steps, split around the identity switch (see
//! `apply.rs`):
//!
//! - [`prepare`] (step 2, as root): build a ruleset at the plan's ABI (the
//!   highest both the kernel and this build know), open every rule's path
//!   with `O_PATH|O_CLOEXEC` — so a root-only directory can still be
//!   granted — one component at a time through `safepath`, so a link the
//!   workload could have planted is never followed, and check the opened
//!   object is the one the plan saw (and never `/` or a system tree for a
//!   read-write rule); then add the rules. What a rule grants depends on what the
//!   opened fd is (`fstat`), not on what the path looked like when planned:
//!   a file, device or socket gets file rights only (execute, read_file,
//!   write_file, truncate, ioctl_dev, resolve_unix).
//! - [`restrict`] (step 10, after no_new_privs): `landlock_restrict_self`,
//!   then check what the kernel says it enforces.
//!
//! Rights. `read_only` grants execute, read_file and read_dir. `read_write`
//! grants every filesystem right of the ABI, `refer`, `truncate`,
//! `ioctl_dev` and `resolve_unix` included. `resolve_unix` (ABI 9, connect
//! to a named unix socket) follows `read_write` on purpose: connecting to a
//! socket needs write permission on it in the classic permission model too,
//! so a read-only grant of `/run` does not let a workload talk to a daemon
//! listening there.
//!
//! Compatibility. Every feature is requested at the level the plan decided:
//! a required feature (`plan.filesystem.required`) at `HardRequirement` —
//! the kernel lacking it is a 125 — and every other one at `BestEffort`.
//! Rules themselves are always best effort: a right the kernel cannot
//! grant is also a right it does not handle, so dropping it from a rule
//! never widens access. After `restrict_self` the ruleset status must be
//! "fully enforced"; anything less is either explained by a lower ABI than
//! planned for features the policy lets go (reported in words) or a 125.
//!
//! TCP (ABI 4): connect and bind are always handled when the ABI has them;
//! only the ports in `plan.network` are granted, so a policy without network
//! gets none. UDP rights (ABI 10) are not handled: the policy has no UDP
//! rules, and socket families are seccomp's job.
//!
//! Audit (ABI 7): when the plan says `log_denials`, `restrict_self` gets
//! `LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON` (the crate's `log_new_exec`),
//! since the workload's denials all happen after the exec and are otherwise
//! not logged.
//!
//! Fileless exec: Landlock never checks inodes of kernel-internal mounts,
//! and a memfd lives on one, so execute rights do not stop a workload from
//! exec'ing a memfd through `/proc/self/fd/N` (checked on Linux 6.18). That
//! needs a non-executable memfd (`kernel.memfd_noexec=2`, pid-namespace
//! wide) or seccomp (`execveat` with `AT_EMPTY_PATH`).
//!
//! No Landlock at all: [`plan`] already turned a required filesystem into a
//! blocker and a tolerated one into a "filesystem not enforced" line; this
//! module then builds nothing and its [`Status`] says so.

use landlock::{
    AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort,
    RestrictionStatus, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetError,
    RulesetStatus, Scope,
};
use serde::Serialize;
use std::collections::BTreeSet;
use std::os::fd::AsFd as _;

use crate::error::{Error, Finding, Result};
use crate::log;
use crate::policy::model::{Compatibility, Policy};
use crate::policy::paths;
use crate::probe::{HostFacts, LandlockSupport};
use crate::safepath::PathKind;
use crate::safepath::{self, Resolved};

/// Highest Landlock ABI this build knows how to use.
pub const LANDLOCK_ABI_KNOWN: u32 = 10;

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
    /// `(st_dev, st_ino)` found while planning: apply adds the rule on the
    /// descriptor the plan resolved (`safepath::Held`), or opens the path
    /// again and refuses a different object.
    #[serde(skip)]
    pub inode: Option<(u64, u64)>,
    /// Whether that object is on a kernel interface filesystem, where the
    /// plan asked (of paths it would make writable): apply then needs not
    /// ask again of the descriptor the plan still holds.
    #[serde(skip)]
    pub kernel_fs: Option<bool>,
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
    /// Other mounts of the read-write paths (`HostFacts::writable_aliases`):
    /// as writable to the workload, so in [`FilesystemPlan::trust`].
    #[serde(skip)]
    pub writable_aliases: Vec<String>,
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
        writable.extend(self.writable_aliases.iter().cloned());
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
    /// bind, each list sorted and each port once. Everything else is
    /// denied when enforced.
    pub connect_tcp: Vec<u16>,
    pub bind_tcp: Vec<u16>,
    pub tcp_enforced: bool,
    /// What the policy says that only an OpenShell network proxy enforces.
    pub proxy_only: Vec<String>,
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

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

/// The Landlock part of the plan, with its findings in the order the plan
/// lists them.
pub struct Planned {
    pub filesystem: FilesystemPlan,
    pub network: NetworkPlan,
    pub blockers: Vec<Finding>,
    pub dropped: Vec<Finding>,
    /// Read-only rules that are writable all the same (see `widened_lines`).
    pub widened: Vec<String>,
}

/// A feature the policy uses is required when `landlock.require` says so,
/// or, where it is silent, under `compatibility: hard_requirement`.
fn required(policy_req: Option<bool>, compat: Compatibility, used: bool) -> bool {
    used && policy_req.unwrap_or(compat == Compatibility::HardRequirement)
}

/// Plan Landlock for `policy` on this host: one rule per path the policy
/// and the working directory (`workdir`, already normalized) name, the
/// features required and enforced, the TCP ports and the IPC scopes.
/// `workload_uid`: the uid the workload runs as. Device rules come later,
/// through [`add_rules`]. Pure.
pub fn plan(
    policy: &Policy,
    workdir: Option<&str>,
    workload_uid: u32,
    host: &HostFacts,
) -> Planned {
    let mut dropped = Vec::new();
    let mut blockers = Vec::new();
    let mut widened = Vec::new();

    let ll = policy.landlock.clone().unwrap_or_default();
    let compat = ll.compatibility;
    let kernel_abi = host.landlock.abi();
    let abi = kernel_abi.min(LANDLOCK_ABI_KNOWN);

    // ---- filesystem rules ----
    // Borrowed: a copy of the policy's lists was one allocation a path.
    let fs = policy.filesystem_policy.as_ref();
    let include_workdir = fs.is_none_or(|f| f.include_workdir);
    let mut wanted: Vec<(String, Access, RuleOrigin)> = Vec::with_capacity(
        fs.map_or(0, |f| {
            f.read_only.len() + f.read_write.len() + f.execute.as_ref().map_or(0, Vec::len)
        }) + 1,
    );
    if let Some(f) = fs {
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
        .and_then(|f| f.execute.as_ref())
        .map(|e| e.iter().map(|p| paths::normalize(p)).collect());
    let may_execute = |path: &str| {
        exec_only
            .as_ref()
            .is_none_or(|e| e.iter().any(|x| paths::is_within(path, x)))
    };
    if include_workdir {
        if let Some(w) = workdir {
            wanted.push((w.to_string(), Access::ReadWrite, RuleOrigin::Workdir));
        }
    }
    // One rule per path, in path order: read-write wins over read-only,
    // and of equal access the first listed is kept. A stable sort and one
    // pass over each run of a path: a `BTreeMap` keyed by the paths made
    // a dozen comparisons of long shared-prefix strings a path.
    crate::sort::sort_by(&mut wanted, |a, b| a.0.cmp(&b.0));
    let mut by_path: Vec<(String, (Access, RuleOrigin))> = Vec::with_capacity(wanted.len());
    for (p, a, o) in wanted {
        match by_path.last_mut() {
            Some((last, e)) if *last == p => {
                if a > e.0 {
                    *e = (a, o);
                }
            }
            _ => by_path.push((p, (a, o))),
        }
    }
    let mut rules = Vec::with_capacity(by_path.len());
    for (path, (access, origin)) in by_path {
        let mut kind = host.path_kind(&path);
        if access == Access::ReadWrite {
            if let Some(b) = never_writable_blocker(&path, origin, host)
                .or_else(|| kernel_mount_blocker(&path, origin, kind, host))
            {
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
            kernel_fs: None,
        });
    }
    let read_only = fs.map_or(&[][..], |f| f.read_only.as_slice());
    widened_lines(&rules, read_only, exec_only.as_deref(), host, &mut widened);

    // ---- network ----
    let net_ext = policy.network.clone().unwrap_or_default();
    let mut connect: BTreeSet<u16> = net_ext.connect_tcp.iter().copied().collect();
    let bind: BTreeSet<u16> = net_ext.bind_tcp.iter().copied().collect();
    let mut proxy_only = Vec::new();
    for (name, rule) in &policy.network_policies {
        let mut hosts = Vec::new();
        for (i, ep) in rule.endpoints.iter().enumerate() {
            // As in OpenShell, `ports` wins over `port`; say so rather than
            // let the policy read as if both were open.
            if ep.port != 0 && !ep.ports.is_empty() && !ep.ports.contains(&ep.port) {
                dropped.push(Finding::new(
                    format!("network_policies.{name}.endpoints[{i}].port"),
                    format!(
                        "{} is not opened: the endpoint also gives ports, which wins (as in OpenShell)",
                        ep.port
                    ),
                ));
            }
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
    annotate(&mut rules, host);

    Planned {
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
            writable_aliases: host.writable_aliases.clone(),
            workload_uid,
        },
        network: NetworkPlan {
            inet_sockets: inet,
            connect_tcp: connect.into_iter().collect(),
            bind_tcp: bind.into_iter().collect(),
            tcp_enforced,
            proxy_only,
        },
        blockers,
        dropped,
        widened,
    }
}

/// Add rules planned elsewhere (CDI device nodes) to `fs`.
pub fn add_rules(fs: &mut FilesystemPlan, mut rules: Vec<FsRule>, host: &HostFacts) {
    annotate(&mut rules, host);
    fs.rules.extend(rules);
}

/// Note in each rule the object its path resolved to while planning (the
/// inode apply checks, and the resolved path when it differs).
fn annotate(rules: &mut [FsRule], host: &HostFacts) {
    for r in rules {
        // /proc/self names whichever process opens it: the plan may be made
        // in the PID-1 parent and applied in its child.
        let per_process = ["/proc/self", "/proc/thread-self"]
            .iter()
            .any(|p| paths::is_within(&r.path, p));
        if per_process {
            continue;
        }
        if let Some(rp) = host.resolved.get(&r.path) {
            // A device node's own check names its object already.
            r.inode.get_or_insert((rp.dev, rp.ino));
            r.kernel_fs = rp.kernel_fs;
            if rp.path != r.path {
                r.resolved = Some(rp.path.clone());
            }
        }
    }
}

/// Put `device`, a blocker naming the device node that needs ioctl
/// control, in the place of the generic "the policy requires ioctl
/// control" blocker, or at the end when there is none.
pub fn name_device_ioctl(blockers: &mut Vec<Finding>, device: Finding) {
    match blockers.iter().position(|x| {
        x.object == "landlock" && x.cause.starts_with("the policy requires ioctl control")
    }) {
        Some(i) => blockers[i] = device,
        None => blockers.push(device),
    }
}

/// Gaps of this kernel or node that no policy can close, for
/// `plan.host_limits`. `inet`: the plan allows inet sockets.
pub fn host_limits(host: &HostFacts, inet: bool) -> Vec<String> {
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
    host_limits
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
    let resolved = host.resolved.get(path);
    let canonical = resolved.map_or(path, |r| r.path.as_str());
    crate::safepath::never_writable(canonical)
        || (canonical != path && crate::safepath::never_writable(path))
        || resolved.is_some_and(|r| {
            r.kernel_fs == Some(true) || host.never_writable.contains(&(r.dev, r.ino))
        })
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

/// A read-write or workdir rule on a directory with a kernel interface
/// filesystem (or the host's devtmpfs) mounted at or beneath it stops the
/// launch: Landlock's rights beneath a directory reach into every mount
/// below it, so such a rule would make that filesystem writable after all.
/// Beneath is judged by spelling (the mount point lies within the rule's
/// canonical path) and by inode (the rule's directory is one the mount
/// point lies beneath, reached through another mount of it, a bind). So
/// does a directory on one of those filesystems itself (the host's
/// devtmpfs: `statfs` cannot tell it from a tmpfs), and a mount table that
/// could not be read.
fn kernel_mount_blocker(
    path: &str,
    origin: RuleOrigin,
    kind: PathKind,
    host: &HostFacts,
) -> Option<Finding> {
    if kind != PathKind::Directory {
        return None;
    }
    let resolved = host.resolved.get(path);
    let canonical = resolved.map_or(path, |r| r.path.as_str());
    let mounts = &host.mounts;
    let inode = resolved.map(|r| (r.dev, r.ino));
    let beneath = mounts
        .forbidden()
        .find(|m| paths::is_within_bytes(&m.point, canonical.as_bytes()))
        .or_else(|| {
            let id = inode?;
            let (_, i) = mounts.above_forbidden.iter().find(|(d, _)| *d == id)?;
            mounts.all.get(*i)
        });
    // The mount the opened directory lies on, by its ID where the kernel
    // gives one (a mount hidden under a later one is then told apart), by
    // spelling otherwise.
    let on_kernel_fs = resolved
        .and_then(|r| r.mount_id)
        .map_or_else(|| mounts.holding(canonical), |id| mounts.by_id(id))
        .filter(|m| m.kernel_fs.is_some());
    if beneath.is_none() && on_kernel_fs.is_none() && host.mounts_unknown.is_none() {
        return None;
    }
    let what = if canonical == path {
        path.to_string()
    } else {
        format!("{path} (resolves to {canonical})")
    };
    let object = match origin {
        RuleOrigin::Workdir => "workdir",
        _ => "filesystem_policy.read_write",
    };
    if let Some(m) = beneath {
        let hint = match origin {
            RuleOrigin::Workdir => "use a working directory without such a mount beneath it, or set filesystem_policy.include_workdir: false".to_string(),
            _ => format!(
                "grant the directories beside {} instead, or mount it elsewhere",
                m.shown()
            ),
        };
        return Some(
            Finding::new(
                object,
                match m.exposes.as_deref().filter(|_| m.kernel_fs.is_none()) {
                    Some(tree) => format!(
                        "{what} has {tree} mounted again at {} beneath it: a read-write rule reaches into every mount below it, and {tree} is never writable",
                        m.shown()
                    ),
                    None => format!(
                        "{what} has {} mounted at {} beneath it: a read-write rule reaches into every mount below it, and a kernel filesystem is never writable",
                        m.kernel_fs.unwrap_or("a kernel filesystem"),
                        m.shown()
                    ),
                },
            )
            .with_hint(hint),
        );
    }
    if let Some(m) = on_kernel_fs {
        let finding = match m.kernel_fs {
            Some("devtmpfs") => Finding::new(
                object,
                format!(
                    "{what} is on the host's devtmpfs (mounted at {}): a read-write directory there would make its device nodes writable",
                    m.shown()
                ),
            )
            .with_hint("grant the device files themselves, or expose devices through CDI"),
            fs => Finding::new(
                object,
                format!(
                    "{what} is on {} (mounted at {}): a kernel filesystem is never writable",
                    fs.unwrap_or("a kernel filesystem"),
                    m.shown()
                ),
            )
            .with_hint(format!("list {canonical} under read_only")),
        };
        return Some(finding);
    }
    let why = host.mounts_unknown.as_deref().unwrap_or_default();
    Some(
        Finding::new(
            object,
            format!("{what}: whether a kernel filesystem is mounted beneath it is unknown: {why}"),
        )
        .with_hint(
            "the mount table (/proc/self/mountinfo) must be readable and every directory above a kernel filesystem mount reachable; or list the path under read_only",
        ),
    )
}

/// A `read_only` rule beneath a `read_write` one is writable all the same:
/// Landlock rights beneath a path add up. Say so instead of letting the
/// policy read as if it narrowed access. The same for W^X: a `read_write`
/// path at or beneath an `execute` one, or an `execute` path beneath a
/// `read_write` one, lets the workload run what it wrote there.
fn widened_lines<'a>(
    rules: &'a [FsRule],
    // As the policy spells them: normalized only in the rare case asked.
    read_only: &[String],
    execute: Option<&'a [String]>,
    host: &'a HostFacts,
    out: &mut Vec<String>,
) {
    // Compared where the paths lead (a trusted link such as /lib ->
    // usr/lib, /var/run -> /run), and looked up by each path's ancestors:
    // a policy may list hundreds.
    let canon = |p: &'a str| -> &'a str { resolved_path(p, host) };
    let shown = |p: &str| -> String {
        match resolved_path(p, host) {
            c if c == p => p.to_string(),
            c => format!("{p} (resolves to {c})"),
        }
    };
    // An ancestor is looked up only when some key has its length (a bit
    // per length, modulo 64): most ancestors of most paths are not keys.
    let lengths = |set: &crate::sort::FastMap<&str, &str>| {
        set.keys().fold(0u64, |m, k| m | 1 << (k.len() % 64))
    };
    let shallowest =
        |set: &crate::sort::FastMap<&str, &'a str>, lens: u64, p: &'a str| -> Option<&'a str> {
            paths::ancestors(canon(p))
                .filter(|a| lens & 1 << (a.len() % 64) != 0)
                .filter_map(|a| set.get(a).copied())
                .last()
        };
    // Sized up front: collected through a filter, the map grew by
    // doubling, hashing every key again each time.
    let mut rw: crate::sort::FastMap<&str, &str> =
        crate::sort::FastMap::with_capacity_and_hasher(rules.len(), Default::default());
    rw.extend(
        rules
            .iter()
            .filter(|w| w.access == Access::ReadWrite && w.present)
            .map(|w| (canon(&w.path), w.path.as_str())),
    );
    let rw_lens = lengths(&rw);
    for ro in rules.iter().filter(|r| r.access == Access::ReadOnly) {
        if let Some(w) = shallowest(&rw, rw_lens, &ro.path) {
            let exec_only = !read_only.iter().any(|p| paths::normalize(p) == ro.path)
                && execute.is_some_and(|e| e.contains(&ro.path));
            out.push(if exec_only {
                format!(
                    "filesystem: execute {} lies beneath read_write {}, so programs written there can run (W^X does not hold there)",
                    shown(&ro.path),
                    shown(w)
                )
            } else {
                format!(
                    "filesystem: read_only {} lies beneath read_write {}, so it is writable too (Landlock rights beneath a path add up)",
                    shown(&ro.path),
                    shown(w)
                )
            });
        }
    }
    let Some(execute) = execute else { return };
    let exec: crate::sort::FastMap<&str, &str> =
        execute.iter().map(|x| (canon(x), x.as_str())).collect();
    let exec_lens = lengths(&exec);
    for w in rules
        .iter()
        .filter(|w| w.access == Access::ReadWrite && w.present)
    {
        if let Some(x) = shallowest(&exec, exec_lens, &w.path) {
            out.push(format!(
                "filesystem: read_write {} lies at or beneath execute {}, so programs written there can run (W^X does not hold there)",
                shown(&w.path),
                shown(x)
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
/// The ruleset, built as root before the identity switch.
pub struct Prepared {
    ruleset: Option<RulesetCreated>,
    path_rules: usize,
    port_rules: usize,
    /// Rules the plan listed that could not be added now (best_effort).
    skipped: Vec<String>,
}

/// How much of the ruleset the plan asked for the kernel enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    FullyEnforced,
    PartiallyEnforced,
    NotEnforced,
}

/// What the kernel enforces after restrict_self (for `--report`).
#[derive(Debug, Serialize)]
pub struct Status {
    /// ABI the ruleset was built for (0: no Landlock).
    pub abi: u32,
    /// What the kernel reported for Landlock.
    pub kernel: LandlockSupport,
    pub ruleset: Enforcement,
    /// Path rules and TCP port rules added to the ruleset.
    pub path_rules: usize,
    pub port_rules: usize,
    pub scopes: Vec<&'static str>,
    /// The kernel logs the workload's denials (audit).
    pub log_denials: bool,
    /// Everything of the policy's Landlock part that is not enforced, in
    /// words. Empty under full enforcement.
    pub not_enforced: Vec<String>,
}

/// The crate's flag for a right named in the plan: its bit is its place
/// in [`FS_RIGHTS`], which is in the kernel's order (the tests hold it to
/// the crate's names). A search of the table, not a `match` of the
/// seventeen names, which compiled to half a kilobyte.
fn access_fs(name: &str) -> Option<BitFlags<AccessFs>> {
    let i = FS_RIGHTS.iter().position(|(n, _, _)| *n == name)?;
    BitFlags::from_bits(1 << i).ok()
}

fn rights<'a>(names: impl IntoIterator<Item = &'a &'static str>) -> Result<BitFlags<AccessFs>> {
    let mut out = BitFlags::EMPTY;
    for n in names {
        match access_fs(n) {
            Some(a) => out |= a,
            None => {
                return Err(Error::Internal(format!(
                    "landlock: unknown filesystem right {n:?} in the plan"
                )));
            }
        }
    }
    Ok(out)
}

fn level(required: bool) -> CompatLevel {
    if required {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    }
}

/// A required feature the kernel refused, or a ruleset call that failed.
fn feature_error(what: &str, e: &RulesetError) -> Error {
    Error::apply(
        "landlock",
        format!("{what} required but not supported by the kernel: {e}"),
    )
    .with_hint("run on a newer kernel, or relax landlock.require / landlock.compatibility")
}

fn call_error(what: &str, e: &RulesetError) -> Error {
    Error::apply("landlock", format!("{what} failed: {e}"))
}

/// The rights of [`FS_RIGHTS`] that apply to files, as flags (the table
/// is in the kernel's bit order).
fn file_access() -> BitFlags<AccessFs> {
    let bits = FS_RIGHTS
        .iter()
        .enumerate()
        .filter(|&(_, &(_, since, file_ok))| file_ok && since <= LANDLOCK_ABI_KNOWN)
        .fold(0u64, |m, (i, _)| m | 1 << i);
    BitFlags::from_bits_truncate(bits)
}

/// The flags of a rule's rights, narrowed to what applies to `kind`: what
/// [`rule_rights`] narrows, without a list for each rule.
fn rule_access(names: &[&'static str], kind: PathKind) -> Result<BitFlags<AccessFs>> {
    let all = rights(names)?;
    Ok(if kind == PathKind::Directory {
        all
    } else {
        all & file_access()
    })
}

/// The plan's rights for a rule, narrowed to what applies to `kind`.
#[cfg(test)]
fn rule_rights(rule_rights: &[&'static str], kind: PathKind) -> Vec<&'static str> {
    if kind == PathKind::Directory {
        return rule_rights.to_vec();
    }
    let file_rights = fs_rights(LANDLOCK_ABI_KNOWN, Access::ReadWrite, PathKind::File, true);
    rule_rights
        .iter()
        .copied()
        .filter(|r| file_rights.contains(r))
        .collect()
}

/// Step 2: open the paths and build the ruleset, as root.
pub fn prepare(
    fsp: &FilesystemPlan,
    net: &NetworkPlan,
    held: Option<&safepath::Held>,
) -> Result<Prepared> {
    let mut prepared = Prepared {
        ruleset: None,
        path_rules: 0,
        port_rules: 0,
        skipped: Vec::new(),
    };
    if fsp.abi == 0 {
        if fsp.required.filesystem {
            // The plan blocks this before apply; never run without it.
            return Err(Error::apply(
                "landlock",
                format!(
                    "filesystem isolation required but the kernel provides {}",
                    fsp.kernel.describe()
                ),
            ));
        }
        return Ok(prepared);
    }

    // Handled rights, per feature: truncate and ioctl_dev have their own
    // minimums, everything else is "filesystem".
    let handled = rights(&fsp.handled)?;
    let truncate = handled & AccessFs::Truncate;
    let ioctl = handled & AccessFs::IoctlDev;
    let base = handled & !(truncate | ioctl);
    let mut rs = Ruleset::default()
        .set_compatibility(level(fsp.required.filesystem))
        .handle_access(base)
        .map_err(|e| feature_error("filesystem access control", &e))?;
    if !truncate.is_empty() {
        rs = rs
            .set_compatibility(level(fsp.required.truncate))
            .handle_access(truncate)
            .map_err(|e| feature_error("truncate control", &e))?;
    }
    if !ioctl.is_empty() {
        rs = rs
            .set_compatibility(level(fsp.required.ioctl_dev))
            .handle_access(ioctl)
            .map_err(|e| feature_error("ioctl control on device files", &e))?;
    }
    if fsp.enforced.network {
        rs = rs
            .set_compatibility(level(fsp.required.network))
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|e| feature_error("TCP bind/connect rules", &e))?;
    }
    let mut scopes = BitFlags::<Scope>::EMPTY;
    for s in &fsp.scopes {
        scopes |= match *s {
            "abstract_unix_socket" => Scope::AbstractUnixSocket,
            "signal" => Scope::Signal,
            other => {
                return Err(Error::Internal(format!(
                    "landlock: unknown scope {other:?} in the plan"
                )));
            }
        };
    }
    if !scopes.is_empty() {
        rs = rs
            .set_compatibility(level(fsp.required.scopes))
            .scope(scopes)
            .map_err(|e| feature_error("IPC scoping", &e))?;
    }
    let mut rs = rs
        .create()
        .map_err(|e| call_error("creating the ruleset", &e))?
        .set_compatibility(CompatLevel::BestEffort);

    // Path rules go in by `landlock_add_rule` directly (see `add_path_rule`),
    // on a duplicate of the ruleset's descriptor, closed when they are in.
    let rules_fd = Option::<std::os::fd::OwnedFd>::from(rs.try_clone().map_err(|e| {
        Error::apply(
            "landlock",
            format!(
                "duplicating the ruleset descriptor failed: {}",
                crate::error::io_cause(&e)
            ),
        )
    })?)
    .ok_or_else(|| Error::Internal("landlock: the ruleset has no descriptor".into()))?;
    let trust = fsp.trust();
    let mut walker = safepath::Walker::new(&trust);
    for rule in &fsp.rules {
        if !rule.present {
            // Already reported by the plan (and a blocker if required).
            continue;
        }
        // The object the plan resolved, still open: the same object by
        // construction. Rules without one (per-process paths, device nodes, past
        // the budget) are resolved again and checked against the plan. So
        // is anything that resolved into /proc: a link to /proc/self (such
        // as /dev/fd) named the planning process there, which in init mode
        // is the parent, not the child that applies the rules.
        let in_proc = paths::is_within(rule.resolved.as_deref().unwrap_or(&rule.path), "/proc");
        // A device node's rule is on the object its own check saw, which
        // the policy's rule of that path may not have been: opened again.
        // A device's mount path was found by the walk the policy's paths
        // take (and held by it), so its rule takes what is held.
        let kept = held
            .and_then(|h| h.get(&rule.path))
            .filter(|_| rule.inode.is_some() && !in_proc && rule.access != Access::Device);
        let added = match kept {
            Some(fd) => held_rule(rule, fd, fsp)
                .map(|()| add_path_rule(rules_fd.as_fd(), handled, rule, rule.kind, fd)),
            None => open_rule(rule, &mut walker, fsp)
                .map(|r| add_path_rule(rules_fd.as_fd(), handled, rule, r.kind, r.fd)),
        };
        match added {
            Ok(n) => prepared.path_rules += n?,
            Err(why) => skip_or_fail(fsp, &rule.path, &why, &mut prepared.skipped)?,
        }
    }

    drop(rules_fd);

    if fsp.enforced.network {
        let mut ports: Vec<u16> = net.connect_tcp.clone();
        ports.extend(&net.bind_tcp);
        crate::sort::sort_dedup(&mut ports);
        for port in ports {
            let mut access = BitFlags::<AccessNet>::EMPTY;
            // Both lists are sorted (the plan builds them from sets).
            if net.connect_tcp.binary_search(&port).is_ok() {
                access |= AccessNet::ConnectTcp;
            }
            if net.bind_tcp.binary_search(&port).is_ok() {
                access |= AccessNet::BindTcp;
            }
            rs = rs
                .add_rule(NetPort::new(port, access))
                .map_err(|e| call_error(&format!("adding the rule for TCP port {port}"), &e))?;
            prepared.port_rules += 1;
        }
    }

    if fsp.log_denials {
        rs = rs
            .log_new_exec(true)
            .map_err(|e| call_error("enabling denial logging", &e))?;
    }
    prepared.ruleset = Some(rs);
    Ok(prepared)
}

/// Adds `rule` on `fd` (what its path resolved to, of `kind`) to the
/// ruleset `ruleset` refers to: the number of rules added, none when the
/// rule grants nothing there.
///
/// By `landlock_add_rule` itself rather than the crate's `add_rule`, which
/// would `fstat` the descriptor again to narrow a directory's rights on a
/// file: `rule_access` has narrowed them already, from the kind the walk
/// saw on this same descriptor. The rights are also kept within the
/// handled set, as the kernel requires; anything else it refuses
/// (`EINVAL`) fails the rule, never widens it.
fn add_path_rule(
    ruleset: std::os::fd::BorrowedFd<'_>,
    handled: BitFlags<AccessFs>,
    rule: &FsRule,
    kind: PathKind,
    fd: impl std::os::fd::AsFd,
) -> Result<usize> {
    let access = rule_access(&rule.rights, kind)? & handled;
    if access.is_empty() {
        return Ok(0);
    }
    crate::sys::landlock_add_path_rule(ruleset, fd.as_fd(), access.bits()).map_err(|errno| {
        Error::apply(
            "landlock",
            format!(
                "adding the rule for {} failed: {}",
                rule.path,
                crate::error::io_cause(&std::io::Error::from_raw_os_error(errno))
            ),
        )
    })?;
    Ok(1)
}

/// The checks of [`open_rule`] for a path the plan still holds open:
/// a read-write rule is never on `/`, a system tree or a kernel
/// filesystem. The plan asked the filesystem of this same descriptor for
/// a path it makes writable; only a rule it did not ask for is asked here.
fn held_rule(
    rule: &FsRule,
    fd: std::os::fd::BorrowedFd<'_>,
    fsp: &FilesystemPlan,
) -> std::result::Result<(), String> {
    let path = rule.resolved.as_deref().unwrap_or(&rule.path);
    let refused = rule.access == Access::ReadWrite
        && (rule.inode.is_some_and(|i| fsp.never_writable.contains(&i))
            || safepath::NEVER_WRITABLE.contains(&path)
            || (rule.origin != RuleOrigin::Device
                && (safepath::never_writable(path)
                    || rule
                        .kernel_fs
                        .unwrap_or_else(|| safepath::on_kernel_fs(fd).unwrap_or(true)))));
    if refused {
        return Err(format!("{path} is never writable"));
    }
    Ok(())
}

/// Open a rule's path as planned: resolved without following a link the
/// workload could have planted, the same object the plan saw, and never
/// `/` or a system tree for a read-write rule.
fn open_rule(
    rule: &FsRule,
    walker: &mut safepath::Walker<'_>,
    fsp: &FilesystemPlan,
) -> std::result::Result<Resolved, String> {
    // A device node's name is never followed: a link there (made by the
    // spec's own hooks, run as root since the plan) is not the node the
    // plan checked or the fallback created.
    let r = if rule.access == Access::Device {
        walker.open_node(&rule.path)
    } else {
        walker.open(&rule.path)
    }
    .map_err(|e| e.cause())?;
    let inode = (r.dev, r.ino);
    if rule.inode.is_some_and(|planned| planned != inode)
        || (rule.access == Access::Device && r.kind != rule.kind)
    {
        return Err(format!(
            "{} changed between the plan and its enforcement",
            r.path
        ));
    }
    // The CDI fallback's own rule (`/proc/self/task`, for the driver's
    // thread names) is the one writable path beneath `/proc`; the policy's
    // rules and the workdir never are.
    // Asked of read-write rules only (the filesystem type is one more
    // syscall per path).
    let beneath = || {
        rule.origin != RuleOrigin::Device
            && (safepath::never_writable(&r.path) || safepath::on_kernel_fs(&r.fd).unwrap_or(true))
    };
    if rule.access == Access::ReadWrite
        && (fsp.never_writable.contains(&inode)
            || safepath::NEVER_WRITABLE.contains(&r.path.as_str())
            || beneath())
    {
        return Err(format!("{} is never writable", r.path));
    }
    Ok(r)
}

/// A rule whose path cannot be opened now: skipped with a warning under
/// best_effort, a 125 under hard_requirement.
fn skip_or_fail(
    fsp: &FilesystemPlan,
    path: &str,
    why: &str,
    skipped: &mut Vec<String>,
) -> Result<()> {
    if fsp.compatibility == Compatibility::HardRequirement {
        return Err(Error::apply(
            "landlock",
            format!("{path}: {why} (landlock.compatibility is hard_requirement)"),
        ));
    }
    let line = format!("filesystem rule for {path} skipped: {why}");
    log::warn_with(
        &line,
        vec![
            ("kind", "dropped".into()),
            ("object", "landlock".into()),
            ("path", path.into()),
            ("cause", why.into()),
        ],
    );
    skipped.push(line);
    Ok(())
}

/// Lines of `plan.dropped` that are about Landlock.
fn is_landlock_drop(d: &str) -> bool {
    d.starts_with("filesystem ") || d.starts_with("not enforced: ")
}

/// Features the policy uses that need more than `have`, up to `planned`.
fn lost_features(fsp: &FilesystemPlan, have: u32) -> Vec<String> {
    let uses_device = fsp.rules.iter().any(|r| r.access != Access::ReadOnly);
    let features: [(u32, bool, &str); 8] = [
        (1, true, "filesystem access control"),
        (2, true, "rename/link control across directories (refer)"),
        (3, true, "truncate control"),
        (4, fsp.enforced.network, "TCP bind/connect rules"),
        (5, uses_device, "ioctl control on device files"),
        (
            6,
            !fsp.scopes.is_empty(),
            "IPC scoping (abstract unix sockets, signals)",
        ),
        (7, fsp.log_denials, "denial logging"),
        (9, true, "named unix socket control (resolve_unix)"),
    ];
    features
        .iter()
        .filter(|(need, used, _)| *used && *need > have && *need <= fsp.abi)
        .map(|(need, _, what)| {
            format!(
                "not enforced: {what} (needs Landlock ABI {need}, the kernel enforces ABI {have})"
            )
        })
        .collect()
}

fn effective_abi(st: &RestrictionStatus) -> u32 {
    match st.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as u32,
        _ => 0,
    }
}

/// Step 10: enforce the ruleset on this process (no_new_privs is already
/// set) and check the kernel enforces what the plan says.
pub fn restrict(p: Prepared, fsp: &FilesystemPlan, dropped: &[Finding]) -> Result<Status> {
    let mut not_enforced: Vec<String> = dropped
        .iter()
        .map(ToString::to_string)
        .filter(|d| is_landlock_drop(d))
        .collect();
    not_enforced.extend(p.skipped);
    let mut status = Status {
        abi: fsp.abi,
        kernel: fsp.kernel.clone(),
        ruleset: Enforcement::NotEnforced,
        path_rules: p.path_rules,
        port_rules: p.port_rules,
        scopes: Vec::new(),
        log_denials: false,
        not_enforced,
    };
    let Some(rs) = p.ruleset else {
        // No Landlock: the plan's "filesystem not enforced" line (logged at
        // launch) says so; the status carries it for --report.
        return Ok(status);
    };
    let st = rs
        .restrict_self()
        .map_err(|e| call_error("landlock_restrict_self", &e))?;
    status.log_denials = st.log_new_exec;
    match st.ruleset {
        RulesetStatus::FullyEnforced => {
            status.ruleset = Enforcement::FullyEnforced;
        }
        RulesetStatus::PartiallyEnforced | RulesetStatus::NotEnforced => {
            // Required features were requested as hard requirements, so
            // the kernel refusing one of them already failed above. What
            // is left must be explained by a lower ABI than planned.
            let have = effective_abi(&st);
            let lost = if have == 0 {
                vec![format!(
                    "filesystem not enforced: the kernel no longer provides Landlock (planned for ABI {})",
                    fsp.abi
                )]
            } else {
                lost_features(fsp, have)
            };
            if lost.is_empty() {
                return Err(Error::apply(
                    "landlock",
                    format!(
                        "the kernel enforces the ruleset only partially (ABI {have}, planned {})",
                        fsp.abi
                    ),
                ));
            }
            for l in &lost {
                log::warn_with(
                    l,
                    vec![
                        ("kind", "not_enforced".into()),
                        ("object", "landlock".into()),
                        ("abi", have.into()),
                        ("planned_abi", fsp.abi.into()),
                    ],
                );
            }
            status.not_enforced.extend(lost);
            status.ruleset = if st.ruleset == RulesetStatus::NotEnforced {
                Enforcement::NotEnforced
            } else {
                Enforcement::PartiallyEnforced
            };
        }
    }
    if status.ruleset != Enforcement::NotEnforced {
        status.scopes = fsp.scopes.clone();
    }
    if fsp.log_denials && !status.log_denials {
        let l =
            "not enforced: denial logging (the kernel did not accept the audit flag)".to_string();
        log::warn_with(
            &l,
            vec![
                ("kind", "not_enforced".into()),
                ("object", "landlock".into()),
            ],
        );
        status.not_enforced.push(l);
    }
    log::info_with(&summary(&status), summary_fields(&status));
    Ok(status)
}

/// One line for the log: what Landlock enforces.
fn summary(s: &Status) -> String {
    let how = match s.ruleset {
        Enforcement::FullyEnforced => "fully enforced",
        Enforcement::PartiallyEnforced => "partially enforced",
        Enforcement::NotEnforced => "not enforced",
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut line = format!(
        "landlock: {how} (ABI {}): {} path rule{}, {} TCP port rule{}",
        s.abi,
        s.path_rules,
        plural(s.path_rules),
        s.port_rules,
        plural(s.port_rules)
    );
    // "Fully enforced" is the kernel's word for the ruleset as built; a
    // policy path skipped under best_effort is not in it, so say so here
    // too, not only in its own warning.
    let skipped = s
        .not_enforced
        .iter()
        .filter(|l| l.starts_with("filesystem rule for "))
        .count();
    if skipped > 0 {
        line.push_str(&format!(
            ", {skipped} policy path{} skipped (see the warnings)",
            plural(skipped)
        ));
    }
    if !s.scopes.is_empty() {
        line.push_str(&format!(", scoped: {}", s.scopes.join(", ")));
    }
    if s.log_denials {
        line.push_str(", denials logged");
    }
    line
}

/// The figures [`summary`] quotes, for a JSON log line.
fn summary_fields(s: &Status) -> log::Fields {
    vec![
        ("object", "landlock".into()),
        (
            "ruleset",
            serde_json::to_value(s.ruleset).unwrap_or_default(),
        ),
        ("abi", s.abi.into()),
        ("path_rules", s.path_rules.into()),
        ("port_rules", s.port_rules.into()),
        ("scopes", s.scopes.clone().into()),
        ("log_denials", s.log_denials.into()),
        ("not_enforced", s.not_enforced.len().into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use landlock::{ABI, Access as _};

    fn abi(n: u32) -> ABI {
        ABI::from(i32::try_from(n).unwrap())
    }

    #[test]
    fn plan_rights_match_the_crate_for_every_abi() {
        for n in 1..=LANDLOCK_ABI_KNOWN {
            let handled = rights(&handled_rights(n)).unwrap();
            assert_eq!(handled, AccessFs::from_all(abi(n)), "handled, ABI {n}");
            let rw_dir = fs_rights(n, Access::ReadWrite, PathKind::Directory, true);
            assert_eq!(
                rights(&rw_dir).unwrap(),
                AccessFs::from_all(abi(n)),
                "rw dir, ABI {n}"
            );
            let rw_file = fs_rights(n, Access::ReadWrite, PathKind::File, true);
            assert_eq!(
                rights(&rw_file).unwrap(),
                AccessFs::from_file(abi(n)),
                "rw file, ABI {n}"
            );
            let ro = fs_rights(n, Access::ReadOnly, PathKind::Directory, true);
            assert_eq!(
                rights(&ro).unwrap(),
                AccessFs::from_read(abi(n)),
                "ro, ABI {n}"
            );
        }
    }

    #[test]
    fn non_directories_get_file_rights_only() {
        let rw_dir = fs_rights(7, Access::ReadWrite, PathKind::Directory, true);
        for kind in [
            PathKind::File,
            PathKind::CharDevice,
            PathKind::Socket,
            PathKind::Fifo,
        ] {
            assert_eq!(
                rule_rights(&rw_dir, kind),
                [
                    "execute",
                    "write_file",
                    "read_file",
                    "truncate",
                    "ioctl_dev"
                ],
                "{kind:?}"
            );
        }
        assert_eq!(rule_rights(&rw_dir, PathKind::Directory), rw_dir);
    }

    /// The crate's flag for each right, by name: the reference for the
    /// table's order.
    fn crate_flag(name: &str) -> AccessFs {
        match name {
            "execute" => AccessFs::Execute,
            "write_file" => AccessFs::WriteFile,
            "read_file" => AccessFs::ReadFile,
            "read_dir" => AccessFs::ReadDir,
            "remove_dir" => AccessFs::RemoveDir,
            "remove_file" => AccessFs::RemoveFile,
            "make_char" => AccessFs::MakeChar,
            "make_dir" => AccessFs::MakeDir,
            "make_reg" => AccessFs::MakeReg,
            "make_sock" => AccessFs::MakeSock,
            "make_fifo" => AccessFs::MakeFifo,
            "make_block" => AccessFs::MakeBlock,
            "make_sym" => AccessFs::MakeSym,
            "refer" => AccessFs::Refer,
            "truncate" => AccessFs::Truncate,
            "ioctl_dev" => AccessFs::IoctlDev,
            "resolve_unix" => AccessFs::ResolveUnix,
            other => panic!("no such right {other:?}"),
        }
    }

    /// The table is in the kernel's bit order, which `file_access` relies
    /// on, and `rule_access` narrows as `rule_rights` does, for every list
    /// of rights a plan makes and every kind.
    #[test]
    fn rule_access_narrows_as_rule_rights_does() {
        for (i, (name, _, _)) in FS_RIGHTS.iter().enumerate() {
            let flag = access_fs(name).map(BitFlags::bits);
            assert_eq!(flag, Some(1 << i), "{name}");
            assert_eq!(
                access_fs(name),
                Some(BitFlags::from(crate_flag(name))),
                "{name}"
            );
        }
        let kinds = [
            PathKind::Directory,
            PathKind::File,
            PathKind::CharDevice,
            PathKind::Socket,
            PathKind::Fifo,
            PathKind::Missing,
        ];
        for abi in 1..=LANDLOCK_ABI_KNOWN {
            for access in [Access::ReadOnly, Access::ReadWrite, Access::Device] {
                for planned in kinds {
                    for dev_write in [false, true] {
                        let names = fs_rights(abi, access, planned, dev_write);
                        for kind in kinds {
                            assert_eq!(
                                rule_access(&names, kind).unwrap(),
                                rights(&rule_rights(&names, kind)).unwrap(),
                                "{abi} {access:?} {planned:?} {dev_write} {kind:?}"
                            );
                        }
                    }
                }
            }
        }
        // Control: a file is narrowed, a directory is not.
        let rw = fs_rights(7, Access::ReadWrite, PathKind::Directory, true);
        assert_ne!(
            rule_access(&rw, PathKind::File).unwrap(),
            rule_access(&rw, PathKind::Directory).unwrap()
        );
    }

    #[test]
    fn unknown_right_is_an_internal_error() {
        let e = rights(&["read_file", "fly"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "internal error: landlock: unknown filesystem right \"fly\" in the plan"
        );
    }

    fn fs_plan(abi: u32) -> FilesystemPlan {
        let all = LandlockFeatures {
            filesystem: true,
            truncate: true,
            ioctl_dev: true,
            network: true,
            scopes: true,
            audit: true,
            unix_sockets: true,
        };
        FilesystemPlan {
            compatibility: Compatibility::BestEffort,
            kernel: LandlockSupport::Available { abi },
            abi,
            required: all.clone(),
            enforced: all,
            handled: handled_rights(abi),
            rules: Vec::new(),
            scopes: vec!["signal"],
            log_denials: true,
            never_writable: Vec::new(),
            writable_aliases: Vec::new(),
            workload_uid: 1500,
        }
    }

    /// A held read-write rule is judged on the plan's answer for its
    /// filesystem where the plan asked, and asks the descriptor otherwise.
    #[test]
    fn held_rules_take_the_plans_filesystem_answer_or_ask_the_descriptor() {
        let rule = |path: &str, kernel_fs| FsRule {
            path: path.to_string(),
            access: Access::ReadWrite,
            origin: RuleOrigin::Policy,
            rights: Vec::new(),
            kind: PathKind::Directory,
            present: true,
            skipped: None,
            resolved: None,
            inode: Some((1, 2)),
            kernel_fs,
        };
        let fsp = fs_plan(7);
        let tmp = std::env::temp_dir();
        let dir = std::fs::File::open(&tmp).unwrap();
        let proc_dir = std::fs::File::open("/proc/self").unwrap();
        let scratch = tmp.to_str().unwrap();
        // Control: a plain directory the plan found on a plain filesystem.
        assert_eq!(
            held_rule(&rule(scratch, Some(false)), dir.as_fd(), &fsp),
            Ok(())
        );
        // The plan's answer is taken: the descriptor is not asked again.
        assert_eq!(
            held_rule(&rule(scratch, Some(true)), dir.as_fd(), &fsp),
            Err(format!("{scratch} is never writable"))
        );
        // Not asked by the plan: the descriptor is, and procfs is refused
        // (the path's spelling says nothing here).
        assert_eq!(held_rule(&rule("/x/p", None), dir.as_fd(), &fsp), Ok(()));
        assert_eq!(
            held_rule(&rule("/x/p", None), proc_dir.as_fd(), &fsp),
            Err("/x/p is never writable".to_string())
        );
    }

    #[test]
    fn a_lower_abi_than_planned_is_explained_in_words() {
        assert_eq!(
            lost_features(&fs_plan(7), 5),
            [
                "not enforced: IPC scoping (abstract unix sockets, signals) (needs Landlock ABI 6, the kernel enforces ABI 5)",
                "not enforced: denial logging (needs Landlock ABI 7, the kernel enforces ABI 5)",
            ]
        );
        assert!(lost_features(&fs_plan(7), 7).is_empty());
    }

    #[test]
    fn summary_says_what_is_enforced() {
        let s = Status {
            abi: 7,
            kernel: LandlockSupport::Available { abi: 7 },
            ruleset: Enforcement::FullyEnforced,
            path_rules: 9,
            port_rules: 1,
            scopes: vec!["abstract_unix_socket", "signal"],
            log_denials: true,
            not_enforced: Vec::new(),
        };
        assert_eq!(
            summary(&s),
            "landlock: fully enforced (ABI 7): 9 path rules, 1 TCP port rule, scoped: abstract_unix_socket, signal, denials logged"
        );
        let skipped = Status {
            kernel: LandlockSupport::Available { abi: 7 },
            scopes: vec!["abstract_unix_socket", "signal"],
            not_enforced: vec![
                "filesystem rule for /a skipped: does not exist".into(),
                "not enforced: denial logging (needs Landlock ABI 7, the kernel enforces ABI 5)"
                    .into(),
                "filesystem rule for /b skipped: symlink /b -> /c is not followed".into(),
            ],
            ..s
        };
        assert_eq!(
            summary(&skipped),
            "landlock: fully enforced (ABI 7): 9 path rules, 1 TCP port rule, 2 policy paths skipped (see the warnings), scoped: abstract_unix_socket, signal, denials logged"
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["ruleset"], "fully_enforced");
        assert_eq!(v["kernel"]["status"], "available");
    }
}
