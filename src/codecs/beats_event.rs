//! Turning Beats data frames into weir [`Event`]s, keeping what Logstash's
//! `beats` input keeps, so dashboards built on Logstash-fed indices still work.
//!
//! * A `J` frame's JSON object becomes the event's fields as they are: every
//!   key at the root, `@metadata`, `host`, `agent`, `ecs`, `tags` untouched.
//! * `@timestamp` becomes the event time. One that does not parse is kept as
//!   `_@timestamp` and the event tagged `_timestampparsefailure` (what
//!   Logstash's event does), stamped with the receive time.
//! * The event's raw message is the `message` field's string (or `line`'s,
//!   for old lumberjack senders, renamed to `message` as Logstash does); the
//!   field stays in the document and [`Meta::message_consumed`] is set so the
//!   text is not written twice. Without either, the raw message is the JSON
//!   text itself, and the fields alone are the document.
//! * A payload that is framed correctly but is not a JSON object (bad JSON,
//!   a bare string, an empty payload) is not a protocol error: closing would
//!   make the client resend it for ever. It becomes an event whose message is
//!   the raw payload, tagged [`TAG_JSON_FAILURE`], and is acknowledged like any
//!   other.
//! * A `D` frame's pairs become string fields (keys and values are slices of
//!   the frame, not copies).
//!
//! [`Meta::message_consumed`]: crate::event::Meta::message_consumed

use std::net::IpAddr;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};

use super::lumberjack::Frame;
use crate::event::{Event, Fields, Path, Value};
use crate::parsers::json::parse_value;

/// Tag of an event whose `J` payload is not a JSON object. Logstash's name for
/// a JSON parse failure, as the Beats protocol reference asks.
pub const TAG_JSON_FAILURE: &str = "_jsonparsefailure";
/// Tag of an event whose `@timestamp` could not be read (Logstash's name).
pub const TAG_TIMESTAMP_FAILURE: &str = "_timestampparsefailure";
/// Logstash's tag for an event whose `message`/`line` went through its codec.
pub const TAG_CODEC_APPLIED: &str = "beats_input_codec_plain_applied";
/// Logstash's tag for an event with neither `message` nor `line`.
pub const TAG_RAW_EVENT: &str = "beats_input_raw_event";

/// Where an unparseable `@timestamp` is kept.
const FAILED_TIMESTAMP_FIELD: &str = "_@timestamp";

/// How frames become events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventOptions {
    /// Add Logstash's `beats_input_codec_plain_applied` / `beats_input_raw_event`
    /// tags (Logstash's `include_codec_tag`, on by default there too, so
    /// queries that filter on them keep working).
    pub include_codec_tag: bool,
}

impl Default for EventOptions {
    fn default() -> Self {
        EventOptions {
            include_codec_tag: true,
        }
    }
}

/// The event for a data frame received at `now`; `None` for a window frame.
pub fn frame_event(frame: Frame, now: DateTime<Utc>, options: &EventOptions) -> Option<Event> {
    match frame {
        Frame::WindowSize { .. } => None,
        Frame::Json { payload, .. } => Some(json_event(payload, now, options)),
        Frame::Data { pairs, .. } => Some(data_event(pairs, now, options)),
    }
}

/// The event for one `J` frame's payload. Never fails: a payload that is not
/// a JSON object yields a tagged event holding the raw bytes.
pub fn json_event(payload: Bytes, now: DateTime<Utc>, options: &EventOptions) -> Event {
    if payload.is_empty() {
        return failed(
            payload,
            now,
            "beats JSON frame has an empty payload".to_owned(),
        );
    }
    match parse_value(&payload) {
        Ok(Value::Object(fields)) => build(payload, fields, now, options),
        Ok(other) => {
            let reason = format!(
                "beats JSON frame holds a {}, expected an object",
                other.type_name()
            );
            failed(payload, now, reason)
        }
        Err(e) => failed(payload, now, format!("beats JSON frame: {e}")),
    }
}

