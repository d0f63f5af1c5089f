//! Path resolution for `learn`: the object a task's call names, as the
//! kernel would find it, and whether the task's own credentials let it
//! reach that object at all (a call refused by file modes needs no rule).
//!
//! A path is walked one component at a time with `lstat`/`readlink`,
//! following symlinks in every component (and in the last one when the
//! call does), `..` applied to the resolved directory, at most 40 links.
//! `/proc/self` and `/proc/thread-self` are the task's, not ours. The
//! result is advisory: the workload can change the tree between this
//! walk and its call.

use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The kernel's limit on symlinks followed in one lookup.
const MAX_LINKS: usize = 40;

/// Who the task is, for permission checks (`/proc/<tid>/status`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    pub tgid: u32,
    pub fsuid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    /// CAP_DAC_OVERRIDE in the effective set.
    pub dac_override: bool,
    /// CAP_DAC_READ_SEARCH in the effective set.
    pub dac_read_search: bool,
}

impl Creds {
    /// Parse `/proc/<tid>/status`.
    pub fn parse(status: &str) -> Option<Creds> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let nth = |name: &str, i: usize| -> Option<u32> {
            field(name)?.split_whitespace().nth(i)?.parse().ok()
        };
        let cap_eff = u64::from_str_radix(field("CapEff")?, 16).ok()?;
        Some(Creds {
            tgid: nth("Tgid", 0)?,
            fsuid: nth("Uid", 3)?,
            fsgid: nth("Gid", 3)?,
            groups: field("Groups")?
                .split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect(),
            dac_override: cap_eff & (1 << 1) != 0,
            dac_read_search: cap_eff & (1 << 2) != 0,
        })
    }

    /// Whether the mode bits of `m` give this task all of `want`
    /// (4 read, 2 write, 1 execute/search). ACLs are not consulted.
    pub fn may(&self, m: &std::fs::Metadata, want: u32) -> bool {
        let mode = m.mode();
        if self.dac_override {
            // Execute needs some x bit even for CAP_DAC_OVERRIDE, except on
            // directories.
            return want & 1 == 0 || m.is_dir() || mode & 0o111 != 0;
        }
        if self.dac_read_search && (want & 2 == 0) && (m.is_dir() || want & 1 == 0) {
            return true;
        }
        let bits = if self.fsuid == m.uid() {
            mode >> 6
        } else if self.fsgid == m.gid() || self.groups.contains(&m.gid()) {
            mode >> 3
        } else {
            mode
        } & 7;
        bits & want == want
    }
}

