//! Metrics emitted by the pool, through the `metrics` facade.
//!
//! The library only *emits*; whoever embeds it installs a recorder (the gateway installs a
//! Prometheus one and serves `GET /metrics`). Labels are endpoint names, strategies,
//! outcome kinds and the catalogue's method labels — never URLs, and never a client-chosen
//! string that could blow up cardinality.
//!
//! Per-attempt metrics go through [`EndpointMetrics`]: handles registered once per
//! endpoint (on its first attempt), so recording an attempt formats no label and
//! allocates nothing. Per-call metrics carry only `&'static str` labels.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::outcome::{FailureKind, Outcome};
use crate::policy::Strategy;

/// Outcome labels in the order of [`outcome_index`]: the three answers, then every
/// failure kind.
const ANSWER_LABELS: [&str; 3] = ["success", "empty", "deterministic_error"];

/// Index of an outcome's counter in [`EndpointMetrics`].
fn outcome_index(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Success { missing: 0, .. } => 0,
        Outcome::Success { .. } => 1,
        Outcome::Deterministic { .. } => 2,
        Outcome::NodeError { kind, .. } | Outcome::Failed { kind, .. } => 3 + kind.index(),
    }
}

/// One endpoint's metric handles, registered once.
#[derive(Debug)]
pub(crate) struct EndpointMetrics {
    /// `dualrpc_upstream_attempts_total{endpoint,outcome}`, by [`outcome_index`].
    attempts: Vec<Counter>,
    latency: Histogram,
    wins: Counter,
    fanout_shrunk: Counter,
    disagreements: Counter,
    circuit_open: Gauge,
    slot: Gauge,
    slot_lag: Gauge,
    lagging: Gauge,
}

impl EndpointMetrics {
    /// Registers the handles of endpoint `name`.
    pub(crate) fn new(name: &str) -> Self {
        let ep = || name.to_string();
        let attempts = ANSWER_LABELS
            .iter()
            .copied()
            .chain(FailureKind::ALL.iter().map(|k| k.as_str()))
            .map(|outcome| {
                counter!("dualrpc_upstream_attempts_total", "endpoint" => ep(), "outcome" => outcome)
            })
            .collect();
        Self {
            attempts,
            latency: histogram!("dualrpc_upstream_latency_seconds", "endpoint" => ep()),
            wins: counter!("dualrpc_upstream_wins_total", "endpoint" => ep()),
            fanout_shrunk: counter!("dualrpc_fanout_shrunk_total", "endpoint" => ep()),
            disagreements: counter!("dualrpc_consensus_disagreements_total", "endpoint" => ep()),
            circuit_open: gauge!("dualrpc_upstream_circuit_open", "endpoint" => ep()),
            slot: gauge!("dualrpc_upstream_slot", "endpoint" => ep()),
            slot_lag: gauge!("dualrpc_upstream_slot_lag", "endpoint" => ep()),
            lagging: gauge!("dualrpc_upstream_lagging", "endpoint" => ep()),
        }
    }

    /// One settled attempt.
    pub(crate) fn attempt(&self, outcome: &Outcome, latency: Duration) {
        self.attempts[outcome_index(outcome)].increment(1);
        self.latency.record(latency.as_secs_f64());
    }

    /// The endpoint's answer won a call.
    pub(crate) fn win(&self) {
        self.wins.increment(1);
    }

    /// An extra attempt was skipped to save the endpoint's rate-limit budget.
    pub(crate) fn fanout_shrunk(&self) {
        self.fanout_shrunk.increment(1);
    }

    /// The endpoint's answer lost a consensus vote.
    pub(crate) fn disagreement(&self) {
        self.disagreements.increment(1);
    }

    /// The circuit opened (`true`) or closed.
    pub(crate) fn circuit(&self, open: bool) {
        self.circuit_open.set(if open { 1.0 } else { 0.0 });
    }

    /// The health loop read the endpoint's slot.
    pub(crate) fn slot(&self, slot: u64, lag: u64, lagging: bool) {
        self.slot.set(slot as f64);
        self.slot_lag.set(lag as f64);
        self.lagging.set(if lagging { 1.0 } else { 0.0 });
    }
}

/// A call finished. `method` is the catalogue's label (`other` for unknown methods).
pub(crate) fn call(
    method: &'static str,
    strategy: Strategy,
    result: &'static str,
    attempts: u32,
    latency: Duration,
) {
    let strategy = strategy.as_str();
    counter!("dualrpc_calls_total", "method" => method, "strategy" => strategy, "result" => result)
        .increment(1);
    counter!("dualrpc_call_attempts_total", "strategy" => strategy).increment(u64::from(attempts));
    histogram!("dualrpc_call_duration_seconds", "strategy" => strategy)
        .record(latency.as_secs_f64());
}

/// A hedge was fired (`true`) or refused by the hedge budget (`false`).
pub(crate) fn hedge(fired: bool) {
    counter!("dualrpc_hedges_total", "result" => if fired { "fired" } else { "denied" })
        .increment(1);
}

/// A call was answered from an identical call already in flight.
pub(crate) fn coalesced(method: &'static str) {
    counter!("dualrpc_coalesced_total", "method" => method).increment(1);
}

/// The metric label of `method`: its name if the catalogue knows it, else `other`.
pub fn method_label(method: &str) -> &'static str {
    crate::catalog::lookup(method).label
}
