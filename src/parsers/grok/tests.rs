//! Tests of the grok parser as a whole: the shipped library against real
//! log lines, options, ordering, typed captures and every error message.

use bytes::Bytes;
use proptest::prelude::*;

use super::compile::{build_regex, expand};
use super::library::Definitions;
use super::*;
use crate::config::yaml::parse as parse_yaml;
use crate::config::Loc;
use crate::event::{Fields, Path, Value};

fn parser(patterns: &[&str]) -> GrokParser {
    GrokParser::with_patterns(patterns).unwrap_or_else(|e| panic!("{e}"))
}

/// The fields `patterns` capture from `line`; panics when nothing matches.
fn grok(patterns: &[&str], line: &str) -> Fields {
    let input = Bytes::copy_from_slice(line.as_bytes());
    match parser(patterns).match_fields(&input) {
        Some((_, fields)) => fields,
        None => panic!("no match for {patterns:?} on {line:?}"),
    }
}

fn at<'a>(fields: &'a Fields, path: &str) -> Option<&'a Value> {
    fields.get_path(&Path::parse(path).unwrap())
}

/// Asserts string fields, `(path, text)`.
fn assert_strs(fields: &Fields, expected: &[(&str, &str)]) {
    for (path, text) in expected {
        assert_eq!(
            at(fields, path),
            Some(&Value::from(*text)),
            "{path} in {fields:?}"
        );
    }
}

fn assert_ints(fields: &Fields, expected: &[(&str, i64)]) {
    for (path, n) in expected {
        assert_eq!(
            at(fields, path),
            Some(&Value::Int(*n)),
            "{path} in {fields:?}"
        );
    }
}

fn assert_absent(fields: &Fields, paths: &[&str]) {
    for path in paths {
        assert_eq!(
            at(fields, path),
            None,
            "{path} should be absent in {fields:?}"
        );
    }
}

fn yaml_parser(text: &str) -> Result<GrokParser, DeError> {
    let node = parse_yaml(text).unwrap();
    GrokParser::from_node(&node)
}

// ---------------------------------------------------------------- library

#[test]
fn every_library_pattern_compiles_alone_with_only_named_groups() {
    let lib = Definitions::library();
    let mut names: Vec<&str> = lib.names().collect();
    names.sort_unstable();
    assert!(names.len() > 80, "{}", names.len());
    for name in names {
        let expansion =
            expand(&format!("%{{{name}}}"), lib).unwrap_or_else(|e| panic!("{name}: {e}"));
        let regex = build_regex(&expansion.regex).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (i, group) in regex.capture_names().enumerate().skip(1) {
            assert!(
                group.is_some(),
                "{name}: group {i} is unnamed: {}",
                expansion.regex
            );
        }
    }
}

