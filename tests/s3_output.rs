//! The `s3` output end to end: the real weir binary writes to a real
//! `moto_server`, and boto3 reads the objects back.

mod common;
#[path = "common/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use moto::Moto;
use serde_json::Value;

/// One object as boto3 sees it.
#[derive(Debug)]
struct Object {
    key: String,
    etag: String,
    content_encoding: Option<String>,
    content_type: String,
    /// Stored bytes.
    size: usize,
    /// The body, gunzipped when it is gzip.
    text: String,
}

/// Every object in `bucket`, in key order.
fn objects(moto: &Moto, bucket: &str) -> Vec<Object> {
    let out = moto.python(&format!(
        r#"
s3 = client('s3')
out = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{bucket}'):
    for o in page.get('Contents', []):
        r = s3.get_object(Bucket='{bucket}', Key=o['Key'])
        raw = r['Body'].read()
        text = gzip.decompress(raw) if raw[:2] == b'\x1f\x8b' else raw
        out.append({{'key': o['Key'], 'etag': r['ETag'], 'ce': r.get('ContentEncoding'),
                    'ct': r.get('ContentType'), 'size': len(raw), 'text': text.decode()}})
print(json.dumps(out))
"#
    ));
    let list: Vec<Value> = serde_json::from_str(out.trim()).expect("python printed JSON");
    let mut objects: Vec<Object> = list
        .into_iter()
        .map(|o| Object {
            key: o["key"].as_str().unwrap().to_owned(),
            etag: o["etag"].as_str().unwrap().to_owned(),
            content_encoding: o["ce"].as_str().map(str::to_owned),
            content_type: o["ct"].as_str().unwrap_or("").to_owned(),
            size: o["size"].as_u64().unwrap() as usize,
            text: o["text"].as_str().unwrap().to_owned(),
        })
        .collect();
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    objects
}

fn create_bucket(moto: &Moto, bucket: &str) {
    moto.python(&format!("client('s3').create_bucket(Bucket='{bucket}')"));
}

/// A running weir and its pipeline file (kept while it runs).
struct Weir {
    child: Child,
    /// The API port (`/metrics`).
    api: u16,
    _pipeline: Pipeline,
}

/// Starts `weir run` on `yaml` (given its own API port, so that several
/// can run at once) with the AWS environment of `moto`, stdin piped.
fn spawn_weir(moto: &Moto, yaml: &str) -> Weir {
    // One worker keeps batches in input order, so objects can be compared
    // with the input line by line.
    let api = free_port();
    let p = pipeline(&format!(
        "api: {{ listen: '127.0.0.1:{api}' }}\nworkers: 1\n{yaml}"
    ));
    let mut cmd = weir();
    moto.env(&mut cmd)
        .args(["run", p.path.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Weir {
        child: cmd.spawn().expect("spawn weir"),
        api,
        _pipeline: p,
    }
}

/// Runs weir over `input` to its end; returns its stderr.
fn run_weir(moto: &Moto, yaml: &str, input: &[u8]) -> String {
    let mut w = spawn_weir(moto, yaml);
    feed(&mut w.child, input);
    let out = w.child.wait_with_output().expect("wait for weir");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "weir failed: {:?}\n{err}", out.status);
    err
}

/// Waits for weir to exit; returns its status and stderr.
fn finish(mut w: Weir) -> (std::process::ExitStatus, String) {
    let status = wait_exit(&mut w.child, Duration::from_secs(30));
    let mut err = String::new();
    if let Some(mut stderr) = w.child.stderr.take() {
        std::io::Read::read_to_string(&mut stderr, &mut err).expect("stderr");
    }
    (status, err)
}

/// `GET /metrics` on weir's API port.
fn scrape(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).expect("read response");
    response
}

/// Writes `input` to the child's stdin and closes it.
fn feed(child: &mut Child, input: &[u8]) {
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
}

/// The object's name below its prefix: `<time>-<instance>-<counter>.<ext>`.
fn split_key(key: &str) -> (&str, &str) {
    let at = key.rfind('/').map_or(0, |i| i + 1);
    (&key[..at], &key[at..])
}

