//! X/Twitter data export records: DMs (one-to-one and group), tweets, and the account record.
//!
//! A record's raw bytes are its JSON text as found in the export; the container adds the
//! conversation id and the export owner (from `account.js`), kept in the provenance context.

use super::jsonstream::Pat;
use super::time::{parse_iso, parse_twitter};
use super::{Parsed, SocialOutcome, field_str, obj, url_refs};
use serde_json::{Map, Value, json};
use trove_model::{
    AddressRole, Finding, ItemRecord, Kind, Mailbox, SourceContext, SourceFormat, Timestamp,
    snowflake_millis,
};

/// What an X export file holds, from the name in its `window.YTD.<name>.partN = ` prefix.
pub fn format_of(ytd_name: &str) -> Option<SourceFormat> {
    match ytd_name {
        "direct_messages" | "direct_message" => Some(SourceFormat::XDm),
        "direct_messages_group" | "direct_message_group" => Some(SourceFormat::XDmGroup),
        "tweets" | "tweet" | "deleted_tweets" | "deleted_tweet" => Some(SourceFormat::XTweet),
        "account" => Some(SourceFormat::XAccount),
        _ => None,
    }
}

/// Where the records of each X file sit.
pub fn pattern(format: SourceFormat) -> Pat {
    match format {
        SourceFormat::XDm | SourceFormat::XDmGroup => Pat::Array(Box::new(Pat::Object(vec![(
            "dmConversation",
            Pat::Object(vec![
                ("conversationId", Pat::Capture("conversation")),
                ("messages", Pat::Array(Box::new(Pat::Emit))),
            ]),
        )]))),
        _ => Pat::Array(Box::new(Pat::Emit)),
    }
}

fn twitter_box(id: &str, ctx: &SourceContext) -> Mailbox {
    let owner = ctx.owner.as_ref().filter(|o| o.id.as_deref() == Some(id));
    Mailbox {
        name: owner.and_then(|o| o.name.clone().or_else(|| o.handle.clone())),
        address: Some(format!("twitter:{id}")),
    }
}

/// How far a record's stated time may sit from its snowflake id's clock: X's own servers disagree
/// by a few seconds (in the real 2009–2017 archive, 42 of 19,980 tweets by 1 to 3 s).
const SNOWFLAKE_SKEW_MS: i64 = 5000;

/// Flags a snowflake id whose embedded time disagrees with the stated time.
fn check_snowflake(id: &str, utc_ms: i64, precision_ms: i64, findings: &mut Vec<Finding>) {
    if let Some(flake) = snowflake_millis(id) {
        let diff = flake - utc_ms;
        if !(-SNOWFLAKE_SKEW_MS..precision_ms + SNOWFLAKE_SKEW_MS).contains(&diff) {
            findings.push(Finding::new(
                "snowflake_mismatch",
                format!(
                    "id {id} encodes {} but the record says {} ({:+.3} s apart)",
                    trove_model::rfc3339_utc(flake.div_euclid(1000)),
                    trove_model::rfc3339_utc(utc_ms.div_euclid(1000)),
                    diff as f64 / 1000.0
                ),
            ));
        }
    }
}

pub fn parse_account(v: &Value) -> Result<SocialOutcome, String> {
    let a = obj(v, "account")?;
    let id = field_str(a, "accountId").ok_or("account record without accountId")?;
    let mut links = vec![];
    if let Some(h) = field_str(a, "username") {
        links.push((
            format!("twitter:{id}"),
            format!("twitter:@{}", h.to_lowercase()),
        ));
    }
    Ok(SocialOutcome::Evidence(links))
}

/// The owner an `account.js` record names.
pub fn owner_of_account(raw: &[u8]) -> Option<trove_model::Owner> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    let a = v.get("account")?.as_object()?;
    Some(trove_model::Owner {
        id: field_str(a, "accountId"),
        handle: field_str(a, "username"),
        name: field_str(a, "accountDisplayName"),
    })
}

