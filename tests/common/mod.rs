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
            start.elapsed() < Duration::from_secs(60),
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
    JsonLines::new(reader).take(n, limit)
}

/// The JSON lines of a reader, read on a thread as they come, so that a
/// test can wait for some and then check that no more arrive.
pub struct JsonLines(std::sync::mpsc::Receiver<String>);

impl JsonLines {
    pub fn new(reader: impl Read + Send + 'static) -> JsonLines {
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
        JsonLines(rx)
    }

    /// The next lines until `n` arrived (or the limit passes).
    pub fn take(&self, n: usize, limit: Duration) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let deadline = Instant::now() + limit;
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => out.push(
                    serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not JSON ({e}): {line}")),
                ),
                Err(_) => break,
            }
        }
        out
    }
}

/// Reads the child's stderr until a line contains `needle` (a log line
/// saying a socket is bound, where connecting cannot tell: UDP), panicking
/// after `limit`; the rest of stderr is drained on a thread, so the child
/// never blocks on a full pipe. Returns the lines read up to the match.
pub fn wait_for_log(child: &mut Child, needle: &str, limit: Duration) -> String {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Keep reading after the receiver is gone.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + limit;
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(needle) {
                    return seen;
                }
            }
            Err(_) => panic!("no `{needle}` in weir's log within {limit:?}:\n{seen}"),
        }
    }
}

/// weir's `/metrics` on its API port (`None` while the API does not answer).
pub fn api_metrics(api: u16) -> Option<String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", api)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The sum of the samples of metric `name` whose labels contain every one
/// of `labels` (e.g. `component="in"`).
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
                && labels.iter().all(|lb| l.contains(lb))
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// Waits until the sum of metric `name` (samples with `labels`) on weir's
/// API port is `want`; panics with the last scrape after `limit`.
pub fn wait_for_metric(api: u16, name: &str, labels: &[&str], want: f64, limit: Duration) {
    let start = Instant::now();
    loop {
        let text = api_metrics(api).unwrap_or_default();
        if metric_sum(&text, name, labels) == want {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{name}{labels:?} never reached {want} within {limit:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until input `input` has received `n` events (read and handed to
/// the pipeline): before a SIGTERM, which stops inputs reading, a test must
/// know its data was read rather than sleep and hope.
pub fn wait_for_received(api: u16, input: &str, n: u64) {
    wait_for_metric(
        api,
        "weir_component_received_events_total",
        &[&format!("component=\"{input}\""), "kind=\"input\""],
        n as f64,
        Duration::from_secs(60),
    );
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
