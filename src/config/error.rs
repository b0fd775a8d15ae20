//! Config errors that say where and what.

use std::fmt;
use std::sync::Arc;

use super::{DeError, Loc};

/// One problem in a config file, at a position when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: Arc<str>,
    pub loc: Option<Loc>,
    pub message: String,
}

impl ConfigError {
    pub fn new(file: &Arc<str>, loc: Option<Loc>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.clone(),
            loc,
            message: message.into(),
        }
    }

    /// A deserialization error with `context` (e.g. "input `web`") in front.
    pub fn from_de(file: &Arc<str>, fallback: Loc, context: &str, e: DeError) -> Self {
        ConfigError {
            file: file.clone(),
            loc: Some(e.loc.unwrap_or(fallback)),
            message: if context.is_empty() {
                e.message
            } else {
                format!("{context}: {}", e.message)
            },
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.loc {
            Some(loc) => write!(
                f,
                "{}:{}:{}: {}",
                self.file, loc.line, loc.column, self.message
            ),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a set of files.
#[derive(Debug, Clone, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
