//! Grouping identities into actors.
//!
//! Automatic grouping uses exact evidence only: identity links recorded from raw records (an X
//! `account.js` pairs the owner's numeric id with the handle; a tweet's `user_mentions` pairs a
//! handle with an id). Display names never merge anyone: two "John Smith"s stay two actors until a
//! user says otherwise with `trove actors import` or `trove actors merge`. Those assertions are
//! kept as edits and replayed, in order, on every rebuild.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use trove_model::normalize_identity;
use trove_store::{ActorRow, SeenIdentity};

/// One `[[actor]]` of an actors file, also the body of an `import` edit.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
pub struct ActorSpec {
    pub name: String,
    #[serde(default)]
    pub identities: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The body of a `merge` edit: every identity of both actors at the time, and the kept name.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
pub struct MergeSpec {
    pub name: String,
    pub identities: Vec<String>,
}

#[derive(Deserialize)]
struct ActorsFile {
    #[serde(default)]
    actor: Vec<ActorSpec>,
}

/// Parses an actors file (TOML, `[[actor]]` tables), normalising identities. Errors name the
/// actor and the identity at fault.
pub fn parse_actors_file(text: &str) -> Result<Vec<ActorSpec>, String> {
    let f: ActorsFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = vec![];
    for (i, mut a) in f.actor.into_iter().enumerate() {
        if a.name.trim().is_empty() {
            return Err(format!("actor #{}: name is empty", i + 1));
        }
        let mut ids = vec![];
        for raw in &a.identities {
            match normalize_identity(raw) {
                Some(id) => ids.push(id),
                None => return Err(format!("actor '{}': empty identity", a.name)),
            }
        }
        a.identities = ids;
        out.push(a);
    }
    Ok(out)
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller index stays root, so results do not depend on edit order.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

/// How good a label of this scheme is as an actor's name (lower is better).
fn scheme_rank(identity: &str) -> u8 {
    match identity.split(':').next().unwrap_or("") {
        "twitter" if !identity.starts_with("twitter:@") => 0,
        "telegram" => 1,
        "mailto" => 2,
        "twitter" => 3,
        "phone" => 4,
        "name" => 6,
        _ => 5,
    }
}

fn fallback_name(identity: &str) -> String {
    match identity.split_once(':') {
        Some(("twitter", v)) | Some(("name", v)) | Some(("mailto", v)) => v.to_string(),
        _ => identity.to_string(),
    }
}

pub fn group(
    seen: &[SeenIdentity],
    links: &[(String, String, String)],
    edits: &[(String, String)],
) -> Vec<ActorRow> {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut labels: HashMap<String, String> = HashMap::new();
    for s in seen {
        index.entry(s.identity.clone()).or_insert(0);
        if let Some(l) = &s.label {
            labels.insert(s.identity.clone(), l.clone());
        }
    }
    for (a, b, _) in links {
        index.entry(a.clone()).or_insert(0);
        index.entry(b.clone()).or_insert(0);
    }
    let mut imports: Vec<(usize, ActorSpec)> = vec![];
    let mut merges: Vec<(usize, MergeSpec)> = vec![];
    for (order, (op, body)) in edits.iter().enumerate() {
        match op.as_str() {
            "import" => {
                if let Ok(spec) = serde_json::from_str::<ActorSpec>(body) {
                    for id in &spec.identities {
                        index.entry(id.clone()).or_insert(0);
                    }
                    imports.push((order, spec));
                }
            }
            "merge" => {
                if let Ok(spec) = serde_json::from_str::<MergeSpec>(body) {
                    for id in &spec.identities {
                        index.entry(id.clone()).or_insert(0);
                    }
                    merges.push((order, spec));
                }
            }
            _ => {}
        }
    }
    // Sorted identities get dense indices, so the grouping is deterministic.
    let names: Vec<String> = index.keys().cloned().collect();
    for (i, v) in index.values_mut().enumerate() {
        *v = i;
    }
    let mut uf = UnionFind {
        parent: (0..names.len()).collect(),
    };
    for (a, b, _) in links {
        uf.union(index[a], index[b]);
    }
    // (edit order, an identity of the actor, name)
    let mut namings: Vec<(usize, usize, String)> = vec![];
    let mut groups: Vec<(usize, String)> = vec![];
    for (order, spec) in &imports {
        let ids: Vec<usize> = spec.identities.iter().map(|i| index[i]).collect();
        for w in ids.windows(2) {
            uf.union(w[0], w[1]);
        }
        if let Some(&first) = ids.first() {
            namings.push((*order, first, spec.name.trim().to_string()));
            groups.extend(spec.groups.iter().map(|g| (first, g.clone())));
        }
    }
    for (order, spec) in &merges {
        let ids: Vec<usize> = spec.identities.iter().map(|i| index[i]).collect();
        for w in ids.windows(2) {
            uf.union(w[0], w[1]);
        }
        if let Some(&first) = ids.first() {
            namings.push((*order, first, spec.name.clone()));
        }
    }

    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..names.len() {
        let r = uf.find(i);
        members.entry(r).or_default().push(i);
    }
    let mut chosen: HashMap<usize, (usize, String, &'static str)> = HashMap::new();
    for (order, anchor, name) in namings {
        let r = uf.find(anchor);
        let by = if merges.iter().any(|(o, _)| *o == order) {
            "merge"
        } else {
            "import"
        };
        match chosen.get(&r) {
            Some((o, _, _)) if *o > order => {}
            _ => {
                chosen.insert(r, (order, name, by));
            }
        }
    }
    let mut group_sets: HashMap<usize, BTreeSet<String>> = HashMap::new();
    for (anchor, g) in groups {
        let r = uf.find(anchor);
        group_sets.entry(r).or_default().insert(g);
    }

    let mut actors: Vec<ActorRow> = members
        .into_iter()
        .map(|(root, ids)| {
            let identities: Vec<(String, Option<String>)> = ids
                .iter()
                .map(|&i| (names[i].clone(), labels.get(&names[i]).cloned()))
                .collect();
            let (name, named_by) = match chosen.remove(&root) {
                Some((_, n, by)) => (n, by.to_string()),
                None => {
                    let mut best: Vec<&(String, Option<String>)> = identities.iter().collect();
                    best.sort_by_key(|(id, l)| (l.is_none(), scheme_rank(id), id.clone()));
                    match best.first() {
                        Some((_, Some(l))) => (l.clone(), "label".to_string()),
                        Some((id, None)) => (fallback_name(id), "identity".to_string()),
                        None => (String::new(), "identity".to_string()),
                    }
                }
            };
            ActorRow {
                id: 0,
                name,
                groups: group_sets
                    .remove(&root)
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default(),
                named_by,
                identities,
            }
        })
        .collect();
    actors.sort_by(|a, b| (&a.name, &a.identities).cmp(&(&b.name, &b.identities)));
    for (i, a) in actors.iter_mut().enumerate() {
        a.id = i as i64 + 1;
    }
    actors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: &str, label: Option<&str>) -> SeenIdentity {
        SeenIdentity {
            identity: id.into(),
            label: label.map(str::to_string),
        }
    }

    #[test]
    fn exact_links_and_imports_group_names_never_do() {
        let seen = vec![
            seen("twitter:39344374", Some("Donald Trump Jr.")),
            seen("twitter:@donaldjtrumpjr", None),
            seen("mailto:john@a.example", Some("John Smith")),
            seen("mailto:john@b.example", Some("John Smith")),
            seen("twitter:25073877", Some("Donald J. Trump")),
        ];
        let links = vec![(
            "twitter:39344374".to_string(),
            "twitter:@donaldjtrumpjr".to_string(),
            "abc".to_string(),
        )];
        let actors = group(&seen, &links, &[]);
        assert_eq!(actors.len(), 4, "{actors:#?}");
        let jr = actors
            .iter()
            .find(|a| a.name == "Donald Trump Jr.")
            .unwrap();
        assert_eq!(jr.identities.len(), 2);
        assert_eq!(actors.iter().filter(|a| a.name == "John Smith").count(), 2);

        let spec = ActorSpec {
            name: "Trump family".into(),
            identities: vec!["twitter:25073877".into(), "twitter:@donaldjtrumpjr".into()],
            groups: vec!["family".into()],
        };
        let edits = vec![("import".to_string(), serde_json::to_string(&spec).unwrap())];
        let actors = group(&seen, &links, &edits);
        let fam = actors.iter().find(|a| a.name == "Trump family").unwrap();
        assert_eq!(fam.identities.len(), 3);
        assert_eq!(fam.groups, vec!["family".to_string()]);
        assert_eq!(fam.named_by, "import");
    }

    #[test]
    fn actors_file_parses_and_normalises() {
        let specs = parse_actors_file(
            r#"
            [[actor]]
            name = "Donald Trump Jr."
            identities = ["twitter:39344374", "twitter:@DonaldJTrumpJr"]
            groups = ["Trump family"]
            "#,
        )
        .unwrap();
        assert_eq!(specs[0].identities[1], "twitter:@donaldjtrumpjr");
        assert!(parse_actors_file("[[actor]]\nname = ''\n").is_err());
        assert!(parse_actors_file("[[actor]\n").is_err());
    }
}
