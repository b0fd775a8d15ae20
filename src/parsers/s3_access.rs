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
//! The record is written straight into a [`FlatDoc`] as it is read: every
//! string value is a span of the input; only a quoted field holding a
//! backslash escape (`\"`, `\\`) and the optional key decoding allocate.
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

use super::doc::{is_ipv4, parse_u63};
use super::scan::find_byte;
use std::borrow::Cow;
use std::net::Ipv6Addr;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use memchr::{memchr, memchr2};

use super::{ParseError, Parsed, Parser};
use crate::event::flat::{FlatDoc, Schema, Slot};
use crate::event::{Event, Fields, Value};
use crate::node;

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
        let (mut doc, timestamp) = parse_record(input)?;
        derive(&mut doc, input, self.decode_key);
        out.push(Parsed {
            value: Value::Object(Fields::from(doc)),
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

/// A string field of a record: a span of the line, or text that had to be
/// unescaped or decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Text {
    Span(usize, usize),
    Owned(Bytes),
}

impl Text {
    /// The text's bytes; `line` is the input the record was read from.
    fn bytes<'a>(&'a self, line: &'a [u8]) -> &'a [u8] {
        match self {
            Text::Span(start, end) => line.get(*start..*end).unwrap_or_default(),
            Text::Owned(b) => b,
        }
    }

    /// The part `start..end` of the text (offsets into [`Text::bytes`]).
    fn part(&self, start: usize, end: usize) -> Text {
        match self {
            Text::Span(s, _) => Text::Span(s + start, s + end),
            Text::Owned(b) => Text::Owned(b.slice(start..end)),
        }
    }
}

/// Stores a string field in its slot; `None` (a `-`) leaves it absent.
#[inline(always)]
fn put(doc: &mut FlatDoc, slot: u16, text: Option<Text>) {
    match text {
        Some(Text::Span(start, end)) => doc.set_span(slot, start, end),
        Some(Text::Owned(b)) => doc.set_owned(slot, Value::Str(b)),
        None => {}
    }
}

/// Stores a number field in its slot; `None` (a `-`) leaves it absent.
#[inline(always)]
fn put_int(doc: &mut FlatDoc, slot: u16, value: Option<i64>) {
    if let Some(n) = value {
        doc.set(slot, Slot::Int(n));
    }
}

/// Reads the record's tokens left to right. Positions are byte offsets into
/// `line`, which is the input without its line terminator.
struct Tokenizer<'a> {
    /// The input up to its end of line.
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
            line: &input[..end],
            pos: 0,
            field: 0,
        }
    }

    fn name(field: usize) -> &'static str {
        FIELD_NAMES.get(field - 1).copied().unwrap_or("extra field")
    }

    /// Kept out of line: errors are rare, and the parsing loop stays small.
    #[cold]
    #[inline(never)]
    fn error(&self, what: std::fmt::Arguments<'_>) -> ParseError {
        ParseError::new(format!(
            "field {} ({}): {what}",
            self.field,
            Self::name(self.field)
        ))
    }

    /// Moves to the start of the next field; `false` at the end of the line.
    /// Runs of spaces count as one separator: AWS writes single spaces, and a
    /// stray double space should not shift every later field.
    #[inline(always)]
    fn advance(&mut self) -> bool {
        while self.pos < self.line.len() && self.line[self.pos] == b' ' {
            self.pos += 1;
        }
        self.field += 1;
        self.pos < self.line.len()
    }

    /// The next field, which must exist (fields 1–18).
    #[inline(always)]
    fn required(&mut self) -> Result<(), ParseError> {
        if self.advance() {
            Ok(())
        } else {
            Err(self.missing())
        }
    }

    #[cold]
    #[inline(never)]
    fn missing(&self) -> ParseError {
        self.error(format_args!(
            "missing: the record ends after {} fields; S3 access log records have at least {MIN_FIELDS}",
            self.field - 1
        ))
    }

    /// A bare token: everything up to the next space.
    #[inline(always)]
    fn bare(&mut self) -> (usize, usize) {
        let start = self.pos;
        let end = find_byte(self.line, start, b' ').unwrap_or(self.line.len());
        self.pos = end;
        (start, end)
    }

    /// A bare string field; `-` is absent.
    #[inline(always)]
    fn string(&mut self) -> Option<Text> {
        let (start, end) = self.bare();
        if end == start + 1 && self.line[start] == b'-' {
            None
        } else {
            Some(Text::Span(start, end))
        }
    }

    /// A non-negative integer field; `-` is absent.
    #[inline(always)]
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
    #[inline(always)]
    fn ip(&mut self) -> Result<Option<Text>, ParseError> {
        let (start, end) = self.bare();
        let text = &self.line[start..end];
        if text == b"-" {
            return Ok(None);
        }
        if is_ip(text) {
            Ok(Some(Text::Span(start, end)))
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
    #[inline(always)]
    fn quoted_or_bare(&mut self) -> Result<Option<Text>, ParseError> {
        if self.line[self.pos] != b'"' {
            return Ok(self.string());
        }
        // `"-"`, the usual referer, without a search: the same result as
        // the loop below, which would find the closing quote right there.
        let after = self.pos + 3;
        if self.line.get(self.pos + 1..after) == Some(b"-\"")
            && (after == self.line.len() || self.line[after] == b' ')
        {
            self.pos = after;
            return Ok(None);
        }
        self.quoted()
    }

    /// The quoted value starting at `pos` (at its `"`).
    fn quoted(&mut self) -> Result<Option<Text>, ParseError> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            let Some(off) = memchr2(b'"', b'\\', &self.line[i..]) else {
                return Err(self.error(format_args!(
                    "a quoted value is never closed (missing `\"`)"
                )));
            };
            let at = i + off;
            if self.line[at] == b'\\' {
                escaped = true;
                i = at + 2;
                if i > self.line.len() {
                    return Err(self.error(format_args!(
                        "a quoted value is never closed (missing `\"`)"
                    )));
                }
                continue;
            }
            if at + 1 == self.line.len() || self.line[at + 1] == b' ' {
                self.pos = at + 1;
                let raw = &self.line[start..at];
                return Ok(if raw == b"-" {
                    None
                } else if escaped {
                    Some(Text::Owned(unescape(raw)))
                } else {
                    Some(Text::Span(start, at))
                });
            }
            i = at + 1;
        }
    }

    /// The bracketed time, `[dd/Mon/yyyy:HH:MM:SS +zzzz]`.
    #[inline(always)]
    fn time(&mut self) -> Result<DateTime<Utc>, ParseError> {
        if self.line[self.pos] != b'[' {
            let (start, end) = self.bare();
            return Err(self.error(format_args!(
                "expected `[dd/Mon/yyyy:HH:MM:SS +zzzz]`, found `{}`",
                show(&self.line[start..end])
            )));
        }
        let start = self.pos + 1;
        let Some(close) = find_byte(self.line, start, b']') else {
            return Err(self.error(format_args!(
                "the `[` of the time is never closed (missing `]`)"
            )));
        };
        let text = &self.line[start..close];
        self.pos = close + 1;
        if self.pos < self.line.len() && self.line[self.pos] != b' ' {
            return Err(self.error(format_args!("expected a space after the time's `]`")));
        }
        match parse_time(text) {
            Some(time) => Ok(time),
            None => Err(self.error(format_args!(
                "expected a time like `[06/Feb/2019:00:00:38 +0000]`, found `[{}]`",
                show(text)
            ))),
        }
    }
}

