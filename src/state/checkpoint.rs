//! Checkpoint files: one JSON document per input under
//! `<data_dir>/checkpoints/<pipeline>/<input>.json`.
//!
//! A checkpoint is replaced atomically — written to a temporary file in the
//! same directory, fsynced, renamed over the old one, and the directory
//! fsynced — so a crash at any moment leaves either the old or the new
//! checkpoint, never a torn one. Inputs store a checkpoint only for work
//! that every output has acknowledged, which is what makes delivery
//! at-least-once across restarts.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Where one input keeps its checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    /// The checkpoint of input `input` of pipeline `pipeline`.
    pub fn new(data_dir: &Path, pipeline: &str, input: &str) -> Self {
        CheckpointFile {
            path: data_dir
                .join("checkpoints")
                .join(file_name(pipeline))
                .join(format!("{}.json", file_name(input))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored checkpoint, or `None` when there is none yet. A file that
    /// exists but does not parse is an error (naming the file): starting over
    /// silently would re-deliver or skip everything.
    pub fn load<T: DeserializeOwned>(&self) -> anyhow::Result<Option<T>> {
        let text = match fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading checkpoint {}", self.path.display()))
            }
        };
        serde_json::from_slice(&text).map(Some).with_context(|| {
            format!(
                "checkpoint {} is not valid; move it away to start over",
                self.path.display()
            )
        })
    }

    /// Replaces the checkpoint atomically and durably.
    pub fn store<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let dir = self
            .path
            .parent()
            .context("checkpoint path has no directory")?;
        fs::create_dir_all(dir)
            .with_context(|| format!("creating checkpoint directory {}", dir.display()))?;
        let json = serde_json::to_vec_pretty(value).context("encoding checkpoint")?;
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            file.write_all(&json)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            // The rename itself is only durable once the directory is synced.
            File::open(dir)?.sync_all()
        };
        write().with_context(|| format!("writing checkpoint {}", self.path.display()))
    }
}

/// A name made safe as one path component: anything but ASCII letters,
/// digits, `-`, `_` and `.` becomes `_`, and a leading `.` too.
fn file_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct State {
        after: String,
        lines: u64,
    }

    #[test]
    fn missing_then_stored_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cp = CheckpointFile::new(dir.path(), "main", "access_logs");
        assert_eq!(cp.load::<State>().unwrap(), None);
        let first = State {
            after: "logs/a".into(),
            lines: 3,
        };
        cp.store(&first).unwrap();
        assert_eq!(cp.load::<State>().unwrap(), Some(first));
        let second = State {
            after: "logs/b".into(),
            lines: 0,
        };
        cp.store(&second).unwrap();
        assert_eq!(cp.load::<State>().unwrap(), Some(second));
        // Nothing is left behind but the checkpoint itself.
        let names: Vec<_> = fs::read_dir(cp.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("access_logs.json")]);
    }

    #[test]
    fn a_corrupt_checkpoint_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cp = CheckpointFile::new(dir.path(), "p", "i");
        fs::create_dir_all(cp.path().parent().unwrap()).unwrap();
        fs::write(cp.path(), b"{not json").unwrap();
        let err = format!("{:#}", cp.load::<State>().unwrap_err());
        assert!(err.contains("i.json"), "{err}");
        assert!(err.contains("start over"), "{err}");
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        let cp = CheckpointFile::new(Path::new("/data"), "../etc", "a/b");
        assert_eq!(cp.path(), Path::new("/data/checkpoints/_.._etc/a_b.json"));
    }
}
