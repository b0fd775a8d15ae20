//! [`Value`]: a field's value.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::Fields;

/// A field value. Strings are [`Bytes`] so parsers can slice them out of the raw
/// message; they are normally UTF-8, and an output that needs text replaces any
/// invalid sequence with U+FFFD (see [`crate::event::json`]).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Bytes),
    Timestamp(DateTime<Utc>),
    Array(Vec<Value>),
    Object(Fields),
}

impl Value {
    /// The string's bytes, if this is a string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(b) => Some(b),
            _ => None,
        }
    }

    /// The string as `&str` when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The value as a number: integers, floats, and strings holding a number
    /// (log fields often carry numbers as text).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as an integer, when it is one (or a string holding one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Value::Str(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a timestamp: a timestamp, or a string in RFC 3339 form.
    pub fn as_timestamp(&self) -> Option<DateTime<Utc>> {
        match self {
            Value::Timestamp(t) => Some(*t),
            Value::Str(b) => DateTime::parse_from_rfc3339(std::str::from_utf8(b).ok()?)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Fields> {
        match self {
            Value::Object(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Fields> {
        match self {
            Value::Object(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value rendered as text the way a person writes it: strings as they
    /// are (lossily decoded), numbers and booleans in JSON form, containers as JSON.
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Null => "null".to_owned(),
            other => {
                let mut buf = bytes::BytesMut::new();
                super::json::write_value(other, &mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            }
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Timestamp(_) => "timestamp",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Bytes::from(s))
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Str(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<u16> for Value {
    fn from(i: u16) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Fields> for Value {
    fn from(f: Fields) -> Self {
        Value::Object(f)
    }
}

impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

impl From<DateTime<Utc>> for Value {
    fn from(t: DateTime<Utc>) -> Self {
        Value::Timestamp(t)
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                let mut f = Fields::with_capacity(o.len());
                for (k, v) in o {
                    f.insert(k.as_str(), Value::from(v));
                }
                Value::Object(f)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_from_strings() {
        assert_eq!(Value::from(" 42 ").as_i64(), Some(42));
        assert_eq!(Value::from("4.5").as_f64(), Some(4.5));
        assert_eq!(Value::from("x").as_f64(), None);
        assert_eq!(Value::Float(3.0).as_i64(), Some(3));
        assert_eq!(Value::Float(3.5).as_i64(), None);
    }

    #[test]
    fn text_rendering() {
        assert_eq!(Value::from("a\"b").to_text(), "a\"b");
        assert_eq!(Value::Int(5).to_text(), "5");
        assert_eq!(Value::Bool(true).to_text(), "true");
        assert_eq!(
            Value::Array(vec![Value::Int(1), Value::from("x")]).to_text(),
            "[1,\"x\"]"
        );
    }
}
