//! What keeping each capability gives the workload, as data: every
//! capability the kernel knows has a [`Tier`] and a one-line reason.
//!
//! - [`Tier::Refused`]: gives back root's identity or capabilities
//!   (uid/gid 0, any capability, file capabilities). `capabilities.keep`
//!   naming one is a policy error; no policy can accept it.
//! - [`Tier::Bypass`]: lets the workload get around a rule the sandbox
//!   enforces (Landlock confines paths, not file modes or owners; seccomp
//!   cannot see inside the calls it allows) or act on the node beyond the
//!   sandbox. Keeping one is a policy error unless the policy also lists it
//!   under `capabilities.bypass_acknowledged`; the plan then says what it
//!   lets the workload do.
//! - [`Tier::Allowed`]: harmless here, or every call that would use it is
//!   refused by the default seccomp filter. For the latter `reopened_by`
//!   names those calls: a `seccomp.allow` of any of them turns the
//!   capability into a bypass that needs the acknowledgement too.

/// How keeping a capability is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Refused,
    Bypass,
    Allowed,
}

/// One row of [`TABLE`].
#[derive(Clone, Copy, Debug)]
pub struct CapRule {
    /// The name without `CAP_`, as in `validate::CAPABILITIES`.
    pub name: &'static str,
    pub tier: Tier,
    /// What keeping it lets the workload do (for `Allowed`: why that is
    /// harmless here).
    pub reason: &'static str,
    /// Syscalls the default seccomp filter refuses that are the only use of
    /// an `Allowed` capability; allowing one makes it a bypass.
    pub reopened_by: &'static [&'static str],
}

const fn row(name: &'static str, tier: Tier, reason: &'static str) -> CapRule {
    CapRule {
        name,
        tier,
        reason,
        reopened_by: &[],
    }
}

const fn moot(
    name: &'static str,
    reason: &'static str,
    reopened_by: &'static [&'static str],
) -> CapRule {
    CapRule {
        name,
        tier: Tier::Allowed,
        reason,
        reopened_by,
    }
}

use Tier::{Allowed, Bypass, Refused};

