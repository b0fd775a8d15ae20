//! Lumberjack v2 (the Beats protocol) wire format: a [`Decoder`] for what
//! Filebeat, Winlogbeat, Elastic Agent and pylogbeat send, and the ACK frames a
//! server writes back.
//!
//! See `shared/formats/lumberjack-v2.md` for the protocol reference this
//! follows. In short: every frame starts with a version byte (ASCII `'2'`, or
//! `'1'` for legacy v1 clients) and a type byte; integers are unsigned 32-bit
//! big-endian.
//!
//! | frame | body after the 2-byte header |
//! |---|---|
//! | `W` window size | `count` — number of data frames that follow |
//! | `J` JSON data | `seq` `len` `json[len]` |
//! | `D` key/value data (v1) | `seq` `pairs`, then `pairs` × (`klen` `key` `vlen` `value`) |
//! | `C` compressed | `len` `zlib[len]`: a zlib stream holding whole frames |
//! | `A` ACK (server → client) | `seq` |
//!
//! # Why it looks like this
//!
//! * **Compression is invisible to callers.** A `C` frame is inflated as soon
//!   as it is complete and the frames inside are returned one by one, exactly
//!   as if they had been sent bare: a window may mix `C` and bare `J` frames and
//!   only data frames count towards it.
//! * **Zero-copy.** Payloads and `D` keys/values are [`Bytes`] slices of the
//!   read buffer, or of the one buffer a `C` frame was inflated into; nothing
//!   is copied per event. simd-json later slices its strings out of the same
//!   allocation.
//! * **Hostile input is bounded before it costs memory.** Length fields are
//!   checked against [`Limits`] before anything is reserved, and inflation is
//!   streamed into a buffer that is never allowed past
//!   [`Limits::max_decompressed_bytes`], so a 4 GiB length field or a zlib
//!   bomb closes the connection instead of exhausting memory.
//! * **Nested compression is rejected.** No known client sends a `C` inside a
//!   `C`; allowing it would only multiply the inflation bound.
//!
//! Window bookkeeping (which data frames belong to which `W`) lives in
//! [`super::window`]; when to ACK lives in [`super::acker`].

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};
use tokio_util::codec::{Decoder, Encoder};

/// Default cap on one frame's payload (`J` JSON, `D` pairs, `C` zlib bytes).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 << 20;
/// Default cap on what one `C` frame may inflate to.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 256 << 20;
/// Default cap on a window's declared size (go-lumber's server uses 10 000;
/// Filebeat's `bulk_max_size` defaults to 2048).
pub const DEFAULT_MAX_WINDOW_SIZE: u32 = 16_384;

/// Byte length of every ACK frame: version, `A`, `seq`.
pub const ACK_FRAME_LEN: usize = 6;

const TYPE_WINDOW: u8 = b'W';
const TYPE_JSON: u8 = b'J';
const TYPE_DATA: u8 = b'D';
const TYPE_COMPRESSED: u8 = b'C';
const TYPE_ACK: u8 = b'A';

/// Never reserve more than this in one go for a frame that is still arriving:
/// a client that announces a 64 MiB frame and then stalls should not pin 64 MiB.
const MAX_RESERVE_AHEAD: usize = 1 << 20;

/// The protocol version of a frame. On the wire it is the ASCII digit, not
/// the number: `'2'` = 0x32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// Lumberjack v1 (logstash-forwarder, old Ruby clients): `D` frames.
    V1,
    /// Lumberjack v2: what every current Beat and pylogbeat speaks.
    V2,
}

impl Version {
    /// The version byte as sent on the wire.
    pub const fn byte(self) -> u8 {
        match self {
            Version::V1 => b'1',
            Version::V2 => b'2',
        }
    }

    /// The version a wire byte stands for, if any.
    pub const fn from_byte(byte: u8) -> Option<Version> {
        match byte {
            b'1' => Some(Version::V1),
            b'2' => Some(Version::V2),
            _ => None,
        }
    }
}

/// One decoded client frame. Compressed frames never appear here: the
/// decoder inflates them and returns the frames they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `W`: the next `count` data frames form one window. The version is kept
    /// because the window's ACK must carry the same version byte.
    WindowSize { version: Version, count: u32 },
    /// `J`: one JSON document (normally an object), as sent.
    Json { seq: u32, payload: Bytes },
    /// `D`: legacy v1 key/value pairs, in wire order, as sent.
    Data {
        seq: u32,
        pairs: Vec<(Bytes, Bytes)>,
    },
}

impl Frame {
    /// The sequence number of a data frame; `None` for a window frame.
    pub fn seq(&self) -> Option<u32> {
        match self {
            Frame::WindowSize { .. } => None,
            Frame::Json { seq, .. } | Frame::Data { seq, .. } => Some(*seq),
        }
    }

    /// Whether this is a data frame (`J` or `D`), the kind a window counts.
    pub fn is_data(&self) -> bool {
        !matches!(self, Frame::WindowSize { .. })
    }
}

