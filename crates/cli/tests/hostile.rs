//! Hostile and broken input, and interrupted runs: every case gets a bounded, reported outcome.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

fn msg(subject: &str, body: &str) -> Vec<u8> {
    format!("From: a@example.org\nSubject: {subject}\nMessage-ID: <{subject}@x>\n\n{body}")
        .into_bytes()
}

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

#[test]
fn sigkill_at_random_points_then_rerun_gives_the_uninterrupted_archive() {
    let inputs = [linux_mips(2001), linux_mips(1997)];
    let args: Vec<String> = inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>();
    let reference = TestArchive::new();
    let mut ingest_args = vec!["ingest"];
    ingest_args.extend(args.iter().map(String::as_str));
    reference.ok(&ingest_args);
    let want = reference.ok(&["ls", "--json"]);

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill schedule seed: {seed}");
    let mut rng = Lcg(seed);
    let a = TestArchive::new();
    // At least 20 kills at random moments (a run that finishes first is not counted).
    let mut kills = 0;
    let mut attempts = 0;
    while kills < 20 && attempts < 60 {
        attempts += 1;
        let mut child = a.cmd(&ingest_args).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.next(600)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    eprintln!("killed {kills} of {attempts} runs mid-ingest");
    assert!(
        kills >= 20,
        "only {kills} runs could be killed mid-ingest (seed {seed})"
    );
    a.ok(&ingest_args);
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

#[test]
fn zip_and_gzip_bombs_are_stopped_by_the_ratio_limit() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = vec![0u8; 64 << 20];
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("bomb.eml", opts).unwrap();
    z.write_all(b"From: a@b\n\n").unwrap();
    z.write_all(&zeros).unwrap();
    let bomb = z.finish().unwrap().into_inner();
    let mut outer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    outer
        .start_file("inner.zip", zip::write::SimpleFileOptions::default())
        .unwrap();
    outer.write_all(&bomb).unwrap();
    outer
        .start_file("ok.eml", zip::write::SimpleFileOptions::default())
        .unwrap();
    outer.write_all(&msg("ok", "fine\n")).unwrap();
    fs::write(
        dir.path().join("nested-bomb.zip"),
        outer.finish().unwrap().into_inner(),
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"From a@b Mon Jan  1 00:00:00 2001\nFrom: a@b\n\n")
        .unwrap();
    gz.write_all(&zeros).unwrap();
    fs::write(dir.path().join("zeros.mbox.gz"), gz.finish().unwrap()).unwrap();

    let a = TestArchive::new();
    let (out, peak_kb) =
        run_measuring_peak_rss(a.cmd(&["ingest", "--json", dir.path().to_str().unwrap()]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["items_new"], 1, "only ok.eml is a message: {s}");
    let p = problems(&a);
    let bomb = p
        .iter()
        .find(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with("nested-bomb.zip!inner.zip!bomb.eml")
        })
        .unwrap_or_else(|| panic!("no record for the nested bomb: {p:?}"));
    assert!(
        bomb["reason"]
            .as_str()
            .unwrap()
            .contains("max_compression_ratio"),
        "{bomb}"
    );
    let gzr = p
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("zeros.mbox.gz"))
        .unwrap();
    assert!(
        gzr["reason"]
            .as_str()
            .unwrap()
            .contains("max_compression_ratio"),
        "{gzr}"
    );
    assert!(peak_kb < 300 * 1024, "peak RSS {peak_kb} kB");
}

#[test]
fn member_names_with_dotdot_or_absolute_paths_are_only_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in ["../../escaped.eml", "/tmp/trove-absolute-escape.eml"] {
        z.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(&msg(&name.replace('/', "_"), "payload\n"))
            .unwrap();
    }
    fs::write(
        dir.path().join("evil.zip"),
        z.finish().unwrap().into_inner(),
    )
    .unwrap();
    // A tar with a symlink member pointing outside.
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    t.append_link(&mut h, "link.eml", "/etc/passwd").unwrap();
    fs::write(dir.path().join("links.tar"), t.into_inner().unwrap()).unwrap();
    // A symlink in the input tree pointing outside it.
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("outside-link")).unwrap();

    let a = TestArchive::new();
    let s = a.ingest(&[dir.path()]);
    assert_eq!(s["items_new"], 2);
    assert!(!Path::new("/tmp/trove-absolute-escape.eml").exists());
    assert!(!a.dir.path().join("escaped.eml").exists());
    let items = a.jsonl(&["ls", "--provenance"]);
    assert!(items.iter().any(|i| {
        i["provenance"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("evil.zip!../../escaped.eml")
    }));
    let p = problems(&a);
    assert!(p.iter().any(
        |r| r["path"].as_str().unwrap().ends_with("links.tar!link.eml")
            && r["reason"].as_str().unwrap().contains("link")
    ));
    assert!(
        p.iter()
            .any(|r| r["path"].as_str().unwrap().ends_with("outside-link")
                && r["reason"].as_str().unwrap().contains("not followed"))
    );
}

#[test]
fn nul_bytes_and_invalid_utf8_everywhere_still_give_items() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = b"From: \xff\xfe Bad \xc3\x28 <bad@ex\xffample.org>\r\nTo: \x00nul@example.org\r\n"
        .to_vec();
    m.extend_from_slice(
        b"Subject: caf\xe9 \x00 \xf0\x28\x8c\x28\r\nDate: Mon, 99 Foo 2016 99:99:99\r\n",
    );
    m.extend_from_slice(
        b"Message-ID: <\xff@x>\r\n\r\nbody \x00\x00 with NULs and \xff\xfe bytes\r\n",
    );
    fs::write(dir.path().join("broken.eml"), &m).unwrap();
    let mut nul_first = b"From: a@b\n".to_vec();
    nul_first.extend(std::iter::repeat_n(0u8, 5000));
    fs::write(dir.path().join("nul.eml"), &nul_first).unwrap();
    fs::write(dir.path().join("all-nul.bin"), vec![0u8; 4096]).unwrap();
    let a = TestArchive::new();
    let s = a.ingest(&[dir.path()]);
    assert_eq!(s["items_new"], 2, "{s}");
    for it in a.jsonl(&["ls"]) {
        let v = a.json(&["show", it["id"].as_str().unwrap()]);
        assert!(v["subject"].is_string() || v["subject"].is_null());
        let raw = a.ok(&["raw", it["id"].as_str().unwrap()]);
        assert_eq!(sha256_hex(&raw), it["raw_sha256"].as_str().unwrap());
    }
    let broken = a
        .jsonl(&["ls"])
        .into_iter()
        .find(|i| i["raw_sha256"] == sha256_hex(&m))
        .unwrap();
    let v = a.json(&["show", broken["id"].as_str().unwrap()]);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "date_unparseable")
    );
    let p = problems(&a);
    assert!(
        p.iter()
            .any(|r| r["path"].as_str().unwrap().ends_with("all-nul.bin"))
    );
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
