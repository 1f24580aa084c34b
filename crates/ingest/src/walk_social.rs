//! The walker's splitters for social exports: they cut an X `*.js` file, a Telegram
//! `result.json`, a WhatsApp chat or a JSON Lines file into records, each with its exact bytes,
//! its byte offset and its [`SourceContext`].
//!
//! The file is spooled first (memory, or a temporary file when large), so a file that turns out
//! to be truncated or hand-edited can be ingested up to the damage and the rest quarantined
//! verbatim, and so a WhatsApp chat can be read twice (once to settle its date order).

use crate::social::jsonstream::DepthGauge;
use crate::social::{jsonstream, telegram, whatsapp, x};
use crate::unit::{Payload, RawUnit, SpillBuf};
use crate::walk::{Cancelled, Event, Walker, copy_into, describe_io};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use trove_model::{Mailbox, Provenance, Sha256Hash, SourceContext, SourceFormat};

fn open_payload(p: &Payload) -> io::Result<Box<dyn BufRead + '_>> {
    Ok(match p {
        Payload::Mem(v) => Box::new(Cursor::new(v.as_slice())),
        Payload::Spilled(s) => Box::new(BufReader::new(File::open(&s.path)?)),
    })
}

fn open_payload_at(p: &Payload, offset: u64) -> io::Result<Box<dyn Read + '_>> {
    Ok(match p {
        Payload::Mem(v) => Box::new(Cursor::new(&v[(offset as usize).min(v.len())..])),
        Payload::Spilled(s) => {
            let mut f = File::open(&s.path)?;
            f.seek(SeekFrom::Start(offset))?;
            Box::new(BufReader::new(f))
        }
    })
}

/// The folder an export file sits in (`…/data`), which keys the owner its `account.js` names.
fn export_dir(label: &str) -> &str {
    label.rsplit_once(['/', '!']).map(|(d, _)| d).unwrap_or("")
}

fn unit(
    label: &str,
    offset: u64,
    format: SourceFormat,
    context: SourceContext,
    bytes: Vec<u8>,
) -> Event {
    Event::Unit(RawUnit {
        prov: Provenance {
            path: label.to_string(),
            offset: Some(offset),
            format: format.as_str().into(),
            flags: None,
            context,
        },
        payload: Payload::Mem(bytes),
        quarantine: None,
        findings: vec![],
    })
}

