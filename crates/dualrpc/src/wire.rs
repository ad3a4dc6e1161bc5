//! Small pieces of HTTP/1.1 both ends of the gateway parse by hand (the upstream client's
//! answers, the front's requests), so they read them the same strict way.

/// A `Content-Length` value: one to nineteen ASCII digits and nothing else (no sign, no
/// spaces inside, no other characters; surrounding spaces and tabs are allowed). Looser
/// parsing than the peer's is how two HTTP/1.1 readers come to disagree on where a message
/// ends.
pub fn decimal(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
    )
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn only_plain_digits_are_a_length() {
        assert_eq!(decimal(b"0"), Some(0));
        assert_eq!(decimal(b" 42\t"), Some(42));
        assert_eq!(
            decimal(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"+5",
            b"-1",
            b"5 5",
            b"0x10",
            b"5\xc2\xa0",
            b"99999999999999999999",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }
}
