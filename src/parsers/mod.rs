//! Parsers: turn a message (or a field) into structured fields.
//!
//! A parser is pure: given the bytes, it returns zero or more [`Parsed`]
//! records and never panics on any input. The `parse` filter
//! ([`crate::filters::parse`]) applies one to events and handles `field`,
//! `target` and `on_error`; inputs with a `format` use the same parsers.
//! Formats are registered in [`registry`].

pub mod cloudwatch;
mod doc;
pub mod grok;
pub mod json;
pub mod registry;
pub mod rfc3339;
pub mod s3_access;
mod scan;
pub mod syslog;
pub mod vpc_flow;

use std::fmt::Debug;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::event::{Event, Fields, Value};

/// What a parser made of one input.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// The parsed document. An object is merged into the target; anything else
    /// needs a `target` field to land in.
    pub value: Value,
    /// The record's own time, when the format carries one (`@timestamp`).
    pub timestamp: Option<DateTime<Utc>>,
    /// A new raw message, for envelope formats whose records each carry their own
    /// text (a CloudWatch subscription payload holds many log events).
    pub message: Option<Bytes>,
}

impl Parsed {
    /// A result holding `fields` and nothing else.
    pub fn fields(fields: Fields) -> Self {
        Parsed {
            value: Value::Object(fields),
            timestamp: None,
            message: None,
        }
    }

    pub fn value(value: Value) -> Self {
        Parsed {
            value,
            timestamp: None,
            message: None,
        }
    }
}

/// Why a parser rejected its input; `reason` is shown to users in
/// `error.message`, so it names what was expected and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    pub reason: String,
}

impl ParseError {
    pub fn new(reason: impl Into<String>) -> Self {
        ParseError {
            reason: reason.into(),
        }
    }
}

/// A format parser.
pub trait Parser: Send + Sync + Debug {
    /// Parses `input` (the message, or the field the filter names) and appends
    /// the records it holds to `out`: usually one; none for records that carry
    /// no log data (a header line, a control message); several for envelopes.
    /// `event` gives access to metadata such as the header line of the file the
    /// event came from.
    fn parse(&self, input: &Bytes, event: &Event, out: &mut Vec<Parsed>) -> Result<(), ParseError>;
}
