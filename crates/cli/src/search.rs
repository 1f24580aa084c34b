//! `trove search`: runs a query against the index and joins hits with the catalog.

use anyhow::Result;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;
use trove_index::{SearchIndex, SearchOptions, Sort};
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
    let node = match trove_index::parse(query) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{}", caret(query, &e));
            return Err(e.into());
        }
    };
    let catalog = archive.catalog()?;
    let index = SearchIndex::open_or_create(&archive.root.join("index"))?;
    let (covered, total_items) = (index.covered_seq()?, catalog.max_seq()?);
    if covered < total_items {
        eprintln!(
            "trove: warning: the search index lags the catalog (an ingest is running or was \
             interrupted); results may be incomplete. `trove reindex` rebuilds it."
        );
    }
    let compiled = index.compile_with(&node, &crate::relations::CatalogResolver(&catalog))?;
    let timeout = Duration::from_millis(o.timeout_ms);
    if o.count {
        let n = index.count(&compiled, timeout)?;
        outln!("{n}");
        return Ok(ExitCode::SUCCESS);
    }
    let sort = match o.sort.as_str() {
        "date" => Sort::DateAsc,
        "-date" => Sort::DateDesc,
        _ => Sort::Relevance,
    };
    let opts = SearchOptions {
        offset: o.offset,
        limit: (o.limit > 0).then_some(o.limit),
        sort,
        facets: o.facets,
        timeout,
    };
    let res = index.search(&compiled, &opts)?;
    let snippets = index.snippets(&compiled)?;
    let mut hits = Vec::with_capacity(res.hits.len());
    for h in &res.hits {
        let it = catalog.find_item(&h.id)?;
        let prov = catalog.provenance(&it.raw_sha256)?;
        let body = trove_ingest::indexing::reparse(archive, &it, &prov)?
            .map(|p| p.record.body_text)
            .unwrap_or_default();
        let subject = it.subject.clone().unwrap_or_default();
        hits.push(json!({
            "id": it.id,
            "kind": it.kind,
            "date": it.date_rfc3339(),
            "from": it.from_addr,
            "from_name": it.from_name,
            "subject": it.subject,
            "snippet": snippets.make(&subject, &body),
            "score": h.score,
        }));
    }
    if json {
        let mut v = json!({"total": res.total, "offset": o.offset, "hits": hits});
        if let Some(f) = &res.facets {
            v["facets"] = serde_json::to_value(f)?;
        }
        outln!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{} results", res.total);
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
    if let Some(f) = &res.facets {
        for (name, counts) in f {
            let list: Vec<String> = counts
                .iter()
                .map(|c| format!("{} ({})", c.value, c.count))
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
