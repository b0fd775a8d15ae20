//! Helpers for tests that run the real `weir` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn weir() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_weir"));
    c.env("WEIR_LOG", "info");
    c
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub struct Pipeline {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

/// Writes a pipeline file into a fresh directory.
pub fn pipeline(text: &str) -> Pipeline {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("test.yaml");
    std::fs::write(&path, text).expect("write pipeline");
    Pipeline { dir, path }
}

/// `weir validate` on `path`, which must reject it (exit status 2); returns
/// what it wrote to stderr, where each error names file:line:column.
pub fn validate_errors(path: &Path) -> String {
    let out = weir()
        .arg("validate")
        .arg(path)
        .output()
        .expect("run weir validate");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "weir validate: {err}");
    err
}

/// Waits until something listens on `port`.
pub fn wait_for_port(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resident memory of a process, from /proc.
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([format!("-{sig}"), child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for the child to exit, with a limit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("weir did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads JSON lines from a reader until `n` arrived (or the limit passes).
pub fn read_json_lines(
    reader: impl Read + Send + 'static,
    n: usize,
    limit: Duration,
) -> Vec<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = BufReader::new(reader);
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    let deadline = Instant::now() + limit;
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => out.push(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")),
            ),
            Err(_) => break,
        }
    }
    out
}

/// Runs `weir` with the pipeline and stdin, returning (status, stdout, stderr).
pub fn run_to_end(p: &Path, stdin: &[u8]) -> (std::process::ExitStatus, String, String) {
    let mut child = weir()
        .args(["run", p.to_str().expect("utf-8 path")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
