//! Inclusion proofs and excerpt bundles (docs/proofs.md).

use crate::UsageError;
use anyhow::{Context, Result, anyhow};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use trove_ingest::ledger;
use trove_model::Sha256Hash;
use trove_proof::excerpt::{
    Bundle, BundleConversation, BundleItem, FORMAT, ProvenLeaf, b64, signed_text,
};
use trove_proof::merkle;
use trove_store::{Archive, BlobStore, Catalog, CheckpointRow, ItemRow};

/// The latest signed checkpoint.
pub fn latest(cat: &Catalog) -> Result<CheckpointRow> {
    cat.latest_checkpoint()?
        .ok_or_else(|| anyhow!("the archive has no checkpoint yet (run `trove checkpoint`)"))
}

/// The inclusion proof of the latest leaf carrying `raw_hex`, in a tree of `size` leaves.
pub fn prove_leaf(
    cat: &Catalog,
    tree: &trove_proof::Tree,
    raw_hex: &str,
    size: u64,
) -> Result<ProvenLeaf> {
    let leaf = cat
        .latest_leaf_of(raw_hex)?
        .filter(|l| l.index < size)
        .ok_or_else(|| anyhow!("{raw_hex} is not in the log as of size {size}"))?;
    let proof = tree
        .inclusion_proof(leaf.index, size)
        .ok_or_else(|| anyhow!("no proof for leaf {}", leaf.index))?;
    Ok(ProvenLeaf {
        leaf_index: leaf.index,
        leaf: String::from_utf8(leaf.data).context("leaf data")?,
        proof: proof.iter().map(b64).collect(),
    })
}

/// The inclusion proof of an item (or of an attachment, by its full SHA-256) against the latest
/// checkpoint (`trove prove --json`).
pub fn prove(archive: &Archive, cat: &Catalog, id: &str) -> Result<Value> {
    let raw_hex = match cat.find_item(id) {
        Ok(it) => it.raw_sha256.to_hex(),
        Err(e) => match Sha256Hash::from_hex(id) {
            Some(h) if cat.latest_leaf_of(&h.to_hex())?.is_some() => h.to_hex(),
            _ => return Err(e.into()),
        },
    };
    let cp = latest(cat)?;
    let tree = ledger::tree(cat)?;
    let p = prove_leaf(cat, &tree, &raw_hex, cp.size)?;
    Ok(
        json!({"id": &raw_hex[..24], "raw_sha256": raw_hex, "leaf_index": p.leaf_index,
              "leaf": p.leaf, "leaf_hash": hex::encode(merkle::leaf_hash(p.leaf.as_bytes())),
              "tree_size": cp.size, "root": hex::encode(cp.root), "proof": p.proof,
              "checkpoint": cp.note, "verifier_key": ledger::signer(archive)?.verifier()}),
    )
}

/// The proof as a C2SP tlog-proof text (c2sp.org/tlog-proof): the leaf travels in `extra`.
pub fn tlog_proof_text(p: &Value) -> String {
    let mut out = String::from("c2sp.org/tlog-proof@v1\n");
    out.push_str(&format!(
        "extra {}\n",
        B64.encode(p["leaf"].as_str().unwrap_or("").as_bytes())
    ));
    out.push_str(&format!("index {}\n", p["leaf_index"]));
    for h in p["proof"].as_array().into_iter().flatten() {
        out.push_str(h.as_str().unwrap_or(""));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(p["checkpoint"].as_str().unwrap_or(""));
    out
}

/// What an excerpt holds: the items of a query, of a conversation, or of a thread.
pub enum Selection {
    Query(String),
    Conversation(String),
    Thread(String),
}

/// Builds and signs an excerpt bundle: each item's raw bytes (unless withheld by `redact`, a list
/// of item ids) with its inclusion proof, every leaf of each conversation touched so gaps show,
/// and the DKIM keys the revealed items need.
pub fn excerpt(
    archive: &Archive,
    cat: &Catalog,
    sel: &Selection,
    redact: &[String],
) -> Result<Bundle> {
    let items: Vec<ItemRow> = match sel {
        Selection::Conversation(c) => cat.conversation_items(c, None)?,
        // An item stands for its conversation (a DM) or its thread (mail, posts).
        Selection::Thread(t) => match cat.find_item(t).ok() {
            Some(it) => match (it.conversation, it.thread) {
                (Some(c), _) => cat.conversation_items(&c, None)?,
                (None, Some(th)) => cat.thread_items(&th)?.into_iter().map(|m| m.0).collect(),
                (None, None) => vec![],
            },
            None if cat.conversation(t)?.is_some() => cat.conversation_items(t, None)?,
            None => cat.thread_items(t)?.into_iter().map(|m| m.0).collect(),
        },
        Selection::Query(q) if q.trim().is_empty() => {
            return Err(
                UsageError("an excerpt needs a query, a conversation or a thread".into()).into(),
            );
        }
        Selection::Query(q) => crate::search::matching_items(archive, cat, q)?,
    };
    if items.is_empty() {
        return Err(
            trove_store::Error::NotFound("nothing to excerpt: no item matches".into()).into(),
        );
    }
    let redact: BTreeSet<String> = redact
        .iter()
        .map(|r| cat.find_item(r).map(|i| i.raw_sha256.to_hex()))
        .collect::<trove_store::Result<_>>()?;
    let cp = latest(cat)?;
    let tree = ledger::tree(cat)?;
    let mut bundle = Bundle {
        format: FORMAT.into(),
        signature: String::new(),
        checkpoint: cp.note.clone(),
        items: vec![],
        conversations: vec![],
        dkim_keys: vec![],
    };
    let mut conversations = BTreeSet::new();
    let mut key_names = BTreeSet::new();
    for it in &items {
        let raw_hex = it.raw_sha256.to_hex();
        let proven = prove_leaf(cat, &tree, &raw_hex, cp.size)
            .with_context(|| format!("item {} (ingested after the latest checkpoint?)", it.id))?;
        let withheld = redact.contains(&raw_hex);
        let raw = if withheld {
            None
        } else {
            if let Some(v) = crate::items::stored_verification(cat, &it.raw_sha256)? {
                key_names.extend(v.key_names());
            }
            Some(B64.encode(archive.blobs.get(&it.raw_sha256)?))
        };
        if let Some(c) = &it.conversation {
            conversations.insert(c.clone());
        }
        bundle.items.push(BundleItem {
            id: it.id.to_string(),
            proven,
            raw,
        });
    }
    for c in conversations {
        let mut leaves = Vec::new();
        for it in cat.conversation_items(&c, None)? {
            leaves.push(prove_leaf(cat, &tree, &it.raw_sha256.to_hex(), cp.size)?);
        }
        bundle
            .conversations
            .push(BundleConversation { id: c, leaves });
    }
    for k in cat.keys()? {
        if key_names.contains(&k.name) {
            bundle.dkim_keys.push(format!("{} {}", k.name, k.record));
        }
    }
    let signer = ledger::signer(archive)?;
    bundle.signature = signer
        .sign(&signed_text(&bundle)?)
        .map_err(|e| anyhow!("signing the excerpt: {e}"))?;
    Ok(bundle)
}
