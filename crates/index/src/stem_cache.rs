//! A fixed-size, direct-mapped table of words and their stem terms for the indexing analyzer.
//!
//! Every word of every body passes through it, so a lookup must cost one cache line: slots hold
//! their word and its answer inline. A `HashMap<Box<str>, Option<Box<str>>>` memo cost three
//! or four cache misses a word (control bytes, bucket, key, value): 6% of an ingest's CPU samples,
//! 15% of tantivy's indexing thread, which is the ingest's critical path (perf, 17,685 list
//! messages). A word that meets another in its slot replaces it: the table never grows, and a
//! miss costs what a word without a memo costs.

/// Longest word the table holds; longer ones are worked out every time (they are rare).
pub const CACHE_WORD: usize = 31;
/// Slots per table: 1 MiB. On 17,685 list messages (10.7 million words) 95% of lookups hit;
/// 4× the slots hit 98% and were no faster, 1/4 hit 90%.
const SLOTS: usize = 1 << 14;
/// `stem_len` of a word that has no stem term (its own stem, or a stop word).
const NO_STEM: u8 = u8::MAX;

/// One word and its answer: 64 bytes, one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    /// 0 for an empty slot: no word is empty.
    word_len: u8,
    stem_len: u8,
    word: [u8; CACHE_WORD],
    stem: [u8; CACHE_WORD],
}

const EMPTY: Slot = Slot {
    word_len: 0,
    stem_len: NO_STEM,
    word: [0; CACHE_WORD],
    stem: [0; CACHE_WORD],
};

/// What the table knows of a word.
#[derive(Debug, PartialEq, Eq)]
pub enum Cached<'a> {
    Unknown,
    NoStem,
    Stem(&'a str),
}

#[derive(Clone, Default)]
pub struct StemCache {
    /// Allocated by the first `put`: analyzers are cloned for every segment and every query,
    /// and most never see a word of a stemmed language.
    slots: Vec<Slot>,
    /// Words are attacker-chosen: a per-process random seed keeps anyone from planning which
    /// words share a slot (which would only make every word a miss).
    hasher: foldhash::fast::RandomState,
}

impl StemCache {
    fn slot(&self, word: &str) -> usize {
        use std::hash::BuildHasher;
        // The table's size is a power of two.
        (self.hasher.hash_one(word.as_bytes()) as usize) & (SLOTS - 1)
    }

    pub fn get(&self, word: &str) -> Cached<'_> {
        let Some(s) = self.slots.get(self.slot(word)) else {
            return Cached::Unknown;
        };
        let len = usize::from(s.word_len);
        if len != word.len() || len == 0 || &s.word[..len] != word.as_bytes() {
            return Cached::Unknown;
        }
        if s.stem_len == NO_STEM {
            return Cached::NoStem;
        }
        // Only `put` writes a stem, and it writes a whole `str`.
        match std::str::from_utf8(&s.stem[..usize::from(s.stem_len)]) {
            Ok(stem) => Cached::Stem(stem),
            Err(_) => Cached::Unknown,
        }
    }

    /// Remembers a word's answer; does nothing for a word or stem too long for a slot.
    pub fn put(&mut self, word: &str, stem: Option<&str>) {
        let (stem_len, stem) = match stem {
            None => (NO_STEM, ""),
            // An empty stem would read back as none.
            Some(s) if s.is_empty() || s.len() > CACHE_WORD => return,
            Some(s) => (s.len() as u8, s),
        };
        if word.is_empty() || word.len() > CACHE_WORD {
            return;
        }
        if self.slots.is_empty() {
            self.slots = vec![EMPTY; SLOTS];
        }
        let i = self.slot(word);
        let s = &mut self.slots[i];
        s.word_len = word.len() as u8;
        s.word[..word.len()].copy_from_slice(word.as_bytes());
        s.stem_len = stem_len;
        s.stem[..stem.len()].copy_from_slice(stem.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_answers_and_forgets_on_collision_only() {
        let mut c = StemCache::default();
        assert_eq!(c.get("running"), Cached::Unknown);
        c.put("running", Some("run"));
        c.put("the", None);
        assert_eq!(c.get("running"), Cached::Stem("run"));
        assert_eq!(c.get("the"), Cached::NoStem);
        // A prefix or an extension of a known word is another word.
        assert_eq!(c.get("run"), Cached::Unknown);
        assert_eq!(c.get("runnings"), Cached::Unknown);
        // Multi-byte words, up to the slot's length.
        c.put("élections", Some("élect"));
        assert_eq!(c.get("élections"), Cached::Stem("élect"));
        let long = "a".repeat(CACHE_WORD + 1);
        c.put(&long, Some("a"));
        assert_eq!(c.get(&long), Cached::Unknown);
        c.put("odd", Some(""));
        assert_eq!(c.get("odd"), Cached::Unknown);
        let full = "ж".repeat(CACHE_WORD / 2);
        c.put(&full, Some(&full[..4]));
        assert_eq!(c.get(&full), Cached::Stem(&full[..4]));
    }

    /// Many more words than slots: each answer read back is the one given for that word.
    #[test]
    fn a_full_table_never_answers_for_another_word() {
        let mut c = StemCache::default();
        let words: Vec<String> = (0..SLOTS * 3).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            let stem = format!("s{i}");
            c.put(w, (i % 3 != 0).then_some(stem.as_str()));
        }
        let mut hits = 0;
        for (i, w) in words.iter().enumerate() {
            match c.get(w) {
                Cached::Unknown => {}
                Cached::NoStem => {
                    assert_eq!(i % 3, 0, "{w}");
                    hits += 1;
                }
                Cached::Stem(s) => {
                    assert_eq!(s, format!("s{i}"), "{w}");
                    hits += 1;
                }
            }
        }
        assert!(hits > SLOTS / 2 && hits <= SLOTS, "{hits}");
    }
}
