//! The chain's clock: [`ChainTime`], a point on it, and the [`Chain`] methods that read and
//! move it.
//!
//! The clock reads zero when the chain is created, at the start of its genesis slot;
//! slot `s` starts at `(s − genesis_slot) × slot_time`. With [`crate::ClockMode::RealTime`] the
//! clock follows wall time (plus whatever [`crate::Chain::advance`] and
//! [`crate::Chain::advance_time`] added); with [`crate::ClockMode::Manual`] only those two move
//! it. Times are signed because the history generated at start lies before the genesis slot.

use std::fmt;
use std::ops::{Add, Sub};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::{Chain, ClockMode};

/// A point on the chain's clock: signed nanoseconds since the chain was created (the start of
/// its genesis slot). Negative for transactions of the history generated at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ChainTime(i64);

impl ChainTime {
    /// The moment the chain was created: the start of the genesis slot.
    pub const ZERO: ChainTime = ChainTime(0);

    /// `nanos` nanoseconds after (or, if negative, before) the chain was created.
    pub const fn from_nanos(nanos: i64) -> ChainTime {
        ChainTime(nanos)
    }

    /// Nanoseconds since the chain was created (negative before).
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Milliseconds since the chain was created (negative before), with sub-ms precision.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// How long after `earlier` this is; `None` if it is before `earlier`.
    pub fn checked_duration_since(self, earlier: ChainTime) -> Option<Duration> {
        let nanos = self.0.checked_sub(earlier.0)?;
        u64::try_from(nanos).ok().map(Duration::from_nanos)
    }

    /// How long after `earlier` this is, or zero if it is before `earlier`.
    pub fn saturating_duration_since(self, earlier: ChainTime) -> Duration {
        self.checked_duration_since(earlier).unwrap_or_default()
    }
}

/// Saturating conversion of a duration to signed nanoseconds.
pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Add<Duration> for ChainTime {
    type Output = ChainTime;

    /// Saturates at the end of the clock's range (≈292 years) instead of overflowing.
    fn add(self, d: Duration) -> ChainTime {
        ChainTime(self.0.saturating_add(nanos(d)))
    }
}

impl Sub<Duration> for ChainTime {
    type Output = ChainTime;

    /// Saturates at the start of the clock's range instead of overflowing.
    fn sub(self, d: Duration) -> ChainTime {
        ChainTime(self.0.saturating_sub(nanos(d)))
    }
}

impl fmt::Display for ChainTime {
    /// Milliseconds since the chain was created, signed: `+1234.567ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+.3}ms", self.as_millis_f64())
    }
}

impl Chain {
    /// The chain's clock: time since the chain was created (see [`ChainTime`]). Never
    /// negative, and never goes backwards.
    pub fn now(&self) -> ChainTime {
        let inner = &self.inner;
        let wall = match inner.mode {
            ClockMode::Manual => 0,
            ClockMode::RealTime => nanos(inner.started.elapsed()),
        };
        let offset = i64::try_from(inner.offset_ns.load(Ordering::Acquire)).unwrap_or(i64::MAX);
        ChainTime::from_nanos(wall.saturating_add(offset))
    }

    /// The processed tip at chain time `now`.
    pub(crate) fn tip_at(&self, now: ChainTime) -> u64 {
        let by_time = now.as_nanos().max(0) / self.slot_nanos();
        self.inner.config.genesis_slot + by_time as u64
    }

    /// When `slot` starts (and its transactions are created) on the chain's clock; negative
    /// for slots before the genesis slot.
    pub fn slot_start(&self, slot: u64) -> ChainTime {
        let offset = i128::from(slot) - i128::from(self.inner.config.genesis_slot);
        let ns = offset * i128::from(self.slot_nanos());
        ChainTime::from_nanos(ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// Slot time in nanoseconds (at least 1).
    pub(super) fn slot_nanos(&self) -> i64 {
        nanos(self.inner.config.slot_time).max(1)
    }

    /// Moves the chain forward by `slots` whole slots (works in both clock modes): the clock
    /// advances by `slots × slot_time`.
    pub fn advance(&self, slots: u64) {
        let ns = u64::try_from(self.slot_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(slots);
        self.inner.offset_ns.fetch_add(ns, Ordering::AcqRel);
        self.clock_moved();
    }

    /// Moves the chain's clock forward by `by` (works in both clock modes); the tip advances
    /// when a slot boundary is crossed. With [`ClockMode::Manual`] this steps through the
    /// indexing delays inside a slot.
    pub fn advance_time(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner.offset_ns.fetch_add(ns, Ordering::AcqRel);
        self.clock_moved();
    }

    fn clock_moved(&self) {
        self.inner
            .clock_moved
            .send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever [`Chain::advance`] or [`Chain::advance_time`] moves the clock: what a
    /// PubSub session waits on besides its timers (the only thing that moves a manual clock).
    pub(crate) fn clock_changes(&self) -> watch::Receiver<u64> {
        self.inner.clock_moved.subscribe()
    }

    /// Whether the clock follows wall time.
    pub(crate) fn is_real_time(&self) -> bool {
        self.inner.mode == ClockMode::RealTime
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainConfig;

    fn manual() -> Chain {
        Chain::new(1, ChainConfig::default(), ClockMode::Manual)
    }

    #[test]
    fn arithmetic_and_ordering() {
        let t = ChainTime::ZERO + Duration::from_millis(5);
        assert_eq!(t.as_nanos(), 5_000_000);
        assert_eq!((t - Duration::from_millis(7)).as_millis_f64(), -2.0);
        assert!(ChainTime::from_nanos(-1) < ChainTime::ZERO);
        assert_eq!(
            t.checked_duration_since(ChainTime::from_nanos(-1_000_000)),
            Some(Duration::from_millis(6))
        );
        assert_eq!(ChainTime::ZERO.checked_duration_since(t), None);
        assert_eq!(ChainTime::ZERO.saturating_duration_since(t), Duration::ZERO);
        assert_eq!(t.to_string(), "+5.000ms");
        assert_eq!(
            ChainTime::from_nanos(i64::MAX) + Duration::from_secs(1),
            ChainTime::from_nanos(i64::MAX)
        );
    }

    #[test]
    fn time_steps_cross_slot_boundaries_exactly() {
        let chain = manual();
        let s0 = chain.slot();
        chain.advance_time(Duration::from_millis(399));
        assert_eq!(chain.slot(), s0);
        chain.advance_time(Duration::from_millis(1));
        assert_eq!(chain.slot(), s0 + 1);
        assert_eq!(chain.slot_start(s0 + 1), chain.now());
        // Whole-slot steps keep the phase within the slot.
        chain.advance_time(Duration::from_millis(250));
        chain.advance(2);
        assert_eq!(chain.slot(), s0 + 3);
        assert_eq!(
            chain.now(),
            chain.slot_start(s0 + 3) + Duration::from_millis(250)
        );
        assert_eq!(
            chain.slot_start(s0 - 10),
            ChainTime::ZERO - Duration::from_secs(4)
        );
    }
}