/// The event for one legacy `D` frame: each pair a string field, `line`
/// renamed to `message`. A frame without pairs is kept as a tagged, empty event.
pub fn data_event(pairs: Vec<(Bytes, Bytes)>, now: DateTime<Utc>, options: &EventOptions) -> Event {
    if pairs.is_empty() {
        return failed(
            Bytes::new(),
            now,
            "beats key/value (D) frame has no pairs".to_owned(),
        );
    }
    let has_message = pairs.iter().any(|(k, _)| k.as_ref() == b"message");
    let mut fields = Fields::with_capacity(pairs.len());
    for (key, value) in pairs {
        let key = if !has_message && key.as_ref() == b"line" {
            Bytes::from_static(b"message")
        } else {
            key
        };
        // Duplicate keys: the last one wins, as for JSON.
        fields.insert(key, Value::Str(value));
    }
    build(Bytes::new(), fields, now, options)
}

/// Records `ip` (the client's address) where Logstash 8 puts it in ECS mode:
/// `[@metadata][input][beats][host][ip]`. IPv4 clients of a dual-stack
/// listener appear as `::ffff:a.b.c.d`; they are recorded as `a.b.c.d`.
pub fn set_peer_ip(event: &mut Event, ip: IpAddr) {
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    event.fields.insert_path(
        &Path::parse_static("@metadata.input.beats.host.ip"),
        Value::from(ip.to_string()),
    );
}

fn failed(payload: Bytes, now: DateTime<Utc>, reason: String) -> Event {
    let mut event = Event::new(payload, now);
    event.mark_failure(TAG_JSON_FAILURE, reason);
    event
}

/// Shapes a decoded object into an event. `raw` is the frame's payload, the
/// message of last resort.
fn build(raw: Bytes, mut fields: Fields, now: DateTime<Utc>, options: &EventOptions) -> Event {
    let mut event = Event::new(raw, now);
    let mut tag = None;

    if let Some(ts) = fields.remove("@timestamp") {
        match timestamp(&ts) {
            Some(t) => event.timestamp = t,
            None => {
                fields.insert(FAILED_TIMESTAMP_FIELD, ts);
                tag = Some(TAG_TIMESTAMP_FAILURE);
            }
        }
    }

    let codec_applied = match fields.get("message") {
        Some(Value::Str(message)) => {
            event.message = message.clone();
            true
        }
        Some(_) => true,
        None => match fields.remove("line") {
            Some(line) => {
                if let Value::Str(text) = &line {
                    event.message = text.clone();
                }
                fields.insert("message", line);
                true
            }
            None => false,
        },
    };
    event.fields = fields;
    event.meta.message_consumed = true;

    if let Some(tag) = tag {
        add_static_tag(&mut event.fields, tag);
    }
    if options.include_codec_tag {
        add_static_tag(
            &mut event.fields,
            if codec_applied {
                TAG_CODEC_APPLIED
            } else {
                TAG_RAW_EVENT
            },
        );
    }
    event
}

/// [`Event::add_tag`] for the common case of an event without `tags`, without
/// copying the constant strings: this runs for every Beats event, and every
/// allocation an event holds costs again when its batch is freed.
fn add_static_tag(fields: &mut Fields, tag: &'static str) {
    let value = Value::Str(Bytes::from_static(tag.as_bytes()));
    match fields.get_mut("tags") {
        None => fields.push_unchecked(&b"tags"[..], Value::Array(vec![value])),
        Some(Value::Array(items)) => {
            if !items.iter().any(|t| t.as_bytes() == Some(tag.as_bytes())) {
                items.push(value);
            }
        }
        Some(other) => {
            let old = std::mem::take(other);
            *other = Value::Array(vec![old, value]);
        }
    }
}

