//! Running an extractor under a deadline and a memory limit.
//!
//! With a helper registered ([`set_helper`], done by the `trove` binary), each extraction is a
//! child process, `trove __extract KIND`, that reads the document on stdin, limits its own
//! address space ([`helper_main`]) and writes text on stdout; the parent kills it at the
//! deadline. A crash, an allocation past the limit or a hang is then one failed extraction.
//! Without a helper, the extractor runs on its own thread behind `catch_unwind`; at the deadline
//! the thread is abandoned (it cannot be killed) and the extraction reported as timed out.

use crate::{Kind, Options, formats};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Registers the executable that answers `__extract` (the `trove` binary itself).
pub fn set_helper(exe: PathBuf) {
    let _ = HELPER.set(exe);
}

pub fn run(kind: Kind, bytes: &[u8], opts: &Options) -> Result<String, String> {
    match HELPER.get() {
        Some(exe) => in_child(exe, kind, bytes, opts),
        None => in_thread(kind, bytes, opts),
    }
}

fn in_thread(kind: Kind, bytes: &[u8], opts: &Options) -> Result<String, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let data = bytes.to_vec();
    let (max_text, max_member) = (opts.max_text_bytes, opts.max_input_bytes);
    std::thread::Builder::new()
        .name("extract".into())
        .spawn(move || {
            let r =
                std::panic::catch_unwind(|| formats::extract(kind, &data, max_text, max_member));
            let _ = tx.send(
                r.unwrap_or_else(|_| Err(format!("the {} extractor crashed", kind.as_str()))),
            );
        })
        .map_err(|e| format!("no thread for the extractor: {e}"))?;
    rx.recv_timeout(opts.timeout).unwrap_or_else(|_| {
        Err(format!(
            "timed out after {} s (extract.timeout_seconds)",
            opts.timeout.as_secs()
        ))
    })
}

/// What a child process left: its exit status (`None` when it was killed at the deadline), the
/// start of its stdout and of its stderr.
pub(crate) struct ChildRun {
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Reads `r` to the end, keeping the first `cap` bytes: a child must never block on a full pipe.
fn drain(mut r: impl Read, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

/// Runs `cmd` until it exits or `timeout` passes (then kills it), feeding `input` on stdin;
/// stdin, stdout and stderr are served on threads.
pub(crate) fn run_child(
    mut cmd: Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
    out_cap: usize,
) -> Result<ChildRun, String> {
    let name = cmd.get_program().to_string_lossy().to_string();
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name} not started: {e}"))?;
    let feeder = match (input, child.stdin.take()) {
        (Some(data), Some(mut stdin)) => Some(std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })),
        _ => None,
    };
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let out_reader = std::thread::spawn(move || drain(stdout, out_cap));
    let err_reader = std::thread::spawn(move || drain(stderr, 4096));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("{name} lost: {e}")),
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Ok(ChildRun {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned(),
    })
}

fn in_child(exe: &PathBuf, kind: Kind, bytes: &[u8], opts: &Options) -> Result<String, String> {
    let mut cmd = Command::new(exe);
    cmd.args([
        "__extract",
        kind.as_str(),
        &opts.max_text_bytes.to_string(),
        &opts.max_input_bytes.to_string(),
        &opts.memory_limit_bytes.to_string(),
    ])
    // Its failures become findings; a backtrace would only bury the reason.
    .env("RUST_BACKTRACE", "0");
    let run = run_child(
        cmd,
        Some(bytes.to_vec()),
        opts.timeout,
        opts.max_text_bytes + 1024,
    )
    .map_err(|e| format!("extractor process: {e}"))?;
    let (status, out, err) = (run.status, run.stdout, run.stderr);
    match status {
        None => Err(format!(
            "timed out after {} s (extract.timeout_seconds); the extractor was stopped",
            opts.timeout.as_secs()
        )),
        Some(s) if s.success() => {
            let mut text = String::from_utf8_lossy(&out).into_owned();
            formats::truncate(&mut text, opts.max_text_bytes);
            Ok(text)
        }
        Some(s) => {
            let why = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            Err(match (s.code(), why.is_empty()) {
                // Rust reports a failed allocation on stderr, then aborts.
                _ if err.contains("memory allocation of") => format!(
                    "the {} extractor went past its memory limit (extract.memory_limit_bytes)",
                    kind.as_str()
                ),
                (Some(1), false) => why,
                (Some(101), _) | (Some(2), _) => format!("the {} extractor crashed", kind.as_str()),
                (code, _) => format!(
                    "the {} extractor failed ({}){}",
                    kind.as_str(),
                    code.map(|c| format!("exit {c}"))
                        .unwrap_or_else(|| "killed by a signal".into()),
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {why}")
                    }
                ),
            })
        }
    }
}

/// The child side: `trove __extract KIND MAX_TEXT MAX_MEMBER MEMORY_LIMIT`. Returns the exit code:
/// 0 with text on stdout, 1 with the reason on stderr, 2 if the extractor panicked.
pub fn helper_main(args: &[String]) -> i32 {
    let (Some(kind), Some(max_text), Some(max_member), Some(mem)) = (
        args.first().and_then(|k| Kind::parse(k)),
        args.get(1).and_then(|v| v.parse::<usize>().ok()),
        args.get(2).and_then(|v| v.parse::<u64>().ok()),
        args.get(3).and_then(|v| v.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: trove __extract KIND MAX_TEXT MAX_MEMBER MEMORY_LIMIT");
        return 1;
    };
    limit_address_space(mem);
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin()
        .take(max_member + 1)
        .read_to_end(&mut input)
    {
        eprintln!("input not read: {e}");
        return 1;
    }
    // A panic message on stderr would only repeat what the exit code says.
    std::panic::set_hook(Box::new(|_| {}));
    match std::panic::catch_unwind(|| formats::extract(kind, &input, max_text, max_member)) {
        Ok(Ok(text)) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(text.as_bytes()).is_err() {
                return 1;
            }
            0
        }
        Ok(Err(e)) => {
            eprintln!("{e}");
            1
        }
        Err(_) => 2,
    }
}

/// `RLIMIT_AS` for this process: past it, allocations fail and the process aborts, which the
/// parent reports as the extractor going past its memory limit.
#[allow(unsafe_code)]
fn limit_address_space(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads a valid, initialised struct; it has no other effect on memory.
    unsafe {
        libc::setrlimit(libc::RLIMIT_AS, &lim);
    }
}
