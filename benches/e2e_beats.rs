//! End-to-end Beats harness: Filebeat-shaped traffic — compressed windows of
//! 2048 ~300-byte documents — into a real `weir run` (beats → blackhole),
//! with the delivery guarantee in the loop: a window counts as done when
//! weir's ACK for its last sequence number arrives, which weir only sends
//! after the output has the events. Like Filebeat with `pipelining: 2`, each
//! connection keeps two windows in flight.
//!
//! Reports MB/s of decompressed event JSON, events/s, CPU seconds and peak RSS.
//!
//! cargo bench --bench e2e_beats                  # 1,000,000 events
//! WEIR_BEATS_EVENTS=4000000 cargo bench --bench e2e_beats
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke load.

#[path = "support/process.rs"]
mod process;
#[path = "support/workload.rs"]
mod workload;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use process::{cpu_seconds, free_port, proc_status};

const WINDOW: u32 = 2048;
const CONNECTIONS: usize = 2;
const PIPELINING: usize = 2;

/// Sends `windows` on one connection, two in flight, and waits for each
/// window's final ACK (its last sequence number; `ACK(0)` keep-alives and
/// partial ACKs are skipped).
fn ship(port: u16, windows: Vec<bytes::Bytes>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut pending = windows.into_iter();
    let mut in_flight = VecDeque::new();
    loop {
        while in_flight.len() < PIPELINING {
            let Some(w) = pending.next() else { break };
            s.write_all(&w).expect("write window");
            in_flight.push_back(WINDOW);
        }
        let Some(&last_seq) = in_flight.front() else {
            return;
        };
        let mut ack = [0u8; 6];
        s.read_exact(&mut ack).expect("read ACK");
        assert_eq!(&ack[..2], b"2A", "not an ACK frame: {ack:?}");
        if u32::from_be_bytes([ack[2], ack[3], ack[4], ack[5]]) == last_seq {
            in_flight.pop_front();
        }
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let events: u64 = std::env::var("WEIR_BEATS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 20_000 });
    let windows = events.div_ceil(u64::from(WINDOW)) as u32;
    let events = u64::from(windows) * u64::from(WINDOW);

    let mut per_connection: Vec<Vec<bytes::Bytes>> = vec![Vec::new(); CONNECTIONS];
    let mut json_bytes = 0;
    for w in 0..windows {
        let mut wire = BytesMut::new();
        json_bytes += workload::beats_window(w * WINDOW, WINDOW, &mut wire);
        per_connection[w as usize % CONNECTIONS].push(wire.freeze());
    }

    let port = free_port();
    let api = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = dir.path().join("e2e_beats.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\n\
             inputs:\n  beats: {{ type: beats, address: '127.0.0.1:{port}' }}\n\
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
    let cpu_before = cpu_seconds(pid);

    let t0 = Instant::now();
    let shippers: Vec<_> = per_connection
        .into_iter()
        .map(|windows| std::thread::spawn(move || ship(port, windows)))
        .collect();
    for s in shippers {
        s.join().expect("shipper");
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let peak_rss = proc_status(pid, "VmHWM:");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    let mb = json_bytes as f64 / 1e6;
    println!(
        "e2e beats -> blackhole ({events} events in windows of {WINDOW}, {mb:.1} MB of event JSON, \
         {CONNECTIONS} connections, {PIPELINING} windows in flight each)"
    );
    println!("  MB/s          {:>12.1}", mb / secs);
    println!("  events/s      {:>12.0}", events as f64 / secs);
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
}
