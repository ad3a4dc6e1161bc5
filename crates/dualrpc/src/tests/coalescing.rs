//! Coalescing and its unhappy paths, under paused time: a leader that goes away, followers
//! with shorter and longer budgets, policies that differ, and many abandoned calls.

use std::future::IntoFuture;
use std::time::Duration;

use serde_json::json;

use super::alloc::live_bytes;
use super::script::*;
use crate::error::ErrorReason;
use crate::policy::Strategy;
use crate::pool::Pool;

const MS: Duration = Duration::from_millis(1);

/// Starts a call, lets it register and launch its attempts, then drops it: a client that
/// disconnected.
async fn abandon(pool: &Pool, params: serde_json::Value) {
    let mut call = pool.call("getAccountInfo", &params).into_future();
    assert!(futures_util::poll!(&mut call).is_pending());
    drop(call);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_call_never_serves_a_later_caller() {
    let s = scripts(1);
    s[0].set("getAccountInfo", ok(&account(1, "\"old\"")).after(300));
    let pool = pool(&s, "[default]\ndeadline_ms = 2000\n");
    abandon(&pool, json!(["mint"])).await;
    assert_eq!(pool.status().coalescing, Some(0), "its entry went with it");
    tokio::time::sleep(50 * MS).await;
    // A second later the account has changed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    s[0].set("getAccountInfo", ok(&account(2, "\"new\"")).after(20));
    let reply = pool.call("getAccountInfo", &json!(["mint"])).await.unwrap();
    assert_eq!(reply.result.get(), account(2, "\"new\""));
    assert!(!reply.coalesced);
    assert_eq!(reply.attempts, 1);
    assert_eq!(s[0].count("getAccountInfo"), 2);
}

#[tokio::test(start_paused = true)]
async fn callers_join_only_flights_that_end_within_their_own_deadline() {
    let s = scripts(1);
    s[0].set("getAccountInfo", ok(&account(1, "1")).after(500));
    let pool = pool(&s, "");
    let leader = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.call("getAccountInfo", &json!(["m"]))
                .timeout(Duration::from_secs(2))
                .await
        }
    });
    settle_tasks().await;
    let started = crate::clock::now();
    let short = pool
        .call("getAccountInfo", &json!(["m"]))
        .timeout(5 * MS)
        .await
        .unwrap_err();
    assert!(matches!(short.reason, ErrorReason::Deadline { .. }));
    assert_eq!(
        crate::clock::now() - started,
        5 * MS,
        "its own 5 ms, not the leader's"
    );
    assert_eq!(
        short.attempts, 1,
        "it ran alone: the leader ends after its deadline"
    );
    let follower = pool
        .call("getAccountInfo", &json!(["m"]))
        .timeout(Duration::from_secs(2))
        .await
        .unwrap();
    assert!(follower.coalesced);
    assert_eq!(follower.attempts, 0);
    assert!(leader.await.unwrap().is_ok());
    assert_eq!(
        s[0].count("getAccountInfo"),
        2,
        "the 5 ms caller ran alone; the 2 s caller shared the leader's execution"
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_a_moment_later_asks_anew_for_data_that_changes() {
    let s = scripts(1);
    s[0].set("getAccountInfo", ok(&account(1, "1")).after(100));
    let pool = pool(&s, "");
    let call = |pool: &Pool| {
        let pool = pool.clone();
        tokio::spawn(async move { pool.call("getAccountInfo", &json!(["m"])).await })
    };
    let leader = call(&pool);
    settle_tasks().await;
    // Within the join window: the same question, shared.
    tokio::time::sleep(crate::coalesce::JOIN_WINDOW).await;
    let with_leader = call(&pool);
    settle_tasks().await;
    // A bot's next poll (here 20 ms on): its own call, not the previous poll's answer.
    tokio::time::sleep(20 * MS - crate::coalesce::JOIN_WINDOW).await;
    let next_poll = call(&pool);
    let (leader, with_leader, next_poll) = (
        leader.await.unwrap().unwrap(),
        with_leader.await.unwrap().unwrap(),
        next_poll.await.unwrap().unwrap(),
    );
    assert!(!leader.coalesced);
    assert!(with_leader.coalesced);
    assert!(!next_poll.coalesced, "a flight 20 ms old is not joined");
    assert_eq!(next_poll.attempts, 1);
    assert_eq!(s[0].count("getAccountInfo"), 2);
    // Data that does not move with the chain (`getVersion`) is shared however late.
    s[0].set("getVersion", ok("{\"solana-core\":\"2.2.0\"}").after(100));
    let first = tokio::spawn({
        let pool = pool.clone();
        async move { pool.call("getVersion", &()).await }
    });
    settle_tasks().await;
    tokio::time::sleep(50 * MS).await;
    let late = pool.call("getVersion", &()).await.unwrap();
    assert!(first.await.unwrap().is_ok());
    assert!(late.coalesced, "not fresh-sensitive: joined 50 ms on");
}

#[tokio::test(start_paused = true)]
async fn a_follower_with_more_time_runs_again_after_the_leader_ran_out() {
    let s = scripts(1);
    s[0].set("getAccountInfo", ok(&account(1, "1")).after(100));
    let pool = pool(&s, "");
    let leader = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.call("getAccountInfo", &json!(["m"]))
                .timeout(10 * MS)
                .await
        }
    });
    settle_tasks().await;
    let follower = pool
        .call("getAccountInfo", &json!(["m"]))
        .timeout(Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        leader.await.unwrap().is_err(),
        "the leader's 10 ms were not enough"
    );
    assert!(!follower.coalesced, "it ran the call itself");
    assert_eq!(s[0].count("getAccountInfo"), 2);
}

