//! JSON encoding of events, straight into an output buffer.
//!
//! No intermediate document is built: [`write_event`] walks the event and
//! appends bytes to a [`BytesMut`].
//!
//! # Invalid UTF-8
//!
//! Strings in weir are bytes (a TCP client may send anything). JSON text must be
//! UTF-8, so the encoder replaces every invalid sequence with U+FFFD, exactly as
//! [`String::from_utf8_lossy`] does (one replacement character per maximal
//! invalid subpart). Valid UTF-8 passes through unchanged, including characters
//! outside the BMP; only `"`, `\` and control characters are escaped.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Datelike, Timelike, Utc};

use super::flat::{FlatDoc, Kind, Node};
use super::{Event, Fields, Value};

/// Appends the event as one JSON object (no trailing newline): `@timestamp`
/// first, then the raw `message` unless it was consumed, then the fields.
pub fn write_event(event: &Event, out: &mut BytesMut) {
    out.reserve(event.message.len() + 64);
    out.put_slice(b"{\"@timestamp\":");
    write_timestamp(&event.timestamp, out);
    if event.emits_message() {
        out.put_slice(b",\"message\":");
        write_str(&event.message, out);
    }
    // The event time is the one `@timestamp`; a field of that name (one
    // that never parsed as a time) must not make a duplicate key.
    // `@metadata` is for the pipeline only, as in Logstash.
    let skip = |k: &[u8]| k == b"@timestamp" || k == b"@metadata";
    write_members(&event.fields, skip, false, out);
    out.put_u8(b'}');
}

/// Appends `"key":value` for each field `skip` does not name, each preceded
/// by a comma unless `first` (then the first is not).
fn write_members(fields: &Fields, skip: impl Fn(&[u8]) -> bool, first: bool, out: &mut BytesMut) {
    let mut first = first;
    match fields.deferred_parts() {
        Some((entries, doc)) => write_merged(entries, doc, doc.root(), &skip, &mut first, out),
        None => {
            for (k, v) in fields.iter() {
                if !skip(k) {
                    write_member(k, v, &mut first, out);
                }
            }
        }
    }
}

fn write_member(key: &[u8], value: &Value, first: &mut bool, out: &mut BytesMut) {
    write_key(key, first, out);
    write_value(value, out);
}

/// Appends `"key":`, after a comma unless it is the `first` member (which
/// it then no longer is).
pub(crate) fn write_key(key: &[u8], first: &mut bool, out: &mut BytesMut) {
    if !std::mem::replace(first, false) {
        out.put_u8(b',');
    }
    write_str(key, out);
    out.put_u8(b':');
}

/// Writes the members of `entries` with the record's `members` merged over
/// them, in exactly the order and with exactly the values that building the
/// tree with [`Fields::merge`] gives (`fields::merge_entries`; the tests
/// compare the two), without building the record's tree.
fn write_merged(
    entries: &[(bytes::Bytes, Value)],
    doc: &FlatDoc,
    members: &[Node],
    skip: &dyn Fn(&[u8]) -> bool,
    first: &mut bool,
    out: &mut BytesMut,
) {
    let theirs = members.iter().filter(|m| doc.present(m)).count();
    // A same-named pair: merged key by key when both are objects, else the
    // record's value wins.
    let both = |older: &Value, m: &Node, first: &mut bool, out: &mut BytesMut| {
        match (older, &m.kind) {
            (Value::Object(older), Kind::Object(inner)) => {
                write_key(m.key.as_bytes(), first, out);
                out.put_u8(b'{');
                let mut inner_first = true;
                write_merged(older.view(), doc, inner, &|_| false, &mut inner_first, out);
                out.put_u8(b'}');
            }
            (Value::Object(older), Kind::Leaf(_)) => {
                // An owned object in a leaf: rare enough to build.
                let mut combined = older.clone();
                if let Some(Value::Object(newer)) = doc.node_value(m) {
                    combined.merge(newer);
                    write_member(m.key.as_bytes(), &Value::Object(combined), first, out);
                } else {
                    doc.write_member(m, first, out);
                }
            }
            _ => doc.write_member(m, first, out),
        }
    };
    let older = |key: &str| entries.iter().find(|(k, _)| k.as_ref() == key.as_bytes());
    if entries.is_empty() || theirs > entries.len() {
        for (k, v) in entries {
            if !skip(k) && doc.member(members, k).is_none() {
                write_member(k, v, first, out);
            }
        }
        for m in members {
            if skip(m.key.as_bytes()) {
                continue;
            }
            match older(&m.key) {
                Some((_, v)) if doc.present(m) => both(v, m, first, out),
                _ => doc.write_member(m, first, out),
            }
        }
    } else {
        for (k, v) in entries {
            if skip(k) {
                continue;
            }
            match doc.member(members, k) {
                Some(m) => both(v, m, first, out),
                None => write_member(k, v, first, out),
            }
        }
        for m in members {
            if !skip(m.key.as_bytes()) && older(&m.key).is_none() {
                doc.write_member(m, first, out);
            }
        }
    }
}

