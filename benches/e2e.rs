//! End-to-end throughput harness: a generated NDJSON workload streamed over
//! loopback TCP into a real `weir run` (tcp → parse json → blackhole).
//! Reports events/s, MB/s, CPU seconds, peak RSS and idle RSS.
//!
//! cargo bench --bench e2e                  # 1,000,000 lines of ~300 bytes
//! WEIR_E2E_LINES=5000000 cargo bench --bench e2e
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke load.

#[path = "support/process.rs"]
mod process;
#[path = "support/workload.rs"]
mod workload;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};

use process::{cpu_seconds, fetch_metrics, free_port, proc_status, sum_metric};
use std::time::{Duration, Instant};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let lines: u64 = std::env::var("WEIR_E2E_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 20_000 });
    let connections = 2;

    let data = workload::ndjson(lines);
    let bytes = data.len();
    // Split on line boundaries for the parallel connections.
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..=connections {
        let mut end = bytes * i / connections;
        while end < bytes && data[end - 1] != b'\n' {
            end += 1;
        }
        parts.push(data[start..end].to_vec());
        start = end;
    }

    let port = free_port();
    let api = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = dir.path().join("e2e.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\n\
             inputs:\n  net: {{ type: tcp, address: '127.0.0.1:{port}', framing: json }}\n\
             filters:\n  - parse: {{ format: json }}\n\
             outputs:\n  sink: {{ type: blackhole }}\n"
        ),
    )
    .expect("write pipeline");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", pipeline.to_str().expect("path")])
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn weir");
    let pid = child.id();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "weir did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = proc_status(pid, "VmRSS:");
    let cpu_before = cpu_seconds(pid);

    let t0 = Instant::now();
    let writers: Vec<_> = parts
        .into_iter()
        .map(|part| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                for chunk in part.chunks(256 * 1024) {
                    s.write_all(chunk).expect("write");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    loop {
        let sent = sum_metric(
            &fetch_metrics(api),
            "weir_component_sent_events_total",
            "sink",
        );
        if sent >= lines {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "only {sent} of {lines} events arrived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let peak_rss = proc_status(pid, "VmHWM:");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    let mb = bytes as f64 / 1e6;
    println!(
        "e2e tcp json -> parse json -> blackhole ({} lines, {:.1} MB, {connections} connections)",
        lines, mb
    );
    println!("  events/s      {:>12.0}", lines as f64 / secs);
    println!("  MB/s          {:>12.1}", mb / secs);
    println!("  wall seconds  {:>12.3}", secs);
    println!(
        "  CPU seconds   {:>12.2}  ({:.2} cores busy)",
        cpu,
        cpu / secs
    );
    println!(
        "  peak RSS MiB  {:>12.1}",
        peak_rss as f64 / (1 << 20) as f64
    );
    println!(
        "  idle RSS MiB  {:>12.1}",
        idle_rss as f64 / (1 << 20) as f64
    );
}
