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

#[path = "support/harness.rs"]
mod harness;
#[path = "support/process.rs"]
mod process;

/// What `tests/common/moto.rs` expects of its parent module.
mod common {
    pub use super::process::free_port;
}
#[path = "../tests/common/moto.rs"]
mod moto;

use std::time::Duration;

use harness::{full_run, row, size, Weir};

/// An S3 server access log line (AWS's documented sample), varied by `i`.
const ACCESS_LINE: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.{i} 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg-{i}.pdf "PUT /awsexamplebucket1/s3-dg-{i}.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "S3Console/0.4" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#;

fn main() {
    let full = full_run();
    let lines = size("WEIR_E2E_S3_LINES", if full { 1_000_000 } else { 4_000 });
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

    let weir = Weir::start(
        "e2e_s3",
        |api, data| {
            format!(
                "api: {{ listen: '127.0.0.1:{api}' }}\n\
                 data_dir: '{data}'\n\
                 inputs:\n  access:\n    type: s3\n    bucket: access\n    prefix: logs/\n    \
                 format: s3_access\n    endpoint: '{endpoint}'\n    force_path_style: true\n    \
                 settle_time: 0s\n\
                 outputs:\n  sink: {{ type: blackhole }}\n",
                data = data.display(),
                endpoint = moto.endpoint,
            )
        },
        |cmd| {
            moto.env(cmd);
        },
    );
    weir.wait_sent(
        "sink",
        lines,
        Duration::from_millis(10),
        Duration::from_secs(900),
    );
    let usage = weir.stop();

    let mb = bytes as f64 / 1e6;
    println!(
        "e2e s3 (moto) access logs -> parse s3_access -> blackhole ({lines} lines, {objects} objects, {mb:.1} MB)"
    );
    row("events/s", usage.per_second(lines), 0, "");
    row("MB/s", mb / usage.secs, 1, "");
    usage.print("", &usage.cores_busy());
}
