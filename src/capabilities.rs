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
use crate::policy::validate::CAPABILITIES;

pub const CAP_KILL: u32 = 5;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;

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
}

/// Decide the capability part of the plan. Pure. Returns the plan and the
/// blockers.
///
/// `allow` is the policy's `seccomp.allow`: it decides whether a kept
/// capability whose calls seccomp refuses is a bypass (`policy::caps`).
/// Validation has already refused unacknowledged bypasses; the plan lists
/// the kept ones with what each lets the workload do. `switch`: the
/// supervisor switches to the workload's identity (it started as root).
pub fn plan(
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
        },
        blockers,
    )
}

fn errno_cause(what: &str) -> String {
    let e = std::io::Error::last_os_error();
    format!(
        "{what} failed: {}",
        errno_name(e.raw_os_error().unwrap_or(0))
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

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

fn split(v: u64) -> (u32, u32) {
    // Truncation is the point: the kernel takes the sets as two u32 words.
    #[allow(clippy::cast_possible_truncation)]
    ((v & 0xffff_ffff) as u32, (v >> 32) as u32)
}

/// The effective, permitted and inheritable sets of this thread.
#[allow(unsafe_code)]
fn capget() -> Result<(u64, u64, u64)> {
    let mut h = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: `h` is a valid version-3 header and `d` has the two data
    // elements version 3 requires; the kernel writes only into `d`.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut CapHeader, d.as_mut_ptr()) };
    if r != 0 {
        return Err(Error::apply("capabilities", errno_cause("capget")));
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(d[0].effective, d[1].effective),
        join(d[0].permitted, d[1].permitted),
        join(d[0].inheritable, d[1].inheritable),
    ))
}

/// Set the effective, permitted and inheritable sets of this thread.
#[allow(unsafe_code)]
fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    let mut h = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let (e0, e1) = split(effective);
    let (p0, p1) = split(permitted);
    let (i0, i1) = split(inheritable);
    let d = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: `h` is a valid version-3 header and `d` holds the two data
    // elements version 3 requires; the kernel only reads them.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr()) };
    if r != 0 {
        return Err(Error::apply("capabilities", errno_cause("capset")));
    }
    Ok(())
}

/// prctl with integer arguments; returns the result or the errno.
#[allow(unsafe_code)]
fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> std::result::Result<i32, i32> {
    // SAFETY: every option used here (PR_CAPBSET_*, PR_CAP_AMBIENT,
    // PR_*_SECUREBITS, PR_*_KEEPCAPS, PR_*_NO_NEW_PRIVS) takes plain integer
    // arguments and reads or writes no user memory.
    let r = unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

/// The bounding set, read with PR_CAPBSET_READ up to the last capability
/// the kernel knows.
fn bounding() -> u64 {
    (0..64u32)
        .map_while(|c| {
            prctl(libc::PR_CAPBSET_READ, c.into(), 0)
                .ok()
                .map(|r| (c, r))
        })
        .filter(|(_, r)| *r == 1)
        .fold(0, |m, (c, _)| m | bit(c))
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
    prctl(libc::PR_SET_KEEPCAPS, 1, 0).map_err(|e| {
        Error::apply(
            "capabilities",
            format!("PR_SET_KEEPCAPS failed: {}", errno_name(e)),
        )
    })?;
    Ok(())
}

/// After the identity switch: turn PR_SET_KEEPCAPS off again, drop
/// CAP_SETUID/CAP_SETGID (unless kept) and re-raise the effective set
/// setresuid cleared.
pub fn finish_switch(mask: u64) -> Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, 0, 0).map_err(|e| {
        Error::apply(
            "capabilities",
            format!("PR_SET_KEEPCAPS failed: {}", errno_name(e)),
        )
    })?;
    let (_, prm, inh) = capget()?;
    let need = prm & (mask | bit(CAP_SETPCAP));
    capset(need, need, inh & mask)
}

/// Step 8: the bounding set, securebits (locked), then inheritable,
/// permitted and effective = `keep`, then ambient = `keep`.
/// Empty the ambient set; `object` names who asked, for the error.
fn clear_ambient(object: &str) -> Result<()> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    )
    .map(|_| ())
    .map_err(|e| {
        Error::apply(
            object,
            format!("clearing the ambient set failed: {}", errno_name(e)),
        )
    })
}

