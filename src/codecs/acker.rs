//! When to send which ACK on one Beats connection: a pure, synchronous state
//! machine, so every ordering of completions can be tested without sockets.
//!
//! The rules it enforces (`lumberjack-v2.md` §3):
//! * A window is acknowledged only once every batch made from it **and from
//!   every earlier window** has completed (been accepted by the pipeline),
//!   whatever order the batches complete in. Acknowledging early would lose
//!   events on a crash; the client would not resend them.
//! * Windows are acknowledged in the order they arrived, one ACK each, never
//!   folded together (go-lumber matches ACKs to windows first in, first out,
//!   and drops the connection on an ACK past the current window).
//! * The ACK carries the sequence number of the window's last data frame, not
//!   its frame count (pylogbeat's numbers keep running across windows and it
//!   waits for exactly its last one), and the window's version byte.
//! * While anything is unacknowledged, the connection sends a keepalive
//!   `ACK(0)` every few seconds without other writes (Logstash: 5 s) so the
//!   client's 30 s read deadline does not expire while the pipeline is slow.
//!   v1 clients have no keepalive.
//! * A batch the pipeline could not deliver ([`Acker::fail`]) is never
//!   acknowledged: earlier windows still are, and once the failed window is
//!   the oldest, [`Acker::must_close`] says to close the connection, so the
//!   client resends it (at-least-once; it never learns of a partial success).
//!
//! Typical use by the `beats` input, per connection:
//!
//! ```
//! # use std::time::Instant;
//! # use weir::codecs::acker::Acker;
//! # use weir::codecs::lumberjack::{AckFrame, Version};
//! let mut acker = Acker::new();
//! let window = acker.open_window(Version::V2, Instant::now());
//! let first = acker.add_batch(&window);   // hand events 1..512 to the pipeline
//! let second = acker.add_batch(&window);  // and 513..1024
//! acker.seal(window, 1024);               // no more batches; ACK will say 1024
//! acker.complete(second);                 // the pipeline accepted a batch
//! assert_eq!(acker.next_ack(), None);     // the first is still pending
//! assert_eq!(acker.keepalive(), Some(AckFrame::KEEPALIVE));
//! acker.complete(first);
//! assert_eq!(acker.next_ack(), Some(AckFrame { version: Version::V2, seq: 1024 }));
//! assert!(!acker.in_flight());
//! ```

use std::collections::VecDeque;
use std::time::Instant;

use super::lumberjack::{AckFrame, Version};

/// The ACK bookkeeping of one connection.
#[derive(Debug, Default)]
pub struct Acker {
    /// Unacknowledged windows, oldest first; `windows[i]` has id `front_id + i`.
    windows: VecDeque<Slot>,
    front_id: u64,
}

#[derive(Debug)]
struct Slot {
    version: Version,
    /// Batches handed on and not yet completed.
    pending: u64,
    /// Set when the window is sealed: no more batches, and the ACK value.
    ack_seq: Option<u32>,
    /// A batch of this window was not delivered: never acknowledge it.
    failed: bool,
    opened_at: Instant,
}

/// A window that may still receive batches. Not `Clone`: sealing consumes it,
/// so no batch can be added to a window after its ACK value is fixed.
#[derive(Debug)]
#[must_use = "a window that is never sealed is never acknowledged"]
pub struct OpenWindow {
    id: u64,
}

/// One batch of a window's events, handed to the pipeline. Not `Clone`:
/// completing consumes it, so a batch cannot be counted twice.
#[derive(Debug)]
#[must_use = "a batch that is never completed holds back every later ACK"]
pub struct BatchTicket {
    window: u64,
}

impl Acker {
    pub fn new() -> Self {
        Acker::default()
    }

    /// Starts tracking the next window (windows must be opened in the order
    /// they arrived). `now` is remembered for [`Acker::oldest_unacked_since`].
    pub fn open_window(&mut self, version: Version, now: Instant) -> OpenWindow {
        let id = self.front_id + self.windows.len() as u64;
        self.windows.push_back(Slot {
            version,
            pending: 0,
            ack_seq: None,
            failed: false,
            opened_at: now,
        });
        OpenWindow { id }
    }

    /// Records one more batch of `window`'s events handed to the pipeline.
    pub fn add_batch(&mut self, window: &OpenWindow) -> BatchTicket {
        if let Some(slot) = self.slot_mut(window.id) {
            slot.pending += 1;
        }
        BatchTicket { window: window.id }
    }

    /// Declares that `window` will get no more batches and that its ACK
    /// carries `ack_seq`: its last data frame's sequence number (see
    /// [`super::window::Window::ack_seq`]; `0` for an empty window).
    pub fn seal(&mut self, window: OpenWindow, ack_seq: u32) {
        if let Some(slot) = self.slot_mut(window.id) {
            slot.ack_seq = Some(ack_seq);
        }
    }

