//! Serving one endpoint: the accept loop, one task per connection, and the per-request
//! pipeline — count it → rate limit → draw fault and latency → sleep the latency → answer
//! from the chain at that instant, through the endpoint's lag and indexing delays — with the
//! counters behind [`EndpointStats`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;

use super::wire::{
    PER_IP_LIMIT_MESSAGE, PER_METHOD_LIMIT_MESSAGE, answer, gateway_error, parse_body, response,
    too_many_requests,
};
use super::{EndpointState, MAX_BODY_BYTES, ws};
use crate::faults::{Fault, LimitHit};
use crate::methods::{CallContext, METHODS};

/// Counters of one endpoint since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// HTTP requests received (a batch is one).
    pub http_requests: u64,
    /// JSON-RPC calls received, by method (unknown methods under `"other"`).
    pub calls: BTreeMap<String, u64>,
    /// Injected HTTP 502/503.
    pub http_5xx: u64,
    /// HTTP 429s, from the rate limit or injected.
    pub rate_limited: u64,
    /// Injected node-unhealthy errors (requests, not calls).
    pub unhealthy: u64,
    /// Injected connection resets.
    pub resets: u64,
    /// Injected hangs.
    pub hangs: u64,
}

impl EndpointStats {
    /// Calls received for `method`.
    pub fn calls_to(&self, method: &str) -> u64 {
        self.calls.get(method).copied().unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) http_requests: AtomicU64,
    pub(super) calls: [AtomicU64; METHODS.len() + 1],
    pub(super) http_5xx: AtomicU64,
    pub(super) rate_limited: AtomicU64,
    pub(super) unhealthy: AtomicU64,
    pub(super) resets: AtomicU64,
    pub(super) hangs: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    state: Arc<EndpointState>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // A send or a dropped sender both mean stop.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, state.clone()));
                }
                Err(e) => {
                    // Usually EMFILE; back off instead of spinning.
                    tracing::warn!(endpoint = %state.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, state: Arc<EndpointState>) {
    let reset = Arc::new(Notify::new());
    // A WebSocket upgrade accepted on this connection, served once hyper lets go of it.
    let upgrade = Arc::new(Mutex::new(None::<OnUpgrade>));
    let service = {
        let (reset, upgrade, state) = (reset.clone(), upgrade.clone(), state.clone());
        service_fn(move |req| handle(req, state.clone(), reset.clone(), upgrade.clone()))
    };
    let mut conn = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::select! {
        _ = &mut conn => {}
        () = reset.notified() => {
            // Take the socket back from hyper and close it with SO_LINGER=0: the kernel sends
            // an RST, which the client sees as "connection reset by peer".
            if let Some(parts) = conn.into_parts() {
                let stream = parts.io.into_inner();
                let _ = stream.set_zero_linger();
                drop(stream);
            }
            return;
        }
    }
    let pending = upgrade.lock().take();
    if let Some(pending) = pending {
        ws::serve(pending, state).await;
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<EndpointState>,
    reset: Arc<Notify>,
    upgrade: Arc<Mutex<Option<OnUpgrade>>>,
) -> Result<Response<Body>, Infallible> {
    if ws::is_upgrade(&req) {
        return Ok(ws::accept(req, &upgrade));
    }
    if req.method() == Method::GET && req.uri().path() == "/health" {
        // agave's plain-HTTP health check.
        let lag = state.lag();
        let text = if lag > 128 { "behind" } else { "ok" };
        return Ok(response(StatusCode::OK, "text/plain", text));
    }
    if req.method() != Method::POST {
        return Ok(response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "Used HTTP Method is not allowed. POST or OPTIONS is required",
        ));
    }
    let body = match axum::body::to_bytes(Body::new(req.into_body()), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => return Ok(response(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", "")),
    };
    let counters = &state.counters;
    bump(&counters.http_requests);
    let parsed = parse_body(&body);
    let methods = parsed.methods();
    for m in &methods {
        let i = METHODS.iter().position(|k| k == m).unwrap_or(METHODS.len());
        bump(&counters.calls[i]);
    }

    let lag = state.lag();
    let limited = state
        .limiter
        .lock()
        .as_mut()
        .and_then(|l| l.admit(tokio::time::Instant::now(), &methods).err());
    let (fault, delay) = state.decide(lag);
    if !delay.is_zero() {
        crate::timer::sleep(delay).await;
    }
    if let Some((hit, retry_after)) = limited {
        bump(&counters.rate_limited);
        let message = match hit {
            LimitHit::Total => PER_IP_LIMIT_MESSAGE,
            LimitHit::Method => PER_METHOD_LIMIT_MESSAGE,
        };
        return Ok(too_many_requests(parsed.request_id(), message, retry_after));
    }
    let mut unhealthy = None;
    match fault {
        None => {}
        Some(Fault::Http5xx(code)) => {
            bump(&counters.http_5xx);
            return Ok(gateway_error(code));
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            bump(&counters.rate_limited);
            return Ok(too_many_requests(
                parsed.request_id(),
                PER_METHOD_LIMIT_MESSAGE,
                retry_after_secs,
            ));
        }
        Some(Fault::Unhealthy { slots_behind }) => {
            bump(&counters.unhealthy);
            unhealthy = Some(slots_behind);
        }
        Some(Fault::Reset) => {
            bump(&counters.resets);
            reset.notify_one();
            return std::future::pending().await;
        }
        Some(Fault::Hang) => {
            bump(&counters.hangs);
            return std::future::pending().await;
        }
    }
    let ctx = CallContext {
        chain: &state.chain,
        endpoint: state.index,
        lag,
        now: state.chain.now(),
    };
    let out = answer(&parsed, &ctx, unhealthy);
    Ok(response(StatusCode::OK, "application/json", out))
}
