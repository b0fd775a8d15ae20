//! The `elasticsearch` output end to end: the real `weir` binary against a
//! real OpenSearch-compatible server (`osmem-server`), and a fault-injecting
//! proxy in front of it for what a real server does not do on demand.
//!
//! Every test checks the two promises: nothing lost (`_count` and the exact
//! set of events) and nothing duplicated (deterministic ids + `create`).

mod common;
#[path = "elasticsearch/osmem.rs"]
mod osmem;
#[path = "elasticsearch/proxy.rs"]
mod proxy;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use osmem::Osmem;
use proxy::{Fault, Proxy};

/// Options every fault test uses: replay-safe ids and quick retries.
const SAFE: &str = "action: create\n    id: auto_source\n    retry_initial_backoff: 10ms\n    retry_max_backoff: 200ms\n    health_check_interval: 200ms\n";

fn template_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("grammars/elasticsearch/weir-template.json")
}

/// `n` NDJSON events, alternating between two days, each with its `seq`.
fn events(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let day = 6 + i % 2;
        out.push_str(&format!(
            "{{\"@timestamp\":\"2024-05-0{day}T07:08:09.{:03}Z\",\"seq\":{i},\"message\":\"event {i} from the test\",\"source\":{{\"ip\":\"10.0.{}.{}\"}},\"http\":{{\"response\":{{\"status_code\":200}}}}}}\n",
            i % 1000,
            i / 256 % 256,
            i % 256
        ));
    }
    out
}

struct Run {
    pipeline: Pipeline,
    events: PathBuf,
}

impl Run {
    /// A pipeline reading `data` from a file into one `elasticsearch`
    /// output named `es` with `options` (indented by four spaces).
    fn new(data: &str, options: &str) -> Run {
        Self::with_outputs(
            data,
            &format!("  es:\n    type: elasticsearch\n    {options}"),
        )
    }

    fn with_outputs(data: &str, outputs: &str) -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path().join("events.ndjson");
        std::fs::write(&events, data).expect("write events");
        let api = free_port();
        let text = format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\ndata_dir: '{}'\nshutdown_timeout: 60s\n\
             inputs:\n  logs: {{ type: file, paths: ['{}'] }}\n\
             filters:\n  - parse: {{ format: json }}\n\
             outputs:\n{outputs}\n",
            dir.path().join("data").display(),
            events.display(),
        );
        let path = dir.path().join("test.yaml");
        std::fs::write(&path, text).expect("write pipeline");
        Run {
            pipeline: Pipeline { dir, path },
            events,
        }
    }

    /// Runs weir to the end of the file; returns its stderr.
    fn run(&self) -> String {
        let child = weir()
            .args(["run", self.pipeline.path.to_str().expect("path")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weir");
        let out = wait_output(child, Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if std::env::var_os("WEIR_TEST_SHOW_LOGS").is_some() {
            eprintln!("{stderr}");
        }
        assert!(
            out.status.success(),
            "weir failed ({:?}):\n{stderr}",
            out.status
        );
        stderr
    }

    fn data_dir(&self) -> PathBuf {
        self.pipeline.dir.path().join("data")
    }

    /// Lines of the default dead-letter file of output `es`.
    fn dead_letters(&self) -> Vec<serde_json::Value> {
        read_ndjson(&self.data_dir().join("dead_letter/test-es.ndjson"))
    }
}

fn wait_output(child: std::process::Child, limit: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for weir"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("weir did not finish within {limit:?}");
        }
    }
}

fn read_ndjson(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line ({e}): {l}")))
        .collect()
}

