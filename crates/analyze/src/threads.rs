//! Threading of emails (JWZ, with notmuch's preference for In-Reply-To) and of posts (reply ids).
//!
//! Each message's parent is decided by its own headers, in this order:
//! 1. the first In-Reply-To id, if that message is in the archive;
//! 2. otherwise the last References id that is in the archive (so a missing parent is skipped
//!    and the message hangs under its nearest known ancestor);
//! 3. otherwise a *ghost* for the missing In-Reply-To (or last References) id.
//!
//! Ghosts take their own parents from the References chains that mention them, so messages that
//! cite the same missing root share a thread. Ghosts with no children vanish, ghosts inside a tree
//! are spliced out, and a ghost at the root stays as a dummy holding its children (as in JWZ).
//! Only a message with neither header falls back to its subject: a `Re:` reply joins the thread
//! of the latest earlier message with the same base subject.

use std::collections::HashMap;
use trove_store::{ThreadAssign, ThreadInput};

/// A node of the forest: an item, or a ghost for a Message-ID not in the archive.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Node {
    Item(usize),
    Ghost(usize),
}

/// A Message-ID (or `post:<id>`) as threading compares it: a 64-bit hash. Threading a million
/// messages with their ids as strings took about a gigabyte; as hashes it takes a sixth of that.
/// A collision between two of a million ids has odds of about 1 in 30 million.
type Key = u64;

/// Stands for "none" in [`Compact`]'s key fields ([`key_of`] never returns it).
const NO_KEY: Key = 0;

fn key_of(s: &str) -> Key {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same on every run, so a rebuild gives the same threads.
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish().max(1)
}

fn some(k: Key) -> Option<Key> {
    (k != NO_KEY).then_some(k)
}

const EMAIL: u8 = 1;
/// The message had an In-Reply-To or References header (even one that names nothing usable).
const HAS_HEADERS: u8 = 2;
/// The subject had a reply prefix (`Re:`...).
const REPLY: u8 = 4;

/// What threading keeps of one message: 64 bytes plus its References (sentinels rather than
/// `Option`s keep it that small; a million messages are threaded at once).
struct Compact {
    seq: i64,
    /// `i64::MAX` when unknown, which sorts it last as the threading rules want.
    date: i64,
    own: Key,
    /// The first In-Reply-To id.
    irt: Key,
    /// The base subject (emails only).
    subject: Key,
    refs: Box<[Key]>,
    flags: u8,
}

/// Threads messages pushed one at a time, keeping only hashes of their ids, so memory grows by
/// about 100 bytes per message rather than by the size of its headers.
#[derive(Default)]
pub struct Threader {
    items: Vec<Compact>,
    /// Own ids of the messages pushed so far.
    owned: std::collections::HashSet<Key>,
    /// Texts of cited ids that no message pushed so far owns, for naming ghosts (replies mostly
    /// follow their parents, so this stays small).
    cited: HashMap<Key, Box<str>>,
}

impl Threader {
    /// A threader with room for `n` messages, so its table is allocated once.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            items: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    pub fn push(&mut self, m: &ThreadInput) {
        let own = own_key(m).as_deref().map(key_of);
        if let Some(k) = own {
            self.owned.insert(k);
            self.cited.remove(&k);
        }
        let irt_text = m
            .in_reply_to
            .first()
            .map(|r| ref_key(m, r))
            .filter(|r| !r.is_empty());
        let refs_text = ref_keys(m);
        let mut cite = |t: &str| {
            let k = key_of(t);
            if !self.owned.contains(&k) {
                self.cited.entry(k).or_insert_with(|| t.into());
            }
            k
        };
        let irt = irt_text.as_deref().map(&mut cite);
        let refs: Box<[Key]> = refs_text.iter().map(|t| cite(t)).collect();
        let is_email = m.kind == "email";
        let (subject, reply) = match m.subject.as_deref().filter(|_| is_email) {
            Some(s) => {
                let (base, reply) = base_subject(s);
                if base.is_empty() {
                    (NO_KEY, false)
                } else {
                    (key_of(&base), reply)
                }
            }
            None => (NO_KEY, false),
        };
        let has_headers = !m.in_reply_to.is_empty() || !m.references.is_empty();
        self.items.push(Compact {
            seq: m.seq,
            date: m.date_utc.unwrap_or(i64::MAX),
            own: own.unwrap_or(NO_KEY),
            irt: irt.unwrap_or(NO_KEY),
            subject,
            refs,
            flags: u8::from(is_email) * EMAIL
                + u8::from(has_headers) * HAS_HEADERS
                + u8::from(reply) * REPLY,
        });
    }

    pub fn finish(self) -> Vec<ThreadAssign> {
        let Threader {
            items,
            owned,
            cited,
        } = self;
        drop(owned);
        thread_compact(&items, &cited)
    }
}

