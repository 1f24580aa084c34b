//! Streaming extraction of records from large JSON documents (X `*.js` files, Telegram
//! `result.json`) with their exact bytes and byte offsets.
//!
//! serde_json's streaming reader walks the document along a [`Pat`]tern; each value at an
//! [`Pat::Emit`] position is captured as a `RawValue`, i.e. byte for byte as written, and handed
//! to the caller with its JSON path. Only one record is held in memory at a time (and a record
//! larger than the limit stops the stream), whatever the size of the file. On a syntax error the
//! caller learns the path and the end of the last good record, so the valid part is ingested and
//! the rest quarantined.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

/// Where records sit in a document.
pub enum Pat {
    /// This value is a record.
    Emit,
    /// An array whose elements follow the inner pattern.
    Array(Box<Pat>),
    /// An object; listed keys follow their patterns, others are skipped.
    Object(Vec<(&'static str, Pat)>),
    /// Remember this value (e.g. a conversation id) for the records that follow it in the same
    /// object or below it.
    Capture(&'static str),
}

pub struct Found {
    /// Byte offset of the record in the stream given to [`stream`] plus `base_offset`.
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub path: String,
    pub captures: BTreeMap<&'static str, serde_json::Value>,
}

#[derive(Debug)]
pub struct StreamError {
    /// The JSON path being read when the error struck.
    pub path: String,
    /// Offset just past the last record handed out (where the unread rest begins).
    pub good_end: u64,
    pub message: String,
    /// The consumer asked to stop; not a problem of the input.
    pub cancelled: bool,
}

/// Tracks how deep `[` and `{` nest in JSON bytes fed to it in any chunks, so a document that
/// nests deeper than the limit is refused as it streams, before any parser recurses into it.
#[derive(Clone, Debug)]
pub struct DepthGauge {
    max: u32,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl DepthGauge {
    pub fn new(max: u32) -> Self {
        Self {
            max,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    /// Err(message naming the limit) once the nesting passes the maximum.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), String> {
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > self.max {
                        return Err(format!(
                            "JSON nested deeper than limits.max_json_depth ({})",
                            self.max
                        ));
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }
}

struct Counter {
    pos: Cell<u64>,
    record_start: Cell<u64>,
    max_record: u64,
    /// Bytes read since `record_start`, while an array of records is being read. serde_json may
    /// have read the first byte of an element before our code sees it, and one byte past a number,
    /// so a record's exact bytes and offset are taken from here, not inferred from `RawValue`.
    capture: RefCell<Vec<u8>>,
    capturing: Cell<bool>,
    depth: RefCell<DepthGauge>,
}

struct CountingReader<R> {
    inner: R,
    c: Rc<Counter>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let pos = self.c.pos.get() + n as u64;
        self.c.pos.set(pos);
        if self.c.capturing.get() {
            self.c.capture.borrow_mut().extend_from_slice(&buf[..n]);
        }
        self.c
            .depth
            .borrow_mut()
            .feed(&buf[..n])
            .map_err(io::Error::other)?;
        if pos.saturating_sub(self.c.record_start.get()) > self.c.max_record {
            return Err(io::Error::other(format!(
                "a record is larger than limits.max_parse_bytes ({} bytes)",
                self.c.max_record
            )));
        }
        Ok(n)
    }
}

enum Seg {
    Key(&'static str),
    Index(usize),
}

struct State<'e> {
    path: Vec<Seg>,
    captures: BTreeMap<&'static str, serde_json::Value>,
    emit: &'e mut dyn FnMut(Found) -> Result<(), ()>,
    counter: Rc<Counter>,
    base: u64,
    good_end: u64,
    cancelled: bool,
    records: u64,
}

impl State<'_> {
    fn path_string(&self) -> String {
        let mut s = String::from("$");
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    s.push('.');
                    s.push_str(k);
                }
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }
}

struct Seed<'s, 'e> {
    st: &'s RefCell<State<'e>>,
    pat: &'s Pat,
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.pat {
            Pat::Emit => {
                let raw: Box<RawValue> = serde::Deserialize::deserialize(d)?;
                let mut st = self.st.borrow_mut();
                let c = st.counter.clone();
                let captured = c.capture.borrow();
                let (start, len) = locate(&captured, raw.get().as_bytes());
                let offset = c.record_start.get() + start as u64;
                let found = Found {
                    offset: st.base + offset,
                    bytes: captured[start..start + len].to_vec(),
                    path: st.path_string(),
                    captures: st.captures.clone(),
                };
                if (st.emit)(found).is_err() {
                    st.cancelled = true;
                    return Err(de::Error::custom("cancelled"));
                }
                st.good_end = st.base + offset + len as u64;
                st.records += 1;
                Ok(())
            }
            Pat::Capture(name) => {
                let v: serde_json::Value = serde::Deserialize::deserialize(d)?;
                self.st.borrow_mut().captures.insert(name, v);
                Ok(())
            }
            Pat::Array(_) | Pat::Object(_) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pat {
            Pat::Array(_) => f.write_str("an array"),
            _ => f.write_str("an object"),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Pat::Array(inner) = self.pat else {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        };
        let mut i = 0usize;
        let records_here = matches!(**inner, Pat::Emit);
        loop {
            self.st.borrow_mut().path.push(Seg::Index(i));
            if records_here {
                // Capture from the end of the previous element: the delimiter, the record, and
                // at most one byte serde_json reads past a number.
                let c = self.st.borrow().counter.clone();
                c.capture.borrow_mut().clear();
                c.record_start.set(c.pos.get());
                c.capturing.set(true);
            }
            let next = seq.next_element_seed(Seed {
                st: self.st,
                pat: inner,
            });
            if records_here {
                let c = self.st.borrow().counter.clone();
                c.capturing.set(false);
                c.record_start.set(u64::MAX / 2);
            }
            let next = next?;
            if next.is_none() {
                self.st.borrow_mut().path.pop();
                return Ok(());
            }
            self.st.borrow_mut().path.pop();
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Pat::Object(keys) = self.pat else {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        };
        // Captures are scoped to this object and what lies below it.
        let saved = self.st.borrow().captures.clone();
        while let Some(key) = map.next_key::<String>()? {
            match keys.iter().find(|(k, _)| *k == key) {
                Some((k, pat)) => {
                    self.st.borrow_mut().path.push(Seg::Key(k));
                    map.next_value_seed(Seed { st: self.st, pat })?;
                    self.st.borrow_mut().path.pop();
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.st.borrow_mut().captures = saved;
        Ok(())
    }
}

/// Where a record lies in the bytes captured around it: after the delimiter and whitespace before
/// it, as long as the raw value for strings, objects and arrays, and up to the first delimiter for
/// numbers and literals (whose raw text serde_json may not reproduce exactly).
fn locate(captured: &[u8], raw: &[u8]) -> (usize, usize) {
    let start = captured
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b','))
        .unwrap_or(captured.len());
    let body = &captured[start..];
    if matches!(raw.first(), Some(b'{' | b'[' | b'"')) && body.starts_with(raw) {
        return (start, raw.len());
    }
    let len = body
        .iter()
        .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b']' | b'}'))
        .unwrap_or(body.len());
    (start, len)
}

/// Streams the records of one JSON document. `base_offset` is the position of `reader`'s first
/// byte in the file (after a prefix such as `window.YTD.tweets.part0 = `). Returns the number of
/// records emitted.
pub fn stream<R: Read>(
    reader: R,
    base_offset: u64,
    max_record: u64,
    max_depth: u32,
    pat: &Pat,
    emit: &mut dyn FnMut(Found) -> Result<(), ()>,
) -> Result<u64, StreamError> {
    let counter = Rc::new(Counter {
        pos: Cell::new(0),
        record_start: Cell::new(u64::MAX / 2),
        max_record,
        capture: RefCell::new(Vec::new()),
        capturing: Cell::new(false),
        depth: RefCell::new(DepthGauge::new(max_depth)),
    });
    let reader = CountingReader {
        inner: io::BufReader::with_capacity(256 * 1024, reader),
        c: counter.clone(),
    };
    let st = RefCell::new(State {
        path: vec![],
        captures: BTreeMap::new(),
        emit,
        counter,
        base: base_offset,
        good_end: base_offset,
        cancelled: false,
        records: 0,
    });
    let mut de = serde_json::Deserializer::from_reader(reader);
    let res = Seed { st: &st, pat }
        .deserialize(&mut de)
        .and_then(|_| de.end());
    let st = st.into_inner();
    match res {
        Ok(()) => Ok(st.records),
        Err(e) => Err(StreamError {
            path: st.path_string(),
            good_end: st.good_end,
            message: e.to_string(),
            cancelled: st.cancelled,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dm_pattern() -> Pat {
        Pat::Array(Box::new(Pat::Object(vec![(
            "dmConversation",
            Pat::Object(vec![
                ("conversationId", Pat::Capture("conversation")),
                ("messages", Pat::Array(Box::new(Pat::Emit))),
            ]),
        )])))
    }

    #[test]
    fn records_come_out_byte_exact_with_offsets_and_captures() {
        let doc = br#"[ {"dmConversation": {"conversationId": "1-2", "extra": [1,{"a":2}],
            "messages": [ {"messageCreate": {"id": "9", "text": "h\u00e9 \"x\""}},
            {"messageCreate" : {"id":"8"}} ]}}, {"dmConversation": {"conversationId": "3-4",
            "messages": []}} ]"#;
        let mut got = vec![];
        let n = stream(&doc[..], 100, 1 << 20, 64, &dm_pattern(), &mut |f| {
            got.push(f);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
        for f in &got {
            let start = (f.offset - 100) as usize;
            assert_eq!(&doc[start..start + f.bytes.len()], &f.bytes[..]);
            assert_eq!(f.captures["conversation"], "1-2");
        }
        assert_eq!(got[1].path, "$[0].dmConversation.messages[1]");
        assert!(got[0].bytes.starts_with(b"{\"messageCreate\""));
    }

    #[test]
    fn truncation_reports_path_and_the_end_of_the_last_good_record() {
        let doc = br#"[{"dmConversation": {"conversationId": "1-2", "messages": [{"a": 1}, {"b": "#;
        let mut n = 0;
        let err = stream(&doc[..], 0, 1 << 20, 64, &dm_pattern(), &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap_err();
        assert_eq!(n, 1);
        assert_eq!(err.path, "$[0].dmConversation.messages[1]");
        assert_eq!(
            &doc[..err.good_end as usize],
            &br#"[{"dmConversation": {"conversationId": "1-2", "messages": [{"a": 1}"#[..]
        );
        assert!(!err.cancelled);
    }

    #[test]
    fn scalar_records_keep_their_exact_bytes() {
        // Found by fuzzing: serde_json reads one byte past a number.
        for doc in [&b"[2-"[..], b"[ -2 , true,\"x\" ,3]", b"[1e5]"] {
            let _ = stream(
                doc,
                0,
                1 << 20,
                64,
                &Pat::Array(Box::new(Pat::Emit)),
                &mut |f| {
                    let start = f.offset as usize;
                    assert_eq!(&doc[start..start + f.bytes.len()], &f.bytes[..]);
                    Ok(())
                },
            );
        }
        let mut got = vec![];
        stream(
            &b"[ -2 , true]"[..],
            0,
            1 << 20,
            64,
            &Pat::Array(Box::new(Pat::Emit)),
            &mut |f| {
                got.push(String::from_utf8(f.bytes).unwrap());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(got, ["-2", "true"]);
    }

    #[test]
    fn oversized_records_stop_the_stream() {
        let doc = format!("[{{\"x\": \"{}\"}}]", "a".repeat(5000));
        let err = stream(
            doc.as_bytes(),
            0,
            1000,
            64,
            &Pat::Array(Box::new(Pat::Emit)),
            &mut |_| Ok(()),
        )
        .unwrap_err();
        assert!(err.message.contains("max_parse_bytes"), "{}", err.message);
    }

    #[test]
    fn nesting_past_the_limit_stops_the_stream_after_the_good_records() {
        let mut doc = b"[{\"a\": \"[[[[ in a string \\\" [[\"}, ".to_vec();
        doc.extend(std::iter::repeat_n(b'[', 1_000_000));
        let mut n = 0;
        let err = stream(
            &doc[..],
            0,
            1 << 30,
            64,
            &Pat::Array(Box::new(Pat::Emit)),
            &mut |_| {
                n += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(n, 1, "the record before the deep one is kept");
        assert!(
            err.message.contains("limits.max_json_depth (64)"),
            "{}",
            err.message
        );
        let mut g = DepthGauge::new(3);
        assert!(g.feed(br#"[{"x": "]]]]{{{{"}, [1]"#).is_ok());
        assert!(g.feed(b"[[").is_ok(), "depth 3 is allowed");
        assert!(g.feed(b"[").is_err());
    }
}
