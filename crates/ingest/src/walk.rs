//! The walker: turns input paths into a deterministic stream of [`Event`]s.
//!
//! It descends directories (sorted, symlinks never followed), maildirs, zip/tar/gzip/xz/bzip2
//! archives (recursively, under decompression limits) and mboxes, and emits one raw unit per
//! message, or a "skipped" event with a reason for anything it will not read. It never writes
//! anything derived from a member name to disk, so `..` or absolute member names are inert labels.
//!
//! The order of events depends only on the inputs, so a resumed ingest appends exactly what an
//! uninterrupted one would have.

use crate::detect::{Detected, HEAD_LEN, detect};
use crate::mbox;
use crate::unit::{Payload, RawUnit, SpillBuf};
use std::cell::Cell;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use trove_model::{Finding, Owner, Provenance, SourceFormat};
use trove_store::{Catalog, Limits};

// Units are nearly every event; boxing them would cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    Unit(RawUnit),
    /// A file or member that is not read as messages, with the reason.
    Skipped {
        path: String,
        reason: String,
    },
    /// Something the user should know about a file that is neither a problem nor an item (e.g.
    /// an assumed date order).
    Note {
        path: String,
        note: String,
    },
    /// A physical input file whose every unit has been emitted.
    InputDone {
        path: String,
        size: u64,
        mtime_ns: i64,
    },
}

/// A stream copied out for random access.
enum Spooled {
    Mem(Vec<u8>),
    File(File, crate::unit::Spill),
}

/// The consumer went away (the writer failed); stop walking.
#[derive(Debug)]
pub struct Cancelled;

/// Shared counters the progress display reads.
#[derive(Default)]
pub struct WalkCounters {
    /// Bytes of physical input files read so far.
    pub bytes_read: AtomicU64,
    /// Files seen (physical files and archive members).
    pub files: AtomicU64,
    /// Physical files passed over because an earlier run committed them unchanged.
    pub unchanged_files: AtomicU64,
}

pub struct Walker<'a> {
    pub limits: Limits,
    pub tmp_dir: PathBuf,
    /// Consulted to pass over files an earlier run fully committed.
    pub catalog: Option<&'a Catalog>,
    pub counters: Arc<WalkCounters>,
    pub emit: &'a mut dyn FnMut(Event) -> Result<(), Cancelled>,
    /// Never read: the archive being written (an input directory may contain it).
    pub exclude: Vec<PathBuf>,
    /// The owner each X export folder's `account.js` named, for the tweets beside it.
    pub x_owners: HashMap<String, Owner>,
}

/// An io::Error payload for a tripped decompression limit.
#[derive(Debug)]
struct LimitHit(String);

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for LimitHit {}

pub(crate) fn describe_io(e: &io::Error) -> String {
    if let Some(l) = e.get_ref().and_then(|r| r.downcast_ref::<LimitHit>()) {
        return l.0.clone();
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => format!("truncated: {e}"),
        io::ErrorKind::PermissionDenied => format!("unreadable: {e}"),
        _ => e.to_string(),
    }
}

/// Counts bytes read through it into a shared cell (compressed bytes consumed by a decoder).
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Progress of the physical file being read.
struct Progress<R> {
    inner: R,
    counters: Arc<WalkCounters>,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counters
            .bytes_read
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Enforces the decompression limits on one decompressed stream or archive member.
struct Guard<R> {
    inner: R,
    label: String,
    out: u64,
    /// Compressed bytes behind this stream (a live counter for streams, fixed for zip members).
    compressed: Rc<Cell<u64>>,
    /// Decompressed bytes across the whole top-level input.
    total: Rc<Cell<u64>>,
    limits: Limits,
    /// Set when the underlying stream failed (truncation, corruption), as opposed to a limit.
    stream_error: Option<String>,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                self.stream_error = Some(describe_io(&e));
                return Err(e);
            }
        };
        self.out += n as u64;
        self.total.set(self.total.get() + n as u64);
        let l = &self.limits;
        let hit = if self.out > l.max_member_bytes {
            Some(format!(
                "{}: decompresses to more than limits.max_member_bytes ({} bytes)",
                self.label, l.max_member_bytes
            ))
        } else if self.out > (1 << 20)
            && self.out
                > l.max_compression_ratio
                    .saturating_mul(self.compressed.get().max(1))
        {
            Some(format!(
                "{}: compression ratio above limits.max_compression_ratio ({}:1); possible zip bomb",
                self.label, l.max_compression_ratio
            ))
        } else if self.total.get() > l.max_archive_total_bytes {
            Some(format!(
                "{}: archive decompresses to more than limits.max_archive_total_bytes ({} bytes)",
                self.label, l.max_archive_total_bytes
            ))
        } else {
            None
        };
        match hit {
            Some(msg) => Err(io::Error::other(LimitHit(msg))),
            None => Ok(n),
        }
    }
}