/// An ACK frame, the only thing a server writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckFrame {
    /// Must be the version byte of the window being acknowledged (go-lumber
    /// rejects a v2 window's ACK that does not say `'2'`).
    pub version: Version,
    /// The sequence number of the last data frame accepted; `0` is a keepalive.
    pub seq: u32,
}

impl AckFrame {
    /// `ACK(0)`: restarts a v2 client's read deadline while its window is
    /// still being processed, without acknowledging anything.
    pub const KEEPALIVE: AckFrame = AckFrame {
        version: Version::V2,
        seq: 0,
    };

    /// The frame's six bytes. Write them in one write so an ACK is never
    /// split or interleaved with another (pylogbeat reads them with three
    /// `recv` calls and no short-read handling).
    pub fn to_bytes(self) -> [u8; ACK_FRAME_LEN] {
        let s = self.seq.to_be_bytes();
        [self.version.byte(), TYPE_ACK, s[0], s[1], s[2], s[3]]
    }
}

/// Caps that keep a hostile or broken client from exhausting memory. Every
/// length is checked against them before anything is allocated for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one `J`, `D` (all pairs together) or `C` frame.
    pub max_frame_bytes: usize,
    /// Largest inflated size of one `C` frame.
    pub max_decompressed_bytes: usize,
    /// Largest window size a `W` frame may announce.
    pub max_window_size: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_window_size: DEFAULT_MAX_WINDOW_SIZE,
        }
    }
}

/// Which frame a size error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Json,
    Data,
    Compressed,
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameKind::Json => "JSON data (J)",
            FrameKind::Data => "key/value data (D)",
            FrameKind::Compressed => "compressed (C)",
        })
    }
}

/// Why a connection's byte stream cannot be decoded. Every variant means the
/// framing is lost and the connection must be closed (the client then
/// resends its unacknowledged windows). A payload that is framed correctly
/// but is not JSON is *not* an error here: see [`super::beats_event`].
#[derive(Debug, thiserror::Error)]
pub enum LumberjackError {
    #[error("bad protocol version byte 0x{found:02x}{}: expected 0x32 ('2', Lumberjack v2) or 0x31 ('1', v1)", version_hint(*found))]
    BadVersion { found: u8 },

    #[error("unknown frame type 0x{found:02x}{} in a v{} frame: expected W, J, D or C", printable(*found), version_digit(*version))]
    UnknownFrameType { version: Version, found: u8 },

    #[error("the client sent an ACK frame (A); only the server sends ACKs")]
    UnexpectedAck,

    #[error("{kind} frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        kind: FrameKind,
        size: u64,
        limit: usize,
    },

    #[error("window of {size} frames exceeds the limit of {limit} frames")]
    WindowTooLarge { size: u32, limit: u32 },

    #[error("compressed (C) frame inflates to more than the limit of {limit} bytes")]
    DecompressedTooLarge { limit: usize },

    #[error("compressed (C) frame inside a compressed frame: nested compression is not accepted")]
    NestedCompression,

    #[error("compressed (C) frame content is truncated: {remaining} inflated bytes at offset {offset} do not form a whole frame")]
    TruncatedCompressed { offset: usize, remaining: usize },

    #[error("compressed (C) frame is not a valid zlib stream: {reason}")]
    BadZlib { reason: String },

    #[error("connection closed in the middle of a frame ({buffered} bytes buffered)")]
    TruncatedFrame { buffered: usize },

    #[error("{kind} frame seq={seq} arrived outside a window (no W frame announced it)")]
    DataOutsideWindow { kind: FrameKind, seq: u32 },

    #[error("connection closed after {received} of the {declared} data frames of a window; the partial window is dropped")]
    IncompleteWindow { received: u32, declared: u32 },

    #[error("reading from the connection: {0}")]
    Io(#[from] std::io::Error),
}

fn version_hint(byte: u8) -> &'static str {
    match byte {
        0x16 => " (a TLS ClientHello: the client uses TLS but this port expects plain TCP)",
        b'G' | b'P' | b'H' | b'D' | b'O' => " (looks like an HTTP request)",
        _ => "",
    }
}

fn version_digit(v: Version) -> char {
    char::from(v.byte())
}

fn printable(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!(" ('{}')", char::from(byte))
    } else {
        String::new()
    }
}

/// Decodes client frames and encodes [`AckFrame`]s. One per connection: it keeps
/// the frames of a `C` that are not yet returned and the progress of a
/// partially received `D` frame.
#[derive(Debug)]
pub struct LumberjackCodec {
    limits: Limits,
    /// Frames inflated from a `C` frame, returned before reading on.
    pending: VecDeque<Frame>,
    /// How far a `D` frame at the head of the read buffer has been validated,
    /// so a large one arriving in small reads is not rescanned from the start.
    data_scan: Option<DataScan>,
    inflater: Decompress,
}

impl Default for LumberjackCodec {
    fn default() -> Self {
        LumberjackCodec::new(Limits::default())
    }
}

