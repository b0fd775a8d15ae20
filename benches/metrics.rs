//! Cost of recording into weir's registry and of rendering it.
//!
//! - `increment/handle`: `Counter::increment` on a handle already obtained — the
//!   hot path every component and filter pays per event (one atomic add).
//! - `increment/facade_static` and `increment/facade_dynamic`: `counter!(…)`
//!   resolved on every call, with static and with owned (per-event) labels.
//! - `increment/direct_api`: `Registry::counter(name, labels, help)` per event,
//!   the cost a metric filter pays when it does not keep handles.
//! - `histogram/record`: one observation into the default 11 buckets.
//! - `render/*`: a full scrape of 10,000 counter series (100 families × 100
//!   label sets) and of 1,000 histogram series, in both formats.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir::telemetry::{Encoder, Format, Registry};

fn increment(c: &mut Criterion) {
    let registry = Registry::new();
    let mut g = c.benchmark_group("increment");
    g.throughput(Throughput::Elements(1));

    let handle = registry.counter(
        "weir_component_received_events_total",
        &[("pipeline", "main"), ("component", "parse")],
        "Events received.",
    );
    g.bench_function("handle", |b| b.iter(|| handle.increment(black_box(1))));

    g.bench_function("facade_static", |b| {
        metrics::with_local_recorder(&registry, || {
            b.iter(|| {
                metrics::counter!("weir_component_received_events_total", "pipeline" => "main", "component" => "parse")
                    .increment(black_box(1))
            })
        })
    });

    let pipeline = String::from("main");
    g.bench_function("facade_dynamic", |b| {
        metrics::with_local_recorder(&registry, || {
            b.iter(|| {
                metrics::counter!("weir_component_received_events_total", "pipeline" => pipeline.clone(), "component" => "parse")
                    .increment(black_box(1))
            })
        })
    });

    g.bench_function("direct_api", |b| {
        b.iter(|| {
            registry
                .counter(
                    "s3_server_errors_total",
                    &[("bucket", black_box("logs-prod"))],
                    "5xx responses.",
                )
                .increment(1)
        })
    });

    let histogram = registry.histogram("weir_batch_seconds", &[], "Batch latency.");
    g.bench_function("histogram_record", |b| {
        b.iter(|| histogram.record(black_box(0.042)))
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let counters = Registry::new();
    for f in 0..100 {
        let name = format!("weir_family_{f}_events_total");
        counters.set_max_series(&name, 1000);
        for s in 0..100 {
            counters
                .counter(
                    &name,
                    &[("pipeline", "main"), ("bucket", &format!("bucket-{s}"))],
                    "Events per bucket.",
                )
                .increment(s * 17 + 1);
        }
    }
    let histograms = Registry::new();
    for s in 0..1000 {
        let h = histograms.histogram(
            "weir_request_duration_seconds",
            &[("route", &format!("/api/{s}"))],
            "Latency.",
        );
        h.record(0.01 * f64::from(s % 50));
    }
    let encoder = Encoder::new().namespace("weir").const_label("env", "prod");

    let mut g = c.benchmark_group("render");
    g.sample_size(30);
    g.throughput(Throughput::Elements(10_000));
    let mut out = String::new();
    for (label, format) in [("text", Format::Text), ("openmetrics", Format::OpenMetrics)] {
        g.bench_function(format!("10k_counters_{label}"), |b| {
            b.iter(|| {
                out.clear();
                encoder.encode(&counters, format, &mut out);
                black_box(out.len())
            })
        });
    }
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("1k_histograms_text", |b| {
        b.iter(|| {
            out.clear();
            encoder.encode(&histograms, Format::Text, &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, increment, render);
criterion_main!(benches);
