//! The per-endpoint upstream budget: a token bucket refilled at the provider's rate limit.
//!
//! The gateway must never send a provider more than its plan allows, and strategies that
//! fan out need to know how much room is left so they can shrink before the provider
//! starts answering 429. A token bucket gives both: `try_take` enforces the limit, and
//! `headroom` tells whether spending on an *extra* attempt (a race's second endpoint, a
//! hedge) would eat into the reserve kept for first attempts. `governor` was the other
//! candidate, but it cannot report the remaining budget without consuming it, which is
//! exactly what adaptive fan-out needs. Time is passed in, so tests need no sleeping.

use std::time::Duration;

use crate::clock::Instant;

/// Share of the burst kept for first attempts: extra attempts are only sent while more
/// than this is left, so under load fan-out shrinks before any call is refused.
const RESERVE: f64 = 0.5;

/// A token bucket of `burst` tokens refilled at `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens per second.
    rate: f64,
    /// Capacity.
    burst: f64,
    /// Tokens now (as of `stamp`).
    tokens: f64,
    /// When `tokens` was computed.
    stamp: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(now: Instant, rate: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        Self {
            rate: rate.max(0.001),
            burst,
            tokens: burst,
            stamp: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.stamp).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.stamp = self.stamp.max(now);
    }

    /// Takes `cost` tokens if they are there.
    pub fn try_take(&mut self, now: Instant, cost: f64) -> bool {
        self.refill(now);
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Gives back tokens taken for an attempt that was not sent after all.
    pub fn refund(&mut self, cost: f64) {
        self.tokens = (self.tokens + cost).min(self.burst);
    }

    /// Whether `cost` can be spent on an extra attempt without dipping into the reserve.
    pub fn headroom(&mut self, now: Instant, cost: f64) -> bool {
        self.refill(now);
        self.tokens - cost >= self.burst * RESERVE
    }

    /// How long until `cost` tokens are available.
    pub fn wait_for(&mut self, now: Instant, cost: f64) -> Duration {
        self.refill(now);
        if self.tokens >= cost {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((cost - self.tokens) / self.rate)
        }
    }

    /// Tokens available now.
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// The configured rate (tokens per second).
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn never_more_than_rate_times_time_plus_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 100.0, 10.0);
        let mut sent = 0;
        // Try every millisecond for 2 s.
        for i in 0..2000 {
            while b.try_take(t0 + MS * i, 1.0) {
                sent += 1;
            }
        }
        assert!((200..=211).contains(&sent), "{sent}");
    }

    #[test]
    fn headroom_keeps_a_reserve_for_first_attempts() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 10.0, 10.0);
        assert!(b.headroom(t0, 1.0));
        for _ in 0..5 {
            assert!(b.try_take(t0, 1.0));
        }
        assert!(!b.headroom(t0, 1.0), "half the burst is the reserve");
        assert!(
            b.try_take(t0, 1.0),
            "first attempts may still use the reserve"
        );
        assert_eq!(b.wait_for(t0, 5.0), Duration::from_millis(100));
        b.refund(1.0);
        assert_eq!(b.available(t0), 5.0);
    }

    #[test]
    fn weights_cost_more() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 10.0, 4.0);
        assert!(b.try_take(t0, 3.0));
        assert!(!b.try_take(t0, 3.0));
        assert!(b.try_take(t0 + MS * 200, 3.0));
    }
}
