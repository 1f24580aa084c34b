//! Archival DKIM and ARC verification.
//!
//! Stock verifiers answer "is this mail acceptable now?". An archive asks "were these bytes
//! signed by that domain, and what changed since?", so this crate:
//! - checks integrity *before* expiry, and reports a valid signature past its `x=` as
//!   `pass_expired` with the time it expired (mail-auth 0.13 stops at "expired");
//! - measures key size before trusting the maths, so a 512-bit key is `weak_key`, not a forgery;
//! - evaluates `l=` signatures and counts the unsigned body bytes;
//! - never resolves DNS: keys come from a [`KeyRing`] filled from the archive's key store.
//!
//! mail-auth does the parsing of signatures and headers and the header canonicalisation; the
//! decision logic, the body canonicalisation for `l=` and the public-key checks are ours because
//! the library's order of checks is the thing we must not inherit.

mod arc;
mod canon;
mod dkim;
pub mod forensics;
mod ifma;
#[doc(hidden)]
pub use ifma::agrees_with_gmp;
pub mod keys;
mod message;
pub mod recover;

pub use keys::{KeyRing, StoredKey};

use serde::{Deserialize, Serialize};

/// The verdict on one signature, and (the best of them) on an item.
///
/// The order is from most to least trustworthy: an item's verdict is the smallest of its
/// signatures' verdicts, so a passing signature wins and, failing that, the most informative
/// failure is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    PassExpired,
    PartialBody,
    WeakKey,
    HeadersAltered,
    BodyAltered,
    KeyRevoked,
    KeyNotFound,
    Unsupported,
    Malformed,
    Unsigned,
}

impl Verdict {
    pub const ALL: [Verdict; 11] = [
        Verdict::Pass,
        Verdict::PassExpired,
        Verdict::PartialBody,
        Verdict::WeakKey,
        Verdict::HeadersAltered,
        Verdict::BodyAltered,
        Verdict::KeyRevoked,
        Verdict::KeyNotFound,
        Verdict::Unsupported,
        Verdict::Malformed,
        Verdict::Unsigned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::PassExpired => "pass_expired",
            Verdict::PartialBody => "partial_body",
            Verdict::WeakKey => "weak_key",
            Verdict::HeadersAltered => "headers_altered",
            Verdict::BodyAltered => "body_altered",
            Verdict::KeyRevoked => "key_revoked",
            Verdict::KeyNotFound => "key_not_found",
            Verdict::Unsupported => "unsupported",
            Verdict::Malformed => "malformed",
            Verdict::Unsigned => "unsigned",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The signed content is intact and the maths checks out with an adequate key.
    pub fn vouches(self) -> bool {
        matches!(
            self,
            Verdict::Pass | Verdict::PassExpired | Verdict::PartialBody
        )
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result for one DKIM-Signature (or ARC-Message-Signature / ARC-Seal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureResult {
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    pub verdict: Verdict,
    /// Where the key came from (a key file's path, or `recovered`); null without a key.
    pub key_source: Option<String>,
    pub key_bits: Option<u32>,
    /// The `h=` list, in order.
    pub signed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsigned_body_bytes: Option<u64>,
    /// `t=`, when the signer says it signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<String>,
    /// Does the body match `bh=`? Null when the signature could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_ok: Option<bool>,
    /// Does the signature verify over the signed headers with the key? Null without a usable key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maths_ok: Option<bool>,
    /// Why, for every verdict but `pass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One ARC set (RFC 8617): the message signature and the seal of instance `i`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArcSetResult {
    pub instance: u32,
    pub cv: String,
    pub message_signature: SignatureResult,
    pub seal: SignatureResult,
}

/// The ARC chain of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArcResult {
    /// `pass`, `fail`, `key_not_found` or `malformed`.
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub sets: Vec<ArcSetResult>,
}

/// Everything verification says about one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub verdict: Verdict,
    pub signatures: Vec<SignatureResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arc: Option<ArcResult>,
    /// Advisory header forensics.
    #[serde(default)]
    pub forensics: Vec<forensics::Flag>,
}

impl Verification {
    /// `signature_key_names` of every signature and seal (for re-verification on key import).
    pub fn key_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .signatures
            .iter()
            .chain(
                self.arc
                    .iter()
                    .flat_map(|a| a.sets.iter())
                    .flat_map(|s| [&s.message_signature, &s.seal]),
            )
            .filter(|s| !s.selector.is_empty() && !s.domain.is_empty())
            .map(|s| {
                format!(
                    "{}._domainkey.{}",
                    s.selector.to_ascii_lowercase(),
                    s.domain.to_ascii_lowercase()
                )
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Settings that change verdicts or flags.
#[derive(Clone, Debug)]
pub struct Options {
    /// "Now", in Unix seconds: the moment `x=` is compared with.
    pub now: i64,
    /// Date vs. Received / `t=` differences beyond this are flagged.
    pub date_tolerance_secs: i64,
}

impl Options {
    pub fn now(date_tolerance_secs: i64) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Options {
            now,
            date_tolerance_secs,
        }
    }
}

/// Verifies every DKIM signature and the ARC chain of a raw message, and runs the forensics.
pub fn verify(raw: &[u8], keys: &KeyRing, opts: &Options) -> Verification {
    // Signers hash CRLF lines; archives often store LF. The header block is converted here; the
    // body is canonicalised as stored (message.rs).
    message::with_message(raw, |msg| {
        let Some(msg) = msg else {
            return Verification {
                verdict: Verdict::Unsigned,
                signatures: vec![],
                arc: None,
                forensics: vec![],
            };
        };
        let signatures = dkim::check_all(msg, keys, opts);
        let arc = arc::check_chain(msg, keys, opts);
        let verdict = signatures
            .iter()
            .map(|s| s.verdict)
            .min()
            .unwrap_or(Verdict::Unsigned);
        let forensics = forensics::flags(msg, &signatures, opts);
        Verification {
            verdict,
            signatures,
            arc,
            forensics,
        }
    })
}

/// Unix seconds → RFC 3339 (UTC).
pub(crate) fn rfc3339(secs: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}
