//! JSON-RPC 2.0 on the wire: building the upstream request once per call, reading an
//! upstream answer without re-parsing its `result`, and the Solana error codes that decide
//! whether an error belongs to the call or to the endpoint.
//!
//! Payloads stay [`RawValue`]s: the pool checks the envelope (id, result or error) and, for
//! the few methods where emptiness matters, peeks at `value`; everything else is forwarded
//! byte for byte.

use bytes::Bytes;
use serde::de::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Deserializes a present field as `Some(raw)`, including a literal `null`, so that a
/// missing field (`None` by `#[serde(default)]`) and `null` stay distinguishable.
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Owned variant of [`present`].
pub fn present_owned<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// Builds `{"jsonrpc":"2.0","id":ID,"method":M,"params":P}` once per call; every attempt of
/// the call sends these same bytes.
pub(crate) fn request_body(id: u64, method: &str, params: Option<&RawValue>) -> Bytes {
    let params = params.map(RawValue::get).unwrap_or("");
    let mut out = Vec::with_capacity(64 + method.len() + params.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.to_string().as_bytes());
    out.extend_from_slice(b",\"method\":");
    serde_json::to_writer(&mut out, method).expect("writing a string to a Vec cannot fail");
    if !params.is_empty() {
        out.extend_from_slice(b",\"params\":");
        out.extend_from_slice(params.as_bytes());
    }
    out.push(b'}');
    Bytes::from(out)
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
    /// The node is unhealthy (-32005).
    NodeUnhealthy,
    /// The node has not caught up with what was asked (min context slot, block not yet
    /// available, blockhash it has not seen).
    NodeBehind,
    /// The node lacks data another may have (cleaned-up ledger, no long-term storage,
    /// secondary index off, …).
    DataUnavailable,
    /// Anything else: treated as this endpoint's failure, since retrying elsewhere is cheap
    /// and a wrong "deterministic" verdict would hide a working provider.
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
        // Block not available, block status not available yet, min context slot not reached.
        -32004 | -32014 | -32016 => ErrorClass::NodeBehind,
        // Block cleaned up, slot skipped or missing, no snapshot, long-term storage slot
        // skipped, key excluded from secondary index, history not available, long-term
        // storage unreachable.
        -32001 | -32007 | -32008 | -32009 | -32010 | -32011 | -32019 => ErrorClass::DataUnavailable,
        _ => ErrorClass::Other,
    }
}

/// How a method's answer can be "empty": a node that has not seen the thing yet answers
/// `null` where another node already knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmptyRule {
    /// Any successful answer is usable.
    Never,
    /// `result` is `null` (`getTransaction`, `getBlock`, …).
    NullResult,
    /// `result.value` is `null` (`getAccountInfo`).
    NullValue,
    /// Entries of `result.value` are `null` (`getSignatureStatuses`, `getMultipleAccounts`).
    NullEntries,
}

/// The emptiness rule of a Solana method.
pub(crate) fn empty_rule(method: &str) -> EmptyRule {
    match method {
        "getTransaction"
        | "getBlock"
        | "getBlockTime"
        | "getConfirmedTransaction"
        | "getConfirmedBlock" => EmptyRule::NullResult,
        "getAccountInfo" => EmptyRule::NullValue,
        "getSignatureStatuses" | "getMultipleAccounts" => EmptyRule::NullEntries,
        _ => EmptyRule::Never,
    }
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
    fn request_body_escapes_the_method_and_keeps_params_verbatim() {
        let params = raw(r#"[ "abc", {"encoding":"base64"} ]"#);
        let body = request_body(7, "get\"X", Some(&params));
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"method":"get\"X","params":[ "abc", {"encoding":"base64"} ]}"#
        );
        let body = request_body(1, "getSlot", None);
        assert_eq!(&body[..], br#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#);
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
                ErrorClass::NodeBehind,
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
            (-32429, "rate limited", None, ErrorClass::Other),
        ];
        for (code, msg, data, want) in cases {
            assert_eq!(class(*code, msg, *data), *want, "code {code} {msg}");
        }
    }

    #[test]
    fn emptiness_per_method() {
        let r = |s| raw(s);
        assert_eq!(missing_parts(empty_rule("getTransaction"), &r("null")), 1);
        assert_eq!(
            missing_parts(empty_rule("getTransaction"), &r(r#"{"slot":1}"#)),
            0
        );
        assert_eq!(
            missing_parts(
                empty_rule("getAccountInfo"),
                &r(r#"{"context":{"slot":1},"value":null}"#)
            ),
            1
        );
        assert_eq!(
            missing_parts(
                empty_rule("getAccountInfo"),
                &r(r#"{"context":{"slot":1},"value":{"lamports":1}}"#)
            ),
            0
        );
        assert_eq!(
            missing_parts(
                empty_rule("getSignatureStatuses"),
                &r(r#"{"context":{"slot":1},"value":[null,{"slot":1},null]}"#)
            ),
            2
        );
        assert_eq!(missing_parts(empty_rule("getSlot"), &r("null")), 0);
        assert_eq!(
            missing_parts(empty_rule("getBalance"), &r(r#"{"value":null}"#)),
            0
        );
    }
}