/// Appends one value as JSON.
pub fn write_value(value: &Value, out: &mut BytesMut) {
    match value {
        Value::Null => out.put_slice(b"null"),
        Value::Bool(true) => out.put_slice(b"true"),
        Value::Bool(false) => out.put_slice(b"false"),
        Value::Int(i) => out.put_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::Float(f) => {
            if f.is_finite() {
                out.put_slice(ryu::Buffer::new().format_finite(*f).as_bytes());
            } else {
                // JSON has no NaN or infinity.
                out.put_slice(b"null");
            }
        }
        Value::Str(s) => write_str(s, out),
        Value::Timestamp(t) => write_timestamp(t, out),
        Value::Array(items) => {
            out.put_u8(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                write_value(item, out);
            }
            out.put_u8(b']');
        }
        Value::Object(fields) => write_object(fields, out),
    }
}

fn write_object(fields: &Fields, out: &mut BytesMut) {
    out.put_u8(b'{');
    write_members(fields, |_| false, true, out);
    out.put_u8(b'}');
}

/// Appends `s` as a quoted JSON string (see the module docs on invalid UTF-8).
pub fn write_str(s: &[u8], out: &mut BytesMut) {
    out.reserve(s.len() + 2);
    out.put_u8(b'"');
    if is_plain(s) {
        out.put_slice(s);
    } else if simdutf8::basic::from_utf8(s).is_ok() {
        write_escaped(s, out);
    } else {
        write_escaped(String::from_utf8_lossy(s).as_bytes(), out);
    }
    out.put_u8(b'"');
}

/// Whether `s` is ASCII with nothing to escape, so that it can be copied as
/// it is. Most keys and log values are: one word-at-a-time pass decides it,
/// where validating UTF-8 and then looking for escapes would take two, and
/// short strings (most keys) would go byte by byte.
#[inline]
fn is_plain(s: &[u8]) -> bool {
    let dirty = |word: u64| needs_escape(word) || word & HIGH != 0;
    let mut words = s.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if dirty(u64::from_le_bytes(word)) {
            return false;
        }
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return true;
    }
    if s.len() >= 8 {
        // The last eight bytes, overlapping words already checked.
        let mut word = [0u8; 8];
        word.copy_from_slice(&s[s.len() - 8..]);
        return !dirty(u64::from_le_bytes(word));
    }
    // A short string, assembled in a register (a copy into a padded buffer
    // costs a store-forwarding stall larger than the check) over spaces,
    // which need no escaping.
    let word = tail
        .iter()
        .enumerate()
        .fold(0x2020_2020_2020_2020u64, |w, (i, &b)| {
            let shift = 8 * i;
            (w & !(0xff << shift)) | (u64::from(b) << shift)
        });
    !dirty(word)
}

