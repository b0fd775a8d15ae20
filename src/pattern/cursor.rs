//! [`Cursor`]: the lexer shared by the three pattern forms.
//!
//! The forms have different grammars but the same lexical pieces: whitespace,
//! double-quoted strings, `%regex%` literals, keywords, and errors that point
//! at a column. The cursor walks the pattern text by byte offset (always on a
//! character boundary) and builds [`PatternError`]s that carry the column.

use super::error::PatternError;

pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

/// A double-quoted string with its escapes resolved.
pub(crate) struct Quoted {
    pub bytes: Vec<u8>,
    /// Offsets in `bytes` of unescaped `*` (wildcards, where the context has
    /// them); an escaped `\*` is a literal star and is not listed.
    pub stars: Vec<usize>,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Moves past the next `len` bytes, which the caller has found to end on
    /// a character boundary (e.g. by searching `rest()`).
    pub fn advance(&mut self, len: usize) {
        self.pos = (self.pos + len).min(self.text.len());
        while !self.text.is_char_boundary(self.pos) {
            self.pos += 1;
        }
    }

    /// Consumes `s` if the text continues with it.
    pub fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Consumes the keyword `word` (any letter case) if it comes next as a
    /// whole word.
    pub fn eat_keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let Some(head) = rest.get(..word.len()) else {
            return false;
        };
        let boundary = rest[word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if head.eq_ignore_ascii_case(word) && boundary {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    pub fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Consumes and returns the longest prefix whose characters satisfy `f`.
    pub fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// An error at byte offset `pos` of the pattern.
    pub fn error_at(&self, pos: usize, expected: impl Into<String>) -> PatternError {
        PatternError::at(self.text, pos, expected)
    }

    /// An error at the current position.
    pub fn error(&self, expected: impl Into<String>) -> PatternError {
        self.error_at(self.pos, expected)
    }

    /// The 1-based column of byte offset `pos`, for messages that refer back
    /// to an opening delimiter.
    pub fn column(&self, pos: usize) -> usize {
        super::error::column_of(self.text, pos)
    }

    /// Reads a double-quoted string; the cursor is on the opening `"`.
    ///
    /// `\"`, `\\` and `\*` are escapes (a quote, a backslash, a literal star);
    /// any other backslash is kept as written, so Windows paths and regex-ish
    /// text need no doubling.
    pub fn quoted(&mut self) -> Result<Quoted, PatternError> {
        let open = self.pos;
        self.bump();
        let mut out = Quoted {
            bytes: Vec::new(),
            stars: Vec::new(),
        };
        loop {
            match self.bump() {
                None => {
                    return Err(self.error(format!(
                        "`\"` to close the string opened at column {}",
                        self.column(open)
                    )))
                }
                Some('"') => return Ok(out),
                Some('\\') => match self.peek() {
                    Some(c @ ('"' | '\\' | '*')) => {
                        self.bump();
                        out.bytes.push(c as u8);
                    }
                    _ => out.bytes.push(b'\\'),
                },
                Some('*') => {
                    out.stars.push(out.bytes.len());
                    out.bytes.push(b'*');
                }
                Some(c) => {
                    let mut buf = [0; 4];
                    out.bytes
                        .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_and_escapes() {
        let mut c = Cursor::new(r#""a \"b\" c\* d* \x" rest"#);
        let q = c.quoted().unwrap();
        assert_eq!(q.bytes, br#"a "b" c* d* \x"#);
        assert_eq!(q.stars, vec![10]);
        assert_eq!(c.rest(), " rest");
    }

    #[test]
    fn unclosed_string_points_at_the_end() {
        let mut c = Cursor::new("x \"abc");
        c.take_while(|c| c != '"');
        let e = c.quoted().err().unwrap();
        assert_eq!(e.column, 7);
        assert_eq!(e.expected, "`\"` to close the string opened at column 3");
    }

    #[test]
    fn keywords_need_a_word_boundary() {
        let mut c = Cursor::new("IS NULL");
        assert!(c.eat_keyword("is"));
        c.skip_ws();
        assert!(!c.eat_keyword("NUL"));
        assert!(c.eat_keyword("NULL"));
        assert!(c.at_end());
        assert!(!Cursor::new("ISNULL").eat_keyword("IS"));
    }
}
