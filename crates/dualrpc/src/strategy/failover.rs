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

/// The retry round: one more attempt, all at once, on every endpoint readmitted by
/// [`Attempts::readmit_failed`]. Used by the pool when a strategy ended with only failures
/// or only empty answers and the deadline still allows: a transient 5xx, reset or stall is
/// usually gone on the next attempt, and with two providers of which one lags, retrying
/// the fresh one is the only way to a non-empty answer.
pub(crate) async fn retry_round(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    let readmitted: Vec<_> = plan
        .iter()
        .chain(plan.last_resort())
        .filter(|ep| a.is_readmitted(ep))
        .cloned()
        .collect();
    for ep in &readmitted {
        a.launch(ep);
    }
    match a.settle().await {
        Some(done) => done,
        None => a.finish(),
    }
}
