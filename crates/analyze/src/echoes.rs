//! Echoes: public posts (or messages to third parties) that follow a private message, scored by
//! shared links, mentions of the sender and shared rare terms, with a significance figure from a
//! circular time-shift test over the poster's own history. `docs/echoes.md` explains the method.
//!
//! Everything here is a pure function of [`Item`]s, which the caller loads from the archive.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What the echo finder needs to know about one item.
#[derive(Clone, Debug, Default)]
pub struct Item {
    pub id: String,
    pub kind: String,
    pub date: i64,
    /// The sender's actor id, if known.
    pub sender: Option<i64>,
    /// Actor ids of recipients (To/Cc/Bcc or the other side of a DM).
    pub recipients: Vec<i64>,
    pub text: String,
    /// Links as the source gives them, expanded where it gives the expansion.
    pub urls: Vec<String>,
    /// Actor ids the item mentions explicitly (e.g. a tweet's `user_mentions`).
    pub mentions: Vec<i64>,
}

impl Item {
    fn is_private(&self) -> bool {
        self.kind == "email" || self.kind == "dm"
    }
}

/// An actor as the echo finder sees it: the words that name it and the groups it belongs to.
#[derive(Clone, Debug, Default)]
pub struct Actor {
    pub name: String,
    /// Lower-case names, handles and identity values that count as a mention of this actor.
    pub aliases: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub window_secs: i64,
    /// Only causes sent by these actors (empty: any).
    pub from: Option<HashSet<i64>>,
    /// Only causes addressed to these actors (empty: any).
    pub to: Option<HashSet<i64>>,
    pub limit: usize,
    /// Time shifts per test (more gives finer p-values; 999 resolves p down to 0.001).
    pub shifts: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            window_secs: 86_400,
            from: None,
            to: None,
            limit: 50,
            shifts: 999,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct Evidence {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub detail: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Echo {
    pub cause_id: String,
    pub echo_id: String,
    pub cause_sender: Option<i64>,
    pub echo_poster: Option<i64>,
    pub delay_seconds: i64,
    /// Content similarity weighted by how soon the echo came (higher is stronger).
    pub score: f64,
    /// Content similarity alone.
    pub similarity: f64,
    pub p_value: f64,
    /// Time shifts the p-value was estimated from.
    pub shifts: usize,
    pub evidence: Vec<Evidence>,
}

/// Normalises a URL for comparison: scheme, `www.`, host case, default ports, trailing slash and
/// fragment do not matter.
pub fn normalize_url(u: &str) -> Option<String> {
    let u = u.trim().trim_end_matches(['.', ',', ')', ']', '"', '\'']);
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .or_else(|| u.strip_prefix("HTTPS://"))
        .or_else(|| u.strip_prefix("HTTP://"))?;
    let rest = rest.split('#').next().unwrap_or("");
    let (host, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = host.to_ascii_lowercase();
    let host = host
        .strip_suffix(":80")
        .or_else(|| host.strip_suffix(":443"))
        .unwrap_or(&host);
    let host = host.strip_prefix("www.").unwrap_or(host);
    if host.is_empty() || !host.contains('.') {
        return None;
    }
    let path = path.trim_end_matches('/');
    Some(format!("{host}{path}"))
}

/// URLs written in a text (for sources that do not list their links).
pub fn urls_in_text(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '<' || c == '>')
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(str::to_string)
        .collect()
}

const STOP: &[&str] = &[
    "about", "after", "again", "also", "been", "before", "being", "could", "does", "doing", "from",
    "have", "having", "here", "into", "just", "like", "more", "most", "much", "must", "only",
    "other", "over", "same", "should", "some", "such", "than", "that", "their", "them", "then",
    "there", "these", "they", "this", "those", "through", "very", "want", "were", "what", "when",
    "where", "which", "while", "will", "with", "would", "your", "https", "http",
];

fn terms(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

/// Whether `text` (lower-cased) names `alias` as a whole word.
fn mentions_word(text: &str, alias: &str) -> bool {
    if alias.chars().count() < 3 {
        return false;
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(alias) {
        let start = from + i;
        let end = start + alias.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        from = start + alias.len().max(1);
    }
    false
}

/// Per-item features, computed once.
struct Features {
    urls: BTreeSet<String>,
    terms: BTreeSet<String>,
    lower: String,
}

/// Weights of the kinds of evidence in the similarity. A shared link is the strongest sign that
/// one message prompted the other; naming the sender is next; shared rare terms add by rarity.
const W_URL: f64 = 3.0;
const W_MENTION: f64 = 2.0;
const W_TERMS: f64 = 2.0;
/// Rare terms: those in at most this share of the items (and at least this idf).
const MAX_TERM_SHARE: f64 = 0.002;

struct Scorer<'a> {
    items: &'a [Item],
    feats: Vec<Features>,
    idf: HashMap<String, f64>,
    actors: &'a BTreeMap<i64, Actor>,
}

impl Scorer<'_> {
    /// Similarity of a cause and a candidate, with the evidence behind it.
    fn similarity(&self, cause: usize, cand: usize) -> (f64, Vec<Evidence>) {
        let (c, e) = (&self.feats[cause], &self.feats[cand]);
        let mut ev = vec![];
        let mut sim = 0.0;
        let shared: Vec<&String> = c.urls.intersection(&e.urls).collect();
        if !shared.is_empty() {
            sim += W_URL;
            for u in shared.iter().take(3) {
                ev.push(Evidence {
                    kind: "url",
                    detail: (*u).clone(),
                });
            }
        }
        if let Some(a) = self.items[cause].sender
            && let Some(actor) = self.actors.get(&a)
        {
            let by_entity = self.items[cand].mentions.contains(&a);
            let alias = actor.aliases.iter().find(|al| mentions_word(&e.lower, al));
            if by_entity || alias.is_some() {
                sim += W_MENTION;
                ev.push(Evidence {
                    kind: "mention",
                    detail: match alias {
                        Some(al) => format!("names {} (\"{al}\")", actor.name),
                        None => format!("mentions {}", actor.name),
                    },
                });
            }
        }
        let mut rare: Vec<(&String, f64)> = c
            .terms
            .intersection(&e.terms)
            .filter_map(|t| self.idf.get(t).map(|w| (t, *w)))
            .collect();
        if !rare.is_empty() {
            rare.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            let weight: f64 = rare.iter().map(|(_, w)| w).sum();
            let norm: f64 = c
                .terms
                .iter()
                .filter_map(|t| self.idf.get(t))
                .sum::<f64>()
                .max(1e-9);
            sim += W_TERMS * (weight / norm).min(1.0);
            ev.push(Evidence {
                kind: "terms",
                detail: rare
                    .iter()
                    .take(6)
                    .map(|(t, _)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        (sim, ev)
    }
}

/// How strongly a similarity this soon points at the cause: linear in the delay over the window.
fn strength(sim: f64, delay: i64, window: i64) -> f64 {
    sim * (1.0 - delay as f64 / (window as f64 + 1.0))
}

/// One candidate poster's history for the shift test.
struct History {
    /// (time, item index) of the poster's eligible items, sorted by time.
    posts: Vec<(i64, usize)>,
    first: i64,
    span_days: i64,
}

/// Circular time-shift test. Shifting the poster's whole history by whole days (wrapping at the
/// ends of their active span) keeps their daily rhythm and their bursts but breaks any link to
/// the cause. The p-value is the share of shifts in which some post at least as similar lands at
/// least as strongly (similarity × promptness) after the cause as the observed echo did.
fn shift_p_value(
    h: &History,
    cause_time: i64,
    window: i64,
    observed: f64,
    sims: &[(usize, f64, i64)],
    shifts: usize,
) -> (f64, usize) {
    // Only posts that could reach the observed strength matter (promptness is at most 1).
    let strong: Vec<(i64, f64)> = sims
        .iter()
        .filter(|(_, s, _)| *s >= observed)
        .map(|(_, s, t)| (*t, *s))
        .collect();
    let days = h.span_days.max(2);
    let n = (days - 1) as usize;
    let k = shifts.min(n).max(1);
    let span = days * 86_400;
    let mut hits = 0usize;
    for s in 0..k {
        // Evenly spaced whole-day shifts in [1, days-1], deterministic.
        let d = 1 + (s as i64 * (days - 1)) / k as i64;
        let shift = d * 86_400;
        let hit = strong.iter().any(|(t, sim)| {
            let shifted = h.first + (t - h.first + shift).rem_euclid(span);
            let delay = shifted - cause_time;
            delay > 0 && delay <= window && strength(*sim, delay, window) >= observed
        });
        hits += hit as usize;
    }
    ((1 + hits) as f64 / (1 + k) as f64, k)
}

pub fn find(items: &[Item], actors: &BTreeMap<i64, Actor>, opts: &Options) -> Vec<Echo> {
    let feats: Vec<Features> = items
        .iter()
        .map(|it| {
            let mut urls: BTreeSet<String> =
                it.urls.iter().filter_map(|u| normalize_url(u)).collect();
            urls.extend(
                urls_in_text(&it.text)
                    .iter()
                    .filter_map(|u| normalize_url(u)),
            );
            // Short links stand for their expansion where the source gives one; drop the
            // unexpanded t.co forms so they never count as shared content by themselves.
            urls.retain(|u| !u.starts_with("t.co/"));
            let text_wo_urls: String = it
                .text
                .split_whitespace()
                .filter(|w| !w.starts_with("http"))
                .collect::<Vec<_>>()
                .join(" ");
            Features {
                urls,
                terms: terms(&text_wo_urls),
                lower: it.text.to_lowercase(),
            }
        })
        .collect();
    let n = items.len().max(1) as f64;
    let mut df: HashMap<&str, usize> = HashMap::new();
    for f in &feats {
        for t in &f.terms {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let idf: HashMap<String, f64> = df
        .into_iter()
        .filter(|(_, d)| (*d as f64) <= (n * MAX_TERM_SHARE).max(2.0))
        .map(|(t, d)| (t.to_string(), (n / d as f64).ln()))
        .filter(|(_, w)| *w > 0.0)
        .collect();
    let scorer = Scorer {
        items,
        feats,
        idf,
        actors,
    };

    // Members of each group, and the groups of each actor.
    let mut members: HashMap<&str, Vec<i64>> = HashMap::new();
    for (id, a) in actors {
        for g in &a.groups {
            members.entry(g.as_str()).or_default().push(*id);
        }
    }
    // Eligible echo items per poster, in time order.
    let mut by_poster: HashMap<i64, History> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        if let Some(p) = it.sender {
            by_poster
                .entry(p)
                .or_insert_with(|| History {
                    posts: vec![],
                    first: 0,
                    span_days: 0,
                })
                .posts
                .push((it.date, i));
        }
    }
    for h in by_poster.values_mut() {
        h.posts.sort();
        let (first, last) = (h.posts[0].0, h.posts[h.posts.len() - 1].0);
        h.first = first;
        h.span_days = (last - first) / 86_400 + 1;
    }

    let mut term_posts: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut url_posts: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, f) in scorer.feats.iter().enumerate() {
        for t in &f.terms {
            if scorer.idf.contains_key(t) {
                term_posts.entry(t.as_str()).or_default().push(i);
            }
        }
        for u in &f.urls {
            url_posts.entry(u.as_str()).or_default().push(i);
        }
    }
    let mut mention_cache: HashMap<(i64, i64), Vec<usize>> = HashMap::new();

    let mut out = vec![];
    for (ci, cause) in items.iter().enumerate() {
        if !cause.is_private() || cause.recipients.is_empty() {
            continue;
        }
        let Some(a) = cause.sender else { continue };
        if opts.from.as_ref().is_some_and(|f| !f.contains(&a)) {
            continue;
        }
        if opts
            .to
            .as_ref()
            .is_some_and(|t| !cause.recipients.iter().any(|r| t.contains(r)))
        {
            continue;
        }
        // B, and the members of B's groups.
        let mut posters: BTreeSet<i64> = cause.recipients.iter().copied().collect();
        for r in &cause.recipients {
            if let Some(actor) = actors.get(r) {
                for g in &actor.groups {
                    posters.extend(members.get(g.as_str()).into_iter().flatten());
                }
            }
        }
        posters.remove(&a);
        for p in posters {
            let Some(h) = by_poster.get(&p) else { continue };
            // The poster's items that could echo: public posts, or messages to third parties.
            let eligible = |j: usize| {
                let it = &items[j];
                j != ci && (it.kind == "post" || (it.is_private() && !it.recipients.contains(&a)))
            };
            let start = h.posts.partition_point(|(t, _)| *t <= cause.date);
            let in_window: Vec<usize> = h.posts[start..]
                .iter()
                .take_while(|(t, _)| *t <= cause.date + opts.window_secs)
                .map(|(_, j)| *j)
                .filter(|j| eligible(*j))
                .collect();
            if in_window.is_empty() {
                continue;
            }
            // Only items sharing a link or a rare term with the cause, or naming its sender, can
            // be similar: look them up instead of comparing with the poster's whole history.
            let mut cands: BTreeSet<usize> = BTreeSet::new();
            for t in &scorer.feats[ci].terms {
                if let Some(list) = term_posts.get(t.as_str()) {
                    cands.extend(list.iter().copied().filter(|&j| items[j].sender == Some(p)));
                }
            }
            for u in &scorer.feats[ci].urls {
                if let Some(list) = url_posts.get(u.as_str()) {
                    cands.extend(list.iter().copied().filter(|&j| items[j].sender == Some(p)));
                }
            }
            let mention_list = mention_cache.entry((p, a)).or_insert_with(|| {
                let aliases: Vec<&str> = actors
                    .get(&a)
                    .map(|x| x.aliases.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                h.posts
                    .iter()
                    .map(|(_, j)| *j)
                    .filter(|&j| {
                        items[j].mentions.contains(&a)
                            || aliases
                                .iter()
                                .any(|al| mentions_word(&scorer.feats[j].lower, al))
                    })
                    .collect()
            });
            cands.extend(mention_list.iter().copied());
            let mut sims: Vec<(usize, f64, i64)> = vec![];
            let mut best: Option<(usize, f64, Vec<Evidence>)> = None;
            for j in cands {
                if !eligible(j) {
                    continue;
                }
                let (sim, ev) = scorer.similarity(ci, j);
                if sim > 0.0 {
                    sims.push((j, sim, items[j].date));
                    let delay = items[j].date - cause.date;
                    if delay > 0 && delay <= opts.window_secs {
                        let st = strength(sim, delay, opts.window_secs);
                        if best.as_ref().is_none_or(|(_, b, _)| st > *b) {
                            best = Some((j, st, ev));
                        }
                    }
                }
            }
            let Some((j, st, evidence)) = best else {
                continue;
            };
            let (p_value, k) =
                shift_p_value(h, cause.date, opts.window_secs, st, &sims, opts.shifts);
            let sim = sims
                .iter()
                .find(|(x, _, _)| *x == j)
                .map(|(_, s, _)| *s)
                .unwrap_or(0.0);
            out.push(Echo {
                cause_id: cause.id.clone(),
                echo_id: items[j].id.clone(),
                cause_sender: Some(a),
                echo_poster: Some(p),
                delay_seconds: items[j].date - cause.date,
                score: st,
                similarity: sim,
                p_value,
                shifts: k,
                evidence,
            });
        }
    }
    out.sort_by(|x, y| {
        x.p_value
            .total_cmp(&y.p_value)
            .then(y.score.total_cmp(&x.score))
            .then(x.delay_seconds.cmp(&y.delay_seconds))
            .then(x.cause_id.cmp(&y.cause_id))
    });
    out.truncate(opts.limit);
    out
}

/// A link first seen in a private item and later in public ones.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LinkTrail {
    pub url: String,
    pub first_private: Sighting,
    pub public: Vec<Sighting>,
    /// Delay of the first public sighting after the private one.
    pub first_delay_seconds: i64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Sighting {
    pub id: String,
    pub date: i64,
    pub sender: Option<i64>,
    pub recipients: Vec<i64>,
    pub delay_seconds: i64,
}

/// Every normalised URL whose first sighting is private and which later appears in public.
pub fn link_trails(items: &[Item]) -> Vec<LinkTrail> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (items[i].date, i));
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut public: HashMap<String, Vec<usize>> = HashMap::new();
    for i in order {
        let it = &items[i];
        let mut urls: BTreeSet<String> = it.urls.iter().filter_map(|u| normalize_url(u)).collect();
        urls.extend(
            urls_in_text(&it.text)
                .iter()
                .filter_map(|u| normalize_url(u)),
        );
        urls.retain(|u| !u.starts_with("t.co/"));
        for u in urls {
            match first.get(&u) {
                None => {
                    first.insert(u, i);
                }
                Some(&f) if items[f].is_private() && it.kind == "post" => {
                    public.entry(u).or_default().push(i);
                }
                _ => {}
            }
        }
    }
    let sight = |i: usize, since: i64| Sighting {
        id: items[i].id.clone(),
        date: items[i].date,
        sender: items[i].sender,
        recipients: items[i].recipients.clone(),
        delay_seconds: items[i].date - since,
    };
    let mut out: Vec<LinkTrail> = public
        .into_iter()
        .map(|(url, pubs)| {
            let f = first[&url];
            let t0 = items[f].date;
            LinkTrail {
                first_delay_seconds: items[pubs[0]].date - t0,
                public: pubs.iter().map(|&i| sight(i, t0)).collect(),
                first_private: sight(f, t0),
                url,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.first_delay_seconds
            .cmp(&b.first_delay_seconds)
            .then(a.url.cmp(&b.url))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise() {
        let n = |u| normalize_url(u).unwrap();
        assert_eq!(n("http://www.WLsearch.tk/"), "wlsearch.tk");
        assert_eq!(n("https://wlsearch.tk"), "wlsearch.tk");
        assert_eq!(
            n("https://example.org/a/b/?x=1#frag"),
            "example.org/a/b/?x=1"
        );
        assert_eq!(n("https://example.org:443/a/"), "example.org/a");
        assert_eq!(normalize_url("mailto:x@y"), None);
        assert!(mentions_word("all the @wikileaks emails", "wikileaks"));
        assert!(!mentions_word("wikileaksfan", "wikileaks"));
    }

    fn item(id: &str, kind: &str, date: i64, sender: i64, to: &[i64], text: &str) -> Item {
        Item {
            id: id.into(),
            kind: kind.into(),
            date,
            sender: Some(sender),
            recipients: to.to_vec(),
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_prompt_post_sharing_the_link_is_an_echo() {
        let day = 86_400;
        let mut items = vec![item(
            "dm",
            "dm",
            100 * day,
            1,
            &[2],
            "please push http://wlsearch.tk/ today",
        )];
        // A poster with a history of unrelated daily posts.
        for d in 0..200 {
            items.push(item(
                &format!("p{d}"),
                "post",
                d * day + 3600,
                2,
                &[],
                &format!("weather report number {d} sunny"),
            ));
        }
        items.push(item(
            "echo",
            "post",
            100 * day + 900,
            2,
            &[],
            "everything is here: https://www.wlsearch.tk",
        ));
        let mut actors = BTreeMap::new();
        actors.insert(
            1,
            Actor {
                name: "WikiLeaks".into(),
                aliases: vec!["wikileaks".into()],
                groups: vec![],
            },
        );
        let echoes = find(&items, &actors, &Options::default());
        assert_eq!(echoes.len(), 1);
        let e = &echoes[0];
        assert_eq!((e.cause_id.as_str(), e.echo_id.as_str()), ("dm", "echo"));
        assert_eq!(e.delay_seconds, 900);
        assert!(e.p_value < 0.01, "{e:?}");
        assert_eq!(e.evidence[0].kind, "url");
        // A member of the recipient's group can echo too; --to takes the recipient.
        actors.insert(
            2,
            Actor {
                name: "Jr".into(),
                aliases: vec![],
                groups: vec!["family".into()],
            },
        );
        actors.insert(
            3,
            Actor {
                name: "Sr".into(),
                aliases: vec![],
                groups: vec!["family".into()],
            },
        );
        let mut with_group = items.clone();
        with_group.push(item(
            "sr",
            "post",
            100 * day + 300,
            3,
            &[],
            "read https://wlsearch.tk now",
        ));
        let opts = Options {
            to: Some([2].into_iter().collect()),
            ..Default::default()
        };
        let echoes = find(&with_group, &actors, &opts);
        let posters: Vec<Option<i64>> = echoes.iter().map(|e| e.echo_poster).collect();
        assert!(posters.contains(&Some(3)), "{echoes:?}");
        let none = Options {
            from: Some([2].into_iter().collect()),
            ..Default::default()
        };
        assert!(find(&with_group, &actors, &none).is_empty());
        let trails = link_trails(&items);
        assert_eq!(trails.len(), 1);
        assert_eq!(trails[0].url, "wlsearch.tk");
        assert_eq!(trails[0].first_delay_seconds, 900);
    }
}
