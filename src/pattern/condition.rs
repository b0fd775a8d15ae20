//! [`Condition`]: `op value`, the comparison JSON and space-delimited patterns
//! share, and the comparison rules.
//!
//! The right-hand side is one of
//! - a number (`404`, `-1.5`, `1e+3`, `+1000`): the target is compared as a
//!   number, with every operator;
//! - a string, `"quoted"` or bare (`UpdateTrail`, `123.123.*`, `*.html*`),
//!   where `*` is a wildcard: `=` / `!=` only;
//! - `%regex%`: `=` / `!=` only, an unanchored search;
//! - `*` alone: "any value".
//!
//! The rules, the same for both forms:
//! - A numeric comparison needs a numeric target: a number, or text that is a
//!   number. Anything else fails the comparison *whatever the operator*, `!=`
//!   included — as CloudWatch does for a selector that lands on an array.
//! - A string comparison sees a number or boolean target as its text (`404`,
//!   `true`), so `status = 4*` works on a JSON number too.
//! - `null`, arrays and objects satisfy no comparison (use `IS NULL`).
//! - `!=` is the negation of `=` among comparable targets, never "missing".

use std::cmp::Ordering;

use chrono::{DateTime, SecondsFormat, Utc};
use memchr::memmem;

use super::cursor::Cursor;
use super::error::PatternError;
use super::re::CwRegex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// Consumes an operator if one comes next.
    pub fn parse(c: &mut Cursor<'_>) -> Option<Op> {
        // Two-character operators first: `<=` must not read as `<`.
        for (text, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if c.eat(text) {
                return Some(op);
            }
        }
        None
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn holds(self, ord: Option<Ordering>) -> bool {
        let Some(ord) = ord else { return false };
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
        }
    }
}

/// A number as CloudWatch writes it. Integers keep their exact `i64` so large
/// ids compare exactly; everything else compares as `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Number {
    int: Option<i64>,
    float: f64,
}

