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

#[path = "support/harness.rs"]
mod harness;
#[path = "support/process.rs"]
mod process;
#[path = "support/workload.rs"]
mod workload;

use bytes::BytesMut;
use harness::{full_run, row, size, Weir};
use process::free_port;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;

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
    let events = size(
        "WEIR_BEATS_EVENTS",
        if full_run() { 1_000_000 } else { 20_000 },
    );
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
    let mut weir = Weir::start(
        "e2e_beats",
        |api, _| {
            format!(
                "api: {{ listen: '127.0.0.1:{api}' }}\n\
                 inputs:\n  beats: {{ type: beats, address: '127.0.0.1:{port}' }}\n\
                 outputs:\n  sink: {{ type: blackhole }}\n"
            )
        },
        |_| {},
    );
    weir.wait_for_port(port);

    weir.measure_from_now();
    let shippers: Vec<_> = per_connection
        .into_iter()
        .map(|windows| std::thread::spawn(move || ship(port, windows)))
        .collect();
    for s in shippers {
        s.join().expect("shipper");
    }
    let usage = weir.stop();

    let mb = json_bytes as f64 / 1e6;
    println!(
        "e2e beats -> blackhole ({events} events in windows of {WINDOW}, {mb:.1} MB of event JSON, \
         {CONNECTIONS} connections, {PIPELINING} windows in flight each)"
    );
    row("MB/s", mb / usage.secs, 1, "");
    row("events/s", usage.per_second(events), 0, "");
    usage.print("", &usage.cores_busy());
}
