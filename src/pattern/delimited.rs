//! Space-delimited patterns: `[ip, user, ..., status=5*, bytes>1000]`.
//!
//! The message is split into fields at spaces (and tabs); a field that starts
//! with `"` runs to the closing `"` (a `\"` inside does not close it) and one
//! that starts with `[` runs to the next `]`, spaces included; the quotes and
//! brackets are not part of the value. An unclosed `"` or `[` runs to the end.
//!
//! The pattern lists one slot per field, each a name with optional
//! conditions (`status_code = 404 || status_code = 410`, all on that one
//! name), and `...` for any number of fields. How slots line up with fields:
//! - Without `...`, the slots take the fields in order and the **last slot
//!   takes the rest of the line**: `[w1=ERROR, w2]` matches
//!   `ERROR 09/25/2014 12:00:02 Failed to process request` with `$w2` =
//!   `09/25/2014 12:00:02 Failed to process request` (AWS's documented
//!   examples behave this way). A line with fewer fields than slots does not
//!   match. When the last slot takes exactly one field, its value is that
//!   field unquoted; when it takes several, it is the raw text from the first
//!   of them to the end of the line.
//! - With `...`, slots before the first `...` are anchored at the start,
//!   slots after the last one at the end, and each run of slots between two
//!   `...` at its leftmost possible place.
//!
//! Captures: slot *n* (1-based, `...` not counted) is `$n`, and a named slot
//! also `$name`; values are slices of the message, never copies.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use memchr::{memchr, memchr2};

use super::condition::{Condition, Op};
use super::cursor::Cursor;
use super::error::PatternError;
use super::expr::{self, Expr};

/// A compiled `[ … ]` pattern.
#[derive(Clone, Debug)]
pub(crate) struct DelimitedPattern {
    slots: Vec<Slot>,
    /// Runs of consecutive slots between `...`s, as ranges of `slots`.
    runs: Vec<Range<usize>>,
    /// Whether the pattern has any `...` (otherwise the last slot takes the
    /// rest of the line).
    ellipsis: bool,
    /// Whether a `...` comes before the first run / after the last run.
    open_start: bool,
    open_end: bool,
    /// Slot names in order, shared with every [`Captures`](super::Captures).
    names: Arc<[Box<str>]>,
}

#[derive(Clone, Debug)]
struct Slot {
    /// `None` for a bare name: any field.
    test: Option<Expr<Option<Condition>>>,
}

impl Slot {
    fn accepts(&self, field: &[u8]) -> bool {
        match &self.test {
            None => true,
            Some(expr) => expr
                .eval(&mut |c: &Option<Condition>| c.as_ref().is_none_or(|c| c.test_text(field))),
        }
    }
}

/// A field of the message: `value` is what slots test (quotes and brackets
/// stripped), `raw` includes them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Field {
    start: usize,
    end: usize,
    raw_start: usize,
    raw_end: usize,
}

impl Field {
    fn value(self) -> Range<usize> {
        self.start..self.end
    }
}

/// Per-thread buffers reused across events, so matching does not allocate.
#[derive(Default)]
struct Scratch {
    fields: Vec<Field>,
    /// Index of the first field of each run, once matched.
    run_starts: Vec<usize>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// A leaf of a slot's condition: the field name it tests and the condition.
struct SlotTest {
    name: String,
    name_at: usize,
    condition: Option<Condition>,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '@' | '.')
}

