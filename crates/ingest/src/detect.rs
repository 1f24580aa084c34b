//! Format detection by content. File names are only a hint for the reason we give when content
//! is not recognised, never for the decision itself.

/// What the first bytes of a file say it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detected {
    Zip,
    Gzip,
    Xz,
    Bzip2,
    Tar,
    Mbox,
    Email,
    /// A file of an X/Twitter data export; the name from `window.YTD.<name>.partN = `.
    XExport(String),
    /// A Telegram Desktop `result.json`.
    Telegram,
    /// A WhatsApp "Export chat" text file.
    Whatsapp,
    /// trove's generic JSON Lines (`docs/jsonl-format.md`).
    Jsonl,
    /// An Outlook PST or OST store (`!BDN`, then `SM` for PST or `SO` for OST).
    Pst,
    /// An OLE compound file: an Outlook .msg if its streams say so (also .doc, .xls...).
    Cfb,
    /// An Apple Mail `.emlx`: a byte count line, then a message.
    Emlx,
    /// Not something trove reads; the reason says what it looked like.
    Unknown(String),
}

/// How many leading bytes [`detect`] wants to see (fewer is fine for short files).
pub const HEAD_LEN: usize = 64 * 1024;

pub fn detect(head: &[u8]) -> Detected {
    if head.is_empty() {
        return Detected::Unknown("empty file".into());
    }
    if head.starts_with(b"!BDN") && matches!(head.get(8..10), Some(b"SM" | b"SO")) {
        return Detected::Pst;
    }
    if head.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return Detected::Cfb;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Detected::Zip;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Detected::Gzip;
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Detected::Xz;
    }
    if head.starts_with(b"BZh") && head.len() > 4 && head[3].is_ascii_digit() {
        return Detected::Bzip2;
    }
    if head.len() >= 262 && (&head[257..262] == b"ustar") {
        return Detected::Tar;
    }
    if head.starts_with(b"From ") && looks_like_mbox(head) {
        return Detected::Mbox;
    }
    if crate::emlx::looks_like_emlx(head) {
        return Detected::Emlx;
    }
    if looks_like_header_block(head) {
        return Detected::Email;
    }
    if let Some(d) = detect_social(head) {
        return d;
    }
    Detected::Unknown(describe_unknown(head))
}

/// The part of a head after a byte-order mark and leading whitespace.
fn content_start(head: &[u8]) -> &[u8] {
    head.strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(head)
        .trim_ascii_start()
}

/// The `<name>` of `window.YTD.<name>.partN = `, if the head starts so.
pub fn ytd_name(head: &[u8]) -> Option<String> {
    let rest = content_start(head).strip_prefix(b"window.YTD.")?;
    let end = rest
        .iter()
        .take(128)
        .position(|&b| b == b'.' || b == b' ' || b == b'=')?;
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| name.to_string())
}

fn detect_social(head: &[u8]) -> Option<Detected> {
    if let Some(name) = ytd_name(head) {
        return Some(Detected::XExport(name));
    }
    let start = content_start(head);
    if start.starts_with(b"{") {
        let text = String::from_utf8_lossy(start);
        let first_line = start.split(|&b| b == b'\n').next().unwrap_or_default();
        if crate::social::jsonl::looks_like_record(first_line) {
            return Some(Detected::Jsonl);
        }
        let telegram_chat = text.contains("\"messages\"")
            && [
                "\"date_unixtime\"",
                "\"personal_chat\"",
                "\"private_group\"",
                "\"private_supergroup\"",
                "\"public_supergroup\"",
                "\"private_channel\"",
                "\"public_channel\"",
                "\"saved_messages\"",
                "\"bot_chat\"",
            ]
            .iter()
            .any(|k| text.contains(k));
        let telegram_full = text.contains("\"personal_information\"") || text.contains("\"chats\"");
        if telegram_chat || telegram_full {
            return Some(Detected::Telegram);
        }
    }
    if crate::social::whatsapp::looks_like_chat(head) {
        return Some(Detected::Whatsapp);
    }
    None
}

fn describe_unknown(head: &[u8]) -> String {
    let trimmed = head.trim_ascii_start();
    let what = if head.starts_with(b"%PDF") {
        "a PDF document"
    } else if head.starts_with(b"\x89PNG") || head.starts_with(b"\xff\xd8\xff") {
        "an image"
    } else if head.starts_with(b"7z\xbc\xaf") {
        "a 7-Zip archive (not supported yet)"
    } else if head.starts_with(b"Rar!") {
        "a RAR archive (not supported yet)"
    } else if head.starts_with(b"!BDN") {
        "an Outlook PST store with an unknown client signature"
    } else if head.starts_with(b"\xd0\xcf\x11\xe0") {
        "an OLE compound file with a damaged signature"
    } else if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        "JSON data"
    } else if trimmed.starts_with(b"<") {
        "markup (HTML/XML)"
    } else if head.iter().take(4096).any(|&b| b == 0) {
        "binary data"
    } else {
        "text without a message header block"
    };
    format!("not a message, mailbox or archive: {what}")
}

/// The separator line of an mbox: `From <sender> <date>`. A loose check: a non-empty sender token
/// followed by something with a digit. Used where the previous line was blank.
pub fn is_postmark_loose(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    let rest = trim_eol(rest);
    let mut parts = rest.splitn(2, |&b| b == b' ');
    let sender = parts.next().unwrap_or_default();
    let date = parts.next().unwrap_or_default();
    !sender.is_empty() && date.iter().any(u8::is_ascii_digit)
}

