//! Freshness under paused time: the freshest usable answer within the window, the client's
//! `minContextSlot`, and never serving an answer older than one already served.

use std::time::Duration;

use serde_json::json;

use super::script::*;
use crate::error::ErrorReason;
use crate::policy::Strategy;
use crate::pool::Pool;

const MS: std::time::Duration = std::time::Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn race_waits_the_window_for_a_fresher_answer_only_from_an_endpoint_seen_ahead() {
    let s = scripts(2);
    let pool = pool(
        &s,
        "[default]\nfreshness_window_ms = 5\nmonotonic_window_ms = 0\n",
    );
    let race = |key: &'static str| {
        pool.call("getBalance", &json!([key]))
            .strategy(Strategy::Race)
    };
    // b shows slot 102 (first, so nothing is waited for).
    s[0].push("getBalance", ok(&account(100, "5")).after(10));
    s[1].push("getBalance", ok(&account(102, "6")).after(5));
    let r = race("k0").await.unwrap();
    assert_eq!((&*r.endpoint, r.latency), ("b", 5 * MS));
    // a answers first at slot 100; b, seen at 102 before, may be fresher: waited for.
    s[0].push("getBalance", ok(&account(100, "5")).after(10));
    s[1].push("getBalance", ok(&account(103, "6")).after(13));
    let r = race("k1").await.unwrap();
    assert_eq!((&*r.endpoint, r.slot, r.latency), ("b", Some(103), 13 * MS));
    // Beyond the window: the first usable answer, after waiting the window out.
    s[0].push("getBalance", ok(&account(100, "5")).after(10));
    s[1].push("getBalance", ok(&account(104, "6")).after(30));
    let r = race("k2").await.unwrap();
    assert_eq!((&*r.endpoint, r.latency), ("a", 15 * MS));
    // a is at the newest slot b ever showed: nothing fresher to expect, no wait.
    s[0].push("getBalance", ok(&account(103, "5")).after(10));
    s[1].push("getBalance", ok(&account(105, "6")).after(12));
    let r = race("k3").await.unwrap();
    assert_eq!((&*r.endpoint, r.latency), ("a", 10 * MS));
}

#[tokio::test(start_paused = true)]
async fn a_zero_window_restores_first_wins_and_equal_slots_do_not_switch() {
    let s = scripts(2);
    // getSlot's value is its freshness; b has shown 101 before.
    let windowed = pool(
        &s,
        "[default]\nfreshness_window_ms = 5\nmonotonic_window_ms = 0\n",
    );
    s[1].push("getSlot", ok("101"));
    s[0].push("getSlot", ok("100").after(10));
    windowed
        .call("getSlot", &())
        .strategy(Strategy::Race)
        .await
        .unwrap();
    s[0].set("getSlot", ok("100").after(10));
    s[1].set("getSlot", ok("101").after(12));
    let zero = pool(&s, "[default]\nfreshness_window_ms = 0\n");
    let r = zero
        .call("getSlot", &())
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!((&*r.endpoint, r.latency), ("a", 10 * MS));
    let r = windowed
        .call("getSlot", &())
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!((&*r.endpoint, r.result.get()), ("b", "101"));
    s[0].set("getSlot", ok("101").after(10));
    s[1].set("getSlot", ok("101").after(12));
    let r = windowed
        .call("getSlot", &())
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!(
        &*r.endpoint, "a",
        "an equal slot does not replace the first"
    );
}

