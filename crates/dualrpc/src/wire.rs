//! Small pieces of HTTP/1.1 both ends of the gateway parse by hand (the upstream client's
//! answers, the front's requests), so they read them the same strict way, and the
//! vectored write both use.

use std::io::IoSlice;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

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

/// Writes `parts` in order, with as few (vectored) writes as the socket takes.
pub async fn write_all(stream: &mut TcpStream, mut parts: &mut [&[u8]]) -> std::io::Result<()> {
    loop {
        while parts.first().is_some_and(|p| p.is_empty()) {
            parts = &mut parts[1..];
        }
        if parts.is_empty() {
            return Ok(());
        }
        let mut slices = [IoSlice::new(&[]); 16];
        let n = parts.len().min(slices.len());
        for (slice, part) in slices.iter_mut().zip(parts.iter()) {
            *slice = IoSlice::new(part);
        }
        let mut written = stream.write_vectored(&slices[..n]).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while let Some(first) = parts.first_mut() {
            if written < first.len() {
                *first = &first[written..];
                break;
            }
            written -= first.len();
            parts = &mut parts[1..];
        }
    }
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
