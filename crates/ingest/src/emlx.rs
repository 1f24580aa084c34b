//! Apple Mail `.emlx` and `.partial.emlx` files.
//!
//! An emlx is a byte count on its own line, that many bytes of RFC 5322 message, then an XML
//! property list (flags, dates). A *partial* emlx leaves some MIME parts empty, each marked with
//! `X-Apple-Content-Length`; Apple Mail keeps those parts as files under
//! `Attachments/<id>/<part>/` beside the `Messages` folder, numbered as IMAP numbers body parts.
//! We put the stored parts back into their places (re-encoded with the part's own
//! Content-Transfer-Encoding) and say which parts are missing; nothing else changes.

use base64::Engine;
use std::path::{Path, PathBuf};

/// The message and trailer of an emlx.
pub struct Emlx<'a> {
    /// Where the message starts in the file (after the byte-count line).
    pub offset: usize,
    pub message: &'a [u8],
    /// The plist's `flags` value, if any.
    pub flags: Option<u64>,
    /// Set when the byte count does not match the file.
    pub count_problem: Option<String>,
}

/// True when `head` starts like an emlx: a decimal byte count alone on the first line, then a
/// header block.
pub fn looks_like_emlx(head: &[u8]) -> bool {
    let Some(nl) = head.iter().take(32).position(|&b| b == b'\n') else {
        return false;
    };
    let first = head[..nl].trim_ascii();
    !first.is_empty()
        && first.len() <= 12
        && first.iter().all(u8::is_ascii_digit)
        && crate::detect::looks_like_header_block(&head[nl + 1..])
}

pub fn split(file: &[u8]) -> Option<Emlx<'_>> {
    let nl = file.iter().take(32).position(|&b| b == b'\n')?;
    let count: usize = std::str::from_utf8(file[..nl].trim_ascii())
        .ok()?
        .parse()
        .ok()?;
    let offset = nl + 1;
    let rest = &file[offset..];
    let plist_at = |from: usize| {
        rest.get(from..)
            .and_then(|r| r.windows(6).position(|w| w == b"<?xml ").map(|p| from + p))
    };
    let (message, count_problem) = if count <= rest.len() {
        (&rest[..count], None)
    } else {
        // A byte count past the end: the message runs to the property list, or to the end.
        let end = plist_at(0).unwrap_or(rest.len());
        (
            &rest[..end],
            Some(format!(
                "the byte count says {count} bytes but only {} follow; the message was read up to {}",
                rest.len(),
                if end < rest.len() {
                    "the property list"
                } else {
                    "the end of the file"
                }
            )),
        )
    };
    let trailer = &rest[message.len()..];
    Some(Emlx {
        offset,
        message,
        flags: plist_flags(trailer),
        count_problem,
    })
}

fn plist_flags(trailer: &[u8]) -> Option<u64> {
    let t = std::str::from_utf8(trailer).ok()?;
    let after = &t[t.find("<key>flags</key>")? + 16..];
    let start = after.find("<integer>")? + 9;
    let end = after[start..].find("</integer>")? + start;
    after[start..end].trim().parse().ok()
}

/// Apple Mail's flag bits as maildir letters: read, deleted, answered, flagged, draft,
/// forwarded.
pub fn maildir_flags(flags: u64) -> String {
    let mut s = String::new();
    for (bit, c) in [(6, 'D'), (4, 'F'), (8, 'P'), (2, 'R'), (0, 'S'), (1, 'T')] {
        if flags & (1 << bit) != 0 {
            s.push(c);
        }
    }
    s
}

/// The folder holding the parts of message `file` (`.../Messages/123.partial.emlx` →
/// `.../Attachments/123`), when it exists.
pub fn attachments_dir(file: &Path) -> Option<PathBuf> {
    let id = file.file_name()?.to_str()?.split('.').next()?.to_string();
    let messages = file.parent()?;
    let dir = messages.parent()?.join("Attachments").join(id);
    dir.is_dir().then_some(dir)
}

pub struct Filled {
    pub message: Vec<u8>,
    /// Parts put back, as `part number → file name`.
    pub filled: Vec<(String, String)>,
    /// Parts left empty because no stored file was found.
    pub missing: Vec<String>,
}

/// Puts the stored parts of a partial message back. `dir` is its `Attachments/<id>` folder.
pub fn fill_parts(message: &[u8], dir: Option<&Path>) -> Filled {
    let mut f = Filled {
        message: Vec::with_capacity(message.len()),
        filled: vec![],
        missing: vec![],
    };
    fill_entity(message, "", dir, &mut f, 0);
    f
}

/// Splits an entity at its header/body blank line.
fn header_end(e: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < e.len() {
        let line_end = e[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(e.len(), |p| i + p + 1);
        let line = &e[i..line_end];
        if line == b"\n" || line == b"\r\n" {
            return Some((i, line_end));
        }
        i = line_end;
    }
    None
}

/// The value of header `name` (unfolded), from a header block.
fn header(headers: &str, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for line in headers.lines() {
        if let Some(v) = out.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            out = Some(v.trim().to_string());
        }
    }
    out
}

fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn fill_entity(e: &[u8], number: &str, dir: Option<&Path>, f: &mut Filled, depth: usize) {
    let Some((hend, bstart)) = header_end(e) else {
        f.message.extend_from_slice(e);
        return;
    };
    let headers = String::from_utf8_lossy(&e[..hend]).to_string();
    let body = &e[bstart..];
    let ctype = header(&headers, "content-type").unwrap_or_default();
    let boundary = param(&ctype, "boundary");
    if ctype.to_ascii_lowercase().starts_with("multipart/")
        && let Some(b) = boundary
        && depth < 32
    {
        f.message.extend_from_slice(&e[..bstart]);
        fill_multipart(body, &b, number, dir, f, depth);
        return;
    }
    let apple_len = header(&headers, "x-apple-content-length");
    if apple_len.is_none() || !body.trim_ascii().is_empty() {
        f.message.extend_from_slice(e);
        return;
    }
    let number = if number.is_empty() { "1" } else { number };
    let stored = dir.and_then(|d| {
        let part_dir = d.join(number);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&part_dir)
            .ok()?
            .filter_map(|x| x.ok().map(|x| x.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files.into_iter().next()
    });
    let Some(path) = stored.filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() <= 1 << 30))
    else {
        f.missing.push(number.to_string());
        f.message.extend_from_slice(e);
        return;
    };
    let Ok(bytes) = std::fs::read(&path) else {
        f.missing.push(number.to_string());
        f.message.extend_from_slice(e);
        return;
    };
    let cte = header(&headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    f.message.extend_from_slice(&e[..bstart]);
    match cte.as_str() {
        "base64" => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            for line in b64.as_bytes().chunks(76) {
                f.message.extend_from_slice(line);
                f.message.push(b'\n');
            }
        }
        "quoted-printable" => f.message.extend_from_slice(&quoted_printable(&bytes)),
        _ => {
            f.message.extend_from_slice(&bytes);
            if !bytes.ends_with(b"\n") {
                f.message.push(b'\n');
            }
        }
    }
    // Keep the blank line that separated the part from the next boundary.
    f.message.extend_from_slice(b"\n");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    f.filled.push((number.to_string(), name));
}

fn fill_multipart(
    body: &[u8],
    boundary: &str,
    number: &str,
    dir: Option<&Path>,
    f: &mut Filled,
    depth: usize,
) {
    let delim = format!("--{boundary}");
    // Line starts of every delimiter line.
    let mut marks = vec![];
    let mut i = 0;
    while i < body.len() {
        let end = body[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| i + p + 1);
        if body[i..end].starts_with(delim.as_bytes()) {
            marks.push((i, end));
        }
        i = end;
    }
    if marks.is_empty() {
        f.message.extend_from_slice(body);
        return;
    }
    f.message.extend_from_slice(&body[..marks[0].1]);
    for (n, w) in marks.windows(2).enumerate() {
        let part = &body[w[0].1..w[1].0];
        let child = if number.is_empty() {
            format!("{}", n + 1)
        } else {
            format!("{number}.{}", n + 1)
        };
        fill_entity(part, &child, dir, f, depth + 1);
        f.message.extend_from_slice(&body[w[1].0..w[1].1]);
    }
    let last = marks[marks.len() - 1].1;
    f.message.extend_from_slice(&body[last..]);
}

/// Quoted-printable (RFC 2045) with soft breaks at 76 columns.
fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 11 / 10);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let (content, eol) = match line.strip_suffix(b"\n") {
            Some(c) => (c.strip_suffix(b"\r").unwrap_or(c), true),
            None => (line, false),
        };
        let mut col = 0;
        for (i, &b) in content.iter().enumerate() {
            let last = i + 1 == content.len();
            let enc = !(b == b'\t' || (b' '..=b'~').contains(&b))
                || b == b'='
                || (last && (b == b' ' || b == b'\t'));
            let piece_len = if enc { 3 } else { 1 };
            if col + piece_len > 75 {
                out.extend_from_slice(b"=\n");
                col = 0;
            }
            if enc {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            } else {
                out.push(b);
            }
            col += piece_len;
        }
        if eol {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_count_message_and_flags() {
        let f = b"12\nA: b\n\nhello\n<?xml version=\"1.0\"?><plist><dict><key>flags</key><integer>17</integer></dict></plist>";
        let e = split(f).expect("emlx");
        assert_eq!(e.message, b"A: b\n\nhello\n");
        assert_eq!(e.flags, Some(17));
        assert_eq!(maildir_flags(17), "FS");
        assert!(e.count_problem.is_none());
        let long = b"99\nA: b\n\nhi\n<?xml version=\"1.0\"?><plist/>";
        let e = split(long).expect("emlx");
        assert_eq!(e.message, b"A: b\n\nhi\n");
        assert!(e.count_problem.expect("flagged").contains("99"));
    }

    #[test]
    fn qp_round_trips_through_mail_parser() {
        let text = "caf\u{e9} = ok \nline two with a very long run of words that goes past the seventy-six column limit for sure\n";
        let msg = [
            b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n".as_slice(),
            &quoted_printable(text.as_bytes()),
        ]
        .concat();
        let m = mail_parser::MessageParser::default()
            .parse(&msg)
            .expect("parses");
        assert_eq!(m.body_text(0).as_deref(), Some(text));
    }
}
