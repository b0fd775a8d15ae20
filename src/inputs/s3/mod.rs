//! `s3`: log objects in an S3 bucket — server access logs, VPC flow logs,
//! CloudWatch Logs exports, any text or NDJSON files, gzip'd or not.
//!
//! Two modes:
//! * **polling** (no `sqs_queue_url`): lists `bucket`/`prefix` every
//!   `interval` in key order, starting after the checkpoint's last finished
//!   key ([`polling`]);
//! * **notifications** (`sqs_queue_url`): reads the objects named by S3
//!   event notifications from an SQS queue, which several weir instances can
//!   share ([`sqs`]).
//!
//! Either way an object is streamed line by line ([`object`]), every event
//! carries `aws.s3.bucket.name`, `aws.s3.object.key` and `log.offset` (its
//! line number), and work counts as done only once every output has
//! acknowledged it ([`progress`]).

pub mod keys;
pub mod notification;
pub mod object;
pub mod polling;
pub mod progress;
pub mod sqs;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{InputConfig, InputContext, InputTask};
use crate::aws::AwsSettings;
use crate::codecs::Oversize;
use crate::config::duration::{deserialize_duration, parse_duration};
use object::ObjectCx;

/// `format:` of the s3 input: how objects are laid out and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Format {
    /// S3 server access logs (`aws.s3access.*`).
    S3Access,
    /// VPC flow logs; the file's header line names the fields.
    VpcFlow,
    /// CloudWatch Logs exports: `<prefix>/<task>/<stream>/NNNNNN.gz`.
    CloudwatchExport,
    /// One JSON document per line.
    Json,
    /// Plain lines, no parser.
    #[default]
    Lines,
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_settle_time() -> Duration {
    Duration::from_secs(10)
}

fn default_concurrency() -> usize {
    4
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

fn default_visibility_timeout() -> Duration {
    Duration::from_secs(300)
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(20)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3InputConfig {
    /// The bucket to list (polling), or the bucket the notifications are
    /// expected from.
    pub bucket: String,
    /// Only keys starting with this.
    #[serde(default)]
    pub prefix: String,
    /// Read the objects named by S3 event notifications from this queue;
    /// empty or absent: list the bucket.
    #[serde(default)]
    pub sqs_queue_url: Option<String>,
    #[serde(default)]
    pub format: S3Format,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub force_path_style: bool,
    /// Polling: time between listings.
    #[serde(
        default = "default_interval",
        deserialize_with = "deserialize_duration"
    )]
    pub interval: Duration,
    /// Polling: objects younger than this are left for a later listing,
    /// and so is everything after them in key order.
    #[serde(
        default = "default_settle_time",
        deserialize_with = "deserialize_duration"
    )]
    pub settle_time: Duration,
    /// Only objects modified at or after this time: an RFC 3339 timestamp
    /// or a duration back from the start (`7d`).
    #[serde(default)]
    pub since: Option<String>,
    /// Objects read at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    #[serde(default)]
    pub on_oversize: Oversize,
    /// Notifications: how long a received message stays hidden from other
    /// consumers; renewed every half of it while its objects are read.
    #[serde(
        default = "default_visibility_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub visibility_timeout: Duration,
    /// Notifications: delete messages that are not S3 notifications instead
    /// of leaving them for the queue's dead-letter redrive.
    #[serde(default)]
    pub delete_unparseable: bool,
    /// At shutdown, how long to wait for the outputs to acknowledge what was
    /// sent, so the checkpoint (or the message deletes) are current.
    #[serde(
        default = "default_ack_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub ack_timeout: Duration,
}

impl S3InputConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.bucket.trim().is_empty() {
            return Err("`bucket` must name a bucket".into());
        }
        self.aws().validate()?;
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        if self.max_line_bytes == 0 {
            return Err("max_line_bytes must be at least 1".into());
        }
        if self.interval.is_zero() {
            return Err("interval must be longer than 0s".into());
        }
        if let Some(url) = self.queue_url() {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(format!(
                    "sqs_queue_url `{url}` is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)"
                ));
            }
            let secs = self.visibility_timeout.as_secs();
            if !(2..=43_200).contains(&secs) {
                return Err(format!(
                    "visibility_timeout must be between 2s and 12h, not {secs}s"
                ));
            }
        }
        self.since_time(Utc::now())?;
        Ok(())
    }

    fn aws(&self) -> AwsSettings {
        AwsSettings::from_options(&self.region, &self.endpoint, self.force_path_style)
    }

    /// The queue, when notifications are configured.
    fn queue_url(&self) -> Option<&str> {
        self.sqs_queue_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
    }

    /// `since` as a point in time, relative to `now` for durations.
    fn since_time(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
        let Some(since) = self.since.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(since.trim()) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        let back = parse_duration(since).map_err(|_| {
            format!("since `{since}` is neither an RFC 3339 time (2024-05-01T00:00:00Z) nor a duration (7d)")
        })?;
        let back = chrono::Duration::from_std(back).map_err(|e| format!("since `{since}`: {e}"))?;
        Ok(now.checked_sub_signed(back))
    }
}

