//! Strategy semantics through the library, over real HTTP to scripted upstreams. Gates
//! decide the order in which upstreams answer, so every "X before Y" case is forced, not
//! hoped for.

use std::time::Duration;

use dualrpc::{ErrorReason, FailureKind, Strategy};
use dualrpc_testkit::{Gate, Step};
use serde_json::json;

use crate::support::*;

const TX: &str = r#"{"slot":300,"blockTime":1700000000,"meta":{"err":null,"fee":5000},"transaction":{"signatures":["5xyz"]}}"#;
const SIG: &str = "5VERYLONGSIGNATURE";

// ---------------------------------------------------------------- race

#[tokio::test]
async fn race_an_early_error_never_beats_a_later_success() {
    let ups = upstreams(2).await;
    let gate = Gate::new();
    ups[0].set("getAccountInfo", Step::status(503, "busy"));
    ups[1].set(
        "getAccountInfo",
        Step::result(account(10, MINT)).gated(&gate),
    );
    let pool = pool(&ups, "");
    let call = spawn_race(&pool, "getAccountInfo", json!(["Mint"]));
    // `a`'s 503 is recorded (and so already handed to the call) before `b` may answer.
    eventually("a's failure recorded", || {
        failures(&pool, "a", "http_status") == 1
    })
    .await;
    gate.open();
    let reply = within("race", call)
        .await
        .unwrap()
        .expect("b's success wins");
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(reply.attempts, 2);
    assert_eq!(reply.result.get(), account(10, MINT));
}

#[tokio::test]
async fn race_a_timeout_never_beats_a_later_success() {
    let ups = upstreams(2).await;
    let gate = Gate::new();
    ups[0].set("getAccountInfo", Step::hang());
    ups[1].set(
        "getAccountInfo",
        Step::result(account(10, MINT)).gated(&gate),
    );
    let pool = pool_with(&ups, &["timeout_ms = 50"], "");
    let call = spawn_race_with_attempt_timeouts(&pool, "getAccountInfo", json!(["Mint"]));
    eventually("a's timeout recorded", || {
        failures(&pool, "a", "timeout") == 1
    })
    .await;
    gate.open();
    let reply = within("race", call)
        .await
        .unwrap()
        .expect("b's success wins");
    assert_eq!(&*reply.endpoint, "b");
}

#[tokio::test]
async fn race_an_empty_answer_waits_for_a_non_empty_one() {
    let ups = upstreams(2).await;
    let gate = Gate::new();
    ups[0].set("getTransaction", Step::result("null"));
    ups[1].set("getTransaction", Step::result(TX).gated(&gate));
    let pool = pool(&ups, "");
    let call = spawn_race(&pool, "getTransaction", json!([SIG]));
    eventually("a's empty answer recorded", || {
        endpoint(&pool.status(), "a").counts.empty == 1
    })
    .await;
    gate.open();
    let reply = within("race", call).await.unwrap().unwrap();
    assert_eq!(reply.result.get(), TX);
    assert!(!reply.empty);
    assert_eq!(&*reply.endpoint, "b");
}

