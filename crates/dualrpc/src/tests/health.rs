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
async fn an_interval_shorter_than_a_round_trip_still_reads_every_node() {
    // Probes every 10 ms, nodes that answer in 40 ms: each probe waits for its answer
    // (it used to give up after the interval and read nothing, ever).
    let s = scripts(2);
    s[0].set("getSlot", ok("1000").after(40));
    s[1].set("getSlot", ok("990").after(40));
    let pool = pool(&s, "[health]\ninterval_ms = 10\nmax_slot_lag = 5\n");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.endpoint(0).stats.slot(), Some(1000));
    assert_eq!(pool.endpoint(1).stats.slot(), Some(990));
    assert_eq!(lagging(&pool), [false, true]);
    // A node that never answers holds a round up for MIN_PROBE_TIMEOUT (500 ms): the other
    // keeps being read (the round under way, then one that waits 500 ms for b).
    s[1].set("getSlot", hang());
    s[0].set("getSlot", ok("1003").after(40));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(pool.endpoint(0).stats.slot(), Some(1003));
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
    // Two seconds later a has moved like a chain: it anchors the ceiling, b's constant slot
    // is refused, its slots forgotten, and a is the tip again.
    for slot in ["1003", "1005"] {
        tokio::time::advance(Duration::from_secs(1)).await;
        s[0].set("getSlot", ok(slot));
        round(&pool).await;
    }
    assert!(!lagging(&pool)[0], "a is the tip again");
    assert_eq!(pool.endpoint(1).stats.slot(), None);
    assert_eq!(pool.endpoint(1).stats.newest_seen(0), 0);
    let race = |key: &'static str| {
        pool.call("getBalance", &serde_json::json!([key]))
            .strategy(crate::policy::Strategy::Race)
    };
    // b answers first with a slot beyond the ceiling: a failure, not the freshest answer.
    s[0].push("getBalance", ok(&account(1_005, "5")).after(10));
    s[1].push("getBalance", ok(&account(wrong, "6")).after(5));
    let r = race("k").await.unwrap();
    assert_eq!((&*r.endpoint, r.slot, r.stale), ("a", Some(1_005), None));
    let st = pool.status();
    assert_eq!(st.endpoints[1].counts.failures["implausible_slot"], 1);
    // Nothing of it was served, so the next answer at the true tip is not "older".
    s[0].push("getBalance", ok(&account(1_006, "5")).after(10));
    s[1].push("getBalance", ok(&account(wrong, "6")).after(5));
    let r = race("k").await.unwrap();
    assert_eq!((&*r.endpoint, r.slot, r.stale), ("a", Some(1_006), None));
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

