//! The workload's environment is built, never inherited.
//!
//! Order of precedence (later wins): the allowlist passed through from the
//! supervisor's environment (PATH, TERM, LANG, LANGUAGE, the locale
//! categories LC_ALL, LC_CTYPE, ... by name, TZ, plus
//! `environment.pass`), then HOME/USER/LOGNAME/SHELL of the target user,
//! then `environment.set`, then CDI device env, then `OPENSHELL_SANDBOX=1`.
//! Anything else in the supervisor's environment — tokens, credentials,
//! `LD_PRELOAD` — never reaches the workload.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use serde::Serialize;

use crate::identity::IdentityPlan;
use crate::policy::Policy;
use crate::probe::HostFacts;

/// Passed through when present in the supervisor's environment. The
/// locale categories are named one by one, never as `LC_*`: any variable
/// whose name starts with `LC_` would match that (sshd forwards `LC_*` from
/// clients, and names like `LC_TOKEN` are used to smuggle values through
/// exactly such allowlists). A policy can still pass `LC_*` explicitly.
pub const DEFAULT_PASS: [&str; 18] = [
    "PATH",
    "TERM",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_NUMERIC",
    "LC_TIME",
    "LC_COLLATE",
    "LC_MONETARY",
    "LC_MESSAGES",
    "LC_PAPER",
    "LC_NAME",
    "LC_ADDRESS",
    "LC_TELEPHONE",
    "LC_MEASUREMENT",
    "LC_IDENTIFICATION",
    "TZ",
];

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
    // By bytes: every supervisor variable meets every pattern, and the
    // char searcher of `strip_suffix('*')` was most of planning the
    // environment.
    match pattern.as_bytes().split_last() {
        Some((b'*', prefix)) => name.as_bytes().starts_with(prefix),
        _ => pattern == name,
    }
}

/// A variable list being built: a name keeps its first position and takes
/// its last value. The name index makes each `set` O(log n), so merging a
/// device's tens of thousands of variables stays fast. Ordered, not
/// hashed: the names include the supervisor's own that a pass pattern
/// matches, and not all of those are the pod author's (Kubernetes adds
/// variables named after every Service in the namespace), so a hash
/// without a secret key could be flooded with chosen names, and
/// std's keyed one costs a random seed and SipHash at every launch.
struct Vars {
    vars: Vec<EnvVar>,
    index: BTreeMap<String, usize>,
}

impl Vars {
    fn new(vars: Vec<EnvVar>) -> Vars {
        let mut index = BTreeMap::new();
        for (i, v) in vars.iter().enumerate() {
            index.entry(v.name.clone()).or_insert(i);
        }
        Vars { vars, index }
    }

    fn set(&mut self, name: &str, value: Option<String>, origin: EnvOrigin) {
        match self.index.get(name).and_then(|i| self.vars.get_mut(*i)) {
            Some(v) => {
                v.value = value;
                v.origin = origin;
            }
            None => {
                self.index.insert(name.to_string(), self.vars.len());
                self.vars.push(EnvVar {
                    name: name.to_string(),
                    origin,
                    value,
                });
            }
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
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
    let mut vars = Vars::new(Vec::new());
    // Names are matched as text: a name that is not UTF-8 never equals a
    // policy name, and is reported by `unpassable` rather than passed.
    for (k, _) in &host.env {
        if let Some(k) = k.to_str() {
            if pass.iter().any(|p| matches(p, k)) {
                vars.set(k, None, EnvOrigin::Pass);
            }
        }
    }
    if !vars.contains("PATH") {
        vars.set("PATH", Some(DEFAULT_PATH.into()), EnvOrigin::Fixed);
    }
    vars.set("HOME", Some(id.home.clone()), EnvOrigin::Identity);
    let user = id.user_name.clone().unwrap_or_else(|| id.uid.to_string());
    vars.set("USER", Some(user.clone()), EnvOrigin::Identity);
    vars.set("LOGNAME", Some(user), EnvOrigin::Identity);
    if let Some(sh) = &id.shell {
        vars.set("SHELL", Some(sh.clone()), EnvOrigin::Identity);
    }
    for (k, v) in &env_cfg.set {
        vars.set(k, Some(v.clone()), EnvOrigin::Policy);
    }
    vars.set("OPENSHELL_SANDBOX", Some("1".into()), EnvOrigin::Fixed);
    EnvPlan {
        pass,
        vars: vars.vars,
    }
}

/// Supervisor variables whose name is not UTF-8 but would match a pass
/// pattern byte for byte (`LC_*`): they cannot be named in a plan and are
/// not passed; the launch logs each (escaped) so the omission is visible.
pub fn unpassable(plan: &EnvPlan, host_env: &[(OsString, OsString)]) -> Vec<String> {
    host_env
        .iter()
        .filter(|(k, _)| k.to_str().is_none())
        .filter(|(k, _)| {
            plan.pass.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => k.as_bytes().starts_with(prefix.as_bytes()),
                None => false,
            })
        })
        .map(|(k, _)| crate::bytes::escape(k))
        .collect()
}

