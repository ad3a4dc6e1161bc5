//! Upstream budgets through HTTP: rate limits, 429 cool-down, adaptive fan-out, request
//! coalescing and the finality-aware cache.

use std::time::{Duration, Instant};

use dualrpc::{ErrorReason, Strategy};
use dualrpc_testkit::{Gate, Step};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn an_endpoint_never_gets_more_than_its_rate_limit() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getBalance", Step::result(account(1, "5")));
    }
    // `a` allows 3 calls at once and 1 per second after that; `b` is unlimited.
    let pool = pool_with(&ups, &["rate_limit = { rps = 1, burst = 3 }"], "");
    let started = Instant::now();
    for _ in 0..20 {
        pool.call("getBalance", &json!(["k"]))
            .strategy(Strategy::Race)
            .await
            .unwrap();
    }
    let allowed = 3 + started.elapsed().as_secs() + 1;
    let sent = ups[0].count("getBalance") as u64;
    assert!(
        sent <= allowed,
        "a got {sent} calls, its budget allows {allowed}"
    );
    assert_eq!(ups[1].count("getBalance"), 20, "the rest went to b");
}

#[tokio::test]
async fn method_weights_spend_the_budget_faster() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getProgramAccounts", Step::result("[]"));
    }
    let pool = pool_with(
        &ups,
        &["rate_limit = { rps = 0.001, burst = 10 }\nmethod_weights = { getProgramAccounts = 5 }"],
        "",
    );
    for _ in 0..4 {
        pool.call("getProgramAccounts", &json!(["P"]))
            .strategy(Strategy::Failover)
            .await
            .unwrap();
    }
    assert_eq!(
        ups[0].count("getProgramAccounts"),
        2,
        "10 tokens at 5 per call"
    );
}

#[tokio::test]
async fn calls_wait_for_budget_instead_of_failing_and_fail_clearly_past_the_deadline() {
    let ups = upstreams(1).await;
    ups[0].set("getBalance", Step::result(account(1, "9")));
    let pool = pool_with(&ups, &["rate_limit = { rps = 20, burst = 1 }"], "");
    // Different params, so coalescing does not merge them.
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.call("getBalance", &json!([i]))
                    .deadline(Duration::from_secs(10))
                    .await
            })
        })
        .collect();
    for c in calls {
        within("queued call", c)
            .await
            .unwrap()
            .expect("served once budget refilled");
    }
    assert_eq!(ups[0].count("getBalance"), 4);
    // A budget that cannot refill before the deadline: a clear error, nothing sent.
    let ups = upstreams(1).await;
    let pool = pool_with(&ups, &["rate_limit = { rps = 0.01, burst = 1 }"], "");
    pool.call("getSlot", &()).await.unwrap();
    let err = pool
        .call("getSlot", &())
        .deadline(Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err.reason, ErrorReason::OverBudget), "{err:?}");
    let v: Value = serde_json::from_str(err.to_jsonrpc().get()).unwrap();
    assert_eq!(v["code"], dualrpc::error::CODE_OVER_BUDGET);
    assert_eq!(ups[0].count("getSlot"), 1);
}

#[tokio::test]
async fn a_429_cools_the_endpoint_down_and_the_client_never_sees_it() {
    let ups = upstreams(2).await;
    ups[0].set("getBalance", Step::too_many_requests(30));
    ups[1].set("getBalance", Step::result(account(1, "5")));
    let gw = gateway(pool(&ups, "")).await;
    for i in 0..5 {
        let r = client()
            .post(&gw.url)
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"getBalance","params":["k"]}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-dualrpc-endpoint"], "b");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["result"]["value"], 5, "{v}");
    }
    assert_eq!(
        ups[0].count("getBalance"),
        1,
        "left alone for its Retry-After"
    );
}

#[tokio::test]
async fn fan_out_shrinks_as_budgets_tighten() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getBalance", Step::result(account(1, "5")));
    }
    // Four tokens each and (practically) no refill; extras need half the burst left.
    let limit = "rate_limit = { rps = 0.001, burst = 4 }";
    let pool = pool_with(&ups, &[limit, limit], "");
    let mut per_call = Vec::new();
    for _ in 0..4 {
        let before = ups[0].count("getBalance") + ups[1].count("getBalance");
        let r = pool
            .call("getBalance", &json!(["k"]))
            .strategy(Strategy::Race)
            .retries(0)
            .await
            .unwrap();
        // The race's loser may still be on its way; wait for both attempts to land.
        eventually("attempts settled", || {
            settled(&pool, "a") + settled(&pool, "b") == (before as u64 + u64::from(r.attempts))
        })
        .await;
        per_call.push(r.attempts);
    }
    assert_eq!(
        per_call,
        vec![2, 2, 1, 1],
        "full width while budget is plentiful, then single calls"
    );
}

