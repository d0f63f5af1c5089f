//! The `resolve` phase: the only code that reads the host to build a plan.
//! It gathers [`HostFacts`] — Landlock support, who we run as, the image's
//! account files, the state of every path the plan mentions, the
//! environment — so that `plan::build` stays pure and testable.

use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;

use serde::Serialize;

use crate::policy::Policy;
use crate::policy::paths;

/// What `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)` said.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum LandlockSupport {
    Available {
        abi: u32,
    },
    /// ENOSYS: the kernel has no Landlock (or a sandbox such as gVisor hides it).
    #[default]
    NotImplemented,
    /// EOPNOTSUPP: built in but not enabled at boot (`lsm=`).
    NotEnabled,
    /// EPERM: refused, typically by a container seccomp profile.
    Blocked,
    Other {
        errno: i32,
    },
}

impl LandlockSupport {
    pub fn abi(&self) -> u32 {
        match self {
            LandlockSupport::Available { abi } => *abi,
            _ => 0,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            LandlockSupport::Available { abi } => format!("ABI {abi}"),
            LandlockSupport::NotImplemented => "no Landlock (ENOSYS)".into(),
            LandlockSupport::NotEnabled => "no Landlock: not enabled at boot (EOPNOTSUPP)".into(),
            LandlockSupport::Blocked => {
                "no Landlock: blocked, e.g. by a seccomp profile (EPERM)".into()
            }
            LandlockSupport::Other { errno } => format!("no Landlock (errno {errno})"),
        }
    }

    pub fn from_result(r: Result<u32, i32>) -> Self {
        match r {
            Ok(abi) => LandlockSupport::Available { abi },
            Err(libc::ENOSYS) => LandlockSupport::NotImplemented,
            Err(libc::EOPNOTSUPP) => LandlockSupport::NotEnabled,
            Err(libc::EPERM) => LandlockSupport::Blocked,
            Err(errno) => LandlockSupport::Other { errno },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    Directory,
    File,
    CharDevice,
    BlockDevice,
    Socket,
    Fifo,
    Missing,
}

/// Everything about the host the plan depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub landlock: LandlockSupport,
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    /// The image's `/etc/passwd` and `/etc/group` (None when absent).
    pub passwd: Option<String>,
    pub group: Option<String>,
    /// State of each path the plan mentions: kind, or why it is missing.
    pub paths: BTreeMap<String, Result<PathKind, String>>,
    /// The supervisor's environment, as bytes.
    pub env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    /// Capabilities the supervisor holds.
    pub caps: crate::capabilities::CapState,
    /// `vm.memfd_noexec` of our pid namespace (None: the kernel predates it).
    pub memfd_noexec: Option<u8>,
    /// CDI: the scanned spec directories and the device nodes they name.
    pub cdi: CdiFacts,
    /// What each path in `paths` resolved to (see `safepath`), when the
    /// resolution got that far. Absent in hand-made facts: the plan then
    /// judges the spelling alone.
    pub resolved: BTreeMap<String, ResolvedPath>,
    /// The supervisor's supplementary groups, read when it starts
    /// unprivileged (as root it sets them; then they are not read).
    pub groups: Vec<u32>,
    /// Inodes of [`crate::safepath::NEVER_WRITABLE`] on this host.
    pub never_writable: Vec<(u64, u64)>,
    /// The paths the policy makes writable: links beneath them are not
    /// followed (see `safepath::Trust`).
    pub trust: crate::safepath::Trust,
}

/// A path's canonical form and inode, as `safepath::open` found them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedPath {
    pub path: String,
    pub dev: u64,
    pub ino: u64,
}

/// What the host says about the CDI devices a plan requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CdiFacts {
    /// The spec directories were scanned (only done when devices are
    /// requested).
    pub scanned: bool,
    pub registry: crate::cdi::scan::Registry,
    /// `lstat` of every device node path (and host path) the resolved
    /// devices name.
    pub nodes: BTreeMap<String, Result<NodeStat, String>>,
    /// The supervisor's supplementary groups.
    pub groups: Vec<u32>,
}

/// A path as `lstat` sees it (symlinks are not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStat {
    pub kind: PathKind,
    pub symlink: bool,
    pub major: u64,
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl PathKind {
    /// The kind in words, for "not a regular file (KIND)".
    pub fn describe(self) -> &'static str {
        match self {
            PathKind::Directory => "directory",
            PathKind::File => "regular file",
            PathKind::CharDevice => "character device",
            PathKind::BlockDevice => "block device",
            PathKind::Socket => "socket",
            PathKind::Fifo => "fifo",
            PathKind::Missing => "missing",
        }
    }

    /// The kind of a file type (a symlink, seen through `lstat`, counts as
    /// `File`; callers that care check `is_symlink` themselves).
    pub fn of(t: std::fs::FileType) -> PathKind {
        if t.is_dir() {
            PathKind::Directory
        } else if t.is_char_device() {
            PathKind::CharDevice
        } else if t.is_block_device() {
            PathKind::BlockDevice
        } else if t.is_socket() {
            PathKind::Socket
        } else if t.is_fifo() {
            PathKind::Fifo
        } else {
            PathKind::File
        }
    }
}

