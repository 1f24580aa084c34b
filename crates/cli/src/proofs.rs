//! `pubkey`, `checkpoint`, `prove`, `consistency`, `excerpt`, `verify-excerpt` and `fsck`: the
//! tamper-evident log as the user sees it (docs/proofs.md).

use crate::commands::UsageError;
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use trove_ingest::ledger;
use trove_proof::excerpt::{b64, check_bundle};
use trove_store::Archive;

/// Exit code when verification finds the data inconsistent.
const INVALID: u8 = 65;

use trove_service::proofs::{Selection, latest, tlog_proof_text};

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

pub fn prove(archive: &Archive, id: &str, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let p = trove_service::proofs::prove(archive, &cat, id)?;
    if json {
        outln!("{p}");
    } else {
        print!("{}", tlog_proof_text(&p));
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
    let sel = match (&a.conversation, &a.thread, a.query.is_empty()) {
        (Some(c), None, true) => Selection::Conversation(c.clone()),
        (None, Some(t), true) => Selection::Thread(t.clone()),
        (None, None, false) => Selection::Query(a.query.join(" ")),
        _ => {
            return Err(UsageError(
                "give a query, or --conversation ID, or --thread ID (one of them)".into(),
            )
            .into());
        }
    };
    if a.output.exists() {
        bail!("{} exists; choose another name", a.output.display());
    }
    let bundle = trove_service::proofs::excerpt(archive, &cat, &sel, &a.redact)?;
    let cp = latest(&cat)?;
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
