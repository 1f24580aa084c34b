//! Pack files: many small blobs appended to one file, instead of one file each.
//!
//! Why: a file per message cost the kernel an inode each. In a `perf` profile of the
//! 17,685-message ingest, allocating them (`__ext4_new_inode`) was 12% of all CPU, the single
//! largest cost outside parsing and indexing; and a leak of 12 million documents would be 12
//! million files to back up, copy and count.
//!
//! A pack (`blobs/packs/<name>.pack`) is a sequence of records, each a 40-byte header and one
//! standard zstd frame:
//!
//! ```text
//! "TRVB" | SHA-256 of the original bytes (32) | frame length (u32 LE) | zstd frame
//! ```
//!
//! so a pack can be read record by record with no other file, and each frame decompresses with
//! the stock `zstd` tool (given the archive's dictionary when its header names one). A pack is
//! only ever appended to, by the one process that created it, and a record is complete before
//! anything refers to it (`sync` comes before the catalog commit). A process killed mid-record
//! leaves a torn last record: readers stop at it, and it is never appended to again.
//!
//! When its writer closes a pack (at 64 MiB, or when the store is dropped) it writes an index
//! beside it, `<name>.idx`: the records' hashes, offsets and lengths, sorted by hash, with the
//! first 8 bytes of each hash first, in one block. Readers keep only those 8-byte prefixes in
//! memory (8 MB for a million blobs) and read a full entry only for a matching prefix; a pack
//! without an index (its writer is still writing, or was killed) is scanned header by header.
//! A Bloom filter over all indexed prefixes (`bloom.rs`) lets a new blob, which is in no pack,
//! skip the indexes altogether.
//! The index is derived: deleting it only makes the next reader scan the pack.

use crate::bloom::Bloom;
use crate::{Error, Result};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use trove_model::Sha256Hash;

const RECORD_MAGIC: &[u8; 4] = b"TRVB";
pub(crate) const HEADER_LEN: u64 = 40;
const INDEX_MAGIC: &[u8; 8] = b"TRVIDX1\n";
/// Index header: magic, entry count, pack length covered.
const INDEX_HEADER_LEN: u64 = 24;
/// An index entry: hash, offset of the record, frame length.
const ENTRY_LEN: u64 = 32 + 8 + 4;
/// A pack is closed, and indexed, once it is this big. The writer keeps its pack's records in a
/// hash map until then: 64 MiB of list mail is about 30,000 records, 2 MB of memory.
const PACK_TARGET_BYTES: u64 = 64 << 20;

/// Where a packed blob is: its pack, and its frame's offset and length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub pack: usize,
    pub frame_offset: u64,
    pub frame_len: u32,
}

/// A pack known to this process, for reading.
struct Pack {
    path: PathBuf,
    file: File,
    index: Option<Index>,
    /// Records found by scanning (a pack without an index), or written by this process.
    scanned: HashMap<Sha256Hash, (u64, u32)>,
    /// Bytes of the pack read so far by a scan; the next scan continues from here.
    scanned_to: u64,
}

/// A closed pack's index: the sorted 8-byte prefixes in memory, the entries on disk.
struct Index {
    file: File,
    prefixes: Vec<u64>,
    /// Bytes of the pack the index covers: no entry may point past them.
    covered: u64,
}

impl Index {
    fn open(path: &Path, pack_len: u64) -> io::Result<Self> {
        let file = File::open(path)?;
        let mut head = [0u8; INDEX_HEADER_LEN as usize];
        file.read_exact_at(&mut head, 0)?;
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        if &head[..8] != INDEX_MAGIC {
            return Err(bad("not a pack index"));
        }
        let count = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        let covered = u64::from_le_bytes(head[16..24].try_into().unwrap_or_default());
        let expect = count
            .checked_mul(8 + ENTRY_LEN)
            .and_then(|n| n.checked_add(INDEX_HEADER_LEN));
        if expect != Some(file.metadata()?.len()) || covered > pack_len {
            return Err(bad("its length does not match its header or its pack"));
        }
        let mut raw = vec![0u8; (count * 8) as usize];
        file.read_exact_at(&mut raw, INDEX_HEADER_LEN)?;
        let prefixes: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
            .collect();
        if !prefixes.is_sorted() {
            return Err(bad("its entries are not sorted"));
        }
        Ok(Self {
            file,
            prefixes,
            covered,
        })
    }

