//! Landlock: the filesystem, TCP and IPC-scope boundary.
//!
//! Two steps, split around the identity switch (see `apply.rs`):
//!
//! - [`prepare`] (step 2, as root): build a ruleset at the plan's ABI (the
//!   highest both the kernel and this build know), open every rule's path
//!   with `O_PATH|O_CLOEXEC` — so a root-only directory can still be
//!   granted — one component at a time through `safepath`, so a link the
//!   workload could have planted is never followed, and check the opened
//!   object is the one the plan saw (and never `/` or a system tree for a
//!   read-write rule); then add the rules. What a rule grants depends on what the
//!   opened fd is (`fstat`), not on what the path looked like when planned:
//!   a file, device or socket gets file rights only (execute, read_file,
//!   write_file, truncate, ioctl_dev, resolve_unix).
//! - [`restrict`] (step 10, after no_new_privs): `landlock_restrict_self`,
//!   then check what the kernel says it enforces.
//!
//! Rights. `read_only` grants execute, read_file and read_dir. `read_write`
//! grants every filesystem right of the ABI, `refer`, `truncate`,
//! `ioctl_dev` and `resolve_unix` included. `resolve_unix` (ABI 9, connect
//! to a named unix socket) follows `read_write` on purpose: connecting to a
//! socket needs write permission on it in the classic permission model too,
//! so a read-only grant of `/run` does not let a workload talk to a daemon
//! listening there.
//!
//! Compatibility. Every feature is requested at the level the plan decided:
//! a required feature (`plan.filesystem.required`) at `HardRequirement` —
//! the kernel lacking it is a 125 — and every other one at `BestEffort`.
//! Rules themselves are always best effort: a right the kernel cannot
//! grant is also a right it does not handle, so dropping it from a rule
//! never widens access. After `restrict_self` the ruleset status must be
//! "fully enforced"; anything less is either explained by a lower ABI than
//! planned for features the policy lets go (reported in words) or a 125.
//!
//! TCP (ABI 4): connect and bind are always handled when the ABI has them;
//! only the ports in `plan.network` are granted, so a policy without network
//! gets none. UDP rights (ABI 10) are not handled: the policy has no UDP
//! rules, and socket families are seccomp's job.
//!
//! Audit (ABI 7): when the plan says `log_denials`, `restrict_self` gets
//! `LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON` (the crate's `log_new_exec`),
//! since the workload's denials all happen after the exec and are otherwise
//! not logged.
//!
//! Fileless exec: Landlock never checks inodes of kernel-internal mounts,
//! and a memfd lives on one, so execute rights do not stop a workload from
//! exec'ing a memfd through `/proc/self/fd/N` (checked on Linux 6.18). That
//! needs a non-executable memfd (`kernel.memfd_noexec=2`, pid-namespace
//! wide) or seccomp (`execveat` with `AT_EMPTY_PATH`).
//!
//! No Landlock at all: the plan already turned a required filesystem into a
//! blocker and a tolerated one into a "filesystem not enforced" line; this
//! module then builds nothing and its [`Status`] says so.

use landlock::{
    AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort, PathBeneath,
    RestrictionStatus, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetError,
    RulesetStatus, Scope,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::log;
use crate::plan::{self, Access, FilesystemPlan, FsRule, Plan};
use crate::policy::model::Compatibility;
use crate::probe::{LandlockSupport, PathKind};
use crate::safepath::{self, Resolved, Trust};

/// The ruleset, built as root before the identity switch.
pub struct Prepared {
    ruleset: Option<RulesetCreated>,
    path_rules: usize,
    port_rules: usize,
    /// Rules the plan listed that could not be added now (best_effort).
    skipped: Vec<String>,
}

/// How much of the ruleset the plan asked for the kernel enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    FullyEnforced,
    PartiallyEnforced,
    NotEnforced,
}

/// What the kernel enforces after restrict_self (for `--report`).
#[derive(Debug, Serialize)]
pub struct Status {
    /// ABI the ruleset was built for (0: no Landlock).
    pub abi: u32,
    /// What the kernel reported for Landlock.
    pub kernel: LandlockSupport,
    pub ruleset: Enforcement,
    /// Path rules and TCP port rules added to the ruleset.
    pub path_rules: usize,
    pub port_rules: usize,
    pub scopes: Vec<&'static str>,
    /// The kernel logs the workload's denials (audit).
    pub log_denials: bool,
    /// Everything of the policy's Landlock part that is not enforced, in
    /// words. Empty under full enforcement.
    pub not_enforced: Vec<String>,
}

