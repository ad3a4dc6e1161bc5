//! `hedge`: the best endpoint first; if it has not answered after an adaptive delay, or as
//! soon as it fails, the next best; the first usable success wins.
//!
//! From Dean & Barroso, "The Tail at Scale" (CACM 2013): a hedged request is sent after the
//! first has been outstanding longer than a high percentile of its expected latency, which
//! cuts the tail at a few percent of extra load. Here the delay is the configured
//! percentile (default p90) of the *awaited* endpoint's recent latency for this method,
//! floored at `min_delay_ms`, or `initial_delay_ms` while it has too few samples. Extra
//! attempts fired by the delay draw on a pool-wide hedge budget (`hedge.budget` hedges per
//! call on average; each call deposits once, in `rounds`); attempts that replace a failed one do not, since they add no load
//! over failover. At most `max_attempts` attempts per call.

use std::time::Duration;

use crate::attempt::{Attempts, Event, Verdict, Win};
use crate::clock::{self, Instant};
use crate::endpoint::Endpoint;
use crate::error::ErrorReason;
use crate::select::Plan;

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    let mut timer = launch(a, plan, false);
    loop {
        match a.next_until(timer).await {
            Event::Settled(s) => match a.note(s) {
                Verdict::Win(w) => return Ok(w),
                Verdict::Final(e) => return Err(e),
                // A failed or empty answer: the next attempt goes out at once, unbudgeted.
                Verdict::Continue => {
                    if let Some(t) = launch(a, plan, false) {
                        timer = Some(t);
                    } else if a.pending() > 0 {
                        // Nothing left to launch: wait on what is out, without a timer.
                        timer = None;
                    } else {
                        // Only attempts past their timeout are out: the rounds go on.
                        return a.finish();
                    }
                }
            },
            Event::Timer => {
                timer = launch(a, plan, true);
                if timer.is_none() && a.pending() == 0 {
                    return a.finish();
                }
            }
            Event::Idle => match launch(a, plan, false) {
                // Everything out has settled; try once more before giving up.
                Some(t) => timer = Some(t),
                None => return a.finish(),
            },
            Event::Deadline => return a.finish(),
        }
    }
}

/// Launches the next candidate and returns when its hedge timer fires. A `hedge` (an
/// attempt on top of one still running) must first get a token from the budget and is an
/// extra attempt; one that replaces a failed attempt adds no load over failover and needs
/// neither.
fn launch(a: &mut Attempts<'_>, plan: &Plan, hedge: bool) -> Option<Instant> {
    if a.launched() as usize >= a.call.policy.max_attempts {
        return None;
    }
    if hedge && plan.iter().all(|e| a.tried(e)) {
        return None;
    }
    if hedge && !a.cx.hedge_budget.try_withdraw() {
        crate::telemetry::hedge(false);
        return None;
    }
    match a.launch_next(plan, hedge) {
        Some(ep) => {
            if hedge {
                crate::telemetry::hedge(true);
            }
            Some(clock::now() + awaited_delay(a, &ep))
        }
        None => {
            if hedge {
                // No endpoint could take the hedge (circuits, rate budgets): it did not
                // happen.
                a.cx.hedge_budget.refund();
            }
            None
        }
    }
}

/// The hedge delay while waiting on `ep`.
fn awaited_delay(a: &Attempts<'_>, ep: &Endpoint) -> Duration {
    let h = &a.cx.hedge;
    let q = ep
        .stats
        .latency_quantile(clock::now(), &a.call.method, h.percentile);
    delay(q, h.min_delay, h.initial_delay)
}

/// The hedge delay for an endpoint given its measured quantile (if any) and the settings:
/// the quantile floored at `min`, or `initial` while unmeasured.
pub(crate) fn delay(quantile: Option<Duration>, min: Duration, initial: Duration) -> Duration {
    quantile.unwrap_or(initial).max(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_follows_the_measured_percentile_with_floor_and_fallback() {
        let ms = Duration::from_millis;
        assert_eq!(delay(Some(ms(37)), ms(2), ms(50)), ms(37));
        assert_eq!(delay(Some(ms(1)), ms(2), ms(50)), ms(2));
        assert_eq!(delay(None, ms(2), ms(50)), ms(50));
    }
}
