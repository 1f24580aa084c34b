//! The walker side of Apple Mail `.emlx`: the message is streamed out of its wrapper (byte
//! count, property list); a partial message gets its stored parts back and becomes a
//! reconstructed item that names what it filled and what is missing.

use crate::emlx;
use crate::unit::{Payload, RawUnit, SpillBuf};
use crate::walk::{Cancelled, Event, Walker, copy_into, describe_io};
use std::io::{Cursor, Read};
use std::path::Path;
use trove_model::{Finding, Provenance, SourceContext, SourceFormat};

/// How much of the trailer (the property list) is read for the flags.
const MAX_TRAILER: u64 = 1 << 20;

impl Walker<'_> {
    pub(crate) fn read_emlx(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
    ) -> Result<bool, Cancelled> {
        let Some(nl) = head.iter().take(32).position(|&b| b == b'\n') else {
            self.skip(label, "not an emlx: no byte-count line")?;
            return Ok(true);
        };
        let count: u64 = String::from_utf8_lossy(&head[..nl])
            .trim()
            .parse()
            .unwrap_or(0);
        let offset = nl as u64 + 1;
        let mut all = Cursor::new(head).chain(rest);
        let mut skip = vec![0u8; offset as usize];
        if let Err(e) = all.read_exact(&mut skip) {
            self.skip(label, describe_io(&e))?;
            return Ok(false);
        }
        let mut buf = SpillBuf::new(
            self.limits.max_in_memory_bytes,
            crate::detect::HEAD_LEN,
            &self.tmp_dir,
        );
        let mut msg_reader = (&mut all).take(count);
        if let Err(e) = copy_into(&[], &mut msg_reader, &mut buf) {
            self.skip(label, describe_io(&e))?;
            return Ok(false);
        }
        let mut trailer = Vec::new();
        let _ = (&mut all).take(MAX_TRAILER).read_to_end(&mut trailer);
        let payload = match buf.finish() {
            Ok(p) => p,
            Err(e) => {
                self.skip(label, describe_io(&e))?;
                return Ok(false);
            }
        };
        let mut findings = vec![];
        let (payload, flags) = match payload {
            Payload::Mem(bytes) => {
                // Re-split in memory: this also finds the message's end when the byte count
                // runs past the file.
                let mut whole = format!("{count}\n").into_bytes();
                whole.extend_from_slice(&bytes);
                whole.extend_from_slice(&trailer);
                match emlx::split(&whole) {
                    Some(e) => {
                        if let Some(p) = e.count_problem {
                            findings.push(Finding::new("emlx_byte_count", p));
                        }
                        (Payload::Mem(e.message.to_vec()), e.flags)
                    }
                    None => (Payload::Mem(bytes), None),
                }
            }
            spilled => {
                if (spilled.len()) < count {
                    findings.push(Finding::new(
                        "emlx_byte_count",
                        format!(
                            "the byte count says {count} bytes but the file ends after {}",
                            spilled.len()
                        ),
                    ));
                }
                let flags =
                    emlx::split(&[b"0\n".as_slice(), &trailer].concat()).and_then(|e| e.flags);
                (spilled, flags)
            }
        };
        let mut ctx = SourceContext::default();
        let payload = match payload {
            Payload::Mem(bytes) if is_partial(&bytes) => {
                let dir = (!label.contains('!'))
                    .then(|| emlx::attachments_dir(Path::new(label)))
                    .flatten();
                let filled = emlx::fill_parts(&bytes, dir.as_deref());
                if filled.filled.is_empty() && filled.missing.is_empty() {
                    // The marker was only mentioned (e.g. in a body): the message is complete
                    // and stays the original bytes.
                    return self.emit_emlx(
                        label,
                        offset,
                        flags,
                        ctx,
                        Payload::Mem(bytes),
                        findings,
                    );
                }
                ctx.reconstructed = true;
                let names: Vec<String> = filled
                    .filled
                    .iter()
                    .map(|(n, f)| format!("{n} ({f})"))
                    .collect();
                findings.push(Finding::new(
                    "reconstructed",
                    format!(
                        "a partial Apple Mail message: the message's own bytes with {} stored part(s) put back{}",
                        filled.filled.len(),
                        if names.is_empty() { String::new() } else { format!(": {}", names.join(", ")) }
                    ),
                ));
                if !filled.missing.is_empty() {
                    findings.push(Finding::new(
                        "partial_missing_parts",
                        format!(
                            "part(s) {} are not in the message and no stored file was found{}; they stay empty",
                            filled.missing.join(", "),
                            match &dir {
                                Some(d) => format!(" under {}", d.display()),
                                None => " (no Attachments folder beside it)".into(),
                            }
                        ),
                    ));
                }
                Payload::Mem(filled.message)
            }
            p => p,
        };
        self.emit_emlx(label, offset, flags, ctx, payload, findings)
    }

    fn emit_emlx(
        &mut self,
        label: &str,
        offset: u64,
        flags: Option<u64>,
        ctx: SourceContext,
        payload: Payload,
        findings: Vec<Finding>,
    ) -> Result<bool, Cancelled> {
        self.send(Event::Unit(RawUnit {
            prov: Provenance {
                path: label.to_string(),
                offset: (!ctx.reconstructed).then_some(offset),
                format: SourceFormat::Emlx.as_str().into(),
                flags: flags.map(emlx::maildir_flags),
                context: ctx,
            },
            payload,
            quarantine: None,
            findings,
        }))?;
        Ok(true)
    }
}

/// A partial emlx has parts whose bodies were left out (`X-Apple-Content-Length`).
fn is_partial(msg: &[u8]) -> bool {
    msg.windows(23)
        .any(|w| w.eq_ignore_ascii_case(b"x-apple-content-length:"))
}
