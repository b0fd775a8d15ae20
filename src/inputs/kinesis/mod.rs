//! `kinesis`: reads a Kinesis Data Streams stream, one reader per shard.
//!
//! A coordinator lists the stream's shards (every `shard_sync_interval`, and
//! whenever a shard ends), decides which shards this instance reads, and runs
//! one [`shard::ShardReader`] for each. Without `leases` that is every shard
//! whose parents are finished, with checkpoints in a file under `data_dir`;
//! with `leases`, the shards whose DynamoDB leases this instance holds
//! ([`balance`] decides which to take), with checkpoints in the lease items.
//!
//! Resharding follows the Kinesis rules: a shard is read only once each of
//! its parents is read to its end (`SHARD_END`) or no longer listed (expired),
//! so per-key order holds across splits and merges; children of a finished
//! parent start at `TRIM_HORIZON`.

pub mod balance;
pub mod decode;
pub mod kpl;
pub mod progress;
pub mod sequence;
pub mod shard;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::balance::Expiry;
use self::decode::Format;
use self::shard::{End, ShardReader, Start};
use self::store::{Held, Store, SHARD_END};
use super::{BatchSender, InputConfig, InputContext, InputTask};
use crate::aws::{describe, AwsSettings};
use crate::config::duration::deserialize_duration;
use crate::state::checkpoint::CheckpointFile;
use crate::state::leases::{owner_id, Lease, LeaseTable};

fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_records() -> i32 {
    10_000
}
fn default_shard_sync_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_lease_duration() -> Duration {
    Duration::from_secs(10)
}

/// Where shards without a checkpoint start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartPosition {
    /// The oldest record still retained: nothing already in the stream is
    /// missed on a first start.
    #[default]
    TrimHorizon,
    Latest,
    AtTimestamp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeasesConfig {
    /// The DynamoDB table; created (on-demand billing) if missing.
    pub dynamodb_table: String,
    /// A lease not renewed for this long is taken over by another instance.
    #[serde(
        default = "default_lease_duration",
        deserialize_with = "deserialize_duration"
    )]
    pub lease_duration: Duration,
    /// The most leases this instance holds (default: no limit).
    #[serde(default)]
    pub max_leases: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisConfig {
    #[serde(default)]
    pub stream_name: Option<String>,
    #[serde(default)]
    pub stream_arn: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub start_position: StartPosition,
    /// RFC 3339, for `start_position: at_timestamp`.
    #[serde(default)]
    pub start_timestamp: Option<String>,
    #[serde(
        default = "default_poll_interval",
        deserialize_with = "deserialize_duration"
    )]
    pub poll_interval: Duration,
    #[serde(default = "default_max_records")]
    pub max_records: i32,
    #[serde(default)]
    pub leases: Option<LeasesConfig>,
    #[serde(
        default = "default_shard_sync_interval",
        deserialize_with = "deserialize_duration"
    )]
    pub shard_sync_interval: Duration,
}

impl KinesisConfig {
    fn aws(&self) -> AwsSettings {
        AwsSettings::from_options(&self.region, &self.endpoint, false)
    }

