//! End-to-end tests of `trove search` and `trove reindex`: counts checked against an independent
//! Python oracle on real list mail, plus language, folding, address and CJK cases.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

const YEARS: [u32; 2] = [1997, 1998];

/// One archive of linux-mips 1997–1998 shared by the tests of this file.
fn mips() -> &'static TestArchive {
    static A: OnceLock<TestArchive> = OnceLock::new();
    A.get_or_init(|| {
        let a = TestArchive::new();
        let paths: Vec<_> = YEARS.iter().map(|y| linux_mips(*y)).collect();
        let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        a.ingest(&refs);
        a
    })
}

fn count(a: &TestArchive, q: &str) -> u64 {
    let out = a.ok(&["search", q, "--count"]);
    String::from_utf8(out).unwrap().trim().parse().unwrap()
}

fn ids(a: &TestArchive, q: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["search", q, "--json"];
    if !extra.contains(&"--limit") {
        args.extend(["--limit", "0"]);
    }
    args.extend_from_slice(extra);
    let v: Value = serde_json::from_slice(&a.ok(&args)).unwrap();
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn counts_match_an_independent_python_oracle() {
    let a = mips();
    // 1997-06-01 and 1997-09-01, 00:00 UTC.
    let (jun, sep) = (865_123_200i64, 873_072_000i64);
    let specs = json!([
        {"name": "from", "op": "from", "address": "ralf@uni-koblenz.de"},
        {"name": "subject", "op": "subject_word", "word": "kernel"},
        {"name": "phrase", "op": "body_phrase", "words": ["cache", "flush"]},
        {"name": "dates", "op": "date_range", "from": jun, "to": sep},
        {"name": "patch", "op": "subject_word", "word": "patch"},
        {"name": "not_patch", "op": "not", "of": "patch"},
        {"name": "ralf_no_patch", "op": "and", "of": ["from", "not_patch"]},
        {"name": "mix", "op": "or", "of": ["subject", "ralf_no_patch"]},
        {"name": "mix_in_summer", "op": "and", "of": ["mix", "dates"]},
    ]);
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.json");
    fs::write(&spec_path, specs.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/count.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script).arg(&spec_path);
    for y in YEARS {
        cmd.arg(linux_mips(y));
    }
    let out = cmd.output().expect("python3 is needed for the oracle");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oracle: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = [
        ("from", "from:ralf@uni-koblenz.de"),
        ("subject", "subject:kernel"),
        ("phrase", "body:\"cache flush\""),
        ("dates", "date:1997-06..1997-08"),
        (
            "mix",
            "subject:kernel OR (from:ralf@uni-koblenz.de -subject:patch)",
        ),
        (
            "mix_in_summer",
            "(subject:kernel OR (from:ralf@uni-koblenz.de -subject:patch)) after:1997-06-01 before:1997-09-01",
        ),
    ];
    for (name, q) in checks {
        let expected = oracle[name].as_u64().unwrap();
        assert!(
            expected > 0,
            "oracle found nothing for {name}; the check would be vacuous"
        );
        assert_eq!(count(a, q), expected, "query {q:?} vs the oracle's {name}");
    }
}

#[test]
fn json_shape_paging_sorting_and_facets() {
    let a = mips();
    let v: Value =
        serde_json::from_slice(&a.ok(&["search", "kernel", "--json", "--limit", "5"])).unwrap();
    let total = v["total"].as_u64().unwrap();
    assert!(total > 5);
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 5);
    for h in hits {
        for k in ["id", "kind", "date", "from", "subject", "snippet"] {
            assert!(h.get(k).is_some(), "hit lacks {k}: {h}");
        }
    }
    assert!(
        hits.iter()
            .any(|h| h["snippet"].as_str().unwrap().contains("<b>"))
    );
    // --limit 0 returns every hit; pages tile it exactly.
    let all = ids(a, "kernel", &["--sort", "date"]);
    assert_eq!(all.len() as u64, total);
    let p1 = ids(
        a,
        "kernel",
        &["--sort", "date", "--limit", "7", "--offset", "0"],
    );
    let p2 = ids(
        a,
        "kernel",
        &["--sort", "date", "--limit", "7", "--offset", "7"],
    );
    assert_eq!([p1, p2].concat(), all[..14].to_vec());
    let v: Value = serde_json::from_slice(&a.ok(&[
        "search", "kernel", "--json", "--sort", "-date", "--limit", "0",
    ]))
    .unwrap();
    let dates: Vec<&str> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["date"].as_str())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "not newest first");
    let v: Value =
        serde_json::from_slice(&a.ok(&["search", "kernel", "--json", "--facets", "--limit", "1"]))
            .unwrap();
    let f = &v["facets"];
    assert!(f["sender"].as_array().unwrap().len() > 3);
    assert_eq!(f["kind"][0]["value"], "email");
    assert_eq!(f["kind"][0]["count"].as_u64().unwrap(), total);
    let months: u64 = f["month"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_u64().unwrap())
        .sum();
    assert!(months <= total && months > total / 2);
    assert!(
        f["lang"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["value"] == "en")
    );
}

