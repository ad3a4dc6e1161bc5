//! `consensus`: several endpoints at once; the answer is returned once `quorum` *distinct*
//! endpoints agree on it.
//!
//! When to use: reads where a wrong answer costs more than a slow one (`getTransaction`
//! before acting on a launch). Upstream cost: `fanout` calls per request (default: every
//! preferred endpoint, at least `quorum`). Agreement is decided by the method's comparison
//! rule (`agree`): `value` of `{context, value}` results, signature lists over the range
//! every answer covers.
//!
//! Votes: each endpoint has at most one — its non-empty answer. An error or an empty
//! answer is no vote (a node that has not seen a transaction yet is not saying it does
//! not exist). When failures make the quorum unreachable, untried endpoints are called,
//! then endpoints that failed are asked once more each. An empty voter is asked again after 50 ms,
//! 100 ms, 200 ms … while someone else has an answer — unless the health loop measured it
//! behind the best endpoint, since a lagging node cannot confirm new data until it catches
//! up (with `consensus_fallback = "error"` it is asked again anyway).
//!
//! Verdict: at the quorum, the first agreeing answer (the freshest, for lists), with
//! `k/quorum` agreement. When no more votes can come — nothing out, nothing to re-ask, or
//! the deadline; or every voter still out lags and has not reached the slot the answer is
//! about, so it cannot confirm it yet — an answer nothing contradicts is returned with
//! how many agreed
//! (`x-dualrpc-agreement: 1/2`) under `consensus_fallback = "accept"` (the default), or
//! `-32082` under `"error"`. A contradicted answer is never returned: two different
//! answers end in `-32082` listing who said what. Only empty answers: that is all there is.

use std::sync::Arc;
use std::time::Duration;

use super::agree::Form;
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

/// Answers that agree: their form and who gave them, first arrival first.
struct Group {
    form: Form,
    members: Vec<Win>,
    /// The slot the first answer is about (`slot` of a transaction or block,
    /// `context.slot`), if it says.
    slot: Option<u64>,
}

/// The votes of one call.
struct Tally {
    groups: Vec<Group>,
    /// Latest empty answer per endpoint that gave one and has not voted since.
    empties: Vec<Win>,
    /// Endpoints that voted.
    voted: Vec<bool>,
}

