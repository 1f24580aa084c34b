//! Users' annotations: tags, notes and saved searches. They live in the catalog, keyed by raw
//! hash, and never in the blobs; each records who made it and when.

use crate::catalog::{Catalog, now_rfc3339};
use crate::{Error, Result};
use rusqlite::params;
use serde::Serialize;
use trove_model::Sha256Hash;

#[derive(Clone, Debug, Serialize)]
pub struct TagCount {
    pub tag: String,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct NoteRow {
    pub text: String,
    pub user: String,
    pub at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SavedSearch {
    pub name: String,
    pub query: String,
    pub user: String,
    pub created: String,
    /// The highest item sequence number when it last ran (`saved run --new` shows items above).
    pub last_run_seq: Option<i64>,
    pub last_run_at: Option<String>,
}

/// Tags are case-insensitive words; `watch:` style prefixes are allowed.
pub fn normalize_tag(t: &str) -> Option<String> {
    let t = t.trim().to_lowercase();
    (!t.is_empty() && !t.chars().any(char::is_whitespace)).then_some(t)
}

impl Catalog {
    /// Adds and removes tags on items, in one transaction. Returns (added, removed) counts.
    pub fn retag(
        &mut self,
        items: &[Sha256Hash],
        add: &[String],
        remove: &[String],
        user: &str,
    ) -> Result<(u64, u64)> {
        let tx = self.conn.transaction().map_err(Error::sql)?;
        let (mut added, mut removed) = (0u64, 0u64);
        {
            let mut ins = tx
                .prepare(
                    "INSERT OR IGNORE INTO tags(raw_sha256, tag, user, at) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(Error::sql)?;
            let mut del = tx
                .prepare("DELETE FROM tags WHERE raw_sha256 = ?1 AND tag = ?2")
                .map_err(Error::sql)?;
            let now = now_rfc3339();
            for h in items {
                for t in add {
                    added += ins
                        .execute(params![h.to_hex(), t, user, now])
                        .map_err(Error::sql)? as u64;
                }
                for t in remove {
                    removed += del.execute(params![h.to_hex(), t]).map_err(Error::sql)? as u64;
                }
            }
        }
        tx.commit().map_err(Error::sql)?;
        Ok((added, removed))
    }

    pub fn tags_of(&self, raw: &Sha256Hash) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT tag FROM tags WHERE raw_sha256 = ?1 ORDER BY tag")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([raw.to_hex()], |r| r.get(0))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn tag_counts(&self) -> Result<Vec<TagCount>> {
        let mut stmt = self
            .conn
            .prepare("SELECT tag, COUNT(*) FROM tags GROUP BY tag ORDER BY tag")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TagCount {
                    tag: r.get(0)?,
                    count: r.get::<_, i64>(1)? as u64,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Item ids carrying a tag (for `tag:` queries).
    pub fn tagged_ids(&self, tag: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT substr(raw_sha256, 1, 24) FROM tags WHERE tag = ?1 ORDER BY raw_sha256",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([tag.trim().to_lowercase()], |r| r.get(0))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn add_note(&self, raw: &Sha256Hash, text: &str, user: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO notes(raw_sha256, text, user, at) VALUES (?1, ?2, ?3, ?4)",
                params![raw.to_hex(), text, user, now_rfc3339()],
            )
            .map_err(Error::sql)?;
        Ok(())
    }

    pub fn notes_of(&self, raw: &Sha256Hash) -> Result<Vec<NoteRow>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT text, user, at FROM notes WHERE raw_sha256 = ?1 ORDER BY id")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([raw.to_hex()], |r| {
                Ok(NoteRow {
                    text: r.get(0)?,
                    user: r.get(1)?,
                    at: r.get(2)?,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn save_search(&self, name: &str, query: &str, user: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO saved_searches(name, query, user, created) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(name) DO UPDATE SET query = excluded.query, user = excluded.user",
                params![name, query, user, now_rfc3339()],
            )
            .map_err(Error::sql)?;
        Ok(())
    }

    pub fn saved_searches(&self) -> Result<Vec<SavedSearch>> {
        self.saved(None)
    }

    pub fn saved_search(&self, name: &str) -> Result<SavedSearch> {
        self.saved(Some(name))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("no saved search named '{name}'")))
    }

    fn saved(&self, name: Option<&str>) -> Result<Vec<SavedSearch>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, query, user, created, last_run_seq, last_run_at FROM saved_searches \
                 WHERE (?1 IS NULL OR name = ?1) ORDER BY name",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([name], |r| {
                Ok(SavedSearch {
                    name: r.get(0)?,
                    query: r.get(1)?,
                    user: r.get(2)?,
                    created: r.get(3)?,
                    last_run_seq: r.get(4)?,
                    last_run_at: r.get(5)?,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn mark_saved_run(&self, name: &str, seq: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE saved_searches SET last_run_seq = ?2, last_run_at = ?3 WHERE name = ?1",
                params![name, seq, now_rfc3339()],
            )
            .map_err(Error::sql)?;
        Ok(())
    }
}
