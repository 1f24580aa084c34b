//! Catalog access for the relations between items: identities and actors, threads and
//! conversations. The analysis that computes them lives in `trove_analyze`; this module only
//! reads its inputs and writes its results, in one transaction, so readers never see a half
//! rebuilt state.

use crate::catalog::{Catalog, CatalogTx, ITEM_COLUMNS, ItemRow, item_from_row};
use crate::{Error, Result};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;
use trove_model::{Provenance, Sha256Hash, address_of_identity, identity_of_address};

/// A conversation's id, and the name and type its reader recorded.
pub type ConversationLabel = (String, Option<String>, Option<String>);

/// An item of a thread with its parent: an item seq, or the Message-ID of a missing message.
pub type ThreadMember = (ItemRow, Option<i64>, Option<String>);

/// What threading needs to know about an email or a post.
#[derive(Clone, Debug)]
pub struct ThreadInput {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub native_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub subject: Option<String>,
    pub date_utc: Option<i64>,
}

/// Where threading put one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadAssign {
    pub seq: i64,
    /// The item whose id names the thread (the id itself is looked up when writing, so a
    /// million assignments do not carry a million strings).
    pub thread_seq: i64,
    pub parent_seq: Option<i64>,
    /// The Message-ID of a parent that is not in the archive.
    pub parent_ghost: Option<String>,
}

/// A DM as conversation ordering needs it.
#[derive(Clone, Debug)]
pub struct ConvInput {
    pub seq: i64,
    pub conversation: String,
    pub date_utc: Option<i64>,
    pub native_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConversationRow {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    /// Identities of everyone who sent or received a message in it.
    pub participants: Vec<String>,
    pub size: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// An identity seen in the archive, with the display name most often attached to it.
#[derive(Clone, Debug)]
pub struct SeenIdentity {
    pub identity: String,
    pub label: Option<String>,
}

/// An actor as the rebuild writes it.
#[derive(Clone, Debug)]
pub struct ActorRow {
    pub id: i64,
    pub name: String,
    pub groups: Vec<String>,
    /// `import`, `merge`, `account` or `auto`: where the name came from.
    pub named_by: String,
    pub identities: Vec<(String, Option<String>)>,
}

/// An actor as readers see it.
#[derive(Clone, Debug, Serialize)]
pub struct ActorSummary {
    pub id: i64,
    pub name: String,
    pub identities: Vec<String>,
    pub groups: Vec<String>,
    pub named_by: String,
    /// Items this actor sent (From, or the sender of a DM or post).
    pub sent: u64,
    /// Items addressed to this actor (To, Cc, Bcc, DM recipient).
    pub received: u64,
}

/// Everything one rebuild derives.
#[derive(Default)]
pub struct Derived {
    pub threads: Vec<ThreadAssign>,
    pub conv_seqs: Vec<(i64, i64)>,
    pub conversations: Vec<ConversationRow>,
    pub actors: Vec<ActorRow>,
}

impl CatalogTx<'_> {
    /// Records an evidence record (e.g. X `account.js`) found at `prov`. Returns whether it is new
    /// in this place.
    pub fn record_evidence(&self, raw: &Sha256Hash, prov: &Provenance, run: i64) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO evidence(raw_sha256, path, offset, format, run_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    raw.to_hex(),
                    prov.path,
                    prov.offset.map(|o| o as i64).unwrap_or(-1),
                    prov.format,
                    run
                ])
            })
            .map_err(Error::sql)?;
        Ok(n > 0)
    }

    /// Records that two identities belong to one person, shown by the record `evidence`.
    pub fn link_identities(&self, a: &str, b: &str, evidence: &str) -> Result<()> {
        if a == b {
            return Ok(());
        }
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        self.tx
            .prepare_cached(
                "INSERT OR IGNORE INTO identity_links(a, b, evidence) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![a, b, evidence]))
            .map_err(Error::sql)?;
        Ok(())
    }
}

fn json_vec(s: String) -> Vec<String> {
    serde_json::from_str(&s).unwrap_or_default()
}

/// Items threaded for the first time from which the thread index is sorted afresh, not updated.
const BULK_THREADING_MIN: i64 = 1_000;

