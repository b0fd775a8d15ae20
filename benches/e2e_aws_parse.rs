//! End-to-end cost of parsing AWS logs and writing them out: generated S3
//! server access log and VPC flow log lines streamed over loopback TCP into
//! a real `weir run` (tcp lines → parse s3_access / vpc_flow → file output
//! writing NDJSON to /dev/null), so the JSON encoding an output does is
//! measured with the parser. Reports events/s, MB/s, CPU seconds and peak
//! RSS per format.
//!
//! cargo bench --bench e2e_aws_parse          # 500,000 S3 + 1,000,000 VPC lines
//! WEIR_E2E_AWS_LINES=2000000 cargo bench --bench e2e_aws_parse
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke load.

#[path = "support/aws_lines.rs"]
mod aws_lines;
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
        "WEIR_E2E_AWS_LINES",
        if full_run() { 1_000_000 } else { 10_000 },
    );
    // S3 access records are about five times as long as VPC flow records.
    let s3 = aws_lines::s3_lines((lines / 2) as usize);
    run("s3_access", &s3);
    let vpc = aws_lines::vpc_lines(lines as usize, false);
    run("vpc_flow", &vpc);
}

/// One measured run of `format` over `lines`.
fn run(format: &str, lines: &[String]) {
    let mut data = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
    }
    let bytes = data.len();
    let parts = workload::split_lines(&data, 1);
    let port = free_port();
    let mut weir = Weir::start(
        format,
        |api, _| {
            format!(
                "api: {{ listen: '127.0.0.1:{api}' }}\n\
                 inputs:\n  net: {{ type: tcp, address: '127.0.0.1:{port}', framing: lines }}\n\
                 filters:\n  - parse: {{ format: {format} }}\n\
                 outputs:\n  sink: {{ type: file, path: /dev/null }}\n"
            )
        },
        |_| {},
    );
    weir.wait_for_port(port);
    weir.measure_from_now();
    send_tcp(port, &parts);
    let count = lines.len() as u64;
    weir.wait_sent(
        "sink",
        count,
        Duration::from_millis(5),
        Duration::from_secs(600),
    );
    let usage = weir.stop();
    let mb = bytes as f64 / 1e6;
    println!(
        "e2e tcp lines -> parse {format} -> file (NDJSON) ({count} lines, {mb:.1} MB, 1 connection)"
    );
    row("events/s", usage.per_second(count), 0, "");
    row("MB/s", mb / usage.secs, 1, "");
    row(
        "events/CPU-s",
        count as f64 / usage.cpu.max(1e-9),
        0,
        "(lines per CPU-second of weir)",
    );
    usage.print("", &usage.cores_busy());
}
