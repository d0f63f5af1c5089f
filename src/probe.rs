//! [`HostFacts`], what the `resolve` phase found on the host — Landlock
//! support, who we run as, the image's account files, the state of every
//! path the plan mentions, the environment — and the readers that find
//! each fact. `plan::build` takes the facts, so it stays pure and testable;
//! `resolve` decides which facts a policy needs.

use std::collections::BTreeMap;

use serde::Serialize;
use std::os::unix::ffi::OsStrExt;

// The kind of a resolved path is `safepath`'s; named here too for the
// callers that take it with the other host facts.
pub use crate::safepath::PathKind;

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

/// Everything about the host the plan depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub landlock: LandlockSupport,
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    /// The real, effective and saved user and group ids, when they are
    /// not all the same (a setuid wrapper, `setpriv --ruid` alone).
    pub mixed_ids: Option<MixedIds>,
    /// The image's `/etc/passwd` and `/etc/group` (None when absent).
    pub passwd: Option<String>,
    pub group: Option<String>,
    /// State of each path the plan mentions: kind, or why it is missing.
    pub paths: crate::sort::FastMap<String, Result<PathKind, String>>,
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
    pub resolved: crate::sort::FastMap<String, ResolvedPath>,
    /// The supervisor's supplementary groups, read when it starts
    /// unprivileged (as root it sets them; then they are not read).
    pub groups: Vec<u32>,
    /// Inodes of [`crate::safepath::NEVER_WRITABLE`] on this host.
    pub never_writable: Vec<(u64, u64)>,
    /// The paths the policy makes writable: links beneath them are not
    /// followed (see `safepath::Trust`).
    pub trust: crate::safepath::Trust,
    /// The mount table (read when the policy makes any path writable): a
    /// `read_write` directory must not have a kernel filesystem beneath it.
    pub mounts: Mounts,
    /// Why `/proc/self/mountinfo` could not be read, when it was needed.
    pub mounts_unknown: Option<String>,
    /// Other mounts of what the policy makes writable ([`Mounts::aliases`]):
    /// in `trust` too, so what root reads or creates after the policy's
    /// own paths are walked (CDI specs, nodes, hook paths) is judged by
    /// the directory, not by its spelling.
    pub writable_aliases: Vec<String>,
}

/// One line of `/proc/self/mountinfo`: where, and the filesystem type
/// when it is a kernel interface one (see
/// [`crate::safepath::KERNEL_FS_NAMES`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// The mount ID (mountinfo's first field).
    pub id: u64,
    /// The filesystem's device, `major:minor` as the table spells it.
    pub dev: Vec<u8>,
    /// The directory of that filesystem mounted here (`/` for a whole
    /// filesystem, the bound directory for a bind), escapes decoded.
    pub root: Vec<u8>,
    /// The mount point, escapes decoded; bytes, as the kernel has them.
    pub point: Vec<u8>,
    pub kernel_fs: Option<&'static str>,
    /// An overlay's upper directory (its `upperdir=` option, escapes
    /// decoded): where writes beneath the mount land.
    pub upper: Option<Vec<u8>>,
    /// The system tree (`safepath::NEVER_WRITABLE`) this mount shows
    /// again somewhere else, at or below its root (a bind of `/etc`, or
    /// of the whole root filesystem), or writes into (an overlay whose
    /// upper directory it is).
    pub exposes: Option<String>,
}

/// A system tree as spelled in [`crate::safepath::NEVER_WRITABLE`], and
/// the (device, inode) of the directory it leads to.
pub type Tree = (&'static str, (u64, u64));

impl Mount {
    /// What the mount is, for a message: its kernel filesystem, or the
    /// system tree it shows again.
    pub fn kind(&self) -> String {
        match (self.kernel_fs, &self.exposes) {
            (Some(fs), _) => fs.to_string(),
            (None, Some(tree)) => format!("{tree} (another mount of it)"),
            (None, None) => String::new(),
        }
    }

    /// The mount point for a message: non-UTF-8 bytes as `\xNN`, control
    /// characters escaped.
    pub fn shown(&self) -> String {
        crate::bytes::shown(std::ffi::OsStr::from_bytes(&self.point))
    }
}

/// This mount namespace's mount table, as far as the Landlock plan needs
/// it: a read-write directory must not have a kernel filesystem or
/// another mount of a system tree beneath it, or lie on the host's
/// devtmpfs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mounts {
    /// Every mount, in the table's order (a later mount at the same point
    /// lies on top).
    pub all: Vec<Mount>,
    /// The inode of every directory above a [`Mount::forbidden`] mount, as
    /// a walk from `/` finds it, with the index of that mount in `all`:
    /// the same directory reached through another mount (a bind) is the
    /// same Landlock object.
    pub above_forbidden: Vec<AboveForbidden>,
}

/// A directory's (device, inode) above a forbidden mount, and that
/// mount's index in [`Mounts::all`].
pub type AboveForbidden = ((u64, u64), usize);

impl Mount {
    /// Never beneath a read-write directory: a kernel filesystem, or
    /// another mount of a system tree.
    pub fn forbidden(&self) -> bool {
        self.kernel_fs.is_some() || self.exposes.is_some()
    }
}

