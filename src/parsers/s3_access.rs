//! `format: s3_access` — Amazon S3 server access log records.
//!
//! One record per line, space-separated, in a fixed order that AWS only ever
//! extends at the end (`shared/formats/s3-access-log.md`). Three things make a
//! naive `split(' ')` wrong, so the line is read by a small hand-written
//! tokenizer instead:
//!
//! - the time is bracketed and holds a space: `[06/Feb/2019:00:00:38 +0000]`;
//! - request URI, referer and user agent are double-quoted and may hold spaces,
//!   or are a bare `-`;
//! - lines have 18 to 27 fields depending on their age, and AWS may append more.
//!
//! Every string value is a [`Bytes`] slice of the input; only a quoted field
//! holding a backslash escape (`\"`, `\\`) and the optional key decoding
//! allocate. Spaces between fields are found with `memchr`.
//!
//! # Output
//!
//! Like Filebeat's AWS module, every field of the record lands under
//! `aws.s3access.*` (typed: numbers as integers, `-` fields left out), and the
//! ECS fields Kibana dashboards expect are derived from them:
//!
//! | ECS field | from |
//! |---|---|
//! | `@timestamp` | time |
//! | `source.address`, `source.ip` | remote IP |
//! | `source.user.id` | requester |
//! | `event.id`, `event.action`, `event.code` | request ID, operation, error code |
//! | `event.outcome` | `failure` when there is an error code, else `success` |
//! | `event.duration` | total time, in nanoseconds (ECS) |
//! | `http.request.method`, `url.original`, `url.path`, `url.query`, `url.extension`, `http.version` | request URI |
//! | `http.response.status_code` | HTTP status |
//! | `http.response.body.bytes` | bytes sent (`-` means 0 here) |
//! | `http.request.referrer`, `user_agent.original` | referer, user agent |
//! | `tls.cipher`, `tls.version`, `tls.version_protocol` | cipher suite, TLS version |
//! | `cloud.provider`, `cloud.region` | `aws`; the region named in the host header |
//! | `related.ip`, `related.user` | remote IP; bucket owner and requester |
//!
//! Fields AWS appends after the 27 known ones are kept, in order and verbatim,
//! in `aws.s3access.extra_fields`, so nothing is lost before weir learns them.

use std::net::IpAddr;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use memchr::{memchr, memchr2};

use super::{ParseError, Parsed, Parser};
use crate::event::{Event, Fields, Value};

/// Options of `format: s3_access`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3AccessOptions {
    /// Percent-decode the object key (`photos/my%20cat.jpg`, `Screen+Shot.png`
    /// → spaces) in `aws.s3access.key`. Off by default: the log holds the key
    /// URL-encoded exactly once, and decoding is only wanted when keys are
    /// matched against real object names.
    #[serde(default)]
    pub decode_key: bool,
}

/// Parses S3 server access log lines.
#[derive(Debug, Default)]
pub struct S3AccessParser {
    decode_key: bool,
}

impl S3AccessParser {
    pub fn new(options: S3AccessOptions) -> Self {
        S3AccessParser {
            decode_key: options.decode_key,
        }
    }
}

impl Parser for S3AccessParser {
    fn parse(
        &self,
        input: &Bytes,
        _event: &Event,
        out: &mut Vec<Parsed>,
    ) -> Result<(), ParseError> {
        let record = parse_record(input)?;
        let timestamp = record.time;
        out.push(Parsed {
            value: Value::Object(record.into_fields(self.decode_key)),
            timestamp: Some(timestamp),
            message: None,
        });
        Ok(())
    }
}

/// The records' fields in order (1-based numbers as in AWS's documentation),
/// with the names error messages use.
const FIELD_NAMES: [&str; 27] = [
    "bucket owner",
    "bucket",
    "time",
    "remote IP",
    "requester",
    "request ID",
    "operation",
    "key",
    "request URI",
    "http status",
    "error code",
    "bytes sent",
    "object size",
    "total time",
    "turn-around time",
    "referer",
    "user agent",
    "version ID",
    "host ID",
    "signature version",
    "cipher suite",
    "authentication type",
    "host header",
    "TLS version",
    "access point ARN",
    "ACL required",
    "source region",
];

