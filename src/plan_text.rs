//! `plan --format text`: the plan as a person reads it — one screen that
//! answers "what may this workload touch, and what does this host not
//! enforce?". Pure: a function of the [`Plan`] alone, golden-tested on the
//! shipped policies. JSON and YAML stay the complete form for tools.

use std::fmt::Write as _;

use crate::landlock::{Access, FsRule, RuleOrigin};
use crate::plan::{Mode, Plan};

/// The plan in words, sections in a fixed order: who, filesystem,
/// network, devices, process, then what this host drops, what reads
/// narrower than it is, the node's limits, and the blockers.
pub fn render(p: &Plan) -> String {
    let mut o = String::new();
    header(&mut o, p);
    identity(&mut o, p);
    filesystem(&mut o, p);
    network(&mut o, p);
    devices(&mut o, p);
    process(&mut o, p);
    list(
        &mut o,
        "not enforced on this host (dropped)",
        &texts(&p.dropped),
    );
    list(&mut o, "wider than written (widened)", &p.widened);
    list(&mut o, "limits of this node (host_limits)", &p.host_limits);
    if p.blockers.is_empty() {
        o.push_str("\nblockers: none: `run` would start the workload\n");
    } else {
        list(
            &mut o,
            "BLOCKED: `run` stops with exit 125 (blockers)",
            &texts(&p.blockers),
        );
    }
    // Names found on the host (a link's target) cannot forge a line.
    let mut out = String::with_capacity(o.len());
    for l in o.lines() {
        out.push_str(&crate::bytes::escape_controls(l));
        out.push('\n');
    }
    out
}

fn header(o: &mut String, p: &Plan) {
    let _ = writeln!(o, "policy: {}", p.policy.description);
    let cmd: Vec<String> = p.command.iter().map(|a| crate::bytes::escape(a)).collect();
    let mode = match p.mode {
        Mode::Exec => "exec: the supervisor becomes the workload",
        Mode::Init => "init: the supervisor stays as PID 1 and reaps",
    };
    let cmd = if cmd.is_empty() {
        "(none given)".to_string()
    } else {
        cmd.join(" ")
    };
    let _ = writeln!(o, "command: {cmd} ({mode})");
    if let Some(w) = &p.workdir {
        let _ = writeln!(o, "workdir: {w}");
    }
}

fn identity(o: &mut String, p: &Plan) {
    let id = &p.identity;
    let name = id
        .user_name
        .as_deref()
        .map_or(String::new(), |n| format!(" ({n})"));
    let groups = match &id.groups {
        Some(g) if g.is_empty() => "no supplementary groups".to_string(),
        Some(g) => format!("groups {}", join_num(g)),
        None if id.inherited_groups.is_empty() => "supplementary groups unchanged".to_string(),
        None => format!(
            "supplementary groups kept from the start: {}",
            join_num(&id.inherited_groups)
        ),
    };
    let how = if id.switch {
        format!("switched from uid {}", id.starting_uid)
    } else {
        format!("kept: started as uid {}", id.starting_uid)
    };
    let _ = writeln!(
        o,
        "\nruns as: uid {}{name}, gid {}, {groups}; {how}; chosen by: {}",
        id.uid, id.gid, id.source
    );
    let c = &p.capabilities;
    let kept = if c.keep.is_empty() {
        "none".to_string()
    } else {
        c.keep.join(", ")
    };
    let bounding = if c.bounding == c.mask && c.mask == 0 {
        "bounding set cleared".to_string()
    } else if c.bounding == c.mask {
        "bounding set reduced to the kept capabilities".to_string()
    } else {
        format!(
            "bounding set left as inherited ({})",
            crate::capabilities::names(c.bounding)
        )
    };
    let bits = if c.securebits.is_empty() {
        "securebits not set (needs CAP_SETPCAP)"
    } else {
        "securebits locked"
    };
    let nnp = if c.no_new_privs {
        "no_new_privs (setuid files give nothing)"
    } else {
        "no_new_privs NOT set"
    };
    let _ = writeln!(o, "capabilities: {kept} kept; {bounding}; {bits}; {nnp}");
    for b in &c.acknowledged_bypasses {
        let _ = writeln!(o, "  kept on purpose: {b}");
    }
}