impl HostFacts {
    pub fn path_kind(&self, p: &str) -> PathKind {
        match self.paths.get(p) {
            Some(Ok(k)) => *k,
            _ => PathKind::Missing,
        }
    }

    pub fn path_error(&self, p: &str) -> Option<&str> {
        match self.paths.get(p) {
            Some(Err(e)) => Some(e.as_str()),
            _ => None,
        }
    }

    /// A variable of the supervisor's environment, as text (bytes that are
    /// not UTF-8 become U+FFFD; `env::check_inputs` refuses them first).
    pub fn env_var(&self, k: &str) -> Option<std::borrow::Cow<'_, str>> {
        crate::env::lookup(&self.env, k).map(|v| v.to_string_lossy())
    }
}

/// Ask the kernel which Landlock ABI it offers.
pub fn landlock_abi() -> LandlockSupport {
    LandlockSupport::from_result(crate::sys::landlock_abi())
}

/// Kind of a path, resolved as the supervisor will open it (links followed
/// only where the workload cannot have planted them; see `safepath`), and
/// what it resolved to.
pub fn path_state(
    p: &str,
    trust: &crate::safepath::Trust,
) -> (Result<PathKind, String>, Option<ResolvedPath>) {
    match crate::safepath::open(p, trust) {
        Ok(r) => (
            Ok(r.kind),
            Some(ResolvedPath {
                path: r.path,
                dev: r.dev,
                ino: r.ino,
            }),
        ),
        Err(e) => (Err(e.cause()), None),
    }
}

/// The paths a policy makes writable, spelled and as they resolve: the
/// `read_write` rules and the workdir when it is included.
pub fn writable_paths(policy: &Policy, workdir: Option<&str>) -> crate::safepath::Trust {
    let mut spelled: Vec<String> = Vec::new();
    let fs = policy.filesystem_policy.as_ref();
    if let Some(f) = fs {
        spelled.extend(f.read_write.iter().map(|p| paths::normalize(p)));
    }
    if fs.is_none_or(|f| f.include_workdir) {
        if let Some(w) = workdir_of(policy, workdir) {
            spelled.push(paths::normalize(&w));
        }
    }
    let mut trust = crate::safepath::Trust {
        writable: spelled.clone(),
        workload_uid: None,
    };
    // Where a writable path leads through links, what lies there is
    // writable too (a link that is itself untrusted fails later).
    let resolved: Vec<String> = spelled
        .iter()
        .filter_map(|p| crate::safepath::open(p, &trust).ok().map(|r| r.path))
        .collect();
    trust.writable.extend(resolved);
    // A writable `/` or system tree is a blocker of its own (see
    // `plan::never_writable_blocker`); letting it distrust every link on the
    // host would only bury that line under noise.
    trust
        .writable
        .retain(|w| !crate::safepath::NEVER_WRITABLE.contains(&w.as_str()));
    crate::sort::sort_dedup(&mut trust.writable);
    trust
}

fn workdir_of(policy: &Policy, workdir: Option<&str>) -> Option<String> {
    workdir
        .map(str::to_string)
        .or_else(|| policy.process.as_ref().and_then(|p| p.workdir.clone()))
}

/// Every host path a plan for `policy` can mention.
pub fn candidate_paths(policy: &Policy, workdir: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(fs) = &policy.filesystem_policy {
        out.extend(fs.read_only.iter().map(|p| paths::normalize(p)));
        out.extend(fs.read_write.iter().map(|p| paths::normalize(p)));
        // An execute path is a rule of its own (readable and executable),
        // also when no read_only or read_write entry names it.
        out.extend(fs.execute.iter().flatten().map(|p| paths::normalize(p)));
    }
    if let Some(w) = workdir_of(policy, workdir) {
        out.push(paths::normalize(&w));
    }
    crate::sort::sort_dedup(&mut out);
    out
}

/// `vm.memfd_noexec` of our pid namespace (None: the kernel predates it,
/// Linux < 6.6).
pub fn memfd_noexec() -> Option<u8> {
    read_small("/proc/sys/vm/memfd_noexec").and_then(|s| s.trim().parse().ok())
}

