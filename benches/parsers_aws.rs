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

#[path = "support/aws_lines.rs"]
mod aws_lines;

use aws_lines::{s3_lines, vpc_lines, Rng, VPC_V5};

const LINES: usize = 10_000;

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
    bench_parser(c, "s3_access", &s3, s3_lines(LINES), None);

    let v2 = VpcFlowParser::default();
    bench_parser(c, "vpc_flow_v2", &v2, vpc_lines(LINES, false), None);
    let node = yaml::parse("mode: ecs").unwrap_or_else(|e| panic!("{e:?}"));
    let v2_ecs = VpcFlowParser::new(from_node(&node).unwrap_or_else(|e| panic!("{e}")));
    bench_parser(
        c,
        "vpc_flow_v2_mode_ecs",
        &v2_ecs,
        vpc_lines(LINES, false),
        None,
    );
    let node = yaml::parse("mode: original").unwrap_or_else(|e| panic!("{e:?}"));
    let v2_original = VpcFlowParser::new(from_node(&node).unwrap_or_else(|e| panic!("{e}")));
    bench_parser(
        c,
        "vpc_flow_v2_mode_original",
        &v2_original,
        vpc_lines(LINES, false),
        None,
    );
    bench_parser(
        c,
        "vpc_flow_v5_header",
        &v2,
        vpc_lines(LINES, true),
        Some(VPC_V5),
    );
}

criterion_group!(benches, parsers);
criterion_main!(benches);
