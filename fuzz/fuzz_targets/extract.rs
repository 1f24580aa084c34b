#![no_main]
//! Attachment classification and our own extractors (Office/OpenDocument XML text, zip walks,
//! text decoding). PDF is left out: pdf-extract is third-party code that trove only ever runs
//! in a killable helper process, whose crash is a finding (`crates/extract/src/bounded.rs`).
use libfuzzer_sys::fuzz_target;
use trove_extract::{Kind, classify, formats};

fuzz_target!(|data: &[u8]| {
    let kind = classify(data, "", None);
    let _ = formats::xml_text(data);
    let _ = formats::text(data, Some("iso-2022-jp"));
    if let Some(k) = kind
        && k != Kind::Pdf
    {
        let _ = formats::extract(k, data, 1 << 16, 1 << 20);
    }
    let _ = formats::extract(Kind::Zip, data, 1 << 16, 1 << 20);
});