impl Catalog {
    /// How many items [`Catalog::for_each_thread_input`] yields.
    pub fn thread_input_count(&self) -> Result<usize> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM items WHERE kind IN ('email', 'post')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(Error::sql)
    }

    /// Calls `f` with every email and post in catalog order, one row at a time.
    pub fn for_each_thread_input(&self, mut f: impl FnMut(ThreadInput)) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, raw_sha256, kind, native_id, in_reply_to, refs, subject, date_utc \
                 FROM items WHERE kind IN ('email', 'post') ORDER BY seq",
            )
            .map_err(Error::sql)?;
        let mut rows = stmt.query([]).map_err(Error::sql)?;
        while let Some(r) = rows.next().map_err(Error::sql)? {
            let sha: String = r.get(1).map_err(Error::sql)?;
            let row = (|| {
                Ok::<_, rusqlite::Error>(ThreadInput {
                    seq: r.get(0)?,
                    id: sha[..trove_model::ITEM_ID_HEX_LEN.min(sha.len())].to_string(),
                    kind: r.get(2)?,
                    native_id: r.get(3)?,
                    in_reply_to: json_vec(r.get(4)?),
                    references: json_vec(r.get(5)?),
                    subject: r.get(6)?,
                    date_utc: r.get(7)?,
                })
            })()
            .map_err(Error::sql)?;
            f(row);
        }
        Ok(())
    }

    pub fn conversation_inputs(&self) -> Result<Vec<ConvInput>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, conversation, date_utc, native_id FROM items \
                 WHERE conversation IS NOT NULL ORDER BY seq",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ConvInput {
                    seq: r.get(0)?,
                    conversation: r.get(1)?,
                    date_utc: r.get(2)?,
                    native_id: r.get(3)?,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// `(conversation, identity)` for every sender and recipient of a DM.
    pub fn conversation_identities(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT DISTINCT i.conversation, a.address FROM items i \
                 JOIN addresses a ON a.item_seq = i.seq \
                 WHERE i.conversation IS NOT NULL AND a.address IS NOT NULL \
                 ORDER BY i.conversation, a.address",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    identity_of_address(&r.get::<_, String>(1)?),
                ))
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// The name and type a reader recorded for each conversation (first provenance wins).
    pub fn conversation_labels(&self) -> Result<Vec<ConversationLabel>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT i.conversation, p.context FROM items i \
                 JOIN provenance p ON p.raw_sha256 = i.raw_sha256 \
                 WHERE i.conversation IS NOT NULL AND p.context IS NOT NULL \
                 GROUP BY i.conversation",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(Error::sql)?;
        let mut out = vec![];
        for row in rows {
            let (conv, ctx) = row.map_err(Error::sql)?;
            let ctx: trove_model::SourceContext = serde_json::from_str(&ctx).unwrap_or_default();
            out.push((conv, ctx.conversation_name, ctx.conversation_type));
        }
        Ok(out)
    }

    /// Every identity that sent or received an item, with its most frequent display name.
    pub fn seen_identities(&self) -> Result<Vec<SeenIdentity>> {
        // Counted here by interned id, then named and sorted as `GROUP BY address, name ORDER BY
        // address, n DESC, name` would: SQLite grouped the million-message archive's 7.8 million
        // address rows in a temporary B-tree (7-11 s; the plain scan takes under 1 s).
        let mut counts: HashMap<(i64, Option<i64>), u64> = HashMap::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT address_id, name_id FROM item_addresses WHERE +address_id NOTNULL")
                .map_err(Error::sql)?;
            let mut rows = stmt.query([]).map_err(Error::sql)?;
            while let Some(r) = rows.next().map_err(Error::sql)? {
                let key = (
                    r.get::<_, i64>(0).map_err(Error::sql)?,
                    r.get::<_, Option<i64>>(1).map_err(Error::sql)?,
                );
                *counts.entry(key).or_default() += 1;
            }
        }
        let mut text = self
            .conn
            .prepare_cached("SELECT text FROM strings WHERE id = ?1")
            .map_err(Error::sql)?;
        let mut names: HashMap<i64, Option<String>> = HashMap::new();
        let mut name_of = |id: i64| -> Result<Option<String>> {
            if let Some(t) = names.get(&id) {
                return Ok(t.clone());
            }
            let t: Option<String> = text
                .query_row([id], |r| r.get(0))
                .optional()
                .map_err(Error::sql)?;
            names.insert(id, t.clone());
            Ok(t)
        };
        let mut rows: Vec<(String, u64, Option<String>)> = Vec::with_capacity(counts.len());
        for ((addr, name), n) in counts {
            // An id without its string reads as NULL through the view: no address, no row.
            let Some(addr) = name_of(addr)? else { continue };
            let name = match name {
                Some(id) => name_of(id)?,
                None => None,
            };
            rows.push((addr, n, name));
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut out: Vec<SeenIdentity> = vec![];
        for (addr, _, name) in rows {
            let identity = identity_of_address(&addr);
            match out.last_mut() {
                Some(last) if last.identity == identity => {
                    if last.label.is_none() {
                        last.label = name.filter(|n| !n.trim().is_empty());
                    }
                }
                _ => out.push(SeenIdentity {
                    identity,
                    label: name.filter(|n| !n.trim().is_empty()),
                }),
            }
        }
        Ok(out)
    }

    pub fn identity_links(&self) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT a, b, evidence FROM identity_links ORDER BY a, b")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Users' actor assertions in the order they were made: `(op, JSON body)`.
    pub fn actor_edits(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT op, body FROM actor_edits ORDER BY id")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn add_actor_edit(&self, op: &str, body: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO actor_edits(op, body, at) VALUES (?1, ?2, ?3)",
                params![op, body, crate::catalog::now_rfc3339()],
            )
            .map_err(Error::sql)?;
        Ok(())
    }

    /// Replaces every derived relation with `d`, atomically. Items are rewritten only where
    /// their thread, parent or conversation position changed: clearing and setting every item's
    /// columns rewrote the whole items table twice, after every ingest however small (a
    /// million-message archive's rebuild took 29 s; now 9 s when nothing changed, 19 s after its
    /// first ingest). The new values go to a temporary table, and one `UPDATE … FROM` compares
    /// them with the current ones.
    pub fn write_derived(&mut self, d: &Derived) -> Result<()> {
        let tx = self.conn.transaction().map_err(Error::sql)?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS derived_new (seq INTEGER PRIMARY KEY, \
             thread_seq INTEGER, parent_seq INTEGER, parent_ghost TEXT, conv_seq INTEGER); \
             DELETE FROM temp.derived_new; \
             DELETE FROM conversations; DELETE FROM actors; DELETE FROM actor_identities;",
        )
        .map_err(Error::sql)?;
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO temp.derived_new(seq, thread_seq, parent_seq, parent_ghost) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(Error::sql)?;
            for t in &d.threads {
                st.execute(params![t.seq, t.thread_seq, t.parent_seq, t.parent_ghost])
                    .map_err(Error::sql)?;
            }
            let mut st = tx
                .prepare(
                    "INSERT INTO temp.derived_new(seq, conv_seq) VALUES (?1, ?2) \
                     ON CONFLICT(seq) DO UPDATE SET conv_seq = excluded.conv_seq",
                )
                .map_err(Error::sql)?;
            for (seq, n) in &d.conv_seqs {
                st.execute(params![seq, n]).map_err(Error::sql)?;
            }
            // Threading many items for the first time (a fresh ingest) inserts as many random
            // keys into the thread index: dropping it and sorting it afresh, within this
            // transaction, took a fresh million-message rebuild from 27 to 19 s.
            let unthreaded: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM temp.derived_new d JOIN items i ON i.seq = d.seq \
                     WHERE d.thread_seq IS NOT NULL AND i.thread IS NULL",
                    [],
                    |r| r.get(0),
                )
                .map_err(Error::sql)?;
            let rebuild_index = unthreaded >= BULK_THREADING_MIN
                && unthreaded.saturating_mul(2) >= d.threads.len() as i64;
            if rebuild_index {
                tx.execute_batch("DROP INDEX IF EXISTS items_thread")
                    .map_err(Error::sql)?;
            }
            tx.execute(
                &format!(
                    "UPDATE items SET thread = n.thread, parent_seq = n.parent_seq, \
                     parent_ghost = n.parent_ghost, conv_seq = n.conv_seq \
                     FROM (SELECT d.seq, substr(r.raw_sha256, 1, {}) AS thread, d.parent_seq, \
                           d.parent_ghost, d.conv_seq \
                           FROM temp.derived_new d LEFT JOIN items r ON r.seq = d.thread_seq) AS n \
                     WHERE items.seq = n.seq AND (items.thread IS NOT n.thread \
                       OR items.parent_seq IS NOT n.parent_seq \
                       OR items.parent_ghost IS NOT n.parent_ghost \
                       OR items.conv_seq IS NOT n.conv_seq)",
                    trove_model::ITEM_ID_HEX_LEN
                ),
                [],
            )
            .map_err(Error::sql)?;
            tx.execute(
                "UPDATE items SET thread = NULL, parent_seq = NULL, parent_ghost = NULL, \
                 conv_seq = NULL \
                 WHERE (thread IS NOT NULL OR parent_seq IS NOT NULL \
                        OR parent_ghost IS NOT NULL OR conv_seq IS NOT NULL) \
                   AND seq NOT IN (SELECT seq FROM temp.derived_new)",
                [],
            )
            .map_err(Error::sql)?;
            tx.execute("DELETE FROM temp.derived_new", [])
                .map_err(Error::sql)?;
            if rebuild_index {
                tx.execute_batch(crate::catalog::THREAD_INDEX)
                    .map_err(Error::sql)?;
            }
            let mut st = tx
                .prepare(
                    "INSERT INTO conversations(id, name, kind, participants, size, first, last) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(Error::sql)?;
            for c in &d.conversations {
                st.execute(params![
                    c.id,
                    c.name,
                    c.kind,
                    serde_json::to_string(&c.participants).unwrap_or_default(),
                    c.size as i64,
                    c.first,
                    c.last
                ])
                .map_err(Error::sql)?;
            }
            let mut st_a = tx
                .prepare("INSERT INTO actors(id, name, groups, named_by) VALUES (?1, ?2, ?3, ?4)")
                .map_err(Error::sql)?;
            let mut st_i = tx
                .prepare(
                    "INSERT OR REPLACE INTO actor_identities(identity, address, actor_id, label) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(Error::sql)?;
            for a in &d.actors {
                st_a.execute(params![
                    a.id,
                    a.name,
                    serde_json::to_string(&a.groups).unwrap_or_default(),
                    a.named_by
                ])
                .map_err(Error::sql)?;
                for (identity, label) in &a.identities {
                    st_i.execute(params![
                        identity,
                        address_of_identity(identity),
                        a.id,
                        label
                    ])
                    .map_err(Error::sql)?;
                }
            }
        }
        tx.commit().map_err(Error::sql)
    }

    fn actor_summaries(&self, filter: Option<i64>) -> Result<Vec<ActorSummary>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.id, a.name, a.groups, a.named_by, \
                 (SELECT json_group_array(identity) FROM \
                    (SELECT identity FROM actor_identities WHERE actor_id = a.id ORDER BY identity)), \
                 (SELECT COUNT(DISTINCT ad.item_seq) FROM addresses ad JOIN actor_identities ai \
                    ON ai.address = ad.address WHERE ai.actor_id = a.id AND ad.role = 'from'), \
                 (SELECT COUNT(DISTINCT ad.item_seq) FROM addresses ad JOIN actor_identities ai \
                    ON ai.address = ad.address WHERE ai.actor_id = a.id \
                    AND ad.role IN ('to', 'cc', 'bcc')) \
                 FROM actors a WHERE (?1 IS NULL OR a.id = ?1) ORDER BY a.name, a.id",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([filter], |r| {
                Ok(ActorSummary {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    groups: json_vec(r.get(2)?),
                    named_by: r.get(3)?,
                    identities: json_vec(r.get(4)?),
                    sent: r.get::<_, i64>(5)? as u64,
                    received: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    pub fn actors(&self) -> Result<Vec<ActorSummary>> {
        self.actor_summaries(None)
    }

    /// Actors whose name (case-insensitively) or one of whose identities is `key`.
    pub fn find_actors(&self, key: &str) -> Result<Vec<ActorSummary>> {
        let mut ids: Vec<i64> = vec![];
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM actors WHERE lower(name) = lower(?1) ORDER BY id")
            .map_err(Error::sql)?;
        for r in stmt
            .query_map([key.trim()], |r| r.get(0))
            .map_err(Error::sql)?
        {
            ids.push(r.map_err(Error::sql)?);
        }
        if let Some(identity) = trove_model::normalize_identity(key) {
            let found: Option<i64> = self
                .conn
                .query_row(
                    "SELECT actor_id FROM actor_identities WHERE identity = ?1",
                    [&identity],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sql)?;
            ids.extend(found);
        }
        ids.dedup();
        let mut out = vec![];
        for id in ids {
            out.extend(self.actor_summaries(Some(id))?);
        }
        Ok(out)
    }

    /// Addresses (as the `addresses` table and the index store them) of every actor that `key`
    /// names, for expanding `from:`/`to:`/`participant:` in queries.
    pub fn actor_addresses(&self, key: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT ai.address FROM actor_identities ai WHERE ai.actor_id IN ( \
                   SELECT id FROM actors WHERE lower(name) = lower(?1) \
                   UNION SELECT actor_id FROM actor_identities WHERE identity = ?2) \
                 ORDER BY ai.address",
            )
            .map_err(Error::sql)?;
        let identity = trove_model::normalize_identity(key).unwrap_or_default();
        let rows = stmt
            .query_map(params![key.trim(), identity], |r| r.get(0))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// The actor an address belongs to: `(name, identity)`.
    pub fn actor_of_address(&self, address: &str) -> Result<Option<(String, String)>> {
        self.conn
            .query_row(
                "SELECT a.name, ai.identity FROM actor_identities ai \
                 JOIN actors a ON a.id = ai.actor_id WHERE ai.address = ?1",
                [address],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(Error::sql)
    }

    pub fn conversations(&self) -> Result<Vec<ConversationRow>> {
        self.conversation_rows(None)
    }

    pub fn conversation(&self, id: &str) -> Result<Option<ConversationRow>> {
        Ok(self.conversation_rows(Some(id))?.into_iter().next())
    }

    fn conversation_rows(&self, id: Option<&str>) -> Result<Vec<ConversationRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, name, kind, participants, size, first, last FROM conversations \
                 WHERE (?1 IS NULL OR id = ?1) ORDER BY first, id",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(ConversationRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    participants: json_vec(r.get(3)?),
                    size: r.get::<_, i64>(4)? as u64,
                    first: r.get(5)?,
                    last: r.get(6)?,
                })
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// The items of a conversation in sequence order; `range` limits it to `conv_seq` bounds.
    pub fn conversation_items(
        &self,
        conversation: &str,
        range: Option<(i64, i64)>,
    ) -> Result<Vec<ItemRow>> {
        let (lo, hi) = range.unwrap_or((i64::MIN, i64::MAX));
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE conversation = ?1 \
                 AND conv_seq BETWEEN ?2 AND ?3 ORDER BY conv_seq"
            ))
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map(params![conversation, lo, hi], item_from_row)
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// The items of a thread with their parent (an item seq, or the Message-ID of a missing one).
    pub fn thread_items(&self, thread: &str) -> Result<Vec<ThreadMember>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS}, parent_seq, parent_ghost FROM items WHERE thread = ?1 \
                 ORDER BY date_utc, seq"
            ))
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([thread], |r| {
                Ok((item_from_row(r)?, r.get(21)?, r.get(22)?))
            })
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// Item ids in a thread or conversation (for `thread:` / `conversation:` queries).
    pub fn member_ids(&self, thread_or_conversation: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT substr(raw_sha256, 1, 24) FROM items WHERE thread = ?1 \
                 UNION SELECT substr(raw_sha256, 1, 24) FROM items WHERE conversation = ?1",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([thread_or_conversation], |r| r.get(0))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }
}

