//! TEMPORARY: replaced by the full CloudWatch filter-pattern language on merge.
use crate::event::Event;

#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid pattern `{pattern}` at column {column}: expected {expected}")]
pub struct PatternError {
    pub pattern: String,
    pub column: usize,
    pub expected: String,
}

impl Pattern {
    pub fn compile(text: &str) -> Result<Pattern, PatternError> {
        Ok(Pattern {
            text: text.to_owned(),
        })
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn matches(&self, event: &Event) -> bool {
        memchr::memmem::find(&event.message, self.text.as_bytes()).is_some()
    }
}
