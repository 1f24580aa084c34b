//! `trove timeline`, `trove echoes` and `trove links`: one time line across sources, public posts
//! that follow private messages, and links that travel from private to public.

use crate::commands::UsageError;
use anyhow::Result;
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;
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
    let bad = || UsageError(format!("'{s}' is not a duration (e.g. 15m, 24h, 2d, 1w)"));
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

fn name_of(l: &Loaded, id: Option<i64>) -> String {
    id.and_then(|i| l.actors.get(&i))
        .map(|a| a.name.clone())
        .unwrap_or_else(|| "?".into())
}

fn short(text: &str, n: usize) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        let mut s: String = one.chars().take(n).collect();
        s.push('…');
        s
    }
}

pub struct TimelineArgs {
    pub actors: Vec<String>,
    pub groups: Vec<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub kinds: Vec<String>,
    pub csv: bool,
}

pub fn timeline(archive: &Archive, a: &TimelineArgs, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let mut wanted: Option<HashSet<i64>> = None;
    for key in a.actors.iter().chain(&a.groups) {
        wanted
            .get_or_insert_with(HashSet::new)
            .extend(resolve(&cat, key)?);
    }
    let lo = match &a.after {
        Some(d) => Some(trove_index::period_bounds(d)?.0),
        None => None,
    };
    let hi = match &a.before {
        Some(d) => Some(trove_index::period_bounds(d)?.0),
        None => None,
    };
    let keep = |it: &ItemRow, involved: &[i64]| {
        let d = it.date_utc.unwrap_or(0);
        lo.is_none_or(|l| d >= l)
            && hi.is_none_or(|h| d < h)
            && (a.kinds.is_empty() || a.kinds.contains(&it.kind))
            && wanted
                .as_ref()
                .is_none_or(|w| involved.iter().any(|x| w.contains(x)))
    };
    let mut l = load(archive, &keep)?;
    l.items
        .sort_by(|x, y| (x.date, &x.id).cmp(&(y.date, &y.id)));
    if a.csv {
        let mut w = csv::Writer::from_writer(std::io::stdout().lock());
        w.write_record(["id", "kind", "date", "actor", "counterparts", "text"])?;
        for it in &l.items {
            let counterparts: Vec<String> = it
                .recipients
                .iter()
                .map(|r| name_of(&l, Some(*r)))
                .collect();
            let res = w.write_record([
                it.id.as_str(),
                it.kind.as_str(),
                &rfc3339_utc(it.date),
                &name_of(&l, it.sender),
                &counterparts.join("; "),
                &short(&it.text, 280),
            ]);
            if res.is_err() {
                break;
            }
        }
        let _ = w.flush();
        return Ok(ExitCode::SUCCESS);
    }
    for it in &l.items {
        let counterparts: Vec<String> = it
            .recipients
            .iter()
            .map(|r| name_of(&l, Some(*r)))
            .collect();
        if json {
            outln!(
                "{}",
                json!({
                    "id": it.id,
                    "kind": it.kind,
                    "date": rfc3339_utc(it.date),
                    "actor": name_of(&l, it.sender),
                    "counterparts": counterparts,
                    "text": short(&it.text, 280),
                })
            );
        } else {
            let arrow = if counterparts.is_empty() {
                String::new()
            } else {
                format!(" → {}", counterparts.join(", "))
            };
            outln!(
                "{}  {:<5} {}{arrow}: {}   [{}]",
                rfc3339_utc(it.date),
                it.kind,
                name_of(&l, it.sender),
                short(&it.text, 100),
                it.id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub struct EchoArgs {
    pub window: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub limit: usize,
}

fn human_delay(secs: i64) -> String {
    match secs {
        s if s < 3600 => format!("{}m", (s + 59) / 60),
        s if s < 172_800 => format!("{:.1}h", s as f64 / 3600.0),
        s => format!("{:.1}d", s as f64 / 86_400.0),
    }
}

pub fn echoes(archive: &Archive, a: &EchoArgs, json: bool) -> Result<ExitCode> {
    let cat = archive.catalog()?;
    let mut opts = Options {
        window_secs: parse_duration(&a.window)?,
        limit: a.limit,
        ..Default::default()
    };
    for k in &a.from {
        opts.from
            .get_or_insert_with(HashSet::new)
            .extend(resolve(&cat, k)?);
    }
    for k in &a.to {
        opts.to
            .get_or_insert_with(HashSet::new)
            .extend(resolve(&cat, k)?);
    }
    let l = load(archive, &|_, _| true)?;
    let found: Vec<Echo> = echoes::find(&l.items, &l.actors, &opts);
    let by_id: HashMap<&str, &Item> = l.items.iter().map(|i| (i.id.as_str(), i)).collect();
    for e in &found {
        let cause = by_id[e.cause_id.as_str()];
        let echo = by_id[e.echo_id.as_str()];
        if json {
            let mut v = serde_json::to_value(e)?;
            v["cause_sender"] = json!(name_of(&l, e.cause_sender));
            v["echo_poster"] = json!(name_of(&l, e.echo_poster));
            v["cause_date"] = json!(rfc3339_utc(cause.date));
            v["echo_date"] = json!(rfc3339_utc(echo.date));
            v["echo_kind"] = json!(echo.kind);
            outln!("{v}");
        } else {
            let why: Vec<String> = e
                .evidence
                .iter()
                .map(|x| format!("{} {}", x.kind, x.detail))
                .collect();
            let to: Vec<String> = cause
                .recipients
                .iter()
                .map(|r| name_of(&l, Some(*r)))
                .collect();
            outln!(
                "{} {} {} after {} → {} wrote: {}; p={:.3}   [{} → {}]",
                name_of(&l, e.echo_poster),
                if echo.kind == "post" {
                    "posted"
                } else {
                    "wrote"
                },
                human_delay(e.delay_seconds),
                name_of(&l, e.cause_sender),
                to.join(", "),
                why.join("; "),
                e.p_value,
                e.cause_id,
                e.echo_id
            );
        }
    }
    if found.is_empty() && !json {
        outln!("no echoes within {}", a.window);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn links(archive: &Archive, json: bool) -> Result<ExitCode> {
    let l = load(archive, &|_, _| true)?;
    for t in echoes::link_trails(&l.items) {
        if json {
            let sight = |s: &echoes::Sighting| {
                json!({
                    "id": s.id,
                    "date": rfc3339_utc(s.date),
                    "actor": name_of(&l, s.sender),
                    "recipients": s.recipients.iter().map(|r| name_of(&l, Some(*r))).collect::<Vec<_>>(),
                    "delay_seconds": s.delay_seconds,
                })
            };
            outln!(
                "{}",
                json!({
                    "url": t.url,
                    "first_private": sight(&t.first_private),
                    "public": t.public.iter().map(sight).collect::<Vec<_>>(),
                    "first_delay_seconds": t.first_delay_seconds,
                })
            );
        } else {
            outln!(
                "{}  first sent privately by {} ({}), public {} later by {}",
                t.url,
                name_of(&l, t.first_private.sender),
                rfc3339_utc(t.first_private.date),
                human_delay(t.first_delay_seconds),
                t.public
                    .iter()
                    .map(|s| name_of(&l, s.sender))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
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
