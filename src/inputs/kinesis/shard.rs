//! Reading one shard: `GetShardIterator`, then `GetRecords` until the shard
//! ends, the lease is lost or weir shuts down.
//!
//! - Polling adapts: the next call goes out at once while records come back
//!   and `MillisBehindLatest` says more are waiting, otherwise after
//!   `poll_interval` (a shard allows 5 calls/s shared by every consumer).
//! - `ProvisionedThroughputExceeded` backs off with jitter; an expired
//!   iterator (5 min on AWS, e.g. behind a slow output) is replaced by one
//!   `AFTER_SEQUENCE_NUMBER` the last record read.
//! - The end of a closed shard: AWS returns a null `NextShardIterator` (and
//!   `ChildShards`); moto never does, so a shard is also finished when
//!   `ListShards` gave it an `EndingSequenceNumber`, a call returned no
//!   records, and the position is at or after that number (or nothing was
//!   ever read and the reader is at the tip).
//! - The checkpoint moves as batches are acknowledged in order
//!   ([`Progress`]); at the end of the shard, once everything is
//!   acknowledged, it becomes `SHARD_END`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_kinesis::types::ShardIteratorType;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::decode::{Decoder, Record};
use super::progress::Progress;
use super::sequence;
use super::store::{LeaseLost, SHARD_END};
use super::{ShardInfo, Shared};
use crate::aws::{backoff, describe};
use crate::topology::ack::Ack;

/// Where a shard without a checkpoint (or after one) starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    After(String),
    TrimHorizon,
    Latest,
    AtTimestamp(DateTime<Utc>),
}

/// How a reader ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// Read to its end and checkpointed `SHARD_END`.
    Finished,
    /// Shutdown, a lost lease, or an unrecoverable error (logged).
    Stopped,
}

/// Most time waited for acknowledgements of in-flight batches when stopping.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub struct ShardReader {
    pub shared: Arc<Shared>,
    pub shard: ShardInfo,
    pub start: Start,
    pub stop: CancellationToken,
}

enum Fetch {
    Records(aws_sdk_kinesis::operation::get_records::GetRecordsOutput),
    /// Iterator expired: get a new one.
    Expired,
}

impl ShardReader {
    pub async fn run(self) -> End {
        let shard = self.shard.id.clone();
        match self.read().await {
            Ok(end) => end,
            Err(e) => {
                if e.downcast_ref::<LeaseLost>().is_some() {
                    tracing::info!(shard = %shard, "lease lost; stopped reading the shard");
                } else {
                    tracing::error!(shard = %shard, error = format!("{e:#}"), "shard reader stopped");
                }
                End::Stopped
            }
        }
    }

    async fn read(&self) -> anyhow::Result<End> {
        let s = &self.shared;
        let id = &self.shard.id;
        let decoder = Decoder::new(s.format, &s.stream_label, id);
        let labels = crate::telemetry::component_labels(&s.pipeline, &s.component);
        let records_total = metrics::counter!("weir_kinesis_records_total", &labels);
        let throttled = metrics::counter!("weir_kinesis_throttled_total", &labels);
        let mut shard_labels = labels.to_vec();
        shard_labels.push(("shard", id.clone()));
        let behind = metrics::gauge!("weir_kinesis_millis_behind_latest", &shard_labels);

        let mut progress = Progress::default();
        // The last record read (its events sent), for new iterators.
        let mut last_read: Option<String> = match &self.start {
            Start::After(seq) => Some(seq.clone()),
            _ => None,
        };
        let mut saved: Option<String> = last_read.clone();
        let mut iterator = match self.iterator(last_read.as_deref()).await? {
            Some(it) => it,
            None => return Ok(End::Stopped),
        };
        let mut attempt = 0u32;
        loop {
            if let Some(cp) = progress.poll() {
                s.store.save(id, &cp).await?;
                saved = Some(cp);
            }
            if self.stop.is_cancelled() {
                break;
            }
            let fetch = tokio::select! {
                _ = self.stop.cancelled() => break,
                f = self.fetch(&iterator) => f,
            };
            let out = match fetch {
                Ok(Fetch::Records(out)) => {
                    attempt = 0;
                    out
                }
                Ok(Fetch::Expired) => {
                    match self.iterator(last_read.as_deref()).await? {
                        Some(it) => iterator = it,
                        None => break,
                    }
                    continue;
                }
                Err(Throttled(true)) => {
                    throttled.increment(1);
                    attempt += 1;
                    self.pause(backoff(
                        attempt,
                        Duration::from_millis(200),
                        Duration::from_secs(10),
                    ))
                    .await;
                    continue;
                }
                Err(Throttled(false)) => {
                    attempt += 1;
                    self.pause(backoff(
                        attempt,
                        Duration::from_millis(500),
                        Duration::from_secs(30),
                    ))
                    .await;
                    // The iterator itself may be what is wrong: a fresh one.
                    if attempt % 3 == 0 {
                        match self.iterator(last_read.as_deref()).await? {
                            Some(it) => iterator = it,
                            None => break,
                        }
                    }
                    continue;
                }
            };
            let n = out.records().len();
            records_total.increment(n as u64);
            let millis_behind = out.millis_behind_latest().unwrap_or(0);
            behind.set(millis_behind as f64);
            if n > 0 {
                self.send(&decoder, &out, &mut progress).await?;
                last_read = out.records().last().map(|r| r.sequence_number().to_owned());
            }
            if let Some(next) = out.next_shard_iterator() {
                iterator = next.to_owned();
            }
            let ending = match n {
                0 => s.ending(id).or_else(|| self.shard.ending.clone()),
                _ => None,
            };
            let end = shard_ended(
                out.next_shard_iterator().is_none(),
                n,
                ending.as_deref(),
                last_read.as_deref(),
                millis_behind,
            );
            if end {
                return self.finish(progress, saved).await;
            }
            if n == 0 || millis_behind == 0 {
                self.pause(s.poll_interval).await;
            }
        }
        // Stopping: let in-flight batches finish, keep what they acknowledged.
        let lost =
            self.stop.is_cancelled() && s.store.held(id).is_some_and(|h| h.lost.is_cancelled());
        if lost {
            return Ok(End::Stopped);
        }
        match tokio::time::timeout(DRAIN_TIMEOUT, progress.drain()).await {
            Ok(Some(cp)) if saved.as_deref() != Some(cp.as_str()) => s.store.save(id, &cp).await?,
            Ok(_) => {}
            Err(_) => tracing::warn!(shard = %id, "batches still unacknowledged after 30 s; \
                 they will be read again on the next start"),
        }
        Ok(End::Stopped)
    }

