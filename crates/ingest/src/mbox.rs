//! A streaming mbox splitter for every common variant.
//!
//! - mboxo / mboxrd: messages separated by `From ` postmark lines; one level of `>From ` quoting
//!   is removed (exact for mboxrd, the usual reading for mboxo). The variant is recorded as mboxrd
//!   when a message carries `>>From ` lines, which only mboxrd writers produce.
//! - mboxcl / mboxcl2: a `Content-Length:` header gives the body size. It is trusted only when the
//!   byte count lands exactly on a separator or the end of the file; otherwise the message is
//!   split at postmarks and the mismatch becomes a finding.
//!
//! LF and CRLF files both work, lines are read with a cap so a file without newlines cannot
//! exhaust memory, and message bodies spill to disk past the in-memory limit.

use crate::detect::{is_postmark_loose, is_postmark_strict, trim_eol};
use crate::unit::{Payload, SpillBuf};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use trove_model::SourceFormat;

/// Longest line read in one piece; longer lines are read in chunks (never a postmark).
const LINE_CAP: u64 = 1 << 20;

pub struct MboxMessage {
    /// Byte offset of the postmark line in the (decompressed) mbox stream.
    pub offset: u64,
    pub payload: Payload,
    pub variant: SourceFormat,
    /// Problems that did not stop the split, e.g. a wrong Content-Length.
    pub findings: Vec<String>,
}

struct Lines<R: Read> {
    inner: BufReader<R>,
    pushback: Vec<Vec<u8>>,
    offset: u64,
}

impl<R: Read> Lines<R> {
    /// The next line including its terminator, or None at the end.
    fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        if let Some(l) = self.pushback.pop() {
            self.offset += l.len() as u64;
            return Ok(Some(l));
        }
        let mut buf = Vec::new();
        (&mut self.inner)
            .take(LINE_CAP)
            .read_until(b'\n', &mut buf)?;
        if buf.is_empty() {
            return Ok(None);
        }
        self.offset += buf.len() as u64;
        Ok(Some(buf))
    }

    fn unread(&mut self, line: Vec<u8>) {
        self.offset -= line.len() as u64;
        self.pushback.push(line);
    }
}

fn is_blank(line: &[u8]) -> bool {
    trim_eol(line).is_empty()
}

/// `>From `, `>>From ` …: returns how many `>` precede `From `.
fn quote_depth(line: &[u8]) -> usize {
    let n = line.iter().take_while(|&&b| b == b'>').count();
    if n > 0 && line[n..].starts_with(b"From ") {
        n
    } else {
        0
    }
}

fn content_length(line: &[u8]) -> Option<u64> {
    let l = trim_eol(line);
    if l.len() < 15 || !l[..15].eq_ignore_ascii_case(b"content-length:") {
        return None;
    }
    std::str::from_utf8(&l[15..]).ok()?.trim().parse().ok()
}

/// Splits an mbox stream, calling `emit` for each message in order.
pub fn split<R: Read, E>(
    reader: R,
    in_memory_limit: u64,
    head_len: usize,
    tmp_dir: &Path,
    mut emit: impl FnMut(MboxMessage) -> Result<(), E>,
) -> Result<Result<(), E>, io::Error> {
    let mut lines = Lines {
        inner: BufReader::with_capacity(256 * 1024, reader),
        pushback: vec![],
        offset: 0,
    };
    // Skip anything before the first postmark (detection guarantees there is one at the start of
    // a file, but a stream may carry leading blank lines).
    let mut postmark_offset;
    loop {
        postmark_offset = lines.offset;
        match lines.next()? {
            None => return Ok(Ok(())),
            Some(l) if l.starts_with(b"From ") => break,
            Some(_) => continue,
        }
    }
    loop {
        let mut buf = SpillBuf::new(in_memory_limit, head_len, tmp_dir);
        let mut findings = Vec::new();
        let mut in_headers = true;
        let mut cl: Option<u64> = None;
        let mut rd_quoting = false;
        let mut used_cl = false;
        let mut pending_blank: Option<Vec<u8>> = None;
        let mut next_postmark: Option<u64> = None;
        loop {
            let line_offset = lines.offset;
            let Some(line) = lines.next()? else { break };
            if in_headers {
                if is_blank(&line) {
                    in_headers = false;
                    buf.push(&line)?;
                    if let Some(n) = cl.filter(|&n| n <= in_memory_limit) {
                        match try_content_length(&mut lines, n)? {
                            Some(body) => {
                                buf.push(&body)?;
                                used_cl = true;
                                next_postmark = Some(lines.offset);
                                // The next line, if any, is the postmark (consumed below).
                                break;
                            }
                            None => findings.push(format!(
                                "Content-Length: {n} does not end at a message boundary; split \
                                 at From lines instead"
                            )),
                        }
                    }
                    continue;
                }
                if line.starts_with(b"From ") && is_postmark_strict(&line) {
                    // A message with no body and no blank line: the next postmark follows at once.
                    next_postmark = Some(line_offset);
                    break;
                }
                if cl.is_none() {
                    cl = content_length(&line);
                }
                buf.push(&line)?;
                continue;
            }
            if line.starts_with(b"From ")
                && ((pending_blank.is_some() && is_postmark_loose(&line))
                    || is_postmark_strict(&line))
            {
                next_postmark = Some(line_offset);
                break;
            }
            if let Some(b) = pending_blank.take() {
                buf.push(&b)?;
            }
            if is_blank(&line) {
                pending_blank = Some(line);
                continue;
            }
            match quote_depth(&line) {
                0 => buf.push(&line)?,
                d => {
                    rd_quoting |= d > 1;
                    buf.push(&line[1..])?;
                }
            }
        }
        let variant = if used_cl {
            SourceFormat::Mboxcl
        } else if rd_quoting {
            SourceFormat::Mboxrd
        } else {
            SourceFormat::Mboxo
        };
        let msg = MboxMessage {
            offset: postmark_offset,
            payload: buf.finish()?,
            variant,
            findings,
        };
        if let Err(e) = emit(msg) {
            return Ok(Err(e));
        }
        match next_postmark {
            None => return Ok(Ok(())),
            Some(off) => {
                postmark_offset = off;
                if used_cl {
                    // Consume the postmark line that follows a Content-Length body.
                    match lines.next()? {
                        None => return Ok(Ok(())),
                        Some(l) if l.starts_with(b"From ") => {}
                        Some(l) => lines.unread(l),
                    }
                }
            }
        }
    }
}