/// Asserts `index` holds exactly the events `0..n` (by `seq`), once each.
fn assert_exactly(es: &Osmem, index: &str, n: usize) {
    assert_eq!(es.count(index), n as u64, "_count of {index}");
    let docs = es.documents(index, n + 10);
    assert_eq!(docs.len(), n, "documents returned by _search");
    let seqs: BTreeSet<u64> = docs
        .iter()
        .map(|d| d["_source"]["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs.len(), n, "duplicated documents");
    assert_eq!(seqs, (0..n as u64).collect(), "missing events");
    let ids: BTreeSet<&str> = docs.iter().filter_map(|d| d["_id"].as_str()).collect();
    assert_eq!(ids.len(), n, "ids are unique");
}

#[test]
fn every_event_arrives_gzipped_into_daily_indices_with_the_template() {
    let es = Osmem::start();
    let proxy = Proxy::start(es.port, |_| Fault::Pass);
    let n = 3000;
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}']\n    index: 'weir-e2e-%Y.%m.%d'\n    batch_max_events: 400\n    \
             template: {{ name: weir, file: '{}' }}\n",
            proxy.url(),
            template_file().display()
        ),
    );
    let stderr = run.run();
    assert!(stderr.contains("index template installed"), "{stderr}");
    assert_eq!(es.count("weir-e2e-2024.05.06"), n as u64 / 2);
    assert_eq!(es.count("weir-e2e-2024.05.07"), n as u64 / 2);
    assert_exactly(&es, "weir-e2e-*", n);

    // Compressed bodies, several requests, `index` actions.
    let bulks = proxy.bulks();
    assert!(bulks >= n / 400, "{bulks} bulk requests");
    assert_eq!(proxy.stats.gzipped_bulks.load(Ordering::Relaxed), bulks);
    let actions = proxy.stats.first_actions.lock().unwrap().clone();
    assert!(
        actions[0].starts_with("{\"index\":{\"_index\":\"weir-e2e-2024.05.0"),
        "{actions:?}"
    );

    // The shipped template applied: ECS types, strings as keywords.
    let mapping = es.get("/weir-e2e-2024.05.06/_mapping");
    let props = &mapping["weir-e2e-2024.05.06"]["mappings"]["properties"];
    assert_eq!(props["source"]["properties"]["ip"]["type"], "ip");
    assert_eq!(props["message"]["type"], "text");
    assert_eq!(
        props["http"]["properties"]["response"]["properties"]["status_code"]["type"],
        "long"
    );
    assert_eq!(es.request("HEAD", "/_index_template/weir", b"").0, 200);

    // A second start finds the template and leaves it alone.
    let again = Run::new(
        "",
        &format!(
            "hosts: ['{}']\n    template: {{ name: weir, file: '{}' }}\n",
            es.url,
            template_file().display()
        ),
    );
    let stderr = again.run();
    assert!(
        stderr.contains("index template already installed"),
        "{stderr}"
    );
}

#[test]
fn mapping_errors_and_unknown_pipelines_go_to_the_dead_letter_queue() {
    let es = Osmem::start();
    let mut data = events(100);
    for i in 100..105 {
        data.push_str(&format!(
            "{{\"@timestamp\":\"2024-05-06T00:00:00Z\",\"seq\":{i},\"source\":{{\"ip\":\"not-an-ip-{i}\"}}}}\n"
        ));
    }
    let custom_dlq = tempfile::tempdir().expect("tempdir");
    let custom_path = custom_dlq.path().join("nested/pipe.ndjson");
    let run = Run::with_outputs(
        &data,
        &format!(
            "  es:\n    type: elasticsearch\n    hosts: ['{url}']\n    index: 'weir-dlq'\n    \
             template: {{ name: weir, file: '{tpl}' }}\n\
             \x20 es_pipe:\n    type: elasticsearch\n    hosts: ['{url}']\n    index: 'weir-pipe'\n    \
             pipeline: no-such-pipeline\n    dead_letter: {{ path: '{dlq}' }}\n",
            url = es.url,
            tpl = template_file().display(),
            dlq = custom_path.display()
        ),
    );
    let stderr = run.run();
    assert_eq!(es.count("weir-dlq"), 100, "the good events are indexed");
    assert!(
        stderr.contains("written to the dead-letter queue"),
        "{stderr}"
    );

    let letters = run.dead_letters();
    assert_eq!(letters.len(), 5, "{letters:?}");
    let mut seqs = Vec::new();
    for l in &letters {
        assert_eq!(l["status"], 400, "{l}");
        assert_eq!(l["error"]["type"], "mapper_parsing_exception", "{l}");
        assert!(l["reason"].as_str().unwrap().contains("source.ip"), "{l}");
        assert_eq!(l["index"], "weir-dlq");
        assert_eq!(l["pipeline"], "test");
        assert_eq!(l["component"], "es");
        assert_eq!(l["attempts"], 1);
        let seq = l["event"]["seq"].as_u64().unwrap();
        assert_eq!(l["event"]["source"]["ip"], format!("not-an-ip-{seq}"));
        seqs.push(seq);
    }
    seqs.sort();
    assert_eq!(seqs, (100..105).collect::<Vec<_>>());

    // `pipeline:` reaches the server, which has no such ingest pipeline:
    // every document is refused and kept, in the configured file.
    assert_eq!(es.count("weir-pipe"), 0);
    let refused = read_ndjson(&custom_path);
    assert_eq!(refused.len(), 105);
    assert!(refused[0]["reason"]
        .as_str()
        .unwrap()
        .contains("pipeline with id [no-such-pipeline] does not exist"));
}