struct Forest {
    item_parent: Vec<Option<Node>>,
    ghost_parent: Vec<Option<Node>>,
    ghost_keys: Vec<Key>,
    ghost_index: HashMap<Key, usize>,
}

impl Forest {
    fn parent(&self, n: Node) -> Option<Node> {
        match n {
            Node::Item(i) => self.item_parent[i],
            Node::Ghost(g) => self.ghost_parent[g],
        }
    }

    fn ghost(&mut self, key: Key) -> Node {
        if let Some(&g) = self.ghost_index.get(&key) {
            return Node::Ghost(g);
        }
        let g = self.ghost_keys.len();
        self.ghost_keys.push(key);
        self.ghost_parent.push(None);
        self.ghost_index.insert(key, g);
        Node::Ghost(g)
    }

    /// Would making `parent` the parent of `child` close a loop?
    fn creates_loop(&self, child: Node, parent: Node) -> bool {
        let mut cur = Some(parent);
        let mut steps = 0usize;
        let limit = self.item_parent.len() + self.ghost_parent.len() + 1;
        while let Some(n) = cur {
            if n == child || steps > limit {
                return true;
            }
            cur = self.parent(n);
            steps += 1;
        }
        false
    }

    fn set_parent(&mut self, child: Node, parent: Node) {
        match child {
            Node::Item(i) => self.item_parent[i] = Some(parent),
            Node::Ghost(g) => self.ghost_parent[g] = Some(parent),
        }
    }
}

/// The key a message is known by in reply headers: its Message-ID, or `post:<id>` for posts.
fn own_key(m: &ThreadInput) -> Option<String> {
    let n = m.native_id.as_deref()?.trim();
    if n.is_empty() {
        return None;
    }
    Some(if m.kind == "post" {
        format!("post:{n}")
    } else {
        n.to_string()
    })
}

fn ref_key(m: &ThreadInput, r: &str) -> String {
    if m.kind == "post" {
        format!("post:{}", r.trim())
    } else {
        r.trim().to_string()
    }
}

/// The References ids of a message as keys, in order.
fn ref_keys(m: &ThreadInput) -> Vec<String> {
    m.references
        .iter()
        .map(|r| ref_key(m, r))
        .filter(|r| !r.is_empty())
        .collect()
}

/// The subject without reply and forward prefixes (`Re:`, `Fwd:`, `AW:`, `SV:`, `[list]`...),
/// and whether there was a reply prefix.
pub fn base_subject(s: &str) -> (String, bool) {
    let mut s = s.trim();
    let mut reply = false;
    loop {
        let lower = s.to_lowercase();
        let mut stripped = false;
        for p in [
            "re:", "fwd:", "fw:", "aw:", "sv:", "tr:", "wg:", "antw:", "réf:",
        ] {
            if lower.starts_with(p) {
                s = s[p.len()..].trim_start();
                reply = true;
                stripped = true;
                break;
            }
        }
        if !stripped && s.starts_with('[') {
            // A list tag such as `[linux-mips]`, but not a patch marker such as `[PATCH 2/5]`.
            if let Some(end) = s.find(']') {
                let tag = &s[1..end];
                if !tag.contains(' ') && !tag.to_lowercase().starts_with("patch") {
                    s = s[end + 1..].trim_start();
                    stripped = true;
                }
            }
        }
        if !stripped {
            break;
        }
    }
    (s.split_whitespace().collect::<Vec<_>>().join(" "), reply)
}

