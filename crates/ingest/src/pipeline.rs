//! The ingest pipeline: walk → parse in parallel → one writer.
//!
//! ```text
//! walker thread ──batches of events──► parse stage (rayon: hash, store blob, parse, attachments)
//!                                        ──batches of results──► writer (this thread, one SQLite
//!                                                                 transaction per batch)
//! ```
//! Blobs are written by the parse stage (content-addressed writes are idempotent and atomic), and
//! made durable before the transaction that refers to them commits. Batches keep the walker's
//! order, so the catalog's item order depends only on the inputs. Channels are bounded, so memory
//! stays bounded whatever the corpus size.

use crate::email::{NotAMessage, parse_email};
use crate::social::{self, SocialOutcome};
use crate::unit::{Payload, RawUnit};
use crate::walk::{Cancelled, Event, WalkCounters, Walker};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use trove_index::{IndexDoc, SearchIndex};
use trove_model::{AttachmentMeta, ItemRecord, Provenance, Sha256Hash, SourceFormat};
use trove_store::{Archive, BlobStore, Catalog, Limits, NewItem, Recorded, WriterLock};

/// Units per batch, and raw bytes per batch: the unit of parallel work and of one transaction.
/// A batch of list mail is about 3 MB; the byte cap binds on large messages, whose parsed results
/// hold their text several times over (record, index document) while up to four batches are in
/// flight: with 2 MB text attachments, 4 MiB instead of 8 MiB lowered the peak by about 28 MB.
const BATCH_UNITS: usize = 512;
const BATCH_BYTES: u64 = 4 << 20;
/// Most problems listed in one run's summary (all of them stay in the catalog).
const MAX_PROBLEMS_LISTED: usize = 10_000;
/// The search index commits at most this often during a run (and at the end): a killed run loses
/// at most this much index work, which the next run redoes from the catalog. A commit writes out
/// the segment being built while the writer waits: on 17,685 list messages one mid-run commit
/// (then every 32 batches) stalled the pipeline for about a second of a ten-second run.
const INDEX_COMMIT_INTERVAL: Duration = Duration::from_secs(30);

pub struct IngestOptions {
    pub inputs: Vec<PathBuf>,
    /// Reread files an earlier run already committed unchanged.
    pub rescan: bool,
    /// OCR images and scanned PDFs (`--ocr`); `None` follows `extract.ocr` in `trove.toml`.
    pub ocr: Option<bool>,
}

/// Live counters for a progress display.
#[derive(Default)]
pub struct IngestProgress {
    pub walk: Arc<WalkCounters>,
    pub units_done: AtomicU64,
    pub items_new: AtomicU64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub path: String,
    pub offset: Option<u64>,
    pub state: &'static str,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Default)]
pub struct Summary {
    pub run_id: i64,
    /// Files read: physical files and archive members.
    pub files: u64,
    /// Physical files passed over because an earlier run committed them unchanged.
    pub unchanged_files: u64,
    pub items_new: u64,
    /// Known bytes found in a new place (one more provenance record).
    pub duplicates: u64,
    /// Known bytes in a known place (already recorded by an earlier run).
    pub unchanged: u64,
    pub skipped: u64,
    pub quarantined: u64,
    /// Records that are evidence about identities (X `account.js`), not messages.
    pub evidence: u64,
    pub bytes_read: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub problems: Vec<Problem>,
    pub problems_truncated: bool,
    /// Things worth knowing that are not problems (e.g. an assumed WhatsApp date order).
    pub notes: Vec<Problem>,
    /// Threads, conversations and actors after the run.
    pub relations: trove_analyze::RebuildSummary,
    /// Leaves appended to the tamper-evident log, and the size of the latest checkpoint.
    pub log_leaves_added: u64,
    pub checkpoint: Option<u64>,
    /// Time spent appending to the log and signing (part of `seconds`).
    pub log_seconds: f64,
    /// Time from the start until every input was read, parsed and written (part of `seconds`).
    pub stream_seconds: f64,
    /// Time the last index commit and its merges took. Up to `SIDE_BY_SIDE_MAX_ITEMS` items it
    /// runs beside the rebuild, so it overlaps `relations.seconds`.
    pub index_finish_seconds: f64,
    /// The run added enough items to drop the catalog's deferrable indexes part way and sort
    /// them back at its end (`Catalog::defer_indexes`).
    pub deferred_indexes: bool,
    pub ocr: OcrSummary,
}

/// OCR in this run: off by default; when on, what it read and whether tesseract was there.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OcrSummary {
    pub enabled: bool,
    /// `tesseract` was found (checked only when OCR is on).
    pub available: bool,
    /// Images and scanned PDFs read.
    pub read: u64,
    /// Images and scanned PDFs that OCR failed on (each a finding on its item).
    pub failed: u64,
}

