//! [`PatternError`]: why a filter pattern did not compile, and where.

use std::fmt;

/// A filter pattern that did not compile.
///
/// Patterns are written by hand in pipeline files and pasted from CloudWatch,
/// so the error shows the pattern itself with a caret under the offending
/// column and says what the parser expected there, e.g.
///
/// ```text
/// invalid filter pattern at column 10: expected `]` to close the space-delimited pattern opened at column 1
///   [ip, user
///            ^
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// 1-based column, counted in characters (not bytes) from the start of the
    /// pattern.
    pub column: usize,
    /// What the parser expected at `column`, phrased to follow "expected".
    pub expected: String,
}

impl PatternError {
    /// An error in `pattern` at byte offset `offset`.
    pub(crate) fn at(pattern: &str, offset: usize, expected: impl Into<String>) -> Self {
        PatternError {
            pattern: pattern.to_owned(),
            column: column_of(pattern, offset),
            expected: expected.into(),
        }
    }
}

/// The 1-based character column of byte `offset` in `text` (offsets past the
/// end, or inside a multi-byte character, are clamped).
pub(crate) fn column_of(text: &str, offset: usize) -> usize {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].chars().count() + 1
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid filter pattern at column {}: expected {}",
            self.column, self.expected
        )?;
        // Control characters (a pattern from a YAML block scalar may hold
        // newlines) are shown as spaces so the caret stays under its column.
        let shown: String = self
            .pattern
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        writeln!(f, "  {shown}")?;
        write!(f, "  {}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

impl std::error::Error for PatternError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_column() {
        let e = PatternError::at("[ip, user", 9, "`]`");
        assert_eq!(e.column, 10);
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "invalid filter pattern at column 10: expected `]`"
        );
        assert_eq!(lines[1], "  [ip, user");
        assert_eq!(lines[2], "           ^");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(column_of("é x", 3), 3);
        assert_eq!(column_of("é x", 1), 1);
        assert_eq!(column_of("ab", 99), 3);
    }
}
