//! The `prometheus` output end to end, against the real programs from Debian:
//! `promtool` lints what weir serves, a real `prometheus` server scrapes weir
//! and its query API must return the counts of a known input, and a real
//! `prometheus-pushgateway` (persistence off) must receive the pushed values,
//! including the final push at shutdown.
//!
//! The programs are required: a test fails, saying how to install them, when
//! one is missing (`scripts/provision` installs them).
//!
//! Known values come from weir's own counters (events received by an input,
//! events consumed by the output). Checks are tables of `(PromQL selector,
//! value)`; metric-filter counters slot in the same way once a pipeline has
//! such filters (the `filters` argument of [`WeirSpec`]).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, wait_exit, wait_for_port, weir};

// ---------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------

/// Fails the test with instructions when `program` is not installed.
fn require(program: &str, package: &str) {
    match Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => {}
        Err(e) => panic!(
            "`{program}` cannot be run ({e}): these tests need Debian's `{package}` package; \
             run scripts/provision (or `apt-get install --no-install-recommends {package}`)"
        ),
    }
}

/// `curl` with `args`; returns (HTTP status, body, response headers).
fn curl(args: &[&str]) -> (u16, String, String) {
    let headers = tempfile::NamedTempFile::new().expect("tempfile");
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "-D"])
        .arg(headers.path())
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs (scripts/provision installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        status.trim().parse().unwrap_or(0),
        body.to_owned(),
        std::fs::read_to_string(headers.path()).unwrap_or_default(),
    )
}

/// Polls `check` until it returns `Some`, or fails with `what` and the last
/// thing seen.
fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) if start.elapsed() > limit => {
                panic!("{what}: not after {limit:?}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A child process killed when the test ends, with its output in a file.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        common::signal(&self.child, "TERM");
        wait_exit(&mut self.child, Duration::from_secs(30))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            if std::thread::panicking() {
                eprintln!("--- {} log ---\n{}", self.name, self.log());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// weir
// ---------------------------------------------------------------------------

/// A weir pipeline: a tcp input `in` (JSON lines) and the given outputs.
struct WeirSpec<'a> {
    /// The `filters:` list (YAML lines), e.g. metric filters.
    filters: &'a str,
    /// The `outputs:` map (YAML lines, indented by two).
    outputs: &'a str,
    /// Extra inputs (YAML lines, indented by two).
    extra_inputs: &'a str,
}

struct Weir {
    proc: Proc,
    input_port: u16,
    /// The API port (`/metrics` of weir itself).
    api: u16,
    dir: tempfile::TempDir,
}

impl Weir {
    fn start(spec: WeirSpec<'_>) -> Weir {
        let dir = tempfile::tempdir().expect("tempdir");
        let input_port = free_port();
        let api = free_port();
        let filters = if spec.filters.is_empty() {
            "[]"
        } else {
            spec.filters
        };
        let text = format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\nworkers: 1\nshutdown_timeout: 20s\n\
             inputs:\n  in: {{ type: tcp, address: '127.0.0.1:{input_port}', format: json }}\n{}\
             filters: {filters}\noutputs:\n{}",
            spec.extra_inputs, spec.outputs
        );
        let path = dir.path().join("metrics.yaml");
        std::fs::write(&path, &text).expect("write pipeline");
        let mut cmd = weir();
        cmd.args(["run", path.to_str().expect("utf-8 path")]);
        let proc = Proc::spawn("weir", &mut cmd, dir.path());
        wait_for_port(input_port);
        Weir {
            proc,
            input_port,
            api,
            dir,
        }
    }

    /// Sends `n` JSON lines to the input `in` on one connection.
    fn send(&self, n: usize) {
        send_lines(self.input_port, n);
    }
}

fn send_raw(port: u16, data: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to weir");
    s.write_all(data.as_bytes()).expect("write to weir");
}

fn send_lines(port: u16, n: usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to weir");
    let mut data = String::new();
    for i in 0..n {
        data.push_str(&format!(
            "{{\"status\":{},\"path\":\"/api/{i}\"}}\n",
            if i % 3 == 0 { 503 } else { 200 }
        ));
    }
    s.write_all(data.as_bytes()).expect("write to weir");
}

// ---------------------------------------------------------------------------
// Exposition text
// ---------------------------------------------------------------------------

/// Parses `name{labels} value` lines of a text exposition into samples.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, parse_labels(rest.trim_end_matches('}'))),
            None => (series, BTreeMap::new()),
        };
        out.push((name.to_owned(), labels, value));
    }
    out
}