#[tokio::test(start_paused = true)]
async fn calls_with_different_policies_never_share() {
    let s = scripts(3);
    for sc in &s {
        sc.set("getAccountInfo", ok(&account(1, "1")).after(100));
    }
    let pool = pool(&s, "");
    let run = |strategy: Strategy, quorum: usize| {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.call("getAccountInfo", &json!(["m"]))
                .strategy(strategy)
                .quorum(quorum)
                .await
                .unwrap()
        })
    };
    let race = run(Strategy::Race, 2);
    let q2 = run(Strategy::Consensus, 2);
    let q3 = run(Strategy::Consensus, 3);
    let q3_again = run(Strategy::Consensus, 3);
    let (race, q2, q3, q3_again) = (
        race.await.unwrap(),
        q2.await.unwrap(),
        q3.await.unwrap(),
        q3_again.await.unwrap(),
    );
    assert!(!race.coalesced && !q2.coalesced && !q3.coalesced);
    assert!(q3_again.coalesced, "the same policy shares");
    assert_eq!(q2.agreement.unwrap().agreed, 2);
    assert_eq!(q3.agreement.unwrap().agreed, 3);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_abandoned_distinct_calls_leave_no_entry_and_no_memory() {
    let s = scripts(1);
    s[0].set("getAccountInfo", ok(&account(1, "1")).after(300));
    let pool = pool(&s, "");
    // Warm up whatever is allocated once (stats tracks, metric handles, map capacity).
    for i in 0..1_000 {
        abandon(&pool, json!([format!("warm-{i}")])).await;
        if i % 100 == 99 {
            tokio::time::sleep(MS).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle_tasks().await;
    let before = live_bytes();
    for i in 0..10_000 {
        abandon(&pool, json!([format!("mint-{i}")])).await;
        if i % 100 == 99 {
            // Clients leave over time (a hundred per millisecond). Abandoned all in the
            // same instant, 10,000 attempts would also end in one instant, and the
            // runtime's run queue would keep the capacity for all of them.
            tokio::time::sleep(MS).await;
        }
    }
    assert_eq!(
        pool.status().coalescing,
        Some(0),
        "each left nothing behind at once"
    );
    // Their attempts finish on their own, and then nothing of them remains.
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle_tasks().await;
    assert_eq!(s[0].count("getAccountInfo"), 11_000);
    assert_eq!(pool.status().endpoints[0].in_flight, 0);
    let grown = live_bytes() - before;
    assert!(
        grown < 16 * 1024,
        "{grown} bytes still held after 10,000 abandoned calls"
    );
}
