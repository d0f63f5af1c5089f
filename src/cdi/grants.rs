//! Merged edits -> what the sandbox grants, checked against the host.
//!
//! Pure: everything host-dependent comes from [`HostFacts`]. The output is
//! plan data (the `devices` section), Landlock rules with origin `device`,
//! env for the workload, supplementary groups, and the blockers that stop
//! `run` with 125 (`plan` only marks them).
//!
//! Device nodes: with `runtime_applied` (the Kubernetes default) the
//! container runtime already created them, so every node must exist, be a
//! character or block device (a FIFO only when the spec says `p`), not a
//! symlink, and match the spec's type and major:minor when the spec gives
//! them. Each node gets read and/or write as its cgroup `permissions` say
//! (`rwm` when omitted; `m` alone or `none` grants nothing), plus
//! `ioctl_dev` where the kernel controls ioctl. A node the request did not
//! name gets no rule, so it stays denied even when present.
//!
//! Mounts: the container path must exist; it is granted read + execute
//! (read only when the policy lists `execute` paths: see `may_execute`). A
//! writable mount (no `ro` option) is also writable for the workload only
//! when the policy's own `filesystem_policy.read_write` covers that path:
//! the spec alone never widens write access.
//!
//! Spec paths must be absolute, without `..`, and not a broad root
//! ([`BROAD_ROOTS`]): a spec that would grant `/usr` or `/dev` is refused,
//! and so is a mount path that is `/` or a system tree's own directory
//! (a bind of it), found by device and inode.
//!
//! CUDA extras, when an NVIDIA device is granted: read on
//! `/proc/driver/nvidia` and `/proc/driver/nvidia-uvm`, read (and Unix
//! socket resolution where Landlock controls it) on
//! `/run/nvidia-persistenced`, and write on the workload's own
//! `/proc/self/task` for the `comm` names cuInit gives its threads. A
//! Landlock rule binds to the inode `/proc/self/task` resolves to when the
//! rule is made (the applying process, which is the workload's pid in both
//! exec and init mode); procfs makes a new inode when that dentry is
//! evicted, which would silently drop the rule, so [`super::apply`] keeps
//! one `O_PATH` descriptor on it open across exec to pin it (tested in
//! tests/cdi_kernel.rs, with the page cache dropped in between).

use serde::Serialize;

use super::resolve::{self, Found};
use super::spec::{self, DeviceNode, Hook, IntelRdt, NetDevice};
use crate::error::Finding;
use crate::landlock::{Access, FsRule, RuleOrigin, fs_rights};
use crate::policy::model::Policy;
use crate::policy::paths;
use crate::probe::{HostFacts, NodeStat};
use crate::safepath::PathKind;

/// Paths a spec may not grant: the root, the top-level system
/// directories, and the common library and binary roots below them.
pub const BROAD_ROOTS: [&str; 27] = [
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local",
    "/usr/sbin",
    "/var",
];

/// Extra paths a CUDA workload needs beyond the spec.
pub const CUDA_PATHS: [&str; 4] = [
    "/proc/driver/nvidia",
    "/proc/driver/nvidia-uvm",
    "/proc/self/task",
    "/run/nvidia-persistenced",
];

/// One granted device, with what it needs on its own (its spec's
/// spec-level edits plus its own).
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
    pub cdi: CdiPlan,
}