#[test]
fn base_patterns() {
    let cases: &[(&str, &str, &str)] = &[
        ("INT", "-42", "-42"),
        ("NUMBER", "3.25", "3.25"),
        ("BASE16NUM", "0xDEADbeef", "0xDEADbeef"),
        ("WORD", "hello", "hello"),
        ("NOTSPACE", "a/b?c=d", "a/b?c=d"),
        ("QS", r#""say \"hi\"""#, r#""say \"hi\"""#),
        ("QUOTEDSTRING", "'single'", "'single'"),
        (
            "UUID",
            "123e4567-e89b-12d3-a456-426614174000",
            "123e4567-e89b-12d3-a456-426614174000",
        ),
        ("IPV4", "192.168.10.255", "192.168.10.255"),
        ("IPV6", "2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"),
        ("IPV6", "::1", "::1"),
        ("IPV6", "fe80::1%eth0", "fe80::1%eth0"),
        ("IPV6", "::ffff:10.0.0.1", "::ffff:10.0.0.1"),
        (
            "IPV6",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        ),
        ("IP", "10.1.2.3", "10.1.2.3"),
        (
            "HOSTNAME",
            "ip-10-0-0-1.eu-west-1.compute.internal",
            "ip-10-0-0-1.eu-west-1.compute.internal",
        ),
        ("IPORHOST", "example.com", "example.com"),
        ("HOSTPORT", "db.local:5432", "db.local:5432"),
        (
            "EMAILADDRESS",
            "ops+alerts@example.org",
            "ops+alerts@example.org",
        ),
        ("MAC", "00:1A:2b:3c:4D:5e", "00:1A:2b:3c:4D:5e"),
        ("MAC", "001a.2b3c.4d5e", "001a.2b3c.4d5e"),
        (
            "UNIXPATH",
            "/var/log/nginx/access.log",
            "/var/log/nginx/access.log",
        ),
        ("WINPATH", r"C:\Windows\System32", r"C:\Windows\System32"),
        (
            "URIPATHPARAM",
            "/search?q=rust&page=2",
            "/search?q=rust&page=2",
        ),
        (
            "URI",
            "https://user@example.com:8443/a/b?c=1#frag",
            "https://user@example.com:8443/a/b?c=1#frag",
        ),
        (
            "URI",
            "http://[2001:db8::1]:8080/x",
            "http://[2001:db8::1]:8080/x",
        ),
        (
            "TIMESTAMP_ISO8601",
            "2024-03-07T09:12:01.123456Z",
            "2024-03-07T09:12:01.123456Z",
        ),
        (
            "TIMESTAMP_ISO8601",
            "2024-03-07 09:12:01,5+01:00",
            "2024-03-07 09:12:01,5+01:00",
        ),
        (
            "HTTPDATE",
            "06/Feb/2019:00:00:38 +0000",
            "06/Feb/2019:00:00:38 +0000",
        ),
        ("SYSLOGTIMESTAMP", "Mar  7 09:12:01", "Mar  7 09:12:01"),
        (
            "DATESTAMP_RFC2822",
            "Thu, 07 Mar 2024 09:12:01 +0000",
            "Thu, 07 Mar 2024 09:12:01 +0000",
        ),
        ("DATESTAMP", "03/07/2024 09:12:01", "03/07/2024 09:12:01"),
        ("LOGLEVEL", "WARNING", "WARNING"),
        ("LOGLEVEL", "Error", "Error"),
    ];
    for (name, line, want) in cases {
        let fields = grok(&[&format!("^%{{{name}:v}}$")], line);
        assert_strs(&fields, &[("v", want)]);
    }
    for (name, line) in [
        ("IPV4", "256.1.1.1"),
        ("IPV4", "1.2.3"),
        ("INT", "4x"),
        ("UUID", "123e4567-e89b-12d3-a456"),
        ("IPV6", "1:2:3"),
    ] {
        let p = parser(&[&format!("^%{{{name}}}$")]);
        assert!(
            p.match_fields(&Bytes::copy_from_slice(line.as_bytes()))
                .is_none(),
            "{name} matched {line}"
        );
    }
}

#[test]
fn apache_combined() {
    let line = r#"192.0.2.10 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let f = grok(&["%{COMBINEDAPACHELOG}"], line);
    assert_strs(
        &f,
        &[
            ("source.address", "192.0.2.10"),
            ("user.name", "frank"),
            ("timestamp", "10/Oct/2000:13:55:36 -0700"),
            ("http.request.method", "GET"),
            ("url.original", "/apache_pb.gif?x=1"),
            ("http.version", "1.0"),
            ("http.request.referrer", "http://www.example.com/start.html"),
            ("user_agent.original", "Mozilla/4.08 [en] (Win98; I ;Nav)"),
        ],
    );
    assert_ints(
        &f,
        &[
            ("http.response.status_code", 200),
            ("http.response.body.bytes", 2326),
        ],
    );
    assert_absent(&f, &["apache.access.user.identity"]);
}

#[test]
fn apache_common_with_dashes_escapes_and_bad_requests() {
    let f = grok(
        &["^%{COMMONAPACHELOG}$"],
        r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 304 -"#,
    );
    assert_ints(&f, &[("http.response.status_code", 304)]);
    assert_absent(&f, &["http.response.body.bytes", "user.name"]);

    // An escaped quote inside the user agent does not end the field.
    let line = r#"2001:db8::7 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "-" "agent \"quoted\" v1""#;
    let f = grok(&["^%{COMBINEDAPACHELOG}$"], line);
    assert_strs(
        &f,
        &[
            ("source.address", "2001:db8::7"),
            ("user_agent.original", r#"agent \"quoted\" v1"#),
        ],
    );
    assert_absent(&f, &["http.request.referrer"]);

    // A request line that is not HTTP still parses, without request fields.
    let line =
        r#"198.51.100.3 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x00" 400 226 "-" "-""#;
    let f = grok(&["^%{COMBINEDAPACHELOG}$"], line);
    assert_ints(&f, &[("http.response.status_code", 400)]);
    assert_absent(
        &f,
        &["http.request.method", "url.original", "user_agent.original"],
    );
}

#[test]
fn apache_error_log() {
    let line = "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 192.0.2.1:54321] File does not exist: /usr/local/apache2/htdocs/favicon.ico";
    let f = grok(&["^%{HTTPD24_ERRORLOG}$"], line);
    assert_strs(
        &f,
        &[
            ("timestamp", "Wed Oct 11 14:32:52.123456 2000"),
            ("apache.error.module", "core"),
            ("log.level", "error"),
            ("source.address", "192.0.2.1"),
            (
                "message",
                "File does not exist: /usr/local/apache2/htdocs/favicon.ico",
            ),
        ],
    );
    assert_ints(
        &f,
        &[
            ("process.pid", 35708),
            ("process.thread.id", 4328636416),
            ("source.port", 54321),
        ],
    );
}

#[test]
fn nginx_access_and_error() {
    let line = r#"203.0.113.7 - alice [07/Mar/2024:09:12:01 +0000] "POST /api/v1/items HTTP/2.0" 201 512 "https://app.example.com/" "curl/8.5.0" "198.51.100.1, 10.0.0.2""#;
    let f = grok(&["^%{NGINX_ACCESS}$"], line);
    assert_strs(
        &f,
        &[
            ("source.address", "203.0.113.7"),
            ("user.name", "alice"),
            ("http.request.method", "POST"),
            ("url.original", "/api/v1/items"),
            ("http.version", "2.0"),
            ("http.request.referrer", "https://app.example.com/"),
            ("user_agent.original", "curl/8.5.0"),
            ("nginx.access.remote_ip_list", "198.51.100.1, 10.0.0.2"),
        ],
    );
    assert_ints(
        &f,
        &[
            ("http.response.status_code", 201),
            ("http.response.body.bytes", 512),
        ],
    );
    // Without the forwarded-for field (plain `combined`).
    let line = r#"203.0.113.7 - - [07/Mar/2024:09:12:01 +0000] "GET / HTTP/1.1" 200 0 "-" "-""#;
    let f = grok(&["^%{NGINXACCESS}$"], line);
    assert_ints(&f, &[("http.response.body.bytes", 0)]);
    assert_absent(&f, &["nginx.access.remote_ip_list", "user.name"]);

    let line = r#"2024/03/07 09:12:01 [error] 1234#5678: *9 open() "/srv/x" failed (2: No such file or directory), client: 192.0.2.1"#;
    let f = grok(&["^%{NGINX_ERRORLOG}$"], line);
    assert_strs(
        &f,
        &[("timestamp", "2024/03/07 09:12:01"), ("log.level", "error")],
    );
    assert_ints(
        &f,
        &[
            ("process.pid", 1234),
            ("process.thread.id", 5678),
            ("nginx.error.connection_id", 9),
        ],
    );
    assert!(at(&f, "message")
        .unwrap()
        .as_str()
        .unwrap()
        .starts_with("open() "));
}

#[test]
fn syslog_lines() {
    let f = grok(&["^%{SYSLOGLINE}$"], "Mar  7 09:12:01 web-01 sshd[4242]: Accepted publickey for deploy from 192.0.2.9 port 51234 ssh2");
    assert_strs(
        &f,
        &[
            ("timestamp", "Mar  7 09:12:01"),
            ("host.hostname", "web-01"),
            ("process.name", "sshd"),
            (
                "message",
                "Accepted publickey for deploy from 192.0.2.9 port 51234 ssh2",
            ),
        ],
    );
    assert_ints(&f, &[("process.pid", 4242)]);

    let f = grok(
        &["^%{SYSLOGLINE}$"],
        "Mar 17 23:59:60 10.0.0.5 kernel: [12345.678] eth0: link up",
    );
    assert_strs(
        &f,
        &[
            ("host.hostname", "10.0.0.5"),
            ("process.name", "kernel"),
            ("message", "[12345.678] eth0: link up"),
        ],
    );
    assert_absent(&f, &["process.pid"]);

    let f = grok(
        &["^%{SYSLOGLINE}$"],
        "Mar  7 09:12:01 <13.5> host app/worker-1: hi",
    );
    assert_ints(
        &f,
        &[("log.syslog.facility.code", 13), ("log.syslog.priority", 5)],
    );
    assert_strs(&f, &[("process.name", "app/worker-1"), ("message", "hi")]);
}

#[test]
fn syslog_rfc5424() {
    let f = grok(&["^%{SYSLOG5424LINE}$"], "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8");
    assert_ints(&f, &[("log.syslog.priority", 34)]);
    assert_strs(
        &f,
        &[
            ("log.syslog.version", "1"),
            ("timestamp", "2003-10-11T22:14:15.003Z"),
            ("host.hostname", "mymachine.example.com"),
            ("log.syslog.appname", "su"),
            ("log.syslog.msgid", "ID47"),
            ("message", "'su root' failed for lonvick on /dev/pts/8"),
        ],
    );
    assert_absent(&f, &["log.syslog.procid", "log.syslog.structured_data"]);

    let line = r#"<165>1 2003-10-11T22:14:15.003Z host evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="App] x"][meta seq="1"] An event"#;
    let f = grok(&["^%{SYSLOG5424LINE}$"], line);
    assert_strs(
        &f,
        &[
            ("log.syslog.procid", "8710"),
            (
                "log.syslog.structured_data",
                r#"[exampleSDID@32473 iut="3" eventSource="App] x"][meta seq="1"]"#,
            ),
            ("message", "An event"),
        ],
    );
}

const ELB_LINES: &[&str] = &[
    r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -"#,
    r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.38.0" DHE-RSA-AES128-SHA TLSv1.2"#,
    r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.001069 0.000028 0.000041 - - 82 305 "- - - " "-" - -"#,
    r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 - -1 -1 -1 503 0 0 0 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -"#,
];

#[test]
fn elb_classic() {
    let f = grok(&["^%{ELB_ACCESS_LOG}$"], ELB_LINES[0]);
    assert_strs(
        &f,
        &[
            ("timestamp", "2015-05-13T23:39:43.945958Z"),
            ("aws.elb.name", "my-loadbalancer"),
            ("source.ip", "192.168.131.39"),
            ("aws.elb.backend.ip", "10.0.0.1"),
            ("http.request.method", "GET"),
            ("url.original", "http://www.example.com:80/"),
            ("http.version", "1.1"),
            ("user_agent.original", "curl/7.38.0"),
        ],
    );
    assert_ints(
        &f,
        &[
            ("source.port", 2817),
            ("aws.elb.backend.port", 80),
            ("http.response.status_code", 200),
            ("aws.elb.backend.http.response.status_code", 200),
            ("http.request.body.bytes", 0),
            ("http.response.body.bytes", 29),
        ],
    );
    assert_eq!(
        at(&f, "aws.elb.request_processing_time.sec"),
        Some(&Value::Float(0.000073))
    );
    assert_eq!(
        at(&f, "aws.elb.response_processing_time.sec"),
        Some(&Value::Float(0.000057))
    );
    assert_absent(&f, &["aws.elb.ssl_cipher", "aws.elb.ssl_protocol"]);

    let f = grok(&["^%{ELB_ACCESS_LOG}$"], ELB_LINES[1]);
    assert_strs(
        &f,
        &[
            ("aws.elb.ssl_cipher", "DHE-RSA-AES128-SHA"),
            ("aws.elb.ssl_protocol", "TLSv1.2"),
        ],
    );

    // TCP listener: no HTTP fields.
    let f = grok(&["^%{ELB_ACCESS_LOG}$"], ELB_LINES[2]);
    assert_absent(
        &f,
        &[
            "http.request.method",
            "http.response.status_code",
            "user_agent.original",
        ],
    );
    assert_ints(&f, &[("http.request.body.bytes", 82)]);

    // No backend: `-` and `-1` leave the fields out.
    let f = grok(&["^%{ELB_ACCESS_LOG}$"], ELB_LINES[3]);
    assert_absent(
        &f,
        &["aws.elb.backend.ip", "aws.elb.request_processing_time.sec"],
    );
    assert_ints(
        &f,
        &[
            ("http.response.status_code", 503),
            ("aws.elb.backend.http.response.status_code", 0),
        ],
    );
}

const ALB_LINES: &[&str] = &[
    r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90"#,
    r#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90"#,
    r#"h2 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 10.0.1.252:48160 10.0.0.66:9000 0.000 0.002 0.000 200 200 5 257 "GET https://10.0.2.105:773/ HTTP/2.0" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337327-72bd00b0343d75b906739c42" "-" "-" 1 2018-07-02T22:22:48.364000Z "redirect" "https://example.com:80/" "-" "10.0.0.66:9000" "200" "-" "-""#,
    r#"http 2018-11-30T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - 0.000 0.001 0.000 502 - 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - - "Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2018-11-30T22:22:48.364000Z "forward" "-" "LambdaInvalidResponse" "-" "-" "-" "-" -"#,
    // An older line, ending after the trace id.
    r#"https 2016-08-10T23:39:43.065466Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354""#,
];

#[test]
fn alb() {
    let f = grok(&["^%{ALB_ACCESS_LOG}$"], ALB_LINES[0]);
    assert_strs(&f, &[
        ("aws.elb.type", "http"),
        ("timestamp", "2018-07-02T22:23:00.186641Z"),
        ("aws.elb.name", "app/my-loadbalancer/50dc6c495c0c9188"),
        ("source.ip", "192.168.131.39"),
        ("aws.elb.backend.ip", "10.0.0.1"),
        ("url.original", "http://www.example.com:80/"),
        ("aws.elb.target_group.arn", "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067"),
        ("aws.elb.trace_id", "Root=1-58337262-36d228ad5d99923122bbe354"),
        ("aws.elb.request_creation_time", "2018-07-02T22:22:48.364000Z"),
        ("aws.elb.action_executed", "forward"),
        ("aws.elb.target_port", "10.0.0.1:80"),
        ("aws.elb.target_status_code", "200"),
        ("aws.elb.connection_trace_id", "TID_1234abcd5678ef90"),
    ]);
    assert_ints(
        &f,
        &[
            ("source.port", 2817),
            ("http.response.status_code", 200),
            ("http.request.body.bytes", 34),
            ("http.response.body.bytes", 366),
            ("aws.elb.matched_rule_priority", 0),
        ],
    );
    assert_eq!(
        at(&f, "aws.elb.backend_processing_time.sec"),
        Some(&Value::Float(0.001))
    );
    assert_absent(
        &f,
        &[
            "url.domain",
            "aws.elb.chosen_cert.arn",
            "aws.elb.ssl_cipher",
            "aws.elb.redirect_url",
            "aws.elb.classification",
        ],
    );

    let f = grok(&["^%{ALB_ACCESS_LOG}$"], ALB_LINES[1]);
    assert_strs(&f, &[
        ("url.domain", "www.example.com"),
        ("aws.elb.chosen_cert.arn", "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012"),
        ("aws.elb.action_executed", "authenticate,forward"),
        ("aws.elb.ssl_protocol", "TLSv1.2"),
    ]);

    let f = grok(&["^%{ALB_ACCESS_LOG}$"], ALB_LINES[2]);
    assert_strs(
        &f,
        &[
            ("aws.elb.type", "h2"),
            ("aws.elb.redirect_url", "https://example.com:80/"),
            ("http.version", "2.0"),
        ],
    );
    assert_absent(&f, &["aws.elb.connection_trace_id"]);

    let f = grok(&["^%{ALB_ACCESS_LOG}$"], ALB_LINES[3]);
    assert_strs(&f, &[("aws.elb.error.reason", "LambdaInvalidResponse")]);
    assert_absent(
        &f,
        &[
            "aws.elb.backend.ip",
            "aws.elb.backend.http.response.status_code",
            "aws.elb.target_group.arn",
        ],
    );

    let f = grok(&["^%{ALB_ACCESS_LOG}$"], ALB_LINES[4]);
    assert_strs(
        &f,
        &[(
            "aws.elb.trace_id",
            "Root=1-58337262-36d228ad5d99923122bbe354",
        )],
    );
    assert_absent(&f, &["aws.elb.request_creation_time"]);
}

/// Samples (1), (3), (4) and (5) of the S3 access log format reference.
const S3_LINES: &[&str] = &[
    r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"#,
    r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be A1206F460EXAMPLE REST.GET.BUCKETPOLICY - "GET /awsexamplebucket1?policy HTTP/1.1" 404 NoSuchBucketPolicy 297 - 38 - "-" "S3Console/0.4" - BNaBsXZQQDbssi6xMBdBU2sLt+Yf5kZDmeBUP35sFoKa3sLLeMC78iwEIWxs99CRUrbS4n11234= SigV2 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#,
    r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg.pdf "PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "S3Console/0.4" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#,
    r#"36c1f05b76016b78528454e6e0c60e2b7ff7aa20c0a5e4c748276e5b0a2debd2 jsoriano-s3-test [10/Sep/2019:15:11:07 +0000] 89.160.20.156 arn:aws:iam::123456:user/test@elastic.co 8CD7A4A71E2E5C9E BATCH.DELETE.OBJECT jolokia-war-1.5.0.war - 204 - - 344017 - - - - - IeDW5I3wefFxU8iHOcAzi5qr+O+1bdRlcQ0AO2WGjFh7JwYM6qCoKq+1TrUshrXMlBxPFtg97Vk= SigV4 ECDHE-RSA-AES128-SHA AuthHeader s3.eu-central-1.amazonaws.com TLSv1.2"#,
];

#[test]
fn s3_access() {
    let f = grok(&["^%{S3_ACCESS_LOG}$"], S3_LINES[0]);
    assert_strs(
        &f,
        &[
            (
                "aws.s3access.bucket_owner",
                "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
            ),
            ("aws.s3access.bucket", "amzn-s3-demo-bucket1"),
            ("timestamp", "06/Feb/2019:00:00:38 +0000"),
            ("aws.s3access.remote_ip", "192.0.2.3"),
            (
                "aws.s3access.requester",
                "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
            ),
            ("aws.s3access.request_id", "3E57427F3EXAMPLE"),
            ("aws.s3access.operation", "REST.GET.VERSIONING"),
            (
                "aws.s3access.request_uri",
                "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1",
            ),
            ("aws.s3access.user_agent", "S3Console/0.4"),
            (
                "aws.s3access.host_id",
                "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=",
            ),
            ("aws.s3access.signature_version", "SigV4"),
            ("aws.s3access.cipher_suite", "ECDHE-RSA-AES128-GCM-SHA256"),
            ("aws.s3access.authentication_type", "AuthHeader"),
            (
                "aws.s3access.host_header",
                "amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com",
            ),
            ("aws.s3access.tls_version", "TLSV1.2"),
            (
                "aws.s3access.access_point_arn",
                "arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP",
            ),
            ("aws.s3access.acl_required", "Yes"),
            ("aws.s3access.source_region", "us-east-1"),
        ],
    );
    assert_ints(
        &f,
        &[
            ("aws.s3access.http_status", 200),
            ("aws.s3access.bytes_sent", 113),
            ("aws.s3access.total_time", 7),
        ],
    );
    assert_absent(
        &f,
        &[
            "aws.s3access.key",
            "aws.s3access.error_code",
            "aws.s3access.object_size",
            "aws.s3access.turn_around_time",
            "aws.s3access.referrer",
            "aws.s3access.version_id",
        ],
    );

    let f = grok(&["^%{S3_ACCESS_LOG}$"], S3_LINES[1]);
    assert_strs(
        &f,
        &[
            ("aws.s3access.error_code", "NoSuchBucketPolicy"),
            ("aws.s3access.tls_version", "TLSV1.1"),
        ],
    );
    assert_ints(&f, &[("aws.s3access.http_status", 404)]);
    assert_absent(
        &f,
        &[
            "aws.s3access.access_point_arn",
            "aws.s3access.source_region",
        ],
    );

    let f = grok(&["^%{S3_ACCESS_LOG}$"], S3_LINES[2]);
    assert_strs(&f, &[("aws.s3access.key", "s3-dg.pdf")]);
    assert_ints(
        &f,
        &[
            ("aws.s3access.object_size", 4406583),
            ("aws.s3access.total_time", 41754),
            ("aws.s3access.turn_around_time", 28),
        ],
    );
    assert_absent(&f, &["aws.s3access.bytes_sent"]);

    // Bare `-` for the quoted fields; an IAM ARN requester.
    let f = grok(&["^%{S3_ACCESS_LOG}$"], S3_LINES[3]);
    assert_strs(
        &f,
        &[
            (
                "aws.s3access.requester",
                "arn:aws:iam::123456:user/test@elastic.co",
            ),
            ("aws.s3access.operation", "BATCH.DELETE.OBJECT"),
            ("aws.s3access.key", "jolokia-war-1.5.0.war"),
            ("aws.s3access.tls_version", "TLSv1.2"),
        ],
    );
    assert_ints(
        &f,
        &[
            ("aws.s3access.http_status", 204),
            ("aws.s3access.object_size", 344017),
        ],
    );
    assert_absent(
        &f,
        &[
            "aws.s3access.request_uri",
            "aws.s3access.user_agent",
            "aws.s3access.referrer",
            "aws.s3access.total_time",
        ],
    );

    // Future trailing fields are accepted.
    let longer = format!("{} new-field another", S3_LINES[0]);
    let f = grok(&["^%{S3_ACCESS_LOG}(?: .*)?$"], &longer);
    assert_strs(&f, &[("aws.s3access.source_region", "us-east-1")]);
}

#[test]
fn captured_strings_are_slices_of_the_input() {
    let input = Bytes::copy_from_slice(S3_LINES[0].as_bytes());
    let (_, fields) = parser(&["%{S3_ACCESS_LOG}"]).match_fields(&input).unwrap();
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let s3 = at(&fields, "aws.s3access").unwrap().as_object().unwrap();
    assert!(s3.len() > 15);
    for (key, value) in s3.iter() {
        if let Value::Str(b) = value {
            assert!(range.contains(&(b.as_ptr() as usize)), "{key:?} was copied");
        }
    }
}

// ---------------------------------------------------------------- semantics

#[test]
fn first_matching_pattern_wins() {
    let p = parser(&["^%{INT:n:int}$", "^%{NOTSPACE:any}$", "^%{WORD:w}$"]);
    let m = |s: &'static str| p.match_fields(&Bytes::from_static(s.as_bytes()));
    let (i, f) = m("42").unwrap();
    assert_eq!(i, 0);
    assert_ints(&f, &[("n", 42)]);
    // `abc` matches patterns 2 and 3: the earlier one wins.
    let (i, f) = m("abc").unwrap();
    assert_eq!(i, 1);
    assert_strs(&f, &[("any", "abc")]);
    assert!(m("two words").is_none());

    // The same order without the prefiltering set.
    let lib = Definitions::library();
    let compiled: Vec<_> = ["^%{INT:n:int}$", "^%{NOTSPACE:any}$"]
        .iter()
        .map(|pat| {
            let e = expand(pat, lib).unwrap();
            let r = build_regex(&e.regex).unwrap();
            matcher::CompiledPattern::new(pat.to_string(), &e, r)
        })
        .collect();
    let plain = matcher::Matcher::new(compiled, false);
    assert_eq!(plain.find(&Bytes::from_static(b"7")).unwrap().0, 0);
    assert_eq!(plain.find(&Bytes::from_static(b"x")).unwrap().0, 1);
}

#[test]
fn types_and_fallbacks() {
    let f = grok(
        &[
            r"%{INT:i:int} %{NUMBER:f:float} %{NUMBER:l:long} %{NOTSPACE:d:double} %{WORD:b:boolean} %{NOTSPACE:s:string} %{NOTSPACE:bad:int}",
        ],
        "-17 2.5 3.9 1e3 TRUE x y",
    );
    assert_eq!(at(&f, "i"), Some(&Value::Int(-17)));
    assert_eq!(at(&f, "f"), Some(&Value::Float(2.5)));
    assert_eq!(at(&f, "l"), Some(&Value::Int(3)), "decimals truncate");
    assert_eq!(at(&f, "d"), Some(&Value::Float(1000.0)));
    assert_eq!(at(&f, "b"), Some(&Value::Bool(true)));
    assert_eq!(at(&f, "s"), Some(&Value::from("x")));
    assert_eq!(
        at(&f, "bad"),
        Some(&Value::from("y")),
        "unconvertible text is kept"
    );
}

#[test]
fn field_names_nest_and_repeat() {
    let f = grok(
        &[
            r"%{WORD:[source][user]} %{WORD:source.domain} (?<queue_id>[0-9A-F]+) %{WORD:tags} %{WORD:tags}",
        ],
        "alice corp 1A2B x y",
    );
    assert_strs(
        &f,
        &[
            ("source.user", "alice"),
            ("source.domain", "corp"),
            ("queue_id", "1A2B"),
        ],
    );
    assert_eq!(
        at(&f, "tags"),
        Some(&Value::Array(vec![Value::from("x"), Value::from("y")]))
    );
    // Alternatives capturing into the same field: only the one that matched.
    let f = grok(&[r"^(?:%{INT:v:int}|%{WORD:v})$"], "word");
    assert_eq!(at(&f, "v"), Some(&Value::from("word")));
}

#[test]
fn empty_captures_are_skipped_unless_kept() {
    let input = Bytes::from_static(b"a= b=2");
    let mut opts = GrokOptions {
        patterns: vec![r"a=%{DATA:a} b=%{INT:b:int}".into()],
        pattern_definitions: Default::default(),
        patterns_dir: vec![],
        library: true,
        keep_empty_captures: false,
    };
    let (_, f) = GrokParser::new(&opts)
        .unwrap()
        .match_fields(&input)
        .unwrap();
    assert_absent(&f, &["a"]);
    opts.keep_empty_captures = true;
    let (_, f) = GrokParser::new(&opts)
        .unwrap()
        .match_fields(&input)
        .unwrap();
    assert_eq!(at(&f, "a"), Some(&Value::from("")));
}

#[test]
fn parser_trait_reports_no_match() {
    let p = parser(&["^%{INT}$", "^%{IPV4}$"]);
    let ev = Event::from_text("x");
    let mut out = Vec::new();
    let e = p
        .parse(&Bytes::from_static(b"nope"), &ev, &mut out)
        .unwrap_err();
    assert_eq!(e.reason, "no pattern matched (tried 2 patterns)");
    let e = parser(&["^%{INT}$"])
        .parse(&Bytes::from_static(b"x"), &ev, &mut out)
        .unwrap_err();
    assert_eq!(e.reason, "no pattern matched (tried 1 pattern)");
    assert!(out.is_empty());
    p.parse(&Bytes::from_static(b"12"), &ev, &mut out).unwrap();
    assert_eq!(out.len(), 1);
}

#[test]
fn non_utf8_input_matches_bytewise() {
    let p = parser(&[r"^%{WORD:w} %{GREEDYDATA:rest}$"]);
    let (_, f) = p
        .match_fields(&Bytes::from_static(b"ok \xff\xfe tail"))
        .unwrap();
    assert_eq!(
        at(&f, "rest"),
        Some(&Value::Str(Bytes::from_static(b"\xff\xfe tail")))
    );
}

// ---------------------------------------------------------------- options and errors

#[test]
fn options_from_yaml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("extra"),
        "# mine\nTICKET [A-Z]+-\\d+\nOVERRIDE file\n",
    )
    .unwrap();
    let yaml = format!(
        "patterns: '%{{TICKET:ticket}} %{{OVERRIDE:o}} %{{QUEUE:q}}'\npatterns_dir: {}\npattern_definitions:\n  QUEUE: '[0-9A-F]{{4}}'\n  OVERRIDE: inline\n",
        dir.path().display()
    );
    let p = yaml_parser(&yaml).unwrap();
    let (_, f) = p
        .match_fields(&Bytes::from_static(b"OPS-12 inline BEEF"))
        .unwrap();
    assert_strs(&f, &[("ticket", "OPS-12"), ("o", "inline"), ("q", "BEEF")]);

    // Without the library, library names are unknown.
    let e = yaml_parser("patterns: ['%{WORD}']\nlibrary: false\n")
        .err()
        .unwrap();
    assert!(
        e.message.contains("unknown grok pattern `WORD`"),
        "{}",
        e.message
    );

    let e = yaml_parser("patterns: []\n").err().unwrap();
    assert!(e.message.contains("`patterns` is empty"), "{}", e.message);
    assert_eq!(
        e.loc,
        Some(Loc {
            line: 1,
            column: 11
        })
    );

    let e = yaml_parser("patern: ['%{WORD}']\n").err().unwrap();
    assert!(
        e.message.contains("unknown field `patern`"),
        "{}",
        e.message
    );

    let e = yaml_parser("library: true\n").err().unwrap();
    assert!(
        e.message.contains("missing field `patterns`"),
        "{}",
        e.message
    );

    let e = yaml_parser("patterns: ['%{WORD}']\npatterns_dir: /nonexistent/weir\n")
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("cannot read patterns_dir /nonexistent/weir"),
        "{}",
        e.message
    );
    assert_eq!(
        e.loc,
        Some(Loc {
            line: 2,
            column: 15
        })
    );
}

