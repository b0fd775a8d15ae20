//! Newline-delimited messages.

use std::ops::Range;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::{trim_cr, Frame, FrameError, Oversize, Skipped};

/// Splits on `\n` (a trailing `\r` is removed); empty lines are skipped.
#[derive(Debug)]
pub struct LinesDecoder {
    max_bytes: usize,
    oversize: Oversize,
    /// How far the buffer has been searched for `\n` already.
    scanned: usize,
    /// Inside an oversized line: skip until its newline.
    discarding: bool,
    pub(super) skipped: Skipped,
}

impl LinesDecoder {
    pub fn new(max_bytes: usize, oversize: Oversize) -> Self {
        LinesDecoder {
            max_bytes: max_bytes.max(1),
            oversize,
            scanned: 0,
            discarding: false,
            skipped: Skipped::default(),
        }
    }
}

impl Decoder for LinesDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        loop {
            match memchr::memchr(b'\n', &buf[self.scanned..]) {
                Some(i) => {
                    let end = self.scanned + i;
                    self.scanned = 0;
                    let mut line = buf.split_to(end + 1);
                    if std::mem::take(&mut self.discarding) {
                        continue;
                    }
                    line.truncate(end);
                    let line = trim_cr(line);
                    if line.is_empty() {
                        continue;
                    }
                    if line.len() > self.max_bytes {
                        // Arrived in one read, longer than allowed.
                        match self.oversize {
                            Oversize::Truncate => {
                                let mut line = line;
                                line.truncate(self.max_bytes);
                                return Ok(Some(Frame {
                                    bytes: line.freeze(),
                                    truncated: true,
                                }));
                            }
                            Oversize::Reject => {
                                self.skipped.oversized += 1;
                                continue;
                            }
                        }
                    }
                    return Ok(Some(Frame::whole(line.freeze())));
                }
                None => {
                    self.scanned = buf.len();
                    if self.discarding {
                        buf.clear();
                        self.scanned = 0;
                        return Ok(None);
                    }
                    if buf.len() > self.max_bytes {
                        // No newline within the limit: emit or reject the head
                        // now and skip the rest of the line as it arrives.
                        self.discarding = true;
                        self.scanned = 0;
                        let head = buf.split_to(self.max_bytes);
                        buf.clear();
                        return Ok(match self.oversize {
                            Oversize::Truncate => Some(Frame {
                                bytes: head.freeze(),
                                truncated: true,
                            }),
                            Oversize::Reject => {
                                self.skipped.oversized += 1;
                                None
                            }
                        });
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        self.scanned = 0;
        if self.discarding || buf.is_empty() {
            buf.clear();
            return Ok(None);
        }
        // The last line without a newline is still a line.
        let line = trim_cr(buf.split());
        if line.is_empty() {
            return Ok(None);
        }
        Ok(Some(Frame::whole(line.freeze())))
    }
}

/// The byte ranges of the lines of a buffer already whole in memory (a
/// decompressed record or file), where [`LinesDecoder`]'s streaming and
/// length limits are not needed. Splits on `\n`; one `\r` at the end of a
/// line is left out (CRLF line ends), on a last line without a newline too.
/// That last line counts, but a final `\n` does not start another, empty one.
/// Unlike [`LinesDecoder`], empty lines in between are kept: callers count
/// them or join them into multi-line messages. Ranges rather than slices let
/// a caller take one span over several lines.
pub fn line_ranges(data: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let start = pos;
        let nl = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        let mut end = nl;
        if end > start && data[end - 1] == b'\r' {
            end -= 1;
        }
        pos = nl + 1;
        Some(start..end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(data: &[u8]) -> Vec<&[u8]> {
        line_ranges(data).map(|r| &data[r]).collect()
    }

    #[test]
    fn line_ranges_trim_crlf_and_keep_empty_lines_but_not_a_trailing_one() {
        assert_eq!(split(b"a\r\nb\n\n\r\nc"), [&b"a"[..], b"b", b"", b"", b"c"]);
        assert_eq!(split(b"a\nb\n"), [&b"a"[..], b"b"]);
        // Only one `\r`, and only at the end of a line.
        assert_eq!(split(b"a\r\r\nb\rc\n"), [&b"a\r"[..], b"b\rc"]);
        assert_eq!(split(b"\n"), [&b""[..]]);
        assert!(split(b"").is_empty());
        // The last line loses its `\r` even without a newline.
        assert_eq!(split(b"x\r"), [&b"x"[..]]);
        assert_eq!(line_ranges(b"ab\r\ncd").collect::<Vec<_>>(), [0..2, 4..6]);
    }

    fn frames(chunks: &[&[u8]], max: usize, oversize: Oversize) -> Vec<(String, bool)> {
        let mut d = LinesDecoder::new(max, oversize);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                out.push((String::from_utf8_lossy(&f.bytes).into_owned(), f.truncated));
            }
        }
        while let Some(f) = d.decode_eof(&mut buf).unwrap() {
            out.push((String::from_utf8_lossy(&f.bytes).into_owned(), f.truncated));
        }
        out
    }

    fn plain(v: &[(String, bool)]) -> Vec<&str> {
        v.iter().map(|(s, _)| s.as_str()).collect()
    }

    #[test]
    fn splits_lines_across_reads_with_crlf_and_last_line() {
        let out = frames(&[b"a\r\nb", b"c\n\n", b"\r\nlast"], 100, Oversize::Truncate);
        assert_eq!(plain(&out), ["a", "bc", "last"]);
    }

    #[test]
    fn frames_are_slices_of_the_buffer() {
        let mut d = LinesDecoder::new(100, Oversize::Truncate);
        let mut buf = BytesMut::from(&b"one\ntwo\n"[..]);
        let base = buf.as_ptr() as usize;
        let f = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.bytes.as_ptr() as usize, base);
    }

    #[test]
    fn oversized_lines_are_truncated_then_skipped() {
        let out = frames(
            &[b"12345", b"6789\nok\n", b"abcdefgh"],
            4,
            Oversize::Truncate,
        );
        assert_eq!(out[0], ("1234".to_string(), true));
        assert_eq!(out[1], ("ok".to_string(), false));
        assert_eq!(out[2], ("abcd".to_string(), true));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn oversized_lines_can_be_rejected() {
        let mut d = LinesDecoder::new(4, Oversize::Reject);
        let mut buf = BytesMut::from(&b"123456789\nok\ntoolong\n"[..]);
        let mut out = Vec::new();
        while let Some(f) = d.decode(&mut buf).unwrap() {
            out.push(f.bytes);
        }
        assert_eq!(out, vec!["ok"]);
        assert_eq!(d.skipped.oversized, 2);
    }

    #[test]
    fn buffer_stays_bounded_on_an_endless_line() {
        let mut d = LinesDecoder::new(1024, Oversize::Truncate);
        let mut buf = BytesMut::new();
        let chunk = vec![b'x'; 4096];
        let mut frames = 0;
        for _ in 0..1000 {
            buf.extend_from_slice(&chunk);
            while d.decode(&mut buf).unwrap().is_some() {
                frames += 1;
            }
            assert!(buf.len() <= 4096 + 1024);
        }
        assert_eq!(frames, 1);
    }
}
