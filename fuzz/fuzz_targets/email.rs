#![no_main]
//! The email parser on arbitrary bytes, whole and as a header-only head.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ignore_mail_parser_debug_assertions();
    let limits = trove_store::Limits::default();
    let _ = trove_ingest::parse_email(data, true, data.len() as u64, &limits);
    let _ = trove_ingest::parse_email(data, false, u64::MAX / 2, &limits);
});

/// `parse_email` catches panics from mail-parser's own `debug_assert!`s (they are no-ops in
/// release builds) and keeps the message as headers only. libFuzzer's panic hook would abort on
/// them anyway, so panics raised inside mail-parser's sources are let through to that
/// `catch_unwind`; every other panic still aborts and counts as a crash.
fn ignore_mail_parser_debug_assertions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_mail_parser = info
                .location()
                .is_some_and(|l| l.file().contains("/mail-parser-"));
            if !in_mail_parser {
                fuzzer_hook(info);
            }
        }));
    });
}