fn lines(n: usize, width: usize) -> String {
    (0..n)
        .map(|i| format!("{:0>width$}\n", format!("line {i}"), width = width - 1))
        .collect()
}

#[test]
fn gzip_ndjson_objects_split_by_rendered_prefix() {
    let moto = Moto::start();
    create_bucket(&moto, "archive");
    let p = "inputs:\n  in: { type: stdin }\nfilters:\n  - parse: { format: json }\n\
         outputs:\n  archive:\n    type: s3\n    bucket: archive\n\
         \x20   key_prefix: 'logs/%Y/%m/%d/%{app}/'\n    endpoint: ${MOTO_ENDPOINT}\n\
         \x20   force_path_style: true\n";
    let apps = ["web", "db", "cache"];
    let mut input = String::new();
    let mut want: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for n in 0..300u64 {
        let app = apps[(n % 3) as usize];
        let day = 1 + (n / 150);
        input.push_str(&format!(
            "{{\"@timestamp\":\"2026-01-0{day}T10:00:00Z\",\"app\":\"{app}\",\"n\":{n}}}\n"
        ));
        want.entry(format!("logs/2026/01/0{day}/{app}/"))
            .or_default()
            .push(n);
    }
    run_weir(&moto, p, input.as_bytes());

    let objects = objects(&moto, "archive");
    let mut got: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for o in &objects {
        let (prefix, name) = split_key(&o.key);
        assert!(name.ends_with(".ndjson.gz"), "{}", o.key);
        assert_eq!(o.content_encoding.as_deref(), Some("gzip"), "{}", o.key);
        assert_eq!(o.content_type, "application/x-ndjson");
        for line in o.text.lines() {
            let doc: Value = serde_json::from_str(line).expect("NDJSON line");
            let app = doc["app"].as_str().unwrap();
            assert!(prefix.ends_with(&format!("/{app}/")), "{line} in {}", o.key);
            let day = &doc["@timestamp"].as_str().unwrap()[..10];
            assert!(
                prefix.contains(&day.replace('-', "/")),
                "{line} in {}",
                o.key
            );
            got.entry(prefix.to_owned())
                .or_default()
                .push(doc["n"].as_u64().unwrap());
        }
    }
    // Six prefixes, one object each (no limit was reached), every event in
    // order in its prefix's object.
    assert_eq!(
        objects.len(),
        6,
        "{:?}",
        objects.iter().map(|o| &o.key).collect::<Vec<_>>()
    );
    assert_eq!(got, want);
}

#[test]
fn rollover_by_events_and_by_size_loses_nothing() {
    let moto = Moto::start();
    create_bucket(&moto, "by-events");
    create_bucket(&moto, "by-size");
    let p = "inputs:\n  in: { type: stdin }\noutputs:\n\
         \x20 events:\n    type: s3\n    bucket: by-events\n    key_prefix: raw/\n\
         \x20   encoding: text\n    compression: none\n    max_events: 100\n\
         \x20   endpoint: ${MOTO_ENDPOINT}\n    force_path_style: true\n\
         \x20 size:\n    type: s3\n    bucket: by-size\n    encoding: text\n\
         \x20   compression: none\n    max_object_bytes: 10KiB\n\
         \x20   endpoint: ${MOTO_ENDPOINT}\n    force_path_style: true\n";
    // 2000 lines of exactly 100 bytes.
    let input = lines(2000, 100);
    run_weir(&moto, p, input.as_bytes());

    let by_events = objects(&moto, "by-events");
    assert_eq!(by_events.len(), 20);
    for o in &by_events {
        assert!(
            o.key.starts_with("raw/") && o.key.ends_with(".log"),
            "{}",
            o.key
        );
        assert_eq!(o.content_encoding, None);
        assert_eq!(o.content_type, "text/plain; charset=utf-8");
        assert_eq!(o.text.lines().count(), 100, "{}", o.key);
    }
    let joined: String = by_events.iter().map(|o| o.text.as_str()).collect();
    assert!(
        joined == input,
        "objects in key order do not hold the input: {:?}",
        by_events
            .iter()
            .map(|o| (&o.key, o.text.lines().next()))
            .collect::<Vec<_>>()
    );

    // An object closes once it reaches 10240 bytes: 103 lines (10300 bytes);
    // 2000 = 19 × 103 + 43.
    let by_size = objects(&moto, "by-size");
    let sizes: Vec<usize> = by_size.iter().map(|o| o.size).collect();
    let mut want = vec![10_300; 19];
    want.push(4_300);
    assert_eq!(sizes, want);
    let joined: String = by_size.iter().map(|o| o.text.as_str()).collect();
    assert!(
        joined == input,
        "objects in key order do not hold the input"
    );
}

