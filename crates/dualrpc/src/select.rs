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
//! Why every endpoint is compared rather than two random ones (power-of-two-choices,
//! Mitzenmacher 2001): p2c exists for balancers whose load information is stale or costly
//! to gather, where always taking the apparent best herds traffic onto one backend. Here
//! the in-flight counts are exact, local and updated at launch, and a pool has a handful
//! of endpoints, so a full comparison costs nothing and never starts with a worse endpoint;
//! herding is prevented by the in-flight factor itself — an endpoint with one call out
//! already scores twice its latency. On the `mainnet-like` bench p2c's random first pick
//! sent half the calls to slower, lagging providers first.

use std::sync::Arc;
use std::time::Instant;

use crate::endpoint::Endpoint;
use crate::stats::Admission;

/// An ordered list of endpoints for one call.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Preferred endpoints first, then lagging ones.
    order: Vec<Arc<Endpoint>>,
    /// How many of `order` are preferred.
    preferred: usize,
    /// Endpoints kept out by their circuit or a Retry-After, best first.
    last_resort: Vec<Arc<Endpoint>>,
}

impl Plan {
    /// Ranks `endpoints` for `method` at `now`.
    pub(crate) fn build(endpoints: &[Arc<Endpoint>], method: &str, now: Instant) -> Plan {
        let mut fresh = Vec::new();
        let mut lagging = Vec::new();
        let mut out = Vec::new();
        let best_slot = endpoints.iter().filter_map(|e| e.stats.slot()).max();
        let fresh_sensitive = freshness_sensitive(method);
        for ep in endpoints {
            let mut score = ep.stats.score(method);
            if fresh_sensitive && let (Some(best), Some(slot)) = (best_slot, ep.stats.slot()) {
                score *= 1.0 + LAG_PENALTY_PER_SLOT * best.saturating_sub(slot) as f64;
            }
            if ep.stats.peek(now) == Admission::Rejected {
                out.push((score, ep.clone()));
            } else if ep.stats.lagging() {
                lagging.push((score, ep.clone()));
            } else {
                fresh.push((score, ep.clone()));
            }
        }
        sort_by_score(&mut fresh);
        let mut order: Vec<Arc<Endpoint>> = fresh.into_iter().map(|(_, e)| e).collect();
        let preferred = order.len();
        sort_by_score(&mut lagging);
        sort_by_score(&mut out);
        order.extend(lagging.into_iter().map(|(_, e)| e));
        Plan {
            order,
            preferred,
            last_resort: out.into_iter().map(|(_, e)| e).collect(),
        }
    }

    /// All endpoints of the plan, in order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Arc<Endpoint>> {
        self.order.iter()
    }

    /// Number of preferred endpoints (at least 1 if the plan is not empty, so that a pool
    /// whose endpoints all lag still fans out to one).
    pub(crate) fn preferred_len(&self) -> usize {
        if self.preferred == 0 {
            self.order.len().min(1)
        } else {
            self.preferred
        }
    }

    /// Whether `ep` is in the preferred tier.
    pub(crate) fn is_preferred(&self, ep: &Endpoint) -> bool {
        self.order[..self.preferred]
            .iter()
            .any(|e| e.index == ep.index)
    }

    /// Endpoints outside the plan, for the last-resort attempt.
    pub(crate) fn last_resort(&self) -> &[Arc<Endpoint>] {
        &self.last_resort
    }
}

fn sort_by_score(v: &mut [(f64, Arc<Endpoint>)]) {
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.index.cmp(&b.1.index)));
}

/// Score multiplier per slot an endpoint trails the best one, for freshness-sensitive
/// methods.
const LAG_PENALTY_PER_SLOT: f64 = 0.5;

/// Methods whose answer depends on how far the node has caught up: those with an
/// emptiness rule, and the ones listing or pointing at the newest state.
fn freshness_sensitive(method: &str) -> bool {
    crate::jsonrpc::empty_rule(method) != crate::jsonrpc::EmptyRule::Never
        || matches!(
            method,
            "getSignaturesForAddress" | "getLatestBlockhash" | "getSlot" | "getBlockHeight"
        )
}

/// Indexes of `scores` from lowest to highest, ties by position.
pub(crate) fn order_by_score(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_ordered_by_score_then_position() {
        assert_eq!(order_by_score(&[5.0, 1.0, 3.0]), vec![1, 2, 0]);
        assert_eq!(order_by_score(&[1.0, 1.0]), vec![0, 1]);
        assert_eq!(order_by_score(&[]), Vec::<usize>::new());
    }

    #[test]
    fn freshness_sensitivity_follows_the_method() {
        assert!(freshness_sensitive("getTransaction"));
        assert!(freshness_sensitive("getAccountInfo"));
        assert!(freshness_sensitive("getSignaturesForAddress"));
        assert!(!freshness_sensitive("getVersion"));
        assert!(!freshness_sensitive("sendTransaction"));
    }
}
