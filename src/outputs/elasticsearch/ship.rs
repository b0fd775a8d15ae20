//! Shipping one bulk request to completion: send, read every item, retry
//! only what failed transiently (with backoff, on another host when one is
//! down), split what was too large, dead-letter what was refused, and tell
//! the tracker which documents are finished.
//!
//! A request keeps its concurrency slot while it retries, so an overloaded
//! cluster slows intake down (backpressure) instead of piling up requests.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tracing::{error, warn};

use super::bulk::{self, BulkOutcome, Failure, ItemOutcome};
use super::client::Cluster;
use super::dead_letter::{DeadLetterFile, Letter};
use super::encode::Encoder;
use super::retry::{may_retry, Backoff};
use super::telemetry::{EsMetrics, LogLimiter};
use super::tracker::Tracker;
use crate::outputs::OutputMetrics;
use crate::topology::batch::OutputBatch;

/// Bodies smaller than this are compressed on the async thread; larger ones
/// on the blocking pool so a 10 MiB gzip never stalls other tasks.
const INLINE_COMPRESS_BYTES: usize = 64 * 1024;
/// The smallest body size a 413 may shrink future requests to.
const MIN_ADAPTIVE_BODY: usize = 1024 * 1024;

/// One document on its way: the action and source lines, and where its
/// event lives.
#[derive(Debug, Clone)]
pub struct Doc {
    pub bytes: Bytes,
    /// The tracker sequence number of its batch.
    pub batch: u64,
    /// The event's position in that batch.
    pub event: u32,
    /// Failed attempts so far.
    pub failures: u32,
}

/// Documents for one request; `body` is their concatenation when it is
/// already at hand (the first attempt sends the encoder's buffer as is).
pub struct Job {
    pub docs: Vec<Doc>,
    pub body: Option<Bytes>,
}

/// What the driver and the request tasks share.
pub struct Shared {
    pub pipeline: Arc<str>,
    pub name: Arc<str>,
    pub cluster: Arc<Cluster>,
    pub tracker: Mutex<Tracker<OutputBatch>>,
    pub dlq: Arc<DeadLetterFile>,
    /// Renders index names for dead letters (the driver has its own).
    pub names: Encoder,
    pub es_metrics: EsMetrics,
    pub metrics: OutputMetrics,
    pub logs: LogLimiter,
    pub compression: Option<u32>,
    pub query: Vec<(&'static str, String)>,
    pub max_retries: Option<u32>,
    pub retry_initial_backoff: Duration,
    pub retry_max_backoff: Duration,
    /// The largest body to send: `batch_max_bytes`, lowered to the server's
    /// `http.max_content_length` and after 413 answers.
    pub max_body: AtomicUsize,
}

impl Shared {
    fn lock_tracker(&self) -> std::sync::MutexGuard<'_, Tracker<OutputBatch>> {
        match self.tracker.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Records finished documents and lets go of every batch that is now
    /// complete, oldest first (dropping a batch acknowledges it).
    pub fn finish<'a>(&self, docs: impl IntoIterator<Item = &'a Doc>) {
        let released = {
            let mut tracker = self.lock_tracker();
            for d in docs {
                tracker.done(d.batch, 1);
            }
            tracker.release()
        };
        for r in released {
            if r.failed {
                r.item.fail();
            }
            self.metrics
                .batch_seconds
                .record(r.received.elapsed().as_secs_f64());
        }
    }

    /// Registers a batch; returns its sequence number. An empty batch is
    /// released at once (in order).
    pub fn track(&self, batch: OutputBatch) -> u64 {
        let n = batch.len();
        let seq = self.lock_tracker().push(batch, n);
        if n == 0 {
            self.finish(std::iter::empty());
        }
        seq
    }

    /// Whether every batch received has been released.
    pub fn all_released(&self) -> bool {
        self.lock_tracker().is_empty()
    }

