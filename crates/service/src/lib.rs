//! The read operations the CLI and the web share. Each answers one question about an archive
//! with plain data in the documented JSON shapes, so `trove … --json` and `/api/v1/…` can never
//! drift apart. This crate knows neither terminals nor HTTP.

pub mod items;
pub mod proofs;
pub mod search;
pub mod timeline;

/// A bad argument the caller can fix (CLI exit code 2, HTTP 400).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}
