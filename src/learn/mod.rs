//! `learn`: run the workload once, observed instead of confined, and write
//! the policy that lets that run through.
//!
//! The workload runs as in `run --init`, with the base policy's identity,
//! capabilities, rlimits, environment and seccomp filter, with two
//! differences:
//!
//! - no Landlock ruleset: files and TCP ports are what is being learned;
//!   the seccomp rules that follow from the network section (IP sockets
//!   refused without a network policy, `listen` without a bind port,
//!   `network.unix_sockets: false`) are lifted for the same reason;
//! - the seccomp filter (`seccomp::with_notify`) keeps every rule of the
//!   base filter in front and adds `SECCOMP_RET_USER_NOTIF` for the calls
//!   in [`observe::OBSERVED`]: what the base filter denies is denied as
//!   before, and the rest waits for the parent, which records it and lets
//!   it continue (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`). Learning never
//!   loosens the filter and the parent never answers for the kernel: the
//!   call runs with the workload's own permissions.
//!
//! The child installs the filter last in apply (step 11) with
//! `SECCOMP_FILTER_FLAG_NEW_LISTENER` and sends the listener to the parent
//! over a socket pair (`SCM_RIGHTS`) before its first observed call (the
//! workload's `execve`). The filter is inherited by every thread and child
//! of the workload; each notification names its task. The parent waits
//! on the signalfd and the listener with `poll`, so a workload that dies
//! mid-call, or before it sent the listener, ends the loop like any exit.

pub mod observe;
pub mod render;
pub mod resolve;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::cell::Cell;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::capabilities::{self, bit, errno_name};
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::plan::{Mode, Plan, RunOptions};
use crate::sys::notify;
use crate::{init, log, policy, seccomp};

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_PTRACE: u32 = 19;

/// The first Linux release whose notifications can let a call continue
/// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
const CONTINUE_SINCE: (u32, u32) = (5, 5);

fn refuse(cause: String) -> Error {
    Error::host("learn", cause).with_hint(
        "run learn on a node with Linux >= 5.5 and seccomp user notification (see `openshell-sandbox doctor`); the learned policy then runs anywhere",
    )
}