fn read_head(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n.min(HEAD_LEN));
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn strip_compression_ext(name: &str) -> String {
    for (ext, repl) in [
        (".tgz", ".tar"),
        (".txz", ".tar"),
        (".gz", ""),
        (".xz", ""),
        (".bz2", ""),
    ] {
        if let Some(s) = name.strip_suffix(ext) {
            return format!("{s}{repl}");
        }
    }
    name.to_string()
}

/// Maildir flags from a file name (`<unique>:2,<flags>`).
fn maildir_flags(file_name: &str) -> Option<String> {
    file_name
        .rsplit_once(":2,")
        .or_else(|| file_name.rsplit_once(";2,"))
        .map(|(_, f)| f.to_string())
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

impl Walker<'_> {
    pub(crate) fn send(&mut self, e: Event) -> Result<(), Cancelled> {
        (self.emit)(e)
    }

    pub(crate) fn skip(&mut self, path: &str, reason: impl Into<String>) -> Result<(), Cancelled> {
        // Limit messages name the stream they tripped on; don't repeat it when it is this path.
        let reason = reason.into().replace(&format!("{path}: "), "");
        self.send(Event::Skipped {
            path: path.to_string(),
            reason,
        })
    }

    /// Walks one input path given by the user.
    pub fn walk_input(&mut self, input: &Path) -> Result<(), Cancelled> {
        let abs = match fs::canonicalize(input) {
            Ok(p) => p,
            Err(e) => return self.skip(&input.display().to_string(), describe_io(&e)),
        };
        match fs::metadata(&abs) {
            Ok(m) if m.is_dir() => self.walk_dir(&abs, None),
            Ok(_) => self.walk_file(&abs, None),
            Err(e) => self.skip(&abs.display().to_string(), describe_io(&e)),
        }
    }

    fn walk_dir(&mut self, dir: &Path, maildir_sub: Option<&str>) -> Result<(), Cancelled> {
        let label = dir.display().to_string();
        let mut entries: Vec<fs::DirEntry> = match fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
            Err(e) => return self.skip(&label, describe_io(&e)),
        };
        // `account.js` first: it names the owner of the X export files beside it.
        entries.sort_by_key(|e| (e.file_name() != "account.js", e.file_name()));
        let this_is_maildir = maildir_sub.is_none() && is_maildir(dir);
        for entry in entries {
            let path = entry.path();
            let ft = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    self.skip(&path.display().to_string(), describe_io(&e))?;
                    continue;
                }
            };
            if self.exclude.iter().any(|x| x == &path) {
                self.skip(
                    &path.display().to_string(),
                    "the trove archive being written; never read as input",
                )?;
                continue;
            }
            if ft.is_symlink() {
                let target = fs::read_link(&path).map(|t| t.display().to_string());
                self.skip(
                    &path.display().to_string(),
                    format!(
                        "symlink to {} not followed (only real files and directories are read)",
                        target.unwrap_or_else(|_| "?".into())
                    ),
                )?;
            } else if ft.is_dir()
                && entry.file_name() == "Attachments"
                && dir.join("Messages").is_dir()
            {
                // Apple Mail: the parts of partial messages, read with them (`walk_emlx.rs`).
                self.skip(
                    &path.display().to_string(),
                    "Apple Mail attachment parts: read with the .partial.emlx messages beside them",
                )?;
            } else if ft.is_dir() {
                let name = entry.file_name().to_string_lossy().to_string();
                let sub = (this_is_maildir && ["cur", "new", "tmp"].contains(&name.as_str()))
                    .then_some(name);
                self.walk_dir(&path, sub.as_deref())?;
            } else if ft.is_file() {
                self.walk_file(&path, maildir_sub)?;
            } else {
                self.skip(
                    &path.display().to_string(),
                    "not a regular file (device, fifo or socket)",
                )?;
            }
        }
        Ok(())
    }

    fn walk_file(&mut self, path: &Path, maildir_sub: Option<&str>) -> Result<(), Cancelled> {
        let label = path.display().to_string();
        self.counters.files.fetch_add(1, Ordering::Relaxed);
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return self.skip(&label, describe_io(&e)),
        };
        let (size, mtime) = (meta.len(), mtime_ns(&meta));
        if let Some(cat) = self.catalog
            && cat.input_done(&label, size, mtime).unwrap_or(false)
        {
            self.counters
                .unchanged_files
                .fetch_add(1, Ordering::Relaxed);
            self.counters.bytes_read.fetch_add(size, Ordering::Relaxed);
            return Ok(());
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => return self.skip(&label, describe_io(&e)),
        };
        let total = Rc::new(Cell::new(0));
        let ok = if let Some(sub) = maildir_sub {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let flags = if sub == "tmp" {
                Some("tmp".to_string())
            } else {
                maildir_flags(&name)
            };
            let mut r = Progress {
                inner: file,
                counters: self.counters.clone(),
            };
            let head = match read_head(&mut r, HEAD_LEN) {
                Ok(h) => h,
                Err(e) => return self.skip(&label, describe_io(&e)),
            };
            let mut findings = vec![];
            if sub == "tmp" {
                findings.push(Finding::new(
                    "maildir_tmp",
                    "found in a maildir tmp/ folder: the delivery may be incomplete",
                ));
            }
            self.unit_from_stream(
                &label,
                head,
                &mut r,
                SourceFormat::Maildir,
                flags,
                findings,
                true,
            )?
        } else {
            self.dispatch_file(&label, file, &total)?
        };
        // A file written to while we read it (a mailbox still receiving mail, a copy still
        // running): what was read is kept, but the file is not marked done, so the next ingest
        // reads it again and adds what arrived (units already stored are deduplicated).
        let moved = fs::metadata(path)
            .map(|m| (m.len(), mtime_ns(&m)) != (size, mtime))
            .unwrap_or(true);
        if ok && moved {
            self.send(Event::Note {
                path: label,
                note: "changed while being read: what was read is kept; run ingest again to \
                       read what was added"
                    .into(),
            })?;
        } else if ok {
            self.send(Event::InputDone {
                path: label,
                size,
                mtime_ns: mtime,
            })?;
        }
        Ok(())
    }

    /// Reads a physical file by its content. Returns whether it was read to the end.
    fn dispatch_file(
        &mut self,
        label: &str,
        mut file: File,
        total: &Rc<Cell<u64>>,
    ) -> Result<bool, Cancelled> {
        let head = match read_head(&mut file, HEAD_LEN) {
            Ok(h) => h,
            Err(e) => {
                self.skip(label, describe_io(&e))?;
                return Ok(false);
            }
        };
        if matches!(detect(&head), Detected::Pst | Detected::Cfb) {
            // Stores and compound files are read in place: they need random access and may be
            // far larger than memory.
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let src = crate::walk_outlook::StoreSource::File(&file);
            let done = if detect(&head) == Detected::Pst {
                self.read_pst(label, src)?
            } else {
                self.read_msg(label, src)?
            };
            self.counters.bytes_read.fetch_add(size, Ordering::Relaxed);
            return Ok(done);
        }
        if detect(&head) == Detected::Zip {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if let Err(e) = file.rewind() {
                self.skip(label, describe_io(&e))?;
                return Ok(false);
            }
            let done = self.read_zip(label, BufReader::new(file), 1, total)?;
            self.counters.bytes_read.fetch_add(size, Ordering::Relaxed);
            return Ok(done);
        }
        self.counters
            .bytes_read
            .fetch_add(head.len() as u64, Ordering::Relaxed);
        let mut r = Progress {
            inner: file,
            counters: self.counters.clone(),
        };
        let expect_message = label.to_ascii_lowercase().ends_with(".eml");
        self.read_stream(label, head, &mut r, 0, total, expect_message)
    }

    /// Reads a stream whose first bytes are `head`. Returns whether it was read to the end.
    fn read_stream(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
        depth: u32,
        total: &Rc<Cell<u64>>,
        expect_message: bool,
    ) -> Result<bool, Cancelled> {
        let kind = detect(&head);
        let is_container = matches!(
            kind,
            Detected::Zip | Detected::Gzip | Detected::Xz | Detected::Bzip2 | Detected::Tar
        );
        if is_container && depth >= self.limits.max_archive_depth {
            self.skip(
                label,
                format!(
                    "archive nested deeper than limits.max_archive_depth ({})",
                    self.limits.max_archive_depth
                ),
            )?;
            return Ok(false);
        }
        match kind {
            Detected::Gzip | Detected::Xz | Detected::Bzip2 => {
                let compressed = Rc::new(Cell::new(0));
                let counted = Counting {
                    inner: Cursor::new(head).chain(rest),
                    count: compressed.clone(),
                };
                let decoder: Box<dyn Read> = match kind {
                    Detected::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
                    Detected::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(counted)),
                    _ => Box::new(bzip2::read::MultiBzDecoder::new(counted)),
                };
                let mut guard = Guard {
                    inner: decoder,
                    label: label.to_string(),
                    out: 0,
                    compressed,
                    total: total.clone(),
                    limits: self.limits.clone(),
                    stream_error: None,
                };
                let inner_head = match read_head(&mut guard, HEAD_LEN) {
                    Ok(h) => h,
                    Err(e) => {
                        self.skip(
                            label,
                            format!("corrupt compressed data: {}", describe_io(&e)),
                        )?;
                        return Ok(false);
                    }
                };
                // A compressed stream holds one file: it keeps the outer name, so provenance points
                // at a real file (`x.mbox.gz`, `x.tar.gz!member`).
                let expect = expect_message
                    || strip_compression_ext(label)
                        .to_ascii_lowercase()
                        .ends_with(".eml");
                self.read_stream(label, inner_head, &mut guard, depth + 1, total, expect)
            }
            Detected::Tar => self.read_tar(label, head, rest, depth + 1, total),
            // Zip archives and Outlook stores need random access: the stream is spooled.
            Detected::Zip => match self.spool_seekable(label, head, rest)? {
                Some(Spooled::Mem(v)) => self.read_zip(label, Cursor::new(v), depth + 1, total),
                Some(Spooled::File(f, _spill)) => {
                    self.read_zip(label, BufReader::new(f), depth + 1, total)
                }
                None => Ok(false),
            },
            Detected::Pst | Detected::Cfb => {
                let is_pst = kind == Detected::Pst;
                match self.spool_seekable(label, head, rest)? {
                    Some(Spooled::Mem(v)) => {
                        self.read_outlook(label, is_pst, crate::walk_outlook::StoreSource::Mem(&v))
                    }
                    Some(Spooled::File(f, _spill)) => {
                        self.read_outlook(label, is_pst, crate::walk_outlook::StoreSource::File(&f))
                    }
                    None => Ok(false),
                }
            }
            Detected::Emlx => self.read_emlx(label, head, rest),
            Detected::Mbox => self.read_mbox(label, head, rest),
            Detected::XExport(name) => self.read_x(label, &name, head, rest),
            Detected::Telegram => self.read_telegram(label, head, rest),
            Detected::Jsonl => self.read_jsonl(label, head, rest),
            Detected::Whatsapp => self.read_whatsapp(label, head, rest),
            Detected::Email => {
                self.unit_from_stream(label, head, rest, SourceFormat::Eml, None, vec![], false)
            }
            Detected::Unknown(reason) => {
                if expect_message {
                    return self.unit_from_stream(
                        label,
                        head,
                        rest,
                        SourceFormat::Eml,
                        None,
                        vec![],
                        true,
                    );
                }
                self.skip(label, reason)?;
                Ok(true)
            }
        }
    }

    /// Spools a stream for a reader that needs random access: to memory, or to a temporary
    /// file when large (the `Spill` keeps that file alive). `None` once the reason it could not
    /// be spooled is reported.
    fn spool_seekable(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
    ) -> Result<Option<Spooled>, Cancelled> {
        Ok(match self.spool(label, head, rest)? {
            Some(Payload::Mem(v)) => Some(Spooled::Mem(v)),
            Some(Payload::Spilled(s)) => match File::open(&s.path) {
                Ok(f) => Some(Spooled::File(f, s)),
                Err(e) => {
                    self.skip(label, describe_io(&e))?;
                    None
                }
            },
            None => None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn unit_from_stream(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
        format: SourceFormat,
        flags: Option<String>,
        findings: Vec<Finding>,
        check_header: bool,
    ) -> Result<bool, Cancelled> {
        let quarantine = if check_header {
            match detect(&head) {
                Detected::Email | Detected::Mbox => None,
                Detected::Unknown(r) if r == "empty file" => Some("empty file".to_string()),
                _ => Some("not a message: no header block".to_string()),
            }
        } else {
            None
        };
        let mut buf = SpillBuf::new(self.limits.max_in_memory_bytes, HEAD_LEN, &self.tmp_dir);
        let payload = match copy_into(&head, rest, &mut buf).and_then(|_| buf.finish()) {
            Ok(p) => p,
            Err(e) => {
                self.skip(label, describe_io(&e))?;
                return Ok(false);
            }
        };
        let prov = Provenance {
            path: label.to_string(),
            offset: None,
            format: format.as_str().into(),
            flags,
            context: Default::default(),
        };
        self.send(Event::Unit(RawUnit {
            prov,
            payload,
            quarantine,
            findings,
        }))?;
        Ok(true)
    }

    fn read_mbox(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
    ) -> Result<bool, Cancelled> {
        let tmp = self.tmp_dir.clone();
        let limit = self.limits.max_in_memory_bytes;
        let label_owned = label.to_string();
        let mut cancelled = false;
        let res = mbox::split(Cursor::new(head).chain(rest), limit, HEAD_LEN, &tmp, |m| {
            let prov = Provenance {
                path: label_owned.clone(),
                offset: Some(m.offset),
                format: m.variant.as_str().into(),
                flags: None,
                context: Default::default(),
            };
            let findings = m
                .findings
                .into_iter()
                .map(|f| Finding::new("mbox_split", f))
                .collect();
            let quarantine = m
                .payload
                .is_empty()
                .then(|| "empty message in mbox".to_string());
            let r = (self.emit)(Event::Unit(RawUnit {
                prov,
                payload: m.payload,
                quarantine,
                findings,
            }));
            cancelled = r.is_err();
            r
        });
        match res {
            Ok(Ok(())) => Ok(true),
            Ok(Err(Cancelled)) => Err(Cancelled),
            Err(_) if cancelled => Err(Cancelled),
            Err(e) => {
                self.skip(label, format!("mbox read stopped: {}", describe_io(&e)))?;
                Ok(false)
            }
        }
    }

    fn read_tar(
        &mut self,
        label: &str,
        head: Vec<u8>,
        rest: &mut dyn Read,
        depth: u32,
        total: &Rc<Cell<u64>>,
    ) -> Result<bool, Cancelled> {
        let mut ar = tar::Archive::new(Cursor::new(head).chain(rest));
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => {
                self.skip(label, format!("corrupt tar archive: {}", describe_io(&e)))?;
                return Ok(false);
            }
        };
        let mut all_ok = true;
        for (n, entry) in entries.enumerate() {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.skip(
                        label,
                        format!(
                            "tar archive truncated or corrupt after {n} members: {}",
                            describe_io(&e)
                        ),
                    )?;
                    return Ok(false);
                }
            };
            let member = String::from_utf8_lossy(&entry.path_bytes()).to_string();
            let mlabel = format!("{label}!{member}");
            let et = entry.header().entry_type();
            if et.is_dir() || et.is_pax_global_extensions() || et.is_pax_local_extensions() {
                continue;
            }
            if et.is_symlink() || et.is_hard_link() {
                self.skip(&mlabel, "link inside an archive, not followed")?;
                continue;
            }
            if !(et.is_file() || et.is_contiguous() || et.is_gnu_sparse()) {
                self.skip(&mlabel, "not a regular file inside the archive")?;
                continue;
            }
            self.counters.files.fetch_add(1, Ordering::Relaxed);
            let mut guard = Guard {
                inner: &mut entry,
                label: mlabel.clone(),
                out: 0,
                // tar members are stored, not compressed: no ratio check at this level.
                compressed: Rc::new(Cell::new(u64::MAX / 1024)),
                total: total.clone(),
                limits: self.limits.clone(),
                stream_error: None,
            };
            let expect = member.to_ascii_lowercase().ends_with(".eml");
            match read_head(&mut guard, HEAD_LEN) {
                Ok(mhead) => {
                    all_ok &= self.read_stream(&mlabel, mhead, &mut guard, depth, total, expect)?;
                }
                Err(e) => {
                    self.skip(&mlabel, describe_io(&e))?;
                    all_ok = false;
                }
            }
            if let Some(err) = guard.stream_error.take() {
                self.skip(
                    label,
                    format!(
                        "tar archive truncated or corrupt at member {member} (member {n}): {err}"
                    ),
                )?;
                return Ok(false);
            }
            drop(guard);
            // Drain what a reader did not consume (e.g. after a limit was hit) so the next header
            // is found; an error here means the archive itself is truncated.
            if let Err(e) = io::copy(&mut entry, &mut io::sink()) {
                self.skip(
                    label,
                    format!(
                        "tar archive truncated at member {member}: {}",
                        describe_io(&e)
                    ),
                )?;
                return Ok(false);
            }
        }
        Ok(all_ok)
    }

    fn read_zip<R: Read + Seek>(
        &mut self,
        label: &str,
        reader: R,
        depth: u32,
        total: &Rc<Cell<u64>>,
    ) -> Result<bool, Cancelled> {
        let mut zip = match zip::ZipArchive::new(reader) {
            Ok(z) => z,
            Err(e) => {
                self.skip(label, format!("corrupt or truncated zip archive: {e}"))?;
                return Ok(false);
            }
        };
        let mut all_ok = true;
        // `account.js` first: it names the owner of the X export files beside it.
        let mut order: Vec<usize> = (0..zip.len()).collect();
        order.sort_by_key(|&i| {
            let n = zip.name_for_index(i).unwrap_or("");
            !(n == "account.js" || n.ends_with("/account.js"))
        });
        for i in order {
            let name = zip.name_for_index(i).unwrap_or("?").to_string();
            let mut f = match zip.by_index(i) {
                Ok(f) => f,
                Err(e) => {
                    self.skip(
                        &format!("{label}!{name}"),
                        format!("unreadable zip member: {e}"),
                    )?;
                    all_ok = false;
                    continue;
                }
            };
            let member = f.name().to_string();
            let mlabel = format!("{label}!{member}");
            if f.is_dir() {
                continue;
            }
            if f.is_symlink() {
                self.skip(&mlabel, "link inside an archive, not followed")?;
                continue;
            }
            self.counters.files.fetch_add(1, Ordering::Relaxed);
            let mut guard = Guard {
                label: mlabel.clone(),
                out: 0,
                compressed: Rc::new(Cell::new(f.compressed_size())),
                total: total.clone(),
                limits: self.limits.clone(),
                inner: &mut f,
                stream_error: None,
            };
            let mhead = match read_head(&mut guard, HEAD_LEN) {
                Ok(h) => h,
                Err(e) => {
                    self.skip(&mlabel, describe_io(&e))?;
                    all_ok = false;
                    continue;
                }
            };
            let expect = member.to_ascii_lowercase().ends_with(".eml");
            all_ok &= self.read_stream(&mlabel, mhead, &mut guard, depth, total, expect)?;
        }
        Ok(all_ok)
    }
}

pub(crate) fn copy_into(
    head: &[u8],
    rest: &mut dyn Read,
    buf: &mut SpillBuf<'_>,
) -> io::Result<()> {
    buf.push(head)?;
    // Most messages end within their head: a small read finds that out before the large buffer
    // is allocated. Zeroing 256 KiB per file was 9% of the walker thread's CPU (perf, 17,685 list
    // messages of 7 KB on average).
    let mut probe = [0u8; 4096];
    let n = read_some(rest, &mut probe)?;
    if n == 0 {
        return Ok(());
    }
    buf.push(&probe[..n])?;
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = read_some(rest, &mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.push(&chunk[..n])?;
    }
}

/// One `read`, retried when interrupted; 0 means the end.
fn read_some(r: &mut dyn Read, into: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(into) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
