//! Throughput of `format: syslog` (RFC 5424 and RFC 3164) and of the
//! CloudWatch subscription parser on generated, realistic corpora.
//!
//! Each iteration parses the whole corpus line by line the way the `parse`
//! filter does (lines are `Bytes` slices of one read buffer, results are
//! dropped), so the figures include building and freeing the ECS documents.
//! Target: at least 1.5 M RFC 5424 lines/s per core.
//!
//! Times are the benchmark thread's **CPU time** (`CLOCK_THREAD_CPUTIME_ID`),
//! not wall-clock time: the figures are per core, and stay meaningful on a
//! machine shared with other work (where wall-clock time also counts the time
//! the thread waited for a core).
//!
//! `cargo bench --bench parsers_syslog -- --warm-up-time 1 --measurement-time 3`

/// The allocator the `weir` binary runs with (src/main.rs), so the figures
/// are what a pipeline gets.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir::event::Event;
use weir::parsers::cloudwatch::{CloudwatchSubscriptionOptions, CloudwatchSubscriptionParser};
use weir::parsers::syslog::{SyslogMode, SyslogOptions, SyslogParser, Timezone};
use weir::parsers::{Parsed, Parser};

const LINES: usize = 10_000;

/// CPU time of the calling thread, in nanoseconds, as a criterion measurement.
struct ThreadCpuTime;

fn thread_cpu_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // every Linux kernel supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    /// Nanoseconds, like wall time: reuse criterion's duration formatting.
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const HOSTS: &[&str] = &[
    "ip-10-0-12-34.eu-west-1.compute.internal",
    "web-01.prod.example.com",
    "db-primary",
    "192.0.2.17",
    "lb-7f3a9c",
];
const APPS: &[&str] = &[
    "sshd",
    "nginx",
    "systemd",
    "postfix/smtpd",
    "kernel",
    "app-api",
    "cron",
];
const MESSAGES: &[&str] = &[
    "Accepted publickey for deploy from 203.0.113.9 port 52144 ssh2: ED25519 SHA256:x1y2z3",
    "GET /api/v1/orders?id=42 HTTP/1.1 200 512 0.004",
    "Started Session 1234 of user admin.",
    "connect from unknown[198.51.100.23]",
    "Out of memory: Killed process 4242 (java) total-vm:8123456kB",
    "request completed status=500 latency_ms=231 route=/checkout",
    "(root) CMD (run-parts /etc/cron.hourly)",
];

fn corpus_5424(rng: &mut Rng) -> Bytes {
    let mut buf = Vec::new();
    for i in 0..LINES {
        let pri = rng.below(192);
        let ts = format!(
            "2024-05-{:02}T{:02}:{:02}:{:02}.{:06}{}",
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1_000_000),
            ["Z", "+02:00", "-07:00"][i % 3]
        );
        let sd = match i % 4 {
            0 | 1 => "-".to_owned(),
            2 => format!(
                "[origin ip=\"10.0.{}.{}\" software=\"rsyslogd\"]",
                rng.below(255),
                rng.below(255)
            ),
            _ => format!(
                "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"{}\"][meta sequenceId=\"{}\"]",
                rng.below(10_000),
                i
            ),
        };
        writeln!(
            buf,
            "<{pri}>1 {ts} {} {} {} {} {sd} {}",
            rng.pick(HOSTS),
            rng.pick(APPS).replace('/', "-"),
            rng.below(65_536),
            ["-", "ID47", "AUDIT"][i % 3],
            rng.pick(MESSAGES)
        )
        .unwrap();
    }
    Bytes::from(buf)
}

fn corpus_3164(rng: &mut Rng) -> Bytes {
    const MONTHS: &[&str] = &["Jan", "Feb", "May", "Jun", "Nov", "Dec"];
    let mut buf = Vec::new();
    for i in 0..LINES {
        let pri = rng.below(192);
        let ts = format!(
            "{} {:>2} {:02}:{:02}:{:02}",
            rng.pick(MONTHS),
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60)
        );
        let tag = match i % 3 {
            0 => format!("{}[{}]:", rng.pick(APPS), rng.below(65_536)),
            1 => format!("{}:", rng.pick(APPS)),
            _ => format!("{}[{}]:", rng.pick(APPS), rng.below(1000)),
        };
        writeln!(
            buf,
            "<{pri}>{ts} {} {tag} {}",
            rng.pick(HOSTS),
            rng.pick(MESSAGES)
        )
        .unwrap();
    }
    Bytes::from(buf)
}

