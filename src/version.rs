//! Build facts an operator needs to tell which binary a pod runs.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct VersionInfo {
    pub version: &'static str,
    pub commit: &'static str,
    /// The tree had uncommitted changes when it was built.
    pub dirty: bool,
    pub target: &'static str,
    pub profile: &'static str,
    pub rustc: &'static str,
    pub landlock_abi: u32,
    pub policy_versions: [u32; 1],
}

pub fn info() -> VersionInfo {
    VersionInfo {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("OPENSHELL_COMMIT"),
        dirty: matches!(env!("OPENSHELL_DIRTY"), "true"),
        target: env!("OPENSHELL_TARGET"),
        profile: env!("OPENSHELL_PROFILE"),
        rustc: env!("OPENSHELL_RUSTC"),
        landlock_abi: crate::plan::LANDLOCK_ABI_KNOWN,
        policy_versions: [1],
    }
}

/// `openshell-sandbox 0.1.0 (abc123def456, x86_64-unknown-linux-musl)`
pub fn line() -> String {
    let i = info();
    let short: String = i.commit.chars().take(12).collect();
    format!(
        "openshell-sandbox {} ({}{}, {})",
        i.version,
        short,
        if i.dirty { "-dirty" } else { "" },
        i.target
    )
}
