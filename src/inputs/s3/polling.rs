//! Polling mode: `ListObjectsV2` of `bucket`/`prefix` every `interval`, in
//! key order (UTF-8 byte order, which is time order for access logs and
//! most delivery layouts), starting after the checkpoint's last finished key.
//!
//! Up to `concurrency` objects are read at once, started in key order. A
//! listing stops at the first object younger than `settle_time`: it and
//! everything after it wait for a later listing, so a key that sorts before
//! it and arrives a moment later is not passed over. The checkpoint
//! ([`PollState`]) is stored after acknowledgements advance, at most every
//! [`STORE_EVERY`], and at shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::object::{read_object, ObjectCx, ReadEnd};
use super::progress::{AckOutcome, AckTracker, PollState, Start};
use super::{wanted, S3InputConfig};
use crate::inputs::InputContext;
use crate::state::checkpoint::CheckpointFile;

/// Least time between two checkpoint writes (each is an fsync).
const STORE_EVERY: Duration = Duration::from_millis(200);

type Shared = Arc<Mutex<PollState>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, PollState> {
    // A panic elsewhere cannot leave the state half-updated in a way that
    // matters more than stopping would.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

pub async fn run(
    config: &S3InputConfig,
    cx: &InputContext,
    objects: ObjectCx,
) -> anyhow::Result<()> {
    let checkpoint = CheckpointFile::new(&cx.data_dir, &cx.pipeline, &cx.name);
    let loaded: PollState = checkpoint
        .load()
        .with_context(|| format!("input `{}`", cx.name))?
        .unwrap_or_default();
    info!(input = %cx.name, bucket = %config.bucket, prefix = %config.prefix,
        after = loaded.start_after().unwrap_or(""), in_flight = loaded.objects.len(),
        "s3 input listing the bucket");
    let mut cursor: Option<String> = loaded.start_after().map(str::to_owned);
    let state: Shared = Arc::new(Mutex::new(loaded));
    let dirty = Arc::new(Notify::new());
    let writer_stop = tokio_util::sync::CancellationToken::new();
    let writer = tokio::spawn(store_loop(
        checkpoint.clone(),
        state.clone(),
        dirty.clone(),
        writer_stop.clone(),
        objects.metrics.clone(),
    ));

    let since = config.since_time(Utc::now()).map_err(anyhow::Error::msg)?;
    let permits = Arc::new(Semaphore::new(config.concurrency));
    let mut tasks = JoinSet::new();
    let shutdown = cx.shutdown.clone();
    'run: while !shutdown.is_cancelled() {
        let mut token: Option<String> = None;
        'pass: loop {
            let request = objects
                .client
                .list_objects_v2()
                .bucket(&config.bucket)
                .prefix(&config.prefix)
                .set_start_after(cursor.clone())
                .set_continuation_token(token.take());
            let page = tokio::select! {
                _ = shutdown.cancelled() => break 'run,
                r = request.send() => r,
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    objects.metrics.error("list");
                    warn!(input = %cx.name, bucket = %config.bucket,
                        error = crate::aws::describe(&e), "ListObjectsV2 failed; retrying at the next interval");
                    break 'pass;
                }
            };
            let settled_before =
                Utc::now() - chrono::Duration::from_std(config.settle_time).unwrap_or_default();
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let modified = object
                    .last_modified()
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
                if modified.is_some_and(|m| m > settled_before) {
                    // Not settled: wait for the next listing, from here.
                    break 'pass;
                }
                cursor = Some(key.to_owned());
                let old = matches!((since, modified), (Some(s), Some(m)) if m < s);
                if old || !wanted(config.format, &config.prefix, key) {
                    lock(&state).skip(key);
                    objects.metrics.object("skipped");
                    dirty.notify_one();
                    continue;
                }
                let start = lock(&state).start(key);
                let skip = match start {
                    Start::Done => {
                        dirty.notify_one();
                        continue;
                    }
                    Start::Read { skip } => skip,
                };
                let permit = tokio::select! {
                    _ = shutdown.cancelled() => break 'run,
                    p = permits.clone().acquire_owned() => p.context("object permits closed")?,
                };
                let task = ObjectTask {
                    cx: objects.clone(),
                    bucket: config.bucket.clone(),
                    key: key.to_owned(),
                    skip,
                    state: state.clone(),
                    dirty: dirty.clone(),
                    ack_timeout: config.ack_timeout,
                };
                tasks.spawn(async move {
                    let _permit = permit;
                    task.run().await;
                });
                while tasks.try_join_next().is_some() {}
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break 'pass,
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break 'run,
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
    // Objects in flight stop reading at shutdown and wait (bounded) for what
    // they sent to be acknowledged.
    while tasks.join_next().await.is_some() {}
    writer_stop.cancel();
    let _ = writer.await;
    let final_state = lock(&state).clone();
    checkpoint
        .store(&final_state)
        .with_context(|| format!("input `{}`: storing the final checkpoint", cx.name))?;
    info!(input = %cx.name, after = final_state.start_after().unwrap_or(""),
        in_flight = final_state.objects.len(), "s3 input stopped; checkpoint stored");
    Ok(())
}