/// Reads an `@timestamp`: RFC 3339 with any fraction and offset (Beats send
/// `2024-05-01T12:00:00.123Z`), or ISO 8601 without an offset, taken as UTC
/// (Python clients often send `datetime.utcnow().isoformat()`).
fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Timestamp(t) => Some(*t),
        Value::Str(bytes) => {
            let text = std::str::from_utf8(bytes).ok()?.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                return Some(t.with_timezone(&Utc));
            }
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
                .map(|naive| naive.and_utc())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::to_string;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
    }

    fn json(text: &'static str) -> Event {
        json_event(
            Bytes::from_static(text.as_bytes()),
            now(),
            &EventOptions::default(),
        )
    }

    fn get(event: &Event, path: &str) -> Option<Value> {
        event.get(&Path::parse(path).unwrap())
    }

    const FILEBEAT: &str = r#"{"@timestamp":"2024-05-01T12:00:00.123Z","@metadata":{"beat":"filebeat","type":"_doc","version":"8.13.4"},"message":"hello","log":{"offset":0},"input":{"type":"filestream"},"ecs":{"version":"8.0.0"},"host":{"name":"web-1"},"agent":{"type":"filebeat","version":"8.13.4","name":"web-1"}}"#;

    #[test]
    fn filebeat_document() {
        let event = json(FILEBEAT);
        assert_eq!(event.message, Bytes::from_static(b"hello"));
        assert_eq!(
            event.timestamp.to_rfc3339(),
            "2024-05-01T12:00:00.123+00:00"
        );
        assert_eq!(get(&event, "@metadata.beat"), Some(Value::from("filebeat")));
        assert_eq!(get(&event, "host.name"), Some(Value::from("web-1")));
        assert_eq!(get(&event, "agent.version"), Some(Value::from("8.13.4")));
        assert_eq!(get(&event, "log.offset"), Some(Value::Int(0)));
        assert!(event.has_tag(TAG_CODEC_APPLIED));
        assert!(event.fields.get("@timestamp").is_none());
        assert!(event.meta.message_consumed);
        // The message is written once, from the field.
        let out = to_string(&event);
        assert_eq!(out.matches("\"message\"").count(), 1, "{out}");
        assert!(
            out.starts_with(r#"{"@timestamp":"2024-05-01T12:00:00.123Z","#),
            "{out}"
        );
    }

    #[test]
    fn message_is_a_slice_of_the_payload() {
        let payload = Bytes::from_static(FILEBEAT.as_bytes());
        let event = json_event(payload.clone(), now(), &EventOptions::default());
        let start = payload.as_ptr() as usize;
        let at = event.message.as_ptr() as usize;
        assert!(at >= start && at < start + payload.len());
    }

    #[test]
    fn pylogbeat_document() {
        let event = json(
            r#"{"@timestamp": "2024-05-01T12:00:00.123456", "message": "hi", "host": "app-1", "tags": ["x"]}"#,
        );
        assert_eq!(
            event.timestamp.to_rfc3339(),
            "2024-05-01T12:00:00.123456+00:00"
        );
        assert_eq!(get(&event, "host"), Some(Value::from("app-1")));
        assert_eq!(
            event.fields.get("tags"),
            Some(&Value::Array(vec![
                Value::from("x"),
                Value::from(TAG_CODEC_APPLIED)
            ]))
        );
    }

    #[test]
    fn timestamp_forms() {
        for (text, want) in [
            ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00+00:00"),
            (
                "2024-05-01T14:00:00.5+02:00",
                "2024-05-01T12:00:00.500+00:00",
            ),
            ("2024-05-01 12:00:00", "2024-05-01T12:00:00+00:00"),
            (
                "2024-05-01T12:00:00.000000001",
                "2024-05-01T12:00:00.000000001+00:00",
            ),
        ] {
            let t = timestamp(&Value::from(text)).unwrap();
            assert_eq!(t.to_rfc3339(), want, "{text}");
        }
        assert!(timestamp(&Value::from("yesterday")).is_none());
        assert!(timestamp(&Value::Int(5)).is_none());
    }

    #[test]
    fn bad_timestamp_is_kept_and_tagged() {
        let event = json(r#"{"@timestamp":"soon","message":"m"}"#);
        assert_eq!(event.timestamp, now());
        assert_eq!(get(&event, "_@timestamp"), Some(Value::from("soon")));
        assert!(event.has_tag(TAG_TIMESTAMP_FAILURE));
        assert!(event.has_tag(TAG_CODEC_APPLIED));
    }

    #[test]
    fn raw_event_without_message() {
        let text = r#"{"metric":{"value":1}}"#;
        let event = json(text);
        assert_eq!(event.message, Bytes::from_static(text.as_bytes()));
        assert!(event.meta.message_consumed);
        assert!(event.has_tag(TAG_RAW_EVENT));
        let out = to_string(&event);
        assert!(!out.contains("\"message\""), "{out}");
    }

    #[test]
    fn line_becomes_message() {
        let event = json(r#"{"line":"old","file":"/var/log/x"}"#);
        assert_eq!(event.message, Bytes::from_static(b"old"));
        assert_eq!(get(&event, "message"), Some(Value::from("old")));
        assert_eq!(get(&event, "line"), None);
        assert!(event.has_tag(TAG_CODEC_APPLIED));
    }

    #[test]
    fn tags_are_appended_to_what_the_client_sent() {
        let event = json(r#"{"message":"m","tags":"solo"}"#);
        assert_eq!(
            event.fields.get("tags"),
            Some(&Value::Array(vec![
                Value::from("solo"),
                Value::from(TAG_CODEC_APPLIED)
            ]))
        );
        let event = json(r#"{"message":"m","tags":["beats_input_codec_plain_applied"]}"#);
        assert_eq!(
            event.fields.get("tags"),
            Some(&Value::Array(vec![Value::from(TAG_CODEC_APPLIED)]))
        );
    }

    #[test]
    fn codec_tag_can_be_turned_off() {
        let options = EventOptions {
            include_codec_tag: false,
        };
        let event = json_event(Bytes::from_static(b"{\"message\":\"x\"}"), now(), &options);
        assert!(event.fields.get("tags").is_none());
    }

    #[test]
    fn not_json_is_a_tagged_event() {
        for payload in [&b"hi"[..], b"", b"\"just a string\"", b"[1,2]", b"{\"a\":"] {
            let event = json_event(
                Bytes::copy_from_slice(payload),
                now(),
                &EventOptions::default(),
            );
            assert_eq!(event.message.as_ref(), payload);
            assert!(event.has_tag(TAG_JSON_FAILURE), "{payload:?}");
            assert!(event.emits_message());
            assert!(get(&event, "error.message").is_some());
            assert_eq!(event.timestamp, now());
        }
    }

    #[test]
    fn legacy_pairs() {
        let pairs = vec![
            (Bytes::from_static(b"line"), Bytes::from_static(b"hi")),
            (
                Bytes::from_static(b"file"),
                Bytes::from_static(b"/var/log/x"),
            ),
            (Bytes::from_static(b"offset"), Bytes::from_static(b"42")),
        ];
        let event = data_event(pairs, now(), &EventOptions::default());
        assert_eq!(event.message, Bytes::from_static(b"hi"));
        assert_eq!(get(&event, "message"), Some(Value::from("hi")));
        assert_eq!(get(&event, "file"), Some(Value::from("/var/log/x")));
        assert_eq!(get(&event, "offset"), Some(Value::from("42")));
        assert_eq!(get(&event, "line"), None);
        assert!(event.has_tag(TAG_CODEC_APPLIED));
    }

    #[test]
    fn legacy_pairs_with_message_keep_line() {
        let pairs = vec![
            (Bytes::from_static(b"line"), Bytes::from_static(b"a")),
            (Bytes::from_static(b"message"), Bytes::from_static(b"b")),
        ];
        let event = data_event(pairs, now(), &EventOptions::default());
        assert_eq!(event.message, Bytes::from_static(b"b"));
        assert_eq!(get(&event, "line"), Some(Value::from("a")));
    }

    #[test]
    fn legacy_frame_without_pairs() {
        let event = data_event(Vec::new(), now(), &EventOptions::default());
        assert!(event.has_tag(TAG_JSON_FAILURE));
    }

    #[test]
    fn peer_ip_is_unmapped() {
        let mut event = json("{}");
        set_peer_ip(&mut event, "::ffff:10.1.2.3".parse().unwrap());
        assert_eq!(
            get(&event, "@metadata.input.beats.host.ip"),
            Some(Value::from("10.1.2.3"))
        );
        set_peer_ip(&mut event, "::1".parse().unwrap());
        assert_eq!(
            get(&event, "@metadata.input.beats.host.ip"),
            Some(Value::from("::1"))
        );
    }

    #[test]
    fn frames_map_to_events() {
        let options = EventOptions::default();
        let window = Frame::WindowSize {
            version: crate::codecs::lumberjack::Version::V2,
            count: 1,
        };
        assert!(frame_event(window, now(), &options).is_none());
        let frame = Frame::Json {
            seq: 1,
            payload: Bytes::from_static(b"{\"message\":\"hi\"}"),
        };
        assert_eq!(frame_event(frame, now(), &options).unwrap().message, "hi");
    }
}
