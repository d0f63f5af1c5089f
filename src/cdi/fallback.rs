//! The apply step for CDI devices, run as root before Landlock opens its
//! rule paths (a created node must exist by then):
//!
//! 1. fallback only (`runtime_applied: false`): missing nodes are created
//!    (mknod, needs CAP_MKNOD and a devices-cgroup rule), then the NVIDIA
//!    hooks are emulated in spec order: `create-symlinks` (`ln -sfn`
//!    through a temporary name and a rename), `chmod` (only paths that
//!    exist; EPERM ignored, like the real hook) and `update-ldcache` (the
//!    ld.so.conf.d files, then the image's own `ldconfig` when it has
//!    one);
//! 2. when CUDA extras were granted, `/proc/self/task` is opened `O_PATH`
//!    without close-on-exec and left open, so the dentry the Landlock rule
//!    names stays cached (see `grants`).
//!
//! A node the plan found is not looked at again here: the plan checked
//! its kind and major:minor on one object, and Landlock adds its rule on
//! that object or refuses the launch (its inode is in the rule), so a
//! node swapped since is never granted.
//!
//! The rootfs is `/`: the supervisor runs inside the container.
//!
//! Every path written here as root is reached through `safepath`: parent
//! directories are resolved (and created) without following a link the
//! workload could have planted on an earlier launch, nodes and links are
//! made relative to the parent's descriptor, files are written under a new
//! name and renamed over the old one, and `chmod` acts on the object the
//! safe walk opened. A planted link is an error naming it, never followed.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag};
use nix::unistd::{Gid, Uid, UnlinkatFlags, unlinkat};

use super::grants::{DevicesPlan, Emulation, Link, NodeCreate};
use crate::error::{Error, Result};
use crate::safepath::{self, Trust};

fn fail(cause: String) -> Error {
    Error::apply("cdi", cause)
}

fn io(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::EACCES) => "EACCES".into(),
        Some(libc::EROFS) => "read-only file system".into(),
        _ => crate::policy::io_cause(e),
    }
}

/// Perform the CDI part of the plan (see the module docs). `trust`: the
/// paths the plan makes writable (`FilesystemPlan::trust`).
pub fn apply(devices: &DevicesPlan, trust: &Trust) -> Result<()> {
    let cdi = &devices.cdi;
    if !devices.runtime_applied {
        // Every hook's checks first: a refusal stops the launch before
        // any node, link, mode or cache is changed.
        for e in cdi.hooks.iter().filter_map(|h| h.emulate.as_ref()) {
            judge_with(Path::new("/"), e, trust)?;
        }
        for n in &cdi.nodes {
            if let Some(c) = &n.create {
                create_node_with(&n.path, c, trust)?;
            }
        }
        for e in cdi.hooks.iter().filter_map(|h| h.emulate.as_ref()) {
            emulate_with(Path::new("/"), e, trust)?;
        }
    }
    if cdi.cuda.as_ref().is_some_and(|c| c.pin_proc_task) {
        pin_proc_task()?;
    }
    Ok(())
}

/// Perform one emulated NVIDIA hook inside the rootfs `root` (`/` when
/// applying; paths from the spec are resolved beneath it).
pub fn emulate(root: &Path, e: &Emulation) -> Result<()> {
    emulate_with(root, e, &Trust::default())
}

/// Why the emulated hook `e` would be refused on this host, if it would:
/// every check it makes before it changes anything, made now (for the
/// plan, so that `plan` predicts the refusal).
pub fn emulation_refusal(e: &Emulation, trust: &Trust) -> Option<Error> {
    judge_with(Path::new("/"), e, trust).err()
}

/// The checks of [`emulate_with`], with nothing changed.
fn judge_with(root: &Path, e: &Emulation, trust: &Trust) -> Result<()> {
    match e {
        Emulation::CreateSymlinks { links } => judge_symlinks(root, links, trust),
        Emulation::Chmod { paths, .. } => paths
            .iter()
            .try_for_each(|p| judge_chmod_path(root, p, trust).map(drop)),
        Emulation::UpdateLdcache { folders } => judge_ldcache(root, folders, trust).map(drop),
    }
}

fn emulate_with(root: &Path, e: &Emulation, trust: &Trust) -> Result<()> {
    match e {
        Emulation::CreateSymlinks { links } => create_symlinks(root, links, trust),
        Emulation::Chmod { mode, paths } => chmod(root, *mode, paths, trust),
        Emulation::UpdateLdcache { folders } => update_ldcache(root, folders, trust),
    }
}

