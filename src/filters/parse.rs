//! `parse`: turns a field (the raw message by default) into fields with a
//! format parser ([`crate::parsers`]).
//!
//! On failure the event is never silently lost: `on_error: tag` (default)
//! keeps it with `_parse_failure` in `tags` and the reason in `error.message`;
//! `dead_letter` moves it to the pipeline's dead-letter queue; `drop` discards
//! it, counted.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::{BuildContext, DeadLetter, Filter, FilterContext};
use crate::event::{Event, Path, Value, TAG_PARSE_FAILURE};
use crate::parsers::{Parsed, Parser};

/// What to do with an event whose field does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    #[default]
    Tag,
    Drop,
    DeadLetter,
}

/// The options every format shares; the rest belong to the format.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseCommon {
    pub format: String,
    #[serde(default)]
    pub field: Option<Path>,
    #[serde(default)]
    pub target: Option<Path>,
    #[serde(default)]
    pub on_error: OnError,
    /// Keep the raw text as `event.original` (ECS) when it is consumed.
    #[serde(default)]
    pub keep_original: bool,
}

/// Keys of [`ParseCommon`], split off before the format's own options.
pub const COMMON_KEYS: &[&str] = &["format", "field", "target", "on_error", "keep_original"];

#[derive(Debug)]
pub struct Parse {
    parser: Arc<dyn Parser>,
    format: String,
    field: Option<Path>,
    target: Option<Path>,
    on_error: OnError,
    keep_original: bool,
    component: Arc<str>,
    failures: metrics::Counter,
    discarded: metrics::Counter,
}

static EVENT_ORIGINAL: std::sync::LazyLock<Path> =
    std::sync::LazyLock::new(|| Path::parse_static("event.original"));

impl Parse {
    pub fn new(common: ParseCommon, parser: Arc<dyn Parser>, cx: &BuildContext) -> Self {
        let labels = crate::telemetry::component_labels(&cx.pipeline, &cx.component);
        Parse {
            parser,
            failures: metrics::counter!(
                "weir_parse_failures_total",
                &[
                    labels[0].clone(),
                    labels[1].clone(),
                    ("format", common.format.clone())
                ]
            ),
            discarded: metrics::counter!(
                "weir_component_discarded_events_total",
                &[
                    labels[0].clone(),
                    labels[1].clone(),
                    ("kind", "filter".to_owned())
                ]
            ),
            format: common.format,
            // `message` is the default and the common case: keep it as `None`
            // so the hot path reads `event.message` directly.
            field: common.field.filter(|f| !f.is_root_key("message")),
            target: common.target,
            on_error: common.on_error,
            keep_original: common.keep_original,
            component: cx.component.clone(),
        }
    }

    /// The bytes to parse, or why there are none.
    fn input(&self, event: &Event) -> Result<Bytes, String> {
        match &self.field {
            None => Ok(event.message.clone()),
            Some(path) => match event.fields.get_path(path) {
                Some(Value::Str(b)) => Ok(b.clone()),
                Some(other) => Err(format!(
                    "field `{path}` is a {}, not a string",
                    other.type_name()
                )),
                None => Err(format!("field `{path}` is missing")),
            },
        }
    }

    /// Applies one parsed record to `event`.
    fn apply(&self, event: &mut Event, parsed: Parsed) -> Result<(), String> {
        if self.target.is_none() && !matches!(parsed.value, Value::Object(_)) {
            return Err(format!(
                "format `{}` produced a {}, which can only be stored under a `target` field",
                self.format,
                parsed.value.type_name()
            ));
        }
        if let Some(ts) = parsed.timestamp {
            event.timestamp = ts;
        }
        match (&self.target, parsed.value) {
            (Some(target), value) => event.insert(target, value),
            (None, Value::Object(fields)) => {
                event.fields.merge(fields);
                take_document_timestamp(event);
            }
            (None, _) => {}
        }
        if self.field.is_none() && self.target.is_none() {
            // The fields replace the raw text in the document.
            if self.keep_original {
                let original = Value::Str(event.message.clone());
                event.fields.insert_path(&EVENT_ORIGINAL, original);
            }
            event.meta.message_consumed = true;
        }
        if let Some(message) = parsed.message {
            event.message = message;
            event.meta.message_consumed = false;
        }
        Ok(())
    }

    fn fail(&self, mut event: Event, reason: String, out: &mut Vec<Event>, cx: &mut FilterContext) {
        self.failures.increment(1);
        match self.on_error {
            OnError::Tag => {
                event.mark_failure(TAG_PARSE_FAILURE, reason);
                out.push(event);
            }
            OnError::Drop => self.discarded.increment(1),
            OnError::DeadLetter => cx.dead_letters.push(DeadLetter {
                event,
                component: self.component.clone(),
                reason,
            }),
        }
    }
}