/// What a path names.
#[derive(Debug)]
pub enum Found {
    /// An existing object, its canonical path and metadata.
    Exists(String, std::fs::Metadata),
    /// The last component does not exist; its directory does.
    Missing { parent: String, name: String },
    /// The call cannot reach anything: why, in a few words.
    Fails(&'static str),
}

/// Resolve `path` (absolute, bytes) as task `tid` (of `creds.tgid`) would:
/// `follow` says whether a symlink in the last component is followed. When
/// `creds` is given, a directory the task may not search makes it
/// [`Found::Fails`].
pub fn resolve(path: &[u8], follow: bool, tid: u32, creds: Option<&Creds>) -> Found {
    let mut todo: VecDeque<Vec<u8>> = components(path);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut links = 0usize;
    while let Some(c) = todo.pop_front() {
        if c == b"." {
            continue;
        }
        if c == b".." {
            stack.pop();
            continue;
        }
        // /proc/self and /proc/thread-self name the calling task.
        if stack.len() == 1 && stack.first().is_some_and(|s| s == b"proc") {
            let tgid = creds.map_or(tid, |c| c.tgid);
            if c == b"self" {
                todo.push_front(tgid.to_string().into_bytes());
                continue;
            }
            if c == b"thread-self" {
                for part in [tid.to_string(), "task".to_string(), tgid.to_string()] {
                    todo.push_front(part.into_bytes());
                }
                continue;
            }
        }
        let last = todo.is_empty();
        let here = join(&stack, Some(&c));
        let meta = match std::fs::symlink_metadata(Path::new(std::ffi::OsStr::from_bytes(&here))) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && last => {
                return match (
                    String::from_utf8(join(&stack, None)),
                    String::from_utf8(c.clone()),
                ) {
                    (Ok(parent), Ok(name)) => Found::Missing { parent, name },
                    _ => Found::Fails("not UTF-8"),
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Found::Fails("does not exist");
            }
            Err(_) => return Found::Fails("cannot be resolved"),
        };
        if meta.file_type().is_symlink() && (follow || !last) {
            links += 1;
            if links > MAX_LINKS {
                return Found::Fails("too many links");
            }
            let Ok(target) = std::fs::read_link(Path::new(std::ffi::OsStr::from_bytes(&here)))
            else {
                return Found::Fails("cannot be resolved");
            };
            let t = target.as_os_str().as_bytes();
            if t.first() != Some(&b'/') && stack.first().is_some_and(|s| s == b"proc") {
                // A /proc magic link to an object without a path (a pipe,
                // a socket, an anonymous inode): no filesystem rule applies.
                if t.ends_with(b"]") && t.contains(&b':') {
                    return Found::Fails("has no path (pipe, socket or anonymous file)");
                }
            }
            if t.first() == Some(&b'/') {
                stack.clear();
            }
            let mut parts = components(t);
            // " (deleted)": the object is gone from the tree.
            if parts.back().is_some_and(|p| p.ends_with(b" (deleted)")) {
                return Found::Fails("was deleted");
            }
            parts.extend(todo);
            todo = parts;
            continue;
        }
        if !last {
            if !meta.is_dir() {
                return Found::Fails("is not a directory");
            }
            if creds.is_some_and(|cr| !cr.may(&meta, 1)) {
                return Found::Fails("refused by file modes");
            }
        }
        stack.push(c);
        if last {
            return match String::from_utf8(here) {
                Ok(p) => Found::Exists(p, meta),
                Err(_) => Found::Fails("not UTF-8"),
            };
        }
    }
    // The path was `/` (or reduced to it).
    match std::fs::metadata("/") {
        Ok(m) => Found::Exists("/".into(), m),
        Err(_) => Found::Fails("cannot be resolved"),
    }
}

fn components(p: &[u8]) -> VecDeque<Vec<u8>> {
    p.split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(stack: &[Vec<u8>], last: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for c in stack.iter().map(Vec::as_slice).chain(last) {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// `dir` joined with the (possibly relative) `path`, as bytes.
pub fn absolute(dir: &[u8], path: &[u8]) -> Vec<u8> {
    if path.first() == Some(&b'/') {
        return path.to_vec();
    }
    let mut out = dir.to_vec();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(path);
    out
}

/// The directory part of a canonical path (`/` for `/x`).
pub fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((d, _)) => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("learn-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.canonicalize().unwrap()
    }

    fn exists(f: Found) -> String {
        match f {
            Found::Exists(p, _) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn links_dots_and_missing_names_resolve_like_the_kernel() {
        let d = scratch("links");
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::fs::write(d.join("real/sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("real/sub", d.join("l")).unwrap();
        std::os::unix::fs::symlink(d.join("real/sub/f"), d.join("abs")).unwrap();
        let s = d.display().to_string();
        let me = std::process::id();
        assert_eq!(
            exists(resolve(format!("{s}/l/f").as_bytes(), true, me, None)),
            format!("{s}/real/sub/f")
        );
        // `..` applies to where the link led, as in the kernel.
        assert_eq!(
            exists(resolve(
                format!("{s}/l/../sub/./f").as_bytes(),
                true,
                me,
                None
            )),
            format!("{s}/real/sub/f")
        );
        assert_eq!(
            exists(resolve(format!("{s}/abs").as_bytes(), true, me, None)),
            format!("{s}/real/sub/f")
        );
        // Not followed in the last component: the link itself.
        assert_eq!(
            exists(resolve(format!("{s}/abs").as_bytes(), false, me, None)),
            format!("{s}/abs")
        );
        match resolve(format!("{s}/l/new").as_bytes(), true, me, None) {
            Found::Missing { parent, name } => {
                assert_eq!((parent, name), (format!("{s}/real/sub"), "new".to_string()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            resolve(format!("{s}/nope/new").as_bytes(), true, me, None),
            Found::Fails("does not exist")
        ));
        assert!(matches!(
            resolve(format!("{s}/real/sub/f/x").as_bytes(), true, me, None),
            Found::Fails("is not a directory")
        ));
        std::os::unix::fs::symlink("loop", d.join("loop")).unwrap();
        assert!(matches!(
            resolve(format!("{s}/loop").as_bytes(), true, me, None),
            Found::Fails("too many links")
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn proc_self_is_the_task_not_the_observer() {
        let me = std::process::id();
        assert_eq!(
            exists(resolve(b"/proc/self/status", true, me, None)),
            format!("/proc/{me}/status")
        );
        assert_eq!(absolute(b"/a/b", b"c/d"), b"/a/b/c/d");
        assert_eq!(absolute(b"/", b"c"), b"/c");
        assert_eq!(absolute(b"/a", b"/x"), b"/x");
        assert_eq!(
            (parent("/a/b"), parent("/a"), parent("/")),
            ("/a", "/", "/")
        );
    }

    #[test]
    fn creds_come_from_proc_status_and_mode_bits_decide() {
        let st = "Name:\tx\nTgid:\t42\nUid:\t1500\t1500\t1500\t1500\nGid:\t1600\t1600\t1600\t1600\nGroups:\t1700 \nCapEff:\t0000000000000000\n";
        let c = Creds::parse(st).unwrap();
        assert_eq!(
            (c.tgid, c.fsuid, c.fsgid, c.groups.clone()),
            (42, 1500, 1600, vec![1700])
        );
        assert!(!c.dac_override && !c.dac_read_search);
        let d = scratch("modes");
        let f = d.join("f");
        std::fs::write(&f, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o604)).unwrap();
        let m = std::fs::metadata(&f).unwrap();
        // Not the owner (unless the tests run as 1500), not the group:
        // "other" bits, read only.
        if m.uid() != 1500 {
            assert!(c.may(&m, 4));
            assert!(!c.may(&m, 2));
        }
        let root = Creds {
            dac_override: true,
            ..Creds::default()
        };
        assert!(root.may(&m, 2));
        assert!(!root.may(&m, 1), "no x bit: not executable even for root");
        let _ = std::fs::remove_dir_all(&d);
    }
}