fn is_separator(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl DelimitedPattern {
    /// Parses `[ slot, … ]` and requires the end of the pattern after it; the
    /// cursor is on the `[`.
    pub fn parse(c: &mut Cursor<'_>) -> Result<DelimitedPattern, PatternError> {
        let open = c.pos();
        c.bump();
        let mut slots = Vec::new();
        let mut names: Vec<Box<str>> = Vec::new();
        let mut runs = Vec::new();
        let mut run_start = 0;
        let mut ellipsis = false;
        let mut open_start = false;
        loop {
            c.skip_ws();
            if c.eat("...") {
                if run_start == slots.len() {
                    // Leading, or straight after another `...`.
                    open_start |= slots.is_empty();
                } else {
                    runs.push(run_start..slots.len());
                }
                run_start = slots.len();
                ellipsis = true;
            } else {
                let (name, slot) = parse_slot(c)?;
                names.push(name.into());
                slots.push(slot);
            }
            c.skip_ws();
            match c.peek() {
                Some(',') => {
                    c.bump();
                }
                Some(']') => {
                    c.bump();
                    break;
                }
                None => {
                    return Err(c.error(format!(
                        "`]` to close the space-delimited pattern opened at column {}",
                        c.column(open)
                    )))
                }
                Some(_) => return Err(c.error("`,` or `]` after the field")),
            }
        }
        let open_end = run_start == slots.len() && ellipsis;
        if run_start < slots.len() {
            runs.push(run_start..slots.len());
        }
        c.skip_ws();
        if !c.at_end() {
            return Err(c.error("the end of the pattern after the closing `]`"));
        }
        Ok(DelimitedPattern {
            slots,
            runs,
            ellipsis,
            open_start,
            open_end,
            names: names.into(),
        })
    }

    pub fn names(&self) -> &Arc<[Box<str>]> {
        &self.names
    }

    /// How many comparisons against a `%regex%` the pattern holds.
    pub fn regex_count(&self) -> usize {
        let mut n = 0;
        for slot in &self.slots {
            if let Some(expr) = &slot.test {
                expr.for_each_test(&mut |c| {
                    if c.as_ref().is_some_and(Condition::is_regex) {
                        n += 1;
                    }
                });
            }
        }
        n
    }

    pub fn matches(&self, message: &[u8]) -> bool {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.run(message, &mut scratch),
            // Only reachable if matching were re-entered on this thread.
            Err(_) => self.run(message, &mut Scratch::default()),
        })
    }

    /// The value range of each slot's field, when the message matches.
    pub fn captures(&self, message: &[u8]) -> Option<Vec<Range<usize>>> {
        let mut scratch = Scratch::default();
        if !self.run(message, &mut scratch) {
            return None;
        }
        let mut spans = Vec::with_capacity(self.slots.len());
        for (run, &first) in self.runs.iter().zip(&scratch.run_starts) {
            for offset in 0..run.len() {
                spans.push(scratch.fields[first + offset].value());
            }
        }
        Some(spans)
    }

    /// Matches `message`, leaving its fields and where each run matched in
    /// `scratch`.
    fn run(&self, message: &[u8], scratch: &mut Scratch) -> bool {
        let Scratch { fields, run_starts } = scratch;
        run_starts.clear();
        if !self.ellipsis {
            let n = self.slots.len();
            split_fields(message, n, fields);
            if fields.len() < n {
                return false;
            }
            absorb_rest(message, fields);
            run_starts.push(0);
            return self.run_matches_at(0, 0, message, fields);
        }
        split_fields(message, usize::MAX, fields);
        run_starts.resize(self.runs.len(), 0);
        let (mut lo, mut hi) = (0, fields.len());
        let (mut first, mut last) = (0, self.runs.len());
        if !self.open_start && first < last {
            if self.runs[0].len() > hi || !self.run_matches_at(0, 0, message, fields) {
                return false;
            }
            lo = self.runs[0].len();
            first = 1;
        }
        if !self.open_end && first < last {
            let len = self.runs[last - 1].len();
            if len > hi - lo {
                return false;
            }
            let at = hi - len;
            if !self.run_matches_at(last - 1, at, message, fields) {
                return false;
            }
            run_starts[last - 1] = at;
            hi = at;
            last -= 1;
        }
        // Runs between two `...`: each at its leftmost place, which leaves
        // the most room for the runs after it.
        for (run, start) in run_starts.iter_mut().enumerate().take(last).skip(first) {
            let len = self.runs[run].len();
            let found = (lo..=hi.saturating_sub(len))
                .take_while(|at| at + len <= hi)
                .find(|&at| self.run_matches_at(run, at, message, fields));
            match found {
                Some(at) => {
                    *start = at;
                    lo = at + len;
                }
                None => return false,
            }
        }
        true
    }

    /// Whether run `run`'s slots accept the fields starting at `at`.
    fn run_matches_at(&self, run: usize, at: usize, message: &[u8], fields: &[Field]) -> bool {
        self.slots[self.runs[run].clone()]
            .iter()
            .zip(&fields[at..])
            .all(|(slot, field)| slot.accepts(&message[field.value()]))
    }
}

