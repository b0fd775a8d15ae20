//! Inputs: where events come from.
//!
//! An input reads, frames and batches; it sends batches into the pipeline's
//! bounded channel and waits when the channel is full, which is how
//! backpressure reaches a socket or a file. Inputs are registered in
//! [`registry`].

pub mod beats;
pub mod file;
pub mod kinesis;
pub mod reader;
pub mod registry;
pub mod s3;
pub mod stdin;
pub mod tcp;
pub mod tls;
pub mod udp;

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::event::Event;
use crate::topology::ack::Ack;
use crate::topology::batch::Batch;

/// The running input: reads until shutdown or end of input.
pub type InputTask = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// An input's validated configuration.
pub trait InputConfig: Debug + Send + Sync {
    /// Starts the input. Binding and opening happen inside the task, which
    /// fails with a message naming what could not be opened.
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask>;

    /// For inputs in [`registry::READS_FORMAT`]: the format the pipeline
    /// should still parse this input's events with (`None` when the input
    /// decodes everything itself or the format is plain lines).
    fn pipeline_format(&self) -> Option<&str> {
        None
    }
}

/// What a running input is given.
pub struct InputContext {
    pub pipeline: Arc<str>,
    pub name: Arc<str>,
    pub out: BatchSender,
    /// Cancelled on SIGINT/SIGTERM: stop accepting and reading, return.
    pub shutdown: CancellationToken,
    pub data_dir: PathBuf,
}

/// The pipeline's channel was closed: the pipeline is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the pipeline is shutting down")]
pub struct Closed;

/// An input's handle on the pipeline's bounded batch channel.
#[derive(Clone)]
pub struct BatchSender {
    tx: async_channel::Sender<Batch>,
    input: usize,
    batch_size: usize,
    received_events: metrics::Counter,
    received_bytes: metrics::Counter,
}

impl BatchSender {
    pub fn new(
        tx: async_channel::Sender<Batch>,
        input: usize,
        batch_size: usize,
        pipeline: &str,
        name: &str,
    ) -> Self {
        let labels = [
            ("pipeline", pipeline.to_owned()),
            ("component", name.to_owned()),
            ("kind", "input".to_owned()),
        ];
        BatchSender {
            tx,
            input,
            batch_size: batch_size.max(1),
            received_events: metrics::counter!("weir_component_received_events_total", &labels),
            received_bytes: metrics::counter!("weir_component_received_bytes_total", &labels),
        }
    }

    /// The most events one batch should hold.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Sends a batch, waiting while the channel is full.
    pub async fn send(&self, events: Vec<Event>, ack: Ack) -> Result<(), Closed> {
        if events.is_empty() {
            return Ok(());
        }
        let bytes: usize = events.iter().map(|e| e.message.len()).sum();
        self.received_events.increment(events.len() as u64);
        self.received_bytes.increment(bytes as u64);
        self.tx
            .send(Batch {
                events,
                ack,
                input: self.input,
            })
            .await
            .map_err(|_| Closed)
    }
}
