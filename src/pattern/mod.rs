//! The filter-pattern language: CloudWatch Logs' metric/subscription filter
//! syntax, weir's one condition language (`when:` guards, `metric_filter`,
//! the error-code catalog).
//!
//! A pattern's form is decided by its first non-blank character, as in
//! CloudWatch:
//!
//! | starts with | form | reads | module |
//! |---|---|---|---|
//! | `{` | JSON pattern `{ $.status >= 500 && $.path = "/api/*" }` | the event's fields (or the message parsed as JSON) | `json.rs` |
//! | `[` | space-delimited `[ip, user, ..., status=5*, bytes>1000]` | the raw message, split into fields | `delimited.rs` |
//! | anything else | terms `ERROR -DEBUG`, `?timeout ?refused`, `%regex%` | the raw message | `term.rs` |
//! | nothing, `""`, `" "` | match every event | | |
//!
//! Patterns are case-sensitive. A [`Pattern`] is compiled once (configuration
//! time) into matchers that never panic and, for terms, never allocate per
//! event. Users who already wrote CloudWatch filters paste them unchanged;
//! where CloudWatch's documentation is silent or ambiguous the choice weir
//! made is written down in the module that implements it.

mod condition;
mod cursor;
mod delimited;
mod error;
mod expr;
mod json;
mod re;
mod term;
mod value_ref;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod properties;

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;

use crate::event::{Event, Value};
use cursor::Cursor;
use delimited::DelimitedPattern;
use json::JsonPattern;
use term::TermPattern;

pub use error::PatternError;
pub use json::{select, Selector};
pub use value_ref::ValueRef;

/// A compiled filter pattern. Cheap to clone (shared), `Send + Sync`.
#[derive(Clone)]
pub struct Pattern {
    inner: Arc<Inner>,
}

struct Inner {
    text: String,
    compiled: Compiled,
}

enum Compiled {
    Term(TermPattern),
    Json(JsonPattern),
    Delimited(DelimitedPattern),
}

/// Which of the three forms a pattern is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternKind {
    Term,
    Json,
    Delimited,
}

impl fmt::Display for PatternKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatternKind::Term => "term",
            PatternKind::Json => "JSON",
            PatternKind::Delimited => "space-delimited",
        })
    }
}

impl Pattern {
    /// Compiles `text`; the error names the column and what was expected.
    pub fn compile(text: &str) -> Result<Pattern, PatternError> {
        let mut c = Cursor::new(text);
        c.skip_ws();
        let compiled = match c.peek() {
            Some('{') => Compiled::Json(JsonPattern::parse(&mut c)?),
            Some('[') => Compiled::Delimited(DelimitedPattern::parse(&mut c)?),
            _ => Compiled::Term(TermPattern::parse(&mut c)?),
        };
        Ok(Pattern {
            inner: Arc::new(Inner {
                text: text.to_owned(),
                compiled,
            }),
        })
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        &self.inner.text
    }

    pub fn kind(&self) -> PatternKind {
        match &self.inner.compiled {
            Compiled::Term(_) => PatternKind::Term,
            Compiled::Json(_) => PatternKind::Json,
            Compiled::Delimited(_) => PatternKind::Delimited,
        }
    }

    /// The field names of a space-delimited pattern, in order (`...` not
    /// listed); empty for the other forms.
    pub fn field_names(&self) -> &[Box<str>] {
        match &self.inner.compiled {
            Compiled::Delimited(p) => p.names(),
            _ => &[],
        }
    }

    /// How many `%regex%` the pattern holds. CloudWatch allows at most two
    /// per JSON or space-delimited pattern; weir does not enforce that quota,
    /// but a config check may warn about it.
    pub fn regex_count(&self) -> usize {
        match &self.inner.compiled {
            Compiled::Term(p) => p.regex_count(),
            Compiled::Json(p) => p.regex_count(),
            Compiled::Delimited(p) => p.regex_count(),
        }
    }

    pub fn matches(&self, event: &Event) -> bool {
        match &self.inner.compiled {
            Compiled::Term(p) => p.matches(&event.message),
            Compiled::Json(p) => p.matches(event),
            Compiled::Delimited(p) => p.matches(&event.message),
        }
    }

