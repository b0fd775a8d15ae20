//! JSON patterns: `{ $.a.b[0] = "x*" && ($.n > 5 || $.ok IS TRUE) }`, and the
//! `$.` [`Selector`]s they (and metric values) are built from.
//!
//! What a selector reads: the event's fields, where `message` (while no field
//! of that name exists) is the raw message and `@timestamp` the event time, as
//! [`Event::get`] has it. An event with no fields at all has never been
//! parsed; then, as in CloudWatch, the message itself is the document: it is
//! parsed as JSON — lazily, only by JSON patterns — and a message that is not
//! JSON matches no JSON pattern (not even `NOT EXISTS`).
//!
//! The rules (see [`super::condition`] for comparisons):
//! - `$.a[*]` / `$.*` visit every element / member; the test holds when it
//!   holds for at least one of them (`NOT EXISTS`: when there is none);
//!   `$.*` on an event's fields does not visit the `message`/`@timestamp`
//!   stand-ins, which are not fields.
//! - A selector that lands on an array or object satisfies no comparison,
//!   `!=` included.
//! - `IS NULL` / `IS TRUE` / `IS FALSE` test JSON `null` / `true` / `false`
//!   exactly; a missing field is not null (that is `NOT EXISTS`). Keywords
//!   are accepted in any letter case.
//!
//! CloudWatch's quotas (one wildcard per selector, three wildcard selectors
//! and two regexes per pattern) are not enforced: every pattern CloudWatch
//! accepts means the same here, and a few more are accepted.

use std::fmt;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::condition::{Condition, Op, Scalar};
use super::cursor::Cursor;
use super::error::PatternError;
use super::expr::{self, Expr};
use crate::event::{Event, Value};
use crate::parsers::json::parse_value;

/// A parsed `$.` selector: `$.a.b`, `$.a[0]`, `$.c[0][1]`, `$.a[*]`, `$.*`,
/// `$.['cluster.name']`.
#[derive(Clone, Debug)]
pub struct Selector {
    text: String,
    steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(Box<[u8]>),
    Index(usize),
    /// `*`: every member of an object or element of an array.
    Any,
}

/// What a selector walks: an event (fields plus the `message`/`@timestamp`
/// stand-ins) or a parsed JSON document.
#[derive(Clone, Copy)]
pub(crate) enum Doc<'a> {
    Event(&'a Event),
    Value(&'a Value),
}

/// A node a selector reached.
#[derive(Clone, Copy)]
enum Node<'a> {
    Value(&'a Value),
    Message(&'a Bytes),
    Time(DateTime<Utc>),
}

impl Node<'_> {
    fn scalar(&self) -> Scalar<'_> {
        match self {
            Node::Value(v) => match v {
                Value::Null => Scalar::Null,
                Value::Bool(b) => Scalar::Bool(*b),
                Value::Int(i) => Scalar::Int(*i),
                Value::Float(f) => Scalar::Float(*f),
                Value::Str(s) => Scalar::Str(s),
                Value::Timestamp(t) => Scalar::Time(*t),
                Value::Array(_) | Value::Object(_) => Scalar::Container,
            },
            Node::Message(m) => Scalar::Str(m),
            Node::Time(t) => Scalar::Time(*t),
        }
    }

    fn to_value(self) -> Value {
        match self {
            Node::Value(v) => v.clone(),
            Node::Message(m) => Value::Str(m.clone()),
            Node::Time(t) => Value::Timestamp(t),
        }
    }
}

/// Characters of a field name in dotted form (`$.user-agent`, `$.@timestamp`).
/// CloudWatch documents letters, digits, `-` and `_`; weir also takes `@` for
/// ECS's `@timestamp`. Anything else needs the bracket form `$.['a.b']`.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '@')
}

impl Selector {
    /// Parses a whole selector, e.g. a metric value `$.latency`.
    pub fn parse(text: &str) -> Result<Selector, PatternError> {
        let mut c = Cursor::new(text);
        c.skip_ws();
        if c.peek() != Some('$') {
            return Err(c.error("a selector starting with `$.`, such as `$.eventType`"));
        }
        let selector = Selector::parse_at(&mut c)?;
        c.skip_ws();
        if !c.at_end() {
            return Err(c.error("the end of the selector"));
        }
        Ok(selector)
    }