/// Parses one record into a document holding the record's own fields
/// (`aws.s3access.*` as read: the key not decoded, `aclrequired` as
/// written), and returns it with the record's time. [`derive`] completes it.
///
/// Each field goes straight into its slot as it is read: no intermediate
/// record is built and moved.
pub(crate) fn parse_record(input: &Bytes) -> Result<(FlatDoc, DateTime<Utc>), ParseError> {
    use slot::*;
    let mut t = Tokenizer::new(input);
    if t.line.iter().all(|&b| b == b' ') {
        return Err(ParseError::new(
            "empty record: expected an S3 server access log line",
        ));
    }
    let mut doc = FlatDoc::new(&SCHEMA, input.clone());
    let d = &mut doc;
    t.required()?;
    put(d, BUCKET_OWNER, t.string());
    t.required()?;
    put(d, BUCKET, t.string());
    t.required()?;
    let time = t.time()?;
    t.required()?;
    put(d, REMOTE_IP, t.ip()?);
    t.required()?;
    put(d, REQUESTER, t.string());
    t.required()?;
    put(d, REQUEST_ID, t.string());
    t.required()?;
    put(d, OPERATION, t.string());
    t.required()?;
    put(d, KEY, t.string());
    t.required()?;
    put(d, REQUEST_URI, t.quoted_or_bare()?);
    t.required()?;
    put_int(d, HTTP_STATUS, t.number()?);
    t.required()?;
    put(d, ERROR_CODE, t.string());
    t.required()?;
    put_int(d, BYTES_SENT, t.number()?);
    t.required()?;
    put_int(d, OBJECT_SIZE, t.number()?);
    t.required()?;
    put_int(d, TOTAL_TIME, t.number()?);
    t.required()?;
    put_int(d, TURN_AROUND_TIME, t.number()?);
    t.required()?;
    put(d, REFERRER, t.quoted_or_bare()?);
    t.required()?;
    put(d, USER_AGENT, t.quoted_or_bare()?);
    t.required()?;
    put(d, VERSION_ID, t.string());
    // Fields 19–27 are optional: lines end after any of them.
    for slot in [
        HOST_ID,
        SIGNATURE_VERSION,
        CIPHER_SUITE,
        AUTHENTICATION_TYPE,
        HOST_HEADER,
        TLS_VERSION,
        ACCESS_POINT_ARN,
        ACL_REQUIRED,
        SOURCE_REGION,
    ] {
        if !t.advance() {
            break;
        }
        put(d, slot, t.string());
    }
    let mut extra_fields = Vec::new();
    while t.advance() {
        // Unknown future fields: kept verbatim (quotes removed when quoted;
        // a `-` stays `-`: position matters for fields weir does not know
        // yet).
        extra_fields.push(Value::Str(match t.quoted_or_bare()? {
            Some(Text::Span(start, end)) => input.slice(start..end),
            Some(Text::Owned(b)) => b,
            None => Bytes::from_static(b"-"),
        }));
    }
    if !extra_fields.is_empty() {
        doc.set_owned(EXTRA_FIELDS, Value::Array(extra_fields));
    }
    Ok((doc, time))
}

/// The document's slots (see [`SCHEMA`]). The record's own fields come
/// first, in log order; ECS copies that are not a record field follow.
mod slot {
    pub const BUCKET_OWNER: u16 = 0;
    pub const BUCKET: u16 = 1;
    pub const REMOTE_IP: u16 = 2;
    pub const REQUESTER: u16 = 3;
    pub const REQUEST_ID: u16 = 4;
    pub const OPERATION: u16 = 5;
    pub const KEY: u16 = 6;
    pub const REQUEST_URI: u16 = 7;
    pub const HTTP_STATUS: u16 = 8;
    pub const ERROR_CODE: u16 = 9;
    pub const BYTES_SENT: u16 = 10;
    pub const OBJECT_SIZE: u16 = 11;
    pub const TOTAL_TIME: u16 = 12;
    pub const TURN_AROUND_TIME: u16 = 13;
    pub const REFERRER: u16 = 14;
    pub const USER_AGENT: u16 = 15;
    pub const VERSION_ID: u16 = 16;
    pub const HOST_ID: u16 = 17;
    pub const SIGNATURE_VERSION: u16 = 18;
    pub const CIPHER_SUITE: u16 = 19;
    pub const AUTHENTICATION_TYPE: u16 = 20;
    pub const HOST_HEADER: u16 = 21;
    pub const TLS_VERSION: u16 = 22;
    pub const ACCESS_POINT_ARN: u16 = 23;
    pub const ACL_REQUIRED: u16 = 24;
    pub const SOURCE_REGION: u16 = 25;
    pub const EXTRA_FIELDS: u16 = 26;
    pub const CLOUD_PROVIDER: u16 = 27;
    pub const CLOUD_REGION: u16 = 28;
    pub const OUTCOME: u16 = 29;
    pub const DURATION: u16 = 30;
    pub const METHOD: u16 = 31;
    pub const BODY_BYTES: u16 = 32;
    pub const HTTP_VERSION: u16 = 33;
    pub const URL_ORIGINAL: u16 = 34;
    pub const URL_PATH: u16 = 35;
    pub const URL_QUERY: u16 = 36;
    pub const URL_EXTENSION: u16 = 37;
    pub const TLS_VERSION_NUMBER: u16 = 38;
    pub const TLS_PROTOCOL: u16 = 39;
    /// The requester again in `related.user`, unless it is the bucket owner.
    pub const OTHER_USER: u16 = 40;
    pub const COUNT: usize = 41;
}

/// The document every record becomes: `aws.s3access.*` and the ECS fields
/// derived from it (see the module documentation).
static SCHEMA: Schema = {
    use slot::*;
    Schema {
        root: Cow::Borrowed(&[
            node!(
                object "aws",
                [node!(
                    object "s3access",
                    [
                        node!(leaf "bucket_owner", BUCKET_OWNER),
                        node!(leaf "bucket", BUCKET),
                        node!(leaf "remote_ip", REMOTE_IP),
                        node!(leaf "requester", REQUESTER),
                        node!(leaf "request_id", REQUEST_ID),
                        node!(leaf "operation", OPERATION),
                        node!(leaf "key", KEY),
                        node!(leaf "request_uri", REQUEST_URI),
                        node!(leaf "http_status", HTTP_STATUS),
                        node!(leaf "error_code", ERROR_CODE),
                        node!(leaf "bytes_sent", BYTES_SENT),
                        node!(leaf "object_size", OBJECT_SIZE),
                        node!(leaf "total_time", TOTAL_TIME),
                        node!(leaf "turn_around_time", TURN_AROUND_TIME),
                        node!(leaf "referrer", REFERRER),
                        node!(leaf "user_agent", USER_AGENT),
                        node!(leaf "version_id", VERSION_ID),
                        node!(leaf "host_id", HOST_ID),
                        node!(leaf "signature_version", SIGNATURE_VERSION),
                        node!(leaf "cipher_suite", CIPHER_SUITE),
                        node!(leaf "authentication_type", AUTHENTICATION_TYPE),
                        node!(leaf "host_header", HOST_HEADER),
                        node!(leaf "tls_version", TLS_VERSION),
                        node!(leaf "access_point_arn", ACCESS_POINT_ARN),
                        node!(leaf "aclrequired", ACL_REQUIRED),
                        node!(leaf "source_region", SOURCE_REGION),
                        node!(leaf "extra_fields", EXTRA_FIELDS),
                    ]
                )]
            ),
            node!(
                object "cloud",
                [
                    node!(leaf "provider", CLOUD_PROVIDER),
                    node!(leaf "region", CLOUD_REGION),
                ]
            ),
            node!(
                object "source",
                [
                    node!(leaf "address", REMOTE_IP),
                    node!(leaf "ip", REMOTE_IP),
                    node!(object "user", [node!(leaf "id", REQUESTER)]),
                ]
            ),
            node!(
                object "event",
                [
                    node!(leaf "id", REQUEST_ID),
                    node!(leaf "action", OPERATION),
                    node!(leaf "code", ERROR_CODE),
                    node!(leaf "outcome", OUTCOME),
                    node!(leaf "duration", DURATION),
                ]
            ),
            node!(
                object "http",
                [
                    node!(
                        object "request",
                        [
                            node!(leaf "method", METHOD),
                            node!(leaf "referrer", REFERRER),
                        ]
                    ),
                    node!(
                        object "response",
                        [
                            node!(leaf "status_code", HTTP_STATUS),
                            node!(object "body", [node!(leaf "bytes", BODY_BYTES)]),
                        ]
                    ),
                    node!(leaf "version", HTTP_VERSION),
                ]
            ),
            node!(
                object "url",
                [
                    node!(leaf "original", URL_ORIGINAL),
                    node!(leaf "path", URL_PATH),
                    node!(leaf "query", URL_QUERY),
                    node!(leaf "extension", URL_EXTENSION),
                ]
            ),
            node!(object "user_agent", [node!(leaf "original", USER_AGENT)]),
            node!(
                object "tls",
                [
                    node!(leaf "cipher", CIPHER_SUITE),
                    node!(leaf "version", TLS_VERSION_NUMBER),
                    node!(leaf "version_protocol", TLS_PROTOCOL),
                ]
            ),
            node!(
                object "related",
                [
                    node!(array "ip", [REMOTE_IP]),
                    node!(array "user", [BUCKET_OWNER, OTHER_USER]),
                ]
            ),
        ]),
        slots: slot::COUNT,
    }
};

