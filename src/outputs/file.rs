//! `file`: NDJSON (or raw lines) appended to files whose path may hold
//! strftime fields and `%{field}` references (`/var/log/weir/%Y-%m-%d.ndjson`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use bytes::BytesMut;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tracing::warn;

use super::stdout::{encode, Encoding};
use super::{OutputConfig, OutputContext, OutputTask};
use crate::event::Template;

/// Files kept open at once; the least recently written is closed beyond this.
const MAX_OPEN_FILES: usize = 64;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutputConfig {
    pub path: Template,
    #[serde(default)]
    pub encoding: Encoding,
}

impl OutputConfig for FileOutputConfig {
    fn build(&self, cx: OutputContext) -> anyhow::Result<OutputTask> {
        let config = self.clone();
        Ok(Box::pin(async move {
            let mut open: HashMap<PathBuf, (tokio::fs::File, Instant)> = HashMap::new();
            while let Ok(batch) = cx.input.recv().await {
                // Usually one path per batch; several when the path depends
                // on fields or the batch spans midnight.
                let mut buffers: HashMap<PathBuf, BytesMut> = HashMap::new();
                let started = Instant::now();
                for event in batch.events() {
                    let path = match config.path.render(event) {
                        Ok(p) => p,
                        Err((p, field)) => {
                            warn!(output = %cx.name, field = %field, path = %p,
                                "path references a missing field; writing to the path without it");
                            p
                        }
                    };
                    let buf = buffers.entry(PathBuf::from(path)).or_default();
                    encode(config.encoding, event, buf);
                }
                let mut bytes = 0;
                for (path, buf) in buffers.iter_mut().filter(|(_, b)| !b.is_empty()) {
                    let result = write(&mut open, path, buf).await;
                    bytes += buf.len();
                    buf.clear();
                    if let Err(e) = result {
                        cx.metrics.errors.increment(1);
                        batch.fail();
                        return Err(e.context(format!("output `{}`", cx.name)));
                    }
                }
                cx.metrics.delivered(batch.len(), bytes, started);
            }
            for (_, (mut f, _)) in open.drain() {
                f.flush().await.ok();
                f.sync_data().await.ok();
            }
            Ok(())
        }))
    }
}

async fn write(
    open: &mut HashMap<PathBuf, (tokio::fs::File, Instant)>,
    path: &PathBuf,
    data: &[u8],
) -> anyhow::Result<()> {
    if !open.contains_key(path) {
        if open.len() >= MAX_OPEN_FILES {
            if let Some(oldest) = open
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(p, _)| p.clone())
            {
                if let Some((mut f, _)) = open.remove(&oldest) {
                    f.flush().await.ok();
                }
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        let f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        open.insert(path.clone(), (f, Instant::now()));
    }
    if let Some((f, used)) = open.get_mut(path) {
        f.write_all(data)
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        f.flush()
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        *used = Instant::now();
    }
    Ok(())
}
