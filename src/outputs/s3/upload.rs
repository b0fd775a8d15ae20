//! The S3 side: `PutObject` for objects of one part, `CreateMultipartUpload`
//! / `UploadPart` / `CompleteMultipartUpload` (and `AbortMultipartUpload` on
//! failure) for larger ones, each request retried with backoff.
//!
//! Every error is retried — a missing bucket, refused credentials or an
//! unreachable endpoint can all be fixed while weir waits — forever unless
//! `max_retries` is set; only a multipart upload that S3 no longer knows
//! (`NoSuchUpload`, e.g. aborted by a lifecycle rule) is given up at once,
//! since its earlier parts cannot be sent again.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, StorageClass};
use bytes::Bytes;
use tracing::warn;

use super::config::Settings;
use super::object::Multipart;
use crate::outputs::log_limit::LogLimiter;

/// `weir_s3_output_*` metrics of one output.
#[derive(Clone)]
pub struct S3Metrics {
    pub uploaded: metrics::Counter,
    pub failed: metrics::Counter,
    pub bytes: metrics::Counter,
    pub request_seconds: metrics::Histogram,
    pub retries: metrics::Counter,
    pub open_objects: metrics::Gauge,
}

impl S3Metrics {
    pub fn new(pipeline: &str, component: &str) -> Self {
        let objects = |result: &'static str| {
            metrics::counter!(
                "weir_s3_output_objects_total",
                "pipeline" => pipeline.to_owned(),
                "component" => component.to_owned(),
                "result" => result,
            )
        };
        let labels = crate::telemetry::component_labels(pipeline, component);
        S3Metrics {
            uploaded: objects("uploaded"),
            failed: objects("failed"),
            bytes: metrics::counter!("weir_s3_output_bytes_total", &labels),
            request_seconds: metrics::histogram!("weir_s3_output_upload_duration_seconds", &labels),
            retries: metrics::counter!("weir_s3_output_retries_total", &labels),
            open_objects: metrics::gauge!("weir_s3_output_open_objects", &labels),
        }
    }
}

/// Why a request was given up.
#[derive(Debug)]
pub struct GaveUp(pub String);

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GaveUp {}

/// Sends an output's requests to its bucket.
pub struct Uploader {
    client: aws_sdk_s3::Client,
    bucket: String,
    content_type: String,
    content_encoding: Option<&'static str>,
    storage_class: Option<StorageClass>,
    max_retries: Option<u32>,
    initial_backoff: Duration,
    max_backoff: Duration,
    request_timeout: Duration,
    pub metrics: S3Metrics,
    name: Arc<str>,
    logs: LogLimiter,
}

impl Uploader {
    pub fn new(
        client: aws_sdk_s3::Client,
        settings: &Settings,
        metrics: S3Metrics,
        name: Arc<str>,
    ) -> Self {
        Uploader {
            client,
            bucket: settings.bucket.clone(),
            content_type: settings.content_type.clone(),
            content_encoding: settings.gzip_level.map(|_| "gzip"),
            storage_class: settings.storage_class.clone(),
            max_retries: settings.max_retries,
            initial_backoff: settings.retry_initial_backoff,
            max_backoff: settings.retry_max_backoff,
            request_timeout: settings.request_timeout,
            metrics,
            name,
            logs: LogLimiter::default(),
        }
    }

