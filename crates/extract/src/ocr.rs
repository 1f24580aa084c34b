//! OCR with the `tesseract` command (Debian `tesseract-ocr`), out of process, one page at a
//! time under the extraction deadline. Scanned PDFs are rendered to images with `pdftoppm`
//! (Debian `poppler-utils`) first.

use crate::Options;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Pages of one PDF read by OCR at most.
const MAX_PDF_PAGES: u32 = 50;

/// Whether `tesseract` runs here (checked once).
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        Command::new("tesseract")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

pub fn image(bytes: &[u8], opts: &Options) -> Result<String, String> {
    if !available() {
        return Err("OCR is on but tesseract is not installed (Debian: tesseract-ocr)".into());
    }
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let path = dir.path().join("image");
    std::fs::write(&path, bytes).map_err(|e| format!("image not written for OCR: {e}"))?;
    run_tesseract(&path, opts)
}

fn run_tesseract(path: &std::path::Path, opts: &Options) -> Result<String, String> {
    let langs = if opts.ocr_languages.is_empty() {
        "eng".to_string()
    } else {
        opts.ocr_languages.join("+")
    };
    let mut cmd = Command::new("tesseract");
    cmd.arg(path).arg("stdout").args(["-l", &langs]);
    // One thread per tesseract: ingest already runs extractions in parallel.
    cmd.env("OMP_THREAD_LIMIT", "1");
    let out = run_with_deadline(cmd, opts.timeout)?;
    Ok(out)
}

fn run_with_deadline(cmd: Command, timeout: Duration) -> Result<String, String> {
    let name = cmd.get_program().to_string_lossy().to_string();
    let run = crate::bounded::run_child(cmd, None, timeout, 8 << 20)?;
    match run.status {
        None => Err(format!("{name} timed out after {} s", timeout.as_secs())),
        Some(s) if s.success() => Ok(String::from_utf8_lossy(&run.stdout).into_owned()),
        Some(_) => Err(format!(
            "{name} failed: {}",
            run.stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
                .trim()
        )),
    }
}

/// OCR of a PDF's pages (a scan without a text layer).
pub fn pdf(bytes: &[u8], opts: &Options) -> Result<String, String> {
    if !available() {
        return Err("OCR is on but tesseract is not installed (Debian: tesseract-ocr)".into());
    }
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let pdf = dir.path().join("doc.pdf");
    std::fs::write(&pdf, bytes).map_err(|e| format!("PDF not written for OCR: {e}"))?;
    let mut cmd = Command::new("pdftoppm");
    cmd.args(["-r", "200", "-png", "-l", &MAX_PDF_PAGES.to_string()])
        .arg(&pdf)
        .arg(dir.path().join("page"));
    run_with_deadline(cmd, opts.timeout).map_err(|e| {
        if e.contains("not started") {
            "pdftoppm (Debian poppler-utils) is needed to OCR a scanned PDF".to_string()
        } else {
            e
        }
    })?;
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    pages.sort();
    let mut text = String::new();
    for p in pages {
        text.push_str(&run_tesseract(&p, opts)?);
        text.push('\n');
    }
    Ok(text)
}