    fn entry(&self, i: usize) -> io::Result<(Sha256Hash, u64, u32)> {
        let mut e = [0u8; ENTRY_LEN as usize];
        let at = INDEX_HEADER_LEN + self.prefixes.len() as u64 * 8 + i as u64 * ENTRY_LEN;
        self.file.read_exact_at(&mut e, at)?;
        let mut h = [0u8; 32];
        h.copy_from_slice(&e[..32]);
        let offset = u64::from_le_bytes(e[32..40].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(e[40..44].try_into().unwrap_or_default());
        Ok((Sha256Hash(h), offset, len))
    }

    /// Every hash in the index, read in large blocks.
    fn hashes(&self, out: &mut Vec<Sha256Hash>) -> io::Result<()> {
        const BLOCK: usize = 4096;
        let n = self.prefixes.len();
        let start = INDEX_HEADER_LEN + n as u64 * 8;
        let mut buf = vec![0u8; BLOCK * ENTRY_LEN as usize];
        for first in (0..n).step_by(BLOCK) {
            let count = BLOCK.min(n - first);
            let bytes = &mut buf[..count * ENTRY_LEN as usize];
            self.file
                .read_exact_at(bytes, start + first as u64 * ENTRY_LEN)?;
            out.extend(bytes.chunks_exact(ENTRY_LEN as usize).map(|e| {
                let mut h = [0u8; 32];
                h.copy_from_slice(&e[..32]);
                Sha256Hash(h)
            }));
        }
        Ok(())
    }

    fn find(&self, hash: &Sha256Hash) -> io::Result<Option<(u64, u32)>> {
        let p = prefix(hash);
        let start = self.prefixes.partition_point(|&x| x < p);
        for i in start..self.prefixes.len() {
            if self.prefixes[i] != p {
                break;
            }
            let (h, offset, len) = self.entry(i)?;
            if h == *hash {
                return Ok(Some((offset, len)));
            }
        }
        Ok(None)
    }
}

fn prefix(h: &Sha256Hash) -> u64 {
    u64::from_be_bytes(h.0[..8].try_into().unwrap_or_default())
}

fn index_path(pack: &Path) -> PathBuf {
    pack.with_extension("idx")
}

impl Pack {
    fn open(path: PathBuf) -> Result<Self> {
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let ip = index_path(&path);
        let index = match Index::open(&ip, len) {
            Ok(i) => Some(i),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                // Derived data: the pack itself says what it holds.
                tracing::warn!("{}: {e}; reading its pack instead", ip.display());
                None
            }
        };
        let mut pack = Pack {
            path,
            file,
            index,
            scanned: HashMap::new(),
            scanned_to: 0,
        };
        if pack.index.is_none() {
            pack.scan()?;
        }
        Ok(pack)
    }

    /// Reads record headers from where the last scan stopped, up to the first record that is
    /// not (yet) complete.
    fn scan(&mut self) -> Result<()> {
        let len = self
            .file
            .metadata()
            .map_err(|e| Error::io(&self.path, e))?
            .len();
        let mut at = self.scanned_to;
        let mut head = [0u8; HEADER_LEN as usize];
        while at + HEADER_LEN <= len {
            self.file
                .read_exact_at(&mut head, at)
                .map_err(|e| Error::io(&self.path, e))?;
            let frame_len = u32::from_le_bytes(head[36..40].try_into().unwrap_or_default());
            let end = at + HEADER_LEN + u64::from(frame_len);
            if &head[..4] != RECORD_MAGIC || end > len {
                break;
            }
            let mut h = [0u8; 32];
            h.copy_from_slice(&head[4..36]);
            self.scanned
                .entry(Sha256Hash(h))
                .or_insert((at + HEADER_LEN, frame_len));
            at = end;
        }
        self.scanned_to = at;
        Ok(())
    }

