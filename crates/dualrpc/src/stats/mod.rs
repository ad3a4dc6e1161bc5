//! Per-endpoint performance tracking: what selection, hedging and `/status` read.
//!
//! Each endpoint has one [`EndpointStats`]: a peak-EWMA latency and a windowed histogram
//! (overall and per method, since `getTransaction` and `getSlot` differ by an order of
//! magnitude), a success-ratio EWMA, counts by outcome kind, wins, in-flight attempts, the
//! circuit breaker, and the slot the health loop last saw. Every attempt is recorded when
//! it settles, including the ones that lost a race, so the numbers are free of
//! survivorship bias. State sits behind one short `parking_lot` lock per endpoint; the
//! in-flight count is atomic because it changes twice per attempt. The pool-wide ceiling
//! on slots ([`SlotCeiling`]) lives here too: pure state over the health loop's readings.

mod breaker;
mod bucket;
mod ceiling;
mod ewma;
mod snapshot;
mod window;
mod wrr;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

pub use breaker::{Admission, Breaker, CircuitState, TripReason};
pub use bucket::TokenBucket;
pub use ceiling::{Reading, SlotCeiling};
pub use ewma::{PeakEwma, SuccessEwma};
pub use snapshot::{BudgetSnapshot, EndpointSnapshot, OutcomeCounts};
pub use window::WindowedHistogram;
pub use wrr::SmoothWrr;

use crate::clock::Instant;
use crate::outcome::{FailureKind, Outcome};
use crate::settings::BreakerSettings;

/// Decay constant of the latency EWMA. Short, because a provider's latency shifts within
/// seconds and a bot cannot wait a minute for selection to notice.
const EWMA_TAU: Duration = Duration::from_secs(2);
/// Weight of one attempt in the success ratio (≈ the last 50 attempts).
const SUCCESS_ALPHA: f64 = 0.02;
/// Half of the latency histogram window.
const WINDOW_HALF: Duration = Duration::from_secs(30);
/// Samples a per-method track needs before it is preferred over the endpoint's overall one.
const MIN_METHOD_SAMPLES: u64 = 10;
/// Cool-down after a 429 that did not say how long to wait.
const DEFAULT_RATE_LIMIT_COOLDOWN: Duration = Duration::from_secs(1);
/// Samples needed before a percentile is trusted for the hedge delay.
const MIN_HEDGE_SAMPLES: u64 = 20;
/// Distinct methods tracked separately per endpoint; clients choose method names, so the
/// map must be bounded. Further methods share the overall track.
const MAX_TRACKED_METHODS: usize = 64;
/// Latency assumed for an endpoint never measured: optimistic enough that new endpoints
/// get traffic, and measured ones below it are preferred.
const UNKNOWN_LATENCY_MS: f64 = 100.0;
/// Floor of the success ratio in the score, so a failing endpoint's score stays finite.
const MIN_SUCCESS: f64 = 0.02;

/// Latency of one endpoint (overall or for one method).
#[derive(Debug, Clone)]
pub(super) struct LatencyTrack {
    pub(super) ewma: PeakEwma,
    pub(super) hist: WindowedHistogram,
    samples: u64,
}

impl LatencyTrack {
    fn new(now: Instant) -> Self {
        Self {
            ewma: PeakEwma::new(now, EWMA_TAU),
            hist: WindowedHistogram::new(now, WINDOW_HALF),
            samples: 0,
        }
    }

    fn record(&mut self, now: Instant, latency: Duration) {
        self.ewma.observe(now, latency);
        self.hist.record(now, latency);
        self.samples += 1;
    }
}

#[derive(Debug)]
pub(super) struct Tracked {
    pub(super) overall: LatencyTrack,
    pub(super) by_method: HashMap<Box<str>, LatencyTrack, foldhash::fast::RandomState>,
    pub(super) success: SuccessEwma,
    pub(super) success_count: u64,
    pub(super) empty_count: u64,
    pub(super) deterministic_count: u64,
    pub(super) failures: [u64; FailureKind::ALL.len()],
    pub(super) breaker: Breaker,
    /// Cool-down asked for by a 429's Retry-After.
    pub(super) rate_limited_until: Option<Instant>,
    /// The provider's rate limit, if configured.
    pub(super) bucket: Option<TokenBucket>,
    pub(super) slot: Option<u64>,
    /// Health probes in a row that did not answer. After one, `slot` is a round or more
    /// old and is not compared with current ones (it would look behind by the rounds it
    /// missed); after [`STALE_AFTER`] it is again (a node that stays silent falls behind).
    pub(super) missed_probes: u32,
    /// Its last probe read a slot above the pool's ceiling (for a log line per change).
    pub(super) refused: bool,
    pub(super) lagging: bool,
    /// Slots behind the best endpoint in the last health rounds (newest last): selection
    /// takes the largest, so one lucky reading (probes answered either side of a slot
    /// boundary) does not make a node that is consistently behind look caught up.
    recent_lag: [u64; LAG_READINGS],
}

