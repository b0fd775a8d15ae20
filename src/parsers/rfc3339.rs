//! Hand-written RFC 3339 timestamp reading and civil-calendar arithmetic.
//!
//! Syslog (RFC 5424 headers, ISO timestamps in BSD frames) and CloudWatch
//! export lines start with a timestamp on every line, so this runs once per
//! event on the hot path. chrono's own parser goes through its generic
//! format-item machinery and a `&str`; reading the fixed layout byte by byte
//! and turning the civil date into epoch seconds with integer arithmetic is an
//! order of magnitude cheaper and needs no UTF-8 validation.

use chrono::{DateTime, Utc};

/// Why a timestamp did not read: the byte offset (relative to the start of the
/// slice handed in) and what was expected there. Callers add their own context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeError {
    pub offset: usize,
    pub expected: &'static str,
}

/// Reads an RFC 3339 timestamp (`YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`) at the
/// start of `b` and returns it with the number of bytes it used.
///
/// Only the upper-case `T` and `Z` are accepted (RFC 5424 §6.2.3 forbids the
/// lower-case forms RFC 3339 allows), leap seconds (`:60`) are refused, and the
/// fraction may have 1 to `max_fraction_digits` digits (6 for RFC 5424, 9 where
/// nanoseconds are legitimate).
pub fn parse_prefix(
    b: &[u8],
    max_fraction_digits: usize,
) -> Result<(DateTime<Utc>, usize), TimeError> {
    let err = |offset, expected| TimeError { offset, expected };
    let year = digits(b, 0, 4).ok_or(err(0, "a four-digit year"))?;
    expect(b, 4, b'-').ok_or(err(4, "`-` after the year"))?;
    let month = digits(b, 5, 2).ok_or(err(5, "a two-digit month"))?;
    if !(1..=12).contains(&month) {
        return Err(err(5, "a month from 01 to 12"));
    }
    expect(b, 7, b'-').ok_or(err(7, "`-` after the month"))?;
    let day = digits(b, 8, 2).ok_or(err(8, "a two-digit day"))?;
    if day == 0 || day > days_in_month(year as i32, month) {
        return Err(err(8, "a day that exists in that month"));
    }
    expect(b, 10, b'T').ok_or(err(10, "an upper-case `T` between date and time"))?;
    let (secs_of_day, nanos, mut pos) = time_of_day(b, 11, max_fraction_digits)?;
    let offset_secs: i64 = match b.get(pos) {
        Some(b'Z') => {
            pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let h = digits(b, pos + 1, 2).ok_or(err(pos + 1, "a two-digit offset hour"))?;
            expect(b, pos + 3, b':').ok_or(err(pos + 3, "`:` inside the time offset"))?;
            let m = digits(b, pos + 4, 2).ok_or(err(pos + 4, "two-digit offset minutes"))?;
            if h > 23 || m > 59 {
                return Err(err(pos + 1, "a time offset of at most 23:59"));
            }
            pos += 6;
            let s = i64::from(h * 3600 + m * 60);
            if sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return Err(err(pos, "a time offset (`Z` or `±hh:mm`) after the time")),
    };
    let days = days_from_civil(year as i32, month, day);
    let secs = days * 86_400 + secs_of_day - offset_secs;
    let ts = DateTime::from_timestamp(secs, nanos).ok_or(err(0, "a representable time"))?;
    Ok((ts, pos))
}

/// Reads `hh:mm:ss[.frac]` at `at`: seconds of the day, nanoseconds, and the
/// offset just past it. Shared with the BSD syslog timestamp.
pub fn time_of_day(
    b: &[u8],
    at: usize,
    max_fraction_digits: usize,
) -> Result<(i64, u32, usize), TimeError> {
    let err = |offset, expected| TimeError { offset, expected };
    let h = digits(b, at, 2).ok_or(err(at, "a two-digit hour"))?;
    expect(b, at + 2, b':').ok_or(err(at + 2, "`:` after the hour"))?;
    let m = digits(b, at + 3, 2).ok_or(err(at + 3, "two-digit minutes"))?;
    expect(b, at + 5, b':').ok_or(err(at + 5, "`:` after the minutes"))?;
    let s = digits(b, at + 6, 2).ok_or(err(at + 6, "two-digit seconds"))?;
    if h > 23 {
        return Err(err(at, "an hour from 00 to 23"));
    }
    if m > 59 {
        return Err(err(at + 3, "minutes from 00 to 59"));
    }
    if s > 59 {
        return Err(err(
            at + 6,
            "seconds from 00 to 59 (leap seconds are not allowed)",
        ));
    }
    let mut pos = at + 8;
    let mut nanos = 0u32;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while let Some(d @ b'0'..=b'9') = b.get(pos) {
            if pos - start == max_fraction_digits {
                return Err(err(pos, max_digits_message(max_fraction_digits)));
            }
            nanos = nanos * 10 + u32::from(d - b'0');
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return Err(err(pos, "fraction digits after `.`"));
        }
        nanos *= 10u32.pow(9 - n as u32);
    }
    Ok((i64::from(h * 3600 + m * 60 + s), nanos, pos))
}