    /// Looks in the records scanned or written, and in the index only if `in_index`.
    fn find(&self, hash: &Sha256Hash, in_index: bool) -> Result<Option<(u64, u32)>> {
        if let Some(&found) = self.scanned.get(hash) {
            return Ok(Some(found));
        }
        match &self.index {
            Some(i) if in_index => i
                .find(hash)
                .map_err(|e| Error::io(&index_path(&self.path), e)),
            _ => Ok(None),
        }
    }
}

/// The pack this process is appending to.
struct Writer {
    /// Its position in `Packs::packs`, where its records are also entered as written.
    pack: usize,
    file: File,
    len: u64,
}

/// Every pack this process knows of, and the one it writes.
#[derive(Default)]
pub(crate) struct Packs {
    packs: Vec<Pack>,
    writer: Option<Writer>,
    loaded: bool,
    /// Every prefix in every index above: a hash it rules out is in no closed pack.
    indexed: Bloom,
}

static NEXT_PACK: AtomicU64 = AtomicU64::new(0);

impl Packs {
    fn dir(root: &Path) -> PathBuf {
        root.join("packs")
    }

    /// Reads the packs directory: packs not seen yet are opened, and packs without an index are
    /// scanned for records written since. Called once before the first lookup, and again by
    /// readers that miss (a writer in another process may have added the blob since).
    pub(crate) fn refresh(&mut self, root: &Path) -> Result<()> {
        self.loaded = true;
        let dir = Self::dir(root);
        let mut names: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pack"))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(Error::io(&dir, e)),
        };
        names.sort();
        let writing = self.writer.as_ref().map(|w| w.pack);
        let mut adopted = vec![];
        for (i, p) in self.packs.iter_mut().enumerate() {
            if p.index.is_some() || Some(i) == writing {
                continue;
            }
            // Closed by its writer since we last looked?
            let len = p.file.metadata().map_err(|e| Error::io(&p.path, e))?.len();
            match Index::open(&index_path(&p.path), len) {
                Ok(index) => {
                    p.index = Some(index);
                    p.scanned = HashMap::new();
                    adopted.push(i);
                }
                Err(_) => p.scan()?,
            }
        }
        for path in names {
            if !self.packs.iter().any(|p| p.path == path) {
                self.packs.push(Pack::open(path)?);
                adopted.push(self.packs.len() - 1);
            }
        }
        for i in adopted {
            self.note_index(i);
        }
        Ok(())
    }

    /// Enters the index of pack `i` in the filter, or rebuilds the filter twice as large if it
    /// would be past its capacity.
    fn note_index(&mut self, i: usize) {
        let Some(index) = &self.packs[i].index else {
            return;
        };
        let needed = self.indexed.entries() + index.prefixes.len();
        if needed <= self.indexed.capacity() {
            for &p in &index.prefixes {
                self.indexed.insert(p);
            }
            return;
        }
        let mut bloom = Bloom::with_capacity(needed.max(self.indexed.capacity() * 2));
        for index in self.packs.iter().filter_map(|p| p.index.as_ref()) {
            for &p in &index.prefixes {
                bloom.insert(p);
            }
        }
        self.indexed = bloom;
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded
    }

    pub(crate) fn find(&self, hash: &Sha256Hash) -> Result<Option<Slot>> {
        let in_index = self.indexed.may_contain(prefix(hash));
        for (i, p) in self.packs.iter().enumerate() {
            if let Some((frame_offset, frame_len)) = p.find(hash, in_index)? {
                return Ok(Some(Slot {
                    pack: i,
                    frame_offset,
                    frame_len,
                }));
            }
        }
        Ok(None)
    }

    pub(crate) fn path(&self, slot: &Slot) -> &Path {
        &self.packs[slot.pack].path
    }

    /// The compressed frame in `slot`.
    pub(crate) fn read(&self, slot: &Slot) -> Result<Vec<u8>> {
        let p = &self.packs[slot.pack];
        // Scanned records were checked against the pack's length; an index is only a file.
        let end = slot.frame_offset.checked_add(u64::from(slot.frame_len));
        let within = p
            .index
            .as_ref()
            .map_or(p.scanned_to, |i| i.covered.max(p.scanned_to));
        if end.is_none_or(|e| e > within) {
            return Err(Error::io(
                &index_path(&p.path),
                io::Error::new(io::ErrorKind::InvalidData, "an entry points past its pack"),
            ));
        }
        let mut buf = vec![0u8; slot.frame_len as usize];
        p.file
            .read_exact_at(&mut buf, slot.frame_offset)
            .map_err(|e| Error::io(&p.path, e))?;
        Ok(buf)
    }

    /// Appends one record. The caller has checked that the hash is not stored.
    pub(crate) fn append(&mut self, root: &Path, hash: &Sha256Hash, frame: &[u8]) -> Result<()> {
        let frame_len = u32::try_from(frame.len()).map_err(|_| {
            Error::io(
                &Self::dir(root),
                io::Error::other("a frame too large for a pack"),
            )
        })?;
        if self.writer.is_none() {
            self.start(root)?;
        }
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::io(
                &Self::dir(root),
                io::Error::other("no pack to write to"),
            ));
        };
        let mut record = Vec::with_capacity(HEADER_LEN as usize + frame.len());
        record.extend_from_slice(RECORD_MAGIC);
        record.extend_from_slice(&hash.0);
        record.extend_from_slice(&frame_len.to_le_bytes());
        record.extend_from_slice(frame);
        let at = w.len;
        if let Err(e) = w.file.write_all_at(&record, at) {
            // A part of the record may be on disk: nothing more goes after it.
            let path = self.packs[w.pack].path.clone();
            self.writer = None;
            return Err(Error::io(&path, e));
        }
        w.len += record.len() as u64;
        let pack = &mut self.packs[w.pack];
        pack.scanned.insert(*hash, (at + HEADER_LEN, frame_len));
        pack.scanned_to = w.len;
        if w.len >= PACK_TARGET_BYTES {
            self.close()?;
        }
        Ok(())
    }

    /// Creates a new pack (a name no other process or earlier run can have).
    fn start(&mut self, root: &Path) -> Result<()> {
        let dir = Self::dir(root);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "{nanos:024}-{}-{}.pack",
            std::process::id(),
            NEXT_PACK.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // The new name must survive a crash as surely as the records `sync` makes durable.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(&dir, e))?;
        let read = file.try_clone().map_err(|e| Error::io(&path, e))?;
        self.packs.push(Pack {
            path,
            file: read,
            index: None,
            scanned: HashMap::new(),
            scanned_to: 0,
        });
        self.writer = Some(Writer {
            pack: self.packs.len() - 1,
            file,
            len: 0,
        });
        Ok(())
    }

    /// Makes every record written so far durable.
    pub(crate) fn sync(&self) -> Result<()> {
        if let Some(w) = &self.writer {
            w.file
                .sync_data()
                .map_err(|e| Error::io(&self.packs[w.pack].path, e))?;
        }
        Ok(())
    }

    /// Closes the pack being written: durable, then indexed.
    pub(crate) fn close(&mut self) -> Result<()> {
        let Some(w) = self.writer.take() else {
            return Ok(());
        };
        let pack = &mut self.packs[w.pack];
        w.file.sync_data().map_err(|e| Error::io(&pack.path, e))?;
        let mut entries: Vec<(Sha256Hash, u64, u32)> =
            pack.scanned.iter().map(|(h, &(o, l))| (*h, o, l)).collect();
        entries.sort_by_key(|e| e.0);
        let ip = index_path(&pack.path);
        write_index(&ip, &entries, w.len)?;
        let index = Index::open(&ip, w.len).map_err(|e| Error::io(&ip, e))?;
        pack.index = Some(index);
        pack.scanned = HashMap::new();
        self.note_index(w.pack);
        Ok(())
    }

    /// Every packed hash (for fsck).
    pub(crate) fn hashes(&self) -> Result<Vec<Sha256Hash>> {
        let mut out = vec![];
        for p in &self.packs {
            out.extend(p.scanned.keys().copied());
            if let Some(index) = &p.index {
                index
                    .hashes(&mut out)
                    .map_err(|e| Error::io(&index_path(&p.path), e))?;
            }
        }
        Ok(out)
    }

    /// Bytes of all packs and their indexes.
    pub(crate) fn bytes(&self) -> Result<u64> {
        let mut total = 0;
        for p in &self.packs {
            for f in [p.path.clone(), index_path(&p.path)] {
                match fs::metadata(&f) {
                    Ok(m) => total += m.len(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&f, e)),
                }
            }
        }
        Ok(total)
    }
}

