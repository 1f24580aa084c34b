//! `pubkey`, `checkpoint`, `prove`, `consistency`, `excerpt`, `verify-excerpt` and `fsck`: the
//! tamper-evident log as the user sees it (docs/proofs.md).

use crate::commands::UsageError;
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use trove_ingest::ledger;
use trove_model::Sha256Hash;
use trove_proof::excerpt::{
    Bundle, BundleConversation, BundleItem, FORMAT, ProvenLeaf, b64, check_bundle, signed_text,
};
use trove_proof::merkle;
use trove_store::{Archive, BlobStore, Catalog, CheckpointRow, ItemRow};

/// Exit code when verification finds the data inconsistent.
const INVALID: u8 = 65;

fn latest(cat: &Catalog) -> Result<CheckpointRow> {
    cat.latest_checkpoint()?
        .ok_or_else(|| anyhow!("the archive has no checkpoint yet (run `trove checkpoint`)"))
}

pub fn pubkey(archive: &Archive, json: bool) -> Result<ExitCode> {
    let s = ledger::signer(archive)?;
    if json {
        outln!(
            "{}",
            json!({"origin": s.name(), "verifier_key": s.verifier()})
        );
    } else {
        outln!("{}", s.verifier());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn checkpoint(archive: &Archive, wait: bool, json: bool) -> Result<ExitCode> {
    let lock = archive.lock(wait)?;
    let mut cat = archive.catalog_rw(&lock)?;
    let added = ledger::append_pending(&mut cat)?;
    let signed = ledger::sign_checkpoint(archive, &cat)?;
    let cp = latest(&cat)?;
    if json {
        outln!(
            "{}",
            json!({"size": cp.size, "root": hex::encode(cp.root), "new": signed.is_some(),
                   "leaves_added": added, "note": cp.note})
        );
    } else {
        print!("{}", cp.note);
    }
    Ok(ExitCode::SUCCESS)
}

fn prove_leaf(
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

pub fn prove(archive: &Archive, id: &str, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let raw_hex = match cat.find_item(id) {
        Ok(it) => it.raw_sha256.to_hex(),
        Err(e) => {
            // Attachments are leaves too: accept a full SHA-256.
            match Sha256Hash::from_hex(id) {
                Some(h) if cat.latest_leaf_of(&h.to_hex())?.is_some() => h.to_hex(),
                _ => return Err(e.into()),
            }
        }
    };
    let cp = latest(&cat)?;
    let tree = ledger::tree(&cat)?;
    let p = prove_leaf(&cat, &tree, &raw_hex, cp.size)?;
    if json {
        outln!(
            "{}",
            json!({"id": &raw_hex[..24], "raw_sha256": raw_hex, "leaf_index": p.leaf_index,
                   "leaf": p.leaf, "leaf_hash": hex::encode(merkle::leaf_hash(p.leaf.as_bytes())),
                   "tree_size": cp.size, "root": hex::encode(cp.root), "proof": p.proof,
                   "checkpoint": cp.note, "verifier_key": ledger::signer(archive)?.verifier()})
        );
    } else {
        // c2sp.org/tlog-proof: the leaf data travels in the `extra` line.
        outln!("c2sp.org/tlog-proof@v1");
        outln!("extra {}", B64.encode(p.leaf.as_bytes()));
        outln!("index {}", p.leaf_index);
        for h in &p.proof {
            outln!("{h}");
        }
        outln!();
        print!("{}", cp.note);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn consistency(archive: &Archive, old: u64, new: Option<u64>, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let tree = ledger::tree(&cat)?;
    let new = match new {
        Some(n) => n,
        None => latest(&cat)?.size,
    };
    let proof = tree.consistency_proof(old, new).ok_or_else(|| {
        UsageError(format!(
            "no consistency proof from {old} to {new} (the log has {} leaves; sizes start at 1)",
            tree.len()
        ))
    })?;
    let (old_root, new_root) = (
        tree.root(old).unwrap_or_default(),
        tree.root(new).unwrap_or_default(),
    );
    if json {
        outln!(
            "{}",
            json!({"old_size": old, "new_size": new, "old_root": hex::encode(old_root),
                   "new_root": hex::encode(new_root),
                   "proof": proof.iter().map(b64).collect::<Vec<_>>()})
        );
    } else {
        outln!("old {old} {}", b64(&old_root));
        outln!("new {new} {}", b64(&new_root));
        for h in &proof {
            outln!("{}", b64(h));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub struct ExcerptArgs {
    pub query: Vec<String>,
    pub conversation: Option<String>,
    pub thread: Option<String>,
    pub redact: Vec<String>,
    pub output: std::path::PathBuf,
}

pub fn excerpt(archive: &Archive, a: &ExcerptArgs, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let items: Vec<ItemRow> = match (&a.conversation, &a.thread, a.query.is_empty()) {
        (Some(c), None, true) => cat.conversation_items(c, None)?,
        (None, Some(t), true) => {
            let it = cat.find_item(t).ok();
            let tid = it.and_then(|i| i.thread).unwrap_or_else(|| t.clone());
            cat.thread_items(&tid)?.into_iter().map(|m| m.0).collect()
        }
        (None, None, false) => crate::workflow::matching_items(archive, &cat, &a.query.join(" "))?,
        _ => {
            return Err(UsageError(
                "give a query, or --conversation ID, or --thread ID (one of them)".into(),
            )
            .into());
        }
    };
    if items.is_empty() {
        bail!("nothing to excerpt: no item matches");
    }
    let redact: BTreeSet<String> = a
        .redact
        .iter()
        .map(|r| cat.find_item(r).map(|i| i.raw_sha256.to_hex()))
        .collect::<trove_store::Result<_>>()?;
    let cp = latest(&cat)?;
    let tree = ledger::tree(&cat)?;
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
        let proven = prove_leaf(&cat, &tree, &raw_hex, cp.size)
            .with_context(|| format!("item {} (ingested after the latest checkpoint?)", it.id))?;
        let withheld = redact.contains(&raw_hex);
        let raw = if withheld {
            None
        } else {
            if let Some(v) = crate::verify::stored(&cat, &it.raw_sha256)? {
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
            leaves.push(prove_leaf(&cat, &tree, &it.raw_sha256.to_hex(), cp.size)?);
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
    if a.output.exists() {
        bail!("{} exists; choose another name", a.output.display());
    }
    let signer = ledger::signer(archive)?;
    bundle.signature = signer
        .sign(&signed_text(&bundle)?)
        .map_err(|e| anyhow!("signing the excerpt: {e}"))?;
    std::fs::write(&a.output, serde_json::to_vec(&bundle)?)
        .with_context(|| format!("writing {}", a.output.display()))?;
    let revealed = bundle.items.iter().filter(|i| i.raw.is_some()).count();
    if json {
        outln!(
            "{}",
            json!({"output": a.output.display().to_string(), "items": bundle.items.len(),
                   "revealed": revealed, "conversations": bundle.conversations.len(),
                   "checkpoint_size": cp.size})
        );
    } else {
        outln!(
            "wrote {}: {} items ({} revealed, {} withheld), {} conversations, checkpoint {}",
            a.output.display(),
            bundle.items.len(),
            revealed,
            bundle.items.len() - revealed,
            bundle.conversations.len(),
            cp.size
        );
        outln!(
            "verify it offline: trove verify-excerpt {} --key '{}'",
            a.output.display(),
            ledger::signer(archive)?.verifier()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify_excerpt(file: &Path, key: &str, json: bool) -> Result<ExitCode> {
    let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let r = check_bundle(&text, key);
    if json {
        outln!("{}", serde_json::to_string(&r)?);
    } else {
        if let Some(cp) = &r.checkpoint {
            outln!(
                "checkpoint  {} size {} root {}",
                cp["origin"].as_str().unwrap_or(""),
                cp["size"],
                cp["root"].as_str().unwrap_or("")
            );
        }
        for it in &r.items {
            let state = match (it["included"].as_bool(), it["revealed"].as_bool()) {
                (Some(true), Some(true)) => "included, unaltered, revealed",
                (Some(true), _) => "included, withheld",
                _ => "NOT PROVEN",
            };
            let dkim = it["dkim"]
                .as_str()
                .map(|d| format!("  dkim {d}"))
                .unwrap_or_default();
            outln!("item {}  {state}{dkim}", it["id"].as_str().unwrap_or(""));
        }
        for c in &r.conversations {
            outln!(
                "conversation {}: messages {} of {} shown; {} withheld",
                c["id"].as_str().unwrap_or(""),
                c["revealed"],
                c["total"],
                c["withheld"]
            );
        }
        outln!(
            "complete    {}",
            if r.complete {
                "yes: nothing withheld"
            } else {
                "no"
            }
        );
        for e in &r.errors {
            outln!("error       {e}");
        }
        outln!("{}", if r.valid { "VALID" } else { "INVALID" });
    }
    Ok(if r.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    })
}
