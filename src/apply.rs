//! The `apply` phase: perform a [`Plan`] in one fixed order, in a
//! single-threaded process. Any failure returns an error before exec, so
//! nothing half-applied ever runs.
//!
//! Order, and why:
//!
//! 1. Close inherited fds (except `--preserve-fd` and `LISTEN_FDS` ones,
//!    whose close-on-exec flag is cleared) — before we open our own.
//! 2. Build the Landlock ruleset, as root — so root-only directories can be
//!    granted — on the O_PATH|O_CLOEXEC fds the resolve phase kept open
//!    (step 1 leaves them), opening again only paths it did not keep.
//! 3. Verify device nodes (CDI), or create them and emulate the NVIDIA
//!    hooks in the fallback; pin `/proc/self/task` for CUDA. Runs before
//!    step 2's opens, since Landlock must find the nodes it creates.
//! 4. Open what must be read after Landlock (`/proc/self/status` for the
//!    read-back, the `--report` file) — Landlock checks opens, not reads;
//!    and before step 5's rlimits, so that a low `nofile` limits the
//!    workload, not the read-back.
//! 5. New session, rlimits — need no privilege, but setrlimit raising a
//!    hard limit does, so before the identity switch. With no workdir
//!    planned, the inherited working directory is entered again by its
//!    path (one a covering mount hides is refused).
//! 6. setgroups -> setresgid -> setresuid, keeping only the capabilities
//!    the later steps need (PR_SET_KEEPCAPS across the switch, effective
//!    set re-raised after), then verify that setresuid(0,0,0) fails. In
//!    init mode PR_SET_PDEATHSIG is armed again here: the switch clears it.
//! 7. chdir to the workdir — as the target user, so permissions are its own.
//! 8. Capability sets: bounding, then securebits set and locked (both need
//!    CAP_SETPCAP, so before it goes), then inheritable, permitted and
//!    effective = keep, then ambient = keep.
//! 9. no_new_privs — required by Landlock and seccomp for an unprivileged
//!    process, and it stops setuid binaries from regaining privilege.
//! 10. Landlock restrict_self, checking the kernel enforced what the plan
//!     says.
//! 11. seccomp filter last: everything above needs syscalls it denies.
//! 12. Read back /proc/self/status and compare with the plan.
//!
//! Then the `--report` is written and `exec` resets SIGPIPE and the signal
//! mask and replaces the process. The steps are timed with a monotonic
//! clock, one read per step (`timings_us` in the report; bench/run.sh).

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::{capabilities, cdi, identity, landlock, process, seccomp, verify};

/// What was applied, for `--report` and the log.
#[derive(Debug, serde::Serialize)]
pub struct Applied {
    pub landlock: landlock::Status,
    pub seccomp: seccomp::Status,
    pub readback: verify::Readback,
    /// The supervisor's memory at the read-back (not a check).
    pub memory_kib: verify::Memory,
    /// How long each phase took, load to read-back (not a check).
    pub timings_us: verify::Timings,
}

/// What the launch adds to the plan.
#[derive(Clone, Copy, Default)]
pub struct Context<'a> {
    /// fds that survive step 1 (`--preserve-fd`, systemd `LISTEN_FDS`).
    pub keep_fds: &'a [i32],
    /// The policy's paths as the plan resolved them, still open: they
    /// survive step 1 (close-on-exec) and step 2 adds its rules on them.
    pub held: Option<&'a crate::safepath::Held>,
    /// `--report` target (`-` = stderr), opened in step 5.
    pub report: Option<&'a str>,
    /// In init mode, the PID-1 parent: PR_SET_PDEATHSIG is armed again
    /// after step 6, since the identity switch clears it.
    pub parent: Option<libc::pid_t>,
    /// The clock started at launch, with the load/resolve/plan marks.
    pub timings: verify::Timings,
    /// `learn`: step 11 installs the filter with a notification listener
    /// and hands it to this (which sends it to the parent) before the
    /// step ends; nothing observed may run before then.
    pub listener_to: Option<&'a dyn Fn(std::os::fd::OwnedFd) -> Result<()>>,
}

