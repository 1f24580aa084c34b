#![no_main]
//! The body and subject analyzer on any text, tagged with a language or not (a forged tag
//! included): offsets fall on character boundaries inside the text, words advance the position,
//! and a stem term sits at the position of the word before it.
use libfuzzer_sys::fuzz_target;
use trove_index::analysis::{tag_language, words_tokens};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for text in [
        s.to_string(),
        tag_language(None, s),
        tag_language(Some("en"), s),
        tag_language(Some("ru"), s),
    ] {
        let mut last = None;
        for (term, position, from, to) in words_tokens(&text) {
            assert!(from <= to && to <= text.len(), "{from}..{to} in {text:?}");
            assert!(text.is_char_boundary(from) && text.is_char_boundary(to));
            if term.starts_with('\u{1}') {
                assert_eq!(Some(position), last, "stem {term:?} of {text:?}");
            } else {
                assert!(last.is_none_or(|l| position > l), "{term:?} in {text:?}");
                last = Some(position);
            }
        }
    }
});
