//! The unhappy paths, from a review of the trustworthy core: callers that leave or have
//! odd budgets, upstreams that answer late, never or with garbage, leader/follower/cache
//! interplay, accounting. Each test's doc says what went wrong before it was fixed (the
//! ones marked "Pinned" held from the start).

use std::future::IntoFuture;
use std::time::Duration;

use serde_json::json;

use super::script::*;
use crate::clock;
use crate::error::ErrorReason;
use crate::outcome::{FailureKind, Outcome};
use crate::policy::Strategy;

const MS: Duration = Duration::from_millis(1);

fn sig_entry(slot: u64, sig: &str) -> String {
    format!(
        r#"{{"signature":"{sig}","slot":{slot},"err":null,"memo":null,"blockTime":1,"confirmationStatus":"finalized"}}"#
    )
}

/// A signature-list entry of a failed transaction.
fn failed_entry(slot: u64, sig: &str) -> String {
    sig_entry(slot, sig).replace(
        r#""err":null"#,
        r#""err":{"InstructionError":[0,"Custom"]}"#,
    )
}

// ---------------------------------------------------------------------------------------
// Consensus
// ---------------------------------------------------------------------------------------

/// A vote joins the first group whose *first* member it agrees with. For signature lists
/// agreement is not transitive (an empty list, or lists over disjoint slot ranges, agree
/// with everything), so two lists that contradict each other end up in one group and are
/// returned as "3/3 agreed".
#[tokio::test(start_paused = true)]
async fn consensus_never_counts_contradicting_signature_lists_as_one_answer() {
    let s = scripts(3);
    // `a` lists nothing (new address on a node that lags, or a broken node) and answers first.
    s[0].set("getSignaturesForAddress", ok("[]").after(1));
    // `b` and `c` disagree about the transaction at slot 10 (it failed, says `c`).
    let b = format!("[{},{}]", sig_entry(10, "X"), sig_entry(9, "c"));
    let c = format!("[{},{}]", failed_entry(10, "X"), sig_entry(9, "c"));
    s[1].set("getSignaturesForAddress", ok(&b).after(5));
    s[2].set("getSignaturesForAddress", ok(&c).after(10));
    let result = pool(&s, "")
        .call("getSignaturesForAddress", &json!(["prog", {"limit": 2}]))
        .strategy(Strategy::Consensus)
        .quorum(3)
        .await;
    match result {
        Err(e) => assert!(matches!(e.reason, ErrorReason::NoQuorum { .. }), "{e:?}"),
        Ok(reply) => panic!(
            "b and c contradict each other, yet {} was returned with agreement {:?}",
            reply.result.get(),
            reply.agreement
        ),
    }
}

/// The same with non-empty lists: `a` lags far behind (its range does not overlap), `b` and
/// `c` contradict each other over slot 13 (`g` succeeded, says `b`; failed, says `c`).
#[tokio::test(start_paused = true)]
async fn consensus_a_far_behind_list_does_not_bridge_two_contradicting_lists() {
    let s = scripts(3);
    let a = format!("[{},{}]", sig_entry(11, "e"), sig_entry(10, "d"));
    let b = format!("[{},{}]", sig_entry(13, "g"), sig_entry(12, "f"));
    let c = format!("[{},{}]", failed_entry(13, "g"), sig_entry(12, "f"));
    s[0].set("getSignaturesForAddress", ok(&a).after(1));
    s[1].set("getSignaturesForAddress", ok(&b).after(5));
    s[2].set("getSignaturesForAddress", ok(&c).after(10));
    let result = pool(&s, "")
        .call("getSignaturesForAddress", &json!(["prog", {"limit": 2}]))
        .strategy(Strategy::Consensus)
        .quorum(3)
        .await;
    assert!(
        result.is_err(),
        "b and c contradict each other about g: {:?}",
        result.map(|r| (r.result.get().to_string(), r.agreement))
    );
}