/// The crate's flag for a right named in the plan.
fn access_fs(name: &str) -> Option<AccessFs> {
    Some(match name {
        "execute" => AccessFs::Execute,
        "write_file" => AccessFs::WriteFile,
        "read_file" => AccessFs::ReadFile,
        "read_dir" => AccessFs::ReadDir,
        "remove_dir" => AccessFs::RemoveDir,
        "remove_file" => AccessFs::RemoveFile,
        "make_char" => AccessFs::MakeChar,
        "make_dir" => AccessFs::MakeDir,
        "make_reg" => AccessFs::MakeReg,
        "make_sock" => AccessFs::MakeSock,
        "make_fifo" => AccessFs::MakeFifo,
        "make_block" => AccessFs::MakeBlock,
        "make_sym" => AccessFs::MakeSym,
        "refer" => AccessFs::Refer,
        "truncate" => AccessFs::Truncate,
        "ioctl_dev" => AccessFs::IoctlDev,
        "resolve_unix" => AccessFs::ResolveUnix,
        _ => return None,
    })
}

fn rights<'a>(names: impl IntoIterator<Item = &'a &'static str>) -> Result<BitFlags<AccessFs>> {
    let mut out = BitFlags::EMPTY;
    for n in names {
        match access_fs(n) {
            Some(a) => out |= a,
            None => {
                return Err(Error::Internal(format!(
                    "landlock: unknown filesystem right {n:?} in the plan"
                )));
            }
        }
    }
    Ok(out)
}

fn level(required: bool) -> CompatLevel {
    if required {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    }
}

/// A required feature the kernel refused, or a ruleset call that failed.
fn feature_error(what: &str, e: &RulesetError) -> Error {
    Error::apply(
        "landlock",
        format!("{what} required but not supported by the kernel: {e}"),
    )
    .with_hint("run on a newer kernel, or relax landlock.require / landlock.compatibility")
}

fn call_error(what: &str, e: &RulesetError) -> Error {
    Error::apply("landlock", format!("{what} failed: {e}"))
}

/// The plan's rights for a rule, narrowed to what applies to `kind`.
fn rule_rights(rule_rights: &[&'static str], kind: PathKind) -> Vec<&'static str> {
    if kind == PathKind::Directory {
        return rule_rights.to_vec();
    }
    let file_rights = plan::fs_rights(
        plan::LANDLOCK_ABI_KNOWN,
        Access::ReadWrite,
        PathKind::File,
        true,
    );
    rule_rights
        .iter()
        .copied()
        .filter(|r| file_rights.contains(r))
        .collect()
}

/// Step 2: open the paths and build the ruleset, as root.
pub fn prepare(plan: &Plan) -> Result<Prepared> {
    let fsp = &plan.filesystem;
    let mut prepared = Prepared {
        ruleset: None,
        path_rules: 0,
        port_rules: 0,
        skipped: Vec::new(),
    };
    if fsp.abi == 0 {
        if fsp.required.filesystem {
            // The plan blocks this before apply; never run without it.
            return Err(Error::apply(
                "landlock",
                format!(
                    "filesystem isolation required but the kernel provides {}",
                    fsp.kernel.describe()
                ),
            ));
        }
        return Ok(prepared);
    }

    // Handled rights, per feature: truncate and ioctl_dev have their own
    // minimums, everything else is "filesystem".
    let handled = rights(&fsp.handled)?;
    let truncate = handled & AccessFs::Truncate;
    let ioctl = handled & AccessFs::IoctlDev;
    let base = handled & !(truncate | ioctl);
    let mut rs = Ruleset::default()
        .set_compatibility(level(fsp.required.filesystem))
        .handle_access(base)
        .map_err(|e| feature_error("filesystem access control", &e))?;
    if !truncate.is_empty() {
        rs = rs
            .set_compatibility(level(fsp.required.truncate))
            .handle_access(truncate)
            .map_err(|e| feature_error("truncate control", &e))?;
    }
    if !ioctl.is_empty() {
        rs = rs
            .set_compatibility(level(fsp.required.ioctl_dev))
            .handle_access(ioctl)
            .map_err(|e| feature_error("ioctl control on device files", &e))?;
    }
    if fsp.enforced.network {
        rs = rs
            .set_compatibility(level(fsp.required.network))
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|e| feature_error("TCP bind/connect rules", &e))?;
    }
    let mut scopes = BitFlags::<Scope>::EMPTY;
    for s in &fsp.scopes {
        scopes |= match *s {
            "abstract_unix_socket" => Scope::AbstractUnixSocket,
            "signal" => Scope::Signal,
            other => {
                return Err(Error::Internal(format!(
                    "landlock: unknown scope {other:?} in the plan"
                )));
            }
        };
    }
    if !scopes.is_empty() {
        rs = rs
            .set_compatibility(level(fsp.required.scopes))
            .scope(scopes)
            .map_err(|e| feature_error("IPC scoping", &e))?;
    }
    let mut rs = rs
        .create()
        .map_err(|e| call_error("creating the ruleset", &e))?
        .set_compatibility(CompatLevel::BestEffort);

    let trust = fsp.trust();
    for rule in &fsp.rules {
        if !rule.present {
            // Already reported by the plan (and a blocker if required).
            continue;
        }
        let opened = match open_rule(rule, &trust, fsp) {
            Ok(r) => r,
            Err(why) => {
                skip_or_fail(fsp, &rule.path, &why, &mut prepared.skipped)?;
                continue;
            }
        };
        let kind = opened.kind;
        let fd = opened.fd;
        let access = rights(&rule_rights(&rule.rights, kind))?;
        if access.is_empty() {
            continue;
        }
        rs = rs
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| call_error(&format!("adding the rule for {}", rule.path), &e))?;
        prepared.path_rules += 1;
    }

    if fsp.enforced.network {
        let mut ports: Vec<u16> = plan.network.connect_tcp.clone();
        ports.extend(&plan.network.bind_tcp);
        crate::sort::sort_dedup(&mut ports);
        for port in ports {
            let mut access = BitFlags::<AccessNet>::EMPTY;
            if plan.network.connect_tcp.contains(&port) {
                access |= AccessNet::ConnectTcp;
            }
            if plan.network.bind_tcp.contains(&port) {
                access |= AccessNet::BindTcp;
            }
            rs = rs
                .add_rule(NetPort::new(port, access))
                .map_err(|e| call_error(&format!("adding the rule for TCP port {port}"), &e))?;
            prepared.port_rules += 1;
        }
    }

    if fsp.log_denials {
        rs = rs
            .log_new_exec(true)
            .map_err(|e| call_error("enabling denial logging", &e))?;
    }
    prepared.ruleset = Some(rs);
    Ok(prepared)
}

