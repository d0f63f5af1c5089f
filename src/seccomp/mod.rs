//! Seccomp filter for the sandboxed workload and for the supervising parent.
//!
//! The flow is `SeccompConfig` (from the policy, by [`plan_policy`]) ->
//! [`plan`] (a serializable, human-readable list of rules for every
//! supported architecture) -> [`compile`] (a classic BPF program for one
//! architecture, see `bpf.rs` for its shape) -> [`install`] (raw
//! `seccomp(2)`, after the caller has set `no_new_privs`).
//!
//! The filter is a deny-list: syscalls without a rule are allowed without
//! looking at their arguments, so the kernel's per-syscall action cache lets
//! them bypass the filter entirely. Rules deny escape primitives and kernel
//! attack surface that an untrusted workload has no use for; see `rules.rs`
//! for the list and the reason for each entry.
//!
//! Decisions worth knowing about:
//! - `seccomp(2)` itself is allowed: a nested filter can only restrict further,
//!   and sandboxing tools (browsers, build sandboxes) inside the workload need
//!   it.
//! - `memfd_create` is allowed; fileless exec through `execveat(AT_EMPTY_PATH)`
//!   is denied instead.
//! - x32 system calls (x86_64 numbers with bit 30 set) get `errno(EPERM)` (or
//!   `log` in log-only mode) whatever `action` says: they are never legitimate
//!   here, and the kernel this runs on usually lacks x32 anyway.
//! - Foreign-architecture system calls (i386 `int 0x80`, aarch32) kill the
//!   process: the filter only understands the native numbering.
//! - `log: true` turns every deny action, including the two above, into
//!   `SECCOMP_RET_LOG`, for policy authoring. `clone3` keeps `errno(ENOSYS)`
//!   even then, so libc keeps falling back to `clone`, whose namespace flags the
//!   filter can see and log.
//! - Allowing `clone3` through `allow` also gives up the namespace-flag check
//!   for it: BPF cannot read `struct clone_args`.
//! - With inet sockets, the filter closes the TCP entry points that Landlock's
//!   port rules (hooked on `connect`/`bind` of plain TCP sockets) do not see:
//!   `MSG_FASTOPEN` on `send*`, IP protocols other than TCP/UDP/ICMP (MPTCP,
//!   SCTP, ...), and `listen` autobinding when no bind port is granted.
//! - SysV IPC and POSIX message queues are refused, and calls that act on a
//!   pid (`prlimit64`, `sched_setaffinity`, `setpriority`, ...) are limited to
//!   pid 0: none of them is checked by Landlock, and same-uid processes
//!   outside the sandbox would be reachable.

use std::fmt;

use serde::Serialize;
use std::borrow::Cow;

use crate::error::Finding;
use crate::policy::model::{Policy, SeccompAction};

mod bpf;
mod prebuilt;
mod rules;
mod sys;
pub mod tables;

#[cfg(test)]
mod interp;
#[cfg(test)]
mod kernel_tests;
#[cfg(test)]
mod tests;

pub use bpf::{
    BPF_MAXINSNS, RET_ERRNO, RET_KILL_PROCESS, RET_LOG, RET_USER_NOTIF, SockFilter, compile,
};
pub use sys::{action_available, install, set_no_new_privs};
pub use tables::{known, lookup};

/// `EPERM`, the errno returned by deny rules in `errno` mode.
const EPERM: u16 = 1;
/// `ENOSYS`, the errno returned for `clone3`.
const ENOSYS: u16 = 38;

/// A supported system call ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "aarch64")]
    Aarch64,
}

impl Arch {
    /// Every supported architecture.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture this binary was built for.
    ///
    /// Only x86_64 and aarch64 are supported targets; other hosts report
    /// x86_64 so that planning and compiling still work there, but
    /// [`install`] refuses to run on them.
    pub const fn native() -> Arch {
        #[cfg(target_arch = "aarch64")]
        {
            Arch::Aarch64
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            Arch::X86_64
        }
    }

