//! CDI (Container Device Interface): expose exactly the devices a CDI spec
//! lists for the requested names, and nothing else.
//!
//! ```text
//! spec dirs --scan--> Registry --resolve(requests)--> merged edits
//!           --grants--> plan: device/mount rules, env, groups, hooks
//!           --apply--> verify (or create) nodes, emulate hooks, pin
//! ```
//!
//! - [`spec`]: one file, strict (structure, versions, names, edits).
//! - [`scan`]: directories, priorities, conflicts, kept load errors.
//! - [`resolve`]: requests -> merged edits, all-or-nothing.
//! - [`grants`]: merged edits -> the plan's `devices` section, Landlock
//!   rules with origin `device`, env, supplementary groups, blockers.
//! - [`fallback`]: the apply step (node re-check or creation, NVIDIA hook
//!   emulation, the `/proc/self/task` pin).
//!
//! Only `resolve` calls [`scan::scan`] (it reads the host); everything else
//! here except [`fallback`] is pure.

pub mod fallback;
pub mod grants;
pub mod resolve;
pub mod scan;
pub mod spec;

pub use fallback::apply;
pub use grants::{CUDA_PATHS, CdiPlan};

/// The default spec directories, lowest priority first.
pub const DEFAULT_SPEC_DIRS: [&str; 2] = ["/etc/cdi", "/var/run/cdi"];

/// `openshell-sandbox devices [--cdi-dir DIR]...`: every resolvable device
/// on stdout (sorted, one per line) and every spec load error on stderr.
/// Exit status 1 when there were load errors, else 0.
pub fn devices_command(dirs: &[String]) -> i32 {
    let dirs: Vec<String> = if dirs.is_empty() {
        DEFAULT_SPEC_DIRS.iter().map(|d| d.to_string()).collect()
    } else {
        dirs.to_vec()
    };
    let reg = scan::scan(&dirs, &crate::safepath::Trust::default());
    let (listing, errors) = listing(&reg);
    print!("{listing}");
    eprint!("{errors}");
    if reg.devices.is_empty() && reg.errors.is_empty() {
        eprintln!(
            "openshell-sandbox: cdi: no devices found in {}",
            dirs.join(", ")
        );
    }
    i32::from(!reg.errors.is_empty())
}

/// The `devices` output: (stdout, stderr).
pub fn listing(reg: &scan::Registry) -> (String, String) {
    let out: String = reg.names().iter().map(|n| format!("{n}\n")).collect();
    let err: String = reg
        .errors
        .iter()
        .map(|e| format!("openshell-sandbox: cdi: {e}\n"))
        .collect();
    (out, err)
}