/// Parses one slot: `name`, or conditions on one name joined by `&&` / `||`.
fn parse_slot(c: &mut Cursor<'_>) -> Result<(String, Slot), PatternError> {
    let expr = expr::parse(c, &mut |c: &mut Cursor<'_>| {
        c.skip_ws();
        let name_at = c.pos();
        let name = c.take_while(is_name_char);
        if name.is_empty() || name.starts_with('.') {
            return Err(c.error_at(name_at, "a field name or `...`"));
        }
        c.skip_ws();
        let condition = match Op::parse(c) {
            Some(op) => Some(Condition::parse_value(c, op)?),
            None => None,
        };
        Ok(SlotTest {
            name: name.to_owned(),
            name_at,
            condition,
        })
    })?;
    let mut first: Option<String> = None;
    let mut mismatch = None;
    expr.for_each_test(&mut |t: &SlotTest| match &first {
        None => first = Some(t.name.clone()),
        Some(f) if *f != t.name && mismatch.is_none() => {
            mismatch = Some((t.name_at, f.clone()));
        }
        Some(_) => {}
    });
    if let Some((at, name)) = mismatch {
        return Err(c.error_at(
            at,
            format!("`{name}` again: the conditions of one field all test that field"),
        ));
    }
    let name = first.unwrap_or_default();
    let test = match expr {
        Expr::Test(SlotTest {
            condition: None, ..
        }) => None,
        other => Some(map_expr(other)),
    };
    Ok((name, Slot { test }))
}

fn map_expr(e: Expr<SlotTest>) -> Expr<Option<Condition>> {
    match e {
        Expr::Test(t) => Expr::Test(t.condition),
        Expr::All(items) => Expr::All(items.into_iter().map(map_expr).collect()),
        Expr::Any(items) => Expr::Any(items.into_iter().map(map_expr).collect()),
    }
}

/// Splits `message` into at most `limit` fields.
fn split_fields(message: &[u8], limit: usize, out: &mut Vec<Field>) {
    out.clear();
    let len = message.len();
    let mut i = 0;
    while out.len() < limit {
        while i < len && is_separator(message[i]) {
            i += 1;
        }
        if i >= len {
            break;
        }
        let field = match message[i] {
            b'"' => {
                let (end, raw_end) = closing_quote(message, i + 1);
                Field {
                    start: i + 1,
                    end,
                    raw_start: i,
                    raw_end,
                }
            }
            b'[' => match memchr(b']', &message[i + 1..]) {
                Some(j) => Field {
                    start: i + 1,
                    end: i + 1 + j,
                    raw_start: i,
                    raw_end: i + 2 + j,
                },
                None => Field {
                    start: i + 1,
                    end: len,
                    raw_start: i,
                    raw_end: len,
                },
            },
            _ => {
                let end = memchr2(b' ', b'\t', &message[i..]).map_or(len, |j| i + j);
                Field {
                    start: i,
                    end,
                    raw_start: i,
                    raw_end: end,
                }
            }
        };
        i = field.raw_end;
        out.push(field);
    }
}

/// The end of a quoted field whose text starts at `from`: the offset of the
/// closing quote and the offset after it (both the end, if unclosed).
fn closing_quote(message: &[u8], from: usize) -> (usize, usize) {
    let mut i = from;
    while let Some(j) = memchr2(b'"', b'\\', &message[i..]) {
        let at = i + j;
        if message[at] == b'"' {
            return (at, at + 1);
        }
        i = (at + 2).min(message.len());
    }
    (message.len(), message.len())
}

