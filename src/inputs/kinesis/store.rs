//! Where shard checkpoints live: a local checkpoint file under `data_dir`
//! (one instance), or the items of the DynamoDB lease table (several
//! instances, like the KCL).
//!
//! A checkpoint is the sequence number of the last record whose events, and
//! all events before them, every output has finished; reading resumes
//! `AFTER_SEQUENCE_NUMBER` it. [`SHARD_END`] marks a closed shard read to
//! its end, which is what lets its children start.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::state::checkpoint::CheckpointFile;
use crate::state::leases::LeaseTable;
pub use crate::state::leases::SHARD_END;

/// The checkpoint file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FileState {
    /// The stream the checkpoints belong to: a file of another stream is
    /// refused rather than applied to the wrong shards.
    stream: String,
    /// Shard id → sequence number or `SHARD_END`.
    shards: BTreeMap<String, String>,
}

/// A lease this instance holds: its last counter (the fencing token every
/// write must present), and a token cancelled when the lease is lost.
pub struct Held {
    pub counter: tokio::sync::Mutex<u64>,
    pub lost: CancellationToken,
}

pub enum Store {
    File {
        file: CheckpointFile,
        /// Held across the write, so that concurrent saves of several
        /// shards write one after the other, newest last.
        state: tokio::sync::Mutex<FileState>,
    },
    Leases {
        table: LeaseTable,
        held: Mutex<HashMap<String, Arc<Held>>>,
    },
}

/// The lease of a shard was taken over by another instance.
#[derive(Debug, thiserror::Error)]
#[error("the lease of {0} was taken over by another instance")]
pub struct LeaseLost(pub String);

impl Store {
    /// The file store for `stream`, with what the file holds.
    pub fn file(file: CheckpointFile, stream: &str) -> anyhow::Result<Store> {
        let state = match file.load::<FileState>()? {
            Some(s) if s.stream == stream => s,
            Some(s) => anyhow::bail!(
                "checkpoint {} belongs to stream `{}`, not `{stream}`; move it away to start over",
                file.path().display(),
                s.stream
            ),
            None => FileState {
                stream: stream.to_owned(),
                shards: BTreeMap::new(),
            },
        };
        Ok(Store::File {
            file,
            state: tokio::sync::Mutex::new(state),
        })
    }

    pub fn leases(table: LeaseTable) -> Store {
        Store::Leases {
            table,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// File store: the checkpoints of every shard.
    pub async fn file_checkpoints(&self) -> HashMap<String, String> {
        match self {
            Store::File { state, .. } => state.lock().await.shards.clone().into_iter().collect(),
            Store::Leases { .. } => HashMap::new(),
        }
    }

    /// Lease store: the held lease of `shard`.
    pub fn held(&self, shard: &str) -> Option<Arc<Held>> {
        match self {
            Store::Leases { held, .. } => held.lock().ok()?.get(shard).cloned(),
            Store::File { .. } => None,
        }
    }

    /// Saves the checkpoint of `shard`. With leases, fails with [`LeaseLost`]
    /// (and cancels the lease's token) when another instance took it.
    pub async fn save(&self, shard: &str, checkpoint: &str) -> anyhow::Result<()> {
        match self {
            Store::File { file, state } => {
                let mut s = state.lock().await;
                s.shards.insert(shard.to_owned(), checkpoint.to_owned());
                let snapshot = serde_json::to_value(&*s).context("encoding checkpoints")?;
                let file = file.clone();
                let written = tokio::task::spawn_blocking(move || file.store(&snapshot))
                    .await
                    .context("checkpoint writer")?;
                drop(s);
                written
            }
            Store::Leases { table, .. } => {
                let held = self
                    .held(shard)
                    .ok_or_else(|| LeaseLost(shard.to_owned()))?;
                let mut counter = held.counter.lock().await;
                match table.checkpoint(shard, *counter, checkpoint).await? {
                    Some(next) => {
                        *counter = next;
                        Ok(())
                    }
                    None => {
                        held.lost.cancel();
                        Err(LeaseLost(shard.to_owned()).into())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_saves_keep_every_shard() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path(), "p", "k");
        let store = Arc::new(Store::file(file.clone(), "s").unwrap());
        let mut tasks = Vec::new();
        for shard in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for seq in 1..=20 {
                    store
                        .save(&format!("shard-{shard}"), &seq.to_string())
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let reopened = Store::file(file.clone(), "s").unwrap();
        let cps = reopened.file_checkpoints().await;
        assert_eq!(cps.len(), 8);
        assert!(cps.values().all(|v| v == "20"), "{cps:?}");
        // Another stream's checkpoints are refused, naming the file.
        let err = Store::file(file, "other").err().unwrap().to_string();
        assert!(err.contains("belongs to stream `s`"), "{err}");
    }
}