    /// Records that the pipeline accepted `batch`. Then call
    /// [`Acker::next_ack`] until it returns `None`.
    pub fn complete(&mut self, batch: BatchTicket) {
        if let Some(slot) = self.slot_mut(batch.window) {
            slot.pending = slot.pending.saturating_sub(1);
        }
    }

    /// Records that the pipeline could not deliver `batch` (the engine's
    /// `BatchStatus::Failed`): its window will never be acknowledged. Keep
    /// sending the ACKs [`Acker::next_ack`] still gives for earlier windows,
    /// then close once [`Acker::must_close`] says so.
    pub fn fail(&mut self, batch: BatchTicket) {
        if let Some(slot) = self.slot_mut(batch.window) {
            slot.pending = slot.pending.saturating_sub(1);
            slot.failed = true;
        }
    }

    /// Whether the oldest unacknowledged window had a batch fail: every
    /// window before it has been acknowledged, so close the connection now
    /// and let the client resend from this window.
    pub fn must_close(&self) -> bool {
        self.windows.front().is_some_and(|slot| slot.failed)
    }

    /// The next ACK to send, if the oldest unacknowledged window is sealed
    /// and all its batches completed. Several windows may become ready at
    /// once: send one ACK per call, in order.
    pub fn next_ack(&mut self) -> Option<AckFrame> {
        let front = self.windows.front()?;
        let seq = front.ack_seq?;
        if front.pending > 0 || front.failed {
            return None;
        }
        let version = front.version;
        self.windows.pop_front();
        self.front_id += 1;
        Some(AckFrame { version, seq })
    }

    /// Whether any window awaits its ACK: while so, keep the client alive.
    pub fn in_flight(&self) -> bool {
        !self.windows.is_empty()
    }

    /// The keepalive to send when the connection has written nothing for a
    /// while: `ACK(0)` while a v2 window is unacknowledged. `None` when
    /// nothing is in flight, or for a v1 client (v1 has no keepalive).
    ///
    /// `ACK(0)` is what Logstash and go-lumber send; a go-lumber client takes
    /// any value below its window's size as "still working" and restarts its
    /// read deadline, and pylogbeat keeps reading until it sees its last seq.
    pub fn keepalive(&self) -> Option<AckFrame> {
        match self.windows.front()?.version {
            Version::V2 => Some(AckFrame::KEEPALIVE),
            Version::V1 => None,
        }
    }

    /// How many windows await their ACK.
    pub fn unacked_windows(&self) -> usize {
        self.windows.len()
    }

    /// When the oldest unacknowledged window was opened: export its age, so
    /// a pipeline stuck behind endless keepalives is visible.
    pub fn oldest_unacked_since(&self) -> Option<Instant> {
        self.windows.front().map(|slot| slot.opened_at)
    }

    fn slot_mut(&mut self, id: u64) -> Option<&mut Slot> {
        let index = usize::try_from(id.checked_sub(self.front_id)?).ok()?;
        self.windows.get_mut(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn ack(seq: u32) -> Option<AckFrame> {
        Some(AckFrame {
            version: Version::V2,
            seq,
        })
    }

    #[test]
    fn later_window_waits_for_earlier() {
        let t = Instant::now();
        let mut a = Acker::new();
        let w1 = a.open_window(Version::V2, t);
        let b1 = a.add_batch(&w1);
        a.seal(w1, 10);
        let w2 = a.open_window(Version::V2, t + Duration::from_secs(1));
        let b2 = a.add_batch(&w2);
        a.seal(w2, 20);
        a.complete(b2);
        assert_eq!(a.next_ack(), None);
        assert_eq!(a.unacked_windows(), 2);
        a.complete(b1);
        assert_eq!(a.next_ack(), ack(10));
        assert_eq!(a.oldest_unacked_since(), Some(t + Duration::from_secs(1)));
        assert_eq!(a.next_ack(), ack(20));
        assert_eq!(a.next_ack(), None);
        assert_eq!(a.keepalive(), None);
        assert_eq!(a.oldest_unacked_since(), None);
    }

    #[test]
    fn unsealed_window_is_not_acked() {
        let mut a = Acker::new();
        let w = a.open_window(Version::V2, Instant::now());
        let b = a.add_batch(&w);
        a.complete(b);
        assert_eq!(a.next_ack(), None);
        assert!(a.in_flight());
        a.seal(w, 3);
        assert_eq!(a.next_ack(), ack(3));
    }

    #[test]
    fn empty_window_acks_zero_in_order() {
        let mut a = Acker::new();
        let w1 = a.open_window(Version::V2, Instant::now());
        let b = a.add_batch(&w1);
        a.seal(w1, 5);
        let w2 = a.open_window(Version::V2, Instant::now());
        a.seal(w2, 0);
        assert_eq!(a.next_ack(), None);
        a.complete(b);
        assert_eq!(a.next_ack(), ack(5));
        assert_eq!(a.next_ack(), ack(0));
    }

    #[test]
    fn v1_windows_get_v1_acks_and_no_keepalive() {
        let mut a = Acker::new();
        let w = a.open_window(Version::V1, Instant::now());
        let b = a.add_batch(&w);
        a.seal(w, 1);
        assert_eq!(a.keepalive(), None);
        a.complete(b);
        assert_eq!(
            a.next_ack().map(AckFrame::to_bytes),
            Some([b'1', b'A', 0, 0, 0, 1])
        );
    }

    #[test]
    fn failed_batch_blocks_its_window_but_not_earlier_ones() {
        let t = Instant::now();
        let mut a = Acker::new();
        let w1 = a.open_window(Version::V2, t);
        let b1 = a.add_batch(&w1);
        a.seal(w1, 1);
        let w2 = a.open_window(Version::V2, t);
        let b2 = a.add_batch(&w2);
        let b3 = a.add_batch(&w2);
        a.seal(w2, 2);
        let w3 = a.open_window(Version::V2, t);
        let b4 = a.add_batch(&w3);
        a.seal(w3, 3);
        a.fail(b2);
        a.complete(b4);
        assert!(!a.must_close());
        a.complete(b1);
        assert_eq!(a.next_ack(), ack(1));
        assert_eq!(a.next_ack(), None);
        assert!(a.must_close());
        a.complete(b3);
        assert_eq!(a.next_ack(), None);
        assert!(a.must_close());
    }

    /// A window for the property tests: how many batches it is split into.
    fn arb_windows() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..4, 1..8)
    }

