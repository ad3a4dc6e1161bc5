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
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use dualrpc::{Agreement, Strategy};
use futures_util::FutureExt;

use crate::request::{self, Element, RequestError};
use crate::response;
use crate::{
    AppState, HEADER_AGREEMENT, HEADER_ATTEMPTS, HEADER_ENDPOINT, HEADER_STRATEGY,
    HEADER_TIMEOUT_MS, Snapshot,
};

/// Overrides a request carries.
#[derive(Debug, Clone, Copy, Default)]
struct Overrides {
    strategy: Option<Strategy>,
    timeout: Option<Duration>,
}

/// What one call produced, for the body and the headers.
#[derive(Debug)]
struct Answer {
    /// The JSON-RPC response object; `None` for a notification.
    body: Option<Vec<u8>>,
    /// Whether the client gets an answer for this element (it is not a notification).
    answered: bool,
    endpoint: Option<Arc<str>>,
    strategy: Option<Strategy>,
    attempts: u32,
    /// Consensus agreement (`k/quorum`).
    agreement: Option<Agreement>,
}

/// JSON-RPC error code for a missing or wrong client API key.
pub(crate) const CODE_UNAUTHORIZED: i64 = -32090;

impl Answer {
    /// An error the gateway answers itself, without calling upstream.
    fn request_error(id: Option<&serde_json::value::RawValue>, error: &RequestError) -> Answer {
        let mut out = Vec::new();
        response::write_request_error(&mut out, id, error);
        Answer {
            body: Some(out),
            answered: true,
            endpoint: None,
            strategy: None,
            attempts: 0,
            agreement: None,
        }
    }
}

pub(crate) async fn handle_default(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    guarded(state.current.load_full(), uri, headers, None, body).await
}

pub(crate) async fn handle_with_strategy(
    State(state): State<Arc<AppState>>,
    Path(strategy): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match strategy.parse::<Strategy>() {
        Ok(s) => guarded(state.current.load_full(), uri, headers, Some(s), body).await,
        Err(e) => reject(
            StatusCode::NOT_FOUND,
            RequestError::invalid(format!("unknown path: {e}")),
        ),
    }
}

async fn guarded(
    state: Arc<Snapshot>,
    uri: Uri,
    headers: HeaderMap,
    path_strategy: Option<Strategy>,
    body: Body,
) -> Response {
    if !crate::auth::authorized(&state.options.front.api_keys, &headers, &uri) {
        return unauthorized();
    }
    match AssertUnwindSafe(handle(state, headers, path_strategy, body))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("panic while handling a request; answered with an internal error");
            reject(
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
pub(crate) fn unauthorized() -> Response {
    reject(
        StatusCode::UNAUTHORIZED,
        RequestError {
            code: CODE_UNAUTHORIZED,
            message: "Unauthorized: missing or wrong API key".into(),
        },
    )
}

async fn handle(
    state: Arc<Snapshot>,
    headers: HeaderMap,
    path_strategy: Option<Strategy>,
    body: Body,
) -> Response {
    let limits = &state.options.limits;
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ok = ct
            .to_str()
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !ok {
            return reject(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                RequestError::invalid("Invalid Request: content-type must be application/json"),
            );
        }
    }
    let overrides = match overrides(&headers, path_strategy) {
        Ok(o) => o,
        Err(e) => return reject(StatusCode::BAD_REQUEST, e),
    };
    let read_timeout = state.options.front.body_read_timeout;
    let bytes = match tokio::time::timeout(
        read_timeout,
        axum::body::to_bytes(body, limits.max_request_bytes),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Err(_) => {
            return reject(
                StatusCode::REQUEST_TIMEOUT,
                RequestError::invalid("Invalid Request: the request body was not received in time"),
            );
        }
        Ok(Err(_)) => {
            return reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                RequestError::invalid(format!(
                    "Invalid Request: body exceeds {} bytes (or could not be read)",
                    limits.max_request_bytes
                )),
            );
        }
    };
    let parsed = match request::parse(&bytes, limits.max_batch) {
        Ok(p) => p,
        Err(e) => return reject(StatusCode::BAD_REQUEST, e),
    };
    match parsed {
        request::Body::Single(Element::Invalid { id, error }) => {
            let mut out = Vec::new();
            response::write_request_error(&mut out, id, &error);
            json_response(StatusCode::BAD_REQUEST, out, &[])
        }
        request::Body::Single(element) => {
            let mut answer = run(&state, element, overrides).await;
            match answer.body.take() {
                Some(body) => json_response(StatusCode::OK, body, std::slice::from_ref(&answer)),
                None => StatusCode::NO_CONTENT.into_response(),
            }
        }
        request::Body::Batch(elements) => {
            let answers = futures_util::future::join_all(
                elements.into_iter().map(|e| run(&state, e, overrides)),
            )
            .await;
            let mut out = Vec::with_capacity(
                answers
                    .iter()
                    .map(|a| a.body.as_ref().map_or(0, Vec::len) + 1)
                    .sum(),
            );
            out.push(b'[');
            for body in answers.iter().filter_map(|a| a.body.as_ref()) {
                if out.len() > 1 {
                    out.push(b',');
                }
                out.extend_from_slice(body);
            }
            out.push(b']');
            if out.len() == 2 {
                // Only notifications: JSON-RPC says answer nothing.
                return StatusCode::NO_CONTENT.into_response();
            }
            json_response(StatusCode::OK, out, &answers)
        }
    }
}

