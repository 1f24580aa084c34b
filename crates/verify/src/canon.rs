//! Byte-level helpers: line endings, `b=` stripping and body canonicalisation (RFC 6376 §3.4).

use mail_auth::dkim::Canonicalization;
use std::borrow::Cow;

/// The message with every bare LF turned into CRLF (borrowed when there is none).
pub fn to_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    let bare = |i: usize| i == 0 || raw[i - 1] != b'\r';
    if !memchr::memchr_iter(b'\n', raw).any(bare) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32 + 2);
    let mut from = 0;
    for i in memchr::memchr_iter(b'\n', raw).filter(|&i| bare(i)) {
        out.extend_from_slice(&raw[from..i]);
        out.extend_from_slice(b"\r");
        from = i;
    }
    out.extend_from_slice(&raw[from..]);
    Cow::Owned(out)
}

/// A signature header's value with the `b=` value deleted (with its surrounding whitespace) and
/// the trailing line break dropped, as it is hashed (RFC 6376 §3.7).
pub fn strip_b(value: &[u8]) -> Vec<u8> {
    let v = value
        .strip_suffix(b"\r\n")
        .or_else(|| value.strip_suffix(b"\n"))
        .unwrap_or(value);
    let mut out = Vec::with_capacity(v.len());
    for (i, seg) in v.split(|&c| c == b';').enumerate() {
        if i > 0 {
            out.push(b';');
        }
        if let Some(eq) = seg.iter().position(|&c| c == b'=')
            && seg[..eq].trim_ascii() == b"b"
        {
            out.extend_from_slice(&seg[..=eq]);
            continue;
        }
        out.extend_from_slice(seg);
    }
    out
}

/// The canonical body (RFC 6376 §3.4.3 and §3.4.4).
pub fn body(c: Canonicalization, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    match c {
        Canonicalization::Simple => {
            out.extend_from_slice(body);
            while out.ends_with(b"\r\n\r\n") {
                out.truncate(out.len() - 2);
            }
            if out == b"\r\n" || out.is_empty() {
                out.clear();
                out.extend_from_slice(b"\r\n");
            } else if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
        Canonicalization::Relaxed => {
            let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
            // The piece after the last LF is not a line unless it holds text.
            if lines.last().is_some_and(|l| l.is_empty()) {
                lines.pop();
            }
            for line in lines {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let mut in_ws = false;
                for &b in line {
                    if b == b' ' || b == b'\t' {
                        in_ws = true;
                    } else {
                        if in_ws {
                            out.push(b' ');
                            in_ws = false;
                        }
                        out.push(b);
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
            while out.ends_with(b"\r\n\r\n") {
                out.truncate(out.len() - 2);
            }
            if out == b"\r\n" {
                out.clear();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_only_where_missing() {
        assert_eq!(&*to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert!(matches!(to_crlf(b"a\r\nb\r\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn strips_only_the_b_tag() {
        let v = b" v=1; bh=abc=; b=XYZ\r\n  QRS; d=x\r\n";
        assert_eq!(strip_b(v), b" v=1; bh=abc=; b=; d=x".to_vec());
        assert_eq!(strip_b(b"a=1; b=zz"), b"a=1; b=".to_vec());
    }

    #[test]
    fn body_canonicalisation_matches_rfc_examples() {
        // RFC 6376 §3.4.5 example body.
        let b = b" C \r\nD \t E\r\n\r\n\r\n";
        assert_eq!(
            body(Canonicalization::Relaxed, b),
            b" C\r\nD E\r\n".to_vec()
        );
        assert_eq!(
            body(Canonicalization::Simple, b),
            b" C \r\nD \t E\r\n".to_vec()
        );
        assert_eq!(body(Canonicalization::Simple, b""), b"\r\n".to_vec());
        assert_eq!(body(Canonicalization::Relaxed, b""), b"".to_vec());
        assert_eq!(body(Canonicalization::Relaxed, b"x"), b"x\r\n".to_vec());
        // A last line of only whitespace is an empty line, and empty lines at the end go.
        assert_eq!(
            body(Canonicalization::Relaxed, b" \tx\r\n \r\n"),
            b" x\r\n".to_vec()
        );
    }
}
