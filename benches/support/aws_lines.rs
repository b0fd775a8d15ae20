//! Generated AWS log lines shaped like real traffic, for the parser
//! benchmarks and the end-to-end parse harness: S3 server access log records
//! (mixed operations, user agents, errors, 24- and 27-field lines) and VPC
//! flow log records (v2, or v5 with the format in [`VPC_V5`]; NODATA and
//! SKIPDATA records included). Deterministic, so runs compare.

#![allow(dead_code)]

/// A small deterministic generator (xorshift64*), so runs compare.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    pub fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }

    pub fn alnum(&mut self, len: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| char::from(A[self.below(A.len() as u64) as usize]))
            .collect()
    }

    pub fn ip(&mut self) -> String {
        if self.below(20) == 0 {
            format!("2001:db8:{:x}::{:x}", self.below(65536), self.below(65536))
        } else {
            format!(
                "{}.{}.{}.{}",
                self.below(223) + 1,
                self.below(256),
                self.below(256),
                self.below(254) + 1
            )
        }
    }
}

pub fn s3_lines(count: usize) -> Vec<String> {
    let mut rng = Rng(0x5eed_0001);
    let owner = rng.hex(64);
    let ops = [
        ("REST.GET.OBJECT", "GET"),
        ("REST.GET.OBJECT", "GET"),
        ("REST.GET.OBJECT", "GET"),
        ("REST.PUT.OBJECT", "PUT"),
        ("REST.HEAD.OBJECT", "HEAD"),
        ("REST.GET.BUCKET", "GET"),
        ("REST.DELETE.OBJECT", "DELETE"),
        ("REST.COPY.OBJECT_GET", "PUT"),
    ];
    let agents = [
        "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#s3.cp",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "aws-sdk-java/1.12.687 Linux/5.10.213 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS java/17.0.10 vendor/Amazon.com_Inc.",
        "S3Console/0.4",
        "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213 md/arch#x86_64 lang/python#3.12.2 cfg/retry-mode#legacy Botocore/1.34.69",
    ];
    let errors = [
        "NoSuchKey",
        "AccessDenied",
        "SlowDown",
        "NoSuchBucketPolicy",
    ];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    (0..count)
        .map(|_| {
            let (op, method) = ops[rng.below(ops.len() as u64) as usize];
            let key = format!(
                "{}/{}/{:04}/{}.{}",
                rng.pick(&["logs", "images", "data", "backups"]),
                rng.pick(&["2024", "2025"]),
                rng.below(10000),
                rng.alnum(12).to_lowercase(),
                rng.pick(&["json.gz", "jpg", "parquet", "csv", "png"])
            );
            let failed = rng.below(20) == 0;
            let (status, error) = if failed {
                let e = rng.pick(&errors);
                (if e == "SlowDown" { 503 } else { 404 }, e)
            } else {
                (200, "-")
            };
            let sent = if method == "GET" && !failed {
                (rng.below(5_000_000) + 1).to_string()
            } else {
                "-".to_owned()
            };
            let fields = if rng.below(4) == 0 { 24 } else { 27 };
            let mut line = format!(
                "{owner} prod-data-bucket [{:02}/{}/2024:{:02}:{:02}:{:02} +0000] {} arn:aws:sts::123456789012:assumed-role/app-role/i-0{} {} {op} {key} \"{method} /prod-data-bucket/{key}?x-id={} HTTP/1.1\" {status} {error} {sent} {} {} {} \"-\" \"{}\" - {}= SigV4 TLS_AES_128_GCM_SHA256 AuthHeader prod-data-bucket.s3.eu-west-1.amazonaws.com TLSv1.3",
                rng.below(28) + 1,
                rng.pick(&months),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.ip(),
                rng.hex(16),
                rng.alnum(16),
                rng.pick(&["GetObject", "PutObject", "HeadObject"]),
                rng.below(10_000_000),
                rng.below(500),
                rng.below(100),
                rng.pick(&agents),
                rng.alnum(76),
            );
            if fields == 27 {
                line.push_str(" - - eu-west-1");
            }
            line
        })
        .collect()
}

pub const VPC_V5: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";

pub fn vpc_lines(count: usize, v5: bool) -> Vec<String> {
    let mut rng = Rng(0x5eed_0002);
    let enis: Vec<String> = (0..50).map(|_| format!("eni-{}", rng.hex(17))).collect();
    (0..count)
        .map(|_| {
            let eni = &enis[rng.below(enis.len() as u64) as usize];
            let start = 1_718_000_000 + rng.below(86_400);
            let end = start + rng.below(60) + 1;
            let version = if v5 { 5 } else { 2 };
            if rng.below(50) == 0 {
                let status = if rng.below(2) == 0 { "NODATA" } else { "SKIPDATA" };
                let mut l = format!("{version} 123456789012 {eni} - - - - - - - {start} {end} - {status}");
                if v5 {
                    l.push_str(" vpc-0a1b2c3d4e5f67890 subnet-0a1b2c3d4e5f67890 - - - - - eu-west-1 euw1-az2 - - - - - -");
                }
                return l;
            }
            let proto = *[6u64, 6, 6, 17, 17, 1].get(rng.below(6) as usize).unwrap_or(&6);
            let (sport, dport) = if proto == 1 {
                (0, 0)
            } else {
                (rng.below(64_511) + 1024, *[443u64, 80, 22, 53, 5432, 6379].get(rng.below(6) as usize).unwrap_or(&443))
            };
            let src = rng.ip();
            let dst = rng.ip();
            let action = if rng.below(10) == 0 { "REJECT" } else { "ACCEPT" };
            let mut l = format!(
                "{version} 123456789012 {eni} {src} {dst} {sport} {dport} {proto} {} {} {start} {end} {action} OK",
                rng.below(10_000) + 1,
                rng.below(10_000_000) + 40
            );
            if v5 {
                let ingress = rng.below(2) == 0;
                l.push_str(&format!(
                    " vpc-0a1b2c3d4e5f67890 subnet-0a1b2c3d4e5f67890 i-0{} {} IPv4 {src} {dst} eu-west-1 euw1-az2 - - {} - {} {}",
                    rng.hex(16),
                    [2u64, 18, 19, 3, 1, 4][rng.below(6) as usize],
                    if rng.below(5) == 0 { "S3" } else { "-" },
                    if ingress { "ingress" } else { "egress" },
                    if ingress { "-".to_owned() } else { (rng.below(8) + 1).to_string() },
                ));
            }
            l
        })
        .collect()
}
