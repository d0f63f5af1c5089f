//! Spec directories, as the reference library reads them.
//!
//! Every `*.json` and `*.yaml` entry directly inside each directory, in
//! lexical order, no recursion (`.yml` and subdirectories are ignored); a
//! missing directory is skipped. Directories are listed lowest priority
//! first (`/etc/cdi` then `/var/run/cdi`): a device defined again in a
//! later directory replaces the earlier one silently. A device defined
//! twice at the same priority is removed, and the conflict is recorded as
//! an error against both files (unless a later directory defines it, which
//! then wins). A bad file is skipped with its errors kept; nothing here is
//! fatal.
//!
//! Two deliberate differences from the reference: an unreadable directory
//! is recorded and the scan goes on (the reference stops scanning the
//! remaining directories), and a spec directory that is a symlink is
//! followed (the reference's `filepath.Walk` silently reads nothing).
//!
//! A spec grants device nodes, mounts and groups, so only a spec that no
//! one but root could have written is read: the file is resolved through
//! `safepath` (no link the workload could have planted is followed) and
//! skipped, with the reason kept as its load error, when it or a directory
//! above it is not root-owned, is writable by group or others, or lies
//! beneath a path the policy makes writable (a spec planted on an earlier
//! launch in `/var/run/cdi` under a `read_write: [/run]` grant).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::OFlag;

use super::spec::{self, LoadError, Spec};
use crate::safepath::{Trust, Walker};

/// One candidate file: its directory's priority, path and content (or
/// why it could not be read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecFile {
    pub priority: usize,
    pub path: String,
    pub content: Result<String, String>,
}

/// Every loaded spec, the devices they resolve, and every load error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    pub dirs: Vec<String>,
    /// Specs that loaded, in scan order.
    pub specs: Vec<Spec>,
    /// Fully-qualified name -> (index in `specs`, index in its devices).
    pub devices: BTreeMap<String, (usize, usize)>,
    pub errors: Vec<LoadError>,
}

impl Registry {
    /// Every resolvable device, sorted.
    pub fn names(&self) -> Vec<String> {
        self.devices.keys().cloned().collect()
    }

    pub fn lookup(&self, name: &str) -> Option<(&Spec, &spec::Device)> {
        let (s, d) = self.devices.get(name)?;
        let spec = self.specs.get(*s)?;
        Some((spec, spec.devices.get(*d)?))
    }
}

fn plain_error(file: &str, message: String) -> LoadError {
    LoadError {
        file: file.to_string(),
        mark: None,
        path: String::new(),
        message,
        kind: None,
    }
}

/// Build the registry from files already read. Pure.
pub fn build(dirs: &[String], files: Vec<SpecFile>, mut errors: Vec<LoadError>) -> Registry {
    let mut specs: Vec<Spec> = Vec::new();
    // name -> (priority, spec, device)
    let mut devices: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    // name -> priority of an unresolved same-priority conflict
    let mut conflicts: BTreeMap<String, usize> = BTreeMap::new();
    for f in files {
        let text = match f.content {
            Ok(t) => t,
            Err(why) => {
                errors.push(plain_error(&f.path, why));
                continue;
            }
        };
        let s = match spec::parse(&f.path, &text, f.priority) {
            Ok(s) => s,
            Err(errs) => {
                errors.extend(errs);
                continue;
            }
        };
        let si = specs.len();
        for (di, d) in s.devices.iter().enumerate() {
            let name = s.qualified(&d.name);
            match devices.get(&name) {
                Some((prio, old, _)) if *prio == f.priority => {
                    let old_path = specs.get(*old).map(|o| o.path.clone()).unwrap_or_default();
                    let message = format!(
                        "conflicting device {name:?} (specs {:?}, {old_path:?})",
                        s.path
                    );
                    for file in [&s.path, &old_path] {
                        errors.push(LoadError {
                            kind: Some(s.kind()),
                            ..plain_error(file, message.clone())
                        });
                    }
                    conflicts.insert(name, f.priority);
                }
                _ => {
                    // New, or a higher priority than what was there.
                    conflicts.remove(&name);
                    devices.insert(name, (f.priority, si, di));
                }
            }
        }
        specs.push(s);
    }
    for name in conflicts.keys() {
        devices.remove(name);
    }
    Registry {
        dirs: dirs.to_vec(),
        specs,
        devices: devices
            .into_iter()
            .map(|(n, (_, s, d))| (n, (s, d)))
            .collect(),
        errors,
    }
}

