//! Outputs: where events go.
//!
//! Each output owns a bounded buffer of [`OutputBatch`]es fed by the workers,
//! and runs as its own task. A batch is acknowledged by dropping it once its
//! events are delivered; an output that gives up calls [`OutputBatch::fail`].
//! Outputs are registered in [`registry`].

pub mod blackhole;
pub mod elasticsearch;
pub mod file;
pub mod log_limit;
pub mod prometheus;
pub mod registry;
pub mod s3;
pub mod stdout;

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;

use crate::topology::batch::OutputBatch;

/// The running output: delivers until its channel closes, then flushes.
pub type OutputTask = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// An output's validated configuration.
pub trait OutputConfig: Debug + Send + Sync {
    fn build(&self, cx: OutputContext) -> anyhow::Result<OutputTask>;

    /// Process-wide resources the output takes, so that configurations whose
    /// outputs would fight over one (two listeners on one address, two pushers
    /// of one Pushgateway group) are refused before anything starts, naming
    /// both. See [`crate::config::pipeline::check_claims`].
    fn claims(&self) -> Vec<Claim> {
        Vec::new()
    }
}

/// A process-wide resource an output takes (see [`OutputConfig::claims`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A TCP address the output listens on. Two listeners clash when their
    /// ports are equal and their IPs are equal or one is a wildcard
    /// (`0.0.0.0`, `::`).
    Listen(SocketAddr),
    /// Something only one component may own, described for the error message
    /// (`Pushgateway group http://gw:9091/metrics/job/weir/instance/a`).
    Exclusive(String),
    /// A shared setting that every component setting it must set alike
    /// (`key` names it, `value` renders it).
    Setting { key: String, value: String },
}

impl Claim {
    /// Whether two claims cannot both hold.
    pub fn conflicts_with(&self, other: &Claim) -> bool {
        match (self, other) {
            (Claim::Listen(a), Claim::Listen(b)) => listen_clash(*a, *b),
            (Claim::Exclusive(a), Claim::Exclusive(b)) => a == b,
            (Claim::Setting { key: a, value: va }, Claim::Setting { key: b, value: vb }) => {
                a == b && va != vb
            }
            _ => false,
        }
    }
}

/// Whether two listening addresses cannot both be bound.
pub fn listen_clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// What a running output is given.
pub struct OutputContext {
    pub pipeline: Arc<str>,
    pub name: Arc<str>,
    /// Batches from the workers; closed when the pipeline has drained.
    pub input: async_channel::Receiver<OutputBatch>,
    pub data_dir: PathBuf,
    pub metrics: OutputMetrics,
}

/// What an output does when its buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait: backpressure reaches the inputs (nothing is lost).
    #[default]
    Block,
    /// Discard the new batch for this output (counted and logged), so a slow
    /// output whose losses are acceptable never holds the others back.
    DropNewest,
}

/// The standard per-output counters.
#[derive(Clone)]
pub struct OutputMetrics {
    pub sent_events: metrics::Counter,
    pub sent_bytes: metrics::Counter,
    pub errors: metrics::Counter,
    pub batch_seconds: metrics::Histogram,
}

impl OutputMetrics {
    pub fn new(pipeline: &str, name: &str) -> Self {
        let labels = [
            ("pipeline", pipeline.to_owned()),
            ("component", name.to_owned()),
            ("kind", "output".to_owned()),
        ];
        OutputMetrics {
            sent_events: metrics::counter!("weir_component_sent_events_total", &labels),
            sent_bytes: metrics::counter!("weir_component_sent_bytes_total", &labels),
            errors: metrics::counter!("weir_component_errors_total", &labels),
            batch_seconds: metrics::histogram!("weir_output_batch_duration_seconds", &labels),
        }
    }

    /// Records a delivered batch.
    pub fn delivered(&self, events: usize, bytes: usize, started: Instant) {
        self.sent_events.increment(events as u64);
        self.sent_bytes.increment(bytes as u64);
        self.batch_seconds.record(started.elapsed().as_secs_f64());
    }
}