impl LumberjackCodec {
    pub fn new(limits: Limits) -> Self {
        LumberjackCodec {
            limits,
            pending: VecDeque::new(),
            data_scan: None,
            inflater: Decompress::new(true),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Inflates one `C` payload and queues the frames it holds.
    fn expand(&mut self, zlib: &[u8]) -> Result<(), LumberjackError> {
        let inflated = inflate(&mut self.inflater, zlib, self.limits.max_decompressed_bytes)?;
        let total = inflated.len();
        // Zero-copy: the Vec's allocation becomes the buffer every inner
        // payload is sliced from.
        let mut buf = BytesMut::from(Bytes::from(inflated));
        let mut scan = None;
        while !buf.is_empty() {
            let offset = total - buf.len();
            match parse_frame(&mut buf, &self.limits, &mut scan, true)? {
                Some(Parsed::Frame(frame)) => self.pending.push_back(frame),
                // `parse_frame` rejects a nested `C` before returning it.
                Some(Parsed::Compressed(_)) => return Err(LumberjackError::NestedCompression),
                None => {
                    return Err(LumberjackError::TruncatedCompressed {
                        offset,
                        remaining: buf.len(),
                    })
                }
            }
        }
        Ok(())
    }
}

impl Decoder for LumberjackCodec {
    type Item = Frame;
    type Error = LumberjackError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, LumberjackError> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(Some(frame));
            }
            match parse_frame(src, &self.limits, &mut self.data_scan, false)? {
                None => return Ok(None),
                Some(Parsed::Frame(frame)) => return Ok(Some(frame)),
                // An empty `C` (pylogbeat's `send([])`) yields nothing: read on.
                Some(Parsed::Compressed(zlib)) => self.expand(&zlib)?,
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, LumberjackError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(LumberjackError::TruncatedFrame {
                buffered: src.len(),
            }),
        }
    }
}

impl Encoder<AckFrame> for LumberjackCodec {
    type Error = LumberjackError;

    fn encode(&mut self, ack: AckFrame, dst: &mut BytesMut) -> Result<(), LumberjackError> {
        dst.extend_from_slice(&ack.to_bytes());
        Ok(())
    }
}

/// A wire frame: a decoded frame, or the still-compressed payload of a `C`.
enum Parsed {
    Frame(Frame),
    Compressed(Bytes),
}

/// Progress through a `D` frame's pairs: `end` is the offset (from the frame
/// start) just past the last whole pair seen, `pairs_left` how many follow.
#[derive(Clone, Copy, Debug)]
struct DataScan {
    end: usize,
    pairs_left: u32,
}

fn be_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Reserves room for the rest of a frame that is still arriving, bounded so a
/// stalled client cannot make us hold a whole maximum-size frame.
fn reserve_for(buf: &mut BytesMut, total: usize, inner: bool) {
    if !inner && total > buf.len() {
        buf.reserve((total - buf.len()).min(MAX_RESERVE_AHEAD));
    }
}

fn check_size(kind: FrameKind, size: u64, limits: &Limits) -> Result<usize, LumberjackError> {
    match usize::try_from(size) {
        Ok(n) if n <= limits.max_frame_bytes => Ok(n),
        _ => Err(LumberjackError::FrameTooLarge {
            kind,
            size,
            limit: limits.max_frame_bytes,
        }),
    }
}

/// Takes one wire frame off the front of `buf`, or returns `None` (consuming
/// nothing) when it has not fully arrived. `inner` is true for the content of
/// a `C` frame, where another `C` is an error.
fn parse_frame(
    buf: &mut BytesMut,
    limits: &Limits,
    scan: &mut Option<DataScan>,
    inner: bool,
) -> Result<Option<Parsed>, LumberjackError> {
    // The version byte is checked as soon as it is there, so a TLS or HTTP
    // client is told off at its first byte rather than after a timeout.
    let Some(&version_byte) = buf.first() else {
        return Ok(None);
    };
    let version = Version::from_byte(version_byte).ok_or(LumberjackError::BadVersion {
        found: version_byte,
    })?;
    let Some(&frame_type) = buf.get(1) else {
        return Ok(None);
    };
    match frame_type {
        TYPE_WINDOW => {
            let Some(count) = be_u32(buf, 2) else {
                return Ok(None);
            };
            if count > limits.max_window_size {
                return Err(LumberjackError::WindowTooLarge {
                    size: count,
                    limit: limits.max_window_size,
                });
            }
            buf.advance(6);
            Ok(Some(Parsed::Frame(Frame::WindowSize { version, count })))
        }
        TYPE_JSON => {
            let (Some(seq), Some(len)) = (be_u32(buf, 2), be_u32(buf, 6)) else {
                return Ok(None);
            };
            let len = check_size(FrameKind::Json, u64::from(len), limits)?;
            let total = 10 + len;
            if buf.len() < total {
                reserve_for(buf, total, inner);
                return Ok(None);
            }
            buf.advance(10);
            let payload = buf.split_to(len).freeze();
            Ok(Some(Parsed::Frame(Frame::Json { seq, payload })))
        }
        TYPE_DATA => parse_data(buf, limits, scan, inner),
        TYPE_COMPRESSED => {
            if inner {
                return Err(LumberjackError::NestedCompression);
            }
            let Some(len) = be_u32(buf, 2) else {
                return Ok(None);
            };
            let len = check_size(FrameKind::Compressed, u64::from(len), limits)?;
            let total = 6 + len;
            if buf.len() < total {
                reserve_for(buf, total, inner);
                return Ok(None);
            }
            buf.advance(6);
            Ok(Some(Parsed::Compressed(buf.split_to(len).freeze())))
        }
        TYPE_ACK => Err(LumberjackError::UnexpectedAck),
        found => Err(LumberjackError::UnknownFrameType { version, found }),
    }
}

