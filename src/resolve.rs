//! The `resolve` phase: the only code that reads the host to build a plan.
//! It gathers the [`HostFacts`] a policy and the run options need: who we
//! run as, the image's account files, the state of every path the plan
//! can mention (resolved as the supervisor will open them, see
//! `safepath`), and the CDI specs and nodes of the devices requested.
//! Which facts are needed depends on the plan's parts (the workload's uid,
//! the devices requested), so this sits above the planners; the facts
//! themselves and their readers are in `probe`.

use crate::plan::RunOptions;
use crate::policy::Policy;
use crate::policy::paths;
use crate::probe::{self, HostFacts};

/// The paths a policy makes writable, spelled and as they resolve: the
/// `read_write` rules and the workdir when it is included.
pub fn writable_paths(policy: &Policy, workdir: Option<&str>) -> crate::safepath::Trust {
    let spelled = spelled_writable(policy, workdir);
    let mut trust = crate::safepath::Trust {
        writable: spelled.clone(),
        workload_uid: None,
    };
    // Where a writable path leads through links, what lies there is
    // writable too (a link that is itself untrusted fails later).
    let mut walker = crate::safepath::Walker::new(&trust);
    let resolved: Vec<String> = spelled
        .iter()
        .filter_map(|p| walker.open(p).ok().map(|r| r.path))
        .collect();
    drop(walker);
    trust.writable.extend(resolved);
    settle(&mut trust.writable);
    trust
}

/// The `read_write` rules and the workdir (when included), normalized, as
/// the policy spells them.
fn spelled_writable(policy: &Policy, workdir: Option<&str>) -> Vec<String> {
    let mut spelled: Vec<String> = Vec::new();
    let fs = policy.filesystem_policy.as_ref();
    if let Some(f) = fs {
        spelled.extend(f.read_write.iter().map(|p| paths::normalize(p)));
    }
    if fs.is_none_or(|f| f.include_workdir) {
        if let Some(w) = workdir_of(policy, workdir) {
            spelled.push(paths::normalize(&w));
        }
    }
    spelled
}

/// A writable set as trust holds it: sorted, once each, and without `/`
/// and the system trees. A writable `/` or system tree is a blocker of its
/// own (see `landlock::never_writable_blocker`); letting it distrust every
/// link on the host would only bury that line under noise.
fn settle(writable: &mut Vec<String>) {
    writable.retain(|w| !crate::safepath::NEVER_WRITABLE.contains(&w.as_str()));
    crate::sort::sort_dedup(writable);
}

fn workdir_of(policy: &Policy, workdir: Option<&str>) -> Option<String> {
    workdir
        .map(str::to_string)
        .or_else(|| policy.process.as_ref().and_then(|p| p.workdir.clone()))
}

/// Every host path a plan for `policy` can mention.
pub fn candidate_paths(policy: &Policy, workdir: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(fs) = &policy.filesystem_policy {
        out.extend(fs.read_only.iter().map(|p| paths::normalize(p)));
        out.extend(fs.read_write.iter().map(|p| paths::normalize(p)));
        // An execute path is a rule of its own (readable and executable),
        // also when no read_only or read_write entry names it.
        out.extend(fs.execute.iter().flatten().map(|p| paths::normalize(p)));
    }
    if let Some(w) = workdir_of(policy, workdir) {
        out.push(paths::normalize(&w));
    }
    crate::sort::sort_dedup(&mut out);
    out
}

/// Gather the facts for a plan. Reads the host; never fails (a fact that
/// cannot be read is recorded as such and judged by the plan).
pub fn resolve(policy: &Policy, workdir: Option<&str>) -> HostFacts {
    resolve_holding(policy, workdir, None, crate::env::supervisor_env())
}