/// `major.minor` of a kernel release string (`6.18.44-fc-v769`).
fn release(s: &str) -> Option<(u32, u32)> {
    let mut it = s.trim().split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Refuse (125) where the kernel cannot notify: no
/// `SECCOMP_RET_USER_NOTIF`, no `SECCOMP_GET_NOTIF_SIZES`, or a release
/// before `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
pub fn check_kernel() -> Result<notify::Sizes> {
    // EOPNOTSUPP: the kernel does not know the action.
    let name = |e: i32| match e {
        libc::EOPNOTSUPP => "EOPNOTSUPP".to_string(),
        e => errno_name(e),
    };
    if let Err(e) = seccomp::action_available(seccomp::RET_USER_NOTIF) {
        return Err(refuse(format!(
            "the kernel lacks seccomp user notification (SECCOMP_RET_USER_NOTIF: {})",
            name(e)
        )));
    }
    let sizes = notify::sizes().map_err(|e| {
        refuse(format!(
            "the kernel lacks seccomp user notification (SECCOMP_GET_NOTIF_SIZES: {})",
            name(e)
        ))
    })?;
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if let Some(v) = release(&rel) {
        if v < CONTINUE_SINCE {
            return Err(refuse(format!(
                "Linux {}.{} cannot let an observed call continue (SECCOMP_USER_NOTIF_FLAG_CONTINUE is Linux >= 5.5)",
                v.0, v.1
            )));
        }
    }
    Ok(sizes)
}

/// The plan `run --init` would make, turned into the learning one: no
/// Landlock, the network's seccomp rules lifted, the notification rules
/// added behind the policy's own.
fn learning_plan(plan: &mut Plan, pol: &crate::policy::model::Policy) -> Result<()> {
    plan.mode = Mode::Init;
    let fs = &mut plan.filesystem;
    fs.abi = 0;
    fs.required = crate::landlock::LandlockFeatures {
        filesystem: false,
        truncate: false,
        ioctl_dev: false,
        network: false,
        scopes: false,
        audit: false,
        unix_sockets: false,
    };
    fs.enforced = fs.required.clone();
    fs.scopes.clear();
    fs.log_denials = false;
    // What Landlock would have refused is what is being learned.
    plan.blockers.retain(|b| b.object != "landlock");
    let sc = pol.seccomp.clone().unwrap_or_default();
    let cfg = seccomp::SeccompConfig {
        allow: sc.allow,
        deny: sc.deny,
        action: match sc.action {
            crate::policy::model::SeccompAction::Errno => seccomp::DenyAction::Errno,
            crate::policy::model::SeccompAction::Kill => seccomp::DenyAction::Kill,
        },
        log: sc.log,
        inet: true,
        unix_sockets: true,
        listen: true,
        allowed_namespaces: Vec::new(),
    };
    let base = seccomp::plan_for(&cfg, &[seccomp::Arch::native()])
        .map_err(|e| Error::apply("seccomp", e.to_string()))?;
    plan.seccomp = Some(
        seccomp::with_notify(&base, observe::OBSERVED)
            .map_err(|e| Error::apply("seccomp", e.to_string()))?,
    );
    Ok(())
}

/// Step 11 of apply in learn mode, once the filter is installed with a
/// listener: hand the listener to the parent over `sock`. Nothing observed
/// may run before this returns: the parent is not listening yet.
fn hand_off(sock: BorrowedFd<'_>, listener: OwnedFd) -> Result<()> {
    notify::send_fd(sock, listener.as_fd()).map_err(|e| {
        Error::apply(
            "learn",
            format!(
                "sending the listener to the parent failed: {}",
                errno_name(e)
            ),
        )
    })?;
    drop(listener);
    // The socket was kept through step 1 (which clears close-on-exec on
    // what it keeps); the workload must not inherit it.
    set_cloexec(sock).map_err(|e| {
        Error::apply(
            "learn",
            format!("fcntl(F_SETFD) failed: {}", errno_name(e as i32)),
        )
    })
}

/// Sets close-on-exec on `fd`.
fn set_cloexec(fd: BorrowedFd<'_>) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD)?);
    fcntl(fd, FcntlArg::F_SETFD(flags | FdFlag::FD_CLOEXEC)).map(|_| ())
}

/// `openshell-sandbox learn`: returns the workload's exit status after
/// writing the policy (to `output`, else stdout).
pub fn command(args: &RunArgs, output: Option<&Path>) -> Result<i32> {
    let sizes = check_kernel()?;
    let source = policy::source_from_env(args.policy.as_deref());
    let loaded = policy::load(&source)?;
    crate::env::check_inputs(&crate::env::supervisor_env())?;
    let opts = RunOptions {
        workdir: args.workdir.clone(),
        devices: args.devices.clone(),
        cdi_dirs: args.cdi_dirs.clone(),
        init: Some(true),
        preserve_fds: args.preserve_fds.clone(),
        command: args.command.clone(),
        for_launch: true,
    };
    let facts = crate::resolve::resolve_run(&loaded.policy, &opts);
    let mut plan = crate::plan::build(&loaded.policy, &loaded.source, &opts, &facts);
    learning_plan(&mut plan, &loaded.policy)?;
    if let Some(b) = plan.blockers.first() {
        return Err(b.to_error());
    }
    // The output is created now, before the workload runs: a path that
    // cannot be written stops here, and the workload cannot plant a link
    // for the parent to write through (see safepath::create_replacing).
    let out_file = match output {
        Some(p) => Some(create_output(p, plan.identity.uid)?),
        None => None,
    };
    log::info_with(
        &format!(
            "learn: observing {} (policy {}): files and TCP ports are recorded, not confined; the seccomp filter denies what the policy's denies",
            crate::bytes::escape(
                args.command
                    .first()
                    .map(|c| c.as_os_str())
                    .unwrap_or_default()
            ),
            plan.policy.description
        ),
        vec![("object", "learn".into())],
    );
    let env = crate::env::materialize(&plan.environment, &crate::env::supervisor_env());
    let (parent_end, child_end) =
        UnixStream::pair().map_err(|e| Error::apply("learn", format!("socketpair failed: {e}")))?;
    let child_end = Cell::new(Some(child_end));
    let mut keep_fds = args.preserve_fds.clone();
    let child_raw = child_end
        .take()
        .map(|s| {
            let raw = s.as_raw_fd();
            child_end.set(Some(s));
            raw
        })
        .unwrap_or(-1);
    keep_fds.push(child_raw);
    let timings = crate::verify::Timings::start();
    let started = std::time::Instant::now();
    let (status, seen) = init::run_with(
        |parent| {
            let Some(sock) = child_end.take() else {
                return Error::Internal("learn: the socket to the parent is gone".into());
            };
            let send = |listener: OwnedFd| hand_off(sock.as_fd(), listener);
            let ctx = crate::apply::Context {
                keep_fds: &keep_fds,
                held: None,
                report: args.report.as_deref(),
                parent: Some(parent),
                timings,
                listener_to: Some(&send),
            };
            crate::apply::sandbox_and_exec(&plan, &ctx, env.clone(), None)
        },
        |child| {
            drop(child_end.take());
            supervise(
                child,
                &parent_end,
                out_file.as_ref().map(|o| &o.file),
                sizes,
            )
        },
    )?;
    let info = render::RunInfo {
        program: args
            .command
            .first()
            .map(|c| crate::bytes::escape(c))
            .unwrap_or_default(),
        base: plan.policy.description.clone(),
        status,
    };
    let rendered = render::render(&seen, &loaded.policy, &info)
        .map_err(|e| Error::apply("learn", e))
        .and_then(
            |text| match policy::parse_bytes("learned policy", text.as_bytes()) {
                // What is written must be a policy `check` accepts.
                Err(d) => {
                    let first = d.first().map(ToString::to_string).unwrap_or_default();
                    Err(Error::Internal(format!(
                        "learn: the learned policy does not validate: {first}"
                    )))
                }
                Ok(_) => Ok(text),
            },
        );
    let text = match rendered {
        Ok(text) => text,
        Err(e) => {
            // The output was emptied before the run; it says why it holds
            // no policy rather than nothing at all.
            if let Some(o) = &out_file {
                let why = e.to_string().replace('\n', "; ");
                let why = crate::bytes::escape_controls(&why);
                let _ = o.write(format!("# openshell-sandbox learn: no policy: {why}\n"));
            }
            return Err(e);
        }
    };
    match &out_file {
        Some(o) => o.write(&text)?,
        _ => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())
                .and_then(|()| o.flush())
                .map_err(|e| Error::host("learn", format!("writing the policy failed: {e}")))?;
        }
    }
    let total: u64 = seen.calls.values().sum();
    log::info_with(
        &format!(
            "learn: {total} calls observed in {:.3} s, {} paths used; policy written to {}",
            started.elapsed().as_secs_f64(),
            seen.paths.len(),
            output.map_or("stdout".to_string(), |p| crate::bytes::escape(
                p.as_os_str()
            ))
        ),
        vec![
            ("object", "learn".into()),
            ("calls", total.into()),
            ("paths", seen.paths.len().into()),
        ],
    );
    Ok(status)
}

