//! The rounds of one call, in one place: the strategy's round, then — only if it got
//! nowhere — waiting for a rate-limit budget to refill, a last-resort attempt on endpoints
//! whose circuits are open, retry rounds and a last chance; then what the call reports
//! (stats, metrics, [`Reply`] or [`CallError`]).
//!
//! - **Budget wait**: when every endpoint's rate-limit budget is spent the call waits for
//!   the first refill rather than fail (or exceed a provider's limit), while its deadline
//!   allows; past it, `-32084`.
//! - **Last resort**: when every circuit is open, trying them beats failing untried.
//! - **Retry round** (`retries`, default 1; not for consensus, which re-asks its own
//!   voters): when the strategy ended with only failures or only empty answers and time is
//!   left, every endpoint whose last attempt *failed* gets one more attempt, at once — a
//!   transient 5xx, reset or stall is usually gone on the next attempt, and with two
//!   providers of which one lags, retrying the fresh one is the only way to a non-empty
//!   answer. An agreed node error or a deterministic error is an answer, not a failure,
//!   and is never retried.
//! - **Last chance** (unless `retries = 0`): still nothing usable and time left — every
//!   endpoint not asked or whose last attempt failed is asked once more, open circuits
//!   included; endpoints cooling down after a 429 are asked when the first cool-down ends,
//!   if that is before the deadline. `max_attempts` bounds the strategy's own round; the
//!   retry round and the last chance add at most one attempt per endpoint each.
//! - **Freshness window** (`attempt/freshen.rs`): a usable answer may wait for a fresher
//!   one from attempts still out; an endpoint that may be fresher but whose attempt failed
//!   on its connection (or said it is unhealthy) gets one more (extra) attempt, once per
//!   call, unless the retry round readmitted it already.

use std::sync::Arc;
use std::time::Duration;

use crate::attempt::{Attempts, Call, Context, Event, Verdict, Win};
use crate::catalog::Compare;
use crate::clock;
use crate::endpoint::Endpoint;
use crate::error::{CallError, ErrorReason};
use crate::policy::Strategy;
use crate::reply::{Agreement, Reply};
use crate::select::Plan;
use crate::strategy;

/// Runs `call` to its end.
pub(crate) async fn execute(cx: &Context, call: &Call) -> Result<Reply, CallError> {
    let strategy = call.policy.strategy;
    if strategy == Strategy::Hedge {
        // One deposit per call, however many times the strategy runs below.
        cx.hedge_budget.deposit();
    }
    let mut plan = Plan::build(&cx.upstreams, &call.method, call.info, call.started);
    let mut a = Attempts::new(call, cx);
    let mut result = strategy::run(strategy, &mut a, &plan).await;
    while a.launched() == 0 && a.budget_blocked {
        // The first refill among the endpoints the plan would use (an endpoint kept out by
        // its circuit may have a full bucket and is no reason to wake up).
        let now = clock::now();
        let wait = plan
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
            if !unsatisfied(&result) || a.expired() {
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
    // Still nothing usable and time left: a last chance for every endpoint not asked or
    // whose last attempt failed (see `last_chance`).
    // Consensus does both inside its vote: an answer from here would be unconfirmed.
    let consensus = strategy == Strategy::Consensus;
    if !consensus && call.policy.retries > 0 && unsatisfied(&result) && !a.expired() {
        result = match a.restore(result) {
            Ok(()) => {
                a.readmit_failed();
                let candidates: Vec<_> = plan
                    .iter()
                    .chain(plan.last_resort())
                    .filter(|ep| !a.tried(ep))
                    .cloned()
                    .collect();
                // Boxed, as `await_late` below: rare paths, kept out of every call's future.
                Box::pin(last_chance(&mut a, candidates)).await
            }
            Err(other) => Err(other),
        };
    }
    // Nothing else to try: an attempt past its timeout may still answer before the
    // deadline, and a late success beats an empty answer or a failure.
    if !consensus && unsatisfied(&result) {
        result = Box::pin(a.await_late(result)).await;
    }
    // A usable answer: a fresher one from an attempt still out may be worth a few
    // milliseconds (`freshness_window`). Consensus returns what its quorum agreed on; a
    // merged list already took every list of its window (one provider's list arriving
    // later must not replace the union).
    let merged = strategy == Strategy::Merge && call.info.compare == Compare::SignatureList;
    if !consensus
        && !merged
        && let Ok(win) = result
    {
        result = Ok(a.freshen(win, &plan).await);
    }
    report(cx, call, result, a.launched())
}

/// Whether a round's result leaves room for a better one: only failures, only empty
/// answers, or only answers older than the call's floor.
fn unsatisfied(result: &Result<Win, ErrorReason>) -> bool {
    match result {
        Ok(win) => win.wanting(),
        Err(reason) => matches!(reason, ErrorReason::AllFailed { .. }),
    }
}

/// Failover over endpoints whose circuits are open, best first, bypassing the breaker (not
/// a 429's cool-down): a probable failure is better than a certain one.
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

/// The last chance of a call that has nothing usable yet: every one of `candidates` at
/// once, bypassing open circuits (the attempt doubles as a probe); then, if that did not
/// do, those that were cooling down after a 429 as soon as the first cool-down ends, if it
/// ends before the deadline. A provider's `Retry-After` is honoured, never cut short.
async fn last_chance(
    a: &mut Attempts<'_>,
    candidates: Vec<Arc<Endpoint>>,
) -> Result<Win, ErrorReason> {
    let now = clock::now();
    let (cooling, free): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|e| e.stats.cooling_until(now).is_some());
    for ep in &free {
        a.launch_forced(ep);
    }
    let result = match a.settle().await {
        Some(done) => done,
        None => a.finish(),
    };
    if !unsatisfied(&result) || cooling.is_empty() {
        return result;
    }
    let now = clock::now();
    let Some(first) = cooling
        .iter()
        .filter_map(|e| e.stats.cooling_until(now))
        .min()
    else {
        return result;
    };
    if first >= a.call.deadline {
        return result;
    }
    // Wait out the cool-down — taking a late success that arrives meanwhile.
    loop {
        match a.next_until(Some(first)).await {
            Event::Settled(s) => {
                if let Verdict::Win(w) = a.note(s) {
                    return Ok(w);
                }
            }
            Event::Timer | Event::Deadline => break,
            Event::Idle => {
                tokio::time::sleep_until(first).await;
                break;
            }
        }
    }
    if a.expired() {
        return result;
    }
    a.restore(result)?;
    for ep in &cooling {
        a.launch_forced(ep);
    }
    match a.settle().await {
        Some(done) => done,
        None => a.finish(),
    }
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
        // Its failure may just have opened its circuit: this call still wants its answer.
        if !a.launch(ep) {
            a.launch_forced(ep);
        }
    }
    match a.settle().await {
        Some(done) => done,
        None => a.finish(),
    }
}

/// Records the call's end (winner's stats, metrics) and builds what the caller gets.
fn report(
    cx: &Context,
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
            cx.metrics
                .call(call.info, strategy, label, attempts, latency);
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
                slot: win.slot,
                stale: (win.behind > 0).then_some(win.behind),
            })
        }
        Err(reason) => {
            let err = CallError {
                reason,
                strategy,
                attempts,
                latency,
            };
            cx.metrics
                .call(call.info, strategy, err.label(), attempts, latency);
            Err(err)
        }
    }
}