    /// The shard is read to its end: once every batch is acknowledged, its
    /// checkpoint becomes `SHARD_END`.
    async fn finish(&self, mut progress: Progress, saved: Option<String>) -> anyhow::Result<End> {
        let s = &self.shared;
        let id = &self.shard.id;
        let cp = tokio::select! {
            cp = progress.drain() => cp,
            _ = self.stop.cancelled() => {
                // Shutting down at the very end: still wait (bounded) so the
                // shard is not read again.
                tokio::time::timeout(DRAIN_TIMEOUT, progress.drain()).await.ok().flatten()
            }
        };
        if progress.failed() || progress.in_flight() > 0 {
            if let Some(cp) = cp.filter(|cp| saved.as_deref() != Some(cp.as_str())) {
                s.store.save(id, &cp).await?;
            }
            tracing::error!(shard = %id, "an output failed events of this closed shard; \
                 it is not marked finished and will be read again on the next start");
            return Ok(End::Stopped);
        }
        s.store.save(id, SHARD_END).await?;
        tracing::info!(shard = %id, "shard read to its end");
        Ok(End::Finished)
    }

    /// Sleeps, or returns early on stop.
    async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.stop.cancelled() => {}
        }
    }

    /// Decodes a response and sends its events in batches; every batch
    /// names the last record it completes.
    async fn send(
        &self,
        decoder: &Decoder,
        out: &aws_sdk_kinesis::operation::get_records::GetRecordsOutput,
        progress: &mut Progress,
    ) -> anyhow::Result<()> {
        let s = &self.shared;
        let size = s.out.batch_size();
        let now = Utc::now();
        let mut events = Vec::with_capacity(size.min(out.records().len() * 2));
        let mut complete: Option<String> = None;
        for r in out.records() {
            let record = Record {
                sequence: r.sequence_number(),
                partition_key: r.partition_key(),
                arrival: r.approximate_arrival_timestamp().and_then(|t| {
                    // Kinesis gives milliseconds; the float on the JSON wire
                    // would otherwise add nanosecond noise.
                    let ms = t.secs() * 1000 + i64::from(t.subsec_nanos() + 500_000) / 1_000_000;
                    DateTime::from_timestamp_millis(ms)
                }),
                data: Bytes::copy_from_slice(r.data().as_ref()),
            };
            decoder.decode(&record, now, &mut events);
            complete = Some(r.sequence_number().to_owned());
            while events.len() >= size {
                let rest = events.split_off(size);
                let batch = std::mem::replace(&mut events, rest);
                let marker = if events.is_empty() {
                    complete.take()
                } else {
                    None
                };
                self.send_batch(batch, marker, progress).await?;
            }
        }
        if !events.is_empty() {
            self.send_batch(events, complete, progress).await?;
        } else if let Some(seq) = complete {
            progress.empty_record(seq);
        }
        Ok(())
    }

    async fn send_batch(
        &self,
        batch: Vec<crate::event::Event>,
        completes: Option<String>,
        progress: &mut Progress,
    ) -> anyhow::Result<()> {
        let (ack, receiver) = Ack::new();
        self.shared
            .out
            .send(batch, ack)
            .await
            .context("the pipeline is shutting down")?;
        progress.sent(receiver, completes);
        Ok(())
    }

    /// A new iterator: after `after` if set, else at the start position.
    /// `None` when stopped while retrying.
    async fn iterator(&self, after: Option<&str>) -> anyhow::Result<Option<String>> {
        let s = &self.shared;
        let mut attempt = 0u32;
        loop {
            let mut req = s.client.get_shard_iterator().shard_id(&self.shard.id);
            req = s.stream.apply_iterator(req);
            req = match (after, &self.start) {
                (Some(seq), _) => req
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .starting_sequence_number(seq),
                (None, Start::After(seq)) => req
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .starting_sequence_number(seq),
                (None, Start::TrimHorizon) => {
                    req.shard_iterator_type(ShardIteratorType::TrimHorizon)
                }
                (None, Start::Latest) => req.shard_iterator_type(ShardIteratorType::Latest),
                (None, Start::AtTimestamp(t)) => req
                    .shard_iterator_type(ShardIteratorType::AtTimestamp)
                    .timestamp(aws_smithy_types::DateTime::from_millis(
                        t.timestamp_millis(),
                    )),
            };
            match req.send().await {
                Ok(out) => match out.shard_iterator() {
                    Some(it) => return Ok(Some(it.to_owned())),
                    None => anyhow::bail!(
                        "GetShardIterator for {} returned no iterator",
                        self.shard.id
                    ),
                },
                Err(e) => {
                    attempt += 1;
                    let throttled = e
                        .as_service_error()
                        .is_some_and(|e| e.is_provisioned_throughput_exceeded_exception());
                    if throttled {
                        let labels = crate::telemetry::component_labels(&s.pipeline, &s.component);
                        metrics::counter!("weir_kinesis_throttled_total", &labels).increment(1);
                    } else {
                        tracing::warn!(shard = %self.shard.id, attempt, error = %describe(&e),
                            "GetShardIterator failed; retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff(attempt, Duration::from_millis(200), Duration::from_secs(30))) => {}
                        _ = self.stop.cancelled() => return Ok(None),
                    }
                }
            }
        }
    }

    async fn fetch(&self, iterator: &str) -> Result<Fetch, Throttled> {
        let s = &self.shared;
        match s
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(s.max_records)
            .send()
            .await
        {
            Ok(out) => Ok(Fetch::Records(out)),
            Err(e) => {
                let service = e.as_service_error();
                if service.is_some_and(|e| e.is_expired_iterator_exception()) {
                    tracing::info!(shard = %self.shard.id, "shard iterator expired; getting a new one");
                    return Ok(Fetch::Expired);
                }
                if service.is_some_and(|e| e.is_provisioned_throughput_exceeded_exception()) {
                    return Err(Throttled(true));
                }
                tracing::warn!(shard = %self.shard.id, error = %describe(&e), "GetRecords failed; retrying");
                Err(Throttled(false))
            }
        }
    }
}

