//! Reading inputs into the archive: format detection, readers for every container and message
//! format, message parsing, and the parallel ingest pipeline with its single catalog writer.
//!
//! This crate never modifies its inputs and never writes a file whose name comes from input data.

pub mod attachments;
pub mod detect;
pub mod email;
pub mod emlx;
pub mod fsck;
pub mod indexing;
pub mod ledger;
pub mod mbox;
pub mod pipeline;
pub mod social;
pub mod unit;
pub mod verification;
pub mod walk;
mod walk_emlx;
mod walk_outlook;
mod walk_social;

pub use email::{ParsedEmail, parse_email};
pub use pipeline::{IngestOptions, IngestProgress, Problem, Summary, ingest, input_size};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The archive (blob store or catalog) failed; the run stops, and a rerun resumes it.
    #[error(transparent)]
    Store(#[from] trove_store::Error),
    /// The search index failed; the catalog is intact and `trove reindex` rebuilds the index.
    #[error(transparent)]
    Index(#[from] trove_index::Error),
    /// A bug: a pipeline stage died.
    #[error("internal error: {0}")]
    Internal(String),
}