/// A document parsed at the root may carry its own `@timestamp`: it becomes
/// the event time. One that does not parse is kept as `_@timestamp` and tagged
/// `_timestampparsefailure`, as Logstash does, so it is never lost nor written
/// as a second `@timestamp` key.
fn take_document_timestamp(event: &mut Event) {
    // Looked up first: removing would build a deferred record's tree.
    if !event.fields.contains_key("@timestamp") {
        return;
    }
    let Some(value) = event.fields.remove("@timestamp") else {
        return;
    };
    match value.as_timestamp() {
        Some(ts) => event.timestamp = ts,
        None => {
            event.fields.insert("_@timestamp", value);
            event.add_tag("_timestampparsefailure");
        }
    }
}

/// The outcome of parsing one event where it stands in the batch.
enum Step {
    /// Parsed (or tagged) in place.
    Done,
    /// The event leaves the batch or expands: `records` holds what the parser
    /// produced when the result is `Ok`.
    Rebuild(Result<(), String>),
}

impl Parse {
    fn parse_into(&self, event: &Event, records: &mut Vec<Parsed>) -> Result<(), String> {
        records.clear();
        let input = self.input(event)?;
        self.parser
            .parse(&input, event, records)
            .map_err(|e| format!("{}: {}", self.format, e.reason))
    }

    /// The common case, without moving the event: one record, or a tagged failure.
    fn step(&self, event: &mut Event, records: &mut Vec<Parsed>) -> Step {
        let failure = match self.parse_into(event, records) {
            Ok(()) if records.len() == 1 => {
                let parsed = records.pop().unwrap_or_default();
                match self.apply(event, parsed) {
                    Ok(()) => return Step::Done,
                    Err(reason) => reason,
                }
            }
            Ok(()) => return Step::Rebuild(Ok(())),
            Err(reason) => reason,
        };
        if self.on_error == OnError::Tag {
            self.failures.increment(1);
            event.mark_failure(TAG_PARSE_FAILURE, failure);
            Step::Done
        } else {
            Step::Rebuild(Err(failure))
        }
    }

    /// Any case: appends what becomes of `event` to `out`.
    fn finish(
        &self,
        mut event: Event,
        result: Result<(), String>,
        records: &mut Vec<Parsed>,
        out: &mut Vec<Event>,
        cx: &mut FilterContext,
    ) {
        if let Err(reason) = result {
            return self.fail(event, reason, out, cx);
        }
        match records.len() {
            // A record without log data (header line, control message).
            0 => self.discarded.increment(1),
            1 => {
                let parsed = records.pop().unwrap_or_default();
                match self.apply(&mut event, parsed) {
                    Ok(()) => out.push(event),
                    Err(reason) => self.fail(event, reason, out, cx),
                }
            }
            _ => {
                for parsed in records.drain(..) {
                    let mut copy = event.clone();
                    match self.apply(&mut copy, parsed) {
                        Ok(()) => out.push(copy),
                        Err(reason) => self.fail(copy, reason, out, cx),
                    }
                }
            }
        }
    }
}