pub fn apply(c: &CapabilityPlan) -> Result<()> {
    let bnd = bounding();
    for cap in 0..64u32 {
        if bnd & bit(cap) != 0 && c.bounding & bit(cap) == 0 {
            prctl(libc::PR_CAPBSET_DROP, cap.into(), 0).map_err(|e| {
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
        prctl(libc::PR_SET_SECUREBITS, v.into(), 0).map_err(|e| {
            Error::apply(
                "capabilities",
                format!("PR_SET_SECUREBITS({v:#x}) failed: {}", errno_name(e)),
            )
        })?;
    }
    capset(c.mask, c.mask, c.mask)?;
    clear_ambient("capabilities")?;
    for cap in 0..64u32 {
        if c.mask & bit(cap) != 0 {
            prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap.into(),
            )
            .map_err(|e| {
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
    }
    Ok(())
}

/// The current securebits (for the read-back).
pub fn securebits() -> Result<u32> {
    prctl(libc::PR_GET_SECUREBITS, 0, 0)
        .map(|v| u32::try_from(v).unwrap_or(0))
        .map_err(|e| {
            Error::apply(
                "capabilities",
                format!("PR_GET_SECUREBITS failed: {}", errno_name(e)),
            )
        })
}

/// Step 9: set no_new_privs and check that the kernel reports it.
pub fn set_no_new_privs() -> Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map_err(|e| {
        Error::apply(
            "no_new_privs",
            format!("PR_SET_NO_NEW_PRIVS failed: {}", errno_name(e)),
        )
    })?;
    match prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0) {
        Ok(1) => Ok(()),
        Ok(v) => Err(Error::apply(
            "no_new_privs",
            format!("the kernel reports {v} after PR_SET_NO_NEW_PRIVS"),
        )),
        Err(e) => Err(Error::apply(
            "no_new_privs",
            format!("PR_GET_NO_NEW_PRIVS failed: {}", errno_name(e)),
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
                prctl(libc::PR_CAPBSET_DROP, cap.into(), 0).map_err(|e| {
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
        let (p, b) = plan(vec![], 0, &[], true, &ROOT);
        assert!(b.is_empty(), "{b:?}");
        assert_eq!(p.bounding, 0);
        assert_eq!(securebits_value(&p.securebits), 0xef);
        let (p, b) = plan(vec!["CAP_NET_BIND_SERVICE".into()], NBS, &[], true, &ROOT);
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
        let (_, b) = plan(vec![], 0, &[], true, &held);
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
        let (p, b) = plan(
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
        let (p, b) = plan(vec![], 0, &[], false, &held);
        assert!(b.is_empty(), "{b:?}");
        assert_eq!(
            (p.bounding, p.securebits.len(), p.no_new_privs),
            (ALL, 0, true)
        );
        let (_, b) = plan(vec!["CAP_NET_BIND_SERVICE".into()], NBS, &[], false, &held);
        assert_eq!(b.len(), 1);
        assert!(b[0].text().starts_with("capabilities: cannot keep CAP_NET_BIND_SERVICE: the supervisor does not hold it\nhint: a supervisor started unprivileged"), "{}", b[0]);
    }

    #[test]
    fn keeping_what_is_not_held_or_setuid_blocks() {
        let held = CapState {
            permitted: ALL & !NBS,
            ..ROOT
        };
        let (_, b) = plan(vec!["CAP_NET_BIND_SERVICE".into()], NBS, &[], true, &held);
        assert_eq!(
            texts(&b),
            [
                "capabilities: cannot keep CAP_NET_BIND_SERVICE: the supervisor does not hold it\nhint: grant it to the container, e.g. Kubernetes securityContext.capabilities.add: [NET_BIND_SERVICE]"
            ]
        );
        let (_, b) = plan(vec!["CAP_SETUID".into()], bit(CAP_SETUID), &[], true, &ROOT);
        assert_eq!(
            texts(&b),
            ["capabilities: CAP_SETUID cannot be kept: setresuid(0) makes the workload root again"]
        );
        let (_, b) = plan(vec!["CAP_SETGID".into()], bit(CAP_SETGID), &[], true, &ROOT);
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
        let (p, b) = plan(
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
        let (p, _) = plan(vec!["CAP_BPF".into()], BPF, &[], true, &ROOT);
        assert!(p.acknowledged_bypasses.is_empty());
        let (p, _) = plan(vec!["CAP_BPF".into()], BPF, &["bpf".into()], true, &ROOT);
        assert_eq!(p.acknowledged_bypasses.len(), 1);
    }

    #[test]
    fn names_lists_capabilities() {
        assert_eq!(names(bit(CAP_KILL) | NBS), "CAP_KILL, CAP_NET_BIND_SERVICE");
    }
}
