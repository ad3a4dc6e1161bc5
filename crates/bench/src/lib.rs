//! The meme-coin detection workload, `dualrpc demo` and `dualrpc bench`: the same bot
//! workload run through several set-ups ("arms") against simulated providers, so the
//! mission's claims are measured, not asserted.
//!
//! # Layout
//!
//! - `workload` — the bot: poll signatures → fetch transactions → validate mints; open loop,
//!   every request timed and classified ok / stale / failed against the chain's ground truth;
//! - `arms` — the set-ups compared (single endpoint, each strategy, the seed's per-method
//!   config, nginx), each on its own simulated cluster with the same profile and seed;
//! - `host` — a thread with a runtime of its own, for an arm's simulated providers;
//! - `oracle` — the fastest non-failing endpoint per request, drawn from the same models;
//! - `detection` — time to detect a launch (creation on the chain → mint validated) per arm,
//!   and the detection oracle that polls on the same schedule;
//! - `budget` — the upstream-budget benchmark: sustained rate under providers' rate limits;
//! - `overhead` — the gateway's own cost beside nginx: wrk against a zero-latency upstream
//!   with distinct requests, and memory with calls in flight;
//! - `nginx` — nginx as a failover reverse proxy, the peer a user would pick instead;
//! - `streaming` — time from a launch to its `logsNotification` through dualrpc and through
//!   each provider while providers drop connections, and what subscriptions cost the gateway;
//! - `report` — the Markdown report, the plots and the terminal table;
//! - `results` — the plain data all of the above exchange;
//! - `run` — `demo` and `bench` themselves (arguments, progress bar, output).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod arms;
pub mod budget;
pub mod detection;
pub mod host;
pub mod nginx;
pub mod oracle;
pub mod overhead;
pub mod report;
pub mod results;
pub mod run;
pub mod streaming;
pub mod workload;

pub use run::{BenchArgs, DemoArgs, bench, demo};
