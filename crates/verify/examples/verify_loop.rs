//! In-process verification throughput, shaped like bench/dkimpy_verify.py: load a key file and
//! every `.eml` of a directory into memory, then time only the verification loop.
//!
//!   cargo run --release -p trove-verify --example verify_loop -- KEYS.zone DIR [REPEAT]
//!
//! REPEAT (default 1) runs the loop that many times and reports the total: for profilers, so
//! that reading the files does not dominate the samples.
use std::time::Instant;
use trove_verify::keys::{self, KeyRing, StoredKey};
use trove_verify::{Options, Verdict, verify};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (key_file, dir, repeat) = match args.as_slice() {
        [_, k, d] => (k, d, 1),
        [_, k, d, r] => (k, d, r.parse::<usize>()?),
        _ => return Err("usage: verify_loop KEYS.zone DIR [REPEAT]".into()),
    };
    let mut ring = KeyRing::default();
    for (i, l) in keys::parse_key_file(&std::fs::read_to_string(key_file)?)
        .0
        .into_iter()
        .enumerate()
    {
        ring.add(
            &l.name,
            StoredKey {
                id: i as i64,
                source: key_file.clone(),
                record: keys::parse_record(&l.value),
            },
        );
    }
    let mut msgs = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "eml") {
            msgs.push(std::fs::read(p)?);
        }
    }
    let opts = Options::now(6 * 3600);
    let start = Instant::now();
    let (mut sigs, mut passes) = (0usize, 0usize);
    for m in std::iter::repeat_n(&msgs, repeat).flatten() {
        let v = verify(m, &ring, &opts);
        sigs += v.signatures.len();
        passes += v
            .signatures
            .iter()
            .filter(|s| matches!(s.verdict, Verdict::Pass | Verdict::PassExpired))
            .count();
    }
    println!(
        "{} {sigs} {passes} {:.3}",
        msgs.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
