//! `format: syslog` — RFC 5424 and RFC 3164 (BSD) syslog messages.
//!
//! A hand-written, single-pass, zero-copy parser: every string it produces
//! (hostname, app name, SD parameter values, the message) is a [`Bytes`] slice
//! of the input; only SD values holding `\"`, `\\` or `\]` are copied to be
//! unescaped. The fields follow ECS (`log.syslog.*`, `host.hostname`,
//! `message`) as Filebeat's syslog processor writes them, so Kibana
//! dashboards built on Filebeat data keep working.
//!
//! Which of the two formats a line is in is decided per line in `mode: auto`:
//! RFC 5424 puts a version number right after the PRI (`<165>1 `), RFC 3164
//! never does. Error messages say which format was being read, what was
//! expected, and at which byte (0-based) of the line.
//!
//! RFC 3164 timestamps have neither a year nor a time zone. The zone comes
//! from the `timezone` option; the year is the latest that does not put the
//! line more than [`FUTURE_TOLERANCE_SECS`] (two days) ahead of "now". Logs
//! are read after they are written, so a `Dec 31` line read on `Jan 1` is
//! from last year, and a `Feb 5` line read in December is from February of
//! this year, not two months ahead (as in rsyslog, Logstash and Vector). The
//! tolerance is for senders whose clock or zone is off: a `Jan 1` line read a
//! minute before midnight on `Dec 31` is from next year. "Now" comes from a
//! [`Clock`] that tests replace.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Datelike, FixedOffset, Local, LocalResult, Offset, TimeZone, Utc};

use super::rfc3339::{self, days_from_civil, days_in_month};
use super::scan::{HIGHS, ONES};
use super::{ParseError, Parsed, Parser};
use crate::event::{Event, Fields, Value};

/// Which syslog dialect(s) `format: syslog` accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogMode {
    /// Decide per line: RFC 5424 when a version follows the PRI, else RFC 3164.
    #[default]
    Auto,
    /// Only RFC 5424; anything else is a parse error.
    Rfc5424,
    /// Only RFC 3164 (BSD), with the usual real-world deviations tolerated.
    Rfc3164,
}

/// The time zone RFC 3164 timestamps are read in (they carry none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Timezone {
    /// The zone of the machine weir runs on, daylight-saving rules included:
    /// what Logstash, Filebeat and Vector assume when nothing is configured.
    #[default]
    Local,
    /// A fixed offset from UTC (`UTC`, `Z`, `+02:00`, `-0530`).
    Fixed(FixedOffset),
}

impl Timezone {
    /// Reads `local`, `UTC`/`Z`, or an offset `±hh:mm` / `±hhmm` / `±hh`.
    pub fn parse(text: &str) -> Result<Timezone, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("local") {
            return Ok(Timezone::Local);
        }
        if t.eq_ignore_ascii_case("utc") || t == "Z" || t.eq_ignore_ascii_case("gmt") {
            return Ok(Timezone::Fixed(
                FixedOffset::east_opt(0).unwrap_or(Utc.fix()),
            ));
        }
        let bad = || {
            format!(
                "invalid timezone `{text}`: expected `local`, `UTC`, or an offset such as `+02:00` or `-0530`"
            )
        };
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if !digits.bytes().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
            return Err(bad());
        }
        let h: i32 = digits[..2].parse().map_err(|_| bad())?;
        let m: i32 = if digits.len() == 4 {
            digits[2..].parse().map_err(|_| bad())?
        } else {
            0
        };
        if h > 23 || m > 59 {
            return Err(bad());
        }
        FixedOffset::east_opt(sign * (h * 3600 + m * 60))
            .map(Timezone::Fixed)
            .ok_or_else(bad)
    }

    /// Seconds to add to a UTC time to get this zone's wall-clock time at `t`.
    fn offset_at_utc(self, t: DateTime<Utc>) -> i64 {
        match self {
            Timezone::Fixed(o) => i64::from(o.local_minus_utc()),
            Timezone::Local => i64::from(
                Local
                    .offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ),
        }
    }

    /// The UTC instant of a wall-clock time given as seconds since the local
    /// epoch. A time that a daylight-saving change makes ambiguous takes the
    /// earlier instant; one that falls into a gap is read with the offset in
    /// force just before it.
    fn to_utc(self, local_secs: i64, nanos: u32) -> Option<DateTime<Utc>> {
        match self {
            Timezone::Fixed(o) => {
                DateTime::from_timestamp(local_secs - i64::from(o.local_minus_utc()), nanos)
            }
            Timezone::Local => {
                let naive = DateTime::from_timestamp(local_secs, nanos)?.naive_utc();
                match Local.from_local_datetime(&naive) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        Some(t.with_timezone(&Utc))
                    }
                    LocalResult::None => {
                        let before = DateTime::from_timestamp(local_secs - 3 * 3600, nanos)?;
                        let off = self.offset_at_utc(before);
                        DateTime::from_timestamp(local_secs - off, nanos)
                    }
                }
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Timezone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timezone::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Options of `format: syslog`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogOptions {
    /// `auto` (default), `rfc5424` or `rfc3164`.
    #[serde(default)]
    pub mode: SyslogMode,
    /// Zone of RFC 3164 timestamps: `local` (default), `UTC`, or `±hh:mm`.
    /// RFC 5424 and ISO timestamps carry their own offset and ignore it.
    #[serde(default)]
    pub timezone: Timezone,
}

/// How far ahead of "now" an RFC 3164 timestamp may lie before it is taken
/// to be from an earlier year: enough for a sender's clock or zone to be off
/// by a day (zones span 26 hours), little enough that a year-old line is
/// rarely mistaken for a future one.
pub const FUTURE_TOLERANCE_SECS: i64 = 2 * 86_400;

/// Where the parser reads "now" from, to give RFC 3164 timestamps a year.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Parses RFC 5424 and RFC 3164 syslog lines into `log.syslog.*` fields.
pub struct SyslogParser {
    mode: SyslogMode,
    timezone: Timezone,
    clock: Clock,
}

impl fmt::Debug for SyslogParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyslogParser")
            .field("mode", &self.mode)
            .field("timezone", &self.timezone)
            .finish_non_exhaustive()
    }
}

impl SyslogParser {
    pub fn new(options: SyslogOptions) -> Self {
        Self::with_clock(options, Arc::new(Utc::now))
    }

    /// A parser whose idea of "now" (for RFC 3164 years) comes from `clock`.
    pub fn with_clock(options: SyslogOptions, clock: Clock) -> Self {
        SyslogParser {
            mode: options.mode,
            timezone: options.timezone,
            clock,
        }
    }
}

impl Parser for SyslogParser {
    fn parse(
        &self,
        input: &Bytes,
        _event: &Event,
        out: &mut Vec<Parsed>,
    ) -> Result<(), ParseError> {
        let b = trim_end(input);
        let record = match self.mode {
            SyslogMode::Rfc5424 => parse_5424(input, b)?,
            SyslogMode::Rfc3164 => self.parse_3164(input, b)?,
            SyslogMode::Auto if looks_like_5424(b) => parse_5424(input, b)?,
            SyslogMode::Auto => self.parse_3164(input, b)?,
        };
        out.push(record.into_parsed());
        Ok(())
    }
}

/// The line without the LF, CR or NUL terminators that UDP senders and some
/// framings leave at the end: they are transport, not message.
fn trim_end(input: &[u8]) -> &[u8] {
    let mut end = input.len();
    while end > 0 && matches!(input[end - 1], b'\n' | b'\r' | b'\0') {
        end -= 1;
    }
    &input[..end]
}

/// `<PRI>` followed by a 1–3 digit version and a space: RFC 5424. RFC 3164
/// continues with a month name or an ISO date (`<34>2003-…`: four digits).
fn looks_like_5424(b: &[u8]) -> bool {
    if b.first() != Some(&b'<') {
        return false;
    }
    let Some(close) = b.iter().take(5).position(|&c| c == b'>') else {
        return false;
    };
    let v = &b[close + 1..];
    let n = v.iter().take(4).take_while(|c| c.is_ascii_digit()).count();
    (1..=3).contains(&n) && v.get(n) == Some(&b' ')
}

/// The parts of a syslog line, whichever dialect it was in.
#[derive(Default)]
struct Record {
    pri: u8,
    version: Option<Bytes>,
    timestamp: Option<DateTime<Utc>>,
    hostname: Option<Bytes>,
    appname: Option<Bytes>,
    procid: Option<Bytes>,
    msgid: Option<Bytes>,
    structured_data: Option<Fields>,
    message: Option<Bytes>,
}

