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
    // A writable `/` or system tree is a blocker of its own (see
    // `landlock::never_writable_blocker`); letting it distrust every link on
    // the host would only bury that line under noise.
    trust
        .writable
        .retain(|w| !crate::safepath::NEVER_WRITABLE.contains(&w.as_str()));
    crate::sort::sort_dedup(&mut trust.writable);
    trust
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
    resolve_holding(policy, workdir, None)
}

/// [`resolve`], keeping the policy's paths open in `held` (a launch adds
/// its Landlock rules on them).
fn resolve_holding(
    policy: &Policy,
    workdir: Option<&str>,
    mut held: Option<&mut crate::safepath::Held>,
) -> HostFacts {
    let uid = probe::nix_uid();
    let mut facts = HostFacts {
        groups: if uid == 0 {
            Vec::new()
        } else {
            probe::getgroups()
        },
        landlock: probe::landlock_abi(),
        pid: std::process::id(),
        uid,
        gid: probe::nix_gid(),
        passwd: probe::read_small("/etc/passwd"),
        group: probe::read_small("/etc/group"),
        env: crate::env::supervisor_env(),
        caps: crate::capabilities::current(),
        memfd_noexec: probe::memfd_noexec(),
        ..HostFacts::default()
    };
    // Paths are resolved knowing who the workload will be: what its uid
    // owns is never trusted (see `safepath`).
    let mut trust = writable_paths(policy, workdir);
    trust.workload_uid = Some(crate::identity::plan(policy, &facts).uid);
    let mut walker = crate::safepath::Walker::new(&trust);
    for p in candidate_paths(policy, workdir) {
        // Sorted by `writable_paths`: hundreds of paths stay linear.
        let writable = trust.writable.binary_search(&p).is_ok();
        let (st, r, fd) = probe::path_state_open(&p, &mut walker, writable);
        if let (Some(held), Some(fd)) = (held.as_deref_mut(), fd) {
            held.keep(&p, fd);
        }
        if let Some(r) = r {
            facts.resolved.insert(p.clone(), r);
        }
        facts.paths.insert(p, st);
    }
    drop(walker);
    let anyone = crate::safepath::Trust::default();
    let mut walker = crate::safepath::Walker::new(&anyone);
    let mut never_writable: Vec<(u64, u64)> = crate::safepath::NEVER_WRITABLE
        .iter()
        .filter_map(|p| walker.open(p).ok().map(|r| (r.dev, r.ino)))
        .collect();
    drop(walker);
    crate::sort::sort_dedup(&mut never_writable);
    facts.never_writable = never_writable;
    facts.trust = trust;
    facts
}

/// [`resolve`], plus the CDI facts for the devices `opts` and the policy
/// request: the spec directories are scanned only when a device is
/// requested, then every node, mount and CUDA path the resolved devices
/// name is examined.
pub fn resolve_run(policy: &Policy, opts: &RunOptions) -> HostFacts {
    resolve_run_holding(policy, opts, None)
}

/// [`resolve_run`], keeping the policy's paths open in `held`.
pub fn resolve_run_holding(
    policy: &Policy,
    opts: &RunOptions,
    held: Option<&mut crate::safepath::Held>,
) -> HostFacts {
    let mut facts = resolve_holding(policy, opts.workdir.as_deref(), held);
    let devices = crate::cdi::grants::devices_plan(policy, &opts.devices, &opts.cdi_dirs, &facts);
    if devices.requested.is_empty() {
        return facts;
    }
    let registry = crate::cdi::scan::scan(&devices.spec_dirs, &facts.trust);
    let names: Vec<String> = devices.requested.iter().map(|r| r.name.clone()).collect();
    let res = crate::cdi::resolve::resolve(&registry, &names);
    for (n, _) in &res.merged.nodes {
        for p in [n.path.as_str(), n.host_path()] {
            if let std::collections::btree_map::Entry::Vacant(v) =
                facts.cdi.nodes.entry(p.to_string())
            {
                v.insert(probe::node_state(p));
            }
        }
    }
    let mut extra: Vec<String> = res
        .merged
        .mounts
        .iter()
        .map(|(m, _)| paths::normalize(&m.container_path))
        .collect();
    extra.extend(crate::cdi::CUDA_PATHS.iter().map(|p| p.to_string()));
    let trust = facts.trust.clone();
    let mut walker = crate::safepath::Walker::new(&trust);
    for p in extra {
        if let std::collections::btree_map::Entry::Vacant(v) = facts.paths.entry(p) {
            let (st, r) = probe::path_state(v.key(), &mut walker, false);
            if let Some(r) = r {
                facts.resolved.insert(v.key().clone(), r);
            }
            v.insert(st);
        }
    }
    facts.cdi.registry = registry;
    facts.cdi.scanned = true;
    facts.cdi.groups = probe::current_groups();
    facts
}
