//! Reading client JSON-RPC requests: single or batch, without touching `params`.
//!
//! The body is parsed once into borrowed [`RawValue`]s: `id` is kept as the exact bytes
//! the client sent (so `1`, `1.0`, `"1"` and `null` come back as they were) and `params`
//! are handed to the pool verbatim. Each batch element is validated on its own, so one
//! bad element gets its own error while the others are served.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use dualrpc::jsonrpc::present;

/// A JSON-RPC error the gateway itself returns for a bad request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestError {
    pub(crate) code: i64,
    pub(crate) message: Cow<'static, str>,
}

impl RequestError {
    pub(crate) fn parse(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: -32700,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: -32600,
            message: message.into(),
        }
    }
}

/// One validated call.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    /// The client's id, verbatim; `None` for a notification.
    pub(crate) id: Option<&'a RawValue>,
    pub(crate) method: Cow<'a, str>,
    pub(crate) params: Option<&'a RawValue>,
}

/// One element of the request: a call, or an error to answer under the given id.
#[derive(Debug)]
pub(crate) enum Element<'a> {
    Call(Call<'a>),
    Invalid {
        id: Option<&'a RawValue>,
        error: RequestError,
    },
}

/// A parsed request body.
#[derive(Debug)]
pub(crate) enum Body<'a> {
    Single(Element<'a>),
    Batch(Vec<Element<'a>>),
}

#[derive(Deserialize)]
struct Wire<'a> {
    /// Compared as written (`Option<Cow<str>>` would allocate a `String` per request:
    /// serde borrows a `Cow` only as a field of its own, not inside an `Option`).
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
}

/// Whether a `jsonrpc` member says "2.0" (written plainly, or with escapes).
fn is_version_2(v: &RawValue) -> bool {
    let raw = v.get();
    raw == "\"2.0\""
        || (raw.contains('\\') && serde_json::from_str::<String>(raw).is_ok_and(|s| s == "2.0"))
}

/// Parses a request body. Errors here are whole-body errors (parse error, empty batch,
/// batch too long); per-element problems come back as [`Element::Invalid`].
pub(crate) fn parse(body: &[u8], max_batch: usize) -> Result<Body<'_>, RequestError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| RequestError::parse("Parse error: body is not UTF-8"))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| RequestError::parse(format!("Parse error: {e}")))?;
        if items.is_empty() {
            return Err(RequestError::invalid("Invalid Request: empty batch"));
        }
        if items.len() > max_batch {
            return Err(RequestError::invalid(format!(
                "Invalid Request: batch of {} exceeds the limit of {max_batch}",
                items.len()
            )));
        }
        Ok(Body::Batch(items.into_iter().map(element).collect()))
    } else {
        // The usual case, a well-formed object, is read in one pass.
        if trimmed.starts_with('{')
            && let Ok(wire) = serde_json::from_str::<Wire<'_>>(text)
        {
            return Ok(Body::Single(call(wire)));
        }
        // Validate the whole text as JSON first, so a syntax error is -32700, not -32600.
        let raw: &RawValue = serde_json::from_str(text)
            .map_err(|e| RequestError::parse(format!("Parse error: {e}")))?;
        Ok(Body::Single(element(raw)))
    }
}

fn element(raw: &RawValue) -> Element<'_> {
    // serde would also read a struct from a JSON array (fields by position); a JSON-RPC
    // request is an object.
    let is_object = raw.get().trim_start().starts_with('{');
    let parsed = if is_object {
        serde_json::from_str::<Wire<'_>>(raw.get()).ok()
    } else {
        None
    };
    let Some(wire) = parsed else {
        return Element::Invalid {
            id: None,
            error: RequestError::invalid("Invalid Request: not a JSON-RPC object"),
        };
    };
    call(wire)
}

/// Validates the fields of a JSON-RPC object.
fn call(wire: Wire<'_>) -> Element<'_> {
    let id = match wire.id {
        Some(id) if !is_valid_id(id) => {
            return Element::Invalid {
                id: None,
                error: RequestError::invalid(
                    "Invalid Request: id must be a string, number or null",
                ),
            };
        }
        other => other,
    };
    let invalid = |msg: &'static str| Element::Invalid {
        id,
        error: RequestError::invalid(msg),
    };
    if wire.jsonrpc.is_some_and(|v| !is_version_2(v)) {
        return invalid("Invalid Request: jsonrpc must be \"2.0\"");
    }
    // Borrowed unless the name has escapes (serde's `Cow` alone always copies).
    let Some(method) = wire.method.and_then(|m| {
        serde_json::from_str::<&str>(m.get())
            .map(Cow::Borrowed)
            .or_else(|_| serde_json::from_str::<String>(m.get()).map(Cow::Owned))
            .ok()
    }) else {
        return invalid("Invalid Request: method must be a string");
    };
    if let Some(p) = wire.params {
        let first = p.get().as_bytes().first();
        if first != Some(&b'[') && first != Some(&b'{') && p.get() != "null" {
            return invalid("Invalid Request: params must be an array or an object");
        }
    }
    let params = wire.params.filter(|p| p.get() != "null");
    if params.is_some_and(|p| nesting_depth(p.get()) > MAX_PARAMS_DEPTH) {
        return invalid("Invalid Request: params nested too deeply");
    }
    Element::Call(Call { id, method, params })
}

