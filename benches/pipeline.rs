//! Hot-path micro benchmarks: framing, JSON parsing, JSON encoding, and the
//! three together, on ~300-byte NDJSON lines.
//!
//! cargo bench --bench pipeline

#[path = "support/workload.rs"]
mod workload;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tokio_util::codec::Decoder;

use weir::codecs::{FrameDecoder, Framing, Oversize};
use weir::event::json::write_event;
use weir::event::Event;
use weir::filters::parse::{OnError, Parse, ParseCommon};
use weir::filters::{BuildContext, Filter, FilterContext};
use weir::parsers::json::JsonParser;

const LINES: u64 = 512;

fn frame_all(data: &[u8], framing: Framing) -> Vec<Bytes> {
    let mut d = FrameDecoder::new(framing, 1 << 20, Oversize::Truncate);
    let mut buf = BytesMut::from(data);
    let mut out = Vec::with_capacity(LINES as usize);
    while let Ok(Some(f)) = d.decode(&mut buf) {
        out.push(f.bytes);
    }
    out
}

fn parse_filter() -> Parse {
    Parse::new(
        ParseCommon {
            format: "json".into(),
            field: None,
            target: None,
            on_error: OnError::Tag,
            keep_original: false,
        },
        std::sync::Arc::new(JsonParser),
        &BuildContext {
            pipeline: "bench".into(),
            component: "parse#0".into(),
        },
    )
}

fn benches(c: &mut Criterion) {
    let data = workload::ndjson(LINES);
    let mut g = c.benchmark_group("ndjson_300b");
    g.throughput(Throughput::Bytes(data.len() as u64));

    g.bench_function("frame_lines", |b| {
        b.iter(|| frame_all(&data, Framing::Lines))
    });
    g.bench_function("frame_json", |b| b.iter(|| frame_all(&data, Framing::Json)));

    let lines = frame_all(&data, Framing::Lines);
    let now = chrono::Utc::now();
    let parse = parse_filter();
    g.bench_function("parse_json", |b| {
        b.iter_batched(
            || {
                lines
                    .iter()
                    .map(|l| Event::new(l.clone(), now))
                    .collect::<Vec<_>>()
            },
            |mut events| {
                parse.process(&mut events, &mut FilterContext::default());
                events
            },
            BatchSize::LargeInput,
        )
    });

    let mut parsed: Vec<Event> = lines.iter().map(|l| Event::new(l.clone(), now)).collect();
    parse.process(&mut parsed, &mut FilterContext::default());
    g.bench_function("encode_json", |b| {
        let mut out = BytesMut::with_capacity(data.len() * 2);
        b.iter(|| {
            out.clear();
            for e in &parsed {
                write_event(e, &mut out);
                out.extend_from_slice(b"\n");
            }
            out.len()
        })
    });

    g.bench_function("frame_parse_encode", |b| {
        let mut out = BytesMut::with_capacity(data.len() * 2);
        b.iter(|| {
            let mut events: Vec<Event> = frame_all(&data, Framing::Lines)
                .into_iter()
                .map(|l| Event::new(l, now))
                .collect();
            parse.process(&mut events, &mut FilterContext::default());
            out.clear();
            for e in &events {
                write_event(e, &mut out);
                out.extend_from_slice(b"\n");
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
