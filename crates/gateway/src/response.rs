//! Writing JSON-RPC responses: the upstream's `result` or `error` bytes are spliced in
//! verbatim next to the client's own `id` bytes, so nothing is re-encoded.

use serde_json::value::RawValue;

use crate::request::RequestError;

/// Appends `{"jsonrpc":"2.0","result":R,"id":ID}` to `out`.
pub(crate) fn write_result(out: &mut Vec<u8>, id: Option<&RawValue>, result: &dualrpc::RawJson) {
    write(out, b"result", result.bytes(), id);
}

/// Appends `{"jsonrpc":"2.0","error":E,"id":ID}` to `out`.
pub(crate) fn write_error(out: &mut Vec<u8>, id: Option<&RawValue>, error: &RawValue) {
    write(out, b"error", error.get().as_bytes(), id);
}

/// Appends an error the gateway itself produced.
pub(crate) fn write_request_error(out: &mut Vec<u8>, id: Option<&RawValue>, error: &RequestError) {
    let obj = serde_json::json!({ "code": error.code, "message": error.message });
    write(out, b"error", obj.to_string().as_bytes(), id);
}

fn write(out: &mut Vec<u8>, key: &[u8], value: &[u8], id: Option<&RawValue>) {
    out.reserve(value.len() + 48);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(value);
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_results_are_spliced_verbatim() {
        let id = RawValue::from_string("\"x-1\"".into()).unwrap();
        let result = dualrpc::RawJson::parse(r#"{"b":1, "a":2}"#).unwrap();
        let mut out = Vec::new();
        write_result(&mut out, Some(&id), &result);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"jsonrpc":"2.0","result":{"b":1, "a":2},"id":"x-1"}"#
        );
        let mut out = Vec::new();
        write_request_error(&mut out, None, &RequestError::parse("Parse error"));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["code"], -32700);
        assert!(v["id"].is_null());
    }
}
