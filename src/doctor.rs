//! `openshell-sandbox doctor`: what this kernel and this container context
//! provide, and what that means for a policy — for the operator whose pod
//! exits 125 on a new node. Every line says supported or not, why, and the
//! fix when someone can act. It reads the host through the same probes a
//! launch uses (`probe`, `capabilities`, `seccomp`) and changes nothing;
//! it always exits 0.
//!
//! [`Facts`] is read once; [`checks`] is pure, so each verdict is tested
//! on described hosts.

use std::fmt::Write as _;

use serde::Serialize;

use crate::capabilities::{self, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, CapState};
use crate::landlock::{LANDLOCK_ABI_KNOWN, linux_for_abi, no_landlock_hint};
use crate::probe::{self, LandlockSupport};

/// `SECCOMP_RET_USER_NOTIF` (Linux >= 5.0).
const RET_USER_NOTIF: u32 = 0x7fc0_0000;

/// What the host says, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// `uname -r`.
    pub kernel: String,
    pub landlock: LandlockSupport,
    /// `seccomp(SECCOMP_GET_ACTION_AVAIL)` for ERRNO (filters at all),
    /// KILL_PROCESS, LOG and USER_NOTIF: `Ok` or the errno.
    pub seccomp_errno: Result<(), i32>,
    pub seccomp_kill: Result<(), i32>,
    pub seccomp_log: Result<(), i32>,
    pub seccomp_notify: Result<(), i32>,
    /// `/proc/self/status`: `Seccomp` (0 none, 1 strict, 2 filter),
    /// `Seccomp_filters`, `NoNewPrivs`.
    pub seccomp_mode: Option<u32>,
    pub seccomp_filters: Option<u32>,
    pub no_new_privs: Option<bool>,
    pub memfd_noexec: Option<u8>,
    pub caps: CapState,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// `/proc/self/uid_map`, lines trimmed (None: unreadable).
    pub uid_map: Option<Vec<String>>,
}

