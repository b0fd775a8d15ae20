//! Term patterns: `ERROR -DEBUG`, `?timeout ?refused`, `"exact phrase"`,
//! `%regex%` — searches in the raw message.
//!
//! CloudWatch's rules:
//! - a term matches wherever it occurs, case-sensitively, not as a whole word
//!   (`ERROR` matches `ERRORCODE:`);
//! - plain terms must all be present (AND), `-term`s must all be absent;
//! - `?term`s are alternatives (OR), but only when the pattern has nothing
//!   else: mixed with plain or `-` terms, **`?` terms are ignored**;
//! - the empty pattern, `""` and `" "` match every event (a blank phrase is
//!   no term at all).
//!
//! CloudWatch asks for terms with characters other than letters, digits and
//! `_` to be quoted; weir also takes such a term unquoted, literally (it runs
//! to the next whitespace), so every pattern CloudWatch accepts means the same
//! here. A `%regex%` may stand anywhere a term can (`-%^DEBUG%`, `?%5\d\d%`).
//!
//! Matching is the hot path of `when:` guards: each literal term is a
//! pre-built `memmem` searcher, and nothing allocates per event.

use memchr::memmem::Finder;

use super::cursor::Cursor;
use super::error::PatternError;
use super::re::CwRegex;

#[derive(Clone, Debug)]
pub(crate) struct TermPattern {
    required: Vec<Term>,
    excluded: Vec<Term>,
    /// Alternatives; empty when the pattern has no `?` term or when they are
    /// ignored because other terms are present.
    alternatives: Vec<Term>,
}

/// A `Finder` is a few hundred bytes; terms are few and kept inline in their
/// `Vec`s, which is what the hot loop walks, so the size is not boxed away.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Term {
    Text(Finder<'static>),
    Regex(CwRegex),
}

