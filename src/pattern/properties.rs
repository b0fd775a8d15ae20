//! Property tests: compiling and matching never panic on any input, and
//! patterns built from generated lines match those lines.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::parsers::json::parse_value;

/// Text drawn mostly from the characters the grammars care about, so the
/// generated patterns get past the first token.
fn pattern_text() -> impl Strategy<Value = String> {
    let body = r#"[\[\]{}()$.*?%"'\\ ,=!<>&|a-c0-9_@-]{0,40}"#;
    prop_oneof![
        any::<String>(),
        body.prop_map(|s| s),
        body.prop_map(|s| format!("{{ $.{s}")),
        body.prop_map(|s| format!("[{s}")),
        body.prop_map(|s| format!("%{s}")),
    ]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        r#"[\[\]{}"\\ :,a-c0-9.-]{0,60}"#.prop_map(String::into_bytes),
        r#"\{"[a-c]{1,2}":([0-9]{1,3}|"[a-c ]{0,4}"|\[1,"a",null\]|true|null)\}"#
            .prop_map(String::into_bytes),
    ]
}

/// A field of a generated space-delimited line: its text in the line and
/// the value a pattern sees.
fn field() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        "[A-Za-z0-9./:_-]{1,8}".prop_map(|w| (w.clone(), w)),
        "[0-9]{1,6}".prop_map(|w| (w.clone(), w)),
        "[A-Za-z0-9 :/-]{0,10}".prop_map(|w| (format!("[{w}]"), w)),
        "[A-Za-z0-9 /.]{0,10}".prop_map(|w| (format!("\"{w}\""), w)),
    ]
}

fn line(fields: &[(String, String)], gaps: &[usize]) -> String {
    let mut out = String::new();
    for (i, (text, _)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(gaps.get(i).copied().unwrap_or(1).max(1)));
        }
        out.push_str(text);
    }
    out
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn slots(fields: &[(String, String)], from: usize) -> Vec<String> {
    fields
        .iter()
        .enumerate()
        .map(|(i, (_, v))| format!("f{} = {}", from + i, quote(v)))
        .collect()
}

