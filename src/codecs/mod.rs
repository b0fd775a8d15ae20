//! Framing: splitting a byte stream into messages (and, for the Beats
//! protocol, windows of frames into events and ACKs).
//!
//! Decoders work on the input's read buffer and hand out frames as [`Bytes`]
//! split off that buffer, so a line is never copied. Every decoder bounds what
//! it buffers: a message longer than `max_bytes` is truncated (the first
//! `max_bytes`, marked [`Frame::truncated`]) or rejected, and the rest of it is
//! skipped as it arrives, never held.

pub mod acker;
pub mod beats_event;
pub mod json_stream;
pub mod lines;
pub mod lumberjack;
pub mod octet_counting;
pub mod window;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use tokio_util::codec::Decoder;

pub use json_stream::JsonStreamDecoder;
pub use lines::LinesDecoder;
pub use octet_counting::OctetCountingDecoder;

/// One framed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Bytes,
    /// The message was longer than the limit and this is its beginning.
    pub truncated: bool,
}

impl Frame {
    fn whole(bytes: Bytes) -> Self {
        Frame {
            bytes,
            truncated: false,
        }
    }
}

/// A framing error: the stream can't be split any further and the connection
/// should be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `framing:` of line inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Newline-delimited (`\n`, with `\r\n` tolerated).
    #[default]
    Lines,
    /// JSON documents: one per line, several per line, pretty-printed across
    /// lines, or a bare document ended by the connection closing.
    Json,
    /// RFC 6587 octet counting: `LEN SP MSG`.
    OctetCounting,
    /// Octet counting when a message starts with digits and a space, else lines.
    Auto,
}

/// What to do with a message longer than `max_line_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Oversize {
    /// Keep the first `max_line_bytes`, tagged `_line_truncated`.
    #[default]
    Truncate,
    /// Skip the message (counted and logged).
    Reject,
}

/// The tag on a message cut at `max_line_bytes`.
pub const TAG_TRUNCATED: &str = "_line_truncated";

/// A decoder for any [`Framing`].
#[derive(Debug)]
pub enum FrameDecoder {
    Lines(LinesDecoder),
    Json(JsonStreamDecoder),
    Octet(OctetCountingDecoder),
}

/// Counts of what a decoder skipped, for metrics and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// Messages rejected for being longer than the limit.
    pub oversized: u64,
}

impl FrameDecoder {
    pub fn new(framing: Framing, max_bytes: usize, oversize: Oversize) -> Self {
        match framing {
            Framing::Lines => FrameDecoder::Lines(LinesDecoder::new(max_bytes, oversize)),
            Framing::Json => FrameDecoder::Json(JsonStreamDecoder::new(max_bytes, oversize)),
            Framing::OctetCounting => {
                FrameDecoder::Octet(OctetCountingDecoder::new(max_bytes, oversize, false))
            }
            Framing::Auto => {
                FrameDecoder::Octet(OctetCountingDecoder::new(max_bytes, oversize, true))
            }
        }
    }

    /// Takes the count of rejected messages since the last call.
    pub fn take_skipped(&mut self) -> Skipped {
        let s = match self {
            FrameDecoder::Lines(d) => &mut d.skipped,
            FrameDecoder::Json(d) => &mut d.skipped,
            FrameDecoder::Octet(d) => &mut d.skipped,
        };
        std::mem::take(s)
    }
}

impl Decoder for FrameDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self {
            FrameDecoder::Lines(d) => d.decode(buf),
            FrameDecoder::Json(d) => d.decode(buf),
            FrameDecoder::Octet(d) => d.decode(buf),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self {
            FrameDecoder::Lines(d) => d.decode_eof(buf),
            FrameDecoder::Json(d) => d.decode_eof(buf),
            FrameDecoder::Octet(d) => d.decode_eof(buf),
        }
    }
}

/// Strips one trailing `\r` (CRLF line ends).
fn trim_cr(mut line: BytesMut) -> BytesMut {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    line
}