#[test]
fn a_multipart_object_arrives_complete() {
    let moto = Moto::start();
    create_bucket(&moto, "big");
    // Level 0 stores the text as it is, so 6.3 MB of lines make a gzip
    // object over one 5 MiB part: two parts, cut in the middle of the stream.
    let p = "inputs:\n  in: { type: stdin }\noutputs:\n  big:\n    type: s3\n    bucket: big\n\
         \x20   encoding: text\n    compression_level: 0\n    multipart_part_bytes: 5MiB\n\
         \x20   endpoint: ${MOTO_ENDPOINT}\n    force_path_style: true\n";
    let input = lines(60_000, 105);
    run_weir(&moto, p, input.as_bytes());
    let objects = objects(&moto, "big");
    assert_eq!(objects.len(), 1);
    let o = &objects[0];
    assert!(o.key.ends_with(".log.gz"), "{}", o.key);
    // A multipart ETag is the parts' hash and their count.
    assert!(o.etag.trim_matches('"').ends_with("-2"), "etag {}", o.etag);
    assert!(o.size > 5 << 20, "{}", o.size);
    assert_eq!(o.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(o.text.len(), input.len());
    assert!(o.text == input, "the object's text differs from the input");
}

#[test]
fn two_instances_on_one_prefix_never_overwrite_each_other() {
    let moto = Moto::start();
    create_bucket(&moto, "shared");
    let p = "inputs:\n  in: { type: stdin }\noutputs:\n  s:\n    type: s3\n    bucket: shared\n\
         \x20   key_prefix: same/\n    encoding: text\n\
         \x20   endpoint: ${MOTO_ENDPOINT}\n    force_path_style: true\n";
    let a: String = (0..500).map(|i| format!("a {i}\n")).collect();
    let b: String = (0..500).map(|i| format!("b {i}\n")).collect();
    // Both at once, then a third run of the first input again.
    let mut first = spawn_weir(&moto, p);
    let mut second = spawn_weir(&moto, p);
    feed(&mut first.child, a.as_bytes());
    feed(&mut second.child, b.as_bytes());
    for w in [first, second] {
        let (status, err) = finish(w);
        assert!(status.success(), "{status:?}\n{err}");
    }
    run_weir(&moto, p, a.as_bytes());

    let objects = objects(&moto, "shared");
    assert_eq!(
        objects.len(),
        3,
        "{:?}",
        objects.iter().map(|o| &o.key).collect::<Vec<_>>()
    );
    let mut texts: Vec<&str> = objects.iter().map(|o| o.text.as_str()).collect();
    texts.sort();
    assert_eq!(texts, vec![a.as_str(), a.as_str(), b.as_str()]);
}

#[test]
fn a_missing_bucket_is_retried_until_it_exists() {
    let moto = Moto::start();
    let p = "inputs:\n  in: { type: stdin }\noutputs:\n  s:\n    type: s3\n    bucket: later\n\
         \x20   encoding: text\n    retry_initial_backoff: 100ms\n    retry_max_backoff: 500ms\n\
         \x20   endpoint: ${MOTO_ENDPOINT}\n    force_path_style: true\n";
    let input: String = (0..50).map(|i| format!("event {i}\n")).collect();
    let mut w = spawn_weir(&moto, p);
    feed(&mut w.child, input.as_bytes());
    // The input is at its end; the object cannot be uploaded, so weir must
    // still be running (retrying) instead of exiting and losing it.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        w.child.try_wait().expect("try_wait").is_none(),
        "weir exited before its object was uploaded"
    );
    create_bucket(&moto, "later");
    let (status, err) = finish(w);
    assert!(status.success(), "{status:?}\n{err}");
    assert!(err.contains("retrying"), "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");
    let objects = objects(&moto, "later");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].text, input);
}

