//! Hostile and broken input, and interrupted runs: every case gets a bounded, reported outcome.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "hostile/generate.rs"]
mod generate;

use common::*;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use generate::msg;

fn problems(a: &TestArchive) -> Vec<Value> {
    a.jsonl(&["quarantine"])
}

/// A tiny deterministic generator: the seed is printed so a failure can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

/// Three ingests in a row (so checkpoints get signed between kills), each killed with SIGKILL at
/// random moments and resumed until it completes. After every kill the archive is a committed
/// state (fsck clean); at the end it equals an uninterrupted run's, and every checkpoint signed
/// before a kill is a prefix of the final log.
#[test]
fn sigkill_at_random_points_then_rerun_gives_the_uninterrupted_archive() {
    // (corpora, kills wanted in that phase). The last phase adds 7,126 items to 1,286, enough
    // for the run to drop the catalog's deferrable indexes part way (kills then leave them
    // missing until the next writer opens the catalog).
    let phases: [(&[u32], u32); 3] = [(&[1996], 5), (&[1997], 7), (&[2001, 2002], 8)];
    let ingest_args = |years: &[u32]| -> Vec<String> {
        std::iter::once("ingest".to_string())
            .chain(
                years
                    .iter()
                    .map(|y| linux_mips(*y).to_str().unwrap().to_string()),
            )
            .collect()
    };
    let reference = TestArchive::new();
    let mut durations = vec![];
    for (years, _) in phases {
        let t = std::time::Instant::now();
        let owned = ingest_args(years);
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        reference.ok(&args);
        durations.push(t.elapsed().as_millis() as u64);
    }
    let want = reference.ok(&["ls", "--json"]);

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill schedule seed: {seed}");
    let mut rng = Lcg(seed);
    let a = TestArchive::new();
    let mut kills = 0;
    let mut checkpoints = std::collections::BTreeSet::new();
    let mut quota_left = 0;
    for ((years, quota), ms) in phases.into_iter().zip(durations) {
        let owned = ingest_args(years);
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut phase_kills = 0;
        // Kills a phase could not get (its run finished first) move to the next phase.
        quota_left += quota;
        while phase_kills < quota_left {
            let mut child = a.cmd(&args).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(10 + rng.next(ms.max(50) / 5)));
            if child.try_wait().unwrap().is_some() {
                break; // finished first: the phase is done
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            phase_kills += 1;
            kills += 1;
            // What the kill left is a committed state: consistent, and its latest checkpoint
            // is remembered, to be checked against the final log.
            let f = a.json(&["fsck"]);
            assert_eq!(f["ok"], true, "fsck after kill {kills} (seed {seed}): {f}");
            // A search either warns that the index lags, or the index covers every item.
            let s = a.run(&["search", "--count", ""]);
            assert!(s.status.success(), "search after kill {kills}");
            if !String::from_utf8_lossy(&s.stderr).contains("lags the catalog") {
                let indexed: u64 = String::from_utf8_lossy(&s.stdout).trim().parse().unwrap();
                let items = a.json(&["stats"])["items"].as_u64().unwrap();
                assert_eq!(
                    indexed, items,
                    "no lag warning after kill {kills} (seed {seed})"
                );
            }
            let c = a.run(&["consistency", "1", "--json"]);
            if c.status.success() {
                let v: Value = serde_json::from_slice(&c.stdout).unwrap();
                checkpoints.insert((
                    v["new_size"].as_u64().unwrap(),
                    v["new_root"].as_str().unwrap().to_string(),
                ));
            }
        }
        quota_left -= phase_kills;
        a.ok(&args);
    }
    eprintln!("{kills} kills mid-ingest survived");
    assert!(!a.path().join("index.behind").exists());
    let s = a.run(&["search", "--count", "mips"]);
    assert!(
        s.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&s.stderr)
    );
    assert!(
        kills >= 20,
        "only {kills} kills landed mid-ingest (seed {seed})"
    );
    let got = a.ok(&["ls", "--json"]);
    assert!(
        got == want,
        "resumed archive differs from the uninterrupted one (seed {seed})"
    );
    let s1 = reference.json(&["stats"]);
    let s2 = a.json(&["stats"]);
    assert_eq!(s1["items"], s2["items"]);
    assert_eq!(s1["provenance_records"], s2["provenance_records"]);
    assert_eq!(s1["attachments"], s2["attachments"]);
    // Blobs, catalog, log and every checkpoint signed along the way (by runs that got that far
    // before a kill) still agree.
    let f = a.json(&["fsck"]);
    assert_eq!(f["ok"], true, "fsck after kills (seed {seed}): {f}");
    assert_eq!(
        reference.json(&["checkpoint"])["size"],
        a.json(&["checkpoint"])["size"],
        "the same leaves were logged"
    );
    // Every checkpoint signed before a kill is a prefix of the final log: the root of its first
    // `size` leaves is unchanged.
    for (size, root) in &checkpoints {
        let v = a.json(&["consistency", &size.to_string()]);
        assert_eq!(
            v["old_root"].as_str().unwrap(),
            root,
            "checkpoint of size {size} (seed {seed})"
        );
    }
    eprintln!(
        "{} distinct checkpoints signed between kills are prefixes of the final log",
        checkpoints.len()
    );
    assert!(checkpoints.len() >= 2, "kills happened after checkpoints");
}

