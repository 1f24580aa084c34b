//! End-to-end tests for DMs, posts, actors, conversations and threads: the real binary on the
//! fixtures in `tests/fixtures/social` (built by its `make.py` after `design/formats.md`), the real
//! public tweet archive, notmuch's threading corpus and real linux-mips patch series.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestArchive, data_dir};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/social")
        .join(rel);
    assert!(p.exists(), "missing fixture {}", p.display());
    p
}

fn items(a: &TestArchive) -> Vec<Value> {
    a.jsonl(&["ls"])
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn snowflake_secs(id: &str) -> Option<i64> {
    let n: u64 = id.parse().ok()?;
    (n >= 100_000_000_000_000).then(|| ((n >> 22) as i64 + 1_288_834_974_657).div_euclid(1000))
}

fn unix(rfc3339: &str) -> i64 {
    // 2016-10-12T14:34:11Z
    let p = |a: usize, b: usize| rfc3339[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (p(0, 4), p(5, 7), p(8, 10));
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + p(11, 13) * 3600 + p(14, 16) * 60 + p(17, 19)
}

#[test]
fn x_exports_dms_posts_dedup_and_actors() {
    let a = TestArchive::new();
    let sum = a.ingest(&[&fixture("x/donjr"), &fixture("x/wikileaks.zip")]);
    // donjr: 6 one-to-one DMs, 7 group records, 3 tweets; wikileaks: the same 6 DMs + 1, 1 tweet.
    assert_eq!(sum["items_new"], 18, "{sum}");
    assert_eq!(sum["duplicates"], 6, "{sum}");
    assert_eq!(sum["evidence"], 2, "{sum}");
    assert_eq!(sum["skipped"], 2, "follower.js twice: {sum}");
    assert_eq!(sum["quarantined"], 0, "{sum}");

    let all = items(&a);
    let count = |k: &str| all.iter().filter(|v| v["kind"] == k).count();
    assert_eq!((count("dm"), count("post")), (14, 4));
    // Every id is a snowflake that agrees with its time.
    for v in &all {
        let f = v["findings"].as_array().unwrap();
        assert!(!f.iter().any(|f| f["code"] == "snowflake_mismatch"), "{v}");
        if let Some(secs) = v["native_id"].as_str().and_then(snowflake_secs) {
            let d = unix(s(&v["date"]));
            assert!((secs - d).abs() <= 1, "{v}");
        }
    }

    // The shared conversation: both exports hold it; sequence numbers follow time.
    let convs = a.json(&["conversations"]);
    let one = convs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "x:16589206-39344374")
        .unwrap();
    assert_eq!(one["size"], 7);
    assert_eq!(
        one["participants"],
        serde_json::json!(["twitter:16589206", "twitter:39344374"])
    );
    let thread = a.json(&["thread", "x:16589206-39344374"]);
    let entries = thread.as_array().unwrap();
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    let dates: Vec<&str> = entries.iter().map(|e| s(&e["date"])).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    for k in ["id", "seq", "date", "from", "kind"] {
        assert!(entries[0].get(k).is_some(), "missing {k}");
    }
    assert_eq!(entries[0]["from"], "twitter:16589206");
    assert_eq!(entries[1]["from"], "twitter:39344374");
    // The same answer from an item id.
    let by_item = a.json(&["thread", s(&entries[3]["id"])]);
    assert_eq!(by_item, thread);

    // The group DM: events are items too, in order, with their kinds of record.
    let group = a.json(&["thread", "x:780000000000000001"]);
    assert_eq!(group.as_array().unwrap().len(), 7);
    assert_eq!(group[0]["from"], "twitter:1191171");

    // Expanded URLs, reactions and edit history are kept; raw is the exact JSON record.
    let link_dm = entries
        .iter()
        .find(|e| s(&e["text"]).contains("Strongly suggest"))
        .unwrap();
    let shown = a.json(&["show", s(&link_dm["id"])]);
    assert_eq!(shown["urls"][0]["url"], "https://t.co/Q1w2E3r4T5");
    assert_eq!(shown["urls"][0]["expanded"], "http://wlsearch.tk/");
    assert_eq!(shown["conversation"]["seq"], 6);
    assert_eq!(
        shown["conversation"]["context"].as_array().unwrap().len(),
        4,
        "#4 to #7"
    );
    assert_eq!(shown["people"]["from"][0]["actor"], "WikiLeaks");
    assert_eq!(shown["people"]["to"][0]["actor"], "Donald Trump Jr.");
    let raw = a.ok(&["raw", s(&link_dm["id"])]);
    let file = std::fs::read(fixture("x/donjr/data/direct-messages.js")).unwrap();
    let off = shown["provenance"][0]["offset"].as_u64().unwrap() as usize;
    assert_eq!(&file[off..off + raw.len()], &raw[..]);
    assert!(raw.starts_with(b"{\n          \"messageCreate\""));
    assert_eq!(
        shown["provenance"].as_array().unwrap().len(),
        2,
        "found in both exports"
    );
    let liked = entries
        .iter()
        .find(|e| s(&e["text"]).starts_with("Already did"))
        .unwrap();
    let liked = a.json(&["show", s(&liked["id"])]);
    assert_eq!(liked["details"]["reactions"][0]["reactionKey"], "like");
    let edited = group
        .as_array()
        .unwrap()
        .iter()
        .find(|e| s(&e["text"]).starts_with("3 works"))
        .unwrap();
    let edited = a.json(&["show", s(&edited["id"])]);
    assert_eq!(edited["details"]["editHistory"][0]["text"], "3 works");

    // Actors: account.js and mentions pair ids with handles; nothing else is merged.
    let jr = a.json(&["actor", "Donald Trump Jr."]);
    assert_eq!(
        jr["identities"],
        serde_json::json!(["twitter:39344374", "twitter:@donaldjtrumpjr"])
    );
    let wl = a.json(&["actor", "@WikiLeaks"]);
    assert_eq!(wl["name"], "WikiLeaks");
    assert_eq!(wl["sent"], 5, "4 DMs + 1 tweet: {wl}");
    assert_eq!(wl["received"], 3);
    // A mention with id -1 links nothing.
    let actors = a.json(&["actors"]);
    assert!(
        !actors
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["identities"].to_string().contains("jaredkushner")),
        "{actors}"
    );

    // Search covers DMs and posts, by actor name, handle or id, and by expanded URL.
    let n = |q: &str| -> u64 { a.json(&["search", q])["total"].as_u64().unwrap() };
    assert_eq!(n("kind:post"), 4);
    assert_eq!(n("kind:dm"), 14);
    assert_eq!(n("from:@wikileaks kind:dm"), 4);
    assert_eq!(n("from:twitter:16589206 kind:dm"), 4);
    assert_eq!(n("wlsearch.tk"), 2, "the DM and the tweet that echoes it");
    assert_eq!(n("conversation:x:16589206-39344374"), 7);
    assert_eq!(
        n("participant:@wikileaks kind:post"),
        2,
        "its own tweet and a mention"
    );

    // Users add what exports cannot prove.
    let toml_path = a.dir.path().join("actors.toml");
    std::fs::write(
        &toml_path,
        r#"
[[actor]]
name = "Donald Trump Jr."
identities = ["twitter:39344374", "twitter:@DonaldJTrumpJr"]
groups = ["Trump family"]

[[actor]]
name = "Jared Kushner"
identities = ["twitter:1191171", "twitter:@JaredKushner"]
groups = ["Trump family", "campaign"]
"#,
    )
    .unwrap();
    a.ok(&["actors", "import", toml_path.to_str().unwrap()]);
    let jr = a.json(&["actor", "twitter:@donaldjtrumpjr"]);
    assert_eq!(jr["groups"], serde_json::json!(["Trump family"]));
    let jk = a.json(&["actor", "Jared Kushner"]);
    assert_eq!(jk["sent"], 3, "a join, a rename and a message: {jk}");
    assert_eq!(n("from:\"Jared Kushner\""), 3);
    a.ok(&["actors", "merge", "Jared Kushner", "twitter:1109485"]);
    let jk = a.json(&["actor", "Jared Kushner"]);
    assert_eq!(jk["identities"].as_array().unwrap().len(), 3, "{jk}");
    assert_eq!(jk["sent"], 4);
    // Edits survive a rebuild of everything derived.
    a.ok(&["reindex"]);
    assert_eq!(a.json(&["actor", "Jared Kushner"])["sent"], 4);
    assert_eq!(a.json(&["thread", "x:16589206-39344374"]), thread);

    // A second run adds nothing.
    let again = a.ingest(&[&fixture("x/donjr"), &fixture("x/wikileaks.zip")]);
    assert_eq!(again["items_new"], 0, "{again}");
    let unknown = a.run(&["actor", "Nobody Atall"]);
    assert_eq!(unknown.status.code(), Some(3));
}

