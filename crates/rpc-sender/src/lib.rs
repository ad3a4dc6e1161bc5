//! An [`RpcSender`] that lets the official Solana Rust client (`solana-rpc-client`'s
//! [`RpcClient`](nonblocking::RpcClient)) send every call through a [`dualrpc::Pool`] —
//! several providers behaving as one faster, more reliable provider — instead of a single
//! provider URL.
//!
//! Switching is one line. Before:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use solana_rpc_client::nonblocking::rpc_client::RpcClient;
//!
//! let client = RpcClient::new("https://mainnet.helius-rpc.com/?api-key=…".to_string());
//! let slot = client.get_slot().await?;
//! # Ok(()) }
//! ```
//!
//! After:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = dualrpc::Pool::from_config(dualrpc::Config::load("dualrpc.toml")?)?;
//!
//! let client = dualrpc_rpc_sender::rpc_client(pool);
//! let slot = client.get_slot().await?; // every RpcClient method works unchanged
//! # Ok(()) }
//! ```
//!
//! Each `RpcClient` request becomes one [`dualrpc::Pool::call_raw`] with the method's
//! configured strategy (failover, race, hedge, consensus, …), timeouts and deadline.
//! Answers are handed to `RpcClient` exactly as the winning upstream sent them, and errors
//! come back as the same [`ClientError`]s the stock `HttpSender` produces, so existing
//! error handling keeps working:
//!
//! - an upstream's JSON-RPC error that every node would return (invalid params, preflight
//!   failure, unsupported transaction version, …) becomes
//!   [`RpcError::RpcResponseError`] with the upstream's `code` and `message`, and with
//!   [`RpcResponseErrorData::SendTransactionPreflightFailure`] /
//!   [`RpcResponseErrorData::NodeUnhealthy`] decoded from `data` exactly as `HttpSender`
//!   does;
//! - a call the pool could not complete (every endpoint failed, deadline passed, no
//!   quorum, no endpoint) also becomes [`RpcError::RpcResponseError`], with dualrpc's codes
//!   ([`dualrpc::error::CODE_ALL_FAILED`] `-32080` … [`dualrpc::error::CODE_NO_ENDPOINT`]
//!   `-32083`) and dualrpc's message; the error's JSON `data` (which endpoints failed and
//!   how — names and failure kinds, never URLs) is appended to the message, since
//!   [`RpcResponseErrorData`] has no place for it.
//!
//! HTTP-level trouble (5xx, 429, resets, timeouts) never reaches the client as such: the
//! pool retries it on another endpoint, which is the point.
//!
//! [`RpcClient::url`](nonblocking::RpcClient::url) returns a label such as `dualrpc[a,b]`
//! naming the pool's endpoints; endpoint URLs carry API keys and never appear.
//!
//! # Runtimes
//!
//! A pool belongs to the Tokio runtime it was created in (its health loop and its
//! connections live there). The sender remembers the runtime that is current when it is
//! built and runs every call as a task on it, so the client may be used from any runtime
//! — including the private one the blocking [`RpcClient`](blocking::RpcClient) drives.
//! For the blocking client, build it where the pool's runtime is current (or pass the
//! handle with [`DualRpcSender::with_runtime`]), and prefer a multi-threaded runtime so
//! that the pool's tasks run while the calling thread blocks.

#![warn(missing_docs)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use serde_json::value::RawValue;
use solana_rpc_client::api::client_error::{Error as ClientError, Result as ClientResult};
use solana_rpc_client::api::custom_error::{
    JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY, JSON_RPC_SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE,
    NodeUnhealthyErrorData,
};
use solana_rpc_client::api::error_object::RpcErrorObject;
use solana_rpc_client::api::request::{RpcError, RpcRequest, RpcResponseErrorData};
use solana_rpc_client::api::response::RpcSimulateTransactionResult;
use solana_rpc_client::rpc_sender::{RpcSender, RpcTransportStats};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

pub use solana_rpc_client::rpc_client::RpcClientConfig;

/// The client types this crate builds, re-exported so callers need no extra import.
pub mod nonblocking {
    pub use solana_rpc_client::nonblocking::rpc_client::RpcClient;
}

/// The blocking client type this crate builds, re-exported.
pub mod blocking {
    pub use solana_rpc_client::rpc_client::RpcClient;
}

/// An [`RpcSender`] that sends each request through a [`dualrpc::Pool`] instead of to one
/// URL. Give it to `RpcClient::new_sender`, or use [`rpc_client`] /
/// [`blocking_rpc_client`].
pub struct DualRpcSender {
    pool: dualrpc::Pool,
    label: String,
    runtime: Option<Handle>,
    stats: Mutex<RpcTransportStats>,
}

