//! The workload's environment is built, never inherited.
//!
//! Order of precedence (later wins): the allowlist passed through from the
//! supervisor's environment (PATH, TERM, LANG, LANGUAGE, LC_*, TZ, plus
//! `environment.pass`), then HOME/USER/LOGNAME/SHELL of the target user,
//! then `environment.set`, then CDI device env, then `OPENSHELL_SANDBOX=1`.
//! Anything else in the supervisor's environment — tokens, credentials,
//! `LD_PRELOAD` — never reaches the workload.

use serde::Serialize;

use crate::identity::IdentityPlan;
use crate::policy::Policy;
use crate::probe::HostFacts;

/// Passed through when present in the supervisor's environment.
pub const DEFAULT_PASS: [&str; 6] = ["PATH", "TERM", "LANG", "LANGUAGE", "LC_*", "TZ"];

/// PATH when the supervisor has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvOrigin {
    /// Copied from the supervisor's environment (value not shown in plans).
    Pass,
    Identity,
    Policy,
    Device,
    Fixed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub origin: EnvOrigin,
    /// `None` for passed variables: their values are not printed.
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnvPlan {
    /// Patterns passed through (`NAME` or `PREFIX*`).
    pub pass: Vec<String>,
    pub vars: Vec<EnvVar>,
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Set `name` (replacing in place, so a variable keeps its first position
/// and takes its last value).
pub fn set(vars: &mut Vec<EnvVar>, name: &str, value: Option<String>, origin: EnvOrigin) {
    match vars.iter_mut().find(|v| v.name == name) {
        Some(v) => {
            v.value = value;
            v.origin = origin;
        }
        None => vars.push(EnvVar {
            name: name.to_string(),
            origin,
            value,
        }),
    }
}

pub fn plan(policy: &Policy, host: &HostFacts, id: &IdentityPlan) -> EnvPlan {
    let env_cfg = policy.environment.clone().unwrap_or_default();
    let mut pass: Vec<String> = DEFAULT_PASS.iter().map(|s| s.to_string()).collect();
    for p in &env_cfg.pass {
        if !pass.contains(p) {
            pass.push(p.clone());
        }
    }
    let mut vars = Vec::new();
    for (k, _) in &host.env {
        if pass.iter().any(|p| matches(p, k)) {
            set(&mut vars, k, None, EnvOrigin::Pass);
        }
    }
    if !vars.iter().any(|v| v.name == "PATH") {
        set(
            &mut vars,
            "PATH",
            Some(DEFAULT_PATH.into()),
            EnvOrigin::Fixed,
        );
    }
    set(
        &mut vars,
        "HOME",
        Some(id.home.clone()),
        EnvOrigin::Identity,
    );
    let user = id.user_name.clone().unwrap_or_else(|| id.uid.to_string());
    set(&mut vars, "USER", Some(user.clone()), EnvOrigin::Identity);
    set(&mut vars, "LOGNAME", Some(user), EnvOrigin::Identity);
    if let Some(sh) = &id.shell {
        set(&mut vars, "SHELL", Some(sh.clone()), EnvOrigin::Identity);
    }
    for (k, v) in &env_cfg.set {
        set(&mut vars, k, Some(v.clone()), EnvOrigin::Policy);
    }
    set(
        &mut vars,
        "OPENSHELL_SANDBOX",
        Some("1".into()),
        EnvOrigin::Fixed,
    );
    EnvPlan { pass, vars }
}

/// Add the CDI devices' env (origin `device`): after the policy's `set`,
/// before the fixed `OPENSHELL_SANDBOX=1`. A name already present keeps its
/// position and takes the device's value, as a container runtime applies
/// CDI env.
pub fn add_device_env(plan: &mut EnvPlan, vars: &[(String, String)]) {
    if vars.is_empty() {
        return;
    }
    let fixed = plan
        .vars
        .iter()
        .position(|v| v.name == "OPENSHELL_SANDBOX" && v.origin == EnvOrigin::Fixed)
        .map(|i| plan.vars.remove(i));
    for (k, v) in vars {
        set(&mut plan.vars, k, Some(v.clone()), EnvOrigin::Device);
    }
    if let Some(f) = fixed {
        set(&mut plan.vars, &f.name, f.value, f.origin);
    }
}

/// The concrete `NAME=value` list for execve, filling passed values from
/// the supervisor's environment.
pub fn materialize(plan: &EnvPlan, host_env: &[(String, String)]) -> Vec<(String, String)> {
    plan.vars
        .iter()
        .filter_map(|v| {
            let value = match &v.value {
                Some(x) => x.clone(),
                None => host_env.iter().find(|(k, _)| *k == v.name)?.1.clone(),
            };
            Some((v.name.clone(), value))
        })
        .collect()
}

/// systemd-style socket activation handed to this process: fds
/// 3..3+`count`, passed on to the workload with `LISTEN_PID` rewritten to
/// the workload's pid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketActivation {
    pub count: i32,
    pub names: Option<String>,
}

/// Most fds `LISTEN_FDS` may name.
const MAX_LISTEN_FDS: i32 = 4096;

/// `LISTEN_FDS`, when `LISTEN_PID` names this process (else the variables
/// were meant for someone else and are ignored).
pub fn socket_activation(
    host_env: &[(String, String)],
    pid: u32,
) -> Result<Option<SocketActivation>, crate::error::Error> {
    let get = |k: &str| {
        host_env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    if get("LISTEN_PID").and_then(|p| p.parse::<u32>().ok()) != Some(pid) {
        return Ok(None);
    }
    let Some(n) = get("LISTEN_FDS") else {
        return Ok(None);
    };
    match n.parse::<i32>() {
        Ok(count) if (0..=MAX_LISTEN_FDS).contains(&count) => Ok(Some(SocketActivation {
            count,
            names: get("LISTEN_FDNAMES").map(str::to_string),
        })),
        _ => Err(crate::error::Error::host(
            "LISTEN_FDS",
            format!("{n:?} is not a count of file descriptors (0..={MAX_LISTEN_FDS})"),
        )),
    }
}

impl SocketActivation {
    /// The fds to keep open.
    pub fn fds(&self) -> impl Iterator<Item = i32> {
        3..3 + self.count
    }

    /// Set `LISTEN_FDS`, `LISTEN_PID` (the workload's pid) and
    /// `LISTEN_FDNAMES` in the workload's environment.
    pub fn export(&self, env: &mut Vec<(String, String)>, workload_pid: u32) {
        let mut put = |k: &str, v: String| match env.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v,
            None => env.push((k.to_string(), v)),
        };
        put("LISTEN_FDS", self.count.to_string());
        put("LISTEN_PID", workload_pid.to_string());
        if let Some(names) = &self.names {
            put("LISTEN_FDNAMES", names.clone());
        }
    }
}

#[cfg(test)]
mod socket_activation_tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_for_this_pid() {
        let e = env(&[
            ("LISTEN_PID", "42"),
            ("LISTEN_FDS", "2"),
            ("LISTEN_FDNAMES", "a:b"),
        ]);
        assert_eq!(socket_activation(&e, 41).ok(), Some(None));
        let s = socket_activation(&e, 42).ok().flatten();
        assert_eq!(
            s.as_ref().map(|s| s.fds().collect::<Vec<_>>()),
            Some(vec![3, 4])
        );
        let mut out = env(&[("PATH", "/bin"), ("LISTEN_PID", "1")]);
        if let Some(s) = s {
            s.export(&mut out, 7);
        }
        assert_eq!(
            out,
            env(&[
                ("PATH", "/bin"),
                ("LISTEN_PID", "7"),
                ("LISTEN_FDS", "2"),
                ("LISTEN_FDNAMES", "a:b")
            ])
        );
    }

    #[test]
    fn bad_count_fails_closed() {
        let e = env(&[("LISTEN_PID", "42"), ("LISTEN_FDS", "-1")]);
        assert_eq!(
            socket_activation(&e, 42)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("LISTEN_FDS: \"-1\" is not a count of file descriptors (0..=4096)")
        );
    }
}
