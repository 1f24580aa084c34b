//! Items, threads, conversations and actors as JSON (the shapes of `trove show --json`,
//! `trove thread --json`, `trove conversations --json` and `trove actors --json`).

use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use trove_model::{AddressRole, ItemId, Mailbox, Sha256Hash, rfc3339_utc};
use trove_store::{ActorSummary, Archive, Catalog, ItemRow, ThreadMember};
use trove_verify::Verification;

/// Expands actor names and thread ids for the search index, from the catalog.
pub struct CatalogResolver<'a>(pub &'a Catalog);

impl trove_index::Resolver for CatalogResolver<'_> {
    fn actor_addresses(&self, key: &str) -> Vec<String> {
        self.0.actor_addresses(key).unwrap_or_default()
    }

    fn members(&self, key: &str) -> Vec<String> {
        let direct = self.0.member_ids(key).unwrap_or_default();
        if !direct.is_empty() {
            return direct;
        }
        // An item id stands for its thread or conversation.
        // (Conversation and thread ids are checked first, so an id prefix never shadows them.)
        match self.0.find_item(key) {
            Ok(it) => it
                .conversation
                .or(it.thread)
                .and_then(|t| self.0.member_ids(&t).ok())
                .unwrap_or_default(),
            Err(_) => vec![],
        }
    }

    fn tagged(&self, tag: &str) -> Vec<String> {
        self.0.tagged_ids(tag).unwrap_or_default()
    }
}

pub fn mailbox_json(m: &Mailbox) -> Value {
    json!({"name": m.name, "address": m.address})
}

/// The stored verification of an item, if it was verified.
pub fn stored_verification(cat: &Catalog, raw: &Sha256Hash) -> Result<Option<Verification>> {
    Ok(match cat.verification(raw)? {
        Some(row) => serde_json::from_str(&row.result).ok(),
        None => None,
    })
}

/// The JSON line of one item (the shape `trove verify --json` documents).
pub fn verification_json(id: &ItemId, v: &Verification) -> Value {
    let mut out = json!({
        "id": id,
        "verdict": v.verdict,
        "signatures": v.signatures,
        "forensics": v.forensics,
    });
    if let Some(arc) = &v.arc {
        out["arc"] = json!(arc);
    }
    out
}

/// Everything the archive knows about one item (`trove show --json`).
pub fn item_json(cat: &Catalog, archive: &Archive, it: &ItemRow) -> Result<Value> {
    let addrs = cat.addresses(it.seq)?;
    let role = |r: AddressRole| -> Vec<Value> {
        addrs
            .iter()
            .filter(|(x, _)| *x == r)
            .map(|(_, m)| mailbox_json(m))
            .collect()
    };
    let prov = cat.provenance(&it.raw_sha256)?;
    let reconstructed = prov.iter().any(|p| p.context.reconstructed);
    let body = trove_ingest::indexing::reparse(archive, it, &prov)?
        .map(|p| p.record.body_text)
        .unwrap_or_default();
    let conversation = match &it.conversation {
        Some(c) => {
            // Two messages either side: enough to read the item in its place.
            let n = it.conv_seq.unwrap_or(0);
            let context = conversation_json(cat, archive, c, Some((n - 2, n + 2)))?;
            let size = cat.conversation(c)?.map(|r| r.size);
            json!({"id": c, "seq": it.conv_seq, "size": size, "context": context})
        }
        None => Value::Null,
    };
    let mut details = it.details.clone();
    let urls = details.remove("urls").unwrap_or(json!([]));
    Ok(json!({
        "id": it.id,
        "kind": it.kind,
        "native_id": it.native_id,
        "raw_sha256": it.raw_sha256.to_hex(),
        "size": it.size,
        "date": it.date_rfc3339(),
        "date_raw": it.date_raw,
        "date_offset_minutes": it.date_offset,
        "subject": it.subject,
        "from": role(AddressRole::From),
        "sender": role(AddressRole::Sender),
        "to": role(AddressRole::To),
        "cc": role(AddressRole::Cc),
        "bcc": role(AddressRole::Bcc),
        "reply_to": role(AddressRole::ReplyTo),
        "in_reply_to": it.in_reply_to,
        "references": it.references,
        "thread": it.thread,
        "conversation": conversation,
        "people": people_json(cat, it)?,
        "urls": urls,
        "details": details,
        "body_text": body,
        "attachments": cat.attachments(it.seq)?,
        // Rebuilt bytes (Outlook stores) must never pass for what arrived: said at the top level.
        "reconstructed": reconstructed,
        "provenance": prov,
        "tags": cat.tags_of(&it.raw_sha256)?,
        "notes": cat.notes_of(&it.raw_sha256)?,
        "findings": it.findings,
        "dkim": stored_verification(cat, &it.raw_sha256)?,
        "ingested_at": it.ingested_at,
    }))
}