#[tokio::test]
async fn race_account_value_null_is_empty_too_and_returned_when_all_there_is() {
    let ups = upstreams(2).await;
    ups[0].set("getAccountInfo", Step::result(account(10, "null")));
    ups[1].set(
        "getAccountInfo",
        Step::result(account(9, "null")).after(Duration::from_millis(20)),
    );
    let pool = pool(&ups, "");
    let reply = pool
        .call("getAccountInfo", &json!(["Mint"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert!(reply.empty, "only empty answers exist, so one is returned");
    assert_eq!(reply.attempts, 2);
    assert_eq!(
        ups[0].count("getAccountInfo") + ups[1].count("getAccountInfo"),
        2
    );
}

#[tokio::test]
async fn race_a_deterministic_error_ends_the_call_at_once_unchanged() {
    let ups = upstreams(2).await;
    let error = r#"{"code":-32602,"message":"Invalid param: WrongSize","data":{"why":"x"}}"#;
    ups[0].set("getAccountInfo", Step::error_json(error));
    ups[1].set("getAccountInfo", Step::hang());
    let pool = pool(&ups, "");
    let err = within(
        "race",
        pool.call("getAccountInfo", &json!(["x"]))
            .strategy(Strategy::Race)
            .timeout(Duration::from_secs(30)),
    )
    .await
    .unwrap_err();
    match &err.reason {
        ErrorReason::Rpc { error: e, endpoint } => {
            assert_eq!(e.get(), error, "forwarded byte for byte");
            assert_eq!(&**endpoint, "a");
        }
        other => panic!("expected the upstream error, got {other:?}"),
    }
    assert_eq!(err.to_jsonrpc().get(), error);
}

#[tokio::test]
async fn race_bad_upstream_answers_are_that_endpoints_failure() {
    let cases: Vec<(Step, &str)> = vec![
        (Step::wrong_id(r#"{"x":1}"#), "wrong_id"),
        (
            Step::raw("<html>502 Bad Gateway</html>"),
            "invalid_response",
        ),
        (
            Step::raw(r#"{"jsonrpc":"2.0","id":1,"result":{"val"#),
            "invalid_response",
        ),
        (Step::error(-32005, "Node is unhealthy"), "node_unhealthy"),
        (Step::too_many_requests(1), "rate_limited"),
        (Step::reset(), "transport"),
    ];
    for (step, kind) in cases {
        let ups = upstreams(2).await;
        let gate = Gate::new();
        ups[0].set("getAccountInfo", step);
        ups[1].set(
            "getAccountInfo",
            Step::result(account(5, MINT)).gated(&gate),
        );
        let pool = pool(&ups, "");
        let call = spawn_race(&pool, "getAccountInfo", json!(["m"]));
        eventually(kind, || failures(&pool, "a", kind) == 1).await;
        gate.open();
        let reply = within(kind, call)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(&*reply.endpoint, "b", "{kind}");
    }
}

#[tokio::test]
async fn race_every_endpoint_failing_lists_failures_by_name_without_urls() {
    let ups = upstreams(3).await;
    ups[0].set("getSlot", Step::status(502, "bad gateway"));
    ups[1].set("getSlot", Step::error(-32005, "Node is unhealthy"));
    ups[2].set("getSlot", Step::reset());
    let pool = pool(&ups, "");
    let err = pool
        .call("getSlot", &())
        .strategy(Strategy::Race)
        .retries(0)
        .await
        .unwrap_err();
    let ErrorReason::AllFailed { failures } = &err.reason else {
        panic!("{err:?}")
    };
    let mut got: Vec<(String, FailureKind)> = failures
        .iter()
        .map(|f| (f.endpoint.to_string(), f.kind))
        .collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        got,
        vec![
            ("a".into(), FailureKind::HttpStatus),
            ("b".into(), FailureKind::NodeUnhealthy),
            ("c".into(), FailureKind::Transport)
        ]
    );
    let text = format!("{err} {err:?} {}", err.to_jsonrpc());
    assert!(
        !text.contains(SECRET) && !text.contains("127.0.0.1"),
        "{text}"
    );
}

#[tokio::test]
async fn race_fanout_limits_the_first_wave_and_refills_on_failure() {
    let ups = upstreams(3).await;
    for u in &ups[..2] {
        u.set("getBalance", Step::status(500, "x"));
    }
    ups[2].set("getBalance", Step::result(account(1, "5")));
    let pool = pool(&ups, "");
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Race)
        .fanout(2)
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "c");
    assert_eq!(reply.attempts, 3);
}

// ---------------------------------------------------------------- failover

#[tokio::test]
async fn failover_moves_to_the_next_endpoint_on_failure_and_on_empty() {
    let ups = upstreams(3).await;
    ups[0].set("getTransaction", Step::status(503, "down"));
    ups[1].set("getTransaction", Step::result("null"));
    ups[2].set("getTransaction", Step::result(TX));
    let pool = pool(&ups, "");
    let reply = pool
        .call("getTransaction", &json!([SIG]))
        .strategy(Strategy::Failover)
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "c");
    assert_eq!(reply.attempts, 3);
    assert_eq!(
        [
            ups[0].count("getTransaction"),
            ups[1].count("getTransaction")
        ],
        [1, 1]
    );
}

#[tokio::test]
async fn failover_tries_one_endpoint_when_it_answers() {
    let ups = upstreams(3).await;
    for u in &ups {
        u.set("getSlot", Step::result("42"));
    }
    let pool = pool(&ups, "");
    let reply = pool
        .call("getSlot", &())
        .strategy(Strategy::Failover)
        .await
        .unwrap();
    assert_eq!(reply.result.get(), "42");
    assert_eq!(reply.attempts, 1);
    assert_eq!(ups.iter().map(|u| u.count("getSlot")).sum::<usize>(), 1);
}

#[tokio::test]
async fn failover_respects_max_attempts() {
    let ups = upstreams(4).await;
    for u in &ups {
        u.set("getSlot", Step::status(500, "x"));
    }
    let pool = pool(&ups, "[method.getSlot]\nmax_attempts = 2\nretries = 0\n");
    let err = pool
        .call("getSlot", &())
        .strategy(Strategy::Failover)
        .await
        .unwrap_err();
    assert_eq!(err.attempts, 2);
    assert_eq!(ups.iter().map(|u| u.count("getSlot")).sum::<usize>(), 2);
}

// ---------------------------------------------------------------- hedge

#[tokio::test]
async fn hedge_fires_the_next_attempt_after_the_delay() {
    let ups = upstreams(2).await;
    ups[0].set("getSlot", Step::hang());
    ups[1].set("getSlot", Step::result("7"));
    let pool = pool(&ups, "[hedge]\ninitial_delay_ms = 10\n");
    let reply = pool
        .call("getSlot", &())
        .strategy(Strategy::Hedge)
        .timeout(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(reply.attempts, 2);
    assert_eq!(
        ups[0].count("getSlot"),
        1,
        "the first attempt went to the best endpoint"
    );
    assert_eq!(pool.status().hedge.hedges, 1);
}

#[tokio::test]
async fn hedge_fires_at_once_on_error_without_waiting_for_the_delay() {
    let ups = upstreams(2).await;
    ups[0].set("getSlot", Step::status(503, "x"));
    ups[1].set("getSlot", Step::result("7"));
    // A delay longer than the deadline: only the error can have triggered the second attempt.
    let pool = pool(&ups, "[hedge]\ninitial_delay_ms = 60000\n");
    let reply = pool
        .call("getSlot", &())
        .strategy(Strategy::Hedge)
        .attempt_timeout(Duration::from_secs(5))
        .deadline(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(
        pool.status().hedge.hedges,
        0,
        "replacing a failed attempt is not a hedge"
    );
}

#[tokio::test]
async fn hedge_delay_adapts_to_the_measured_latency_of_the_awaited_endpoint() {
    let ups = upstreams(2).await;
    ups[0].set("getSlot", Step::result("1"));
    ups[1].set("getSlot", Step::result("1"));
    // Initial delay far beyond the deadline: only a delay learnt from measurements (a few
    // ms on loopback) lets the hedge fire in time.
    let pool = pool(&ups, "[hedge]\ninitial_delay_ms = 60000\n");
    for _ in 0..25 {
        pool.call("getSlot", &())
            .strategy(Strategy::Failover)
            .await
            .unwrap();
    }
    let first = if endpoint(&pool.status(), "a").score <= endpoint(&pool.status(), "b").score {
        0
    } else {
        1
    };
    ups[first].set("getSlot", Step::hang());
    let reply = pool
        .call("getSlot", &())
        .strategy(Strategy::Hedge)
        .attempt_timeout(Duration::from_secs(10))
        .deadline(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, NAMES[1 - first]);
    assert_eq!(pool.status().hedge.hedges, 1);
}

#[tokio::test]
async fn hedge_does_not_fire_when_the_first_answers_in_time() {
    let ups = upstreams(2).await;
    ups[0].set("getSlot", Step::result("1"));
    ups[1].set("getSlot", Step::result("1"));
    let pool = pool(&ups, "[hedge]\ninitial_delay_ms = 60000\n");
    let reply = pool
        .call("getSlot", &())
        .strategy(Strategy::Hedge)
        .await
        .unwrap();
    assert_eq!(reply.attempts, 1);
    assert_eq!(ups[1].count("getSlot"), 0);
}

#[tokio::test]
async fn hedge_budget_refuses_hedges_when_spent() {
    let ups = upstreams(2).await;
    ups[0].set(
        "getSlot",
        Step::result("1").after(Duration::from_millis(30)),
    );
    ups[1].set("getSlot", Step::result("2"));
    let pool = pool(&ups, "[hedge]\nbudget = 0.0\ninitial_delay_ms = 1\n");
    let reply = pool
        .call("getSlot", &())
        .strategy(Strategy::Hedge)
        .await
        .unwrap();
    assert_eq!(
        &*reply.endpoint, "a",
        "no hedge allowed, so the first attempt's answer is used"
    );
    assert_eq!(reply.attempts, 1);
    let h = pool.status().hedge;
    assert_eq!((h.hedges, h.denied), (0, 1));
}

// ---------------------------------------------------------------- consensus

#[tokio::test]
async fn consensus_compares_value_ignoring_context_key_order_and_whitespace() {
    let ups = upstreams(3).await;
    ups[0].set(
        "getAccountInfo",
        Step::result(r#"{"context":{"slot":10},"value":{"lamports":5,"owner":"T"}}"#),
    );
    ups[1].set(
        "getAccountInfo",
        Step::result(
            r#"{ "value" : { "owner" : "T", "lamports" : 5 }, "context" : { "slot" : 11 } }"#,
        ),
    );
    ups[2].set("getAccountInfo", Step::hang());
    let pool = pool(
        &ups,
        "[method.getAccountInfo]\nstrategy = \"consensus\"\nquorum = 2\ntimeout_ms = 30000\n",
    );
    let reply = within("consensus", pool.call("getAccountInfo", &json!(["k"])))
        .await
        .unwrap();
    assert_eq!(reply.strategy, Strategy::Consensus);
    assert!(
        ["a", "b"].contains(&&*reply.endpoint),
        "one of the agreeing answers"
    );
    assert_eq!(reply.attempts, 3);
}

#[tokio::test]
async fn consensus_counts_errors_and_empty_answers_as_missing_votes_not_disagreements() {
    for (first, what) in [
        (Step::status(503, "x"), "an error"),
        (Step::result("null"), "an empty answer"),
    ] {
        let ups = upstreams(3).await;
        ups[0].set("getTransaction", first);
        ups[1].set("getTransaction", Step::result(TX));
        ups[2].set("getTransaction", Step::result(TX));
        let pool = pool(&ups, "");
        let reply = pool
            .call("getTransaction", &json!([SIG]))
            .strategy(Strategy::Consensus)
            .quorum(2)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(reply.result.get(), TX, "{what}");
    }
}

#[tokio::test]
async fn consensus_without_quorum_reports_the_votes() {
    let ups = upstreams(3).await;
    ups[0].set("getBalance", Step::result(account(1, "5")));
    ups[1].set("getBalance", Step::result(account(1, "6")));
    ups[2].set("getBalance", Step::status(500, "x"));
    let pool = pool(&ups, "");
    let err = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Consensus)
        .quorum(2)
        .await
        .unwrap_err();
    let ErrorReason::NoQuorum {
        quorum,
        votes,
        failures,
    } = &err.reason
    else {
        panic!("{err:?}")
    };
    assert_eq!(*quorum, 2);
    let mut votes = votes.clone();
    votes.sort();
    assert_eq!(votes, vec![vec!["a".to_string()], vec!["b".to_string()]]);
    assert!(
        !failures.is_empty() && failures.iter().all(|f| &*f.endpoint == "c"),
        "{failures:?}"
    );
    let v: serde_json::Value = serde_json::from_str(err.to_jsonrpc().get()).unwrap();
    assert_eq!(v["code"], dualrpc::error::CODE_NO_QUORUM);
}

#[tokio::test]
async fn consensus_calls_more_endpoints_when_failures_make_quorum_unreachable() {
    let ups = upstreams(3).await;
    ups[0].set("getBalance", Step::status(500, "x"));
    ups[1].set("getBalance", Step::result(account(1, "5")));
    ups[2].set("getBalance", Step::result(account(2, "5")));
    let pool = pool(&ups, "");
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Consensus)
        .quorum(2)
        .fanout(2)
        .await
        .unwrap();
    assert_eq!(reply.attempts, 3);
    assert_eq!(ups[2].count("getBalance"), 1);
}

#[tokio::test]
async fn consensus_a_deterministic_error_ends_the_call() {
    let ups = upstreams(3).await;
    ups[0].set(
        "getTransaction",
        Step::error(-32602, "Invalid param: not a signature"),
    );
    ups[1].set("getTransaction", Step::hang());
    ups[2].set("getTransaction", Step::hang());
    let pool = pool(&ups, "");
    let err = within(
        "consensus",
        pool.call("getTransaction", &json!(["x"]))
            .strategy(Strategy::Consensus)
            .timeout(Duration::from_secs(30)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.reason, ErrorReason::Rpc { .. }), "{err:?}");
}

// ---------------------------------------------------------------- dual

const ROLES: [&str; 4] = [
    "role = \"primary\"",
    "role = \"secondary\"",
    "role = \"primary\"",
    "role = \"secondary\"",
];

#[tokio::test]
async fn dual_races_inside_one_pair_and_leaves_the_other_pair_alone() {
    let ups = upstreams(4).await;
    let gate = Gate::new();
    ups[0].set("getSignaturesForAddress", Step::result("[]").gated(&gate));
    ups[1].set(
        "getSignaturesForAddress",
        Step::result(r#"[{"signature":"s1","slot":5}]"#),
    );
    for u in &ups[2..] {
        u.set("getSignaturesForAddress", Step::result("[]"));
    }
    let pool = pool_with(&ups, &ROLES, "");
    let reply = pool
        .call("getSignaturesForAddress", &json!(["P"]))
        .strategy(Strategy::Dual)
        .await
        .unwrap();
    gate.open();
    assert_eq!(
        &*reply.endpoint, "b",
        "the secondary won the race inside pair (a, b)"
    );
    assert_eq!(reply.attempts, 2);
    assert_eq!(ups[0].count("getSignaturesForAddress"), 1);
    assert_eq!(
        ups[2].count("getSignaturesForAddress") + ups[3].count("getSignaturesForAddress"),
        0
    );
}

#[tokio::test]
async fn dual_fails_over_to_the_next_pair_when_both_members_fail() {
    let ups = upstreams(4).await;
    ups[0].set("getSignaturesForAddress", Step::status(503, "x"));
    ups[1].set("getSignaturesForAddress", Step::reset());
    ups[2].set(
        "getSignaturesForAddress",
        Step::result(r#"[{"signature":"s1","slot":5}]"#),
    );
    ups[3].set("getSignaturesForAddress", Step::hang());
    let pool = pool_with(&ups, &ROLES, "");
    let reply = within(
        "dual",
        pool.call("getSignaturesForAddress", &json!(["P"]))
            .strategy(Strategy::Dual)
            .timeout(Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(&*reply.endpoint, "c");
    assert_eq!(reply.attempts, 4);
}

#[tokio::test]
async fn dual_balances_concurrent_load_across_pairs() {
    let ups = upstreams(4).await;
    let gate = Gate::new();
    for u in &ups {
        u.set("getSignaturesForAddress", Step::result("[]").gated(&gate));
    }
    let pool = pool_with(&ups, &ROLES, "[cache]\ncoalesce = false\n");
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.call("getSignaturesForAddress", &json!(["P"]))
                    .strategy(Strategy::Dual)
                    .await
            })
        })
        .collect();
    // All 8 calls are out (2 attempts each) before any answer is released.
    let total = || {
        ups.iter()
            .map(|u| u.count("getSignaturesForAddress"))
            .sum::<usize>()
    };
    eventually("16 attempts out", || total() == 16).await;
    gate.open();
    for c in calls {
        within("dual", c).await.unwrap().unwrap();
    }
    let pair_a = ups[0].count("getSignaturesForAddress");
    let pair_c = ups[2].count("getSignaturesForAddress");
    assert_eq!(pair_a + pair_c, 8);
    assert!(
        pair_a >= 3 && pair_c >= 3,
        "load spread over pairs: {pair_a} vs {pair_c}"
    );
}

// ---------------------------------------------------------------- broadcast

#[tokio::test]
async fn broadcast_sends_to_every_endpoint_and_returns_the_first_success() {
    let ups = upstreams(3).await;
    let gate = Gate::new();
    ups[0].set("sendTransaction", Step::result("\"5sig\"").gated(&gate));
    ups[1].set("sendTransaction", Step::result("\"5sig\""));
    ups[2].set("sendTransaction", Step::status(503, "x"));
    let pool = pool(&ups, "");
    let reply = pool
        .call("sendTransaction", &json!(["AQID", {"encoding":"base64"}]))
        .strategy(Strategy::Broadcast)
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(reply.attempts, 3);
    // The slow endpoint still gets to complete its attempt after the call returned.
    gate.open();
    eventually("a's attempt completes", || {
        endpoint(&pool.status(), "a").counts.success == 1
    })
    .await;
    for u in &ups {
        assert_eq!(u.count("sendTransaction"), 1);
    }
}

#[tokio::test]
async fn broadcast_preflight_failure_is_final_but_blockhash_not_found_is_not() {
    let ups = upstreams(2).await;
    let preflight = r#"{"code":-32002,"message":"Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1","data":{"err":{"InstructionError":[0,{"Custom":1}]},"logs":[]}}"#;
    ups[0].set("sendTransaction", Step::error_json(preflight));
    ups[1].set("sendTransaction", Step::hang());
    let p = pool(&ups, "");
    let err = within(
        "broadcast",
        p.call("sendTransaction", &json!(["AQID"]))
            .strategy(Strategy::Broadcast)
            .timeout(Duration::from_secs(30)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_jsonrpc().get(), preflight);

    let ups = upstreams(2).await;
    let stale = r#"{"code":-32002,"message":"Transaction simulation failed: Blockhash not found","data":{"err":"BlockhashNotFound","logs":[]}}"#;
    ups[0].set("sendTransaction", Step::error_json(stale));
    ups[1].set(
        "sendTransaction",
        Step::result("\"5sig\"").after(Duration::from_millis(20)),
    );
    let p = pool(&ups, "");
    let reply = p
        .call("sendTransaction", &json!(["AQID"]))
        .strategy(Strategy::Broadcast)
        .await
        .unwrap();
    assert_eq!(
        &*reply.endpoint, "b",
        "a node that has not seen the blockhash is just behind"
    );
}

// ---------------------------------------------------------------- tracking and selection

#[tokio::test]
async fn losers_latencies_and_wins_are_recorded() {
    let ups = upstreams(2).await;
    let gate = Gate::new();
    ups[0].set("getAccountInfo", Step::result(account(1, MINT)));
    ups[1].set(
        "getAccountInfo",
        Step::result(account(1, MINT)).gated(&gate),
    );
    let pool = pool(&ups, "");
    let reply = pool
        .call("getAccountInfo", &json!(["m"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "a");
    assert_eq!(
        endpoint(&pool.status(), "b").in_flight,
        1,
        "the loser is still running"
    );
    gate.open();
    eventually("loser recorded", || {
        endpoint(&pool.status(), "b").counts.success == 1
    })
    .await;
    let st = pool.status();
    assert_eq!(
        (
            endpoint(&st, "a").counts.wins,
            endpoint(&st, "b").counts.wins
        ),
        (1, 0)
    );
    assert!(
        endpoint(&st, "b").latency_ewma_ms.is_some(),
        "loser latency measured"
    );
    assert_eq!(endpoint(&st, "b").in_flight, 0);
}

#[tokio::test]
async fn selection_prefers_the_faster_endpoint() {
    let ups = upstreams(2).await;
    ups[0].set(
        "getSlot",
        Step::result("1").after(Duration::from_millis(250)),
    );
    ups[1].set("getSlot", Step::result("1"));
    let pool = pool(&ups, "");
    // Warm both up with races so each has latency samples.
    for _ in 0..5 {
        pool.call("getSlot", &())
            .strategy(Strategy::Race)
            .await
            .unwrap();
    }
    eventually("both measured", || settled(&pool, "a") == 5).await;
    for _ in 0..20 {
        pool.call("getSlot", &())
            .strategy(Strategy::Failover)
            .await
            .unwrap();
    }
    assert_eq!(
        ups[0].count("getSlot"),
        5,
        "failover calls all went to the faster endpoint"
    );
    assert_eq!(ups[1].count("getSlot"), 25);
}

#[tokio::test]
async fn upstream_connections_are_kept_alive() {
    let ups = upstreams(1).await;
    ups[0].set("getSlot", Step::result("1"));
    let pool = pool(&ups, "");
    for _ in 0..20 {
        pool.call("getSlot", &()).await.unwrap();
    }
    assert_eq!(ups[0].count("getSlot"), 20);
    assert_eq!(
        ups[0].connections(),
        1,
        "20 sequential calls share one connection"
    );
}

#[tokio::test]
async fn params_and_method_reach_the_upstream_unchanged() {
    let ups = upstreams(1).await;
    ups[0].set("getAccountInfo", Step::result(account(1, MINT)));
    let pool = pool(&ups, "");
    let params = json!(["So11111111111111111111111111111111111111112", {"encoding": "base64", "commitment": "processed"}]);
    pool.call("getAccountInfo", &params).await.unwrap();
    let seen = ups[0].last_request("getAccountInfo").unwrap();
    assert_eq!(seen["params"], params);
    assert_eq!(seen["jsonrpc"], "2.0");
    assert!(seen["id"].is_u64());
}

// ---------------------------------------------------------------- retry round

#[tokio::test]
async fn a_transient_failure_is_retried_when_the_only_other_answer_is_empty() {
    for strategy in [
        Strategy::Race,
        Strategy::Failover,
        Strategy::Hedge,
        Strategy::Dual,
    ] {
        let ups = upstreams(2).await;
        // `a` has the transaction but fails once; `b` lags and has not seen it.
        ups[0].push("getTransaction", Step::status(503, "blip"));
        ups[0].set("getTransaction", Step::result(TX));
        ups[1].set("getTransaction", Step::result("null"));
        let pool = pool(&ups, "");
        let reply = pool
            .call("getTransaction", &json!([SIG]))
            .strategy(strategy)
            .await
            .unwrap();
        assert!(!reply.empty, "{strategy}: the retry found the transaction");
        assert_eq!(&*reply.endpoint, "a", "{strategy}");
        assert_eq!(reply.attempts, 3, "{strategy}");
        assert_eq!(ups[0].count("getTransaction"), 2, "{strategy}");
    }
}

#[tokio::test]
async fn every_endpoint_failing_once_is_retried_within_the_deadline() {
    let script = |ups: &[dualrpc_testkit::Upstream]| {
        ups[0].push("getBalance", Step::reset());
        ups[1].push("getBalance", Step::status(502, "x"));
        for u in ups {
            u.set("getBalance", Step::result(account(1, "5")));
        }
    };
    let ups = upstreams(2).await;
    script(&ups);
    let reply = pool(&ups, "")
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!(reply.attempts, 4);
    let ups = upstreams(2).await;
    script(&ups);
    let err = pool(&ups, "[method.getBalance]\nretries = 0\n")
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Race)
        .await
        .unwrap_err();
    assert_eq!(err.attempts, 2, "retries = 0 turns the round off");
}

#[tokio::test]
async fn consensus_asks_a_failed_voter_once_more_and_counts_real_agreement_only() {
    let ups = upstreams(2).await;
    ups[0].push("getBalance", Step::status(503, "blip"));
    for u in &ups {
        u.set("getBalance", Step::result(account(1, "5")));
    }
    let pool = pool(&ups, "");
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Consensus)
        .quorum(2)
        .await
        .unwrap();
    assert_eq!(reply.attempts, 3, "a failed once and was asked once more");
    assert_eq!(
        reply.agreement,
        Some(dualrpc::Agreement {
            agreed: 2,
            quorum: 2
        })
    );
}

#[tokio::test]
async fn consensus_asks_an_empty_voter_again_until_it_catches_up() {
    let ups = upstreams(2).await;
    ups[0].set("getTransaction", Step::result(TX));
    // `b` lags: it has not seen the transaction for its first two answers.
    ups[1].push("getTransaction", Step::result("null"));
    ups[1].push("getTransaction", Step::result("null"));
    ups[1].set("getTransaction", Step::result(TX));
    let pool = pool(&ups, "");
    let reply = pool
        .call("getTransaction", &json!([SIG]))
        .strategy(Strategy::Consensus)
        .quorum(2)
        .deadline(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(reply.result.get(), TX);
    assert_eq!(ups[1].count("getTransaction"), 3);
    assert_eq!(reply.attempts, 4);
}

#[tokio::test]
async fn consensus_returns_empty_at_once_when_every_answer_is_empty() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getTransaction", Step::result("null"));
    }
    let pool = pool(&ups, "");
    let reply = pool
        .call("getTransaction", &json!([SIG]))
        .strategy(Strategy::Consensus)
        .quorum(2)
        .deadline(Duration::from_secs(30))
        .await
        .unwrap();
    assert!(reply.empty);
    assert_eq!(
        reply.attempts, 2,
        "nobody knows more, so nobody is asked again"
    );
}
