//! A MAPI message rebuilt as an RFC 5322 message.
//!
//! Outlook stores never keep the bytes a message arrived as. Where the store kept the transport
//! headers we use them verbatim (minus the MIME structure fields, which describe a body we no
//! longer have); otherwise headers are rebuilt from properties. Bodies and attachments are always
//! re-encoded. Every rebuilt message says so in an `X-Trove-Reconstructed` field, so an exported
//! copy can never pass for original bytes. The output is a pure function of the properties:
//! boundaries are hashes of the content, so re-ingesting a store yields the same blobs.

use crate::mapi::{
    self, AttachData, MAPI_BCC, MAPI_CC, MAPI_TO, MapiAttachment, MapiMessage, Props, str_of, tag,
};
use crate::rtf::{self, RtfBody};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Where the rebuilt message's header block came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderSource {
    /// `PidTagTransportMessageHeaders`: the headers as the message arrived.
    Transport,
    /// Rebuilt from MAPI properties (sender, recipients, subject, times).
    Properties,
}

impl HeaderSource {
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderSource::Transport => "transport",
            HeaderSource::Properties => "properties",
        }
    }
}

pub struct Rebuilt {
    pub bytes: Vec<u8>,
    pub headers: HeaderSource,
    /// Problems met while rebuilding (an unreadable RTF body...), for the item's findings.
    pub problems: Vec<String>,
}

/// Largest RTF body we decompress.
const MAX_RTF: usize = 64 << 20;

/// Rebuilds `m`. `origin` names the source for the `X-Trove-Reconstructed` field.
pub fn rebuild(m: &MapiMessage, origin: &str) -> Rebuilt {
    let mut problems = Vec::new();
    let (headers, source) = match str_of(&m.props, tag::TRANSPORT_HEADERS) {
        Some(h) if h.contains(':') => (transport_headers(h), HeaderSource::Transport),
        _ => (property_headers(m), HeaderSource::Properties),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "X-Trove-Reconstructed: {origin}; headers={}",
        source.as_str()
    );
    out.push_str(&headers);
    let mut bytes = crlf_free(out.into_bytes());
    if let Some(entity) = signed_entity(m) {
        // The store kept the signed MIME entity whole: it is the body, byte for byte, so the
        // signature inside can still be checked.
        bytes.extend_from_slice(entity);
        return Rebuilt {
            bytes,
            headers: source,
            problems,
        };
    }
    let body = body_part(m, &mut problems);
    let mut parts = vec![body];
    for (n, a) in m.attachments.iter().enumerate() {
        if let Some(p) = attachment_part(a, n, origin, &mut problems) {
            parts.push(p);
        }
    }
    let top = if parts.len() == 1 {
        parts.pop().unwrap_or_default()
    } else {
        multipart("mixed", &parts)
    };
    bytes.extend_from_slice(b"MIME-Version: 1.0\n");
    bytes.extend_from_slice(&top);
    Rebuilt {
        bytes,
        headers: source,
        problems,
    }
}

/// A signed message (S/MIME or PGP/MIME) that Outlook stored as one `multipart/signed`
/// attachment holding the original entity, headers included.
fn signed_entity(m: &MapiMessage) -> Option<&[u8]> {
    let class = str_of(&m.props, tag::MESSAGE_CLASS)?.to_ascii_lowercase();
    if !class.starts_with("ipm.note.smime.multipartsigned") || m.attachments.len() != 1 {
        return None;
    }
    let a = &m.attachments[0];
    let AttachData::Bytes(b) = &a.data else {
        return None;
    };
    let head = String::from_utf8_lossy(&b[..b.len().min(4096)]).to_ascii_lowercase();
    let is_entity = str_of(&a.props, tag::ATTACH_MIME_TAG)
        .is_some_and(|t| t.eq_ignore_ascii_case("multipart/signed"))
        && head.contains("content-type: multipart/signed");
    is_entity.then_some(b.as_slice())
}