/// Whether a `GetRecords` response ends the shard: a null next iterator
/// (AWS), or — where that never comes (moto) — an empty response on a closed
/// shard (`ending`, from `ListShards`) with the position at or after its
/// last sequence number, or with nothing ever read and nothing behind.
fn shard_ended(
    no_next_iterator: bool,
    records: usize,
    ending: Option<&str>,
    position: Option<&str>,
    millis_behind: i64,
) -> bool {
    if no_next_iterator {
        return true;
    }
    records == 0
        && match (ending, position) {
            (Some(ending), Some(pos)) => sequence::at_or_after(pos, ending),
            (Some(_), None) => millis_behind == 0,
            (None, _) => false,
        }
}

/// A failed `GetRecords`: `true` when throttled, `false` for other errors.
struct Throttled(bool);

#[cfg(test)]
mod tests {
    use super::shard_ended;

    #[test]
    fn shard_end_on_aws_and_on_moto() {
        // AWS: the null iterator alone decides.
        assert!(shard_ended(true, 5, None, Some("1"), 100));
        // An open shard never ends on an empty read.
        assert!(!shard_ended(false, 0, None, Some("9"), 0));
        // moto: closed, empty, position at or past the end (numerically).
        assert!(shard_ended(false, 0, Some("10"), Some("10"), 0));
        assert!(!shard_ended(false, 0, Some("10"), Some("9"), 0));
        assert!(!shard_ended(false, 3, Some("10"), Some("10"), 0));
        // A closed shard never read from: only once nothing is behind.
        assert!(shard_ended(false, 0, Some("0"), None, 0));
        assert!(!shard_ended(false, 0, Some("7"), None, 500));
    }
}
