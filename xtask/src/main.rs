//! `cargo xtask fuzz [--seconds N] [--ci] [TARGET...]`: every fuzz target (or the ones named) for
//! N seconds each (default 600), through `fuzz/run.sh`, which seeds the corpora, builds with
//! cargo-fuzz on the nightly toolchain and appends the figures to `fuzz/RESULTS.md`. `--ci` is the
//! short CI mode: nothing is appended and a crash fails the command.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask fuzz [--seconds N] [--ci] [TARGET...]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("fuzz") => fuzz(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn fuzz(args: &[String]) -> ExitCode {
    let mut seconds = "600".to_string();
    let mut ci = false;
    let mut targets = vec![];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => match it.next().filter(|s| s.parse::<u64>().is_ok()) {
                Some(s) => seconds = s.clone(),
                None => {
                    eprintln!("--seconds needs a number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--ci" => ci = true,
            t if t.starts_with('-') => {
                eprintln!("unknown option {t}\n{USAGE}");
                return ExitCode::from(2);
            }
            t => targets.push(t.to_string()),
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new("bash")
        .arg(root.join("fuzz/run.sh"))
        .args(&targets)
        .env("SECONDS_PER_TARGET", &seconds)
        .env("FUZZ_CI", if ci { "1" } else { "0" })
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("could not run fuzz/run.sh: {e}");
            ExitCode::FAILURE
        }
    }
}