    /// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch`.
    pub const fn audit_arch(self) -> u32 {
        match self {
            // EM_X86_64 (62) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
            Arch::X86_64 => 0xc000_003e,
            // EM_AARCH64 (183) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
            Arch::Aarch64 => 0xc000_00b7,
        }
    }

    /// The name used in plans and policies.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

crate::from_node_enum!(Arch {
    "x86_64" => X86_64,
    "aarch64" => Aarch64,
});

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a matching deny rule does (policy `seccomp.action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyAction {
    /// Fail the call with `EPERM`.
    #[default]
    Errno,
    /// Kill the whole process (`SECCOMP_RET_KILL_PROCESS`).
    Kill,
}

crate::from_node_enum!(DenyAction {
    "errno" => Errno,
    "kill" => Kill,
});

/// The `seccomp` section of a sandbox policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeccompConfig {
    /// Syscalls whose default rules are dropped (e.g. `ptrace` for a debugger).
    pub allow: Vec<String>,
    /// Syscalls denied unconditionally, in addition to the defaults.
    pub deny: Vec<String>,
    /// What a deny rule does.
    pub action: DenyAction,
    /// Log instead of denying (`SECCOMP_RET_LOG`), for policy authoring.
    pub log: bool,
    /// Whether `AF_INET`/`AF_INET6` sockets may be created.
    pub inet: bool,
    /// Whether `socket(AF_UNIX, ..)` is allowed (`socketpair` always is,
    /// but only for stream and seqpacket pairs when it is not).
    pub unix_sockets: bool,
    /// Whether `listen` is allowed.
    pub listen: bool,
    /// Namespaces the workload may create with `unshare`/`clone`: `cgroup`,
    /// `ipc`, `mount` (or `mnt`), `net` (or `network`), `pid`, `time`, `user`,
    /// `uts`. None by default.
    pub allowed_namespaces: Vec<String>,
}

impl Default for SeccompConfig {
    fn default() -> Self {
        SeccompConfig {
            allow: Vec::new(),
            deny: Vec::new(),
            action: DenyAction::Errno,
            log: false,
            inet: true,
            unix_sockets: true,
            listen: true,
            allowed_namespaces: Vec::new(),
        }
    }
}

/// The verdict of a rule, in machine form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// `SECCOMP_RET_ERRNO` with this errno.
    Errno(u16),
    /// `SECCOMP_RET_KILL_PROCESS`.
    Kill,
    /// `SECCOMP_RET_LOG`: allow and log.
    Log,
    /// `SECCOMP_RET_USER_NOTIF`: the call waits for the `learn` parent,
    /// which records it and lets it continue.
    Notify,
}

impl RuleAction {
    /// The label used in [`PlannedRule::action`]: `errno(EPERM)`,
    /// `errno(ENOSYS)`, `kill` or `log`.
    pub fn label(self) -> Cow<'static, str> {
        match self {
            RuleAction::Errno(EPERM) => "errno(EPERM)".into(),
            RuleAction::Errno(ENOSYS) => "errno(ENOSYS)".into(),
            RuleAction::Errno(n) => format!("errno({n})").into(),
            RuleAction::Kill => "kill".into(),
            RuleAction::Log => "log".into(),
            RuleAction::Notify => "notify".into(),
        }
    }
}

/// A condition on the arguments of a syscall, in machine form.
///
/// Every check looks at the low 32 bits of the argument only (`args[i]` at
/// offset `16 + 8 * i` of `seccomp_data`, low word first on both supported
/// little-endian architectures). That is exact for the arguments used here:
/// the kernel declares them `int`/`unsigned int` (socket, ioctl request,
/// execveat flags, personality, `send*` flags, pids and `which`/`who`) and
/// ignores the high half, or truncates them
/// (`clone` flags go through `lower_32_bits`), or rejects high bits with
/// `EINVAL` (`unshare`). Comparing all 64 bits would be wrong for those: a
/// caller could set junk in the high half to dodge an equality test.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgCheck {
    /// `low32(args[arg]) & mask != 0`
    AnyBits { arg: u8, mask: u32 },
    /// `low32(args[arg]) & mask` is one of `values`
    In {
        arg: u8,
        mask: u32,
        values: Vec<u32>,
    },
    /// `low32(args[arg]) & mask` is none of `values`
    NotIn {
        arg: u8,
        mask: u32,
        values: Vec<u32>,
    },
    /// every check holds
    All(Vec<ArgCheck>),
}

/// One rule of an [`ArchPlan`]. Rules for the same syscall are tried in order
/// and the first match wins; a syscall without a matching rule is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRule {
    /// Syscall name. The texts of a rule are mostly the rule table's own
    /// (a launch plans a hundred rules): borrowed, not copied.
    pub syscall: Cow<'static, str>,
    /// Syscall number on the plan's architecture.
    pub nr: u32,
    /// `errno(EPERM)`, `errno(ENOSYS)`, `kill` or `log`.
    pub action: Cow<'static, str>,
    /// Human-readable argument condition; `None` means unconditional.
    pub condition: Option<Cow<'static, str>>,
    /// Why the rule exists.
    pub reason: Cow<'static, str>,
    /// `default`, `policy.deny` or `parent`.
    pub origin: Cow<'static, str>,
    /// The action in machine form (what [`compile`] uses).
    #[serde(skip)]
    pub verdict: RuleAction,
    /// The condition in machine form (what [`compile`] uses).
    #[serde(skip)]
    pub check: Option<ArgCheck>,
}

/// The rules for one architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchPlan {
    pub arch: Arch,
    /// Sorted by syscall number; rules of one syscall keep their order.
    /// Empty in a launch's plan of a prebuilt filter ([`plan_for_launch`]):
    /// a launch installs the program and reports the count.
    pub rules: Vec<PlannedRule>,
    /// How many rules the program holds: `rules.len()`, also where the
    /// launch left `rules` out.
    #[serde(skip)]
    pub rule_count: usize,
    /// Length of the compiled BPF program.
    pub instructions: usize,
    /// The compiled program, kept from planning so a launch compiles once
    /// ([`install_plan`]); not part of the plan's output.
    #[serde(skip)]
    pub program: Vec<SockFilter>,
}

impl ArchPlan {
    /// Compiles this plan, see [`compile`].
    pub fn program(&self, log_only: bool) -> Vec<SockFilter> {
        compile(self, log_only)
    }

    /// The program planning compiled, or a fresh compile when the plan
    /// was built another way (the `log_only` of planning is the plan's).
    pub fn compiled(&self, log_only: bool) -> std::borrow::Cow<'_, [SockFilter]> {
        if self.program.is_empty() {
            std::borrow::Cow::Owned(compile(self, log_only))
        } else {
            std::borrow::Cow::Borrowed(&self.program)
        }
    }
}

/// The filter for every supported architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeccompPlan {
    pub arches: Vec<ArchPlan>,
    /// Deny actions are `SECCOMP_RET_LOG` (policy `seccomp.log`).
    pub log_only: bool,
    /// The configured deny action.
    pub action: DenyAction,
    /// Whether `AF_INET`/`AF_INET6` sockets are allowed.
    pub inet: bool,
    /// Whether `socket(AF_UNIX, ..)` is allowed.
    pub unix_sockets: bool,
    /// Whether `listen` is allowed.
    pub listen: bool,
    /// Namespaces that may be created, canonical names, sorted.
    pub allowed_namespaces: Vec<String>,
    /// Default rules dropped by `allow`, by syscall name.
    pub allowed_defaults: Vec<String>,
}

impl SeccompPlan {
    /// The plan for `arch`.
    pub fn arch(&self, arch: Arch) -> Option<&ArchPlan> {
        self.arches.iter().find(|p| p.arch == arch)
    }

    /// The plan for [`Arch::native`].
    pub fn native(&self) -> Option<&ArchPlan> {
        self.arch(Arch::native())
    }
}

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp.{field}[{index}]: {message}")]
    UnknownSyscall {
        field: &'static str,
        index: usize,
        message: String,
    },
    #[error("syscall \"{0}\" is in both seccomp.allow and seccomp.deny")]
    AllowDenyConflict(String),
    #[error(
        "unknown namespace \"{0}\" in seccomp.allowed_namespaces (expected cgroup, ipc, mount, net, pid, time, user or uts)"
    )]
    UnknownNamespace(String),
    #[error("seccomp program for {arch} has {len} instructions, the kernel accepts at most {max}")]
    ProgramTooLarge { arch: Arch, len: usize, max: usize },
    #[error("seccomp program is empty")]
    EmptyProgram,
    #[error("internal error while generating the seccomp program: {0}")]
    Internal(String),
    #[error("seccomp filters are not supported on this architecture")]
    UnsupportedArch,
    #[error("{}", sys::install_error_text(*.errno))]
    Install { errno: i32 },
    #[error(
        "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER) failed: {}",
        std::io::Error::from_raw_os_error(*.errno)
    )]
    InstallListener { errno: i32 },
    #[error("prctl(PR_SET_NO_NEW_PRIVS) failed: {}", std::io::Error::from_raw_os_error(*.errno))]
    NoNewPrivs { errno: i32 },
}

/// Checks syscall names from a policy; returns the index and a message for
/// every name that is not a syscall on any supported architecture, e.g.
/// `unknown syscall "ptrase" (did you mean "ptrace"?)`.
pub fn validate_names(names: &[String]) -> Vec<(usize, String)> {
    names
        .iter()
        .enumerate()
        .filter(|(_, name)| !known(name))
        .enumerate()
        .map(|(n, (i, name))| {
            // Only the first errors are shown: a suggestion for the rest
            // would be work no one reads.
            let message = if n < crate::yaml::MAX_ERRORS {
                unknown_message(name)
            } else {
                format!("unknown syscall \"{name}\"")
            };
            (i, message)
        })
        .collect()
}

fn unknown_message(name: &str) -> String {
    match suggest(name) {
        Some(best) => format!("unknown syscall \"{name}\" (did you mean \"{best}\"?)"),
        None => format!("unknown syscall \"{name}\""),
    }
}

/// The closest known name within an edit distance of 2, if any.
fn suggest(name: &str) -> Option<&'static str> {
    // No syscall name is near this long; the distance would cost
    // name.len() times each candidate's length for nothing.
    if name.len() > 64 {
        return None;
    }
    let limit = if name.len() <= 4 { 1 } else { 2 };
    // Lengths further apart than the limit are further apart in edits
    // (in characters: the candidates are ASCII).
    let chars = name.chars().count();
    tables::all_names()
        .into_iter()
        .filter(|cand| cand.len().abs_diff(chars) <= limit)
        .map(|cand| (edit_distance(name, cand), cand))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, cand)| cand)
}

/// Levenshtein distance, one row at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for ((&cb, diag), up) in b.iter().zip(&prev).zip(prev.iter().skip(1)) {
            let left = cur.last().copied().unwrap_or(usize::MAX - 1);
            let best = (diag + usize::from(ca != cb)).min(up + 1).min(left + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// Same as [`known`]: whether `name` is a syscall on some supported
/// architecture (for policy validation).
pub fn known_syscall(name: &str) -> bool {
    known(name)
}

/// What [`install_plan`] installed, for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub arch: Arch,
    pub rules: usize,
    pub instructions: usize,
    pub log_only: bool,
}

/// [`install_plan`] with `SECCOMP_FILTER_FLAG_NEW_LISTENER` (for `learn`,
/// whose plan has notify rules): also returns the notification listener.
pub fn install_plan_with_listener(
    plan: &SeccompPlan,
) -> Result<(Status, std::os::fd::OwnedFd), SeccompError> {
    let native = plan.native().ok_or(SeccompError::UnsupportedArch)?;
    let prog = native.compiled(plan.log_only);
    let listener = sys::install_with_listener(&prog)?;
    let status = Status {
        arch: native.arch,
        rules: native.rule_count,
        instructions: prog.len(),
        log_only: plan.log_only,
    };
    Ok((status, listener))
}

/// Compiles the [`Arch::native`] part of `plan` and installs it with
/// [`install`]. `no_new_privs` must already be set.
pub fn install_plan(plan: &SeccompPlan) -> Result<Status, SeccompError> {
    let native = plan.native().ok_or(SeccompError::UnsupportedArch)?;
    let prog = native.compiled(plan.log_only);
    install(&prog)?;
    Ok(Status {
        arch: native.arch,
        rules: native.rule_count,
        instructions: prog.len(),
        log_only: plan.log_only,
    })
}

/// Installs the small filter of the PID-1 supervising parent
/// ([`parent_plan`]). `no_new_privs` must already be set.
pub fn install_parent() -> Result<Status, SeccompError> {
    // The table's program when it has one: the parent needs no rule list.
    let (prog, rules) = match prebuilt::parent() {
        Some(found) => found,
        None => {
            let p = parent_plan();
            (p.program, p.rule_count)
        }
    };
    install(&prog)?;
    Ok(Status {
        arch: Arch::native(),
        rules,
        instructions: prog.len(),
        log_only: false,
    })
}

/// The seccomp part of the plan, with its findings.
pub struct Planned {
    /// `None` when the filter could not be planned (`blockers` says why).
    pub plan: Option<SeccompPlan>,
    pub blockers: Vec<Finding>,
    pub dropped: Vec<Finding>,
}

/// Plan the filter for `policy`'s `seccomp` and `network` sections.
/// `inet`: the plan allows inet sockets; `tcp_enforced`: Landlock checks
/// TCP bind and connect on this host (both decided by the Landlock
/// planner); `native_only`: plan this machine's architecture alone (a
/// launch installs nothing else). Pure.
pub fn plan_policy(policy: &Policy, inet: bool, tcp_enforced: bool, native_only: bool) -> Planned {
    let net = policy.network.clone().unwrap_or_default();
    // An unbound socket's listen() autobinds an ephemeral port without
    // Landlock's bind check; seccomp cannot tell a TCP socket at listen, so
    // listen is refused outright unless the policy grants a bind port or
    // opts in. Without inet sockets only unix sockets can listen.
    let listen = !inet || !net.bind_tcp.is_empty() || net.allow_listen;
    let sc = policy.seccomp.clone().unwrap_or_default();
    let mut blockers = Vec::new();
    let mut dropped = Vec::new();
    let listen_allowed = listen || sc.allow.iter().any(|n| n == "listen");
    let log = sc.log;
    let allowed_back = allowed_back_lines(
        &sc.allow,
        &rules::Context {
            inet,
            unix_sockets: net.unix_sockets,
            listen,
            allowed_namespaces: 0,
        },
    );
    let cfg = SeccompConfig {
        allow: sc.allow,
        deny: sc.deny,
        action: match sc.action {
            SeccompAction::Errno => DenyAction::Errno,
            SeccompAction::Kill => DenyAction::Kill,
        },
        log: sc.log,
        inet,
        unix_sockets: net.unix_sockets,
        listen,
        allowed_namespaces: Vec::new(),
    };
    let planned = if native_only {
        plan_for_launch(&cfg)
    } else {
        plan_for(&cfg, &Arch::ALL)
    };
    let plan = match planned {
        Ok(p) => Some(p),
        Err(e) => {
            blockers.push(Finding::new("seccomp", e.to_string()));
            None
        }
    };
    if inet && tcp_enforced && listen_allowed {
        let why = if !listen {
            "seccomp.allow: [listen]"
        } else if net.allow_listen {
            "network.allow_listen: true"
        } else {
            "network.bind_tcp grants a port"
        };
        dropped.push(Finding::new(
            "not enforced",
            format!(
                "listen() on an unbound TCP socket takes an ephemeral port without a Landlock bind check ({why})"
            ),
        ));
    }
    dropped.extend(allowed_back);
    if log {
        dropped.push(Finding::new(
            "seccomp",
            "log mode: denied syscalls are logged, not refused (seccomp.log: true)",
        ));
    }
    Planned {
        plan,
        blockers,
        dropped,
    }
}

/// What `seccomp.allow` gives up: for each name it allows back, the reasons
/// of the default rules it drops (the socket family checks, the namespace
/// flags, TCP Fast Open, ...), so that the plan's other sections, which
/// describe the defaults, are never the only word on it.
fn allowed_back_lines(allow: &[String], ctx: &rules::Context) -> Vec<Finding> {
    if allow.is_empty() {
        return Vec::new();
    }
    let defaults = rules::default_rules(ctx);
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for name in allow {
        // listen has a line of its own (the ephemeral port it autobinds).
        if name == "listen" || seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        let mut reasons: Vec<&str> = Vec::new();
        for r in defaults.iter().filter(|r| r.name() == name.as_str()) {
            if !reasons.contains(&r.reason) {
                reasons.push(r.reason);
            }
        }
        if !reasons.is_empty() {
            // Without a network policy Landlock still refuses plain TCP
            // connect and bind, which reads as if IP were closed: say what
            // gets past it.
            // io_uring makes sockets (IORING_OP_SOCKET) without socket(2).
            let makes_sockets = name == "socket" || name == "io_uring_setup";
            let past_landlock = if makes_sockets && !ctx.inet {
                "; IP sockets can be created although no network policy grants any: TCP Fast Open (sendto/sendmsg with MSG_FASTOPEN), MPTCP and SCTP connect past Landlock's TCP rules, UDP reaches any address, and listen takes an ephemeral TCP port"
            } else {
                ""
            };
            out.push(Finding::new(
                "seccomp.allow",
                format!(
                    "{name} is allowed back without its default rules, so these are not refused: {}{past_landlock}",
                    reasons.join("; ")
                ),
            ));
        }
    }
    out
}

/// Builds the plan for every supported architecture.
///
/// `allow` drops every default rule of the named syscalls, `deny` adds an
/// unconditional rule with `action` (replacing the defaults of that syscall;
/// for `clone3` that means the deny action instead of `ENOSYS`, which stops
/// libc from falling back to `clone`).
/// Names must be known on some architecture; a name absent on one
/// architecture simply has no rule there.
pub fn plan(cfg: &SeccompConfig) -> Result<SeccompPlan, SeccompError> {
    plan_for(cfg, &Arch::ALL)
}

/// [`plan`] for the architectures `arches` only. A launch plans and
/// compiles the native one alone (the only filter it installs); the `plan`
/// command shows both.
pub fn plan_for(cfg: &SeccompConfig, arches_wanted: &[Arch]) -> Result<SeccompPlan, SeccompError> {
    plan_arches(cfg, arches_wanted, false)
}

/// The plan a launch installs: [`plan_for`] this machine's architecture,
/// except that for the default rules (no `allow`, `deny`, namespaces,
/// `log` or `kill`) it takes the prebuilt program of the same
/// configuration and leaves the rule list out: building the list of a
/// hundred rules only to find the table's entry by it was a tenth of a
/// launch's instructions. The table is generated from [`plan_for`] itself,
/// and its test fails when the two differ (see `prebuilt.rs`).
pub fn plan_for_launch(cfg: &SeccompConfig) -> Result<SeccompPlan, SeccompError> {
    plan_arches(cfg, &[Arch::native()], true)
}

fn plan_arches(
    cfg: &SeccompConfig,
    arches_wanted: &[Arch],
    launch: bool,
) -> Result<SeccompPlan, SeccompError> {
    for (field, names) in [("allow", &cfg.allow), ("deny", &cfg.deny)] {
        if let Some((index, message)) = validate_names(names).into_iter().next() {
            return Err(SeccompError::UnknownSyscall {
                field,
                index,
                message,
            });
        }
    }
    if let Some(name) = cfg.allow.iter().find(|n| cfg.deny.contains(n)) {
        return Err(SeccompError::AllowDenyConflict(name.clone()));
    }
    let (ns_mask, allowed_namespaces) = rules::parse_namespaces(&cfg.allowed_namespaces)
        .map_err(|name| SeccompError::UnknownNamespace(name.to_owned()))?;
    let prebuilt = (launch
        && cfg.allow.is_empty()
        && cfg.deny.is_empty()
        && ns_mask == 0
        && !cfg.log
        && cfg.action == DenyAction::Errno)
        .then(|| prebuilt::for_defaults(cfg.inet, cfg.unix_sockets, cfg.listen))
        .flatten();
    let (arches, allowed_defaults) = match (prebuilt, arches_wanted) {
        (Some((program, rule_count)), &[arch]) => {
            let plan = ArchPlan {
                arch,
                rules: Vec::new(),
                rule_count,
                instructions: program.len(),
                program,
            };
            (vec![plan], Vec::new())
        }
        _ => all_rules(cfg, arches_wanted, ns_mask)?,
    };
    Ok(SeccompPlan {
        arches,
        log_only: cfg.log,
        action: cfg.action,
        inet: cfg.inet,
        unix_sockets: cfg.unix_sockets,
        listen: cfg.listen,
        allowed_namespaces,
        allowed_defaults,
    })
}

/// Each architecture's rules and program for `cfg`, and the default rules
/// `allow` dropped (by syscall name). A function of its own: a launch of
/// the default rules does not call it, and inlined it made the binary
/// larger.
#[inline(never)]
fn all_rules(
    cfg: &SeccompConfig,
    arches_wanted: &[Arch],
    ns_mask: u32,
) -> Result<(Vec<ArchPlan>, Vec<String>), SeccompError> {
    let defaults = rules::default_rules(&rules::Context {
        inet: cfg.inet,
        unix_sockets: cfg.unix_sockets,
        listen: cfg.listen,
        allowed_namespaces: ns_mask,
    });
    let deny_action = if cfg.log {
        RuleAction::Log
    } else {
        match cfg.action {
            DenyAction::Errno => RuleAction::Errno(EPERM),
            DenyAction::Kill => RuleAction::Kill,
        }
    };

    let mut allowed_defaults: Vec<String> = defaults
        .iter()
        .filter(|r| cfg.allow.iter().any(|a| a == r.name()))
        .map(|r| r.name().to_owned())
        .collect();
    allowed_defaults.dedup();
    let mut specs = defaults;
    specs.retain(|r| !cfg.allow.iter().chain(&cfg.deny).any(|n| n == r.name()));
    let mut denied: Vec<&str> = Vec::with_capacity(cfg.deny.len());
    for name in &cfg.deny {
        if !denied.contains(&name.as_str()) {
            denied.push(name);
        }
    }

    let mut arches = Vec::with_capacity(arches_wanted.len());
    for (i, &arch) in arches_wanted.iter().enumerate() {
        // The last (for a launch, the only) architecture takes the specs
        // instead of a copy.
        let specs = if i + 1 == arches_wanted.len() {
            std::mem::take(&mut specs)
        } else {
            specs.clone()
        };
        let rules = arch_rules(arch, specs, &denied, deny_action, "default");
        let mut plan = ArchPlan {
            arch,
            rule_count: rules.len(),
            rules,
            instructions: 0,
            program: Vec::new(),
        };
        let prog = compile_plan(&plan, cfg.log)?;
        if prog.len() > BPF_MAXINSNS {
            return Err(SeccompError::ProgramTooLarge {
                arch,
                len: prog.len(),
                max: BPF_MAXINSNS,
            });
        }
        plan.instructions = prog.len();
        plan.program = prog;
        arches.push(plan);
    }
    Ok((arches, allowed_defaults))
}

/// The rules of `specs`, then one unconditional rule with `deny_action`
/// for each name of `denied`, that exist on `arch`, sorted by number. Rules
/// of one syscall keep that order: the first match wins.
fn arch_rules(
    arch: Arch,
    specs: Vec<rules::RuleSpec>,
    denied: &[&str],
    deny_action: RuleAction,
    origin: &'static str,
) -> Vec<PlannedRule> {
    // Sorts one key per rule instead of the rules: `nr * count + index`,
    // where an index below `specs.len()` is a spec and the others are
    // names of `denied`. Keys are distinct and ordered by number first,
    // then by index, so the unstable sort keeps the list's order within
    // a syscall.
    let count = specs.len() + denied.len();
    let numbers = specs
        .iter()
        .map(|r| r.sys.nr(arch))
        .chain(denied.iter().map(|name| lookup(arch, name)));
    let mut keys: Vec<usize> = numbers
        .enumerate()
        .filter_map(|(i, nr)| Some(nr? as usize * count + i))
        .collect();
    keys.sort_unstable();
    let n_specs = specs.len();
    let mut specs: Vec<Option<rules::RuleSpec>> = specs.into_iter().map(Some).collect();
    // A loop that pushes, not a collect: a rule is large, and each copy
    // of it on the way into the list costs.
    let mut rules = Vec::with_capacity(keys.len());
    for key in keys {
        let (nr, i) = (u32::try_from(key / count).unwrap_or(u32::MAX), key % count);
        match specs.get_mut(i) {
            Some(spec) => {
                if let Some(spec) = spec.take() {
                    rules.push(spec.plan(nr, deny_action, origin));
                }
            }
            None => {
                if let Some(name) = denied.get(i - n_specs) {
                    rules.push(PlannedRule {
                        syscall: (*name).to_owned().into(),
                        nr,
                        action: deny_action.label(),
                        condition: None,
                        reason: "denied by policy".into(),
                        origin: "policy.deny".into(),
                        verdict: deny_action,
                        check: None,
                    });
                }
            }
        }
    }
    rules
}

/// The program for `plan`: prebuilt when the table has it (see
/// `prebuilt.rs`), compiled otherwise.
fn compile_plan(plan: &ArchPlan, log_only: bool) -> Result<Vec<SockFilter>, SeccompError> {
    match prebuilt::find(plan, log_only) {
        Some(program) => Ok(program),
        None => bpf::try_compile(plan, log_only),
    }
}

/// The `learn` variant of `plan`: every rule of `plan` stays as it is, in
/// front, and each syscall of `names` that exists on an architecture gets
/// one more rule, unconditional, with [`RuleAction::Notify`]. Rules are
/// tried in order and the first match wins, so a call the plan denies
/// (unconditionally or by its arguments) is denied exactly as before; only
/// what the plan would have allowed reaches the notification.
pub fn with_notify(plan: &SeccompPlan, names: &[&str]) -> Result<SeccompPlan, SeccompError> {
    let mut out = plan.clone();
    for arch_plan in &mut out.arches {
        for name in names {
            if let Some(nr) = lookup(arch_plan.arch, name) {
                arch_plan.rules.push(PlannedRule {
                    syscall: (*name).to_owned().into(),
                    nr,
                    action: RuleAction::Notify.label(),
                    condition: None,
                    reason: "observed by learn".into(),
                    origin: "learn".into(),
                    verdict: RuleAction::Notify,
                    check: None,
                });
            }
        }
        // Stable: the plan's own rules of a syscall stay in front.
        crate::sort::sort_by_key(&mut arch_plan.rules, |r| r.nr);
        let prog = bpf::try_compile(arch_plan, plan.log_only)?;
        if prog.len() > BPF_MAXINSNS {
            return Err(SeccompError::ProgramTooLarge {
                arch: arch_plan.arch,
                len: prog.len(),
                max: BPF_MAXINSNS,
            });
        }
        arch_plan.instructions = prog.len();
        arch_plan.program = prog;
    }
    Ok(out)
}

/// The filter for the PID-1 supervising parent on [`Arch::native`].
///
/// The parent only waits, forwards signals and reaps, so this is a small
/// deny-list: the escape primitives of the default set, `unshare` entirely,
/// `clone` with namespace flags, `clone3` (ENOSYS), the terminal ioctls,
/// `personality` changes and fileless exec. It does not deny `execve`, so it
/// may be installed before or after forking the workload.
pub fn parent_plan() -> ArchPlan {
    parent_plan_for(Arch::native())
}

/// [`parent_plan`] for any architecture.
pub fn parent_plan_for(arch: Arch) -> ArchPlan {
    let deny = RuleAction::Errno(EPERM);
    let rules = arch_rules(arch, rules::parent_rules(), &[], deny, "parent");
    let mut plan = ArchPlan {
        arch,
        rule_count: rules.len(),
        rules,
        instructions: 0,
        program: Vec::new(),
    };
    plan.program = prebuilt::find(&plan, false).unwrap_or_else(|| compile(&plan, false));
    plan.instructions = plan.program.len();
    plan
}
