//! The dualrpc HTTP gateway: a JSON-RPC 2.0 server in front of a [`dualrpc::Pool`], so
//! any Solana client can point at it instead of a provider URL.
//!
//! # Layout
//!
//! - this file — [`Gateway`]: the router over a swappable (pool, options) snapshot, so a
//!   config reload never changes anything under a request in flight;
//! - `server` — [`Server`]: the one start-up sequence (install the metrics recorder, build
//!   the pool, bind, serve with read timeouts, stop gracefully) that the tests, the demo
//!   and the bench use, and the accept loop every way of serving shares;
//! - `workers` — [`Workers`]: the same on one single-threaded runtime per core, each with
//!   its own socket (`SO_REUSEPORT`) and upstream connections: how `dualrpc serve` runs;
//! - [`config`] — the gateway's own settings and the loader of a whole `dualrpc.toml`;
//! - `service` — the hyper service: JSON-RPC posts go straight to `rpc`, the rest to the
//!   router;
//! - `rpc` — `POST /` and `POST /{strategy}`: per-request overrides, batches, headers;
//! - `request` / `response` — reading client JSON-RPC without re-parsing `params`, and
//!   writing responses by splicing the upstream's bytes next to the client's `id`;
//! - `admin` — `GET /health`, `GET /status`, `GET /metrics`;
//! - `auth` — client API keys, compared in constant time;
//! - `prometheus` — the process-wide Prometheus recorder.
//!
//! The gateway adds no state of its own to a call: everything it knows about upstreams
//! comes from the pool, and everything it shows names endpoints, never URLs.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod admin;
mod auth;
pub mod config;
mod front;
mod head;
mod prometheus;
mod request;
mod response;
mod rpc;
mod server;
mod service;
mod workers;
mod ws;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{get, post};
use dualrpc::Pool;

pub use config::{GatewayConfig, GatewayOptions};
pub use prometheus::install as install_metrics_recorder;
pub use server::Server;
pub use workers::Workers;

/// Header naming the strategy for one request.
pub const HEADER_STRATEGY: &str = "x-dualrpc-strategy";
/// Header setting the request's time budget in milliseconds.
pub const HEADER_TIMEOUT_MS: &str = "x-dualrpc-timeout-ms";
/// Response header: the endpoint whose answer was returned.
pub const HEADER_ENDPOINT: &str = "x-dualrpc-endpoint";
/// Response header: the upstream attempts made.
pub const HEADER_ATTEMPTS: &str = "x-dualrpc-attempts";
/// Response header of a consensus answer: distinct endpoints that agreed / the quorum.
pub const HEADER_AGREEMENT: &str = "x-dualrpc-agreement";
/// Response header of an answer older than one already served for the same method and
/// params (nothing fresher came before the deadline): how many slots behind it is.
pub const HEADER_STALE: &str = "x-dualrpc-stale";
/// Request header carrying a client API key.
pub const HEADER_API_KEY: &str = "x-api-key";

/// What a request is served with: taken once per request, so a reload never changes the
/// pool or the options under a request in flight.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) pool: Pool,
    pub(crate) options: GatewayOptions,
    /// `x-dualrpc-endpoint` values, made once per endpoint name (and `cache`).
    endpoint_headers: Vec<(Box<str>, HeaderValue)>,
}

impl Snapshot {
    fn new(pool: Pool, options: GatewayOptions) -> Snapshot {
        let endpoint_headers = pool
            .endpoint_names()
            .into_iter()
            .chain(["cache".to_string()])
            .filter_map(|name| {
                let value = HeaderValue::from_str(&name).ok()?;
                Some((name.into_boxed_str(), value))
            })
            .collect();
        Snapshot {
            pool,
            options,
            endpoint_headers,
        }
    }

    /// The `x-dualrpc-endpoint` value naming `name`.
    pub(crate) fn endpoint_header(&self, name: &str) -> HeaderValue {
        self.endpoint_headers
            .iter()
            .find(|(n, _)| **n == *name)
            .map(|(_, v)| v.clone())
            .or_else(|| HeaderValue::from_str(name).ok())
            .unwrap_or(HeaderValue::from_static("-"))
    }
}

/// What every handler can reach.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) current: ArcSwap<Snapshot>,
}

/// A gateway: the router over a swappable (pool, options) snapshot. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    state: Arc<AppState>,
}

impl Gateway {
    /// A gateway serving `pool` with `options`.
    pub fn new(pool: Pool, options: GatewayOptions) -> Gateway {
        // Make sure the recorder exists before the first call emits anything.
        prometheus::install();
        Gateway {
            state: Arc::new(AppState {
                current: ArcSwap::from_pointee(Snapshot::new(pool, options)),
            }),
        }
    }

    /// Replaces the pool and options (config reload). Requests already in flight finish on
    /// the snapshot they started with; new requests use the new one.
    pub fn reload(&self, pool: Pool, options: GatewayOptions) {
        self.state
            .current
            .store(Arc::new(Snapshot::new(pool, options)));
    }

    /// The pool currently serving.
    pub fn pool(&self) -> Pool {
        self.state.current.load().pool.clone()
    }

    /// The options currently in force.
    pub fn options(&self) -> GatewayOptions {
        self.state.current.load().options.clone()
    }

    /// The routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", post(rpc::handle_default).get(admin::root_get))
            .route("/{strategy}", post(rpc::handle_with_strategy))
            .route("/health", get(admin::health))
            .route("/status", get(admin::status))
            .route("/metrics", get(admin::metrics))
            .fallback(admin::not_found)
            .with_state(self.state.clone())
    }
}

/// Entry points for the micro-benchmarks (`benches/hot_path.rs`); not part of the
/// supported API.
#[doc(hidden)]
pub mod bench {
    use serde_json::value::RawValue;

    use crate::Gateway;

    /// Parses a request body as the gateway does (see [`crate::fuzzing::parse_request`]).
    pub fn parse_request(body: &[u8], max_batch: usize) -> Result<usize, i64> {
        crate::fuzzing::parse_request(body, max_batch)
    }

    /// Writes the response to a call answered with `reply` — body and headers, as the
    /// gateway sends it; returns the body's length.
    pub fn respond(gateway: &Gateway, id: &RawValue, reply: dualrpc::Reply) -> u64 {
        let state = gateway.state.current.load();
        let mut answer = crate::rpc::Answer::success(Some(id), reply);
        let body = answer.body.take().unwrap_or_default();
        let response = crate::rpc::json_response(
            &state,
            http::StatusCode::OK,
            body,
            std::slice::from_ref(&answer),
        );
        response.body.len()
    }
}

/// Entry points for the fuzzer (`fuzz/`); not part of the supported API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a client request body as the gateway does and returns how many answers it
    /// would produce (calls with an id plus invalid elements), or the whole-body error code.
    pub fn parse_request(body: &[u8], max_batch: usize) -> Result<usize, i64> {
        match crate::request::parse(body, max_batch) {
            Ok(crate::request::Body::Single(_)) => Ok(1),
            Ok(crate::request::Body::Batch(items)) => Ok(items.len()),
            Err(e) => Err(e.code),
        }
    }
}