pub fn parse_tweet(v: &Value, ctx: &SourceContext) -> Result<SocialOutcome, String> {
    let t = obj(v, "tweet")?;
    let id = field_str(t, "id_str")
        .or_else(|| field_str(t, "id"))
        .ok_or("tweet without id_str")?;
    let created = field_str(t, "created_at").ok_or("tweet without created_at")?;
    let mut r = ItemRecord {
        kind: Kind::Post,
        native_id: Some(id.clone()),
        ..Default::default()
    };
    match parse_twitter(&created) {
        Some((utc, off)) => {
            r.date = Timestamp {
                utc: Some(utc),
                offset_minutes: Some(off),
                raw: Some(created.clone()),
            };
            check_snowflake(&id, utc * 1000, 1000, &mut r.findings);
        }
        None => {
            r.date.raw = Some(created.clone());
            r.findings.push(Finding::new(
                "date_unparseable",
                format!("created_at '{created}' is not Twitter's date format"),
            ));
        }
    }
    match ctx.owner.as_ref().and_then(|o| o.id.clone()) {
        Some(owner) => r
            .addresses
            .push((AddressRole::From, twitter_box(&owner, ctx))),
        None => r.findings.push(Finding::new(
            "author_unknown",
            "no account.js beside tweets.js: the author is not stated in the record",
        )),
    }
    r.body_text = field_str(t, "full_text")
        .or_else(|| field_str(t, "text"))
        .unwrap_or_default();
    let mut links = vec![];
    let mut mentions = vec![];
    if let Some(ent) = t.get("entities").and_then(Value::as_object) {
        r.urls = url_refs(ent, "urls", "expanded_url", "display_url");
        for m in ent
            .get("user_mentions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(m) = m.as_object() else { continue };
            let handle = field_str(m, "screen_name");
            let uid = field_str(m, "id_str").filter(|s| is_user_id(s));
            if let (Some(h), Some(u)) = (&handle, &uid) {
                links.push((
                    format!("twitter:{u}"),
                    format!("twitter:@{}", h.to_lowercase()),
                ));
            }
            mentions.push(json!({"screen_name": handle, "id": uid, "name": field_str(m, "name")}));
        }
    }
    if let Some(p) = field_str(t, "in_reply_to_status_id_str").filter(|s| is_user_id(s)) {
        r.in_reply_to.push(p);
    }
    let reply_user = field_str(t, "in_reply_to_user_id_str").filter(|s| is_user_id(s));
    let reply_handle = field_str(t, "in_reply_to_screen_name");
    if let Some(u) = &reply_user {
        r.addresses.push((
            AddressRole::To,
            Mailbox {
                name: reply_handle.as_ref().map(|h| format!("@{h}")),
                address: Some(format!("twitter:{u}")),
            },
        ));
        if let Some(h) = &reply_handle {
            links.push((
                format!("twitter:{u}"),
                format!("twitter:@{}", h.to_lowercase()),
            ));
        }
    }
    let mut d = Map::new();
    if !mentions.is_empty() {
        d.insert("mentions".into(), Value::Array(mentions));
    }
    for k in [
        "lang",
        "source",
        "retweet_count",
        "favorite_count",
        "edit_info",
    ] {
        if let Some(x) = t.get(k) {
            d.insert(k.into(), x.clone());
        }
    }
    if r.body_text.starts_with("RT @") {
        d.insert("retweet".into(), Value::Bool(true));
    }
    r.details = d;
    Ok(SocialOutcome::Item(Parsed { record: r, links }))
}