/// Our parts use bare LF; transport headers may carry CRLF. One convention per message.
fn crlf_free(b: Vec<u8>) -> Vec<u8> {
    if !b.windows(2).any(|w| w == b"\r\n") {
        return b;
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Transport headers without the fields that describe the original MIME structure.
fn transport_headers(h: &str) -> String {
    const DROP: [&str; 4] = [
        "content-type",
        "content-transfer-encoding",
        "mime-version",
        "content-disposition",
    ];
    let mut out = String::new();
    let mut keep = true;
    for line in h.lines() {
        if line.trim().is_empty() {
            // The block ends at the first empty line; anything after it is not a header.
            if !out.is_empty() {
                break;
            }
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let name = line
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            keep = !DROP.contains(&name.as_str());
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn property_headers(m: &MapiMessage) -> String {
    let p = &m.props;
    let mut out = String::new();
    let from = mailbox(
        str_of(p, tag::SENT_REPRESENTING_NAME).or(str_of(p, tag::SENDER_NAME)),
        [
            str_of(p, tag::SENT_REPRESENTING_SMTP),
            str_of(p, tag::SENT_REPRESENTING_EMAIL),
            str_of(p, tag::SENDER_SMTP_ADDRESS),
            str_of(p, tag::SENDER_EMAIL),
        ],
    );
    if let Some(f) = &from {
        header(&mut out, "From", f);
    }
    let sender = mailbox(
        str_of(p, tag::SENDER_NAME),
        [
            str_of(p, tag::SENDER_SMTP_ADDRESS),
            str_of(p, tag::SENDER_EMAIL),
            None,
            None,
        ],
    );
    if let (Some(s), Some(f)) = (&sender, &from)
        && s != f
    {
        header(&mut out, "Sender", s);
    }
    for (kind, name, display) in [
        (MAPI_TO, "To", tag::DISPLAY_TO),
        (MAPI_CC, "Cc", tag::DISPLAY_CC),
        (MAPI_BCC, "Bcc", tag::DISPLAY_BCC),
    ] {
        let list: Vec<String> = m
            .recipients
            .iter()
            .filter(|r| mapi::int_of(r, tag::RECIPIENT_TYPE).map(|t| t & 0xF) == Some(kind))
            .filter_map(recipient)
            .collect();
        if !list.is_empty() {
            header(&mut out, name, &list.join(", "));
        } else if let Some(d) = str_of(p, display) {
            // Only display names survive; they are written as a group-less phrase list.
            // Only display names survive: each is written as a name without an address.
            let names: Vec<String> = d
                .split(';')
                .map(|n| phrase(n.trim()))
                .filter(|n| !n.is_empty())
                .map(|n| format!("{n} <>"))
                .collect();
            if !names.is_empty() {
                header(&mut out, name, &names.join(", "));
            }
        }
    }
    if let Some(s) = str_of(p, tag::SUBJECT) {
        header(&mut out, "Subject", &encode_words(strip_subject_marker(s)));
    }
    let when = mapi::time_of(p, tag::CLIENT_SUBMIT_TIME)
        .or(mapi::time_of(p, tag::DELIVERY_TIME))
        .or(mapi::time_of(p, tag::CREATION_TIME));
    if let Some(d) = when.and_then(rfc2822_date) {
        header(&mut out, "Date", &d);
    }
    for (id, name) in [
        (tag::INTERNET_MESSAGE_ID, "Message-ID"),
        (tag::IN_REPLY_TO, "In-Reply-To"),
        (tag::INTERNET_REFERENCES, "References"),
    ] {
        if let Some(v) = str_of(p, id) {
            header(&mut out, name, v.trim());
        }
    }
    out
}

/// Some stores prefix String8 subjects with a 0x01 and a length byte (the subject prefix size).
fn strip_subject_marker(s: &str) -> &str {
    let mut ch = s.chars();
    if ch.next() == Some('\u{1}') {
        ch.next();
        return ch.as_str();
    }
    s
}

fn header(out: &mut String, name: &str, value: &str) {
    let clean: String = value
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let _ = writeln!(out, "{name}: {clean}");
}

fn recipient(r: &Props) -> Option<String> {
    mailbox(
        str_of(r, tag::DISPLAY_NAME),
        [
            str_of(r, tag::SMTP_ADDRESS),
            str_of(r, tag::EMAIL_ADDRESS),
            None,
            None,
        ],
    )
}

/// `"Name" <addr>`, using the first candidate that is an internet address (Exchange `EX`
/// distinguished names are not).
fn mailbox(name: Option<&str>, candidates: [Option<&str>; 4]) -> Option<String> {
    let addr = candidates
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|a| a.contains('@') && !a.contains(['<', '>', ' ', '"']));
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty() && Some(*n) != addr);
    match (name, addr) {
        (Some(n), Some(a)) => Some(format!("{} <{a}>", phrase(n))),
        (None, Some(a)) => Some(format!("<{a}>")),
        // A name without an internet address (an Exchange-only recipient): `"Name" <>` keeps
        // the name where readers look for it.
        (Some(n), None) => Some(format!("{} <>", phrase(n))),
        (None, None) => None,
    }
}

/// A display name as an RFC 5322 phrase: quoted, or encoded words when not ASCII.
fn phrase(n: &str) -> String {
    if n.is_empty() {
        return String::new();
    }
    if !n.is_ascii() {
        return encode_words(n);
    }
    format!("\"{}\"", n.replace('\\', "\\\\").replace('"', "\\\""))
}

/// RFC 2047 encoded words for non-ASCII text; ASCII passes through.
fn encode_words(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", b64.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", b64.encode(&chunk)));
    }
    words.join("\n ")
}