#[test]
fn replays_with_create_and_source_ids_never_duplicate() {
    let es = Osmem::start();
    let n = 2000;
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}']\n    index: weir-replay\n    action: create\n    id: auto_source\n    \
             compression: none\n    batch_max_events: 300\n",
            es.url
        ),
    );
    run.run();
    assert_exactly(&es, "weir-replay", n);
    let first_ids: BTreeSet<String> = es
        .documents("weir-replay", n)
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_owned())
        .collect();
    // The same file read again: every document is a 409, nothing new.
    run.run();
    assert_exactly(&es, "weir-replay", n);
    let ids: BTreeSet<String> = es
        .documents("weir-replay", n)
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, first_ids);
    assert!(run.dead_letters().is_empty());
    assert!(std::fs::metadata(&run.events).is_ok());
}

#[test]
fn data_streams_get_create_actions_their_name_and_fields() {
    let es = Osmem::start();
    let proxy = Proxy::start(es.port, |_| Fault::Pass);
    let n = 500;
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}']\n    data_stream: {{ type: logs, dataset: weirtest, namespace: ci }}\n",
            proxy.url()
        ),
    );
    run.run();
    // osmem-server has no data streams: the name becomes a plain index,
    // which still shows the name, the action and the fields weir sends.
    assert_eq!(es.count("logs-weirtest-ci"), n as u64);
    let actions = proxy.stats.first_actions.lock().unwrap().clone();
    assert!(
        actions
            .iter()
            .all(|a| a == "{\"create\":{\"_index\":\"logs-weirtest-ci\"}}"),
        "{actions:?}"
    );
    let doc = &es.documents("logs-weirtest-ci", 1)[0]["_source"];
    assert_eq!(
        doc["data_stream"],
        serde_json::json!({"type": "logs", "dataset": "weirtest", "namespace": "ci"})
    );
}

#[test]
fn a_429_storm_loses_and_duplicates_nothing() {
    let es = Osmem::start();
    let proxy = Proxy::start(es.port, |s| match s.bulk_seq {
        _ if !s.is_bulk => Fault::Pass,
        0..=5 => Fault::Status(429),
        6..=14 => Fault::RejectItems {
            every: 3,
            status: 429,
        },
        _ => Fault::Pass,
    });
    let n = 1500;
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}']\n    index: weir-429\n    batch_max_events: 100\n    {SAFE}",
            proxy.url()
        ),
    );
    let stderr = run.run();
    assert_exactly(&es, "weir-429", n);
    assert!(proxy.faults() >= 15, "{} faults", proxy.faults());
    assert!(stderr.contains("retrying"), "{stderr}");
    assert!(run.dead_letters().is_empty());
}

