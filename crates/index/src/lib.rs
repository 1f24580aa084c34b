//! The search index. It owns the tantivy schema, the analyzers (a language-neutral one, stemmed
//! ones for eight languages, CJK bigrams, addresses), the query language and its translation,
//! and search results with counts, facets and snippets.
//!
//! It is derived data: everything in it comes from raw blobs plus the catalog, and `trove
//! reindex` rebuilds it. It must not read blobs or the catalog itself; callers hand it
//! [`IndexDoc`]s.

pub mod analysis;
mod directory;
mod merges;
pub mod query;
mod queue;
pub mod search;
mod sparse;
mod stem_cache;

pub use query::{Node, QueryError, parse, period_bounds};
pub use search::{
    Compiled, FacetCount, Hit, IndexDoc, NoResolver, Resolver, SearchIndex, SearchOptions,
    SearchResults, Snippets, Sort, Writer,
};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// tantivy failed (IO, corruption, a lock held by another writer).
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The index directory could not be created.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The index was built by a build with another schema; `trove reindex` rebuilds it.
    #[error("the search index was built with a different schema; run `trove reindex`")]
    SchemaChanged,
    /// A query ran longer than allowed.
    #[error("the query took longer than {0:?} and was stopped; narrow it down")]
    Timeout(std::time::Duration),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}
