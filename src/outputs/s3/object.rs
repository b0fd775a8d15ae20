//! One object being written: its encoded (and compressed) bytes not yet
//! uploaded, its counters, and the acknowledgements of the batches whose
//! events it holds.
//!
//! Memory stays bounded: bytes are compressed as events arrive, and once the
//! buffer reaches the part size it is taken out ([`OpenObject::take_part`])
//! and uploaded as one part of a multipart upload. A gzip stream may be cut
//! anywhere, so the parts simply concatenate to one valid `.gz` file.

use std::io::Write as _;

use bytes::Bytes;
use flate2::write::GzEncoder;

use crate::topology::ack::Ack;

enum Writer {
    Gzip(Box<GzEncoder<Vec<u8>>>),
    Plain(Vec<u8>),
}

impl Writer {
    fn buffer(&self) -> &Vec<u8> {
        match self {
            Writer::Gzip(g) => g.get_ref(),
            Writer::Plain(v) => v,
        }
    }

    fn buffer_mut(&mut self) -> &mut Vec<u8> {
        match self {
            Writer::Gzip(g) => g.get_mut(),
            Writer::Plain(v) => v,
        }
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub struct Multipart {
    pub upload_id: String,
    /// `(part number, ETag)` of every uploaded part, in order.
    pub parts: Vec<(i32, String)>,
}

pub struct OpenObject {
    pub key: String,
    writer: Writer,
    /// Events written.
    pub events: u64,
    /// Bytes already uploaded as parts.
    pub uploaded_bytes: u64,
    /// When the first event came in (for `max_age` and the batch histogram).
    pub opened: std::time::Instant,
    pub multipart: Option<Multipart>,
    /// One clone per batch with events here; dropping them acknowledges.
    acks: Vec<Ack>,
    last_batch: Option<u64>,
}

impl OpenObject {
    /// `gzip_level: None` writes uncompressed bytes.
    pub fn new(key: String, gzip_level: Option<u32>) -> Self {
        let writer = match gzip_level {
            Some(level) => Writer::Gzip(Box::new(GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(level),
            ))),
            None => Writer::Plain(Vec::new()),
        };
        OpenObject {
            key,
            writer,
            events: 0,
            uploaded_bytes: 0,
            opened: std::time::Instant::now(),
            multipart: None,
            acks: Vec::new(),
            last_batch: None,
        }
    }

    /// Appends one encoded event from batch number `batch`, whose `ack` is
    /// kept until the object is uploaded.
    pub fn write(&mut self, encoded: &[u8], batch: u64, ack: &Ack) {
        match &mut self.writer {
            // Writing into a Vec cannot fail, compressed or not.
            Writer::Gzip(g) => {
                let _ = g.write_all(encoded);
            }
            Writer::Plain(v) => v.extend_from_slice(encoded),
        }
        self.events += 1;
        if self.last_batch != Some(batch) {
            self.last_batch = Some(batch);
            self.acks.push(ack.clone());
        }
    }

    /// Bytes of the object as stored, so far (compressed when gzip; the few
    /// bytes still inside the compressor are not counted).
    pub fn size(&self) -> u64 {
        self.uploaded_bytes + self.writer.buffer().len() as u64
    }

    /// Bytes ready to be uploaded as the next part.
    pub fn buffered(&self) -> usize {
        self.writer.buffer().len()
    }

    /// Takes the buffered bytes out, to upload them as a part.
    pub fn take_part(&mut self) -> Bytes {
        Bytes::from(std::mem::take(self.writer.buffer_mut()))
    }

    /// Ends the stream (the gzip trailer) and returns the remaining bytes.
    pub fn finish(&mut self) -> Bytes {
        let placeholder = Writer::Plain(Vec::new());
        match std::mem::replace(&mut self.writer, placeholder) {
            // Finishing into a Vec cannot fail.
            Writer::Gzip(g) => Bytes::from(g.finish().unwrap_or_default()),
            Writer::Plain(v) => Bytes::from(v),
        }
    }

    /// Marks every batch with events here as not delivered.
    pub fn fail(&self) {
        for ack in &self.acks {
            ack.fail();
        }
    }

    /// How many batches this object holds back.
    pub fn batches(&self) -> usize {
        self.acks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    use crate::topology::ack::BatchStatus;

    #[tokio::test]
    async fn parts_concatenate_to_one_gzip_stream_and_acks_wait() {
        let (ack, rx) = Ack::new();
        let mut o = OpenObject::new("k".into(), Some(6));
        let mut parts = Vec::new();
        let mut expected = Vec::new();
        let mut seed = 1u64;
        for i in 0..20_000u64 {
            // Pseudo-random text so the compressor emits blocks early.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let line = format!("{i} {seed:x}\n");
            expected.extend_from_slice(line.as_bytes());
            o.write(line.as_bytes(), i / 1000, &ack);
            if o.buffered() >= 64 * 1024 {
                let p = o.take_part();
                o.uploaded_bytes += p.len() as u64;
                parts.push(p);
            }
        }
        drop(ack);
        assert_eq!(o.batches(), 20);
        assert_eq!(o.events, 20_000);
        assert!(parts.len() > 1, "{}", parts.len());
        parts.push(o.finish());
        let all: Vec<u8> = parts.concat();
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&all[..])
            .read_to_end(&mut text)
            .unwrap();
        assert_eq!(text, expected);
        o.fail();
        drop(o);
        assert_eq!(rx.wait().await, BatchStatus::Failed);
    }

    #[test]
    fn plain_counts_stored_bytes() {
        let ack = Ack::untracked();
        let mut o = OpenObject::new("k".into(), None);
        o.write(b"abc\n", 1, &ack);
        o.write(b"de\n", 1, &ack);
        assert_eq!(o.size(), 7);
        assert_eq!(o.batches(), 1);
        assert_eq!(&o.finish()[..], b"abc\nde\n");
    }
}