#[test]
fn a_large_ingest_trains_one_compression_dictionary_and_every_blob_reads_back() {
    let a = mips();
    let dicts: Vec<String> = fs::read_dir(a.path().join("blobs/dict"))
        .expect("a dictionary folder after 2,336 messages")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dicts.len(), 1, "{dicts:?}");
    assert!(dicts[0].ends_with(".zdict"), "{dicts:?}");
    // fsck rehashes every blob, those written before the dictionary and after.
    let f = a.json(&["fsck"]);
    assert_eq!(f["ok"], true, "{f}");
    assert!(f["blobs"].as_u64().unwrap() >= 2336, "{f}");
    assert!(
        f["problems"].as_array().is_some_and(|p| p.is_empty()),
        "{f}"
    );
}

#[test]
fn reindex_gives_the_same_results() {
    let a = TestArchive::new();
    a.ingest(&[&linux_mips(1996)]);
    let queries = [
        "mips",
        "from:ralf",
        "subject:kernel OR boot*",
        "date:1996-05..1996-12 -kernel",
        "has:attachment",
    ];
    let before: Vec<Vec<String>> = queries
        .iter()
        .map(|q| ids(&a, q, &["--sort", "date"]))
        .collect();
    assert!(before.iter().all(|r| !r.is_empty()), "{before:?}");
    let r = a.json(&["reindex"]);
    assert_eq!(r["indexed"], a.json(&["stats"])["items"]);
    let after: Vec<Vec<String>> = queries
        .iter()
        .map(|q| ids(&a, q, &["--sort", "date"]))
        .collect();
    assert_eq!(before, after);
    // Deleting the index entirely: searches warn, and reindex rebuilds it from blobs and
    // catalog.
    fs::remove_dir_all(a.path().join("index")).unwrap();
    let s = a.run(&["search", "--count", "mips"]);
    assert!(s.status.success());
    assert_eq!(String::from_utf8_lossy(&s.stdout).trim(), "0");
    assert!(String::from_utf8_lossy(&s.stderr).contains("lags the catalog"));
    a.ok(&["reindex"]);
    let rebuilt: Vec<Vec<String>> = queries
        .iter()
        .map(|q| ids(&a, q, &["--sort", "date"]))
        .collect();
    assert_eq!(before, rebuilt);
}