/// [`resolve`], keeping the policy's paths open in `held` (a launch adds
/// its Landlock rules on them).
fn resolve_holding(
    policy: &Policy,
    workdir: Option<&str>,
    mut held: Option<&mut crate::safepath::Held>,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
) -> HostFacts {
    let (uid, gid, mixed_ids) = probe::process_ids();
    let mut facts = HostFacts {
        groups: if uid == 0 {
            Vec::new()
        } else {
            probe::getgroups()
        },
        landlock: probe::landlock_abi(),
        pid: std::process::id(),
        uid,
        gid,
        mixed_ids,
        passwd: probe::read_small("/etc/passwd"),
        group: probe::read_small("/etc/group"),
        env,
        caps: crate::capabilities::current(),
        memfd_noexec: probe::memfd_noexec(),
        ..HostFacts::default()
    };
    // Paths are resolved knowing who the workload will be: what its uid
    // owns is never trusted (see `safepath`), and what is writable, which
    // is where the writable paths lead (`writable_paths`, a walk of its
    // own). Most policies' writable paths lead nowhere else: the paths are
    // walked with the writable set as spelled first, and only when a
    // writable path was reached through a link, or not reached, is the
    // writable set computed and, if it differs, every path walked again.
    // (A path walked without a link is walked without one under any
    // trust, so it leads to itself for `writable_paths` too.)
    let uid = crate::identity::workload_uid(policy, &facts);
    let spelled = spelled_writable(policy, workdir);
    let mut trust = crate::safepath::Trust {
        writable: spelled.clone(),
        workload_uid: Some(uid),
    };
    settle(&mut trust.writable);
    let candidates = candidate_paths(policy, workdir);
    // In the candidates' order: sorted.
    let direct = walk_paths(&candidates, &trust, &mut facts, held.as_deref_mut());
    if spelled
        .iter()
        .any(|p| direct.binary_search(&p.as_str()).is_err())
    {
        let mut full = writable_paths(policy, workdir);
        full.workload_uid = Some(uid);
        if full.writable != trust.writable {
            facts.paths.clear();
            facts.resolved.clear();
            if let Some(h) = held.as_deref_mut() {
                h.clear();
            }
            walk_paths(&candidates, &full, &mut facts, held);
            trust = full;
        }
    }
    // The system trees' inodes, wherever their links lead: one `stat`
    // each, the kernel following every link. This is a list of what is
    // refused, so following links a walk would refuse to follow (one not
    // owned by root, a magic link) can only refuse more, never less.
    let trees: Vec<probe::Tree> = crate::safepath::NEVER_WRITABLE
        .iter()
        .filter_map(|&p| {
            nix::sys::stat::stat(p)
                .ok()
                .map(|st| (p, (st.st_dev, st.st_ino)))
        })
        .collect();
    let mut never_writable: Vec<(u64, u64)> = trees.iter().map(|t| t.1).collect();
    crate::sort::sort_dedup(&mut never_writable);
    facts.never_writable = never_writable;
    if !spelled.is_empty() {
        match probe::mounts(&trees) {
            Ok(m) => facts.mounts = m,
            Err(why) => facts.mounts_unknown = Some(why),
        }
    }
    let aliases = facts.mounts.aliases(&trust.writable);
    if !aliases.is_empty() {
        trust.writable.extend(aliases.iter().cloned());
        settle(&mut trust.writable);
    }
    facts.writable_aliases = aliases;
    facts.trust = trust;
    facts
}

/// Resolves each of `paths` under `trust` into `facts` (keeping each
/// descriptor in `held`); returns the paths reached without a link, in
/// the order of `paths`.
fn walk_paths<'p>(
    paths: &'p [String],
    trust: &crate::safepath::Trust,
    facts: &mut HostFacts,
    mut held: Option<&mut crate::safepath::Held>,
) -> Vec<&'p str> {
    let mut direct = Vec::with_capacity(paths.len());
    let mut walker = crate::safepath::Walker::new(trust);
    // Each path adds one entry to each map: grown once, not by doubling.
    facts.paths.reserve(paths.len());
    facts.resolved.reserve(paths.len());
    if let Some(held) = held.as_deref_mut() {
        held.reserve(paths.len());
    }
    let mut writable_at = Cursor::new(&trust.writable);
    for p in paths {
        let writable = writable_at.contains(p);
        let found = probe::path_state_open(p, &mut walker, writable);
        if let (Some(held), Some(fd)) = (held.as_deref_mut(), found.fd) {
            held.keep(p, fd);
        }
        if found.state.is_ok() && !found.via_link {
            direct.push(p.as_str());
        }
        if let Some(r) = found.resolved {
            facts.resolved.insert(p.clone(), r);
        }
        facts.paths.insert(p.clone(), found.state);
    }
    direct
}

/// Membership in a sorted list for keys asked in ascending order (the
/// candidates, against the writable paths: both sorted), one comparison
/// a step rather than a search a key. A key below one asked before is
/// searched for in the whole list.
struct Cursor<'a> {
    sorted: &'a [String],
    /// Every entry before it is below the highest key asked so far.
    at: usize,
    highest: Option<&'a str>,
}

impl<'a> Cursor<'a> {
    fn new(sorted: &'a [String]) -> Self {
        debug_assert!(sorted.is_sorted(), "a Cursor needs a sorted list");
        Cursor {
            sorted,
            at: 0,
            highest: None,
        }
    }

