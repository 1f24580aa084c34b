//! The tantivy index: schema, documents, query translation, ranked and sorted search, counts,
//! facets and snippets.

use crate::analysis::{self, ADDRESS, CJK, NEUTRAL, STEMMED, WORDS, stem_term, stemmed_name};
use crate::directory::ReadDirectory;
use crate::query::{Field as QField, Node, Value};
use crate::queue::{self, QueuedDoc};
use crate::sparse::{Absent, AbsentCache, Sparse};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tantivy::aggregation::AggregationCollector;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery,
    RegexQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value as _,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};
use trove_model::Mailbox;

/// Body text beyond this many bytes is not indexed (it stays in the raw message).
pub const MAX_INDEXED_BODY: usize = 2 << 20;

/// Everything indexed for one item, computed from its raw bytes (and catalog-only facts such as
/// provenance and tags). Built in parallel during ingest; added by the single writer.
#[derive(Clone, Debug, Default)]
pub struct IndexDoc {
    pub id: String,
    pub kind: String,
    pub date: Option<i64>,
    pub from: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    /// Sender and Reply-To: matched by `participant:` only.
    pub other_participants: Vec<Mailbox>,
    pub subject: String,
    pub body: String,
    pub attachment_text: String,
    pub filenames: Vec<String>,
    pub lang: Option<String>,
    pub thread: Option<String>,
    pub native_id: Option<String>,
    pub sources: Vec<String>,
    pub has_attachment: bool,
    pub dkim: Option<String>,
    pub tags: Vec<String>,
}

impl IndexDoc {
    /// Detects the language from subject and body (call once, in the parallel stage).
    pub fn detect_language(&mut self) {
        self.lang = analysis::detect_language(&self.language_sample());
    }

    /// The text the language is detected from: the subject and the start of the body's own
    /// prose. Quoted lines and patch or code lines say nothing of the writer's language, and they
    /// made most of the samples the English fast path could not decide (on list mail, 9,271 of
    /// the 9,942 that went to whatlang were ASCII with too few English words to be sure). They
    /// are left out, or follow the prose when it is under 400 bytes (what detection reads). On
    /// the 17,685 linux-mips messages the fast path now decides 9,277 instead of 7,743; 257
    /// messages whose language was unknown are English, 68 went the other way, and 32 that
    /// whatlang had called Latin, French, Dutch, Danish, Norwegian or Welsh (patches) are English.
    pub fn language_sample(&self) -> String {
        let mut prose = String::new();
        let mut rest = String::new();
        for line in truncate(&self.body, 8000).lines() {
            let to = if is_prose(line) {
                &mut prose
            } else {
                &mut rest
            };
            if to.len() < 2000 {
                to.push_str(line);
                to.push('\n');
            }
        }
        // Too little prose to decide on: the other lines follow it (a sample of a few words left
        // whatlang unsure, or wrong, more often than one with the quoted text). Each line is in
        // the sample once, so a short message does not pass the fast path's word count twice.
        if prose.len() < 400 {
            prose.push_str(&rest);
        }
        format!("{}\n{}", self.subject, prose)
    }
}

/// Whether a body line may be the writer's prose: not quoted (`>`, `|`), not a patch line
/// (`+`, `-`, `@@`, `diff `, `index `), not indented like code, not blank.
fn is_prose(line: &str) -> bool {
    let t = line.trim_end();
    !t.is_empty()
        && !t.starts_with(['>', '|', '+', '-', '@', ' ', '\t'])
        && !t.starts_with("diff ")
        && !t.starts_with("index ")
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[derive(Clone)]
pub struct Fields {
    id: Field,
    kind: Field,
    date: Field,
    month: Field,
    from: Field,
    to: Field,
    cc: Field,
    bcc: Field,
    participant: Field,
    from_addr: Field,
    subject: Field,
    body: Field,
    body_cjk: Field,
    attachment: Field,
    filename: Field,
    lang: Field,
    thread: Field,
    native: Field,
    source: Field,
    has: Field,
    dkim: Field,
    tag: Field,
}

/// Documents from which a search runs the index's segments in parallel.
const PARALLEL_SEARCH_MIN_DOCS: u64 = 250_000;

fn text(analyzer: &str, positions: bool) -> TextOptions {
    let opt = if positions {
        IndexRecordOption::WithFreqsAndPositions
    } else {
        IndexRecordOption::WithFreqs
    };
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer)
            .set_index_option(opt),
    )
}

pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let raw_fast = STRING | FAST;
    let f = Fields {
        id: b.add_text_field("id", STRING | STORED),
        kind: b.add_text_field("kind", raw_fast.clone()),
        date: b.add_i64_field("date", INDEXED | FAST),
        month: b.add_text_field("month", raw_fast.clone()),
        from: b.add_text_field("from", text(ADDRESS, true)),
        to: b.add_text_field("to", text(ADDRESS, true)),
        cc: b.add_text_field("cc", text(ADDRESS, true)),
        bcc: b.add_text_field("bcc", text(ADDRESS, true)),
        participant: b.add_text_field("participant", text(ADDRESS, true)),
        from_addr: b.add_text_field("from_addr", raw_fast.clone()),
        subject: b.add_text_field("subject", text(WORDS, true)),
        body: b.add_text_field("body", text(WORDS, true)),
        body_cjk: b.add_text_field("body_cjk", text(CJK, true)),
        attachment: b.add_text_field("attachment", text(NEUTRAL, true)),
        filename: b.add_text_field("filename", text(NEUTRAL, true)),
        lang: b.add_text_field("lang", raw_fast.clone()),
        thread: b.add_text_field("thread", STRING),
        native: b.add_text_field("native", STRING),
        source: b.add_text_field("source", text(NEUTRAL, true)),
        has: b.add_text_field("has", STRING),
        dkim: b.add_text_field("dkim", raw_fast),
        tag: b.add_text_field("tag", STRING),
    };
    (b.build(), f)
}

