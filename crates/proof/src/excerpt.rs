//! Excerpt bundles: what `trove excerpt` writes and `trove verify-excerpt` checks, offline.
//!
//! A library (not the CLI) so the reader can be fuzzed; see docs/proofs.md for the format.

use crate::leaf::Leaf;
use crate::merkle::{self, Hash};
use crate::note::{Checkpoint, Verifier};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub fn b64(h: &Hash) -> String {
    B64.encode(h)
}

fn unb64(s: &str) -> Option<Hash> {
    B64.decode(s).ok()?.try_into().ok()
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
pub fn signed_text(b: &Bundle) -> Result<String, serde_json::Error> {
    let mut unsigned = b.clone();
    unsigned.signature = String::new();
    let digest = Sha256::digest(serde_json::to_vec(&unsigned)?);
    Ok(format!("{FORMAT}\n{}\n", hex::encode(digest)))
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
                Ok(raw) if hex::encode(Sha256::digest(&raw)) == leaf.raw_sha256 => {
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
