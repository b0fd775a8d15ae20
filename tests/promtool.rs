//! Lints weir's text exposition with the real `promtool check metrics`
//! (Debian's `prometheus` package; `scripts/test` installs it). Skips, with a
//! notice, only when promtool is not installed.
//!
//! promtool 2.42 misses duplicate series, split families and broken histograms,
//! so the same output also goes through the strict checker in
//! `support/exposition_check.rs`.

#[path = "support/exposition_check.rs"]
mod exposition_check;

use std::io::Write;
use std::process::{Command, Stdio};

use exposition_check::{check, Syntax};
use weir::telemetry::{Encoder, Format, MetricOptions, Registry};

/// Runs `promtool check metrics` on `body`; `None` if promtool is missing.
fn promtool(body: &str) -> Option<(i32, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool ran");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some((out.status.code().unwrap_or(-1), text))
}

fn busy_registry() -> Registry {
    let r = Registry::new();
    // Counters, from the facade and the direct API, with hostile label values.
    metrics::with_local_recorder(&r, || {
        metrics::describe_counter!(
            "weir_component_received_events_total",
            "Events received by a component."
        );
        metrics::counter!("weir_component_received_events_total", "pipeline" => "s3-access", "component" => "access_logs")
            .increment(12345);
        metrics::describe_histogram!(
            "weir_batch_duration_seconds",
            metrics::Unit::Seconds,
            "Time a worker spent on one batch."
        );
        let h = metrics::histogram!("weir_batch_duration_seconds", "pipeline" => "s3-access");
        for v in [0.001, 0.02, 0.02, 0.3, 4.0, 12.0] {
            h.record(v);
        }
    });
    let weird = [
        "C:\\tmp \"x\"\nnext",
        "tab\there",
        "cr\rhere",
        "nul\0here",
        "emoji 🦀 ünïcödé",
        "\\\\double",
        "{}=,\"",
        "trailing\\",
        "",
    ];
    for (i, v) in weird.iter().enumerate() {
        r.counter(
            "logpipe_events_total",
            &[
                ("filter", "error_count_5xx"),
                ("path", v),
                ("n", &i.to_string()),
            ],
            "Log events matched by a metric filter.",
        )
        .increment(i as u64 + 1);
    }
    // A CloudWatch-style name and hostile dimension names.
    r.counter(
        "Error Count/5xx",
        &[
            ("1bad-key", "a"),
            ("__meta", "b"),
            ("le", "c"),
            ("job", "d"),
        ],
        "Errors, by \"kind\"\\path\nsecond line.",
    )
    .increment(3);
    // Gauges with special values.
    for (k, v) in [
        ("zero", 0.0),
        ("neg", -1.5),
        ("tiny", 1e-9),
        ("huge", 1e300),
        ("inf", f64::INFINITY),
        ("ninf", f64::NEG_INFINITY),
        ("nan", f64::NAN),
    ] {
        r.gauge("weir_threshold_level", &[("case", k)], "Threshold levels.")
            .set(v);
    }
    // Histograms with custom buckets, and one with negative observations.
    r.set_buckets("logpipe_request_duration_seconds", vec![0.1, 0.5, 1.0])
        .expect("valid buckets");
    let h = r.histogram(
        "logpipe_request_duration_seconds",
        &[("route", "/api/*")],
        "Request latency parsed from access logs.",
    );
    for v in [0.05, 0.2, 0.7, 3.0] {
        h.record(v);
    }
    r.configure(
        "weir_offset_seconds",
        MetricOptions {
            buckets: Some(vec![-1.0, 0.0, 1.0]),
            ..MetricOptions::default()
        },
    )
    .expect("valid buckets");
    r.histogram("weir_offset_seconds", &[], "Clock offsets.")
        .record(-0.5);
    // An overflowing metric.
    r.set_max_series("weir_bucket_errors_total", 2);
    for b in ["a", "b", "c", "d", "e"] {
        r.counter(
            "weir_bucket_errors_total",
            &[("bucket", b)],
            "Errors per bucket.",
        )
        .increment(1);
    }
    r
}

#[test]
fn promtool_accepts_the_text_exposition() {
    let r = busy_registry();
    let encoders = [
        Encoder::new(),
        Encoder::new()
            .namespace("prod")
            .const_label("region", "eu-west-1")
            .const_label("pipeline", "overridden by the series' own label"),
    ];
    for encoder in encoders {
        let body = encoder.render(&r, Format::Text);
        check(&body, Syntax::Text).unwrap_or_else(|e| panic!("{e}\n{body}"));
        check(
            &encoder.render(&r, Format::OpenMetrics),
            Syntax::OpenMetrics,
        )
        .unwrap_or_else(|e| panic!("OpenMetrics: {e}"));
        match promtool(&body) {
            None => {
                eprintln!("NOTICE: promtool not installed; skipping the promtool lint (scripts/test installs it)");
                return;
            }
            Some((code, output)) => {
                assert_eq!(
                    code, 0,
                    "promtool failed:\n{output}\n--- exposition ---\n{body}"
                );
                assert!(output.trim().is_empty(), "promtool findings:\n{output}");
            }
        }
    }
}

/// The checker and promtool agree on a known-bad input (so a silent promtool
/// is not mistaken for a working one).
#[test]
fn promtool_rejects_a_broken_exposition() {
    let broken = "# TYPE x counter\nx{a=\"1\"} 1\r\n";
    if let Some((code, _)) = promtool(broken) {
        assert_ne!(code, 0);
    }
    assert!(check(broken, Syntax::Text).is_err());
}
