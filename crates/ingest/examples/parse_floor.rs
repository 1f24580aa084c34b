//! The parsing floor for `bench/run.sh`: how fast mail-parser alone parses the benchmark maildir,
//! with the files already in memory (no hashing, storing, indexing or verification). trove's
//! ingest rate divided by this is the share of the physical limit it reaches.
//!
//!   cargo run --release -p trove-ingest --example parse_floor -- bench/work/maildir
//!
//! Prints one JSON object: messages, bytes, and the best of three runs on one core and on all.

use mail_parser::MessageParser;
use rayon::prelude::*;
use std::time::Instant;

mod common;
use common::files;

/// Parses every message (headers, MIME tree, decoded text bodies), as ingest's parse step does.
fn parse(m: &[u8]) -> usize {
    MessageParser::default()
        .parse(m)
        .map(|msg| {
            (0..msg.text_body_count())
                .filter_map(|i| msg.body_text(i))
                .map(|t| t.len())
                .sum::<usize>()
                + msg.parts.len()
        })
        .unwrap_or(0)
}

fn best_of_three(f: impl Fn() -> usize) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: parse_floor MAILDIR");
    let mut paths = vec![];
    files(std::path::Path::new(&dir), &mut paths).expect("read the maildir");
    let msgs: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("read a message"))
        .collect();
    let bytes: usize = msgs.iter().map(Vec::len).sum();
    let one = best_of_three(|| msgs.iter().map(|m| parse(m)).sum());
    let all = best_of_three(|| msgs.par_iter().map(|m| parse(m)).sum());
    println!(
        "{{\"messages\": {}, \"bytes\": {bytes}, \"threads\": {}, \"one_core_s\": {one:.4}, \"all_cores_s\": {all:.4}, \"one_core_msgs_per_s\": {:.0}, \"all_cores_msgs_per_s\": {:.0}}}",
        msgs.len(),
        rayon::current_num_threads(),
        msgs.len() as f64 / one,
        msgs.len() as f64 / all
    );
}
