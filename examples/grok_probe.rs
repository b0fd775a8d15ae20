use bytes::Bytes;
use std::time::Instant;
use weir::parsers::grok::compile::{build_regex, expand};
use weir::parsers::grok::library::Definitions;
use weir::parsers::grok::matcher::CompiledPattern;
use weir::parsers::grok::GrokParser;

fn main() {
    let lib = Definitions::library();
    let cases = [
        ("^%{S3_ACCESS_LOG}", r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"#),
        ("^%{ELB_ACCESS_LOG}", r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -"#),
        ("^%{ALB_ACCESS_LOG}", r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90"#),
        ("^%{COMBINEDAPACHELOG}", r#"203.0.113.7 - - [07/Mar/2024:09:12:01 +0000] "GET /static/app.7.js HTTP/1.1" 200 51234 "https://www.example.com/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15""#),
        ("^%{SYSLOGLINE}", "Mar  7 09:12:01 web-01 sshd[4242]: Accepted publickey for deploy from 192.0.2.9 port 51234 ssh2"),
    ];
    let n = 20000;
    for (p, line) in cases {
        let e = expand(p, lib).unwrap();
        let r = build_regex(&e.regex).unwrap();
        let cp = CompiledPattern::new(p.to_string(), &e, r.clone());
        let hay = line.as_bytes();
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(r.is_match(hay));
        }
        let m = t.elapsed().as_nanos() as f64 / n as f64;
        let some = cp.segmented_spans(hay).is_some();
        let mut locs = r.capture_locations();
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(r.captures_read(&mut locs, hay));
        }
        let s = t.elapsed().as_nanos() as f64 / n as f64;
        let gp = GrokParser::with_patterns(&[p]).unwrap();
        let b = Bytes::copy_from_slice(hay);
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(gp.match_fields(&b));
        }
        let g = t.elapsed().as_nanos() as f64 / n as f64;
        let tm = cp.segmented().unwrap().timings(hay, 5000);
        println!(
            "{}",
            tm.iter()
                .map(|(n, t)| format!("{n}={t:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!("{p:24} seg={} decided={some} is_match {m:6.0}ns regex captures {s:7.0}ns parser {g:7.0}ns", cp.is_segmented());
    }
}
