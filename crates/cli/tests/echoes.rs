//! Echo detection on a generated scenario: posters with realistic rhythms (one of them posting at
//! the real times of the public 2009–2017 tweet archive), private messages between actors, planted
//! echoes of each kind at several delays, and decoys. Measures precision and recall at k and the
//! calibration of p-values under the null (no echoes planted), and prints the figures.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestArchive, data_dir};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};

/// A small deterministic generator (xorshift64*), so the scenario is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The real posting times of the public tweet archive (2015–2016), as one poster's rhythm.
fn real_times() -> Vec<i64> {
    let zip_path = data_dir().join("social/twitter-archive-realDonaldTrump-2009-2017-excerpt.zip");
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut text = String::new();
    z.by_name("data/tweets.js")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let recs: Vec<Value> = serde_json::from_str(&text[text.find('=').unwrap() + 1..]).unwrap();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut out: Vec<i64> = recs
        .iter()
        .filter_map(|r| {
            let c = r["tweet"]["created_at"].as_str()?;
            let p: Vec<&str> = c.split_whitespace().collect();
            let y: i64 = p[5].parse().ok()?;
            if !(2015..=2016).contains(&y) {
                return None;
            }
            let m = months.iter().position(|x| *x == p[1])? as u32 + 1;
            let d: u32 = p[2].parse().ok()?;
            let t: Vec<i64> = p[3].split(':').map(|x| x.parse().unwrap()).collect();
            Some(trove_days(y, m, d) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
        })
        .collect();
    out.sort();
    out
}

fn trove_days(y: i64, m: u32, d: u32) -> i64 {
    let (y2, m2) = if m <= 2 {
        (y - 1, m as i64 + 9)
    } else {
        (y, m as i64 - 3)
    };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d as i64 - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

struct Scenario {
    lines: Vec<Value>,
    /// Private messages sent as email: (file name, RFC 5322 text).
    emails: Vec<(String, String)>,
    /// (cause native id, echo native id, kind of evidence planted)
    planted: Vec<(String, String, &'static str)>,
    /// Number of (cause, poster) tests the finder makes: causes × recipients that post.
    tests: usize,
}

const ORGS: [&str; 3] = ["Openvault", "Lantern Group", "Harbor Fund"];
const POSTERS: [&str; 4] = ["Rex Tall", "Mia Vance", "Omar Lidd", "Ines Park"];

fn email_of(name: &str) -> String {
    format!("{}@example.org", name.to_lowercase().replace(' ', "."))
}

/// Who is who across sources: each person's posting name and email address are one actor.
fn actors_toml() -> String {
    ORGS.iter()
        .chain(POSTERS.iter())
        .map(|n| {
            format!(
                "[[actor]]\nname = \"{n}\"\nidentities = [\"name:{n}\", \"{}\"]\n",
                email_of(n)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rfc2822(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    // Civil date from days (inverse of trove_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

fn word(rng: &mut Rng) -> String {
    // A Zipf-like vocabulary: common words often, rare words seldom.
    let rank = (1.0 / (1.0 - (rng.below(1_000_000) as f64 / 1_000_001.0))).powf(1.1) as u64;
    format!("w{}x", rank.min(50_000))
}

fn filler(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

fn scenario(plant: bool, seed: u64) -> Scenario {
    let mut rng = Rng(seed);
    let real = real_times();
    let (t0, t1) = (real[0], *real.last().unwrap());
    let mut lines = vec![];
    let post = |lines: &mut Vec<Value>, id: String, who: &str, t: i64, text: String| {
        lines.push(
            json!({"kind": "post", "native_id": id, "sender": format!("name:{who}"),
                          "timestamp": t, "text": text}),
        );
    };
    // Posting rhythms: Rex posts at the real archive's times; the others post in daily bursts
    // during their waking hours.
    let mut poster_times: Vec<Vec<i64>> = vec![real.clone()];
    for p in 1..POSTERS.len() {
        let mut ts = vec![];
        let mut day = t0 - t0.rem_euclid(86_400);
        while day < t1 {
            let n = rng.below(6) + if rng.chance(0.1) { 10 } else { 0 };
            for _ in 0..n {
                ts.push(day + 7 * 3600 + p as i64 * 1800 + rng.below(15 * 3600) as i64);
            }
            day += 86_400;
        }
        ts.sort();
        poster_times.push(ts);
    }
    let news: Vec<String> = (0..40)
        .map(|i| format!("https://news{i}.example/today"))
        .collect();
    for (p, times) in poster_times.iter().enumerate() {
        for (i, &t) in times.iter().enumerate() {
            let mut text = filler(&mut rng, 12);
            // Everyone mentions the organisations now and then, and shares common news links.
            if rng.chance(0.04) {
                text.push_str(&format!(" {}", ORGS[rng.below(3) as usize]));
            }
            if rng.chance(0.03) {
                text.push_str(&format!(" {}", news[rng.below(40) as usize]));
            }
            post(&mut lines, format!("p{p}-{i}"), POSTERS[p], t, text);
        }
    }
    // Private messages from organisations to posters, each with a story link and rare terms.
    let mut planted = vec![];
    let mut emails = vec![];
    let causes = 240;
    let kinds = ["url", "mention", "terms"];
    let delays = [600, 3600, 6 * 3600, 20 * 3600];
    for c in 0..causes {
        let org = rng.below(3) as usize;
        let to = rng.below(POSTERS.len() as u64) as usize;
        let t = t0 + 5 * 86_400 + rng.below((t1 - t0 - 10 * 86_400) as u64) as i64;
        let story = format!("https://www.story{c}.example/article/{c}/");
        let code = [
            format!("kestrel{c}"),
            format!("quill{c}"),
            format!("marrow{c}"),
        ];
        let mut text = format!(
            "{} please look at {story} about {} {} {}",
            filler(&mut rng, 6),
            code[0],
            code[1],
            code[2]
        );
        if rng.chance(0.2) {
            text.push_str(&format!(" {}", news[rng.below(40) as usize]));
        }
        // One private message in five is an email, the rest are DMs.
        let cause_id = if c % 5 == 1 {
            let mid = format!("c{c}@mail.example");
            emails.push((
                format!("c{c}.eml"),
                format!(
                    "From: {org_name} <{}>\r\nTo: {to_name} <{}>\r\nSubject: a story for you\r\n\
                     Date: {}\r\nMessage-ID: <{mid}>\r\n\r\n{text}\r\n",
                    email_of(ORGS[org]),
                    email_of(POSTERS[to]),
                    rfc2822(t),
                    org_name = ORGS[org],
                    to_name = POSTERS[to],
                ),
            ));
            mid
        } else {
            lines.push(json!({"kind": "dm", "native_id": format!("c{c}"),
                "conversation": format!("{}-{}", ORGS[org], POSTERS[to]),
                "sender": format!("name:{}", ORGS[org]),
                "recipients": [format!("name:{}", POSTERS[to])],
                "timestamp": t, "text": text, "urls": [story]}));
            format!("c{c}")
        };
        // Decoys: the rare terms posted days before, the sender named three days after.
        if rng.chance(0.25) {
            post(
                &mut lines,
                format!("d{c}a"),
                POSTERS[to],
                t - 5 * 86_400,
                format!("{} {} {}", filler(&mut rng, 5), code[0], code[1]),
            );
        }
        if rng.chance(0.25) {
            post(
                &mut lines,
                format!("d{c}b"),
                POSTERS[to],
                t + 3 * 86_400 + 600,
                format!("{} {}", filler(&mut rng, 5), ORGS[org]),
            );
        }
        if plant && c % 4 == 0 {
            let kind = kinds[(c / 4) % 3];
            let delay = delays[(c / 12) % 4] + rng.below(300) as i64;
            let body = match kind {
                "url" => format!(
                    "{} http://story{c}.example/article/{c}",
                    filler(&mut rng, 6)
                ),
                "mention" => format!(
                    "{} {} {}",
                    filler(&mut rng, 4),
                    ORGS[org],
                    filler(&mut rng, 4)
                ),
                _ => format!(
                    "{} {} {} {}",
                    filler(&mut rng, 4),
                    code[0],
                    code[1],
                    code[2]
                ),
            };
            let id = format!("e{c}");
            post(&mut lines, id.clone(), POSTERS[to], t + delay, body);
            planted.push((cause_id.clone(), id, kind));
        }
    }
    Scenario {
        lines,
        emails,
        planted,
        tests: causes,
    }
}

fn run(s: &Scenario) -> (TestArchive, Vec<Value>, HashMap<String, String>) {
    let a = TestArchive::new();
    let path = a.dir.path().join("scenario.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for l in &s.lines {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let mail = a.dir.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    for (name, text) in &s.emails {
        std::fs::write(mail.join(name), text).unwrap();
    }
    let sum = a.ingest(&[&path, &mail]);
    assert_eq!(sum["quarantined"], 0, "{sum}");
    assert_eq!(sum["skipped"], 0, "{sum}");
    let toml = a.dir.path().join("actors.toml");
    std::fs::write(&toml, actors_toml()).unwrap();
    a.ok(&["actors", "import", toml.to_str().unwrap()]);
    let native: HashMap<String, String> = a
        .jsonl(&["ls"])
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["native_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let echoes = a.jsonl(&["echoes", "--limit", "100000"]);
    (a, echoes, native)
}

#[test]
fn planted_echoes_are_found_and_ranked_first() {
    let s = scenario(true, 0x5eed);
    let (a, echoes, native) = run(&s);
    let planted: HashSet<(String, String)> = s
        .planted
        .iter()
        .map(|(c, e, _)| (c.clone(), e.clone()))
        .collect();
    let found: Vec<(String, String)> = echoes
        .iter()
        .map(|e| {
            (
                native[e["cause_id"].as_str().unwrap()].clone(),
                native[e["echo_id"].as_str().unwrap()].clone(),
            )
        })
        .collect();
    let k = planted.len();
    let from_email = s.planted.iter().filter(|p| p.0.contains('@')).count();
    assert!(
        from_email >= 10,
        "{from_email} planted echoes answer emails"
    );
    let hits_at_k = found.iter().take(k).filter(|p| planted.contains(p)).count();
    let precision = hits_at_k as f64 / k as f64;
    let recall_all = found.iter().filter(|p| planted.contains(p)).count() as f64 / k as f64;
    let mut by_kind = String::new();
    for kind in ["url", "mention", "terms"] {
        let of_kind: Vec<_> = s.planted.iter().filter(|p| p.2 == kind).collect();
        let got = of_kind
            .iter()
            .filter(|p| found.iter().take(k).any(|f| f.0 == p.0 && f.1 == p.1))
            .count();
        by_kind.push_str(&format!(" {kind} {got}/{}", of_kind.len()));
    }
    println!(
        "echoes: {k} planted; precision@{k} = recall@{k} = {precision:.2}; recall at any rank \
         {recall_all:.2};{by_kind}"
    );
    assert!(precision >= 0.85, "precision@k {precision}:{by_kind}");
    assert!(recall_all >= 0.95, "recall {recall_all}");
    // Decoys (terms posted days before, the sender named three days after) are never echoes.
    assert!(
        !found.iter().any(|(_, e)| e.starts_with('d')),
        "a decoy was reported"
    );
    // Every reported echo carries its evidence and delay.
    let top = &echoes[0];
    assert!(top["delay_seconds"].as_i64().unwrap() > 0);
    assert!(!top["evidence"].as_array().unwrap().is_empty());
    assert!(top["p_value"].as_f64().unwrap() < 0.05);
    // A URL echo names the shared link, normalised.
    let url_echo = echoes
        .iter()
        .find(|e| e["evidence"][0]["type"] == "url")
        .unwrap();
    assert!(
        url_echo["evidence"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("story")
    );
    // Link propagation: each story link of a planted URL echo went from private to public.
    let links = a.jsonl(&["links"]);
    let url_planted = s.planted.iter().filter(|p| p.2 == "url").count();
    assert!(
        links.len() >= url_planted,
        "{} < {url_planted}",
        links.len()
    );
}

#[test]
fn p_values_are_calibrated_when_nothing_is_planted() {
    let mut small = [0usize; 3];
    let alphas = [0.01, 0.05, 0.1];
    let mut tests = 0;
    let mut reported = 0;
    for seed in [11u64, 12, 13, 14] {
        let s = scenario(false, seed);
        let (_a, echoes, _) = run(&s);
        tests += s.tests;
        reported += echoes.len();
        for e in &echoes {
            let p = e["p_value"].as_f64().unwrap();
            for (i, a) in alphas.iter().enumerate() {
                if p <= *a {
                    small[i] += 1;
                }
            }
        }
    }
    let rates: Vec<f64> = small.iter().map(|n| *n as f64 / tests as f64).collect();
    println!(
        "null calibration over {tests} tests ({reported} with some evidence in the window): \
         false-positive rate {:.4} at 0.01, {:.4} at 0.05, {:.4} at 0.1",
        rates[0], rates[1], rates[2]
    );
    for (r, a) in rates.iter().zip(alphas) {
        assert!(*r <= a * 1.6 + 0.003, "rate {r} at {a}");
    }
    // Chance coincidences exist in the null scenario, so the test is not vacuous.
    assert!(reported > tests / 20, "{reported} of {tests}");
}

#[test]
fn timeline_echoes_and_links_on_the_x_exports() {
    let fx = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/social/x");
    let a = TestArchive::new();
    a.ingest(&[&fx.join("donjr"), &fx.join("wikileaks.zip")]);
    let all = a.jsonl(&["timeline"]);
    assert_eq!(all.len(), 18);
    let dates: Vec<&str> = all.iter().map(|v| v["date"].as_str().unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]));
    let wl = a.jsonl(&["timeline", "--actor", "WikiLeaks"]);
    assert_eq!(wl.len(), 8, "7 DMs with Jr. and WikiLeaks' own tweet");
    assert!(
        wl.iter()
            .all(|v| v["actor"] == "WikiLeaks"
                || v["counterparts"].to_string().contains("WikiLeaks"))
    );
    let oct = a.jsonl(&[
        "timeline",
        "--kind",
        "post",
        "--after",
        "2016-10-13",
        "--before",
        "2016-11",
    ]);
    assert_eq!(oct.len(), 2);
    assert_eq!(oct[0]["actor"], "Donald Trump Jr.");
    let csv = String::from_utf8(a.ok(&["timeline", "--csv", "--kind", "dm"])).unwrap();
    assert!(csv.starts_with("id,kind,date,actor,counterparts,text\n"));
    assert_eq!(csv.lines().count(), 1 + 14);
    // The link WikiLeaks sent by DM, tweeted by Jr. 39 hours later: outside 24h, inside 3d.
    assert!(a.jsonl(&["echoes"]).is_empty());
    let e = a.jsonl(&["echoes", "--window", "3d"]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0]["cause_sender"], "WikiLeaks");
    assert_eq!(e[0]["echo_poster"], "Donald Trump Jr.");
    let kinds: Vec<&str> = e[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["url", "mention"]);
    assert_eq!(e[0]["evidence"][0]["detail"], "wlsearch.tk");
    assert!(
        a.jsonl(&["echoes", "--window", "3d", "--from", "Donald Trump Jr."])
            .is_empty()
    );
    let links = a.jsonl(&["links"]);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["url"], "wlsearch.tk");
    assert_eq!(links[0]["first_private"]["actor"], "WikiLeaks");
    assert_eq!(links[0]["public"][0]["delay_seconds"], 140_389);
    // Groups: Jared Kushner shares a group with Jr., so he is in Jr.'s time line filter.
    let toml = a.dir.path().join("actors.toml");
    std::fs::write(
        &toml,
        "[[actor]]\nname = \"Donald Trump Jr.\"\nidentities = [\"twitter:39344374\"]\n\
         groups = [\"Trump family\"]\n[[actor]]\nname = \"Jared Kushner\"\n\
         identities = [\"twitter:1191171\"]\ngroups = [\"Trump family\"]\n",
    )
    .unwrap();
    a.ok(&["actors", "import", toml.to_str().unwrap()]);
    let fam = a.jsonl(&["timeline", "--group", "Trump family"]);
    // All but WikiLeaks' tweet, Roger's group message and the sender-less leave event.
    assert_eq!(fam.len(), 15);
    assert_eq!(
        a.jsonl(&["echoes", "--window", "3d", "--to", "Trump family"])
            .len(),
        1
    );
    assert!(
        a.jsonl(&["echoes", "--window", "3d", "--to", "WikiLeaks"])
            .is_empty()
    );
    let bad = a.run(&["echoes", "--window", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    let nobody = a.run(&["timeline", "--actor", "Nobody"]);
    assert_eq!(nobody.status.code(), Some(3));
}
