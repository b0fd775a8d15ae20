//! The read loop every byte-stream input shares: read into one buffer, frame,
//! batch, send; stop reading while the pipeline is full.
//!
//! What differs between inputs — how a frame becomes an event, how a batch is
//! sent and acknowledged, when a partial batch is worth sending — is the
//! caller's [`FrameSink`]; the loop owns buffering, framing, batch
//! boundaries, truncation tagging and the totals.

use std::future::Future;
use std::io;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
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
    /// Events sent or pending (frames the sink skipped are not counted).
    pub events: u64,
    pub bytes: u64,
    pub oversized_rejected: u64,
    /// Truncated frames among `events`.
    pub truncated: u64,
}

/// Where [`read_stream`] delivers a stream's frames.
pub trait FrameSink {
    /// The most events one batch holds.
    fn batch_size(&self) -> usize;

    /// The event for `frame`, or `None` to drop it (e.g. a line already
    /// delivered before a restart). `now` is read once per read, so a sink
    /// that stamps events pays one clock read per read, not per frame.
    fn event(&mut self, frame: Frame, now: DateTime<Utc>) -> Option<Event>;

    /// Sends one non-empty batch; false when the pipeline is closed.
    /// `Send` because inputs run as spawned tasks.
    fn send(&mut self, batch: Vec<Event>) -> impl Future<Output = bool> + Send;

    /// Whether to send what each read produced, or only full batches (and
    /// the rest when the stream ends). Sockets want the former: latency stays
    /// low at low rates, and at high rates reads are large enough to fill
    /// batches. A source that is always readable, like an S3 object whose
    /// batches each cost an acknowledgement to track, wants the latter.
    fn flush_each_read(&self) -> bool {
        true
    }
}

/// A sink for inputs without acknowledgements (tcp, file, stdin): every
/// frame becomes `make_event(frame, now)`, `now` being read once per read
/// rather than per line; batches are sent with [`Ack::untracked`], and what
/// each read produced is sent at once.
pub struct Untracked<'a, F> {
    out: &'a BatchSender,
    make_event: F,
}

impl<'a, F: FnMut(Frame, DateTime<Utc>) -> Event> Untracked<'a, F> {
    pub fn new(out: &'a BatchSender, make_event: F) -> Self {
        Untracked { out, make_event }
    }
}

impl<F: FnMut(Frame, DateTime<Utc>) -> Event> FrameSink for Untracked<'_, F> {
    fn batch_size(&self) -> usize {
        self.out.batch_size()
    }

    fn event(&mut self, frame: Frame, now: DateTime<Utc>) -> Option<Event> {
        Some((self.make_event)(frame, now))
    }

    fn send(&mut self, batch: Vec<Event>) -> impl Future<Output = bool> + Send {
        // Only the sender is borrowed, so the closure need not be `Send`.
        let out = self.out;
        async move { out.send(batch, Ack::untracked()).await.is_ok() }
    }
}

/// Reads `reader` to its end (or shutdown), handing every frame to `sink`
/// and sending the events in batches of at most `sink.batch_size()`.
///
/// Whatever was framed is sent before returning, whether the stream ended,
/// shutdown came or reading failed; a partial line is not a message yet.
pub async fn read_stream<R, S>(
    mut reader: R,
    mut decoder: FrameDecoder,
    shutdown: &CancellationToken,
    sink: &mut S,
) -> Result<(StreamEnd, StreamStats), (FrameError, StreamStats)>
where
    R: AsyncRead + Unpin,
    S: FrameSink,
{
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut stats = StreamStats::default();
    let batch_size = sink.batch_size();
    let mut events: Vec<Event> = Vec::with_capacity(batch_size);
    loop {
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let n = tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                flush(sink, &mut events, batch_size).await;
                return Ok((StreamEnd::Shutdown, stats));
            }
            r = reader.read_buf(&mut buf) => match r {
                Ok(n) => n,
                Err(e) => {
                    flush(sink, &mut events, batch_size).await;
                    return Err((FrameError::Io(e), stats));
                }
            },
        };
        stats.bytes += n as u64;
        let eof = n == 0;
        let now = Utc::now();
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
                    flush(sink, &mut events, batch_size).await;
                    return Err((e, stats));
                }
            };
            let truncated = frame.truncated;
            let Some(mut event) = sink.event(frame, now) else {
                continue;
            };
            if truncated {
                stats.truncated += 1;
                event.add_tag(TAG_TRUNCATED);
            }
            events.push(event);
            stats.events += 1;
            if events.len() >= batch_size && !flush(sink, &mut events, batch_size).await {
                return Ok((StreamEnd::Closed, stats));
            }
        }
        stats.oversized_rejected += decoder.take_skipped().oversized;
        if (eof || sink.flush_each_read()) && !flush(sink, &mut events, batch_size).await {
            return Ok((StreamEnd::Closed, stats));
        }
        if eof {
            return Ok((StreamEnd::Eof, stats));
        }
    }
}