enum Outcome {
    Item {
        prov: Provenance,
        sha: Sha256Hash,
        size: u64,
        record: Box<ItemRecord>,
        doc: Box<IndexDoc>,
        /// Identity pairs this record proves (e.g. a mention's handle and id).
        links: Vec<(String, String)>,
        /// DKIM/ARC verification of an email.
        verification: Option<Box<trove_verify::Verification>>,
    },
    Evidence {
        prov: Provenance,
        sha: Sha256Hash,
        links: Vec<(String, String)>,
    },
    Note {
        path: String,
        note: String,
    },
    Quarantine {
        prov: Provenance,
        sha: Option<Sha256Hash>,
        reason: String,
    },
    Skipped {
        path: String,
        reason: String,
    },
    FileDone {
        path: String,
        size: u64,
        mtime_ns: i64,
    },
}

pub fn ingest(
    archive: &Archive,
    lock: &WriterLock,
    opts: &IngestOptions,
    progress: &IngestProgress,
) -> Result<Summary> {
    let started = Instant::now();
    let mut catalog = archive.catalog_rw(lock)?;
    archive.index_may_fall_behind(lock)?;
    let inputs: Vec<String> = opts
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let run = catalog.start_run(&inputs)?;
    // Deferring indexes pays once the run at least doubles the archive (their rebuild sorts
    // every row, old and new).
    let defer_after = catalog.max_seq()?.max(DEFER_INDEXES_MIN_ITEMS);
    let mut deferred = false;
    let index = SearchIndex::open_or_create(&archive.root.join("index"))?;
    // A run killed earlier may have committed catalog rows the index never saw.
    crate::indexing::catch_up(archive, &catalog, &index)?;
    let mut index_writer = index.writer()?;
    let mut last_commit = Instant::now();
    let limits = archive.settings.limits.clone();
    let keyring = crate::verification::keyring(&catalog)?;
    let xopts = crate::attachments::options(&archive.settings, opts.ocr);
    let verify_opts = crate::verification::options(&archive.settings);
    let (tx_events, rx_events) = crossbeam_channel::bounded::<Vec<Event>>(1);
    let (tx_done, rx_done) = crossbeam_channel::bounded::<Result<Vec<Outcome>>>(1);
    let mut summary = Summary {
        run_id: run,
        ocr: OcrSummary {
            enabled: xopts.ocr,
            available: xopts.ocr && trove_extract::ocr::available(),
            ..Default::default()
        },
        ..Default::default()
    };

    let outcome = std::thread::scope(|s| -> Result<()> {
        let walk_counters = progress.walk.clone();
        let catalog_path = archive.catalog_path();
        let tmp_dir = archive.tmp_dir();
        let walk_limits = limits.clone();
        let rescan = opts.rescan;
        let walk_inputs = opts.inputs.clone();
        let archive_root = std::fs::canonicalize(&archive.root).ok();
        let walker = s.spawn(move || -> Result<()> {
            let done_catalog = if rescan {
                None
            } else {
                Some(Catalog::open_read_only(&catalog_path)?)
            };
            let mut batch: Vec<Event> = Vec::new();
            let mut batch_bytes = 0u64;
            let mut emit = |e: Event| -> Result<(), Cancelled> {
                if let Event::Unit(u) = &e {
                    batch_bytes += u.payload.head().len() as u64;
                }
                batch.push(e);
                if batch.len() >= BATCH_UNITS || batch_bytes >= BATCH_BYTES {
                    batch_bytes = 0;
                    tx_events
                        .send(std::mem::take(&mut batch))
                        .map_err(|_| Cancelled)?;
                }
                Ok(())
            };
            let mut w = Walker {
                limits: walk_limits,
                tmp_dir,
                catalog: done_catalog.as_ref(),
                counters: walk_counters,
                emit: &mut emit,
                exclude: archive_root.into_iter().collect(),
                x_owners: Default::default(),
            };
            for input in &walk_inputs {
                if w.walk_input(input).is_err() {
                    return Ok(());
                }
            }
            drop(w);
            if !batch.is_empty() {
                let _ = tx_events.send(batch);
            }
            Ok(())
        });

        let blobs = &archive.blobs;
        let parse_limits = limits.clone();
        let verifier = (&keyring, &verify_opts);
        let parser = s.spawn(move || {
            let mut may_train = blobs.wants_dictionary();
            for batch in rx_events {
                if may_train {
                    may_train = !train_dictionary(blobs, &batch);
                }
                let processed: Result<Vec<Outcome>> = batch
                    .into_par_iter()
                    .map(|e| process(e, blobs, &parse_limits, verifier, &xopts))
                    .collect();
                let failed = processed.is_err();
                if tx_done.send(processed).is_err() || failed {
                    return;
                }
            }
        });

        let mut result = Ok(());
        for batch in rx_done {
            let written = batch.and_then(|b| {
                write_batch(
                    &mut catalog,
                    archive,
                    run,
                    b,
                    &mut summary,
                    progress,
                    &mut index_writer,
                )
            });
            if let Err(e) = written {
                result = Err(e);
                break;
            }
            if !deferred && summary.items_new as i64 >= defer_after {
                deferred = true;
                if let Err(e) = catalog.defer_indexes() {
                    result = Err(e.into());
                    break;
                }
            }
            if last_commit.elapsed() >= INDEX_COMMIT_INTERVAL {
                last_commit = Instant::now();
                let committed = catalog
                    .max_seq()
                    .map_err(Error::from)
                    .and_then(|seq| index_writer.commit(seq).map_err(Error::from));
                release_free_memory();
                if let Err(e) = committed {
                    result = Err(e);
                    break;
                }
            }
        }
        // Dropping the receiver (by leaving the loop) unblocks the other stages on error.
        let _ = parser.join();
        match walker.join() {
            Ok(r) => r?,
            Err(_) => return Err(Error::Internal("the walker thread panicked".into())),
        }
        result
    });
    summary.deferred_indexes = deferred;
    // Even after a failure, so readers do not scan until the next writer opens the catalog.
    let restored = if deferred {
        catalog.restore_indexes()
    } else {
        Ok(())
    };
    outcome?;
    restored?;
    summary.stream_seconds = started.elapsed().as_secs_f64();
    // The last index commit (one thread writing out a segment, then merges) and the rebuild of
    // the catalog's relations and log do not touch each other. Side by side they keep both cores
    // busy for what is otherwise the run's serial tail (commit ~0.4 s, rebuild and log ~0.4 s
    // on 17,685 messages), but the rebuild's tables grow with the archive: a million-message
    // archive peaked at 331 MB side by side (257 MB one after another, bound 300 MB), so large
    // archives keep them apart.
    let covered = catalog.max_seq()?;
    if covered <= SIDE_BY_SIDE_MAX_ITEMS {
        std::thread::scope(|s| -> Result<()> {
            let index_done = s.spawn(move || -> Result<f64> {
                let t = Instant::now();
                index_writer.commit(covered)?;
                index_writer.finish()?;
                Ok(t.elapsed().as_secs_f64())
            });
            let derived = derive_and_log(archive, &mut catalog, &mut summary);
            let indexed = index_done
                .join()
                .map_err(|_| Error::Internal("the index commit thread panicked".into()))?;
            derived?;
            summary.index_finish_seconds = indexed?;
            Ok(())
        })?;
        archive.index_caught_up(lock)?;
    } else {
        let t = Instant::now();
        index_writer.commit(covered)?;
        index_writer.finish()?;
        summary.index_finish_seconds = t.elapsed().as_secs_f64();
        archive.index_caught_up(lock)?;
        release_free_memory();
        derive_and_log(archive, &mut catalog, &mut summary)?;
    }
    release_free_memory();
    let counters = &progress.walk;
    summary.files = counters.files.load(Ordering::Relaxed);
    summary.unchanged_files = counters.unchanged_files.load(Ordering::Relaxed);
    summary.bytes_read = counters.bytes_read.load(Ordering::Relaxed);
    summary.seconds = started.elapsed().as_secs_f64();
    let units = summary.items_new
        + summary.duplicates
        + summary.unchanged
        + summary.quarantined
        + summary.evidence;
    summary.messages_per_second = units as f64 / summary.seconds.max(1e-9);
    let mut stored = summary.clone();
    stored.problems.clear();
    catalog.finish_run(run, &serde_json::to_string(&stored).unwrap_or_default())?;
    Ok(summary)
}