/// Searches compare the index with the catalog only when a writer has marked that the index may
/// be behind (`index.behind`, left by an ingest or reindex that did not finish), or when the
/// index is empty.
#[test]
fn the_lag_warning_follows_the_catalog_when_a_writer_left_its_mark() {
    let a = TestArchive::new();
    a.ingest(&[&linux_mips(1996)]);
    let mark = a.path().join("index.behind");
    assert!(!mark.exists(), "a finished ingest clears its mark");
    let index = a.path().join("index");
    let saved = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    };
    copy(&index, saved.path());
    a.ingest(&[&linux_mips(1997)]);
    let search = |a: &TestArchive| {
        let s = a.run(&["search", "--count", "mips"]);
        assert!(s.status.success());
        String::from_utf8_lossy(&s.stderr).into_owned()
    };
    assert_eq!(search(&a), "");
    // A mark whose writer got as far as the index: the catalog says the index is complete.
    fs::write(&mark, b"").unwrap();
    assert_eq!(search(&a), "");
    // An index that really is behind (1996 only, as if the 1997 ingest died before its index
    // commits) and the mark that ingest would have left: searches warn.
    fs::remove_dir_all(&index).unwrap();
    fs::create_dir(&index).unwrap();
    copy(saved.path(), &index);
    assert!(search(&a).contains("lags the catalog"));
    a.ok(&["reindex"]);
    assert!(!mark.exists(), "reindex clears the mark");
    assert_eq!(search(&a), "");
}

fn eml(from: &str, subject: &str, body: &str, charset: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: Redaction <desk@journal.example>\r\nSubject: {subject}\r\n\
         Date: Tue, 11 Oct 2016 10:00:00 +0200\r\nMessage-ID: <{}@t>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        subject.len() + body.len()
    )
    .into_bytes()
}

fn bilingual() -> TestArchive {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "fr1.eml",
            eml(
                "\"Élise Moreau\" <elise.moreau@lemonde.example>",
                "Les élections présidentielles",
                "Les électeurs ont voté dimanche. Les résultats des élections seront publiés demain matin par le ministère.",
                "utf-8",
            ),
        ),
        (
            "fr2.eml",
            eml(
                "Paul <paul@presse.example>",
                "Rendez-vous",
                "Nous avons parlé de l'élection avec le candidat hier soir à Paris, avant le débat.",
                "utf-8",
            ),
        ),
        (
            "en1.eml",
            eml(
                "John Podesta <john.podesta@gmail.com>",
                "Tax returns",
                "The campaign is returning the tax documents. Running late on the returns, sorry.",
                "utf-8",
            ),
        ),
        (
            "en2.eml",
            eml(
                "CLINTON STAFF <staff@hillaryclinton.example>",
                "SCHEDULE",
                "CLINTON will be in Ohio on Tuesday for the rally.",
                "utf-8",
            ),
        ),
    ];
    for (name, bytes) in &files {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let a = TestArchive::new();
    a.ingest(&[dir.path()]);
    a
}

#[test]
fn french_and_english_stemming_and_accent_folding() {
    let a = bilingual();
    // French stemming: "élection" finds "élections" and "l'élection"; folded "election" too.
    assert_eq!(count(&a, "élection"), 2);
    assert_eq!(count(&a, "election"), 2);
    assert_eq!(count(&a, "electeur"), 1);
    assert_eq!(count(&a, "lang:fr"), 2);
    // English stemming: "return" finds "returns" and "returning".
    assert_eq!(count(&a, "return"), 1);
    assert_eq!(count(&a, "subject:returns"), 1);
    assert_eq!(count(&a, "lang:en"), 2);
    // Case folding.
    assert_eq!(count(&a, "clinton"), 1);
    assert_eq!(count(&a, "Clinton"), 1);
    assert_eq!(count(&a, "\"tax documents\""), 1);
    assert_eq!(count(&a, "résult*"), 1);
}

#[test]
fn address_terms_match_name_local_part_address_and_domain() {
    let a = bilingual();
    assert_eq!(count(&a, "from:podesta"), 1);
    assert_eq!(count(&a, "from:gmail.com"), 1);
    assert_eq!(count(&a, "from:\"John Podesta\""), 1);
    assert_eq!(count(&a, "from:john.podesta@gmail.com"), 1);
    assert_eq!(count(&a, "from:elise"), 1);
    assert_eq!(count(&a, "from:Élise"), 1);
    assert_eq!(count(&a, "to:journal.example"), 4);
    assert_eq!(count(&a, "participant:podesta"), 1);
    assert_eq!(count(&a, "from:journal.example"), 0);
    assert_eq!(count(&a, "from:(podesta OR paul)"), 2);
}

