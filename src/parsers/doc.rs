//! Helpers the hand-written parsers share to build their documents.
//!
//! Keys are `'static` ECS names pushed without a duplicate search: each parser
//! builds a fresh object and writes every key once.

use bytes::Bytes;

use crate::event::{Fields, Value};

#[inline]
pub(crate) fn put(fields: &mut Fields, key: &'static str, value: Value) {
    fields.push_unchecked(key.as_bytes(), value);
}

#[inline]
pub(crate) fn put_str(fields: &mut Fields, key: &'static str, value: Option<Bytes>) {
    if let Some(v) = value {
        put(fields, key, Value::Str(v));
    }
}

#[inline]
pub(crate) fn put_int(fields: &mut Fields, key: &'static str, value: Option<i64>) {
    if let Some(v) = value {
        put(fields, key, Value::Int(v));
    }
}

/// Adds `key: object` unless the object is empty.
#[inline]
pub(crate) fn put_object(fields: &mut Fields, key: &'static str, object: Fields) {
    if !object.is_empty() {
        put(fields, key, Value::Object(object));
    }
}

/// A string value from a constant.
pub(crate) fn stat(s: &'static str) -> Value {
    Value::Str(Bytes::from_static(s.as_bytes()))
}

/// A non-negative decimal that fits in an `i64`, digits only.
pub(crate) fn parse_u63(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(n)
}