#[test]
fn errors_point_at_the_pattern() {
    let e = yaml_parser("patterns:\n  - '%{WORD:w}'\n  - '%{IPV5:ip} rest'\n")
        .err()
        .unwrap();
    assert_eq!(
        e.message,
        "in grok pattern `%{IPV5:ip} rest`: unknown grok pattern `IPV5`; did you mean `IPV4`?"
    );
    assert_eq!(e.loc, Some(Loc { line: 3, column: 5 }));

    let e = yaml_parser("patterns: ['%{WORD} [a-']\n").err().unwrap();
    assert!(
        e.message
            .starts_with("in grok pattern `%{WORD} [a-`: invalid regex: "),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("unclosed character class"),
        "{}",
        e.message
    );
    assert_eq!(
        e.loc,
        Some(Loc {
            line: 1,
            column: 12
        })
    );

    let e = yaml_parser("patterns: ['(?<=a)b']\n").err().unwrap();
    assert!(e.message.contains("look-around"), "{}", e.message);

    let e = yaml_parser("patterns: ['%{WORD:x:int2}']\n").err().unwrap();
    assert!(e.message.contains("unknown type `int2`"), "{}", e.message);
}

#[test]
fn errors_point_at_inline_definitions() {
    let yaml = "patterns: ['%{OUTER:o}']\npattern_definitions:\n  OUTER: 'x %{INNER}'\n  INNER: '%{NUMBR} [z-a]'\n";
    let e = yaml_parser(yaml).err().unwrap();
    assert_eq!(
        e.message,
        "in grok pattern `%{OUTER:o}`: unknown grok pattern `NUMBR`; did you mean `NUMBER`? \
         (in the definition of `INNER`, pattern_definitions; reached through %{OUTER} → %{INNER})"
    );
    assert_eq!(
        e.loc,
        Some(Loc {
            line: 4,
            column: 10
        })
    );

    let yaml = "patterns: ['%{OUTER:o}']\npattern_definitions:\n  OUTER: 'x %{INNER}'\n  INNER: '\\d+ [z-a]'\n";
    let e = yaml_parser(yaml).err().unwrap();
    assert!(e.message.contains("invalid regex"), "{}", e.message);
    assert!(
        e.message.contains("(in the definition of `INNER`"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("[z-a]"),
        "the small definition is quoted: {}",
        e.message
    );
    assert_eq!(
        e.loc,
        Some(Loc {
            line: 4,
            column: 10
        })
    );

    let yaml = "patterns: ['%{A}']\npattern_definitions:\n  A: '%{B}'\n  B: 'b %{A}'\n";
    let e = yaml_parser(yaml).err().unwrap();
    assert!(
        e.message
            .contains("recursive grok pattern definition: %{A} → %{B} → %{A}"),
        "{}",
        e.message
    );

    let e = yaml_parser("patterns: ['x']\npattern_definitions:\n  'BAD NAME': 'x'\n")
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("`BAD NAME` is not a valid grok pattern name"),
        "{}",
        e.message
    );
    assert_eq!(
        e.loc,
        Some(Loc {
            line: 3,
            column: 15
        })
    );
}

