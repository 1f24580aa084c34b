//! Working with results: `tag`, `note`, `tags`, `saved`, `watch` and `export`.

use crate::commands::UsageError;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use trove_index::{SearchIndex, SearchOptions, Sort};
use trove_store::{Archive, BlobStore, Catalog, ItemRow};

/// Who is annotating: `--user`, else `TROVE_USER` (clap), else the OS user.
pub fn user_name(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub use trove_service::search::matching_items;

/// An item id (8+ hex digits that name an item), or else a query.
fn target_items(archive: &Archive, cat: &Catalog, target: &str) -> Result<Vec<ItemRow>> {
    let t = target.trim();
    if (8..=64).contains(&t.len())
        && t.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(it) = cat.find_item(t)
    {
        return Ok(vec![it]);
    }
    matching_items(archive, cat, t)
}

pub fn tag(
    archive: &Archive,
    target: &str,
    changes: &[String],
    user: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let (mut add, mut remove) = (vec![], vec![]);
    // Options written after the tags land among them (tags may start with '-'): take them out.
    let mut user = user;
    let mut json = json;
    let mut list: Vec<&String> = vec![];
    let mut it = changes.iter();
    while let Some(c) = it.next() {
        if c == "--json" {
            json = true;
        } else if c == "--user" {
            user = it.next().cloned();
        } else if let Some(u) = c.strip_prefix("--user=") {
            user = Some(u.to_string());
        } else {
            list.push(c);
        }
    }
    for c in list {
        let (list, name) = match c.split_at_checked(1) {
            Some(("+", n)) => (&mut add, n),
            Some(("-", n)) => (&mut remove, n),
            _ => {
                return Err(
                    UsageError(format!("'{c}': write +tag to add or -tag to remove")).into(),
                );
            }
        };
        match trove_store::annotations::normalize_tag(name) {
            Some(t) => list.push(t),
            None => return Err(UsageError(format!("'{c}' is not a tag")).into()),
        }
    }
    let items = {
        let cat = archive.catalog()?;
        target_items(archive, &cat, target)?
    };
    let mut cat = archive.catalog_annotations()?;
    let hashes: Vec<_> = items.iter().map(|i| i.raw_sha256).collect();
    let (added, removed) = cat.retag(&hashes, &add, &remove, &user_name(user))?;
    if json {
        outln!(
            "{}",
            json!({"items": items.len(), "added": added, "removed": removed})
        );
    } else {
        outln!(
            "{} items: {added} tags added, {removed} removed",
            items.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn note(archive: &Archive, id: &str, text: &str, user: Option<String>) -> Result<ExitCode> {
    let it = archive.catalog()?.find_item(id)?;
    if text.trim().is_empty() {
        return Err(UsageError("a note needs some text".into()).into());
    }
    archive
        .catalog_annotations()?
        .add_note(&it.raw_sha256, text, &user_name(user))?;
    Ok(ExitCode::SUCCESS)
}

pub fn tags(archive: &Archive, json: bool) -> Result<ExitCode> {
    let counts = archive.catalog()?.tag_counts()?;
    if json {
        outln!("{}", serde_json::to_string(&counts)?);
    } else {
        for c in counts {
            outln!("{:>7}  {}", c.count, c.tag);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn saved_add(
    archive: &Archive,
    name: &str,
    query: &str,
    user: Option<String>,
) -> Result<ExitCode> {
    // Refuse a query that would fail when run.
    trove_index::parse(query)?;
    archive
        .catalog_annotations()?
        .save_search(name, query, &user_name(user))?;
    Ok(ExitCode::SUCCESS)
}

pub fn saved_list(archive: &Archive, json: bool) -> Result<ExitCode> {
    let list = archive.catalog()?.saved_searches()?;
    if json {
        outln!("{}", serde_json::to_string(&list)?);
    } else {
        for s in list {
            outln!(
                "{:<24} {}   (last run {})",
                s.name,
                s.query,
                s.last_run_at.as_deref().unwrap_or("never")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn saved_run(archive: &Archive, name: &str, new_only: bool, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let s = cat.saved_search(name)?;
    let since = if new_only {
        s.last_run_seq.unwrap_or(0)
    } else {
        0
    };
    let items: Vec<ItemRow> = matching_items(archive, &cat, &s.query)?
        .into_iter()
        .filter(|it| it.seq > since)
        .collect();
    for it in &items {
        if json {
            outln!(
                "{}",
                json!({"id": it.id, "kind": it.kind, "date": it.date_rfc3339(),
                       "from": it.from_addr, "subject": it.subject})
            );
        } else {
            outln!(
                "{}  {:<20}  {:<30.30}  {}",
                it.id,
                it.date_rfc3339().unwrap_or_default(),
                it.from_addr.clone().unwrap_or_default(),
                it.subject.clone().unwrap_or_default()
            );
        }
    }
    if !json {
        eprintln!(
            "{} {}items for '{}' ({})",
            items.len(),
            if new_only { "new " } else { "" },
            s.name,
            s.query
        );
    }
    archive
        .catalog_annotations()?
        .mark_saved_run(name, cat.max_seq()?)?;
    Ok(ExitCode::SUCCESS)
}

/// Digits of a phone number as written (`+1 (202) 555-0100` → `12025550100`), if it is one.
pub fn phone_digits(term: &str) -> Option<String> {
    let t = term.trim();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let phone_chars = t
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    (phone_chars && (7..=15).contains(&digits.len())).then_some(digits)
}

/// The query a watch-list term runs: a phrase, or for a phone number every common way of writing
/// it (digits run together, in groups, with or without the country code).
pub fn watch_query(term: &str) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', " "));
    match phone_digits(term) {
        Some(d) => {
            let mut forms = vec![d.clone()];
            let national = if d.len() == 11 && d.starts_with('1') {
                d[1..].to_string()
            } else {
                d.clone()
            };
            forms.push(national.clone());
            if national.len() == 10 {
                // North American numbers are often written with their +1 run together.
                forms.push(format!("1{national}"));
                forms.push(quote(&format!(
                    "{} {} {}",
                    &national[..3],
                    &national[3..6],
                    &national[6..]
                )));
            }
            let mut seen = std::collections::HashSet::new();
            forms.retain(|f| seen.insert(f.clone()));
            format!("({})", forms.join(" OR "))
        }
        None => quote(term.trim()),
    }
}

fn read_terms(file: &Path, column: Option<&str>) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading watch list {}", file.display()))?;
    let is_csv = column.is_some()
        || file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        return Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect());
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(column.is_some())
        .from_reader(text.as_bytes());
    let col = match column {
        Some(c) => {
            let headers = rdr.headers().map_err(|e| csv_error(file, &e))?.clone();
            headers.iter().position(|h| h.trim() == c).ok_or_else(|| {
                UsageError(format!(
                    "{}: no column '{c}' (columns: {})",
                    file.display(),
                    headers.iter().collect::<Vec<_>>().join(", ")
                ))
            })?
        }
        None => 0,
    };
    let mut out = vec![];
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_error(file, &e))?;
        if let Some(v) = rec.get(col).map(str::trim).filter(|v| !v.is_empty()) {
            out.push(v.to_string());
        }
    }
    Ok(out)
}

fn csv_error(file: &Path, e: &csv::Error) -> anyhow::Error {
    let at = e
        .position()
        .map(|p| format!("line {}, record {}", p.line(), p.record()))
        .unwrap_or_else(|| "?".into());
    UsageError(format!("{}: bad CSV at {at}: {e}", file.display())).into()
}

pub fn watch(
    archive: &Archive,
    file: &Path,
    column: Option<&str>,
    tag_hits: bool,
    user: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let terms = read_terms(file, column)?;
    let cat = archive.catalog()?;
    let index = SearchIndex::open_or_create(&archive.root.join("index"))?;
    let mut annot = if tag_hits {
        Some(archive.catalog_annotations()?)
    } else {
        None
    };
    let user = user_name(user);
    for term in &terms {
        let query = watch_query(term);
        let node = trove_index::parse(&query)?;
        let compiled = index.compile_with(&node, &crate::relations::CatalogResolver(&cat))?;
        let res = index.search(
            &compiled,
            &SearchOptions {
                offset: 0,
                limit: None,
                sort: Sort::DateAsc,
                facets: true,
                timeout: Duration::from_secs(60),
            },
        )?;
        let first = res.hits.first().map(|h| cat.find_item(&h.id)).transpose()?;
        let last = res.hits.last().map(|h| cat.find_item(&h.id)).transpose()?;
        let senders: Vec<Value> = res
            .facets
            .as_ref()
            .and_then(|f| f.get("sender"))
            .map(|v| {
                v.iter()
                    .take(5)
                    .map(|c| json!({"sender": c.value, "count": c.count}))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(a) = annot.as_mut()
            && !res.hits.is_empty()
        {
            let tag = format!(
                "watch:{}",
                term.to_lowercase()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join("-")
            );
            let hashes: Vec<_> = res
                .hits
                .iter()
                .map(|h| cat.find_item(&h.id).map(|i| i.raw_sha256))
                .collect::<trove_store::Result<_>>()?;
            a.retag(&hashes, &[tag], &[], &user)?;
        }
        let date = |it: &Option<ItemRow>| it.as_ref().and_then(|i| i.date_rfc3339());
        if json {
            outln!(
                "{}",
                json!({"term": term, "query": query, "count": res.total,
                       "first": date(&first), "last": date(&last), "top_senders": senders})
            );
        } else {
            let top: Vec<String> = senders
                .iter()
                .map(|s| format!("{} ({})", s["sender"].as_str().unwrap_or(""), s["count"]))
                .collect();
            outln!(
                "{:<30} {:>6} hits  {} … {}  {}",
                term,
                res.total,
                date(&first).unwrap_or_else(|| "-".into()),
                date(&last).unwrap_or_else(|| "-".into()),
                top.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub struct ExportArgs {
    pub query: String,
    pub format: String,
    pub output: std::path::PathBuf,
    pub force: bool,
    pub number: Option<String>,
}

/// asctime for mbox postmarks: `Thu Jan  1 00:00:00 1970`.
fn asctime(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = trove_model::civil_from_days(days);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][m as usize - 1];
    format!(
        "{wd} {mon} {d:>2} {:02}:{:02}:{:02} {y}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Writes one message in mboxrd form: a postmark, the raw bytes with `>*From ` body lines quoted
/// once more, and a blank separator line. Returns false when the message does not end with a
/// newline (mbox cannot carry that byte for byte; the reader gives it back with one added).
pub fn write_mboxrd(out: &mut dyn Write, raw: &[u8], date: Option<i64>) -> std::io::Result<bool> {
    writeln!(out, "From trove-export {}", asctime(date.unwrap_or(0)))?;
    let mut in_headers = true;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if in_headers && (line == b"\n" || line == b"\r\n") {
            in_headers = false;
        }
        let depth = line.iter().take_while(|&&b| b == b'>').count();
        if !in_headers && line[depth..].starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
    }
    let ends_with_newline = raw.ends_with(b"\n");
    if !ends_with_newline {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")?;
    Ok(ends_with_newline)
}

fn csv_row(cat: &Catalog, it: &ItemRow, number: Option<&str>) -> Result<Vec<String>> {
    let addrs = cat.addresses(it.seq)?;
    let to: Vec<String> = addrs
        .iter()
        .filter(|(r, _)| {
            matches!(
                r,
                trove_model::AddressRole::To | trove_model::AddressRole::Cc
            )
        })
        .filter_map(|(_, m)| m.address.clone())
        .collect();
    let source = cat
        .provenance(&it.raw_sha256)?
        .into_iter()
        .next()
        .map(|p| p.path)
        .unwrap_or_default();
    let mut row = vec![];
    if let Some(n) = number {
        row.push(n.to_string());
    }
    row.extend([
        it.id.to_string(),
        it.date_rfc3339().unwrap_or_default(),
        it.from_addr.clone().unwrap_or_default(),
        to.join("; "),
        it.subject.clone().unwrap_or_default(),
        it.kind.clone(),
        // Empty for items that are not emails (or were never verified).
        cat.verification(&it.raw_sha256)?
            .map(|v| v.verdict)
            .unwrap_or_default(),
        cat.tags_of(&it.raw_sha256)?.join(" "),
        source,
    ]);
    Ok(row)
}

pub fn export(archive: &Archive, a: &ExportArgs, json: bool) -> Result<ExitCode> {
    let out = &a.output;
    let zip_out = a.format == "eml" && out.extension().is_some_and(|e| e == "zip");
    if out.exists() {
        let empty_dir = out.is_dir() && std::fs::read_dir(out)?.next().is_none();
        if !empty_dir && !a.force {
            bail!(
                "{} exists; choose another path or pass --force to replace it",
                out.display()
            );
        }
        if out.is_dir() {
            std::fs::remove_dir_all(out)?;
        } else {
            std::fs::remove_file(out)?;
        }
    }
    let cat = archive.catalog()?;
    let items = matching_items(archive, &cat, &a.query)?;
    let numbers: Vec<Option<String>> = (0..items.len())
        .map(|i| a.number.as_ref().map(|p| format!("{p}{:06}", i + 1)))
        .collect();
    let mut manifest = String::new();
    for (it, n) in items.iter().zip(&numbers) {
        manifest.push_str(&format!("{}  {}", it.raw_sha256, it.id));
        if let Some(n) = n {
            manifest.push_str(&format!("  {n}"));
        }
        manifest.push('\n');
    }
    let mut inexact = 0usize;
    let read_raw = |it: &ItemRow| -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(it.size as usize);
        std::io::copy(&mut archive.blobs.open(&it.raw_sha256)?, &mut v)?;
        Ok(v)
    };
    if zip_out {
        let mut z = zip::ZipWriter::new(std::fs::File::create(out)?);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for it in items.iter().filter(|i| i.kind == "email") {
            z.start_file(format!("{}.eml", it.id), opts)?;
            z.write_all(&read_raw(it)?)?;
        }
        z.start_file("manifest.sha256", opts)?;
        z.write_all(manifest.as_bytes())?;
        z.finish()?;
    } else {
        std::fs::create_dir_all(out)?;
        match a.format.as_str() {
            "eml" => {
                for it in items.iter().filter(|i| i.kind == "email") {
                    std::fs::write(out.join(format!("{}.eml", it.id)), read_raw(it)?)?;
                }
            }
            "mbox" => {
                let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("items.mbox"))?);
                for it in items.iter().filter(|i| i.kind == "email") {
                    if !write_mboxrd(&mut f, &read_raw(it)?, it.date_utc)? {
                        inexact += 1;
                    }
                }
                f.flush()?;
            }
            "jsonl" => {
                let mut f =
                    std::io::BufWriter::new(std::fs::File::create(out.join("items.jsonl"))?);
                for (it, n) in items.iter().zip(&numbers) {
                    let mut v = trove_service::items::item_json(&cat, archive, it)?;
                    v["tags"] = json!(cat.tags_of(&it.raw_sha256)?);
                    v["notes"] = serde_json::to_value(cat.notes_of(&it.raw_sha256)?)?;
                    v["production_number"] = json!(n);
                    writeln!(f, "{v}")?;
                }
                f.flush()?;
            }
            "csv" => {
                let mut w = csv::Writer::from_path(out.join("items.csv"))?;
                let mut header = vec![];
                if a.number.is_some() {
                    header.push("number");
                }
                header.extend([
                    "id", "date", "from", "to", "subject", "kind", "dkim", "tags", "source",
                ]);
                w.write_record(&header)?;
                for (it, n) in items.iter().zip(&numbers) {
                    w.write_record(csv_row(&cat, it, n.as_deref())?)?;
                }
                w.flush()?;
            }
            other => bail!("unknown export format {other}"),
        }
        std::fs::write(out.join("manifest.sha256"), &manifest)?;
    }
    let skipped_kinds = if matches!(a.format.as_str(), "mbox" | "eml") {
        items.iter().filter(|i| i.kind != "email").count()
    } else {
        0
    };
    let summary = json!({
        "items": items.len(),
        "format": a.format,
        "output": out.display().to_string(),
        "not_email_left_out": skipped_kinds,
        "mbox_not_byte_exact": inexact,
    });
    if json {
        outln!("{summary}");
    } else {
        outln!("exported {} items to {}", items.len(), out.display());
        if skipped_kinds > 0 {
            outln!(
                "  {skipped_kinds} DMs and posts are not emails and were left out (use --format jsonl)"
            );
        }
        if inexact > 0 {
            outln!(
                "  {inexact} messages do not end with a newline; mbox gives them back with one \
                 added (use --format eml for their exact bytes)"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_match_across_formatting() {
        assert_eq!(
            phone_digits("+1 (202) 555-0100").as_deref(),
            Some("12025550100")
        );
        assert_eq!(phone_digits("202.555.0100").as_deref(), Some("2025550100"));
        assert_eq!(phone_digits("John Podesta"), None);
        assert_eq!(phone_digits("2016"), None);
        let q = watch_query("+1 (202) 555-0100");
        assert_eq!(q, "(12025550100 OR 2025550100 OR \"202 555 0100\")");
        assert_eq!(watch_query("John \"Podesta"), "\"John  Podesta\"");
    }

    #[test]
    fn mboxrd_quotes_body_from_lines_once_more() {
        let mut out = vec![];
        let exact = write_mboxrd(
            &mut out,
            b"From: a@b\nSubject: x\n\nhi\nFrom here\n>From there\n",
            Some(0),
        )
        .unwrap();
        assert!(exact);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From trove-export Thu Jan  1 00:00:00 1970\nFrom: a@b\nSubject: x\n\nhi\n>From here\n>>From there\n\n"
        );
        let mut out = vec![];
        assert!(!write_mboxrd(&mut out, b"From: a@b\n\nno newline", None).unwrap());
    }
}
