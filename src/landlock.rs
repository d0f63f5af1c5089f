//! Landlock: the filesystem, TCP and IPC-scope boundary (stub; the
//! implementation follows). Fails closed.

use crate::error::Result;
use crate::plan::Plan;

/// Path fds and the ruleset, built as root before the identity switch.
pub struct Prepared;

/// What the kernel enforces after restrict_self.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub enforced: String,
}

pub fn prepare(_plan: &Plan) -> Result<Prepared> {
    Ok(Prepared)
}

pub fn restrict(_p: Prepared, _plan: &Plan) -> Result<Status> {
    Ok(Status {
        enforced: "not built".into(),
    })
}
