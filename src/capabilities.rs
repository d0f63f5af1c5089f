//! Capability sets, securebits and no_new_privs.
//!
//! The workload keeps exactly `capabilities.keep`: in the bounding,
//! inheritable, permitted and effective sets, and raised as ambient so a
//! non-root workload still holds them after execve. Everything else is
//! dropped from every set.
//!
//! What the plan can promise depends on what the supervisor holds, probed
//! by `resolve` ([`CapState`]):
//!
//! - Clearing the bounding set and setting securebits need CAP_SETPCAP.
//!   Started as root without it, a bounding set that still holds more than
//!   `keep` is a blocker (the Kubernetes fix is
//!   `securityContext.capabilities.add: [SETPCAP]`); a bounding set that is
//!   already minimal is left as it is, and securebits are then not set.
//! - Started unprivileged (runAsNonRoot, rootless) the supervisor usually
//!   holds no capabilities at all: the bounding set is left as inherited
//!   and no securebits are set. `no_new_privs` is the protection there: with
//!   it, execve never grants capabilities (setuid bits and file
//!   capabilities are ignored), so a non-root process with empty permitted,
//!   inheritable and ambient sets cannot gain any.
//!
//! The plan lists the resulting bounding set and securebits, and the
//! read-back before exec checks them.

use serde::Serialize;

use crate::error::{Error, Finding, Result};
use crate::policy::caps;
use crate::policy::model::Policy;
use crate::policy::validate::{self, CAPABILITIES};

pub const CAP_KILL: u32 = 5;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_MKNOD: u32 = 27;

/// Securebits by name, in the kernel's bit order (`linux/securebits.h`).
const SECUREBITS: [(&str, u32); 8] = [
    ("noroot", 1 << 0),
    ("noroot_locked", 1 << 1),
    ("no_setuid_fixup", 1 << 2),
    ("no_setuid_fixup_locked", 1 << 3),
    ("keep_caps", 1 << 4),
    ("keep_caps_locked", 1 << 5),
    ("no_cap_ambient_raise", 1 << 6),
    ("no_cap_ambient_raise_locked", 1 << 7),
];

/// The capabilities the supervisor holds when it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CapState {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
}

pub fn bit(cap: u32) -> u64 {
    1u64 << cap
}