/// X user ids are decimal; exports write `-1` where they do not know one.
fn is_user_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn parse_dm(v: &Value, ctx: &SourceContext, group: bool) -> Result<SocialOutcome, String> {
    let outer = v.as_object().ok_or("a DM record must be a JSON object")?;
    let (event, m) = outer
        .iter()
        .next()
        .and_then(|(k, v)| v.as_object().map(|m| (k.as_str(), m)))
        .ok_or("a DM record must hold one event object, e.g. messageCreate")?;
    let mut r = ItemRecord {
        kind: Kind::Dm,
        native_id: field_str(m, "id"),
        ..Default::default()
    };
    let created = field_str(m, "createdAt").ok_or(format!("{event} without createdAt"))?;
    match parse_iso(&created) {
        Some((utc, ms, off)) => {
            r.date = Timestamp {
                utc: Some(utc),
                offset_minutes: off,
                raw: Some(created.clone()),
            };
            if let Some(id) = &r.native_id {
                check_snowflake(id, utc * 1000 + ms as i64, 1, &mut r.findings);
            }
        }
        None => {
            r.date.raw = Some(created.clone());
            r.findings.push(Finding::new(
                "date_unparseable",
                format!("createdAt '{created}' is not ISO 8601"),
            ));
        }
    }
    let sender = field_str(m, "senderId").or_else(|| field_str(m, "initiatingUserId"));
    let recipient = field_str(m, "recipientId");
    if let Some(s) = &sender {
        r.addresses.push((AddressRole::From, twitter_box(s, ctx)));
    }
    if let Some(rc) = &recipient {
        r.addresses.push((AddressRole::To, twitter_box(rc, ctx)));
    }
    let conv = ctx.conversation.clone().or_else(|| {
        // One-to-one conversation ids are "<low id>-<high id>".
        let (a, b) = (sender.as_ref()?, recipient.as_ref()?);
        let (lo, hi) = if (a.len(), a) <= (b.len(), b) {
            (a, b)
        } else {
            (b, a)
        };
        Some(format!("{lo}-{hi}"))
    });
    r.conversation = conv.map(|c| format!("x:{c}"));
    if r.conversation.is_none() {
        r.findings.push(Finding::new(
            "conversation_unknown",
            "no conversationId and no sender/recipient pair",
        ));
    }
    let mut d = Map::new();
    if event == "messageCreate" {
        r.body_text = field_str(m, "text").unwrap_or_default();
        r.urls = url_refs(m, "urls", "expanded", "display");
        for k in ["mediaUrls", "reactions", "editHistory"] {
            if let Some(x) = m
                .get(k)
                .filter(|x| x.as_array().is_none_or(|a| !a.is_empty()))
            {
                d.insert(k.into(), x.clone());
            }
        }
    } else {
        let who = |k: &str| -> String {
            m.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            x.as_str().map(str::to_string).or_else(|| {
                                x.get("userId").and_then(Value::as_str).map(str::to_string)
                            })
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        r.body_text = match event {
            "participantsJoin" => format!("[participants joined: {}]", who("userIds")),
            "participantsLeave" => format!("[participants left: {}]", who("userIds")),
            "joinConversation" => {
                format!(
                    "[joined the conversation; participants: {}]",
                    who("participantsSnapshot")
                )
            }
            "conversationNameUpdate" => format!(
                "[conversation renamed to \"{}\"]",
                field_str(m, "name").unwrap_or_default()
            ),
            other => format!("[{other}]"),
        };
        d.insert("event".into(), Value::String(event.to_string()));
    }
    if group {
        d.insert("group".into(), Value::Bool(true));
    }
    r.details = d;
    Ok(SocialOutcome::Item(Parsed {
        record: r,
        links: vec![],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tweet_with(created_at: &str) -> Value {
        json!({"tweet": {"id_str": "947824196909961216", "created_at": created_at,
                         "full_text": "x", "entities": {"urls": [], "user_mentions": []}}})
    }

    fn findings(v: &Value) -> Vec<String> {
        match parse_tweet(v, &SourceContext::default()) {
            Ok(SocialOutcome::Item(p)) => p.record.findings.into_iter().map(|f| f.code).collect(),
            _ => panic!("not an item"),
        }
    }

    #[test]
    fn an_edited_time_contradicts_the_snowflake() {
        let ok = findings(&tweet_with("Mon Jan 01 13:37:52 +0000 2018"));
        assert!(!ok.contains(&"snowflake_mismatch".to_string()), "{ok:?}");
        let edited = findings(&tweet_with("Mon Jan 01 14:37:52 +0000 2018"));
        assert!(
            edited.contains(&"snowflake_mismatch".to_string()),
            "{edited:?}"
        );
    }
}