impl std::fmt::Debug for DualRpcSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stats = lock(&self.stats);
        f.debug_struct("DualRpcSender")
            .field("label", &self.label)
            .field("pinned_runtime", &self.runtime.is_some())
            .field("request_count", &stats.request_count)
            .field("elapsed_time", &stats.elapsed_time)
            .finish_non_exhaustive()
    }
}

impl DualRpcSender {
    /// A sender over `pool`. If a Tokio runtime is current (normally the one the pool was
    /// created in), every call runs as a task on it; otherwise calls run on whatever
    /// runtime polls them.
    pub fn new(pool: dualrpc::Pool) -> Self {
        let runtime = Handle::try_current().ok();
        Self::build(pool, runtime)
    }

    /// A sender over `pool` whose calls run as tasks on `runtime` — the pool's runtime —
    /// whichever runtime awaits them. Use it to build a client outside the pool's runtime.
    pub fn with_runtime(pool: dualrpc::Pool, runtime: Handle) -> Self {
        Self::build(pool, Some(runtime))
    }

    fn build(pool: dualrpc::Pool, runtime: Option<Handle>) -> Self {
        let label = format!("dualrpc[{}]", pool.endpoint_names().join(","));
        Self {
            pool,
            label,
            runtime,
            stats: Mutex::new(RpcTransportStats::default()),
        }
    }

    /// The pool calls go through (cheap to clone; clones share everything).
    pub fn pool(&self) -> &dualrpc::Pool {
        &self.pool
    }

    /// Runs one call on the pool and converts the outcome.
    async fn call(&self, method: String, params: Option<Box<RawValue>>) -> ClientResult<Value> {
        let outcome = match &self.runtime {
            Some(runtime) => {
                let pool = self.pool.clone();
                let task = AbortOnDrop(
                    runtime.spawn(async move { pool.call_raw(&method, params.as_deref()).await }),
                );
                match task.await {
                    Ok(outcome) => outcome,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => {
                        return Err(RpcError::RpcRequestError(format!(
                            "dualrpc call did not complete: {e} (was the pool's runtime shut down?)"
                        ))
                        .into());
                    }
                }
            }
            None => self.pool.call_raw(&method, params.as_deref()).await,
        };
        match outcome {
            Ok(reply) => Ok(serde_json::from_str(reply.result.get())?),
            Err(err) => Err(rpc_error(&err.to_jsonrpc())),
        }
    }
}

#[async_trait]
impl RpcSender for DualRpcSender {
    async fn send(&self, request: RpcRequest, params: Value) -> ClientResult<Value> {
        let _stats = StatsUpdater::new(&self.stats);
        let params = match params {
            Value::Null => None,
            params => Some(serde_json::value::to_raw_value(&params)?),
        };
        self.call(request.to_string(), params).await
    }

    fn get_transport_stats(&self) -> RpcTransportStats {
        lock(&self.stats).clone()
    }

    /// `dualrpc[NAME,…]`: the pool's endpoint names, never their URLs.
    fn url(&self) -> String {
        self.label.clone()
    }
}

/// The nonblocking `RpcClient` over `pool`, with the default [`RpcClientConfig`]
/// (`finalized` commitment, like `RpcClient::new`). Replaces `RpcClient::new(url)`.
pub fn rpc_client(pool: dualrpc::Pool) -> nonblocking::RpcClient {
    rpc_client_with_config(pool, RpcClientConfig::default())
}

/// The nonblocking `RpcClient` over `pool` with `config` (e.g.
/// `RpcClientConfig::with_commitment(CommitmentConfig::confirmed())`). Replaces
/// `RpcClient::new_with_commitment(url, commitment)`.
pub fn rpc_client_with_config(
    pool: dualrpc::Pool,
    config: RpcClientConfig,
) -> nonblocking::RpcClient {
    nonblocking::RpcClient::new_sender(DualRpcSender::new(pool), config)
}

/// The blocking `RpcClient` over `pool`, with the default [`RpcClientConfig`]. Call it
/// where the pool's runtime is current (see [the crate docs](crate#runtimes)); like every
/// blocking `RpcClient`, use it from outside async code or from a multi-threaded runtime.
pub fn blocking_rpc_client(pool: dualrpc::Pool) -> blocking::RpcClient {
    blocking_rpc_client_with_config(pool, RpcClientConfig::default())
}

/// The blocking `RpcClient` over `pool` with `config`.
pub fn blocking_rpc_client_with_config(
    pool: dualrpc::Pool,
    config: RpcClientConfig,
) -> blocking::RpcClient {
    blocking::RpcClient::new_sender(DualRpcSender::new(pool), config)
}