    fn start_timestamp(&self) -> Result<Option<DateTime<Utc>>, String> {
        match (&self.start_position, &self.start_timestamp) {
            (StartPosition::AtTimestamp, None) => Err(
                "`start_position: at_timestamp` needs `start_timestamp` (RFC 3339, e.g. 2024-05-06T07:00:00Z)"
                    .into(),
            ),
            (StartPosition::AtTimestamp, Some(t)) => {
                match crate::parsers::rfc3339::parse_prefix(t.as_bytes(), 9) {
                    Ok((ts, n)) if n == t.len() => Ok(Some(ts)),
                    _ => Err(format!(
                        "`start_timestamp` `{t}` is not an RFC 3339 time such as 2024-05-06T07:00:00Z"
                    )),
                }
            }
            (_, Some(_)) => {
                Err("`start_timestamp` is only used with `start_position: at_timestamp`".into())
            }
            (_, None) => Ok(None),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match (&self.stream_name, &self.stream_arn) {
            (Some(_), Some(_)) => return Err("set `stream_name` or `stream_arn`, not both".into()),
            (None, None) => return Err("`stream_name` or `stream_arn` is required".into()),
            (Some(n), None) if n.is_empty() => return Err("`stream_name` is empty".into()),
            (None, Some(a)) if !a.starts_with("arn:") || !a.contains(":stream/") => {
                return Err(format!(
                    "`stream_arn` `{a}` is not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
                ))
            }
            _ => {}
        }
        self.aws().validate()?;
        self.start_timestamp()?;
        if !(1..=10_000).contains(&self.max_records) {
            return Err(format!(
                "`max_records` {} is out of range; GetRecords takes 1 to 10000",
                self.max_records
            ));
        }
        if self.poll_interval.is_zero() {
            return Err("`poll_interval` must be more than 0 (a shard allows 5 reads/s)".into());
        }
        if self.shard_sync_interval < Duration::from_secs(1) {
            return Err("`shard_sync_interval` must be at least 1s".into());
        }
        if let Some(l) = &self.leases {
            if l.dynamodb_table.is_empty() {
                return Err("`leases.dynamodb_table` is empty".into());
            }
            if l.lease_duration < Duration::from_secs(1) {
                return Err("`leases.lease_duration` must be at least 1s".into());
            }
        }
        Ok(())
    }

    /// The stream's name, for fields and origins.
    fn stream_label(&self) -> String {
        match (&self.stream_name, &self.stream_arn) {
            (Some(n), _) => n.clone(),
            (None, Some(arn)) => arn.rsplit('/').next().unwrap_or(arn).to_owned(),
            (None, None) => String::new(),
        }
    }
}

impl InputConfig for KinesisConfig {
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
        let config = self.clone();
        Ok(Box::pin(async move { run(config, cx).await }))
    }

    fn pipeline_format(&self) -> Option<&str> {
        match self.format {
            Format::Json => Some("json"),
            Format::CloudwatchSubscription | Format::Lines => None,
        }
    }
}

/// The stream, by name or ARN, as every Kinesis call takes it.
#[derive(Debug, Clone)]
pub enum StreamRef {
    Name(String),
    Arn(String),
}

impl StreamRef {
    fn apply_iterator(
        &self,
        req: aws_sdk_kinesis::operation::get_shard_iterator::builders::GetShardIteratorFluentBuilder,
    ) -> aws_sdk_kinesis::operation::get_shard_iterator::builders::GetShardIteratorFluentBuilder
    {
        match self {
            StreamRef::Name(n) => req.stream_name(n),
            StreamRef::Arn(a) => req.stream_arn(a),
        }
    }
}

/// What every shard reader of one input shares.
pub struct Shared {
    pub client: aws_sdk_kinesis::Client,
    pub stream: StreamRef,
    pub stream_label: String,
    pub format: Format,
    pub poll_interval: Duration,
    pub max_records: i32,
    pub out: BatchSender,
    pub store: Store,
    pub pipeline: Arc<str>,
    pub component: Arc<str>,
    /// Shard id → `EndingSequenceNumber` from the latest `ListShards`: how a
    /// reader started on an open shard learns that it was closed.
    pub endings: std::sync::Mutex<HashMap<String, String>>,
}

impl Shared {
    /// The ending sequence number of a closed shard, as last listed.
    pub fn ending(&self, shard: &str) -> Option<String> {
        self.endings.lock().ok()?.get(shard).cloned()
    }
}

/// A shard as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    pub parents: Vec<String>,
    /// Present once the shard is closed (split or merged).
    pub ending: Option<String>,
}

async fn list_shards(s: &Shared) -> anyhow::Result<Vec<ShardInfo>> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = s.client.list_shards();
        req = match (&token, &s.stream) {
            (Some(t), _) => req.next_token(t),
            (None, StreamRef::Name(n)) => req.stream_name(n),
            (None, StreamRef::Arn(a)) => req.stream_arn(a),
        };
        let out = req.send().await.map_err(|e| {
            anyhow::anyhow!(
                "listing the shards of stream `{}`: {}",
                s.stream_label,
                describe(&e)
            )
        })?;
        for sh in out.shards() {
            let parents = [sh.parent_shard_id(), sh.adjacent_parent_shard_id()]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect();
            shards.push(ShardInfo {
                id: sh.shard_id().to_owned(),
                parents,
                ending: sh
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .map(str::to_owned),
            });
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(shards)
}

