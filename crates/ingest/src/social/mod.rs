//! Direct messages, chats and posts: readers for X/Twitter exports, Telegram Desktop exports,
//! WhatsApp chat exports and trove's generic JSON Lines.
//!
//! Each reader has two halves. The *splitter* (walker side) cuts a file into records, keeping each
//! record's exact bytes and what the container says about it ([`SourceContext`]). The *parser*
//! (parallel stage, and again on reindex) turns one record plus its context into an
//! [`ItemRecord`]. Unknown fields are never a reason to reject a record: they stay in the raw
//! bytes.

pub mod jsonl;
pub mod jsonstream;
pub mod telegram;
pub mod time;
pub mod whatsapp;
pub mod x;

use serde_json::{Map, Value};
use trove_model::{ItemRecord, SourceContext, SourceFormat};

/// An item parsed from a record, and the identity links it proves (e.g. a mention pairing a
/// handle with a numeric id).
pub struct Parsed {
    pub record: ItemRecord,
    pub links: Vec<(String, String)>,
}

// Items are nearly every outcome; evidence records are a handful per export.
#[allow(clippy::large_enum_variant)]
pub enum SocialOutcome {
    Item(Parsed),
    /// Not a message but evidence about identities (X `account.js`).
    Evidence(Vec<(String, String)>),
}

/// Parses one record of a social format. The error is the reason to quarantine it.
pub fn parse(
    format: SourceFormat,
    raw: &[u8],
    ctx: &SourceContext,
) -> Result<SocialOutcome, String> {
    let at = ctx
        .json_path
        .as_deref()
        .map(|p| format!(" at {p}"))
        .unwrap_or_default();
    let json = || -> Result<Value, String> {
        serde_json::from_slice(raw).map_err(|e| format!("invalid JSON{at}: {e}"))
    };
    let res = match format {
        SourceFormat::XTweet => x::parse_tweet(&json()?, ctx),
        SourceFormat::XDm => x::parse_dm(&json()?, ctx, false),
        SourceFormat::XDmGroup => x::parse_dm(&json()?, ctx, true),
        SourceFormat::XAccount => x::parse_account(&json()?),
        SourceFormat::Telegram => telegram::parse(&json()?, ctx),
        SourceFormat::Jsonl => jsonl::parse(&json()?, ctx),
        SourceFormat::Whatsapp => whatsapp::parse(raw, ctx),
        other => Err(format!("{} is not a social format", other.as_str())),
    };
    res.map_err(|e| format!("{e}{at}"))
}

/// A string field, also accepting numbers (exports write ids both ways).
pub(crate) fn field_str(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Link objects of a list under `list` (`{url, <expanded>, <display>}`); a bare string is a link
/// without expansion.
pub(crate) fn url_refs(
    m: &Map<String, Value>,
    list: &str,
    expanded: &str,
    display: &str,
) -> Vec<trove_model::UrlRef> {
    m.get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| match u {
            Value::String(s) => Some(trove_model::UrlRef {
                url: s.clone(),
                ..Default::default()
            }),
            Value::Object(o) => Some(trove_model::UrlRef {
                url: field_str(o, "url")?,
                expanded: field_str(o, expanded),
                display: field_str(o, display),
            }),
            _ => None,
        })
        .collect()
}

/// The object under key `k` of the record's top-level object.
pub(crate) fn obj<'v>(v: &'v Value, k: &str) -> Result<&'v Map<String, Value>, String> {
    v.get(k)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("record has no \"{k}\" object"))
}