const K_LOG: &[u8] = b"log";
const K_SYSLOG: &[u8] = b"syslog";
const K_PRIORITY: &[u8] = b"priority";
const K_FACILITY: &[u8] = b"facility";
const K_SEVERITY: &[u8] = b"severity";
const K_CODE: &[u8] = b"code";
const K_NAME: &[u8] = b"name";
const K_HOSTNAME: &[u8] = b"hostname";
const K_APPNAME: &[u8] = b"appname";
const K_PROCID: &[u8] = b"procid";
const K_MSGID: &[u8] = b"msgid";
const K_VERSION: &[u8] = b"version";
const K_STRUCTURED_DATA: &[u8] = b"structured_data";
const K_HOST: &[u8] = b"host";
const K_MESSAGE: &[u8] = b"message";

/// Facility names by code (RFC 5424 §6.2.1), as the keywords syslog
/// daemons use in their configuration (`local4`, `authpriv`, …).
const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Severity names by code, as RFC 5424 §6.2.1 and ECS's examples spell them.
const SEVERITY_NAMES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

fn code_and_name(code: u8, name: &'static str) -> Value {
    let mut f = Fields::with_capacity(2);
    f.push_unchecked(K_CODE, Value::Int(i64::from(code)));
    f.push_unchecked(K_NAME, Value::Str(Bytes::from_static(name.as_bytes())));
    Value::Object(f)
}

impl Record {
    /// The ECS document: `log.syslog.*`, `host.hostname`, `message`.
    fn into_parsed(self) -> Parsed {
        let facility = usize::from(self.pri >> 3);
        let severity = usize::from(self.pri & 7);
        let mut syslog = Fields::with_capacity(10);
        syslog.push_unchecked(K_PRIORITY, Value::Int(i64::from(self.pri)));
        syslog.push_unchecked(
            K_FACILITY,
            code_and_name(
                self.pri >> 3,
                FACILITY_NAMES.get(facility).copied().unwrap_or(""),
            ),
        );
        syslog.push_unchecked(
            K_SEVERITY,
            code_and_name(self.pri & 7, SEVERITY_NAMES[severity]),
        );
        if let Some(h) = &self.hostname {
            syslog.push_unchecked(K_HOSTNAME, Value::Str(h.clone()));
        }
        push_some(&mut syslog, K_APPNAME, self.appname);
        push_some(&mut syslog, K_PROCID, self.procid);
        push_some(&mut syslog, K_MSGID, self.msgid);
        push_some(&mut syslog, K_VERSION, self.version);
        if let Some(sd) = self.structured_data {
            syslog.push_unchecked(K_STRUCTURED_DATA, Value::Object(sd));
        }
        let mut log = Fields::with_capacity(1);
        log.push_unchecked(K_SYSLOG, Value::Object(syslog));
        let mut root = Fields::with_capacity(3);
        root.push_unchecked(K_LOG, Value::Object(log));
        if let Some(h) = self.hostname {
            let mut host = Fields::with_capacity(1);
            host.push_unchecked(K_HOSTNAME, Value::Str(h));
            root.push_unchecked(K_HOST, Value::Object(host));
        }
        if let Some(m) = self.message {
            root.push_unchecked(K_MESSAGE, Value::Str(m));
        }
        Parsed {
            value: Value::Object(root),
            timestamp: self.timestamp,
            message: None,
        }
    }
}

#[inline]
fn push_some(fields: &mut Fields, key: &'static [u8], value: Option<Bytes>) {
    if let Some(v) = value {
        fields.push_unchecked(key, Value::Str(v));
    }
}

const RFC5424: &str = "RFC 5424";
const RFC3164: &str = "RFC 3164";
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `"{dialect}: expected {what} at byte {at}, found {…}"`.
fn expected(dialect: &str, what: &str, b: &[u8], at: usize) -> ParseError {
    let found = match b.get(at) {
        None => "the end of the line".to_owned(),
        Some(b' ') => "a space".to_owned(),
        Some(&c) if c.is_ascii_graphic() => format!("`{}`", c as char),
        Some(&c) => format!("byte 0x{c:02X}"),
    };
    ParseError::new(format!(
        "{dialect}: expected {what} at byte {at}, found {found}"
    ))
}

/// Reads `<PRI>` at the start of `b`: the priority and the offset after `>`.
///
/// Leading zeros (`<013>`) are accepted: RFC 5424 says they should not be
/// sent, and refusing a line over them would lose it for no benefit.
fn parse_pri(dialect: &str, b: &[u8]) -> Result<(u8, usize), ParseError> {
    if b.first() != Some(&b'<') {
        return Err(expected(dialect, "`<` opening the PRI", b, 0));
    }
    let mut pri = 0u32;
    let mut pos = 1;
    while let Some(d @ b'0'..=b'9') = b.get(pos) {
        if pos == 4 {
            return Err(expected(dialect, "at most 3 PRI digits", b, pos));
        }
        pri = pri * 10 + u32::from(d - b'0');
        pos += 1;
    }
    if pos == 1 {
        return Err(expected(
            dialect,
            "the PRI value (1-3 digits) after `<`",
            b,
            pos,
        ));
    }
    if b.get(pos) != Some(&b'>') {
        return Err(expected(dialect, "`>` closing the PRI", b, pos));
    }
    if pri > 191 {
        return Err(ParseError::new(format!(
            "{dialect}: PRI {pri} at byte 1 is out of range: expected 0 to 191 (facility * 8 + severity)"
        )));
    }
    Ok((pri as u8, pos + 1))
}

// ---------------------------------------------------------------------------
// RFC 5424

/// Parses `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
/// SP STRUCTURED-DATA [SP MSG]`. `b` is `input` without its line terminator.
#[inline]
fn parse_5424(input: &Bytes, b: &[u8]) -> Result<Record, ParseError> {
    let (pri, mut pos) = parse_pri(RFC5424, b)?;
    let vstart = pos;
    while pos - vstart < 3 && b.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    if pos == vstart || b[vstart] == b'0' {
        return Err(expected(RFC5424, "VERSION (`1`) after the PRI", b, vstart));
    }
    // Every sender writes version 1: a static string saves a reference count.
    let version = if b[vstart..pos] == *b"1" {
        Bytes::from_static(b"1")
    } else {
        input.slice(vstart..pos)
    };
    space(RFC5424, b, &mut pos, "a space after VERSION")?;

    let timestamp = if is_nil(b, pos) {
        pos += 1;
        None
    } else {
        let (t, n) = rfc3339::parse_prefix(&b[pos..], 6).map_err(|e| {
            let what = format!(
                "a TIMESTAMP (RFC 3339, e.g. `2003-10-11T22:14:15.003Z`, or `-`): {}",
                e.expected
            );
            expected(RFC5424, &what, b, pos + e.offset)
        })?;
        pos += n;
        Some(t)
    };
    space(RFC5424, b, &mut pos, "a space after TIMESTAMP")?;
    let hostname = header_field(input, b, &mut pos, "HOSTNAME", 255)?;
    let appname = header_field(input, b, &mut pos, "APP-NAME", 48)?;
    let procid = header_field(input, b, &mut pos, "PROCID", 128)?;
    let msgid = header_field(input, b, &mut pos, "MSGID", 32)?;
    let structured_data = parse_structured_data(input, b, &mut pos)?;
    let message = match b.get(pos) {
        None => None,
        Some(b' ') => {
            let mut start = pos + 1;
            if b[start..].starts_with(BOM) {
                start += BOM.len();
            }
            (start < b.len()).then(|| input.slice(start..b.len()))
        }
        Some(_) => {
            return Err(expected(
                RFC5424,
                "a space before MSG (or the end of the line) after STRUCTURED-DATA",
                b,
                pos,
            ))
        }
    };
    Ok(Record {
        pri,
        version: Some(version),
        timestamp,
        hostname,
        appname,
        procid,
        msgid,
        structured_data,
        message,
    })
}

/// `-` standing alone as a field (followed by a space or the end of the line).
fn is_nil(b: &[u8], pos: usize) -> bool {
    b.get(pos) == Some(&b'-') && matches!(b.get(pos + 1), None | Some(b' '))
}

fn space(dialect: &str, b: &[u8], pos: &mut usize, what: &str) -> Result<(), ParseError> {
    if b.get(*pos) != Some(&b' ') {
        return Err(expected(dialect, what, b, *pos));
    }
    *pos += 1;
    Ok(())
}