/// Device requests in the order they will be resolved: `--device` flags
/// (`flags`),
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
pub fn devices_plan(
    policy: &Policy,
    flags: &[String],
    cdi_dirs: &[String],
    host: &HostFacts,
) -> DevicesPlan {
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
    for d in flags {
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
    let spec_dirs = if !cdi_dirs.is_empty() {
        cdi_dirs.to_vec()
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
        cdi: CdiPlan::default(),
    }
}

/// One blocker per device in `devices.not_allowed`: `NVIDIA_VISIBLE_DEVICES`
/// named it, but neither the `--device` flags (`flags`) nor the policy did.
pub fn not_allowed_blockers(
    devices: &DevicesPlan,
    policy: &Policy,
    flags: &[String],
) -> Vec<Finding> {
    let mut blockers = Vec::new();
    for d in &devices.not_allowed {
        let bound: Vec<&str> = flags
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
    blockers
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GrantedDevice {
    pub name: String,
    /// `flag`, `policy` or `NVIDIA_VISIBLE_DEVICES`.
    pub source: String,
    /// The spec file it comes from.
    pub spec: String,
    pub nodes: Vec<PathAccess>,
    pub mounts: Vec<PathAccess>,
    /// `NAME=VALUE`, in order.
    pub env: Vec<String>,
    pub additional_gids: Vec<u32>,
    /// `hookName: argv...`.
    pub hooks: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PathAccess {
    pub path: String,
    pub access: String,
    pub present: bool,
}

/// A node to create in the fallback (`runtime_applied: false`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeCreate {
    /// `c`, `b` or `p`.
    #[serde(rename = "type")]
    pub dev_type: String,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A device node after merging, as checked on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodePlan {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// The requested devices that need it.
    pub devices: Vec<String>,
    /// `read_write`, `read_only`, `write_only` or `none`.
    pub access: String,
    /// Type and numbers as the spec gives them (`c 195:0`, `c`), if at all.
    pub spec: Option<String>,
    pub present: bool,
    /// What is there now (`c 195:0`), if anything.
    pub found: Option<String>,
    /// Why it cannot be granted (a blocker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Created by the supervisor before Landlock (fallback only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create: Option<NodeCreate>,
    /// What was found (its inode goes into the node's Landlock rule).
    #[serde(skip)]
    pub stat: Option<NodeStat>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountPlan {
    /// Container path.
    pub path: String,
    pub host_path: String,
    pub devices: Vec<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub mount_type: Option<String>,
    pub options: Vec<String>,
    /// `read_only`, or `read_write` when the mount is writable and the
    /// policy's read_write covers it.
    pub access: String,
    pub present: bool,
    pub kind: PathKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvEntry {
    pub name: String,
    pub value: String,
}

/// What the supervisor does for a hook in the fallback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Emulation {
    CreateSymlinks { links: Vec<Link> },
    Chmod { mode: u32, paths: Vec<String> },
    UpdateLdcache { folders: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub target: String,
    pub link: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HookPlan {
    pub hook_name: String,
    pub path: String,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    pub devices: Vec<String>,
    /// In words: run by the runtime, emulated, or skipped and why.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emulate: Option<Emulation>,
}

/// Extra grants CUDA needs (present when an NVIDIA device is granted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CudaPlan {
    /// Paths granted (rules with origin `device`).
    pub granted: Vec<String>,
    /// Paths not granted, and why.
    pub skipped: Vec<String>,
    /// Whether `/proc/self/task` is pinned open across exec (see the
    /// module docs).
    pub pin_proc_task: bool,
}

/// The CDI part of the plan's `devices` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CdiPlan {
    pub granted: Vec<GrantedDevice>,
    /// Requested names no spec provides.
    pub missing: Vec<String>,
    /// Every resolvable name, shown when something is missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub available: Vec<String>,
    /// Spec files and directories that could not be used.
    pub load_errors: Vec<String>,
    pub nodes: Vec<NodePlan>,
    pub mounts: Vec<MountPlan>,
    pub env: Vec<EnvEntry>,
    pub additional_gids: Vec<u32>,
    pub hooks: Vec<HookPlan>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub net_devices: Vec<NetDevice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<IntelRdt>,
    pub cuda: Option<CudaPlan>,
}

/// What the rest of the plan needs from the devices.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub host: &'a HostFacts,
    /// Landlock ABI rules are built for.
    pub abi: u32,
    /// ioctl control is required (a shortfall is a blocker) / enforced.
    pub ioctl_required: bool,
    pub ioctl_enforced: bool,
    /// The workload's uid and gid (owners of created nodes).
    pub uid: u32,
    pub gid: u32,
    /// Whether the identity switch sets supplementary groups.
    pub sets_groups: bool,
    /// Whether to build each granted device's own view (`cdi.granted`):
    /// for a printed plan only, as a launch reads none of it and it costs
    /// a merge of the spec's edits per device.
    pub device_views: bool,
}

#[derive(Debug, Default)]
pub struct Output {
    pub cdi: CdiPlan,
    pub rules: Vec<FsRule>,
    pub env: Vec<(String, String)>,
    pub gids: Vec<u32>,
    pub blockers: Vec<Finding>,
    pub dropped: Vec<Finding>,
    /// A device-specific replacement for the generic "ioctl control
    /// required" blocker.
    pub ioctl_blocker: Option<Finding>,
}

fn node_text(t: &str, major: u64, minor: u64) -> String {
    format!("{t} {major}:{minor}")
}

fn stat_text(st: &NodeStat) -> String {
    match st.kind {
        PathKind::CharDevice => node_text("c", st.major, st.minor),
        PathKind::BlockDevice => node_text("b", st.major, st.minor),
        PathKind::Fifo => "p".into(),
        PathKind::Directory => "directory".into(),
        PathKind::File => "regular file".into(),
        PathKind::Socket => "socket".into(),
        PathKind::Missing => "missing".into(),
    }
}

fn kind_words(st: &NodeStat) -> &'static str {
    if st.symlink {
        return "a symbolic link";
    }
    match st.kind {
        PathKind::CharDevice => "a character device",
        PathKind::BlockDevice => "a block device",
        PathKind::Fifo => "a FIFO",
        PathKind::Directory => "a directory",
        PathKind::File => "a regular file",
        PathKind::Socket => "a socket",
        PathKind::Missing => "missing",
    }
}

/// `(read, write)` from cgroup permissions.
fn rw(perm: &str) -> (bool, bool) {
    (perm.contains('r'), perm.contains('w'))
}

fn access_word(r: bool, w: bool) -> &'static str {
    match (r, w) {
        (true, true) => "read_write",
        (true, false) => "read_only",
        (false, true) => "write_only",
        (false, false) => "none",
    }
}

/// Why a spec path cannot be granted.
fn path_problem(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return Some("is not an absolute path".into());
    }
    if paths::has_parent_component(p) {
        return Some("contains '..'".into());
    }
    let n = paths::normalized(p);
    BROAD_ROOTS
        .contains(&&*n)
        .then(|| format!("{n} is too broad to grant from a CDI spec"))
}

/// Why a mount path is too broad by what it is rather than how it is
/// spelled: the directory of `/` or of a system tree itself, reached
/// through a bind of it (compared by device and inode).
fn system_tree_object(path: &str, host: &HostFacts) -> Option<String> {
    let r = host.resolved.get(path)?;
    host.never_writable.contains(&(r.dev, r.ino)).then(|| {
        format!(
            "{} is / or a system tree (another mount of it), too broad to grant from a CDI spec",
            r.path
        )
    })
}

fn is_nvidia(vendor: &str) -> bool {
    vendor == "nvidia.com" || vendor.ends_with(".nvidia.com")
}

/// Whether any of `found` is an NVIDIA device: only then does the plan
/// grant the [`CUDA_PATHS`] (and resolve look at them).
pub fn any_nvidia(found: &[resolve::Found], reg: &super::scan::Registry) -> bool {
    found
        .iter()
        .filter_map(|f| reg.specs.get(f.spec))
        .any(|s| is_nvidia(&s.vendor))
}

fn hook_line(h: &Hook) -> String {
    let argv = if h.args.is_empty() {
        h.path.clone()
    } else {
        h.args.join(" ")
    };
    format!("{}: {argv}", h.hook_name)
}

/// Spec type + numbers, as the spec gives them.
fn spec_text(n: &DeviceNode) -> Option<String> {
    let t = n.dev_type()?;
    Some(match (n.major, n.minor) {
        (Some(ma), mi) if ma != 0 => {
            node_text(t, ma.unsigned_abs(), mi.unwrap_or(0).unsigned_abs())
        }
        _ => t.to_string(),
    })
}

/// Whether what is there matches the spec; `Err` says how not.
fn check_node(n: &DeviceNode, st: &NodeStat) -> Result<(), String> {
    if st.symlink {
        return Err("is a symbolic link, not a device node".into());
    }
    let want = n.dev_type();
    let ok_kind = match want {
        Some("c" | "u") => st.kind == PathKind::CharDevice,
        Some("b") => st.kind == PathKind::BlockDevice,
        Some("p") => st.kind == PathKind::Fifo,
        _ => matches!(st.kind, PathKind::CharDevice | PathKind::BlockDevice),
    };
    if !ok_kind {
        return Err(match want {
            Some(t) => format!(
                "is {}, the spec says {}",
                kind_words(st),
                spec_text(n).unwrap_or_else(|| t.to_string())
            ),
            None => format!("is {}, not a device node", kind_words(st)),
        });
    }
    if let Some(ma) = n.major.filter(|m| *m != 0) {
        let mi = n.minor.unwrap_or(0);
        if st.major != ma.unsigned_abs() || st.minor != mi.unsigned_abs() {
            return Err(format!(
                "is {}, the spec says {}",
                stat_text(st),
                spec_text(n).unwrap_or_else(|| format!(
                    "{}:{}",
                    ma.unsigned_abs(),
                    mi.unsigned_abs()
                ))
            ));
        }
    }
    Ok(())
}

/// A node found whose spec gives no numbers of its own is held to those of
/// the node at its `hostPath`, when that one could be read: the spec
/// describes that node, whatever stands at the node's path.
fn check_host_node(n: &DeviceNode, st: &NodeStat, host: &HostFacts) -> Result<(), String> {
    let hp = n.host_path();
    let numbered = n.major.is_some_and(|m| m != 0);
    let Some(Ok(want)) = host
        .cdi
        .host_nodes
        .get(hp)
        .filter(|_| !numbered && hp != n.path)
    else {
        return Ok(());
    };
    if (st.kind, st.major, st.minor) != (want.kind, want.major, want.minor) {
        return Err(format!(
            "is {}, its host path {hp} is {}",
            stat_text(st),
            stat_text(want)
        ));
    }
    Ok(())
}

/// The largest major and minor numbers Linux gives a device (12 and 20
/// bits: `MINORBITS` in `<linux/kdev_t.h>`).
const MAX_MAJOR: u64 = (1 << 12) - 1;
const MAX_MINOR: u64 = (1 << 20) - 1;

/// How to create a missing node in the fallback.
fn creation(n: &DeviceNode, host: &HostFacts, uid: u32, gid: u32) -> Result<NodeCreate, String> {
    let mode_default = 0o666;
    let owner = |c: &mut NodeCreate| {
        c.uid = n.uid.unwrap_or(uid);
        c.gid = n.gid.unwrap_or(gid);
    };
    let t = n.dev_type();
    let minimal = t.is_some() && (n.major.is_some_and(|m| m != 0) || t == Some("p"));
    if minimal {
        let t = match t {
            Some("u") => "c",
            Some(t) => t,
            None => "c",
        };
        let mut c = NodeCreate {
            dev_type: t.to_string(),
            major: n.major.unwrap_or(0).unsigned_abs(),
            minor: n.minor.unwrap_or(0).unsigned_abs(),
            mode: n.file_mode.map_or(mode_default, |m| m & 0o7777),
            uid: 0,
            gid: 0,
        };
        // Linux's device numbers: a larger one would be cut to another
        // device's.
        if c.major > MAX_MAJOR || c.minor > MAX_MINOR {
            return Err(format!(
                "does not exist, and the spec's {}:{} cannot be created: Linux's device numbers go up to {MAX_MAJOR}:{MAX_MINOR}",
                c.major, c.minor
            ));
        }
        owner(&mut c);
        return Ok(c);
    }
    // A type with major 0 names no device (the kernel's unnamed ones): as
    // good as none without a host node, but said as it is.
    let major_zero = match (t, n.major) {
        (Some(t), Some(0)) => Some(format!(
            "does not exist, and cannot be created: the spec's {t} 0:{} names no device (major 0)",
            n.minor.unwrap_or(0)
        )),
        _ => None,
    };
    let hp = n.host_path();
    match host.cdi.host_nodes.get(hp) {
        Some(Ok(st)) if hp != n.path => {
            check_node(n, st).map_err(|e| format!("host path {hp} {e}"))?;
            let t = match st.kind {
                PathKind::BlockDevice => "b",
                PathKind::Fifo => "p",
                _ => "c",
            };
            let mut c = NodeCreate {
                dev_type: t.to_string(),
                major: st.major,
                minor: st.minor,
                mode: n.file_mode.map_or(st.mode, |m| m & 0o7777),
                uid: 0,
                gid: 0,
            };
            owner(&mut c);
            Ok(c)
        }
        Some(Err(e)) if hp != n.path => Err(match major_zero {
            Some(z) => format!("{z}; its host path {hp}: {e}"),
            None => format!(
                "does not exist, and the spec gives no type and major:minor to create it; its host path {hp}: {e}"
            ),
        }),
        _ => Err(match major_zero {
            Some(z) => format!("{z}, and no host path shows one"),
            None => "does not exist, and the spec gives no type and major:minor (nor a visible host path) to create it".into(),
        }),
    }
}

/// Whether a CDI mount's rule keeps the execute right: only where the
/// policy lists no `execute` paths (no W^X; every readable file may run).
///
/// With `execute` listed, never. A Landlock rule is on the object its path
/// leads to, under every name that object has: a mount of a directory
/// above, at or beneath a writable one (a bind, an overlay, a volume on
/// another filesystem beneath a bound directory, a hard link of a
/// writable file, or any of these made after the mount table was read)
/// would let the workload run what it writes under the writable name. What
/// a mount beneath an execute path holds runs anyway by that path's own
/// rule, which reaches through the mounts beneath it; the spec adds
/// nothing there, and nowhere else may it add execute.
fn may_execute(ctx: &Context<'_>) -> bool {
    ctx.policy
        .filesystem_policy
        .as_ref()
        .is_none_or(|f| f.execute.is_none())
}

/// Build the devices section and everything it implies.
pub fn plan(devices: &DevicesPlan, ctx: &Context<'_>) -> Output {
    let mut out = Output::default();
    if devices.requested.is_empty() {
        return out;
    }
    let host = ctx.host;
    let reg = &host.cdi.registry;
    let runtime = devices.runtime_applied;
    out.cdi.load_errors = reg.errors.iter().map(ToString::to_string).collect();

    // ---- requests ----
    let mut names = Vec::new();
    for r in &devices.requested {
        match spec::parse_qualified(&r.name) {
            Ok(_) => names.push(r.name.clone()),
            Err(e) => out
                .blockers
                .push(Finding::new("cdi", format!("device {e}"))),
        }
    }
    let res = resolve::resolve(reg, &names);
    if !res.missing.is_empty() {
        out.cdi.missing = res.missing.clone();
        out.cdi.available = reg.names();
        out.blockers
            .push(missing_message(&res.missing, devices, reg));
    }

    // ---- nodes ----
    let mut rules = Vec::new();
    let mut granted_nodes = Vec::new();
    for (n, owners) in &res.merged.nodes {
        let (r, w) = rw(n.permissions());
        let access = access_word(r, w);
        let mut np = NodePlan {
            path: n.path.clone(),
            host_path: Some(n.host_path().to_string()).filter(|h| *h != n.path),
            devices: owners.clone(),
            access: access.to_string(),
            spec: spec_text(n),
            present: false,
            found: None,
            problem: None,
            create: None,
            stat: None,
        };
        let state = host.cdi.nodes.get(&n.path);
        let mut missing = false;
        if let Some(p) = path_problem(&n.path) {
            np.problem = Some(p);
        } else {
            match state {
                Some(Ok(st)) => {
                    np.present = true;
                    np.found = Some(stat_text(st));
                    np.stat = Some(*st);
                    if let Err(e) = check_node(n, st).and_then(|()| check_host_node(n, st, host)) {
                        np.problem = Some(e);
                    }
                }
                // Found, and not to be used (a name others could change,
                // a link not followed): neither granted nor replaced.
                Some(Err(e)) if e != crate::probe::MISSING => np.problem = Some(e.clone()),
                _ => {
                    missing = true;
                    if runtime {
                        np.problem = Some(crate::probe::MISSING.to_string());
                    } else if let Some(why) = host.cdi.not_created.get(&n.path) {
                        np.problem = Some(format!("does not exist, and is not created: {why}"));
                    } else {
                        match creation(n, host, ctx.uid, ctx.gid) {
                            Ok(c) => np.create = Some(c),
                            Err(e) => np.problem = Some(e),
                        }
                    }
                }
            }
        }
        if let Some(p) = &np.problem {
            let hint = if runtime && missing {
                Some(
                    "the container runtime did not inject this device: check the pod's CDI device request, or set devices.cdi.runtime_applied: false to let the supervisor create it",
                )
            } else if np.present {
                Some(
                    "the spec does not describe this node: regenerate the CDI spec (e.g. nvidia-ctk cdi generate)",
                )
            } else {
                None
            };
            let b = Finding::new(
                "cdi",
                format!("device node {} ({}): {p}", n.path, owners.join(", ")),
            );
            out.blockers.push(match hint {
                Some(h) => b.with_hint(h),
                None => b,
            });
        } else if r || w {
            let kind = match (&np.stat, &np.create) {
                (Some(st), _) => st.kind,
                (None, Some(c)) if c.dev_type == "b" => PathKind::BlockDevice,
                (None, Some(c)) if c.dev_type == "p" => PathKind::Fifo,
                _ => PathKind::CharDevice,
            };
            let mut rights = fs_rights(ctx.abi, Access::Device, kind, w);
            if !r {
                rights.retain(|x| *x != "read_file");
            }
            rules.push(FsRule {
                path: paths::normalize(&n.path),
                access: Access::Device,
                origin: RuleOrigin::Device,
                rights,
                kind,
                // A node the fallback creates exists by the time Landlock
                // opens its rule paths (`cdi::apply` runs first); the node
                // entry above says it is not there yet.
                present: true,
                skipped: None,
                resolved: None,
                // A node found here is checked (kind, major:minor) on this
                // object, and the rule is added on it or refused: a node
                // swapped since is never granted.
                inode: np.stat.map(|st| st.inode),
                kernel_fs: None,
            });
            granted_nodes.push(n.path.clone());
        }
        out.cdi.nodes.push(np);
    }
    if ctx.ioctl_required && !ctx.ioctl_enforced {
        // Name a node the device itself asked for (not a shared control
        // node) when there is one.
        let own: Vec<&str> = res
            .found
            .iter()
            .filter_map(|f| reg.specs.get(f.spec)?.devices.get(f.device))
            .flat_map(|d| d.edits.device_nodes.iter().map(|n| n.path.as_str()))
            .collect();
        let first = granted_nodes
            .iter()
            .find(|p| own.contains(&p.as_str()))
            .or(granted_nodes.first());
        if let Some(first) = first {
            out.ioctl_blocker = Some(
                Finding::new(
                    "landlock",
                    format!(
                        "the policy requires ioctl control on {first} (ABI 5) but the kernel provides {}",
                        host.landlock.describe()
                    ),
                )
                .with_hint(format!(
                    "run on Linux >= {}, or set landlock.compatibility: best_effort",
                    crate::landlock::linux_for_abi(5)
                )),
            );
        }
    }

    // ---- mounts ----
    let rw_paths: Vec<String> = ctx
        .policy
        .filesystem_policy
        .as_ref()
        .map(|f| f.read_write.iter().map(|p| paths::normalize(p)).collect())
        .unwrap_or_default();
    for (m, owners) in &res.merged.mounts {
        let path = paths::normalize(&m.container_path);
        let kind = host.path_kind(&path);
        let present = kind != PathKind::Missing;
        let writable = m.is_rw() && rw_paths.iter().any(|w| paths::is_within(&path, w));
        let mut mp = MountPlan {
            path: path.clone(),
            host_path: m.host_path.clone(),
            devices: owners.clone(),
            mount_type: m.mount_type().map(str::to_string),
            options: m.options.clone(),
            access: if writable { "read_write" } else { "read_only" }.to_string(),
            present,
            kind,
            problem: None,
        };
        let mut hint = None;
        // Judged where the path leads too: the rule goes on what a root
        // link there leads to (`/run/drv/l -> /` is as broad as `/`), and
        // on that object under every name: a bind of `/` or a system
        // tree is as broad as the tree.
        let canonical = host.resolved.get(&path).map(|r| r.path.as_str());
        if let Some(p) = path_problem(&m.container_path)
            .or_else(|| canonical.and_then(path_problem))
            .or_else(|| system_tree_object(&path, host))
        {
            mp.problem = Some(p);
        } else if !runtime && !m.is_bind() {
            mp.problem = Some(format!(
                "{} mounts cannot be made by the supervisor (runtime_applied is false)",
                m.mount_type().unwrap_or("non-bind")
            ));
            hint = Some(
                "let the container runtime inject this device (devices.cdi.runtime_applied: true)",
            );
        } else if !present {
            mp.problem = Some(
                host.path_error(&path)
                    .unwrap_or("does not exist")
                    .to_string(),
            );
            hint = Some(if runtime {
                "the container runtime did not inject this device: check the pod's CDI device request"
            } else {
                "the supervisor does not make bind mounts; mount it in the pod spec or let the container runtime inject the device (devices.cdi.runtime_applied: true)"
            });
        }
        if let Some(p) = &mp.problem {
            let b = Finding::new(
                "cdi",
                format!("mount {} ({}): {p}", m.container_path, owners.join(", ")),
            );
            out.blockers.push(match hint {
                Some(h) => b.with_hint(h),
                None => b,
            });
        } else {
            let mut rights = fs_rights(ctx.abi, Access::ReadOnly, kind, false);
            if !may_execute(ctx) {
                rights.retain(|r| *r != "execute");
            }
            if kind == PathKind::Socket && ctx.abi >= 9 {
                // Connecting to a pathname socket is controlled on its
                // directory from ABI 9.
                if let Some((parent, _)) = path.rsplit_once('/') {
                    let parent = if parent.is_empty() { "/" } else { parent };
                    if path_problem(parent).is_none() {
                        rules.push(FsRule {
                            path: parent.to_string(),
                            access: Access::ReadOnly,
                            origin: RuleOrigin::Device,
                            rights: vec!["resolve_unix"],
                            kind: PathKind::Directory,
                            present: true,
                            skipped: None,
                            resolved: None,
                            inode: None,
                            kernel_fs: None,
                        });
                    }
                }
                rights.retain(|r| *r != "read_dir");
            }
            rules.push(FsRule {
                path,
                access: Access::ReadOnly,
                origin: RuleOrigin::Device,
                rights,
                kind,
                present,
                skipped: None,
                resolved: None,
                inode: None,
                kernel_fs: None,
            });
        }
        out.cdi.mounts.push(mp);
    }

    // ---- env, groups ----
    out.env = res.merged.env.clone();
    out.cdi.env = out
        .env
        .iter()
        .map(|(n, v)| EnvEntry {
            name: n.clone(),
            value: v.clone(),
        })
        .collect();
    out.gids = res.merged.gids.clone();
    out.cdi.additional_gids = out.gids.clone();
    if !ctx.sets_groups {
        for g in &out.gids {
            if !host.cdi.groups.contains(g) {
                out.blockers.push(
                    Finding::new(
                        "cdi",
                        format!("additional gid {g}: the supervisor started unprivileged and is not in this group, so it cannot give it to the workload"),
                    )
                    .with_hint(format!("add {g} to the pod's securityContext.supplementalGroups")),
                );
            }
        }
    }

    // ---- hooks ----
    for (h, owners) in &res.merged.hooks {
        let (action, emulate) = if runtime {
            ("run by the container runtime".to_string(), None)
        } else {
            match hook_emulation(h) {
                HookAction::Emulate(e) => {
                    // A refusal the emulation would meet on this host,
                    // found by the resolve step: a blocker now, not a 125
                    // after the fallback's other changes.
                    if let Some((_, (cause, hint))) =
                        host.cdi.hook_refusals.iter().find(|(x, _)| x == *h)
                    {
                        let b = Finding::new("cdi", cause.clone());
                        out.blockers.push(match hint {
                            Some(h) => b.with_hint(h.clone()),
                            None => b,
                        });
                    }
                    (format!("emulate {}", emulation_name(&e)), Some(e))
                }
                HookAction::Skip(why) => (format!("skip: {why}"), None),
                HookAction::Warn(why) => {
                    out.dropped.push(Finding::new(
                        "cdi",
                        format!("hook {} not run: {why}", hook_line(h)),
                    ));
                    (format!("skip: {why}"), None)
                }
                HookAction::Invalid(why) => {
                    out.blockers
                        .push(Finding::new("cdi", format!("hook {}: {why}", hook_line(h))));
                    (format!("invalid: {why}"), None)
                }
            }
        };
        out.cdi.hooks.push(HookPlan {
            hook_name: h.hook_name.clone(),
            path: h.path.clone(),
            args: h.args.clone(),
            env: h.env.clone(),
            timeout: h.timeout,
            devices: owners.clone(),
            action,
            emulate,
        });
    }

    // ---- net devices, intelRdt ----
    out.cdi.net_devices = res.merged.net_devices.iter().map(|&n| n.clone()).collect();
    out.cdi.intel_rdt = res.merged.intel_rdt.cloned();
    if !runtime {
        if !out.cdi.net_devices.is_empty() {
            out.blockers.push(
                Finding::new(
                    "cdi",
                    "netDevices cannot be applied by the supervisor (runtime_applied is false)",
                )
                .with_hint(
                    "let the container runtime inject this device (devices.cdi.runtime_applied: true)",
                ),
            );
        }
        if out.cdi.intel_rdt.is_some() {
            out.blockers.push(
                Finding::new(
                    "cdi",
                    "intelRdt cannot be applied by the supervisor (runtime_applied is false)",
                )
                .with_hint(
                    "let the container runtime inject this device (devices.cdi.runtime_applied: true)",
                ),
            );
        }
    }

    // ---- per device ----
    if ctx.device_views {
        let planned = Planned::of(&out.cdi);
        let granted: Vec<GrantedDevice> = res
            .found
            .iter()
            .map(|f| device_entry(f, devices, reg, &planned, host))
            .collect();
        out.cdi.granted.extend(granted);
    }

    // ---- CUDA ----
    if any_nvidia(&res.found, reg) {
        let mut cuda = CudaPlan::default();
        for p in CUDA_PATHS {
            let kind = host.path_kind(p);
            if kind != PathKind::Directory {
                cuda.skipped.push(format!(
                    "{p}: {}",
                    host.path_error(p).unwrap_or(if kind == PathKind::Missing {
                        "does not exist"
                    } else {
                        "not a directory"
                    })
                ));
                continue;
            }
            let rights = match p {
                "/proc/self/task" => {
                    cuda.pin_proc_task = true;
                    fs_rights(ctx.abi, Access::ReadWrite, PathKind::File, true)
                        .into_iter()
                        .filter(|r| matches!(*r, "read_file" | "write_file" | "truncate"))
                        .collect()
                }
                "/run/nvidia-persistenced" => {
                    let mut r = fs_rights(ctx.abi, Access::ReadOnly, kind, false);
                    if ctx.abi >= 9 {
                        r.push("resolve_unix");
                    }
                    r
                }
                _ => fs_rights(ctx.abi, Access::ReadOnly, kind, false),
            };
            let access = if p == "/proc/self/task" {
                Access::ReadWrite
            } else {
                Access::ReadOnly
            };
            rules.push(FsRule {
                path: p.to_string(),
                access,
                origin: RuleOrigin::Device,
                rights,
                kind,
                present: true,
                skipped: None,
                resolved: None,
                inode: None,
                kernel_fs: None,
            });
            cuda.granted.push(p.to_string());
        }
        out.cdi.cuda = Some(cuda);
    }
    out.rules = rules;
    out
}

/// The planned nodes and mounts by path, for each device's entry: a spec
/// may list thousands, and each device names its own again.
struct Planned<'a> {
    /// Whether the first node planned at a path is present.
    node_present: crate::sort::FastMap<&'a str, bool>,
    /// The access of the first mount planned at a path.
    mount_access: crate::sort::FastMap<&'a str, &'a str>,
}

