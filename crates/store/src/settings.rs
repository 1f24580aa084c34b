//! `trove.toml`: the archive's format version, name and limits.
//!
//! Every limit that protects ingest from hostile input has a default here and can be changed per
//! archive. Unknown keys are rejected so a typo in a limit never silently falls back to a default.

use serde::{Deserialize, Serialize};

/// The on-disk format this build writes and reads. Bump it on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub format_version: u32,
    /// A human name for the archive, shown in the UI and used as the checkpoint origin later.
    pub name: String,
    /// Set on archives built by `trove demo`, so the demo may rebuild them without asking.
    #[serde(default)]
    pub demo: bool,
    #[serde(default)]
    pub limits: Limits,
    /// fsync blobs before each catalog commit. Costs a little speed, protects against power loss.
    #[serde(default = "yes")]
    pub durable: bool,
    #[serde(default)]
    pub verify: VerifySettings,
    #[serde(default)]
    pub extract: ExtractSettings,
}

/// Text extraction from attachments, and OCR.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractSettings {
    /// OCR images and scanned PDFs with tesseract (also `trove ingest --ocr`). Off by default:
    /// it is slow, and needs `tesseract-ocr` installed.
    pub ocr: bool,
    /// tesseract languages (`eng`, `fra`, `deu`...; each needs its `tesseract-ocr-*` package).
    pub ocr_languages: Vec<String>,
    /// Deadline for one attachment's extraction (and for one OCR'd page).
    pub timeout_seconds: u64,
    /// Attachments larger than this are not extracted (a finding says so).
    pub max_input_bytes: u64,
    /// Text kept per attachment.
    pub max_text_bytes: u64,
    /// Address-space limit of the extractor process.
    pub memory_limit_bytes: u64,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            ocr: false,
            ocr_languages: vec!["eng".into()],
            timeout_seconds: 30,
            max_input_bytes: 64 * MIB,
            max_text_bytes: MIB,
            memory_limit_bytes: 1024 * MIB,
        }
    }
}

/// DKIM verification and header forensics.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VerifySettings {
    /// Date header vs. Received hops and DKIM `t=`: differences beyond this are flagged.
    pub date_tolerance_minutes: u32,
}

impl Default for VerifySettings {
    fn default() -> Self {
        Self {
            date_tolerance_minutes: 6 * 60,
        }
    }
}

fn yes() -> bool {
    true
}

/// Bounds on untrusted input. Hitting one gives a quarantine record or a skipped file with a
/// reason that names the limit and its `trove.toml` key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A message larger than this is stored verbatim but only its header block is parsed.
    pub max_parse_bytes: u64,
    /// Units up to this size are held in memory; larger ones are spilled to a temporary file.
    pub max_in_memory_bytes: u64,
    /// Largest decompressed size of one archive member.
    pub max_member_bytes: u64,
    /// Largest total decompressed size of one archive (all members, all nesting levels).
    pub max_archive_total_bytes: u64,
    /// Largest decompressed/compressed ratio of an archive member, checked once it passes 1 MiB.
    pub max_compression_ratio: u64,
    /// Archives nested deeper than this are skipped.
    pub max_archive_depth: u32,
    /// More attachments than this on one message: the rest are not extracted (but stay in raw).
    pub max_attachments: u32,
    /// More MIME parts than this: the message is archived, its parts are not extracted.
    pub max_mime_parts: u32,
    /// Header blocks larger than this are quarantined as "not a message".
    pub max_header_bytes: u64,
    /// MIME multiparts nested deeper than this: the message is archived, its parts are not
    /// extracted.
    pub max_mime_depth: u32,
    /// JSON (X and Telegram exports, JSON Lines) nested deeper than this is not parsed: the
    /// records before it are kept and the rest is quarantined. At most 128, serde_json's own
    /// recursion limit.
    pub max_json_depth: u32,
    /// Longer search queries are refused before parsing (CLI and web).
    pub max_query_chars: u32,
    /// A search that runs longer is abandoned (web: 503; CLI: exit 1); the CLI's `--timeout-ms`
    /// overrides it for one run.
    pub query_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self {
            max_parse_bytes: 64 * MIB,
            max_in_memory_bytes: 64 * MIB,
            max_member_bytes: 4096 * MIB,
            max_archive_total_bytes: 64 * 1024 * MIB,
            max_compression_ratio: 200,
            max_archive_depth: 8,
            max_attachments: 1000,
            max_mime_parts: 5000,
            max_header_bytes: 4 * MIB,
            max_mime_depth: 64,
            max_json_depth: 64,
            max_query_chars: 1_000,
            query_timeout_ms: 5_000,
        }
    }
}

/// serde_json refuses deeper documents whatever the setting says.
pub const JSON_DEPTH_CEILING: u32 = 128;

impl Limits {
    /// Settings that cannot work, named by their `trove.toml` key.
    pub fn check(&self) -> Result<(), String> {
        if self.max_json_depth == 0 || self.max_json_depth > JSON_DEPTH_CEILING {
            return Err(format!(
                "limits.max_json_depth must be between 1 and {JSON_DEPTH_CEILING} (it is {})",
                self.max_json_depth
            ));
        }
        for (key, v) in [
            ("limits.max_mime_depth", self.max_mime_depth as u64),
            ("limits.max_query_chars", self.max_query_chars as u64),
            ("limits.query_timeout_ms", self.query_timeout_ms),
            ("limits.max_header_bytes", self.max_header_bytes),
        ] {
            if v == 0 {
                return Err(format!("{key} must be greater than 0"));
            }
        }
        Ok(())
    }
}

impl Settings {
    pub fn new(name: &str) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            name: name.to_string(),
            demo: false,
            limits: Limits::default(),
            durable: true,
            verify: VerifySettings::default(),
            extract: ExtractSettings::default(),
        }
    }
}
