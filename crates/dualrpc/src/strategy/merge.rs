//! `merge`: for a list method (`getSignaturesForAddress`), the union of several providers'
//! lists — so a launch one provider indexed late is not missed for that poll.
//!
//! When to use: polling a launchpad or a mint's signatures, where a missed signature is a
//! missed launch. Upstream cost: `fanout` calls (default every preferred endpoint), like
//! `race`. It waits for the endpoints it asked until `freshness_window_ms` after the first
//! list (a provider slower than that is not waited for: what it shows, the next poll
//! gets; 0 waits for every list), each within its attempt timeout and the call's
//! deadline — but not for a node the health loop reads behind one whose list is in hand
//! (it has no newer entry to add) — then answers as one node with the knowledge of every
//! list it got would:
//!
//! - union by signature, no duplicates (the first provider's copy of an entry is kept);
//! - newest first: by slot, and within a slot in the order the providers list them (an
//!   entry only one provider has goes after the entry that precedes it in that provider's
//!   list);
//! - `before` and `until` as a node applies them (exclusive; a list that ignored them is
//!   cut at the signature), then `limit` (default 1000). A node that has not indexed
//!   `until` yet ignores it and lists older signatures down to `limit` (agave does); when
//!   the gateway has seen `until` recently (`sight`'s window keeps each signature's
//!   lowest reported slot), such a list — one reaching below `until`'s slot — contributes
//!   no entry older than that slot, and of `until`'s own slot only when no list that
//!   honoured `until` came back (where `until` falls within its slot is unknown to it: a
//!   possible repeat is cheaper than a lost launch);
//! - `minContextSlot` is each node's to honour (-32016 from one node is "not yet" there).
//!
//! For any other method it is `race`. How it fails: when no asked provider returned a
//! list, as `race` does (the next endpoints are tried while time is left).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::attempt::{Attempts, Event, Verdict, Win};
use crate::catalog::Compare;
use crate::clock;
use crate::error::ErrorReason;
use crate::jsonrpc::RawJson;
use crate::select::Plan;

/// `limit` when the request gives none (agave's default and maximum).
const DEFAULT_LIMIT: usize = 1000;

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    if a.call.info.compare != Compare::SignatureList {
        return super::race::run(a, plan).await;
    }
    let fanout = a.call.policy.fanout.unwrap_or(plan.preferred_len()).max(1);
    let mut lists: Vec<Win> = Vec::new();
    let window = a.call.policy.freshness_window;
    let mut until = None;
    loop {
        // As `race`: the wave's first attempt is needed, the rest only with budget to spare.
        let mut launched = 0;
        if lists.is_empty() && a.launch_next(plan, false).is_some() {
            launched = 1;
            while launched < fanout && a.launch_next(plan, true).is_some() {
                launched += 1;
            }
        }
        if launched == 0 && a.pending() == 0 {
            break;
        }
        // Every list asked for, until the deadline — and no longer than the freshness
        // window after the first list, nor for a node the health loop reads behind one
        // whose list is in hand (a node a slot behind has no newer entry to add).
        while a.pending() > 0 && (lists.is_empty() || may_add(a, plan, &lists)) {
            match a.next_until(until).await {
                Event::Settled(s) => match a.note(s) {
                    Verdict::Win(w) => {
                        if until.is_none() && !window.is_zero() {
                            until = Some(clock::now() + window);
                        }
                        lists.push(w);
                    }
                    Verdict::Final(e) => return Err(e),
                    Verdict::Continue => {}
                },
                Event::Deadline | Event::Idle | Event::Timer => break,
            }
        }
        if !lists.is_empty() || a.expired() {
            break;
        }
    }
    if lists.is_empty() {
        return a.finish();
    }
    let mut query = Query::of(&a.call.request.body);
    query.until_slot = query
        .until
        .as_deref()
        .and_then(|u| a.cx.sightings.slot_of(u));
    Ok(merged(lists, &query))
}

/// Whether an endpoint with an attempt still out may add a newer entry to `lists`: none of
/// the endpoints whose lists are in hand is read ahead of it.
fn may_add(a: &Attempts<'_>, plan: &Plan, lists: &[Win]) -> bool {
    a.cx.upstreams.endpoints.iter().any(|ep| {
        a.out(ep)
            && !lists
                .iter()
                .any(|w| plan.ahead_of(w.endpoint.index, ep.index))
    })
}

/// One entry of a signature list: what the merge looks at, and the entry as sent.
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    signature: Cow<'a, str>,
    slot: u64,
}

/// What the request asked of the list.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Query {
    pub(super) limit: Option<usize>,
    pub(super) before: Option<String>,
    pub(super) until: Option<String>,
    /// `until`'s slot, when known (not from the request: from the gateway's window).
    pub(super) until_slot: Option<u64>,
}

