//! `consensus`: several endpoints at once; the answer is returned once `quorum` *distinct*
//! endpoints agree on it.
//!
//! When to use: reads where a wrong answer costs more than a slow one (`getTransaction`
//! before acting on a launch). Upstream cost: `fanout` calls per request (default: every
//! preferred endpoint, at least `quorum`). Agreement is decided by the method's comparison
//! rule (`agree`): `value` of `{context, value}` results, signature lists over the range
//! every answer covers.
//!
//! Votes: each endpoint has at most one — its non-empty answer (`tally`). An error or an
//! empty answer is no vote (a node that has not seen a transaction yet is not saying it
//! does not exist). When failures make the quorum unreachable, untried endpoints are
//! called, then endpoints that failed are asked once more each (past an open circuit; a
//! 429's cool-down is waited out if it ends before the deadline) and again with backoff
//! while the call lasts, then endpoints kept out by their circuits or a cool-down — all of
//! it inside the vote, so nothing reaches the
//! caller unconfirmed except through the fallback below. An empty voter is asked again
//! after 50 ms, 100 ms, 200 ms … while someone else has an answer — unless the health loop
//! measured it behind the best endpoint or behind the slot the answer is about, since such
//! a node cannot confirm new data until it catches up (with `consensus_fallback = "error"`
//! it is asked again anyway). A
//! voter past its attempt timeout may still vote late, and is waited for while there is
//! nothing else to conclude.
//!
//! Verdict: at the quorum, the first agreeing answer (the freshest, for lists), with
//! `k/quorum` agreement. When no more votes can come — nothing out, nothing to re-ask, or
//! the deadline; or every voter still out lags and has not reached the slot the answer is
//! about, so it cannot confirm it yet — an answer nothing contradicts is returned with
//! how many agreed
//! (`x-dualrpc-agreement: 1/2`) under `consensus_fallback = "accept"` (the default), or
//! `-32082` under `"error"`. A contradicted answer is never returned: two different
//! answers end in `-32082` listing who said what. Only empty answers: that is all there is.

mod tally;

use std::sync::Arc;
use std::time::Duration;

use tally::{Tally, Vote};

use crate::attempt::{Attempts, Event, Verdict, Win};
use crate::clock::{self, Instant};
use crate::endpoint::Endpoint;
use crate::error::ErrorReason;
use crate::policy::ConsensusFallback;
use crate::select::Plan;

/// First wait before asking an empty voter again; doubles for each further re-ask. About
/// a quarter of a slot: a node that has the slot but not yet the transaction usually has
/// it within a few re-asks.
const REASK_FIRST_DELAY: Duration = Duration::from_millis(50);

/// Slots an endpoint's last health reading must be past an answer's slot for it to be
/// counted on to have seen that slot at `confirmed` commitment.
const SLOT_MARGIN: u64 = 2;

