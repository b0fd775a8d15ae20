//! `s3`: events archived as gzip NDJSON (or raw lines) objects in a bucket.
//!
//! ```text
//! batches ─► render key_prefix per event ─► the prefix's open object (compressed in memory)
//!                                            │ buffer ≥ multipart_part_bytes: UploadPart
//!                                            │ max_object_bytes / max_events / max_age reached:
//!                                            ▼ PutObject, or last part + CompleteMultipartUpload
//!                     the object's batches are acknowledged (their Ack clones dropped)
//! ```
//!
//! A batch is acknowledged once every object holding any of its events is
//! uploaded: an object keeps a clone of each such batch's [`Ack`], not the
//! events, which are encoded and freed at once. Requests are retried with
//! backoff (see [`upload`]); when an object is given up (`max_retries`), its
//! batches are marked failed so a replaying input does not checkpoint past
//! them. When the pipeline drains, every open object is uploaded before the
//! output returns.
//!
//! Modules: [`config`] (options and checks), [`key`] (unique object keys),
//! [`object`] (one object in progress), [`upload`] (S3 requests, retries,
//! metrics).
//!
//! [`Ack`]: crate::topology::ack::Ack

pub mod config;
pub mod key;
pub mod object;
pub mod upload;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::time::Instant;
use tracing::{error, info, warn};

use self::config::{Compression, Settings};
use self::key::KeyNamer;
use self::object::OpenObject;
use self::upload::{GaveUp, S3Metrics, Uploader};
use super::stdout::encode;
use super::{OutputConfig, OutputContext, OutputMetrics, OutputTask};
use crate::outputs::log_limit::LogLimiter;
use crate::topology::batch::OutputBatch;

pub use self::config::load;

