//! End-to-end tests of `trove ingest` and the commands that read what it wrote, on real corpora
//! from ../shared/data and on generated fixtures for the cases real data lacks.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn union_of_manifests(years: &[u32]) -> BTreeSet<String> {
    years.iter().flat_map(|y| manifest(*y)).collect()
}

#[test]
fn linux_mips_raw_hashes_equal_the_manifests_exactly() {
    let years = [1996, 1997, 1998, 1999, 2000];
    let a = TestArchive::new();
    let paths: Vec<PathBuf> = years.iter().map(|y| linux_mips(*y)).collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let s = a.ingest(&refs);
    let expected = union_of_manifests(&years);
    let got: BTreeSet<String> = a.raw_shas().into_iter().collect();
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "raw SHA-256 set differs from the manifests"
    );
    assert_eq!(s["items_new"].as_u64().unwrap() as usize, expected.len());
    assert_eq!(s["quarantined"], 0);
    assert_eq!(s["skipped"], 0);
    let stats = a.json(&["stats"]);
    assert_eq!(stats["items"].as_u64().unwrap() as usize, expected.len());
    assert_eq!(
        stats["by_kind"]["email"].as_u64().unwrap() as usize,
        expected.len()
    );

    // `trove raw` returns the exact bytes, for a sample spread over the archive.
    let items = a.jsonl(&["ls"]);
    for it in items.iter().step_by(251) {
        let raw = a.ok(&["raw", it["id"].as_str().unwrap()]);
        assert_eq!(sha256_hex(&raw), it["raw_sha256"].as_str().unwrap());
        assert!(
            it["raw_sha256"]
                .as_str()
                .unwrap()
                .starts_with(it["id"].as_str().unwrap())
        );
    }
    // Message-IDs come without angle brackets, dates as RFC 3339 UTC.
    let with_id = items.iter().filter(|i| i["native_id"].is_string()).count();
    assert!(with_id * 100 / items.len() > 95);
    assert!(
        items
            .iter()
            .all(|i| !i["native_id"].as_str().unwrap_or("").starts_with('<'))
    );
    let d = items.iter().find_map(|i| i["date"].as_str()).unwrap();
    assert!(d.ends_with('Z') && d.len() == 20, "{d}");

    // 5,411 new items into an empty archive: the run dropped the catalog's deferrable indexes
    // part way and sorted them back at its end, so they are there and answer lookups.
    assert_eq!(s["deferred_indexes"], true, "{s}");
    let db = rusqlite::Connection::open(a.path().join("catalog.sqlite")).unwrap();
    let indexes: Vec<String> = db
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('items_date', \
             'items_native', 'item_addresses_addr', 'verifications_verdict') ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        indexes,
        [
            "item_addresses_addr",
            "items_date",
            "items_native",
            "verifications_verdict"
        ]
    );
    let late = items
        .iter()
        .rev()
        .find(|i| i["native_id"].is_string())
        .unwrap();
    let found: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM items INDEXED BY items_native WHERE native_id = ?1",
            [late["native_id"].as_str().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(found >= 1, "{late}");
}

#[test]
#[ignore = "long: ingests all 66,062 linux-mips messages (run with --ignored)"]
fn linux_mips_full_corpus_exact_accounting() {
    let years: Vec<u32> = (1996..=2016).collect();
    let a = TestArchive::new();
    let paths: Vec<PathBuf> = years.iter().map(|y| linux_mips(*y)).collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    a.ingest(&refs);
    let got: BTreeSet<String> = a.raw_shas().into_iter().collect();
    assert!(got == union_of_manifests(&years));
}

#[test]
fn rerunning_the_same_ingest_adds_nothing() {
    let a = TestArchive::new();
    let input = linux_mips(1996);
    let first = a.ingest(&[&input]);
    assert!(first["items_new"].as_u64().unwrap() > 100);
    // Too few to be worth dropping the catalog's deferrable indexes for.
    assert_eq!(first["deferred_indexes"], false);
    let stats1 = a.json(&["stats"]);
    let second = a.ingest(&[&input]);
    assert_eq!(second["items_new"], 0);
    assert_eq!(second["duplicates"], 0);
    assert_eq!(second["unchanged_files"], 1);
    // --rescan rereads every byte and still adds nothing.
    let third = a.json(&["ingest", "--rescan", input.to_str().unwrap()]);
    assert_eq!(third["items_new"], 0);
    assert_eq!(third["unchanged"], first["items_new"]);
    let stats2 = a.json(&["stats"]);
    assert_eq!(stats1["items"], stats2["items"]);
    assert_eq!(stats1["provenance_records"], stats2["provenance_records"]);
}

