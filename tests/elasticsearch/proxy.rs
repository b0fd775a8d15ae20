//! A small fault-injecting HTTP/1.1 proxy in front of the real server: the
//! faults real servers don't produce on demand (429 storms, 503s, connection
//! resets, slow answers, 413 for large bodies; for AWS APIs in front of
//! moto, the service errors they answer under load). Each request is read whole
//! and handed to a policy that decides its fate; everything else is
//! forwarded unchanged.
#![allow(dead_code)]

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Answer with this status and a JSON error body, without forwarding.
    Status(u16),
    /// Close the connection with a TCP reset, without answering.
    Reset,
    /// Forward it, then hold the answer back this long.
    Slow(Duration),
    /// Forward all but every `every`-th document (counting from the first)
    /// of a `_bulk`, and answer those with an item-level `status` (429: the
    /// write queue is full): they are *not* indexed and must be resent.
    RejectItems { every: usize, status: u16 },
    /// Answer 413 with an empty body (the body is over the limit).
    TooLarge,
    /// Answer an AWS JSON-protocol service error (`__type` = `code`) with
    /// this status, without forwarding.
    AwsError { status: u16, code: &'static str },
}

/// A request as the policy sees it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Number of `_bulk` requests before this one.
    pub bulk_seq: usize,
    pub is_bulk: bool,
    /// The decompressed body size (Elasticsearch's limit applies to it).
    pub body_len: usize,
    pub gzipped: bool,
    /// The first two lines of the (decompressed) body: for a `_bulk`, the
    /// first action and its document.
    pub body_head: String,
    /// The `Authorization` header, as sent.
    pub authorization: Option<String>,
    /// The `X-Amz-Target` header of an AWS JSON-protocol call
    /// (`Kinesis_20131202.GetRecords`).
    pub amz_target: Option<String>,
}

type Policy = dyn Fn(&Seen) -> Fault + Send + Sync;

#[derive(Default, Debug)]
pub struct Stats {
    pub bulk_requests: AtomicUsize,
    pub faults: AtomicUsize,
    pub gzipped_bulks: AtomicUsize,
    /// `Seen` of every request, in arrival order.
    pub log: Mutex<Vec<(Seen, Fault)>>,
    /// The first line (an action line) of every `_bulk` body.
    pub first_actions: Mutex<Vec<String>>,
}

pub struct Proxy {
    pub port: u16,
    pub stats: Arc<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Proxy {
    /// Starts a proxy on a free port in front of `127.0.0.1:upstream`.
    pub fn start(upstream: u16, policy: impl Fn(&Seen) -> Fault + Send + Sync + 'static) -> Proxy {
        let policy: Arc<Policy> = Arc::new(policy);
        let stats = Arc::new(Stats::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel();
        let st = stats.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        accepted = listener.accept() => {
                            let Ok((conn, _)) = accepted else { continue };
                            let policy = policy.clone();
                            let stats = st.clone();
                            tokio::spawn(async move {
                                let _ = serve(conn, upstream, policy, stats).await;
                            });
                        }
                    }
                }
            });
        });
        Proxy {
            port,
            stats,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn faults(&self) -> usize {
        self.stats.faults.load(Ordering::Relaxed)
    }

    pub fn bulks(&self) -> usize {
        self.stats.bulk_requests.load(Ordering::Relaxed)
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request as bytes, with `body` (and its length) replacing the
    /// original; `plain` drops `Content-Encoding`.
    fn encode(&self, body: &[u8], plain: bool) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path).into_bytes();
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case("content-length")
                || (plain && k.eq_ignore_ascii_case("content-encoding"))
            {
                continue;
            }
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out
    }
}