/// When consensus itself ends with only failures, the rounds' *last chance* re-asks every
/// failed voter and takes the first success like `race` would: no quorum, no agreement,
/// `consensus_fallback = "error"` ignored, and the other voter's contradicting answer
/// never looked at.
#[tokio::test(start_paused = true)]
async fn consensus_last_chance_never_returns_an_unconfirmed_answer() {
    let s = scripts(3);
    for sc in &s[..2] {
        // Two failures each: the first attempt and consensus' own re-ask.
        sc.push("getTransaction", fail(FailureKind::HttpStatus));
        sc.push("getTransaction", fail(FailureKind::HttpStatus));
    }
    s[0].set(
        "getTransaction",
        ok(r#"{"slot":7,"meta":{"fee":1}}"#).after(10),
    );
    s[1].set(
        "getTransaction",
        ok(r#"{"slot":7,"meta":{"fee":2}}"#).after(5),
    );
    s[2].set("getTransaction", fail(FailureKind::HttpStatus));
    let pool = pool(
        &s,
        "[method.getTransaction]\ndeadline_ms = 1000\nconsensus_fallback = \"error\"\n",
    );
    let result = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Consensus)
        .await;
    match result {
        Err(e) => assert!(
            matches!(
                e.reason,
                ErrorReason::NoQuorum { .. } | ErrorReason::AllFailed { .. }
            ),
            "{e:?}"
        ),
        Ok(reply) => panic!(
            "consensus (quorum 2, fallback error) answered {} from {} with agreement {:?}",
            reply.result.get(),
            reply.endpoint,
            reply.agreement
        ),
    }
}

/// Same hole through `await_late`: a voter past its attempt timeout answers late, and the
/// late success is returned as the call's answer without any vote counting.
#[tokio::test(start_paused = true)]
async fn consensus_a_late_single_answer_is_not_a_quorum() {
    let s = scripts(3);
    s[0].set("getTransaction", ok(TX).after(600));
    s[1].set("getTransaction", fail(FailureKind::HttpStatus));
    s[2].set("getTransaction", fail(FailureKind::HttpStatus));
    let pool = pool(
        &s,
        "[method.getTransaction]\ntimeout_ms = 100\ndeadline_ms = 1000\nconsensus_fallback = \"error\"\n",
    );
    let result = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Consensus)
        .await;
    assert!(
        result.is_err(),
        "one late vote is no quorum of 2 under fallback = error: {:?}",
        result.map(|r| (r.endpoint, r.agreement))
    );
}

