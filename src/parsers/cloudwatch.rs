//! `format: cloudwatch_subscription` and `format: cloudwatch_export`: the two
//! ways CloudWatch Logs hands its log events to other services.
//!
//! A **subscription** delivers gzip'd JSON batches (`{"messageType":…,
//! "logGroup":…, "logEvents":[…]}`) to Kinesis, Firehose or Lambda. One input
//! record becomes one event per `logEvents` entry, each with the log event's
//! own text as its new raw message and the batch's group, stream and account
//! as fields. Firehose writes its buffered records to S3 back to back, so one
//! object can hold several gzip members and, once decompressed, several JSON
//! objects with nothing between them; both are handled. `CONTROL_MESSAGE`
//! batches (CloudWatch checking that the destination is reachable) carry no
//! log data: they are dropped and counted in
//! `weir_cloudwatch_control_messages_total`.
//!
//! An **export** to S3 writes gzip'd text files of `TIMESTAMP MESSAGE` lines.
//! One input (a line, or a whole decompressed file) becomes one event per
//! timestamped line; lines that do not start with a timestamp continue the
//! previous event's message (log events may contain newlines, and the export
//! writes them raw).
//!
//! Both formats accept their input gzip'd or already decompressed (gzip is
//! recognised by its magic bytes), and refuse to inflate more than
//! `max_decompressed_bytes`, so a small hostile object cannot exhaust memory.

use std::io::Read;
use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;

use super::json::parse_value;
use super::rfc3339;
use super::{ParseError, Parsed, Parser};
use crate::codecs::lines::line_ranges;
use crate::event::{Event, Fields, Value};

/// The default bound on a payload's decompressed size: 64 MiB. CloudWatch
/// batches are at most about 1 MiB and Firehose objects at most 128 MiB of
/// *compressed* data in rare configurations; raise it for those.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

fn default_max_decompressed_bytes() -> u64 {
    DEFAULT_MAX_DECOMPRESSED_BYTES
}

/// Options of `format: cloudwatch_subscription`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudwatchSubscriptionOptions {
    /// Refuse payloads that decompress to more bytes than this.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: u64,
}

