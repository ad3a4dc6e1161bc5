//! Consensus under paused time: distinct endpoints, empty answers and errors that are not
//! votes, contradictions, the fallback, voters that lag, lists that move.

use std::time::Duration;

use serde_json::json;

use super::script::*;
use crate::clock;
use crate::error::ErrorReason;
use crate::outcome::FailureKind;
use crate::policy::Strategy;
use crate::reply::Agreement;

const MS: Duration = Duration::from_millis(1);

fn agreement(agreed: u32, quorum: u32) -> Option<Agreement> {
    Some(Agreement { agreed, quorum })
}

#[tokio::test(start_paused = true)]
async fn one_endpoint_answering_again_and_again_is_one_vote() {
    let s = scripts(2);
    s[0].set("getTransaction", ok(TX).after(5));
    // `b` never has it and is not known to lag: it is asked again and again.
    s[1].set("getTransaction", ok("null").after(5));
    let pool = pool(&s, "[method.getTransaction]\ndeadline_ms = 1000\n");
    let reply = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap();
    assert_eq!(reply.result.get(), TX);
    assert_eq!(reply.agreement, agreement(1, 2), "unconfirmed, and says so");
    // `b` is asked again after 50, 100, 200, 400 ms (answering 5 ms later each time); the
    // next re-ask would fall after the deadline, so no vote can come in time: 775 ms.
    assert_eq!(reply.latency, 775 * MS);
    assert_eq!(
        s[1].count("getTransaction"),
        5,
        "the empty voter was asked again"
    );
    assert_eq!(s[0].count("getTransaction"), 1, "one vote per endpoint");
}

