//! JSON document framing.
//!
//! Finds where each top-level JSON document ends by tracking brackets and
//! strings, so it takes NDJSON, documents back to back (`{..}{..}`),
//! pretty-printed documents spread over lines, and a bare document that the
//! client ends by closing the connection. Text that does not start with `{`
//! or `[` is framed up to the end of its line and left for `parse` to tag.
//! The scan resumes where it stopped, so a large document arriving in many
//! reads is scanned once.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::{trim_cr, Frame, FrameError, Oversize, Skipped};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Between documents.
    #[default]
    Idle,
    /// Inside a `{`/`[` document: depth, inside a string, after a backslash.
    Document {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    /// A non-JSON line: up to the next newline.
    Line,
    /// Skipping the rest of an oversized message up to the next newline.
    Discard,
}

#[derive(Debug)]
pub struct JsonStreamDecoder {
    max_bytes: usize,
    oversize: Oversize,
    state: Scan,
    /// Bytes of the buffer already scanned in `state`.
    pos: usize,
    pub(super) skipped: Skipped,
}

impl JsonStreamDecoder {
    pub fn new(max_bytes: usize, oversize: Oversize) -> Self {
        JsonStreamDecoder {
            max_bytes: max_bytes.max(1),
            oversize,
            state: Scan::Idle,
            pos: 0,
            skipped: Skipped::default(),
        }
    }

    /// Ends the current message at `end` (exclusive) and returns it.
    fn cut(&mut self, buf: &mut BytesMut, end: usize) -> BytesMut {
        self.state = Scan::Idle;
        self.pos = 0;
        buf.split_to(end)
    }

    fn oversized(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        let head = buf.split_to(self.max_bytes);
        // The rest of this message is skipped up to a newline: resynchronising
        // inside a broken document on a bracket would be guesswork.
        self.state = Scan::Discard;
        self.pos = 0;
        match self.oversize {
            Oversize::Truncate => Some(Frame {
                bytes: head.freeze(),
                truncated: true,
            }),
            Oversize::Reject => {
                self.skipped.oversized += 1;
                None
            }
        }
    }
}