#[test]
fn truncated_archives_keep_what_was_readable_and_say_where_they_broke() {
    let dir = tempfile::tempdir().unwrap();
    let full = fs::read(linux_mips(1996)).unwrap();
    fs::write(dir.path().join("cut.tar.gz"), &full[..full.len() / 2]).unwrap();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("a.eml", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(&msg("z", "zipped\n")).unwrap();
    let zbytes = z.finish().unwrap().into_inner();
    fs::write(dir.path().join("cut.zip"), &zbytes[..zbytes.len() - 30]).unwrap();
    let a = TestArchive::new();
    let s = a.ingest(&[dir.path()]);
    assert!(s["items_new"].as_u64().unwrap() > 50, "{s}");
    let p = problems(&a);
    let tgz = p
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("cut.tar.gz"))
        .unwrap();
    assert!(
        tgz["reason"].as_str().unwrap().contains("truncated"),
        "{tgz}"
    );
    let zp = p
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("cut.zip"))
        .unwrap();
    assert!(zp["reason"].as_str().unwrap().contains("zip"), "{zp}");
}

/// What one hostile case did: its summary, its problem records, and its cost.
struct Outcome {
    archive: TestArchive,
    summary: Value,
    problems: Vec<Value>,
    peak_kb: u64,
    secs: f64,
}

impl Outcome {
    fn problem(&self, path_suffix: &str) -> &Value {
        self.problems
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(path_suffix))
            .unwrap_or_else(|| panic!("no record for {path_suffix}: {:?}", self.problems))
    }

    fn item(&self, subject: &str) -> Value {
        let it = self
            .archive
            .jsonl(&["ls"])
            .into_iter()
            .find(|i| i["subject"] == subject)
            .unwrap_or_else(|| panic!("no item {subject:?}"));
        self.archive.json(&["show", it["id"].as_str().unwrap()])
    }
}

fn has_finding(item: &Value, code: &str) -> bool {
    item["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == code)
}

/// Generates a case into a fresh directory and ingests it, measuring peak RSS. Every case must
/// finish (exit 0), stay under 300 MB and leave every item's raw bytes retrievable.
fn run_case(report: &mut Vec<String>, name: &str, generate: impl FnOnce(&Path)) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let archive = TestArchive::new();
    let t = std::time::Instant::now();
    let (out, peak_kb) =
        run_measuring_peak_rss(archive.cmd(&["ingest", "--json", dir.path().to_str().unwrap()]));
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(peak_kb < 300 * 1024, "{name}: peak RSS {peak_kb} kB");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = archive.jsonl(&["quarantine"]);
    let items = archive.jsonl(&["ls"]);
    report.push(format!(
        "| {name} | {} | {} | {} | {secs:.1} |",
        items.len(),
        problems.len(),
        peak_kb / 1024
    ));
    assert!(archive.run(&["fsck"]).status.success(), "{name}: fsck");
    Outcome {
        archive,
        summary,
        problems,
        peak_kb,
        secs,
    }
}