/// Items a run adds before it drops the catalog's deferrable indexes (archives smaller than this
/// count as this large). Small runs keep them: dropping and sorting back costs a few
/// milliseconds there, but readers of a small archive would scan meanwhile for nothing.
const DEFER_INDEXES_MIN_ITEMS: i64 = 5_000;

/// Largest archive (in catalog items) whose relations are rebuilt beside the last index commit.
/// The rebuild holds ~75 bytes an item at its peak (the 74 MB the million-message run gained
/// side by side), so ~15 MB here; 100,000-message runs peaked no higher side by side.
const SIDE_BY_SIDE_MAX_ITEMS: i64 = 200_000;

/// Rebuilds threads, conversations and actors from catalog rows, then appends the new leaves to
/// the log and signs a checkpoint.
fn derive_and_log(archive: &Archive, catalog: &mut Catalog, summary: &mut Summary) -> Result<()> {
    summary.relations = trove_analyze::rebuild(catalog)?;
    release_free_memory();
    // After the rebuild, so conversation items are logged with their sequence numbers.
    let log_started = Instant::now();
    summary.log_leaves_added = crate::ledger::append_pending(catalog)?;
    summary.checkpoint = crate::ledger::sign_checkpoint(archive, catalog)?
        .or(catalog.latest_checkpoint()?)
        .map(|c| c.size);
    summary.log_seconds = log_started.elapsed().as_secs_f64();
    Ok(())
}

