//! [`CwRegex`]: `%regex%` literals in CloudWatch's regular-expression subset.
//!
//! CloudWatch accepts only a small, ASCII-only regex language in filter
//! patterns: letters, digits and the symbols `_ # = @ / ; , - :` as literals,
//! the operators `^ $ ? [ ] { } | \ * + .`, the classes `\d \D \s \S \w \W`
//! and `\xhh` for any other ASCII character; no `(` `)` grouping and no
//! multi-byte characters. weir validates that subset itself, so a pattern that
//! CloudWatch rejects (`%something!%`, `%(alpha|beta)%`) is rejected here too
//! with a pointer at the offending character, and then compiles the text with
//! the `regex` crate, whose syntax is a superset of the subset. Matching is an
//! unanchored search over bytes (messages need not be UTF-8), ASCII classes.

use std::fmt;

use regex::bytes::{Regex, RegexBuilder};

use super::cursor::Cursor;
use super::error::PatternError;

/// Compiled programs larger than this are refused: a pattern such as
/// `%a{1000}{1000}%` must fail fast at configuration time.
const SIZE_LIMIT: usize = 1 << 20;

/// A compiled `%regex%`.
#[derive(Clone)]
pub(crate) struct CwRegex {
    regex: Regex,
}

impl fmt::Debug for CwRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}%", self.regex.as_str())
    }
}

impl CwRegex {
    /// Reads `%…%`; the cursor is on the opening `%`. The expression ends at
    /// the next `%` (a literal percent sign is written `\x25`).
    pub fn parse(c: &mut Cursor<'_>) -> Result<CwRegex, PatternError> {
        let open = c.pos();
        c.bump();
        let body_start = c.pos();
        let Some(len) = c.rest().find('%') else {
            return Err(c.error_at(
                c.text().len(),
                format!(
                    "`%` to close the regular expression opened at column {}",
                    c.column(open)
                ),
            ));
        };
        let body = &c.rest()[..len];
        if body.is_empty() {
            return Err(c.error_at(body_start, "a regular expression between `%` and `%`"));
        }
        validate(body).map_err(|(offset, expected)| c.error_at(body_start + offset, expected))?;
        let regex = RegexBuilder::new(body)
            .unicode(false)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| {
                c.error_at(
                    body_start,
                    format!("a valid regular expression ({})", short_reason(&e)),
                )
            })?;
        c.advance(len + 1);
        Ok(CwRegex { regex })
    }

    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.regex.is_match(haystack)
    }
}

/// Checks `body` against CloudWatch's subset; on failure returns the byte
/// offset of the offending character and what was expected there.
fn validate(body: &str) -> Result<(), (usize, String)> {
    let mut chars = body.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            'A'..='Z' | 'a'..='z' | '0'..='9' => {}
            '_' | '#' | '=' | '@' | '/' | ';' | ',' | '-' | ':' => {}
            '^' | '$' | '?' | '[' | ']' | '{' | '}' | '|' | '*' | '+' | '.' => {}
            '\\' => match chars.next() {
                Some((_, 'd' | 'D' | 's' | 'S' | 'w' | 'W')) => {}
                Some((_, 'x')) => {
                    let hex = (chars.next(), chars.next());
                    if !matches!(hex, (Some((_, a)), Some((_, b))) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit())
                    {
                        return Err((i, "two hex digits after `\\x` (e.g. `\\x3A` for `:`)".into()));
                    }
                }
                // An escaped symbol is that symbol, literally (`\.` in IPs).
                // `\<` and `\>` are excluded: the regex crate reads them as
                // word boundaries.
                Some((_, s)) if s.is_ascii_punctuation() && s != '<' && s != '>' => {}
                _ => {
                    return Err((
                        i,
                        "`\\d`, `\\D`, `\\s`, `\\S`, `\\w`, `\\W`, `\\xhh` or an escaped symbol after `\\`"
                            .into(),
                    ))
                }
            },
            '(' | ')' => {
                return Err((
                    i,
                    format!(
                        "no `{ch}`: filter-pattern regular expressions have no grouping \
                         (write `\\x{:02X}` for a literal `{ch}`)",
                        ch as u32
                    ),
                ))
            }
            c if !c.is_ascii() => {
                return Err((
                    i,
                    "ASCII only: filter-pattern regular expressions do not support multi-byte characters"
                        .into(),
                ))
            }
            c => {
                return Err((
                    i,
                    format!(
                        "a letter, digit, one of `_ # = @ / ; , - :` or a regex operator \
                         (write `\\x{:02X}` for a literal {c:?})",
                        c as u32
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// The regex crate's error without its multi-line rendering of the pattern.
fn short_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.lines().last().unwrap_or("invalid").trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<CwRegex, PatternError> {
        let mut c = Cursor::new(text);
        CwRegex::parse(&mut c)
    }

    #[test]
    fn documented_examples() {
        let m = |re: &str, hay: &str| compile(re).unwrap().is_match(hay.as_bytes());
        assert!(m("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST"));
        assert!(m("%colou?r%", "colour"));
        assert!(!m("%ab+c%", "ac"));
        assert!(m("%10.10.0.1%", "from 10010,051"));
        assert!(!m(r"%10\.10\.0\.1%", "from 10010,051"));
        assert!(m(r"%\x3A%", "a:b"));
        assert!(m(r"%\x28%", "f(x)"));
        assert!(m(r"%^\d{3}\s\w+$%", "404 x_1"));
        assert!(m("%val.{2}%", "value"));
    }

    #[test]
    fn rejects_what_cloudwatch_rejects() {
        let e = compile("%something!%").err().unwrap();
        assert_eq!(e.column, 11);
        assert!(e.expected.contains(r"`\x21`"), "{}", e.expected);
        let e = compile("%(alpha|beta)%").err().unwrap();
        assert_eq!(e.column, 2);
        assert!(e.expected.starts_with("no `(`"), "{}", e.expected);
        assert!(compile("%a b%").is_err());
        assert!(compile("%é%").is_err());
        assert!(compile(r"%\xZZ%").is_err());
        assert!(compile(r"%\n%").is_err());
        assert!(compile(r"%\<%").is_err());
    }

    #[test]
    fn delimiters_and_compile_errors() {
        let e = compile("%abc").err().unwrap();
        assert_eq!(e.column, 5);
        assert_eq!(
            e.expected,
            "`%` to close the regular expression opened at column 1"
        );
        assert_eq!(
            compile("%%").err().unwrap().expected,
            "a regular expression between `%` and `%`"
        );
        let e = compile("%[a-%").err().unwrap();
        assert!(
            e.expected.starts_with("a valid regular expression ("),
            "{}",
            e.expected
        );
        assert!(compile("%a{1000}{1000}%").is_err());
    }

    #[test]
    fn matches_non_utf8_bytes() {
        assert!(compile("%a.b%").unwrap().is_match(b"a\xffb"));
    }
}
