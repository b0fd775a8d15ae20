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

/// A dotted-quad IPv4 address: four decimal octets ≤ 255, no leading zeros
/// (which some parsers read as octal), as `Ipv4Addr`'s parser accepts.
#[inline]
pub(crate) fn is_ipv4(s: &[u8]) -> bool {
    if s.len() < 7 || s.len() > 15 {
        return false;
    }
    let mut octets = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for &b in s {
        match b {
            b'0'..=b'9' => {
                if digits == 1 && value == 0 {
                    return false;
                }
                value = value * 10 + u32::from(b - b'0');
                digits += 1;
                if digits > 3 || value > 255 {
                    return false;
                }
            }
            b'.' => {
                if digits == 0 || octets == 3 {
                    return false;
                }
                octets += 1;
                value = 0;
                digits = 0;
            }
            _ => return false,
        }
    }
    octets == 3 && digits > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ipv4_check_agrees_with_std(text in "[0-9.]{0,16}", ip in any::<std::net::Ipv4Addr>()) {
            let std_ok = text.parse::<std::net::Ipv4Addr>().is_ok();
            prop_assert_eq!(is_ipv4(text.as_bytes()), std_ok, "{}", text);
            prop_assert!(is_ipv4(ip.to_string().as_bytes()));
        }
    }
}
