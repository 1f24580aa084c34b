//! The archive on disk: settings, the content-addressed blob store, the SQLite catalog and the
//! exclusive writer lock.
//!
//! ```text
//! <archive>/
//!   trove.toml        format version, name, limits
//!   catalog.sqlite    WAL; the only place with relations
//!   blobs/ab/…        raw bytes by SHA-256 (zstd on disk)
//!   index/            search index (derived)
//!   log/  keys/       tamper-evident log and keys (derived / archive secrets)
//!   tmp/              spill files and blobs being written; safe to empty when no writer runs
//!   lock              held exclusively by the one writer
//! ```
//!
//! This crate must not parse messages or know about input formats.

pub mod annotations;
pub mod blob;
mod bloom;
pub mod catalog;
pub mod log;
mod pack;
pub mod relations;
pub mod settings;
pub mod verification;

pub use annotations::{NoteRow, SavedSearch, TagCount};
pub use blob::{BlobStore, FsBlobStore};
pub use catalog::{Catalog, CatalogTx, EmailRef, ItemRow, NewItem, ProblemRow, Recorded, Stats};
pub use log::{CheckpointRow, LeafRow, LeafSource};
pub use relations::{
    ActorRow, ActorSummary, ConvInput, ConversationLabel, ConversationRow, Derived, SeenIdentity,
    ThreadAssign, ThreadInput, ThreadMember,
};
pub use settings::{ExtractSettings, FORMAT_VERSION, Limits, Settings, VerifySettings};
pub use verification::{KeyRow, StoredResult, VerificationRow};

use std::fs::{self, File};
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed on a named path.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The catalog could not be opened or queried.
    #[error("catalog {path}: {source}")]
    Catalog {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A query or write inside the catalog failed.
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The directory is not a trove archive.
    #[error("{0} is not a trove archive (no trove.toml); create one with `trove init {0}`")]
    NotAnArchive(String),
    /// The archive was written by an incompatible version.
    #[error("incompatible archive: {0}")]
    Incompatible(String),
    /// `trove.toml` is malformed.
    #[error("{path}: {msg}")]
    Settings { path: PathBuf, msg: String },
    /// Another process holds the writer lock.
    #[error(
        "another trove process is writing to {0} (its lock is held); wait for it to finish, or \
         pass --wait"
    )]
    Locked(String),
    /// The catalog refers to a blob that is not in the store.
    #[error("blob {0} is missing from the store; run `trove fsck`")]
    MissingBlob(String),
    /// No item or record matches.
    #[error("{0}")]
    NotFound(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    fn catalog(path: &Path, source: rusqlite::Error) -> Self {
        Error::Catalog {
            path: path.to_path_buf(),
            source,
        }
    }
    fn sql(e: rusqlite::Error) -> Self {
        Error::Sql(e)
    }
}

/// An open archive.
pub struct Archive {
    pub root: PathBuf,
    pub settings: Settings,
    pub blobs: FsBlobStore,
}

/// The exclusive writer lock; released when dropped (or when the process dies).
pub struct WriterLock {
    _file: File,
}

