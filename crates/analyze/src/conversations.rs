//! DM conversations: their messages in time order, numbered 1, 2, 3... The numbers make gaps in a
//! published excerpt visible, so the order must not depend on ingest order: ties in time fall back
//! to the native id (numerically where it is a number), then to the raw hash order.

use std::collections::{BTreeMap, HashMap};
use trove_store::{ConvInput, ConversationRow};

type SortKey<'a> = (bool, i64, usize, &'a str, i64);

fn sort_key(m: &ConvInput) -> SortKey<'_> {
    let native = m.native_id.as_deref().unwrap_or("");
    // Numeric ids compare by length first, then digits: "9" < "10".
    let numeric = native.bytes().all(|b| b.is_ascii_digit());
    (
        m.date_utc.is_none(),
        m.date_utc.unwrap_or(0),
        if numeric { native.len() } else { usize::MAX },
        native,
        m.seq,
    )
}

/// Returns `(item seq, conversation seq)` pairs and one row per conversation.
pub fn order(
    items: &[ConvInput],
    identities: &[(String, String)],
    labels: &[trove_store::ConversationLabel],
) -> (Vec<(i64, i64)>, Vec<ConversationRow>) {
    let mut by_conv: BTreeMap<&str, Vec<&ConvInput>> = BTreeMap::new();
    for m in items {
        by_conv.entry(m.conversation.as_str()).or_default().push(m);
    }
    let mut participants: HashMap<&str, Vec<String>> = HashMap::new();
    for (c, id) in identities {
        participants.entry(c.as_str()).or_default().push(id.clone());
    }
    let labels: HashMap<&str, (&Option<String>, &Option<String>)> = labels
        .iter()
        .map(|(c, n, k)| (c.as_str(), (n, k)))
        .collect();
    let mut seqs = Vec::with_capacity(items.len());
    let mut rows = Vec::with_capacity(by_conv.len());
    for (conv, mut msgs) in by_conv {
        msgs.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        for (n, m) in msgs.iter().enumerate() {
            seqs.push((m.seq, n as i64 + 1));
        }
        let mut people = participants.remove(conv).unwrap_or_default();
        people.sort();
        people.dedup();
        let (name, kind) = labels.get(conv).copied().unwrap_or((&None, &None));
        rows.push(ConversationRow {
            id: conv.to_string(),
            name: name.clone(),
            kind: kind.clone(),
            participants: people,
            size: msgs.len() as u64,
            first: msgs.iter().filter_map(|m| m.date_utc).min(),
            last: msgs.iter().filter_map(|m| m.date_utc).max(),
        });
    }
    (seqs, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(seq: i64, date: Option<i64>, native: &str) -> ConvInput {
        ConvInput {
            seq,
            conversation: "x:1-2".into(),
            date_utc: date,
            native_id: Some(native.into()),
        }
    }

    #[test]
    fn numbered_by_time_then_numeric_id_independent_of_ingest_order() {
        let items = vec![
            m(1, Some(300), "30"),
            m(2, Some(100), "10"),
            m(3, Some(200), "100"),
            m(4, Some(200), "99"),
            m(5, None, "1"),
        ];
        let (seqs, rows) = order(&items, &[("x:1-2".into(), "twitter:1".into())], &[]);
        let mut by_seq: Vec<(i64, i64)> = seqs;
        by_seq.sort();
        assert_eq!(by_seq, vec![(1, 4), (2, 1), (3, 3), (4, 2), (5, 5)]);
        assert_eq!(rows[0].size, 5);
        assert_eq!(rows[0].first, Some(100));
        assert_eq!(rows[0].last, Some(300));
        assert_eq!(rows[0].participants, vec!["twitter:1".to_string()]);
    }
}