/// The oldest records end after the version ID (field 18); every later field
/// is optional.
const MIN_FIELDS: usize = 18;

/// One parsed record, before it becomes fields. `None` is a `-` in the log
/// (or a trailing field the line is too old to have).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct S3Record {
    pub bucket_owner: Option<Bytes>,
    pub bucket: Option<Bytes>,
    pub time: DateTime<Utc>,
    pub remote_ip: Option<Bytes>,
    pub requester: Option<Bytes>,
    pub request_id: Option<Bytes>,
    pub operation: Option<Bytes>,
    pub key: Option<Bytes>,
    pub request_uri: Option<Bytes>,
    pub http_status: Option<i64>,
    pub error_code: Option<Bytes>,
    pub bytes_sent: Option<i64>,
    pub object_size: Option<i64>,
    pub total_time: Option<i64>,
    pub turn_around_time: Option<i64>,
    pub referrer: Option<Bytes>,
    pub user_agent: Option<Bytes>,
    pub version_id: Option<Bytes>,
    pub host_id: Option<Bytes>,
    pub signature_version: Option<Bytes>,
    pub cipher_suite: Option<Bytes>,
    pub authentication_type: Option<Bytes>,
    pub host_header: Option<Bytes>,
    pub tls_version: Option<Bytes>,
    pub access_point_arn: Option<Bytes>,
    pub acl_required: Option<Bytes>,
    pub source_region: Option<Bytes>,
    /// Fields after the 27th, verbatim (a `-` stays `-`: position matters
    /// for fields weir does not know yet).
    pub extra_fields: Vec<Bytes>,
}

/// Reads the record's tokens left to right. Positions are byte offsets into
/// `line`, which is the input without its line terminator.
struct Tokenizer<'a> {
    input: &'a Bytes,
    /// `input` up to its end of line.
    line: &'a [u8],
    pos: usize,
    /// The 1-based number of the field read last.
    field: usize,
}

