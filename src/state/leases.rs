//! The DynamoDB lease table through which several weir instances share the
//! shards of a Kinesis stream, in the Kinesis Client Library's layout.
//!
//! One item per shard, keyed by `leaseKey` (the shard id):
//!
//! | attribute | meaning |
//! |---|---|
//! | `leaseOwner` | the instance holding the shard; absent = free |
//! | `leaseCounter` | bumped by every write; an owner that stops bumping it is dead |
//! | `checkpoint` | the last sequence number delivered by every output, or `SHARD_END` |
//! | `checkpointSubSequenceNumber` | always 0: weir checkpoints whole records |
//! | `ownerSwitchesSinceCheckpoint` | takes since the last checkpoint |
//! | `parentShardId` | the shard's parents (string set), for resharding order |
//!
//! Every write is conditional on the `leaseCounter` the writer last saw
//! (taking, renewing and checkpointing alike), so the counter doubles as a
//! fencing token: an instance whose lease was taken over fails its next write
//! and stops reading that shard. A failed condition is a lost race, reported
//! as `Ok(None)`, never an error.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;

use crate::aws::describe;

/// The `checkpoint` value of a shard read to its end.
pub const SHARD_END: &str = "SHARD_END";

const KEY: &str = "leaseKey";
const OWNER: &str = "leaseOwner";
const COUNTER: &str = "leaseCounter";
const CHECKPOINT: &str = "checkpoint";
const SUB_SEQUENCE: &str = "checkpointSubSequenceNumber";
const SWITCHES: &str = "ownerSwitchesSinceCheckpoint";
const PARENTS: &str = "parentShardId";

/// One lease as read from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: String,
    pub owner: Option<String>,
    pub counter: u64,
    pub checkpoint: Option<String>,
    pub parents: Vec<String>,
}

/// A lease table and the identity of this instance in it.
#[derive(Debug, Clone)]
pub struct LeaseTable {
    client: Client,
    table: String,
    owner: String,
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

impl LeaseTable {
    pub fn new(client: Client, table: impl Into<String>, owner: impl Into<String>) -> Self {
        LeaseTable {
            client,
            table: table.into(),
            owner: owner.into(),
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand billing, hash key `leaseKey`) unless it
    /// exists, and waits until it is active.
    pub async fn ensure(&self) -> anyhow::Result<()> {
        for attempt in 0..120u32 {
            match self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
            {
                Ok(out) => {
                    let status = out.table().and_then(|t| t.table_status());
                    if matches!(status, Some(TableStatus::Active) | None) {
                        return Ok(());
                    }
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    self.create().await?;
                }
                Err(e) => bail!("describing lease table `{}`: {}", self.table, describe(&e)),
            }
            if attempt == 0 {
                tracing::info!(table = %self.table, "waiting for the lease table to become active");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("lease table `{}` did not become active in 60 s", self.table)
    }

    async fn create(&self) -> anyhow::Result<()> {
        tracing::info!(table = %self.table, "creating the lease table (on-demand billing)");
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .context("lease table attribute")?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .context("lease table key")?,
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another instance created it first.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => bail!("creating lease table `{}`: {}", self.table, describe(&e)),
        }
    }

    /// Adds a free lease for a shard unless it exists; true if added.
    pub async fn create_lease(&self, key: &str, parents: &[String]) -> anyhow::Result<bool> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, s(key))
            .item(COUNTER, n(0))
            .item(SWITCHES, n(0))
            .condition_expression("attribute_not_exists(leaseKey)");
        if !parents.is_empty() {
            put = put.item(PARENTS, AttributeValue::Ss(parents.to_vec()));
        }
        self.applied(put.send().await, "creating", key)
    }

    /// Every lease in the table.
    pub async fn scan(&self) -> anyhow::Result<Vec<Lease>> {
        let mut leases = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("scanning lease table `{}`: {}", self.table, describe(&e))
                })?;
            for item in out.items() {
                if let Some(lease) = parse(item) {
                    leases.push(lease);
                }
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(leases)
    }

