//! Acknowledgement tracking: when an object, and how much of it, is safe.
//!
//! * [`AckTracker`] follows the batches of one object attempt. Batches are
//!   acknowledged in any order, but only the highest line up to which *every*
//!   batch is acknowledged counts (`acked_through`): a restart resumes after
//!   it, so nothing is lost, and an auto_source id makes the re-read lines
//!   replace themselves.
//! * [`PollState`] is the polling checkpoint: the last key before which every
//!   object is done, plus the objects in flight after it (lines acknowledged,
//!   or done but behind a slower earlier object). Objects are started in key
//!   order, so everything before the first unfinished key is finished.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::topology::ack::{AckReceiver, BatchStatus};

/// How an attempt's batches ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckOutcome {
    /// Every line up to this one (1-based) is acknowledged.
    pub acked_through: u64,
    /// A batch was not delivered: the lines after `acked_through` must be
    /// read again.
    pub failed: bool,
}

/// Hands the batches of one object attempt to a task that waits for their
/// acknowledgements in order. Dropping the tracker says no more batches
/// come; the task then ends once the last one is acknowledged.
pub struct AckTracker {
    tx: mpsc::UnboundedSender<(u64, AckReceiver)>,
}

impl AckTracker {
    /// Starts tracking an attempt that resumes after line `skip`;
    /// `on_acked(line)` is called each time `acked_through` advances.
    pub fn spawn(
        skip: u64,
        mut on_acked: impl FnMut(u64) + Send + 'static,
    ) -> (AckTracker, JoinHandle<AckOutcome>) {
        // Unbounded, yet bounded in practice: a batch is tracked only once it
        // is sent into the pipeline's bounded channel.
        let (tx, mut rx) = mpsc::unbounded_channel::<(u64, AckReceiver)>();
        let task = tokio::spawn(async move {
            let mut outcome = AckOutcome {
                acked_through: skip,
                failed: false,
            };
            while let Some((last_line, ack)) = rx.recv().await {
                match ack.wait().await {
                    BatchStatus::Delivered => {
                        outcome.acked_through = last_line;
                        on_acked(last_line);
                    }
                    BatchStatus::Failed => {
                        outcome.failed = true;
                        break;
                    }
                }
            }
            outcome
        });
        (AckTracker { tx }, task)
    }

    /// A batch whose last line is `last_line` was sent.
    pub fn track(&self, last_line: u64, ack: AckReceiver) {
        // The task only stops early after a failure; later batches then do
        // not matter (the attempt is read again from `acked_through`).
        let _ = self.tx.send((last_line, ack));
    }
}

/// One object after the checkpoint's `after` key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMark {
    /// Lines acknowledged from the start of the object.
    pub lines: u64,
    /// Every line is acknowledged (waiting only for earlier keys).
    #[serde(default)]
    pub done: bool,
    /// Started in this run (entries from the checkpoint of a key that is no
    /// longer listed are dropped once the listing passes them).
    #[serde(skip)]
    live: bool,
}

/// The polling checkpoint, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollState {
    /// Every key up to and including this one is done.
    #[serde(default)]
    pub after: Option<String>,
    /// Keys after `after` that were started, in key order.
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectMark>,
}

/// What to do with a listed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Read it, skipping this many lines (0: from the start).
    Read { skip: u64 },
    /// Finished before (a restart): nothing to do.
    Done,
}

impl PollState {
    /// Where listing resumes: strictly after this key.
    pub fn start_after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// Starts `key` (listed in key order).
    pub fn start(&mut self, key: &str) -> Start {
        self.forget_vanished_before(key);
        let mark = self.objects.entry(key.to_owned()).or_default();
        mark.live = true;
        if mark.done {
            self.advance();
            Start::Done
        } else {
            Start::Read { skip: mark.lines }
        }
    }

    /// A listed key that holds nothing to read (filtered out): done at once.
    pub fn skip(&mut self, key: &str) {
        self.start(key);
        self.finish(key);
    }

    /// Lines up to `lines` of `key` are acknowledged.
    pub fn acked(&mut self, key: &str, lines: u64) {
        if let Some(mark) = self.objects.get_mut(key) {
            mark.lines = mark.lines.max(lines);
        }
    }

