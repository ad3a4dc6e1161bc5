//! Metrics emitted by the pool, through the `metrics` facade.
//!
//! The library only *emits*; whoever embeds it installs a recorder (the gateway installs a
//! Prometheus one and serves `GET /metrics`). Labels are endpoint names, strategies,
//! outcome kinds and the catalogue's method labels — never URLs, and never a client-chosen
//! string that could blow up cardinality.
//!
//! Per-attempt metrics go through [`EndpointMetrics`]: handles registered once per
//! endpoint (on its first attempt), so recording an attempt formats no label and
//! allocates nothing; per-call metrics go through [`CallMetrics`], the same way.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

use crate::catalog::MethodInfo;
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
    first_sight: Counter,
    first_sight_delay: Histogram,
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
            first_sight: counter!("dualrpc_upstream_first_sight_total", "endpoint" => ep()),
            first_sight_delay: histogram!(
                "dualrpc_upstream_first_sight_delay_seconds",
                "endpoint" => ep()
            ),
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

    /// The endpoint showed a new signature first.
    pub(crate) fn first_sight(&self) {
        self.first_sight.increment(1);
    }

    /// The endpoint showed a new signature `delay` after the first endpoint that did.
    pub(crate) fn seen_later(&self, delay: Duration) {
        self.first_sight_delay.record(delay.as_secs_f64());
    }

    /// The health loop read the endpoint's slot.
    pub(crate) fn slot(&self, slot: u64, lag: u64, lagging: bool) {
        self.slot.set(slot as f64);
        self.slot_lag.set(lag as f64);
        self.lagging.set(if lagging { 1.0 } else { 0.0 });
    }
}

/// Labels of `dualrpc_calls_total{result}`, as [`CallError::label`] and the pool give them.
///
/// [`CallError::label`]: crate::CallError::label
const CALL_RESULTS: [&str; 10] = [
    "success",
    "empty",
    "cached",
    "rpc_error",
    "all_failed",
    "deadline",
    "no_quorum",
    "no_endpoint",
    "over_budget",
    "invalid_request",
];

/// Per-call metric handles of one pool, each registered on its first use (after the
/// embedder installed its recorder) and kept: recording a call builds no label set, hashes
/// no key and takes no registry lock.
#[derive(Debug)]
pub(crate) struct CallMetrics {
    /// `dualrpc_calls_total{method,strategy,result}`, indexed by
    /// [`CallMetrics::calls_index`].
    calls: Box<[OnceLock<Counter>]>,
    /// `dualrpc_call_attempts_total{strategy}`.
    attempts: [OnceLock<Counter>; Strategy::ALL.len()],
    /// `dualrpc_call_duration_seconds{strategy}`.
    duration: [OnceLock<Histogram>; Strategy::ALL.len()],
    /// `dualrpc_coalesced_total{method}`.
    coalesced: Box<[OnceLock<Counter>]>,
}

impl Default for CallMetrics {
    fn default() -> Self {
        let methods = crate::catalog::all().len() + 1;
        let cells = |n: usize| (0..n).map(|_| OnceLock::new()).collect();
        Self {
            calls: cells(methods * Strategy::ALL.len() * CALL_RESULTS.len()),
            attempts: std::array::from_fn(|_| OnceLock::new()),
            duration: std::array::from_fn(|_| OnceLock::new()),
            coalesced: cells(methods),
        }
    }
}

impl CallMetrics {
    fn calls_index(method: usize, strategy: usize, result: usize) -> usize {
        (method * Strategy::ALL.len() + strategy) * CALL_RESULTS.len() + result
    }

