//! The pipeline, visible in one function:
//!
//! ```text
//! load -> validate -> resolve -> plan -> apply -> exec
//! ```
//!
//! `load`/`validate` touch only the policy bytes, `resolve` is the only
//! phase that reads the host, `plan` is pure, `apply` performs the plan in
//! one fixed order and `exec` replaces the process.

use crate::cli::{Command, Format, RunArgs};
use crate::error::{Error, Finding, Result};
use crate::plan::{Mode, Plan, RunOptions};
use crate::safepath::Held;
use crate::verify::Timings;
use crate::{log, plan, policy, resolve, yaml};

fn run_options(args: &RunArgs) -> RunOptions {
    RunOptions {
        workdir: args.workdir.clone(),
        devices: args.devices.clone(),
        cdi_dirs: args.cdi_dirs.clone(),
        init: args.init,
        preserve_fds: args.preserve_fds.clone(),
        command: args.command.clone(),
        for_launch: false,
    }
}

/// load -> validate -> resolve -> plan. Needs no privileges.
pub fn make_plan(args: &RunArgs) -> Result<Plan> {
    plan_with(args, &mut Timings::start(), false, None).map(|(plan, _)| plan)
}

/// [`make_plan`] for a launch: marking each phase in `t` for the
/// `--report`, with only what the launch applies (`for_launch`), and the
/// policy's paths kept open for Landlock (see `safepath::Held`), and the
/// supervisor's environment it was made with.
fn make_plan_timed(args: &RunArgs, t: &mut Timings) -> Result<(Plan, Held, HostEnv)> {
    let mut held = Held::with_budget();
    let (plan, env) = plan_with(args, t, true, Some(&mut held))?;
    Ok((plan, held, env))
}

/// The supervisor's environment, as `env::supervisor_env` reads it.
type HostEnv = Vec<(std::ffi::OsString, std::ffi::OsString)>;

/// The plan, and the environment it was made with: read once, as every
/// copy of it is one allocation per name and value (a pod's service
/// links alone can add hundreds).
fn plan_with(
    args: &RunArgs,
    t: &mut Timings,
    for_launch: bool,
    held: Option<&mut Held>,
) -> Result<(Plan, HostEnv)> {
    let source = policy::source_from_env(args.policy.as_deref());
    let loaded = policy::load(&source)?; // load + validate
    let env = crate::env::supervisor_env();
    crate::env::check_inputs(&env)?;
    t.mark("load");
    let opts = RunOptions {
        for_launch,
        ..run_options(args)
    };
    let mut facts = resolve::resolve_run_holding(&loaded.policy, &opts, held, env); // resolve
    t.mark("resolve");
    let mut plan = plan::build(&loaded.policy, &loaded.source, &opts, &facts); // plan
    if let Some(b) = policy_file_blocker(&loaded.source, &plan) {
        plan.blockers.push(b);
    }
    t.mark("plan");
    Ok((plan, std::mem::take(&mut facts.env)))
}

/// A policy file the workload itself could rewrite would be its own
/// policy on the next launch: one beneath a path the policy makes
/// writable, owned by the uid the workload runs as, or that anyone but
/// root could change (the file or a directory above it not root-owned, or
/// writable by group or others off a read-only mount) stops the launch.
fn policy_file_blocker(source: &policy::Source, plan: &Plan) -> Option<Finding> {
    let path = source.path.as_ref()?.to_str()?;
    let abs = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", std::env::current_dir().ok()?.to_str()?)
    };
    let trust = plan.filesystem.trust();
    let why = match crate::safepath::open(&abs, &trust) {
        // It was read, so it exists: what stops the walk now is what the
        // policy makes writable (a link on the way, trusted when it was
        // read, lies where the workload could replace it).
        Err(e) => e.cause(),
        Ok(r) => {
            let within = trust.writable.iter().find(|w| {
                policy::paths::is_within(&r.path, w) || policy::paths::is_within(&abs, w)
            });
            if let Some(w) = within {
                format!("it lies beneath {w}, which the policy makes writable")
            } else if r.uid == plan.identity.uid && r.uid != 0 {
                format!("it is owned by uid {}, the workload's", r.uid)
            } else if let Some(why) = r.untrusted {
                // Paths are not the only way in: another mount of the same
                // volume or a hard link reaches the same inode. A policy
                // that anyone but root could change is refused, like a CDI
                // spec.
                format!("{why}, so someone other than root could change it")
            } else {
                return None;
            }
        }
    };
    Some(
        Finding::new(
            format!("policy {path}"),
            format!("the workload could rewrite its own policy: {why}"),
        )
        .with_hint(
            "keep the policy outside the workload's writable paths, owned by root (e.g. a ConfigMap)",
        ),
    )
}