/// `CAP_A, CAP_B` for the capabilities in `mask`.
pub fn names(mask: u64) -> String {
    CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, n)| format!("CAP_{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The securebits value for the plan's list of names.
pub fn securebits_value(list: &[&str]) -> u32 {
    SECUREBITS
        .iter()
        .filter(|(n, _)| list.contains(n))
        .fold(0, |v, (_, b)| v | b)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapabilityPlan {
    /// Kept in bounding, inheritable, permitted and raised as ambient.
    pub keep: Vec<String>,
    /// Bit mask of `keep` (`/proc/self/status` CapInh/CapPrm/CapEff/CapAmb
    /// must equal it).
    pub mask: u64,
    /// The bounding set after apply (CapBnd): `mask`, or the inherited set
    /// when it cannot or need not be cleared (see `capabilities`).
    pub bounding: u64,
    /// Securebits set and locked (none when CAP_SETPCAP is not held).
    pub securebits: Vec<&'static str>,
    pub no_new_privs: bool,
    /// Kept capabilities that get around a rule of the sandbox, each with
    /// what it lets the workload do (the policy acknowledged them under
    /// `capabilities.bypass_acknowledged`; also listed under `dropped`).
    pub acknowledged_bypasses: Vec<String>,
    /// The bounding set the supervisor held when the plan was made (read
    /// once, in resolve; apply runs in the same process or its fork, and
    /// the read-back checks the result). Not part of the plan's output.
    #[serde(skip)]
    pub held_bounding: u64,
}

/// The capability part of the plan, with its findings.
pub struct Planned {
    pub plan: CapabilityPlan,
    pub blockers: Vec<Finding>,
    /// One "not enforced" line per acknowledged bypass.
    pub dropped: Vec<Finding>,
}

/// Plan the capabilities for `policy`: `capabilities.keep` as sorted,
/// deduplicated `CAP_` names (unknown names left out: validation reports
/// them) and their mask, decided by [`decide`] against `seccomp.allow`.
/// `switch` and `held` as there. Pure.
pub fn plan(policy: &Policy, switch: bool, held: &CapState) -> Planned {
    let keep: Vec<String> = policy
        .capabilities
        .as_ref()
        .map(|c| {
            let mut k: Vec<String> = c
                .keep
                .iter()
                .filter_map(|n| validate::capability_index(n).map(|i| CAPABILITIES[i]))
                .map(|n| format!("CAP_{n}"))
                .collect();
            crate::sort::sort_dedup(&mut k);
            k
        })
        .unwrap_or_default();
    let mask = keep
        .iter()
        .filter_map(|n| validate::capability_index(n))
        .fold(0u64, |m, i| m | (1u64 << i));
    let allow = policy
        .seccomp
        .as_ref()
        .map_or(&[][..], |s| s.allow.as_slice());
    let (plan, blockers) = decide(keep, mask, allow, switch, held);
    let dropped = plan
        .acknowledged_bypasses
        .iter()
        .map(|b| {
            Finding::new(
                "not enforced",
                format!("kept capability {b} (capabilities.bypass_acknowledged)"),
            )
        })
        .collect();
    Planned {
        plan,
        blockers,
        dropped,
    }
}

/// Decide the capability part of the plan from the kept names and their
/// mask. Pure. Returns the plan and the blockers.
///
/// `allow` is the policy's `seccomp.allow`: it decides whether a kept
/// capability whose calls seccomp refuses is a bypass (`policy::caps`).
/// Validation has already refused unacknowledged bypasses; the plan lists
/// the kept ones with what each lets the workload do. `switch`: the
/// supervisor switches to the workload's identity (it started as root).
pub fn decide(
    keep: Vec<String>,
    mask: u64,
    allow: &[String],
    switch: bool,
    held: &CapState,
) -> (CapabilityPlan, Vec<Finding>) {
    let mut blockers = Vec::new();
    let missing = mask & !(held.permitted & held.bounding);
    if missing != 0 {
        let it = if missing.count_ones() > 1 {
            "them"
        } else {
            "it"
        };
        let hint = if switch {
            let bare: Vec<String> = names(missing)
                .split(", ")
                .map(|n| n.trim_start_matches("CAP_").to_string())
                .collect();
            format!(
                "grant {it} to the container, e.g. Kubernetes securityContext.capabilities.add: [{}]",
                bare.join(", ")
            )
        } else {
            "a supervisor started unprivileged holds no capabilities to pass on; start it as root and set the workload identity in the policy".to_string()
        };
        blockers.push(
            Finding::new(
                "capabilities",
                format!(
                    "cannot keep {}: the supervisor does not hold {it}",
                    names(missing)
                ),
            )
            .with_hint(hint),
        );
    }
    let mut acknowledged_bypasses = Vec::new();
    for (i, rule) in caps::TABLE.iter().enumerate() {
        if mask & (1u64 << i) == 0 {
            continue;
        }
        match caps::tier(i, allow) {
            // Validation refuses these; kept here so that no other path
            // to a plan can keep one.
            Some(caps::Tier::Refused) => blockers.push(Finding::new(
                "capabilities",
                format!("CAP_{} cannot be kept: {}", rule.name, rule.reason),
            )),
            Some(caps::Tier::Bypass) => acknowledged_bypasses.push(format!(
                "CAP_{}: {}",
                rule.name,
                caps::bypass_reason(i, allow).unwrap_or_default()
            )),
            _ => {}
        }
    }
    let setpcap = held.effective & bit(CAP_SETPCAP) != 0;
    let bounding = if held.bounding & !mask == 0 {
        held.bounding // already minimal: nothing to drop
    } else if setpcap {
        mask
    } else if switch {
        blockers.push(
            Finding::new(
                "capabilities",
                "cannot clear the bounding set: the supervisor lacks CAP_SETPCAP",
            )
            .with_hint("add it to the container, e.g. Kubernetes securityContext.capabilities.add: [SETPCAP] (it is dropped before the workload starts)"),
        );
        mask
    } else {
        held.bounding // unprivileged: moot under no_new_privs (module docs)
    };
    let mut securebits = Vec::new();
    if setpcap {
        securebits.extend([
            "noroot",
            "noroot_locked",
            "no_setuid_fixup",
            "no_setuid_fixup_locked",
            "keep_caps_locked",
        ]);
        if mask == 0 {
            securebits.extend(["no_cap_ambient_raise", "no_cap_ambient_raise_locked"]);
        }
    }
    (
        CapabilityPlan {
            keep,
            mask,
            bounding,
            securebits,
            no_new_privs: true,
            acknowledged_bypasses,
            held_bounding: held.bounding,
        },
        blockers,
    )
}

/// `EPERM`, `EINVAL`, ... for the errnos these calls return.
pub fn errno_name(e: i32) -> String {
    match e {
        libc::EPERM => "EPERM".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EACCES => "EACCES".into(),
        libc::ENOSYS => "ENOSYS".into(),
        libc::EFAULT => "EFAULT".into(),
        libc::EAGAIN => "EAGAIN".into(),
        libc::ESRCH => "ESRCH".into(),
        libc::EBADF => "EBADF".into(),
        libc::ENOMEM => "ENOMEM".into(),
        other => format!("errno {other}"),
    }
}

/// The effective, permitted and inheritable sets of this thread (all 64
/// bits: a read-back must see what the crate does not know).
fn capget() -> Result<(u64, u64, u64)> {
    crate::sys::capget()
        .map_err(|e| Error::apply("capabilities", format!("capget failed: {}", errno_name(e))))
}

/// Set the effective, permitted and inheritable sets of this thread, in
/// one `capset`; every caller only lowers permitted, and keeps effective
/// and inheritable within it.
fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    crate::sys::capset(effective, permitted, inheritable)
        .map_err(|e| Error::apply("capabilities", format!("capset failed: {}", errno_name(e))))
}

/// The bounding set: PR_CAPBSET_READ of each capability up to the last
/// one the kernel knows (the first that answers EINVAL ends it).
fn bounding() -> u64 {
    (0..64)
        .map_while(|c| crate::sys::capbset_read(c).ok().map(|held| (c, held)))
        .filter(|(_, held)| *held)
        .fold(0, |m, (c, _)| m | bit(c))
}

fn keepcaps(on: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(on).map_err(|e| {
        Error::apply(
            "capabilities",
            format!("PR_SET_KEEPCAPS failed: {}", errno_name(e as i32)),
        )
    })
}

/// What this process holds now (for `resolve`); zeros when unreadable,
/// which the plan treats as "holds nothing".
pub fn current() -> CapState {
    let (effective, permitted, inheritable) = capget().unwrap_or((0, 0, 0));
    CapState {
        effective,
        permitted,
        inheritable,
        bounding: bounding(),
    }
}

/// Before the identity switch: keep only what the switch and the later
/// steps need — `keep`, CAP_SETPCAP when held (bounding set, securebits),
/// CAP_SETUID/CAP_SETGID for the switch itself — and make permitted
/// survive setresuid (PR_SET_KEEPCAPS).
pub fn prepare_switch(mask: u64) -> Result<()> {
    let (_, prm, inh) = capget()?;
    let need = prm & (mask | bit(CAP_SETPCAP) | bit(CAP_SETUID) | bit(CAP_SETGID));
    capset(need, need, inh & mask)?;
    keepcaps(true)
}

/// After the identity switch: turn PR_SET_KEEPCAPS off again, drop
/// CAP_SETUID/CAP_SETGID (unless kept) and re-raise the effective set
/// setresuid cleared.
pub fn finish_switch(mask: u64) -> Result<()> {
    keepcaps(false)?;
    let (_, prm, inh) = capget()?;
    let need = prm & (mask | bit(CAP_SETPCAP));
    capset(need, need, inh & mask)
}

/// Step 8: the bounding set, securebits (locked), then inheritable,
/// permitted and effective = `keep`, then ambient = `keep`.
/// Empty the ambient set; `object` names who asked, for the error.
fn clear_ambient(object: &str) -> Result<()> {
    crate::sys::ambient_clear().map_err(|e| {
        Error::apply(
            object,
            format!("clearing the ambient set failed: {}", errno_name(e)),
        )
    })
}

pub fn apply(c: &CapabilityPlan) -> Result<()> {
    let bnd = match c.held_bounding {
        0 => bounding(),
        held => held,
    };
    for cap in 0..64u32 {
        if bnd & bit(cap) != 0 && c.bounding & bit(cap) == 0 {
            crate::sys::capbset_drop(cap).map_err(|e| {
                let err = Error::apply(
                    "capabilities",
                    format!("dropping {} from the bounding set failed: {}", names(bit(cap)), errno_name(e)),
                );
                if e == libc::EPERM {
                    err.with_hint("add it to the container, e.g. Kubernetes securityContext.capabilities.add: [SETPCAP] (it is dropped before the workload starts)")
                } else {
                    err
                }
            })?;
        }
    }
    if !c.securebits.is_empty() {
        let v = securebits_value(&c.securebits);
        crate::sys::set_securebits(v).map_err(|e| {
            Error::apply(
                "capabilities",
                format!("PR_SET_SECUREBITS({v:#x}) failed: {}", errno_name(e)),
            )
        })?;
    }
    capset(c.mask, c.mask, c.mask)?;
    clear_ambient("capabilities")?;
    for cap in (0..64).filter(|&cap| c.mask & bit(cap) != 0) {
        crate::sys::ambient_raise(cap).map_err(|e| {
            Error::apply(
                "capabilities",
                format!(
                    "raising {} as ambient failed: {}",
                    names(bit(cap)),
                    errno_name(e)
                ),
            )
        })?;
    }
    Ok(())
}

/// The current securebits (for the read-back).
pub fn securebits() -> Result<u32> {
    crate::sys::securebits().map_err(|e| {
        Error::apply(
            "capabilities",
            format!("PR_GET_SECUREBITS failed: {}", errno_name(e)),
        )
    })
}

/// Step 9: set no_new_privs and check that the kernel reports it.
pub fn set_no_new_privs() -> Result<()> {
    use nix::sys::prctl::{get_no_new_privs, set_no_new_privs};
    set_no_new_privs().map_err(|e| {
        Error::apply(
            "no_new_privs",
            format!("PR_SET_NO_NEW_PRIVS failed: {}", errno_name(e as i32)),
        )
    })?;
    match get_no_new_privs() {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::apply(
            "no_new_privs",
            "the kernel reports 0 after PR_SET_NO_NEW_PRIVS",
        )),
        Err(e) => Err(Error::apply(
            "no_new_privs",
            format!("PR_GET_NO_NEW_PRIVS failed: {}", errno_name(e as i32)),
        )),
    }
}

