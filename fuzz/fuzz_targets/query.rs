#![no_main]
//! The query parser is total: a syntax tree or an error with a column inside the query.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Err(e) = trove_index::parse(s) {
            assert!(
                e.column <= s.chars().count() + 1,
                "column {} for {s:?}",
                e.column
            );
        }
    }
});