/// A string field's text as read into `doc` (see [`parse_record`]): a span,
/// or a copy of text that had to be unescaped (rare).
fn text_of(doc: &FlatDoc, slot: u16) -> Option<Text> {
    match doc.get(slot) {
        Slot::Span(start, end) => Some(Text::Span(start as usize, end as usize)),
        Slot::Absent | Slot::Int(_) | Slot::Bool(_) | Slot::List(_) | Slot::Timestamp(_) => None,
        Slot::Static(_) | Slot::Owned(_) => doc
            .bytes(slot)
            .map(|b| Text::Owned(Bytes::copy_from_slice(b))),
    }
}

/// A number field as read into `doc`.
fn int_of(doc: &FlatDoc, slot: u16) -> Option<i64> {
    match doc.get(slot) {
        Slot::Int(n) => Some(n),
        _ => None,
    }
}

/// Completes a document [`parse_record`] filled: the key decoded when asked,
/// `aclrequired` typed, and the derived ECS fields (see the module
/// documentation). `line` is the input the record was read from.
fn derive(doc: &mut FlatDoc, line: &Bytes, decode_key: bool) {
    use slot::*;
    if decode_key {
        if let Some(key) = text_of(doc, KEY) {
            if let Text::Owned(decoded) = percent_decode(&key, line) {
                doc.set_owned(KEY, Value::Str(decoded));
            }
        }
    }
    // `Yes` (the only documented value) becomes `true`; anything else AWS
    // may start writing is kept as it is.
    if doc
        .bytes(ACL_REQUIRED)
        .is_some_and(|v| v.eq_ignore_ascii_case(b"yes"))
    {
        doc.set(ACL_REQUIRED, Slot::Bool(true));
    }

    doc.set(CLOUD_PROVIDER, Slot::Static("aws"));
    if let Some(host) = text_of(doc, HOST_HEADER) {
        if let Some((a, b)) = region_of_host(host.bytes(line)) {
            put(doc, CLOUD_REGION, Some(host.part(a, b)));
        }
    }
    let outcome = if doc.get(ERROR_CODE) != Slot::Absent {
        "failure"
    } else {
        "success"
    };
    doc.set(OUTCOME, Slot::Static(outcome));
    // Milliseconds to ECS nanoseconds; no AWS time comes near the limit.
    put_int(
        doc,
        DURATION,
        int_of(doc, TOTAL_TIME).and_then(|ms| ms.checked_mul(1_000_000)),
    );
    if let Some(uri) = text_of(doc, REQUEST_URI) {
        let uri_bytes = uri.bytes(line);
        let request = split_request_line(uri_bytes);
        let part = |r: Option<(usize, usize)>| r.map(|(a, b)| uri.part(a, b));
        put(doc, METHOD, part(request.method));
        put(doc, HTTP_VERSION, part(request.version));
        if let Some((a, b)) = request.target {
            let url = url_parts(&uri_bytes[a..b]);
            let within = |r: Option<(usize, usize)>| r.map(|(x, y)| uri.part(a + x, a + y));
            put(doc, URL_ORIGINAL, Some(uri.part(a, b)));
            put(doc, URL_PATH, within(url.path));
            put(doc, URL_QUERY, within(url.query));
            put(doc, URL_EXTENSION, within(url.extension));
        }
    }
    // `-` in Bytes Sent means zero bytes were sent (AWS's definition).
    let body_bytes = int_of(doc, BYTES_SENT).unwrap_or(0);
    doc.set(BODY_BYTES, Slot::Int(body_bytes));
    if let Some(tls) = text_of(doc, TLS_VERSION) {
        if let Some((protocol, (a, b))) = split_tls_version(tls.bytes(line)) {
            put(doc, TLS_VERSION_NUMBER, Some(tls.part(a, b)));
            match protocol {
                Protocol::Known(name) => doc.set(TLS_PROTOCOL, Slot::Static(name)),
                Protocol::Other(name) => doc.set_owned(TLS_PROTOCOL, Value::Str(name)),
            }
        }
    }
    if let Some(requester) = text_of(doc, REQUESTER) {
        if doc.bytes(BUCKET_OWNER) != Some(requester.bytes(line)) {
            put(doc, OTHER_USER, Some(requester));
        }
    }
}

/// Where the parts of an HTTP request line `METHOD target HTTP/x.y` are, as
/// offsets into it.
struct RequestLine {
    method: Option<(usize, usize)>,
    target: Option<(usize, usize)>,
    version: Option<(usize, usize)>,
}

/// Splits a request line. The method ends at the first space; a last word
/// `HTTP/x.y` (any case) is the protocol; what is between is the target, which
/// may itself hold spaces when a client sent them unencoded.
fn split_request_line(line: &[u8]) -> RequestLine {
    let Some(sp) = memchr(b' ', line) else {
        return RequestLine {
            method: None,
            target: Some((0, line.len())),
            version: None,
        };
    };
    let method = (sp > 0).then_some((0, sp));
    let rest_start = sp + 1;
    let rest = &line[rest_start..];
    let (target_end, version) = match memchr::memrchr(b' ', rest) {
        Some(i) if rest[i + 1..].len() > 5 && rest[i + 1..i + 6].eq_ignore_ascii_case(b"http/") => {
            (rest_start + i, Some((rest_start + i + 6, line.len())))
        }
        _ if rest.len() > 5 && rest[..5].eq_ignore_ascii_case(b"http/") => {
            (rest_start, Some((rest_start + 5, line.len())))
        }
        _ => (line.len(), None),
    };
    let target = (target_end > rest_start).then_some((rest_start, target_end));
    RequestLine {
        method,
        target,
        version,
    }
}

