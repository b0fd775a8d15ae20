//! End-to-end throughput harness: a generated NDJSON workload streamed over
//! loopback TCP into a real `weir run` (tcp → parse json → blackhole).
//! Reports events/s, MB/s, CPU seconds, peak RSS and idle RSS.
//!
//! cargo bench --bench e2e                  # 1,000,000 lines of ~300 bytes
//! WEIR_E2E_LINES=5000000 cargo bench --bench e2e
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke load.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/process.rs"]
mod process;
#[path = "support/workload.rs"]
mod workload;

use std::time::Duration;

use harness::{full_run, row, send_tcp, size, Weir};
use process::free_port;

fn main() {
    let lines = size(
        "WEIR_E2E_LINES",
        if full_run() { 1_000_000 } else { 20_000 },
    );
    let connections = 2;
    let data = workload::ndjson(lines);
    let bytes = data.len();
    let parts = workload::split_lines(&data, connections);

    let port = free_port();
    let mut weir = Weir::start(
        "e2e",
        |api, _| {
            format!(
                "api: {{ listen: '127.0.0.1:{api}' }}\n\
                 inputs:\n  net: {{ type: tcp, address: '127.0.0.1:{port}', framing: json }}\n\
                 filters:\n  - parse: {{ format: json }}\n\
                 outputs:\n  sink: {{ type: blackhole }}\n"
            )
        },
        |_| {},
    );
    weir.wait_for_port(port);
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = weir.rss();

    weir.measure_from_now();
    send_tcp(port, &parts);
    weir.wait_sent(
        "sink",
        lines,
        Duration::from_millis(5),
        Duration::from_secs(600),
    );
    let usage = weir.stop();

    let mb = bytes as f64 / 1e6;
    println!(
        "e2e tcp json -> parse json -> blackhole ({lines} lines, {mb:.1} MB, {connections} connections)"
    );
    row("events/s", usage.per_second(lines), 0, "");
    row("MB/s", mb / usage.secs, 1, "");
    usage.print("", &usage.cores_busy());
    row("idle RSS MiB", idle_rss as f64 / (1 << 20) as f64, 1, "");
}