/// A `D` frame has no overall length, so its pairs are walked (and their
/// total size checked against the limit) before anything is taken off `buf`.
fn parse_data(
    buf: &mut BytesMut,
    limits: &Limits,
    scan: &mut Option<DataScan>,
    inner: bool,
) -> Result<Option<Parsed>, LumberjackError> {
    let (Some(seq), Some(pairs)) = (be_u32(buf, 2), be_u32(buf, 6)) else {
        return Ok(None);
    };
    // Each pair takes at least its two length fields: a pair count that could
    // not fit in the limit is rejected before walking anything.
    check_size(FrameKind::Data, u64::from(pairs) * 8, limits)?;
    let mut state = scan.take().unwrap_or(DataScan {
        end: 10,
        pairs_left: pairs,
    });
    while state.pairs_left > 0 {
        let Some(klen) = be_u32(buf, state.end) else {
            break;
        };
        let value_len_at = state.end as u64 + 4 + u64::from(klen);
        let body = value_len_at + 4 - 10;
        check_size(FrameKind::Data, body, limits)?;
        // Fits in usize: bounded by the limit, itself a usize.
        let Some(vlen) = be_u32(buf, value_len_at as usize) else {
            break;
        };
        let end = value_len_at + 4 + u64::from(vlen);
        check_size(FrameKind::Data, end - 10, limits)?;
        let end = end as usize;
        if buf.len() < end {
            reserve_for(buf, end, inner);
            break;
        }
        state.end = end;
        state.pairs_left -= 1;
    }
    if state.pairs_left > 0 {
        *scan = Some(state);
        return Ok(None);
    }
    // The whole frame is in `buf` and every length inside it was checked.
    let mut frame = buf.split_to(state.end);
    frame.advance(10);
    let mut out = Vec::with_capacity(pairs as usize);
    for _ in 0..pairs {
        let klen = frame.get_u32() as usize;
        let key = frame.split_to(klen).freeze();
        let vlen = frame.get_u32() as usize;
        let value = frame.split_to(vlen).freeze();
        out.push((key, value));
    }
    Ok(Some(Parsed::Frame(Frame::Data { seq, pairs: out })))
}

/// Inflates a whole zlib stream into one buffer, never letting it grow past
/// `limit` (a zlib bomb is stopped after at most `limit` bytes of output).
/// Bytes after the end of the zlib stream are ignored, as go-lumber does.
fn inflate(
    inflater: &mut Decompress,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, LumberjackError> {
    inflater.reset(true);
    let cap = limit.saturating_add(1);
    // JSON log events compress 5–10×; start there and double as needed.
    let mut out: Vec<u8> = Vec::with_capacity(input.len().saturating_mul(8).max(4096).min(cap));
    loop {
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(LumberjackError::DecompressedTooLarge { limit });
            }
            let grow = out.capacity().max(4096).min(cap - out.len());
            out.reserve_exact(grow);
        }
        let consumed = inflater.total_in() as usize;
        let produced = out.len();
        let rest = input.get(consumed..).unwrap_or_default();
        let status = inflater
            .decompress_vec(rest, &mut out, FlushDecompress::None)
            .map_err(|e| LumberjackError::BadZlib {
                reason: e.to_string(),
            })?;
        if out.len() > limit {
            return Err(LumberjackError::DecompressedTooLarge { limit });
        }
        if status == Status::StreamEnd {
            // Events keep slices of this buffer alive until delivered: give
            // back a large unused tail rather than hold it for that long.
            if out.capacity() - out.len() > out.len() / 8 {
                out.shrink_to_fit();
            }
            return Ok(out);
        }
        let progressed = inflater.total_in() as usize != consumed || out.len() != produced;
        if !progressed && out.len() < out.capacity() {
            return Err(LumberjackError::BadZlib {
                reason: format!(
                    "the stream ends early after {} of {} compressed bytes (no zlib end marker)",
                    inflater.total_in(),
                    input.len()
                ),
            });
        }
    }
}

/// Appends `frame` in wire form. `version` is written on the frame (a
/// [`Frame::WindowSize`] uses its own). For clients, tests and benchmarks:
/// a server only writes [`AckFrame`]s.
pub fn encode_frame(frame: &Frame, version: Version, out: &mut BytesMut) {
    match frame {
        Frame::WindowSize { version, count } => {
            out.put_u8(version.byte());
            out.put_u8(TYPE_WINDOW);
            out.put_u32(*count);
        }
        Frame::Json { seq, payload } => {
            out.reserve(10 + payload.len());
            out.put_u8(version.byte());
            out.put_u8(TYPE_JSON);
            out.put_u32(*seq);
            out.put_u32(payload.len() as u32);
            out.put_slice(payload);
        }
        Frame::Data { seq, pairs } => {
            out.put_u8(version.byte());
            out.put_u8(TYPE_DATA);
            out.put_u32(*seq);
            out.put_u32(pairs.len() as u32);
            for (k, v) in pairs {
                out.put_u32(k.len() as u32);
                out.put_slice(k);
                out.put_u32(v.len() as u32);
                out.put_slice(v);
            }
        }
    }
}