/// Pinned (passes): an ordinary contradiction between two voters is never returned.
#[tokio::test(start_paused = true)]
async fn consensus_two_different_values_are_no_quorum() {
    let s = scripts(2);
    s[0].set("getBalance", ok(&account(1, "5")).after(5));
    s[1].set("getBalance", ok(&account(1, "6")).after(5));
    let err = pool(&s, "")
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap_err();
    assert!(
        matches!(err.reason, ErrorReason::NoQuorum { .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Attempts that outlive their call
// ---------------------------------------------------------------------------------------

/// An attempt past its timeout waits for a late success until the *call's* deadline, even
/// when the call is long over (won elsewhere, or its caller left): with a client budget of
/// 600 s and a hung provider every such attempt keeps a task, an upstream connection and
/// an in-flight count (which multiplies the endpoint's selection score) for ten minutes
/// after its timeout was already recorded.
#[tokio::test(start_paused = true)]
async fn a_slow_attempt_ends_when_its_call_is_over() {
    let s = scripts(2);
    s[0].set("getBalance", hang());
    s[1].set("getBalance", ok(&account(1, "5")).after(5));
    let pool = pool(&s, "[method.getBalance]\ntimeout_ms = 100\n");
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Failover)
        .timeout(Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(reply.latency, 105 * MS);
    // The call is over; `a`'s attempt timed out at 100 ms and was recorded as a timeout.
    assert_eq!(pool.status().endpoints[0].counts.failures["timeout"], 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle_tasks().await;
    assert_eq!(
        pool.endpoint(0).stats.in_flight(),
        0,
        "nobody can use a's late answer any more"
    );
}

/// Same, for a caller that goes away: the abandoned call's attempt is past its timeout
/// and nobody listens, yet it stays in flight until the abandoned call's deadline.
#[tokio::test(start_paused = true)]
async fn an_abandoned_calls_slow_attempt_does_not_stay_in_flight() {
    let s = scripts(1);
    s[0].set("getBalance", hang());
    let pool = pool(&s, "[method.getBalance]\ntimeout_ms = 100\n");
    let mut call = pool
        .call("getBalance", &json!(["k"]))
        .timeout(Duration::from_secs(600))
        .into_future();
    // Let it run past the attempt timeout, then the client disconnects.
    tokio::select! {
        _ = &mut call => panic!("cannot be over"),
        _ = tokio::time::sleep(150 * MS) => {}
    }
    drop(call);
    tokio::time::sleep(Duration::from_secs(5)).await;
    settle_tasks().await;
    assert_eq!(pool.endpoint(0).stats.in_flight(), 0);
}

/// Pinned (passes): an abandoned call's attempt still finishes on its own timeout and is
/// recorded once (no double count, no internal failure).
#[tokio::test(start_paused = true)]
async fn an_abandoned_calls_attempt_is_recorded_once_on_its_own_timeout() {
    let s = scripts(1);
    s[0].set("getBalance", ok(&account(1, "5")).after(80));
    let pool = pool(&s, "[method.getBalance]\ntimeout_ms = 100\n");
    let mut call = pool
        .call("getBalance", &json!(["k"]))
        .timeout(10 * MS)
        .into_future();
    assert!(futures_util::poll!(&mut call).is_pending());
    drop(call);
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle_tasks().await;
    let st = pool.status();
    assert_eq!(st.endpoints[0].counts.success, 1);
    assert!(st.endpoints[0].counts.failures.is_empty());
    assert_eq!(st.endpoints[0].in_flight, 0);
}

/// Each retry round re-asks an endpoint whose attempt is merely *slow* (past its timeout,
/// not ended); the per-endpoint `Mark::slow` is a `u8`, so the 256th concurrent slow
/// attempt on one endpoint overflows (a panic in debug builds, the caller's task dies
/// without an answer; silent wrap-around in release).
#[tokio::test(start_paused = true)]
async fn many_retry_rounds_on_a_hung_endpoint_do_not_panic() {
    let s = scripts(1);
    s[0].set("getBalance", hang());
    let pool = pool(&s, "");
    let outcome = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.call("getBalance", &json!(["k"]))
                .attempt_timeout(MS)
                .timeout(Duration::from_secs(10))
                .retries(300)
                .await
        }
    })
    .await;
    assert!(outcome.is_ok(), "the call's task panicked");
    assert!(outcome.unwrap().is_err());
}

// ---------------------------------------------------------------------------------------
// Coalescing
// ---------------------------------------------------------------------------------------

/// A follower with a short budget joins a leader with a long one. Alone it would have got
/// the empty answer at its deadline ("that is all there is"); coalesced it gets a bare
/// deadline error: one client's budget changes what another client gets.
#[tokio::test(start_paused = true)]
async fn a_follower_gets_at_its_deadline_what_it_would_get_alone() {
    let run = |coalesce: bool| async move {
        let s = scripts(2);
        s[0].set("getAccountInfo", ok(&account(1, "null")).after(5));
        s[1].set("getAccountInfo", hang());
        let pool = pool(&s, &format!("[cache]\ncoalesce = {coalesce}\n"));
        let leader = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.call("getAccountInfo", &json!(["mint"]))
                    .strategy(Strategy::Race)
                    .timeout(Duration::from_secs(10))
                    .await
            }
        });
        settle_tasks().await;
        let follower = pool
            .call("getAccountInfo", &json!(["mint"]))
            .strategy(Strategy::Race)
            .timeout(200 * MS)
            .await;
        leader.abort();
        follower
    };
    let alone = run(false).await.expect("alone: the empty answer at 200 ms");
    assert!(alone.empty);
    let coalesced = run(true).await;
    assert!(
        coalesced.as_ref().is_ok_and(|r| r.empty),
        "coalesced: {:?}",
        coalesced.map(|r| r.result.get().to_string())
    );
}

