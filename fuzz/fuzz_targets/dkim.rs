#![no_main]
//! DKIM/ARC verification and forensics on arbitrary messages, against a key ring holding an RSA
//! key, an Ed25519 key, a revoked key and a broken record under the selectors the seeds use.
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use trove_verify::keys::{self, KeyRing, StoredKey};

const KEYS: &str = "\
test._domainkey.football.example.com v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB
brisbane._domainkey.football.example.com v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
revoked._domainkey.example.com v=DKIM1; p=
broken._domainkey.example.com v=DKIM1; k=rsa; p=AAAA
";

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let mut r = KeyRing::default();
        for (i, l) in keys::parse_key_file(KEYS).0.into_iter().enumerate() {
            r.add(
                &l.name,
                StoredKey {
                    id: i as i64,
                    source: "fuzz".into(),
                    record: keys::parse_record(&l.value),
                },
            );
        }
        r
    })
}

fuzz_target!(|data: &[u8]| {
    let opts = trove_verify::Options {
        now: 1_700_000_000,
        date_tolerance_secs: 3600,
    };
    let v = trove_verify::verify(data, ring(), &opts);
    let _ = serde_json::to_string(&v);
});
