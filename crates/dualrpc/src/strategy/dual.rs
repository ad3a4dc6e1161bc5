//! `dual`: endpoints paired primary+secondary; a call goes to one pair, chosen by load
//! balancing, and races inside it; if both members fail, the next pair.
//!
//! When to use: steady polling such as `getSignaturesForAddress`, where racing every
//! provider would burn rate limits but a single provider's hiccup must not cost a cycle.
//! Upstream cost: two calls per request (one more pair per failed pair). Pairs come from
//! the config's roles (`primary[i]` with `secondary[i]`, the shorter list cycled) or, with
//! no roles, from consecutive endpoints in config order. Pairs are tried in order of their
//! score (their better member's score, which includes in-flight load), so concurrent calls
//! spread across pairs while favouring fast ones. Inside a pair a member whose circuit is open or that lags is skipped
//! while its partner can serve.

use std::sync::Arc;

use super::{Attempts, Win};
use crate::endpoint::Endpoint;
use crate::error::ErrorReason;
use crate::select::{self, Plan};

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    let shared = a.ctx.shared.clone();
    let method = a.ctx.method.clone();
    let scores: Vec<f64> = shared
        .endpoints
        .iter()
        .map(|e| e.stats.score(&method))
        .collect();
    let pair_scores: Vec<f64> = shared
        .pairs
        .iter()
        .map(|&(p, s)| scores[p].min(scores[s]))
        .collect();
    let order = select::order_by_score(&pair_scores);
    for pair in order {
        if a.expired() {
            break;
        }
        let (p, s) = shared.pairs[pair];
        let members: Vec<&Arc<Endpoint>> = [p, s].iter().map(|&i| &shared.endpoints[i]).collect();
        // Members the plan prefers (fresh, circuit closed) go first; the others only if
        // neither member is preferred.
        let preferred: Vec<&Arc<Endpoint>> = members
            .iter()
            .copied()
            .filter(|e| plan.is_preferred(e))
            .collect();
        let chosen = if preferred.is_empty() {
            members
        } else {
            preferred
        };
        let mut launched = false;
        for ep in chosen {
            // The pair's second member is an extra attempt: skipped when its budget is low.
            launched |= if launched {
                a.launch_extra(ep)
            } else {
                a.launch(ep)
            };
        }
        if !launched {
            continue;
        }
        if let Some(done) = a.settle().await {
            return done;
        }
    }
    a.finish()
}

/// Pairs endpoints for `dual`: by role when roles are given, else consecutive endpoints
/// in config order (an odd last endpoint is paired with the first). Indexes into the
/// endpoint list.
pub(crate) fn pairs(roles: &[crate::config::Role]) -> Vec<(usize, usize)> {
    use crate::config::Role;
    let primaries: Vec<usize> = (0..roles.len())
        .filter(|&i| roles[i] == Role::Primary)
        .collect();
    let secondaries: Vec<usize> = (0..roles.len())
        .filter(|&i| roles[i] == Role::Secondary)
        .collect();
    if !primaries.is_empty() && !secondaries.is_empty() {
        let n = primaries.len().max(secondaries.len());
        return (0..n)
            .map(|i| {
                (
                    primaries[i % primaries.len()],
                    secondaries[i % secondaries.len()],
                )
            })
            .collect();
    }
    match roles.len() {
        0 => Vec::new(),
        1 => vec![(0, 0)],
        n => (0..n)
            .step_by(2)
            .map(|i| (i, if i + 1 < n { i + 1 } else { 0 }))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role::{None as N, Primary as P, Secondary as S};

    #[test]
    fn pairs_by_role_cycle_the_shorter_list() {
        assert_eq!(pairs(&[P, S, P, S]), vec![(0, 1), (2, 3)]);
        assert_eq!(pairs(&[P, P, P, S]), vec![(0, 3), (1, 3), (2, 3)]);
        assert_eq!(pairs(&[S, P, N]), vec![(1, 0)]);
    }

    #[test]
    fn pairs_without_roles_follow_config_order() {
        assert_eq!(pairs(&[N, N, N, N]), vec![(0, 1), (2, 3)]);
        assert_eq!(pairs(&[N, N, N]), vec![(0, 1), (2, 0)]);
        assert_eq!(pairs(&[N]), vec![(0, 0)]);
    }
}
