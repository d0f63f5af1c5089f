//! The `exec` phase: find the workload and replace this process with it.

use std::ffi::CString;

use crate::error::{Error, ExecFailure};

/// Find `cmd` the way a shell would: names containing `/` are used as is,
/// others are searched in the workload's PATH (not the supervisor's).
pub fn find_program(cmd: &str, path_var: Option<&str>) -> Result<String, Error> {
    if cmd.is_empty() {
        return Err(Error::Exec {
            object: "workload".into(),
            cause: "empty command".into(),
            kind: ExecFailure::NotFound,
        });
    }
    if cmd.contains('/') {
        return Ok(cmd.to_string());
    }
    let mut denied = None;
    for dir in path_var.unwrap_or(crate::env::DEFAULT_PATH).split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{cmd}");
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() => return Ok(candidate),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                denied.get_or_insert(candidate);
            }
            Err(_) => {}
        }
    }
    Err(match denied {
        Some(c) => Error::Exec {
            object: format!("workload {c}"),
            cause: "permission denied".into(),
            kind: ExecFailure::NotExecutable,
        },
        None => Error::Exec {
            object: format!("workload {cmd:?}"),
            cause: "not found in PATH".into(),
            kind: ExecFailure::NotFound,
        },
    })
}

fn cstring(s: &str, what: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::Exec {
        object: "workload".into(),
        cause: format!("{what} contains a NUL byte"),
        kind: ExecFailure::NotExecutable,
    })
}

/// Replace this process. Returns only on failure.
#[allow(unsafe_code)]
pub fn exec(argv: &[String], env: &[(String, String)]) -> Error {
    let Some(cmd) = argv.first() else {
        return Error::usage("no workload command given");
    };
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let prog = match find_program(cmd, path_var) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let build = || -> Result<(CString, Vec<CString>, Vec<CString>), Error> {
        let p = cstring(&prog, "the program path")?;
        let a = argv
            .iter()
            .map(|s| cstring(s, "an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let e = env
            .iter()
            .map(|(k, v)| cstring(&format!("{k}={v}"), "an environment variable"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((p, a, e))
    };
    let (p, a, e) = match build() {
        Ok(x) => x,
        Err(e) => return e,
    };
    let mut ap: Vec<*const libc::c_char> = a.iter().map(|c| c.as_ptr()).collect();
    ap.push(std::ptr::null());
    let mut ep: Vec<*const libc::c_char> = e.iter().map(|c| c.as_ptr()).collect();
    ep.push(std::ptr::null());
    // SAFETY: p, every argv and envp string are NUL-terminated CStrings that
    // outlive the call, and both pointer arrays end with NULL as execve
    // requires. execve only returns on failure.
    unsafe { libc::execve(p.as_ptr(), ap.as_ptr(), ep.as_ptr()) };
    let err = std::io::Error::last_os_error();
    let kind = match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => ExecFailure::NotFound,
        _ => ExecFailure::NotExecutable,
    };
    Error::Exec {
        object: format!("workload {prog}"),
        cause: crate::policy::io_cause(&err),
        kind,
    }
}

/// Close every fd above 2 except `keep` (stub; fails closed).
pub fn close_fds(_keep: &[i32]) -> crate::error::Result<()> {
    Err(Error::apply("fds", "not implemented in this build"))
}

/// Start a new session so the workload has no controlling terminal (stub).
pub fn new_session() -> crate::error::Result<()> {
    Err(Error::apply("session", "not implemented in this build"))
}

/// Set the plan's rlimits (stub).
pub fn set_rlimits(_r: &[crate::plan::RlimitPlan]) -> crate::error::Result<()> {
    Err(Error::apply("rlimits", "not implemented in this build"))
}

/// Change to the workdir (stub).
pub fn chdir(_dir: Option<&str>) -> crate::error::Result<()> {
    Err(Error::apply("workdir", "not implemented in this build"))
}