/// An endpoint to ask again at `at`; `forced` past its circuit.
struct Reask {
    at: Instant,
    ep: Arc<Endpoint>,
    forced: bool,
}

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    // Endpoints on another cluster are never asked: the quorum counts the others.
    let n = a.cx.upstreams.eligible();
    let quorum = a.call.policy.quorum.min(n).max(1);
    let fallback = a.call.policy.fallback;
    let fanout = a
        .call
        .policy
        .fanout
        .unwrap_or(plan.preferred_len())
        .max(quorum);
    // Votes up to the quorum are needed; more only with budget to spare.
    let mut launched = 0;
    while launched < fanout && a.launch_next(plan, launched >= quorum).is_some() {
        launched += 1;
    }
    let mut tally = Tally::new(a.call.info.compare, n);
    let mut reasks: Vec<Reask> = Vec::new();
    let mut backoff = vec![REASK_FIRST_DELAY; n];
    // Whether a failed endpoint was asked again already; the failed ones to ask again.
    let mut retried = vec![false; n];
    let mut failed: Vec<Arc<Endpoint>> = Vec::new();
    let mut benched_asked = false;
    let deadline = a.call.deadline;
    // Whether an empty voter is worth asking again (module doc).
    // Whether `ep` can confirm an answer about `slot`: it is not measured behind the best
    // endpoint, or its (processed, up to a health interval old) slot is clearly past the
    // answer's — a margin covers `confirmed` trailing `processed` and the reading's age.
    let can_confirm = |ep: &Endpoint, slot: Option<u64>| {
        plan.lag(ep.index) == 0
            || slot.is_some_and(|s| ep.stats.slot().is_some_and(|mine| mine >= s + SLOT_MARGIN))
    };
    // An empty (or failed) voter is asked again only if it can confirm the answer there is.
    let may_reask = |ep: &Endpoint, tally: &Tally| {
        let slot = tally.uncontradicted().and_then(|i| tally.groups[i].slot);
        fallback == ConsensusFallback::Error || can_confirm(ep, slot)
    };
    loop {
        // Can what is out and scheduled still make a quorum? If not, ask untried endpoints,
        // then those that failed, then those kept out.
        let mut short = quorum.saturating_sub(tally.best_support() + a.pending() + reasks.len());
        while short > 0 && a.launch_next(plan, false).is_some() {
            short -= 1;
        }
        while short > 0 && !failed.is_empty() && !a.expired() {
            let ep = failed.remove(0);
            if ask_again(a, &mut reasks, &ep, deadline) {
                short -= 1;
            }
        }
        if short > 0 && !std::mem::replace(&mut benched_asked, true) {
            for ep in plan.last_resort() {
                if !a.tried(ep) {
                    ask_again(a, &mut reasks, ep, deadline);
                }
            }
        }
        let timer = reasks.iter().map(|r| r.at).min();
        // Late votes matter while nothing can be concluded (or the fallback is an error).
        let late_votes_matter = a.slow_out() > 0
            && (tally.uncontradicted().is_none() || fallback == ConsensusFallback::Error);
        if a.pending() == 0 && timer.is_none() && !late_votes_matter {
            // Nothing within its timeout out and nothing to re-ask: no vote can come in
            // time.
            break;
        }
        if fallback == ConsensusFallback::Accept
            && let Some(idx) = tally.uncontradicted()
            && plan
                .iter()
                .filter(|ep| a.out(ep) || reasks.iter().any(|r| r.ep.index == ep.index))
                .all(|ep| !can_confirm(ep, tally.groups[idx].slot))
        {
            // Everyone still out or due to be asked again lags and has not reached the
            // answer's slot: none of them can confirm it yet, so waiting only adds latency.
            break;
        }
        let event = match a.next_until(timer).await {
            // Nothing in flight but re-asks are due later: wait for the first of them.
            Event::Idle if timer.is_some() => {
                tokio::time::sleep_until(timer.expect("checked").min(deadline)).await;
                if a.expired() {
                    Event::Deadline
                } else {
                    Event::Timer
                }
            }
            other => other,
        };
        match event {
            Event::Settled(s) => {
                let ep = s.endpoint.clone();
                // A node's error about its data would be said again: not worth a re-ask.
                let node_error = matches!(s.outcome, crate::outcome::Outcome::NodeError { .. });
                match a.note(s) {
                    Verdict::Win(w) => match tally.vote(w) {
                        Vote::Counted(idx) if tally.groups[idx].members.len() >= quorum => {
                            return Ok(tally.conclude(idx, quorum));
                        }
                        Vote::Counted(_) => {
                            // Someone knows more than the empty voters: ask them again.
                            for e in &tally.empties {
                                if may_reask(&e.endpoint, &tally) {
                                    schedule(
                                        &mut reasks,
                                        &mut backoff,
                                        &e.endpoint,
                                        deadline,
                                        false,
                                    );
                                }
                            }
                        }
                        Vote::Empty if !tally.groups.is_empty() && may_reask(&ep, &tally) => {
                            schedule(&mut reasks, &mut backoff, &ep, deadline, false);
                        }
                        Vote::Empty | Vote::Repeat => {}
                    },
                    Verdict::Final(e) => return Err(e),
                    Verdict::Continue => {
                        if let Some(empty) = a.take_empty() {
                            if !tally.groups.is_empty() && may_reask(&empty.endpoint, &tally) {
                                schedule(
                                    &mut reasks,
                                    &mut backoff,
                                    &empty.endpoint,
                                    deadline,
                                    false,
                                );
                            }
                            tally.empty(empty);
                        } else if node_error
                            || tally.voted[ep.index]
                            || (!tally.groups.is_empty() && !may_reask(&ep, &tally))
                        {
                            // Nothing to ask again: it would say the same, it voted, or it
                            // is behind the answer and cannot confirm it.
                        } else if !std::mem::replace(&mut retried[ep.index], true) {
                            // A failure: asked again at once when the quorum needs it…
                            failed.push(ep);
                        } else {
                            // …and after that with backoff, while the call lasts: a stalled
                            // or failed request says little about the next one.
                            schedule(&mut reasks, &mut backoff, &ep, deadline, true);
                        }
                    }
                }
            }
            Event::Timer => {
                let now = clock::now();
                let (due, later): (Vec<_>, Vec<_>) = reasks.drain(..).partition(|r| r.at <= now);
                reasks = later;
                for r in due {
                    if r.forced {
                        a.relaunch_forced(&r.ep);
                    } else {
                        a.relaunch(&r.ep);
                    }
                }
            }
            Event::Idle | Event::Deadline => break,
        }
    }
    match tally.uncontradicted() {
        Some(idx) if fallback == ConsensusFallback::Accept => Ok(tally.conclude(idx, quorum)),
        None if tally.groups.is_empty() => match tally.empties.is_empty() {
            // Every answer was empty: that is all there is.
            false => Ok(tally.empties.swap_remove(0)),
            true => a.finish(),
        },
        _ => Err(tally.no_quorum(quorum, a.take_failures())),
    }
}

/// Asks `ep` once more, past an open circuit; if it is cooling down after a 429, as soon as
/// the cool-down ends (if before the deadline). Whether it was asked or scheduled.
fn ask_again(
    a: &mut Attempts<'_>,
    reasks: &mut Vec<Reask>,
    ep: &Arc<Endpoint>,
    deadline: Instant,
) -> bool {
    match ep.stats.cooling_until(clock::now()) {
        Some(until) if until < deadline => {
            reasks.push(Reask {
                at: until,
                ep: ep.clone(),
                forced: true,
            });
            true
        }
        Some(_) => false,
        None => a.relaunch_forced(ep),
    }
}

/// Schedules `ep` to be asked again after its current backoff (doubling it), unless that
/// would be past the deadline or it is already scheduled. `forced`: past an open circuit,
/// and not before a running 429 cool-down ends.
fn schedule(
    reasks: &mut Vec<Reask>,
    backoff: &mut [Duration],
    ep: &Arc<Endpoint>,
    deadline: Instant,
    forced: bool,
) {
    if reasks.iter().any(|r| r.ep.index == ep.index) {
        return;
    }
    let now = clock::now();
    let wait = &mut backoff[ep.index];
    let mut at = now + *wait;
    *wait *= 2;
    if forced && let Some(until) = ep.stats.cooling_until(now) {
        at = at.max(until);
    }
    if at < deadline {
        reasks.push(Reask {
            at,
            ep: ep.clone(),
            forced,
        });
    }
}