#[test]
fn a_truncated_export_is_read_up_to_the_damage() {
    let a = TestArchive::new();
    let f = fixture("x/truncated/data/direct-messages.js");
    let sum = a.ingest(&[&f]);
    assert_eq!(sum["items_new"], 3, "{sum}");
    assert_eq!(sum["quarantined"], 1, "{sum}");
    let p = &sum["problems"][0];
    assert!(
        s(&p["reason"]).contains("$[0].dmConversation.messages[3]"),
        "{p}"
    );
    let q = a.jsonl(&["quarantine"]);
    let sha = s(&q[0]["raw_sha256"]).to_string();
    let rest = a.ok(&["raw", &sha]);
    let file = std::fs::read(&f).unwrap();
    let off = p["offset"].as_u64().unwrap() as usize;
    assert_eq!(&file[off..], &rest[..], "the unread rest is kept verbatim");
    // No owner is known without account.js, yet each DM names its sender.
    for v in items(&a) {
        assert!(v["from"].as_str().unwrap().starts_with("twitter:"), "{v}");
    }
}

/// Counts the records of `data/tweets.js` in the real archive with serde_json alone.
fn tweets_in_zip(zip_path: &Path) -> Vec<Value> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    let mut text = String::new();
    z.by_name("data/tweets.js")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let json = &text[text.find('=').unwrap() + 1..];
    serde_json::from_str::<Vec<Value>>(json).unwrap()
}

