//! JSON-RPC 2.0 on the wire: building the upstream request once per call, reading an
//! upstream answer without copying or re-parsing its `result`, and the Solana error codes
//! that decide whether an error belongs to the call or to the endpoint.
//!
//! Payloads stay slices of the bytes they arrived in ([`RawJson`]): the pool checks the
//! envelope (id, result or error) and, for the few methods where emptiness matters, peeks
//! at `value`; everything else is forwarded byte for byte.

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::catalog::EmptyRule;

/// Deserializes a present field as `Some(raw)`, including a literal `null`, so that a
/// missing field (`None` by `#[serde(default)]`) and `null` stay distinguishable.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A JSON value held as a slice of a shared buffer — an upstream's `result` inside the
/// body it arrived in — so it reaches the client without being copied. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson {
    /// Valid UTF-8 JSON text (every constructor guarantees it).
    buf: Bytes,
}

impl RawJson {
    /// The value `part`, borrowed from `text`, which is `body` validated as UTF-8: kept as
    /// a slice of `body`, without copying.
    pub(crate) fn slice_of(body: &Bytes, text: &str, part: &RawValue) -> RawJson {
        debug_assert!(std::ptr::eq(text.as_ptr(), body.as_ptr()));
        RawJson {
            buf: body.slice_ref(part.get().as_bytes()),
        }
    }

    /// A copy of `raw`.
    pub fn from_raw(raw: &RawValue) -> RawJson {
        RawJson {
            buf: Bytes::copy_from_slice(raw.get().as_bytes()),
        }
    }

    /// JSON the pool wrote itself (a merged list), taken as is.
    pub(crate) fn from_string(json: String) -> RawJson {
        debug_assert!(serde_json::from_str::<&RawValue>(&json).is_ok(), "{json}");
        RawJson {
            buf: Bytes::from(json),
        }
    }

    /// Parses `text` as one JSON value; `None` if it is not valid JSON.
    pub fn parse(text: &str) -> Option<RawJson> {
        let raw: &RawValue = serde_json::from_str(text).ok()?;
        Some(RawJson::from_raw(raw))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        // SAFETY: every constructor takes the bytes of a `str` (a `RawValue` borrowed from
        // UTF-8-validated text, or a `RawValue`'s own text), so `buf` is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.buf) }
    }

    /// The bytes, to hand to a writer without copying.
    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }

    /// An owned `RawValue` (a copy).
    pub fn to_raw_value(&self) -> Box<RawValue> {
        RawValue::from_string(self.get().to_string()).expect("RawJson holds valid JSON")
    }
}

impl std::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

impl std::fmt::Display for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

/// The upstream request of one call, `{"jsonrpc":"2.0","method":M,"params":P,"id":N}`,
/// built once and sent as-is by every attempt. The id comes last, so the bytes before it
/// ([`Request::key`]) say *what* is asked and key coalescing and the cache without
/// formatting another string.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The whole body.
    pub(crate) body: Bytes,
    /// The id inside `body`, checked against every answer.
    pub(crate) id: u64,
    /// Length of the part before the id.
    key_len: usize,
}

impl Request {
    /// Builds the request body.
    pub(crate) fn new(id: u64, method: &str, params: Option<&RawValue>) -> Request {
        let params = params.map(RawValue::get).unwrap_or("");
        // Sized up front and frozen as is: a `Vec` with spare room would be copied into an
        // exact allocation on its way into `Bytes`.
        let mut out = BytesMut::with_capacity(64 + method.len() + params.len());
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
        serde_json::to_writer((&mut out).writer(), method)
            .expect("writing a string to memory cannot fail");
        if !params.is_empty() {
            out.extend_from_slice(b",\"params\":");
            out.extend_from_slice(params.as_bytes());
        }
        out.extend_from_slice(b",\"id\":");
        let key_len = out.len();
        out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        out.put_u8(b'}');
        Request {
            body: out.freeze(),
            id,
            key_len,
        }
    }

    /// The method and params as sent (the body up to the id): equal for equal calls.
    pub(crate) fn key(&self) -> Bytes {
        self.body.slice(..self.key_len)
    }
}

/// The envelope of an upstream response, borrowing from the body.
#[derive(serde::Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) error: Option<&'a RawValue>,
}