    /// Takes `lease` (free, expired, or stolen) if its counter is still the
    /// one seen; returns the new counter, `None` when another instance won.
    pub async fn take(&self, lease: &Lease) -> anyhow::Result<Option<u64>> {
        let switched = lease.owner.as_deref() != Some(self.owner.as_str());
        let update = if switched {
            "SET leaseOwner = :me, leaseCounter = :next ADD ownerSwitchesSinceCheckpoint :one"
        } else {
            "SET leaseOwner = :me, leaseCounter = :next"
        };
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(&lease.key))
            .update_expression(update)
            .condition_expression("leaseCounter = :seen")
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":next", n(lease.counter + 1))
            .expression_attribute_values(":seen", n(lease.counter));
        if switched {
            req = req.expression_attribute_values(":one", n(1));
        }
        self.conditional(req.send().await, lease.counter + 1, "taking", &lease.key)
    }

    /// Bumps the counter of a lease this instance holds.
    pub async fn renew(&self, key: &str, counter: u64) -> anyhow::Result<Option<u64>> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .update_expression("SET leaseCounter = :next")
            .condition_expression("leaseCounter = :seen AND leaseOwner = :me")
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":next", n(counter + 1))
            .expression_attribute_values(":seen", n(counter))
            .send()
            .await;
        self.conditional(result, counter + 1, "renewing", key)
    }

    /// Stores the checkpoint of a held lease (a sequence number or
    /// [`SHARD_END`]).
    pub async fn checkpoint(
        &self,
        key: &str,
        counter: u64,
        checkpoint: &str,
    ) -> anyhow::Result<Option<u64>> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .update_expression(
                "SET checkpoint = :cp, checkpointSubSequenceNumber = :zero, \
                 ownerSwitchesSinceCheckpoint = :zero, leaseCounter = :next",
            )
            .condition_expression("leaseCounter = :seen AND leaseOwner = :me")
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":cp", s(checkpoint))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":next", n(counter + 1))
            .expression_attribute_values(":seen", n(counter))
            .send()
            .await;
        self.conditional(result, counter + 1, "checkpointing", key)
    }

    /// Deletes the lease of a shard the stream no longer lists, if its
    /// counter is still the one seen (nobody is using it); true if deleted.
    pub async fn delete(&self, lease: &Lease) -> anyhow::Result<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, s(&lease.key))
            .condition_expression("leaseCounter = :seen")
            .expression_attribute_values(":seen", n(lease.counter))
            .send()
            .await;
        self.applied(result, "deleting", &lease.key)
    }

    /// Gives a lease up (at shutdown) so another instance takes it at once.
    pub async fn evict(&self, key: &str) -> anyhow::Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, s(key))
            .update_expression("REMOVE leaseOwner ADD leaseCounter :one")
            .condition_expression("leaseOwner = :me")
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        self.conditional(result, 0, "releasing", key).map(|_| ())
    }

    /// A conditional update's result: the counter it wrote, or `None` when
    /// the condition failed (another writer won).
    fn conditional<T, E, R>(
        &self,
        result: Result<T, SdkError<E, R>>,
        next: u64,
        what: &str,
        key: &str,
    ) -> anyhow::Result<Option<u64>>
    where
        E: ConditionFailed + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        Ok(self.applied(result, what, key)?.then_some(next))
    }

    /// Whether a conditional write was applied; a failed condition is a lost
    /// race, not an error.
    fn applied<T, E, R>(
        &self,
        result: Result<T, SdkError<E, R>>,
        what: &str,
        key: &str,
    ) -> anyhow::Result<bool>
    where
        E: ConditionFailed + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(E::condition_failed) => Ok(false),
            Err(e) => bail!(
                "{what} the lease of {key} in `{}`: {}",
                self.table,
                describe(&e)
            ),
        }
    }
}

/// The DynamoDB write errors that can be a failed condition.
trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

impl ConditionFailed for PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

/// A table item as a lease; items without a key are not leases (skipped).
fn parse(item: &HashMap<String, AttributeValue>) -> Option<Lease> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let key = text(KEY)?;
    let counter = item
        .get(COUNTER)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let parents = match item.get(PARENTS) {
        Some(AttributeValue::Ss(p)) => p.clone(),
        Some(AttributeValue::S(p)) => vec![p.clone()],
        _ => Vec::new(),
    };
    let _ = SUB_SEQUENCE;
    Some(Lease {
        key,
        owner: text(OWNER),
        counter,
        checkpoint: text(CHECKPOINT),
        parents,
    })
}

/// This instance's id in lease tables: host name, process id and a random
/// part, so two instances on one host (or a restarted one reusing a pid in a
/// container) never pass for each other.
pub fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "weir".to_owned());
    let random = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ (&host as *const String as u64).rotate_left(17);
    format!("{host}:{}:{:08x}", std::process::id(), random as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_parse_into_leases() {
        let mut item = HashMap::new();
        item.insert(KEY.to_owned(), s("shardId-000000000001"));
        item.insert(COUNTER.to_owned(), n(7));
        item.insert(OWNER.to_owned(), s("host:1:ab"));
        item.insert(CHECKPOINT.to_owned(), s("42"));
        item.insert(
            PARENTS.to_owned(),
            AttributeValue::Ss(vec!["shardId-000000000000".into()]),
        );
        let lease = parse(&item).unwrap();
        assert_eq!(lease.counter, 7);
        assert_eq!(lease.owner.as_deref(), Some("host:1:ab"));
        assert_eq!(lease.checkpoint.as_deref(), Some("42"));
        assert_eq!(lease.parents, ["shardId-000000000000"]);
        item.remove(KEY);
        assert_eq!(parse(&item), None);
    }

    #[test]
    fn owner_ids_differ() {
        let a = owner_id();
        std::thread::sleep(Duration::from_millis(2));
        assert_ne!(a, owner_id());
        assert!(a.contains(&format!(":{}:", std::process::id())), "{a}");
    }
}
