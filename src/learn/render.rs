//! The learned policy: what one run used, collapsed into rules, written as
//! a commented policy document that `check` accepts.
//!
//! The collapse rule (also in the README): paths are grouped by what they
//! need — `read_write` (written, or a directory whose entries were
//! created, removed, renamed or linked), `execute` (programs and their
//! loaders; readable too) and `read_only` (everything else read). Within
//! each group, a directory that has at least [`THRESHOLD`] distinct entries
//! used directly beneath it (files, or directories already collapsed)
//! replaces them, deepest directory first, repeatedly. A collapse never
//! produces `/`, a top-level directory (`/usr`, `/etc`, `/home`, `/tmp`,
//! ...), a directory directly under `/home`, or one of [`BROAD`]; those
//! appear only when the run itself used them as directories (e.g. listed
//! or created entries in `/tmp`), and `/` never appears. Everything the run
//! touched beneath `/proc/self` (its own `/proc/<pid>`) is `/proc/self`. A
//! `read_only` path beneath a `read_write` or `execute` rule is dropped
//! (they grant reading). An `execute` directory that would hold or lie
//! beneath a `read_write` rule is not made: the programs run stay listed
//! one by one, so the workload cannot run what it writes there (W^X); a
//! program it wrote and ran itself is the one exception, and the plan
//! says so under `widened`. Should the rules exceed the policy's 256 paths,
//! the threshold drops to 2, then 1.

use std::collections::{BTreeMap, BTreeSet};

use super::observe::Observations;
use crate::policy::model::Policy;

/// Entries beneath a directory that make the directory the rule.
pub const THRESHOLD: usize = 3;

/// Directories a collapse never produces, besides `/` and top-level ones.
pub const BROAD: &[&str] = &[
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libx32",
    "/usr/libexec",
    "/usr/include",
    "/usr/local",
    "/usr/share",
    "/usr/src",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/run",
    "/var/tmp",
    "/run/user",
];

/// Most paths a policy may list.
const MAX_PATHS: usize = 256;

fn depth(p: &str) -> usize {
    p.split('/').filter(|c| !c.is_empty()).count()
}

/// Whether a collapse may produce `dir`.
pub fn collapsible(dir: &str) -> bool {
    let d = depth(dir);
    d >= 2 && !BROAD.contains(&dir) && !(d == 2 && dir.starts_with("/home/"))
}

pub fn is_within(p: &str, dir: &str) -> bool {
    crate::policy::paths::is_within(p, dir)
}

/// One rule and the paths it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub path: String,
    pub covers: BTreeSet<String>,
}

fn parent(p: &str) -> Option<&str> {
    match p.rsplit_once('/') {
        Some(("", "")) | None => None,
        Some(("", _)) => Some("/"),
        Some((d, _)) => Some(d),
    }
}

/// Collapse `paths` by the module's rule with `threshold`.
pub fn collapse(paths: &BTreeSet<String>, threshold: usize) -> Vec<Rule> {
    let mut set: BTreeMap<String, BTreeSet<String>> = paths
        .iter()
        .map(|p| (p.clone(), BTreeSet::from([p.clone()])))
        .collect();
    loop {
        let mut children: BTreeMap<&str, usize> = BTreeMap::new();
        for p in set.keys() {
            if let Some(d) = parent(p) {
                *children.entry(d).or_default() += 1;
            }
        }
        let pick = children
            .iter()
            .filter(|(d, n)| **n >= threshold && collapsible(d))
            .max_by_key(|(d, _)| depth(d))
            .map(|(d, _)| (*d).to_string());
        let Some(dir) = pick else { break };
        let mut covers = BTreeSet::new();
        set.retain(|p, c| {
            if is_within(p, &dir) {
                covers.append(c);
                false
            } else {
                true
            }
        });
        set.insert(dir, covers);
    }
    // Drop rules beneath another rule.
    let keys: Vec<String> = set.keys().cloned().collect();
    for k in &keys {
        if let Some(outer) = keys.iter().find(|o| *o != k && is_within(k, o)) {
            if let Some(c) = set.remove(k) {
                if let Some(o) = set.get_mut(outer) {
                    o.extend(c);
                }
            }
        }
    }
    set.into_iter()
        .map(|(path, covers)| Rule { path, covers })
        .collect()
}