    /// Writes refused documents to the dead-letter queue, then marks them
    /// finished. If the queue cannot be written their batches are failed
    /// (not checkpointed, so they are read again after a restart).
    async fn dead_letter(&self, letters: Vec<(Doc, Failure)>) {
        if letters.is_empty() {
            return;
        }
        let records: Vec<Letter> = {
            let tracker = self.lock_tracker();
            letters
                .iter()
                .filter_map(|(doc, failure)| {
                    let event = tracker.get(doc.batch)?.events().nth(doc.event as usize)?;
                    Some(Letter {
                        index: self.names.index_name(event),
                        event: event.clone(),
                        failure: failure.clone(),
                        attempts: doc.failures,
                    })
                })
                .collect()
        };
        let dlq = self.dlq.clone();
        let (pipeline, name) = (self.pipeline.clone(), self.name.clone());
        let written = tokio::task::spawn_blocking(move || {
            dlq.write(&pipeline, &name, &records).map(|()| records)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r);
        match written {
            Ok(records) => {
                self.es_metrics
                    .dead_lettered
                    .increment(letters.len() as u64);
                self.metrics.errors.increment(letters.len() as u64);
                for (failure, n) in group_by_kind(&letters) {
                    let kind = format!("dead_letter {} {}", failure.status, failure.kind);
                    if let Some(suppressed) = self.logs.allow(&kind) {
                        let sample = records
                            .iter()
                            .find(|r| r.failure.kind == failure.kind)
                            .map(|r| crate::event::json::to_string(&r.event))
                            .unwrap_or_default();
                        warn!(output = %self.name, status = failure.status, error_type = %failure.kind,
                            reason = %failure.reason, documents = n, suppressed,
                            dead_letter = %self.dlq.path().display(),
                            sample = %truncate(&sample, 300),
                            "Elasticsearch refused documents; written to the dead-letter queue");
                    }
                }
            }
            Err(e) => {
                {
                    let mut tracker = self.lock_tracker();
                    for (doc, _) in &letters {
                        tracker.fail(doc.batch);
                    }
                }
                self.metrics.errors.increment(letters.len() as u64);
                if let Some(suppressed) = self.logs.allow("dead_letter_write") {
                    error!(output = %self.name, path = %self.dlq.path().display(), error = %e,
                        documents = letters.len(), suppressed,
                        "cannot write the dead-letter queue; the batches are reported as failed");
                }
            }
        }
        self.finish(letters.iter().map(|(d, _)| d));
    }

    /// Sends one body; returns the classified outcome and whether a retry
    /// may go to another host at once (this one just failed to answer).
    async fn send(&self, body: Bytes, docs: usize) -> (BulkOutcome, bool) {
        let host = self.cluster.pick();
        let raw_len = body.len();
        let (payload, gzipped) = match self.compression {
            None => (body, false),
            Some(level) => match compress(body, level).await {
                Ok(gz) => (gz, true),
                Err(e) => {
                    return (
                        BulkOutcome::RetryAll(Failure::new(0, "compression_error", e.to_string())),
                        false,
                    )
                }
            },
        };
        let query: Vec<(&str, &str)> = self.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.es_metrics.in_flight.increment(1.0);
        let started = Instant::now();
        let reply = self.cluster.bulk(host, payload, gzipped, &query).await;
        self.es_metrics
            .bulk_seconds
            .record(started.elapsed().as_secs_f64());
        self.es_metrics.in_flight.decrement(1.0);
        match reply {
            Ok(reply) => {
                let outcome = bulk::classify_response(reply.status, &reply.body, docs);
                if outcome == BulkOutcome::TooLarge {
                    self.shrink_after_413(raw_len, docs);
                }
                (outcome, false)
            }
            Err(e) => {
                let other_healthy = self.cluster.mark_down(host);
                self.es_metrics
                    .healthy_hosts
                    .set(self.cluster.healthy_count() as f64);
                let host_name = self
                    .cluster
                    .hosts()
                    .get(host)
                    .map_or("?", |h| h.name())
                    .to_owned();
                (
                    BulkOutcome::RetryAll(Failure::new(
                        0,
                        "transport_error",
                        format!("{host_name}: {e}"),
                    )),
                    other_healthy && self.cluster.hosts().len() > 1,
                )
            }
        }
    }

    /// After a 413 for a body of `len` bytes, keep later requests below it.
    fn shrink_after_413(&self, len: usize, docs: usize) {
        if docs < 2 {
            return;
        }
        let target = (len / 2).max(MIN_ADAPTIVE_BODY);
        let before = self.max_body.fetch_min(target, Ordering::Relaxed);
        if target < before {
            warn!(output = %self.name, bytes = len, new_batch_max_bytes = target,
                "Elasticsearch refused a bulk body as too large (413); sending smaller requests from now on");
        }
    }
}

/// Batches still held when the output goes away (it failed, or was
/// aborted) were not delivered: report them as failed rather than let their
/// drop read as an acknowledgement.
impl Drop for Shared {
    fn drop(&mut self) {
        let held = self.lock_tracker().drain_all();
        if !held.is_empty() {
            error!(output = %self.name, batches = held.len(),
                "output stopped with undelivered batches; reporting them as failed");
        }
        for batch in held {
            batch.fail();
        }
    }
}

/// Counts letters per (status, kind), keeping first-seen order.
fn group_by_kind(letters: &[(Doc, Failure)]) -> Vec<(Failure, usize)> {
    let mut groups: Vec<(Failure, usize)> = Vec::new();
    for (_, f) in letters {
        match groups
            .iter_mut()
            .find(|(g, _)| g.status == f.status && g.kind == f.kind)
        {
            Some((_, n)) => *n += 1,
            None => groups.push((f.clone(), 1)),
        }
    }
    groups
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// The source line of a document (after its action line), for log samples.
fn source_preview(doc: &Doc) -> String {
    let bytes = &doc.bytes;
    let start = memchr::memchr(b'\n', bytes).map_or(0, |i| i + 1);
    truncate(&String::from_utf8_lossy(&bytes[start..]), 300)
        .trim_end()
        .to_owned()
}

pub async fn compress(body: Bytes, level: u32) -> std::io::Result<Bytes> {
    fn gzip(body: &[u8], level: u32) -> std::io::Result<Bytes> {
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4 + 64),
            flate2::Compression::new(level),
        );
        enc.write_all(body)?;
        enc.finish().map(Bytes::from)
    }
    if body.len() < INLINE_COMPRESS_BYTES {
        return gzip(&body, level);
    }
    tokio::task::spawn_blocking(move || gzip(&body, level))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

fn concat(docs: &[Doc]) -> Bytes {
    let mut body = BytesMut::with_capacity(docs.iter().map(|d| d.bytes.len()).sum());
    for d in docs {
        body.extend_from_slice(&d.bytes);
    }
    body.freeze()
}

/// Delivers `job` completely: every document ends up indexed, a conflict,
/// or dead-lettered (or, with the queue unwritable, failed).
pub async fn ship(shared: Arc<Shared>, job: Job) {
    let mut backoff = Backoff::new(shared.retry_initial_backoff, shared.retry_max_backoff);
    // Groups still to send; a 413 splits a group in two.
    let mut groups = vec![(job.docs, job.body)];
    while let Some((mut docs, mut body)) = groups.pop() {
        while !docs.is_empty() {
            let payload = body.take().unwrap_or_else(|| concat(&docs));
            let (outcome, failover) = shared.send(payload, docs.len()).await;
            match outcome {
                BulkOutcome::Items(items) => {
                    let mut retry = Vec::new();
                    let mut letters = Vec::new();
                    let mut delivered = Vec::with_capacity(docs.len());
                    let mut first_retry: Option<(Failure, String)> = None;
                    for (mut doc, item) in docs.into_iter().zip(items) {
                        match item {
                            ItemOutcome::Indexed | ItemOutcome::Conflict => {
                                shared.es_metrics.delivered(&item);
                                delivered.push(doc);
                            }
                            ItemOutcome::Retry(f) => {
                                doc.failures += 1;
                                if may_retry(doc.failures, shared.max_retries) {
                                    if first_retry.is_none() {
                                        first_retry = Some((f, source_preview(&doc)));
                                    }
                                    retry.push(doc);
                                } else {
                                    letters.push((doc, retries_exhausted(f)));
                                }
                            }
                            ItemOutcome::Reject(f) => {
                                doc.failures += 1;
                                letters.push((doc, f));
                            }
                        }
                    }
                    let sent: usize = delivered.iter().map(|d| d.bytes.len()).sum();
                    shared.metrics.sent_events.increment(delivered.len() as u64);
                    shared.metrics.sent_bytes.increment(sent as u64);
                    shared.finish(&delivered);
                    shared.dead_letter(letters).await;
                    if retry.is_empty() {
                        backoff.reset();
                        break;
                    }
                    shared.es_metrics.retried.increment(retry.len() as u64);
                    if let Some((f, sample)) = first_retry {
                        let kind = format!("item {} {}", f.status, f.kind);
                        if let Some(suppressed) = shared.logs.allow(&kind) {
                            warn!(output = %shared.name, status = f.status, error_type = %f.kind,
                                reason = %f.reason, documents = retry.len(), suppressed, sample = %sample,
                                "Elasticsearch rejected documents for now; retrying them");
                        }
                    }
                    docs = retry;
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                BulkOutcome::TooLarge => {
                    if docs.len() == 1 {
                        let f = Failure::new(
                            413,
                            "request_entity_too_large",
                            format!(
                                "the document alone ({} bytes) is larger than the server accepts (http.max_content_length)",
                                docs[0].bytes.len()
                            ),
                        );
                        let letters = docs.drain(..).map(|mut d| {
                            d.failures += 1;
                            (d, f.clone())
                        });
                        shared.dead_letter(letters.collect()).await;
                    } else {
                        let second = docs.split_off(docs.len() / 2);
                        // Pushed in reverse: the first half goes first.
                        groups.push((second, None));
                        groups.push((std::mem::take(&mut docs), None));
                    }
                    break;
                }
                BulkOutcome::RetryAll(f) => {
                    shared.metrics.errors.increment(1);
                    let kind = format!("request {} {}", f.status, f.kind);
                    if let Some(suppressed) = shared.logs.allow(&kind) {
                        warn!(output = %shared.name, status = f.status, error_type = %f.kind,
                            reason = %f.reason, documents = docs.len(), suppressed,
                            sample = %docs.first().map(source_preview).unwrap_or_default(),
                            "bulk request failed; retrying it");
                    }
                    let mut keep = Vec::with_capacity(docs.len());
                    let mut letters = Vec::new();
                    for mut d in docs {
                        d.failures += 1;
                        if may_retry(d.failures, shared.max_retries) {
                            keep.push(d);
                        } else {
                            letters.push((d, retries_exhausted(f.clone())));
                        }
                    }
                    shared.dead_letter(letters).await;
                    shared.es_metrics.retried.increment(keep.len() as u64);
                    docs = keep;
                    if !docs.is_empty() && !failover {
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
                BulkOutcome::RejectAll(f) => {
                    shared.metrics.errors.increment(1);
                    let letters = docs.drain(..).map(|mut d| {
                        d.failures += 1;
                        (d, f.clone())
                    });
                    shared.dead_letter(letters.collect()).await;
                }
            }
        }
    }
}

fn retries_exhausted(f: Failure) -> Failure {
    Failure {
        reason: format!("max_retries exhausted; last error: {}", f.reason),
        ..f
    }
}
