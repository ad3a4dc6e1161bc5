//! What a benchmark run measured: one [`ArmResult`] per arm (the single-endpoint baseline,
//! each strategy through the gateway, nginx, the oracle).
//! Plain data, shared by the demo's table, the Markdown report and the plots.

use std::time::Duration;

use hdrhistogram::Histogram;

/// What an arm is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmKind {
    /// Direct calls to one endpoint, no gateway: what a bot has without dualrpc.
    Baseline,
    /// The dualrpc gateway running this strategy for every call.
    Strategy(dualrpc::Strategy),
    /// nginx as a failover reverse proxy (`proxy_next_upstream`) over the same endpoints.
    Nginx,
    /// A perfect chooser of the fastest endpoint, computed from the latency models.
    Oracle,
}

/// Counts for one JSON-RPC method within an arm.
#[derive(Debug, Clone, Default)]
pub struct MethodCounts {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered with a usable result.
    pub ok: u64,
    /// Requests answered with an empty/stale result (`null` where the chain has the data).
    pub stale: u64,
    /// Sum of request latencies (µs), for the mean.
    pub latency_sum_us: u64,
    /// Request latencies (µs), sorted when the run ends, for percentiles.
    pub latencies_us: Vec<u64>,
}

impl MethodCounts {
    /// Mean latency in ms, if any request was sent.
    pub fn mean_ms(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.latency_sum_us as f64 / self.requests as f64 / 1e3)
    }

    /// The `q`-quantile of latency in ms (`latencies_us` must be sorted).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        Some(self.latencies_us[i] as f64 / 1e3)
    }
}

/// Everything measured for one arm.
#[derive(Debug, Clone)]
pub struct ArmResult {
    /// Display name, e.g. `single (alpha)`, `race`, `nginx`, `oracle`.
    pub name: String,
    /// What the arm is.
    pub kind: ArmKind,
    /// Latency of every completed request (µs), successful or not.
    pub latency_us: Histogram<u64>,
    /// Client requests sent.
    pub requests: u64,
    /// Requests answered with a usable result (a JSON-RPC `result`, not stale).
    pub ok: u64,
    /// Requests that failed (transport error, HTTP error, JSON-RPC error, timeout).
    pub failed: u64,
    /// Requests answered with an empty or stale result although the chain had the data.
    pub stale: u64,
    /// Per-method breakdown, by method name.
    pub by_method: Vec<(String, MethodCounts)>,
    /// Upstream calls this arm caused, per endpoint name (empty for the oracle).
    pub upstream_calls: Vec<(String, u64)>,
    /// Wall-clock length of the measured period.
    pub elapsed: Duration,
}

impl ArmResult {
    /// Success rate in 0..=1 (usable answers ÷ requests).
    pub fn success_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.ok as f64 / self.requests as f64
        }
    }

    /// Upstream calls per client request.
    pub fn calls_per_request(&self) -> f64 {
        let calls: u64 = self.upstream_calls.iter().map(|(_, n)| n).sum();
        if self.requests == 0 {
            0.0
        } else {
            calls as f64 / self.requests as f64
        }
    }

    /// Share of client requests that reached endpoint `i` (1.0 = every request used it).
    pub fn utilisation(&self) -> Vec<(String, f64)> {
        self.upstream_calls
            .iter()
            .map(|(n, c)| {
                (
                    n.clone(),
                    if self.requests == 0 {
                        0.0
                    } else {
                        *c as f64 / self.requests as f64
                    },
                )
            })
            .collect()
    }

    /// Latency quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1e3
    }

    /// Mean latency in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        self.latency_us.mean() / 1e3
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct BenchRun {
    /// Scenario (sim profile) name.
    pub scenario: String,
    /// Its one-paragraph description.
    pub scenario_description: String,
    /// RNG seed of the sim.
    pub seed: u64,
    /// Measured period per arm.
    pub duration: Duration,
    /// Endpoint names, in profile order.
    pub endpoints: Vec<String>,
    /// The arms, baseline first.
    pub arms: Vec<ArmResult>,
    /// The exact command that produced this run.
    pub command: String,
    /// Machine description (CPU, cores, OS) and date.
    pub machine: String,
}