impl<'a> Planned<'a> {
    fn of(cdi: &'a CdiPlan) -> Self {
        let mut p = Planned {
            node_present: crate::sort::FastMap::default(),
            mount_access: crate::sort::FastMap::default(),
        };
        for n in &cdi.nodes {
            p.node_present.entry(n.path.as_str()).or_insert(n.present);
        }
        for m in &cdi.mounts {
            p.mount_access
                .entry(m.path.as_str())
                .or_insert(m.access.as_str());
        }
        p
    }
}

fn device_entry(
    f: &Found,
    devices: &DevicesPlan,
    reg: &super::scan::Registry,
    planned: &Planned<'_>,
    host: &HostFacts,
) -> GrantedDevice {
    let view = resolve::device_view(reg, f);
    let node_present = |p: &str| planned.node_present.get(p).copied().unwrap_or(false);
    GrantedDevice {
        name: f.name.clone(),
        source: devices
            .requested
            .iter()
            .find(|r| r.name == f.name)
            .map(|r| r.source.clone())
            .unwrap_or_default(),
        spec: reg
            .specs
            .get(f.spec)
            .map(|s| s.path.clone())
            .unwrap_or_default(),
        nodes: view
            .nodes
            .iter()
            .map(|(n, _)| {
                let (r, w) = rw(n.permissions());
                PathAccess {
                    path: n.path.clone(),
                    access: access_word(r, w).to_string(),
                    present: node_present(&n.path),
                }
            })
            .collect(),
        mounts: view
            .mounts
            .iter()
            .map(|(m, _)| {
                let path = paths::normalize(&m.container_path);
                let access = planned
                    .mount_access
                    .get(path.as_str())
                    .copied()
                    .unwrap_or("read_only")
                    .to_string();
                PathAccess {
                    present: host.path_kind(&path) != PathKind::Missing,
                    path,
                    access,
                }
            })
            .collect(),
        env: view.env.iter().map(|(n, v)| format!("{n}={v}")).collect(),
        additional_gids: view.gids.clone(),
        hooks: view.hooks.iter().map(|(h, _)| hook_line(h)).collect(),
    }
}