/// The hostile-input suite (`tests/hostile/generate.rs`): each case gets a bounded, reported
/// outcome. The table of items, records and peak RSS per case goes to
/// `target/hostile-report.md`.
#[test]
fn every_hostile_case_has_a_bounded_reported_outcome() {
    let mut report = vec![
        "| case | items | problem records | peak RSS MB | seconds |".to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    let ratio = |o: &Outcome, suffix: &str| {
        let r = o.problem(suffix);
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("limits.max_compression_ratio"),
            "{r}"
        );
    };

    let o = run_case(&mut report, "zip bomb", generate::zip_bomb);
    assert_eq!(o.summary["items_new"], 0);
    ratio(&o, "bomb.zip!bomb.eml");

    let o = run_case(&mut report, "nested zip bomb", generate::nested_zip_bomb);
    assert_eq!(o.summary["items_new"], 1, "only ok.eml is a message");
    ratio(&o, "nested-bomb.zip!inner.zip!bomb.eml");

    let o = run_case(&mut report, "gzip bomb", generate::gzip_bomb);
    ratio(&o, "zeros.mbox.gz");

    let o = run_case(&mut report, "../, absolute and symlink names", |d| {
        generate::hostile_names(d)
    });
    assert_eq!(o.summary["items_new"], 2);
    assert!(!Path::new("/tmp/trove-absolute-escape.eml").exists());
    assert!(!o.archive.dir.path().join("escaped.eml").exists());
    let items = o.archive.jsonl(&["ls", "--provenance"]);
    assert!(items.iter().any(|i| {
        i["provenance"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("evil.zip!../../escaped.eml")
    }));
    assert!(
        o.problem("links.tar!link.eml")["reason"]
            .as_str()
            .unwrap()
            .contains("link")
    );
    assert!(
        o.problem("outside-link")["reason"]
            .as_str()
            .unwrap()
            .contains("not followed")
    );

    let o = run_case(&mut report, "10,000-level nested multipart", |d| {
        generate::deep_multipart(d, 10_000)
    });
    assert_eq!(o.summary["items_new"], 1);
    let deep = o.item("deep");
    assert!(has_finding(&deep, "too_deep"), "{deep}");

    let o = run_case(
        &mut report,
        "2 MiB header line, 5 MiB header block",
        generate::long_header_lines,
    );
    assert_eq!(o.summary["items_new"], 1);
    assert!(
        o.item("long line")["body_text"]
            .as_str()
            .unwrap()
            .contains("body after a long header")
    );
    assert!(
        o.problem("huge-header.eml")["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_header_bytes")
    );

    let o = run_case(&mut report, "NUL bytes", generate::nul_bytes);
    assert_eq!(o.summary["items_new"], 2, "{}", o.summary);
    o.problem("all-nul.bin");
    for it in o.archive.jsonl(&["ls"]) {
        let raw = o.archive.ok(&["raw", it["id"].as_str().unwrap()]);
        assert_eq!(sha256_hex(&raw), it["raw_sha256"].as_str().unwrap());
    }

    let o = run_case(
        &mut report,
        "invalid UTF-8 in every header",
        generate::invalid_utf8_headers,
    );
    assert_eq!(o.summary["items_new"], 1, "{}", o.summary);
    let it = &o.archive.jsonl(&["ls"])[0];
    let v = o.archive.json(&["show", it["id"].as_str().unwrap()]);
    // Undecodable bytes are shown as U+FFFD, never dropped or guessed; the bytes stay in raw.
    assert!(v["subject"].as_str().unwrap().contains('\u{FFFD}'), "{v}");
    assert!(has_finding(&v, "date_missing") || has_finding(&v, "date_unparseable"));
    assert_eq!(v["dkim"]["verdict"], "malformed", "{v}");
    let raw = o.archive.ok(&["raw", it["id"].as_str().unwrap()]);
    assert_eq!(sha256_hex(&raw), it["raw_sha256"].as_str().unwrap());

    let o = run_case(
        &mut report,
        "mbox with broken Content-Length",
        generate::broken_content_length,
    );
    assert_eq!(o.summary["items_new"], 4, "{}", o.summary);
    for i in 0..4 {
        let v = o.item(&format!("cl {i}"));
        assert!(
            v["body_text"]
                .as_str()
                .unwrap()
                .contains(&format!("body {i} is longer")),
            "{v}"
        );
    }
    assert!(has_finding(&o.item("cl 1"), "mbox_split"));

    let o = run_case(&mut report, "JSON nested 1e6 deep", generate::deep_json);
    assert_eq!(o.summary["items_new"], 2, "{}", o.summary);
    let deep_line = o.problem("deep.jsonl");
    assert!(
        deep_line["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_json_depth (64)"),
        "{deep_line}"
    );
    let deep_x = o.problem("tweets.js");
    assert!(
        deep_x["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_json_depth"),
        "{deep_x}"
    );

    // Each archive is dropped (its directory removed) before the next large case: together the
    // large cases would hold several GB of disk at once.
    drop(o);
    let mut messages = 0;
    let o = run_case(&mut report, "1 GiB mbox", |d| {
        messages = generate::big_mbox(d, 1 << 30)
    });
    assert_eq!(o.summary["items_new"], messages as u64, "{}", o.summary);
    eprintln!(
        "1 GiB mbox: {messages} messages, {:.1} s, peak RSS {} MB",
        o.secs,
        o.peak_kb / 1024
    );

    // tantivy queues up to 10,000 documents whatever their size; these carry 470 KB of text
    // each, twice over (671 MB peak in a test build before the index queue had a byte budget,
    // 234 MB after).
    drop(o);
    let mut messages = 0;
    let o = run_case(&mut report, "300 MB of text attachments", |d| {
        messages = generate::text_attachments_mbox(d, 300 << 20)
    });
    assert_eq!(o.summary["items_new"], messages as u64, "{}", o.summary);
    // The attachments were indexed.
    let count = |q: &str| String::from_utf8(o.archive.ok(&["search", "--count", q])).unwrap();
    assert_eq!(count("filename:r7.txt").trim(), "1");

    // Words that never repeat make term dictionaries as large as the text, and tantivy loads a
    // merge's source dictionaries whole. A corpus like this one peaked at 499 MB (release build)
    // before merges were capped by dictionary bytes and run one at a time and glibc's mmap
    // threshold was fixed; 213 MiB after (test build).
    drop(o);
    let mut messages = 0;
    let o = run_case(&mut report, "300 MB of words that never repeat", |d| {
        messages = generate::random_words_mbox(d, 300 << 20)
    });
    assert_eq!(o.summary["items_new"], messages as u64, "{}", o.summary);
    let count = |q: &str| String::from_utf8(o.archive.ok(&["search", "--count", q])).unwrap();
    assert_eq!(count("filename:d7.txt").trim(), "1");

    let table = report.join("\n");
    eprintln!("{table}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/hostile-report.md");
    fs::write(out, table + "\n").unwrap();
}

#[test]
fn a_200_mb_message_goes_through_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.eml");
    let mut f = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    f.write_all(
        b"From: big@example.org\r\nTo: x@example.org\r\nSubject: huge\r\nMessage-ID: <huge@x>\r\n",
    )
    .unwrap();
    f.write_all(b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n")
        .unwrap();
    f.write_all(
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    )
    .unwrap();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    let mut written = 0usize;
    while written < 200 << 20 {
        f.write_all(line).unwrap();
        written += line.len();
    }
    f.write_all(b"--b--\r\n").unwrap();
    drop(f);
    let expected = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        std::io::copy(&mut fs::File::open(&path).unwrap(), &mut h).unwrap();
        hex::encode(h.finalize())
    };
    let a = TestArchive::new();
    let (out, peak_kb) =
        run_measuring_peak_rss(a.cmd(&["ingest", "--json", dir.path().to_str().unwrap()]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(peak_kb < 300 * 1024, "peak RSS {peak_kb} kB");
    let items = a.jsonl(&["ls"]);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["raw_sha256"], expected.as_str());
    assert_eq!(items[0]["subject"], "huge");
    let v = a.json(&["show", items[0]["id"].as_str().unwrap()]);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "body_not_parsed")
    );
    // `raw` streams the bytes back without loading them whole.
    let (raw, peak_kb) = run_measuring_peak_rss(a.cmd(&["raw", items[0]["id"].as_str().unwrap()]));
    assert_eq!(sha256_hex(&raw.stdout), expected);
    assert!(peak_kb < 300 * 1024, "raw peak RSS {peak_kb} kB");
}

