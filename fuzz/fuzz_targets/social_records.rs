#![no_main]
//! Every social record parser (X tweets, DMs, group DMs, account; Telegram; WhatsApp; JSON
//! Lines) on arbitrary bytes and contexts: an item, evidence, or a reason, never a panic.
use libfuzzer_sys::fuzz_target;
use trove_model::{Owner, SourceContext, SourceFormat};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let ctx = SourceContext {
        conversation: (sel & 1 == 1).then(|| "1-2".to_string()),
        conversation_type: (sel & 2 == 2).then(|| "personal_chat".to_string()),
        owner: (sel & 4 == 4).then(|| Owner {
            id: Some("1".into()),
            handle: Some("h".into()),
            name: None,
        }),
        date_order: Some(["dmy", "mdy", "ymd"][(sel as usize >> 3) % 3].to_string()),
        ..Default::default()
    };
    for f in [
        SourceFormat::XTweet,
        SourceFormat::XDm,
        SourceFormat::XDmGroup,
        SourceFormat::XAccount,
        SourceFormat::Telegram,
        SourceFormat::Whatsapp,
        SourceFormat::Jsonl,
    ] {
        let _ = trove_ingest::social::parse(f, rest, &ctx);
    }
    if let Ok(s) = std::str::from_utf8(rest) {
        let _ = trove_ingest::social::whatsapp::header(s);
        let _ = trove_ingest::social::time::parse_iso(s);
        let _ = trove_ingest::social::time::parse_twitter(s);
    }
});
