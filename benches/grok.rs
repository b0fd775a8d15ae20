//! Grok throughput: a five-pattern AWS + web library (S3 access, classic ELB,
//! ALB, Apache combined, syslog) over a mixed corpus of realistic lines.
//!
//! Run: `cargo bench --bench grok -- --warm-up-time 1 --measurement-time 3`.
//! Throughput is reported in lines (elements) per second on one core; the
//! last group times compiling the five patterns.

/// The allocator the `weir` binary runs with (src/main.rs), so the figures
/// are what a pipeline gets.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use weir::event::Event;
use weir::parsers::grok::GrokParser;
use weir::parsers::Parser;

const PATTERNS: &[&str] = &[
    "^%{S3_ACCESS_LOG}",
    "^%{ELB_ACCESS_LOG}",
    "^%{ALB_ACCESS_LOG}",
    "^%{COMBINEDAPACHELOG}",
    "^%{SYSLOGLINE}",
];

const TEMPLATES: &[&str] = &[
    r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.{n} 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 1{n} - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"#,
    r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DD6CC733AEXAMPLE REST.PUT.OBJECT photos/2019/{n}/s3-dg.pdf "PUT /awsexamplebucket1/photos/2019/{n}/s3-dg.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#,
    r#"36c1f05b76016b78528454e6e0c60e2b7ff7aa20c0a5e4c748276e5b0a2debd2 jsoriano-s3-test [10/Sep/2019:15:11:07 +0000] 89.160.20.{n} arn:aws:iam::123456:user/test@elastic.co 8CD7A4A71E2E5C9E BATCH.DELETE.OBJECT jolokia-war-1.5.0.war - 204 - - 344017 - - - - - IeDW5I3wefFxU8iHOcAzi5qr+O+1bdRlcQ0AO2WGjFh7JwYM6qCoKq+1TrUshrXMlBxPFtg97Vk= SigV4 ECDHE-RSA-AES128-SHA AuthHeader s3.eu-central-1.amazonaws.com TLSv1.2"#,
    r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.{n}:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 2{n} "GET http://www.example.com:80/items/{n} HTTP/1.1" "curl/7.38.0" - -"#,
    r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 57 "GET https://www.example.com:443/?page={n} HTTP/1.1" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36" DHE-RSA-AES128-SHA TLSv1.2"#,
    r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.{n}:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90"#,
    r#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 5{n} "GET https://www.example.com:443/api/v2/orders/{n}?expand=items HTTP/1.1" "python-requests/2.31.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90"#,
    r#"203.0.113.{n} - - [07/Mar/2024:09:12:01 +0000] "GET /static/app.{n}.js HTTP/1.1" 200 51234 "https://www.example.com/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15""#,
    "Mar  7 09:12:01 web-01 sshd[4{n}]: Accepted publickey for deploy from 192.0.2.9 port 51234 ssh2",
    // A line no pattern matches: the cost of a parse failure.
    "2024-03-07 09:12:01,123 INFO [main] c.e.App - started in {n} ms",
];

/// A corpus of 1000 lines cycling through the templates with varying numbers.
fn corpus() -> Vec<Bytes> {
    (0..1000)
        .map(|i| {
            let t = TEMPLATES[i % TEMPLATES.len()];
            Bytes::from(t.replace("{n}", &(i % 250).to_string()))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let lines = corpus();
    let event = Event::from_text("");
    let mut group = c.benchmark_group("grok");
    group.throughput(Throughput::Elements(lines.len() as u64));

    let parser = GrokParser::with_patterns(PATTERNS).expect("library patterns compile");
    group.bench_function(BenchmarkId::new("parse", "5 patterns, mixed corpus"), |b| {
        let mut out = Vec::with_capacity(1);
        b.iter(|| {
            let mut matched = 0usize;
            for line in &lines {
                out.clear();
                if parser.parse(line, &event, &mut out).is_ok() {
                    matched += 1;
                }
            }
            matched
        })
    });

    let unanchored: Vec<String> = PATTERNS
        .iter()
        .map(|p| p.trim_start_matches('^').to_owned())
        .collect();
    let parser = GrokParser::with_patterns(&unanchored).expect("library patterns compile");
    group.bench_function(
        BenchmarkId::new("parse_unanchored", "5 patterns, mixed corpus"),
        |b| {
            let mut out = Vec::with_capacity(1);
            b.iter(|| {
                lines
                    .iter()
                    .filter(|l| {
                        out.clear();
                        parser.parse(l, &event, &mut out).is_ok()
                    })
                    .count()
            })
        },
    );
    group.finish();

    // Compiling is paid once per pipeline start (and by `weir validate`),
    // but it is what the segmented engine's plans cost.
    let mut group = c.benchmark_group("grok_compile");
    group.sample_size(10);
    group.bench_function("5 library patterns", |b| {
        b.iter(|| GrokParser::with_patterns(PATTERNS).expect("library patterns compile"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
