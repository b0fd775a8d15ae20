//! Bulk encoding: one action line and one document line per event, written
//! straight into the request buffer (no intermediate JSON tree).
//!
//! ```text
//! {"create":{"_index":"weir-2024.05.06","_id":"q7c0…"}}
//! {"@timestamp":"2024-05-06T07:08:09.000Z","message":"…",…}
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::{BufMut, BytesMut};

use super::config::{Action, IdConfig, Settings, Target};
use crate::event::json::{write_event, write_str};
use crate::event::{Event, Position, Template, Value};

/// What encoding one event noticed, for counters and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The index template referenced a field the event lacks (it rendered
    /// as empty text).
    pub missing_index_field: Option<String>,
    /// An `_id` was configured but could not be derived: the document gets
    /// an automatic id (a replay may then duplicate it).
    pub id_fallback: Option<IdFallback>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFallback {
    /// `id: auto_source` and the event has no source position (TCP, stdin).
    NoPosition,
    /// `id: { field }` and the field is missing or null.
    MissingField,
}

/// Writes events as bulk actions for one output.
pub struct Encoder {
    action: Action,
    index: IndexName,
    id: Option<IdConfig>,
    /// `"data_stream":{…}` added to documents sent to a data stream, as the
    /// Elastic integrations expect (unless the event has that field).
    data_stream_fields: Option<Vec<u8>>,
}

enum IndexName {
    /// A data stream: one name, kept quoted.
    Fixed { name: String, quoted: Vec<u8> },
    Template {
        template: Template,
        /// For a time-only template, the UTC span length in seconds over
        /// which its rendering is constant, and the last rendering (span
        /// number, quoted JSON string): most events of a batch share it.
        granularity: Option<i64>,
        cached: Option<(i64, Vec<u8>)>,
    },
}

fn quoted(s: &str) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(s.len() + 2);
    write_str(s.as_bytes(), &mut out);
    out.to_vec()
}

impl Encoder {
    pub fn new(settings: &Settings) -> Self {
        let (index, data_stream_fields) = match &settings.target {
            Target::Index(t) => (
                IndexName::Template {
                    granularity: t.time_granularity_secs(),
                    template: t.clone(),
                    cached: None,
                },
                None,
            ),
            Target::DataStream(ds) => {
                let name = ds.name();
                let mut fields = BytesMut::new();
                fields.put_slice(b"\"data_stream\":{\"type\":");
                write_str(ds.kind.as_bytes(), &mut fields);
                fields.put_slice(b",\"dataset\":");
                write_str(ds.dataset.as_bytes(), &mut fields);
                fields.put_slice(b",\"namespace\":");
                write_str(ds.namespace.as_bytes(), &mut fields);
                fields.put_u8(b'}');
                let quoted = quoted(&name);
                (IndexName::Fixed { name, quoted }, Some(fields.to_vec()))
            }
        };
        Encoder {
            action: settings.action,
            index,
            id: settings.id.clone(),
            data_stream_fields,
        }
    }

    /// The index (or data stream) `event` goes to.
    pub fn index_name(&self, event: &Event) -> String {
        match &self.index {
            IndexName::Fixed { name, .. } => name.clone(),
            IndexName::Template { template, .. } => match template.render(event) {
                Ok(s) | Err((s, _)) => s,
            },
        }
    }

    /// Appends the action line and the document, each ending in `\n`.
    pub fn encode(&mut self, event: &Event, out: &mut BytesMut) -> Encoded {
        let mut info = Encoded::default();
        out.put_slice(b"{\"");
        out.put_slice(self.action.as_str().as_bytes());
        out.put_slice(b"\":{\"_index\":");
        self.write_index(event, out, &mut info);
        if let Some(id) = &self.id {
            match document_id(id, event) {
                Some(id) => {
                    out.put_slice(b",\"_id\":");
                    write_str(id.as_bytes(), out);
                }
                None => {
                    info.id_fallback = Some(match id {
                        IdConfig::AutoSource => IdFallback::NoPosition,
                        IdConfig::Field(_) => IdFallback::MissingField,
                    })
                }
            }
        }
        out.put_slice(b"}}\n");
        write_event(event, out);
        if let Some(fields) = &self.data_stream_fields {
            if !event.fields.contains_key("data_stream") && out.last() == Some(&b'}') {
                // Reopen the object: it always has `@timestamp`, so a comma fits.
                out.truncate(out.len() - 1);
                out.put_u8(b',');
                out.put_slice(fields);
                out.put_u8(b'}');
            }
        }
        out.put_u8(b'\n');
        info
    }

