//! Load and validate an openshell-policy document: the `load` and
//! `validate` phases. Only the policy bytes are read here, never the host.
//!
//! Source order: `--policy FILE`, then `$OPENSHELL_POLICY`, then
//! `/etc/openshell/policy.yaml`, then the embedded default
//! (`policy/default.yaml`, compiled in). A named file that cannot be read is
//! an error; there is never a silent fallback to another policy: an empty
//! or unusable `$OPENSHELL_POLICY` stops the launch too. A policy is read
//! only from a regular file (never a FIFO, device, socket or stdin).

pub mod caps;
pub mod model;
pub mod paths;
pub mod schema;
pub mod validate;

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Diagnostic, Error, Result};
use crate::yaml;
pub use model::Policy;
// Kept here for the callers that name it through `policy`; it lives in
// `error` so that `safepath`, which `load` uses, need not import `policy`.
pub use crate::error::io_cause;

/// Policies larger than this are refused before parsing.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// The buffer to read a file of `len` bytes (as stat reported it) into,
/// with room for the read that finds its end; at most `limit` + 1. Files
/// under `/proc` report 0 and grow the buffer as they are read.
pub fn capacity_for(len: u64, limit: u64) -> usize {
    usize::try_from(len.min(limit) + 1).unwrap_or(0)
}

/// The conventional location a ConfigMap is mounted at.
pub const ETC_POLICY: &str = "/etc/openshell/policy.yaml";

/// The embedded default policy.
pub const DEFAULT_POLICY: &str = include_str!("../../policy/default.yaml");

/// Where the policy came from (shown in the plan and the log).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `--policy FILE`
    Flag,
    /// `$OPENSHELL_POLICY`
    Env,
    /// `/etc/openshell/policy.yaml`
    Etc,
    /// compiled into the binary
    Embedded,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    pub origin: Origin,
    /// `None` for the embedded default. Shown with bytes that are not
    /// UTF-8 escaped (see `bytes`).
    #[serde(serialize_with = "crate::bytes::serialize_opt_path")]
    pub path: Option<PathBuf>,
}

impl Source {
    /// The name diagnostics use for this source.
    pub fn display_name(&self) -> String {
        match &self.path {
            // Escaped: a path is bytes anyone may choose, and it starts
            // every line about the policy (a newline in it must not
            // forge another).
            Some(p) => crate::bytes::shown(p.as_os_str()),
            None => "<embedded default>".to_string(),
        }
    }

    pub fn describe(&self) -> String {
        match self.origin {
            Origin::Flag => format!("{} (--policy)", self.display_name()),
            Origin::Env => format!("{} ($OPENSHELL_POLICY)", self.display_name()),
            Origin::Etc => self.display_name(),
            Origin::Embedded => "embedded default policy".to_string(),
        }
    }
}

/// Pick the policy source. `env` is `$OPENSHELL_POLICY` as the process
/// received it (`None` = unset): any bytes name a path, as Linux paths are
/// bytes. `etc_exists` tells whether `/etc/openshell/policy.yaml` may exist
/// (a path that exists but cannot be read is still chosen, and fails
/// loudly).
///
/// An empty `--policy` or `$OPENSHELL_POLICY` is still chosen, and [`load`]
/// refuses it: an empty value is what a template or a ConfigMap key that
/// expanded to nothing leaves behind, and treating it as unset would run
/// the workload under a policy nobody chose for it.
pub fn select_source(flag: Option<&Path>, env: Option<&OsStr>, etc_exists: bool) -> Source {
    if let Some(p) = flag {
        return Source {
            origin: Origin::Flag,
            path: Some(p.to_path_buf()),
        };
    }
    if let Some(e) = env {
        return Source {
            origin: Origin::Env,
            path: Some(PathBuf::from(e)),
        };
    }
    if etc_exists {
        return Source {
            origin: Origin::Etc,
            path: Some(PathBuf::from(ETC_POLICY)),
        };
    }
    Source {
        origin: Origin::Embedded,
        path: None,
    }
}