fn overrides(
    headers: &HeaderMap,
    path_strategy: Option<Strategy>,
) -> Result<Overrides, RequestError> {
    let mut o = Overrides {
        strategy: path_strategy,
        timeout: None,
    };
    if let Some(v) = headers.get(HEADER_STRATEGY) {
        let s = v.to_str().map_err(|_| {
            RequestError::invalid("Invalid Request: x-dualrpc-strategy is not text")
        })?;
        o.strategy = Some(
            s.trim()
                .parse()
                .map_err(|e| RequestError::invalid(format!("Invalid Request: {e}")))?,
        );
    }
    if let Some(v) = headers.get(HEADER_TIMEOUT_MS) {
        let ms = v
            .to_str()
            .ok()
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
    let mut builder = state.pool.call_raw(&call.method, call.params);
    if let Some(s) = o.strategy {
        builder = builder.strategy(s);
    }
    if let Some(t) = o.timeout {
        builder = builder.timeout(t);
    }
    let strategy = builder.resolved_strategy();
    let result = AssertUnwindSafe(builder.into_future()).catch_unwind().await;
    let mut out = Vec::new();
    let answer = match result {
        Ok(Ok(reply)) => {
            response::write_result(&mut out, call.id, &reply.result);
            Answer {
                body: None,
                answered: true,
                endpoint: Some(reply.endpoint),
                strategy: Some(reply.strategy),
                attempts: reply.attempts,
                agreement: reply.agreement,
            }
        }
        Ok(Err(err)) => {
            response::write_error(&mut out, call.id, &err.to_jsonrpc());
            Answer {
                body: None,
                answered: true,
                endpoint: err.endpoint().map(Arc::from),
                strategy: Some(err.strategy),
                attempts: err.attempts,
                agreement: None,
            }
        }
        Err(_) => {
            tracing::error!(method = %dualrpc::telemetry::method_label(&call.method), "panic in a call");
            let error = RequestError {
                code: -32603,
                message: "Internal error".into(),
            };
            response::write_request_error(&mut out, call.id, &error);
            Answer {
                body: None,
                answered: true,
                endpoint: None,
                strategy: Some(strategy),
                attempts: 0,
                agreement: None,
            }
        }
    };
    let answered = call.id.is_some();
    Answer {
        body: answered.then_some(out),
        answered,
        ..answer
    }
}

fn json_response(status: StatusCode, body: Vec<u8>, answers: &[Answer]) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if answers.is_empty() {
        return response;
    }
    // One answer: its values. A batch: one comma-separated entry per answered element, in
    // the order of the response array ("-" where there is none), and the attempts summed.
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
    for (name, value) in [
        (HEADER_ENDPOINT, endpoint),
        (HEADER_STRATEGY, strategy),
        (HEADER_ATTEMPTS, attempts.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if answers.iter().any(|a| a.agreement.is_some()) {
        let agreement = join(&|a| a.agreement.map(|g| g.to_string()));
        if let Ok(v) = HeaderValue::from_str(&agreement) {
            h.insert(HEADER_AGREEMENT, v);
        }
    }
    response
}

/// A whole-request error response.
pub(crate) fn reject(status: StatusCode, error: RequestError) -> Response {
    let mut out = Vec::new();
    response::write_request_error(&mut out, None, &error);
    json_response(status, out, &[])
}
