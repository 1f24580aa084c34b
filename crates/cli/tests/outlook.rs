//! Outlook stores end to end: the real binary on the PSTs of `../shared/data/outlook/pst/`,
//! checked against `readpst -D` (pst-utils), an independent reader in C.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestArchive, data_dir};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pst(name: &str) -> PathBuf {
    let p = data_dir().join("outlook/pst").join(name);
    assert!(p.exists(), "missing corpus file {}", p.display());
    p
}

/// What readpst makes of a store: one parsed .eml per mail, Deleted Items included.
struct Oracle {
    mails: Vec<(Option<String>, Option<String>, BTreeSet<String>)>,
}

fn readpst(store: &Path) -> Oracle {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("readpst")
        .args(["-D", "-q", "-e", "-o"])
        .arg(out.path())
        .arg(store)
        .status()
        .expect("readpst (Debian pst-utils) is required: .ci/run installs it");
    assert!(status.success(), "readpst failed on {}", store.display());
    let mut files = vec![];
    let mut stack = vec![out.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "eml") {
                files.push(p);
            }
        }
    }
    let mails = files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).unwrap();
            let m = MessageParser::default().parse(&bytes).unwrap();
            let from = m
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .filter(|a| a.contains('@'))
                .map(str::to_lowercase);
            let names = m
                .attachments()
                // Embedded messages are compared as items, not as attachment names (readpst
                // gives them none).
                .filter(|a| !a.is_message())
                .filter_map(|a| a.attachment_name().map(str::to_string))
                // readpst turns an RTF body into an attachment; trove reads it as the body.
                .filter(|n| n != "rtf-body.rtf")
                .collect();
            (m.subject().map(str::to_string), from, names)
        })
        .collect();
    Oracle { mails }
}

/// Top-level mails of a store in the archive (embedded messages have `/attachment-N` paths).
fn trove_mails(a: &TestArchive, store: &Path) -> Vec<Value> {
    let prefix = format!("{}!", store.display());
    a.jsonl(&["ls"])
        .iter()
        .map(|it| a.json(&["show", it["id"].as_str().unwrap()]))
        .filter(|it| {
            it["provenance"].as_array().unwrap().iter().any(|p| {
                let path = p["path"].as_str().unwrap();
                path.starts_with(&prefix) && !path.contains("/attachment-")
            })
        })
        .collect()
}

fn summary(it: &Value) -> (Option<String>, Option<String>, BTreeSet<String>) {
    let from = it["from"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|m| m["address"].as_str())
        .map(str::to_lowercase);
    let names = it["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["mime_type"] != "message/rfc822")
        .filter_map(|a| a["filename"].as_str().map(str::to_string))
        .collect();
    (it["subject"].as_str().map(str::to_string), from, names)
}

#[test]
fn every_store_gives_readpsts_mail_with_its_subjects_senders_and_attachments() {
    let stores = [
        "sample1.pst",
        "sample2.pst",
        "submessage.pst",
        "attachAndInline.pst",
        "dist-list.pst",
        "Outlook.pst",
    ];
    let a = TestArchive::new();
    let paths: Vec<PathBuf> = stores.iter().map(|s| pst(s)).collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let s = a.ingest(&refs);
    assert_eq!(s["quarantined"], 0, "{s}");
    for p in &paths {
        let oracle = readpst(p);
        let ours = trove_mails(&a, p);
        assert_eq!(
            ours.len(),
            oracle.mails.len(),
            "mail count of {} (readpst -D: {})",
            p.display(),
            oracle.mails.len()
        );
        let mut want: Vec<_> = oracle.mails.clone();
        let mut got: Vec<_> = ours.iter().map(summary).collect();
        want.sort();
        got.sort();
        assert_eq!(
            got,
            want,
            "subjects, senders and attachment names of {}",
            p.display()
        );
        for it in &ours {
            assert_eq!(it["reconstructed"], true, "{it}");
            let prov = &it["provenance"][0];
            assert_eq!(prov["format"], "pst");
            let store_sha = common::sha256_hex(&std::fs::read(p).unwrap());
            assert_eq!(prov["context"]["store_sha256"], store_sha.as_str());
            assert!(
                prov["context"]["node_id"]
                    .as_str()
                    .unwrap()
                    .starts_with("0x")
            );
            let raw = a.ok(&["raw", it["id"].as_str().unwrap()]);
            assert!(
                raw.starts_with(b"X-Trove-Reconstructed: "),
                "a rebuilt message says so in its own bytes"
            );
        }
    }
    // Items that are not mail are listed by kind, not dropped.
    let q = a.jsonl(&["quarantine"]);
    let reasons: Vec<String> = q
        .iter()
        .filter(|r| r["path"].as_str().unwrap().contains("dist-list.pst!"))
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("1 appointment")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("1 contact, 1 distribution list")),
        "{reasons:?}"
    );
    // Ingest is idempotent: the rebuilt bytes are a function of the store.
    let again = a.ingest(&refs);
    assert_eq!(again["items_new"], 0, "{again}");
}

#[test]
fn an_embedded_message_is_its_own_item_with_a_parent() {
    let a = TestArchive::new();
    let store = pst("submessage.pst");
    a.ingest(&[&store]);
    let items: Vec<Value> = a
        .jsonl(&["ls"])
        .iter()
        .map(|it| a.json(&["show", it["id"].as_str().unwrap()]))
        .collect();
    assert_eq!(items.len(), 2);
    let child = items
        .iter()
        .find(|it| it["provenance"][0]["context"]["parent"].is_string())
        .expect("the embedded message is an item");
    let parent = items.iter().find(|it| it["id"] != child["id"]).unwrap();
    assert_eq!(child["provenance"][0]["context"]["parent"], parent["id"]);
    assert_eq!(child["subject"], "This is an embedded message");
    assert!(
        parent["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|at| at["mime_type"] == "message/rfc822"),
        "the parent keeps the message as an attachment too: {parent}"
    );
    let shown = String::from_utf8(a.ok(&["show", child["id"].as_str().unwrap()])).unwrap();
    assert!(shown.contains(&format!("embedded in {}", parent["id"].as_str().unwrap())));
    assert!(shown.contains("reconstructed: true"), "{shown}");
}

#[test]
fn the_ansi_twin_gives_the_same_mail_and_inline_images_are_kept() {
    let a = TestArchive::new();
    a.ingest(&[
        &pst("sample1.pst"),
        &pst("sample2.pst"),
        &pst("attachAndInline.pst"),
    ]);
    let one = trove_mails(&a, &pst("sample1.pst"));
    let two = trove_mails(&a, &pst("sample2.pst"));
    assert_eq!((one.len(), two.len()), (1, 1));
    for key in ["subject", "from", "to", "date", "native_id"] {
        assert_eq!(one[0][key], two[0][key], "{key}");
    }
    let atts = |v: &Value| {
        v["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["filename"].clone(), x["sha256"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(atts(&one[0]), atts(&two[0]));
    let words = |v: &Value| {
        v["body_text"]
            .as_str()
            .unwrap()
            .replace(['\u{2019}', '\''], "'")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(words(&one[0]), words(&two[0]));
    assert!(words(&one[0]).contains("my daughter and our puppy"));

    let inline = trove_mails(&a, &pst("attachAndInline.pst"));
    let names: BTreeSet<String> = inline[0]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["filename"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["attach.png".into(), "image001.png".into()])
    );
    // The body was RTF-encapsulated HTML: it is read as HTML, not left as an RTF attachment.
    assert!(!inline[0]["body_text"].as_str().unwrap().contains("\\rtf"));
}
