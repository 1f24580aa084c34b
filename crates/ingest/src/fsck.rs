//! `trove fsck`: rehash every blob and cross-check catalog ↔ blobs ↔ log ↔ checkpoints.

use crate::Result;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;
use std::io::Read;
use trove_proof::leaf::Leaf;
use trove_proof::merkle;
use trove_proof::note::{Checkpoint, Verifier};
use trove_store::{Archive, BlobStore};

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// `blob`, `item`, `attachment`, `leaf` or `checkpoint`.
    pub kind: &'static str,
    /// Which one: a hash, an id, a leaf index, a checkpoint size.
    pub subject: String,
    pub expected: String,
    pub found: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub ok: bool,
    pub blobs: u64,
    pub items: u64,
    pub leaves: u64,
    pub checkpoints: u64,
    /// Items committed by an interrupted (or running) ingest whose leaves are not in the log yet:
    /// not a problem; the next ingest or `trove checkpoint` appends them.
    pub pending: u64,
    pub problems: Vec<Problem>,
}

fn problem(
    kind: &'static str,
    subject: impl Into<String>,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Problem {
    Problem {
        kind,
        subject: subject.into(),
        expected: expected.into(),
        found: found.into(),
    }
}

/// Streams a blob through SHA-256 (bounded memory even for huge blobs).
fn rehash(
    blobs: &dyn BlobStore,
    h: &trove_model::Sha256Hash,
) -> std::result::Result<String, String> {
    use sha2::Digest;
    let mut r = blobs.open(h).map_err(|e| e.to_string())?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf).map_err(|e| format!("unreadable: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

pub fn fsck(archive: &Archive) -> Result<Report> {
    // One committed state throughout, even while an ingest commits.
    archive.catalog()?.snapshot(|cat| check(archive, cat))?
}

fn check(archive: &Archive, cat: &trove_store::Catalog) -> Result<Report> {
    let mut r = Report::default();
    // Blobs: each must hash to its name.
    let stored = archive.blobs.list()?;
    r.blobs = stored.len() as u64;
    let bad: Vec<Problem> = stored
        .par_iter()
        .filter_map(|h| match rehash(&archive.blobs, h) {
            Ok(found) if found == h.to_hex() => None,
            Ok(found) => Some(problem(
                "blob",
                h.to_hex(),
                h.to_hex(),
                format!("content hashes to {found}"),
            )),
            Err(e) => Some(problem("blob", h.to_hex(), "a readable blob", e)),
        })
        .collect();
    r.problems.extend(bad);
    let stored: HashSet<_> = stored.into_iter().collect();
    // Items and attachments: their blobs exist; their latest leaf matches the catalog. Rows are
    // streamed; only their hashes are kept, to check the leaves against.
    let mut known: HashSet<trove_model::Sha256Hash> = HashSet::new();
    let through = crate::ledger::logged_through(cat)?;
    // While items await logging, a conversation item may also await its renumbered leaf (an
    // earlier message of its conversation arrived in the unlogged part).
    let run_pending = cat.max_seq()? > through;
    cat.for_each_item(|it| {
        r.items += 1;
        let hex = it.raw_sha256.to_hex();
        if !stored.contains(&it.raw_sha256) {
            r.problems.push(problem(
                "item",
                it.id.to_string(),
                format!("blob {hex}"),
                "missing",
            ));
        }
        let want = crate::ledger::item_leaf(&it);
        let latest = cat.latest_leaf_of(&hex)?;
        let awaiting = it.seq > through
            || (run_pending
                && it.conversation.is_some()
                && latest.as_ref().is_some_and(|l| l.hash != want.hash()));
        match latest {
            _ if awaiting => r.pending += 1,
            None => r.problems.push(problem(
                "item",
                it.id.to_string(),
                "a log leaf",
                "none (not logged)",
            )),
            Some(l) if l.hash != want.hash() => r.problems.push(problem(
                "item",
                it.id.to_string(),
                String::from_utf8_lossy(&want.encode()).replace('\n', " | "),
                format!(
                    "log leaf {}: {}",
                    l.index,
                    String::from_utf8_lossy(&l.data).replace('\n', " | ")
                ),
            )),
            Some(_) => {}
        }
        known.insert(it.raw_sha256);
        for a in cat.attachments(it.seq)? {
            if !stored.contains(&a.sha256) {
                r.problems.push(problem(
                    "attachment",
                    a.sha256.to_hex(),
                    format!("blob of an attachment of {}", it.id),
                    "missing",
                ));
            }
            known.insert(a.sha256);
        }
        Ok(())
    })?;
    // Leaves: stored hash = H(0x00 ‖ data), canonical, naming something the catalog holds.
    let mut hashes = Vec::new();
    cat.for_each_leaf(|l| {
        let h = merkle::leaf_hash(&l.data);
        if h != l.hash {
            r.problems.push(problem(
                "leaf",
                l.index.to_string(),
                hex::encode(h),
                format!("stored hash {}", hex::encode(l.hash)),
            ));
        }
        match Leaf::parse(&l.data) {
            Ok(leaf)
                if leaf.raw_sha256 == l.raw_sha256
                    && trove_model::Sha256Hash::from_hex(&leaf.raw_sha256)
                        .is_some_and(|h| known.contains(&h)) => {}
            Ok(leaf) => r.problems.push(problem(
                "leaf",
                l.index.to_string(),
                "raw bytes the catalog holds",
                format!("{} (not in the catalog)", leaf.raw_sha256),
            )),
            Err(e) => r
                .problems
                .push(problem("leaf", l.index.to_string(), "a canonical leaf", e)),
        }
        hashes.push(l.hash);
        Ok(())
    })?;
    r.leaves = hashes.len() as u64;
    // Checkpoints: signed by the archive key, and the log still has their roots.
    let tree = trove_proof::Tree::from_leaf_hashes(hashes);
    let verifier = Verifier::parse(&crate::ledger::signer(archive)?.verifier())
        .map_err(|e| crate::Error::Internal(e.to_string()))?;
    for cp in cat.checkpoints()? {
        r.checkpoints += 1;
        let subject = format!("size {}", cp.size);
        match verifier.verify(&cp.note).map(Checkpoint::parse) {
            Ok(Ok(c)) if c.size == cp.size && c.root == cp.root => {}
            Ok(Ok(c)) => r.problems.push(problem(
                "checkpoint",
                subject.clone(),
                format!("size {} root {}", cp.size, hex::encode(cp.root)),
                format!(
                    "signed note says size {} root {}",
                    c.size,
                    hex::encode(c.root)
                ),
            )),
            Ok(Err(e)) | Err(e) => r.problems.push(problem(
                "checkpoint",
                subject.clone(),
                "a valid signed note",
                e.to_string(),
            )),
        }
        match tree.root(cp.size) {
            Some(root) if root == cp.root => {}
            Some(root) => r.problems.push(problem(
                "checkpoint",
                subject,
                hex::encode(cp.root),
                format!("the log's root at that size is {}", hex::encode(root)),
            )),
            None => r.problems.push(problem(
                "checkpoint",
                subject,
                format!("{} leaves", cp.size),
                format!("the log has {}", tree.len()),
            )),
        }
    }
    r.ok = r.problems.is_empty();
    Ok(r)
}
