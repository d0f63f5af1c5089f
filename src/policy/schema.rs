//! The JSON Schema (draft 2020-12) of the policy document, for editors and
//! CI. It is written by hand in `policy/schema.json` and kept in agreement
//! with the serde model by `tests/schema.rs`.

pub const SCHEMA: &str = include_str!("../../policy/schema.json");
