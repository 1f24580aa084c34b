//! One time line across sources, echoes (public posts that follow private messages) and link
//! trails (links that travel from private to public), as data.

use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use trove_analyze::echoes::{self, Actor, Echo, Item, Options};
use trove_model::{Provenance, rfc3339_utc};
use trove_store::{ActorSummary, Archive, Catalog, ItemRow};

/// Items with their sender, recipients, text and links, ready for the echo finder.
pub struct Loaded {
    pub items: Vec<Item>,
    pub actors: BTreeMap<i64, Actor>,
}

/// Words that count as naming an actor: its name, its handles, its full email addresses.
fn aliases(a: &ActorSummary) -> Vec<String> {
    let mut out = vec![a.name.to_lowercase()];
    for id in &a.identities {
        if let Some(h) = id.strip_prefix("twitter:@") {
            out.push(h.to_string());
            out.push(format!("@{h}"));
        } else if let Some(m) = id.strip_prefix("mailto:") {
            out.push(m.to_string());
        } else if let Some(n) = id.strip_prefix("name:") {
            out.push(n.to_lowercase());
        }
    }
    out.sort();
    out.dedup();
    out.retain(|a| a.chars().count() >= 3);
    out
}

/// The entries of a list in an item's source details (`urls`, `mentions`).
fn detail_list<'a>(it: &'a ItemRow, key: &str) -> impl Iterator<Item = &'a Value> {
    it.details
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Loads every dated item (optionally only those `keep` accepts) with its text re-derived from raw.
pub fn load(archive: &Archive, keep: &dyn Fn(&ItemRow, &[i64]) -> bool) -> Result<Loaded> {
    let cat = archive.catalog()?;
    let summaries = cat.actors()?;
    let actors: BTreeMap<i64, Actor> = summaries
        .iter()
        .map(|a| {
            (
                a.id,
                Actor {
                    name: a.name.clone(),
                    aliases: aliases(a),
                    groups: a.groups.clone(),
                },
            )
        })
        .collect();
    let addr_actor: HashMap<String, i64> = cat.address_actors()?.into_iter().collect();
    let mut people: HashMap<i64, (Option<i64>, Vec<i64>)> = HashMap::new();
    for (seq, role, addr) in cat.all_addresses()? {
        let Some(&actor) = addr_actor.get(&addr) else {
            continue;
        };
        let e = people.entry(seq).or_default();
        if role == "from" {
            e.0.get_or_insert(actor);
        } else if !e.1.contains(&actor) {
            e.1.push(actor);
        }
    }
    let provs = cat.first_social_provenance()?;
    // (item, sender actor, recipient actors, where a DM or post was first found)
    type Row = (ItemRow, Option<i64>, Vec<i64>, Option<Provenance>);
    let mut rows: Vec<Row> = vec![];
    cat.for_each_item(|it| {
        if it.date_utc.is_none() {
            return Ok(());
        }
        let (from, to) = people.remove(&it.seq).unwrap_or_default();
        let mut involved = to.clone();
        involved.extend(from);
        if keep(&it, &involved) {
            let p = provs.get(&it.raw_sha256.to_hex()).cloned();
            rows.push((it, from, to, p));
        }
        Ok(())
    })?;
    let twitter_actor = |id: &str| addr_actor.get(&format!("twitter:{id}")).copied();
    let items: Vec<Item> = rows
        .par_iter()
        .map(|(it, from, to, prov)| {
            let provs: Vec<Provenance> = prov.iter().cloned().collect();
            let text = trove_ingest::indexing::reparse(archive, it, &provs)
                .ok()
                .flatten()
                .map(|p| p.record.body_text)
                .unwrap_or_default();
            let urls = detail_list(it, "urls")
                .filter_map(|u| {
                    u.get("expanded")
                        .or_else(|| u.get("url"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            let mentions = detail_list(it, "mentions")
                .filter_map(|m| m.get("id").and_then(Value::as_str).and_then(twitter_actor))
                .collect();
            Item {
                id: it.id.to_string(),
                kind: it.kind.clone(),
                date: it.date_utc.unwrap_or(0),
                sender: *from,
                recipients: to.clone(),
                text,
                urls,
                mentions,
            }
        })
        .collect();
    Ok(Loaded { items, actors })
}

/// Actor ids a name, identity or group names.
pub fn resolve(cat: &Catalog, key: &str) -> Result<HashSet<i64>> {
    let all = cat.actors()?;
    let group: HashSet<i64> = all
        .iter()
        .filter(|a| a.groups.iter().any(|g| g.eq_ignore_ascii_case(key)))
        .map(|a| a.id)
        .collect();
    if !group.is_empty() {
        return Ok(group);
    }
    let found: HashSet<i64> = cat.find_actors(key)?.iter().map(|a| a.id).collect();
    if found.is_empty() {
        return Err(trove_store::Error::NotFound(format!(
            "no actor or group named '{key}' (see `trove actors`)"
        ))
        .into());
    }
    Ok(found)
}

/// `15m`, `24h`, `2d`, `1w`, or seconds.
pub fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let bad = || crate::UsageError(format!("'{s}' is not a duration (e.g. 15m, 24h, 2d, 1w)"));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad().into()),
    };
    Ok(n * mult)
}

pub fn name_of(l: &Loaded, id: Option<i64>) -> String {
    id.and_then(|i| l.actors.get(&i))
        .map(|a| a.name.clone())
        .unwrap_or_else(|| "?".into())
}

pub fn short(text: &str, n: usize) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        let mut s: String = one.chars().take(n).collect();
        s.push('…');
        s
    }
}

