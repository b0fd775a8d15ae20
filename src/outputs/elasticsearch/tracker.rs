//! Acknowledgement bookkeeping: which batches may be let go.
//!
//! A batch is acknowledged by dropping it, so the output keeps every batch it
//! received until each of its documents is delivered or dead-lettered. One
//! bulk request may carry documents of several batches, and one batch may be
//! spread over several requests that finish in any order; the tracker counts
//! what is left per batch and releases batches strictly in arrival order, so
//! an input that checkpoints on acknowledgements never sees a later batch
//! confirmed before an earlier one.

use std::collections::VecDeque;
use std::time::Instant;

/// Batches (`T`) in arrival order with their outstanding document counts.
#[derive(Debug)]
pub struct Tracker<T> {
    /// Sequence number of `entries[0]`.
    head: u64,
    entries: VecDeque<Entry<T>>,
}

#[derive(Debug)]
struct Entry<T> {
    item: T,
    remaining: usize,
    failed: bool,
    received: Instant,
}

/// A batch whose documents are all finished.
#[derive(Debug)]
pub struct Released<T> {
    pub item: T,
    /// Some documents could not be delivered nor dead-lettered: the batch
    /// must be reported as failed (not checkpointed).
    pub failed: bool,
    pub received: Instant,
}

impl<T> Default for Tracker<T> {
    fn default() -> Self {
        Tracker {
            head: 0,
            entries: VecDeque::new(),
        }
    }
}

impl<T> Tracker<T> {
    /// Registers a batch of `docs` documents; returns its sequence number.
    pub fn push(&mut self, item: T, docs: usize) -> u64 {
        let seq = self.head + self.entries.len() as u64;
        self.entries.push_back(Entry {
            item,
            remaining: docs,
            failed: false,
            received: Instant::now(),
        });
        seq
    }

    fn entry(&mut self, seq: u64) -> Option<&mut Entry<T>> {
        let i = seq.checked_sub(self.head)?;
        self.entries.get_mut(usize::try_from(i).ok()?)
    }

    /// Records that `n` documents of batch `seq` are finished.
    pub fn done(&mut self, seq: u64, n: usize) {
        if let Some(e) = self.entry(seq) {
            debug_assert!(e.remaining >= n, "more documents finished than sent");
            e.remaining = e.remaining.saturating_sub(n);
        }
    }

    /// Marks batch `seq` as not (entirely) delivered.
    pub fn fail(&mut self, seq: u64) {
        if let Some(e) = self.entry(seq) {
            e.failed = true;
        }
    }

    /// The batch `seq`, while it is held.
    pub fn get(&self, seq: u64) -> Option<&T> {
        let i = seq.checked_sub(self.head)?;
        self.entries.get(usize::try_from(i).ok()?).map(|e| &e.item)
    }

    /// Removes and returns the finished batches at the front, oldest first.
    /// A finished batch behind an unfinished one waits for it.
    pub fn release(&mut self) -> Vec<Released<T>> {
        let mut out = Vec::new();
        while self.entries.front().is_some_and(|e| e.remaining == 0) {
            if let Some(e) = self.entries.pop_front() {
                self.head += 1;
                out.push(Released {
                    item: e.item,
                    failed: e.failed,
                    received: e.received,
                });
            }
        }
        out
    }

    /// Removes every batch still held, finished or not (the output is
    /// stopping abnormally; the caller fails them).
    pub fn drain_all(&mut self) -> Vec<T> {
        self.head += self.entries.len() as u64;
        self.entries.drain(..).map(|e| e.item).collect()
    }

    /// Batches still held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records the order in which batches are dropped (acknowledged).
    struct Probe(&'static str, Arc<Mutex<Vec<&'static str>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn releases_in_arrival_order_only() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut t = Tracker::default();
        let a = t.push(Probe("a", log.clone()), 2);
        let b = t.push(Probe("b", log.clone()), 1);
        let c = t.push(Probe("c", log.clone()), 3);
        // b's only document comes back first: nothing may be released yet.
        t.done(b, 1);
        assert!(t.release().is_empty());
        t.done(a, 1);
        assert!(t.release().is_empty());
        t.done(a, 1);
        let released: Vec<_> = t.release().into_iter().map(|r| r.item.0).collect();
        assert_eq!(released, ["a", "b"]);
        assert_eq!(*log.lock().unwrap(), ["a", "b"]);
        // c spans several requests.
        t.done(c, 2);
        assert!(t.release().is_empty());
        assert!(t.get(c).is_some());
        t.done(c, 1);
        assert_eq!(t.release().len(), 1);
        assert!(t.is_empty());
        assert_eq!(*log.lock().unwrap(), ["a", "b", "c"]);
    }

    #[test]
    fn empty_batches_and_failures() {
        let mut t: Tracker<u32> = Tracker::default();
        let a = t.push(1, 0);
        let b = t.push(2, 1);
        t.fail(b);
        let r = t.release();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].item, r[0].failed), (1, false));
        t.done(b, 1);
        let r = t.release();
        assert_eq!((r[0].item, r[0].failed), (2, true));
        // Unknown and released sequence numbers are ignored.
        t.done(a, 1);
        t.done(99, 1);
        assert!(t.get(a).is_none());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn random_completion_orders_release_everything_in_order() {
        use proptest::prelude::*;
        proptest!(|(sizes in prop::collection::vec(0usize..5, 1..20), seed in any::<u64>())| {
            let mut t = Tracker::default();
            let mut docs = Vec::new();
            for (i, &n) in sizes.iter().enumerate() {
                let seq = t.push(i, n);
                docs.extend(std::iter::repeat_n(seq, n));
            }
            // Finish documents in a pseudo-random order.
            let mut rng = seed | 1;
            let mut released = Vec::new();
            released.extend(t.release().into_iter().map(|r| r.item));
            while !docs.is_empty() {
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                let seq = docs.swap_remove((rng % docs.len() as u64) as usize);
                t.done(seq, 1);
                released.extend(t.release().into_iter().map(|r| r.item));
            }
            prop_assert_eq!(released, (0..sizes.len()).collect::<Vec<_>>());
            prop_assert!(t.is_empty());
        });
    }
}
