//! Keeping the search index in step with the catalog.
//!
//! The catalog commits first; the index follows and records, in its commit payload, the highest
//! catalog sequence number it covers. After a crash the index may lag the catalog (never lead
//! it): `catch_up` indexes what is missing by re-deriving documents from raw blobs, and `reindex`
//! rebuilds everything the same way.

use crate::Result;
use crate::email::{AttachmentBytes, parse_email};
use crate::social::{self, SocialOutcome};
use rayon::prelude::*;
use trove_index::{IndexDoc, SearchIndex};
use trove_model::{AddressRole, ItemId, ItemRecord, Provenance, SourceFormat};
use trove_store::{Archive, BlobStore, Catalog, ItemRow};

/// Text of an attachment indexed in `attachment:` (text types only until extractors land).
const MAX_ATTACHMENT_TEXT: usize = 1 << 20;

/// The index document of an item, from its parsed record and attachment bytes.
pub fn item_doc(id: &ItemId, record: &ItemRecord, attachments: &[AttachmentBytes]) -> IndexDoc {
    let role = |r: AddressRole| record.mailboxes(r).cloned().collect::<Vec<_>>();
    let mut other_participants = role(AddressRole::Sender);
    other_participants.extend(role(AddressRole::ReplyTo));
    // Mentioned accounts are participants of a post too.
    for m in record
        .details
        .get("mentions")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let handle = m.get("screen_name").and_then(|v| v.as_str());
        let id = m.get("id").and_then(|v| v.as_str());
        if let Some(id) = id {
            other_participants.push(trove_model::Mailbox {
                name: handle.map(|h| format!("@{h}")),
                address: Some(format!("twitter:{id}")),
            });
        } else if let Some(h) = handle {
            other_participants.push(trove_model::Mailbox {
                name: None,
                address: Some(format!("twitter:@{}", h.to_lowercase())),
            });
        }
    }
    // Links are searchable by where they lead, not only by their short form.
    let mut body = record.body_text.clone();
    for u in &record.urls {
        for s in [&u.expanded, &u.display].into_iter().flatten() {
            body.push('\n');
            body.push_str(s);
        }
    }
    let mut attachment_text = String::new();
    for a in attachments {
        if let Some(t) = &a.text {
            attachment_text.push_str(&t.text);
            attachment_text.push('\n');
            continue;
        }
        let textual = a.mime_type.starts_with("text/")
            || a.filename.as_deref().is_some_and(|n| {
                let n = n.to_ascii_lowercase();
                n.ends_with(".txt")
                    || n.ends_with(".csv")
                    || n.ends_with(".patch")
                    || n.ends_with(".diff")
            });
        if textual {
            let bytes = &a.bytes[..a.bytes.len().min(MAX_ATTACHMENT_TEXT)];
            attachment_text.push_str(&String::from_utf8_lossy(bytes));
            attachment_text.push('\n');
        }
    }
    let mut doc = IndexDoc {
        id: id.to_string(),
        kind: record.kind.as_str().to_string(),
        date: record.date.utc,
        from: role(AddressRole::From),
        other_participants,
        to: role(AddressRole::To),
        cc: role(AddressRole::Cc),
        bcc: role(AddressRole::Bcc),
        subject: record.subject.clone().unwrap_or_default(),
        body,
        attachment_text,
        filenames: attachments
            .iter()
            .filter_map(|a| a.filename.clone())
            .collect(),
        native_id: record.native_id.clone(),
        has_attachment: !record.attachments.is_empty() || !attachments.is_empty(),
        ..Default::default()
    };
    doc.detect_language();
    doc
}

/// Parses an archived item again from its raw blob and the context its first provenance
/// recorded, reading only the head of a message too large to parse whole (as ingest did), so
/// memory stays bounded.
pub fn reparse(
    archive: &Archive,
    item: &ItemRow,
    provenance: &[Provenance],
) -> Result<Option<crate::ParsedEmail>> {
    use std::io::Read;
    let limits = &archive.settings.limits;
    let complete = item.size <= limits.max_in_memory_bytes;
    // Whole blobs go through `get`, which reuses the thread's decompression context (creating
    // one cost more than the rest of a search hit); only oversized ones are streamed for a head.
    let raw = if complete {
        archive.blobs.get(&item.raw_sha256)?
    } else {
        let mut raw = Vec::new();
        archive
            .blobs
            .open(&item.raw_sha256)?
            .take(crate::detect::HEAD_LEN as u64)
            .read_to_end(&mut raw)
            .map_err(|e| {
                trove_store::Error::io(std::path::Path::new(&item.raw_sha256.to_hex()), e)
            })?;
        raw
    };
    if item.kind != "email" {
        let Some(prov) = provenance.first() else {
            return Ok(None);
        };
        let Some(format) = SourceFormat::parse(&prov.format) else {
            return Ok(None);
        };
        return Ok(match social::parse(format, &raw, &prov.context) {
            Ok(SocialOutcome::Item(p)) => Some(crate::ParsedEmail {
                record: p.record,
                attachments: vec![],
            }),
            _ => None,
        });
    }
    Ok(parse_email(&raw, complete, item.size, limits).ok())
}