/// FILETIME (100 ns since 1601) as an RFC 2822 date in UTC.
pub fn rfc2822_date(filetime: i64) -> Option<String> {
    let unix = filetime
        .checked_div(10_000_000)?
        .checked_sub(11_644_473_600)?;
    if filetime <= 0 {
        return None;
    }
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    t.format(&time::format_description::well_known::Rfc2822)
        .ok()
}

fn body_part(m: &MapiMessage, problems: &mut Vec<String>) -> Vec<u8> {
    let p = &m.props;
    let codepage = mapi::int_of(p, tag::INTERNET_CODEPAGE).or(mapi::message_codepage(p));
    let mut text = str_of(p, tag::BODY).map(str::to_string);
    let mut html = match p.get(&tag::HTML) {
        Some(mapi::Prop::Bin(b)) => Some(mapi::decode_string8(b, codepage)),
        Some(mapi::Prop::Str(s)) => Some(s.clone()),
        _ => None,
    };
    if html.is_none()
        && let Some(rtf) = mapi::bin_of(p, tag::RTF_COMPRESSED)
    {
        match rtf::decompress(rtf, MAX_RTF) {
            Ok(raw) => match rtf::interpret(&raw) {
                RtfBody::Html(h) => html = Some(h),
                RtfBody::Text(t) if text.is_none() => text = Some(t),
                RtfBody::Text(_) => {}
            },
            Err(e) => problems.push(format!("RTF body not read: {e}")),
        }
    }
    let text_part = text.map(|t| leaf("text/plain; charset=utf-8", None, t.as_bytes()));
    let html_part = html.map(|h| leaf("text/html; charset=utf-8", None, h.as_bytes()));
    match (text_part, html_part) {
        (Some(t), Some(h)) => multipart("alternative", &[t, h]),
        (Some(t), None) => t,
        (None, Some(h)) => h,
        (None, None) => leaf("text/plain; charset=utf-8", None, b""),
    }
}

