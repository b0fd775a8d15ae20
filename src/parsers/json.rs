//! `format: json` — one JSON document per message, parsed with simd-json.
//!
//! Strings come out as slices of the message when they hold no escape
//! sequence; only strings that needed unescaping allocate. The document is
//! copied once into a per-thread scratch buffer, because simd-json parses in
//! place; that buffer, simd-json's own buffers and the tape are reused.

use std::cell::RefCell;

use bytes::Bytes;
use simd_json::{Buffers, Node, StaticNode, Tape};

use super::{ParseError, Parsed, Parser};
use crate::event::{Event, Fields, Value};

/// Options of `format: json`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOptions {}

/// Parses messages holding one JSON document each.
#[derive(Debug, Default)]
pub struct JsonParser;

impl JsonParser {
    pub fn new(_options: JsonOptions) -> Self {
        JsonParser
    }
}

impl Parser for JsonParser {
    fn parse(
        &self,
        input: &Bytes,
        _event: &Event,
        out: &mut Vec<Parsed>,
    ) -> Result<(), ParseError> {
        let value = parse_value(input)?;
        out.push(Parsed::value(value));
        Ok(())
    }
}

struct Scratch {
    input: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        input: Vec::new(),
        buffers: Buffers::default(),
        tape: Some(Tape::null().reset()),
    });
}

/// Parses one JSON document into a [`Value`]; strings without escapes are
/// slices of `input`.
pub fn parse_value(input: &Bytes) -> Result<Value, ParseError> {
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let scratch = &mut *guard;
        scratch.input.clear();
        scratch.input.extend_from_slice(input);
        scratch
            .input
            .resize(input.len() + simd_json::INPUT_PADDING, 0);
        let base = scratch.input.as_ptr() as usize;
        let mut tape: Tape<'_> = scratch.tape.take().unwrap_or_else(Tape::null).reset();
        let result = simd_json::fill_tape_padded(
            &mut scratch.input,
            input.len(),
            &mut scratch.buffers,
            &mut tape,
        );
        let value = match result {
            Ok(()) => {
                let mut pos = 0;
                let conv = Converter { input, base };
                Ok(conv.value(&tape.0, &mut pos))
            }
            Err(e) => Err(ParseError::new(describe_error(input, &e))),
        };
        scratch.tape = Some(tape.reset());
        value
    })
}

/// Why `input` is not JSON, in words a person can act on. simd-json's
/// errors name an internal state ("Syntax", "InternalError"); serde_json's
/// say what was expected where ("EOF while parsing an object at line 1
/// column 5"), so the (rare) failing document is read again by it.
fn describe_error(input: &[u8], simd: &simd_json::Error) -> String {
    // Plain text is the usual case: say so rather than "expected ident"
    // (serde_json's words for a word that is not `true`, `false` or `null`).
    if let Some(at) = input.iter().position(|b| !b.is_ascii_whitespace()) {
        if !matches!(input[at], b'{' | b'[' | b'"' | b'-' | b'0'..=b'9')
            && ![&b"true"[..], b"false", b"null"]
                .iter()
                .any(|w| input[at..].starts_with(w))
        {
            let found = String::from_utf8_lossy(&input[at..input.len().min(at + 16)]);
            return format!(
                "invalid JSON: expected a document (`{{`, `[`, a string, a number, `true`, \
                 `false` or `null`) at byte {at}, found `{found}`"
            );
        }
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(input) {
        Err(e) => format!("invalid JSON: {e}"),
        // Valid to serde_json but not to simd-json (nesting deeper than it
        // takes, say): its own words then.
        Ok(_) => format!("invalid JSON: {simd}"),
    }
}

struct Converter<'a> {
    input: &'a Bytes,
    base: usize,
}

