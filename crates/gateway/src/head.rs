//! What the gateway reads from a request's head to admit it — the API key, the content
//! type, the override headers — behind one small trait, so that the connection's own
//! HTTP/1.1 path (`crate::front`) answers from the bytes it parsed, without building a
//! header map and a URI per request, and hyper's path from the map it has.

use axum::http::{HeaderMap, Uri};

/// A request head as admission reads it.
pub(crate) trait RequestHead {
    /// The first value of the header `name` (lowercase), if any.
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// The target's query string (after `?`), if any.
    fn query(&self) -> Option<&str>;
}

impl RequestHead for (&HeaderMap, &Uri) {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(|v| v.as_bytes())
    }

    fn query(&self) -> Option<&str> {
        self.1.query()
    }
}

/// A header value as text: visible ASCII, spaces and tabs only (what `HeaderValue::to_str`
/// accepts), else `None`.
pub(crate) fn text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (32..127).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_what_header_values_allow() {
        assert_eq!(
            text(b"application/json; charset=utf-8"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(text(b"a\tb"), Some("a\tb"));
        assert_eq!(text(b"caf\xc3\xa9"), None);
        assert_eq!(text(b"a\x7fb"), None);
        assert_eq!(text(b"a\x01"), None);
    }

    #[test]
    fn a_header_map_reads_the_first_value_and_the_query() {
        let mut map = HeaderMap::new();
        map.append("x-api-key", "one".parse().unwrap());
        map.append("x-api-key", "two".parse().unwrap());
        let uri: Uri = "/race?api-key=k&x=1".parse().unwrap();
        let head = (&map, &uri);
        assert_eq!(head.header("x-api-key"), Some(&b"one"[..]));
        assert_eq!(head.header("content-type"), None);
        assert_eq!(head.query(), Some("api-key=k&x=1"));
    }
}
