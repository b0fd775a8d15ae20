//! Filter-pattern throughput per form, on realistic generated lines, one core.
//!
//! Targets (per core): term ≥ 5 M lines/s, JSON on parsed events ≥ 3 M
//! events/s, space-delimited ≥ 2 M lines/s. Criterion reports elements/s; one
//! element is one event matched.
//!
//! Run: `cargo bench --bench patterns -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::Bytes;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir::event::{Event, Value};
use weir::parsers::json::parse_value;
use weir::pattern::Pattern;

const LINES: usize = 4096;

/// A small deterministic generator, so every run sees the same lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const PATHS: &[&str] = &[
    "/api/v1/users/1842",
    "/api/v1/orders?page=3",
    "/static/app.3f9a1c.js",
    "/index.html",
    "/api/v2/items/42/reviews",
    "/healthz",
];
const STATUSES: &[&str] = &["200", "200", "200", "200", "304", "404", "500", "503"];

/// Application log lines: timestamp, level, thread, free text.
fn app_lines(rng: &mut Rng) -> Vec<Event> {
    let texts = [
        "request handled",
        "cache miss for key user:1842",
        "upstream timeout after 3000 ms",
        "connection refused by 10.0.3.17:5432",
        "retrying batch 17 of 40",
        "slow query detected on orders table",
    ];
    (0..LINES)
        .map(|i| {
            let level = match rng.below(100) {
                0..=2 => "ERROR",
                3..=8 => "WARN",
                9..=30 => "DEBUG",
                _ => "INFO",
            };
            let line = format!(
                "2024-05-06T07:08:{:02}.{:03}Z {level} [worker-{}] {} path={} status={} duration_ms={}",
                i % 60,
                rng.below(1000),
                rng.below(16),
                rng.pick(&texts),
                rng.pick(PATHS),
                rng.pick(STATUSES),
                rng.below(5000),
            );
            Event::new(Bytes::from(line), Utc::now())
        })
        .collect()
}

/// Access log lines in the common log format (quoted request, bracketed time).
fn access_lines(rng: &mut Rng) -> Vec<Event> {
    let methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
    let users = ["-", "frank", "alice", "svc-batch"];
    (0..LINES)
        .map(|_| {
            let line = format!(
                "10.0.{}.{} - {} [10/Oct/2024:13:{:02}:{:02} -0700] \"{} {} HTTP/1.1\" {} {}",
                rng.below(256),
                rng.below(256),
                rng.pick(&users),
                rng.below(60),
                rng.below(60),
                rng.pick(&methods),
                rng.pick(PATHS),
                rng.pick(STATUSES),
                rng.below(20_000),
            );
            Event::new(Bytes::from(line), Utc::now())
        })
        .collect()
}

/// JSON events, raw (as read) and parsed into fields (as after `parse`).
fn json_events(rng: &mut Rng) -> (Vec<Event>, Vec<Event>) {
    let raw: Vec<Event> = (0..LINES)
        .map(|i| {
            let line = format!(
                r#"{{"@timestamp":"2024-05-06T07:08:{:02}Z","level":"info","http":{{"method":"GET"}},"status":{},"path":"{}","bytes":{},"user":{{"id":{},"name":"u{}"}},"service":"checkout","trace_id":"{:016x}"}}"#,
                i % 60,
                rng.pick(STATUSES),
                rng.pick(PATHS),
                rng.below(20_000),
                rng.below(10_000),
                rng.below(10_000),
                rng.next(),
            );
            Event::new(Bytes::from(line), Utc::now())
        })
        .collect();
    let parsed = raw
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Ok(Value::Object(fields)) = parse_value(&e.message) {
                e.fields = fields;
            }
            e
        })
        .collect();
    (raw, parsed)
}

fn bench_form(c: &mut Criterion, group: &str, cases: &[(&str, &str, &[Event])]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(LINES as u64));
    for (name, text, events) in cases {
        let pattern = Pattern::compile(text).expect("bench patterns compile");
        let hits = events.iter().filter(|e| pattern.matches(e)).count();
        eprintln!("{group}/{name}: `{text}` matches {hits} of {LINES}");
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut n = 0usize;
                for e in events.iter() {
                    n += usize::from(pattern.matches(black_box(e)));
                }
                n
            })
        });
    }
    g.finish();
}

fn patterns(c: &mut Criterion) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let app = app_lines(&mut rng);
    let access = access_lines(&mut rng);
    let (json_raw, json_parsed) = json_events(&mut rng);

    bench_form(
        c,
        "term",
        &[
            ("and_not", "ERROR -DEBUG", &app),
            ("or", r#"?timeout ?"connection refused""#, &app),
            ("phrase", r#""slow query" status=5"#, &app),
            ("regex", r"%status=5\d\d%", &app),
        ],
    );
    bench_form(
        c,
        "json",
        &[
            (
                "parsed",
                r#"{ $.status >= 500 && $.path = "/api/*" }"#,
                &json_parsed,
            ),
            (
                "parsed_nested",
                "{ $.user.id < 100 || $.http.method = POST }",
                &json_parsed,
            ),
            (
                "raw_lazy_parse",
                r#"{ $.status >= 500 && $.path = "/api/*" }"#,
                &json_raw,
            ),
        ],
    );
    bench_form(
        c,
        "delimited",
        &[
            (
                "ellipsis",
                "[ip, user, ..., status=5*, bytes>1000]",
                &access,
            ),
            (
                "all_fields",
                "[ip, ident, user, timestamp, request = *.html*, status = 4*, bytes]",
                &access,
            ),
        ],
    );
}

criterion_group!(benches, patterns);
criterion_main!(benches);
