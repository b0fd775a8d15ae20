//! Turning one Kinesis record into events, by the input's `format`.
//!
//! Every record is first de-aggregated ([`super::kpl`]); each user record is
//! then decoded:
//!
//! - `cloudwatch_subscription`: a gzip'd CloudWatch Logs batch, one event per
//!   log event (the shared parser of `src/parsers/cloudwatch.rs`);
//!   `CONTROL_MESSAGE` batches yield none.
//! - `json`: one event per user record; the pipeline parses it as JSON.
//! - `lines`: one event per line of the user record.
//!
//! For `json` and `lines`, gzip'd data (magic `1f 8b`) is decompressed first.
//!
//! Every event carries `aws.kinesis.{stream,shard_id,sequence_number,
//! partition_key,approximate_arrival_timestamp}`; `meta.origin` is
//! `<stream>/<shard id>` and `meta.position` is the record's sequence number
//! with `sub` = the event's ordinal among *all* events decoded from that
//! Kinesis record (KPL user records and log events or lines counted
//! together). Decoding is deterministic, so a replayed record yields the same
//! `(origin, sequence, sub)` triples, and no two events of a stream share one:
//! `id: auto_source` never collides and never changes on replay.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;
use serde::Deserialize;

use super::kpl;
use crate::codecs::lines::line_ranges;
use crate::event::{Event, Fields, Position, Value, TAG_PARSE_FAILURE};
use crate::parsers::cloudwatch::{CloudwatchSubscriptionOptions, CloudwatchSubscriptionParser};
use crate::parsers::{Parsed, Parser};

/// How record data becomes events (`format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    CloudwatchSubscription,
    Json,
    #[default]
    Lines,
}

/// Decompressed bytes bounded per user record (as the CloudWatch parser).
const MAX_DECOMPRESSED: u64 = crate::parsers::cloudwatch::DEFAULT_MAX_DECOMPRESSED_BYTES;

/// One record as read from a shard.
pub struct Record<'a> {
    pub sequence: &'a str,
    pub partition_key: Option<&'a str>,
    pub arrival: Option<DateTime<Utc>>,
    pub data: Bytes,
}

/// Decodes records of one shard.
#[derive(Debug)]
pub struct Decoder {
    format: Format,
    stream: Bytes,
    shard_id: Bytes,
    origin: Arc<str>,
    cloudwatch: CloudwatchSubscriptionParser,
}

impl Decoder {
    pub fn new(format: Format, stream: &str, shard_id: &str) -> Self {
        Decoder {
            format,
            stream: Bytes::copy_from_slice(stream.as_bytes()),
            shard_id: Bytes::copy_from_slice(shard_id.as_bytes()),
            origin: Arc::from(format!("{stream}/{shard_id}")),
            cloudwatch: CloudwatchSubscriptionParser::new(CloudwatchSubscriptionOptions::default()),
        }
    }

    /// Appends the events of `record` to `out`; returns how many.
    pub fn decode(&self, record: &Record<'_>, now: DateTime<Utc>, out: &mut Vec<Event>) -> usize {
        let first = out.len();
        let sequence = Bytes::copy_from_slice(record.sequence.as_bytes());
        let mut sub = 0u32;
        let users = kpl::deaggregate(&record.data);
        let single;
        let users: &[kpl::UserRecord] = match &users {
            Some(u) => u,
            None => {
                single = [kpl::UserRecord {
                    data: record.data.clone(),
                    partition_key: record
                        .partition_key
                        .map(|k| Bytes::copy_from_slice(k.as_bytes())),
                    explicit_hash_key: None,
                }];
                &single
            }
        };
        for user in users {
            let kinesis = self.fields(record, &sequence, user.partition_key.as_ref());
            let time = record.arrival.unwrap_or(now);
            let mut emit = |message: Bytes, parsed: Option<Parsed>, failure: Option<String>| {
                let mut event = Event::new(message, now);
                event.timestamp = time;
                event.fields = kinesis.clone();
                if let Some(p) = parsed {
                    if let Some(t) = p.timestamp {
                        event.timestamp = t;
                    }
                    if let Value::Object(f) = p.value {
                        event.fields.merge(f);
                    }
                    if let Some(m) = p.message {
                        event.message = m;
                    }
                }
                if let Some(reason) = failure {
                    event.mark_failure(TAG_PARSE_FAILURE, reason);
                }
                event.meta.origin = Some(self.origin.clone());
                event.meta.position = Position::Sequence {
                    sequence: sequence.clone(),
                    sub,
                };
                sub = sub.wrapping_add(1);
                out.push(event);
            };
            match self.format {
                Format::CloudwatchSubscription => {
                    let mut parsed = Vec::new();
                    let probe = Event::new(Bytes::new(), now);
                    match self.cloudwatch.parse(&user.data, &probe, &mut parsed) {
                        Ok(()) => {
                            for p in parsed {
                                emit(Bytes::new(), Some(p), None);
                            }
                        }
                        Err(e) => emit(
                            user.data.clone(),
                            None,
                            Some(format!("cloudwatch_subscription: {}", e.reason)),
                        ),
                    }
                }
                Format::Json => match gunzip(&user.data) {
                    Ok(data) => emit(data, None, None),
                    Err(reason) => emit(user.data.clone(), None, Some(reason)),
                },
                Format::Lines => match gunzip(&user.data) {
                    Ok(data) => {
                        for line in lines(&data) {
                            emit(line, None, None);
                        }
                    }
                    Err(reason) => emit(user.data.clone(), None, Some(reason)),
                },
            }
        }
        out.len() - first
    }

