//! `elasticsearch`: bulk indexing that loses nothing.
//!
//! ```text
//! batches ─► driver: encode into the open bulk buffer ─► flush (events, bytes, time)
//!                                                         │  concurrency slots
//!                                                         ▼
//!                      request tasks: send, read items, retry / split / dead-letter
//!                                                         │
//!           tracker: a batch is dropped (acknowledged) once all its documents
//!                    are delivered or dead-lettered, in arrival order
//! ```
//!
//! Modules: [`config`] (options and checks), [`encode`] (action and document
//! lines, deterministic ids), [`bulk`] (response classification), [`retry`]
//! (backoff), [`tracker`] (acknowledgement bookkeeping), [`ship`] (one
//! request to completion), [`client`] (hosts, failover, health checks,
//! templates), [`dead_letter`] and [`telemetry`].

pub mod bulk;
pub mod client;
pub mod config;
pub mod dead_letter;
pub mod encode;
pub mod retry;
pub mod ship;
pub mod telemetry;
pub mod tracker;

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use self::client::{Cluster, TemplateError, TemplateInstall};
use self::config::Settings;
use self::dead_letter::DeadLetterFile;
use self::encode::{Encoder, IdFallback};
use self::retry::Backoff;
use self::ship::{Doc, Job, Shared};
use self::telemetry::{EsMetrics, LogLimiter};
use self::tracker::Tracker;
use super::{OutputConfig, OutputContext, OutputTask};
use crate::topology::batch::OutputBatch;

pub use self::config::load;

/// Headroom kept below the server's `http.max_content_length`.
const CONTENT_LENGTH_MARGIN: usize = 64 * 1024;

impl OutputConfig for Settings {
    fn build(&self, cx: OutputContext) -> anyhow::Result<OutputTask> {
        let settings = self.clone();
        let cluster = Arc::new(Cluster::new(&settings)?);
        let dlq_path = settings.dead_letter_path.clone().unwrap_or_else(|| {
            cx.data_dir
                .join("dead_letter")
                .join(format!("{}-{}.ndjson", cx.pipeline, cx.name))
        });
        let mut query = vec![("filter_path", bulk::FILTER_PATH.to_owned())];
        if let Some(p) = &settings.pipeline {
            query.push(("pipeline", p.clone()));
        }
        let shared = Arc::new(Shared {
            pipeline: cx.pipeline.clone(),
            name: cx.name.clone(),
            cluster,
            tracker: Mutex::new(Tracker::default()),
            dlq: Arc::new(DeadLetterFile::new(dlq_path)),
            names: Encoder::new(&settings),
            es_metrics: EsMetrics::new(&cx.pipeline, &cx.name),
            metrics: cx.metrics.clone(),
            logs: LogLimiter::default(),
            compression: settings.compression,
            query,
            max_retries: settings.max_retries,
            retry_initial_backoff: settings.retry_initial_backoff,
            retry_max_backoff: settings.retry_max_backoff,
            max_body: AtomicUsize::new(settings.batch_max_bytes),
        });
        Ok(Box::pin(run(settings, cx, shared)))
    }
}

async fn run(settings: Settings, cx: OutputContext, shared: Arc<Shared>) -> anyhow::Result<()> {
    let health = tokio::spawn(client::health_loop(
        shared.cluster.clone(),
        settings.health_check_interval,
        cx.name.clone(),
        shared.es_metrics.healthy_hosts.clone(),
    ));
    let result = drive(&settings, &cx, &shared).await;
    health.abort();
    result
}