impl<'a> Tokenizer<'a> {
    fn new(input: &'a Bytes) -> Self {
        let mut end = input.len();
        while end > 0 && matches!(input[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        Tokenizer {
            input,
            line: &input[..end],
            pos: 0,
            field: 0,
        }
    }

    fn name(field: usize) -> &'static str {
        FIELD_NAMES.get(field - 1).copied().unwrap_or("extra field")
    }

    fn error(&self, what: impl std::fmt::Display) -> ParseError {
        ParseError::new(format!(
            "field {} ({}): {what}",
            self.field,
            Self::name(self.field)
        ))
    }

    /// Moves to the start of the next field; `false` at the end of the line.
    /// Runs of spaces count as one separator: AWS writes single spaces, and a
    /// stray double space should not shift every later field.
    fn advance(&mut self) -> bool {
        while self.pos < self.line.len() && self.line[self.pos] == b' ' {
            self.pos += 1;
        }
        self.field += 1;
        self.pos < self.line.len()
    }

    /// The next field, which must exist (fields 1–18).
    fn required(&mut self) -> Result<(), ParseError> {
        if self.advance() {
            Ok(())
        } else {
            Err(self.error(format_args!(
                "missing: the record ends after {} fields; S3 access log records have at least {MIN_FIELDS}",
                self.field - 1
            )))
        }
    }

    /// A bare token: everything up to the next space.
    fn bare(&mut self) -> (usize, usize) {
        let start = self.pos;
        let end = memchr(b' ', &self.line[start..]).map_or(self.line.len(), |i| start + i);
        self.pos = end;
        (start, end)
    }

    fn slice(&self, (start, end): (usize, usize)) -> Bytes {
        self.input.slice(start..end)
    }

    /// A bare string field; `-` is absent.
    fn string(&mut self) -> Option<Bytes> {
        let span = self.bare();
        if &self.line[span.0..span.1] == b"-" {
            None
        } else {
            Some(self.slice(span))
        }
    }

    /// An optional trailing string field (19 and later).
    fn optional_string(&mut self) -> Option<Bytes> {
        if self.advance() {
            self.string()
        } else {
            None
        }
    }

    /// A non-negative integer field; `-` is absent.
    fn number(&mut self) -> Result<Option<i64>, ParseError> {
        let (start, end) = self.bare();
        let text = &self.line[start..end];
        if text == b"-" {
            return Ok(None);
        }
        match parse_u63(text) {
            Some(n) => Ok(Some(n)),
            None => Err(self.error(format_args!(
                "expected a number or `-`, found `{}`",
                show(text)
            ))),
        }
    }

    /// The remote IP: an IP address or `-`. Checked because it is indexed as
    /// an `ip` field, which rejects the whole document when malformed.
    fn ip(&mut self) -> Result<Option<Bytes>, ParseError> {
        let (start, end) = self.bare();
        let text = &self.line[start..end];
        if text == b"-" {
            return Ok(None);
        }
        if is_ip(text) {
            Ok(Some(self.slice((start, end))))
        } else {
            Err(self.error(format_args!(
                "expected an IP address or `-`, found `{}`",
                show(text)
            )))
        }
    }

    /// A double-quoted field, or a bare token (AWS writes a bare `-` for some
    /// operations). `"-"` and `-` are both absent.
    ///
    /// AWS documents no escape convention and its own Athena regex assumes no
    /// `"` inside quotes; weir accepts backslash escapes (`\"`, `\\`), and a
    /// `"` that is not followed by a space or the end of the line is taken as
    /// part of the value, so a stray unescaped quote does not break the line.
    fn quoted_or_bare(&mut self) -> Result<Option<Bytes>, ParseError> {
        if self.line[self.pos] != b'"' {
            return Ok(self.string());
        }
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            let Some(off) = memchr2(b'"', b'\\', &self.line[i..]) else {
                return Err(self.error("a quoted value is never closed (missing `\"`)"));
            };
            let at = i + off;
            if self.line[at] == b'\\' {
                escaped = true;
                i = at + 2;
                if i > self.line.len() {
                    return Err(self.error("a quoted value is never closed (missing `\"`)"));
                }
                continue;
            }
            if at + 1 == self.line.len() || self.line[at + 1] == b' ' {
                self.pos = at + 1;
                let raw = &self.line[start..at];
                return Ok(if raw == b"-" {
                    None
                } else if escaped {
                    Some(unescape(raw))
                } else {
                    Some(self.slice((start, at)))
                });
            }
            i = at + 1;
        }
    }

    /// The bracketed time, `[dd/Mon/yyyy:HH:MM:SS +zzzz]`.
    fn time(&mut self) -> Result<DateTime<Utc>, ParseError> {
        if self.line[self.pos] != b'[' {
            let (start, end) = self.bare();
            return Err(self.error(format_args!(
                "expected `[dd/Mon/yyyy:HH:MM:SS +zzzz]`, found `{}`",
                show(&self.line[start..end])
            )));
        }
        let start = self.pos + 1;
        let Some(close) = memchr(b']', &self.line[start..]).map(|i| start + i) else {
            return Err(self.error("the `[` of the time is never closed (missing `]`)"));
        };
        let text = &self.line[start..close];
        self.pos = close + 1;
        if self.pos < self.line.len() && self.line[self.pos] != b' ' {
            return Err(self.error("expected a space after the time's `]`"));
        }
        parse_time(text).ok_or_else(|| {
            self.error(format_args!(
                "expected a time like `[06/Feb/2019:00:00:38 +0000]`, found `[{}]`",
                show(text)
            ))
        })
    }
}