/// The same through consensus, where a flight can legitimately run for the leader's
/// whole budget (empty voters are re-asked with backoff until the deadline): one client
/// with a 600 s budget makes every identical call with the default budget, for the next
/// ten minutes, fail with -32081 instead of getting the answer 1 of 2 confirmed.
#[tokio::test(start_paused = true)]
async fn a_long_budget_leader_does_not_starve_later_callers() {
    let s = scripts(2);
    s[0].set("getTransaction", ok(TX).after(5));
    s[1].set("getTransaction", ok("null").after(5));
    let pool = pool(&s, "[method.getTransaction]\ndeadline_ms = 1000\n");
    // Alone, a default call gets the answer, unconfirmed, within its 1 s.
    let alone = pool
        .call("getTransaction", &json!(["other-sig"]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap();
    assert_eq!(alone.agreement.map(|a| a.agreed), Some(1));
    let leader = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.call("getTransaction", &json!(["sig"]))
                .strategy(Strategy::Consensus)
                .timeout(Duration::from_secs(600))
                .await
        }
    });
    tokio::time::sleep(Duration::from_secs(30)).await;
    let later = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Consensus)
        .await;
    leader.abort();
    assert!(
        later.is_ok(),
        "30 s after a 600 s caller, a default caller got {:?}",
        later.map(|r| r.agreement)
    );
}

/// A follower joins a flight no matter how long it has been running: one that arrives
/// 2 s after the leader's request receives the answer to that 2 s older request (here
/// the upstream's state changed in between), later than it would have alone.
#[tokio::test(start_paused = true)]
async fn a_follower_never_gets_an_answer_older_than_its_request() {
    let s = scripts(1);
    // The leader's request reads the old state and takes 3 s to come back.
    s[0].push("getAccountInfo", ok(&account(1, "\"old\"")).after(3000));
    s[0].set("getAccountInfo", ok(&account(2, "\"new\"")).after(5));
    let pool = pool(&s, "[method.getAccountInfo]\ntimeout_ms = 5000\n");
    let leader = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.call("getAccountInfo", &json!(["mint"]))
                .timeout(Duration::from_secs(10))
                .await
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The account changed; a new caller asks.
    let asked = clock::now();
    let reply = pool
        .call("getAccountInfo", &json!(["mint"]))
        .timeout(Duration::from_secs(10))
        .await
        .unwrap();
    let _ = leader.await;
    assert_eq!(
        reply.result.get(),
        account(2, "\"new\""),
        "answered {:?} after asking, from a request sent 2 s before it asked",
        clock::now() - asked
    );
}

/// A follower re-runs the call whenever the leader's result is `AllFailed` or `NoQuorum`
/// and the leader's deadline was earlier — although those are not "ran out of time". When
/// every endpoint fails fast, followers with staggered budgets run the failing call one
/// after another: N executions instead of one, exactly when providers are struggling.
#[tokio::test(start_paused = true)]
async fn followers_do_not_rerun_a_call_that_failed_with_time_left() {
    let s = scripts(1);
    s[0].set("getAccountInfo", fail(FailureKind::HttpStatus).after(20));
    let pool = pool(&s, "[breaker]\nfailures = 1000\n");
    let mut calls = Vec::new();
    for i in 0..4u64 {
        let pool = pool.clone();
        calls.push(tokio::spawn(async move {
            pool.call("getAccountInfo", &json!(["mint"]))
                .timeout(Duration::from_millis(1000 + i))
                .await
        }));
        settle_tasks().await;
    }
    for c in calls {
        assert!(c.await.unwrap().is_err());
    }
    // One execution: the attempt, the retry round, the last chance. (Observed: 9 or 12,
    // i.e. three or four executions, depending on which follower wakes first.)
    assert_eq!(s[0].count("getAccountInfo"), 3);
}

