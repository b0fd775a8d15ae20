//! Helpers the hand-written parsers share.

/// A non-negative decimal that fits in an `i64`, digits only. Always
/// inlined: the tokenizers call it for most fields, and the call costs as
/// much as the work.
#[inline(always)]
pub(crate) fn parse_u63(s: &[u8]) -> Option<i64> {
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