#[test]
fn bounded_retries_give_up_and_fail_the_run() {
    let moto = Moto::start();
    let p = "inputs:\n  in: { type: stdin }\noutputs:\n  s:\n    type: s3\n    bucket: never\n\
         \x20   max_retries: 2\n    retry_initial_backoff: 50ms\n    retry_max_backoff: 100ms\n\
         \x20   endpoint: ${MOTO_ENDPOINT}\n    force_path_style: true\n";
    let mut w = spawn_weir(&moto, p);
    feed(&mut w.child, b"one\ntwo\n");
    let (status, err) = finish(w);
    assert!(!status.success(), "{err}");
    assert!(err.contains("after 2 retries"), "{err}");
    assert!(
        err.contains("1 object(s) could not be uploaded to bucket `never`"),
        "{err}"
    );
}

#[test]
fn max_age_uploads_while_the_input_is_still_open() {
    let moto = Moto::start();
    create_bucket(&moto, "aged");
    let p = "inputs:\n  in: { type: stdin }\noutputs:\n  s:\n    type: s3\n    bucket: aged\n\
         \x20   encoding: text\n    max_age: 1s\n\
         \x20   endpoint: ${MOTO_ENDPOINT}\n    force_path_style: true\n";
    let mut w = spawn_weir(&moto, p);
    let mut stdin = w.child.stdin.take().expect("stdin");
    stdin.write_all(b"early 1\nearly 2\n").unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    let first = loop {
        let found = objects(&moto, "aged");
        if !found.is_empty() {
            break found;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no object within 60 s although max_age is 1s"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].text, "early 1\nearly 2\n");
    // The upload is counted (the object was gzip: stored bytes differ from
    // the 16 bytes of text) once weir has read the answer to it, which may
    // be a moment after the object is visible.
    let labels = "component=\"s\",pipeline=\"test\"";
    wait_for_metric(
        w.api,
        "weir_s3_output_objects_total",
        &[labels, "result=\"uploaded\""],
        1.0,
        Duration::from_secs(30),
    );
    let metrics = scrape(w.api);
    for line in [
        format!("weir_s3_output_objects_total{{{labels},result=\"uploaded\"}} 1"),
        format!("weir_s3_output_open_objects{{{labels}}} 0"),
        format!("weir_s3_output_bytes_total{{{labels}}} {}", first[0].size),
        format!("weir_s3_output_retries_total{{{labels}}} 0"),
    ] {
        assert!(metrics.contains(&line), "no `{line}` in\n{metrics}");
    }
    assert!(
        metrics.contains("weir_s3_output_upload_duration_seconds_count{"),
        "{metrics}"
    );
    stdin.write_all(b"late\n").unwrap();
    drop(stdin);
    let (status, err) = finish(w);
    assert!(status.success(), "{err}");
    let all = objects(&moto, "aged");
    let texts: Vec<&str> = all.iter().map(|o| o.text.as_str()).collect();
    assert_eq!(texts, vec!["early 1\nearly 2\n", "late\n"]);
}

#[test]
fn validate_reports_bad_options_with_file_line_column() {
    let p = pipeline(
        "inputs:\n  in: { type: stdin }\noutputs:\n\
         \x20 small_parts:\n    type: s3\n    bucket: ok-bucket\n    multipart_part_bytes: 1MiB\n\
         \x20 cold:\n    type: s3\n    bucket: ok-bucket\n    storage_class: COLD\n\
         \x20 typo:\n    type: s3\n    bucket: ok-bucket\n    key_prefx: logs/\n\
         \x20 nobucket:\n    type: s3\n    key_prefix: logs/\n",
    );
    let err = validate_errors(&p.path);
    let file = p.path.display().to_string();
    for want in [
        format!(
            "{file}:7:27: output `small_parts` (s3): multipart_part_bytes 1048576 is out of range"
        ),
        format!("{file}:11:20: output `cold` (s3): unknown storage_class `COLD`"),
        format!("{file}:15:5: output `typo` (s3): unknown field `key_prefx`"),
        format!("{file}:17:5: output `nobucket` (s3): missing field `bucket`"),
    ] {
        assert!(err.contains(&want), "want {want}\n{err}");
    }
    assert!(err.contains("4 error(s)"), "{err}");
}

#[test]
fn sigterm_uploads_the_open_objects_before_exit() {
    let moto = Moto::start();
    create_bucket(&moto, "term");
    let port = free_port();
    let p = format!(
        "inputs:\n  in: {{ type: tcp, address: '127.0.0.1:{port}' }}\noutputs:\n  s:\n    type: s3\n\
         \x20   bucket: term\n    key_prefix: 'k/%{{app}}/'\n    encoding: text\n\
         \x20   endpoint: ${{MOTO_ENDPOINT}}\n    force_path_style: true\n"
    );
    let w = spawn_weir(&moto, &p);
    wait_for_port(port);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let input: String = (0..200).map(|i| format!("term {i}\n")).collect();
    conn.write_all(input.as_bytes()).unwrap();
    conn.flush().unwrap();
    // Shutdown stops reading sockets: everything must have been read first.
    wait_for_received(w.api, "in", 200);
    // The default max_age (5 minutes) is far away: only the shutdown can
    // upload the object. The connection stays open.
    std::thread::sleep(Duration::from_secs(2));
    assert!(objects(&moto, "term").is_empty());
    signal(&w.child, "TERM");
    let (status, err) = finish(w);
    drop(conn);
    assert!(status.success(), "{status:?}\n{err}");
    let objects = objects(&moto, "term");
    assert_eq!(objects.len(), 1);
    // `app` is missing: the prefix renders without it, and that is logged.
    assert!(objects[0].key.starts_with("k//"), "{}", objects[0].key);
    assert_eq!(objects[0].text, input);
    assert!(err.contains("key_prefix references a field"), "{err}");
}

/// The output in-process, fed batches by hand, so that each batch's
/// acknowledgement can be watched while objects are (not yet) uploaded.
mod acks {
    use std::sync::Arc;
    use std::time::Duration;

    use weir::config::yaml;
    use weir::event::Event;
    use weir::outputs::{OutputConfig, OutputContext, OutputMetrics};
    use weir::topology::ack::{Ack, AckReceiver, BatchStatus};
    use weir::topology::batch::{Batch, OutputBatch};

    use super::moto::Moto;
    use super::{create_bucket, objects};

    fn start(
        moto: &Moto,
        options: &str,
    ) -> (
        async_channel::Sender<OutputBatch>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        // The SDK in this process finds moto's fake credentials here, as
        // the weir binary does in the other tests. Set once: the values are
        // the same for every test, and std serialises this with spawns.
        static ENV: std::sync::Once = std::sync::Once::new();
        ENV.call_once(|| {
            for (k, v) in [
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("AWS_CONFIG_FILE", "/dev/null"),
                ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ] {
                std::env::set_var(k, v);
            }
        });
        let text = format!(
            "{options}\nendpoint: {}\nforce_path_style: true\nretry_initial_backoff: 50ms\n\
             retry_max_backoff: 200ms\nencoding: text\n",
            moto.endpoint
        );
        let node = yaml::parse(&text).expect("yaml");
        let settings = weir::outputs::s3::load(&node).expect("valid options");
        let (tx, rx) = async_channel::bounded(4);
        let task = settings
            .build(OutputContext {
                pipeline: Arc::from("p"),
                name: Arc::from("s3"),
                input: rx,
                data_dir: std::env::temp_dir(),
                metrics: OutputMetrics::new("p", "s3"),
            })
            .expect("build");
        (tx, tokio::spawn(task))
    }

    fn batch(name: &str, n: usize) -> (OutputBatch, AckReceiver) {
        let (ack, rx) = Ack::new();
        let events = (0..n)
            .map(|i| Event::from_text(&format!("{name} {i}")))
            .collect();
        let batch = Batch {
            events,
            ack,
            input: 0,
        };
        (OutputBatch::all(Arc::new(batch)), rx)
    }

    async fn pending_for(rx: &mut AckReceiver, d: Duration) {
        tokio::time::sleep(d).await;
        assert_eq!(rx.try_status(), None, "acknowledged before its upload");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_acknowledged_once_every_object_with_its_events_is_uploaded() {
        let moto = Moto::start();
        let (tx, task) = start(&moto, "bucket: acked\nmax_events: 4");
        // A's 3 events and B's first go to the first object (4 events: full,
        // uploaded at once — but the bucket does not exist yet); B's other
        // 2 stay in the second, open object.
        let (a, mut a_rx) = batch("a", 3);
        let (b, mut b_rx) = batch("b", 3);
        tx.send(a).await.unwrap();
        tx.send(b).await.unwrap();
        pending_for(&mut a_rx, Duration::from_secs(1)).await;
        assert_eq!(b_rx.try_status(), None);
        tokio::task::block_in_place(|| create_bucket(&moto, "acked"));
        let status = tokio::time::timeout(Duration::from_secs(60), &mut a_rx)
            .await
            .expect("A acknowledged once its object is uploaded");
        assert_eq!(status, BatchStatus::Delivered);
        // B's last events are in an object that is still open.
        pending_for(&mut b_rx, Duration::from_millis(500)).await;
        drop(tx);
        task.await.unwrap().expect("the output finishes cleanly");
        assert_eq!(b_rx.await, BatchStatus::Delivered);
        let texts: Vec<String> = tokio::task::block_in_place(|| {
            objects(&moto, "acked")
                .into_iter()
                .map(|o| o.text)
                .collect()
        });
        assert_eq!(texts, vec!["a 0\na 1\na 2\nb 0\n", "b 1\nb 2\n"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_given_up_object_fails_its_batches() {
        let moto = Moto::start();
        let (tx, task) = start(&moto, "bucket: missing\nmax_retries: 1");
        let (a, a_rx) = batch("a", 2);
        tx.send(a).await.unwrap();
        drop(tx);
        let result = task.await.unwrap();
        let err = format!("{:#}", result.expect_err("the output reports the loss"));
        assert!(err.contains("1 object(s) could not be uploaded"), "{err}");
        assert_eq!(a_rx.await, BatchStatus::Failed);
    }
}

#[test]
fn a_silent_endpoint_times_out_and_is_retried() {
    // Accepts connections (the kernel does) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().unwrap().port();
    let moto = Moto::start();
    let p = format!(
        "inputs:\n  in: {{ type: stdin }}\noutputs:\n  s:\n    type: s3\n    bucket: silent\n\
         \x20   endpoint: http://127.0.0.1:{port}\n    force_path_style: true\n\
         \x20   request_timeout: 300ms\n    max_retries: 2\n    retry_initial_backoff: 50ms\n"
    );
    let started = Instant::now();
    let mut w = spawn_weir(&moto, &p);
    feed(&mut w.child, b"x\n");
    let (status, err) = finish(w);
    assert!(!status.success(), "{err}");
    assert!(
        err.contains("no answer within request_timeout (300ms)"),
        "{err}"
    );
    assert_eq!(
        err.matches("S3 request failed; retrying").count(),
        1,
        "{err}"
    );
    assert!(err.contains("still failing after 2 retries"), "{err}");
    // Three attempts of 300 ms, not a hang.
    assert!(started.elapsed() < Duration::from_secs(15));
    drop(silent);
}
