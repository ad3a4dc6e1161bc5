//! The rounds of one call, in one place: the strategy's round, then — only if it got
//! nowhere — waiting for a rate-limit budget to refill, a last-resort attempt on endpoints
//! whose circuits are open, and retry rounds; then what the call reports (stats, metrics,
//! [`Reply`] or [`CallError`]).
//!
//! - **Budget wait**: when every endpoint's rate-limit budget is spent the call waits for
//!   the first refill rather than fail (or exceed a provider's limit), while its deadline
//!   allows; past it, `-32084`.
//! - **Last resort**: when every circuit is open, trying the best of them beats failing
//!   without trying.
//! - **Retry round** (`retries`, default 1; not for consensus, which re-asks its own
//!   voters): when the strategy ended with only failures or only empty answers and time is
//!   left, every endpoint whose last attempt *failed* gets one more attempt, at once — a
//!   transient 5xx, reset or stall is usually gone on the next attempt, and with two
//!   providers of which one lags, retrying the fresh one is the only way to a non-empty
//!   answer. An agreed node error or a deterministic error is an answer, not a failure,
//!   and is never retried.

use std::sync::Arc;
use std::time::Duration;

use crate::attempt::{Attempts, Call, Context, Win};
use crate::clock;
use crate::endpoint::Endpoint;
use crate::error::{CallError, ErrorReason};
use crate::policy::Strategy;
use crate::reply::{Agreement, Reply};
use crate::select::Plan;
use crate::{strategy, telemetry};

/// Runs `call` to its end.
pub(crate) async fn execute(cx: &Context, call: &Call) -> Result<Reply, CallError> {
    let strategy = call.policy.strategy;
    let mut plan = Plan::build(&cx.upstreams, &call.method, call.info, clock::now());
    let mut a = Attempts::new(call, cx);
    let mut result = strategy::run(strategy, &mut a, &plan).await;
    while a.launched() == 0 && a.budget_blocked {
        let now = clock::now();
        let wait = cx
            .upstreams
            .endpoints
            .iter()
            .map(|e| e.stats.budget_wait(now, e.weight(&call.method)))
            .min()
            .unwrap_or_default()
            .max(Duration::from_millis(1));
        if now + wait >= call.deadline {
            result = Err(ErrorReason::OverBudget);
            break;
        }
        tokio::time::sleep(wait).await;
        a.budget_blocked = false;
        plan = Plan::build(&cx.upstreams, &call.method, call.info, clock::now());
        result = strategy::run(strategy, &mut a, &plan).await;
    }
    let over_budget = matches!(result, Err(ErrorReason::OverBudget));
    if a.launched() == 0 && !over_budget && !plan.last_resort().is_empty() {
        result = last_resort(&mut a, plan.last_resort()).await;
    }
    if strategy != Strategy::Consensus {
        for _ in 0..call.policy.retries {
            let unsatisfied = match &result {
                Ok(win) => win.missing > 0,
                Err(reason) => matches!(reason, ErrorReason::AllFailed { .. }),
            };
            if !unsatisfied || a.expired() {
                break;
            }
            if let Err(other) = a.restore(result) {
                result = Err(other);
                break;
            }
            if a.readmit_failed() == 0 {
                result = a.finish();
                break;
            }
            result = retry_round(&mut a, &plan).await;
        }
    }
    report(call, result, a.launched())
}

/// Failover over endpoints whose circuits are open, bypassing the breaker.
async fn last_resort(
    a: &mut Attempts<'_>,
    endpoints: &[Arc<Endpoint>],
) -> Result<Win, ErrorReason> {
    for ep in endpoints.iter().take(a.call.policy.max_attempts) {
        if !a.launch_forced(ep) {
            continue;
        }
        if let Some(done) = a.settle().await {
            return done;
        }
    }
    a.finish()
}

/// One more attempt, all at once, on every endpoint readmitted by
/// [`Attempts::readmit_failed`].
async fn retry_round(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
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

/// Records the call's end (winner's stats, metrics) and builds what the caller gets.
fn report(
    call: &Call,
    result: Result<Win, ErrorReason>,
    attempts: u32,
) -> Result<Reply, CallError> {
    let latency = clock::now().saturating_duration_since(call.started);
    let strategy = call.policy.strategy;
    match result {
        Ok(win) => {
            win.endpoint.stats.record_win();
            win.endpoint.metrics().win();
            let empty = win.missing > 0;
            let label = if empty { "empty" } else { "success" };
            telemetry::call(call.info.label, strategy, label, attempts, latency);
            Ok(Reply {
                result: win.result,
                endpoint: win.endpoint.name.clone(),
                strategy,
                attempts,
                latency,
                empty,
                cached: false,
                coalesced: false,
                agreement: win
                    .agreement
                    .map(|(agreed, quorum)| Agreement { agreed, quorum }),
            })
        }
        Err(reason) => {
            let err = CallError {
                reason,
                strategy,
                attempts,
                latency,
            };
            telemetry::call(call.info.label, strategy, err.label(), attempts, latency);
            Err(err)
        }
    }
}