/// The shards to read now with where each starts, given the checkpoints
/// (shard id → sequence number or `SHARD_END`).
fn readable(
    shards: &[ShardInfo],
    checkpoints: &HashMap<String, String>,
    start: StartPosition,
    timestamp: Option<DateTime<Utc>>,
) -> Vec<(ShardInfo, Start)> {
    let listed: HashMap<&str, &ShardInfo> = shards.iter().map(|s| (s.id.as_str(), s)).collect();
    // `latest` reads open shards only: a closed shard never checkpointed is
    // passed over, as if finished.
    let skipped = |s: &ShardInfo| {
        start == StartPosition::Latest && s.ending.is_some() && !checkpoints.contains_key(&s.id)
    };
    let finished = |id: &str| match listed.get(id) {
        None => true,
        Some(p) => checkpoints.get(id).map(String::as_str) == Some(SHARD_END) || skipped(p),
    };
    let mut out = Vec::new();
    for s in shards {
        let cp = checkpoints.get(&s.id);
        if cp.map(String::as_str) == Some(SHARD_END) || skipped(s) {
            continue;
        }
        if !s.parents.iter().all(|p| finished(p)) {
            continue;
        }
        let from = match cp {
            Some(seq) => Start::After(seq.clone()),
            None if s
                .parents
                .iter()
                .any(|p| checkpoints.get(p).map(String::as_str) == Some(SHARD_END)) =>
            {
                Start::TrimHorizon
            }
            None => match (start, timestamp) {
                (StartPosition::Latest, _) => Start::Latest,
                (StartPosition::AtTimestamp, Some(t)) => Start::AtTimestamp(t),
                _ => Start::TrimHorizon,
            },
        };
        out.push((s.clone(), from));
    }
    out
}

