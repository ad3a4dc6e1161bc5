//! Endpoint selection: from measured stats to an ordered [`Plan`] that strategies walk.
//!
//! Like pingora's backend selection, selection produces an *ordered plan* (first choice,
//! then fallbacks) rather than a single pick, so every strategy shares one ranking and the
//! ranking is testable without I/O. Endpoints fall into tiers:
//!
//! 1. **preferred** — circuit closed (or due a probe) and not lagging: ordered by score
//!    ([`crate::stats::EndpointStats::score`]: latency × load ÷ success), with the first
//!    place decided by **power-of-two-choices** (Mitzenmacher, "The Power of Two Choices in
//!    Randomized Load Balancing", 2001; also Finagle's and tower's `p2c` balancers): two
//!    random candidates, the better one first. Always taking the single best endpoint
//!    would herd every call onto it; p2c keeps most of the benefit while spreading load;
//! 2. **lagging** — admissible but more than `max_slot_lag` slots behind: used only after
//!    every preferred endpoint, so they never serve fresh data first;
//! 3. **last resort** — circuit open or cooling down after a 429: not in the plan; the
//!    pool turns to them only when nothing else could be tried.

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
        for ep in endpoints {
            let score = ep.stats.score(method);
            if ep.stats.peek(now) == Admission::Rejected {
                out.push((score, ep.clone()));
            } else if ep.stats.lagging() {
                lagging.push((score, ep.clone()));
            } else {
                fresh.push((score, ep.clone()));
            }
        }
        let scores: Vec<f64> = fresh.iter().map(|(s, _)| *s).collect();
        let mut order: Vec<Arc<Endpoint>> = order_by_p2c(&scores)
            .into_iter()
            .map(|i| fresh[i].1.clone())
            .collect();
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

/// Orders candidates by score (lower first, ties by position), then moves the winner of
/// a power-of-two-choices draw to the front. With two candidates the draw always compares
/// both, so the order is deterministic.
pub(crate) fn order_by_p2c(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    if scores.len() > 2 {
        let i = fastrand::usize(..scores.len());
        let mut j = fastrand::usize(..scores.len() - 1);
        if j >= i {
            j += 1;
        }
        // The better of the two draws, by its rank in `order`.
        let rank = |x: usize| {
            order
                .iter()
                .position(|&o| o == x)
                .expect("index is in order")
        };
        let first = if rank(i) <= rank(j) { i } else { j };
        order.retain(|&o| o != first);
        order.insert(0, first);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_candidates_are_ordered_by_score_deterministically() {
        assert_eq!(order_by_p2c(&[5.0, 1.0]), vec![1, 0]);
        assert_eq!(order_by_p2c(&[1.0, 1.0]), vec![0, 1]);
        assert_eq!(order_by_p2c(&[]), Vec::<usize>::new());
    }

    #[test]
    fn p2c_never_puts_the_worst_first_and_spreads_first_choice() {
        let scores = [10.0, 20.0, 30.0, 40.0];
        let mut firsts = [0usize; 4];
        for _ in 0..4000 {
            let o = order_by_p2c(&scores);
            assert_eq!(o.len(), 4);
            let mut sorted = o.clone();
            sorted.sort();
            assert_eq!(sorted, vec![0, 1, 2, 3]);
            firsts[o[0]] += 1;
            // Apart from the first, the rest stays in score order.
            let rest: Vec<usize> = o[1..].to_vec();
            let mut by_score = rest.clone();
            by_score.sort();
            assert_eq!(rest, by_score);
        }
        assert_eq!(
            firsts[3], 0,
            "the worst candidate never wins a two-choice draw"
        );
        // Expected shares: best 3/6, second 2/6, third 1/6.
        assert!(
            firsts[0] > firsts[1] && firsts[1] > firsts[2] && firsts[2] > 0,
            "{firsts:?}"
        );
    }
}
