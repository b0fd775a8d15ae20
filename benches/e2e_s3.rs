//! End-to-end throughput harness for the `s3` input: generated S3 server
//! access-log objects in a real `moto_server` bucket, read by a real
//! `weir run` (s3 polling → format s3_access → blackhole). Reports events/s,
//! MB/s (object bytes), CPU seconds and peak RSS.
//!
//! cargo bench --bench e2e_s3                 # 8 objects, 1,000,000 lines (~330 MB)
//! WEIR_E2E_S3_LINES=3000000 cargo bench --bench e2e_s3
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke load.
//! moto serves objects from Python: at high rates it, not weir, can be the
//! limit (compare weir's CPU seconds with the wall time).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/moto.rs"]
mod moto;
#[path = "support/process.rs"]
mod process;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use process::{cpu_seconds, fetch_metrics, free_port, proc_status, sum_metric};

/// An S3 server access log line (AWS's documented sample), varied by `i`.
const ACCESS_LINE: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.{i} 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg-{i}.pdf "PUT /awsexamplebucket1/s3-dg-{i}.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "S3Console/0.4" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let lines: u64 = std::env::var("WEIR_E2E_S3_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 4_000 });
    let objects: u64 = if full { 8 } else { 2 };
    let per_object = lines.div_ceil(objects);
    let lines = per_object * objects;

    let moto = moto::Moto::start();
    let bytes: u64 = moto
        .python(&format!(
            r#"
LINE = r'''{ACCESS_LINE}'''
s3 = client('s3')
s3.create_bucket(Bucket='access')
total = 0
for o in range({objects}):
    body = ''.join(LINE.replace('{{i}}', str(i % 250)) + '\n' for i in range({per_object})).encode()
    total += len(body)
    s3.put_object(Bucket='access', Key=f'logs/2024-05-01-00-00-{{o:02}}-ABCDEF', Body=body)
print(total)
"#
        ))
        .trim()
        .parse()
        .expect("object bytes");

    let api = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = dir.path().join("e2e_s3.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\n\
             data_dir: '{data}'\n\
             inputs:\n  access:\n    type: s3\n    bucket: access\n    prefix: logs/\n    \
             format: s3_access\n    endpoint: '{endpoint}'\n    force_path_style: true\n    \
             settle_time: 0s\n\
             outputs:\n  sink: {{ type: blackhole }}\n",
            data = dir.path().join("data").display(),
            endpoint = moto.endpoint,
        ),
    )
    .expect("write pipeline");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    moto.env(&mut cmd);
    let t0 = Instant::now();
    let mut child = cmd
        .args(["run", pipeline.to_str().expect("path")])
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn weir");
    let pid = child.id();
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
            t0.elapsed() < Duration::from_secs(900),
            "only {sent} of {lines} events arrived"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid);
    let peak_rss = proc_status(pid, "VmHWM:");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();

    let mb = bytes as f64 / 1e6;
    println!(
        "e2e s3 (moto) access logs -> parse s3_access -> blackhole ({lines} lines, {objects} objects, {mb:.1} MB)"
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
}
