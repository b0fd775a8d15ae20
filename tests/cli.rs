//! The CLI end to end: validate, run to EOF, config errors.

mod common;

use common::*;

#[test]
fn every_shipped_pipeline_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("pipelines/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !p.to_string_lossy().ends_with(".test.yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        // A pipeline's example events, when it has them, must pass too.
        let tests = weir::config::tests::test_file_for(&f);
        if tests.exists() {
            let out = weir().arg("test").arg(&f).output().expect("run weir");
            assert!(
                out.status.success(),
                "weir test {} failed:\n{}{}",
                f.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = weir().arg("validate").arg(&f).output().expect("run weir");
        assert!(
            out.status.success(),
            "{} does not validate:\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every YAML example in the README is a pipeline `weir validate` accepts,
/// once completed: a snippet of filter entries gets `filters:`, and a stdin
/// input and a blackhole output where it shows neither. The example test file
/// and error catalog (not pipelines) are left out.
#[test]
fn every_readme_example_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let dir = tempfile::tempdir().expect("tempdir");
    // The Elasticsearch example names a CA file; any certificate will do.
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).expect("ca.pem");
    let mut checked = 0;
    for (i, block) in readme.split("```yaml\n").skip(1).enumerate() {
        let Some((yaml, _)) = block.split_once("```") else {
            panic!("README yaml block {i} is not closed");
        };
        if yaml.starts_with("tests:") || yaml.starts_with("# my-codes.yaml") {
            continue;
        }
        let mut pipeline = yaml.replace("/etc/weir/ca.pem", &ca.to_string_lossy());
        if pipeline.starts_with("  - ") {
            pipeline.insert_str(0, "filters:\n");
        }
        if !pipeline.contains("inputs:") {
            pipeline.insert_str(0, "inputs:\n  in: { type: stdin }\n");
        }
        if !pipeline.contains("outputs:") {
            pipeline.push_str("outputs:\n  out: { type: blackhole }\n");
        }
        let path = dir.path().join(format!("readme-{i}.yaml"));
        std::fs::write(&path, &pipeline).expect("write example");
        let out = weir()
            .arg("validate")
            .arg(&path)
            .env("ES_API_KEY", "key")
            .env("SCRAPE_PASSWORD", "secret")
            .env("HOSTNAME", "host-1")
            .output()
            .expect("run weir");
        assert!(
            out.status.success(),
            "README yaml example {i} does not validate:\n{pipeline}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} README examples found");
}

#[test]
fn validate_reports_every_error_with_file_line_column() {
    let p = pipeline(
        "inputs:\n  in:\n    type: tcp\n    adress: 0.0.0.0:1\n  other: { type: kafka }\n\
         filters:\n  - parse: { format: json, on_error: explode }\noutputs:\n  o: { type: stdout }\n",
    );
    let err = validate_errors(&p.path);
    let file = p.path.display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:4:5: input `in` (tcp): unknown field `adress`, expected one of `address`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:5:18: input `other`: unknown type `kafka`")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:7:38: filter #1 (parse): unknown variant `explode`"
        )),
        "{err}"
    );
    assert!(err.contains("3 error(s)"), "{err}");
}

#[test]
fn malformed_yaml_is_a_positioned_error() {
    let p = pipeline("inputs:\n  in: { type: stdin\noutputs: {}\n");
    let err = validate_errors(&p.path);
    assert!(
        err.contains(&format!("{}:", p.path.display())) && err.contains("invalid YAML"),
        "{err}"
    );
}

#[test]
fn missing_environment_variable_fails_at_start() {
    let p = pipeline("inputs:\n  in: { type: tcp, address: '${WEIR_TEST_UNSET_VAR}' }\noutputs:\n  o: { type: stdout }\n");
    let (status, _, err) = run_to_end(&p.path, b"");
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("2:29: environment variable `WEIR_TEST_UNSET_VAR` is not set"),
        "{err}"
    );
}

