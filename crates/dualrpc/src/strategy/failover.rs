//! `failover`: the best-scored endpoint; on failure (or an empty answer, or a node that
//! lacks the data) the next best, up to `max_attempts`.
//!
//! When to use: the default for anything not latency-critical. Upstream cost: one call
//! per request while endpoints are healthy. How it fails: each failed attempt adds its
//! latency (a timeout adds the whole attempt timeout) before the next one starts, so the
//! call deadline bounds the damage. Ranking is the plan's (see `select`).

use crate::attempt::{Attempts, Event, Verdict, Win};
use crate::error::ErrorReason;
use crate::select::Plan;

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    loop {
        // No attempt launches past the deadline (`launch_next` returns `None` then).
        if a.launched() as usize >= a.call.policy.max_attempts {
            break;
        }
        if a.launch_next(plan, false).is_none() {
            break;
        }
        match a.next().await {
            Event::Settled(s) => match a.note(s) {
                Verdict::Win(w) => return Ok(w),
                Verdict::Final(e) => return Err(e),
                Verdict::Continue => {}
            },
            Event::Deadline => break,
            Event::Idle | Event::Timer => {}
        }
    }
    a.finish()
}
