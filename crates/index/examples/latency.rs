//! In-process search latency: `cargo run --release -p trove-index --example latency -- \
//! ARCHIVE/index QUERIES_FILE [ROUNDS]`. Each query (one per line) is parsed, compiled, counted
//! and its top 20 fetched, ROUNDS times; prints p50 and p99 in milliseconds as JSON.
use std::time::{Duration, Instant};
use trove_index::{SearchIndex, SearchOptions, parse};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: latency INDEX_DIR QUERIES_FILE [ROUNDS]".into());
    }
    let index = SearchIndex::open_or_create(std::path::Path::new(&args[1]))?;
    let queries: Vec<String> = std::fs::read_to_string(&args[2])?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let rounds: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(5);
    let opts = SearchOptions::default();
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..rounds {
        for q in &queries {
            let t = Instant::now();
            let compiled = index.compile(&parse(q)?)?;
            let res = index.search(&compiled, &opts)?;
            std::hint::black_box(res);
            times.push(t.elapsed());
        }
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{{\"queries\": {}, \"runs\": {}, \"docs\": {}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}}}",
        queries.len(),
        times.len(),
        index.num_docs(),
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