fn max_digits_message(n: usize) -> &'static str {
    match n {
        6 => "at most 6 fraction digits (microseconds)",
        3 => "at most 3 fraction digits (milliseconds)",
        _ => "at most 9 fraction digits (nanoseconds)",
    }
}

/// `n` ASCII digits at `at` as a number, or `None` if any is missing.
#[inline]
pub fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(n)?)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

#[inline]
fn expect(b: &[u8], at: usize, c: u8) -> Option<()> {
    (b.get(at) == Some(&c)).then_some(())
}

pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`); exact for every year chrono can represent.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn ts(s: &str) -> Result<String, TimeError> {
        parse_prefix(s.as_bytes(), 6).map(|(t, n)| {
            assert_eq!(n, s.len());
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
    }

    #[test]
    fn rfc_5424_valid_examples() {
        assert_eq!(
            ts("1985-04-12T23:20:50.52Z").unwrap(),
            "1985-04-12T23:20:50.520Z"
        );
        assert_eq!(
            ts("1985-04-12T19:20:50.52-04:00").unwrap(),
            "1985-04-12T23:20:50.520Z"
        );
        assert_eq!(
            ts("2003-10-11T22:14:15.003Z").unwrap(),
            "2003-10-11T22:14:15.003Z"
        );
        assert_eq!(
            ts("2003-08-24T05:14:15.000003-07:00").unwrap(),
            "2003-08-24T12:14:15.000003Z"
        );
        assert_eq!(
            ts("2024-02-29T00:00:00+05:30").unwrap(),
            "2024-02-28T18:30:00Z"
        );
    }

    #[test]
    fn rfc_5424_invalid_examples() {
        let e = ts("2003-08-24T05:14:15.000000003-07:00").unwrap_err();
        assert_eq!(e.offset, 26);
        assert!(e.expected.contains("6 fraction digits"));
        assert_eq!(ts("2003-08-24t05:14:15Z").unwrap_err().offset, 10);
        assert_eq!(ts("2003-08-24T05:14:15z").unwrap_err().offset, 19);
        assert_eq!(ts("2003-08-24T05:14:15").unwrap_err().offset, 19);
        assert!(ts("2016-12-31T23:59:60Z")
            .unwrap_err()
            .expected
            .contains("leap"));
        assert!(ts("2023-02-29T00:00:00Z").is_err());
        assert!(ts("2023-13-01T00:00:00Z").is_err());
        assert!(ts("2023-01-01T24:00:00Z").is_err());
        assert!(ts("2023-01-01T00:00:00.Z").is_err());
        assert!(ts("2023-01-01T00:00:00+24:00").is_err());
        assert!(ts("").is_err());
        assert!(ts("2023-01-01T00:00:00+01").is_err());
    }

    #[test]
    fn nine_digits_where_allowed() {
        let (t, n) = parse_prefix(b"2003-08-24T05:14:15.000000003Z rest", 9).unwrap();
        assert_eq!(n, 30);
        assert_eq!(t.timestamp_subsec_nanos(), 3);
    }

    proptest! {
        #[test]
        fn civil_days_agree_with_chrono(y in 1i32..9999, m in 1u32..=12, d in 1u32..=28) {
            let chrono_days = NaiveDate::from_ymd_opt(y, m, d).unwrap()
                .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
                .num_days();
            prop_assert_eq!(days_from_civil(y, m, d), chrono_days);
        }

        #[test]
        fn round_trips_chrono_rendering(secs in 86_400i64..253_402_214_399, micros in 0u32..1_000_000, off_min in -1439i32..=1439) {
            // The range keeps the local year within 0000-9999 whatever the offset.
            let t = DateTime::from_timestamp(secs, micros * 1000).unwrap();
            let off = chrono::FixedOffset::east_opt(off_min * 60).unwrap();
            let text = t.with_timezone(&off).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let (parsed, n) = parse_prefix(text.as_bytes(), 6).unwrap();
            prop_assert_eq!(parsed, t);
            prop_assert_eq!(n, text.len());
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..40), max in 1usize..10) {
            let _ = parse_prefix(&bytes, max);
        }
    }
}