/// One of HOSTNAME, APP-NAME, PROCID, MSGID: 1 to `max` printable US-ASCII
/// characters or `-` (`None`), followed by the space every one of them needs
/// (STRUCTURED-DATA always follows MSGID).
fn header_field(
    input: &Bytes,
    b: &[u8],
    pos: &mut usize,
    name: &str,
    max: usize,
) -> Result<Option<Bytes>, ParseError> {
    let start = *pos;
    let (end, printable) = scan_token(b, start);
    if !printable {
        let token = &b[start..end];
        let bad = start
            + token
                .iter()
                .position(|c| !(33..=126).contains(c))
                .unwrap_or(0);
        let what = format!("{name} to hold printable US-ASCII only");
        return Err(expected(RFC5424, &what, b, bad));
    }
    if end == start {
        return Err(expected(RFC5424, &format!("{name} (or `-`)"), b, start));
    }
    if end - start > max {
        return Err(ParseError::new(format!(
            "{RFC5424}: {name} at byte {start} is {} characters long; expected at most {max}",
            end - start
        )));
    }
    if b.get(end) != Some(&b' ') {
        return Err(expected(RFC5424, &format!("a space after {name}"), b, end));
    }
    *pos = end + 1;
    Ok((b[start..end] != *b"-").then(|| input.slice(start..end)))
}

/// Scans a header token from `start` to the next space (or the end): its end,
/// and whether every byte of it is printable US-ASCII (`%d33-126`).
///
/// Eight bytes at a time (SWAR): with four such tokens per line, a per-byte
/// loop was a sizeable part of the parse. `x - 0x01…` borrows into a byte's
/// top bit exactly where the byte was zero, which finds spaces (after XOR
/// with `0x20…`) and bytes below 33; adding 1 to each byte (or the byte's
/// own top bit) finds bytes above 126.
#[inline]
fn scan_token(b: &[u8], start: usize) -> (usize, bool) {
    let mut i = start;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let x = w ^ (ONES * u64::from(b' '));
        let spaces = x.wrapping_sub(ONES) & !x & HIGHS;
        if spaces != 0 {
            // The first space ends the token; check the bytes before it.
            let end = i + (spaces.trailing_zeros() / 8) as usize;
            return (end, b[i..end].iter().all(|c| (33..=126).contains(c)));
        }
        let below = w.wrapping_sub(ONES * 33) & !w & HIGHS;
        let above = (w.wrapping_add(ONES) | w) & HIGHS;
        if below | above != 0 {
            // Not printable: find the end the slow way; the caller reports it.
            let end = memchr::memchr(b' ', &b[i..]).map_or(b.len(), |o| i + o);
            return (end, false);
        }
        i += 8;
    }
    let mut printable = true;
    while let Some(&c) = b.get(i) {
        if c == b' ' {
            break;
        }
        printable &= (33..=126).contains(&c);
        i += 1;
    }
    (i, printable)
}

/// STRUCTURED-DATA: `-` (`None`) or SD-ELEMENTs written back to back, as an
/// object of SD-ID → {PARAM-NAME → value}.
///
/// Values are read quote to quote before brackets are considered, so an
/// unescaped `]` inside a value (malformed, but sent in the wild) stays in the
/// value. A PARAM-NAME repeated inside one element (allowed by the RFC) makes
/// that parameter an array of its values; an SD-ID repeated in one message
/// (not allowed) has its parameters merged rather than the line refused.
fn parse_structured_data(
    input: &Bytes,
    b: &[u8],
    pos: &mut usize,
) -> Result<Option<Fields>, ParseError> {
    match b.get(*pos) {
        Some(b'-') => {
            *pos += 1;
            return Ok(None);
        }
        Some(b'[') => {}
        _ => return Err(expected(RFC5424, "STRUCTURED-DATA (`-` or `[`)", b, *pos)),
    }
    let mut sd = Fields::with_capacity(2);
    while b.get(*pos) == Some(&b'[') {
        *pos += 1;
        let id = sd_name(input, b, pos, "an SD-ID right after `[`")?;
        let mut params = Fields::with_capacity(4);
        loop {
            match b.get(*pos) {
                Some(b']') => {
                    *pos += 1;
                    break;
                }
                Some(b' ') => {
                    *pos += 1;
                    let name = sd_name(input, b, pos, "a PARAM-NAME after the space")?;
                    if b.get(*pos) != Some(&b'=') {
                        return Err(expected(RFC5424, "`=` after the PARAM-NAME", b, *pos));
                    }
                    *pos += 1;
                    if b.get(*pos) != Some(&b'"') {
                        return Err(expected(RFC5424, "`\"` opening the PARAM-VALUE", b, *pos));
                    }
                    *pos += 1;
                    let value = param_value(input, b, pos)?;
                    add_param(&mut params, name, Value::Str(value));
                }
                _ => {
                    return Err(expected(
                        RFC5424,
                        "a space and an SD-PARAM, or `]` closing the SD-ELEMENT",
                        b,
                        *pos,
                    ))
                }
            }
        }
        if sd.get_bytes(&id).is_none() {
            sd.push_unchecked(id, Value::Object(params));
        } else {
            // SD-IDs are US-ASCII (checked by `sd_name`), so the key is valid UTF-8.
            let key = String::from_utf8_lossy(&id);
            if let Some(Value::Object(existing)) = sd.get_mut(&key) {
                for (name, value) in params.iter() {
                    add_param(existing, name.clone(), value.clone());
                }
            }
        }
    }
    Ok(Some(sd))
}

/// The bytes allowed in an SD-NAME, as a table: one load per byte.
const SD_NAME_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 33;
    while c <= 126 {
        t[c] = !matches!(c as u8, b'=' | b']' | b'"');
        c += 1;
    }
    t
};

/// An SD-NAME: 1 to 32 printable US-ASCII characters other than `=`, space,
/// `]` and `"`. The character after it is checked by the caller.
fn sd_name(input: &Bytes, b: &[u8], pos: &mut usize, what: &str) -> Result<Bytes, ParseError> {
    let start = *pos;
    let mut end = start;
    while b.get(end).is_some_and(|&c| SD_NAME_CHARS[usize::from(c)]) {
        end += 1;
    }
    if end == start {
        return Err(expected(RFC5424, what, b, start));
    }
    if end - start > 32 {
        return Err(ParseError::new(format!(
            "{RFC5424}: SD-NAME at byte {start} is {} characters long; expected at most 32",
            end - start
        )));
    }
    *pos = end;
    Ok(input.slice(start..end))
}

/// A PARAM-VALUE up to its closing unescaped `"` (consumed). Only `\"`, `\\`
/// and `\]` are escapes; any other backslash is kept with the character after
/// it, as RFC 5424 §6.3.3 says.
fn param_value(input: &Bytes, b: &[u8], pos: &mut usize) -> Result<Bytes, ParseError> {
    let start = *pos;
    let mut i = start;
    let mut escaped = false;
    loop {
        match memchr::memchr2(b'"', b'\\', &b[i.min(b.len())..]) {
            None => {
                return Err(expected(
                    RFC5424,
                    &format!("`\"` closing the PARAM-VALUE opened at byte {}", start - 1),
                    b,
                    b.len(),
                ))
            }
            Some(off) => {
                i += off;
                if b[i] == b'"' {
                    break;
                }
                // A backslash: the next byte, whatever it is, cannot close the value.
                escaped = true;
                i += 2;
            }
        }
    }
    *pos = i + 1;
    if !escaped {
        return Ok(input.slice(start..i));
    }
    let raw = &b[start..i];
    let mut v = Vec::with_capacity(raw.len());
    let mut j = 0;
    while j < raw.len() {
        let c = raw[j];
        if c == b'\\' && matches!(raw.get(j + 1), Some(b'"' | b'\\' | b']')) {
            v.push(raw[j + 1]);
            j += 2;
        } else {
            v.push(c);
            j += 1;
        }
    }
    Ok(Bytes::from(v))
}