/// Deepest nesting of arrays/objects accepted in `params`. Solana's deepest params (a
/// filter inside a config inside the params array) are 4 levels; anything near this limit
/// is an attack or a bug, and no provider should be paid to reject it.
const MAX_PARAMS_DEPTH: usize = 32;

/// Nesting depth of JSON text, counted without recursion (strings are skipped, escapes
/// honoured), so arbitrarily deep input cannot exhaust the stack.
fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn is_valid_id(id: &RawValue) -> bool {
    matches!(
        id.get().as_bytes().first(),
        Some(b'"' | b'-' | b'0'..=b'9' | b'n')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(body: &str) -> Element<'_> {
        match parse(body.as_bytes(), 10).unwrap() {
            Body::Single(e) => e,
            Body::Batch(_) => panic!("batch"),
        }
    }

    #[test]
    fn ids_are_kept_verbatim() {
        for id in ["1", "1.0", "-7", "\"abc\"", "null", "18446744073709551616"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getSlot"}}"#);
            match single(&body) {
                Element::Call(c) => assert_eq!(c.id.unwrap().get(), id),
                e => panic!("{e:?}"),
            }
        }
        match single(r#"{"jsonrpc":"2.0","method":"getSlot"}"#) {
            Element::Call(c) => assert!(c.id.is_none(), "notification"),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn params_are_borrowed_verbatim_and_methods_unescaped() {
        match single(
            r#"{"jsonrpc":"2.0","id":1,"method":"get\u0053lot","params":[ {"commitment" : "processed"} ]}"#,
        ) {
            Element::Call(c) => {
                assert_eq!(c.method, "getSlot");
                assert_eq!(
                    c.params.unwrap().get(),
                    r#"[ {"commitment" : "processed"} ]"#
                );
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn invalid_inputs_get_the_right_codes() {
        let whole = |b: &str| parse(b.as_bytes(), 2).unwrap_err().code;
        assert_eq!(whole("{"), -32700);
        assert_eq!(whole("[1,"), -32700);
        assert_eq!(whole("[]"), -32600);
        assert_eq!(whole("[1,2,3]"), -32600, "over the batch limit");
        assert_eq!(parse(b"\xff\xfe", 2).unwrap_err().code, -32700);
        let elem = |b: &str| match single(b) {
            Element::Invalid { error, id } => (error.code, id.map(|i| i.get().to_string())),
            e => panic!("{e:?}"),
        };
        assert_eq!(elem("1"), (-32600, None));
        assert_eq!(elem(r#"{"id":1,"method":5}"#), (-32600, Some("1".into())));
        assert_eq!(elem(r#"{"id":{"a":1},"method":"getSlot"}"#), (-32600, None));
        let ok = |b: &str| matches!(single(b), Element::Call(_));
        assert!(ok(r#"{"jsonrpc":"2.0","id":2,"method":"getSlot"}"#));
        assert!(
            ok(r#"{"jsonrpc":"\u0032.0","id":2,"method":"getSlot"}"#),
            "escaped"
        );
        assert!(ok(r#"{"jsonrpc":null,"id":2,"method":"getSlot"}"#));
        assert_eq!(
            elem(r#"{"jsonrpc":2.0,"id":2,"method":"getSlot"}"#).0,
            -32600
        );
        assert_eq!(
            elem(r#"{"jsonrpc":"1.0","id":2,"method":"getSlot"}"#),
            (-32600, Some("2".into()))
        );
        assert_eq!(
            elem(r#"{"id":3,"method":"getSlot","params":"x"}"#),
            (-32600, Some("3".into()))
        );
    }

    #[test]
    fn batch_elements_are_validated_one_by_one() {
        let Body::Batch(items) =
            parse(br#"[{"jsonrpc":"2.0","id":1,"method":"getSlot"}, 5]"#, 10).unwrap()
        else {
            panic!()
        };
        assert!(matches!(items[0], Element::Call(_)));
        assert!(matches!(items[1], Element::Invalid { .. }));
    }

    #[test]
    fn an_array_is_not_a_request_even_if_its_items_fit_the_fields() {
        let Body::Batch(items) = parse(br#"[["2.0", 1, "getSlot"]]"#, 10).unwrap() else {
            panic!()
        };
        assert!(
            matches!(items[0], Element::Invalid { id: None, .. }),
            "{:?}",
            items[0]
        );
    }

    #[test]
    fn pathologically_deep_nesting_does_not_overflow_the_stack() {
        let depth = 1_000_000;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"getSlot","params":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // The params are scanned without recursion and refused before any upstream call.
        match parse(body.as_bytes(), 10) {
            Ok(Body::Single(Element::Invalid { error, .. })) => assert_eq!(error.code, -32600),
            Ok(_) => panic!("deep params were accepted"),
            Err(e) => panic!("unexpected whole-body error {}", e.code),
        }
        assert_eq!(
            nesting_depth(r#"[1,{"a":"[[[[\"]]]"},[2]]"#),
            2,
            "brackets inside strings do not count"
        );
    }
}