/// Parses one record.
pub(crate) fn parse_record(input: &Bytes) -> Result<S3Record, ParseError> {
    let mut t = Tokenizer::new(input);
    if t.line.iter().all(|&b| b == b' ') {
        return Err(ParseError::new(
            "empty record: expected an S3 server access log line",
        ));
    }
    t.required()?;
    let bucket_owner = t.string();
    t.required()?;
    let bucket = t.string();
    t.required()?;
    let time = t.time()?;
    t.required()?;
    let remote_ip = t.ip()?;
    t.required()?;
    let requester = t.string();
    t.required()?;
    let request_id = t.string();
    t.required()?;
    let operation = t.string();
    t.required()?;
    let key = t.string();
    t.required()?;
    let request_uri = t.quoted_or_bare()?;
    t.required()?;
    let http_status = t.number()?;
    t.required()?;
    let error_code = t.string();
    t.required()?;
    let bytes_sent = t.number()?;
    t.required()?;
    let object_size = t.number()?;
    t.required()?;
    let total_time = t.number()?;
    t.required()?;
    let turn_around_time = t.number()?;
    t.required()?;
    let referrer = t.quoted_or_bare()?;
    t.required()?;
    let user_agent = t.quoted_or_bare()?;
    t.required()?;
    let version_id = t.string();
    let host_id = t.optional_string();
    let signature_version = t.optional_string();
    let cipher_suite = t.optional_string();
    let authentication_type = t.optional_string();
    let host_header = t.optional_string();
    let tls_version = t.optional_string();
    let access_point_arn = t.optional_string();
    let acl_required = t.optional_string();
    let source_region = t.optional_string();
    let mut extra_fields = Vec::new();
    while t.advance() {
        // Unknown future fields: kept verbatim (quotes removed when quoted).
        let value = t.quoted_or_bare()?;
        extra_fields.push(value.unwrap_or_else(|| Bytes::from_static(b"-")));
    }
    Ok(S3Record {
        bucket_owner,
        bucket,
        time,
        remote_ip,
        requester,
        request_id,
        operation,
        key,
        request_uri,
        http_status,
        error_code,
        bytes_sent,
        object_size,
        total_time,
        turn_around_time,
        referrer,
        user_agent,
        version_id,
        host_id,
        signature_version,
        cipher_suite,
        authentication_type,
        host_header,
        tls_version,
        access_point_arn,
        acl_required,
        source_region,
        extra_fields,
    })
}

/// Appends `key: value` to a fresh object; `key` is static, so no allocation.
#[inline]
fn put(fields: &mut Fields, key: &'static str, value: Value) {
    fields.push_unchecked(key.as_bytes(), value);
}

#[inline]
fn put_str(fields: &mut Fields, key: &'static str, value: Option<Bytes>) {
    if let Some(v) = value {
        put(fields, key, Value::Str(v));
    }
}

#[inline]
fn put_int(fields: &mut Fields, key: &'static str, value: Option<i64>) {
    if let Some(v) = value {
        put(fields, key, Value::Int(v));
    }
}

/// Adds `key: object` unless the object is empty.
#[inline]
fn put_object(fields: &mut Fields, key: &'static str, object: Fields) {
    if !object.is_empty() {
        put(fields, key, Value::Object(object));
    }
}

fn stat(s: &'static str) -> Value {
    Value::Str(Bytes::from_static(s.as_bytes()))
}