/// Which items a time line shows (all of them by default).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Actor names or identities, and group names; an item involving any of them is kept.
    pub actors: Vec<String>,
    /// `after:`-style dates (`2016`, `2016-10`, `2016-10-03`).
    pub after: Option<String>,
    pub before: Option<String>,
    pub kinds: Vec<String>,
}

/// One entry of the time line (`trove timeline --json`).
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub id: String,
    pub kind: String,
    pub date: String,
    #[serde(skip)]
    pub unix: i64,
    pub actor: String,
    pub counterparts: Vec<String>,
    /// The text on one line, cut at 280 characters.
    pub text: String,
}

/// The time line: every dated item the filter keeps, oldest first.
pub fn timeline(archive: &Archive, f: &Filter) -> Result<Vec<Entry>> {
    let cat = archive.catalog()?;
    let mut wanted: Option<HashSet<i64>> = None;
    for key in &f.actors {
        wanted
            .get_or_insert_with(HashSet::new)
            .extend(resolve(&cat, key)?);
    }
    let bound = |d: &Option<String>| -> Result<Option<i64>> {
        Ok(match d {
            Some(d) => Some(trove_index::period_bounds(d)?.0),
            None => None,
        })
    };
    let (lo, hi) = (bound(&f.after)?, bound(&f.before)?);
    let keep = |it: &ItemRow, involved: &[i64]| {
        let d = it.date_utc.unwrap_or(0);
        lo.is_none_or(|l| d >= l)
            && hi.is_none_or(|h| d < h)
            && (f.kinds.is_empty() || f.kinds.contains(&it.kind))
            && wanted
                .as_ref()
                .is_none_or(|w| involved.iter().any(|x| w.contains(x)))
    };
    let mut l = load(archive, &keep)?;
    l.items
        .sort_by(|x, y| (x.date, &x.id).cmp(&(y.date, &y.id)));
    Ok(l.items
        .iter()
        .map(|it| Entry {
            id: it.id.clone(),
            kind: it.kind.clone(),
            date: rfc3339_utc(it.date),
            unix: it.date,
            actor: name_of(&l, it.sender),
            counterparts: it
                .recipients
                .iter()
                .map(|r| name_of(&l, Some(*r)))
                .collect(),
            text: short(&it.text, 280),
        })
        .collect())
}

/// Which echoes to look for.
#[derive(Clone, Debug)]
pub struct EchoQuery {
    /// `15m`, `24h`, `2d`, `1w`.
    pub window: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub limit: usize,
}

/// Echoes, strongest first, each with names and dates resolved (`trove echoes --json`).
pub fn echoes(archive: &Archive, q: &EchoQuery) -> Result<Vec<Value>> {
    let cat = archive.catalog()?;
    let mut opts = Options {
        window_secs: parse_duration(&q.window)?,
        limit: q.limit,
        ..Default::default()
    };
    for k in &q.from {
        opts.from
            .get_or_insert_with(HashSet::new)
            .extend(resolve(&cat, k)?);
    }
    for k in &q.to {
        opts.to
            .get_or_insert_with(HashSet::new)
            .extend(resolve(&cat, k)?);
    }
    let l = load(archive, &|_, _| true)?;
    let found: Vec<Echo> = echoes::find(&l.items, &l.actors, &opts);
    let by_id: HashMap<&str, &Item> = l.items.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut out = Vec::with_capacity(found.len());
    for e in &found {
        let (Some(cause), Some(echo)) = (
            by_id.get(e.cause_id.as_str()),
            by_id.get(e.echo_id.as_str()),
        ) else {
            continue;
        };
        let mut v = serde_json::to_value(e)?;
        v["cause_sender"] = json!(name_of(&l, e.cause_sender));
        v["cause_recipients"] = json!(
            cause
                .recipients
                .iter()
                .map(|r| name_of(&l, Some(*r)))
                .collect::<Vec<_>>()
        );
        v["echo_poster"] = json!(name_of(&l, e.echo_poster));
        v["cause_date"] = json!(rfc3339_utc(cause.date));
        v["echo_date"] = json!(rfc3339_utc(echo.date));
        v["echo_kind"] = json!(echo.kind);
        v["cause_text"] = json!(short(&cause.text, 280));
        v["echo_text"] = json!(short(&echo.text, 280));
        out.push(v);
    }
    Ok(out)
}

/// Links first sent privately and later posted publicly (`trove links --json`).
pub fn links(archive: &Archive) -> Result<Vec<Value>> {
    let l = load(archive, &|_, _| true)?;
    let sight = |s: &echoes::Sighting| {
        json!({
            "id": s.id,
            "date": rfc3339_utc(s.date),
            "actor": name_of(&l, s.sender),
            "recipients": s.recipients.iter().map(|r| name_of(&l, Some(*r))).collect::<Vec<_>>(),
            "delay_seconds": s.delay_seconds,
        })
    };
    Ok(echoes::link_trails(&l.items)
        .iter()
        .map(|t| {
            json!({
                "url": t.url,
                "first_private": sight(&t.first_private),
                "public": t.public.iter().map(sight).collect::<Vec<_>>(),
                "first_delay_seconds": t.first_delay_seconds,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
