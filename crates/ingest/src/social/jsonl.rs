//! trove's generic JSON Lines format (`docs/jsonl-format.md`): one message per line, for sources
//! trove has no reader for (Signal tools, transcribed screenshots, other chat exports).

use super::time::parse_iso;
use super::{Parsed, SocialOutcome, field_str, url_refs};
use serde_json::{Map, Value};
use trove_model::{
    AddressRole, Finding, ItemRecord, Kind, Mailbox, SourceContext, Timestamp, normalize_identity,
};

/// Whether a line looks like a record of this format (used by detection).
pub fn looks_like_record(line: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(line) else {
        return false;
    };
    v.as_object().is_some_and(|m| {
        m.contains_key("kind") && (m.contains_key("timestamp") || m.contains_key("text"))
    })
}

/// A participant: an identity string, or `{"id": ..., "name": ...}`.
fn mailbox(v: &Value) -> Result<Mailbox, String> {
    let (id, name) = match v {
        Value::String(s) => (s.clone(), None),
        Value::Object(o) => (
            field_str(o, "id").ok_or("participant object without \"id\"")?,
            field_str(o, "name"),
        ),
        _ => return Err("a participant must be a string or {\"id\", \"name\"}".into()),
    };
    let identity = normalize_identity(&id).ok_or("empty participant id")?;
    // A bare display-name identity is also the best label, with its case.
    let name = name.or_else(|| {
        id.strip_prefix("name:")
            .or((!id.contains(':') && !id.contains('@')).then_some(id.as_str()))
            .map(|n| n.trim().to_string())
    });
    Ok(Mailbox {
        name,
        address: Some(trove_model::address_of_identity(&identity)),
    })
}

pub fn parse(v: &Value, _ctx: &SourceContext) -> Result<SocialOutcome, String> {
    let m = v
        .as_object()
        .ok_or("a JSON Lines record must be an object")?;
    let kind = match m.get("kind").and_then(Value::as_str) {
        Some("dm") | Some("chat") | Some("message") => Kind::Dm,
        Some("post") => Kind::Post,
        Some(other) => {
            return Err(format!(
                "kind \"{other}\" is not one of dm, chat, message, post (emails come in as .eml)"
            ));
        }
        None => return Err("record without \"kind\"".into()),
    };
    let mut r = ItemRecord {
        kind,
        native_id: field_str(m, "native_id"),
        ..Default::default()
    };
    r.date = match m.get("timestamp") {
        Some(Value::Number(n)) => {
            let secs = n.as_f64().ok_or("timestamp is not a number of seconds")?;
            Timestamp {
                utc: Some(secs.floor() as i64),
                offset_minutes: None,
                raw: Some(n.to_string()),
            }
        }
        Some(Value::String(s)) => {
            let (utc, _, off) =
                parse_iso(s).ok_or(format!("timestamp \"{s}\" is not ISO 8601 / RFC 3339"))?;
            if off.is_none() {
                r.findings.push(Finding::new(
                    "timezone_unknown",
                    "timestamp without a zone: read as UTC",
                ));
            }
            Timestamp {
                utc: Some(utc),
                offset_minutes: off,
                raw: Some(s.clone()),
            }
        }
        _ => return Err("record without a \"timestamp\"".into()),
    };
    let sender = m.get("sender").ok_or("record without \"sender\"")?;
    r.addresses.push((AddressRole::From, mailbox(sender)?));
    for rc in m
        .get("recipients")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        r.addresses.push((AddressRole::To, mailbox(rc)?));
    }
    r.conversation = field_str(m, "conversation").map(|c| format!("jsonl:{c}"));
    if kind == Kind::Dm && r.conversation.is_none() {
        return Err("a dm record needs a \"conversation\"".into());
    }
    r.body_text = field_str(m, "text").unwrap_or_default();
    r.urls = url_refs(m, "urls", "expanded", "display");
    if let Some(p) = field_str(m, "in_reply_to") {
        r.in_reply_to.push(p);
    }
    let mut d = Map::new();
    for k in ["source", "subject", "attachments", "note"] {
        if let Some(x) = m.get(k) {
            d.insert(k.into(), x.clone());
        }
    }
    r.subject = field_str(m, "subject");
    r.details = d;
    Ok(SocialOutcome::Item(Parsed {
        record: r,
        links: vec![],
    }))
}