#[test]
fn the_real_tweet_archive_becomes_posts_with_consistent_times() {
    let zip_path = data_dir().join("social/twitter-archive-realDonaldTrump-2009-2017-excerpt.zip");
    assert!(zip_path.exists(), "missing corpus {}", zip_path.display());
    let records = tweets_in_zip(&zip_path);
    let distinct: HashSet<String> = records.iter().map(|r| r["tweet"].to_string()).collect();
    let a = TestArchive::new();
    let sum = a.ingest(&[&zip_path]);
    assert_eq!(sum["quarantined"], 0, "{sum}");
    assert_eq!(
        sum["items_new"].as_u64().unwrap() + sum["duplicates"].as_u64().unwrap(),
        records.len() as u64
    );
    let all = items(&a);
    assert_eq!(all.len(), distinct.len());
    assert!(all.iter().all(|v| v["kind"] == "post"));
    let mut flakes = 0;
    for v in &all {
        assert_eq!(v["from"], "twitter:25073877", "{v}");
        if let Some(secs) = v["native_id"].as_str().and_then(snowflake_secs) {
            flakes += 1;
            // Twitter's servers stamp created_at up to a few seconds off the id's clock.
            assert!((secs - unix(s(&v["date"]))).abs() <= 5, "{v}");
            assert!(
                !v["findings"].to_string().contains("snowflake_mismatch"),
                "{v}"
            );
        }
    }
    assert!(flakes > 10_000, "{flakes}");
    let trump = a.json(&["actor", "@realDonaldTrump"]);
    assert_eq!(trump["name"], "Donald J. Trump");
    assert_eq!(trump["sent"].as_u64().unwrap(), all.len() as u64);
    let by_actor = a.json(&["search", "from:\"Donald J. Trump\" wikileaks", "--count"]);
    let all_hits = a.json(&["search", "wikileaks", "--count"]);
    assert!(by_actor.as_u64().unwrap() > 0);
    assert_eq!(by_actor, all_hits);
}

