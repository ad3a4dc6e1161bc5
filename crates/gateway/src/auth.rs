//! Client authentication: optional API keys, from the `x-api-key` header or the `api-key`
//! query parameter, compared in constant time so response timing does not reveal how much
//! of a guess was right. With no keys configured every client is let in (the gateway then
//! relies on binding to loopback).

use subtle::ConstantTimeEq;

use crate::HEADER_API_KEY;
use crate::head::{RequestHead, text};

/// Whether the request carries one of `keys` (always true when `keys` is empty).
pub(crate) fn authorized(keys: &[String], head: &impl RequestHead) -> bool {
    if keys.is_empty() {
        return true;
    }
    let presented = head
        .header(HEADER_API_KEY)
        .and_then(text)
        .map(str::to_string)
        .or_else(|| query_key(head.query()?));
    let Some(presented) = presented else {
        return false;
    };
    // Every key is compared, whatever matched, so timing does not tell which key is close.
    keys.iter().fold(false, |found, key| {
        found | bool::from(key.as_bytes().ct_eq(presented.as_bytes()))
    })
}

fn query_key(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "api-key")
        .map(|(_, v)| percent_decode(v))
}

/// Minimal `%XX` decoding for a key in a query string.
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    fn check(keys: &[&str], header: Option<&str>, uri: &str) -> bool {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut h = HeaderMap::new();
        if let Some(v) = header {
            h.insert(HEADER_API_KEY, v.parse().unwrap());
        }
        let uri: axum::http::Uri = uri.parse().unwrap();
        authorized(&keys, &(&h, &uri))
    }

    #[test]
    fn keys_from_header_or_query() {
        assert!(check(&[], None, "/"));
        assert!(!check(&["k-0123456789abcdef"], None, "/"));
        assert!(check(
            &["k-0123456789abcdef"],
            Some("k-0123456789abcdef"),
            "/"
        ));
        assert!(!check(
            &["k-0123456789abcdef"],
            Some("k-0123456789abcdeX"),
            "/"
        ));
        assert!(!check(
            &["k-0123456789abcdef"],
            Some("k-0123456789abcde"),
            "/"
        ));
        assert!(check(
            &["a-0123456789abcdef", "k-0123456789abcdef"],
            None,
            "/race?x=1&api-key=k-0123456789abcdef"
        ));
        assert!(check(
            &["k 0123456789abcdef"],
            None,
            "/?api-key=k%200123456789abcdef"
        ));
        assert!(!check(
            &["k-0123456789abcdef"],
            None,
            "/?apikey=k-0123456789abcdef"
        ));
    }
}