/// Whether a name looks like it carries a credential (then comments show
/// `<redacted>` instead).
pub fn looks_secret(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    const WORDS: [&str; 9] = [
        "token",
        "secret",
        "passw",
        "apikey",
        "api_key",
        "api-key",
        "credential",
        "bearer",
        "private",
    ];
    const PREFIXES: [&str; 7] = [
        "sk-",
        "ghp_",
        "gho_",
        "github_pat_",
        "xox",
        "akia",
        "glpat-",
    ];
    if WORDS.iter().any(|w| l.contains(w)) || PREFIXES.iter().any(|p| l.starts_with(p)) {
        return true;
    }
    // A long run of letters and digits mixed (a key, a hash-like token).
    let mut run = 0usize;
    let (mut letters, mut digits) = (false, false);
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+' || c == '=' {
            run += 1;
            letters |= c.is_ascii_alphabetic();
            digits |= c.is_ascii_digit();
            if run >= 24 && letters && digits {
                return true;
            }
        } else {
            run = 0;
            letters = false;
            digits = false;
        }
    }
    false
}

/// A path for a comment: each component that looks like a credential, and
/// everything after it, is `<redacted>`; control characters escaped.
pub fn shown(path: &str) -> String {
    let mut out = Vec::new();
    for c in path.split('/') {
        if looks_secret(c) {
            out.push("<redacted>".to_string());
            break;
        }
        out.push(c.chars().flat_map(char::escape_default).collect::<String>());
    }
    out.join("/")
}