fn path_str(p: &Path) -> std::io::Result<&str> {
    p.to_str()
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EILSEQ))
}

fn resolve_err(e: safepath::ResolveError) -> std::io::Error {
    match e {
        safepath::ResolveError::Io { err, .. } => err,
        other => std::io::Error::other(other.cause()),
    }
}

/// The parent directory of `path`, resolved safely and created when
/// missing, and the last component.
fn parent_of<'a>(path: &'a str, trust: &Trust) -> std::io::Result<(safepath::Resolved, &'a str)> {
    let (dir, name) = safepath::split_parent(path)?;
    let parent = safepath::ensure_dir(dir, trust, 0o755).map_err(resolve_err)?;
    Ok((parent, name))
}

/// Why someone other than root could change what lies at `path` (a
/// directory, or the nearest existing directory above it when it is
/// missing), if anyone could.
fn untrusted_dir(path: &str, trust: &Trust) -> Option<String> {
    match nearest_existing(path, &mut |p| safepath::open(p, trust)) {
        Ok(Some((r, _))) => r.untrusted,
        Ok(None) => None,
        Err(e) => Some(e.cause()),
    }
}

/// The nearest of `path` and the directories above it that exists, as
/// `open` opens it, and whether it is `path` itself; `None` when none
/// does. An error other than a missing name is returned as it is.
fn nearest_existing(
    path: &str,
    open: &mut dyn FnMut(&str) -> std::result::Result<safepath::Resolved, safepath::ResolveError>,
) -> std::result::Result<Option<(safepath::Resolved, bool)>, safepath::ResolveError> {
    let mut p = path;
    loop {
        match open(p) {
            Ok(r) => return Ok(Some((r, p == path))),
            Err(e) if e.is_not_found() => match safepath::split_parent(p) {
                Ok((parent, _)) if parent != p => p = parent,
                _ => return Ok(None),
            },
            Err(e) => return Err(e),
        }
    }
}

/// [`parent_of`], refusing a directory anyone but root could change: what
/// the supervisor creates there as root could be swapped under it.
fn trusted_parent_of<'a>(
    path: &'a str,
    trust: &Trust,
) -> std::result::Result<(safepath::Resolved, &'a str), String> {
    // Judged before anything is created: the directories missing on the
    // way would otherwise be made (root's) inside one the workload writes.
    if let Some(why) = untrusted_parent(path, trust) {
        return Err(untrusted_dir_refusal(&why));
    }
    let (parent, name) =
        parent_of(path, trust).map_err(|e| format!("cannot create its directory: {}", io(&e)))?;
    if let Some(why) = &parent.untrusted {
        return Err(untrusted_dir_refusal(why));
    }
    Ok((parent, name))
}

/// Why someone other than root could change the directory `path` lies
/// in, or the nearest one above it that exists, if anyone could.
fn untrusted_parent(path: &str, trust: &Trust) -> Option<String> {
    match safepath::split_parent(path) {
        Ok((dir, _)) => untrusted_dir(dir, trust),
        Err(e) => Some(io(&e)),
    }
}

/// Why nothing is created in a directory whose entries someone other than
/// root could change (`why`).
fn untrusted_dir_refusal(why: &str) -> String {
    format!("{why}, so the workload could swap what is created there")
}

/// Why no device node is created in the directory `dir` (mode `mode`),
/// if none may be: the node is given to its owner, who could move it
/// out of a directory group or others may write, sticky or not (a later
/// launch would grant whatever was moved to its name).
fn node_dir_refusal(dir: &str, mode: u32) -> Option<String> {
    (mode & 0o022 != 0).then(|| {
        format!(
            "{dir} is writable by group or others (mode {mode:o}), so the workload could move the node once it owns it"
        )
    })
}

/// Why the fallback would refuse to create the missing node `path`,
/// found with `walker` as `apply` will find it: its directory, or the
/// nearest one above it that exists (the rest is created root's, mode
/// 755), is one someone other than root could change, or its own
/// directory is writable by group or others. `None` when it may be
/// created, or when the walk fails otherwise (`apply` then reports it).
pub fn node_creation_refusal(path: &str, walker: &mut safepath::Walker<'_>) -> Option<String> {
    let (dir, _) = safepath::split_parent(path).ok()?;
    let (r, own) = nearest_existing(dir, &mut |p| walker.open(p)).ok()??;
    if let Some(why) = &r.untrusted {
        return Some(untrusted_dir_refusal(why));
    }
    if own {
        node_dir_refusal(&r.path, r.mode)
    } else {
        None
    }
}