#[test]
fn server_errors_resets_and_slow_answers_lose_and_duplicate_nothing() {
    let es = Osmem::start();
    let proxy = Proxy::start(es.port, |s| {
        if !s.is_bulk || s.bulk_seq >= 16 {
            return Fault::Pass;
        }
        match s.bulk_seq % 4 {
            0 => Fault::Status(503),
            1 => Fault::Reset,
            // Indexed, but answered after weir gave up waiting: the retry
            // meets 409 conflicts, which count as delivered.
            2 => Fault::Slow(Duration::from_millis(1500)),
            _ => Fault::Status(502),
        }
    });
    let n = 1200;
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}']\n    index: weir-faults\n    batch_max_events: 100\n    \
             request_timeout: 1s\n    {SAFE}",
            proxy.url()
        ),
    );
    let stderr = run.run();
    assert_exactly(&es, "weir-faults", n);
    assert!(proxy.faults() >= 16, "{} faults", proxy.faults());
    assert!(
        stderr.contains("bulk request failed; retrying it"),
        "{stderr}"
    );
    assert!(run.dead_letters().is_empty());
}

#[test]
fn oversized_requests_are_split_and_an_oversized_document_dead_lettered() {
    let es = Osmem::start();
    const LIMIT: usize = 16 * 1024;
    let proxy = Proxy::start(es.port, |s| {
        if s.is_bulk && s.body_len > LIMIT {
            Fault::TooLarge
        } else {
            Fault::Pass
        }
    });
    let n = 1000;
    let mut data = events(n);
    data.push_str(&format!(
        "{{\"@timestamp\":\"2024-05-06T00:00:00Z\",\"seq\":{n},\"big\":\"{}\"}}\n",
        "x".repeat(LIMIT + 1)
    ));
    let run = Run::new(
        &data,
        &format!(
            "hosts: ['{}']\n    index: weir-413\n    batch_max_events: 1000\n    {SAFE}",
            proxy.url()
        ),
    );
    let stderr = run.run();
    assert_exactly(&es, "weir-413", n);
    assert!(stderr.contains("(413)"), "{stderr}");
    let letters = run.dead_letters();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["status"], 413);
    assert_eq!(letters[0]["event"]["seq"], n);
    // Nothing over the limit was ever forwarded.
    let log = proxy.stats.log.lock().unwrap();
    assert!(log
        .iter()
        .all(|(s, f)| !s.is_bulk || s.body_len <= LIMIT || *f == Fault::TooLarge));
}

#[test]
fn hosts_fail_over_to_a_healthy_one() {
    let es = Osmem::start();
    // One host that resets every connection, one that is not there at all.
    let broken = Proxy::start(es.port, |_| Fault::Reset);
    let dead = free_port();
    let n = 800;
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}', 'http://127.0.0.1:{dead}', '{}']\n    index: weir-failover\n    \
             batch_max_events: 50\n    {SAFE}",
            broken.url(),
            es.url
        ),
    );
    let stderr = run.run();
    assert_exactly(&es, "weir-failover", n);
    assert!(stderr.contains("not reachable"), "{stderr}");
}

#[test]
fn exhausted_retries_are_dead_lettered() {
    let es = Osmem::start();
    let proxy = Proxy::start(es.port, |s| {
        if s.is_bulk {
            Fault::Status(503)
        } else {
            Fault::Pass
        }
    });
    let n = 120;
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}']\n    index: weir-exhausted\n    batch_max_events: 60\n    max_retries: 2\n    {SAFE}",
            proxy.url()
        ),
    );
    run.run();
    assert_eq!(es.count("weir-exhausted"), 0);
    let letters = run.dead_letters();
    assert_eq!(letters.len(), n);
    assert!(letters
        .iter()
        .all(|l| l["status"] == 503 && l["attempts"] == 3));
    assert!(letters[0]["reason"]
        .as_str()
        .unwrap()
        .contains("max_retries exhausted"));
    // Two requests of 60, each sent three times.
    assert_eq!(proxy.bulks(), 6);
}

/// A proxy that answers 401, as a cluster with security enabled does, to
/// every request without exactly `expected` as its `Authorization`.
fn secured(es: &Osmem, expected: String) -> Proxy {
    Proxy::start(es.port, move |s| {
        if s.authorization.as_deref() == Some(expected.as_str()) {
            Fault::Pass
        } else {
            Fault::Status(401)
        }
    })
}