impl Walker<'_> {
    /// Copies a stream to memory, or to a temporary file when large.
    pub(crate) fn spool(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
    ) -> Result<Option<Payload>, Cancelled> {
        let mut buf = SpillBuf::new(self.limits.max_in_memory_bytes, 0, &self.tmp_dir);
        match copy_into(&head, rest, &mut buf).and_then(|_| buf.finish()) {
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                self.skip(label, describe_io(&e))?;
                Ok(None)
            }
        }
    }

    /// Stores bytes `from..` of a spooled file as one quarantined record.
    fn quarantine_rest(
        &mut self,
        label: &str,
        payload: &Payload,
        from: u64,
        format: SourceFormat,
        reason: String,
    ) -> Result<(), Cancelled> {
        let mut buf = SpillBuf::new(self.limits.max_in_memory_bytes, 4096, &self.tmp_dir);
        let rest = open_payload_at(payload, from)
            .and_then(|mut r| copy_into(&[], &mut r, &mut buf))
            .and_then(|_| buf.finish());
        match rest {
            Ok(p) if p.is_empty() => self.send(Event::Note {
                path: label.to_string(),
                note: reason,
            }),
            Ok(p) => self.send(Event::Unit(RawUnit {
                prov: Provenance {
                    path: label.to_string(),
                    offset: Some(from),
                    format: format.as_str().into(),
                    flags: None,
                    context: SourceContext::default(),
                },
                payload: p,
                quarantine: Some(reason),
                findings: vec![],
            })),
            Err(e) => self.skip(label, describe_io(&e)),
        }
    }

    pub(crate) fn read_x(
        &mut self,
        label: &str,
        ytd: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
    ) -> Result<bool, Cancelled> {
        let Some(format) = x::format_of(ytd) else {
            self.skip(
                label,
                format!("X export file '{ytd}' holds no messages or posts; not read"),
            )?;
            return Ok(true);
        };
        let Some(eq) = head.iter().take(512).position(|&b| b == b'=') else {
            self.skip(label, "X export file without `window.YTD.… =` prefix")?;
            return Ok(false);
        };
        let Some(payload) = self.spool(label, head, rest)? else {
            return Ok(false);
        };
        let base = eq as u64 + 1;
        let dir = export_dir(label).to_string();
        let owner = self.x_owners.get(&dir).cloned();
        let mut new_owner = None;
        let emit = &mut *self.emit;
        let res = open_payload_at(&payload, base)
            .map_err(|e| JsonFailure::Io(describe_io(&e)))
            .and_then(|reader| {
                let mut on_record = |f: jsonstream::Found| -> Result<(), ()> {
                    if format == SourceFormat::XAccount && new_owner.is_none() {
                        new_owner = x::owner_of_account(&f.bytes);
                    }
                    let context = SourceContext {
                        json_path: Some(f.path),
                        conversation: f.captures.get("conversation").and_then(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .or_else(|| Some(v.to_string()))
                        }),
                        owner: owner.clone(),
                        ..Default::default()
                    };
                    emit(unit(label, f.offset, format, context, f.bytes)).map_err(|_| ())
                };
                jsonstream::stream(
                    reader,
                    base,
                    self.limits.max_parse_bytes,
                    self.limits.max_json_depth,
                    &x::pattern(format),
                    &mut on_record,
                )
                .map_err(stream_failure)
            });
        if let Some(o) = new_owner {
            self.x_owners.insert(dir, o);
        }
        self.finish_json(label, &payload, format, res)
    }

    /// After a JSON stream: quarantines the unread rest of a damaged file.
    fn finish_json(
        &mut self,
        label: &str,
        payload: &Payload,
        format: SourceFormat,
        res: Result<u64, JsonFailure>,
    ) -> Result<bool, Cancelled> {
        match res {
            Ok(0) => {
                // Nothing came out of a file detected as an export: say so rather than be silent.
                self.skip(label, format!("{} file holds no records", format.as_str()))?;
                Ok(true)
            }
            Ok(_) => Ok(true),
            Err(JsonFailure::Cancelled) => Err(Cancelled),
            Err(JsonFailure::Io(e)) => {
                self.skip(label, e)?;
                Ok(false)
            }
            Err(JsonFailure::Damaged(e)) => {
                let reason = format!(
                    "invalid or truncated JSON at {} ({}); the records before it were ingested, \
                     the rest of the file from byte {} is kept here",
                    e.path, e.message, e.good_end
                );
                self.quarantine_rest(label, payload, e.good_end, format, reason)?;
                Ok(true)
            }
        }
    }

    pub(crate) fn read_telegram(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
    ) -> Result<bool, Cancelled> {
        let Some(payload) = self.spool(label, head, rest)? else {
            return Ok(false);
        };
        let emit = &mut *self.emit;
        let res = open_payload(&payload)
            .map_err(|e| JsonFailure::Io(describe_io(&e)))
            .and_then(|reader| {
                let mut on_record = |f: jsonstream::Found| -> Result<(), ()> {
                    let mut context = telegram::context(&f.captures);
                    context.json_path = Some(f.path);
                    emit(unit(
                        label,
                        f.offset,
                        SourceFormat::Telegram,
                        context,
                        f.bytes,
                    ))
                    .map_err(|_| ())
                };
                jsonstream::stream(
                    reader,
                    0,
                    self.limits.max_parse_bytes,
                    self.limits.max_json_depth,
                    &telegram::pattern(),
                    &mut on_record,
                )
                .map_err(stream_failure)
            });
        self.finish_json(label, &payload, SourceFormat::Telegram, res)
    }

    pub(crate) fn read_jsonl(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
    ) -> Result<bool, Cancelled> {
        let Some(payload) = self.spool(label, head, rest)? else {
            return Ok(false);
        };
        let mut reader = match open_payload(&payload) {
            Ok(r) => r,
            Err(e) => {
                self.skip(label, describe_io(&e))?;
                return Ok(false);
            }
        };
        let (mut offset, mut line_no) = (0u64, 0u64);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = match reader
                .by_ref()
                .take(self.limits.max_parse_bytes + 1)
                .read_until(b'\n', &mut line)
            {
                Ok(n) => n,
                Err(e) => {
                    self.skip(label, describe_io(&e))?;
                    return Ok(false);
                }
            };
            if n == 0 {
                return Ok(true);
            }
            line_no += 1;
            let start = offset;
            offset += n as u64;
            if line.len() as u64 > self.limits.max_parse_bytes {
                let reason = format!(
                    "line {line_no} is longer than limits.max_parse_bytes; the rest of the file \
                     from byte {start} is kept here"
                );
                drop(reader);
                self.quarantine_rest(label, &payload, start, SourceFormat::Jsonl, reason)?;
                return Ok(true);
            }
            let record = trim_eol(&line);
            if record.trim_ascii().is_empty() {
                continue;
            }
            let context = SourceContext {
                json_path: Some(format!("line {line_no}")),
                ..Default::default()
            };
            let mut u = unit(label, start, SourceFormat::Jsonl, context, record.to_vec());
            if let (Err(reason), Event::Unit(raw)) = (
                DepthGauge::new(self.limits.max_json_depth).feed(record),
                &mut u,
            ) {
                raw.quarantine = Some(reason);
            }
            self.send(u)?;
        }
    }

    pub(crate) fn read_whatsapp(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
    ) -> Result<bool, Cancelled> {
        let Some(payload) = self.spool(label, head, rest)? else {
            return Ok(false);
        };
        // Pass 1: the date order and the participants.
        let mut inference = whatsapp::OrderInference::default();
        let mut senders: BTreeSet<String> = BTreeSet::new();
        let mut first_record: Option<Vec<u8>> = None;
        let scanned = open_payload(&payload).and_then(|r| {
            for_each_line(r, |_, line| {
                if let Some(h) = whatsapp::header(&String::from_utf8_lossy(trim_eol(line))) {
                    if first_record.is_none() {
                        first_record = Some(trim_eol(line).to_vec());
                    }
                    inference.add(&h);
                    if let (Some(s), _) = whatsapp::sender_and_text(&h)
                        && senders.len() < 10_000
                    {
                        senders.insert(s);
                    }
                }
            })
        });
        if let Err(e) = scanned {
            self.skip(label, describe_io(&e))?;
            return Ok(false);
        }
        let (order, ambiguous, why) = inference.decide();
        if ambiguous {
            self.send(Event::Note {
                path: label.to_string(),
                note: format!("WhatsApp date order ambiguous: {why}"),
            })?;
        }
        let conv =
            Sha256Hash::of(first_record.as_deref().unwrap_or_default()).to_hex()[..16].to_string();
        let context = SourceContext {
            conversation: Some(conv),
            conversation_name: Some(chat_name(label)),
            conversation_type: Some("whatsapp".into()),
            participants: senders
                .iter()
                .map(|s| Mailbox {
                    name: Some(s.clone()),
                    address: Some(whatsapp::sender_identity(s)),
                })
                .collect(),
            date_order: Some(order),
            date_order_ambiguous: ambiguous,
            ..Default::default()
        };
        // Pass 2: one record per message: its header line and continuation lines, verbatim.
        let max = self.limits.max_parse_bytes;
        let mut record: Vec<u8> = Vec::new();
        let mut record_start = 0u64;
        let mut cancelled = false;
        let emit = &mut *self.emit;
        let mut flush = |start: u64, bytes: Vec<u8>, quarantine: Option<String>| -> bool {
            let bytes = trim_eol(&bytes).to_vec();
            let mut ctx = context.clone();
            ctx.json_path = None;
            let ev = match quarantine {
                None => unit(label, start, SourceFormat::Whatsapp, ctx, bytes),
                Some(reason) => Event::Unit(RawUnit {
                    prov: Provenance {
                        path: label.to_string(),
                        offset: Some(start),
                        format: SourceFormat::Whatsapp.as_str().into(),
                        flags: None,
                        context: ctx,
                    },
                    payload: Payload::Mem(bytes),
                    quarantine: Some(reason),
                    findings: vec![],
                }),
            };
            emit(ev).is_ok()
        };
        let read = open_payload(&payload).and_then(|r| {
            for_each_line(r, |offset, line| {
                if cancelled {
                    return;
                }
                let is_header =
                    whatsapp::header(&String::from_utf8_lossy(trim_eol(line))).is_some();
                if is_header || record.len() as u64 + line.len() as u64 > max {
                    if !record.is_empty() {
                        let q = if whatsapp::header(&String::from_utf8_lossy(trim_eol(
                            record.split(|&b| b == b'\n').next().unwrap_or_default(),
                        )))
                        .is_none()
                        {
                            Some(if record_start == 0 {
                                "text before the first message line of a WhatsApp chat".to_string()
                            } else {
                                "part of a message longer than limits.max_parse_bytes".to_string()
                            })
                        } else {
                            None
                        };
                        cancelled |= !flush(record_start, std::mem::take(&mut record), q);
                    }
                    record_start = offset;
                }
                record.extend_from_slice(line);
            })
        });
        if let Err(e) = read {
            self.skip(label, describe_io(&e))?;
            return Ok(false);
        }
        if !cancelled && !record.is_empty() {
            let first_line = record.split(|&b| b == b'\n').next().unwrap_or_default();
            let q = whatsapp::header(&String::from_utf8_lossy(trim_eol(first_line)))
                .is_none()
                .then(|| "text before the first message line of a WhatsApp chat".to_string());
            cancelled |= !flush(record_start, std::mem::take(&mut record), q);
        }
        if cancelled {
            return Err(Cancelled);
        }
        Ok(true)
    }
}

