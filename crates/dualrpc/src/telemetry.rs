//! Metrics emitted by the pool, through the `metrics` facade.
//!
//! The library only *emits*; whoever embeds it installs a recorder (the gateway installs a
//! Prometheus one and serves `GET /metrics`). Labels are endpoint names, strategies,
//! outcome kinds and a bounded set of method names — never URLs, and never a
//! client-chosen string that could blow up cardinality.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::Strategy;
use crate::endpoint::Endpoint;
use crate::outcome::Outcome;
use crate::stats::CircuitState;

/// Methods labelled by name; any other method is labelled `other`.
const KNOWN_METHODS: &[&str] = &[
    "getAccountInfo",
    "getBalance",
    "getBlock",
    "getBlockHeight",
    "getBlockTime",
    "getEpochInfo",
    "getHealth",
    "getLatestBlockhash",
    "getMultipleAccounts",
    "getProgramAccounts",
    "getSignatureStatuses",
    "getSignaturesForAddress",
    "getSlot",
    "getTokenAccountBalance",
    "getTokenAccountsByOwner",
    "getTransaction",
    "getVersion",
    "isBlockhashValid",
    "sendTransaction",
    "simulateTransaction",
];

/// The method label: the name if it is a known Solana method, else `other`.
pub fn method_label(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// One settled attempt.
pub(crate) fn attempt(endpoint: &str, outcome: &Outcome, latency: Duration) {
    let name = endpoint.to_string();
    counter!("dualrpc_upstream_attempts_total", "endpoint" => name.clone(), "outcome" => outcome.label()).increment(1);
    histogram!("dualrpc_upstream_latency_seconds", "endpoint" => name)
        .record(latency.as_secs_f64());
}

/// An endpoint's circuit opened or closed.
pub(crate) fn circuit_changed(ep: &Endpoint) {
    let state = ep.stats_circuit();
    let open = !matches!(state, CircuitState::Closed { .. });
    gauge!("dualrpc_upstream_circuit_open", "endpoint" => ep.name.to_string()).set(if open {
        1.0
    } else {
        0.0
    });
    if open {
        tracing::warn!(endpoint = %ep.name, "circuit opened: endpoint taken out of rotation");
    } else {
        tracing::info!(endpoint = %ep.name, "circuit closed: endpoint back in rotation");
    }
}

/// An endpoint's answer lost a consensus vote.
pub(crate) fn disagreement(ep: &Endpoint) {
    counter!("dualrpc_consensus_disagreements_total", "endpoint" => ep.name.to_string())
        .increment(1);
}

/// A call finished.
pub(crate) fn call(
    method: &str,
    strategy: Strategy,
    result: &'static str,
    attempts: u32,
    latency: Duration,
) {
    let method = method_label(method);
    let strategy = strategy.as_str();
    counter!("dualrpc_calls_total", "method" => method, "strategy" => strategy, "result" => result)
        .increment(1);
    counter!("dualrpc_call_attempts_total", "strategy" => strategy).increment(u64::from(attempts));
    histogram!("dualrpc_call_duration_seconds", "strategy" => strategy)
        .record(latency.as_secs_f64());
}

/// A call's answer came from `endpoint`.
pub(crate) fn win(endpoint: &str) {
    counter!("dualrpc_upstream_wins_total", "endpoint" => endpoint.to_string()).increment(1);
}

/// An extra attempt (fan-out beyond the first) was skipped to save the endpoint's budget.
pub(crate) fn fanout_shrunk(endpoint: &str) {
    counter!("dualrpc_fanout_shrunk_total", "endpoint" => endpoint.to_string()).increment(1);
}

/// A hedge was fired (`true`) or refused by the hedge budget (`false`).
pub(crate) fn hedge(fired: bool) {
    counter!("dualrpc_hedges_total", "result" => if fired { "fired" } else { "denied" })
        .increment(1);
}

/// A call was answered from an identical call already in flight.
pub(crate) fn coalesced(method: &str) {
    counter!("dualrpc_coalesced_total", "method" => method_label(method)).increment(1);
}

/// The health loop read an endpoint's slot.
pub(crate) fn slot(endpoint: &str, slot: u64, lag: u64, lagging: bool) {
    gauge!("dualrpc_upstream_slot", "endpoint" => endpoint.to_string()).set(slot as f64);
    gauge!("dualrpc_upstream_slot_lag", "endpoint" => endpoint.to_string()).set(lag as f64);
    gauge!("dualrpc_upstream_lagging", "endpoint" => endpoint.to_string()).set(if lagging {
        1.0
    } else {
        0.0
    });
}
