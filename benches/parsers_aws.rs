//! Throughput of the AWS log parsers (`s3_access`, `vpc_flow`) on generated
//! corpora shaped like real traffic: lines are `Bytes` slices of one buffer,
//! as an input's framing hands them out, and every parsed record is dropped
//! again inside the measured loop, as it would be once delivered.
//!
//! Run: `cargo bench --bench parsers_aws -- --warm-up-time 1 --measurement-time 3`.
//! Criterion reports lines/s; the corpus size printed first converts that to
//! MB/s.
//!
//! Before criterion runs, three CPU-time figures are printed per corpus (see
//! [`cpu_time_rate`]): `parse` alone; `parse + JSON`, the cost of a pipeline
//! that parses and ships (each record applied to an event as the `parse`
//! filter does, then encoded with the outputs' JSON encoder); and
//! `parse + tree`, the cost when a filter reads the fields, which builds the
//! record's field tree (a parser's `FlatDoc` stays deferred until then).

/// The allocator the `weir` binary runs with (src/main.rs), so the figures
/// are what a pipeline gets.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

use weir::config::{from_node, yaml};
use weir::event::{json, Event, Value};
use weir::parsers::s3_access::{S3AccessOptions, S3AccessParser};
use weir::parsers::vpc_flow::VpcFlowParser;
use weir::parsers::{Parsed, Parser};

const LINES: usize = 10_000;

/// A small deterministic generator (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }

    fn alnum(&mut self, len: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| char::from(A[self.below(A.len() as u64) as usize]))
            .collect()
    }

    fn ip(&mut self) -> String {
        if self.below(20) == 0 {
            format!("2001:db8:{:x}::{:x}", self.below(65536), self.below(65536))
        } else {
            format!(
                "{}.{}.{}.{}",
                self.below(223) + 1,
                self.below(256),
                self.below(256),
                self.below(254) + 1
            )
        }
    }
}

/// Joins lines into one buffer and slices it back into lines.
fn corpus(lines: Vec<String>) -> (Vec<Bytes>, usize) {
    let mut buf = BytesMut::new();
    let mut spans = Vec::with_capacity(lines.len());
    for line in &lines {
        let start = buf.len();
        buf.extend_from_slice(line.as_bytes());
        spans.push(start..buf.len());
        buf.extend_from_slice(b"\n");
    }
    let total = buf.len();
    let buf = buf.freeze();
    (spans.into_iter().map(|r| buf.slice(r)).collect(), total)
}

fn s3_lines() -> Vec<String> {
    let mut rng = Rng(0x5eed_0001);
    let owner = rng.hex(64);
    let ops = [
        ("REST.GET.OBJECT", "GET"),
        ("REST.GET.OBJECT", "GET"),
        ("REST.GET.OBJECT", "GET"),
        ("REST.PUT.OBJECT", "PUT"),
        ("REST.HEAD.OBJECT", "HEAD"),
        ("REST.GET.BUCKET", "GET"),
        ("REST.DELETE.OBJECT", "DELETE"),
        ("REST.COPY.OBJECT_GET", "PUT"),
    ];
    let agents = [
        "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#s3.cp",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "aws-sdk-java/1.12.687 Linux/5.10.213 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS java/17.0.10 vendor/Amazon.com_Inc.",
        "S3Console/0.4",
        "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213 md/arch#x86_64 lang/python#3.12.2 cfg/retry-mode#legacy Botocore/1.34.69",
    ];
    let errors = [
        "NoSuchKey",
        "AccessDenied",
        "SlowDown",
        "NoSuchBucketPolicy",
    ];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    (0..LINES)
        .map(|_| {
            let (op, method) = ops[rng.below(ops.len() as u64) as usize];
            let key = format!(
                "{}/{}/{:04}/{}.{}",
                rng.pick(&["logs", "images", "data", "backups"]),
                rng.pick(&["2024", "2025"]),
                rng.below(10000),
                rng.alnum(12).to_lowercase(),
                rng.pick(&["json.gz", "jpg", "parquet", "csv", "png"])
            );
            let failed = rng.below(20) == 0;
            let (status, error) = if failed {
                let e = rng.pick(&errors);
                (if e == "SlowDown" { 503 } else { 404 }, e)
            } else {
                (200, "-")
            };
            let sent = if method == "GET" && !failed {
                (rng.below(5_000_000) + 1).to_string()
            } else {
                "-".to_owned()
            };
            let fields = if rng.below(4) == 0 { 24 } else { 27 };
            let mut line = format!(
                "{owner} prod-data-bucket [{:02}/{}/2024:{:02}:{:02}:{:02} +0000] {} arn:aws:sts::123456789012:assumed-role/app-role/i-0{} {} {op} {key} \"{method} /prod-data-bucket/{key}?x-id={} HTTP/1.1\" {status} {error} {sent} {} {} {} \"-\" \"{}\" - {}= SigV4 TLS_AES_128_GCM_SHA256 AuthHeader prod-data-bucket.s3.eu-west-1.amazonaws.com TLSv1.3",
                rng.below(28) + 1,
                rng.pick(&months),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.ip(),
                rng.hex(16),
                rng.alnum(16),
                rng.pick(&["GetObject", "PutObject", "HeadObject"]),
                rng.below(10_000_000),
                rng.below(500),
                rng.below(100),
                rng.pick(&agents),
                rng.alnum(76),
            );
            if fields == 27 {
                line.push_str(" - - eu-west-1");
            }
            line
        })
        .collect()
}

