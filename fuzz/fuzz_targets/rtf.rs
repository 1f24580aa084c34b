#![no_main]
//! Outlook's compressed RTF bodies and the RTF reader: bounded output, no panic on any bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = trove_outlook::rtf::decompress(data, 1 << 20) {
        assert!(out.len() <= 1 << 20);
        let _ = trove_outlook::rtf::interpret(&out);
    }
    let _ = trove_outlook::rtf::interpret(data);
});
