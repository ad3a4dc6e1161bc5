//! Endpoint selection: from measured stats to an ordered [`Plan`] that strategies walk.
//!
//! Like pingora's backend selection, selection produces an *ordered plan* (first choice,
//! then fallbacks) rather than a single pick, so every strategy shares one ranking and the
//! ranking is testable without I/O. Endpoints fall into tiers:
//!
//! 1. **preferred** — circuit closed (or due a probe) and not lagging, ordered by score
//!    ([`crate::stats::EndpointStats::score`]: peak-EWMA latency × (in-flight + 1) ÷
//!    success ratio — Finagle's and tower's least-loaded cost), multiplied for
//!    freshness-sensitive methods by `1 + 0.5 × slots behind the best endpoint`, since a
//!    node one slot behind answers `null` for what was just created;
//! 2. **lagging** — admissible but more than `max_slot_lag` slots behind: used only after
//!    every preferred endpoint;
//! 3. **last resort** — circuit open or cooling down after a 429: not in the plan; the
//!    pool turns to them only when nothing else could be tried.
//!
//! `dual` picks its first pair by **smooth weighted round-robin** (nginx's algorithm) with
//! weights inversely proportional to pair scores: equal pairs alternate exactly, even for
//! callers that never overlap (where in-flight counts cannot spread load), and a pair that
//! is twice as slow gets half the calls. A pair is scored by the members that can serve —
//! a member whose circuit is open or that lags does not lend the pair its score.
//!
//! Why every endpoint is compared rather than two random ones (power-of-two-choices,
//! Mitzenmacher 2001): p2c exists for balancers whose load information is stale or costly
//! to gather, where always taking the apparent best herds traffic onto one backend. Here
//! the in-flight counts are exact, local and updated at launch, and a pool has a handful
//! of endpoints, so a full comparison costs nothing and never starts with a worse endpoint;
//! herding is prevented by the in-flight factor itself — an endpoint with one call out
//! already scores twice its latency. On the `mainnet-like` bench p2c's random first pick
//! sent half the calls to slower, lagging providers first.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::catalog::MethodInfo;
use crate::clock::Instant;
use crate::endpoint::Endpoint;
use crate::stats::PlanView;
use crate::upstreams::Upstreams;

/// Score multiplier per slot an endpoint trails the best one, for freshness-sensitive
/// methods.
const LAG_PENALTY_PER_SLOT: f64 = 0.5;

/// Endpoints a plan holds without allocating (a pool rarely has more).
const INLINE: usize = 4;

/// An ordered list of endpoints for one call.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Preferred endpoints first, then lagging ones; then, past `planned`, those kept out
    /// by their circuit or a Retry-After, best first (the last resort).
    ranked: SmallVec<[Arc<Endpoint>; INLINE]>,
    /// How many of `ranked` are preferred.
    preferred: usize,
    /// How many of `ranked` are in the plan (preferred or lagging).
    planned: usize,
    /// Per endpoint index: what this call knows of it.
    seen: SmallVec<[Seen; INLINE]>,
}

/// One endpoint as a plan sees it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Its score for this call (lag penalty included).
    score: f64,
    /// Slots behind the best endpoint now or in the last health rounds (0 when unknown).
    lag: u64,
    /// Whether the health loop has a slot reading of it (without one, a lag of 0 says
    /// nothing).
    read: bool,
}

impl Plan {
    /// Ranks the endpoints of `upstreams` for a call of `method` at `now`.
    pub(crate) fn build(
        upstreams: &Upstreams,
        method: &str,
        info: &MethodInfo,
        now: Instant,
    ) -> Plan {
        let endpoints = &upstreams.endpoints;
        let views: SmallVec<[PlanView; INLINE]> = endpoints
            .iter()
            .map(|e| e.stats.plan_view(now, method))
            .collect();
        let best_slot = views.iter().filter_map(|v| v.slot).max();
        let seen: SmallVec<[Seen; INLINE]> = views
            .iter()
            .map(|v| {
                let lag = match (best_slot, v.slot) {
                    (Some(best), Some(slot)) => best.saturating_sub(slot),
                    _ => 0,
                }
                .max(v.recent_lag);
                let mut score = v.score;
                if info.fresh {
                    score *= 1.0 + LAG_PENALTY_PER_SLOT * lag as f64;
                }
                Seen {
                    score,
                    lag,
                    read: v.slot.is_some(),
                }
            })
            .collect();
        // Tiers, each by score (ties by index, so a plan is the same for the same stats).
        let mut ranked = SmallVec::with_capacity(endpoints.len());
        let mut tier = |keep: &dyn Fn(&PlanView) -> bool| {
            let from = ranked.len();
            ranked.extend(
                endpoints
                    .iter()
                    .zip(&views)
                    .filter(|(_, v)| !v.foreign && keep(v))
                    .map(|(e, _)| e.clone()),
            );
            ranked[from..].sort_unstable_by(|a: &Arc<Endpoint>, b: &Arc<Endpoint>| {
                seen[a.index]
                    .score
                    .total_cmp(&seen[b.index].score)
                    .then(a.index.cmp(&b.index))
            });
            ranked.len()
        };
        let preferred = tier(&|v| v.admissible && !v.lagging);
        let planned = tier(&|v| v.admissible && v.lagging);
        tier(&|v| !v.admissible);
        Plan {
            ranked,
            preferred,
            planned,
            seen,
        }
    }