#[test]
fn basic_auth_and_api_keys_reach_a_secured_cluster() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let es = Osmem::start();
    let n = 200;

    let proxy = secured(&es, format!("Basic {}", b64("weir_writer:s3cret pass")));
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}']\n    index: weir-basic\n    user: weir_writer\n    password: 's3cret pass'\n",
            proxy.url()
        ),
    );
    run.run();
    assert_exactly(&es, "weir-basic", n);
    assert_eq!(proxy.faults(), 0, "a request went out without credentials");

    // `id:key`, which weir encodes, and the already encoded form Kibana shows.
    let (id, key) = ("VuaCfGcBCdbkQm-e5aOx", "ui2lp2axTNmsyakw9tvNnw");
    for (i, api_key) in [format!("{id}:{key}"), b64(&format!("{id}:{key}"))]
        .into_iter()
        .enumerate()
    {
        let proxy = secured(&es, format!("ApiKey {}", b64(&format!("{id}:{key}"))));
        let index = format!("weir-apikey-{i}");
        let run = Run::new(
            &events(n),
            &format!(
                "hosts: ['{}']\n    index: {index}\n    api_key: '{api_key}'\n",
                proxy.url()
            ),
        );
        run.run();
        assert_exactly(&es, &index, n);
        assert_eq!(
            proxy.faults(),
            0,
            "api_key {api_key}: a request was refused"
        );
    }
}

#[test]
fn wrong_credentials_are_retried_then_dead_lettered_never_dropped() {
    let es = Osmem::start();
    let proxy = secured(&es, "Basic nobody-has-this".to_owned());
    let n = 50;
    let run = Run::new(
        &events(n),
        &format!(
            "hosts: ['{}']\n    index: weir-denied\n    user: weir\n    password: wrong\n    \
             max_retries: 1\n    {SAFE}",
            proxy.url()
        ),
    );
    let stderr = run.run();
    assert_eq!(es.count("weir-denied"), 0);
    let letters = run.dead_letters();
    assert_eq!(
        letters.len(),
        n,
        "every refused event is in the dead-letter queue"
    );
    assert!(letters.iter().all(|l| l["status"] == 401), "{letters:?}");
    assert!(
        stderr.contains("401") || stderr.contains("unauthorized"),
        "the log names the refusal: {stderr}"
    );
}

fn scrape(api: u16) -> String {
    String::from_utf8_lossy(&osmem::http(api, "GET", "/metrics", b"").1).into_owned()
}

fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|lb| l.contains(lb)))
        .find_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()))
}

#[test]
fn metrics_count_indexed_conflicts_and_id_fallbacks() {
    let es = Osmem::start();
    let port = free_port();
    let api = free_port();
    let p = pipeline(&format!(
        "api: {{ listen: '127.0.0.1:{api}' }}\nshutdown_timeout: 30s\n\
         inputs:\n  net: {{ type: tcp, address: '127.0.0.1:{port}' }}\n\
         filters:\n  - parse: {{ format: json }}\n\
         outputs:\n  es:\n    type: elasticsearch\n    hosts: ['{}']\n    index: weir-metrics\n    \
         action: create\n    id: {{ field: rid }}\n    batch_timeout: 100ms\n",
        es.url
    ));
    let mut child = weir()
        .args(["run", p.path.to_str().expect("path")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir");
    wait_for_port(port);
    let mut originals = String::new();
    for i in 0..50 {
        originals.push_str(&format!("{{\"rid\":\"r{i}\",\"seq\":{i}}}\n"));
    }
    // Ten replays of ids already sent, and one event without an id.
    let mut replays = String::new();
    for i in 0..10 {
        replays.push_str(&format!("{{\"rid\":\"r{i}\",\"seq\":{i}}}\n"));
    }
    replays.push_str("{\"seq\":99}\n");
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(originals.as_bytes()).expect("write");
        // The replays go after the originals are indexed (a fixed pause is
        // not enough on a loaded machine: they would share a bulk request).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while metric(
            &scrape(api),
            "weir_elasticsearch_documents_total",
            &["result=\"indexed\""],
        ) != Some(50.0)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the 50 originals were never indexed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s.write_all(replays.as_bytes()).expect("write");
    }
    let labels = ["component=\"es\""];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    while std::time::Instant::now() < deadline {
        text = scrape(api);
        let conflicts = metric(
            &text,
            "weir_elasticsearch_documents_total",
            &["result=\"conflict\""],
        );
        // The sent counter is bumped just after the per-document ones: a
        // scrape in between would see it behind.
        if conflicts == Some(10.0)
            && metric(
                &text,
                "weir_elasticsearch_documents_total",
                &["result=\"indexed\""],
            ) == Some(51.0)
            && metric(&text, "weir_component_sent_events_total", &labels) == Some(61.0)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        metric(
            &text,
            "weir_elasticsearch_documents_total",
            &["result=\"indexed\""]
        ),
        Some(51.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "weir_elasticsearch_documents_total",
            &["result=\"conflict\""]
        ),
        Some(10.0)
    );
    assert_eq!(
        metric(&text, "weir_elasticsearch_id_fallbacks_total", &labels),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "weir_component_sent_events_total", &labels),
        Some(61.0)
    );
    assert!(
        metric(
            &text,
            "weir_elasticsearch_bulk_duration_seconds_count",
            &labels
        )
        .is_some(),
        "{text}"
    );
    assert!(
        metric(&text, "weir_elasticsearch_requests_in_flight", &labels).is_some(),
        "{text}"
    );
    assert_eq!(
        metric(&text, "weir_elasticsearch_healthy_hosts", &labels),
        Some(1.0)
    );
    assert_eq!(es.count("weir-metrics"), 51);

    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert_eq!(
        stderr.matches("automatic ids").count(),
        1,
        "logged once:\n{stderr}"
    );
}