#[test]
fn errors_in_pattern_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.grok"), "GOOD \\d+\nBROKEN %{GOOD} (\n").unwrap();
    let yaml = format!(
        "patterns: ['%{{BROKEN}}']\npatterns_dir: [{}]\n",
        dir.path().display()
    );
    let e = yaml_parser(&yaml).err().unwrap();
    assert!(e.message.contains("invalid regex"), "{}", e.message);
    assert!(e.message.contains("p.grok:2"), "{}", e.message);
    assert_eq!(
        e.loc,
        Some(Loc {
            line: 1,
            column: 12
        })
    );
}

#[test]
fn registered_in_the_registry() {
    let node = parse_yaml("patterns: ['%{INT:n:int}']\n").unwrap();
    let p = crate::parsers::registry::build("grok", &node).unwrap();
    let mut out = Vec::new();
    p.parse(&Bytes::from_static(b"5"), &Event::from_text("5"), &mut out)
        .unwrap();
    assert_eq!(
        out[0].value.as_object().unwrap().get("n"),
        Some(&Value::Int(5))
    );
    assert!(crate::parsers::registry::FORMATS.contains(&"grok"));
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        thread_local! {
            static P: GrokParser = parser(&[
                "%{S3_ACCESS_LOG}", "%{ALB_ACCESS_LOG}", "%{ELB_ACCESS_LOG}",
                "%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}", "%{SYSLOG5424LINE}",
            ]);
        }
        P.with(|p| {
            let mut out = Vec::new();
            let _ = p.parse(&Bytes::from(bytes), &Event::from_text(""), &mut out);
        });
    }

    #[test]
    fn arbitrary_pattern_text_never_panics(text in r"([%{}:()<>?P\[\]\\^$.*+|=!a-zA-Z0-9_ -]|%\{[A-Z0-9_]{0,8}(:[a-z.\[\]]{0,6}(:[a-z]{0,6})?)?\}){0,24}") {
        let _ = GrokParser::with_patterns(&[text.as_str()]);
    }

    #[test]
    fn arbitrary_unicode_pattern_text_never_panics(text in "\\PC{0,40}") {
        let _ = GrokParser::with_patterns(&[text.as_str()]);
    }
}