    #[derive(Debug, Clone)]
    enum Step {
        Seal(usize),
        Complete(usize, usize),
    }

    /// Seals and completions of every window's batches, shuffled; each
    /// window is opened (and its batches added) before any of its steps.
    fn arb_schedule() -> impl Strategy<Value = (Vec<u8>, Vec<Step>)> {
        arb_windows().prop_flat_map(|windows| {
            let mut steps = Vec::new();
            for (w, &batches) in windows.iter().enumerate() {
                steps.push(Step::Seal(w));
                for b in 0..batches as usize {
                    steps.push(Step::Complete(w, b));
                }
            }
            (Just(windows), Just(steps).prop_shuffle())
        })
    }

    proptest! {
        /// Whatever the completion order: no window is acknowledged before all
        /// of its batches and all earlier windows' batches completed; ACKs come
        /// in window order with the right values (increasing, for a client with
        /// a running counter); every window is acknowledged in the end.
        #[test]
        fn any_completion_order(
            (windows, steps) in arb_schedule(),
            failing in prop::option::of(0usize..8),
        ) {
            // `failing`: the window whose first batch fails, if it has one.
            let failing = failing.filter(|&w| windows.get(w).is_some_and(|&b| b > 0));
            let t = Instant::now();
            let mut acker = Acker::new();
            let mut open = Vec::new();
            let mut tickets: Vec<Vec<Option<BatchTicket>>> = Vec::new();
            // Running sequence numbers: window w's last seq is its cumulative
            // batch count plus w+1 (so empty windows are distinct too).
            let mut last_seq = Vec::new();
            let mut seq = 0u32;
            for &batches in &windows {
                let w = acker.open_window(Version::V2, t);
                tickets.push((0..batches).map(|_| Some(acker.add_batch(&w))).collect());
                seq += u32::from(batches) + 1;
                last_seq.push(seq);
                open.push(Some(w));
            }
            let mut sealed = vec![false; windows.len()];
            let mut done = vec![0usize; windows.len()];
            let mut acked = Vec::new();
            let mut failed = false;
            for step in steps {
                match step {
                    Step::Seal(w) => {
                        let window = open[w].take().unwrap();
                        acker.seal(window, last_seq[w]);
                        sealed[w] = true;
                    }
                    Step::Complete(w, b) => {
                        let ticket = tickets[w][b].take().unwrap();
                        if failing == Some(w) && b == 0 {
                            acker.fail(ticket);
                            failed = true;
                        } else {
                            acker.complete(ticket);
                        }
                        done[w] += 1;
                    }
                }
                while let Some(a) = acker.next_ack() {
                    let w = acked.len();
                    // Every window up to this one is finished.
                    for earlier in 0..=w {
                        prop_assert!(sealed[earlier]);
                        prop_assert_eq!(done[earlier], windows[earlier] as usize);
                    }
                    prop_assert!(failing != Some(w), "failed window acknowledged");
                    prop_assert_eq!(a.seq, last_seq[w]);
                    if let Some(&prev) = acked.last() {
                        prop_assert!(a.seq > prev);
                    }
                    acked.push(a.seq);
                }
                prop_assert_eq!(acker.in_flight(), acked.len() < windows.len());
                prop_assert_eq!(acker.keepalive().is_some(), acker.in_flight());
                prop_assert_eq!(acker.must_close(), failed && failing == Some(acked.len()));
            }
            match failing {
                // Everything before the failed window, nothing from it on.
                Some(w) => {
                    prop_assert_eq!(&acked[..], &last_seq[..w]);
                    prop_assert!(acker.must_close());
                }
                None => prop_assert_eq!(acked, last_seq),
            }
        }
    }
}
