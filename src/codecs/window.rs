//! Grouping decoded frames into windows: `W(n)` followed by `n` data frames.
//!
//! A window is the unit a Beats client retransmits, so it is the unit a
//! server hands on: events are emitted only once their whole window has
//! arrived (emitting earlier would duplicate them when a client disconnects
//! mid-window and resends), and a partial window at end of stream is dropped.
//!
//! [`WindowAssembler`] is the pure state machine; [`WindowReader`] drives it
//! from a [`FramedRead`] over a connection.
//!
//! Tolerated client behaviours (see `lumberjack-v2.md` §3, §5):
//! * data frames of one window spread over several `C` frames, or mixed `C`
//!   and bare `J` frames (only data frames count);
//! * sequence numbers that restart at 1 per window (Filebeat) or keep running
//!   across windows (pylogbeat): the window's ACK is its last frame's seq;
//! * `W(0)`, with or without an empty `C` after it (pylogbeat `send([])`):
//!   an empty window, acknowledged with `ACK(0)`;
//! * a `W` before the previous window is complete: the partial window is
//!   handed on and acknowledged as far as it got, as Logstash does.
//!
//! A data frame outside any window (before the first `W`, or more frames than
//! announced) is a protocol error: the stream cannot be trusted any more.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;

use futures_core::Stream;
use tokio::io::AsyncRead;
use tokio_util::codec::FramedRead;

use super::lumberjack::{Frame, FrameKind, LumberjackCodec, LumberjackError, Version};

/// One window's data frames, complete (or cut short by the client starting
/// the next window early).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The `W` frame's version byte; the ACK must carry the same one.
    pub version: Version,
    /// How many data frames the `W` frame announced.
    pub declared: u32,
    /// The data frames (`J` or `D`) in arrival order.
    pub frames: Vec<Frame>,
}

impl Window {
    /// The sequence number the window's ACK must carry: that of its last data
    /// frame (not the frame count: pylogbeat's numbers run on across windows),
    /// or `0` for an empty window.
    pub fn ack_seq(&self) -> u32 {
        self.frames.last().and_then(Frame::seq).unwrap_or(0)
    }

    /// Whether fewer frames arrived than announced (the client sent the next
    /// `W` early).
    pub fn is_partial(&self) -> bool {
        (self.frames.len() as u64) < u64::from(self.declared)
    }
}

/// Collects frames into [`Window`]s. Feed it every decoded frame with
/// [`push`](Self::push) and take finished windows with
/// [`pop_ready`](Self::pop_ready).
#[derive(Debug, Default)]
pub struct WindowAssembler {
    /// The window being received, if its `W` arrived and not all its frames.
    current: Option<Window>,
    ready: VecDeque<Window>,
}

impl WindowAssembler {
    pub fn new() -> Self {
        WindowAssembler::default()
    }

    /// Takes one frame. Errors are protocol violations after which the
    /// connection should be closed.
    pub fn push(&mut self, frame: Frame) -> Result<(), LumberjackError> {
        match frame {
            Frame::WindowSize { version, count } => {
                if let Some(partial) = self.current.take() {
                    self.ready.push_back(partial);
                }
                let window = Window {
                    version,
                    declared: count,
                    // Announced sizes are client-controlled: grow past 2048
                    // (Filebeat's largest) only as frames really arrive.
                    frames: Vec::with_capacity(count.min(2048) as usize),
                };
                if count == 0 {
                    self.ready.push_back(window);
                } else {
                    self.current = Some(window);
                }
            }
            data => {
                let Some(window) = self.current.as_mut() else {
                    let kind = match data {
                        Frame::Data { .. } => FrameKind::Data,
                        _ => FrameKind::Json,
                    };
                    return Err(LumberjackError::DataOutsideWindow {
                        kind,
                        seq: data.seq().unwrap_or(0),
                    });
                };
                window.frames.push(data);
                if !window.is_partial() {
                    if let Some(done) = self.current.take() {
                        self.ready.push_back(done);
                    }
                }
            }
        }
        Ok(())
    }

    /// The oldest finished window, if any.
    pub fn pop_ready(&mut self) -> Option<Window> {
        self.ready.pop_front()
    }

