#![no_main]
//! Outlook .msg files (OLE compound files via cfb) and the message rebuild: errors, never a
//! panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut problems = Vec::new();
    if let Ok(m) = trove_outlook::msg::read_msg(std::io::Cursor::new(data), &mut problems) {
        let _ = trove_outlook::rebuild(&m, "fuzz");
    }
});