/// Sends the pending events; false when the pipeline is closed.
async fn flush<S: FrameSink>(sink: &mut S, events: &mut Vec<Event>, batch_size: usize) -> bool {
    if events.is_empty() {
        return true;
    }
    let batch = std::mem::replace(events, Vec::with_capacity(batch_size));
    sink.send(batch).await
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;
    use crate::codecs::{Framing, Oversize};

    /// Records batches; skips the first `skip` frames; closed after `open`
    /// batches.
    struct Collect {
        batch_size: usize,
        each_read: bool,
        skip: u64,
        seen: u64,
        open: usize,
        batches: Vec<Vec<String>>,
    }

    impl Collect {
        fn new(batch_size: usize, each_read: bool) -> Self {
            Collect {
                batch_size,
                each_read,
                skip: 0,
                seen: 0,
                open: usize::MAX,
                batches: Vec::new(),
            }
        }
    }

    impl FrameSink for Collect {
        fn batch_size(&self) -> usize {
            self.batch_size
        }

        fn event(&mut self, frame: Frame, now: DateTime<Utc>) -> Option<Event> {
            self.seen += 1;
            (self.seen > self.skip).then(|| Event::new(frame.bytes, now))
        }

        fn send(&mut self, batch: Vec<Event>) -> impl Future<Output = bool> + Send {
            let lines = batch
                .iter()
                .map(|e| {
                    let text = String::from_utf8_lossy(&e.message).into_owned();
                    if e.has_tag(TAG_TRUNCATED) {
                        format!("{text}~")
                    } else {
                        text
                    }
                })
                .collect();
            let open = self.batches.len() < self.open;
            if open {
                self.batches.push(lines);
            }
            std::future::ready(open)
        }

        fn flush_each_read(&self) -> bool {
            self.each_read
        }
    }

    /// One read per chunk; then an error, a shutdown, or the end.
    struct Chunks {
        chunks: VecDeque<&'static str>,
        then: Then,
    }

    enum Then {
        Eof,
        Fail,
        /// Cancels the token and never returns.
        Cancel(CancellationToken),
    }

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(chunk) = self.chunks.pop_front() {
                buf.put_slice(chunk.as_bytes());
                return Poll::Ready(Ok(()));
            }
            match &self.then {
                Then::Eof => Poll::Ready(Ok(())),
                Then::Fail => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
                Then::Cancel(token) => {
                    token.cancel();
                    Poll::Pending
                }
            }
        }
    }

    async fn run(
        chunks: &[&'static str],
        then: Then,
        sink: &mut Collect,
    ) -> Result<(StreamEnd, StreamStats), (FrameError, StreamStats)> {
        let shutdown = match &then {
            Then::Cancel(token) => token.clone(),
            _ => CancellationToken::new(),
        };
        let reader = Chunks {
            chunks: chunks.iter().copied().collect(),
            then,
        };
        let decoder = FrameDecoder::new(Framing::Lines, 4, Oversize::Truncate);
        read_stream(reader, decoder, &shutdown, sink).await
    }

    #[tokio::test]
    async fn each_read_is_sent_or_only_full_batches() {
        let chunks = ["a\nb\nc\n", "d\ne\n"];
        let mut sink = Collect::new(2, true);
        let (end, stats) = run(&chunks, Then::Eof, &mut sink).await.unwrap();
        assert_eq!(end, StreamEnd::Eof);
        assert_eq!(sink.batches, [vec!["a", "b"], vec!["c"], vec!["d", "e"]]);
        assert_eq!((stats.events, stats.bytes), (5, 10));

        let mut sink = Collect::new(2, false);
        let (end, _) = run(&chunks, Then::Eof, &mut sink).await.unwrap();
        assert_eq!(end, StreamEnd::Eof);
        assert_eq!(sink.batches, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
    }

    #[tokio::test]
    async fn skipped_frames_are_neither_events_nor_truncations() {
        let mut sink = Collect::new(10, false);
        sink.skip = 2;
        let chunks = ["toolong\nb\nlonger\nc"];
        let (end, stats) = run(&chunks, Then::Eof, &mut sink).await.unwrap();
        assert_eq!(end, StreamEnd::Eof);
        assert_eq!(sink.seen, 4);
        assert_eq!(sink.batches, [vec!["long~", "c"]]);
        assert_eq!((stats.events, stats.truncated), (2, 1));
    }

    #[tokio::test]
    async fn shutdown_and_read_errors_send_what_was_framed() {
        let mut sink = Collect::new(10, false);
        let token = CancellationToken::new();
        let (end, _) = run(&["a\nb\npart"], Then::Cancel(token), &mut sink)
            .await
            .unwrap();
        assert_eq!(end, StreamEnd::Shutdown);
        assert_eq!(sink.batches, [vec!["a", "b"]]);

        let mut sink = Collect::new(10, false);
        let (e, stats) = run(&["a\npart"], Then::Fail, &mut sink).await.unwrap_err();
        assert!(matches!(e, FrameError::Io(e) if e.kind() == io::ErrorKind::ConnectionReset));
        assert_eq!(sink.batches, [vec!["a"]]);
        assert_eq!(stats.events, 1);
    }

    #[tokio::test]
    async fn a_closed_pipeline_stops_the_stream() {
        let mut sink = Collect::new(1, true);
        sink.open = 1;
        let (end, stats) = run(&["a\nb\nc\n"], Then::Eof, &mut sink).await.unwrap();
        assert_eq!(end, StreamEnd::Closed);
        assert_eq!(sink.batches, [vec!["a"]]);
        assert_eq!(stats.events, 2);
    }
}