/// The output file, made before the run so that a name that cannot be
/// written stops it there.
struct Output {
    file: std::fs::File,
    /// Its absolute name, as shown, and the trust it was made with.
    abs: String,
    shown: String,
    trust: crate::safepath::Trust,
}

impl Output {
    /// Puts `text` at the name, in a new file renamed over it. Learning
    /// runs without Landlock: a workload that kept a capability past file
    /// modes (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN) could write into
    /// the file made before the run, give it away, link it elsewhere or
    /// pass a descriptor of it on. None of that reaches the new file; the
    /// old one is emptied. The name must still be the old file (its
    /// directory is root's, checked before the run; such a workload could
    /// still have moved it).
    fn write(&self, text: impl AsRef<[u8]>) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let at = || format!("--output {}", self.shown);
        let same = match (self.file.metadata(), std::fs::symlink_metadata(&self.abs)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            return Err(Error::host(
                at(),
                "the file was moved or replaced during the run; the learned policy is not there",
            ));
        }
        let _ = self.file.set_len(0);
        let mut f = crate::safepath::create_replacing(&self.abs, &self.trust, 0o644)
            .map_err(|e| Error::host(at(), crate::policy::io_cause(&e)))?;
        f.write_all(text.as_ref())
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::host("learn", format!("writing the policy failed: {e}")))
    }
}