async fn drive(
    settings: &Settings,
    cx: &OutputContext,
    shared: &Arc<Shared>,
) -> anyhow::Result<()> {
    startup(settings, shared).await?;
    let mut driver = Driver {
        encoder: Encoder::new(settings),
        shared: shared.clone(),
        open: BytesMut::new(),
        docs: Vec::new(),
        opened: None,
        slots: Arc::new(Semaphore::new(settings.concurrency)),
        tasks: JoinSet::new(),
        max_events: settings.batch_max_events,
        timeout: settings.batch_timeout,
        warned_id_fallback: false,
    };
    loop {
        let deadline = driver.opened.map(|t| t + driver.timeout);
        tokio::select! {
            biased;
            _ = sleep_until(deadline), if deadline.is_some() => driver.flush().await?,
            batch = cx.input.recv() => match batch {
                Ok(batch) => driver.add(batch).await?,
                Err(_) => break,
            },
        }
        driver.reap()?;
    }
    // The pipeline has drained into this output: send what is left and
    // wait for every request to finish (retries included).
    driver.flush().await?;
    while let Some(joined) = driver.tasks.join_next().await {
        joined.map_err(|e| {
            anyhow::anyhow!("output `{}`: a bulk request task failed: {e}", cx.name)
        })?;
    }
    if !shared.all_released() {
        warn!(output = %cx.name, "batches still held after every request finished");
    }
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Before the first batch: probe the hosts, learn the server's body size
/// limit, install the index template. Only the template blocks (documents
/// must not create indices before it exists); a refused template stops the
/// output.
async fn startup(settings: &Settings, shared: &Shared) -> anyhow::Result<()> {
    let cluster = &shared.cluster;
    for (i, host) in cluster.hosts().iter().enumerate() {
        match cluster.check(i).await {
            Ok(h) => info!(output = %shared.name, host = host.name(), version = %h.version,
                distribution = %h.distribution, cluster_status = %h.cluster_status,
                "Elasticsearch host reachable"),
            Err(e) => {
                cluster.mark_down(i);
                warn!(output = %shared.name, host = host.name(), error = %e,
                    "Elasticsearch host not reachable; will retry");
            }
        }
    }
    shared
        .es_metrics
        .healthy_hosts
        .set(cluster.healthy_count() as f64);
    if let Some(limit) = cluster.max_content_length().await {
        let limit = (limit as usize)
            .saturating_sub(CONTENT_LENGTH_MARGIN)
            .max(1024);
        let before = shared.max_body.fetch_min(limit, Ordering::Relaxed);
        if limit < before {
            info!(output = %shared.name, batch_max_bytes = limit,
                "batch_max_bytes lowered to the server's http.max_content_length");
        }
    }
    let Some(template) = &settings.template else {
        return Ok(());
    };
    let mut backoff = Backoff::new(settings.retry_initial_backoff, settings.retry_max_backoff);
    loop {
        match cluster.install_template(template).await {
            Ok(TemplateInstall::Installed) => {
                info!(output = %shared.name, template = %template.name,
                    file = %template.file.display(), "index template installed");
                return Ok(());
            }
            Ok(TemplateInstall::AlreadyThere) => {
                info!(output = %shared.name, template = %template.name,
                    "index template already installed");
                return Ok(());
            }
            Err(TemplateError::Refused(e)) => anyhow::bail!(
                "output `{}`: installing index template `{}` from {}: {e}",
                shared.name,
                template.name,
                template.file.display()
            ),
            Err(TemplateError::Transient(e)) => {
                if let Some(suppressed) = shared.logs.allow("template") {
                    warn!(output = %shared.name, template = %template.name, error = %e, suppressed,
                        "cannot install the index template yet; retrying");
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// Builds bulk requests from incoming batches.
struct Driver {
    encoder: Encoder,
    shared: Arc<Shared>,
    /// The open request body and its documents (byte range, batch, event).
    open: BytesMut,
    docs: Vec<(Range<usize>, u64, u32)>,
    /// When the first document entered the open request.
    opened: Option<Instant>,
    slots: Arc<Semaphore>,
    tasks: JoinSet<()>,
    max_events: usize,
    timeout: Duration,
    warned_id_fallback: bool,
}

impl Driver {
    async fn add(&mut self, batch: OutputBatch) -> anyhow::Result<()> {
        // The tracker holds the batch (its acknowledgement) from now on; a
        // view of it is kept while encoding.
        let view = batch.clone();
        let seq = self.shared.track(batch);
        for (i, event) in view.events().enumerate() {
            let start = self.open.len();
            let info = self.encoder.encode(event, &mut self.open);
            let end = self.open.len();
            if let Some(fallback) = info.id_fallback {
                self.note_id_fallback(fallback);
            }
            if let Some(field) = info.missing_index_field {
                if let Some(suppressed) = self.shared.logs.allow("index_missing_field") {
                    warn!(output = %self.shared.name, field = %field, suppressed,
                        index = %self.encoder.index_name(event),
                        "the index name references a field the event lacks; it renders as empty text");
                }
            }
            let max_body = self.shared.max_body.load(Ordering::Relaxed);
            if end > max_body && !self.docs.is_empty() {
                // This document would push the request over the limit: send
                // the others, and start the next request with it.
                let tail = self.open.split_off(start);
                self.flush().await?;
                self.open = tail;
                self.docs.push((0..end - start, seq, i as u32));
            } else {
                self.docs.push((start..end, seq, i as u32));
            }
            self.opened.get_or_insert_with(Instant::now);
            if self.docs.len() >= self.max_events || self.open.len() >= max_body {
                self.flush().await?;
            }
        }
        Ok(())
    }

    fn note_id_fallback(&mut self, fallback: IdFallback) {
        self.shared.es_metrics.id_fallbacks.increment(1);
        if !self.warned_id_fallback {
            self.warned_id_fallback = true;
            let why = match fallback {
                IdFallback::NoPosition => "events without a source position (e.g. from tcp or stdin) cannot get an `id: auto_source`",
                IdFallback::MissingField => "events without the `id` field",
            };
            warn!(output = %self.shared.name, "{why}: they are indexed with automatic ids (a replay may duplicate them); counted in weir_elasticsearch_id_fallbacks_total, logged once");
        }
    }

    /// Sends the open request (waiting for a free concurrency slot).
    async fn flush(&mut self) -> anyhow::Result<()> {
        self.opened = None;
        if self.docs.is_empty() {
            return Ok(());
        }
        let body = self.open.split().freeze();
        let docs: Vec<Doc> = self
            .docs
            .drain(..)
            .map(|(range, batch, event)| Doc {
                bytes: body.slice(range),
                batch,
                event,
                failures: 0,
            })
            .collect();
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| anyhow::anyhow!("concurrency limiter closed: {e}"))?;
        let shared = self.shared.clone();
        self.tasks.spawn(async move {
            ship::ship(
                shared,
                Job {
                    docs,
                    body: Some(body),
                },
            )
            .await;
            drop(permit);
        });
        Ok(())
    }

    /// Collects finished request tasks; a panicked one is an error.
    fn reap(&mut self) -> anyhow::Result<()> {
        while let Some(joined) = self.tasks.try_join_next() {
            joined.map_err(|e| {
                anyhow::anyhow!(
                    "output `{}`: a bulk request task failed: {e}",
                    self.shared.name
                )
            })?;
        }
        Ok(())
    }
}
