//! Object keys: `<rendered key_prefix><UTC time>-<instance id>-<counter>.<ext>`.
//!
//! The time (when the object was opened, `20261204T133000Z`) makes keys under
//! one prefix sort in the order they were written, which is the order the
//! `s3` input reads them in (`start_after`). The instance id — a hash of the
//! host name, process id, start time in nanoseconds and an address — differs
//! between every two weir processes, on one host or many, so two instances
//! writing the same prefix never pick the same key and never overwrite each
//! other's objects; the counter separates the objects of one process.

use chrono::{DateTime, Utc};
use xxhash_rust::xxh3::Xxh3;

use super::config::Compression;
use crate::outputs::stdout::Encoding;

/// Hands out unique keys for one output.
#[derive(Debug)]
pub struct KeyNamer {
    instance: String,
    counter: u64,
    extension: &'static str,
}

/// The file name extension for an encoding and compression.
pub fn extension(encoding: Encoding, compression: Compression) -> &'static str {
    match (encoding, compression) {
        (Encoding::Json, Compression::Gzip) => "ndjson.gz",
        (Encoding::Json, Compression::None) => "ndjson",
        (Encoding::Text, Compression::Gzip) => "log.gz",
        (Encoding::Text, Compression::None) => "log",
    }
}

impl KeyNamer {
    pub fn new(extension: &'static str) -> Self {
        KeyNamer {
            instance: instance_id(),
            counter: 0,
            extension,
        }
    }

    /// The next key under `prefix`, stamped with `now`.
    pub fn next(&mut self, prefix: &str, now: DateTime<Utc>) -> String {
        self.counter += 1;
        format!(
            "{prefix}{}-{}-{:06}.{}",
            now.format("%Y%m%dT%H%M%SZ"),
            self.instance,
            self.counter,
            self.extension
        )
    }
}

/// 16 hex digits, different for every process.
fn instance_id() -> String {
    let mut h = Xxh3::new();
    h.update(hostname().as_bytes());
    h.update(&std::process::id().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(&nanos.to_le_bytes());
    // Address-space layout randomisation adds bits a cloned container with
    // the same host name, pid and clock would not share.
    let marker = 0u8;
    h.update(&(&marker as *const u8 as usize).to_le_bytes());
    format!("{:016x}", h.digest())
}

/// The host name without a libc call: Linux's proc file, else `HOSTNAME`.
/// Only an input to the instance hash, so "unknown" is fine.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_are_prefixed_timed_and_unique() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 13, 30, 5).unwrap();
        let mut a = KeyNamer::new(extension(Encoding::Json, Compression::Gzip));
        let k1 = a.next("logs/2026/12/04/", now);
        let k2 = a.next("logs/2026/12/04/", now);
        assert!(k1.starts_with("logs/2026/12/04/20261204T133005Z-"), "{k1}");
        assert!(k1.ends_with("-000001.ndjson.gz"), "{k1}");
        assert!(k2.ends_with("-000002.ndjson.gz"), "{k2}");
        let id = &k1["logs/2026/12/04/20261204T133005Z-".len()..][..16];
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{k1}");
        // Another instance (another process, or the same one later) differs.
        let mut b = KeyNamer::new("log");
        let other = b.next("logs/2026/12/04/", now);
        assert_ne!(&other[..other.len() - 4], &k1[..k1.len() - 10]);
        assert!(other.ends_with("-000001.log"));
    }

    #[test]
    fn extensions() {
        assert_eq!(extension(Encoding::Text, Compression::None), "log");
        assert_eq!(extension(Encoding::Json, Compression::None), "ndjson");
        assert_eq!(extension(Encoding::Text, Compression::Gzip), "log.gz");
    }
}
