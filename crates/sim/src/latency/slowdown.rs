//! [`CorrelatedSlowdown`]: the cluster-wide slowdown that multiplies every endpoint's latency
//! at once, a pure function of the seed and the time since the cluster started.

use std::time::Duration;

use crate::codec::SeedStream;

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