#[tokio::test(start_paused = true)]
async fn an_answer_below_min_context_slot_is_never_served_and_32016_is_not_a_failure() {
    let s = scripts(3);
    // `a` ignores minContextSlot and answers old data fast; `b` says "not yet"; `c` has it.
    s[0].set("getBalance", ok(&account(100, "1")).after(2));
    s[1].set(
        "getBalance",
        err(-32016, "Minimum context slot has not been reached").after(3),
    );
    s[2].set("getBalance", ok(&account(106, "7")).after(20));
    let pool = pool(&s, "[breaker]\nfailures = 1\n");
    let params = json!(["k", {"minContextSlot": 105}]);
    let r = pool
        .call("getBalance", &params)
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!((&*r.endpoint, r.slot), ("c", Some(106)));
    let st = pool.status();
    assert!(
        st.endpoints.iter().all(|e| e.circuit == "closed"),
        "'not yet' opens no circuit: {:?}",
        st.endpoints.iter().map(|e| &e.circuit).collect::<Vec<_>>()
    );
    // Nobody has reached it: the client hears what a node would say, not a gateway error.
    s[2].set(
        "getBalance",
        err(-32016, "Minimum context slot has not been reached").after(4),
    );
    let e = pool
        .call("getBalance", &json!(["k2", {"minContextSlot": 105}]))
        .strategy(Strategy::Race)
        .retries(0)
        .await
        .unwrap_err();
    match e.reason {
        ErrorReason::Rpc { error, .. } => assert!(error.get().contains("-32016"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn never_backwards_a_later_call_waits_for_an_answer_as_fresh_as_the_last() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 0\n");
    let call = |strategy| {
        pool.call("getAccountInfo", &json!(["mint"]))
            .strategy(strategy)
    };
    // The client sees slot 110 from `b`.
    s[0].push("getAccountInfo", ok(&account(108, "1")).after(30));
    s[1].push("getAccountInfo", ok(&account(110, "2")).after(10));
    let r = call(Strategy::Race).await.unwrap();
    assert_eq!((r.slot, r.stale), (Some(110), None));
    // `a` is fastest now but two slots behind what the client saw: `b` is waited for.
    s[0].push("getAccountInfo", ok(&account(108, "1")).after(2));
    s[1].push("getAccountInfo", ok(&account(111, "3")).after(15));
    let r = call(Strategy::Race).await.unwrap();
    assert_eq!((&*r.endpoint, r.slot, r.stale), ("b", Some(111), None));
    assert_eq!(r.latency, 15 * MS);
    // Failover: the best endpoint is behind, so the next one is asked.
    s[0].push("getAccountInfo", ok(&account(109, "1")).after(1));
    s[1].push("getAccountInfo", ok(&account(112, "4")).after(5));
    let r = call(Strategy::Failover).await.unwrap();
    assert_eq!((&*r.endpoint, r.slot), ("b", Some(112)));
    // Nobody fresh enough before the deadline: the freshest, saying how far behind it is.
    s[0].push("getAccountInfo", ok(&account(109, "1")).after(1));
    s[1].push("getAccountInfo", ok(&account(110, "2")).after(2));
    let r = call(Strategy::Race).retries(0).await.unwrap();
    assert_eq!((&*r.endpoint, r.slot, r.stale), ("b", Some(110), Some(2)));
    // The floor is not lowered by that answer: 112 still stands.
    s[0].push("getAccountInfo", ok(&account(112, "4")).after(1));
    let r = call(Strategy::Failover).await.unwrap();
    assert_eq!((r.slot, r.stale), (Some(112), None));
}

#[tokio::test(start_paused = true)]
async fn the_floor_is_per_method_and_params_and_ends_with_its_window() {
    let s = scripts(1);
    let pool = pool(&s, "[default]\nmonotonic_window_ms = 100\n");
    s[0].push("getBalance", ok(&account(50, "1")));
    pool.call("getBalance", &json!(["x"])).await.unwrap();
    // Other params: no floor.
    s[0].push("getBalance", ok(&account(40, "1")));
    let r = pool.call("getBalance", &json!(["y"])).await.unwrap();
    assert_eq!(r.stale, None);
    // Same params after the window: no floor either.
    tokio::time::advance(101 * MS).await;
    s[0].push("getBalance", ok(&account(45, "1")));
    let r = pool.call("getBalance", &json!(["x"])).await.unwrap();
    assert_eq!((r.slot, r.stale), (Some(45), None));
    // Within it: 45 is the floor now.
    s[0].push("getBalance", ok(&account(44, "1")));
    let r = pool
        .call("getBalance", &json!(["x"]))
        .retries(0)
        .await
        .unwrap();
    assert_eq!(r.stale, Some(1));
}

#[tokio::test(start_paused = true)]
async fn who_shows_a_new_signature_first_and_how_far_behind_the_others_are() {
    let s = scripts(2);
    // Merge waits 50 ms after the first list: both lists of each poll are read.
    let pool = pool(&s, "[default]\nfreshness_window_ms = 50\n");
    let poll = || {
        pool.call("getSignaturesForAddress", &json!(["Prog", {"limit": 5}]))
            .strategy(Strategy::Merge)
    };
    // The first poll only primes: "old" was not new, the gateway had not looked yet.
    s[0].push(
        "getSignaturesForAddress",
        ok(&sig_list(&[("old", 5)])).after(1),
    );
    s[1].push(
        "getSignaturesForAddress",
        ok(&sig_list(&[("old", 5)])).after(2),
    );
    poll().await.unwrap();
    // b indexes the launch 20 ms before a does.
    s[0].push(
        "getSignaturesForAddress",
        ok(&sig_list(&[("launch", 6), ("old", 5)])).after(30),
    );
    s[1].push(
        "getSignaturesForAddress",
        ok(&sig_list(&[("launch", 6), ("old", 5)])).after(10),
    );
    let r = poll().await.unwrap();
    assert_eq!(r.slot, Some(6));
    let st = pool.status();
    let (a, b) = (&st.first_sight[0], &st.first_sight[1]);
    assert_eq!((a.first, a.later, b.first, b.later), (0, 1, 1, 0), "{st:?}");
    let delay = a.delay_p50_ms.unwrap();
    assert!(
        (19.0..=21.0).contains(&delay),
        "a was 20 ms behind: {delay}"
    );
    assert_eq!(st.sightings, 2);
}

#[tokio::test(start_paused = true)]
async fn the_first_sight_window_is_bounded() {
    let s = scripts(1);
    let pool = pool(&s, "");
    let sightings = crate::sight::Sightings::new(1, 100);
    let ep = pool.endpoint(0);
    for round in 0..50u64 {
        let names: Vec<String> = (0..40).map(|i| format!("s{round}-{i}")).collect();
        let entries: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), round)).collect();
        sightings.observe(ep, b"key", &sig_list(&entries), crate::clock::now());
    }
    assert!(sightings.len() <= 100, "{}", sightings.len());
    let st = sightings.snapshot(["a"].into_iter());
    // 49 polls after the priming one, 40 new signatures each.
    assert_eq!(st[0].first, 49 * 40);
}

