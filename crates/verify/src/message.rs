//! A message as the verifier reads it: the header block, converted to CRLF and parsed by
//! mail-auth, and the body left as stored, hashed on demand.
//!
//! Converting and handing the whole message to mail-auth would copy the body once and hash it
//! once per (canonicalisation, hash) pair with its own canonicaliser; the body is most of the
//! bytes, so only the header block goes through mail-auth, and [`Message::body_hash`] hashes the
//! stored body in one pass ([`canon::body_digest`]), once per distinct request.

use crate::canon;
use mail_auth::AuthenticatedMessage;
use mail_auth::common::crypto::HashAlgorithm;
use mail_auth::dkim::Canonicalization;
use std::borrow::Cow;
use std::cell::RefCell;

/// The bytes a [`Message`] borrows from.
pub(crate) struct Source<'a> {
    /// The header block in CRLF (blank line included), or the whole message in CRLF.
    text: Cow<'a, [u8]>,
    /// The body as stored, when `text` is the header block only.
    body: Option<&'a [u8]>,
}

impl<'a> Source<'a> {
    /// Splits at the first empty line; only the header block is converted.
    pub fn split(raw: &'a [u8]) -> Self {
        let at = header_end(raw);
        Source {
            text: canon::to_crlf(&raw[..at]),
            body: Some(&raw[at..]),
        }
    }

    /// The whole message converted, for the rare header block mail-auth ends elsewhere.
    pub fn whole(raw: &'a [u8]) -> Self {
        Source {
            text: canon::to_crlf(raw),
            body: None,
        }
    }

    /// `None` for a message without headers, `Err` when mail-auth ends the header block at
    /// another place than the first empty line (then parse [`Source::whole`] instead).
    pub fn parse(&self) -> Option<Result<Message<'_>, NeedWhole>> {
        let auth = AuthenticatedMessage::parse_with_opts(&self.text, None, false)?;
        let end = (auth.body_offset as usize).min(self.text.len());
        let body = match self.body {
            None => &self.text[end..],
            Some(body) if end == self.text.len() => body,
            Some(_) => return Some(Err(NeedWhole)),
        };
        Some(Ok(Message {
            auth,
            body,
            hashes: RefCell::new(Vec::new()),
        }))
    }
}

/// Where the body starts: after the first empty line (LF or CRLF), or at the end. Two
/// substring searches rather than a `memchr` per header line, which showed in profiles; the
/// second is bounded by the first, so the body is scanned only when the headers end in CRLF.
fn header_end(raw: &[u8]) -> usize {
    if raw.starts_with(b"\n") {
        return 1;
    }
    if raw.starts_with(b"\r\n") {
        return 2;
    }
    let lf = memchr::memmem::find(raw, b"\n\n").map(|i| i + 2);
    let upto = lf.map_or(raw.len(), |e| e - 1);
    memchr::memmem::find(&raw[..upto], b"\n\r\n")
        .map(|i| i + 3)
        .or(lf)
        .unwrap_or(raw.len())
}

/// mail-auth disagrees with [`Source::split`] about where the headers end.
pub(crate) struct NeedWhole;

/// Parses `raw`, splitting it when that is safe, and runs `f` on the result.
pub(crate) fn with_message<T>(raw: &[u8], f: impl FnOnce(Option<&Message<'_>>) -> T) -> T {
    let split = Source::split(raw);
    match split.parse() {
        Some(Ok(m)) => f(Some(&m)),
        None => f(None),
        Some(Err(NeedWhole)) => {
            let whole = Source::whole(raw);
            match whole.parse() {
                Some(Ok(m)) => f(Some(&m)),
                _ => f(None),
            }
        }
    }
}

type HashKey = (Canonicalization, HashAlgorithm, u64);
/// A body hash and the canonical body's length.
type BodyHash = (Vec<u8>, u64);

pub(crate) struct Message<'a> {
    pub auth: AuthenticatedMessage<'a>,
    /// The body as stored (LF or CRLF).
    pub body: &'a [u8],
    hashes: RefCell<Vec<(HashKey, BodyHash)>>,
}

impl<'a> std::ops::Deref for Message<'a> {
    type Target = AuthenticatedMessage<'a>;
    fn deref(&self) -> &Self::Target {
        &self.auth
    }
}

impl Message<'_> {
    /// The body hash for `c`, `ha` and `l=` (0 for the whole body), and the canonical body's
    /// full length. Signatures sharing the three (a DKIM signature and an ARC message signature
    /// usually do) share one computation.
    pub fn body_hash(&self, c: Canonicalization, ha: HashAlgorithm, l: u64) -> BodyHash {
        let key = (c, ha, l);
        if let Some((_, v)) = self.hashes.borrow().iter().find(|(k, _)| *k == key) {
            return v.clone();
        }
        let v = match ha {
            HashAlgorithm::Sha1 => canon::body_digest::<sha1::Sha1>(c, self.body, l),
            HashAlgorithm::Sha256 => canon::body_digest::<sha2::Sha256>(c, self.body, l),
        };
        self.hashes.borrow_mut().push((key, v.clone()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_empty_line_and_converts_only_the_headers() {
        let raw = b"From: a@b\nSubject: x\n\nbody\n\nmore\n";
        let s = Source::split(raw);
        let Some(Ok(m)) = s.parse() else {
            panic!("headers should parse")
        };
        assert_eq!(m.body, b"body\n\nmore\n");
        assert_eq!(m.headers.len(), 2);
        // No body at all, and a message that is all headers.
        with_message(b"From: a@b\n", |m| {
            assert_eq!(m.map(|m| m.body.len()), Some(0))
        });
        with_message(b"\nbody only\n", |m| assert!(m.is_none()));
    }

    /// Against the line-by-line definition, on every mix of line ends.
    #[test]
    fn the_header_block_ends_at_the_first_empty_line() {
        let by_lines = |raw: &[u8]| {
            let mut from = 0;
            for nl in memchr::memchr_iter(b'\n', raw) {
                let line = &raw[from..nl];
                from = nl + 1;
                if line.is_empty() || line == b"\r" {
                    return from;
                }
            }
            raw.len()
        };
        let atoms: [&[u8]; 4] = [b"a", b"\n", b"\r", b"\r\n"];
        for len in 0..=7u32 {
            for mut n in 0..4usize.pow(len) {
                let mut raw = Vec::new();
                for _ in 0..len {
                    raw.extend_from_slice(atoms[n % 4]);
                    n /= 4;
                }
                assert_eq!(header_end(&raw), by_lines(&raw), "{raw:?}");
            }
        }
    }

    #[test]
    fn the_body_hash_is_that_of_the_crlf_message() {
        use sha2::Digest;
        let raw = b"From: a@b\n\nHello  world \n\n\n";
        with_message(raw, |m| {
            let m = m.unwrap();
            let (h, len) = m.body_hash(Canonicalization::Relaxed, HashAlgorithm::Sha256, 0);
            assert_eq!(len, 13);
            assert_eq!(h, sha2::Sha256::digest(b"Hello world\r\n").to_vec());
            // Asked again, the same answer (from the memo).
            assert_eq!(
                m.body_hash(Canonicalization::Relaxed, HashAlgorithm::Sha256, 0),
                (h, 13)
            );
        });
    }
}
