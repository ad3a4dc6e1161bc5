//! `consensus`: several endpoints at once; the answer is returned once `quorum` of them
//! agree on the result.
//!
//! When to use: reads where a wrong answer costs more than a slow one (`getTransaction`
//! before acting on a launch). Upstream cost: `fanout` calls per request (default: every
//! preferred endpoint, at least `quorum`). Agreement compares a canonical form of the
//! result — for `{context, value}` results only `value`, since nodes legitimately differ
//! in `context.slot` — with object keys sorted and whitespace dropped, because providers
//! differ in both. An endpoint's error is a missing vote, not a disagreement; when missing
//! votes make the quorum unreachable, untried endpoints are called. Empty answers only win
//! if nothing else can: they form a group that is considered after every attempt has
//! settled. The returned response is one of the agreeing ones (the first to arrive);
//! endpoints outside the winning group are counted as disagreeing.

use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use super::{Attempts, Event, Verdict, Win};
use crate::endpoint::Endpoint;
use crate::error::ErrorReason;
use crate::select::Plan;

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
        if a.launch(ep) {
            launched += 1;
            if launched == fanout {
                break;
            }
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut empties: Vec<Win> = Vec::new();
    loop {
        // Can the pending attempts still make a quorum? If not, call more endpoints.
        let best = groups.iter().map(|g| g.members.len()).max().unwrap_or(0);
        if best + a.pending() < quorum {
            let mut need = quorum - best - a.pending();
            for ep in candidates.by_ref() {
                if need == 0 {
                    break;
                }
                if a.launch(ep) {
                    need -= 1;
                }
            }
        }
        match a.next().await {
            Event::Settled(s) => match a.note(s) {
                Verdict::Win(w) => {
                    let canonical = canonical_value(&w.result);
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
                }
                Verdict::Final(e) => return Err(e),
                Verdict::Continue => {}
            },
            Event::Idle | Event::Deadline | Event::Timer => break,
        }
        // `note` keeps only the best empty answer; count every empty one as a vote here.
        if let Some(empty) = a.take_empty() {
            empties.push(empty);
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
