//! The TCP input end to end against the real binary: framings, bad input,
//! limits, backpressure and graceful shutdown.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

struct Weir {
    child: Child,
    port: u16,
    /// The API port (`/metrics`).
    api: u16,
    _pipeline: Pipeline,
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts weir with a tcp input (`options` added to it), two workers and a
/// stdout output.
fn start(options: &str, filters: &str) -> Weir {
    start_with_workers(2, options, filters)
}

/// As [`start`], with `workers` worker threads. Only with one worker do events
/// from separate batches of a connection reach the output in the order read.
fn start_with_workers(workers: usize, options: &str, filters: &str) -> Weir {
    let port = free_port();
    let api = free_port();
    let p = pipeline(&format!(
        "api: {{ listen: '127.0.0.1:{api}' }}\nworkers: {workers}\nshutdown_timeout: 20s\n\
         inputs:\n  net: {{ type: tcp, address: '127.0.0.1:{port}'{options} }}\n\
         filters:\n{filters}\noutputs:\n  out: {{ type: stdout }}\n"
    ));
    let child = weir()
        .args(["run", p.path.to_str().expect("path")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir");
    wait_for_port(port);
    Weir {
        child,
        port,
        api,
        _pipeline: p,
    }
}

fn send(port: u16, data: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let local = s.local_addr().expect("addr").port();
    s.write_all(data).expect("write");
    local
}

#[test]
fn json_framing_ndjson_bare_documents_and_bad_lines() {
    let mut w = start(", framing: json", "  - parse: { format: json }");
    let p1 = send(
        w.port,
        b"{\"n\":1}\n{\"n\":2}{\"n\":3}\nplain text\n{\"n\":\n",
    );
    send(w.port, b"{\"bare\":\"no newline, closed\"}");
    send(w.port, b"{\n  \"pretty\": [1,\n 2]\n}\n");
    let stdout = w.child.stdout.take().expect("stdout");
    let mut events = read_json_lines(stdout, 7, Duration::from_secs(20));
    assert_eq!(events.len(), 7, "{events:?}");
    events.sort_by_key(|e| e.to_string());
    let text: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let joined = text.join("\n");
    for n in 1..=3 {
        assert!(joined.contains(&format!("\"n\":{n}")), "{joined}");
    }
    assert!(
        joined.contains("\"bare\":\"no newline, closed\""),
        "{joined}"
    );
    assert!(joined.contains("\"pretty\":[1,2]"), "{joined}");
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e["tags"][0] == "_parse_failure")
        .collect();
    assert_eq!(failures.len(), 2, "{joined}");
    let first = events.iter().find(|e| e["n"] == 1).expect("n=1");
    assert_eq!(first["source"]["ip"], "127.0.0.1");
    assert_eq!(first["source"]["port"], p1);
}

#[test]
fn lines_framing_with_crlf_and_invalid_utf8() {
    // One worker: the unterminated "third" is flushed at end of stream in a
    // batch of its own, which a second worker could deliver first.
    let mut w = start_with_workers(1, "", "  []");
    send(w.port, b"first\r\nsecond \xc3\x28 bad\n\nthird");
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        3,
        Duration::from_secs(20),
    );
    let msgs: Vec<_> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(msgs, ["first", "second \u{fffd}( bad", "third"]);
}

#[test]
fn a_100_megabyte_line_is_truncated_and_memory_stays_bounded() {
    // One worker: "after" may come in a read (a batch) of its own, which a
    // second worker could deliver before the truncated line.
    let mut w = start_with_workers(1, ", max_line_bytes: 1048576", "  []");
    let pid = w.child.id();
    let port = w.port;
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            for _ in 0..400 {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        s.write_all(&chunk).expect("write");
    }
    s.write_all(b"\nafter\n").expect("write");
    drop(s);
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        2,
        Duration::from_secs(60),
    );
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["message"].as_str().map(str::len), Some(1 << 20));
    assert_eq!(events[0]["tags"][0], "_line_truncated");
    assert_eq!(events[1]["message"], "after");
    let _ = watcher.join();
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        peak < 64 << 20,
        "peak RSS {} MiB while a 100 MiB line arrived",
        peak >> 20
    );
}

#[test]
fn a_silent_client_is_closed_after_the_idle_timeout() {
    let mut w = start(", idle_timeout_secs: 1", "  []");
    let mut s = TcpStream::connect(("127.0.0.1", w.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 1];
    let n = s.read(&mut buf).expect("server closes, not a read timeout");
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_millis(900));
    signal(&w.child, "TERM");
    assert!(wait_exit(&mut w.child, Duration::from_secs(20)).success());
    let mut err = String::new();
    w.child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(err.contains("closing idle connection"), "{err}");
}

