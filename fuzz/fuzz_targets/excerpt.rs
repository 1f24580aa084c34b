#![no_main]
//! The excerpt bundle reader on arbitrary bytes: parsing, canonical-form and signature checks,
//! every proof, and DKIM over whatever raw bytes a bundle carries.
use libfuzzer_sys::fuzz_target;

/// A valid verifier key, so fuzzed bundles reach the proof and DKIM checks.
const KEY: &str =
    "trove.archive/d9ae00a489ec297a+f8b8625d+AWpqfIa9zy0qfXvW+l/67hMeTyhyUzi0YldQS/jvKJY8";

fuzz_target!(|data: &[u8]| {
    let r = trove_proof::excerpt::check_bundle(data, KEY);
    assert!(!r.valid || r.errors.is_empty());
});