async fn run(config: KinesisConfig, cx: InputContext) -> anyhow::Result<()> {
    let aws = config.aws();
    let label = config.stream_label();
    let timestamp = config.start_timestamp().map_err(|e| anyhow::anyhow!(e))?;
    let store = match &config.leases {
        None => Store::file(
            CheckpointFile::new(&cx.data_dir, &cx.pipeline, &cx.name),
            &label,
        )?,
        Some(l) => {
            let table = LeaseTable::new(aws.dynamodb().await, &l.dynamodb_table, owner_id());
            table
                .ensure()
                .await
                .with_context(|| format!("input `{}`", cx.name))?;
            tracing::info!(input = %cx.name, table = %l.dynamodb_table, owner = %table.owner(),
                "sharing the stream's shards through the lease table");
            Store::leases(table)
        }
    };
    let shared = Arc::new(Shared {
        client: aws.kinesis().await,
        stream: match (&config.stream_name, &config.stream_arn) {
            (Some(n), _) => StreamRef::Name(n.clone()),
            (None, Some(a)) => StreamRef::Arn(a.clone()),
            (None, None) => anyhow::bail!("input `{}`: no stream", cx.name),
        },
        stream_label: label,
        format: config.format,
        poll_interval: config.poll_interval,
        max_records: config.max_records,
        out: cx.out.clone(),
        store,
        pipeline: cx.pipeline.clone(),
        component: cx.name.clone(),
        endings: std::sync::Mutex::new(HashMap::new()),
    });
    let leases_held = metrics::gauge!("weir_kinesis_leases_held",
        "pipeline" => cx.pipeline.to_string(), "component" => cx.name.to_string());

    let tick = match &config.leases {
        Some(l) => l.lease_duration / 3,
        None => config.shard_sync_interval,
    };
    let mut readers: JoinSet<(String, End)> = JoinSet::new();
    let mut running: HashMap<String, CancellationToken> = HashMap::new();
    let mut shards: Vec<ShardInfo> = Vec::new();
    let mut synced: Option<Instant> = None;
    let mut resync = true;
    let mut expiry = Expiry::default();
    loop {
        if cx.shutdown.is_cancelled() {
            break;
        }
        if resync || synced.is_none_or(|t| t.elapsed() >= config.shard_sync_interval) {
            match list_shards(&shared).await {
                Ok(listed) => {
                    shards = listed;
                    if let Ok(mut endings) = shared.endings.lock() {
                        *endings = shards
                            .iter()
                            .filter_map(|s| Some((s.id.clone(), s.ending.clone()?)))
                            .collect();
                    }
                    synced = Some(Instant::now());
                    resync = false;
                    if let Store::Leases { table, .. } = &shared.store {
                        if let Err(e) = create_leases(table, &shards).await {
                            tracing::warn!(input = %cx.name, error = format!("{e:#}"), "lease table");
                        }
                    }
                }
                // A stream that cannot be listed at start is a configuration
                // error worth failing on; later, a passing outage.
                Err(e) if synced.is_none() => return Err(e.context(format!("input `{}`", cx.name))),
                Err(e) => {
                    tracing::warn!(input = %cx.name, error = format!("{e:#}"), "retrying later")
                }
            }
        }

        let wanted = match &config.leases {
            None => readable(
                &shards,
                &shared.store.file_checkpoints().await,
                config.start_position,
                timestamp,
            ),
            Some(l) => match lease_pass(
                &shared,
                l,
                &shards,
                &mut expiry,
                &running,
                config.start_position,
                timestamp,
            )
            .await
            {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(input = %cx.name, error = format!("{e:#}"), "lease table pass failed; retrying");
                    // Keep reading what is held; start nothing new.
                    Vec::new()
                }
            },
        };
        if config.leases.is_some() {
            // Readers of leases no longer held stop.
            for (id, stop) in &running {
                if shared.store.held(id).is_none_or(|h| h.lost.is_cancelled()) {
                    stop.cancel();
                }
            }
        }
        for (info, start) in wanted {
            if running.contains_key(&info.id) {
                continue;
            }
            let stop = cx.shutdown.child_token();
            tracing::info!(input = %cx.name, shard = %info.id, start = ?start, "reading shard");
            running.insert(info.id.clone(), stop.clone());
            let reader = ShardReader {
                shared: shared.clone(),
                shard: info,
                start,
                stop,
            };
            readers.spawn(async move {
                let id = reader.shard.id.clone();
                (id, reader.run().await)
            });
        }
        if let Store::Leases { held, .. } = &shared.store {
            leases_held.set(held.lock().map(|h| h.len()).unwrap_or(0) as f64);
        }

        tokio::select! {
            _ = cx.shutdown.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
            Some(joined) = readers.join_next() => {
                match joined {
                    Ok((id, end)) => {
                        running.remove(&id);
                        if end == End::Finished {
                            resync = true;
                        }
                        // At shutdown the lease is released below, with the others.
                        if let (Store::Leases { held, table }, false) =
                            (&shared.store, cx.shutdown.is_cancelled())
                        {
                            let lease = held.lock().ok().and_then(|mut h| h.remove(&id));
                            // A reader that stopped on an error gives its
                            // lease up, so that it is read again at once.
                            let lost = lease.is_none_or(|l| l.lost.is_cancelled());
                            if end == End::Stopped && !lost {
                                if let Err(e) = table.evict(&id).await {
                                    tracing::warn!(shard = %id, error = format!("{e:#}"), "releasing the lease");
                                }
                            }
                        }
                        if end == End::Stopped && !cx.shutdown.is_cancelled() && config.leases.is_none() {
                            // An error stopped it: try again after a pause.
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    Err(e) => anyhow::bail!("input `{}`: a shard reader panicked: {e}", cx.name),
                }
            }
        }
    }
    // Shutdown: every reader drains its acknowledgements and checkpoints.
    while readers.join_next().await.is_some() {}
    if let Store::Leases { table, held } = &shared.store {
        let keys: Vec<String> = held
            .lock()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            if let Err(e) = table.evict(&key).await {
                tracing::warn!(shard = %key, error = format!("{e:#}"), "releasing the lease");
            }
        }
        leases_held.set(0.0);
    }
    Ok(())
}

