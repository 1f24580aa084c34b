//! The SQLite catalog: the only place with relations.
//!
//! It records items, where their bytes were found, what was skipped or quarantined, and the ingest
//! runs. Every column is derived from raw blobs plus the provenance the readers saw, so the catalog
//! can be rebuilt. Only the ingest writer holds a write transaction; readers see committed states
//! (WAL mode).

use crate::{Error, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use serde::Serialize;
use std::path::Path;
use trove_model::{
    AddressRole, AttachmentMeta, Finding, ItemId, ItemRecord, Mailbox, Provenance, Sha256Hash,
    SourceContext, rfc3339_utc,
};

const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    inputs TEXT NOT NULL,
    summary TEXT
);
-- rowid order is the order items entered the archive; ids are prefixes of raw_sha256.
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY,
    raw_sha256 TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    native_id TEXT,
    date_utc INTEGER,
    date_offset INTEGER,
    date_raw TEXT,
    subject TEXT,
    from_name TEXT,
    from_addr TEXT,
    size INTEGER NOT NULL,
    attachment_count INTEGER NOT NULL DEFAULT 0,
    in_reply_to TEXT NOT NULL DEFAULT '[]',
    refs TEXT NOT NULL DEFAULT '[]',
    findings TEXT NOT NULL DEFAULT '[]',
    run_id INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    conversation TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    -- Derived by `trove_analyze` after every ingest (never from one item alone):
    conv_seq INTEGER,
    thread TEXT,
    parent_seq INTEGER,
    parent_ghost TEXT
);
-- Names and addresses recur across thousands of items: each distinct one is stored once
-- (halved the catalog's address tables on list mail). Read through the `addresses` view.
CREATE TABLE IF NOT EXISTS strings (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS item_addresses (
    item_seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    pos INTEGER NOT NULL,
    name_id INTEGER,
    address_id INTEGER,
    PRIMARY KEY (item_seq, role, pos)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attachments (
    item_seq INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    filename TEXT,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (item_seq, pos)
) WITHOUT ROWID;
-- Derived: the text extracted from an attachment (PDF, Office, HTML, OCR...), by content hash.
CREATE TABLE IF NOT EXISTS attachment_text (
    sha256 TEXT PRIMARY KEY,
    extractor TEXT NOT NULL,
    text TEXT NOT NULL,
    problem TEXT
) WITHOUT ROWID;
-- offset is -1 when the unit is a whole file (NULLs would defeat the UNIQUE constraint).
CREATE TABLE IF NOT EXISTS provenance (
    raw_sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    offset INTEGER NOT NULL DEFAULT -1,
    format TEXT NOT NULL,
    flags TEXT,
    run_id INTEGER NOT NULL,
    context TEXT,
    PRIMARY KEY (raw_sha256, path, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    raw_sha256 TEXT,
    path TEXT NOT NULL,
    offset INTEGER NOT NULL DEFAULT -1,
    format TEXT,
    reason TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    UNIQUE (path, offset)
);
CREATE TABLE IF NOT EXISTS skipped (
    path TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    run_id INTEGER NOT NULL
);
-- Records that are evidence about identities rather than messages (X account.js).
CREATE TABLE IF NOT EXISTS evidence (
    raw_sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    offset INTEGER NOT NULL DEFAULT -1,
    format TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    PRIMARY KEY (raw_sha256, path, offset)
) WITHOUT ROWID;
-- Two identities of one person, with the raw record that shows it (an item id or evidence hash).
CREATE TABLE IF NOT EXISTS identity_links (
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;
-- What users asserted about actors (imports, merges), replayed in order by every rebuild.
CREATE TABLE IF NOT EXISTS actor_edits (
    id INTEGER PRIMARY KEY,
    op TEXT NOT NULL,
    body TEXT NOT NULL,
    at TEXT NOT NULL
);
-- Derived: actors and their identities, conversations.
CREATE TABLE IF NOT EXISTS actors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    groups TEXT NOT NULL DEFAULT '[]',
    named_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS actor_identities (
    identity TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    actor_id INTEGER NOT NULL,
    label TEXT
);
CREATE INDEX IF NOT EXISTS actor_identities_actor ON actor_identities(actor_id);
CREATE INDEX IF NOT EXISTS actor_identities_addr ON actor_identities(address);
-- `from:"Ralf Baechle"` finds an actor by name whatever its case; without this every such query
-- scanned all actors (7.5% of the web search benchmark's CPU on 5,863 actors).
CREATE INDEX IF NOT EXISTS actors_name ON actors(lower(name));
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    name TEXT,
    kind TEXT,
    participants TEXT NOT NULL,
    size INTEGER NOT NULL,
    first INTEGER,
    last INTEGER
);
-- Users' annotations, keyed by raw hash (they outlive any rebuild of derived rows).
CREATE TABLE IF NOT EXISTS tags (
    raw_sha256 TEXT NOT NULL,
    tag TEXT NOT NULL,
    user TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (raw_sha256, tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY,
    raw_sha256 TEXT NOT NULL,
    text TEXT NOT NULL,
    user TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_item ON notes(raw_sha256);
CREATE TABLE IF NOT EXISTS saved_searches (
    name TEXT PRIMARY KEY,
    query TEXT NOT NULL,
    user TEXT NOT NULL,
    created TEXT NOT NULL,
    last_run_seq INTEGER,
    last_run_at TEXT
);
-- Physical input files fully committed, so a rerun can pass over them without rereading.
-- DKIM public keys: imported from key files or recovered from signatures. Not derived from raw.
CREATE TABLE IF NOT EXISTS dkim_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    record TEXT NOT NULL,
    source TEXT NOT NULL,
    added_at TEXT NOT NULL,
    bits INTEGER,
    UNIQUE(name, record)
);
-- Derived from raw bytes and dkim_keys: the latest verification of each email. verified_at is
-- when its result was first reached; re-verifying to the same result leaves the row alone.
CREATE TABLE IF NOT EXISTS verifications (
    raw_sha256 TEXT PRIMARY KEY,
    verdict TEXT NOT NULL,
    result TEXT NOT NULL,
    verified_at TEXT NOT NULL
);
-- Which selectors an item's signatures name, so a new key re-verifies exactly those items.
CREATE TABLE IF NOT EXISTS signature_keys (
    name TEXT NOT NULL,
    raw_sha256 TEXT NOT NULL,
    PRIMARY KEY (name, raw_sha256)
) WITHOUT ROWID;
-- The tamper-evident log: append-only leaves (RFC 9162) and every checkpoint ever signed.
-- Not derived: nothing rewrites or deletes these rows.
CREATE TABLE IF NOT EXISTS log_leaves (
    idx INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    data BLOB NOT NULL,
    raw_sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_leaves_raw ON log_leaves(raw_sha256);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    signed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inputs_done (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    run_id INTEGER NOT NULL
);
"#;

/// Indexes on columns that schema version 1 lacked (created after the migration adds them).
const INDEXES_V2: &str = r#"
CREATE INDEX IF NOT EXISTS items_conversation ON items(conversation, conv_seq);
CREATE INDEX IF NOT EXISTS items_thread ON items(thread);
"#;

/// Indexes that nothing reads while an ingest writes items, which a large run drops and sorts
/// back once at its end ([`Catalog::defer_indexes`]). Created with the schema on every writer
/// open, so a run killed in between leaves them missing only until the next writer opens.
const DEFERRABLE_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS items_date ON items(date_utc);
CREATE INDEX IF NOT EXISTS items_native ON items(native_id);
CREATE INDEX IF NOT EXISTS item_addresses_addr ON item_addresses(address_id);
CREATE INDEX IF NOT EXISTS verifications_verdict ON verifications(verdict);
"#;

/// The thread index alone (rebuilt by a bulk `write_derived`).
pub(crate) const THREAD_INDEX: &str = "CREATE INDEX IF NOT EXISTS items_thread ON items(thread);";

/// The `addresses` view, created with the schema or by the version 4 migration (which first
/// moves the version 3 table out of its name).
const ADDRESSES_VIEW: &str = r#"
CREATE VIEW IF NOT EXISTS addresses AS
    SELECT ia.item_seq AS item_seq, ia.role AS role, ia.pos AS pos, n.text AS name, a.text AS address
    FROM item_addresses ia
    LEFT JOIN strings n ON n.id = ia.name_id
    LEFT JOIN strings a ON a.id = ia.address_id;
"#;

/// Brings a version 3 catalog's `addresses` table to the interned form of version 4.
const MIGRATE_3_TO_4: &str = r#"
ALTER TABLE addresses RENAME TO addresses_v3;
INSERT OR IGNORE INTO strings(text) SELECT name FROM addresses_v3 WHERE name IS NOT NULL;
INSERT OR IGNORE INTO strings(text) SELECT address FROM addresses_v3 WHERE address IS NOT NULL;
INSERT OR IGNORE INTO item_addresses(item_seq, role, pos, name_id, address_id)
    SELECT item_seq, role, pos,
           (SELECT id FROM strings WHERE text = name),
           (SELECT id FROM strings WHERE text = address)
    FROM addresses_v3;
DROP TABLE addresses_v3;
"#;

/// Brings a version 1 catalog (email only) to version 2. Derived columns start empty and the
/// next ingest or `trove reindex` fills them.
const MIGRATE_1_TO_2: &str = r#"
ALTER TABLE items ADD COLUMN conversation TEXT;
ALTER TABLE items ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
ALTER TABLE items ADD COLUMN conv_seq INTEGER;
ALTER TABLE items ADD COLUMN thread TEXT;
ALTER TABLE items ADD COLUMN parent_seq INTEGER;
ALTER TABLE items ADD COLUMN parent_ghost TEXT;
ALTER TABLE provenance ADD COLUMN context TEXT;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"#;

pub struct Catalog {
    pub(crate) conn: Connection,
    /// `strings` ids this connection has seen committed, so that interning a known name or
    /// address skips the SQL lookup (two to eight per item; the lookups were about a tenth of
    /// the writer thread's CPU on list mail). Only the writer adds rows to `strings`, and none
    /// are ever deleted.
    known_strings: StringIds,
}

type StringIds = std::collections::HashMap<Box<str>, i64>;
/// Names and addresses remembered before the memo starts again (a few MB at most).
const KNOWN_STRINGS_MAX: usize = 1 << 16;

/// An item as the catalog records it.
#[derive(Clone, Debug, Serialize)]
pub struct ItemRow {
    pub seq: i64,
    pub id: ItemId,
    pub raw_sha256: Sha256Hash,
    pub kind: String,
    pub native_id: Option<String>,
    pub date_utc: Option<i64>,
    pub date_offset: Option<i32>,
    pub date_raw: Option<String>,
    pub subject: Option<String>,
    pub from_name: Option<String>,
    pub from_addr: Option<String>,
    pub size: u64,
    pub attachment_count: u32,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub findings: Vec<Finding>,
    pub run_id: i64,
    pub ingested_at: String,
    /// Conversation id of a DM (namespaced, e.g. `x:12-34`).
    pub conversation: Option<String>,
    /// Position in the conversation, 1-based, by time (derived).
    pub conv_seq: Option<i64>,
    /// Thread id of an email or post: the id of its root item (derived).
    pub thread: Option<String>,
    /// Links, mentions, reactions, edits, events, as the source gave them.
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// What verifying an email needs of its row. `trove verify` pages through these rather than
/// whole [`ItemRow`]s: decoding every row's JSON columns (references, findings, details) was most
/// of its page reader's time, for fields verification never reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailRef {
    pub seq: i64,
    pub raw_sha256: Sha256Hash,
    pub size: u64,
}

impl From<&ItemRow> for EmailRef {
    fn from(it: &ItemRow) -> Self {
        EmailRef {
            seq: it.seq,
            raw_sha256: it.raw_sha256,
            size: it.size,
        }
    }
}

impl ItemRow {
    pub fn date_rfc3339(&self) -> Option<String> {
        self.date_utc.map(rfc3339_utc)
    }
}

/// A quarantined unit or a skipped file.
#[derive(Clone, Debug, Serialize)]
pub struct ProblemRow {
    /// `quarantined` (raw bytes stored) or `skipped` (not read as a message).
    pub state: &'static str,
    pub path: String,
    pub offset: Option<u64>,
    pub format: Option<String>,
    pub raw_sha256: Option<String>,
    pub reason: String,
    pub run_id: i64,
}

#[derive(Clone, Debug, Serialize, Default)]
pub struct Stats {
    pub items: u64,
    pub by_kind: std::collections::BTreeMap<String, u64>,
    pub quarantined: u64,
    pub skipped: u64,
    pub provenance_records: u64,
    pub attachments: u64,
    pub raw_bytes: u64,
    pub runs: u64,
    pub first_date: Option<String>,
    pub last_date: Option<String>,
}

/// A new item to insert; the writer computed everything from raw bytes.
pub struct NewItem<'a> {
    pub raw_sha256: &'a Sha256Hash,
    pub size: u64,
    pub record: &'a ItemRecord,
}

/// The `details` column: the record's links and source-specific facts in one JSON object.
fn details_json(e: &ItemRecord) -> String {
    let mut d = e.details.clone();
    if !e.urls.is_empty() {
        d.insert(
            "urls".into(),
            serde_json::to_value(&e.urls).unwrap_or_default(),
        );
    }
    serde_json::to_string(&d).unwrap_or_else(|_| "{}".into())
}

pub(crate) const ITEM_COLUMNS: &str = "seq, raw_sha256, kind, native_id, date_utc, date_offset, date_raw, \
     subject, from_name, from_addr, size, attachment_count, in_reply_to, refs, findings, run_id, \
     ingested_at, conversation, conv_seq, thread, details";

pub(crate) fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRow> {
    let sha: String = r.get(1)?;
    let raw = Sha256Hash::from_hex(&sha).unwrap_or(Sha256Hash([0; 32]));
    let json_list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let s: String = r.get(i)?;
        Ok(serde_json::from_str(&s).unwrap_or_default())
    };
    let findings: String = r.get(14)?;
    Ok(ItemRow {
        seq: r.get(0)?,
        id: raw.item_id(),
        raw_sha256: raw,
        kind: r.get(2)?,
        native_id: r.get(3)?,
        date_utc: r.get(4)?,
        date_offset: r.get(5)?,
        date_raw: r.get(6)?,
        subject: r.get(7)?,
        from_name: r.get(8)?,
        from_addr: r.get(9)?,
        size: r.get::<_, i64>(10)? as u64,
        attachment_count: r.get::<_, i64>(11)? as u32,
        in_reply_to: json_list(12)?,
        references: json_list(13)?,
        findings: serde_json::from_str(&findings).unwrap_or_default(),
        run_id: r.get(15)?,
        ingested_at: r.get(16)?,
        conversation: r.get(17)?,
        conv_seq: r.get(18)?,
        thread: r.get(19)?,
        details: serde_json::from_str(&r.get::<_, String>(20)?).unwrap_or_default(),
    })
}

/// Upper bound for a hex-prefix range scan: every hex digit sorts below 'g'.
fn prefix_upper(prefix: &str) -> String {
    format!("{prefix}g")
}

/// How much of the catalog a reader maps (SQLite clamps it to its compiled maximum).
const READER_MMAP_BYTES: i64 = 1 << 30;

impl Catalog {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| Error::catalog(path, e))?;
        Self::configure(conn, path, true)
    }

    /// A read-only connection: never blocks the writer, sees the last committed state.
    /// Runs `f` against one committed state: every query inside sees the same snapshot, even
    /// while a writer commits (WAL keeps the snapshot of the first read until the end).
    /// Without it, a reader making several queries could mix two commits.
    pub fn snapshot<T>(&self, f: impl FnOnce(&Self) -> T) -> Result<T> {
        if !self.conn.is_autocommit() {
            // Already inside a snapshot (or a write transaction): that one holds.
            return Ok(f(self));
        }
        /// Ends the snapshot however `f` returns, unwinding included, so a panicking reader
        /// cannot leave its connection pinned to an old state.
        struct End<'c>(&'c Connection);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                // Nothing was written: rolling back just releases the snapshot.
                let _ = self.0.execute_batch("ROLLBACK");
            }
        }
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(Error::sql)?;
        let _end = End(&self.conn);
        Ok(f(self))
    }

    pub fn open_read_only(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::catalog(path, e))?;
        Self::configure(conn, path, false)
    }

    fn configure(conn: Connection, path: &Path, write: bool) -> Result<Self> {
        const WAL_CHECKPOINT_PAGES: i64 = 262_144;
        let err = |e| Error::catalog(path, e);
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        if !write {
            // Readers map the file instead of copying pages into a per-connection cache: the web
            // server's many reader threads each missed their own small cache on random item
            // lookups (pread, page allocation and the allocator's lock were a fifth of a search
            // request). Nothing ever truncates the catalog (no VACUUM), which mapping requires.
            conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)
                .map_err(err)?;
        }
        if write {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(err)?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(err)?;
            // Checkpoint every 1 GiB of log instead of SQLite's 4 MiB. The catalog's indexes on
            // content hashes and Message-IDs take inserts at random places, so one ingest batch
            // dirties a page per index per item, and at 100k items each batch's log passed the
            // 4 MiB mark: a checkpoint (page copies and an fsync) after nearly every batch.
            // 64 MiB cut the bytes the 100k-message ingest read and wrote through system calls
            // by 10% and 20% (rchar 12.9 → 11.6 GB, wchar 7.2 → 5.8 GB).
            // Now 1 GiB: a checkpoint writes each page the log holds once, however often it was
            // dirtied since the last one, and at a million items those indexes span ~80k pages,
            // so a 64 MiB log (16k pages) held few pages twice. The million-message ingest wrote
            // 34.5 instead of 44.7 GB and took 409 instead of 481 s; 10k messages were a little
            // faster (3 of 3 alternated runs), 100k within 2% (bench/results.md, session 34).
            // The log file (up to ~1 GiB) is deleted when the last connection closes.
            conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
                .map_err(err)?;
            // 16 MiB of page cache instead of SQLite's 2: one batch dirties a page per random-keyed
            // index per item, which overflowed the small cache, so pages were spilled to the log
            // mid-transaction and read back from it. On 17,685 list messages: log reads 160k →
            // 17k system calls, log writes 238k → 142k; the writer thread's CPU fell by about a
            // tenth (relative to the index thread's, in the same runs); peak RSS +15 MB.
            conn.pragma_update(None, "cache_size", -16384)
                .map_err(err)?;
            conn.execute_batch(SCHEMA).map_err(err)?;
            let v: Option<String> = conn
                .query_row(
                    "SELECT value FROM meta WHERE key='schema_version'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            match v {
                None => {
                    conn.execute(
                        "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)",
                        [SCHEMA_VERSION.to_string()],
                    )
                    .map_err(err)?;
                }
                Some(v) if v == SCHEMA_VERSION.to_string() => {}
                Some(v) if v == "1" || v == "2" || v == "3" => {
                    if v == "1" {
                        conn.execute_batch(MIGRATE_1_TO_2).map_err(err)?;
                    }
                    // Version 3 only adds tables, which SCHEMA has just created; version 4
                    // interns addresses.
                    let old_table: bool = conn
                        .query_row(
                            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'addresses' \
                             AND type = 'table'",
                            [],
                            |r| r.get(0),
                        )
                        .map_err(err)?;
                    if old_table {
                        conn.execute_batch(&format!("BEGIN; {MIGRATE_3_TO_4} COMMIT;"))
                            .map_err(err)?;
                    }
                    conn.execute(
                        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                        [SCHEMA_VERSION.to_string()],
                    )
                    .map_err(err)?;
                }
                Some(v) => {
                    return Err(Error::Incompatible(format!(
                        "catalog schema version {v}, this build reads {SCHEMA_VERSION}"
                    )));
                }
            }
            conn.execute_batch(INDEXES_V2).map_err(err)?;
            conn.execute_batch(DEFERRABLE_INDEXES).map_err(err)?;
            conn.execute_batch(ADDRESSES_VIEW).map_err(err)?;
        }
        Ok(Self {
            conn,
            known_strings: StringIds::new(),
        })
    }

    /// Syncs the log at every commit of this connection (`synchronous = FULL`).
    pub fn sync_every_commit(&self) -> Result<()> {
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(Error::sql)
    }

    #[cfg(test)]
    pub(crate) fn pragma_i64(&self, name: &str) -> Result<i64> {
        self.conn
            .pragma_query_value(None, name, |r| r.get(0))
            .map_err(Error::sql)
    }

    /// Drops the [`DEFERRABLE_INDEXES`] for the rest of a large ingest. Items arrive in no order
    /// of date, Message-ID or correspondent, so each of these indexes took every new item at a
    /// random page, and once they outgrew the page cache a batch of 512 items dirtied a page of
    /// each per item: WAL frames, checkpoints and fsyncs that grew with the archive. Readers
    /// meanwhile answer by scanning. [`Catalog::restore_indexes`] sorts them back.
    pub fn defer_indexes(&mut self) -> Result<()> {
        self.conn
            .execute_batch(
                "DROP INDEX IF EXISTS items_date; DROP INDEX IF EXISTS items_native; \
                 DROP INDEX IF EXISTS item_addresses_addr; \
                 DROP INDEX IF EXISTS verifications_verdict;",
            )
            .map_err(Error::sql)
    }

    /// Builds the indexes [`Catalog::defer_indexes`] dropped (each in one sorted pass).
    pub fn restore_indexes(&mut self) -> Result<()> {
        self.conn
            .execute_batch(DEFERRABLE_INDEXES)
            .map_err(Error::sql)
    }

    pub fn begin(&mut self) -> Result<CatalogTx<'_>> {
        let tx = self.conn.transaction().map_err(Error::sql)?;
        Ok(CatalogTx {
            tx,
            known_strings: &mut self.known_strings,
            seen_strings: Default::default(),
        })
    }

    pub fn start_run(&self, inputs: &[String]) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO runs(started, inputs) VALUES (?1, ?2)",
                params![
                    now_rfc3339(),
                    serde_json::to_string(inputs).unwrap_or_default()
                ],
            )
            .map_err(Error::sql)?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, run: i64, summary: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET finished = ?1, summary = ?2 WHERE id = ?3",
                params![now_rfc3339(), summary, run],
            )
            .map_err(Error::sql)?;
        Ok(())
    }

    /// Resolves an item id, a longer hash prefix or a full raw SHA-256 (at least 8 hex digits).
    pub fn find_item(&self, id: &str) -> Result<ItemRow> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::NotFound(format!(
                "'{id}' is not an item id (expected 8 to 64 hex digits)"
            )));
        }
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE raw_sha256 >= ?1 AND raw_sha256 < ?2 LIMIT 2"
            ))
            .map_err(Error::sql)?;
        let rows: Vec<ItemRow> = stmt
            .query_map(params![id, prefix_upper(&id)], item_from_row)
            .map_err(Error::sql)?
            .collect::<rusqlite::Result<_>>()
            .map_err(Error::sql)?;
        match rows.len() {
            0 => Err(Error::NotFound(format!("no item with id {id}"))),
            1 => Ok(rows.into_iter().next().expect("one row")),
            _ => Err(Error::NotFound(format!(
                "id prefix {id} is ambiguous; give more digits"
            ))),
        }
    }

    /// Calls `f` for every item in archive order, without holding them all in memory.
    pub fn for_each_item(&self, mut f: impl FnMut(ItemRow) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {ITEM_COLUMNS} FROM items ORDER BY seq"))
            .map_err(Error::sql)?;
        let mut rows = stmt.query([]).map_err(Error::sql)?;
        while let Some(r) = rows.next().map_err(Error::sql)? {
            f(item_from_row(r).map_err(Error::sql)?)?;
        }
        Ok(())
    }

    /// How many items of one kind (`email`, `post`, ...) the catalog holds.
    pub fn count_of_kind(&self, kind: &str) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM items WHERE kind = ?1", [kind], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(Error::sql)
    }

    /// Up to `limit` items with a sequence number above `seq`, in order.
    pub fn items_after(&self, seq: i64, limit: usize) -> Result<Vec<ItemRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map(params![seq, limit as i64], item_from_row)
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Up to `limit` emails with a sequence number above `seq`, in order.
    pub fn emails_after(&self, seq: i64, limit: usize) -> Result<Vec<EmailRef>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, raw_sha256, size FROM items WHERE seq > ?1 AND kind = 'email' \
                 ORDER BY seq LIMIT ?2",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map(params![seq, limit as i64], |r| {
                let sha: String = r.get(1)?;
                Ok(EmailRef {
                    seq: r.get(0)?,
                    raw_sha256: Sha256Hash::from_hex(&sha).unwrap_or(Sha256Hash([0; 32])),
                    size: r.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Up to `limit` items of a conversation with a sequence number above `seq` and at most
    /// `upto`, in order.
    pub fn conversation_items_after(
        &self,
        seq: i64,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<ItemRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE seq > ?1 AND seq <= ?2 \
                 AND conversation IS NOT NULL ORDER BY seq LIMIT ?3"
            ))
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map(params![seq, upto, limit as i64], item_from_row)
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// The highest item sequence number (0 for an empty archive).
    pub fn max_seq(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM items", [], |r| r.get(0))
            .map_err(Error::sql)
    }

    pub fn addresses(&self, seq: i64) -> Result<Vec<(AddressRole, Mailbox)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT role, name, address FROM addresses WHERE item_seq = ?1 ORDER BY role, pos",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([seq], |r| {
                let role: String = r.get(0)?;
                Ok((
                    role,
                    Mailbox {
                        name: r.get(1)?,
                        address: r.get(2)?,
                    },
                ))
            })
            .map_err(Error::sql)?;
        let mut out = Vec::new();
        for row in rows {
            let (role, mb) = row.map_err(Error::sql)?;
            if let Some(role) = AddressRole::parse(&role) {
                out.push((role, mb));
            }
        }
        out.sort_by_key(|(r, _)| AddressRole::ALL.iter().position(|x| x == r));
        Ok(out)
    }

    pub fn attachments(&self, seq: i64) -> Result<Vec<AttachmentMeta>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.sha256, a.filename, a.mime_type, a.size, t.extractor, t.text, t.problem \
                 FROM attachments a LEFT JOIN attachment_text t ON t.sha256 = a.sha256 \
                 WHERE a.item_seq = ?1 ORDER BY a.pos",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([seq], |r| {
                let sha: String = r.get(0)?;
                let extractor: Option<String> = r.get(4)?;
                Ok(AttachmentMeta {
                    sha256: Sha256Hash::from_hex(&sha).unwrap_or(Sha256Hash([0; 32])),
                    filename: r.get(1)?,
                    mime_type: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    text: match extractor {
                        Some(extractor) => Some(trove_model::AttachmentText {
                            extractor,
                            text: r.get(5)?,
                            problem: r.get(6)?,
                        }),
                        None => None,
                    },
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn provenance(&self, raw: &Sha256Hash) -> Result<Vec<Provenance>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT path, offset, format, flags, context FROM provenance \
                 WHERE raw_sha256 = ?1 ORDER BY run_id, path, offset",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([raw.to_hex()], |r| {
                let off: i64 = r.get(1)?;
                Ok(Provenance {
                    path: r.get(0)?,
                    offset: (off >= 0).then_some(off as u64),
                    format: r.get(2)?,
                    flags: r.get(3)?,
                    context: r
                        .get::<_, Option<String>>(4)?
                        .and_then(|c| serde_json::from_str(&c).ok())
                        .unwrap_or_default(),
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Finds a quarantined record's raw hash by its hash prefix (quarantined bytes are stored too).
    pub fn find_quarantined(&self, prefix: &str) -> Result<Option<Sha256Hash>> {
        let p = prefix.trim().to_ascii_lowercase();
        if p.len() < 8 {
            return Ok(None);
        }
        let sha: Option<String> = self
            .conn
            .query_row(
                "SELECT raw_sha256 FROM quarantine WHERE raw_sha256 >= ?1 AND raw_sha256 < ?2 \
                 LIMIT 1",
                params![p, prefix_upper(&p)],
                |r| r.get(0),
            )
            .optional()
            .map_err(Error::sql)?;
        Ok(sha.and_then(|s| Sha256Hash::from_hex(&s)))
    }

    pub fn problems(&self) -> Result<Vec<ProblemRow>> {
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT path, offset, format, raw_sha256, reason, run_id FROM quarantine ORDER BY id",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| {
                let off: i64 = r.get(1)?;
                Ok(ProblemRow {
                    state: "quarantined",
                    path: r.get(0)?,
                    offset: (off >= 0).then_some(off as u64),
                    format: r.get(2)?,
                    raw_sha256: r.get(3)?,
                    reason: r.get(4)?,
                    run_id: r.get(5)?,
                })
            })
            .map_err(Error::sql)?;
        for r in rows {
            out.push(r.map_err(Error::sql)?);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT path, reason, run_id FROM skipped ORDER BY path")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ProblemRow {
                    state: "skipped",
                    path: r.get(0)?,
                    offset: None,
                    format: None,
                    raw_sha256: None,
                    reason: r.get(1)?,
                    run_id: r.get(2)?,
                })
            })
            .map_err(Error::sql)?;
        for r in rows {
            out.push(r.map_err(Error::sql)?);
        }
        Ok(out)
    }

    pub fn stats(&self) -> Result<Stats> {
        let c = &self.conn;
        let count = |sql: &str| -> Result<u64> {
            c.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(Error::sql)
        };
        let mut s = Stats {
            items: count("SELECT COUNT(*) FROM items")?,
            quarantined: count("SELECT COUNT(*) FROM quarantine")?,
            skipped: count("SELECT COUNT(*) FROM skipped")?,
            provenance_records: count("SELECT COUNT(*) FROM provenance")?,
            attachments: count("SELECT COUNT(*) FROM attachments")?,
            raw_bytes: count("SELECT COALESCE(SUM(size), 0) FROM items")?,
            runs: count("SELECT COUNT(*) FROM runs")?,
            ..Default::default()
        };
        let mut stmt = c
            .prepare("SELECT kind, COUNT(*) FROM items GROUP BY kind")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(Error::sql)?;
        for r in rows {
            let (k, n) = r.map_err(Error::sql)?;
            s.by_kind.insert(k, n);
        }
        let (lo, hi): (Option<i64>, Option<i64>) = c
            .query_row("SELECT MIN(date_utc), MAX(date_utc) FROM items", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(Error::sql)?;
        s.first_date = lo.map(rfc3339_utc);
        s.last_date = hi.map(rfc3339_utc);
        Ok(s)
    }

    /// Was this physical input file already fully ingested with the same size and mtime?
    pub fn input_done(&self, path: &str, size: u64, mtime_ns: i64) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM inputs_done WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                params![path, size as i64, mtime_ns],
                |r| r.get(0),
            )
            .map_err(Error::sql)?;
        Ok(n > 0)
    }
}