impl Number {
    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (also `5.` and `.5`);
    /// anything else, including `inf` and `NaN`, is not a number.
    pub fn parse(text: &[u8]) -> Option<Number> {
        let digits = |from: usize| {
            from + text[from.min(text.len())..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let mut i = usize::from(matches!(text.first(), Some(b'+' | b'-')));
        let int_end = digits(i);
        let mut mantissa = int_end - i;
        i = int_end;
        let mut integral = true;
        if text.get(i) == Some(&b'.') {
            integral = false;
            let frac_end = digits(i + 1);
            mantissa += frac_end - (i + 1);
            i = frac_end;
        }
        if mantissa == 0 {
            return None;
        }
        if matches!(text.get(i), Some(b'e' | b'E')) {
            integral = false;
            i += 1;
            if matches!(text.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp_end = digits(i);
            if exp_end == i {
                return None;
            }
            i = exp_end;
        }
        if i != text.len() {
            return None;
        }
        // The shape check above leaves only ASCII, so this cannot fail.
        let s = std::str::from_utf8(text).ok()?;
        let float = s.parse::<f64>().ok()?;
        let int = if integral {
            s.parse::<i64>().ok()
        } else {
            None
        };
        Some(Number { int, float })
    }

    pub fn from_i64(i: i64) -> Number {
        Number {
            int: Some(i),
            float: i as f64,
        }
    }

    pub fn from_f64(f: f64) -> Number {
        Number {
            int: None,
            float: f,
        }
    }

    pub fn as_f64(self) -> f64 {
        self.float
    }

    fn compare(self, other: Number) -> Option<Ordering> {
        match (self.int, other.int) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => self.float.partial_cmp(&other.float),
        }
    }
}

/// A string with `*` wildcards, split at the wildcards: `*.html*` is
/// `["", ".html", ""]`. One part means an exact comparison.
#[derive(Clone, Debug)]
pub(crate) struct Glob {
    parts: Vec<Box<[u8]>>,
}

impl Glob {
    /// Builds from text whose `stars` offsets are wildcards.
    fn new(bytes: &[u8], stars: &[usize]) -> Glob {
        let mut parts = Vec::with_capacity(stars.len() + 1);
        let mut from = 0;
        for &s in stars {
            parts.push(bytes[from..s].into());
            from = s + 1;
        }
        parts.push(bytes[from..].into());
        Glob { parts }
    }

    fn is_match_all(&self) -> bool {
        self.parts.len() > 1 && self.parts.iter().all(|p| p.is_empty())
    }

    pub fn matches(&self, text: &[u8]) -> bool {
        let (first, last) = match self.parts.as_slice() {
            [only] => return text == &only[..],
            [first, .., last] => (first, last),
            [] => return true,
        };
        if text.len() < first.len() + last.len()
            || !text.starts_with(first)
            || !text.ends_with(last)
        {
            return false;
        }
        // Middle parts in order, each at its leftmost place: leftmost leaves
        // the most room for the rest, so this finds a match if one exists.
        let mut middle = &text[first.len()..text.len() - last.len()];
        for part in &self.parts[1..self.parts.len() - 1] {
            if part.is_empty() {
                continue;
            }
            match memmem::find(middle, part) {
                Some(at) => middle = &middle[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// The right-hand side of a comparison.
#[derive(Clone, Debug)]
pub(crate) enum Operand {
    /// `*` alone (or only stars): any comparable value.
    Any,
    Text(Glob),
    Regex(CwRegex),
    Number(Number),
}

/// A comparison target, borrowed from an event: a JSON value or a token of a
/// space-delimited line.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a [u8]),
    Time(DateTime<Utc>),
    /// An array or object: comparable to nothing.
    Container,
}

/// `op operand`.
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    op: Op,
    operand: Operand,
}

/// Characters that end a bare (unquoted) value.
fn ends_bare(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ']' | '}' | ')' | '(' | '"')
}

impl Condition {
    /// Parses `op value`; the cursor is on the operator, which `Op::parse`
    /// has confirmed is there (`op` is what it returned).
    pub fn parse_value(c: &mut Cursor<'_>, op: Op) -> Result<Condition, PatternError> {
        let op_end = c.pos();
        c.skip_ws();
        let start = c.pos();
        let relational = !matches!(op, Op::Eq | Op::Ne);
        let need_number = |c: &Cursor<'_>| {
            c.error_at(
                start,
                format!(
                    "a number after `{}` (`<`, `<=`, `>`, `>=` compare numbers)",
                    op.symbol()
                ),
            )
        };
        let operand = match c.peek() {
            Some('"') => {
                if relational {
                    return Err(need_number(c));
                }
                let q = c.quoted()?;
                text_operand(Glob::new(&q.bytes, &q.stars))
            }
            Some('%') => {
                if relational {
                    return Err(need_number(c));
                }
                Operand::Regex(CwRegex::parse(c)?)
            }
            _ => {
                let bare = take_bare(c);
                if bare.is_empty() {
                    return Err(c.error_at(
                        op_end.max(start),
                        format!(
                            "a value after `{}`: a number, a \"string\", a bare word, `*` or a %regex%",
                            op.symbol()
                        ),
                    ));
                }
                match Number::parse(bare.as_bytes()) {
                    Some(n) => Operand::Number(n),
                    None if relational => return Err(need_number(c)),
                    None => {
                        let stars: Vec<usize> = bare.match_indices('*').map(|(i, _)| i).collect();
                        text_operand(Glob::new(bare.as_bytes(), &stars))
                    }
                }
            }
        };
        Ok(Condition { op, operand })
    }

    /// Tests a token of a space-delimited line (always text).
    pub fn test_text(&self, text: &[u8]) -> bool {
        match &self.operand {
            Operand::Number(n) => Number::parse(text).is_some_and(|t| self.op.holds(t.compare(*n))),
            _ => self.test_rendered(text),
        }
    }

    /// Tests a JSON value.
    pub fn test_scalar(&self, target: Scalar<'_>) -> bool {
        if let Operand::Number(n) = &self.operand {
            let t = match target {
                Scalar::Int(i) => Number::from_i64(i),
                Scalar::Float(f) => Number::from_f64(f),
                Scalar::Str(s) => match Number::parse(s) {
                    Some(t) => t,
                    None => return false,
                },
                _ => return false,
            };
            return self.op.holds(t.compare(*n));
        }
        // String comparisons: numbers and booleans compare as their text,
        // rendered into stack buffers (no allocation on this path).
        match target {
            Scalar::Str(s) => self.test_rendered(s),
            Scalar::Bool(b) => self.test_rendered(if b { b"true" } else { b"false" }),
            Scalar::Int(i) => self.test_rendered(itoa::Buffer::new().format(i).as_bytes()),
            Scalar::Float(f) if f.is_finite() => {
                self.test_rendered(ryu::Buffer::new().format_finite(f).as_bytes())
            }
            Scalar::Time(t) => {
                self.test_rendered(t.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes())
            }
            Scalar::Float(_) | Scalar::Null | Scalar::Container => false,
        }
    }

    /// A string comparison against text.
    fn test_rendered(&self, text: &[u8]) -> bool {
        let equal = match &self.operand {
            Operand::Any => true,
            Operand::Text(g) => g.matches(text),
            Operand::Regex(r) => r.is_match(text),
            // Numeric operands are handled by the callers.
            Operand::Number(_) => return false,
        };
        match self.op {
            Op::Eq => equal,
            Op::Ne => !equal,
            // Relational operators only take numbers (checked when parsing).
            _ => false,
        }
    }

    /// Whether the right-hand side is a `%regex%`.
    pub fn is_regex(&self) -> bool {
        matches!(self.operand, Operand::Regex(_))
    }
}

fn text_operand(g: Glob) -> Operand {
    if g.is_match_all() {
        Operand::Any
    } else {
        Operand::Text(g)
    }
}

/// Takes a bare value: up to whitespace, a delimiter, or `&&` / `||`.
fn take_bare<'a>(c: &mut Cursor<'a>) -> &'a str {
    let rest = c.rest();
    let mut end = rest.len();
    for (i, ch) in rest.char_indices() {
        if ends_bare(ch) || rest[i..].starts_with("&&") || rest[i..].starts_with("||") {
            end = i;
            break;
        }
    }
    c.advance(end);
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(text: &str) -> Result<Condition, PatternError> {
        let mut c = Cursor::new(text);
        let op = Op::parse(&mut c).expect("an operator");
        let cond = Condition::parse_value(&mut c, op)?;
        assert!(c.rest().trim().is_empty(), "left over: {:?}", c.rest());
        Ok(cond)
    }

    #[test]
    fn numbers() {
        for (text, f) in [
            ("404", 404.0),
            ("-1", -1.0),
            ("+1000", 1000.0),
            ("1e+3", 1000.0),
            ("10e-3", 0.01),
            ("1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
        ] {
            assert_eq!(
                Number::parse(text.as_bytes()).map(|n| n.float),
                Some(f),
                "{text}"
            );
        }
        for text in [
            "", "-", ".", "1e", "1.2.3", "inf", "NaN", "0x10", " 1", "1 ", "e5",
        ] {
            assert_eq!(Number::parse(text.as_bytes()), None, "{text}");
        }
        let big = Number::parse(b"9007199254740993").unwrap();
        assert_eq!(
            big.compare(Number::from_i64(9_007_199_254_740_992)),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn globs() {
        let g = |pattern: &str, text: &str| {
            let stars: Vec<usize> = pattern.match_indices('*').map(|(i, _)| i).collect();
            Glob::new(pattern.as_bytes(), &stars).matches(text.as_bytes())
        };
        assert!(g("*.html*", "GET /index.html HTTP/1.0"));
        assert!(!g("*.html*", "GET /index.htm HTTP/1.0"));
        assert!(g("4*", "404"));
        assert!(!g("4*", "504"));
        assert!(g("*Trail", "UpdateTrail"));
        assert!(g("a*b*c", "abc"));
        assert!(!g("ab*ba", "aba"));
        assert!(g("exact", "exact"));
        assert!(!g("exact", "exact!"));
        assert!(g("a**", "a"));
    }

    #[test]
    fn numeric_rules() {
        let gt = cond("> 1000").unwrap();
        assert!(gt.test_text(b"1534"));
        assert!(!gt.test_text(b"999"));
        assert!(!gt.test_text(b"-"));
        let ne = cond("!= 200").unwrap();
        assert!(ne.test_text(b"404"));
        assert!(!ne.test_text(b"-"), "non-numbers fail numeric != too");
        assert!(ne.test_scalar(Scalar::Int(404)));
        assert!(!ne.test_scalar(Scalar::Null));
        assert!(!ne.test_scalar(Scalar::Container));
        let eq = cond("=1.0").unwrap();
        assert!(eq.test_scalar(Scalar::Int(1)));
        assert!(eq.test_scalar(Scalar::Str(b"1")));
        assert!(!eq.test_scalar(Scalar::Bool(true)));
    }

    #[test]
    fn string_rules() {
        let eq = cond("= \"404\"").unwrap();
        assert!(eq.test_scalar(Scalar::Int(404)));
        assert!(eq.test_text(b"404"));
        let b = cond("= true").unwrap();
        assert!(b.test_scalar(Scalar::Bool(true)));
        assert!(!b.test_scalar(Scalar::Bool(false)));
        let any = cond("= *").unwrap();
        assert!(any.test_scalar(Scalar::Float(0.5)));
        assert!(!any.test_scalar(Scalar::Null));
        assert!(!any.test_scalar(Scalar::Container));
        let not_any = cond("!= *").unwrap();
        assert!(!not_any.test_text(b"x"));
        let ne = cond("!= 123.123.*").unwrap();
        assert!(ne.test_text(b"111.111.111.111"));
        assert!(!ne.test_text(b"123.123.1.1"));
        let re = cond("= %^5%").unwrap();
        assert!(re.test_scalar(Scalar::Int(503)) && re.is_regex());
        let star = cond(r#"= "a\*""#).unwrap();
        assert!(star.test_text(b"a*") && !star.test_text(b"ab"));
    }

    #[test]
    fn bare_values_stop_at_delimiters() {
        let mut c = Cursor::new("=ERROR||w1=WARNING");
        let op = Op::parse(&mut c).unwrap();
        let cond = Condition::parse_value(&mut c, op).unwrap();
        assert!(cond.test_text(b"ERROR"));
        assert_eq!(c.rest(), "||w1=WARNING");
        let mut c = Cursor::new("= a&b, x");
        let op = Op::parse(&mut c).unwrap();
        Condition::parse_value(&mut c, op).unwrap();
        assert_eq!(c.rest(), ", x");
    }

    #[test]
    fn errors() {
        let e = cond("> abc").unwrap_err();
        assert_eq!(e.column, 3);
        assert_eq!(
            e.expected,
            "a number after `>` (`<`, `<=`, `>`, `>=` compare numbers)"
        );
        assert!(cond(">= \"5\"").is_err());
        assert!(cond("< %5%").is_err());
        let e = cond("=").unwrap_err();
        assert_eq!(e.column, 2);
        assert!(e.expected.starts_with("a value after `=`"));
    }
}