    /// Parses a selector; the cursor is on its `$`.
    pub(crate) fn parse_at(c: &mut Cursor<'_>) -> Result<Selector, PatternError> {
        let start = c.pos();
        c.bump();
        let mut steps = Vec::new();
        loop {
            match c.peek() {
                Some('.') => {
                    c.bump();
                    match c.peek() {
                        Some('*') => {
                            c.bump();
                            steps.push(Step::Any);
                        }
                        Some('[') => steps.push(bracket(c)?),
                        Some(ch) if is_name_char(ch) => {
                            let name = c.take_while(is_name_char);
                            steps.push(Step::Key(name.as_bytes().into()));
                        }
                        _ => return Err(c.error("a field name, `*` or `['name']` after `.`")),
                    }
                }
                Some('[') => steps.push(bracket(c)?),
                _ => break,
            }
        }
        if steps.is_empty() {
            return Err(c.error("`.` after `$` (a selector such as `$.eventType`)"));
        }
        Ok(Selector {
            text: c.text()[start..c.pos()].to_owned(),
            steps,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the selector has a `*` step.
    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::Any)
    }

    /// Calls `f` on each node the selector reaches until it returns true;
    /// returns whether it did.
    fn visit<'a, F: FnMut(Node<'a>) -> bool>(&self, doc: Doc<'a>, f: &mut F) -> bool {
        match doc {
            Doc::Value(v) => walk(v, &self.steps, f),
            Doc::Event(event) => match self.steps.split_first() {
                Some((Step::Key(k), rest)) => match event.fields.get_bytes(k) {
                    Some(v) => walk(v, rest, f),
                    None if rest.is_empty()
                        && &k[..] == b"message"
                        && !event.meta.message_consumed =>
                    {
                        f(Node::Message(&event.message))
                    }
                    None if rest.is_empty() && &k[..] == b"@timestamp" => {
                        f(Node::Time(event.timestamp))
                    }
                    None => false,
                },
                Some((Step::Any, rest)) => event.fields.iter().any(|(_, v)| walk(v, rest, f)),
                Some((Step::Index(_), _)) | None => false,
            },
        }
    }

    /// The first value the selector reaches in `doc`.
    pub(crate) fn first(&self, doc: Doc<'_>) -> Option<Value> {
        let mut found = None;
        self.visit(doc, &mut |node| {
            found = Some(node.to_value());
            true
        });
        found
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn walk<'a, F: FnMut(Node<'a>) -> bool>(value: &'a Value, steps: &[Step], f: &mut F) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return f(Node::Value(value));
    };
    match (step, value) {
        (Step::Key(k), Value::Object(fields)) => {
            fields.get_bytes(k).is_some_and(|v| walk(v, rest, f))
        }
        (Step::Index(i), Value::Array(items)) => items.get(*i).is_some_and(|v| walk(v, rest, f)),
        (Step::Any, Value::Object(fields)) => fields.iter().any(|(_, v)| walk(v, rest, f)),
        (Step::Any, Value::Array(items)) => items.iter().any(|v| walk(v, rest, f)),
        _ => false,
    }
}

/// `[*]`, `[0]`, `['name']` or `["name"]`; the cursor is on the `[`.
fn bracket(c: &mut Cursor<'_>) -> Result<Step, PatternError> {
    let open = c.pos();
    c.bump();
    let step = match c.peek() {
        Some('*') => {
            c.bump();
            Step::Any
        }
        Some(d) if d.is_ascii_digit() => {
            let digits_at = c.pos();
            let digits = c.take_while(|ch| ch.is_ascii_digit());
            Step::Index(
                digits
                    .parse()
                    .map_err(|_| c.error_at(digits_at, "an array index that fits in memory"))?,
            )
        }
        Some('"') => Step::Key(c.quoted()?.bytes.into()),
        Some('\'') => {
            c.bump();
            let Some(len) = c.rest().find('\'') else {
                return Err(c.error_at(
                    c.text().len(),
                    format!(
                        "`'` to close the name opened at column {}",
                        c.column(open + 1)
                    ),
                ));
            };
            let name = &c.rest()[..len];
            c.advance(len + 1);
            Step::Key(name.as_bytes().into())
        }
        _ => return Err(c.error("an array index, `*` or a quoted name after `[`")),
    };
    if c.eat("]") {
        Ok(step)
    } else {
        Err(c.error(format!("`]` to close the `[` at column {}", c.column(open))))
    }
}

