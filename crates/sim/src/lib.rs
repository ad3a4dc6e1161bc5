//! Simulated Solana JSON-RPC providers on loopback, so dualrpc's tests, `dualrpc bench` and
//! `dualrpc demo` run anywhere without network access.
//!
//! A [`Cluster`] runs several endpoints (one port each) that serve **one shared chain**
//! ([`Chain`]): slots advance every 400 ms, and the pump.fun launchpad program
//! ([`PUMP_FUN_PROGRAM_ID`]) receives new token-creation transactions at a steady Poisson rate.
//! Each endpoint adds its own latency ([`LatencyModel`]), failures ([`FaultModel`]), optional
//! rate limit ([`RateLimit`]), slot lag, and **indexing delay**: it shows each new
//! transaction only after its own per-transaction delay (drawn from the seed, the endpoint and
//! the transaction), so which endpoint shows a launch first varies from launch to launch, as
//! on mainnet. A profile ([`Profile`]) bundles these, and
//! [`Profile::named`] gives the built-in ones (`seed`, `mainnet-like`, `zero`, `lagging` —
//! documented with their sources in the `profile` module).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use dualrpc_sim::{Cluster, ClusterOptions, Profile};
//! let profile = Profile::named("mainnet-like").unwrap();
//! let cluster = Cluster::start(&profile, ClusterOptions { seed: 7, ..Default::default() }).await?;
//! for endpoint in cluster.endpoints() {
//!     println!("{}={}", endpoint.name(), endpoint.url());
//! }
//! cluster.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## The bot workload it is shaped for
//! 1. `getSignaturesForAddress(PUMP_FUN_PROGRAM_ID, {"commitment":"confirmed"})` — newest first,
//!    real field names; a full page (1000) is ~215 KB, like mainnet.
//! 2. `getTransaction(sig, {"commitment":"confirmed","maxSupportedTransactionVersion":0,
//!    "encoding":"jsonParsed"})` — a real pump.fun `create` transaction (~20 KB) with this
//!    transaction's keys. **The new mint is at `result.meta.postTokenBalances[0].mint`.**
//! 3. `getAccountInfo(mint, {"commitment":"confirmed","encoding":"jsonParsed"|"base64"})` — an
//!    SPL mint account, or `"value": null` on an endpoint that has not reached its slot or not
//!    indexed its transaction yet.
//!
//! As on agave, the default commitment is `finalized` (≈32 slots, ~13 s behind), so a client
//! that omits `commitment` sees new activity late, and `getTransaction` without
//! `maxSupportedTransactionVersion` fails with `-32015`. [`Cluster::chain`] exposes the ground
//! truth (tip slot, every signature and mint) so a client can check answers for staleness, and
//! the visibility oracle: [`Chain::visibility`] says when a given endpoint first shows a given
//! transaction (a [`Visibility`]: creation instant, indexing delay, first-visible instant, on
//! the chain's clock [`ChainTime`]), [`Chain::first_visible`] which endpoint shows it first.
//! With [`ClockMode::Manual`], [`Chain::advance`] and [`Chain::advance_time`] step that clock.
//! A transaction a client sends (`sendTransaction`) lands on the chain in the next slot, so
//! `getSignatureStatuses` and `signatureSubscribe` confirm it as they would a launch
//! ([`Chain::sent_slot`] says where it landed).
//!
//! ## PubSub
//! Every endpoint also serves Solana PubSub on its port: its URL with `ws://`
//! ([`SimEndpoint::ws_url`]). Subscriptions (`slotSubscribe`, `rootSubscribe`,
//! `logsSubscribe`, `accountSubscribe`, `programSubscribe`, `signatureSubscribe`) are framed
//! as agave 4.2.2 frames them and notified from the same chain through the endpoint's lag and
//! indexing delay, then after the endpoint's own delivery delay, with occasional drops and
//! disconnects ([`PubsubModel`], part of [`EndpointSpec`]).
//! [`SimEndpoint::notification_timing`] says when an endpoint sends a launch's notification,
//! [`SimEndpoint::drop_pubsub_connections`] closes its connections, and
//! [`SimEndpoint::pubsub_stats`] counts them.
//!
//! ## Layout
//! * `latency` — [`LatencyModel`] (lognormal body, tail, stalls) and [`CorrelatedSlowdown`].
//! * `faults` — [`FaultModel`] (5xx, 429, node unhealthy, reset, hang) and [`RateLimit`].
//! * `chain` — [`Chain`]: its clock, slots, launchpad transactions, mints, commitment levels,
//!   and each endpoint's view (lag + indexing delay) with the visibility oracle.
//! * `templates` — payloads prebuilt from real captures in `fixtures/`.
//! * `accounts` — the accounts a launch creates (mint, bonding curve), as both APIs serve them.
//! * `methods` — the JSON-RPC methods, answered through an endpoint's lag and indexing delay.
//! * `pubsub` — Solana PubSub (slot, root, logs, account, program and signature
//!   subscriptions) from the same views, with [`PubsubModel`]'s delivery delay, drops and
//!   disconnects.
//! * `server` — [`Cluster`] and [`SimEndpoint`]: HTTP, batching, fault injection, the
//!   WebSocket upgrade to PubSub on the same port, controls.
//! * `profile` — [`Profile`] and the built-in profiles, with where their numbers come from.
//! * `cli` — [`SimArgs`] and [`run_cli`] for `dualrpc sim`.
//! * `codec` — base58/base64 and the seeded hash stream.

mod accounts;
mod chain;
mod cli;
mod codec;
mod faults;
mod latency;
mod methods;
mod profile;
mod pubsub;
mod server;
mod templates;
pub mod timer;

pub use chain::{
    API_VERSION, CONFIRMED_DEPTH, Chain, ChainConfig, ChainTime, ClockMode, Commitment,
    FINALIZED_DEPTH, PUMP_FUN_PROGRAM_ID, SignatureInfo, Visibility,
};
pub use cli::{SimArgs, run_cli};
pub use codec::base58_encode;
pub use faults::{Fault, FaultModel, RateLimit};
pub use latency::{CorrelatedSlowdown, LatencyKind, LatencyModel, LatencySample};
pub use methods::MAINNET_GENESIS_HASH;
pub use profile::{EndpointSpec, Profile};
pub use pubsub::{LaunchNotification, NotificationTiming, PubsubModel, PubsubStats};
pub use server::{Cluster, ClusterOptions, EndpointStats, SimEndpoint};
