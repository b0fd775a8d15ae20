//! [`ValueRef`]: where a metric value or dimension comes from — CloudWatch's
//! `metricValue` / `dimensions` syntax.

use std::fmt;

use super::condition::Number;
use super::error::PatternError;
use super::json::{select, Doc, Selector};
use super::{Captures, Pattern, PatternKind};
use crate::event::{Event, Value};

/// A metric value or dimension: `"1"` (a constant), `$.field` (a JSON
/// selector), `$name` (a named space-delimited field) or `$3` (the third).
#[derive(Clone, Debug)]
pub enum ValueRef {
    /// `$.a.b`: read as a JSON pattern reads it, from the event's fields (or
    /// its message parsed as JSON). weir allows it with every pattern form,
    /// since a parsed event has fields whatever the pattern looked at.
    Json(Selector),
    /// `$name` / `$n`, without the `$`: a field a space-delimited pattern
    /// captured.
    Capture(String),
    /// A constant, e.g. `1` to count matches.
    Number(f64),
}

impl ValueRef {
    pub fn parse(text: &str) -> Result<ValueRef, PatternError> {
        let trimmed = text.trim_start();
        let lead = text.len() - trimmed.len();
        let trimmed = trimmed.trim_end();
        if trimmed.starts_with("$.") || trimmed.starts_with("$[") {
            return Selector::parse(text).map(ValueRef::Json);
        }
        if let Some(name) = trimmed.strip_prefix('$') {
            if let Some(bad) = name.find(|c: char| !(c.is_alphanumeric() || "_-@.".contains(c))) {
                return Err(PatternError::at(
                    text,
                    lead + 1 + bad,
                    "a field name (letters, digits, `_`, `-`, `@`, `.`)",
                ));
            }
            if name.is_empty() {
                return Err(PatternError::at(
                    text,
                    lead + 1,
                    "a field name or `.` after `$`",
                ));
            }
            return Ok(ValueRef::Capture(name.to_owned()));
        }
        match Number::parse(trimmed.as_bytes()) {
            Some(n) => Ok(ValueRef::Number(n.as_f64())),
            None => Err(PatternError::at(
                text,
                lead,
                "a number, a `$.selector` (JSON patterns) or a `$field` (space-delimited patterns)",
            )),
        }
    }

    /// The value for one matching event; `captures` is what
    /// [`Pattern::captures`] returned for it. `None` when the field is absent.
    pub fn resolve(&self, event: &Event, captures: Option<&Captures>) -> Option<Value> {
        match self {
            ValueRef::Number(n) => Some(Value::Float(*n)),
            ValueRef::Capture(name) => captures?.get_bytes(name).map(Value::Str),
            ValueRef::Json(selector) => match captures.and_then(Captures::document) {
                Some(doc) => selector.first(Doc::Value(doc)),
                None => select(event, selector),
            },
        }
    }