/// The fields of a JSON-RPC error object the pool looks at.
#[derive(serde::Deserialize)]
pub(crate) struct ErrorObject<'a> {
    pub(crate) code: i64,
    #[serde(borrow, default)]
    pub(crate) message: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    pub(crate) data: Option<&'a RawValue>,
}

/// Who an upstream JSON-RPC error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// Every node would answer the same: the call ends and the client gets it unchanged.
    Deterministic,
    /// The node is unhealthy (-32005): charged to its breaker.
    NodeUnhealthy,
    /// The node has not caught up with what was asked (min context slot, block not yet
    /// available, a blockhash it has not seen): charged to its breaker.
    NodeBehind,
    /// The node has not reached the client's `minContextSlot` (-32016): "not yet", not a
    /// failure — asked elsewhere, not charged to the breaker; when every node says so,
    /// that is the answer.
    NotYet,
    /// The provider refuses for rate limiting, inside a JSON-RPC body.
    RateLimited,
    /// The node lacks data another may have (cleaned-up ledger, skipped slot, no
    /// long-term storage, secondary index off, …): another node is asked, but this one
    /// answered properly, so its breaker is not charged.
    DataUnavailable,
    /// Any other well-formed error (method not found, internal error, provider-specific
    /// codes): asked elsewhere, not charged to the breaker; when every node that answers
    /// says the same, that is the answer.
    Other,
}

/// Classifies an upstream JSON-RPC error. Codes from agave's
/// `rpc-client-api/src/custom_error.rs` (-32001 … -32019) and the JSON-RPC 2.0 spec.
pub(crate) fn classify_error(err: &ErrorObject<'_>) -> ErrorClass {
    match err.code {
        // Preflight failure is deterministic except when the node simply has not seen the
        // blockhash yet: a fresher node would accept the transaction.
        -32002 => {
            let data = err.data.map(RawValue::get).unwrap_or("");
            if data.contains("BlockhashNotFound") || err.message.contains("Blockhash not found") {
                ErrorClass::NodeBehind
            } else {
                ErrorClass::Deterministic
            }
        }
        // Signature verification, precompile verification, signature length mismatch,
        // unsupported transaction version, epoch rewards period, slot not epoch boundary.
        -32003 | -32006 | -32013 | -32015 | -32017 | -32018 => ErrorClass::Deterministic,
        // Parse error, invalid request, invalid params: the request is wrong everywhere.
        -32700 | -32600 | -32602 => ErrorClass::Deterministic,
        -32005 => ErrorClass::NodeUnhealthy,
        // Block not available, block status not available yet.
        -32004 | -32014 => ErrorClass::NodeBehind,
        // Minimum context slot not reached: the client asked for a slot this node has not
        // reached *yet*; nothing is wrong with the node.
        -32016 => ErrorClass::NotYet,
        // Block cleaned up, slot skipped or missing, no snapshot, long-term storage slot
        // skipped, key excluded from secondary index, history not available, long-term
        // storage unreachable.
        -32001 | -32007 | -32008 | -32009 | -32010 | -32011 | -32019 => ErrorClass::DataUnavailable,
        // Providers signal rate limits inside 200 bodies too (429 or -32429, or only in
        // the message).
        429 | -32429 => ErrorClass::RateLimited,
        _ if looks_rate_limited(&err.message) => ErrorClass::RateLimited,
        _ => ErrorClass::Other,
    }
}

/// Whether an error message says "rate limited" in one of the ways providers say it.
fn looks_rate_limited(message: &str) -> bool {
    let m = message.as_bytes();
    let has = |needle: &[u8]| {
        m.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    has(b"rate limit") || has(b"too many requests")
}

/// How many parts of `result` are missing under `rule`: 0 means complete and usable.
pub(crate) fn missing_parts(rule: EmptyRule, result: &RawValue) -> u32 {
    #[derive(serde::Deserialize)]
    struct WithValue<'a> {
        #[serde(borrow, default, deserialize_with = "present")]
        value: Option<&'a RawValue>,
    }
    let is_null = |r: &RawValue| r.get() == "null";
    match rule {
        EmptyRule::Never => 0,
        EmptyRule::NullResult => u32::from(is_null(result)),
        EmptyRule::NullValue => {
            if is_null(result) {
                return 1;
            }
            // The usual shape, `{"context":{…},"value":…}`, is decided by reading up to the
            // value's first bytes: an account's data is not scanned a second time.
            if let Some(value) = value_after_context(result.get()) {
                return u32::from(starts_with_null(value));
            }
            match serde_json::from_str::<WithValue<'_>>(result.get()) {
                Ok(WithValue { value: Some(v) }) => u32::from(is_null(v)),
                _ => 0,
            }
        }
        EmptyRule::NullEntries => {
            if is_null(result) {
                return 1;
            }
            let Ok(WithValue { value: Some(v) }) =
                serde_json::from_str::<WithValue<'_>>(result.get())
            else {
                return 0;
            };
            match serde_json::from_str::<Vec<&RawValue>>(v.get()) {
                Ok(entries) => entries.iter().filter(|e| is_null(e)).count() as u32,
                Err(_) => u32::from(is_null(v)),
            }
        }
    }
}

