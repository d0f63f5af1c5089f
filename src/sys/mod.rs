//! Raw system call wrappers: the unsafe code, each block with the invariant
//! that makes it sound, behind safe functions.

#[allow(unsafe_code)]
pub mod notify;
