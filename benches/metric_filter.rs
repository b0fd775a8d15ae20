//! Log-derived metrics per event, one core: `metric_filter` and `tag_errors`.
//!
//! - `metric_filter/counter_2dims_*`: a counter with two dimensions (`host`,
//!   `http.status`: 128 distinct tuples) on parsed ~300-byte JSON events, the
//!   pattern matching every event (`all`) or the 5xx quarter (`5xx`). Measures
//!   the cached-handle hot path: pattern, two selectors, key encoding, one
//!   read-locked lookup, one atomic add.
//! - `metric_filter/histogram_value`: `value: $.duration_ms` into a histogram.
//! - `metric_filter/delimited_2dims`: a space-delimited pattern on raw access
//!   lines, value and dimensions from its captures.
//! - `tag_errors/builtin_*`: the shipped catalog (all rules tried when none
//!   matches, the common case) on parsed JSON events, on plain text lines,
//!   and on JSON lines that were never parsed (parsed once by the filter).
//!   `WEIR_BENCH_RULES=1` also prints each rule's own cost.
//!
//! Besides criterion's wall-clock figures each case prints its thread CPU
//! time per event, which stays meaningful on a shared, busy machine.
//!
//! Run: `cargo bench --bench metric_filter -- --warm-up-time 1 --measurement-time 3`

#[path = "support/workload.rs"]
mod workload;

use std::hint::black_box;

use bytes::Bytes;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir::config::yaml;
use weir::event::{Event, Value};
use weir::filters::metric_filter::MetricFilter;
use weir::filters::tag_errors::{parse_catalog, CatalogEntry, TagErrors, BUILTIN_CATALOG};
use weir::filters::{BuildContext, Filter, FilterContext};
use weir::parsers::json::parse_value;
use weir::telemetry::Registry;

const EVENTS: u64 = 4096;

fn cx() -> BuildContext {
    BuildContext {
        pipeline: "bench".into(),
        component: "bench#0".into(),
    }
}

fn raw_json() -> Vec<Event> {
    let mut rng = workload::Rng::new(7);
    (0..EVENTS)
        .map(|i| Event::new(Bytes::from(workload::json_line(&mut rng, i)), Utc::now()))
        .collect()
}

fn parsed(raw: &[Event]) -> Vec<Event> {
    raw.iter()
        .map(|e| {
            let mut e = e.clone();
            if let Ok(Value::Object(fields)) = parse_value(&e.message) {
                e.fields = fields;
                e.meta.message_consumed = true;
            }
            e
        })
        .collect()
}

fn access_lines() -> Vec<Event> {
    let mut rng = workload::Rng::new(11);
    let users = ["-", "frank", "alice", "svc-batch"];
    let statuses = ["200", "200", "200", "304", "404", "500", "503"];
    (0..EVENTS)
        .map(|_| {
            let line = format!(
                "10.0.{}.{} - {} [10/Oct/2024:13:{:02}:{:02} -0700] \"GET /api/v1/items/{} HTTP/1.1\" {} {}",
                rng.next_u64() % 256,
                rng.next_u64() % 256,
                rng.pick(&users),
                rng.next_u64() % 60,
                rng.next_u64() % 60,
                rng.next_u64() % 1000,
                rng.pick(&statuses),
                rng.next_u64() % 20_000,
            );
            Event::new(Bytes::from(line), Utc::now())
        })
        .collect()
}

fn text_lines() -> Vec<Event> {
    let mut rng = workload::Rng::new(13);
    let texts = [
        "request handled",
        "cache miss for key user:1842",
        "retrying batch 17 of 40",
        "slow query detected on orders table",
        "connection pool at 80% capacity",
    ];
    (0..EVENTS)
        .map(|i| {
            let line = format!(
                "2024-05-06T07:08:{:02}Z INFO [worker-{}] {} path=/api/v1/orders status=200",
                i % 60,
                rng.next_u64() % 16,
                rng.pick(&texts)
            );
            Event::new(Bytes::from(line), Utc::now())
        })
        .collect()
}

/// This thread's CPU time in nanoseconds (first field of
/// `/proc/thread-self/schedstat`): unlike wall time it does not count the time
/// other processes on a busy 2-core machine take from the benchmark.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU nanoseconds per event of `f` over `events`, run for about `rounds` passes.
fn cpu_ns_per_event(events: usize, rounds: usize, mut f: impl FnMut()) -> Option<f64> {
    f(); // warm caches and handles
    let start = thread_cpu_ns()?;
    for _ in 0..rounds {
        f();
    }
    let spent = thread_cpu_ns()?.saturating_sub(start);
    Some(spent as f64 / (events * rounds) as f64)
}

