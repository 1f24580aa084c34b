//! Clauses on fields that some segments hold no terms for (`bcc`, `tag`, `body_cjk`): they
//! skip those segments.
//!
//! Asked for a field a segment lacks, tantivy answers with an empty term dictionary that it
//! builds on first use, with an FST builder whose node cache is 20,000 entries (about 1 MB,
//! written page by page). A word searches six fields, and in a 17,685-message archive some
//! segment lacks one of them, so every `trove search --count WORD` process paid that build:
//! a tenth of its run (bench/search.sh, session 22). Scores and counts are unchanged: the
//! skipped segments have no postings for the field.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tantivy::index::SegmentId;
use tantivy::query::{
    Bm25StatisticsProvider, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::Field;
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

/// For each field, the segments of one searcher generation that have no postings for it.
#[derive(Default)]
pub struct Absent {
    by_field: HashMap<Field, Arc<[SegmentId]>>,
}

impl Absent {
    fn of(searcher: &tantivy::Searcher) -> tantivy::Result<Self> {
        let schema = searcher.schema();
        let mut by_field: HashMap<Field, Vec<SegmentId>> = HashMap::new();
        for reader in searcher.segment_readers() {
            // The composite files' tables of contents only: this opens no term dictionary.
            for m in reader.fields_metadata()? {
                let Some(postings) = m.postings_size else {
                    continue;
                };
                if postings.get_bytes() == 0
                    && let Ok(field) = schema.get_field(&m.field_name)
                {
                    by_field.entry(field).or_default().push(reader.segment_id());
                }
            }
        }
        Ok(Self {
            by_field: by_field.into_iter().map(|(f, s)| (f, s.into())).collect(),
        })
    }

    /// The segments that lack `field`.
    #[cfg(test)]
    pub fn by_field(&self, field: Field) -> &[SegmentId] {
        self.by_field.get(&field).map_or(&[], |s| s)
    }

    /// `query` on `field`, skipping the segments that lack the field.
    pub fn guard(&self, field: Field, query: Box<dyn Query>) -> Box<dyn Query> {
        match self.by_field.get(&field) {
            Some(skip) => Box::new(Sparse {
                skip: skip.clone(),
                inner: query,
            }),
            None => query,
        }
    }
}

/// The [`Absent`] table of the searcher generation last asked for (a table costs about 10 µs a
/// segment to read, so a server reuses it from query to query).
#[derive(Default)]
pub struct AbsentCache(Mutex<Option<(u64, Arc<Absent>)>>);

impl AbsentCache {
    pub fn get(&self, searcher: &tantivy::Searcher) -> tantivy::Result<Arc<Absent>> {
        let generation = searcher.generation().generation_id();
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, absent)) = slot.as_ref()
            && *g == generation
        {
            return Ok(absent.clone());
        }
        let absent = Arc::new(Absent::of(searcher)?);
        *slot = Some((generation, absent.clone()));
        Ok(absent)
    }
}

/// A query on one field that is not run in the segments listed in `skip`. Segments the list
/// does not name (a searcher reloaded since) are searched as usual.
#[derive(Debug)]
pub struct Sparse {
    skip: Arc<[SegmentId]>,
    inner: Box<dyn Query>,
}

impl Clone for Sparse {
    fn clone(&self) -> Self {
        Self {
            skip: self.skip.clone(),
            inner: self.inner.box_clone(),
        }
    }
}

impl Sparse {
    pub fn inner(&self) -> &dyn Query {
        self.inner.as_ref()
    }
}

impl Query for Sparse {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let inner = match scoring {
            EnableScoring::Enabled { searcher, .. } => {
                let stats = StatsWithout {
                    searcher,
                    skip: &self.skip,
                };
                self.inner
                    .weight(EnableScoring::enabled_from_statistics_provider(
                        &stats, searcher,
                    ))?
            }
            disabled => self.inner.weight(disabled)?,
        };
        Ok(Box::new(SparseWeight {
            skip: self.skip.clone(),
            inner,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

/// The searcher's BM25 statistics, read without the segments that lack the field (their share
/// is zero, and reading it builds the empty dictionary).
struct StatsWithout<'a> {
    searcher: &'a tantivy::Searcher,
    skip: &'a [SegmentId],
}

impl StatsWithout<'_> {
    fn readers(&self) -> impl Iterator<Item = &SegmentReader> {
        self.searcher
            .segment_readers()
            .iter()
            .filter(|r| !self.skip.contains(&r.segment_id()))
    }
}

impl Bm25StatisticsProvider for StatsWithout<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut n = 0;
        for r in self.readers() {
            n += r.inverted_index(field)?.total_num_tokens();
        }
        Ok(n)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        self.searcher.total_num_docs()
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut n = 0;
        for r in self.readers() {
            n += u64::from(r.inverted_index(term.field())?.doc_freq(term)?);
        }
        Ok(n)
    }
}

struct SparseWeight {
    skip: Arc<[SegmentId]>,
    inner: Box<dyn Weight>,
}

impl SparseWeight {
    fn skips(&self, reader: &SegmentReader) -> bool {
        self.skip.contains(&reader.segment_id())
    }
}

impl Weight for SparseWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        if self.skips(reader) {
            return Ok(Box::new(EmptyScorer));
        }
        // The inner scorer itself, so that a union can still see term scorers (block-max WAND).
        self.inner.scorer(reader, boost)
    }

    fn scorer_danger(
        &self,
        reader: &SegmentReader,
        target: DocId,
        boost: Score,
    ) -> tantivy::Result<(tantivy::SeekDangerResult, Box<dyn Scorer>)> {
        if self.skips(reader) {
            let empty = EmptyScorer;
            return Ok((
                tantivy::SeekDangerResult::SeekLowerBound(empty.doc()),
                Box::new(empty),
            ));
        }
        self.inner.scorer_danger(reader, target, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.skips(reader) {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "Document #({doc}) does not match"
            )));
        }
        self.inner.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        if self.skips(reader) {
            return Ok(0);
        }
        self.inner.count(reader)
    }

    fn for_each(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score),
    ) -> tantivy::Result<()> {
        if self.skips(reader) {
            return Ok(());
        }
        self.inner.for_each(reader, callback)
    }

    fn for_each_no_score(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(&[DocId]),
    ) -> tantivy::Result<()> {
        if self.skips(reader) {
            return Ok(());
        }
        self.inner.for_each_no_score(reader, callback)
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        if self.skips(reader) {
            return Ok(());
        }
        self.inner.for_each_pruning(threshold, reader, callback)
    }
}