/// Sender and recipients of an item, each with the actor behind it.
pub fn people_json(cat: &Catalog, it: &ItemRow) -> Result<Value> {
    let mut out = serde_json::Map::new();
    for (role, mb) in cat.addresses(it.seq)? {
        let key = match role {
            AddressRole::From => "from",
            AddressRole::To | AddressRole::Cc | AddressRole::Bcc => "to",
            _ => continue,
        };
        let actor = match &mb.address {
            Some(a) => cat.actor_of_address(a)?,
            None => None,
        };
        let entry = json!({
            "identity": mb.address.as_deref().map(trove_model::identity_of_address),
            "name": mb.name,
            "actor": actor.map(|(n, _)| n),
        });
        if let Some(list) = out
            .entry(key)
            .or_insert_with(|| Value::Array(vec![]))
            .as_array_mut()
        {
            list.push(entry);
        }
    }
    Ok(Value::Object(out))
}

pub fn date_json(t: Option<i64>) -> Value {
    t.map(|s| Value::String(rfc3339_utc(s)))
        .unwrap_or(Value::Null)
}

/// Who sent an item, as people read it: the actor's name, else the name the source gave.
fn display_name(cat: &Catalog, it: &ItemRow) -> Result<Option<String>> {
    let actor = match &it.from_addr {
        Some(a) => cat.actor_of_address(a)?.map(|(name, _)| name),
        None => None,
    };
    Ok(actor.or_else(|| it.from_name.clone()))
}

/// The sender of an item as `ls` and `search` show it: an email address as written in From
/// (lower-cased), any other identity with its scheme (`twitter:39344374`).
fn from_identity(it: &ItemRow) -> Value {
    it.from_addr
        .as_deref()
        .map(|a| Value::String(a.to_string()))
        .unwrap_or(Value::Null)
}

/// The messages of a conversation in order (optionally only sequence numbers in `range`).
pub fn conversation_json(
    cat: &Catalog,
    archive: &Archive,
    conv: &str,
    range: Option<(i64, i64)>,
) -> Result<Vec<Value>> {
    let items = cat.conversation_items(conv, range)?;
    let mut out = Vec::with_capacity(items.len());
    for it in &items {
        let prov = cat.provenance(&it.raw_sha256)?;
        let text = trove_ingest::indexing::reparse(archive, it, &prov)?
            .map(|p| p.record.body_text)
            .unwrap_or_default();
        out.push(json!({
            "id": it.id,
            "seq": it.conv_seq,
            "date": it.date_rfc3339(),
            "from": from_identity(it),
            "from_name": display_name(cat, it)?,
            "kind": it.kind,
            "native_id": it.native_id,
            "text": text,
        }));
    }
    Ok(out)
}

/// A DM conversation (messages in order) or an email/post thread (a reply tree).
pub enum ThreadView {
    Conversation { id: String, messages: Vec<Value> },
    Tree(Value),
}

