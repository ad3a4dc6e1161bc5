//! What a benchmark run measured: one [`ArmResult`] per arm (the single-endpoint baseline,
//! each strategy through the gateway, nginx, the oracle), each with its [`Detection`].
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
        quantile_ms(&self.latencies_us, q)
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
    /// Time to detect a launch (`None` where not measured).
    pub detection: Option<Detection>,
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

/// Time to detect a launch, for one arm: from a launch's creation on the sim chain to the bot
/// validating its mint, next to the detection oracle on the same polling schedule (see the
/// `detection` module).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    /// The arm's polling interval: how much later than the oracle a launch may be detected
    /// before it counts as seen late.
    pub poll_interval: Duration,
    /// Launches created during the measured period, less those of its last `grace`.
    pub launches: u64,
    /// How long before the end of the run a launch had to be created to count.
    pub grace: Duration,
    /// Detection delay of every detected launch (µs), sorted.
    pub delays_us: Vec<u64>,
    /// Launches never detected (their mint never validated).
    pub missed: u64,
    /// Launches detected more than one poll interval after the oracle detected them.
    pub late: u64,
    /// The oracle's detection delay (µs), sorted, for the launches it detected.
    pub oracle_delays_us: Vec<u64>,
    /// Launches the oracle did not detect before the polls ended.
    pub oracle_missed: u64,
}

impl Detection {
    /// The `q`-quantile of the detection delay in ms, over detected launches.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.delays_us, q)
    }

    /// The `q`-quantile of the oracle's detection delay in ms, for the same launches.
    pub fn oracle_quantile_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.oracle_delays_us, q)
    }

    /// Median detection delay minus the oracle's, in ms (positive: the arm is slower).
    pub fn median_gap_ms(&self) -> Option<f64> {
        Some(self.quantile_ms(0.5)? - self.oracle_quantile_ms(0.5)?)
    }

    /// The same launches as the oracle detected them: what the oracle's own row shows.
    pub fn oracle_view(&self) -> Detection {
        Detection {
            poll_interval: self.poll_interval,
            launches: self.launches,
            grace: self.grace,
            delays_us: self.oracle_delays_us.clone(),
            missed: self.oracle_missed,
            late: 0,
            oracle_delays_us: self.oracle_delays_us.clone(),
            oracle_missed: self.oracle_missed,
        }
    }
}

/// Nearest-rank quantile in ms of sorted µs values.
pub(crate) fn quantile_ms(sorted_us: &[u64], q: f64) -> Option<f64> {
    let n = sorted_us.len();
    if n == 0 {
        return None;
    }
    let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    Some(sorted_us[i] as f64 / 1e3)
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