/// The text from the start of `value` to the end of `result`, when `result` is an object
/// whose first key is `context` and second `value` (how agave writes every such result);
/// `None` for any other shape, left to a full parse. Only `context` is scanned.
fn value_after_context(result: &str) -> Option<&str> {
    let rest = result.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest
        .strip_prefix("\"context\"")?
        .trim_start()
        .strip_prefix(':')?;
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
    values.next()?.ok()?;
    let rest = rest[values.byte_offset()..]
        .trim_start()
        .strip_prefix(',')?;
    let rest = rest.trim_start().strip_prefix("\"value\"")?.trim_start();
    Some(rest.strip_prefix(':')?.trim_start())
}

/// Whether JSON text starts with the value `null`.
fn starts_with_null(text: &str) -> bool {
    text.strip_prefix("null")
        .is_some_and(|after| after.starts_with([',', '}', ']', ' ', '\n', '\r', '\t']))
}

/// Writes a JSON-RPC error object `{"code":C,"message":M,"data":D}`.
pub fn error_object(code: i64, message: &str, data: Option<&serde_json::Value>) -> Box<RawValue> {
    let mut obj = serde_json::json!({ "code": code, "message": message });
    if let Some(d) = data {
        obj["data"] = d.clone();
    }
    serde_json::value::to_raw_value(&obj).expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn request_escapes_the_method_keeps_params_verbatim_and_puts_the_id_last() {
        let params = raw(r#"[ "abc", {"encoding":"base64"} ]"#);
        let req = Request::new(7, "get\"X", Some(&params));
        assert_eq!(
            std::str::from_utf8(&req.body).unwrap(),
            r#"{"jsonrpc":"2.0","method":"get\"X","params":[ "abc", {"encoding":"base64"} ],"id":7}"#
        );
        let req = Request::new(1, "getSlot", None);
        assert_eq!(
            &req.body[..],
            br#"{"jsonrpc":"2.0","method":"getSlot","id":1}"#
        );
        // The key is what is asked, not who asks: equal for equal calls.
        assert_eq!(
            Request::new(1, "getSlot", None).key(),
            Request::new(99, "getSlot", None).key()
        );
        assert_ne!(
            Request::new(1, "getSlot", None).key(),
            Request::new(1, "getSlot", Some(&raw("[1]"))).key()
        );
    }

    #[test]
    fn raw_json_is_a_slice_of_the_body() {
        let body = Bytes::from_static(br#"{"id":1,"result":{"a": 1}}"#);
        let text = std::str::from_utf8(&body).unwrap();
        let env: Envelope<'_> = serde_json::from_str(text).unwrap();
        let r = RawJson::slice_of(&body, text, env.result.unwrap());
        assert_eq!(r.get(), r#"{"a": 1}"#);
        assert_eq!(r.bytes().as_ptr(), body[17..].as_ptr(), "no copy");
    }

    #[test]
    fn envelope_tells_null_result_from_missing_result() {
        let e: Envelope<'_> =
            serde_json::from_str(r#"{"jsonrpc":"2.0","id":3,"result":null}"#).unwrap();
        assert_eq!(e.result.unwrap().get(), "null");
        assert!(e.error.is_none());
        let e: Envelope<'_> = serde_json::from_str(r#"{"jsonrpc":"2.0","id":3}"#).unwrap();
        assert!(e.result.is_none() && e.error.is_none());
    }

    fn class(code: i64, message: &str, data: Option<&str>) -> ErrorClass {
        let data = data.map(raw);
        classify_error(&ErrorObject {
            code,
            message: message.into(),
            data: data.as_deref(),
        })
    }

    #[test]
    fn error_classification_table() {
        let cases: &[(i64, &str, Option<&str>, ErrorClass)] = &[
            (-32602, "Invalid params", None, ErrorClass::Deterministic),
            (
                -32002,
                "Transaction simulation failed: Error processing Instruction 2",
                Some(r#"{"err":{"InstructionError":[2,{"Custom":6001}]}}"#),
                ErrorClass::Deterministic,
            ),
            (
                -32002,
                "Transaction simulation failed: Blockhash not found",
                Some(r#"{"err":"BlockhashNotFound"}"#),
                ErrorClass::NodeBehind,
            ),
            (
                -32003,
                "Transaction signature verification failure",
                None,
                ErrorClass::Deterministic,
            ),
            (
                -32015,
                "Transaction version (0) is not supported",
                None,
                ErrorClass::Deterministic,
            ),
            (
                -32005,
                "Node is unhealthy",
                Some(r#"{"numSlotsBehind":42}"#),
                ErrorClass::NodeUnhealthy,
            ),
            (
                -32016,
                "Minimum context slot has not been reached",
                None,
                ErrorClass::NotYet,
            ),
            (
                -32004,
                "Block not available for slot 1",
                None,
                ErrorClass::NodeBehind,
            ),
            (
                -32011,
                "Transaction history is not available from this node",
                None,
                ErrorClass::DataUnavailable,
            ),
            (-32601, "Method not found", None, ErrorClass::Other),
            (-32603, "Internal error", None, ErrorClass::Other),
            (
                -32007,
                "Slot 5 was skipped",
                None,
                ErrorClass::DataUnavailable,
            ),
            (-32429, "rate limited", None, ErrorClass::RateLimited),
            (429, "Too many requests", None, ErrorClass::RateLimited),
            (-32000, "Rate Limit Exceeded", None, ErrorClass::RateLimited),
        ];
        for (code, msg, data, want) in cases {
            assert_eq!(class(*code, msg, *data), *want, "code {code} {msg}");
        }
    }

    fn rule(method: &str) -> EmptyRule {
        crate::catalog::lookup(method).empty
    }

    #[test]
    fn emptiness_per_method() {
        let r = |s| raw(s);
        assert_eq!(missing_parts(rule("getTransaction"), &r("null")), 1);
        assert_eq!(
            missing_parts(rule("getTransaction"), &r(r#"{"slot":1}"#)),
            0
        );
        assert_eq!(
            missing_parts(
                rule("getAccountInfo"),
                &r(r#"{"context":{"slot":1},"value":null}"#)
            ),
            1
        );
        assert_eq!(
            missing_parts(
                rule("getAccountInfo"),
                &r(r#"{"context":{"slot":1},"value":{"lamports":1}}"#)
            ),
            0
        );
        assert_eq!(
            missing_parts(
                rule("getSignatureStatuses"),
                &r(r#"{"context":{"slot":1},"value":[null,{"slot":1},null]}"#)
            ),
            2
        );
        // Shapes other than context-then-value are read in full, with the same verdicts.
        for (text, want) in [
            (
                r#"{ "context" : {"slot":1,"x":"},\"value\":null"} , "value" : null }"#,
                1,
            ),
            (r#"{"context":{"slot":1},"value":nullx}"#, 0),
            (r#"{"value":null,"context":{"slot":1}}"#, 1),
            (r#"{"value":{"a":1},"context":{"slot":1}}"#, 0),
            (r#"{"context":{"slot":1},"value":"null"}"#, 0),
            (r#"{"context":{"slot":1},"\u0076alue":null}"#, 1),
        ] {
            let got = RawValue::from_string(text.to_string())
                .map(|v| missing_parts(rule("getAccountInfo"), &v));
            match got {
                Ok(got) => assert_eq!(got, want, "{text}"),
                // Not JSON at all (`nullx`): never reaches this function from an upstream.
                Err(_) => assert_eq!(want, 0, "{text}"),
            }
        }
        assert_eq!(missing_parts(rule("getSlot"), &r("null")), 0);
        assert_eq!(
            missing_parts(rule("getBalance"), &r(r#"{"value":null}"#)),
            0
        );
    }
}
