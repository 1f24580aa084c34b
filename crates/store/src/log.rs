//! The log's rows: leaves in append order and the checkpoints signed over them. Hashing and
//! signing live in `trove-proof`; this module only stores and reads.

use crate::catalog::{Catalog, now_rfc3339};
use crate::{Error, Result};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct LeafRow {
    pub index: u64,
    #[serde(skip)]
    pub hash: [u8; 32],
    #[serde(skip)]
    pub data: Vec<u8>,
    pub raw_sha256: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckpointRow {
    pub size: u64,
    #[serde(skip)]
    pub root: [u8; 32],
    pub note: String,
    pub signed_at: String,
}

fn hash_of(v: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "a log hash is not 32 bytes".into(),
        )
    })
}

fn leaf_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LeafRow> {
    Ok(LeafRow {
        index: r.get::<_, i64>(0)? as u64,
        hash: hash_of(r.get(1)?)?,
        data: r.get(2)?,
        raw_sha256: r.get(3)?,
    })
}

/// What an item's log leaf is made of. `append_pending` pages through these rather than whole
/// [`ItemRow`](crate::ItemRow)s: decoding every row's JSON columns (references, findings,
/// details) was a fifth of logging a 100,000-item archive, for fields no leaf holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafSource {
    pub seq: i64,
    /// Lower-case hex, as the catalog stores it (and the leaf names it).
    pub raw_sha256: String,
    pub kind: String,
    pub native_id: Option<String>,
    pub conversation: Option<String>,
    pub conv_seq: Option<i64>,
}

impl From<&crate::ItemRow> for LeafSource {
    fn from(it: &crate::ItemRow) -> Self {
        LeafSource {
            seq: it.seq,
            raw_sha256: it.raw_sha256.to_hex(),
            kind: it.kind.clone(),
            native_id: it.native_id.clone(),
            conversation: it.conversation.clone(),
            conv_seq: it.conv_seq,
        }
    }
}

const LEAF_SOURCE_COLUMNS: &str = "seq, raw_sha256, kind, native_id, conversation, conv_seq";

fn leaf_source_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LeafSource> {
    Ok(LeafSource {
        seq: r.get(0)?,
        raw_sha256: r.get(1)?,
        kind: r.get(2)?,
        native_id: r.get(3)?,
        conversation: r.get(4)?,
        conv_seq: r.get(5)?,
    })
}

/// The log's size. Leaves are numbered from 0 without gaps (only `append_leaves` writes them, and
/// nothing deletes them; `for_each_leaf` fails on a gap), so the size is the last index plus one:
/// a lookup at the end of the rowid tree. `COUNT(*)` scanned an index of every leaf, once per
/// appended chunk: quadratic in the log's size.
const LOG_SIZE: &str = "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves";

/// As in the schema.
const LOG_INDEX: &str = "CREATE INDEX IF NOT EXISTS log_leaves_raw ON log_leaves(raw_sha256)";