/// The lines of `corpus` as slices of it, terminators excluded, as an input's
/// line framing hands them on.
fn lines(corpus: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(LINES);
    let mut start = 0;
    for (i, &c) in corpus.iter().enumerate() {
        if c == b'\n' {
            out.push(corpus.slice(start..i));
            start = i + 1;
        }
    }
    out
}

fn run(parser: &dyn Parser, lines: &[Bytes], event: &Event, out: &mut Vec<Parsed>) -> usize {
    let mut n = 0;
    for line in lines {
        if parser.parse(line, event, out).is_ok() {
            n += 1;
        }
        out.clear();
    }
    n
}

fn bench_syslog(c: &mut Criterion<ThreadCpuTime>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let now: DateTime<Utc> = DateTime::from_timestamp(1_717_243_200, 0).unwrap(); // 2024-06-01
    let utc = Timezone::parse("UTC").unwrap();
    let parser = SyslogParser::with_clock(
        SyslogOptions {
            mode: SyslogMode::Auto,
            timezone: utc,
        },
        Arc::new(move || now),
    );
    let event = Event::new(Bytes::new(), now);
    let mut out = Vec::with_capacity(1);

    for (name, corpus) in [
        ("rfc5424", corpus_5424(&mut rng)),
        ("rfc3164", corpus_3164(&mut rng)),
    ] {
        let lines = lines(&corpus);
        assert_eq!(
            run(&parser, &lines, &event, &mut out),
            LINES,
            "{name} corpus must parse"
        );
        let bytes: usize = lines.iter().map(Bytes::len).sum();
        let mut group = c.benchmark_group(format!("syslog/{name}"));
        group.throughput(Throughput::Elements(lines.len() as u64));
        group.bench_function("lines", |b| {
            b.iter(|| black_box(run(&parser, &lines, &event, &mut out)))
        });
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function("bytes", |b| {
            b.iter(|| black_box(run(&parser, &lines, &event, &mut out)))
        });
        group.finish();
    }

    // Local time zone (DST-aware conversion through chrono) for comparison.
    let local = SyslogParser::with_clock(
        SyslogOptions {
            mode: SyslogMode::Auto,
            timezone: Timezone::Local,
        },
        Arc::new(move || now),
    );
    let corpus = corpus_3164(&mut rng);
    let lines = lines(&corpus);
    let mut group = c.benchmark_group("syslog/rfc3164_local_tz");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("lines", |b| {
        b.iter(|| black_box(run(&local, &lines, &event, &mut out)))
    });
    group.finish();
}

fn bench_cloudwatch(c: &mut Criterion<ThreadCpuTime>) {
    // One Kinesis record: a gzip'd batch of 100 log events, as CloudWatch sends.
    let events: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"id":"3195310660696698337880902507980421114328961542429822{i:04}","timestamp":{},"message":"{}"}}"#,
                1_717_243_200_000u64 + i,
                MESSAGES[i as usize % MESSAGES.len()]
            )
        })
        .collect();
    let json = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"111111111111","logGroup":"/aws/lambda/checkout","logStream":"2024/06/01/[$LATEST]0123456789abcdef","subscriptionFilters":["to-weir"],"logEvents":[{}]}}"#,
        events.join(",")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(json.as_bytes()).unwrap();
    let record = Bytes::from(gz.finish().unwrap());
    let parser = CloudwatchSubscriptionParser::new(CloudwatchSubscriptionOptions::default());
    let event = Event::new(record.clone(), Utc::now());
    let mut out = Vec::with_capacity(100);
    let mut group = c.benchmark_group("cloudwatch_subscription");
    group.throughput(Throughput::Elements(100));
    group.bench_function("gzip_batch_of_100", |b| {
        b.iter(|| {
            parser.parse(&record, &event, &mut out).unwrap();
            let n = out.len();
            out.clear();
            black_box(n)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_syslog, bench_cloudwatch
}
criterion_main!(benches);