impl Mounts {
    /// The mounts never beneath a read-write directory.
    pub fn forbidden(&self) -> impl Iterator<Item = &Mount> {
        self.all.iter().filter(|m| m.forbidden())
    }

    /// The mount with ID `id`.
    pub fn by_id(&self, id: u64) -> Option<&Mount> {
        self.all.iter().find(|m| m.id == id)
    }

    /// Every other place the directories `writable` (canonical) show up: a
    /// bind of one of them, or of a directory inside one, elsewhere (a
    /// volume mounted twice), or of a directory above one. For each, the
    /// mount it lies on gives its path within its filesystem; every mount
    /// of that filesystem whose root lies within that path shows part of
    /// it at its mount point, and one whose root lies above it shows all
    /// of it beneath its mount point. Mount points that are not UTF-8 no
    /// policy path can name, and are left out. `writable` is sorted.
    pub fn aliases(&self, writable: &[String]) -> Vec<String> {
        use crate::policy::paths::is_within_bytes;
        // `base` and a rest that is empty or starts with `/`.
        let join = |base: &[u8], rest: &[u8]| -> Vec<u8> {
            match (base, rest) {
                (b, []) => b.to_vec(),
                (b"/", r) => r.to_vec(),
                (b, r) => [b, r].concat(),
            }
        };
        // What of `path` lies below `prefix` (which it is within): empty,
        // or starting with `/`.
        let below = |path: &'_ [u8], prefix: &[u8]| -> Vec<u8> {
            let rest = match prefix {
                b"/" => path,
                p => path.get(p.len()..).unwrap_or_default(),
            };
            if rest == b"/" {
                Vec::new()
            } else {
                rest.to_vec()
            }
        };
        // Filesystems mounted more than once: only their directories show
        // up elsewhere (most tables have none; a table is some tens of
        // mounts, so pairs are cheaper than a sort).
        let mut shared: Vec<&[u8]> = Vec::new();
        for (i, m) in self.all.iter().enumerate() {
            let again = self
                .all
                .get(i + 1..)
                .unwrap_or_default()
                .iter()
                .any(|o| o.dev == m.dev);
            if again && !shared.contains(&m.dev.as_slice()) {
                shared.push(&m.dev);
            }
        }
        let mut out = Vec::new();
        if shared.is_empty() {
            return out;
        }
        // Where each writable path's files are: within the filesystem its
        // mount holds, and all of every mount beneath it (a volume mounted
        // under a writable directory is as writable: Landlock's rights
        // reach into it).
        let mut starts: Vec<(&Mount, Vec<u8>)> = Vec::new();
        for w in writable {
            if let Some(m) = self.holding(w) {
                starts.push((m, join(&m.root, &below(w.as_bytes(), &m.point))));
            }
            for s in &self.all {
                if s.point.as_slice() != w.as_bytes() && is_within_bytes(&s.point, w.as_bytes()) {
                    starts.push((s, s.root.clone()));
                }
            }
        }
        for (m, inner) in starts {
            if !shared.contains(&m.dev.as_slice()) {
                continue;
            }
            // Its own mount shows it where it is.
            for o in self.all.iter().filter(|o| o.dev == m.dev && o.id != m.id) {
                let alias = if is_within_bytes(&o.root, &inner) {
                    o.point.clone()
                } else if is_within_bytes(&inner, &o.root) {
                    join(&o.point, &below(&inner, &o.root))
                } else {
                    continue;
                };
                if let Ok(a) = String::from_utf8(alias) {
                    if writable.binary_search(&a).is_err() {
                        out.push(a);
                    }
                }
            }
        }
        crate::sort::sort_dedup(&mut out);
        out
    }

    /// The mount `path` (canonical) lies on by its spelling: the deepest
    /// mount point at or above it, the last of those mounted there. (A
    /// mount hidden by a later one above it is not told apart; the mount
    /// ID of the opened path is, where the kernel gives one.)
    pub fn holding(&self, path: &str) -> Option<&Mount> {
        let mut best: Option<&Mount> = None;
        for m in &self.all {
            if crate::policy::paths::is_within_bytes(path.as_bytes(), &m.point)
                && best.is_none_or(|b| m.point.len() >= b.point.len())
            {
                best = Some(m);
            }
        }
        best
    }
}

/// The most of `/proc/self/mountinfo` read: a table larger than this is
/// an error, never a partial answer.
const MAX_MOUNTINFO_BYTES: u64 = 16 * 1024 * 1024;