/// Without `...`, the last slot takes the rest of the line: if anything
/// follows the last field, widen it to the raw text up to the end of the line
/// (trailing separators excluded).
fn absorb_rest(message: &[u8], fields: &mut [Field]) {
    let Some(last) = fields.last_mut() else {
        return;
    };
    let mut end = message.len();
    while end > last.raw_end && is_separator(message[end - 1]) {
        end -= 1;
    }
    if end > last.raw_end {
        *last = Field {
            start: last.raw_start,
            end,
            raw_start: last.raw_start,
            raw_end: end,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<DelimitedPattern, PatternError> {
        DelimitedPattern::parse(&mut Cursor::new(text))
    }

    fn values(message: &str) -> Vec<&str> {
        let mut fields = Vec::new();
        split_fields(message.as_bytes(), usize::MAX, &mut fields);
        fields.iter().map(|f| &message[f.value()]).collect()
    }

    fn captures(pattern: &str, message: &str) -> Option<Vec<String>> {
        let p = compile(pattern).unwrap();
        assert_eq!(
            p.matches(message.as_bytes()),
            p.captures(message.as_bytes()).is_some()
        );
        p.captures(message.as_bytes())
            .map(|spans| spans.into_iter().map(|r| message[r].to_owned()).collect())
    }

    #[test]
    fn splitting() {
        assert_eq!(
            values(
                r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#
            ),
            [
                "127.0.0.1",
                "Prod",
                "frank",
                "10/Oct/2000:13:25:15 -0700",
                "GET /index.html HTTP/1.0",
                "404",
                "1534"
            ]
        );
        assert_eq!(values("  a \t b  "), ["a", "b"]);
        assert_eq!(values(r#""a \"b\" c" d"#), [r#"a \"b\" c"#, "d"]);
        assert_eq!(values(r#""unclosed x"#), ["unclosed x"]);
        assert_eq!(values("[open x"), ["open x"]);
        assert_eq!(values(r#"[a]b "c"d"#), ["a", "b", "c", "d"]);
        assert_eq!(values(r#""" []"#), ["", ""]);
        assert_eq!(values(r#""a\"#), [r#"a\"#]);
        assert!(values("").is_empty());
    }

    #[test]
    fn last_slot_takes_the_rest() {
        assert_eq!(
            captures("[a, b]", "x y z  "),
            Some(vec!["x".into(), "y z".into()])
        );
        assert_eq!(
            captures("[a, b]", "x \"y z\" "),
            Some(vec!["x".into(), "y z".into()])
        );
        assert_eq!(
            captures("[a, b]", "x \"y\" z"),
            Some(vec!["x".into(), "\"y\" z".into()])
        );
        assert_eq!(captures("[a, b, c]", "x y"), None);
        assert_eq!(captures("[a=x]", "x y"), None);
        assert_eq!(captures("[a=x]", " x "), Some(vec!["x".into()]));
    }

    #[test]
    fn ellipses() {
        let line = "a b c d e";
        assert_eq!(
            captures("[..., x, y]", line),
            Some(vec!["d".into(), "e".into()])
        );
        assert_eq!(
            captures("[x, ..., y]", line),
            Some(vec!["a".into(), "e".into()])
        );
        assert_eq!(
            captures("[x, y, ...]", line),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            captures("[..., x=c, y, ...]", line),
            Some(vec!["c".into(), "d".into()])
        );
        assert_eq!(
            captures("[x=a, ..., m=%[bd]%, ..., y=e]", line),
            Some(vec!["a".into(), "b".into(), "e".into()])
        );
        assert_eq!(
            captures("[x=a, ..., m=d, n, ..., y=e]", line),
            None,
            "n would have to be e, which y needs"
        );
        assert_eq!(captures("[...]", ""), Some(vec![]));
        assert_eq!(captures("[..., ..., x]", "q"), Some(vec!["q".into()]));
        assert_eq!(captures("[a, b, ..., c, d]", "1 2 3"), None);
        assert_eq!(
            captures("[a, b, ..., c, d]", "1 2 3 4"),
            Some(vec!["1".into(), "2".into(), "3".into(), "4".into()])
        );
        assert_eq!(captures("[..., a, ...]", ""), None);
    }

    #[test]
    fn slot_conditions() {
        assert!(captures("[s = 404 || s = 410, b]", "410 x").is_some());
        assert!(captures("[s = 404 || s = 410, b]", "411 x").is_none());
        assert!(captures("[w != A && w != B, x]", "C x").is_some());
        assert!(captures("[w != A && w != B, x]", "B x").is_none());
        assert!(captures("[(w = A || w = B) && w != B, x]", "A x").is_some());
        assert!(captures("[w || w = 5, x]", "A x").is_some());
        assert!(captures("[a, n >= 10, ...]", "x 9.5").is_none());
        assert!(captures("[a, n >= 10, ...]", "x 1e1").is_some());
        assert!(captures("[a, n >= 10, ...]", "x -").is_none());
        assert!(captures("[a=\"x y\", ...]", "[x y] z").is_some());
    }

    #[test]
    fn names() {
        let p = compile("[ip, ..., status_code=4*, @ts, a.b]").unwrap();
        let names: Vec<&str> = p.names().iter().map(|n| &**n).collect();
        assert_eq!(names, ["ip", "status_code", "@ts", "a.b"]);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("[ip, user", 10, "`]` to close the space-delimited pattern opened at column 1"),
            ("[]", 2, "a field name or `...`"),
            ("[a, ]", 5, "a field name or `...`"),
            ("[a b]", 4, "`,` or `]` after the field"),
            ("[a] b", 5, "the end of the pattern after the closing `]`"),
            ("[a = 1 || b = 2]", 11, "`a` again: the conditions of one field all test that field"),
            ("[a > x]", 6, "a number after `>` (`<`, `<=`, `>`, `>=` compare numbers)"),
            ("[a = %x(%]", 8, "no `(`: filter-pattern regular expressions have no grouping (write `\\x28` for a literal `(`)"),
            ("[a = %abc]", 11, "`%` to close the regular expression opened at column 6"),
            ("[a = \"abc]", 11, "`\"` to close the string opened at column 6"),
        ];
        for (pattern, column, expected) in cases {
            let e = compile(pattern).unwrap_err();
            assert_eq!(
                (e.column, e.expected.as_str()),
                (*column, *expected),
                "{pattern}"
            );
        }
    }
}
