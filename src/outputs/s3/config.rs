//! The `s3` output's options: what a pipeline file may say, the defaults, and
//! the checks that run before anything starts, each error pointing at the
//! offending line and column.

use std::time::Duration;

use aws_sdk_s3::types::StorageClass;
use serde::Deserialize;

use crate::aws::AwsSettings;
use crate::config::duration::deserialize_duration;
use crate::config::size::ByteSize;
use crate::config::{from_node, DeError, Node};
use crate::event::Template;
use crate::outputs::stdout::Encoding;

/// S3's smallest part (all but the last part of a multipart upload).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// S3's most parts per multipart upload.
pub const MAX_PARTS: u64 = 10_000;
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 100 * 1024 * 1024;
pub const DEFAULT_PART_BYTES: u64 = 8 * 1024 * 1024;
/// Like Vector's `aws_s3` sink (`batch.timeout_secs: 300`).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_OPEN_OBJECTS: usize = 64;
/// gzip's own default: archives are written once and kept long.
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 6;
pub const DEFAULT_RETRY_INITIAL_BACKOFF: Duration = Duration::from_millis(200);
pub const DEFAULT_RETRY_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Generous: an 8 MiB part over a slow uplink takes a while, and a request
/// cut short is simply retried.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The options as written in the pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3OutputConfig {
    pub bucket: String,
    #[serde(default = "default_key_prefix")]
    pub key_prefix: Template,
    #[serde(default)]
    pub encoding: Encoding,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default = "default_compression_level")]
    pub compression_level: u32,
    #[serde(default = "default_max_object_bytes")]
    pub max_object_bytes: ByteSize,
    #[serde(default)]
    pub max_events: Option<u64>,
    #[serde(default = "default_max_age", deserialize_with = "deserialize_duration")]
    pub max_age: Duration,
    #[serde(default = "default_part_bytes")]
    pub multipart_part_bytes: ByteSize,
    #[serde(default = "default_max_open_objects")]
    pub max_open_objects: usize,
    #[serde(default)]
    pub storage_class: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub force_path_style: bool,
    /// Retries of one request before the object is given up; unset: forever.
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(
        default = "default_retry_initial_backoff",
        deserialize_with = "deserialize_duration"
    )]
    pub retry_initial_backoff: Duration,
    #[serde(
        default = "default_retry_max_backoff",
        deserialize_with = "deserialize_duration"
    )]
    pub retry_max_backoff: Duration,
    /// One request without an answer by then is abandoned and retried.
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Gzip,
    None,
}

fn default_key_prefix() -> Template {
    // An empty template has no parts; it cannot fail to parse.
    Template::parse("", true).unwrap_or_else(|_| unreachable!("empty template"))
}
fn default_compression_level() -> u32 {
    DEFAULT_COMPRESSION_LEVEL
}
fn default_max_object_bytes() -> ByteSize {
    ByteSize(DEFAULT_MAX_OBJECT_BYTES)
}
fn default_max_age() -> Duration {
    DEFAULT_MAX_AGE
}
fn default_part_bytes() -> ByteSize {
    ByteSize(DEFAULT_PART_BYTES)
}
fn default_max_open_objects() -> usize {
    DEFAULT_MAX_OPEN_OBJECTS
}
fn default_retry_initial_backoff() -> Duration {
    DEFAULT_RETRY_INITIAL_BACKOFF
}
fn default_retry_max_backoff() -> Duration {
    DEFAULT_RETRY_MAX_BACKOFF
}
fn default_request_timeout() -> Duration {
    DEFAULT_REQUEST_TIMEOUT
}

/// Everything the output needs at run time, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bucket: String,
    pub key_prefix: Template,
    pub encoding: Encoding,
    /// gzip level, `None` for no compression.
    pub gzip_level: Option<u32>,
    pub max_object_bytes: u64,
    pub max_events: Option<u64>,
    pub max_age: Duration,
    pub part_bytes: usize,
    pub max_open_objects: usize,
    pub storage_class: Option<StorageClass>,
    pub content_type: String,
    pub aws: AwsSettings,
    pub max_retries: Option<u32>,
    pub retry_initial_backoff: Duration,
    pub retry_max_backoff: Duration,
    pub request_timeout: Duration,
}

fn err_at(node: &Node, key: &str, message: impl Into<String>) -> DeError {
    DeError {
        message: message.into(),
        loc: Some(node.get(key).map_or(node.loc, |n| n.loc)),
    }
}

