//! `pubkey`, `checkpoint`, `prove`, `consistency`, `excerpt`, `verify-excerpt` and `fsck`: the
//! tamper-evident log as the user sees it (docs/proofs.md).

use crate::commands::UsageError;
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use trove_ingest::ledger;
use trove_model::Sha256Hash;
use trove_proof::leaf::Leaf;
use trove_proof::merkle::{self, Hash};
use trove_proof::note::{Checkpoint, Verifier};
use trove_store::{Archive, BlobStore, Catalog, CheckpointRow, ItemRow};

/// Exit code when verification finds the data inconsistent.
const INVALID: u8 = 65;

fn b64(h: &Hash) -> String {
    B64.encode(h)
}

fn unb64(s: &str) -> Option<Hash> {
    B64.decode(s).ok()?.try_into().ok()
}

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

/// An item's latest leaf with its inclusion proof against a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenLeaf {
    pub leaf_index: u64,
    /// The canonical leaf encoding (docs/proofs.md), as text.
    pub leaf: String,
    /// Audit path, base64 hashes.
    pub proof: Vec<String>,
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

/// The excerpt bundle (`.trove-excerpt`): compact JSON in exactly the form serde_json writes, so
/// one bundle has one byte string, signed as a whole by the archive key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    /// A signed note over `trove-excerpt/v1` and the SHA-256 of this bundle with this field
    /// empty: it covers what the log cannot (the DKIM keys, the choice and order of items).
    pub signature: String,
    pub checkpoint: String,
    pub items: Vec<BundleItem>,
    pub conversations: Vec<BundleConversation>,
    /// Key-store lines for the DKIM selectors the revealed emails name.
    #[serde(default)]
    pub dkim_keys: Vec<String>,
}

// No deny_unknown_fields (serde cannot combine it with flatten): the canonical-form check
// rejects unknown fields instead.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BundleItem {
    pub id: String,
    #[serde(flatten)]
    pub proven: ProvenLeaf,
    /// The raw bytes, base64; null when withheld.
    pub raw: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConversation {
    pub id: String,
    /// Every message of the conversation, in sequence order.
    pub leaves: Vec<ProvenLeaf>,
}

pub const FORMAT: &str = "trove-excerpt/v1";