const VPC_V5: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";

fn vpc_lines(v5: bool) -> Vec<String> {
    let mut rng = Rng(0x5eed_0002);
    let enis: Vec<String> = (0..50).map(|_| format!("eni-{}", rng.hex(17))).collect();
    (0..LINES)
        .map(|_| {
            let eni = &enis[rng.below(enis.len() as u64) as usize];
            let start = 1_718_000_000 + rng.below(86_400);
            let end = start + rng.below(60) + 1;
            let version = if v5 { 5 } else { 2 };
            if rng.below(50) == 0 {
                let status = if rng.below(2) == 0 { "NODATA" } else { "SKIPDATA" };
                let mut l = format!("{version} 123456789012 {eni} - - - - - - - {start} {end} - {status}");
                if v5 {
                    l.push_str(" vpc-0a1b2c3d4e5f67890 subnet-0a1b2c3d4e5f67890 - - - - - eu-west-1 euw1-az2 - - - - - -");
                }
                return l;
            }
            let proto = *[6u64, 6, 6, 17, 17, 1].get(rng.below(6) as usize).unwrap_or(&6);
            let (sport, dport) = if proto == 1 {
                (0, 0)
            } else {
                (rng.below(64_511) + 1024, *[443u64, 80, 22, 53, 5432, 6379].get(rng.below(6) as usize).unwrap_or(&443))
            };
            let src = rng.ip();
            let dst = rng.ip();
            let action = if rng.below(10) == 0 { "REJECT" } else { "ACCEPT" };
            let mut l = format!(
                "{version} 123456789012 {eni} {src} {dst} {sport} {dport} {proto} {} {} {start} {end} {action} OK",
                rng.below(10_000) + 1,
                rng.below(10_000_000) + 40
            );
            if v5 {
                let ingress = rng.below(2) == 0;
                l.push_str(&format!(
                    " vpc-0a1b2c3d4e5f67890 subnet-0a1b2c3d4e5f67890 i-0{} {} IPv4 {src} {dst} eu-west-1 euw1-az2 - - {} - {} {}",
                    rng.hex(16),
                    [2u64, 18, 19, 3, 1, 4][rng.below(6) as usize],
                    if rng.below(5) == 0 { "S3" } else { "-" },
                    if ingress { "ingress" } else { "egress" },
                    if ingress { "-".to_owned() } else { (rng.below(8) + 1).to_string() },
                ));
            }
            l
        })
        .collect()
}