fn attachment_part(
    a: &MapiAttachment,
    n: usize,
    origin: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<u8>> {
    let name = attachment_name(a);
    let content_id = str_of(&a.props, tag::ATTACH_CONTENT_ID);
    let disposition = |kind: &str| {
        let mut d = kind.to_string();
        if let Some(name) = &name {
            d.push_str("; ");
            d.push_str(&filename_param(name));
        }
        d
    };
    match &a.data {
        AttachData::Bytes(bytes) => {
            let mime = str_of(&a.props, tag::ATTACH_MIME_TAG)
                .map(str::to_string)
                .unwrap_or_else(|| guess_mime(name.as_deref()).to_string());
            let kind = if content_id.is_some() {
                "inline"
            } else {
                "attachment"
            };
            let mut extra = format!("Content-Disposition: {}\n", disposition(kind));
            if let Some(cid) = content_id {
                let _ = writeln!(extra, "Content-ID: <{}>", cid.trim_matches(['<', '>']));
            }
            Some(leaf_with(&sanitize_mime(&mime), &extra, bytes))
        }
        AttachData::Message(inner) => {
            let child = rebuild(inner, &format!("{origin}; embedded attachment {n}"));
            problems.extend(child.problems);
            let extra = format!("Content-Disposition: {}\n", disposition("attachment"));
            let mut part = format!("Content-Type: message/rfc822\n{extra}\n").into_bytes();
            part.extend_from_slice(&child.bytes);
            Some(part)
        }
        AttachData::None => {
            problems.push(format!(
                "attachment {n}{} has no readable content (stored by reference or as an OLE object)",
                name.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
            ));
            None
        }
    }
}

pub fn attachment_name(a: &MapiAttachment) -> Option<String> {
    str_of(&a.props, tag::ATTACH_LONG_FILENAME)
        .or(str_of(&a.props, tag::ATTACH_FILENAME))
        .or(str_of(&a.props, tag::DISPLAY_NAME))
        .map(|s| s.trim().to_string())
}

fn sanitize_mime(m: &str) -> String {
    let m = m.trim();
    let ok = m.contains('/')
        && m.bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b'"');
    if ok {
        m.to_ascii_lowercase()
    } else {
        "application/octet-stream".into()
    }
}

fn guess_mime(name: Option<&str>) -> &'static str {
    let ext = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "htm" | "html" => "text/html",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "zip" => "application/zip",
        "msg" => "application/vnd.ms-outlook",
        "eml" => "message/rfc822",
        _ => "application/octet-stream",
    }
}

/// `filename=` for ASCII names, RFC 2231 `filename*=` otherwise.
fn filename_param(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    if name.is_ascii() {
        return format!(
            "filename=\"{}\"",
            name.replace('\\', "\\\\").replace('"', "\\\"")
        );
    }
    let mut enc = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            enc.push(b as char);
        } else {
            let _ = write!(enc, "%{b:02X}");
        }
    }
    format!("filename*=UTF-8''{enc}")
}

fn leaf(content_type: &str, extra: Option<&str>, body: &[u8]) -> Vec<u8> {
    leaf_with(content_type, extra.unwrap_or(""), body)
}