/// Threads a slice of messages (see [`Threader`] to stream them).
pub fn thread(items: &[ThreadInput]) -> Vec<ThreadAssign> {
    let mut t = Threader::default();
    for m in items {
        t.push(m);
    }
    t.finish()
}

fn thread_compact(items: &[Compact], cited: &HashMap<Key, Box<str>>) -> Vec<ThreadAssign> {
    let n = items.len();
    let mut by_key: HashMap<Key, usize> = HashMap::with_capacity(n);
    for (i, m) in items.iter().enumerate() {
        if let Some(k) = some(m.own) {
            // The first item with an id owns it; later copies thread under their own headers.
            by_key.entry(k).or_insert(i);
        }
    }
    let mut f = Forest {
        item_parent: vec![None; n],
        ghost_parent: vec![],
        ghost_keys: vec![],
        ghost_index: HashMap::new(),
    };
    let known = |k: Key, me: usize| by_key.get(&k).copied().filter(|&j| j != me);

    // 1. Each message's parent from its own headers.
    for (i, m) in items.iter().enumerate() {
        let cand = some(m.irt)
            .and_then(|k| known(k, i))
            .or_else(|| m.refs.iter().rev().find_map(|&k| known(k, i)))
            .map(Node::Item)
            .or_else(|| {
                let missing = some(m.irt).or_else(|| m.refs.last().copied())?;
                (missing != m.own).then(|| f.ghost(missing))
            });
        if let Some(p) = cand
            && !f.creates_loop(Node::Item(i), p)
        {
            f.set_parent(Node::Item(i), p);
        }
    }

    // 2. References chains give parents to ghosts, and to messages whose own headers name none
    //    (as in JWZ), so messages citing the same missing root share a thread.
    for m in items {
        for w in m.refs.windows(2) {
            let child = match known(w[1], usize::MAX) {
                Some(j) => Node::Item(j),
                None => match f.ghost_index.get(&w[1]) {
                    Some(&g) => Node::Ghost(g),
                    None => continue,
                },
            };
            if f.parent(child).is_some() {
                continue;
            }
            let p = match known(w[0], usize::MAX) {
                Some(j) => Node::Item(j),
                None => f.ghost(w[0]),
            };
            if p != child && !f.creates_loop(child, p) {
                f.set_parent(child, p);
            }
        }
    }

    // 3. Subject fallback for messages with neither header: a reply joins the latest earlier
    //    message with the same base subject. Only the subjects such replies carry are tabled.
    let orphans: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|&(i, m)| {
            m.flags & (EMAIL | HAS_HEADERS | REPLY) == EMAIL | REPLY
                && m.subject != NO_KEY
                && f.item_parent[i].is_none()
        })
        .map(|(i, _)| i)
        .collect();
    let mut by_subject: HashMap<Key, Vec<(i64, usize)>> = orphans
        .iter()
        .map(|&i| (items[i].subject, vec![]))
        .collect();
    for (i, m) in items.iter().enumerate() {
        if let Some(list) = by_subject.get_mut(&m.subject) {
            list.push((m.date, i));
        }
    }
    for i in orphans {
        let m = &items[i];
        let target = by_subject[&m.subject]
            .iter()
            .filter(|&&(d, j)| j != i && (d, j) < (m.date, i))
            .max()
            .map(|&(_, j)| j);
        if let Some(j) = target
            && !f.creates_loop(Node::Item(i), Node::Item(j))
        {
            f.set_parent(Node::Item(i), Node::Item(j));
        }
    }
    drop(by_subject);

    // 4. Resolve each item's displayed parent (splicing ghosts inside trees) and its root.
    let mut out = Vec::with_capacity(n);
    let mut root_of: Vec<Node> = Vec::with_capacity(n);
    for i in 0..n {
        let (parent_seq, parent_ghost) = match f.item_parent[i] {
            Some(Node::Item(j)) => (Some(items[j].seq), None),
            Some(Node::Ghost(g)) => {
                // Walk up through ghosts to the first item; if none, keep the topmost ghost.
                let mut cur = Node::Ghost(g);
                let mut top_ghost = g;
                loop {
                    match f.parent(cur) {
                        Some(Node::Item(j)) => break (Some(items[j].seq), None),
                        Some(Node::Ghost(h)) => {
                            top_ghost = h;
                            cur = Node::Ghost(h);
                        }
                        None => {
                            let key = f.ghost_keys[top_ghost];
                            break (None, cited.get(&key).map(|s| s.to_string()));
                        }
                    }
                }
            }
            None => (None, None),
        };
        let mut root = Node::Item(i);
        while let Some(p) = f.parent(root) {
            root = p;
        }
        root_of.push(root);
        out.push(ThreadAssign {
            seq: items[i].seq,
            thread_seq: 0,
            parent_seq,
            parent_ghost,
        });
    }

    // 5. Thread id: the root item's id, or for a ghost root its earliest message's id.
    let mut ghost_rep: HashMap<usize, usize> = HashMap::new();
    for (i, r) in root_of.iter().enumerate() {
        if let Node::Ghost(g) = r {
            let e = ghost_rep.entry(*g).or_insert(i);
            let key = |k: usize| (items[k].date, items[k].seq);
            if key(i) < key(*e) {
                *e = i;
            }
        }
    }
    for (i, r) in root_of.iter().enumerate() {
        let rep = match r {
            Node::Item(j) => *j,
            Node::Ghost(g) => ghost_rep[g],
        };
        out[i].thread_seq = items[rep].seq;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: i64, id: &str, irt: &[&str], refs: &[&str], subject: &str) -> ThreadInput {
        ThreadInput {
            seq,
            id: format!("{seq:024}"),
            kind: "email".into(),
            native_id: Some(id.into()),
            in_reply_to: irt.iter().map(|s| s.to_string()).collect(),
            references: refs.iter().map(|s| s.to_string()).collect(),
            subject: Some(subject.into()),
            date_utc: Some(seq * 60),
        }
    }

    fn parent(out: &[ThreadAssign], seq: i64) -> Option<i64> {
        out.iter().find(|t| t.seq == seq).and_then(|t| t.parent_seq)
    }

    #[test]
    fn in_reply_to_wins_and_missing_parents_are_skipped() {
        let out = thread(&[
            msg(1, "root", &[], &[], "root"),
            msg(2, "child", &["root"], &["r00t-typo"], "child"),
            msg(3, "grand", &["child"], &["child", "root"], "grand"),
            msg(
                4,
                "fake",
                &["nonexistent"],
                &["root", "child", "nonexistent"],
                "x",
            ),
        ]);
        assert_eq!(parent(&out, 2), Some(1));
        assert_eq!(parent(&out, 3), Some(2));
        assert_eq!(parent(&out, 4), Some(2));
        assert!(out.iter().all(|t| t.thread_seq == out[0].thread_seq));
    }

    #[test]
    fn a_shared_missing_root_joins_threads_and_loops_are_broken() {
        let out = thread(&[
            msg(1, "a", &[], &["ghost"], "a"),
            msg(2, "b", &[], &["ghost"], "b"),
            msg(3, "x", &["y"], &[], "x"),
            msg(4, "y", &["x"], &[], "y"),
        ]);
        assert_eq!(out[0].thread_seq, out[1].thread_seq);
        assert_eq!(out[0].parent_ghost.as_deref(), Some("ghost"));
        assert_eq!(out[2].thread_seq, out[3].thread_seq);
        assert_ne!(out[0].thread_seq, out[2].thread_seq);
    }

    #[test]
    fn subject_fallback_only_without_headers() {
        let out = thread(&[
            msg(1, "a", &[], &[], "[linux-mips] Budget"),
            msg(2, "b", &[], &[], "Re: Budget"),
            msg(3, "c", &[], &[], "Budget"),
            msg(4, "d", &["zzz"], &[], "Re: Budget"),
        ]);
        assert_eq!(parent(&out, 2), Some(1));
        assert_eq!(parent(&out, 3), None);
        assert_eq!(parent(&out, 4), None);
        assert_eq!(base_subject("Re: AW: [list] Fwd:  The  plan").0, "The plan");
        assert_eq!(
            base_subject("[PATCH 2/5] mips: fix").0,
            "[PATCH 2/5] mips: fix"
        );
    }
}
