//! From raw RFC 5322 bytes to an [`ItemRecord`] with mail-parser.
//!
//! Damaged input yields a record plus findings, not an error. The only refusal is "not a message"
//! (no header block at all), which the pipeline turns into a quarantine record.

use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType};
use std::panic::{AssertUnwindSafe, catch_unwind};
use trove_model::{AddressRole, Finding, ItemRecord, Mailbox, Timestamp};
use trove_store::Limits;

/// An attachment's decoded bytes, before they are stored.
pub struct AttachmentBytes {
    pub filename: Option<String>,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    /// Its text, once extracted (`crate::attachments`).
    pub text: Option<trove_extract::Extracted>,
}

pub struct ParsedEmail {
    pub record: ItemRecord,
    pub attachments: Vec<AttachmentBytes>,
}

/// Why a unit is not archived as an email (it is still stored, and quarantined).
#[derive(Debug, PartialEq, Eq)]
pub struct NotAMessage(pub String);

/// Offset of the blank line ending the header block, if any.
fn header_block_len(raw: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..].iter().position(|&b| b == b'\n').map(|p| i + p + 1);
        let line = &raw[i..end.unwrap_or(raw.len())];
        if line == b"\n" || line == b"\r\n" {
            return Some(i);
        }
        match end {
            Some(e) => i = e,
            None => return None,
        }
    }
    None
}

/// Parses an email. `complete` is false when `raw` is only the head of a larger message (spilled
/// or over `max_parse_bytes`): then only headers are read.
pub fn parse_email(
    raw: &[u8],
    complete: bool,
    total_len: u64,
    limits: &Limits,
) -> Result<ParsedEmail, NotAMessage> {
    let hdr_len = header_block_len(raw);
    let hdr_bytes = hdr_len.unwrap_or(raw.len()) as u64;
    if hdr_bytes > limits.max_header_bytes {
        return Err(NotAMessage(format!(
            "header block of {hdr_bytes} bytes exceeds limits.max_header_bytes ({})",
            limits.max_header_bytes
        )));
    }
    let parser = MessageParser::default();
    let too_big = !complete || total_len > limits.max_parse_bytes;
    let mut mime_failed = false;
    let msg = if too_big {
        parser.parse_headers(raw)
    } else {
        parse_whole(&parser, raw).unwrap_or_else(|| {
            mime_failed = true;
            parser.parse_headers(raw)
        })
    };
    let Some(msg) = msg else {
        return Err(NotAMessage("not a message: no header block".into()));
    };
    if msg.headers().is_empty() {
        return Err(NotAMessage("not a message: no header block".into()));
    }
    let mut rec = ItemRecord::default();
    if hdr_len.is_none() && complete {
        rec.findings.push(Finding::new(
            "no_body",
            "the header block is not followed by a body",
        ));
    }
    if too_big {
        rec.findings.push(Finding::new(
            "body_not_parsed",
            format!(
                "message is {total_len} bytes, over limits.max_parse_bytes ({}); headers only",
                limits.max_parse_bytes
            ),
        ));
    }

    rec.native_id = msg
        .message_id()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if msg.header_raw(HeaderName::MessageId).is_none() {
        rec.findings
            .push(Finding::new("message_id_missing", "no Message-ID header"));
    }
    rec.date = parse_date(&msg, &mut rec.findings);
    rec.subject = msg.subject().map(str::to_string);

    for (role, name) in [
        (AddressRole::From, HeaderName::From),
        (AddressRole::Sender, HeaderName::Sender),
        (AddressRole::To, HeaderName::To),
        (AddressRole::Cc, HeaderName::Cc),
        (AddressRole::Bcc, HeaderName::Bcc),
        (AddressRole::ReplyTo, HeaderName::ReplyTo),
    ] {
        let mut count = 0;
        for v in msg.header_values(name) {
            count += 1;
            if let HeaderValue::Address(a) = v {
                push_addresses(&mut rec.addresses, role, a);
            }
        }
        if role == AddressRole::From && count > 1 {
            rec.findings.push(Finding::new(
                "duplicate_from",
                format!("{count} From headers"),
            ));
        }
    }
    let subjects = msg.header_values(HeaderName::Subject).count();
    if subjects > 1 {
        rec.findings.push(Finding::new(
            "duplicate_subject",
            format!("{subjects} Subject headers"),
        ));
    }
    rec.in_reply_to = id_list(msg.in_reply_to());
    rec.references = id_list(msg.references());

    if mime_failed {
        rec.findings.push(Finding::new(
            "mime_unreadable",
            "the MIME structure could not be read; headers only (the raw bytes are complete)",
        ));
    }
    if too_big || mime_failed {
        return Ok(ParsedEmail {
            record: rec,
            attachments: vec![],
        });
    }
    if let Some(refused) = body_refused(&msg, limits) {
        rec.findings.push(refused);
        return Ok(ParsedEmail {
            record: rec,
            attachments: vec![],
        });
    }

    rec.body_text = text_of(&msg);
    if msg.parts.iter().any(|p| p.is_encoding_problem) {
        rec.findings.push(Finding::new(
            "encoding_problem",
            "a MIME part could not be decoded as declared; it was read as-is",
        ));
    }

    let mut attachments = Vec::new();
    let total = msg.attachment_count();
    for part in msg.attachments() {
        if attachments.len() as u64 >= limits.max_attachments as u64 {
            rec.findings.push(Finding::new(
                "too_many_attachments",
                format!(
                    "{total} attachments; only the first {} extracted (limits.max_attachments)",
                    limits.max_attachments
                ),
            ));
            break;
        }
        let mime_type = match part.content_type() {
            Some(ct) => match &ct.c_subtype {
                Some(st) => format!("{}/{}", ct.c_type, st).to_ascii_lowercase(),
                None => ct.c_type.to_ascii_lowercase(),
            },
            None if matches!(part.body, PartType::Message(_)) => "message/rfc822".into(),
            None => "application/octet-stream".into(),
        };
        attachments.push(AttachmentBytes {
            filename: part.attachment_name().map(str::to_string),
            mime_type,
            bytes: part.contents().to_vec(),
            text: None,
        });
    }
    Ok(ParsedEmail {
        record: rec,
        attachments,
    })
}