impl Catalog {
    /// `(address, actor id)` for every identity that belongs to an actor.
    pub fn address_actors(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT address, actor_id FROM actor_identities")
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }

    /// `(item seq, role, address)` of every sender and recipient, in item order.
    pub fn all_addresses(&self) -> Result<Vec<(i64, String, String)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT item_seq, role, address FROM addresses WHERE address IS NOT NULL \
                 AND role IN ('from', 'to', 'cc', 'bcc') ORDER BY item_seq, role, pos",
            )
            .map_err(Error::sql)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(Error::sql)?;
        rows.collect::<rusqlite::Result<_>>().map_err(Error::sql)
    }
}

impl Catalog {
    /// The first place each DM or post was found (its context is what a reparse needs), keyed by
    /// raw SHA-256 hex.
    pub fn first_social_provenance(&self) -> Result<HashMap<String, Provenance>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.raw_sha256, p.path, p.offset, p.format, p.flags, p.context \
                 FROM provenance p JOIN items i ON i.raw_sha256 = p.raw_sha256 \
                 WHERE i.kind != 'email' ORDER BY p.raw_sha256, p.run_id, p.path, p.offset",
            )
            .map_err(Error::sql)?;
        let mut rows = stmt.query([]).map_err(Error::sql)?;
        let mut out = HashMap::new();
        while let Some(r) = rows.next().map_err(Error::sql)? {
            let sha: String = r.get(0).map_err(Error::sql)?;
            if out.contains_key(&sha) {
                continue;
            }
            let off: i64 = r.get(2).map_err(Error::sql)?;
            let ctx: Option<String> = r.get(5).map_err(Error::sql)?;
            out.insert(
                sha,
                Provenance {
                    path: r.get(1).map_err(Error::sql)?,
                    offset: (off >= 0).then_some(off as u64),
                    format: r.get(3).map_err(Error::sql)?,
                    flags: r.get(4).map_err(Error::sql)?,
                    context: ctx
                        .and_then(|c| serde_json::from_str(&c).ok())
                        .unwrap_or_default(),
                },
            );
        }
        Ok(out)
    }
}