/// A field of `/proc/self/status` (`Seccomp`, `NoNewPrivs`, ...), trimmed.
pub fn status_field(name: &str) -> Option<String> {
    let text = read_small("/proc/self/status")?;
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// A small regular file under `/proc` or `/etc`, as text (None when absent
/// or not a regular file).
pub fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // A FIFO or device planted at /etc/passwd must not hang the launch:
    // open without blocking, read regular files only.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(crate::policy::MAX_POLICY_BYTES)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// Gather the facts for a plan. Reads the host; never fails (a fact that
/// cannot be read is recorded as such and judged by the plan).
pub fn resolve(policy: &Policy, workdir: Option<&str>) -> HostFacts {
    let uid = nix_uid();
    let mut facts = HostFacts {
        groups: if uid == 0 { Vec::new() } else { getgroups() },
        landlock: landlock_abi(),
        pid: std::process::id(),
        uid,
        gid: nix_gid(),
        passwd: read_small("/etc/passwd"),
        group: read_small("/etc/group"),
        env: crate::env::supervisor_env(),
        caps: crate::capabilities::current(),
        memfd_noexec: memfd_noexec(),
        ..HostFacts::default()
    };
    // Paths are resolved knowing who the workload will be: what its uid
    // owns is never trusted (see `safepath`).
    let mut trust = writable_paths(policy, workdir);
    trust.workload_uid = Some(crate::identity::plan(policy, &facts).uid);
    for p in candidate_paths(policy, workdir) {
        let (st, r) = path_state(&p, &trust);
        if let Some(r) = r {
            facts.resolved.insert(p.clone(), r);
        }
        facts.paths.insert(p, st);
    }
    let mut never_writable: Vec<(u64, u64)> = crate::safepath::NEVER_WRITABLE
        .iter()
        .filter_map(|p| crate::safepath::inode(p, &crate::safepath::Trust::default()))
        .collect();
    crate::sort::sort_dedup(&mut never_writable);
    facts.never_writable = never_writable;
    facts.trust = trust;
    facts
}

/// [`resolve`], plus the CDI facts for the devices `opts` and the policy
/// request: the spec directories are scanned only when a device is
/// requested, then every node, mount and CUDA path the resolved devices
/// name is examined.
pub fn resolve_run(policy: &Policy, opts: &crate::plan::RunOptions) -> HostFacts {
    let mut facts = resolve(policy, opts.workdir.as_deref());
    let devices = crate::plan::devices_plan(policy, opts, &facts);
    if devices.requested.is_empty() {
        return facts;
    }
    let registry = crate::cdi::scan::scan(&devices.spec_dirs, &facts.trust);
    let names: Vec<String> = devices.requested.iter().map(|r| r.name.clone()).collect();
    let res = crate::cdi::resolve::resolve(&registry, &names);
    for (n, _) in &res.merged.nodes {
        for p in [n.path.as_str(), n.host_path()] {
            if let std::collections::btree_map::Entry::Vacant(v) =
                facts.cdi.nodes.entry(p.to_string())
            {
                v.insert(node_state(p));
            }
        }
    }
    let mut extra: Vec<String> = res
        .merged
        .mounts
        .iter()
        .map(|(m, _)| paths::normalize(&m.container_path))
        .collect();
    extra.extend(crate::cdi::CUDA_PATHS.iter().map(|p| p.to_string()));
    for p in extra {
        if let std::collections::btree_map::Entry::Vacant(v) = facts.paths.entry(p) {
            let (st, r) = path_state(v.key(), &facts.trust);
            if let Some(r) = r {
                facts.resolved.insert(v.key().clone(), r);
            }
            v.insert(st);
        }
    }
    facts.cdi.registry = registry;
    facts.cdi.scanned = true;
    facts.cdi.groups = current_groups();
    facts
}

/// `lstat` a device node path.
pub fn node_state(p: &str) -> Result<NodeStat, String> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(p) {
        Ok(m) => {
            let t = m.file_type();
            let kind = PathKind::of(t);
            Ok(NodeStat {
                kind,
                symlink: t.is_symlink(),
                major: u64::from(libc::major(m.rdev())),
                minor: u64::from(libc::minor(m.rdev())),
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
            })
        }
        Err(e) => Err(match e.kind() {
            std::io::ErrorKind::NotFound => "does not exist".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => crate::policy::io_cause(&e),
        }),
    }
}

/// The supplementary groups of this process (`Groups:` in
/// /proc/self/status; empty when unreadable).
pub fn current_groups() -> Vec<u32> {
    read_small("/proc/self/status")
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// getgroups(2).
pub fn getgroups() -> Vec<u32> {
    nix::unistd::getgroups()
        .map(|g| g.into_iter().map(nix::unistd::Gid::as_raw).collect())
        .unwrap_or_default()
}

pub fn nix_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

pub fn nix_gid() -> u32 {
    nix::unistd::getgid().as_raw()
}