/// A height is not a slot: `minContextSlot` (a slot) never compares with it.
#[tokio::test(start_paused = true)]
async fn block_height_is_not_held_to_min_context_slot() {
    let s = scripts(1);
    s[0].set("getBlockHeight", ok("90"));
    let r = pool(&s, "")
        .call("getBlockHeight", &json!([{"minContextSlot": 105}]))
        .await
        .unwrap();
    assert_eq!(r.result.get(), "90");
}

/// Consensus counts a vote a slot older than what was served: values are compared, and
/// the floor applies only to the answer they agree on.
#[tokio::test(start_paused = true)]
async fn consensus_votes_are_not_held_to_the_floor() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 0\n");
    let call = || {
        pool.call("getBalance", &json!(["k"]))
            .strategy(Strategy::Consensus)
    };
    s[0].push("getBalance", ok(&account(110, "5")));
    s[1].push("getBalance", ok(&account(110, "5")).after(1));
    call().await.unwrap();
    s[0].push("getBalance", ok(&account(111, "5")));
    s[1].push("getBalance", ok(&account(109, "5")).after(1));
    let r = call().await.unwrap();
    assert_eq!(r.agreement.map(|a| a.agreed), Some(2), "both votes counted");
    assert_eq!(r.latency, MS, "no waiting");
}

#[tokio::test(start_paused = true)]
async fn merge_waits_for_other_lists_only_within_the_freshness_window() {
    let s = scripts(2);
    s[0].set(
        "getSignaturesForAddress",
        ok(&sig_list(&[("fast", 6), ("old", 5)])).after(10),
    );
    s[1].set(
        "getSignaturesForAddress",
        ok(&sig_list(&[("slow", 7), ("old", 5)])).after(100),
    );
    async fn ask(pool: &Pool) -> Result<crate::Reply, crate::CallError> {
        pool.call("getSignaturesForAddress", &json!(["Prog", {"limit": 5}]))
            .strategy(Strategy::Merge)
            .await
    }
    // 20 ms after the first list, the slower provider is not waited for.
    let windowed = pool(&s, "[default]\nfreshness_window_ms = 20\n");
    let r = ask(&windowed).await.unwrap();
    let sigs: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(r.result.get())
        .unwrap()
        .iter()
        .map(|e| e["signature"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sigs, ["fast", "old"]);
    assert_eq!(r.latency, Duration::from_millis(30));
    // 0: every list asked for.
    let whole = pool(&s, "[default]\nfreshness_window_ms = 0\n");
    let r = ask(&whole).await.unwrap();
    assert!(r.result.get().contains("slow") && r.result.get().contains("fast"));
    assert_eq!(r.latency, Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn a_later_list_never_replaces_the_merged_one() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 20\n");
    // b has shown a newer slot than a (at the list's commitment, finalized): as if a
    // fresher answer might still come from it.
    s[0].set("getBalance", fail(crate::outcome::FailureKind::Connect));
    s[1].set("getBalance", ok(r#"{"context":{"slot":200},"value":1}"#));
    pool.call("getBalance", &json!(["k"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    s[0].set(
        "getSignaturesForAddress",
        ok(&sig_list(&[("x", 100), ("y", 99)])).after(10),
    );
    s[1].set(
        "getSignaturesForAddress",
        ok(&sig_list(&[("z", 101), ("y", 99)])).after(45),
    );
    let r = pool
        .call("getSignaturesForAddress", &json!(["Prog", {"limit": 5}]))
        .strategy(Strategy::Merge)
        .await
        .unwrap();
    let sigs: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(r.result.get())
        .unwrap()
        .iter()
        .map(|e| e["signature"].as_str().unwrap().to_owned())
        .collect();
    // The merge of its window (a's list), not b's list alone: x is not lost.
    assert_eq!(sigs, ["x", "y"]);
    assert_eq!(r.latency, Duration::from_millis(30));
}
