//! The output's dead-letter queue: documents Elasticsearch refused for good
//! (mapping errors, missing indices, retries exhausted), appended as NDJSON
//! with the original event and why, so nothing disappears silently and the
//! file can be fixed up and replayed.
//!
//! One line per document:
//! `{"@timestamp", "pipeline", "component", "index", "status", "error":
//! {"type", "reason"}, "reason", "attempts", "event": {…}}`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::{BufMut, BytesMut};
use chrono::Utc;

use super::bulk::Failure;
use crate::event::json::{write_event, write_str, write_timestamp};
use crate::event::Event;

/// One refused document.
#[derive(Debug, Clone)]
pub struct Letter {
    pub event: Event,
    pub index: String,
    pub failure: Failure,
    /// How many times the document was sent.
    pub attempts: u32,
}

/// An append-only NDJSON file, opened on first use.
pub struct DeadLetterFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl DeadLetterFile {
    pub fn new(path: PathBuf) -> Self {
        DeadLetterFile {
            path,
            file: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the letters and syncs them to disk before returning: the
    /// caller acknowledges the documents as handled only after this.
    /// Blocking; call from a blocking thread.
    pub fn write(
        &self,
        pipeline: &str,
        component: &str,
        letters: &[Letter],
    ) -> std::io::Result<()> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut buf = BytesMut::new();
        for l in letters {
            encode(pipeline, component, l, &mut buf);
        }
        let mut guard = match self.file.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if guard.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            *guard = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let Some(file) = guard.as_mut() else {
            return Err(std::io::Error::other("dead-letter file not open"));
        };
        let result = file.write_all(&buf).and_then(|()| file.sync_data());
        if result.is_err() {
            // Reopen next time (the file may have been removed or the disk
            // remounted).
            *guard = None;
        }
        result
    }
}

fn encode(pipeline: &str, component: &str, l: &Letter, out: &mut BytesMut) {
    out.put_slice(b"{\"@timestamp\":");
    write_timestamp(&Utc::now(), out);
    out.put_slice(b",\"pipeline\":");
    write_str(pipeline.as_bytes(), out);
    out.put_slice(b",\"component\":");
    write_str(component.as_bytes(), out);
    out.put_slice(b",\"index\":");
    write_str(l.index.as_bytes(), out);
    out.put_slice(b",\"status\":");
    out.put_slice(itoa::Buffer::new().format(l.failure.status).as_bytes());
    out.put_slice(b",\"error\":{\"type\":");
    write_str(l.failure.kind.as_bytes(), out);
    out.put_slice(b",\"reason\":");
    write_str(l.failure.reason.as_bytes(), out);
    out.put_slice(b"},\"reason\":");
    write_str(l.failure.to_string().as_bytes(), out);
    out.put_slice(b",\"attempts\":");
    out.put_slice(itoa::Buffer::new().format(l.attempts).as_bytes());
    out.put_slice(b",\"event\":");
    write_event(&l.event, out);
    out.put_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_ndjson_with_the_event_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dlq.ndjson");
        let dlq = DeadLetterFile::new(path.clone());
        let letter = Letter {
            event: Event::from_text("bad \"doc\""),
            index: "weir-2024.01.01".into(),
            failure: Failure::new(400, "mapper_parsing_exception", "failed to parse field [n]"),
            attempts: 1,
        };
        dlq.write("p", "es", std::slice::from_ref(&letter)).unwrap();
        dlq.write("p", "es", &[letter]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        let l = &lines[0];
        assert_eq!(l["pipeline"], "p");
        assert_eq!(l["component"], "es");
        assert_eq!(l["index"], "weir-2024.01.01");
        assert_eq!(l["status"], 400);
        assert_eq!(l["error"]["type"], "mapper_parsing_exception");
        assert_eq!(
            l["reason"],
            "400 mapper_parsing_exception: failed to parse field [n]"
        );
        assert_eq!(l["event"]["message"], "bad \"doc\"");
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let dlq = DeadLetterFile::new(blocker.join("dlq.ndjson"));
        let letter = Letter {
            event: Event::from_text("x"),
            index: "i".into(),
            failure: Failure::new(400, "t", "r"),
            attempts: 1,
        };
        assert!(dlq.write("p", "es", &[letter]).is_err());
    }
}
