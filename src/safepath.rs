//! Resolving paths the supervisor opens with privilege, without trusting
//! links the workload could have planted.
//!
//! The supervisor usually starts as root and opens policy paths, the
//! workdir, CDI nodes and mounts, the `--report` file and the policy file
//! before it drops privilege. Anything beneath a directory the workload can
//! write may have been replaced by the workload on an earlier launch (a
//! container restart keeps its volumes), so a symlink found there must not
//! steer a rule to `/`.
//!
//! [`open`] walks a path one component at a time from `/`, each step an
//! `openat(O_PATH | O_NOFOLLOW)` relative to the directory before it, so no
//! link is ever followed by the kernel. When a component is a symlink it is
//! followed only when it cannot have been planted by the workload:
//!
//! - the link is owned by root;
//! - every directory walked so far (the link's parent and all above it) is
//!   owned by root and cannot be written by anyone else: no group/other
//!   write bit, unless it sits on a read-only mount or is sticky (in
//!   `/tmp`, 1777, others may add names but not rename or remove root's,
//!   and each entry's owner is checked in turn);
//! - its own directory is not a sticky one others may write: anyone may
//!   move a link of root's in there from a directory they can write (a
//!   rename needs no ownership of what it moves, except for a directory);
//! - none of those directories is, or lies beneath, a path the policy makes
//!   writable ([`Trust::writable`]);
//! - it is not a procfs "magic link" (`/proc/<pid>/root`, `fd/N`, `cwd`,
//!   `exe`): those jump to objects rather than names. `/proc/self` and
//!   `/proc/thread-self` are plain links and are followed.
//!
//! This is systemd's rule for link transitions (`chase()` with `CHASE_SAFE`)
//! made stricter: the supervisor's own uid is not trusted, since when it
//! starts unprivileged it shares that uid with the workload. Merged-`/usr`
//! links (`/lib -> usr/lib`), `/var/run -> /run` and Kubernetes ConfigMap
//! links (`policy.yaml -> ..data/policy.yaml` on a read-only mount) pass.
//!
//! The result carries the canonical path (no links, no `.`/`..`) and the
//! inode, so checks such as "`/` is never writable" compare the object that
//! was opened, never the spelling.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::rc::Rc;

use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat};
use nix::sys::stat::Mode;
use serde::Serialize;

use crate::policy::paths;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
/// What kind of file a path names (`Missing`: none).
pub enum PathKind {
    Directory,
    File,
    CharDevice,
    BlockDevice,
    Socket,
    Fifo,
    Missing,
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

/// At most this many links per resolution (the kernel's own limit).
const MAX_LINKS: u32 = 40;

/// `PROC_SUPER_MAGIC` from `<linux/magic.h>`.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// What a walk needs to know about the policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// Paths the workload may write (normalized `read_write` rules and the
    /// workdir rule, spelled and resolved): a link beneath one of them is
    /// never followed, whoever owns it now.
    pub writable: Vec<String>,
    /// The uid the workload will run as, when known: never a trusted
    /// owner, whatever else is true of it.
    pub workload_uid: Option<u32>,
}