#[test]
fn stdin_to_stdout_parses_tags_and_exits_zero_at_eof() {
    let port = free_port();
    let p = pipeline(&format!(
        // One worker: batches from several workers may reach the output in
        // any order, and this test reads the lines by position.
        "api: {{ listen: '127.0.0.1:{port}' }}\nworkers: 1\ninputs:\n  in: {{ type: stdin }}\n\
         filters:\n  - parse: {{ format: json }}\n  - set: {{ field: service.name, value: checkout }}\n\
         \x20 - rename: {{ from: msg, to: log.message }}\n  - remove: {{ fields: [secret] }}\n\
         outputs:\n  o: {{ type: stdout }}\n"
    ));
    let input = b"{\"msg\":\"a\",\"secret\":1}\nnot json\n\xff\xfe invalid utf8\n{\"msg\":\"b\"}";
    let (status, out, err) = run_to_end(&p.path, input);
    assert!(status.success(), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0]["log"]["message"], "a");
    assert_eq!(lines[0]["service"]["name"], "checkout");
    assert!(lines[0].get("secret").is_none());
    assert!(
        lines[0].get("message").is_none(),
        "parsed JSON replaces the raw message"
    );
    assert_eq!(lines[1]["message"], "not json");
    assert_eq!(lines[1]["tags"][0], "_parse_failure");
    assert!(lines[1]["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("invalid JSON")));
    // Invalid UTF-8 is kept (replacement characters), tagged, never dropped.
    assert_eq!(lines[2]["message"], "\u{fffd}\u{fffd} invalid utf8");
    assert_eq!(lines[2]["tags"][0], "_parse_failure");
    assert_eq!(lines[3]["log"]["message"], "b");
}

#[test]
fn sigterm_with_stdin_still_open_flushes_and_exits_zero() {
    use std::io::Write;
    use std::process::Stdio;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let p = pipeline(&format!(
        "api: {{ listen: '127.0.0.1:{port}' }}\ninputs:\n  in: {{ type: stdin }}\n\
         outputs:\n  o: {{ type: file, path: '{}' }}\n",
        out.display()
    ));
    let mut child = weir()
        .arg("run")
        .arg(&p.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start weir");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"one\ntwo\n").expect("write stdin");
    stdin.flush().expect("flush stdin");
    wait_for_port(port);
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "events never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // stdin stays open (a terminal, a pipe from a live program): the signal
    // alone must end the run, without waiting for the blocked read.
    signal(&child, "TERM");
    let status = wait_exit(&mut child, std::time::Duration::from_secs(30));
    drop(stdin);
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&out).expect("output");
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn file_input_to_file_output_with_strftime_path() {
    let p = pipeline("");
    let src = p.dir.path().join("in-1.log");
    std::fs::write(&src, "one\ntwo\r\nthree").expect("write");
    std::fs::write(p.dir.path().join("in-2.log"), "four\n").expect("write");
    let out_dir = p.dir.path().join("out");
    let port = free_port();
    std::fs::write(
        &p.path,
        format!(
            "api: {{ listen: '127.0.0.1:{port}' }}\ninputs:\n  logs: {{ type: file, paths: ['{}/in-*.log'] }}\n\
             outputs:\n  archive: {{ type: file, path: '{}/%Y/events.ndjson' }}\n",
            p.dir.path().display(),
            out_dir.display()
        ),
    )
    .expect("write pipeline");
    let (status, _, err) = run_to_end(&p.path, b"");
    assert!(status.success(), "{err}");
    let mut written = Vec::new();
    for year in std::fs::read_dir(&out_dir).expect("out dir") {
        for f in std::fs::read_dir(year.expect("entry").path()).expect("year dir") {
            written.push(std::fs::read_to_string(f.expect("entry").path()).expect("read"));
        }
    }
    let all: Vec<serde_json::Value> = written
        .iter()
        .flat_map(|t| {
            t.lines()
                .map(|l| serde_json::from_str(l).expect(l))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut messages: Vec<String> = all
        .iter()
        .map(|v| v["message"].as_str().unwrap_or("").to_owned())
        .collect();
    messages.sort();
    assert_eq!(messages, ["four", "one", "three", "two"]);
    assert!(all.iter().all(|v| v["log"]["file"]["path"]
        .as_str()
        .is_some_and(|p| p.ends_with(".log"))));
}

#[test]
fn version_flag() {
    let out = weir().arg("--version").output().expect("run weir");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("weir "));
}

#[test]
fn when_guards_route_filters_and_outputs() {
    let p = pipeline("");
    let errors = p.dir.path().join("errors.ndjson");
    let port = free_port();
    std::fs::write(
        &p.path,
        format!(
            "api: {{ listen: '127.0.0.1:{port}' }}\ninputs:\n  in: {{ type: stdin, format: json }}\n\
             filters:\n  - drop: {{ when: '{{ $.level = \"debug\" }}' }}\n\
             \x20 - set: {{ field: alert, value: true, when: '{{ $.status >= 500 }}' }}\n\
             outputs:\n  errors: {{ type: file, path: '{}', when: '{{ $.level = \"error\" }}' }}\n  all: {{ type: stdout }}\n",
            errors.display()
        ),
    )
    .expect("write pipeline");
    let input = b"{\"level\":\"debug\",\"status\":200}\n{\"level\":\"error\",\"status\":503}\n{\"level\":\"info\",\"status\":200}\n";
    let (status, out, err) = run_to_end(&p.path, input);
    assert!(status.success(), "{err}");
    let all: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert_eq!(all.len(), 2, "debug dropped: {out}");
    // Found by status: with several workers, batches may reach the output
    // in any order.
    let by_status = |code: u64| {
        all.iter()
            .find(|e| e["status"] == code)
            .unwrap_or_else(|| panic!("no status {code}: {out}"))
    };
    assert_eq!(by_status(503)["alert"], true);
    assert!(by_status(200).get("alert").is_none());
    let routed = std::fs::read_to_string(&errors).expect("errors file");
    assert_eq!(routed.lines().count(), 1, "{routed}");
    assert!(routed.contains("\"status\":503"));
}

#[test]
fn bad_when_pattern_fails_validation_with_its_column() {
    let p = pipeline("inputs:\n  in: { type: stdin }\nfilters:\n  - drop: { when: '[ip, user' }\noutputs:\n  o: { type: stdout }\n");
    let err = validate_errors(&p.path);
    assert!(
        err.contains(":4:19:") && err.contains("invalid `when` pattern"),
        "{err}"
    );
    assert!(
        err.contains("`]` to close the space-delimited pattern"),
        "{err}"
    );
}

#[test]
fn weir_test_reports_failing_expectations() {
    let p = pipeline("inputs:\n  in: { type: stdin, format: json }\nfilters:\n  - drop: { when: '{ $.level = \"debug\" }' }\noutputs:\n  o: { type: stdout }\n");
    std::fs::write(
        p.dir.path().join("test.test.yaml"),
        "tests:\n  - name: good\n    input: '{\"a\":1}'\n    expect: { a: 1 }\n\
         \x20 - name: wrong value\n    input: '{\"a\":1}'\n    expect: { a: 2 }\n\
         \x20 - name: debug dropped\n    input: '{\"level\":\"debug\"}'\n    dropped: true\n",
    )
    .expect("write tests");
    let out = weir().arg("test").arg(&p.path).output().expect("run weir");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ok    ")
            && text.contains("FAIL  ")
            && text.contains("`a`: expected 2, got 1"),
        "{text}"
    );
    assert!(text.contains("2 passed, 1 failed"), "{text}");
}

/// S3 access and VPC flow records are kept flat until a filter needs their
/// fields: from the CLI, the document written must be the same either way —
/// merged over fields set before the parse, under a `target`, and changed
/// by a filter after it.
#[test]
fn aws_records_merge_with_fields_set_around_the_parse() {
    const S3: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg.pdf "PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "S3Console/0.4" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#;
    const VPC: &str =
        "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1718000000 1718000060 REJECT OK";
    // The line weir writes, as written.
    let run_raw = |filters: &str, line: &str| -> String {
        let p = pipeline(&format!(
            "inputs:\n  in: {{ type: stdin }}\nfilters:\n{filters}outputs:\n  o: {{ type: stdout }}\n"
        ));
        let (status, out, err) = run_to_end(&p.path, format!("{line}\n").as_bytes());
        assert!(status.success(), "{err}");
        out.trim().to_owned()
    };
    let run = |filters: &str, line: &str| -> serde_json::Value {
        let out = run_raw(filters, line);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let before = "  - set: { field: aws.s3.bucket.name, value: logs }\n  - set: { field: cloud.account.id, value: '111' }\n";

    // Written straight from the record, merged over the fields set before.
    let e = run(&format!("{before}  - parse: {{ format: s3_access }}\n"), S3);
    assert_eq!(e["aws"]["s3"]["bucket"]["name"], "logs", "{e}");
    assert_eq!(e["aws"]["s3access"]["bucket"], "awsexamplebucket1", "{e}");
    assert_eq!(e["cloud"]["account"]["id"], "111", "{e}");
    assert_eq!(e["cloud"]["region"], "us-west-1", "{e}");
    assert_eq!(e["http"]["response"]["body"]["bytes"], 0, "{e}");
    assert_eq!(e["url"]["extension"], "pdf", "{e}");
    assert_eq!(e["@timestamp"], "2019-02-06T00:01:57.000Z", "{e}");
    assert!(e.get("message").is_none(), "{e}");
    // The objects both sides have are merged, not written twice (serde_json
    // would keep only the last of two same-named keys).
    let raw = run_raw(&format!("{before}  - parse: {{ format: s3_access }}\n"), S3);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&raw).ok(),
        Some(e.clone())
    );
    assert_eq!(raw.matches("\"aws\":").count(), 1, "{raw}");
    assert_eq!(raw.matches("\"cloud\":").count(), 1, "{raw}");

    // A filter after the parse changes the document: the same fields, plus
    // its own, and a removed one gone.
    let changed = run(
        &format!(
            "{before}  - parse: {{ format: s3_access }}\n  - set: {{ field: http.response.status_code, value: 299 }}\n  - remove: {{ fields: [related] }}\n"
        ),
        S3,
    );
    assert_eq!(changed["http"]["response"]["status_code"], 299, "{changed}");
    assert!(changed.get("related").is_none(), "{changed}");
    let mut expected = e.clone();
    expected["http"]["response"]["status_code"] = 299.into();
    if let Some(o) = expected.as_object_mut() {
        o.remove("related");
    }
    assert_eq!(changed, expected);

    // Under a target, next to the raw message.
    let t = run("  - parse: { format: s3_access, target: s3 }\n", S3);
    assert_eq!(t["s3"]["aws"]["s3access"]["key"], "s3-dg.pdf", "{t}");
    assert_eq!(t["message"], S3, "{t}");

    // VPC flow, ECS mode, read by a condition after the parse.
    let v = run(
        &format!(
            "{before}  - parse: {{ format: vpc_flow, mode: ecs }}\n  - set: {{ field: blocked, value: true, when: '{{ $.event.outcome = \"failure\" }}' }}\n"
        ),
        VPC,
    );
    assert_eq!(v["blocked"], true, "{v}");
    assert_eq!(v["cloud"]["account"]["id"], "123456789012", "{v}");
    assert_eq!(v["aws"]["s3"]["bucket"]["name"], "logs", "{v}");
    assert_eq!(v["aws"]["vpcflow"]["interface_id"], "eni-1", "{v}");
    assert!(v["aws"]["vpcflow"].get("srcaddr").is_none(), "{v}");
    assert_eq!(v["source"]["ip"], "10.0.0.1", "{v}");
    assert_eq!(v["network"]["transport"], "tcp", "{v}");
    assert_eq!(
        v["event"]["type"],
        serde_json::json!(["connection", "denied"]),
        "{v}"
    );
}