/// One write transaction. Dropping it without `commit` rolls everything back.
pub struct CatalogTx<'c> {
    pub(crate) tx: Transaction<'c>,
    known_strings: &'c mut StringIds,
    /// Interned in this transaction and not yet in `known_strings`: they join it only when the
    /// transaction commits, since a rollback takes new rows (and their ids) back.
    seen_strings: std::cell::RefCell<Vec<(Box<str>, i64)>>,
}

/// What happened to one unit in the catalog.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Recorded {
    /// A new item.
    New,
    /// Known bytes found in a new place.
    Duplicate,
    /// Known bytes in a known place: an earlier run already recorded this.
    Unchanged,
}

impl CatalogTx<'_> {
    /// The id of a name or address in `strings`, adding it the first time it is seen.
    fn intern(&self, text: &str) -> Result<i64> {
        if let Some(&id) = self.known_strings.get(text) {
            return Ok(id);
        }
        let id = self.intern_sql(text)?;
        self.seen_strings.borrow_mut().push((text.into(), id));
        Ok(id)
    }

    fn intern_sql(&self, text: &str) -> Result<i64> {
        let mut find = self
            .tx
            .prepare_cached("SELECT id FROM strings WHERE text = ?1")
            .map_err(Error::sql)?;
        if let Some(id) = find
            .query_row([text], |r| r.get(0))
            .optional()
            .map_err(Error::sql)?
        {
            return Ok(id);
        }
        self.tx
            .prepare_cached("INSERT INTO strings(text) VALUES (?1)")
            .and_then(|mut s| s.execute([text]))
            .map_err(Error::sql)?;
        Ok(self.tx.last_insert_rowid())
    }

    pub fn item_exists(&self, raw: &Sha256Hash) -> Result<bool> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT 1 FROM items WHERE raw_sha256 = ?1")
            .map_err(Error::sql)?;
        stmt.exists([raw.to_hex()]).map_err(Error::sql)
    }

    /// Records an item found at `prov`, inserting the item itself if its bytes are new.
    pub fn record_item(&self, item: &NewItem<'_>, prov: &Provenance, run: i64) -> Result<Recorded> {
        let is_new = !self.item_exists(item.raw_sha256)?;
        if is_new {
            self.insert_item(item, run)?;
        }
        let added = self.add_provenance(item.raw_sha256, prov, run)?;
        Ok(match (is_new, added) {
            (true, _) => Recorded::New,
            (false, true) => Recorded::Duplicate,
            (false, false) => Recorded::Unchanged,
        })
    }

    fn insert_item(&self, item: &NewItem<'_>, run: i64) -> Result<()> {
        let e = item.record;
        let from = e.mailboxes(AddressRole::From).next();
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO items(raw_sha256, kind, native_id, date_utc, date_offset, date_raw, \
                 subject, from_name, from_addr, size, attachment_count, in_reply_to, refs, \
                 findings, run_id, ingested_at, conversation, details) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 ?17, ?18)",
            )
            .map_err(Error::sql)?;
        stmt.execute(params![
            item.raw_sha256.to_hex(),
            e.kind.as_str(),
            e.native_id,
            e.date.utc,
            e.date.offset_minutes,
            e.date.raw,
            e.subject,
            from.and_then(|m| m.name.clone()),
            from.and_then(|m| m.normalized_address()),
            item.size as i64,
            e.attachments.len() as i64,
            serde_json::to_string(&e.in_reply_to).unwrap_or_default(),
            serde_json::to_string(&e.references).unwrap_or_default(),
            serde_json::to_string(&e.findings).unwrap_or_default(),
            run,
            now_rfc3339(),
            e.conversation,
            details_json(e),
        ])
        .map_err(Error::sql)?;
        let seq = self.tx.last_insert_rowid();
        let mut addr = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO item_addresses(item_seq, role, pos, name_id, address_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(Error::sql)?;
        let mut pos_by_role = [0i64; 6];
        for (role, mb) in &e.addresses {
            let slot = AddressRole::ALL.iter().position(|r| r == role).unwrap_or(0);
            let name = mb.name.as_deref().map(|n| self.intern(n)).transpose()?;
            let address = mb
                .normalized_address()
                .map(|a| self.intern(&a))
                .transpose()?;
            addr.execute(params![
                seq,
                role.as_str(),
                pos_by_role[slot],
                name,
                address
            ])
            .map_err(Error::sql)?;
            pos_by_role[slot] += 1;
        }
        let mut att = self
            .tx
            .prepare_cached(
                "INSERT INTO attachments(item_seq, pos, sha256, filename, mime_type, size) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(Error::sql)?;
        // A text found before is replaced only by one with content (an OCR run over images
        // that an earlier run without OCR left empty).
        let mut text = self
            .tx
            .prepare_cached(
                "INSERT INTO attachment_text(sha256, extractor, text, problem) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(sha256) DO UPDATE SET extractor = excluded.extractor, \
                 text = excluded.text, problem = excluded.problem \
                 WHERE excluded.text != '' AND attachment_text.text = ''",
            )
            .map_err(Error::sql)?;
        for (i, a) in e.attachments.iter().enumerate() {
            att.execute(params![
                seq,
                i as i64,
                a.sha256.to_hex(),
                a.filename,
                a.mime_type,
                a.size as i64
            ])
            .map_err(Error::sql)?;
            if let Some(t) = &a.text {
                text.execute(params![a.sha256.to_hex(), t.extractor, t.text, t.problem])
                    .map_err(Error::sql)?;
            }
        }
        Ok(())
    }

    fn add_provenance(&self, raw: &Sha256Hash, prov: &Provenance, run: i64) -> Result<bool> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO provenance(raw_sha256, path, offset, format, flags, run_id, \
                 context) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(Error::sql)?;
        let n = stmt
            .execute(params![
                raw.to_hex(),
                prov.path,
                prov.offset.map(|o| o as i64).unwrap_or(-1),
                prov.format,
                prov.flags,
                run,
                context_json(&prov.context),
            ])
            .map_err(Error::sql)?;
        Ok(n > 0)
    }

    /// Records a quarantined unit. Returns false when this place was already quarantined.
    pub fn quarantine(
        &self,
        raw: Option<&Sha256Hash>,
        prov: &Provenance,
        reason: &str,
        run: i64,
    ) -> Result<bool> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO quarantine(raw_sha256, path, offset, format, reason, run_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(Error::sql)?;
        let n = stmt
            .execute(params![
                raw.map(|h| h.to_hex()),
                prov.path,
                prov.offset.map(|o| o as i64).unwrap_or(-1),
                prov.format,
                reason,
                run
            ])
            .map_err(Error::sql)?;
        Ok(n > 0)
    }

    pub fn skip(&self, path: &str, reason: &str, run: i64) -> Result<()> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO skipped(path, reason, run_id) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(path) DO UPDATE SET reason = excluded.reason",
            )
            .map_err(Error::sql)?;
        stmt.execute(params![path, reason, run])
            .map_err(Error::sql)?;
        Ok(())
    }

    /// Marks a physical input file as fully committed; clears any earlier "skipped" record for it.
    pub fn input_done(&self, path: &str, size: u64, mtime_ns: i64, run: i64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO inputs_done(path, size, mtime_ns, run_id) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![path, size as i64, mtime_ns, run]))
            .map_err(Error::sql)?;
        Ok(())
    }

    pub fn commit(self) -> Result<()> {
        let CatalogTx {
            tx,
            known_strings,
            seen_strings,
        } = self;
        tx.commit().map_err(Error::sql)?;
        for (text, id) in seen_strings.into_inner() {
            if known_strings.len() >= KNOWN_STRINGS_MAX {
                known_strings.clear();
            }
            known_strings.insert(text, id);
        }
        Ok(())
    }
}