#[test]
fn an_input_directory_that_contains_the_archive_never_reads_it() {
    let a = TestArchive::new();
    fs::write(
        a.dir.path().join("m.eml"),
        msg("beside", "next to the archive\n"),
    )
    .unwrap();
    let s = a.ingest(&[a.dir.path()]);
    assert_eq!(s["items_new"], 1, "{s}");
    let again = a.ingest(&[a.dir.path()]);
    assert_eq!(again["items_new"], 0, "{again}");
    let p = problems(&a);
    assert!(p.iter().any(|r| {
        r["reason"]
            .as_str()
            .unwrap()
            .contains("archive being written")
    }));
}

/// Sets `[limits]` keys in an archive's trove.toml.
fn set_limits(a: &TestArchive, values: &[(&str, u64)]) {
    let p = a.path().join("trove.toml");
    let mut text = fs::read_to_string(&p).unwrap();
    for (key, v) in values {
        let start = text
            .find(&format!("\n{key} = "))
            .unwrap_or_else(|| panic!("{key} not in trove.toml"))
            + 1;
        let end = start + text[start..].find('\n').unwrap();
        text.replace_range(start..end, &format!("{key} = {v}"));
    }
    fs::write(p, text).unwrap();
}

fn multipart(subject: &str, parts: usize) -> Vec<u8> {
    let mut m = format!(
        "From: a@x\nSubject: {subject}\nMessage-ID: <{subject}@x>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
         the text of {subject}\n"
    );
    for i in 0..parts {
        m += &format!(
            "--b\nContent-Type: application/octet-stream\n\
             Content-Disposition: attachment; filename=\"f{i}.bin\"\n\nbytes {i}\n"
        );
    }
    m += "--b--\n";
    m.into_bytes()
}