impl Default for CloudwatchSubscriptionOptions {
    fn default() -> Self {
        CloudwatchSubscriptionOptions {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

/// Options of `format: cloudwatch_export`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudwatchExportOptions {
    /// Refuse gzip'd input that decompresses to more bytes than this.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: u64,
}

impl Default for CloudwatchExportOptions {
    fn default() -> Self {
        CloudwatchExportOptions {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// Gzip layers peeled at most: Firehose with S3 compression enabled wraps
/// CloudWatch's gzip members in a second gzip stream; more is not seen.
const MAX_GZIP_LAYERS: usize = 3;

/// `input`, decompressed as long as it starts with the gzip magic bytes (up to
/// [`MAX_GZIP_LAYERS`] layers), every layer bounded by `max` bytes. Every gzip
/// member of a layer is read, not just the first.
fn gunzip_layers(input: &Bytes, max: u64) -> Result<Bytes, ParseError> {
    let mut data = input.clone();
    for _ in 0..MAX_GZIP_LAYERS {
        if !data.starts_with(GZIP_MAGIC) {
            break;
        }
        let mut out = Vec::with_capacity(data.len().saturating_mul(8).min(max as usize));
        MultiGzDecoder::new(&data[..])
            .take(max.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| ParseError::new(format!("invalid gzip data: {e}")))?;
        if out.len() as u64 > max {
            return Err(ParseError::new(format!(
                "the payload decompresses to more than {max} bytes \
                 (max_decompressed_bytes); refusing it as a possible gzip bomb"
            )));
        }
        data = Bytes::from(out);
    }
    Ok(data)
}

// ---------------------------------------------------------------------------
// Subscription payloads

/// Parses CloudWatch Logs subscription payloads into one record per log event.
#[derive(Debug)]
pub struct CloudwatchSubscriptionParser {
    max_decompressed_bytes: u64,
}

impl CloudwatchSubscriptionParser {
    pub fn new(options: CloudwatchSubscriptionOptions) -> Self {
        CloudwatchSubscriptionParser {
            max_decompressed_bytes: options.max_decompressed_bytes,
        }
    }
}

impl Parser for CloudwatchSubscriptionParser {
    /// All or nothing: if any batch of the payload is malformed, no record of
    /// it is emitted and the error names the batch, so the input event is
    /// tagged (or dead-lettered) whole rather than half delivered.
    fn parse(
        &self,
        input: &Bytes,
        _event: &Event,
        out: &mut Vec<Parsed>,
    ) -> Result<(), ParseError> {
        let first = out.len();
        let result = self.parse_all(input, out);
        if result.is_err() {
            out.truncate(first);
        }
        result
    }
}

impl CloudwatchSubscriptionParser {
    fn parse_all(&self, input: &Bytes, out: &mut Vec<Parsed>) -> Result<(), ParseError> {
        let data = gunzip_layers(input, self.max_decompressed_bytes)?;
        let mut pos = 0;
        let mut batches = 0;
        while let Some((start, end)) = next_json_object(&data, pos)? {
            let value = parse_value(&data.slice(start..end)).map_err(|e| {
                ParseError::new(format!(
                    "the JSON object at byte {start} of the payload: {}",
                    e.reason
                ))
            })?;
            batch_records(&value, start, out)?;
            batches += 1;
            pos = end;
        }
        if batches == 0 {
            return Err(ParseError::new(
                "expected a JSON object (a subscription batch), found an empty payload",
            ));
        }
        Ok(())
    }
}

/// The byte range of the next top-level JSON object at or after `from`
/// (whitespace between objects is skipped), or `None` at the end.
///
/// Only braces outside strings are counted; validating the object is left to
/// the JSON parser. This is what lets `{…}{…}{…}` (Firehose's concatenation
/// without delimiters) be read, where a plain JSON parser stops at the first.
fn next_json_object(b: &[u8], from: usize) -> Result<Option<(usize, usize)>, ParseError> {
    let mut i = from;
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    match b.get(i) {
        None => return Ok(None),
        Some(b'{') => {}
        Some(&c) => {
            let found = if c.is_ascii_graphic() {
                format!("`{}`", c as char)
            } else {
                format!("byte 0x{c:02X}")
            };
            return Err(ParseError::new(format!(
                "expected `{{` starting a JSON object at byte {i} of the \
                 (decompressed) payload, found {found}"
            )));
        }
    }
    let start = i;
    let mut depth = 0usize;
    while let Some(off) = memchr::memchr3(b'{', b'}', b'"', &b[i..]) {
        i += off;
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some((start, i + 1)));
                }
            }
            _ => {
                // Skip the string: to the next `"` not escaped by a backslash.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &b[i.min(b.len())..]) {
                        Some(o) if b[i + o] == b'\\' => i += o + 2,
                        Some(o) => {
                            i += o;
                            break;
                        }
                        None => {
                            i = b.len();
                            break;
                        }
                    }
                }
            }
        }
        i += 1;
        if i >= b.len() {
            break;
        }
    }
    Err(ParseError::new(format!(
        "the JSON object starting at byte {start} of the (decompressed) \
         payload is truncated: expected its closing `}}`"
    )))
}

const K_AWS: &[u8] = b"aws";
const K_CLOUDWATCH: &[u8] = b"cloudwatch";
const K_LOG_GROUP: &[u8] = b"log_group";
const K_LOG_STREAM: &[u8] = b"log_stream";
const K_ID: &[u8] = b"id";
const K_OWNER: &[u8] = b"owner";
const K_SUBSCRIPTION_FILTERS: &[u8] = b"subscription_filters";
const K_EXTRACTED_FIELDS: &[u8] = b"extracted_fields";
const K_CLOUD: &[u8] = b"cloud";
const K_PROVIDER: &[u8] = b"provider";
const K_ACCOUNT: &[u8] = b"account";

/// A string member of a batch or log event; present but not a string is an error.
fn opt_str(obj: &Fields, key: &str, ctx: &dyn Fn() -> String) -> Result<Option<Bytes>, ParseError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ParseError::new(format!(
            "expected `{key}` to be a string in {}, found {}",
            ctx(),
            other.type_name()
        ))),
    }
}