/// Open a rule's path as planned: resolved without following a link the
/// workload could have planted, the same object the plan saw, and never
/// `/` or a system tree for a read-write rule.
fn open_rule(
    rule: &FsRule,
    trust: &Trust,
    fsp: &FilesystemPlan,
) -> std::result::Result<Resolved, String> {
    let r = safepath::open(&rule.path, trust).map_err(|e| e.cause())?;
    let inode = (r.dev, r.ino);
    if rule.inode.is_some_and(|planned| planned != inode) {
        return Err(format!(
            "{} changed between the plan and its enforcement",
            r.path
        ));
    }
    if rule.access == Access::ReadWrite
        && (fsp.never_writable.contains(&inode)
            || safepath::NEVER_WRITABLE.contains(&r.path.as_str()))
    {
        return Err(format!("{} is never writable", r.path));
    }
    Ok(r)
}

/// A rule whose path cannot be opened now: skipped with a warning under
/// best_effort, a 125 under hard_requirement.
fn skip_or_fail(
    fsp: &FilesystemPlan,
    path: &str,
    why: &str,
    skipped: &mut Vec<String>,
) -> Result<()> {
    if fsp.compatibility == Compatibility::HardRequirement {
        return Err(Error::apply(
            "landlock",
            format!("{path}: {why} (landlock.compatibility is hard_requirement)"),
        ));
    }
    let line = format!("filesystem rule for {path} skipped: {why}");
    log::warn_with(
        &line,
        vec![
            ("kind", "dropped".into()),
            ("object", "landlock".into()),
            ("path", path.into()),
            ("cause", why.into()),
        ],
    );
    skipped.push(line);
    Ok(())
}

/// Lines of `plan.dropped` that are about Landlock.
fn is_landlock_drop(d: &str) -> bool {
    d.starts_with("filesystem ") || d.starts_with("not enforced: ")
}

