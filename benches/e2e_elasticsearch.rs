//! End-to-end throughput of the `elasticsearch` output: a generated NDJSON
//! workload over loopback TCP into a real `weir run` (tcp → parse json →
//! elasticsearch), shipped to
//!
//! - `sink`: a minimal `_bulk` endpoint in this harness that parses nothing
//!   and answers `{"errors":false,"items":[…]}` with the right count — it
//!   measures weir alone (encoding, compression, HTTP);
//! - `osmem`: a real OpenSearch-compatible server (`osmem-server`), which
//!   indexes every document. It is a test server, slow at indexing (a few
//!   hundred to a few thousand documents per second here), so it gets its
//!   own, smaller workload (`WEIR_E2E_OSMEM_LINES`).
//!
//! - `output`: the output alone, in this process: already parsed events
//!   handed straight to the `elasticsearch` output shipping to the sink —
//!   encoding, compression and HTTP, without TCP reading or JSON parsing.
//!
//! Reports events/s, MB/s of input (the raw JSON lines), MB/s of bulk bodies,
//! CPU and RSS (of weir; for `output`, of this whole process, sink included),
//! and input MB per CPU-second: on a shared, loaded machine the wall-clock
//! rate follows how much CPU weir is given, the per-CPU-second figure less so.
//!
//! cargo bench --bench e2e_elasticsearch                       # 1,000,000 lines of ~300 bytes
//! WEIR_E2E_LINES=300000 cargo bench --bench e2e_elasticsearch
//! WEIR_E2E_TARGETS=output-none,sink-gzip cargo bench --bench e2e_elasticsearch
//! WEIR_E2E_OSMEM_LINES=50000 cargo bench --bench e2e_elasticsearch
//!
//! Under `cargo test` (no `--bench` argument) it runs a small smoke load.

#[path = "support/harness.rs"]
mod harness;
#[path = "../tests/elasticsearch/osmem.rs"]
mod osmem;
#[path = "support/process.rs"]
mod process;
#[path = "support/workload.rs"]
mod workload;

use harness::{full_run, send_tcp, size, Weir};
use process::{cpu_seconds, free_port, proc_status};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `_bulk` endpoint that only counts: it reads each body, counts its
/// lines (action + source per document) and answers every item with 201.
struct Sink {
    port: u16,
    body_bytes: Arc<AtomicU64>,
}

impl Sink {
    fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let port = listener.local_addr().expect("addr").port();
        let body_bytes = Arc::new(AtomicU64::new(0));
        let b = body_bytes.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let b = b.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &b);
                });
            }
        });
        Sink { port, body_bytes }
    }
}

fn serve(conn: TcpStream, body_bytes: &AtomicU64) -> std::io::Result<()> {
    let mut writer = conn.try_clone()?;
    let mut reader = BufReader::with_capacity(1 << 20, conn);
    let mut body = Vec::new();
    let mut plain = Vec::new();
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        let mut gzip = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("content-encoding") {
                    gzip = v.trim().eq_ignore_ascii_case("gzip");
                }
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
        let answer: Vec<u8> = if request_line.contains("_bulk") {
            let text: &[u8] = if gzip {
                plain.clear();
                flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain)?;
                &plain
            } else {
                &body
            };
            let docs = memchr::memchr_iter(b'\n', text).count() / 2;
            body_bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
            let item = b"{\"index\":{\"status\":201}}";
            let mut out = Vec::with_capacity(32 + docs * (item.len() + 1));
            out.extend_from_slice(b"{\"errors\":false,\"items\":[");
            for i in 0..docs {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(item);
            }
            out.extend_from_slice(b"]}");
            out
        } else if request_line.contains("_cluster/health") {
            br#"{"cluster_name":"sink","status":"green"}"#.to_vec()
        } else {
            br#"{"name":"sink","version":{"number":"8.0.0"},"tagline":"You Know, for Search"}"#
                .to_vec()
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        writer.write_all(head.as_bytes())?;
        writer.write_all(&answer)?;
    }
}

struct Outcome {
    secs: f64,
    cpu: f64,
    peak_rss: u64,
}

