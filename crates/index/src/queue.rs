//! A byte budget for the documents waiting in tantivy's indexing queue.
//!
//! tantivy bounds its queue at 10,000 documents, not bytes. A document carries its body (twice
//! when it has CJK text) and attachment text twice (plain and CJK), each up to 2 MiB, so a full
//! queue of ordinary list mail could hold ~75 MB, and one of long extracted attachments could
//! hold gigabytes. Each queued document here holds a [`Permit`] for its size
//! until tantivy's indexing thread has indexed and dropped it; the writer waits before adding a
//! document that would take the queue over [`QUEUE_BYTES`].

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tantivy::TantivyDocument;
use tantivy::schema::Value as _;
use tantivy::schema::document::Document;

/// Text bytes allowed in the queue: several hundred list messages, about one ingest batch.
/// Measured against tantivy's own bound alone (bench notes, session 16): peak RSS on 1,500
/// messages with 470 KB text attachments 494 → 244 MB, on 100k list messages 228-241 → 197 MB,
/// on 17,685 148-171 → 134-143 MB; ingest time the same within noise (24 MiB was no faster).
pub const QUEUE_BYTES: usize = 8 << 20;
/// Bookkeeping per document beyond its text (field list, numbers, channel slot).
const DOC_OVERHEAD: usize = 512;
/// The longest the writer waits for room. tantivy drops the queue when its indexing thread
/// fails, which frees the budget; this bound only keeps an unforeseen stall from becoming a hang.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Budget {
    queued: Mutex<usize>,
    freed: Condvar,
}

impl Budget {
    /// Takes `bytes` of the budget, waiting while the queue is full. A document larger than the
    /// whole budget goes in alone once the queue is empty.
    pub fn acquire(self: &Arc<Self>, bytes: usize) -> Permit {
        let deadline = Instant::now() + MAX_WAIT;
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        while *queued > 0 && *queued + bytes > QUEUE_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    queued = *queued,
                    "the index queue has not drained in {MAX_WAIT:?}; adding anyway"
                );
                break;
            }
            queued = self
                .freed
                .wait_timeout(queued, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *queued += bytes;
        Permit {
            budget: Arc::clone(self),
            bytes,
        }
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        *self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A share of the budget, given back when dropped.
pub struct Permit {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut queued = self
            .budget
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *queued = queued.saturating_sub(self.bytes);
        self.budget.freed.notify_all();
    }
}

/// The bytes a document holds while queued: its text values plus a fixed overhead.
pub fn doc_bytes(doc: &TantivyDocument) -> usize {
    DOC_OVERHEAD
        + doc
            .field_values()
            .map(|(_, v)| v.as_str().map_or(8, str::len))
            .sum::<usize>()
}

/// A document on its way through tantivy's queue: tantivy drops it once indexed, and with it
/// the permit.
pub struct QueuedDoc {
    pub doc: TantivyDocument,
    pub _permit: Permit,
}

impl Document for QueuedDoc {
    type Value<'a> = <TantivyDocument as Document>::Value<'a>;
    type FieldsValuesIter<'a> = <TantivyDocument as Document>::FieldsValuesIter<'a>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        self.doc.iter_fields_and_values()
    }
}

/// Fields of a document in order, for tests.
#[cfg(test)]
fn fields(doc: &QueuedDoc) -> Vec<tantivy::schema::Field> {
    doc.iter_fields_and_values().map(|(f, _)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_full_queue_makes_the_writer_wait_until_a_document_is_dropped() {
        let budget = Arc::new(Budget::default());
        let first = budget.acquire(QUEUE_BYTES - 10);
        let (tx, rx) = mpsc::channel();
        let b = Arc::clone(&budget);
        let waiter = std::thread::spawn(move || {
            let p = b.acquire(100);
            tx.send(()).unwrap();
            p
        });
        // The second document does not fit: it waits for the first to leave the queue.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(first);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("room was made");
        let second = waiter.join().unwrap();
        assert_eq!(budget.queued(), 100);
        drop(second);
        assert_eq!(budget.queued(), 0);
    }

    #[test]
    fn a_document_larger_than_the_budget_goes_in_alone() {
        let budget = Arc::new(Budget::default());
        let big = budget.acquire(QUEUE_BYTES * 3);
        assert_eq!(budget.queued(), QUEUE_BYTES * 3);
        drop(big);
        assert_eq!(budget.queued(), 0);
    }

    #[test]
    fn a_queued_document_is_the_document_it_wraps() {
        let mut schema = tantivy::schema::Schema::builder();
        let a = schema.add_text_field("a", tantivy::schema::TEXT);
        let n = schema.add_i64_field("n", tantivy::schema::INDEXED);
        let mut doc = TantivyDocument::default();
        doc.add_text(a, "hello");
        doc.add_i64(n, 7);
        doc.add_text(a, "world!");
        assert_eq!(doc_bytes(&doc), DOC_OVERHEAD + 5 + 8 + 6);
        let budget = Arc::new(Budget::default());
        let permit = budget.acquire(doc_bytes(&doc));
        let q = QueuedDoc {
            doc,
            _permit: permit,
        };
        assert_eq!(fields(&q), vec![a, n, a]);
        drop(q);
        assert_eq!(budget.queued(), 0);
    }
}