impl Fields {
    fn document(&self, d: &IndexDoc) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, &d.id);
        doc.add_text(self.kind, &d.kind);
        if let Some(t) = d.date {
            doc.add_i64(self.date, t);
            let (y, m, _) = trove_model::civil_from_days(t.div_euclid(86_400));
            doc.add_text(self.month, format!("{y:04}-{m:02}"));
        }
        for (field, list) in [
            (self.from, &d.from),
            (self.to, &d.to),
            (self.cc, &d.cc),
            (self.bcc, &d.bcc),
        ] {
            for m in list {
                let t = analysis::address_tokens(m);
                doc.add_text(field, &t);
                doc.add_text(self.participant, &t);
            }
        }
        for m in &d.other_participants {
            doc.add_text(self.participant, analysis::address_tokens(m));
        }
        for m in &d.from {
            if let Some(a) = m.normalized_address() {
                doc.add_text(self.from_addr, a);
            }
        }
        let lang = d.lang.as_deref();
        let body = truncate(&d.body, MAX_INDEXED_BODY);
        doc.add_text(self.subject, analysis::tag_language(lang, &d.subject));
        doc.add_text(self.body, analysis::tag_language(lang, body));
        // Most mail has no CJK text: skip the bigram pass entirely for it.
        if analysis::contains_cjk(&d.subject) || analysis::contains_cjk(body) {
            doc.add_text(self.body_cjk, format!("{}\n{}", d.subject, body));
        }
        if let Some(lang) = lang {
            doc.add_text(self.lang, lang);
        }
        if !d.attachment_text.is_empty() {
            let text = truncate(&d.attachment_text, MAX_INDEXED_BODY);
            doc.add_text(self.attachment, text);
            // The bigram tokenizer holds a text's characters in a vector (16 bytes each): only
            // text with CJK in it goes there, as for the body.
            if analysis::contains_cjk(text) {
                doc.add_text(self.body_cjk, text);
            }
        }
        for n in &d.filenames {
            doc.add_text(self.filename, n);
        }
        if let Some(t) = &d.thread {
            doc.add_text(self.thread, t.to_lowercase());
        }
        if let Some(n) = &d.native_id {
            doc.add_text(self.native, n.to_lowercase());
        }
        for s in &d.sources {
            doc.add_text(self.source, s);
        }
        if d.has_attachment {
            doc.add_text(self.has, "attachment");
        }
        if let Some(v) = &d.dkim {
            doc.add_text(self.dkim, v);
        }
        for t in &d.tags {
            doc.add_text(self.tag, t.to_lowercase());
        }
        doc
    }
}

/// How to order hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    Relevance,
    DateAsc,
    DateDesc,
}

/// Catalog knowledge a query may need: who an actor is, which items a thread holds.
pub trait Resolver {
    /// Addresses (as indexed) of every identity of the actor `name_or_identity` names.
    fn actor_addresses(&self, name_or_identity: &str) -> Vec<String>;
    /// Item ids of a thread or conversation.
    fn members(&self, thread_or_conversation: &str) -> Vec<String>;
    /// Item ids carrying a tag.
    fn tagged(&self, _tag: &str) -> Vec<String> {
        vec![]
    }
}

/// Knows nothing: queries match literally.
pub struct NoResolver;

impl Resolver for NoResolver {
    fn actor_addresses(&self, _: &str) -> Vec<String> {
        vec![]
    }
    fn members(&self, _: &str) -> Vec<String> {
        vec![]
    }
}

#[derive(Clone, Debug)]
pub struct SearchOptions {
    pub offset: usize,
    /// `None` means every hit.
    pub limit: Option<usize>,
    pub sort: Sort,
    pub facets: bool,
    pub timeout: Duration,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: Some(20),
            sort: Sort::Relevance,
            facets: false,
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub id: String,
    pub score: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize, Default)]
pub struct SearchResults {
    pub total: usize,
    pub hits: Vec<Hit>,
    /// `sender`, `month`, `kind`, `lang`, `dkim` → counts (with `--facets`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<BTreeMap<String, Vec<FacetCount>>>,
}

pub struct SearchIndex {
    index: Index,
    dir: std::path::PathBuf,
    fields: Fields,
    reader: IndexReader,
    absent: AbsentCache,
}

/// A compiled query, reusable for search and for snippets.
pub struct Compiled {
    query: Box<dyn Query>,
}

pub struct Writer<'a> {
    inner: IndexWriter<QueuedDoc>,
    fields: &'a Fields,
    queue: Arc<queue::Budget>,
}

impl Writer<'_> {
    /// Adds (or replaces, by id) the document of an item.
    pub fn upsert(&mut self, d: &IndexDoc) -> Result<()> {
        self.inner
            .delete_term(Term::from_field_text(self.fields.id, &d.id));
        self.add(d)
    }

    pub fn add(&mut self, d: &IndexDoc) -> Result<()> {
        let doc = self.fields.document(d);
        let permit = self.queue.acquire(queue::doc_bytes(&doc));
        self.inner.add_document(QueuedDoc {
            doc,
            _permit: permit,
        })?;
        Ok(())
    }

    /// Commits, recording the catalog sequence number the index now covers.
    pub fn commit(&mut self, covered_seq: i64) -> Result<()> {
        let mut prepared = self.inner.prepare_commit()?;
        prepared.set_payload(&covered_seq.to_string());
        prepared.commit()?;
        Ok(())
    }

    /// Waits for background merges so the process can exit cleanly.
    pub fn finish(self) -> Result<()> {
        self.inner.wait_merging_threads()?;
        Ok(())
    }
}

