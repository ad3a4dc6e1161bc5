//! Operator endpoints: `GET /health` (200 while at least one endpoint can take calls, else
//! 503; open without an API key, for load balancers), `GET /status` (a JSON snapshot of
//! every endpoint's stats, by name), and `GET /metrics` (Prometheus text). Plus the answers for `GET /` and unknown paths.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::request::RequestError;
use crate::rpc::reject;

pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.current.load().pool.is_healthy() {
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ok" })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "no usable endpoint" })),
        )
            .into_response()
    }
}

pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let snap = state.current.load();
    if !crate::auth::authorized(&snap.options.front.api_keys, &(&headers, &uri)) {
        return crate::rpc::unauthorized()
            .into_http()
            .map(axum::body::Body::new);
    }
    axum::Json(snap.pool.status()).into_response()
}

pub(crate) async fn metrics(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if !crate::auth::authorized(
        &state.current.load().options.front.api_keys,
        &(&headers, &uri),
    ) {
        return crate::rpc::unauthorized()
            .into_http()
            .map(axum::body::Body::new);
    }
    match crate::prometheus::handle() {
        Some(h) => {
            let mut r = h.render().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        None => (
            StatusCode::NOT_FOUND,
            "metrics recorder not installed by this process\n",
        )
            .into_response(),
    }
}

pub(crate) async fn root_get() -> Response {
    reject(
        StatusCode::METHOD_NOT_ALLOWED,
        RequestError::invalid(
            "Invalid Request: send JSON-RPC 2.0 with POST (see also GET /health, /status, /metrics)",
        ),
    )
}

pub(crate) async fn not_found() -> Response {
    reject(
        StatusCode::NOT_FOUND,
        RequestError::invalid("Invalid Request: unknown path"),
    )
}