/// `p` (absolute, from the spec) beneath `root`.
fn under(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// mknodat of `name` in `dir`: the node this call creates (an existing
/// name fails with EEXIST, it is never reused).
fn mknod_in(dir: &safepath::Resolved, name: &str, c: &NodeCreate) -> std::io::Result<()> {
    let kind = match c.dev_type.as_str() {
        "b" => SFlag::S_IFBLK,
        "p" => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let major =
        u32::try_from(c.major).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let minor =
        u32::try_from(c.minor).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let dev = nix::sys::stat::makedev(major.into(), minor.into());
    let perm = Mode::from_bits_truncate(c.mode & 0o777);
    Ok(nix::sys::stat::mknodat(&dir.fd, name, kind, perm, dev)?)
}

/// Owner and mode of the node `mknod_in` just created in `dir`.
fn chmod_chown_in(dir: &safepath::Resolved, name: &str, c: &NodeCreate) -> Result<()> {
    let path = format!("{}/{name}", dir.path.trim_end_matches('/'));
    // The mode first, while root owns the node and root alone may change
    // the directory: the name is the node mknod_in just created, which is
    // not a symlink (fchmodat cannot decline to follow one).
    let mode = Mode::from_bits_truncate(c.mode & 0o7777);
    nix::sys::stat::fchmodat(&dir.fd, name, mode, FchmodatFlags::FollowSymlink).map_err(|e| {
        fail(format!(
            "device node {path}: chmod failed: {}",
            io(&e.into())
        ))
    })?;
    let (uid, gid) = (Uid::from_raw(c.uid), Gid::from_raw(c.gid));
    // AT_SYMLINK_NOFOLLOW acts on the name itself.
    nix::unistd::fchownat(
        &dir.fd,
        name,
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| {
        fail(format!(
            "device node {path}: chown failed: {}",
            io(&e.into())
        ))
    })?;
    Ok(())
}

/// Create one device node (fallback), with its parent directories.
pub fn create_node(path: &str, c: &NodeCreate) -> Result<()> {
    create_node_with(path, c, &Trust::default())
}

fn create_node_with(path: &str, c: &NodeCreate, trust: &Trust) -> Result<()> {
    let (parent, name) =
        trusted_parent_of(path, trust).map_err(|why| fail(format!("device node {path}: {why}")))?;
    if let Some(why) = node_dir_refusal(&parent.path, parent.mode) {
        return Err(fail(format!("device node {path}: {why}")));
    }
    mknod_in(&parent, name, c).map_err(|e| {
        let cause = format!("device node {path}: mknod failed: {}", io(&e));
        let err = fail(cause);
        if !matches!(e.raw_os_error(), Some(libc::EPERM)) {
            return err;
        }
        let held = crate::sys::capget().is_ok_and(|(eff, _, _)| {
            eff & crate::capabilities::bit(crate::capabilities::CAP_MKNOD) != 0
        });
        if held {
            // With CAP_MKNOD, EPERM comes from where the node is to be:
            // a filesystem that holds no device nodes (sysfs, procfs) or
            // the devices cgroup.
            err.with_hint("mknod was refused with CAP_MKNOD held: by the filesystem of its directory or by the container's devices cgroup; let the container runtime inject the device (devices.cdi.runtime_applied: true)")
        } else {
            err.with_hint("creating device nodes needs CAP_MKNOD; let the container runtime inject the device (devices.cdi.runtime_applied: true)")
        }
    })?;
    chmod_chown_in(&parent, name, c)
}

/// The checks of [`create_symlinks`]: each link's directory, or the
/// nearest one above it that exists, is root's alone.
fn judge_symlinks(root: &Path, links: &[Link], trust: &Trust) -> Result<()> {
    for l in links {
        let link = under(root, &l.link);
        let refused = |why: &str| {
            fail(format!(
                "hook create-symlinks: {} -> {}: {why}",
                l.link, l.target
            ))
        };
        let link_str = path_str(&link).map_err(|e| refused(&io(&e)))?;
        if let Some(why) = untrusted_parent(link_str, trust) {
            return Err(refused(&untrusted_dir_refusal(&why)));
        }
    }
    Ok(())
}

/// `ln -sfn TARGET LINK` for each link, skipping ones already right.
/// TARGET is written verbatim.
fn create_symlinks(root: &Path, links: &[Link], trust: &Trust) -> Result<()> {
    judge_symlinks(root, links, trust)?;
    for l in links {
        let link = under(root, &l.link);
        let what = |e: &std::io::Error| {
            fail(format!(
                "hook create-symlinks: {} -> {}: {}",
                l.link,
                l.target,
                io(e)
            ))
        };
        let link_str = path_str(&link).map_err(|e| what(&e))?;
        let (parent, name) = trusted_parent_of(link_str, trust).map_err(|why| {
            fail(format!(
                "hook create-symlinks: {} -> {}: {why}",
                l.link, l.target
            ))
        })?;
        let fd = &parent.fd;
        // Already right: read in the directory judged root's, the name
        // itself never followed.
        if nix::fcntl::readlinkat(fd, name).is_ok_and(|t| t.as_os_str() == l.target.as_str()) {
            continue;
        }
        let tmp = format!(".{name}.openshell-{}", std::process::id());
        // Remove whatever a previous run left under the temporary name
        // (never following it); absent is the usual case.
        let _ = unlinkat(fd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        nix::unistd::symlinkat(l.target.as_str(), fd, tmp.as_str()).map_err(|e| what(&e.into()))?;
        if let Err(e) = nix::fcntl::renameat(fd, tmp.as_str(), fd, name) {
            // Leave no stray temporary link; the rename error is reported.
            let _ = unlinkat(fd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
            return Err(what(&e.into()));
        }
    }
    Ok(())
}

/// The checks of [`chmod`] for `p`: the object, when there is one, opened
/// by the safe walk in a directory root alone can change (what lies there
/// is root's choice, not the workload's).
fn judge_chmod_path(root: &Path, p: &str, trust: &Trust) -> Result<Option<safepath::Resolved>> {
    let full = under(root, p);
    let full = path_str(&full).map_err(|e| fail(format!("hook chmod: {p}: {}", io(&e))))?;
    if let Some(why) = untrusted_parent(full, trust) {
        return Err(fail(format!(
            "hook chmod: {p}: {why}, so the workload could choose what root changes the mode of"
        )));
    }
    match safepath::open(full, trust) {
        Ok(r) => Ok(Some(r)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(fail(format!("hook chmod: {p}: {}", e.cause()))),
    }
}

/// Set `mode` on each path that exists and differs; EPERM is ignored, as
/// the real hook does.
/// The object is the one the safe walk opened: a planted link is an error,
/// never followed.
fn chmod(root: &Path, mode: u32, paths: &[String], trust: &Trust) -> Result<()> {
    for p in paths {
        let what = |e: &std::io::Error| fail(format!("hook chmod: {p}: {}", io(e)));
        let Some(r) = judge_chmod_path(root, p, trust)? else {
            continue;
        };
        if r.mode & 0o7777 == mode {
            continue;
        }
        // chmod through the descriptor: fchmod refuses O_PATH descriptors,
        // and its /proc/self/fd link names exactly the opened object.
        // The descriptor it names stays open until `r` drops after the call.
        let via = format!("/proc/self/fd/{}", r.fd.as_raw_fd());
        match nix::sys::stat::fchmodat(
            AT_FDCWD,
            via.as_str(),
            Mode::from_bits_truncate(mode),
            FchmodatFlags::FollowSymlink,
        ) {
            Ok(()) | Err(Errno::EPERM) => {}
            Err(e) => return Err(what(&e.into())),
        }
    }
    Ok(())
}

fn triplet() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "aarch64-linux-gnu"
    } else {
        "x86_64-linux-gnu"
    }
}

/// The image's ldconfig, which the hook runs as root: the first of
/// `/sbin/ldconfig` and `/usr/sbin/ldconfig` that is an executable file,
/// reached only through root's files (a link the image ships may lead
/// anywhere, a directory the workload writes included), and, for a
/// script, its interpreter the same. Anything else there is a refusal.
fn ldconfig_program(
    root: &Path,
    walker: &mut safepath::Walker<'_>,
) -> Result<Option<&'static str>> {
    for name in ["/sbin/ldconfig", "/usr/sbin/ldconfig"] {
        let full = under(root, name);
        let full = path_str(&full)
            .map_err(|e| fail(format!("hook update-ldcache: {name}: {}", io(&e))))?;
        let found = match walker.open(full) {
            Ok(r) => r,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(ldconfig_refused(name, &e.cause())),
        };
        if found.kind != crate::probe::PathKind::File || found.mode & 0o111 == 0 {
            continue;
        }
        if let Some(why) = &found.untrusted {
            return Err(ldconfig_refused(name, &leads_to(full, &found.path, why)));
        }
        // A script runs its interpreter as root too.
        let mut head = [0u8; 256];
        // Read through the descriptor the walk checked (O_PATH, so
        // reopened by its /proc/self/fd name).
        let file = nix::fcntl::open(
            format!("/proc/self/fd/{}", found.fd.as_raw_fd()).as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| ldconfig_refused(name, &io(&e.into())))?;
        let n = nix::unistd::read(&file, &mut head)
            .map_err(|e| ldconfig_refused(name, &io(&e.into())))?;
        if let Some(line) = head.get(..n).and_then(|h| h.strip_prefix(b"#!")) {
            let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
            let interp = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.split_whitespace().next())
                .filter(|i| i.starts_with('/'))
                .ok_or_else(|| {
                    ldconfig_refused(name, "a script whose interpreter cannot be read")
                })?;
            // The kernel finds the interpreter from this process's root,
            // whatever root ldconfig is given.
            match walker.open(interp) {
                Ok(r) if r.untrusted.is_none() => {}
                Ok(r) => {
                    let why = r.untrusted.unwrap_or_default();
                    let why = if r.path == interp {
                        format!("{interp}: {why}")
                    } else {
                        leads_to(interp, &r.path, &why)
                    };
                    return Err(ldconfig_refused(name, &format!("its interpreter {why}")));
                }
                Err(e) => {
                    return Err(ldconfig_refused(
                        name,
                        &format!("its interpreter {interp}: {}", e.cause()),
                    ));
                }
            }
        }
        return Ok(Some(name));
    }
    Ok(None)
}

fn ldconfig_refused(name: &str, why: &str) -> Error {
    fail(format!(
        "hook update-ldcache: {name}, which it runs as root: {why}, so the workload could choose what runs"
    ))
    .with_hint("the image's ldconfig must be root's file, reached only through root's directories, or let the container runtime inject the device (devices.cdi.runtime_applied: true)")
}

/// `why` for what `path` led to (`found`), naming where when a link led
/// elsewhere.
fn leads_to(path: &str, found: &str, why: &str) -> String {
    if found == path {
        why.to_string()
    } else {
        format!("{path} leads to {found}: {why}")
    }
}

/// Why someone other than root could create the missing `path`, if
/// anyone could: the nearest directory above it that exists is one group
/// or others may write (a sticky `/tmp` included, where anyone may make a
/// new name).
fn creatable_by_others(path: &str, trust: &Trust) -> Option<String> {
    let (parent, _) = safepath::split_parent(path).ok()?;
    match nearest_existing(parent, &mut |p| safepath::open(p, trust)) {
        Ok(Some((r, _))) if r.mode & 0o022 != 0 => Some(format!(
            "{} may be written by group or others (mode {:o}), who could create it",
            r.path, r.mode
        )),
        Ok(_) => None,
        Err(e) => Some(e.cause()),
    }
}

/// Where glibc's ldconfig keeps its auxiliary cache.
const AUX_CACHE_DIR: &str = "/var/cache/ldconfig";

/// Legacy hwcap subdirectories ldconfig (glibc before 2.37) and the
/// dynamic linker search below a library directory, for the
/// architectures built here.
const LEGACY_HWCAP_DIRS: [&str; 10] = [
    "tls", "x86_64", "haswell", "xeon_phi", "avx512_1", "i386", "i486", "i586", "i686", "sse2",
];

/// Why what is found in the library directory `dir` (root's, judged
/// already) could be chosen by someone other than root, if it could: a
/// library's link (a name with `.so`) that leads, or would once its
/// target exists, where someone else may write, and the same within the
/// hwcap subdirectories ldconfig and the dynamic linker search
/// (`glibc-hwcaps/*`, and the legacy ones). A library file in a root's
/// directory is root's; other entries are never read as libraries.
fn untrusted_library_entry(
    dir: &str,
    walker: &mut safepath::Walker<'_>,
    trust: &Trust,
    depth: u8,
) -> Option<String> {
    // A missing directory holds nothing.
    let entries = std::fs::read_dir(dir).ok()?;
    let in_hwcaps = dir.ends_with("/glibc-hwcaps");
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            if kind.is_symlink() || kind.is_dir() {
                return Some(format!(
                    "{dir} holds a link or directory whose name is not UTF-8, which cannot be checked"
                ));
            }
            continue;
        };
        let hwcap = in_hwcaps || name == "glibc-hwcaps" || LEGACY_HWCAP_DIRS.contains(&name);
        let path = format!("{}/{name}", dir.trim_end_matches('/'));
        if kind.is_file() && name.contains(".so") {
            // A library file here is root's to change only if root owns it
            // and no one else may write it: its inode may have another
            // name (a hard link) in a directory the workload writes.
            let Ok(st) = nix::sys::stat::lstat(path.as_str()) else {
                continue;
            };
            if !trust.owner_trusted(st.st_uid) {
                return Some(format!("{path} is owned by uid {}", st.st_uid));
            }
            if st.st_mode & 0o022 != 0 {
                return Some(format!(
                    "{path} is writable by group or others (mode {:o})",
                    st.st_mode & 0o7777
                ));
            }
            continue;
        }
        if !(name.contains(".so") || hwcap) || !(kind.is_symlink() || kind.is_dir()) {
            continue;
        }
        let found = match walker.open(&path) {
            Ok(r) => r,
            // A link to nothing yet: judged by where it would lead.
            Err(e) if e.is_not_found() && kind.is_symlink() => {
                let target = std::fs::read_link(&path).ok()?;
                let target = target.to_str()?;
                let target = if target.starts_with('/') {
                    target.to_string()
                } else {
                    format!("{}/{target}", dir.trim_end_matches('/'))
                };
                let target = crate::policy::paths::normalize(&target);
                match untrusted_dir(&target, trust).or_else(|| creatable_by_others(&target, trust))
                {
                    Some(why) => return Some(format!("{path} leads to {target}: {why}")),
                    None => continue,
                }
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Some(format!("{path}: {}", e.cause())),
        };
        if let Some(why) = &found.untrusted {
            return Some(leads_to(&path, &found.path, why));
        }
        if hwcap && found.kind == crate::probe::PathKind::Directory && depth < 3 {
            let below = found.path.clone();
            if let Some(why) = untrusted_library_entry(&below, walker, trust, depth + 1) {
                return Some(why);
            }
        }
    }
    None
}

