//! `trove verify` and `trove keys`: DKIM/ARC verdicts, the key store and key recovery.

use crate::commands::UsageError;
use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use trove_ingest::verification::{self, ReverifySummary};
use trove_model::{ItemId, Sha256Hash};
use trove_store::{Archive, BlobStore, ItemRow, WriterLock};
use trove_verify::keys::{self, KeyError};
use trove_verify::{Verdict, Verification, recover};

use trove_service::items::verification_json;

/// The progress bar, sized by `total` (called only when the bar is shown: counting the emails
/// of a large archive is a scan of its catalog).
fn spinner(quiet: bool, total: impl FnOnce() -> Result<u64>) -> Result<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(total()?.max(1));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Ok(bar)
}

pub fn verify(archive: &Archive, query: &[String], wait: bool, json: bool) -> Result<ExitCode> {
    let lock = archive.lock(wait)?;
    let items: Option<Vec<Sha256Hash>> = if query.is_empty() {
        None
    } else {
        let cat = archive.catalog()?;
        let rows = crate::workflow::matching_items(archive, &cat, &query.join(" "))?;
        // Only emails carry DKIM signatures; keeping them alone here also makes the bar's total
        // the number of results it will count.
        Some(
            rows.into_iter()
                .filter(|r| r.kind == "email")
                .map(|r| r.raw_sha256)
                .collect(),
        )
    };
    let bar = spinner(json, || match &items {
        Some(v) => Ok(v.len() as u64),
        None => Ok(archive.catalog()?.count_of_kind("email")?),
    })?;
    bar.set_message("verifying");
    let mut counts: std::collections::BTreeMap<Verdict, u64> = Default::default();
    // JSON lines go through one buffer: `outln!` per item (a formatting pass and a system call
    // each, stdout being line-buffered) was a tenth of `trove verify --json` over 1,693 emails.
    let mut lines = json.then(|| std::io::BufWriter::new(std::io::stdout().lock()));
    let summary =
        verification::reverify(archive, &lock, items.as_deref(), &mut |it, v, stored| {
            bar.inc(1);
            *counts.entry(v.verdict).or_default() += 1;
            let id = it.raw_sha256.item_id();
            if let Some(out) = lines.as_mut() {
                quit_on_closed_pipe(json_line(out, &id, v, stored));
            } else if v.verdict != Verdict::Unsigned {
                let signers: Vec<String> = v
                    .signatures
                    .iter()
                    .map(|s| format!("{}:{}", s.domain, s.verdict))
                    .collect();
                bar.suspend(|| outln!("{}  {:<15} {}", id, v.verdict.as_str(), signers.join(" ")));
            }
        })?;
    bar.finish_and_clear();
    if let Some(mut out) = lines {
        quit_on_closed_pipe(out.flush());
    } else {
        print_counts(&counts, &summary);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes one JSON line: the item id, then the fields of the result as the catalog stores it
/// (`stored`, serialised once for both). Building a `serde_json::Value` of each result for its
/// line was about a seventh of the storing thread's time, which `trove verify` waits for at the
/// end of a run.
fn json_line(
    out: &mut impl Write,
    id: &ItemId,
    v: &Verification,
    stored: &str,
) -> std::io::Result<()> {
    match stored.strip_prefix("{\"") {
        Some(fields) => {
            // Item ids are hex digits: nothing to escape.
            write!(out, "{{\"id\":\"{id}\",\"")?;
            out.write_all(fields.as_bytes())?;
        }
        None => serde_json::to_writer(&mut *out, &verification_json(id, v))?,
    }
    out.write_all(b"\n")
}

/// A closed pipe (`| head`) ends the output quietly, as `outln!` does.
fn quit_on_closed_pipe(r: std::io::Result<()>) {
    if let Err(e) = r
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

fn print_counts(counts: &std::collections::BTreeMap<Verdict, u64>, s: &ReverifySummary) {
    let parts: Vec<String> = counts.iter().map(|(v, n)| format!("{n} {v}")).collect();
    eprintln!(
        "verified {} emails: {}; {} verdicts changed",
        s.verified,
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        },
        s.changed
    );
}

/// What `keys import` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub added: u64,
    pub known: u64,
    pub rejected: Vec<Value>,
    pub reverified: u64,
    pub changed: u64,
}

/// Reads a key file into the store and re-verifies the items its keys sign.
pub fn import_keys(archive: &Archive, lock: &WriterLock, file: &Path) -> Result<ImportReport> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let (lines, errors) = keys::parse_key_file(&text);
    let mut report = ImportReport::default();
    for e in errors {
        report
            .rejected
            .push(json!({"line": e.line, "reason": e.reason}));
    }
    let source = std::fs::canonicalize(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string();
    let mut names = Vec::new();
    {
        let cat = archive.catalog_rw(lock)?;
        for l in lines {
            let bits = match keys::parse_record(&l.value) {
                Ok(r) => Some(r.bits),
                Err(e @ (KeyError::Malformed(_) | KeyError::Unsupported(_))) => {
                    report
                        .rejected
                        .push(json!({"line": l.line, "name": l.name, "reason": e.to_string()}));
                    continue;
                }
            };
            if cat.add_key(&l.name, &l.value, &source, bits)? {
                report.added += 1;
                names.push(l.name);
            } else {
                report.known += 1;
            }
        }
    }
    if !names.is_empty() {
        let affected = archive.catalog()?.items_signed_by(&names)?;
        let s = verification::reverify(archive, lock, Some(&affected), &mut |_, _, _| {})?;
        report.reverified = s.verified;
        report.changed = s.changed;
    }
    Ok(report)
}

pub fn keys_import(archive: &Archive, file: &Path, wait: bool, json: bool) -> Result<ExitCode> {
    let lock = archive.lock(wait)?;
    let r = import_keys(archive, &lock, file)?;
    if json {
        outln!("{}", json!(r));
    } else {
        outln!(
            "imported {} keys ({} already known); re-verified {} items, {} changed verdict",
            r.added,
            r.known,
            r.reverified,
            r.changed
        );
        for e in &r.rejected {
            eprintln!(
                "trove: {}:{}: {}",
                file.display(),
                e["line"],
                e["reason"].as_str().unwrap_or("")
            );
        }
    }
    Ok(if r.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn keys_list(archive: &Archive, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    for k in cat.keys()? {
        let (selector, domain) = k.name.split_once("._domainkey.").unwrap_or(("", &k.name));
        if json {
            outln!(
                "{}",
                json!({"name": k.name, "selector": selector, "domain": domain, "bits": k.bits,
                       "source": k.source, "added_at": k.added_at, "record": k.record})
            );
        } else {
            outln!(
                "{:<48} {:>5} bits  {}  (added {})",
                k.name,
                k.bits.map(|b| b.to_string()).unwrap_or("-".into()),
                k.source,
                k.added_at
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn keys_missing(archive: &Archive, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    for (name, n) in cat.missing_keys()? {
        if json {
            outln!("{}", json!({"name": name, "items": n}));
        } else {
            outln!("{name:<48} {n} items");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub struct RecoverArgs {
    pub domain: Option<String>,
    pub selector: Option<String>,
    pub max_pairs: usize,
    pub samples: usize,
    pub wait: bool,
}

/// Reads the raw bytes of an item.
fn raw_of(archive: &Archive, it: &ItemRow) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    archive.blobs.open(&it.raw_sha256)?.read_to_end(&mut raw)?;
    Ok(raw)
}

pub fn keys_recover(archive: &Archive, a: &RecoverArgs, json: bool) -> Result<ExitCode> {
    let lock = archive.lock(a.wait)?;
    let targets: Vec<(String, String)> = match (&a.domain, &a.selector) {
        (Some(d), Some(s)) => vec![(s.to_ascii_lowercase(), d.to_ascii_lowercase())],
        (None, None) => archive
            .catalog()?
            .missing_keys()?
            .into_iter()
            .filter(|(_, n)| *n >= 2)
            .filter_map(|(name, _)| {
                name.split_once("._domainkey.")
                    .map(|(s, d)| (s.to_string(), d.to_string()))
            })
            .collect(),
        _ => {
            return Err(UsageError("--domain and --selector go together".into()).into());
        }
    };
    let mut results = Vec::new();
    let mut any = false;
    for (selector, domain) in targets {
        let name = format!("{selector}._domainkey.{domain}");
        let cat = archive.catalog()?;
        let items = cat.items_signed_by(std::slice::from_ref(&name))?;
        let mut samples = Vec::new();
        for h in &items {
            if samples.len() >= a.samples {
                break;
            }
            let it = cat.find_item(&h.to_hex())?;
            if it.size > archive.settings.limits.max_in_memory_bytes {
                continue;
            }
            let raw = raw_of(archive, &it)?;
            samples.extend(recover::samples(
                &it.id.to_string(),
                &raw,
                &domain,
                &selector,
            ));
        }
        let bar = if json || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let b = ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(200));
            b
        };
        bar.set_message(format!("{name}: {} usable signatures", samples.len()));
        let found = if samples.len() < 2 {
            None
        } else {
            recover::recover(&samples, a.max_pairs, &|e| match e {
                recover::Event::Pair { i, j, total } => bar.set_message(format!(
                    "{name}: GCD of signatures {} and {} of {total} (about a minute for 2048 bits)",
                    i + 1,
                    j + 1
                )),
                recover::Event::Rejected { bits } => bar.suspend(|| {
                    if !json {
                        eprintln!(
                            "  {name}: a pair gave a {bits}-bit GCD, not a key; trying another"
                        )
                    }
                }),
            })
        };
        bar.finish_and_clear();
        let mut entry = json!({"name": name, "usable_signatures": samples.len()});
        match found {
            Some(k) => {
                let record = k.record().map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                archive
                    .catalog_rw(&lock)?
                    .add_key(&name, &record, "recovered", Some(k.bits))?;
                let s = verification::reverify(archive, &lock, Some(&items), &mut |_, _, _| {})?;
                entry["recovered"] = json!(true);
                entry["bits"] = json!(k.bits);
                entry["verified_samples"] = json!(k.verified);
                entry["pairs_tried"] = json!(k.pairs_tried);
                entry["reverified"] = json!(s.verified);
                entry["record"] = json!(record);
                any = true;
                if !json {
                    outln!(
                        "{name}: recovered a {}-bit key ({} of {} sample signatures verify); \
                         re-verified {} items",
                        k.bits,
                        k.verified,
                        samples.len(),
                        s.verified
                    );
                }
            }
            None => {
                entry["recovered"] = json!(false);
                if !json {
                    outln!(
                        "{name}: no key recovered from {} usable signatures",
                        samples.len()
                    );
                }
            }
        }
        results.push(entry);
    }
    if json {
        for r in &results {
            outln!("{r}");
        }
    }
    if results.is_empty() {
        bail!(
            "no selector to recover: every signing selector has a key, or signed fewer than two items"
        );
    }
    Ok(if any {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The DKIM part of `trove show`.
pub fn print_show(v: &Verification) {
    outln!("dkim        {}", v.verdict);
    for s in &v.signatures {
        let key = match (&s.key_source, s.key_bits) {
            (Some(src), Some(b)) => format!("key {src} ({b} bits)"),
            _ => "no key".into(),
        };
        outln!(
            "  {:<15} d={} s={} {}  {key}",
            s.verdict.as_str(),
            s.domain,
            s.selector,
            s.algorithm
        );
        outln!("  {:<15} vouches for: {}", "", s.signed_headers.join(" "));
        if let Some(e) = &s.expired_at {
            outln!("  {:<15} expired at {e}", "");
        }
        if let Some(r) = &s.reason
            && s.verdict != Verdict::PassExpired
        {
            outln!("  {:<15} {r}", "");
        }
    }
    if let Some(arc) = &v.arc {
        outln!(
            "  arc {:<11} {} set(s){}",
            arc.verdict,
            arc.sets.len(),
            arc.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    if !v.forensics.is_empty() {
        outln!("forensics");
        for f in &v.forensics {
            outln!("  {:<18} {}", f.code, f.detail);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use trove_verify::SignatureResult;
    use trove_verify::forensics::Flag;

    fn line(id: &ItemId, v: &Verification, stored: &str) -> Value {
        let mut out = Vec::new();
        json_line(&mut out, id, v, stored).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(out.ends_with(b"\n"));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_json_line_says_what_the_api_says() {
        let v = Verification {
            verdict: Verdict::HeadersAltered,
            signatures: vec![SignatureResult {
                domain: "gmail.com".into(),
                selector: "20120113".into(),
                algorithm: "rsa-sha256".into(),
                verdict: Verdict::HeadersAltered,
                key_source: Some("recovered".into()),
                key_bits: Some(2048),
                signed_headers: vec!["from".into(), "subject".into()],
                expired_at: None,
                unsigned_body_bytes: None,
                signed_at: Some("2012-06-01T10:00:00Z".into()),
                body_ok: Some(true),
                maths_ok: Some(false),
                reason: Some("a signed header \"changed\"".into()),
            }],
            arc: None,
            forensics: vec![Flag {
                code: "unsigned_header".into(),
                detail: "To: is not signed".into(),
            }],
        };
        let id = ItemId("0123456789abcdef01234567".into());
        let want = verification_json(&id, &v);
        assert_eq!(line(&id, &v, &verification::stored_form(&v)), want);
        // A stored form it cannot extend: the line is built from the result instead.
        assert_eq!(line(&id, &v, ""), want);
        assert_eq!(line(&id, &v, "{}"), want);
    }
}