/// One MIME part: text stays readable (8bit) unless a line is too long for SMTP; anything else is
/// base64.
fn leaf_with(content_type: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let textual = content_type.starts_with("text/")
        && std::str::from_utf8(body).is_ok()
        && !body.contains(&0)
        && body.split(|&b| b == b'\n').all(|l| l.len() <= 990);
    let mut out = format!("Content-Type: {content_type}\n{extra}").into_bytes();
    if textual {
        out.extend_from_slice(b"Content-Transfer-Encoding: 8bit\n\n");
        out.extend(body.iter().filter(|&&b| b != b'\r'));
    } else {
        out.extend_from_slice(b"Content-Transfer-Encoding: base64\n\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(body);
        for line in b64.as_bytes().chunks(76) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

fn multipart(kind: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let boundary = format!("=_trove_{}", &hex::encode(h.finalize())[..24]);
    let mut out =
        format!("Content-Type: multipart/{kind}; boundary=\"{boundary}\"\n\n").into_bytes();
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\n").as_bytes());
        out.extend_from_slice(p);
        if !p.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(format!("--{boundary}--\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapi::Prop;
    use mail_parser::MimeHeaders;

    fn msg(props: &[(u16, Prop)]) -> MapiMessage {
        MapiMessage {
            props: props.iter().cloned().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn properties_become_headers_and_the_result_is_marked() {
        let mut m = msg(&[
            (tag::SUBJECT, Prop::Str("Réunion".into())),
            (tag::SENDER_NAME, Prop::Str("Ann Lee".into())),
            (tag::SENDER_EMAIL, Prop::Str("/O=CORP/CN=ANN".into())),
            (
                tag::SENDER_SMTP_ADDRESS,
                Prop::Str("ann@corp.example".into()),
            ),
            (tag::CLIENT_SUBMIT_TIME, Prop::Time(129_131_467_250_000_000)),
            (tag::BODY, Prop::Str("Hello\r\nthere".into())),
        ]);
        m.recipients.push(
            [
                (tag::RECIPIENT_TYPE, Prop::Int(MAPI_CC)),
                (tag::DISPLAY_NAME, Prop::Str("Bob".into())),
                (tag::SMTP_ADDRESS, Prop::Str("bob@x.example".into())),
            ]
            .into_iter()
            .collect(),
        );
        let r = rebuild(&m, "test");
        let s = String::from_utf8(r.bytes).expect("utf8");
        assert_eq!(r.headers, HeaderSource::Properties);
        assert!(
            s.starts_with("X-Trove-Reconstructed: test; headers=properties\n"),
            "{s}"
        );
        assert!(s.contains("From: \"Ann Lee\" <ann@corp.example>\n"), "{s}");
        assert!(s.contains("Cc: \"Bob\" <bob@x.example>\n"), "{s}");
        assert!(s.contains("Subject: =?UTF-8?B?"), "{s}");
        assert!(s.contains("Date: Mon, 15 Mar 2010 17:12:05 +0000"), "{s}");
        assert!(s.ends_with("\n\nHello\nthere"), "{s}");
        let parsed = mail_parser::MessageParser::default()
            .parse(s.as_bytes())
            .expect("parses");
        assert_eq!(parsed.subject(), Some("Réunion"));
    }

    #[test]
    fn transport_headers_are_kept_but_not_their_mime_structure() {
        let m = msg(&[
            (
                tag::TRANSPORT_HEADERS,
                Prop::Str("Received: by x\r\n\tfolded\r\nSubject: Hi\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"b\"\r\nMIME-Version: 1.0\r\n\r\n".into()),
            ),
            (tag::BODY, Prop::Str("body".into())),
        ]);
        let r = rebuild(&m, "t");
        let s = String::from_utf8(r.bytes).expect("utf8");
        assert_eq!(r.headers, HeaderSource::Transport);
        assert!(
            s.contains(
                "Received: by x\n\tfolded\nSubject: Hi\nMIME-Version: 1.0\nContent-Type: text/plain"
            ),
            "{s}"
        );
        assert!(!s.contains("boundary=\"b\""), "{s}");
    }

    #[test]
    fn the_same_properties_rebuild_to_the_same_bytes() {
        let mut m = msg(&[(tag::BODY, Prop::Str("x".into()))]);
        m.attachments.push(MapiAttachment {
            props: [(tag::ATTACH_LONG_FILENAME, Prop::Str("naïve.pdf".into()))]
                .into_iter()
                .collect(),
            data: AttachData::Bytes(vec![1, 2, 3]),
        });
        let a = rebuild(&m, "t").bytes;
        assert_eq!(a, rebuild(&m, "t").bytes);
        let s = String::from_utf8(a).expect("utf8");
        assert!(s.contains("filename*=UTF-8''na%C3%AFve.pdf"), "{s}");
        assert!(s.contains("Content-Type: application/pdf"), "{s}");
        let parsed = mail_parser::MessageParser::default()
            .parse(s.as_bytes())
            .expect("parses");
        assert_eq!(
            parsed
                .attachments()
                .next()
                .and_then(|a| a.attachment_name()),
            Some("naïve.pdf")
        );
    }
}