fn bench_parser(
    c: &mut Criterion,
    name: &str,
    parser: &dyn Parser,
    lines: Vec<String>,
    header: Option<&str>,
) {
    // `WEIR_BENCH_ONLY=s3_access` limits the corpora (for profiling).
    if std::env::var("WEIR_BENCH_ONLY").is_ok_and(|only| only != name) {
        return;
    }
    let (lines, bytes) = corpus(lines);
    let mut event = Event::from_text("");
    event.meta.header = header.map(|h| Bytes::copy_from_slice(h.as_bytes()));
    eprintln!(
        "{name}: {} lines, {bytes} bytes ({:.1} bytes/line incl. newline)",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );
    let mut out = Vec::with_capacity(1);
    // Every line of the corpus must parse, or the figures mean nothing.
    for line in &lines {
        out.clear();
        if let Err(e) = parser.parse(line, &event, &mut out) {
            panic!("{name}: {e}\n{}", String::from_utf8_lossy(line));
        }
    }
    if let Ok(path) = std::env::var("WEIR_BENCH_DUMP") {
        dump(&format!("{path}.{name}"), parser, &lines, &event);
        return;
    }
    // `WEIR_BENCH_STAGES=json,tree` limits the CPU-time lines (for
    // profiling one of them): `parse`, `json`, `tree`.
    let stages = std::env::var("WEIR_BENCH_STAGES").unwrap_or_default();
    for stage in [Stage::Parse, Stage::Json, Stage::Tree] {
        if stages.is_empty() || stages.split(',').any(|s| s.trim() == stage.key()) {
            cpu_time_rate(name, stage, parser, &lines, bytes, &event);
        }
    }
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for line in &lines {
                let _ = parser.parse(black_box(line), &event, &mut out);
                out.clear();
            }
        })
    });
    group.finish();
}

/// `WEIR_BENCH_DUMP=path` writes, instead of measuring, what the parser
/// makes of every corpus line, of damaged copies of them and of times around
/// month ends (JSON as an output writes it and as the field tree gives it, or
/// the error), so that a parser change can be checked to change no output by
/// comparing the files of two builds.
fn dump(path: &str, parser: &dyn Parser, lines: &[Bytes], event: &Event) {
    use std::io::Write;
    let mut rng = Rng(0x5eed_0003);
    let mut inputs: Vec<Bytes> = lines.to_vec();
    for line in lines {
        let mut damaged = line.to_vec();
        for _ in 0..=rng.below(3) {
            if damaged.is_empty() {
                break;
            }
            let at = rng.below(damaged.len() as u64) as usize;
            match rng.below(3) {
                0 => damaged.truncate(at),
                _ => {
                    let bytes = b" \"[]\\-x09:+/\xff";
                    damaged[at] = bytes[rng.below(bytes.len() as u64) as usize];
                }
            }
        }
        inputs.push(Bytes::from(damaged));
    }
    // Formats with a bracketed time (S3 access logs): every day 0–32 of
    // every month, several years, times and zones in the first line.
    if let Some(first) = lines.first() {
        if let Some(open) = first.iter().position(|&b| b == b'[') {
            let months = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
                "feb", "FEB", "Fex",
            ];
            for year in ["0000", "1900", "2000", "2023", "2024", "9999"] {
                for month in months {
                    for day in 0..=32 {
                        for time in ["00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60"] {
                            for zone in ["+0000", "-0130", "+1400", "+9959", "+0060", "*0000"] {
                                let mut l = first[..open].to_vec();
                                l.extend_from_slice(
                                    format!("[{day:02}/{month}/{year}:{time} {zone}]").as_bytes(),
                                );
                                l.extend_from_slice(&first[open + 28..]);
                                inputs.push(Bytes::from(l));
                            }
                        }
                    }
                }
            }
        }
    }
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).unwrap_or_else(|e| panic!("{path}: {e}")),
    );
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    for line in &inputs {
        out.clear();
        match parser.parse(line, event, &mut out) {
            Err(e) => writeln!(file, "error: {e}"),
            Ok(()) => {
                for parsed in out.drain(..) {
                    let mut ev = Event::new(line.clone(), event.timestamp);
                    let tree = parsed.value.clone();
                    apply(&mut ev, parsed);
                    buf.clear();
                    json::write_event(&ev, &mut buf);
                    buf.extend_from_slice(b"\n");
                    if let Value::Object(fields) = &tree {
                        let _ = fields.len();
                    }
                    json::write_value(&tree, &mut buf);
                    let _ = file.write_all(&buf);
                }
                writeln!(file)
            }
        }
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    eprintln!("{path}: {} inputs", inputs.len());
}

/// This thread's CPU time in nanoseconds (Linux `schedstat`), or `None`
/// elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// What one CPU-time measurement does with each line.
#[derive(Clone, Copy)]
enum Stage {
    /// Parse, then drop the record.
    Parse,
    /// Parse, apply the record to the line's event as the `parse` filter
    /// does, and encode the event as JSON (an output-only pipeline).
    Json,
    /// Parse, then walk the record's fields (a filter reading a field),
    /// which builds the field tree.
    Tree,
}

impl Stage {
    fn key(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Json => "json",
            Stage::Tree => "tree",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Json => "parse + JSON",
            Stage::Tree => "parse + tree",
        }
    }
}