impl SearchIndex {
    pub fn open_or_create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(dir.display().to_string(), e))?;
        let (schema, fields) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| Error::Tantivy(tantivy::TantivyError::from(e)))?;
        // tantivy reports an index with another schema as a generic schema error: ours names
        // the way out (`trove reindex`).
        let mut index = match Index::open_or_create(mmap, schema.clone()) {
            Err(tantivy::TantivyError::SchemaError(_)) => return Err(Error::SchemaChanged),
            other => other?,
        };
        if index.schema() != schema {
            return Err(Error::SchemaChanged);
        }
        // A large archive's segments are searched in parallel, one thread per core: it has five
        // or six, and a word in most messages scores them all (bench/growth.sh p99 at 1M). Below
        // that the thread pool costs more than it saves: starting it slowed whole-process
        // searches, and a loaded web server only traded requests between threads.
        let docs: u64 = index
            .searchable_segment_metas()?
            .iter()
            .map(|m| u64::from(m.num_docs()))
            .sum();
        if docs >= PARALLEL_SEARCH_MIN_DOCS {
            index.set_default_multithread_executor()?;
        }
        analysis::register(index.tokenizers());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            dir: dir.to_path_buf(),
            fields,
            reader,
            absent: AbsentCache::default(),
        })
    }

    /// A writer with a bounded heap (one writer per index; the archive lock guarantees it). It
    /// reads segments through [`ReadDirectory`] so merges do not pin the index in memory.
    pub fn writer(&self) -> Result<Writer<'_>> {
        let dir = ReadDirectory::open(&self.dir)
            .map_err(|e| Error::Tantivy(tantivy::TantivyError::from(e)))?;
        let index = Index::open(dir)?;
        analysis::register(index.tokenizers());
        // One merge at a time: each holds its sources' term dictionaries in memory, and two or
        // more at once (tantivy runs four) add up past the ingest's memory bound. The indexing
        // heap writes a segment every 48 MiB; it takes about half as much again to write it out.
        // 64 MiB was no faster on list mail (17k and 100k messages) and, with words that never
        // repeat, peaked 60-70 MB higher (with a 48 MiB merge cap).
        let options = tantivy::indexer::IndexWriterOptions::builder()
            .memory_budget_per_thread(48 << 20)
            .num_worker_threads(1)
            .num_merge_threads(1)
            .build();
        let inner = index.writer_with_options(options)?;
        inner.set_merge_policy(Box::new(crate::merges::BoundedMerges::for_index(
            self.dir.clone(),
        )));
        Ok(Writer {
            inner,
            fields: &self.fields,
            queue: Arc::default(),
        })
    }

    /// The catalog sequence number the last commit covers (0 for a new index).
    pub fn covered_seq(&self) -> Result<i64> {
        let meta = self.index.load_metas()?;
        Ok(meta.payload.and_then(|p| p.parse().ok()).unwrap_or(0))
    }

    pub fn reload(&self) -> Result<()> {
        self.reader.reload()?;
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Compiles a query without catalog knowledge (actor names and thread ids stay literal).
    pub fn compile(&self, node: &Node) -> Result<Compiled> {
        self.compile_with(node, &NoResolver)
    }

    /// Compiles a query, expanding actor names in `from:`/`to:`/`cc:`/`bcc:`/`participant:` to
    /// all their identities, and `thread:`/`conversation:` to their items.
    pub fn compile_with(&self, node: &Node, resolver: &dyn Resolver) -> Result<Compiled> {
        let compiler = Compiler {
            ix: self,
            absent: self.absent.get(&self.reader.searcher())?,
        };
        Ok(Compiled {
            query: compiler.build(node, resolver)?,
        })
    }

    fn analyze(&self, analyzer: &str, text: &str) -> Vec<(usize, String)> {
        let Some(mut a) = self.index.tokenizers().get(analyzer) else {
            return vec![];
        };
        let mut s = a.token_stream(text);
        let mut out = vec![];
        while let Some(t) = s.next() {
            out.push((t.position, t.text.clone()));
        }
        out
    }
}

/// Translates one parsed query against the segments of the moment.
struct Compiler<'a> {
    ix: &'a SearchIndex,
    absent: Arc<Absent>,
}