    /// Every line of `key` is acknowledged.
    pub fn finish(&mut self, key: &str) {
        if let Some(mark) = self.objects.get_mut(key) {
            mark.done = true;
        }
        self.advance();
    }

    /// Moves `after` over the finished keys at the front.
    fn advance(&mut self) {
        while let Some(entry) = self.objects.first_entry() {
            if !entry.get().done {
                break;
            }
            let (key, _) = entry.remove_entry();
            self.after = Some(key);
        }
    }

    /// Keys from the checkpoint before `key` that were not listed again
    /// (deleted meanwhile) would hold `after` back forever.
    fn forget_vanished_before(&mut self, key: &str) {
        let vanished: Vec<String> = self
            .objects
            .range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Excluded(key)))
            .filter(|(_, m)| !m.live)
            .map(|(k, _)| k.clone())
            .collect();
        for k in vanished {
            if let Some(m) = self.objects.get_mut(&k) {
                m.done = true;
            }
        }
        self.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::ack::Ack;

    #[test]
    fn after_moves_only_over_a_finished_prefix() {
        let mut s = PollState::default();
        assert_eq!(s.start("a"), Start::Read { skip: 0 });
        assert_eq!(s.start("b"), Start::Read { skip: 0 });
        assert_eq!(s.start("c"), Start::Read { skip: 0 });
        s.acked("a", 10);
        s.finish("b");
        s.finish("c");
        assert_eq!(s.after, None, "a is still in flight");
        assert_eq!(s.objects["a"].lines, 10);
        assert!(s.objects["b"].done);
        s.finish("a");
        assert_eq!(s.after.as_deref(), Some("c"));
        assert!(s.objects.is_empty());
        s.skip("d");
        assert_eq!(s.after.as_deref(), Some("d"));
    }

    #[test]
    fn a_restart_resumes_mid_object_and_skips_finished_ones() {
        let mut s = PollState::default();
        s.start("a");
        s.start("b");
        s.start("c");
        s.acked("a", 7);
        s.finish("b");
        let stored = serde_json::to_string(&s).unwrap();
        let mut r: PollState = serde_json::from_str(&stored).unwrap();
        assert_eq!(r.start_after(), None);
        assert_eq!(r.start("a"), Start::Read { skip: 7 });
        assert_eq!(r.start("b"), Start::Done);
        // c started but never acked: read from the start.
        assert_eq!(r.start("c"), Start::Read { skip: 0 });
        r.finish("a");
        assert_eq!(r.after.as_deref(), Some("b"));
    }

    #[test]
    fn vanished_keys_do_not_hold_the_checkpoint_back() {
        let mut s = PollState::default();
        s.start("a");
        s.acked("a", 3);
        let mut r: PollState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        // "a" was deleted from the bucket; the listing goes on with "b".
        assert_eq!(r.start("b"), Start::Read { skip: 0 });
        r.finish("b");
        assert_eq!(r.after.as_deref(), Some("b"));
        assert!(r.objects.is_empty());
    }

    #[tokio::test]
    async fn acks_count_only_up_to_the_first_gap() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let (tracker, task) = AckTracker::spawn(5, move |l| s.lock().unwrap().push(l));
        let (a1, r1) = Ack::new();
        let (a2, r2) = Ack::new();
        let (a3, r3) = Ack::new();
        tracker.track(10, r1);
        tracker.track(20, r2);
        tracker.track(30, r3);
        drop(tracker);
        drop(a2); // out of order
        tokio::task::yield_now().await;
        assert!(seen.lock().unwrap().is_empty(), "batch 1 is still pending");
        drop(a1);
        a3.fail();
        drop(a3);
        let outcome = task.await.unwrap();
        assert_eq!(
            outcome,
            AckOutcome {
                acked_through: 20,
                failed: true
            }
        );
        assert_eq!(*seen.lock().unwrap(), vec![10, 20]);
    }

    #[tokio::test]
    async fn an_attempt_without_batches_keeps_its_start() {
        let (tracker, task) = AckTracker::spawn(42, |_| {});
        drop(tracker);
        assert_eq!(
            task.await.unwrap(),
            AckOutcome {
                acked_through: 42,
                failed: false
            }
        );
    }
}