#[test]
fn invalid_options_are_positioned_errors() {
    let p = pipeline(
        "inputs:\n  in: { type: stdin }\noutputs:\n  es:\n    type: elasticsearch\n    \
         hosts: ['ftp://x:9200']\n    tls: { ca_file: /nonexistent/ca.pem }\n",
    );
    let err = validate_errors(&p.path);
    assert!(
        err.contains(&format!(
            "{}:6:13: output `es` (elasticsearch): host `ftp://x:9200`: the scheme must be http or https",
            p.path.display()
        )),
        "{err}"
    );
    let p = pipeline(
        "inputs:\n  in: { type: stdin }\noutputs:\n  es:\n    type: elasticsearch\n    \
         tls: { ca_file: /nonexistent/ca.pem }\n",
    );
    let err = validate_errors(&p.path);
    assert!(
        err.contains(":6:21: output `es` (elasticsearch): tls.ca_file `/nonexistent/ca.pem`"),
        "{err}"
    );
}

/// Acknowledgements through the library: an input that tracks each batch's
/// status, the real output, the real server behind the fault proxy.
mod acks {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::osmem::Osmem;
    use super::proxy::{Fault, Proxy};
    use weir::config::pipeline::{InputSpec, OutputSpec};
    use weir::config::{PipelineSpec, Settings};
    use weir::event::{Event, Position};
    use weir::filters::Chain;
    use weir::inputs::{InputConfig, InputContext, InputTask};
    use weir::outputs::WhenFull;
    use weir::topology::ack::{Ack, BatchStatus};
    use weir::topology::run_pipeline;

    /// Each batch's status and when it resolved, and whether they resolved
    /// in order.
    type Report = (Vec<(usize, BatchStatus, Instant)>, bool);

    /// Sends the given batches with tracked acks and watches them resolve;
    /// reports (batch, status, when) for each, in batch order, once all
    /// have resolved, and whether any was seen resolved before an earlier one.
    #[derive(Debug)]
    struct TrackedInput {
        batches: Vec<Vec<String>>,
        statuses: mpsc::UnboundedSender<Report>,
    }