/// Pinned (passes): a leader whose caller goes away hands the flight to a follower, which
/// gets an answer (no hang, exactly one answer each).
#[tokio::test(start_paused = true)]
async fn a_dropped_leader_hands_over_to_a_follower() {
    let s = scripts(1);
    s[0].set("getAccountInfo", ok(&account(1, "1")).after(100));
    let pool = pool(&s, "");
    let mut leader = pool
        .call("getAccountInfo", &json!(["m"]))
        .timeout(Duration::from_secs(2))
        .into_future();
    assert!(futures_util::poll!(&mut leader).is_pending());
    let follower = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.call("getAccountInfo", &json!(["m"]))
                .timeout(Duration::from_secs(2))
                .await
        }
    });
    settle_tasks().await;
    tokio::time::sleep(50 * MS).await;
    drop(leader);
    let reply = follower.await.unwrap().unwrap();
    assert!(!reply.coalesced, "it became the leader");
    assert_eq!(pool.status().coalescing, Some(0));
}

// ---------------------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------------------

/// The TTL of a cached answer counts from when it was *stored*, not from when it was
/// asked: an answer that came back late (slow provider, late success) is served as fresh
/// for the whole TTL after it arrived. With `cache_ttl_ms = 200` a `getLatestBlockhash`
/// read 3 s earlier is served to a caller that asks later.
#[tokio::test(start_paused = true)]
async fn a_ttl_cached_answer_is_never_older_than_its_ttl() {
    let s = scripts(1);
    s[0].push("getLatestBlockhash", ok(&account(1, "\"old\"")).after(3000));
    s[0].set("getLatestBlockhash", ok(&account(5, "\"new\"")).after(5));
    let pool = pool(
        &s,
        "[method.getLatestBlockhash]\ncache_ttl_ms = 200\ntimeout_ms = 5000\n",
    );
    let started = clock::now();
    let first = pool
        .call("getLatestBlockhash", &())
        .timeout(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(first.latency, 3000 * MS);
    tokio::time::sleep(100 * MS).await;
    let second = pool.call("getLatestBlockhash", &()).await.unwrap();
    assert!(
        !second.cached,
        "served from cache {:?} after the request that read it, TTL 200 ms",
        clock::now() - started
    );
}

/// With `quorum` above the number of endpoints consensus runs with the quorum clamped
/// (and reports `agreed = n`), but the cache lookup asks for the unclamped quorum: such
/// answers are stored and can never be served.
#[tokio::test(start_paused = true)]
async fn a_confirmed_final_answer_is_served_from_cache_whatever_the_quorum_says() {
    let s = scripts(2);
    for sc in &s {
        sc.set("getTransaction", ok(TX).after(5));
    }
    let pool = pool(&s, "");
    let call = || {
        pool.call("getTransaction", &json!(["sig"]))
            .strategy(Strategy::Consensus)
            .quorum(3)
    };
    let first = call().await.unwrap();
    assert_eq!(first.agreement.map(|a| (a.agreed, a.quorum)), Some((2, 2)));
    let second = call().await.unwrap();
    assert!(second.cached, "2 of 2 endpoints confirmed a final answer");
}

/// Pinned (passes): a consensus caller is never handed an answer one endpoint gave.
#[tokio::test(start_paused = true)]
async fn a_consensus_caller_never_gets_a_single_endpoints_cached_answer() {
    let s = scripts(2);
    s[0].set("getTransaction", ok(TX).after(5));
    s[1].set("getTransaction", ok(TX).after(50));
    let pool = pool(&s, "");
    let race = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert!(!race.cached);
    tokio::time::sleep(100 * MS).await;
    let cached_race = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Race)
        .await
        .unwrap();
    assert!(cached_race.cached);
    let consensus = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap();
    assert!(!consensus.cached);
    assert_eq!(consensus.agreement.unwrap().agreed, 2);
}

