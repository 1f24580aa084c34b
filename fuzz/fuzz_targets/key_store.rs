#![no_main]
//! The key-store file parser and the DKIM key record parser on arbitrary text.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (lines, _errors) = trove_verify::keys::parse_key_file(&text);
    for l in lines {
        let _ = trove_verify::keys::parse_record(&l.value);
    }
    let _ = trove_verify::keys::parse_record(&text);
});
