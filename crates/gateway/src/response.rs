//! Writing JSON-RPC responses: the upstream's `result` or `error` bytes are spliced in
//! verbatim next to the client's own `id` bytes, so nothing is re-encoded — and a large
//! result is not even copied: it goes to the socket as the very buffer the upstream's
//! answer was read into ([`Chunks`], written with one vectored write).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::request::RequestError;

/// A response as the gateway builds it: a status, the few headers it sets, a body. The
/// connection's own HTTP/1.1 path (`crate::front`) writes it as it is — no header map is
/// built per request —, hyper's gets it as an `http::Response` ([`Outgoing::into_http`]).
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) status: StatusCode,
    /// Each name once (the gateway sets each header once); inline for the usual four.
    pub(crate) headers: SmallVec<[(HeaderName, HeaderValue); 4]>,
    pub(crate) body: Chunks,
}

impl Outgoing {
    /// `body` under `status`, no headers yet.
    pub(crate) fn new(status: StatusCode, body: Chunks) -> Outgoing {
        Outgoing {
            status,
            headers: SmallVec::new(),
            body,
        }
    }

    /// Adds the header `name` (not set yet).
    pub(crate) fn header(&mut self, name: HeaderName, value: HeaderValue) {
        debug_assert!(self.headers.iter().all(|(n, _)| *n != name), "{name} twice");
        self.headers.push((name, value));
    }

    /// As hyper's response.
    pub(crate) fn into_http(self) -> http::Response<Chunks> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = self.status;
        let map = response.headers_mut();
        map.reserve(self.headers.len());
        for (name, value) in self.headers {
            map.insert(name, value);
        }
        response
    }
}

/// Results at least this long are handed over as their own buffer; shorter pieces are
/// copied together (one small copy is cheaper than one more buffer to write and free).
pub(crate) const SHARE_AT: usize = 512;

/// A response body: a few buffers, sent in order, with an exact length.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    /// Inline for the usual one to three (no allocation for the list).
    parts: SmallVec<[Bytes; 3]>,
    /// How many of `parts` went out as frames already (hyper's path).
    sent: usize,
    len: u64,
}

impl Chunks {
    /// The buffers not sent yet, in order.
    pub(crate) fn parts(&self) -> &[Bytes] {
        &self.parts[self.sent..]
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The whole body as one buffer (tests, logs).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.parts()
            .iter()
            .flat_map(|b| b.iter().copied())
            .collect()
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let next = this.parts.get_mut(this.sent).map(std::mem::take);
        if let Some(b) = &next {
            this.sent += 1;
            this.len -= b.len() as u64;
        }
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent == self.parts.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// Builds a [`Chunks`]: small pieces are gathered in one buffer, large shared ones
/// ([`SHARE_AT`]) are added as they are.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    done: Chunks,
    small: BytesMut,
}

impl Writer {
    /// A writer expecting about `capacity` bytes of small pieces.
    pub(crate) fn with_capacity(capacity: usize) -> Writer {
        Writer {
            done: Chunks::default(),
            small: BytesMut::with_capacity(capacity),
        }
    }

    /// Appends a small piece (copied).
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.small.extend_from_slice(bytes);
    }

    /// Appends a shared buffer: copied if small, else handed over as it is.
    pub(crate) fn share(&mut self, bytes: &Bytes) {
        if bytes.len() < SHARE_AT {
            self.put(bytes);
            return;
        }
        self.flush_small();
        self.done.len += bytes.len() as u64;
        self.done.parts.push(bytes.clone());
    }

    /// Appends a whole body (a batch element's answer).
    pub(crate) fn append(&mut self, body: Chunks) {
        for part in body.parts() {
            self.share(part);
        }
    }

    fn flush_small(&mut self) {
        if !self.small.is_empty() {
            let small = self.small.split().freeze();
            self.done.len += small.len() as u64;
            self.done.parts.push(small);
        }
    }

    /// The body.
    pub(crate) fn finish(mut self) -> Chunks {
        self.flush_small();
        self.done
    }
}

/// Appends `{"jsonrpc":"2.0","result":R,"id":ID}`.
pub(crate) fn write_result(out: &mut Writer, id: Option<&RawValue>, result: &dualrpc::RawJson) {
    out.put(b"{\"jsonrpc\":\"2.0\",\"result\":");
    out.share(result.bytes());
    write_id(out, id);
}

/// Appends `{"jsonrpc":"2.0","error":E,"id":ID}`.
pub(crate) fn write_error(out: &mut Writer, id: Option<&RawValue>, error: &RawValue) {
    out.put(b"{\"jsonrpc\":\"2.0\",\"error\":");
    out.put(error.get().as_bytes());
    write_id(out, id);
}

/// Appends an error the gateway itself produced.
pub(crate) fn write_request_error(out: &mut Writer, id: Option<&RawValue>, error: &RequestError) {
    let obj = serde_json::json!({ "code": error.code, "message": error.message });
    out.put(b"{\"jsonrpc\":\"2.0\",\"error\":");
    out.put(obj.to_string().as_bytes());
    write_id(out, id);
}

fn write_id(out: &mut Writer, id: Option<&RawValue>) {
    out.put(b",\"id\":");
    out.put(id.map_or("null", RawValue::get).as_bytes());
    out.put(b"}");
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn written(f: impl FnOnce(&mut Writer)) -> (Chunks, String) {
        let mut w = Writer::default();
        f(&mut w);
        let body = w.finish();
        let text = String::from_utf8(body.to_vec()).unwrap();
        (body, text)
    }

    #[test]
    fn ids_and_results_are_spliced_verbatim() {
        let id = RawValue::from_string("\"x-1\"".into()).unwrap();
        let result = dualrpc::RawJson::parse(r#"{"b":1, "a":2}"#).unwrap();
        let (body, text) = written(|w| write_result(w, Some(&id), &result));
        assert_eq!(
            text,
            r#"{"jsonrpc":"2.0","result":{"b":1, "a":2},"id":"x-1"}"#
        );
        assert_eq!(body.parts.len(), 1, "a small answer is one buffer");
        let (_, text) =
            written(|w| write_request_error(w, None, &RequestError::parse("Parse error")));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], -32700);
        assert!(v["id"].is_null());
    }

    #[tokio::test]
    async fn a_large_result_is_sent_from_the_upstream_buffer_itself() {
        let big = format!("\"{}\"", "a".repeat(4 * SHARE_AT));
        let result = dualrpc::RawJson::parse(&big).unwrap();
        let id = RawValue::from_string("7".into()).unwrap();
        let (body, text) = written(|w| write_result(w, Some(&id), &result));
        assert_eq!(
            text,
            format!(r#"{{"jsonrpc":"2.0","result":{big},"id":7}}"#)
        );
        assert_eq!(body.parts.len(), 3, "head, the shared result, tail");
        assert_eq!(
            body.parts[1].as_ptr(),
            result.bytes().as_ptr(),
            "the result is not copied"
        );
        assert_eq!(
            http_body::Body::size_hint(&body).exact(),
            Some(text.len() as u64)
        );
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected, text.as_bytes());
    }
}
