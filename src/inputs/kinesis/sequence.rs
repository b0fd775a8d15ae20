//! Kinesis sequence numbers: decimal strings of up to 129 digits (about 56
//! on AWS, `1`, `2`, … on moto), never parsed into an integer type — they do
//! not fit one. Without leading zeros, a longer number is a larger one, and
//! numbers of the same length compare byte by byte; plain string order is
//! wrong (`"10" < "9"`).

use std::cmp::Ordering;

/// Compares two sequence numbers numerically.
pub fn cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (strip(a), strip(b));
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// Whether `a` is at or after `b`.
pub fn at_or_after(a: &str, b: &str) -> bool {
    cmp(a, b) != Ordering::Less
}

/// Leading zeros never appear in Kinesis' numbers; tolerated anyway so that a
/// hand-written checkpoint compares right.
fn strip(s: &str) -> &str {
    let t = s.trim_start_matches('0');
    if t.is_empty() && !s.is_empty() {
        "0"
    } else {
        t
    }
}

/// Whether `s` looks like a sequence number (`0|[1-9][0-9]{0,128}`, leading
/// zeros tolerated).
pub fn is_valid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 129 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numeric_not_lexicographic() {
        assert_eq!(cmp("10", "9"), Ordering::Greater);
        assert_eq!(cmp("9", "10"), Ordering::Less);
        assert_eq!(cmp("12", "12"), Ordering::Equal);
        assert_eq!(cmp("007", "7"), Ordering::Equal);
        let a = "49590338271490256608559692538361571095921575989136588898";
        let b = "49590338271490256608559692540925702759324208523137515618";
        assert_eq!(cmp(a, b), Ordering::Less);
        assert!(at_or_after(b, a) && at_or_after(a, a) && !at_or_after(a, b));
        assert!(is_valid(a) && !is_valid("") && !is_valid("1a"));
    }

    proptest! {
        #[test]
        fn agrees_with_u128(a in any::<u128>(), b in any::<u128>()) {
            prop_assert_eq!(cmp(&a.to_string(), &b.to_string()), a.cmp(&b));
        }
    }
}
