//! Relations derived across items, recomputed from the catalog after every ingest:
//!
//! - [`threads`]: email threads (JWZ over References / In-Reply-To, ghosts for missing parents,
//!   subject fallback only for messages without either header) and reply chains of posts;
//! - [`conversations`]: DM conversations ordered by time with 1-based sequence numbers;
//! - [`actors`]: identities grouped into actors from exact evidence plus users' assertions.
//!
//! Everything here is a pure function of catalog rows, so `rebuild` after any change gives the
//! same result as a fresh archive fed the same inputs.

pub mod actors;
pub mod conversations;
pub mod echoes;
pub mod threads;

use trove_store::{Catalog, Derived};

/// Recomputes threads, conversations and actors and replaces them in the catalog atomically.
pub fn rebuild(catalog: &mut Catalog) -> trove_store::Result<RebuildSummary> {
    let started = std::time::Instant::now();
    let mut threader = threads::Threader::with_capacity(catalog.thread_input_count()?);
    catalog.for_each_thread_input(|m| threader.push(&m))?;
    let threads = threader.finish();
    let (conv_seqs, conversations) = conversations::order(
        &catalog.conversation_inputs()?,
        &catalog.conversation_identities()?,
        &catalog.conversation_labels()?,
    );
    let edits = catalog.actor_edits()?;
    let actors = actors::group(
        &catalog.seen_identities()?,
        &catalog.identity_links()?,
        &edits,
    );
    let summary = RebuildSummary {
        threads: {
            let mut ids: Vec<i64> = threads.iter().map(|t| t.thread_seq).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len() as u64
        },
        conversations: conversations.len() as u64,
        actors: actors.len() as u64,
        seconds: 0.0,
    };
    catalog.write_derived(&Derived {
        threads,
        conv_seqs,
        conversations,
        actors,
    })?;
    Ok(RebuildSummary {
        seconds: started.elapsed().as_secs_f64(),
        ..summary
    })
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RebuildSummary {
    pub threads: u64,
    pub conversations: u64,
    pub actors: u64,
    /// Time the rebuild took (it covers the whole archive, not just the new items).
    pub seconds: f64,
}
