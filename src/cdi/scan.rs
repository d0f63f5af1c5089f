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
use std::os::fd::AsRawFd;
use std::path::Path;

use super::spec::{self, LoadError, Spec};
use crate::safepath::Trust;

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
fn read_spec(path: &Path, trust: &Trust) -> Result<String, String> {
    let text = path.to_str().ok_or("the path is not UTF-8")?;
    let r = crate::safepath::open(text, trust).map_err(|e| e.cause())?;
    if r.kind != crate::safepath::PathKind::File {
        return Err("not a regular file".into());
    }
    if let Some(why) = &r.untrusted {
        return Err(format!(
            "not read: {why}, so someone other than root could have written it"
        ));
    }
    // Opened through the descriptor of what was resolved.
    let f = crate::safepath::open_read(format!("/proc/self/fd/{}", r.fd.as_raw_fd()).as_str())
        .map_err(|e| crate::policy::io_cause(&e))?;
    let meta = f.metadata().map_err(|e| crate::policy::io_cause(&e))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > spec::MAX_SPEC_BYTES {
        return Err(format!("larger than {} MiB", spec::MAX_SPEC_BYTES >> 20));
    }
    let mut buf = Vec::with_capacity(crate::policy::capacity_for(
        meta.len(),
        spec::MAX_SPEC_BYTES,
    ));
    f.take(spec::MAX_SPEC_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| crate::policy::io_cause(&e))?;
    if buf.len() as u64 > spec::MAX_SPEC_BYTES {
        return Err(format!("larger than {} MiB", spec::MAX_SPEC_BYTES >> 20));
    }
    String::from_utf8(buf).map_err(|_| "not valid UTF-8".to_string())
}

/// List and read the candidate files of `dirs`. Reads the host.
pub fn read_dirs(dirs: &[String], trust: &Trust) -> (Vec<SpecFile>, Vec<LoadError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for (priority, dir) in dirs.iter().enumerate() {
        let entries = match std::fs::read_dir(dir) {
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
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push(plain_error(
                        dir,
                        format!(
                            "cannot read the spec directory: {}",
                            crate::policy::io_cause(&e)
                        ),
                    ));
                    break;
                }
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.chars().any(char::is_control) {
                // Not a spec anyone meant to write; its name must not reach
                // a log line as it is.
                errors.push(plain_error(
                    dir,
                    format!(
                        "skipped a file whose name has control characters: {}",
                        crate::bytes::escape_controls(name)
                    ),
                ));
                continue;
            }
            if !(name.ends_with(".json") || name.ends_with(".yaml")) {
                continue;
            }
            // Like the reference: subdirectories are skipped, symlinks to
            // files are followed.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            names.push(name.to_string());
        }
        crate::sort::sort(&mut names);
        for name in names {
            let path = Path::new(dir).join(&name);
            files.push(SpecFile {
                priority,
                path: path.display().to_string(),
                content: read_spec(&path, trust),
            });
        }
    }
    (files, errors)
}

/// Scan `dirs` (lowest priority first). Reads the host; never fails.
pub fn scan(dirs: &[String], trust: &Trust) -> Registry {
    let (files, errors) = read_dirs(dirs, trust);
    build(dirs, files, errors)
}