/// Appends the records of one decoded batch (the JSON object at byte `at`).
fn batch_records(batch: &Value, at: usize, out: &mut Vec<Parsed>) -> Result<(), ParseError> {
    let where_ = || format!("the JSON object at byte {at}");
    let Value::Object(batch) = batch else {
        return Err(ParseError::new(format!(
            "expected a JSON object at byte {at}"
        )));
    };
    match batch.get("messageType").and_then(Value::as_bytes) {
        Some(b"DATA_MESSAGE") => {}
        Some(b"CONTROL_MESSAGE") => {
            metrics::counter!("weir_cloudwatch_control_messages_total").increment(1);
            return Ok(());
        }
        other => {
            let found = match other {
                Some(t) => format!("`{}`", String::from_utf8_lossy(t)),
                None => "none".to_owned(),
            };
            return Err(ParseError::new(format!(
                "expected `messageType` `DATA_MESSAGE` or `CONTROL_MESSAGE` \
                 in {}, found {found}",
                where_()
            )));
        }
    }
    let owner = opt_str(batch, "owner", &where_)?;
    let log_group = opt_str(batch, "logGroup", &where_)?;
    let log_stream = opt_str(batch, "logStream", &where_)?;
    let filters = match batch.get("subscriptionFilters") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Array(items)) if items.iter().all(|i| i.as_bytes().is_some()) => {
            Some(v.clone())
        }
        Some(_) => {
            return Err(ParseError::new(format!(
                "expected `subscriptionFilters` to be an array of strings in {}",
                where_()
            )))
        }
    };
    let Some(Value::Array(events)) = batch.get("logEvents") else {
        return Err(ParseError::new(format!(
            "expected a `logEvents` array in {}",
            where_()
        )));
    };
    out.reserve(events.len());
    for (n, event) in events.iter().enumerate() {
        let where_event = || format!("logEvents[{n}] of the JSON object at byte {at}");
        let Value::Object(event) = event else {
            return Err(ParseError::new(format!(
                "expected an object in {}",
                where_event()
            )));
        };
        let Some(message) = opt_str(event, "message", &where_event)? else {
            return Err(ParseError::new(format!(
                "expected a `message` string in {}",
                where_event()
            )));
        };
        let id = match event.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::Str(s)) => Some(s.clone()),
            // The id is a ~56-digit decimal meant as an opaque string; a
            // producer that wrote it as a number gets it back as text (exact
            // while it fits an i64).
            Some(Value::Int(i)) => Some(Bytes::from(i.to_string())),
            Some(Value::Float(f)) if f.is_finite() && f.fract() == 0.0 => {
                Some(Bytes::from(format!("{f:.0}")))
            }
            Some(other) => {
                return Err(ParseError::new(format!(
                    "expected `id` to be a string in {}, found {}",
                    where_event(),
                    other.type_name()
                )))
            }
        };
        let timestamp = match event.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .filter(|_| !matches!(v, Value::Str(_)))
                    .and_then(DateTime::<Utc>::from_timestamp_millis)
                    .ok_or_else(|| {
                        ParseError::new(format!(
                            "expected `timestamp` to be milliseconds since the \
                             epoch in {}, found {}",
                            where_event(),
                            v.to_text()
                        ))
                    })?,
            ),
        };
        let extracted = match event.get("extractedFields") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(other) => {
                return Err(ParseError::new(format!(
                    "expected `extractedFields` to be an object in {}, found {}",
                    where_event(),
                    other.type_name()
                )))
            }
        };

        let mut cw = Fields::with_capacity(6);
        for (key, v) in [
            (K_LOG_GROUP, &log_group),
            (K_LOG_STREAM, &log_stream),
            (K_ID, &id),
            (K_OWNER, &owner),
        ] {
            if let Some(v) = v {
                cw.push_unchecked(key, Value::Str(v.clone()));
            }
        }
        if let Some(f) = &filters {
            cw.push_unchecked(K_SUBSCRIPTION_FILTERS, f.clone());
        }
        if let Some(x) = extracted {
            cw.push_unchecked(K_EXTRACTED_FIELDS, x);
        }
        let mut aws = Fields::with_capacity(1);
        aws.push_unchecked(K_CLOUDWATCH, Value::Object(cw));
        let mut cloud = Fields::with_capacity(2);
        cloud.push_unchecked(K_PROVIDER, Value::Str(Bytes::from_static(b"aws")));
        if let Some(owner) = &owner {
            let mut account = Fields::with_capacity(1);
            account.push_unchecked(K_ID, Value::Str(owner.clone()));
            cloud.push_unchecked(K_ACCOUNT, Value::Object(account));
        }
        let mut root = Fields::with_capacity(2);
        root.push_unchecked(K_AWS, Value::Object(aws));
        root.push_unchecked(K_CLOUD, Value::Object(cloud));
        out.push(Parsed {
            value: Value::Object(root),
            timestamp,
            message: Some(message),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Export files

/// Parses the `TIMESTAMP MESSAGE` lines of a CloudWatch Logs export to S3.
#[derive(Debug)]
pub struct CloudwatchExportParser {
    max_decompressed_bytes: u64,
}

impl CloudwatchExportParser {
    pub fn new(options: CloudwatchExportOptions) -> Self {
        CloudwatchExportParser {
            max_decompressed_bytes: options.max_decompressed_bytes,
        }
    }
}

/// The timestamp at the start of an export line and where its message
/// starts, if the line starts with `TIMESTAMP SP` (or is only a timestamp).
fn export_timestamp(line: &[u8]) -> Option<(DateTime<Utc>, usize)> {
    let (t, n) = rfc3339::parse_prefix(line, 9).ok()?;
    match line.get(n) {
        None => Some((t, n)),
        Some(b' ') => Some((t, n + 1)),
        Some(_) => None,
    }
}

impl Parser for CloudwatchExportParser {
    /// One record per line that starts with a timestamp; other lines continue
    /// the previous record's message. A first line without a timestamp is an
    /// error (and, like any error, no record of the input is emitted).
    fn parse(
        &self,
        input: &Bytes,
        _event: &Event,
        out: &mut Vec<Parsed>,
    ) -> Result<(), ParseError> {
        let data = gunzip_layers(input, self.max_decompressed_bytes)?;
        let first = out.len();
        // The record being built: timestamp, message start, message end.
        let mut current: Option<(DateTime<Utc>, usize, usize)> = None;
        let flush = |cur: Option<(DateTime<Utc>, usize, usize)>, out: &mut Vec<Parsed>| {
            if let Some((t, s, e)) = cur {
                out.push(Parsed {
                    value: Value::Object(Fields::new()),
                    timestamp: Some(t),
                    message: Some(data.slice(s..e)),
                });
            }
        };
        for Range { start: pos, end } in line_ranges(&data) {
            let line = &data[pos..end];
            if let Some((t, msg)) = export_timestamp(line) {
                flush(current.take(), out);
                current = Some((t, pos + msg, end));
            } else if let Some(cur) = current.as_mut() {
                // A continuation line: the message spans it (raw, with its LF).
                cur.2 = end;
            } else if !line.is_empty() {
                out.truncate(first);
                let why = rfc3339::parse_prefix(line, 9)
                    .err()
                    .map_or("a space after the timestamp", |e| e.expected);
                return Err(ParseError::new(format!(
                    "expected a line starting with an RFC 3339 timestamp and a space \
                     (`2015-09-06T01:00:00.000Z message`) at byte {pos}: {why}"
                )));
            }
        }
        flush(current.take(), out);
        if out.len() == first {
            return Err(ParseError::new(
                "expected a `TIMESTAMP MESSAGE` line, found an empty input",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use proptest::prelude::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    const DATA: &str = r#"{"messageType":"DATA_MESSAGE","owner":"111111111111","logGroup":"CloudTrail","logStream":"111111111111_CloudTrail_us-east-1","subscriptionFilters":["Destination"],"logEvents":[{"id":"31953106606966983378809025079804211143289615424298221568","timestamp":1432826855000,"message":"{\"eventVersion\":\"1.03\",\"userIdentity\":{\"type\":\"Root\"}}"}]}"#;
    const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1600110003794,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sub(input: &[u8]) -> Result<Vec<Parsed>, ParseError> {
        sub_with(CloudwatchSubscriptionOptions::default(), input)
    }

    fn sub_with(o: CloudwatchSubscriptionOptions, input: &[u8]) -> Result<Vec<Parsed>, ParseError> {
        let input = Bytes::copy_from_slice(input);
        let mut out = Vec::new();
        CloudwatchSubscriptionParser::new(o).parse(
            &input,
            &Event::new(input.clone(), Utc::now()),
            &mut out,
        )?;
        Ok(out)
    }

    fn export(input: &[u8]) -> Result<Vec<Parsed>, ParseError> {
        let input = Bytes::copy_from_slice(input);
        let mut out = Vec::new();
        CloudwatchExportParser::new(CloudwatchExportOptions::default()).parse(
            &input,
            &Event::new(input.clone(), Utc::now()),
            &mut out,
        )?;
        Ok(out)
    }

    fn s(p: &Parsed, path: &str) -> Option<String> {
        p.value
            .as_object()
            .unwrap()
            .get_path(&crate::event::Path::parse(path).unwrap())
            .map(|v| {
                v.as_str()
                    .unwrap_or_else(|| panic!("{path}: {v:?}"))
                    .to_owned()
            })
    }

    fn msg(p: &Parsed) -> &str {
        std::str::from_utf8(p.message.as_ref().unwrap()).unwrap()
    }

    /// Counts `weir_cloudwatch_control_messages_total` increments.
    #[derive(Default)]
    struct CountingRecorder(Arc<AtomicU64>);

    impl metrics::Recorder for CountingRecorder {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            if key.name() == "weir_cloudwatch_control_messages_total" {
                metrics::Counter::from_arc(self.0.clone())
            } else {
                metrics::Counter::noop()
            }
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn documented_data_message() {
        for input in [DATA.as_bytes().to_vec(), gzip(DATA.as_bytes())] {
            let out = sub(&input).unwrap();
            assert_eq!(out.len(), 1);
            let r = &out[0];
            assert_eq!(s(r, "aws.cloudwatch.log_group").unwrap(), "CloudTrail");
            assert_eq!(
                s(r, "aws.cloudwatch.log_stream").unwrap(),
                "111111111111_CloudTrail_us-east-1"
            );
            assert_eq!(
                s(r, "aws.cloudwatch.id").unwrap(),
                "31953106606966983378809025079804211143289615424298221568"
            );
            assert_eq!(s(r, "aws.cloudwatch.owner").unwrap(), "111111111111");
            assert_eq!(s(r, "cloud.account.id").unwrap(), "111111111111");
            assert_eq!(s(r, "cloud.provider").unwrap(), "aws");
            assert_eq!(
                s(r, "aws.cloudwatch.subscription_filters[0]").unwrap(),
                "Destination"
            );
            assert_eq!(
                r.timestamp
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "2015-05-28T15:27:35.000Z"
            );
            assert_eq!(
                msg(r),
                r#"{"eventVersion":"1.03","userIdentity":{"type":"Root"}}"#
            );
        }
    }

    #[test]
    fn control_messages_are_dropped_and_counted() {
        let recorder = CountingRecorder::default();
        let count = recorder.0.clone();
        let out =
            metrics::with_local_recorder(&recorder, || sub(&gzip(CONTROL.as_bytes())).unwrap());
        assert!(out.is_empty());
        assert_eq!(count.load(Ordering::Relaxed), 1);
        // Mixed with data in one concatenated payload: only data comes out.
        let payload = format!("{CONTROL}{DATA}{CONTROL}");
        let out = metrics::with_local_recorder(&recorder, || sub(payload.as_bytes()).unwrap());
        assert_eq!(out.len(), 1);
        assert_eq!(count.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn multi_member_gzip_and_concatenated_json() {
        // Firehose → S3: gzip members back to back, JSON objects with no separator.
        let second = DATA.replace("CloudTrail\"", "Other\"");
        let mut payload = gzip(DATA.as_bytes());
        payload.extend(gzip(second.as_bytes()));
        payload.extend(gzip(format!("{DATA}\n{DATA}").as_bytes()));
        let out = sub(&payload).unwrap();
        let groups: Vec<_> = out
            .iter()
            .map(|r| s(r, "aws.cloudwatch.log_group").unwrap())
            .collect();
        assert_eq!(groups, ["CloudTrail", "Other", "CloudTrail", "CloudTrail"]);
        // Gzip of gzip members (Firehose with S3 compression on as well).
        let out = sub(&gzip(&payload)).unwrap();
        assert_eq!(out.len(), 4);
        // Plain concatenated JSON with whitespace between objects.
        let out = sub(format!(" {DATA}\r\n\t{DATA} ").as_bytes()).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn unknown_keys_tolerated_and_extracted_fields_kept() {
        let payload = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"policyLevel":"ACCOUNT_LEVEL_POLICY","logEvents":[{"id":"1","timestamp":1,"message":"127.0.0.1 GET 200","extractedFields":{"ip":"127.0.0.1","status":"200"},"future":true},{"id":"2","timestamp":2,"message":"second"}]}"#;
        let out = sub(payload.as_bytes()).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            s(&out[0], "aws.cloudwatch.extracted_fields.ip").unwrap(),
            "127.0.0.1"
        );
        assert_eq!(
            s(&out[0], "aws.cloudwatch.extracted_fields.status").unwrap(),
            "200"
        );
        assert_eq!(s(&out[1], "aws.cloudwatch.extracted_fields.ip"), None);
        assert_eq!(msg(&out[1]), "second");
        assert_eq!(out[1].timestamp.unwrap().timestamp_millis(), 2);
    }

    #[test]
    fn ids_stay_strings() {
        let payload = r#"{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s","logEvents":[{"id":12345,"timestamp":0,"message":"m"},{"id":"000123","message":"n"}]}"#;
        let out = sub(payload.as_bytes()).unwrap();
        assert_eq!(s(&out[0], "aws.cloudwatch.id").unwrap(), "12345");
        assert_eq!(s(&out[1], "aws.cloudwatch.id").unwrap(), "000123");
        assert!(out[1].timestamp.is_none());
        // No owner: no cloud.account.
        assert_eq!(s(&out[0], "cloud.account.id"), None);
    }

    #[test]
    fn messages_are_slices_of_the_decompressed_payload() {
        let out = sub(DATA
            .replace(
                r#"{\"eventVersion\":\"1.03\",\"userIdentity\":{\"type\":\"Root\"}}"#,
                "plain text",
            )
            .as_bytes())
        .unwrap();
        assert_eq!(msg(&out[0]), "plain text");
    }

    #[test]
    fn gzip_bombs_are_refused() {
        let zeros = gzip(&vec![b' '; 1 << 20]);
        let e = sub_with(
            CloudwatchSubscriptionOptions {
                max_decompressed_bytes: 1000,
            },
            &zeros,
        )
        .unwrap_err();
        assert!(e.reason.contains("more than 1000 bytes"), "{e}");
        assert!(e.reason.contains("max_decompressed_bytes"), "{e}");
        // Exactly at the limit is fine.
        let exact = gzip(DATA.as_bytes());
        assert!(sub_with(
            CloudwatchSubscriptionOptions {
                max_decompressed_bytes: DATA.len() as u64
            },
            &exact
        )
        .is_ok());
    }

    #[test]
    fn subscription_errors_say_what_and_where() {
        let e = sub(b"").unwrap_err();
        assert!(e.reason.contains("empty payload"), "{e}");
        let e = sub(b"\x1f\x8bnot gzip").unwrap_err();
        assert!(e.reason.contains("invalid gzip data"), "{e}");
        let e = sub(format!("{DATA}x").as_bytes()).unwrap_err();
        let want = format!(
            "expected `{{` starting a JSON object at byte {} of the (decompressed) payload, found `x`",
            DATA.len()
        );
        assert!(e.reason.contains(&want), "{e}");
        let e = sub(&DATA.as_bytes()[..40]).unwrap_err();
        assert!(
            e.reason.contains("starting at byte 0") && e.reason.contains("truncated"),
            "{e}"
        );
        let e = sub(br#"{"messageType":"DATA_MESSAGE"}"#).unwrap_err();
        assert!(
            e.reason
                .contains("expected a `logEvents` array in the JSON object at byte 0"),
            "{e}"
        );
        let e = sub(br#"{"logEvents":[]}"#).unwrap_err();
        assert!(
            e.reason.contains("`messageType`") && e.reason.contains("found none"),
            "{e}"
        );
        let e = sub(format!(r#"{DATA} {{"messageType":"DATA_MESSAGE","logEvents":[{{"message":"m","timestamp":"soon"}}]}}"#).as_bytes()).unwrap_err();
        assert!(
            e.reason.contains(&format!(
                "logEvents[0] of the JSON object at byte {}",
                DATA.len() + 1
            )),
            "{e}"
        );
        assert!(e.reason.contains("milliseconds"), "{e}");
        let e = sub(br#"{"messageType":"DATA_MESSAGE","logGroup":5,"logEvents":[]}"#).unwrap_err();
        assert!(
            e.reason.contains("expected `logGroup` to be a string") && e.reason.contains("integer"),
            "{e}"
        );
        let e = sub(br#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1"}]}"#).unwrap_err();
        assert!(
            e.reason
                .contains("expected a `message` string in logEvents[0]"),
            "{e}"
        );
        let e = sub(
            br#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"m","extractedFields":[]}]}"#,
        )
        .unwrap_err();
        assert!(
            e.reason.contains("`extractedFields` to be an object"),
            "{e}"
        );
        let e = sub(br#"{"messageType":"DATA_MESSAGE","logEvents":[1]}"#).unwrap_err();
        assert!(
            e.reason.contains("expected an object in logEvents[0]"),
            "{e}"
        );
        let e = sub(br#"{"a":"\"}"}{"b""#).unwrap_err();
        assert!(e.reason.contains("`messageType`"), "{e}");
    }

    #[test]
    fn a_bad_batch_emits_nothing() {
        let payload = format!("{DATA}{{\"messageType\":\"OTHER\"}}");
        let input = Bytes::from(payload);
        let mut out = vec![Parsed::default()];
        let r = CloudwatchSubscriptionParser::new(Default::default()).parse(
            &input,
            &Event::new(input.clone(), Utc::now()),
            &mut out,
        );
        assert!(r.is_err());
        assert_eq!(out.len(), 1, "records of the good batch must be withdrawn");
    }

    #[test]
    fn options_from_yaml() {
        let node = crate::config::yaml::parse("max_decompressed_bytes: 1048576\n").unwrap();
        let o: CloudwatchSubscriptionOptions = crate::config::from_node(&node).unwrap();
        assert_eq!(o.max_decompressed_bytes, 1 << 20);
        let node = crate::config::yaml::parse("{}").unwrap();
        let o: CloudwatchExportOptions = crate::config::from_node(&node).unwrap();
        assert_eq!(o.max_decompressed_bytes, DEFAULT_MAX_DECOMPRESSED_BYTES);
        let node = crate::config::yaml::parse("policy: x\n").unwrap();
        assert!(crate::config::from_node::<CloudwatchSubscriptionOptions>(&node).is_err());
    }

    // --- export -----------------------------------------------------------

    #[test]
    fn export_lines() {
        let out = export(b"2015-09-06T01:00:00.000Z first message text").unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0]
                .timestamp
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2015-09-06T01:00:00.000Z"
        );
        assert_eq!(msg(&out[0]), "first message text");
        assert_eq!(out[0].value, Value::Object(Fields::new()));
        let out = export(br#"2015-09-06T01:00:01.250Z {"level":"info","msg":"json payloads are written verbatim"}"#).unwrap();
        assert_eq!(out[0].timestamp.unwrap().timestamp_subsec_millis(), 250);
        assert_eq!(
            msg(&out[0]),
            r#"{"level":"info","msg":"json payloads are written verbatim"}"#
        );
        // Empty message.
        assert_eq!(msg(&export(b"2015-09-06T01:00:00.000Z ").unwrap()[0]), "");
        assert_eq!(msg(&export(b"2015-09-06T01:00:00.000Z").unwrap()[0]), "");
    }

    #[test]
    fn export_whole_files_with_continuations() {
        let file = b"2015-09-06T01:00:00.000Z first\r\n2015-09-06T01:00:01.000Z Traceback:\n  line 1\n  line 2\n\n2015-09-06T00:59:00.000Z earlier\n";
        for input in [file.to_vec(), gzip(file)] {
            let out = export(&input).unwrap();
            let msgs: Vec<_> = out.iter().map(msg).collect();
            assert_eq!(
                msgs,
                ["first", "Traceback:\n  line 1\n  line 2\n", "earlier"]
            );
            // Not time-sorted: each keeps its own time.
            assert!(out[2].timestamp < out[0].timestamp);
        }
    }

    #[test]
    fn export_errors() {
        let e = export(b"Permission Check Successful").unwrap_err();
        assert!(
            e.reason
                .contains("expected a line starting with an RFC 3339 timestamp"),
            "{e}"
        );
        assert!(e.reason.contains("at byte 0"), "{e}");
        let e = export(b"2015-09-06T01:00:00.000Zmessage").unwrap_err();
        assert!(
            e.reason.contains("a time offset") || e.reason.contains("a space"),
            "{e}"
        );
        let e = export(b"").unwrap_err();
        assert!(e.reason.contains("empty input"), "{e}");
        let e = export(b"\n\n").unwrap_err();
        assert!(e.reason.contains("empty input"), "{e}");
        let e = export(b"2015-13-06T01:00:00.000Z x").unwrap_err();
        assert!(e.reason.contains("a month from 01 to 12"), "{e}");
    }

    // --- properties ---------------------------------------------------------

    fn log_event() -> impl Strategy<Value = (String, i64, String)> {
        ("[0-9]{1,56}", 0i64..4_102_444_800_000, "\\PC{0,30}")
    }

    proptest! {
        #[test]
        fn subscription_render_then_parse(
            batches in prop::collection::vec(
                ("[0-9]{12}", "[/a-zA-Z0-9_.-]{1,30}", "[a-zA-Z0-9_/$\\[\\]-]{1,30}", prop::collection::vec(log_event(), 1..5), any::<bool>()),
                1..4,
            ),
            gzip_each in any::<bool>(),
            gzip_all in any::<bool>(),
        ) {
            let mut payload = Vec::new();
            for (owner, group, stream, events, control) in &batches {
                let doc = serde_json::json!({
                    "messageType": if *control { "CONTROL_MESSAGE" } else { "DATA_MESSAGE" },
                    "owner": owner, "logGroup": group, "logStream": stream,
                    "subscriptionFilters": ["f"],
                    "logEvents": events.iter().map(|(id, ts, m)| serde_json::json!({"id": id, "timestamp": ts, "message": m})).collect::<Vec<_>>(),
                });
                let text = serde_json::to_vec(&doc).unwrap();
                if gzip_each { payload.extend(gzip(&text)) } else { payload.extend(text) }
            }
            if gzip_all { payload = gzip(&payload); }
            let out = sub(&payload).map_err(|e| TestCaseError::fail(e.reason))?;
            let want: Vec<_> = batches.iter().filter(|b| !b.4).flat_map(|(owner, group, stream, events, _)| {
                events.iter().map(move |(id, ts, m)| (owner.clone(), group.clone(), stream.clone(), id.clone(), *ts, m.clone()))
            }).collect();
            prop_assert_eq!(out.len(), want.len());
            for (r, (owner, group, stream, id, ts, m)) in out.iter().zip(want) {
                prop_assert_eq!(s(r, "cloud.account.id"), Some(owner));
                prop_assert_eq!(s(r, "aws.cloudwatch.log_group"), Some(group));
                prop_assert_eq!(s(r, "aws.cloudwatch.log_stream"), Some(stream));
                prop_assert_eq!(s(r, "aws.cloudwatch.id"), Some(id));
                prop_assert_eq!(r.timestamp.unwrap().timestamp_millis(), ts);
                prop_assert_eq!(msg(r), m);
            }
        }

        #[test]
        fn export_render_then_parse(events in prop::collection::vec((0i64..253_402_300_799_000, "[^\r\n]{0,30}"), 1..6)) {
            let mut file = String::new();
            for (ms, m) in &events {
                let t = DateTime::from_timestamp_millis(*ms).unwrap();
                file.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                file.push(' ');
                file.push_str(m);
                file.push('\n');
            }
            let out = export(file.as_bytes()).map_err(|e| TestCaseError::fail(e.reason))?;
            prop_assert_eq!(out.len(), events.len());
            for (r, (ms, m)) in out.iter().zip(&events) {
                prop_assert_eq!(r.timestamp.unwrap().timestamp_millis(), *ms);
                prop_assert_eq!(msg(r), m.as_str());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), gz in any::<bool>()) {
            let mut input = bytes.clone();
            if gz { input.splice(0..0, GZIP_MAGIC.iter().copied()); }
            let _ = sub(&input);
            let _ = export(&input);
            let _ = sub(&gzip(&bytes));
            let _ = export(&gzip(&bytes));
        }

        #[test]
        fn truncated_payloads_never_panic(cut in 0usize..400) {
            let doc = format!("{DATA}{CONTROL}");
            let _ = sub(&doc.as_bytes()[..cut.min(doc.len())]);
            let gz = gzip(doc.as_bytes());
            let _ = sub(&gz[..cut.min(gz.len())]);
        }
    }
}