/// The text a reader sees, and nothing else: what [`parse_email`] puts in `body_text`, for a
/// message the archive already holds (search snippets). Only the MIME headers are parsed; the
/// rest were half the cost of a search hit (Received lines alone a tenth). The same limits
/// apply, so a message whose body ingest did not read has no text here either.
pub fn body_text(raw: &[u8], total_len: u64, limits: &Limits) -> String {
    let hdr_bytes = header_block_len(raw).unwrap_or(raw.len()) as u64;
    if hdr_bytes > limits.max_header_bytes || total_len > limits.max_parse_bytes {
        return String::new();
    }
    let parser = MessageParser::new()
        .with_mime_headers()
        .default_header_ignore();
    match parse_whole(&parser, raw).flatten() {
        Some(msg) if !msg.headers().is_empty() && body_refused(&msg, limits).is_none() => {
            text_of(&msg)
        }
        _ => String::new(),
    }
}

/// Parses headers and MIME parts; `None` if the parser panicked. mail-parser has internal
/// `debug_assert!`s that hostile MIME can trip (found by fuzzing: "Invalid part ID, could not
/// find multipart"). They panic only in builds with debug assertions; either way the message
/// is kept, read as headers only if the body fails.
fn parse_whole<'x>(
    parser: &MessageParser,
    raw: &'x [u8],
) -> Option<Option<mail_parser::Message<'x>>> {
    catch_unwind(AssertUnwindSafe(|| parser.parse(raw))).ok()
}

/// Why the body of a parsed message is not read, if it is over the MIME limits.
fn body_refused(msg: &mail_parser::Message<'_>, limits: &Limits) -> Option<Finding> {
    let depth = mime_depth(msg);
    if depth > limits.max_mime_depth as usize {
        return Some(Finding::new(
            "too_deep",
            format!(
                "multiparts nested {depth} deep exceed limits.max_mime_depth ({}); body and \
                 attachments not extracted",
                limits.max_mime_depth
            ),
        ));
    }
    if msg.parts.len() as u64 > limits.max_mime_parts as u64 {
        return Some(Finding::new(
            "too_many_parts",
            format!(
                "{} MIME parts exceed limits.max_mime_parts ({}); body and attachments not extracted",
                msg.parts.len(),
                limits.max_mime_parts
            ),
        ));
    }
    None
}

/// The readable text parts, joined.
fn text_of(msg: &mail_parser::Message<'_>) -> String {
    let mut texts = Vec::new();
    for i in 0..msg.text_body_count() {
        if let Some(t) = msg.body_text(i).filter(|t| !t.trim().is_empty()) {
            texts.push(t.into_owned());
        }
    }
    texts.join("\n\n")
}