/// Trains the blob store's dictionary from a batch's units held in memory, when there are enough
/// of them (`DICT_MIN_*`). Returns whether it is settled: trained, or failed (which costs only
/// compression, so it is logged and not retried in this run).
fn train_dictionary(blobs: &dyn BlobStore, batch: &[Event]) -> bool {
    let samples: Vec<&[u8]> = batch
        .iter()
        .filter_map(|e| match e {
            Event::Unit(RawUnit {
                payload: crate::unit::Payload::Mem(v),
                ..
            }) if !v.is_empty() => Some(v.as_slice()),
            _ => None,
        })
        .collect();
    let bytes: usize = samples.iter().map(|s| s.len()).sum();
    if samples.len() < trove_store::blob::DICT_MIN_SAMPLES
        || bytes < trove_store::blob::DICT_MIN_BYTES
    {
        return false;
    }
    if let Err(e) = blobs.train_dictionary(&samples) {
        tracing::warn!("no compression dictionary: {e}");
    }
    true
}

fn process(
    e: Event,
    blobs: &dyn BlobStore,
    limits: &Limits,
    (keyring, verify_opts): (&trove_verify::KeyRing, &trove_verify::Options),
    xopts: &trove_extract::Options,
) -> Result<Outcome> {
    let unit = match e {
        Event::Unit(u) => u,
        Event::Skipped { path, reason } => return Ok(Outcome::Skipped { path, reason }),
        Event::Note { path, note } => return Ok(Outcome::Note { path, note }),
        Event::InputDone {
            path,
            size,
            mtime_ns,
        } => {
            return Ok(Outcome::FileDone {
                path,
                size,
                mtime_ns,
            });
        }
    };
    let RawUnit {
        prov,
        payload,
        quarantine,
        findings,
    } = unit;
    let size = payload.len();
    let sha = match &payload {
        Payload::Mem(v) => Sha256Hash::of(v),
        Payload::Spilled(s) => s.sha256,
    };
    match &payload {
        Payload::Mem(v) => blobs.put(&sha, v)?,
        Payload::Spilled(s) => blobs.put_file(&sha, &s.path)?,
    };
    if let Some(reason) = quarantine {
        return Ok(Outcome::Quarantine {
            prov,
            sha: Some(sha),
            reason,
        });
    }
    let format = SourceFormat::parse(&prov.format).unwrap_or(SourceFormat::Eml);
    if !format.is_email() {
        let parsed = catch_unwind(AssertUnwindSafe(|| {
            social::parse(format, payload.head(), &prov.context)
        }));
        return Ok(match parsed {
            Ok(Ok(SocialOutcome::Item(p))) => {
                let mut record = p.record;
                record.findings.extend(findings);
                let doc = crate::indexing::item_doc(&sha.item_id(), &record, &[]);
                Outcome::Item {
                    prov,
                    sha,
                    size,
                    record: Box::new(record),
                    doc: Box::new(doc),
                    links: p.links,
                    verification: None,
                }
            }
            Ok(Ok(SocialOutcome::Evidence(links))) => Outcome::Evidence { prov, sha, links },
            Ok(Err(reason)) => Outcome::Quarantine {
                prov,
                sha: Some(sha),
                reason,
            },
            Err(_) => Outcome::Quarantine {
                prov,
                sha: Some(sha),
                reason: "the record parser crashed on this input (reported as a bug)".into(),
            },
        });
    }
    let complete = matches!(payload, Payload::Mem(_));
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        parse_email(payload.head(), complete, size, limits)
    }));
    match parsed {
        Ok(Ok(mut p)) => {
            let mut record = p.record;
            record.findings.extend(findings);
            record
                .findings
                .extend(crate::attachments::extract_all(&mut p.attachments, xopts));
            let mut doc = crate::indexing::item_doc(&sha.item_id(), &record, &p.attachments);
            // A spilled message is verified later (`trove verify`), from its blob.
            let verification = match &payload {
                Payload::Mem(raw) => catch_unwind(AssertUnwindSafe(|| {
                    crate::verification::verify_raw(raw, keyring, verify_opts)
                }))
                .ok()
                .map(Box::new),
                Payload::Spilled(_) => None,
            };
            doc.dkim = verification
                .as_ref()
                .map(|v| v.verdict.as_str().to_string());
            for a in p.attachments {
                let h = Sha256Hash::of(&a.bytes);
                blobs.put(&h, &a.bytes)?;
                record.attachments.push(AttachmentMeta {
                    sha256: h,
                    filename: a.filename,
                    mime_type: a.mime_type,
                    size: a.bytes.len() as u64,
                    text: a.text.map(crate::attachments::to_model),
                });
            }
            Ok(Outcome::Item {
                prov,
                sha,
                size,
                record: Box::new(record),
                doc: Box::new(doc),
                links: vec![],
                verification,
            })
        }
        Ok(Err(NotAMessage(reason))) => Ok(Outcome::Quarantine {
            prov,
            sha: Some(sha),
            reason,
        }),
        Err(_) => Ok(Outcome::Quarantine {
            prov,
            sha: Some(sha),
            reason: "the message parser crashed on this input (reported as a bug)".into(),
        }),
    }
}