impl Filter for Parse {
    fn process(&self, events: &mut Vec<Event>, cx: &mut FilterContext) {
        let mut records = Vec::with_capacity(1);
        // Events are updated in place until one must leave the batch or
        // expand into several; from there on the rest is rebuilt.
        let mut i = 0;
        let first = loop {
            let Some(event) = events.get_mut(i) else {
                return;
            };
            match self.step(event, &mut records) {
                Step::Done => i += 1,
                Step::Rebuild(result) => break result,
            }
        };
        let mut rest = events.split_off(i).into_iter();
        if let Some(event) = rest.next() {
            self.finish(event, first, &mut records, events, cx);
        }
        for event in rest {
            let result = self.parse_into(&event, &mut records);
            self.finish(event, result, &mut records, events, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::json::JsonParser;

    fn parse(target: Option<&str>, field: Option<&str>, on_error: OnError) -> Parse {
        Parse::new(
            ParseCommon {
                format: "json".into(),
                field: field.map(|f| Path::parse(f).unwrap()),
                target: target.map(|t| Path::parse(t).unwrap()),
                on_error,
                keep_original: false,
            },
            Arc::new(JsonParser),
            &BuildContext {
                pipeline: "p".into(),
                component: "parse#0".into(),
            },
        )
    }

    fn run(p: &Parse, lines: &[&str]) -> (Vec<Event>, FilterContext) {
        let mut events: Vec<Event> = lines.iter().map(|l| Event::from_text(l)).collect();
        let mut cx = FilterContext::default();
        p.process(&mut events, &mut cx);
        (events, cx)
    }

    #[test]
    fn json_at_root_replaces_the_message() {
        let (events, _) = run(
            &parse(None, None, OnError::Tag),
            &[r#"{"level":"info","@timestamp":"2024-01-01T00:00:00Z","n":1}"#],
        );
        let json = crate::event::json::to_string(&events[0]);
        assert_eq!(
            json,
            r#"{"@timestamp":"2024-01-01T00:00:00.000Z","level":"info","n":1}"#
        );
    }

    #[test]
    fn failures_are_tagged_kept_dropped_or_dead_lettered() {
        let (events, _) = run(&parse(None, None, OnError::Tag), &["not json", "{}"]);
        assert_eq!(events.len(), 2);
        assert!(events[0].has_tag(TAG_PARSE_FAILURE));
        let json = crate::event::json::to_string(&events[0]);
        assert!(json.contains(r#""message":"not json""#), "{json}");
        assert!(json.contains("invalid JSON"), "{json}");

        let (events, _) = run(&parse(None, None, OnError::Drop), &["not json", "{}"]);
        assert_eq!(events.len(), 1);

        let (events, cx) = run(&parse(None, None, OnError::DeadLetter), &["not json", "{}"]);
        assert_eq!(events.len(), 1);
        assert_eq!(cx.dead_letters.len(), 1);
        assert!(cx.dead_letters[0].reason.contains("invalid JSON"));
    }

    #[test]
    fn failure_reasons_name_the_format_once() {
        let formats = [
            ("json", "{}"),
            ("s3_access", "{}"),
            ("vpc_flow", "{}"),
            ("syslog", "{}"),
            ("cloudwatch_subscription", "{}"),
            ("cloudwatch_export", "{}"),
            ("grok", "{ patterns: ['%{COMMONAPACHELOG}'] }"),
        ];
        for (format, options) in formats {
            let options = crate::config::yaml::parse(options).unwrap();
            let parser = crate::parsers::registry::build(format, &options).unwrap();
            let p = Parse::new(
                ParseCommon {
                    format: format.into(),
                    field: None,
                    target: None,
                    on_error: OnError::Tag,
                    keep_original: false,
                },
                parser,
                &BuildContext {
                    pipeline: "p".into(),
                    component: "parse#0".into(),
                },
            );
            let (events, _) = run(&p, &["garbage line here"]);
            let reason = events[0]
                .get(&Path::parse("error.message").unwrap())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let prefix = format!("{format}: ");
            assert!(reason.starts_with(&prefix), "{reason}");
            assert!(!reason[prefix.len()..].contains(format), "{reason}");
        }
    }

    #[test]
    fn non_objects_need_a_target() {
        let (events, _) = run(&parse(None, None, OnError::Tag), &["[1,2]"]);
        assert!(events[0].has_tag(TAG_PARSE_FAILURE));
        let (events, _) = run(&parse(Some("doc"), None, OnError::Tag), &["[1,2]"]);
        let json = crate::event::json::to_string(&events[0]);
        assert!(json.contains(r#""message":"[1,2]","doc":[1,2]"#), "{json}");
    }

    #[test]
    fn parses_another_field() {
        let p = parse(Some("inner"), Some("payload"), OnError::Tag);
        let mut e = Event::from_text("x");
        e.fields.insert("payload", Value::from(r#"{"a":1}"#));
        let mut events = vec![e, Event::from_text("no payload")];
        p.process(&mut events, &mut FilterContext::default());
        assert_eq!(
            events[0].get(&Path::parse("inner.a").unwrap()),
            Some(Value::Int(1))
        );
        assert!(events[1].has_tag(TAG_PARSE_FAILURE));
    }

    /// Splits `a,b,c` into one record per item with its own message; `-`
    /// yields no record; `!` fails.
    #[derive(Debug)]
    struct Splitter;
    impl Parser for Splitter {
        fn parse(
            &self,
            input: &Bytes,
            _: &Event,
            out: &mut Vec<Parsed>,
        ) -> Result<(), crate::parsers::ParseError> {
            if input.as_ref() == b"!" {
                return Err(crate::parsers::ParseError::new("bang"));
            }
            if input.as_ref() == b"-" {
                return Ok(());
            }
            for part in input.split(|b| *b == b',') {
                let mut f = crate::event::Fields::new();
                f.insert(
                    "part",
                    Value::from(String::from_utf8_lossy(part).into_owned()),
                );
                out.push(Parsed {
                    value: Value::Object(f),
                    timestamp: None,
                    message: Some(Bytes::copy_from_slice(part)),
                });
            }
            Ok(())
        }
    }

    #[test]
    fn records_expand_vanish_and_fail_in_order() {
        for on_error in [OnError::Tag, OnError::Drop, OnError::DeadLetter] {
            let p = Parse::new(
                ParseCommon {
                    format: "split".into(),
                    field: None,
                    target: None,
                    on_error,
                    keep_original: false,
                },
                Arc::new(Splitter),
                &BuildContext {
                    pipeline: "p".into(),
                    component: "parse#0".into(),
                },
            );
            let (events, cx) = run(&p, &["x", "a,b", "-", "!", "y"]);
            let messages: Vec<_> = events.iter().map(|e| e.message.clone()).collect();
            match on_error {
                OnError::Tag => assert_eq!(messages, vec!["x", "a", "b", "!", "y"]),
                _ => assert_eq!(messages, vec!["x", "a", "b", "y"]),
            }
            assert_eq!(
                cx.dead_letters.len(),
                usize::from(on_error == OnError::DeadLetter)
            );
            assert!(events
                .iter()
                .filter(|e| !e.has_tag(TAG_PARSE_FAILURE))
                .all(|e| e.emits_message()));
        }
    }
}