/// What a rule lets the workload do, in words.
fn rule_access(r: &FsRule) -> String {
    if !r.present {
        return "skipped".into();
    }
    if r.rights.is_empty() {
        return "not enforced".into();
    }
    let has = |n: &str| r.rights.contains(&n);
    let mut w: Vec<&str> = Vec::new();
    if has("read_file") || has("read_dir") {
        w.push("read");
    }
    if has("write_file") {
        w.push("write");
    }
    if has("execute") {
        w.push("exec");
    }
    if r.access == Access::Device && has("ioctl_dev") {
        w.push("ioctl");
    }
    w.join(", ")
}

fn origin(o: RuleOrigin) -> &'static str {
    match o {
        RuleOrigin::Policy => "policy",
        RuleOrigin::Workdir => "workdir",
        RuleOrigin::Baseline => "baseline",
        RuleOrigin::Device => "device",
    }
}

fn filesystem(o: &mut String, p: &Plan) {
    let f = &p.filesystem;
    let compat = match f.compatibility {
        crate::policy::model::Compatibility::BestEffort => "best_effort",
        crate::policy::model::Compatibility::HardRequirement => "hard_requirement",
    };
    if f.abi == 0 {
        let _ = writeln!(
            o,
            "\nfilesystem: NOT enforced: the kernel provides {} ({compat})",
            f.kernel.describe()
        );
    } else {
        let _ = writeln!(
            o,
            "\nfilesystem (Landlock ABI {}, {compat}): everything not listed is denied",
            f.abi
        );
    }
    let paths: Vec<String> = f
        .rules
        .iter()
        .map(|r| match &r.resolved {
            Some(to) => format!("{} -> {to}", r.path),
            None => r.path.clone(),
        })
        .collect();
    let access: Vec<String> = f.rules.iter().map(rule_access).collect();
    let wa = access.iter().map(String::len).max().unwrap_or(0);
    let wp = paths.iter().map(String::len).max().unwrap_or(0);
    for ((r, path), acc) in f.rules.iter().zip(&paths).zip(&access) {
        let mut from = origin(r.origin).to_string();
        if let Some(why) = &r.skipped {
            let _ = write!(from, ": {why}");
        }
        let _ = writeln!(o, "  {acc:<wa$}  {path:<wp$}  {from}");
    }
    if f.rules.is_empty() {
        o.push_str("  (no paths)\n");
    }
    if !f.scopes.is_empty() {
        let _ = writeln!(
            o,
            "  scoped to the sandbox: {} (no reaching processes outside)",
            f.scopes.join(", ")
        );
    }
    if f.log_denials {
        o.push_str("  denials are logged by the kernel's audit\n");
    }
}

fn ports(v: &[u16]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
    }
}

fn network(o: &mut String, p: &Plan) {
    let n = &p.network;
    let sc = p.seccomp.as_ref();
    let unix = sc.is_none_or(|s| s.unix_sockets);
    let allowed_back =
        |name: &str| sc.is_some_and(|s| s.allowed_defaults.iter().any(|n| n == name));
    let log_only = sc.is_some_and(|s| s.log_only);
    // io_uring makes sockets (IORING_OP_SOCKET) without socket(2), so
    // allowing it back opens what the socket rules close.
    let uring = allowed_back("io_uring_setup");
    let any_socket = allowed_back("socket") || uring;
    let listen_back = allowed_back("listen") || log_only || uring;
    let listen = sc.is_none_or(|s| s.listen) || listen_back;
    o.push_str("\nnetwork:\n");
    if n.inet_sockets {
        let how = if n.tcp_enforced {
            "enforced by Landlock"
        } else {
            "NOT enforced by port on this kernel"
        };
        let _ = writeln!(
            o,
            "  TCP connect: {}; TCP bind: {} ({how})",
            ports(&n.connect_tcp),
            ports(&n.bind_tcp)
        );
        o.push_str("  UDP: any address and port (not restricted by port)\n");
    } else if log_only || any_socket {
        let why = if log_only {
            "seccomp.log: true only logs them"
        } else if allowed_back("socket") {
            "seccomp.allow: [socket]"
        } else {
            "seccomp.allow: [io_uring_setup]: io_uring makes sockets without socket(2)"
        };
        let landlock = if n.tcp_enforced {
            "Landlock refuses plain TCP connect and bind, not TCP Fast Open, MPTCP, SCTP, UDP or listen"
        } else {
            "and this kernel's Landlock has no TCP rules"
        };
        let _ = writeln!(
            o,
            "  IP sockets: NOT refused although no network policy grants any ({why}); {landlock}"
        );
    } else {
        o.push_str("  IP sockets: refused (no network policy)\n");
    }
    for l in &n.proxy_only {
        let _ = writeln!(o, "  proxy only: {l}");
    }
    let _ = writeln!(
        o,
        "  unix sockets: {}; listen: {}",
        if unix {
            "allowed"
        } else {
            "refused (network.unix_sockets: false)"
        },
        match (listen, n.inet_sockets, unix) {
            (false, _, _) => "refused",
            (true, _, _) if listen_back || any_socket => {
                "allowed on any socket (seccomp.allow or seccomp.log)"
            }
            (true, false, false) => "no socket to listen on",
            (true, false, true) => "allowed (unix sockets only)",
            (true, true, _) => "allowed",
        }
    );
}

