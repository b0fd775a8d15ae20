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

use std::time::{Duration, Instant};

use harness::{full_run, row, size, Weir};

const SHARDS: u32 = 2;

fn main() {
    let full = full_run();
    let records = size("WEIR_KINESIS_RECORDS", if full { 20_000 } else { 200 });
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

    let weir = Weir::start(
        "e2e_kinesis",
        |api, data| {
            format!(
                "api: {{ listen: '127.0.0.1:{api}' }}\ndata_dir: '{data}'\n\
                 inputs:\n  k:\n    type: kinesis\n    stream_name: bench\n    endpoint: '{endpoint}'\n    \
                 format: cloudwatch_subscription\n    poll_interval: 100ms\n\
                 outputs:\n  sink: {{ type: blackhole }}\n",
                data = data.display(),
                endpoint = moto.endpoint,
            )
        },
        |cmd| {
            moto.env(cmd);
        },
    );
    let limit = Duration::from_secs(if full { 1800 } else { 120 });
    let delivered = weir.wait_sent("sink", events, Duration::from_millis(50), limit);
    let usage = weir.stop();
    assert_eq!(delivered, events, "events delivered");

    println!(
        "e2e kinesis (moto, {SHARDS} shards) -> cloudwatch_subscription -> blackhole \
         ({records} records of {per_record} log events)"
    );
    row("records/s", usage.per_second(records), 0, "");
    row("events/s", usage.per_second(events), 0, "");
    usage.print(
        "(from weir's start, moto included)",
        &format!(
            "(weir only; {:.0} events per CPU-second)",
            events as f64 / usage.cpu.max(0.001)
        ),
    );
}