    /// Uploads a whole object in one request.
    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), GaveUp> {
        let len = body.len();
        self.retry("PutObject", key, || {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(&self.content_type)
                .set_content_encoding(self.content_encoding.map(str::to_owned))
                .set_storage_class(self.storage_class.clone())
                .body(ByteStream::from(body.clone()))
                .send()
        })
        .await?;
        self.metrics.bytes.increment(len as u64);
        Ok(())
    }

    /// Starts a multipart upload.
    pub async fn create(&self, key: &str) -> Result<Multipart, GaveUp> {
        let out = self
            .retry("CreateMultipartUpload", key, || {
                self.client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_type(&self.content_type)
                    .set_content_encoding(self.content_encoding.map(str::to_owned))
                    .set_storage_class(self.storage_class.clone())
                    .send()
            })
            .await?;
        let upload_id = out.upload_id().ok_or_else(|| {
            GaveUp(format!(
                "CreateMultipartUpload s3://{}/{key}: the answer has no UploadId",
                self.bucket
            ))
        })?;
        Ok(Multipart {
            upload_id: upload_id.to_owned(),
            parts: Vec::new(),
        })
    }

    /// Uploads the next part of `upload`.
    pub async fn part(&self, key: &str, upload: &mut Multipart, body: Bytes) -> Result<(), GaveUp> {
        let number = upload.parts.len() as i32 + 1;
        let len = body.len();
        let upload_id = upload.upload_id.clone();
        let out = self
            .retry("UploadPart", key, || {
                self.client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(body.clone()))
                    .send()
            })
            .await?;
        let etag = out.e_tag().ok_or_else(|| {
            GaveUp(format!(
                "UploadPart {number} of s3://{}/{key}: the answer has no ETag",
                self.bucket
            ))
        })?;
        upload.parts.push((number, etag.to_owned()));
        self.metrics.bytes.increment(len as u64);
        Ok(())
    }

    /// Completes `upload`: the object appears.
    pub async fn complete(&self, key: &str, upload: &Multipart) -> Result<(), GaveUp> {
        let parts: Vec<CompletedPart> = upload
            .parts
            .iter()
            .map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build())
            .collect();
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        self.retry("CompleteMultipartUpload", key, || {
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload.upload_id)
                .multipart_upload(done.clone())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Discards `upload`'s parts so they are not stored (and billed)
    /// forever. A few tries only: a lifecycle rule with
    /// `AbortIncompleteMultipartUpload` is the safety net.
    pub async fn abort(&self, key: &str, upload: &Multipart) {
        for attempt in 0..3 {
            let result = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload.upload_id)
                .send()
                .await;
            match result {
                Ok(_) => return,
                Err(e) if attempt == 2 => {
                    warn!(output = %self.name, bucket = %self.bucket, key, upload_id = %upload.upload_id,
                        error = %crate::aws::describe(&e),
                        "cannot abort the multipart upload; its parts stay until a lifecycle rule removes them");
                }
                Err(_) => {
                    tokio::time::sleep(crate::aws::backoff(
                        attempt,
                        self.initial_backoff,
                        self.max_backoff,
                    ))
                    .await
                }
            }
        }
    }

    /// Runs `call` until it succeeds, backing off between attempts.
    async fn retry<T, E, F, Fut>(
        &self,
        op: &'static str,
        key: &str,
        mut call: F,
    ) -> Result<T, GaveUp>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut attempt: u32 = 0;
        loop {
            let started = Instant::now();
            let result = tokio::time::timeout(self.request_timeout, call()).await;
            self.metrics
                .request_seconds
                .record(started.elapsed().as_secs_f64());
            let what = format!("{op} s3://{}/{key}", self.bucket);
            let (code, described) = match result {
                Ok(Ok(out)) => return Ok(out),
                Ok(Err(err)) => (
                    err.code().unwrap_or("").to_owned(),
                    crate::aws::describe(&err),
                ),
                Err(_) => (
                    "timeout".to_owned(),
                    format!(
                        "no answer within request_timeout ({:?})",
                        self.request_timeout
                    ),
                ),
            };
            if code == "NoSuchUpload" {
                return Err(GaveUp(format!(
                    "{what}: the multipart upload is gone: {described}"
                )));
            }
            if self.max_retries.is_some_and(|max| attempt >= max) {
                return Err(GaveUp(format!(
                    "{what}: still failing after {attempt} retries: {described}"
                )));
            }
            self.metrics.retries.increment(1);
            let kind = if code.is_empty() { op } else { code.as_str() };
            if let Some(suppressed) = self.logs.allow(kind) {
                warn!(output = %self.name, operation = op, bucket = %self.bucket, key,
                    attempt = attempt + 1, error = %described, suppressed,
                    "S3 request failed; retrying with backoff");
            }
            tokio::time::sleep(crate::aws::backoff(
                attempt,
                self.initial_backoff,
                self.max_backoff,
            ))
            .await;
            attempt = attempt.saturating_add(1);
        }
    }
}