    fn write_index(&mut self, event: &Event, out: &mut BytesMut, info: &mut Encoded) {
        let (template, granularity, cached) = match &mut self.index {
            IndexName::Fixed { quoted, .. } => {
                out.put_slice(quoted);
                return;
            }
            IndexName::Template {
                template,
                granularity,
                cached,
            } => (template, granularity, cached),
        };
        let Some(granularity) = *granularity else {
            let name = match template.render(event) {
                Ok(s) => s,
                Err((s, field)) => {
                    info.missing_index_field = Some(field);
                    s
                }
            };
            write_str(name.as_bytes(), out);
            return;
        };
        let span = event.timestamp.timestamp().div_euclid(granularity);
        match cached {
            Some((s, q)) if *s == span => out.put_slice(q),
            _ => {
                let name = match template.render(event) {
                    Ok(s) | Err((s, _)) => s,
                };
                let q = quoted(&name);
                out.put_slice(&q);
                *cached = Some((span, q));
            }
        }
    }
}

/// The `_id` for `event`, or `None` when it cannot be derived.
pub fn document_id(id: &IdConfig, event: &Event) -> Option<String> {
    match id {
        IdConfig::AutoSource => source_id(event.meta.origin.as_deref()?, &event.meta.position),
        IdConfig::Field(path) => event.with_value(path, |v| match v {
            None | Some(Value::Null) => None,
            Some(Value::Str(b)) if b.is_empty() => None,
            Some(Value::Str(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(other) => Some(other.to_text()),
        }),
    }
}

/// A deterministic id for the record at `position` in `origin`: XXH3-128 of
/// an unambiguous encoding of both, as 22 characters of unpadded base64url.
/// Stable across runs, machines and weir versions: it is stored in indices,
/// and a replay must produce the same id to be recognised (409 on `create`).
pub fn source_id(origin: &str, position: &Position) -> Option<String> {
    let mut key = Vec::with_capacity(origin.len() + 24);
    key.extend_from_slice(origin.as_bytes());
    key.push(0xff); // never part of UTF-8: ends the origin unambiguously
    match position {
        Position::None => return None,
        Position::Offset(n) => {
            key.push(b'o');
            key.extend_from_slice(&n.to_le_bytes());
        }
        Position::Sequence { sequence, sub } => {
            key.push(b's');
            key.extend_from_slice(&(sequence.len() as u64).to_le_bytes());
            key.extend_from_slice(sequence);
            key.extend_from_slice(&sub.to_le_bytes());
        }
    }
    let hash = xxhash_rust::xxh3::xxh3_128(&key);
    Some(URL_SAFE_NO_PAD.encode(hash.to_be_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;
    use crate::event::Path;
    use bytes::Bytes;
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;

    fn settings(yaml_text: &str) -> Settings {
        super::super::config::load(&yaml::parse(yaml_text).unwrap()).unwrap()
    }

    fn event(line: u64) -> Event {
        let mut e = Event::from_text("hello \"world\"");
        e.timestamp = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
        e.meta.origin = Some(Arc::from("bucket/key.log"));
        e.meta.position = Position::Offset(line);
        e
    }

    fn lines(out: &BytesMut) -> Vec<serde_json::Value> {
        out[..]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn index_action_with_strftime_index() {
        let mut enc = Encoder::new(&settings("{}"));
        let mut out = BytesMut::new();
        let info = enc.encode(&event(1), &mut out);
        assert_eq!(info, Encoded::default());
        assert!(out.ends_with(b"\n"));
        let l = lines(&out);
        assert_eq!(
            l[0],
            serde_json::json!({"index": {"_index": "weir-2024.05.06"}})
        );
        assert_eq!(l[1]["message"], "hello \"world\"");
        assert_eq!(l[1]["@timestamp"], "2024-05-06T07:08:09.000Z");
        // The cache follows the day.
        let mut next = event(2);
        next.timestamp = Utc.with_ymd_and_hms(2024, 5, 7, 0, 0, 0).unwrap();
        out.clear();
        enc.encode(&next, &mut out);
        assert_eq!(lines(&out)[0]["index"]["_index"], "weir-2024.05.07");
    }

    #[test]
    fn create_with_auto_source_ids() {
        let mut enc = Encoder::new(&settings("action: create\nid: auto_source\nindex: logs\n"));
        let mut out = BytesMut::new();
        enc.encode(&event(1), &mut out);
        enc.encode(&event(1), &mut out);
        enc.encode(&event(2), &mut out);
        let l = lines(&out);
        let id = |i: usize| l[i]["create"]["_id"].as_str().unwrap().to_owned();
        assert_eq!(id(0), id(2), "same source position, same id");
        assert_ne!(id(0), id(4));
        assert_eq!(id(0).len(), 22);

        let mut tcp = Event::from_text("no position");
        tcp.meta.origin = None;
        out.clear();
        let info = enc.encode(&tcp, &mut out);
        assert_eq!(info.id_fallback, Some(IdFallback::NoPosition));
        assert!(lines(&out)[0]["create"].get("_id").is_none());
    }

    #[test]
    fn source_ids_are_stable_and_unambiguous() {
        // Pinned: ids already stored in indices must never change.
        let a = source_id("bucket/key.log", &Position::Offset(1)).unwrap();
        assert_eq!(
            a,
            source_id("bucket/key.log", &Position::Offset(1)).unwrap()
        );
        assert_eq!(a.len(), 22);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let seq = |s: &'static [u8], sub| Position::Sequence {
            sequence: Bytes::from_static(s),
            sub,
        };
        assert_ne!(
            source_id("shard-1", &seq(b"12", 3)),
            source_id("shard-1", &seq(b"123", 3))
        );
        assert_ne!(
            source_id("shard-1", &seq(b"12", 3)),
            source_id("shard-1", &seq(b"12", 4))
        );
        assert_ne!(
            source_id("a", &Position::Offset(1)),
            source_id("b", &Position::Offset(1))
        );
        assert_eq!(source_id("a", &Position::None), None);
    }

    #[test]
    fn id_from_field_and_field_templates() {
        let mut enc = Encoder::new(&settings(
            "index: 'app-%{service}'\nid: { field: req.id }\n",
        ));
        let mut e = event(1);
        e.fields
            .insert_path(&Path::parse("req.id").unwrap(), Value::Int(42));
        e.fields.insert("service", Value::from("billing"));
        let mut out = BytesMut::new();
        assert_eq!(enc.encode(&e, &mut out), Encoded::default());
        let l = lines(&out);
        assert_eq!(l[0]["index"]["_id"], "42");
        assert_eq!(l[0]["index"]["_index"], "app-billing");
        assert_eq!(l[1]["service"], "billing");

        out.clear();
        let info = enc.encode(&event(1), &mut out);
        assert_eq!(info.missing_index_field.as_deref(), Some("service"));
        assert_eq!(info.id_fallback, Some(IdFallback::MissingField));
        assert_eq!(lines(&out)[0]["index"]["_index"], "app-");
    }

    #[test]
    fn data_streams_use_create_and_carry_their_fields() {
        let mut enc = Encoder::new(&settings(
            "data_stream: { type: logs, dataset: aws.s3access, namespace: prod }\n",
        ));
        let mut out = BytesMut::new();
        enc.encode(&event(1), &mut out);
        let l = lines(&out);
        assert_eq!(
            l[0],
            serde_json::json!({"create": {"_index": "logs-aws.s3access-prod"}})
        );
        assert_eq!(l[1]["data_stream"]["dataset"], "aws.s3access");
        assert_eq!(l[1]["message"], "hello \"world\"");

        // An event that sets its own data_stream keeps it (no duplicate key).
        let mut own = event(2);
        own.fields.insert("data_stream", Value::from("mine"));
        out.clear();
        enc.encode(&own, &mut out);
        assert_eq!(lines(&out)[1]["data_stream"], "mine");
    }
}
