//! `file`: reads files (paths or glob patterns) from start to end, one after
//! the other, then finishes; the pipeline drains and weir exits 0.
//!
//! Events carry `log.file.path` (ECS) and their line number as position, so
//! outputs can derive replay-safe ids.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use serde::Deserialize;
use tracing::{info, warn};

use super::reader::{read_stream, Untracked};
use super::{InputConfig, InputContext, InputTask};
use crate::codecs::{FrameDecoder, Framing, Oversize};
use crate::event::{Event, Fields, Position, Value};

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Files or glob patterns (`/var/log/app/*.log`).
    pub paths: Vec<String>,
    #[serde(default)]
    pub framing: Framing,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    #[serde(default)]
    pub on_oversize: Oversize,
}

impl FileConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.paths.is_empty() {
            return Err("`paths` needs at least one file or glob pattern".into());
        }
        for p in &self.paths {
            glob::Pattern::new(p).map_err(|e| format!("path pattern `{p}`: {e}"))?;
        }
        Ok(())
    }

    /// The files the patterns name now, in order, each once.
    fn resolve(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for p in &self.paths {
            let mut matched = false;
            for entry in glob::glob(p).with_context(|| format!("bad path pattern `{p}`"))? {
                let path = entry.with_context(|| format!("reading a match of `{p}`"))?;
                if path.is_file() && !files.contains(&path) {
                    files.push(path);
                }
                matched = true;
            }
            if !matched {
                warn!(pattern = %p, "no file matches");
            }
        }
        Ok(files)
    }
}

impl InputConfig for FileConfig {
    fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
        let config = self.clone();
        Ok(Box::pin(async move {
            for path in config.resolve()? {
                if cx.shutdown.is_cancelled() {
                    break;
                }
                let file = tokio::fs::File::open(&path).await.with_context(|| {
                    format!("input `{}`: cannot open {}", cx.name, path.display())
                })?;
                let shown = path.display().to_string();
                let origin: Arc<str> = Arc::from(shown.as_str());
                let mut log = Fields::with_capacity(1);
                let mut file_fields = Fields::with_capacity(1);
                file_fields.insert("path", Value::Str(Bytes::from(shown.clone())));
                log.insert("file", Value::Object(file_fields));
                let mut template = Fields::with_capacity(1);
                template.insert("log", Value::Object(log));
                let decoder =
                    FrameDecoder::new(config.framing, config.max_line_bytes, config.on_oversize);
                let mut line = 0u64;
                let mut sink = Untracked::new(&cx.out, |frame, now| {
                    line += 1;
                    let mut event = Event::new(frame.bytes, now);
                    event.fields = template.clone();
                    event.meta.origin = Some(origin.clone());
                    event.meta.position = Position::Offset(line);
                    event
                });
                let result = read_stream(file, decoder, &cx.shutdown, &mut sink).await;
                match result {
                    Ok((_, stats)) => {
                        if stats.oversized_rejected > 0 {
                            warn!(input = %cx.name, file = %shown, rejected = stats.oversized_rejected,
                                "lines longer than max_line_bytes were skipped");
                        }
                        info!(input = %cx.name, file = %shown, events = stats.events, bytes = stats.bytes,
                            "file read");
                    }
                    Err((e, _)) => {
                        return Err(anyhow::anyhow!("input `{}`: reading {shown}: {e}", cx.name));
                    }
                }
            }
            Ok(())
        }))
    }
}