    /// All endpoints of the plan, in order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Arc<Endpoint>> {
        self.ranked[..self.planned].iter()
    }

    /// Number of preferred endpoints (at least 1 if the plan is not empty, so that a pool
    /// whose endpoints all lag still fans out to one).
    pub(crate) fn preferred_len(&self) -> usize {
        if self.preferred == 0 {
            self.planned.min(1)
        } else {
            self.preferred
        }
    }

    /// Whether `ep` is in the preferred tier.
    pub(crate) fn is_preferred(&self, ep: &Endpoint) -> bool {
        self.ranked[..self.preferred]
            .iter()
            .any(|e| e.index == ep.index)
    }

    /// Whether `ep` is in the plan at all (preferred or lagging, not last resort).
    pub(crate) fn contains(&self, ep: &Endpoint) -> bool {
        self.iter().any(|e| e.index == ep.index)
    }

    /// Endpoints outside the plan, for the last-resort attempt.
    pub(crate) fn last_resort(&self) -> &[Arc<Endpoint>] {
        &self.ranked[self.planned..]
    }

    /// Slots the endpoint with index `i` trails the best one (0 when unknown).
    pub(crate) fn lag(&self, i: usize) -> u64 {
        self.seen.get(i).map_or(0, |s| s.lag)
    }

    /// Whether the health loop sees the endpoint with index `i` fewer slots behind than the
    /// one with index `j` — both read, so an endpoint never read is never "ahead".
    pub(crate) fn ahead_of(&self, i: usize, j: usize) -> bool {
        let read = |k: usize| self.seen.get(k).is_some_and(|s| s.read);
        read(i) && read(j) && self.lag(i) < self.lag(j)
    }

    /// The order in which `dual` tries its pairs (module doc): the first by smooth
    /// weighted round-robin among pairs with a member that can serve, the others by score;
    /// pairs whose members only lag next, pairs with no admissible member last.
    pub(crate) fn pair_order(&self, upstreams: &Upstreams) -> Vec<usize> {
        let tier_and_score = |&(p, s): &(usize, usize)| {
            let members = [p, s];
            let best = |pred: &dyn Fn(&Arc<Endpoint>) -> bool| {
                members
                    .iter()
                    .map(|&i| &upstreams.endpoints[i])
                    .filter(|e| pred(e))
                    .map(|e| self.seen[e.index].score)
                    .min_by(f64::total_cmp)
            };
            if let Some(score) = best(&|e| self.is_preferred(e)) {
                (0, score)
            } else if let Some(score) = best(&|e| self.contains(e)) {
                (1, score)
            } else {
                (2, f64::INFINITY)
            }
        };
        let ranked: Vec<(u8, f64)> = upstreams.pairs.iter().map(tier_and_score).collect();
        let mut order: Vec<usize> = (0..ranked.len()).collect();
        order.sort_by(|&a, &b| {
            ranked[a]
                .0
                .cmp(&ranked[b].0)
                .then(ranked[a].1.total_cmp(&ranked[b].1))
                .then(a.cmp(&b))
        });
        let weights: Vec<f64> = ranked
            .iter()
            .map(|&(tier, score)| {
                if tier == 0 {
                    1.0 / score.max(1e-9)
                } else {
                    0.0
                }
            })
            .collect();
        if let Some(first) = upstreams.pair_rotation.lock().pick(&weights) {
            order.retain(|&i| i != first);
            order.insert(0, first);
        }
        order
    }
}
