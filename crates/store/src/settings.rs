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
        }
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
        }
    }
}