/// Every file of the messy corpora ends up as an item's source, a quarantine or a skip record.
#[test]
fn messy_corpora_every_file_is_accounted_for() {
    let root = data_dir().join("email/messy");
    let a = TestArchive::new();
    let out = a.run(&["ingest", "--json", root.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["items_new"].as_u64().unwrap() > 300);

    let mut accounted: HashSet<String> = HashSet::new();
    for it in a.jsonl(&["ls", "--provenance"]) {
        for p in it["provenance"].as_array().unwrap() {
            accounted.insert(p["path"].as_str().unwrap().to_string());
        }
    }
    for p in a.jsonl(&["quarantine"]) {
        assert!(!p["reason"].as_str().unwrap().is_empty());
        accounted.insert(p["path"].as_str().unwrap().to_string());
    }
    let mut files = 0;
    for entry in walk(&root) {
        files += 1;
        let s = entry.display().to_string();
        let inside = accounted
            .iter()
            .any(|p| p == &s || p.starts_with(&format!("{s}!")));
        assert!(inside, "{s} is not accounted for");
    }
    assert!(files > 600);
    // Quarantined bytes are kept too.
    let q = a.jsonl(&["quarantine"]);
    let rec = q
        .iter()
        .find(|r| r["state"] == "quarantined")
        .expect("a quarantined record");
    let raw = a.ok(&["raw", rec["raw_sha256"].as_str().unwrap()]);
    assert_eq!(sha256_hex(&raw), rec["raw_sha256"].as_str().unwrap());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn msg(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@example.org>\nTo: bob@example.org\nSubject: {subject}\n\
         Date: Tue, 4 Oct 2016 09:12:30 +0200\nMessage-ID: <{subject}@example.org>\n\n{body}"
    )
    .into_bytes()
}

#[test]
fn mbox_variants_split_and_unquote_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // mboxrd with LF: one level of quoting removed, `>>From` becomes `>From`.
    let m1 = msg("rd1", "hello\nFrom the start\n>From quoted\n");
    let m2 = msg("rd2", "second\n");
    let mut rd = Vec::new();
    rd.extend_from_slice(b"From ann@example.org Tue Oct  4 07:12:30 2016\n");
    rd.extend_from_slice(&msg("rd1", "hello\n>From the start\n>>From quoted\n"));
    rd.extend_from_slice(b"\nFrom ann@example.org Tue Oct  4 07:12:31 2016\n");
    rd.extend_from_slice(&m2);
    rd.extend_from_slice(b"\n");
    fs::write(dir.path().join("box.mboxrd"), &rd).unwrap();

    // mboxcl2 with CRLF: Content-Length delimits a body with an unquoted From line.
    let body = "line one\r\n\r\nFrom here on it is body\r\n";
    let cl_msg = format!(
        "From: Ann <ann@example.org>\r\nSubject: cl\r\nMessage-ID: <cl@example.org>\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut cl = Vec::new();
    cl.extend_from_slice(b"From ann@example.org Tue Oct  4 07:12:30 2016\r\n");
    cl.extend_from_slice(cl_msg.as_bytes());
    cl.extend_from_slice(b"\r\nFrom ann@example.org Tue Oct  4 07:12:31 2016\r\n");
    let tail = "From: b@example.org\r\nSubject: after\r\n\r\nbye\r\n";
    cl.extend_from_slice(tail.as_bytes());
    // No extension: detected by content.
    fs::write(dir.path().join("mailbox"), &cl).unwrap();

    let a = TestArchive::new();
    let s = a.ingest(&[dir.path()]);
    assert_eq!(s["items_new"], 4, "{s}");
    let shas: HashSet<String> = a.raw_shas().into_iter().collect();
    for expected in [
        m1.as_slice(),
        m2.as_slice(),
        cl_msg.as_bytes(),
        tail.as_bytes(),
    ] {
        assert!(
            shas.contains(&sha256_hex(expected)),
            "missing message {:?}",
            String::from_utf8_lossy(expected)
        );
    }
    let items = a.jsonl(&["ls", "--provenance"]);
    let formats: BTreeSet<String> = items
        .iter()
        .map(|i| i["provenance"][0]["format"].as_str().unwrap().to_string())
        .collect();
    assert!(
        formats.contains("mboxrd") && formats.contains("mboxcl"),
        "{formats:?}"
    );
    assert!(items.iter().all(|i| i["provenance"][0]["offset"].is_u64()));
}

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut t = tar::Builder::new(gz);
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, *data).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap()
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