/// The rootfs's default library directories.
fn system_dirs(root: &Path) -> Vec<String> {
    if under(root, "/etc/debian_version").exists() {
        let t = triplet();
        return vec![
            format!("/lib/{t}"),
            format!("/usr/lib/{t}"),
            "/lib".into(),
            "/usr/lib".into(),
        ];
    }
    let mut d: Vec<String> = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if cfg!(target_arch = "x86_64") {
        d.extend(["/libx32".to_string(), "/usr/libx32".to_string()]);
    }
    d
}

/// The directories the image's `/etc/ld.so.conf` and
/// `/etc/ld.so.conf.d/*.conf` list (a `=TYPE` suffix cut off), and the
/// first reason, if any, that this is not all root's `ldconfig` would
/// read there: an `include` other than the usual
/// `include /etc/ld.so.conf.d/*.conf` (or `ld.so.conf.d/*.conf`, relative
/// to `/etc`) in `/etc/ld.so.conf` (ldconfig
/// follows relative, globbed and repeated ones, which are not followed
/// here), a relative directory, or a file someone other than root could
/// have written.
fn listed_dirs(root: &Path, trust: &Trust) -> (Vec<String>, Option<String>) {
    let mut out = Vec::new();
    let mut unjudged: Option<String> = None;
    let mut files = vec![(
        under(root, "/etc/ld.so.conf"),
        "/etc/ld.so.conf".to_string(),
    )];
    if let Ok(rd) = std::fs::read_dir(under(root, "/etc/ld.so.conf.d")) {
        let mut v: Vec<(PathBuf, String)> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "conf"))
            .map(|e| {
                let shown = format!("/etc/ld.so.conf.d/{}", e.file_name().to_string_lossy());
                (e.path(), shown)
            })
            .collect();
        crate::sort::sort(&mut v);
        files.extend(v);
    }
    for (i, (f, shown)) in files.iter().enumerate() {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let mut why = |w: String| {
            unjudged.get_or_insert(w);
        };
        if let Some(u) = path_str(f).ok().and_then(|p| untrusted_dir(p, trust)) {
            why(format!("{shown}: {u}"));
        }
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let word = |w: &str| {
                line.strip_prefix(w)
                    .filter(|r| r.starts_with([' ', '\t']))
                    .map(str::trim)
            };
            if line.is_empty() || word("hwcap").is_some() {
                continue;
            }
            if let Some(arg) = word("include") {
                // Debian's spelling, and Fedora's (relative to /etc).
                let usual = matches!(arg, "/etc/ld.so.conf.d/*.conf" | "ld.so.conf.d/*.conf");
                if i > 0 || !usual {
                    why(format!(
                        "{shown} includes {arg}, which is not followed here"
                    ));
                }
                continue;
            }
            let dir = line.split('=').next().unwrap_or("").trim_end();
            if dir.starts_with('/') {
                out.push(crate::policy::paths::normalize(dir));
            } else {
                why(format!("{shown} lists {dir:?}, not an absolute path"));
            }
        }
    }
    (
        out,
        unjudged.map(|w| crate::bytes::escape_controls(&w).into_owned()),
    )
}

