//! `trove search`: runs a query against the index and joins hits with the catalog.

use anyhow::Result;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;
use trove_index::SearchIndex;
use trove_service::UsageError;
use trove_service::items::CatalogResolver;
use trove_service::search as service;
use trove_store::Archive;

pub const QUERY_HELP: &str = "\
QUERY LANGUAGE (full reference: docs/query-language.md)
  words, \"exact phrases\"      implicit AND between terms
  a OR b, NOT a, -a, ( )       booleans and grouping
  field:value, field:\"a b\"     from to cc bcc participant subject body attachment filename
                               kind lang thread conversation native id source dkim tag
  from:podesta from:gmail.com from:\"John Podesta\"   name, local part, address or domain
  after:2016-09-01 before:2016-10 date:2016-10 date:2016-10-01..2016-10-15
  has:attachment   assang*   (trailing wildcard)
Words are matched with accents and case folded, and stemmed in en fr de es it pt ru nl;
CJK text is matched by character bigrams.";

pub struct Options {
    pub count: bool,
    pub sort: String,
    pub offset: usize,
    pub limit: usize,
    pub facets: bool,
    pub timeout_ms: u64,
}

/// Prints the query with a caret under the column a query error names.
fn caret(query: &str, e: &trove_index::QueryError) -> String {
    let pad: String = " ".repeat(e.column.saturating_sub(1));
    format!("  {query}\n  {pad}^")
}

pub fn run(archive: &Archive, query: &str, o: &Options, json: bool) -> Result<ExitCode> {
    let max = archive.settings.limits.max_query_chars;
    if query.chars().count() > max as usize {
        return Err(UsageError(format!(
            "the query is longer than limits.max_query_chars ({max} characters)"
        ))
        .into());
    }
    let node = match trove_index::parse(query) {
        Ok(node) => node,
        Err(e) => {
            eprintln!("{}", caret(query, &e));
            return Err(e.into());
        }
    };
    let index = SearchIndex::open_or_create(&archive.root.join("index"))?;
    // The catalog is opened only when needed: opening it is about a tenth of a counting
    // process (bench/search.sh). A new or deleted index is compared too.
    let mut catalog = None;
    if archive.index_may_be_behind() || index.covered_seq()? == 0 {
        let c = archive.catalog()?;
        if service::index_lags(&index, &c)? {
            eprintln!(
                "trove: warning: the search index lags the catalog (an ingest is running or was \
                 interrupted); results may be incomplete. `trove reindex` rebuilds it."
            );
        }
        catalog = Some(c);
    }
    let timeout = Duration::from_millis(o.timeout_ms);
    if o.count {
        let compiled = if node.uses_resolver() {
            let c = catalog.map_or_else(|| archive.catalog(), Ok)?;
            index.compile_with(&node, &CatalogResolver(&c))?
        } else {
            index.compile(&node)?
        };
        outln!("{}", index.count(&compiled, timeout)?);
        // The process ends next, and the kernel unmaps the index's files in one pass at exit.
        // Dropping the index unmapped them one by one first: 5-8% of a counting process's CPU
        // (perf stat, 150 runs of three queries, session 22).
        std::mem::forget(index);
        return Ok(ExitCode::SUCCESS);
    }
    let catalog = catalog.map_or_else(|| archive.catalog(), Ok)?;
    let params = service::Params {
        sort: service::sort_named(&o.sort),
        offset: o.offset,
        limit: (o.limit > 0).then_some(o.limit),
        facets: o.facets,
        timeout,
    };
    let res = service::search(archive, &index, &catalog, query, &params)?;
    if json {
        outln!("{res}");
        return Ok(ExitCode::SUCCESS);
    }
    let hits = res["hits"].as_array().cloned().unwrap_or_default();
    outln!("{} results", res["total"]);
    for h in &hits {
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        outln!();
        outln!(
            "{}  {}  {}",
            s(&h["id"]),
            s(&h["date"]),
            h["from_name"].as_str().or(h["from"].as_str()).unwrap_or("")
        );
        if !s(&h["subject"]).is_empty() {
            outln!("  {}", s(&h["subject"]));
        }
        outln!("  {}", terminal_snippet(&s(&h["snippet"])));
    }
    if let Some(f) = res["facets"].as_object() {
        for (name, counts) in f {
            let list: Vec<String> = counts
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{} ({})", c["value"].as_str().unwrap_or(""), c["count"]))
                .collect();
            if !list.is_empty() {
                outln!("\n{name}: {}", list.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `<b>x</b>` highlights become bold on a terminal, and entities are unescaped.
fn terminal_snippet(html: &str) -> String {
    html.replace("<b>", "\x1b[1m")
        .replace("</b>", "\x1b[0m")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}
