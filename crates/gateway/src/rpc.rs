//! `POST /` and `POST /{strategy}`: reads the request, applies per-request overrides
//! (`x-dualrpc-strategy`, `x-dualrpc-timeout-ms`, or the strategy in the path), runs every
//! call of a batch concurrently — each under its own method's policy — and answers in
//! order with the client's ids.
//!
//! Whole-request problems (too large, wrong content type, unparsable JSON, empty or
//! oversized batch) get HTTP 4xx with a JSON-RPC error body; per-call outcomes, including
//! upstream JSON-RPC errors, get HTTP 200 like any JSON-RPC server. A panic anywhere in a
//! call becomes a JSON-RPC internal error for that request, never a dropped connection.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use dualrpc::{Agreement, Reply, Strategy};
use futures_util::FutureExt;
use http_body_util::{BodyExt, Limited};

use crate::head::{RequestHead, text};
use crate::request::{self, Element, RequestError};
use crate::response::{self, Chunks, Outgoing, Writer};
use crate::{
    AppState, HEADER_AGREEMENT, HEADER_ATTEMPTS, HEADER_ENDPOINT, HEADER_STALE, HEADER_STRATEGY,
    HEADER_TIMEOUT_MS, Snapshot,
};

const STRATEGY: HeaderName = HeaderName::from_static(HEADER_STRATEGY);
const TIMEOUT_MS: HeaderName = HeaderName::from_static(HEADER_TIMEOUT_MS);
const ENDPOINT: HeaderName = HeaderName::from_static(HEADER_ENDPOINT);
const ATTEMPTS: HeaderName = HeaderName::from_static(HEADER_ATTEMPTS);
const AGREEMENT: HeaderName = HeaderName::from_static(HEADER_AGREEMENT);
const STALE: HeaderName = HeaderName::from_static(HEADER_STALE);
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
/// The value of a header with nothing to say.
const NONE: HeaderValue = HeaderValue::from_static("-");

/// Overrides a request carries.
#[derive(Debug, Clone, Copy, Default)]
struct Overrides {
    strategy: Option<Strategy>,
    timeout: Option<Duration>,
}

/// What one call produced, for the body and the headers.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The JSON-RPC response object; `None` for a notification.
    pub(crate) body: Option<Chunks>,
    /// Whether the client gets an answer for this element (it is not a notification).
    answered: bool,
    endpoint: Option<Arc<str>>,
    strategy: Option<Strategy>,
    attempts: u32,
    /// Consensus agreement (`k/quorum`).
    agreement: Option<Agreement>,
    /// Slots behind an answer already served.
    stale: Option<u64>,
}

/// JSON-RPC error code for a missing or wrong client API key.
pub(crate) const CODE_UNAUTHORIZED: i64 = -32090;

impl Answer {
    /// A call's result.
    pub(crate) fn success(id: Option<&serde_json::value::RawValue>, reply: Reply) -> Answer {
        let id_len = id.map_or(4, |id| id.get().len());
        // A large result is shared, not copied: the buffer holds only the envelope.
        let result_len = reply.result.bytes().len();
        let copied = if result_len < response::SHARE_AT {
            result_len
        } else {
            0
        };
        let mut out = Writer::with_capacity(40 + id_len + copied);
        response::write_result(&mut out, id, &reply.result);
        Answer {
            body: Some(out.finish()),
            answered: true,
            endpoint: Some(reply.endpoint),
            strategy: Some(reply.strategy),
            attempts: reply.attempts,
            agreement: reply.agreement,
            stale: reply.stale,
        }
    }

    /// An error the gateway answers itself, without calling upstream.
    fn request_error(id: Option<&serde_json::value::RawValue>, error: &RequestError) -> Answer {
        let mut out = Writer::default();
        response::write_request_error(&mut out, id, error);
        Answer {
            body: Some(out.finish()),
            answered: true,
            endpoint: None,
            strategy: None,
            attempts: 0,
            agreement: None,
            stale: None,
        }
    }
}

pub(crate) async fn handle_default(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(state.current.load_full(), &headers, &uri, None, body)
        .await
        .map(Body::new)
}

pub(crate) async fn handle_with_strategy(
    State(state): State<Arc<AppState>>,
    Path(strategy): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match strategy.parse::<Strategy>() {
        Ok(s) => serve(state.current.load_full(), &headers, &uri, Some(s), body)
            .await
            .map(Body::new),
        Err(e) => reject(
            StatusCode::NOT_FOUND,
            RequestError::invalid(format!("unknown path: {e}")),
        ),
    }
}