    fn contains(&mut self, key: &'a str) -> bool {
        if self.highest.is_some_and(|h| key < h) {
            return self
                .sorted
                .binary_search_by(|e| e.as_str().cmp(key))
                .is_ok();
        }
        self.highest = Some(key);
        while self.sorted.get(self.at).is_some_and(|e| e.as_str() < key) {
            self.at += 1;
        }
        self.sorted.get(self.at).is_some_and(|e| e == key)
    }
}

/// [`resolve`], plus the CDI facts for the devices `opts` and the policy
/// request: the spec directories are scanned only when a device is
/// requested, then every node, mount and CUDA path the resolved devices
/// name is examined.
pub fn resolve_run(policy: &Policy, opts: &RunOptions) -> HostFacts {
    resolve_run_holding(policy, opts, None, crate::env::supervisor_env())
}

/// [`resolve_run`], keeping the policy's paths and the devices' mount
/// paths open in `held`, with the supervisor's environment as the caller
/// read it (`env::supervisor_env`: a launch reads it once, for its checks,
/// the plan and the workload).
pub fn resolve_run_holding(
    policy: &Policy,
    opts: &RunOptions,
    mut held: Option<&mut crate::safepath::Held>,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
) -> HostFacts {
    let mut facts = resolve_holding(policy, opts.workdir.as_deref(), held.as_deref_mut(), env);
    let devices = crate::cdi::grants::devices_plan(policy, &opts.devices, &opts.cdi_dirs, &facts);
    if devices.requested.is_empty() {
        return facts;
    }
    // One walker for the specs, the nodes and the mounts: the directories
    // on the way to each are walked once.
    let trust = facts.trust.clone();
    let mut walker = crate::safepath::Walker::new(&trust);
    let registry = crate::cdi::scan::scan_with(&devices.spec_dirs, &mut walker);
    let names: Vec<String> = devices.requested.iter().map(|r| r.name.clone()).collect();
    let res = crate::cdi::resolve::resolve(&registry, &names);
    for (n, _) in &res.merged.nodes {
        let (p, hp) = (n.path.as_str(), n.host_path());
        if !facts.cdi.nodes.contains_key(p) {
            let st = probe::node_state(p, &mut walker, false);
            // A node the fallback is to create: whether it may be, where
            // it is to be, as `apply` will judge.
            if !devices.runtime_applied && st.as_ref().is_err_and(|e| e == probe::MISSING) {
                if let Some(why) = crate::cdi::fallback::node_creation_refusal(p, &mut walker) {
                    facts.cdi.not_created.insert(p.to_string(), why);
                }
            }
            facts.cdi.nodes.insert(p.to_string(), st);
        }
        if hp != p && !facts.cdi.host_nodes.contains_key(hp) {
            let st = probe::node_state(hp, &mut walker, true);
            facts.cdi.host_nodes.insert(hp.to_string(), st);
        }
    }
    // The emulated hooks' checks, made now: the plan then says whether
    // one would be refused.
    if !devices.runtime_applied {
        for (h, _) in &res.merged.hooks {
            let crate::cdi::grants::HookAction::Emulate(e) = crate::cdi::grants::hook_emulation(h)
            else {
                continue;
            };
            if facts.cdi.hook_refusals.iter().any(|(x, _)| x == *h) {
                continue;
            }
            if let Some(crate::error::Error::Apply {
                object,
                cause,
                hint,
            }) = crate::cdi::fallback::emulation_refusal(&e, &trust)
            {
                let cause = if object == "cdi" {
                    cause
                } else {
                    format!("{object}: {cause}")
                };
                facts.cdi.hook_refusals.push(((*h).clone(), (cause, hint)));
            }
        }
    }
    let mut extra: Vec<String> = res
        .merged
        .mounts
        .iter()
        .map(|(m, _)| paths::normalize(&m.container_path))
        .collect();

    if crate::cdi::grants::any_nvidia(&res.found, &registry) {
        extra.extend(crate::cdi::CUDA_PATHS.iter().map(|p| p.to_string()));
    }
    // Kept open as the policy's paths are: Landlock adds each mount's rule
    // on the object found here instead of walking to it again (a GPU's
    // spec mounts some thirty driver files). Only where the runtime made
    // the devices: the fallback's hooks run as root between the plan and
    // the rules and may put a link where a path was, which the second
    // walk then reports. Not what lies in /proc, which names the planning
    // process there.
    let mut held = held.filter(|_| devices.runtime_applied);
    if let Some(held) = held.as_deref_mut() {
        held.reserve(extra.len());
    }
    for p in extra {
        if let std::collections::hash_map::Entry::Vacant(v) = facts.paths.entry(p) {
            let found = probe::path_state_open(v.key(), &mut walker, false);
            if let (Some(held), Some(fd)) = (held.as_deref_mut(), found.fd) {
                if !paths::is_within(v.key(), "/proc") {
                    held.keep(v.key(), fd);
                }
            }
            if let Some(r) = found.resolved {
                facts.resolved.insert(v.key().clone(), r);
            }
            v.insert(found.state);
        }
    }
    facts.cdi.registry = registry;
    facts.cdi.scanned = true;
    // The supervisor's own supplementary groups: `facts.groups` already
    // holds them unless the supervisor is root (which may give any gid).
    facts.cdi.groups = if facts.uid == 0 {
        probe::getgroups()
    } else {
        facts.groups.clone()
    };
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the two walks (the writable set first, then every path)
    /// found: the reference for the one-walk shortcut.
    fn two_walks(policy: &Policy, facts: &HostFacts) -> (crate::safepath::Trust, HostFacts) {
        let mut trust = writable_paths(policy, None);
        trust.workload_uid = Some(crate::identity::plan(policy, facts).uid);
        let mut out = HostFacts::default();
        walk_paths(&candidate_paths(policy, None), &trust, &mut out, None);
        (trust, out)
    }

    #[test]
    fn cursor_answers_as_a_search_in_any_order() {
        let sorted: Vec<String> = ["/a", "/a/b", "/c", "/e"].map(String::from).to_vec();
        let keys = ["/", "/a", "/a/b", "/b", "/c", "/d", "/e", "/f"];
        // Ascending, then every order of a few keys (out of order falls
        // back to the search).
        let mut orders: Vec<Vec<&str>> = vec![keys.to_vec()];
        orders.push(keys.iter().rev().copied().collect());
        orders.push(vec!["/a", "/e", "/c", "/c", "/a/b", "/f", "/a", "/b"]);
        for order in orders {
            let mut c = Cursor::new(&sorted);
            for k in order {
                assert_eq!(
                    c.contains(k),
                    sorted.binary_search(&k.to_string()).is_ok(),
                    "{k}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn cursor_is_a_search_for_any_keys(
            list in proptest::collection::vec("/[ab]{0,3}", 0..8),
            keys in proptest::collection::vec("/[ab]{0,3}", 0..12),
        ) {
            let mut sorted = list;
            sorted.sort();
            sorted.dedup();
            let mut c = Cursor::new(&sorted);
            for k in &keys {
                proptest::prop_assert_eq!(c.contains(k), sorted.binary_search(k).is_ok());
            }
        }
    }

    #[test]
    fn one_walk_finds_what_two_walks_find() {
        let d = std::env::temp_dir().join(format!("resolve-one-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("data/sub")).unwrap();
        std::fs::create_dir_all(d.join("real")).unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("link")).unwrap();
        let ds = d.display();
        let cases = [
            // Every writable path leads to itself: one walk.
            format!("read_write: [{ds}/data, /tmp]\n  read_only: [{ds}/data/sub, {ds}/real, /usr]"),
            // Through a link (root's, in a sticky /tmp): the writable set
            // grows by where it leads, and the paths are walked again.
            format!("read_write: [{ds}/link]\n  read_only: [{ds}/real, /usr]"),
            // Through /var/run -> /run, and a missing one.
            format!(
                "read_write: [/var/run/resolve-test-none, {ds}/missing]\n  read_only: [/run, /usr]"
            ),
        ];
        for (i, fs) in cases.iter().enumerate() {
            let text = format!(
                "version: 1\nfilesystem_policy:\n  {fs}\nprocess: {{run_as_user: 1500, run_as_group: 1500}}\n"
            );
            let policy = crate::policy::parse_str("p.yaml", &text).unwrap();
            let facts = resolve(&policy, None);
            let (trust, want) = two_walks(&policy, &facts);
            assert_eq!(facts.trust, trust, "case {i}");
            assert_eq!(facts.paths, want.paths, "case {i}");
            assert_eq!(facts.resolved, want.resolved, "case {i}");
            if i == 1 {
                // The control: the link's target is writable, which the
                // spelled set alone would not have said.
                assert!(trust.writable.contains(&format!("{ds}/real")), "{trust:?}");
            }
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