#[test]
fn nested_zip_in_tar_gz_maildir_and_the_same_message_in_two_places() {
    let dir = tempfile::tempdir().unwrap();
    let a_msg = msg("nested", "inside a zip inside a tar.gz\n");
    let b_msg = msg("maildir", "in a maildir\n");
    let inner_zip = zip_of(&[("mail/a.eml", &a_msg), ("notes.json", b"{\"x\":1}")]);
    let tgz = tar_gz(&[
        ("dump/inner.zip", &inner_zip),
        ("dump/Maildir/cur/1475537100.M1P7.host:2,S", &b_msg),
    ]);
    fs::write(dir.path().join("dump.tar.gz"), &tgz).unwrap();
    // The same bytes as a loose file, and a real maildir.
    fs::write(dir.path().join("copy-of-a.eml"), &a_msg).unwrap();
    let md = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).unwrap();
    }
    fs::write(md.join("cur/1.M1.host:2,RS"), &b_msg).unwrap();
    fs::write(md.join("tmp/2.M2.host"), msg("partial", "half delivered")).unwrap();
    fs::create_dir_all(md.join(".Sent/cur")).unwrap();
    fs::create_dir_all(md.join(".Sent/new")).unwrap();
    fs::write(
        md.join(".Sent/cur/3.M3.host:2,S"),
        msg("sent", "from the Sent folder\n"),
    )
    .unwrap();

    let a = TestArchive::new();
    let s = a.ingest(&[dir.path()]);
    assert_eq!(s["items_new"], 4, "{s}");
    assert_eq!(s["duplicates"], 2, "{s}");
    assert_eq!(s["skipped"], 1, "{s}");
    let items = a.jsonl(&["ls", "--provenance"]);
    let nested = items
        .iter()
        .find(|i| i["raw_sha256"] == sha256_hex(&a_msg))
        .unwrap();
    let paths: Vec<&str> = nested["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2);
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("dump.tar.gz!dump/inner.zip!mail/a.eml")),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.ends_with("copy-of-a.eml")));
    let partial = items.iter().find(|i| i["subject"] == "partial").unwrap();
    assert_eq!(partial["provenance"][0]["flags"], "tmp");
    assert_eq!(partial["provenance"][0]["format"], "maildir");
    let show = a.json(&["show", partial["id"].as_str().unwrap()]);
    assert!(
        show["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "maildir_tmp")
    );
    let b = items.iter().find(|i| i["subject"] == "maildir").unwrap();
    let flags: BTreeSet<&str> = b["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["flags"].as_str())
        .collect();
    assert!(flags.contains("RS"), "{flags:?}");
    let skipped = a.jsonl(&["quarantine"]);
    assert!(
        skipped[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("inner.zip!notes.json")
    );
    assert!(skipped[0]["reason"].as_str().unwrap().contains("JSON"));
}

#[test]
fn show_gives_headers_body_attachments_and_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let raw = b"From: =?iso-8859-1?q?Fran=E7ois_L=E9vy?= <Francois@Example.FR>\r\n\
To: Ann <ann@example.org>, bob@example.org\r\nCc: carol@example.org\r\n\
Subject: =?utf-8?q?R=C3=A9union_=C3=A9lection?=\r\nDate: Tue, 4 Oct 2016 09:12:30 +0200\r\n\
Message-ID: <show-1@example.fr>\r\nIn-Reply-To: <parent@example.fr>\r\nReferences: <root@example.fr> <parent@example.fr>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Le r=E9sultat de l'=E9lection.\r\n--B\r\nContent-Type: text/csv; name=\"chiffres.csv\"\r\n\
Content-Disposition: attachment; filename=\"chiffres.csv\"\r\n\r\na;b\r\n1;2\r\n--B--\r\n";
    fs::write(dir.path().join("m.eml"), raw).unwrap();
    let a = TestArchive::new();
    a.ingest(&[dir.path()]);
    let id = a.jsonl(&["ls"])[0]["id"].as_str().unwrap().to_string();
    let v = a.json(&["show", &id]);
    assert_eq!(v["subject"], "Réunion élection");
    assert_eq!(v["from"][0]["name"], "François Lévy");
    assert_eq!(v["from"][0]["address"], "francois@example.fr");
    assert_eq!(v["to"].as_array().unwrap().len(), 2);
    assert_eq!(v["cc"][0]["address"], "carol@example.org");
    assert_eq!(v["date"], "2016-10-04T07:12:30Z");
    assert_eq!(v["date_offset_minutes"], 120);
    assert_eq!(v["date_raw"], "Tue, 4 Oct 2016 09:12:30 +0200");
    assert_eq!(v["native_id"], "show-1@example.fr");
    assert_eq!(v["references"][1], "parent@example.fr");
    assert!(
        v["body_text"]
            .as_str()
            .unwrap()
            .contains("Le résultat de l'élection.")
    );
    let att = &v["attachments"][0];
    assert_eq!(att["filename"], "chiffres.csv");
    assert_eq!(att["mime_type"], "text/csv");
    let att_bytes = a.ok(&["raw", att["sha256"].as_str().unwrap()]);
    assert_eq!(att_bytes, b"a;b\r\n1;2");
    assert!(
        v["provenance"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("m.eml")
    );
    let human = String::from_utf8(a.ok(&["show", &id])).unwrap();
    assert!(
        human.contains("chiffres.csv") && human.contains("Réunion élection"),
        "{human}"
    );
}

#[test]
fn read_only_input_tree_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    fs::create_dir_all(&inputs).unwrap();
    fs::write(inputs.join("a.eml"), msg("ro", "read only\n")).unwrap();
    fs::copy(linux_mips(1996), inputs.join("lm.tar.gz")).unwrap();
    let listing = |p: &Path| -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        walk(p)
            .into_iter()
            .map(|f| {
                let m = fs::metadata(&f).unwrap();
                (f, m.len(), m.modified().unwrap())
            })
            .collect()
    };
    for f in walk(&inputs) {
        let mut perm = fs::metadata(&f).unwrap().permissions();
        perm.set_readonly(true);
        fs::set_permissions(&f, perm).unwrap();
    }
    let mut perm = fs::metadata(&inputs).unwrap().permissions();
    perm.set_readonly(true);
    fs::set_permissions(&inputs, perm).unwrap();
    let before = listing(&inputs);
    let a = TestArchive::new();
    let s = a.ingest(&[&inputs]);
    assert!(s["items_new"].as_u64().unwrap() > 100);
    assert_eq!(listing(&inputs), before);
}

