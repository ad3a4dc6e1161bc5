//! dualrpc makes several Solana JSON-RPC providers behave like one faster, more reliable
//! provider. This crate is the core, usable in-process without any server: a [`Pool`]
//! executes one JSON-RPC call on several endpoints according to a [`Strategy`] —
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
//! - [`config`] — the TOML format, `${ENV}` interpolation, validation. The only place
//!   configuration is read.
//! - [`pool`] — [`Pool`], the call builder, policy resolution (request → method → default).
//! - `strategy/` — one module per strategy plus the shared attempt machinery: first usable
//!   success wins, empty answers wait, deterministic errors end the call.
//! - `select` — ranks endpoints into an ordered plan (score + power-of-two-choices; lagging
//!   and open-circuit endpoints last).
//! - [`stats`] — per-endpoint peak-EWMA latency, windowed histograms, success ratio,
//!   counters, circuit breaker.
//! - `health` — the `getSlot` loop: slot lag and circuit probes.
//! - `endpoint` — one upstream: keep-alive HTTP client, secret URL, answer classification.
//! - `jsonrpc` — wire format with `RawValue` payloads, Solana error-code classification,
//!   per-method emptiness rules.
//! - [`outcome`] / [`error`] — what an attempt came to; what a call failed with and its
//!   JSON-RPC form.
//! - `budget` — the hedge budget. [`telemetry`] — metrics emitted via the `metrics` facade.
//!
//! Endpoint URLs carry API keys: nothing in this crate prints, logs or returns one; every
//! report names endpoints by their configured name.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod budget;
mod cache;
mod coalesce;
pub mod config;
mod endpoint;
pub mod error;
mod health;
pub mod jsonrpc;
pub mod outcome;
pub mod pool;
mod select;
pub mod stats;
mod strategy;
pub mod telemetry;

pub use budget::HedgeBudgetSnapshot;
pub use config::{Config, ConfigError, EndpointConfig, EndpointUrl, PolicyConfig, Role};
pub use error::{AttemptFailure, CallError, ErrorReason};
pub use outcome::FailureKind;
pub use pool::{CallBuilder, Pool, PoolStatus, Reply};
pub use strategy::{Strategy, UnknownStrategy};
