//! The archive's tamper-evident log: which leaves to append after a run, the archive key, and
//! signing checkpoints that never contradict an earlier one.

use crate::Result;
use std::path::PathBuf;
use trove_proof::leaf::Leaf;
use trove_proof::note::{Checkpoint, Signer};
use trove_proof::{Hash, Tree};
use trove_store::{Archive, Catalog, CheckpointRow, ItemRow, LeafSource};

/// Catalog rows up to this sequence number have their leaves (meta key).
const LOGGED_THROUGH: &str = "log_items_through";

/// The catalog sequence number through which items have been logged. Items after it were
/// committed by a run that has not appended its leaves yet (it is running, or was killed).
pub fn logged_through(catalog: &Catalog) -> Result<i64> {
    Ok(catalog
        .meta_get(LOGGED_THROUGH)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn key_path(archive: &Archive) -> PathBuf {
    archive.root.join("keys/archive.key")
}

fn io(path: &std::path::Path, e: std::io::Error) -> crate::Error {
    crate::Error::Store(trove_store::Error::io(path, e))
}

fn proof_err(e: impl std::fmt::Display) -> crate::Error {
    crate::Error::Internal(e.to_string())
}

/// The archive's Ed25519 signing key, created on first use (`trove init` creates it). The key
/// name, which is also the checkpoint origin, is `trove.archive/<random id>`.
pub fn signer(archive: &Archive) -> Result<Signer> {
    let path = key_path(archive);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Signer::parse(&text).map_err(proof_err);
    }
    let id: [u8; 8] = trove_proof::note::random_bytes().map_err(proof_err)?;
    let s = Signer::generate(&format!("trove.archive/{}", hex::encode(id))).map_err(proof_err)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    write_private(&path, &s.private_text())?;
    let public = archive.root.join("keys/archive.pub");
    std::fs::write(&public, format!("{}\n", s.verifier())).map_err(|e| io(&public, e))?;
    Ok(s)
}

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    f.write_all(format!("{text}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| io(path, e))
}

/// The leaf of an item as the catalog has it now.
pub fn item_leaf(it: &ItemRow) -> Leaf {
    source_leaf(LeafSource::from(it))
}

fn source_leaf(s: LeafSource) -> Leaf {
    Leaf {
        seq: s.conversation.as_ref().and(s.conv_seq),
        raw_sha256: s.raw_sha256,
        kind: s.kind,
        native_id: s.native_id,
        conversation: s.conversation,
        parent: None,
    }
}

/// A leaf's hash and canonical bytes, encoded once for both.
fn hashed(leaf: &Leaf) -> (Hash, Vec<u8>) {
    let data = leaf.encode();
    (trove_proof::merkle::leaf_hash(&data), data)
}

/// Leaves appended per transaction: memory holds one chunk, never the whole run's leaves (a
/// million new items made a 350 MB vector).
const APPEND_CHUNK: usize = 8192;

/// Appends the leaves the log lacks: every item added since the last append (and its
/// attachments), and a fresh leaf for a conversation item whose sequence number changed because
/// an earlier message arrived. Returns how many leaves were appended.
///
/// Each chunk of leaves is committed with the catalog position it covers, so a run killed
/// between chunks resumes after the last one without logging anything twice.
pub fn append_pending(catalog: &mut Catalog) -> Result<u64> {
    let through = logged_through(catalog)?;
    let mut size = catalog.log_size()?;
    // Appending at least as many leaves as the log holds: cheaper to sort its index afresh.
    let bulk = u64::try_from(catalog.max_seq()? - through).unwrap_or(0) >= size.max(1);
    let mut index_dropped = false;
    let mut new: Vec<(Hash, Vec<u8>, String)> = Vec::new();
    let mut added = 0u64;
    let mut covered = through;
    let mut flush = |catalog: &mut Catalog, new: &mut Vec<_>, covered: i64| -> Result<()> {
        catalog.append_leaves(size, new, &[(LOGGED_THROUGH, &covered.to_string())])?;
        size += new.len() as u64;
        added += new.len() as u64;
        new.clear();
        Ok(())
    };
    // Page through the catalog so memory holds one page of rows, not the archive: first the
    // logged items whose leaf may have changed (conversation items only), then the new ones.
    // Paging through every logged item instead was a fifth of adding 3 emails to 100k.
    let mut after = 0i64;
    loop {
        let (page, attachments) = if after < through {
            let page = catalog.conversation_leaf_sources(after, through, 1024)?;
            if page.is_empty() {
                after = through;
                continue;
            }
            (page, vec![])
        } else {
            let page = catalog.leaf_sources_after(after, 1024)?;
            let attachments = match page.last() {
                Some(last) => catalog.attachment_hashes(after, last.seq)?,
                None => vec![],
            };
            (page, attachments)
        };
        let Some(last) = page.last() else { break };
        after = last.seq;
        // In item order: each item's attachments are at the front of what is left.
        let mut attachments = attachments.into_iter().peekable();
        for it in page {
            let seq = it.seq;
            let new_item = seq > through;
            if bulk && !index_dropped && new_item {
                // Past the items that may need a lookup (below).
                catalog.drop_log_index()?;
                index_dropped = true;
            }
            let parent = it.raw_sha256.clone();
            let leaf = source_leaf(it);
            let (hash, data) = hashed(&leaf);
            // An item after `through` has never been logged (its leaves and the new `through`
            // commit together, and items are never renumbered), so only a logged conversation
            // item needs the lookup that tells whether its leaf changed. Looking up every new
            // item was a random read of the log's index each: most of logging a million items.
            let changed =
                new_item || catalog.latest_leaf_of(&leaf.raw_sha256)?.map(|l| l.hash) != Some(hash);
            if changed {
                new.push((hash, data, leaf.raw_sha256));
            }
            while let Some((_, sha)) = attachments.next_if(|(s, _)| *s == seq) {
                let leaf = Leaf {
                    raw_sha256: sha,
                    kind: "attachment".into(),
                    native_id: None,
                    conversation: None,
                    seq: None,
                    parent: Some(parent.clone()),
                };
                let (hash, data) = hashed(&leaf);
                new.push((hash, data, leaf.raw_sha256));
            }
        }
        covered = covered.max(after);
        if new.len() >= APPEND_CHUNK {
            flush(catalog, &mut new, covered)?;
        }
    }
    flush(catalog, &mut new, covered)?;
    if index_dropped {
        catalog.restore_log_index()?;
    }
    Ok(added)
}

/// The tree over every leaf.
pub fn tree(catalog: &Catalog) -> Result<Tree> {
    let mut tree = Tree::with_capacity(catalog.log_size()?);
    catalog.for_each_leaf(|l| {
        tree.push(l.hash);
        Ok(())
    })?;
    Ok(tree)
}

/// The tree, rebuilt from the leaf data rather than the stored hashes: a leaf whose data was
/// changed is an error, never signed over.
fn checked_tree(catalog: &Catalog) -> Result<Tree> {
    let mut tree = Tree::with_capacity(catalog.log_size()?);
    let mut bad = None;
    catalog.for_each_leaf(|l| {
        let h = trove_proof::merkle::leaf_hash(&l.data);
        if h != l.hash && bad.is_none() {
            bad = Some(l.index);
        }
        tree.push(h);
        Ok(())
    })?;
    match bad {
        Some(i) => Err(crate::Error::Internal(format!(
            "log leaf {i} does not hash to its stored hash; refusing to sign (run `trove fsck`)"
        ))),
        None => Ok(tree),
    }
}

/// Signs a checkpoint of the whole log unless the latest one already covers it. Refuses when
/// the log no longer matches an earlier checkpoint: the log never signs two inconsistent heads.
pub fn sign_checkpoint(archive: &Archive, catalog: &Catalog) -> Result<Option<CheckpointRow>> {
    let tree = checked_tree(catalog)?;
    let size = tree.len();
    for cp in catalog.checkpoints()? {
        if tree.root(cp.size) != Some(cp.root) {
            return Err(crate::Error::Internal(format!(
                "the log no longer matches the checkpoint of size {} it signed; refusing to sign \
                 another (run `trove fsck`)",
                cp.size
            )));
        }
    }
    if catalog.latest_checkpoint()?.is_some_and(|c| c.size == size) {
        return Ok(None);
    }
    let signer = signer(archive)?;
    let root = tree
        .root(size)
        .unwrap_or_else(trove_proof::merkle::empty_root);
    let body = Checkpoint {
        origin: signer.name().to_string(),
        size,
        root,
    }
    .body();
    let note = signer.sign(&body).map_err(proof_err)?;
    catalog.add_checkpoint(size, &root, &note)?;
    let latest = archive.root.join("log/checkpoint");
    std::fs::write(&latest, &note).map_err(|e| io(&latest, e))?;
    Ok(catalog.latest_checkpoint()?)
}