/// This mount namespace's [`Mounts`], from `/proc/self/mountinfo`, or why
/// it could not be read; `trees` are the system trees found on this host.
#[inline(never)]
pub fn mounts(trees: &[Tree]) -> Result<Mounts, String> {
    use std::io::Read;
    let path = "/proc/self/mountinfo";
    let f = crate::safepath::open_read(path)
        .map_err(|e| format!("cannot read {path}: {}", crate::error::io_cause(&e)))?;
    // Room for a pod's table up front: each read of a seq_file is a
    // syscall, and std's reads start at 32 bytes. Bytes, not text: a mount
    // point need not be UTF-8.
    let mut text = Vec::with_capacity(16 * 1024);
    f.take(MAX_MOUNTINFO_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read {path}: {}", crate::error::io_cause(&e)))?;
    if text.len() as u64 > MAX_MOUNTINFO_BYTES {
        return Err(format!("{path} is larger than {MAX_MOUNTINFO_BYTES} bytes"));
    }
    let mut all =
        parse_mounts(&text).map_err(|line| format!("{path}: cannot parse line {line}"))?;
    mark_exposed(&mut all, trees);
    let above_forbidden = above_forbidden(&all)?;
    Ok(Mounts {
        all,
        above_forbidden,
    })
}

/// Marks each mount that shows a system tree again elsewhere, or writes
/// into one. Where each tree lies is read from the table itself: the
/// mount holding it (the deepest point at or above it, the last listed
/// there), and the tree's directory within that filesystem (the mount's
/// root joined with the rest of the path). Any other mount of the same
/// device whose root is that directory or above it shows the tree beneath
/// its own point: a bind of `/etc` at `/data/etc`, or of `/` at
/// `/data/host`. A tree that is a link (`/bin` to `usr/bin`) is looked
/// for where it leads too, when some mount could show it. An overlay
/// whose upper directory is a tree (by spelling or by inode) writes into
/// it. A bind of a directory inside a tree (`/etc/app`) is not marked: a
/// read-write rule may name such a directory itself.
fn mark_exposed(all: &mut [Mount], trees: &[Tree]) {
    use crate::policy::paths::is_within_bytes;
    let holder = |all: &[Mount], t: &[u8]| {
        (0..all.len())
            .filter(|&i| is_within_bytes(t, &all[i].point))
            .max_by_key(|&i| (all[i].point.len(), i))
    };
    let mark = |all: &mut [Mount], tree: &str, spelled: &[u8], h: usize| {
        let rest = spelled.get(all[h].point.len()..).unwrap_or_default();
        let mut inside = all[h].root.clone();
        if inside.last() == Some(&b'/') && rest.first() == Some(&b'/') {
            inside.pop();
        }
        inside.extend_from_slice(rest);
        let dev = all[h].dev.clone();
        for (i, m) in all.iter_mut().enumerate() {
            if i != h
                && m.exposes.is_none()
                && m.kernel_fs.is_none()
                && m.dev == dev
                && is_within_bytes(&inside, &m.root)
            {
                m.exposes = Some(tree.to_string());
            }
        }
    };
    let holders: Vec<(&str, usize)> = crate::safepath::NEVER_WRITABLE
        .iter()
        .filter_map(|&t| holder(all, t.as_bytes()).map(|h| (t, h)))
        .collect();
    // Only a mount other than the trees' own, on a device one of those is
    // on, can show a tree: most hosts and pods have none, and pay for
    // nothing more. Where the trees that are links lead (/bin to
    // /usr/bin) is then resolved too; the trees are root's, on `/`, which
    // no policy makes writable, so resolving them races no one.
    let shared = all.iter().enumerate().any(|(i, m)| {
        m.kernel_fs.is_none()
            && holders.iter().all(|&(_, h)| h != i)
            && holders.iter().any(|&(_, h)| all[h].dev == m.dev)
    });
    if shared {
        for &(tree, h) in &holders {
            mark(all, tree, tree.as_bytes(), h);
        }
        for tree in crate::safepath::NEVER_WRITABLE {
            let Ok(c) = std::fs::canonicalize(tree) else {
                continue;
            };
            let c = c.as_os_str().as_bytes();
            if c != tree.as_bytes() {
                if let Some(h) = holder(all, c) {
                    let label = format!(
                        "{tree} ({})",
                        crate::bytes::shown(std::ffi::OsStr::from_bytes(c))
                    );
                    mark(all, &label, c, h);
                }
            }
        }
    }
    for m in all.iter_mut().filter(|m| m.exposes.is_none()) {
        let Some(upper) = &m.upper else { continue };
        let spelled = crate::policy::paths::normalize(&String::from_utf8_lossy(upper));
        let by_spelling = crate::safepath::NEVER_WRITABLE
            .iter()
            .find(|t| **t == spelled)
            .copied();
        let by_inode = || {
            let st = nix::sys::stat::stat(upper.as_slice()).ok()?;
            #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
            let id = (st.st_dev as u64, st.st_ino as u64);
            trees.iter().find(|t| t.1 == id).map(|t| t.0)
        };
        m.exposes = by_spelling.or_else(by_inode).map(str::to_string);
    }
}

/// The inode of every directory above each forbidden mount's point in
/// `all` ([`Mount::forbidden`]), with that mount's index. Walked from `/` a component at a
/// time (`openat` with `O_PATH|O_NOFOLLOW|O_DIRECTORY`, so no length limit
/// and no link followed), each directory once. A mount whose point is
/// not there to walk to is covered by a later mount and skipped; any
/// other failure is an error: the directory's inode could be a rule's.
fn above_forbidden(all: &[Mount]) -> Result<Vec<AboveForbidden>, String> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::{Mode, fstat};
    let mut kernel: Vec<usize> = (0..all.len()).filter(|&i| all[i].forbidden()).collect();
    if kernel.is_empty() {
        return Ok(Vec::new());
    }
    kernel.sort_by(|&a, &b| all[a].point.cmp(&all[b].point));
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let id = |st: &libc::stat| {
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        (st.st_dev as u64, st.st_ino as u64)
    };
    let failed = |m: &Mount, at: &[u8], e: nix::errno::Errno| {
        format!(
            "cannot look up {}, above the {} mount at {}: {}",
            crate::bytes::shown(std::ffi::OsStr::from_bytes(at)),
            m.kind(),
            m.shown(),
            crate::error::io_cause(&std::io::Error::from(e))
        )
    };
    let root = openat(nix::fcntl::AT_FDCWD, "/", flags, Mode::empty())
        .map_err(|e| failed(&all[kernel[0]], b"/", e))?;
    let root_st = fstat(&root).map_err(|e| failed(&all[kernel[0]], b"/", e))?;
    let mut out = vec![(id(&root_st), kernel[0])];
    // The directories open on the way to the last mount point: (the
    // component's end in that point, descriptor).
    let mut stack: Vec<(Vec<u8>, std::os::fd::OwnedFd)> = vec![(b"/".to_vec(), root)];
    'mounts: for &i in &kernel {
        let m = &all[i];
        let recorded = out.len();
        let comps: Vec<&[u8]> = m
            .point
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        // Strict ancestors only: every component but the last.
        let upto = comps.len().saturating_sub(1);
        let mut prefix = Vec::with_capacity(m.point.len());
        for (k, c) in comps[..upto].iter().enumerate() {
            prefix.push(b'/');
            prefix.extend_from_slice(c);
            if stack.get(k + 1).is_some_and(|(p, _)| *p == prefix) {
                continue;
            }
            stack.truncate(k + 1);
            let parent = stack
                .last()
                .map(|(_, fd)| fd)
                .ok_or_else(|| failed(m, &prefix, nix::errno::Errno::ENOENT))?;
            let fd = match openat(parent, std::ffi::OsStr::from_bytes(c), flags, Mode::empty()) {
                Ok(fd) => fd,
                // The table spells a mount by the names of the directories
                // its point lies in; one not there now (or something else
                // in its place) under a mount the table lists after this
                // one, at or above that directory, is covered by it: no
                // path leads into it, so nothing above it matters. Only
                // what this walk recorded is taken back. Without such a
                // mount the name changed since the table was read (a
                // rename by whoever may write there): an error, never a
                // skip.
                Err(
                    nix::errno::Errno::ENOENT
                    | nix::errno::Errno::ENOTDIR
                    | nix::errno::Errno::ELOOP,
                ) if covered_later(all, i, &prefix) => {
                    out.truncate(recorded);
                    continue 'mounts;
                }
                Err(e) => return Err(failed(m, &prefix, e)),
            };
            let st = fstat(&fd).map_err(|e| failed(m, &prefix, e))?;
            out.push((id(&st), i));
            stack.push((prefix.clone(), fd));
        }
    }
    Ok(out)
}