impl Facts {
    /// Read this process's host and context.
    pub fn probe() -> Facts {
        let num = |f: &str| probe::status_field(f).and_then(|v| v.parse::<u32>().ok());
        let mut groups = probe::getgroups();
        crate::sort::sort(&mut groups);
        Facts {
            kernel: probe::read_small("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| "unknown".into()),
            landlock: probe::landlock_abi(),
            seccomp_errno: crate::seccomp::action_available(crate::seccomp::RET_ERRNO),
            seccomp_kill: crate::seccomp::action_available(crate::seccomp::RET_KILL_PROCESS),
            seccomp_log: crate::seccomp::action_available(crate::seccomp::RET_LOG),
            seccomp_notify: crate::seccomp::action_available(RET_USER_NOTIF),
            seccomp_mode: num("Seccomp"),
            seccomp_filters: num("Seccomp_filters"),
            no_new_privs: num("NoNewPrivs").map(|v| v == 1),
            memfd_noexec: probe::memfd_noexec(),
            caps: capabilities::current(),
            uid: probe::nix_uid(),
            gid: probe::nix_gid(),
            groups,
            uid_map: probe::read_small("/proc/self/uid_map").map(|s| {
                s.lines()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect()
            }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Available; policies that use it get it.
    Supported,
    /// Works, with less than a root start on a current kernel gives.
    Limited,
    /// Not available; `means` says what a policy loses, `fix` what to do.
    NotSupported,
    /// A fact about the context, neither good nor bad.
    Info,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Supported => "supported",
            Status::Limited => "limited",
            Status::NotSupported => "not supported",
            Status::Info => "info",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What it means for a policy (when not plainly supported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub means: Option<String>,
    /// What someone can do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        status,
        detail: detail.into(),
        means: None,
        fix: None,
    }
}

impl Check {
    fn means(mut self, m: impl Into<String>) -> Self {
        self.means = Some(m.into());
        self
    }
    fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = Some(f.into());
        self
    }
}

/// The whole report, as `--format json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub kernel: String,
    pub arch: &'static str,
    pub landlock_abi_known: u32,
    pub checks: Vec<Check>,
}

/// Landlock features a policy can depend on: (name, ABI, what a policy
/// loses without it).
const LANDLOCK_FEATURES: [(&str, u32, &str); 8] = [
    (
        "filesystem",
        1,
        "no path rule applies: a policy that requires filesystem isolation (the default) stops with 125; best_effort runs unconfined",
    ),
    (
        "refer",
        2,
        "renaming or linking a file into another directory is always refused",
    ),
    (
        "truncate",
        3,
        "truncate of files outside the read_write rules is not refused (file modes still apply)",
    ),
    (
        "tcp",
        4,
        "network.connect_tcp/bind_tcp and network_policies ports are not enforced; hard_requirement stops with 125",
    ),
    (
        "ioctl_dev",
        5,
        "ioctl on device files is not restricted; a policy that requires ioctl_dev (GPUs) stops with 125",
    ),
    (
        "scopes",
        6,
        "abstract unix sockets and signals reach processes outside the sandbox",
    ),
    (
        "audit",
        7,
        "denials are not logged (landlock.audit.log_denials)",
    ),
    (
        "resolve_unix",
        9,
        "the workload can connect to any pathname unix socket its file modes allow (network.unix_sockets: false refuses unix sockets)",
    ),
];

fn landlock_checks(f: &Facts, out: &mut Vec<Check>) {
    let abi = f.landlock.abi();
    let usable = abi.min(LANDLOCK_ABI_KNOWN);
    if abi == 0 {
        out.push(
            check("landlock", Status::NotSupported, f.landlock.describe())
                .means(LANDLOCK_FEATURES[0].2)
                .fix(no_landlock_hint(&f.landlock)),
        );
    } else {
        out.push(check(
            "landlock",
            Status::Supported,
            format!(
                "ABI {abi} (introduced in Linux {}); this build uses up to ABI {LANDLOCK_ABI_KNOWN}",
                linux_for_abi(abi)
            ),
        ));
    }
    for (name, need, loses) in LANDLOCK_FEATURES {
        let since = format!("Landlock ABI {need}, Linux {}", linux_for_abi(need));
        let c = if usable >= need {
            check(&format!("landlock.{name}"), Status::Supported, since)
        } else {
            let c = check(&format!("landlock.{name}"), Status::NotSupported, since).means(loses);
            // Without Landlock at all the fix is on the line above.
            if abi == 0 {
                c
            } else {
                c.fix(format!("run on Linux >= {}", linux_for_abi(need)))
            }
        };
        out.push(c);
    }
}

fn errno_text(e: i32) -> String {
    capabilities::errno_name(e)
}

fn seccomp_checks(f: &Facts, out: &mut Vec<Check>) {
    match f.seccomp_errno {
        Ok(()) => out.push(check(
            "seccomp",
            Status::Supported,
            "seccomp filters (SECCOMP_SET_MODE_FILTER)",
        )),
        Err(e) => out.push(
            check(
                "seccomp",
                Status::NotSupported,
                format!(
                    "seccomp(SECCOMP_GET_ACTION_AVAIL) failed: {}",
                    errno_text(e)
                ),
            )
            .means("no syscall filter can be installed: every launch stops with 125")
            .fix(if e == libc::EPERM {
                "allow the seccomp syscall in the container's seccomp profile"
            } else {
                "run on a kernel built with CONFIG_SECCOMP_FILTER"
            }),
        ),
    }
    let action = |name: &str, r: Result<(), i32>, since: &str, means: &str| match r {
        Ok(()) => check(name, Status::Supported, since),
        Err(e) => check(
            name,
            Status::NotSupported,
            format!("{since}: {}", errno_text(e)),
        )
        .means(means),
    };
    if f.seccomp_errno.is_ok() {
        out.push(action(
            "seccomp.kill_process",
            f.seccomp_kill,
            "SECCOMP_RET_KILL_PROCESS, Linux 4.14",
            "seccomp.action: kill and the foreign-ABI kill cannot be installed: launches stop with 125",
        ));
        out.push(action(
            "seccomp.log",
            f.seccomp_log,
            "SECCOMP_RET_LOG, Linux 4.14",
            "seccomp.log: true cannot be installed",
        ));
        out.push(action(
            "seccomp.user_notification",
            f.seccomp_notify,
            "SECCOMP_RET_USER_NOTIF, Linux 5.0",
            "not used by this version: nothing is lost",
        ));
    }
    let (status, detail) = match (f.seccomp_mode, f.seccomp_filters) {
        (Some(2), n) => (
            Status::Info,
            format!(
                "{} filter(s) already installed (e.g. the runtime's profile): the sandbox's filter is added on top, and a call either refuses is refused",
                n.map_or("some".to_string(), |n| n.to_string())
            ),
        ),
        (Some(1), _) => (
            Status::NotSupported,
            "strict mode: only read, write, exit and sigreturn are allowed".to_string(),
        ),
        (Some(_), _) => (Status::Info, "no filter installed yet".to_string()),
        (None, _) => (
            Status::Info,
            "unknown (/proc/self/status has no Seccomp field)".to_string(),
        ),
    };
    out.push(check("seccomp.inherited", status, detail));
    out.push(check(
        "no_new_privs",
        Status::Info,
        match f.no_new_privs {
            Some(true) => {
                "already set (e.g. allowPrivilegeEscalation: false); the supervisor sets it anyway"
            }
            Some(false) => "not set yet; the supervisor sets it before the workload starts",
            None => "unknown (/proc/self/status has no NoNewPrivs field)",
        },
    ));
}

fn memfd_check(f: &Facts) -> Check {
    match f.memfd_noexec {
        Some(2) => check(
            "vm.memfd_noexec",
            Status::Supported,
            "2: memfds are never executable",
        ),
        Some(v) => check(
            "vm.memfd_noexec",
            Status::Limited,
            format!("{v}: memfds may be executable"),
        )
        .means("the workload can exec a memfd it wrote through /proc/self/fd/N (Landlock does not check memfds); listed under host_limits")
        .fix("set vm.memfd_noexec=2 on the node (per pid namespace, inherited by new ones)"),
        None => check(
            "vm.memfd_noexec",
            Status::NotSupported,
            "absent (Linux < 6.6)",
        )
        .means("the workload can exec a memfd it wrote through /proc/self/fd/N; listed under host_limits")
        .fix("run on Linux >= 6.6 and set vm.memfd_noexec=2"),
    }
}

fn set_names(m: u64) -> String {
    if m == 0 {
        "none".into()
    } else if m.count_ones() > 8 {
        format!("{} capabilities", m.count_ones())
    } else {
        capabilities::names(m)
    }
}

fn capability_checks(f: &Facts, out: &mut Vec<Check>) {
    let c = &f.caps;
    out.push(check(
        "capabilities",
        Status::Info,
        format!(
            "effective: {}; permitted: {}; bounding: {}",
            set_names(c.effective),
            set_names(c.permitted),
            set_names(c.bounding)
        ),
    ));
    let setpcap = c.effective & capabilities::bit(CAP_SETPCAP) != 0;
    let cb = if setpcap {
        check(
            "capabilities.setpcap",
            Status::Supported,
            "CAP_SETPCAP held: the bounding set is cleared to the policy's keep list and securebits are locked",
        )
    } else if c.bounding == 0 {
        check(
            "capabilities.setpcap",
            Status::Supported,
            "CAP_SETPCAP not held, but the bounding set is already empty: nothing to clear",
        )
    } else if f.uid == 0 {
        check(
            "capabilities.setpcap",
            Status::NotSupported,
            "CAP_SETPCAP not held: the bounding set cannot be cleared nor securebits set",
        )
        .means("started as root with a bounding set wider than capabilities.keep, the launch stops with 125")
        .fix("add it to the container, e.g. Kubernetes securityContext.capabilities.add: [SETPCAP] (it is dropped before the workload starts)")
    } else {
        check(
            "capabilities.setpcap",
            Status::Limited,
            "CAP_SETPCAP not held (unprivileged start): the bounding set is left as inherited and no securebits are set",
        )
        .means("no_new_privs still keeps the workload from gaining any capability through exec")
    };
    out.push(cb);
    let setid = capabilities::bit(CAP_SETUID) | capabilities::bit(CAP_SETGID);
    out.push(if c.effective & setid == setid {
        check(
            "identity.switch",
            Status::Supported,
            "CAP_SETUID and CAP_SETGID held: the workload runs as the policy's user, with the groups set",
        )
    } else {
        check(
            "identity.switch",
            Status::Limited,
            format!(
                "CAP_SETUID/CAP_SETGID not held: the workload keeps uid {} and gid {}",
                f.uid, f.gid
            ),
        )
        .means("a policy naming another user or group stops with 125")
        .fix("set securityContext.runAsUser/runAsGroup to the policy's user, or start the supervisor as root")
    });
}

fn identity_checks(f: &Facts, out: &mut Vec<Check>) {
    let who = if f.uid == 0 {
        "uid 0 (root)".to_string()
    } else {
        format!("uid {} (unprivileged)", f.uid)
    };
    out.push(check(
        "identity",
        Status::Info,
        format!("{who}, gid {}", f.gid),
    ));
    let groups = if f.groups.is_empty() {
        "none".to_string()
    } else {
        f.groups
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let can_set = f.caps.effective & capabilities::bit(CAP_SETGID) != 0;
    out.push(if can_set {
        check(
            "identity.groups",
            Status::Supported,
            format!("{groups}; replaced by the workload's groups at the switch"),
        )
    } else if f.groups.contains(&0) || f.gid == 0 {
        check(
            "identity.groups",
            Status::NotSupported,
            format!("{groups}; group 0 (root) is held and cannot be dropped without CAP_SETGID"),
        )
        .means("such a start is refused (125): the workload would keep root's group")
        .fix("remove group 0 from the pod's securityContext.supplementalGroups and runAsGroup (docker: --group-add 0), or start the supervisor as root")
    } else {
        check(
            "identity.groups",
            Status::Info,
            format!("{groups}; kept by the workload (setgroups needs CAP_SETGID)"),
        )
    });
    out.push(match &f.uid_map {
        Some(m) if m.len() == 1 && m[0] == "0 0 4294967295" => check(
            "user_namespace",
            Status::Info,
            "initial user namespace: uid 0 here is root of the node",
        ),
        Some(m) => check(
            "user_namespace",
            Status::Info,
            format!(
                "in a user namespace (uid_map: {}): files owned by unmapped users count as root's when paths are resolved",
                m.join("; ")
            ),
        ),
        None => check("user_namespace", Status::Info, "unknown (no /proc/self/uid_map)"),
    });
}

/// Every check, in the order the report prints them. Pure.
pub fn checks(f: &Facts) -> Vec<Check> {
    let mut out = Vec::new();
    landlock_checks(f, &mut out);
    seccomp_checks(f, &mut out);
    out.push(memfd_check(f));
    capability_checks(f, &mut out);
    identity_checks(f, &mut out);
    out
}

pub fn report(f: &Facts) -> Report {
    Report {
        kernel: f.kernel.clone(),
        arch: std::env::consts::ARCH,
        landlock_abi_known: LANDLOCK_ABI_KNOWN,
        checks: checks(f),
    }
}

/// The report for people: one line per check, `means:` and `fix:` lines
/// under it.
pub fn render_text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "openshell-sandbox doctor: Linux {} {}", r.kernel, r.arch);
    let wn = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let ws = r
        .checks
        .iter()
        .map(|c| c.status.word().len())
        .max()
        .unwrap_or(0);
    for c in &r.checks {
        let _ = writeln!(o, "{:<ws$}  {:<wn$}  {}", c.status.word(), c.name, c.detail);
        let pad = " ".repeat(ws + 2);
        if let Some(m) = &c.means {
            let _ = writeln!(o, "{pad}means: {m}");
        }
        if let Some(f) = &c.fix {
            let _ = writeln!(o, "{pad}fix: {f}");
        }
    }
    o
}

/// `openshell-sandbox doctor [--format text|json]`. Always 0.
pub fn command(json: bool) -> i32 {
    let r = report(&Facts::probe());
    if json {
        match serde_json::to_string_pretty(&r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("openshell-sandbox: internal error: {e}"),
        }
    } else {
        print!("{}", render_text(&r));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_abi(abi: u32) -> Facts {
        Facts {
            kernel: "6.18.0".into(),
            landlock: LandlockSupport::Available { abi },
            seccomp_mode: Some(0),
            seccomp_filters: Some(0),
            no_new_privs: Some(false),
            memfd_noexec: Some(0),
            caps: CapState {
                effective: 0xa804_25fb,
                permitted: 0xa804_25fb,
                inheritable: 0,
                bounding: 0xa804_25fb,
            },
            uid_map: Some(vec!["0 0 4294967295".into()]),
            seccomp_errno: Ok(()),
            seccomp_kill: Ok(()),
            seccomp_log: Ok(()),
            seccomp_notify: Ok(()),
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        }
    }

    fn find<'a>(c: &'a [Check], name: &str) -> &'a Check {
        c.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn each_landlock_feature_names_the_linux_that_adds_it() {
        let c = checks(&root_abi(5));
        assert_eq!(find(&c, "landlock").status, Status::Supported);
        let io = find(&c, "landlock.ioctl_dev");
        assert_eq!(
            (io.status, io.detail.as_str()),
            (Status::Supported, "Landlock ABI 5, Linux 6.10")
        );
        let sc = find(&c, "landlock.scopes");
        assert_eq!(sc.status, Status::NotSupported);
        assert_eq!(sc.fix.as_deref(), Some("run on Linux >= 6.12"));
        assert!(sc.means.as_deref().unwrap().contains("signals"));
    }

    #[test]
    fn no_landlock_says_why_and_the_fix_once() {
        let mut f = root_abi(0);
        f.landlock = LandlockSupport::Blocked;
        let c = checks(&f);
        let l = find(&c, "landlock");
        assert_eq!(l.status, Status::NotSupported);
        assert!(l.fix.as_deref().unwrap().contains("seccomp profile"));
        let fs = find(&c, "landlock.filesystem");
        assert_eq!((fs.status, fs.fix.as_ref()), (Status::NotSupported, None));
    }

    #[test]
    fn unprivileged_start_with_group_0_is_flagged_as_refused() {
        let mut f = root_abi(7);
        f.uid = 1500;
        f.gid = 1500;
        f.groups = vec![0, 1500];
        f.caps = CapState {
            bounding: 0xa804_25fb,
            ..CapState::default()
        };
        let c = checks(&f);
        let g = find(&c, "identity.groups");
        assert_eq!(g.status, Status::NotSupported);
        assert!(g.means.as_deref().unwrap().contains("refused (125)"));
        assert_eq!(find(&c, "capabilities.setpcap").status, Status::Limited);
        assert_eq!(find(&c, "identity.switch").status, Status::Limited);
    }

    #[test]
    fn root_without_setpcap_is_told_how_to_add_it() {
        let mut f = root_abi(7);
        f.caps.effective &= !capabilities::bit(CAP_SETPCAP);
        let c = find(&checks(&f), "capabilities.setpcap").clone();
        assert_eq!(c.status, Status::NotSupported);
        assert!(c.fix.unwrap().contains("capabilities.add: [SETPCAP]"));
    }

    #[test]
    fn memfd_noexec_and_user_namespace() {
        let mut f = root_abi(7);
        f.uid_map = Some(vec!["0 100000 65536".into()]);
        let c = checks(&f);
        assert_eq!(find(&c, "vm.memfd_noexec").status, Status::Limited);
        assert!(find(&c, "user_namespace").detail.contains("0 100000 65536"));
        f.memfd_noexec = Some(2);
        assert_eq!(
            find(&checks(&f), "vm.memfd_noexec").status,
            Status::Supported
        );
    }
}