impl S3Record {
    /// The record as `aws.s3access.*` plus the derived ECS fields (see the
    /// module documentation).
    pub(crate) fn into_fields(self, decode_key: bool) -> Fields {
        // ECS copies first: cloning a `Bytes` slice is a reference-count bump.
        let request = self.request_uri.as_ref().map(split_request_line);
        let region = self.host_header.as_ref().and_then(region_of_host);
        let tls = self.tls_version.as_ref().and_then(split_tls_version);
        let outcome = if self.error_code.is_some() {
            "failure"
        } else {
            "success"
        };

        let mut source = Fields::with_capacity(3);
        if let Some(ip) = &self.remote_ip {
            put(&mut source, "address", Value::Str(ip.clone()));
            put(&mut source, "ip", Value::Str(ip.clone()));
        }
        if let Some(requester) = &self.requester {
            let mut user = Fields::with_capacity(1);
            put(&mut user, "id", Value::Str(requester.clone()));
            put(&mut source, "user", Value::Object(user));
        }

        let mut event = Fields::with_capacity(5);
        put_str(&mut event, "id", self.request_id.clone());
        put_str(&mut event, "action", self.operation.clone());
        put_str(&mut event, "code", self.error_code.clone());
        put(&mut event, "outcome", stat(outcome));
        // Milliseconds to ECS nanoseconds; no AWS time comes near the limit.
        if let Some(ns) = self.total_time.and_then(|ms| ms.checked_mul(1_000_000)) {
            put(&mut event, "duration", Value::Int(ns));
        }

        let mut http = Fields::with_capacity(3);
        let mut url = Fields::with_capacity(4);
        {
            let mut req = Fields::with_capacity(2);
            if let Some(r) = &request {
                put_str(&mut req, "method", r.method.clone());
            }
            put_str(&mut req, "referrer", self.referrer.clone());
            put_object(&mut http, "request", req);

            let mut resp = Fields::with_capacity(2);
            put_int(&mut resp, "status_code", self.http_status);
            // `-` in Bytes Sent means zero bytes were sent (AWS's definition).
            let mut body = Fields::with_capacity(1);
            put(&mut body, "bytes", Value::Int(self.bytes_sent.unwrap_or(0)));
            put(&mut resp, "body", Value::Object(body));
            put(&mut http, "response", Value::Object(resp));

            if let Some(r) = request {
                put_str(&mut http, "version", r.version);
                if let Some(target) = r.target {
                    url_fields(&mut url, target);
                }
            }
        }

        let mut user_agent = Fields::with_capacity(1);
        put_str(&mut user_agent, "original", self.user_agent.clone());

        let mut tls_fields = Fields::with_capacity(3);
        put_str(&mut tls_fields, "cipher", self.cipher_suite.clone());
        if let Some((protocol, version)) = tls {
            put(&mut tls_fields, "version", Value::Str(version));
            put(&mut tls_fields, "version_protocol", Value::Str(protocol));
        }

        let mut cloud = Fields::with_capacity(2);
        put(&mut cloud, "provider", stat("aws"));
        put_str(&mut cloud, "region", region);

        let mut related = Fields::with_capacity(2);
        if let Some(ip) = &self.remote_ip {
            put(&mut related, "ip", Value::Array(vec![Value::Str(ip.clone())]));
        }
        {
            let mut users = Vec::with_capacity(2);
            if let Some(owner) = &self.bucket_owner {
                users.push(Value::Str(owner.clone()));
            }
            if let Some(requester) = &self.requester {
                if self.bucket_owner.as_ref() != Some(requester) {
                    users.push(Value::Str(requester.clone()));
                }
            }
            if !users.is_empty() {
                put(&mut related, "user", Value::Array(users));
            }
        }

        let key = if decode_key {
            self.key.map(|k| percent_decode(&k))
        } else {
            self.key
        };

        let mut s3 = Fields::with_capacity(28);
        put_str(&mut s3, "bucket_owner", self.bucket_owner);
        put_str(&mut s3, "bucket", self.bucket);
        put_str(&mut s3, "remote_ip", self.remote_ip);
        put_str(&mut s3, "requester", self.requester);
        put_str(&mut s3, "request_id", self.request_id);
        put_str(&mut s3, "operation", self.operation);
        put_str(&mut s3, "key", key);
        put_str(&mut s3, "request_uri", self.request_uri);
        put_int(&mut s3, "http_status", self.http_status);
        put_str(&mut s3, "error_code", self.error_code);
        put_int(&mut s3, "bytes_sent", self.bytes_sent);
        put_int(&mut s3, "object_size", self.object_size);
        put_int(&mut s3, "total_time", self.total_time);
        put_int(&mut s3, "turn_around_time", self.turn_around_time);
        put_str(&mut s3, "referrer", self.referrer);
        put_str(&mut s3, "user_agent", self.user_agent);
        put_str(&mut s3, "version_id", self.version_id);
        put_str(&mut s3, "host_id", self.host_id);
        put_str(&mut s3, "signature_version", self.signature_version);
        put_str(&mut s3, "cipher_suite", self.cipher_suite);
        put_str(&mut s3, "authentication_type", self.authentication_type);
        put_str(&mut s3, "host_header", self.host_header);
        put_str(&mut s3, "tls_version", self.tls_version);
        put_str(&mut s3, "access_point_arn", self.access_point_arn);
        // `Yes` (the only documented value) becomes `true`; anything else
        // AWS may start writing is kept as it is.
        match self.acl_required {
            Some(v) if v.eq_ignore_ascii_case(b"yes") => put(&mut s3, "aclrequired", Value::Bool(true)),
            other => put_str(&mut s3, "aclrequired", other),
        }
        put_str(&mut s3, "source_region", self.source_region);
        if !self.extra_fields.is_empty() {
            let extra = self.extra_fields.into_iter().map(Value::Str).collect();
            put(&mut s3, "extra_fields", Value::Array(extra));
        }

        let mut aws = Fields::with_capacity(1);
        put(&mut aws, "s3access", Value::Object(s3));

        let mut out = Fields::with_capacity(11);
        put(&mut out, "aws", Value::Object(aws));
        put_object(&mut out, "cloud", cloud);
        put_object(&mut out, "source", source);
        put_object(&mut out, "event", event);
        put_object(&mut out, "http", http);
        put_object(&mut out, "url", url);
        put_object(&mut out, "user_agent", user_agent);
        put_object(&mut out, "tls", tls_fields);
        put_object(&mut out, "related", related);
        out
    }
}

