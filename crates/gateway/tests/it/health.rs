//! Circuit breaker, health loop and slot lag, observed through the pool and `/health`.

use dualrpc::Strategy;
use dualrpc_testkit::Step;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_failing_endpoint_is_taken_out_and_probed_back() {
    let ups = upstreams(2).await;
    ups[0].set("getBalance", Step::status(503, "down"));
    ups[0].set("getSlot", Step::status(503, "down"));
    ups[1].set("getBalance", Step::result(account(1, "5")));
    let pool = pool(
        &ups,
        "[breaker]\nfailures = 3\nopen_ms = 1000\n[health]\ninterval_ms = 10\nmax_slot_lag = 1000\n",
    );
    // Failover tries `a` first while scores are equal; three failures open its circuit.
    for _ in 0..3 {
        pool.call("getBalance", &json!(["k"]))
            .strategy(Strategy::Race)
            .await
            .unwrap();
    }
    eventually("circuit open", || {
        endpoint(&pool.status(), "a").circuit == "open"
    })
    .await;
    let before = ups[0].count("getBalance");
    for _ in 0..10 {
        let r = pool
            .call("getBalance", &json!(["k"]))
            .strategy(Strategy::Race)
            .await
            .unwrap();
        assert_eq!(&*r.endpoint, "b");
    }
    assert_eq!(
        ups[0].count("getBalance"),
        before,
        "no calls reach an open circuit"
    );
    // The endpoint recovers; the health loop's probe closes the circuit after the cool-down.
    ups[0].set("getSlot", Step::result("1000"));
    ups[0].set("getBalance", Step::result(account(1, "5")));
    eventually("circuit closed by a probe", || {
        endpoint(&pool.status(), "a").circuit == "closed"
    })
    .await;
    pool.call("getBalance", &json!(["k"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!(ups[0].count("getBalance"), before + 1, "back in rotation");
}

#[tokio::test]
async fn when_every_circuit_is_open_the_pool_still_tries_one() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getBalance", Step::status(503, "down"));
    }
    let pool = pool(&ups, "[breaker]\nfailures = 1\nopen_ms = 60000\n");
    let _ = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Race)
        .await;
    assert!(!pool.is_healthy());
    ups[1].set("getBalance", Step::result(account(1, "5")));
    ups[0].set("getBalance", Step::result(account(1, "5")));
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!(
        reply.attempts, 1,
        "last resort: the best open endpoint, forced"
    );
}

#[tokio::test]
async fn lagging_endpoints_are_skipped() {
    let ups = upstreams(3).await;
    ups[0].set("getSlot", Step::result("1000"));
    ups[1].set("getSlot", Step::result("900"));
    ups[2].set("getSlot", Step::result("995"));
    for u in &ups {
        u.set("getAccountInfo", Step::result(account(1, MINT)));
    }
    let pool = pool(&ups, "[health]\ninterval_ms = 10\nmax_slot_lag = 20\n");
    eventually("b marked lagging", || endpoint(&pool.status(), "b").lagging).await;
    let st = pool.status();
    assert_eq!(st.best_slot, Some(1000));
    assert!(!endpoint(&st, "a").lagging && !endpoint(&st, "c").lagging);
    for _ in 0..5 {
        pool.call("getAccountInfo", &json!(["m"]))
            .strategy(Strategy::Race)
            .await
            .unwrap();
    }
    assert_eq!(
        ups[1].count("getAccountInfo"),
        0,
        "race skips the lagging endpoint"
    );
    assert_eq!(ups[0].count("getAccountInfo"), 5);
    // It catches up and comes back.
    ups[1].set("getSlot", Step::result("1000"));
    eventually("b caught up", || !endpoint(&pool.status(), "b").lagging).await;
    pool.call("getAccountInfo", &json!(["m"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!(ups[1].count("getAccountInfo"), 1);
}

#[tokio::test]
async fn fresher_endpoints_are_preferred_for_fresh_data_within_the_lag_limit() {
    let ups = upstreams(2).await;
    // `a` trails by 2 slots: not "lagging" (limit 50) but behind for new transactions.
    ups[0].set("getSlot", Step::result("998"));
    ups[1].set("getSlot", Step::result("1000"));
    for u in &ups {
        u.set("getTransaction", Step::result(r#"{"slot":999}"#));
    }
    let pool = pool(&ups, "[health]\ninterval_ms = 10\nmax_slot_lag = 50\n");
    eventually("slots seen", || {
        endpoint(&pool.status(), "a").slot == Some(998)
            && endpoint(&pool.status(), "b").slot == Some(1000)
    })
    .await;
    assert!(!endpoint(&pool.status(), "a").lagging);
    for _ in 0..5 {
        let r = pool
            .call(
                "getTransaction",
                &json!(["sig", {"commitment": "confirmed"}]),
            )
            .strategy(Strategy::Failover)
            .await
            .unwrap();
        assert_eq!(
            &*r.endpoint, "b",
            "the node at the tip serves fresh data first"
        );
    }
}
