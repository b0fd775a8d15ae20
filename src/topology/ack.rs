//! Batch acknowledgements: how an input learns that its events are safe.
//!
//! Every batch carries an [`Ack`]. Clones of it travel with the batch to every
//! output; when the last clone is dropped (every output has delivered its part
//! or written it to a dead-letter queue) the input's [`AckReceiver`] resolves.
//! An output that gives up on events without dead-lettering them calls
//! [`Ack::fail`], so the input does not checkpoint past them.
//!
//! Resolving on drop means no path can forget to acknowledge: a batch whose
//! events were all dropped by a filter, or that a `when_full: drop_newest`
//! output discarded, resolves as soon as nothing holds it any more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    /// Every output delivered the events (or dead-lettered them, or discarded
    /// them by configuration).
    Delivered,
    /// At least one output could not deliver: the input must not checkpoint
    /// past this batch (it will be replayed on restart).
    Failed,
}

struct Inner {
    failed: AtomicBool,
    notify: Mutex<Option<oneshot::Sender<BatchStatus>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let status = if self.failed.load(Ordering::Acquire) {
            BatchStatus::Failed
        } else {
            BatchStatus::Delivered
        };
        let sender = match self.notify.get_mut() {
            Ok(s) => s.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(tx) = sender {
            // The input may have stopped listening (shutdown); nothing to do then.
            let _ = tx.send(status);
        }
    }
}

/// The acknowledgement token of one batch. Cheap to clone.
#[derive(Clone, Default)]
pub struct Ack(Option<Arc<Inner>>);

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Ack(tracked)"
        } else {
            "Ack(untracked)"
        })
    }
}

/// Resolves with the batch's [`BatchStatus`] once every holder of its [`Ack`]
/// has finished.
pub struct AckReceiver(oneshot::Receiver<BatchStatus>);

impl Ack {
    /// A tracked token and the receiver its input waits on.
    pub fn new() -> (Ack, AckReceiver) {
        let (tx, rx) = oneshot::channel();
        let inner = Inner {
            failed: AtomicBool::new(false),
            notify: Mutex::new(Some(tx)),
        };
        (Ack(Some(Arc::new(inner))), AckReceiver(rx))
    }

    /// A token nobody waits for (inputs that cannot replay, such as TCP lines).
    pub fn untracked() -> Ack {
        Ack(None)
    }

    /// Marks the batch as not delivered by this holder.
    pub fn fail(&self) {
        if let Some(inner) = &self.0 {
            inner.failed.store(true, Ordering::Release);
        }
    }
}

impl AckReceiver {
    /// Waits for the batch to finish. A batch lost without resolving (which the
    /// drop-based design rules out) would read as `Failed`.
    pub async fn wait(self) -> BatchStatus {
        self.0.await.unwrap_or(BatchStatus::Failed)
    }

    /// The status if the batch has finished, without waiting.
    pub fn try_status(&mut self) -> Option<BatchStatus> {
        match self.0.try_recv() {
            Ok(s) => Some(s),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(BatchStatus::Failed),
        }
    }
}

impl std::future::Future for AckReceiver {
    type Output = BatchStatus;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<BatchStatus> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(BatchStatus::Failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_when_the_last_clone_drops() {
        let (ack, mut rx) = Ack::new();
        let a = ack.clone();
        let b = ack.clone();
        drop(ack);
        drop(a);
        assert_eq!(rx.try_status(), None);
        drop(b);
        assert_eq!(rx.wait().await, BatchStatus::Delivered);
    }

    #[tokio::test]
    async fn one_failure_fails_the_batch() {
        let (ack, rx) = Ack::new();
        let a = ack.clone();
        a.fail();
        drop(a);
        drop(ack);
        assert_eq!(rx.wait().await, BatchStatus::Failed);
    }

    #[test]
    fn untracked_is_inert() {
        let a = Ack::untracked();
        a.fail();
        drop(a.clone());
    }
}