/// Leases of shards `ListShards` no longer returns: the stream's retention
/// has passed since they closed, so they can never be read again and their
/// children already count them as finished. A lease is left alone while it
/// may be in use: only finished, free or expired ones are stale. An empty
/// listing (a stream always has an open shard) decides nothing.
fn stale_leases<'a>(
    leases: &'a [Lease],
    shards: &[ShardInfo],
    expired: &[String],
) -> Vec<&'a Lease> {
    if shards.is_empty() {
        return Vec::new();
    }
    let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
    leases
        .iter()
        .filter(|l| !listed.contains(l.key.as_str()))
        .filter(|l| {
            l.checkpoint.as_deref() == Some(SHARD_END)
                || l.owner.is_none()
                || expired.contains(&l.key)
        })
        .collect()
}

async fn create_leases(table: &LeaseTable, shards: &[ShardInfo]) -> anyhow::Result<()> {
    let existing: HashSet<String> = table.scan().await?.into_iter().map(|l| l.key).collect();
    for s in shards {
        if !existing.contains(&s.id) {
            table.create_lease(&s.id, &s.parents).await?;
        }
    }
    Ok(())
}

/// One pass over the lease table: renew what is held, take what the fair
/// share allows, and return the held shards that may be read.
async fn lease_pass(
    shared: &Shared,
    config: &LeasesConfig,
    shards: &[ShardInfo],
    expiry: &mut Expiry,
    running: &HashMap<String, CancellationToken>,
    start: StartPosition,
    timestamp: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<(ShardInfo, Start)>> {
    let Store::Leases { table, held } = &shared.store else {
        return Ok(Vec::new());
    };
    // Renew.
    let mine: Vec<(String, Arc<Held>)> = held
        .lock()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    for (key, lease) in mine {
        let mut counter = lease.counter.lock().await;
        match table.renew(&key, *counter).await {
            Ok(Some(next)) => *counter = next,
            Ok(None) => {
                tracing::info!(shard = %key, "lease taken over by another instance");
                lease.lost.cancel();
                if let Ok(mut h) = held.lock() {
                    h.remove(&key);
                }
            }
            Err(e) => tracing::warn!(shard = %key, error = format!("{e:#}"), "renewing lease"),
        }
    }
    // Take.
    let leases = table.scan().await?;
    let expired = expiry.observe(&leases, Instant::now(), config.lease_duration);
    for lease in stale_leases(&leases, shards, &expired) {
        match table.delete(lease).await {
            Ok(true) => tracing::info!(shard = %lease.key, checkpoint = ?lease.checkpoint,
                "deleted the lease of a shard the stream no longer lists"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(shard = %lease.key, error = format!("{e:#}"), "deleting a stale lease")
            }
        }
    }
    let checkpoints: HashMap<String, String> = leases
        .iter()
        .filter_map(|l| l.checkpoint.clone().map(|c| (l.key.clone(), c)))
        .collect();
    let readable = readable(shards, &checkpoints, start, timestamp);
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let candidates: Vec<&Lease> = readable
        .iter()
        .filter_map(|(s, _)| by_key.get(s.id.as_str()).copied())
        .collect();
    let held_now = held.lock().map(|h| h.len()).unwrap_or(0);
    let mut takes = balance::plan(&candidates, &expired, table.owner());
    if let Some(max) = config.max_leases {
        takes.truncate(max.saturating_sub(held_now));
    }
    for key in takes {
        let Some(lease) = by_key.get(key.as_str()) else {
            continue;
        };
        // A lease this instance holds by the table but not in memory (a
        // stale item) is simply taken again.
        if running.contains_key(&key) {
            continue;
        }
        match table.take(lease).await? {
            Some(counter) => {
                tracing::info!(shard = %key, previous_owner = ?lease.owner, "took lease");
                if let Ok(mut h) = held.lock() {
                    h.insert(
                        key.clone(),
                        Arc::new(Held {
                            counter: tokio::sync::Mutex::new(counter),
                            lost: CancellationToken::new(),
                        }),
                    );
                }
            }
            None => tracing::debug!(shard = %key, "another instance took the lease first"),
        }
    }
    let held = held
        .lock()
        .map_err(|_| anyhow::anyhow!("lease state poisoned"))?;
    Ok(readable
        .into_iter()
        .filter(|(s, _)| held.get(&s.id).is_some_and(|h| !h.lost.is_cancelled()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parents: &[&str], ending: Option<&str>) -> ShardInfo {
        ShardInfo {
            id: id.into(),
            parents: parents.iter().map(|p| (*p).into()).collect(),
            ending: ending.map(Into::into),
        }
    }

    fn ids(r: &[(ShardInfo, Start)]) -> Vec<(&str, &Start)> {
        r.iter().map(|(s, st)| (s.id.as_str(), st)).collect()
    }

    #[test]
    fn children_wait_for_their_parents() {
        let shards = [
            shard("p", &[], Some("10")),
            shard("c1", &["p"], None),
            shard("c2", &["p"], None),
        ];
        let mut cps = HashMap::new();
        let r = readable(&shards, &cps, StartPosition::TrimHorizon, None);
        assert_eq!(ids(&r), [("p", &Start::TrimHorizon)]);
        cps.insert("p".to_owned(), "7".to_owned());
        let r = readable(&shards, &cps, StartPosition::Latest, None);
        assert_eq!(ids(&r), [("p", &Start::After("7".into()))]);
        cps.insert("p".to_owned(), SHARD_END.to_owned());
        cps.insert("c2".to_owned(), "12".to_owned());
        let r = readable(&shards, &cps, StartPosition::Latest, None);
        assert_eq!(
            ids(&r),
            [
                ("c1", &Start::TrimHorizon),
                ("c2", &Start::After("12".into()))
            ]
        );
    }

    #[test]
    fn latest_skips_closed_shards_and_unlisted_parents_are_done() {
        let shards = [
            shard("p", &[], Some("10")),
            shard("c", &["p"], None),
            shard("orphan", &["expired"], None),
        ];
        let r = readable(&shards, &HashMap::new(), StartPosition::Latest, None);
        assert_eq!(ids(&r), [("c", &Start::Latest), ("orphan", &Start::Latest)]);
    }

    #[test]
    fn only_unused_leases_of_unlisted_shards_are_stale() {
        let lease = |key: &str, owner: Option<&str>, checkpoint: Option<&str>| Lease {
            key: key.into(),
            owner: owner.map(Into::into),
            counter: 1,
            checkpoint: checkpoint.map(Into::into),
            parents: Vec::new(),
        };
        let leases = [
            lease("listed", None, Some(SHARD_END)),
            lease("gone-finished", Some("a"), Some(SHARD_END)),
            lease("gone-free", None, Some("49")),
            lease("gone-expired", Some("dead"), Some("49")),
            lease("gone-in-use", Some("alive"), Some("49")),
        ];
        let shards = [shard("listed", &[], None)];
        let expired = ["gone-expired".to_owned()];
        let stale: Vec<&str> = stale_leases(&leases, &shards, &expired)
            .iter()
            .map(|l| l.key.as_str())
            .collect();
        assert_eq!(stale, ["gone-finished", "gone-free", "gone-expired"]);
        assert!(stale_leases(&leases, &[], &expired).is_empty());
    }

    #[test]
    fn config_is_validated() {
        let parse = |yaml: serde_json::Value| -> Result<(), String> {
            let c: KinesisConfig = serde_json::from_value(yaml).map_err(|e| e.to_string())?;
            c.validate()
        };
        assert!(parse(serde_json::json!({"stream_name": "s"})).is_ok());
        assert!(parse(serde_json::json!({}))
            .unwrap_err()
            .contains("stream_name"));
        assert!(parse(serde_json::json!({"stream_name": "s", "stream_arn": "arn:aws:kinesis:us-east-1:1:stream/s"})).unwrap_err().contains("not both"));
        assert!(parse(serde_json::json!({"stream_arn": "nope"}))
            .unwrap_err()
            .contains("ARN"));
        assert!(
            parse(serde_json::json!({"stream_name": "s", "start_position": "at_timestamp"}))
                .unwrap_err()
                .contains("start_timestamp")
        );
        assert!(parse(serde_json::json!({"stream_name": "s", "start_position": "at_timestamp", "start_timestamp": "2024-05-06T07:00:00Z"})).is_ok());
        assert!(
            parse(serde_json::json!({"stream_name": "s", "max_records": 0}))
                .unwrap_err()
                .contains("max_records")
        );
        assert!(parse(serde_json::json!({"stream_name": "s", "bogus": 1})).is_err());
    }
}