/// The thread or conversation an id names: a conversation id, or an item id (its conversation,
/// else its thread).
pub fn thread(cat: &Catalog, archive: &Archive, id: &str) -> Result<ThreadView> {
    let conv = match cat.conversation(id)? {
        Some(c) => c.id,
        None => {
            let it = cat.find_item(id)?;
            match (it.conversation, it.thread) {
                (Some(c), _) => c,
                (None, Some(t)) => return Ok(ThreadView::Tree(thread_tree(cat, &t)?)),
                (None, None) => {
                    bail!("item {id} has no thread yet; run `trove reindex` to derive threads")
                }
            }
        }
    };
    let messages = conversation_json(cat, archive, &conv, None)?;
    Ok(ThreadView::Conversation { id: conv, messages })
}

/// The reply tree of an email or post thread, with JWZ's dummy containers for messages everyone
/// answers but the archive lacks.
pub fn thread_tree(cat: &Catalog, thread: &str) -> Result<Value> {
    let rows = cat.thread_items(thread)?;
    let seqs: HashSet<i64> = rows.iter().map(|(it, _, _)| it.seq).collect();
    let mut children: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    let mut by_ghost: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut roots: Vec<usize> = vec![];
    for (i, (_, parent, ghost)) in rows.iter().enumerate() {
        match (parent, ghost) {
            (Some(p), _) if seqs.contains(p) => children.entry(*p).or_default().push(i),
            (_, Some(g)) => by_ghost.entry(g.clone()).or_default().push(i),
            _ => roots.push(i),
        }
    }
    fn node(
        rows: &[ThreadMember],
        children: &BTreeMap<i64, Vec<usize>>,
        i: usize,
        depth: usize,
    ) -> Value {
        let it = &rows[i].0;
        let kids: Vec<Value> = if depth > 10_000 {
            vec![]
        } else {
            children
                .get(&it.seq)
                .map(|c| {
                    c.iter()
                        .map(|&k| node(rows, children, k, depth + 1))
                        .collect()
                })
                .unwrap_or_default()
        };
        json!({
            "id": it.id,
            "date": it.date_rfc3339(),
            "from": from_identity(it),
            "from_name": it.from_name,
            "subject": it.subject,
            "kind": it.kind,
            "children": kids,
        })
    }
    let mut tops: Vec<Value> = roots
        .iter()
        .map(|&i| node(&rows, &children, i, 0))
        .collect();
    for (ghost, kids) in &by_ghost {
        let nodes: Vec<Value> = kids.iter().map(|&i| node(&rows, &children, i, 0)).collect();
        if nodes.len() == 1 {
            let mut n = nodes.into_iter().next().unwrap_or(Value::Null);
            n["in_reply_to_missing"] = json!(ghost);
            tops.push(n);
        } else {
            tops.push(json!({"id": null, "missing": ghost, "children": nodes}));
        }
    }
    Ok(if tops.len() == 1 {
        tops.remove(0)
    } else {
        let subject = rows.first().and_then(|(it, _, _)| it.subject.clone());
        json!({"id": null, "subject": subject, "children": tops})
    })
}

/// Every DM conversation with its participants and span (`trove conversations --json`).
pub fn conversations_json(cat: &Catalog) -> Result<Vec<Value>> {
    Ok(cat
        .conversations()?
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.name,
                "kind": c.kind,
                "participants": c.participants,
                "size": c.size,
                "first": date_json(c.first),
                "last": date_json(c.last),
            })
        })
        .collect())
}

pub fn actor_json(a: &ActorSummary) -> Value {
    json!({
        "name": a.name,
        "identities": a.identities,
        "groups": a.groups,
        "sent": a.sent,
        "received": a.received,
        "named_by": a.named_by,
    })
}

/// The one actor a name or identity names (not found, or ambiguous, is an error).
pub fn one_actor(cat: &Catalog, key: &str) -> Result<ActorSummary> {
    let mut found = cat.find_actors(key)?;
    match found.len() {
        0 => Err(trove_store::Error::NotFound(format!(
            "no actor named '{key}' and no actor with that identity"
        ))
        .into()),
        1 => Ok(found.remove(0)),
        n => Err(trove_store::Error::NotFound(format!(
            "'{key}' names {n} actors; give an identity instead (see `trove actors`)"
        ))
        .into()),
    }
}
