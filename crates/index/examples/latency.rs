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
    let mut worst: Vec<(Duration, &str)> = queries
        .iter()
        .map(|q| (Duration::ZERO, q.as_str()))
        .collect();
    for _ in 0..rounds {
        for (q, w) in queries.iter().zip(worst.iter_mut()) {
            let t = Instant::now();
            let compiled = index.compile(&parse(q)?)?;
            let res = index.search(&compiled, &opts)?;
            std::hint::black_box(res);
            let took = t.elapsed();
            w.0 = w.0.max(took);
            times.push(took);
        }
    }
    times.sort();
    // The slowest queries, so a p99 can be traced to its cause.
    worst.sort_by_key(|w| std::cmp::Reverse(w.0));
    let slowest: Vec<String> = worst
        .iter()
        .take(3)
        .map(|(d, q)| {
            format!(
                "{{\"query\": {q:?}, \"max_ms\": {:.3}}}",
                d.as_secs_f64() * 1e3
            )
        })
        .collect();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{{\"queries\": {}, \"runs\": {}, \"docs\": {}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"slowest\": [{}]}}",
        queries.len(),
        times.len(),
        index.num_docs(),
        pct(0.5),
        pct(0.99),
        slowest.join(", ")
    );
    Ok(())
}