impl Archive {
    /// Creates a new archive in `dir` (which may exist but must not be an archive already).
    pub fn init(dir: &Path, name: &str) -> Result<Archive> {
        if dir.join("trove.toml").exists() {
            return Err(Error::Incompatible(format!(
                "{} is already a trove archive",
                dir.display()
            )));
        }
        for sub in ["blobs", "index", "log", "keys", "tmp"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        let settings = Settings::new(name);
        Self::write_settings(dir, &settings)?;
        Catalog::open(&dir.join("catalog.sqlite"))?;
        Self::open(dir)
    }

    pub fn write_settings(dir: &Path, settings: &Settings) -> Result<()> {
        let p = dir.join("trove.toml");
        let text = toml::to_string_pretty(settings).map_err(|e| Error::Settings {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        fs::write(&p, text).map_err(|e| Error::io(&p, e))
    }

    pub fn open(dir: &Path) -> Result<Archive> {
        let p = dir.join("trove.toml");
        if !p.exists() {
            return Err(Error::NotAnArchive(dir.display().to_string()));
        }
        let text = fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let settings: Settings = toml::from_str(&text).map_err(|e| Error::Settings {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        settings.limits.check().map_err(|msg| Error::Settings {
            path: p.clone(),
            msg,
        })?;
        if settings.format_version != FORMAT_VERSION {
            return Err(Error::Incompatible(format!(
                "archive format {} but this build reads format {FORMAT_VERSION}",
                settings.format_version
            )));
        }
        let root = dir.to_path_buf();
        let blobs = FsBlobStore::new(root.join("blobs"), root.join("tmp"));
        Ok(Archive {
            root,
            settings,
            blobs,
        })
    }

    pub fn catalog_path(&self) -> PathBuf {
        self.root.join("catalog.sqlite")
    }

    /// Opens the catalog for writing. Callers must hold the [`WriterLock`].
    pub fn catalog_rw(&self, _lock: &WriterLock) -> Result<Catalog> {
        Catalog::open(&self.catalog_path())
    }

    pub fn catalog(&self) -> Result<Catalog> {
        Catalog::open_read_only(&self.catalog_path())
    }

    /// Opens the catalog to write annotations (tags, notes, saved searches) only. These are
    /// users' data, not derived from raw, and never touched by ingest; taking them does not need
    /// the writer lock, so a reporter can tag while a long ingest runs (SQLite serialises the
    /// short transactions).
    ///
    /// Their commits are synced at once: writers otherwise sync the log only before a
    /// checkpoint, every 1 GiB of it, and these rows exist nowhere else.
    pub fn catalog_annotations(&self) -> Result<Catalog> {
        let c = Catalog::open(&self.catalog_path())?;
        c.sync_every_commit()?;
        Ok(c)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn index_behind_path(&self) -> PathBuf {
        self.root.join("index.behind")
    }

    /// Records, durably, that the catalog may get items the search index does not cover yet:
    /// a writer calls it before it adds items (ingest) or drops the index (reindex), and
    /// [`Archive::index_caught_up`] once the index covers the catalog again. A writer that dies
    /// in between leaves the mark, so readers keep checking until the next writer catches up.
    pub fn index_may_fall_behind(&self, _lock: &WriterLock) -> Result<()> {
        let p = self.index_behind_path();
        let f = File::create(&p).map_err(|e| Error::io(&p, e))?;
        f.sync_all().map_err(|e| Error::io(&p, e))?;
        // The mark's directory entry must reach the disk before any catalog commit does.
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(&self.root, e))
    }

    /// The search index covers every catalog item again (see [`Archive::index_may_fall_behind`]).
    pub fn index_caught_up(&self, _lock: &WriterLock) -> Result<()> {
        let p = self.index_behind_path();
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// Whether the index may cover fewer items than the catalog: an ingest or reindex is
    /// running or was cut off. When false, readers need not compare the two (which means
    /// opening the catalog: about a tenth of a `trove search --count` process).
    pub fn index_may_be_behind(&self) -> bool {
        self.index_behind_path().exists()
    }

    /// Takes the exclusive writer lock, waiting for it if `wait`, failing at once otherwise.
    pub fn lock(&self, wait: bool) -> Result<WriterLock> {
        let p = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        if wait {
            file.lock().map_err(|e| Error::io(&p, e))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Locked(self.root.display().to_string()));
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io(&p, e)),
            }
        }
        // Spill and half-written blob files of a killed writer are garbage now.
        if let Ok(rd) = fs::read_dir(self.tmp_dir()) {
            for e in rd.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(WriterLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Archive::init(&dir.path().join("a"), "t").expect("init");
        let l1 = a.lock(false).expect("first lock");
        let b = Archive::open(&dir.path().join("a")).expect("open");
        assert!(matches!(b.lock(false), Err(Error::Locked(_))));
        drop(l1);
        b.lock(false).expect("lock after release");
    }

    #[test]
    fn annotations_are_synced_at_every_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Archive::init(&dir.path().join("a"), "t").expect("init");
        let sync = |c: &Catalog| c.pragma_i64("synchronous").expect("pragma");
        // FULL (2) for users' annotations; NORMAL (1) for the derived data a writer rebuilds.
        assert_eq!(sync(&a.catalog_annotations().expect("annotations")), 2);
        let lock = a.lock(false).expect("lock");
        assert_eq!(sync(&a.catalog_rw(&lock).expect("writer")), 1);
    }

    #[test]
    fn opening_a_plain_directory_says_how_to_make_an_archive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Archive::open(dir.path()).err().expect("must fail");
        assert!(err.to_string().contains("trove init"), "{err}");
    }
}
