//! Content-addressed storage of raw bytes.
//!
//! A blob is named by the SHA-256 of its *original* bytes and never rewritten. The local store
//! compresses with zstd on disk; `get` always returns the original bytes. Writes go to a temporary
//! file and are renamed into place, so a blob is either absent or complete, even after SIGKILL.
//!
//! An archive may also hold one zstd dictionary (`blobs/dict/<id>.zdict`), trained once from the
//! first large batch an ingest sees. Messages of one corpus share most of their header lines, and
//! each blob is compressed alone, so a shared dictionary shrinks the store by about a quarter (see
//! bench/results.md). Every frame names its dictionary id, so a blob stays readable with the
//! standard `zstd -D` tool; a dictionary, like a blob, is written once and never removed.

use crate::{Error, Result};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};
use trove_model::Sha256Hash;
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// Storage for raw bytes. Local files now; object storage can implement the same trait later.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `hash` (which the caller computed) unless already present. Returns
    /// true when it wrote a new blob.
    fn put(&self, hash: &Sha256Hash, bytes: &[u8]) -> Result<bool>;
    /// Stores the contents of a file, streaming, for units too large to hold in memory.
    fn put_file(&self, hash: &Sha256Hash, path: &Path) -> Result<bool>;
    fn contains(&self, hash: &Sha256Hash) -> bool;
    /// A reader over the original bytes.
    fn open(&self, hash: &Sha256Hash) -> Result<Box<dyn Read + Send>>;
    fn get(&self, hash: &Sha256Hash) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open(hash)?
            .read_to_end(&mut out)
            .map_err(|e| Error::io(Path::new(&hash.to_hex()), e))?;
        Ok(out)
    }
    /// Makes every blob written so far durable (before the catalog refers to it).
    fn sync(&self) -> Result<()>;
    /// Whether the store would compress better with a dictionary trained from samples.
    fn wants_dictionary(&self) -> bool {
        false
    }
    /// Trains the store's dictionary from sample units; blobs written afterwards use it.
    fn train_dictionary(&self, _samples: &[&[u8]]) -> Result<()> {
        Ok(())
    }
    /// Every stored hash, for fsck.
    fn list(&self) -> Result<Vec<Sha256Hash>>;
    /// Bytes used on disk by stored blobs.
    fn stored_bytes(&self) -> Result<u64>;
}

/// Blobs under `<archive>/blobs/ab/<sha256>.zst`. Archives written before the one-level layout
/// have `blobs/ab/cd/<sha256>.zst`; those are still found, and `list` walks both.
pub struct FsBlobStore {
    root: PathBuf,
    tmp: PathBuf,
    level: i32,
    counter: AtomicU64,
    /// The dictionary new blobs are compressed with, once the archive has one. Read from disk on
    /// first use (the outer `None`), so commands that never touch a blob never pay for it.
    dict: RwLock<Option<Option<&'static Dict>>>,
    /// Every dictionary read so far, by id (a server started before the archive had one meets
    /// it on every new blob).
    dicts_by_id: Mutex<HashMap<u32, &'static Dict>>,
    /// Whether blobs can be written as unnamed files (`write_unnamed`); cleared, for the life of
    /// the store, the first time that fails (no `O_TMPFILE` on this file system, no `/proc`).
    unnamed_works: AtomicBool,
}

/// A prepared dictionary. Prepared dictionaries are kept for the life of the process (one per
/// distinct dictionary: `dict_by_content`), so that the per-thread zstd contexts can refer to them.
struct Dict {
    id: u32,
    encoder: EncoderDictionary<'static>,
    decoder: DecoderDictionary<'static>,
}

/// Smallest batch worth training on: fewer or smaller samples make a dictionary that does not pay
/// for itself (zstd's guidance is ~100× the dictionary size in samples).
pub const DICT_MIN_SAMPLES: usize = 200;
pub const DICT_MIN_BYTES: usize = 1 << 20;
/// Dictionary size: zstd's default, and the size the gains level off at on list mail.
const DICT_MAX_BYTES: usize = 112_640;
/// Only the head of a sample is used: the shared part of messages is their header block.
const DICT_SAMPLE_BYTES: usize = 16 << 10;