/// Create the output file, as `safepath::create_replacing` does for the
/// `--report`: nothing the workload (uid `uid`) could have planted at that
/// name is followed or written through.
fn create_output(p: &Path, uid: u32) -> Result<Output> {
    let shown = crate::bytes::escape(p.as_os_str());
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::host("learn", format!("current directory: {e}")))?
            .join(p)
    };
    let Some(abs) = abs.to_str() else {
        return Err(Error::usage(format!("--output {shown}: not valid UTF-8")));
    };
    let trust = crate::safepath::Trust {
        writable: Vec::new(),
        workload_uid: Some(uid),
    };
    // Learning runs without Landlock: a directory the workload could
    // change would let it move this file away and plant its own policy at
    // the name for an operator to read as the learned one.
    let (dir, _) = crate::safepath::split_parent(abs)
        .map_err(|e| Error::host(format!("--output {shown}"), crate::policy::io_cause(&e)))?;
    match crate::safepath::open(dir, &trust) {
        Ok(r) => {
            if let Some(why) = r.untrusted {
                return Err(Error::host(
                    format!("--output {shown}"),
                    format!("the workload could replace the learned policy there: {why}"),
                )
                .with_hint("write the learned policy to a directory only root can change"));
            }
        }
        Err(e) => return Err(Error::host(format!("--output {shown}"), e.cause())),
    }
    let mut f = crate::safepath::create_replacing(abs, &trust, 0o644)
        .map_err(|e| Error::host(format!("--output {shown}"), crate::policy::io_cause(&e)))?;
    f.write_all(b"# openshell-sandbox learn: no policy yet (the run did not finish)\n")
        .map_err(|e| Error::host(format!("--output {shown}"), e.to_string()))?;
    f.set_len(0)
        .map_err(|e| Error::host(format!("--output {shown}"), e.to_string()))?;
    use std::io::Seek;
    f.rewind()
        .map_err(|e| Error::host(format!("--output {shown}"), e.to_string()))?;
    Ok(Output {
        file: f,
        abs: abs.to_string(),
        shown,
        trust,
    })
}

