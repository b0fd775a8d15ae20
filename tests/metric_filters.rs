//! Metric filters, error codes and thresholds end to end: the real `weir`
//! binary reads known events on stdin, and `/metrics` on its API port must
//! show exactly the counts CloudWatch's semantics give. Plus `weir validate`
//! on broken catalogs and patterns.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// `GET path` over a plain TCP connection; returns the body.
fn http_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP body in {response:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// Polls `/metrics` until `line` appears; returns the last scrape.
fn wait_for_line(port: u16, line: &str) -> String {
    let start = Instant::now();
    loop {
        let body = http_get(port, "/metrics");
        if body.lines().any(|l| l == line) {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "`{line}` never appeared in:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sample lines of metric family `name` (HELP/TYPE and other families left out).
fn family(body: &str, name: &str) -> Vec<String> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ', '_']))
        })
        .map(str::to_owned)
        .collect()
}

const EVENTS: &[&str] = &[
    r#"{"service":"checkout","status":503,"latency":0.25,"user":"u1","host":{"cpu":55}}"#,
    r#"{"service":"checkout","status":503,"latency":1.5,"user":"u2","host":{"cpu":60}}"#,
    r#"{"service":"checkout","status":500,"latency":0.0625,"user":"u3","host":{"cpu":80}}"#,
    r#"{"service":"search","status":502,"latency":2.5,"user":"u4","host":{"cpu":99.5}}"#,
    r#"{"service":"search","status":200,"latency":0.03125,"user":"u1","host":{"cpu":"n/a"}}"#,
    r#"{"service":"search","status":404,"latency":"slow","user":"u2"}"#,
    r#"{"status":500,"latency":0.125}"#,
    "ERROR plain text line: connection timed out",
    "INFO plain text line",
];

#[test]
fn metrics_show_exact_counts_for_known_events() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = dir.path().join("codes.yaml");
    std::fs::write(
        &catalog,
        "rules:\n\
         \x20 - { code: GATEWAY, severity: error, pattern: '{ $.status = 502 || $.status = 504 }' }\n\
         \x20 - { code: SERVER, severity: error, type: http, pattern: '{ $.status >= 500 }' }\n\
         \x20 - { code: TIMEOUT, severity: warning, pattern: '\"timed out\"' }\n\
         \x20 - { code: NEVER, severity: info, pattern: NEVER_MATCHES }\n",
    )
    .expect("write catalog");
    let p = pipeline(&format!(
        r#"
inputs:
  in: {{ type: stdin, format: json }}
filters:
  - metric_filter:
      name: Server Errors
      pattern: '{{ $.status >= 500 }}'
      dimensions: {{ service: $.service, status: $.status }}
  - metric_filter:
      name: plain_errors_total
      pattern: ERROR
      default_value: 0
  - metric_filter:
      name: request_latency_seconds
      kind: histogram
      pattern: '{{ $.latency = * }}'
      value: $.latency
      buckets: [0.1, 1]
  - metric_filter:
      name: last_status
      kind: gauge
      pattern: '{{ $.status = * }}'
      value: $.status
  - metric_filter:
      name: per_user_total
      pattern: '{{ $.user = * }}'
      dimensions: {{ user: $.user }}
      max_series: 2
  - tag_errors: {{ catalog: '{catalog}' }}
  - threshold:
      when: '{{ $.host.cpu = * }}'
      field: host.cpu
      metric: cpu_level_total
outputs:
  out: {{ type: stdout }}
workers: 1     # events in order: the gauge's last value and the overflow are deterministic
api: {{ listen: '127.0.0.1:{port}' }}
"#,
        catalog = catalog.display()
    ));
    let mut child = weir()
        .args(["run", p.path.to_str().expect("utf-8 path")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in EVENTS {
        writeln!(stdin, "{line}").expect("write an event");
    }
    stdin.flush().expect("flush");
    let stdout = child.stdout.take().expect("stdout");
    let out = read_json_lines(stdout, EVENTS.len(), Duration::from_secs(20));
    assert_eq!(out.len(), EVENTS.len(), "metric filters never drop events");
    wait_for_port(port);
    // Every event has been through the chain once it was printed; the last
    // recorded series must be there.
    let body = wait_for_line(port, r#"cpu_level_total{level="unknown"} 1"#);

    assert_eq!(
        family(&body, "server_errors_total"),
        [
            r#"server_errors_total{service="checkout",status="500"} 1"#,
            r#"server_errors_total{service="checkout",status="503"} 2"#,
            r#"server_errors_total{service="search",status="502"} 1"#,
        ],
        "the event without `service` is not counted\n{body}"
    );
    assert_eq!(
        family(&body, "plain_errors_total"),
        ["plain_errors_total 1"]
    );
    assert_eq!(
        family(&body, "request_latency_seconds"),
        [
            r#"request_latency_seconds_bucket{le="0.1"} 2"#,
            r#"request_latency_seconds_bucket{le="1"} 4"#,
            r#"request_latency_seconds_bucket{le="+Inf"} 6"#,
            "request_latency_seconds_sum 4.46875",
            "request_latency_seconds_count 6",
        ]
    );
    assert_eq!(family(&body, "last_status"), ["last_status 500"]);
    assert_eq!(
        family(&body, "per_user_total"),
        [
            r#"per_user_total{user="__overflow__"} 2"#,
            r#"per_user_total{user="u1"} 2"#,
            r#"per_user_total{user="u2"} 2"#,
        ]
    );
    assert!(
        body.lines()
            .any(|l| l == r#"weir_metric_series_overflow_total{metric="per_user_total"} 2"#),
        "{body}"
    );
    assert_eq!(
        family(&body, "weir_metric_filter_skipped_total"),
        [
            r#"weir_metric_filter_skipped_total{component="metric_filter#0",metric="server_errors_total",pipeline="test",reason="dimension_missing"} 1"#,
            r#"weir_metric_filter_skipped_total{component="metric_filter#2",metric="request_latency_seconds",pipeline="test",reason="value_not_numeric"} 1"#,
        ]
    );
    assert_eq!(
        family(&body, "weir_error_codes_total"),
        [
            r#"weir_error_codes_total{code="GATEWAY",severity="error"} 1"#,
            r#"weir_error_codes_total{code="NEVER",severity="info"} 0"#,
            r#"weir_error_codes_total{code="SERVER",severity="error"} 4"#,
            r#"weir_error_codes_total{code="TIMEOUT",severity="warning"} 1"#,
        ]
    );
    assert_eq!(
        family(&body, "cpu_level_total"),
        [
            r#"cpu_level_total{level="amber"} 1"#,
            r#"cpu_level_total{level="ok"} 1"#,
            r#"cpu_level_total{level="red"} 2"#,
            r#"cpu_level_total{level="unknown"} 1"#,
        ]
    );
    assert!(
        body.contains("# TYPE server_errors_total counter\n"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE request_latency_seconds histogram\n"),
        "{body}"
    );
    assert!(body.contains("# TYPE last_status gauge\n"), "{body}");

    // The events: tagged and graded, otherwise as they came.
    let first = &out[0];
    assert_eq!(first["error"]["code"], "SERVER");
    assert_eq!(first["error"]["type"], "http");
    assert_eq!(first["threshold"]["level"], "ok");
    assert_eq!(first["latency"], 0.25);
    assert_eq!(out[3]["error"]["code"], "GATEWAY");
    assert_eq!(out[3]["threshold"]["level"], "red");
    assert!(out[5].get("threshold").is_none(), "no host: not graded");
    assert_eq!(out[7]["error"]["code"], "TIMEOUT");
    assert!(out[8].get("error").is_some_and(|e| e.get("code").is_none()));

    drop(stdin);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(
        stderr.contains("metric_filter `Server Errors` is exposed as `server_errors_total`"),
        "{stderr}"
    );
}

#[test]
fn validate_names_catalog_file_rule_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = dir.path().join("bad-codes.yaml");
    std::fs::write(
        &catalog,
        "rules:\n  - code: FINE\n    severity: error\n    pattern: ERROR\n  - code: BROKEN\n    severity: error\n    pattern: '{ $.status >= }'\n",
    )
    .expect("write catalog");
    let p = pipeline(&format!(
        "inputs:\n  in: {{ type: stdin }}\nfilters:\n  - tag_errors:\n      catalog: '{}'\n  - metric_filter:\n      name: x\n      pattern: '[ip, user'\n  - metric_filter: {{ name: y, pattern: '[a, b]', value: $c }}\noutputs:\n  o: {{ type: stdout }}\n",
        catalog.display()
    ));
    let err = validate_errors(&p.path);
    let file = p.path.display();
    let catalog = catalog.display();
    assert!(
        err.contains(&format!(
            "{file}:5:16: filter #1 (tag_errors): error catalog {catalog}:7:14: rule #2 (`BROKEN`): invalid filter pattern at column 15: expected a value after `>=`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:8:16: filter #2 (metric_filter): invalid filter pattern at column 10: expected `]`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:9:57: filter #3 (metric_filter): `value`: `$c` is not a field of `[a, b]`"
        )),
        "{err}"
    );
    assert!(err.contains("3 error(s)"), "{err}");
}