fn dict_by_content(bytes: &[u8], level: i32) -> Result<&'static Dict> {
    static CACHE: OnceLock<Mutex<HashMap<(Sha256Hash, i32), &'static Dict>>> = OnceLock::new();
    let id = zstd::zstd_safe::get_dict_id_from_dict(bytes)
        .map(|id| id.get())
        .ok_or_else(|| {
            Error::io(
                Path::new("dictionary"),
                io::Error::other("not a zstd dictionary"),
            )
        })?;
    let key = (Sha256Hash::of(bytes), level);
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    Ok(*cache.entry(key).or_insert_with(|| {
        Box::leak(Box::new(Dict {
            id,
            encoder: EncoderDictionary::copy(bytes, level),
            decoder: DecoderDictionary::copy(bytes),
        }))
    }))
}

impl FsBlobStore {
    /// The compressed file of a blob; a missing one is `MissingBlob`, not an IO error.
    fn open_file(&self, hash: &Sha256Hash) -> Result<(PathBuf, File)> {
        for p in [self.path_of(hash), self.legacy_path_of(hash)] {
            match File::open(&p) {
                Ok(f) => return Ok((p, f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        Err(Error::MissingBlob(hash.to_hex()))
    }

    pub fn new(root: PathBuf, tmp: PathBuf) -> Self {
        Self {
            root,
            tmp,
            level: 3,
            counter: AtomicU64::new(0),
            dict: RwLock::new(None),
            dicts_by_id: Mutex::new(HashMap::new()),
            unnamed_works: AtomicBool::new(true),
        }
    }

    /// The archive's dictionary for new blobs, if it has one.
    fn current_dict(&self) -> Option<&'static Dict> {
        if let Some(d) = *self.dict.read().unwrap_or_else(|p| p.into_inner()) {
            return d;
        }
        // The lowest id, should a killed training have left a second one: any choice is correct
        // (frames name their dictionary), this one is stable. An unreadable one is not used for
        // writing; reading a blob that needs it names the problem.
        let found = read_dir_sorted(&self.dict_dir())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                let id = p.file_name()?.to_str()?.strip_suffix(".zdict")?;
                id.parse::<u32>().ok()
            })
            .min()
            .and_then(|id| self.dictionary(id).ok());
        let mut slot = self.dict.write().unwrap_or_else(|p| p.into_inner());
        *slot.get_or_insert(found)
    }

    fn dict_dir(&self) -> PathBuf {
        self.root.join("dict")
    }

    fn dict_path(&self, id: u32) -> PathBuf {
        self.dict_dir().join(format!("{id}.zdict"))
    }

    /// The dictionary with this id, read from the archive.
    fn dictionary(&self, id: u32) -> Result<&'static Dict> {
        let mut known = self.dicts_by_id.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = known.get(&id) {
            return Ok(*d);
        }
        let p = self.dict_path(id);
        let bytes = fs::read(&p).map_err(|e| Error::io(&p, e))?;
        let d = dict_by_content(&bytes, self.level)?;
        if d.id != id {
            return Err(Error::io(
                &p,
                io::Error::other(format!("the file holds dictionary {}", d.id)),
            ));
        }
        known.insert(id, d);
        Ok(d)
    }

