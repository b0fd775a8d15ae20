//! The beats input with real Beats clients (pylogbeat, python-logstash-async)
//! and hand-built frames for protocol errors.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn venv_python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/provision (scripts/test does) to install pylogbeat",
        p.display()
    );
    p
}

struct Weir {
    child: Child,
    port: u16,
    pipeline: Pipeline,
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(outputs: &str) -> Weir {
    let port = free_port();
    let api = free_port();
    let p = pipeline("");
    let outputs = outputs.replace("DIR", &p.dir.path().display().to_string());
    std::fs::write(
        &p.path,
        format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\ninputs:\n  beats: {{ type: beats, address: '127.0.0.1:{port}', keepalive_secs: 1 }}\n\
             outputs:\n{outputs}\n"
        ),
    )
    .expect("write pipeline");
    let child = weir()
        .args(["run", p.path.to_str().expect("path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir");
    wait_for_port(port);
    std::thread::sleep(Duration::from_millis(200));
    Weir {
        child,
        port,
        pipeline: p,
    }
}

/// Runs a pylogbeat script that sends `windows` windows of `per_window`
/// events and prints `acked N` after each acknowledged window.
fn pylogbeat(port: u16, windows: usize, per_window: usize) -> Child {
    let script = format!(
        "import sys\nfrom pylogbeat import PyLogBeatClient\n\
         c = PyLogBeatClient('127.0.0.1', {port}, timeout=30)\nc.connect()\n\
         for w in range({windows}):\n\
         \x20   events = [{{'@timestamp': '2024-05-06T07:08:09.123Z', 'message': 'window %d event %d' % (w, i), \
         'host': {{'name': 'web-1'}}, 'agent': {{'type': 'filebeat', 'version': '8.15.0'}}, \
         '@metadata': {{'beat': 'filebeat', 'version': '8.15.0'}}, 'n': i}} for i in range({per_window})]\n\
         \x20   c.send(events)\n    print('acked', w, flush=True)\n\
         c.close()\n"
    );
    Command::new(venv_python())
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python")
}

#[test]
fn pylogbeat_windows_arrive_with_their_fields_and_are_acknowledged() {
    let mut w = start("  out: { type: stdout }");
    let client = pylogbeat(w.port, 3, 100);
    let out = client.wait_with_output().expect("pylogbeat");
    assert!(
        out.status.success(),
        "pylogbeat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        3,
        "three ACKed windows"
    );
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        300,
        Duration::from_secs(20),
    );
    assert_eq!(events.len(), 300);
    let e = &events[0];
    assert_eq!(e["message"], "window 0 event 0");
    assert_eq!(e["@timestamp"], "2024-05-06T07:08:09.123Z");
    assert_eq!(e["host"]["name"], "web-1");
    assert_eq!(e["agent"]["type"], "filebeat");
    assert!(
        e.get("@metadata").is_none(),
        "@metadata is for the pipeline, not the document: {e}"
    );
    assert!(events.iter().any(|e| e["message"] == "window 2 event 99"));
}

#[test]
fn the_ack_waits_until_the_output_has_the_events() {
    // A file output writing into a FIFO that nobody reads yet: the output is
    // held shut, so the window must not be acknowledged.
    let mut w = start("  held: { type: file, path: 'DIR/fifo' }");
    let fifo = w.pipeline.dir.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let mut client = pylogbeat(w.port, 1, 10);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        client.try_wait().expect("try_wait").is_none(),
        "the client got its ACK while the output was held shut"
    );
    // Open the output: the events flow, then the ACK reaches the client.
    let mut reader = std::fs::File::open(&fifo).expect("open fifo");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = client.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no ACK after the output opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while text.lines().count() < 10 {
        let n = reader.read(&mut buf).expect("read fifo");
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(text.lines().count(), 10);
    signal(&w.child, "TERM");
    wait_exit(&mut w.child, Duration::from_secs(20));
}

#[test]
fn python_logstash_async_beats_transport() {
    let mut w = start("  out: { type: stdout }");
    let script = format!(
        "import logging, time\nfrom logstash_async.handler import AsynchronousLogstashHandler\n\
         h = AsynchronousLogstashHandler('127.0.0.1', {port}, database_path=None, \
         transport='logstash_async.transport.BeatsTransport', ssl_enable=False)\n\
         log = logging.getLogger('app')\nlog.setLevel(logging.INFO)\nlog.addHandler(h)\n\
         for i in range(5):\n    log.info('hello %d', i, extra={{'order_id': i}})\n\
         h.flush()\ntime.sleep(2)\nh.close()\n",
        port = w.port
    );
    let out = Command::new(venv_python())
        .args(["-c", &script])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        5,
        Duration::from_secs(20),
    );
    assert_eq!(events.len(), 5);
    let mut msgs: Vec<String> = events
        .iter()
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect();
    msgs.sort();
    assert_eq!(
        msgs,
        ["hello 0", "hello 1", "hello 2", "hello 3", "hello 4"]
    );
}

fn frame(kind: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b'2', kind];
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn a_non_json_payload_is_kept_tagged_and_acknowledged() {
    let mut w = start("  out: { type: stdout }");
    let mut s = TcpStream::connect(("127.0.0.1", w.port)).expect("connect");
    let mut data = b"2W".to_vec();
    data.extend_from_slice(&2u32.to_be_bytes());
    data.extend(frame(b'J', 1, b"{\"message\":\"fine\"}"));
    data.extend(frame(b'J', 2, b"not json at all"));
    s.write_all(&data).expect("write");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut ack = [0u8; 6];
    s.read_exact(&mut ack).expect("ACK");
    // Keepalives (ACK 0) may come first.
    while ack[2..] == [0, 0, 0, 0] {
        s.read_exact(&mut ack).expect("ACK");
    }
    assert_eq!(
        ack,
        [b'2', b'A', 0, 0, 0, 2],
        "ACK carries the last sequence number"
    );
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        2,
        Duration::from_secs(20),
    );
    assert_eq!(events[0]["message"], "fine");
    assert_eq!(events[1]["message"], "not json at all");
    assert!(events[1]["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x == "_jsonparsefailure")));
}

#[test]
fn protocol_errors_close_only_their_connection() {
    let mut w = start("  out: { type: stdout }");
    let mut bad = TcpStream::connect(("127.0.0.1", w.port)).expect("connect");
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    bad.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(
        bad.read(&mut buf).unwrap_or(0),
        0,
        "the bad connection is closed"
    );
    let client = pylogbeat(w.port, 1, 3);
    let out = client.wait_with_output().expect("pylogbeat");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        3,
        Duration::from_secs(20),
    );
    assert_eq!(events.len(), 3);
    signal(&w.child, "TERM");
    wait_exit(&mut w.child, Duration::from_secs(20));
    let mut err = String::new();
    w.child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(err.contains("protocol error"), "{err}");
}
