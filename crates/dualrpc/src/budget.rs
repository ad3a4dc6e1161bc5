//! The hedge budget: hedged attempts as a bounded share of calls.
//!
//! A token bucket in the manner of Finagle's `RetryBudget`: each call deposits `ratio`
//! tokens (up to a cap that allows short bursts), each delay-triggered hedge withdraws one.
//! Under normal load hedges flow freely; when every endpoint slows down at once, hedging
//! cannot multiply upstream load beyond `1 + ratio` — the situation where unbounded
//! hedging turns a slowdown into an outage.

use parking_lot::Mutex;
use serde::Serialize;

/// Tokens the bucket can hold at least, so that a fresh pool can hedge its first calls.
const MIN_CAP: f64 = 10.0;

#[derive(Debug)]
struct Bucket {
    balance: f64,
    calls: u64,
    hedges: u64,
    denied: u64,
}

/// Pool-wide hedge budget.
#[derive(Debug)]
pub(crate) struct HedgeBudget {
    ratio: f64,
    cap: f64,
    bucket: Mutex<Bucket>,
}

/// Counters of the hedge budget, for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct HedgeBudgetSnapshot {
    /// Configured hedges per call.
    pub ratio: f64,
    /// Hedged calls so far (calls that deposited).
    pub calls: u64,
    /// Hedges fired.
    pub hedges: u64,
    /// Hedges the budget refused.
    pub denied: u64,
    /// Tokens left.
    pub balance: f64,
}

impl HedgeBudget {
    /// A budget of `ratio` hedges per call.
    pub(crate) fn new(ratio: f64) -> Self {
        // A zero budget means no hedging at all, not even a burst.
        let cap = if ratio > 0.0 {
            (ratio * 100.0).max(MIN_CAP)
        } else {
            0.0
        };
        Self {
            ratio,
            cap,
            bucket: Mutex::new(Bucket {
                balance: cap,
                calls: 0,
                hedges: 0,
                denied: 0,
            }),
        }
    }

    /// Credits one call.
    pub(crate) fn deposit(&self) {
        let mut b = self.bucket.lock();
        b.calls += 1;
        b.balance = (b.balance + self.ratio).min(self.cap);
    }

    /// Takes one hedge if the budget allows.
    pub(crate) fn try_withdraw(&self) -> bool {
        let mut b = self.bucket.lock();
        if b.balance >= 1.0 {
            b.balance -= 1.0;
            b.hedges += 1;
            true
        } else {
            b.denied += 1;
            false
        }
    }

    /// Returns a token taken for a hedge that could not be sent after all.
    pub(crate) fn refund(&self) {
        let mut b = self.bucket.lock();
        b.balance = (b.balance + 1.0).min(self.cap);
        b.hedges = b.hedges.saturating_sub(1);
    }

    /// Current counters.
    pub(crate) fn snapshot(&self) -> HedgeBudgetSnapshot {
        let b = self.bucket.lock();
        HedgeBudgetSnapshot {
            ratio: self.ratio,
            calls: b.calls,
            hedges: b.hedges,
            denied: b.denied,
            balance: b.balance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sustained_hedging_is_capped_at_the_ratio() {
        let b = HedgeBudget::new(0.1);
        let mut fired = 0;
        for _ in 0..10_000 {
            b.deposit();
            if b.try_withdraw() {
                fired += 1;
            }
        }
        // The initial burst (cap = 10) plus 10% of 10 000 calls.
        assert!((1000..=1010).contains(&fired), "{fired}");
        let s = b.snapshot();
        assert_eq!(s.hedges, fired);
        assert_eq!(s.denied, 10_000 - fired);
    }

    #[test]
    fn a_refunded_hedge_is_not_counted() {
        let b = HedgeBudget::new(0.1);
        assert!(b.try_withdraw());
        let before = b.snapshot().balance;
        b.refund();
        let s = b.snapshot();
        assert_eq!((s.hedges, s.balance), (0, before + 1.0));
    }

    #[test]
    fn zero_budget_never_hedges() {
        let b = HedgeBudget::new(0.0);
        b.deposit();
        let fired = (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(fired, 0);
    }
}