async fn read_head<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn parse_headers(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn content_length(headers: &[(String, String)]) -> usize {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

async fn read_request<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Request>> {
    let Some(lines) = read_head(r).await? else {
        return Ok(None);
    };
    let mut first = lines[0].split_whitespace();
    let method = first.next().unwrap_or("GET").to_owned();
    let path = first.next().unwrap_or("/").to_owned();
    let headers = parse_headers(&lines[1..]);
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")),
        "the proxy does not handle chunked requests"
    );
    let mut body = vec![0; content_length(&headers)];
    r.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

/// Forwards raw request bytes upstream; returns (status, headers, body).
async fn forward(
    upstream: u16,
    raw: &[u8],
    head_only: bool,
) -> std::io::Result<(u16, Vec<(String, String)>, Vec<u8>)> {
    let up = TcpStream::connect(("127.0.0.1", upstream)).await?;
    let mut up = BufReader::new(up);
    up.get_mut().write_all(raw).await?;
    let Some(lines) = read_head(&mut up).await? else {
        return Err(std::io::Error::other("upstream closed"));
    };
    let status = lines[0]
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let headers = parse_headers(&lines[1..]);
    let mut body = vec![
        0;
        if head_only {
            0
        } else {
            content_length(&headers)
        }
    ];
    up.read_exact(&mut body).await?;
    Ok((status, headers, body))
}

fn response(status: u16, headers: &[(String, String)], body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\n").into_bytes();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("connection") {
            continue;
        }
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    let len = if head_only {
        content_length(headers)
    } else {
        body.len()
    };
    out.extend_from_slice(format!("Content-Length: {len}\r\n\r\n").as_bytes());
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// The position just after the `n`th newline.
fn nth_newline(text: &[u8], n: usize) -> Option<usize> {
    text.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(n - 1)
        .map(|(i, _)| i + 1)
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("a valid gzip body");
    out
}

fn error_body(status: u16) -> Vec<u8> {
    let kind = match status {
        429 => "es_rejected_execution_exception",
        503 => "unavailable_shards_exception",
        _ => "proxy_fault",
    };
    format!(
        r#"{{"error":{{"type":"{kind}","reason":"injected by the test proxy"}},"status":{status}}}"#
    )
    .into_bytes()
}

async fn serve(
    conn: TcpStream,
    upstream: u16,
    policy: Arc<Policy>,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    let mut conn = BufReader::new(conn);
    while let Some(req) = read_request(&mut conn).await? {
        let gzipped = req
            .header("content-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let plain = if gzipped {
            gunzip(&req.body)
        } else {
            req.body.clone()
        };
        let is_bulk = req
            .path
            .split('?')
            .next()
            .is_some_and(|p| p.ends_with("_bulk"));
        let bulk_seq = if is_bulk {
            let first = plain.split(|&b| b == b'\n').next().unwrap_or_default();
            if let Ok(mut a) = stats.first_actions.lock() {
                a.push(String::from_utf8_lossy(first).into_owned());
            }
            if gzipped {
                stats.gzipped_bulks.fetch_add(1, Ordering::Relaxed);
            }
            stats.bulk_requests.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        let seen = Seen {
            method: req.method.clone(),
            path: req.path.clone(),
            bulk_seq,
            is_bulk,
            body_len: plain.len(),
            gzipped,
            body_head: String::from_utf8_lossy(
                &plain[..nth_newline(&plain, 2).unwrap_or(plain.len())],
            )
            .into_owned(),
            authorization: req.header("authorization").map(str::to_owned),
            amz_target: req.header("x-amz-target").map(str::to_owned),
        };
        let fault = policy(&seen);
        if fault != Fault::Pass {
            stats.faults.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut log) = stats.log.lock() {
            log.push((seen, fault.clone()));
        }
        let head_only = req.method == "HEAD";
        let json = [("Content-Type".to_owned(), "application/json".to_owned())];
        let out = match fault {
            Fault::Pass => {
                let (s, h, b) = forward(upstream, &req.encode(&req.body, false), head_only).await?;
                response(s, &h, &b, head_only)
            }
            Fault::Status(status) => response(status, &json, &error_body(status), false),
            Fault::TooLarge => response(413, &[], b"", false),
            Fault::AwsError { status, code } => {
                let headers = [
                    (
                        "Content-Type".to_owned(),
                        "application/x-amz-json-1.1".to_owned(),
                    ),
                    ("x-amzn-ErrorType".to_owned(), code.to_owned()),
                ];
                let body =
                    format!(r#"{{"__type":"{code}","message":"injected by the test proxy"}}"#);
                response(status, &headers, body.as_bytes(), false)
            }
            Fault::Reset => {
                let stream = conn.into_inner();
                // A zero linger makes the close a reset (RST) and never
                // blocks, which is why tokio's deprecation does not apply.
                #[allow(deprecated)]
                stream.set_linger(Some(Duration::ZERO))?;
                drop(stream);
                return Ok(());
            }
            Fault::Slow(d) => {
                let (s, h, b) = forward(upstream, &req.encode(&req.body, false), head_only).await?;
                tokio::time::sleep(d).await;
                response(s, &h, &b, head_only)
            }
            Fault::RejectItems { every, status } => {
                let (s, b) = reject_items(upstream, &req, &plain, every, status).await?;
                response(s, &json, &b, false)
            }
        };
        conn.get_mut().write_all(&out).await?;
    }
    Ok(())
}

/// Forwards the documents that are not rejected, and merges the server's
/// items with synthetic rejections into one response in request order.
async fn reject_items(
    upstream: u16,
    req: &Request,
    plain: &[u8],
    every: usize,
    status: u16,
) -> std::io::Result<(u16, Vec<u8>)> {
    let lines: Vec<&[u8]> = plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    // Every action here has a source line (index/create).
    let docs: Vec<(&[u8], &[u8])> = lines.chunks(2).map(|c| (c[0], c[1])).collect();
    let mut kept = Vec::new();
    let mut rejected = vec![false; docs.len()];
    for (i, (action, source)) in docs.iter().enumerate() {
        if i % every == 0 {
            rejected[i] = true;
        } else {
            kept.extend_from_slice(action);
            kept.push(b'\n');
            kept.extend_from_slice(source);
            kept.push(b'\n');
        }
    }
    let mut upstream_items = Vec::new().into_iter();
    if !kept.is_empty() {
        let (s, _, b) = forward(upstream, &req.encode(&kept, true), false).await?;
        if s != 200 {
            return Ok((s, b));
        }
        let v: serde_json::Value = serde_json::from_slice(&b).map_err(std::io::Error::other)?;
        upstream_items = v["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
    }
    let mut items = Vec::with_capacity(docs.len());
    for (i, (action, _)) in docs.iter().enumerate() {
        if rejected[i] {
            let action: serde_json::Value =
                serde_json::from_slice(action).map_err(std::io::Error::other)?;
            let name = action
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_else(|| "index".into());
            items.push(serde_json::json!({ name: {
                "status": status,
                "error": {"type": "es_rejected_execution_exception", "reason": "injected: write queue full"}
            }}));
        } else {
            items.push(upstream_items.next().unwrap_or(serde_json::Value::Null));
        }
    }
    let body = serde_json::json!({"took": 1, "errors": true, "items": items});
    Ok((
        200,
        serde_json::to_vec(&body).map_err(std::io::Error::other)?,
    ))
}
