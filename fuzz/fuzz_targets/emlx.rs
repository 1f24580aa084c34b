#![no_main]
//! Apple Mail emlx: the wrapper split and the MIME walk that puts stored parts back.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(e) = trove_ingest::emlx::split(data) {
        let _ = trove_ingest::emlx::fill_parts(e.message, None);
    }
    let _ = trove_ingest::emlx::fill_parts(data, None);
});