#[test]
fn thousands_of_connections_and_the_connection_limit() {
    let mut w = start(", max_connections: 3000", "  []");
    let port = w.port;
    // 2000 clients connected at once, each sending one line.
    let conns: Vec<TcpStream> = (0..2000)
        .map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.write_all(format!("client {i}\n").as_bytes())
                .expect("write");
            s
        })
        .collect();
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        2000,
        Duration::from_secs(60),
    );
    assert_eq!(events.len(), 2000);
    let mut ids: Vec<u32> = events
        .iter()
        .filter_map(|e| e["message"].as_str()?.strip_prefix("client ")?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2000);
    drop(conns);

    let mut w = start(", max_connections: 2", "  []");
    // The readiness probe's connection holds a slot until weir has served
    // it. A marker connection, accepted after it (the accept queue is
    // first in, first out), shows it was accepted; no open connection then
    // means both are done and every slot is free.
    send(w.port, b"marker\n");
    let lines = JsonLines::new(w.child.stdout.take().expect("stdout"));
    let marker = lines.take(1, Duration::from_secs(30));
    assert_eq!(marker.len(), 1, "the marker never arrived");
    assert_eq!(marker[0]["message"], "marker");
    let open = |n: f64| {
        wait_for_metric(
            w.api,
            "weir_tcp_connections_open",
            &["component=\"net\""],
            n,
            Duration::from_secs(30),
        )
    };
    open(0.0);
    let _a = TcpStream::connect(("127.0.0.1", w.port)).expect("connect");
    let _b = TcpStream::connect(("127.0.0.1", w.port)).expect("connect");
    // Both served (each holding a slot) before the third arrives.
    open(2.0);
    let mut c = TcpStream::connect(("127.0.0.1", w.port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert_eq!(c.read(&mut [0u8; 1]).expect("closed, not timed out"), 0);
    signal(&w.child, "TERM");
    wait_exit(&mut w.child, Duration::from_secs(20));
    let mut err = String::new();
    w.child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(err.contains("max_connections reached"), "{err}");
}

/// With the output blocked (nobody reads weir's stdout), the sender stalls
/// after a bounded amount of data and weir's memory stays bounded; once the
/// output flows again every line arrives.
#[test]
fn backpressure_stalls_the_sender_and_bounds_memory() {
    let mut w = start("", "  []");
    let pid = w.child.id();
    let line = format!("{}\n", "y".repeat(299));
    let total_lines: u64 = 400_000; // 120 MB
    let written = Arc::new(AtomicU64::new(0));
    let port = w.port;
    let writer = {
        let written = written.clone();
        let line = line.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let batch = line.repeat(100);
            for _ in 0..total_lines / 100 {
                s.write_all(batch.as_bytes()).expect("write");
                written.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        })
    };
    // Wait for the writer to stall: no progress for a second.
    let mut last = 0;
    let mut still = 0;
    let started = Instant::now();
    while still < 10 {
        std::thread::sleep(Duration::from_millis(100));
        let now = written.load(Ordering::Relaxed);
        if now == last {
            still += 1;
        } else {
            still = 0;
            last = now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writer never stalled"
        );
    }
    let stalled_at = written.load(Ordering::Relaxed);
    let rss = rss_bytes(pid);
    assert!(
        stalled_at < 64 << 20,
        "the writer got {} MiB into a blocked pipeline",
        stalled_at >> 20
    );
    assert!(rss < 96 << 20, "weir holds {} MiB while blocked", rss >> 20);
    assert!(!writer.is_finished());

    // Release the output: everything arrives, in order for one connection.
    let stdout = w.child.stdout.take().expect("stdout");
    let counter = std::thread::spawn(move || {
        let mut n = 0u64;
        let mut reader = std::io::BufReader::new(stdout);
        let mut buf = String::new();
        while n < total_lines {
            buf.clear();
            match std::io::BufRead::read_line(&mut reader, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => n += 1,
            }
        }
        n
    });
    writer.join().expect("writer");
    assert_eq!(counter.join().expect("counter"), total_lines);
}

#[test]
fn sigterm_drains_in_flight_events_and_exits_zero() {
    let mut w = start("", "  - set: { field: stage, value: drained }");
    // The output is blocked (stdout unread): events sit in the channels.
    let mut data = String::new();
    for i in 0..2000 {
        data.push_str(&format!("event {i}\n"));
    }
    let mut s = TcpStream::connect(("127.0.0.1", w.port)).expect("connect");
    s.write_all(data.as_bytes()).expect("write");
    // Shutdown stops reading sockets: signal only once everything was read.
    wait_for_received(w.api, "net", 2000);
    signal(&w.child, "TERM");
    let events = read_json_lines(
        w.child.stdout.take().expect("stdout"),
        2000,
        Duration::from_secs(30),
    );
    assert_eq!(events.len(), 2000);
    assert!(events.iter().all(|e| e["stage"] == "drained"));
    let status = wait_exit(&mut w.child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}