/// A YAML double-quoted scalar.
fn quoted(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\x{:02x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// What the rendered document says about the run.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// The workload's program (its path; arguments are never recorded).
    pub program: String,
    pub base: String,
    pub status: i32,
}

fn comment_for(rule: &Rule, obs: &Observations) -> String {
    let count: u64 = rule
        .covers
        .iter()
        .filter_map(|p| obs.paths.get(p))
        .map(|u| u.count)
        .sum();
    let calls = if count == 1 { "call" } else { "calls" };
    if rule.covers.len() == 1 && rule.covers.contains(&rule.path) {
        return format!("{count} {calls}");
    }
    let names: Vec<String> = rule
        .covers
        .iter()
        .filter_map(|p| {
            let rest = p.strip_prefix(&rule.path)?.trim_start_matches('/');
            (!rest.is_empty()).then(|| shown(rest))
        })
        .take(3)
        .collect();
    let n = rule.covers.len();
    if names.is_empty() {
        format!("{count} {calls}")
    } else {
        format!("{n} paths, {count} {calls}, e.g. {}", names.join(", "))
    }
}

/// The three rule lists for `obs`, with `threshold`.
fn rules(obs: &Observations, threshold: usize) -> (Vec<Rule>, Vec<Rule>, Vec<Rule>) {
    let (mut rw, mut ex, mut ro) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for (p, u) in &obs.paths {
        if u.write {
            rw.insert(p.clone());
        }
        if u.exec {
            ex.insert(p.clone());
        }
        if u.read && !u.write && !u.exec {
            ro.insert(p.clone());
        }
    }
    let rw = collapse(&rw, threshold);
    // W^X: an execute directory that holds or lies beneath a written path
    // would let the workload run what it writes; such a directory stays
    // the programs actually run.
    let ex = collapse(&ex, threshold)
        .into_iter()
        .flat_map(|r| {
            let overlaps = r.covers.len() > 1 || !r.covers.contains(&r.path);
            let writable = rw
                .iter()
                .any(|w| is_within(&w.path, &r.path) || is_within(&r.path, &w.path));
            if overlaps && writable {
                r.covers
                    .iter()
                    .map(|p| Rule {
                        path: p.clone(),
                        covers: BTreeSet::from([p.clone()]),
                    })
                    .collect()
            } else {
                vec![r]
            }
        })
        .collect::<Vec<Rule>>();
    let ro: Vec<Rule> = collapse(&ro, threshold)
        .into_iter()
        .filter(|r| !rw.iter().chain(&ex).any(|g| is_within(&r.path, &g.path)))
        .collect();
    (rw, ex, ro)
}

/// Map the run's own `/proc/<pid>` to `/proc/self`, drop what no rule may
/// name. Returns the paths kept and what was left out, in words.
pub fn normalize(obs: &Observations) -> (Observations, Vec<String>) {
    let mut out = obs.clone();
    out.paths.clear();
    let mut left = Vec::new();
    for (p, u) in &obs.paths {
        let mut path = p.clone();
        let parts: Vec<&str> = p.split('/').collect();
        if parts.get(1) == Some(&"proc") {
            if let Some(pid) = parts.get(2).and_then(|x| x.parse::<u32>().ok()) {
                if obs.tgids.contains(&pid) {
                    path = "/proc/self".to_string();
                } else {
                    left.push(format!(
                        "another process's /proc/{pid} entries (pid-specific, not granted)"
                    ));
                    continue;
                }
            }
        }
        if path == "/" {
            left.push("/ itself (opened as a directory; never granted)".into());
            continue;
        }
        if u.write && crate::safepath::never_writable(&path) {
            left.push(format!(
                "writes in {path} (never writable under this sandbox)"
            ));
            continue;
        }
        let e = out.paths.entry(path).or_default();
        e.read |= u.read;
        e.write |= u.write;
        e.exec |= u.exec;
        e.dir |= u.dir;
        e.count += u.count;
    }
    crate::sort::sort_dedup(&mut left);
    (out, left)
}

/// The section of `base` named `key` as YAML (nulls dropped), if present.
fn section(base: &Policy, key: &str) -> Option<String> {
    let v = serde_json::to_value(base).ok()?;
    let s = v.get(key)?.clone();
    let s = strip_nulls(s)?;
    let mut m = serde_json::Map::new();
    m.insert(key.to_string(), s);
    Some(crate::yaml::to_yaml(&serde_json::Value::Object(m)))
}

fn strip_nulls(v: serde_json::Value) -> Option<serde_json::Value> {
    use serde_json::Value;
    match v {
        Value::Null => None,
        Value::Object(m) => Some(Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| strip_nulls(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(strip_nulls).collect(),
        )),
        other => Some(other),
    }
}

fn ports(m: &BTreeMap<u16, u64>) -> String {
    let p: Vec<String> = m.keys().map(u16::to_string).collect();
    format!("[{}]", p.join(", "))
}

/// Render the learned policy. `Err` only when the rules cannot fit in a
/// policy (more than 256 paths even when every file is collapsed into
/// its directory).
pub fn render(obs: &Observations, base: &Policy, info: &RunInfo) -> Result<String, String> {
    let (obs, left_out) = normalize(obs);
    let mut threshold = THRESHOLD;
    let (rw, ex, ro) = loop {
        let (rw, ex, ro) = rules(&obs, threshold);
        if rw.len() + ex.len() + ro.len() <= MAX_PATHS {
            break (rw, ex, ro);
        }
        if threshold == 1 {
            return Err(format!(
                "the run used {} separate paths even after collapsing each file into its directory; a policy holds at most {MAX_PATHS}",
                rw.len() + ex.len() + ro.len()
            ));
        }
        threshold -= 1;
    };
    let mut y = String::new();
    y.push_str("# Learned by `openshell-sandbox learn` from one run of ");
    y.push_str(&shown(&info.program));
    y.push_str(
        " (its arguments and environment\n# are not recorded). One run sees one path through the program: review\n# every rule before use, and run learn again for the paths this run did not take.\n",
    );
    y.push_str(&format!("# Base policy: {}.\n", info.base));
    y.push_str(&format!(
        "# The workload exited with status {}.\n",
        info.status
    ));
    let calls: Vec<String> = obs.calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let total: u64 = obs.calls.values().sum();
    y.push_str(&format!(
        "# Calls observed: {total} ({}).\n",
        if calls.is_empty() {
            "none".to_string()
        } else {
            calls.join(", ")
        }
    ));
    if !obs.skipped.is_empty() {
        y.push_str("# Calls that need no rule:\n");
        for (why, n) in &obs.skipped {
            y.push_str(&format!("#   {n} {why}\n"));
        }
    }
    for l in &left_out {
        y.push_str(&format!("# Not granted: {l}.\n"));
    }
    y.push_str(&format!(
        "# Paths are collapsed into a directory once {threshold} or more entries beneath it\n# were used (never /, a top-level directory or a system tree); see the README.\n"
    ));
    y.push_str("version: 1\n");
    y.push_str("filesystem_policy:\n");
    y.push_str("  # The working directory is not granted as a whole: what the run used\n  # there is listed below.\n");
    y.push_str("  include_workdir: false\n");
    for (key, list) in [("read_only", &ro), ("read_write", &rw), ("execute", &ex)] {
        if key == "execute" && list.is_empty() {
            // An empty execute list is refused; without one nothing here
            // limits execution, so say it.
            y.push_str("  # No program was seen starting: execute is left out, so the read_only\n  # and read_write paths are executable (as in OpenShell).\n");
            continue;
        }
        if list.is_empty() {
            y.push_str(&format!("  {key}: []\n"));
            continue;
        }
        y.push_str(&format!("  {key}:\n"));
        for r in list.iter() {
            y.push_str(&format!(
                "    - {}  # {}\n",
                quoted(&r.path),
                comment_for(r, &obs)
            ));
        }
    }
    // The identity, capabilities and seccomp filter are the base policy's.
    for key in [
        "landlock",
        "process",
        "seccomp",
        "capabilities",
        "environment",
        "devices",
    ] {
        if let Some(s) = section(base, key) {
            y.push_str(&s);
        }
    }
    let tcp = !obs.connect_tcp.is_empty() || !obs.bind_tcp.is_empty();
    let unix_used = obs.families.contains_key("unix");
    if tcp || !unix_used || obs.listen_unbound > 0 {
        y.push_str("network:\n");
    }
    if tcp {
        let sum = |m: &BTreeMap<u16, u64>| m.values().sum::<u64>();
        y.push_str(&format!(
            "  connect_tcp: {}  # connect calls: {}\n",
            ports(&obs.connect_tcp),
            sum(&obs.connect_tcp)
        ));
        y.push_str(&format!(
            "  bind_tcp: {}  # bind calls: {}\n",
            ports(&obs.bind_tcp),
            sum(&obs.bind_tcp)
        ));
    } else {
        y.push_str("  # No TCP connect or bind was seen: no IP sockets at all.\n");
    }
    if obs.listen_unbound > 0 {
        y.push_str(&format!(
            "  # listen() on a TCP socket bound to no port was seen {} times.\n  allow_listen: true\n",
            obs.listen_unbound
        ));
    }
    if !unix_used {
        y.push_str("  # No unix socket was created.\n  unix_sockets: false\n");
    }
    if !obs.udp.is_empty() {
        y.push_str(&format!(
            "# UDP ports used: {} (no rule: only TCP ports have rules; UDP needs a TCP\n# port in network to have IP sockets at all).\n",
            ports(&obs.udp)
        ));
    }
    if obs.abstract_unix > 0 {
        y.push_str(&format!(
            "# Abstract unix socket addresses used: {} (Landlock scopes them, no rule).\n",
            obs.abstract_unix
        ));
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::observe::Use;

    fn set(p: &[&str]) -> BTreeSet<String> {
        p.iter().map(|s| (*s).to_string()).collect()
    }

    fn paths(r: &[Rule]) -> Vec<&str> {
        r.iter().map(|r| r.path.as_str()).collect()
    }

    #[test]
    fn three_entries_make_their_directory_the_rule_bottom_up() {
        let r = collapse(
            &set(&[
                "/usr/lib/python3.11/os.py",
                "/usr/lib/python3.11/re.py",
                "/usr/lib/python3.11/encodings/utf_8.py",
                "/usr/lib/python3.11/encodings/aliases.py",
                "/usr/lib/python3.11/encodings/__init__.py",
                "/usr/lib/x86_64-linux-gnu/libc.so.6",
                "/etc/ld.so.cache",
            ]),
            THRESHOLD,
        );
        assert_eq!(
            paths(&r),
            [
                "/etc/ld.so.cache",
                "/usr/lib/python3.11",
                "/usr/lib/x86_64-linux-gnu/libc.so.6"
            ]
        );
        assert_eq!(r[1].covers.len(), 5);
    }

    #[test]
    fn a_collapse_never_widens_to_a_root_or_a_system_tree() {
        let r = collapse(&set(&["/etc/a", "/etc/b", "/etc/c", "/etc/d"]), THRESHOLD);
        assert_eq!(r.len(), 4, "/etc is never produced");
        let r = collapse(&set(&["/usr/lib/a", "/usr/lib/b", "/usr/lib/c"]), 1);
        assert_eq!(r.len(), 3, "/usr/lib is never produced");
        let r = collapse(&set(&["/home/u/a", "/home/u/b", "/home/u/c"]), THRESHOLD);
        assert_eq!(r.len(), 3, "a home directory is never produced");
        let r = collapse(&set(&["/a", "/b", "/c"]), 1);
        assert_eq!(paths(&r), ["/a", "/b", "/c"], "/ is never produced");
        // A directory the run used itself stays, and covers what is beneath.
        let r = collapse(&set(&["/tmp", "/tmp/x/y"]), THRESHOLD);
        assert_eq!(paths(&r), ["/tmp"]);
        assert!(!collapsible("/usr") && !collapsible("/") && collapsible("/opt/app"));
    }

    #[test]
    fn programs_in_a_written_directory_stay_listed_one_by_one() {
        let mut o = Observations::default();
        let mut add = |p: &str, u: Use| {
            o.paths.insert(p.to_string(), u);
        };
        for t in ["t1", "t2", "t3"] {
            add(
                &format!("/opt/app/bin/{t}"),
                Use {
                    read: true,
                    exec: true,
                    count: 1,
                    ..Use::default()
                },
            );
        }
        add(
            "/opt/app/bin/out",
            Use {
                write: true,
                count: 1,
                ..Use::default()
            },
        );
        let (rw, ex, _) = rules(&o, THRESHOLD);
        assert_eq!(paths(&rw), ["/opt/app/bin/out"]);
        assert_eq!(
            paths(&ex),
            ["/opt/app/bin/t1", "/opt/app/bin/t2", "/opt/app/bin/t3"]
        );
        // Control: with nothing written there, the three make their
        // directory the rule.
        o.paths.remove("/opt/app/bin/out");
        let (_, ex, _) = rules(&o, THRESHOLD);
        assert_eq!(paths(&ex), ["/opt/app/bin"]);
    }

    #[test]
    fn credential_like_names_are_redacted_in_comments() {
        assert!(looks_secret("api_token.txt"));
        assert!(looks_secret("sk-abcdef"));
        assert!(looks_secret("a1b2c3d4e5f6g7h8i9j0k1l2m3"));
        assert!(!looks_secret("os.cpython-311.pyc"));
        assert!(!looks_secret("libc.so.6"));
        assert_eq!(shown("/run/secrets/db/x"), "/run/<redacted>");
        assert_eq!(shown("/a/\u{1b}b"), "/a/\\u{1b}b");
    }

    fn obs() -> Observations {
        let mut o = Observations::default();
        let mut add = |p: &str, u: Use| {
            o.paths.insert(p.into(), Use { count: 1, ..u });
        };
        let read = Use {
            read: true,
            ..Use::default()
        };
        for f in ["a.py", "b.py", "c.py"] {
            add(&format!("/opt/app/lib/{f}"), read);
        }
        add("/etc/hosts", read);
        add("/etc/token-file", read);
        add(
            "/data/out",
            Use {
                write: true,
                dir: true,
                ..Use::default()
            },
        );
        add("/data/out/in.txt", read);
        add(
            "/usr/bin/python3.11",
            Use {
                read: true,
                exec: true,
                ..Use::default()
            },
        );
        add("/proc/77/status", read);
        add("/proc/78/status", read);
        add("/", read);
        o.tgids.insert(77);
        o.connect_tcp.insert(8080, 2);
        o.families.insert("inet", 1);
        o.calls.insert("openat", 9);
        o
    }

    #[test]
    fn the_rendered_policy_passes_check_and_says_what_was_seen() {
        let base = crate::policy::parse_bytes(
            "base.yaml",
            b"version: 1\nprocess: {run_as_user: 1500}\nseccomp: {deny: [chroot]}\n",
        )
        .unwrap();
        let info = RunInfo {
            program: "/usr/bin/python3.11".into(),
            base: "base.yaml".into(),
            status: 0,
        };
        let y = render(&obs(), &base, &info).unwrap();
        let p = crate::policy::parse_bytes("learned.yaml", y.as_bytes())
            .unwrap_or_else(|e| panic!("{e:?}\n{y}"));
        let fs = p.filesystem_policy.unwrap();
        assert_eq!(
            fs.read_only,
            [
                "/etc/hosts",
                "/etc/token-file",
                "/opt/app/lib",
                "/proc/self"
            ]
        );
        assert_eq!(fs.read_write, ["/data/out"]);
        assert_eq!(fs.execute, Some(vec!["/usr/bin/python3.11".to_string()]));
        assert!(!fs.include_workdir);
        let n = p.network.unwrap();
        assert_eq!((n.connect_tcp, n.bind_tcp), (vec![8080], vec![]));
        assert!(!n.unix_sockets, "no unix socket was created");
        assert_eq!(p.process.unwrap().run_as_user.unwrap().0, "1500");
        assert_eq!(p.seccomp.unwrap().deny, ["chroot"]);
        assert!(y.contains("# Not granted: / itself"), "{y}");
        assert!(y.contains("another process's /proc/78"), "{y}");
        assert!(y.contains("3 paths, 3 calls, e.g. a.py, b.py, c.py"), "{y}");
        // The path is a rule, but no comment repeats a credential-like name.
        assert_eq!(y.matches("token-file").count(), 1, "{y}");
    }
}