/// The text the bundle signature signs: the format and the SHA-256 of the bundle with an empty
/// signature field.
fn signed_text(b: &Bundle) -> Result<String> {
    let mut unsigned = b.clone();
    unsigned.signature = String::new();
    let digest = Sha256Hash::of(&serde_json::to_vec(&unsigned)?);
    Ok(format!("{FORMAT}\n{}\n", digest.to_hex()))
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

/// What `verify-excerpt` establishes.
#[derive(Debug, Default, Serialize)]
pub struct ExcerptReport {
    pub valid: bool,
    pub checkpoint: Option<Value>,
    pub items: Vec<Value>,
    pub conversations: Vec<Value>,
    pub complete: bool,
    pub errors: Vec<String>,
}

fn check_leaf(
    p: &ProvenLeaf,
    cp: &Checkpoint,
    what: &str,
    errors: &mut Vec<String>,
) -> Option<Leaf> {
    let leaf = match Leaf::parse(p.leaf.as_bytes()) {
        Ok(l) => l,
        Err(e) => {
            errors.push(format!("{what}: leaf {}: {e}", p.leaf_index));
            return None;
        }
    };
    let proof: Option<Vec<Hash>> = p.proof.iter().map(|h| unb64(h)).collect();
    let Some(proof) = proof else {
        errors.push(format!(
            "{what}: the proof of leaf {} is not base64 hashes",
            p.leaf_index
        ));
        return None;
    };
    let h = merkle::leaf_hash(p.leaf.as_bytes());
    if !merkle::verify_inclusion(&h, p.leaf_index, cp.size, &proof, &cp.root) {
        errors.push(format!(
            "{what}: leaf {} is not included in the checkpoint (proof does not lead to its root)",
            p.leaf_index
        ));
        return None;
    }
    Some(leaf)
}

pub fn check_bundle(text: &[u8], key: &str) -> ExcerptReport {
    let mut r = ExcerptReport::default();
    let bundle: Bundle = match serde_json::from_slice(text) {
        Ok(b) => b,
        Err(e) => {
            r.errors
                .push(format!("the bundle is not a trove excerpt: {e}"));
            return r;
        }
    };
    if bundle.format != FORMAT {
        r.errors.push(format!("unknown format `{}`", bundle.format));
        return r;
    }
    // One bundle, one byte string: anything else (even whitespace) is not what was signed.
    if serde_json::to_vec(&bundle).ok().as_deref() != Some(text) {
        r.errors
            .push("the bundle is not in its canonical form (bytes were changed or added)".into());
    }
    let verifier = match Verifier::parse(key) {
        Ok(v) => v,
        Err(e) => {
            r.errors.push(e.to_string());
            return r;
        }
    };
    let cp = match verifier
        .verify(&bundle.checkpoint)
        .map_err(|e| e.to_string())
        .and_then(|t| Checkpoint::parse(t).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            r.errors.push(format!("checkpoint: {e}"));
            return r;
        }
    };
    if cp.origin != verifier.name {
        r.errors.push(format!(
            "checkpoint origin `{}` is not the key's name `{}`",
            cp.origin, verifier.name
        ));
    }
    r.checkpoint =
        Some(json!({"origin": cp.origin, "size": cp.size, "root": hex::encode(cp.root)}));
    match (verifier.verify(&bundle.signature), signed_text(&bundle)) {
        (Ok(t), Ok(want)) if t == want => {}
        (Ok(_), _) => r
            .errors
            .push("the bundle signature is over different content: the bundle was changed".into()),
        (Err(e), _) => r.errors.push(format!("bundle signature: {e}")),
    }
    let mut keys = trove_verify::KeyRing::default();
    let (lines, bad) = trove_verify::keys::parse_key_file(&bundle.dkim_keys.join("\n"));
    for b in bad {
        r.errors.push(format!("dkim key {}: {}", b.line, b.reason));
    }
    for (i, l) in lines.into_iter().enumerate() {
        keys.add(
            &l.name,
            trove_verify::StoredKey {
                id: i as i64,
                source: "excerpt".into(),
                record: trove_verify::keys::parse_record(&l.value),
            },
        );
    }
    let opts = trove_verify::Options::now(6 * 3600);
    let mut revealed: BTreeMap<String, bool> = BTreeMap::new();
    for it in &bundle.items {
        let what = format!("item {}", it.id);
        let Some(leaf) = check_leaf(&it.proven, &cp, &what, &mut r.errors) else {
            r.items.push(json!({"id": it.id, "included": false}));
            continue;
        };
        if !leaf.raw_sha256.starts_with(&it.id) || it.id.len() < 8 {
            r.errors
                .push(format!("{what}: the id does not name the leaf's raw bytes"));
        }
        let mut entry = json!({"id": it.id, "included": true, "leaf_index": it.proven.leaf_index,
                               "kind": leaf.kind, "revealed": it.raw.is_some()});
        if let Some(c) = &leaf.conversation {
            entry["conversation"] = json!(c);
            entry["seq"] = json!(leaf.seq);
        }
        if let Some(b) = &it.raw {
            match B64.decode(b) {
                Ok(raw) if Sha256Hash::of(&raw).to_hex() == leaf.raw_sha256 => {
                    if leaf.kind == "email" {
                        let v = trove_verify::verify(&raw, &keys, &opts);
                        entry["dkim"] = json!(v.verdict);
                    }
                }
                Ok(_) => {
                    r.errors.push(format!(
                        "{what}: the raw bytes do not hash to the logged SHA-256"
                    ));
                    entry["included"] = json!(false);
                }
                Err(_) => r
                    .errors
                    .push(format!("{what}: the raw bytes are not base64")),
            }
        }
        revealed.insert(leaf.raw_sha256.clone(), it.raw.is_some());
        r.items.push(entry);
    }
    let mut complete = true;
    for c in &bundle.conversations {
        let what = format!("conversation {}", c.id);
        let mut seqs = Vec::new();
        let (mut shown, mut withheld) = (vec![], vec![]);
        for p in &c.leaves {
            let Some(leaf) = check_leaf(p, &cp, &what, &mut r.errors) else {
                continue;
            };
            if leaf.conversation.as_deref() != Some(c.id.as_str()) {
                r.errors
                    .push(format!("{what}: leaf {} belongs elsewhere", p.leaf_index));
                continue;
            }
            let seq = leaf.seq.unwrap_or(0);
            seqs.push(seq);
            if revealed.get(&leaf.raw_sha256) == Some(&true) {
                shown.push(seq);
            } else {
                withheld.push(seq);
            }
        }
        seqs.sort_unstable();
        let contiguous = seqs.iter().enumerate().all(|(i, s)| *s == i as i64 + 1);
        if !contiguous {
            r.errors.push(format!(
                "{what}: sequence numbers are not 1..{}: messages of the conversation are missing from the bundle",
                seqs.len()
            ));
        }
        complete &= withheld.is_empty();
        r.conversations
            .push(json!({"id": c.id, "total": seqs.len(), "revealed": shown,
                                    "withheld": withheld}));
    }
    // An excerpt of emails outside conversations is complete when nothing is withheld.
    complete &= revealed.values().all(|v| *v);
    r.complete = complete;
    r.valid = r.errors.is_empty();
    r
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