/// Where `url.path`, `url.query` and `url.extension` are in a request target.
struct UrlParts {
    path: Option<(usize, usize)>,
    query: Option<(usize, usize)>,
    extension: Option<(usize, usize)>,
}

fn url_parts(target: &[u8]) -> UrlParts {
    let path_end = memchr(b'?', target).unwrap_or(target.len());
    let path = &target[..path_end];
    let query = (path_end + 1 < target.len()).then_some((path_end + 1, target.len()));
    let file_start = memchr::memrchr(b'/', path).map_or(0, |i| i + 1);
    let extension = memchr::memrchr(b'.', &path[file_start..])
        .map(|i| file_start + i + 1)
        .filter(|&start| start < path.len())
        .map(|start| (start, path_end));
    UrlParts {
        path: (!path.is_empty()).then_some((0, path_end)),
        query,
        extension,
    }
}

/// The region in an S3 endpoint host name, as offsets into it: the label
/// after the last `s3` label (`bucket.s3.us-west-1.amazonaws.com`,
/// `s3.dualstack.eu-west-1…`). Legacy global endpoints (`s3.amazonaws.com`)
/// name no region.
fn region_of_host(host: &[u8]) -> Option<(usize, usize)> {
    // Walk the labels from the right, remembering the last two seen: when the
    // label `s3` is reached, the one after it (skipping `dualstack`) is the
    // region candidate.
    let mut end = host.len();
    let mut after: Option<(usize, usize)> = None;
    let mut after2: Option<(usize, usize)> = None;
    loop {
        let start = memchr::memrchr(b'.', &host[..end]).map_or(0, |i| i + 1);
        let label = &host[start..end];
        if label.eq_ignore_ascii_case(b"s3") {
            let candidate = match after {
                Some((a, b)) if host[a..b].eq_ignore_ascii_case(b"dualstack") => after2,
                other => other,
            };
            return candidate.filter(|&(a, b)| is_region(&host[a..b]));
        }
        if start == 0 {
            return None;
        }
        after2 = after;
        after = Some((start, end));
        end = start - 1;
    }
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

/// The protocol of `tls.version_protocol`.
#[derive(Debug, PartialEq)]
enum Protocol {
    Known(&'static str),
    Other(Bytes),
}

/// `TLSv1.2` / `TLSV1.2` → (`tls`, where `1.2` is), as ECS's
/// `tls.version_protocol` and `tls.version`. Values of another shape give
/// nothing.
fn split_tls_version(value: &[u8]) -> Option<(Protocol, (usize, usize))> {
    let v = value.iter().position(|&b| b == b'v' || b == b'V')?;
    if v == 0 || v + 1 >= value.len() || value[v + 1..].iter().any(|&b| b == b'v' || b == b'V') {
        return None;
    }
    let protocol = if value[..v].eq_ignore_ascii_case(b"tls") {
        Protocol::Known("tls")
    } else if value[..v].eq_ignore_ascii_case(b"ssl") {
        Protocol::Known("ssl")
    } else {
        Protocol::Other(Bytes::from(value[..v].to_ascii_lowercase()))
    };
    Some((protocol, (v + 1, value.len())))
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
    // chrono validates the date (31/Feb is rejected) and the time of day.
    let local = NaiveDate::from_ymd_opt(year as i32, month, day)?
        .and_hms_opt(hour, minute, second)?
        .and_utc();
    let offset = sign * (i64::from(off_h) * 3600 + i64::from(off_m) * 60);
    if offset == 0 {
        // AWS always writes `+0000`: no need to go through a timestamp and
        // back, which costs a second calendar computation.
        return Some(local);
    }
    DateTime::from_timestamp(local.timestamp() - offset, 0)
}

#[inline(always)]
fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// `Jan` … `Dec`, in any case.
fn month_number(s: &[u8]) -> Option<u32> {
    let &[a, b, c] = s else {
        return None;
    };
    // `| 0x20` lower-cases ASCII letters and turns no other byte into one.
    Some(match &[a | 0x20, b | 0x20, c | 0x20] {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// Whether `s` is an IPv4 or IPv6 address as `IpAddr`'s parser accepts them.
/// `is_ipv4` accepts exactly what `Ipv4Addr`'s parser does, so only IPv6 is
/// left to the standard library, rather than parsing IPv4 a second time on
/// the way there.
fn is_ip(s: &[u8]) -> bool {
    is_ipv4(s) || std::str::from_utf8(s).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
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
/// invalid `%` sequence is kept as written. Unchanged keys stay spans.
fn percent_decode(key: &Text, line: &[u8]) -> Text {
    let key_bytes = key.bytes(line);
    if memchr2(b'%', b'+', key_bytes).is_none() {
        return key.clone();
    }
    Text::Owned(decode_percent(key_bytes))
}

fn decode_percent(key: &[u8]) -> Bytes {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Path;
    use proptest::prelude::*;
    use std::net::IpAddr;

    /// The sample records of `shared/formats/s3-access-log.md`, §3.
    const SAMPLE_1: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"#;
    const SAMPLE_2: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 891CE47D2EXAMPLE REST.GET.LOGGING_STATUS - "GET /amzn-s3-demo-bucket1?logging HTTP/1.1" 200 - 242 - 11 - "-" "S3Console/0.4" - 9vKBE6vMhrNiWHZmb2L0mXOcqPGzQOI5XLnCtZNPxev+Hf+7tpT6sxDwDty4LHBUOZJG96N1234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 - - us-east-1"#;
    const SAMPLE_3: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be A1206F460EXAMPLE REST.GET.BUCKETPOLICY - "GET /awsexamplebucket1?policy HTTP/1.1" 404 NoSuchBucketPolicy 297 - 38 - "-" "S3Console/0.4" - BNaBsXZQQDbssi6xMBdBU2sLt+Yf5kZDmeBUP35sFoKa3sLLeMC78iwEIWxs99CRUrbS4n11234= SigV2 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#;
    const SAMPLE_4: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg.pdf "PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "S3Console/0.4" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1"#;
    const SAMPLE_5: &str = r#"36c1f05b76016b78528454e6e0c60e2b7ff7aa20c0a5e4c748276e5b0a2debd2 jsoriano-s3-test [10/Sep/2019:15:11:07 +0000] 89.160.20.156 arn:aws:iam::123456:user/test@elastic.co 8CD7A4A71E2E5C9E BATCH.DELETE.OBJECT jolokia-war-1.5.0.war - 204 - - 344017 - - - - - IeDW5I3wefFxU8iHOcAzi5qr+O+1bdRlcQ0AO2WGjFh7JwYM6qCoKq+1TrUshrXMlBxPFtg97Vk= SigV4 ECDHE-RSA-AES128-SHA AuthHeader s3.eu-central-1.amazonaws.com TLSv1.2"#;

    const OWNER: &str = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";

    fn owned(b: Option<Bytes>) -> Option<Text> {
        b.map(Text::Owned)
    }

    /// One record as the tests write it down: every field of the log in
    /// order, `None` for a `-` (or a trailing field the line is too old to
    /// have), strings as their text.
    #[derive(Debug, Clone, PartialEq)]
    struct S3Record {
        bucket_owner: Option<Text>,
        bucket: Option<Text>,
        time: DateTime<Utc>,
        remote_ip: Option<Text>,
        requester: Option<Text>,
        request_id: Option<Text>,
        operation: Option<Text>,
        key: Option<Text>,
        request_uri: Option<Text>,
        http_status: Option<i64>,
        error_code: Option<Text>,
        bytes_sent: Option<i64>,
        object_size: Option<i64>,
        total_time: Option<i64>,
        turn_around_time: Option<i64>,
        referrer: Option<Text>,
        user_agent: Option<Text>,
        version_id: Option<Text>,
        host_id: Option<Text>,
        signature_version: Option<Text>,
        cipher_suite: Option<Text>,
        authentication_type: Option<Text>,
        host_header: Option<Text>,
        tls_version: Option<Text>,
        access_point_arn: Option<Text>,
        acl_required: Option<Text>,
        source_region: Option<Text>,
        /// Fields after the 27th, verbatim.
        extra_fields: Vec<Text>,
    }

    /// The record [`parse_record`] read into `doc`, every string as the
    /// text it holds, to compare with records built from strings. A slot
    /// holding a value of the wrong type fails the test.
    fn record_of(doc: &FlatDoc, time: DateTime<Utc>) -> S3Record {
        use slot::*;
        let text = |slot: u16| match doc.get(slot) {
            Slot::Absent => None,
            Slot::Span(..) | Slot::Owned(_) => match doc.bytes(slot) {
                Some(b) => Some(Text::Owned(Bytes::copy_from_slice(b))),
                None => panic!("slot {slot} is not a string"),
            },
            other => panic!("slot {slot} holds {other:?}, not a string"),
        };
        let int = |slot: u16| match doc.get(slot) {
            Slot::Absent => None,
            Slot::Int(n) => Some(n),
            other => panic!("slot {slot} holds {other:?}, not a number"),
        };
        let extra_fields = match doc.node_value(&node!(leaf "extra_fields", EXTRA_FIELDS)) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::Str(b) => Text::Owned(b),
                    other => panic!("extra field {other:?}"),
                })
                .collect(),
            Some(other) => panic!("extra fields {other:?}"),
        };
        S3Record {
            bucket_owner: text(BUCKET_OWNER),
            bucket: text(BUCKET),
            time,
            remote_ip: text(REMOTE_IP),
            requester: text(REQUESTER),
            request_id: text(REQUEST_ID),
            operation: text(OPERATION),
            key: text(KEY),
            request_uri: text(REQUEST_URI),
            http_status: int(HTTP_STATUS),
            error_code: text(ERROR_CODE),
            bytes_sent: int(BYTES_SENT),
            object_size: int(OBJECT_SIZE),
            total_time: int(TOTAL_TIME),
            turn_around_time: int(TURN_AROUND_TIME),
            referrer: text(REFERRER),
            user_agent: text(USER_AGENT),
            version_id: text(VERSION_ID),
            host_id: text(HOST_ID),
            signature_version: text(SIGNATURE_VERSION),
            cipher_suite: text(CIPHER_SUITE),
            authentication_type: text(AUTHENTICATION_TYPE),
            host_header: text(HOST_HEADER),
            tls_version: text(TLS_VERSION),
            access_point_arn: text(ACCESS_POINT_ARN),
            acl_required: text(ACL_REQUIRED),
            source_region: text(SOURCE_REGION),
            extra_fields,
        }
    }

    fn parse_with(line: &str, options: S3AccessOptions) -> Result<Parsed, ParseError> {
        let mut out = Vec::new();
        S3AccessParser::new(options).parse(
            &Bytes::copy_from_slice(line.as_bytes()),
            &Event::from_text(""),
            &mut out,
        )?;
        assert_eq!(out.len(), 1, "one record per line");
        Ok(out.remove(0))
    }

    fn parse(line: &str) -> Parsed {
        match parse_with(line, S3AccessOptions::default()) {
            Ok(p) => p,
            Err(e) => panic!("{line}\n{e}"),
        }
    }

    fn error(line: &str) -> String {
        match parse_with(line, S3AccessOptions::default()) {
            Ok(p) => panic!("{line} should fail, parsed as {:?}", p.value),
            Err(e) => e.reason,
        }
    }

    fn get<'a>(p: &'a Parsed, path: &str) -> Option<&'a Value> {
        p.value.as_object()?.get_path(&Path::parse(path).ok()?)
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    /// Asserts `path: value` pairs (`None`: the field must be absent).
    fn check(p: &Parsed, expected: &[(&str, Option<Value>)]) {
        for (path, value) in expected {
            assert_eq!(get(p, path), value.as_ref(), "{path}");
        }
    }

    #[test]
    fn sample_1_every_field() {
        let p = parse(SAMPLE_1);
        assert_eq!(
            p.timestamp.map(|t| t.to_rfc3339()),
            Some("2019-02-06T00:00:38+00:00".to_owned())
        );
        let a = "aws.s3access.";
        let f = |k: &str| format!("{a}{k}");
        check(
            &p,
            &[
                (&f("bucket_owner"), Some(s(OWNER))),
                (&f("bucket"), Some(s("amzn-s3-demo-bucket1"))),
                (&f("remote_ip"), Some(s("192.0.2.3"))),
                (&f("requester"), Some(s(OWNER))),
                (&f("request_id"), Some(s("3E57427F3EXAMPLE"))),
                (&f("operation"), Some(s("REST.GET.VERSIONING"))),
                (&f("key"), None),
                (
                    &f("request_uri"),
                    Some(s("GET /amzn-s3-demo-bucket1?versioning HTTP/1.1")),
                ),
                (&f("http_status"), Some(Value::Int(200))),
                (&f("error_code"), None),
                (&f("bytes_sent"), Some(Value::Int(113))),
                (&f("object_size"), None),
                (&f("total_time"), Some(Value::Int(7))),
                (&f("turn_around_time"), None),
                (&f("referrer"), None),
                (&f("user_agent"), Some(s("S3Console/0.4"))),
                (&f("version_id"), None),
                (
                    &f("host_id"),
                    Some(s("s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=")),
                ),
                (&f("signature_version"), Some(s("SigV4"))),
                (&f("cipher_suite"), Some(s("ECDHE-RSA-AES128-GCM-SHA256"))),
                (&f("authentication_type"), Some(s("AuthHeader"))),
                (
                    &f("host_header"),
                    Some(s("amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com")),
                ),
                (&f("tls_version"), Some(s("TLSV1.2"))),
                (
                    &f("access_point_arn"),
                    Some(s("arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP")),
                ),
                (&f("aclrequired"), Some(Value::Bool(true))),
                (&f("source_region"), Some(s("us-east-1"))),
                (&f("extra_fields"), None),
                // ECS
                ("source.address", Some(s("192.0.2.3"))),
                ("source.ip", Some(s("192.0.2.3"))),
                ("source.user.id", Some(s(OWNER))),
                ("event.id", Some(s("3E57427F3EXAMPLE"))),
                ("event.action", Some(s("REST.GET.VERSIONING"))),
                ("event.code", None),
                ("event.outcome", Some(s("success"))),
                ("event.duration", Some(Value::Int(7_000_000))),
                ("http.request.method", Some(s("GET"))),
                ("http.request.referrer", None),
                ("http.response.status_code", Some(Value::Int(200))),
                ("http.response.body.bytes", Some(Value::Int(113))),
                ("http.version", Some(s("1.1"))),
                ("url.original", Some(s("/amzn-s3-demo-bucket1?versioning"))),
                ("url.path", Some(s("/amzn-s3-demo-bucket1"))),
                ("url.query", Some(s("versioning"))),
                ("url.extension", None),
                ("user_agent.original", Some(s("S3Console/0.4"))),
                ("tls.cipher", Some(s("ECDHE-RSA-AES128-GCM-SHA256"))),
                ("tls.version", Some(s("1.2"))),
                ("tls.version_protocol", Some(s("tls"))),
                ("cloud.provider", Some(s("aws"))),
                ("cloud.region", Some(s("us-west-1"))),
                ("related.ip", Some(Value::Array(vec![s("192.0.2.3")]))),
                // Bucket owner and requester are the same user: listed once.
                ("related.user", Some(Value::Array(vec![s(OWNER)]))),
            ],
        );
    }

    #[test]
    fn sample_2_absent_access_point_and_acl() {
        let p = parse(SAMPLE_2);
        check(
            &p,
            &[
                ("aws.s3access.operation", Some(s("REST.GET.LOGGING_STATUS"))),
                ("aws.s3access.bytes_sent", Some(Value::Int(242))),
                ("aws.s3access.total_time", Some(Value::Int(11))),
                ("aws.s3access.access_point_arn", None),
                ("aws.s3access.aclrequired", None),
                ("aws.s3access.source_region", Some(s("us-east-1"))),
                ("url.query", Some(s("logging"))),
            ],
        );
    }

    #[test]
    fn sample_3_error_code_and_24_fields() {
        let p = parse(SAMPLE_3);
        check(
            &p,
            &[
                ("aws.s3access.http_status", Some(Value::Int(404))),
                ("aws.s3access.error_code", Some(s("NoSuchBucketPolicy"))),
                ("aws.s3access.bytes_sent", Some(Value::Int(297))),
                ("aws.s3access.total_time", Some(Value::Int(38))),
                ("aws.s3access.signature_version", Some(s("SigV2"))),
                ("aws.s3access.tls_version", Some(s("TLSV1.1"))),
                ("aws.s3access.access_point_arn", None),
                ("aws.s3access.source_region", None),
                ("event.code", Some(s("NoSuchBucketPolicy"))),
                ("event.outcome", Some(s("failure"))),
                ("http.response.status_code", Some(Value::Int(404))),
                ("tls.version", Some(s("1.1"))),
            ],
        );
    }

    #[test]
    fn sample_4_put_object() {
        let p = parse(SAMPLE_4);
        assert_eq!(
            p.timestamp.map(|t| t.to_rfc3339()),
            Some("2019-02-06T00:01:57+00:00".to_owned())
        );
        check(
            &p,
            &[
                ("aws.s3access.key", Some(s("s3-dg.pdf"))),
                ("aws.s3access.bytes_sent", None),
                ("aws.s3access.object_size", Some(Value::Int(4406583))),
                ("aws.s3access.total_time", Some(Value::Int(41754))),
                ("aws.s3access.turn_around_time", Some(Value::Int(28))),
                // `-` in Bytes Sent means zero bytes.
                ("http.response.body.bytes", Some(Value::Int(0))),
                ("http.request.method", Some(s("PUT"))),
                ("url.original", Some(s("/awsexamplebucket1/s3-dg.pdf"))),
                ("url.path", Some(s("/awsexamplebucket1/s3-dg.pdf"))),
                ("url.extension", Some(s("pdf"))),
                ("url.query", None),
                ("event.duration", Some(Value::Int(41_754_000_000))),
                ("tls.cipher", Some(s("ECDHE-RSA-AES128-SHA"))),
            ],
        );
    }

    #[test]
    fn sample_5_bare_dashes_for_quoted_fields() {
        let p = parse(SAMPLE_5);
        check(
            &p,
            &[
                ("aws.s3access.bucket", Some(s("jsoriano-s3-test"))),
                ("aws.s3access.remote_ip", Some(s("89.160.20.156"))),
                (
                    "aws.s3access.requester",
                    Some(s("arn:aws:iam::123456:user/test@elastic.co")),
                ),
                ("aws.s3access.operation", Some(s("BATCH.DELETE.OBJECT"))),
                ("aws.s3access.key", Some(s("jolokia-war-1.5.0.war"))),
                ("aws.s3access.request_uri", None),
                ("aws.s3access.http_status", Some(Value::Int(204))),
                ("aws.s3access.bytes_sent", None),
                ("aws.s3access.object_size", Some(Value::Int(344017))),
                ("aws.s3access.total_time", None),
                ("aws.s3access.turn_around_time", None),
                ("aws.s3access.referrer", None),
                ("aws.s3access.user_agent", None),
                ("aws.s3access.version_id", None),
                ("aws.s3access.tls_version", Some(s("TLSv1.2"))),
                ("aws.s3access.access_point_arn", None),
                ("aws.s3access.aclrequired", None),
                ("aws.s3access.source_region", None),
                ("http.request", None),
                ("url", None),
                ("user_agent", None),
                ("event.duration", None),
                ("http.response.body.bytes", Some(Value::Int(0))),
                ("cloud.region", Some(s("eu-central-1"))),
                ("tls.version", Some(s("1.2"))),
                (
                    "related.user",
                    Some(Value::Array(vec![
                        s("36c1f05b76016b78528454e6e0c60e2b7ff7aa20c0a5e4c748276e5b0a2debd2"),
                        s("arn:aws:iam::123456:user/test@elastic.co"),
                    ])),
                ),
            ],
        );
    }

    #[test]
    fn strings_are_slices_of_the_input() {
        let input = Bytes::from_static(SAMPLE_1.as_bytes());
        let (mut doc, _) = parse_record(&input).unwrap();
        derive(&mut doc, &input, false);
        use slot::*;
        for slot in [BUCKET, REQUEST_URI, USER_AGENT, SOURCE_REGION, URL_PATH] {
            let v = doc.get(slot);
            assert!(matches!(v, Slot::Span(..)), "{slot}: {v:?} was copied");
        }
    }

    /// The oldest lines (18 fields) up to today's (27) parse, and fields AWS
    /// appends later are kept in order.
    #[test]
    fn short_and_long_lines() {
        let fields: Vec<&str> = SAMPLE_1.split(' ').collect();
        // SAMPLE_1 has 27 fields; the time takes two words, the request URI three.
        assert_eq!(fields.len(), 30);
        for n in 18..=27 {
            let line = fields[..n + 3].join(" ");
            let p = parse(&line);
            let region = get(&p, "aws.s3access.source_region").cloned();
            assert_eq!(region, (n == 27).then(|| s("us-east-1")), "{n} fields");
        }
        let p = parse(&format!("{SAMPLE_1} NewField - \"quoted future\""));
        assert_eq!(
            get(&p, "aws.s3access.extra_fields"),
            Some(&Value::Array(vec![
                s("NewField"),
                s("-"),
                s("quoted future")
            ]))
        );
        assert_eq!(get(&p, "aws.s3access.source_region"), Some(&s("us-east-1")));
    }

    #[test]
    fn too_short_lines_name_the_missing_field() {
        let fields: Vec<&str> = SAMPLE_1.split(' ').collect();
        let line = fields[..20].join(" ");
        assert_eq!(
            error(&line),
            "field 18 (version ID): missing: the record ends after 17 fields; S3 access log records have at least 18"
        );
        assert!(error("owner").starts_with("field 2 (bucket): missing"));
        assert!(error("").starts_with("empty record"));
        assert!(error("   \r\n").starts_with("empty record"));
    }

    #[test]
    fn errors_name_field_and_value() {
        let bad_status = SAMPLE_1.replace(" 200 ", " abc ");
        assert_eq!(
            error(&bad_status),
            "field 10 (http status): expected a number or `-`, found `abc`"
        );
        let bad_bytes = SAMPLE_1.replace(" 113 ", " -1 ");
        assert_eq!(
            error(&bad_bytes),
            "field 12 (bytes sent): expected a number or `-`, found `-1`"
        );
        let huge = SAMPLE_1.replace(" 113 ", " 99999999999999999999 ");
        assert!(error(&huge).starts_with("field 12 (bytes sent)"));
        let bad_ip = SAMPLE_1.replace("192.0.2.3", "not-an-ip");
        assert_eq!(
            error(&bad_ip),
            "field 4 (remote IP): expected an IP address or `-`, found `not-an-ip`"
        );
        let bad_time = SAMPLE_1.replace("06/Feb/2019", "06/Fev/2019");
        assert_eq!(
            error(&bad_time),
            "field 3 (time): expected a time like `[06/Feb/2019:00:00:38 +0000]`, found `[06/Fev/2019:00:00:38 +0000]`"
        );
        let no_bracket = SAMPLE_1.replace("[06/Feb/2019:00:00:38 +0000]", "06/Feb/2019:00:00:38");
        assert!(error(&no_bracket)
            .starts_with("field 3 (time): expected `[dd/Mon/yyyy:HH:MM:SS +zzzz]`"));
        let unclosed = SAMPLE_1.replace("+0000]", "+0000");
        assert!(error(&unclosed).contains("never closed"));
        let glued = SAMPLE_1.replace("+0000] ", "+0000]x ");
        assert!(error(&glued).starts_with("field 3 (time): expected a space"));
        let open_quote = SAMPLE_1.replace("\"S3Console/0.4\"", "\"S3Console/0.4");
        assert!(
            error(&open_quote).starts_with("field 17 (user agent): a quoted value is never closed")
        );
        let impossible = SAMPLE_1.replace("06/Feb/2019", "30/Feb/2019");
        assert!(error(&impossible).starts_with("field 3 (time)"));
    }

    #[test]
    fn quoted_values_with_spaces_and_escapes() {
        let ua =
            "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2 prompt/off command/s3.cp";
        let line = SAMPLE_1.replace("\"S3Console/0.4\"", &format!("\"{ua}\""));
        let p = parse(&line);
        assert_eq!(get(&p, "user_agent.original"), Some(&s(ua)));
        assert_eq!(get(&p, "aws.s3access.version_id"), None);

        let line = SAMPLE_1.replace("\"S3Console/0.4\"", r#""say \"hi\" \\o/""#);
        let p = parse(&line);
        assert_eq!(get(&p, "user_agent.original"), Some(&s(r#"say "hi" \o/"#)));

        // An unescaped quote inside a value is kept when no space follows it.
        let line = SAMPLE_1.replace("\"S3Console/0.4\"", r#""a"b c""#);
        assert_eq!(
            get(&parse(&line), "user_agent.original"),
            Some(&s(r#"a"b c"#))
        );

        // Quoted `"-"` and bare `-` are both absent; a real referer is kept.
        let line = SAMPLE_1.replace("\"-\"", "\"http://www.example.com/webservices\"");
        let p = parse(&line);
        assert_eq!(
            get(&p, "http.request.referrer"),
            Some(&s("http://www.example.com/webservices"))
        );
        assert_eq!(
            get(&p, "aws.s3access.referrer"),
            Some(&s("http://www.example.com/webservices"))
        );
        let line = SAMPLE_1.replace("\"-\"", "-");
        assert_eq!(get(&parse(&line), "aws.s3access.referrer"), None);
    }

    #[test]
    fn request_uri_with_custom_query_and_no_protocol() {
        let line = SAMPLE_4.replace(
            "\"PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1\"",
            "\"GET /awsexamplebucket1/photos/2019/08/puppy.jpg?x-user=johndoe HTTP/1.1\"",
        );
        let p = parse(&line);
        check(
            &p,
            &[
                (
                    "url.path",
                    Some(s("/awsexamplebucket1/photos/2019/08/puppy.jpg")),
                ),
                ("url.query", Some(s("x-user=johndoe"))),
                ("url.extension", Some(s("jpg"))),
            ],
        );
        let line = SAMPLE_4.replace(" HTTP/1.1\"", "\"");
        let p = parse(&line);
        check(
            &p,
            &[
                ("http.request.method", Some(s("PUT"))),
                ("url.original", Some(s("/awsexamplebucket1/s3-dg.pdf"))),
                ("http.version", None),
            ],
        );
    }

    #[test]
    fn keys_stay_encoded_unless_asked() {
        let line = SAMPLE_4.replace(
            " s3-dg.pdf ",
            " Screen+Shot+2019-09-09+at+9.08.44+AM%2C1.png ",
        );
        let p = parse(&line);
        assert_eq!(
            get(&p, "aws.s3access.key"),
            Some(&s("Screen+Shot+2019-09-09+at+9.08.44+AM%2C1.png"))
        );
        let p = parse_with(&line, S3AccessOptions { decode_key: true }).unwrap();
        assert_eq!(
            get(&p, "aws.s3access.key"),
            Some(&s("Screen Shot 2019-09-09 at 9.08.44 AM,1.png"))
        );
        assert_eq!(decode_percent(b"a%zz%4"), "a%zz%4");
    }

    #[test]
    fn copy_operation_get_side() {
        let line = SAMPLE_4.replace("REST.PUT.OBJECT", "REST.COPY.OBJECT_GET");
        let p = parse(&line);
        assert_eq!(get(&p, "event.action"), Some(&s("REST.COPY.OBJECT_GET")));
    }

    #[test]
    fn requesters_of_every_kind() {
        for requester in [
            "arn:aws:sts::123456789012:assumed-role/Role/session",
            "svc:delivery.logs.amazonaws.com",
            "AmazonS3",
        ] {
            let line = SAMPLE_1.replace(&format!(" {OWNER} 3E57"), &format!(" {requester} 3E57"));
            let p = parse(&line);
            assert_eq!(get(&p, "aws.s3access.requester"), Some(&s(requester)));
        }
        let line = SAMPLE_1.replace(&format!(" {OWNER} 3E57"), " - 3E57");
        let p = parse(&line);
        assert_eq!(get(&p, "aws.s3access.requester"), None);
        assert_eq!(get(&p, "source.user"), None);
    }

    #[test]
    fn details() {
        // Line terminators, IPv6 and dashed remote IPs, time zones.
        let p = parse(&format!("{SAMPLE_1}\r\n"));
        assert_eq!(get(&p, "aws.s3access.source_region"), Some(&s("us-east-1")));
        let p = parse(&SAMPLE_1.replace("192.0.2.3", "2001:db8::1"));
        assert_eq!(get(&p, "source.ip"), Some(&s("2001:db8::1")));
        let p = parse(&SAMPLE_1.replace("192.0.2.3", "-"));
        assert_eq!(
            get(&p, "source"),
            Some(&Value::Object({
                let mut f = Fields::new();
                let mut u = Fields::new();
                u.insert("id", s(OWNER));
                f.insert("user", Value::Object(u));
                f
            }))
        );
        let p = parse(&SAMPLE_1.replace("+0000]", "-0130]"));
        assert_eq!(
            p.timestamp.map(|t| t.to_rfc3339()),
            Some("2019-02-06T01:30:38+00:00".to_owned())
        );
        // Host headers: legacy global endpoints name no region.
        for (host, region) in [
            (
                "bucket.s3.dualstack.eu-west-1.amazonaws.com",
                Some("eu-west-1"),
            ),
            (
                "my.s3.bucket.s3.us-gov-west-1.amazonaws.com",
                Some("us-gov-west-1"),
            ),
            ("s3.amazonaws.com", None),
            ("bucket.s3-website-us-east-1.amazonaws.com", None),
        ] {
            let got = region_of_host(host.as_bytes()).map(|(a, b)| &host[a..b]);
            assert_eq!(got, region, "{host}");
        }
        assert_eq!(
            split_tls_version(b"TLSv1.3"),
            Some((Protocol::Known("tls"), (4, 7)))
        );
        assert_eq!(
            split_tls_version(b"QUICv1"),
            Some((Protocol::Other(Bytes::from_static(b"quic")), (5, 6)))
        );
        assert!(split_tls_version(b"weird").is_none());
        // Extra spaces between fields do not shift them.
        let p = parse(&SAMPLE_1.replace(" 200 ", "  200  "));
        assert_eq!(get(&p, "aws.s3access.http_status"), Some(&Value::Int(200)));
    }

    #[test]
    fn options_are_checked() {
        use crate::config::{from_node, yaml};
        let node = yaml::parse("decode_key: true").unwrap();
        assert!(from_node::<S3AccessOptions>(&node).unwrap().decode_key);
        let node = yaml::parse("decode: true").unwrap();
        let e = from_node::<S3AccessOptions>(&node).unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        let parser = crate::parsers::registry::build("s3_access", &yaml::parse("{}").unwrap());
        assert!(parser.is_ok());
    }

    // Property tests: a generated record renders to a line that parses back
    // to the same record; no input panics.

    fn bare() -> impl Strategy<Value = Option<Bytes>> {
        prop::option::of("[!-~]{1,24}".prop_filter("not -", |s| s != "-"))
            .prop_map(|o| o.map(Bytes::from))
    }

    fn quoted() -> impl Strategy<Value = Option<Bytes>> {
        prop::option::of("[ -~]{0,40}".prop_filter("not -", |s| s != "-"))
            .prop_map(|o| o.map(Bytes::from))
    }

    fn number() -> impl Strategy<Value = Option<i64>> {
        prop::option::of(prop_oneof![0..1000i64, 0..i64::MAX])
    }

    fn render_bare(v: &Option<Bytes>) -> String {
        v.as_ref()
            .map_or("-".to_owned(), |b| String::from_utf8_lossy(b).into_owned())
    }

    fn render_quoted(v: &Option<Bytes>, bare_dash: bool) -> String {
        match v {
            None if bare_dash => "-".to_owned(),
            None => "\"-\"".to_owned(),
            Some(b) => {
                let text = String::from_utf8_lossy(b);
                format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
            }
        }
    }

    fn render_number(v: Option<i64>) -> String {
        v.map_or("-".to_owned(), |n| n.to_string())
    }

    fn record() -> impl Strategy<Value = (S3Record, String)> {
        let head = (
            prop::option::of("[0-9a-f]{64}").prop_map(|o| o.map(Bytes::from)),
            bare(),
            0i64..4_102_444_800,
            prop::option::of(any::<IpAddr>()),
            bare(),
            bare(),
            bare(),
            bare(),
            quoted(),
            number(),
            bare(),
        );
        let middle = (
            number(),
            number(),
            number(),
            number(),
            quoted(),
            quoted(),
            bare(),
            any::<bool>(),
            -(14 * 60)..(14 * 60i64),
        );
        let tail = (
            prop::collection::vec(bare(), 9),
            0usize..=9,
            prop::collection::vec("[a-zA-Z0-9=+/._:-]{1,12}", 0..3),
        );
        (head, middle, tail).prop_map(|(h, m, t)| {
            let (
                owner,
                bucket,
                secs,
                ip,
                requester,
                request_id,
                operation,
                key,
                uri,
                status,
                error_code,
            ) = h;
            let (
                bytes_sent,
                object_size,
                total,
                turn,
                referrer,
                user_agent,
                version_id,
                bare_dash,
                offset_min,
            ) = m;
            let (mut trailing, present, extra) = t;
            let extra = if present == 9 { extra } else { Vec::new() };
            for v in trailing.iter_mut().skip(present) {
                *v = None;
            }
            let time = DateTime::from_timestamp(secs, 0).unwrap();
            let local = time + chrono::Duration::minutes(offset_min);
            let sign = if offset_min < 0 { '-' } else { '+' };
            let time_text = format!(
                "[{} {sign}{:02}{:02}]",
                local.format("%d/%b/%Y:%H:%M:%S"),
                offset_min.abs() / 60,
                offset_min.abs() % 60
            );
            let remote_ip = ip.map(|ip| Bytes::from(ip.to_string()));
            let mut words = vec![
                render_bare(&owner),
                render_bare(&bucket),
                time_text,
                render_bare(&remote_ip),
                render_bare(&requester),
                render_bare(&request_id),
                render_bare(&operation),
                render_bare(&key),
                render_quoted(&uri, bare_dash),
                render_number(status),
                render_bare(&error_code),
                render_number(bytes_sent),
                render_number(object_size),
                render_number(total),
                render_number(turn),
                render_quoted(&referrer, bare_dash),
                render_quoted(&user_agent, bare_dash),
                render_bare(&version_id),
            ];
            words.extend(trailing.iter().take(present).map(render_bare));
            words.extend(extra.iter().cloned());
            let record = S3Record {
                bucket_owner: owned(owner),
                bucket: owned(bucket),
                time,
                remote_ip: owned(remote_ip),
                requester: owned(requester),
                request_id: owned(request_id),
                operation: owned(operation),
                key: owned(key),
                request_uri: owned(uri),
                http_status: status,
                error_code: owned(error_code),
                bytes_sent,
                object_size,
                total_time: total,
                turn_around_time: turn,
                referrer: owned(referrer),
                user_agent: owned(user_agent),
                version_id: owned(version_id),
                host_id: owned(trailing[0].clone()),
                signature_version: owned(trailing[1].clone()),
                cipher_suite: owned(trailing[2].clone()),
                authentication_type: owned(trailing[3].clone()),
                host_header: owned(trailing[4].clone()),
                tls_version: owned(trailing[5].clone()),
                access_point_arn: owned(trailing[6].clone()),
                acl_required: owned(trailing[7].clone()),
                source_region: owned(trailing[8].clone()),
                extra_fields: extra
                    .into_iter()
                    .map(|e| Text::Owned(Bytes::from(e)))
                    .collect(),
            };
            (record, words.join(" "))
        })
    }

    proptest! {
        #[test]
        fn rendered_records_parse_back((record, line) in record()) {
            let input = Bytes::from(line.clone());
            let parsed = parse_record(&input);
            let read = parsed.as_ref().map(|(doc, time)| record_of(doc, *time));
            prop_assert_eq!(read.as_ref(), Ok(&record), "{}", line);
            // Completing the document never fails either.
            if let Ok((mut doc, _)) = parsed {
                derive(&mut doc, &input, true);
                let fields = Fields::from(doc);
                prop_assert!(fields.get("aws").is_some());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_with(&String::from_utf8_lossy(&bytes), S3AccessOptions { decode_key: true });
            let _ = parse_record(&Bytes::from(bytes));
        }

        #[test]
        fn damaged_lines_never_panic(
            cut in 0usize..SAMPLE_1.len(),
            at in 0usize..SAMPLE_1.len(),
            byte in prop::sample::select(vec![b' ', b'"', b'[', b']', b'\\', b'-', b'x', b'0', 0xff]),
        ) {
            let mut line = SAMPLE_1.as_bytes()[..cut].to_vec();
            if at < line.len() {
                line[at] = byte;
            }
            let input = Bytes::from(line);
            if let Ok((mut doc, _)) = parse_record(&input) {
                derive(&mut doc, &input, true);
                let _ = Fields::from(doc).len();
            }
        }
    }
}