/// Appends a `C` frame holding `inner` (already encoded frames), compressed
/// with zlib at `level` (0–9; Filebeat uses 3, pylogbeat 6).
pub fn encode_compressed(inner: &[u8], level: u32, version: Version, out: &mut BytesMut) {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
    // Writing into a Vec cannot fail.
    let compressed: Vec<u8> = encoder
        .write_all(inner)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    out.put_u8(version.byte());
    out.put_u8(TYPE_COMPRESSED);
    out.put_u32(compressed.len() as u32);
    out.put_slice(&compressed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    /// Decodes everything in `bytes` (as if the connection then closed).
    fn decode_all(
        codec: &mut LumberjackCodec,
        bytes: &[u8],
    ) -> Result<Vec<Frame>, LumberjackError> {
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(f) = codec.decode(&mut buf)? {
            frames.push(f);
        }
        while let Some(f) = codec.decode_eof(&mut buf)? {
            frames.push(f);
        }
        Ok(frames)
    }

    fn decode(bytes: &[u8]) -> Result<Vec<Frame>, LumberjackError> {
        decode_all(&mut LumberjackCodec::default(), bytes)
    }

    fn w(version: Version, count: u32) -> Frame {
        Frame::WindowSize { version, count }
    }

    fn j(seq: u32, payload: &'static str) -> Frame {
        Frame::Json {
            seq,
            payload: Bytes::from_static(payload.as_bytes()),
        }
    }

    const T1: &str = "32 57 00 00 00 01
        32 4a 00 00 00 01 00 00 00 10
        7b 22 6d 65 73 73 61 67 65 22 3a 22 68 69 22 7d";
    const T2: &str = "32 57 00 00 00 01
        32 43 00 00 00 20
        78 9c 33 f2 62 60 60 60 04 62 81 6a a5 dc d4 e2 e2 c4 f4 54 25 2b a5 8c 4c a5 5a 00 3d c8 05 fe";
    const T3: &str = "32 57 00 00 00 02
        32 43 00 00 00 2b
        78 9c 33 f2 62 60 60 60 02 62 c1 6a a5 dc d4 e2 e2 c4 f4 54 25 2b 05 a5 8c 4c a5 5a 23 90 14 33 86 54 65 be 52 2d 00 2b f8 0c 57";
    const T4: &str = "32 57 00 00 00 02
        32 4a 00 00 00 01 00 00 00 10 7b 22 6d 65 73 73 61 67 65 22 3a 22 68 69 22 7d
        32 4a 00 00 00 02 00 00 00 10 7b 22 6d 65 73 73 61 67 65 22 3a 22 79 6f 22 7d";
    const T6: &str = "31 57 00 00 00 01
        31 44 00 00 00 01 00 00 00 01 00 00 00 04 6c 69 6e 65 00 00 00 02 68 69";
    const T7: &str = "32 57 00 00 00 00 32 43 00 00 00 08 78 9c 03 00 00 00 00 01";

    #[test]
    fn t1_plain_v2() {
        let bytes = hex(T1);
        assert_eq!(bytes.len(), 32);
        assert_eq!(
            decode(&bytes).unwrap(),
            vec![w(Version::V2, 1), j(1, r#"{"message":"hi"}"#)]
        );
        assert_eq!(
            AckFrame {
                version: Version::V2,
                seq: 1
            }
            .to_bytes()
            .to_vec(),
            hex("32 41 00 00 00 01")
        );
    }

    #[test]
    fn t2_pylogbeat_compressed_inflates_to_t1() {
        let bytes = hex(T2);
        assert_eq!(bytes.len(), 44);
        assert_eq!(decode(&bytes).unwrap(), decode(&hex(T1)).unwrap());
    }

    #[test]
    fn t3_pylogbeat_running_sequence() {
        assert_eq!(
            decode(&hex(T3)).unwrap(),
            vec![
                w(Version::V2, 2),
                j(2, r#"{"message": "hi"}"#),
                j(3, r#"{"message": "yo"}"#)
            ]
        );
    }

    #[test]
    fn t2_then_t3_on_one_connection() {
        let mut bytes = hex(T2);
        bytes.extend(hex(T3));
        let frames = decode(&bytes).unwrap();
        assert_eq!(frames.len(), 5);
        assert_eq!(frames[4].seq(), Some(3));
    }

    #[test]
    fn t4_filebeat_uncompressed() {
        assert_eq!(
            decode(&hex(T4)).unwrap(),
            vec![
                w(Version::V2, 2),
                j(1, r#"{"message":"hi"}"#),
                j(2, r#"{"message":"yo"}"#)
            ]
        );
        assert_eq!(
            AckFrame {
                version: Version::V2,
                seq: 2
            }
            .to_bytes()
            .to_vec(),
            hex("32 41 00 00 00 02")
        );
    }

    #[test]
    fn t5_keepalive() {
        assert_eq!(
            AckFrame::KEEPALIVE.to_bytes().to_vec(),
            hex("32 41 00 00 00 00")
        );
        let mut codec = LumberjackCodec::default();
        let mut out = BytesMut::new();
        codec.encode(AckFrame::KEEPALIVE, &mut out).unwrap();
        assert_eq!(out.to_vec(), hex("32 41 00 00 00 00"));
    }

    #[test]
    fn t6_v1_key_value() {
        assert_eq!(
            decode(&hex(T6)).unwrap(),
            vec![
                w(Version::V1, 1),
                Frame::Data {
                    seq: 1,
                    pairs: vec![(Bytes::from_static(b"line"), Bytes::from_static(b"hi"))]
                }
            ]
        );
        assert_eq!(
            AckFrame {
                version: Version::V1,
                seq: 1
            }
            .to_bytes()
            .to_vec(),
            hex("31 41 00 00 00 01")
        );
    }

    #[test]
    fn t7_empty_window_with_empty_compressed_frame() {
        assert_eq!(decode(&hex(T7)).unwrap(), vec![w(Version::V2, 0)]);
    }

    #[test]
    fn negative_tls_client_hello() {
        let err = decode(&hex("16 03 01 02 00 01 00 01 fc 03 03")).unwrap_err();
        assert!(matches!(err, LumberjackError::BadVersion { found: 0x16 }));
        let msg = err.to_string();
        assert!(
            msg.contains("0x16") && msg.contains("TLS") && msg.contains("'2'"),
            "{msg}"
        );
    }

    #[test]
    fn negative_tls_detected_at_first_byte() {
        let mut buf = BytesMut::from(&[0x16u8][..]);
        assert!(LumberjackCodec::default().decode(&mut buf).is_err());
    }

    #[test]
    fn negative_http_client() {
        let err = decode(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
        assert!(
            err.to_string().contains("0x47") && err.to_string().contains("HTTP"),
            "{err}"
        );
    }

    #[test]
    fn negative_unknown_type() {
        let err = decode(&hex("32 58 00 00 00 01")).unwrap_err();
        assert!(matches!(
            err,
            LumberjackError::UnknownFrameType {
                version: Version::V2,
                found: 0x58
            }
        ));
        assert!(err.to_string().contains("0x58 ('X')"), "{err}");
    }

    #[test]
    fn negative_ack_from_client() {
        assert!(matches!(
            decode(&hex("32 41 00 00 00 01")).unwrap_err(),
            LumberjackError::UnexpectedAck
        ));
    }

    #[test]
    fn negative_huge_length_rejected_before_allocating() {
        let mut codec = LumberjackCodec::default();
        let mut buf = BytesMut::from(&hex("32 57 00 00 00 01 32 4a 00 00 00 01 ff ff ff ff")[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Ok(Some(Frame::WindowSize { .. }))
        ));
        let cap_before = buf.capacity();
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(buf.capacity() <= cap_before.max(64));
        match &err {
            LumberjackError::FrameTooLarge {
                kind: FrameKind::Json,
                size,
                limit,
            } => {
                assert_eq!(*size, 0xffff_ffff);
                assert_eq!(*limit, DEFAULT_MAX_FRAME_BYTES);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("4294967295") && err.to_string().contains("67108864"));
    }

    #[test]
    fn negative_not_json_is_still_a_frame() {
        let frames = decode(&hex(
            "32 57 00 00 00 01 32 4a 00 00 00 01 00 00 00 02 68 69",
        ))
        .unwrap();
        assert_eq!(frames, vec![w(Version::V2, 1), j(1, "hi")]);
    }

    #[test]
    fn oversized_compressed_and_data_frames() {
        let limits = Limits {
            max_frame_bytes: 16,
            ..Limits::default()
        };
        let mut codec = LumberjackCodec::new(limits);
        let err = decode_all(&mut codec, &hex("32 43 00 00 00 11")).unwrap_err();
        assert!(matches!(
            err,
            LumberjackError::FrameTooLarge {
                kind: FrameKind::Compressed,
                size: 17,
                ..
            }
        ));
        // A D frame's size is the sum of its pairs.
        let mut codec = LumberjackCodec::new(limits);
        let mut frame = BytesMut::new();
        let pairs = vec![(Bytes::from("line"), Bytes::from("0123456789"))];
        encode_frame(&Frame::Data { seq: 1, pairs }, Version::V1, &mut frame);
        let err = decode_all(&mut codec, &frame).unwrap_err();
        assert!(
            matches!(
                err,
                LumberjackError::FrameTooLarge {
                    kind: FrameKind::Data,
                    size: 22,
                    ..
                }
            ),
            "{err}"
        );
        // A pair count that cannot fit is rejected at once.
        let err = decode(&hex("31 44 00 00 00 01 ff ff ff ff")).unwrap_err();
        assert!(
            matches!(
                err,
                LumberjackError::FrameTooLarge {
                    kind: FrameKind::Data,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn window_size_limit() {
        let err = decode(&hex("32 57 00 00 40 01")).unwrap_err();
        assert!(matches!(
            err,
            LumberjackError::WindowTooLarge {
                size: 16385,
                limit: 16384
            }
        ));
        assert_eq!(
            decode(&hex("32 57 00 00 40 00")).unwrap(),
            vec![w(Version::V2, 16384)]
        );
    }

    #[test]
    fn zlib_bomb_is_bounded() {
        // 64 MiB of zeros compresses to ~64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let mut wire = BytesMut::new();
        encode_compressed(&zeros, 9, Version::V2, &mut wire);
        assert!(wire.len() < 200_000);
        let mut codec = LumberjackCodec::new(Limits {
            max_decompressed_bytes: 1 << 20,
            ..Limits::default()
        });
        let err = decode_all(&mut codec, &wire).unwrap_err();
        assert!(
            matches!(
                err,
                LumberjackError::DecompressedTooLarge { limit: 1048576 }
            ),
            "{err}"
        );
    }

    #[test]
    fn decompressed_limit_is_exact() {
        let mut inner = BytesMut::new();
        encode_frame(&j(1, r#"{"message":"hi"}"#), Version::V2, &mut inner);
        let mut wire = BytesMut::new();
        encode_compressed(&inner, 6, Version::V2, &mut wire);
        let at = |limit| {
            decode_all(
                &mut LumberjackCodec::new(Limits {
                    max_decompressed_bytes: limit,
                    ..Limits::default()
                }),
                &wire,
            )
        };
        assert_eq!(at(26).unwrap().len(), 1);
        assert!(matches!(
            at(25),
            Err(LumberjackError::DecompressedTooLarge { .. })
        ));
    }

    #[test]
    fn compressed_content_ending_inside_a_frame() {
        let mut inner = BytesMut::new();
        encode_frame(&j(1, r#"{"message":"hi"}"#), Version::V2, &mut inner);
        let mut wire = BytesMut::new();
        encode_compressed(&inner[..20], 6, Version::V2, &mut wire);
        let err = decode(&wire).unwrap_err();
        assert!(
            matches!(
                err,
                LumberjackError::TruncatedCompressed {
                    offset: 0,
                    remaining: 20
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn truncated_zlib_stream() {
        let mut inner = BytesMut::new();
        encode_frame(
            &j(1, r#"{"message":"hello hello hello"}"#),
            Version::V2,
            &mut inner,
        );
        let mut full = BytesMut::new();
        encode_compressed(&inner, 6, Version::V2, &mut full);
        let zlib = &full[6..];
        // Re-frame a cut-off zlib stream with a correct C length.
        let cut = &zlib[..zlib.len() - 5];
        let mut wire = BytesMut::new();
        wire.put_slice(b"2C");
        wire.put_u32(cut.len() as u32);
        wire.put_slice(cut);
        let err = decode(&wire).unwrap_err();
        assert!(matches!(err, LumberjackError::BadZlib { .. }), "{err}");
        assert!(err.to_string().contains("ends early"), "{err}");
    }

    #[test]
    fn bad_zlib() {
        let err = decode(&hex("32 43 00 00 00 04 de ad be ef")).unwrap_err();
        assert!(matches!(err, LumberjackError::BadZlib { .. }), "{err}");
        // Raw deflate and gzip are not zlib either.
        let err = decode(&hex("32 43 00 00 00 04 1f 8b 08 00")).unwrap_err();
        assert!(matches!(err, LumberjackError::BadZlib { .. }), "{err}");
    }

    #[test]
    fn nested_compression_rejected() {
        let mut inner = BytesMut::new();
        encode_compressed(b"", 6, Version::V2, &mut inner);
        let mut wire = BytesMut::new();
        encode_compressed(&inner, 6, Version::V2, &mut wire);
        assert!(matches!(
            decode(&wire).unwrap_err(),
            LumberjackError::NestedCompression
        ));
    }

    #[test]
    fn window_frame_inside_compressed_is_accepted_like_logstash() {
        let mut inner = BytesMut::new();
        encode_frame(&w(Version::V2, 1), Version::V2, &mut inner);
        encode_frame(&j(1, "{}"), Version::V2, &mut inner);
        let mut wire = BytesMut::new();
        encode_compressed(&inner, 1, Version::V2, &mut wire);
        assert_eq!(decode(&wire).unwrap(), vec![w(Version::V2, 1), j(1, "{}")]);
    }

    #[test]
    fn eof_inside_a_frame() {
        let bytes = hex(T1);
        let err = decode(&bytes[..20]).unwrap_err();
        assert!(
            matches!(err, LumberjackError::TruncatedFrame { buffered: 14 }),
            "{err}"
        );
    }

    #[test]
    fn payloads_are_slices_of_the_read_buffer() {
        let mut buf = BytesMut::from(&hex(T1)[..]);
        let start = buf.as_ptr() as usize;
        let mut codec = LumberjackCodec::default();
        codec.decode(&mut buf).unwrap();
        let Some(Frame::Json { payload, .. }) = codec.decode(&mut buf).unwrap() else {
            panic!("expected a J frame");
        };
        assert_eq!(payload.as_ptr() as usize, start + 16);
    }

    /// Every test vector, cut at every byte offset: nothing until the frame is
    /// complete, then exactly the frames of the whole input.
    #[test]
    fn inflated_payloads_share_one_buffer() {
        let mut buf = BytesMut::from(&hex(T3)[..]);
        let mut codec = LumberjackCodec::default();
        codec.decode(&mut buf).unwrap();
        let (Some(Frame::Json { payload: a, .. }), Some(Frame::Json { payload: b, .. })) = (
            codec.decode(&mut buf).unwrap(),
            codec.decode(&mut buf).unwrap(),
        ) else {
            panic!("expected two J frames");
        };
        assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + a.len() + 10);
    }

    #[test]
    fn every_prefix_of_every_vector() {
        for vector in [T1, T2, T3, T4, T6, T7] {
            let bytes = hex(vector);
            let expected = decode(&bytes).unwrap();
            let mut codec = LumberjackCodec::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for &b in &bytes {
                buf.put_u8(b);
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    got.push(f);
                }
            }
            assert!(buf.is_empty());
            assert_eq!(got, expected);
            // And a single cut: everything before it yields only whole frames.
            for cut in 0..bytes.len() {
                let mut codec = LumberjackCodec::default();
                let mut buf = BytesMut::from(&bytes[..cut]);
                let mut got = Vec::new();
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    got.push(f);
                }
                buf.extend_from_slice(&bytes[cut..]);
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    got.push(f);
                }
                assert_eq!(got, expected, "cut at {cut}");
            }
        }
    }

    #[test]
    fn data_frame_in_small_reads() {
        let pairs: Vec<(Bytes, Bytes)> = (0..50)
            .map(|i| {
                (
                    Bytes::from(format!("key{i}")),
                    Bytes::from(format!("value {i}")),
                )
            })
            .collect();
        let frame = Frame::Data { seq: 7, pairs };
        let mut wire = BytesMut::new();
        encode_frame(&frame, Version::V1, &mut wire);
        let mut codec = LumberjackCodec::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for chunk in wire.chunks(3) {
            buf.extend_from_slice(chunk);
            if let Some(f) = codec.decode(&mut buf).unwrap() {
                assert!(got.is_none());
                got = Some(f);
            }
        }
        assert_eq!(got, Some(frame));
    }

    fn arb_payload() -> impl Strategy<Value = Bytes> {
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
    }

    fn arb_data_frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (any::<u32>(), arb_payload()).prop_map(|(seq, payload)| Frame::Json { seq, payload }),
            (
                any::<u32>(),
                prop::collection::vec((arb_payload(), arb_payload()), 0..4)
            )
                .prop_map(|(seq, pairs)| Frame::Data { seq, pairs }),
        ]
    }

    /// A window's frames and how to send them: each run of data frames bare
    /// or in one `C` at some level.
    fn arb_window() -> impl Strategy<Value = (Vec<Frame>, Vec<(usize, Option<u32>)>)> {
        prop::collection::vec(arb_data_frame(), 0..12).prop_flat_map(|frames| {
            let n = frames.len();
            (
                Just(frames),
                prop::collection::vec((1..=n.max(1), prop::option::of(0u32..=9)), 1..6),
            )
        })
    }

    proptest! {
        #[test]
        fn windows_round_trip(
            windows in prop::collection::vec(arb_window(), 1..4),
            chunk in 1usize..200,
        ) {
            let mut wire = BytesMut::new();
            let mut expected = Vec::new();
            for (frames, runs) in &windows {
                let head = w(Version::V2, frames.len() as u32);
                encode_frame(&head, Version::V2, &mut wire);
                expected.push(head);
                let mut rest = &frames[..];
                let mut runs = runs.iter().cycle();
                while !rest.is_empty() {
                    let (len, level) = runs.next().copied().unwrap_or((1, None));
                    let (run, tail) = rest.split_at(len.min(rest.len()));
                    rest = tail;
                    let mut plain = BytesMut::new();
                    for f in run {
                        let v = if matches!(f, Frame::Data { .. }) { Version::V1 } else { Version::V2 };
                        encode_frame(f, v, &mut plain);
                    }
                    match level {
                        Some(level) => encode_compressed(&plain, level, Version::V2, &mut wire),
                        None => wire.extend_from_slice(&plain),
                    }
                    expected.extend(run.iter().cloned());
                }
            }
            // Fed in chunks, as reads from a socket would be.
            let mut codec = LumberjackCodec::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    got.push(f);
                }
            }
            prop_assert!(codec.decode_eof(&mut buf).unwrap().is_none());
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn plausible_frames_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..256),
            version in prop::sample::select(vec![b'1', b'2']),
            kind in prop::sample::select(vec![b'W', b'J', b'D', b'C', b'A']),
        ) {
            let mut bytes = vec![version, kind];
            bytes.extend(body);
            let _ = decode(&bytes);
            let mut wire = BytesMut::new();
            encode_compressed(&bytes, 1, Version::V2, &mut wire);
            let _ = decode(&wire);
        }
    }
}