/// Features the policy uses that need more than `have`, up to `planned`.
fn lost_features(fsp: &FilesystemPlan, have: u32) -> Vec<String> {
    let uses_device = fsp.rules.iter().any(|r| r.access != Access::ReadOnly);
    let features: [(u32, bool, &str); 8] = [
        (1, true, "filesystem access control"),
        (2, true, "rename/link control across directories (refer)"),
        (3, true, "truncate control"),
        (4, fsp.enforced.network, "TCP bind/connect rules"),
        (5, uses_device, "ioctl control on device files"),
        (
            6,
            !fsp.scopes.is_empty(),
            "IPC scoping (abstract unix sockets, signals)",
        ),
        (7, fsp.log_denials, "denial logging"),
        (9, true, "named unix socket control (resolve_unix)"),
    ];
    features
        .iter()
        .filter(|(need, used, _)| *used && *need > have && *need <= fsp.abi)
        .map(|(need, _, what)| {
            format!(
                "not enforced: {what} (needs Landlock ABI {need}, the kernel enforces ABI {have})"
            )
        })
        .collect()
}

fn effective_abi(st: &RestrictionStatus) -> u32 {
    match st.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as u32,
        _ => 0,
    }
}

/// Step 10: enforce the ruleset on this process (no_new_privs is already
/// set) and check the kernel enforces what the plan says.
pub fn restrict(p: Prepared, plan: &Plan) -> Result<Status> {
    let fsp = &plan.filesystem;
    let mut not_enforced: Vec<String> = plan
        .dropped
        .iter()
        .filter(|d| is_landlock_drop(d))
        .cloned()
        .collect();
    not_enforced.extend(p.skipped);
    let mut status = Status {
        abi: fsp.abi,
        kernel: fsp.kernel.clone(),
        ruleset: Enforcement::NotEnforced,
        path_rules: p.path_rules,
        port_rules: p.port_rules,
        scopes: Vec::new(),
        log_denials: false,
        not_enforced,
    };
    let Some(rs) = p.ruleset else {
        // No Landlock: the plan's "filesystem not enforced" line (logged at
        // launch) says so; the status carries it for --report.
        return Ok(status);
    };
    let st = rs
        .restrict_self()
        .map_err(|e| call_error("landlock_restrict_self", &e))?;
    status.log_denials = st.log_new_exec;
    match st.ruleset {
        RulesetStatus::FullyEnforced => {
            status.ruleset = Enforcement::FullyEnforced;
        }
        RulesetStatus::PartiallyEnforced | RulesetStatus::NotEnforced => {
            // Required features were requested as hard requirements, so
            // the kernel refusing one of them already failed above. What
            // is left must be explained by a lower ABI than planned.
            let have = effective_abi(&st);
            let lost = if have == 0 {
                vec![format!(
                    "filesystem not enforced: the kernel no longer provides Landlock (planned for ABI {})",
                    fsp.abi
                )]
            } else {
                lost_features(fsp, have)
            };
            if lost.is_empty() {
                return Err(Error::apply(
                    "landlock",
                    format!(
                        "the kernel enforces the ruleset only partially (ABI {have}, planned {})",
                        fsp.abi
                    ),
                ));
            }
            for l in &lost {
                log::warn_with(
                    l,
                    vec![
                        ("kind", "not_enforced".into()),
                        ("object", "landlock".into()),
                        ("abi", have.into()),
                        ("planned_abi", fsp.abi.into()),
                    ],
                );
            }
            status.not_enforced.extend(lost);
            status.ruleset = if st.ruleset == RulesetStatus::NotEnforced {
                Enforcement::NotEnforced
            } else {
                Enforcement::PartiallyEnforced
            };
        }
    }
    if status.ruleset != Enforcement::NotEnforced {
        status.scopes = fsp.scopes.clone();
    }
    if fsp.log_denials && !status.log_denials {
        let l =
            "not enforced: denial logging (the kernel did not accept the audit flag)".to_string();
        log::warn_with(
            &l,
            vec![
                ("kind", "not_enforced".into()),
                ("object", "landlock".into()),
            ],
        );
        status.not_enforced.push(l);
    }
    log::info_with(&summary(&status), summary_fields(&status));
    Ok(status)
}

