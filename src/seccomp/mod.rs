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

pub fn install(_p: &SeccompPlan) -> crate::error::Result<Status> {
    Err(crate::error::Error::apply(
        "seccomp",
        "not implemented in this build",
    ))
}
