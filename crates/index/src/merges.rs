//! The writer's merge policy: tantivy's log merge policy, with every merge capped at
//! [`MAX_DOCS_PER_MERGE`] documents.
//!
//! Why: a merge holds the term dictionaries of all its source segments in memory. Uncapped, the
//! last merges of a large ingest take in most of the index: ingesting 650k messages peaked at
//! 342 MB with one 313 MB segment being written. Capped, a merge's memory stays that of 200k
//! messages (about 32 MB of term dictionaries), and a million messages end up in five or six
//! segments. (A cap of 100k left fifteen, and searches at a million messages slowed from
//! p50 2.9 ms to 5.4 ms; `bench/growth.sh`.)

use std::collections::HashMap;
use tantivy::index::SegmentId;
use tantivy::index::SegmentMeta;
use tantivy::indexer::{LogMergePolicy, MergeCandidate, MergePolicy};

pub const MAX_DOCS_PER_MERGE: u32 = 200_000;

#[derive(Debug)]
pub struct BoundedMerges {
    inner: LogMergePolicy,
    max_docs: u32,
}

impl BoundedMerges {
    pub fn new(max_docs: u32) -> Self {
        let mut inner = LogMergePolicy::default();
        // A segment over half the cap could only merge with smaller ones into a lopsided result.
        inner.set_max_docs_before_merge((max_docs / 2) as usize);
        Self { inner, max_docs }
    }
}

impl Default for BoundedMerges {
    fn default() -> Self {
        Self::new(MAX_DOCS_PER_MERGE)
    }
}

impl MergePolicy for BoundedMerges {
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        let docs: HashMap<SegmentId, u32> =
            segments.iter().map(|s| (s.id(), s.max_doc())).collect();
        let mut out = vec![];
        for MergeCandidate(mut ids) in self.inner.compute_merge_candidates(segments) {
            // Smallest first, so each capped group merges as many segments as it can.
            ids.sort_by_key(|id| (docs.get(id).copied().unwrap_or(0), *id));
            let mut group: Vec<SegmentId> = vec![];
            let mut total = 0u32;
            for id in ids {
                let n = docs.get(&id).copied().unwrap_or(0);
                if !group.is_empty() && total.saturating_add(n) > self.max_docs {
                    if group.len() >= 2 {
                        out.push(MergeCandidate(std::mem::take(&mut group)));
                    }
                    group.clear();
                    total = 0;
                }
                group.push(id);
                total = total.saturating_add(n);
            }
            if group.len() >= 2 {
                out.push(MergeCandidate(group));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{STORED, Schema};
    use tantivy::{Index, IndexWriter, TantivyDocument, doc};

    /// Real segment metas: one segment per commit, each of `size` documents.
    fn segments(count: usize, size: u64) -> Vec<SegmentMeta> {
        let mut sb = Schema::builder();
        let f = sb.add_u64_field("n", STORED);
        let index = Index::create_in_ram(sb.build());
        let mut w: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, 15 << 20).unwrap();
        w.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        for _ in 0..count {
            for i in 0..size {
                w.add_document(doc!(f => i)).unwrap();
            }
            w.commit().unwrap();
        }
        index.searchable_segment_metas().unwrap()
    }

    #[test]
    fn no_merge_exceeds_the_cap_and_small_segments_still_merge() {
        let segs = segments(30, 9);
        let size: HashMap<SegmentId, u32> = segs.iter().map(|s| (s.id(), s.max_doc())).collect();
        let out = BoundedMerges::new(50).compute_merge_candidates(&segs);
        assert!(!out.is_empty());
        for MergeCandidate(ids) in &out {
            assert!(ids.len() >= 2, "{ids:?}");
            assert!(ids.iter().map(|i| size[i]).sum::<u32>() <= 50);
        }
        // Segments over half the cap are left alone.
        let big = segments(10, 30);
        assert!(
            BoundedMerges::new(50)
                .compute_merge_candidates(&big)
                .is_empty()
        );
    }
}