/// Writes the checkpoint whenever acknowledgements moved it, coalescing
/// bursts.
async fn store_loop(
    checkpoint: CheckpointFile,
    state: Shared,
    dirty: Arc<Notify>,
    stop: tokio_util::sync::CancellationToken,
    metrics: super::Metrics,
) {
    let mut last: Option<PollState> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = dirty.notified() => {}
        }
        let snapshot = lock(&state).clone();
        if last.as_ref() == Some(&snapshot) {
            continue;
        }
        let cp = checkpoint.clone();
        let to_store = snapshot.clone();
        let stored = tokio::task::spawn_blocking(move || cp.store(&to_store)).await;
        match stored {
            Ok(Ok(())) => last = Some(snapshot),
            Ok(Err(e)) => {
                metrics.error("checkpoint");
                warn!(
                    error = format!("{e:#}"),
                    "could not store the s3 checkpoint; retrying"
                );
            }
            Err(e) => warn!(error = %e, "checkpoint writer failed"),
        }
        tokio::time::sleep(STORE_EVERY).await;
    }
}

/// Reads one object until every line is acknowledged, retrying (after
/// backoff, from the last acknowledged line) on errors and failed batches.
struct ObjectTask {
    cx: ObjectCx,
    bucket: String,
    key: String,
    skip: u64,
    state: Shared,
    dirty: Arc<Notify>,
    ack_timeout: Duration,
}

impl ObjectTask {
    async fn run(self) {
        let metrics = self.cx.metrics.clone();
        metrics.in_flight.increment(1.0);
        let mut skip = self.skip;
        let mut attempt = 0u32;
        loop {
            let state = self.state.clone();
            let dirty = self.dirty.clone();
            let key = self.key.clone();
            let (tracker, acks) = AckTracker::spawn(skip, move |line| {
                lock(&state).acked(&key, line);
                dirty.notify_one();
            });
            let read = read_object(&self.cx, &self.bucket, &self.key, skip, tracker).await;
            let outcome = wait_acks(acks, &self.cx.shutdown, self.ack_timeout, skip).await;
            match (read, outcome) {
                (Ok(ReadEnd::Eof), Some(AckOutcome { failed: false, .. })) => {
                    lock(&self.state).finish(&self.key);
                    self.dirty.notify_one();
                    metrics.object("done");
                    break;
                }
                (Ok(ReadEnd::Missing), _) => {
                    warn!(bucket = %self.bucket, key = %self.key, "object disappeared before it was read; skipping it");
                    lock(&self.state).finish(&self.key);
                    self.dirty.notify_one();
                    metrics.object("missing");
                    break;
                }
                (Ok(ReadEnd::Shutdown | ReadEnd::Closed), _) | (_, None) => break,
                (read, Some(outcome)) => {
                    metrics.object("failed");
                    let reason = match read {
                        Err(e) => format!("{e:#}"),
                        Ok(_) => "an output did not deliver a batch".to_owned(),
                    };
                    let delay = crate::aws::backoff(
                        attempt,
                        Duration::from_millis(500),
                        Duration::from_secs(60),
                    );
                    warn!(bucket = %self.bucket, key = %self.key, error = reason,
                        resume_after_line = outcome.acked_through, retry_in = ?delay,
                        "reading the object failed; retrying");
                    attempt = attempt.saturating_add(1);
                    skip = outcome.acked_through;
                    tokio::select! {
                        _ = self.cx.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        metrics.in_flight.decrement(1.0);
    }
}

/// The attempt's acknowledgement outcome; at shutdown waits at most
/// `timeout` (`None`: not every batch resolved in time).
pub(super) async fn wait_acks(
    mut acks: tokio::task::JoinHandle<AckOutcome>,
    shutdown: &tokio_util::sync::CancellationToken,
    timeout: Duration,
    skip: u64,
) -> Option<AckOutcome> {
    let joined = tokio::select! {
        r = &mut acks => r,
        _ = shutdown.cancelled() => match tokio::time::timeout(timeout, &mut acks).await {
            Ok(r) => r,
            Err(_) => {
                acks.abort();
                return None;
            }
        },
    };
    Some(joined.unwrap_or(AckOutcome {
        acked_through: skip,
        failed: true,
    }))
}
