use super::*;
use crate::config::{load_str, pipeline::check_claims, yaml, PipelineSpec};
use std::sync::Arc;

fn options(text: &str) -> Node {
    yaml::parse(text).expect("yaml")
}

fn load(text: &str) -> Result<PrometheusConfig, String> {
    PrometheusConfig::from_options(&options(text)).map_err(|e| match e.loc {
        Some(loc) => format!("{loc}: {}", e.message),
        None => e.message,
    })
}

#[test]
fn defaults_serve_on_9598_without_push() {
    let c = load("{}").expect("valid");
    assert_eq!(c.listen, Some(DEFAULT_LISTEN.parse().expect("addr")));
    assert_eq!(c.path, "/metrics");
    assert!(c.include_internal);
    assert!(c.push.is_none() && c.basic_auth.is_none());
    assert_eq!(
        c.claims(),
        vec![Claim::Listen(DEFAULT_LISTEN.parse().expect("addr"))]
    );
}

#[test]
fn push_alone_does_not_listen_and_defaults_the_grouping_to_the_host() {
    let c = load("push: { url: 'http://gw:9091' }").expect("valid");
    assert_eq!(c.listen, None);
    let push = c.push.as_ref().expect("push");
    assert_eq!(push.job, "weir");
    assert_eq!(push.interval, Duration::from_secs(15));
    assert_eq!(push.method, PushMethod::Put);
    assert_eq!(push.grouping.len(), 1);
    assert_eq!(push.grouping[0].0, "instance");
    assert!(!push.grouping[0].1.is_empty());
    assert!(push
        .group_url()
        .starts_with("http://gw:9091/metrics/job/weir/instance/"));
    // Both, when asked for.
    let c = load("listen: 127.0.0.1:0\npush: { url: 'http://gw:9091', grouping: {}, interval: 2s, method: post }")
        .expect("valid");
    assert!(c.listen.is_some());
    let push = c.push.as_ref().expect("push");
    assert_eq!(push.group_url(), "http://gw:9091/metrics/job/weir");
    assert_eq!(push.interval, Duration::from_secs(2));
    assert_eq!(push.method, PushMethod::Post);
}

#[test]
fn bad_options_are_refused_with_their_position() {
    let cases = [
        (
            "listen: localhost",
            "1:9: listen `localhost` is not `ip:port`",
        ),
        ("path: metrics", "1:7: path `metrics` must start with `/`"),
        ("path: '/a b'", "must start with `/`"),
        ("listn: 1.2.3.4:5", "unknown field `listn`"),
        (
            "const_labels: { le: x }",
            "const label `le` is not a usable label name",
        ),
        ("const_labels: { 'a-b': x }", "use `a_b`"),
        ("const_labels: { env: '' }", "const label `env` is empty"),
        (
            "metrics: { x: { max_series: 0 } }",
            "1:15: metrics.x: max_series must be at least 1",
        ),
        (
            "metrics: { x: { buckets: [1, -.inf] } }",
            "bucket bound -inf",
        ),
        (
            "metrics: { x: { expire_after: soon } }",
            "expected a duration",
        ),
        ("metrics: { x: { max: 1 } }", "unknown field `max`"),
        (
            "basic_auth: { username: 'a:b', password: p }",
            "without `:`",
        ),
        ("basic_auth: { username: a }", "missing field `password`"),
        ("push: {}", "missing field `url`"),
        ("push: { url: 'gw:9091' }", "must be http:// or https://"),
        ("push: { url: 'ftp://gw' }", "must be http:// or https://"),
        (
            "push: { url: 'http://gw:9091/metrics/job/x' }",
            "the group path is built from `job`",
        ),
        (
            "push: { url: 'http://gw', job: '' }",
            "push.job must not be empty",
        ),
        (
            "push: { url: 'http://gw', grouping: { job: x } }",
            "other than `job`",
        ),
        (
            "push: { url: 'http://gw', grouping: { __x: y } }",
            "other than `job`",
        ),
        ("push: { url: 'http://gw', interval: 0s }", "at least 100ms"),
        (
            "push: { url: 'http://gw', method: patch }",
            "unknown variant `patch`",
        ),
        (
            "push: { url: 'http://gw', username: u }",
            "unknown field `username`",
        ),
        (
            "push: { url: 'https://gw', ca_file: /nope/ca.pem }",
            "push.ca_file: cannot read /nope/ca.pem",
        ),
        (
            "push: { url: 'http://gw' }\npath: /m",
            "`path` and `basic_auth` are for scraping",
        ),
        (
            "push: { url: 'http://gw', grouping: { region: eu } }\nconst_labels: { region: eu }",
            "const label `region` is also a grouping label",
        ),
    ];
    for (text, want) in cases {
        let e = load(text).expect_err(text);
        assert!(e.contains(want), "{text}: got {e:?}, want {want:?}");
    }
}

#[test]
fn a_ca_file_without_certificates_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, "not a certificate\n").expect("write");
    let e = load(&format!(
        "push: {{ url: 'https://gw', ca_file: '{}' }}",
        path.display()
    ))
    .expect_err("no certificate");
    assert!(e.contains("holds no PEM certificate"), "{e}");
}