    impl InputConfig for TrackedInput {
        fn build(&self, cx: InputContext) -> anyhow::Result<InputTask> {
            let batches = self.batches.clone();
            let statuses = self.statuses.clone();
            Ok(Box::pin(async move {
                let mut receivers = Vec::new();
                let mut line = 0u64;
                for docs in batches {
                    let (ack, rx) = Ack::new();
                    let events = docs
                        .iter()
                        .map(|text| {
                            line += 1;
                            let mut e = Event::from_text(text);
                            e.meta.origin = Some(Arc::from("acks-test"));
                            e.meta.position = Position::Offset(line);
                            e
                        })
                        .collect();
                    cx.out.send(events, ack).await?;
                    receivers.push(rx);
                }
                // Sweeping from the last batch to the first, a batch seen
                // resolved while an earlier one is not is truly out of
                // order (the earlier one is checked after it).
                let mut resolved: Vec<Option<(BatchStatus, Instant)>> = vec![None; receivers.len()];
                let mut in_order = true;
                while resolved.iter().any(Option::is_none) {
                    let mut later_done = false;
                    for (i, rx) in receivers.iter_mut().enumerate().rev() {
                        if resolved[i].is_none() {
                            if let Some(s) = rx.try_status() {
                                resolved[i] = Some((s, Instant::now()));
                            }
                        }
                        match resolved[i] {
                            Some(_) => later_done = true,
                            None if later_done => in_order = false,
                            None => {}
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let report = resolved
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.map(|(s, t)| (i, s, t)))
                    .collect();
                let _ = statuses.send((report, in_order));
                Ok(())
            }))
        }
    }

    fn spec(input: TrackedInput, output_yaml: &str, data_dir: PathBuf) -> PipelineSpec {
        let node = weir::config::yaml::parse(output_yaml).expect("yaml");
        let output = weir::outputs::elasticsearch::load(&node).expect("output options");
        PipelineSpec {
            name: "acks".into(),
            file: "acks.yaml".into(),
            // One worker: batches reach the output in input order.
            workers: 1,
            batch_size: 512,
            inputs: vec![InputSpec {
                name: "in".into(),
                kind: "test".into(),
                config: Arc::new(input),
                format: Some(json_parse()),
            }],
            chain: Chain::default(),
            outputs: vec![OutputSpec {
                name: "es".into(),
                kind: "elasticsearch".into(),
                config: Arc::new(output),
                when: None,
                when_full: WhenFull::Block,
                buffer_batches: 8,
                loc: Default::default(),
            }],
            settings: Settings {
                data_dir: Some(data_dir),
                api_listen: None,
                shutdown_timeout: None,
            },
        }
    }

    fn json_parse() -> Arc<dyn weir::filters::Filter> {
        let node = weir::config::yaml::parse("format: json").expect("yaml");
        let cx = weir::filters::BuildContext {
            pipeline: "acks".into(),
            component: "in.format".into(),
        };
        weir::filters::registry::build_parse(&node, &cx).expect("parse filter")
    }

    async fn collect(mut rx: mpsc::UnboundedReceiver<Report>) -> Report {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(r)) => r,
            _ => panic!("the batches did not all resolve"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledgements_follow_delivery_in_arrival_order() {
        let es = Osmem::start();
        let slow = Duration::from_millis(700);
        // The request of the first batch is answered late; the others at once.
        let proxy = Proxy::start(es.port, move |s| {
            if s.is_bulk && s.body_head.contains("\"b\":0,") {
                Fault::Slow(slow)
            } else {
                Fault::Pass
            }
        });
        let batches: Vec<Vec<String>> = (0..6)
            .map(|b| (0..3).map(|i| format!("{{\"b\":{b},\"i\":{i}}}")).collect())
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let dir = tempfile::tempdir().expect("tempdir");
        let p = spec(
            TrackedInput {
                batches,
                statuses: tx,
            },
            &format!(
                "hosts: ['{}']\nindex: weir-acks\naction: create\nid: auto_source\n\
                 batch_max_events: 3\nconcurrency: 4\n",
                proxy.url()
            ),
            dir.path().to_path_buf(),
        );
        let started = Instant::now();
        let run = tokio::spawn(run_pipeline(p, CancellationToken::new()));
        let (statuses, in_order) = collect(rx).await;
        run.await.expect("join").expect("pipeline");
        assert!(
            in_order,
            "a batch was acknowledged before an earlier one: {statuses:?}"
        );
        assert_eq!(statuses.len(), 6);
        assert!(statuses.iter().all(|s| s.1 == BatchStatus::Delivered));
        // Nothing was acknowledged before the slow first request finished,
        // although the later ones were delivered long before.
        assert!(statuses[0].2.duration_since(started) >= slow);
        assert!(proxy.bulks() >= 6, "one request per batch");
        assert_eq!(es.count("weir-acks"), 18);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unwritable_dead_letter_queue_fails_the_batch() {
        let es = Osmem::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("not-a-directory");
        std::fs::write(&blocker, "x").expect("write");
        // Batch 1 holds a document the mapping set by batch 0 refuses.
        let batches = vec![
            vec![r#"{"n":1}"#.to_owned()],
            vec![
                r#"{"n":2}"#.to_owned(),
                r#"{"n":"not a number"}"#.to_owned(),
            ],
            vec![r#"{"n":3}"#.to_owned()],
        ];
        let (tx, rx) = mpsc::unbounded_channel();
        let p = spec(
            TrackedInput {
                batches,
                statuses: tx,
            },
            &format!(
                "hosts: ['{}']\nindex: weir-dlq-fail\nbatch_max_events: 1\nconcurrency: 1\n\
                 dead_letter: {{ path: '{}' }}\n",
                es.url,
                blocker.join("dlq.ndjson").display()
            ),
            dir.path().to_path_buf(),
        );
        let run = tokio::spawn(run_pipeline(p, CancellationToken::new()));
        let (statuses, _) = collect(rx).await;
        run.await.expect("join").expect("pipeline");
        let got: Vec<BatchStatus> = statuses.iter().map(|s| s.1).collect();
        assert_eq!(
            got,
            [
                BatchStatus::Delivered,
                BatchStatus::Failed,
                BatchStatus::Delivered
            ]
        );
        assert_eq!(es.count("weir-dlq-fail"), 3);
    }
}

/// TLS with a private certificate authority (`tls.ca_file`), through a
/// TLS-terminating front in front of the real server.
mod tls {
    use std::sync::Arc;

    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    use super::osmem::Osmem;
    use super::{events, Run};

    /// A CA and a server certificate for 127.0.0.1 and localhost.
    fn certificates() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "weir test CA");
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let mut server =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
                .expect("server params");
        server.distinguished_name = rcgen::DistinguishedName::new();
        server
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = server.signed_by(&key, &issuer).expect("server cert");
        (
            ca_cert.pem(),
            CertificateDer::from(cert.der().to_vec()),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    /// Terminates TLS on a free port and pipes the bytes to `upstream`.
    /// Runs until the test process ends.
    fn tls_front(upstream: u16, cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> u16 {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((conn, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(conn).await else {
                            return;
                        };
                        let Ok(mut up) =
                            tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    });
                }
            });
        });
        port
    }

    #[test]
    fn a_private_ca_is_trusted_and_verified() {
        let es = Osmem::start();
        let (ca_pem, cert, key) = certificates();
        let port = tls_front(es.port, cert, key);
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("write ca");
        let n = 300;
        let run = Run::new(
            &events(n),
            &format!(
                "hosts: ['https://127.0.0.1:{port}']\n    index: weir-tls\n    \
                 tls: {{ ca_file: '{}' }}\n",
                ca_file.display()
            ),
        );
        run.run();
        super::assert_exactly(&es, "weir-tls", n);

        // Without the CA the server is not trusted: nothing is sent, and
        // with a retry budget of zero everything is dead-lettered, saying why.
        let untrusted = Run::new(
            &events(5),
            &format!(
                "hosts: ['https://localhost:{port}']\n    index: weir-tls-untrusted\n    \
                 max_retries: 0\n    retry_initial_backoff: 10ms\n"
            ),
        );
        let stderr = untrusted.run();
        assert_eq!(es.count("weir-tls-untrusted"), 0);
        let letters = untrusted.dead_letters();
        assert_eq!(letters.len(), 5, "{stderr}");
        let reason = letters[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert!(reason.contains("certificate"), "{reason}");
    }
}