// ---------------------------------------------------------------- segmented engine

fn compiled(pattern: &str) -> matcher::CompiledPattern {
    let lib = Definitions::library();
    let e = expand(pattern, lib).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let r = build_regex(&e.regex).unwrap();
    matcher::CompiledPattern::new(pattern.to_owned(), &e, r)
}

/// The segmented engine agrees with the full regex on `line`: when it
/// decides, its captures are the regex's (group 0 aside).
fn assert_engines_agree(p: &matcher::CompiledPattern, line: &[u8]) -> bool {
    let Some(seg) = p.segmented_spans(line) else {
        return false;
    };
    let full = p.regex_spans(line).unwrap_or_else(|| {
        panic!(
            "{}: segmented matched what the regex does not: {:?}",
            p.source,
            String::from_utf8_lossy(line)
        )
    });
    assert_eq!(
        seg[1..],
        full[1..],
        "{} on {:?}",
        p.source,
        String::from_utf8_lossy(line)
    );
    true
}

const SEGMENTED_CASES: &[(&str, &[&str])] = &[
    ("^%{S3_ACCESS_LOG}", S3_LINES),
    ("%{S3_ACCESS_LOG}", S3_LINES),
    ("^%{ELB_ACCESS_LOG}", ELB_LINES),
    ("^%{ALB_ACCESS_LOG}", ALB_LINES),
    ("^%{ALB_ACCESS_LOG}$", ALB_LINES),
    ("^%{COMBINEDAPACHELOG}", &[
        r#"192.0.2.10 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
        r#"2001:db8::7 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "-" "agent \"quoted\" v1""#,
        r#"198.51.100.3 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x00" 400 226 "-" "-""#,
    ]),
    ("^%{SYSLOGLINE}", &[
        "Mar  7 09:12:01 web-01 sshd[4242]: Accepted publickey for deploy from 192.0.2.9 port 51234 ssh2",
        "Mar 17 23:59:60 10.0.0.5 kernel: [12345.678] eth0: link up",
    ]),
];