    /// The dictionary a compressed blob names in its frame header (`head`), if any.
    fn dictionary_named(&self, p: &Path, head: &[u8]) -> Result<Option<&'static Dict>> {
        let Some(id) = zstd::zstd_safe::get_dict_id_from_frame(head) else {
            return Ok(None);
        };
        match self.current_dict().filter(|d| d.id == id.get()) {
            Some(d) => Ok(Some(d)),
            None => self
                .dictionary(id.get())
                .map_err(|e| {
                    Error::io(
                        p,
                        io::Error::other(format!("its zstd dictionary {id}: {e}")),
                    )
                })
                .map(Some),
        }
    }

    /// Where a blob is written. One level of 256 folders: a second level cost a directory (4 KiB
    /// on disk) per few blobs, over half the blob store's size on a mailing-list corpus.
    pub fn path_of(&self, hash: &Sha256Hash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join(&hex[0..2]).join(format!("{hex}.zst"))
    }

    /// Where archives written before the one-level layout keep a blob.
    fn legacy_path_of(&self, hash: &Sha256Hash) -> PathBuf {
        let hex = hash.to_hex();
        self.root
            .join(&hex[0..2])
            .join(&hex[2..4])
            .join(format!("{hex}.zst"))
    }

    /// The file holding a blob, in either layout.
    pub fn file_of(&self, hash: &Sha256Hash) -> Option<PathBuf> {
        [self.path_of(hash), self.legacy_path_of(hash)]
            .into_iter()
            .find(|p| p.exists())
    }

    fn temp_path(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.tmp
            .join(format!("blob-{}-{n}.tmp", std::process::id()))
    }

    /// Writes a blob through zstd where no reader can see it, then names it in one step
    /// (`write_unnamed`, or a temp file renamed into place). One compression context per thread
    /// is reused: creating and clearing one per blob showed as ~4% of an ingest profile
    /// (ZSTD_createCCtx and its memset). `fill` runs twice when this system turns out not to
    /// support unnamed files.
    fn write_with(
        &self,
        hash: &Sha256Hash,
        fill: impl Fn(&mut zstd::Encoder<'_, File>) -> io::Result<()>,
    ) -> Result<bool> {
        let dest = self.path_of(hash);
        if self.contains(hash) {
            return Ok(false);
        }
        if self.unnamed_works.load(Ordering::Relaxed) {
            match self.write_unnamed(&dest, &fill) {
                Ok(()) => return Ok(true),
                Err(Unnamed::Unsupported(e)) => {
                    tracing::debug!("blobs as unnamed files: {e}; using temp files");
                    self.unnamed_works.store(false, Ordering::Relaxed);
                }
                Err(Unnamed::Failed(e)) => return Err(Error::io(&dest, e)),
            }
        }
        let tmp = self.temp_path();
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        if let Err(e) = self.compress_into(file, &fill) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, e));
        }
        // The folder is made when a rename first finds it missing: asking for it before every
        // blob was a failed `mkdir` per message (0.7% of an ingest's CPU).
        let renamed = match fs::rename(&tmp, &dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = dest.parent() {
                    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                fs::rename(&tmp, &dest)
            }
            r => r,
        };
        if let Err(e) = renamed {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&dest, e));
        }
        Ok(true)
    }

    /// Compresses `fill`'s bytes into `file` with this thread's context and the archive's
    /// dictionary.
    fn compress_into(
        &self,
        file: File,
        fill: &impl Fn(&mut zstd::Encoder<'_, File>) -> io::Result<()>,
    ) -> io::Result<File> {
        use std::cell::RefCell;
        use zstd::zstd_safe::{CCtx, CParameter, ResetDirective};
        thread_local! {
            static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
        }
        let dict = self.current_dict();
        CCTX.with(|cell| -> io::Result<File> {
            let mut slot = cell.borrow_mut();
            let ctx = slot.get_or_insert_with(CCtx::create);
            let zstd_err = |code| io::Error::other(zstd::zstd_safe::get_error_name(code));
            ctx.reset(ResetDirective::SessionAndParameters)
                .map_err(zstd_err)?;
            ctx.set_parameter(CParameter::CompressionLevel(self.level))
                .map_err(zstd_err)?;
            if let Some(d) = dict {
                ctx.ref_cdict(d.encoder.as_cdict()).map_err(zstd_err)?;
            }
            let mut enc = zstd::stream::write::Encoder::with_context(file, ctx);
            fill(&mut enc)?;
            let mut file = enc.finish()?;
            file.flush()?;
            Ok(file)
        })
    }

    /// Writes a blob as an unnamed file in its own folder (`O_TMPFILE`) and names it with
    /// `linkat`. Against a named temp file renamed into place, there is no temp name to create
    /// and remove, the two parse threads no longer queue on one folder's lock, and a crash
    /// leaves nothing behind. The kernel's share of an ingest's CPU went 28.9% → 25.4% (perf,
    /// 17,685 list messages: the rename and the folder lock's spinning gone); allocating an
    /// inode per blob (~11%) remains, and only packing blobs together would remove it.
    #[cfg(target_os = "linux")]
    fn write_unnamed(
        &self,
        dest: &Path,
        fill: &impl Fn(&mut zstd::Encoder<'_, File>) -> io::Result<()>,
    ) -> std::result::Result<(), Unnamed> {
        use rustix::fs::{AtFlags, CWD, Mode, OFlags};
        use rustix::io::Errno;
        use std::os::fd::AsRawFd;
        let dir = dest.parent().unwrap_or(Path::new("."));
        let open = || {
            rustix::fs::openat(
                CWD,
                dir,
                OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            )
        };
        // What a kernel or file system without `O_TMPFILE`, or a process without `/proc`, says.
        let unsupported = |e: Errno| {
            if [
                Errno::OPNOTSUPP,
                Errno::ISDIR,
                Errno::INVAL,
                Errno::NOENT,
                Errno::PERM,
            ]
            .contains(&e)
            {
                Unnamed::Unsupported(e.into())
            } else {
                Unnamed::Failed(e.into())
            }
        };
        let fd = match open() {
            Err(Errno::NOENT) => {
                fs::create_dir_all(dir).map_err(Unnamed::Failed)?;
                open().map_err(unsupported)?
            }
            r => r.map_err(unsupported)?,
        };
        let file = self
            .compress_into(File::from(fd), fill)
            .map_err(Unnamed::Failed)?;
        let by_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
        match rustix::fs::linkat(CWD, by_fd.as_str(), CWD, dest, AtFlags::SYMLINK_FOLLOW) {
            // The same bytes, stored meanwhile by another thread or process.
            Ok(()) | Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(unsupported(e)),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn write_unnamed(
        &self,
        _dest: &Path,
        _fill: &impl Fn(&mut zstd::Encoder<'_, File>) -> io::Result<()>,
    ) -> std::result::Result<(), Unnamed> {
        Err(Unnamed::Unsupported(io::ErrorKind::Unsupported.into()))
    }
}

/// Why a blob was not written as an unnamed file.
enum Unnamed {
    /// This system cannot: write it the other way.
    Unsupported(io::Error),
    /// Writing it failed (a full disk, an unreadable source): the other way would fail too.
    Failed(io::Error),
}

impl BlobStore for FsBlobStore {
    fn put(&self, hash: &Sha256Hash, bytes: &[u8]) -> Result<bool> {
        self.write_with(hash, |enc| enc.write_all(bytes))
    }

    fn put_file(&self, hash: &Sha256Hash, path: &Path) -> Result<bool> {
        use std::io::{Seek, SeekFrom};
        let src = File::open(path).map_err(|e| Error::io(path, e))?;
        // From the start each time: `fill` runs again should unnamed files turn out unsupported.
        self.write_with(hash, |enc| {
            (&src).seek(SeekFrom::Start(0))?;
            io::copy(&mut BufReader::new(&src), enc).map(|_| ())
        })
    }

    fn contains(&self, hash: &Sha256Hash) -> bool {
        self.file_of(hash).is_some()
    }

    fn open(&self, hash: &Sha256Hash) -> Result<Box<dyn Read + Send>> {
        use std::io::{Seek, SeekFrom};
        let (p, mut f) = self.open_file(hash)?;
        // A frame header is at most 18 bytes.
        let mut head = Vec::with_capacity(18);
        (&mut f)
            .take(18)
            .read_to_end(&mut head)
            .and_then(|_| f.seek(SeekFrom::Start(0)))
            .map_err(|e| Error::io(&p, e))?;
        let dec = match self.dictionary_named(&p, &head)? {
            Some(d) => zstd::Decoder::with_prepared_dictionary(BufReader::new(f), &d.decoder),
            None => zstd::Decoder::new(f),
        }
        .map_err(|e| Error::io(&p, e))?;
        Ok(Box::new(dec))
    }

    /// Whole blobs (the common case) reuse one decompression context per thread: creating a
    /// zstd context costs more than decompressing a typical message.
    fn get(&self, hash: &Sha256Hash) -> Result<Vec<u8>> {
        use std::cell::RefCell;
        use zstd::zstd_safe::{DCtx, ResetDirective};
        thread_local! {
            static DCTX: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
        }
        let (p, mut f) = self.open_file(hash)?;
        // Compressed messages are small: one read, then decompress from memory.
        let mut compressed = Vec::new();
        f.read_to_end(&mut compressed)
            .map_err(|e| Error::io(&p, e))?;
        let dict = self.dictionary_named(&p, &compressed)?;
        DCTX.with(|cell| {
            let mut slot = cell.borrow_mut();
            let ctx = slot.get_or_insert_with(DCtx::create);
            // A previous read may have stopped mid-frame, or used a dictionary.
            let _ = ctx.reset(ResetDirective::SessionAndParameters);
            if let Some(d) = dict {
                ctx.ref_ddict(d.decoder.as_ddict()).map_err(|c| {
                    Error::io(&p, io::Error::other(zstd::zstd_safe::get_error_name(c)))
                })?;
            }
            let mut dec = zstd::stream::read::Decoder::with_context(&compressed[..], ctx);
            let mut out = Vec::new();
            dec.read_to_end(&mut out).map_err(|e| Error::io(&p, e))?;
            Ok(out)
        })
    }

    fn sync(&self) -> Result<()> {
        let dir = File::open(&self.root).map_err(|e| Error::io(&self.root, e))?;
        rustix::fs::syncfs(&dir).map_err(|e| Error::io(&self.root, e.into()))?;
        Ok(())
    }

    fn wants_dictionary(&self) -> bool {
        self.current_dict().is_none()
    }

    /// Trains a dictionary, makes it durable, then uses it for every blob written after. Blobs
    /// written before keep their own (dictionary-less) frames.
    fn train_dictionary(&self, samples: &[&[u8]]) -> Result<()> {
        let heads: Vec<&[u8]> = samples
            .iter()
            .map(|s| &s[..s.len().min(DICT_SAMPLE_BYTES)])
            .collect();
        let dir = self.dict_dir();
        let bytes =
            zstd::dict::from_samples(&heads, DICT_MAX_BYTES).map_err(|e| Error::io(&dir, e))?;
        let d = dict_by_content(&bytes, self.level)?;
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let dest = self.dict_path(d.id);
        if !dest.exists() {
            let tmp = self.temp_path();
            let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(&bytes)
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::io(&tmp, e))?;
            fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(&dir, e))?;
        }
        *self.dict.write().unwrap_or_else(|p| p.into_inner()) = Some(Some(d));
        Ok(())
    }

    fn list(&self) -> Result<Vec<Sha256Hash>> {
        let mut out = Vec::new();
        let mut add = |f: &Path| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if let Some(h) = name.strip_suffix(".zst").and_then(Sha256Hash::from_hex) {
                out.push(h);
            }
        };
        for a in read_dir_sorted(&self.root)? {
            for b in read_dir_sorted(&a)? {
                if b.is_dir() {
                    // The legacy two-level layout.
                    read_dir_sorted(&b)?.iter().for_each(|f| add(f));
                } else {
                    add(&b);
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn stored_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for h in self.list()? {
            let p = self
                .file_of(&h)
                .ok_or_else(|| Error::MissingBlob(h.to_hex()))?;
            total += fs::metadata(&p).map_err(|e| Error::io(&p, e))?.len();
        }
        Ok(total)
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(dir, e)),
    };
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of writing a blob (unnamed file + `linkat`, temp file + rename) store it whole,
    /// under its name only, and leave no temp file behind; a file put is read from its path.
    #[test]
    fn put_get_round_trips_and_dedups() {
        for unnamed in [true, false] {
            let dir = tempfile::tempdir().expect("tempdir");
            let tmp = dir.path().join("tmp");
            fs::create_dir_all(&tmp).expect("tmp");
            let store = FsBlobStore::new(dir.path().join("blobs"), tmp.clone());
            store.unnamed_works.store(unnamed, Ordering::Relaxed);
            let data = b"From: a@b\r\n\r\nbody\x00\xff".repeat(100);
            let h = Sha256Hash::of(&data);
            assert!(store.put(&h, &data).expect("put"));
            assert!(!store.put(&h, &data).expect("second put"));
            assert_eq!(store.get(&h).expect("get"), data);
            let src = dir.path().join("spilled");
            fs::write(&src, b"spilled to disk").expect("write");
            let hf = Sha256Hash::of(b"spilled to disk");
            assert!(store.put_file(&hf, &src).expect("put_file"));
            assert_eq!(store.get(&hf).expect("get"), b"spilled to disk");
            let mut listed = store.list().expect("list");
            listed.sort_by_key(|h| h.0);
            let mut expected = vec![h, hf];
            expected.sort_by_key(|h| h.0);
            assert_eq!(listed, expected);
            assert_eq!(fs::read_dir(&tmp).expect("tmp").count(), 0);
            // Two files, one per blob, and nothing else in their folders.
            let files: usize = fs::read_dir(dir.path().join("blobs"))
                .expect("blobs")
                .map(|d| {
                    fs::read_dir(d.expect("entry").path())
                        .expect("folder")
                        .count()
                })
                .sum();
            assert_eq!(files, 2);
            store.sync().expect("sync");
            let missing = Sha256Hash::of(b"nope");
            assert!(matches!(store.get(&missing), Err(Error::MissingBlob(_))));
            assert!(
                store
                    .put_file(&missing, &dir.path().join("absent"))
                    .is_err()
            );
            #[cfg(target_os = "linux")]
            assert_eq!(store.unnamed_works.load(Ordering::Relaxed), unnamed);
        }
    }

    #[test]
    fn blobs_in_the_legacy_two_level_layout_are_still_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::new(dir.path().join("blobs"), dir.path().to_path_buf());
        let (old, new) = (
            b"written by an older trove".to_vec(),
            b"written now".to_vec(),
        );
        let (ho, hn) = (Sha256Hash::of(&old), Sha256Hash::of(&new));
        store.put(&ho, &old).expect("put");
        // Move it where the two-level layout kept it.
        let legacy = store.legacy_path_of(&ho);
        fs::create_dir_all(legacy.parent().expect("parent")).expect("mkdir");
        fs::rename(store.path_of(&ho), &legacy).expect("move");
        store.put(&hn, &new).expect("put");
        assert!(store.contains(&ho));
        assert!(!store.put(&ho, &old).expect("dedup against the legacy copy"));
        assert!(!store.path_of(&ho).exists());
        assert_eq!(store.get(&ho).expect("get"), old);
        let mut want = vec![ho, hn];
        want.sort();
        assert_eq!(store.list().expect("list"), want);
        assert!(store.stored_bytes().expect("bytes") > 0);
    }

    fn sample_message(i: usize) -> Vec<u8> {
        format!(
            "Received: from mail.linux-mips.org ([127.0.0.1]) by eddie.linux-mips.org\r\n\
             From: Person {i} <p{i}@example.org>\r\nTo: linux-mips@linux-mips.org\r\n\
             Subject: [PATCH {i}] MIPS: fix the thing number {}\r\nMessage-ID: <{i}.{}@example.org>\r\n\
             List-Id: linux-mips <linux-mips.eddie.linux-mips.org>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=UTF-8\r\n\r\nBody {i} says {}.\r\n",
            i * 7919 % 1000,
            i * 31,
            "word ".repeat(i % 50)
        )
        .into_bytes()
    }

    #[test]
    fn a_trained_dictionary_shrinks_blobs_and_every_blob_stays_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("blobs");
        let store = FsBlobStore::new(root.clone(), dir.path().to_path_buf());
        assert!(store.wants_dictionary());
        let before = sample_message(100_001);
        let hb = Sha256Hash::of(&before);
        store.put(&hb, &before).expect("put without a dictionary");
        let plain_size = fs::metadata(store.path_of(&hb)).expect("meta").len();

        let samples: Vec<Vec<u8>> = (0..400).map(sample_message).collect();
        let refs: Vec<&[u8]> = samples.iter().map(|s| s.as_slice()).collect();
        store.train_dictionary(&refs).expect("train");
        assert!(!store.wants_dictionary());
        let after = sample_message(100_002);
        let ha = Sha256Hash::of(&after);
        store.put(&ha, &after).expect("put with the dictionary");
        let dict_size = fs::metadata(store.path_of(&ha)).expect("meta").len();
        assert!(
            dict_size * 2 < plain_size,
            "with dictionary {dict_size} bytes, without {plain_size}"
        );

        // A fresh store (another process) finds the dictionary; both kinds of frame read back,
        // whole and streamed.
        let again = FsBlobStore::new(root.clone(), dir.path().to_path_buf());
        assert!(!again.wants_dictionary());
        for (h, want) in [(hb, &before), (ha, &after)] {
            assert_eq!(&again.get(&h).expect("get"), want);
            let mut streamed = Vec::new();
            again
                .open(&h)
                .expect("open")
                .read_to_end(&mut streamed)
                .expect("read");
            assert_eq!(&streamed, want);
        }
        assert_eq!(
            again.list().expect("list").len(),
            2,
            "the dictionary is not a blob"
        );

        // Without its dictionary a blob is an error that names the dictionary, not a panic.
        for e in fs::read_dir(root.join("dict")).expect("dict dir") {
            fs::remove_file(e.expect("entry").path()).expect("rm");
        }
        let orphan = FsBlobStore::new(root, dir.path().to_path_buf());
        let err = orphan.get(&ha).expect_err("no dictionary");
        assert!(err.to_string().contains("dictionary"), "{err}");
        assert_eq!(orphan.get(&hb).expect("plain frame"), before);
    }
}