/// The policy chosen by `--policy`, the environment and the filesystem.
/// `/etc/openshell/policy.yaml` counts as absent only when `lstat` says it
/// does not exist: any other failure (EACCES on `/etc/openshell`, ...)
/// selects it, so that loading it reports the problem instead of the
/// embedded default running in its place.
pub fn source_from_env(flag: Option<&Path>) -> Source {
    let env = std::env::var_os("OPENSHELL_POLICY");
    let etc_exists = match std::fs::symlink_metadata(ETC_POLICY) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    };
    select_source(flag, env.as_deref(), etc_exists)
}

/// A parsed, valid policy with where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub policy: Policy,
    pub source: Source,
}

/// Resolve a policy path (relative to the working directory when it is
/// not absolute) with `safepath`.
fn safe_open(
    text: &str,
) -> std::result::Result<crate::safepath::Resolved, crate::safepath::ResolveError> {
    let abs = if text.starts_with('/') {
        text.to_string()
    } else {
        let cwd = std::env::current_dir().map_err(|err| crate::safepath::ResolveError::Io {
            at: ".".into(),
            err,
        })?;
        format!("{}/{text}", cwd.display())
    };
    crate::safepath::open(&abs, &crate::safepath::Trust::default())
}

/// The kind of a non-regular file, for "not a regular file (KIND)".
pub fn file_kind_name(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_file() {
        "regular file"
    } else {
        "unknown file type"
    }
}

/// Read the bytes of a policy file: a regular file only, at most one byte
/// over [`MAX_POLICY_BYTES`] (so that [`parse_bytes`] refuses an oversized
/// file without reading all of it).
///
/// A FIFO without a writer, a character device such as `/dev/zero`, a
/// directory or a socket is refused before anything is read: the file is
/// first `stat`ed, so a device node is never even opened, then opened with
/// `O_NONBLOCK | O_NOCTTY` (opening a FIFO cannot block, a terminal never
/// becomes ours) and checked again with `fstat` on the descriptor, since
/// the path may have been replaced in between. `-` is not stdin: a policy
/// on a pipe has no size and may never end.
pub fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let name = crate::bytes::shown(path.as_os_str());
    let not_regular = |t: std::fs::FileType| {
        Error::host(
            format!("policy {name}"),
            format!("not a regular file ({})", file_kind_name(t)),
        )
    };
    if path.as_os_str() == "-" {
        return Err(
            Error::host("policy -", "reading a policy from stdin is not supported")
                .with_hint("write the policy to a file and name that (./- names a file called -)"),
        );
    }
    let open_error = |e: std::io::Error| {
        let err = Error::host(
            format!("policy {name}"),
            format!("cannot open: {}", io_cause(&e)),
        );
        if e.kind() == std::io::ErrorKind::NotFound {
            err.with_hint(
                "mount the policy (e.g. a ConfigMap) there, or fix --policy / $OPENSHELL_POLICY",
            )
        } else {
            err
        }
    };
    // Resolved like every path the supervisor opens as root: a link in it
    // is followed only where the workload cannot have planted it
    // (Kubernetes ConfigMap links on their read-only mount are), and the
    // file is then opened through the descriptor of what was resolved.
    let resolved = match path.to_str() {
        Some(text) => Some(safe_open(text).map_err(|e| match e {
            crate::safepath::ResolveError::Io { err, .. } => open_error(err),
            other => Error::host(format!("policy {name}"), other.cause()),
        })?),
        // A path that is not UTF-8 is opened as spelled.
        None => None,
    };
    let open_path = match &resolved {
        Some(r) => {
            if r.kind != crate::safepath::PathKind::File {
                return Err(Error::host(
                    format!("policy {name}"),
                    format!("not a regular file ({})", r.kind.describe()),
                ));
            }
            std::path::PathBuf::from(format!("/proc/self/fd/{}", r.fd.as_raw_fd()))
        }
        None => {
            let meta = std::fs::metadata(path).map_err(open_error)?;
            if !meta.is_file() {
                return Err(not_regular(meta.file_type()));
            }
            path.to_path_buf()
        }
    };
    let file = crate::safepath::open_read(open_path.as_path()).map_err(open_error)?;
    let meta = file.metadata().map_err(|e| {
        Error::host(
            format!("policy {name}"),
            format!("cannot stat: {}", io_cause(&e)),
        )
    })?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    // A kernel interface file (/proc/kmsg, /proc/sys/..., /sys/...) is no
    // policy, and reading some of them changes something (/proc/kmsg
    // hands out the kernel log once): refused before the first read.
    if crate::safepath::on_kernel_fs(&file).unwrap_or(true) {
        return Err(Error::host(
            format!("policy {name}"),
            "a kernel interface file (procfs, sysfs or the like), not a policy",
        )
        .with_hint(
            "point --policy or $OPENSHELL_POLICY at the policy file (e.g. a ConfigMap mount)",
        ));
    }
    // Sized from the stat: one read and one at end of file, not the
    // doubling reads of an empty buffer.
    let mut buf = Vec::with_capacity(capacity_for(meta.len(), MAX_POLICY_BYTES));
    file.take(MAX_POLICY_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| {
            Error::host(
                format!("policy {name}"),
                format!("cannot read: {}", io_cause(&e)),
            )
        })?;
    Ok(buf)
}

