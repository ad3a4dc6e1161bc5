//! The dualrpc HTTP gateway: a JSON-RPC 2.0 server in front of a [`dualrpc::Pool`], so
//! any Solana client can point at it instead of a provider URL.
//!
//! # Layout
//!
//! - this file — the router and [`serve`], the one entry point the binary, the tests, the
//!   demo and the bench all call (`serve(listener, pool, options, shutdown)`);
//! - `rpc` — `POST /` and `POST /{strategy}`: per-request overrides, batches, headers;
//! - `request` / `response` — reading client JSON-RPC without re-parsing `params`, and
//!   writing responses by splicing the upstream's bytes next to the client's `id`;
//! - `admin` — `GET /health`, `GET /status`, `GET /metrics`;
//! - `prometheus` — the process-wide Prometheus recorder.
//!
//! The gateway adds no state of its own to a call: everything it knows about upstreams
//! comes from the pool, and everything it shows names endpoints, never URLs.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod admin;
mod prometheus;
mod request;
mod response;
mod rpc;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use dualrpc::Pool;
use dualrpc::config::LimitsConfig;
use tokio::net::TcpListener;

/// Header naming the strategy for one request.
pub const HEADER_STRATEGY: &str = "x-dualrpc-strategy";
/// Header setting the request's time budget in milliseconds.
pub const HEADER_TIMEOUT_MS: &str = "x-dualrpc-timeout-ms";
/// Response header: the endpoint whose answer was returned.
pub const HEADER_ENDPOINT: &str = "x-dualrpc-endpoint";
/// Response header: the upstream attempts made.
pub const HEADER_ATTEMPTS: &str = "x-dualrpc-attempts";

/// Gateway settings beyond the pool's.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// Request size and batch limits.
    pub limits: LimitsConfig,
}

impl GatewayOptions {
    /// Options from a loaded config.
    pub fn from_config(config: &dualrpc::Config) -> Self {
        Self {
            limits: config.limits.clone(),
        }
    }
}

/// What every handler can reach.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) pool: Pool,
    pub(crate) options: GatewayOptions,
}

/// The gateway's routes over `pool`.
pub fn router(pool: Pool, options: GatewayOptions) -> Router {
    // Make sure the recorder exists before the first call emits anything.
    let _ = prometheus::handle();
    let state = Arc::new(AppState { pool, options });
    Router::new()
        .route("/", post(rpc::handle_default).get(admin::root_get))
        .route("/{strategy}", post(rpc::handle_with_strategy))
        .route("/health", get(admin::health))
        .route("/status", get(admin::status))
        .route("/metrics", get(admin::metrics))
        .fallback(admin::not_found)
        .with_state(state)
}

/// Serves the gateway on `listener` until `shutdown` completes, then stops accepting and
/// answers every request already in flight before returning.
pub async fn serve(
    listener: TcpListener,
    pool: Pool,
    options: GatewayOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(pool, options))
        .with_graceful_shutdown(shutdown)
        .await
}