/// The kernel's overflow uid when this process runs in a user namespace
/// other than the initial one: files whose owner is not mapped into the
/// namespace show as that uid (a rootless container's rootfs owned by the
/// host's root does), and no process inside can own or chown to them.
/// `None` in the initial namespace, where it is an ordinary uid.
fn userns_overflow_uid() -> Option<u32> {
    static UID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UID.get_or_init(|| {
        let map = std::fs::read_to_string("/proc/self/uid_map").ok()?;
        let initial = map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"];
        if initial {
            return None;
        }
        std::fs::read_to_string("/proc/sys/kernel/overflowuid")
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

impl Trust {
    /// Only root could have made or changed what `uid` owns: uid 0, or in
    /// a user namespace the overflow uid of unmapped owners, unless it is
    /// the workload's own.
    pub(crate) fn owner_trusted(&self, uid: u32) -> bool {
        uid == 0 || (Some(uid) == userns_overflow_uid() && self.workload_uid != Some(uid))
    }

    /// The plain form of [`Walker::beneath_writable`] (its test oracle).
    #[cfg(test)]
    fn beneath_writable(&self, dir: &str) -> bool {
        self.writable.iter().any(|w| paths::is_within(dir, w))
    }
}

/// A path opened with `O_PATH`, and what it is.
#[derive(Debug)]
pub struct Resolved {
    pub fd: OwnedFd,
    /// The canonical path of what was opened.
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub kind: PathKind,
    pub uid: u32,
    pub mode: u32,
    /// Why what was opened could have been changed by someone other than
    /// root (the workload, a volume it shares): it, or a directory above
    /// it, is not root-owned, is writable by group or others, or lies
    /// beneath a writable path of the policy. `None`: only root could.
    pub untrusted: Option<String>,
    /// A link was followed on the way (so `path` may be spelled otherwise
    /// than asked).
    pub via_link: bool,
}

/// The paths a launch resolved, each still open (`O_PATH`, close-on-exec)
/// on the object the plan describes, by the spelling of its rule. Landlock
/// adds its rules on these descriptors instead of resolving every path a
/// second time: the same object by construction, without a second walk.
///
/// Held only up to a budget ([`Held::with_budget`]); a rule without a
/// descriptor is resolved again when the ruleset is prepared and checked
/// against the plan's inode.
#[derive(Debug, Default)]
pub struct Held {
    fds: crate::sort::FastMap<String, OwnedFd>,
    budget: usize,
}

impl Held {
    /// At most 256 descriptors, and a quarter of `RLIMIT_NOFILE`'s soft
    /// limit: what is held must never make the launch itself run short.
    pub fn with_budget() -> Held {
        let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(0, |(soft, _)| soft);
        Held {
            fds: crate::sort::FastMap::default(),
            budget: usize::try_from(soft / 4).unwrap_or(usize::MAX).min(256),
        }
    }

    /// Room for `n` more descriptors (up to the budget), so that keeping a
    /// policy's paths does not grow the map again and again.
    pub fn reserve(&mut self, n: usize) {
        let room = self.budget.saturating_sub(self.fds.len());
        self.fds.reserve(n.min(room));
    }

    /// Keeps `fd` for `path` while the budget lasts (dropping it otherwise).
    pub fn keep(&mut self, path: &str, fd: OwnedFd) {
        if self.fds.len() < self.budget {
            self.fds.insert(path.to_string(), fd);
        }
    }

    /// The descriptor held for `path`.
    pub fn get(&self, path: &str) -> Option<BorrowedFd<'_>> {
        self.fds.get(path).map(AsFd::as_fd)
    }

    /// The numbers of the descriptors held (for `close_fds`, which must
    /// leave them open).
    pub fn raw_fds(&self) -> Vec<i32> {
        use std::os::fd::AsRawFd;
        self.fds.values().map(AsRawFd::as_raw_fd).collect()
    }

    /// Closes what is held (the paths are about to be walked again).
    pub fn clear(&mut self) {
        self.fds.clear();
    }
}

/// Why a path could not be resolved safely.
#[derive(Debug)]
pub enum ResolveError {
    /// A system call failed on the component `at`.
    Io {
        at: String,
        err: std::io::Error,
    },
    /// A symlink that the workload could have planted.
    UntrustedLink {
        link: String,
        target: String,
        why: String,
    },
    /// A procfs magic link.
    MagicLink {
        link: String,
    },
    /// A link where a device node was checked or created
    /// ([`Walker::open_node`]).
    NodeLink {
        link: String,
        target: String,
    },
    TooManyLinks,
}

impl ResolveError {
    /// `NotFound`, for callers that treat a missing path specially.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ResolveError::Io { err, .. } if err.kind() == std::io::ErrorKind::NotFound)
    }

    /// The cause in the plan's words (the path itself is named by the
    /// caller). Names found on the filesystem (a link's target) are shown
    /// with control characters escaped: they cannot forge a log line.
    pub fn cause(&self) -> String {
        crate::bytes::escape_controls(&self.cause_raw()).into_owned()
    }

    fn cause_raw(&self) -> String {
        match self {
            ResolveError::Io { err, .. } => match err.kind() {
                std::io::ErrorKind::NotFound => "does not exist".into(),
                std::io::ErrorKind::PermissionDenied => "permission denied".into(),
                _ => crate::error::io_cause(err),
            },
            ResolveError::UntrustedLink { link, target, why } => format!(
                "symlink {link} -> {target} is not followed: {why}, so the workload could have planted it"
            ),
            ResolveError::MagicLink { link } => {
                format!("{link} is a /proc magic link, which is never followed")
            }
            ResolveError::NodeLink { link, target } => format!(
                "symlink {link} -> {target} stands where a device node was planned: a node's own name is never followed"
            ),
            ResolveError::TooManyLinks => "too many levels of symbolic links".into(),
        }
    }
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.cause())
    }
}

fn not_a_directory(at: &str) -> ResolveError {
    ResolveError::Io {
        at: at.to_string(),
        err: std::io::Error::from_raw_os_error(libc::ENOTDIR),
    }
}

/// `openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)`.
fn open_step(dir: Option<&OwnedFd>, name: &str) -> std::io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    Ok(match dir {
        Some(d) => openat(d, name, flags, Mode::empty())?,
        None => openat(AT_FDCWD, name, flags, Mode::empty())?,
    })
}

/// `fstat` of a descriptor (works on `O_PATH` ones).
fn stat(fd: &OwnedFd) -> std::io::Result<libc::stat> {
    Ok(nix::sys::stat::fstat(fd)?)
}

/// `f_type` of the filesystem holding `fd`.
fn fs_type(fd: impl AsFd) -> std::io::Result<i64> {
    let st = nix::sys::statfs::fstatfs(fd)?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Ok(st.filesystem_type().0 as i64)
}

/// The filesystem holding `fd` is mounted read-only.
fn read_only_mount(fd: &OwnedFd) -> std::io::Result<bool> {
    let st = nix::sys::statvfs::fstatvfs(fd)?;
    Ok(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// The target of the symlink `fd` refers to (`readlinkat(fd, "")`: the
/// empty path reads the link an `O_PATH|O_NOFOLLOW` descriptor refers to).
fn read_link(fd: &OwnedFd) -> std::io::Result<String> {
    let t = nix::fcntl::readlinkat(fd, "")?;
    t.into_string()
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EILSEQ))
}

/// The kind of an `st_mode` (a symlink counts as `File`, as in
/// [`PathKind::of`]).
pub fn kind_of(mode: u32) -> PathKind {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => PathKind::Directory,
        libc::S_IFCHR => PathKind::CharDevice,
        libc::S_IFBLK => PathKind::BlockDevice,
        libc::S_IFSOCK => PathKind::Socket,
        libc::S_IFIFO => PathKind::Fifo,
        _ => PathKind::File,
    }
}

/// One directory of the walk.
#[derive(Clone)]
struct Step {
    fd: Rc<OwnedFd>,
    /// Canonical path of this directory.
    path: String,
    /// This directory and every one above it cannot be changed by the
    /// workload (see the module docs); `None` = trusted, `Some(why)` not.
    untrusted: Option<String>,
    /// Its status when it was opened (a path that ends here reports it
    /// without asking again).
    st: libc::stat,
}

pub fn join(dir: &str, name: &str) -> String {
    // Once per component walked: plain pushes, not the formatter.
    let dir = if dir == "/" { "" } else { dir };
    let mut out = String::with_capacity(dir.len() + 1 + name.len());
    out.push_str(dir);
    out.push('/');
    out.push_str(name);
    out
}

