//! End-to-end tests for working with results: export round trips on real mail, tags and notes,
//! saved searches and watch lists.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestArchive, linux_mips};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn shas(a: &TestArchive) -> BTreeSet<String> {
    a.raw_shas().into_iter().collect()
}

fn manifest_shas(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn exports_round_trip_byte_for_byte() {
    let a = TestArchive::new();
    // Real mail, plus messages whose bodies have lines starting with "From " (quoted or not),
    // one with CRLF line endings, and one with a "From " line right after the header block.
    let extra = a.dir.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(
        extra.join("a.eml"),
        "From: a@example.org\nTo: b@example.org\nSubject: quoting\nMessage-ID: <q1@x>\n\nhi\nFrom here on\n>From there\n>>From deeper\n\nFrom the end\n",
    )
    .unwrap();
    std::fs::write(
        extra.join("b.eml"),
        "From: a@example.org\r\nSubject: crlf\r\nMessage-ID: <q2@x>\r\n\r\nFrom Monday on\r\nbye\r\n\r\n\r\n",
    )
    .unwrap();
    a.ingest(&[&linux_mips(1997), &extra]);
    let all = shas(&a);
    assert!(all.len() > 1000);
    let out = a.dir.path().join("out");
    for (format, path) in [
        ("mbox", out.join("mbox")),
        ("eml", out.join("eml")),
        ("eml", out.join("eml.zip")),
    ] {
        let s = a.json(&[
            "export",
            "",
            "--format",
            format,
            "-o",
            path.to_str().unwrap(),
        ]);
        assert_eq!(s["items"].as_u64().unwrap() as usize, all.len(), "{s}");
        assert_eq!(s["mbox_not_byte_exact"], 0, "{s}");
        let manifest = if path.extension().is_some_and(|e| e == "zip") {
            let mut z = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut z.by_name("manifest.sha256").unwrap(), &mut text)
                .unwrap();
            let p = a.dir.path().join("zip-manifest");
            std::fs::write(&p, text).unwrap();
            p
        } else {
            path.join("manifest.sha256")
        };
        assert_eq!(manifest_shas(&manifest), all, "{format} manifest");
        // Re-ingesting the export into a fresh archive gives exactly the same raw bytes.
        let b = TestArchive::new();
        let sum = b.ingest(&[&path]);
        assert_eq!(sum["quarantined"], 0, "{format}: {sum}");
        assert_eq!(shas(&b), all, "{format} round trip");
        if format == "mbox" {
            let mbox = std::fs::read(path.join("items.mbox")).unwrap();
            let text = String::from_utf8_lossy(&mbox);
            assert!(
                text.lines().any(|l| l.starts_with(">From ")),
                "body lines starting with 'From ' are quoted in the export"
            );
        }
    }
    // An existing output is never overwritten without --force.
    let again = a.run(&[
        "export",
        "",
        "--format",
        "mbox",
        "-o",
        out.join("mbox").to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    a.ok(&[
        "export",
        "",
        "--format",
        "mbox",
        "-o",
        out.join("mbox").to_str().unwrap(),
        "--force",
    ]);
    // A query matching nothing exports an empty, valid file with an empty manifest.
    let none = out.join("none");
    let s = a.json(&[
        "export",
        "subject:zzqqxxnothing",
        "--format",
        "mbox",
        "-o",
        none.to_str().unwrap(),
    ]);
    assert_eq!(s["items"], 0);
    assert_eq!(std::fs::read(none.join("items.mbox")).unwrap().len(), 0);
    assert_eq!(
        std::fs::read(none.join("manifest.sha256")).unwrap().len(),
        0
    );
}

#[test]
fn csv_and_jsonl_exports_carry_tags_notes_and_numbers() {
    let a = TestArchive::new();
    a.ingest(&[&linux_mips(1997)]);
    let query = "subject:kernel";
    let n = a.json(&["search", query, "--count"]).as_u64().unwrap();
    assert!(n > 10, "{n}");
    let tagged = a.json(&["tag", query, "+kernel-thread", "+review", "--user", "ana"]);
    assert_eq!(tagged["items"].as_u64().unwrap(), n);
    let first = a.json(&["search", query, "--sort", "date", "--limit", "1"])["hits"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    a.ok(&["tag", &first, "-review", "+important", "--user", "ana"]);
    a.ok(&[
        "note",
        &first,
        "Check against the 1997 changelog",
        "--user",
        "ben",
    ]);
    let shown = a.json(&["show", &first]);
    assert_eq!(
        shown["tags"],
        serde_json::json!(["important", "kernel-thread"])
    );
    assert_eq!(shown["notes"][0]["user"], "ben");
    assert_eq!(
        a.json(&["search", "tag:review", "--count"])
            .as_u64()
            .unwrap(),
        n - 1
    );
    assert_eq!(a.json(&["search", "tag:important", "--count"]), 1);
    let tags = a.json(&["tags"]);
    assert_eq!(tags[0]["tag"], "important");
    // Tags live in the catalog: a full rebuild keeps them, and no blob changes.
    let before = shas(&a);
    a.ok(&["reindex"]);
    assert_eq!(
        a.json(&["search", "tag:review", "--count"])
            .as_u64()
            .unwrap(),
        n - 1
    );
    assert_eq!(shas(&a), before);

    let out = a.dir.path().join("csv");
    a.ok(&[
        "export",
        query,
        "--format",
        "csv",
        "-o",
        out.to_str().unwrap(),
        "--number",
        "TRV",
    ]);
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import csv,sys\n\
             rows=list(csv.DictReader(open(sys.argv[1], newline='')))\n\
             assert list(rows[0].keys())==['number','id','date','from','to','subject','kind','dkim','tags','source'], rows[0].keys()\n\
             assert rows[0]['number']=='TRV000001'\n\
             assert 'important' in rows[0]['tags']\n\
             print(len(rows))",
        )
        .arg(out.join("items.csv"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), n.to_string());
    let manifest = std::fs::read_to_string(out.join("manifest.sha256")).unwrap();
    assert!(manifest.lines().next().unwrap().ends_with("TRV000001"));

    let out = a.dir.path().join("jsonl");
    a.ok(&[
        "export",
        query,
        "--format",
        "jsonl",
        "-o",
        out.to_str().unwrap(),
    ]);
    let lines: Vec<Value> = std::fs::read_to_string(out.join("items.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, n);
    // The documented schema (docs/export.md): these keys on every line.
    for l in &lines {
        for k in [
            "id",
            "kind",
            "native_id",
            "raw_sha256",
            "date",
            "from",
            "to",
            "subject",
            "body_text",
            "attachments",
            "provenance",
            "tags",
            "notes",
            "production_number",
        ] {
            assert!(l.get(k).is_some(), "missing {k}");
        }
    }
    assert_eq!(
        lines[0]["notes"][0]["text"],
        "Check against the 1997 changelog"
    );
}

#[test]
fn saved_searches_and_watch_lists() {
    let a = TestArchive::new();
    a.ingest(&[&linux_mips(1996)]);
    a.ok(&["saved", "add", "kernel", "subject:kernel"]);
    let list = a.json(&["saved", "list"]);
    assert_eq!(list[0]["name"], "kernel");
    let first = a.jsonl(&["saved", "run", "kernel"]);
    let count = a
        .json(&["search", "subject:kernel", "--count"])
        .as_u64()
        .unwrap();
    assert_eq!(first.len() as u64, count);
    assert!(a.jsonl(&["saved", "run", "kernel", "--new"]).is_empty());
    a.ingest(&[&linux_mips(1997)]);
    let new = a.jsonl(&["saved", "run", "kernel", "--new"]);
    let total = a
        .json(&["search", "subject:kernel", "--count"])
        .as_u64()
        .unwrap();
    assert_eq!(new.len() as u64, total - count);
    assert!(!new.is_empty());
    assert_eq!(a.run(&["saved", "run", "nope"]).status.code(), Some(3));

    // Phone numbers match however they were written.
    let phones = a.dir.path().join("phones");
    std::fs::create_dir_all(&phones).unwrap();
    for (i, form) in [
        "+1 (415) 555-0100",
        "4155550100",
        "415.555.0100",
        "+14155550100",
        "415 555 0199",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(
            phones.join(format!("{i}.eml")),
            format!("From: p@example.org\nSubject: call\nMessage-ID: <ph{i}@x>\n\nCall me at {form} today.\n"),
        )
        .unwrap();
    }
    a.ingest(&[&phones]);
    let txt = a.dir.path().join("phones.txt");
    std::fs::write(&txt, "415-555-0100\n").unwrap();
    let r = a.jsonl(&["watch", txt.to_str().unwrap()]);
    assert_eq!(r[0]["count"], 4, "{}", r[0]);

    // A watch list: names, an address, a phone number, a phrase. Its counts equal searches.
    let list = a.dir.path().join("watch.csv");
    std::fs::write(
        &list,
        "term,why\nRalf Baechle,maintainer\nralf@gnu.org,address\n\"+1 (415) 555-0100\",phone\n\"kernel panic\",phrase\n",
    )
    .unwrap();
    let rows = a.jsonl(&["watch", list.to_str().unwrap(), "--column", "term", "--tag"]);
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let n = a.json(&["search", r["query"].as_str().unwrap(), "--count"]);
        assert_eq!(r["count"], n, "{r}");
    }
    assert!(rows[0]["count"].as_u64().unwrap() > 10, "{}", rows[0]);
    assert!(!rows[0]["top_senders"].as_array().unwrap().is_empty());
    let tag = a.json(&["search", "tag:watch:ralf-baechle", "--count"]);
    assert_eq!(tag, rows[0]["count"]);
    // Bad CSV: the line is reported, exit code 2.
    let bad = a.dir.path().join("bad.csv");
    std::fs::write(&bad, "term,why\nok,1\n\"unterminated,2\nx,y,z\n").unwrap();
    let out = a.run(&["watch", bad.to_str().unwrap(), "--column", "term"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("line"));
    let missing = a.run(&["watch", list.to_str().unwrap(), "--column", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
}