/// A compiled `{ … }` pattern.
#[derive(Clone, Debug)]
pub(crate) struct JsonPattern {
    expr: Expr<Test>,
}

/// One `selector check` leaf.
#[derive(Clone, Debug)]
struct Test {
    selector: Selector,
    check: Check,
}

#[derive(Clone, Debug)]
enum Check {
    Compare(Condition),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

impl Test {
    fn holds(&self, doc: Doc<'_>) -> bool {
        let any =
            |f: &dyn Fn(Scalar<'_>) -> bool| self.selector.visit(doc, &mut |node| f(node.scalar()));
        match &self.check {
            Check::Compare(cond) => any(&|s| cond.test_scalar(s)),
            Check::IsNull => any(&|s| matches!(s, Scalar::Null)),
            Check::IsTrue => any(&|s| matches!(s, Scalar::Bool(true))),
            Check::IsFalse => any(&|s| matches!(s, Scalar::Bool(false))),
            Check::NotExists => !self.selector.visit(doc, &mut |_| true),
        }
    }
}

impl JsonPattern {
    /// Parses `{ expression }` and requires the end of the pattern after it;
    /// the cursor is on the `{`.
    pub fn parse(c: &mut Cursor<'_>) -> Result<JsonPattern, PatternError> {
        let open = c.pos();
        c.bump();
        c.skip_ws();
        match c.peek() {
            Some('}') => {
                return Err(
                    c.error("a condition such as `$.eventType = \"UpdateTrail\"` inside `{ }`")
                )
            }
            // `{"level":"error"}` is JSON text, not a JSON pattern.
            Some('"') => {
                return Err(c.error(
                    "a selector such as `$.level` (a pattern starting with `{` is a JSON \
                     pattern; to search for text, put the whole term in double quotes)",
                ))
            }
            _ => {}
        }
        let expr = expr::parse(c, &mut parse_test)?;
        c.skip_ws();
        match c.peek() {
            Some('}') => {
                c.bump();
            }
            None => {
                return Err(c.error(format!(
                    "`}}` to close the JSON pattern opened at column {}",
                    c.column(open)
                )))
            }
            Some(_) => return Err(c.error("`&&`, `||` or `}` after the condition")),
        }
        c.skip_ws();
        if !c.at_end() {
            return Err(c.error("the end of the pattern after the closing `}`"));
        }
        Ok(JsonPattern { expr })
    }

    pub fn matches(&self, event: &Event) -> bool {
        if event.fields.is_empty() {
            parse_message(event).is_some_and(|doc| self.matches_doc(Doc::Value(&doc)))
        } else {
            self.matches_doc(Doc::Event(event))
        }
    }

    /// Like `matches`, also handing back the document parsed from the message
    /// (when the event had no fields), so metric values need not parse again.
    pub fn evaluate(&self, event: &Event) -> Option<Option<Value>> {
        if event.fields.is_empty() {
            let doc = parse_message(event)?;
            self.matches_doc(Doc::Value(&doc)).then_some(Some(doc))
        } else {
            self.matches_doc(Doc::Event(event)).then_some(None)
        }
    }

    fn matches_doc(&self, doc: Doc<'_>) -> bool {
        self.expr.eval(&mut |test: &Test| test.holds(doc))
    }