#[test]
fn telegram_exports() {
    let a = TestArchive::new();
    let sum = a.ingest(&[&fixture("telegram")]);
    assert_eq!(sum["items_new"], 10, "{sum}");
    assert_eq!(sum["quarantined"], 0, "{sum}");
    let convs = a.json(&["conversations"]);
    let by_id: HashMap<&str, &Value> = convs
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(&c["id"]), c))
        .collect();
    assert_eq!(by_id["telegram:4000000001"]["size"], 4);
    assert_eq!(by_id["telegram:4000000001"]["name"], "Tallinn trip");
    assert_eq!(by_id["telegram:4000000002"]["size"], 4);
    assert_eq!(by_id["telegram:5550002"]["size"], 2);
    let trip = a.json(&["thread", "telegram:4000000001"]);
    assert_eq!(trip[0]["from"], "telegram:5550001", "the service message");
    let link = a.json(&["show", s(&trip[1]["id"])]);
    assert_eq!(link["urls"][1]["expanded"], "https://example.org/plan");
    assert_eq!(link["date_offset_minutes"], 60, "local 10:05 is 09:05 UTC");
    assert_eq!(
        link["body_text"],
        "Tickets are here: https://example.org/tickets/8812 — see the plan"
    );
    let reply = a.json(&["show", s(&trip[2]["id"])]);
    assert_eq!(reply["in_reply_to"], serde_json::json!(["102"]));
    assert!(reply["details"]["edited"].is_string());
    // In a personal chat the owner (from personal_information) is the other side.
    let dm = a.json(&["thread", "telegram:5550002"]);
    let first = a.json(&["show", s(&dm[0]["id"])]);
    assert_eq!(first["people"]["to"][0]["identity"], "telegram:5550001");
    assert_eq!(first["date_offset_minutes"], 120);
    let anna = a.json(&["actor", "telegram:5550001"]);
    assert_eq!(anna["name"], "Anna Petrova");
    assert!(anna["identities"].to_string().contains("telegram:@annap"));
    assert_eq!(a.json(&["search", "Таллине", "--count"]), 2);
}

#[test]
fn whatsapp_chats_in_both_date_orders() {
    let a = TestArchive::new();
    let sum = a.ingest(&[&fixture("whatsapp")]);
    assert_eq!(sum["items_new"], 6 + 5 + 3, "{sum}");
    assert_eq!(sum["quarantined"], 0, "{sum}");
    let notes = sum["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{sum}");
    assert!(s(&notes[0]["path"]).ends_with("WhatsApp Chat with Kim.txt"));
    assert!(s(&notes[0]["reason"]).contains("ambiguous"));

    let convs = a.json(&["conversations"]);
    let find = |name: &str| -> String {
        convs
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| s(&c["id"]).to_string())
            .unwrap_or_else(|| panic!("no conversation {name}: {convs}"))
    };
    // Android, day first (13/03 settles it); a system line and a three-line message.
    let maria = a.json(&["thread", &find("Maria Lopez")]);
    let maria = maria.as_array().unwrap();
    assert_eq!(maria.len(), 6);
    assert_eq!(
        maria[0]["from"],
        Value::Null,
        "the encryption notice has no sender"
    );
    assert_eq!(s(&maria[2]["date"]), "2019-03-12T08:45:00Z");
    assert_eq!(
        s(&maria[2]["text"]),
        "Yes. Two boxes.\nThe second one is water damaged\nbut readable."
    );
    assert_eq!(maria[2]["from"], "phone:+447700900123");
    assert_eq!(s(&maria[3]["date"]), "2019-03-13T21:02:00Z");
    let shown = a.json(&["show", s(&maria[2]["id"])]);
    assert_eq!(shown["people"]["to"][0]["identity"], "name:maria lopez");
    let raw = a.ok(&["raw", s(&maria[2]["id"])]);
    assert_eq!(
        raw,
        b"12/03/19, 08:45 - +44 7700 900123: Yes. Two boxes.\nThe second one is water damaged\nbut readable."
    );

    // iOS in a zip, month first (3/13), 12-hour clock, U+200E marks, CRLF inside a message.
    let harbour = a.json(&["thread", &find("Harbour group")]);
    let harbour = harbour.as_array().unwrap();
    assert_eq!(harbour.len(), 5);
    assert_eq!(harbour[0]["from"], Value::Null);
    assert_eq!(s(&harbour[2]["date"]), "2019-03-12T20:43:40Z");
    assert_eq!(s(&harbour[3]["date"]), "2019-03-13T07:01:00Z");
    assert_eq!(s(&harbour[3]["text"]), "Running late.\nStart without me");

    // All days ≤ 12 and no order evidence: read day first, and every item says so.
    let kim = a.json(&["thread", &find("Kim")]);
    let k0 = a.json(&["show", s(&kim[0]["id"])]);
    assert_eq!(s(&k0["date"]), "2020-06-05T10:00:00Z");
    assert!(k0["findings"].to_string().contains("date_order_ambiguous"));
}