impl Tally {
    fn vote(&mut self, w: Win, compare: crate::catalog::Compare) -> usize {
        let i = w.endpoint.index;
        self.empties.retain(|e| e.endpoint.index != i);
        if std::mem::replace(&mut self.voted[i], true) {
            return usize::MAX; // One vote per endpoint: a second answer changes nothing.
        }
        let form = Form::of(compare, &w.result);
        let idx = match self.groups.iter().position(|g| g.form.agrees(&form)) {
            Some(idx) => idx,
            None => {
                self.groups.push(Group {
                    form,
                    slot: answer_slot(&w.result),
                    members: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        self.groups[idx].members.push(w);
        idx
    }

    fn best_support(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.members.len())
            .max()
            .unwrap_or(0)
    }

    /// The answer of group `idx`, with its agreement; the other groups' members are
    /// counted as disagreeing.
    fn conclude(mut self, idx: usize, quorum: usize) -> Win {
        let group = self.groups.swap_remove(idx);
        for loser in self.groups.iter().flat_map(|g| &g.members) {
            loser.endpoint.metrics().disagreement();
        }
        let agreed = group.members.len() as u32;
        // Agreeing lists may differ in their newest entries: return the freshest.
        let pick = match group.form {
            Form::List(_) => group
                .members
                .iter()
                .enumerate()
                .max_by_key(|(i, m)| {
                    let newest =
                        Form::of(crate::catalog::Compare::SignatureList, &m.result).newest();
                    (newest, std::cmp::Reverse(*i))
                })
                .map_or(0, |(i, _)| i),
            Form::Canonical(_) => 0,
        };
        let mut win = group
            .members
            .into_iter()
            .nth(pick)
            .expect("a group has members");
        win.agreement = Some((agreed, quorum as u32));
        win
    }
}

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    let n = a.cx.upstreams.endpoints.len();
    let quorum = a.call.policy.quorum.min(n).max(1);
    let fallback = a.call.policy.fallback;
    let compare = a.call.info.compare;
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
    let mut tally = Tally {
        groups: Vec::new(),
        empties: Vec::new(),
        voted: vec![false; n],
    };
    // Endpoints to ask again, and when; per endpoint the next re-ask delay and whether a
    // failure was already asked again.
    let mut reasks: Vec<(Instant, Arc<Endpoint>)> = Vec::new();
    let mut backoff = vec![REASK_FIRST_DELAY; n];
    let mut retried = vec![false; n];
    // Endpoints that failed and may be asked once more, when no untried one is left.
    let mut failed: Vec<Arc<Endpoint>> = Vec::new();
    let deadline = a.call.deadline;
    // Whether an empty voter is worth asking again (module doc).
    let may_reask = |ep: &Endpoint| fallback == ConsensusFallback::Error || plan.lag(ep.index) == 0;
    loop {
        // Can what is out and scheduled still make a quorum? If not, ask untried
        // endpoints first, then those that failed, once more each.
        let mut short = quorum.saturating_sub(tally.best_support() + a.pending() + reasks.len());
        while short > 0 && a.launch_next(plan, false).is_some() {
            short -= 1;
        }
        while short > 0 && !failed.is_empty() && !a.expired() {
            if a.relaunch(&failed.remove(0)) {
                short -= 1;
            }
        }
        let timer = reasks.iter().map(|(t, _)| *t).min();
        if a.pending() == 0 && timer.is_none() {
            // Nothing within its timeout out and nothing to re-ask: no vote can come in
            // time (a voter past its timeout is not waited for).
            break;
        }
        if fallback == ConsensusFallback::Accept
            && timer.is_none()
            && let Some(slot) = tally.groups.first().and_then(|g| g.slot)
            && tally.groups.len() == 1
            && plan
                .iter()
                .filter(|ep| a.out(ep))
                .all(|ep| plan.lag(ep.index) > 0 && ep.stats.slot().is_none_or(|s| s < slot))
        {
            // Everyone still out lags and has not reached the answer's slot: none of them
            // can confirm it yet, so waiting only adds their latency.
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
                match a.note(s) {
                    Verdict::Win(w) => {
                        let idx = tally.vote(w, compare);
                        if idx != usize::MAX && tally.groups[idx].members.len() >= quorum {
                            return Ok(tally.conclude(idx, quorum));
                        }
                        // Someone knows more than the empty voters: ask them again.
                        for e in &tally.empties {
                            if may_reask(&e.endpoint) {
                                schedule(&mut reasks, &mut backoff, &e.endpoint, deadline);
                            }
                        }
                    }
                    Verdict::Final(e) => return Err(e),
                    Verdict::Continue => {
                        if let Some(empty) = a.take_empty() {
                            tally
                                .empties
                                .retain(|e| e.endpoint.index != empty.endpoint.index);
                            if !tally.groups.is_empty() && may_reask(&empty.endpoint) {
                                schedule(&mut reasks, &mut backoff, &empty.endpoint, deadline);
                            }
                            tally.empties.push(empty);
                        } else if !tally.voted[ep.index]
                            && !std::mem::replace(&mut retried[ep.index], true)
                        {
                            failed.push(ep);
                        }
                    }
                }
            }
            Event::Timer => {
                let now = clock::now();
                let (due, later): (Vec<_>, Vec<_>) = reasks.drain(..).partition(|(t, _)| *t <= now);
                reasks = later;
                for (_, ep) in due {
                    a.relaunch(&ep);
                }
            }
            Event::Idle | Event::Deadline => break,
        }
    }
    match tally.groups.len() {
        1 if fallback == ConsensusFallback::Accept => Ok(tally.conclude(0, quorum)),
        0 if !tally.empties.is_empty() => {
            // Every answer was empty: that is all there is.
            Ok(tally.empties.swap_remove(0))
        }
        0 => a.finish(),
        _ => {
            let mut votes: Vec<Vec<String>> = tally
                .groups
                .iter()
                .map(|g| {
                    g.members
                        .iter()
                        .map(|w| w.endpoint.name.to_string())
                        .collect()
                })
                .collect();
            if !tally.empties.is_empty() {
                votes.push(
                    tally
                        .empties
                        .iter()
                        .map(|w| format!("{} (empty)", w.endpoint.name))
                        .collect(),
                );
            }
            if tally.groups.len() > 1 {
                for w in tally.groups.iter().flat_map(|g| &g.members) {
                    w.endpoint.metrics().disagreement();
                }
            }
            Err(ErrorReason::NoQuorum {
                quorum,
                votes,
                failures: a.take_failures(),
            })
        }
    }
}

/// The slot an answer is about: `context.slot` of `{context, value}` results, else a
/// top-level `slot` (transactions, blocks).
fn answer_slot(result: &crate::jsonrpc::RawJson) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Context {
        slot: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        context: Option<Context>,
        slot: Option<u64>,
    }
    let head: Head = serde_json::from_str(result.get()).ok()?;
    head.context.and_then(|c| c.slot).or(head.slot)
}

/// Schedules `ep` to be asked again after its current backoff (doubling it), unless that
/// would be past the deadline or it is already scheduled.
fn schedule(
    reasks: &mut Vec<(Instant, Arc<Endpoint>)>,
    backoff: &mut [Duration],
    ep: &Arc<Endpoint>,
    deadline: Instant,
) {
    if reasks.iter().any(|(_, e)| e.index == ep.index) {
        return;
    }
    let wait = &mut backoff[ep.index];
    let at = clock::now() + *wait;
    *wait *= 2;
    if at < deadline {
        reasks.push((at, ep.clone()));
    }
}