    /// How many comparisons against a `%regex%` the pattern holds.
    pub fn regex_count(&self) -> usize {
        let mut n = 0;
        self.expr.for_each_test(&mut |t| {
            if matches!(&t.check, Check::Compare(c) if c.is_regex()) {
                n += 1;
            }
        });
        n
    }
}

/// One `$.selector check` leaf of the expression.
fn parse_test(c: &mut Cursor<'_>) -> Result<Test, PatternError> {
    c.skip_ws();
    if c.peek() != Some('$') {
        return Err(c.error("a selector such as `$.eventType`, or `(`"));
    }
    let selector = Selector::parse_at(c)?;
    c.skip_ws();
    let check = if c.eat_keyword("IS") {
        c.skip_ws();
        if c.eat_keyword("NULL") {
            Check::IsNull
        } else if c.eat_keyword("TRUE") {
            Check::IsTrue
        } else if c.eat_keyword("FALSE") {
            Check::IsFalse
        } else {
            return Err(c.error("`NULL`, `TRUE` or `FALSE` after `IS`"));
        }
    } else if c.eat_keyword("NOT") {
        c.skip_ws();
        if !c.eat_keyword("EXISTS") {
            return Err(c.error("`EXISTS` after `NOT`"));
        }
        Check::NotExists
    } else if let Some(op) = Op::parse(c) {
        Check::Compare(Condition::parse_value(c, op)?)
    } else {
        return Err(c.error(format!(
            "an operator after `{selector}`: `=`, `!=`, `<`, `<=`, `>`, `>=`, \
             `IS NULL`, `IS TRUE`, `IS FALSE` or `NOT EXISTS`"
        )));
    };
    Ok(Test { selector, check })
}

/// The message parsed as a JSON document, or `None` when it is not JSON.
/// Messages that cannot start a JSON object or array are rejected without
/// running the parser: most raw lines are plain text.
fn parse_message(event: &Event) -> Option<Value> {
    let first = event.message.iter().find(|b| !b.is_ascii_whitespace())?;
    if !matches!(first, b'{' | b'[') {
        return None;
    }
    parse_value(&event.message).ok()
}

/// The value `selector` reaches in `event` (the first one, for a wildcard),
/// read as a JSON pattern reads it: the event's fields, or the message parsed
/// as JSON when the event has none.
pub fn select(event: &Event, selector: &Selector) -> Option<Value> {
    if event.fields.is_empty() {
        let doc = parse_message(event)?;
        selector.first(Doc::Value(&doc))
    } else {
        selector.first(Doc::Event(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Path;

    fn compile(text: &str) -> Result<JsonPattern, PatternError> {
        JsonPattern::parse(&mut Cursor::new(text))
    }

    fn on_message(pattern: &str, message: &str) -> bool {
        compile(pattern)
            .unwrap()
            .matches(&Event::from_text(message))
    }

    /// The message parsed into the event's fields first, as a `parse` filter
    /// would.
    fn on_fields(pattern: &str, message: &str) -> bool {
        let mut event = Event::from_text(message);
        match parse_value(&event.message).unwrap() {
            Value::Object(fields) => event.fields = fields,
            other => panic!("not an object: {other:?}"),
        }
        compile(pattern).unwrap().matches(&event)
    }

    fn both(pattern: &str, message: &str) -> bool {
        let a = on_message(pattern, message);
        assert_eq!(a, on_fields(pattern, message), "{pattern} on {message}");
        a
    }

    #[test]
    fn selectors() {
        let doc = r#"{"a":{"b":[{"c":1},{"c":2}]},"x.y":"dotted","n":null}"#;
        assert!(both("{ $.a.b[1].c = 2 }", doc));
        assert!(both("{ $.a.b[*].c = 2 }", doc));
        assert!(!both("{ $.a.b[2].c = 2 }", doc));
        assert!(both("{ $.['x.y'] = dotted }", doc));
        assert!(both("{ $[\"x.y\"] = dotted }", doc));
        assert!(both("{ $.a.b[5] NOT EXISTS }", doc));
        assert!(!both("{ $.a.b NOT EXISTS }", doc));
        assert!(!both("{ $.n NOT EXISTS }", doc));
        assert!(!both("{ $.missing IS NULL }", doc));
        assert!(both("{ $.a.* NOT EXISTS || $.a.*[0].c = 1 }", doc));
    }

    #[test]
    fn containers_fail_every_comparison() {
        let doc = r#"{"users":[1,2,3],"o":{"k":1}}"#;
        for p in [
            "{ $.users = 1 }",
            "{ $.users != 1 }",
            "{ $.o != \"x\" }",
            "{ $.o = * }",
        ] {
            assert!(!both(p, doc), "{p}");
        }
        assert!(both("{ $.users[*] = 2 }", doc));
    }

    #[test]
    fn numbers_and_strings() {
        let doc = r#"{"status":"503","latency":12.5,"big":9007199254740993,"ok":false}"#;
        assert!(
            both("{ $.status >= 500 }", doc),
            "numeric text compares as a number"
        );
        assert!(both("{ $.status = 5* }", doc));
        assert!(both("{ $.latency < 1.3e1 }", doc));
        assert!(both("{ $.latency = \"12.5\" }", doc));
        assert!(both("{ $.big > 9007199254740992 }", doc));
        assert!(both("{ $.ok IS FALSE && $.ok = false }", doc));
        assert!(!both("{ $.ok IS TRUE }", doc));
        assert!(!both("{ $.status = 50 }", doc));
    }

    #[test]
    fn non_json_messages_never_match() {
        for msg in ["plain text", "{not json", "", "   "] {
            assert!(!on_message("{ $.x NOT EXISTS }", msg), "{msg:?}");
        }
        assert!(on_message("{ $.x NOT EXISTS }", " {\"y\":1}"));
    }

    #[test]
    fn event_stand_ins() {
        let mut event = Event::from_text("raw text ERROR here");
        event.fields.insert("level", Value::from("error"));
        let p = compile("{ $.message = *ERROR* && $.level = error }").unwrap();
        assert!(p.matches(&event));
        let p = compile("{ $.@timestamp = 20* }").unwrap();
        assert!(p.matches(&event));
        assert!(!compile("{ $.* = *ERROR* }").unwrap().matches(&event));
        event.meta.message_consumed = true;
        assert!(compile("{ $.message NOT EXISTS }").unwrap().matches(&event));
    }

    #[test]
    fn select_values() {
        let event = Event::from_text(r#"{"latency":50,"tags":["a","b"]}"#);
        let sel = Selector::parse("$.latency").unwrap();
        assert_eq!(select(&event, &sel), Some(Value::Int(50)));
        assert_eq!(
            select(&event, &Selector::parse("$.tags[*]").unwrap()),
            Some(Value::from("a"))
        );
        let mut parsed = Event::from_text("x");
        parsed
            .fields
            .insert_path(&Path::parse("http.status").unwrap(), Value::Int(404));
        assert_eq!(
            select(&parsed, &Selector::parse(" $.http.status ").unwrap()),
            Some(Value::Int(404))
        );
        assert_eq!(
            select(&parsed, &Selector::parse("$.message").unwrap()),
            Some(Value::from("x"))
        );
    }

    #[test]
    fn keywords_take_any_case() {
        assert!(both("{ $.a is null }", r#"{"a":null}"#));
        assert!(both("{ $.b not exists }", r#"{"a":null}"#));
    }

    #[test]
    fn errors() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "{ $.a = 1",
                10,
                "`}` to close the JSON pattern opened at column 1",
            ),
            (
                "{ $.a = 1 } x",
                13,
                "the end of the pattern after the closing `}`",
            ),
            (
                "{ }",
                3,
                "a condition such as `$.eventType = \"UpdateTrail\"` inside `{ }`",
            ),
            ("{ a = 1 }", 3, "a selector such as `$.eventType`, or `(`"),
            (
                "{ $ = 1 }",
                4,
                "`.` after `$` (a selector such as `$.eventType`)",
            ),
            (
                "{ $.a.= 1 }",
                7,
                "a field name, `*` or `['name']` after `.`",
            ),
            (
                "{ $.a[x] = 1 }",
                7,
                "an array index, `*` or a quoted name after `[`",
            ),
            ("{ $.a[1 = 1 }", 8, "`]` to close the `[` at column 6"),
            ("{ $.a IS 1 }", 10, "`NULL`, `TRUE` or `FALSE` after `IS`"),
            ("{ $.a NOT THERE }", 11, "`EXISTS` after `NOT`"),
            (
                "{ $.a = 1 & $.b = 2 }",
                11,
                "`&&`, `||` or `}` after the condition",
            ),
            (
                "{ $.a > x }",
                9,
                "a number after `>` (`<`, `<=`, `>`, `>=` compare numbers)",
            ),
            (
                "{ ($.a = 1 }",
                12,
                "`&&`, `||` or `)` to close the parenthesis opened at column 3",
            ),
        ];
        for (pattern, column, expected) in cases {
            let e = compile(pattern).unwrap_err();
            assert_eq!(
                (e.column, e.expected.as_str()),
                (*column, *expected),
                "{pattern}"
            );
        }
        let e = compile("{ $.a ~ 1 }").unwrap_err();
        assert_eq!(e.column, 7);
        assert!(e.expected.starts_with("an operator after `$.a`: `=`"));
    }
}
