//! Which signature list is the fresher one, under paused time: a node the health loop sees
//! a slot ahead is waited for within the window, a node behind is not, and between two lists
//! with the same newest slot the one showing more of that slot wins.

use serde_json::json;

use super::script::*;
use crate::policy::Strategy;
use crate::pool::Pool;

const MS: std::time::Duration = std::time::Duration::from_millis(1);

fn signatures(reply: &crate::Reply) -> Vec<String> {
    serde_json::from_str::<Vec<serde_json::Value>>(reply.result.get())
        .unwrap()
        .iter()
        .map(|e| e["signature"].as_str().unwrap().to_owned())
        .collect()
}

/// Queues `entries` (after `ms`) as `script`'s next signature list.
fn next_list(script: &Script, entries: &[(&str, u64)], ms: u64) {
    script.push("getSignaturesForAddress", ok(&sig_list(entries)).after(ms));
}

async fn merge(pool: &Pool, params: serde_json::Value) -> crate::Reply {
    pool.call("getSignaturesForAddress", &params)
        .strategy(Strategy::Merge)
        .await
        .unwrap()
}

async fn poll(pool: &Pool) -> crate::Reply {
    pool.call("getSignaturesForAddress", &json!(["Prog", {"limit": 5}]))
        .strategy(Strategy::Race)
        .await
        .unwrap()
}

/// Two endpoints, `b` a slot behind `a` by the health loop's last readings; no answer has
/// shown either one's slot yet (what `newest_seen` would go by).
fn a_ahead_of_b(scripts: &[std::sync::Arc<Script>]) -> Pool {
    let pool = pool(
        scripts,
        "[default]\nfreshness_window_ms = 30\nmonotonic_window_ms = 0\n",
    );
    let now = crate::clock::now();
    pool.endpoint(0).stats.record_probe(now, Some(100));
    pool.endpoint(1).stats.record_probe(now, Some(99));
    pool
}

