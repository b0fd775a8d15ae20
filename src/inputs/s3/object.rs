//! Streams one object into the pipeline: `GetObject` body → gzip (detected by
//! its magic bytes; concatenated members included) or plain → lines →
//! batches. Nothing is held but the read buffer and the batch being filled,
//! so memory does not depend on the object's size, and reading stops while
//! the pipeline's channel is full.
//!
//! The loop is the one every byte-stream input shares ([`read_stream`]);
//! what is S3's own is the [`FrameSink`] below: resuming after `skip` lines,
//! per-line position and header, and an ack tracked for every batch.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context as _;
use async_compression::tokio::bufread::GzipDecoder;
use aws_sdk_s3::operation::get_object::GetObjectError;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::progress::AckTracker;
use super::{Metrics, S3Format};
use crate::codecs::{Frame, FrameDecoder, FrameError, Framing, Oversize};
use crate::event::{Event, Fields, Path, Position, Value};
use crate::inputs::reader::{read_stream, FrameSink, StreamEnd};
use crate::inputs::BatchSender;
use crate::topology::ack::Ack;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What reading an object needs.
#[derive(Clone)]
pub struct ObjectCx {
    pub client: aws_sdk_s3::Client,
    pub out: BatchSender,
    pub shutdown: CancellationToken,
    pub format: S3Format,
    pub prefix: String,
    pub max_line_bytes: usize,
    pub on_oversize: Oversize,
    pub metrics: Metrics,
}

/// Why reading stopped (errors are returned as such).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Every line was sent.
    Eof,
    /// The object does not exist (deleted since it was listed or notified):
    /// a retry can never succeed.
    Missing,
    /// Shutdown: stopped mid-object.
    Shutdown,
    /// The pipeline closed.
    Closed,
}

/// Reads `bucket/key`, skipping the first `skip` lines (already delivered
/// before a restart), and hands every sent batch to `tracker`.
pub async fn read_object(
    cx: &ObjectCx,
    bucket: &str,
    key: &str,
    skip: u64,
    tracker: AckTracker,
) -> anyhow::Result<ReadEnd> {
    let response = match cx.client.get_object().bucket(bucket).key(key).send().await {
        Ok(r) => r,
        Err(e) => {
            if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) {
                return Ok(ReadEnd::Missing);
            }
            cx.metrics.error("get");
            return Err(anyhow::anyhow!(
                "GetObject s3://{bucket}/{key}: {}",
                crate::aws::describe(&e)
            ));
        }
    };
    let size = response.content_length().unwrap_or(0).max(0) as u64;
    let reader = open_body(response.body.into_async_read())
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?;

    let decoder = FrameDecoder::new(Framing::Lines, cx.max_line_bytes, cx.on_oversize);
    let mut sink = ObjectSink {
        out: &cx.out,
        tracker,
        template: template(cx, bucket, key),
        origin: Arc::from(format!("{bucket}/{key}")),
        header: None,
        skip,
        line: 0,
        skipped: 0,
    };
    // On shutdown, what was framed has been sent (and counts); the rest is
    // read again after the restart.
    let stats = match read_stream(reader, decoder, &cx.shutdown, &mut sink).await {
        Ok((StreamEnd::Eof, stats)) => stats,
        Ok((StreamEnd::Shutdown, _)) => return Ok(ReadEnd::Shutdown),
        Ok((StreamEnd::Closed, _)) => return Ok(ReadEnd::Closed),
        Err((FrameError::Io(e), _)) => {
            cx.metrics.error("read");
            return Err(anyhow::Error::new(e).context(format!(
                "reading s3://{bucket}/{key} after line {}",
                sink.line
            )));
        }
        Err((e, _)) => {
            return Err(anyhow::anyhow!(
                "framing s3://{bucket}/{key} after line {}: {e}",
                sink.line
            ))
        }
    };
    cx.metrics.bytes.increment(size);
    cx.metrics.lines_skipped.increment(sink.skipped);
    let (rejected, truncated) = (stats.oversized_rejected, stats.truncated);
    if rejected > 0 || truncated > 0 {
        tracing::warn!(
            bucket,
            key,
            rejected,
            truncated,
            "lines longer than max_line_bytes were cut or skipped"
        );
    }
    tracing::debug!(
        bucket,
        key,
        lines = sink.line,
        skipped = sink.skipped,
        "object read"
    );
    Ok(ReadEnd::Eof)
}