/// Health readings a lag is remembered over.
const LAG_READINGS: usize = 4;

/// Probes in a row that did not answer after which an endpoint's last slot is compared
/// with the others' again (the endpoint falls behind as the chain moves on).
pub(crate) const STALE_AFTER: u32 = LAG_READINGS as u32;

/// Everything measured about one endpoint. See the module doc.
#[derive(Debug)]
pub struct EndpointStats {
    pub(super) tracked: Mutex<Tracked>,
    in_flight: AtomicU32,
    pub(super) wins: AtomicU64,
    /// The newest slot its answers showed, per commitment (processed, confirmed,
    /// finalized): whether it may be ahead of another endpoint's answer.
    newest_seen: [AtomicU64; 3],
    /// On another cluster than the pool's other endpoints (its genesis hash differs from
    /// theirs): never asked, its slots never compared.
    foreign: AtomicBool,
}

/// An endpoint as selection sees it for one call ([`EndpointStats::plan_view`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanView {
    /// Selection score (lower is better).
    pub(crate) score: f64,
    /// The slot the health loop read: none while the last one to three probes in a row
    /// failed (it is old), the old slot again after [`STALE_AFTER`] (a silent node falls
    /// behind).
    pub(crate) slot: Option<u64>,
    /// Circuit closed (or due a probe) and no 429 cool-down running.
    pub(crate) admissible: bool,
    /// More than `max_slot_lag` behind the best endpoint.
    pub(crate) lagging: bool,
    /// The most slots behind the best endpoint in the last health rounds.
    pub(crate) recent_lag: u64,
    /// On another cluster: left out of every plan.
    pub(crate) foreign: bool,
}

impl EndpointStats {
    /// Fresh stats at `now`, with the provider's rate limit if it has one.
    pub fn new(now: Instant, breaker: BreakerSettings, rate_limit: Option<(f64, f64)>) -> Self {
        Self {
            tracked: Mutex::new(Tracked {
                overall: LatencyTrack::new(now),
                by_method: HashMap::default(),
                success: SuccessEwma::new(SUCCESS_ALPHA),
                success_count: 0,
                empty_count: 0,
                deterministic_count: 0,
                failures: [0; FailureKind::ALL.len()],
                breaker: Breaker::new(breaker),
                rate_limited_until: None,
                bucket: rate_limit.map(|(rps, burst)| TokenBucket::new(now, rps, burst)),
                slot: None,
                missed_probes: 0,
                refused: false,
                lagging: false,
                recent_lag: [0; LAG_READINGS],
            }),
            in_flight: AtomicU32::new(0),
            wins: AtomicU64::new(0),
            newest_seen: Default::default(),
            foreign: AtomicBool::new(false),
        }
    }

    /// An answer of this endpoint at `commitment` (0 processed, 1 confirmed, 2 finalized)
    /// showed `slot`.
    pub(crate) fn saw_slot(&self, commitment: usize, slot: u64) {
        self.newest_seen[commitment.min(2)].fetch_max(slot, Ordering::Relaxed);
    }

    /// The newest slot this endpoint's answers at `commitment` showed (0: none yet).
    pub(crate) fn newest_seen(&self, commitment: usize) -> u64 {
        self.newest_seen[commitment.min(2)].load(Ordering::Relaxed)
    }

