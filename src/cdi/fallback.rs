//! The apply step for CDI devices, run as root before Landlock opens its
//! rule paths (a created node must exist by then):
//!
//! 1. every device node the plan verified is checked again (it must still
//!    be the same kind and major:minor; nothing may have swapped it);
//! 2. fallback only (`runtime_applied: false`): missing nodes are created
//!    (mknod, needs CAP_MKNOD and a devices-cgroup rule), then the NVIDIA
//!    hooks are emulated in spec order: `create-symlinks` (`ln -sfn`
//!    through a temporary name and a rename), `chmod` (only paths that
//!    exist; EPERM ignored, like the real hook) and `update-ldcache` (the
//!    ld.so.conf.d files, then the image's own `ldconfig` when it has
//!    one);
//! 3. when CUDA extras were granted, `/proc/self/task` is opened `O_PATH`
//!    without close-on-exec and left open, so the dentry the Landlock rule
//!    names stays cached (see `grants`).
//!
//! The rootfs is `/`: the supervisor runs inside the container.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::grants::{Emulation, Link, NodeCreate, NodePlan};
use crate::error::{Error, Result};
use crate::plan::Plan;

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

/// Perform the CDI part of the plan (see the module docs).
pub fn apply(plan: &Plan) -> Result<()> {
    let cdi = &plan.devices.cdi;
    for n in &cdi.nodes {
        match &n.create {
            Some(c) if !plan.devices.runtime_applied => create_node(&n.path, c)?,
            _ => recheck(n)?,
        }
    }
    if !plan.devices.runtime_applied {
        for e in cdi.hooks.iter().filter_map(|h| h.emulate.as_ref()) {
            emulate(Path::new("/"), e)?;
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
    match e {
        Emulation::CreateSymlinks { links } => create_symlinks(root, links),
        Emulation::Chmod { mode, paths } => chmod(root, *mode, paths),
        Emulation::UpdateLdcache { folders } => update_ldcache(root, folders),
    }
}

/// `p` (absolute, from the spec) beneath `root`.
fn under(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

fn recheck(n: &NodePlan) -> Result<()> {
    let Some(want) = &n.stat else {
        return Ok(()); // not present at plan time: a blocker stopped the run
    };
    match crate::probe::node_state(&n.path) {
        Ok(now)
            if (now.kind, now.symlink, now.major, now.minor)
                == (want.kind, want.symlink, want.major, want.minor) =>
        {
            Ok(())
        }
        Ok(_) => Err(fail(format!(
            "device node {}: changed since the plan was made",
            n.path
        ))),
        Err(e) => Err(fail(format!("device node {}: {e}", n.path))),
    }
}

#[allow(unsafe_code)]
fn mknod(path: &str, c: &NodeCreate) -> std::io::Result<()> {
    let kind = match c.dev_type.as_str() {
        "b" => libc::S_IFBLK,
        "p" => libc::S_IFIFO,
        _ => libc::S_IFCHR,
    };
    let cpath = std::ffi::CString::new(path)
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let major =
        u32::try_from(c.major).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let minor =
        u32::try_from(c.minor).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let dev = libc::makedev(major, minor);
    // SAFETY: cpath is a NUL-terminated string that outlives the call;
    // mknod reads only that string and creates one inode.
    let r = unsafe { libc::mknod(cpath.as_ptr(), kind | (c.mode & 0o777), dev) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Create one device node (fallback), with its parent directories.
pub fn create_node(path: &str, c: &NodeCreate) -> Result<()> {
    if let Some(parent) = std::path::Path::new(path).parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| {
                fail(format!(
                    "device node {path}: cannot create its directory: {}",
                    io(&e)
                ))
            })?;
    }
    mknod(path, c).map_err(|e| {
        let cause = format!("device node {path}: mknod failed: {}", io(&e));
        let err = fail(cause);
        if matches!(e.raw_os_error(), Some(libc::EPERM)) {
            err.with_hint("creating device nodes needs CAP_MKNOD; let the container runtime inject the device (devices.cdi.runtime_applied: true)")
        } else {
            err
        }
    })?;
    std::os::unix::fs::lchown(path, Some(c.uid), Some(c.gid))
        .map_err(|e| fail(format!("device node {path}: chown failed: {}", io(&e))))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(c.mode & 0o7777))
        .map_err(|e| fail(format!("device node {path}: chmod failed: {}", io(&e))))?;
    Ok(())
}

/// `ln -sfn TARGET LINK` for each link, skipping ones already right.
/// TARGET is written verbatim.
fn create_symlinks(root: &Path, links: &[Link]) -> Result<()> {
    for l in links {
        let link = under(root, &l.link);
        if std::fs::read_link(&link).is_ok_and(|t| t.as_os_str() == l.target.as_str()) {
            continue;
        }
        let what = |e: &std::io::Error| {
            fail(format!(
                "hook create-symlinks: {} -> {}: {}",
                l.link,
                l.target,
                io(e)
            ))
        };
        if let Some(parent) = link.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| what(&e))?;
        }
        let mut tmp = link.clone().into_os_string();
        tmp.push(format!(".openshell-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        if std::fs::symlink_metadata(&tmp).is_ok() {
            std::fs::remove_file(&tmp).map_err(|e| what(&e))?;
        }
        std::os::unix::fs::symlink(&l.target, &tmp).map_err(|e| what(&e))?;
        if let Err(e) = std::fs::rename(&tmp, &link) {
            // Leave no stray temporary link; the rename error is reported.
            std::fs::remove_file(&tmp).ok();
            return Err(what(&e));
        }
    }
    Ok(())
}

/// Set `mode` on each path that exists and differs; EPERM is ignored, as
/// the real hook does.
fn chmod(root: &Path, mode: u32, paths: &[String]) -> Result<()> {
    for p in paths {
        let full = under(root, p);
        let Ok(meta) = std::fs::metadata(&full) else {
            continue;
        };
        if meta.permissions().mode() & 0o7777 == mode {
            continue;
        }
        match std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            Err(e) => return Err(fail(format!("hook chmod: {p}: {}", io(&e)))),
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

/// Directories already listed by /etc/ld.so.conf and /etc/ld.so.conf.d.
fn listed_dirs(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut files = vec![under(root, "/etc/ld.so.conf")];
    if let Ok(rd) = std::fs::read_dir(under(root, "/etc/ld.so.conf.d")) {
        let mut v: Vec<_> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        super::sort_stable_by(&mut v, |a, b| a > b);
        files.extend(v);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.starts_with('/') {
                out.push(crate::policy::paths::normalize(line));
            }
        }
    }
    out
}

/// Write `text` to `path` through a temporary file and a rename.
fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".openshell-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Where the configuration goes, beneath the rootfs.
pub const LDCONF: &str = "/etc/ld.so.conf.d/00-openshell-cdi.conf";
pub const LDCONF_SYSTEM: &str = "/etc/ld.so.conf.d/zz-openshell-cdi.conf";

/// Write the library directories into the ld.so configuration and run the
/// image's ldconfig when it has one.
fn update_ldcache(root: &Path, folders: &[String]) -> Result<()> {
    let err = |what: &str, e: &std::io::Error| {
        let base = fail(format!("hook update-ldcache: {what}: {}", io(e)));
        if e.raw_os_error() == Some(libc::EROFS) {
            base.with_hint("the root filesystem is read-only: set LD_LIBRARY_PATH in environment.set, or let the container runtime inject the device (devices.cdi.runtime_applied: true)")
        } else {
            base
        }
    };
    let system = system_dirs(root);
    let listed = listed_dirs(root);
    let mut mine: Vec<String> = Vec::new();
    for f in folders {
        let n = crate::policy::paths::normalize(f);
        if !system.contains(&n) && !listed.contains(&n) && !mine.contains(&n) {
            mine.push(n);
        }
    }
    if mine.is_empty() {
        return Ok(());
    }
    let conf = under(root, "/etc/ld.so.conf");
    if !conf.exists() {
        write_file(&conf, "include /etc/ld.so.conf.d/*.conf\n")
            .map_err(|e| err("/etc/ld.so.conf", &e))?;
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(under(root, "/etc/ld.so.conf.d"))
        .map_err(|e| err("/etc/ld.so.conf.d", &e))?;
    let text: String = mine.iter().map(|d| format!("{d}\n")).collect();
    write_file(&under(root, LDCONF), &text).map_err(|e| err(LDCONF, &e))?;
    // The system directories again, last, so they keep their precedence
    // over other configuration files.
    let sys: String = system.iter().map(|d| format!("{d}\n")).collect();
    write_file(&under(root, LDCONF_SYSTEM), &sys).map_err(|e| err(LDCONF_SYSTEM, &e))?;
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
        write_file(&path, &text).map_err(|e| err(&name, &e))?;
    }
    let ldconfig = ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .into_iter()
        .find(|p| {
            std::fs::metadata(under(root, p))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
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
#[allow(unsafe_code)]
fn pin_proc_task() -> Result<()> {
    let path = c"/proc/self/task";
    // SAFETY: `path` is a NUL-terminated literal; open reads only it.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_DIRECTORY) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(fail(format!("/proc/self/task: cannot open: {}", io(&e))));
    }
    // The descriptor is deliberately never closed: it must reach the
    // workload.
    Ok(())
}
