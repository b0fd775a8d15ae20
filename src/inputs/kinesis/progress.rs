//! In-order acknowledgement tracking for one shard.
//!
//! Batches of a shard are acknowledged out of order (several workers and
//! outputs), but the checkpoint may only move to the highest sequence number
//! whose events — and all events before them — every output has finished. A
//! Kinesis record that became several events (a CloudWatch batch, a KPL
//! aggregate, many lines) may span batches: it counts only once its last
//! event is acknowledged, so each batch carries the sequence number of the
//! last record it *completes*, if any.

use std::collections::VecDeque;

use crate::topology::ack::{AckReceiver, BatchStatus};

/// Pending batches of one shard, oldest first.
#[derive(Default)]
pub struct Progress {
    pending: VecDeque<(AckReceiver, Option<String>)>,
    /// The highest sequence number known complete (and acknowledged).
    acked: Option<String>,
    /// A batch failed: the checkpoint stays before it (it is replayed on the
    /// next start).
    failed: bool,
}

impl Progress {
    /// A batch was sent; `completes` is the last record it finishes.
    pub fn sent(&mut self, ack: AckReceiver, completes: Option<String>) {
        self.pending.push_back((ack, completes));
    }

    /// Record `sequence` produced no events (a control message): complete as
    /// soon as everything before it is.
    pub fn empty_record(&mut self, sequence: String) {
        match self.pending.back_mut() {
            Some((_, completes)) => *completes = Some(sequence),
            None if !self.failed => self.acked = Some(sequence),
            None => {}
        }
    }

    /// Collects finished batches from the front; returns the new checkpoint
    /// if it moved.
    pub fn poll(&mut self) -> Option<String> {
        let mut moved = false;
        while let Some((ack, _)) = self.pending.front_mut() {
            let Some(status) = ack.try_status() else {
                break;
            };
            let Some((_, completes)) = self.pending.pop_front() else {
                break;
            };
            if status == BatchStatus::Failed {
                self.failed = true;
            }
            if !self.failed {
                if let Some(seq) = completes {
                    self.acked = Some(seq);
                    moved = true;
                }
            }
        }
        if moved {
            self.acked.clone()
        } else {
            None
        }
    }

    /// Waits for every pending batch, then returns the checkpoint.
    pub async fn drain(&mut self) -> Option<String> {
        while let Some((ack, completes)) = self.pending.pop_front() {
            if ack.wait().await == BatchStatus::Failed {
                self.failed = true;
            }
            if !self.failed {
                if let Some(seq) = completes {
                    self.acked = Some(seq);
                }
            }
        }
        self.acked.clone()
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Whether a failed batch keeps the checkpoint from moving.
    pub fn failed(&self) -> bool {
        self.failed
    }

    pub fn checkpoint(&self) -> Option<&str> {
        self.acked.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::ack::Ack;

    #[tokio::test]
    async fn moves_only_over_contiguous_acks() {
        let mut p = Progress::default();
        let (a1, r1) = Ack::new();
        let (a2, r2) = Ack::new();
        let (a3, r3) = Ack::new();
        p.sent(r1, None); // the first part of record 1
        p.sent(r2, Some("1".into())); // its end
        p.sent(r3, Some("3".into()));
        p.empty_record("4".into());
        drop(a3);
        assert_eq!(p.poll(), None);
        drop(a2);
        assert_eq!(p.poll(), None, "record 1 is not complete before batch 1");
        drop(a1);
        assert_eq!(p.poll().as_deref(), Some("4"));
        assert_eq!(p.in_flight(), 0);
        p.empty_record("5".into());
        assert_eq!(p.checkpoint(), Some("5"));
    }

    #[tokio::test]
    async fn a_failure_stops_the_checkpoint() {
        let mut p = Progress::default();
        let (a1, r1) = Ack::new();
        let (a2, r2) = Ack::new();
        p.sent(r1, Some("1".into()));
        p.sent(r2, Some("2".into()));
        a1.fail();
        drop(a1);
        drop(a2);
        assert_eq!(p.drain().await, None);
        assert!(p.failed());
    }
}
