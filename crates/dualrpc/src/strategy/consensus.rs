//! `consensus`: several endpoints at once; the answer is returned once `quorum` of them
//! agree on the result.
//!
//! When to use: reads where a wrong answer costs more than a slow one (`getTransaction`
//! before acting on a launch). Upstream cost: `fanout` calls per request (default: every
//! preferred endpoint, at least `quorum`). Agreement compares a canonical form of the
//! result — for `{context, value}` results only `value`, since nodes legitimately differ
//! in `context.slot` — with object keys sorted and whitespace dropped, because providers
//! differ in both. An endpoint's error is a missing vote, not a disagreement; when missing
//! votes make the quorum unreachable, untried endpoints are called. An empty answer
//! (`null` for a transaction another endpoint already returned) is not a vote against: the
//! node is behind, so it is asked again after 50 ms, 100 ms, 200 ms … until the deadline,
//! which turns "one provider lags a slot" from a failed call into a slower agreed one.
//! Empty answers only win if nothing else can: when every answer is empty they form the
//! group, considered after every attempt has settled. The returned response is one of
//! the agreeing ones (the first to arrive); endpoints outside the winning group are
//! counted as disagreeing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::{Attempts, Event, Verdict, Win};
use crate::endpoint::Endpoint;
use crate::error::ErrorReason;
use crate::select::Plan;

/// First wait before asking an empty voter again; doubles for each further re-ask. About
/// a quarter of a slot: a node one slot behind usually has the data within a few re-asks.
const REASK_FIRST_DELAY: Duration = Duration::from_millis(50);

/// Answers that agree: their canonical form and who gave them, first arrival first.
struct Group {
    canonical: String,
    members: Vec<Win>,
}

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    let quorum = a.ctx.quorum.min(a.ctx.shared.endpoints.len()).max(1);
    let fanout = a.ctx.fanout.unwrap_or(plan.preferred_len()).max(quorum);
    let mut candidates = plan.iter();
    let mut launched = 0;
    for ep in candidates.by_ref() {
        // Votes up to the quorum are essential; more only with budget to spare.
        let ok = if launched < quorum {
            a.launch(ep)
        } else {
            a.launch_extra(ep)
        };
        if ok {
            launched += 1;
            if launched == fanout {
                break;
            }
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    // Latest empty answer per endpoint index.
    let mut empties: Vec<Win> = Vec::new();
    // Empty voters to ask again, and when; with the backoff of each endpoint.
    let mut reasks: Vec<(Instant, Arc<Endpoint>)> = Vec::new();
    let mut backoff: HashMap<usize, Duration> = HashMap::new();
    let mut schedule =
        |ep: Arc<Endpoint>, reasks: &mut Vec<(Instant, Arc<Endpoint>)>, deadline: Instant| {
            let wait = backoff.entry(ep.index).or_insert(REASK_FIRST_DELAY);
            let at = Instant::now() + *wait;
            *wait *= 2;
            if at < deadline {
                reasks.push((at, ep));
            }
        };
    loop {
        // Can the pending attempts and re-asks still make a quorum? If not, call more.
        let best = groups.iter().map(|g| g.members.len()).max().unwrap_or(0);
        if best + a.pending() + reasks.len() < quorum {
            let mut need = quorum - best - a.pending() - reasks.len();
            for ep in candidates.by_ref() {
                if need == 0 {
                    break;
                }
                if a.launch(ep) {
                    need -= 1;
                }
            }
        }
        let timer = reasks.iter().map(|(t, _)| *t).min();
        let event = match a.next_until(timer).await {
            // Nothing in flight but re-asks are due later: wait for the first of them.
            Event::Idle if timer.is_some() => {
                tokio::time::sleep_until(timer.expect("checked").min(a.ctx.deadline)).await;
                if a.expired() {
                    Event::Deadline
                } else {
                    Event::Timer
                }
            }
            other => other,
        };
        match event {
            Event::Settled(s) => match a.note(s) {
                Verdict::Win(w) => {
                    let canonical = canonical_value(&w.result);
                    empties.retain(|e| e.endpoint.index != w.endpoint.index);
                    let idx = match groups.iter().position(|g| g.canonical == canonical) {
                        Some(i) => i,
                        None => {
                            groups.push(Group {
                                canonical,
                                members: Vec::new(),
                            });
                            groups.len() - 1
                        }
                    };
                    groups[idx].members.push(w);
                    if groups[idx].members.len() >= quorum {
                        let winner = groups.swap_remove(idx);
                        record_disagreement(&groups, &empties);
                        return Ok(winner
                            .members
                            .into_iter()
                            .next()
                            .expect("a quorum has members"));
                    }
                    // Someone knows more than the empty voters: ask them again shortly.
                    for e in std::mem::take(&mut empties) {
                        schedule(e.endpoint.clone(), &mut reasks, a.ctx.deadline);
                        empties.push(e);
                    }
                }
                Verdict::Final(e) => return Err(e),
                Verdict::Continue => {
                    // `note` keeps only the best empty answer; take each one as it comes.
                    if let Some(empty) = a.take_empty() {
                        empties.retain(|e| e.endpoint.index != empty.endpoint.index);
                        if !groups.is_empty() {
                            schedule(empty.endpoint.clone(), &mut reasks, a.ctx.deadline);
                        }
                        empties.push(empty);
                    }
                }
            },
            Event::Timer => {
                let now = Instant::now();
                let (due, later): (Vec<_>, Vec<_>) = reasks.drain(..).partition(|(t, _)| *t <= now);
                reasks = later;
                for (_, ep) in due {
                    a.relaunch(&ep);
                }
            }
            Event::Idle | Event::Deadline => break,
        }
    }
    if groups.is_empty() && empties.len() >= quorum {
        // Every answer was empty: that is all there is.
        return Ok(empties.swap_remove(0));
    }
    if groups.is_empty() && empties.is_empty() {
        return a.finish();
    }
    let votes = groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .map(|w| w.endpoint.name.to_string())
                .collect()
        })
        .chain((!empties.is_empty()).then(|| {
            empties
                .iter()
                .map(|w| format!("{} (empty)", w.endpoint.name))
                .collect()
        }))
        .collect();
    Err(ErrorReason::NoQuorum {
        quorum,
        votes,
        failures: a.take_failures(),
    })
}