/// Adds a parameter to an SD-ELEMENT's object; a name seen before turns the
/// parameter into an array of its values, in order.
fn add_param(params: &mut Fields, name: Bytes, value: Value) {
    if params.get_bytes(&name).is_none() {
        params.push_unchecked(name, value);
        return;
    }
    let key = String::from_utf8_lossy(&name);
    if let Some(slot) = params.get_mut(&key) {
        if !matches!(slot, Value::Array(_)) {
            let first = std::mem::take(slot);
            *slot = Value::Array(vec![first]);
        }
        if let Value::Array(items) = slot {
            match value {
                Value::Array(more) => items.extend(more),
                one => items.push(one),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// RFC 3164

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The longest TAG accepted. RFC 3164 says 32 alphanumerics; real tags
/// (`systemd-resolved`, `postfix/smtpd`, reverse-DNS app names) run longer,
/// so RFC 5424's APP-NAME limit is used.
const MAX_TAG: usize = 48;
/// The longest `[pid]` content accepted (RFC 5424's PROCID limit).
const MAX_PID: usize = 128;

/// A `tag:`, `tag[pid]:` or `tag[pid]` at some position of a BSD line.
struct Tag {
    name: (usize, usize),
    pid: Option<(usize, usize)>,
    /// Where CONTENT starts, after the `: ` separator.
    content: usize,
}

/// A TAG at `pos`: 1–48 printable characters other than `:`, `[`, `]`,
/// ended by `: ` (or `:` at the end of the line), or by `[pid]` optionally
/// followed by `:`, and then a space or the end. A word not ended that way is
/// not a tag but the start of the message (`Use the BFG!`), as practical
/// parsers read it; `http://x` is not a tag either, for want of the space.
fn tag_at(b: &[u8], pos: usize) -> Option<Tag> {
    let mut p = pos;
    while let Some(&c) = b.get(p) {
        if !(33..=126).contains(&c) || matches!(c, b':' | b'[' | b']') || p - pos > MAX_TAG {
            break;
        }
        p += 1;
    }
    if p == pos || p - pos > MAX_TAG {
        return None;
    }
    let name = (pos, p);
    let after_separator = |r: usize| match b.get(r) {
        None => Some(r),
        Some(b' ') => Some(r + 1),
        _ => None,
    };
    match b.get(p)? {
        b':' => Some(Tag {
            name,
            pid: None,
            content: after_separator(p + 1)?,
        }),
        b'[' => {
            let start = p + 1;
            let mut q = start;
            while let Some(&c) = b.get(q) {
                if c == b']' || !(33..=126).contains(&c) || q - start > MAX_PID {
                    break;
                }
                q += 1;
            }
            if q == start || b.get(q) != Some(&b']') {
                return None;
            }
            let mut r = q + 1;
            if b.get(r) == Some(&b':') {
                r += 1;
            }
            Some(Tag {
                name,
                pid: Some((start, q)),
                content: after_separator(r)?,
            })
        }
        _ => None,
    }
}

/// A BSD timestamp's parts before a year and a zone are given to it.
struct BsdTime {
    month: u32,
    day: u32,
    year: Option<i32>,
    secs_of_day: i64,
    nanos: u32,
}

impl SyslogParser {
    /// Parses `[<PRI>]TIMESTAMP SP [HOSTNAME SP] [TAG[pid]: ]CONTENT` and the
    /// deviations real senders produce: zero-padded days, a year after the
    /// date, fractional seconds, an ISO 8601 timestamp (rsyslog's high
    /// precision format), no hostname (local `/dev/log` senders), hostnames
    /// with `/` or `@` (relay chains), TAG without colon.
    ///
    /// Without a PRI the line is taken as a relay would (RFC 3164 §4.3.3):
    /// priority 13 (user.notice). A line with neither PRI nor timestamp is
    /// not syslog and is refused. A PRI with no timestamp after it keeps the
    /// rest as the message.
    fn parse_3164(&self, input: &Bytes, b: &[u8]) -> Result<Record, ParseError> {
        let (pri, mut pos, had_pri) = if b.first() == Some(&b'<') {
            let (pri, pos) = parse_pri(RFC3164, b)?;
            (pri, pos, true)
        } else {
            (13, 0, false)
        };
        let timestamp = match self.bsd_timestamp(b, pos)? {
            Some((t, end)) => {
                pos = end;
                match b.get(pos) {
                    None | Some(b' ') => {}
                    Some(_) => {
                        return Err(expected(RFC3164, "a space after the timestamp", b, pos))
                    }
                }
                Some(t)
            }
            None if had_pri => None,
            None => {
                return Err(expected(
                    RFC3164,
                    "`<PRI>` or a timestamp such as `Oct 11 22:14:15`",
                    b,
                    0,
                ))
            }
        };
        let skip_spaces = |mut p: usize| {
            while b.get(p) == Some(&b' ') {
                p += 1;
            }
            p
        };
        pos = skip_spaces(pos);
        let mut record = Record {
            pri,
            timestamp,
            ..Record::default()
        };
        // HOSTNAME follows the timestamp unless the first word is already a tag
        // (local senders write `<13>Oct 11 22:14:15 prog[42]: text`).
        if timestamp.is_some() && tag_at(b, pos).is_none() {
            let end = memchr::memchr(b' ', &b[pos..]).map_or(b.len(), |i| pos + i);
            if end > pos {
                record.hostname = Some(input.slice(pos..end));
            }
            pos = skip_spaces(end);
        }
        if let Some(tag) = tag_at(b, pos) {
            record.appname = Some(input.slice(tag.name.0..tag.name.1));
            record.procid = tag.pid.map(|(s, e)| input.slice(s..e));
            pos = tag.content;
        }
        if pos < b.len() {
            record.message = Some(input.slice(pos..b.len()));
        }
        Ok(record)
    }

    /// The timestamp at `pos` and the offset after it; `None` when the text
    /// there does not start like one (no month name, no ISO date).
    fn bsd_timestamp(
        &self,
        b: &[u8],
        pos: usize,
    ) -> Result<Option<(DateTime<Utc>, usize)>, ParseError> {
        let first = match b.get(pos) {
            Some(&c) => c,
            None => return Ok(None),
        };
        if first.is_ascii_digit() {
            if rfc3339::digits(b, pos, 4).is_none() || b.get(pos + 4) != Some(&b'-') {
                return Ok(None);
            }
            // rsyslog's RFC3339 "high precision" timestamp in a BSD frame.
            return rfc3339::parse_prefix(&b[pos..], 9)
                .map(|(t, n)| Some((t, pos + n)))
                .map_err(|e| {
                    let what = format!("an ISO 8601 timestamp: {}", e.expected);
                    expected(RFC3164, &what, b, pos + e.offset)
                });
        }
        let Some(month) = b
            .get(pos..pos + 3)
            .and_then(|m| MONTHS.iter().position(|name| name[..] == *m))
        else {
            return Ok(None);
        };
        let mut p = pos + 3;
        if b.get(p) != Some(&b' ')
            || !b
                .get(p + 1)
                .is_some_and(|c| c.is_ascii_digit() || *c == b' ')
        {
            return Ok(None);
        }
        p += 1;
        // `Aug  7` (space-padded, per RFC), `Sep 01` (zero-padded) or `Aug 7`.
        if b.get(p) == Some(&b' ') {
            p += 1;
        }
        let day = match (b.get(p), b.get(p + 1)) {
            (Some(d1 @ b'0'..=b'9'), Some(d2 @ b'0'..=b'9')) => {
                p += 2;
                u32::from(d1 - b'0') * 10 + u32::from(d2 - b'0')
            }
            (Some(d1 @ b'0'..=b'9'), _) => {
                p += 1;
                u32::from(d1 - b'0')
            }
            _ => return Err(expected(RFC3164, "the day of the month", b, p)),
        };
        if !(1..=31).contains(&day) {
            return Err(expected(
                RFC3164,
                "a day of the month from 1 to 31",
                b,
                p - 1,
            ));
        }
        space(RFC3164, b, &mut p, "a space after the day of the month")?;
        let mut year = None;
        if let (Some(y), Some(b' ')) = (rfc3339::digits(b, p, 4), b.get(p + 4)) {
            year = Some(y as i32);
            p += 5;
        }
        let (secs_of_day, nanos, end) = rfc3339::time_of_day(b, p, 9).map_err(|e| {
            let what = format!("the time of day (`hh:mm:ss`): {}", e.expected);
            expected(RFC3164, &what, b, e.offset)
        })?;
        let parts = BsdTime {
            month: month as u32 + 1,
            day,
            year,
            secs_of_day,
            nanos,
        };
        let t = self.resolve(&parts).ok_or_else(|| {
            ParseError::new(format!(
                "{RFC3164}: the date at byte {pos} does not exist in any year near the current one"
            ))
        })?;
        Ok(Some((t, end)))
    }

    /// Gives a BSD timestamp its year (explicit, or inferred as the module
    /// docs say) and converts the configured zone's wall-clock time to UTC.
    fn resolve(&self, t: &BsdTime) -> Option<DateTime<Utc>> {
        let local_secs = |year: i32| -> Option<i64> {
            (t.day <= days_in_month(year, t.month))
                .then(|| days_from_civil(year, t.month, t.day) * 86_400 + t.secs_of_day)
        };
        let secs = match t.year {
            Some(y) => local_secs(y)?,
            None => {
                // Compare wall-clock times: the zone's offset (a DST hour at
                // most apart between candidates) cannot change the winner.
                let now = (self.clock)();
                let now_local = now.timestamp() + self.timezone.offset_at_utc(now);
                let year = DateTime::from_timestamp(now_local, 0)?.year();
                // Going back four years finds a `Feb 29` too (the latest
                // one); only dates no year has (`Apr 31`) are refused.
                [year + 1, year, year - 1, year - 2, year - 3]
                    .into_iter()
                    .filter_map(local_secs)
                    .find(|s| *s <= now_local + FUTURE_TOLERANCE_SECS)?
            }
        };
        self.timezone.to_utc(secs, t.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;
    use proptest::prelude::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn parser_at(mode: SyslogMode, now: &str) -> SyslogParser {
        let now = at(now);
        SyslogParser::with_clock(
            SyslogOptions {
                mode,
                timezone: Timezone::parse("UTC").unwrap(),
            },
            Arc::new(move || now),
        )
    }

    fn parser() -> SyslogParser {
        parser_at(SyslogMode::Auto, "2024-06-15T12:00:00Z")
    }

    fn parse_with(p: &SyslogParser, line: &[u8]) -> Result<Parsed, ParseError> {
        let input = Bytes::copy_from_slice(line);
        let mut out = Vec::new();
        p.parse(&input, &Event::new(input.clone(), Utc::now()), &mut out)?;
        assert_eq!(out.len(), 1);
        Ok(out.pop().unwrap())
    }

    fn parse(line: &[u8]) -> Parsed {
        parse_with(&parser(), line).unwrap_or_else(|e| panic!("{e}"))
    }

    fn get<'a>(p: &'a Parsed, path: &str) -> Option<&'a Value> {
        p.value
            .as_object()
            .unwrap()
            .get_path(&crate::event::Path::parse(path).unwrap())
    }

    fn s(p: &Parsed, path: &str) -> Option<String> {
        get(p, path).map(|v| {
            String::from_utf8(
                v.as_bytes()
                    .unwrap_or_else(|| panic!("{path} is {v:?}"))
                    .to_vec(),
            )
            .unwrap()
        })
    }

    fn i(p: &Parsed, path: &str) -> Option<i64> {
        get(p, path).and_then(Value::as_i64)
    }

    fn ts(p: &Parsed) -> String {
        p.timestamp
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    fn err(p: &SyslogParser, line: &str) -> String {
        match parse_with(p, line.as_bytes()) {
            Ok(r) => panic!("{line:?} should fail, parsed {:?}", r.value),
            Err(e) => e.reason,
        }
    }

    // --- RFC 5424 samples (RFC 5424 §6.5) -------------------------------

    #[test]
    fn rfc5424_example_1_bom_and_nil_values() {
        let p = parse(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(i(&p, "log.syslog.priority"), Some(34));
        assert_eq!(i(&p, "log.syslog.facility.code"), Some(4));
        assert_eq!(s(&p, "log.syslog.facility.name").unwrap(), "auth");
        assert_eq!(i(&p, "log.syslog.severity.code"), Some(2));
        assert_eq!(s(&p, "log.syslog.severity.name").unwrap(), "Critical");
        assert_eq!(ts(&p), "2003-10-11T22:14:15.003Z");
        assert_eq!(
            s(&p, "log.syslog.hostname").unwrap(),
            "mymachine.example.com"
        );
        assert_eq!(s(&p, "host.hostname").unwrap(), "mymachine.example.com");
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "su");
        assert_eq!(get(&p, "log.syslog.procid"), None);
        assert_eq!(s(&p, "log.syslog.msgid").unwrap(), "ID47");
        assert_eq!(s(&p, "log.syslog.version").unwrap(), "1");
        assert_eq!(get(&p, "log.syslog.structured_data"), None);
        assert_eq!(
            s(&p, "message").unwrap(),
            "'su root' failed for lonvick on /dev/pts/8"
        );
    }

    #[test]
    fn rfc5424_example_2_offset_and_microseconds() {
        let p = parse(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.");
        assert_eq!(i(&p, "log.syslog.facility.code"), Some(20));
        assert_eq!(s(&p, "log.syslog.facility.name").unwrap(), "local4");
        assert_eq!(i(&p, "log.syslog.severity.code"), Some(5));
        assert_eq!(s(&p, "log.syslog.severity.name").unwrap(), "Notice");
        assert_eq!(ts(&p), "2003-08-24T12:14:15.000003Z");
        assert_eq!(s(&p, "host.hostname").unwrap(), "192.0.2.1");
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "myproc");
        assert_eq!(s(&p, "log.syslog.procid").unwrap(), "8710");
        assert_eq!(get(&p, "log.syslog.msgid"), None);
        assert_eq!(get(&p, "log.syslog.structured_data"), None);
        assert_eq!(
            s(&p, "message").unwrap(),
            "%% It's time to make the do-nuts."
        );
    }

    #[test]
    fn rfc5424_example_3_structured_data_and_message() {
        let p = parse(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \xEF\xBB\xBFAn application event log entry...");
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "evntslog");
        let sd = get(&p, "log.syslog.structured_data")
            .unwrap()
            .as_object()
            .unwrap();
        assert_eq!(sd.len(), 1);
        let el = sd.get("exampleSDID@32473").unwrap().as_object().unwrap();
        assert_eq!(el.get("iut"), Some(&Value::from("3")));
        assert_eq!(el.get("eventSource"), Some(&Value::from("Application")));
        assert_eq!(el.get("eventID"), Some(&Value::from("1011")));
        assert_eq!(
            s(&p, "message").unwrap(),
            "An application event log entry..."
        );
    }

    #[test]
    fn rfc5424_example_4_two_elements_no_message() {
        let p = parse(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]");
        let sd = get(&p, "log.syslog.structured_data")
            .unwrap()
            .as_object()
            .unwrap();
        assert_eq!(sd.len(), 2);
        assert_eq!(
            sd.get("exampleSDID@32473")
                .unwrap()
                .as_object()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            s(&p, "log.syslog.structured_data.examplePriority@32473.class").unwrap(),
            "high"
        );
        assert_eq!(get(&p, "message"), None);
    }

    #[test]
    fn rfc5424_escapes_in_param_values() {
        let p = parse(br#"<13>1 - - - - - [exampleSDID@32473 path="C:\\tmp\]x" q="say \"hi\"" other="a\nb\" c:\\"] m"#);
        let el = get(&p, "log.syslog.structured_data.exampleSDID@32473")
            .unwrap()
            .as_object()
            .unwrap();
        assert_eq!(el.get("path"), Some(&Value::from(r"C:\tmp]x")));
        assert_eq!(el.get("q"), Some(&Value::from(r#"say "hi""#)));
        // `\n` is no escape: both characters stay.
        assert_eq!(el.get("other"), Some(&Value::from(r#"a\nb" c:\"#)));
        assert_eq!(s(&p, "message").unwrap(), "m");
    }

    #[test]
    fn rfc5424_all_nil_header() {
        let p = parse(b"<0>1 - - - - - -");
        assert_eq!(i(&p, "log.syslog.priority"), Some(0));
        assert_eq!(s(&p, "log.syslog.facility.name").unwrap(), "kern");
        assert_eq!(s(&p, "log.syslog.severity.name").unwrap(), "Emergency");
        assert!(p.timestamp.is_none());
        assert_eq!(get(&p, "host"), None);
        let syslog = get(&p, "log.syslog").unwrap().as_object().unwrap();
        let keys: Vec<_> = syslog.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, ["priority", "facility", "severity", "version"]);
        assert_eq!(get(&p, "message"), None);
        // A single space then nothing: an empty MSG is no message either.
        assert_eq!(get(&parse(b"<0>1 - - - - - - "), "message"), None);
    }

    #[test]
    fn rfc5424_sd_corner_cases() {
        // Unescaped `]` inside quotes (malformed, seen in the wild) is kept.
        let p = parse(br#"<13>1 - h a p m [x@1 v="a]b"] msg"#);
        assert_eq!(s(&p, "log.syslog.structured_data.x@1.v").unwrap(), "a]b");
        // An element without params; a repeated param name becomes an array.
        let p = parse(br#"<13>1 - h a p m [timeQuality][origin ip="10.0.0.1" ip="10.0.0.2"]"#);
        let sd = get(&p, "log.syslog.structured_data")
            .unwrap()
            .as_object()
            .unwrap();
        assert_eq!(sd.get("timeQuality"), Some(&Value::Object(Fields::new())));
        assert_eq!(
            sd.get("origin").unwrap().as_object().unwrap().get("ip"),
            Some(&Value::Array(vec![
                Value::from("10.0.0.1"),
                Value::from("10.0.0.2")
            ]))
        );
        // A repeated SD-ID (not allowed) is merged, not refused.
        let p = parse(br#"<13>1 - h a p m [a@1 x="1"][a@1 y="2"]"#);
        let el = get(&p, "log.syslog.structured_data.a@1")
            .unwrap()
            .as_object()
            .unwrap();
        assert_eq!(el.len(), 2);
        // A space between elements: the RFC's invalid SD; the second element
        // is then syntactically the MSG.
        let p = parse(br#"<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [exampleSDID@32473 eventID="1011"] [examplePriority@32473 class="high"]"#);
        assert_eq!(
            s(&p, "message").unwrap(),
            r#"[examplePriority@32473 class="high"]"#
        );
        assert_eq!(
            get(&p, "log.syslog.structured_data")
                .unwrap()
                .as_object()
                .unwrap()
                .len(),
            1
        );
        // Empty value.
        let p = parse(br#"<13>1 - h a p m [a@1 x=""]"#);
        assert_eq!(s(&p, "log.syslog.structured_data.a@1.x").unwrap(), "");
    }

    #[test]
    fn rfc5424_errors_say_what_and_where() {
        let p = parser();
        let e = err(
            &p,
            r#"<165>1 2003-10-11T22:14:15.003Z h a - ID47 [ exampleSDID@32473 iut="3"]"#,
        );
        assert!(
            e.contains("RFC 5424: expected an SD-ID right after `[` at byte 44, found a space"),
            "{e}"
        );
        let e = err(&p, "<165>1 2003-08-24T05:14:15.000000003-07:00 h a - - -");
        assert!(
            e.contains("at most 6 fraction digits") && e.contains("byte 33"),
            "{e}"
        );
        let e = err(&p, "<165>1 2003-08-24t05:14:15Z h a - - -");
        assert!(e.contains("upper-case `T`") && e.contains("byte 17"), "{e}");
        let e = err(&p, "<192>1 - - - - - -");
        assert!(e.contains("PRI 192") && e.contains("0 to 191"), "{e}");
        let e = err(&p, "<13>1 - h a p m");
        assert!(
            e.contains("a space after MSGID") && e.contains("end of the line"),
            "{e}"
        );
        let e = err(&p, "<13>1 - h a p m x");
        assert!(
            e.contains("STRUCTURED-DATA (`-` or `[`) at byte 16, found `x`"),
            "{e}"
        );
        let e = err(&p, r#"<13>1 - h a p m [a@1 x="unterminated]"#);
        assert!(
            e.contains("closing the PARAM-VALUE opened at byte 23"),
            "{e}"
        );
        let e = err(&p, r#"<13>1 - h a p m [a@1 x="v"]y"#);
        assert!(e.contains("a space before MSG"), "{e}");
        let e = err(&p, r#"<13>1 - h a p m [a@1 x="v" ]"#);
        assert!(e.contains("PARAM-NAME"), "{e}");
        let e = err(&p, "<13>1 -  a p m -");
        assert!(
            e.contains("HOSTNAME (or `-`) at byte 8, found a space"),
            "{e}"
        );
        let long = format!("<13>1 - h {} p m -", "a".repeat(49));
        assert!(err(&p, &long).contains("APP-NAME at byte 10 is 49 characters long"));
        let e = err(&p, "<13>1 - h\x01 a p m -");
        assert!(
            e.contains("printable US-ASCII") && e.contains("0x01"),
            "{e}"
        );
        let strict = parser_at(SyslogMode::Rfc5424, "2024-01-01T00:00:00Z");
        let e = err(&strict, "<34>Oct 11 22:14:15 mymachine su: hi");
        assert!(
            e.contains("VERSION (`1`) after the PRI at byte 4, found `O`"),
            "{e}"
        );
        let e = err(&strict, "no pri");
        assert!(e.contains("`<` opening the PRI at byte 0"), "{e}");
    }

    #[test]
    fn rfc5424_strings_are_slices_of_the_input() {
        let input = Bytes::from_static(
            b"<165>1 2003-10-11T22:14:15.003Z host app 1 ID [a@1 k=\"v\"] msg\n",
        );
        let mut out = Vec::new();
        parser()
            .parse(&input, &Event::new(input.clone(), Utc::now()), &mut out)
            .unwrap();
        let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
        for path in [
            "host.hostname",
            "log.syslog.appname",
            "log.syslog.structured_data.a@1.k",
            "message",
        ] {
            let v = get(&out[0], path).unwrap().as_bytes().unwrap();
            assert!(range.contains(&(v.as_ptr() as usize)), "{path} was copied");
        }
        // The trailing LF is transport, not message.
        assert_eq!(s(&out[0], "message").unwrap(), "msg");
    }

    // --- RFC 3164 ---------------------------------------------------------

    #[test]
    fn rfc3164_example_su() {
        let p =
            parse(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(i(&p, "log.syslog.facility.code"), Some(4));
        assert_eq!(i(&p, "log.syslog.severity.code"), Some(2));
        // "now" is 2024-06-15: October 2024 would be 4 months ahead.
        assert_eq!(ts(&p), "2023-10-11T22:14:15Z");
        assert_eq!(s(&p, "log.syslog.hostname").unwrap(), "mymachine");
        assert_eq!(s(&p, "host.hostname").unwrap(), "mymachine");
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "su");
        assert_eq!(get(&p, "log.syslog.procid"), None);
        assert_eq!(get(&p, "log.syslog.version"), None);
        assert_eq!(
            s(&p, "message").unwrap(),
            "'su root' failed for lonvick on /dev/pts/8"
        );
    }

    #[test]
    fn rfc3164_example_bfg_padded_day_no_tag() {
        let p = parse(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!");
        assert_eq!(s(&p, "log.syslog.facility.name").unwrap(), "user");
        assert_eq!(s(&p, "log.syslog.severity.name").unwrap(), "Notice");
        assert_eq!(ts(&p), "2024-02-05T17:32:18Z");
        assert_eq!(s(&p, "host.hostname").unwrap(), "10.0.0.99");
        assert_eq!(get(&p, "log.syslog.appname"), None);
        assert_eq!(s(&p, "message").unwrap(), "Use the BFG!");
    }

    #[test]
    fn rfc3164_without_pri_gets_the_relay_default() {
        let p = parse(b"Feb  5 17:32:18 10.0.0.99 Use the BFG!");
        assert_eq!(i(&p, "log.syslog.priority"), Some(13));
        assert_eq!(s(&p, "message").unwrap(), "Use the BFG!");
        // Neither PRI nor timestamp: not syslog at all.
        let e = err(&parser(), "Use the BFG!");
        assert!(
            e.contains("RFC 3164: expected `<PRI>` or a timestamp"),
            "{e}"
        );
        // A PRI but no timestamp: the rest is the message.
        let p = parse(b"<13>Use the BFG!");
        assert!(p.timestamp.is_none());
        assert_eq!(get(&p, "host"), None);
        assert_eq!(s(&p, "message").unwrap(), "Use the BFG!");
    }

    #[test]
    fn rfc3164_tags_and_pids() {
        let p =
            parse(b"<30>Jan  2 03:04:05 web-1 systemd-logind[612]: New session 4 of user admin.");
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "systemd-logind");
        assert_eq!(s(&p, "log.syslog.procid").unwrap(), "612");
        assert_eq!(s(&p, "message").unwrap(), "New session 4 of user admin.");
        // TAG[pid] without colon.
        let p = parse(b"<30>Jan  2 03:04:05 web-1 postfix/smtpd[99] connect from x");
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "postfix/smtpd");
        assert_eq!(s(&p, "log.syslog.procid").unwrap(), "99");
        assert_eq!(s(&p, "message").unwrap(), "connect from x");
        // A colon not followed by a space is no tag separator.
        let p = parse(b"<30>Jan  2 03:04:05 web-1 http://example.com/ is down");
        assert_eq!(get(&p, "log.syslog.appname"), None);
        assert_eq!(s(&p, "message").unwrap(), "http://example.com/ is down");
        // Tag with nothing after it.
        let p = parse(b"<30>Jan  2 03:04:05 web-1 cron:");
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "cron");
        assert_eq!(get(&p, "message"), None);
    }

    #[test]
    fn rfc3164_missing_hostname() {
        // What glibc's syslog() writes to /dev/log.
        let p = parse(b"<13>Oct 11 22:14:15 sshd[1234]: Accepted publickey for x");
        assert_eq!(get(&p, "host"), None);
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "sshd");
        assert_eq!(s(&p, "log.syslog.procid").unwrap(), "1234");
        assert_eq!(s(&p, "message").unwrap(), "Accepted publickey for x");
        let p = parse(b"<13>Oct 11 22:14:15 su: hello");
        assert_eq!(get(&p, "host"), None);
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "su");
    }

    #[test]
    fn rfc3164_real_world_deviations() {
        // Zero-padded day, single-digit day.
        assert_eq!(
            ts(&parse(b"<13>Sep 01 10:00:00 h t: m")),
            "2023-09-01T10:00:00Z"
        );
        assert_eq!(
            ts(&parse(b"<13>Sep 1 10:00:00 h t: m")),
            "2023-09-01T10:00:00Z"
        );
        // Year after the date.
        let p = parse(b"<13>Oct 11 2019 22:14:15 h t: m");
        assert_eq!(ts(&p), "2019-10-11T22:14:15Z");
        assert_eq!(s(&p, "host.hostname").unwrap(), "h");
        // Fractional seconds.
        assert_eq!(
            ts(&parse(b"<13>Jun 15 11:59:59.123456 h t: m")),
            "2024-06-15T11:59:59.123456Z"
        );
        // ISO 8601 timestamp (rsyslog high precision), offset applied.
        let p = parse(b"<34>2003-10-11T22:14:15.003+02:00 mymachine su: ok");
        assert_eq!(ts(&p), "2003-10-11T20:14:15.003Z");
        assert_eq!(s(&p, "host.hostname").unwrap(), "mymachine");
        assert_eq!(s(&p, "log.syslog.appname").unwrap(), "su");
        // Relay-chain hostnames.
        let p = parse(b"<13>Oct 11 22:14:15 relay1/origin@site prog: m");
        assert_eq!(s(&p, "host.hostname").unwrap(), "relay1/origin@site");
        // IPv6 hostname.
        let p = parse(b"<13>Oct 11 22:14:15 fe80::1 prog: m");
        assert_eq!(s(&p, "host.hostname").unwrap(), "fe80::1");
        // Trailing CR LF.
        assert_eq!(
            s(&parse(b"<13>Oct 11 22:14:15 h t: m\r\n"), "message").unwrap(),
            "m"
        );
    }

    #[test]
    fn rfc3164_errors() {
        let p = parser();
        let e = err(&p, "<13>Oct 11 25:14:15 h t: m");
        assert!(
            e.contains("RFC 3164") && e.contains("hour from 00 to 23") && e.contains("byte 11"),
            "{e}"
        );
        let e = err(&p, "<13>Oct 32 22:14:15 h t: m");
        assert!(e.contains("day of the month from 1 to 31"), "{e}");
        let e = err(&p, "<13>Oct 11 22:14:15x h t: m");
        assert!(e.contains("a space after the timestamp at byte 19"), "{e}");
        let e = err(&p, "<1x>Oct 11 22:14:15 h t: m");
        assert!(e.contains("`>` closing the PRI at byte 2"), "{e}");
        let e = err(&p, "<>x");
        assert!(e.contains("PRI value"), "{e}");
        // A day no month of that name has.
        let p = parser_at(SyslogMode::Rfc3164, "2026-03-01T00:00:00Z");
        let e = err(&p, "<13>Apr 31 10:00:00 h t: m");
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn rfc3164_year_is_the_latest_not_ahead_of_now() {
        let cases = [
            // (now, line's date, expected)
            (
                "2025-01-01T00:10:00Z",
                "Dec 31 23:59:00",
                "2024-12-31T23:59:00Z",
            ),
            (
                "2024-12-31T23:59:00Z",
                "Jan  1 00:01:00",
                "2025-01-01T00:01:00Z",
            ),
            (
                "2025-01-01T00:10:00Z",
                "Jan  1 00:05:00",
                "2025-01-01T00:05:00Z",
            ),
            (
                "2025-06-30T00:00:00Z",
                "Dec 31 00:00:00",
                "2024-12-31T00:00:00Z",
            ),
            // Half a year either way: the past one.
            (
                "2025-07-03T00:00:00Z",
                "Jan  1 00:00:00",
                "2025-01-01T00:00:00Z",
            ),
            // Two months ahead or ten back: ten back, as other tools do.
            (
                "2026-12-04T22:00:00Z",
                "Feb  5 17:32:18",
                "2026-02-05T17:32:18Z",
            ),
            // Within the two days' tolerance (a sender ahead of us) ...
            (
                "2025-03-10T00:00:00Z",
                "Mar 11 23:00:00",
                "2025-03-11T23:00:00Z",
            ),
            // ... and beyond it: a year-old line.
            (
                "2025-03-10T00:00:00Z",
                "Mar 12 01:00:00",
                "2024-03-12T01:00:00Z",
            ),
            (
                "2025-03-01T00:00:00Z",
                "Feb 29 12:00:00",
                "2024-02-29T12:00:00Z",
            ),
            // The latest Feb 29, two years back.
            (
                "2026-03-01T00:00:00Z",
                "Feb 29 12:00:00",
                "2024-02-29T12:00:00Z",
            ),
        ];
        for (now, date, want) in cases {
            let p = parser_at(SyslogMode::Rfc3164, now);
            let line = format!("<13>{date} h t: m");
            let got = ts(&parse_with(&p, line.as_bytes()).unwrap());
            assert_eq!(got, want, "{date} read at {now}");
        }
    }

    #[test]
    fn rfc3164_timezone_option() {
        let now = at("2025-01-01T00:10:00Z");
        let p = SyslogParser::with_clock(
            SyslogOptions {
                mode: SyslogMode::Auto,
                timezone: Timezone::parse("+02:00").unwrap(),
            },
            Arc::new(move || now),
        );
        // Local wall time there is 02:10 on Jan 1: the line is from this year.
        let r = parse_with(&p, b"<13>Jan  1 01:00:00 h t: m").unwrap();
        assert_eq!(ts(&r), "2024-12-31T23:00:00Z");
        // RFC 5424 ignores the option.
        let r = parse_with(&p, b"<13>1 2025-01-01T01:00:00Z - - - - -").unwrap();
        assert_eq!(ts(&r), "2025-01-01T01:00:00Z");
        for (text, secs) in [
            ("UTC", 0),
            ("Z", 0),
            ("-0530", -19800),
            ("+05", 18000),
            ("+05:45", 20700),
        ] {
            assert_eq!(
                Timezone::parse(text).unwrap(),
                Timezone::Fixed(FixedOffset::east_opt(secs).unwrap())
            );
        }
        assert_eq!(Timezone::parse("Local").unwrap(), Timezone::Local);
        for bad in ["", "Europe/Paris", "+24:00", "+1", "02:00", "+02:0x"] {
            assert!(Timezone::parse(bad).is_err(), "{bad}");
        }
        // The local zone works at all (whatever it is on this machine).
        let p = SyslogParser::new(SyslogOptions::default());
        assert!(parse_with(&p, b"<13>Jan  1 01:00:00 h t: m")
            .unwrap()
            .timestamp
            .is_some());
    }

    #[test]
    fn modes() {
        let p3164 = parser_at(SyslogMode::Rfc3164, "2024-06-15T12:00:00Z");
        // A 5424 line read as BSD: PRI, no timestamp, the rest is message.
        let r = parse_with(&p3164, b"<13>1 - - - - - - hi").unwrap();
        assert_eq!(s(&r, "message").unwrap(), "1 - - - - - - hi");
        assert!(looks_like_5424(b"<165>1 x"));
        assert!(looks_like_5424(b"<1>123 x"));
        assert!(!looks_like_5424(b"<34>2003-10-11T22:14:15Z x"));
        assert!(!looks_like_5424(b"<34>Oct 11"));
        assert!(!looks_like_5424(b"<34>1"));
    }

    #[test]
    fn options_from_yaml() {
        let node = crate::config::yaml::parse("mode: rfc3164\ntimezone: '+01:00'\n").unwrap();
        let o: SyslogOptions = crate::config::from_node(&node).unwrap();
        assert_eq!(o.mode, SyslogMode::Rfc3164);
        assert_eq!(o.timezone, Timezone::parse("+01:00").unwrap());
        let node = crate::config::yaml::parse("mode: rfc9999\n").unwrap();
        assert!(crate::config::from_node::<SyslogOptions>(&node).is_err());
        let node = crate::config::yaml::parse("timezone: Mars/Olympus\n").unwrap();
        let e = crate::config::from_node::<SyslogOptions>(&node).unwrap_err();
        assert!(e.message.contains("invalid timezone"), "{}", e.message);
    }

    // --- properties ----------------------------------------------------

    /// A header field: `-` or 1..max printable US-ASCII characters.
    fn token(max: usize) -> impl Strategy<Value = Option<String>> {
        prop::option::of(proptest::string::string_regex(&format!("[!-~]{{1,{max}}}")).unwrap())
            .prop_map(|t| t.filter(|t| t != "-"))
    }

    fn sd_name() -> impl Strategy<Value = String> {
        proptest::string::string_regex(r#"[!#-<>-\\^-~]{1,32}"#).unwrap()
    }

    fn sd_elements() -> impl Strategy<Value = Vec<(String, Vec<(String, String)>)>> {
        prop::collection::vec(
            (
                sd_name(),
                prop::collection::vec((sd_name(), "\\PC{0,12}"), 0..4),
            ),
            0..3,
        )
    }

    fn escape(v: &str) -> String {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace(']', "\\]")
    }

    proptest! {
        #[test]
        fn rfc5424_render_then_parse(
            pri in 0u8..=191,
            secs in 0i64..4_102_444_800,
            micros in prop::option::of(0u32..1_000_000),
            off_min in -720i32..=840,
            nil_ts in any::<bool>(),
            host in token(255), app in token(48), procid in token(128), msgid in token(32),
            sd in sd_elements(),
            bom in any::<bool>(),
            msg in prop::option::of("\\PC{1,40}"),
        ) {
            let t = DateTime::from_timestamp(secs, micros.unwrap_or(0) * 1000).unwrap();
            let off = FixedOffset::east_opt(off_min * 60).unwrap();
            let fmt = if micros.is_some() { SecondsFormat::Micros } else { SecondsFormat::Secs };
            let ts_text = if nil_ts { "-".to_owned() } else { t.with_timezone(&off).to_rfc3339_opts(fmt, true) };
            let nil = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
            // Unique SD-IDs and, per element, unique param names (duplicates are
            // covered by the table tests).
            let mut seen = std::collections::HashSet::new();
            let sd: Vec<_> = sd.into_iter().filter(|(id, _)| seen.insert(id.clone())).map(|(id, ps)| {
                let mut names = std::collections::HashSet::new();
                (id, ps.into_iter().filter(|(n, _)| names.insert(n.clone())).collect::<Vec<_>>())
            }).collect();
            let sd_text = if sd.is_empty() { "-".to_owned() } else {
                sd.iter().map(|(id, ps)| {
                    let params: String = ps.iter().map(|(n, v)| format!(" {n}=\"{}\"", escape(v))).collect();
                    format!("[{id}{params}]")
                }).collect()
            };
            let mut line = format!("<{pri}>1 {ts_text} {} {} {} {} {sd_text}", nil(&host), nil(&app), nil(&procid), nil(&msgid)).into_bytes();
            if let Some(m) = &msg {
                line.push(b' ');
                if bom { line.extend_from_slice(BOM); }
                line.extend_from_slice(m.as_bytes());
            }
            let p = parse_with(&parser(), &line).map_err(|e| TestCaseError::fail(e.reason))?;
            prop_assert_eq!(i(&p, "log.syslog.priority"), Some(i64::from(pri)));
            prop_assert_eq!(i(&p, "log.syslog.facility.code"), Some(i64::from(pri / 8)));
            prop_assert_eq!(i(&p, "log.syslog.severity.code"), Some(i64::from(pri % 8)));
            prop_assert_eq!(p.timestamp, (!nil_ts).then_some(t));
            prop_assert_eq!(s(&p, "host.hostname"), host.clone());
            prop_assert_eq!(s(&p, "log.syslog.hostname"), host);
            prop_assert_eq!(s(&p, "log.syslog.appname"), app);
            prop_assert_eq!(s(&p, "log.syslog.procid"), procid);
            prop_assert_eq!(s(&p, "log.syslog.msgid"), msgid);
            // A message that is only trailing CR/LF/NUL is trimmed away.
            let want_msg = msg.map(|m| m.trim_end_matches(['\n', '\r', '\0']).to_owned()).filter(|m| !m.is_empty());
            prop_assert_eq!(s(&p, "message"), want_msg);
            let got_sd = get(&p, "log.syslog.structured_data");
            if sd.is_empty() {
                prop_assert!(got_sd.is_none());
            } else {
                let got_sd = got_sd.unwrap().as_object().unwrap();
                prop_assert_eq!(got_sd.len(), sd.len());
                for (id, ps) in &sd {
                    let el = got_sd.get(id).unwrap().as_object().unwrap();
                    prop_assert_eq!(el.len(), ps.len());
                    for (n, v) in ps {
                        prop_assert_eq!(el.get(n), Some(&Value::from(v.as_str())));
                    }
                }
            }
        }

        #[test]
        fn rfc3164_render_then_parse(
            now_secs in 86_400i64 * 366..4_102_444_800,
            // From almost a year back to the two days' tolerance ahead.
            delta_days in -360i64..2,
            tod in 0i64..86_400,
            pri in prop::option::of(0u8..=191),
            host in prop::option::of("[a-z][a-z0-9.-]{0,20}"),
            tag in prop::option::of(("[a-zA-Z][a-zA-Z0-9_/.-]{0,20}", prop::option::of(1u32..99999))),
            msg in "[^\r\n\0 ][^\r\n\0]{0,40}",
        ) {
            let now = DateTime::from_timestamp(now_secs, 0).unwrap();
            let t = DateTime::from_timestamp((now_secs / 86_400 + delta_days) * 86_400 + tod, 0).unwrap();
            let p = SyslogParser::with_clock(
                SyslogOptions { mode: SyslogMode::Rfc3164, timezone: Timezone::parse("UTC").unwrap() },
                Arc::new(move || now),
            );
            let mut line = String::new();
            if let Some(pri) = pri { line.push_str(&format!("<{pri}>")); }
            line.push_str(&t.format("%b %e %H:%M:%S").to_string());
            if let Some(h) = &host { line.push(' '); line.push_str(h); }
            if let Some((name, pid)) = &tag {
                line.push(' ');
                line.push_str(name);
                if let Some(pid) = pid { line.push_str(&format!("[{pid}]")); }
                line.push(':');
            }
            // Without a tag, a first word that looks like one would be read as
            // one; without hostname and tag, the first word is the hostname.
            prop_assume!(tag.is_some() || tag_at(msg.as_bytes(), 0).is_none());
            prop_assume!(host.is_some() || tag.is_some());
            line.push(' ');
            line.push_str(&msg);
            let r = parse_with(&p, line.as_bytes()).map_err(|e| TestCaseError::fail(e.reason))?;
            prop_assert_eq!(r.timestamp, Some(t));
            prop_assert_eq!(i(&r, "log.syslog.priority"), Some(i64::from(pri.unwrap_or(13))));
            prop_assert_eq!(s(&r, "host.hostname"), host);
            prop_assert_eq!(s(&r, "log.syslog.appname"), tag.as_ref().map(|t| t.0.clone()));
            prop_assert_eq!(s(&r, "log.syslog.procid"), tag.as_ref().and_then(|t| t.1).map(|p| p.to_string()));
            prop_assert_eq!(s(&r, "message"), Some(msg));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            for mode in [SyslogMode::Auto, SyslogMode::Rfc5424, SyslogMode::Rfc3164] {
                let _ = parse_with(&parser_at(mode, "2024-06-15T12:00:00Z"), &bytes);
            }
        }

        #[test]
        fn mutated_valid_lines_never_panic(
            cut in 0usize..200,
            flip in 0usize..200,
            byte in any::<u8>(),
        ) {
            let base: &[u8] = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" x=\"a\\\"b\"][p@1 c=\"h\"] \xEF\xBB\xBFmsg";
            let mut line = base[..cut.min(base.len())].to_vec();
            if !line.is_empty() { let n = line.len(); line[flip % n] = byte; }
            let _ = parse_with(&parser(), &line);
            let bsd: &[u8] = b"<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed";
            let mut line = bsd[..cut.min(bsd.len())].to_vec();
            if !line.is_empty() { let n = line.len(); line[flip % n] = byte; }
            let _ = parse_with(&parser(), &line);
        }
    }
}
