//! The writer's merge policy: tantivy's log merge policy, with every merge capped at
//! [`MAX_DOCS_PER_MERGE`] documents and [`MAX_TERM_BYTES_PER_MERGE`] of term dictionaries.
//!
//! Why: a merge holds the term dictionaries of all its source segments in memory. Uncapped, the
//! last merges of a large ingest take in most of the index: ingesting 650k messages peaked at
//! 342 MB with one 313 MB segment being written. Capped, a merge's memory stays that of 200k
//! messages (about 32 MB of term dictionaries), and a million messages end up in five or six
//! segments. (A cap of 100k left fifteen, and searches at a million messages slowed from
//! p50 2.9 ms to 5.4 ms; `bench/growth.sh`.)

use std::collections::HashMap;
use std::path::PathBuf;
use tantivy::index::{SegmentComponent, SegmentId, SegmentMeta};
use tantivy::indexer::{LogMergePolicy, MergeCandidate, MergePolicy};

pub const MAX_DOCS_PER_MERGE: u32 = 200_000;

/// The most term-dictionary bytes (`.term` files) one merge may read.
///
/// Why: a merge loads each source segment's term dictionary whole and buffers the merged term
/// infos until the end, about 1.5 times the sources' `.term` bytes. A document count says little
/// about that when words do not repeat: 300 MB of attachments of random letter strings made two
/// segments with 136 and 75 MB term dictionaries, and the merge that made the first took the
/// ingest to 499 MB. List mail stays under it: its largest merges (three segments of 65k
/// messages into one of 196k) read 31 MB, so the document cap still decides.
pub const MAX_TERM_BYTES_PER_MERGE: u64 = 32 << 20;

#[derive(Debug)]
pub struct BoundedMerges {
    inner: LogMergePolicy,
    max_docs: u32,
    max_term_bytes: u64,
    /// Where the segments' files are, to size their term dictionaries.
    dir: PathBuf,
}

impl BoundedMerges {
    pub fn new(dir: PathBuf, max_docs: u32, max_term_bytes: u64) -> Self {
        let mut inner = LogMergePolicy::default();
        // A segment over half the cap could only merge with smaller ones into a lopsided result.
        inner.set_max_docs_before_merge((max_docs / 2) as usize);
        Self {
            inner,
            max_docs,
            max_term_bytes,
            dir,
        }
    }

    /// For the index in `dir`, with the default caps.
    pub fn for_index(dir: PathBuf) -> Self {
        Self::new(dir, MAX_DOCS_PER_MERGE, MAX_TERM_BYTES_PER_MERGE)
    }