fn record_disagreement(losers: &[Group], empties: &[Win]) {
    let endpoints: Vec<&Arc<Endpoint>> = losers
        .iter()
        .flat_map(|g| g.members.iter().map(|w| &w.endpoint))
        .chain(empties.iter().map(|w| &w.endpoint))
        .collect();
    for ep in endpoints {
        crate::telemetry::disagreement(ep);
    }
}

/// The canonical form compared by consensus: `value` for `{context, value}` results, the
/// whole result otherwise; keys sorted, no whitespace.
pub(crate) fn canonical_value(result: &RawValue) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(result.get()) else {
        return result.get().to_string();
    };
    if let Value::Object(map) = &mut v
        && map.len() == 2
        && map.contains_key("context")
        && let Some(inner) = map.remove("value")
    {
        v = inner;
    }
    let mut out = String::with_capacity(result.get().len());
    write_canonical(&v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        canonical_value(&RawValue::from_string(s.to_string()).unwrap())
    }

    #[test]
    fn context_is_ignored_and_key_order_and_whitespace_do_not_matter() {
        assert_eq!(
            c(r#"{"context":{"slot":10,"apiVersion":"2.1"},"value":{"b":1,"a":[1,2]}}"#),
            c(r#"{ "value" : { "a" : [1, 2], "b" : 1 }, "context" : {"slot": 12} }"#)
        );
        assert_ne!(
            c(r#"{"context":{"slot":10},"value":1}"#),
            c(r#"{"context":{"slot":10},"value":2}"#)
        );
        // Results that merely contain a `context` key among others are compared whole.
        assert_ne!(
            c(r#"{"context":1,"value":2,"x":3}"#),
            c(r#"{"context":9,"value":2,"x":3}"#)
        );
        assert_eq!(
            c(r#"{"slot":1,"meta":{"fee":5000,"err":null}}"#),
            c(r#"{"meta":{"err":null,"fee":5000},"slot":1}"#)
        );
    }
}
