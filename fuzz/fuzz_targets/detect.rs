#![no_main]
//! Format detection must be total: any bytes give a verdict, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = trove_ingest::detect::detect(data);
    let _ = trove_ingest::detect::ytd_name(data);
});