impl Catalog {
    pub fn log_size(&self) -> Result<u64> {
        self.conn
            .query_row(LOG_SIZE, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(Error::sql)
    }

    /// Every leaf hash in order (32 bytes each: a million leaves is 32 MB).
    pub fn log_hashes(&self) -> Result<Vec<[u8; 32]>> {
        let mut stmt = self
            .conn
            .prepare("SELECT hash FROM log_leaves ORDER BY idx")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| hash_of(r.get(0)?))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn log_leaf(&self, index: u64) -> Result<Option<LeafRow>> {
        self.conn
            .query_row(
                "SELECT idx, hash, data, raw_sha256 FROM log_leaves WHERE idx = ?1",
                [index as i64],
                leaf_from_row,
            )
            .optional()
            .map_err(Error::sql)
    }

    /// The newest leaf naming these raw bytes (items are re-logged when their conversation
    /// position changes).
    pub fn latest_leaf_of(&self, raw_hex: &str) -> Result<Option<LeafRow>> {
        self.conn
            .prepare_cached(
                "SELECT idx, hash, data, raw_sha256 FROM log_leaves WHERE raw_sha256 = ?1
                 ORDER BY idx DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row([raw_hex], leaf_from_row).optional())
            .map_err(Error::sql)
    }

    /// Calls `f` with every leaf in order.
    pub fn for_each_leaf(&self, mut f: impl FnMut(LeafRow) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT idx, hash, data, raw_sha256 FROM log_leaves ORDER BY idx")
            .map_err(Error::sql)?;
        let mut rows = stmt.query([]).map_err(Error::sql)?;
        let mut expected = 0u64;
        while let Some(r) = rows.next().map_err(Error::sql)? {
            let leaf = leaf_from_row(r).map_err(Error::sql)?;
            // The size is read as the last index plus one: a missing row must not go unseen.
            if leaf.index != expected {
                return Err(Error::Incompatible(format!(
                    "the log has no leaf {expected} (the next one is {}): rows were deleted",
                    leaf.index
                )));
            }
            expected += 1;
            f(leaf)?;
        }
        Ok(())
    }

    /// Drops the index of leaves by raw hash for a bulk append: each appended leaf otherwise
    /// dirtied a random page of it, and a million new leaves wrote gigabytes of WAL frames and
    /// checkpoints (logging a million new items: 39 s with it, 14 s without). [`Catalog::restore_log_index`]
    /// sorts it back in one pass. A run killed in between leaves no index, and the schema, run
    /// on every writer open, builds it again; readers meanwhile look leaves up by a scan.
    pub fn drop_log_index(&mut self) -> Result<()> {
        self.conn
            .execute_batch("DROP INDEX IF EXISTS log_leaves_raw")
            .map_err(Error::sql)
    }

    pub fn restore_log_index(&mut self) -> Result<()> {
        self.conn.execute_batch(LOG_INDEX).map_err(Error::sql)
    }

    /// Appends leaves, and sets the `meta` keys, in one transaction. `expected_start` guards
    /// against two appenders.
    pub fn append_leaves(
        &mut self,
        expected_start: u64,
        leaves: &[([u8; 32], Vec<u8>, String)],
        meta: &[(&str, &str)],
    ) -> Result<()> {
        let tx = self.conn.transaction().map_err(Error::sql)?;
        let size: i64 = tx
            .query_row(LOG_SIZE, [], |r| r.get(0))
            .map_err(Error::sql)?;
        if size as u64 != expected_start {
            return Err(Error::Incompatible(format!(
                "the log grew from {expected_start} to {size} leaves under us"
            )));
        }
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO log_leaves(idx, hash, data, raw_sha256) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(Error::sql)?;
            for (i, (hash, data, raw)) in leaves.iter().enumerate() {
                ins.execute(params![
                    (expected_start + i as u64) as i64,
                    &hash[..],
                    data,
                    raw
                ])
                .map_err(Error::sql)?;
            }
            for (key, value) in meta {
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = ?2",
                    params![key, value],
                )
                .map_err(Error::sql)?;
            }
        }
        tx.commit().map_err(Error::sql)
    }

    pub fn add_checkpoint(&self, size: u64, root: &[u8; 32], note: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO checkpoints(size, root, note, signed_at) VALUES (?1, ?2, ?3, ?4)",
                params![size as i64, &root[..], note, now_rfc3339()],
            )
            .map_err(Error::sql)?;
        Ok(())
    }

    pub fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT size, root, note, signed_at FROM checkpoints ORDER BY size")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CheckpointRow {
                    size: r.get::<_, i64>(0)? as u64,
                    root: hash_of(r.get(1)?)?,
                    note: r.get(2)?,
                    signed_at: r.get(3)?,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        Ok(self.checkpoints()?.pop())
    }
}

impl Catalog {
    /// Up to `limit` items with a sequence number above `seq`, in order.
    pub fn leaf_sources_after(&self, seq: i64, limit: usize) -> Result<Vec<LeafSource>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {LEAF_SOURCE_COLUMNS} FROM items WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map(params![seq, limit as i64], leaf_source_from_row)
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Up to `limit` items of a conversation with a sequence number above `seq` and at most
    /// `upto`, in order.
    pub fn conversation_leaf_sources(
        &self,
        seq: i64,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<LeafSource>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {LEAF_SOURCE_COLUMNS} FROM items WHERE seq > ?1 AND seq <= ?2 \
                 AND conversation IS NOT NULL ORDER BY seq LIMIT ?3"
            ))
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map(params![seq, upto, limit as i64], leaf_source_from_row)
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// The attachments of the items numbered above `after` and at most `through`: (item
    /// sequence number, attachment SHA-256 in hex), in item then attachment order. One range
    /// read for a page of items: a lookup per item (`attachments`, which also joins the
    /// extracted text) was two fifths of logging a 100,000-item archive, most items having none.
    pub fn attachment_hashes(&self, after: i64, through: i64) -> Result<Vec<(i64, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT item_seq, sha256 FROM attachments WHERE item_seq > ?1 AND item_seq <= ?2 \
                 ORDER BY item_seq, pos",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map(params![after, through], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }
}