/// Read one spec file: regular files only (a FIFO named `x.yaml` must not
/// hang the launch), at most [`spec::MAX_SPEC_BYTES`], UTF-8.
fn read_spec(path: &Path, walker: &mut Walker<'_>) -> Result<String, String> {
    let text = path.to_str().ok_or("the path is not UTF-8")?;
    let r = walker.open(text).map_err(|e| e.cause())?;
    if r.kind != crate::safepath::PathKind::File {
        return Err("not a regular file".into());
    }
    if let Some(why) = &r.untrusted {
        return Err(not_trusted(why));
    }
    // Opened through the descriptor of what was resolved.
    let f = crate::safepath::open_read(format!("/proc/self/fd/{}", r.fd.as_raw_fd()).as_str())
        .map_err(|e| crate::policy::io_cause(&e))?;
    let meta = f.metadata().map_err(|e| crate::policy::io_cause(&e))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    read_open(f, meta.len())
}

fn not_trusted(why: &str) -> String {
    format!("not read: {why}, so someone other than root could have written it")
}

/// The text of the regular file `f` is open on, `len` bytes long when it
/// was asked (see [`read_spec`]).
fn read_open(f: std::fs::File, len: u64) -> Result<String, String> {
    if len > spec::MAX_SPEC_BYTES {
        return Err(format!("larger than {} MiB", spec::MAX_SPEC_BYTES >> 20));
    }
    let mut buf = Vec::with_capacity(crate::policy::capacity_for(len, spec::MAX_SPEC_BYTES));
    f.take(spec::MAX_SPEC_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| crate::policy::io_cause(&e))?;
    if buf.len() as u64 > spec::MAX_SPEC_BYTES {
        return Err(format!("larger than {} MiB", spec::MAX_SPEC_BYTES >> 20));
    }
    String::from_utf8(buf).map_err(|_| "not valid UTF-8".to_string())
}

/// A spec directory only root can change, resolved by the walker: listed
/// and its regular files read relative to it, each opened once. Anything
/// else is read the general way ([`read_spec`], [`list_by_path`]), which
/// says the same of it.
struct Trusted {
    /// Open for reading (`getdents64`, `openat`).
    fd: std::os::fd::OwnedFd,
    /// Its canonical path (it was reached without a link).
    path: String,
}

impl Trusted {
    fn open(dir: &str, walker: &mut Walker<'_>) -> Option<Trusted> {
        let r = walker.open(dir).ok()?;
        if r.kind != crate::safepath::PathKind::Directory || r.via_link || r.untrusted.is_some() {
            return None;
        }
        let fd = nix::fcntl::openat(
            &r.fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()?;
        Some(Trusted { fd, path: r.path })
    }

    /// The entries, `.` and `..` left out: each name with its `d_type`
    /// (see [`Listed`]).
    fn list(&self) -> std::io::Result<Vec<(Listed, u8)>> {
        let mut buf = vec![0u8; 4096];
        let mut out = Vec::new();
        loop {
            let n = crate::sys::getdents64(self.fd.as_fd(), &mut buf)
                .map_err(std::io::Error::from_raw_os_error)?;
            let mut records = buf.get(..n).unwrap_or_default();
            if records.is_empty() {
                return Ok(out);
            }
            // struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2),
            // d_type (1), then the name and its NUL.
            while let Some(head) = records.get(..19) {
                let reclen = usize::from(u16::from_ne_bytes([head[16], head[17]]));
                let (Some(rec), true) = (records.get(..reclen), reclen > 19) else {
                    return Err(std::io::Error::from_raw_os_error(libc::EIO));
                };
                let name = rec.get(19..).unwrap_or_default();
                let name = name.split(|&b| b == 0).next().unwrap_or_default();
                if name != b"." && name != b".." {
                    out.push((listed(name), head[18]));
                }
                records = records.get(reclen..).unwrap_or_default();
            }
        }
    }

    /// [`read_spec`] of `name`, a regular file when listed: opened
    /// relative to the directory, never following a link.
    fn read(&self, name: &str, path: &Path, walker: &mut Walker<'_>) -> Result<String, String> {
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let Ok(fd) = nix::fcntl::openat(&self.fd, name, flags, nix::sys::stat::Mode::empty())
        else {
            return read_spec(path, walker);
        };
        let Ok(st) = nix::sys::stat::fstat(&fd) else {
            return read_spec(path, walker);
        };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return read_spec(path, walker);
        }
        let here = crate::safepath::join(&self.path, name);
        match walker.untrusted_entry(&here, &fd, &st) {
            #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
            Ok(None) => read_open(std::fs::File::from(fd), st.st_size as u64),
            Ok(Some(why)) => Err(not_trusted(&why)),
            Err(_) => read_spec(path, walker),
        }
    }
}