/// For each byte: 0 = copy as is, otherwise the escape letter (`u` = `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Every byte of a word 0x01, and every byte's high bit.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether any of the 8 bytes in `word` needs escaping: below 0x20, `"` or
/// `\\` (SWAR: "has a byte less than n" and "has a zero byte" tricks).
#[inline]
fn needs_escape(word: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    (below_space | has_zero(word ^ (ONES * b'"' as u64)) | has_zero(word ^ (ONES * b'\\' as u64)))
        != 0
}

fn write_escaped(s: &[u8], out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Skip to the first 8-byte word that holds a byte to escape: most
    // strings have none and are copied in one piece.
    let mut clean = 0;
    while let Some(chunk) = s.get(clean..clean + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        clean += 8;
    }
    if clean == s.len() {
        out.put_slice(s);
        return;
    }
    let mut start = 0;
    for (i, &b) in s.iter().enumerate().skip(clean) {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.put_slice(&s[start..i]);
        if esc == b'u' {
            out.put_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.put_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.put_slice(&s[start..]);
}

/// Appends an RFC 3339 UTC time: milliseconds, or more digits when the time
/// has sub-millisecond precision (syslog and VPC logs can carry microseconds).
pub fn write_timestamp(t: &DateTime<Utc>, out: &mut BytesMut) {
    let mut buf = [0u8; 40];
    let n = format_timestamp(t, &mut buf);
    out.put_u8(b'"');
    out.put_slice(&buf[..n]);
    out.put_u8(b'"');
}

/// Formats `t` as `YYYY-MM-DDTHH:MM:SS.sssZ` into `buf`; returns the length.
pub fn format_timestamp(t: &DateTime<Utc>, buf: &mut [u8; 40]) -> usize {
    fn two(buf: &mut [u8], at: usize, v: u32) {
        buf[at] = b'0' + (v / 10 % 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    }
    let year = t.year();
    if !(0..=9999).contains(&year) {
        // Outside RFC 3339's four-digit years: let chrono spell it.
        let s = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let n = s.len().min(buf.len());
        buf[..n].copy_from_slice(&s.as_bytes()[..n]);
        return n;
    }
    let y = year as u32;
    two(buf, 0, y / 100);
    two(buf, 2, y % 100);
    buf[4] = b'-';
    two(buf, 5, t.month());
    buf[7] = b'-';
    two(buf, 8, t.day());
    buf[10] = b'T';
    two(buf, 11, t.hour());
    buf[13] = b':';
    two(buf, 14, t.minute());
    buf[16] = b':';
    two(buf, 17, t.second());
    buf[19] = b'.';
    // Leap seconds show as nanos >= 1e9 in chrono; clamp into the last second.
    let nanos = t.nanosecond().min(999_999_999);
    let (digits, value) = if nanos % 1_000_000 == 0 {
        (3, nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        (6, nanos / 1_000)
    } else {
        (9, nanos)
    };
    let mut v = value;
    for i in (0..digits).rev() {
        buf[20 + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    buf[20 + digits] = b'Z';
    21 + digits
}

/// The event as a JSON string (tests, `weir test`, debugging).
pub fn to_string(event: &Event) -> String {
    let mut out = BytesMut::new();
    write_event(event, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn encode_value(v: &Value) -> String {
        let mut out = BytesMut::new();
        write_value(v, &mut out);
        String::from_utf8(out.to_vec()).expect("encoder must write UTF-8")
    }

    #[test]
    fn escapes() {
        let v = Value::from("q\" b\\ n\n t\t c\u{1} d\u{7f} é 😀");
        let s = encode_value(&v);
        assert_eq!(s, "\"q\\\" b\\\\ n\\n t\\t c\\u0001 d\u{7f} é 😀\"");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "q\" b\\ n\n t\t c\u{1} d\u{7f} é 😀");
    }

    #[test]
    fn escapes_at_every_offset_of_long_strings() {
        // The word-at-a-time scan must find an escape wherever it is.
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}'] {
            for at in 0..20 {
                let mut text: String = "abcdefghijklmnopqrstuvwxyz".chars().take(20).collect();
                text.replace_range(at..at + 1, &special.to_string());
                let s = encode_value(&Value::from(text.as_str()));
                let back: String = serde_json::from_str(&s).unwrap();
                assert_eq!(back, text, "{s}");
            }
        }
        // Bytes at and above 0x20 other than quote and backslash pass.
        let all: String = (0x20u8..0x7f).map(char::from).collect();
        let back: String = serde_json::from_str(&encode_value(&Value::from(all.as_str()))).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn strings_of_every_length_with_a_special_byte_anywhere() {
        // The plain-string check reads whole words and a space-padded tail:
        // a byte that needs escaping, or any non-ASCII byte, must be seen at
        // every position of every length around the word size.
        let specials: [&[u8]; 8] = [
            b"\"",
            b"\\",
            b"\n",
            b"\x01",
            b"\x7f",
            b"\xc3\xa9",
            b"\xff",
            b" ",
        ];
        for len in 0..=17 {
            for at in 0..len {
                for special in specials {
                    let mut bytes: Vec<u8> = b"abcdefghijklmnopq"[..len].to_vec();
                    bytes.splice(at..at + 1, special.iter().copied());
                    let ours = encode_value(&Value::Str(Bytes::from(bytes.clone())));
                    let serde = serde_json::to_string(&String::from_utf8_lossy(&bytes)).unwrap();
                    assert_eq!(ours, serde, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let v = Value::Str(Bytes::from_static(b"ok \xff\xfe end \xe2\x82"));
        let s = encode_value(&v);
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "ok \u{fffd}\u{fffd} end \u{fffd}");
    }

    #[test]
    fn event_layout() {
        let mut ev = Event::new(
            Bytes::from_static(b"raw"),
            Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
        );
        ev.fields.insert("n", Value::Int(-7));
        ev.fields.insert("@timestamp", Value::from("not a time"));
        assert_eq!(
            to_string(&ev),
            r#"{"@timestamp":"2024-01-02T03:04:05.000Z","message":"raw","n":-7}"#
        );
        ev.meta.message_consumed = true;
        assert_eq!(
            to_string(&ev),
            r#"{"@timestamp":"2024-01-02T03:04:05.000Z","n":-7}"#
        );
    }

    #[test]
    fn timestamp_precision() {
        let base = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let at = |nanos| {
            let mut buf = [0u8; 40];
            let t = base + chrono::Duration::nanoseconds(nanos);
            let n = format_timestamp(&t, &mut buf);
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        assert_eq!(at(0), "2024-01-02T03:04:05.000Z");
        assert_eq!(at(123_000_000), "2024-01-02T03:04:05.123Z");
        assert_eq!(at(123_456_000), "2024-01-02T03:04:05.123456Z");
        assert_eq!(at(123_456_789), "2024-01-02T03:04:05.123456789Z");
    }

    #[test]
    fn non_finite_floats_are_null() {
        assert_eq!(encode_value(&Value::Float(f64::NAN)), "null");
        assert_eq!(encode_value(&Value::Float(f64::INFINITY)), "null");
    }

    mod deferred {
        use super::*;
        use crate::event::flat::{FlatDoc, Schema, Slot};
        use crate::node;

        static SCHEMA: Schema = Schema {
            root: std::borrow::Cow::Borrowed(&[
                node!(leaf "a", 0),
                node!(
                    object "o",
                    [node!(leaf "b", 1), node!(object "deep", [node!(leaf "c", 2)])]
                ),
                node!(array "list", [0, 3]),
                node!(leaf "@metadata", 4),
                node!(leaf "x", 5),
            ]),
            slots: 6,
        };

        fn arb_slot() -> impl Strategy<Value = Slot> {
            prop_oneof![
                Just(Slot::Absent),
                Just(Slot::Absent),
                (0u32..4, 0u32..4).prop_map(|(a, n)| Slot::Span(a, a + n)),
                any::<i64>().prop_map(Slot::Int),
                Just(Slot::Static("fixed")),
                Just(Slot::List(&[])),
                Just(Slot::List(&["x", "y"])),
                (0i64..2_000_000_000).prop_map(|s| Slot::Timestamp(
                    DateTime::from_timestamp(s, 0).unwrap_or_default()
                )),
                Just(Slot::Owned(0)),
            ]
        }

        /// Values the overlay holds: scalars and objects whose keys collide
        /// with the schema's at every depth.
        fn arb_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                any::<i64>().prop_map(Value::Int),
                "[a-z]{0,3}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 12, 4, |inner| {
                prop::collection::vec(
                    (prop::sample::select(vec!["b", "c", "deep", "y"]), inner),
                    0..4,
                )
                .prop_map(|pairs| {
                    let mut f = Fields::new();
                    for (k, v) in pairs {
                        f.insert(k, v);
                    }
                    Value::Object(f)
                })
            })
        }

        fn arb_fields() -> impl Strategy<Value = Fields> {
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "a",
                        "o",
                        "list",
                        "x",
                        "@timestamp",
                        "@metadata",
                        "z",
                    ]),
                    arb_value(),
                ),
                0..6,
            )
            .prop_map(|pairs| {
                let mut f = Fields::new();
                for (k, v) in pairs {
                    f.insert(k, v);
                }
                f
            })
        }

        fn arb_doc() -> impl Strategy<Value = FlatDoc> {
            (prop::collection::vec(arb_slot(), 6), any::<bool>()).prop_map(
                |(slots, owned_object)| {
                    let mut doc = FlatDoc::new(&SCHEMA, Bytes::from_static(b"line"));
                    for (i, slot) in slots.into_iter().enumerate() {
                        let i = i as u16;
                        match slot {
                            Slot::Owned(_) if owned_object => {
                                let mut f = Fields::new();
                                f.insert("b", Value::Int(1));
                                f.insert("q", Value::from("owned"));
                                doc.set_owned(i, Value::Object(f));
                            }
                            Slot::Owned(_) => doc.set_owned(i, Value::from("own")),
                            Slot::Span(a, b) => doc.set_span(i, a as usize, b as usize),
                            other => doc.set(i, other),
                        }
                    }
                    doc
                },
            )
        }

        fn json_of(fields: Fields) -> String {
            let mut event = Event::from_text("raw");
            event.timestamp = Utc.timestamp_opt(0, 0).unwrap();
            event.fields = fields;
            to_string(&event)
        }

        proptest! {
            /// Writing a deferred record over other fields gives the same
            /// JSON as building the merged tree first, at the root and
            /// under a key.
            #[test]
            fn deferred_records_write_what_their_tree_would(base in arb_fields(), doc in arb_doc()) {
                let mut deferred = base.clone();
                deferred.merge(Fields::from(doc.clone()));
                let mut built = base.clone();
                built.merge(doc.to_fields());
                let json = json_of(deferred.clone());
                prop_assert_eq!(&json, &json_of(built.clone()));
                prop_assert_eq!(&deferred, &built);
                // Once read (the tree built), it still writes the same.
                let _ = deferred.len();
                prop_assert_eq!(&json, &json_of(deferred));

                let mut nested = base.clone();
                nested.insert("t", Value::Object(Fields::from(doc.clone())));
                let mut nested_built = base;
                nested_built.insert("t", Value::Object(doc.to_fields()));
                prop_assert_eq!(json_of(nested), json_of(nested_built));
            }
        }
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|i| serde_json::json!(i)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| serde_json::json!(f)),
            any::<String>().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips_through_serde_json(doc in arb_json()) {
            let encoded = encode_value(&Value::from(&doc));
            let back: serde_json::Value = serde_json::from_str(&encoded)
                .map_err(|e| TestCaseError::fail(format!("{e}: {encoded}")))?;
            prop_assert_eq!(back, doc);
        }

        #[test]
        fn arbitrary_bytes_encode_to_valid_json(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let encoded = encode_value(&Value::Str(Bytes::from(bytes.clone())));
            let back: String = serde_json::from_str(&encoded)
                .map_err(|e| TestCaseError::fail(format!("{e}: {encoded}")))?;
            prop_assert_eq!(back, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
}