/// The parent: shed what it does not need, then serve notifications and
/// signals until the workload exits. Returns its status and what was seen.
fn supervise(
    child: libc::pid_t,
    sock: &UnixStream,
    out: Option<&std::fs::File>,
    sizes: notify::Sizes,
) -> Result<(i32, observe::Observations)> {
    let fail =
        |what: &str, e: i32| Error::apply("learn", format!("{what} failed: {}", errno_name(e)));
    let mut keep = vec![sock.as_raw_fd()];
    keep.extend(out.map(AsRawFd::as_raw_fd));
    crate::process::close_fds(&keep, &[])?;
    let sfd = crate::sys::signalfd(init::kernel_set(init::forwarded().chain([libc::SIGCHLD])))
        .map_err(|e| fail("signalfd", e))?;
    let mut sigfile = std::fs::File::from(sfd);
    // CAP_KILL: signal a workload of another uid; CAP_SYS_PTRACE: read its
    // memory and /proc links; CAP_DAC_READ_SEARCH: resolve its paths
    // through directories root may not search without it.
    capabilities::keep_only(
        bit(capabilities::CAP_KILL) | bit(CAP_SYS_PTRACE) | bit(CAP_DAC_READ_SEARCH),
    )?;
    capabilities::set_no_new_privs()?;
    seccomp::install_parent().map_err(|e| Error::apply("learn", format!("seccomp: {e}")))?;

    let mut observer = observe::Observer::new();
    let mut listener: Option<OwnedFd> = None;
    let mut waiting = true;
    let arch = seccomp::Arch::native();
    loop {
        if let Some(status) = init::reap(child)? {
            init::kill_leftovers();
            return Ok((status, observer.seen));
        }
        let mut fds = vec![PollFd::new(sigfile.as_fd(), PollFlags::POLLIN)];
        if waiting {
            fds.push(PollFd::new(sock.as_fd(), PollFlags::POLLIN));
        } else if let Some(l) = &listener {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(fail("poll", e as i32)),
        }
        let rev: Vec<i16> = fds
            .iter()
            .map(|p| p.revents().map_or(0, |r| r.bits()))
            .collect();
        drop(fds);
        if rev.first().is_some_and(|r| r & libc::POLLIN != 0) {
            if let Some(sig) = observe::read_signal(&mut sigfile) {
                if sig != libc::SIGCHLD && sig > 0 {
                    match crate::sys::kill(child, sig) {
                        Ok(()) | Err(libc::ESRCH) => {}
                        Err(e) => return Err(fail("forwarding a signal", e)),
                    }
                }
            }
        }
        let Some(&r) = rev.get(1) else { continue };
        if waiting {
            if r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                waiting = false;
                // None: the child stopped before it installed the filter;
                // its exit ends the loop.
                listener =
                    notify::recv_fd(sock.as_fd()).map_err(|e| fail("receiving the listener", e))?;
            }
            continue;
        }
        let Some(l) = &listener else { continue };
        if r & libc::POLLIN != 0 {
            match notify::recv(l.as_fd(), sizes.notif) {
                Ok(n) => {
                    let name = u32::try_from(n.nr)
                        .ok()
                        .filter(|_| n.arch == arch.audit_arch())
                        .and_then(|nr| seccomp::tables::name_of(arch, nr));
                    if let Some(name) = name {
                        let lfd = l.as_fd();
                        observer.handle(&n, name, || notify::id_valid(lfd, n.id));
                    }
                    match notify::send_continue(l.as_fd(), n.id, sizes.resp) {
                        Ok(()) | Err(libc::ENOENT) => {}
                        Err(e) => return Err(fail("SECCOMP_IOCTL_NOTIF_SEND", e)),
                    }
                }
                // The task went away between poll and receive.
                Err(libc::ENOENT | libc::EINTR) => {}
                Err(e) => return Err(fail("SECCOMP_IOCTL_NOTIF_RECV", e)),
            }
        } else if r & (libc::POLLHUP | libc::POLLERR) != 0 {
            // No task is left that could notify.
            listener = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_parse() {
        assert_eq!(release("6.18.44-fc-v769\n"), Some((6, 18)));
        assert_eq!(release("5.4.0"), Some((5, 4)));
        assert!(release("5.4.0").unwrap() < CONTINUE_SINCE);
        assert_eq!(release("x"), None);
    }

    #[test]
    fn the_learning_filter_keeps_every_rule_of_the_base_filter_in_front() {
        let base = seccomp::plan(&seccomp::SeccompConfig {
            deny: vec!["chroot".into()],
            ..seccomp::SeccompConfig::default()
        })
        .unwrap();
        let learn = seccomp::with_notify(&base, observe::OBSERVED).unwrap();
        for (b, l) in base.arches.iter().zip(&learn.arches) {
            let kept: Vec<_> = l.rules.iter().filter(|r| r.origin != "learn").collect();
            assert_eq!(kept.len(), b.rules.len(), "{}", b.arch);
            for r in &b.rules {
                assert!(kept.contains(&r), "{} {}", b.arch, r.syscall);
                // The notify rule of a syscall comes after the base ones.
                let pos = |want: &seccomp::PlannedRule| l.rules.iter().position(|x| x == want);
                if let Some(n) = l.rules.iter().find(|x| x.nr == r.nr && x.origin == "learn") {
                    assert!(pos(r) < pos(n), "{} {}", b.arch, r.syscall);
                }
            }
            // execveat keeps its AT_EMPTY_PATH refusal ahead of the
            // notification.
            let ex: Vec<_> = l.rules.iter().filter(|r| r.syscall == "execveat").collect();
            assert_eq!(ex.len(), 2, "{}", b.arch);
            assert_eq!(ex[1].action, "notify");
        }
        // aarch64 has no open(2); x86_64 does.
        let has = |a: seccomp::Arch, n: &str| {
            learn
                .arch(a)
                .unwrap()
                .rules
                .iter()
                .any(|r| r.syscall == n && r.action == "notify")
        };
        assert!(has(seccomp::Arch::X86_64, "open") && !has(seccomp::Arch::Aarch64, "open"));
        assert!(has(seccomp::Arch::Aarch64, "openat") && has(seccomp::Arch::Aarch64, "renameat2"));
    }
}