/// Why a directory or file could be changed by someone other than root,
/// if it can.
/// Its mount flags are read only when its mode would otherwise condemn it.
fn untrusted_because(
    path: &str,
    fd: &OwnedFd,
    st: &libc::stat,
    trust: &Trust,
    beneath_writable: bool,
) -> std::io::Result<Option<String>> {
    if beneath_writable {
        return Ok(Some(format!("{path} is writable under the policy")));
    }
    if !trust.owner_trusted(st.st_uid) {
        return Ok(Some(format!("{path} is owned by uid {}", st.st_uid)));
    }
    // A sticky directory (/tmp, 1777) lets others add names but not
    // rename or remove those of root: its root-owned entries, checked one
    // by one as the walk reaches them, stay root's.
    let sticky_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR && st.st_mode & libc::S_ISVTX != 0;
    if st.st_mode & 0o022 != 0 && !sticky_dir && !read_only_mount(fd)? {
        return Ok(Some(format!(
            "{path} is writable by group or others (mode {:o})",
            st.st_mode & 0o7777
        )));
    }
    Ok(None)
}

fn root_step(trust: &Trust, beneath_writable: bool) -> Result<Step, ResolveError> {
    let io = |err| ResolveError::Io {
        at: "/".into(),
        err,
    };
    let fd = open_step(None, "/").map_err(io)?;
    let st = stat(&fd).map_err(io)?;
    Ok(Step {
        untrusted: untrusted_because("/", &fd, &st, trust, beneath_writable).map_err(io)?,
        path: "/".into(),
        fd: Rc::new(fd),
        st,
    })
}

/// Resolve an absolute path safely and open it with `O_PATH`.
pub fn open(path: &str, trust: &Trust) -> Result<Resolved, ResolveError> {
    Walker::new(trust).open(path)
}

/// A copy of a remembered stack with room for `more` steps: the walk
/// pushes the directories it opens (a plain clone is full at once).
fn with_room(stack: &[Rc<Step>], more: usize) -> Vec<Rc<Step>> {
    let mut out = Vec::with_capacity(stack.len() + more);
    out.extend(stack.iter().cloned());
    out
}

/// At most this many directories are kept open by one [`Walker`].
const WALKER_DIRS: usize = 256;

/// [`open`] for many paths under one [`Trust`]: the directories walked
/// through on the way to a path stay open, and a later path spelled
/// beneath one of them starts its walk there, so a policy's paths cost
/// about one `openat` and one `fstat` each instead of one per component.
/// Reusing a directory's descriptor is the same check as walking to it
/// again, without the window between the walks: it is the object that
/// was checked.
pub struct Walker<'t> {
    trust: &'t Trust,
    /// `trust.writable` as a set: a path is beneath a writable one when
    /// one of its ancestors is in it (a policy may list hundreds).
    writable: crate::sort::FastSet<&'t str>,
    /// Directories by canonical path, each with every directory above it
    /// (the stack a walk from `/` would have built).
    dirs: crate::sort::FastMap<String, Rc<Vec<Rc<Step>>>>,
}

impl<'t> Walker<'t> {
    pub fn new(trust: &'t Trust) -> Self {
        Walker {
            trust,
            writable: trust.writable.iter().map(String::as_str).collect(),
            dirs: crate::sort::FastMap::default(),
        }
    }

    /// [`Trust::beneath_writable`] for a canonical path, in the time of
    /// its depth rather than of the writable list's length.
    fn beneath_writable(&self, path: &str) -> bool {
        if self.writable.is_empty() {
            return false;
        }
        let mut at = path;
        loop {
            if self.writable.contains(at) {
                return true;
            }
            match crate::bytes::rfind(at.as_bytes(), b'/') {
                Some(0) if at != "/" => at = "/",
                Some(i) if i > 0 => at = &at[..i],
                _ => return false,
            }
        }
    }

    /// [`Walker::beneath_writable`] for `path` whose directory is on the
    /// walk's stack and trusted: a step is trusted only when it is not
    /// beneath a writable path (`untrusted_because`), so only `path`
    /// itself is left to look up.
    fn writable_below_trusted(&self, path: &str) -> bool {
        self.writable.contains(path)
    }

    /// The longest directory prefix of `path` (spelled with plain names
    /// only) already walked: its stack and the components left. Tried
    /// longest first: a policy's next path most often lies beside the last
    /// one, so the parent is the usual hit, one lookup instead of one per
    /// level. (A directory is remembered only after the ones above it, so
    /// longest-first finds what a walk down from `/` would.)
    fn start(&self, comps: &[&str]) -> Option<(Vec<Rc<Step>>, usize)> {
        let plain = comps
            .iter()
            .take_while(|c| !matches!(**c, "." | ".."))
            .count();
        let mut prefix = String::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
        for c in &comps[..plain] {
            prefix.push('/');
            prefix.push_str(c);
        }
        // The prefix of `n` names ends where the `n`-th name does: cut
        // by the names' lengths, without searching for the slashes.
        let mut end = prefix.len();
        let mut n = plain;
        while n > 0 {
            if let Some(stack) = prefix.get(..end).and_then(|at| self.dirs.get(at)) {
                return Some((with_room(stack, comps.len().saturating_sub(n)), n));
            }
            n -= 1;
            end -= comps.get(n).map_or(end, |c| c.len() + 1);
        }
        self.dirs
            .get("/")
            .map(|stack| (with_room(stack, comps.len()), 0))
    }

    /// Remember the directory on top of `stack` (its canonical path is its
    /// own), unless the walker holds enough already.
    fn remember(&mut self, stack: &[Rc<Step>]) {
        if self.dirs.len() >= WALKER_DIRS {
            return;
        }
        if let Some(top) = stack.last() {
            if !self.dirs.contains_key(&top.path) {
                self.dirs.insert(top.path.clone(), Rc::new(stack.to_vec()));
            }
        }
    }

    /// Resolve an absolute path safely and open it with `O_PATH`.
    pub fn open(&mut self, path: &str) -> Result<Resolved, ResolveError> {
        open_with(self, path)
    }

