//! dualrpc makes several Solana JSON-RPC providers behave like one faster, fresher, more
//! reliable provider. This crate is the core, usable in-process without any server: a
//! [`Pool`] executes one JSON-RPC call on several endpoints according to a [`Strategy`] —
//! `failover`, `race`, `hedge`, `consensus`, `dual` or `broadcast` — with per-attempt
//! timeouts, a call deadline, performance tracking and performance-based selection. The
//! HTTP gateway (`dualrpc-gateway`) is a thin layer over it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use dualrpc::{Config, Pool, Strategy};
//!
//! let pool = Pool::from_config(Config::load("dualrpc.toml")?)?;
//! let tx = pool
//!     .call("getTransaction", &serde_json::json!(["5h6x…", {"maxSupportedTransactionVersion": 0}]))
//!     .strategy(Strategy::Consensus)
//!     .timeout(Duration::from_millis(200))
//!     .await?;
//! println!("{} (from {}, {} attempts)", tx.result, tx.endpoint, tx.attempts);
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! Modules in layers; each uses only the ones above it (a test checks this), so there is
//! no cycle and each can be read and tested on its own:
//!
//! 1. [`clock`] (the one clock), [`worker`] (which worker thread, for per-thread upstream
//!    connections), [`catalog`] (what the pool knows about each method), [`fresh`] (how new
//!    an answer is; the slots already served), [`outcome`] (what an attempt came to),
//!    [`jsonrpc`] (wire format, error codes);
//! 2. [`config`] (the file as written), [`policy`] (a call's policy and the one function
//!    that resolves it), [`settings`] (the file validated into what the pool runs on);
//! 3. [`stats`] (peak EWMA, windowed histograms, breaker, token bucket — pure over `now`),
//!    `budget` (the hedge budget), [`telemetry`] (metric handles);
//! 4. `upstream` (the HTTP client of one endpoint: hyper-util over rustls), `endpoint`
//!    (one upstream: its clients, stats, answer classification), `upstreams` (the set of
//!    endpoints and `dual` pairs);
//! 5. `select` (ordered plan, pair rotation), `health` (the `getSlot` loop), `sight` (which
//!    provider shows a new signature first);
//! 6. [`error`], [`reply`] (what a call ends with), `attempt` (the engine every strategy
//!    runs on: launching, settling, the shared rules);
//! 7. `strategy/` (one module per strategy);
//! 8. `rounds` (a call's rounds: strategy, budget wait, last resort, retry; reporting);
//! 9. `cache` (finality-aware), `coalesce` (identical calls in flight);
//! 10. [`pool`] ([`Pool`] and its call builder), [`pubsub`] (subscriptions over WebSocket,
//!     fanned out and deduplicated);
//! 11. `bench` (the micro-benchmarks' way in; hidden).
//!
//! `ARCHITECTURE.md` at the repository root follows a request and a config value through
//! these modules. Endpoint URLs carry API keys: nothing in this crate prints, logs or
//! returns one; every report names endpoints by their configured name.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod attempt;
#[doc(hidden)]
pub mod bench;
mod budget;
mod cache;
pub mod catalog;
pub mod clock;
mod coalesce;
pub mod config;
mod endpoint;
pub mod error;
pub mod fresh;
mod health;
pub mod jsonrpc;
pub mod outcome;
pub mod policy;
pub mod pool;
pub mod pubsub;
pub mod reply;
mod rounds;
mod select;
pub mod settings;
mod sight;
pub mod stats;
mod strategy;
pub mod telemetry;
mod upstream;
mod upstreams;
pub mod wire;
pub mod worker;

#[cfg(test)]
mod layers;
#[cfg(test)]
mod tests;

pub use budget::HedgeBudgetSnapshot;
pub use config::{Config, ConfigError, Document, EndpointConfig, EndpointUrl, PolicyConfig, Role};
pub use error::{AttemptFailure, CallError, ErrorReason};
pub use jsonrpc::RawJson;
pub use outcome::FailureKind;
pub use policy::{ConsensusFallback, Strategy, UnknownStrategy};
pub use pool::{CallBuilder, Pool, PoolStatus};
pub use reply::{Agreement, Reply};
pub use settings::Settings;
pub use sight::FirstSight;
