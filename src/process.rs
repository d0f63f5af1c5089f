//! The `exec` phase: find the workload and replace this process with it.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use std::os::unix::fs::OpenOptionsExt;

use serde::Serialize;

use crate::capabilities::errno_name;
use crate::error::{Error, ExecFailure};
use crate::policy::model::{Policy, RlimitValue};
use crate::sys;
use nix::sys::resource::Resource;

/// Find `cmd` the way a shell would: names containing `/` are used as is,
/// others are searched in the workload's PATH (not the supervisor's). The
/// first executable file wins; a file found without any execute bit is the
/// fallback (its execve then fails: 126). A directory the workload cannot
/// search hides nothing it could run, so it is skipped like a missing one.
/// The name and PATH are bytes: an entry that is not UTF-8 is searched
/// like any other.
pub fn find_program(cmd: &OsStr, path_var: Option<&OsStr>) -> Result<OsString, Error> {
    use std::os::unix::fs::PermissionsExt;
    if cmd.is_empty() {
        return Err(Error::Exec {
            object: "workload".into(),
            cause: "empty command".into(),
            kind: ExecFailure::NotFound,
        });
    }
    if cmd.as_bytes().contains(&b'/') {
        return Ok(cmd.to_os_string());
    }
    let path_var = path_var.unwrap_or(OsStr::new(crate::env::DEFAULT_PATH));
    let mut not_executable = None;
    for dir in path_var.as_bytes().split(|b| *b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(cmd.as_bytes());
        let candidate = OsString::from_vec(candidate);
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(candidate),
            Ok(m) if m.is_file() => {
                not_executable.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    not_executable.ok_or_else(|| Error::Exec {
        object: format!("workload \"{}\"", crate::bytes::escape(cmd)),
        cause: "not found in PATH".into(),
        kind: ExecFailure::NotFound,
    })
}

fn cstring(s: Vec<u8>, what: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::Exec {
        object: "workload".into(),
        cause: format!("{what} contains a NUL byte"),
        kind: ExecFailure::NotExecutable,
    })
}

/// Replace this process with `argv`, environment `env` (`NAME`, value
/// bytes). Returns only on failure.
pub fn exec(argv: &[OsString], env: &[(String, OsString)]) -> Error {
    let Some(cmd) = argv.first() else {
        return Error::usage("no workload command given");
    };
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let prog = match find_program(cmd, path_var) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let build = || -> Result<(CString, Vec<CString>, Vec<CString>), Error> {
        let p = cstring(prog.as_bytes().to_vec(), "the program path")?;
        let a = argv
            .iter()
            .map(|s| cstring(s.as_bytes().to_vec(), "an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let e = env
            .iter()
            .map(|(k, v)| {
                let mut kv = Vec::with_capacity(k.len() + 1 + v.len());
                kv.extend_from_slice(k.as_bytes());
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                cstring(kv, "an environment variable")
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((p, a, e))
    };
    let (p, a, e) = match build() {
        Ok(x) => x,
        Err(e) => return e,
    };
    if let Err(e) = reset_signals() {
        return e;
    }
    let Err(errno) = nix::unistd::execve(&p, &a, &e);
    let err = std::io::Error::from(errno);
    let kind = match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => ExecFailure::NotFound,
        _ => ExecFailure::NotExecutable,
    };
    Error::Exec {
        object: format!("workload {}", crate::bytes::escape(&prog)),
        cause: crate::policy::io_cause(&err),
        kind,
    }
}

/// Descriptors at most this large are put in order by a table of them.
const FD_TABLE: usize = 4096;

/// `fds` in ascending order, each once. The launch holds one descriptor
/// per policy path, in a hash map's order: below [`FD_TABLE`] a table
/// marks them in one pass, where a general sort of hundreds cost about
/// 400 instructions each. A larger or negative number sorts them.
fn sorted_fds(mut fds: Vec<i32>) -> Vec<i32> {
    let top = fds.iter().copied().max().unwrap_or(0);
    let small = fds.iter().all(|&fd| fd >= 0) && usize::try_from(top).is_ok_and(|t| t < FD_TABLE);
    if !small {
        crate::sort::sort_dedup(&mut fds);
        return fds;
    }
    let mut seen = vec![false; usize::try_from(top).unwrap_or(0) + 1];
    for &fd in &fds {
        if let Some(slot) = usize::try_from(fd).ok().and_then(|i| seen.get_mut(i)) {
            *slot = true;
        }
    }
    fds.clear();
    fds.extend(
        seen.iter()
            .enumerate()
            .filter(|(_, on)| **on)
            .filter_map(|(fd, _)| i32::try_from(fd).ok()),
    );
    fds
}

/// Step 1: close every fd above 2 except `keep` and `hold`, and clear
/// close-on-exec on the kept ones so they reach the workload. `hold`: the
/// launch's own descriptors, needed until exec, all opened close-on-exec
/// (`safepath` opens with `O_CLOEXEC` and duplicates with
/// `F_DUPFD_CLOEXEC`), so the workload never has them. close_range(2) where the
/// kernel (and any outer seccomp profile) allows it, else each fd listed
/// in /proc/self/fd.
pub fn close_fds(keep: &[i32], hold: &[i32]) -> Result<(), Error> {
    let keep = sorted_fds(keep.iter().copied().filter(|fd| *fd > 2).collect());
    let spared = {
        let mut all: Vec<i32> = keep.clone();
        all.extend(hold.iter().copied().filter(|fd| *fd > 2));
        sorted_fds(all)
    };
    for &fd in &keep {
        // A number the launch opened itself was not inherited: asked to
        // keep it, the caller named a descriptor that was never open.
        let inherited = if hold.contains(&fd) {
            Err(libc::EBADF)
        } else {
            sys::fd_flags(fd)
        };
        let flags = inherited.map_err(|e| {
            Error::apply(
                "fds",
                format!("fd {fd} to keep is not open ({})", errno_name(e)),
            )
        })?;
        sys::set_fd_flags(fd, flags & !libc::FD_CLOEXEC).map_err(|e| {
            Error::apply(
                "fds",
                format!("fd {fd}: clearing close-on-exec failed: {}", errno_name(e)),
            )
        })?;
    }
    let mut ranges = Vec::new();
    let mut lo: u32 = 3;
    for &fd in &spared {
        let fd = fd.unsigned_abs();
        if fd > lo {
            ranges.push((lo, fd - 1));
        }
        lo = fd + 1;
    }
    ranges.push((lo, u32::MAX));
    for (i, &(a, b)) in ranges.iter().enumerate() {
        if let Err(e) = sys::close_range(a, b) {
            if i == 0 && (e == libc::ENOSYS || e == libc::EPERM) {
                return close_listed(&spared);
            }
            return Err(Error::apply(
                "fds",
                format!("close_range({a}, {b}) failed: {}", errno_name(e)),
            ));
        }
    }
    Ok(())
}

/// close_fds without close_range: close what /proc/self/fd lists.
fn close_listed(keep: &[i32]) -> Result<(), Error> {
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|e| {
        Error::apply(
            "fds",
            format!(
                "close_range is unavailable and /proc/self/fd cannot be listed: {}",
                crate::policy::io_cause(&e)
            ),
        )
    })?;
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own fd is closed here (dropped above); closing it
    // again below gives EBADF, which is fine.
    for fd in fds.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
        close(fd)?;
    }
    Ok(())
}

fn close(fd: i32) -> Result<(), Error> {
    match sys::close(fd) {
        Ok(()) | Err(libc::EBADF | libc::EINTR | libc::EIO) => Ok(()),
        Err(e) => Err(Error::apply(
            "fds",
            format!("close({fd}) failed: {}", errno_name(e)),
        )),
    }
}

/// Step 4: start a new session so the workload has no controlling
/// terminal. setsid fails only for a process group leader (exec mode
/// started as a shell job, or as a container's PID 1):
///
/// - already the leader of its own session (a container's PID 1): the
///   terminal, if any, is the one the runtime gave this container; it is
///   kept;
/// - otherwise the controlling terminal, if any, is given up (TIOCNOTTY),
///   so the workload cannot reach it.
pub fn new_session() -> Result<(), Error> {
    use nix::unistd::{getpid, getsid, setsid};
    if setsid().is_ok() || getsid(None) == Ok(getpid()) {
        return Ok(());
    }
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/tty");
    let Ok(tty) = tty else {
        // ENXIO: no controlling terminal; anything else: none we can reach.
        return Ok(());
    };
    sys::give_up_tty(&tty).map_err(|e| {
        Error::apply(
            "session",
            format!(
                "setsid failed and giving up the controlling terminal failed: {}",
                errno_name(e)
            ),
        )
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RlimitPlan {
    pub name: &'static str,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// The policy's `process.rlimits`, in the fixed order of
/// `Rlimits::entries` (`None` = unlimited). Pure.
pub fn plan_rlimits(policy: &Policy) -> Vec<RlimitPlan> {
    policy
        .process
        .as_ref()
        .and_then(|p| p.rlimits.as_ref())
        .map(|r| {
            r.entries()
                .into_iter()
                .map(|(name, v)| RlimitPlan {
                    name,
                    soft: limit(v.soft),
                    hard: limit(v.hard),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn limit(v: RlimitValue) -> Option<u64> {
    match v {
        RlimitValue::Limited(n) => Some(n),
        RlimitValue::Unlimited => None,
    }
}

/// Step 4: the plan's rlimits (soft and hard; `None` = unlimited). Before
/// the identity switch, since raising a hard limit needs CAP_SYS_RESOURCE.
pub fn set_rlimits(limits: &[RlimitPlan]) -> Result<(), Error> {
    for l in limits {
        let resource = match l.name {
            "as" => Resource::RLIMIT_AS,
            "core" => Resource::RLIMIT_CORE,
            "cpu" => Resource::RLIMIT_CPU,
            "data" => Resource::RLIMIT_DATA,
            "fsize" => Resource::RLIMIT_FSIZE,
            "locks" => Resource::RLIMIT_LOCKS,
            "memlock" => Resource::RLIMIT_MEMLOCK,
            "msgqueue" => Resource::RLIMIT_MSGQUEUE,
            "nice" => Resource::RLIMIT_NICE,
            "nofile" => Resource::RLIMIT_NOFILE,
            "nproc" => Resource::RLIMIT_NPROC,
            "rtprio" => Resource::RLIMIT_RTPRIO,
            "rttime" => Resource::RLIMIT_RTTIME,
            "sigpending" => Resource::RLIMIT_SIGPENDING,
            "stack" => Resource::RLIMIT_STACK,
            other => {
                return Err(Error::Internal(format!("rlimits: unknown limit {other:?}")));
            }
        };
        let soft = l.soft.unwrap_or(libc::RLIM_INFINITY);
        let hard = l.hard.unwrap_or(libc::RLIM_INFINITY);
        if let Err(e) = nix::sys::resource::setrlimit(resource, soft, hard) {
            let e = e as i32;
            let err = Error::apply(
                "rlimits",
                format!("{}: setrlimit failed: {}", l.name, errno_name(e)),
            );
            return Err(if e == libc::EPERM {
                err.with_hint(
                    "raising a hard limit needs CAP_SYS_RESOURCE; lower the limit in the policy",
                )
            } else {
                err
            });
        }
    }
    Ok(())
}

/// Step 7: change to the workdir, as the workload's user. Without one the
/// working directory is left as the container set it.
pub fn chdir(dir: Option<&str>) -> Result<(), Error> {
    match dir {
        None => Ok(()),
        Some(d) => std::env::set_current_dir(d)
            .map_err(|e| Error::apply(format!("workdir {d}"), crate::policy::io_cause(&e))),
    }
}

/// With no workdir planned, enter the inherited working directory again by
/// its path, so that the workload starts where that path leads now. A
/// directory inherited from beneath a mount that was later covered stays
/// reachable through the descriptor the kernel keeps for the working
/// directory, and Landlock judges it by the tree above it, which no path
/// shows any more (a covered procfs beneath a bind of a writable
/// directory was writable that way). One no path reaches stops the
/// launch. As root, before the identity switch: entering it is not the
/// workload's to be refused.
pub fn reenter_cwd() -> Result<(), Error> {
    let cwd = std::env::current_dir().map_err(|e| {
        Error::apply(
            "workdir",
            format!(
                "the inherited working directory: {}",
                crate::policy::io_cause(&e)
            ),
        )
    })?;
    let shown = crate::bytes::shown(cwd.as_os_str());
    if !cwd.is_absolute() {
        return Err(Error::apply(
            "workdir",
            format!(
                "the inherited working directory is not reachable by a path ({shown}): a mount covers it"
            ),
        )
        .with_hint("start the sandbox from a directory a path leads to, or set --workdir"));
    }
    std::env::set_current_dir(&cwd).map_err(|e| {
        Error::apply(
            "workdir",
            format!(
                "the inherited working directory {shown} cannot be entered by its path: {}",
                crate::policy::io_cause(&e)
            ),
        )
        .with_hint("a mount may cover it: start the sandbox from a directory its path leads to, or set --workdir")
    })
}

/// Arm PR_SET_PDEATHSIG (SIGKILL) so the workload dies with the PID-1
/// parent, and check that `parent` is still our parent (it may have died
/// before the signal was armed). The kernel clears the setting when the
/// identity changes, so it is armed again after the switch.
pub fn die_with_parent(parent: libc::pid_t) -> Result<(), Error> {
    use nix::sys::signal::Signal;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| {
        Error::apply(
            "init",
            format!("PR_SET_PDEATHSIG failed: {}", errno_name(e as i32)),
        )
    })?;
    if nix::unistd::getppid().as_raw() != parent {
        return Err(Error::apply(
            "init",
            "the parent exited before the workload started",
        ));
    }
    Ok(())
}

/// Give the workload the signal state a fresh process expects: SIGPIPE at
/// its default (Rust's runtime ignores it, and an ignored signal survives
/// execve) and nothing blocked (the init parent blocks everything before
/// it forks).
fn reset_signals() -> Result<(), Error> {
    sys::default_sigpipe().map_err(|e| {
        Error::apply(
            "signals",
            format!("resetting SIGPIPE failed: {}", errno_name(e)),
        )
    })?;
    sys::sigprocmask(libc::SIG_SETMASK, 0).map_err(|e| {
        Error::apply(
            "signals",
            format!("unblocking signals failed: {}", errno_name(e)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn sorted_fds_is_sort_and_dedup(
            fds in proptest::collection::vec(
                proptest::prop_oneof![0i32..64, 4090i32..4100, proptest::prelude::any::<i32>()],
                0..40,
            )
        ) {
            let mut want = fds.clone();
            want.sort_unstable();
            want.dedup();
            proptest::prop_assert_eq!(sorted_fds(fds), want);
        }
    }
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn path_search_prefers_executables_and_skips_the_rest() {
        let d = std::env::temp_dir().join(format!("openshell-find-{}", std::process::id()));
        let (a, b) = (d.join("a"), d.join("b"));
        for x in [&a, &b] {
            std::fs::create_dir_all(x).unwrap_or_else(|e| panic!("{e}"));
        }
        let set = |p: &std::path::Path, mode| {
            std::fs::write(p, "").unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
        };
        set(&a.join("tool"), 0o644);
        set(&b.join("tool"), 0o755);
        set(&a.join("data"), 0o644);
        let path = format!("/nonexistent:{}:{}", a.display(), b.display());
        let found = |c: &str| {
            find_program(OsStr::new(c), Some(OsStr::new(&path)))
                .map(|p| p.to_string_lossy().into_owned())
                .map_err(|e| e.to_string())
        };
        assert_eq!(found("tool"), Ok(format!("{}/tool", b.display())));
        assert_eq!(found("data"), Ok(format!("{}/data", a.display())));
        assert_eq!(
            found("nope"),
            Err("workload \"nope\": not found in PATH".to_string())
        );
        std::fs::remove_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn path_search_finds_a_program_under_a_directory_that_is_not_utf8() {
        let d = std::env::temp_dir().join(format!("openshell-find-bytes-{}", std::process::id()));
        let dir = d.join(OsStr::from_bytes(b"bin\xff"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let tool = dir.join("tool");
        std::fs::write(&tool, "").unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut path = b"/nonexistent:".to_vec();
        path.extend_from_slice(dir.as_os_str().as_bytes());
        let found = find_program(OsStr::new("tool"), Some(OsStr::from_bytes(&path)));
        assert_eq!(found.ok(), Some(tool.into_os_string()));
        std::fs::remove_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    }
}
