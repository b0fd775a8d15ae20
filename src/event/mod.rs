//! The event model: what flows through a pipeline.
//!
//! An [`Event`] keeps the raw line it was read from as a [`Bytes`] slice of the
//! input's read buffer (never copied), the structured [`Fields`] that parsers and
//! filters build, the event time (`@timestamp`) and [`Meta`]data about where the
//! event came from. Field values are [`Value`]s whose strings are `Bytes` too, so a
//! parser can hand out slices of the message instead of allocating.
//!
//! The hand-written AWS parsers go further: a record is a [`flat::FlatDoc`],
//! slots over its line laid out by a static schema, which [`Fields`] keeps
//! deferred. Outputs write it as JSON straight from the line; the tree of
//! `Value`s is built only if a filter reads or changes the fields.

mod fields;
pub mod flat;
pub mod json;
mod path;
mod template;
mod value;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

pub use fields::Fields;
pub use path::{Path, PathError, Segment};
pub use template::Template;
pub use value::Value;

/// The tag added to an event whose parser failed (Logstash's name for it).
pub const TAG_PARSE_FAILURE: &str = "_parse_failure";

/// One log record on its way through a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The raw record as the input framed it, without its line terminator.
    pub message: Bytes,
    /// Structured fields (the document an output writes, apart from
    /// `@timestamp` and the raw message).
    pub fields: Fields,
    /// Event time: ingestion time until a parser finds the record's own time.
    pub timestamp: DateTime<Utc>,
    /// Where the event came from; not written by outputs.
    pub meta: Meta,
}

/// Facts about an event that travel with it but are not part of the document.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Meta {
    /// Whether the raw `message` is still part of the document. A parser that
    /// turns the whole message into fields clears it (the fields replace the
    /// text, as Filebeat's modules do); `rename`/`remove` of `message` clear it too.
    pub message_consumed: bool,
    /// A stable name of the stream the event was read from (`bucket/key`,
    /// a Kinesis shard id, a file path), used with `position` for replay-safe ids.
    pub origin: Option<Arc<str>>,
    /// The event's position inside `origin`.
    pub position: Position,
    /// The header line of the file the event came from, for formats whose files
    /// start with one naming the columns (VPC flow logs delivered to S3).
    pub header: Option<Bytes>,
}

/// An event's position inside its source stream.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Position {
    /// The source has no replayable position (TCP, stdin).
    #[default]
    None,
    /// A line number or byte offset.
    Offset(u64),
    /// A sequence number (kept as its decimal text) and a sub-index inside it.
    Sequence { sequence: Bytes, sub: u32 },
}

impl Event {
    /// An event for a raw record, stamped with `now`.
    pub fn new(message: Bytes, now: DateTime<Utc>) -> Self {
        Event {
            message,
            fields: Fields::new(),
            timestamp: now,
            meta: Meta::default(),
        }
    }

    /// An event from a string, stamped with the current time (tests, examples).
    pub fn from_text(text: &str) -> Self {
        Event::new(Bytes::copy_from_slice(text.as_bytes()), Utc::now())
    }

    /// Whether the raw message is written as the `message` field: it is unless a
    /// parser consumed it or a `message` field replaced it.
    pub fn emits_message(&self) -> bool {
        !self.meta.message_consumed && !self.fields.contains_key("message")
    }

    /// The value at `path`. `message` resolves to the raw message while no field
    /// of that name exists and `@timestamp` to the event time.
    pub fn get(&self, path: &Path) -> Option<Value> {
        if let Some(v) = self.fields.get_path(path) {
            return Some(v.clone());
        }
        if path.is_root_key("message") && !self.meta.message_consumed {
            return Some(Value::Str(self.message.clone()));
        }
        if path.is_root_key("@timestamp") {
            return Some(Value::Timestamp(self.timestamp));
        }
        None
    }

    /// Like [`Event::get`] but borrowing; the raw message and timestamp are not
    /// stored as values, so they are reported through `with_value`'s argument.
    pub fn with_value<R>(&self, path: &Path, f: impl FnOnce(Option<&Value>) -> R) -> R {
        if let Some(v) = self.fields.get_path(path) {
            return f(Some(v));
        }
        if path.is_root_key("message") && !self.meta.message_consumed {
            return f(Some(&Value::Str(self.message.clone())));
        }
        if path.is_root_key("@timestamp") {
            return f(Some(&Value::Timestamp(self.timestamp)));
        }
        f(None)
    }

