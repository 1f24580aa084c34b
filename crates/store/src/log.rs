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

impl Catalog {
    pub fn log_size(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM log_leaves", [], |r| {
                r.get::<_, i64>(0)
            })
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
        while let Some(r) = rows.next().map_err(Error::sql)? {
            f(leaf_from_row(r).map_err(Error::sql)?)?;
        }
        Ok(())
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
            .query_row("SELECT COUNT(*) FROM log_leaves", [], |r| r.get(0))
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
