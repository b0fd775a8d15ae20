//! Generated workloads shared by the benches: realistic ~300-byte NDJSON
//! application log lines and Filebeat documents.

#![allow(dead_code)]

/// A deterministic pseudo-random generator (no dependency, same bytes every run).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// One NDJSON log line of about 300 bytes (without the newline).
pub fn json_line(rng: &mut Rng, i: u64) -> String {
    let levels = ["info", "info", "info", "warn", "error", "debug"];
    let paths = [
        "/api/v1/orders",
        "/api/v1/users/42",
        "/health",
        "/api/v2/search?q=shoes",
        "/static/app.js",
    ];
    let methods = ["GET", "GET", "POST", "PUT", "DELETE"];
    let statuses = [200, 200, 200, 201, 304, 404, 500, 503];
    format!(
        concat!(
            "{{\"@timestamp\":\"2024-05-06T07:08:{:02}.{:03}Z\",\"level\":\"{}\",\"service\":\"checkout\",",
            "\"host\":\"web-{}\",\"trace_id\":\"{:016x}{:016x}\",\"http\":{{\"method\":\"{}\",\"path\":\"{}\",",
            "\"status\":{},\"bytes\":{}}},\"duration_ms\":{}.{},\"msg\":\"request handled for user {} in region eu-west-1\",\"seq\":{}}}"
        ),
        i % 60,
        i % 1000,
        rng.pick(&levels),
        rng.next_u64() % 16,
        rng.next_u64(),
        rng.next_u64(),
        rng.pick(&methods),
        rng.pick(&paths),
        statuses[(rng.next_u64() % statuses.len() as u64) as usize],
        rng.next_u64() % 100_000,
        rng.next_u64() % 1000,
        rng.next_u64() % 10,
        rng.next_u64() % 100_000,
        i
    )
}

/// `n` lines, newline-terminated.
pub fn ndjson(n: u64) -> Vec<u8> {
    let mut rng = Rng::new(42);
    let mut out = Vec::with_capacity(n as usize * 310);
    for i in 0..n {
        out.extend_from_slice(json_line(&mut rng, i).as_bytes());
        out.push(b'\n');
    }
    out
}

/// `data` cut at line boundaries into `parts` pieces of about equal size,
/// one per connection.
pub fn split_lines(data: &[u8], parts: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 1..=parts {
        let mut end = (data.len() * i / parts).max(start);
        while end < data.len() && end > 0 && data[end - 1] != b'\n' {
            end += 1;
        }
        out.push(data[start..end].to_vec());
        start = end;
    }
    out
}

/// A Filebeat 8 document of about 300 bytes; `i` varies the content so the
/// compression ratio is realistic rather than ideal.
pub fn filebeat_document(i: u32) -> bytes::Bytes {
    let ms = i % 1000;
    let ip = format!("10.{}.{}.{}", i % 7, i % 251, (i * 7) % 253);
    let status = [200, 200, 200, 304, 404, 500][(i % 6) as usize];
    bytes::Bytes::from(format!(
        r#"{{"@timestamp":"2024-05-01T12:00:{:02}.{ms:03}Z","@metadata":{{"beat":"filebeat","type":"_doc","version":"8.13.4"}},"message":"{ip} - - \"GET /api/v1/items/{} HTTP/1.1\" {status} {}","log":{{"offset":{}}},"input":{{"type":"filestream"}},"host":{{"name":"web-{}"}},"agent":{{"type":"filebeat","version":"8.13.4"}}}}"#,
        i % 60,
        i.wrapping_mul(2654435761) % 100_000,
        (i * 37) % 20_000,
        u64::from(i) * 173,
        i % 4,
    ))
}

/// Appends one Filebeat window to `wire` as Filebeat sends it: a `W` frame,
/// then the `count` documents from `first + 1` as `J` frames (sequence
/// numbers 1..=count) inside one zlib `C` frame at level 3. Returns the
/// bytes of event JSON in the window.
pub fn beats_window(first: u32, count: u32, wire: &mut bytes::BytesMut) -> u64 {
    use weir::codecs::lumberjack::{encode_compressed, encode_frame, Frame, Version};
    encode_frame(
        &Frame::WindowSize {
            version: Version::V2,
            count,
        },
        Version::V2,
        wire,
    );
    let mut inner = bytes::BytesMut::new();
    let mut json_bytes = 0;
    for seq in 1..=count {
        let payload = filebeat_document(first + seq);
        json_bytes += payload.len() as u64;
        encode_frame(&Frame::Json { seq, payload }, Version::V2, &mut inner);
    }
    encode_compressed(&inner, 3, Version::V2, wire);
    json_bytes
}
