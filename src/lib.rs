//! openshell-sandbox: load an openshell-policy, apply Landlock, seccomp,
//! capabilities and a non-root identity, expose exactly the CDI devices
//! asked for, then exec the workload. See `run.rs` for the pipeline.

pub mod alloc;
pub mod apply;
pub mod bytes;
pub mod capabilities;
pub mod cdi;
pub mod cli;
pub mod doctor;
pub mod env;
pub mod error;
pub mod identity;
pub mod init;
pub mod install;
pub mod landlock;
pub mod learn;
pub mod log;
pub mod plan;
pub mod plan_text;
pub mod policy;
pub mod probe;
pub mod process;
pub mod resolve;
pub mod run;
pub mod safepath;
pub mod seccomp;
pub mod sort;
pub mod sys;
pub mod verify;
pub mod version;
pub mod yaml;

/// Entry point used by `main`: parse argv, run, return the exit status.
pub fn main_with_args(argv: Vec<std::ffi::OsString>) -> i32 {
    let authoring = matches!(
        argv.first().and_then(|a| a.to_str()),
        Some("check" | "plan" | "schema" | "version" | "devices" | "install" | "doctor")
    );
    match cli::parse(argv) {
        Ok(cmd) => run::dispatch(cmd),
        Err(e) => {
            crate::log::report_error(&e);
            // A launch that never started is a setup failure for the
            // container runtime; the authoring commands use 2.
            if authoring { e.tool_exit_code() } else { 125 }
        }
    }
}
