//! The default rule table.
//!
//! Everything here is either an escape primitive (reaching into other
//! processes, the kernel, the mount table or other namespaces), host-wide
//! administration, or rarely used kernel attack surface. An untrusted
//! workload in a pod has no business with any of it; a policy can drop a rule
//! with `seccomp.allow` (e.g. `ptrace` for a debugger).
//!
//! Argument checks compare the low 32 bits of an argument only; see
//! [`super::ArgCheck`] for why that is exact for every check below.

use super::{Arch, ArgCheck, ENOSYS, PlannedRule, RuleAction, lookup};

/// Namespace flags of `clone`/`unshare`.
pub(super) const CLONE_NEWTIME: u32 = 0x0000_0080;
pub(super) const CLONE_NEWNS: u32 = 0x0002_0000;
pub(super) const CLONE_NEWCGROUP: u32 = 0x0200_0000;
pub(super) const CLONE_NEWUTS: u32 = 0x0400_0000;
pub(super) const CLONE_NEWIPC: u32 = 0x0800_0000;
pub(super) const CLONE_NEWUSER: u32 = 0x1000_0000;
pub(super) const CLONE_NEWPID: u32 = 0x2000_0000;
pub(super) const CLONE_NEWNET: u32 = 0x4000_0000;

/// Canonical namespace name, flag, flag name; sorted by name.
pub(super) const NAMESPACES: [(&str, u32, &str); 8] = [
    ("cgroup", CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    ("ipc", CLONE_NEWIPC, "CLONE_NEWIPC"),
    ("mount", CLONE_NEWNS, "CLONE_NEWNS"),
    ("net", CLONE_NEWNET, "CLONE_NEWNET"),
    ("pid", CLONE_NEWPID, "CLONE_NEWPID"),
    ("time", CLONE_NEWTIME, "CLONE_NEWTIME"),
    ("user", CLONE_NEWUSER, "CLONE_NEWUSER"),
    ("uts", CLONE_NEWUTS, "CLONE_NEWUTS"),
];

/// Every namespace flag.
pub(super) const ALL_NAMESPACES: u32 = CLONE_NEWTIME
    | CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET;

pub(super) const AF_UNIX: u32 = 1;
pub(super) const AF_INET: u32 = 2;
pub(super) const AF_INET6: u32 = 10;
pub(super) const AF_NETLINK: u32 = 16;
pub(super) const NETLINK_ROUTE: u32 = 0;
/// `SOCK_TYPE_MASK`: the socket type without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`.
pub(super) const SOCK_TYPE_MASK: u32 = 0xf;
pub(super) const SOCK_RAW: u32 = 3;
/// Obsolete; `socket(AF_INET, SOCK_PACKET, ..)` is turned into an `AF_PACKET`
/// socket by the kernel.
pub(super) const SOCK_PACKET: u32 = 10;
pub(super) const TIOCSTI: u32 = 0x5412;
pub(super) const TIOCLINUX: u32 = 0x541c;
pub(super) const AT_EMPTY_PATH: u32 = 0x1000;
pub(super) const PER_LINUX: u32 = 0;
pub(super) const PER_QUERY: u32 = 0xffff_ffff;

/// Syscalls denied unconditionally, with the reason.
pub(super) const DENY: &[(&str, &str)] = &[
    // other processes
    ("ptrace", "reads and controls other processes"),
    ("process_vm_readv", "reads another process's memory"),
    ("process_vm_writev", "writes another process's memory"),
    (
        "pidfd_getfd",
        "steals file descriptors from another process",
    ),
    (
        "kcmp",
        "compares kernel objects of other processes, an address-order oracle",
    ),
    // kernel attack surface
    ("bpf", "loads eBPF programs into the kernel"),
    (
        "perf_event_open",
        "perf events are a large kernel attack surface and side channel",
    ),
    (
        "userfaultfd",
        "lets exploits stall kernel page faults at will",
    ),
    (
        "io_uring_setup",
        "io_uring bypasses seccomp for the operations it submits",
    ),
    (
        "io_uring_enter",
        "io_uring bypasses seccomp for the operations it submits",
    ),
    (
        "io_uring_register",
        "io_uring bypasses seccomp for the operations it submits",
    ),
    ("lookup_dcookie", "kernel profiling interface"),
    ("fanotify_init", "filesystem-wide event monitoring"),
    (
        "lsm_set_self_attr",
        "changes the process's security-module context",
    ),
    (
        "modify_ldt",
        "x86 LDT changes, historic kernel attack surface",
    ),
    ("uselib", "obsolete a.out loader"),
    ("_sysctl", "removed binary sysctl interface"),
    ("nfsservctl", "removed nfsd control interface"),
    // kernel code
    ("kexec_load", "replaces the running kernel"),
    ("kexec_file_load", "replaces the running kernel"),
    ("init_module", "loads kernel code"),
    ("finit_module", "loads kernel code"),
    ("delete_module", "unloads kernel code"),
    ("create_module", "removed module interface"),
    ("get_kernel_syms", "removed module interface"),
    ("query_module", "removed module interface"),
    // keys
    ("keyctl", "kernel keyring, not namespaced"),
    ("add_key", "kernel keyring, not namespaced"),
    ("request_key", "kernel keyring, not namespaced"),
    // mounts and filesystem views
    ("mount", "changes the mount table"),
    ("umount2", "changes the mount table"),
    ("pivot_root", "changes the root filesystem"),
    (
        "chroot",
        "changes the root directory, a classic escape helper",
    ),
    ("fsopen", "new mount API"),
    ("fsconfig", "new mount API"),
    ("fsmount", "new mount API"),
    ("fspick", "new mount API"),
    ("move_mount", "new mount API"),
    ("open_tree", "new mount API, clones mount trees"),
    ("open_tree_attr", "new mount API, clones mount trees"),
    ("mount_setattr", "changes mount attributes"),
    ("setns", "joins another namespace"),
    (
        "open_by_handle_at",
        "opens files by handle, bypassing path checks",
    ),
    (
        "name_to_handle_at",
        "produces file handles for open_by_handle_at",
    ),
    ("quotactl", "filesystem quota administration"),
    ("quotactl_fd", "filesystem quota administration"),
    // hardware and host administration
    ("iopl", "raw I/O port access"),
    ("ioperm", "raw I/O port access"),
    ("acct", "host process accounting"),
    ("swapon", "host swap administration"),
    ("swapoff", "host swap administration"),
    ("reboot", "reboots the host or loads a kexec kernel"),
    ("sethostname", "host identity administration"),
    ("setdomainname", "host identity administration"),
    ("settimeofday", "sets the host clock"),
    ("clock_settime", "sets the host clock"),
    ("clock_adjtime", "adjusts the host clock"),
    ("adjtimex", "adjusts the host clock"),
    ("syslog", "reads or clears the kernel log"),
    ("vhangup", "hangs up the controlling terminal"),
];

/// Inputs of the default rules that come from the policy.
pub(super) struct Context {
    /// `AF_INET`/`AF_INET6` sockets allowed.
    pub inet: bool,
    /// Namespace flags that may be created.
    pub allowed_namespaces: u32,
}

/// A rule before it is resolved for an architecture.
#[derive(Debug, Clone)]
pub(super) struct RuleSpec {
    pub name: &'static str,
    pub check: Option<ArgCheck>,
    pub condition: Option<String>,
    pub reason: &'static str,
    /// Returns `ENOSYS` instead of the deny action.
    pub enosys: bool,
}

impl RuleSpec {
    fn deny(name: &'static str, reason: &'static str) -> RuleSpec {
        RuleSpec {
            name,
            check: None,
            condition: None,
            reason,
            enosys: false,
        }
    }

    fn when(name: &'static str, check: ArgCheck, condition: String, reason: &'static str) -> Self {
        RuleSpec {
            name,
            check: Some(check),
            condition: Some(condition),
            reason,
            enosys: false,
        }
    }

    /// Resolves the rule for `arch`; `None` if the syscall does not exist there.
    pub(super) fn plan(&self, arch: Arch, deny: RuleAction, origin: &str) -> Option<PlannedRule> {
        let nr = lookup(arch, self.name)?;
        let verdict = if self.enosys {
            RuleAction::Errno(ENOSYS)
        } else {
            deny
        };
        Some(PlannedRule {
            syscall: self.name.to_owned(),
            nr,
            action: verdict.label(),
            condition: self.condition.clone(),
            reason: self.reason.to_owned(),
            origin: origin.to_owned(),
            verdict,
            check: self.check.clone(),
        })
    }
}

/// Parses `allowed_namespaces` into a flag mask and the sorted canonical
/// names; the error is the first unknown name.
pub(super) fn parse_namespaces(names: &[String]) -> Result<(u32, Vec<String>), &str> {
    let mut mask = 0;
    for name in names {
        let canonical = match name.as_str() {
            "mnt" => "mount",
            "network" => "net",
            other => other,
        };
        let flag = NAMESPACES
            .iter()
            .find(|(n, _, _)| *n == canonical)
            .map(|&(_, flag, _)| flag)
            .ok_or(name.as_str())?;
        mask |= flag;
    }
    let canonical = NAMESPACES
        .iter()
        .filter(|(_, flag, _)| mask & flag != 0)
        .map(|(n, _, _)| (*n).to_owned())
        .collect();
    Ok((mask, canonical))
}

fn flag_names(mask: u32) -> String {
    let mut names: Vec<&str> = NAMESPACES
        .iter()
        .filter(|(_, flag, _)| mask & flag != 0)
        .map(|&(_, _, n)| n)
        .collect();
    names.sort_unstable();
    names.join("|")
}

/// `clone` rule: namespace flags outside `allowed` are refused.
///
/// `clone` takes the flags in arg0 on both x86_64 and aarch64 and keeps only
/// their low 32 bits; its low byte is the exit signal, so `CLONE_NEWTIME`
/// (0x80) cannot be requested through `clone` and is not checked there.
fn clone_rule(allowed: u32, reason: &'static str) -> Option<RuleSpec> {
    let forbidden = ALL_NAMESPACES & !allowed & !CLONE_NEWTIME;
    (forbidden != 0).then(|| {
        RuleSpec::when(
            "clone",
            ArgCheck::AnyBits {
                arg: 0,
                mask: forbidden,
            },
            format!("flags & ({}) != 0", flag_names(forbidden)),
            reason,
        )
    })
}

/// `unshare` rule: namespace flags outside `allowed` are refused.
fn unshare_rule(allowed: u32, reason: &'static str) -> Option<RuleSpec> {
    let forbidden = ALL_NAMESPACES & !allowed;
    (forbidden != 0).then(|| {
        RuleSpec::when(
            "unshare",
            ArgCheck::AnyBits {
                arg: 0,
                mask: forbidden,
            },
            format!("flags & ({}) != 0", flag_names(forbidden)),
            reason,
        )
    })
}

fn clone3_rule() -> RuleSpec {
    RuleSpec {
        name: "clone3",
        check: None,
        condition: None,
        reason: "flags live in struct clone_args, which seccomp cannot read; libc falls back to clone",
        enosys: true,
    }
}

fn execveat_rule() -> RuleSpec {
    RuleSpec::when(
        "execveat",
        ArgCheck::AnyBits {
            arg: 4,
            mask: AT_EMPTY_PATH,
        },
        "flags & AT_EMPTY_PATH != 0".to_owned(),
        "fileless exec of memfds and other anonymous files",
    )
}

fn ioctl_rule() -> RuleSpec {
    RuleSpec::when(
        "ioctl",
        ArgCheck::In {
            arg: 1,
            mask: u32::MAX,
            values: vec![TIOCSTI, TIOCLINUX],
        },
        "request in {TIOCSTI, TIOCLINUX}".to_owned(),
        "injects input into a terminal shared with the host side",
    )
}

/// `personality`: only `PER_LINUX` and the query `0xffffffff` are allowed.
/// `PER_LINUX32`, `UNAME26`, `ADDR_NO_RANDOMIZE`, `READ_IMPLIES_EXEC`, ... are
/// refused: they weaken ASLR or W^X for later execs, or fake the kernel
/// version, and workloads do not need them (`setarch -R` and `rr` will fail).
fn personality_rule() -> RuleSpec {
    RuleSpec::when(
        "personality",
        ArgCheck::NotIn {
            arg: 0,
            mask: u32::MAX,
            values: vec![PER_LINUX, PER_QUERY],
        },
        "persona not in {PER_LINUX, 0xffffffff}".to_owned(),
        "execution domains weaken ASLR/NX or fake the kernel version",
    )
}

/// `socket` rules, first match wins:
/// 1. with `inet: false`, `AF_INET`/`AF_INET6` are refused;
/// 2. families other than `AF_UNIX`, `AF_INET`, `AF_INET6` and `AF_NETLINK`
///    are refused (an allow-list: `AF_PACKET`, `AF_VSOCK`, `AF_BLUETOOTH`,
///    `AF_KEY`, `AF_ALG`, ... are rarely needed and a rich source of kernel
///    bugs, often reachable through module autoloading);
/// 3. netlink other than `NETLINK_ROUTE` is refused;
/// 4. raw `AF_INET`/`AF_INET6` sockets (`SOCK_RAW`, and `SOCK_PACKET`, which
///    the kernel turns into `AF_PACKET`) are refused.
fn socket_rules(inet: bool) -> Vec<RuleSpec> {
    let mut rules = Vec::new();
    if !inet {
        rules.push(RuleSpec::when(
            "socket",
            ArgCheck::In {
                arg: 0,
                mask: u32::MAX,
                values: vec![AF_INET, AF_INET6],
            },
            "domain in {AF_INET, AF_INET6}".to_owned(),
            "IP networking is disabled by policy (inet: false)",
        ));
    }
    rules.push(RuleSpec::when(
        "socket",
        ArgCheck::NotIn {
            arg: 0,
            mask: u32::MAX,
            values: vec![AF_UNIX, AF_INET, AF_INET6, AF_NETLINK],
        },
        "domain not in {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK}".to_owned(),
        "other socket families (AF_PACKET, AF_VSOCK, AF_BLUETOOTH, AF_KEY, AF_ALG, ...) are kernel attack surface",
    ));
    rules.push(RuleSpec::when(
        "socket",
        ArgCheck::All(vec![
            ArgCheck::In {
                arg: 0,
                mask: u32::MAX,
                values: vec![AF_NETLINK],
            },
            ArgCheck::NotIn {
                arg: 2,
                mask: u32::MAX,
                values: vec![NETLINK_ROUTE],
            },
        ]),
        "domain == AF_NETLINK && protocol != NETLINK_ROUTE".to_owned(),
        "netlink beyond routing (audit, sock_diag, uevents, netfilter, ...) exposes host state",
    ));
    if inet {
        rules.push(RuleSpec::when(
            "socket",
            ArgCheck::All(vec![
                ArgCheck::In {
                    arg: 0,
                    mask: u32::MAX,
                    values: vec![AF_INET, AF_INET6],
                },
                ArgCheck::In {
                    arg: 1,
                    mask: SOCK_TYPE_MASK,
                    values: vec![SOCK_RAW, SOCK_PACKET],
                },
            ]),
            "domain in {AF_INET, AF_INET6} && type & 0xf in {SOCK_RAW, SOCK_PACKET}".to_owned(),
            "raw IP sockets forge packets and sniff traffic",
        ));
    }
    rules
}

/// `socketpair` only makes sense for `AF_UNIX`; other families (e.g.
/// `AF_TIPC`) would bypass the `socket` family allow-list.
fn socketpair_rule() -> RuleSpec {
    RuleSpec::when(
        "socketpair",
        ArgCheck::NotIn {
            arg: 0,
            mask: u32::MAX,
            values: vec![AF_UNIX],
        },
        "domain != AF_UNIX".to_owned(),
        "only AF_UNIX socket pairs are needed",
    )
}

const NS_REASON: &str =
    "creating namespaces not allowed by policy (user namespaces unlock kernel attack surface)";

/// The default rules for the workload.
pub(super) fn default_rules(ctx: &Context) -> Vec<RuleSpec> {
    let mut rules: Vec<RuleSpec> = DENY
        .iter()
        .map(|&(name, reason)| RuleSpec::deny(name, reason))
        .collect();
    rules.push(clone3_rule());
    rules.extend(clone_rule(ctx.allowed_namespaces, NS_REASON));
    rules.extend(unshare_rule(ctx.allowed_namespaces, NS_REASON));
    rules.push(execveat_rule());
    rules.push(ioctl_rule());
    rules.push(personality_rule());
    rules.extend(socket_rules(ctx.inet));
    rules.push(socketpair_rule());
    rules
}

/// The rules for the supervising parent, see [`super::parent_plan`].
pub(super) fn parent_rules() -> Vec<RuleSpec> {
    let mut rules: Vec<RuleSpec> = DENY
        .iter()
        .map(|&(name, reason)| RuleSpec::deny(name, reason))
        .collect();
    rules.push(RuleSpec::deny(
        "unshare",
        "the supervisor never needs new namespaces",
    ));
    rules.push(clone3_rule());
    rules.extend(clone_rule(0, "the supervisor never needs new namespaces"));
    rules.push(execveat_rule());
    rules.push(ioctl_rule());
    rules.push(personality_rule());
    rules
}
