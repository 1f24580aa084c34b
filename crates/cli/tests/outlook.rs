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
    // `-j 0`: by default readpst forks to write folders in parallel, and on a loaded machine
    // (CI runs test binaries side by side) it exited with mails still unwritten: 6 or 10 of
    // Outlook.pst's 11 in about one run of 40 (reproduced with three busy loops beside it;
    // none in 40 with `-j 0`).
    let status = Command::new("readpst")
        .args(["-D", "-q", "-j", "0", "-e", "-o"])
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

fn norm(s: &str) -> String {
    s.replace(['\0', '\r'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The address inside `Name <addr>`, or the whole string when it is an address.
fn addresses(s: Option<&str>) -> BTreeSet<String> {
    s.unwrap_or("")
        .split([',', ';'])
        .filter_map(|part| {
            let a = match (part.find('<'), part.rfind('>')) {
                (Some(i), Some(j)) if i < j => &part[i + 1..j],
                _ => part,
            };
            let a = a.trim().trim_matches('\0').to_lowercase();
            a.contains('@').then_some(a)
        })
        .collect()
}

#[test]
fn msg_files_match_extract_msg() {
    let dir = data_dir().join("outlook/msg");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "msg"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 18, "the corpus has 18 .msg files");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/msg_oracle.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "extract-msg oracle failed (pip install extract-msg; .ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oracle: Value = serde_json::from_slice(&out.stdout).unwrap();

    let a = TestArchive::new();
    a.ingest(&[&dir]);
    let items: Vec<Value> = a
        .jsonl(&["ls"])
        .iter()
        .map(|it| a.json(&["show", it["id"].as_str().unwrap()]))
        .collect();
    let skipped: Vec<Value> = a.jsonl(&["quarantine"]);
    let mut mails = 0;
    for f in &files {
        let o = &oracle[f.display().to_string()];
        let class = o["class"].as_str().unwrap().trim_end_matches('\0');
        let label = f.display().to_string();
        if class.starts_with("IPM.Contact") || class.starts_with("IPM.StickyNote") {
            let s = skipped
                .iter()
                .find(|s| s["path"] == label.as_str())
                .unwrap_or_else(|| panic!("{label} ({class}) is listed as skipped"));
            assert!(s["reason"].as_str().unwrap().contains(class), "{s}");
            continue;
        }
        mails += 1;
        let it = items
            .iter()
            .find(|it| {
                it["provenance"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["path"] == label.as_str())
            })
            .unwrap_or_else(|| panic!("{label} became an item"));
        let ctx = &it["provenance"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"] == label.as_str())
            .unwrap();
        assert_eq!(ctx["format"], "msg");
        assert_eq!(it["reconstructed"], true);
        assert_eq!(
            it["subject"].as_str().unwrap(),
            o["subject"].as_str().unwrap().trim_end_matches('\0'),
            "{label}"
        );
        let sender = addresses(o["sender"].as_str());
        if !sender.is_empty() {
            let from = addresses(it["from"][0]["address"].as_str());
            assert_eq!(from, sender, "{label}: sender");
        }
        let ours_to: BTreeSet<String> = it["to"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["address"].as_str().map(str::to_lowercase))
            .collect();
        assert_eq!(ours_to, addresses(o["to"].as_str()), "{label}: to");
        let ours_cc: BTreeSet<String> = it["cc"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["address"].as_str().map(str::to_lowercase))
            .collect();
        assert_eq!(ours_cc, addresses(o["cc"].as_str()), "{label}: cc");
        if let Some(body) = o["body"].as_str() {
            // Without a code page property, extract-msg reads String8 as Latin-1 and 0x85 as
            // U+0085; Outlook (and trove) read Windows-1252, where it is an ellipsis.
            let body = body.replace('\u{85}', "\u{2026}");
            assert_eq!(
                norm(it["body_text"].as_str().unwrap()),
                norm(&body),
                "{label}: body"
            );
        }
        let want: BTreeSet<String> = o["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_str().map(|s| s.trim_end_matches('\0').to_string()))
            .collect();
        let got: BTreeSet<String> = it["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["mime_type"] != "message/rfc822")
            .filter_map(|x| x["filename"].as_str().map(str::to_string))
            .collect();
        assert_eq!(got, want, "{label}: attachment names");
    }
    assert_eq!(mails, 14);
    // ANSI and Unicode twins rebuild to the same bytes: one item found in two files.
    let twins = items
        .iter()
        .find(|it| it["subject"] == "Test for MSGConvert -- rich text")
        .unwrap();
    assert_eq!(twins["provenance"].as_array().unwrap().len(), 2);
    // The PGP-signed message keeps its signed entity byte for byte.
    let signed = items
        .iter()
        .find(|it| it["native_id"].as_str().is_some() && it["subject"] == "Test for MSGConvert")
        .unwrap();
    let raw = a.ok(&["raw", signed["id"].as_str().unwrap()]);
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("Content-Type: multipart/signed;"), "{raw}");
    assert!(raw.contains("-----BEGIN PGP SIGNATURE-----"));
}

fn emlx_dir() -> PathBuf {
    let p = data_dir().join("outlook/emlx");
    assert!(
        p.join("Messages").is_dir(),
        "missing corpus {}",
        p.display()
    );
    p
}

/// A message's parts, decoded: (content type, file name, bytes with text line ends unified).
fn parts(raw: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let m = MessageParser::default().parse(raw).unwrap();
    m.parts
        .iter()
        .filter(|p| !matches!(p.body, mail_parser::PartType::Multipart(_)))
        .map(|p| {
            let ct = p
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_lowercase())
                .unwrap_or_default();
            let mut bytes = p.contents().to_vec();
            if ct.starts_with("text/") {
                bytes = String::from_utf8_lossy(&bytes)
                    .replace("\r\n", "\n")
                    .trim_end()
                    .as_bytes()
                    .to_vec();
            }
            (ct, p.attachment_name().map(str::to_string), bytes)
        })
        .collect()
}

#[test]
fn emlx_messages_rebuild_to_their_expected_results() {
    let dir = emlx_dir();
    let a = TestArchive::new();
    a.ingest(&[&dir.join("Messages")]);
    let items: Vec<Value> = a
        .jsonl(&["ls"])
        .iter()
        .map(|it| a.json(&["show", it["id"].as_str().unwrap()]))
        .collect();
    assert_eq!(items.len(), 4, "one complete and three partial messages");
    let by_file = |name: &str| {
        items
            .iter()
            .find(|it| {
                it["provenance"][0]["path"]
                    .as_str()
                    .unwrap()
                    .ends_with(name)
            })
            .unwrap_or_else(|| panic!("{name} became an item"))
    };
    // A complete emlx is stored as the message bytes it wraps, verbatim.
    let whole = by_file("114862.emlx");
    let raw = a.ok(&["raw", whole["id"].as_str().unwrap()]);
    assert_eq!(
        raw,
        std::fs::read(dir.join("expected_results/114862.eml")).unwrap()
    );
    assert_eq!(whole["reconstructed"], false);
    // Its property list's flags (8623750272) have the read bit clear: no maildir letters.
    assert_eq!(whole["provenance"][0]["flags"], "");
    // A partial one gets its four stored parts back and matches the reference converter's
    // output part for part.
    let partial = by_file("114892.partial.emlx");
    assert_eq!(partial["reconstructed"], true);
    let raw = a.ok(&["raw", partial["id"].as_str().unwrap()]);
    let want = std::fs::read(dir.join("expected_results/114892.eml")).unwrap();
    assert_eq!(parts(&raw), parts(&want));
    assert_eq!(parts(&raw).len(), 10);
    // A byte count larger than the file is read up to the property list, and said.
    let long = by_file("136153.partial.emlx");
    let codes: Vec<&str> = long["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"emlx_byte_count"), "{codes:?}");
    assert_eq!(long["provenance"][0]["flags"], "RS");
    assert_eq!(
        long["attachments"][0]["filename"],
        "ReallyReallyReallyReallyReallyReallyReallyReallyReallyReallylong_filename.xls"
    );
    // The folder of parts is accounted for, not read as loose files.
    let a2 = TestArchive::new();
    a2.ingest(&[&dir]);
    let skipped = a2.jsonl(&["quarantine"]);
    assert!(
        skipped
            .iter()
            .any(|s| s["path"].as_str().unwrap().ends_with("/Attachments")),
        "{skipped:?}"
    );
}

#[test]
fn a_partial_emlx_without_its_parts_is_kept_with_the_gaps_named() {
    let dir = emlx_dir();
    let tmp = tempfile::tempdir().unwrap();
    let messages = tmp.path().join("Messages");
    std::fs::create_dir(&messages).unwrap();
    std::fs::copy(
        dir.join("Messages/114892.partial.emlx"),
        messages.join("114892.partial.emlx"),
    )
    .unwrap();
    let a = TestArchive::new();
    a.ingest(&[&messages]);
    let it = a.json(&["show", a.jsonl(&["ls"])[0]["id"].as_str().unwrap()]);
    let gap = it["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "partial_missing_parts")
        .unwrap_or_else(|| panic!("{it}"));
    assert!(
        gap["detail"]
            .as_str()
            .unwrap()
            .contains("2.2, 2.4, 2.6, 2.8"),
        "{gap}"
    );
}

/// MS-PST's header CRC (5.3): CRC-32's reflected table, initial 0, no final inversion.
fn pst_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        let mut c = (crc ^ b as u32) & 0xff;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        crc = c ^ (crc >> 8);
    }
    crc
}

/// `sample1.pst` with its header changed (client magic, version), its CRCs recomputed.
fn variant(magic: &[u8; 2], version: Option<u16>) -> Vec<u8> {
    let mut b = std::fs::read(pst("sample1.pst")).unwrap();
    assert_eq!(
        u32::from_le_bytes(b[4..8].try_into().unwrap()),
        pst_crc(&b[8..479]),
        "the CRC here is MS-PST's"
    );
    b[8..10].copy_from_slice(magic);
    if let Some(v) = version {
        b[10..12].copy_from_slice(&v.to_le_bytes());
    }
    // A Unicode header has two: dwCRCPartial (offset 4, over 471 bytes) and dwCRCFull
    // (offset 524, over 516 bytes).
    let partial = pst_crc(&b[8..479]);
    b[4..8].copy_from_slice(&partial.to_le_bytes());
    let full = pst_crc(&b[8..524]);
    b[524..528].copy_from_slice(&full.to_le_bytes());
    b
}

#[test]
fn an_ost_is_read_as_a_store_and_a_2013_store_is_named_not_guessed() {
    let tmp = tempfile::tempdir().unwrap();
    let ost = tmp.path().join("offline.ost");
    std::fs::write(&ost, variant(b"SO", None)).unwrap();
    let new = tmp.path().join("outlook2013.ost");
    std::fs::write(&new, variant(b"SO", Some(36))).unwrap();
    let a = TestArchive::new();
    a.ingest(&[&ost, &new]);
    let mails = trove_mails(&a, &ost);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["subject"], "Here is a sample message");
    let q = a.jsonl(&["quarantine"]);
    let r = q
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("outlook2013.ost"))
        .unwrap_or_else(|| panic!("{q:?}"));
    assert!(
        r["reason"].as_str().unwrap().contains("Outlook 2013+"),
        "{r}"
    );
}

#[test]
fn an_emlx_that_only_mentions_the_partial_marker_stays_original_bytes() {
    let msg = b"From: a@example.org\nSubject: notes\nMessage-ID: <n@example.org>\n\nApple writes X-Apple-Content-Length: 12 on parts it leaves out.\n";
    let mut file = format!("{}\n", msg.len()).into_bytes();
    file.extend_from_slice(msg);
    file.extend_from_slice(
        b"<?xml version=\"1.0\"?><plist><dict><key>flags</key><integer>1</integer></dict></plist>",
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("5.emlx");
    std::fs::write(&path, file).unwrap();
    let a = TestArchive::new();
    a.ingest(&[&path]);
    let id = a.jsonl(&["ls"])[0]["id"].as_str().unwrap().to_string();
    let it = a.json(&["show", &id]);
    assert_eq!(it["reconstructed"], false, "{it}");
    assert_eq!(it["provenance"][0]["flags"], "S");
    assert_eq!(a.ok(&["raw", &id]), msg.to_vec());
}