// ---------------------------------------------------------------------------------------
// Budgets, rate limits, hedging
// ---------------------------------------------------------------------------------------

/// While a call waits for a rate-limit refill, `rounds::execute` re-runs the strategy
/// after each wait; `hedge::run` deposits into the hedge budget on every run, so one call
/// counts as many (`/status` `hedge.calls`) and inflates the hedge balance. The wait is
/// the *minimum* over all endpoints, including ones outside the plan (open circuit, 429
/// cool-down) whose bucket is full: it is then 1 ms, and the call spins re-planning every
/// millisecond until the blocked endpoint refills.
#[tokio::test(start_paused = true)]
async fn a_call_waiting_for_rate_budget_is_one_hedge_call_and_does_not_spin() {
    let s = scripts(2);
    for sc in &s {
        sc.set("getBalance", ok(&account(1, "5")).after(5));
    }
    let pool = pool_with(
        &s,
        &["rate_limit = { rps = 1, burst = 1 }", ""],
        "[breaker]\nfailures = 1\nopen_ms = 60000\n",
    );
    // `b`'s circuit is open: it is out of the plan (but its budget is full).
    assert!(pool.endpoint(1).stats.record(
        clock::now(),
        "getBalance",
        MS,
        &Outcome::failed(FailureKind::Connect)
    ));
    // The first call spends `a`'s only token.
    pool.call("getBalance", &json!(["k"]))
        .strategy(Strategy::Hedge)
        .await
        .unwrap();
    let started = clock::now();
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Hedge)
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "a");
    assert!(
        clock::now() - started >= Duration::from_millis(900),
        "it waited for the refill"
    );
    assert_eq!(pool.status().hedge.calls, 2, "two hedged calls");
}

/// A method weight above the endpoint's burst can never be paid: every call of that
/// method waits until its deadline and then fails with -32084. The config is accepted.
#[tokio::test(start_paused = true)]
async fn a_weight_above_the_burst_is_refused_or_fails_fast() {
    let s = scripts(1);
    s[0].set("getProgramAccounts", ok("[]").after(5));
    let extra = "rate_limit = { rps = 10, burst = 2 }\nmethod_weights = { getProgramAccounts = 5 }";
    let toml = format!(
        "[[endpoint]]\nname = \"a\"\nurl = \"http://127.0.0.1:9/\"\n{extra}\n[health]\ninterval_ms = 0\n"
    );
    let config = crate::Config::from_toml(&toml, |_| None).unwrap();
    if crate::settings::Settings::from_config(&config).is_err() {
        return; // refused at load: fine
    }
    let pool = pool_with(&s, &[extra], "");
    let err = pool
        .call("getProgramAccounts", &json!(["prog"]))
        .timeout(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err.reason, ErrorReason::OverBudget), "{err:?}");
    assert!(
        err.latency < Duration::from_secs(1),
        "waited {:?}",
        err.latency
    );
}

// ---------------------------------------------------------------------------------------
// Odd budgets
// ---------------------------------------------------------------------------------------

/// "No timeout" spelled `Duration::MAX` (or any budget that overflows an `Instant`) makes
/// the library panic while building the call; so does an attempt timeout above
/// `Duration::MAX / 2` (the default deadline is twice it).
#[tokio::test(start_paused = true)]
async fn huge_budgets_do_not_panic() {
    let s = scripts(1);
    s[0].set("getBalance", ok(&account(1, "5")).after(5));
    let pool = pool(&s, "");
    let budget = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(
            pool.call("getBalance", &json!(["k"]))
                .timeout(Duration::MAX)
                .into_future(),
        );
    }));
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(
            pool.call("getBalance", &json!(["k"]))
                .attempt_timeout(Duration::MAX)
                .into_future(),
        );
    }));
    assert!(budget.is_ok(), ".timeout(Duration::MAX) panicked");
    assert!(attempt.is_ok(), ".attempt_timeout(Duration::MAX) panicked");
}

