//! Tests of the tables, the planner and the generated programs (run in the
//! interpreter of `interp.rs`, checked against independent oracles).

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::bpf::{RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_LOG};
use super::interp::{SeccompData, disassemble, run, run_const, validate};
use super::*;

const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
const X32: u32 = 0x4000_0000;
const EPERM_RET: u32 = RET_ERRNO | 1;
const ENOSYS_RET: u32 = RET_ERRNO | 38;

fn low(v: u64) -> u32 {
    (v & 0xffff_ffff) as u32
}

fn data(arch: Arch, nr: u32, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr,
        arch: arch.audit_arch(),
        ip: 0x7fff_dead_beef,
        args,
    }
}

fn verdict(prog: &[SockFilter], d: &SeccompData) -> u32 {
    match run(prog, d) {
        Ok((ret, _)) => ret,
        Err(e) => panic!("interpreter error {e} for {d:?}\n{}", disassemble(prog)),
    }
}

// ---------------------------------------------------------------------------
// Oracle 1: evaluate the planned rules directly.

fn eval(check: &ArgCheck, args: &[u64; 6]) -> bool {
    let arg = |i: u8| low(args[usize::from(i)]);
    match check {
        ArgCheck::AnyBits { arg: i, mask } => arg(*i) & mask != 0,
        ArgCheck::In {
            arg: i,
            mask,
            values,
        } => values.contains(&(arg(*i) & mask)),
        ArgCheck::NotIn {
            arg: i,
            mask,
            values,
        } => !values.contains(&(arg(*i) & mask)),
        ArgCheck::All(checks) => checks.iter().all(|c| eval(c, args)),
    }
}

fn action_ret(action: RuleAction, log_only: bool) -> u32 {
    match action {
        RuleAction::Errno(38) => ENOSYS_RET,
        RuleAction::Notify => super::RET_USER_NOTIF,
        _ if log_only => RET_LOG,
        RuleAction::Errno(e) => RET_ERRNO | u32::from(e),
        RuleAction::Kill => RET_KILL_PROCESS,
        RuleAction::Log => RET_LOG,
    }
}

fn oracle_plan(plan: &ArchPlan, log_only: bool, d: &SeccompData) -> u32 {
    if d.arch != plan.arch.audit_arch() {
        return if log_only { RET_LOG } else { RET_KILL_PROCESS };
    }
    if plan.arch == Arch::X86_64 && d.nr & X32 != 0 {
        return if log_only { RET_LOG } else { EPERM_RET };
    }
    plan.rules
        .iter()
        .filter(|r| r.nr == d.nr)
        .find(|r| r.check.as_ref().is_none_or(|c| eval(c, &d.args)))
        .map_or(RET_ALLOW, |r| action_ret(r.verdict, log_only))
}

// ---------------------------------------------------------------------------
// Oracle 2: the default policy written out by hand from the specification,
// by syscall name, without using rules.rs.

const SPEC_DENY: &[&str] = &[
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "lookup_dcookie",
    "fanotify_init",
    "lsm_set_self_attr",
    "modify_ldt",
    "uselib",
    "_sysctl",
    "nfsservctl",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "keyctl",
    "add_key",
    "request_key",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    "setns",
    "open_by_handle_at",
    "name_to_handle_at",
    "quotactl",
    "quotactl_fd",
    "iopl",
    "ioperm",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "sethostname",
    "setdomainname",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "syslog",
    "vhangup",
    "process_madvise",
    "process_mrelease",
];

/// SysV IPC and POSIX message queues, refused by default.
const SPEC_IPC: &[&str] = &[
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
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
];

/// Calls whose first argument is a pid, allowed only for pid 0.
const SPEC_SELF_ONLY: &[&str] = &[
    "prlimit64",
    "sched_setaffinity",
    "sched_setscheduler",
    "sched_setparam",
    "sched_setattr",
    "migrate_pages",
    "move_pages",
    "get_robust_list",
];

/// The policy inputs of the specification.
#[derive(Debug, Clone, Copy)]
struct Knobs {
    inet: bool,
    unix: bool,
    listen: bool,
    allowed_ns: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    Allow,
    Deny,
    Enosys,
}

const NS_ALL: u32 = 0x0000_0080
    | 0x0002_0000
    | 0x0200_0000
    | 0x0400_0000
    | 0x0800_0000
    | 0x1000_0000
    | 0x2000_0000
    | 0x4000_0000;

fn spec(name: &str, args: &[u64; 6], k: Knobs) -> Spec {
    let a = |i: usize| low(args[i]);
    let deny_if = |c: bool| if c { Spec::Deny } else { Spec::Allow };
    if SPEC_DENY.contains(&name) || SPEC_IPC.contains(&name) {
        return Spec::Deny;
    }
    if SPEC_SELF_ONLY.contains(&name) {
        return deny_if(a(0) != 0);
    }
    const MSG_FASTOPEN: u32 = 0x2000_0000;
    match name {
        "clone3" | "listmount" | "statmount" => Spec::Enosys,
        // CLONE_NEWTIME is the exit-signal byte for clone(2).
        "clone" => deny_if(a(0) & NS_ALL & !k.allowed_ns & !0x80 != 0),
        "unshare" => deny_if(a(0) & NS_ALL & !k.allowed_ns != 0),
        "execveat" => deny_if(a(4) & 0x1000 != 0),
        // TIOCSTI, TIOCLINUX, TIOCSETD, TIOCCONS, TIOCVHANGUP; TIOCSCTTY
        // with 1 (steal)
        "ioctl" => deny_if(
            [0x5412, 0x541c, 0x5423, 0x541d, 0x5437].contains(&a(1))
                || (a(1) == 0x540e && a(2) == 1),
        ),
        "inotify_add_watch" => Spec::Deny,
        "personality" => deny_if(a(0) != 0 && a(0) != 0xffff_ffff),
        // with unix_sockets: false, stream and seqpacket pairs only
        "socketpair" => deny_if(a(0) != 1 || (!k.unix && ![1, 5].contains(&(a(1) & 0xf)))),
        "socket" => {
            let (domain, ty, proto) = (a(0), a(1) & 0xf, a(2));
            let ip = domain == 2 || domain == 10;
            deny_if(
                (!k.inet && ip)
                    || (!k.unix && domain == 1)
                    || ![1, 2, 10, 16].contains(&domain)
                    || (domain == 16 && proto != 0)
                    // only TCP, UDP and ping sockets
                    || (ip && !(ty == 1 || ty == 2))
                    || (ip && ![0, 1, 6, 17, 58].contains(&proto)),
            )
        }
        "sendto" | "sendmmsg" => deny_if(k.inet && a(3) & MSG_FASTOPEN != 0),
        "sendmsg" => deny_if(k.inet && a(2) & MSG_FASTOPEN != 0),
        "listen" => deny_if(!k.listen),
        // PRIO_PROCESS 0 of the caller only
        "setpriority" => deny_if(a(0) != 0 || a(1) != 0),
        // IOPRIO_WHO_PROCESS 1 of the caller only
        "ioprio_set" => deny_if(a(0) != 1 || a(1) != 0),
        _ => Spec::Allow,
    }
}

fn spec_ret(arch: Arch, cfg: &SeccompConfig, ns_mask: u32, d: &SeccompData) -> u32 {
    let deny = if cfg.log {
        RET_LOG
    } else if cfg.action == DenyAction::Kill {
        RET_KILL_PROCESS
    } else {
        EPERM_RET
    };
    if d.arch != arch.audit_arch() {
        return if cfg.log { RET_LOG } else { RET_KILL_PROCESS };
    }
    if arch == Arch::X86_64 && d.nr & X32 != 0 {
        return if cfg.log { RET_LOG } else { EPERM_RET };
    }
    let Some(name) = tables::name_of(arch, d.nr) else {
        return RET_ALLOW;
    };
    let knobs = Knobs {
        inet: cfg.inet,
        unix: cfg.unix_sockets,
        listen: cfg.listen,
        allowed_ns: ns_mask,
    };
    match spec(name, &d.args, knobs) {
        Spec::Allow => RET_ALLOW,
        Spec::Deny => deny,
        Spec::Enosys => ENOSYS_RET,
    }
}