/// A name listed in a spec directory: UTF-8, or (`Err`) not, escaped for
/// a message (specs are read by UTF-8 paths only).
type Listed = Result<String, String>;

fn listed(name: &[u8]) -> Listed {
    match std::str::from_utf8(name) {
        Ok(n) => Ok(n.to_string()),
        Err(_) => Err(crate::bytes::shown(std::ffi::OsStr::from_bytes(name))),
    }
}

/// The entries of `dir` by its path (`std::fs::read_dir`): each name with
/// whether it is a directory (a symlink is not).
fn list_by_path(dir: &str) -> std::io::Result<Vec<(Listed, u8)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let t = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            libc::DT_DIR
        } else {
            libc::DT_UNKNOWN
        };
        out.push((listed(entry.file_name().as_bytes()), t));
    }
    Ok(out)
}

/// List and read the candidate files of `dirs`. Reads the host.
pub fn read_dirs(dirs: &[String], trust: &Trust) -> (Vec<SpecFile>, Vec<LoadError>) {
    read_dirs_with(dirs, &mut Walker::new(trust))
}

/// [`read_dirs`] with a walker the caller goes on using (the directories
/// on the way to the specs are walked once for every path it resolves).
pub fn read_dirs_with(dirs: &[String], walker: &mut Walker<'_>) -> (Vec<SpecFile>, Vec<LoadError>) {
    read_dirs_by(dirs, walker, true)
}

/// [`read_dirs_with`]; `direct`: a trusted directory is listed and read
/// relative to itself ([`Trusted`]), else every one the general way.
fn read_dirs_by(
    dirs: &[String],
    walker: &mut Walker<'_>,
    direct: bool,
) -> (Vec<SpecFile>, Vec<LoadError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for (priority, dir) in dirs.iter().enumerate() {
        let trusted = direct.then(|| Trusted::open(dir, walker)).flatten();
        let listed = match &trusted {
            Some(t) => t.list(),
            None => list_by_path(dir),
        };
        let entries = match listed {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                errors.push(plain_error(
                    dir,
                    format!(
                        "cannot read the spec directory: {}",
                        crate::policy::io_cause(&e)
                    ),
                ));
                continue;
            }
        };
        let mut names = Vec::new();
        for (name, d_type) in entries {
            let name = match name {
                Ok(name) => name,
                Err(shown) => {
                    // Its suffix is ASCII, so escaping left it as it was.
                    if shown.ends_with(".json") || shown.ends_with(".yaml") {
                        errors.push(plain_error(
                            dir,
                            format!("skipped a file whose name is not UTF-8: {shown}"),
                        ));
                    }
                    continue;
                }
            };
            if name.chars().any(char::is_control) {
                // Not a spec anyone meant to write; its name must not reach
                // a log line as it is.
                errors.push(plain_error(
                    dir,
                    format!(
                        "skipped a file whose name has control characters: {}",
                        crate::bytes::escape_controls(&name)
                    ),
                ));
                continue;
            }
            if !(name.ends_with(".json") || name.ends_with(".yaml")) {
                continue;
            }
            // Like the reference: subdirectories are skipped, symlinks to
            // files are followed.
            let is_dir = match (d_type, &trusted) {
                (libc::DT_DIR, _) => true,
                (libc::DT_UNKNOWN, Some(t)) => nix::sys::stat::fstatat(
                    &t.fd,
                    name.as_str(),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR),
                _ => false,
            };
            if !is_dir {
                names.push((name, d_type));
            }
        }
        crate::sort::sort(&mut names);
        for (name, d_type) in names {
            let path = Path::new(dir).join(&name);
            let content = match &trusted {
                Some(t) if d_type == libc::DT_REG => t.read(&name, &path, walker),
                _ => read_spec(&path, walker),
            };
            files.push(SpecFile {
                priority,
                path: path.display().to_string(),
                content,
            });
        }
    }
    (files, errors)
}

/// Scan `dirs` (lowest priority first). Reads the host; never fails.
pub fn scan(dirs: &[String], trust: &Trust) -> Registry {
    scan_with(dirs, &mut Walker::new(trust))
}