/// Streams `parts` into a fresh weir shipping to `url`; waits until the
/// output reports every event sent.
fn run_once(parts: &[Vec<u8>], lines: u64, url: &str, options: &str) -> Outcome {
    let port = free_port();
    let mut weir = Weir::start(
        "e2e-es",
        |api, data_dir| {
            format!(
                "api: {{ listen: '127.0.0.1:{api}' }}\ndata_dir: '{}'\n\
                 inputs:\n  net: {{ type: tcp, address: '127.0.0.1:{port}', framing: json }}\n\
                 filters:\n  - parse: {{ format: json }}\n\
                 outputs:\n  es:\n    type: elasticsearch\n    hosts: ['{url}']\n    \
                 index: 'bench-%Y.%m.%d'\n    {options}\n",
                data_dir.display()
            )
        },
        |_| {},
    );
    weir.wait_for_port(port);
    std::thread::sleep(Duration::from_millis(500));
    weir.measure_from_now();
    send_tcp(port, parts);
    weir.wait_sent(
        "es",
        lines,
        Duration::from_millis(5),
        Duration::from_secs(900),
    );
    let usage = weir.stop();
    Outcome {
        secs: usage.secs,
        cpu: usage.cpu,
        peak_rss: usage.peak_rss,
    }
}

struct OutputOutcome {
    secs: f64,
    cpu: f64,
    peak_rss: u64,
    input_bytes: u64,
    bulk_bytes: u64,
}

/// The output alone: `lines` parsed events (a pool of 20,000 reused, in
/// batches of 512) go straight into the `elasticsearch` output, which
/// ships them to a sink; timed until the output has finished.
fn output_only(lines: u64, compression: &str) -> OutputOutcome {
    use weir::event::Event;
    use weir::filters::FilterContext;
    use weir::outputs::{OutputConfig, OutputContext, OutputMetrics};
    use weir::topology::ack::Ack;
    use weir::topology::batch::{Batch, OutputBatch};

    const BATCH: usize = 512;
    let pool_lines = lines.min(20_000);
    let data = workload::ndjson(pool_lines);
    let parse = {
        let node = weir::config::yaml::parse("format: json").expect("yaml");
        let cx = weir::filters::BuildContext {
            pipeline: "bench".into(),
            component: "parse".into(),
        };
        weir::filters::registry::build_parse(&node, &cx).expect("parse")
    };
    let mut pool = Vec::new();
    let mut fcx = FilterContext::default();
    for chunk in data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .chunks(BATCH)
    {
        let mut events: Vec<Event> = chunk
            .iter()
            .map(|l| Event::new(bytes::Bytes::copy_from_slice(l), chrono::Utc::now()))
            .collect();
        parse.process(&mut events, &mut fcx);
        let raw: u64 = events.iter().map(|e| e.message.len() as u64 + 1).sum();
        pool.push((
            Arc::new(Batch {
                events,
                ack: Ack::untracked(),
                input: 0,
            }),
            raw,
        ));
    }
    let sink = Sink::start();
    let node = weir::config::yaml::parse(&format!(
        "hosts: ['http://127.0.0.1:{}']\nindex: 'bench-%Y.%m.%d'\ncompression: {compression}\n",
        sink.port
    ))
    .expect("yaml");
    let settings = weir::outputs::elasticsearch::load(&node).expect("options");
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let pid = std::process::id();
    rt.block_on(async move {
        let (tx, rx) = async_channel::bounded(4);
        let cx = OutputContext {
            pipeline: "bench".into(),
            name: "es".into(),
            input: rx,
            data_dir: dir.path().to_path_buf(),
            metrics: OutputMetrics::new("bench", "es"),
        };
        let task = settings.build(cx).expect("output");
        let cpu_before = cpu_seconds(pid);
        let t0 = Instant::now();
        let running = tokio::spawn(task);
        let mut sent = 0u64;
        let mut input_bytes = 0u64;
        'feed: loop {
            for (batch, raw) in &pool {
                let take = (lines - sent).min(batch.events.len() as u64);
                if take == 0 {
                    break 'feed;
                }
                let out = if take as usize == batch.events.len() {
                    OutputBatch::all(batch.clone())
                } else {
                    OutputBatch::selected(batch.clone(), (0..take as u32).collect())
                };
                tx.send(out).await.expect("output running");
                sent += take;
                input_bytes += raw * take / batch.events.len() as u64;
            }
        }
        drop(tx);
        running.await.expect("join").expect("output");
        let secs = t0.elapsed().as_secs_f64();
        OutputOutcome {
            secs,
            cpu: cpu_seconds(pid) - cpu_before,
            peak_rss: proc_status(pid, "VmHWM:"),
            input_bytes,
            bulk_bytes: sink.body_bytes.load(Ordering::Relaxed),
        }
    })
}

