//! Byte-level helpers: line endings, `b=` stripping and body canonicalisation (RFC 6376 §3.4).

use mail_auth::dkim::Canonicalization;
use std::borrow::Cow;

/// The bytes the vectorised loops take at a time (one bit each in a `u32` mask).
const WIDTH: usize = 32;

/// The message with every bare LF turned into CRLF (borrowed when there is none).
///
/// After the first bare LF, 32 bytes at a time: each CR to insert costs one fixed-size copy
/// (the header blocks of list mail are dozens of short lines, and a `memchr` and a copy per line
/// showed in the verify loop's profile).
pub fn to_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    const SLACK: usize = 3 * WIDTH;
    let Some(first) = memchr::memchr_iter(b'\n', raw).find(|&i| i == 0 || raw[i - 1] != b'\r')
    else {
        return Cow::Borrowed(raw);
    };
    let mut out = vec![0u8; raw.len() + raw.len() / 16 + SLACK];
    out[..first].copy_from_slice(&raw[..first]);
    let (mut k, mut p, mut prev_cr) = (first, first, false);
    let mut tail = [0u8; WIDTH];
    while p < raw.len() {
        if out.len() < k + SLACK {
            out.resize(out.len() * 2 + SLACK, 0);
        }
        let (bytes, len) = window(raw, p, &mut tail);
        let (cr, lf) = masks(bytes, b'\r', b'\r', b'\n');
        let mut padded = [0u8; 2 * WIDTH];
        padded[..WIDTH].copy_from_slice(bytes);
        let mut insert = lf & !((cr << 1) | u32::from(prev_cr)) & valid(len);
        let mut from = 0;
        while insert != 0 {
            let at = insert.trailing_zeros() as usize;
            out[k..k + WIDTH].copy_from_slice(&padded[from..from + WIDTH]);
            k += at - from;
            out[k] = b'\r';
            k += 1;
            from = at;
            insert &= insert - 1;
        }
        out[k..k + WIDTH].copy_from_slice(&padded[from..from + WIDTH]);
        k += len - from;
        prev_cr = cr >> (len - 1) & 1 == 1;
        p += len;
    }
    out.truncate(k);
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
    let mut from = 0;
    // memchr rather than a byte-by-byte `split`: the value is mostly the base64 of `b=`.
    for end in memchr::memchr_iter(b';', v).chain([v.len()]) {
        let seg = &v[from..end];
        if from > 0 {
            out.push(b';');
        }
        match memchr::memchr(b'=', seg) {
            Some(eq) if seg[..eq].trim_ascii() == b"b" => out.extend_from_slice(&seg[..=eq]),
            _ => out.extend_from_slice(seg),
        }
        from = end + 1;
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

/// RFC 6376 §3.4.4 over LF or CRLF lines. This is most of verification's non-RSA time, and list
/// mail (patches) has a tab or a run of blanks on most lines, so there is no "line unchanged"
/// shortcut: every byte is copied once, 32 at a time ([`Window`]).
///
/// Lines are found by the windows themselves rather than by a `memchr` per line: patch lines
/// are short, and a call per line plus a byte loop for each line's last partial window cost
/// more than the collapsing. With the header-side changes of the same session (`to_crlf`,
/// `header_end`) the verify loop on 1,693 signed linux-mips messages went from 0.080 to 0.068 s
/// (medians of 15 alternated runs, bench/results.md, session 23).
fn relaxed<D: sha2::Digest>(sink: &mut Sink<D>, raw: &[u8]) {
    const FLUSH: usize = 32 << 10;
    // `k` is the length of the canonical bytes in `out`; past it, `out` keeps at least
    // `Window::SLACK` bytes that windows may scribble on.
    // Sized for the body (zeroing 64 KiB for a 10 KiB body showed in profiles); it grows as
    // needed, so the size is only a guess.
    let mut out = vec![0u8; (raw.len() + raw.len() / 2 + Window::SLACK).min(FLUSH * 2)];
    let mut k = 0usize;
    let mut pending = 0usize;
    let mut tail = [0u8; WIDTH];
    let mut p = 0usize;
    while p < raw.len() {
        // One line: collapse window after window until a line feed or the end of the body.
        let (start, line_start) = (k, p);
        let mut line_end = raw.len();
        let mut prev_ws = false;
        loop {
            if out.len() < k + Window::SLACK {
                out.resize((out.len() * 2).max(k + Window::SLACK), 0);
            }
            let w = Window::at(raw, p, &mut tail);
            let n = w.line_len();
            k += w.collapse(n, &mut prev_ws, &mut out[k..]);
            p += n;
            if n < w.len {
                line_end = p;
                p += 1;
                break;
            }
            if p >= raw.len() {
                break;
            }
        }
        // The line's last bytes are judged from the input: reading them back from `out` right
        // after the overlapping window stores stalled on store forwarding (a tenth of the time).
        let (mut end, mut e) = (k, line_end);
        if e > line_start && raw[e - 1] == b'\r' {
            end -= 1;
            e -= 1;
        }
        if e > line_start && matches!(raw[e - 1], b' ' | b'\t') {
            // A trailing run of blanks, already one space.
            end -= 1;
        }
        if end == start {
            // Empty lines are held back: trailing ones are dropped.
            pending += 1;
            k = start;
            continue;
        }
        if pending > 0 {
            sink.put(&out[..start]);
            sink.put_crlfs(std::mem::take(&mut pending));
            out.copy_within(start..end, 0);
            end -= start;
        }
        out[end..end + 2].copy_from_slice(b"\r\n");
        k = end + 2;
        if k >= FLUSH {
            sink.put(&out[..k]);
            k = 0;
        }
    }
    sink.put(&out[..k]);
}

/// Up to 32 bytes of the body from one offset, with bit masks of its blanks (space or tab) and
/// line feeds. Near the end of the body the bytes are copied into a zero-padded block, so every
/// window is processed the same way.
struct Window<'a> {
    bytes: &'a [u8; WIDTH],
    /// How many of `bytes` are body.
    len: usize,
    blank: u32,
    lf: u32,
}

