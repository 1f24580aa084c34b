//! Inclusion proofs per second: build a tree of N synthetic leaves, then prove and verify
//! every k-th leaf against the full size.
//!
//!   cargo run --release -p trove-proof --example proof_rate -- 1000000
use std::time::Instant;
use trove_proof::Tree;
use trove_proof::merkle::{leaf_hash, verify_inclusion};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let t0 = Instant::now();
    let tree = Tree::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_be_bytes())));
    let build = t0.elapsed().as_secs_f64();
    let root = tree.root(n).expect("root");
    let count = 100_000.min(n);
    let step = (n / count).max(1);
    let t1 = Instant::now();
    let proofs: Vec<(u64, Vec<[u8; 32]>)> = (0..count)
        .map(|k| {
            let i = k * step;
            (i, tree.inclusion_proof(i, n).expect("proof"))
        })
        .collect();
    let prove = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let ok = proofs
        .iter()
        .filter(|(i, p)| verify_inclusion(&leaf_hash(&i.to_be_bytes()), *i, n, p, &root))
        .count();
    let verify = t2.elapsed().as_secs_f64();
    assert_eq!(ok as u64, count, "every proof verifies");
    println!(
        "{n} {build:.3} {count} {:.0} {:.0}",
        count as f64 / prove,
        count as f64 / verify
    );
}