    /// Sets `path` to `value`. Setting `@timestamp` to a timestamp (or a string
    /// that parses as RFC 3339) changes the event time.
    pub fn insert(&mut self, path: &Path, value: Value) {
        if path.is_root_key("@timestamp") {
            if let Some(ts) = value.as_timestamp() {
                self.timestamp = ts;
                return;
            }
        }
        self.fields.insert_path(path, value);
    }

    /// Removes `path` and returns what was there. Removing `message` also drops the
    /// raw message from the document.
    pub fn remove(&mut self, path: &Path) -> Option<Value> {
        let removed = self.fields.remove_path(path);
        if removed.is_none() && path.is_root_key("message") && !self.meta.message_consumed {
            self.meta.message_consumed = true;
            return Some(Value::Str(self.message.clone()));
        }
        removed
    }

    /// Appends `tag` to the `tags` array unless it is there already.
    pub fn add_tag(&mut self, tag: &str) {
        let tags = self
            .fields
            .entry_or_insert("tags", || Value::Array(Vec::new()));
        if !matches!(tags, Value::Array(_)) {
            let old = std::mem::replace(tags, Value::Array(Vec::new()));
            if let Value::Array(items) = tags {
                items.push(old);
            }
        }
        if let Value::Array(items) = tags {
            if !items.iter().any(|t| t.as_bytes() == Some(tag.as_bytes())) {
                items.push(Value::from(tag));
            }
        }
    }

    /// Whether `tags` holds `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        match self.fields.get("tags") {
            Some(Value::Array(items)) => items.iter().any(|t| t.as_bytes() == Some(tag.as_bytes())),
            Some(v) => v.as_bytes() == Some(tag.as_bytes()),
            None => false,
        }
    }

    /// Marks a processing failure the way every weir component does: the `tag`
    /// in `tags` and the reason in `error.message` (ECS).
    pub fn mark_failure(&mut self, tag: &str, reason: impl Into<String>) {
        self.add_tag(tag);
        let reason: String = reason.into();
        self.fields
            .insert_path(&Path::parse_static("error.message"), Value::from(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_resolves_until_consumed_or_replaced() {
        let mut ev = Event::from_text("hello");
        let message = Path::parse("message").unwrap();
        assert_eq!(ev.get(&message), Some(Value::from("hello")));
        assert!(ev.emits_message());
        ev.insert(&message, Value::from("replaced"));
        assert_eq!(ev.get(&message), Some(Value::from("replaced")));
        assert!(!ev.emits_message());
        ev.remove(&message);
        assert_eq!(ev.get(&message), Some(Value::from("hello")));
        ev.remove(&message);
        assert_eq!(ev.get(&message), None);
        assert!(!ev.emits_message());
    }

    #[test]
    fn tags_are_deduplicated_and_wrap_scalars() {
        let mut ev = Event::from_text("x");
        ev.add_tag("a");
        ev.add_tag("a");
        ev.add_tag("b");
        assert_eq!(
            ev.fields.get("tags"),
            Some(&Value::Array(vec![Value::from("a"), Value::from("b")]))
        );
        let mut ev = Event::from_text("x");
        ev.fields.insert("tags", Value::from("solo"));
        ev.add_tag("b");
        assert!(ev.has_tag("solo") && ev.has_tag("b"));
    }

    #[test]
    fn timestamp_path_sets_event_time() {
        let mut ev = Event::from_text("x");
        ev.insert(
            &Path::parse("@timestamp").unwrap(),
            Value::from("2024-05-06T07:08:09.5Z"),
        );
        assert_eq!(ev.timestamp.to_rfc3339(), "2024-05-06T07:08:09.500+00:00");
        assert!(ev.fields.is_empty());
    }

    #[test]
    fn failure_marks_tag_and_reason() {
        let mut ev = Event::from_text("x");
        ev.mark_failure(TAG_PARSE_FAILURE, "bad");
        assert!(ev.has_tag(TAG_PARSE_FAILURE));
        assert_eq!(
            ev.get(&Path::parse("error.message").unwrap()),
            Some(Value::from("bad"))
        );
    }
}