/// `cdi: device "x" not found (available: ...)`, then the load errors that
/// may explain it (a line each), with a hint.
/// A missing device's message lists at most this many device names...
const MISSING_NAMES: usize = 64;
/// ...and this many skipped specs: a spec directory may hold any number
/// of files, and the error is one line per skipped spec. `devices` lists
/// them all.
const MISSING_SKIPPED: usize = 16;

fn missing_message(
    missing: &[String],
    devices: &DevicesPlan,
    reg: &super::scan::Registry,
) -> Finding {
    let quoted: Vec<String> = missing.iter().map(|m| format!("{m:?}")).collect();
    let what = if missing.len() == 1 {
        format!("device {}", quoted.join(", "))
    } else {
        format!("devices {}", quoted.join(", "))
    };
    let avail = if reg.devices.is_empty() {
        format!("no CDI devices found in {}", devices.spec_dirs.join(", "))
    } else {
        let mut avail = String::from("available: ");
        for (i, name) in reg.devices.keys().take(MISSING_NAMES).enumerate() {
            if i > 0 {
                avail.push_str(", ");
            }
            avail.push_str(name);
        }
        if reg.devices.len() > MISSING_NAMES {
            let more = reg.devices.len() - MISSING_NAMES;
            avail.push_str(&format!(" and {more} more"));
        }
        avail
    };
    let mut msg = format!("{what} not found ({avail})");
    let kinds: Vec<&str> = missing
        .iter()
        .filter_map(|m| m.split_once('=').map(|(k, _)| k))
        .collect();
    let mut skipped = reg.errors.iter().filter(|e| match &e.kind {
        None => true,
        Some(k) => kinds.contains(&k.as_str()),
    });
    for e in skipped.by_ref().take(MISSING_SKIPPED) {
        msg.push_str(&format!("\nspec skipped: {e}"));
    }
    let more = skipped.count();
    if more > 0 {
        msg.push_str(&format!("\n{more} more specs skipped"));
    }
    Finding::new("cdi", msg).with_hint(
        "run `openshell-sandbox devices` on the node to list the device names and spec errors",
    )
}

