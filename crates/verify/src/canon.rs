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

/// The canonical body (RFC 6376 §3.4.3 and §3.4.4), materialised: the reference that
/// [`body_digest`] is tested against.
#[cfg(test)]
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

/// Feeds canonical body bytes to a hash, stopping the hash at `limit` bytes (the `l=` tag) while
/// still counting the rest. Small pieces are gathered so the hash sees whole blocks.
struct Sink<D> {
    hash: D,
    buf: Vec<u8>,
    total: u64,
    limit: u64,
}

impl<D: sha2::Digest> Sink<D> {
    const GATHER: usize = 8 << 10;

    fn new(limit: u64) -> Self {
        Sink {
            hash: D::new(),
            buf: Vec::with_capacity(Self::GATHER),
            total: 0,
            limit: if limit == 0 { u64::MAX } else { limit },
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.total);
        self.total += bytes.len() as u64;
        let take = &bytes[..bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        if self.buf.len() + take.len() < Self::GATHER {
            self.buf.extend_from_slice(take);
        } else {
            self.hash.update(&self.buf);
            self.buf.clear();
            self.hash.update(take);
        }
    }

    fn put_crlfs(&mut self, n: usize) {
        for _ in 0..n {
            self.put(b"\r\n");
        }
    }

    fn finish(mut self) -> (Vec<u8>, u64) {
        self.hash.update(&self.buf);
        (self.hash.finalize().to_vec(), self.total)
    }
}

/// The hash of the canonical body and its length in bytes, straight from the body as stored
/// (LF or CRLF line ends), without building the canonical body: the result is that of hashing
/// `body(c, &to_crlf(raw))`, cut at `limit` canonical bytes when `limit > 0`.
pub fn body_digest<D: sha2::Digest>(c: Canonicalization, raw: &[u8], limit: u64) -> (Vec<u8>, u64) {
    let mut sink = Sink::<D>::new(limit);
    match c {
        Canonicalization::Simple => simple(&mut sink, raw),
        Canonicalization::Relaxed => relaxed(&mut sink, raw),
    }
    sink.finish()
}

/// RFC 6376 §3.4.3 over LF or CRLF lines. Empty lines are held back: trailing ones are dropped.
fn simple<D: sha2::Digest>(sink: &mut Sink<D>, raw: &[u8]) {
    let mut pending = 0;
    let mut any = false;
    let mut from = 0;
    let mut line = |content: &[u8], sink: &mut Sink<D>| {
        if content.is_empty() {
            pending += 1;
            return;
        }
        sink.put_crlfs(std::mem::take(&mut pending));
        sink.put(content);
        sink.put(b"\r\n");
        any = true;
    };
    for nl in memchr::memchr_iter(b'\n', raw) {
        let l = &raw[from..nl];
        line(l.strip_suffix(b"\r").unwrap_or(l), sink);
        from = nl + 1;
    }
    if from < raw.len() {
        // A last piece without a line break keeps a trailing CR: to_crlf leaves it alone.
        line(&raw[from..], sink);
    }
    if !any {
        // An empty body is one CRLF.
        sink.put(b"\r\n");
    }
}

/// RFC 6376 §3.4.4 over LF or CRLF lines, each line collapsed into `out` by `collapse`. This is
/// most of verification's non-RSA time, and list mail (patches) has a tab or a run of blanks on
/// most lines, so there is no "line unchanged" shortcut: every line is copied once.
fn relaxed<D: sha2::Digest>(sink: &mut Sink<D>, raw: &[u8]) {
    const FLUSH: usize = 32 << 10;
    let mut out: Vec<u8> = Vec::with_capacity(FLUSH * 2);
    let mut pending = 0usize;
    let mut line = |l: &[u8], out: &mut Vec<u8>, sink: &mut Sink<D>| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let start = out.len();
        out.resize(start + l.len() + 2, 0);
        let mut end = start + collapse(l, &mut out[start..]);
        if end > start && out[end - 1] == b' ' {
            // A trailing run of blanks, already one space.
            end -= 1;
        }
        if end == start {
            // Empty lines are held back: trailing ones are dropped.
            pending += 1;
            out.truncate(start);
            return;
        }
        if pending > 0 {
            sink.put(&out[..start]);
            sink.put_crlfs(std::mem::take(&mut pending));
            out.copy_within(start..end, 0);
            end -= start;
        }
        out.truncate(end);
        out.extend_from_slice(b"\r\n");
        if out.len() >= FLUSH {
            sink.put(out);
            out.clear();
        }
    };
    let mut from = 0;
    for nl in memchr::memchr_iter(b'\n', raw) {
        line(&raw[from..nl], &mut out, sink);
        from = nl + 1;
    }
    if from < raw.len() {
        // The piece after the last line break is a line when it holds anything.
        line(&raw[from..], &mut out, sink);
    }
    sink.put(&out);
}

