//! JSON-RPC over HTTP: parsing a request body (single call, batch, notifications, invalid
//! items) and writing the answers, JSON-RPC errors, 429s and the nginx error pages a load
//! balancer sends.

use std::borrow::Cow;

use axum::body::Body;
use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::methods::{self, CallContext, RpcError};

/// One JSON-RPC call as parsed from the body; fields borrow from it.
#[derive(Debug, Deserialize)]
pub(crate) struct Call<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(crate) params: Option<&'a RawValue>,
}

/// Distinguishes `"id": null` (echo `null`) from no id (a notification: no answer).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

#[derive(Debug)]
pub(super) enum Item<'a> {
    Call(Call<'a>),
    /// Not a valid request object; the id if one could be read.
    Invalid(Option<&'a RawValue>),
}

#[derive(Debug)]
pub(super) enum Parsed<'a> {
    Single(Item<'a>),
    Batch(Vec<Item<'a>>),
    /// Not JSON, or an empty batch: answered with one error and `"id": null`.
    Unreadable(RpcError),
}

impl Parsed<'_> {
    fn items(&self) -> &[Item<'_>] {
        match self {
            Parsed::Single(item) => std::slice::from_ref(item),
            Parsed::Batch(items) => items,
            Parsed::Unreadable(_) => &[],
        }
    }

    /// Method names of the valid calls (what gets counted and rate-limited).
    pub(super) fn methods(&self) -> Vec<&str> {
        self.items()
            .iter()
            .filter_map(|i| match i {
                Item::Call(c) => c.method.as_deref(),
                Item::Invalid(_) => None,
            })
            .collect()
    }

    /// The id to put on a whole-request error (429): the call's for a single request.
    pub(super) fn request_id(&self) -> &str {
        match self {
            Parsed::Single(Item::Call(Call { id: Some(id), .. })) => id.get(),
            _ => "null",
        }
    }
}

fn parse_item(raw: &RawValue) -> Item<'_> {
    match serde_json::from_str::<Call<'_>>(raw.get()) {
        Ok(call) if call.jsonrpc.as_deref() == Some("2.0") && call.method.is_some() => {
            Item::Call(call)
        }
        Ok(call) => Item::Invalid(call.id),
        Err(_) => Item::Invalid(None),
    }
}

pub(super) fn parse_body(body: &[u8]) -> Parsed<'_> {
    let Ok(raw) = serde_json::from_slice::<&RawValue>(body) else {
        return Parsed::Unreadable(RpcError::parse_error());
    };
    if raw.get().starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
            Ok(items) if items.is_empty() => Parsed::Unreadable(RpcError::invalid_request()),
            Ok(items) => Parsed::Batch(items.into_iter().map(parse_item).collect()),
            Err(_) => Parsed::Unreadable(RpcError::parse_error()),
        }
    } else {
        Parsed::Single(parse_item(raw))
    }
}

fn write_error(out: &mut Vec<u8>, id: &str, error: &RpcError) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"error\":");
    error.write(out);
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.push(b'}');
}

/// Appends the response to one item; returns false for a notification (nothing written).
fn answer_item(
    out: &mut Vec<u8>,
    item: &Item<'_>,
    ctx: &CallContext<'_>,
    unhealthy: Option<u64>,
) -> bool {
    let call = match item {
        Item::Invalid(id) => {
            write_error(
                out,
                id.map_or("null", |i| i.get()),
                &RpcError::invalid_request(),
            );
            return true;
        }
        Item::Call(call) => call,
    };
    let Some(id) = call.id else {
        return false;
    };
    let method = call.method.as_deref().unwrap_or_default();
    if let Some(slots_behind) = unhealthy {
        write_error(out, id.get(), &RpcError::node_unhealthy(slots_behind));
        return true;
    }
    let start = out.len();
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"result\":");
    match methods::call(ctx, method, call.params, out) {
        Ok(()) => {
            out.extend_from_slice(b",\"id\":");
            out.extend_from_slice(id.get().as_bytes());
            out.push(b'}');
        }
        Err(error) => {
            out.truncate(start);
            write_error(out, id.get(), &error);
        }
    }
    true
}

pub(super) fn answer(
    parsed: &Parsed<'_>,
    ctx: &CallContext<'_>,
    unhealthy: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    match parsed {
        Parsed::Unreadable(error) => write_error(&mut out, "null", error),
        Parsed::Single(item) => {
            answer_item(&mut out, item, ctx, unhealthy);
        }
        Parsed::Batch(items) => {
            out.push(b'[');
            for item in items {
                let before = out.len();
                if before > 1 {
                    out.push(b',');
                }
                if !answer_item(&mut out, item, ctx, unhealthy) {
                    out.truncate(before);
                }
            }
            out.push(b']');
            if out.len() == 2 {
                // Only notifications: no response body at all.
                out.clear();
            }
        }
    }
    out
}

pub(super) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub(super) fn too_many_requests(
    id: &str,
    message: &'static str,
    retry_after_secs: u64,
) -> Response<Body> {
    let mut body = Vec::new();
    write_error(&mut body, id, &RpcError::new(429, message));
    let mut resp = response(StatusCode::TOO_MANY_REQUESTS, "application/json", body);
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

/// nginx's error page, as a load balancer in front of a provider's nodes sends it.
pub(super) fn gateway_error(code: u16) -> Response<Body> {
    let (status, text) = if code == 503 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Temporarily Unavailable",
        )
    } else {
        (StatusCode::BAD_GATEWAY, "502 Bad Gateway")
    };
    let body = format!(
        "<html>\r\n<head><title>{text}</title></head>\r\n<body>\r\n<center><h1>{text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    response(status, "text/html", body)
}

pub(super) const PER_METHOD_LIMIT_MESSAGE: &str = "Too many requests for a specific RPC call";
pub(super) const PER_IP_LIMIT_MESSAGE: &str =
    "Too many requests from your IP, contact your application developer or support@rpcpool.com.";
