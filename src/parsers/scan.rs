//! Word-at-a-time byte searches for the hand-written parsers' tokenizers.
//!
//! Log fields are mostly 3 to 20 bytes long. There the call and set-up of
//! `memchr` cost more than the search (it was a fifth of the S3 access
//! parser's time, called once per token), while looking at eight bytes per
//! step with plain integer operations is as fast as a byte loop on short
//! tokens and still quick on 64-byte IDs. `memchr` stays the tool for long
//! haystacks (quoted values, whole lines).
//!
//! Both searches use the zero-byte test: in `x - 0x01…` the borrow sets the
//! top bit of every byte of `x` that was zero (or, with `limit` instead of
//! `0x01`, below `limit`); `& !x` drops bytes whose own top bit was set. A
//! borrow only runs upwards, so bytes after a flagged one may be flagged
//! wrongly but never those before it: the lowest flag (little-endian) is
//! exact, and it is the one taken.

/// `0x01` in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
pub(crate) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The position of the first `byte` at or after `from` in `hay`.
#[inline(always)]
pub(crate) fn find_byte(hay: &[u8], from: usize, byte: u8) -> Option<usize> {
    let pattern = ONES * u64::from(byte);
    let mut i = from;
    while let Some(chunk) = hay.get(i..i + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(word) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < hay.len() {
        if hay[i] == byte {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The position of the first byte below `limit` (at most `0x80`) at or
/// after `from` in `hay`: `limit = b' ' + 1` finds spaces, tabs and other
/// control bytes.
#[inline(always)]
pub(crate) fn find_below(hay: &[u8], from: usize, limit: u8) -> Option<usize> {
    debug_assert!(limit <= 0x80);
    let below = ONES * u64::from(limit);
    let mut i = from;
    while let Some(chunk) = hay.get(i..i + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(word);
        let found = word.wrapping_sub(below) & !word & HIGHS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < hay.len() {
        if hay[i] < limit {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn find_byte_agrees_with_memchr(
            hay in prop::collection::vec(prop::sample::select(vec![b' ', b']', b'a', 0x80, 0xa0, 0xff, 0]), 0..40),
            from in 0usize..45,
            byte in prop::sample::select(vec![b' ', b']', 0xa0, 0]),
        ) {
            let expected = hay.get(from..).and_then(|rest| memchr::memchr(byte, rest)).map(|i| from + i);
            prop_assert_eq!(find_byte(&hay, from, byte), expected);
        }

        #[test]
        fn find_below_agrees_with_bytewise(
            hay in prop::collection::vec(
                prop::sample::select(vec![b' ', b'\t', b'\n', 0u8, b'!', b'a', b'-', 0x80, 0xa0, 0xff, 0x21, 0x20]),
                0..40,
            ),
            from in 0usize..45,
        ) {
            let expected = hay.get(from..).and_then(|rest| rest.iter().position(|&b| b <= b' ')).map(|i| from + i);
            prop_assert_eq!(find_below(&hay, from, b' ' + 1), expected);
        }
    }
}