#[test]
fn generic_json_lines() {
    let a = TestArchive::new();
    let f = fixture("jsonl/signal.jsonl");
    let sum = a.ingest(&[&f]);
    assert_eq!(sum["items_new"], 3, "{sum}");
    assert_eq!(sum["quarantined"], 3, "{sum}");
    let reasons: Vec<&str> = sum["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| s(&p["reason"]))
        .collect();
    assert!(
        reasons[0].contains("line 4") && reasons[0].contains("email"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("line 5") && reasons[1].contains("timestamp"));
    assert!(reasons[2].contains("line 6") && reasons[2].contains("invalid JSON"));
    let conv = a.json(&["thread", "jsonl:signal-group-7f3a"]);
    assert_eq!(conv[0]["from"], "signal:+15550100001");
    assert_eq!(s(&conv[0]["date"]), "2020-03-04T09:30:00Z");
    assert_eq!(conv[1]["seq"], 2);
    let dana = a.json(&["actor", "Dana"]);
    assert_eq!(
        (dana["sent"].as_u64(), dana["received"].as_u64()),
        (Some(1), Some(1))
    );
    // Unknown fields stay in the raw record.
    let raw = a.ok(&["raw", s(&conv[1]["id"])]);
    assert!(
        String::from_utf8(raw)
            .unwrap()
            .contains("extra_unknown_field")
    );
}

fn tree_edges(v: &Value, parent: Option<&str>, out: &mut Vec<(Option<String>, String)>) {
    let id = v["id"].as_str().map(str::to_string);
    if let Some(id) = &id {
        out.push((parent.map(str::to_string), id.clone()));
    }
    for c in v["children"].as_array().into_iter().flatten() {
        tree_edges(c, id.as_deref(), out);
    }
}

#[test]
fn email_threads_follow_notmuch_threading_corpus() {
    let a = TestArchive::new();
    let dir = data_dir().join("email/messy/notmuch/threading");
    a.ingest(&[&dir]);
    let all = items(&a);
    let id_of = |mid: &str| -> String {
        s(&all.iter().find(|v| v["native_id"] == mid).unwrap()["id"]).to_string()
    };
    let edges = |mid: &str| {
        let mut e = vec![];
        tree_edges(&a.json(&["thread", &id_of(mid)]), None, &mut e);
        e.sort();
        e
    };
    let pair = |p: &str, c: &str| (Some(id_of(p)), id_of(c));
    // In-Reply-To beats a References list whose last id is missing or out of order.
    let pp = edges("B00-root@example.org");
    assert!(
        pp.contains(&pair("B00-root@example.org", "B01-child@example.org")),
        "{pp:?}"
    );
    assert!(pp.contains(&pair(
        "B01-child@example.org",
        "B01-grand-child@example.org"
    )));
    // A missing parent is skipped to the nearest known ancestor.
    let gr = edges("000-real-root@example.org");
    for (p, c) in [
        ("000-real-root@example.org", "001-child@example.org"),
        ("001-child@example.org", "001-grand-child@example.org"),
        ("001-child@example.org", "001-grand-child2@example.org"),
        (
            "001-grand-child@example.org",
            "001-great-grand-child@example.org",
        ),
        ("001-child@example.org", "001-fake-message-root@example.org"),
    ] {
        assert!(gr.contains(&pair(p, c)), "{p} → {c} in {gr:?}");
    }
    // Messages citing the same missing root (an RT ticket) share one thread.
    let t = |mid: &str| -> String {
        s(&all.iter().find(|v| v["native_id"] == mid).unwrap()["thread"]).to_string()
    };
    let a1 = t("87bmc6lp3h.fsf@len.workgroup");
    let rt: Vec<String> = all
        .iter()
        .filter(|v| s(&v["native_id"]).starts_with("rt-4.2.8"))
        .map(|v| s(&v["thread"]).to_string())
        .collect();
    assert_eq!(rt.len(), 2);
    assert!(rt.iter().all(|x| *x == a1), "{a1} {rt:?}");
}

#[test]
fn patch_series_hang_under_their_cover_letters() {
    let tarball = common::linux_mips(2013);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/patch_series.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&tarball)
        .output()
        .expect("python3 runs the oracle");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let series: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(series.len() > 50, "{}", series.len());
    let a = TestArchive::new();
    a.ingest(&[&tarball]);
    let all = items(&a);
    let by_mid: HashMap<&str, &str> = all
        .iter()
        .map(|v| (s(&v["native_id"]), s(&v["id"])))
        .collect();
    let mut checked = 0;
    for sr in &series {
        let cover = by_mid[s(&sr["cover"])];
        let mut e = vec![];
        tree_edges(&a.json(&["thread", cover]), None, &mut e);
        for p in sr["parts"].as_array().unwrap() {
            let part = by_mid[s(p)].to_string();
            assert!(
                e.contains(&(Some(cover.to_string()), part.clone())),
                "{} should be a child of its cover {}",
                s(p),
                s(&sr["cover"])
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked}");
}

type Derived = (
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

fn derived_columns(db: &rusqlite::Connection) -> Vec<Derived> {
    let mut st = db
        .prepare("SELECT seq, thread, parent_seq, parent_ghost, conv_seq FROM items ORDER BY seq")
        .unwrap();
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// Threads, parents and conversation positions are rewritten only where a run changes them,
/// the thread index is sorted afresh when many items are threaded at once, and the seen
/// identities are counted outside SQL: all of it must give what a rebuild from nothing gives,
/// and the identities SQL's `GROUP BY` gives.
#[test]
fn relations_kept_run_by_run_equal_a_rebuild_from_nothing() {
    let a = TestArchive::new();
    // A fresh archive of real list mail (every item threaded at once), then a small run that
    // adds threads, DMs and chats to it.
    a.ingest(&[&common::linux_mips(2013)]);
    a.ingest(&[
        &data_dir().join("email/messy/notmuch/threading"),
        &fixture("telegram"),
        &fixture("whatsapp"),
    ]);
    let db = rusqlite::Connection::open(a.path().join("catalog.sqlite")).unwrap();
    let kept = derived_columns(&db);
    let threaded = kept.iter().filter(|d| d.1.is_some()).count();
    let replies = kept.iter().filter(|d| d.2.is_some()).count();
    let in_conversations = kept.iter().filter(|d| d.4.is_some()).count();
    assert!(threaded > 3000 && replies > 1500, "{threaded} {replies}");
    assert!(in_conversations >= 10, "{in_conversations}");

    // The identities as the SQL they replaced grouped and ordered them.
    let mut st = db
        .prepare(
            "SELECT address, name, COUNT(*) AS n FROM addresses WHERE address IS NOT NULL \
             GROUP BY address, name ORDER BY address, n DESC, name",
        )
        .unwrap();
    let mut want: Vec<(String, Option<String>)> = vec![];
    for row in st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))
        .unwrap()
    {
        let (addr, name): (String, Option<String>) = row.unwrap();
        let identity = trove_model::identity_of_address(&addr);
        let label = name.filter(|n| !n.trim().is_empty());
        match want.last_mut() {
            Some(last) if last.0 == identity => {
                if last.1.is_none() {
                    last.1 = label;
                }
            }
            _ => want.push((identity, label)),
        }
    }
    let catalog = trove_store::Catalog::open_read_only(&a.path().join("catalog.sqlite")).unwrap();
    let got: Vec<(String, Option<String>)> = catalog
        .seen_identities()
        .unwrap()
        .into_iter()
        .map(|s| (s.identity, s.label))
        .collect();
    assert!(want.len() > 500, "{}", want.len());
    assert_eq!(got, want);

    // Forget every derived column and rebuild (an actors import of nothing rebuilds).
    db.execute_batch(
        "UPDATE items SET thread = NULL, parent_seq = NULL, parent_ghost = NULL, conv_seq = NULL",
    )
    .unwrap();
    let empty = a.path().join("nothing.actors");
    std::fs::write(&empty, "").unwrap();
    a.ok(&["actors", "import", empty.to_str().unwrap()]);
    assert_eq!(derived_columns(&db), kept);
    // And once more with nothing to change.
    a.ok(&["actors", "import", empty.to_str().unwrap()]);
    assert_eq!(derived_columns(&db), kept);
    let indexes: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for name in ["items_thread", "log_leaves_raw"] {
        assert!(indexes.iter().any(|i| i == name), "{name} in {indexes:?}");
    }
    // A reader finds a thread's messages by the rebuilt index.
    let (thread, size) = {
        let mut sizes: HashMap<&str, usize> = HashMap::new();
        for d in &kept {
            if let Some(t) = &d.1 {
                *sizes.entry(t.as_str()).or_default() += 1;
            }
        }
        sizes.into_iter().max_by_key(|(t, n)| (*n, *t)).unwrap()
    };
    assert!(size >= 10, "{size}");
    assert_eq!(
        a.json(&["search", &format!("thread:{thread}"), "--count"]),
        size
    );
}