/// Reads exactly `n` body bytes if they end on a separator (blank line + postmark, a postmark, or
/// the end of the stream). On success returns the body and leaves the reader at the postmark; on
/// failure pushes everything back.
fn try_content_length<R: Read>(lines: &mut Lines<R>, n: u64) -> io::Result<Option<Vec<u8>>> {
    let mut taken: Vec<Vec<u8>> = Vec::new();
    let mut got = 0u64;
    while got < n {
        match lines.next()? {
            Some(l) => {
                got += l.len() as u64;
                taken.push(l);
            }
            None => break,
        }
    }
    let mut ok = got == n;
    let mut lookahead: Vec<Vec<u8>> = Vec::new();
    if ok {
        match lines.next()? {
            None => {}
            Some(l) if is_postmark_loose(&l) => lookahead.push(l),
            Some(l) if is_blank(&l) => match lines.next()? {
                None => {}
                Some(l2) if is_postmark_loose(&l2) => lookahead.push(l2),
                Some(l2) => {
                    ok = false;
                    lookahead.push(l);
                    lookahead.push(l2);
                }
            },
            Some(l) => {
                ok = false;
                lookahead.push(l);
            }
        }
    }
    if ok {
        // Leave the postmark (if any) for the caller.
        for l in lookahead.into_iter().rev() {
            lines.unread(l);
        }
        return Ok(Some(taken.concat()));
    }
    for l in lookahead.into_iter().rev() {
        lines.unread(l);
    }
    for l in taken.into_iter().rev() {
        lines.unread(l);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(data: &[u8]) -> Vec<(u64, Vec<u8>, SourceFormat, usize)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut out = vec![];
        split(
            data,
            1 << 20,
            4096,
            dir.path(),
            |m: MboxMessage| -> Result<(), ()> {
                let Payload::Mem(v) = m.payload else {
                    panic!("spilled")
                };
                out.push((m.offset, v, m.variant, m.findings.len()));
                Ok(())
            },
        )
        .expect("io")
        .expect("emit");
        out
    }

    #[test]
    fn mboxo_with_quoted_from_and_lf() {
        let data = b"From a@x Mon Jan  1 00:00:00 2001\nSubject: one\n\nhello\n>From here\n\n\
From b@x Mon Jan  1 00:00:01 2001\nSubject: two\n\nbye\n\n";
        let m = split_all(data);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1, b"Subject: one\n\nhello\nFrom here\n");
        assert_eq!(m[0].2, SourceFormat::Mboxo);
        assert_eq!(m[1].0, 66);
        assert_eq!(m[1].1, b"Subject: two\n\nbye\n");
    }

    #[test]
    fn mboxrd_is_recognised_by_double_quoting_and_unquoted_one_level() {
        let data =
            b"From a@x Mon Jan  1 00:00:00 2001\r\nSubject: one\r\n\r\n>>From x\r\n>From y\r\n\r\n";
        let m = split_all(data);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].1, b"Subject: one\r\n\r\n>From x\r\nFrom y\r\n");
        assert_eq!(m[0].2, SourceFormat::Mboxrd);
    }

    #[test]
    fn content_length_keeps_unquoted_from_lines_in_the_body() {
        let body = b"line\n\nFrom the start, unquoted\n";
        let mut data = format!(
            "From a@x Mon Jan  1 00:00:00 2001\nContent-Length: {}\nSubject: cl\n\n",
            body.len()
        )
        .into_bytes();
        data.extend_from_slice(body);
        data.extend_from_slice(b"\nFrom b@x Mon Jan  1 00:00:01 2001\nSubject: next\n\nx\n");
        let m = split_all(&data);
        assert_eq!(
            m.len(),
            2,
            "{m:?}",
            m = m.iter().map(|x| x.1.len()).collect::<Vec<_>>()
        );
        assert!(m[0].1.ends_with(b"From the start, unquoted\n"));
        assert_eq!(m[0].2, SourceFormat::Mboxcl);
        assert_eq!(m[1].1, b"Subject: next\n\nx\n");
    }

    #[test]
    fn a_wrong_content_length_falls_back_to_postmarks_with_a_finding() {
        let data =
            b"From a@x Mon Jan  1 00:00:00 2001\nContent-Length: 3\nSubject: a\n\nhello world\n\n\
From b@x Mon Jan  1 00:00:01 2001\nSubject: b\n\nx\n";
        let m = split_all(data);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1, b"Content-Length: 3\nSubject: a\n\nhello world\n");
        assert_eq!(m[0].3, 1);
    }

    #[test]
    fn a_stray_from_line_inside_a_paragraph_does_not_split() {
        let data = b"From a@x Mon Jan  1 00:00:00 2001\nSubject: a\n\ntext\nFrom the start\n";
        assert_eq!(split_all(data).len(), 1);
    }
}
