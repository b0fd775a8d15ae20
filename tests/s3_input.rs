//! The `s3` input against a real `moto_server`: listing with checkpoints,
//! CloudWatch Logs exports written by moto's own export task, S3 event
//! notifications through SQS shared by two weir instances, kill -9 in the
//! middle of an object, a large object read in bounded memory, and the
//! failure paths: a notified object deleted before it is read, `since` and
//! `settle_time`, and batches an output fails (read again, never lost).

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "elasticsearch/osmem.rs"]
mod osmem;
#[path = "elasticsearch/proxy.rs"]
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, rss_bytes, signal, wait_exit, weir};
use moto::Moto;
use osmem::Osmem;

/// An S3 server access log line (AWS's documented sample), varied by `i`.
const ACCESS_LINE: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg-{i}.pdf "PUT /awsexamplebucket1/s3-dg-{i}.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "S3Console/0.4" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#;

/// Python that defines `access(n, start)`: n access-log lines.
fn access_py() -> String {
    format!(
        "LINE = r'''{ACCESS_LINE}'''\n\
         def access(n, start=0):\n    return ''.join(LINE.replace('{{i}}', str(start + i)) + '\\n' for i in range(n))\n"
    )
}

/// Writes `path`: a pipeline whose only input, `input`, is an s3 input on
/// `moto`. What every test shares (data_dir, API port, the input's type,
/// endpoint and path-style addressing) is written here; the test gives the
/// input's own `options` (one `key: value` each) and `rest`, the outputs and
/// any other top-level keys.
fn write_s3_pipeline(
    path: &Path,
    moto: &Moto,
    data_dir: &Path,
    api: u16,
    input: &str,
    options: &[&str],
    rest: &str,
) {
    let options: String = options.iter().map(|o| format!("    {o}\n")).collect();
    let text = format!(
        "data_dir: '{data}'\napi: {{ listen: '127.0.0.1:{api}' }}\n\
         inputs:\n  {input}:\n    type: s3\n{options}    \
         endpoint: '{endpoint}'\n    force_path_style: true\n{rest}",
        data = data_dir.display(),
        endpoint = moto.endpoint,
    );
    std::fs::write(path, text)
        .unwrap_or_else(|e| panic!("writing pipeline {}: {e}", path.display()));
}

/// An `out` output: the file output to `path`, one JSON document a line.
fn file_output(path: &Path) -> String {
    format!(
        "outputs:\n  out: {{ type: file, path: '{}' }}\n",
        path.display()
    )
}

/// A running `weir run` with the moto environment; killed when dropped.
struct Weir {
    child: Child,
    stderr: PathBuf,
}