/// One line for the log: what Landlock enforces.
fn summary(s: &Status) -> String {
    let how = match s.ruleset {
        Enforcement::FullyEnforced => "fully enforced",
        Enforcement::PartiallyEnforced => "partially enforced",
        Enforcement::NotEnforced => "not enforced",
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut line = format!(
        "landlock: {how} (ABI {}): {} path rule{}, {} TCP port rule{}",
        s.abi,
        s.path_rules,
        plural(s.path_rules),
        s.port_rules,
        plural(s.port_rules)
    );
    if !s.scopes.is_empty() {
        line.push_str(&format!(", scoped: {}", s.scopes.join(", ")));
    }
    if s.log_denials {
        line.push_str(", denials logged");
    }
    line
}

/// The figures [`summary`] quotes, for a JSON log line.
fn summary_fields(s: &Status) -> log::Fields {
    vec![
        ("object", "landlock".into()),
        (
            "ruleset",
            serde_json::to_value(s.ruleset).unwrap_or_default(),
        ),
        ("abi", s.abi.into()),
        ("path_rules", s.path_rules.into()),
        ("port_rules", s.port_rules.into()),
        ("scopes", s.scopes.clone().into()),
        ("log_denials", s.log_denials.into()),
        ("not_enforced", s.not_enforced.len().into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use landlock::{ABI, Access as _};

    fn abi(n: u32) -> ABI {
        ABI::from(i32::try_from(n).unwrap())
    }

    #[test]
    fn plan_rights_match_the_crate_for_every_abi() {
        for n in 1..=plan::LANDLOCK_ABI_KNOWN {
            let handled = rights(&plan::handled_rights(n)).unwrap();
            assert_eq!(handled, AccessFs::from_all(abi(n)), "handled, ABI {n}");
            let rw_dir = plan::fs_rights(n, Access::ReadWrite, PathKind::Directory, true);
            assert_eq!(
                rights(&rw_dir).unwrap(),
                AccessFs::from_all(abi(n)),
                "rw dir, ABI {n}"
            );
            let rw_file = plan::fs_rights(n, Access::ReadWrite, PathKind::File, true);
            assert_eq!(
                rights(&rw_file).unwrap(),
                AccessFs::from_file(abi(n)),
                "rw file, ABI {n}"
            );
            let ro = plan::fs_rights(n, Access::ReadOnly, PathKind::Directory, true);
            assert_eq!(
                rights(&ro).unwrap(),
                AccessFs::from_read(abi(n)),
                "ro, ABI {n}"
            );
        }
    }

    #[test]
    fn non_directories_get_file_rights_only() {
        let rw_dir = plan::fs_rights(7, Access::ReadWrite, PathKind::Directory, true);
        for kind in [
            PathKind::File,
            PathKind::CharDevice,
            PathKind::Socket,
            PathKind::Fifo,
        ] {
            assert_eq!(
                rule_rights(&rw_dir, kind),
                [
                    "execute",
                    "write_file",
                    "read_file",
                    "truncate",
                    "ioctl_dev"
                ],
                "{kind:?}"
            );
        }
        assert_eq!(rule_rights(&rw_dir, PathKind::Directory), rw_dir);
    }

    #[test]
    fn unknown_right_is_an_internal_error() {
        let e = rights(&["read_file", "fly"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "internal error: landlock: unknown filesystem right \"fly\" in the plan"
        );
    }

    fn fs_plan(abi: u32) -> FilesystemPlan {
        let all = crate::plan::LandlockFeatures {
            filesystem: true,
            truncate: true,
            ioctl_dev: true,
            network: true,
            scopes: true,
            audit: true,
            unix_sockets: true,
        };
        FilesystemPlan {
            compatibility: Compatibility::BestEffort,
            kernel: LandlockSupport::Available { abi },
            abi,
            required: all.clone(),
            enforced: all,
            handled: plan::handled_rights(abi),
            rules: Vec::new(),
            scopes: vec!["signal"],
            log_denials: true,
            never_writable: Vec::new(),
            workload_uid: 1500,
        }
    }

    #[test]
    fn a_lower_abi_than_planned_is_explained_in_words() {
        assert_eq!(
            lost_features(&fs_plan(7), 5),
            [
                "not enforced: IPC scoping (abstract unix sockets, signals) (needs Landlock ABI 6, the kernel enforces ABI 5)",
                "not enforced: denial logging (needs Landlock ABI 7, the kernel enforces ABI 5)",
            ]
        );
        assert!(lost_features(&fs_plan(7), 7).is_empty());
    }

    #[test]
    fn summary_says_what_is_enforced() {
        let s = Status {
            abi: 7,
            kernel: LandlockSupport::Available { abi: 7 },
            ruleset: Enforcement::FullyEnforced,
            path_rules: 9,
            port_rules: 1,
            scopes: vec!["abstract_unix_socket", "signal"],
            log_denials: true,
            not_enforced: Vec::new(),
        };
        assert_eq!(
            summary(&s),
            "landlock: fully enforced (ABI 7): 9 path rules, 1 TCP port rule, scoped: abstract_unix_socket, signal, denials logged"
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["ruleset"], "fully_enforced");
        assert_eq!(v["kernel"]["status"], "available");
    }
}