/// Serves one JSON-RPC post (the router's handlers and the service's direct path alike):
/// checks the API key, then answers, turning a panic anywhere into an internal error.
pub(crate) async fn serve<B>(
    state: Arc<Snapshot>,
    headers: &HeaderMap,
    uri: &Uri,
    path_strategy: Option<Strategy>,
    body: B,
) -> http::Response<Chunks>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: Into<axum::BoxError>,
{
    let served = async {
        let overrides = admit(&state, &(headers, uri), path_strategy)?;
        let bytes = read_body(&state, body).await?;
        Ok(respond(&state, overrides, &bytes).await)
    };
    unwound(served).await.into_http()
}

/// [`serve`] for a request whose body was read already (the connection's own HTTP/1.1
/// path, `crate::front`).
pub(crate) async fn serve_read(
    state: &Snapshot,
    head: &impl RequestHead,
    path_strategy: Option<Strategy>,
    body: &Bytes,
) -> Outgoing {
    let served = async {
        let overrides = admit(state, head, path_strategy)?;
        Ok(respond(state, overrides, body).await)
    };
    unwound(served).await
}

/// `served`'s response (or the rejection it ended with); a panic anywhere becomes an
/// internal error.
async fn unwound(served: impl Future<Output = Result<Outgoing, Outgoing>>) -> Outgoing {
    match AssertUnwindSafe(served).catch_unwind().await {
        Ok(Ok(response) | Err(response)) => response,
        Err(_) => {
            tracing::error!("panic while handling a request; answered with an internal error");
            rejection(
                StatusCode::INTERNAL_SERVER_ERROR,
                RequestError {
                    code: -32603,
                    message: "Internal error".into(),
                },
            )
        }
    }
}

/// The answer to a request without a valid API key.
pub(crate) fn unauthorized() -> Outgoing {
    rejection(
        StatusCode::UNAUTHORIZED,
        RequestError {
            code: CODE_UNAUTHORIZED,
            message: "Unauthorized: missing or wrong API key".into(),
        },
    )
}

/// Checks what the request's head says — the API key, the content type, the override
/// headers — and returns the overrides.
// The rejection is rare; boxing it would only add an allocation to it.
#[allow(clippy::result_large_err)]
fn admit(
    state: &Snapshot,
    head: &impl RequestHead,
    path_strategy: Option<Strategy>,
) -> Result<Overrides, Outgoing> {
    if !crate::auth::authorized(&state.options.front.api_keys, head) {
        return Err(unauthorized());
    }
    if let Some(ct) = head.header(header::CONTENT_TYPE.as_str()) {
        let ok = text(ct).is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
        if !ok {
            return Err(rejection(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                RequestError::invalid("Invalid Request: content-type must be application/json"),
            ));
        }
    }
    overrides(head, path_strategy).map_err(|e| rejection(StatusCode::BAD_REQUEST, e))
}

/// Reads a body under `limits.max_request_bytes` and `body_read_timeout`.
#[allow(clippy::result_large_err)]
async fn read_body<B>(state: &Snapshot, body: B) -> Result<Bytes, Outgoing>
where
    B: http_body::Body<Data = Bytes> + Send,
    B::Error: Into<axum::BoxError>,
{
    let limits = &state.options.limits;
    // A body that is all there already is taken without arming a timer.
    let read = Limited::new(body, limits.max_request_bytes).collect();
    tokio::pin!(read);
    let read = match futures_util::poll!(read.as_mut()) {
        Poll::Ready(read) => Ok(read),
        Poll::Pending => tokio::time::timeout(state.options.front.body_read_timeout, read).await,
    };
    match read {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Err(_) => Err(body_late()),
        Ok(Err(_)) => Err(body_too_large(limits.max_request_bytes)),
    }
}

/// The answer to a body that did not arrive within `body_read_timeout`.
pub(crate) fn body_late() -> Outgoing {
    rejection(
        StatusCode::REQUEST_TIMEOUT,
        RequestError::invalid("Invalid Request: the request body was not received in time"),
    )
}

