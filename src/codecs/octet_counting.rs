//! RFC 6587 octet counting (`LEN SP MSG`), as rsyslog and syslog-ng forward
//! syslog over TCP, optionally mixed with newline-delimited messages.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::lines::LinesDecoder;
use super::{Frame, FrameError, Oversize, Skipped};

/// `MSG-LEN` is at most this many digits (RFC 6587 allows any NONZERO-DIGIT
/// *DIGIT; nine digits is already a gigabyte).
const MAX_LEN_DIGITS: usize = 9;

#[derive(Debug)]
pub struct OctetCountingDecoder {
    max_bytes: usize,
    oversize: Oversize,
    /// `auto` framing: messages without a length prefix are newline-delimited.
    fallback: Option<LinesDecoder>,
    /// Bytes of an oversized message still to skip.
    discard: usize,
    /// In `auto` mode, the current message is newline-delimited.
    in_line: bool,
    pub(super) skipped: Skipped,
}

enum Header {
    /// `LEN SP` parsed: the header length and the message length.
    Counted(usize, usize),
    /// Not enough bytes yet to tell.
    Incomplete,
    /// Not an octet-counting header.
    NotCounted,
}

fn header(buf: &[u8]) -> Header {
    let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || buf[0] == b'0' || digits > MAX_LEN_DIGITS {
        return Header::NotCounted;
    }
    match buf.get(digits) {
        None => Header::Incomplete,
        Some(b' ') => {
            let len = buf[..digits]
                .iter()
                .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
            Header::Counted(digits + 1, len)
        }
        Some(_) => Header::NotCounted,
    }
}

impl OctetCountingDecoder {
    pub fn new(max_bytes: usize, oversize: Oversize, auto: bool) -> Self {
        OctetCountingDecoder {
            max_bytes: max_bytes.max(1),
            oversize,
            fallback: auto.then(|| LinesDecoder::new(max_bytes, oversize)),
            discard: 0,
            in_line: false,
            skipped: Skipped::default(),
        }
    }
}

impl Decoder for OctetCountingDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        loop {
            if self.discard > 0 {
                let n = self.discard.min(buf.len());
                let _ = buf.split_to(n);
                self.discard -= n;
                if self.discard > 0 {
                    return Ok(None);
                }
            }
            if self.in_line {
                let Some(lines) = self.fallback.as_mut() else {
                    self.in_line = false;
                    continue;
                };
                // One newline-delimited message, then look for a header again.
                let frame = lines.decode(buf)?;
                self.skipped.oversized += std::mem::take(&mut lines.skipped).oversized;
                if frame.is_some() {
                    self.in_line = false;
                }
                return Ok(frame);
            }
            // Separators between counted messages (some senders add newlines).
            let skip = buf
                .iter()
                .take_while(|b| matches!(b, b'\n' | b'\r' | b' '))
                .count();
            let _ = buf.split_to(skip);
            if buf.is_empty() {
                return Ok(None);
            }
            match header(buf) {
                Header::Incomplete => return Ok(None),
                Header::Counted(head, len) => {
                    if len > self.max_bytes {
                        let _ = buf.split_to(head);
                        match self.oversize {
                            Oversize::Truncate => {
                                if buf.len() < self.max_bytes {
                                    // Wait for the part we keep; put the header back.
                                    let mut restored = BytesMut::from(format!("{len} ").as_bytes());
                                    restored.extend_from_slice(buf);
                                    *buf = restored;
                                    return Ok(None);
                                }
                                let kept = buf.split_to(self.max_bytes);
                                self.discard = len - self.max_bytes;
                                return Ok(Some(Frame {
                                    bytes: kept.freeze(),
                                    truncated: true,
                                }));
                            }
                            Oversize::Reject => {
                                self.skipped.oversized += 1;
                                self.discard = len;
                                continue;
                            }
                        }
                    }
                    if buf.len() < head + len {
                        buf.reserve(head + len - buf.len());
                        return Ok(None);
                    }
                    let _ = buf.split_to(head);
                    let msg = buf.split_to(len);
                    return Ok(Some(Frame::whole(msg.freeze())));
                }
                Header::NotCounted => {
                    if self.fallback.is_some() {
                        self.in_line = true;
                        continue;
                    }
                    let shown: String =
                        String::from_utf8_lossy(&buf[..buf.len().min(16)]).into_owned();
                    return Err(FrameError::Invalid(format!(
                        "octet counting: expected `LENGTH SPACE MESSAGE`, found {shown:?}"
                    )));
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(f) = self.decode(buf)? {
            return Ok(Some(f));
        }
        if let (true, Some(lines)) = (self.in_line, self.fallback.as_mut()) {
            self.in_line = false;
            return lines.decode_eof(buf);
        }
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            buf.clear();
            return Ok(None);
        }
        let left = buf.len();
        buf.clear();
        Err(FrameError::Invalid(format!(
            "octet counting: the connection closed inside a message ({left} bytes unframed)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]], auto: bool, max: usize) -> Result<Vec<(String, bool)>, String> {
        let mut d = OctetCountingDecoder::new(max, Oversize::Truncate, auto);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(f) = d.decode(&mut buf).map_err(|e| e.to_string())? {
                out.push((String::from_utf8_lossy(&f.bytes).into_owned(), f.truncated));
            }
        }
        while let Some(f) = d.decode_eof(&mut buf).map_err(|e| e.to_string())? {
            out.push((String::from_utf8_lossy(&f.bytes).into_owned(), f.truncated));
        }
        Ok(out)
    }

    #[test]
    fn counted_messages_may_contain_newlines() {
        let out = run(&[b"11 hello\nworld5 ", b"abcde"], false, 100).unwrap();
        assert_eq!(
            out,
            [("hello\nworld".into(), false), ("abcde".into(), false)]
        );
    }

    #[test]
    fn strict_mode_rejects_unframed_text() {
        let e = run(&[b"hello\n"], false, 100).unwrap_err();
        assert!(e.contains("expected `LENGTH SPACE MESSAGE`"), "{e}");
        let e = run(&[b"5 abc"], false, 100).unwrap_err();
        assert!(e.contains("closed inside a message"), "{e}");
    }

    #[test]
    fn auto_mixes_counted_and_lines() {
        let out = run(&[b"<13>plain line\n5 abcde<14>next\n"], true, 100).unwrap();
        let msgs: Vec<_> = out.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(msgs, ["<13>plain line", "abcde", "<14>next"]);
    }

    #[test]
    fn oversized_counted_messages() {
        let out = run(&[b"10 0123", b"456789", b"3 abc"], false, 4).unwrap();
        assert_eq!(out, [("0123".into(), true), ("abc".into(), false)]);
        let mut d = OctetCountingDecoder::new(4, Oversize::Reject, false);
        let mut buf = BytesMut::from(&b"10 01234567893 abc"[..]);
        let f = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.bytes, "abc");
        assert_eq!(d.skipped.oversized, 1);
    }
}
