//! What the end-to-end harnesses measure about a running `weir`: free ports,
//! memory and CPU from /proc, and counters from its `/metrics`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `/proc/PID/status` size in bytes (`VmRSS:`, `VmHWM:`).
pub fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// User + system CPU seconds of a process.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after `(comm)`: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / 100.0 // USER_HZ on Linux
}

/// The body of `GET /metrics` on weir's API port (empty on any error).
pub fn fetch_metrics(api: u16) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", api)) else {
        return String::new();
    };
    let request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut response = Vec::new();
    if s.write_all(request.as_bytes()).is_err() || s.read_to_end(&mut response).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&response);
    text.split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned())
}

/// The sum of `name`'s samples for `component` in an exposition.
pub fn sum_metric(exposition: &str, name: &str, component: &str) -> u64 {
    let label = format!("component=\"{component}\"");
    exposition
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(&label))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .map(|v| v as u64)
        .sum()
}