impl Term {
    fn occurs_in(&self, message: &[u8]) -> bool {
        match self {
            Term::Text(finder) => finder.find(message).is_some(),
            Term::Regex(re) => re.is_match(message),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Required,
    Excluded,
    Alternative,
}

impl TermPattern {
    /// Parses the whole of `c`'s text as a term pattern.
    pub fn parse(c: &mut Cursor<'_>) -> Result<TermPattern, PatternError> {
        let mut pattern = TermPattern {
            required: Vec::new(),
            excluded: Vec::new(),
            alternatives: Vec::new(),
        };
        loop {
            c.skip_ws();
            let start = c.pos();
            let role = match c.peek() {
                None => break,
                Some('-') => Role::Excluded,
                Some('?') => Role::Alternative,
                Some(_) => Role::Required,
            };
            if role != Role::Required {
                c.bump();
                if c.peek().is_none_or(char::is_whitespace) {
                    return Err(c.error(format!(
                        "a term right after the `{}` at column {}",
                        if role == Role::Excluded { '-' } else { '?' },
                        c.column(start)
                    )));
                }
            }
            let term = match c.peek() {
                Some('"') => {
                    let phrase = c.quoted()?.bytes;
                    expect_separator(c, "`\"`")?;
                    if phrase.iter().all(u8::is_ascii_whitespace) {
                        None
                    } else {
                        Some(Term::Text(Finder::new(&phrase).into_owned()))
                    }
                }
                Some('%') => {
                    let re = CwRegex::parse(c)?;
                    expect_separator(c, "`%`")?;
                    Some(Term::Regex(re))
                }
                _ => {
                    let word = c.take_while(|ch| !ch.is_whitespace());
                    Some(Term::Text(Finder::new(word.as_bytes()).into_owned()))
                }
            };
            if let Some(term) = term {
                match role {
                    Role::Required => pattern.required.push(term),
                    Role::Excluded => pattern.excluded.push(term),
                    Role::Alternative => pattern.alternatives.push(term),
                }
            }
        }
        if !pattern.required.is_empty() || !pattern.excluded.is_empty() {
            pattern.alternatives.clear();
        }
        Ok(pattern)
    }

    pub fn matches(&self, message: &[u8]) -> bool {
        self.required.iter().all(|t| t.occurs_in(message))
            && !self.excluded.iter().any(|t| t.occurs_in(message))
            && (self.alternatives.is_empty()
                || self.alternatives.iter().any(|t| t.occurs_in(message)))
    }

    /// How many `%regex%` terms the pattern holds.
    pub fn regex_count(&self) -> usize {
        [&self.required, &self.excluded, &self.alternatives]
            .into_iter()
            .flatten()
            .filter(|t| matches!(t, Term::Regex(_)))
            .count()
    }
}

/// A quoted phrase or a regex must be followed by whitespace or the end:
/// `"a"b` is almost certainly a typo, not two terms.
fn expect_separator(c: &Cursor<'_>, closing: &str) -> Result<(), PatternError> {
    match c.peek() {
        Some(ch) if !ch.is_whitespace() => Err(c.error(format!(
            "whitespace or the end of the pattern after the closing {closing}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, message: &str) -> bool {
        let mut c = Cursor::new(pattern);
        TermPattern::parse(&mut c)
            .unwrap()
            .matches(message.as_bytes())
    }

    fn error(pattern: &str) -> PatternError {
        let mut c = Cursor::new(pattern);
        TermPattern::parse(&mut c).err().unwrap()
    }

    #[test]
    fn and_not_or() {
        assert!(matches("a b", "b a"));
        assert!(!matches("a b", "a"));
        assert!(matches("a -c", "a b"));
        assert!(!matches("a -c", "a c"));
        assert!(matches("-c", "x"));
        assert!(!matches("-c -d", "d"));
        assert!(matches("?x ?y", "y"));
        assert!(!matches("?x ?y", "z"));
        assert!(matches("?x -z", "q"), "? ignored next to -");
        assert!(!matches("?x -z", "z x"));
    }

    #[test]
    fn phrases_and_blanks() {
        assert!(matches("\"b c\"", "a b c d"));
        assert!(!matches("\"b c\"", "a b  c d"));
        assert!(matches("-\"b c\" a", "a b  c"));
        assert!(matches("?\"x y\" ?z", "x y"));
        assert!(matches("", "anything"));
        assert!(matches("   ", "anything"));
        assert!(matches("\"\"", "anything"));
        assert!(matches("-\" \"", "anything"));
        assert!(matches(r#""say \"hi\"""#, r#"they say "hi""#));
    }

    #[test]
    fn unquoted_punctuation_is_literal() {
        assert!(matches("ERRORCODE:", "Exiting with ERRORCODE: -1"));
        assert!(matches("user@example.com", "to user@example.com"));
        assert!(!matches("ERRORCODE:", "ERRORCODE -1"));
        assert!(matches("é", "café"));
    }

    #[test]
    fn regex_terms() {
        assert!(matches(
            "%^\\[ERROR% -%ARGUMENTS$%",
            "[ERROR 400] BAD REQUEST"
        ));
        assert!(!matches(
            "%^\\[ERROR% -%ARGUMENTS$%",
            "[ERROR 419] MISSING ARGUMENTS"
        ));
        assert!(matches("?%4\\d\\d% ?%5\\d\\d%", "status 503"));
    }

    #[test]
    fn errors() {
        let e = error("ERROR - DEBUG");
        assert_eq!(e.column, 8);
        assert_eq!(e.expected, "a term right after the `-` at column 7");
        let e = error("a ?");
        assert_eq!(e.column, 4);
        let e = error("\"a\"b");
        assert_eq!(e.column, 4);
        assert_eq!(
            e.expected,
            "whitespace or the end of the pattern after the closing `\"`"
        );
        let e = error("x \"open");
        assert_eq!(
            (e.column, e.expected.as_str()),
            (8, "`\"` to close the string opened at column 3")
        );
    }
}
