//! How long a simulated endpoint takes to answer: a per-endpoint [`LatencyModel`] (lognormal
//! body, heavy tail, rare stalls) and a cluster-wide [`CorrelatedSlowdown`] that slows every
//! endpoint at once.
//!
//! Both are pure functions of their inputs (an RNG, or the elapsed time and seed), so the
//! benchmark can draw from exactly the same distributions to compute an "oracle" — the best
//! latency any routing policy could have achieved — without talking to the servers.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal};

use crate::codec::SeedStream;

/// Latency distribution of one endpoint.
///
/// Each call takes exactly one of three shapes, chosen with one uniform draw:
/// * with probability `p_stall`, a **stall** of `stall_ms_min..stall_ms_max` (GC pause, overloaded
///   node, a TCP retransmit — the calls that blow a p99.9);
/// * otherwise with probability `p_tail`, a **tail** call of `tail_mult_min..tail_mult_max` × the
///   median (queueing behind a heavy request);
/// * otherwise the **body**: lognormal with the given median and shape `sigma` (the σ of the
///   underlying normal; 0.35–0.5 is typical of a good provider, ≈0.9 of an erratic one).
///
/// A `median_ms` of 0 means "answer immediately" (used to measure gateway overhead).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyModel {
    /// Median of the lognormal body, in milliseconds.
    pub median_ms: f64,
    /// Shape of the lognormal body (σ of ln(latency)).
    pub sigma: f64,
    /// Probability that a call is a tail call.
    pub p_tail: f64,
    /// Lower bound of a tail call, as a multiple of the median.
    pub tail_mult_min: f64,
    /// Upper bound of a tail call, as a multiple of the median.
    pub tail_mult_max: f64,
    /// Probability that a call stalls.
    pub p_stall: f64,
    /// Shortest stall, in milliseconds.
    pub stall_ms_min: f64,
    /// Longest stall, in milliseconds.
    pub stall_ms_max: f64,
}

/// Which branch of the [`LatencyModel`] produced a sample (for statistics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatencyKind {
    /// The lognormal body.
    Body,
    /// A heavy-tail call (a multiple of the median).
    Tail,
    /// A stall.
    Stall,
}

/// One draw from a [`LatencyModel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySample {
    /// How long the call takes.
    pub duration: Duration,
    /// Which branch produced it.
    pub kind: LatencyKind,
}

impl LatencyModel {
    /// No latency at all.
    pub const ZERO: LatencyModel = LatencyModel {
        median_ms: 0.0,
        sigma: 0.0,
        p_tail: 0.0,
        tail_mult_min: 1.0,
        tail_mult_max: 1.0,
        p_stall: 0.0,
        stall_ms_min: 0.0,
        stall_ms_max: 0.0,
    };

    /// A pure lognormal body with no tail and no stalls.
    pub fn lognormal(median_ms: f64, sigma: f64) -> LatencyModel {
        LatencyModel {
            median_ms,
            sigma,
            ..LatencyModel::ZERO
        }
    }

    /// Adds a heavy tail: probability `p` of `min..max` × the median.
    pub fn with_tail(self, p: f64, min_mult: f64, max_mult: f64) -> LatencyModel {
        LatencyModel {
            p_tail: p,
            tail_mult_min: min_mult,
            tail_mult_max: max_mult,
            ..self
        }
    }

    /// Adds stalls: probability `p` of `min_ms..max_ms`.
    pub fn with_stalls(self, p: f64, min_ms: f64, max_ms: f64) -> LatencyModel {
        LatencyModel {
            p_stall: p,
            stall_ms_min: min_ms,
            stall_ms_max: max_ms,
            ..self
        }
    }

    /// Draws one call's latency.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        self.sample_detailed(rng).duration
    }

    /// Draws one call's latency and says which branch produced it.
    pub fn sample_detailed(&self, rng: &mut impl Rng) -> LatencySample {
        let u: f64 = rng.random();
        if u < self.p_stall {
            let ms = uniform(rng, self.stall_ms_min, self.stall_ms_max);
            return LatencySample {
                duration: from_ms(ms),
                kind: LatencyKind::Stall,
            };
        }
        if u < self.p_stall + self.p_tail {
            let ms = self.median_ms * uniform(rng, self.tail_mult_min, self.tail_mult_max);
            return LatencySample {
                duration: from_ms(ms),
                kind: LatencyKind::Tail,
            };
        }
        let ms = if self.median_ms <= 0.0 {
            0.0
        } else if self.sigma <= 0.0 {
            self.median_ms
        } else {
            // Parameters are validated by construction of the numbers above; a NaN/negative
            // sigma falls back to the median rather than panicking in a server task.
            match LogNormal::new(self.median_ms.ln(), self.sigma) {
                Ok(dist) => dist.sample(rng),
                Err(_) => self.median_ms,
            }
        };
        LatencySample {
            duration: from_ms(ms),
            kind: LatencyKind::Body,
        }
    }

    /// Mean of the lognormal body alone: `median · exp(σ²/2)`.
    pub fn body_mean_ms(&self) -> f64 {
        self.median_ms * (self.sigma * self.sigma / 2.0).exp()
    }

    /// Mean latency over all three branches.
    pub fn mean_ms(&self) -> f64 {
        let p_body = (1.0 - self.p_tail - self.p_stall).max(0.0);
        p_body * self.body_mean_ms()
            + self.p_tail * self.median_ms * (self.tail_mult_min + self.tail_mult_max) / 2.0
            + self.p_stall * (self.stall_ms_min + self.stall_ms_max) / 2.0
    }
}