impl Decoder for JsonStreamDecoder {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        loop {
            match self.state {
                Scan::Idle => {
                    let start = buf
                        .iter()
                        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
                    match start {
                        None => {
                            buf.clear();
                            return Ok(None);
                        }
                        Some(i) => {
                            let _ = buf.split_to(i);
                            self.pos = 0;
                            self.state = match buf[0] {
                                b'{' | b'[' => Scan::Document {
                                    depth: 0,
                                    in_string: false,
                                    escaped: false,
                                },
                                _ => Scan::Line,
                            };
                        }
                    }
                }
                Scan::Line | Scan::Discard => match memchr::memchr(b'\n', &buf[self.pos..]) {
                    Some(i) => {
                        let end = self.pos + i;
                        let discarding = self.state == Scan::Discard;
                        let mut line = self.cut(buf, end + 1);
                        if discarding {
                            continue;
                        }
                        line.truncate(end);
                        let line = trim_cr(line);
                        if line.len() > self.max_bytes {
                            let mut line = line;
                            match self.oversized_whole(&mut line) {
                                Some(f) => return Ok(Some(f)),
                                None => continue,
                            }
                        }
                        return Ok(Some(Frame::whole(line.freeze())));
                    }
                    None => {
                        if self.state == Scan::Discard {
                            buf.clear();
                            self.pos = 0;
                            return Ok(None);
                        }
                        self.pos = buf.len();
                        if buf.len() > self.max_bytes {
                            if let Some(f) = self.oversized(buf) {
                                buf.clear();
                                return Ok(Some(f));
                            }
                            buf.clear();
                        }
                        return Ok(None);
                    }
                },
                Scan::Document {
                    mut depth,
                    mut in_string,
                    mut escaped,
                } => {
                    let mut i = self.pos;
                    let mut end = None;
                    while i < buf.len() {
                        if in_string {
                            // Jump to the next quote or backslash.
                            match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                                None => {
                                    i = buf.len();
                                    break;
                                }
                                Some(j) => i += j,
                            }
                            if escaped {
                                escaped = false;
                            } else if buf[i] == b'\\' {
                                // Skip the escaped character.
                                if i + 1 < buf.len() {
                                    i += 1;
                                } else {
                                    escaped = true;
                                }
                            } else {
                                in_string = false;
                            }
                            i += 1;
                            continue;
                        }
                        if escaped {
                            // A backslash was the last byte of the previous read.
                            escaped = false;
                            i += 1;
                            in_string = true;
                            continue;
                        }
                        match buf[i] {
                            b'"' => in_string = true,
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => {
                                depth = depth.saturating_sub(1);
                                if depth == 0 {
                                    end = Some(i + 1);
                                    break;
                                }
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    if let Some(end) = end {
                        if end > self.max_bytes {
                            let mut doc = self.cut(buf, end);
                            match self.oversized_whole(&mut doc) {
                                Some(f) => return Ok(Some(f)),
                                None => continue,
                            }
                        }
                        let doc = self.cut(buf, end);
                        return Ok(Some(Frame::whole(doc.freeze())));
                    }
                    self.state = Scan::Document {
                        depth,
                        in_string,
                        escaped,
                    };
                    self.pos = i;
                    if buf.len() > self.max_bytes {
                        let f = self.oversized(buf);
                        return Ok(f);
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
        let discarding = self.state == Scan::Discard;
        self.state = Scan::Idle;
        self.pos = 0;
        if discarding || buf.is_empty() {
            buf.clear();
            return Ok(None);
        }
        // An unfinished document or a last line without newline: hand it on
        // (a broken document will be tagged by `parse`, not lost).
        let rest = trim_cr(buf.split());
        Ok(Some(Frame::whole(rest.freeze())))
    }
}

impl JsonStreamDecoder {
    /// A complete document longer than the limit (it arrived in one read).
    fn oversized_whole(&mut self, doc: &mut BytesMut) -> Option<Frame> {
        self.state = Scan::Idle;
        self.pos = 0;
        match self.oversize {
            Oversize::Truncate => {
                doc.truncate(self.max_bytes);
                Some(Frame {
                    bytes: doc.split().freeze(),
                    truncated: true,
                })
            }
            Oversize::Reject => {
                self.skipped.oversized += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut d = JsonStreamDecoder::new(max, Oversize::Truncate);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                out.push(String::from_utf8_lossy(&f.bytes).into_owned());
            }
        }
        while let Some(f) = d.decode_eof(&mut buf).unwrap() {
            out.push(String::from_utf8_lossy(&f.bytes).into_owned());
        }
        out
    }

    #[test]
    fn ndjson_and_back_to_back_documents() {
        let out = frames(&[b"{\"a\":1}\n{\"b\":\"}\"}{\"c\":[1,{}]}\n"], 1000);
        assert_eq!(out, [r#"{"a":1}"#, r#"{"b":"}"}"#, r#"{"c":[1,{}]}"#]);
    }

    #[test]
    fn bare_document_without_newline_ends_at_close() {
        assert_eq!(frames(&[b"{\"msg\":\"hi\"}"], 1000), [r#"{"msg":"hi"}"#]);
        // An unfinished document is still handed on at EOF.
        assert_eq!(frames(&[b"{\"msg\":\"hi"], 1000), [r#"{"msg":"hi"#]);
    }

    #[test]
    fn pretty_printed_documents_and_escapes_across_reads() {
        let out = frames(
            &[b"{\n  \"a\": \"x\\", b"\"}\", \n", b"  \"b\": [1,\n2]\n}\n"],
            1000,
        );
        assert_eq!(out, ["{\n  \"a\": \"x\\\"}\", \n  \"b\": [1,\n2]\n}"]);
    }

    #[test]
    fn non_json_lines_are_framed_by_newline() {
        let out = frames(&[b"hello world\r\n{\"a\":1}\nplain"], 1000);
        assert_eq!(out, ["hello world", r#"{"a":1}"#, "plain"]);
    }

    #[test]
    fn oversized_documents_are_cut_and_skipped_to_the_next_line() {
        let out = frames(
            &[b"{\"a\":\"", b"xxxxxxxxxxxxxxxxxxxxxxxxx\"}\n{\"b\":1}\n"],
            10,
        );
        assert_eq!(out, [r#"{"a":"xxxx"#, r#"{"b":1}"#]);
    }

    proptest! {
        #[test]
        fn never_panics_and_loses_no_document(docs in prop::collection::vec("[a-z\\\\\"{}\\[\\] ]{0,20}", 0..8), split in 0usize..200) {
            let mut text = String::new();
            for d in &docs {
                text.push_str(&serde_json::to_string(&serde_json::json!({"v": d})).unwrap());
                text.push('\n');
            }
            let bytes = text.as_bytes();
            let cut = split.min(bytes.len());
            let out = frames(&[&bytes[..cut], &bytes[cut..]], 10_000);
            let back: Vec<String> = out
                .iter()
                .map(|f| serde_json::from_str::<serde_json::Value>(f).unwrap()["v"].as_str().unwrap().to_owned())
                .collect();
            prop_assert_eq!(back, docs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let mut d = JsonStreamDecoder::new(16, Oversize::Truncate);
            let mut buf = BytesMut::new();
            for c in chunks {
                buf.extend_from_slice(&c);
                while let Some(f) = d.decode(&mut buf).unwrap() {
                    prop_assert!(f.bytes.len() <= 16);
                }
                prop_assert!(buf.len() <= 16 + 64);
            }
            while d.decode_eof(&mut buf).unwrap().is_some() {}
        }
    }
}