impl Weir {
    fn start(moto: &Moto, pipeline: &Path, dir: &Path, name: &str) -> Weir {
        let stderr = dir.join(format!("{name}.stderr"));
        let mut cmd = weir();
        moto.env(&mut cmd);
        let child = cmd
            .args(["run", pipeline.to_str().expect("utf-8 path")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn weir");
        Weir { child, stderr }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM and a clean exit.
    fn stop(mut self) {
        signal(&self.child, "TERM");
        let status = wait_exit(&mut self.child, Duration::from_secs(40));
        assert!(
            status.success(),
            "weir exited with {status}:\n{}",
            self.logs()
        );
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON documents of an NDJSON file (none while it does not exist).
fn documents(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

/// Waits until `cond` holds, panicking with `what` and the logs after `limit`.
fn wait_for(limit: Duration, what: &str, weirs: &[&Weir], mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            let logs: Vec<String> = weirs.iter().map(|w| w.logs()).collect();
            panic!(
                "timed out waiting for {what}\n--- weir logs ---\n{}",
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `(key, log.offset)` of every document, counting repeats.
fn positions(docs: &[serde_json::Value]) -> BTreeMap<(String, u64), usize> {
    let mut seen = BTreeMap::new();
    for d in docs {
        let key = d["aws"]["s3"]["object"]["key"]
            .as_str()
            .unwrap_or_else(|| panic!("no aws.s3.object.key: {d}"))
            .to_owned();
        let offset = d["log"]["offset"]
            .as_u64()
            .unwrap_or_else(|| panic!("no log.offset: {d}"));
        *seen.entry((key, offset)).or_insert(0) += 1;
    }
    seen
}

fn expected_positions(objects: &[(&str, u64)]) -> BTreeSet<(String, u64)> {
    objects
        .iter()
        .flat_map(|(key, n)| (1..=*n).map(move |i| (key.to_string(), i)))
        .collect()
}

/// `GET /metrics` of a weir API port.
fn metrics(api: u16) -> String {
    String::from_utf8_lossy(&osmem::http(api, "GET", "/metrics", b"").1).into_owned()
}

/// The sum of a metric's samples whose line contains `filter`.
fn metric(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// The notification events most tests subscribe to.
const CREATED: &str = "['s3:ObjectCreated:*']";

/// Creates SQS queue `queue` and bucket `bucket` notifying it of `events`
/// (a Python list), then runs `then` (Python with `s3` and `sqs` clients in
/// scope: the objects of the test); returns the queue URL.
fn notifying_bucket(moto: &Moto, bucket: &str, queue: &str, events: &str, then: &str) -> String {
    moto.python(&format!(
        "sqs, s3 = client('sqs'), client('s3')\n\
         url = sqs.create_queue(QueueName={queue:?})['QueueUrl']\n\
         arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         s3.create_bucket(Bucket={bucket:?})\n\
         s3.put_bucket_notification_configuration(Bucket={bucket:?}, NotificationConfiguration={{\n    \
         'QueueConfigurations': [{{'QueueArn': arn, 'Events': {events}}}]}})\n\
         {then}\n\
         print(url)\n"
    ))
    .trim()
    .to_owned()
}

#[test]
fn polling_reads_plain_and_gzip_access_logs_and_resumes_from_the_checkpoint() {
    let moto = Moto::start();
    moto.python(&format!(
        "{}\
s3 = client('s3')\n\
s3.create_bucket(Bucket='logs')\n\
s3.put_object(Bucket='logs', Key='access/', Body=b'')\n\
s3.put_object(Bucket='logs', Key='access/2024-05-01-00-00-00-AAAA', Body=access(50).encode())\n\
# gzip'd without a .gz suffix, as two concatenated members\n\
body = gzip.compress(access(30, 100).encode()) + gzip.compress(access(40, 130).encode())\n\
s3.put_object(Bucket='logs', Key='access/2024-05-01-00-00-01-BBBB', Body=body)\n\
s3.put_object(Bucket='logs', Key='other/ignored', Body=access(5).encode())\n",
        access_py()
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.yaml");
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        free_port(),
        "access",
        &[
            "bucket: logs",
            "prefix: access/",
            "format: s3_access",
            "interval: 500ms",
            "settle_time: 0s",
        ],
        &file_output(&out),
    );

    let w = Weir::start(&moto, &pipeline, dir.path(), "first");
    wait_for(Duration::from_secs(30), "120 events", &[&w], || {
        line_count(&out) >= 120
    });
    std::thread::sleep(Duration::from_millis(700));
    w.stop();
    let docs = documents(&out);
    assert_eq!(docs.len(), 120);
    let got = positions(&docs);
    let want = expected_positions(&[
        ("access/2024-05-01-00-00-00-AAAA", 50),
        ("access/2024-05-01-00-00-01-BBBB", 70),
    ]);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    for d in &docs {
        // The input's fields and the parser's, side by side.
        assert_eq!(d["aws"]["s3"]["bucket"]["name"], "logs", "{d}");
        assert_eq!(d["aws"]["s3access"]["bucket"], "awsexamplebucket1", "{d}");
        assert_eq!(d["aws"]["s3access"]["operation"], "REST.PUT.OBJECT", "{d}");
        assert_eq!(d["http"]["response"]["status_code"], 200, "{d}");
    }
    // Line 31 of the gzip'd object is the first of its second member.
    let second_member = docs
        .iter()
        .find(|d| {
            d["aws"]["s3"]["object"]["key"] == "access/2024-05-01-00-00-01-BBBB"
                && d["log"]["offset"] == 31
        })
        .expect("line 31");
    assert_eq!(second_member["aws"]["s3access"]["key"], "s3-dg-130.pdf");

    let checkpoint: serde_json::Value = serde_json::from_str(
        // The pipeline's name is the file's stem.
        &std::fs::read_to_string(dir.path().join("data/checkpoints/p/access.json"))
            .expect("checkpoint file"),
    )
    .expect("checkpoint JSON");
    assert_eq!(checkpoint["after"], "access/2024-05-01-00-00-01-BBBB");

    // A new object arrives while weir is down; the restart reads it alone.
    moto.python(&format!(
        "{}client('s3').put_object(Bucket='logs', Key='access/2024-05-01-00-00-02-CCCC', Body=access(5).encode())\n",
        access_py()
    ));
    let w = Weir::start(&moto, &pipeline, dir.path(), "second");
    wait_for(Duration::from_secs(30), "125 events", &[&w], || {
        line_count(&out) >= 125
    });
    // Several listings later, still nothing read twice.
    std::thread::sleep(Duration::from_secs(2));
    w.stop();
    let docs = documents(&out);
    assert_eq!(docs.len(), 125);
    let got = positions(&docs);
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    assert_eq!(got.keys().filter(|(k, _)| k.ends_with("CCCC")).count(), 5);
}

#[test]
fn cloudwatch_export_written_by_the_logs_api_is_read_with_stream_names() {
    let moto = Moto::start();
    moto.python(
        r#"
logs = client('logs')
s3 = client('s3')
s3.create_bucket(Bucket='exports')
logs.create_log_group(logGroupName='app')
now = int(time.time() * 1000)
for stream, n in (('web-1', 3), ('web/2', 4)):
    logs.create_log_stream(logGroupName='app', logStreamName=stream)
    events = [{'timestamp': now - 10000 + i, 'message': f'{stream} message {i}'} for i in range(n)]
    logs.put_log_events(logGroupName='app', logStreamName=stream, logEvents=events)
logs.create_export_task(logGroupName='app', fromTime=0, to=now + 60000,
                        destination='exports', destinationPrefix='exportedlogs')
keys = [o['Key'] for o in s3.list_objects_v2(Bucket='exports')['Contents']]
assert len([k for k in keys if k.endswith('000000.gz')]) == 2, keys
"#,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.yaml");
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        free_port(),
        "exports",
        &[
            "bucket: exports",
            "format: cloudwatch_export",
            "interval: 500ms",
            "settle_time: 0s",
        ],
        &file_output(&out),
    );
    let w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    wait_for(Duration::from_secs(30), "7 events", &[&w], || {
        line_count(&out) >= 7
    });
    std::thread::sleep(Duration::from_millis(1200));
    w.stop();
    let docs = documents(&out);
    assert_eq!(docs.len(), 7, "the aws-logs-write-test marker is no event");
    let mut by_stream: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &docs {
        let stream = d["aws"]["cloudwatch"]["log_stream"]
            .as_str()
            .unwrap_or_else(|| panic!("no aws.cloudwatch.log_stream: {d}"));
        let message = d["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {d}"));
        by_stream
            .entry(stream.to_owned())
            .or_default()
            .push(message.to_owned());
        assert_eq!(d["aws"]["s3"]["bucket"]["name"], "exports");
        assert!(d["@timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // moto writes `web/2` as `web-2` in the key, as AWS leaves undocumented.
    want.insert(
        "web-1".into(),
        (0..3).map(|i| format!("web-1 message {i}")).collect(),
    );
    want.insert(
        "web-2".into(),
        (0..4).map(|i| format!("web/2 message {i}")).collect(),
    );
    for v in by_stream.values_mut() {
        v.sort();
    }
    assert_eq!(by_stream, want);
}

#[test]
fn vpc_flow_objects_are_parsed_with_their_own_header_line() {
    let moto = Moto::start();
    // Custom field order: only the header line says how to read the records.
    moto.python(
        r#"
s3 = client('s3')
s3.create_bucket(Bucket='flows')
body = 'interface-id action srcaddr dstaddr version\n' + ''.join(
    f'eni-{i:017x} {"ACCEPT" if i % 2 else "REJECT"} 10.0.0.{i} 10.0.1.{i} 5\n' for i in range(1, 4))
s3.put_object(Bucket='flows', Key='AWSLogs/1/vpcflowlogs/a.log.gz', Body=gzip.compress(body.encode()))
"#,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.yaml");
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        free_port(),
        "flows",
        &[
            "bucket: flows",
            "prefix: AWSLogs/",
            "format: vpc_flow",
            "interval: 500ms",
            "settle_time: 0s",
        ],
        &file_output(&out),
    );
    let w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    wait_for(Duration::from_secs(30), "3 events", &[&w], || {
        line_count(&out) >= 3
    });
    std::thread::sleep(Duration::from_millis(1000));
    w.stop();
    let docs = documents(&out);
    assert_eq!(docs.len(), 3, "the header line is no record: {docs:?}");
    for d in &docs {
        let i = d["log"]["offset"].as_u64().expect("offset") - 1;
        assert_eq!(
            d["aws"]["vpcflow"]["interface_id"],
            format!("eni-{i:017x}"),
            "{d}"
        );
        assert_eq!(d["aws"]["vpcflow"]["srcaddr"], format!("10.0.0.{i}"), "{d}");
        let action = if i % 2 == 1 { "ACCEPT" } else { "REJECT" };
        assert_eq!(d["aws"]["vpcflow"]["action"], action, "{d}");
        assert_eq!(d["aws"]["vpcflow"]["version"], 5, "{d}");
    }
}

#[test]
fn sqs_notifications_are_shared_by_two_instances_exactly_once() {
    let moto = Moto::start();
    let keys = [
        "logs/app log 1.txt",
        "logs/year=2024/a+b.txt",
        "logs/plain-3.txt",
        "logs/plain-4.txt",
        "logs/ü-5.txt",
        "logs/plain-6.txt",
    ];
    let url = notifying_bucket(
        &moto,
        "incoming",
        "events",
        CREATED,
        &format!(
            r#"
for i, key in enumerate({keys:?}):
    data = ''.join(f'{{key}} line {{n}}\n' for n in range(1, 21)).encode()
    if i % 2:
        data = gzip.compress(data)
    s3.put_object(Bucket='incoming', Key=key, Body=data)
# an object outside the prefix: notified, not read
s3.put_object(Bucket='incoming', Key='elsewhere/x.txt', Body=b'no\n')
"#
        ),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut weirs = Vec::new();
    let mut outs = Vec::new();
    for name in ["a", "b"] {
        let out = dir.path().join(format!("{name}.ndjson"));
        let pipeline = dir.path().join(format!("{name}.yaml"));
        write_s3_pipeline(
            &pipeline,
            &moto,
            &dir.path().join(format!("data-{name}")),
            free_port(),
            "notified",
            &[
                "bucket: incoming",
                "prefix: logs/",
                &format!("sqs_queue_url: '{url}'"),
                "concurrency: 2",
            ],
            &file_output(&out),
        );
        weirs.push(Weir::start(&moto, &pipeline, dir.path(), name));
        outs.push(out);
    }
    let refs: Vec<&Weir> = weirs.iter().collect();
    wait_for(Duration::from_secs(40), "120 events", &refs, || {
        outs.iter().map(|o| line_count(o)).sum::<usize>() >= 120
    });
    // Every message deleted (the test event too), none in flight.
    let check_empty = "sqs = client('sqs')\n\
url = sqs.get_queue_url(QueueName='events')['QueueUrl']\n\
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['All'])['Attributes']\n\
print(int(a['ApproximateNumberOfMessages']) + int(a['ApproximateNumberOfMessagesNotVisible']))\n";
    wait_for(Duration::from_secs(60), "an empty queue", &refs, || {
        moto.python(check_empty).trim() == "0"
    });
    std::thread::sleep(Duration::from_millis(500));
    for w in weirs {
        w.stop();
    }
    let mut docs = Vec::new();
    let mut per_instance = Vec::new();
    for o in &outs {
        let d = documents(o);
        per_instance.push(d.len());
        docs.extend(d);
    }
    eprintln!("events per instance: {per_instance:?}");
    assert_eq!(docs.len(), 120, "per instance: {per_instance:?}");
    let got = positions(&docs);
    let want = expected_positions(&keys.iter().map(|k| (*k, 20)).collect::<Vec<_>>());
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    for d in &docs {
        let key = d["aws"]["s3"]["object"]["key"].as_str().expect("key");
        let line = d["log"]["offset"].as_u64().expect("offset");
        assert_eq!(d["message"], format!("{key} line {line}"));
    }
}

#[test]
fn sns_wrapped_and_eventbridge_notifications_from_moto_are_read() {
    let moto = Moto::start();
    let url = moto
        .python(
            r#"
sqs, s3, sns, events = client('sqs'), client('s3'), client('sns'), client('events')
url = sqs.create_queue(QueueName='mixed')['QueueUrl']
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
# bucket `via-sns`: S3 -> SNS topic -> SQS (not raw: the SNS envelope)
topic = sns.create_topic(Name='objects')['TopicArn']
sns.subscribe(TopicArn=topic, Protocol='sqs', Endpoint=arn)
s3.create_bucket(Bucket='via-sns')
s3.put_bucket_notification_configuration(Bucket='via-sns', NotificationConfiguration={
    'TopicConfigurations': [{'TopicArn': topic, 'Events': ['s3:ObjectCreated:*']}]})
# bucket `via-eb`: S3 -> EventBridge rule -> SQS
s3.create_bucket(Bucket='via-eb')
s3.put_bucket_notification_configuration(Bucket='via-eb', NotificationConfiguration={
    'EventBridgeConfiguration': {}})
events.put_rule(Name='s3-objects', EventPattern=json.dumps({'source': ['aws.s3']}))
events.put_targets(Rule='s3-objects', Targets=[{'Id': 'q', 'Arn': arn}])
for bucket in ('via-sns', 'via-eb'):
    for n in (1, 2):
        key = f'logs/{bucket} file {n}.txt'
        s3.put_object(Bucket=bucket, Key=key, Body=''.join(f'{bucket} {n} line {i}\n' for i in range(1, 11)).encode())
print(url)
"#,
        )
        .trim()
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.yaml");
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        free_port(),
        "notified",
        &["bucket: via-sns", &format!("sqs_queue_url: '{url}'")],
        &file_output(&out),
    );
    let w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    wait_for(Duration::from_secs(30), "40 events", &[&w], || {
        line_count(&out) >= 40
    });
    let check_empty = "sqs = client('sqs')\n\
url = sqs.get_queue_url(QueueName='mixed')['QueueUrl']\n\
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['All'])['Attributes']\n\
print(int(a['ApproximateNumberOfMessages']) + int(a['ApproximateNumberOfMessagesNotVisible']))\n";
    wait_for(Duration::from_secs(60), "an empty queue", &[&w], || {
        moto.python(check_empty).trim() == "0"
    });
    std::thread::sleep(Duration::from_millis(500));
    w.stop();
    let docs = documents(&out);
    let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
    for d in &docs {
        let bucket = d["aws"]["s3"]["bucket"]["name"].as_str().expect("bucket");
        let key = d["aws"]["s3"]["object"]["key"].as_str().expect("key");
        *got.entry((bucket.to_owned(), key.to_owned())).or_insert(0) += 1;
    }
    let mut want = BTreeMap::new();
    for bucket in ["via-sns", "via-eb"] {
        for n in [1, 2] {
            want.insert(
                (bucket.to_owned(), format!("logs/{bucket} file {n}.txt")),
                10,
            );
        }
    }
    assert_eq!(got, want);
}

#[test]
fn a_message_stays_hidden_while_its_object_is_slowly_delivered() {
    const LINES: u64 = 400;
    let moto = Moto::start();
    let es = Osmem::start();
    // Every _bulk answered 1 s late: the object takes ~8 s to deliver,
    // well over twice the 3 s visibility timeout. (The lease is renewed every
    // third of the timeout, so a loaded moto has 2 s to answer a renewal.)
    let slow = slow_bulks(&es, Duration::from_millis(1000));
    let url = notifying_bucket(
        &moto,
        "slow",
        "slow",
        CREATED,
        &put_numbered_lines("slow", "one.log", LINES as usize),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let api = free_port();
    let pipeline = dir.path().join("p.yaml");
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        api,
        "notified",
        &[
            "bucket: slow",
            &format!("sqs_queue_url: '{url}'"),
            "visibility_timeout: 3s",
            "concurrency: 2",
        ],
        &format!(
            "batch_size: 50\n\
             outputs:\n  es:\n    type: elasticsearch\n    hosts: ['{es}']\n    index: slow\n    \
             batch_max_events: 50\n    concurrency: 1\n",
            es = slow.url(),
        ),
    );
    let w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    let started = Instant::now();
    wait_for(
        Duration::from_secs(60),
        "the message deleted",
        &[&w],
        || {
            metric(
                &metrics(api),
                "weir_s3_sqs_messages_total",
                "result=\"deleted\"",
            ) >= 1.0
        },
    );
    assert!(
        started.elapsed() > Duration::from_secs(6),
        "the output was not slow enough to outlast the visibility timeout"
    );
    // Longer than a lapsed lease would take to bring the message back.
    std::thread::sleep(Duration::from_secs(4));
    let text = metrics(api);
    w.stop();
    assert_eq!(
        metric(&text, "weir_s3_objects_total", "result=\"done\""),
        1.0,
        "the object was read more than once"
    );
    // Automatic ids: a second read would have doubled the documents.
    assert_eq!(es.count("slow"), LINES);
}

#[test]
fn kill_9_mid_object_then_restart_delivers_every_line() {
    const LINES: u64 = 12_000;
    let moto = Moto::start();
    let es = Osmem::start();
    // Each _bulk of 200 answered 100 ms late: ~6 s for the object, so the
    // kill lands in its middle.
    let slow = slow_bulks(&es, Duration::from_millis(100));
    moto.python(&format!(
        "s3 = client('s3')\n\
s3.create_bucket(Bucket='big')\n\
body = ''.join(f'line {{i}} of the object, padded to look like a log line of some length\\n' for i in range(1, {LINES} + 1))\n\
s3.put_object(Bucket='big', Key='data/one.log.gz', Body=gzip.compress(body.encode(), 1))\n"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let api = free_port();
    let pipeline = dir.path().join("p.yaml");
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        api,
        "big",
        &["bucket: big", "interval: 500ms", "settle_time: 0s"],
        &format!(
            "batch_size: 200\n\
             outputs:\n  es:\n    type: elasticsearch\n    hosts: ['{url}']\n    index: lines\n    \
             action: create\n    id: auto_source\n    batch_max_events: 200\n    concurrency: 1\n",
            url = slow.url(),
        ),
    );
    let mut w = Weir::start(&moto, &pipeline, dir.path(), "first");
    wait_for(
        Duration::from_secs(60),
        "a part of the object",
        &[&w],
        || es.count("lines") >= 3_000,
    );
    // The checkpoint has recorded part of the object.
    let checkpoint = dir.path().join("data/checkpoints/p/big.json");
    wait_for(
        Duration::from_secs(60),
        "a partial checkpoint",
        &[&w],
        || std::fs::read_to_string(&checkpoint).is_ok_and(|t| t.contains("\"lines\"")),
    );
    signal(&w.child, "KILL");
    let _ = w.child.wait();
    let at_kill = es.count("lines");
    assert!(
        at_kill < LINES,
        "killed too late: {at_kill} documents already"
    );

    let api2 = free_port();
    let text = std::fs::read_to_string(&pipeline)
        .expect("pipeline")
        .replace(&api.to_string(), &api2.to_string());
    std::fs::write(&pipeline, text).expect("pipeline");
    let w = Weir::start(&moto, &pipeline, dir.path(), "second");
    wait_for(Duration::from_secs(60), "every line", &[&w], || {
        es.count("lines") >= LINES
    });
    wait_for(Duration::from_secs(60), "the object done", &[&w], || {
        metric(&metrics(api2), "weir_s3_objects_total", "result=\"done\"") >= 1.0
    });
    let skipped = metric(&metrics(api2), "weir_s3_lines_skipped_total", "big");
    eprintln!("{at_kill} documents at the kill; {skipped} lines skipped on restart");
    w.stop();
    assert_eq!(es.count("lines"), LINES, "every line exactly once");
    assert!(
        skipped > 0.0,
        "the restart resumed mid-object instead of from the start"
    );
}

#[test]
fn a_large_object_is_streamed_in_bounded_memory() {
    // ~300 MB of generated lines, twice the memory bound.
    const LINES: u64 = 1_600_000;
    let moto = Moto::start();
    moto.python(&format!(
        "s3 = client('s3')\n\
s3.create_bucket(Bucket='huge')\n\
line = ('x' * 190 + '\\n').encode()\n\
s3.put_object(Bucket='huge', Key='big.log', Body=line * {LINES})\n"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let api = free_port();
    let pipeline = dir.path().join("p.yaml");
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        api,
        "huge",
        &["bucket: huge", "interval: 500ms", "settle_time: 0s"],
        "outputs:\n  sink: { type: blackhole }\n",
    );
    let w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    let pid = w.child.id();
    let mut peak = 0;
    wait_for(Duration::from_secs(90), "the whole object", &[&w], || {
        peak = peak.max(rss_bytes(pid));
        metric(&metrics(api), "weir_s3_objects_total", "result=\"done\"") >= 1.0
    });
    let text = metrics(api);
    eprintln!("peak RSS {} MiB", peak >> 20);
    w.stop();
    assert_eq!(
        metric(&text, "weir_component_sent_events_total", "sink"),
        LINES as f64
    );
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MiB while streaming a {} MB object",
        peak >> 20,
        LINES * 191 / 1_000_000
    );
}

/// `weir_s3_objects_total` of an input, by `result`.
fn objects(text: &str, result: &str) -> f64 {
    metric(
        text,
        "weir_s3_objects_total",
        &format!("result=\"{result}\""),
    )
}

/// Messages in a queue, visible or in flight.
fn queue_depth(moto: &Moto, queue: &str) -> String {
    moto.python(&format!(
        "sqs = client('sqs')\n\
url = sqs.get_queue_url(QueueName='{queue}')['QueueUrl']\n\
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['All'])['Attributes']\n\
print(int(a['ApproximateNumberOfMessages']) + int(a['ApproximateNumberOfMessagesNotVisible']))\n"
    ))
    .trim()
    .to_owned()
}

#[test]
fn a_notified_object_deleted_before_it_is_read_is_counted_and_its_message_deleted() {
    let moto = Moto::start();
    // Notified of `gone` twice over (its creation, then its removal), and
    // of `kept`; only `kept` still exists when weir starts.
    let url = notifying_bucket(
        &moto,
        "churn",
        "gone",
        "['s3:ObjectCreated:*', 's3:ObjectRemoved:*']",
        r#"
s3.put_object(Bucket='churn', Key='logs/gone.txt', Body=b'never read\n')
s3.delete_object(Bucket='churn', Key='logs/gone.txt')
s3.put_object(Bucket='churn', Key='logs/kept.txt', Body=''.join(f'kept {i}\n' for i in range(1, 13)).encode())
"#,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.yaml");
    let api = free_port();
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        api,
        "notified",
        &[
            "bucket: churn",
            &format!("sqs_queue_url: '{url}'"),
            "visibility_timeout: 2s",
        ],
        &file_output(&out),
    );
    let w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    wait_for(Duration::from_secs(60), "12 events", &[&w], || {
        line_count(&out) >= 12
    });
    wait_for(Duration::from_secs(60), "an empty queue", &[&w], || {
        queue_depth(&moto, "gone") == "0"
    });
    // Longer than the 2 s lease: a message left undeleted would come back
    // and be handled again.
    std::thread::sleep(Duration::from_millis(2500));
    let text = metrics(api);
    assert_eq!(queue_depth(&moto, "gone"), "0");
    w.stop();
    assert_eq!(objects(&text, "missing"), 1.0, "{text}");
    assert_eq!(objects(&text, "done"), 1.0, "{text}");
    assert_eq!(objects(&text, "failed"), 0.0, "{text}");
    assert_eq!(
        metric(&text, "weir_s3_sqs_messages_total", "result=\"failed\""),
        0.0,
        "{text}"
    );
    let docs = documents(&out);
    assert_eq!(docs.len(), 12);
    let got = positions(&docs);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        expected_positions(&[("logs/kept.txt", 12)])
    );
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
}

#[test]
fn polling_skips_objects_before_since_and_reads_young_ones_once_settled() {
    // Long enough that weir, however slowly it starts, lists `b-new.log`
    // young at least once: settled at once, it would be read on the listing
    // that skips `a-old.log`, and the order checked below would not show.
    const SETTLE: Duration = Duration::from_secs(8);
    let moto = Moto::start();
    // moto stamps LastModified with the upload's wall-clock time, to the
    // second: `since` falls between the two uploads with a second to spare.
    let printed = moto.python(
        r#"
import datetime
s3 = client('s3')
s3.create_bucket(Bucket='timed')
s3.put_object(Bucket='timed', Key='a-old.log', Body=b'old 1\nold 2\nold 3\n')
time.sleep(1.5)
since = datetime.datetime.now(datetime.timezone.utc)
time.sleep(1.1)
s3.put_object(Bucket='timed', Key='b-new.log', Body=''.join(f'new {i}\n' for i in range(1, 8)).encode())
print(since.isoformat())
print(s3.head_object(Bucket='timed', Key='b-new.log')['LastModified'].timestamp())
"#,
    );
    let uploaded = Instant::now();
    let (since, modified) = printed
        .trim()
        .split_once('\n')
        .unwrap_or_else(|| panic!("since and LastModified: {printed}"));
    let since = since.to_owned();
    // `b-new.log` may be read from LastModified + settle_time on (the same
    // clock as weir's, on this machine).
    let settled_at = std::time::UNIX_EPOCH
        + Duration::from_secs_f64(modified.trim().parse().expect("LastModified"))
        + SETTLE;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let pipeline = dir.path().join("p.yaml");
    let api = free_port();
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        api,
        "timed",
        &[
            "bucket: timed",
            &format!("since: '{since}'"),
            "interval: 200ms",
            &format!("settle_time: {}s", SETTLE.as_secs()),
        ],
        &file_output(&out),
    );
    let w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    // `a-old.log` is settled (uploaded 2.6 s before `b-new.log`, stamped up
    // to a second earlier) when a listing skips it as older than `since`;
    // `b-new.log`, behind it, is listed then but left for later.
    let mut first_line: Option<Duration> = None;
    let mut first_line_at = None;
    let mut skipped_at: Option<Duration> = None;
    wait_for(Duration::from_secs(60), "7 events", &[&w], || {
        // Both read before either is stamped: seen in one look, they tie.
        let skipped = objects(&metrics(api), "skipped") >= 1.0;
        let n = line_count(&out);
        let now = uploaded.elapsed();
        if skipped && skipped_at.is_none() {
            skipped_at = Some(now);
        }
        if n > 0 && first_line.is_none() {
            first_line = Some(now);
            first_line_at = Some(std::time::SystemTime::now());
        }
        n >= 7
    });
    // Several more listings: nothing read twice, the old object never.
    std::thread::sleep(Duration::from_millis(800));
    let text = metrics(api);
    w.stop();
    let (first_line, skipped_at) = (
        first_line.expect("lines arrived"),
        skipped_at.expect("a-old.log skipped"),
    );
    eprintln!("a-old.log skipped after {skipped_at:?}, first line after {first_line:?}");
    assert!(
        skipped_at < first_line,
        "b-new.log was read on the listing that skipped a-old.log ({skipped_at:?}, {first_line:?})"
    );
    let first_line_at = first_line_at.expect("lines arrived");
    assert!(
        first_line_at >= settled_at,
        "b-new.log was read {:?} before LastModified + settle_time",
        settled_at.duration_since(first_line_at).unwrap_or_default()
    );
    assert_eq!(objects(&text, "skipped"), 1.0, "{text}");
    assert_eq!(objects(&text, "done"), 1.0, "{text}");
    let docs = documents(&out);
    assert_eq!(docs.len(), 7);
    let got = positions(&docs);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        expected_positions(&[("b-new.log", 7)])
    );
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    let checkpoint: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("data/checkpoints/p/timed.json"))
            .expect("checkpoint file"),
    )
    .expect("checkpoint JSON");
    assert_eq!(checkpoint["after"], "b-new.log");
}

/// An `archive` output: the s3 output to bucket `archive`, which gives an
/// object up, reporting its batches as failed, after one quick retry (while
/// the bucket does not exist).
fn archive_output(moto: &Moto) -> String {
    format!(
        "outputs:\n  archive:\n    type: s3\n    bucket: archive\n    encoding: text\n    \
         compression: none\n    max_age: 200ms\n    max_retries: 1\n    \
         retry_initial_backoff: 10ms\n    retry_max_backoff: 50ms\n    \
         endpoint: '{}'\n    force_path_style: true\n",
        moto.endpoint
    )
}

/// Every line of every object in bucket `archive`, ordered by the number
/// after `line `.
fn archived_lines(moto: &Moto) -> Vec<String> {
    let text = moto.python(
        "s3 = client('s3')\n\
for o in s3.list_objects_v2(Bucket='archive').get('Contents', []):\n    \
print(s3.get_object(Bucket='archive', Key=o['Key'])['Body'].read().decode(), end='')\n",
    );
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort_by_key(|l| {
        l.trim_start_matches("line ")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    lines
}

fn numbered_lines(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("line {i}")).collect()
}

/// Python that puts `bucket/key` holding `line 1` … `line n`, one a line.
fn put_numbered_lines(bucket: &str, key: &str, n: usize) -> String {
    format!(
        "s3.put_object(Bucket={bucket:?}, Key={key:?}, \
         Body=''.join(f'line {{i}}\\n' for i in range(1, {n} + 1)).encode())\n"
    )
}

/// A proxy in front of `es` that answers every `_bulk` `delay` late.
fn slow_bulks(es: &Osmem, delay: Duration) -> proxy::Proxy {
    proxy::Proxy::start(es.port, move |s| {
        if s.is_bulk {
            proxy::Fault::Slow(delay)
        } else {
            proxy::Fault::Pass
        }
    })
}

#[test]
fn an_object_whose_batch_an_output_failed_is_read_again_and_not_checkpointed() {
    const LINES: usize = 20;
    let moto = Moto::start();
    moto.python(&format!(
        "s3 = client('s3')\ns3.create_bucket(Bucket='source')\n{}",
        put_numbered_lines("source", "data.log", LINES)
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = dir.path().join("p.yaml");
    let api = free_port();
    // The s3 output's bucket does not exist yet: with `max_retries` it gives
    // each object up and reports its batches as failed.
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        api,
        "source",
        &["bucket: source", "interval: 300ms", "settle_time: 0s"],
        &archive_output(&moto),
    );
    let mut w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    // The output counts an object given up just after failing its batches:
    // wait for both counts, not one and then assume the other.
    wait_for(
        Duration::from_secs(60),
        "two failed attempts",
        &[&w],
        || {
            let text = metrics(api);
            objects(&text, "failed") >= 2.0
                && metric(&text, "weir_s3_output_objects_total", "result=\"failed\"") >= 2.0
        },
    );
    let text = metrics(api);
    assert!(
        metric(&text, "weir_s3_output_objects_total", "result=\"failed\"") >= 2.0,
        "{text}"
    );
    assert_eq!(objects(&text, "done"), 0.0, "{text}");
    // Not checkpointed past: a restart now would read the object again.
    let checkpoint = dir.path().join("data/checkpoints/p/source.json");
    if let Ok(stored) = std::fs::read_to_string(&checkpoint) {
        let stored: serde_json::Value = serde_json::from_str(&stored).expect("checkpoint JSON");
        assert!(stored["after"].is_null(), "{stored}");
        assert_ne!(stored["objects"]["data.log"]["done"], true, "{stored}");
        assert_eq!(
            stored["objects"]["data.log"]["lines"].as_u64().unwrap_or(0),
            0,
            "{stored}"
        );
    }

    // The bucket appears; the next attempt delivers the object.
    moto.python("client('s3').create_bucket(Bucket='archive')\n");
    wait_for(Duration::from_secs(60), "the object done", &[&w], || {
        objects(&metrics(api), "done") >= 1.0
    });
    wait_for(Duration::from_secs(60), "the checkpoint", &[&w], || {
        std::fs::read_to_string(&checkpoint)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["after"] == "data.log")
    });
    signal(&w.child, "TERM");
    let status = wait_exit(&mut w.child, Duration::from_secs(40));
    // Objects were given up on, which the s3 output reports in its exit code.
    assert!(!status.success(), "weir exited with {status}");
    assert_eq!(
        archived_lines(&moto),
        numbered_lines(LINES),
        "every line archived exactly once"
    );
}

#[test]
fn a_notification_whose_object_an_output_failed_stays_queued_until_delivered() {
    const LINES: usize = 15;
    let moto = Moto::start();
    let url = notifying_bucket(
        &moto,
        "source",
        "retry",
        CREATED,
        &put_numbered_lines("source", "one.log", LINES),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = dir.path().join("p.yaml");
    let api = free_port();
    write_s3_pipeline(
        &pipeline,
        &moto,
        &dir.path().join("data"),
        api,
        "notified",
        &[
            "bucket: source",
            &format!("sqs_queue_url: '{url}'"),
            "visibility_timeout: 2s",
        ],
        &archive_output(&moto),
    );
    let mut w = Weir::start(&moto, &pipeline, dir.path(), "weir");
    let message = |text: &str, result: &str| {
        metric(
            text,
            "weir_s3_sqs_messages_total",
            &format!("result=\"{result}\""),
        )
    };
    wait_for(
        Duration::from_secs(60),
        "the message given up",
        &[&w],
        || message(&metrics(api), "failed") >= 1.0,
    );
    let text = metrics(api);
    assert_eq!(message(&text, "deleted"), 0.0, "{text}");
    assert_eq!(objects(&text, "done"), 0.0, "{text}");
    assert!(objects(&text, "failed") >= 1.0, "{text}");
    assert_eq!(queue_depth(&moto, "retry"), "1", "the message was deleted");

    // The bucket appears; the message, received again, is delivered.
    moto.python("client('s3').create_bucket(Bucket='archive')\n");
    wait_for(
        Duration::from_secs(60),
        "the message deleted",
        &[&w],
        || message(&metrics(api), "deleted") >= 1.0,
    );
    wait_for(Duration::from_secs(60), "an empty queue", &[&w], || {
        queue_depth(&moto, "retry") == "0"
    });
    let text = metrics(api);
    assert_eq!(objects(&text, "done"), 1.0, "{text}");
    signal(&w.child, "TERM");
    let status = wait_exit(&mut w.child, Duration::from_secs(40));
    assert!(!status.success(), "weir exited with {status}");
    assert_eq!(
        archived_lines(&moto),
        numbered_lines(LINES),
        "every line archived exactly once"
    );
}
