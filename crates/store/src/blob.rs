//! Content-addressed storage of raw bytes.
//!
//! A blob is named by the SHA-256 of its *original* bytes and never rewritten. The local store
//! compresses with zstd on disk; `get` always returns the original bytes. Writes go to a temporary
//! file and are renamed into place, so a blob is either absent or complete, even after SIGKILL.

use crate::{Error, Result};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use trove_model::Sha256Hash;

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

    /// Writes a blob through zstd into a temp file, then renames it into place. One compression
    /// context per thread is reused: creating and clearing one per blob showed as ~4% of an
    /// ingest profile (ZSTD_createCCtx and its memset).
    fn write_with(
        &self,
        hash: &Sha256Hash,
        fill: impl FnOnce(&mut zstd::Encoder<'_, File>) -> io::Result<()>,
    ) -> Result<bool> {
        use std::cell::RefCell;
        use zstd::zstd_safe::{CCtx, CParameter, ResetDirective};
        thread_local! {
            static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
        }
        let dest = self.path_of(hash);
        if self.contains(hash) {
            return Ok(false);
        }
        let tmp = self.temp_path();
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let written = CCTX.with(|cell| -> io::Result<()> {
            let mut slot = cell.borrow_mut();
            let ctx = slot.get_or_insert_with(CCtx::create);
            let zstd_err = |code| io::Error::other(zstd::zstd_safe::get_error_name(code));
            ctx.reset(ResetDirective::SessionAndParameters)
                .map_err(zstd_err)?;
            ctx.set_parameter(CParameter::CompressionLevel(self.level))
                .map_err(zstd_err)?;
            let mut enc = zstd::stream::write::Encoder::with_context(file, ctx);
            fill(&mut enc)?;
            enc.finish()?.flush()
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, e));
        }
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
        Ok(true)
    }
}

impl BlobStore for FsBlobStore {
    fn put(&self, hash: &Sha256Hash, bytes: &[u8]) -> Result<bool> {
        self.write_with(hash, |enc| enc.write_all(bytes))
    }

    fn put_file(&self, hash: &Sha256Hash, path: &Path) -> Result<bool> {
        let src = File::open(path).map_err(|e| Error::io(path, e))?;
        self.write_with(hash, |enc| {
            io::copy(&mut BufReader::new(src), enc).map(|_| ())
        })
    }

    fn contains(&self, hash: &Sha256Hash) -> bool {
        self.file_of(hash).is_some()
    }

    fn open(&self, hash: &Sha256Hash) -> Result<Box<dyn Read + Send>> {
        let (p, f) = self.open_file(hash)?;
        let dec = zstd::Decoder::new(f).map_err(|e| Error::io(&p, e))?;
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
        let (p, f) = self.open_file(hash)?;
        DCTX.with(|cell| {
            let mut slot = cell.borrow_mut();
            let ctx = slot.get_or_insert_with(DCtx::create);
            // A previous read may have stopped mid-frame.
            let _ = ctx.reset(ResetDirective::SessionOnly);
            let mut dec = zstd::stream::read::Decoder::with_context(BufReader::new(f), ctx);
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

    #[test]
    fn put_get_round_trips_and_dedups() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::new(dir.path().join("blobs"), dir.path().to_path_buf());
        let data = b"From: a@b\r\n\r\nbody\x00\xff".repeat(100);
        let h = Sha256Hash::of(&data);
        assert!(store.put(&h, &data).expect("put"));
        assert!(!store.put(&h, &data).expect("second put"));
        assert_eq!(store.get(&h).expect("get"), data);
        assert_eq!(store.list().expect("list"), vec![h]);
        store.sync().expect("sync");
        let missing = Sha256Hash::of(b"nope");
        assert!(matches!(store.get(&missing), Err(Error::MissingBlob(_))));
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
}
