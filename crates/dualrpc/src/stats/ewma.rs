//! Peak-EWMA latency: an exponentially weighted moving average that jumps up to a slower
//! observation at once and decays back over time.
//!
//! The cost model is Finagle's `PeakEwma` (also tower's `load::PeakEwma` and
//! linkerd2-proxy's balancer): reacting instantly to a slow answer moves traffic away from
//! a degrading endpoint before its average catches up, while the time-based decay (not a
//! per-sample weight) makes the estimate independent of request rate. Time is passed in,
//! so the arithmetic is tested without sleeping.

use std::time::Duration;

use crate::clock::Instant;

/// A peak-sensitive, time-decayed latency estimate in milliseconds.
#[derive(Debug, Clone)]
pub struct PeakEwma {
    /// Current estimate (ms); `None` until the first observation.
    value: Option<f64>,
    /// When `value` was last updated: the decay weight depends on the gap.
    stamp: Instant,
    /// Decay time constant: after `tau`, an old estimate weighs 1/e.
    tau: Duration,
}

impl PeakEwma {
    /// A fresh estimate with decay constant `tau`.
    pub fn new(now: Instant, tau: Duration) -> Self {
        Self {
            value: None,
            stamp: now,
            tau,
        }
    }

    /// Folds in one latency observation taken at `now`.
    pub fn observe(&mut self, now: Instant, rtt: Duration) {
        let rtt = rtt.as_secs_f64() * 1_000.0;
        self.value = Some(match self.value {
            None => rtt,
            // A slower answer replaces the estimate outright: that is the "peak".
            Some(v) if rtt > v => rtt,
            Some(v) => {
                let w = self.weight(now);
                v * w + rtt * (1.0 - w)
            }
        });
        self.stamp = self.stamp.max(now);
    }

    /// The estimate, or `None` before any observation.
    pub fn get(&self) -> Option<f64> {
        self.value
    }

    fn weight(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.stamp).as_secs_f64();
        (-elapsed / self.tau.as_secs_f64()).exp()
    }
}

/// Success ratio over roughly the last `1/alpha` attempts.
#[derive(Debug, Clone)]
pub struct SuccessEwma {
    /// Current ratio, starting optimistic at 1.0 so new endpoints get traffic.
    value: f64,
    /// Weight of one new observation.
    alpha: f64,
}

impl SuccessEwma {
    /// A ratio starting at 1.0 with per-observation weight `alpha`.
    pub fn new(alpha: f64) -> Self {
        Self { value: 1.0, alpha }
    }

    /// Folds in one attempt's result.
    pub fn observe(&mut self, ok: bool) {
        let x = if ok { 1.0 } else { 0.0 };
        self.value += self.alpha * (x - self.value);
    }

    /// Ratio in 0..=1.
    pub fn get(&self) -> f64 {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn peak_is_taken_at_once_and_decays_with_time() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(t0, Duration::from_secs(1));
        assert_eq!(e.get(), None);
        e.observe(t0, 10 * MS);
        assert!((e.get().unwrap() - 10.0).abs() < 1e-9);
        e.observe(t0 + 10 * MS, 100 * MS);
        assert!(
            (e.get().unwrap() - 100.0).abs() < 1e-9,
            "a slower answer is adopted at once"
        );
        // One tau later a 10 ms answer pulls the estimate most of the way down.
        e.observe(t0 + 1010 * MS, 10 * MS);
        let v = e.get().unwrap();
        let want = 100.0 * (-1.0f64).exp() + 10.0 * (1.0 - (-1.0f64).exp());
        assert!((v - want).abs() < 1e-6, "{v} vs {want}");
        // Many fast answers after a long gap converge to the fast latency.
        for i in 0..10 {
            e.observe(t0 + Duration::from_secs(5 + i), 10 * MS);
        }
        assert!(e.get().unwrap() < 10.1);
    }

    #[test]
    fn success_ratio_moves_toward_outcomes() {
        let mut s = SuccessEwma::new(0.1);
        assert_eq!(s.get(), 1.0);
        for _ in 0..50 {
            s.observe(false);
        }
        assert!(s.get() < 0.01);
        for _ in 0..50 {
            s.observe(true);
        }
        assert!(s.get() > 0.99);
    }
}