fn main() {
    let full = full_run();
    let lines = size("WEIR_E2E_LINES", if full { 1_000_000 } else { 20_000 });
    let targets = std::env::var("WEIR_E2E_TARGETS")
        .unwrap_or_else(|_| "output-none,output-gzip,sink-none,sink-gzip,osmem-gzip".to_owned());
    let osmem_lines = size("WEIR_E2E_OSMEM_LINES", if full { 20_000 } else { 1_000 });
    let workload = |lines: u64| {
        let data = workload::ndjson(lines);
        (workload::split_lines(&data, 2), data.len() as f64 / 1e6)
    };
    println!(
        "e2e tcp json -> parse json -> elasticsearch (lines of ~300 bytes over 2 connections)"
    );
    println!(
        "  {:<12} {:>9} {:>11} {:>9} {:>11} {:>9} {:>10} {:>10} {:>9}",
        "target",
        "lines",
        "events/s",
        "MB/s in",
        "bulk MB/s",
        "seconds",
        "CPU cores",
        "MB/CPU-s",
        "peak RSS"
    );
    for target in targets.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (kind, compression) = target.split_once('-').unwrap_or((target, "gzip"));
        let sink;
        let server;
        if kind == "output" {
            let o = output_only(lines, compression);
            println!(
                "  {:<12} {:>9} {:>11.0} {:>9.1} {:>11.1} {:>9.2} {:>10.2} {:>10.1} {:>8.0}M",
                target,
                lines,
                lines as f64 / o.secs,
                o.input_bytes as f64 / 1e6 / o.secs,
                o.bulk_bytes as f64 / 1e6 / o.secs,
                o.secs,
                o.cpu / o.secs,
                o.input_bytes as f64 / 1e6 / o.cpu.max(1e-9),
                o.peak_rss as f64 / (1 << 20) as f64
            );
            continue;
        }
        let (url, counter, n, options) = match kind {
            "sink" => {
                sink = Sink::start();
                (
                    format!("http://127.0.0.1:{}", sink.port),
                    Some(sink.body_bytes.clone()),
                    lines,
                    format!("compression: {compression}"),
                )
            }
            "osmem" => {
                server = osmem::Osmem::start();
                // Small requests with a long timeout: the server is slow,
                // and an `index` retried after a timeout would duplicate.
                (
                    server.url.clone(),
                    None,
                    osmem_lines,
                    format!(
                        "compression: {compression}\n    batch_max_events: 1000\n    request_timeout: 10m"
                    ),
                )
            }
            other => {
                panic!("unknown target `{other}` (sink-none, sink-gzip, osmem-gzip, osmem-none)")
            }
        };
        let (parts, mb) = workload(n);
        let o = run_once(&parts, n, &url, &options);
        let bulk_mb = counter.map_or(f64::NAN, |c| c.load(Ordering::Relaxed) as f64 / 1e6);
        println!(
            "  {:<12} {:>9} {:>11.0} {:>9.1} {:>11.1} {:>9.2} {:>10.2} {:>10.1} {:>8.0}M",
            target,
            n,
            n as f64 / o.secs,
            mb / o.secs,
            bulk_mb / o.secs,
            o.secs,
            o.cpu / o.secs,
            mb / o.cpu.max(1e-9),
            o.peak_rss as f64 / (1 << 20) as f64
        );
    }
}