/// A mount listed after `all[i]` has its point at or above `dir` (a
/// directory above `all[i]`'s point): mounted later, it covers `dir`.
fn covered_later(all: &[Mount], i: usize, dir: &[u8]) -> bool {
    all.iter()
        .skip(i + 1)
        .any(|m| crate::policy::paths::is_within_bytes(dir, &m.point))
}

/// The mounts of a mountinfo text; `Err` names the first line (from 1)
/// that is not a mountinfo line.
pub fn parse_mounts(text: &[u8]) -> Result<Vec<Mount>, usize> {
    let mut out = Vec::new();
    // A line is split by ASCII spaces only; the kernel escapes the rest.
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        // ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
        let mut fields = line.split(|&b| b == b' ');
        let id = fields
            .next()
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or(i + 1)?;
        let dev = fields.nth(1).ok_or(i + 1)?;
        let root = fields.next().ok_or(i + 1)?;
        let point = fields.next().ok_or(i + 1)?;
        let mut rest = fields.skip_while(|f| *f != b"-");
        let fstype = rest.nth(1).ok_or(i + 1)?;
        // The super options (after the source): an overlay's upperdir.
        let upper = (fstype == b"overlay")
            .then(|| rest.nth(1))
            .flatten()
            .and_then(|opts| {
                opts.split(|&b| b == b',')
                    .find_map(|o| o.strip_prefix(b"upperdir="))
                    .map(unescape_mount_field)
            });
        out.push(Mount {
            id,
            dev: dev.to_vec(),
            root: unescape_mount_field(root),
            point: unescape_mount_field(point),
            kernel_fs: crate::safepath::KERNEL_FS_NAMES
                .iter()
                .find(|n| n.as_bytes() == fstype)
                .copied(),
            upper,
            exposes: None,
        });
    }
    Ok(out)
}