impl Compiler<'_> {
    fn text_query(
        &self,
        field: Field,
        analyzer: &str,
        value: &Value,
        positions: bool,
    ) -> Option<Box<dyn Query>> {
        match value {
            Value::Prefix(p) => {
                if analyzer != NEUTRAL && analyzer != ADDRESS {
                    return None;
                }
                let toks = self.ix.analyze(analyzer, p);
                let (_, last) = toks.last()?;
                let pattern = format!("{}.*", regex_escape(last));
                RegexQuery::from_pattern(&pattern, field)
                    .ok()
                    .map(|q| self.absent.guard(field, Box::new(q)))
            }
            Value::Word(s) | Value::Phrase(s) => {
                let toks = self.ix.analyze(analyzer, s);
                match toks.len() {
                    0 => None,
                    1 => Some(self.absent.guard(
                        field,
                        Box::new(TermQuery::new(
                            Term::from_field_text(field, &toks[0].1),
                            IndexRecordOption::WithFreqs,
                        )),
                    )),
                    _ if !positions => None,
                    _ => {
                        let base = toks[0].0;
                        let terms = toks
                            .into_iter()
                            .map(|(p, t)| (p - base, Term::from_field_text(field, &t)))
                            .collect();
                        Some(
                            self.absent
                                .guard(field, Box::new(PhraseQuery::new_with_offset(terms))),
                        )
                    }
                }
            }
        }
    }

    fn raw_query(&self, field: Field, value: &Value) -> Box<dyn Query> {
        let query: Box<dyn Query> = match value {
            Value::Prefix(p) => match RegexQuery::from_pattern(
                &format!("{}.*", regex_escape(&p.to_lowercase())),
                field,
            ) {
                Ok(q) => Box::new(q),
                Err(_) => Box::new(EmptyQuery),
            },
            Value::Word(s) | Value::Phrase(s) => Box::new(TermQuery::new(
                Term::from_field_text(field, &s.to_lowercase()),
                IndexRecordOption::Basic,
            )),
        };
        self.absent.guard(field, query)
    }

    fn any_of(&self, targets: &[(Field, &str, bool)], value: &Value) -> Box<dyn Query> {
        let parts: Vec<Box<dyn Query>> = targets
            .iter()
            .filter_map(|(f, a, pos)| self.text_query(*f, a, value, *pos))
            .collect();
        match parts.len() {
            0 => Box::new(EmptyQuery),
            1 => parts
                .into_iter()
                .next()
                .unwrap_or_else(|| Box::new(EmptyQuery)),
            _ => Box::new(BooleanQuery::new(
                parts.into_iter().map(|q| (Occur::Should, q)).collect(),
            )),
        }
    }

    /// `base` widened to the other forms of a single word: the documents of a stemmed language
    /// that have a word with the same stem in that language, in the body or the subject (see
    /// `analysis::StemTagger`). A word that is its own stem has no stem term: it is found as
    /// itself, in documents of that language. `exact` are the fields `base` already searches
    /// for the word as written.
    ///
    /// Checked against a field per language on the 17,685 linux-mips messages: the same counts
    /// for 1,900 words drawn from them (session 27).
    fn with_stems(&self, base: Box<dyn Query>, value: &Value, exact: &[Field]) -> Box<dyn Query> {
        let word = match value {
            Value::Word(s) | Value::Phrase(s) => s,
            Value::Prefix(_) => return base,
        };
        let f = &self.ix.fields;
        let fields = [f.body, f.subject];
        let neutral = self.ix.analyze(NEUTRAL, word);
        let as_written = match neutral.as_slice() {
            [(_, w)] => Some(w.as_str()),
            _ => None,
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, base)];
        // Stem → the languages that give it.
        let mut languages: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (code, _) in STEMMED {
            // A phrase has no stemmed form (stems are single terms, as in Gmail).
            let Ok([(_, stem)]) = <[_; 1]>::try_from(self.ix.analyze(&stemmed_name(code), word))
            else {
                continue;
            };
            for field in fields {
                let term = Term::from_field_text(field, &stem_term(code, &stem));
                let q = Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                clauses.push((Occur::Should, self.absent.guard(field, q)));
            }
            // The word itself stands for its stem only where the stem is its own stem: "aliasing"
            // stems to "alias", but the word "alias" stems to "alia".
            if let [(_, again)] = self.ix.analyze(&stemmed_name(code), &stem).as_slice()
                && *again == stem
            {
                languages.entry(stem).or_default().push(code);
            }
        }
        for (stem, codes) in languages {
            let words: Vec<(Occur, Box<dyn Query>)> = fields
                .iter()
                .filter(|field| as_written != Some(stem.as_str()) || !exact.contains(field))
                .map(|field| {
                    let term = Term::from_field_text(*field, &stem);
                    let q = Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                    (Occur::Should, self.absent.guard(*field, q))
                })
                .collect();
            if words.is_empty() {
                continue;
            }
            // The language only filters: it adds nothing to the score. Term queries, not a
            // TermSetQuery, whose weight builds an FST (a megabyte of page faults a process).
            let in_language = BooleanQuery::new(
                codes
                    .iter()
                    .map(|c| {
                        let term = Term::from_field_text(f.lang, c);
                        let q: Box<dyn Query> =
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                        (Occur::Should, q)
                    })
                    .collect(),
            );
            clauses.push((
                Occur::Should,
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(BooleanQuery::new(words))),
                    (
                        Occur::Must,
                        Box::new(BoostQuery::new(Box::new(in_language), 0.0)),
                    ),
                ])),
            ));
        }
        if clauses.len() == 1 {
            return clauses
                .pop()
                .map_or_else(|| Box::new(EmptyQuery) as _, |(_, q)| q);
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// `base` widened to the identities of the actor `value` names, in `field`.
    fn with_actor(
        &self,
        base: Box<dyn Query>,
        field: Field,
        value: &Value,
        r: &dyn Resolver,
    ) -> Box<dyn Query> {
        let text = match value {
            Value::Word(s) | Value::Phrase(s) => s,
            Value::Prefix(_) => return base,
        };
        let addrs = r.actor_addresses(text);
        if addrs.is_empty() {
            return base;
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, base)];
        for a in addrs {
            clauses.push((
                Occur::Should,
                self.absent.guard(
                    field,
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, &a.to_lowercase()),
                        IndexRecordOption::Basic,
                    )),
                ),
            ));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    fn members(&self, value: &Value, r: &dyn Resolver) -> Box<dyn Query> {
        let key = match value {
            Value::Word(s) | Value::Phrase(s) => s.trim(),
            Value::Prefix(_) => return Box::new(EmptyQuery),
        };
        let ids = r.members(key);
        if ids.is_empty() {
            return self.raw_query(self.ix.fields.thread, value);
        }
        Box::new(TermSetQuery::new(ids.iter().map(|id| {
            Term::from_field_text(self.ix.fields.id, &id.to_lowercase())
        })))
    }

    fn term(&self, field: Option<QField>, value: &Value, r: &dyn Resolver) -> Box<dyn Query> {
        let f = &self.ix.fields;
        let body_targets = [(f.body, NEUTRAL, true), (f.body_cjk, CJK, true)];
        match field {
            None => {
                let mut t = body_targets.to_vec();
                t.extend([
                    (f.subject, NEUTRAL, true),
                    (f.attachment, NEUTRAL, true),
                    (f.filename, NEUTRAL, true),
                    (f.participant, ADDRESS, true),
                ]);
                self.with_stems(self.any_of(&t, value), value, &[f.body, f.subject])
            }
            Some(QField::Body) => {
                self.with_stems(self.any_of(&body_targets, value), value, &[f.body])
            }
            Some(QField::Subject) => self.any_of(&[(f.subject, NEUTRAL, true)], value),
            Some(QField::Attachment) => self.any_of(&[(f.attachment, NEUTRAL, true)], value),
            Some(QField::Filename) => self.any_of(&[(f.filename, NEUTRAL, true)], value),
            Some(QField::Source) => self.any_of(&[(f.source, NEUTRAL, true)], value),
            Some(QField::From) => self.with_actor(
                self.any_of(&[(f.from, ADDRESS, true)], value),
                f.from,
                value,
                r,
            ),
            Some(QField::To) => {
                self.with_actor(self.any_of(&[(f.to, ADDRESS, true)], value), f.to, value, r)
            }
            Some(QField::Cc) => {
                self.with_actor(self.any_of(&[(f.cc, ADDRESS, true)], value), f.cc, value, r)
            }
            Some(QField::Bcc) => self.with_actor(
                self.any_of(&[(f.bcc, ADDRESS, true)], value),
                f.bcc,
                value,
                r,
            ),
            Some(QField::Participant) => self.with_actor(
                self.any_of(&[(f.participant, ADDRESS, true)], value),
                f.participant,
                value,
                r,
            ),
            Some(QField::Kind) => self.raw_query(f.kind, value),
            Some(QField::Lang) => self.raw_query(f.lang, value),
            Some(QField::Thread) => self.members(value, r),
            Some(QField::Native) => {
                let v = match value {
                    Value::Word(s) => {
                        Value::Word(s.trim_start_matches('<').trim_end_matches('>').to_string())
                    }
                    other => other.clone(),
                };
                self.raw_query(f.native, &v)
            }
            Some(QField::Id) => {
                let v = match value {
                    Value::Word(s) if s.len() > 24 => Value::Word(s[..24].to_string()),
                    other => other.clone(),
                };
                self.raw_query(f.id, &v)
            }
            Some(QField::Has) => self.raw_query(f.has, &Value::Word("attachment".into())),
            Some(QField::Dkim) => self.raw_query(f.dkim, value),
            Some(QField::Tag) => {
                let ids = match value {
                    Value::Word(t) | Value::Phrase(t) => r.tagged(t),
                    Value::Prefix(_) => vec![],
                };
                if ids.is_empty() {
                    self.raw_query(f.tag, value)
                } else {
                    Box::new(TermSetQuery::new(
                        ids.iter()
                            .map(|id| Term::from_field_text(f.id, &id.to_lowercase())),
                    ))
                }
            }
        }
    }

    fn build(&self, node: &Node, r: &dyn Resolver) -> Result<Box<dyn Query>> {
        Ok(match node {
            Node::All => Box::new(AllQuery),
            Node::Term { field, value } => self.term(*field, value, r),
            Node::DateRange { from, to } => {
                let lo = from
                    .map(|t| Bound::Included(Term::from_field_i64(self.ix.fields.date, t)))
                    .unwrap_or(Bound::Unbounded);
                let hi = to
                    .map(|t| Bound::Excluded(Term::from_field_i64(self.ix.fields.date, t)))
                    .unwrap_or(Bound::Unbounded);
                if lo == Bound::Unbounded && hi == Bound::Unbounded {
                    // "any date": items that have one.
                    Box::new(RangeQuery::new(
                        Bound::Included(Term::from_field_i64(self.ix.fields.date, i64::MIN)),
                        Bound::Unbounded,
                    ))
                } else {
                    Box::new(RangeQuery::new(lo, hi))
                }
            }
            Node::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
                (Occur::MustNot, self.build(inner, r)?),
            ])),
            Node::And(parts) => {
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for p in parts {
                    match p {
                        Node::Not(inner) => clauses.push((Occur::MustNot, self.build(inner, r)?)),
                        other => clauses.push((Occur::Must, self.build(other, r)?)),
                    }
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Node::Or(parts) => {
                let mut clauses = Vec::new();
                for p in parts {
                    clauses.push((Occur::Should, self.build(p, r)?));
                }
                Box::new(BooleanQuery::new(clauses))
            }
        })
    }
}