#[tokio::test(start_paused = true)]
async fn with_fallback_error_an_unconfirmed_answer_is_an_error() {
    let s = scripts(2);
    s[0].set("getTransaction", ok(TX).after(5));
    s[1].set("getTransaction", fail(FailureKind::Transport));
    let pool = pool(
        &s,
        "[method.getTransaction]\ndeadline_ms = 300\nconsensus_fallback = \"error\"\n",
    );
    let err = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap_err();
    let ErrorReason::NoQuorum { votes, .. } = &err.reason else {
        panic!("{err:?}")
    };
    assert_eq!(votes, &vec![vec!["a".to_string()]]);
    assert_eq!(
        s[1].count("getTransaction"),
        4,
        "a failed voter is asked again at once, then after 50 and 100 ms more (the next \
         would be past the 300 ms deadline)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_contradicted_answer_is_never_returned() {
    let s = scripts(3);
    s[0].set("getBalance", ok(&account(1, "5")));
    s[1].set("getBalance", ok(&account(1, "6")));
    s[2].set("getBalance", ok(&account(1, "null")).after(3));
    for quorum in [2, 3] {
        let err = pool(&s, "")
            .call("getBalance", &json!(["k"]))
            .strategy(Strategy::Consensus)
            .quorum(quorum)
            .await
            .unwrap_err();
        assert!(
            matches!(err.reason, ErrorReason::NoQuorum { .. }),
            "quorum {quorum}: {err:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_quorum_is_distinct_endpoints_that_agree() {
    let s = scripts(3);
    s[0].set("getBalance", ok(&account(1, "5")).after(10));
    s[1].set("getBalance", ok(&account(2, "5")).after(20));
    s[2].set("getBalance", ok(&account(3, "5")).after(30));
    let reply = pool(&s, "")
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Consensus)
        .quorum(2)
        .await
        .unwrap();
    assert_eq!(reply.agreement, agreement(2, 2));
    assert_eq!(
        reply.latency,
        20 * MS,
        "answered at the second agreeing endpoint"
    );
    assert_eq!(
        &*reply.endpoint, "a",
        "one of the agreeing answers: the first"
    );
}

#[tokio::test(start_paused = true)]
async fn a_voter_known_to_lag_is_not_waited_for() {
    // A transaction from the newest slot: `b`, a slot behind, cannot have it yet.
    const TX: &str = r#"{"slot":100,"meta":{"err":null},"transaction":{"signatures":["s"]}}"#;
    let s = scripts(2);
    s[0].set("getTransaction", ok(TX).after(10));
    s[1].set("getTransaction", ok("null").after(15));
    let pool = pool(&s, "[method.getTransaction]\ndeadline_ms = 600\n");
    // The health loop saw `b` one slot behind.
    let now = clock::now();
    pool.endpoint(0).stats.record_probe(now, Some(100));
    pool.endpoint(1).stats.record_probe(now, Some(99));
    let reply = pool
        .call("getTransaction", &json!(["sig"]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap();
    assert_eq!(reply.result.get(), TX);
    assert_eq!(reply.agreement, agreement(1, 2));
    assert_eq!(
        reply.latency,
        10 * MS,
        "b cannot confirm it yet: not waited for"
    );
    assert_eq!(s[1].count("getTransaction"), 1);
}

#[tokio::test(start_paused = true)]
async fn signature_lists_agree_over_the_range_both_cover() {
    let entry = |slot: u64, sig: &str| {
        format!(
            r#"{{"signature":"{sig}","slot":{slot},"err":null,"memo":null,"blockTime":1,"confirmationStatus":"confirmed"}}"#
        )
    };
    let fresh = format!("[{},{},{}]", entry(12, "f"), entry(11, "e"), entry(10, "d"));
    let behind = format!("[{},{},{}]", entry(11, "e"), entry(10, "d"), entry(9, "c"));
    let s = scripts(2);
    s[0].set("getSignaturesForAddress", ok(&fresh).after(10));
    s[1].set("getSignaturesForAddress", ok(&behind).after(5));
    let reply = pool(&s, "")
        .call("getSignaturesForAddress", &json!(["prog", {"limit": 3}]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap();
    assert_eq!(reply.agreement, agreement(2, 2));
    assert_eq!(
        reply.result.get(),
        fresh,
        "the freshest of the agreeing lists"
    );
    // A list that says otherwise about a signature both show (here: failed) disagrees.
    let failed = entry(11, "e").replace(
        r#""err":null"#,
        r#""err":{"InstructionError":[0,"Custom"]}"#,
    );
    let other = format!("[{},{},{}]", entry(12, "f"), failed, entry(10, "d"));
    s[0].set("getSignaturesForAddress", ok(&other).after(10));
    let err = pool(&s, "")
        .call("getSignaturesForAddress", &json!(["prog", {"limit": 3}]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap_err();
    assert!(
        matches!(err.reason, ErrorReason::NoQuorum { .. }),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn errors_and_empty_answers_are_no_votes_and_failures_call_more_endpoints() {
    let s = scripts(3);
    s[0].set("getBalance", fail(FailureKind::HttpStatus));
    s[1].set("getBalance", ok(&account(1, "5")).after(5));
    s[2].set("getBalance", ok(&account(2, "5")).after(5));
    let reply = pool(&s, "")
        .call("getBalance", &json!(["k"]))
        .strategy(Strategy::Consensus)
        .quorum(2)
        .fanout(2)
        .await
        .unwrap();
    assert_eq!(reply.agreement, agreement(2, 2));
    assert_eq!(
        s[2].count("getBalance"),
        1,
        "the untried endpoint was called"
    );
    assert_eq!(
        s[0].count("getBalance"),
        1,
        "before the failed one was asked again"
    );
}

#[tokio::test(start_paused = true)]
async fn voters_that_cannot_have_seen_the_answer_yet_are_not_waited_for() {
    let fresh_tx = r#"{"slot":100,"meta":{"err":null},"transaction":{"signatures":["s"]}}"#;
    let s = scripts(3);
    s[0].set("getTransaction", ok(fresh_tx).after(10));
    s[1].set("getTransaction", ok("null").after(200));
    s[2].set("getTransaction", ok("null").after(300));
    let pool = pool(&s, "");
    let now = clock::now();
    for (i, slot) in [100, 99, 97].into_iter().enumerate() {
        pool.endpoint(i).stats.record_probe(now, Some(slot));
    }
    let reply = pool
        .call("getTransaction", &json!(["s"]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap();
    assert_eq!(reply.agreement, agreement(1, 2));
    assert_eq!(reply.latency, 10 * MS, "b and c lag behind slot 100");

    // An older transaction: the lagging nodes have its slot, so their votes count.
    let old_tx = r#"{"slot":50,"meta":{"err":null},"transaction":{"signatures":["s"]}}"#;
    s[0].set("getTransaction", ok(old_tx).after(10));
    s[1].set("getTransaction", ok(old_tx).after(30));
    let reply = pool
        .call("getTransaction", &json!(["old"]))
        .strategy(Strategy::Consensus)
        .await
        .unwrap();
    assert_eq!(reply.agreement, agreement(2, 2));
    assert_eq!(reply.latency, 30 * MS);
}
