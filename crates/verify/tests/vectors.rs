//! The DKIM and ARC vectors of ../shared/data/dkim, and tampered copies of them.

use std::path::{Path, PathBuf};
use trove_verify::keys::{self, KeyRing, StoredKey};
use trove_verify::{Options, Verdict, Verification, verify};

fn data_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dkim");
    assert!(
        p.is_dir(),
        "test corpus missing: {} (see ../shared/data/README.md)",
        p.display()
    );
    p
}

/// A vector file: key lines, a blank line, then the message (LF line endings).
fn vector(rel: &str) -> (String, Vec<u8>) {
    let text = std::fs::read(data_dir().join(rel)).expect("vector readable");
    let split = text
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("a blank line after the keys");
    (
        String::from_utf8(text[..split].to_vec()).expect("utf-8 keys"),
        text[split + 2..].to_vec(),
    )
}

fn ring(key_text: &str) -> KeyRing {
    let (lines, errors) = keys::parse_key_file(key_text);
    assert!(errors.is_empty(), "{errors:?}");
    let mut ring = KeyRing::default();
    for (i, l) in lines.iter().enumerate() {
        ring.add(
            &l.name,
            StoredKey {
                id: i as i64,
                source: "vector".into(),
                record: keys::parse_record(&l.value),
            },
        );
    }
    ring
}

fn opts() -> Options {
    Options::now(24 * 3600)
}

fn verdicts(v: &Verification) -> Vec<Verdict> {
    v.signatures.iter().map(|s| s.verdict).collect()
}

const PASSING: [&str; 5] = ["001", "002", "003", "004", "006"];

#[test]
fn mail_auth_vectors_pass_and_005_is_expired() {
    for n in PASSING.iter().chain(&["005"]) {
        let (k, msg) = vector(&format!("mail-auth-dkim/{n}.txt"));
        let v = verify(&msg, &ring(&k), &opts());
        if *n == "005" {
            assert_eq!(v.verdict, Verdict::PassExpired, "{n}: {v:#?}");
            let s = &v.signatures[0];
            assert!(s.expired_at.is_some(), "{s:?}");
            assert_eq!(s.maths_ok, Some(true));
        } else {
            assert_eq!(v.verdict, Verdict::Pass, "{n}: {v:#?}");
            assert!(
                verdicts(&v).iter().all(|x| *x == Verdict::Pass),
                "{n}: every signature passes: {v:#?}"
            );
        }
        for s in &v.signatures {
            assert_eq!(s.key_source.as_deref(), Some("vector"));
            assert!(!s.signed_headers.is_empty());
        }
    }
}

#[test]
fn key_sizes_are_reported() {
    let (k, msg) = vector("mail-auth-dkim/004.txt");
    let v = verify(&msg, &ring(&k), &opts());
    assert_eq!(v.signatures[0].key_bits, Some(1024));
    let (k, msg) = vector("mail-auth-dkim/001.txt");
    let v = verify(&msg, &ring(&k), &opts());
    let bits: Vec<_> = v.signatures.iter().map(|s| s.key_bits).collect();
    assert!(
        bits.contains(&Some(256)) && bits.contains(&Some(1024)),
        "{bits:?}"
    );
}

#[test]
fn arc_vectors_pass_their_chain() {
    for n in ["001", "002"] {
        let (k, msg) = vector(&format!("mail-auth-arc/{n}.txt"));
        let v = verify(&msg, &ring(&k), &opts());
        let arc = v.arc.as_ref().expect("an ARC chain");
        assert_eq!(arc.verdict, "pass", "{n}: {arc:#?}");
        assert!(!arc.sets.is_empty());
        if n == "001" {
            // The list rewrote the body: the author's signature breaks, the chain holds.
            assert!(
                v.signatures
                    .iter()
                    .any(|s| s.verdict == Verdict::BodyAltered),
                "{v:#?}"
            );
        }
    }
    // Without keys the chain cannot pass.
    let (_, msg) = vector("mail-auth-arc/001.txt");
    let v = verify(&msg, &KeyRing::default(), &opts());
    assert_eq!(v.arc.map(|a| a.verdict).as_deref(), Some("key_not_found"));
}

/// Replaces the first letter of the body (after the header block) with another.
fn change_body_byte(msg: &[u8]) -> Vec<u8> {
    let start = msg.windows(2).position(|w| w == b"\n\n").expect("a body") + 2;
    let mut out = msg.to_vec();
    let i = start
        + out[start..]
            .iter()
            .position(u8::is_ascii_alphabetic)
            .expect("a letter in the body");
    out[i] = if out[i] == b'x' { b'y' } else { b'x' };
    out
}