/// Three health rounds a second apart in which a moves from 1,000 to 1,005 (anchoring the
/// ceiling) while b reports `wrong`.
async fn anchored_on_a(pool: &Pool, s: &[std::sync::Arc<Script>], wrong: u64) {
    s[1].set("getSlot", ok(&wrong.to_string()));
    for (i, slot) in ["1000", "1003", "1005"].into_iter().enumerate() {
        if i > 0 {
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        s[0].set("getSlot", ok(slot));
        round(pool).await;
    }
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
    s[0].push("getAccountInfo", ok(&account(1_005, "{}")).after(10));
    s[1].push("getAccountInfo", ok(&account(wrong, "{}")).after(5));
    let r = race().await.unwrap();
    assert_eq!(&*r.endpoint, "a");
    // Both say the account does not exist: the empty answer served is a's.
    s[0].push("getAccountInfo", ok(&account(1_005, "null")).after(10));
    s[1].push("getAccountInfo", ok(&account(wrong, "null")).after(5));
    let r = race().await.unwrap();
    assert_eq!((&*r.endpoint, r.empty), ("a", true));
    assert_eq!(
        pool.status().endpoints[1].counts.failures["implausible_slot"],
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_success_beyond_the_ceiling_is_refused_too() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\ntimeout_ms = 100\ndeadline_ms = 1000\n");
    let wrong = 900_000_000_000u64;
    anchored_on_a(&pool, &s, wrong).await;
    // Both attempts time out; b's late answer comes first, a's later.
    s[0].set("getBalance", ok(&account(1_005, "5")).after(300));
    s[1].set("getBalance", ok(&account(wrong, "6")).after(150));
    let r = pool
        .call("getBalance", &serde_json::json!(["k"]))
        .strategy(crate::policy::Strategy::Race)
        .await
        .unwrap();
    assert_eq!((&*r.endpoint, r.slot), ("a", Some(1_005)));
}

#[tokio::test(start_paused = true)]
async fn what_was_taken_in_before_the_ceiling_existed_is_dropped_once_it_does() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 20\n");
    let wrong = 900_000_000_000u64;
    wrong_served_then_anchored(&pool, &s, wrong).await;
    // b's wrong slot no longer is the tip, nor what its answers showed…
    assert!(!lagging(&pool)[0], "a is the tip");
    assert_eq!(pool.endpoint(1).stats.slot(), None);
    assert!((0..3).all(|c| pool.endpoint(1).stats.newest_seen(c) < wrong));
    // …nor the floor: a's answer at the tip is served at once and is not "older".
    s[0].set("getBalance", ok(&account(1_005, "5")).after(10));
    s[1].set("getBalance", hang());
    let r = balance(&pool).await.unwrap();
    assert_eq!((&*r.endpoint, r.slot, r.stale), ("a", Some(1_005), None));
    assert_eq!(r.latency, Duration::from_millis(10), "nobody waited for b");
}

#[tokio::test(start_paused = true)]
async fn a_floor_served_before_the_ceiling_gives_way_to_the_true_one() {
    let s = scripts(2);
    let pool = pool(&s, "[default]\nfreshness_window_ms = 0\n");
    wrong_served_then_anchored(&pool, &s, 900_000_000_000).await;
    // The wrong floor is gone, and the true one is recorded in its place: an answer older
    // than one served since is marked.
    s[1].set("getBalance", hang());
    s[0].set("getBalance", ok(&account(1_006, "5")).after(10));
    assert_eq!(balance(&pool).await.unwrap().slot, Some(1_006));
    s[0].set("getBalance", ok(&account(1_004, "5")).after(10));
    let r = balance(&pool).await.unwrap();
    assert_eq!((r.slot, r.stale), (Some(1_004), Some(2)));
}

const MAINNET: &str = "\"5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d\"";
const DEVNET: &str = "\"EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG\"";

/// Each endpoint answers `getGenesisHash` with its `hashes` entry.
fn tell_clusters(s: &[std::sync::Arc<Script>], hashes: &[&str]) {
    for (script, hash) in s.iter().zip(hashes) {
        script.set("getGenesisHash", ok(hash));
    }
}

#[test]
fn the_cluster_is_the_one_a_strict_majority_tells() {
    use crate::health::foreign_by_majority as verdict;
    let (m, d) = (Some("main"), Some("dev"));
    assert_eq!(verdict(&[m, m, d]), Some(vec![false, false, true]));
    assert_eq!(
        verdict(&[m, None, d, m]),
        Some(vec![false, false, true, false])
    );
    assert_eq!(verdict(&[m, d]), None, "one against one: nothing to tell");
    assert_eq!(verdict(&[m, None]), Some(vec![false, false]));
    assert_eq!(verdict(&[None, None]), None);
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_on_another_cluster_is_left_out_of_every_call() {
    let s = scripts(3);
    let pool = pool(&s, "");
    tell_clusters(&s, &[MAINNET, MAINNET, DEVNET]);
    // c is a devnet node far ahead of mainnet's slots, and answers first.
    s[2].set("getSlot", ok("900000000"));
    for (i, script) in s.iter().enumerate() {
        let slot = if i == 2 { 900_000_000 } else { 1_000 };
        script.set(
            "getBalance",
            ok(&account(slot, "5")).after(10 - 3 * i as u64),
        );
    }
    round(&pool).await;
    let st = pool.status();
    let foreign: Vec<bool> = st.endpoints.iter().map(|e| e.foreign_cluster).collect();
    assert_eq!(foreign, [false, false, true]);
    assert_eq!(st.best_slot, Some(1_000), "c's slot is another chain's");
    assert!(!lagging(&pool)[0]);
    for strategy in [
        crate::policy::Strategy::Race,
        crate::policy::Strategy::Broadcast,
    ] {
        let r = pool
            .call("getBalance", &serde_json::json!(["k"]))
            .strategy(strategy)
            .await
            .unwrap();
        assert_ne!(&*r.endpoint, "c");
    }
    assert_eq!(s[2].count("getBalance"), 0, "never asked");
    // Asked again only after a while: c moved to mainnet.
    s[2].set("getGenesisHash", ok(MAINNET));
    round(&pool).await;
    assert!(
        pool.status().endpoints[2].foreign_cluster,
        "not re-asked every round"
    );
    tokio::time::advance(Duration::from_secs(601)).await;
    round(&pool).await;
    assert!(!pool.status().endpoints[2].foreign_cluster);
}

#[tokio::test(start_paused = true)]
async fn two_endpoints_that_disagree_on_the_cluster_are_both_kept() {
    let s = scripts(2);
    let pool = pool(&s, "");
    tell_clusters(&s, &[MAINNET, DEVNET]);
    round(&pool).await;
    assert!(pool.status().endpoints.iter().all(|e| !e.foreign_cluster));
}

#[tokio::test(start_paused = true)]
async fn dual_never_asks_an_endpoint_on_another_cluster_either() {
    let s = scripts(3);
    let pool = pool(&s, "");
    tell_clusters(&s, &[MAINNET, MAINNET, DEVNET]);
    // a lags (so neither member of the pair c/a is preferred) and b fails.
    s[0].set("getSlot", ok("990"));
    round(&pool).await;
    s[0].set("getBalance", ok(&account(990, "5")).after(20));
    s[1].set("getBalance", fail(FailureKind::Connect));
    s[2].set("getBalance", ok(&account(900_000_000, "7")).after(5));
    let r = pool
        .call("getBalance", &serde_json::json!(["k"]))
        .strategy(crate::policy::Strategy::Dual)
        .await
        .unwrap();
    assert_eq!(&*r.endpoint, "a");
    assert_eq!(s[2].count("getBalance"), 0);
}

#[tokio::test(start_paused = true)]
async fn consensus_counts_its_quorum_among_the_endpoints_it_may_ask() {
    let s = scripts(3);
    let pool = pool(&s, "[default]\nquorum = 3\n");
    tell_clusters(&s, &[MAINNET, MAINNET, DEVNET]);
    round(&pool).await;
    s[0].set("getBalance", ok(&account(1_000, "5")));
    s[1].set("getBalance", ok(&account(1_000, "5")));
    let r = pool
        .call("getBalance", &serde_json::json!(["k"]))
        .strategy(crate::policy::Strategy::Consensus)
        .await
        .unwrap();
    assert_eq!(r.agreement.map(|a| (a.agreed, a.quorum)), Some((2, 2)));
}

/// Before the ceiling exists: b's probe reads `wrong` (the tip), and b's race answer with it
/// is served (the floor for this key) and seen. Then b falls silent and a moves like a chain
/// and anchors the ceiling.
async fn wrong_served_then_anchored(pool: &Pool, s: &[std::sync::Arc<Script>], wrong: u64) {
    s[0].set("getSlot", ok("1000"));
    s[1].set("getSlot", ok(&wrong.to_string()));
    round(pool).await;
    s[0].set("getBalance", ok(&account(1_000, "5")).after(10));
    s[1].set("getBalance", ok(&account(wrong, "6")).after(5));
    assert_eq!(balance(pool).await.unwrap().slot, Some(wrong));
    s[1].set("getSlot", fail(FailureKind::Connect));
    for slot in ["1003", "1005"] {
        tokio::time::advance(Duration::from_secs(1)).await;
        s[0].set("getSlot", ok(slot));
        round(pool).await;
    }
}

/// A race for the balance of one account.
fn balance(pool: &Pool) -> crate::pool::CallBuilder<'_> {
    pool.call("getBalance", &serde_json::json!(["k"]))
        .strategy(crate::policy::Strategy::Race)
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_the_ceiling_on_the_same_chain_and_drops_it_on_another() {
    let s = scripts(2);
    let old = pool(&s, "");
    tell_clusters(&s, &[MAINNET, MAINNET]);
    anchored_on_a(&old, &s, 1_004).await;
    let now = crate::clock::now();
    let limit = old.upstreams().ceiling.limit(now).expect("anchored");
    // The health loop on (an hour apart: the rounds below are the test's).
    let on = "[health]\ninterval_ms = 3600000\n";
    // Same chain: the new pool starts with the old limit and keeps it once it has seen
    // its own endpoints' cluster.
    let same = Pool::scripted_after(settings_with(2, &[], on), &s, &old);
    assert_eq!(same.upstreams().ceiling.limit(now), Some(limit));
    round(&same).await;
    assert!(
        same.upstreams()
            .ceiling
            .limit(now)
            .is_some_and(|l| l >= limit)
    );
    // The same URLs, but the providers now tell another genesis hash (and their slots are
    // far above the old limit): the inherited ceiling goes, and their slots are not
    // refused as implausible.
    let t = scripts(2);
    tell_clusters(&t, &[DEVNET, DEVNET]);
    for script in &t {
        script.set("getSlot", ok(&(limit + 100_000).to_string()));
    }
    let other = Pool::scripted_after(settings_with(2, &[], on), &t, &old);
    assert_eq!(other.upstreams().ceiling.limit(now), Some(limit));
    round(&other).await;
    assert_eq!(other.upstreams().ceiling.limit(crate::clock::now()), None);
    assert_eq!(other.endpoint(0).stats.slot(), Some(limit + 100_000));
}