#[tokio::test(start_paused = true)]
async fn a_list_from_a_node_behind_waits_for_the_node_ahead_within_the_window() {
    let s = scripts(2);
    let pool = a_ahead_of_b(&s);
    // b (behind) answers first; a, a slot ahead, 15 ms later with the launch.
    next_list(&s[0], &[("launch", 100), ("old", 98)], 25);
    next_list(&s[1], &[("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("a", 25 * MS));
    assert_eq!(signatures(&r), ["launch", "old"]);
    // Beyond the window: b's list, once the window is out.
    next_list(&s[0], &[("launch", 100), ("old", 98)], 60);
    next_list(&s[1], &[("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("b", 40 * MS));
}

#[tokio::test(start_paused = true)]
async fn a_list_from_the_node_ahead_does_not_wait_for_one_behind() {
    let s = scripts(2);
    let pool = a_ahead_of_b(&s);
    next_list(&s[0], &[("launch", 100), ("old", 98)], 10);
    next_list(&s[1], &[("old", 98)], 20);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("a", 10 * MS));
}

#[tokio::test(start_paused = true)]
async fn of_two_lists_with_the_same_newest_slot_the_one_showing_more_of_it_wins() {
    let s = scripts(2);
    let pool = a_ahead_of_b(&s);
    // b has indexed one of slot 100's transactions, a both.
    next_list(&s[0], &[("second", 100), ("first", 100), ("old", 98)], 20);
    next_list(&s[1], &[("first", 100), ("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!(signatures(&r), ["second", "first", "old"]);
    assert_eq!((&*r.endpoint, r.latency), ("a", 20 * MS));
    // Fewer entries of the same slot never replace the list in hand.
    next_list(&s[0], &[("first", 100), ("old", 98)], 20);
    next_list(&s[1], &[("second", 100), ("first", 100), ("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!(signatures(&r), ["second", "first", "old"]);
    assert_eq!(&*r.endpoint, "b");
}

#[tokio::test(start_paused = true)]
async fn merge_applies_until_to_a_node_that_has_not_indexed_it() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 0\n");
    // The bot's poll: a shows `u` (slot 5), b has not indexed it yet.
    next_list(&s[0], &[("u", 5), ("old", 4)], 5);
    next_list(&s[1], &[("old", 4)], 5);
    let r = merge(&pool, json!(["Prog", {"limit": 5}])).await;
    assert_eq!(signatures(&r), ["u", "old"]);
    // Its next poll asks for what came after `u`. a stops before `u`; b still does not know
    // `u`, so (as agave does with an unknown `until`) it lists older signatures too.
    next_list(&s[0], &[("n", 6)], 5);
    next_list(&s[1], &[("n", 6), ("old", 4), ("older", 3)], 5);
    let r = merge(&pool, json!(["Prog", {"limit": 5, "until": "u"}])).await;
    assert_eq!(signatures(&r), ["n"], "nothing at or below u's slot from b");
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_the_health_loop_never_read_is_never_waited_for() {
    let s = scripts(3);
    let pool = pool(
        &s,
        "[default]\nfreshness_window_ms = 30\nmonotonic_window_ms = 0\n",
    );
    // c is at the tip, b a slot behind; a's probes never answered (no reading, lag "0").
    let now = crate::clock::now();
    pool.endpoint(2).stats.record_probe(now, Some(100));
    pool.endpoint(1).stats.record_probe(now, Some(99));
    s[2].push(
        "getSignaturesForAddress",
        fail(crate::outcome::FailureKind::Connect).after(1),
    );
    next_list(&s[1], &[("old", 98)], 10);
    next_list(&s[0], &[("launch", 100), ("old", 98)], 25);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("b", 10 * MS));
}

#[tokio::test(start_paused = true)]
async fn until_s_slot_is_the_lowest_any_provider_reported() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 0\n");
    // a puts `u` at slot 90 (wrong), b at 5.
    next_list(&s[0], &[("u", 90)], 5);
    next_list(&s[1], &[("u", 5)], 6);
    merge(&pool, json!(["Prog", {"limit": 5}])).await;
    // Both now list what came after `u`; b also older entries (as if it ignored `until`).
    next_list(&s[0], &[("n", 7), ("m", 6)], 5);
    next_list(&s[1], &[("n", 7), ("m", 6), ("old", 4)], 5);
    let r = merge(&pool, json!(["Prog", {"limit": 5, "until": "u"}])).await;
    assert_eq!(
        signatures(&r),
        ["n", "m"],
        "cut below slot 5, not below 90 (which would have left nothing)"
    );
}

#[tokio::test(start_paused = true)]
async fn merge_waits_for_the_node_ahead_but_not_for_one_behind() {
    let s = scripts(2);
    let pool = a_ahead_of_b(&s);
    let prog = || json!(["Prog", {"limit": 5}]);
    // a (ahead) first: b, a slot behind, has nothing newer to add; not waited for.
    next_list(&s[0], &[("launch", 100), ("old", 98)], 10);
    next_list(&s[1], &[("old", 98)], 25);
    let r = merge(&pool, prog()).await;
    assert_eq!(signatures(&r), ["launch", "old"]);
    assert_eq!(r.latency, 10 * MS);
    // b first: a may add newer entries, so it is waited for (within the window).
    next_list(&s[0], &[("launch", 100), ("old", 98)], 25);
    next_list(&s[1], &[("old", 98)], 10);
    let r = merge(&pool, prog()).await;
    assert_eq!(signatures(&r), ["launch", "old"]);
    assert_eq!(r.latency, 25 * MS);
}

#[tokio::test(start_paused = true)]
async fn the_node_ahead_failing_once_is_asked_again_within_the_window() {
    use crate::outcome::FailureKind::{Connect, HttpStatus, Transport};
    let s = scripts(2);
    let pool = a_ahead_of_b(&s);
    let list = |s: &Script| s.count("getSignaturesForAddress");
    // a (ahead) fails at 5 ms; b's older list comes at 10 ms; a, asked again, lists the
    // launch 10 ms later: within the 30 ms window, the client gets a's.
    s[0].push("getSignaturesForAddress", fail(Connect).after(5));
    next_list(&s[0], &[("launch", 100), ("old", 98)], 10);
    next_list(&s[1], &[("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("a", 20 * MS));
    assert_eq!(signatures(&r), ["launch", "old"]);
    assert_eq!(list(&s[0]), 2);
    // Asked again once only: a fails again at 15 ms, b's list then.
    s[0].push("getSignaturesForAddress", fail(Connect).after(5));
    s[0].push("getSignaturesForAddress", fail(Transport).after(5));
    next_list(&s[1], &[("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("b", 15 * MS));
    assert_eq!(list(&s[0]), 4);
    // A failure the same request would meet again (an HTTP status: maybe these params) is
    // not retried.
    s[0].push("getSignaturesForAddress", fail(HttpStatus).after(5));
    next_list(&s[1], &[("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("b", 10 * MS));
    assert_eq!(list(&s[0]), 5);
    // Never beyond the window: a's second answer would come at 60 ms; b's at 10 + 30.
    s[0].push("getSignaturesForAddress", fail(Connect).after(5));
    next_list(&s[0], &[("launch", 100), ("old", 98)], 50);
    next_list(&s[1], &[("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("b", 40 * MS));
    // Nor when a's usual latency would not fit what is left of the window: 20 answers in
    // 40 ms make its median 40 ms; b's list at 10 ms leaves 30.
    for _ in 0..20 {
        tokio::time::sleep(100 * MS).await;
        next_list(&s[0], &[("launch", 100), ("old", 98)], 40);
        next_list(&s[1], &[("old", 98)], 60);
        poll(&pool).await;
    }
    tokio::time::sleep(100 * MS).await;
    let before = list(&s[0]);
    s[0].push("getSignaturesForAddress", fail(Connect).after(5));
    next_list(&s[1], &[("old", 98)], 10);
    let r = poll(&pool).await;
    assert_eq!((&*r.endpoint, r.latency), ("b", 10 * MS));
    assert_eq!(list(&s[0]), before + 1);
    // A call that may not retry does not ask again.
    tokio::time::sleep(100 * MS).await;
    let before = list(&s[0]);
    s[0].push("getSignaturesForAddress", fail(Connect).after(5));
    next_list(&s[1], &[("old", 98)], 10);
    let r = pool
        .call("getSignaturesForAddress", &json!(["Prog", {"limit": 5}]))
        .strategy(Strategy::Race)
        .retries(0)
        .await
        .unwrap();
    assert_eq!((&*r.endpoint, r.latency), ("b", 10 * MS));
    assert_eq!(list(&s[0]), before + 1);
    // Nor does failover (one endpoint at a time): a fails, b answers, a is not asked again.
    let s = scripts(2);
    let pool = a_ahead_of_b(&s);
    s[0].push("getSignaturesForAddress", fail(Connect).after(5));
    next_list(&s[0], &[("launch", 100), ("old", 98)], 10);
    next_list(&s[1], &[("old", 98)], 10);
    let r = pool
        .call("getSignaturesForAddress", &json!(["Prog", {"limit": 5}]))
        .strategy(Strategy::Failover)
        .await
        .unwrap();
    assert_eq!((&*r.endpoint, r.latency), ("b", 15 * MS));
    assert_eq!((list(&s[0]), list(&s[1])), (1, 1));
}
