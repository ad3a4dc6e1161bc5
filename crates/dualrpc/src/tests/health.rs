//! The health loop's lag readings under paused time: a probe that did not answer is no
//! reading (its node's last slot is old, not behind), until the node stays silent.

use std::time::Duration;

use super::script::*;
use crate::outcome::FailureKind;
use crate::pool::Pool;
use crate::settings::HealthSettings;

async fn round(pool: &Pool) {
    let settings = HealthSettings {
        interval: None,
        max_slot_lag: 2,
    };
    crate::health::check_all(pool.upstreams(), &settings, Duration::from_secs(1)).await;
}

fn lagging(pool: &Pool) -> [bool; 2] {
    [0, 1].map(|i| pool.endpoint(i).stats.lagging())
}

#[tokio::test(start_paused = true)]
async fn a_missed_probe_is_no_lag_reading_until_the_node_stays_silent() {
    let s = scripts(2);
    let pool = pool(&s, "");
    s[0].set("getSlot", ok("1000"));
    s[1].set("getSlot", ok("1000"));
    round(&pool).await;
    assert_eq!(lagging(&pool), [false, false]);
    // a's probes stop answering while b moves on 5 slots: a's 1000 is old, not behind.
    s[0].set("getSlot", fail(FailureKind::Connect));
    s[1].set("getSlot", ok("1005"));
    for _ in 1..crate::stats::STALE_AFTER {
        round(&pool).await;
        assert_eq!(lagging(&pool), [false, false]);
    }
    // Silent for STALE_AFTER rounds in a row: its last slot counts again.
    round(&pool).await;
    assert_eq!(lagging(&pool), [true, false]);
    // It answers again, caught up.
    s[0].set("getSlot", ok("1006"));
    round(&pool).await;
    assert_eq!(lagging(&pool), [false, false]);
}

#[tokio::test(start_paused = true)]
async fn a_round_only_the_node_behind_answers_does_not_make_it_the_tip() {
    let s = scripts(2);
    let pool = pool(&s, "");
    s[0].set("getSlot", ok("1000"));
    s[1].set("getSlot", ok("990"));
    round(&pool).await;
    assert_eq!(lagging(&pool), [false, true]);
    // a misses one probe; b, still far behind, is not the best because it alone answered.
    s[0].set("getSlot", fail(FailureKind::Connect));
    s[1].set("getSlot", ok("991"));
    round(&pool).await;
    assert_eq!(lagging(&pool), [false, true]);
}

#[tokio::test(start_paused = true)]
async fn a_node_reporting_a_slot_the_chain_cannot_have_reached_is_refused_everywhere() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 20\n");
    let wrong = 900_000_000_000u64;
    // Round 1: no limit yet, so b's wrong slot is the tip and a looks behind.
    s[0].set("getSlot", ok("1000"));
    s[1].set("getSlot", ok(&wrong.to_string()));
    round(&pool).await;
    assert_eq!(lagging(&pool), [true, false]);
    // Round 2, a second later: a advanced at the chain's pace and anchors the ceiling; b's
    // constant slot is refused, its slots forgotten, and a is the tip again.
    tokio::time::advance(Duration::from_secs(1)).await;
    s[0].set("getSlot", ok("1002"));
    round(&pool).await;
    assert!(!lagging(&pool)[0], "a is the tip again");
    assert_eq!(pool.endpoint(1).stats.slot(), None);
    assert_eq!(pool.endpoint(1).stats.newest_seen(0), 0);
    let race = |key: &'static str| {
        pool.call("getBalance", &serde_json::json!([key]))
            .strategy(crate::policy::Strategy::Race)
    };
    // b answers first with a slot beyond the ceiling: a failure, not the freshest answer.
    s[0].push("getBalance", ok(&account(1_002, "5")).after(10));
    s[1].push("getBalance", ok(&account(wrong, "6")).after(5));
    let r = race("k").await.unwrap();
    assert_eq!((&*r.endpoint, r.slot, r.stale), ("a", Some(1_002), None));
    let st = pool.status();
    assert_eq!(st.endpoints[1].counts.failures["implausible_slot"], 1);
    // Nothing of it was served, so the next answer at the true tip is not "older".
    s[0].push("getBalance", ok(&account(1_003, "5")).after(10));
    s[1].push("getBalance", ok(&account(wrong, "6")).after(5));
    let r = race("k").await.unwrap();
    assert_eq!((&*r.endpoint, r.slot, r.stale), ("a", Some(1_003), None));
    // A signature list whose newest entry claims such a slot is refused the same way.
    s[0].push(
        "getSignaturesForAddress",
        ok(&sig_list(&[("s1", 1_002)])).after(10),
    );
    s[1].push(
        "getSignaturesForAddress",
        ok(&sig_list(&[("s2", wrong)])).after(5),
    );
    let r = pool
        .call("getSignaturesForAddress", &serde_json::json!(["k"]))
        .strategy(crate::policy::Strategy::Race)
        .await
        .unwrap();
    assert_eq!(&*r.endpoint, "a");
    assert!(r.result.get().contains("s1") && !r.result.get().contains("s2"));
}

/// Two health rounds a second apart in which a advances from 1,000 to 1,002 (anchoring the
/// ceiling) while b reports `wrong`.
async fn anchored_on_a(pool: &Pool, s: &[std::sync::Arc<Script>], wrong: u64) {
    s[0].set("getSlot", ok("1000"));
    s[1].set("getSlot", ok(&wrong.to_string()));
    round(pool).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    s[0].set("getSlot", ok("1002"));
    round(pool).await;
}

#[tokio::test(start_paused = true)]
async fn the_ceiling_holds_for_first_wins_calls_and_empty_answers() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 0\n");
    let wrong = 900_000_000_000u64;
    anchored_on_a(&pool, &s, wrong).await;
    let race = || {
        pool.call("getAccountInfo", &serde_json::json!(["k"]))
            .strategy(crate::policy::Strategy::Race)
    };
    // First wins reads no slot to pick the freshest, yet b's first answer is refused.
    s[0].push("getAccountInfo", ok(&account(1_002, "{}")).after(10));
    s[1].push("getAccountInfo", ok(&account(wrong, "{}")).after(5));
    let r = race().await.unwrap();
    assert_eq!(&*r.endpoint, "a");
    // Both say the account does not exist: the empty answer served is a's.
    s[0].push("getAccountInfo", ok(&account(1_002, "null")).after(10));
    s[1].push("getAccountInfo", ok(&account(wrong, "null")).after(5));
    let r = race().await.unwrap();
    assert_eq!((&*r.endpoint, r.empty), ("a", true));
    assert_eq!(
        pool.status().endpoints[1].counts.failures["implausible_slot"],
        2
    );
}
