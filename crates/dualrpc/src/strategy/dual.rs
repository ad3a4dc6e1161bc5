//! `dual`: endpoints paired primary+secondary; a call goes to one pair, chosen by load
//! balancing, and races inside it; if both members fail, the next pair.
//!
//! When to use: steady polling such as `getSignaturesForAddress`, where racing every
//! provider would burn rate limits but a single provider's hiccup must not cost a cycle.
//! Upstream cost: two calls per request (one more pair per failed pair). Pairs come from
//! the config's roles (`primary[i]` with `secondary[i]`, the shorter list cycled) or, with
//! no roles, from consecutive endpoints in config order. The first pair is chosen by
//! smooth weighted round-robin over pair scores (`select`): equal pairs alternate, a slower
//! or failing pair gets proportionally fewer calls, and a pair is judged by the members
//! that can serve. Inside a pair a member whose circuit is open or that lags is skipped
//! while its partner can serve; the second member is an extra attempt, sent only while its
//! rate-limit budget has headroom — and asked after all if the first one fails.

use std::sync::Arc;

use crate::attempt::{Attempts, Win};
use crate::endpoint::Endpoint;
use crate::error::ErrorReason;
use crate::select::Plan;

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    let upstreams = a.cx.upstreams.clone();
    for pair in plan.pair_order(&upstreams) {
        if a.expired() {
            break;
        }
        let (p, s) = upstreams.pairs[pair];
        let mut members: Vec<&Arc<Endpoint>> = vec![&upstreams.endpoints[p]];
        if s != p {
            members.push(&upstreams.endpoints[s]);
        }
        // Members the plan prefers (fresh, circuit closed) go first; the others only if
        // neither member is preferred.
        let preferred: Vec<&Arc<Endpoint>> = members
            .iter()
            .copied()
            .filter(|e| plan.is_preferred(e))
            .collect();
        if !preferred.is_empty() {
            members = preferred;
        }
        // The better-ranked member first.
        members.sort_by_key(|e| plan.iter().position(|o| o.index == e.index));
        let mut launched = false;
        for ep in &members {
            launched |= if launched {
                a.launch_extra(ep)
            } else {
                a.launch(ep)
            };
        }
        while launched {
            if let Some(done) = a.settle().await {
                return done;
            }
            // Everything out failed: a member skipped to save its budget is asked now.
            launched = members.iter().any(|ep| !a.tried(ep) && a.launch(ep));
        }
    }
    a.finish()
}