    /// Whether a window has started and not all its frames have arrived: the
    /// time to apply a mid-window read timeout (go-lumber allows 30 s), as
    /// opposed to an idle connection between windows, which has no limit.
    pub fn in_window(&self) -> bool {
        self.current.is_some()
    }

    /// Call at end of stream: a window still incomplete is dropped and
    /// reported, so it is never emitted.
    pub fn finish(&mut self) -> Result<(), LumberjackError> {
        match self.current.take() {
            None => Ok(()),
            Some(window) => Err(LumberjackError::IncompleteWindow {
                received: window.frames.len() as u32,
                declared: window.declared,
            }),
        }
    }
}

/// Reads whole windows from any stream of decoded frames, normally a
/// [`FramedRead`] over a connection (see [`WindowReader::from_reader`]).
#[derive(Debug)]
pub struct WindowReader<S> {
    frames: S,
    assembler: WindowAssembler,
    done: bool,
}

impl<R: AsyncRead + Unpin> WindowReader<FramedRead<R, LumberjackCodec>> {
    /// Reads frames from `reader` (a TCP or TLS stream) with `codec`.
    pub fn from_reader(reader: R, codec: LumberjackCodec) -> Self {
        WindowReader::new(FramedRead::new(reader, codec))
    }
}

impl<S> WindowReader<S>
where
    S: Stream<Item = Result<Frame, LumberjackError>> + Unpin,
{
    pub fn new(frames: S) -> Self {
        WindowReader {
            frames,
            assembler: WindowAssembler::new(),
            done: false,
        }
    }

    /// The next complete window; `Ok(None)` when the client closed the
    /// connection between windows; [`LumberjackError::IncompleteWindow`] when it
    /// closed mid-window (the partial window is dropped, never emitted).
    ///
    /// Cancel-safe: frames already read stay in the reader, so this can be
    /// raced against a timer (e.g. a mid-window timeout while
    /// [`in_window`](Self::in_window)) and called again.
    pub async fn next_window(&mut self) -> Result<Option<Window>, LumberjackError> {
        loop {
            if let Some(window) = self.assembler.pop_ready() {
                return Ok(Some(window));
            }
            if self.done {
                return Ok(None);
            }
            let frames = &mut self.frames;
            match poll_fn(|cx| Pin::new(&mut *frames).poll_next(cx)).await {
                Some(frame) => self.assembler.push(frame?)?,
                None => {
                    self.done = true;
                    self.assembler.finish()?;
                }
            }
        }
    }

    /// Whether a window is partly received (see [`WindowAssembler::in_window`]).
    pub fn in_window(&self) -> bool {
        self.assembler.in_window()
    }

    /// The underlying frame stream.
    pub fn get_ref(&self) -> &S {
        &self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::lumberjack::{encode_compressed, encode_frame};
    use bytes::{Bytes, BytesMut};
    use tokio::io::AsyncWriteExt;

    fn j(seq: u32) -> Frame {
        Frame::Json {
            seq,
            payload: Bytes::from(format!("{{\"n\":{seq}}}")),
        }
    }

    fn w(count: u32) -> Frame {
        Frame::WindowSize {
            version: Version::V2,
            count,
        }
    }

    fn assemble(frames: Vec<Frame>) -> Result<Vec<Window>, LumberjackError> {
        let mut a = WindowAssembler::new();
        let mut out = Vec::new();
        for f in frames {
            a.push(f)?;
            while let Some(w) = a.pop_ready() {
                out.push(w);
            }
        }
        a.finish()?;
        Ok(out)
    }

    #[test]
    fn filebeat_windows_restart_seq() {
        let windows = assemble(vec![w(2), j(1), j(2), w(1), j(1)]).unwrap();
        assert_eq!(windows.len(), 2);
        assert_eq!(windows[0].ack_seq(), 2);
        assert_eq!(windows[1].ack_seq(), 1);
        assert!(!windows[0].is_partial());
    }

    #[test]
    fn pylogbeat_running_seq_acks_last_seq_not_count() {
        let windows = assemble(vec![w(1), j(1), w(2), j(2), j(3)]).unwrap();
        assert_eq!(windows[1].ack_seq(), 3);
        assert_eq!(windows[1].frames.len(), 2);
    }

    #[test]
    fn empty_window() {
        let windows = assemble(vec![w(0)]).unwrap();
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].ack_seq(), 0);
    }

    #[test]
    fn early_window_flushes_partial() {
        let windows = assemble(vec![w(3), j(1), w(0), w(1), j(9)]).unwrap();
        assert_eq!(windows.len(), 3);
        assert!(windows[0].is_partial());
        assert_eq!(windows[0].ack_seq(), 1);
        assert_eq!(windows[1].frames.len(), 0);
        assert_eq!(windows[2].ack_seq(), 9);
    }

    #[test]
    fn data_outside_window() {
        assert!(matches!(
            assemble(vec![j(1)]),
            Err(LumberjackError::DataOutsideWindow { seq: 1, .. })
        ));
        assert!(matches!(
            assemble(vec![w(1), j(1), j(2)]),
            Err(LumberjackError::DataOutsideWindow { seq: 2, .. })
        ));
    }

    #[test]
    fn eof_mid_window_drops_it() {
        let err = assemble(vec![w(2), j(1)]).unwrap_err();
        assert!(matches!(
            err,
            LumberjackError::IncompleteWindow {
                received: 1,
                declared: 2
            }
        ));
        assert!(err.to_string().contains("dropped"), "{err}");
    }

    /// What pylogbeat writes: `W` in one send, then the `C` in 8 KiB pieces;
    /// then it closes its side after the ACK.
    #[tokio::test]
    async fn reader_over_a_socket_like_stream() {
        let mut plain = BytesMut::new();
        let frames: Vec<Frame> = (1..=500).map(j).collect();
        for f in &frames {
            encode_frame(f, Version::V2, &mut plain);
        }
        let mut wire = BytesMut::new();
        encode_frame(&w(500), Version::V2, &mut wire);
        encode_compressed(&plain, 6, Version::V2, &mut wire);
        // An empty `send([])` window, then a plain one.
        encode_frame(&w(0), Version::V2, &mut wire);
        encode_compressed(b"", 6, Version::V2, &mut wire);
        encode_frame(&w(1), Version::V2, &mut wire);
        encode_frame(&j(501), Version::V2, &mut wire);

        let (client, server) = tokio::io::duplex(4096);
        let writer = tokio::spawn(async move {
            let mut client = client;
            for piece in wire.chunks(8192) {
                client.write_all(piece).await?;
            }
            client.shutdown().await
        });
        let mut reader = WindowReader::from_reader(server, LumberjackCodec::default());
        let first = reader.next_window().await.unwrap().unwrap();
        assert_eq!(first.frames, frames);
        assert_eq!(first.ack_seq(), 500);
        let empty = reader.next_window().await.unwrap().unwrap();
        assert_eq!((empty.frames.len(), empty.ack_seq()), (0, 0));
        let last = reader.next_window().await.unwrap().unwrap();
        assert_eq!(last.ack_seq(), 501);
        assert!(reader.next_window().await.unwrap().is_none());
        assert!(reader.next_window().await.unwrap().is_none());
        writer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn reader_reports_a_cut_window() {
        let mut wire = BytesMut::new();
        encode_frame(&w(2), Version::V2, &mut wire);
        encode_frame(&j(1), Version::V2, &mut wire);
        let mut reader = WindowReader::from_reader(&wire[..], LumberjackCodec::default());
        assert!(matches!(
            reader.next_window().await,
            Err(LumberjackError::IncompleteWindow {
                received: 1,
                declared: 2
            })
        ));
    }

    #[tokio::test]
    async fn reader_reports_a_cut_frame() {
        let mut wire = BytesMut::new();
        encode_frame(&w(1), Version::V2, &mut wire);
        encode_frame(&j(1), Version::V2, &mut wire);
        let cut = &wire[..wire.len() - 1];
        let mut reader = WindowReader::from_reader(cut, LumberjackCodec::default());
        assert!(matches!(
            reader.next_window().await,
            Err(LumberjackError::TruncatedFrame { .. })
        ));
    }
}