/// The answer to a body over `max` bytes.
pub(crate) fn body_too_large(max: usize) -> Outgoing {
    rejection(
        StatusCode::PAYLOAD_TOO_LARGE,
        RequestError::invalid(format!(
            "Invalid Request: body exceeds {max} bytes (or could not be read)"
        )),
    )
}

/// Parses the body and answers it: one call, or a batch's calls concurrently.
async fn respond(state: &Snapshot, overrides: Overrides, bytes: &Bytes) -> Outgoing {
    let limits = &state.options.limits;
    let parsed = match request::parse(bytes, limits.max_batch) {
        Ok(p) => p,
        Err(e) => return rejection(StatusCode::BAD_REQUEST, e),
    };
    match parsed {
        request::Body::Single(Element::Invalid { id, error }) => {
            let mut out = Writer::default();
            response::write_request_error(&mut out, id, &error);
            json_response(state, StatusCode::BAD_REQUEST, out.finish(), &[])
        }
        request::Body::Single(element) => {
            let mut answer = run(state, element, overrides).await;
            match answer.body.take() {
                Some(body) => {
                    json_response(state, StatusCode::OK, body, std::slice::from_ref(&answer))
                }
                None => no_content(),
            }
        }
        request::Body::Batch(elements) => {
            let mut answers = futures_util::future::join_all(
                elements.into_iter().map(|e| run(state, e, overrides)),
            )
            .await;
            let bodies: Vec<Chunks> = answers.iter_mut().filter_map(|a| a.body.take()).collect();
            if bodies.is_empty() {
                // Only notifications: JSON-RPC says answer nothing.
                return no_content();
            }
            let mut out = Writer::with_capacity(bodies.len() * 64);
            out.put(b"[");
            for (i, body) in bodies.into_iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                out.append(body);
            }
            out.put(b"]");
            json_response(state, StatusCode::OK, out.finish(), &answers)
        }
    }
}

fn no_content() -> Outgoing {
    Outgoing::new(StatusCode::NO_CONTENT, Chunks::default())
}

fn overrides(
    head: &impl RequestHead,
    path_strategy: Option<Strategy>,
) -> Result<Overrides, RequestError> {
    let mut o = Overrides {
        strategy: path_strategy,
        timeout: None,
    };
    if let Some(v) = head.header(STRATEGY.as_str()) {
        let s = text(v).ok_or_else(|| {
            RequestError::invalid("Invalid Request: x-dualrpc-strategy is not text")
        })?;
        o.strategy = Some(
            s.trim()
                .parse()
                .map_err(|e| RequestError::invalid(format!("Invalid Request: {e}")))?,
        );
    }
    if let Some(v) = head.header(TIMEOUT_MS.as_str()) {
        let ms = text(v)
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|ms| (1..=600_000).contains(ms))
            .ok_or_else(|| {
                RequestError::invalid("Invalid Request: x-dualrpc-timeout-ms must be 1..=600000")
            })?;
        o.timeout = Some(Duration::from_millis(ms));
    }
    Ok(o)
}

/// Runs one element of the request.
async fn run(state: &Snapshot, element: Element<'_>, o: Overrides) -> Answer {
    let call = match element {
        Element::Call(c)
            if state
                .options
                .front
                .deny_methods
                .iter()
                .any(|m| *m == c.method) =>
        {
            let error = RequestError {
                code: -32601,
                message: format!("Method not allowed by this gateway: {}", c.method).into(),
            };
            let answer = Answer::request_error(c.id, &error);
            return Answer {
                body: c.id.is_some().then_some(answer.body).flatten(),
                answered: c.id.is_some(),
                ..answer
            };
        }
        Element::Call(c) => c,
        Element::Invalid { id, error } => return Answer::request_error(id, &error),
    };
    let builder = || {
        let mut builder = state.pool.call_raw(&call.method, call.params);
        if let Some(s) = o.strategy {
            builder = builder.strategy(s);
        }
        if let Some(t) = o.timeout {
            builder = builder.timeout(t);
        }
        builder
    };
    // Not boxed: the call's future is part of this one (of the connection's task).
    let result = AssertUnwindSafe(builder().run()).catch_unwind().await;
    let answer = match result {
        Ok(Ok(reply)) => Answer::success(call.id, reply),
        Ok(Err(err)) => {
            let mut out = Writer::default();
            response::write_error(&mut out, call.id, &err.to_jsonrpc());
            Answer {
                body: Some(out.finish()),
                answered: true,
                endpoint: err.endpoint().map(Arc::from),
                strategy: Some(err.strategy),
                attempts: err.attempts,
                agreement: None,
                stale: None,
            }
        }
        Err(_) => {
            tracing::error!(method = %dualrpc::telemetry::method_label(&call.method), "panic in a call");
            let error = RequestError {
                code: -32603,
                message: "Internal error".into(),
            };
            let mut out = Writer::default();
            response::write_request_error(&mut out, call.id, &error);
            Answer {
                body: Some(out.finish()),
                answered: true,
                endpoint: None,
                // Asked again only here: a panic is no reason to cost every call this.
                strategy: Some(builder().resolved_strategy()),
                attempts: 0,
                agreement: None,
                stale: None,
            }
        }
    };
    let answered = call.id.is_some();
    Answer {
        body: answer.body.filter(|_| answered),
        answered,
        ..answer
    }
}