#[test]
fn cjk_mail_from_the_messy_corpus_is_findable() {
    let a = TestArchive::new();
    a.ingest(&[&data_dir().join("email/messy/mail-parser/eml/thirdparty")]);
    assert!(count(&a, "世界人権宣言") >= 1);
    assert!(count(&a, "人権") >= 2);
    assert!(count(&a, "こんにちは") >= 1);
}

#[test]
fn malformed_queries_exit_2_and_point_at_the_column() {
    let a = mips();
    for (q, col) in [
        ("from:(a OR b", "column 6"),
        ("a b)", "column 4"),
        ("form:x", "column 1"),
        ("date:2016-13", "column 6"),
    ] {
        let out = a.run(&["search", q]);
        assert_eq!(out.status.code(), Some(2), "{q}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(col), "{q}: {err}");
        assert!(err.contains('^'), "{q}: {err}");
    }
    let long = "x ".repeat(3000);
    assert_eq!(a.run(&["search", &long]).status.code(), Some(2));
}

#[test]
fn search_finds_what_ingest_just_added_and_duplicates_update_sources() {
    let a = TestArchive::new();
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("one.eml"),
        eml("a@x.example", "Unique zebra", "zebra crossing", "utf-8"),
    )
    .unwrap();
    a.ingest(&[dir.path()]);
    assert_eq!(count(&a, "zebra"), 1);
    assert_eq!(count(&a, "source:copy"), 0);
    let dir2 = tempfile::tempdir().unwrap();
    fs::write(
        dir2.path().join("copy.eml"),
        eml("a@x.example", "Unique zebra", "zebra crossing", "utf-8"),
    )
    .unwrap();
    let s = a.ingest(&[dir2.path()]);
    assert_eq!(s["duplicates"], 1);
    assert_eq!(count(&a, "zebra"), 1);
    assert_eq!(count(&a, "source:copy"), 1);
    assert_eq!(count(&a, "source:one"), 1);
    let ids: BTreeSet<String> = ids(&a, "", &[]).into_iter().collect();
    assert_eq!(ids.len(), 1);
}

/// A page of hits is counted and collected in one pass (unless the query is one term, which is
/// counted apart): every page must be the same slice of the full list, which takes the other
/// path, and carry the same total.
#[test]
fn pages_counted_in_one_pass_are_slices_of_the_full_list() {
    let a = mips();
    let queries = [
        "kernel",
        "subject:kernel",
        "mips",
        "\"linux kernel\"",
        "kernel panic",
        "bug OR fix",
        "indy OR sgi",
        "subject:re -subject:patch",
        "date:1997-06..1997-09",
        "from:ralf@uni-koblenz.de kernel",
        "interrupt date:1998",
    ];
    for q in queries {
        for sort in ["relevance", "date", "-date"] {
            let all = ids(a, q, &["--sort", sort]);
            assert!(all.len() > 45, "{q}: {} hits", all.len());
            for offset in [0usize, 20, 45] {
                let args = [
                    "search",
                    q,
                    "--json",
                    "--sort",
                    sort,
                    "--limit",
                    "20",
                    "--offset",
                    &offset.to_string(),
                ];
                let v: Value = serde_json::from_slice(&a.ok(&args)).unwrap();
                assert_eq!(v["total"], all.len(), "{q} {sort}");
                let page: Vec<&str> = v["hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["id"].as_str().unwrap())
                    .collect();
                let want: Vec<&str> = all
                    .iter()
                    .skip(offset)
                    .take(20)
                    .map(String::as_str)
                    .collect();
                assert_eq!(page, want, "{q} --sort {sort} --offset {offset}");
            }
        }
    }
}