impl Query {
    /// `limit`, `before` and `until` from a request body's params (`[address, config]`).
    pub(super) fn of(body: &[u8]) -> Query {
        #[derive(Deserialize)]
        struct Body<'a> {
            #[serde(borrow)]
            params: Option<Vec<&'a RawValue>>,
        }
        #[derive(Deserialize)]
        struct Config {
            limit: Option<usize>,
            before: Option<String>,
            until: Option<String>,
        }
        let config = serde_json::from_slice::<Body<'_>>(body)
            .ok()
            .and_then(|b| b.params)
            .and_then(|p| p.get(1).copied())
            .and_then(|c| serde_json::from_str::<Config>(c.get()).ok());
        match config {
            Some(c) => Query {
                limit: c.limit,
                before: c.before,
                until: c.until,
                until_slot: None,
            },
            None => Query::default(),
        }
    }
}

/// The merged answer of `lists` (in arrival order), credited to the endpoint whose list
/// holds the newest entry (the first list among equals).
fn merged(lists: Vec<Win>, query: &Query) -> Win {
    let texts: Vec<&str> = lists.iter().map(|w| w.result.get()).collect();
    let (json, newest_from) = merge_lists(&texts, query);
    let mut lists = lists;
    let mut win = lists.swap_remove(newest_from.unwrap_or(0));
    win.slot = crate::fresh::answer_slot(crate::fresh::SlotSource::FirstEntry, &json);
    win.result = RawJson::from_string(json);
    win
}