pub(crate) enum HookAction {
    Emulate(Emulation),
    /// Not needed here; no warning.
    Skip(String),
    /// Not run; the plan lists it as dropped.
    Warn(String),
    /// The real hook would fail: a blocker.
    Invalid(String),
}

fn emulation_name(e: &Emulation) -> &'static str {
    match e {
        Emulation::CreateSymlinks { .. } => "create-symlinks",
        Emulation::Chmod { .. } => "chmod",
        Emulation::UpdateLdcache { .. } => "update-ldcache",
    }
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The NVIDIA hook subcommand and its arguments: `nvidia-cdi-hook SUB ...`
/// or `nvidia-ctk hook SUB ...`.
fn nvidia_hook(h: &Hook) -> Option<(&str, &[String])> {
    let argv0 = h.args.first().map_or(h.path.as_str(), String::as_str);
    let is = |name: &str| base(&h.path) == name || base(argv0) == name;
    if is("nvidia-cdi-hook") {
        let (sub, rest) = h.args.get(1..)?.split_first()?;
        return Some((sub.as_str(), rest));
    }
    if is("nvidia-ctk") && h.args.get(1).map(String::as_str) == Some("hook") {
        let (sub, rest) = h.args.get(2..)?.split_first()?;
        return Some((sub.as_str(), rest));
    }
    None
}

