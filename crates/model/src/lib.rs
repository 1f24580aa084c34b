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
    /// A `messageCreate` (or event) record of an X/Twitter `direct-messages.js`.
    XDm,
    /// A record of an X/Twitter `direct-messages-group.js`.
    XDmGroup,
    /// A record of an X/Twitter `tweets.js` (or the older `tweet.js`).
    XTweet,
    /// A record of an X/Twitter `account.js`: identity evidence, not a message.
    XAccount,
    /// A message of a Telegram Desktop `result.json`.
    Telegram,
    /// A message of a WhatsApp "Export chat" text file.
    Whatsapp,
    /// A line of trove's generic JSON Lines format (`docs/jsonl-format.md`).
    Jsonl,
    /// A message rebuilt from an Outlook PST/OST store.
    Pst,
    /// A message rebuilt from an Outlook .msg file.
    Msg,
    /// An Apple Mail `.emlx` (or a rebuilt `.partial.emlx`).
    Emlx,
}

impl SourceFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceFormat::Eml => "eml",
            SourceFormat::Mboxo => "mboxo",
            SourceFormat::Mboxrd => "mboxrd",
            SourceFormat::Mboxcl => "mboxcl",
            SourceFormat::Maildir => "maildir",
            SourceFormat::XDm => "x-dm",
            SourceFormat::XDmGroup => "x-dm-group",
            SourceFormat::XTweet => "x-tweet",
            SourceFormat::XAccount => "x-account",
            SourceFormat::Telegram => "telegram",
            SourceFormat::Whatsapp => "whatsapp",
            SourceFormat::Jsonl => "jsonl",
            SourceFormat::Pst => "pst",
            SourceFormat::Msg => "msg",
            SourceFormat::Emlx => "emlx",
        }
    }

    pub const ALL: [SourceFormat; 15] = [
        SourceFormat::Eml,
        SourceFormat::Mboxo,
        SourceFormat::Mboxrd,
        SourceFormat::Mboxcl,
        SourceFormat::Maildir,
        SourceFormat::XDm,
        SourceFormat::XDmGroup,
        SourceFormat::XTweet,
        SourceFormat::XAccount,
        SourceFormat::Telegram,
        SourceFormat::Whatsapp,
        SourceFormat::Jsonl,
        SourceFormat::Pst,
        SourceFormat::Msg,
        SourceFormat::Emlx,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Email container formats (the unit is an RFC 5322 message).
    pub fn is_email(&self) -> bool {
        matches!(
            self,
            SourceFormat::Eml
                | SourceFormat::Mboxo
                | SourceFormat::Mboxrd
                | SourceFormat::Mboxcl
                | SourceFormat::Maildir
                | SourceFormat::Pst
                | SourceFormat::Msg
                | SourceFormat::Emlx
        )
    }
}

/// What a reader knew about a record from its container, beyond the record's own bytes: the
/// conversation a DM sits in, the owner of the export, the JSON path of the record. Stored with the
/// provenance (it is a fact about where the bytes were found) and used, with the raw bytes, to
/// derive the item again.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
pub struct SourceContext {
    /// Where the record sits inside its file, e.g. `$[3].dmConversation.messages[17]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// The container's conversation id (X conversationId, Telegram chat id, ...), unprefixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_name: Option<String>,
    /// `personal_chat`, `private_group`, `one_to_one`, `group`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    /// The export owner's identities (from X `account.js`, Telegram personal information).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Everyone who speaks in the conversation (chat exports that name no recipients).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Mailbox>,
    /// How dates of the file were read (WhatsApp: `dmy` or `mdy`), and whether that was a guess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_order: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub date_order_ambiguous: bool,
    /// Outlook stores: the SHA-256 of the whole store file the item was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_sha256: Option<String>,
    /// Outlook stores: the node id of the message inside the store (`0x200024`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The folder path inside the store or mailbox (`Top of Personal Folders/Deleted Items`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// The raw bytes were rebuilt from structured data (Outlook MAPI properties), not kept as
    /// they arrived. Such bytes never claim to be original.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconstructed: bool,
    /// For a rebuilt message: where its headers came from (`transport` or `properties`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_from: Option<String>,
    /// The item id of the message this one was attached to (an embedded message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The Outlook message class (`IPM.Note`, `IPM.Schedule.Meeting.Request`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_class: Option<String>,
    /// The store had a password (PST passwords do not encrypt; it was read all the same).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub store_password: bool,
}

impl SourceContext {
    pub fn is_empty(&self) -> bool {
        self == &SourceContext::default()
    }
}

/// The account an export belongs to.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
pub struct Owner {
    pub id: Option<String>,
    pub handle: Option<String>,
    pub name: Option<String>,
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
    /// What the container said about the record (conversation, owner, JSON path).
    #[serde(default, skip_serializing_if = "SourceContext::is_empty")]
    pub context: SourceContext,
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
    /// The text extracted from it, when it is a kind trove reads (derived, rebuilt by reindex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<AttachmentText>,
}

/// Text extracted from an attachment.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AttachmentText {
    /// `pdf`, `docx`, `xlsx`, `html`, `text`, `zip`, `ocr`, `pdf+ocr`...
    pub extractor: String,
    pub text: String,
    /// Why extraction failed or is partial (also a finding on the item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
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