/// The parts of an HTTP request line `METHOD target HTTP/x.y`.
struct RequestLine {
    method: Option<Bytes>,
    target: Option<Bytes>,
    version: Option<Bytes>,
}

/// Splits a request line. The method ends at the first space; a last word
/// `HTTP/x.y` (any case) is the protocol; what is between is the target, which
/// may itself hold spaces when a client sent them unencoded.
fn split_request_line(line: &Bytes) -> RequestLine {
    let Some(sp) = memchr(b' ', line) else {
        return RequestLine {
            method: None,
            target: Some(line.clone()),
            version: None,
        };
    };
    let method = (sp > 0).then(|| line.slice(..sp));
    let rest_start = sp + 1;
    let rest = &line[rest_start..];
    let (target_end, version) = match memchr::memrchr(b' ', rest) {
        Some(i) if rest[i + 1..].len() > 5 && rest[i + 1..i + 6].eq_ignore_ascii_case(b"http/") => {
            (rest_start + i, Some(line.slice(rest_start + i + 6..)))
        }
        _ if rest.len() > 5 && rest[..5].eq_ignore_ascii_case(b"http/") => {
            (rest_start, Some(line.slice(rest_start + 5..)))
        }
        _ => (line.len(), None),
    };
    let target = (target_end > rest_start).then(|| line.slice(rest_start..target_end));
    RequestLine {
        method,
        target,
        version,
    }
}

/// `url.original`, `url.path`, `url.query` and `url.extension` of a request
/// target, all slices of it.
fn url_fields(url: &mut Fields, target: Bytes) {
    let path_end = memchr(b'?', &target).unwrap_or(target.len());
    let path = target.slice(..path_end);
    let query = (path_end + 1 < target.len()).then(|| target.slice(path_end + 1..));
    let file_start = memchr::memrchr(b'/', &path).map_or(0, |i| i + 1);
    let extension = memchr::memrchr(b'.', &path[file_start..])
        .map(|i| file_start + i + 1)
        .filter(|&start| start < path.len())
        .map(|start| path.slice(start..));
    put(url, "original", Value::Str(target));
    if !path.is_empty() {
        put(url, "path", Value::Str(path));
    }
    put_str(url, "query", query);
    put_str(url, "extension", extension);
}

/// The region in an S3 endpoint host name: the label after the last `s3`
/// label (`bucket.s3.us-west-1.amazonaws.com`, `s3.dualstack.eu-west-1…`).
/// Legacy global endpoints (`s3.amazonaws.com`) name no region.
fn region_of_host(host: &Bytes) -> Option<Bytes> {
    let mut labels = Vec::new();
    let mut start = 0;
    for (i, &b) in host.iter().enumerate() {
        if b == b'.' {
            labels.push((start, i));
            start = i + 1;
        }
    }
    labels.push((start, host.len()));
    let s3 = labels
        .iter()
        .rposition(|&(a, b)| host[a..b].eq_ignore_ascii_case(b"s3"))?;
    labels[s3 + 1..]
        .iter()
        .map(|&(a, b)| (a, b))
        .find(|&(a, b)| !host[a..b].eq_ignore_ascii_case(b"dualstack"))
        .filter(|&(a, b)| is_region(&host[a..b]))
        .map(|(a, b)| host.slice(a..b))
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: letters and dashes ending in
/// a dash and digits.
fn is_region(label: &[u8]) -> bool {
    let Some(dash) = label.iter().rposition(|&b| b == b'-') else {
        return false;
    };
    dash > 0
        && dash + 1 < label.len()
        && label[dash + 1..].iter().all(u8::is_ascii_digit)
        && label[..dash]
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b == b'-')
}

