//! DKIM keys and verification results in the catalog.
//!
//! Keys are archive state (users import them, or `keys recover` derives them at great cost);
//! verification results are derived from raw bytes plus keys and can be recomputed at any time.
//! The catalog stores a result as the JSON the verifier produced, so this crate needs no
//! knowledge of DKIM.

use crate::catalog::{Catalog, CatalogTx, now_rfc3339};
use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;
use trove_model::Sha256Hash;

#[derive(Clone, Debug, Serialize)]
pub struct KeyRow {
    pub id: i64,
    /// `selector._domainkey.domain`
    pub name: String,
    pub record: String,
    /// A key file's path, or `recovered`.
    pub source: String,
    pub added_at: String,
    pub bits: Option<u32>,
}

/// A stored verdict and the verifier's JSON behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResult {
    pub verdict: String,
    pub result: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct VerificationRow {
    pub verdict: String,
    /// The verifier's JSON.
    pub result: String,
    pub verified_at: String,
}

fn put_verification(
    conn: &Connection,
    raw: &Sha256Hash,
    verdict: &str,
    result: &str,
    key_names: &[String],
) -> Result<()> {
    let hex = raw.to_hex();
    conn.prepare_cached(
        "INSERT INTO verifications(raw_sha256, verdict, result, verified_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(raw_sha256) DO UPDATE SET verdict = ?2, result = ?3, verified_at = ?4",
    )
    .and_then(|mut s| s.execute(params![hex, verdict, result, now_rfc3339()]))
    .map_err(Error::sql)?;
    let mut ins = conn
        .prepare_cached("INSERT OR IGNORE INTO signature_keys(name, raw_sha256) VALUES (?1, ?2)")
        .map_err(Error::sql)?;
    for n in key_names {
        ins.execute(params![n, hex]).map_err(Error::sql)?;
    }
    Ok(())
}

impl CatalogTx<'_> {
    pub fn set_verification(
        &self,
        raw: &Sha256Hash,
        verdict: &str,
        result: &str,
        key_names: &[String],
    ) -> Result<()> {
        put_verification(&self.tx, raw, verdict, result, key_names)
    }
}

impl Catalog {
    /// Stores many results in one transaction.
    pub fn set_verifications(
        &mut self,
        rows: &[(Sha256Hash, String, String, Vec<String>)],
    ) -> Result<()> {
        let tx = self.conn.transaction().map_err(Error::sql)?;
        for (raw, verdict, result, names) in rows {
            put_verification(&tx, raw, verdict, result, names)?;
        }
        tx.commit().map_err(Error::sql)
    }

    pub fn verification(&self, raw: &Sha256Hash) -> Result<Option<VerificationRow>> {
        self.conn
            .prepare_cached(
                "SELECT verdict, result, verified_at FROM verifications WHERE raw_sha256 = ?1",
            )
            .and_then(|mut s| {
                s.query_row([raw.to_hex()], |r| {
                    Ok(VerificationRow {
                        verdict: r.get(0)?,
                        result: r.get(1)?,
                        verified_at: r.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(Error::sql)
    }

    /// The stored verdicts and results of many items, in one statement per 256 rather than one
    /// per item (a query per item was a twentieth of `trove verify` over 1,693 emails).
    pub fn results_of(&self, raws: &[Sha256Hash]) -> Result<HashMap<Sha256Hash, StoredResult>> {
        let mut out = HashMap::with_capacity(raws.len());
        for chunk in raws.chunks(256) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut stmt = self
                .conn
                .prepare_cached(&format!(
                    "SELECT raw_sha256, verdict, result FROM verifications WHERE raw_sha256 IN ({marks})"
                ))
                .map_err(Error::sql)?;
            let hexes: Vec<String> = chunk.iter().map(Sha256Hash::to_hex).collect();
            let rows = stmt
                .query_map(rusqlite::params_from_iter(&hexes), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        StoredResult {
                            verdict: r.get(1)?,
                            result: r.get(2)?,
                        },
                    ))
                })
                .map_err(Error::sql)?;
            for row in rows {
                let (hex, stored) = row.map_err(Error::sql)?;
                if let Some(h) = Sha256Hash::from_hex(&hex) {
                    out.insert(h, stored);
                }
            }
        }
        Ok(out)
    }

    /// Items with a signature or seal naming one of these selectors.
    pub fn items_signed_by(&self, names: &[String]) -> Result<Vec<Sha256Hash>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT raw_sha256 FROM signature_keys WHERE name = ?1")
            .map_err(Error::sql)?;
        let mut out = Vec::new();
        for n in names {
            let rows = stmt
                .query_map([n], |r| r.get::<_, String>(0))
                .map_err(Error::sql)?;
            for hex in rows {
                let hex = hex.map_err(Error::sql)?;
                if let Some(h) = Sha256Hash::from_hex(&hex) {
                    out.push(h);
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// `verdict → number of items`.
    pub fn verdict_counts(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT verdict, COUNT(*) FROM verifications GROUP BY verdict ORDER BY 2 DESC")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Adds a key unless the same record is already stored under that name. Returns whether it
    /// was new.
    pub fn add_key(
        &self,
        name: &str,
        record: &str,
        source: &str,
        bits: Option<u32>,
    ) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO dkim_keys(name, record, source, added_at, bits)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, record, source, now_rfc3339(), bits],
            )
            .map_err(Error::sql)?;
        Ok(n > 0)
    }

    pub fn keys(&self) -> Result<Vec<KeyRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, name, record, source, added_at, bits FROM dkim_keys ORDER BY name, id",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(KeyRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    record: r.get(2)?,
                    source: r.get(3)?,
                    added_at: r.get(4)?,
                    bits: r.get(5)?,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Selectors that signed items but have no key, with how many items each signed.
    pub fn missing_keys(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, COUNT(*) FROM signature_keys
                 WHERE name NOT IN (SELECT name FROM dkim_keys)
                 GROUP BY name ORDER BY 2 DESC, 1",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_of_answers_for_stored_items_across_statement_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cat = Catalog::open(&dir.path().join("c.sqlite")).expect("open");
        // 300 stored results cross the 256-hash chunk; every third one is a hash never stored.
        let hash = |i: u16| {
            let mut b = [0u8; 32];
            b[..2].copy_from_slice(&i.to_be_bytes());
            Sha256Hash(b)
        };
        let rows: Vec<_> = (0..450u16)
            .filter(|i| i % 3 != 0)
            .map(|i| {
                let verdict = if i % 2 == 0 { "pass" } else { "unsigned" };
                let result = format!("{{\"n\":{i}}}");
                (hash(i), verdict.to_string(), result, vec![])
            })
            .collect();
        cat.set_verifications(&rows).expect("store");
        let asked: Vec<Sha256Hash> = (0..450u16).map(hash).collect();
        let got = cat.results_of(&asked).expect("results");
        assert_eq!(got.len(), rows.len());
        for (h, verdict, result, _) in &rows {
            let want = StoredResult {
                verdict: verdict.clone(),
                result: result.clone(),
            };
            assert_eq!(got.get(h), Some(&want), "{h:?}");
        }
        assert!(!got.contains_key(&hash(3)));
        assert!(cat.results_of(&[]).expect("none").is_empty());
    }
}