fn context_json(c: &SourceContext) -> Option<String> {
    (!c.is_empty()).then(|| serde_json::to_string(c).unwrap_or_default())
}

pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339_utc(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_model::ItemRecord;

    fn add(w: &mut Catalog, run: i64, n: u8) {
        add_kind(w, run, n, ItemRecord::default().kind);
    }

    fn add_kind(w: &mut Catalog, run: i64, n: u8, kind: trove_model::Kind) {
        let tx = w.begin().expect("begin");
        let record = ItemRecord {
            kind,
            ..Default::default()
        };
        let prov = Provenance {
            path: format!("m{n}.eml"),
            offset: None,
            format: "eml".into(),
            flags: None,
            context: Default::default(),
        };
        let item = NewItem {
            raw_sha256: &Sha256Hash([n; 32]),
            size: 1,
            record: &record,
        };
        tx.record_item(&item, &prov, run).expect("record");
        tx.commit().expect("commit");
    }

    #[test]
    fn deferred_indexes_come_back_by_restore_or_by_the_next_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.sqlite");
        let names = |w: &Catalog| -> Vec<String> {
            let mut st = w
                .conn
                .prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN \
                     ('items_date', 'items_native', 'item_addresses_addr', \
                     'verifications_verdict') ORDER BY name",
                )
                .expect("prepare");
            st.query_map([], |r| r.get(0))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows")
        };
        let all = [
            "item_addresses_addr",
            "items_date",
            "items_native",
            "verifications_verdict",
        ];
        let mut w = Catalog::open(&path).expect("open");
        assert_eq!(names(&w), all);
        w.defer_indexes().expect("defer");
        assert!(names(&w).is_empty());
        // Writes still work without them, and lookups use them again once restored.
        let run = w.start_run(&[]).expect("run");
        add(&mut w, run, 1);
        w.restore_indexes().expect("restore");
        assert_eq!(names(&w), all);
        let plan: String = w
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT seq FROM items WHERE native_id = 'x'",
                [],
                |r| r.get(3),
            )
            .expect("plan");
        assert!(plan.contains("items_native"), "{plan}");
        // A run killed after dropping them: the next writer to open the catalog builds them.
        w.defer_indexes().expect("defer");
        drop(w);
        let w = Catalog::open(&path).expect("reopen");
        assert_eq!(names(&w), all);
    }

    #[test]
    fn items_are_counted_by_kind() {
        use trove_model::Kind;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = Catalog::open(&dir.path().join("c.sqlite")).expect("open");
        let run = w.start_run(&[]).expect("run");
        for (n, kind) in [Kind::Email, Kind::Post, Kind::Email, Kind::Dm, Kind::Email]
            .into_iter()
            .enumerate()
        {
            add_kind(&mut w, run, n as u8 + 1, kind);
        }
        let count = |k| w.count_of_kind(k).expect("count");
        assert_eq!(
            (count("email"), count("post"), count("dm"), count("none")),
            (3, 1, 1, 0)
        );
    }

    #[test]
    fn emails_are_paged_in_order_past_other_kinds() {
        use trove_model::Kind;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = Catalog::open(&dir.path().join("c.sqlite")).expect("open");
        let run = w.start_run(&[]).expect("run");
        let kinds = [Kind::Post, Kind::Email, Kind::Dm, Kind::Email, Kind::Email];
        for (n, kind) in kinds.into_iter().enumerate() {
            add_kind(&mut w, run, n as u8 + 1, kind);
        }
        let all = w.items_after(0, 10).expect("items");
        let emails: Vec<EmailRef> = all
            .iter()
            .filter(|it| it.kind == "email")
            .map(EmailRef::from)
            .collect();
        assert_eq!(emails.len(), 3);
        let first = w.emails_after(0, 2).expect("page");
        assert_eq!(first, emails[..2]);
        let rest = w.emails_after(first[1].seq, 2).expect("page");
        assert_eq!(rest, emails[2..]);
        assert!(w.emails_after(rest[0].seq, 2).expect("page").is_empty());
    }

    #[test]
    fn interned_ids_survive_a_rolled_back_transaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = Catalog::open(&dir.path().join("c.sqlite")).expect("open");
        let text_of = |w: &Catalog, id: i64| -> String {
            w.conn
                .query_row("SELECT text FROM strings WHERE id = ?1", [id], |r| r.get(0))
                .expect("string row")
        };
        let tx = w.begin().expect("begin");
        let kept = tx.intern("kept@example.org").expect("intern");
        tx.commit().expect("commit");
        // Interned, then rolled back: its id is free again and goes to the next new string.
        let tx = w.begin().expect("begin");
        tx.intern("rolled-back@example.org").expect("intern");
        drop(tx);
        let tx = w.begin().expect("begin");
        let other = tx.intern("other@example.org").expect("intern");
        let again = tx.intern("rolled-back@example.org").expect("intern");
        assert_eq!(tx.intern("kept@example.org").expect("intern"), kept);
        tx.commit().expect("commit");
        assert_ne!(again, other);
        assert_eq!(text_of(&w, again), "rolled-back@example.org");
        assert_eq!(text_of(&w, other), "other@example.org");
        assert_eq!(text_of(&w, kept), "kept@example.org");
        assert_eq!(w.known_strings.len(), 3);
    }

    #[test]
    fn a_snapshot_sees_one_committed_state_while_a_writer_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.sqlite");
        let mut w = Catalog::open(&path).expect("open");
        let run = w.start_run(&[]).expect("run");
        add(&mut w, run, 1);
        let r = Catalog::open_read_only(&path).expect("reader");
        let (first, second) = r
            .snapshot(|r| {
                let first = r.stats().expect("stats").items;
                add(&mut w, run, 2);
                (first, r.stats().expect("stats").items)
            })
            .expect("snapshot");
        assert_eq!((first, second), (1, 1), "the commit is not seen inside");
        assert_eq!(r.stats().expect("stats").items, 2, "and is seen after");
        // A panicking reader does not leave the connection pinned to its snapshot.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            r.snapshot(|_| panic!("reader failed")).ok()
        }));
        assert!(caught.is_err());
        add(&mut w, run, 3);
        assert_eq!(
            r.snapshot(|r| r.stats().expect("stats").items)
                .expect("snap"),
            3
        );
    }

    #[test]
    fn addresses_are_interned_and_a_version_3_catalog_migrates() {
        use trove_model::{AddressRole, Mailbox};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.sqlite");
        let mb = |name: Option<&str>, address: Option<&str>| Mailbox {
            name: name.map(str::to_string),
            address: address.map(str::to_string),
        };
        let record = ItemRecord {
            addresses: vec![
                (
                    AddressRole::From,
                    mb(Some("Ralf"), Some("Ralf@Linux-MIPS.org")),
                ),
                (AddressRole::To, mb(None, Some("list@example.org"))),
                (AddressRole::Cc, mb(Some("Only A Name"), None)),
                (AddressRole::Cc, mb(Some("Ralf"), Some("list@example.org"))),
            ],
            ..Default::default()
        };
        let mut w = Catalog::open(&path).expect("open");
        let run = w.start_run(&[]).expect("run");
        let tx = w.begin().expect("begin");
        let prov = Provenance {
            path: "a.eml".into(),
            offset: None,
            format: "eml".into(),
            flags: None,
            context: Default::default(),
        };
        let item = NewItem {
            raw_sha256: &Sha256Hash([7; 32]),
            size: 1,
            record: &record,
        };
        tx.record_item(&item, &prov, run).expect("record");
        tx.commit().expect("commit");
        let seq = w.max_seq().expect("seq");
        let want = w.addresses(seq).expect("addresses");
        assert_eq!(want.len(), 4);
        assert_eq!(want[0].1.address.as_deref(), Some("ralf@linux-mips.org"));
        let distinct: i64 = w
            .conn
            .query_row("SELECT COUNT(*) FROM strings", [], |r| r.get(0))
            .expect("count");
        assert_eq!(
            distinct, 4,
            "Ralf, list@, the address and the lone name, once each"
        );

        // Turn it back into version 3 (one table of plain strings), as an older trove wrote it.
        w.conn
            .execute_batch(
                "CREATE TABLE addresses_plain AS SELECT * FROM addresses;
                 DROP VIEW addresses;
                 CREATE TABLE addresses (item_seq INTEGER NOT NULL, role TEXT NOT NULL,
                     pos INTEGER NOT NULL, name TEXT, address TEXT,
                     PRIMARY KEY (item_seq, role, pos)) WITHOUT ROWID;
                 INSERT INTO addresses SELECT * FROM addresses_plain;
                 DROP TABLE addresses_plain;
                 DELETE FROM item_addresses; DELETE FROM strings;
                 UPDATE meta SET value = '3' WHERE key = 'schema_version';",
            )
            .expect("downgrade");
        drop(w);
        let w = Catalog::open(&path).expect("migrating open");
        assert_eq!(w.addresses(seq).expect("addresses"), want);
        let (version, kind): (String, String) = w
            .conn
            .query_row(
                "SELECT (SELECT value FROM meta WHERE key = 'schema_version'), \
                 (SELECT type FROM sqlite_master WHERE name = 'addresses')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("meta");
        assert_eq!((version.as_str(), kind.as_str()), ("4", "view"));
    }
}