    /// Why someone other than root could have changed the file `fd` is open
    /// on (`st` its status), found as `path` in a directory this walker
    /// resolved and trusts: what [`open`] would say of it there.
    pub fn untrusted_entry(
        &self,
        path: &str,
        fd: &OwnedFd,
        st: &libc::stat,
    ) -> std::io::Result<Option<String>> {
        untrusted_because(path, fd, st, self.trust, self.writable_below_trusted(path))
    }

    /// [`open`] of a device node: its directory resolved as [`open`]
    /// resolves one, the node's own name never followed (whoever made a
    /// link there, the spec's own hooks included, it is not the node the
    /// plan checked or the fallback created).
    pub fn open_node(&mut self, path: &str) -> Result<Resolved, ResolveError> {
        let (dir, name) = self.parent_of(path)?;
        let here = join(&dir.path, name);
        let io = |err| ResolveError::Io {
            at: path.to_string(),
            err,
        };
        let fd = open_step(Some(&dir.fd), name).map_err(io)?;
        let st = stat(&fd).map_err(io)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            let target = read_link(&fd).map_err(io)?;
            return Err(ResolveError::NodeLink { link: here, target });
        }
        let untrusted = self.entry_untrusted(&dir, &here, &st);
        Ok(resolved(fd, here, &st, untrusted, dir.via_link))
    }

    /// `lstat` of `path`, its directory resolved as [`open`] resolves one:
    /// a link above the last name is followed only where the workload
    /// could not have planted it, and the last name itself is never
    /// followed. With the status comes why someone other than root could
    /// change which object that name holds, if anyone could: its directory
    /// is untrusted, or is sticky (`/tmp`) and the entry is not root's.
    pub fn lstat(&mut self, path: &str) -> Result<(libc::stat, Option<String>), ResolveError> {
        let (dir, name) = self.parent_of(path)?;
        let st =
            nix::sys::stat::fstatat(&dir.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(|e| {
                ResolveError::Io {
                    at: path.to_string(),
                    err: e.into(),
                }
            })?;
        let untrusted = self.entry_untrusted(&dir, &join(&dir.path, name), &st);
        Ok((st, untrusted))
    }

    /// The directory above the absolute `path`, resolved, and its last name.
    fn parent_of<'p>(&mut self, path: &'p str) -> Result<(Resolved, &'p str), ResolveError> {
        let io = |err| ResolveError::Io {
            at: path.to_string(),
            err,
        };
        if !path.starts_with('/') {
            return Err(io(std::io::Error::from_raw_os_error(libc::EINVAL)));
        }
        let (dir, name) = split_parent(path).map_err(io)?;
        let dir = self.open(dir)?;
        if dir.kind != PathKind::Directory {
            return Err(not_a_directory(&dir.path));
        }
        Ok((dir, name))
    }

    /// Why someone other than root could change which object the entry
    /// `here` of `dir` holds (`st` its status): the directory is
    /// untrusted, or is sticky and the entry is not root's.
    fn entry_untrusted(&self, dir: &Resolved, here: &str, st: &libc::stat) -> Option<String> {
        if let Some(why) = &dir.untrusted {
            return Some(why.clone());
        }
        (dir.mode & libc::S_ISVTX != 0 && !self.trust.owner_trusted(st.st_uid)).then(|| {
            format!(
                "{here} is owned by uid {} in the sticky directory {}",
                st.st_uid, dir.path
            )
        })
    }
}

/// What was opened as `path`, from its status.
fn resolved(
    fd: OwnedFd,
    path: String,
    st: &libc::stat,
    untrusted: Option<String>,
    via_link: bool,
) -> Resolved {
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Resolved {
        kind: kind_of(st.st_mode),
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
        untrusted,
        path,
        fd,
        via_link,
    }
}

