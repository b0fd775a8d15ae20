//! Generated workloads shared by the benches: realistic ~300-byte NDJSON
//! application log lines.

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