#[test]
fn a_second_writer_fails_cleanly_or_waits() {
    let a = TestArchive::new();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.eml"), msg("lock", "x\n")).unwrap();
    // Hold the writer lock as another trove process would.
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(a.path().join("lock"))
        .unwrap();
    lock.lock().unwrap();
    let out = a.run(&["ingest", dir.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("another trove process"));
    // Readers are not blocked by a writer.
    a.ok(&["stats"]);
    let waiting = a
        .cmd(&["ingest", "--wait", "--json", dir.path().to_str().unwrap()])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(lock);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(a.json(&["stats"])["items"], 1);
}

#[test]
fn exit_codes_name_the_problem() {
    let a = TestArchive::new();
    let out = a.run(&["show", "0123456789abcdef"]);
    assert_eq!(out.status.code(), Some(3));
    let out = a.run(&["ingest", "/nonexistent/dump.zip"]);
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dump.zip"));
    let out = std::process::Command::new(trove_bin())
        .args(["--archive", "/nonexistent-archive", "stats"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trove init"));
    let out = a.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn demo_builds_an_archive_with_signed_tampered_and_french_mail() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = std::process::Command::new(trove_bin())
        .args([
            "demo",
            "--no-serve",
            "--json",
            "--dir",
            demo.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 10 emails, and 18 DMs and posts from two X exports that share 6 DMs.
    assert_eq!(v["ingest"]["items_new"], 28);
    assert_eq!(v["ingest"]["duplicates"], 7);
    let listing = std::process::Command::new(trove_bin())
        .args(["--archive", demo.to_str().unwrap(), "ls", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8(listing.stdout).unwrap();
    assert!(text.contains("élection"));
    assert_eq!(text.matches("A link you might find interesting").count(), 2);
    let zone = fs::read_to_string(demo.join("keys/demo-dkim.zone")).unwrap();
    assert!(zone.contains("demo2016._domainkey.openvault.example"));
    // Rebuilding the demo replaces it; an archive it did not build is never touched.
    let again = std::process::Command::new(trove_bin())
        .args([
            "demo",
            "--no-serve",
            "--json",
            "--dir",
            demo.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(again.status.success());
    let other = TestArchive::new();
    let refused = std::process::Command::new(trove_bin())
        .args([
            "demo",
            "--no-serve",
            "--dir",
            other.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
}

#[test]
fn tar_xz_and_bzip2_mbox_are_read_by_content_whatever_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let m1 = msg("xz", "inside tar.xz\n");
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(m1.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    t.append_data(&mut h, "x/one.eml", m1.as_slice()).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&t.into_inner().unwrap()).unwrap();
    fs::write(dir.path().join("archive.bin"), xz.finish().unwrap()).unwrap();
    let m2 = msg("bz", "inside an mbox.bz2\n");
    let mut mbox = b"From a@example.org Tue Oct  4 07:12:30 2016\n".to_vec();
    mbox.extend_from_slice(&m2);
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&mbox).unwrap();
    fs::write(dir.path().join("list-archive"), bz.finish().unwrap()).unwrap();
    let a = TestArchive::new();
    let s = a.ingest(&[dir.path()]);
    assert_eq!(s["items_new"], 2, "{s}");
    let shas: HashSet<String> = a.raw_shas().into_iter().collect();
    assert!(shas.contains(&sha256_hex(&m1)) && shas.contains(&sha256_hex(&m2)));
}