/// Add the CDI devices' env (origin `device`): after the policy's `set`,
/// before the fixed `OPENSHELL_SANDBOX=1`. A name already present keeps its
/// position and takes the device's value, as a container runtime applies
/// CDI env. Linear in the number of variables.
pub fn add_device_env(plan: &mut EnvPlan, vars: &[(String, String)]) {
    if vars.is_empty() {
        return;
    }
    let fixed = plan
        .vars
        .iter()
        .position(|v| v.name == "OPENSHELL_SANDBOX" && v.origin == EnvOrigin::Fixed)
        .map(|i| plan.vars.remove(i));
    let mut all = Vars::new(std::mem::take(&mut plan.vars));
    for (k, v) in vars {
        all.set(k, Some(v.clone()), EnvOrigin::Device);
    }
    if let Some(f) = fixed {
        all.set(&f.name, f.value, f.origin);
    }
    plan.vars = all.vars;
}

/// The supervisor's own environment, bytes as received: nothing is
/// dropped for not being UTF-8.
pub fn supervisor_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os().collect()
}

/// The first value of `name` in `env` (what getenv(3) returns).
pub fn lookup<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_os_str())
}

/// Check the variables the supervisor itself reads for a plan, so that a
/// value it cannot use stops the launch instead of being read as unset.
/// (`$OPENSHELL_POLICY` is a path and any bytes do; `LISTEN_*` are checked
/// by [`socket_activation`].)
pub fn check_inputs(env: &[(OsString, OsString)]) -> Result<(), crate::error::Error> {
    if let Some(v) = lookup(env, "NVIDIA_VISIBLE_DEVICES") {
        if v.to_str().is_none() {
            return Err(crate::error::Error::host(
                "NVIDIA_VISIBLE_DEVICES",
                format!("\"{}\" is not valid UTF-8", crate::bytes::escape(v)),
            ));
        }
    }
    Ok(())
}