/// Reads and checks the options (`type` and the common output keys removed).
pub fn load(node: &Node) -> Result<Settings, DeError> {
    let raw: S3OutputConfig = from_node(node)?;
    raw.check(node)
}

/// S3's bucket naming rules, as far as they can go wrong in a config file.
fn check_bucket(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !(3..=63).contains(&name.len()) || !ok_chars {
        return Err(format!(
            "bucket `{name}` is not an S3 bucket name (3 to 63 characters: lowercase letters, \
             digits, `.` and `-`); put key prefixes in `key_prefix`"
        ));
    }
    Ok(())
}

impl S3OutputConfig {
    /// Turns the raw options into [`Settings`]; `node` locates errors.
    pub fn check(self, node: &Node) -> Result<Settings, DeError> {
        check_bucket(&self.bucket).map_err(|m| err_at(node, "bucket", m))?;
        if self.key_prefix.as_str().starts_with('/') {
            return Err(err_at(
                node,
                "key_prefix",
                format!(
                    "key_prefix `{}` starts with `/`: S3 keys have no leading slash \
                     (write e.g. `logs/%Y/%m/%d/`)",
                    self.key_prefix.as_str()
                ),
            ));
        }
        if self.compression_level > 9 {
            return Err(err_at(
                node,
                "compression_level",
                format!(
                    "compression_level {} is out of range: 0 (store) to 9 (smallest)",
                    self.compression_level
                ),
            ));
        }
        let part = self.multipart_part_bytes.0;
        if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&part) {
            return Err(err_at(
                node,
                "multipart_part_bytes",
                format!("multipart_part_bytes {part} is out of range: S3 parts are 5MiB to 5GiB"),
            ));
        }
        let max_bytes = self.max_object_bytes.0;
        if max_bytes == 0 {
            return Err(err_at(
                node,
                "max_object_bytes",
                "max_object_bytes must be at least 1 byte",
            ));
        }
        // One part more than the limit divides into: an object is closed
        // once it reaches the limit, so the last part may spill over it.
        if max_bytes / part + 1 > MAX_PARTS {
            return Err(err_at(
                node,
                "max_object_bytes",
                format!(
                    "max_object_bytes {max_bytes} needs more than {MAX_PARTS} parts of \
                     multipart_part_bytes {part}; raise multipart_part_bytes"
                ),
            ));
        }
        if self.max_events == Some(0) {
            return Err(err_at(
                node,
                "max_events",
                "max_events must be at least 1 (leave it out for no limit)",
            ));
        }
        if self.max_age.is_zero() {
            return Err(err_at(
                node,
                "max_age",
                "max_age must be more than 0 (e.g. `5m`)",
            ));
        }
        if self.max_open_objects == 0 {
            return Err(err_at(
                node,
                "max_open_objects",
                "max_open_objects must be at least 1",
            ));
        }
        if self.retry_initial_backoff.is_zero() {
            return Err(err_at(
                node,
                "retry_initial_backoff",
                "retry_initial_backoff must be more than 0",
            ));
        }
        if self.retry_max_backoff < self.retry_initial_backoff {
            return Err(err_at(
                node,
                "retry_max_backoff",
                "retry_max_backoff must not be less than retry_initial_backoff",
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(err_at(
                node,
                "request_timeout",
                "request_timeout must be more than 0 (e.g. `2m`)",
            ));
        }
        let storage_class = match &self.storage_class {
            None => None,
            Some(name) => {
                if !StorageClass::values().contains(&name.as_str()) {
                    return Err(err_at(
                        node,
                        "storage_class",
                        format!(
                            "unknown storage_class `{name}`; expected one of: {}",
                            StorageClass::values().join(", ")
                        ),
                    ));
                }
                Some(StorageClass::from(name.as_str()))
            }
        };
        if let Some(ct) = &self.content_type {
            if ct.trim().is_empty() || ct.chars().any(|c| c.is_control()) {
                return Err(err_at(
                    node,
                    "content_type",
                    format!("content_type `{ct}` is not a media type such as `text/plain`"),
                ));
            }
        }
        // Empty means unset, so `endpoint: ${S3_ENDPOINT:-}` works.
        let aws = AwsSettings::from_options(&self.region, &self.endpoint, self.force_path_style);
        if let Err(m) = aws.validate() {
            let key = if m.starts_with("endpoint") {
                "endpoint"
            } else {
                "region"
            };
            return Err(err_at(node, key, m));
        }
        let content_type = self.content_type.clone().unwrap_or_else(|| {
            match self.encoding {
                Encoding::Json => "application/x-ndjson",
                Encoding::Text => "text/plain; charset=utf-8",
            }
            .to_owned()
        });
        Ok(Settings {
            bucket: self.bucket,
            key_prefix: self.key_prefix,
            encoding: self.encoding,
            gzip_level: match self.compression {
                Compression::Gzip => Some(self.compression_level),
                Compression::None => None,
            },
            max_object_bytes: max_bytes,
            max_events: self.max_events,
            max_age: self.max_age,
            part_bytes: usize::try_from(part).unwrap_or(usize::MAX),
            max_open_objects: self.max_open_objects,
            storage_class,
            content_type,
            aws,
            max_retries: self.max_retries,
            retry_initial_backoff: self.retry_initial_backoff,
            retry_max_backoff: self.retry_max_backoff,
            request_timeout: self.request_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn load_yaml(text: &str) -> Result<Settings, DeError> {
        let node = yaml::parse(text).expect("yaml");
        load(&node)
    }

    #[test]
    fn defaults() {
        let s = load_yaml("bucket: my-archive\n").unwrap();
        assert_eq!(s.bucket, "my-archive");
        assert_eq!(s.key_prefix.as_str(), "");
        assert_eq!(s.encoding, Encoding::Json);
        assert_eq!(s.gzip_level, Some(6));
        assert_eq!(s.max_object_bytes, 100 << 20);
        assert_eq!(s.max_events, None);
        assert_eq!(s.max_age, Duration::from_secs(300));
        assert_eq!(s.part_bytes, 8 << 20);
        assert_eq!(s.content_type, "application/x-ndjson");
        assert_eq!(s.max_retries, None);
        assert_eq!(s.request_timeout, Duration::from_secs(120));
    }

    #[test]
    fn options() {
        let s = load_yaml(
            "bucket: b.example\nkey_prefix: 'logs/%Y/%{app}/'\nencoding: text\ncompression: none\n\
             max_object_bytes: 10KiB\nmax_events: 100\nmax_age: 2s\nmultipart_part_bytes: 5MiB\n\
             storage_class: STANDARD_IA\nregion: eu-west-1\nendpoint: http://127.0.0.1:5000\n\
             force_path_style: true\nmax_retries: 3\n",
        )
        .unwrap();
        assert_eq!(s.gzip_level, None);
        assert_eq!(s.max_object_bytes, 10 * 1024);
        assert_eq!(s.max_events, Some(100));
        assert_eq!(s.max_age, Duration::from_secs(2));
        assert_eq!(s.part_bytes, 5 << 20);
        assert_eq!(s.storage_class, Some(StorageClass::StandardIa));
        assert_eq!(s.content_type, "text/plain; charset=utf-8");
        assert!(s.aws.force_path_style);
        assert_eq!(s.max_retries, Some(3));
    }

    #[test]
    fn errors_name_the_option_and_its_place() {
        let cases = [
            ("bucket: ok-bucket\nmultipart_part_bytes: 1MiB\n", "5MiB to 5GiB", 2),
            ("bucket: My_Bucket\n", "not an S3 bucket name", 1),
            ("bucket: ok-bucket\nkey_prefix: /logs/\n", "leading slash", 2),
            ("bucket: ok-bucket\nstorage_class: COLD\n", "unknown storage_class", 2),
            ("bucket: ok-bucket\nmax_events: 0\n", "max_events", 2),
            ("bucket: ok-bucket\nmax_age: 0s\n", "max_age", 2),
            ("bucket: ok-bucket\nendpoint: localhost:9000\n", "not a URL", 2),
            ("bucket: ok-bucket\ncompression: zstd\n", "unknown variant `zstd`", 2),
            ("bucket: ok-bucket\nbukket: x\n", "unknown field `bukket`", 2),
            ("key_prefix: x/\n", "missing field `bucket`", 1),
            (
                "bucket: ok-bucket\nmax_object_bytes: 1GiB\nmultipart_part_bytes: 5MiB\nmax_age: 1m\n\
                 max_object_bytes_x: 1\n",
                "unknown field",
                5,
            ),
            (
                "bucket: ok-bucket\nmax_object_bytes: 100GiB\nmultipart_part_bytes: 5MiB\n",
                "10000 parts",
                2,
            ),
        ];
        for (text, want, line) in cases {
            let err = load_yaml(text).unwrap_err();
            assert!(err.message.contains(want), "{text}: {}", err.message);
            let loc = err.loc.expect("located");
            assert_eq!(loc.line, line, "{text}: {}", err.message);
        }
    }
}
