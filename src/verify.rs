//! Read back the applied state before exec (stub). Fails closed.

use crate::error::{Error, Result};
use crate::plan::Plan;

/// Files opened before Landlock so they can be read after it.
pub struct Handles;

#[derive(Debug, serde::Serialize)]
pub struct Readback {}

pub fn open_handles() -> Result<Handles> {
    Err(Error::apply("verify", "not implemented in this build"))
}

pub fn readback(_h: &Handles, _plan: &Plan) -> Result<Readback> {
    Err(Error::apply("verify", "not implemented in this build"))
}