/// `TLSv1.2` / `TLSV1.2` → (`tls`, `1.2`), as ECS's `tls.version_protocol`
/// and `tls.version`. Values of another shape give nothing.
fn split_tls_version(value: &Bytes) -> Option<(Bytes, Bytes)> {
    let v = value.iter().position(|&b| b == b'v' || b == b'V')?;
    if v == 0 || v + 1 >= value.len() || value[v + 1..].iter().any(|&b| b == b'v' || b == b'V') {
        return None;
    }
    let protocol = if value[..v].eq_ignore_ascii_case(b"tls") {
        Bytes::from_static(b"tls")
    } else if value[..v].eq_ignore_ascii_case(b"ssl") {
        Bytes::from_static(b"ssl")
    } else {
        Bytes::from(value[..v].to_ascii_lowercase())
    };
    Some((protocol, value.slice(v + 1..)))
}

/// Parses `dd/Mon/yyyy:HH:MM:SS +zzzz` (fixed width, English month).
fn parse_time(s: &[u8]) -> Option<DateTime<Utc>> {
    if s.len() != 26
        || s[2] != b'/'
        || s[6] != b'/'
        || s[11] != b':'
        || s[14] != b':'
        || s[17] != b':'
        || s[20] != b' '
    {
        return None;
    }
    let day = digits(&s[0..2])?;
    let month = month_number(&s[3..6])?;
    let year = digits(&s[7..11])?;
    let hour = digits(&s[12..14])?;
    let minute = digits(&s[15..17])?;
    let second = digits(&s[18..20])?;
    let sign: i64 = match s[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let off_h = digits(&s[22..24])?;
    let off_m = digits(&s[24..26])?;
    if off_m >= 60 {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(year as i32, month, day)?
        .and_hms_opt(hour, minute, second)?
        .and_utc()
        .timestamp();
    let offset = sign * (i64::from(off_h) * 3600 + i64::from(off_m) * 60);
    DateTime::from_timestamp(local - offset, 0)
}

fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn month_number(s: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let lower = [
        s[0].to_ascii_lowercase(),
        s[1].to_ascii_lowercase(),
        s[2].to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|m| **m == lower)
        .map(|i| i as u32 + 1)
}

/// A decimal integer that fits an `i64` (what JSON consumers and
/// Elasticsearch's `long` hold); `None` for anything else.
fn parse_u63(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    Some(n)
}

fn is_ip(s: &[u8]) -> bool {
    std::str::from_utf8(s).is_ok_and(|s| s.parse::<IpAddr>().is_ok())
}

/// Removes backslash escapes: `\"` → `"`, `\\` → `\`; any other backslash is
/// kept with the byte after it.
fn unescape(raw: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() && matches!(raw[i + 1], b'"' | b'\\') {
            out.push(raw[i + 1]);
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Bytes::from(out)
}

/// Decodes `%XX` escapes and `+` (S3 writes spaces in keys as `+`); an
/// invalid `%` sequence is kept as written. Unchanged keys stay slices.
fn percent_decode(key: &Bytes) -> Bytes {
    if memchr2(b'%', b'+', key).is_none() {
        return key.clone();
    }
    let mut out = Vec::with_capacity(key.len());
    let mut i = 0;
    while i < key.len() {
        match key[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                key.get(i + 1).copied().and_then(hex),
                key.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Bytes::from(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Input shown in an error message: lossy UTF-8, cut after 40 characters.
fn show(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.into_owned(),
    }
}
