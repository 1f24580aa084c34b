//! The tamper-evident log end to end: proofs checked by an independent Python verifier
//! (hashlib + `cryptography`), append-only growth, excerpts with visible gaps that fail on any
//! changed byte, and fsck finding tampered blobs, catalog rows and log leaves.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestArchive, linux_mips};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn oracle(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/tlog.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed for the oracle");
    assert!(
        out.status.success(),
        "oracle rejected {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn proofs_verify_independently_and_the_log_only_grows() {
    let a = TestArchive::new();
    let summary = a.ingest(&[&linux_mips(1996)]);
    let first = a.json(&["checkpoint"]);
    assert_eq!(
        first["size"], summary["checkpoint"],
        "ingest signed this checkpoint"
    );
    assert_eq!(first["new"], false);
    let ids: Vec<String> = a
        .jsonl(&["ls"])
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() > 100, "{}", ids.len());
    let proofs = a.dir.path().join("proofs.jsonl");
    let mut lines = String::new();
    for id in ids.iter().step_by(17) {
        lines.push_str(&String::from_utf8(a.ok(&["prove", id, "--json"])).unwrap());
    }
    fs::write(&proofs, lines).unwrap();
    oracle(&["inclusion", proofs.to_str().unwrap()]);
    // The text form is C2SP tlog-proof.
    let text = String::from_utf8(a.ok(&["prove", &ids[0]])).unwrap();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");

    // More mail: a new checkpoint, consistent with the first.
    a.ingest(&[&linux_mips(1997)]);
    let second = a.json(&["checkpoint"]);
    let (m, n) = (
        first["size"].as_u64().unwrap(),
        second["size"].as_u64().unwrap(),
    );
    assert!(n > m);
    let cons = a.dir.path().join("consistency.json");
    fs::write(&cons, a.ok(&["consistency", &m.to_string(), "--json"])).unwrap();
    oracle(&[
        "consistency",
        first["root"].as_str().unwrap(),
        cons.to_str().unwrap(),
    ]);
    // Rerunning an ingest appends nothing and signs nothing new.
    let again = a.ingest(&[&linux_mips(1997)]);
    assert_eq!(again["log_leaves_added"], 0);
    assert_eq!(a.json(&["checkpoint"])["size"], n);
    let pubkey = String::from_utf8(a.ok(&["pubkey"])).unwrap();
    assert_eq!(
        pubkey,
        fs::read_to_string(a.path().join("keys/archive.pub")).unwrap()
    );
    let f = a.json(&["fsck"]);
    assert_eq!(f["ok"], true, "{f}");
}

/// A demo archive: DKIM-signed mail and a DM conversation of seven messages.
/// A logged conversation message gets a fresh leaf when an earlier one arrives and moves its
/// place in the conversation; logged items outside conversations are left alone.
#[test]
fn an_earlier_message_gives_the_later_ones_of_its_conversation_fresh_leaves() {
    let a = TestArchive::new();
    let dms = |name: &str, msgs: &[(&str, &str)]| -> PathBuf {
        let path = a.dir.path().join(name);
        let lines: Vec<String> = msgs
            .iter()
            .map(|(id, ts)| {
                format!(
                    r#"{{"kind": "dm", "native_id": "{id}", "conversation": "c-1", "sender": "signal:+15550100001", "recipients": ["signal:+15550100002"], "timestamp": "{ts}", "text": "message {id}"}}"#
                )
            })
            .collect();
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let later = dms(
        "later.jsonl",
        &[("2", "2020-03-04T10:00:00Z"), ("3", "2020-03-04T11:00:00Z")],
    );
    // Emails on both sides of the conversation in the catalog's order.
    a.ingest(&[&linux_mips(1996)]);
    a.ingest(&[&later]);
    a.ingest(&[&linux_mips(1997)]);
    let before = a.json(&["checkpoint"])["size"].as_u64().unwrap();
    let earlier = dms("earlier.jsonl", &[("1", "2020-03-04T09:00:00Z")]);
    let s = a.ingest(&[&earlier]);
    assert_eq!(
        s["log_leaves_added"], 3,
        "the new message and two moved: {s}"
    );
    assert_eq!(a.json(&["checkpoint"])["size"], before + 3);
    let (code, report) = fsck(&a.path());
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(a.ingest(&[&earlier])["log_leaves_added"], 0);
}

fn demo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo");
    let out = Command::new(common::trove_bin())
        .args(["demo", "--no-serve", "--dir"])
        .arg(&path)
        .output()
        .unwrap();
    succeeded(&out);
    (dir, path)
}

fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn trove(archive: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::trove_bin())
        .arg("--archive")
        .arg(archive)
        .args(args)
        .env_remove("TROVE_ARCHIVE")
        .output()
        .unwrap()
}

fn verify_excerpt(file: &Path, key: &str) -> (Option<i32>, Value) {
    let out = Command::new(common::trove_bin())
        .args(["verify-excerpt"])
        .arg(file)
        .args(["--key", key, "--json"])
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn excerpts_show_gaps_carry_dkim_and_fail_on_any_changed_byte() {
    let (tmp, archive) = demo();
    let key = String::from_utf8(trove(&archive, &["pubkey"]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let conv = "x:16589206-39344374";
    let thread: Value =
        serde_json::from_slice(&trove(&archive, &["thread", conv, "--json"]).stdout).unwrap();
    let msgs = thread.as_array().unwrap();
    assert_eq!(msgs.len(), 7);
    let id_of = |seq: u64| {
        msgs.iter().find(|m| m["seq"] == seq).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let file = tmp.path().join("chain.trove-excerpt");
    let (r2, r4) = (id_of(2), id_of(4));
    let out = trove(
        &archive,
        &[
            "excerpt",
            "--conversation",
            conv,
            "--redact",
            &r2,
            "--redact",
            &r4,
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, v) = verify_excerpt(&file, &key);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["complete"], false);
    let c = &v["conversations"][0];
    assert_eq!(c["id"], conv);
    assert_eq!(c["total"], 7);
    assert_eq!(c["revealed"], serde_json::json!([1, 3, 5, 6, 7]));
    assert_eq!(c["withheld"], serde_json::json!([2, 4]));
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["included"] == true)
    );
    oracle(&["excerpt", file.to_str().unwrap(), &key]);

    // A query excerpt reveals only its hits, and the rest of the conversation shows as gaps.
    let q = tmp.path().join("q.trove-excerpt");
    let out = trove(
        &archive,
        &["excerpt", "putintrump", "-o", q.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, v) = verify_excerpt(&q, &key);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["conversations"][0]["revealed"], serde_json::json!([1]));

    // Everything revealed: complete.
    let all = tmp.path().join("all.trove-excerpt");
    trove(
        &archive,
        &[
            "excerpt",
            "--conversation",
            conv,
            "-o",
            all.to_str().unwrap(),
        ],
    );
    let (_, v) = verify_excerpt(&all, &key);
    assert_eq!(v["complete"], true, "{v}");

    // Emails carry their DKIM keys: the signed one passes, the tampered copy does not.
    let mail = tmp.path().join("mail.trove-excerpt");
    trove(
        &archive,
        &[
            "excerpt",
            "from:openvault.example",
            "-o",
            mail.to_str().unwrap(),
        ],
    );
    let (_, v) = verify_excerpt(&mail, &key);
    assert_eq!(v["valid"], true, "{v}");
    let verdicts: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["dkim"].as_str())
        .collect();
    assert!(
        verdicts.contains(&"pass") && verdicts.contains(&"body_altered"),
        "{verdicts:?}"
    );

    // Any flipped bit anywhere makes the bundle invalid (sampled, plus the places that matter).
    let data = fs::read(&file).unwrap();
    let text = String::from_utf8(data.clone()).unwrap();
    let mut positions: Vec<usize> = (0..60).map(|i| (i * 7919 + 13) % data.len()).collect();
    for needle in [
        "\"raw\":\"",
        "\"proof\":[\"",
        "\"checkpoint\":\"",
        "\"leaf\":\"",
        "\"dkim_keys\"",
    ] {
        positions.push(text.find(needle).unwrap() + needle.len() + 3);
    }
    let flipped = tmp.path().join("flipped.trove-excerpt");
    for pos in positions {
        let mut b = data.clone();
        b[pos] ^= 0x04;
        fs::write(&flipped, &b).unwrap();
        let (code, v) = verify_excerpt(&flipped, &key);
        assert_eq!(code, Some(65), "flip at {pos} not caught: {v}");
        assert_eq!(v["valid"], false);
        assert!(!v["errors"].as_array().unwrap().is_empty());
    }
    // Another archive's key does not verify it.
    let other = TestArchive::new();
    let other_key = String::from_utf8(other.ok(&["pubkey"])).unwrap();
    let (code, _) = verify_excerpt(&file, other_key.trim());
    assert_eq!(code, Some(65));
}

fn sql(archive: &Path, statement: &str) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()",
        ])
        .arg(archive.join("catalog.sqlite"))
        .arg(statement)
        .output()
        .unwrap();
    succeeded(&out);
}