#[test]
fn segmented_engine_agrees_with_the_regex_on_samples() {
    for (pattern, lines) in SEGMENTED_CASES {
        let p = compiled(pattern);
        assert!(p.is_segmented(), "{pattern} should be segmented");
        for line in *lines {
            assert!(
                assert_engines_agree(&p, line.as_bytes()),
                "{pattern}: segmented engine undecided on {line}"
            );
        }
    }
}

#[test]
fn segmented_engine_handles_ambiguity_by_deferring() {
    // `%{DATA}` before a space can end at several spaces: not forced, so
    // the chain stops and the regex decides the rest.
    for (pattern, line) in [
        (r"^%{DATA:a} %{WORD:b}$", "x y z"),
        (
            r"^%{WORD:a} (?:-|%{INT:n:int}) %{GREEDYDATA:rest}",
            "w -5 r e s t",
        ),
        (r"^%{WORD:a} (?:-|%{INT:n:int}) %{GREEDYDATA:rest}", "w - r"),
        (r"^(?<x>a|ab)(?<y>c|bcd)(?<z>d*)", "abcd"),
        (r"^%{NOTSPACE:a}(?: %{INT:b})?(?: %{WORD:c})?", "aa 12x"),
        (r"^%{NOTSPACE:a}(?: %{INT:b})?(?: %{WORD:c})?", "aa -"),
        (r"%{WORD:w}\b: %{INT:i}", "..abc: 12"),
    ] {
        let p = compiled(pattern);
        assert_engines_agree(&p, line.as_bytes());
        let parser = parser(&[pattern]);
        let (_, fields) = parser
            .match_fields(&Bytes::copy_from_slice(line.as_bytes()))
            .unwrap();
        // Same fields as the full regex gives.
        let spans = p.regex_spans(line.as_bytes()).unwrap();
        let count = spans[1..]
            .iter()
            .filter(|s| matches!(s, Some((a, b)) if a < b))
            .count();
        let mut leaves = 0;
        fn walk(v: &Value, n: &mut usize) {
            match v {
                Value::Object(f) => f.iter().for_each(|(_, v)| walk(v, n)),
                Value::Array(a) => a.iter().for_each(|v| walk(v, n)),
                _ => *n += 1,
            }
        }
        fields.iter().for_each(|(_, v)| walk(v, &mut leaves));
        assert_eq!(leaves, count, "{pattern} on {line}: {fields:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Lines derived from real samples by replacing, deleting or inserting a
    /// few bytes: wherever the segmented engine decides, it agrees.
    #[test]
    fn segmented_engine_agrees_on_mutated_lines(
        case in 0..SEGMENTED_CASES.len(),
        line in 0usize..8,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(&b" -\"[]:.0aZ/"[..])), 0..4),
    ) {
        thread_local! {
            static PATTERNS: Vec<matcher::CompiledPattern> =
                SEGMENTED_CASES.iter().map(|(p, _)| compiled(p)).collect();
        }
        let (_, lines) = SEGMENTED_CASES[case];
        let mut bytes = lines[line % lines.len()].as_bytes().to_vec();
        for (at, op, b) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = b,
                1 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.insert(i, b),
            }
        }
        PATTERNS.with(|ps| assert_engines_agree(&ps[case], &bytes));
    }
}