fn uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        lo + (hi - lo) * rng.random::<f64>()
    } else {
        lo
    }
}

fn from_ms(ms: f64) -> Duration {
    if ms.is_finite() && ms > 0.0 {
        Duration::from_secs_f64(ms / 1000.0)
    } else {
        Duration::ZERO
    }
}

/// A cluster-wide slowdown that hits **all** endpoints at the same time — the thing a gateway
/// cannot route around (network-wide congestion during a hyped launch, a leader that is slow to
/// produce, a shared upstream like a cloud region having a bad minute).
///
/// Time is cut into periods of `every`; in each period one window of `duration` starts at an
/// offset drawn from `(seed, period index)`, and while it lasts every sampled latency is
/// multiplied by `factor`. Deterministic from the seed and the time since the cluster started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrelatedSlowdown {
    /// Average spacing between slowdowns.
    pub every: Duration,
    /// How long each slowdown lasts.
    pub duration: Duration,
    /// Latency multiplier while it lasts.
    pub factor: f64,
}

impl CorrelatedSlowdown {
    /// The latency multiplier in force `elapsed` after the cluster started (1.0 outside windows).
    pub fn factor_at(&self, seed: u64, elapsed: Duration) -> f64 {
        let every = self.every.as_nanos();
        let duration = self.duration.as_nanos();
        if every == 0 || duration == 0 {
            return 1.0;
        }
        let t = elapsed.as_nanos();
        let period = t / every;
        let slack = every.saturating_sub(duration);
        let offset = if slack == 0 {
            0
        } else {
            let r = SeedStream::new(&[seed, 0x510D_0017, period as u64]).next_u64();
            u128::from(r) % slack
        };
        let into = t - period * every;
        if into >= offset && into < offset + duration {
            self.factor
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[((sorted.len() - 1) as f64 * q) as usize]
    }

    #[test]
    fn statistics_match_parameters() {
        let model = LatencyModel::lognormal(50.0, 0.4)
            .with_tail(0.03, 3.0, 5.0)
            .with_stalls(0.005, 500.0, 2000.0);
        let mut rng = StdRng::seed_from_u64(7);
        let n = 200_000;
        let mut body = Vec::new();
        let (mut tails, mut stalls) = (0, 0);
        let mut total = 0.0;
        for _ in 0..n {
            let s = model.sample_detailed(&mut rng);
            let ms = s.duration.as_secs_f64() * 1000.0;
            total += ms;
            match s.kind {
                LatencyKind::Body => body.push(ms),
                LatencyKind::Tail => {
                    tails += 1;
                    assert!((150.0..=250.0).contains(&ms), "tail {ms}");
                }
                LatencyKind::Stall => {
                    stalls += 1;
                    assert!((500.0..=2000.0).contains(&ms), "stall {ms}");
                }
            }
        }
        body.sort_by(f64::total_cmp);
        let median = quantile(&body, 0.5);
        assert!((median - 50.0).abs() < 1.0, "body median {median}");
        // ln(p84/p50) ≈ σ for a lognormal.
        let sigma = (quantile(&body, 0.8413) / median).ln();
        assert!((sigma - 0.4).abs() < 0.02, "sigma {sigma}");
        let tail_share = tails as f64 / n as f64;
        let stall_share = stalls as f64 / n as f64;
        assert!((tail_share - 0.03).abs() < 0.003, "tail share {tail_share}");
        assert!(
            (stall_share - 0.005).abs() < 0.001,
            "stall share {stall_share}"
        );
        let mean = total / n as f64;
        assert!(
            (mean - model.mean_ms()).abs() / model.mean_ms() < 0.03,
            "mean {mean} vs {}",
            model.mean_ms()
        );
    }

    #[test]
    fn same_seed_same_samples() {
        let model = LatencyModel::lognormal(40.0, 0.5).with_tail(0.05, 3.0, 5.0);
        let a: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(3);
            (0..100).map(|_| model.sample(&mut rng)).collect()
        };
        let b: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(3);
            (0..100).map(|_| model.sample(&mut rng)).collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn zero_model_is_zero() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            assert_eq!(LatencyModel::ZERO.sample(&mut rng), Duration::ZERO);
        }
        assert_eq!(LatencyModel::ZERO.mean_ms(), 0.0);
    }

    #[test]
    fn slowdown_covers_the_configured_share_of_time() {
        let s = CorrelatedSlowdown {
            every: Duration::from_secs(30),
            duration: Duration::from_secs(3),
            factor: 3.0,
        };
        let step = Duration::from_millis(10);
        let steps = 300_000; // 50 minutes
        let slowed = (0..steps)
            .filter(|i| s.factor_at(9, step * *i) > 1.0)
            .count();
        let share = slowed as f64 / steps as f64;
        assert!((share - 0.1).abs() < 0.002, "share {share}");
        // Deterministic from the seed, different across seeds.
        let pattern = |seed| {
            (0..3000)
                .map(|i| s.factor_at(seed, Duration::from_millis(100) * i))
                .collect::<Vec<_>>()
        };
        assert_eq!(pattern(1), pattern(1));
        assert_ne!(pattern(1), pattern(2));
    }
}
