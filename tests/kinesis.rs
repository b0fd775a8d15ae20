//! The `kinesis` input end to end: the real `weir` binary against a real
//! `moto_server` (Kinesis, CloudWatch Logs, DynamoDB) and, where ids matter,
//! a real OpenSearch-compatible server (`osmem-server`).
//!
//! Every test checks exact counts: nothing lost (resharding, restarts, lease
//! hand-overs) and nothing doubled (checkpoints, or `auto_source` ids).

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "elasticsearch/osmem.rs"]
mod osmem;
#[path = "elasticsearch/proxy.rs"]
mod proxy;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use moto::Moto;
use osmem::Osmem;

/// Polls `f` until it returns true, panicking with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running weir, killed if a test fails before stopping it.
struct Weir(Option<Child>);

impl Drop for Weir {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `weir run` on a pipeline with moto's AWS environment.
fn start_weir(moto: &Moto, p: &Path) -> Weir {
    let mut cmd = weir();
    moto.env(&mut cmd)
        .args(["run", p.to_str().expect("utf-8 path")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    Weir(Some(cmd.spawn().expect("spawn weir")))
}

fn stop_weir(mut weir: Weir) {
    let mut child = weir.0.take().expect("running");
    signal(&child, "TERM");
    // Releasing leases and storing checkpoints are calls to moto.
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert!(status.success(), "weir exited with {status}");
}

/// The JSON lines of a file output (none if it does not exist yet).
fn lines_of(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn messages(docs: &[serde_json::Value]) -> Vec<String> {
    docs.iter()
        .map(|d| d["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A pipeline reading `stream` with `options` (YAML flow-map entries) into a
/// file output `out.ndjson` in the pipeline's directory. One worker: the
/// batches of a shard then reach the file in the order read, which some
/// tests check line by line.
fn to_file(
    moto: &Moto,
    stream: &str,
    options: &str,
    data_dir: &Path,
) -> (Pipeline, std::path::PathBuf, u16) {
    to_file_via(&moto.endpoint, stream, options, data_dir)
}

/// [`to_file`] with the AWS endpoint given (a fault-injecting proxy).
fn to_file_via(
    endpoint: &str,
    stream: &str,
    options: &str,
    data_dir: &Path,
) -> (Pipeline, std::path::PathBuf, u16) {
    let p = pipeline("");
    let api = free_port();
    let out = p.dir.path().join("out.ndjson");
    let text = format!(
        "api: {{ listen: '127.0.0.1:{api}' }}\nworkers: 1\ndata_dir: '{dir}'\ninputs:\n  k:\n    type: kinesis\n    stream_name: {stream}\n    \
         endpoint: '{endpoint}'\n    poll_interval: 200ms\n    shard_sync_interval: 1s\n{options}\
         outputs:\n  f: {{ type: file, path: '{out}' }}\n",
        dir = data_dir.display(),
        out = out.display(),
    );
    std::fs::write(&p.path, text).expect("write pipeline");
    (p, out, api)
}

/// Puts `records` (data, partition key) on `stream`, one PutRecord each,
/// in order.
fn put_records(moto: &Moto, stream: &str, records: &[(String, String)]) {
    let json = serde_json::to_string(records).unwrap();
    moto.python(&format!(
        "k = client('kinesis')\nfor data, key in json.loads({json:?}):\n    \
         k.put_record(StreamName={stream:?}, Data=data.encode(), PartitionKey=key)\n"
    ));
}

#[test]
fn cloudwatch_subscription_events_arrive_in_elasticsearch_with_their_fields() {
    let moto = Moto::start();
    let es = Osmem::start();
    // CloudWatch Logs refuses events older than 14 days: times near now.
    let base: u64 = moto.python(
        "k = client('kinesis'); logs = client('logs')\n\
         k.create_stream(StreamName='cwl', ShardCount=2)\n\
         arn = k.describe_stream_summary(StreamName='cwl')['StreamDescriptionSummary']['StreamARN']\n\
         logs.create_log_group(logGroupName='/app/web')\n\
         for s in ['web-1', 'web-2']:\n    logs.create_log_stream(logGroupName='/app/web', logStreamName=s)\n\
         logs.put_subscription_filter(logGroupName='/app/web', filterName='all', filterPattern='', \
             destinationArn=arn, roleArn='arn:aws:iam::123456789012:role/cwl')\n\
         base = int(time.time() * 1000) - 60000\n\
         for n, s in enumerate(['web-1', 'web-2']):\n    \
             logs.put_log_events(logGroupName='/app/web', logStreamName=s, logEvents=[\n        \
             {'timestamp': base + n * 1000 + i, 'message': 'ERROR %s event %d' % (s, i)} for i in range(3)])\n\
         print(base)\n",
    )
    .trim()
    .parse()
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let p = pipeline(&format!(
        "api: {{ listen: '127.0.0.1:{api}' }}\ndata_dir: '{dir}'\ninputs:\n  sub:\n    type: kinesis\n    stream_name: cwl\n    \
         format: cloudwatch_subscription\n    endpoint: '{endpoint}'\n    poll_interval: 200ms\n\
         outputs:\n  es:\n    type: elasticsearch\n    hosts: ['{url}']\n    index: cwl\n    \
         action: create\n    id: auto_source\n",
        api = free_port(),
        dir = data.path().display(),
        endpoint = moto.endpoint,
        url = es.url,
    ));
    let weir = start_weir(&moto, &p.path);
    wait_until(Duration::from_secs(60), "6 documents", || {
        es.count("cwl") >= 6
    });
    std::thread::sleep(Duration::from_millis(500));
    stop_weir(weir);
    assert_eq!(es.count("cwl"), 6);
    let docs = es.documents("cwl", 100);
    let mut seen = BTreeSet::new();
    for d in &docs {
        let s = &d["_source"];
        let msg = s["message"].as_str().unwrap();
        let stream = s["aws"]["cloudwatch"]["log_stream"].as_str().unwrap();
        assert!(msg.starts_with(&format!("ERROR {stream} event ")), "{s}");
        assert_eq!(s["aws"]["cloudwatch"]["log_group"], "/app/web", "{s}");
        assert_eq!(s["cloud"]["account"]["id"], "123456789012", "{s}");
        assert_eq!(s["aws"]["kinesis"]["stream"], "cwl", "{s}");
        let shard = s["aws"]["kinesis"]["shard_id"].as_str().unwrap();
        assert!(shard.starts_with("shardId-00000000000"), "{s}");
        assert!(
            s["aws"]["kinesis"]["sequence_number"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .is_ok(),
            "{s}"
        );
        assert!(
            s["aws"]["kinesis"]["approximate_arrival_timestamp"].is_string(),
            "{s}"
        );
        // @timestamp is the log event's own time.
        let i: u64 = msg.rsplit(' ').next().unwrap().parse().unwrap();
        let n = if stream == "web-1" { 0 } else { 1 };
        let ms = base + n * 1000 + i;
        let want = chrono::DateTime::from_timestamp_millis(ms as i64).unwrap();
        let got = chrono::DateTime::parse_from_rfc3339(s["@timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(got, want, "{s}");
        seen.insert(msg.to_owned());
    }
    assert_eq!(seen.len(), 6);
}

#[test]
fn a_shard_split_mid_stream_loses_nothing_and_children_start_after_the_parent() {
    let moto = Moto::start();
    moto.python("client('kinesis').create_stream(StreamName='split', ShardCount=1)\n");
    let before: Vec<_> = (0..20)
        .map(|i| (format!("before {i}"), format!("key{i}")))
        .collect();
    put_records(&moto, "split", &before);
    let data = tempfile::tempdir().unwrap();
    let (p, out, api) = to_file(&moto, "split", "", data.path());
    let weir = start_weir(&moto, &p.path);
    wait_until(Duration::from_secs(60), "the first 20 records", || {
        lines_of(&out).len() >= 20
    });
    // More records, then the split while they are still unread. (moto
    // 5.2.5 routes every record to the first shard whose hash range holds
    // the key — the closed parent — so children never receive records there;
    // on AWS they would, and they are read as any shard.)
    let after: Vec<_> = (0..30)
        .map(|i| (format!("after {i}"), format!("key{i}")))
        .collect();
    put_records(&moto, "split", &after);
    moto.python(
        "client('kinesis').split_shard(StreamName='split', ShardToSplit='shardId-000000000000', \
         NewStartingHashKey=str(2**127))\n",
    );
    wait_until(Duration::from_secs(60), "all 50 records", || {
        lines_of(&out).len() >= 50
    });
    // The parent is finished once everything is acknowledged; then both
    // children get readers.
    let cp_path = data.path().join("checkpoints/test/k.json");
    wait_until(
        Duration::from_secs(60),
        "the parent's SHARD_END and the children's readers",
        || {
            let cp = std::fs::read_to_string(&cp_path).unwrap_or_default();
            let body =
                String::from_utf8_lossy(&osmem::http(api, "GET", "/metrics", b"").1).into_owned();
            cp.contains("\"shardId-000000000000\": \"SHARD_END\"")
                && body.contains("shard=\"shardId-000000000001\"")
                && body.contains("shard=\"shardId-000000000002\"")
        },
    );
    stop_weir(weir);
    let got = messages(&lines_of(&out));
    assert_eq!(got.len(), 50, "{got:?}");
    let want: BTreeSet<String> = before
        .iter()
        .chain(&after)
        .map(|(d, _)| d.clone())
        .collect();
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
}

#[test]
fn a_restart_resumes_from_the_checkpoint_without_rereading() {
    let moto = Moto::start();
    moto.python("client('kinesis').create_stream(StreamName='rs', ShardCount=2)\n");
    let first: Vec<_> = (0..15)
        .map(|i| (format!("first {i}"), format!("k{i}")))
        .collect();
    put_records(&moto, "rs", &first);
    let data = tempfile::tempdir().unwrap();
    let (p, out, _) = to_file(&moto, "rs", "", data.path());
    let weir = start_weir(&moto, &p.path);
    wait_until(Duration::from_secs(60), "15 records", || {
        lines_of(&out).len() >= 15
    });
    stop_weir(weir);
    assert_eq!(lines_of(&out).len(), 15);
    let second: Vec<_> = (0..10)
        .map(|i| (format!("second {i}"), format!("k{i}")))
        .collect();
    put_records(&moto, "rs", &second);
    let weir = start_weir(&moto, &p.path);
    wait_until(Duration::from_secs(60), "25 records", || {
        lines_of(&out).len() >= 25
    });
    std::thread::sleep(Duration::from_millis(1000));
    stop_weir(weir);
    let got = messages(&lines_of(&out));
    assert_eq!(got.len(), 25, "re-read after restart: {got:?}");
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 25);
    assert!(got[15..].iter().all(|m| m.starts_with("second")), "{got:?}");
}

#[test]
fn kpl_aggregated_records_arrive_as_their_user_records() {
    let moto = Moto::start();
    // Aggregates hand-encoded as the KPL writes them (magic, protobuf, MD5);
    // one with a wrong MD5 that must pass through as a plain record.
    moto.python(
        "import hashlib\n\
         k = client('kinesis')\n\
         k.create_stream(StreamName='kpl', ShardCount=1)\n\
         def varint(n):\n    out = b''\n    while n >= 0x80:\n        out += bytes([(n & 0x7f) | 0x80]); n >>= 7\n    return out + bytes([n])\n\
         def field(tag, b):\n    return bytes([tag]) + varint(len(b)) + b\n\
         def aggregate(keys, records, bad=False):\n    \
             body = b''.join(field(0x0a, k.encode()) for k in keys)\n    \
             for pk, data in records:\n        body += field(0x1a, b'\\x08' + varint(pk) + field(0x1a, data.encode()))\n    \
             digest = hashlib.md5(body).digest()\n    \
             if bad: digest = bytes(16)\n    \
             return b'\\xf3\\x89\\x9a\\xc2' + body + digest\n\
         golden = aggregate(['a'], [(0, 'hi'), (0, 'yo')])\n\
         assert golden.hex() == 'f3899ac20a01611a0608001a0268691a0608001a02796fdd0a5c3da58a508e957c8b3136d63d36', golden.hex()\n\
         k.put_record(StreamName='kpl', Data=golden, PartitionKey='a')\n\
         k.put_record(StreamName='kpl', Data=aggregate(['p', 'q'], [(i % 2, 'user %d' % i) for i in range(200)]), PartitionKey='p')\n\
         k.put_record(StreamName='kpl', Data=b'plain record', PartitionKey='z')\n\
         k.put_record(StreamName='kpl', Data=aggregate(['a'], [(0, 'x')], bad=True), PartitionKey='a')\n",
    );
    let data = tempfile::tempdir().unwrap();
    let (p, out, _) = to_file(&moto, "kpl", "", data.path());
    let weir = start_weir(&moto, &p.path);
    wait_until(Duration::from_secs(60), "205 events", || {
        lines_of(&out).len() >= 205
    });
    std::thread::sleep(Duration::from_millis(500));
    stop_weir(weir);
    let docs = lines_of(&out);
    let got = messages(&docs);
    // The bad aggregate is passed on as plain data: with `format: lines`
    // it splits at its one newline byte (the 0x0A after the magic).
    assert_eq!(got.len(), 205, "{got:?}");
    assert_eq!(got[..2], ["hi", "yo"]);
    let users: Vec<String> = (0..200).map(|i| format!("user {i}")).collect();
    assert_eq!(got[2..202], users[..]);
    assert_eq!(got[202], "plain record");
    let last = &docs[203]["aws"]["kinesis"]["sequence_number"];
    assert_eq!(&docs[204]["aws"]["kinesis"]["sequence_number"], last);
    assert!(
        got[204].starts_with("\u{1}a") && got[204].contains('x'),
        "{:?}",
        got[204]
    );
    // User records carry their own partition keys and the outer sequence.
    assert_eq!(docs[3]["aws"]["kinesis"]["partition_key"], "q");
    assert_eq!(
        docs[2]["aws"]["kinesis"]["sequence_number"],
        docs[201]["aws"]["kinesis"]["sequence_number"]
    );
}

/// Puts `event {from}` … on a four-shard `stream`, event `i` on shard
/// `i % 4` (explicit hash keys in each quarter of the key space).
fn put_over_four_shards(moto: &Moto, stream: &str, from: usize, n: usize) {
    moto.python(&format!(
        "k = client('kinesis')\nfor i in range({from}, {to}):\n    \
         k.put_record(StreamName={stream:?}, Data=('event %d' % i).encode(), PartitionKey='k', \
         ExplicitHashKey=str((i % 4) * 2**126 + 5))\n",
        to = from + n
    ));
}

/// The value of a gauge or counter in a `/metrics` text, summed over series.
fn metric(api: u16, name: &str) -> f64 {
    let body = String::from_utf8_lossy(&osmem::http(api, "GET", "/metrics", b"").1).into_owned();
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn two_instances_split_the_shards_through_a_lease_table_and_deliver_each_event_once() {
    let moto = Moto::start();
    let es = Osmem::start();
    moto.python("client('kinesis').create_stream(StreamName='shared', ShardCount=4)\n");
    // Explicit hash keys spread the records over the four shards.
    let put = |from: usize, n: usize| put_over_four_shards(&moto, "shared", from, n);
    put(0, 40);
    let apis = [free_port(), free_port()];
    let data = tempfile::tempdir().unwrap();
    let instances: Vec<(Pipeline, Weir)> = apis
        .iter()
        .map(|api| {
            let p = pipeline(&format!(
                "api: {{ listen: '127.0.0.1:{api}' }}\ndata_dir: '{dir}'\ninputs:\n  k:\n    type: kinesis\n    \
                 stream_name: shared\n    endpoint: '{endpoint}'\n    poll_interval: 200ms\n    \
                 shard_sync_interval: 2s\n    leases: {{ dynamodb_table: weir-test-leases, lease_duration: 3s }}\n\
                 outputs:\n  es:\n    type: elasticsearch\n    hosts: ['{url}']\n    index: shared\n    \
                 action: create\n    id: auto_source\n",
                dir = data.path().display(),
                endpoint = moto.endpoint,
                url = es.url,
            ));
            let child = start_weir(&moto, &p.path);
            (p, child)
        })
        .collect();
    for api in apis {
        wait_for_port(api);
    }
    // Both end up holding shards, all four between them.
    wait_until(Duration::from_secs(60), "the leases to be balanced", || {
        let held: Vec<f64> = apis
            .iter()
            .map(|a| metric(*a, "weir_kinesis_leases_held"))
            .collect();
        held.iter().all(|h| *h >= 1.0) && held.iter().sum::<f64>() == 4.0
    });
    put(40, 40);
    wait_until(Duration::from_secs(60), "80 documents", || {
        es.count("shared") >= 80
    });
    std::thread::sleep(Duration::from_millis(1000));
    for a in apis {
        assert!(
            metric(a, "weir_kinesis_records_total") > 0.0,
            "instance on {a} read nothing"
        );
    }
    for (_, child) in instances {
        stop_weir(child);
    }
    assert_eq!(es.count("shared"), 80);
    let docs = es.documents("shared", 200);
    let got: BTreeSet<String> = docs
        .iter()
        .map(|d| d["_source"]["message"].as_str().unwrap().to_owned())
        .collect();
    let want: BTreeSet<String> = (0..80).map(|i| format!("event {i}")).collect();
    assert_eq!(got, want);
    // Leases were released at shutdown and carry checkpoints.
    let table = moto.python(
        "d = client('dynamodb')\n\
         items = d.scan(TableName='weir-test-leases')['Items']\n\
         print(json.dumps(sorted([[i['leaseKey']['S'], 'leaseOwner' in i, i.get('checkpoint', {}).get('S', '')] for i in items])))\n",
    );
    let items: Vec<(String, bool, String)> = serde_json::from_str(table.trim()).unwrap();
    assert_eq!(items.len(), 4, "{items:?}");
    for (key, owned, checkpoint) in &items {
        assert!(!owned, "{key} still owned after shutdown");
        assert!(
            checkpoint.parse::<u64>().is_ok(),
            "{key}: checkpoint {checkpoint:?}"
        );
    }
}

/// A child process killed when dropped.
struct Renewer(Child);

impl Drop for Renewer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lease items of `table` by key: (owner or `-` when free, checkpoint
/// or `-`).
fn lease_items(moto: &Moto, table: &str) -> Vec<(String, String)> {
    let out = moto.python(&format!(
        "items = client('dynamodb').scan(TableName={table:?}, ConsistentRead=True)['Items']\n\
         print(json.dumps([[i.get(a, {{}}).get('S', '-') for a in ['leaseOwner', 'checkpoint']] \
         for i in sorted(items, key=lambda i: i['leaseKey']['S'])]))\n"
    ));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Instance A reads a 4-shard stream while records keep arriving and is
/// killed with SIGKILL (no drain, no final checkpoints, no released leases);
/// instance B, started afterwards, must wait out A's leases, take all four
/// and deliver the rest from A's checkpoints: exactly every event, once.
#[test]
fn a_killed_instances_expired_leases_are_taken_over_and_nothing_is_lost() {
    let moto = Moto::start();
    let es = Osmem::start();
    moto.python("client('kinesis').create_stream(StreamName='crash', ShardCount=4)\n");
    let put = |from: usize, n: usize| put_over_four_shards(&moto, "crash", from, n);
    put(0, 20);
    let data = tempfile::tempdir().unwrap();
    let instance = || {
        let api = free_port();
        let p = pipeline(&format!(
            "api: {{ listen: '127.0.0.1:{api}' }}\ndata_dir: '{dir}'\ninputs:\n  k:\n    type: kinesis\n    \
             stream_name: crash\n    endpoint: '{endpoint}'\n    poll_interval: 200ms\n    max_records: 2\n    \
             shard_sync_interval: 2s\n    leases: {{ dynamodb_table: crash-leases, lease_duration: 3s }}\n\
             outputs:\n  es:\n    type: elasticsearch\n    hosts: ['{url}']\n    index: crash\n    \
             action: create\n    id: auto_source\n",
            dir = data.path().display(),
            endpoint = moto.endpoint,
            url = es.url,
        ));
        let weir = start_weir(&moto, &p.path);
        wait_for_port(api);
        (p, weir, api)
    };
    let owned_by = |pid: u32| {
        let items = lease_items(&moto, "crash-leases");
        items.len() == 4 && items.iter().all(|(o, _)| o.contains(&format!(":{pid}:")))
    };
    let (killed, wait_for_kill) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        // Records keep coming while A reads; the second half only after
        // the kill, so B has records A never saw.
        let putter = scope.spawn(move || {
            for from in (20..60).step_by(10) {
                put(from, 10);
            }
            wait_for_kill.recv().expect("the kill");
            for from in (60..120).step_by(20) {
                put(from, 20);
            }
        });

        let (_pa, mut a, api_a) = instance();
        let pid_a = a.0.as_ref().expect("running").id();
        wait_until(Duration::from_secs(60), "A to hold all 4 leases", || {
            metric(api_a, "weir_kinesis_leases_held") == 4.0
        });
        // Killed once it has delivered and checkpointed part of every
        // shard; the records put after the kill are B's alone.
        wait_until(Duration::from_secs(60), "A's checkpoints", || {
            es.count("crash") >= 30
                && lease_items(&moto, "crash-leases")
                    .iter()
                    .all(|(_, cp)| cp.parse::<u64>().is_ok())
        });
        let mut child = a.0.take().expect("running");
        child.kill().expect("kill -9 A");
        child.wait().expect("reap A");
        killed.send(()).expect("the putter");
        let delivered = es.count("crash");
        let at_kill = lease_items(&moto, "crash-leases");
        assert!(owned_by(pid_a), "{at_kill:?}");
        // Records at or before A's checkpoints: what B must not read again.
        let checkpointed: f64 = moto
            .python(
                "k = client('kinesis'); d = client('dynamodb'); n = 0\n\
                 for i in d.scan(TableName='crash-leases', ConsistentRead=True)['Items']:\n    \
                 cp = int(i['checkpoint']['S'])\n    \
                 it = k.get_shard_iterator(StreamName='crash', ShardId=i['leaseKey']['S'], \
                 ShardIteratorType='TRIM_HORIZON')['ShardIterator']\n    \
                 recs = k.get_records(ShardIterator=it, Limit=10000)['Records']\n    \
                 n += sum(1 for r in recs if int(r['SequenceNumber']) <= cp)\n\
                 print(n)\n",
            )
            .trim()
            .parse()
            .unwrap();

        let (_pb, b, api_b) = instance();
        let pid_b = b.0.as_ref().expect("running").id();
        wait_until(
            Duration::from_secs(60),
            "B to take over all 4 leases",
            || metric(api_b, "weir_kinesis_leases_held") == 4.0 && owned_by(pid_b),
        );
        putter.join().expect("putter");
        wait_until(Duration::from_secs(60), "120 documents", || {
            es.count("crash") >= 120
        });
        std::thread::sleep(Duration::from_millis(1000));
        // B resumed from A's checkpoints rather than from TRIM_HORIZON.
        let read_by_b = metric(api_b, "weir_kinesis_records_total");
        stop_weir(b);
        assert_eq!(
            es.count("crash"),
            120,
            "A delivered {delivered} before the kill"
        );
        assert!(checkpointed > 0.0, "{at_kill:?}");
        assert_eq!(
            read_by_b,
            120.0 - checkpointed,
            "B read {read_by_b} records; A had delivered {delivered}, checkpointed {checkpointed}"
        );
    });
    let docs = es.documents("crash", 200);
    let got: BTreeSet<String> = docs
        .iter()
        .map(|d| d["_source"]["message"].as_str().unwrap().to_owned())
        .collect();
    let want: BTreeSet<String> = (0..120).map(|i| format!("event {i}")).collect();
    assert_eq!(got, want);
}

#[test]
fn throttled_reads_and_an_expired_iterator_lose_and_double_nothing() {
    // moto never throttles and its iterators never expire: a proxy answers
    // a run of GetRecords calls with ProvisionedThroughputExceededException
    // (longer than the SDK's own three attempts, so weir's backoff runs)
    // and a later one with ExpiredIteratorException.
    let moto = Moto::start();
    moto.python("client('kinesis').create_stream(StreamName='ft', ShardCount=1)\n");
    let records: Vec<_> = (0..30)
        .map(|i| (format!("event {i}"), "k".to_owned()))
        .collect();
    put_records(&moto, "ft", &records);
    const THROTTLED: std::ops::RangeInclusive<usize> = 2..=7;
    const EXPIRED: usize = 10;
    let calls = AtomicUsize::new(0);
    let proxy = proxy::Proxy::start(moto.port, move |seen| {
        if seen.amz_target.as_deref() != Some("Kinesis_20131202.GetRecords") {
            return proxy::Fault::Pass;
        }
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        match n {
            n if THROTTLED.contains(&n) => proxy::Fault::AwsError {
                status: 400,
                code: "ProvisionedThroughputExceededException",
            },
            EXPIRED => proxy::Fault::AwsError {
                status: 400,
                code: "ExpiredIteratorException",
            },
            _ => proxy::Fault::Pass,
        }
    });
    let data = tempfile::tempdir().unwrap();
    // Five records a call: the faults fall in the middle of the stream.
    let (p, out, api) = to_file_via(&proxy.url(), "ft", "    max_records: 5\n", data.path());
    let weir = start_weir(&moto, &p.path);
    wait_until(Duration::from_secs(60), "30 records", || {
        lines_of(&out).len() >= 30
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        metric(api, "weir_kinesis_throttled_total") >= 1.0,
        "weir's own throttling backoff never ran"
    );
    stop_weir(weir);

    let got = messages(&lines_of(&out));
    let want: Vec<String> = (0..30).map(|i| format!("event {i}")).collect();
    assert_eq!(got, want, "lost, doubled or reordered records");
    let log = proxy.stats.log.lock().unwrap();
    let faults: Vec<_> = log
        .iter()
        .filter(|(_, f)| *f != proxy::Fault::Pass)
        .collect();
    assert_eq!(faults.len(), THROTTLED.count() + 1, "{faults:?}");
    // After the expiry, reading resumed after the last record read rather
    // than from the start position.
    let expired_at = log
        .iter()
        .position(|(_, f)| matches!(f, proxy::Fault::AwsError { code, .. } if code.starts_with("Expired")))
        .expect("the expiry was injected");
    let resumed = log[expired_at..]
        .iter()
        .find(|(s, _)| s.amz_target.as_deref() == Some("Kinesis_20131202.GetShardIterator"))
        .expect("a new iterator after the expiry");
    assert!(
        resumed.0.body_head.contains("AFTER_SEQUENCE_NUMBER"),
        "{}",
        resumed.0.body_head
    );
}

#[test]
fn leases_of_shards_the_stream_no_longer_lists_are_deleted() {
    // Shards past the stream's retention disappear from ListShards; moto
    // never expires any, so their leases are planted: one finished, one
    // free, one held by an instance that stopped renewing (it expires after
    // `lease_duration`), one held by an instance that keeps renewing (left
    // alone while it does).
    let moto = Moto::start();
    moto.python(
        "client('kinesis').create_stream(StreamName='old', ShardCount=1)\n\
         d = client('dynamodb')\n\
         d.create_table(TableName='weir-stale', BillingMode='PAY_PER_REQUEST',\n    \
             KeySchema=[{'AttributeName': 'leaseKey', 'KeyType': 'HASH'}],\n    \
             AttributeDefinitions=[{'AttributeName': 'leaseKey', 'AttributeType': 'S'}])\n\
         def put(key, counter, owner=None, checkpoint=None):\n    \
             item = {'leaseKey': {'S': key}, 'leaseCounter': {'N': str(counter)}}\n    \
             if owner: item['leaseOwner'] = {'S': owner}\n    \
             if checkpoint: item['checkpoint'] = {'S': checkpoint}\n    \
             d.put_item(TableName='weir-stale', Item=item)\n\
         put('shardId-000000000070', 9, 'gone', 'SHARD_END')\n\
         put('shardId-000000000071', 2, None, '49590338271490256608559692538361571095921575989136588898')\n\
         put('shardId-000000000072', 4, 'dead', '49590338271490256608559692538361571095921575989136588898')\n\
         put('shardId-000000000073', 1, 'alive', '49590338271490256608559692538361571095921575989136588898')\n",
    );
    put_records(&moto, "old", &[("one".to_owned(), "k".to_owned())]);
    let data = tempfile::tempdir().unwrap();
    let (p, out, _) = to_file(
        &moto,
        "old",
        "    leases: { dynamodb_table: weir-stale, lease_duration: 4s }\n",
        data.path(),
    );
    let keys = || -> Vec<String> {
        let out = moto.python(
            "items = client('dynamodb').scan(TableName='weir-stale', ConsistentRead=True)['Items']\n\
             print(json.dumps(sorted(i['leaseKey']['S'] for i in items)))\n",
        );
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // Keep the live owner renewing while weir runs: one process renewing
    // every 200 ms (a Python process per renewal can take longer than the
    // lease duration to start on a loaded machine, and the lease expires).
    let renewer = Renewer(
        moto.env(&mut std::process::Command::new(moto::venv_bin("python")))
            .arg("-c")
            .arg(
                "import os, sys, threading, boto3\n\
                 d = boto3.client('dynamodb', endpoint_url=os.environ['MOTO_ENDPOINT'])\n\
                 stop = threading.Event()\n\
                 threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()\n\
                 counter = 1\n\
                 while not stop.is_set():\n    \
                     counter += 1\n    \
                     d.update_item(TableName='weir-stale', Key={'leaseKey': {'S': 'shardId-000000000073'}}, \
                     UpdateExpression='SET leaseCounter = :c', ExpressionAttributeValues={':c': {'N': str(counter)}})\n    \
                     stop.wait(0.2)\n",
            )
            .stdin(Stdio::piped())
            .spawn()
            .expect("start the renewing owner"),
    );
    let weir = start_weir(&moto, &p.path);
    // The stale leases go once weir has watched them for a lease duration;
    // the live one must survive twice that (and more, while waiting).
    let want = ["shardId-000000000000", "shardId-000000000073"];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8)
        || (keys() != want || lines_of(&out).is_empty())
            && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        keys(),
        want,
        "the finished, free and expired leases of unlisted shards go; the live one stays"
    );
    assert_eq!(messages(&lines_of(&out)), ["one"]);
    stop_weir(weir);
    drop(renewer);
}