impl<'a> Window<'a> {
    const W: usize = WIDTH;
    /// What [`Window::collapse`] may write past the bytes it keeps.
    const SLACK: usize = 2 * Self::W;

    fn at(raw: &'a [u8], p: usize, tail: &'a mut [u8; WIDTH]) -> Self {
        let (bytes, len) = window(raw, p, tail);
        let (blank, lf) = masks(bytes, b' ', b'\t', b'\n');
        Window {
            bytes,
            len,
            blank,
            lf,
        }
    }

    /// The bytes before the first line feed, or all of them.
    fn line_len(&self) -> usize {
        if self.lf == 0 {
            self.len
        } else {
            self.lf.trailing_zeros() as usize
        }
    }

    /// Writes the first `n` bytes to `dst` (at least [`Window::SLACK`] long) with tabs made
    /// spaces and every blank after a blank dropped; returns the number kept. Each dropped byte
    /// costs one fixed-size copy of the rest, so the common line (a tab or two) takes a few
    /// vector moves instead of a loop over its bytes.
    fn collapse(&self, n: usize, prev_blank: &mut bool, dst: &mut [u8]) -> usize {
        if n == 0 {
            return 0;
        }
        let mut spaced = [0u8; 2 * Self::W];
        for (s, &b) in spaced.iter_mut().zip(self.bytes) {
            *s = if b == b'\t' { b' ' } else { b };
        }
        let blank = self.blank & valid(n);
        let mut drop = blank & ((blank << 1) | u32::from(*prev_blank));
        let (mut k, mut from) = (0usize, 0usize);
        while drop != 0 {
            let at = drop.trailing_zeros() as usize;
            dst[k..k + Self::W].copy_from_slice(&spaced[from..from + Self::W]);
            k += at - from;
            from = at + 1;
            drop &= drop - 1;
        }
        dst[k..k + Self::W].copy_from_slice(&spaced[from..from + Self::W]);
        k += n - from;
        *prev_blank = blank >> (n - 1) & 1 == 1;
        k
    }
}

/// The bytes of `raw` from `p` on: 32 of them, or the rest copied into the zero-padded `tail`;
/// and how many are `raw`'s.
fn window<'a>(raw: &'a [u8], p: usize, tail: &'a mut [u8; WIDTH]) -> (&'a [u8; WIDTH], usize) {
    match raw.get(p..p + WIDTH) {
        Some(b) => (b.try_into().expect("WIDTH bytes"), WIDTH),
        None => (pad(&raw[p..], tail), raw.len() - p),
    }
}

