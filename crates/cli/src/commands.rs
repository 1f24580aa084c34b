//! One function per subcommand. Each prints human text by default and JSON with `--json`.

use crate::{Cli, Command};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use trove_ingest::{IngestOptions, IngestProgress, Summary};
use trove_model::{AddressRole, Sha256Hash};
use trove_store::{Archive, BlobStore};

/// An input path that does not exist (exit code 66).
#[derive(Debug)]
pub struct InputMissing(pub PathBuf);

impl std::fmt::Display for InputMissing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input {} does not exist", self.0.display())
    }
}
impl std::error::Error for InputMissing {}

pub use trove_service::UsageError;

/// Whether an error comes from a full disk (blob store, catalog or index; each reports it its
/// own way).
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
            || {
                let text = c.to_string();
                text.contains("No space left on device")
                    || text.contains("database or disk is full")
            }
    })
}

pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    if is_disk_full(e) {
        return 74;
    }
    for cause in e.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return 2;
        }
        if let Some(s) = cause.downcast_ref::<trove_store::Error>() {
            return match s {
                trove_store::Error::NotFound(_) => 3,
                trove_store::Error::Locked(_) => 75,
                trove_store::Error::MissingBlob(_) => 65,
                _ => 1,
            };
        }
        if cause.downcast_ref::<InputMissing>().is_some() {
            return 66;
        }
        if cause.downcast_ref::<trove_index::QueryError>().is_some() {
            return 2;
        }
    }
    1
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let json = cli.json;
    match cli.command {
        Command::Init { dir, name } => init(&dir.unwrap_or(cli.archive), name, json),
        Command::Ingest {
            paths,
            wait,
            rescan,
            quiet,
            ocr,
        } => {
            let archive = Archive::open(&cli.archive)?;
            let ocr = ocr.then_some(true);
            let summary = ingest(&archive, paths, wait, rescan, quiet || json, ocr)?;
            print_summary(&summary, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats => stats(&Archive::open(&cli.archive)?, json),
        Command::Ls { limit, provenance } => {
            ls(&Archive::open(&cli.archive)?, limit, provenance, json)
        }
        Command::Show { id } => show(&Archive::open(&cli.archive)?, &id, json),
        Command::Raw { id } => raw(&Archive::open(&cli.archive)?, &id),
        Command::Quarantine => quarantine(&Archive::open(&cli.archive)?, json),
        Command::Demo {
            dir,
            bind,
            no_serve,
        } => {
            let code = crate::demo::run(&dir, json)?;
            if no_serve {
                return Ok(code);
            }
            serve(&dir, bind, false, json)
        }
        Command::Serve { bind, public } => serve(&cli.archive, bind, public, json),
        Command::Search {
            query,
            count,
            sort,
            offset,
            limit,
            facets,
            timeout_ms,
        } => {
            let archive = Archive::open(&cli.archive)?;
            let opts = crate::search::Options {
                count,
                sort,
                offset,
                limit,
                facets,
                timeout_ms: timeout_ms.unwrap_or(archive.settings.limits.query_timeout_ms),
            };
            crate::search::run(&archive, &query.join(" "), &opts, json)
        }
        Command::Actors { action } => {
            let archive = Archive::open(&cli.archive)?;
            match action {
                None => crate::relations::list_actors(&archive, json),
                Some(crate::ActorsAction::Import { file, wait }) => {
                    crate::relations::import_actors(&archive, &file, wait, json)
                }
                Some(crate::ActorsAction::Merge { a, b, name, wait }) => {
                    crate::relations::merge_actors(&archive, &a, &b, name, wait, json)
                }
            }
        }
        Command::Pubkey => crate::proofs::pubkey(&Archive::open(&cli.archive)?, json),
        Command::Checkpoint { wait } => {
            crate::proofs::checkpoint(&Archive::open(&cli.archive)?, wait, json)
        }
        Command::Prove { id } => crate::proofs::prove(&Archive::open(&cli.archive)?, &id, json),
        Command::Consistency { old, new } => {
            crate::proofs::consistency(&Archive::open(&cli.archive)?, old, new, json)
        }
        Command::Excerpt {
            query,
            conversation,
            thread,
            redact,
            output,
        } => crate::proofs::excerpt(
            &Archive::open(&cli.archive)?,
            &crate::proofs::ExcerptArgs {
                query,
                conversation,
                thread,
                redact,
                output,
            },
            json,
        ),
        Command::VerifyExcerpt { file, key } => crate::proofs::verify_excerpt(&file, &key, json),
        Command::Fsck => fsck(&Archive::open(&cli.archive)?, json),
        Command::Verify { query, wait } => {
            crate::verify::verify(&Archive::open(&cli.archive)?, &query, wait, json)
        }
        Command::Keys { action } => {
            let archive = Archive::open(&cli.archive)?;
            match action {
                crate::KeysAction::Import { file, wait } => {
                    crate::verify::keys_import(&archive, &file, wait, json)
                }
                crate::KeysAction::List => crate::verify::keys_list(&archive, json),
                crate::KeysAction::Missing => crate::verify::keys_missing(&archive, json),
                crate::KeysAction::Recover {
                    domain,
                    selector,
                    max_pairs,
                    samples,
                    wait,
                } => crate::verify::keys_recover(
                    &archive,
                    &crate::verify::RecoverArgs {
                        domain,
                        selector,
                        max_pairs,
                        samples,
                        wait,
                    },
                    json,
                ),
            }
        }
        Command::Actor { name } => {
            crate::relations::show_actor(&Archive::open(&cli.archive)?, &name, json)
        }
        Command::Thread { id } => {
            crate::relations::thread(&Archive::open(&cli.archive)?, &id, json)
        }
        Command::Timeline {
            actors,
            groups,
            after,
            before,
            kinds,
            csv,
        } => {
            let args = crate::echoes::TimelineArgs {
                actors,
                groups,
                after,
                before,
                kinds,
                csv,
            };
            crate::echoes::timeline(&Archive::open(&cli.archive)?, &args, json)
        }
        Command::Echoes {
            window,
            from,
            to,
            limit,
        } => {
            let args = crate::echoes::EchoArgs {
                window,
                from,
                to,
                limit,
            };
            crate::echoes::echoes(&Archive::open(&cli.archive)?, &args, json)
        }
        Command::Links => crate::echoes::links(&Archive::open(&cli.archive)?, json),
        Command::Tag {
            target,
            changes,
            user,
        } => crate::workflow::tag(&Archive::open(&cli.archive)?, &target, &changes, user, json),
        Command::Note { id, text, user } => {
            crate::workflow::note(&Archive::open(&cli.archive)?, &id, &text, user)
        }
        Command::Tags => crate::workflow::tags(&Archive::open(&cli.archive)?, json),
        Command::Saved { action } => {
            let archive = Archive::open(&cli.archive)?;
            match action {
                crate::SavedAction::Add { name, query, user } => {
                    crate::workflow::saved_add(&archive, &name, &query.join(" "), user)
                }
                crate::SavedAction::List => crate::workflow::saved_list(&archive, json),
                crate::SavedAction::Run { name, new } => {
                    crate::workflow::saved_run(&archive, &name, new, json)
                }
            }
        }
        Command::Watch {
            file,
            column,
            tag,
            user,
        } => crate::workflow::watch(
            &Archive::open(&cli.archive)?,
            &file,
            column.as_deref(),
            tag,
            user,
            json,
        ),
        Command::Export {
            query,
            format,
            output,
            force,
            number,
        } => {
            let args = crate::workflow::ExportArgs {
                query: query.join(" "),
                format,
                output,
                force,
                number,
            };
            crate::workflow::export(&Archive::open(&cli.archive)?, &args, json)
        }
        Command::Conversations => {
            crate::relations::conversations(&Archive::open(&cli.archive)?, json)
        }
        Command::Reindex { wait } => {
            let archive = Archive::open(&cli.archive)?;
            let lock = archive.lock(wait)?;
            let started = std::time::Instant::now();
            let n = trove_ingest::indexing::reindex(&archive, &lock)?;
            let secs = started.elapsed().as_secs_f64();
            if json {
                outln!("{}", json!({"indexed": n, "seconds": secs}));
            } else {
                outln!("reindexed {n} items in {secs:.1}s");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Serves an archive until Ctrl-C or SIGTERM; prints the URL once listening.
fn serve(dir: &Path, bind: std::net::SocketAddr, public: bool, json: bool) -> Result<ExitCode> {
    let config = trove_web::Config {
        archive: dir.to_path_buf(),
        bind,
        public,
        limits: {
            let l = &Archive::open(dir)?.settings.limits;
            trove_web::Limits {
                max_query_chars: l.max_query_chars as usize,
                query_timeout: std::time::Duration::from_millis(l.query_timeout_ms),
                ..trove_web::Limits::default()
            }
        },
    };
    trove_web::serve_blocking(config, |addr| {
        let url = format!("http://{addr}/");
        if json {
            outln!("{}", json!({"listening": url, "public": public}));
        } else {
            outln!(
                "Serving {} at {url}{}  (Ctrl-C stops)",
                dir.display(),
                if public {
                    " in public, read-only mode"
                } else {
                    ""
                }
            );
        }
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}

fn init(dir: &Path, name: Option<String>, json: bool) -> Result<ExitCode> {
    let name = name.unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "trove".into())
    });
    let archive = Archive::init(dir, &name)?;
    // The checkpoint key is made now, so its verifier can be published before any ingest.
    trove_ingest::ledger::signer(&archive)?;
    if json {
        outln!(
            "{}",
            json!({"archive": dir.display().to_string(), "name": name})
        );
    } else {
        outln!("created archive {} ({name})", dir.display());
        outln!("next: trove --archive {} ingest PATH...", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an ingest with a progress bar on a terminal.
pub fn ingest(
    archive: &Archive,
    paths: Vec<PathBuf>,
    wait: bool,
    rescan: bool,
    quiet: bool,
    ocr: Option<bool>,
) -> Result<Summary> {
    for p in &paths {
        if std::fs::symlink_metadata(p).is_err() {
            return Err(InputMissing(p.clone()).into());
        }
    }
    let lock = archive.lock(wait)?;
    let progress = IngestProgress::default();
    let show_bar = !quiet && std::io::stderr().is_terminal();
    let stop = Arc::new(AtomicBool::new(false));
    let summary = std::thread::scope(|s| {
        if show_bar {
            let total = trove_ingest::input_size(&paths);
            let walk = progress.walk.clone();
            let stop = stop.clone();
            let progress = &progress;
            s.spawn(move || {
                let bar = ProgressBar::new(total.max(1));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} \
                         {binary_bytes_per_sec} ETA {eta}  {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                while !stop.load(Ordering::Relaxed) {
                    bar.set_position(walk.bytes_read.load(Ordering::Relaxed));
                    let n = progress.units_done.load(Ordering::Relaxed);
                    let secs = bar.elapsed().as_secs_f64().max(1e-3);
                    bar.set_message(format!("{n} messages, {:.0} msg/s", n as f64 / secs));
                    std::thread::sleep(Duration::from_millis(150));
                }
                bar.finish_and_clear();
            });
        }
        let r = trove_ingest::ingest(
            archive,
            &lock,
            &IngestOptions {
                inputs: paths,
                rescan,
                ocr,
            },
            &progress,
        );
        stop.store(true, Ordering::Relaxed);
        r
    })?;
    Ok(summary)
}

fn print_summary(s: &Summary, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string(s)?);
        return Ok(());
    }
    outln!(
        "read {} files ({:.1} MB) in {:.1}s: {:.0} messages/s",
        s.files,
        s.bytes_read as f64 / 1e6,
        s.seconds,
        s.messages_per_second
    );
    outln!("  new items     {}", s.items_new);
    outln!(
        "  duplicates    {}  (same bytes found in another place)",
        s.duplicates
    );
    if s.unchanged > 0 || s.unchanged_files > 0 {
        outln!(
            "  unchanged     {} messages, {} files  (already in the archive)",
            s.unchanged,
            s.unchanged_files
        );
    }
    outln!(
        "  quarantined   {}  (stored, not read as messages)",
        s.quarantined
    );
    outln!("  skipped       {}  (not messages)", s.skipped);
    if s.evidence > 0 {
        outln!(
            "  evidence      {}  (identity records, e.g. X account.js)",
            s.evidence
        );
    }
    if s.ocr.enabled && !s.ocr.available {
        outln!(
            "  ocr           on, but tesseract is not installed: images and scanned PDFs were not \
             read (Debian: apt-get install tesseract-ocr)"
        );
    } else if s.ocr.enabled {
        outln!(
            "  ocr           {} images or scanned PDFs read, {} failed",
            s.ocr.read,
            s.ocr.failed
        );
    } else {
        outln!("  ocr           off  (--ocr reads images and scanned PDFs)");
    }
    let r = &s.relations;
    outln!(
        "  archive now   {} threads, {} conversations, {} actors",
        r.threads,
        r.conversations,
        r.actors
    );
    for n in &s.notes {
        outln!("note: {}: {}", n.path, n.reason);
    }
    if !s.problems.is_empty() {
        outln!("problems (all of them: trove quarantine):");
        for p in s.problems.iter().take(20) {
            let off = p.offset.map(|o| format!(" @{o}")).unwrap_or_default();
            outln!("  {} {}{}: {}", p.state, p.path, off, p.reason);
        }
        if s.problems.len() > 20 {
            outln!("  … and {} more", s.problems.len() - 20);
        }
    }
    Ok(())
}

fn stats(archive: &Archive, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let s = cat.stats()?;
    let verdicts = cat.verdict_counts()?;
    let keys = cat.keys()?.len();
    if json {
        let mut v = serde_json::to_value(&s)?;
        v["dkim"] = json!(
            verdicts
                .iter()
                .map(|(k, n)| (k.clone(), json!(n)))
                .collect::<serde_json::Map<String, Value>>()
        );
        v["dkim_keys"] = json!(keys);
        v["archive"] = json!(archive.root.display().to_string());
        v["name"] = json!(archive.settings.name);
        outln!("{v}");
    } else {
        outln!(
            "archive      {} ({})",
            archive.root.display(),
            archive.settings.name
        );
        outln!("items        {}", s.items);
        for (k, n) in &s.by_kind {
            outln!("  {k:<10} {n}");
        }
        outln!("quarantined  {}", s.quarantined);
        outln!("skipped      {}", s.skipped);
        outln!("attachments  {}", s.attachments);
        outln!("raw size     {:.1} MB", s.raw_bytes as f64 / 1e6);
        if let (Some(a), Some(b)) = (&s.first_date, &s.last_date) {
            outln!("dates        {a} … {b}");
        }
        outln!("ingest runs  {}", s.runs);
        if !verdicts.is_empty() {
            let parts: Vec<String> = verdicts.iter().map(|(v, n)| format!("{n} {v}")).collect();
            outln!("dkim         {} ({keys} keys)", parts.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fsck(archive: &Archive, json: bool) -> Result<ExitCode> {
    let r = trove_ingest::fsck::fsck(archive)?;
    if json {
        outln!("{}", serde_json::to_string(&r)?);
    } else {
        for p in &r.problems {
            outln!(
                "{} {}: expected {}, found {}",
                p.kind,
                p.subject,
                p.expected,
                p.found
            );
        }
        if r.pending > 0 {
            outln!(
                "{} items committed by an interrupted ingest are not in the log yet; the next \
                 `trove ingest` or `trove checkpoint` appends them",
                r.pending
            );
        }
        outln!(
            "checked {} blobs, {} items, {} log leaves, {} checkpoints: {}",
            r.blobs,
            r.items,
            r.leaves,
            r.checkpoints,
            if r.ok {
                "all consistent".to_string()
            } else {
                format!("{} problems", r.problems.len())
            }
        );
    }
    Ok(if r.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(65)
    })
}

fn ls(archive: &Archive, limit: Option<usize>, with_prov: bool, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut n = 0usize;
    let res = cat.for_each_item(|it| {
        if limit.is_some_and(|l| n >= l) {
            return Ok(());
        }
        n += 1;
        let line = if json {
            let mut v = json!({
                "id": it.id,
                "kind": it.kind,
                "native_id": it.native_id,
                "date": it.date_rfc3339(),
                "raw_sha256": it.raw_sha256.to_hex(),
                "from": it.from_addr,
                "subject": it.subject,
                "size": it.size,
                "thread": it.thread,
                "conversation": it.conversation,
                "conv_seq": it.conv_seq,
                "findings": it.findings,
            });
            if with_prov {
                v["provenance"] =
                    serde_json::to_value(cat.provenance(&it.raw_sha256)?).unwrap_or_default();
            }
            v.to_string()
        } else {
            format!(
                "{}  {:<20}  {:<30.30}  {}",
                it.id,
                it.date_rfc3339().unwrap_or_else(|| "(no date)".into()),
                it.from_addr.clone().unwrap_or_default(),
                it.subject.clone().unwrap_or_default()
            )
        };
        // A closed pipe (e.g. `| head`) ends the listing quietly.
        writeln!(out, "{line}").map_err(|e| trove_store::Error::io(Path::new("stdout"), e))
    });
    match res {
        Err(trove_store::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
        Ok(()) => {
            let _ = out.flush();
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn show(archive: &Archive, id: &str, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let it = cat.find_item(id)?;
    let v = trove_service::items::item_json(&cat, archive, &it)?;
    if json {
        outln!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    outln!("id          {}", s("id"));
    outln!("kind        {}", s("kind"));
    let date = match (&it.date_rfc3339(), &it.date_raw) {
        (Some(d), Some(r)) => format!("{d}  (as written: {r})"),
        (None, Some(r)) => format!("(unparseable: {r})"),
        (Some(d), None) => d.clone(),
        (None, None) => "(none)".into(),
    };
    outln!("date        {date}");
    let addrs = cat.addresses(it.seq)?;
    for role in AddressRole::ALL {
        let list: Vec<String> = addrs
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, m)| m.display())
            .collect();
        if !list.is_empty() {
            outln!("{:<11} {}", role.as_str(), list.join(", "));
        }
    }
    if it.kind == "email" || it.subject.is_some() {
        outln!("subject     {}", s("subject"));
    }
    if let Some(m) = &it.native_id {
        outln!("native id   {m}");
    }
    for (role, people) in v["people"].as_object().into_iter().flatten() {
        for p in people.as_array().into_iter().flatten() {
            if let Some(actor) = p["actor"].as_str() {
                outln!(
                    "{:<11} {actor}  ({})",
                    format!("{role} actor"),
                    p["identity"].as_str().unwrap_or("")
                );
            }
        }
    }
    if let Some(urls) = v["urls"].as_array().filter(|u| !u.is_empty()) {
        outln!("links");
        for u in urls {
            let short = u["url"].as_str().unwrap_or("");
            match u["expanded"].as_str() {
                Some(e) if e != short => outln!("  {short} → {e}"),
                _ => outln!("  {short}"),
            }
        }
    }
    if let Some(t) = &it.thread {
        outln!("thread      {t}");
    }
    if let Some(tags) = v["tags"].as_array().filter(|t| !t.is_empty()) {
        let names: Vec<&str> = tags.iter().filter_map(Value::as_str).collect();
        outln!("tags        {}", names.join(" "));
    }
    for n in v["notes"].as_array().into_iter().flatten() {
        outln!(
            "note        {} ({}, {})",
            n["text"].as_str().unwrap_or(""),
            n["user"].as_str().unwrap_or(""),
            n["at"].as_str().unwrap_or("")
        );
    }
    outln!("raw sha256  {}  ({} bytes)", it.raw_sha256, it.size);
    let atts = cat.attachments(it.seq)?;
    if !atts.is_empty() {
        outln!("attachments");
        for a in atts {
            outln!(
                "  {}  {}  {} bytes  sha256 {}",
                a.filename.as_deref().unwrap_or("(unnamed)"),
                a.mime_type,
                a.size,
                a.sha256
            );
            if let Some(t) = &a.text {
                if let Some(p) = &t.problem {
                    outln!("    text ({}): not extracted: {p}", t.extractor);
                }
                if !t.text.trim().is_empty() {
                    // The start of the text, on a few lines; all of it with --json.
                    let flat = t.text.split_whitespace().collect::<Vec<_>>().join(" ");
                    let shown: String = flat.chars().take(300).collect();
                    let more = if flat.chars().count() > 300 {
                        " …"
                    } else {
                        ""
                    };
                    outln!(
                        "    text ({}, {} chars): {shown}{more}",
                        t.extractor,
                        flat.chars().count()
                    );
                }
            }
        }
    }
    outln!("found at");
    for p in cat.provenance(&it.raw_sha256)? {
        let off = p.offset.map(|o| format!(" @ byte {o}")).unwrap_or_default();
        let flags = p.flags.map(|f| format!(" [flags {f}]")).unwrap_or_default();
        outln!("  {}{off} ({}){flags}", p.path, p.format);
        let c = &p.context;
        if c.reconstructed {
            let how = match c.headers_from.as_deref() {
                Some(h) => format!("headers from {h}; "),
                None => String::new(),
            };
            outln!("    reconstructed: true  ({how}not the bytes as found; see findings)");
        }
        if let Some(store) = &c.store_sha256 {
            outln!(
                "    store sha256 {store}  node {}  folder {}{}",
                c.node_id.as_deref().unwrap_or("?"),
                c.folder.as_deref().unwrap_or(""),
                if c.store_password {
                    "  (store has a password)"
                } else {
                    ""
                }
            );
        }
        if let Some(parent) = &c.parent {
            outln!("    embedded in {parent}");
        }
    }
    if !it.findings.is_empty() {
        outln!("findings");
        for f in &it.findings {
            outln!("  {}: {}", f.code, f.detail);
        }
    }
    if let Some(v) = trove_service::items::stored_verification(&cat, &it.raw_sha256)? {
        crate::verify::print_show(&v);
    }
    outln!();
    outln!("{}", s("body_text"));
    if let Some(ctx) = v["conversation"]["context"].as_array() {
        outln!();
        outln!(
            "conversation {}  (message {} of {})",
            v["conversation"]["id"].as_str().unwrap_or(""),
            v["conversation"]["seq"],
            v["conversation"]["size"]
        );
        for e in ctx {
            let mark = if e["id"] == v["id"] { ">" } else { " " };
            let text: String = e["text"].as_str().unwrap_or("").chars().take(100).collect();
            outln!(
                "{mark} #{:<4} {}  {}: {}",
                e["seq"],
                e["date"].as_str().unwrap_or(""),
                e["from_name"].as_str().or(e["from"].as_str()).unwrap_or(""),
                text.replace('\n', " ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn raw(archive: &Archive, id: &str) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let hash = match cat.find_item(id) {
        Ok(it) => it.raw_sha256,
        Err(trove_store::Error::NotFound(msg)) => {
            if let Some(h) = cat.find_quarantined(id)? {
                h
            } else if let Some(h) = Sha256Hash::from_hex(id).filter(|h| archive.blobs.contains(h)) {
                h
            } else {
                return Err(trove_store::Error::NotFound(msg).into());
            }
        }
        Err(e) => return Err(e.into()),
    };
    let mut reader = archive.blobs.open(&hash)?;
    let mut out = std::io::stdout().lock();
    match std::io::copy(&mut reader, &mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("writing raw bytes to stdout"),
    }
    Ok(ExitCode::SUCCESS)
}

fn quarantine(archive: &Archive, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let rows = cat.problems()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in &rows {
        let line = if json {
            serde_json::to_string(r)?
        } else {
            let off = r.offset.map(|o| format!(" @{o}")).unwrap_or_default();
            format!("{:<11} {}{off}: {}", r.state, r.path, r.reason)
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    if !json && rows.is_empty() {
        let _ = writeln!(out, "nothing quarantined or skipped");
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}
