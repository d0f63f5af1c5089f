//! The `plan` phase: a pure function from (policy, run options, host facts)
//! to a [`Plan`] — plain data listing every rule this host would enforce and
//! every one it could not. `openshell-sandbox plan` prints it; `apply`
//! performs exactly it; tests compare it whole. Nothing here reads the host:
//! everything host-dependent arrives in [`HostFacts`], gathered by `resolve`.
//!
//! Each mechanism plans its own part (`landlock::plan`, `identity::plan`,
//! `cdi::grants`, `env::plan`, `capabilities::plan`, `seccomp::plan_policy`,
//! `process::plan_rlimits`); [`build`] calls them in a fixed order and
//! appends their blockers and dropped findings in that order.

use serde::Serialize;

use crate::error::Finding;
use crate::identity::{self, IdentityPlan};
use crate::landlock::{self, FilesystemPlan, NetworkPlan};
// Named here too for tests/cdi.rs, which reads the rules' origins.
pub use crate::landlock::RuleOrigin;
use crate::policy::model::Policy;
use crate::policy::{Source, paths};
use crate::probe::HostFacts;
use crate::process::{self, RlimitPlan};
use crate::{env, seccomp};

/// How the workload is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Apply, then replace this process with the workload.
    Exec,
    /// Fork; the child applies and execs, the parent stays as a minimal init.
    Init,
}

/// Run options that shape the plan (from the command line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    pub workdir: Option<String>,
    pub devices: Vec<String>,
    pub cdi_dirs: Vec<String>,
    /// `Some(true)` = `--init`, `Some(false)` = `--exec`, `None` = decide.
    pub init: Option<bool>,
    pub preserve_fds: Vec<i32>,
    /// The workload's argv, as bytes.
    pub command: Vec<std::ffi::OsString>,
    /// Plan only what a launch applies: the seccomp filter for this
    /// machine's architecture alone (a launch installs nothing else), and
    /// no per-device view of the devices section (`cdi.granted`, which
    /// only a printed plan shows). The `plan` command shows both.
    pub for_launch: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub policy: PolicyInfo,
    pub mode: Mode,
    /// Bytes that are not UTF-8 are shown as `\xNN` (see `bytes`).
    #[serde(serialize_with = "crate::bytes::serialize_list")]
    pub command: Vec<std::ffi::OsString>,
    pub workdir: Option<String>,
    pub identity: IdentityPlan,
    pub filesystem: FilesystemPlan,
    pub network: NetworkPlan,
    pub environment: env::EnvPlan,
    pub rlimits: Vec<RlimitPlan>,
    pub capabilities: crate::capabilities::CapabilityPlan,
    /// `None` only when the seccomp plan itself failed (then `blockers`
    /// says why and `run` stops).
    pub seccomp: Option<seccomp::SeccompPlan>,
    pub devices: crate::cdi::grants::DevicesPlan,
    /// Everything the policy asked for that this host will not enforce,
    /// each naming what and why. Empty under full enforcement.
    pub dropped: Vec<Finding>,
    /// Rules that grant more than they read as (a `read_only` path beneath a
    /// `read_write` one is writable).
    pub widened: Vec<String>,
    /// Conditions that stop `run` with exit 125 (`plan` only reports them);
    /// the first is the error `run` stops with.
    pub blockers: Vec<Finding>,
    /// Gaps of this kernel or node that no policy can close, with what the
    /// operator can do (logged at info level, shown in plans and reports).
    pub host_limits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    pub source: Source,
    pub description: String,
}

/// Build the plan. Pure: the same inputs always give the same plan.
pub fn build(policy: &Policy, source: &Source, opts: &RunOptions, host: &HostFacts) -> Plan {
    // ---- workdir ----
    let workdir = opts
        .workdir
        .clone()
        .or_else(|| policy.process.as_ref().and_then(|p| p.workdir.clone()))
        .map(|w| paths::normalize(&w));

    // ---- landlock: filesystem rules, features, network ----
    let mut identity = identity::plan(policy, host);
    let landlock::Planned {
        mut filesystem,
        network,
        mut blockers,
        mut dropped,
        widened,
    } = landlock::plan(policy, workdir.as_deref(), identity.uid, host);

    // ---- identity, devices, env, caps, seccomp, rlimits ----
    if let Some(b) = &identity.blocker {
        blockers.push(b.clone());
    }
    // CDI devices add Landlock rules, env and supplementary groups.
    let mut devices = crate::cdi::grants::devices_plan(policy, &opts.devices, &opts.cdi_dirs, host);
    blockers.extend(crate::cdi::grants::not_allowed_blockers(
        &devices,
        policy,
        &opts.devices,
    ));
    let cdi = crate::cdi::grants::plan(
        &devices,
        &crate::cdi::grants::Context {
            policy,
            host,
            abi: filesystem.abi,
            ioctl_required: filesystem.required.ioctl_dev,
            ioctl_enforced: filesystem.enforced.ioctl_dev,
            uid: identity.uid,
            gid: identity.gid,
            sets_groups: identity.groups.is_some(),
            device_views: !opts.for_launch,
        },
    );
    devices.cdi = cdi.cdi;
    landlock::add_rules(&mut filesystem, cdi.rules, host);
    if let Some(b) = cdi.ioctl_blocker {
        // Name the device node rather than "device files".
        landlock::name_device_ioctl(&mut blockers, b);
    }
    blockers.extend(cdi.blockers);
    dropped.extend(cdi.dropped);
    identity::add_device_groups(&mut identity, &cdi.gids);
    let mut environment = env::plan(policy, host, &identity);
    env::add_device_env(&mut environment, &cdi.env);
    let caps = crate::capabilities::plan(policy, identity.switch, &host.caps);
    blockers.extend(caps.blockers);
    dropped.extend(caps.dropped);
    let capabilities = caps.plan;
    let sc = seccomp::plan_policy(
        policy,
        network.inet_sockets,
        network.tcp_enforced,
        opts.for_launch,
    );
    blockers.extend(sc.blockers);
    dropped.extend(sc.dropped);
    let seccomp = sc.plan;

    let rlimits = process::plan_rlimits(policy);

    let mode = match opts.init {
        Some(true) => Mode::Init,
        Some(false) => Mode::Exec,
        None if host.pid == 1 => Mode::Init,
        None => Mode::Exec,
    };

    let host_limits = landlock::host_limits(host, network.inet_sockets);

    Plan {
        policy: PolicyInfo {
            description: source.describe(),
            source: source.clone(),
        },
        mode,
        command: opts.command.clone(),
        workdir,
        identity,
        filesystem,
        network,
        environment,
        rlimits,
        capabilities,
        seccomp,
        devices,
        dropped,
        widened,
        blockers,
        host_limits,
    }
}