fn event(message: &[u8]) -> Event {
    Event::new(Bytes::copy_from_slice(message), chrono::Utc::now())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn compile_and_match_never_panic(text in pattern_text(), messages in prop::collection::vec(message(), 1..4)) {
        if let Ok(p) = Pattern::compile(&text) {
            for m in &messages {
                let mut e = event(m);
                let matched = p.matches(&e);
                prop_assert_eq!(matched, p.captures(&e).is_some());
                if let Ok(Value::Object(fields)) = parse_value(&e.message) {
                    e.fields = fields;
                    let _ = p.matches(&e);
                    let _ = p.captures(&e);
                }
            }
        }
    }

    #[test]
    fn value_refs_never_panic(text in pattern_text(), m in message()) {
        if let Ok(r) = ValueRef::parse(&text) {
            let _ = r.resolve(&event(&m), None);
        }
    }

    #[test]
    fn delimited_patterns_built_from_a_line_match_it(
        fields in prop::collection::vec(field(), 1..8),
        gaps in prop::collection::vec(1usize..3, 8),
        cut in any::<prop::sample::Index>(),
    ) {
        let text = line(&fields, &gaps);
        let e = event(text.as_bytes());
        let values: Vec<&[u8]> = fields.iter().map(|(_, v)| v.as_bytes()).collect();
        let k = cut.index(fields.len()) + 1;

        // Every field, in order.
        let p = Pattern::compile(&format!("[{}]", slots(&fields, 1).join(", "))).unwrap();
        let caps = p.captures(&e);
        prop_assert!(caps.is_some(), "{} on {}", p.text(), text);
        let caps = caps.unwrap();
        let got: Vec<&[u8]> = caps.iter().map(|(_, v)| v).collect();
        prop_assert_eq!(&got, &values);

        // The first k, then `...`.
        let p = Pattern::compile(&format!("[{}, ...]", slots(&fields[..k], 1).join(", "))).unwrap();
        let caps = p.captures(&e).unwrap();
        let got: Vec<&[u8]> = caps.iter().map(|(_, v)| v).collect();
        prop_assert_eq!(&got[..], &values[..k]);

        // `...`, then the last k.
        let from = fields.len() - k;
        let p = Pattern::compile(&format!("[..., {}]", slots(&fields[from..], from + 1).join(", "))).unwrap();
        let caps = p.captures(&e).unwrap();
        let got: Vec<&[u8]> = caps.iter().map(|(_, v)| v).collect();
        prop_assert_eq!(&got[..], &values[from..]);

        // Bare names: the last one takes the rest of the line.
        let names: Vec<String> = (1..=k).map(|i| format!("w{i}")).collect();
        let p = Pattern::compile(&format!("[{}]", names.join(", "))).unwrap();
        let caps = p.captures(&e).unwrap();
        prop_assert_eq!(caps.get("w1"), Some(if k == 1 && fields.len() > 1 {
            text.trim_end().as_bytes()
        } else {
            values[0]
        }));

        // A value that is not there: no match.
        let mut wrong = slots(&fields, 1);
        wrong[k - 1] = format!("f{k} = \"~absent~\"");
        let p = Pattern::compile(&format!("[{}]", wrong.join(", "))).unwrap();
        prop_assert!(!p.matches(&e));

        // One field more than the line has: no match.
        let p = Pattern::compile(&format!("[{}, extra]", slots(&fields, 1).join(", "))).unwrap();
        prop_assert!(!p.matches(&e));
    }

    #[test]
    fn numeric_slots_compare_numbers(n in -100_000i64..100_000, d in 0i64..1000) {
        let e = event(format!("x {n} y").as_bytes());
        let m = |p: &str| Pattern::compile(p).unwrap().matches(&e);
        let (eq, ge, le) = (
            m(&format!("[a, b = {n}, c]")),
            m(&format!("[a, b >= {}, c]", n - d)),
            m(&format!("[a, b <= {}, c]", n + d)),
        );
        prop_assert!(eq && ge && le);
        let (gt, ne) = (
            m(&format!("[a, b > {}, c]", n - d)),
            m(&format!("[a, b != {}, c]", n + d)),
        );
        prop_assert_eq!(gt, d > 0);
        prop_assert_eq!(ne, d > 0);
    }

    #[test]
    fn terms_found_in_a_message_match_it(
        message in "[ -~]{1,60}",
        range in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
    ) {
        let (a, b) = (range.0.index(message.len()), range.1.index(message.len()));
        let phrase = &message[a.min(b)..=a.max(b)];
        prop_assume!(!phrase.trim().is_empty());
        let e = event(message.as_bytes());
        let q = quote(phrase);
        prop_assert!(Pattern::compile(&q).unwrap().matches(&e), "{} in {}", q, message);
        let excluded = Pattern::compile(&format!("-{q}")).unwrap();
        prop_assert!(!excluded.matches(&e));
        let alternative = Pattern::compile(&format!("?{q} ?\"\u{1}\"")).unwrap();
        prop_assert!(alternative.matches(&e));
        if !phrase.contains(char::is_whitespace) && !phrase.starts_with(['-', '?', '"', '%', '[', '{']) {
            prop_assert!(Pattern::compile(phrase).unwrap().matches(&e));
        }
    }

    #[test]
    fn json_equality_on_generated_documents(
        entries in prop::collection::btree_map("[a-z]{1,6}", prop_oneof![
            (-1_000_000i64..1_000_000).prop_map(|i| i.to_string()),
            "[A-Za-z0-9 ._-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        ], 1..6),
    ) {
        let body: Vec<String> = entries.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let raw = event(format!("{{{}}}", body.join(",")).as_bytes());
        let mut parsed = raw.clone();
        if let Ok(Value::Object(fields)) = parse_value(&raw.message) {
            parsed.fields = fields;
        }
        for (k, v) in &entries {
            for e in [&raw, &parsed] {
                let eq = Pattern::compile(&format!("{{ $.{k} = {v} }}")).unwrap();
                let ne = Pattern::compile(&format!("{{ $.{k} != {v} }}")).unwrap();
                let exists = Pattern::compile(&format!("{{ $.{k} NOT EXISTS }}")).unwrap();
                prop_assert!(eq.matches(e), "{} on {}", eq.text(), String::from_utf8_lossy(&raw.message));
                prop_assert!(!ne.matches(e));
                prop_assert!(!exists.matches(e));
            }
        }
    }
}
