//! The dualrpc HTTP gateway: a JSON-RPC 2.0 server in front of a [`dualrpc::Pool`], so
//! any Solana client can point at it instead of a provider URL.
//!
//! # Layout
//!
//! - this file — [`Gateway`] (router, accept loop with read timeouts and graceful
//!   shutdown, config reload by swapping a snapshot) and [`serve`], the one entry point the
//!   binary, the tests, the demo and the bench all call;
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
mod prometheus;
mod request;
mod response;
mod rpc;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::routing::{get, post};
use dualrpc::Pool;
use dualrpc::config::{GatewayConfig, LimitsConfig};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// Header naming the strategy for one request.
pub const HEADER_STRATEGY: &str = "x-dualrpc-strategy";
/// Header setting the request's time budget in milliseconds.
pub const HEADER_TIMEOUT_MS: &str = "x-dualrpc-timeout-ms";
/// Response header: the endpoint whose answer was returned.
pub const HEADER_ENDPOINT: &str = "x-dualrpc-endpoint";
/// Response header: the upstream attempts made.
pub const HEADER_ATTEMPTS: &str = "x-dualrpc-attempts";
/// Request header carrying a client API key.
pub const HEADER_API_KEY: &str = "x-api-key";

/// Gateway settings beyond the pool's.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// Request size and batch limits.
    pub limits: LimitsConfig,
    /// API keys, deny list and read timeouts.
    pub front: GatewayConfig,
}

impl GatewayOptions {
    /// Options from a loaded config.
    pub fn from_config(config: &dualrpc::Config) -> Self {
        Self {
            limits: config.limits.clone(),
            front: config.gateway.clone(),
        }
    }
}

/// What a request is served with: taken once per request, so a reload never changes the
/// pool or the options under a request in flight.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) pool: Pool,
    pub(crate) options: GatewayOptions,
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
        let _ = prometheus::handle();
        Gateway {
            state: Arc::new(AppState {
                current: ArcSwap::from_pointee(Snapshot { pool, options }),
            }),
        }
    }

    /// Replaces the pool and options (config reload). Requests already in flight finish on
    /// the snapshot they started with; new requests use the new one.
    pub fn reload(&self, pool: Pool, options: GatewayOptions) {
        self.state
            .current
            .store(Arc::new(Snapshot { pool, options }));
    }

    /// The pool currently serving.
    pub fn pool(&self) -> Pool {
        self.state.current.load().pool.clone()
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

    /// Serves on `listener` until `shutdown` completes, then stops accepting, lets every
    /// request already received finish and be answered, and returns.
    ///
    /// Clients get `header_read_timeout_ms` to send their headers (a slow-loris client is
    /// disconnected) and `body_read_timeout_ms` for the body (answered with an error).
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let header_timeout = Duration::from_millis(
            self.state
                .current
                .load()
                .options
                .front
                .header_read_timeout_ms,
        );
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let router = self.router();
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(router.clone());
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }
}

/// The gateway's routes over `pool`.
pub fn router(pool: Pool, options: GatewayOptions) -> Router {
    Gateway::new(pool, options).router()
}

/// Serves the gateway on `listener` until `shutdown` completes, then stops accepting and
/// answers every request already in flight before returning.
pub async fn serve(
    listener: TcpListener,
    pool: Pool,
    options: GatewayOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    Gateway::new(pool, options).serve(listener, shutdown).await
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