/// The whole launch. In exec mode it returns only on failure; in init
/// mode the parent returns the workload's exit status, and the child only
/// its failure.
#[inline(never)]
pub fn launch(args: &RunArgs) -> Result<i32> {
    let mut timings = Timings::start();
    let (plan, held, host_env) = make_plan_timed(args, &mut timings)?;
    // The lines below go out in one write, before the sandbox is applied.
    let lines = log::Batch::start();
    let source = &plan.policy.source;
    log::info_with(
        &format!("policy: {}", plan.policy.description),
        vec![
            ("object", "policy".into()),
            (
                "origin",
                serde_json::to_value(&source.origin).unwrap_or_default(),
            ),
            (
                "path",
                source
                    .path
                    .as_ref()
                    .map(|p| crate::bytes::escape(p.as_os_str()))
                    .into(),
            ),
            ("abi", plan.filesystem.abi.into()),
            ("mode", serde_json::to_value(plan.mode).unwrap_or_default()),
        ],
    );
    if let Some(b) = plan.blockers.first() {
        return Err(b.to_error());
    }
    for d in &plan.dropped {
        log::warn_with(&d.to_string(), vec![("kind", "dropped".into())]);
    }
    // What `plan` calls wider than written is applied as the plan says;
    // the launch says so too, so that no one learns it only from `plan`.
    for w in &plan.widened {
        log::warn_with(&format!("widened: {w}"), vec![("kind", "widened".into())]);
    }
    for l in &plan.host_limits {
        log::info_with(l, vec![("kind", "host_limit".into())]);
    }
    for name in crate::env::unpassable(&plan.environment, &host_env) {
        log::warn_with(
            &format!("environment: {name} is not passed: its name is not valid UTF-8"),
            vec![
                ("kind", "dropped".into()),
                ("object", "environment".into()),
                ("name", name.clone().into()),
                ("cause", "its name is not valid UTF-8".into()),
            ],
        );
    }
    let env = crate::env::materialize(&plan.environment, &host_env);
    let listen = crate::env::socket_activation(&host_env, std::process::id())?;
    if let Some(l) = &listen {
        l.check_kinds()?;
    }
    let mut keep_fds = args.preserve_fds.clone();
    if let Some(l) = &listen {
        keep_fds.extend(l.fds());
    }
    drop(lines);
    let start = |parent: Option<libc::pid_t>, held: &Held| {
        let ctx = crate::apply::Context {
            keep_fds: &keep_fds,
            held: Some(held),
            report: args.report.as_deref(),
            parent,
            timings,
            listener_to: None,
        };
        crate::apply::sandbox_and_exec(&plan, &ctx, env, listen.as_ref())
    };
    match plan.mode {
        Mode::Exec => Err(start(None, &held)),
        // The child owns what is held: the parent drops it at the fork.
        Mode::Init => crate::init::run(move |parent| start(Some(parent), &held)),
    }
}

#[inline(never)]
fn print_plan(args: &RunArgs, format: Format) -> Result<i32> {
    let plan = make_plan(args)?;
    if format == Format::Text {
        print!("{}", crate::plan_text::render(&plan));
        return Ok(0);
    }
    let value = serde_json::to_value(&plan).map_err(|e| Error::Internal(e.to_string()))?;
    let text = match format {
        Format::Json => {
            let mut s =
                serde_json::to_string_pretty(&value).map_err(|e| Error::Internal(e.to_string()))?;
            s.push('\n');
            s
        }
        Format::Yaml | Format::Text => yaml::to_yaml(&value),
    };
    print!("{text}");
    Ok(0)
}

#[inline(never)]
fn check(files: &[std::path::PathBuf]) -> i32 {
    let sources: Vec<policy::Source> = if files.is_empty() {
        vec![policy::source_from_env(None)]
    } else {
        files
            .iter()
            .map(|f| policy::select_source(Some(f), None, false))
            .collect()
    };
    let mut failed = false;
    for s in &sources {
        match policy::load(s) {
            Ok(_) => println!("ok: {}", s.display_name()),
            Err(e) => {
                failed = true;
                crate::log::report_error(&e);
            }
        }
    }
    i32::from(failed)
}

/// Dispatch a parsed command; returns the exit status.
pub fn dispatch(cmd: Command) -> i32 {
    match cmd {
        Command::Run(args) => {
            log::init(args.log_level, args.log_json);
            match launch(&args) {
                Ok(status) => status,
                Err(e) => {
                    crate::log::report_error(&e);
                    e.run_exit_code()
                }
            }
        }
        Command::Learn(args, output) => {
            log::init(args.log_level, args.log_json);
            match crate::learn::command(&args, output.as_deref()) {
                Ok(status) => status,
                Err(e) => {
                    crate::log::report_error(&e);
                    e.run_exit_code()
                }
            }
        }
        Command::Plan(args, format) => match print_plan(&args, format) {
            Ok(c) => c,
            Err(e) => {
                crate::log::report_error(&e);
                e.tool_exit_code()
            }
        },
        Command::Check(files) => check(&files),
        Command::Schema => {
            print!("{}", policy::schema::pretty());
            0
        }
        Command::Version { json } => {
            if json {
                match serde_json::to_string_pretty(&crate::version::info()) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        let _ = std::io::Write::write_all(
                            &mut std::io::stderr(),
                            format!("openshell-sandbox: internal error: {e}\n").as_bytes(),
                        );
                        return 1;
                    }
                }
            } else {
                println!("{}", crate::version::line());
            }
            0
        }
        Command::Help => {
            print!("{}", crate::cli::USAGE);
            0
        }
        Command::Install { from, dest } => match crate::install::install(from.as_deref(), &dest) {
            Ok(()) => 0,
            Err(e) => {
                crate::log::report_error(&e);
                e.tool_exit_code()
            }
        },
        Command::Devices(dirs) => crate::cdi::devices_command(&dirs),
        Command::Doctor { json } => crate::doctor::command(json),
    }
}