/// Out of line, so the common full window stays a plain load rather than a `memcpy` call.
#[inline(never)]
fn pad<'a>(rest: &[u8], tail: &'a mut [u8; WIDTH]) -> &'a [u8; WIDTH] {
    *tail = [0; WIDTH];
    tail[..rest.len()].copy_from_slice(rest);
    tail
}

/// The mask of a window's first `len` bytes.
fn valid(len: usize) -> u32 {
    if len >= WIDTH {
        u32::MAX
    } else {
        (1u32 << len) - 1
    }
}

/// Two bit masks of 32 bytes: bit `j` of the first is set where byte `j` is `a` or `b`, of the
/// second where it is `c`. One byte at a time: the reference for [`masks`], and the code for
/// targets without SSE2.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn masks_bytewise(bytes: &[u8; WIDTH], a: u8, b: u8, c: u8) -> (u32, u32) {
    let (mut ab, mut cc) = (0u32, 0u32);
    for (j, &x) in bytes.iter().enumerate() {
        ab |= u32::from((x == a) | (x == b)) << j;
        cc |= u32::from(x == c) << j;
    }
    (ab, cc)
}

/// [`masks_bytewise`] in SSE2 compares and movemasks: the compiler widens the byte loop into
/// shuffles instead, which made the masks most of `relaxed`'s time.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn masks(bytes: &[u8; WIDTH], a: u8, b: u8, c: u8) -> (u32, u32) {
    // SAFETY: SSE2 is part of the x86-64 baseline, so every x86-64 CPU has it; the function
    // itself reads only the array it is given.
    unsafe { masks_sse2(bytes, a, b, c) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[allow(unsafe_code)]
fn masks_sse2(bytes: &[u8; WIDTH], a: u8, b: u8, c: u8) -> (u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    #[target_feature(enable = "sse2")]
    fn bits(v: __m128i, a: u8, b: u8) -> u32 {
        let eq = _mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(a as i8)),
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8)),
        );
        _mm_movemask_epi8(eq) as u32 & 0xffff
    }
    // Loaded through a pointer: built with `_mm_set_epi8` from the bytes, the halves compiled
    // to a dozen shuffles each, not to one load (perf annotate). With the loads, `body_digest`
    // runs 21% fewer instructions (callgrind) and the verify loop over 1,693 signed messages is
    // 6-10% faster (two sets of alternated runs, bench/results.md, session 25).
    // SAFETY: both halves are 16 bytes inside `bytes`; `loadu` takes any alignment.
    let (lo, hi) = unsafe {
        (
            _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>()),
            _mm_loadu_si128(bytes.as_ptr().add(16).cast::<__m128i>()),
        )
    };
    (
        bits(lo, a, b) | bits(hi, a, b) << 16,
        bits(lo, c, c) | bits(hi, c, c) << 16,
    )
}

#[cfg(not(target_arch = "x86_64"))]
fn masks(bytes: &[u8; WIDTH], a: u8, b: u8, c: u8) -> (u32, u32) {
    masks_bytewise(bytes, a, b, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long lines span several 32-byte windows; random ones mix blanks, tabs and CRs at every
    /// offset, including across the window boundaries.
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
    fn vector_masks_equal_the_byte_loop() {
        let alphabet: &[u8] = b" \t\n\r\x00\xff\x89\xa0a";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut w = [0u8; 32];
            for b in &mut w {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = alphabet[(state % alphabet.len() as u64) as usize];
            }
            for (a, b, c) in [(b' ', b'\t', b'\n'), (b'\r', b'\r', b'\n')] {
                assert_eq!(masks(&w, a, b, c), masks_bytewise(&w, a, b, c), "{w:?}");
            }
        }
    }

    /// Against the line-by-line definition, on random mixes of CR, LF and text of every length
    /// around the window size.
    #[test]
    fn crlf_conversion_equals_the_byte_loop() {
        let by_bytes = |raw: &[u8]| {
            let mut out = Vec::new();
            for (i, &b) in raw.iter().enumerate() {
                if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
                    out.push(b'\r');
                }
                out.push(b);
            }
            out
        };
        let alphabet: &[u8] = b"\r\n\nabc";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..5000 {
            let len = round % 150;
            let raw: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(&*to_crlf(&raw), &by_bytes(&raw)[..], "{raw:?}");
        }
        let all_lf = b"\n".repeat(1000);
        assert_eq!(&*to_crlf(&all_lf), &b"\r\n".repeat(1000)[..]);
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
