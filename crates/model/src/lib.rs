//! Plain data types shared by every trove crate.
//!
//! This crate owns the vocabulary of the archive (items, identities, provenance, outcomes) and the
//! rules that derive stable identifiers from content. It must not do IO.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest. Raw items and attachments are addressed by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hash(pub [u8; 32]);

impl Sha256Hash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// The item id derived from this content hash (see [`ItemId`]).
    pub fn item_id(&self) -> ItemId {
        ItemId::from_raw_sha256(self)
    }
}

impl fmt::Debug for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Hash({})", self.to_hex())
    }
}

impl fmt::Display for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Number of hex digits of the raw SHA-256 that form an item id.
///
/// 96 bits: a collision among even 10^9 items has a probability below 10^-10, while ids stay short
/// enough for permalinks and citations.
pub const ITEM_ID_HEX_LEN: usize = 24;

/// The stable identifier of an item: a prefix of the SHA-256 of its raw bytes.
///
/// Because it depends on the bytes only, the same message gets the same id on every machine and
/// after every re-ingest, so permalinks and citations survive.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct ItemId(pub String);

impl ItemId {
    pub fn from_raw_sha256(h: &Sha256Hash) -> Self {
        Self(h.to_hex()[..ITEM_ID_HEX_LEN].to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an item is. Every kind shares the same fields so one index and one timeline cover all.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An email message (RFC 5322).
    Email,
    /// A direct or chat message.
    Dm,
    /// A public post.
    Post,
}

impl Kind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Dm => "dm",
            Kind::Post => "post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Kind::Email),
            "dm" => Some(Kind::Dm),
            "post" => Some(Kind::Post),
            _ => None,
        }
    }
}

/// The container format an item was read from, recorded in provenance.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    Eml,
    Mboxo,
    Mboxrd,
    Mboxcl,
    Maildir,
}

impl SourceFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceFormat::Eml => "eml",
            SourceFormat::Mboxo => "mboxo",
            SourceFormat::Mboxrd => "mboxrd",
            SourceFormat::Mboxcl => "mboxcl",
            SourceFormat::Maildir => "maildir",
        }
    }
}

/// Where one copy of some raw bytes was found.
///
/// `path` is the input path as given on the command line joined with the path inside it; archive
/// members are written `outer.zip!inner/dir/file` (one `!` per nesting level).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Provenance {
    pub path: String,
    /// Byte offset of the message inside an mbox, if any.
    pub offset: Option<u64>,
    pub format: String,
    /// Maildir flags (the part after `:2,`), or `tmp` for an incomplete delivery.
    pub flags: Option<String>,
}

/// A mailbox as it appears in a header.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
pub struct Mailbox {
    /// The decoded display name, if any.
    pub name: Option<String>,
    /// The address as written; `None` for a display name without an address.
    pub address: Option<String>,
}

impl Mailbox {
    /// Lower-cased address for matching. Local parts are case-sensitive in theory, never in
    /// practice, and leaks mix cases freely.
    pub fn normalized_address(&self) -> Option<String> {
        self.address.as_ref().map(|a| a.trim().to_lowercase())
    }

    /// `Name <addr>` or whichever half exists.
    pub fn display(&self) -> String {
        match (&self.name, &self.address) {
            (Some(n), Some(a)) => format!("{n} <{a}>"),
            (Some(n), None) => n.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => String::new(),
        }
    }
}

/// Which header a mailbox came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressRole {
    From,
    Sender,
    To,
    Cc,
    Bcc,
    ReplyTo,
}

impl AddressRole {
    pub const ALL: [AddressRole; 6] = [
        AddressRole::From,
        AddressRole::Sender,
        AddressRole::To,
        AddressRole::Cc,
        AddressRole::Bcc,
        AddressRole::ReplyTo,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AddressRole::From => "from",
            AddressRole::Sender => "sender",
            AddressRole::To => "to",
            AddressRole::Cc => "cc",
            AddressRole::Bcc => "bcc",
            AddressRole::ReplyTo => "reply-to",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A point in time as a message states it: UTC for ordering, plus what the sender wrote.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
pub struct Timestamp {
    /// Seconds since the Unix epoch, UTC. `None` when the original could not be parsed.
    pub utc: Option<i64>,
    /// The sender's UTC offset in minutes (east positive), when stated.
    pub offset_minutes: Option<i32>,
    /// The original text, verbatim.
    pub raw: Option<String>,
}

/// Metadata of an attachment; its bytes live in the blob store under `sha256`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub sha256: Sha256Hash,
    pub filename: Option<String>,
    pub mime_type: String,
    pub size: u64,
}

impl Serialize for Sha256Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256Hash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// A problem found while reading an item that did not stop it from being archived.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Finding {
    /// A short machine-readable code, e.g. `date_unparseable`.
    pub code: String,
    pub detail: String,
}

impl Finding {
    pub fn new(code: &str, detail: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            detail: detail.into(),
        }
    }
}

/// Everything the catalog records about a parsed email, derived from its raw bytes alone.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, Default)]
pub struct EmailRecord {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub date: Timestamp,
    pub subject: Option<String>,
    pub addresses: Vec<(AddressRole, Mailbox)>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub body_text: String,
    pub attachments: Vec<AttachmentMeta>,
    pub findings: Vec<Finding>,
}

impl EmailRecord {
    pub fn mailboxes(&self, role: AddressRole) -> impl Iterator<Item = &Mailbox> {
        self.addresses
            .iter()
            .filter(move |(r, _)| *r == role)
            .map(|(_, m)| m)
    }
}

/// Formats Unix seconds as RFC 3339 UTC (`2016-10-12T13:46:43Z`) without pulling in a time crate.
pub fn rfc3339_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_id_is_a_prefix_of_the_content_hash() {
        let h = Sha256Hash::of(b"hello");
        assert_eq!(
            h.to_hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(h.item_id().as_str(), "2cf24dba5fb0a30e26e83b2a");
        assert_eq!(Sha256Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Sha256Hash::from_hex("zz"), None);
    }

    #[test]
    fn rfc3339_round_trips_through_civil_days() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_476_280_003), "2016-10-12T13:46:43Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
        for days in [-800_000, -1, 0, 59, 60, 11_016, 17_086, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