/// Every capability, indexed by its number (0..=40).
pub const TABLE: [CapRule; 41] = [
    row(
        "CHOWN",
        Bypass,
        "changes the owner of any file it can name; Landlock does not check chown",
    ),
    row(
        "DAC_OVERRIDE",
        Bypass,
        "reads and writes files inside the granted trees whatever their mode (e.g. /etc/shadow under a read_only /etc)",
    ),
    row(
        "DAC_READ_SEARCH",
        Bypass,
        "reads files and lists directories inside the granted trees whatever their mode (e.g. /etc/shadow under a read_only /etc)",
    ),
    row(
        "FOWNER",
        Bypass,
        "changes the mode, times and extended attributes of any file it can name (chmod is not checked by Landlock), e.g. sets the setuid bit on a root-owned file for processes outside",
    ),
    row(
        "FSETID",
        Bypass,
        "keeps setuid/setgid bits on files it changes and sets the setgid bit for groups it is not in: set-id files for processes outside",
    ),
    row(
        "KILL",
        Allowed,
        "signals processes of any uid, but Landlock's signal scope (ABI 6) still confines signals to the sandbox",
    ),
    row(
        "SETGID",
        Refused,
        "setresgid(0)/setgroups([0]) give the workload root's group and every root-group file",
    ),
    row(
        "SETUID",
        Refused,
        "setresuid(0) makes the workload root again",
    ),
    row(
        "SETPCAP",
        Refused,
        "raises bounding-set capabilities into its inheritable set and changes securebits, which gives capabilities back across exec",
    ),
    row(
        "LINUX_IMMUTABLE",
        Bypass,
        "marks files immutable or append-only, which only root outside can undo",
    ),
    row(
        "NET_BIND_SERVICE",
        Allowed,
        "binds ports below 1024; Landlock's bind_tcp rules still decide which",
    ),
    row("NET_BROADCAST", Allowed, "unused by the kernel"),
    row(
        "NET_ADMIN",
        Bypass,
        "configures interfaces, addresses, routes and traffic control of the pod's network namespace through rtnetlink, which seccomp allows (e.g. reroutes around a proxy), and sets SO_MARK",
    ),
    row(
        "NET_RAW",
        Bypass,
        "raw and packet sockets stay refused by seccomp, but SO_MARK and IP_TRANSPARENT let traffic skip mark-based firewall and proxy rules",
    ),
    row(
        "IPC_LOCK",
        Allowed,
        "locks its own memory; the pod's memory limit still applies",
    ),
    moot(
        "IPC_OWNER",
        "bypasses permission checks on the SysV IPC objects of every user, through calls seccomp refuses",
        &[
            "shmget",
            "shmat",
            "shmctl",
            "msgget",
            "msgsnd",
            "msgrcv",
            "msgctl",
            "semget",
            "semop",
            "semtimedop",
            "semctl",
        ],
    ),
    row(
        "SYS_MODULE",
        Bypass,
        "loads any installed kernel module by name through module autoloading (init_module and finit_module stay refused by seccomp)",
    ),
    row(
        "SYS_RAWIO",
        Bypass,
        "raw device access (/dev/mem, SG_IO, FIBMAP) on any device node it can open (iopl and ioperm stay refused by seccomp)",
    ),
    moot(
        "SYS_CHROOT",
        "changes its root directory (chroot) and enters mount namespaces (setns), which seccomp refuses",
        &["chroot", "setns"],
    ),
    row(
        "SYS_PTRACE",
        Bypass,
        "ptrace-mode access to processes of any uid (/proc/PID/environ, fd, mem) where Landlock's ptrace restriction is not enforced (ptrace and process_vm_* stay refused by seccomp)",
    ),
    moot(
        "SYS_PACCT",
        "switches the node's process accounting (acct), which seccomp refuses",
        &["acct"],
    ),
    row(
        "SYS_ADMIN",
        Bypass,
        "the catch-all administration capability: quotas, tty stealing, namespaces, file handles and many device and filesystem ioctls",
    ),
    moot(
        "SYS_BOOT",
        "reboots the node or loads a new kernel (reboot, kexec_load), which seccomp refuses",
        &["reboot", "kexec_load", "kexec_file_load"],
    ),
    row(
        "SYS_NICE",
        Bypass,
        "real-time scheduling and priorities above process.rlimits nice and rtprio, which can starve the node's CPUs",
    ),
    row(
        "SYS_RESOURCE",
        Bypass,
        "raises hard rlimits above process.rlimits and overrides quotas and reserved disk space",
    ),
    moot(
        "SYS_TIME",
        "sets the node's clock (settimeofday, clock_settime, clock_adjtime, adjtimex), which seccomp refuses",
        &["settimeofday", "clock_settime", "clock_adjtime", "adjtimex"],
    ),
    moot(
        "SYS_TTY_CONFIG",
        "hangs up terminals (vhangup), which seccomp refuses, and configures virtual consoles, which needs a console device a policy does not grant",
        &["vhangup"],
    ),
    row(
        "MKNOD",
        Bypass,
        "creates device nodes (e.g. the node's disk as a block device) inside read_write trees and opens them there",
    ),
    row(
        "LEASE",
        Allowed,
        "takes leases on files it can open, which delays other processes' opens by at most lease-break-time",
    ),
    moot(
        "AUDIT_WRITE",
        "writes audit records through NETLINK_AUDIT, which seccomp refuses",
        &["socket"],
    ),
    moot(
        "AUDIT_CONTROL",
        "changes audit rules through NETLINK_AUDIT, which seccomp refuses",
        &["socket"],
    ),
    row(
        "SETFCAP",
        Refused,
        "sets file capabilities, which give capabilities to processes outside the sandbox that exec the file",
    ),
    row(
        "MAC_OVERRIDE",
        Bypass,
        "overrides mandatory access control (Smack) on the node",
    ),
    row(
        "MAC_ADMIN",
        Bypass,
        "changes mandatory access control policy and labels (Smack, AppArmor)",
    ),
    row(
        "SYSLOG",
        Bypass,
        "shows kernel addresses in /proc/kallsyms and other /proc files (kptr_restrict), a KASLR leak; syslog stays refused by seccomp",
    ),
    row("WAKE_ALARM", Allowed, "timers that wake a suspended system"),
    row("BLOCK_SUSPEND", Allowed, "keeps the system from suspending"),
    moot(
        "AUDIT_READ",
        "reads the audit log through NETLINK_AUDIT, which seccomp refuses",
        &["socket"],
    ),
    moot(
        "PERFMON",
        "monitors performance of the whole node (perf_event_open, bpf), which seccomp refuses",
        &["perf_event_open", "bpf"],
    ),
    moot(
        "BPF",
        "loads eBPF programs and maps (bpf), which seccomp refuses",
        &["bpf"],
    ),
    row(
        "CHECKPOINT_RESTORE",
        Bypass,
        "rewrites its own /proc/self/exe and memory layout (PR_SET_MM) and opens files through /proc/PID/map_files",
    ),
];