impl Catalog {
    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(Error::sql)
    }

    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = ?2",
                params![key, value],
            )
            .map_err(Error::sql)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_is_the_next_index_and_a_missing_leaf_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = Catalog::open(&dir.path().join("catalog.sqlite")).expect("open");
        assert_eq!(c.log_size().expect("size"), 0);
        let leaves: Vec<([u8; 32], Vec<u8>, String)> = (0..4u8)
            .map(|i| ([i; 32], vec![i], format!("{i:064x}")))
            .collect();
        c.append_leaves(0, &leaves[..3], &[]).expect("append");
        assert!(
            c.append_leaves(2, &leaves[3..], &[]).is_err(),
            "a stale size"
        );
        c.drop_log_index().expect("drop");
        c.append_leaves(3, &leaves[3..], &[]).expect("append");
        c.restore_log_index().expect("restore");
        assert_eq!(c.log_size().expect("size"), 4);
        assert_eq!(
            c.latest_leaf_of(&format!("{:064x}", 3))
                .expect("find")
                .map(|l| l.index),
            Some(3)
        );
        let mut seen = vec![];
        c.for_each_leaf(|l| {
            seen.push(l.index);
            Ok(())
        })
        .expect("leaves");
        assert_eq!(seen, [0, 1, 2, 3]);
        c.conn
            .execute("DELETE FROM log_leaves WHERE idx = 1", [])
            .expect("tamper");
        let err = c.for_each_leaf(|_| Ok(())).expect_err("a gap");
        assert!(err.to_string().contains("no leaf 1"), "{err}");
    }

    #[test]
    fn leaf_sources_page_in_order_with_their_attachments() {
        use crate::catalog::NewItem;
        use trove_model::{AttachmentMeta, ItemRecord, Provenance, Sha256Hash};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = Catalog::open(&dir.path().join("catalog.sqlite")).expect("open");
        let run = c.start_run(&[]).expect("run");
        let att = |n: u8| AttachmentMeta {
            sha256: Sha256Hash([n; 32]),
            filename: None,
            mime_type: "application/pdf".into(),
            size: 1,
            text: None,
        };
        // Items 1..=5: the second has two attachments, the fourth is a conversation's, the
        // fifth has one.
        for n in 1..=5u8 {
            let record = ItemRecord {
                native_id: Some(format!("<{n}@x>")),
                attachments: match n {
                    2 => vec![att(20), att(21)],
                    5 => vec![att(50)],
                    _ => vec![],
                },
                conversation: (n == 4).then(|| "x:dm".to_string()),
                ..Default::default()
            };
            let tx = c.begin().expect("begin");
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
        let page = c.leaf_sources_after(1, 3).expect("page");
        assert_eq!(page.iter().map(|s| s.seq).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(page[0].raw_sha256, Sha256Hash([2; 32]).to_hex());
        assert_eq!(page[0].native_id.as_deref(), Some("<2@x>"));
        // The same fields as the whole row gives.
        let whole = c.items_after(1, 3).expect("rows");
        let from_rows: Vec<LeafSource> = whole.iter().map(LeafSource::from).collect();
        assert_eq!(page, from_rows);
        let conv = c.conversation_leaf_sources(0, 5, 10).expect("conversation");
        assert_eq!(conv.iter().map(|s| s.seq).collect::<Vec<_>>(), [4]);
        assert!(
            c.conversation_leaf_sources(4, 5, 10)
                .expect("none")
                .is_empty()
        );
        let hex = |n: u8| Sha256Hash([n; 32]).to_hex();
        assert_eq!(
            c.attachment_hashes(1, 4).expect("attachments"),
            [(2, hex(20)), (2, hex(21))]
        );
        assert_eq!(
            c.attachment_hashes(2, 5).expect("attachments"),
            [(5, hex(50))]
        );
    }
}