    /// The `aws.kinesis.*` fields shared by every event of a user record.
    fn fields(&self, record: &Record<'_>, sequence: &Bytes, pk: Option<&Bytes>) -> Fields {
        let mut k = Fields::with_capacity(5);
        k.push_unchecked("stream", Value::Str(self.stream.clone()));
        k.push_unchecked("shard_id", Value::Str(self.shard_id.clone()));
        k.push_unchecked("sequence_number", Value::Str(sequence.clone()));
        if let Some(pk) = pk {
            k.push_unchecked("partition_key", Value::Str(pk.clone()));
        }
        if let Some(t) = record.arrival {
            k.push_unchecked("approximate_arrival_timestamp", Value::Timestamp(t));
        }
        let mut aws = Fields::with_capacity(1);
        aws.push_unchecked("kinesis", Value::Object(k));
        let mut root = Fields::with_capacity(1);
        root.push_unchecked("aws", Value::Object(aws));
        root
    }
}

/// `data` decompressed if it starts with the gzip magic bytes (every member,
/// bounded), else as is.
fn gunzip(data: &Bytes) -> Result<Bytes, String> {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return Ok(data.clone());
    }
    let mut out = Vec::with_capacity(data.len() * 4);
    MultiGzDecoder::new(&data[..])
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("kinesis: the record starts like gzip but is not valid gzip: {e}"))?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(format!(
            "kinesis: the record decompresses to more than {MAX_DECOMPRESSED} bytes; refusing it"
        ));
    }
    Ok(Bytes::from(out))
}

/// The lines of `data` ([`line_ranges`]: LF or CRLF, without a trailing
/// empty line). A record without any newline is one line; an empty record is
/// one empty event, so no record ever vanishes unseen.
fn lines(data: &Bytes) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = line_ranges(data).map(|r| data.slice(r)).collect();
    if out.is_empty() {
        out.push(data.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Path;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn decode(format: Format, data: &[u8]) -> Vec<Event> {
        let d = Decoder::new(format, "logs", "shardId-000000000001");
        let mut out = Vec::new();
        let arrival = DateTime::from_timestamp_millis(1_700_000_000_123);
        let rec = Record {
            sequence: "42",
            partition_key: Some("pk"),
            arrival,
            data: Bytes::copy_from_slice(data),
        };
        d.decode(&rec, Utc::now(), &mut out);
        out
    }

    fn s(e: &Event, path: &str) -> Option<String> {
        e.fields
            .get_path(&Path::parse(path).unwrap())
            .and_then(|v| {
                v.as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            })
    }

    fn subs(events: &[Event]) -> Vec<u32> {
        events
            .iter()
            .map(|e| match &e.meta.position {
                Position::Sequence { sequence, sub } => {
                    assert_eq!(&sequence[..], b"42");
                    *sub
                }
                p => panic!("{p:?}"),
            })
            .collect()
    }

    #[test]
    fn cloudwatch_batches() {
        let batch = br#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app","logStream":"s1","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1432826855000,"message":"one"},{"id":2,"timestamp":1432826856000,"message":"two"}]}"#;
        let control = br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}]}"#;
        let out = decode(Format::CloudwatchSubscription, &gzip(batch));
        assert_eq!(out.len(), 2);
        assert_eq!(&out[1].message[..], b"two");
        assert_eq!(
            s(&out[0], "aws.cloudwatch.log_group").as_deref(),
            Some("/app")
        );
        assert_eq!(s(&out[1], "aws.cloudwatch.id").as_deref(), Some("2"));
        assert_eq!(
            s(&out[0], "aws.kinesis.shard_id").as_deref(),
            Some("shardId-000000000001")
        );
        assert_eq!(
            s(&out[0], "aws.kinesis.sequence_number").as_deref(),
            Some("42")
        );
        assert_eq!(out[1].timestamp.timestamp_millis(), 1432826856000);
        assert_eq!(
            out[0].meta.origin.as_deref(),
            Some("logs/shardId-000000000001")
        );
        assert_eq!(subs(&out), [0, 1]);
        assert!(decode(Format::CloudwatchSubscription, &gzip(control)).is_empty());
        // Not a batch: kept, tagged.
        let bad = decode(Format::CloudwatchSubscription, b"nope");
        assert_eq!(bad.len(), 1);
        assert!(bad[0].has_tag(TAG_PARSE_FAILURE));
        let reason = s(&bad[0], "error.message").unwrap_or_default();
        assert!(
            reason.starts_with("cloudwatch_subscription: expected `{` starting a JSON object"),
            "{reason}"
        );
    }

    #[test]
    fn lines_and_json_with_gzip_and_kpl() {
        let out = decode(Format::Lines, &gzip(b"a\r\nb\n\nc\n"));
        let msgs: Vec<_> = out.iter().map(|e| e.message.clone()).collect();
        assert_eq!(msgs, ["a", "b", "", "c"]);
        assert_eq!(subs(&out), [0, 1, 2, 3]);
        assert_eq!(out[0].timestamp.timestamp_millis(), 1_700_000_000_123);
        let out = decode(Format::Json, &gzip(br#"{"a":1}"#));
        assert_eq!(&out[0].message[..], br#"{"a":1}"#);
        assert_eq!(
            s(&out[0], "aws.kinesis.partition_key").as_deref(),
            Some("pk")
        );
        // A KPL aggregate of two user records of two lines each: subs run on.
        let agg = kpl::tests::aggregate(&["k"], &[(0, None, b"1\n2"), (0, None, b"3\n4\n")]);
        let out = decode(Format::Lines, &agg);
        let msgs: Vec<_> = out.iter().map(|e| e.message.clone()).collect();
        assert_eq!(msgs, ["1", "2", "3", "4"]);
        assert_eq!(subs(&out), [0, 1, 2, 3]);
        assert_eq!(
            s(&out[0], "aws.kinesis.partition_key").as_deref(),
            Some("k")
        );
    }
}