fn devices(o: &mut String, p: &Plan) {
    let d = &p.devices;
    if d.requested.is_empty() {
        o.push_str("\ndevices: none requested\n");
        return;
    }
    let _ = writeln!(
        o,
        "\ndevices (CDI specs in {}; {}):",
        d.spec_dirs.join(", "),
        if d.runtime_applied {
            "nodes and mounts made by the runtime"
        } else {
            "nodes made by the supervisor"
        }
    );
    for r in &d.requested {
        let state = if let Some(g) = d.cdi.granted.iter().find(|g| g.name == r.name) {
            // A node with a problem is a blocker: the device is not
            // granted, whatever else of it would be.
            let blocked = |path: &str| {
                d.cdi
                    .nodes
                    .iter()
                    .any(|n| n.path == path && n.problem.is_some())
            };
            let nodes: Vec<String> = g
                .nodes
                .iter()
                .map(|n| {
                    if blocked(&n.path) {
                        format!("{} (blocked)", n.path)
                    } else {
                        format!("{} ({})", n.path, n.access)
                    }
                })
                .collect();
            let word = if g.nodes.iter().any(|n| blocked(&n.path)) {
                "not granted"
            } else {
                "granted"
            };
            format!(
                "{word}: {}; {} mount(s)",
                if nodes.is_empty() {
                    "no nodes".to_string()
                } else {
                    nodes.join(", ")
                },
                g.mounts.len()
            )
        } else if d.cdi.missing.contains(&r.name) {
            "not found".to_string()
        } else {
            "not granted".to_string()
        };
        let _ = writeln!(o, "  {} (from {}): {state}", r.name, r.source);
    }
    for n in &d.not_allowed {
        let _ = writeln!(o, "  {n} (from NVIDIA_VISIBLE_DEVICES): not allowed");
    }
    if !d.cdi.additional_gids.is_empty() {
        let _ = writeln!(o, "  groups added: {}", join_num(&d.cdi.additional_gids));
    }
}

fn process(o: &mut String, p: &Plan) {
    let mut names: Vec<String> = Vec::new();
    for v in &p.environment.vars {
        if !names.contains(&v.name) {
            names.push(v.name.clone());
        }
    }
    let _ = writeln!(
        o,
        "\nenvironment: built, never the supervisor's: {}",
        if names.is_empty() {
            "(empty)".to_string()
        } else {
            names.join(" ")
        }
    );
    match &p.seccomp {
        Some(s) => {
            let action = match s.action {
                crate::seccomp::DenyAction::Errno => "fail with EPERM",
                crate::seccomp::DenyAction::Kill => "kill the process",
            };
            let mut line = format!(
                "syscalls: seccomp filter; escape primitives (ptrace, bpf, io_uring, mount, namespaces, keyrings, modules, ...) {action}"
            );
            if s.log_only {
                line.push_str(" (LOG ONLY: nothing is refused)");
            }
            if !s.allowed_defaults.is_empty() {
                let _ = write!(line, "; allowed back: {}", s.allowed_defaults.join(", "));
            }
            let _ = writeln!(o, "{line}");
        }
        None => o.push_str("syscalls: no seccomp plan (see blockers)\n"),
    }
    if !p.rlimits.is_empty() {
        let lim = |v: Option<u64>| v.map_or("unlimited".to_string(), |n| n.to_string());
        let r: Vec<String> = p
            .rlimits
            .iter()
            .map(|r| format!("{} {}/{}", r.name, lim(r.soft), lim(r.hard)))
            .collect();
        let _ = writeln!(o, "rlimits (soft/hard): {}", r.join(", "));
    }
}

/// Blockers and drops as lines: `object: cause`, a hint on a line of its own.
fn texts(items: &[crate::error::Finding]) -> Vec<String> {
    items.iter().map(crate::error::Finding::text).collect()
}

fn list(o: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{title}:");
    for i in items {
        // A hint stays under its line.
        let _ = writeln!(o, "  - {}", i.replace('\n', "\n    "));
    }
}

fn join_num(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}