#[test]
fn example_pipeline_builds_its_grok_filter() {
    let node = parse_yaml(include_str!("../../../pipelines/grok-apache.yaml")).unwrap();
    let filters = node.get("filters").unwrap();
    let crate::config::NodeKind::Seq(filters) = &filters.kind else {
        panic!("filters is a list");
    };
    let parse = filters[0].get("parse").unwrap();
    let format = parse.get("format").and_then(|f| f.as_str()).unwrap();
    let (_, options) = parse.split_keys(&["format", "field", "target", "on_error", "when"]);
    let parser = crate::parsers::registry::build(format, &options).unwrap();
    let line = r#"192.0.2.10 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl/8.0""#;
    let mut out = Vec::new();
    parser
        .parse(
            &Bytes::from_static(line.as_bytes()),
            &Event::from_text(line),
            &mut out,
        )
        .unwrap();
    let fields = out[0].value.as_object().unwrap();
    assert_eq!(
        at(fields, "http.response.status_code"),
        Some(&Value::Int(200))
    );
}

#[test]
fn library_log_patterns_use_the_segmented_engine() {
    for (pattern, _) in SEGMENTED_CASES {
        let plan = compiled(pattern).describe_segments().unwrap_or_default();
        assert!(
            plan.starts_with("[byte") || plan.starts_with("[dfa"),
            "{pattern}: {plan}"
        );
    }
}