impl Converter<'_> {
    /// The string as a slice of the original message when simd-json left it
    /// where it was (no escapes), else a copy.
    fn string(&self, s: &str) -> Bytes {
        let offset = (s.as_ptr() as usize).wrapping_sub(self.base);
        match self.input.get(offset..offset.wrapping_add(s.len())) {
            Some(original) if original == s.as_bytes() => {
                self.input.slice(offset..offset + s.len())
            }
            _ => Bytes::copy_from_slice(s.as_bytes()),
        }
    }

    fn value(&self, tape: &[Node<'_>], pos: &mut usize) -> Value {
        let Some(node) = tape.get(*pos) else {
            return Value::Null;
        };
        *pos += 1;
        match node {
            Node::String(s) => Value::Str(self.string(s)),
            Node::Static(s) => match s {
                StaticNode::Null => Value::Null,
                StaticNode::Bool(b) => Value::Bool(*b),
                StaticNode::I64(i) => Value::Int(*i),
                StaticNode::U64(u) => match i64::try_from(*u) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Float(*u as f64),
                },
                StaticNode::F64(f) => Value::Float(*f),
            },
            Node::Array { len, .. } => {
                let mut items = Vec::with_capacity(*len);
                for _ in 0..*len {
                    items.push(self.value(tape, pos));
                }
                Value::Array(items)
            }
            Node::Object { len, .. } => {
                let mut fields = Fields::with_capacity(*len);
                // JSON allows duplicate keys (the last one wins, as in most
                // parsers) but they are rare: a 64-bit filter of (length,
                // first byte) sends only possible duplicates to the search.
                let mut seen = 0u64;
                for _ in 0..*len {
                    let key = match tape.get(*pos) {
                        Some(Node::String(k)) => self.string(k),
                        _ => Bytes::new(),
                    };
                    *pos += 1;
                    let value = self.value(tape, pos);
                    let bit = 1u64
                        << ((key.len() * 31 + usize::from(key.first().copied().unwrap_or(0))) & 63);
                    if seen & bit == 0 {
                        seen |= bit;
                        fields.push_unchecked(key, value);
                    } else {
                        fields.insert(key, value);
                    }
                }
                Value::Object(fields)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strings_are_slices_of_the_message() {
        let input = Bytes::from_static(br#"{"a":"plain","b":"esc\"aped","n":[1,2.5,true,null]}"#);
        let v = parse_value(&input).unwrap();
        let f = v.as_object().unwrap();
        let a = f.get("a").unwrap().as_bytes().unwrap();
        let start = input.as_ptr() as usize;
        let a_ptr = a.as_ptr() as usize;
        assert!(
            a_ptr >= start && a_ptr < start + input.len(),
            "plain string must be a slice"
        );
        assert_eq!(f.get("b"), Some(&Value::from("esc\"aped")));
        assert_eq!(
            f.get("n"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Float(2.5),
                Value::Bool(true),
                Value::Null
            ]))
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let reason =
            |text: &'static [u8]| parse_value(&Bytes::from_static(text)).unwrap_err().reason;
        assert_eq!(
            reason(b"{\"a\":"),
            "invalid JSON: EOF while parsing a value at line 1 column 5"
        );
        assert_eq!(
            reason(b"  not json"),
            "invalid JSON: expected a document (`{`, `[`, a string, a number, `true`, \
             `false` or `null`) at byte 2, found `not json`"
        );
        assert_eq!(
            reason(b"nul"),
            "invalid JSON: expected a document (`{`, `[`, a string, a number, `true`, \
             `false` or `null`) at byte 0, found `nul`"
        );
        assert_eq!(
            reason(b"[1, nul]"),
            "invalid JSON: expected ident at line 1 column 8"
        );
        assert_eq!(
            reason(b"{\"a\":1}x"),
            "invalid JSON: trailing characters at line 1 column 8"
        );
        assert_eq!(
            reason(b"{\"a\" 1}"),
            "invalid JSON: expected `:` at line 1 column 6"
        );
        assert!(parse_value(&Bytes::from_static(b"")).is_err());
        assert!(parse_value(&Bytes::from_static(b"{\"a\":\"\xff\"}")).is_err());
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_once() {
        let v = parse_value(&Bytes::from_static(
            br#"{"a":1,"b":2,"a":3,"ab":4,"ba":5,"ab":6}"#,
        ))
        .unwrap();
        let f = v.as_object().unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f.get("a"), Some(&Value::Int(3)));
        assert_eq!(f.get("ab"), Some(&Value::Int(6)));
    }

    #[test]
    fn big_unsigned_numbers_become_floats() {
        let v = parse_value(&Bytes::from_static(b"18446744073709551615")).unwrap();
        assert_eq!(v, Value::Float(18446744073709551615.0));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_value(&Bytes::from(bytes));
        }

        #[test]
        fn agrees_with_serde_json(s in "[ -~]{0,40}", n in any::<i64>()) {
            let doc = serde_json::json!({"s": s, "n": n, "nested": {"list": [s.clone()]}});
            let text = serde_json::to_string(&doc).unwrap();
            let v = parse_value(&Bytes::from(text)).unwrap();
            prop_assert_eq!(v, Value::from(&doc));
        }
    }
}
