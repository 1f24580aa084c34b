//! Telegram Desktop `result.json`: one chat (`{name, type, id, messages}`) or a full export
//! (`{personal_information, chats: {list: [...]}, left_chats: {list: [...]}}`).
//!
//! `date` is local time without a zone and `date_unixtime` the true instant, so their difference
//! gives the exporter's UTC offset. Text is a string or an array of strings and entities.

use super::jsonstream::Pat;
use super::time::parse_iso;
use super::{Parsed, SocialOutcome, field_str};
use serde_json::{Map, Value};
use trove_model::{
    AddressRole, Finding, ItemRecord, Kind, Mailbox, Owner, SourceContext, Timestamp, UrlRef,
};

fn chat_pattern() -> Pat {
    Pat::Object(vec![
        ("name", Pat::Capture("name")),
        ("type", Pat::Capture("type")),
        ("id", Pat::Capture("id")),
        ("messages", Pat::Array(Box::new(Pat::Emit))),
    ])
}

/// Where messages sit in a single-chat or a full export.
pub fn pattern() -> Pat {
    let list = || Pat::Object(vec![("list", Pat::Array(Box::new(chat_pattern())))]);
    Pat::Object(vec![
        ("personal_information", Pat::Capture("owner")),
        ("chats", list()),
        ("left_chats", list()),
        ("name", Pat::Capture("name")),
        ("type", Pat::Capture("type")),
        ("id", Pat::Capture("id")),
        ("messages", Pat::Array(Box::new(Pat::Emit))),
    ])
}

/// The context of a message from what the splitter captured around it.
pub fn context(captures: &std::collections::BTreeMap<&'static str, Value>) -> SourceContext {
    let s = |k: &str| match captures.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let owner = captures.get("owner").and_then(Value::as_object).map(|p| {
        let name = [field_str(p, "first_name"), field_str(p, "last_name")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Owner {
            id: field_str(p, "user_id"),
            handle: field_str(p, "username"),
            name: (!name.is_empty()).then_some(name),
        }
    });
    SourceContext {
        conversation: s("id"),
        conversation_name: s("name"),
        conversation_type: s("type"),
        owner,
        ..Default::default()
    }
}

/// `user123` → `telegram:123`; channels and chats keep their prefix.
fn identity(from_id: &str) -> String {
    match from_id.strip_prefix("user") {
        Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => format!("telegram:{n}"),
        _ => format!("telegram:{from_id}"),
    }
}

/// Flattens Telegram's text (a string, or an array of strings and `{type, text, href}`),
/// collecting links.
fn flatten_text(v: Option<&Value>, urls: &mut Vec<UrlRef>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for p in parts {
                match p {
                    Value::String(s) => out.push_str(s),
                    Value::Object(o) => {
                        let text = field_str(o, "text").unwrap_or_default();
                        match o.get("type").and_then(Value::as_str) {
                            Some("link") => urls.push(UrlRef {
                                url: text.clone(),
                                ..Default::default()
                            }),
                            Some("text_link") => urls.push(UrlRef {
                                url: text.clone(),
                                expanded: field_str(o, "href"),
                                display: None,
                            }),
                            _ => {}
                        }
                        out.push_str(&text);
                    }
                    _ => {}
                }
            }
            out
        }
        _ => String::new(),
    }
}

pub fn parse(v: &Value, ctx: &SourceContext) -> Result<SocialOutcome, String> {
    let m = v
        .as_object()
        .ok_or("a Telegram message must be a JSON object")?;
    let id = field_str(m, "id").ok_or("Telegram message without id")?;
    let ty = field_str(m, "type").unwrap_or_else(|| "message".into());
    let mut r = ItemRecord {
        kind: Kind::Dm,
        native_id: Some(id),
        ..Default::default()
    };
    let local = field_str(m, "date");
    let unix = field_str(m, "date_unixtime").and_then(|s| s.parse::<i64>().ok());
    let local_secs = local.as_deref().and_then(parse_iso).map(|(s, _, _)| s);
    r.date = match (unix, local_secs) {
        (Some(u), Some(l)) => Timestamp {
            utc: Some(u),
            offset_minutes: Some(((l - u) / 60) as i32),
            raw: local.clone(),
        },
        (Some(u), None) => Timestamp {
            utc: Some(u),
            offset_minutes: None,
            raw: local.clone(),
        },
        (None, Some(l)) => {
            r.findings.push(Finding::new(
                "timezone_unknown",
                "no date_unixtime: local time read as UTC",
            ));
            Timestamp {
                utc: Some(l),
                offset_minutes: None,
                raw: local.clone(),
            }
        }
        (None, None) => return Err("Telegram message without a readable date".into()),
    };
    let (from_key, from_name) = if ty == "service" {
        (field_str(m, "actor_id"), field_str(m, "actor"))
    } else {
        (field_str(m, "from_id"), field_str(m, "from"))
    };
    let from_identity = from_key.as_deref().map(identity);
    if let Some(idn) = &from_identity {
        r.addresses.push((
            AddressRole::From,
            Mailbox {
                name: from_name.clone(),
                address: Some(idn.clone()),
            },
        ));
    }
    // In a personal chat the other side is the chat itself; messages it sent go to the owner.
    if ctx.conversation_type.as_deref() == Some("personal_chat") {
        let peer = ctx.conversation.as_ref().map(|c| format!("telegram:{c}"));
        let owner = ctx
            .owner
            .as_ref()
            .and_then(|o| o.id.as_ref())
            .map(|i| format!("telegram:{i}"));
        let to = if peer.is_some() && peer == from_identity {
            owner.map(|o| (o, ctx.owner.as_ref().and_then(|w| w.name.clone())))
        } else {
            peer.map(|p| (p, ctx.conversation_name.clone()))
        };
        if let Some((addr, name)) = to {
            r.addresses.push((
                AddressRole::To,
                Mailbox {
                    name,
                    address: Some(addr),
                },
            ));
        }
    }
    r.conversation = ctx.conversation.as_ref().map(|c| format!("telegram:{c}"));
    r.body_text = flatten_text(m.get("text"), &mut r.urls);
    if let Some(p) = field_str(m, "reply_to_message_id") {
        r.in_reply_to.push(p);
    }
    let mut d = Map::new();
    if ty == "service" {
        let action = field_str(m, "action").unwrap_or_else(|| "service".into());
        if r.body_text.is_empty() {
            r.body_text = format!("[{action}]");
        }
        d.insert("event".into(), Value::String(action));
    }
    for k in [
        "forwarded_from",
        "edited",
        "photo",
        "file",
        "media_type",
        "sticker_emoji",
        "reactions",
    ] {
        if let Some(x) = m.get(k) {
            d.insert(k.into(), x.clone());
        }
    }
    r.details = d;
    let mut links = vec![];
    if let Some(o) = &ctx.owner
        && let Some(id) = &o.id
        && let Some(h) = &o.handle
    {
        links.push((
            format!("telegram:{id}"),
            format!("telegram:@{}", h.to_lowercase()),
        ));
    }
    Ok(SocialOutcome::Item(Parsed { record: r, links }))
}