// ---------------------------------------------------------------------------
// Argument values.

fn interesting_u32() -> Vec<u32> {
    let mut v: Vec<u32> = vec![0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];
    v.extend(0..64);
    v.extend((0..32).map(|b| 1u32 << b));
    v.extend([
        0x5411, 0x5412, 0x5413, 0x541b, 0x541c, 0x541d, 0x541e, 0x540d, 0x540e, 0x540f, 0x5422,
        0x5423, 0x5424, 0x5436, 0x5437, 0x5438, 0x1000, 0x1100, 0x0008, 0x20000, 0x20008, 0x40000,
        0x0400000,
    ]);
    // IP protocols (ICMPv6, SCTP, UDP-Lite, SMC, MPTCP) and send flags
    // around MSG_FASTOPEN (with MSG_NOSIGNAL, MSG_DONTWAIT).
    v.extend([
        58,
        132,
        136,
        256,
        262,
        0x2000_4040,
        0x1fff_ffff,
        0xdfff_ffff,
    ]);
    for ty in 0..16 {
        v.extend([ty | 0x800, ty | 0x80000, ty | 0x80800, ty | 0x10]);
    }
    let ns = [
        0x80,
        0x20000,
        0x0200_0000,
        0x0400_0000,
        0x0800_0000,
        0x1000_0000,
        0x2000_0000,
        0x4000_0000,
    ];
    for subset in 0u32..256 {
        let mask: u32 = (0..8)
            .filter(|b| subset & (1 << b) != 0)
            .map(|b| ns[b])
            .fold(0, |a, f| a | f);
        // plain, with SIGCHLD, with thread-creation flags
        v.extend([mask, mask | 17, mask | 0x003d_0f00]);
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn widen(v: &[u32]) -> Vec<u64> {
    let mut out: Vec<u64> = v
        .iter()
        .flat_map(|&x| {
            let x = u64::from(x);
            [x, x | 1 << 32, x | 0xffff_ffff_0000_0000, x << 32]
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Argument vectors for a syscall with rules: every interesting value in
/// every argument position, plus a cross product over the first three.
fn arg_vectors() -> Vec<[u64; 6]> {
    let singles = widen(&interesting_u32());
    let mut out = vec![[0; 6], [u64::MAX; 6]];
    for i in 0..6 {
        for &v in &singles {
            let mut a = [0u64; 6];
            a[i] = v;
            out.push(a);
        }
    }
    // Cross product over the first three arguments (socket-shaped), with
    // high-half junk on a few values only to keep the count down.
    let with_high = |plain: Vec<u64>, high: &[u64]| -> Vec<u64> {
        let mut v = plain;
        for &x in high {
            v.extend([x | 1 << 32, x | 0xffff_ffff_0000_0000]);
        }
        v
    };
    let domains = with_high((0..48).chain([0xffff_ffff]).collect(), &[1, 2, 10, 16, 17]);
    let types = with_high(
        (0..16).chain((0..16).map(|t| t | 0x80800)).collect(),
        &[1, 3, 10],
    );
    let protos = with_high(
        vec![0, 1, 4, 6, 9, 15, 17, 58, 132, 136, 256, 262, 0xffff_ffff],
        &[0, 4, 6, 262],
    );
    for &d in &domains {
        for &t in &types {
            for &p in &protos {
                out.push([d, t, p, 0, 0, 0]);
            }
        }
    }
    // ioctl requests with their argument (TIOCSCTTY's steal flag).
    for &req in &widen(&[0x540d, 0x540e, 0x540f, 0x5412, 0x5423]) {
        for &arg in &widen(&[0, 1, 2, 0x101, 0xffff_ffff]) {
            out.push([3, req, arg, 0, 0, 0]);
        }
    }
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Compares `prog` with `expect` everywhere it matters: every number below
/// 1024 (zeros, all ones, random arguments), rich argument vectors for the
/// numbers with rules, the x32 range and foreign architectures.
fn exhaustive(
    arch: Arch,
    prog: &[SockFilter],
    ruled: &BTreeSet<u32>,
    vectors: &[[u64; 6]],
    expect: &dyn Fn(&SeccompData) -> u32,
) -> usize {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    let mut check = |d: SeccompData| {
        let got = verdict(prog, &d);
        let want = expect(&d);
        assert_eq!(
            got,
            want,
            "{arch}: nr {} ({:?}) args {:x?}: got {got:#x}, want {want:#x}",
            d.nr,
            tables::name_of(arch, d.nr),
            d.args
        );
        checked += 1;
    };
    for nr in 0..1024u32 {
        check(data(arch, nr, [0; 6]));
        check(data(arch, nr, [u64::MAX; 6]));
        for _ in 0..4 {
            let args = [
                rng.next(),
                rng.next(),
                rng.next(),
                rng.next(),
                rng.next(),
                rng.next(),
            ];
            check(data(arch, nr, args));
        }
        if ruled.contains(&nr) {
            for args in vectors {
                check(data(arch, nr, *args));
            }
        }
        check(data(arch, nr | X32, [0; 6]));
        check(data(arch, nr | X32, [0, 0, 3, 0, 0, 0]));
        for foreign in [AUDIT_ARCH_I386, AUDIT_ARCH_ARM, 0, u32::MAX] {
            let mut d = data(arch, nr, [0; 6]);
            d.arch = foreign;
            check(d);
        }
        let other = Arch::ALL.into_iter().find(|&a| a != arch).unwrap_or(arch);
        let mut d = data(arch, nr, [0; 6]);
        d.arch = other.audit_arch();
        check(d);
    }
    for nr in [
        0x8000_0000,
        0xffff_ffff,
        0x3fff_ffff,
        0x7fff_ffff,
        0xbfff_ffff,
        2048,
        65535,
    ] {
        check(data(arch, nr, [0; 6]));
    }
    checked
}

fn ruled(plan: &ArchPlan) -> BTreeSet<u32> {
    plan.rules.iter().map(|r| r.nr).collect()
}

/// Numbers with at least one argument check.
fn conditional(plan: &ArchPlan) -> BTreeSet<u32> {
    plan.rules
        .iter()
        .filter(|r| r.check.is_some())
        .map(|r| r.nr)
        .collect()
}

fn check_config(cfg: &SeccompConfig, vectors: &[[u64; 6]], against_spec: bool) {
    let p = plan(cfg).unwrap_or_else(|e| panic!("plan failed: {e}"));
    let (ns_mask, _) = rules::parse_namespaces(&cfg.allowed_namespaces).expect("namespaces");
    for ap in &p.arches {
        let prog = compile(ap, p.log_only);
        validate(&prog).unwrap_or_else(|e| panic!("{e}\n{}", disassemble(&prog)));
        assert_eq!(prog.len(), ap.instructions);
        let n = exhaustive(ap.arch, &prog, &conditional(ap), vectors, &|d| {
            let want = oracle_plan(ap, p.log_only, d);
            if against_spec {
                assert_eq!(
                    want,
                    spec_ret(ap.arch, cfg, ns_mask, d),
                    "oracles disagree for {d:?}"
                );
            }
            want
        });
        println!(
            "{}: {} instructions, {n} verdicts checked",
            ap.arch,
            prog.len()
        );
    }
}

// ---------------------------------------------------------------------------
// Tables.

#[test]
fn tables_are_sorted_and_unique() {
    for arch in Arch::ALL {
        let t = tables::table(arch);
        assert!(
            t.windows(2).all(|w| w[0].0 < w[1].0),
            "{arch} not sorted by name"
        );
        let nrs: BTreeSet<u32> = t.iter().map(|e| e.1).collect();
        assert_eq!(nrs.len(), t.len(), "{arch} has duplicate numbers");
        assert!(t.iter().all(|e| e.1 < 1024), "{arch} number out of range");
    }
}

#[test]
fn tables_spot_values() {
    let x = |n| lookup(Arch::X86_64, n);
    let a = |n| lookup(Arch::Aarch64, n);
    assert_eq!(x("read"), Some(0));
    assert_eq!(x("write"), Some(1));
    assert_eq!(x("open"), Some(2));
    assert_eq!(x("ptrace"), Some(101));
    assert_eq!(x("openat"), Some(257));
    assert_eq!(x("clone3"), Some(435));
    assert_eq!(a("io_setup"), Some(0));
    assert_eq!(a("openat"), Some(56));
    assert_eq!(a("ptrace"), Some(117));
    assert_eq!(a("chroot"), Some(51));
    assert_eq!(a("clone3"), Some(435));
    assert_eq!(a("kexec_file_load"), Some(294));
    assert_eq!(x("kexec_file_load"), Some(320));
    for absent in [
        "open",
        "fork",
        "iopl",
        "ioperm",
        "modify_ldt",
        "stat",
        "poll",
        "uselib",
    ] {
        assert_eq!(a(absent), None, "{absent} on aarch64");
    }
    assert_eq!(x("stime"), None);
    assert_eq!(a("stime"), None);
    assert!(known("iopl"));
    assert!(!known("ptrase"));
    assert_eq!(tables::name_of(Arch::X86_64, 101), Some("ptrace"));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn tables_match_libc_on_this_host() {
    let pairs: &[(&str, libc::c_long)] = &[
        ("read", libc::SYS_read),
        ("mmap", libc::SYS_mmap),
        ("futex", libc::SYS_futex),
        ("ptrace", libc::SYS_ptrace),
        ("mount", libc::SYS_mount),
        ("unshare", libc::SYS_unshare),
        ("clone", libc::SYS_clone),
        ("clone3", libc::SYS_clone3),
        ("socket", libc::SYS_socket),
        ("socketpair", libc::SYS_socketpair),
        ("ioctl", libc::SYS_ioctl),
        ("execveat", libc::SYS_execveat),
        ("personality", libc::SYS_personality),
        ("bpf", libc::SYS_bpf),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("memfd_create", libc::SYS_memfd_create),
        ("seccomp", libc::SYS_seccomp),
        ("getppid", libc::SYS_getppid),
        ("kexec_file_load", libc::SYS_kexec_file_load),
    ];
    for &(name, nr) in pairs {
        assert_eq!(
            lookup(Arch::X86_64, name).map(i64::from),
            Some(nr),
            "{name}"
        );
    }
}

#[test]
fn every_rule_names_a_known_syscall() {
    let ctxs = [
        rules::Context {
            inet: false,
            unix_sockets: true,
            listen: true,
            allowed_namespaces: 0,
        },
        rules::Context {
            inet: true,
            unix_sockets: false,
            listen: false,
            allowed_namespaces: 0,
        },
    ];
    for r in ctxs
        .iter()
        .flat_map(rules::default_rules)
        .chain(rules::parent_rules())
    {
        assert!(known(r.name()), "{}", r.name());
        assert!(
            !r.reason.is_empty() && !r.reason.ends_with('.'),
            "{}",
            r.name()
        );
    }
    let deny: BTreeSet<&str> = rules::DENY.iter().map(|d| d.0.name()).collect();
    let spec: BTreeSet<&str> = SPEC_DENY.iter().copied().collect();
    assert_eq!(deny, spec);
    let ipc: BTreeSet<&str> = rules::IPC_DENY.iter().map(|d| d.0.name()).collect();
    assert_eq!(ipc, SPEC_IPC.iter().copied().collect());
    let self_only: BTreeSet<&str> = rules::SELF_ONLY.iter().map(|d| d.0.name()).collect();
    assert_eq!(self_only, SPEC_SELF_ONLY.iter().copied().collect());
    assert!(
        !ipc.contains("shmdt"),
        "shmdt only detaches the caller's own mapping"
    );
    for name in ["memfd_create", "seccomp", "read", "openat", "futex", "mmap"] {
        assert!(!deny.contains(name), "{name} must stay allowed");
    }
}

#[test]
fn namespaces_are_sorted_by_flag_name() {
    // flag_names relies on it for the conditions' flag lists.
    assert!(rules::NAMESPACES.is_sorted_by_key(|&(_, _, flag)| flag));
    // The plan's canonical names are sorted by name all the same.
    let names = ["uts", "net", "mnt", "cgroup"].map(String::from);
    let (_, canonical) = rules::parse_namespaces(&names).expect("known namespaces");
    assert_eq!(canonical, ["cgroup", "mount", "net", "uts"]);
}

#[test]
fn rule_numbers_are_the_tables_numbers() {
    // The rules carry numbers found at compile time; they must be what a
    // lookup in the tables finds, absent where the table has no entry.
    let ctxs = [(false, false), (true, false), (true, true)].map(|(inet, listen)| rules::Context {
        inet,
        unix_sockets: false,
        listen,
        allowed_namespaces: 0,
    });
    let mut seen = BTreeSet::new();
    for r in ctxs
        .iter()
        .flat_map(rules::default_rules)
        .chain(rules::parent_rules())
    {
        seen.insert(r.name());
        for arch in Arch::ALL {
            assert_eq!(
                r.sys.nr(arch),
                lookup(arch, r.name()),
                "{} on {arch}",
                r.name()
            );
        }
    }
    assert!(seen.contains("iopl") && seen.contains("listen") && seen.contains("sendmmsg"));
}

// ---------------------------------------------------------------------------
// Names and planning.

#[test]
fn suggestions_stop_where_the_shown_errors_do() {
    // Only the first errors are shown; working out a suggestion for each
    // of a thousand long names took seconds.
    let names: Vec<String> = (0..70).map(|_| "ptrase".to_string()).collect();
    let errs = validate_names(&names);
    assert_eq!(errs.len(), 70);
    let hinted = errs
        .iter()
        .filter(|(_, m)| m.contains("did you mean"))
        .count();
    assert_eq!(hinted, crate::yaml::MAX_ERRORS);
    assert_eq!(errs[69], (69, "unknown syscall \"ptrase\"".to_owned()));
    // Lengths are compared in characters: a non-ASCII name one edit away
    // is still matched.
    let errs = validate_names(&["ptrac\u{e9}".to_string()]);
    assert_eq!(
        errs[0].1,
        "unknown syscall \"ptrac\u{e9}\" (did you mean \"ptrace\"?)"
    );
}

#[test]
fn validate_names_reports_unknown_with_hint() {
    let names: Vec<String> = ["ptrace", "ptrase", "xyzzy_nonexistent", "open"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let errs = validate_names(&names);
    assert_eq!(errs.len(), 2);
    assert_eq!(
        errs[0],
        (
            1,
            "unknown syscall \"ptrase\" (did you mean \"ptrace\"?)".to_owned()
        )
    );
    assert_eq!(
        errs[1],
        (2, "unknown syscall \"xyzzy_nonexistent\"".to_owned())
    );
}

#[test]
fn plan_rejects_bad_config() {
    let cfg = SeccompConfig {
        deny: vec!["getpid".into(), "ptrase".into()],
        ..SeccompConfig::default()
    };
    let err = plan(&cfg).unwrap_err();
    assert!(matches!(
        err,
        SeccompError::UnknownSyscall {
            field: "deny",
            index: 1,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "seccomp.deny[1]: unknown syscall \"ptrase\" (did you mean \"ptrace\"?)"
    );

    let cfg = SeccompConfig {
        allow: vec!["ptrace".into()],
        deny: vec!["ptrace".into()],
        ..SeccompConfig::default()
    };
    assert_eq!(
        plan(&cfg).unwrap_err(),
        SeccompError::AllowDenyConflict("ptrace".into())
    );

    let cfg = SeccompConfig {
        allowed_namespaces: vec!["users".into()],
        ..SeccompConfig::default()
    };
    assert_eq!(
        plan(&cfg).unwrap_err(),
        SeccompError::UnknownNamespace("users".into())
    );
}

#[test]
fn errors_are_lowercase_without_period() {
    let errs = [
        SeccompError::AllowDenyConflict("x".into()),
        SeccompError::UnknownNamespace("x".into()),
        SeccompError::EmptyProgram,
        SeccompError::UnsupportedArch,
        SeccompError::Install {
            errno: libc::EACCES,
        },
        SeccompError::NoNewPrivs {
            errno: libc::EINVAL,
        },
        SeccompError::ProgramTooLarge {
            arch: Arch::X86_64,
            len: 5000,
            max: 4096,
        },
    ];
    for e in errs {
        let s = e.to_string();
        assert!(s.chars().next().is_some_and(|c| !c.is_uppercase()), "{s}");
        assert!(!s.ends_with('.'), "{s}");
    }
}

#[test]
fn plan_shape() {
    let p = plan(&SeccompConfig::default()).unwrap();
    assert_eq!(p.arches.len(), 2);
    let x = p.arch(Arch::X86_64).unwrap();
    let a = p.arch(Arch::Aarch64).unwrap();
    assert!(x.rules.windows(2).all(|w| w[0].nr <= w[1].nr));
    let rule = |ap: &ArchPlan, name: &str| ap.rules.iter().find(|r| r.syscall == name).cloned();
    let ptrace = rule(x, "ptrace").unwrap();
    assert_eq!(
        (ptrace.nr, &*ptrace.action, &*ptrace.origin),
        (101, "errno(EPERM)", "default")
    );
    assert_eq!(rule(x, "clone3").unwrap().action, "errno(ENOSYS)");
    assert!(rule(a, "iopl").is_none());
    assert!(rule(x, "iopl").is_some());
    assert_eq!(
        rule(x, "unshare").unwrap().condition.as_deref(),
        Some(
            "flags & (CLONE_NEWCGROUP|CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWTIME|CLONE_NEWUSER|CLONE_NEWUTS) != 0"
        )
    );
    assert!(
        !rule(x, "clone")
            .unwrap()
            .condition
            .unwrap()
            .contains("NEWTIME")
    );
    for ap in &p.arches {
        assert!(
            (60..=220).contains(&ap.instructions),
            "{}: {} instructions",
            ap.arch,
            ap.instructions
        );
    }
}

#[test]
fn arch_and_action_names() {
    let node = |s: &str| crate::yaml::parse(s, crate::yaml::ParseOptions::default()).unwrap();
    let arch = |s| crate::yaml::from_node::<Arch>(&node(s));
    assert_eq!(arch("x86_64"), Ok(Arch::X86_64));
    assert_eq!(arch("aarch64"), Ok(Arch::Aarch64));
    assert!(arch("X86_64").is_err());
    let action = |s| crate::yaml::from_node::<DenyAction>(&node(s));
    assert_eq!(action("errno"), Ok(DenyAction::Errno));
    assert_eq!(action("kill"), Ok(DenyAction::Kill));
    assert_eq!(Arch::X86_64.to_string(), "x86_64");
    #[cfg(target_arch = "x86_64")]
    assert_eq!(Arch::native(), Arch::X86_64);
    #[cfg(target_arch = "aarch64")]
    assert_eq!(Arch::native(), Arch::Aarch64);
}

// ---------------------------------------------------------------------------
// Exhaustive verdicts.

#[test]
fn exhaustive_default() {
    check_config(&SeccompConfig::default(), &arg_vectors(), true);
}

#[test]
fn exhaustive_no_inet_some_namespaces() {
    let cfg = SeccompConfig {
        inet: false,
        allowed_namespaces: vec!["net".into(), "mnt".into(), "time".into()],
        ..SeccompConfig::default()
    };
    check_config(&cfg, &arg_vectors(), true);
}

#[test]
fn exhaustive_no_unix_no_listen() {
    let cfg = SeccompConfig {
        unix_sockets: false,
        listen: false,
        ..SeccompConfig::default()
    };
    check_config(&cfg, &arg_vectors(), true);
}

#[test]
fn exhaustive_no_inet_no_unix_no_listen() {
    let cfg = SeccompConfig {
        inet: false,
        unix_sockets: false,
        listen: false,
        ..SeccompConfig::default()
    };
    check_config(&cfg, &arg_vectors(), true);
}

#[test]
fn exhaustive_kill_and_all_namespaces() {
    let cfg = SeccompConfig {
        action: DenyAction::Kill,
        allowed_namespaces: [
            "user", "mount", "pid", "network", "uts", "ipc", "cgroup", "time",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..SeccompConfig::default()
    };
    let p = plan(&cfg).unwrap();
    assert!(p.arches.iter().all(|a| {
        a.rules
            .iter()
            .all(|r| r.syscall != "unshare" && r.syscall != "clone")
    }));
    check_config(&cfg, &arg_vectors(), true);
}

#[test]
fn exhaustive_log() {
    let cfg = SeccompConfig {
        log: true,
        ..SeccompConfig::default()
    };
    check_config(&cfg, &arg_vectors(), true);
}

#[test]
fn exhaustive_with_policy_lists() {
    let cfg = SeccompConfig {
        allow: vec!["ptrace".into(), "socket".into(), "personality".into()],
        deny: vec![
            "ioctl".into(),
            "getpid".into(),
            "iopl".into(),
            "getpid".into(),
        ],
        ..SeccompConfig::default()
    };
    check_config(&cfg, &arg_vectors(), false);
}

// ---------------------------------------------------------------------------
// Policy knobs.

fn native_prog(cfg: &SeccompConfig) -> (ArchPlan, Vec<SockFilter>) {
    let p = plan(cfg).unwrap();
    let ap = p.native().unwrap().clone();
    let prog = compile(&ap, p.log_only);
    (ap, prog)
}

fn nr(name: &str) -> u32 {
    lookup(Arch::native(), name).unwrap()
}

fn native_verdict(prog: &[SockFilter], name: &str, args: [u64; 6]) -> u32 {
    verdict(prog, &data(Arch::native(), nr(name), args))
}

#[test]
fn allow_removes_default_rule() {
    let (_, base) = native_prog(&SeccompConfig::default());
    assert_eq!(native_verdict(&base, "ptrace", [0; 6]), EPERM_RET);
    let cfg = SeccompConfig {
        allow: vec!["ptrace".into()],
        ..SeccompConfig::default()
    };
    let p = plan(&cfg).unwrap();
    assert_eq!(p.allowed_defaults, vec!["ptrace".to_owned()]);
    let (ap, prog) = native_prog(&cfg);
    assert!(ap.rules.iter().all(|r| r.syscall != "ptrace"));
    assert_eq!(native_verdict(&prog, "ptrace", [0; 6]), RET_ALLOW);
    assert_eq!(native_verdict(&prog, "process_vm_readv", [0; 6]), EPERM_RET);
}

#[test]
fn allow_clone3_and_namespaces() {
    let cfg = SeccompConfig {
        allow: vec!["clone3".into()],
        ..SeccompConfig::default()
    };
    let (_, prog) = native_prog(&cfg);
    assert_eq!(native_verdict(&prog, "clone3", [0; 6]), RET_ALLOW);
    let (_, base) = native_prog(&SeccompConfig::default());
    assert_eq!(native_verdict(&base, "clone3", [0; 6]), ENOSYS_RET);
}

#[test]
fn deny_adds_rule() {
    let cfg = SeccompConfig {
        deny: vec!["getpid".into(), "socket".into()],
        ..SeccompConfig::default()
    };
    let (ap, prog) = native_prog(&cfg);
    let r: Vec<_> = ap.rules.iter().filter(|r| r.syscall == "socket").collect();
    assert_eq!(r.len(), 1, "policy deny replaces the conditional defaults");
    assert_eq!(r[0].origin, "policy.deny");
    assert_eq!(r[0].condition, None);
    assert_eq!(native_verdict(&prog, "getpid", [0; 6]), EPERM_RET);
    assert_eq!(
        native_verdict(&prog, "socket", [1, 1, 0, 0, 0, 0]),
        EPERM_RET
    );
    assert_eq!(native_verdict(&prog, "getppid", [0; 6]), RET_ALLOW);
}

#[test]
fn log_turns_denies_into_log() {
    let cfg = SeccompConfig {
        log: true,
        deny: vec!["getpid".into()],
        ..SeccompConfig::default()
    };
    let (ap, prog) = native_prog(&cfg);
    assert!(ap.rules.iter().all(|r| r.action == "log"
        || (["clone3", "listmount", "statmount"].contains(&&*r.syscall)
            && r.action == "errno(ENOSYS)")));
    assert_eq!(native_verdict(&prog, "ptrace", [0; 6]), RET_LOG);
    assert_eq!(native_verdict(&prog, "getpid", [0; 6]), RET_LOG);
    assert_eq!(
        native_verdict(&prog, "socket", [17, 3, 0, 0, 0, 0]),
        RET_LOG
    );
    assert_eq!(native_verdict(&prog, "clone3", [0; 6]), ENOSYS_RET);
    let mut foreign = data(Arch::native(), 0, [0; 6]);
    foreign.arch = AUDIT_ARCH_I386;
    assert_eq!(verdict(&prog, &foreign), RET_LOG);
    // compile's log_only flag alone has the same effect on a normal plan
    let (ap, _) = native_prog(&SeccompConfig::default());
    let prog = compile(&ap, true);
    assert_eq!(native_verdict(&prog, "ptrace", [0; 6]), RET_LOG);
    assert_eq!(native_verdict(&prog, "clone3", [0; 6]), ENOSYS_RET);
}

#[test]
fn tcp_side_doors_are_closed_only_with_inet() {
    let v = |prog: &[SockFilter], name, args| native_verdict(prog, name, args);
    let (_, with) = native_prog(&SeccompConfig::default());
    let (_, without) = native_prog(&SeccompConfig {
        inet: false,
        ..SeccompConfig::default()
    });
    const FASTOPEN: u64 = 0x2000_0000;
    // sendto(fd, buf, len, flags, addr, addrlen)
    assert_eq!(v(&with, "sendto", [3, 0, 1, FASTOPEN, 0, 0]), EPERM_RET);
    assert_eq!(
        v(&with, "sendto", [3, 0, 1, FASTOPEN | 0x4000, 0, 0]),
        EPERM_RET
    );
    assert_eq!(v(&with, "sendto", [3, 0, 1, 0x4040, 0, 0]), RET_ALLOW);
    // sendmsg(fd, msg, flags), sendmmsg(fd, vec, vlen, flags)
    assert_eq!(v(&with, "sendmsg", [3, 0, FASTOPEN, 0, 0, 0]), EPERM_RET);
    assert_eq!(v(&with, "sendmsg", [3, 0, 0x4000, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v(&with, "sendmmsg", [3, 0, 1, FASTOPEN, 0, 0]), EPERM_RET);
    assert_eq!(v(&with, "sendmmsg", [3, 0, 1, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v(&without, "sendto", [3, 0, 1, FASTOPEN, 0, 0]), RET_ALLOW);
    // MPTCP, SCTP, UDP-Lite, SMC; SOCK_SEQPACKET, SOCK_DCCP
    for (d, t, p) in [
        (2, 1, 262),
        (10, 1, 262),
        (2, 1, 132),
        (2, 5, 132),
        (10, 5, 0),
        (2, 2, 136),
        (2, 1, 256),
        (2, 6, 0),
        (2, 0x80806, 0),
    ] {
        assert_eq!(
            v(&with, "socket", [d, t, p, 0, 0, 0]),
            EPERM_RET,
            "{d} {t} {p}"
        );
    }
    for (d, t, p) in [
        (2, 1, 0),
        (2, 1, 6),
        (10, 0x80801, 6),
        (2, 2, 17),
        (10, 2, 0),
        (2, 2, 1),
        (10, 2, 58),
    ] {
        assert_eq!(
            v(&with, "socket", [d, t, p, 0, 0, 0]),
            RET_ALLOW,
            "{d} {t} {p}"
        );
    }
}

#[test]
fn listen_and_unix_socket_knobs() {
    let v = |prog: &[SockFilter], name, args| native_verdict(prog, name, args);
    let (_, base) = native_prog(&SeccompConfig::default());
    assert_eq!(v(&base, "listen", [3, 1, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v(&base, "socket", [1, 1, 0, 0, 0, 0]), RET_ALLOW);
    let cfg = SeccompConfig {
        unix_sockets: false,
        listen: false,
        ..SeccompConfig::default()
    };
    let p = plan(&cfg).unwrap();
    assert!(!p.unix_sockets && !p.listen);
    let (ap, prog) = native_prog(&cfg);
    assert_eq!(v(&prog, "listen", [3, 1, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(v(&prog, "socket", [1, 1, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(v(&prog, "socket", [1, 0x80005, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(v(&prog, "socketpair", [1, 1, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v(&prog, "socket", [2, 1, 0, 0, 0, 0]), RET_ALLOW);
    let reason = |name: &str| {
        ap.rules
            .iter()
            .filter(|r| r.syscall == name)
            .map(|r| r.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(reason("listen").contains("network.allow_listen"));
    assert!(reason("socket").contains("network.unix_sockets: false"));
    // seccomp.allow: [listen] is the other way back.
    let (_, prog) = native_prog(&SeccompConfig {
        allow: vec!["listen".into()],
        ..cfg
    });
    assert_eq!(v(&prog, "listen", [3, 1, 0, 0, 0, 0]), RET_ALLOW);
}

#[test]
fn ipc_is_refused_and_allow_gives_back_each_call() {
    let (_, base) = native_prog(&SeccompConfig::default());
    for &name in SPEC_IPC {
        let Some(_) = lookup(Arch::native(), name) else {
            continue;
        };
        assert_eq!(native_verdict(&base, name, [0; 6]), EPERM_RET, "{name}");
        let (ap, prog) = native_prog(&SeccompConfig {
            allow: vec![name.to_owned()],
            ..SeccompConfig::default()
        });
        assert!(ap.rules.iter().all(|r| r.syscall != name));
        assert!(
            ap.rules.iter().any(|r| r.reason.contains("seccomp.allow")),
            "the reasons name the opt-in"
        );
        assert_eq!(native_verdict(&prog, name, [0; 6]), RET_ALLOW, "{name}");
        for &other in SPEC_IPC.iter().filter(|&&o| o != name) {
            if lookup(Arch::native(), other).is_some() {
                assert_eq!(native_verdict(&prog, other, [0; 6]), EPERM_RET, "{other}");
            }
        }
    }
    assert_eq!(native_verdict(&base, "shmdt", [0; 6]), RET_ALLOW);
}

#[test]
fn pid_calls_are_limited_to_the_caller() {
    let (_, prog) = native_prog(&SeccompConfig::default());
    let v = |name, args| native_verdict(&prog, name, args);
    for &name in SPEC_SELF_ONLY {
        assert_eq!(v(name, [0, 0, 0, 0, 0, 0]), RET_ALLOW, "{name} on self");
        assert_eq!(v(name, [1234, 0, 0, 0, 0, 0]), EPERM_RET, "{name} on 1234");
        // pid_t is an int: junk in the high half still means the caller
        assert_eq!(v(name, [1 << 32, 0, 0, 0, 0, 0]), RET_ALLOW, "{name}");
        assert_eq!(v(name, [(1 << 32) | 7, 0, 0, 0, 0, 0]), EPERM_RET, "{name}");
    }
    // setpriority(which, who, prio): PRIO_PROCESS 0, PRIO_PGRP 1, PRIO_USER 2
    assert_eq!(v("setpriority", [0, 0, 10, 0, 0, 0]), RET_ALLOW);
    // The process group may hold processes outside (exec mode under job
    // control keeps the caller's session).
    assert_eq!(v("setpriority", [1, 0, 10, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("setpriority", [2, 0, 10, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("setpriority", [0, 1234, 10, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("setpriority", [1, 1234, 10, 0, 0, 0]), EPERM_RET);
    // ioprio_set(which, who, prio): PROCESS 1, PGRP 2, USER 3
    assert_eq!(v("ioprio_set", [1, 0, 0x4007, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("ioprio_set", [2, 0, 0x4007, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("ioprio_set", [3, 0, 0x4007, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("ioprio_set", [1, 1234, 0x4007, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("process_madvise", [0; 6]), EPERM_RET);
    assert_eq!(v("process_mrelease", [0; 6]), EPERM_RET);
    // reading stays allowed
    for name in [
        "getpriority",
        "ioprio_get",
        "sched_getaffinity",
        "getrlimit",
    ] {
        if lookup(Arch::native(), name).is_some() {
            assert_eq!(v(name, [1234, 0, 0, 0, 0, 0]), RET_ALLOW, "{name}");
        }
    }
}

#[test]
fn kill_action() {
    let cfg = SeccompConfig {
        action: DenyAction::Kill,
        ..SeccompConfig::default()
    };
    let (ap, prog) = native_prog(&cfg);
    assert_eq!(
        ap.rules
            .iter()
            .find(|r| r.syscall == "ptrace")
            .unwrap()
            .action,
        "kill"
    );
    assert_eq!(native_verdict(&prog, "ptrace", [0; 6]), RET_KILL_PROCESS);
    assert_eq!(
        native_verdict(&prog, "socket", [17, 3, 0, 0, 0, 0]),
        RET_KILL_PROCESS
    );
    assert_eq!(native_verdict(&prog, "clone3", [0; 6]), ENOSYS_RET);
    assert_eq!(native_verdict(&prog, "read", [0; 6]), RET_ALLOW);
}

#[test]
fn terminal_ioctls_and_inotify_watches_are_refused() {
    let (_, prog) = native_prog(&SeccompConfig::default());
    let v = |name, args| native_verdict(&prog, name, args);
    // TIOCSTI, TIOCLINUX, TIOCSETD, TIOCCONS, TIOCVHANGUP
    for req in [0x5412, 0x541c, 0x5423, 0x541d, 0x5437] {
        assert_eq!(v("ioctl", [0, req, 0, 0, 0, 0]), EPERM_RET, "{req:#x}");
    }
    // TIOCSCTTY: taking a free terminal is fine, stealing one is not
    assert_eq!(v("ioctl", [0, 0x540e, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("ioctl", [0, 0x540e, 1, 0, 0, 0]), EPERM_RET);
    // TCGETS, TCSETS, TIOCGWINSZ, TIOCSWINSZ, TIOCSPGRP, TIOCNOTTY,
    // TIOCGETD, FIONREAD, TIOCGPTN, TIOCSPTLCK, TIOCGPTPEER
    for req in [
        0x5401,
        0x5402,
        0x5413,
        0x5414,
        0x5410,
        0x5422,
        0x5424,
        0x541b,
        0x8004_5430,
        0x4004_5431,
        0x5441,
    ] {
        assert_eq!(v("ioctl", [0, req, 1, 0, 0, 0]), RET_ALLOW, "{req:#x}");
    }
    assert_eq!(v("inotify_add_watch", [3, 0, 0x100, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("inotify_init1", [0, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("inotify_rm_watch", [3, 1, 0, 0, 0, 0]), RET_ALLOW);
    let allowed = SeccompConfig {
        allow: vec!["inotify_add_watch".into()],
        ..SeccompConfig::default()
    };
    let (_, prog) = native_prog(&allowed);
    assert_eq!(
        native_verdict(&prog, "inotify_add_watch", [3, 0, 0x100, 0, 0, 0]),
        RET_ALLOW
    );
}

#[test]
fn high_bits_do_not_dodge_checks() {
    let (_, prog) = native_prog(&SeccompConfig::default());
    let v = |name, args| native_verdict(&prog, name, args);
    assert_eq!(v("ioctl", [0, 0x1_0000_5412, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(
        v("ioctl", [0, 0xffff_ffff_0000_541c, 0, 0, 0, 0]),
        EPERM_RET
    );
    assert_eq!(v("ioctl", [0, 0x5412_0000_0000, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("ioctl", [0, 0x1_0000_5423, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("ioctl", [0, 0x540e, 0x1_0000_0001, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("ioctl", [0, 0x540e, 0x1_0000_0000, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("socket", [0x1_0000_0011, 3, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(
        v("socket", [0x1_0000_0002, 0x1_0000_0003, 0, 0, 0, 0]),
        EPERM_RET
    );
    assert_eq!(v("socket", [2, 0x80803, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("socket", [2, 0x80801, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("socket", [2, 10, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("socket", [16, 3, 0x1_0000_0000, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("socket", [16, 3, 4, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("unshare", [0x1_1000_0000, 0, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("unshare", [0x1_0000_0000, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        v("personality", [0xffff_ffff_ffff_ffff, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(v("personality", [0x1_0000_0000, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("personality", [0x40000, 0, 0, 0, 0, 0]), EPERM_RET);
    assert_eq!(v("execveat", [0, 0, 0, 0, 0x1_0000_1000, 0]), EPERM_RET);
    assert_eq!(v("execveat", [0, 0, 0, 0, 0x100, 0]), RET_ALLOW);
}

/// What the kernel's action cache needs: for a syscall without rules the
/// program reaches `ret ALLOW` without loading anything but nr and arch.
#[test]
fn syscalls_without_rules_are_constant_allow_and_short() {
    let (ap, prog) = native_prog(&SeccompConfig::default());
    let ruled = ruled(&ap);
    let mut worst = 0;
    for nr in 0..1024u32 {
        if ruled.contains(&nr) {
            continue;
        }
        let a = run(&prog, &data(Arch::native(), nr, [0; 6])).unwrap();
        let b = run(&prog, &data(Arch::native(), nr, [u64::MAX; 6])).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.0, RET_ALLOW);
        worst = worst.max(a.1);
    }
    for name in [
        "read",
        "write",
        "openat",
        "close",
        "futex",
        "mmap",
        "munmap",
        "brk",
        "fstat",
        "newfstatat",
        "epoll_pwait",
        "getppid",
        "memfd_create",
        "seccomp",
        "rt_sigaction",
        "rt_sigprocmask",
        "clock_gettime",
        "exit_group",
    ] {
        if let Some(n) = lookup(Arch::native(), name) {
            assert!(!ruled.contains(&n), "{name} must not have rules");
        }
    }
    // The kernel's cache emulation: constant allow exactly for the numbers
    // without rules, constant deny for unconditional rules, and undecided
    // (filter runs) for argument checks.
    for arch in Arch::ALL {
        let p = plan(&SeccompConfig::default()).unwrap();
        let ap = p.arch(arch).unwrap();
        let prog = compile(ap, false);
        let (ruled, conditional) = (super::tests::ruled(ap), conditional(ap));
        let mut cached = 0;
        for nr in 0..1024u32 {
            let got = run_const(&prog, nr, arch.audit_arch()).unwrap();
            if conditional.contains(&nr) {
                assert_eq!(got, None, "{arch} nr {nr}");
            } else if ruled.contains(&nr) {
                assert!(got.is_some_and(|r| r != RET_ALLOW), "{arch} nr {nr}");
            } else {
                assert_eq!(got, Some(RET_ALLOW), "{arch} nr {nr}");
                cached += usize::from(tables::name_of(arch, nr).is_some());
            }
        }
        println!("{arch}: {cached} syscalls constant-allow (filter skipped via the action cache)");
    }
    println!("worst-case path for an allowed syscall: {worst} instructions");
    assert!(
        worst <= 16,
        "allowed syscalls take up to {worst} instructions"
    );
    // No load of the arguments or instruction pointer before the tree ends.
    let args_loads = prog
        .iter()
        .take_while(|i| i.code != super::bpf::RET_K)
        .filter(|i| i.code == super::bpf::LD_W_ABS && i.k >= 8)
        .count();
    assert!(args_loads > 0, "argument blocks exist");
}

#[test]
fn parent_plan_denies_escapes_and_allows_supervision() {
    for arch in Arch::ALL {
        let ap = parent_plan_for(arch);
        let prog = compile(&ap, false);
        validate(&prog).unwrap();
        assert_eq!(prog.len(), ap.instructions);
        println!("parent {arch}: {} instructions", prog.len());
        let v = |name: &str, args| lookup(arch, name).map(|n| verdict(&prog, &data(arch, n, args)));
        for name in [
            "ptrace",
            "process_vm_readv",
            "bpf",
            "perf_event_open",
            "userfaultfd",
            "io_uring_setup",
            "kexec_load",
            "init_module",
            "finit_module",
            "mount",
            "setns",
            "keyctl",
            "unshare",
            "pivot_root",
        ] {
            assert_eq!(v(name, [0; 6]), Some(EPERM_RET), "{arch} {name}");
        }
        assert_eq!(v("clone", [0x1000_0000, 0, 0, 0, 0, 0]), Some(EPERM_RET));
        assert_eq!(v("clone", [0x0001_1200, 0, 0, 0, 0, 0]), Some(RET_ALLOW));
        assert_eq!(v("clone3", [0; 6]), Some(ENOSYS_RET));
        for name in [
            "wait4",
            "waitid",
            "kill",
            "rt_sigaction",
            "rt_sigprocmask",
            "rt_sigreturn",
            "epoll_pwait",
            "signalfd4",
            "eventfd2",
            "read",
            "write",
            "exit_group",
            "clock_gettime",
            "futex",
            "mmap",
            "munmap",
            "brk",
            "prctl",
            "execve",
            "socket",
        ] {
            assert_eq!(v(name, [0; 6]), Some(RET_ALLOW), "{arch} {name}");
        }
        exhaustive(
            arch,
            &prog,
            &conditional(&ap),
            &[[0; 6], [0x1000_0000, 0, 0, 0, 0, 0]],
            &|d| oracle_plan(&ap, false, d),
        );
    }
    assert_eq!(parent_plan().arch, Arch::native());
}

// ---------------------------------------------------------------------------
// Program structure.

#[test]
fn long_jumps_get_trampolines() {
    // 400 syscalls with an argument block each: the tree's jumps to the
    // blocks and the blocks' jumps to the shared returns are far apart.
    for arch in Arch::ALL {
        let rules: Vec<PlannedRule> = (0..400u32)
            .map(|n| PlannedRule {
                syscall: format!("nr{n}").into(),
                nr: n * 2,
                action: "errno(EPERM)".into(),
                condition: Some("test".into()),
                reason: "test".into(),
                origin: "test".into(),
                verdict: if n % 3 == 0 {
                    RuleAction::Kill
                } else {
                    RuleAction::Errno(1)
                },
                check: Some(ArgCheck::In {
                    arg: (n % 6) as u8,
                    mask: u32::MAX,
                    values: vec![n, n + 7],
                }),
            })
            .collect();
        let ap = ArchPlan {
            arch,
            rule_count: rules.len(),
            rules,
            instructions: 0,
            program: Vec::new(),
        };
        let prog = super::bpf::try_compile(&ap, false).unwrap();
        validate(&prog).unwrap();
        assert!(
            prog.len() > 1200 && prog.len() <= BPF_MAXINSNS,
            "{}",
            prog.len()
        );
        let trampolines = prog.iter().filter(|i| i.code == super::bpf::JMP_JA).count();
        assert!(trampolines > 0);
        let mut vectors = Vec::new();
        for v in [0u64, 1, 7, 100, 399, 406, 1 << 32] {
            for i in 0..6 {
                let mut a = [0u64; 6];
                a[i] = v;
                vectors.push(a);
            }
        }
        for n in 0..400u64 {
            let i = (n % 6) as usize;
            for v in [n, n + 7, n + 1, n | 1 << 40] {
                let mut a = [0u64; 6];
                a[i] = v;
                vectors.push(a);
            }
        }
        exhaustive(arch, &prog, &ruled(&ap), &vectors, &|d| {
            oracle_plan(&ap, false, d)
        });
        println!("{arch}: {} instructions, {trampolines} ja", prog.len());
    }
}

#[test]
fn pathological_alternating_denies() {
    for arch in Arch::ALL {
        let deny: Vec<String> = tables::table(arch)
            .iter()
            .filter(|(_, nr)| nr % 2 == 0)
            .map(|(name, _)| (*name).to_owned())
            .filter(|name| !rules::DENY.iter().any(|d| d.0.name() == name))
            .collect();
        let cfg = SeccompConfig {
            deny,
            ..SeccompConfig::default()
        };
        let p = plan(&cfg).unwrap();
        let ap = p.arch(arch).unwrap();
        let prog = compile(ap, false);
        validate(&prog).unwrap();
        let vectors = [
            [0; 6],
            [17, 3, 4, 0, 0x1000, 0],
            [0x1000_0000, 0x5412, 0, 0, 0, 0],
        ];
        exhaustive(arch, &prog, &conditional(ap), &vectors, &|d| {
            oracle_plan(ap, false, d)
        });
        let ja = prog.iter().filter(|i| i.code == super::bpf::JMP_JA).count();
        println!(
            "{arch}: {} rules, {} instructions, {ja} trampolines",
            ap.rules.len(),
            prog.len()
        );
    }
}

#[test]
fn masked_values_outside_mask_never_match() {
    let ap = ArchPlan {
        arch: Arch::Aarch64,
        rules: vec![PlannedRule {
            syscall: "x".into(),
            nr: 5,
            action: "errno(EPERM)".into(),
            condition: None,
            reason: "".into(),
            origin: "test".into(),
            verdict: RuleAction::Errno(1),
            check: Some(ArgCheck::In {
                arg: 1,
                mask: 0xf,
                values: vec![0x13, 0x2],
            }),
        }],
        rule_count: 1,
        instructions: 0,
        program: Vec::new(),
    };
    let prog = compile(&ap, false);
    validate(&prog).unwrap();
    for a1 in [0u64, 2, 3, 0x12, 0x13, 0x33] {
        let d = data(Arch::Aarch64, 5, [0, a1, 0, 0, 0, 0]);
        assert_eq!(
            verdict(&prog, &d),
            oracle_plan(&ap, false, &d),
            "a1={a1:#x}"
        );
    }
}

#[test]
fn empty_plan_allows_everything_native() {
    for arch in Arch::ALL {
        let ap = ArchPlan {
            arch,
            rules: Vec::new(),
            rule_count: 0,
            instructions: 0,
            program: Vec::new(),
        };
        let prog = compile(&ap, false);
        validate(&prog).unwrap();
        exhaustive(arch, &prog, &BTreeSet::new(), &[], &|d| {
            oracle_plan(&ap, false, d)
        });
    }
}

#[test]
fn print_programs() {
    for arch in Arch::ALL {
        let p = plan(&SeccompConfig::default()).unwrap();
        let ap = p.arch(arch).unwrap();
        let prog = compile(ap, false);
        println!(
            "{arch}: {} rules on {} syscalls, {} instructions\n{}",
            ap.rules.len(),
            ruled(ap).len(),
            prog.len(),
            disassemble(&prog)
        );
    }
}

// ---------------------------------------------------------------------------
// Random configurations.

fn config_strategy() -> impl Strategy<Value = SeccompConfig> {
    let names = tables::all_names();
    let n = names.len();
    (
        prop::collection::vec((0..n, 0..3u8), 0..300),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u8..=255,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(picks, inet, kill, log, ns, unix_sockets, listen)| {
            let mut allow = Vec::new();
            let mut deny = Vec::new();
            for (i, which) in picks {
                let name = names[i].to_owned();
                match which {
                    0 if !deny.contains(&name) => allow.push(name),
                    1 if !allow.contains(&name) => deny.push(name),
                    _ => {}
                }
            }
            let allowed_namespaces = rules::NAMESPACES
                .iter()
                .enumerate()
                .filter(|(b, _)| ns & (1 << b) != 0)
                .map(|(_, (name, _, _))| (*name).to_owned())
                .collect();
            SeccompConfig {
                allow,
                deny,
                action: if kill {
                    DenyAction::Kill
                } else {
                    DenyAction::Errno
                },
                log,
                inet,
                unix_sockets,
                listen,
                allowed_namespaces,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_configs_compile_to_valid_agreeing_programs(cfg in config_strategy(), seed in any::<u64>()) {
        let p = plan(&cfg).unwrap();
        let mut rng = Rng(seed | 1);
        let pool = widen(&interesting_u32());
        for ap in &p.arches {
            let prog = compile(ap, p.log_only);
            prop_assert!(validate(&prog).is_ok(), "{:?}", validate(&prog));
            prop_assert_eq!(prog.len(), ap.instructions);
            let ruled = ruled(ap);
            for nr in 0..512u32 {
                let tries = if ruled.contains(&nr) { 24 } else { 2 };
                for t in 0..tries {
                    let mut args = [0u64; 6];
                    if t > 0 {
                        for a in &mut args {
                            *a = if rng.next() % 2 == 0 {
                                pool[(rng.next() % pool.len() as u64) as usize]
                            } else {
                                rng.next()
                            };
                        }
                    }
                    let d = data(ap.arch, nr, args);
                    prop_assert_eq!(verdict(&prog, &d), oracle_plan(ap, p.log_only, &d), "nr {}", nr);
                }
                let d = data(ap.arch, nr | X32, [0; 6]);
                prop_assert_eq!(verdict(&prog, &d), oracle_plan(ap, p.log_only, &d));
                let mut d = data(ap.arch, nr, [0; 6]);
                d.arch = AUDIT_ARCH_I386;
                prop_assert_eq!(verdict(&prog, &d), oracle_plan(ap, p.log_only, &d));
            }
        }
    }
}

/// `with_notify` (learn) never loosens a filter: for every architecture,
/// syscall number (ruled ones with every interesting argument vector),
/// x32 and foreign-architecture number, the learning program returns what
/// the base program returns, except that an allowed call of the observed
/// list waits for the notification instead.
#[test]
fn learning_filter_denies_everything_the_base_filter_denies() {
    let observed = crate::learn::observe::OBSERVED;
    let vectors = arg_vectors();
    for cfg in [
        SeccompConfig::default(),
        SeccompConfig {
            deny: vec!["openat".into(), "chroot".into()],
            action: DenyAction::Kill,
            ..SeccompConfig::default()
        },
        SeccompConfig {
            log: true,
            ..SeccompConfig::default()
        },
    ] {
        let base = plan(&cfg).unwrap();
        let learn = with_notify(&base, observed).unwrap();
        for (b, l) in base.arches.iter().zip(&learn.arches) {
            let bp = compile(b, base.log_only);
            let lp = compile(l, learn.log_only);
            assert!(validate(&lp).is_ok());
            assert_eq!(lp.len(), l.instructions);
            let ruled = ruled(l);
            for nr in 0..600u32 {
                let name = tables::name_of(b.arch, nr);
                let many = ruled.contains(&nr);
                for args in vectors.iter().take(if many { vectors.len() } else { 1 }) {
                    let d = data(b.arch, nr, *args);
                    let want = match verdict(&bp, &d) {
                        RET_ALLOW if name.is_some_and(|n| observed.contains(&n)) => RET_USER_NOTIF,
                        v => v,
                    };
                    assert_eq!(
                        verdict(&lp, &d),
                        want,
                        "{} nr {nr} {name:?} {args:?}",
                        b.arch
                    );
                }
                for d in [
                    data(b.arch, nr | X32, [0; 6]),
                    SeccompData {
                        arch: AUDIT_ARCH_I386,
                        ..data(b.arch, nr, [0; 6])
                    },
                ] {
                    assert_eq!(verdict(&lp, &d), verdict(&bp, &d), "{} {d:?}", b.arch);
                }
            }
        }
    }
}

#[test]
fn the_plan_says_what_an_allow_back_gives_up() {
    let policy = |allow: &str| {
        crate::policy::parse_str(
            "p.yaml",
            &format!("version: 1\nnetwork:\n  connect_tcp: [443]\nseccomp:\n  allow: [{allow}]\n"),
        )
        .unwrap()
    };
    let lines = |allow: &str| -> Vec<String> {
        plan_policy(&policy(allow), true, true, true)
            .dropped
            .iter()
            .map(ToString::to_string)
            .filter(|l| l.starts_with("seccomp.allow"))
            .collect()
    };
    // socket: every family and protocol check goes.
    let socket = lines("socket");
    assert_eq!(socket.len(), 1, "{socket:?}");
    assert!(socket[0].contains("other socket families"), "{socket:?}");
    assert!(socket[0].contains("raw IP sockets"), "{socket:?}");
    // sendto: TCP Fast Open connects without Landlock's connect check.
    let sendto = lines("sendto");
    assert!(
        sendto.iter().any(|l| l.contains("TCP Fast Open")),
        "{sendto:?}"
    );
    // clone: namespaces.
    let clone = lines("clone");
    assert!(clone.iter().any(|l| l.contains("namespaces")), "{clone:?}");
    // Control: a syscall with no default rule gives nothing up.
    assert_eq!(lines("getpid"), Vec::<String>::new());
    // Without a network policy, what gets past Landlock's TCP rules is
    // named too (it reads as closed otherwise); with one, it is the plan's
    // network section that says so.
    let no_net =
        crate::policy::parse_str("p.yaml", "version: 1\nseccomp:\n  allow: [socket]\n").unwrap();
    let lines: Vec<String> = plan_policy(&no_net, false, true, true)
        .dropped
        .iter()
        .map(ToString::to_string)
        .filter(|l| l.starts_with("seccomp.allow"))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("TCP Fast Open")
            && l.contains("MPTCP")
            && l.contains("listen takes an ephemeral TCP port")),
        "{lines:?}"
    );
    assert!(
        !socket[0].contains("IP sockets can be created"),
        "{socket:?}"
    );
}