/// Write `text` to `path` as a new file renamed over the name (see
/// `safepath::create_replacing`).
fn write_file(path: &Path, text: &str, trust: &Trust) -> std::io::Result<()> {
    let mut f = safepath::create_replacing(path_str(path)?, trust, 0o644)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Where the configuration goes, beneath the rootfs.
pub const LDCONF: &str = "/etc/ld.so.conf.d/00-openshell-cdi.conf";
pub const LDCONF_SYSTEM: &str = "/etc/ld.so.conf.d/zz-openshell-cdi.conf";

/// Write the library directories into the ld.so configuration and run the
/// image's ldconfig when it has one.
/// What the emulated update-ldcache was judged to do, before it does it.
struct LdcachePlan {
    /// The spec's folders not already on the library path.
    mine: Vec<String>,
    system: Vec<String>,
    ldconfig: Option<&'static str>,
}

fn ldcache_io(what: &str, e: &std::io::Error) -> Error {
    let base = fail(format!("hook update-ldcache: {what}: {}", io(e)));
    if e.raw_os_error() == Some(libc::EROFS) {
        base.with_hint("the root filesystem is read-only: set LD_LIBRARY_PATH in environment.set, or let the container runtime inject the device (devices.cdi.runtime_applied: true)")
    } else {
        base
    }
}

/// Every check the emulated update-ldcache makes before it writes or
/// runs anything; `None` when there is nothing for it to do.
fn judge_ldcache(root: &Path, folders: &[String], trust: &Trust) -> Result<Option<LdcachePlan>> {
    let err = ldcache_io;
    let system = system_dirs(root);
    let (listed, unjudged) = listed_dirs(root, trust);
    let mut mine: Vec<String> = Vec::new();
    for f in folders {
        let n = crate::policy::paths::normalize(f);
        if !system.contains(&n) && !listed.contains(&n) && !mine.contains(&n) {
            // Every root process of the container searches these
            // directories for libraries: only root may be able to put
            // anything there.
            let full = under(root, &n);
            let full = path_str(&full).map_err(|e| err(&n, &e))?;
            if let Some(why) = untrusted_dir(full, trust) {
                return Err(fail(format!(
                    "hook update-ldcache: folder {n}: {why}, so the workload could place libraries there that root processes would load"
                ))
                .with_hint("list only root-owned driver directories in the CDI spec, outside the policy's read_write paths"));
            }
            mine.push(n);
        }
    }
    if mine.is_empty() {
        return Ok(None);
    }
    let mut walker = safepath::Walker::new(trust);
    let ldconfig = ldconfig_program(root, &mut walker)?;
    // What root processes would load from the spec's folders, through the
    // cache or musl's path file: the links and hwcap directories there
    // too, not only the folders.
    for d in &mine {
        let full = under(root, d);
        let full = path_str(&full).map_err(|e| err(d, &e))?;
        if let Some(why) = untrusted_library_entry(full, &mut walker, trust, 0) {
            return Err(fail(format!(
                "hook update-ldcache: folder {d}: {why}, so the workload could choose libraries that root processes would load"
            ))
            .with_hint("list only root-owned driver directories in the CDI spec, whose links lead to root's files outside the policy's read_write paths"));
        }
    }
    if ldconfig.is_some() {
        // Root's ldconfig links and caches what it finds in every directory
        // the image lists, not only the spec's: one the workload can write
        // would put its libraries in root's cache (and links, made by root,
        // in its directory). What it would read must be judged whole.
        if let Some(why) = unjudged {
            return Err(fail(format!(
                "hook update-ldcache: the image's library path cannot be checked: {why}"
            ))
            .with_hint("list directories one per line in /etc/ld.so.conf.d/*.conf (root's files), or let the container runtime inject the device (devices.cdi.runtime_applied: true)"));
        }
        let image_hint = "keep the directories the image's /etc/ld.so.conf lists, and what their libraries' links lead to, out of the policy's read_write paths and owned by root, or let the container runtime inject the device (devices.cdi.runtime_applied: true)";
        for d in system.iter().chain(&listed) {
            let full = under(root, d);
            let full = path_str(&full).map_err(|e| err(d, &e))?;
            let why = untrusted_dir(full, trust)
                .or_else(|| untrusted_library_entry(full, &mut walker, trust, 0));
            if let Some(why) = why {
                return Err(fail(format!(
                    "hook update-ldcache: the image's library path lists {d}: {why}, so root's ldconfig would link and cache libraries the workload put there"
                ))
                .with_hint(image_hint));
            }
        }
        // ldconfig writes its auxiliary cache beneath /var/cache/ldconfig,
        // as root, through whatever lies there.
        let aux = under(root, AUX_CACHE_DIR);
        let aux = path_str(&aux).map_err(|e| err(AUX_CACHE_DIR, &e))?;
        if let Some(why) = untrusted_dir(aux, trust) {
            return Err(fail(format!(
                "hook update-ldcache: {AUX_CACHE_DIR}, where ldconfig writes its auxiliary cache as root: {why}"
            ))
            .with_hint("keep /var/cache/ldconfig owned by root and out of the policy's read_write paths, or let the container runtime inject the device (devices.cdi.runtime_applied: true)"));
        }
    }
    Ok(Some(LdcachePlan {
        mine,
        system,
        ldconfig,
    }))
}

fn update_ldcache(root: &Path, folders: &[String], trust: &Trust) -> Result<()> {
    let err = ldcache_io;
    let Some(LdcachePlan {
        mine,
        system,
        ldconfig,
    }) = judge_ldcache(root, folders, trust)?
    else {
        return Ok(());
    };
    let conf = under(root, "/etc/ld.so.conf");
    if !conf.exists() {
        write_file(&conf, "include /etc/ld.so.conf.d/*.conf\n", trust)
            .map_err(|e| err("/etc/ld.so.conf", &e))?;
    }
    let confd = under(root, "/etc/ld.so.conf.d");
    safepath::ensure_dir(
        path_str(&confd).map_err(|e| err("/etc/ld.so.conf.d", &e))?,
        trust,
        0o755,
    )
    .map_err(|e| err("/etc/ld.so.conf.d", &resolve_err(e)))?;
    let text: String = mine.iter().map(|d| format!("{d}\n")).collect();
    write_file(&under(root, LDCONF), &text, trust).map_err(|e| err(LDCONF, &e))?;
    // The system directories again, last, so they keep their precedence
    // over other configuration files.
    let sys: String = system.iter().map(|d| format!("{d}\n")).collect();
    write_file(&under(root, LDCONF_SYSTEM), &sys, trust).map_err(|e| err(LDCONF_SYSTEM, &e))?;
    if under(root, "/etc/alpine-release").exists() {
        let arch = if cfg!(target_arch = "aarch64") {
            "aarch64"
        } else {
            "x86_64"
        };
        let name = format!("/etc/ld-musl-{arch}.path");
        let path = under(root, &name);
        // A path file replaces musl's built-in default, so start from it.
        let mut text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| "/lib\n/usr/local/lib\n/usr/lib\n".to_string());
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for d in &mine {
            if !text.lines().any(|l| l.trim() == d) {
                text.push_str(d);
                text.push('\n');
            }
        }
        write_file(&path, &text, trust).map_err(|e| err(&name, &e))?;
    }
    if let Some(ld) = ldconfig {
        let mut cmd = std::process::Command::new(under(root, ld));
        if root != Path::new("/") {
            cmd.arg("-r").arg(root);
        }
        let out = cmd
            .args(["-f", "/etc/ld.so.conf", "-C", "/etc/ld.so.cache"])
            .env_clear()
            .env("PATH", crate::env::DEFAULT_PATH)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(|e| err(ld, &e))?;
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stderr);
            let first = text.lines().next().unwrap_or("").trim();
            // It names files in directories others may have named.
            let first = crate::bytes::escape_controls(first);
            return Err(fail(format!(
                "hook update-ldcache: {ld} failed ({}){}",
                out.status,
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {first}")
                }
            )));
        }
    }
    Ok(())
}

/// Keep `/proc/self/task` open (O_PATH, inherited across exec) so its
/// dentry, and with it the inode the Landlock rule names, stays cached.
fn pin_proc_task() -> Result<()> {
    let fd = nix::fcntl::open(
        "/proc/self/task",
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
    .map_err(|e| fail(format!("/proc/self/task: cannot open: {}", io(&e.into()))))?;
    // The descriptor is deliberately never closed: it must reach the
    // workload.
    let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
    Ok(())
}