    /// What a match extracted, or `None` when `event` does not match.
    ///
    /// For a space-delimited pattern, its fields (`$name`, `$1`, …); for a
    /// JSON pattern on an event without fields, the document parsed from the
    /// message (so [`ValueRef::resolve`] need not parse it again); otherwise
    /// empty. Unlike [`Pattern::matches`] this may allocate: it is meant for
    /// `metric_filter`, which needs the values.
    pub fn captures(&self, event: &Event) -> Option<Captures> {
        match &self.inner.compiled {
            Compiled::Term(p) => p.matches(&event.message).then(Captures::default),
            Compiled::Json(p) => p.evaluate(event).map(|document| Captures {
                document,
                ..Captures::default()
            }),
            Compiled::Delimited(p) => p.captures(&event.message).map(|spans| Captures {
                message: event.message.clone(),
                names: Some(p.names().clone()),
                spans,
                document: None,
            }),
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pattern")
            .field("kind", &self.kind())
            .field("text", &self.text())
            .finish()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// Two patterns are equal when written the same.
impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl FromStr for Pattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::compile(s)
    }
}

impl<'de> serde::Deserialize<'de> for Pattern {
    /// From a string; a compile error becomes a custom error carrying the
    /// whole [`PatternError`] text (caret line included).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Pattern;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a filter pattern (a string)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Pattern, E> {
                Pattern::compile(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// What a match extracted: the fields of a space-delimited pattern as slices
/// of the message, and for JSON patterns the document parsed on the way.
#[derive(Clone, Debug, Default)]
pub struct Captures {
    message: Bytes,
    names: Option<Arc<[Box<str>]>>,
    /// Value range in `message` of each field slot, in pattern order.
    spans: Vec<Range<usize>>,
    document: Option<Value>,
}

impl Captures {
    /// The field `name` (without `$`): a slot's name, or its 1-based
    /// position (`"3"` for `$3`). A name used twice gives the first slot.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.span(name).and_then(|r| self.message.get(r))
    }

    /// Like [`Captures::get`], as a zero-copy slice of the message.
    pub fn get_bytes(&self, name: &str) -> Option<Bytes> {
        let r = self.span(name)?;
        (r.end <= self.message.len()).then(|| self.message.slice(r))
    }

    /// Every field as (`name`, value), in pattern order — CloudWatch's
    /// `extractedFields`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let names = self.names.as_deref().unwrap_or(&[]);
        names
            .iter()
            .zip(&self.spans)
            .filter_map(|(n, r)| Some((&**n, self.message.get(r.clone())?)))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The document a JSON pattern parsed from the message, if it had to.
    pub fn document(&self) -> Option<&Value> {
        self.document.as_ref()
    }

    fn span(&self, name: &str) -> Option<Range<usize>> {
        let names = self.names.as_deref().unwrap_or(&[]);
        let slot = match names.iter().position(|n| **n == *name) {
            Some(i) => i,
            None => name.parse::<usize>().ok()?.checked_sub(1)?,
        };
        self.spans.get(slot).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_by_first_character() {
        let kind = |t: &str| Pattern::compile(t).unwrap().kind();
        assert_eq!(kind("  { $.a = 1 }"), PatternKind::Json);
        assert_eq!(kind("\n[a, b]"), PatternKind::Delimited);
        assert_eq!(kind("%a%"), PatternKind::Term);
        assert_eq!(kind(""), PatternKind::Term);
        assert_eq!(kind("x [a]"), PatternKind::Term);
    }

    #[test]
    fn is_shareable() {
        fn assert_send_sync<T: Send + Sync + Clone + fmt::Debug>() {}
        assert_send_sync::<Pattern>();
        assert_send_sync::<Captures>();
        assert_send_sync::<ValueRef>();
    }

    #[test]
    fn captures_by_name_and_position() {
        let p = Pattern::compile("[a, ..., b, b]").unwrap();
        let c = p.captures(&Event::from_text("1 2 3 4")).unwrap();
        assert_eq!(c.get("a"), Some(&b"1"[..]));
        assert_eq!(c.get("b"), Some(&b"3"[..]));
        assert_eq!(c.get("3"), Some(&b"4"[..]));
        assert_eq!(c.get("0"), None);
        assert_eq!(c.get("4"), None);
        assert_eq!(c.get_bytes("a").as_deref(), Some(&b"1"[..]));
        let all: Vec<(&str, &[u8])> = c.iter().collect();
        assert_eq!(all, [("a", &b"1"[..]), ("b", b"3"), ("b", b"4")]);
        assert_eq!(c.len(), 3);
        let t = Pattern::compile("ERROR").unwrap();
        assert!(t.captures(&Event::from_text("ERROR")).unwrap().is_empty());
        assert!(t.captures(&Event::from_text("INFO")).is_none());
    }

    #[test]
    fn deserializes_from_strings() {
        let p: Pattern = serde_json::from_str(r#""ERROR -DEBUG""#).unwrap();
        assert_eq!(p.text(), "ERROR -DEBUG");
        let e = serde_json::from_str::<Pattern>(r#""[ip, user""#).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("invalid filter pattern at column 10: expected `]` to close the space-delimited pattern opened at column 1"),
            "{text}"
        );
        assert!(text.contains("  [ip, user\n           ^"), "{text}");
        assert!(serde_json::from_str::<Pattern>("5").is_err());
        let doc = crate::config::yaml::parse("x: '{ $.a = 1 }'\ny: '{ $.a = }'").unwrap();
        let ok: Pattern = crate::config::from_node(doc.get("x").unwrap()).unwrap();
        assert_eq!(ok.kind(), PatternKind::Json);
        let e = crate::config::from_node::<Pattern>(doc.get("y").unwrap()).unwrap_err();
        assert_eq!(e.loc.map(|l| l.line), Some(2));
        assert!(
            e.message.contains("expected a value after `=`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn regex_counts() {
        let n = |t: &str| Pattern::compile(t).unwrap().regex_count();
        assert_eq!(n("%a% b -%c%"), 2);
        assert_eq!(n("{ $.a = %x% || $.b = %y% && $.c = z }"), 2);
        assert_eq!(n("[a=%x%, b, c=%y% || c = %z%]"), 3);
    }
}
