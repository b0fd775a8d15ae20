//! End-to-end Kinesis harness: a real `moto_server` stream preloaded with
//! CloudWatch Logs subscription records (gzip'd JSON batches of log events,
//! as CloudWatch delivers them), read by a real `weir run` (kinesis with
//! `format: cloudwatch_subscription` → blackhole) from `TRIM_HORIZON`.
//!
//! Reports records/s and events/s from weir's start until its blackhole has
//! every event, plus weir's CPU seconds and peak RSS. moto is a Python
//! server: its `GetRecords` is usually the bottleneck, so the CPU seconds of
//! weir itself say more about weir's cost than the wall rate.
//!
//! cargo bench --bench e2e_kinesis                       # 20,000 records × 50 events
//! WEIR_KINESIS_RECORDS=50000 cargo bench --bench e2e_kinesis
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke load.

#[path = "support/process.rs"]
mod process;

/// What `tests/common/moto.rs` expects of its parent module.
mod common {
    pub use super::process::free_port;
}
#[path = "../tests/common/moto.rs"]
mod moto;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use process::{cpu_seconds, fetch_metrics, free_port, proc_status, sum_metric};

const SHARDS: u32 = 2;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let records: u64 = std::env::var("WEIR_KINESIS_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 20_000 } else { 200 });
    let per_record: u64 = if full { 50 } else { 10 };
    let events = records * per_record;

    let moto = moto::Moto::start();
    let loaded = Instant::now();
    moto.python(&format!(
        "k = client('kinesis')\n\
         k.create_stream(StreamName='bench', ShardCount={SHARDS})\n\
         base = int(time.time() * 1000)\n\
         def payload(r):\n    \
             return gzip.compress(json.dumps({{'messageType': 'DATA_MESSAGE', 'owner': '123456789012',\n        \
             'logGroup': '/bench/app', 'logStream': 'web-%d' % (r % 8), 'subscriptionFilters': ['all'],\n        \
             'logEvents': [{{'id': str(r * 1000 + i), 'timestamp': base + i,\n            \
             'message': 'GET /api/items/%d 200 %d ms user=u%d region=eu-west-1 trace=%032x' % (i, r % 97, r % 13, r * 1000 + i)}}\n            \
             for i in range({per_record})]}}).encode(), compresslevel=6)\n\
         batch = []\n\
         for r in range({records}):\n    \
             batch.append({{'Data': payload(r), 'PartitionKey': 'k%d' % r}})\n    \
             if len(batch) == 500:\n        k.put_records(StreamName='bench', Records=batch); batch = []\n\
         if batch:\n    k.put_records(StreamName='bench', Records=batch)\n"
    ));
    eprintln!(
        "loaded {records} records into moto in {:.1}s",
        loaded.elapsed().as_secs_f64()
    );

    let api = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = dir.path().join("e2e_kinesis.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\ndata_dir: '{data}'\n\
             inputs:\n  k:\n    type: kinesis\n    stream_name: bench\n    endpoint: '{endpoint}'\n    \
             format: cloudwatch_subscription\n    poll_interval: 100ms\n\
             outputs:\n  sink: {{ type: blackhole }}\n",
            data = dir.path().display(),
            endpoint = moto.endpoint,
        ),
    )
    .expect("write pipeline");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    moto.env(&mut cmd)
        .args(["run", pipeline.to_str().expect("path")])
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn weir");
    let pid = child.id();
    let t0 = Instant::now();
    let limit = Duration::from_secs(if full { 1800 } else { 120 });
    let mut delivered = 0;
    while delivered < events {
        assert!(
            t0.elapsed() < limit,
            "weir delivered {delivered} of {events} events in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
        delivered = sum_metric(
            &fetch_metrics(api),
            "weir_component_sent_events_total",
            "sink",
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid);
    let peak_rss = proc_status(pid, "VmHWM:");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(delivered, events, "events delivered");

    println!(
        "e2e kinesis (moto, {SHARDS} shards) -> cloudwatch_subscription -> blackhole \
         ({records} records of {per_record} log events)"
    );
    println!("  records/s     {:>12.0}", records as f64 / secs);
    println!("  events/s      {:>12.0}", events as f64 / secs);
    println!(
        "  wall seconds  {:>12.3}  (from weir's start, moto included)",
        secs
    );
    println!(
        "  CPU seconds   {:>12.2}  (weir only; {:.0} events per CPU-second)",
        cpu,
        events as f64 / cpu.max(0.001)
    );
    println!(
        "  peak RSS MiB  {:>12.1}",
        peak_rss as f64 / (1 << 20) as f64
    );
}
