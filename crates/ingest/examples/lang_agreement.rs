//! How often the English fast path (`analysis::plainly_english`) decides, and how often it agrees
//! with whatlang, on a maildir: the figures behind the fast path, in bench/results.md.
//!
//!   cargo run --release -p trove-ingest --example lang_agreement -- bench/work/maildir
//!
//! Prints one JSON object, and the first disagreements on stderr.

use std::time::Instant;
use trove_index::analysis::{plainly_english, whatlang_language};

mod common;
use common::files;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: lang_agreement MAILDIR");
    let mut paths = vec![];
    files(std::path::Path::new(&dir), &mut paths).expect("read the maildir");
    paths.sort();
    let limits = trove_store::Limits::default();
    let (mut messages, mut decided, mut unsure, mut disagree) = (0u64, 0u64, 0u64, 0u64);
    let (mut fast_s, mut slow_s) = (0f64, 0f64);
    for p in &paths {
        let raw = std::fs::read(p).expect("read a message");
        let Ok(parsed) = trove_ingest::parse_email(&raw, true, raw.len() as u64, &limits) else {
            continue;
        };
        let id = trove_model::Sha256Hash::of(&raw).item_id();
        let doc = trove_ingest::indexing::item_doc(&id, &parsed.record, &[]);
        let sample: String = doc.language_sample().chars().take(400).collect();
        messages += 1;
        let t = Instant::now();
        let fast = plainly_english(&sample);
        fast_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let slow = whatlang_language(&sample);
        slow_s += t.elapsed().as_secs_f64();
        if fast {
            decided += 1;
            if slow.is_none() {
                unsure += 1;
            } else if slow.as_deref() != Some("en") {
                disagree += 1;
                if disagree <= 10 {
                    eprintln!("{}: whatlang says {slow:?}\n  {sample:?}", p.display());
                }
            }
        }
    }
    println!(
        "{{\"messages\": {messages}, \"decided_by_fast_path\": {decided}, \"whatlang_unsure\": {unsure}, \"whatlang_says_another_language\": {disagree}, \"fast_path_us\": {:.2}, \"whatlang_us\": {:.2}}}",
        fast_s * 1e6 / messages.max(1) as f64,
        slow_s * 1e6 / messages.max(1) as f64
    );
}