    /// A call of `method` finished with `result` (a label of [`CALL_RESULTS`]).
    pub(crate) fn call(
        &self,
        method: &'static MethodInfo,
        strategy: Strategy,
        result: &'static str,
        attempts: u32,
        latency: Duration,
    ) {
        let m = crate::catalog::index(method);
        let s = strategy.index();
        // An unknown label is a bug caught by the tests; it is counted as `all_failed`
        // rather than lost.
        let r = CALL_RESULTS.iter().position(|l| *l == result).unwrap_or(4);
        let strategy = strategy.as_str();
        self.calls[Self::calls_index(m, s, r)]
            .get_or_init(|| {
                counter!("dualrpc_calls_total", "method" => method.label, "strategy" => strategy, "result" => CALL_RESULTS[r])
            })
            .increment(1);
        self.attempts[s]
            .get_or_init(|| counter!("dualrpc_call_attempts_total", "strategy" => strategy))
            .increment(u64::from(attempts));
        self.duration[s]
            .get_or_init(|| histogram!("dualrpc_call_duration_seconds", "strategy" => strategy))
            .record(latency.as_secs_f64());
    }

    /// A call was answered from an identical call already in flight.
    pub(crate) fn coalesced(&self, method: &'static MethodInfo) {
        self.coalesced[crate::catalog::index(method)]
            .get_or_init(|| counter!("dualrpc_coalesced_total", "method" => method.label))
            .increment(1);
    }
}

/// A hedge was fired (`true`) or refused by the hedge budget (`false`).
pub(crate) fn hedge(fired: bool) {
    counter!("dualrpc_hedges_total", "result" => if fired { "fired" } else { "denied" })
        .increment(1);
}

/// The metric label of `method`: its name if the catalogue knows it, else `other`.
pub fn method_label(method: &str) -> &'static str {
    crate::catalog::lookup(method).label
}

/// A copy of a subscription notification was judged: `forwarded` (the first), `duplicate`,
/// `older` (behind one already forwarded for that account), `malformed`, `implausible`
/// (a slot beyond the pool's ceiling, [`crate::stats::SlotCeiling`]) or `foreign` (from an
/// endpoint on another cluster).
pub(crate) fn notification(result: &'static str) {
    counter!("dualrpc_notifications_total", "result" => result).increment(1);
}

/// An upstream's PubSub connection ended and will be reconnected.
pub(crate) fn ws_reconnect(endpoint: &str) {
    counter!("dualrpc_upstream_ws_reconnects_total", "endpoint" => endpoint.to_string())
        .increment(1);
}

/// Distinct subscriptions open upstream, and client subscriptions on them.
pub(crate) fn subscriptions(distinct: usize, clients: usize) {
    gauge!("dualrpc_subscriptions_active").set(distinct as f64);
    gauge!("dualrpc_subscription_client_subscriptions").set(clients as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{CallError, ErrorReason};

    #[test]
    fn every_call_result_has_its_own_counter() {
        let reasons = [
            ErrorReason::AllFailed { failures: vec![] },
            ErrorReason::Deadline { failures: vec![] },
            ErrorReason::NoEndpoint,
            ErrorReason::OverBudget,
            ErrorReason::InvalidRequest("x".into()),
            ErrorReason::NoQuorum {
                quorum: 2,
                votes: vec![],
                failures: vec![],
            },
        ];
        for reason in reasons {
            let err = CallError {
                reason,
                strategy: Strategy::Race,
                attempts: 0,
                latency: Duration::ZERO,
            };
            assert!(CALL_RESULTS.contains(&err.label()), "{}", err.label());
        }
        for (i, s) in Strategy::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        let catalogue = crate::catalog::all();
        for (i, m) in catalogue.iter().enumerate() {
            assert_eq!(crate::catalog::index(m), i);
        }
        assert_eq!(
            crate::catalog::index(&crate::catalog::UNKNOWN),
            catalogue.len()
        );
        let metrics = CallMetrics::default();
        // Every combination has a cell (no index out of bounds).
        for m in catalogue.iter().chain([&crate::catalog::UNKNOWN]) {
            for s in Strategy::ALL {
                for r in CALL_RESULTS {
                    metrics.call(m, s, r, 1, Duration::from_millis(1));
                }
            }
            metrics.coalesced(m);
        }
    }
}
