//! `trove actors`, `trove actor`, `trove thread`, `trove conversations`, and the catalog-backed
//! query resolver that lets `from:"Donald Trump Jr."` or `thread:<id>` mean what users expect.

use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use trove_analyze::actors::{MergeSpec, parse_actors_file};
use trove_model::{AddressRole, rfc3339_utc};
use trove_store::{ActorSummary, Archive, Catalog, ItemRow};

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

fn actor_json(a: &ActorSummary) -> Value {
    json!({
        "name": a.name,
        "identities": a.identities,
        "groups": a.groups,
        "sent": a.sent,
        "received": a.received,
        "named_by": a.named_by,
    })
}

pub fn list_actors(archive: &Archive, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let actors = cat.actors()?;
    if json {
        let v: Vec<Value> = actors.iter().map(actor_json).collect();
        outln!("{}", Value::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    for a in &actors {
        let groups = if a.groups.is_empty() {
            String::new()
        } else {
            format!("  [{}]", a.groups.join(", "))
        };
        outln!(
            "{:<32.32} sent {:>6}  received {:>6}  {}{groups}",
            a.name,
            a.sent,
            a.received,
            a.identities.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn one_actor(cat: &Catalog, key: &str) -> Result<ActorSummary> {
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

pub fn show_actor(archive: &Archive, key: &str, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let a = one_actor(&cat, key)?;
    if json {
        outln!("{}", actor_json(&a));
        return Ok(ExitCode::SUCCESS);
    }
    outln!("name        {}", a.name);
    outln!("named by    {}", a.named_by);
    outln!("identities  {}", a.identities.join("\n            "));
    if !a.groups.is_empty() {
        outln!("groups      {}", a.groups.join(", "));
    }
    outln!("sent        {}", a.sent);
    outln!("received    {}", a.received);
    Ok(ExitCode::SUCCESS)
}

pub fn import_actors(archive: &Archive, file: &Path, wait: bool, json: bool) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let specs = match parse_actors_file(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("trove: error: {}: {e}", file.display());
            return Ok(ExitCode::from(2));
        }
    };
    let lock = archive.lock(wait)?;
    let mut cat = archive.catalog_rw(&lock)?;
    for s in &specs {
        cat.add_actor_edit("import", &serde_json::to_string(s)?)?;
    }
    let summary = trove_analyze::rebuild(&mut cat)?;
    if json {
        outln!(
            "{}",
            json!({"imported": specs.len(), "actors": summary.actors})
        );
    } else {
        outln!(
            "imported {} actor definitions; the archive now has {} actors",
            specs.len(),
            summary.actors
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn merge_actors(
    archive: &Archive,
    a: &str,
    b: &str,
    name: Option<String>,
    wait: bool,
    json: bool,
) -> Result<ExitCode> {
    let lock = archive.lock(wait)?;
    let mut cat = archive.catalog_rw(&lock)?;
    let (x, y) = (one_actor(&cat, a)?, one_actor(&cat, b)?);
    if x.id == y.id {
        bail!("'{a}' and '{b}' are already one actor ({})", x.name);
    }
    let spec = MergeSpec {
        name: name.unwrap_or_else(|| x.name.clone()),
        identities: x.identities.iter().chain(&y.identities).cloned().collect(),
    };
    cat.add_actor_edit("merge", &serde_json::to_string(&spec)?)?;
    trove_analyze::rebuild(&mut cat)?;
    let merged = one_actor(&cat, &spec.identities[0])?;
    if json {
        outln!("{}", actor_json(&merged));
    } else {
        outln!(
            "merged into {} ({} identities)",
            merged.name,
            merged.identities.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn date(t: Option<i64>) -> Value {
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

pub fn thread(archive: &Archive, id: &str, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let conv = match cat.conversation(id)? {
        Some(c) => c.id,
        None => {
            let it = cat.find_item(id)?;
            match (it.conversation, it.thread) {
                (Some(c), _) => c,
                (None, Some(t)) => return print_tree(&cat, &t, json),
                (None, None) => {
                    bail!("item {id} has no thread yet; run `trove reindex` to derive threads")
                }
            }
        }
    };
    let entries = conversation_json(&cat, archive, &conv, None)?;
    if json {
        outln!("{}", Value::Array(entries));
        return Ok(ExitCode::SUCCESS);
    }
    for e in &entries {
        let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
        outln!(
            "#{:<4} {}  {}  {}",
            e["seq"],
            s("date"),
            e["from_name"].as_str().unwrap_or(&s("from")),
            s("id")
        );
        for line in s("text").lines() {
            outln!("      {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_tree(cat: &Catalog, thread: &str, json: bool) -> Result<ExitCode> {
    let rows = cat.thread_items(thread)?;
    let seqs: std::collections::HashSet<i64> = rows.iter().map(|(it, _, _)| it.seq).collect();
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
        rows: &[trove_store::ThreadMember],
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
            // JWZ's dummy container: a message everyone answers but the archive lacks.
            tops.push(json!({"id": null, "missing": ghost, "children": nodes}));
        }
    }
    let tree = if tops.len() == 1 {
        tops.remove(0)
    } else {
        let subject = rows.first().and_then(|(it, _, _)| it.subject.clone());
        json!({"id": null, "subject": subject, "children": tops})
    };
    if json {
        outln!("{tree}");
        return Ok(ExitCode::SUCCESS);
    }
    fn print(v: &Value, depth: usize) {
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        let label = if v["id"].is_null() {
            format!(
                "(not in the archive{})",
                v["missing"]
                    .as_str()
                    .map(|m| format!(": <{m}>"))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "{}  {}  {}  {}",
                s("id"),
                s("date"),
                v["from_name"].as_str().unwrap_or(&s("from")),
                s("subject")
            )
        };
        outln!("{}{label}", "  ".repeat(depth));
        for c in v["children"].as_array().into_iter().flatten() {
            print(c, depth + 1);
        }
    }
    print(&tree, 0);
    Ok(ExitCode::SUCCESS)
}

pub fn conversations(archive: &Archive, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let rows = cat.conversations()?;
    if json {
        let v: Vec<Value> = rows
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "name": c.name,
                    "kind": c.kind,
                    "participants": c.participants,
                    "size": c.size,
                    "first": date(c.first),
                    "last": date(c.last),
                })
            })
            .collect();
        outln!("{}", Value::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    for c in &rows {
        outln!(
            "{:<28} {:>6} msgs  {} … {}  {}{}",
            c.id,
            c.size,
            date(c.first).as_str().unwrap_or("?"),
            date(c.last).as_str().unwrap_or("?"),
            c.participants.join(", "),
            c.name
                .as_ref()
                .map(|n| format!("  \"{n}\""))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
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