/// How deep multiparts nest (a single-part message is 1). mail-parser flattens parts into one
/// list without recursion; walking it with an explicit stack keeps this bounded too.
fn mime_depth(msg: &mail_parser::Message<'_>) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(0u32, 1usize)];
    let mut seen = vec![false; msg.parts.len()];
    while let Some((id, depth)) = stack.pop() {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        // A part list is a tree, but it comes from hostile bytes: never visit one twice.
        if std::mem::replace(&mut seen[id as usize], true) {
            continue;
        }
        deepest = deepest.max(depth);
        if let PartType::Multipart(children) = &part.body {
            stack.extend(children.iter().map(|&c| (c, depth + 1)));
        }
    }
    deepest
}

fn push_addresses(out: &mut Vec<(AddressRole, Mailbox)>, role: AddressRole, a: &Address<'_>) {
    for addr in a.iter() {
        let name = addr
            .name()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        let address = addr
            .address()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if name.is_some() || address.is_some() {
            out.push((role, Mailbox { name, address }));
        }
    }
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.trim().to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.trim().to_string()).collect(),
        _ => vec![],
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

fn parse_date(msg: &mail_parser::Message<'_>, findings: &mut Vec<Finding>) -> Timestamp {
    let raw = msg
        .header_raw(HeaderName::Date)
        .map(|s| s.trim().to_string());
    let Some(raw_text) = raw.clone() else {
        findings.push(Finding::new("date_missing", "no Date header"));
        return Timestamp::default();
    };
    match msg.date().filter(|d| d.is_valid()) {
        Some(d) => {
            let off =
                (d.tz_hour as i32 * 60 + d.tz_minute as i32) * if d.tz_before_gmt { -1 } else { 1 };
            Timestamp {
                utc: Some(d.to_timestamp()),
                offset_minutes: Some(off),
                raw,
            }
        }
        None => {
            findings.push(Finding::new(
                "date_unparseable",
                format!("Date header could not be parsed: {raw_text:?}"),
            ));
            Timestamp {
                utc: None,
                offset_minutes: None,
                raw,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> ParsedEmail {
        parse_email(raw, true, raw.len() as u64, &Limits::default()).expect("message")
    }

    /// Every message of `../shared/data/email/messy` (the mail-parser and notmuch test mail)
    /// and of linux-mips 2013, with tight limits too so the refusals are compared as well.
    #[test]
    fn text_alone_is_the_text_of_the_full_parse_on_real_mail() {
        use std::io::Read;
        let data =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/email");
        assert!(data.is_dir(), "test corpus missing: {}", data.display());
        let mut messages = Vec::new();
        let mut stack = vec![data.join("messy")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("messy corpus") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_none_or(|x| x != "json") {
                    messages.push(std::fs::read(&p).expect("read"));
                }
            }
        }
        let gz =
            std::fs::File::open(data.join("linux-mips/linux-mips-2013.tar.gz")).expect("corpus");
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
        for e in tar.entries().expect("tar") {
            let mut e = e.expect("entry");
            let mut raw = Vec::new();
            e.read_to_end(&mut raw).expect("read");
            messages.push(raw);
        }
        assert!(messages.len() > 3000, "only {} messages", messages.len());
        let tight = Limits {
            max_mime_parts: 3,
            max_mime_depth: 2,
            max_header_bytes: 2048,
            max_parse_bytes: 8192,
            ..Limits::default()
        };
        let mut with_text = 0;
        for limits in [Limits::default(), tight] {
            for raw in &messages {
                let len = raw.len() as u64;
                let full = parse_email(raw, true, len, &limits)
                    .map(|p| p.record.body_text)
                    .unwrap_or_default();
                with_text += usize::from(!full.is_empty());
                assert_eq!(
                    body_text(raw, len, &limits),
                    full,
                    "{}",
                    String::from_utf8_lossy(&raw[..raw.len().min(300)])
                );
            }
        }
        assert!(with_text > messages.len(), "{with_text} texts");
    }

    fn nested_multipart(levels: usize) -> Vec<u8> {
        let mut m = b"From: a@x\r\nSubject: deep\r\nMIME-Version: 1.0\r\n".to_vec();
        for i in 0..levels {
            m.extend(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").bytes(),
            );
        }
        m.extend(b"Content-Type: text/plain\r\n\r\ninnermost words\r\n");
        for i in (0..levels).rev() {
            m.extend(format!("--b{i}--\r\n").bytes());
        }
        m
    }

    /// Found by `cargo fuzz` in CI: mail-parser's multipart state machine trips its own
    /// `debug_assert!` on this input. The message must still come out, headers at least.
    #[test]
    fn a_mime_structure_that_trips_the_parser_still_gives_the_message() {
        let raw = include_bytes!("../tests/fuzz-regressions/email-068e6c31.eml");
        let p = parse(raw);
        assert!(p.record.subject.is_some());
        assert!(p.record.mailboxes(AddressRole::From).next().is_some());
        if cfg!(debug_assertions) {
            assert!(
                p.record
                    .findings
                    .iter()
                    .any(|f| f.code == "mime_unreadable")
            );
        }
    }

    #[test]
    fn mime_nesting_is_measured_and_bounded_by_the_limit() {
        let shallow = parse(&nested_multipart(3));
        assert!(shallow.record.body_text.contains("innermost words"));
        let codes = |r: &ItemRecord| {
            r.findings
                .iter()
                .map(|f| f.code.clone())
                .collect::<Vec<_>>()
        };
        assert!(!codes(&shallow.record).contains(&"too_deep".to_string()));
        let raw = nested_multipart(100);
        let deep = parse(&raw);
        assert_eq!(deep.record.body_text, "");
        let f = deep
            .record
            .findings
            .iter()
            .find(|f| f.code == "too_deep")
            .expect("too_deep");
        assert!(f.detail.contains("101 deep"), "{}", f.detail);
        assert!(
            f.detail.contains("limits.max_mime_depth (64)"),
            "{}",
            f.detail
        );
        let roomy = Limits {
            max_mime_depth: 200,
            ..Limits::default()
        };
        let ok = parse_email(&raw, true, raw.len() as u64, &roomy).expect("message");
        assert!(ok.record.body_text.contains("innermost words"));
    }

    #[test]
    fn headers_addresses_and_dates() {
        let p = parse(
            b"From: =?iso-8859-1?q?Fran=E7ois?= <Francois@Example.COM>\r\n\
To: a@x.org, Bob <b@y.org>\r\nCc: Group: c@z.org;\r\n\
Subject: =?utf-8?b?w6lsZWN0aW9u?=\r\nDate: Wed, 12 Oct 2016 09:46:43 -0400\r\n\
Message-ID: <abc@x>\r\nIn-Reply-To: <p@x>\r\nReferences: <r@x> <p@x>\r\n\r\nbody\r\n",
        );
        let r = p.record;
        assert_eq!(r.native_id.as_deref(), Some("abc@x"));
        assert_eq!(r.subject.as_deref(), Some("élection"));
        assert_eq!(r.date.utc, Some(1_476_280_003));
        assert_eq!(r.date.offset_minutes, Some(-240));
        let from = r.mailboxes(AddressRole::From).next().expect("from");
        assert_eq!(from.name.as_deref(), Some("François"));
        assert_eq!(
            from.normalized_address().as_deref(),
            Some("francois@example.com")
        );
        assert_eq!(r.mailboxes(AddressRole::To).count(), 2);
        assert_eq!(r.mailboxes(AddressRole::Cc).count(), 1);
        assert_eq!(r.references, vec!["r@x", "p@x"]);
        assert_eq!(r.body_text.trim(), "body");
    }

    #[test]
    fn an_unparseable_date_is_kept_raw_and_flagged() {
        let r = parse(b"From: a@b\nDate: the day after tomorrow\n\nx").record;
        assert_eq!(r.date.utc, None);
        assert_eq!(r.date.raw.as_deref(), Some("the day after tomorrow"));
        assert!(r.findings.iter().any(|f| f.code == "date_unparseable"));
    }

    #[test]
    fn legacy_charsets_and_html_only_bodies_become_text() {
        let r = parse(
            b"From: a@b\nSubject: x\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n",
        )
        .record;
        assert_eq!(r.body_text.trim(), "Привет");
        let r = parse(b"From: a@b\nContent-Type: text/html\n\n<p>Hello <b>world</b></p>").record;
        assert!(
            r.body_text.contains("Hello") && r.body_text.contains("world"),
            "{}",
            r.body_text
        );
        assert!(!r.body_text.contains("<b>"));
    }

    #[test]
    fn attachments_are_decoded() {
        let p = parse(
            b"From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\n\
Content-Type: text/plain\n\nsee attached\n--XX\nContent-Type: application/pdf; name=\"memo.pdf\"\n\
Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"memo.pdf\"\n\n\
JVBERi0xLjQK\n--XX--\n",
        );
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(p.attachments[0].filename.as_deref(), Some("memo.pdf"));
        assert_eq!(p.attachments[0].mime_type, "application/pdf");
        assert_eq!(p.attachments[0].bytes, b"%PDF-1.4\n");
        assert_eq!(p.record.body_text.trim(), "see attached");
    }

    #[test]
    fn text_without_headers_is_not_a_message() {
        let e = parse_email(b"just some words\n", true, 16, &Limits::default());
        assert!(e.is_err());
    }
}
