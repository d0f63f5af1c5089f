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

use std::borrow::Cow;

use super::tables::Syscall;
use super::{ArgCheck, ENOSYS, PlannedRule, RuleAction};

/// The [`Syscall`] named by a string literal, with its numbers looked up
/// when the program is compiled.
macro_rules! sys {
    ($name:literal) => {
        const { Syscall::new($name) }
    };
}

/// Namespace flags of `clone`/`unshare`.
pub(super) const CLONE_NEWTIME: u32 = 0x0000_0080;
pub(super) const CLONE_NEWNS: u32 = 0x0002_0000;
pub(super) const CLONE_NEWCGROUP: u32 = 0x0200_0000;
pub(super) const CLONE_NEWUTS: u32 = 0x0400_0000;
pub(super) const CLONE_NEWIPC: u32 = 0x0800_0000;
pub(super) const CLONE_NEWUSER: u32 = 0x1000_0000;
pub(super) const CLONE_NEWPID: u32 = 0x2000_0000;
pub(super) const CLONE_NEWNET: u32 = 0x4000_0000;

/// Canonical namespace name, flag, flag name; sorted by flag name, the
/// order of the flag lists in the `clone`/`unshare` conditions that every
/// plan writes.
pub(super) const NAMESPACES: [(&str, u32, &str); 8] = [
    ("cgroup", CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    ("ipc", CLONE_NEWIPC, "CLONE_NEWIPC"),
    ("net", CLONE_NEWNET, "CLONE_NEWNET"),
    ("mount", CLONE_NEWNS, "CLONE_NEWNS"),
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
pub(super) const SOCK_STREAM: u32 = 1;
pub(super) const SOCK_DGRAM: u32 = 2;
pub(super) const SOCK_SEQPACKET: u32 = 5;
pub(super) const IPPROTO_IP: u32 = 0;
pub(super) const IPPROTO_ICMP: u32 = 1;
pub(super) const IPPROTO_TCP: u32 = 6;
pub(super) const IPPROTO_UDP: u32 = 17;
pub(super) const IPPROTO_ICMPV6: u32 = 58;
/// `send*` flag that makes a TCP socket connect (TCP Fast Open).
pub(super) const MSG_FASTOPEN: u32 = 0x2000_0000;
/// `setpriority` `which`: a process (`PRIO_PGRP` 1 and `PRIO_USER` 2 are
/// refused).
pub(super) const PRIO_PROCESS: u32 = 0;
/// `ioprio_set` `which`: a process (`IOPRIO_WHO_PGRP` 2 and
/// `IOPRIO_WHO_USER` 3 are refused).
pub(super) const IOPRIO_WHO_PROCESS: u32 = 1;
pub(super) const TIOCSCTTY: u32 = 0x540e;
pub(super) const TIOCSTI: u32 = 0x5412;
pub(super) const TIOCLINUX: u32 = 0x541c;
pub(super) const TIOCCONS: u32 = 0x541d;
pub(super) const TIOCSETD: u32 = 0x5423;
pub(super) const TIOCVHANGUP: u32 = 0x5437;
pub(super) const AT_EMPTY_PATH: u32 = 0x1000;
pub(super) const PER_LINUX: u32 = 0;
pub(super) const PER_QUERY: u32 = 0xffff_ffff;

/// Syscalls denied unconditionally, with the reason.
pub(super) const DENY: &[(Syscall, &str)] = &[
    // other processes
    (sys!("ptrace"), "reads and controls other processes"),
    (sys!("process_vm_readv"), "reads another process's memory"),
    (sys!("process_vm_writev"), "writes another process's memory"),
    (
        sys!("pidfd_getfd"),
        "steals file descriptors from another process",
    ),
    (
        sys!("kcmp"),
        "compares kernel objects of other processes, an address-order oracle",
    ),
    (
        sys!("process_madvise"),
        "acts on another process's memory through a pidfd, which seccomp cannot tell from its own",
    ),
    (
        sys!("process_mrelease"),
        "reaps another process's memory through a pidfd, which seccomp cannot tell from its own",
    ),
    // kernel attack surface
    (sys!("bpf"), "loads eBPF programs into the kernel"),
    (
        sys!("perf_event_open"),
        "perf events are a large kernel attack surface and side channel",
    ),
    (
        sys!("userfaultfd"),
        "lets exploits stall kernel page faults at will",
    ),
    (
        sys!("io_uring_setup"),
        "io_uring bypasses seccomp for the operations it submits",
    ),
    (
        sys!("io_uring_enter"),
        "io_uring bypasses seccomp for the operations it submits",
    ),
    (
        sys!("io_uring_register"),
        "io_uring bypasses seccomp for the operations it submits",
    ),
    (sys!("lookup_dcookie"), "kernel profiling interface"),
    (sys!("fanotify_init"), "filesystem-wide event monitoring"),
    (
        sys!("lsm_set_self_attr"),
        "changes the process's security-module context",
    ),
    (
        sys!("modify_ldt"),
        "x86 LDT changes, historic kernel attack surface",
    ),
    (sys!("uselib"), "obsolete a.out loader"),
    (sys!("_sysctl"), "removed binary sysctl interface"),
    (sys!("nfsservctl"), "removed nfsd control interface"),
    // kernel code
    (sys!("kexec_load"), "replaces the running kernel"),
    (sys!("kexec_file_load"), "replaces the running kernel"),
    (sys!("init_module"), "loads kernel code"),
    (sys!("finit_module"), "loads kernel code"),
    (sys!("delete_module"), "unloads kernel code"),
    (sys!("create_module"), "removed module interface"),
    (sys!("get_kernel_syms"), "removed module interface"),
    (sys!("query_module"), "removed module interface"),
    // keys
    (sys!("keyctl"), "kernel keyring, not namespaced"),
    (sys!("add_key"), "kernel keyring, not namespaced"),
    (sys!("request_key"), "kernel keyring, not namespaced"),
    // mounts and filesystem views
    (sys!("mount"), "changes the mount table"),
    (sys!("umount2"), "changes the mount table"),
    (sys!("pivot_root"), "changes the root filesystem"),
    (
        sys!("chroot"),
        "changes the root directory, a classic escape helper",
    ),
    (sys!("fsopen"), "new mount API"),
    (sys!("fsconfig"), "new mount API"),
    (sys!("fsmount"), "new mount API"),
    (sys!("fspick"), "new mount API"),
    (sys!("move_mount"), "new mount API"),
    (sys!("open_tree"), "new mount API, clones mount trees"),
    (sys!("open_tree_attr"), "new mount API, clones mount trees"),
    (sys!("mount_setattr"), "changes mount attributes"),
    (sys!("setns"), "joins another namespace"),
    (
        sys!("open_by_handle_at"),
        "opens files by handle, bypassing path checks",
    ),
    (
        sys!("name_to_handle_at"),
        "produces file handles for open_by_handle_at",
    ),
    (sys!("quotactl"), "filesystem quota administration"),
    (sys!("quotactl_fd"), "filesystem quota administration"),
    // hardware and host administration
    (sys!("iopl"), "raw I/O port access"),
    (sys!("ioperm"), "raw I/O port access"),
    (sys!("acct"), "host process accounting"),
    (sys!("swapon"), "host swap administration"),
    (sys!("swapoff"), "host swap administration"),
    (sys!("reboot"), "reboots the host or loads a kexec kernel"),
    (sys!("sethostname"), "host identity administration"),
    (sys!("setdomainname"), "host identity administration"),
    (sys!("settimeofday"), "sets the host clock"),
    (sys!("clock_settime"), "sets the host clock"),
    (sys!("clock_adjtime"), "adjusts the host clock"),
    (sys!("adjtimex"), "adjusts the host clock"),
    (sys!("syslog"), "reads or clears the kernel log"),
    (sys!("vhangup"), "hangs up the controlling terminal"),
];

/// IPC objects that live in the IPC namespace, not in the filesystem:
/// Landlock checks no path for them, so a workload would reach every
/// segment, queue and semaphore set that a same-uid process outside the
/// sandbox created (and world-accessible ones of other users). Each call is
/// its own rule, so `seccomp.allow` can give back one family: all of
/// `shmget, shmat, shmctl` for shared memory, `msgget, msgsnd, msgrcv,
/// msgctl` for message queues, `semget, semop, semtimedop, semctl` for
/// semaphores, `mq_open, mq_unlink, mq_timedsend, mq_timedreceive,
/// mq_notify, mq_getsetattr` for POSIX message queues.
///
/// `shmdt` stays allowed: it only detaches a mapping of the caller's own,
/// and attachments do not survive exec, so without `shmat` there is nothing
/// to detach.
pub(super) const IPC_DENY: &[(Syscall, &str)] = &[
    (
        sys!("shmget"),
        "SysV shared memory is shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("shmat"),
        "SysV shared memory is shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("shmctl"),
        "SysV shared memory is shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("msgget"),
        "SysV message queues are shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("msgsnd"),
        "SysV message queues are shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("msgrcv"),
        "SysV message queues are shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("msgctl"),
        "SysV message queues are shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("semget"),
        "SysV semaphores are shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("semop"),
        "SysV semaphores are shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("semtimedop"),
        "SysV semaphores are shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("semctl"),
        "SysV semaphores are shared with same-uid processes outside the sandbox; seccomp.allow to opt in",
    ),
    (
        sys!("mq_open"),
        "POSIX message queues are named without a path Landlock checks; seccomp.allow to opt in",
    ),
    (
        sys!("mq_unlink"),
        "POSIX message queues are named without a path Landlock checks; seccomp.allow to opt in",
    ),
    (
        sys!("mq_timedsend"),
        "POSIX message queues are named without a path Landlock checks; seccomp.allow to opt in",
    ),
    (
        sys!("mq_timedreceive"),
        "POSIX message queues are named without a path Landlock checks; seccomp.allow to opt in",
    ),
    (
        sys!("mq_notify"),
        "POSIX message queues are named without a path Landlock checks; seccomp.allow to opt in",
    ),
    (
        sys!("mq_getsetattr"),
        "POSIX message queues are named without a path Landlock checks; seccomp.allow to opt in",
    ),
];

/// Calls that take a pid and act on any same-uid process (the kernel checks
/// only the uid, or `ptrace_may_access`), including processes outside the
/// sandbox and an unprivileged `--init` parent: each is limited to the
/// calling thread, pid 0. Name, argument index of the pid, what it does.
///
/// This breaks callers that name themselves by number: glibc's
/// `pthread_setaffinity_np` passes the thread's tid (OpenMP/GOMP thread
/// pinning), `taskset -p`, Python's `os.sched_setaffinity(os.getpid(), ..)`,
/// `prlimit --pid`, `renice -p`. `seccomp.allow` gives a call back whole.
pub(super) const SELF_ONLY: &[(Syscall, u8, &str)] = &[
    (
        sys!("prlimit64"),
        0,
        "sets rlimits of another process (RLIMIT_CPU=1 kills it); seccomp.allow to opt in",
    ),
    (
        sys!("sched_setaffinity"),
        0,
        "pins another process to CPUs; seccomp.allow to opt in (OpenMP thread pinning, taskset -p)",
    ),
    (
        sys!("sched_setscheduler"),
        0,
        "changes another process's scheduling policy; seccomp.allow to opt in",
    ),
    (
        sys!("sched_setparam"),
        0,
        "changes another process's scheduling priority; seccomp.allow to opt in",
    ),
    (
        sys!("sched_setattr"),
        0,
        "changes another process's scheduling attributes; seccomp.allow to opt in",
    ),
    (
        sys!("migrate_pages"),
        0,
        "moves another process's memory between NUMA nodes; seccomp.allow to opt in",
    ),
    (
        sys!("move_pages"),
        0,
        "moves another process's pages between NUMA nodes; seccomp.allow to opt in",
    ),
    (
        sys!("get_robust_list"),
        0,
        "reads another process's robust futex list head, an ASLR leak; seccomp.allow to opt in",
    ),
];

/// Inputs of the default rules that come from the policy.
pub(super) struct Context {
    /// `AF_INET`/`AF_INET6` sockets allowed.
    pub inet: bool,
    /// `socket(AF_UNIX, ..)` allowed.
    pub unix_sockets: bool,
    /// `listen` allowed.
    pub listen: bool,
    /// Namespace flags that may be created.
    pub allowed_namespaces: u32,
}

/// A rule before it is resolved for an architecture.
#[derive(Debug, Clone)]
pub(super) struct RuleSpec {
    pub sys: Syscall,
    pub check: Option<ArgCheck>,
    pub condition: Option<Cow<'static, str>>,
    pub reason: &'static str,
    /// Returns `ENOSYS` instead of the deny action.
    pub enosys: bool,
}

impl RuleSpec {
    fn deny(sys: Syscall, reason: &'static str) -> RuleSpec {
        RuleSpec {
            sys,
            check: None,
            condition: None,
            reason,
            enosys: false,
        }
    }

    fn when(
        sys: Syscall,
        check: ArgCheck,
        condition: impl Into<Cow<'static, str>>,
        reason: &'static str,
    ) -> Self {
        RuleSpec {
            sys,
            check: Some(check),
            condition: Some(condition.into()),
            reason,
            enosys: false,
        }
    }

    /// The syscall's name.
    pub(super) fn name(&self) -> &'static str {
        self.sys.name()
    }

    /// The rule with number `nr` (the syscall's on the plan's architecture).
    pub(super) fn plan(self, nr: u32, deny: RuleAction, origin: &'static str) -> PlannedRule {
        let verdict = if self.enosys {
            RuleAction::Errno(ENOSYS)
        } else {
            deny
        };
        PlannedRule {
            syscall: self.name().into(),
            nr,
            action: verdict.label(),
            condition: self.condition,
            reason: self.reason.into(),
            origin: origin.into(),
            verdict,
            check: self.check,
        }
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
    let mut canonical = NAMESPACES
        .iter()
        .filter(|(_, flag, _)| mask & flag != 0)
        .map(|(n, _, _)| (*n).to_owned())
        .collect();
    crate::sort::sort(&mut canonical);
    Ok((mask, canonical))
}

/// The names of the flags in `mask`, sorted, joined by `|`.
fn flag_names(mask: u32) -> String {
    let names: Vec<&str> = NAMESPACES
        .iter()
        .filter(|(_, flag, _)| mask & flag != 0)
        .map(|&(_, _, n)| n)
        .collect();
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
            sys!("clone"),
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
            sys!("unshare"),
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
        sys: sys!("clone3"),
        check: None,
        condition: None,
        reason: "flags live in struct clone_args, which seccomp cannot read; libc falls back to clone",
        enosys: true,
    }
}

/// `listmount` and `statmount` read the mount table by mount id, which
/// `/proc/self/mountinfo` shows only where the policy grants `/proc`.
/// `ENOSYS`, as on a kernel without them: the C libraries' mount readers
/// (libmount) then read `/proc`, which the policy governs.
fn mount_table_rules() -> [RuleSpec; 2] {
    let reason = "reads the mount table, which only /proc shows where the policy grants it; ENOSYS, so readers fall back to /proc";
    [sys!("listmount"), sys!("statmount")].map(|sys| RuleSpec {
        sys,
        check: None,
        condition: None,
        reason,
        enosys: true,
    })
}

fn execveat_rule() -> RuleSpec {
    RuleSpec::when(
        sys!("execveat"),
        ArgCheck::AnyBits {
            arg: 4,
            mask: AT_EMPTY_PATH,
        },
        "flags & AT_EMPTY_PATH != 0",
        "fileless exec of memfds and other anonymous files",
    )
}

/// Terminal ioctls that act beyond the workload's own session. The
/// request numbers are the same on x86_64 and aarch64 (asm-generic), and
/// the kernel compares the request as an `unsigned int`.
///
/// - `TIOCSTI` and `TIOCLINUX` (selection paste) inject input into a
///   terminal shared with the host side.
/// - `TIOCSETD` switches the line discipline; the kernel loads the
///   `tty-ldisc-N` module when `dev.tty.ldisc_autoload=1` (N_GSM, N_HDLC,
///   ... have a long CVE history), and a discipline attached to a shared
///   terminal changes it for everyone.
/// - `TIOCCONS` redirects the node's console output to the caller's
///   terminal; `TIOCVHANGUP` is `vhangup`, refused in [`DENY`]. Both need
///   CAP_SYS_ADMIN, which a policy can keep, and no workload needs them.
///
/// Allowed on purpose: `TIOCSCTTY` (taking a terminal as controlling tty;
/// stealing one from another session, argument 1, is refused by
/// [`ioctl_steal_rule`]), `TIOCNOTTY`, `TIOCSPGRP` (the kernel limits it to
/// the caller's session), termios and window size (every interactive
/// program sets them), the pty calls (`TIOCGPTN`, `TIOCSPTLCK`,
/// `TIOCGPTPEER`, `TIOCSIG` act on a pty pair the caller opened), `TIOCEXCL`
/// (refuses later opens by other non-root processes only), and serial calls
/// (`TIOCSSERIAL`, `TIOCMSET`, ...) that need a serial device the policy
/// grants, whose hardware settings need CAP_SYS_ADMIN.
fn ioctl_rule() -> RuleSpec {
    RuleSpec::when(
        sys!("ioctl"),
        ArgCheck::In {
            arg: 1,
            mask: u32::MAX,
            values: vec![TIOCSTI, TIOCLINUX, TIOCSETD, TIOCCONS, TIOCVHANGUP],
        },
        "request in {TIOCSTI, TIOCLINUX, TIOCSETD, TIOCCONS, TIOCVHANGUP}",
        "injects input into, changes the line discipline of, or hangs up a terminal shared with the host side, or takes the node's console",
    )
}

/// `ioctl(fd, TIOCSCTTY, 1)` steals a terminal that is another session's
/// controlling terminal (with CAP_SYS_ADMIN). The kernel takes the
/// argument as an `int`, so comparing its low 32 bits is exact.
/// `TIOCSCTTY` with 0 (taking a terminal no session owns) stays allowed.
fn ioctl_steal_rule() -> RuleSpec {
    RuleSpec::when(
        sys!("ioctl"),
        ArgCheck::All(vec![
            ArgCheck::In {
                arg: 1,
                mask: u32::MAX,
                values: vec![TIOCSCTTY],
            },
            ArgCheck::In {
                arg: 2,
                mask: u32::MAX,
                values: vec![1],
            },
        ]),
        "request == TIOCSCTTY && arg == 1",
        "steals the controlling terminal of another session",
    )
}

/// `inotify_add_watch` takes a path that Landlock does not check: a
/// workload could watch any directory it can name, outside every rule, and
/// learn the names of files created there and when other processes open,
/// read, write and close them (the reason `fanotify_init` is refused).
/// Refused by default; `seccomp.allow: [inotify_add_watch]` gives it back
/// for file watchers (webpack/chokidar, `tsc --watch`, watchfiles and
/// `uvicorn --reload`, `tail -F`), and with it the reach outside.
///
/// `inotify_init`/`inotify_init1` stay allowed: they make an empty instance
/// that observes nothing until a watch is added, and programs that set one
/// up at start (libuv, GLib) then fail on the call that names a path, where
/// they say which path they could not watch.
fn inotify_rule() -> RuleSpec {
    RuleSpec::deny(
        sys!("inotify_add_watch"),
        "watches paths Landlock does not check, outside every rule: names of new files and other processes' opens, reads and writes; seccomp.allow to opt in (file watchers)",
    )
}

/// `personality`: only `PER_LINUX` and the query `0xffffffff` are allowed.
/// `PER_LINUX32`, `UNAME26`, `ADDR_NO_RANDOMIZE`, `READ_IMPLIES_EXEC`, ... are
/// refused: they weaken ASLR or W^X for later execs, or fake the kernel
/// version, and workloads do not need them (`setarch -R` and `rr` will fail).
fn personality_rule() -> RuleSpec {
    RuleSpec::when(
        sys!("personality"),
        ArgCheck::NotIn {
            arg: 0,
            mask: u32::MAX,
            values: vec![PER_LINUX, PER_QUERY],
        },
        "persona not in {PER_LINUX, 0xffffffff}",
        "execution domains weaken ASLR/NX or fake the kernel version",
    )
}

/// `socket` rules, first match wins:
/// 1. with `inet: false`, `AF_INET`/`AF_INET6` are refused;
/// 2. with `unix_sockets: false`, `AF_UNIX` is refused: a pathname socket
///    outside the policy can be connected to (see [`socketpair_rules`] for
///    the pairs that stay allowed);
/// 3. families other than `AF_UNIX`, `AF_INET`, `AF_INET6` and `AF_NETLINK`
///    are refused (an allow-list: `AF_PACKET`, `AF_VSOCK`, `AF_BLUETOOTH`,
///    `AF_KEY`, `AF_ALG`, ... are rarely needed and a rich source of kernel
///    bugs, often reachable through module autoloading);
/// 4. netlink other than `NETLINK_ROUTE` is refused;
/// 5. `AF_INET`/`AF_INET6` sockets other than `SOCK_STREAM`/`SOCK_DGRAM` are
///    refused: `SOCK_RAW` forges packets, `SOCK_PACKET` becomes `AF_PACKET`,
///    `SOCK_SEQPACKET` is SCTP and `SOCK_DCCP` is DCCP;
/// 6. `AF_INET`/`AF_INET6` protocols other than TCP, UDP and ICMP (ping
///    sockets) are refused. Landlock's port rules hook `connect`/`bind` of
///    plain TCP sockets only; MPTCP (`SOCK_STREAM, IPPROTO_MPTCP`), SCTP
///    (which also associates from `sendmsg`), SMC (`IPPROTO_SMC`),
///    UDP-Lite, L2TP and any later protocol would connect to any port.
fn socket_rules(ctx: &Context) -> Vec<RuleSpec> {
    let mut rules = Vec::new();
    if !ctx.inet {
        rules.push(RuleSpec::when(
            sys!("socket"),
            ArgCheck::In {
                arg: 0,
                mask: u32::MAX,
                values: vec![AF_INET, AF_INET6],
            },
            "domain in {AF_INET, AF_INET6}",
            "IP networking is disabled by policy (inet: false)",
        ));
    }
    if !ctx.unix_sockets {
        rules.push(RuleSpec::when(
            sys!("socket"),
            ArgCheck::In {
                arg: 0,
                mask: u32::MAX,
                values: vec![AF_UNIX],
            },
            "domain == AF_UNIX",
            "unix sockets reach servers outside the sandbox (network.unix_sockets: false)",
        ));
    }
    rules.push(RuleSpec::when(
        sys!("socket"),
        ArgCheck::NotIn {
            arg: 0,
            mask: u32::MAX,
            values: vec![AF_UNIX, AF_INET, AF_INET6, AF_NETLINK],
        },
        "domain not in {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK}",
        "other socket families (AF_PACKET, AF_VSOCK, AF_BLUETOOTH, AF_KEY, AF_ALG, ...) are kernel attack surface",
    ));
    rules.push(RuleSpec::when(
        sys!("socket"),
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
        "domain == AF_NETLINK && protocol != NETLINK_ROUTE",
        "netlink beyond routing (audit, sock_diag, uevents, netfilter, ...) exposes host state",
    ));
    if ctx.inet {
        let ip = ArgCheck::In {
            arg: 0,
            mask: u32::MAX,
            values: vec![AF_INET, AF_INET6],
        };
        rules.push(RuleSpec::when(
            sys!("socket"),
            ArgCheck::All(vec![
                ip.clone(),
                ArgCheck::NotIn {
                    arg: 1,
                    mask: SOCK_TYPE_MASK,
                    values: vec![SOCK_STREAM, SOCK_DGRAM],
                },
            ]),
            "domain in {AF_INET, AF_INET6} && type & 0xf not in {SOCK_STREAM, SOCK_DGRAM}",
            "raw IP sockets forge packets and sniff traffic; SCTP and DCCP sockets escape Landlock's TCP port rules",
        ));
        rules.push(RuleSpec::when(
            sys!("socket"),
            ArgCheck::All(vec![
                ip,
                ArgCheck::NotIn {
                    arg: 2,
                    mask: u32::MAX,
                    values: vec![
                        IPPROTO_IP,
                        IPPROTO_ICMP,
                        IPPROTO_TCP,
                        IPPROTO_UDP,
                        IPPROTO_ICMPV6,
                    ],
                },
            ]),
            "domain in {AF_INET, AF_INET6} && protocol not in {0, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6}",
            "MPTCP, SCTP, SMC, UDP-Lite and other IP protocols escape Landlock's TCP port rules",
        ));
    }
    rules
}

/// `sendto`/`sendmsg`/`sendmmsg` with `MSG_FASTOPEN` connect a fresh TCP
/// socket from inside `tcp_sendmsg`, without the `connect` LSM hook that
/// Landlock's port rules use: a workload allowed any TCP port could reach
/// every port. Only reachable with inet sockets allowed; without them the
/// flag means nothing. `TCP_FASTOPEN_CONNECT` + `connect` stays allowed: it
/// goes through `connect` and its hook.
fn fastopen_rules() -> Vec<RuleSpec> {
    [
        (sys!("sendto"), 3),
        (sys!("sendmsg"), 2),
        (sys!("sendmmsg"), 3),
    ]
    .into_iter()
    .map(|(sys, arg)| {
        RuleSpec::when(
            sys,
            ArgCheck::AnyBits {
                arg,
                mask: MSG_FASTOPEN,
            },
            "flags & MSG_FASTOPEN != 0",
            "TCP Fast Open connects without the connect() hook, bypassing Landlock's port rules",
        )
    })
    .collect()
}

/// `listen` on an unbound TCP socket binds an ephemeral port that clients
/// outside can reach, with no Landlock bind check (the kernel autobinds
/// inside `inet_listen`). Seccomp cannot see the socket's family at
/// `listen`, so it is refused whole when the policy allows inet sockets but
/// no bind port (unless `network.allow_listen: true`).
fn listen_rule() -> RuleSpec {
    RuleSpec::deny(
        sys!("listen"),
        "listen() autobinds an ephemeral TCP port without Landlock's bind check (network.bind_tcp is empty; network.allow_listen: true to opt in)",
    )
}

/// Calls with a pid argument, limited to pid 0 (the caller), see
/// [`SELF_ONLY`].
fn self_only_rules() -> Vec<RuleSpec> {
    let mut rules: Vec<RuleSpec> = SELF_ONLY
        .iter()
        .map(|&(sys, arg, reason)| {
            RuleSpec::when(
                sys,
                ArgCheck::NotIn {
                    arg,
                    mask: u32::MAX,
                    values: vec![0],
                },
                "pid != 0",
                reason,
            )
        })
        .collect();
    // `setpriority(which, who, prio)` and `ioprio_set(which, who, prio)`:
    // `who == 0` means the caller, its process group or its user. The user
    // variant reaches every process of the uid, outside the sandbox too.
    // The process group does as well whenever the workload could not start
    // a session of its own: in exec mode under a shell's job control the
    // supervisor already leads its process group, setsid fails, and the
    // group holds the pipeline's other processes. Only the caller itself
    // is left.
    for (sys, which, condition, reason) in [
        (
            sys!("setpriority"),
            PRIO_PROCESS,
            "which != PRIO_PROCESS",
            "renices other processes, its process group or every process of the user; seccomp.allow to opt in",
        ),
        (
            sys!("ioprio_set"),
            IOPRIO_WHO_PROCESS,
            "which != IOPRIO_WHO_PROCESS",
            "changes the I/O priority of other processes, its process group or every process of the user; seccomp.allow to opt in",
        ),
    ] {
        rules.push(RuleSpec::when(
            sys,
            ArgCheck::NotIn {
                arg: 0,
                mask: u32::MAX,
                values: vec![which],
            },
            condition,
            reason,
        ));
        rules.push(RuleSpec::when(
            sys,
            ArgCheck::NotIn {
                arg: 1,
                mask: u32::MAX,
                values: vec![0],
            },
            "who != 0",
            reason,
        ));
    }
    rules
}

/// `socketpair` rules:
/// 1. only `AF_UNIX`: other families (e.g. `AF_TIPC`) would bypass the
///    `socket` family allow-list;
/// 2. with `unix_sockets: false`, only `SOCK_STREAM` and `SOCK_SEQPACKET`
///    pairs. Those are connected to each other for good: `connect` on one
///    fails (`EISCONN`) and an address given to `sendto` is refused or
///    ignored, so the pair reaches nothing outside. A datagram pair is
///    not: `sendto` with a path, or `connect` again, reaches any pathname
///    datagram socket (`/dev/log`, the journal), which Landlock below ABI 9
///    does not check. `SOCK_RAW` is a datagram socket to `AF_UNIX`.
fn socketpair_rules(ctx: &Context) -> Vec<RuleSpec> {
    let mut rules = vec![RuleSpec::when(
        sys!("socketpair"),
        ArgCheck::NotIn {
            arg: 0,
            mask: u32::MAX,
            values: vec![AF_UNIX],
        },
        "domain != AF_UNIX",
        "only AF_UNIX socket pairs are needed",
    )];
    if !ctx.unix_sockets {
        rules.push(RuleSpec::when(
            sys!("socketpair"),
            ArgCheck::NotIn {
                arg: 1,
                mask: SOCK_TYPE_MASK,
                values: vec![SOCK_STREAM, SOCK_SEQPACKET],
            },
            "type not in {SOCK_STREAM, SOCK_SEQPACKET}",
            "unix sockets are disabled by policy (unix_sockets: false): a datagram pair can send to any pathname socket",
        ));
    }
    rules
}

const NS_REASON: &str =
    "creating namespaces not allowed by policy (user namespaces unlock kernel attack surface)";

/// The default rules for the workload.
pub(super) fn default_rules(ctx: &Context) -> Vec<RuleSpec> {
    // Room for every rule up front: grown by doubling, the list (about a
    // hundred rules of 100 bytes) was copied once and its first block,
    // a page or two the launch touched, left unused.
    let mut rules: Vec<RuleSpec> =
        Vec::with_capacity(DENY.len() + IPC_DENY.len() + SELF_ONLY.len() + 24);
    rules.extend(
        DENY.iter()
            .map(|&(sys, reason)| RuleSpec::deny(sys, reason)),
    );
    rules.push(clone3_rule());
    rules.extend(mount_table_rules());
    rules.extend(clone_rule(ctx.allowed_namespaces, NS_REASON));
    rules.extend(unshare_rule(ctx.allowed_namespaces, NS_REASON));
    rules.push(execveat_rule());
    rules.push(ioctl_rule());
    rules.push(ioctl_steal_rule());
    rules.push(inotify_rule());
    rules.push(personality_rule());
    rules.extend(socket_rules(ctx));
    rules.extend(socketpair_rules(ctx));
    if ctx.inet {
        rules.extend(fastopen_rules());
    }
    if !ctx.listen {
        rules.push(listen_rule());
    }
    rules.extend(
        IPC_DENY
            .iter()
            .map(|&(sys, reason)| RuleSpec::deny(sys, reason)),
    );
    rules.extend(self_only_rules());
    rules
}

/// The rules for the supervising parent, see [`super::parent_plan`].
pub(super) fn parent_rules() -> Vec<RuleSpec> {
    let mut rules: Vec<RuleSpec> = DENY
        .iter()
        .map(|&(sys, reason)| RuleSpec::deny(sys, reason))
        .collect();
    rules.push(RuleSpec::deny(
        sys!("unshare"),
        "the supervisor never needs new namespaces",
    ));
    rules.push(clone3_rule());
    rules.extend(clone_rule(0, "the supervisor never needs new namespaces"));
    rules.push(execveat_rule());
    rules.push(ioctl_rule());
    rules.push(ioctl_steal_rule());
    rules.push(personality_rule());
    rules
}