/// The concrete `NAME=value` list for execve, filling passed values (as
/// bytes: a value need not be UTF-8) from the supervisor's environment.
pub fn materialize(plan: &EnvPlan, host_env: &[(OsString, OsString)]) -> Vec<(String, OsString)> {
    // Sorted by name, not hashed (see `Vars`): a stable sort keeps the
    // first definition of a name first among its equals, and that one
    // wins, as getenv(3) finds it.
    let mut host: Vec<(&OsStr, &OsStr)> = host_env
        .iter()
        .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
        .collect();
    crate::sort::sort_by(&mut host, |a, b| a.0.cmp(b.0));
    let lookup = |name: &OsStr| {
        let at = host.partition_point(|(k, _)| *k < name);
        host.get(at).filter(|(k, _)| *k == name).map(|(_, v)| *v)
    };
    plan.vars
        .iter()
        .filter_map(|v| {
            let value = match &v.value {
                Some(x) => OsString::from(x),
                None => lookup(OsStr::new(&v.name))?.to_os_string(),
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
    pub names: Option<OsString>,
}

/// Most fds `LISTEN_FDS` may name.
const MAX_LISTEN_FDS: i32 = 4096;

/// `LISTEN_FDS`, when `LISTEN_PID` names this process (another pid: the
/// variables were meant for someone else and are ignored, as is
/// `LISTEN_FDS` without `LISTEN_PID`, as sd_listen_fds(3) does). A
/// `LISTEN_PID` or `LISTEN_FDS` that is not a number is an error, never
/// read as "not for us".
pub fn socket_activation(
    host_env: &[(OsString, OsString)],
    pid: u32,
) -> Result<Option<SocketActivation>, crate::error::Error> {
    let get = |k: &str| lookup(host_env, k);
    let bad = |k: &str, v: &OsStr, what: &str| {
        crate::error::Error::host(k, format!("\"{}\" is not {what}", crate::bytes::escape(v)))
    };
    let Some(p) = get("LISTEN_PID") else {
        return Ok(None);
    };
    let listen_pid = p
        .to_str()
        .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or_else(|| bad("LISTEN_PID", p, "a process id"))?;
    if listen_pid != pid {
        return Ok(None);
    }
    let Some(n) = get("LISTEN_FDS") else {
        return Ok(None);
    };
    let what = format!("a count of file descriptors (0..={MAX_LISTEN_FDS})");
    match n
        .to_str()
        .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|s| s.parse::<i32>().ok())
    {
        Some(count) if (0..=MAX_LISTEN_FDS).contains(&count) => Ok(Some(SocketActivation {
            count,
            names: get("LISTEN_FDNAMES").map(OsStr::to_os_string),
        })),
        _ => Err(bad("LISTEN_FDS", n, &what)),
    }
}

impl SocketActivation {
    /// Each passed descriptor is something socket activation passes: a
    /// socket, a FIFO or a special file such as a character device
    /// (sd_listen_fds(3)). A regular file, directory or block device (one
    /// the supervisor's starter had open, say as root) would reach the
    /// workload past Landlock, opened with its starter's rights: the
    /// launch stops, naming the descriptor.
    pub fn check_kinds(&self) -> Result<(), crate::error::Error> {
        for fd in self.fds() {
            let kind = crate::sys::fd_type(fd).map_err(|e| {
                crate::error::Error::host(
                    "LISTEN_FDS",
                    format!(
                        "descriptor {fd} is not open ({})",
                        crate::capabilities::errno_name(e)
                    ),
                )
            })?;
            let what = match kind {
                libc::S_IFREG => "a regular file",
                libc::S_IFDIR => "a directory",
                libc::S_IFBLK => "a block device",
                _ => continue,
            };
            return Err(crate::error::Error::host(
                "LISTEN_FDS",
                format!("descriptor {fd} is {what}, which socket activation does not pass (sockets, FIFOs and character devices)"),
            )
            .with_hint("pass listening sockets as descriptors 3.., or unset LISTEN_PID and LISTEN_FDS (use --preserve-fd for another descriptor)"));
        }
        Ok(())
    }

    /// The fds to keep open.
    pub fn fds(&self) -> impl Iterator<Item = i32> {
        3..3 + self.count
    }

    /// Set `LISTEN_FDS`, `LISTEN_PID` (the workload's pid) and
    /// `LISTEN_FDNAMES` in the workload's environment.
    pub fn export(&self, env: &mut Vec<(String, OsString)>, workload_pid: u32) {
        let mut put = |k: &str, v: OsString| match env.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v,
            None => env.push((k.to_string(), v)),
        };
        put("LISTEN_FDS", self.count.to_string().into());
        put("LISTEN_PID", workload_pid.to_string().into());
        if let Some(names) = &self.names {
            put("LISTEN_FDNAMES", names.clone());
        }
    }
}

#[cfg(test)]
mod socket_activation_tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        v.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    fn out(v: &[(&str, &str)]) -> Vec<(String, OsString)> {
        v.iter().map(|(k, v)| (k.to_string(), v.into())).collect()
    }

    fn err(e: &[(OsString, OsString)]) -> Option<String> {
        socket_activation(e, 42).err().map(|e| e.to_string())
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
        let mut o = out(&[("PATH", "/bin"), ("LISTEN_PID", "1")]);
        if let Some(s) = s {
            s.export(&mut o, 7);
        }
        assert_eq!(
            o,
            out(&[
                ("PATH", "/bin"),
                ("LISTEN_PID", "7"),
                ("LISTEN_FDS", "2"),
                ("LISTEN_FDNAMES", "a:b")
            ])
        );
    }

    #[test]
    fn bad_count_fails_closed() {
        for v in ["-1", "+2", " 2", "4097", ""] {
            let e = env(&[("LISTEN_PID", "42"), ("LISTEN_FDS", v)]);
            assert_eq!(
                err(&e),
                Some(format!(
                    "LISTEN_FDS: {v:?} is not a count of file descriptors (0..=4096)"
                ))
            );
        }
    }

    #[test]
    fn listen_pid_that_is_not_a_pid_is_an_error_not_someone_elses() {
        use std::os::unix::ffi::OsStrExt;
        for v in ["abc", "", "-42", "+42", "42 "] {
            let e = env(&[("LISTEN_PID", v), ("LISTEN_FDS", "1")]);
            assert_eq!(
                err(&e),
                Some(format!("LISTEN_PID: {v:?} is not a process id"))
            );
        }
        let mut e = env(&[("LISTEN_FDS", "1")]);
        e.push(("LISTEN_PID".into(), OsStr::from_bytes(b"4\xff").into()));
        assert_eq!(
            err(&e),
            Some("LISTEN_PID: \"4\\xff\" is not a process id".to_string())
        );
        // LISTEN_FDS without LISTEN_PID is not for us (sd_listen_fds).
        assert_eq!(
            socket_activation(&env(&[("LISTEN_FDS", "1")]), 42).ok(),
            Some(None)
        );
    }

    #[test]
    fn fd_names_pass_as_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let mut e = env(&[("LISTEN_PID", "42"), ("LISTEN_FDS", "1")]);
        e.push(("LISTEN_FDNAMES".into(), OsStr::from_bytes(b"n\xfe").into()));
        let s = socket_activation(&e, 42).ok().flatten();
        assert_eq!(
            s.and_then(|s| s.names),
            Some(OsStr::from_bytes(b"n\xfe").to_os_string())
        );
    }

    #[test]
    fn nvidia_visible_devices_that_is_not_utf8_is_an_error() {
        use std::os::unix::ffi::OsStrExt;
        let e = vec![(
            OsString::from("NVIDIA_VISIBLE_DEVICES"),
            OsStr::from_bytes(b"0,\xff").to_os_string(),
        )];
        assert_eq!(
            check_inputs(&e).err().map(|e| e.to_string()).as_deref(),
            Some("NVIDIA_VISIBLE_DEVICES: \"0,\\xff\" is not valid UTF-8")
        );
        assert!(check_inputs(&env(&[("NVIDIA_VISIBLE_DEVICES", "0,1")])).is_ok());
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    fn var(name: &str, origin: EnvOrigin, value: Option<&str>) -> EnvVar {
        EnvVar {
            name: name.into(),
            origin,
            value: value.map(str::to_string),
        }
    }

    fn base() -> EnvPlan {
        EnvPlan {
            pass: Vec::new(),
            vars: vec![
                var("PATH", EnvOrigin::Pass, None),
                var("HOME", EnvOrigin::Identity, Some("/home/u")),
                var("A", EnvOrigin::Policy, Some("policy")),
                var("OPENSHELL_SANDBOX", EnvOrigin::Fixed, Some("1")),
            ],
        }
    }

    #[test]
    fn device_env_overrides_in_place_and_the_fixed_marker_stays_last() {
        let mut p = base();
        add_device_env(
            &mut p,
            &[
                ("B".into(), "dev1".into()),
                ("A".into(), "dev".into()),
                ("B".into(), "dev2".into()),
                ("OPENSHELL_SANDBOX".into(), "0".into()),
            ],
        );
        assert_eq!(
            p.vars,
            vec![
                var("PATH", EnvOrigin::Pass, None),
                var("HOME", EnvOrigin::Identity, Some("/home/u")),
                // Kept its position, took the device's value.
                var("A", EnvOrigin::Device, Some("dev")),
                // First position, last value.
                var("B", EnvOrigin::Device, Some("dev2")),
                // A device cannot unset the marker: it is set again last.
                var("OPENSHELL_SANDBOX", EnvOrigin::Fixed, Some("1")),
            ]
        );
    }

    #[test]
    fn merging_200k_device_variables_is_linear() {
        // Quadratic merging took minutes at this size; each name appears
        // twice so every second entry is an override.
        let n = 100_000;
        let vars: Vec<(String, String)> = (0..2 * n)
            .map(|i| (format!("V{}", i % n), i.to_string()))
            .collect();
        let mut p = base();
        add_device_env(&mut p, &vars);
        assert_eq!(p.vars.len(), 4 + n);
        assert_eq!(
            p.vars.get(3),
            Some(&var("V0", EnvOrigin::Device, Some(&n.to_string())))
        );
        assert_eq!(
            p.vars.last(),
            Some(&var("OPENSHELL_SANDBOX", EnvOrigin::Fixed, Some("1")))
        );
    }

    #[test]
    fn materialize_takes_the_first_definition_and_keeps_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let p = base();
        let host = vec![
            (
                OsString::from("PATH"),
                OsStr::from_bytes(b"/b\xff").to_os_string(),
            ),
            (OsString::from("PATH"), OsString::from("/second")),
        ];
        let m = materialize(&p, &host);
        assert_eq!(
            m.first(),
            Some(&(
                "PATH".to_string(),
                OsStr::from_bytes(b"/b\xff").to_os_string()
            ))
        );
        assert_eq!(m.len(), 4);
    }

    proptest::proptest! {
        /// `materialize` passes what a scan of the environment from the
        /// top finds: the first definition of each name, nothing for a
        /// name the environment lacks, set values as they are.
        #[test]
        fn materialize_passes_what_a_scan_finds(
            host in proptest::collection::vec(("[A-C]{1,2}", "[a-z]{0,3}"), 0..24),
            names in proptest::collection::vec(("[A-D]{1,2}", proptest::option::of("[x-z]{1,2}")), 0..8),
        ) {
            let host: Vec<(OsString, OsString)> =
                host.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
            let plan = EnvPlan {
                pass: Vec::new(),
                vars: names
                    .iter()
                    .map(|(n, v)| EnvVar {
                        name: n.clone(),
                        origin: EnvOrigin::Pass,
                        value: v.clone(),
                    })
                    .collect(),
            };
            let want: Vec<(String, OsString)> = names
                .iter()
                .filter_map(|(n, v)| {
                    let value = match v {
                        Some(x) => OsString::from(x),
                        None => host.iter().find(|(k, _)| k == n.as_str())?.1.clone(),
                    };
                    Some((n.clone(), value))
                })
                .collect();
            proptest::prop_assert_eq!(materialize(&plan, &host), want);
        }
    }
}