impl OutputConfig for Settings {
    fn build(&self, cx: OutputContext) -> anyhow::Result<OutputTask> {
        let settings = self.clone();
        Ok(Box::pin(async move {
            let client = settings.aws.s3().await;
            let metrics = S3Metrics::new(&cx.pipeline, &cx.name);
            let uploader = Uploader::new(client, &settings, metrics, cx.name.clone());
            let compression = match settings.gzip_level {
                Some(_) => Compression::Gzip,
                None => Compression::None,
            };
            let mut driver = Driver {
                namer: KeyNamer::new(key::extension(settings.encoding, compression)),
                settings,
                uploader,
                output: cx.metrics.clone(),
                name: cx.name.clone(),
                open: HashMap::new(),
                scratch: BytesMut::with_capacity(4096),
                batches: 0,
                failed_objects: 0,
                logs: LogLimiter::default(),
            };
            info!(output = %cx.name, bucket = %driver.settings.bucket,
                key_prefix = %driver.settings.key_prefix.as_str(), "s3 output started");
            loop {
                let deadline = driver.next_deadline();
                tokio::select! {
                    biased;
                    _ = sleep_until(deadline), if deadline.is_some() => driver.close_expired().await,
                    batch = cx.input.recv() => match batch {
                        Ok(batch) => driver.add(batch).await,
                        Err(_) => break,
                    },
                }
            }
            driver.close_all().await;
            if driver.failed_objects > 0 {
                anyhow::bail!(
                    "output `{}`: {} object(s) could not be uploaded to bucket `{}`; \
                     their batches were reported as failed",
                    cx.name,
                    driver.failed_objects,
                    driver.settings.bucket
                );
            }
            Ok(())
        }))
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Routes events into open objects and uploads them.
struct Driver {
    settings: Settings,
    uploader: Uploader,
    output: OutputMetrics,
    name: Arc<str>,
    namer: KeyNamer,
    /// One open object per rendered key prefix.
    open: HashMap<String, OpenObject>,
    scratch: BytesMut,
    /// Batches seen, numbering them so an object keeps one Ack per batch.
    batches: u64,
    failed_objects: u64,
    logs: LogLimiter,
}

impl Driver {
    async fn add(&mut self, batch: OutputBatch) {
        if batch.is_empty() {
            return;
        }
        self.batches += 1;
        let seq = self.batches;
        let ack = batch.ack().clone();
        for event in batch.events() {
            let prefix = match self.settings.key_prefix.render(event) {
                Ok(p) => p,
                Err((p, field)) => {
                    if let Some(suppressed) = self.logs.allow("missing_field") {
                        warn!(output = %self.name, field = %field, key_prefix = %p, suppressed,
                            "key_prefix references a field the event lacks; it renders as empty text");
                    }
                    p
                }
            };
            if !self.open.contains_key(&prefix) {
                if self.open.len() >= self.settings.max_open_objects {
                    self.close_oldest().await;
                }
                let key = self.namer.next(&prefix, chrono::Utc::now());
                let object = OpenObject::new(key, self.settings.gzip_level);
                self.open.insert(prefix.clone(), object);
                self.uploader
                    .metrics
                    .open_objects
                    .set(self.open.len() as f64);
            }
            self.scratch.clear();
            encode(self.settings.encoding, event, &mut self.scratch);
            let Some(object) = self.open.get_mut(&prefix) else {
                continue;
            };
            object.write(&self.scratch, seq, &ack);
            let full = object.size() >= self.settings.max_object_bytes
                || self
                    .settings
                    .max_events
                    .is_some_and(|max| object.events >= max);
            if full {
                self.close(&prefix).await;
            } else if object.buffered() >= self.settings.part_bytes {
                if let Err(e) = upload_part(&self.uploader, object).await {
                    self.give_up(&prefix, e).await;
                }
            }
        }
    }

    /// When the oldest open object reaches `max_age`.
    fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .map(|o| o.opened)
            .min()
            .map(|t| Instant::from_std(t + self.settings.max_age))
    }

    async fn close_expired(&mut self) {
        let now = std::time::Instant::now();
        let mut expired: Vec<(String, String)> = self
            .open
            .iter()
            .filter(|(_, o)| o.opened + self.settings.max_age <= now)
            .map(|(p, o)| (o.key.clone(), p.clone()))
            .collect();
        expired.sort();
        for (_, prefix) in expired {
            self.close(&prefix).await;
        }
    }

    /// Makes room for a new prefix's object.
    async fn close_oldest(&mut self) {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, o)| o.opened)
            .map(|(p, _)| p.clone());
        if let Some(prefix) = oldest {
            self.close(&prefix).await;
        }
    }

    async fn close_all(&mut self) {
        let mut all: Vec<(String, String)> = self
            .open
            .iter()
            .map(|(p, o)| (o.key.clone(), p.clone()))
            .collect();
        all.sort();
        for (_, prefix) in all {
            self.close(&prefix).await;
        }
    }

    /// Uploads the prefix's object; its batches are acknowledged when it is
    /// dropped here (or marked failed first when it was given up).
    async fn close(&mut self, prefix: &str) {
        let Some(mut object) = self.open.remove(prefix) else {
            return;
        };
        self.uploader
            .metrics
            .open_objects
            .set(self.open.len() as f64);
        let tail = object.finish();
        let result = match object.multipart.take() {
            None => self.uploader.put(&object.key, tail.clone()).await,
            Some(mut upload) => {
                let mut result = Ok(());
                if !tail.is_empty() {
                    result = self
                        .uploader
                        .part(&object.key, &mut upload, tail.clone())
                        .await;
                }
                if result.is_ok() {
                    result = self.uploader.complete(&object.key, &upload).await;
                }
                if result.is_err() {
                    self.uploader.abort(&object.key, &upload).await;
                }
                result
            }
        };
        match result {
            Ok(()) => {
                object.uploaded_bytes += tail.len() as u64;
                self.uploader.metrics.uploaded.increment(1);
                self.output.delivered(
                    object.events as usize,
                    object.uploaded_bytes as usize,
                    object.opened,
                );
                tracing::debug!(output = %self.name, key = %object.key, events = object.events,
                    bytes = object.uploaded_bytes, "object uploaded");
            }
            Err(e) => self.failed(&object, e),
        }
    }

    /// Drops an object whose part could not be uploaded.
    async fn give_up(&mut self, prefix: &str, e: GaveUp) {
        if let Some(mut object) = self.open.remove(prefix) {
            self.uploader
                .metrics
                .open_objects
                .set(self.open.len() as f64);
            if let Some(upload) = object.multipart.take() {
                self.uploader.abort(&object.key, &upload).await;
            }
            self.failed(&object, e);
        }
    }

    fn failed(&mut self, object: &OpenObject, e: GaveUp) {
        // Counted before the batches are failed, so that whoever the failure
        // reaches (an input, a test) already sees it in the metrics.
        self.failed_objects += 1;
        self.uploader.metrics.failed.increment(1);
        self.output.errors.increment(1);
        object.fail();
        error!(output = %self.name, key = %object.key, events = object.events,
            batches = object.batches(), error = %e,
            "giving up on the object; its batches are reported as failed");
    }
}

/// Sends the object's buffered bytes as its next part, starting the
/// multipart upload first when this is the first part.
async fn upload_part(uploader: &Uploader, object: &mut OpenObject) -> Result<(), GaveUp> {
    if object.multipart.is_none() {
        object.multipart = Some(uploader.create(&object.key).await?);
    }
    let body = object.take_part();
    let len = body.len() as u64;
    if let Some(upload) = object.multipart.as_mut() {
        uploader.part(&object.key, upload, body).await?;
    }
    object.uploaded_bytes += len;
    Ok(())
}
