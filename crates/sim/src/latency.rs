//! How long a simulated endpoint takes to answer: a per-endpoint [`LatencyModel`] (lognormal
//! body, heavy tail, rare stalls) and a cluster-wide [`CorrelatedSlowdown`] that slows every
//! endpoint at once.
//!
//! Both are pure functions of their inputs (an RNG, or the elapsed time and seed), so the
//! benchmark can draw from exactly the same distributions to compute an "oracle" — the best
//! latency any routing policy could have achieved — without talking to the servers.
//!
//! A [`LatencyModel`] also describes an endpoint's **indexing delay** (how long after a slot
//! reaches it a node shows a transaction of that slot; see `EndpointSpec::indexing_delay`),
//! usually built with [`LatencyModel::lognormal_p99`]. Those draws use the crate's seeded
//! stream instead of `rand`, so they are bit-for-bit stable for a seed.

mod slowdown;

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal};

pub use self::slowdown::CorrelatedSlowdown;
use crate::codec::SeedStream;

/// The standard normal's 99th percentile: `p99 = median · exp(σ · Z99)` for a lognormal.
const Z99: f64 = 2.326_347_874_040_841;

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

    /// A pure lognormal given by its median and 99th percentile, in milliseconds:
    /// `σ = ln(p99 / median) / 2.326`. A `p99_ms` at or below the median gives σ = 0 (always
    /// the median); a median of 0 gives [`LatencyModel::ZERO`].
    pub fn lognormal_p99(median_ms: f64, p99_ms: f64) -> LatencyModel {
        if median_ms.is_nan() || median_ms <= 0.0 {
            return LatencyModel::ZERO;
        }
        let sigma = if p99_ms > median_ms {
            (p99_ms / median_ms).ln() / Z99
        } else {
            0.0
        };
        LatencyModel::lognormal(median_ms, sigma)
    }

    /// 99th percentile of the lognormal body alone: `median · exp(2.326 σ)`.
    pub fn body_p99_ms(&self) -> f64 {
        self.median_ms * (Z99 * self.sigma).exp()
    }

    /// Whether every draw is zero.
    pub fn is_zero(&self) -> bool {
        let never = |p: f64| p.is_nan() || p <= 0.0;
        self.median_ms <= 0.0
            && (never(self.p_tail) || self.tail_mult_max <= 0.0)
            && (never(self.p_stall) || self.stall_ms_max <= 0.0)
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

    /// Draws one value from a seeded stream, with the same three branches as
    /// [`LatencyModel::sample_detailed`] (body by Box–Muller). Used for indexing delays, which
    /// must be a pure, dependency-independent function of their key.
    pub(crate) fn sample_seeded(&self, s: &mut SeedStream) -> Duration {
        let mut between = |lo: f64, hi: f64| {
            let u = s.next_f64();
            if hi > lo { lo + (hi - lo) * u } else { lo }
        };
        let u = between(0.0, 1.0);
        if u < self.p_stall {
            return from_ms(between(self.stall_ms_min, self.stall_ms_max));
        }
        if u < self.p_stall + self.p_tail {
            return from_ms(self.median_ms * between(self.tail_mult_min, self.tail_mult_max));
        }
        if self.median_ms <= 0.0 {
            return Duration::ZERO;
        }
        if self.sigma.is_nan() || self.sigma <= 0.0 {
            return from_ms(self.median_ms);
        }
        let u1 = between(0.0, 1.0).max(f64::MIN_POSITIVE);
        let u2 = between(0.0, 1.0);
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        from_ms(self.median_ms * (self.sigma * z).exp())
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
    fn seeded_draws_match_median_and_p99() {
        let model = LatencyModel::lognormal_p99(60.0, 400.0);
        assert!((model.body_p99_ms() - 400.0).abs() < 1e-9);
        let mut s = SeedStream::new(&[11]);
        let mut ms: Vec<f64> = (0..100_000)
            .map(|_| model.sample_seeded(&mut s).as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let (median, p99) = (quantile(&ms, 0.5), quantile(&ms, 0.99));
        assert!((median - 60.0).abs() < 1.5, "median {median}");
        assert!((p99 - 400.0).abs() < 25.0, "p99 {p99}");
        // Tail and stall branches too.
        let heavy = LatencyModel::lognormal(10.0, 0.0)
            .with_tail(0.2, 3.0, 5.0)
            .with_stalls(0.1, 500.0, 600.0);
        let mut s = SeedStream::new(&[12]);
        let n = 50_000;
        let draws: Vec<f64> = (0..n)
            .map(|_| heavy.sample_seeded(&mut s).as_secs_f64() * 1000.0)
            .collect();
        let share = |lo: f64, hi: f64| {
            draws.iter().filter(|d| (lo..=hi).contains(*d)).count() as f64 / n as f64
        };
        assert!((share(10.0, 10.0) - 0.7).abs() < 0.01);
        assert!((share(30.0, 50.0) - 0.2).abs() < 0.01);
        assert!((share(500.0, 600.0) - 0.1).abs() < 0.01);
        // Degenerate inputs.
        assert!(LatencyModel::lognormal_p99(0.0, 100.0).is_zero());
        assert_eq!(LatencyModel::lognormal_p99(50.0, 20.0).sigma, 0.0);
        assert!(LatencyModel::ZERO.is_zero());
        assert!(!model.is_zero());
        let mut s = SeedStream::new(&[13]);
        assert_eq!(LatencyModel::ZERO.sample_seeded(&mut s), Duration::ZERO);
    }

    #[test]
    fn zero_model_is_zero() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            assert_eq!(LatencyModel::ZERO.sample(&mut rng), Duration::ZERO);
        }
        assert_eq!(LatencyModel::ZERO.mean_ms(), 0.0);
    }
}