/// Applies a parsed record to `event` the way the `parse` filter does at the
/// root of the document (src/filters/parse.rs, `apply`): the fields merged
/// in, the record's time as the event time, the raw message consumed.
fn apply(event: &mut Event, parsed: Parsed) {
    if let Some(ts) = parsed.timestamp {
        event.timestamp = ts;
    }
    if let Value::Object(fields) = parsed.value {
        event.fields.merge(fields);
    }
    event.meta.message_consumed = true;
}

/// Lines/s and MB/s per core measured in CPU time rather than wall time, so
/// the figures stay meaningful on a machine shared with other work (wall-clock
/// rates there drop with the load; CPU time only counts this thread running).
fn cpu_time_rate(
    name: &str,
    stage: Stage,
    parser: &dyn Parser,
    lines: &[Bytes],
    bytes: usize,
    event: &Event,
) {
    let Some(start) = thread_cpu_ns() else {
        return;
    };
    let wall = std::time::Instant::now();
    let mut out = Vec::with_capacity(1);
    let mut buf = BytesMut::with_capacity(4096);
    let mut sink = 0usize;
    let mut passes = 0u64;
    // `WEIR_BENCH_PASSES=n` runs exactly n passes (for `perf stat` counts).
    let fixed: Option<u64> = std::env::var("WEIR_BENCH_PASSES")
        .ok()
        .and_then(|n| n.parse().ok());
    while fixed.map_or(wall.elapsed() < std::time::Duration::from_secs(2), |n| {
        passes < n
    }) {
        for line in lines {
            let _ = parser.parse(black_box(line), event, &mut out);
            match stage {
                Stage::Parse => {}
                Stage::Json => {
                    for parsed in out.drain(..) {
                        // The event an input hands the filter: the line as
                        // its message (a cheap `Bytes` clone), and whatever
                        // else the bench's template event carries.
                        let mut ev = Event::new(line.clone(), event.timestamp);
                        ev.meta.header = event.meta.header.clone();
                        apply(&mut ev, parsed);
                        buf.clear();
                        json::write_event(&ev, &mut buf);
                        sink = sink.wrapping_add(buf.len());
                    }
                }
                Stage::Tree => {
                    for parsed in &out {
                        if let Value::Object(fields) = &parsed.value {
                            sink = sink.wrapping_add(fields.len());
                            sink = sink.wrapping_add(fields.iter().count());
                        }
                    }
                }
            }
            out.clear();
        }
        passes += 1;
    }
    let Some(end) = thread_cpu_ns() else {
        return;
    };
    black_box(sink);
    let secs = ((end - start) as f64 / 1e9).max(1e-9);
    // The `parse` line keeps the format it always had, so figures compare
    // with earlier runs.
    let label = match stage {
        Stage::Parse => String::new(),
        other => format!(" ({})", other.label()),
    };
    eprintln!(
        "{name}{label}: {:.2} M lines/s, {:.0} MB/s per core (CPU time, {passes} passes)",
        passes as f64 * lines.len() as f64 / secs / 1e6,
        passes as f64 * bytes as f64 / secs / 1e6,
    );
}

fn parsers(c: &mut Criterion) {
    let s3 = S3AccessParser::new(S3AccessOptions::default());
    bench_parser(c, "s3_access", &s3, s3_lines(), None);

    let v2 = VpcFlowParser::default();
    bench_parser(c, "vpc_flow_v2", &v2, vpc_lines(false), None);
    let node = yaml::parse("mode: ecs").unwrap_or_else(|e| panic!("{e:?}"));
    let v2_ecs = VpcFlowParser::new(from_node(&node).unwrap_or_else(|e| panic!("{e}")));
    bench_parser(c, "vpc_flow_v2_mode_ecs", &v2_ecs, vpc_lines(false), None);
    let node = yaml::parse("mode: original").unwrap_or_else(|e| panic!("{e:?}"));
    let v2_original = VpcFlowParser::new(from_node(&node).unwrap_or_else(|e| panic!("{e}")));
    bench_parser(
        c,
        "vpc_flow_v2_mode_original",
        &v2_original,
        vpc_lines(false),
        None,
    );
    bench_parser(c, "vpc_flow_v5_header", &v2, vpc_lines(true), Some(VPC_V5));
}

criterion_group!(benches, parsers);
criterion_main!(benches);