/// [`scan`] with a walker the caller goes on using.
pub fn scan_with(dirs: &[String], walker: &mut Walker<'_>) -> Registry {
    let (files, errors) = read_dirs_with(dirs, walker);
    build(dirs, files, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_directory_is_read_as_the_general_way_reads_it() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::{PermissionsExt, symlink};
        let d = std::env::temp_dir().join(format!("scan-fast-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (specs, other, sticky, ww) = (
            d.join("specs"),
            d.join("other"),
            d.join("sticky"),
            d.join("ww"),
        );
        for dir in [&specs, &other, &sticky, &ww] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::set_permissions(&sticky, PermissionsExt::from_mode(0o1777)).unwrap();
        std::fs::set_permissions(&ww, PermissionsExt::from_mode(0o777)).unwrap();
        let spec = |kind: &str| {
            format!(
                "cdiVersion: 0.3.0\nkind: {kind}/c\ndevices: [{{name: a, containerEdits: {{env: [A=1]}}}}]\n"
            )
        };
        std::fs::write(specs.join("a.yaml"), spec("a.com")).unwrap();
        std::fs::write(specs.join("b.json"), spec("b.com")).unwrap();
        std::fs::write(specs.join("c.yml"), spec("c.com")).unwrap();
        std::fs::write(specs.join("bad.yaml"), "{").unwrap();
        std::fs::write(specs.join("open.yaml"), spec("o.com")).unwrap();
        std::fs::set_permissions(specs.join("open.yaml"), PermissionsExt::from_mode(0o666))
            .unwrap();
        std::fs::write(specs.join("theirs.yaml"), spec("t.com")).unwrap();
        std::os::unix::fs::lchown(specs.join("theirs.yaml"), Some(1500), None).unwrap();
        std::fs::write(specs.join("rw.yaml"), spec("rw.com")).unwrap();
        std::fs::write(other.join("target.yaml"), spec("l.com")).unwrap();
        symlink(other.join("target.yaml"), specs.join("link.yaml")).unwrap();
        symlink(other.join("target.yaml"), specs.join("planted.yaml")).unwrap();
        std::os::unix::fs::lchown(specs.join("planted.yaml"), Some(1500), None).unwrap();
        symlink("/nonexistent", specs.join("dangling.yaml")).unwrap();
        symlink(&other, specs.join("dirlink.yaml")).unwrap();
        std::fs::create_dir_all(specs.join("dir.yaml")).unwrap();
        nix::unistd::mkfifo(
            &specs.join("fifo.yaml"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        std::fs::write(specs.join("ctl\u{1}.yaml"), "").unwrap();
        std::fs::write(specs.join(std::ffi::OsStr::from_bytes(b"raw\xff.yaml")), "").unwrap();
        std::fs::write(
            specs.join("big.yaml"),
            vec![b'#'; (spec::MAX_SPEC_BYTES + 1) as usize],
        )
        .unwrap();
        std::fs::write(sticky.join("root.yaml"), spec("s.com")).unwrap();
        std::fs::write(sticky.join("their.yaml"), spec("st.com")).unwrap();
        std::os::unix::fs::lchown(sticky.join("their.yaml"), Some(1500), None).unwrap();
        std::fs::write(ww.join("w.yaml"), spec("w.com")).unwrap();
        symlink(&specs, d.join("specs-link")).unwrap();
        let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
        let dirs = vec![
            s(&specs),
            s(&d.join("specs-link")),
            s(&sticky),
            s(&ww),
            s(&d.join("missing")),
            s(&other.join("target.yaml")),
            "relative/dir".to_string(),
        ];
        for writable in [vec![], vec![s(&specs.join("rw.yaml"))], vec![s(&specs)]] {
            let trust = Trust {
                writable,
                workload_uid: Some(1500),
            };
            let fast = read_dirs(&dirs, &trust);
            // The oracle: every directory listed by its path, every file
            // resolved from `/`.
            let general = read_dirs_by(&dirs, &mut Walker::new(&trust), false);
            assert_eq!(fast, general, "{:?}", trust.writable);
            // The files read and refused are all there: a listing or a
            // reading that found nothing would be equal too.
            let read = fast.0.iter().filter(|f| f.content.is_ok()).count();
            let refused = fast.0.len() - read;
            let want = match trust.writable.first() {
                None => (11, 16),
                Some(w) if w.ends_with("rw.yaml") => (9, 18),
                Some(_) => (1, 26),
            };
            assert_eq!((read, refused), want, "{fast:?}");
            // A name that is not UTF-8 is said, escaped, not passed over.
            let said: Vec<String> = fast.1.iter().map(ToString::to_string).collect();
            assert!(
                said.iter()
                    .any(|e| e.contains("skipped a file whose name is not UTF-8: raw\\xff.yaml")),
                "{said:?}"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