/// Turns an object's lines into events and sends them as tracked batches.
struct ObjectSink<'a> {
    out: &'a BatchSender,
    tracker: AckTracker,
    /// The fields every event of the object carries.
    template: Fields,
    origin: Arc<str>,
    /// The object's first line, for parsers that need its column names.
    header: Option<Bytes>,
    /// Lines delivered before a restart: framed again, not sent again.
    skip: u64,
    /// Lines framed so far, skipped ones included: the next event's
    /// position, and where a failure happened.
    line: u64,
    skipped: u64,
}

impl FrameSink for ObjectSink<'_> {
    fn batch_size(&self) -> usize {
        self.out.batch_size()
    }

    fn event(&mut self, frame: Frame, now: DateTime<Utc>) -> Option<Event> {
        self.line += 1;
        if self.header.is_none() {
            self.header = Some(frame.bytes.clone());
        }
        if self.line <= self.skip {
            self.skipped += 1;
            return None;
        }
        let mut event = Event::new(frame.bytes, now);
        event.fields = self.template.clone();
        event
            .fields
            .insert_path(offset_path(), Value::Int(self.line as i64));
        event.meta.origin = Some(self.origin.clone());
        event.meta.position = Position::Offset(self.line);
        event.meta.header = self.header.clone();
        Some(event)
    }

    /// Sends the batch with an ack the tracker follows up to the current
    /// line (the batch's last).
    fn send(&mut self, batch: Vec<Event>) -> impl Future<Output = bool> + Send {
        let (ack, rx) = Ack::new();
        // A batch the closed channel hands back is dropped, which would read
        // as delivered: keep a handle to mark it failed.
        let keep = ack.clone();
        self.tracker.track(self.line, rx);
        let out = self.out;
        async move {
            match out.send(batch, ack).await {
                Ok(()) => true,
                Err(_) => {
                    keep.fail();
                    false
                }
            }
        }
    }

    /// Batches are full until the end: the object is always readable, and
    /// each batch costs an ack to track and a checkpoint to advance.
    fn flush_each_read(&self) -> bool {
        false
    }
}

fn offset_path() -> &'static Path {
    static PATH: std::sync::OnceLock<Path> = std::sync::OnceLock::new();
    PATH.get_or_init(|| Path::parse_static("log.offset"))
}

/// The fields every event of the object carries.
fn template(cx: &ObjectCx, bucket: &str, key: &str) -> Fields {
    let mut fields = Fields::with_capacity(2);
    fields.insert_path(
        &Path::parse_static("aws.s3.bucket.name"),
        Value::Str(Bytes::copy_from_slice(bucket.as_bytes())),
    );
    fields.insert_path(
        &Path::parse_static("aws.s3.object.key"),
        Value::Str(Bytes::copy_from_slice(key.as_bytes())),
    );
    if cx.format == S3Format::CloudwatchExport {
        if let Some(stream) = super::keys::export_stream(&cx.prefix, key) {
            fields.insert_path(
                &Path::parse_static("aws.cloudwatch.log_stream"),
                Value::Str(Bytes::copy_from_slice(stream.as_bytes())),
            );
        }
    }
    fields
}

/// The body as plain text: gunzipped (every member) when it starts with the
/// gzip magic bytes, whatever the key's suffix.
async fn open_body<R>(mut body: R) -> std::io::Result<Pin<Box<dyn AsyncRead + Send>>>
where
    R: AsyncBufRead + Send + Unpin + 'static,
{
    let mut head = Vec::with_capacity(2);
    while head.len() < 2 {
        let mut byte = [0u8; 2];
        let want = 2 - head.len();
        let n = body.read(&mut byte[..want]).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&byte[..n]);
    }
    let gzip = head == GZIP_MAGIC;
    let whole = std::io::Cursor::new(head).chain(body);
    if gzip {
        let mut decoder = GzipDecoder::new(whole);
        decoder.multiple_members(true);
        Ok(Box::pin(decoder))
    } else {
        Ok(Box::pin(whole))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    async fn text(data: Vec<u8>) -> String {
        let mut r = open_body(std::io::Cursor::new(data)).await.unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).await.unwrap();
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[tokio::test]
    async fn plain_gzip_and_concatenated_members() {
        assert_eq!(text(b"a\nb\n".to_vec()).await, "a\nb\n");
        assert_eq!(text(b"x".to_vec()).await, "x");
        assert_eq!(text(Vec::new()).await, "");
        assert_eq!(text(gzip(b"one\ntwo\n")).await, "one\ntwo\n");
        let mut two = gzip(b"first\n");
        two.extend(gzip(b"second\n"));
        assert_eq!(text(two).await, "first\nsecond\n");
    }
}