/// Codes of errors dualrpc itself reports (all failed, deadline, no quorum, no endpoint).
const DUALRPC_CODES: std::ops::RangeInclusive<i64> =
    dualrpc::error::CODE_NO_ENDPOINT..=dualrpc::error::CODE_ALL_FAILED;

/// The [`ClientError`] `HttpSender` produces for a response whose `error` is `error` (a
/// JSON-RPC error object): [`RpcError::RpcResponseError`] with `data` decoded for preflight
/// failures and unhealthy nodes.
fn rpc_error(error: &RawValue) -> ClientError {
    let decoded = serde_json::from_str::<Value>(error.get()).and_then(|value| {
        let object = serde_json::from_value::<RpcErrorObject>(value.clone())?;
        Ok((object, value))
    });
    let (object, mut value) = match decoded {
        Ok(decoded) => decoded,
        Err(err) => {
            return RpcError::RpcRequestError(format!(
                "Failed to deserialize RPC error response: {} [{err}]",
                error.get()
            ))
            .into();
        }
    };
    let data = match object.code {
        JSON_RPC_SERVER_ERROR_SEND_TRANSACTION_PREFLIGHT_FAILURE => {
            match serde_json::from_value::<RpcSimulateTransactionResult>(value["data"].take()) {
                Ok(result) => RpcResponseErrorData::SendTransactionPreflightFailure(result),
                Err(_) => RpcResponseErrorData::Empty,
            }
        }
        JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY => {
            match serde_json::from_value::<NodeUnhealthyErrorData>(value["data"].take()) {
                Ok(NodeUnhealthyErrorData { num_slots_behind }) => {
                    RpcResponseErrorData::NodeUnhealthy { num_slots_behind }
                }
                Err(_) => RpcResponseErrorData::Empty,
            }
        }
        _ => RpcResponseErrorData::Empty,
    };
    // dualrpc's own errors say in `data` which endpoints failed and how (names and kinds,
    // never URLs); `RpcResponseErrorData` has no room for that, so it joins the message.
    let message = match &data {
        RpcResponseErrorData::Empty if DUALRPC_CODES.contains(&object.code) => {
            match value["data"].take() {
                Value::Null => object.message,
                extra => format!("{} {extra}", object.message),
            }
        }
        _ => object.message,
    };
    RpcError::RpcResponseError {
        code: object.code,
        message,
        data,
    }
    .into()
}

/// Counts one request and its elapsed time when dropped (also when the call is
/// cancelled), as `HttpSender` does. The pool handles rate limits by trying another
/// endpoint, so `rate_limited_time` stays zero.
struct StatsUpdater<'a> {
    stats: &'a Mutex<RpcTransportStats>,
    start: Instant,
}

impl<'a> StatsUpdater<'a> {
    fn new(stats: &'a Mutex<RpcTransportStats>) -> Self {
        Self {
            stats,
            start: Instant::now(),
        }
    }
}

impl Drop for StatsUpdater<'_> {
    fn drop(&mut self) {
        let elapsed: Duration = self.start.elapsed();
        let mut stats = lock(self.stats);
        stats.request_count += 1;
        stats.elapsed_time += elapsed;
    }
}

fn lock(stats: &Mutex<RpcTransportStats>) -> std::sync::MutexGuard<'_, RpcTransportStats> {
    stats
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A spawned call that is aborted if the caller stops waiting for it.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_rpc_client::api::client_error::ErrorKind;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn plain_error_maps_to_response_error() {
        let e = rpc_error(&raw(r#"{"code":-32602,"message":"Invalid params"}"#));
        match e.kind() {
            ErrorKind::RpcError(RpcError::RpcResponseError {
                code,
                message,
                data: RpcResponseErrorData::Empty,
            }) => {
                assert_eq!(*code, -32602);
                assert_eq!(message, "Invalid params");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn node_unhealthy_data_is_decoded() {
        let e = rpc_error(&raw(
            r#"{"code":-32005,"message":"Node is behind by 42 slots","data":{"numSlotsBehind":42}}"#,
        ));
        assert!(matches!(
            e.kind(),
            ErrorKind::RpcError(RpcError::RpcResponseError {
                code: -32005,
                data: RpcResponseErrorData::NodeUnhealthy {
                    num_slots_behind: Some(42)
                },
                ..
            })
        ));
    }

    #[test]
    fn malformed_error_object_is_a_request_error() {
        let e = rpc_error(&raw(r#"{"message":"no code"}"#));
        assert!(matches!(
            e.kind(),
            ErrorKind::RpcError(RpcError::RpcRequestError(_))
        ));
    }
}