/// Apply the plan to this process. Single-threaded: the caller never
/// started another thread (init mode forks before any).
pub fn apply(plan: &Plan, ctx: &Context) -> Result<(Applied, verify::Handles)> {
    let mut t = ctx.timings;
    t.mark("launch"); // logging, environment, fork in init mode
    let held_fds = ctx
        .held
        .map(crate::safepath::Held::raw_fds)
        .unwrap_or_default();
    process::close_fds(ctx.keep_fds, &held_fds)?; // 1
    t.mark("fds");
    cdi::apply(&plan.devices, &plan.filesystem.trust())?; // 3, before 2: Landlock opens the nodes it creates
    t.mark("cdi");
    let ruleset = landlock::prepare(&plan.filesystem, &plan.network, ctx.held)?; // 2
    t.mark("landlock_prepare");
    let handles = verify::open_handles(ctx.report)?; // 4
    t.mark("handles");
    process::new_session()?; // 5
    process::set_rlimits(&plan.rlimits)?;
    if plan.workdir.is_none() {
        process::reenter_cwd()?;
    }
    t.mark("session_rlimits");
    identity::switch(&plan.identity, &plan.capabilities)?; // 6
    if let Some(parent) = ctx.parent {
        process::die_with_parent(parent)?;
    }
    process::chdir(plan.workdir.as_deref())?; // 7
    t.mark("identity");
    capabilities::apply(&plan.capabilities)?; // 8
    capabilities::set_no_new_privs()?; // 9
    let securebits = capabilities::securebits()?; // for step 12: see there
    t.mark("capabilities");
    let ll = landlock::restrict(ruleset, &plan.filesystem, &plan.dropped)?; // 10
    t.mark("landlock_restrict");
    let sc = match (&plan.seccomp, ctx.listener_to) {
        (Some(p), None) => {
            seccomp::install_plan(p).map_err(|e| Error::apply("seccomp", e.to_string()))?
        }
        (Some(p), Some(hand_off)) => {
            let (status, listener) = seccomp::install_plan_with_listener(p)
                .map_err(|e| Error::apply("seccomp", e.to_string()))?;
            hand_off(listener)?;
            status
        }
        (None, _) => return Err(Error::apply("seccomp", "no filter was planned")),
    }; // 11
    t.mark("seccomp");
    let (readback, memory_kib) = verify::readback(&handles, plan, securebits)?; // 12
    t.mark("readback");
    Ok((
        Applied {
            landlock: ll,
            seccomp: sc,
            readback,
            memory_kib,
            timings_us: t,
        },
        handles,
    ))
}

/// apply -> report -> exec, in the process that becomes the workload.
/// Never returns: when something stops it, it says what in one line and
/// exits with the launch's exit code there and then. From step 11 on the
/// workload's filter holds the supervisor too, and returning would close
/// descriptors, free memory and run the C library's exit handlers: calls
/// a policy may deny (under `action: kill`, die of). What is left is
/// `write` for the line, which validation keeps out of `seccomp.deny`, and
/// `exit_group`.
pub fn sandbox_and_exec(
    plan: &Plan,
    ctx: &Context,
    env: Vec<(String, std::ffi::OsString)>,
    listen: Option<&crate::env::SocketActivation>,
) -> Error {
    let e = apply_and_exec(plan, ctx, env, listen);
    crate::log::report_error(&e);
    crate::sys::exit_now(e.run_exit_code())
}

fn apply_and_exec(
    plan: &Plan,
    ctx: &Context,
    mut env: Vec<(String, std::ffi::OsString)>,
    listen: Option<&crate::env::SocketActivation>,
) -> Error {
    // Asked before the filter goes in, which may deny getpid.
    let pid = std::process::id();
    let (applied, handles) = match apply(plan, ctx) {
        Ok(a) => a, // apply
        Err(e) => return e,
    };
    // Never closed by hand: under the filter `close` may be denied, and
    // both are close-on-exec (exec closes them; a failed launch exits).
    let handles = std::mem::ManuallyDrop::new(handles);
    if let Some(l) = listen {
        l.export(&mut env, pid);
    }
    if let Err(e) = crate::verify::write_report(&handles, &applied) {
        return e;
    }
    crate::process::exec(&plan.command, &env) // exec
}