/// The PID-1 parent keeps `mask` (CAP_KILL, to signal a workload that
/// runs as another user) and nothing else: bounding (when CAP_SETPCAP
/// allows it), inheritable, ambient, permitted, effective. Returns what it
/// kept, checked with capget.
pub fn keep_only(mask: u64) -> Result<u64> {
    let (eff, prm, _) = capget()?;
    if eff & bit(CAP_SETPCAP) != 0 {
        let bnd = bounding();
        for cap in 0..64u32 {
            if bnd & bit(cap) != 0 && mask & bit(cap) == 0 {
                crate::sys::capbset_drop(cap).map_err(|e| {
                    Error::apply(
                        "init",
                        format!(
                            "dropping {} from the bounding set failed: {}",
                            names(bit(cap)),
                            errno_name(e)
                        ),
                    )
                })?;
            }
        }
    }
    let kept = prm & mask;
    capset(kept, kept, 0)?;
    clear_ambient("init")?;
    let (e2, p2, i2) = capget()?;
    if (e2, p2, i2) != (kept, kept, 0) {
        return Err(Error::apply(
            "init",
            format!("capabilities are {e2:#x}/{p2:#x}/{i2:#x} after dropping, expected {kept:#x}"),
        ));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(b: &[Finding]) -> Vec<String> {
        b.iter().map(Finding::text).collect()
    }

    const ALL: u64 = (1 << 41) - 1;
    const ROOT: CapState = CapState {
        effective: ALL,
        permitted: ALL,
        inheritable: 0,
        bounding: ALL,
    };
    const NBS: u64 = 1 << 10;

    #[test]
    fn root_with_setpcap_clears_bounding_and_locks_securebits() {
        let (p, b) = decide(vec![], 0, &[], true, &ROOT);
        assert!(b.is_empty(), "{b:?}");
        assert_eq!(p.bounding, 0);
        assert_eq!(securebits_value(&p.securebits), 0xef);
        let (p, b) = decide(vec!["CAP_NET_BIND_SERVICE".into()], NBS, &[], true, &ROOT);
        assert!(b.is_empty(), "{b:?}");
        assert_eq!(p.bounding, NBS);
        // keep_caps off but locked; ambient raise allowed (something is kept)
        assert_eq!(securebits_value(&p.securebits), 0x2f);
    }

    #[test]
    fn root_without_setpcap_blocks_unless_bounding_is_minimal() {
        let held = CapState {
            effective: ALL & !bit(CAP_SETPCAP),
            permitted: ALL & !bit(CAP_SETPCAP),
            inheritable: 0,
            bounding: ALL & !bit(CAP_SETPCAP),
        };
        let (_, b) = decide(vec![], 0, &[], true, &held);
        assert_eq!(
            texts(&b),
            [
                "capabilities: cannot clear the bounding set: the supervisor lacks CAP_SETPCAP\nhint: add it to the container, e.g. Kubernetes securityContext.capabilities.add: [SETPCAP] (it is dropped before the workload starts)"
            ]
        );
        let minimal = CapState {
            bounding: NBS,
            ..held
        };
        let (p, b) = decide(
            vec!["CAP_NET_BIND_SERVICE".into()],
            NBS,
            &[],
            true,
            &minimal,
        );
        assert!(b.is_empty(), "{b:?}");
        assert_eq!((p.bounding, p.securebits.len()), (NBS, 0));
    }

    #[test]
    fn unprivileged_start_leaves_bounding_and_sets_no_securebits() {
        let held = CapState {
            bounding: ALL,
            ..CapState::default()
        };
        let (p, b) = decide(vec![], 0, &[], false, &held);
        assert!(b.is_empty(), "{b:?}");
        assert_eq!(
            (p.bounding, p.securebits.len(), p.no_new_privs),
            (ALL, 0, true)
        );
        let (_, b) = decide(vec!["CAP_NET_BIND_SERVICE".into()], NBS, &[], false, &held);
        assert_eq!(b.len(), 1);
        assert!(b[0].text().starts_with("capabilities: cannot keep CAP_NET_BIND_SERVICE: the supervisor does not hold it\nhint: a supervisor started unprivileged"), "{}", b[0]);
    }

    #[test]
    fn keeping_what_is_not_held_or_setuid_blocks() {
        let held = CapState {
            permitted: ALL & !NBS,
            ..ROOT
        };
        let (_, b) = decide(vec!["CAP_NET_BIND_SERVICE".into()], NBS, &[], true, &held);
        assert_eq!(
            texts(&b),
            [
                "capabilities: cannot keep CAP_NET_BIND_SERVICE: the supervisor does not hold it\nhint: grant it to the container, e.g. Kubernetes securityContext.capabilities.add: [NET_BIND_SERVICE]"
            ]
        );
        let (_, b) = decide(vec!["CAP_SETUID".into()], bit(CAP_SETUID), &[], true, &ROOT);
        assert_eq!(
            texts(&b),
            ["capabilities: CAP_SETUID cannot be kept: setresuid(0) makes the workload root again"]
        );
        let (_, b) = decide(vec!["CAP_SETGID".into()], bit(CAP_SETGID), &[], true, &ROOT);
        assert_eq!(
            texts(&b),
            [
                "capabilities: CAP_SETGID cannot be kept: setresgid(0)/setgroups([0]) give the workload root's group and every root-group file"
            ]
        );
    }

    #[test]
    fn kept_bypasses_are_listed_with_what_they_allow() {
        const DAC_OVERRIDE: u64 = 1 << 1;
        let (p, b) = decide(
            vec!["CAP_DAC_OVERRIDE".into()],
            DAC_OVERRIDE,
            &[],
            true,
            &ROOT,
        );
        assert!(b.is_empty(), "{b:?}");
        assert_eq!(
            p.acknowledged_bypasses,
            [
                "CAP_DAC_OVERRIDE: reads and writes files inside the granted trees whatever their mode (e.g. /etc/shadow under a read_only /etc)"
            ]
        );
        // A capability whose calls seccomp refuses is listed only when
        // seccomp.allow gives one of them back.
        const BPF: u64 = 1 << 39;
        let (p, _) = decide(vec!["CAP_BPF".into()], BPF, &[], true, &ROOT);
        assert!(p.acknowledged_bypasses.is_empty());
        let (p, _) = decide(vec!["CAP_BPF".into()], BPF, &["bpf".into()], true, &ROOT);
        assert_eq!(p.acknowledged_bypasses.len(), 1);
    }

    #[test]
    fn names_lists_capabilities() {
        assert_eq!(names(bit(CAP_KILL) | NBS), "CAP_KILL, CAP_NET_BIND_SERVICE");
    }
}