impl SearchIndex {
    /// Counts the matching items.
    pub fn count(&self, q: &Compiled, timeout: Duration) -> Result<usize> {
        let searcher = self.reader.searcher();
        let query = q.query.box_clone();
        with_timeout(timeout, move || Ok(searcher.search(&query, &Count)?))
    }

    pub fn search(&self, q: &Compiled, opts: &SearchOptions) -> Result<SearchResults> {
        let searcher = self.reader.searcher();
        let query = q.query.box_clone();
        let opts = opts.clone();
        let fields = self.fields.clone();
        with_timeout(opts.timeout, move || {
            let page = opts
                .limit
                .filter(|&l| l > 0 && opts.offset.saturating_add(l) <= ONE_PASS_MAX_HITS);
            let (total, addrs) = match page {
                Some(limit) if opts.sort != Sort::Relevance || !prunes(query.as_ref()) => {
                    count_and_page(&searcher, query.as_ref(), opts.sort, opts.offset, limit)?
                }
                _ => count_then_page(&searcher, query.as_ref(), &opts)?,
            };
            let mut hits = Vec::with_capacity(addrs.len());
            for (score, addr) in addrs {
                let doc: TantivyDocument = searcher.doc(addr)?;
                let id = doc
                    .get_first(fields.id)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                hits.push(Hit { id, score });
            }
            if opts.limit == Some(0) {
                hits.clear();
            }
            let facets = if opts.facets {
                Some(facets(&searcher, &query)?)
            } else {
                None
            };
            Ok(SearchResults {
                total,
                hits,
                facets,
            })
        })
    }

