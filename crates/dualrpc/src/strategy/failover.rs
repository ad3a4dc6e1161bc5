//! `failover`: the best-scored endpoint; on failure (or an empty answer) the next best,
//! up to `max_attempts`.
//!
//! When to use: the default for anything not latency-critical. Upstream cost: one call
//! per request while endpoints are healthy. How it fails: each failed attempt adds its
//! latency (a timeout adds the whole attempt timeout) before the next one starts, so the
//! call deadline bounds the damage. The plan's first choice is made by
//! power-of-two-choices, so load spreads across good endpoints instead of piling onto one.

use super::{Attempts, Event, Verdict, Win};
use crate::error::ErrorReason;
use crate::select::Plan;

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    for ep in plan.iter() {
        if a.launched() as usize >= a.ctx.max_attempts || a.expired() {
            break;
        }
        if !a.launch(ep) {
            continue;
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

/// Failover over endpoints whose circuits are open, bypassing the breaker: used by the
/// pool only when no endpoint could be tried at all, because a probable failure is still
/// better than a certain one.
pub(crate) async fn last_resort(
    a: &mut Attempts<'_>,
    endpoints: &[std::sync::Arc<crate::endpoint::Endpoint>],
) -> Result<Win, ErrorReason> {
    for ep in endpoints.iter().take(a.ctx.max_attempts) {
        if !a.launch_forced(ep) {
            continue;
        }
        if let Some(done) = a.settle().await {
            return done;
        }
    }
    a.finish()
}
