//! The pipeline's dead-letter queue: events a filter could not handle, with
//! the reason, appended as NDJSON to `<data_dir>/dead_letter/<pipeline>.ndjson`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use bytes::BytesMut;
use chrono::Utc;
use tracing::error;

use crate::event::json::{write_event, write_str, write_timestamp};
use crate::filters::DeadLetter;

pub struct DeadLetterQueue {
    path: PathBuf,
    file: Mutex<Option<File>>,
    written: metrics::Counter,
    failed: metrics::Counter,
}

impl DeadLetterQueue {
    pub fn new(data_dir: &std::path::Path, pipeline: &str) -> Self {
        DeadLetterQueue {
            path: data_dir
                .join("dead_letter")
                .join(format!("{pipeline}.ndjson")),
            file: Mutex::new(None),
            written: metrics::counter!("weir_dead_letter_events_total", "pipeline" => pipeline.to_owned()),
            failed: metrics::counter!("weir_dead_letter_write_errors_total", "pipeline" => pipeline.to_owned()),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends the records, one JSON line each:
    /// `{"@timestamp", "pipeline", "component", "reason", "event": {…}}`.
    pub fn write(&self, pipeline: &str, letters: Vec<DeadLetter>) {
        if letters.is_empty() {
            return;
        }
        let mut buf = BytesMut::new();
        for l in &letters {
            buf.extend_from_slice(b"{\"@timestamp\":");
            write_timestamp(&Utc::now(), &mut buf);
            buf.extend_from_slice(b",\"pipeline\":");
            write_str(pipeline.as_bytes(), &mut buf);
            buf.extend_from_slice(b",\"component\":");
            write_str(l.component.as_bytes(), &mut buf);
            buf.extend_from_slice(b",\"reason\":");
            write_str(l.reason.as_bytes(), &mut buf);
            buf.extend_from_slice(b",\"event\":");
            write_event(&l.event, &mut buf);
            buf.extend_from_slice(b"}\n");
        }
        let mut guard = match self.file.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let result = (|| -> std::io::Result<()> {
            if guard.is_none() {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                *guard = Some(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)?,
                );
            }
            if let Some(f) = guard.as_mut() {
                f.write_all(&buf)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => self.written.increment(letters.len() as u64),
            Err(e) => {
                // Nowhere safer to put them: say loudly what was lost.
                self.failed.increment(letters.len() as u64);
                error!(path = %self.path.display(), error = %e, events = letters.len(),
                    "cannot write the dead-letter queue; these events are lost");
            }
        }
    }
}