/// Copies `line` into `dst` (at least as long) with every run of blanks and tabs made one space;
/// returns the length written. A 32-byte stretch with neither a tab nor two blanks in a row is
/// found by a test the compiler vectorises and copied whole; other bytes go one at a time,
/// without a branch on the data. On linux-mips (short patch lines) the gain over the plain byte
/// loop was within noise (verify loop 0.100–0.105 s → 0.093–0.101 s); long lines of prose take
/// the whole-stretch path.
fn collapse(line: &[u8], dst: &mut [u8]) -> usize {
    const W: usize = 32;
    let (mut k, mut prev_ws) = (0, false);
    let step = |b: u8, dst: &mut [u8], k: &mut usize, prev_ws: &mut bool| {
        let ws = (b == b' ') | (b == b'\t');
        dst[*k] = if ws { b' ' } else { b };
        *k += usize::from(!(ws & *prev_ws));
        *prev_ws = ws;
    };
    let mut chunks = line.chunks_exact(W);
    for c in &mut chunks {
        let tab = c.iter().fold(false, |a, &b| a | (b == b'\t'));
        let pair = c
            .iter()
            .zip(&c[1..])
            .fold(false, |a, (&x, &y)| a | ((x == b' ') & (y == b' ')));
        if !(tab | pair | (prev_ws & (c[0] == b' '))) {
            dst[k..k + W].copy_from_slice(c);
            k += W;
            prev_ws = c[W - 1] == b' ';
            continue;
        }
        for &b in c {
            step(b, dst, &mut k, &mut prev_ws);
        }
    }
    for &b in chunks.remainder() {
        step(b, dst, &mut k, &mut prev_ws);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long lines take `collapse`'s 32-byte path; random ones mix blanks, tabs and CRs at every
    /// offset, including across the 32-byte boundaries.
    #[test]
    fn streamed_digest_equals_the_canonical_body_on_long_random_lines() {
        use sha2::{Digest, Sha256};
        let alphabet: &[u8] = b"aaaaaaaabbbbbbbcc  \t\r\n";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let len = (next() % 400) as usize;
            // Some bodies have long runs without line breaks or blanks.
            let plain = round % 3 == 0;
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next() as usize;
                    if plain && !r.is_multiple_of(8) {
                        b'x'
                    } else {
                        alphabet[r % alphabet.len()]
                    }
                })
                .collect();
            for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
                let full = body(c, &to_crlf(&b));
                let want = (Sha256::digest(&full).to_vec(), full.len() as u64);
                assert_eq!(body_digest::<Sha256>(c, &b, 0), want, "{c:?} {b:?}");
            }
        }
    }

    /// The streaming digest must equal hashing the materialised canonical body of the CRLF
    /// message, for every combination of line ends, blanks and trailing lines.
    #[test]
    fn streamed_digest_equals_the_canonical_body() {
        use sha2::{Digest, Sha256};
        let atoms: [&[u8]; 9] = [
            b"a", b" ", b"\t", b"\n", b"\r\n", b"\r", b"xy", b"  ", b"\n\n",
        ];
        // Every sequence of up to 5 atoms, counted in base 9.
        let mut bodies: Vec<Vec<u8>> = vec![vec![]];
        for len in 1..=5u32 {
            for mut n in 0..9usize.pow(len) {
                let mut b = Vec::new();
                for _ in 0..len {
                    b.extend_from_slice(atoms[n % 9]);
                    n /= 9;
                }
                bodies.push(b);
            }
        }
        bodies.push(b"line one  \t end \r\nline two\n\n \n".repeat(2000));
        for b in &bodies {
            for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
                let full = body(c, &to_crlf(b));
                for limit in [0u64, 1, 3, full.len() as u64] {
                    let cut = if limit == 0 {
                        full.len()
                    } else {
                        (limit as usize).min(full.len())
                    };
                    let want = (Sha256::digest(&full[..cut]).to_vec(), full.len() as u64);
                    assert_eq!(
                        body_digest::<Sha256>(c, b, limit),
                        want,
                        "{c:?} {limit} {b:?}"
                    );
                }
            }
        }
    }

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