fn run_filter(c: &mut Criterion, group: &str, name: &str, filter: &dyn Filter, events: &[Event]) {
    {
        let mut batch = events.to_vec();
        let mut fcx = FilterContext::default();
        if let Some(ns) = cpu_ns_per_event(events.len(), 100, || {
            filter.process(black_box(&mut batch), &mut fcx)
        }) {
            eprintln!("{group}/{name}: {ns:.0} ns of thread CPU time per event");
        }
    }
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function(name, |b| {
        // The filters never remove events, so one batch is reused; cloning
        // it per iteration would dominate. `Filter::process` takes `&mut Vec`.
        let mut batch = events.to_vec();
        let mut fcx = FilterContext::default();
        b.iter(|| filter.process(black_box(&mut batch), &mut fcx))
    });
    g.finish();
}

fn metric_filter(c: &mut Criterion) {
    let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
    let build = |yaml_text: &str| {
        let node = yaml::parse(yaml_text).expect("bench YAML");
        MetricFilter::build(&node, &cx(), registry).expect("bench metric filter")
    };
    let raw = raw_json();
    let events = parsed(&raw);
    let all = build(
        "name: requests_total\npattern: '{ $.http.status = * }'\ndimensions: { host: $.host, status: $.http.status }\n",
    );
    run_filter(c, "metric_filter", "counter_2dims_all", &all, &events);
    let five = build(
        "name: server_errors_total\npattern: '{ $.http.status >= 500 }'\ndimensions: { host: $.host, status: $.http.status }\n",
    );
    run_filter(c, "metric_filter", "counter_2dims_5xx", &five, &events);
    let hist = build(
        "name: duration_ms\nkind: histogram\npattern: '{ $.duration_ms = * }'\nvalue: $.duration_ms\nbuckets: [5, 10, 50, 100, 500, 1000]\n",
    );
    run_filter(c, "metric_filter", "histogram_value", &hist, &events);
    let access = access_lines();
    let delimited = build(
        "name: access_bytes_total\npattern: '[ip, identity, user, timestamp, request, status, bytes]'\nvalue: $bytes\ndimensions: { user: $user, status: $status }\n",
    );
    run_filter(c, "metric_filter", "delimited_2dims", &delimited, &access);
}

fn tag_errors(c: &mut Criterion) {
    let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
    let node = yaml::parse("{}").expect("bench YAML");
    let filter = TagErrors::build(&node, &cx(), registry).expect("shipped catalog");
    eprintln!("tag_errors: {} rules", filter.len());
    let raw = raw_json();
    let events = parsed(&raw);
    let text = text_lines();
    // Where the time goes: each rule's pattern (and each group's gate) alone,
    // on events it does not match. `WEIR_BENCH_RULES=1` to print it.
    if std::env::var_os("WEIR_BENCH_RULES").is_some() {
        let per = |pattern: &weir::pattern::Pattern, evs: &[Event]| {
            cpu_ns_per_event(evs.len(), 200, || {
                for e in evs {
                    black_box(pattern.matches(black_box(e)));
                }
            })
            .unwrap_or(f64::NAN)
        };
        for entry in parse_catalog(BUILTIN_CATALOG, "builtin").expect("shipped catalog") {
            let (indent, rules) = match &entry {
                CatalogEntry::Group { name, when, rules } => {
                    eprintln!(
                        "  group {name:<20} parsed JSON {:>5.0} ns  text {:>5.0} ns",
                        per(when, &events),
                        per(when, &text)
                    );
                    ("    ", rules.as_slice())
                }
                CatalogEntry::Rule(r) => ("  ", std::slice::from_ref(r)),
            };
            for rule in rules {
                eprintln!(
                    "{indent}{:<26} parsed JSON {:>5.0} ns  text {:>5.0} ns",
                    rule.code,
                    per(&rule.pattern, &events),
                    per(&rule.pattern, &text)
                );
            }
        }
    }
    run_filter(c, "tag_errors", "builtin_parsed_json", &filter, &events);
    run_filter(c, "tag_errors", "builtin_text_lines", &filter, &text);
    run_filter(c, "tag_errors", "builtin_unparsed_json", &filter, &raw);
}

criterion_group!(benches, metric_filter, tag_errors);
criterion_main!(benches);