    /// Marks an attempt as started. Called when the attempt is launched, not when its
    /// task first runs, so that a call planned right after sees the load.
    pub(crate) fn begin_attempt(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks an attempt as finished.
    pub(crate) fn end_attempt(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Attempts under way.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a win (this endpoint's answer was returned to the caller).
    pub(crate) fn record_win(&self) {
        self.wins.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a settled attempt. Latency is recorded for answers and timeouts (a timeout
    /// is a lower bound on the true latency), not for fast failures ([`Outcome::timed`]).
    /// A node-specific JSON-RPC error is counted by kind but is no breaker failure and
    /// leaves the success ratio alone (the node answered properly; a provider-specific
    /// method one node lacks must not make it look worse for everything else). Returns
    /// `true` if the circuit opened or closed.
    pub(crate) fn record(
        &self,
        now: Instant,
        method: &str,
        latency: Duration,
        outcome: &Outcome,
    ) -> bool {
        let mut t = self.tracked.lock();
        if outcome.timed() {
            t.overall.record(now, latency);
            if let Some(track) = t.by_method.get_mut(method) {
                track.record(now, latency);
            } else if t.by_method.len() < MAX_TRACKED_METHODS {
                let mut track = LatencyTrack::new(now);
                track.record(now, latency);
                t.by_method.insert(method.into(), track);
            }
        }
        match outcome {
            Outcome::Success { missing: 0, .. } => {
                t.success_count += 1;
                t.success.observe(true);
            }
            // An empty answer is no failure for the breaker (the node works), but it is for
            // selection: a node that keeps answering `null` for what others have is behind,
            // and calls it serves first cost a second round trip.
            Outcome::Success { .. } => {
                t.empty_count += 1;
                t.success.observe(false);
            }
            Outcome::Deterministic { .. } => {
                t.deterministic_count += 1;
                t.success.observe(true);
            }
            Outcome::NodeError { kind, .. } => t.failures[kind.index()] += 1,
            Outcome::Failed { kind, retry_after } => {
                t.failures[kind.index()] += 1;
                t.success.observe(false);
                if *kind == FailureKind::RateLimited {
                    t.rate_limited_until =
                        Some(now + retry_after.unwrap_or(DEFAULT_RATE_LIMIT_COOLDOWN));
                }
            }
        }
        t.breaker.record(now, outcome.endpoint_ok())
    }

    /// Forgets the health loop's last slot and the slots the endpoint's answers showed
    /// where they are above `limit` (read before the pool had a ceiling, or from a node
    /// whose slots went wrong): they must not make it the tip or the one to wait for.
    pub(crate) fn forget_above(&self, limit: u64) {
        for seen in &self.newest_seen {
            let _ = seen.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                (s > limit).then_some(0)
            });
        }
        let mut t = self.tracked.lock();
        if t.slot.is_some_and(|s| s > limit) {
            t.slot = None;
        }
    }

    /// Marks the endpoint as on another cluster (or not); returns whether that changed.
    /// A foreign endpoint's slots are forgotten.
    pub(crate) fn set_foreign(&self, foreign: bool) -> bool {
        let changed = self.foreign.swap(foreign, Ordering::Relaxed) != foreign;
        if foreign {
            self.forget_above(0);
        }
        changed
    }

    /// Whether the endpoint is on another cluster than the pool's others.
    pub(crate) fn foreign(&self) -> bool {
        self.foreign.load(Ordering::Relaxed)
    }

    /// Notes whether the endpoint's last probe was refused; returns whether that changed.
    pub(crate) fn set_refused(&self, refused: bool) -> bool {
        let mut t = self.tracked.lock();
        std::mem::replace(&mut t.refused, refused) != refused
    }

    /// Records a health-loop probe: it feeds the breaker (a healthy answer after the
    /// cool-down closes the circuit) but not latency, which `getSlot` would understate.
    pub(crate) fn record_probe(&self, now: Instant, slot: Option<u64>) -> bool {
        if let Some(s) = slot {
            // The probe asks at `processed`: a reading of the endpoint's progress.
            self.saw_slot(0, s);
        }
        let mut t = self.tracked.lock();
        if let Some(s) = slot {
            t.slot = Some(s);
        }
        t.missed_probes = if slot.is_some() {
            0
        } else {
            t.missed_probes.saturating_add(1)
        };
        let ok = slot.is_some();
        if ok && !t.breaker.is_closed() {
            if t.breaker.admit(now) == Admission::Probe {
                return t.breaker.record(now, true);
            }
            false
        } else if !ok {
            t.breaker.record(now, false)
        } else {
            false
        }
    }

    /// Spends `cost` tokens of the rate-limit budget; `false` if the budget is exhausted.
    /// Always `true` for an endpoint without a rate limit.
    pub(crate) fn try_spend(&self, now: Instant, cost: f64) -> bool {
        self.tracked
            .lock()
            .bucket
            .as_mut()
            .is_none_or(|b| b.try_take(now, cost))
    }

    /// Returns tokens of an attempt that was not sent.
    pub(crate) fn refund(&self, cost: f64) {
        if let Some(b) = self.tracked.lock().bucket.as_mut() {
            b.refund(cost);
        }
    }

    /// Whether an *extra* attempt costing `cost` fits without eating into the reserve kept
    /// for first attempts.
    pub(crate) fn headroom(&self, now: Instant, cost: f64) -> bool {
        self.tracked
            .lock()
            .bucket
            .as_mut()
            .is_none_or(|b| b.headroom(now, cost))
    }

    /// How long until `cost` tokens are available (zero without a rate limit).
    pub(crate) fn budget_wait(&self, now: Instant, cost: f64) -> Duration {
        self.tracked
            .lock()
            .bucket
            .as_mut()
            .map_or(Duration::ZERO, |b| b.wait_for(now, cost))
    }

    /// Records a health round: slots behind the best endpoint, and whether that is too
    /// many.
    pub(crate) fn set_lag(&self, lag: u64, lagging: bool) {
        let mut t = self.tracked.lock();
        t.lagging = lagging;
        t.recent_lag.rotate_left(1);
        t.recent_lag[LAG_READINGS - 1] = lag;
    }

    /// Whether the circuit is closed.
    pub(crate) fn circuit_closed(&self) -> bool {
        self.tracked.lock().breaker.is_closed()
    }

    /// Current circuit state.
    pub fn circuit(&self) -> CircuitState {
        self.tracked.lock().breaker.state()
    }

    /// Last slot seen by the health loop.
    pub fn slot(&self) -> Option<u64> {
        self.tracked.lock().slot
    }

    /// Health probes in a row that did not answer.
    pub(crate) fn missed_probes(&self) -> u32 {
        self.tracked.lock().missed_probes
    }

    /// Whether the endpoint is marked lagging.
    pub fn lagging(&self) -> bool {
        self.tracked.lock().lagging
    }

    /// Whether the endpoint may take an attempt now without changing state.
    pub(crate) fn peek(&self, now: Instant) -> Admission {
        let t = self.tracked.lock();
        if t.rate_limited_until.is_some_and(|until| now < until) {
            return Admission::Rejected;
        }
        t.breaker.peek(now)
    }

    /// When a running 429 cool-down ends (`None` if none is running).
    pub(crate) fn cooling_until(&self, now: Instant) -> Option<Instant> {
        self.tracked
            .lock()
            .rate_limited_until
            .filter(|until| now < *until)
    }

    /// Whether a 429's cool-down is still running.
    pub(crate) fn cooling_down(&self, now: Instant) -> bool {
        self.tracked
            .lock()
            .rate_limited_until
            .is_some_and(|until| now < until)
    }

    /// Admits an attempt (taking the probe slot if the circuit is past its cool-down).
    pub(crate) fn admit(&self, now: Instant) -> Admission {
        let mut t = self.tracked.lock();
        if t.rate_limited_until.is_some_and(|until| now < until) {
            return Admission::Rejected;
        }
        t.breaker.admit(now)
    }

    /// What selection needs to know about the endpoint for `method` at `now`, read
    /// under one lock: its score, slot, whether it may take an attempt, whether it lags.
    pub(crate) fn plan_view(&self, now: Instant, method: &str) -> PlanView {
        let t = self.tracked.lock();
        let cooling = t.rate_limited_until.is_some_and(|until| now < until);
        PlanView {
            score: self.score_locked(&t, method),
            slot: t
                .slot
                .filter(|_| t.missed_probes == 0 || t.missed_probes >= STALE_AFTER),
            admissible: !cooling && t.breaker.peek(now) != Admission::Rejected,
            lagging: t.lagging,
            recent_lag: t.recent_lag.iter().copied().max().unwrap_or(0),
            foreign: self.foreign(),
        }
    }

    /// Selection score for `method` (lower is better): latency estimate × (in-flight + 1)
    /// ÷ success ratio. Latency is the method's own estimate once it has samples, else the
    /// endpoint's overall one.
    pub fn score(&self, method: &str) -> f64 {
        let t = self.tracked.lock();
        self.score_locked(&t, method)
    }

    fn score_locked(&self, t: &Tracked, method: &str) -> f64 {
        let latency = t
            .by_method
            .get(method)
            .filter(|m| m.samples >= MIN_METHOD_SAMPLES)
            .and_then(|m| m.ewma.get())
            .or_else(|| t.overall.ewma.get())
            .unwrap_or(UNKNOWN_LATENCY_MS);
        let load = f64::from(self.in_flight() + 1);
        latency * load / t.success.get().max(MIN_SUCCESS)
    }

    /// Hedge delay for `method`: the `q`-quantile of its recent latency on this endpoint,
    /// or of the endpoint overall, or `None` while there are too few samples.
    pub fn latency_quantile(&self, now: Instant, method: &str, q: f64) -> Option<Duration> {
        let mut t = self.tracked.lock();
        if let Some(m) = t.by_method.get_mut(method)
            && m.hist.len(now) >= MIN_HEDGE_SAMPLES
        {
            return m.hist.quantile(now, q);
        }
        if t.overall.hist.len(now) >= MIN_HEDGE_SAMPLES {
            return t.overall.hist.quantile(now, q);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Outcome {
        Outcome::Success {
            result: crate::jsonrpc::RawJson::parse("1").unwrap(),
            missing: 0,
        }
    }

    #[test]
    fn faster_endpoint_scores_better_and_load_and_failures_worsen_it() {
        let t = Instant::now();
        let fast = EndpointStats::new(t, BreakerSettings::default(), None);
        let slow = EndpointStats::new(t, BreakerSettings::default(), None);
        for i in 0..20 {
            fast.record(
                t + Duration::from_millis(i),
                "getSlot",
                Duration::from_millis(10),
                &ok(),
            );
            slow.record(
                t + Duration::from_millis(i),
                "getSlot",
                Duration::from_millis(40),
                &ok(),
            );
        }
        assert!(fast.score("getSlot") < slow.score("getSlot"));
        // Three attempts in flight make the fast one (10 × 4 = 40) no better than the slow one.
        (0..3).for_each(|_| fast.begin_attempt());
        assert!(fast.score("getSlot") >= slow.score("getSlot"));
        (0..3).for_each(|_| fast.end_attempt());
        assert_eq!(fast.in_flight(), 0);
        for _ in 0..100 {
            fast.record(
                t,
                "getSlot",
                Duration::from_millis(1),
                &Outcome::failed(FailureKind::HttpStatus),
            );
        }
        assert!(
            fast.score("getSlot") > slow.score("getSlot"),
            "a failing endpoint loses its lead"
        );
    }

    #[test]
    fn fast_failures_do_not_count_as_latency_but_timeouts_do() {
        let t = Instant::now();
        let s = EndpointStats::new(t, BreakerSettings::default(), None);
        s.record(
            t,
            "m",
            Duration::from_micros(50),
            &Outcome::failed(FailureKind::Connect),
        );
        assert_eq!(
            s.snapshot(t, "x", crate::config::Role::None)
                .latency_ewma_ms,
            None
        );
        s.record(
            t,
            "m",
            Duration::from_millis(200),
            &Outcome::failed(FailureKind::Timeout),
        );
        assert_eq!(
            s.snapshot(t, "x", crate::config::Role::None)
                .latency_ewma_ms,
            Some(200.0)
        );
    }

    #[test]
    fn per_method_quantiles_are_used_once_there_are_enough_samples() {
        let t = Instant::now();
        let s = EndpointStats::new(t, BreakerSettings::default(), None);
        for _ in 0..MIN_HEDGE_SAMPLES {
            s.record(t, "getSlot", Duration::from_millis(5), &ok());
        }
        assert!(s.latency_quantile(t, "getTransaction", 0.9).unwrap() < Duration::from_millis(6));
        for _ in 0..MIN_HEDGE_SAMPLES {
            s.record(t, "getTransaction", Duration::from_millis(80), &ok());
        }
        let q = s.latency_quantile(t, "getTransaction", 0.9).unwrap();
        assert!(q >= Duration::from_millis(79), "{q:?}");
    }

    #[test]
    fn retry_after_keeps_the_endpoint_out_until_it_passes() {
        let t = Instant::now();
        let s = EndpointStats::new(t, BreakerSettings::default(), None);
        let outcome = Outcome::Failed {
            kind: FailureKind::RateLimited,
            retry_after: Some(Duration::from_secs(2)),
        };
        s.record(t, "m", Duration::from_millis(1), &outcome);
        assert_eq!(s.peek(t + Duration::from_secs(1)), Admission::Rejected);
        assert_eq!(s.peek(t + Duration::from_secs(2)), Admission::Allowed);
    }

    #[test]
    fn health_probe_closes_an_open_circuit_after_cooldown() {
        let t = Instant::now();
        let cfg = BreakerSettings {
            failures: 2,
            open: Duration::from_millis(100),
            max_open: Duration::from_millis(1000),
        };
        let s = EndpointStats::new(t, cfg, None);
        s.record(
            t,
            "m",
            Duration::ZERO,
            &Outcome::failed(FailureKind::Connect),
        );
        assert!(s.record(
            t,
            "m",
            Duration::ZERO,
            &Outcome::failed(FailureKind::Connect)
        ));
        assert!(
            !s.record_probe(t + Duration::from_millis(50), Some(7)),
            "still cooling down"
        );
        assert_eq!(s.peek(t + Duration::from_millis(50)), Admission::Rejected);
        assert!(s.record_probe(t + Duration::from_millis(150), Some(8)));
        assert_eq!(s.peek(t + Duration::from_millis(150)), Admission::Allowed);
        assert_eq!(s.slot(), Some(8));
    }
}