/// A link in a message, as the source gives it: the short link and where it leads.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
pub struct UrlRef {
    /// The URL as it appears in the text (often a t.co short link).
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expanded: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Everything the catalog records about a parsed item (an email, a DM or a post), derived from
/// its raw bytes and the reader's [`SourceContext`] alone.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ItemRecord {
    pub kind: Kind,
    /// The source's own id: Message-ID without angle brackets, tweet id, DM id, chat message id.
    pub native_id: Option<String>,
    pub date: Timestamp,
    pub subject: Option<String>,
    pub addresses: Vec<(AddressRole, Mailbox)>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub body_text: String,
    pub attachments: Vec<AttachmentMeta>,
    pub findings: Vec<Finding>,
    /// The conversation id, namespaced by source (`x:123-456`, `telegram:42`, ...); DMs only.
    pub conversation: Option<String>,
    pub urls: Vec<UrlRef>,
    /// Source-specific facts kept for display: mentions, reactions, edit history, media, events.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Default for ItemRecord {
    fn default() -> Self {
        Self {
            kind: Kind::Email,
            native_id: None,
            date: Timestamp::default(),
            subject: None,
            addresses: vec![],
            in_reply_to: vec![],
            references: vec![],
            body_text: String::new(),
            attachments: vec![],
            findings: vec![],
            conversation: None,
            urls: vec![],
            details: serde_json::Map::new(),
        }
    }
}

impl ItemRecord {
    pub fn mailboxes(&self, role: AddressRole) -> impl Iterator<Item = &Mailbox> {
        self.addresses
            .iter()
            .filter(move |(r, _)| *r == role)
            .map(|(_, m)| m)
    }
}

/// Identity schemes trove knows (`scheme:value`). Anything else with an `@` is an email address.
pub const IDENTITY_SCHEMES: [&str; 12] = [
    "mailto",
    "twitter",
    "telegram",
    "phone",
    "name",
    "signal",
    "whatsapp",
    "facebook",
    "instagram",
    "matrix",
    "slack",
    "discord",
];

fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, value) = s.split_once(':')?;
    let lower = scheme.to_ascii_lowercase();
    IDENTITY_SCHEMES
        .iter()
        .find(|k| **k == lower)
        .map(|k| (*k, value))
}

/// Normalises an identity as a user or a source writes it: `@Handle` → `twitter:@handle`,
/// `a@B.org` → `mailto:a@b.org`, `phone:+1 (555) 010` → `phone:+1555010`, `Alice` → `name:alice`.
/// Identities compare case-insensitively (the catalog stores addresses lower-cased), so they are
/// lower-cased here too.
pub fn normalize_identity(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some((scheme, value)) = split_scheme(s) {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        return Some(match scheme {
            "mailto" => format!("mailto:{}", value.to_lowercase()),
            "twitter" if value.starts_with('@') => format!("twitter:{}", value.to_lowercase()),
            "phone" => format!("phone:{}", normalize_phone(value)),
            _ => format!("{scheme}:{}", value.to_lowercase()),
        });
    }
    if s.starts_with('@') && s.len() > 1 && !s[1..].contains('@') {
        return Some(format!("twitter:{}", s.to_lowercase()));
    }
    if s.contains('@') {
        return Some(format!("mailto:{}", s.to_lowercase()));
    }
    if s.starts_with('+')
        && s[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || " -().".contains(c))
    {
        return Some(format!("phone:{}", normalize_phone(s)));
    }
    Some(format!("name:{}", s.to_lowercase()))
}

fn normalize_phone(s: &str) -> String {
    let plus = s.trim_start().starts_with('+');
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if plus { format!("+{digits}") } else { digits }
}

/// The identity behind an address as the catalog stores it: email addresses are stored bare,
/// every other identity with its scheme.
pub fn identity_of_address(addr: &str) -> String {
    match split_scheme(addr) {
        Some(_) => addr.to_string(),
        None => format!("mailto:{}", addr.to_lowercase()),
    }
}

/// The inverse of [`identity_of_address`].
pub fn address_of_identity(identity: &str) -> String {
    match identity.strip_prefix("mailto:") {
        Some(a) => a.to_string(),
        None => identity.to_string(),
    }
}

/// The Unix time in milliseconds encoded in a snowflake id (X tweets and DMs since late 2010),
/// or `None` for ids too small to be snowflakes (the older sequential ids).
pub fn snowflake_millis(id: &str) -> Option<i64> {
    let n: u64 = id.parse().ok()?;
    // Sequential ids stayed below 3*10^10; snowflakes passed 10^14 within hours of the switch.
    if n < 100_000_000_000_000 {
        return None;
    }
    Some((n >> 22) as i64 + 1_288_834_974_657)
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
    fn identities_normalise() {
        let n = |s| normalize_identity(s).unwrap();
        assert_eq!(n("@DonaldJTrumpJr"), "twitter:@donaldjtrumpjr");
        assert_eq!(n("twitter:@DonaldJTrumpJr"), "twitter:@donaldjtrumpjr");
        assert_eq!(n("twitter:39344374"), "twitter:39344374");
        assert_eq!(n("Ann@Example.ORG"), "mailto:ann@example.org");
        assert_eq!(n("mailto:Ann@Example.ORG"), "mailto:ann@example.org");
        assert_eq!(n("+1 (555) 010-9999"), "phone:+15550109999");
        assert_eq!(n("Ann Smith"), "name:ann smith");
        assert_eq!(n("name:Ann Smith"), "name:ann smith");
        assert_eq!(normalize_identity("  "), None);
        assert_eq!(
            identity_of_address("ann@example.org"),
            "mailto:ann@example.org"
        );
        assert_eq!(identity_of_address("twitter:1"), "twitter:1");
        assert_eq!(
            address_of_identity("mailto:ann@example.org"),
            "ann@example.org"
        );
    }

    #[test]
    fn snowflake_time() {
        // Tweet 947824196909961216 was created Mon Jan 01 13:37:52 +0000 2018.
        let ms = snowflake_millis("947824196909961216").unwrap();
        assert_eq!(ms / 1000, 1_514_813_872);
        assert_eq!(snowflake_millis("1234567"), None);
        assert_eq!(snowflake_millis("x"), None);
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