fn open_with(walker: &mut Walker<'_>, path: &str) -> Result<Resolved, ResolveError> {
    let trust = walker.trust;
    if !path.starts_with('/') {
        return Err(ResolveError::Io {
            at: path.into(),
            err: std::io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    let comps: Vec<&str> = crate::policy::paths::components(path).collect();
    // Whether the directory on top of `stack` is one the walker holds
    // already (where `start` began): remembering it again is a lookup.
    let (mut stack, skip, mut top_remembered) = match walker.start(&comps) {
        Some((stack, skip)) => (stack, skip, true),
        None => (
            vec![Rc::new(root_step(trust, walker.beneath_writable("/"))?)],
            0,
            false,
        ),
    };
    // The names still to walk, the next one last: the path's own names
    // borrowed, a link's target's copied (its text is dropped with it).
    let mut queue: Vec<std::borrow::Cow<'_, str>> = comps
        .get(skip..)
        .unwrap_or_default()
        .iter()
        .rev()
        .map(|c| std::borrow::Cow::Borrowed(*c))
        .collect();
    let mut links = 0;
    // The last thing opened, when it is not a directory pushed on `stack`.
    let mut leaf: Option<(OwnedFd, String, libc::stat)> = None;
    while let Some(name) = queue.pop() {
        if let Some((_, at, _)) = &leaf {
            // Something follows a non-directory.
            return Err(not_a_directory(at));
        }
        if name == "." {
            continue;
        }
        if name == ".." {
            if stack.len() > 1 {
                stack.pop();
                top_remembered = false;
            }
            continue;
        }
        let Some(top) = stack.last() else {
            return Err(ResolveError::TooManyLinks);
        };
        let here = join(&top.path, &name);
        let io = |err| ResolveError::Io {
            at: here.clone(),
            err,
        };
        let fd = open_step(Some(&*top.fd), &name).map_err(io)?;
        let st = stat(&fd).map_err(io)?;
        let fmt = st.st_mode & libc::S_IFMT;
        if fmt == libc::S_IFLNK {
            links += 1;
            if links > MAX_LINKS {
                return Err(ResolveError::TooManyLinks);
            }
            let target = read_link(&fd).map_err(io)?;
            let is_plain_proc_link =
                top.path == "/proc" && matches!(&*name, "self" | "thread-self");
            if !is_plain_proc_link && fs_type(&top.fd).map_err(io)? == PROC_SUPER_MAGIC {
                return Err(ResolveError::MagicLink { link: here });
            }
            let why = if let Some(why) = &top.untrusted {
                Some(why.clone())
            } else if !trust.owner_trusted(st.st_uid) {
                Some(format!("it is owned by uid {}", st.st_uid))
            } else if top.st.st_mode & libc::S_ISVTX != 0 && top.st.st_mode & 0o022 != 0 {
                // Anyone may add names to a sticky directory others may
                // write, and a link is moved in by rename without owning
                // it: root's link there may be one root made elsewhere.
                Some(format!(
                    "it is in the sticky directory {}, where anyone may move in a link of root's",
                    top.path
                ))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ResolveError::UntrustedLink {
                    link: here,
                    target,
                    why,
                });
            }
            if target.starts_with('/') {
                stack.truncate(1);
                top_remembered = false;
            }
            // Its first name is walked next: pushed last.
            for c in crate::policy::paths::components(&target).rev() {
                queue.push(std::borrow::Cow::Owned(c.to_string()));
            }
            continue;
        }
        if fmt == libc::S_IFDIR {
            let untrusted = match &top.untrusted {
                Some(w) => Some(w.clone()),
                None => {
                    let beneath = walker.writable_below_trusted(&here);
                    untrusted_because(&here, &fd, &st, trust, beneath).map_err(io)?
                }
            };
            // The directory below is about to be walked into: remember
            // this one (the top) for later paths.
            if !top_remembered {
                walker.remember(&stack);
            }
            stack.push(Rc::new(Step {
                fd: Rc::new(fd),
                path: here,
                untrusted,
                st,
            }));
            top_remembered = false;
        } else {
            // Its directory (the top) serves the next path there too
            // (/dev/null, then /dev/zero).
            if !top_remembered {
                walker.remember(&stack);
            }
            leaf = Some((fd, here, st));
        }
    }
    let (fd, path, st, untrusted) = match leaf {
        Some((fd, path, st)) => {
            let parent = stack.last().and_then(|t| t.untrusted.clone());
            let untrusted = match parent {
                Some(why) => Some(why),
                None => {
                    let beneath = walker.writable_below_trusted(&path);
                    untrusted_because(&path, &fd, &st, trust, beneath).map_err(|err| {
                        ResolveError::Io {
                            at: path.clone(),
                            err,
                        }
                    })?
                }
            };
            (fd, path, st, untrusted)
        }
        None => {
            let Some(top) = stack.pop() else {
                return Err(ResolveError::TooManyLinks);
            };
            let st = top.st;
            let top = Rc::unwrap_or_clone(top);
            // Shared with the walker's memory: the caller gets its own.
            let fd = Rc::try_unwrap(top.fd).or_else(|shared| {
                shared.try_clone().map_err(|err| ResolveError::Io {
                    at: top.path.clone(),
                    err,
                })
            })?;
            (fd, top.path, st, top.untrusted)
        }
    };
    Ok(resolved(fd, path, &st, untrusted, links > 0))
}

/// `path` split into its parent directory and last component.
pub fn split_parent(path: &str) -> std::io::Result<(&str, &str)> {
    let (dir, name) = match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", n)) => ("/", n),
        Some((d, n)) => (d, n),
        None => return Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok((dir, name))
}

/// Resolve the directory `path` as [`open`] does, creating what is missing
/// (`mkdirat` relative to the directory above, with `mode`).
pub fn ensure_dir(path: &str, trust: &Trust, mode: u32) -> Result<Resolved, ResolveError> {
    match open(path, trust) {
        Ok(r) if r.kind == PathKind::Directory => return Ok(r),
        Ok(r) => return Err(not_a_directory(&r.path)),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let io = |err| ResolveError::Io {
        at: path.to_string(),
        err,
    };
    let (dir, name) = split_parent(path).map_err(io)?;
    let parent = ensure_dir(dir, trust, mode)?;
    match nix::sys::stat::mkdirat(&parent.fd, name, Mode::from_bits_truncate(mode)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(io(e.into())),
    }
    open(path, trust)
}

/// Create a new file at `path` for writing, as root, without trusting the
/// directory's contents: the parent is resolved like any privileged path,
/// the file is created under a fresh name with `O_CREAT|O_EXCL|O_NOFOLLOW`
/// and renamed over `path`. Whatever stood at `path` before (a symlink, a
/// hard link to another file, a FIFO) is replaced, never opened, followed or
/// truncated. That is for what someone other than root could have put
/// there: anything but a regular file in a directory only root may write
/// (the host's `/dev/null`, the `/dev/stderr` link) is refused, never
/// replaced. In a sticky directory others may write (`/tmp`) anyone may
/// have moved an object of root's in, so there it is replaced too. The fresh name is
/// random: one that could be guessed could be taken first, sixteen times.
pub fn create_replacing(path: &str, trust: &Trust, mode: u32) -> std::io::Result<std::fs::File> {
    let fail = |e: ResolveError| match e {
        ResolveError::Io { err, .. } => err,
        other => std::io::Error::other(other.cause()),
    };
    // A name that ends in a slash names a directory: the kernel makes no
    // file through one, and neither does this.
    if path.ends_with('/') {
        return Err(std::io::Error::from_raw_os_error(libc::EISDIR));
    }
    let (dir, name) = split_parent(path)?;
    let parent = open(dir, trust).map_err(fail)?;
    if parent.kind != PathKind::Directory {
        return Err(std::io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    let dirfd = &parent.fd;
    match nix::sys::stat::fstatat(dirfd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => {
            // A directory fails the rename below, as it should.
            let fmt = st.st_mode & libc::S_IFMT;
            // A sticky directory others may write (1777) takes names from
            // anyone; a sticky one only root may write (1755) does not.
            let shared_sticky = parent.mode & libc::S_ISVTX != 0 && parent.mode & 0o022 != 0;
            let others_could = parent.untrusted.is_some() || shared_sticky;
            if fmt != libc::S_IFREG && fmt != libc::S_IFDIR && !others_could {
                let what = if fmt == libc::S_IFLNK {
                    "symbolic link"
                } else {
                    kind_of(st.st_mode).describe()
                };
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!(
                        "{path} is a {what} only root could have put there, which the new file would replace"
                    ),
                ));
            }
        }
        Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    for _ in 0..16u32 {
        let tag = crate::sys::random_u64().map_err(std::io::Error::from_raw_os_error)?;
        // Not the name itself: a name near NAME_MAX would leave no room.
        let tmp = format!(".osb-{tag:016x}.tmp");
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match openat(dirfd, tmp.as_str(), flags, Mode::from_bits_truncate(mode)) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::EEXIST) => continue,
            Err(e) => return Err(e.into()),
        };
        let file = std::fs::File::from(fd);
        if let Err(e) = nix::fcntl::renameat(dirfd, tmp.as_str(), dirfd, name) {
            // Best effort: the rename's error is the one worth reporting.
            let _ =
                nix::unistd::unlinkat(dirfd, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
            return Err(e.into());
        }
        return Ok(file);
    }
    Err(std::io::Error::from_raw_os_error(libc::EEXIST))
}

/// Directories that are never writable by the workload and never its
/// workdir-as-rule, whatever they are spelled as: the root and the system
/// trees below it (a read-write rule there hands the workload the host's
/// programs, libraries, configuration or kernel interfaces).
pub const NEVER_WRITABLE: [&str; 12] = [
    "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin", "/sys",
    "/usr",
];

/// Of those, the trees nothing beneath is ever writable either: the
/// kernel's interfaces (`/proc/sys`, `/proc/<pid>`, `/sys/fs/cgroup`) and
/// the boot files. The others hold application directories a policy may
/// rightly make writable (`/usr/local/app`, `/dev/shm`).
pub const NEVER_WRITABLE_BENEATH: [&str; 3] = ["/boot", "/proc", "/sys"];

/// The `/proc/self/mountinfo` names of the filesystems in [`KERNEL_FS`],
/// and `devtmpfs` (the host's device nodes, which `statfs` cannot tell
/// from a tmpfs) and `mqueue` (the IPC namespace's POSIX message queues,
/// which seccomp keeps from the workload): what a `read_write` directory
/// must not lie on or reach through a mount beneath it. Not `devpts`: a
/// policy may grant `/dev/pts` read-write for the terminals a workload
/// opens (`/dev/pts/ptmx`).
pub const KERNEL_FS_NAMES: [&str; 17] = [
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "configfs",
    "efivarfs",
    "pstore",
    "selinuxfs",
    "smackfs",
    "binfmt_misc",
    "fusectl",
    "devtmpfs",
    "mqueue",
];

/// Filesystems that are kernel interfaces wherever they are mounted
/// (`/host/proc`, a bind of `/proc/sys`): `statfs` magic numbers from
/// `<linux/magic.h>` for proc, sysfs, cgroup and cgroup2, securityfs,
/// debugfs, tracefs, bpf, configfs, efivarfs, pstore, selinuxfs, smackfs,
/// binfmt_misc and fusectl.
const KERNEL_FS: [i64; 15] = [
    0x9fa0,
    0x6265_6572,
    0x0027_e0eb,
    0x6367_7270,
    0x7363_6673,
    0x6462_6720,
    0x7472_6163,
    0xcafe_4a11,
    0x6265_6570,
    0xde5e_81e4,
    0x6165_676c,
    0xf97c_ff8c,
    0x4341_5d53,
    0x4249_4e4d,
    0x6573_5543,
];

/// The object `fd` refers to lives on a kernel interface filesystem
/// ([`KERNEL_FS`]): never writable, wherever it is mounted.
pub fn on_kernel_fs(fd: impl AsFd) -> std::io::Result<bool> {
    Ok(KERNEL_FS.contains(&fs_type(fd)?))
}

/// `canonical` (a resolved path) is never writable: one of
/// [`NEVER_WRITABLE`] or beneath one of [`NEVER_WRITABLE_BENEATH`].
pub fn never_writable(canonical: &str) -> bool {
    NEVER_WRITABLE.contains(&canonical)
        || NEVER_WRITABLE_BENEATH
            .iter()
            .any(|t| paths::is_within(canonical, t))
}

/// Open `path` to read, close-on-exec, without blocking and never as a
/// controlling terminal (a FIFO or device planted where a file should be
/// must not hang a launch). `openat`: the C library's `open` follows an
/// `O_CLOEXEC` open with an `fcntl` setting the flag again, for kernels
/// older than 2.6.23.
pub fn open_read<P: ?Sized + nix::NixPath>(path: &P) -> std::io::Result<std::fs::File> {
    use nix::fcntl::{AT_FDCWD, OFlag, openat};
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    openat(AT_FDCWD, path, flags, nix::sys::stat::Mode::empty())
        .map(std::fs::File::from)
        .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(r: &Result<Resolved, ResolveError>) -> String {
        match r {
            Ok(r) => format!(
                "{} {} {} {:?} {:?}",
                r.path, r.dev, r.ino, r.kind, r.untrusted
            ),
            Err(e) => format!("error: {}", e.cause()),
        }
    }

    #[test]
    fn a_walker_knows_writable_paths_as_the_plain_check_does() {
        for writable in [
            vec![],
            vec!["/".to_string()],
            vec![
                "/data".to_string(),
                "/srv/a/b".to_string(),
                "/tmp".to_string(),
            ],
        ] {
            let trust = Trust {
                writable,
                workload_uid: None,
            };
            let w = Walker::new(&trust);
            for p in [
                "/",
                "/data",
                "/data/x",
                "/datax",
                "/dat",
                "/srv",
                "/srv/a",
                "/srv/a/b",
                "/srv/a/b/c/d",
                "/srv/a/bc",
                "/tmp",
                "/tmp/.x",
                "/usr/lib",
            ] {
                assert_eq!(
                    w.beneath_writable(p),
                    trust.beneath_writable(p),
                    "{p} {trust:?}"
                );
            }
        }
    }

    #[test]
    fn a_walker_resolves_every_path_as_a_fresh_walk_does() {
        let trust = Trust {
            writable: vec!["/tmp".into()],
            workload_uid: Some(1500),
        };
        let paths = [
            "/usr/lib",
            "/usr/bin",
            "/lib",
            "/usr/lib/../bin",
            "/usr/../etc",
            "/tmp/..",
            "/tmp",
            "/proc/self",
            "/proc/self/root",
            "/etc/passwd",
            "/etc/passwd/x",
            "/usr/lib/nonexistent",
            "/usr/./lib",
            "/",
        ];
        let mut walker = Walker::new(&trust);
        for p in paths {
            // Twice: the second walk starts from what the first kept.
            for _ in 0..2 {
                assert_eq!(summary(&walker.open(p)), summary(&open(p, &trust)), "{p}");
            }
        }
        assert!(!walker.dirs.is_empty(), "the walker kept no directory");
    }
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("safepath-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn what_lies_beneath_a_writable_path_is_not_trusted() {
        let d = scratch("beneath-writable");
        let ds = d.to_str().unwrap().to_string();
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        // Root's own link: trusted by its owner, not by where it lies.
        symlink("/etc", d.join("sub/ln")).unwrap();
        let trust = |writable: &[&String]| Trust {
            writable: writable.iter().map(|w| w.to_string()).collect(),
            workload_uid: Some(1500),
        };
        let sub = format!("{ds}/sub");
        let deeper = format!("{sub}/deeper");
        let through_link = format!("{sub}/ln/passwd");
        let why = |w: &str| Some(format!("{w} is writable under the policy"));
        for (writable, top, below) in [
            (vec![], None, None),
            (vec![&ds], why(&ds), why(&ds)),
            (vec![&sub], None, why(&sub)),
        ] {
            let trust = trust(&writable);
            let mut walker = Walker::new(&trust);
            // Twice: the second walk starts from the directories kept.
            for _ in 0..2 {
                assert_eq!(walker_untrusted(&mut walker, &ds), top, "{writable:?}");
                assert_eq!(
                    walker_untrusted(&mut walker, &deeper),
                    below,
                    "{writable:?}"
                );
                let r = walker.open(&through_link);
                if writable.is_empty() {
                    assert_eq!(r.map(|r| r.path).ok().as_deref(), Some("/etc/passwd"));
                } else {
                    assert!(
                        matches!(r, Err(ResolveError::UntrustedLink { .. })),
                        "{writable:?} {}",
                        summary(&r)
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    fn walker_untrusted(walker: &mut Walker<'_>, p: &str) -> Option<String> {
        walker.open(p).expect("resolves").untrusted
    }

    #[test]
    fn plain_paths_resolve_to_themselves() {
        let r = open("/usr//bin/", &Trust::default()).unwrap();
        assert_eq!(r.path, "/usr/bin");
        assert_eq!(r.kind, PathKind::Directory);
        let root = open("/", &Trust::default()).unwrap();
        assert_eq!(root.path, "/");
        let dots = open("/usr/./bin/..", &Trust::default()).unwrap();
        assert_eq!(dots.path, "/usr");
    }

    #[test]
    fn dot_dot_names_the_real_parent() {
        let r = open("/tmp/..", &Trust::default()).unwrap();
        assert_eq!(r.path, "/");
        let root = open("/", &Trust::default()).unwrap();
        assert_eq!((r.dev, r.ino), (root.dev, root.ino));
    }

    #[test]
    fn a_link_in_a_world_writable_directory_is_not_followed() {
        let d = scratch("ww");
        // 0777 without the sticky bit: anyone could have placed the link.
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        symlink("/", d.join("root")).unwrap();
        let p = d.join("root");
        let e = open(p.to_str().unwrap(), &Trust::default()).unwrap_err();
        assert!(
            matches!(e, ResolveError::UntrustedLink { .. }),
            "{}",
            e.cause()
        );
        assert!(e.cause().contains("-> /"), "{}", e.cause());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn in_a_sticky_directory_others_may_write_no_link_is_followed() {
        let d = scratch("sticky");
        let mode =
            |m| std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(m));
        symlink("/usr", d.join("mine")).unwrap();
        let mine = d.join("mine").display().to_string();
        // Control: root's link in a directory only root may write.
        mode(0o755).unwrap();
        assert_eq!(open(&mine, &Trust::default()).unwrap().path, "/usr");
        // In /tmp's mode anyone could have moved root's link in.
        mode(0o1777).unwrap();
        let e = open(&mine, &Trust::default()).unwrap_err();
        assert!(
            e.cause()
                .contains("where anyone may move in a link of root's"),
            "{}",
            e.cause()
        );
        symlink("/usr", d.join("theirs")).unwrap();
        std::os::unix::fs::lchown(d.join("theirs"), Some(1500), Some(1500)).unwrap();
        let e = open(d.join("theirs").to_str().unwrap(), &Trust::default()).unwrap_err();
        assert!(e.cause().contains("owned by uid 1500"), "{}", e.cause());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn lstat_follows_only_trusted_links_above_the_name_and_never_the_name() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let d = scratch("lstat");
        let ds = d.to_str().unwrap();
        let real = d.join("real");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("f"), "x").unwrap();
        symlink("/etc/passwd", real.join("leaf")).unwrap();
        symlink(&real, d.join("ln")).unwrap();
        let sticky = d.join("sticky");
        std::fs::create_dir_all(&sticky).unwrap();
        std::fs::set_permissions(&sticky, PermissionsExt::from_mode(0o1777)).unwrap();
        symlink(&real, sticky.join("theirs")).unwrap();
        std::os::unix::fs::lchown(sticky.join("theirs"), Some(1500), Some(1500)).unwrap();
        std::fs::write(sticky.join("root-file"), "x").unwrap();
        std::fs::write(sticky.join("their-file"), "x").unwrap();
        std::os::unix::fs::lchown(sticky.join("their-file"), Some(1500), Some(1500)).unwrap();
        let trust = Trust::default();
        let mut w = Walker::new(&trust);
        let fmt = |st: &libc::stat| st.st_mode & libc::S_IFMT;
        // Root's link above the name is followed; the name itself is not.
        let (st, why) = w.lstat(&format!("{ds}/ln/f")).unwrap();
        assert_eq!((fmt(&st), why), (libc::S_IFREG, None));
        let (st, _) = w.lstat(&format!("{ds}/real/leaf")).unwrap();
        assert_eq!(fmt(&st), libc::S_IFLNK);
        // Another's link above the name is not; a plain lstat follows it.
        let planted = format!("{ds}/sticky/theirs/f");
        let e = w.lstat(&planted).unwrap_err();
        assert!(
            matches!(e, ResolveError::UntrustedLink { .. }),
            "{}",
            e.cause()
        );
        assert!(std::fs::symlink_metadata(&planted).unwrap().is_file());
        // In a sticky directory, only root's entries are root's to keep.
        let (_, why) = w.lstat(&format!("{ds}/sticky/root-file")).unwrap();
        assert_eq!(why, None);
        let (st, why) = w.lstat(&format!("{ds}/sticky/their-file")).unwrap();
        assert_eq!(st.st_uid, 1500);
        assert_eq!(
            why,
            Some(format!(
                "{ds}/sticky/their-file is owned by uid 1500 in the sticky directory {ds}/sticky"
            ))
        );
        // Beneath a writable path, nothing is root's alone.
        let trust = Trust {
            writable: vec![real.to_str().unwrap().to_string()],
            workload_uid: Some(1500),
        };
        let mut w = Walker::new(&trust);
        let (st, why) = w.lstat(&format!("{ds}/real/f")).unwrap();
        assert_eq!(st.st_ino, std::fs::metadata(real.join("f")).unwrap().ino());
        assert_eq!(why, Some(format!("{ds}/real is writable under the policy")));
        // A name is needed, and an absolute path.
        for bad in ["/", "dev/null", "/dev/..", ""] {
            assert!(w.lstat(bad).is_err(), "{bad}");
        }
        assert!(w.lstat("/dev/null/x").is_err());
        assert!(
            w.lstat(&format!("{ds}/missing"))
                .unwrap_err()
                .is_not_found()
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn proc_self_is_followed_and_magic_links_are_not() {
        let r = open("/proc/self/status", &Trust::default()).unwrap();
        assert_eq!(r.path, format!("/proc/{}/status", std::process::id()));
        let e = open("/proc/self/root/etc", &Trust::default()).unwrap_err();
        assert!(matches!(e, ResolveError::MagicLink { .. }), "{}", e.cause());
    }

    #[test]
    fn merged_usr_links_are_followed() {
        // Root-owned links in root-owned, 0755 directories.
        if !std::fs::symlink_metadata("/lib").is_ok_and(|m| m.file_type().is_symlink()) {
            return;
        }
        let want = std::fs::canonicalize("/lib").unwrap();
        let r = open("/lib", &Trust::default()).unwrap();
        assert_eq!(r.path, want.to_str().unwrap());
    }

    #[test]
    fn missing_paths_say_so() {
        let e = open("/no/such/path", &Trust::default()).unwrap_err();
        assert!(e.is_not_found());
        assert_eq!(e.cause(), "does not exist");
    }

    #[test]
    fn a_new_file_takes_a_name_no_one_could_have_taken_first() {
        // Names made of the pid and an attempt number could all be taken
        // in advance (a pod's supervisor is pid 1), stopping every write.
        let d = scratch("guessed-names");
        let pid = std::process::id();
        for n in 0..16 {
            symlink("x", d.join(format!(".out.{pid}.{n}.tmp"))).unwrap();
        }
        let path = format!("{}/out", d.to_str().unwrap());
        create_replacing(&path, &Trust::default(), 0o644).unwrap();
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        // The planted names are untouched, and no temporary name is left.
        let names: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert_eq!(names.len(), 16, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with(&format!(".out.{pid}."))));
        // A name near the longest a directory takes has room too: the
        // temporary name is not built from it.
        let long = format!("{}/{}", d.to_str().unwrap(), "n".repeat(250));
        create_replacing(&long, &Trust::default(), 0o644).unwrap();
        assert!(std::fs::symlink_metadata(&long).unwrap().is_file());
    }

    #[test]
    fn a_file_in_the_middle_is_not_a_directory() {
        let e = open("/proc/self/status/x", &Trust::default()).unwrap_err();
        assert_eq!(e.cause(), "not a directory");
    }

    #[test]
    fn nothing_beneath_a_writable_rule_is_trusted() {
        // /usr is root-owned and 0755, so only the policy makes it untrusted.
        let t = Trust {
            writable: vec!["/usr".into()],
            workload_uid: None,
        };
        assert!(open("/usr/bin", &t).is_ok());
        let usr = open("/usr", &t).unwrap();
        let st = stat(&usr.fd).unwrap();
        assert!(
            untrusted_because("/usr/lib", &usr.fd, &st, &t, t.beneath_writable("/usr/lib"))
                .unwrap()
                .is_some()
        );
        assert!(
            untrusted_because("/usr/lib", &usr.fd, &st, &Trust::default(), false)
                .unwrap()
                .is_none()
        );
    }
}