/// Every ingest and search limit is a `trove.toml` key; tightened, each one trips with a reason
/// that names its key, and what it stops is kept (as raw bytes or a quarantined record).
#[test]
fn every_limit_is_a_trove_toml_key_named_when_it_trips() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut big = msg("big", "");
    big.extend(std::iter::repeat_n(b'x', 5000));
    fs::write(d.join("big.eml"), big).unwrap();
    fs::write(d.join("attachments.eml"), multipart("attachments", 3)).unwrap();
    fs::write(d.join("parts.eml"), multipart("parts", 9)).unwrap();
    generate::deep_multipart(d, 4);
    let mut header = b"From: a@x\nSubject: header\nX-Pad: ".to_vec();
    header.extend(std::iter::repeat_n(b'p', 300));
    header.extend_from_slice(b"\n\nbody\n");
    fs::write(d.join("header.eml"), header).unwrap();
    let stored = |members: &[(&str, Vec<u8>)]| {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in members {
            z.start_file(*name, opts).unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap().into_inner()
    };
    let mut member = msg("member", "");
    member.extend(std::iter::repeat_n(b'm', 12_000));
    fs::write(d.join("member.zip"), stored(&[("m.eml", member)])).unwrap();
    let eight_k = |s: &str| {
        let mut m = msg(s, "");
        m.extend(std::iter::repeat_n(b't', 8_000));
        m
    };
    fs::write(
        d.join("total.zip"),
        stored(&[
            ("t1.eml", eight_k("t1")),
            ("t2.eml", eight_k("t2")),
            ("t3.eml", eight_k("t3")),
        ]),
    )
    .unwrap();
    let inner = stored(&[("in.eml", msg("in", "inner\n"))]);
    fs::write(d.join("nested.zip"), stored(&[("inner.zip", inner)])).unwrap();
    fs::write(
        d.join("deep.jsonl"),
        "{\"kind\": \"post\", \"sender\": \"x\", \"timestamp\": 1, \"text\": [[[[1]]]]}\n",
    )
    .unwrap();

    let a = TestArchive::new();
    set_limits(
        &a,
        &[
            ("max_parse_bytes", 4000),
            ("max_member_bytes", 10_000),
            ("max_archive_total_bytes", 20_000),
            ("max_archive_depth", 1),
            ("max_attachments", 2),
            ("max_mime_parts", 8),
            ("max_mime_depth", 3),
            ("max_header_bytes", 200),
            ("max_json_depth", 3),
            ("max_query_chars", 10),
        ],
    );
    a.ingest(&[d]);
    let problems = problems(&a);
    let problem = |suffix: &str| {
        problems
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("no record for {suffix}: {problems:?}"))["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let finding = |subject: &str, code: &str| {
        let it = a
            .jsonl(&["ls"])
            .into_iter()
            .find(|i| i["subject"] == subject)
            .unwrap_or_else(|| panic!("no item {subject}"));
        let v = a.json(&["show", it["id"].as_str().unwrap()]);
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .unwrap_or_else(|| panic!("{subject}: no {code} in {v}"))["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut tripped = vec![];
    let mut check = |key: &str, reason: String| {
        assert!(reason.contains(&format!("limits.{key}")), "{key}: {reason}");
        tripped.push(key.to_string());
    };
    check("max_parse_bytes", finding("big", "body_not_parsed"));
    check("max_member_bytes", problem("member.zip!m.eml"));
    check("max_archive_total_bytes", problem("total.zip!t3.eml"));
    check("max_archive_depth", problem("nested.zip!inner.zip"));
    check(
        "max_attachments",
        finding("attachments", "too_many_attachments"),
    );
    check("max_mime_parts", finding("parts", "too_many_parts"));
    check("max_mime_depth", finding("deep", "too_deep"));
    check("max_header_bytes", problem("header.eml"));
    check("max_json_depth", problem("deep.jsonl"));
    let long = a.run(&["search", "a very long query"]);
    assert_eq!(long.status.code(), Some(2));
    check(
        "max_query_chars",
        String::from_utf8_lossy(&long.stderr).to_string(),
    );
    eprintln!("limits tripped from trove.toml: {tripped:?}");

    // A value that cannot work is refused by every command, naming the key.
    set_limits(&a, &[("max_json_depth", 1000)]);
    let out = a.run(&["ls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limits.max_json_depth must be"));
}

/// The query time limit: a tiny `query_timeout_ms` abandons a search that takes longer.
#[test]
fn query_timeout_from_trove_toml_abandons_slow_searches() {
    let a = TestArchive::new();
    a.ingest(&[&linux_mips(2001)]);
    set_limits(&a, &[("query_timeout_ms", 1)]);
    let q = "co* OR re* OR pa* OR de* OR in* OR st* OR ma* OR pr* OR th* OR ca* OR se* OR li*";
    let out = a.run(&["search", "--facets", "--sort", "date", q]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1ms") || err.contains("time"), "{err}");
    // The command-line flag overrides the archive setting for one run.
    let out = a.run(&["search", "--count", "--timeout-ms", "60000", q]);
    assert!(out.status.success(), "{out:?}");
}