    fn term_bytes(&self, s: &SegmentMeta) -> u64 {
        // Sizing is advice: a file that cannot be read counts as empty rather than failing.
        std::fs::metadata(self.dir.join(s.relative_path(SegmentComponent::Terms)))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

impl MergePolicy for BoundedMerges {
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        let size: HashMap<SegmentId, (u32, u64)> = segments
            .iter()
            .map(|s| (s.id(), (s.max_doc(), self.term_bytes(s))))
            .collect();
        // As with documents, a dictionary over half the cap could only merge lopsidedly.
        let mergeable: Vec<SegmentMeta> = segments
            .iter()
            .filter(|s| size[&s.id()].1 <= self.max_term_bytes / 2)
            .cloned()
            .collect();
        let mut out = vec![];
        for MergeCandidate(mut ids) in self.inner.compute_merge_candidates(&mergeable) {
            let of = |id: &SegmentId| size.get(id).copied().unwrap_or((0, 0));
            // Smallest first, so each capped group merges as many segments as it can.
            ids.sort_by_key(|id| (of(id), *id));
            let mut group: Vec<SegmentId> = vec![];
            let (mut docs, mut bytes) = (0u32, 0u64);
            for id in ids {
                let (n, b) = of(&id);
                let over = docs.saturating_add(n) > self.max_docs
                    || bytes.saturating_add(b) > self.max_term_bytes;
                if !group.is_empty() && over {
                    if group.len() >= 2 {
                        out.push(MergeCandidate(std::mem::take(&mut group)));
                    }
                    group.clear();
                    (docs, bytes) = (0, 0);
                }
                group.push(id);
                docs = docs.saturating_add(n);
                bytes = bytes.saturating_add(b);
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
    use tantivy::schema::{STORED, Schema, TEXT};
    use tantivy::{Index, IndexWriter, TantivyDocument, doc};

    /// Real segments on disk: one per commit, each of `size` documents of `words` distinct
    /// words each.
    fn segments(dir: &std::path::Path, count: u64, size: u64, words: u64) -> Vec<SegmentMeta> {
        let mut sb = Schema::builder();
        let n = sb.add_u64_field("n", STORED);
        let text = sb.add_text_field("text", TEXT);
        let index = Index::create_in_dir(dir, sb.build()).unwrap();
        let mut w: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, 15 << 20).unwrap();
        w.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        for c in 0..count {
            for i in 0..size {
                let body: Vec<String> = (0..words).map(|k| format!("w{c}x{i}x{k}")).collect();
                w.add_document(doc!(n => i, text => body.join(" ")))
                    .unwrap();
            }
            w.commit().unwrap();
        }
        index.searchable_segment_metas().unwrap()
    }

    #[test]
    fn no_merge_exceeds_the_document_cap_and_small_segments_still_merge() {
        let dir = tempfile::tempdir().unwrap();
        let segs = segments(dir.path(), 30, 9, 1);
        let size: HashMap<SegmentId, u32> = segs.iter().map(|s| (s.id(), s.max_doc())).collect();
        let policy = BoundedMerges::new(dir.path().to_path_buf(), 50, u64::MAX);
        let out = policy.compute_merge_candidates(&segs);
        assert!(!out.is_empty());
        for MergeCandidate(ids) in &out {
            assert!(ids.len() >= 2, "{ids:?}");
            assert!(ids.iter().map(|i| size[i]).sum::<u32>() <= 50);
        }
        // Segments over half the cap are left alone.
        let dir = tempfile::tempdir().unwrap();
        let big = segments(dir.path(), 10, 30, 1);
        let policy = BoundedMerges::new(dir.path().to_path_buf(), 50, u64::MAX);
        assert!(policy.compute_merge_candidates(&big).is_empty());
    }

    #[test]
    fn no_merge_reads_more_term_dictionary_than_the_cap() {
        // Few documents, each of words found nowhere else: the document cap never binds.
        let dir = tempfile::tempdir().unwrap();
        let segs = segments(dir.path(), 12, 4, 500);
        let policy = BoundedMerges::new(dir.path().to_path_buf(), 200_000, u64::MAX);
        let bytes: HashMap<SegmentId, u64> = segs
            .iter()
            .map(|s| (s.id(), policy.term_bytes(s)))
            .collect();
        let each = *bytes.values().max().unwrap();
        assert!(each > 1_000, "{bytes:?}");
        let uncapped = policy.compute_merge_candidates(&segs);
        assert_eq!(uncapped.len(), 1, "{uncapped:?}");
        assert_eq!(uncapped[0].0.len(), 12);

        let cap = each * 3;
        let policy = BoundedMerges::new(dir.path().to_path_buf(), 200_000, cap);
        let out = policy.compute_merge_candidates(&segs);
        assert!(out.len() >= 4, "{out:?}");
        for MergeCandidate(ids) in &out {
            assert!(ids.len() >= 2, "{ids:?}");
            assert!(ids.iter().map(|i| bytes[i]).sum::<u64>() <= cap);
        }
        // A dictionary over half the cap is left alone.
        let policy = BoundedMerges::new(dir.path().to_path_buf(), 200_000, each);
        assert!(policy.compute_merge_candidates(&segs).is_empty());
    }
}