fn change_subject(msg: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(msg);
    let mut out = String::new();
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if !done && line.to_ascii_lowercase().starts_with("subject:") {
            out.push_str("Subject: an edited subject\n");
            done = true;
        } else {
            out.push_str(line);
        }
    }
    assert!(done, "no Subject header");
    out.into_bytes()
}

#[test]
fn tampered_copies_are_caught_and_named() {
    for n in PASSING {
        let (k, msg) = vector(&format!("mail-auth-dkim/{n}.txt"));
        let keys = ring(&k);
        let body = verify(&change_body_byte(&msg), &keys, &opts());
        assert_eq!(body.verdict, Verdict::BodyAltered, "{n}: {body:#?}");
        let subj = verify(&change_subject(&msg), &keys, &opts());
        assert_eq!(subj.verdict, Verdict::HeadersAltered, "{n}: {subj:#?}");
        let missing = verify(&msg, &KeyRing::default(), &opts());
        assert_eq!(missing.verdict, Verdict::KeyNotFound, "{n}");
        // Every selector's record with p= emptied.
        let revoked: String = k
            .lines()
            .map(|l| {
                let i = l.find("p=").expect("p=");
                let end = l[i..].find(';').map(|e| i + e).unwrap_or(l.len());
                format!("{}p={}\n", &l[..i], &l[end..])
            })
            .collect();
        let r = verify(&msg, &ring(&revoked), &opts());
        assert_eq!(r.verdict, Verdict::KeyRevoked, "{n}: {r:#?}");
    }
}

#[test]
fn lf_and_crlf_copies_get_the_same_verdicts() {
    for n in PASSING.iter().chain(&["005"]) {
        let (k, msg) = vector(&format!("mail-auth-dkim/{n}.txt"));
        let keys = ring(&k);
        let crlf: Vec<u8> = String::from_utf8_lossy(&msg)
            .replace('\n', "\r\n")
            .into_bytes();
        let a = verify(&msg, &keys, &opts());
        let b = verify(&crlf, &keys, &opts());
        assert_eq!(verdicts(&a), verdicts(&b), "{n}");
        assert_eq!(a.verdict, b.verdict);
    }
}

fn dkimpy(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join("dkimpy").join(name)).expect("dkimpy vector")
}

#[test]
fn dkimpy_vectors_behave_as_its_tests_expect() {
    let msg = dkimpy("dkimpy-rfc6376.signed.msg");
    let test_key = String::from_utf8(dkimpy("dkimpy-test.txt")).expect("utf-8");
    // dkimpy's test DNS answers the RFC 8463 "brisbane" key and test.txt for "test".
    let good = format!(
        "test._domainkey.football.example.com {}\n\
         brisbane._domainkey.football.example.com v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n",
        test_key.trim()
    );
    let v = verify(&msg, &ring(&good), &opts());
    assert_eq!(
        verdicts(&v),
        vec![Verdict::Pass, Verdict::Pass],
        "both signatures verify: {v:#?}"
    );
    // The broken records make verification fail, never pass (dkimpy raises KeyFormatError).
    for (file, want) in [
        ("dkimpy-badversion.txt", Verdict::Malformed),
        ("dkimpy-badk.txt", Verdict::Unsupported),
    ] {
        let rec = String::from_utf8(dkimpy(file)).expect("utf-8");
        let keys = ring(&format!(
            "test._domainkey.football.example.com {}\n",
            rec.trim()
        ));
        let v = verify(&msg, &keys, &opts());
        let rsa = v
            .signatures
            .iter()
            .find(|s| s.selector == "test")
            .expect("the rsa signature");
        assert_eq!(rsa.verdict, want, "{file}: {rsa:#?}");
    }
    // The unsigned test messages are unsigned.
    for m in [
        "dkimpy-test.message",
        "dkimpy-ed25519test.msg",
        "dkimpy-rfc6376.msg",
    ] {
        assert_eq!(
            verify(&dkimpy(m), &KeyRing::default(), &opts()).verdict,
            Verdict::Unsigned,
            "{m}"
        );
    }
}

#[test]
fn an_unsigned_duplicate_from_is_flagged() {
    let (k, msg) = vector("mail-auth-dkim/002.txt");
    let keys = ring(&k);
    let clean = verify(&msg, &keys, &opts());
    assert!(
        !clean.forensics.iter().any(|f| f.code == "duplicate_header"),
        "{:?}",
        clean.forensics
    );
    // A forger prepends a second From: the signature still passes over the original one.
    let mut forged = b"From: Someone Else <ceo@example.com>\n".to_vec();
    forged.extend_from_slice(&msg);
    let v = verify(&forged, &keys, &opts());
    let codes: Vec<&str> = v.forensics.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.contains(&"duplicate_header"), "{codes:?}");
    assert!(codes.contains(&"unsigned_header"), "{codes:?}");
}