    /// Checks at configuration time that a `$field` reference names a field
    /// of `pattern` (a space-delimited one); the error says why not.
    pub fn check_against(&self, pattern: &Pattern) -> Result<(), String> {
        let ValueRef::Capture(name) = self else {
            return Ok(());
        };
        if pattern.kind() != PatternKind::Delimited {
            return Err(format!(
                "`${name}` refers to a field of a space-delimited pattern, but `{}` is a {} pattern",
                pattern.text(),
                pattern.kind()
            ));
        }
        let names = pattern.field_names();
        let positional = name
            .parse::<usize>()
            .is_ok_and(|n| n >= 1 && n <= names.len());
        if positional || names.iter().any(|n| **n == **name) {
            Ok(())
        } else {
            Err(format!(
                "`${name}` is not a field of `{}`; its fields are {}",
                pattern.text(),
                names
                    .iter()
                    .map(|n| format!("`${n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

impl fmt::Display for ValueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Json(s) => s.fmt(f),
            ValueRef::Capture(name) => write!(f, "${name}"),
            ValueRef::Number(n) => n.fmt(f),
        }
    }
}

impl<'de> serde::Deserialize<'de> for ValueRef {
    /// From a string, or a plain number (`metricValue: 1`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ValueRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a `$.selector` or a `$field`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ValueRef, E> {
                ValueRef::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ValueRef, E> {
                Ok(ValueRef::Number(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ValueRef, E> {
                Ok(ValueRef::Number(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ValueRef, E> {
                Ok(ValueRef::Number(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert!(matches!(ValueRef::parse("1"), Ok(ValueRef::Number(n)) if n == 1.0));
        assert!(matches!(ValueRef::parse(" 2.5e1 "), Ok(ValueRef::Number(n)) if n == 25.0));
        assert!(
            matches!(ValueRef::parse("$.latency"), Ok(ValueRef::Json(s)) if s.as_str() == "$.latency")
        );
        assert!(matches!(ValueRef::parse("$server"), Ok(ValueRef::Capture(n)) if n == "server"));
        assert!(matches!(ValueRef::parse("$3"), Ok(ValueRef::Capture(n)) if n == "3"));
        let e = ValueRef::parse("bytes").unwrap_err();
        assert_eq!(e.column, 1);
        let e = ValueRef::parse("$a b").unwrap_err();
        assert_eq!(e.column, 3);
        assert!(ValueRef::parse("$").is_err());
        assert!(ValueRef::parse("$.a.").is_err());
    }

    #[test]
    fn resolve_documented_examples() {
        // Row 42: `{ $.latency = * }` with metricValue `$.latency`.
        let p = Pattern::compile("{ $.latency = * }").unwrap();
        let event = Event::from_text(r#"{"latency":50,"requestType":"GET"}"#);
        let caps = p.captures(&event).unwrap();
        let v = ValueRef::parse("$.latency").unwrap();
        assert_eq!(v.resolve(&event, Some(&caps)), Some(Value::Int(50)));
        assert_eq!(v.resolve(&event, None), Some(Value::Int(50)));
        // Row 48: dimension `$server`, value `$bytes`.
        let p = Pattern::compile(
            "[ip, server, username, timestamp, request, status_code, bytes > 1000]",
        )
        .unwrap();
        let event = Event::from_text(
            r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#,
        );
        let caps = p.captures(&event).unwrap();
        let get = |r: &str| ValueRef::parse(r).unwrap().resolve(&event, Some(&caps));
        assert_eq!(get("$server"), Some(Value::from("Prod")));
        assert_eq!(get("$bytes"), Some(Value::from("1534")));
        assert_eq!(get("$7"), Some(Value::from("1534")));
        assert_eq!(get("$missing"), None);
        assert_eq!(get("1"), Some(Value::Float(1.0)));
    }

    #[test]
    fn check_against_patterns() {
        let delimited = Pattern::compile("[ip, ..., bytes]").unwrap();
        let term = Pattern::compile("ERROR").unwrap();
        let r = |s: &str| ValueRef::parse(s).unwrap();
        assert!(r("$bytes").check_against(&delimited).is_ok());
        assert!(r("$2").check_against(&delimited).is_ok());
        assert!(r("$3").check_against(&delimited).is_err());
        let e = r("$size").check_against(&delimited).unwrap_err();
        assert_eq!(
            e,
            "`$size` is not a field of `[ip, ..., bytes]`; its fields are `$ip`, `$bytes`"
        );
        assert!(r("$bytes").check_against(&term).is_err());
        assert!(r("$.a").check_against(&term).is_ok());
        assert!(r("1").check_against(&term).is_ok());
    }

    #[test]
    fn deserialize() {
        let v: ValueRef = serde_json::from_str("1").unwrap();
        assert!(matches!(v, ValueRef::Number(n) if n == 1.0));
        let v: ValueRef = serde_json::from_str("\"$.a\"").unwrap();
        assert_eq!(v.to_string(), "$.a");
        let e = serde_json::from_str::<ValueRef>("\"nope\"").unwrap_err();
        assert!(e.to_string().contains("expected a number"));
    }
}
