//! Build facts an operator needs to tell which binary a pod runs.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct VersionInfo {
    pub version: &'static str,
    pub commit: &'static str,
    /// The tree had uncommitted changes when it was built.
    pub dirty: bool,
    /// Built from a known commit with no uncommitted changes: rebuilding
    /// that commit (cross/build.sh) gives the same bytes.
    pub reproducible_clean: bool,
    pub target: &'static str,
    pub profile: &'static str,
    pub rustc: &'static str,
    pub landlock_abi: u32,
    pub policy_versions: [u32; 1],
}

pub fn info() -> VersionInfo {
    let commit = env!("OPENSHELL_COMMIT");
    let dirty = matches!(env!("OPENSHELL_DIRTY"), "true");
    VersionInfo {
        version: env!("CARGO_PKG_VERSION"),
        commit,
        dirty,
        reproducible_clean: !dirty && is_commit_id(commit),
        target: env!("OPENSHELL_TARGET"),
        profile: env!("OPENSHELL_PROFILE"),
        rustc: env!("OPENSHELL_RUSTC"),
        landlock_abi: crate::landlock::LANDLOCK_ABI_KNOWN,
        policy_versions: [1],
    }
}

/// A full git object name (SHA-1 or SHA-256), not `unknown`.
fn is_commit_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_full_commit_id_counts_as_clean() {
        assert!(is_commit_id("5deff39c59e99dda5303f3ce10827c518f510375"));
        assert!(!is_commit_id("unknown"));
        assert!(!is_commit_id("5deff39c59e9"));
        assert!(!is_commit_id("zzzff39c59e99dda5303f3ce10827c518f510375"));
    }
}