#[tokio::test]
async fn identical_calls_in_flight_share_one_upstream_execution() {
    let ups = upstreams(1).await;
    let gate = Gate::new();
    // `getVersion` does not move with the chain, so callers join however far apart they
    // arrive (data that does, only within 10 ms: too tight for five real connections on a
    // loaded machine).
    ups[0].set(
        "getVersion",
        Step::result(r#"{"solana-core":"2.2.0"}"#).gated(&gate),
    );
    ups[0].set("sendTransaction", Step::result("\"5sig\"").gated(&gate));
    let gw = gateway(pool(&ups, "")).await;
    let send = |id: usize, method: &'static str| {
        let url = gw.url.clone();
        tokio::spawn(async move {
            client()
                .post(url)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"jsonrpc":"2.0","id":"c{id}","method":"{method}","params":["Mint111"]}}"#
                ))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    let reads: Vec<_> = (0..5).map(|i| send(i, "getVersion")).collect();
    let sends: Vec<_> = (0..3).map(|i| send(i, "sendTransaction")).collect();
    within("read upstream", ups[0].wait_for("getVersion", 1)).await;
    within("sends upstream", ups[0].wait_for("sendTransaction", 3)).await;
    gate.open();
    for (i, r) in reads.into_iter().enumerate() {
        let v = within("read", r).await.unwrap();
        assert_eq!(v["id"], format!("c{i}"), "each caller gets its own id");
        assert_eq!(v["result"]["solana-core"], "2.2.0");
    }
    for r in sends {
        within("send", r).await.unwrap();
    }
    assert_eq!(
        ups[0].count("getVersion"),
        1,
        "five reads, one upstream call"
    );
    assert_eq!(ups[0].count("sendTransaction"), 3, "sends are never merged");
    let metrics = get_text(&format!("{}/metrics", gw.url)).await;
    assert!(metrics.contains("dualrpc_coalesced_total"), "{metrics}");
}

#[tokio::test]
async fn final_answers_are_cached_and_changing_ones_are_not() {
    let ups = upstreams(1).await;
    ups[0].set(
        "getTransaction",
        Step::result(r#"{"slot":5,"meta":{"err":null}}"#),
    );
    ups[0].set("getAccountInfo", Step::result(account(7, MINT)));
    ups[0].set(
        "getLatestBlockhash",
        Step::result(
            r#"{"context":{"slot":7},"value":{"blockhash":"H","lastValidBlockHeight":9}}"#,
        ),
    );
    let pool = pool(&ups, "[method.getLatestBlockhash]\ncache_ttl_ms = 60000\n");
    let finalized =
        json!(["sig", {"commitment": "finalized", "maxSupportedTransactionVersion": 0}]);
    let first = pool.call("getTransaction", &finalized).await.unwrap();
    assert!(!first.cached);
    let second = pool.call("getTransaction", &finalized).await.unwrap();
    assert!(second.cached && second.attempts == 0 && &*second.endpoint == "cache");
    assert_eq!(second.result.get(), first.result.get());
    assert_eq!(ups[0].count("getTransaction"), 1);
    // Confirmed data can still change (fork): never cached.
    let confirmed =
        json!(["sig", {"commitment": "confirmed", "maxSupportedTransactionVersion": 0}]);
    pool.call("getTransaction", &confirmed).await.unwrap();
    pool.call("getTransaction", &confirmed).await.unwrap();
    assert_eq!(ups[0].count("getTransaction"), 3);
    // Account state changes every slot: not cached by default.
    pool.call("getAccountInfo", &json!(["m"])).await.unwrap();
    pool.call("getAccountInfo", &json!(["m"])).await.unwrap();
    assert_eq!(ups[0].count("getAccountInfo"), 2);
    // A method given a TTL is served from cache within it.
    pool.call("getLatestBlockhash", &()).await.unwrap();
    assert!(pool.call("getLatestBlockhash", &()).await.unwrap().cached);
    assert_eq!(ups[0].count("getLatestBlockhash"), 1);
    // A null ("not seen yet") is never cached.
    ups[0].set("getTransaction", Step::result("null"));
    let other = json!(["sig2"]);
    pool.call("getTransaction", &other).await.unwrap();
    pool.call("getTransaction", &other).await.unwrap();
    assert_eq!(ups[0].count("getTransaction"), 5);
}
