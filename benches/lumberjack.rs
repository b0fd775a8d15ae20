//! Decoding Beats windows into events: the CPU cost of the `beats` input per
//! byte of event data, without sockets.
//!
//! Input: windows of 2048 Filebeat-like JSON events of ~300 bytes, in one
//! `C` frame each (zlib level 3, as Filebeat sends them). Throughput is
//! reported in bytes of decompressed event JSON, on one core.
//!
//! Two groups measure the same work: `lumberjack` in wall-clock time (the
//! criterion default) and `lumberjack_cpu` in the thread's CPU time, which
//! stays meaningful on a machine shared with other jobs (a loaded machine
//! halves wall-clock throughput; CPU time only suffers from cache sharing).
//!
//! `cargo bench --bench lumberjack -- --warm-up-time 1 --measurement-time 3`

#[path = "support/workload.rs"]
mod workload;

// The `weir` binary's allocator (src/main.rs), so that building event values
// costs here what it costs in weir.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use chrono::Utc;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_util::codec::Decoder;
use weir::codecs::beats_event::{frame_event, EventOptions};
use weir::codecs::lumberjack::LumberjackCodec;

const EVENTS_PER_WINDOW: u32 = 2048;
const WINDOWS: usize = 4;

/// The wire bytes of `WINDOWS` Filebeat windows and the total event JSON size.
fn session() -> (Bytes, u64) {
    let mut wire = BytesMut::new();
    let mut json_bytes = 0u64;
    for window in 0..WINDOWS as u32 {
        json_bytes +=
            workload::beats_window(window * EVENTS_PER_WINDOW, EVENTS_PER_WINDOW, &mut wire);
    }
    (wire.freeze(), json_bytes)
}

/// CPU time of the measuring thread (Linux `CLOCK_THREAD_CPUTIME_ID`), in
/// nanoseconds: throughput per core whatever else the machine is running.
struct ThreadCpuTime;

static WALL_TIME: WallTime = WallTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, as wall time's are: same formatting.
        WALL_TIME.formatter()
    }
}

fn decode_windows(c: &mut Criterion) {
    bench_group(c, "lumberjack");
}

fn decode_windows_cpu(c: &mut Criterion<ThreadCpuTime>) {
    bench_group(c, "lumberjack_cpu");
}

fn bench_group<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let (wire, json_bytes) = session();
    let events = u64::from(EVENTS_PER_WINDOW) * WINDOWS as u64;
    eprintln!(
        "{name}: {WINDOWS} windows x {EVENTS_PER_WINDOW} events, {} B of JSON (avg {} B/event), {} B on the wire",
        json_bytes,
        json_bytes / events,
        wire.len()
    );
    let options = EventOptions::default();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(json_bytes));

    group.bench_function("frames", |b| {
        b.iter(|| {
            let mut codec = LumberjackCodec::default();
            let mut buf = BytesMut::from(&wire[..]);
            let mut n = 0usize;
            while let Ok(Some(frame)) = codec.decode(&mut buf) {
                n += usize::from(frame.is_data());
                black_box(frame);
            }
            assert_eq!(n as u64, events);
        })
    });

    group.bench_function("events", |b| {
        b.iter(|| {
            let mut codec = LumberjackCodec::default();
            let mut buf = BytesMut::from(&wire[..]);
            let now = Utc::now();
            let mut out = Vec::with_capacity(EVENTS_PER_WINDOW as usize);
            let mut n = 0u64;
            while let Ok(Some(frame)) = codec.decode(&mut buf) {
                if let Some(event) = frame_event(frame, now, &options) {
                    out.push(event);
                    if out.len() == EVENTS_PER_WINDOW as usize {
                        n += out.len() as u64;
                        black_box(std::mem::replace(
                            &mut out,
                            Vec::with_capacity(EVENTS_PER_WINDOW as usize),
                        ));
                    }
                }
            }
            assert_eq!(n, events);
        })
    });
    group.finish();
}

criterion_group!(benches, decode_windows);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = decode_windows_cpu
}
criterion_main!(benches, cpu_benches);
