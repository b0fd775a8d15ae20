//! The read loop every byte-stream input shares: read into one buffer, frame,
//! batch, send; stop reading while the pipeline is full.

use std::io;

use bytes::BytesMut;
use chrono::Utc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use super::BatchSender;
use crate::codecs::{Frame, FrameDecoder, FrameError, TAG_TRUNCATED};
use crate::event::Event;
use crate::topology::ack::Ack;

/// Bytes read per call; also the size new buffer space is reserved in.
const READ_CHUNK: usize = 64 * 1024;

/// Why a stream stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    Eof,
    Shutdown,
    /// The pipeline closed (shutdown in progress).
    Closed,
}

/// Totals of one stream, for its closing log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamStats {
    pub events: u64,
    pub bytes: u64,
    pub oversized_rejected: u64,
    pub truncated: u64,
}

/// Reads `reader` to its end (or shutdown), turning frames into events with
/// `make_event` and sending them in batches of at most `out.batch_size()`.
pub async fn read_stream<R, F>(
    mut reader: R,
    mut decoder: FrameDecoder,
    out: &BatchSender,
    shutdown: &CancellationToken,
    mut make_event: F,
) -> Result<(StreamEnd, StreamStats), (FrameError, StreamStats)>
where
    R: AsyncRead + Unpin,
    F: FnMut(Frame) -> Event,
{
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut stats = StreamStats::default();
    let batch_size = out.batch_size();
    let mut events: Vec<Event> = Vec::with_capacity(batch_size);
    loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let n = tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                // What was read and framed is delivered; a partial line is not
                // a message yet.
                flush(out, &mut events).await;
                return Ok((StreamEnd::Shutdown, stats));
            }
            r = reader.read_buf(&mut buf) => match r {
                Ok(n) => n,
                Err(e) => {
                    flush(out, &mut events).await;
                    return Err((FrameError::Io(e), stats));
                }
            },
        };
        stats.bytes += n as u64;
        let eof = n == 0;
        loop {
            let frame = if eof {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode(&mut buf)
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    flush(out, &mut events).await;
                    return Err((e, stats));
                }
            };
            if frame.truncated {
                stats.truncated += 1;
            }
            let truncated = frame.truncated;
            let mut event = make_event(frame);
            if truncated {
                event.add_tag(TAG_TRUNCATED);
            }
            events.push(event);
            stats.events += 1;
            if events.len() >= batch_size && !flush(out, &mut events).await {
                return Ok((StreamEnd::Closed, stats));
            }
        }
        stats.oversized_rejected += decoder.take_skipped().oversized;
        // Send what this read produced: latency stays low at low rates, and
        // at high rates reads are large enough to fill batches.
        if !flush(out, &mut events).await {
            return Ok((StreamEnd::Closed, stats));
        }
        if eof {
            return Ok((StreamEnd::Eof, stats));
        }
    }
}

/// Sends the pending events; false when the pipeline is closed.
async fn flush(out: &BatchSender, events: &mut Vec<Event>) -> bool {
    if events.is_empty() {
        return true;
    }
    let batch = std::mem::replace(events, Vec::with_capacity(out.batch_size()));
    out.send(batch, Ack::untracked()).await.is_ok()
}

/// The current time, read once per frame batch by callers that stamp events.
pub fn now() -> chrono::DateTime<Utc> {
    Utc::now()
}

/// Whether an I/O error is an ordinary disconnect rather than a fault.
pub fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}
