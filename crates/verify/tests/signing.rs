//! Messages we sign ourselves with throwaway keys: weak keys and `l=`. Key recovery is tested
//! end to end through the binary (crates/cli/tests/dkim.rs).

use base64::Engine;
use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use trove_verify::keys::{self, KeyRing, StoredKey};
use trove_verify::{Options, Verdict, verify};

fn keypair(bits: usize) -> (rsa::RsaPrivateKey, String) {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).expect("keygen");
    let spki = key.to_public_key().to_public_key_der().expect("spki");
    let record = format!(
        "v=DKIM1; k=rsa; p={}",
        base64::engine::general_purpose::STANDARD.encode(spki.as_bytes())
    );
    (key, record)
}

fn sign(key: &rsa::RsaPrivateKey, msg: &[u8], body_length: bool) -> Vec<u8> {
    let der = key.to_pkcs8_der().expect("pkcs8");
    let signer = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        der.as_bytes(),
    )))
    .expect("mail-auth accepts the key");
    let sig = DkimSigner::from_key(signer)
        .domain("leak.example")
        .selector("s2016")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .body_length(body_length)
        .sign(msg)
        .expect("signs");
    let mut out = sig.to_header().into_bytes();
    out.extend_from_slice(msg);
    out
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Campaign Insider <insider@leak.example>\r\n\
         To: someone@example.org\r\n\
         Subject: meeting number {n}\r\n\
         Date: Mon, 3 Oct 2016 1{n}:00:00 +0000\r\n\
         Message-ID: <{n}.meeting@leak.example>\r\n\
         \r\n\
         Let us meet at {n} o'clock. Bring the documents.\r\n"
    )
    .into_bytes()
}

fn ring(record: &str, source: &str) -> KeyRing {
    let mut r = KeyRing::default();
    r.add(
        "s2016._domainkey.leak.example",
        StoredKey {
            id: 1,
            source: source.into(),
            record: keys::parse_record(record),
        },
    );
    r
}

fn opts() -> Options {
    Options::now(24 * 3600)
}

#[test]
fn a_512_bit_key_is_weak_whether_or_not_the_maths_holds() {
    let (key, record) = keypair(512);
    let signed = sign(&key, &message(1), false);
    let v = verify(&signed, &ring(&record, "test"), &opts());
    let s = &v.signatures[0];
    assert_eq!(s.verdict, Verdict::WeakKey, "{s:#?}");
    assert_eq!(s.key_bits, Some(512));
    assert_eq!(s.maths_ok, Some(true));
    // Same key, edited subject: still weak, and the maths no longer holds.
    let edited = String::from_utf8(signed)
        .expect("utf-8")
        .replace("meeting number 1", "meeting number 9");
    let v = verify(edited.as_bytes(), &ring(&record, "test"), &opts());
    assert_eq!(v.signatures[0].verdict, Verdict::WeakKey);
    assert_eq!(v.signatures[0].maths_ok, Some(false));
}

#[test]
fn body_length_limit_reports_the_unsigned_tail() {
    let (key, record) = keypair(1024);
    let signed = sign(&key, &message(2), true);
    let keys = ring(&record, "test");
    assert_eq!(verify(&signed, &keys, &opts()).verdict, Verdict::Pass);
    let mut appended = signed.clone();
    appended.extend_from_slice(b"P.S. wire the money to account 123.\r\n");
    let v = verify(&appended, &keys, &opts());
    let s = &v.signatures[0];
    assert_eq!(s.verdict, Verdict::PartialBody, "{s:#?}");
    assert_eq!(s.unsigned_body_bytes, Some(37));
}