    /// A snippet maker for this query over body text (terms highlighted as `<b>…</b>`, the rest
    /// HTML-escaped).
    pub fn snippets(&self, q: &Compiled) -> Result<Snippets> {
        let searcher = self.reader.searcher();
        let mut generator = SnippetGenerator::create(&searcher, &*q.query, self.fields.body)?;
        generator.set_max_num_chars(200);
        let mut subject = SnippetGenerator::create(&searcher, &*q.query, self.fields.subject)?;
        subject.set_max_num_chars(200);
        let (mut body_terms, mut subject_terms) = (false, false);
        q.query.query_terms(&mut |term, _| {
            body_terms |= term.field() == self.fields.body;
            subject_terms |= term.field() == self.fields.subject;
        });
        Ok(Snippets {
            body: generator,
            subject,
            body_terms,
            subject_terms,
        })
    }
}

pub struct Snippets {
    body: SnippetGenerator,
    subject: SnippetGenerator,
    /// Whether the query has terms in the field at all.
    body_terms: bool,
    subject_terms: bool,
}

impl Snippets {
    pub fn make(&self, subject: &str, body: &str) -> String {
        // A generator without terms (a query on senders or dates only) still tokenises all the
        // text it is given: skip it.
        if self.body_terms {
            let s = self.body.snippet(body);
            if !s.is_empty() && !s.highlighted().is_empty() {
                return s.to_html();
            }
        }
        if self.subject_terms {
            let s = self.subject.snippet(subject);
            if !s.highlighted().is_empty() {
                return s.to_html();
            }
        }
        // No hit in the body text: its opening words (read lazily; bodies can be long).
        let mut start = String::new();
        for w in body.split_whitespace() {
            if start.chars().count() >= 200 {
                break;
            }
            if !start.is_empty() {
                start.push(' ');
            }
            start.push_str(w);
        }
        let start: String = start.chars().take(200).collect();
        html_escape(&start)
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

/// Pages within this many hits are counted and collected in one pass over the matches.
const ONE_PASS_MAX_HITS: usize = 1000;

/// Whether counting apart and then collecting the top hits by relevance beats one pass: for a
/// term, whose count is its document frequency and whose top hits skip most matches (block-max
/// WAND). Anything else visits every match to count it, so collecting in the same pass halves
/// the work: at a million messages phrases and conjunctions went from 6-11 ms to 3-5 ms, single
/// words (a disjunction over the text fields) from 1.2-2.2 ms to 1.0-1.6 ms.
fn prunes(q: &dyn Query) -> bool {
    let q = q.downcast_ref::<Sparse>().map_or(q, Sparse::inner);
    q.is::<TermQuery>()
}

type Page = (usize, Vec<(f32, DocAddress)>);

/// The count and one page, in one pass.
fn count_and_page(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    sort: Sort,
    offset: usize,
    limit: usize,
) -> Result<Page> {
    let top = TopDocs::with_limit(limit).and_offset(offset);
    Ok(match sort {
        Sort::Relevance => searcher.search(query, &(Count, top.order_by_score()))?,
        Sort::DateAsc | Sort::DateDesc => {
            let order = if sort == Sort::DateAsc {
                Order::Asc
            } else {
                Order::Desc
            };
            let (total, docs) = searcher.search(
                query,
                &(Count, top.order_by_fast_field::<i64>("date", order)),
            )?;
            (total, docs.into_iter().map(|(_, a)| (0.0, a)).collect())
        }
    })
}

/// The count, then the page it bounds (any page size, and the pruning top-k of terms).
fn count_then_page(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    opts: &SearchOptions,
) -> Result<Page> {
    let total = searcher.search(query, &Count)?;
    // Collectors allocate offset + limit slots up front: bound both by the hit count, so a
    // huge offset or limit from a URL costs nothing (it once aborted the process).
    let offset = opts.offset.min(total);
    let limit = opts.limit.unwrap_or(total).min(total - offset).max(1);
    let addrs: Vec<(f32, DocAddress)> = if offset >= total {
        vec![]
    } else {
        match opts.sort {
            Sort::Relevance => searcher.search(
                query,
                &TopDocs::with_limit(limit)
                    .and_offset(offset)
                    .order_by_score(),
            )?,
            Sort::DateAsc | Sort::DateDesc => {
                let order = if opts.sort == Sort::DateAsc {
                    Order::Asc
                } else {
                    Order::Desc
                };
                let c = TopDocs::with_limit(limit)
                    .and_offset(offset)
                    .order_by_fast_field::<i64>("date", order);
                searcher
                    .search(query, &c)?
                    .into_iter()
                    .map(|(_, a)| (0.0, a))
                    .collect()
            }
        }
    };
    Ok((total, addrs))
}

fn facets(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
) -> Result<BTreeMap<String, Vec<FacetCount>>> {
    let req = serde_json::json!({
        "sender": {"terms": {"field": "from_addr", "size": 20}},
        "month": {"terms": {"field": "month", "size": 2000, "order": {"_key": "asc"}}},
        "kind": {"terms": {"field": "kind", "size": 10}},
        "lang": {"terms": {"field": "lang", "size": 50}},
        "dkim": {"terms": {"field": "dkim", "size": 20}},
    });
    let aggs: Aggregations =
        serde_json::from_value(req).map_err(|e| Error::Internal(e.to_string()))?;
    let collector = AggregationCollector::from_aggs(aggs, Default::default());
    let res = searcher.search(query, &collector)?;
    let v = serde_json::to_value(res).map_err(|e| Error::Internal(e.to_string()))?;
    let mut out = BTreeMap::new();
    for name in ["sender", "month", "kind", "lang", "dkim"] {
        let buckets = v[name]["buckets"].as_array().cloned().unwrap_or_default();
        out.insert(
            name.to_string(),
            buckets
                .iter()
                .map(|b| FacetCount {
                    value: b["key"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| b["key"].to_string()),
                    count: b["doc_count"].as_u64().unwrap_or(0),
                })
                .collect(),
        );
    }
    Ok(out)
}

/// Runs `f` on its own thread and gives up waiting after `timeout` (the query is bounded; the
/// thread finishes in the background).
fn with_timeout<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(subject: &str, body: &str) -> IndexDoc {
        IndexDoc {
            subject: subject.into(),
            body: body.into(),
            ..Default::default()
        }
    }

    /// Stemmed search finds what a stemmed field per language found: other forms of a word in
    /// documents of that language, in the body or the subject, and phrases still match.
    #[test]
    fn stems_match_other_forms_in_documents_of_their_language() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = SearchIndex::open_or_create(dir.path()).expect("open");
        let mut w = index.writer().expect("writer");
        for (id, lang, subject, body) in [
            (
                "en0",
                Some("en"),
                "Tax returns",
                "We are running the numbers",
            ),
            ("en1", Some("en"), "Weather", "They run fast"),
            ("none0", None, "Notes", "run returns"),
            ("fr0", Some("fr"), "Vote", "Les élections municipales"),
            ("en2", Some("en"), "Names", "an alias"),
        ] {
            w.add(&IndexDoc {
                id: id.into(),
                lang: lang.map(Into::into),
                ..doc(subject, body)
            })
            .expect("add");
        }
        w.commit(4).expect("commit");
        w.finish().expect("finish");
        index.reload().expect("reload");
        let ids = |q: &str| -> Vec<String> {
            let node = crate::parse(q).expect("parse");
            let compiled = index.compile(&node).expect("compile");
            let opts = SearchOptions {
                sort: Sort::DateAsc,
                ..Default::default()
            };
            let mut ids: Vec<String> = index
                .search(&compiled, &opts)
                .expect("search")
                .hits
                .into_iter()
                .map(|h| h.id)
                .collect();
            ids.sort();
            ids
        };
        // "running" → stem "run": a stem term in en0, the word itself in en1 (English), not in
        // none0, which has no language and so no stems.
        assert_eq!(ids("running"), ["en0", "en1"]);
        assert_eq!(ids("run"), ["en0", "en1", "none0"]);
        // A body query finds stems of the subject too, as the stemmed field (subject and body)
        // did; a subject query is exact.
        assert_eq!(ids("body:returning"), ["en0"]);
        assert!(ids("subject:returning").is_empty());
        assert_eq!(ids("returns"), ["en0", "none0"]);
        // Stem terms sit at their word's position: phrases are unchanged.
        assert_eq!(ids("\"running the numbers\""), ["en0"]);
        assert!(ids("\"run numbers\"").is_empty());
        assert_eq!(ids("élection"), ["fr0"]);
        assert_eq!(ids("electoral"), Vec::<String>::new());
        // "aliasing" stems to "alias", which stems to "alia": the word "alias" is no match.
        assert!(ids("aliasing").is_empty());
        // A stop word has no stemmed form; a prefix neither.
        assert!(ids("les").contains(&"fr0".to_string()));
        assert_eq!(ids("numb*"), ["en0"]);
    }