impl InputConfig for S3InputConfig {
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
        let config = self.clone();
        Ok(Box::pin(async move {
            let aws = config.aws();
            let metrics = Metrics::new(&cx.pipeline, &cx.name);
            let objects = ObjectCx {
                client: aws.s3().await,
                out: cx.out.clone(),
                shutdown: cx.shutdown.clone(),
                format: config.format,
                prefix: config.prefix.clone(),
                max_line_bytes: config.max_line_bytes,
                on_oversize: config.on_oversize,
                metrics,
            };
            match config.queue_url() {
                Some(url) => {
                    let url = url.to_owned();
                    sqs::run(&config, &cx, objects, aws.sqs().await, url).await
                }
                None => polling::run(&config, &cx, objects).await,
            }
        }))
    }

    fn pipeline_format(&self) -> Option<&str> {
        match self.format {
            S3Format::S3Access => Some("s3_access"),
            S3Format::VpcFlow => Some("vpc_flow"),
            S3Format::CloudwatchExport => Some("cloudwatch_export"),
            S3Format::Json => Some("json"),
            S3Format::Lines => None,
        }
    }
}

/// Whether a key holds log data for this input: not a folder marker, not an
/// export's permission check, and (for exports) laid out as an export.
fn wanted(format: S3Format, prefix: &str, key: &str) -> bool {
    if keys::is_folder_marker(key) || keys::is_write_test(key) {
        return false;
    }
    format != S3Format::CloudwatchExport || keys::export_stream(prefix, key).is_some()
}

/// The input's own metrics.
#[derive(Clone)]
pub struct Metrics {
    pipeline: String,
    component: String,
    pub bytes: metrics::Counter,
    pub lines_skipped: metrics::Counter,
    pub in_flight: metrics::Gauge,
}

impl Metrics {
    fn new(pipeline: &str, component: &str) -> Self {
        let labels = crate::telemetry::component_labels(pipeline, component);
        Metrics {
            pipeline: pipeline.to_owned(),
            component: component.to_owned(),
            bytes: metrics::counter!("weir_s3_bytes_total", &labels),
            lines_skipped: metrics::counter!("weir_s3_lines_skipped_total", &labels),
            in_flight: metrics::gauge!("weir_s3_objects_in_flight", &labels),
        }
    }

    /// An object finished: `done`, `skipped`, `missing` or `failed`.
    pub fn object(&self, result: &'static str) {
        metrics::counter!("weir_s3_objects_total",
            "pipeline" => self.pipeline.clone(), "component" => self.component.clone(),
            "result" => result)
        .increment(1);
    }

    /// An SQS message handled: `deleted`, `test_event`, `unparseable`,
    /// `failed`.
    pub fn message(&self, result: &'static str) {
        metrics::counter!("weir_s3_sqs_messages_total",
            "pipeline" => self.pipeline.clone(), "component" => self.component.clone(),
            "result" => result)
        .increment(1);
    }

    /// A failed call: `list`, `get`, `read`, `sqs`, `checkpoint`.
    pub fn error(&self, kind: &'static str) {
        metrics::counter!("weir_s3_errors_total",
            "pipeline" => self.pipeline.clone(), "component" => self.component.clone(),
            "kind" => kind)
        .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{from_node, yaml};

    fn config(text: &str) -> Result<S3InputConfig, String> {
        let node = yaml::parse(text).map_err(|e| format!("{e:?}"))?;
        let c: S3InputConfig = from_node(&node).map_err(|e| e.message)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_and_modes() {
        let c = config("{ bucket: logs }").unwrap();
        assert_eq!(c.format, S3Format::Lines);
        assert_eq!(c.interval, Duration::from_secs(60));
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.queue_url(), None);
        assert_eq!(c.pipeline_format(), None);
        let c = config("{ bucket: logs, sqs_queue_url: '' , format: s3_access }").unwrap();
        assert_eq!(c.queue_url(), None, "empty means polling");
        assert_eq!(c.pipeline_format(), Some("s3_access"));
        let c =
            config("{ bucket: logs, sqs_queue_url: 'http://q/1/x', format: cloudwatch_export }")
                .unwrap();
        assert_eq!(c.queue_url(), Some("http://q/1/x"));
        assert_eq!(c.pipeline_format(), Some("cloudwatch_export"));
    }

    #[test]
    fn bad_options_are_named() {
        assert!(config("{ bucket: '' }").unwrap_err().contains("bucket"));
        assert!(config("{ bucket: b, format: csv }").is_err());
        assert!(config("{ bucket: b, endpoint: 'localhost:1' }")
            .unwrap_err()
            .contains("localhost:1"));
        assert!(config("{ bucket: b, since: yesterday }")
            .unwrap_err()
            .contains("yesterday"));
        assert!(config("{ bucket: b, sqs_queue_url: q }")
            .unwrap_err()
            .contains("sqs_queue_url"));
        assert!(config("{ bucket: b, concurrency: 0 }").is_err());
        assert!(config("{ bucket: b, nope: 1 }").is_err());
    }

    #[test]
    fn since_is_a_time_or_a_duration_back() {
        let now = DateTime::parse_from_rfc3339("2024-05-08T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = config("{ bucket: b, since: '2024-05-01T00:00:00Z' }").unwrap();
        assert_eq!(
            c.since_time(now).unwrap().unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
        let c = config("{ bucket: b, since: 7d }").unwrap();
        assert_eq!(
            c.since_time(now).unwrap().unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00"
        );
    }

    #[test]
    fn wanted_keys() {
        assert!(wanted(S3Format::Lines, "", "a/b.log"));
        assert!(!wanted(S3Format::Lines, "", "a/"));
        assert!(!wanted(S3Format::S3Access, "", "x/aws-logs-write-test"));
        assert!(!wanted(S3Format::CloudwatchExport, "e", "e/notes.txt"));
        assert!(wanted(S3Format::CloudwatchExport, "e", "e/t/s/000000.gz"));
    }
}