/// A series' labels, by name.
type Labels = BTreeMap<String, String>;

fn parse_labels(text: &str) -> Labels {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next() != Some('=') || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(name.trim_start_matches(',').to_owned(), value);
        if chars.peek().is_none() {
            break;
        }
    }
    out
}

/// The value of the one sample of `name` carrying `labels` (and maybe others).
fn value_of(text: &str, name: &str, labels: &[(&str, &str)]) -> Result<f64, String> {
    let found: Vec<f64> = samples(text)
        .into_iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .collect();
    match found.as_slice() {
        [v] => Ok(*v),
        [] => Err(format!("no sample {name}{labels:?}")),
        many => Err(format!("{} samples {name}{labels:?}", many.len())),
    }
}

// ---------------------------------------------------------------------------
// Prometheus and the Pushgateway
// ---------------------------------------------------------------------------

struct Prometheus {
    _proc: Proc,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second (`scrape_extra`:
    /// further YAML lines of the scrape config, e.g. basic_auth).
    fn start(target: &str, scrape_extra: &str) -> Prometheus {
        require("prometheus", "prometheus");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }}\n\
                 scrape_configs:\n  - job_name: weir\n    static_configs: [{{ targets: ['{target}'] }}]\n{scrape_extra}"
            ),
        )
        .expect("write prometheus.yml");
        let data = dir.path().join("data");
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let proc = Proc::spawn("prometheus", &mut cmd, dir.path());
        let url = format!("http://127.0.0.1:{port}/-/ready");
        eventually("prometheus ready", Duration::from_secs(30), || {
            match curl(&[&url]) {
                (200, _, _) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
        Prometheus {
            _proc: proc,
            port,
            _dir: dir,
        }
    }

    /// Runs an instant query; returns each result's labels and value.
    fn query(&self, promql: &str) -> Result<Vec<(Labels, f64)>, String> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let (status, body, _) = curl(&["-G", &url, "--data-urlencode", &format!("query={promql}")]);
        if status != 200 {
            return Err(format!("HTTP {status}: {body}"));
        }
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        let results = json["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("no result: {body}"))?;
        Ok(results
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                (labels, value)
            })
            .collect())
    }

    /// Waits until every `(selector, value)` query returns exactly one series
    /// with that value.
    fn expect_values(&self, expected: &[(&str, f64)]) {
        for (promql, want) in expected {
            eventually(
                &format!("prometheus: {promql} == {want}"),
                Duration::from_secs(30),
                || match self.query(promql)?.as_slice() {
                    [(_, v)] if v == want => Ok(()),
                    other => Err(format!("{other:?}")),
                },
            );
        }
    }

    /// The scrape target's health and last error.
    fn target(&self) -> (String, String) {
        let url = format!("http://127.0.0.1:{}/api/v1/targets", self.port);
        let (_, body, _) = curl(&[&url]);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let t = &json["data"]["activeTargets"][0];
        (
            t["health"].as_str().unwrap_or_default().to_owned(),
            t["lastError"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

struct Pushgateway {
    proc: Proc,
    port: u16,
    scheme: &'static str,
    /// What curl needs to read from it (CA, credentials).
    curl_args: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Pushgateway {
    fn start_on(port: u16) -> Pushgateway {
        Self::start_with(port, None)
    }

    /// With `web_config` (the exporter-toolkit web config: TLS, basic auth).
    fn start_with(port: u16, web_config: Option<(&str, Vec<String>)>) -> Pushgateway {
        require("prometheus-pushgateway", "prometheus-pushgateway");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("prometheus-pushgateway");
        // Debian's default persists to /var/lib/prometheus: keep tests in memory.
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--persistence.file=");
        let (scheme, curl_args) = match web_config {
            Some((config, curl_args)) => {
                let path = dir.path().join("web.yml");
                std::fs::write(&path, config).expect("write web config");
                cmd.arg(format!("--web.config.file={}", path.display()));
                ("https", curl_args)
            }
            None => ("http", Vec::new()),
        };
        let proc = Proc::spawn("pushgateway", &mut cmd, dir.path());
        wait_for_port(port);
        Pushgateway {
            proc,
            port,
            scheme,
            curl_args,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.url());
        let mut args: Vec<&str> = self.curl_args.iter().map(String::as_str).collect();
        args.push(&url);
        let (status, body, _) = curl(&args);
        assert_eq!(status, 200, "pushgateway /metrics: {body}");
        body
    }

    /// Waits until the gateway shows `name{labels}` with `want`.
    fn expect_value(&self, name: &str, labels: &[(&str, &str)], want: f64) {
        eventually(
            &format!("pushgateway: {name}{labels:?} == {want}"),
            Duration::from_secs(60),
            || match value_of(&self.metrics(), name, labels) {
                Ok(v) if v == want => Ok(()),
                Ok(v) => Err(format!("{v}")),
                Err(e) => Err(e),
            },
        );
    }
}

const RECEIVED: &str = "weir_component_received_events_total";
const SENT: &str = "weir_component_sent_events_total";

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn a_real_prometheus_scrapes_the_known_counts() {
    let port = free_port();
    let weir = Weir::start(WeirSpec {
        filters: "",
        outputs: &format!(
            "  metrics:\n    type: prometheus\n    listen: '127.0.0.1:{port}'\n    namespace: app\n    \
             const_labels: {{ env: test }}\n    basic_auth: {{ username: prom, password: 'pa:ss w0rd' }}\n"
        ),
        extra_inputs: "",
    });
    wait_for_port(port);
    weir.send(37);
    send_raw(weir.input_port, "not json\n{\"cut\": \n");

    // The endpoint insists on the credentials.
    let url = format!("http://127.0.0.1:{port}/metrics");
    let (status, _, headers) = curl(&[&url]);
    assert_eq!(status, 401);
    assert!(headers.contains("Basic realm=\"weir\""), "{headers}");
    assert_eq!(curl(&["-u", "prom:wrong", &url]).0, 401);
    assert_eq!(
        curl(&[
            "-u",
            "prom:pa:ss w0rd",
            &format!("http://127.0.0.1:{port}/other")
        ])
        .0,
        404
    );

    let prometheus = Prometheus::start(
        &format!("127.0.0.1:{port}"),
        "    basic_auth: { username: prom, password: 'pa:ss w0rd' }\n",
    );
    // A table of known values; metric-filter counters (namespaced `app_…`)
    // belong here too once the pipeline has metric filters.
    prometheus.expect_values(&[
        (
            &format!("{RECEIVED}{{job=\"weir\",component=\"in\",kind=\"input\",env=\"test\"}}"),
            39.0,
        ),
        (
            &format!("{SENT}{{component=\"metrics\",pipeline=\"metrics\"}}"),
            39.0,
        ),
        // Counters of filters, registered while the config is loaded.
        (
            "weir_parse_failures_total{component=\"in.format\",format=\"json\"}",
            2.0,
        ),
    ]);
    weir.send(5);
    prometheus.expect_values(&[(&format!("{RECEIVED}{{component=\"in\"}}"), 44.0)]);
    // The target's state is that of its last scrape, and one scrape can
    // time out (1 s) on a loaded machine: wait for a healthy one.
    eventually(
        "the target up",
        Duration::from_secs(30),
        || match prometheus.target() {
            (health, error) if health == "up" && error.is_empty() => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // Prometheus 2.x asks for OpenMetrics first; weir answers in kind.
    let (status, body, headers) = curl(&[
        "-u",
        "prom:pa:ss w0rd",
        "-H",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        &url,
    ]);
    assert_eq!(status, 200);
    assert!(
        headers.contains("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{headers}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    drop(prometheus);
    let mut weir = weir;
    assert!(weir.proc.stop().success(), "{}", weir.proc.log());
    drop(weir.dir);
}

#[test]
fn promtool_accepts_what_the_output_serves() {
    require("promtool", "prometheus");
    let port = free_port();
    let weir = Weir::start(WeirSpec {
        filters: "",
        outputs: &format!(
            "  metrics: {{ type: prometheus, listen: '127.0.0.1:{port}', path: /prom, \
             const_labels: {{ region: eu-west-1 }} }}\n  sink: {{ type: blackhole }}\n"
        ),
        extra_inputs: "",
    });
    wait_for_port(port);
    weir.send(10);
    let url = format!("http://127.0.0.1:{port}/prom");
    let body = eventually(
        "the output counted 10 events",
        Duration::from_secs(30),
        || {
            let (_, body, _) = curl(&[&url]);
            match value_of(&body, SENT, &[("component", "sink")]) {
                Ok(10.0) => Ok(body),
                other => Err(format!("{other:?}")),
            }
        },
    );
    let (_, _, headers) = curl(&[&url]);
    assert!(
        headers.contains("text/plain; version=0.0.4; charset=utf-8"),
        "{headers}"
    );
    // Every family has HELP and TYPE; counters, gauges and a histogram are there.
    for needle in [
        "# HELP weir_component_received_events_total ",
        "# TYPE weir_component_received_events_total counter",
        "# TYPE weir_channel_fill_ratio gauge",
        "# TYPE weir_output_batch_duration_seconds histogram",
        "weir_output_batch_duration_seconds_bucket{",
        "le=\"+Inf\"",
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = promtool.wait_with_output().expect("promtool ran");
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && findings.trim().is_empty(),
        "promtool check metrics: {:?}\n{findings}\n--- exposition ---\n{body}",
        out.status
    );
}

#[test]
fn pushes_to_a_real_pushgateway_and_once_more_at_shutdown() {
    let gateway = Pushgateway::start_on(free_port());
    let mut weir = Weir::start(WeirSpec {
        filters: "",
        outputs: &format!(
            "  gw:\n    type: prometheus\n    push:\n      url: {}\n      job: nightly/export\n      \
             grouping: {{ instance: 'host a', pipeline: x }}\n      interval: 1s\n",
            gateway.url()
        ),
        extra_inputs: "",
    });
    // A job with `/` goes base64-encoded in the URL; the gateway decodes it.
    let group = [("job", "nightly/export"), ("instance", "host a")];
    weir.send(5);
    let labels = |extra: &[(&'static str, &'static str)]| {
        let mut l = group.to_vec();
        l.extend_from_slice(extra);
        l
    };
    gateway.expect_value(RECEIVED, &labels(&[("component", "in")]), 5.0);
    gateway.expect_value(RECEIVED, &labels(&[("exported_pipeline", "metrics")]), 5.0);
    // The series' own `pipeline` label would collide with the grouping label
    // `pipeline`: it is pushed as `exported_pipeline`, and the gateway shows
    // the grouping value.
    assert!(
        value_of(&gateway.metrics(), RECEIVED, &labels(&[("pipeline", "x")])).is_ok(),
        "{}",
        gateway.metrics()
    );

    // More events, then SIGTERM as soon as they are read (shutdown stops
    // reading sockets): the final push carries them.
    weir.send(3);
    common::wait_for_received(weir.api, "in", 8);
    assert!(weir.proc.stop().success(), "{}", weir.proc.log());
    gateway.expect_value(RECEIVED, &labels(&[("component", "in")]), 8.0);
    gateway.expect_value(SENT, &labels(&[("component", "gw")]), 8.0);
    assert!(
        weir.proc.log().contains("final push done"),
        "{}",
        weir.proc.log()
    );
    // Pushed bodies are the text format without timestamps or `_created`:
    // nothing was refused.
    assert!(
        !gateway.proc.log().contains("level=error"),
        "{}",
        gateway.proc.log()
    );
}

#[test]
fn the_final_push_delivers_a_batch_jobs_counts() {
    let gateway = Pushgateway::start_on(free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let api = free_port();
    let path = dir.path().join("batch.yaml");
    // A long interval: after the first push at start, only the final push
    // can deliver the counts.
    std::fs::write(
        &path,
        format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\ninputs:\n  lines: {{ type: stdin }}\n\
             outputs:\n  gw:\n    type: prometheus\n    include_internal: true\n    \
             push: {{ url: '{}', job: batch, grouping: {{ instance: ci }}, interval: 1h }}\n",
            gateway.url()
        ),
    )
    .expect("write");
    let input: String = (0..25).map(|i| format!("line {i}\n")).collect();
    let (status, _, stderr) = common::run_to_end(&path, input.as_bytes());
    assert!(status.success(), "{stderr}");
    let labels = [("job", "batch"), ("instance", "ci"), ("component", "lines")];
    let text = gateway.metrics();
    assert_eq!(value_of(&text, RECEIVED, &labels), Ok(25.0), "{text}");
    assert_eq!(
        value_of(&text, SENT, &[("job", "batch"), ("component", "gw")]),
        Ok(25.0),
        "{text}"
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it, as PEM files in `dir`:
/// `ca.pem`, `server.pem`, `server-key.pem`.
fn write_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let named = |sans: Vec<String>, cn: &str| {
        let mut p = CertificateParams::new(sans).expect("params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p
    };
    let mut ca_params = named(Vec::new(), "weir test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().expect("key");
    let server = named(vec!["localhost".into(), "127.0.0.1".into()], "localhost")
        .signed_by(&server_key, &issuer)
        .expect("server cert");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
    std::fs::write(dir.join("server.pem"), server.pem()).expect("write");
    std::fs::write(dir.join("server-key.pem"), server_key.serialize_pem()).expect("write");
}

#[test]
fn pushes_over_tls_with_basic_auth() {
    let certs = tempfile::tempdir().expect("tempdir");
    write_certificates(certs.path());
    let ca = certs.path().join("ca.pem").display().to_string();
    // bcrypt of `push-secret`, as the gateway's web config wants it.
    let web_config = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n\
         basic_auth_users:\n  weir: $2b$04$2DF.Kt5vrJ5Fw1I97ndwWO5OSPD7kYniGz6MoGTJ6A2DRhh.uSs..\n",
        certs.path().join("server.pem").display(),
        certs.path().join("server-key.pem").display()
    );
    let gateway = Pushgateway::start_with(
        free_port(),
        Some((
            &web_config,
            vec![
                "--cacert".into(),
                ca.clone(),
                "-u".into(),
                "weir:push-secret".into(),
            ],
        )),
    );
    // The gateway really wants the credentials.
    let anonymous = curl(&["--cacert", &ca, &format!("{}/metrics", gateway.url())]);
    assert_eq!(anonymous.0, 401, "{anonymous:?}");
    let mut weir = Weir::start(WeirSpec {
        filters: "",
        outputs: &format!(
            "  gw:\n    type: prometheus\n    push:\n      url: {}\n      ca_file: '{ca}'\n      \
             grouping: {{ instance: tls }}\n      interval: 500ms\n      \
             basic_auth: {{ username: weir, password: push-secret }}\n",
            gateway.url()
        ),
        extra_inputs: "",
    });
    weir.send(6);
    gateway.expect_value(
        RECEIVED,
        &[("job", "weir"), ("instance", "tls"), ("component", "in")],
        6.0,
    );
    assert!(weir.proc.stop().success(), "{}", weir.proc.log());
    assert!(
        !weir.proc.log().contains("push failed"),
        "{}",
        weir.proc.log()
    );
}

#[test]
fn pushes_are_retried_until_the_pushgateway_comes_up() {
    let port = free_port();
    let mut weir = Weir::start(WeirSpec {
        filters: "",
        outputs: &format!(
            "  gw: {{ type: prometheus, push: {{ url: 'http://127.0.0.1:{port}', \
             grouping: {{ instance: retry }}, interval: 1h, timeout: 2s }} }}\n"
        ),
        extra_inputs: "",
    });
    weir.send(4);
    // Nothing listens yet: the first pushes fail.
    eventually("a failed push is logged", Duration::from_secs(30), || {
        let log = weir.proc.log();
        if log.contains("push failed") {
            Ok(())
        } else {
            Err(log)
        }
    });
    let gateway = Pushgateway::start_on(port);
    // With a 1h interval only the backoff retries can reach it.
    let labels = [("job", "weir"), ("instance", "retry"), ("component", "in")];
    gateway.expect_value(RECEIVED, &labels, 4.0);
    let text = gateway.metrics();
    let failed = value_of(
        &text,
        "weir_prometheus_pushes_total",
        &[("instance", "retry"), ("outcome", "failed")],
    )
    .expect("failures are counted");
    assert!(failed >= 1.0, "{text}");
    assert!(weir.proc.stop().success(), "{}", weir.proc.log());
}

#[test]
fn max_series_and_expire_after_end_to_end() {
    let port = free_port();
    let second = free_port();
    let weir = Weir::start(WeirSpec {
        filters: "",
        outputs: &format!(
            "  metrics:\n    type: prometheus\n    listen: '127.0.0.1:{port}'\n    metrics:\n      \
             {RECEIVED}: {{ max_series: 1 }}\n      \
             weir_component_received_bytes_total: {{ expire_after: 1s }}\n"
        ),
        extra_inputs: &format!(
            "  second: {{ type: tcp, address: '127.0.0.1:{second}', format: json }}\n"
        ),
    });
    wait_for_port(port);
    wait_for_port(second);
    let url = format!("http://127.0.0.1:{port}/metrics");
    weir.send(2);
    send_lines(second, 3);
    // One input has the metric's one series; the other's events are counted
    // in the overflow series, and the refused label set is counted.
    let text = eventually("both inputs counted", Duration::from_secs(30), || {
        let text = curl(&[&url]).1;
        let first = value_of(&text, RECEIVED, &[("kind", "input")]);
        let overflow = value_of(&text, RECEIVED, &[("component", "__overflow__")]);
        match (first, overflow) {
            (Ok(a), Ok(b)) if a + b == 5.0 => Ok(text),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(
        value_of(
            &text,
            "weir_metric_series_overflow_total",
            &[("metric", RECEIVED)]
        ),
        Ok(1.0),
        "{text}"
    );
    assert_eq!(
        text.matches(&format!("\n{RECEIVED}{{")).count(),
        2,
        "{text}"
    );

    // `expire_after` hides an idle series; counters without it stay.
    let bytes = value_of(
        &text,
        "weir_component_received_bytes_total",
        &[("component", "in")],
    )
    .expect("bytes counted");
    eventually(
        "the idle bytes series expires",
        Duration::from_secs(30),
        || {
            let text = curl(&[&url]).1;
            if text.contains("weir_component_received_bytes_total{") {
                Err("still there".to_owned())
            } else if value_of(&text, RECEIVED, &[("kind", "input")]).is_err() {
                Err(format!("the events counter went too: {text}"))
            } else {
                Ok(())
            }
        },
    );
    // It comes back when it records again — with its running total, not from 0.
    weir.send(1);
    eventually("the bytes series is back", Duration::from_secs(30), || {
        let text = curl(&[&url]).1;
        match value_of(
            &text,
            "weir_component_received_bytes_total",
            &[("component", "in")],
        ) {
            Ok(v) if v > bytes => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

#[test]
fn two_outputs_on_one_address_are_a_config_error_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, output: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("inputs:\n  in: {{ type: stdin }}\noutputs:\n  {output}\n"),
        )
        .expect("write");
        path
    };
    let a = write("a.yaml", "scrape: { type: prometheus }");
    let b = write(
        "b.yaml",
        "metrics: { type: prometheus, listen: '127.0.0.1:9598' }",
    );
    for command in ["validate", "run"] {
        let out = weir()
            .arg(command)
            .arg(&a)
            .arg(&b)
            .stdin(Stdio::null())
            .output()
            .expect("weir");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("b.yaml:4:12: output `metrics` of pipeline `b` (prometheus) listens on 127.0.0.1:9598")
                && stderr.contains("output `scrape` of pipeline `a` (prometheus)")
                && stderr.contains("a.yaml:4:11) already listens on 0.0.0.0:9598"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn a_port_in_use_fails_at_start_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let api = free_port();
    let path = dir.path().join("p.yaml");
    std::fs::write(
        &path,
        format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\ninputs:\n  in: {{ type: stdin }}\n\
             outputs:\n  m: {{ type: prometheus, listen: '127.0.0.1:{port}' }}\n"
        ),
    )
    .expect("write");
    let (status, _, stderr) = common::run_to_end(&path, b"");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("output `m`: cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}