/// Merges signature lists (module doc). Returns the merged JSON array and which list the
/// first entry came from. A list that is not a JSON array of entries is left out.
pub(super) fn merge_lists(lists: &[&str], query: &Query) -> (String, Option<usize>) {
    // Per slot, newest first: each list's entries of that slot, in its order.
    type Seq<'a> = Vec<(&'a RawValue, Entry<'a>)>;
    let mut by_slot: BTreeMap<std::cmp::Reverse<u64>, Vec<(usize, Seq<'_>)>> = BTreeMap::new();
    let parsed: Vec<Vec<(&RawValue, Entry<'_>)>> = lists
        .iter()
        .map(|text| {
            serde_json::from_str::<Vec<&RawValue>>(text)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| Some((r, serde_json::from_str::<Entry<'_>>(r.get()).ok()?)))
                .collect()
        })
        .collect();
    // A list reaching below `until`'s slot ignored `until` (its node has not indexed it).
    let ignored = |entries: &[(&RawValue, Entry<'_>)]| {
        query
            .until_slot
            .is_some_and(|u| entries.iter().any(|(_, e)| e.slot < u))
    };
    let honoured = parsed.iter().any(|e| !e.is_empty() && !ignored(e));
    for (i, entries) in parsed.into_iter().enumerate() {
        let floor = query.until_slot.filter(|_| ignored(&entries));
        for (r, entry) in entries {
            if floor.is_some_and(|u| entry.slot < u || (entry.slot == u && honoured)) {
                continue;
            }
            let seqs = by_slot.entry(std::cmp::Reverse(entry.slot)).or_default();
            match seqs.last_mut() {
                Some((list, seq)) if *list == i => seq.push((r, entry)),
                _ => seqs.push((i, vec![(r, entry)])),
            }
        }
    }
    let mut out: Vec<(&RawValue, Cow<'_, str>, usize)> = Vec::new();
    let mut seen: HashSet<Cow<'_, str>> = HashSet::new();
    for seqs in by_slot.into_values() {
        // Sequence union: each list's entries keep their relative order; an entry not yet
        // placed goes right after the last entry of its list placed so far.
        let mut slot: Vec<(&RawValue, Cow<'_, str>, usize)> = Vec::new();
        for (list, seq) in seqs {
            let mut at = 0;
            for (raw, entry) in seq {
                if seen.contains(&entry.signature) {
                    if let Some(i) = slot.iter().position(|(_, s, _)| *s == entry.signature) {
                        at = at.max(i + 1);
                    }
                    continue;
                }
                seen.insert(entry.signature.clone());
                slot.insert(at, (raw, entry.signature, list));
                at += 1;
            }
        }
        out.extend(slot);
    }
    // `before`/`until` are exclusive bounds a node applies; cut at them if a list did not.
    if let Some(before) = &query.before
        && let Some(i) = out.iter().position(|(_, s, _)| s == before)
    {
        out.drain(..=i);
    }
    if let Some(until) = &query.until
        && let Some(i) = out.iter().position(|(_, s, _)| s == until)
    {
        out.truncate(i);
    }
    out.truncate(query.limit.unwrap_or(DEFAULT_LIMIT));
    let newest_from = out.first().map(|(_, _, list)| *list);
    let mut json =
        String::with_capacity(2 + out.iter().map(|(r, _, _)| r.get().len() + 1).sum::<usize>());
    json.push('[');
    for (i, (raw, _, _)) in out.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(raw.get());
    }
    json.push(']');
    (json, newest_from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn list(entries: &[(&str, u64)]) -> String {
        let v: Vec<Value> = entries
            .iter()
            .map(|(s, slot)| json!({"signature": s, "slot": slot, "err": null}))
            .collect();
        serde_json::to_string(&v).unwrap()
    }

    fn sigs(json: &str) -> Vec<String> {
        let v: Vec<Value> = serde_json::from_str(json).unwrap();
        v.iter()
            .map(|e| e["signature"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn union_newest_first_without_duplicates_keeping_each_providers_order() {
        // a is a slot behind; b lacks `x` (indexed late); both list slot 9's entries as
        // the chain ordered them, each missing one.
        let a = list(&[("p", 9), ("q", 9), ("x", 8), ("y", 7)]);
        let b = list(&[("n", 10), ("p", 9), ("r", 9), ("q", 9), ("y", 7)]);
        let (json, first) = merge_lists(&[&a, &b], &Query::default());
        assert_eq!(sigs(&json), ["n", "p", "r", "q", "x", "y"]);
        assert_eq!(first, Some(1), "the newest entry is b's");
        // The same whichever list came first.
        let (json, first) = merge_lists(&[&b, &a], &Query::default());
        assert_eq!(sigs(&json), ["n", "p", "r", "q", "x", "y"]);
        assert_eq!(first, Some(0));
    }

    #[test]
    fn limit_before_and_until_as_a_node_applies_them() {
        let a = list(&[("d", 4), ("c", 3), ("b", 2), ("a", 1)]);
        let b = list(&[("e", 5), ("d", 4), ("b", 2)]);
        let q = |limit, before: Option<&str>, until: Option<&str>| Query {
            limit,
            before: before.map(String::from),
            until: until.map(String::from),
            until_slot: None,
        };
        assert_eq!(
            sigs(&merge_lists(&[&a, &b], &q(Some(2), None, None)).0),
            ["e", "d"]
        );
        // A provider that ignored `before`/`until` is cut where a node would stop.
        assert_eq!(
            sigs(&merge_lists(&[&a, &b], &q(None, Some("d"), Some("a"))).0),
            ["c", "b"]
        );
        assert_eq!(
            Query::of(br#"{"jsonrpc":"2.0","method":"m","params":["addr",{"limit":5,"before":"x","until":"y"}],"id":1}"#),
            q(Some(5), Some("x"), Some("y"))
        );
        assert_eq!(Query::of(br#"{"params":["addr"]}"#), Query::default());
    }

    #[test]
    fn a_list_from_a_node_that_has_not_indexed_until_is_cut_at_its_slot() {
        // `u` is at slot 5. a knows it: it stops before it. b has not indexed it (nor `n`
        // yet): agave ignores an unknown `until`, so b lists older signatures too.
        let a = list(&[("n", 7), ("m", 6), ("v", 5)]);
        let b = list(&[("m", 6), ("w", 5), ("o", 4), ("p", 3)]);
        let until = |slot| Query {
            until: Some("u".into()),
            until_slot: slot,
            ..Query::default()
        };
        assert_eq!(
            sigs(&merge_lists(&[&a, &b], &until(Some(5))).0),
            ["n", "m", "v"],
            "b's entries of u's slot and older are left out; a's kept"
        );
        // Only lagging lists came back: u's slot is kept (w may be newer than u), older
        // entries are not.
        assert_eq!(sigs(&merge_lists(&[&b], &until(Some(5))).0), ["m", "w"]);
        // With `before` too: both bounds, as a node applies them.
        let both = Query {
            before: Some("n".into()),
            ..until(Some(5))
        };
        assert_eq!(sigs(&merge_lists(&[&a, &b], &both).0), ["m", "v"]);
        // u's slot unknown (not seen by this gateway): every entry, as before.
        assert_eq!(
            sigs(&merge_lists(&[&a, &b], &until(None)).0),
            ["n", "m", "w", "v", "o", "p"]
        );
        // Lists that all stay above u's slot lose nothing.
        let c = list(&[("n", 7), ("m", 6)]);
        assert_eq!(
            sigs(&merge_lists(&[&a, &c], &until(Some(5))).0),
            ["n", "m", "v"]
        );
    }

    #[test]
    fn entries_are_kept_verbatim_and_broken_lists_left_out() {
        let a = r#"[{"signature":"s","slot":3,"memo":"hi","blockTime":null}]"#;
        let (json, _) = merge_lists(&[a, "null", r#"{"oops":1}"#, "[1,2]"], &Query::default());
        assert_eq!(
            json,
            r#"[{"signature":"s","slot":3,"memo":"hi","blockTime":null}]"#
        );
        assert_eq!(
            merge_lists(&[], &Query::default()),
            ("[]".to_string(), None)
        );
    }
}