    #[test]
    fn an_index_with_another_schema_asks_for_a_reindex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = Schema::builder();
        b.add_text_field("body", tantivy::schema::TEXT);
        let mmap = tantivy::directory::MmapDirectory::open(dir.path()).expect("dir");
        Index::create(mmap, b.build(), Default::default()).expect("create");
        let err = SearchIndex::open_or_create(dir.path())
            .err()
            .expect("an error");
        assert!(matches!(err, Error::SchemaChanged), "{err}");
        assert!(err.to_string().contains("trove reindex"));
    }

    #[test]
    fn cjk_attachment_text_is_found_by_its_bigrams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = SearchIndex::open_or_create(dir.path()).expect("open");
        let mut w = index.writer().expect("writer");
        for (id, text) in [("cjk", "世界人権宣言 annex"), ("latin", "plain annex")] {
            w.add(&IndexDoc {
                id: id.into(),
                attachment_text: text.into(),
                ..doc("attached", "see the file")
            })
            .expect("add");
        }
        w.commit(2).expect("commit");
        w.finish().expect("finish");
        index.reload().expect("reload");
        let count = |q: &str| {
            let node = crate::parse(q).expect("parse");
            let compiled = index.compile(&node).expect("compile");
            index
                .count(&compiled, Duration::from_secs(10))
                .expect("count")
        };
        assert_eq!(count("人権"), 1);
        assert_eq!(count("annex"), 2);
        assert_eq!(count("plain"), 1);
    }

    /// Two segments: French mail with a tag, then English mail without one.
    fn two_segment_index(dir: &Path) -> SearchIndex {
        let index = SearchIndex::open_or_create(dir).expect("open");
        let mut w = index.writer().expect("writer");
        for (i, text) in ["Le serveur tombe en panne", "Les serveurs redémarrent"]
            .iter()
            .enumerate()
        {
            w.add(&IndexDoc {
                id: format!("fr{i}"),
                lang: Some("fr".into()),
                tags: vec!["hot".into()],
                ..doc("panne", text)
            })
            .expect("add");
        }
        w.commit(2).expect("commit");
        for (i, text) in ["The server is down again", "Servers restarted, panne fixed"]
            .iter()
            .enumerate()
        {
            w.add(&IndexDoc {
                id: format!("en{i}"),
                lang: Some("en".into()),
                ..doc("server", text)
            })
            .expect("add");
        }
        w.commit(4).expect("commit");
        w.finish().expect("finish");
        index.reload().expect("reload");
        index
    }

    #[test]
    fn clauses_skip_segments_without_their_field_and_results_do_not_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = two_segment_index(dir.path());
        let searcher = index.reader.searcher();
        assert_eq!(searcher.segment_readers().len(), 2);
        let absent = index.absent.get(&searcher).expect("absent");
        let lacking = |f: Field| absent.by_field(f).len();
        assert_eq!(lacking(index.fields.tag), 1);
        assert_eq!(lacking(index.fields.bcc), 2);
        assert_eq!(lacking(index.fields.body), 0);
        let queries = [
            "serveur",
            "servers",
            "panne",
            "server OR panne",
            "tag:hot",
            "tag:hot server",
            "-tag:hot",
            "redémarr*",
            "\"server is down\"",
            "body:pannes",
        ];
        for q in queries {
            let node = crate::parse(q).expect("parse");
            let guarded = index.compile(&node).expect("compile");
            let plain = Compiled {
                query: Compiler {
                    ix: &index,
                    absent: Arc::default(),
                }
                .build(&node, &NoResolver)
                .expect("build"),
            };
            let timeout = Duration::from_secs(10);
            assert_eq!(
                index.count(&guarded, timeout).expect("count"),
                index.count(&plain, timeout).expect("count"),
                "{q}"
            );
            for sort in [Sort::Relevance, Sort::DateAsc] {
                let opts = SearchOptions {
                    sort,
                    ..Default::default()
                };
                let a = index.search(&guarded, &opts).expect("search");
                let b = index.search(&plain, &opts).expect("search");
                let hits = |r: &SearchResults| -> Vec<(String, f32)> {
                    r.hits.iter().map(|h| (h.id.clone(), h.score)).collect()
                };
                assert_eq!(hits(&a), hits(&b), "{q}");
            }
        }
        let count = |q: &str| {
            index
                .count(
                    &index.compile(&crate::parse(q).expect("parse")).expect("c"),
                    Duration::from_secs(10),
                )
                .expect("count")
        };
        assert_eq!(count("serveur"), 2);
        assert_eq!(count("tag:hot"), 2);
        assert_eq!(count("server"), 2);
    }

    /// Records whether compiling asked the resolver.
    #[derive(Default)]
    struct Asked(std::cell::Cell<bool>);

    impl Resolver for Asked {
        fn actor_addresses(&self, _: &str) -> Vec<String> {
            self.0.set(true);
            vec![]
        }
        fn members(&self, _: &str) -> Vec<String> {
            self.0.set(true);
            vec![]
        }
        fn tagged(&self, _: &str) -> Vec<String> {
            self.0.set(true);
            vec![]
        }
    }

    #[test]
    fn uses_resolver_says_when_compiling_asks_the_catalog() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = SearchIndex::open_or_create(dir.path()).expect("open");
        for (field, _) in crate::query::FIELD_NAMES {
            let v = if *field == "has" { "attachment" } else { "x" };
            for q in [
                format!("{field}:{v}"),
                format!("a OR -{field}:{v}"),
                format!("(b {field}:\"{v}\")"),
            ] {
                let node = crate::parse(&q).expect("parse");
                let asked = Asked::default();
                index.compile_with(&node, &asked).expect("compile");
                assert_eq!(asked.0.get(), node.uses_resolver(), "{q}");
            }
        }
        assert!(!crate::parse("word date:2014").expect("p").uses_resolver());
    }

    #[test]
    fn the_language_sample_is_the_writers_prose_first() {
        let quoted_patch = "On Tue, Ralf wrote:\n> Ce correctif ne marche pas.\n\n\
             diff --git a/x.c b/x.c\nindex 1..2 100644\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n\
             -\tif (a)\n+\tif (b)\n    return 0;\n| table\n";
        let prose = "Thanks, applied; the boot hang is gone on every board I have. ".repeat(7);
        let d = doc("Re: fix", &format!("{quoted_patch}{prose}\n"));
        assert_eq!(
            d.language_sample(),
            format!("Re: fix\nOn Tue, Ralf wrote:\n{prose}\n")
        );
        // Too little prose: the other lines follow it, each once, so there is enough to decide
        // on and a short message is not counted twice.
        let d = doc("Re: fix", &format!("{quoted_patch}Applied.\n"));
        let rest = quoted_patch.replace("On Tue, Ralf wrote:\n", "");
        assert_eq!(
            d.language_sample(),
            format!("Re: fix\nOn Tue, Ralf wrote:\nApplied.\n{rest}")
        );
        let d = doc("Hi", "Thanks, that works.\n");
        assert_eq!(d.language_sample(), "Hi\nThanks, that works.\n");
        // Each part stops growing past 2,000 bytes.
        let line = "word ".repeat(100);
        let d = doc("s", &vec![line.as_str(); 30].join("\n"));
        assert!(d.language_sample().len() < 2_600);
    }
}
