//! Strategy edge cases under paused time: exact latencies, exact orderings.

use std::time::Duration;

use serde_json::json;

use super::script::*;
use crate::error::ErrorReason;
use crate::outcome::FailureKind;
use crate::policy::Strategy;

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn race_an_early_failure_never_beats_a_later_success() {
    let s = scripts(2);
    s[0].set("getBalance", fail(FailureKind::Transport).after(1));
    s[1].set("getBalance", ok(&account(1, "5")).after(30));
    let reply = pool(&s, "")
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(reply.latency, 30 * MS, "waited for the success, exactly");
}

#[tokio::test(start_paused = true)]
async fn hedge_fires_after_the_initial_delay_and_the_faster_answer_wins() {
    let s = scripts(2);
    s[0].set("getBalance", ok(&account(1, "5")).after(100));
    s[1].set("getBalance", ok(&account(1, "5")).after(10));
    // `a` first (config order breaks the tie), the hedge to `b` at 50 ms, b's answer at 60
    // (no freshness window: a's answer, still out, is not waited for).
    let reply = pool(
        &s,
        "[default]\nfreshness_window_ms = 0\n[hedge]\ninitial_delay_ms = 50\n",
    )
    .call("getBalance", &json!(["k"]))
    .strategy(Strategy::Hedge)
    .await
    .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(reply.latency, 60 * MS);
    assert_eq!(reply.attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn tiny_budgets_never_open_circuits_or_move_latency_estimates() {
    let s = scripts(2);
    for sc in &s {
        sc.set("getBalance", ok(&account(1, "5")).after(20));
    }
    let pool = pool(&s, "[breaker]\nfailures = 2\n");
    for _ in 0..10 {
        let err = pool
            .call("getBalance", &json!(["k"]))
            .strategy(Strategy::Race)
            .timeout(MS)
            .await
            .unwrap_err();
        assert!(
            matches!(err.reason, ErrorReason::Deadline { .. }),
            "{err:?}"
        );
        assert_eq!(err.latency, MS, "the caller got its answer on its budget");
    }
    // The attempts go on and finish on the endpoints' own time.
    tokio::time::sleep(100 * MS).await;
    let status = pool.status();
    for ep in &status.endpoints {
        assert_eq!(ep.circuit, "closed", "{}", ep.name);
        assert!(ep.counts.failures.is_empty(), "{:?}", ep.counts);
        assert_eq!(ep.counts.success, 10);
        let ewma = ep.latency_ewma_ms.unwrap();
        assert!((19.9..=20.1).contains(&ewma), "{} ewma {ewma}", ep.name);
    }
    assert!(status.healthy);
}

#[tokio::test(start_paused = true)]
async fn an_error_every_answering_endpoint_agrees_on_is_the_answer_without_a_retry() {
    for (code, message) in [
        (
            -32007,
            "Slot 5 was skipped, or missing due to ledger jump to recent snapshot",
        ),
        (
            -32009,
            "Slot 5 was skipped, or missing in long-term storage",
        ),
        (-32601, "Method not found"),
    ] {
        let s = scripts(3);
        for sc in &s {
            sc.set("getBlock", err(code, message));
        }
        s[2].set("getBlock", fail(FailureKind::Transport));
        let pool = pool(&s, "[breaker]\nfailures = 1\n");
        let e = pool
            .call("getBlock", &json!([5]))
            .strategy(Strategy::Race)
            .await
            .unwrap_err();
        let ErrorReason::Rpc { error, .. } = &e.reason else {
            panic!("{code}: {e:?}")
        };
        let v: serde_json::Value = serde_json::from_str(error.get()).unwrap();
        assert_eq!(v["code"], code);
        assert_eq!(v["message"], message);
        assert_eq!(
            e.attempts, 3,
            "{code}: no retry round after an agreed error"
        );
        let status = pool.status();
        for ep in &status.endpoints[..2] {
            assert_eq!(ep.circuit, "closed", "{code}: not the node's failure");
        }
    }
    // Different errors are not agreement: the client gets the gateway's failure list.
    let s = scripts(2);
    s[0].set("getBlock", err(-32007, "Slot 5 was skipped"));
    s[1].set(
        "getBlock",
        err(-32009, "Slot 5 was skipped in long-term storage"),
    );
    let e = pool(&s, "")
        .call("getBlock", &json!([5]))
        .strategy(Strategy::Failover)
        .await
        .unwrap_err();
    assert!(matches!(e.reason, ErrorReason::AllFailed { .. }), "{e:?}");
}

#[tokio::test(start_paused = true)]
async fn a_refused_extra_attempt_stays_a_candidate_for_a_needed_one() {
    let s = scripts(2);
    s[0].set("getBalance", fail(FailureKind::HttpStatus).after(5));
    s[1].set("getBalance", ok(&account(1, "5")).after(5));
    // `b` allows one call at a time: never headroom for an extra attempt.
    let pool = pool_with(&s, &["", "rate_limit = { rps = 10, burst = 1 }"], "");
    for strategy in [Strategy::Race, Strategy::Hedge, Strategy::Dual] {
        let reply = pool
            .call("getBalance", &json!(["k"]))
            .strategy(strategy)
            .await
            .unwrap_or_else(|e| panic!("{strategy}: {e:?}"));
        assert_eq!(&*reply.endpoint, "b", "{strategy}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Consensus)
        .quorum(1)
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "b");
}

#[tokio::test(start_paused = true)]
async fn dual_alternates_equal_pairs_for_sequential_callers() {
    let s = scripts(4);
    for sc in &s {
        sc.set("getBalance", ok(&account(1, "5")).after(10));
    }
    let roles = [
        "role = \"primary\"",
        "role = \"secondary\"",
        "role = \"primary\"",
        "role = \"secondary\"",
    ];
    let pool = pool_with(&s, &roles, "");
    let call = || async {
        pool.call("getBalance", &json!(["k"]))
            .strategy(Strategy::Dual)
            .await
            .unwrap()
    };
    // Until both pairs are measured the unmeasured one looks slower; then they are equal.
    for _ in 0..10 {
        call().await;
    }
    let before: Vec<usize> = s.iter().map(|sc| sc.count("getBalance")).collect();
    for _ in 0..40 {
        call().await;
    }
    let counts: Vec<usize> = s
        .iter()
        .zip(&before)
        .map(|(sc, b)| sc.count("getBalance") - b)
        .collect();
    assert_eq!(counts[0], counts[1], "both members of a pair race");
    assert!(counts[0].abs_diff(counts[2]) <= 1, "{counts:?}");
    assert_eq!(counts[0] + counts[2], 40);
}

#[tokio::test(start_paused = true)]
async fn dual_gives_a_slower_pair_proportionally_less() {
    let s = scripts(4);
    s[0].set("getBalance", ok(&account(1, "5")).after(10));
    s[1].set("getBalance", ok(&account(1, "5")).after(10));
    s[2].set("getBalance", ok(&account(1, "5")).after(30));
    s[3].set("getBalance", ok(&account(1, "5")).after(30));
    let pool = pool(&s, "");
    for _ in 0..80 {
        pool.call("getBalance", &json!(["k"]))
            .strategy(Strategy::Dual)
            .await
            .unwrap();
        // Let the losing member's attempt finish, as between a bot's polls.
        tokio::time::sleep(40 * MS).await;
    }
    let fast = s[0].count("getBalance");
    let slow = s[2].count("getBalance");
    assert_eq!(fast + slow, 80);
    // Weights 1/10 and 1/30: about a quarter of the calls for the slow pair.
    assert!((14..=26).contains(&slow), "fast {fast}, slow {slow}");
}

#[tokio::test(start_paused = true)]
async fn dual_ranks_a_pair_by_the_member_that_can_serve() {
    let s = scripts(4);
    for sc in &s {
        sc.set("getBalance", ok(&account(1, "5")).after(10));
    }
    // `a` (the better member of pair a/b) is out: it fails and its circuit opens.
    s[0].set("getBalance", fail(FailureKind::Connect));
    let pool = pool(&s, "[breaker]\nfailures = 1\nopen_ms = 60000\n");
    pool.call("getBalance", &json!(["k"]))
        .strategy(Strategy::Failover)
        .max_attempts(1)
        .retries(0)
        .await
        .unwrap_err();
    assert_eq!(pool.status().endpoints[0].circuit, "open");
    for _ in 0..20 {
        pool.call("getBalance", &json!(["k"]))
            .strategy(Strategy::Dual)
            .await
            .unwrap();
        tokio::time::sleep(20 * MS).await;
    }
    // Pair a/b still gets its share through `b`, and `a` is never asked.
    assert_eq!(s[0].count("getBalance"), 1);
    let (b, c) = (s[1].count("getBalance"), s[2].count("getBalance"));
    assert!(b >= 7 && c >= 7, "b {b}, c {c}");
}

#[tokio::test(start_paused = true)]
async fn before_failing_a_call_tries_open_circuits_and_waits_out_a_cool_down_that_fits() {
    let s = scripts(2);
    let pool = pool(
        &s,
        "[breaker]\nfailures = 1\nopen_ms = 60000\n[default]\ndeadline_ms = 3000\n",
    );
    // `a` fails once: its circuit opens for a minute. Then it recovers, and `b` breaks.
    s[0].set("getBalance", fail(FailureKind::Connect));
    s[1].set("getBalance", ok(&account(1, "5")));
    let first = pool.call("getBalance", &json!(["k"])).await.unwrap();
    assert_eq!(&*first.endpoint, "b");
    assert_eq!(pool.status().endpoints[0].circuit, "open");
    s[0].set("getBalance", ok(&account(1, "5")));
    s[1].set("getBalance", fail(FailureKind::HttpStatus));
    let reply = pool.call("getBalance", &json!(["k"])).await.unwrap();
    assert_eq!(
        &*reply.endpoint, "a",
        "a probable failure beats a certain one"
    );
    assert_eq!(
        pool.status().endpoints[0].circuit,
        "closed",
        "and it probed a back"
    );

    // A 429 asks for a second's rest; with three seconds of budget it is waited out.
    let s = scripts(2);
    let pool = pool_with(&s, &[], "[default]\ndeadline_ms = 3000\n");
    s[0].set("getBalance", fail(FailureKind::RateLimited));
    s[1].set("getBalance", ok(&account(1, "5")));
    pool.call("getBalance", &json!(["k"]))
        .strategy(Strategy::Failover)
        .await
        .unwrap();
    s[0].set("getBalance", ok(&account(1, "5")));
    s[1].set("getBalance", fail(FailureKind::HttpStatus));
    let started = crate::clock::now();
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Failover)
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "a");
    assert_eq!(
        s[0].count("getBalance"),
        2,
        "never asked while it asked for rest"
    );
    assert!(crate::clock::now() - started >= Duration::from_millis(990));
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_still_wins_with_a_late_success_before_the_deadline() {
    let s = scripts(2);
    // `a` has the account but needs 60 ms; its attempt timeout is 50 ms. `b` lags.
    s[0].set(
        "getAccountInfo",
        ok(&account(2, "{\"lamports\":1}")).after(60),
    );
    s[1].set("getAccountInfo", ok(&account(1, "null")).after(5));
    let pool = pool(
        &s,
        "[method.getAccountInfo]\ntimeout_ms = 50\ndeadline_ms = 300\nretries = 0\n",
    );
    for strategy in [Strategy::Race, Strategy::Failover, Strategy::Hedge] {
        let reply = pool
            .call("getAccountInfo", &json!(["mint"]))
            .strategy(strategy)
            .await
            .unwrap();
        assert!(
            !reply.empty,
            "{strategy}: a timeout never beats a later success"
        );
        assert_eq!(&*reply.endpoint, "a", "{strategy}");
        // 60 ms, or 65 when `b` (faster, empty) was asked first.
        assert!(reply.latency <= 65 * MS, "{strategy}: {:?}", reply.latency);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The endpoint is still charged with its timeouts.
    assert_eq!(pool.status().endpoints[0].counts.failures["timeout"], 3);
}
