#![no_main]
//! The email parser on arbitrary bytes, whole and as a header-only head.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = trove_store::Limits::default();
    let _ = trove_ingest::parse_email(data, true, data.len() as u64, &limits);
    let _ = trove_ingest::parse_email(data, false, u64::MAX / 2, &limits);
});
