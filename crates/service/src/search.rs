//! Search: a query against the index, hits joined with the catalog (the `trove search --json`
//! shape: `{total, offset, hits: [{id, kind, date, from, from_name, subject, snippet, score}],
//! facets?}`).

use crate::items::CatalogResolver;
use anyhow::Result;
use serde_json::{Value, json};
use std::time::Duration;
use trove_index::{Compiled, SearchIndex, SearchOptions, Sort};
use trove_store::{Archive, Catalog, ItemRow};

#[derive(Clone, Debug)]
pub struct Params {
    pub sort: Sort,
    pub offset: usize,
    /// `None` returns every hit.
    pub limit: Option<usize>,
    pub facets: bool,
    pub timeout: Duration,
}

/// `relevance` (default), `date` or `-date`.
pub fn sort_named(s: &str) -> Sort {
    match s {
        "date" => Sort::DateAsc,
        "-date" => Sort::DateDesc,
        _ => Sort::Relevance,
    }
}

/// Whether the index covers fewer items than the catalog (an ingest is running or was cut off).
pub fn index_lags(index: &SearchIndex, catalog: &Catalog) -> Result<bool> {
    Ok(index.covered_seq()? < catalog.max_seq()?)
}

/// Parses and compiles a query, expanding actor names, threads and tags from the catalog.
pub fn compile(index: &SearchIndex, catalog: &Catalog, query: &str) -> Result<Compiled> {
    let node = trove_index::parse(query)?;
    Ok(index.compile_with(&node, &CatalogResolver(catalog))?)
}

/// One page of hits with highlighted snippets (and facet counts when asked).
pub fn search(
    archive: &Archive,
    index: &SearchIndex,
    catalog: &Catalog,
    query: &str,
    p: &Params,
) -> Result<Value> {
    let compiled = compile(index, catalog, query)?;
    let opts = SearchOptions {
        offset: p.offset,
        limit: p.limit,
        sort: p.sort,
        facets: p.facets,
        timeout: p.timeout,
    };
    let res = index.search(&compiled, &opts)?;
    let snippets = index.snippets(&compiled)?;
    let mut hits = Vec::with_capacity(res.hits.len());
    for h in &res.hits {
        let it = catalog.find_item(&h.id)?;
        let body = body_text(archive, catalog, &it)?;
        let subject = it.subject.clone().unwrap_or_default();
        hits.push(json!({
            "id": it.id,
            "kind": it.kind,
            "date": it.date_rfc3339(),
            "from": it.from_addr,
            "from_name": it.from_name,
            "subject": it.subject,
            "snippet": snippets.make(&subject, snippet_source(&body)),
            "score": h.score,
        }));
    }
    let mut v = json!({"total": res.total, "offset": p.offset, "hits": hits});
    if let Some(f) = &res.facets {
        v["facets"] = serde_json::to_value(f)?;
    }
    Ok(v)
}

/// Snippets come from the first 16 KiB of text: the snippet generator tokenises all it is given,
/// and long messages (patches, digests) made that most of a search's cost. A match further in
/// still counts; its snippet is the message's opening.
pub const SNIPPET_SOURCE_BYTES: usize = 16 << 10;

fn snippet_source(body: &str) -> &str {
    if body.len() <= SNIPPET_SOURCE_BYTES {
        return body;
    }
    let mut end = SNIPPET_SOURCE_BYTES;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

/// The item's text, re-derived from its raw bytes (the catalog keeps no copy).
pub fn body_text(archive: &Archive, catalog: &Catalog, it: &ItemRow) -> Result<String> {
    Ok(trove_ingest::indexing::reparse_text(archive, it, || {
        Ok(catalog.provenance(&it.raw_sha256)?)
    })?)
}

/// Every item matching a query, oldest first.
pub fn matching_items(archive: &Archive, cat: &Catalog, query: &str) -> Result<Vec<ItemRow>> {
    let index = SearchIndex::open_or_create(&archive.root.join("index"))?;
    let compiled = compile(&index, cat, query)?;
    let res = index.search(
        &compiled,
        &SearchOptions {
            offset: 0,
            limit: None,
            sort: Sort::DateAsc,
            facets: false,
            timeout: Duration::from_secs(60),
        },
    )?;
    res.hits
        .iter()
        .map(|h| cat.find_item(&h.id).map_err(Into::into))
        .collect()
}
