//! Capability sets, securebits and no_new_privs (stub). Fails closed.

use crate::error::{Error, Result};
use crate::plan::CapabilityPlan;

pub fn apply(_c: &CapabilityPlan) -> Result<()> {
    Err(Error::apply(
        "capabilities",
        "not implemented in this build",
    ))
}

pub fn set_no_new_privs() -> Result<()> {
    Err(Error::apply(
        "no_new_privs",
        "not implemented in this build",
    ))
}