fn write_batch(
    catalog: &mut Catalog,
    archive: &Archive,
    run: i64,
    batch: Vec<Outcome>,
    summary: &mut Summary,
    progress: &IngestProgress,
    index: &mut trove_index::Writer<'_>,
) -> Result<()> {
    if archive.settings.durable {
        archive.blobs.sync()?;
    }
    let tx = catalog.begin()?;
    let mut problems = Vec::new();
    let n = batch.len() as u64;
    let mut to_index: Vec<(Box<IndexDoc>, Option<Provenance>, Sha256Hash)> = Vec::new();
    for d in batch {
        match d {
            Outcome::Item {
                prov,
                sha,
                size,
                record,
                doc,
                links,
                verification,
            } => {
                let item = NewItem {
                    raw_sha256: &sha,
                    size,
                    record: &record,
                };
                let evidence = sha.item_id().to_string();
                for (a, b) in &links {
                    tx.link_identities(a, b, &evidence)?;
                }
                for a in &record.attachments {
                    if let Some(t) = a.text.as_ref().filter(|t| t.extractor.contains("ocr")) {
                        if t.problem.is_some() {
                            summary.ocr.failed += 1;
                        } else {
                            summary.ocr.read += 1;
                        }
                    }
                }
                match tx.record_item(&item, &prov, run)? {
                    Recorded::New => {
                        summary.items_new += 1;
                        if let Some(v) = &verification {
                            let (_, verdict, json, names) = crate::verification::row(sha, v);
                            tx.set_verification(&sha, &verdict, &json, &names)?;
                        }
                        to_index.push((doc, Some(prov), sha));
                    }
                    Recorded::Duplicate => {
                        summary.duplicates += 1;
                        // One more source path: the document is replaced once committed.
                        to_index.push((doc, None, sha));
                    }
                    Recorded::Unchanged => summary.unchanged += 1,
                }
            }
            Outcome::Quarantine { prov, sha, reason } => {
                tx.quarantine(sha.as_ref(), &prov, &reason, run)?;
                summary.quarantined += 1;
                problems.push(Problem {
                    path: prov.path,
                    offset: prov.offset,
                    state: "quarantined",
                    reason,
                });
            }
            Outcome::Evidence { prov, sha, links } => {
                for (a, b) in &links {
                    tx.link_identities(a, b, &sha.to_hex())?;
                }
                if tx.record_evidence(&sha, &prov, run)? {
                    summary.evidence += 1;
                } else {
                    summary.unchanged += 1;
                }
            }
            Outcome::Note { path, note } => {
                if summary.notes.len() < MAX_PROBLEMS_LISTED {
                    summary.notes.push(Problem {
                        path,
                        offset: None,
                        state: "note",
                        reason: note,
                    });
                }
            }
            Outcome::Skipped { path, reason } => {
                tx.skip(&path, &reason, run)?;
                summary.skipped += 1;
                problems.push(Problem {
                    path,
                    offset: None,
                    state: "skipped",
                    reason,
                });
            }
            Outcome::FileDone {
                path,
                size,
                mtime_ns,
            } => tx.input_done(&path, size, mtime_ns, run)?,
        }
    }
    tx.commit()?;
    for (mut doc, prov, sha) in to_index {
        match prov {
            Some(p) => {
                doc.sources = vec![p.path];
                index.add(&doc)?;
            }
            None => {
                doc.sources = catalog
                    .provenance(&sha)?
                    .into_iter()
                    .map(|p| p.path)
                    .collect();
                index.upsert(&doc)?;
            }
        }
    }
    progress.units_done.fetch_add(n, Ordering::Relaxed);
    progress
        .items_new
        .store(summary.items_new, Ordering::Relaxed);
    for p in problems {
        if summary.problems.len() < MAX_PROBLEMS_LISTED {
            summary.problems.push(p);
        } else {
            summary.problems_truncated = true;
        }
    }
    Ok(())
}

/// Total size of the physical files under `inputs` (for a progress bar's length).
pub fn input_size(inputs: &[PathBuf]) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .map(|rd| rd.filter_map(|e| e.ok()).map(|e| walk(&e.path())).sum())
                .unwrap_or(0),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        }
    }
    inputs
        .iter()
        .map(|p| std::fs::canonicalize(p).map(|c| walk(&c)).unwrap_or(0))
        .sum()
}

/// Hands memory that is free inside malloc's heaps back to the system. glibc keeps freed pages
/// in its arenas, fragmented, so each phase of a large ingest started from the previous phase's
/// high-water mark: after a million messages the thread rebuild began at 290 MB and peaked at
/// 373 MB. Called between phases and after each index commit; it costs a few milliseconds.
#[allow(unsafe_code)]
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
