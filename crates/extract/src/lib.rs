//! Text out of attachments, for the `attachment:` search field and `trove show`.
//!
//! [`classify`] decides by content what an attachment is; [`extract`] gets its text. Text and
//! HTML are read in process. PDF, Office, OpenDocument and zip extractors run in a helper process
//! (`trove __extract`) with a memory limit and a deadline, so a hostile document can cost one
//! finding, never the ingest; without a helper (library tests) they run on a thread with the same
//! deadline and a panic guard. Images, and PDFs without a text layer, are read by tesseract when
//! OCR is on.

pub mod bounded;
pub mod formats;
pub mod ocr;

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Docx,
    Pptx,
    Xlsx,
    Odt,
    Ods,
    Zip,
    Html,
    Text,
    Image,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pdf => "pdf",
            Kind::Docx => "docx",
            Kind::Pptx => "pptx",
            Kind::Xlsx => "xlsx",
            Kind::Odt => "odt",
            Kind::Ods => "ods",
            Kind::Zip => "zip",
            Kind::Html => "html",
            Kind::Text => "text",
            Kind::Image => "image",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Pdf,
            Kind::Docx,
            Kind::Pptx,
            Kind::Xlsx,
            Kind::Odt,
            Kind::Ods,
            Kind::Zip,
            Kind::Html,
            Kind::Text,
            Kind::Image,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What an attachment is, by its bytes first, then its declared type and name.
pub fn classify(bytes: &[u8], mime: &str, filename: Option<&str>) -> Option<Kind> {
    let mime = mime.to_ascii_lowercase();
    let ext = filename
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if bytes.starts_with(b"%PDF-") {
        return Some(Kind::Pdf);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(b"\xff\xd8\xff")
        || bytes.starts_with(b"GIF8")
        || bytes.starts_with(b"II*\0")
        || bytes.starts_with(b"MM\0*")
        || bytes.starts_with(b"BM")
    {
        return Some(Kind::Image);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(zip_kind(bytes));
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    if mime.starts_with("text/html")
        || ["htm", "html"].contains(&ext.as_str())
        || head.starts_with("<!doctype html")
        || head.starts_with("<html")
    {
        return Some(Kind::Html);
    }
    let textual_ext = [
        "txt", "csv", "tsv", "md", "log", "patch", "diff", "json", "xml", "eml", "ics", "vcf",
    ];
    let binary = bytes.iter().take(8192).any(|&b| b == 0);
    if !binary && (mime.starts_with("text/") || textual_ext.contains(&ext.as_str())) {
        return Some(Kind::Text);
    }
    None
}

fn zip_kind(bytes: &[u8]) -> Kind {
    let Ok(mut z) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return Kind::Zip;
    };
    let has = |z: &zip::ZipArchive<_>, n: &str| z.file_names().any(|x| x == n);
    if has(&z, "word/document.xml") {
        return Kind::Docx;
    }
    if has(&z, "xl/workbook.xml") {
        return Kind::Xlsx;
    }
    if has(&z, "ppt/presentation.xml") {
        return Kind::Pptx;
    }
    if let Ok(mut f) = z.by_name("mimetype") {
        let mut m = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::Read::take(&mut f, 128), &mut m);
        if m.trim() == "application/vnd.oasis.opendocument.text" {
            return Kind::Odt;
        }
        if m.trim() == "application/vnd.oasis.opendocument.spreadsheet" {
            return Kind::Ods;
        }
    }
    Kind::Zip
}

/// Bounds and switches for extraction (`[extract]` in `trove.toml`).
#[derive(Clone, Debug)]
pub struct Options {
    pub ocr: bool,
    /// tesseract language codes, e.g. `eng`, `fra`.
    pub ocr_languages: Vec<String>,
    /// Deadline for one extraction (and for one OCR'd page).
    pub timeout: Duration,
    /// Attachments larger than this are not extracted.
    pub max_input_bytes: u64,
    /// Text kept per attachment.
    pub max_text_bytes: usize,
    /// Address-space limit of the helper process.
    pub memory_limit_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ocr: false,
            ocr_languages: vec!["eng".into()],
            timeout: Duration::from_secs(30),
            max_input_bytes: 64 << 20,
            max_text_bytes: 1 << 20,
            memory_limit_bytes: 1 << 30,
        }
    }
}

/// The text of one attachment, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// `pdf`, `docx`, `ocr`...
    pub extractor: String,
    pub text: String,
    /// Set when extraction failed or was partial; the item gets it as a finding.
    pub problem: Option<String>,
}

impl Extracted {
    fn ok(kind: &str, text: String) -> Self {
        Self {
            extractor: kind.into(),
            text,
            problem: None,
        }
    }

    fn failed(kind: &str, problem: String) -> Self {
        Self {
            extractor: kind.into(),
            text: String::new(),
            problem: Some(problem),
        }
    }
}

/// Extracts the text of an attachment. `None` when it is nothing trove reads text from (an
/// unknown binary, or an image with OCR off).
pub fn extract(
    bytes: &[u8],
    mime: &str,
    filename: Option<&str>,
    opts: &Options,
) -> Option<Extracted> {
    let kind = classify(bytes, mime, filename)?;
    if bytes.len() as u64 > opts.max_input_bytes {
        return Some(Extracted::failed(
            kind.as_str(),
            format!(
                "not extracted: {} bytes is over extract.max_input_bytes ({})",
                bytes.len(),
                opts.max_input_bytes
            ),
        ));
    }
    let charset = mime.split(';').skip(1).find_map(|p| {
        p.trim()
            .strip_prefix("charset=")
            .map(|c| c.trim_matches('"').to_string())
    });
    let out = match kind {
        Kind::Text => {
            let mut t = formats::text(bytes, charset.as_deref());
            formats::truncate(&mut t, opts.max_text_bytes);
            Extracted::ok("text", t)
        }
        Kind::Html => {
            let mut t = formats::html(bytes);
            formats::truncate(&mut t, opts.max_text_bytes);
            Extracted::ok("html", t)
        }
        Kind::Image => {
            if !opts.ocr {
                return None;
            }
            match ocr::image(bytes, opts) {
                Ok(t) => Extracted::ok("ocr", t),
                Err(e) => Extracted::failed("ocr", e),
            }
        }
        _ => match bounded::run(kind, bytes, opts) {
            Ok(t) if kind == Kind::Pdf && opts.ocr && t.split_whitespace().count() < 3 => {
                // A PDF without a text layer (a scan): its pages go to OCR.
                match ocr::pdf(bytes, opts) {
                    Ok(o) => Extracted::ok("pdf+ocr", o),
                    Err(e) => Extracted {
                        extractor: "pdf".into(),
                        text: t,
                        problem: Some(format!("no text layer, and OCR failed: {e}")),
                    },
                }
            }
            Ok(t) => Extracted::ok(kind.as_str(), t),
            Err(e) => Extracted::failed(kind.as_str(), e),
        },
    };
    Some(out)
}