/// A mountinfo field with the kernel's octal escapes (`\040` for a space,
/// `\011`, `\012`, `\134`) decoded.
fn unescape_mount_field(b: &[u8]) -> Vec<u8> {
    // Almost every field has no escape: copied whole.
    if crate::bytes::find(b, b'\\').is_none() {
        return b.to_vec();
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // `\` and three octal digits, the first at most 3 (one byte).
        let octal = b.get(i + 1..i + 4).filter(|d| {
            b[i] == b'\\'
                && (b'0'..=b'3').contains(&d[0])
                && d.iter().all(|c| (b'0'..=b'7').contains(c))
        });
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |v, c| v * 8 + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// A path's canonical form and inode, as `safepath::open` found them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedPath {
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    /// On a kernel interface filesystem (procfs, sysfs, cgroupfs, ...),
    /// wherever mounted; asked only of paths a policy would make writable
    /// (`None`: not asked).
    pub kernel_fs: Option<bool>,
    /// The ID of the mount it lies on (`statx`), asked of the same paths;
    /// `None` where the kernel does not say.
    pub mount_id: Option<u64>,
}

/// What the host says about the CDI devices a plan requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CdiFacts {
    /// The spec directories were scanned (only done when devices are
    /// requested).
    pub scanned: bool,
    pub registry: crate::cdi::scan::Registry,
    /// Every device node path the resolved devices name, by
    /// [`node_state`].
    pub nodes: BTreeMap<String, Result<NodeStat, String>>,
    /// Every host path that differs from its node's path, by
    /// [`node_state`] as a node to be copied.
    pub host_nodes: BTreeMap<String, Result<NodeStat, String>>,
    /// Missing nodes the fallback would refuse to create where they are
    /// to be, with why ([`crate::cdi::fallback::node_creation_refusal`]).
    pub not_created: BTreeMap<String, String>,
    /// The hooks whose emulation would be refused on this host, each with
    /// the cause and hint ([`crate::cdi::fallback::emulation_refusal`]).
    pub hook_refusals: Vec<(crate::cdi::spec::Hook, (String, Option<String>))>,
    /// The supervisor's supplementary groups.
    pub groups: Vec<u32>,
}

/// A device node path as `lstat` sees it (the node itself is not
/// followed).
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
    /// `(st_dev, st_ino)`: the object a device rule is later added on
    /// must be this one.
    #[serde(skip)]
    pub inode: (u64, u64),
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
        // The first value, as getenv(3) returns it (`env::lookup`).
        self.env
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.to_string_lossy())
    }
}

/// Ask the kernel which Landlock ABI it offers.
pub fn landlock_abi() -> LandlockSupport {
    LandlockSupport::from_result(crate::sys::landlock_abi())
}

/// What [`path_state_open`] found.
pub struct Found {
    pub state: Result<PathKind, String>,
    pub resolved: Option<ResolvedPath>,
    /// The descriptor the path resolved to.
    pub fd: Option<std::os::fd::OwnedFd>,
    /// A link was followed on the way.
    pub via_link: bool,
}