/// The tier of capability `index` under a policy whose `seccomp.allow` is
/// `allow`; `None` for an index the kernel does not know.
pub fn tier(index: usize, allow: &[String]) -> Option<Tier> {
    let r = TABLE.get(index)?;
    if r.tier == Allowed && r.reopened_by.iter().any(|s| allow.iter().any(|a| a == s)) {
        return Some(Bypass);
    }
    Some(r.tier)
}

/// Why keeping `index` is a bypass under `allow` (the reason, and the
/// reopening seccomp.allow where that is what makes it one).
pub fn bypass_reason(index: usize, allow: &[String]) -> Option<String> {
    let r = TABLE.get(index)?;
    match (r.tier, tier(index, allow)?) {
        (Bypass, _) => Some(r.reason.to_string()),
        (Allowed, Bypass) => {
            let calls: Vec<&str> = r
                .reopened_by
                .iter()
                .copied()
                .filter(|s| allow.iter().any(|a| a == s))
                .collect();
            Some(format!(
                "{}; seccomp.allow gives back {}",
                r.reason,
                calls.join(", ")
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::validate::CAPABILITIES;

    #[test]
    fn every_capability_has_a_tier_and_a_reason() {
        assert_eq!(TABLE.len(), CAPABILITIES.len());
        for (i, (r, name)) in TABLE.iter().zip(CAPABILITIES).enumerate() {
            assert_eq!(r.name, name, "row {i}");
            assert!(
                !r.reason.is_empty()
                    && !r.reason.ends_with('.')
                    && r.reason.starts_with(|c: char| !c.is_ascii_uppercase()),
                "{name}: {}",
                r.reason
            );
            assert!(
                r.reopened_by.is_empty() || r.tier == Allowed,
                "{name}: only an allowed capability can be reopened"
            );
            for s in r.reopened_by {
                assert!(crate::seccomp::known_syscall(s), "{name}: {s}");
            }
            assert_eq!(tier(i, &[]), Some(r.tier));
        }
        assert_eq!(tier(41, &[]), None);
    }

    #[test]
    fn the_tiers_are_as_documented() {
        let of = |t: Tier| -> Vec<&str> {
            TABLE
                .iter()
                .filter(|r| r.tier == t)
                .map(|r| r.name)
                .collect()
        };
        assert_eq!(of(Refused), ["SETGID", "SETUID", "SETPCAP", "SETFCAP"]);
        assert_eq!(
            of(Bypass),
            [
                "CHOWN",
                "DAC_OVERRIDE",
                "DAC_READ_SEARCH",
                "FOWNER",
                "FSETID",
                "LINUX_IMMUTABLE",
                "NET_ADMIN",
                "NET_RAW",
                "SYS_MODULE",
                "SYS_RAWIO",
                "SYS_PTRACE",
                "SYS_ADMIN",
                "SYS_NICE",
                "SYS_RESOURCE",
                "MKNOD",
                "MAC_OVERRIDE",
                "MAC_ADMIN",
                "SYSLOG",
                "CHECKPOINT_RESTORE",
            ]
        );
        assert_eq!(
            of(Allowed),
            [
                "KILL",
                "NET_BIND_SERVICE",
                "NET_BROADCAST",
                "IPC_LOCK",
                "IPC_OWNER",
                "SYS_CHROOT",
                "SYS_PACCT",
                "SYS_BOOT",
                "SYS_TIME",
                "SYS_TTY_CONFIG",
                "LEASE",
                "AUDIT_WRITE",
                "AUDIT_CONTROL",
                "WAKE_ALARM",
                "BLOCK_SUSPEND",
                "AUDIT_READ",
                "PERFMON",
                "BPF",
            ]
        );
    }

    #[test]
    fn a_seccomp_allow_that_reopens_a_moot_capability_makes_it_a_bypass() {
        let bpf = 39;
        assert_eq!(tier(bpf, &[]), Some(Allowed));
        assert_eq!(bypass_reason(bpf, &[]), None);
        let allow = vec!["bpf".to_string()];
        assert_eq!(tier(bpf, &allow), Some(Bypass));
        assert_eq!(
            bypass_reason(bpf, &allow).as_deref(),
            Some(
                "loads eBPF programs and maps (bpf), which seccomp refuses; seccomp.allow gives back bpf"
            )
        );
        // an unrelated allow changes nothing
        assert_eq!(tier(bpf, &["ptrace".to_string()]), Some(Allowed));
        assert_eq!(tier(7, &allow), Some(Refused));
    }
}
