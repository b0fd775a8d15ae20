//! `stdout`: JSON lines (`encoding: json`, default) or the raw message
//! (`encoding: text`).

use std::time::Instant;

use bytes::BytesMut;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{OutputConfig, OutputContext, OutputTask};
use crate::event::json::write_event;
use crate::event::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    Json,
    /// The raw message only (the line as received).
    Text,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    #[serde(default)]
    pub encoding: Encoding,
}

/// Appends one event in `encoding`, newline-terminated.
pub fn encode(encoding: Encoding, event: &Event, out: &mut BytesMut) {
    match encoding {
        Encoding::Json => write_event(event, out),
        Encoding::Text => out.extend_from_slice(&event.message),
    }
    out.extend_from_slice(b"\n");
}

impl OutputConfig for StdoutConfig {
    fn build(&self, cx: OutputContext) -> anyhow::Result<OutputTask> {
        let encoding = self.encoding;
        Ok(Box::pin(async move {
            let mut stdout = tokio::io::stdout();
            let mut buf = BytesMut::with_capacity(64 * 1024);
            while let Ok(batch) = cx.input.recv().await {
                let started = Instant::now();
                buf.clear();
                for event in batch.events() {
                    encode(encoding, event, &mut buf);
                }
                if let Err(e) = stdout.write_all(&buf).await {
                    cx.metrics.errors.increment(1);
                    batch.fail();
                    // A closed stdout (e.g. `weir run | head`) can't be written
                    // again; stop instead of failing every batch.
                    anyhow::bail!("output `{}`: writing to stdout: {e}", cx.name);
                }
                let _ = stdout.flush().await;
                cx.metrics.delivered(batch.len(), buf.len(), started);
            }
            Ok(())
        }))
    }
}