/// Values of `--name V` / `--name=V` (also with one dash), in order.
fn flag_values(args: &[String], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let bare = a.trim_start_matches('-');
        if bare.len() == a.len() {
            continue;
        }
        if bare == name {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some(v) = bare.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            out.push(v.to_string());
        }
    }
    out
}

pub(crate) fn hook_emulation(h: &Hook) -> HookAction {
    let Some((sub, rest)) = nvidia_hook(h) else {
        return HookAction::Warn(format!(
            "the supervisor runs no hooks but the NVIDIA ones it emulates ({})",
            h.hook_name
        ));
    };
    match sub {
        "create-symlinks" => {
            let mut links = Vec::new();
            for l in flag_values(rest, "link") {
                let parts: Vec<&str> = l.split("::").collect();
                match parts.as_slice() {
                    [t, k] if !t.is_empty() && !k.is_empty() => {
                        let link = Link {
                            target: (*t).to_string(),
                            link: (*k).to_string(),
                        };
                        if !links.contains(&link) {
                            links.push(link);
                        }
                    }
                    _ => {
                        return HookAction::Invalid(format!(
                            "invalid symlink specification {l:?} (want TARGET::LINK)"
                        ));
                    }
                }
            }
            for l in &links {
                if !l.link.starts_with('/') || paths::has_parent_component(&l.link) {
                    return HookAction::Invalid(format!(
                        "link {:?} is not an absolute path without '..'",
                        l.link
                    ));
                }
            }
            HookAction::Emulate(Emulation::CreateSymlinks { links })
        }
        "chmod" => {
            let modes = flag_values(rest, "mode");
            let Some(m) = modes.last() else {
                return HookAction::Invalid("chmod without --mode".into());
            };
            let Ok(mode) = u32::from_str_radix(m, 8) else {
                return HookAction::Invalid(format!("invalid mode {m:?} (octal)"));
            };
            if mode > 0o7777 {
                return HookAction::Invalid(format!("invalid mode {m:?} (octal)"));
            }
            let paths_ = flag_values(rest, "path");
            for p in &paths_ {
                if !p.starts_with('/') || paths::has_parent_component(p) {
                    return HookAction::Invalid(format!(
                        "path {p:?} is not an absolute path without '..'"
                    ));
                }
            }
            HookAction::Emulate(Emulation::Chmod {
                mode,
                paths: paths_,
            })
        }
        "update-ldcache" => {
            let folders = flag_values(rest, "folder");
            for f in &folders {
                if !f.starts_with('/') || f.contains('\n') {
                    return HookAction::Invalid(format!("folder {f:?} is not an absolute path"));
                }
            }
            HookAction::Emulate(Emulation::UpdateLdcache { folders })
        }
        "disable-device-node-modification" => HookAction::Skip(
            "not needed: Landlock and the dropped CAP_MKNOD already stop device node creation"
                .into(),
        ),
        "noop" => HookAction::Skip("no-op".into()),
        "enable-cuda-compat" => HookAction::Warn(
            "CUDA forward-compatibility libraries are not selected by the supervisor".into(),
        ),
        "update-application-profile" => {
            HookAction::Warn("the EGL application profile is not written by the supervisor".into())
        }
        other => HookAction::Warn(format!("unknown NVIDIA hook {other:?}")),
    }
}
