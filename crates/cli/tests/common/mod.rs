//! Helpers for the end-to-end tests: they run the real `trove` binary on real data.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/data` from the project root. Missing data is a loud failure, never a skip.
pub fn data_dir() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        p.join("README.md").exists(),
        "test corpus missing: expected {} (the shared data next to the project)",
        p.display()
    );
    p.canonicalize().unwrap()
}

pub fn linux_mips(year: u32) -> PathBuf {
    let p = data_dir().join(format!("email/linux-mips/linux-mips-{year}.tar.gz"));
    assert!(p.exists(), "missing corpus file {}", p.display());
    p
}

pub fn trove_bin() -> &'static str {
    env!("CARGO_BIN_EXE_trove")
}

/// A fresh archive in a temporary directory.
pub struct TestArchive {
    pub dir: tempfile::TempDir,
}

impl TestArchive {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let a = Self { dir };
        let out = a.run(&["init"]);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        a
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("archive")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(trove_bin());
        c.arg("--archive").arg(self.path()).args(args);
        c.env_remove("TROVE_ARCHIVE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "trove {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_slice(&self.ok(&a)).unwrap()
    }

    pub fn jsonl(&self, args: &[&str]) -> Vec<Value> {
        let mut a = args.to_vec();
        a.push("--json");
        String::from_utf8(self.ok(&a))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn ingest(&self, paths: &[&Path]) -> Value {
        let mut args = vec!["ingest".to_string()];
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        self.json(&a)
    }

    pub fn raw_shas(&self) -> Vec<String> {
        self.jsonl(&["ls"])
            .iter()
            .map(|v| v["raw_sha256"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The demo archive (`trove demo --no-serve`) with linux-mips 1996 ingested on top: what the web
/// and browser tests read.
#[allow(dead_code)]
pub fn demo_archive() -> TestArchive {
    // Not `TestArchive::new()`: `demo` refuses to overwrite an archive it did not build.
    let a = TestArchive {
        dir: tempfile::tempdir().unwrap(),
    };
    let out = Command::new(trove_bin())
        .args(["demo", "--no-serve", "--json", "--dir"])
        .arg(a.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.ingest(&[&linux_mips(1996)]);
    a
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every `sha256  path` line of a corpus manifest.
pub fn manifest(year: u32) -> Vec<String> {
    let p = data_dir().join(format!("email/linux-mips/linux-mips-{year}.sha256"));
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("missing manifest {}: {e}", p.display()))
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Peak resident memory of a child process, polled from /proc while it runs (kB).
pub fn run_measuring_peak_rss(mut cmd: Command) -> (Output, u64) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).unwrap();
        v
    });
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            for line in s.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kb);
                }
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    (
        Output {
            status,
            stdout: reader.join().unwrap(),
            stderr,
        },
        peak,
    )
}

/// Kills the child when the test ends, however it ends.
pub struct Reaper(pub std::process::Child);
impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `trove serve` on a free loopback port; returns it and its base URL (no trailing `/`).
pub fn start_server(root: &Path) -> (Reaper, String) {
    use std::io::BufRead;
    let mut child = Command::new(trove_bin())
        .arg("--archive")
        .arg(root)
        .args(["serve", "--bind", "127.0.0.1:0", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let url = v["listening"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    (Reaper(child), url)
}

/// A plain HTTP/1.1 GET over loopback: (status, body). Enough for the JSON API in tests.
pub fn http_get(base: &str, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "chunked responses are not decoded here: {head}"
    );
    (status, resp[split + 4..].to_vec())
}