/// Writes an index where no reader can see it half-written: a temp file renamed into place.
fn write_index(path: &Path, entries: &[(Sha256Hash, u64, u32)], pack_len: u64) -> Result<()> {
    let tmp = path.with_extension("idx.tmp");
    let io_err = |e| Error::io(path, e);
    let mut f = BufWriter::new(File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
    f.write_all(INDEX_MAGIC).map_err(io_err)?;
    f.write_all(&(entries.len() as u64).to_le_bytes())
        .map_err(io_err)?;
    f.write_all(&pack_len.to_le_bytes()).map_err(io_err)?;
    for (h, _, _) in entries {
        f.write_all(&h.0[..8]).map_err(io_err)?;
    }
    for (h, o, l) in entries {
        f.write_all(&h.0).map_err(io_err)?;
        f.write_all(&o.to_le_bytes()).map_err(io_err)?;
        f.write_all(&l.to_le_bytes()).map_err(io_err)?;
    }
    let f = f.into_inner().map_err(|e| io_err(e.into_error()))?;
    f.sync_all().map_err(io_err)?;
    fs::rename(&tmp, path).map_err(io_err)?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index is derived data that could be damaged: an entry pointing past its pack is an
    /// error, not an allocation of whatever length it claims.
    #[test]
    fn an_index_entry_past_its_pack_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let h = Sha256Hash::of(b"x");
        let mut packs = Packs::default();
        packs.refresh(&root).expect("refresh");
        packs.append(&root, &h, b"frame").expect("append");
        packs.close().expect("close");
        let pack = packs.packs[0].path.clone();
        let len = fs::metadata(&pack).expect("meta").len();
        write_index(&index_path(&pack), &[(h, HEADER_LEN, u32::MAX)], len).expect("index");
        let mut fresh = Packs::default();
        fresh.refresh(&root).expect("refresh");
        let slot = fresh.find(&h).expect("find").expect("indexed");
        assert_eq!(slot.frame_len, u32::MAX);
        let err = fresh.read(&slot).expect_err("past the pack");
        assert!(err.to_string().contains("past its pack"), "{err}");
        // The true entry reads back.
        write_index(&index_path(&pack), &[(h, HEADER_LEN, 5)], len).expect("index");
        let mut fresh = Packs::default();
        fresh.refresh(&root).expect("refresh");
        let slot = fresh.find(&h).expect("find").expect("indexed");
        assert_eq!(fresh.read(&slot).expect("read"), b"frame");
    }
}
