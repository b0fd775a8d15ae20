//! A real `osmem-server` (an in-memory OpenSearch-compatible server, PyPI
//! `osmem-server`) for tests and benches, plus a minimal blocking HTTP
//! client to query it. Each `Osmem` is its own server on its own port,
//! killed when dropped (and exiting by itself if the test process dies: it
//! watches its stdin).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

pub struct Osmem {
    child: Child,
    _stdin: ChildStdin,
    pub port: u16,
    pub url: String,
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `osmem-server` is: on PATH (`scripts/env.sh` puts `.venv/bin`
/// there), else in the repository's `.venv`. Panics with what to do when it
/// is missing: the tests need the real server, they never skip.
pub fn osmem_binary() -> PathBuf {
    if let Ok(path) = std::env::var("OSMEM_SERVER_BIN") {
        return PathBuf::from(path);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("osmem-server");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv_bin = root.join(".venv/bin/osmem-server");
    if venv_bin.is_file() {
        return venv_bin;
    }
    // The wheel bundles the binary inside the package.
    if let Ok(entries) = std::fs::read_dir(root.join(".venv/lib")) {
        for entry in entries.flatten() {
            let bundled = entry
                .path()
                .join("site-packages/osmem_server/bin/osmem-server");
            if bundled.is_file() {
                return bundled;
            }
        }
    }
    panic!(
        "osmem-server not found (on PATH, in .venv/bin, or in the osmem_server package of .venv). \
         The Elasticsearch tests need the real server: run `scripts/provision` (scripts/test does) \
         to install it from requirements-test.txt into .venv"
    );
}

impl Osmem {
    /// Starts a fresh server on a free port and waits until it answers.
    pub fn start() -> Osmem {
        let bin = osmem_binary();
        let mut child = Command::new(&bin)
            .args(["-addr", "127.0.0.1:0", "-no-ja"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        // The first line is `{"url": "http://127.0.0.1:PORT", ...}`.
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).expect("osmem-server output");
        let ready: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("osmem-server did not announce itself ({e}): {line}"));
        let url = ready["url"].as_str().expect("url").to_owned();
        let port: u16 = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in url");
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let o = Osmem {
            child,
            _stdin: stdin,
            port,
            url,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while http(o.port, "GET", "/", b"").0 != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "osmem-server never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        o
    }

    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = http(self.port, "GET", path, b"");
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "GET {path} -> {status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
        let (status, body) = http(self.port, method, path, body);
        let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (status, v)
    }

    /// `_count` of an index pattern (0 when it does not exist).
    pub fn count(&self, index: &str) -> u64 {
        let (status, v) = self.request("GET", &format!("/{index}/_count"), b"");
        if status == 404 {
            return 0;
        }
        v["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("_count of {index} -> {status}: {v}"))
    }

    /// Every document of `index` (`_search`, sized to hold them all).
    pub fn documents(&self, index: &str, size: usize) -> Vec<serde_json::Value> {
        let v = self.get(&format!("/{index}/_search?size={size}"));
        v["hits"]["hits"].as_array().cloned().unwrap_or_default()
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, Vec::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes()).is_err() || s.write_all(body).is_err() {
        return (0, Vec::new());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, Vec::new());
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, raw[split + 4..].to_vec())
}
