//! What `/status` shows of an endpoint: a point-in-time copy of its stats, by name.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::{CircuitState, EndpointStats};
use crate::clock::Instant;
use crate::outcome::FailureKind;

/// Counts of attempt outcomes since start.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutcomeCounts {
    /// Usable results.
    pub success: u64,
    /// Results with missing (null) parts.
    pub empty: u64,
    /// Deterministic JSON-RPC errors (the request's fault, not the endpoint's).
    pub deterministic_error: u64,
    /// Failures by kind label.
    pub failures: std::collections::BTreeMap<&'static str, u64>,
    /// Calls this endpoint's answer won.
    pub wins: u64,
}

/// A point-in-time view of one endpoint, as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointSnapshot {
    /// Endpoint name.
    pub name: String,
    /// `primary`, `secondary` or `none`.
    pub role: crate::config::Role,
    /// `closed`, `open` or `half_open`.
    pub circuit: &'static str,
    /// Attempts under way.
    pub in_flight: u32,
    /// Peak-EWMA latency (ms), if measured.
    pub latency_ewma_ms: Option<f64>,
    /// Windowed median latency (ms).
    pub latency_p50_ms: Option<f64>,
    /// Windowed 90th percentile (ms).
    pub latency_p90_ms: Option<f64>,
    /// Windowed 99th percentile (ms).
    pub latency_p99_ms: Option<f64>,
    /// Success-ratio EWMA (0–1).
    pub success_ratio: f64,
    /// Outcome counts.
    pub counts: OutcomeCounts,
    /// Last slot the health loop saw.
    pub slot: Option<u64>,
    /// Whether it trails the best endpoint by more than `max_slot_lag`.
    pub lagging: bool,
    /// Whether its genesis hash says it is on another cluster than the pool's other
    /// endpoints (then it is never asked).
    pub foreign_cluster: bool,
    /// Selection score (lower is better).
    pub score: f64,
    /// Rate-limit budget, if the endpoint has one.
    pub budget: Option<BudgetSnapshot>,
}

/// An endpoint's rate-limit budget at a point in time.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetSnapshot {
    /// Configured calls per second.
    pub rps: f64,
    /// Tokens available now.
    pub available: f64,
}

impl EndpointStats {
    /// A snapshot for `/status`.
    pub(crate) fn snapshot(
        &self,
        now: Instant,
        name: &str,
        role: crate::config::Role,
    ) -> EndpointSnapshot {
        let score = self.score("");
        let mut t = self.tracked.lock();
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
        let p50 = ms(t.overall.hist.quantile(now, 0.5));
        let p90 = ms(t.overall.hist.quantile(now, 0.9));
        let p99 = ms(t.overall.hist.quantile(now, 0.99));
        let circuit = match t.breaker.state() {
            CircuitState::Closed { .. } => "closed",
            CircuitState::Open { .. } => "open",
            CircuitState::HalfOpen { .. } => "half_open",
        };
        EndpointSnapshot {
            name: name.to_string(),
            role,
            circuit,
            in_flight: self.in_flight(),
            latency_ewma_ms: t.overall.ewma.get(),
            latency_p50_ms: p50,
            latency_p90_ms: p90,
            latency_p99_ms: p99,
            success_ratio: t.success.get(),
            counts: OutcomeCounts {
                success: t.success_count,
                empty: t.empty_count,
                deterministic_error: t.deterministic_count,
                failures: FailureKind::ALL
                    .iter()
                    .map(|k| (k.as_str(), t.failures[k.index()]))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
                wins: self.wins.load(Ordering::Relaxed),
            },
            slot: t.slot,
            lagging: t.lagging,
            foreign_cluster: self.foreign(),
            score,
            budget: t.bucket.as_mut().map(|b| BudgetSnapshot {
                rps: b.rate(),
                available: b.available(now),
            }),
        }
    }
}