/// Kind of a path, resolved as the supervisor will open it (links followed
/// only where the workload cannot have planted them; see `safepath`), what
/// it resolved to, its descriptor and whether a link was followed.
/// `writable`: the policy would make it writable, so ask which
/// filesystem it is on (one `fstatfs`; an unreadable answer counts as a
/// kernel filesystem, so the rule is refused rather than granted).
pub fn path_state_open(p: &str, walker: &mut crate::safepath::Walker<'_>, writable: bool) -> Found {
    match walker.open(p) {
        Ok(r) => {
            let kernel_fs = writable.then(|| crate::safepath::on_kernel_fs(&r.fd).unwrap_or(true));
            // Which mount a writable directory lies on (a devtmpfs is
            // refused); a kernel that cannot say leaves it to the spelling.
            let mount_id = (writable && r.kind == PathKind::Directory)
                .then(|| {
                    crate::sys::mount_id(std::os::fd::AsFd::as_fd(&r.fd))
                        .ok()
                        .flatten()
                })
                .flatten();
            Found {
                state: Ok(r.kind),
                resolved: Some(ResolvedPath {
                    path: r.path,
                    dev: r.dev,
                    ino: r.ino,
                    kernel_fs,
                    mount_id,
                }),
                fd: Some(r.fd),
                via_link: r.via_link,
            }
        }
        Err(e) => Found {
            state: Err(e.cause()),
            resolved: None,
            fd: None,
            via_link: false,
        },
    }
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
    let f = crate::safepath::open_read(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut s = String::with_capacity(crate::policy::capacity_for(
        meta.len(),
        crate::policy::MAX_POLICY_BYTES,
    ));
    f.take(crate::policy::MAX_POLICY_BYTES)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// What [`node_state`] says of a path where nothing is.
pub const MISSING: &str = "does not exist";

/// The device node at `p`, by [`Walker::lstat`](crate::safepath::Walker::lstat):
/// its directory resolved without following a link the workload could
/// have planted, the node itself not followed. A name someone other than
/// root could change is refused: it would choose which node is granted,
/// or for a CDI `hostPath` (`host`), which host node is copied.
pub fn node_state(
    p: &str,
    walker: &mut crate::safepath::Walker<'_>,
    host: bool,
) -> Result<NodeStat, String> {
    let (st, untrusted) = walker.lstat(p).map_err(|e| {
        if e.is_not_found() {
            MISSING.to_string()
        } else {
            e.cause()
        }
    })?;
    if let Some(why) = untrusted {
        let what = if host {
            "which host node is copied"
        } else {
            "which node is granted"
        };
        return Err(format!(
            "is not used: {why}, so the workload could choose {what}"
        ));
    }
    let fmt = st.st_mode & libc::S_IFMT;
    let kind = crate::safepath::kind_of(st.st_mode);
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let rdev = st.st_rdev as u64;
    Ok(NodeStat {
        kind,
        symlink: fmt == libc::S_IFLNK,
        major: u64::from(libc::major(rdev)),
        minor: u64::from(libc::minor(rdev)),
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        inode: (st.st_dev as u64, st.st_ino as u64),
    })
}

/// getgroups(2).
pub fn getgroups() -> Vec<u32> {
    nix::unistd::getgroups()
        .map(|g| g.into_iter().map(nix::unistd::Gid::as_raw).collect())
        .unwrap_or_default()
}

/// Real, effective and saved ids: `uid` and `gid`, each in that order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MixedIds {
    pub uid: [u32; 3],
    pub gid: [u32; 3],
}

/// This process's real uid and gid, and all its real, effective and
/// saved ids when they differ (`None` when each of uid and gid is one
/// id): one `getresuid` and one `getresgid`. Should those fail, `getuid`
/// and `getgid` are all there is to go on.
pub fn process_ids() -> (u32, u32, Option<MixedIds>) {
    let (Ok(u), Ok(g)) = (nix::unistd::getresuid(), nix::unistd::getresgid()) else {
        return (nix_uid(), nix_gid(), None);
    };
    let ids = MixedIds {
        uid: [u.real.as_raw(), u.effective.as_raw(), u.saved.as_raw()],
        gid: [g.real.as_raw(), g.effective.as_raw(), g.saved.as_raw()],
    };
    let one = |v: [u32; 3]| v.iter().all(|&x| x == v[0]);
    let mixed = (!one(ids.uid) || !one(ids.gid)).then_some(ids);
    (ids.uid[0], ids.gid[0], mixed)
}

pub fn nix_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

pub fn nix_gid() -> u32 {
    nix::unistd::getgid().as_raw()
}

#[cfg(test)]
mod mount_tests {
    use super::*;

    /// Other mounts of a writable directory: a bind of it, of a directory
    /// within it, of a directory above it, and the whole filesystem again;
    /// not a bind beside it, nor one of another filesystem.
    #[test]
    fn aliases_are_the_other_mounts_of_a_writable_directory() {
        let text = "\
24 1 8:1 / / rw - ext4 /dev/sda1 rw
30 24 8:2 /vols/a /data rw - ext4 /dev/sda2 rw
31 24 8:2 /vols/a/cdi /etc/cdi rw - ext4 /dev/sda2 rw
32 24 8:2 /vols /mnt/vols rw - ext4 /dev/sda2 rw
33 24 8:2 / /mnt/all rw - ext4 /dev/sda2 rw
34 24 8:2 /vols/ab /srv/beside rw - ext4 /dev/sda2 rw
35 24 8:3 /vols/a /srv/other rw - ext4 /dev/sda3 rw
36 24 0:40 / /tmp rw - tmpfs tmpfs rw
37 24 0:40 /x /srv/tmpx rw - tmpfs tmpfs rw
38 24 8:2 /vols/a/sub/\\342\\200\\250 /srv/odd rw - ext4 /dev/sda2 rw
39 24 8:2 /vols/a/sub /srv/\\377 rw - ext4 /dev/sda2 rw
";
        let mounts = Mounts {
            all: parse_mounts(text.as_bytes()).unwrap(),
            above_forbidden: Vec::new(),
        };
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            mounts.aliases(&w(&["/data/x"])),
            ["/mnt/all/vols/a/x", "/mnt/vols/a/x"].map(String::from)
        );
        // A writable mount point itself: everything of it elsewhere.
        assert_eq!(
            mounts.aliases(&w(&["/data"])),
            ["/etc/cdi", "/mnt/all/vols/a", "/mnt/vols/a", "/srv/odd"].map(String::from)
        );
        assert_eq!(
            mounts.aliases(&w(&["/tmp"])),
            ["/srv/tmpx"].map(String::from)
        );
        assert_eq!(mounts.aliases(&w(&["/tmp/y"])), Vec::<String>::new());
        // Controls: a directory on the root filesystem, which nothing else
        // mounts, and none at all.
        assert_eq!(mounts.aliases(&w(&["/home/u"])), Vec::<String>::new());
        assert_eq!(mounts.aliases(&[]), Vec::<String>::new());
    }

    #[test]
    fn a_volume_mounted_beneath_a_writable_directory_is_writable_wherever_it_shows() {
        let text = "\
24 1 8:1 / / rw - ext4 /dev/sda1 rw
50 24 8:4 /pv /data/vol rw - ext4 /dev/sdb rw
51 24 8:4 /pv/sub /srv/sub ro - ext4 /dev/sdb rw
52 24 8:4 / /mnt/disk ro - ext4 /dev/sdb rw
53 24 8:4 /other /srv/other ro - ext4 /dev/sdb rw
";
        let mounts = Mounts {
            all: parse_mounts(text.as_bytes()).unwrap(),
            above_forbidden: Vec::new(),
        };
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            mounts.aliases(&w(&["/data"])),
            ["/mnt/disk/pv", "/srv/sub"].map(String::from)
        );
        // Control: a writable directory beside the volume's mount point.
        assert_eq!(mounts.aliases(&w(&["/home"])), Vec::<String>::new());
    }

    fn kernel(text: &str) -> Vec<(String, &'static str)> {
        parse_mounts(text.as_bytes())
            .unwrap()
            .iter()
            .filter_map(|m| m.kernel_fs.map(|k| (m.shown(), k)))
            .collect()
    }

    #[test]
    fn mounts_are_read_from_mountinfo_lines() {
        let text = "\
22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw
23 1 0:22 / /sys rw - sysfs sysfs rw
24 1 8:1 / / rw shared:1 master:2 - ext4 /dev/sda1 rw
25 24 0:23 / /run/a\\040b rw - proc proc rw
26 24 0:24 / /dev rw - devtmpfs udev rw
27 24 0:25 / /tmp rw - tmpfs tmpfs rw
28 24 0:26 /x /srv/back\\134slash rw - cgroup2 cgroup2 rw
29 24 0:27 / /srv/new\\012line\\377 rw - proc proc rw
";
        assert_eq!(
            kernel(text),
            [
                ("/proc".to_string(), "proc"),
                ("/sys".to_string(), "sysfs"),
                ("/run/a b".to_string(), "proc"),
                ("/dev".to_string(), "devtmpfs"),
                ("/srv/back\\slash".to_string(), "cgroup2"),
                ("/srv/new\\nline\\xff".to_string(), "proc"),
            ]
        );
        let all = parse_mounts(text.as_bytes()).unwrap();
        assert_eq!(all.len(), 8);
        assert_eq!(all[7].point, b"/srv/new\nline\xff");
        // Not an escape: a backslash followed by fewer than three octal
        // digits, or by a value above 0o377, stays as it is.
        let odd =
            parse_mounts(b"1 1 0:1 / /a\\40 rw - tmpfs t rw\n2 1 0:1 / /b\\400 rw - tmpfs t rw\n")
                .unwrap();
        assert_eq!(odd[0].point, b"/a\\40");
        assert_eq!(odd[1].point, b"/b\\400");
    }

    #[test]
    fn a_line_that_is_not_mountinfo_is_an_error() {
        assert_eq!(parse_mounts(b"1 2 3\n"), Err(1));
        assert_eq!(
            parse_mounts(b"24 1 8:1 / / rw - ext4 /dev/sda1 rw\n25 1 0:1 / /x rw\n"),
            Err(2)
        );
        assert_eq!(parse_mounts(b""), Ok(Vec::new()));
    }

    #[test]
    fn the_mount_holding_a_path_is_the_deepest_and_last() {
        let text = "\
1 0 0:1 / / rw - ext4 r rw
2 1 0:2 / /dev rw - devtmpfs d rw
3 2 0:3 / /dev/shm rw - tmpfs s rw
4 1 0:4 / /dev rw - tmpfs t rw
";
        let m = Mounts {
            all: parse_mounts(text.as_bytes()).unwrap(),
            above_forbidden: Vec::new(),
        };
        let at = |p: &str| m.holding(p).map(|m| m.shown());
        assert_eq!(at("/dev/shm/x").as_deref(), Some("/dev/shm"));
        assert_eq!(at("/devx").as_deref(), Some("/"));
        // Two mounts at /dev: the later one is on top.
        assert_eq!(m.holding("/dev/net").and_then(|m| m.kernel_fs), None);
    }

    #[test]
    fn another_mount_of_a_system_tree_is_marked() {
        let text = "\
1 0 0:50 / / rw - overlay o rw
2 1 0:21 / /proc rw - proc proc rw
3 1 0:60 / /dev rw - tmpfs t rw
4 1 0:50 /etc /data/etc rw - overlay o rw
5 1 0:50 / /host rw - overlay o rw
6 1 0:50 /etc/app /data/app rw - overlay o rw
7 1 8:1 /var/lib/vol /data/vol rw - ext4 /dev/sda1 rw
8 1 0:60 / /data/dev rw - tmpfs t rw
9 1 0:50 /etcetera /data/etcetera rw - overlay o rw
10 1 0:21 / /data/proc rw - proc proc rw
";
        let mut all = parse_mounts(text.as_bytes()).unwrap();
        mark_exposed(&mut all, &[]);
        let got: Vec<(String, Option<&str>)> = all
            .iter()
            .map(|m| (m.shown(), m.exposes.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("/".to_string(), None),
                ("/proc".to_string(), None),
                ("/dev".to_string(), None),
                // A bind of /etc, of the whole root filesystem (it shows
                // every tree; the first in the list names it), of /dev.
                ("/data/etc".to_string(), Some("/etc")),
                ("/host".to_string(), Some("/")),
                // A directory inside a tree, another disk's volume, a
                // name that only starts like a tree: not marked.
                ("/data/app".to_string(), None),
                ("/data/vol".to_string(), None),
                ("/data/dev".to_string(), Some("/dev")),
                ("/data/etcetera".to_string(), None),
                // A second procfs is a kernel filesystem already.
                ("/data/proc".to_string(), None),
            ]
        );
        assert!(all[3].forbidden() && all[9].forbidden() && !all[5].forbidden());
        // A tree under a mount with a root of its own: /usr on its own
        // filesystem, bound again at /data/usr.
        let text = "\
1 0 8:1 / / rw - ext4 a rw
2 1 8:2 /usr-root /usr rw - ext4 b rw
3 1 8:2 /usr-root /data/usr rw - ext4 b rw
4 1 8:2 / /data/whole rw - ext4 b rw
5 1 8:2 /other /data/other rw - ext4 b rw
";
        let mut all = parse_mounts(text.as_bytes()).unwrap();
        mark_exposed(&mut all, &[]);
        let got: Vec<Option<&str>> = all.iter().map(|m| m.exposes.as_deref()).collect();
        assert_eq!(got, [None, None, Some("/usr"), Some("/usr"), None]);
    }

    #[test]
    fn an_overlay_writing_into_a_system_tree_is_marked() {
        // Upper directories by spelling (escapes decoded, a trailing
        // slash) and by inode: a directory standing in for /etc here.
        let d = std::env::temp_dir().join(format!("overlay-upper-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let st = nix::sys::stat::stat(&d).unwrap();
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        let trees = [("/etc", (st.st_dev as u64, st.st_ino as u64))];
        let text = format!(
            "\
1 0 0:50 / / rw - ext4 r rw
2 1 0:51 / /a rw - overlay ov rw,lowerdir=/l,upperdir=/usr/,workdir=/w
3 1 0:52 / /b rw - overlay ov rw,lowerdir=/l,upperdir={},workdir=/w
4 1 0:53 / /c rw - overlay ov rw,lowerdir=/etc,upperdir=/tmp/up,workdir=/w
5 1 0:54 / /d rw - overlay ov rw,lowerdir=/l,upperdir=/usr/local\\054x,workdir=/w
6 1 0:55 / /e rw - tmpfs t rw,upperdir=/etc
",
            d.display()
        );
        let mut all = parse_mounts(text.as_bytes()).unwrap();
        assert_eq!(all[4].upper.as_deref(), Some(&b"/usr/local,x"[..]));
        assert_eq!(all[5].upper, None, "only an overlay has an upper directory");
        mark_exposed(&mut all, &trees);
        let got: Vec<Option<&str>> = all.iter().map(|m| m.exposes.as_deref()).collect();
        // The upper directory is where writes land: a lower /etc is only
        // read (writes copy up), and /usr/local is no tree.
        assert_eq!(got, [None, Some("/usr"), Some("/etc"), None, None, None]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn inode(fd: &std::os::fd::OwnedFd) -> (u64, u64) {
        let st = nix::sys::stat::fstat(fd).unwrap();
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        (st.st_dev as u64, st.st_ino as u64)
    }

    /// Every directory above a kernel mount's point is found, however
    /// long the path (past PATH_MAX, where a path lookup fails), the
    /// point itself is not, and a link on the way is an error.
    #[test]
    fn the_directories_above_a_kernel_mount_are_walked_to() {
        use nix::fcntl::{OFlag, open, openat};
        use nix::sys::stat::{Mode, mkdirat};
        let base = std::env::temp_dir().join(format!("above-kernel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut fd = open(&base, flags, Mode::empty()).unwrap();
        let mut point = base.as_os_str().as_bytes().to_vec();
        let mut want = Vec::new();
        let name = "d".repeat(200);
        for _ in 0..24 {
            want.push(inode(&fd));
            mkdirat(&fd, name.as_str(), Mode::from_bits_truncate(0o755)).unwrap();
            fd = openat(&fd, name.as_str(), flags, Mode::empty()).unwrap();
            point.push(b'/');
            point.extend_from_slice(name.as_bytes());
        }
        assert!(point.len() > 4096);
        let mount = |point: Vec<u8>| Mount {
            id: 7,
            point,
            kernel_fs: Some("proc"),
            ..Mount::default()
        };
        let found: Vec<(u64, u64)> = above_forbidden(&[mount(point.clone())])
            .unwrap()
            .into_iter()
            .map(|(id, i)| {
                assert_eq!(i, 0);
                id
            })
            .collect();
        for w in &want {
            assert!(found.contains(w), "{w:?} missing");
        }
        assert!(!found.contains(&inode(&fd)), "the mount point itself");
        // A point whose directories are not there (or are a link) is
        // covered by a later mount: skipped, and what its walk recorded
        // is taken back; the other mounts' directories stay.
        std::os::unix::fs::symlink(&base, base.join("link")).unwrap();
        let mut through = base.join("link").as_os_str().as_bytes().to_vec();
        through.extend_from_slice(b"/x/p");
        let mut gone = base.join("gone").as_os_str().as_bytes().to_vec();
        gone.extend_from_slice(b"/x/p");
        // Not covered by any mount listed later: the name changed since
        // the table was read, an error.
        let err = above_forbidden(&[mount(gone.clone())]).unwrap_err();
        assert!(err.contains("cannot look up"), "{err}");
        let cover = Mount {
            id: 9,
            point: base.as_os_str().as_bytes().to_vec(),
            ..Mount::default()
        };
        let found =
            above_forbidden(&[mount(through), mount(gone), mount(point.clone()), cover]).unwrap();
        assert!(found.iter().all(|(_, i)| *i == 2), "{found:?}");
        for w in &want {
            assert!(found.iter().any(|(id, _)| id == w), "{w:?} missing");
        }
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn this_hosts_mount_table_has_its_proc_and_the_root_above_it() {
        let m = mounts(&[]).unwrap();
        assert!(
            m.all
                .iter()
                .any(|m| m.point == b"/proc" && m.kernel_fs == Some("proc")),
            "{m:?}"
        );
        let st = nix::sys::stat::lstat("/").unwrap();
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        let root = (st.st_dev as u64, st.st_ino as u64);
        assert!(m.above_forbidden.iter().any(|(id, _)| *id == root), "{m:?}");
    }
}