/// A JSON response with the answers' headers (none for whole-request errors).
pub(crate) fn json_response(
    state: &Snapshot,
    status: StatusCode,
    body: Chunks,
    answers: &[Answer],
) -> Outgoing {
    let mut response = Outgoing::new(status, body);
    let h = &mut response;
    h.header(header::CONTENT_TYPE, APPLICATION_JSON);
    match answers {
        [] => {}
        [one] => {
            // The common case: values made once per endpoint, strategy and small count.
            let endpoint = one
                .endpoint
                .as_deref()
                .map_or(NONE, |name| state.endpoint_header(name));
            let strategy = one
                .strategy
                .map_or(NONE, |s| HeaderValue::from_static(s.as_str()));
            h.header(ENDPOINT, endpoint);
            h.header(STRATEGY, strategy);
            h.header(ATTEMPTS, count_header(one.attempts));
            if let Some(g) = one.agreement
                && let Ok(v) = HeaderValue::from_str(&g.to_string())
            {
                h.header(AGREEMENT, v);
            }
            if let Some(behind) = one.stale {
                h.header(STALE, HeaderValue::from(behind));
            }
        }
        _ => batch_headers(h, answers),
    }
    response
}

/// A batch's headers: one comma-separated entry per answered element, in the order of the
/// response array ("-" where there is none), and the attempts summed.
fn batch_headers(h: &mut Outgoing, answers: &[Answer]) {
    let join = |f: &dyn Fn(&Answer) -> Option<String>| {
        answers
            .iter()
            .filter(|a| a.answered)
            .map(|a| f(a).unwrap_or_else(|| "-".into()))
            .collect::<Vec<_>>()
            .join(",")
    };
    let endpoint = join(&|a| a.endpoint.as_deref().map(str::to_string));
    let strategy = join(&|a| a.strategy.map(|s| s.as_str().to_string()));
    let attempts: u32 = answers.iter().map(|a| a.attempts).sum();
    for (name, value) in [(ENDPOINT, endpoint), (STRATEGY, strategy)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.header(name, v);
        }
    }
    h.header(ATTEMPTS, count_header(attempts));
    if answers.iter().any(|a| a.agreement.is_some()) {
        let agreement = join(&|a| a.agreement.map(|g| g.to_string()));
        if let Ok(v) = HeaderValue::from_str(&agreement) {
            h.header(AGREEMENT, v);
        }
    }
    if answers.iter().any(|a| a.stale.is_some()) {
        let stale = join(&|a| a.stale.map(|n| n.to_string()));
        if let Ok(v) = HeaderValue::from_str(&stale) {
            h.header(STALE, v);
        }
    }
}

/// A count as a header value, without formatting for the usual small ones.
fn count_header(n: u32) -> HeaderValue {
    const SMALL: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match SMALL.get(n as usize) {
        Some(s) => HeaderValue::from_static(s),
        None => HeaderValue::from(n),
    }
}

/// A whole-request error response.
pub(crate) fn rejection(status: StatusCode, error: RequestError) -> Outgoing {
    let mut out = Writer::default();
    response::write_request_error(&mut out, None, &error);
    let mut response = Outgoing::new(status, out.finish());
    response.header(header::CONTENT_TYPE, APPLICATION_JSON);
    response
}

/// [`rejection`] as the router's response.
pub(crate) fn reject(status: StatusCode, error: RequestError) -> Response {
    rejection(status, error).into_http().map(Body::new)
}