#[test]
fn library_tails_need_no_capture_regex() {
    // The optional trailing fields of the AWS formats and syslog's message
    // are matched without the regex's capture engine: nested plans for the
    // optional groups, byte runs and literals for the rest.
    for pattern in [
        "^%{S3_ACCESS_LOG}",
        "^%{ELB_ACCESS_LOG}",
        "^%{ALB_ACCESS_LOG}",
        "^%{SYSLOGLINE}",
    ] {
        let plan = compiled(pattern).describe_segments().unwrap_or_default();
        assert!(plan.contains("tail greedy("), "{pattern}: {plan}");
        assert!(!plan.contains("regex"), "{pattern}: {plan}");
    }
}

#[test]
fn tail_fast_paths_agree_with_the_regex_on_every_truncation() {
    // Cutting a line after each space leaves each optional trailing group
    // whole, partial or absent; wherever the engine decides it must agree.
    for (pattern, lines) in SEGMENTED_CASES {
        let p = compiled(pattern);
        for line in *lines {
            let bytes = line.as_bytes();
            for (cut, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b' ') {
                assert_engines_agree(&p, &bytes[..cut]);
                assert_engines_agree(&p, &bytes[..=cut]);
            }
        }
    }
    for (pattern, line) in [
        // A dash alternative wins over the longer run (leftmost-first).
        (
            r"^%{NOTSPACE:a} %{NOTSPACE:k}(?: (?:-|%{NOTSPACE:b}))?",
            "x y -abc",
        ),
        (
            r"^%{NOTSPACE:a} %{NOTSPACE:k}(?: (?:-|%{NOTSPACE:b}))?",
            "x y abc d",
        ),
        (
            r"^%{NOTSPACE:a} %{NOTSPACE:k} ?%{GREEDYDATA:rest}",
            "x y   spaced out",
        ),
        (
            r"^%{NOTSPACE:a} %{INT:k}(?: %{INT:b}(?: %{INT:c})?)?",
            "x 0 1 2",
        ),
        (
            r"^%{NOTSPACE:a} %{INT:k}(?: %{INT:b}(?: %{INT:c})?)?",
            "x 0 1 y",
        ),
        (
            r"^%{NOTSPACE:a} %{INT:k}(?: %{INT:b}(?: %{INT:c})?)?",
            "x 0 y",
        ),
        (
            r"^%{NOTSPACE:a} %{INT:k}(?: %{INT:b}(?: %{INT:c})?)?",
            "x 0",
        ),
    ] {
        let p = compiled(pattern);
        assert!(
            assert_engines_agree(&p, line.as_bytes()),
            "{pattern}: undecided on {line}"
        );
    }
}