fn fsck(archive: &Path) -> (Option<i32>, Value) {
    let out = trove(archive, &["fsck", "--json"]);
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn fsck_finds_a_tampered_blob_catalog_row_and_log_leaf() {
    let (_tmp, archive) = demo();
    assert_eq!(fsck(&archive).0, Some(0));
    let items: Vec<Value> = String::from_utf8(trove(&archive, &["ls", "--json"]).stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (a, b) = (
        items[0]["raw_sha256"].as_str().unwrap().to_string(),
        items[1]["raw_sha256"].as_str().unwrap().to_string(),
    );
    // A blob whose content is not what its name says: in its pack, the record named `a` now
    // holds b's frame. The pack's index goes too, so fsck reads the pack record by record.
    let packs = archive.join("blobs/packs");
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = fs::read_dir(&packs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    let records = |bytes: &[u8]| -> Vec<(String, Vec<u8>)> {
        let mut out = vec![];
        let mut at = 0;
        while at + 40 <= bytes.len() {
            assert_eq!(&bytes[at..at + 4], b"TRVB");
            let len = u32::from_le_bytes(bytes[at + 36..at + 40].try_into().unwrap()) as usize;
            let hash: String = bytes[at + 4..at + 36]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            out.push((hash, bytes[at + 40..at + 40 + len].to_vec()));
            at += 40 + len;
        }
        out
    };
    let all: Vec<(String, Vec<u8>)> = saved
        .iter()
        .filter(|(p, _)| p.extension().unwrap() == "pack")
        .flat_map(|(_, bytes)| records(bytes))
        .collect();
    let frame_of = |h: &str| all.iter().find(|(x, _)| x == h).unwrap().1.clone();
    let b_frame = frame_of(&b);
    for (p, bytes) in &saved {
        if p.extension().unwrap() == "idx" {
            fs::remove_file(p).unwrap();
            continue;
        }
        let mut forged = vec![];
        for (h, frame) in records(bytes) {
            let frame = if h == a { b_frame.clone() } else { frame };
            forged.extend_from_slice(b"TRVB");
            forged.extend((0..32).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()));
            forged.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            forged.extend_from_slice(&frame);
        }
        fs::write(p, forged).unwrap();
    }
    let (code, r) = fsck(&archive);
    assert_eq!(code, Some(65));
    let p = &r["problems"][0];
    assert_eq!(p["kind"], "blob");
    assert_eq!(p["subject"], a);
    assert!(p["found"].as_str().unwrap().contains(&b), "{p}");
    for (p, bytes) in &saved {
        fs::write(p, bytes).unwrap();
    }
    assert_eq!(fsck(&archive).0, Some(0));

    // A catalog row edited after the fact no longer matches its log leaf.
    sql(
        &archive,
        &format!("UPDATE items SET native_id = 'forged@example' WHERE raw_sha256 = '{a}'"),
    );
    let (code, r) = fsck(&archive);
    assert_eq!(code, Some(65));
    let p = &r["problems"][0];
    assert_eq!(p["kind"], "item");
    assert_eq!(p["subject"], &a[..24]);
    assert!(p["found"].as_str().unwrap().contains("log leaf"), "{p}");
    let native = items[0]["native_id"].as_str().unwrap();
    sql(
        &archive,
        &format!("UPDATE items SET native_id = '{native}' WHERE raw_sha256 = '{a}'"),
    );
    assert_eq!(fsck(&archive).0, Some(0));

    // A log leaf rewritten: its hash, the item it vouches for and the checkpoint all disagree.
    sql(
        &archive,
        "UPDATE log_leaves SET data = CAST(replace(CAST(data AS TEXT), 'kind ', 'kind x') AS BLOB) WHERE idx = 3",
    );
    let (code, r) = fsck(&archive);
    assert_eq!(code, Some(65));
    let kinds: Vec<&str> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"leaf"), "{r}");
    let leaf = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "leaf")
        .unwrap();
    assert_eq!(leaf["subject"], "3");
    // And the log refuses to sign over it.
    let out = trove(&archive, &["checkpoint"]);
    assert!(!out.status.success());
}
