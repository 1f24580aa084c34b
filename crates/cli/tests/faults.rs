//! Filesystem faults and concurrency: a full disk, unreadable and read-only inputs, files that
//! change while they are read, two writers, and readers during a commit. The full-disk test mounts
//! a small tmpfs and the permission test drops root's override capabilities, so both need root
//! (CI runs as root); without it they fail, they never skip.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn sh(cmd: &str) {
    let st = Command::new("sh").args(["-c", cmd]).status().unwrap();
    assert!(st.success(), "`{cmd}` failed");
}

/// A tmpfs of a given size, unmounted however the test ends.
struct Tmpfs(tempfile::TempDir);
impl Tmpfs {
    fn new(size: &str) -> Self {
        assert!(
            is_root(),
            "the full-disk test mounts a tmpfs and needs root (CI runs as root)"
        );
        let dir = tempfile::tempdir().unwrap();
        sh(&format!(
            "mount -t tmpfs -o size={size} trove-full-disk-test {}",
            dir.path().display()
        ));
        Self(dir)
    }
    fn resize(&self, size: &str) {
        sh(&format!(
            "mount -o remount,size={size} {}",
            self.0.path().display()
        ));
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn trove_at(archive: &Path, args: &[&str]) -> std::process::Output {
    Command::new(trove_bin())
        .arg("--archive")
        .arg(archive)
        .args(args)
        .output()
        .unwrap()
}

/// The disk fills at different moments (blob store, catalog, index): each time ingest stops with
/// exit code 74 and says what to do, and a rerun after space is freed gives every message.
#[test]
fn a_full_disk_stops_ingest_cleanly_and_a_rerun_after_freeing_space_loses_nothing() {
    let corpus = linux_mips(2001);
    let want: BTreeSet<String> = manifest(2001).into_iter().collect();
    // With linux-mips 2001 these fill up in a pack, the catalog and the index.
    for size in ["700k", "5m", "14m"] {
        let disk = Tmpfs::new(size);
        let archive = disk.0.path().join("archive");
        assert!(trove_at(&archive, &["init"]).status.success());
        let out = trove_at(&archive, &["ingest", corpus.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(74), "{size}: {err}");
        assert!(
            err.contains("disk holding the archive is full"),
            "{size}: {err}"
        );
        disk.resize("300m");
        let out = trove_at(&archive, &["ingest", "--json", corpus.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{size}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ls = trove_at(&archive, &["ls", "--json"]);
        let got: BTreeSet<String> = String::from_utf8(ls.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["raw_sha256"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(got, want, "{size}: the rerun gives exactly the corpus");
        let fsck = trove_at(&archive, &["fsck"]);
        assert!(
            fsck.status.success(),
            "{size}: {}",
            String::from_utf8_lossy(&fsck.stdout)
        );
    }
}

/// Runs trove as root would run without its power to read anything (CAP_DAC_OVERRIDE and
/// CAP_DAC_READ_SEARCH dropped), so file permissions apply as they do for a normal user.
fn without_override(a: &TestArchive, args: &[&str]) -> std::process::Output {
    assert!(
        is_root(),
        "the permission test drops root's capabilities and needs root"
    );
    let mut c = Command::new("setpriv");
    c.args([
        "--bounding-set=-dac_override,-dac_read_search",
        "--inh-caps=-dac_override,-dac_read_search",
        "--",
        trove_bin(),
        "--archive",
    ])
    .arg(a.path())
    .args(args)
    .env_remove("TROVE_ARCHIVE");
    c.output().unwrap()
}

/// Permission denied is reported per file and per folder, the rest is read; read-only inputs are
/// never written to; once the permissions are fixed a rerun reads what was missed.
#[test]
fn unreadable_files_are_reported_one_by_one_and_read_only_inputs_are_fine() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("in");
    fs::create_dir_all(d.join("locked")).unwrap();
    fs::create_dir_all(d.join("ro")).unwrap();
    let m = |s: &str| format!("From: a@x\nSubject: {s}\nMessage-ID: <{s}@x>\n\n{s}\n");
    fs::write(d.join("ok.eml"), m("ok")).unwrap();
    fs::write(d.join("secret.eml"), m("secret")).unwrap();
    fs::write(d.join("locked/inner.eml"), m("inner")).unwrap();
    fs::write(d.join("ro/readonly.eml"), m("readonly")).unwrap();
    let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    mode(&d.join("secret.eml"), 0o000);
    mode(&d.join("locked"), 0o000);
    mode(&d.join("ro/readonly.eml"), 0o444);
    mode(&d.join("ro"), 0o555);

    let a = TestArchive::new();
    let out = without_override(&a, &["ingest", "--json", d.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["items_new"], 2, "ok.eml and ro/readonly.eml: {s}");
    let problems = a.jsonl(&["quarantine"]);
    for name in ["secret.eml", "locked"] {
        let r = problems
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no record for {name}: {problems:?}"));
        assert!(
            r["reason"].as_str().unwrap().contains("Permission denied"),
            "{r}"
        );
    }
    mode(&d.join("secret.eml"), 0o644);
    mode(&d.join("locked"), 0o755);
    let out = without_override(&a, &["ingest", "--json", d.to_str().unwrap()]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["items_new"], 2, "the two missed files: {s}");
    assert_eq!(a.jsonl(&["ls"]).len(), 4);
    mode(&d.join("ro"), 0o755);
}

/// An mbox that keeps growing while it is read: the run says so and does not mark it done, and
/// the next run adds what arrived. No message is lost or stored twice.
#[test]
fn a_file_that_grows_during_ingest_is_reported_and_reread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growing.mbox");
    let message = |n: usize| {
        let mut m = format!(
            "From a@x Mon Jan  1 00:00:00 2001\nFrom: a@x\nSubject: grow {n}\n\
             Message-ID: <grow{n}@x>\n\n"
        )
        .into_bytes();
        m.extend(std::iter::repeat_n(b'w', 20_000));
        m.extend_from_slice(b"\n\n");
        m
    };
    // Enough to take a while to read.
    let mut f = fs::File::create(&path).unwrap();
    let mut written = 0;
    while written < 4000 {
        f.write_all(&message(written)).unwrap();
        written += 1;
    }
    drop(f);
    let a = TestArchive::new();
    let mut child = a
        .cmd(&["ingest", "--json", dir.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Append whole messages (one write each, O_APPEND) until the ingest ends.
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    while child.try_wait().unwrap().is_none() {
        f.write_all(&message(written)).unwrap();
        written += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        s["notes"].to_string().contains("changed while being read"),
        "{s}"
    );
    let s2 = a.ingest(&[dir.path()]);
    let subjects: BTreeSet<String> = a
        .jsonl(&["ls"])
        .iter()
        .map(|i| i["subject"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = (0..written).map(|n| format!("grow {n}")).collect();
    assert_eq!(subjects, want, "second run: {s2}");
    assert_eq!(a.jsonl(&["ls"]).len(), written, "nothing stored twice");
    // Now it is stable: a third run reads nothing.
    let s3 = a.ingest(&[dir.path()]);
    assert_eq!(s3["items_new"], 0);
    assert_eq!(s3["unchanged_files"], 1, "{s3}");
}

/// Two ingests at once: the second fails at once with exit code 75 (or waits with `--wait`), and
/// the archive ends with exactly both corpora.
#[test]
fn two_ingests_at_once_one_fails_cleanly_or_waits() {
    let a = TestArchive::new();
    let first = a
        .cmd(&["ingest", "--json", linux_mips(2001).to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first takes the lock within milliseconds and holds it for seconds.
    std::thread::sleep(Duration::from_millis(500));
    let out = a.run(&["ingest", linux_mips(1997).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("lock"));
    let waiting = a
        .cmd(&[
            "ingest",
            "--wait",
            "--json",
            linux_mips(1997).to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success());
    let waited = waiting.wait_with_output().unwrap();
    assert!(waited.status.success());
    let got: BTreeSet<String> = a.raw_shas().into_iter().collect();
    let want: BTreeSet<String> = manifest(2001).into_iter().chain(manifest(1997)).collect();
    assert_eq!(got, want);
}

/// `serve` while an ingest commits: every response comes from one committed state. Each search
/// hit resolves to an item whose raw bytes hash to its id, item counts never go back, and no
/// checkpoint covers more than the log holds.
#[test]
fn readers_see_only_committed_states_while_an_ingest_commits() {
    let a = TestArchive::new();
    a.ingest(&[&linux_mips(1996)]);
    let (_server, url) = start_server(&a.path());
    // Killed if the test fails, before its archive directory goes away.
    let mut ingest = Reaper(
        a.cmd(&[
            "ingest",
            "--json",
            linux_mips(2001).to_str().unwrap(),
            linux_mips(1997).to_str().unwrap(),
            // Past 5,000 new items the run drops the catalog's deferrable indexes: the polls
            // below then read by scans, and must see the same committed states.
            linux_mips(1998).to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let get_json = |path: &str| {
        let (status, body) = http_get(&url, path);
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<Value>(&body).unwrap()
    };
    let (mut last_items, mut polls, mut states) = (0u64, 0, BTreeSet::new());
    let check = |last_items: &mut u64| {
        let about = get_json("/api/v1/about");
        let items = about["items"].as_u64().unwrap();
        assert!(items >= *last_items, "item count went back");
        *last_items = items;
        // The log is appended after the items it covers are committed; a signed checkpoint
        // never covers more than the log holds.
        if let Some(cp) = about["checkpoint"].as_object() {
            assert!(
                cp["size"].as_u64().unwrap() <= about["log_size"].as_u64().unwrap(),
                "{about}"
            );
        }
        let res = get_json("/api/v1/search?q=from:ralf&limit=5&sort=date");
        for hit in res["hits"].as_array().unwrap() {
            let id = hit["id"].as_str().unwrap();
            let item = get_json(&format!("/api/v1/items/{id}"));
            let (status, raw) = http_get(&url, &format!("/api/v1/items/{id}/raw"));
            assert_eq!(status, 200);
            assert_eq!(sha256_hex(&raw), item["raw_sha256"].as_str().unwrap());
        }
        items
    };
    while ingest.0.try_wait().unwrap().is_none() {
        states.insert(check(&mut last_items));
        polls += 1;
    }
    assert!(ingest.0.wait().unwrap().success());
    // The server catches up with the final state (index reloads at most once a second).
    let want =
        (manifest(1996).len() + manifest(2001).len() + manifest(1997).len() + manifest(1998).len())
            as u64;
    let t = Instant::now();
    loop {
        let n = check(&mut last_items);
        let total = get_json("/api/v1/search?q=kind:email&limit=1")["total"]
            .as_u64()
            .unwrap();
        if n == want && total == want {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{n} / {total} / {want}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "{polls} polls during the ingest saw {} committed states",
        states.len()
    );
    assert!(states.len() >= 2, "the polls saw the ingest commit");
}