/// A strict postmark with an asctime date (`From x Mon Jan  1 00:00:00 2001`), accepted as a
/// separator even without a blank line before it: some writers omit the blank line.
pub fn is_postmark_strict(line: &[u8]) -> bool {
    if !is_postmark_loose(line) {
        return false;
    }
    let text = String::from_utf8_lossy(trim_eol(&line[5..]));
    let mut toks = text.split_whitespace().skip(1);
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (Some(d), Some(m), Some(day), Some(time)) =
        (toks.next(), toks.next(), toks.next(), toks.next())
    else {
        return false;
    };
    let rest: Vec<&str> = toks.collect();
    days.contains(&d)
        && months.contains(&m)
        && day.parse::<u8>().is_ok()
        && time.split(':').count() >= 2
        && time
            .split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
        && rest
            .iter()
            .any(|t| t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()))
}

pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn looks_like_mbox(head: &[u8]) -> bool {
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    if !is_postmark_loose(first) {
        return false;
    }
    // The message after the postmark must start with a header line.
    lines
        .next()
        .is_some_and(|l| is_header_line(l) || trim_eol(l).is_empty())
}

/// `Name: value` with a field name of printable ASCII other than ':' (RFC 5322 section 2.2).
pub fn is_header_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &line[..colon];
    // Tolerate whitespace before the colon ("Subject : x"), seen in old mail.
    let name = name.trim_ascii_end();
    !name.is_empty() && name.len() <= 76 && name.iter().all(|&b| (33..=126).contains(&b))
}

const KNOWN_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "received",
    "return-path",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "delivered-to",
    "reply-to",
    "sender",
    "in-reply-to",
    "references",
    "x-mailer",
    "dkim-signature",
    "arc-seal",
    "user-agent",
    "newsgroups",
    "path",
    "x-original-to",
    "envelope-to",
    "resent-from",
    "thread-topic",
    "content-disposition",
];

/// True when the data opens with an RFC 5322 header block: header lines (with continuations) that
/// include at least one field mail actually uses, up to a blank line or the end of the head.
pub fn looks_like_header_block(head: &[u8]) -> bool {
    // A leading byte-order mark or blank lines are tolerated; some exporters write them.
    let mut data = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    while let Some(rest) = data
        .strip_prefix(b"\r\n")
        .or_else(|| data.strip_prefix(b"\n"))
    {
        data = rest;
    }
    let mut valid = 0usize;
    let mut invalid = 0usize;
    let mut known = false;
    let mut lines = data.split(|&b| b == b'\n').peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        let is_last_partial = lines.peek().is_none();
        let l = trim_eol(line);
        if l.is_empty() {
            break;
        }
        if first && l.starts_with(b"From ") && is_postmark_loose(l) {
            // An mbox-style envelope line before a single message.
            first = false;
            continue;
        }
        if !first && (l[0] == b' ' || l[0] == b'\t') {
            continue;
        }
        if is_header_line(l) {
            valid += 1;
            let name = &l[..l.iter().position(|&b| b == b':').unwrap_or(0)];
            let name = String::from_utf8_lossy(name.trim_ascii_end()).to_ascii_lowercase();
            known |= KNOWN_HEADERS.contains(&name.as_str()) || name.starts_with("x-");
        } else if !is_last_partial {
            invalid += 1;
            if first {
                return false;
            }
        }
        first = false;
    }
    known && valid > 0 && invalid * 4 <= valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_container_by_magic() {
        assert_eq!(detect(b"PK\x03\x04rest"), Detected::Zip);
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), Detected::Gzip);
        assert_eq!(detect(b"\xfd7zXZ\x00\x00"), Detected::Xz);
        assert_eq!(detect(b"BZh91AY"), Detected::Bzip2);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar), Detected::Tar);
    }

    #[test]
    fn detects_messages_and_mailboxes_by_content() {
        assert_eq!(
            detect(b"From alice@example.com Mon Jan  1 00:00:00 2001\nFrom: a@b\n\nhi\n"),
            Detected::Mbox
        );
        assert_eq!(
            detect(b"Received: from x\n\tby y\nSubject: hi\n\nbody"),
            Detected::Email
        );
        assert_eq!(detect(b"X-Custom: 1\r\nFrom: a@b\r\n\r\n"), Detected::Email);
        assert!(matches!(detect(b"{\"a\": 1}"), Detected::Unknown(r) if r.contains("JSON")));
        assert!(matches!(
            detect(b"Hello there\nthis is text\n"),
            Detected::Unknown(_)
        ));
        assert!(matches!(
            detect(b"From the desk of nobody\n"),
            Detected::Unknown(_)
        ));
        assert!(matches!(detect(b""), Detected::Unknown(r) if r == "empty file"));
    }

    #[test]
    fn postmarks() {
        assert!(is_postmark_strict(
            b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n"
        ));
        assert!(is_postmark_strict(
            b"From a@b.c Sat Jan  3 01:05:34 1996\r\n"
        ));
        assert!(!is_postmark_strict(b"From the beginning we knew\n"));
        assert!(is_postmark_loose(b"From x 2011-01-01\n"));
        assert!(!is_postmark_loose(b"From here on\n"));
    }
}
