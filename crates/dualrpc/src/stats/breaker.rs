//! The circuit breaker: takes an endpoint that keeps failing out of rotation and lets a
//! single probe decide when it comes back.
//!
//! A pure state machine over `now`, in the shape of linkerd2-proxy's consecutive-failures
//! breaker: `Closed` counts consecutive failures; at the threshold it opens for a
//! cool-down; after the cool-down one attempt (or a health-loop probe) is allowed through
//! (`HalfOpen`). Its success closes the circuit; its failure reopens it with the cool-down
//! doubled, up to a maximum, so a dead provider costs almost nothing.

use std::time::Duration;

use crate::clock::Instant;

use crate::settings::BreakerSettings;

/// Why a circuit opened, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripReason {
    /// `failures` consecutive attempts failed.
    ConsecutiveFailures,
    /// The probe sent after a cool-down failed.
    ProbeFailed,
}

/// Circuit state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Normal operation; holds the current run of consecutive failures.
    Closed {
        /// Failures in a row so far.
        consecutive_failures: u32,
    },
    /// Out of rotation until `until`.
    Open {
        /// End of the cool-down.
        until: Instant,
        /// Length of this cool-down (doubles on each failed probe).
        cooldown: Duration,
        /// Why it opened.
        reason: TripReason,
    },
    /// Cool-down over; one probe is in flight and decides.
    HalfOpen {
        /// The cool-down that preceded the probe, doubled if the probe fails.
        cooldown: Duration,
    },
}

/// Whether an attempt may go to the endpoint now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed circuit.
    Allowed,
    /// The cool-down is over: this attempt is the probe.
    Probe,
    /// Open, or a probe is already out.
    Rejected,
}

/// A consecutive-failures circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    /// Current state.
    state: CircuitState,
    /// Thresholds and cool-downs.
    config: BreakerSettings,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerSettings) -> Self {
        Self {
            state: CircuitState::Closed {
                consecutive_failures: 0,
            },
            config,
        }
    }

    /// Current state.
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// Whether the circuit is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, CircuitState::Closed { .. })
    }

    /// What an attempt at `now` would be, without changing anything.
    pub fn peek(&self, now: Instant) -> Admission {
        match self.state {
            CircuitState::Closed { .. } => Admission::Allowed,
            CircuitState::Open { until, .. } if now >= until => Admission::Probe,
            _ => Admission::Rejected,
        }
    }

    /// Admits an attempt at `now`; a `Probe` admission moves the breaker to half-open so
    /// that only one probe is out at a time.
    pub fn admit(&mut self, now: Instant) -> Admission {
        let admission = self.peek(now);
        if admission == Admission::Probe
            && let CircuitState::Open { cooldown, .. } = self.state
        {
            self.state = CircuitState::HalfOpen { cooldown };
        }
        admission
    }

    /// Records an attempt's result. Returns `true` if this changed whether the circuit is
    /// closed (for logs and metrics).
    pub fn record(&mut self, now: Instant, ok: bool) -> bool {
        let was_closed = self.is_closed();
        let base = self.config.open;
        let max = self.config.max_open.max(base);
        self.state = match (self.state, ok) {
            (_, true) => CircuitState::Closed {
                consecutive_failures: 0,
            },
            (
                CircuitState::Closed {
                    consecutive_failures,
                },
                false,
            ) => {
                let n = consecutive_failures + 1;
                if n >= self.config.failures {
                    CircuitState::Open {
                        until: now + base,
                        cooldown: base,
                        reason: TripReason::ConsecutiveFailures,
                    }
                } else {
                    CircuitState::Closed {
                        consecutive_failures: n,
                    }
                }
            }
            (CircuitState::HalfOpen { cooldown }, false) => {
                let cooldown = (cooldown * 2).min(max);
                CircuitState::Open {
                    until: now + cooldown,
                    cooldown,
                    reason: TripReason::ProbeFailed,
                }
            }
            // Late failures of attempts started before the circuit opened change nothing.
            (open @ CircuitState::Open { .. }, false) => open,
        };
        was_closed != self.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            failures: 3,
            open: Duration::from_millis(100),
            max_open: Duration::from_millis(350),
        })
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let t = Instant::now();
        let mut b = breaker();
        b.record(t, false);
        b.record(t, false);
        b.record(t, true);
        b.record(t, false);
        b.record(t, false);
        assert!(b.is_closed());
        assert!(b.record(t, false), "third failure in a row opens");
        assert_eq!(b.admit(t + 50 * MS), Admission::Rejected);
    }

    #[test]
    fn one_probe_after_cooldown_decides_and_cooldown_doubles_up_to_max() {
        let t = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(t, false);
        }
        assert_eq!(b.admit(t + 100 * MS), Admission::Probe);
        assert_eq!(
            b.admit(t + 101 * MS),
            Admission::Rejected,
            "only one probe at a time"
        );
        b.record(t + 110 * MS, false);
        match b.state() {
            CircuitState::Open {
                until,
                cooldown,
                reason,
            } => {
                assert_eq!(cooldown, 200 * MS);
                assert_eq!(until, t + 310 * MS);
                assert_eq!(reason, TripReason::ProbeFailed);
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(b.admit(t + 310 * MS), Admission::Probe);
        b.record(t + 320 * MS, false);
        assert!(matches!(b.state(), CircuitState::Open { cooldown, .. } if cooldown == 350 * MS));
        assert_eq!(b.admit(t + 670 * MS), Admission::Probe);
        assert!(b.record(t + 680 * MS, true), "a successful probe closes");
        assert_eq!(b.admit(t + 681 * MS), Admission::Allowed);
    }
}