/// An archived item's text alone, as [`reparse`] would give it, for snippets. An email's text
/// needs only its MIME headers and no provenance (`provenance` is called for other kinds).
pub fn reparse_text(
    archive: &Archive,
    item: &ItemRow,
    provenance: impl FnOnce() -> Result<Vec<Provenance>>,
) -> Result<String> {
    let limits = &archive.settings.limits;
    if item.kind != "email" {
        return Ok(reparse(archive, item, &provenance()?)?
            .map(|p| p.record.body_text)
            .unwrap_or_default());
    }
    // `reparse` reads only the head of an oversized message, and a head has no body text.
    if item.size > limits.max_in_memory_bytes {
        return Ok(String::new());
    }
    let raw = archive.blobs.get(&item.raw_sha256)?;
    Ok(crate::email::body_text(&raw, item.size, limits))
}

/// Re-derives an item's document from its raw blob and the catalog.
pub(crate) fn doc_from_archive(
    archive: &Archive,
    item: &ItemRow,
    prov: &[Provenance],
    known: &[trove_model::AttachmentMeta],
) -> Result<IndexDoc> {
    Ok(match reparse(archive, item, prov)? {
        Some(mut p) => {
            let mut record = p.record;
            record.attachments = vec![];
            // Text extracted before (by ingest, perhaps with OCR) is reused; the rest is
            // extracted now.
            for a in p.attachments.iter_mut() {
                let sha = trove_model::Sha256Hash::of(&a.bytes);
                a.text = known
                    .iter()
                    .find(|k| k.sha256 == sha)
                    .and_then(|k| k.text.clone())
                    .map(|t| trove_extract::Extracted {
                        extractor: t.extractor,
                        text: t.text,
                        problem: t.problem,
                    });
            }
            let opts = crate::attachments::options(&archive.settings, None);
            crate::attachments::extract_all(&mut p.attachments, &opts);
            let mut d = item_doc(&item.id, &record, &p.attachments);
            d.has_attachment = item.attachment_count > 0;
            d
        }
        None => IndexDoc {
            id: item.id.to_string(),
            kind: item.kind.clone(),
            date: item.date_utc,
            ..Default::default()
        },
    })
}

/// Indexes every catalog item the index does not cover yet. Returns how many were added.
pub fn catch_up(archive: &Archive, catalog: &Catalog, index: &SearchIndex) -> Result<u64> {
    let covered = index.covered_seq()?;
    let max = catalog.max_seq()?;
    if max <= covered {
        return Ok(0);
    }
    let mut writer = index.writer()?;
    let mut added = 0u64;
    let mut after = covered;
    loop {
        let page = catalog.items_after(after, 512)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let provs: Vec<Vec<Provenance>> = page
            .iter()
            .map(|it| catalog.provenance(&it.raw_sha256))
            .collect::<trove_store::Result<_>>()?;
        let known: Vec<Vec<trove_model::AttachmentMeta>> = page
            .iter()
            .map(|it| {
                if it.attachment_count > 0 {
                    catalog.attachments(it.seq)
                } else {
                    Ok(vec![])
                }
            })
            .collect::<trove_store::Result<_>>()?;
        let docs: Vec<Result<IndexDoc>> = page
            .par_iter()
            .zip(provs.par_iter())
            .zip(known.par_iter())
            .map(|((it, p), k)| doc_from_archive(archive, it, p, k))
            .collect();
        for ((doc, p), it) in docs.into_iter().zip(provs).zip(&page) {
            let mut doc = doc?;
            doc.sources = p.into_iter().map(|p| p.path).collect();
            if let Some(v) = catalog.verification(&it.raw_sha256)? {
                doc.dkim = Some(v.verdict);
            }
            writer.add(&doc)?;
            added += 1;
        }
    }
    writer.commit(max)?;
    writer.finish()?;
    index.reload()?;
    Ok(added)
}

/// Rebuilds the index and the derived relations (threads, conversations, actors) from blobs and
/// catalog alone. Returns the number of documents indexed.
pub fn reindex(archive: &Archive, lock: &trove_store::WriterLock) -> Result<u64> {
    let mut catalog = archive.catalog_rw(lock)?;
    archive.index_may_fall_behind(lock)?;
    trove_analyze::rebuild(&mut catalog)?;
    // Verdicts are derived from raw bytes and the key store, so they are recomputed too.
    crate::verification::verify_and_store(archive, &mut catalog, None, &mut |_, _, _| {})?;
    let dir = archive.root.join("index");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| trove_store::Error::io(&dir, e))?;
    }
    let index = SearchIndex::open_or_create(&dir)?;
    let n = catch_up(archive, &catalog, &index)?;
    archive.index_caught_up(lock)?;
    Ok(n)
}