/// Parse and validate a policy file's bytes, as [`load`] does: a file over
/// [`MAX_POLICY_BYTES`] is refused at 1:1, one that is not UTF-8 at its
/// first bad byte, anything else goes
/// to [`parse_str`].
pub fn parse_bytes(file: &str, bytes: &[u8]) -> std::result::Result<Policy, Vec<Diagnostic>> {
    let refuse = |message: String| {
        vec![Diagnostic {
            file: file.to_string(),
            line: 1,
            col: 1,
            path: String::new(),
            message,
            hint: None,
        }]
    };
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(refuse(format!(
            "file is larger than {MAX_POLICY_BYTES} bytes; refusing to parse it"
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        // Placed where the bad byte is: its line (broken as YAML breaks
        // lines) and the characters before it on that line (the prefix is
        // valid UTF-8).
        let at = e.valid_up_to();
        let before = std::str::from_utf8(bytes.get(..at).unwrap_or_default()).unwrap_or_default();
        let (line, col) = yaml::lines(before)
            .enumerate()
            .last()
            .map_or((1, 1), |(i, l)| (i + 1, l.chars().count() + 1));
        let mut d = refuse(format!("file is not valid UTF-8 (byte {at})"));
        if let Some(d) = d.first_mut() {
            d.line = u32::try_from(line).unwrap_or(u32::MAX);
            d.col = u32::try_from(col).unwrap_or(u32::MAX);
        }
        d
    })?;
    parse_str(file, text)
}

/// Load the policy a source names.
pub fn load(source: &Source) -> Result<Loaded> {
    let name = source.display_name();
    let policy = match &source.path {
        Some(p) if p.as_os_str().is_empty() => {
            return Err(match source.origin {
                Origin::Env => Error::host("$OPENSHELL_POLICY", "set but empty").with_hint(
                    "set it to the policy file, or unset it to use /etc/openshell/policy.yaml or the embedded default",
                ),
                _ => Error::host("policy \"\"", "the path is empty"),
            });
        }
        Some(p) => parse_bytes(&name, &read_limited(p)?),
        None => parse_str(&name, DEFAULT_POLICY),
    }
    .map_err(Error::Policy)?;
    Ok(Loaded {
        policy,
        source: source.clone(),
    })
}

/// Parse and validate a document; every problem comes back at once, in file
/// order, located at the offending node.
pub fn parse_str(file: &str, text: &str) -> std::result::Result<Policy, Vec<Diagnostic>> {
    if text.len() as u64 > MAX_POLICY_BYTES {
        return Err(vec![Diagnostic {
            file: file.to_string(),
            line: 1,
            col: 1,
            path: String::new(),
            message: format!(
                "document is larger than {MAX_POLICY_BYTES} bytes; refusing to parse it"
            ),
            hint: None,
        }]);
    }
    let root = yaml::parse(text, yaml::ParseOptions::default()).map_err(|e| {
        vec![Diagnostic {
            file: file.to_string(),
            line: e.mark.line,
            col: e.mark.col,
            path: String::new(),
            message: e.message,
            hint: None,
        }]
    })?;
    if matches!(root.value, yaml::Value::Null) {
        return Err(vec![Diagnostic {
            file: file.to_string(),
            line: root.mark.line,
            col: root.mark.col,
            path: String::new(),
            message: "the document is empty".into(),
            hint: Some("a policy starts with `version: 1`".into()),
        }]);
    }
    let (policy, structural, hidden) = yaml::from_node_partial_hidden::<Policy>(&root);
    let mut diags: Vec<Diagnostic> = structural
        .into_iter()
        .map(|e| Diagnostic {
            file: file.to_string(),
            line: e.mark.line,
            col: e.mark.col,
            path: e.path,
            message: e.message,
            hint: e.hint,
        })
        .collect();
    // Semantic rules run on whatever parsed, so one pass reports all. A
    // rule about a node that holds a structural error is a follow-on of it
    // (the bad value was left out) and is not reported.
    let scopes: Vec<String> = diags
        .iter()
        .map(|d| parent_path(&d.path).to_string())
        .collect();
    if let Some(p) = &policy {
        for mut i in validate::validate(p) {
            // The value lacks the nodes with structural errors: its list
            // indices are renumbered past them to point into the document.
            i.path = yaml::document_path(&i.path, &hidden);
            if scopes.iter().any(|s| paths_within(s, &i.path)) {
                continue;
            }
            let mark = locate_nearest(&root, &i.path);
            diags.push(Diagnostic {
                file: file.to_string(),
                line: mark.line,
                col: mark.col,
                path: i.path,
                message: i.message,
                hint: i.hint,
            });
        }
    }
    match policy {
        Some(p) if diags.is_empty() => return Ok(p),
        _ => {}
    }
    crate::sort::sort_by_key(&mut diags, |d| (d.line, d.col));
    Err(diags)
}

/// The path of the node holding `path` (`a.b[1]` -> `a.b`, `a.b` -> `a`).
pub fn parent_path(path: &str) -> &str {
    let cut = if path.ends_with(']') {
        // `x[3]` or `x["key"]`: cut at the opening bracket of the last segment.
        if path.ends_with("\"]") {
            path.rfind("[\"")
        } else {
            path.rfind('[')
        }
    } else {
        path.rfind(['.', ']']).map(|i| {
            if path.as_bytes().get(i) == Some(&b']') {
                i + 1
            } else {
                i
            }
        })
    };
    match cut {
        Some(i) => path.get(..i).unwrap_or(""),
        None => "",
    }
}

/// `true` when `inner` is `outer` or lies beneath it.
fn paths_within(inner: &str, outer: &str) -> bool {
    outer.is_empty()
        || inner == outer
        || (inner.starts_with(outer)
            && matches!(inner.as_bytes().get(outer.len()), Some(b'.' | b'[')))
}

/// The mark of `path`, or of its nearest ancestor that exists in the
/// document (a rule about an absent key points at the mapping that lacks it).
fn locate_nearest(root: &yaml::Node, path: &str) -> yaml::Mark {
    let mut p = path;
    loop {
        if let Some(m) = yaml::locate(root, p) {
            return m;
        }
        if p.is_empty() {
            return root.mark;
        }
        p = parent_path(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("a.b[1]"), "a.b");
        assert_eq!(parent_path("a.b"), "a");
        assert_eq!(parent_path("a"), "");
        assert_eq!(parent_path("a[0].b"), "a[0]");
        assert_eq!(parent_path("a[\"x.y[1]\"]"), "a");
        assert_eq!(parent_path("a[\"k\"].b"), "a[\"k\"]");
        assert!(paths_within("a.b[0]", "a.b"));
        assert!(!paths_within("a.bc", "a.b"));
    }
}