#[test]
fn passwords_do_not_show_in_debug_output() {
    let c = load("basic_auth: { username: prom, password: hunter2 }\npush: { url: 'http://gw', basic_auth: { username: u, password: hunter3 } }\nlisten: 127.0.0.1:1")
        .expect("valid");
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter"), "{debug}");
    assert!(debug.contains("prom"), "{debug}");
}

fn pipeline(file: &str, outputs: &str) -> PipelineSpec {
    load_str(
        &format!("inputs:\n  in: {{ type: stdin }}\noutputs:\n{outputs}"),
        &Arc::from(file),
        file.trim_end_matches(".yaml"),
        &|_| None,
    )
    .expect("loads")
}

#[test]
fn two_outputs_on_one_address_are_refused_naming_both() {
    let a = pipeline(
        "a.yaml",
        "  m1: { type: prometheus, listen: '0.0.0.0:19598' }\n  m2: { type: prometheus, listen: '127.0.0.1:19599' }\n",
    );
    let b = pipeline(
        "b.yaml",
        "  other: { type: prometheus, listen: '127.0.0.1:19598' }\n",
    );
    assert!(check_claims(std::slice::from_ref(&a)).is_empty());
    let errors = check_claims(&[a, b]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0].to_string();
    assert!(
        e.starts_with(
            "b.yaml:4:10: output `other` of pipeline `b` (prometheus) listens on 127.0.0.1:19598"
        ),
        "{e}"
    );
    assert!(
        e.contains("output `m1` of pipeline `a` (prometheus) (a.yaml:4:7) already listens on 0.0.0.0:19598"),
        "{e}"
    );
    // Within one file too, and against the API's address.
    let c = pipeline(
        "c.yaml",
        "  m1: { type: prometheus }\n  m2: { type: prometheus }\n  m3: { type: prometheus, listen: '127.0.0.1:9600' }\n",
    );
    let errors = check_claims(&[c]);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].to_string().contains("`m1`"), "{}", errors[0]);
    assert!(
        errors[1].to_string().contains("the API (`api.listen`)"),
        "{}",
        errors[1]
    );
}

#[test]
fn two_pushers_of_one_group_and_disagreeing_metric_settings_are_refused() {
    let a = pipeline(
        "a.yaml",
        "  p: { type: prometheus, push: { url: 'http://gw:9091', grouping: { instance: x } }, metrics: { s3_errors_total: { max_series: 10 } } }\n",
    );
    let b = pipeline(
        "b.yaml",
        "  p: { type: prometheus, push: { url: 'http://gw:9091/', grouping: { instance: x } }, metrics: { s3_errors: { max_series: 20 } } }\n",
    );
    let errors: Vec<String> = check_claims(&[a, b])
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0]
            .contains("both take the Pushgateway group http://gw:9091/metrics/job/weir/instance/x"),
        "{errors:?}"
    );
    assert!(
        errors[1]
            .contains("sets `metrics.s3_errors.max_series` to 20, but output `p` of pipeline `a`"),
        "{errors:?}"
    );
    // Alike is fine.
    let a = pipeline(
        "a.yaml",
        "  p: { type: prometheus, listen: '127.0.0.1:1', metrics: { x: { max_series: 10 } } }\n",
    );
    let b = pipeline("b.yaml", "  p: { type: prometheus, listen: '127.0.0.1:2', metrics: { x_total: { max_series: 10 } } }\n");
    assert!(check_claims(&[a, b]).is_empty());
}

#[test]
fn the_encoder_follows_namespace_const_labels_and_include_internal() {
    let c = load("namespace: app\nconst_labels: { env: prod }\ninclude_internal: false")
        .expect("valid");
    let r = Registry::new();
    r.counter("weir_component_sent_events_total", &[], "")
        .increment(1);
    r.counter("s3_errors_total", &[("bucket", "b")], "Errors.")
        .increment(2);
    let text = c.encoder().render(&r, crate::telemetry::Format::Text);
    assert_eq!(
        text,
        "# HELP app_s3_errors_total Errors.\n# TYPE app_s3_errors_total counter\n\
         app_s3_errors_total{bucket=\"b\",env=\"prod\"} 2\n"
    );
    let c = load("namespace: app").expect("valid");
    let text = c.encoder().render(&r, crate::telemetry::Format::Text);
    assert!(
        text.contains("\nweir_component_sent_events_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("\napp_s3_errors_total{bucket=\"b\"} 2\n"),
        "{text}"
    );
}

#[test]
fn metric_settings_reach_the_registry() {
    let c = load(
        "metrics:\n  hits_total: { max_series: 1 }\n  lag: { expire_after: 5m }\n  size_bytes: { buckets: [10, 100] }",
    )
    .expect("valid");
    let r = Registry::new();
    c.configure(&r).expect("configured");
    r.counter("hits_total", &[("k", "a")], "").increment(1);
    r.counter("hits_total", &[("k", "b")], "").increment(1);
    r.histogram("size_bytes", &[], "").record(50.0);
    let text = r.render(crate::telemetry::Format::Text);
    assert!(
        text.contains("hits_total{k=\"__overflow__\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("size_bytes_bucket{le=\"100\"} 1\n"), "{text}");
    assert!(!text.contains("le=\"0.005\""), "{text}");
}
