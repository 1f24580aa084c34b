//! The reading room in a real browser: headless Chromium driven over WebDriver against
//! `trove serve` on a loopback port. Needs Debian's `chromium` and `chromium-driver` (`.ci/run`
//! installs them); without them this test fails, it never skips.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Reaper, start_server};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A listener that counts every connection: anything the page loads from it is a leak.
fn tripwire() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = s.read(&mut buf);
            let _ = std::io::Write::write_all(
                &mut s,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            );
        }
    });
    (port, hits)
}

fn hostile_mail(port: u16) -> String {
    format!(
        "From: Tracker <news@tracker.example>\r\nTo: reporter@paper.example\r\n\
         Subject: Pixel bait\r\nDate: Tue, 04 Oct 2016 09:00:00 +0000\r\n\
         Message-ID: <pixel-bait@tracker.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <html><head><link rel=\"stylesheet\" href=\"http://127.0.0.1:{port}/style.css\">\
         <style>@import url(http://127.0.0.1:{port}/import.css); body {{ background: url(http://127.0.0.1:{port}/bg.png) }}</style>\
         <script src=\"http://127.0.0.1:{port}/x.js\"></script></head>\
         <body><p>Open rates are up.</p><img src=\"http://127.0.0.1:{port}/pixel.gif\" width=1 height=1>\
         <img srcset=\"http://127.0.0.1:{port}/srcset.png 1x\"><video poster=\"http://127.0.0.1:{port}/poster.png\"></video>\
         <iframe src=\"http://127.0.0.1:{port}/frame\"></iframe>\
         <div style=\"background-image: url('http://127.0.0.1:{port}/div.png')\">styled</div>\
         <object data=\"http://127.0.0.1:{port}/obj\"></object></body></html>\r\n"
    )
}

fn start_driver() -> (Reaper, u16) {
    assert!(
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
        "the browser test needs Debian's chromium and chromium-driver (apt-get install chromium \
         chromium-driver; .ci/run does this)"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Reaper(child), port)
}

async fn browser(driver_port: u16, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", "--disable-sync", "--disable-quic",
                     "--window-size=1280,1000",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .unwrap()
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_searches_reads_follows_the_thread_and_sees_the_timeline() {
    let a = common::demo_archive();
    let (trap_port, hits) = tripwire();
    let bait = a.dir.path().join("bait.eml");
    std::fs::write(&bait, hostile_mail(trap_port)).unwrap();
    a.ingest(&[&bait]);

    let (mut server, base) = start_server(&a.path());
    let (_driver, driver_port) = start_driver();
    let c = browser(driver_port, &a.dir.path().join("chromium-profile")).await;

    // Home, then a search typed into the box.
    c.goto(&format!("{base}/")).await.unwrap();
    assert!(
        text_of(&c, "h1")
            .await
            .contains("searchable and verifiable")
    );
    shot(&c, "01-home").await;
    let q = c.find(Locator::Css("#q")).await.unwrap();
    q.send_keys("podium papers").await.unwrap();
    c.find(Locator::Css(".searchbox button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let summary = text_of(&c, ".summary").await;
    assert!(summary.starts_with("2 results"), "{summary}");
    shot(&c, "02-search").await;

    // Open a result: the badge says what the signature says.
    let mut verdicts = vec![];
    for i in 0..2 {
        let titles = c.find_all(Locator::Css(".hit a.title")).await.unwrap();
        titles[i].clone().click().await.unwrap();
        let badge = text_of(&c, "#dkim-badge").await.to_lowercase();
        let signer = text_of(&c, ".sigs").await;
        assert!(signer.contains("openvault.example"), "{signer}");
        shot(&c, &format!("03-item-{badge}").replace(' ', "-")).await;
        verdicts.push(badge);
        c.back().await.unwrap();
    }
    verdicts.sort();
    assert_eq!(
        verdicts,
        ["body altered", "pass"],
        "the original passes, the edited copy is caught"
    );

    // A DM: open it, then its conversation, in order with sequence numbers.
    c.goto(&format!("{base}/search?q={}", "kind%3Adm%20putintrump"))
        .await
        .unwrap();
    c.find(Locator::Css(".hit a.title"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_of(&c, "#dkim-badge").await;
    c.find(Locator::Css("#thread-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let chat = text_of(&c, "#chat").await;
    assert!(chat.contains("#1") && chat.contains("#7"), "{chat}");
    assert!(chat.find("putintrump").unwrap() < chat.find("Podesta Emails").unwrap());
    shot(&c, "04-conversation").await;

    // An email thread from the list, as a tree.
    c.goto(&format!("{base}/search?q=from%3Aralf&sort=date"))
        .await
        .unwrap();
    c.find(Locator::Css(".hit a.title"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("#thread-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(!text_of(&c, "#tree").await.is_empty());
    shot(&c, "05-thread").await;

    // The timeline and the echoes.
    c.goto(&format!("{base}/timeline?after=2016"))
        .await
        .unwrap();
    let dots = c
        .find_all(Locator::Css("#timeline-chart circle"))
        .await
        .unwrap();
    assert!(dots.len() >= 20, "{} dots", dots.len());
    assert!(text_of(&c, "#timeline-list").await.contains("WikiLeaks"));
    shot(&c, "06-timeline").await;
    c.goto(&format!("{base}/echoes")).await.unwrap();
    assert!(text_of(&c, ".echo").await.contains("later →"));
    shot(&c, "07-echoes").await;

    // Hostile HTML: open the message and its HTML view; nothing may reach the tripwire.
    c.goto(&format!("{base}/search?q=subject%3A%22pixel%20bait%22"))
        .await
        .unwrap();
    c.find(Locator::Css(".hit a.title"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css(".html-view summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let frame = c.find(Locator::Css("#html-frame")).await.unwrap();
    assert!(frame.attr("sandbox").await.unwrap().is_some());
    let src = frame.attr("src").await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    shot(&c, "08-hostile-html").await;
    c.goto(&format!("{base}{src}")).await.unwrap();
    assert!(text_of(&c, "body").await.contains("Open rates are up."));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the page loaded remote content"
    );
    // The tripwire works: a deliberate visit is counted.
    c.goto(&format!("http://127.0.0.1:{trap_port}/control"))
        .await
        .unwrap();
    let start = Instant::now();
    while hits.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        hits.load(Ordering::SeqCst) >= 1,
        "the tripwire never fires; the check above means nothing"
    );

    c.close().await.unwrap();

    // Graceful shutdown on SIGTERM: exit code 0.
    let pid = server.0.id() as i32;
    // SAFETY-free: kill(2) through the libc crate's safe wrapper is not available; use the CLI.
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            assert!(s.success(), "serve exited with {s} on SIGTERM");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