/// Why reading an export file stopped early.
enum JsonFailure {
    /// The consumer went away.
    Cancelled,
    /// The spooled file could not be read back.
    Io(String),
    /// The JSON is damaged: the records up to `good_end` were read.
    Damaged(jsonstream::StreamError),
}

fn stream_failure(e: jsonstream::StreamError) -> JsonFailure {
    if e.cancelled {
        JsonFailure::Cancelled
    } else {
        JsonFailure::Damaged(e)
    }
}

/// Longest piece of a line read at once: a longer line (a file without newlines) comes in pieces,
/// so memory stays bounded.
const LINE_CAP: u64 = 1 << 20;

/// Calls `f(offset, line)` for each line (with its terminator) of `r`, in pieces of at most
/// [`LINE_CAP`] bytes.
fn for_each_line(mut r: Box<dyn BufRead + '_>, mut f: impl FnMut(u64, &[u8])) -> io::Result<()> {
    let mut line = Vec::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = (&mut r).take(LINE_CAP).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        f(offset, &line);
        offset += n as u64;
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    crate::detect::trim_eol(line)
}

/// A chat's name from its file name: `WhatsApp Chat with Alice.txt`, or the zip holding
/// `_chat.txt` (`WhatsApp Chat - Alice.zip!_chat.txt`).
fn chat_name(label: &str) -> String {
    let mut parts: Vec<&str> = label.split('!').collect();
    let mut file = parts.pop().unwrap_or(label);
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    if base(file) == "_chat.txt"
        && let Some(outer) = parts.pop()
    {
        file = outer;
    }
    let mut name = base(file);
    for ext in [".txt", ".zip"] {
        if let Some(s) = name.strip_suffix(ext) {
            name = s.to_string();
        }
    }
    for p in [
        "WhatsApp Chat with ",
        "WhatsApp Chat - ",
        "WhatsApp-Chat mit ",
    ] {
        if let Some(s) = name.strip_prefix(p) {
            return s.to_string();
        }
    }
    name
}