/// Pinned (passes): a 1 ms budget answers at 1 ms for every strategy; the attempts finish
/// in the background on their own time and leave nothing in flight.
#[tokio::test(start_paused = true)]
async fn a_one_millisecond_budget_answers_on_time_for_every_strategy() {
    let s = scripts(3);
    for sc in &s {
        sc.set("getBalance", ok(&account(1, "5")).after(20));
    }
    let pool = pool(&s, "");
    for strategy in Strategy::ALL {
        let err = pool
            .call("getBalance", &json!(["k"]))
            .strategy(strategy)
            .timeout(MS)
            .await
            .unwrap_err();
        assert!(
            matches!(err.reason, ErrorReason::Deadline { .. }),
            "{strategy}: {err:?}"
        );
        assert_eq!(err.latency, MS, "{strategy}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle_tasks().await;
    for ep in pool.status().endpoints {
        assert_eq!(ep.in_flight, 0, "{}", ep.name);
        assert!(
            ep.counts.failures.is_empty(),
            "{}: {:?}",
            ep.name,
            ep.counts
        );
    }
}

/// Pinned (passes): garbage from one upstream is that endpoint's failure; the call goes on
/// and the garbage never reaches the caller.
#[tokio::test(start_paused = true)]
async fn garbage_answers_are_failures_and_never_answers() {
    let s = scripts(2);
    s[0].set("getBalance", ok("{\"trunc").after(1));
    s[1].set("getBalance", ok(&account(1, "5")).after(5));
    for strategy in [
        Strategy::Race,
        Strategy::Failover,
        Strategy::Hedge,
        Strategy::Dual,
    ] {
        let reply = pool(&s, "")
            .call("getBalance", &json!(["k"]))
            .strategy(strategy)
            .await
            .unwrap();
        assert_eq!(&*reply.endpoint, "b", "{strategy}");
    }
}

/// The last chance sleeps until a 429 cool-down ends without listening to attempts still
/// out: a late success that arrives during the sleep waits for the cool-down to end
/// (here 700 ms late; with a long `Retry-After` and budget, up to the deadline). Both
/// endpoints are cooling down after a 429 when the last chance starts.
#[tokio::test(start_paused = true)]
async fn a_late_success_is_not_held_back_by_a_cool_down_wait() {
    let s = scripts(2);
    s[0].set("getBalance", fail(FailureKind::RateLimited));
    // `b`'s first attempt is slow (late success at 300 ms); its retry gets a 429.
    s[1].push("getBalance", ok(&account(1, "5")).after(300));
    s[1].set("getBalance", fail(FailureKind::RateLimited));
    let pool = pool(&s, "[method.getBalance]\ntimeout_ms = 100\n");
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Failover)
        .timeout(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(reply.latency, 300 * MS, "b's late success came at 300 ms");
}

/// A panic inside the call's first attempt (which runs in the call's own task) stays that
/// attempt's: it is an `internal` failure and the call goes on to the next endpoint.
#[tokio::test(start_paused = true)]
async fn a_panic_in_the_first_attempt_is_that_attempts_failure() {
    let s = scripts(2);
    s[0].set("getBalance", panics().after(5));
    s[1].set("getBalance", ok(&account(1, "5")));
    let pool = pool(&s, "");
    let reply = pool
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Failover)
        .await
        .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(reply.attempts, 2);
    assert_eq!(
        pool.status().endpoints[0].in_flight,
        0,
        "its guard ended it"
    );
}
