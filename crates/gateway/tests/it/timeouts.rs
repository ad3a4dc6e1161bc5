//! Per-attempt timeouts (endpoint, method, request) and the call deadline.

use std::time::Duration;

use dualrpc::{ErrorReason, FailureKind, Strategy};
use dualrpc_testkit::Step;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn endpoint_timeout_applies_when_the_method_sets_none() {
    let ups = upstreams(2).await;
    ups[0].set("getSlot", Step::hang());
    ups[1].set("getSlot", Step::result("9"));
    let pool = pool_with(
        &ups,
        &["timeout_ms = 30"],
        "[default]\ntimeout_ms = 30000\ndeadline_ms = 30000\n",
    );
    let reply = within(
        "failover",
        pool.call("getSlot", &()).strategy(Strategy::Failover),
    )
    .await
    .unwrap();
    assert_eq!(&*reply.endpoint, "b");
    assert_eq!(failures(&pool, "a", "timeout"), 1);
}

#[tokio::test]
async fn method_timeout_overrides_the_endpoint_timeout() {
    let ups = upstreams(2).await;
    ups[0].set("getSlot", Step::hang());
    ups[1].set("getSlot", Step::result("9"));
    // The endpoint allows 30 s, the method only 30 ms: the method wins.
    let pool = pool_with(
        &ups,
        &["timeout_ms = 30000"],
        "[method.getSlot]\ntimeout_ms = 30\ndeadline_ms = 30000\n",
    );
    let reply = within(
        "failover",
        pool.call("getSlot", &()).strategy(Strategy::Failover),
    )
    .await
    .unwrap();
    assert_eq!(&*reply.endpoint, "b");
}

#[tokio::test]
async fn request_timeout_overrides_method_and_bounds_the_call() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getSlot", Step::hang());
    }
    let pool = pool(
        &ups,
        "[method.getSlot]\ntimeout_ms = 30000\ndeadline_ms = 60000\n",
    );
    let err = within(
        "race",
        pool.call("getSlot", &())
            .strategy(Strategy::Race)
            .timeout(Duration::from_millis(40)),
    )
    .await
    .unwrap_err();
    let failures = match &err.reason {
        ErrorReason::AllFailed { failures } | ErrorReason::Deadline { failures } => {
            failures.clone()
        }
        other => panic!("{other:?}"),
    };
    assert!(
        failures.iter().all(|f| f.kind == FailureKind::Timeout),
        "{failures:?}"
    );
}

#[tokio::test]
async fn the_call_deadline_cuts_a_failover_chain_short() {
    let ups = upstreams(3).await;
    for u in &ups {
        u.set("getSlot", Step::hang());
    }
    // Attempts may take 30 s each, but the whole call only 50 ms.
    let pool = pool(
        &ups,
        "[method.getSlot]\ntimeout_ms = 30000\ndeadline_ms = 50\n",
    );
    let err = within(
        "failover",
        pool.call("getSlot", &()).strategy(Strategy::Failover),
    )
    .await
    .unwrap_err();
    assert_eq!(err.attempts, 1, "no time was left for a second attempt");
    assert!(
        matches!(
            err.reason,
            ErrorReason::AllFailed { .. } | ErrorReason::Deadline { .. }
        ),
        "{err:?}"
    );
    let v: serde_json::Value = serde_json::from_str(err.to_jsonrpc().get()).unwrap();
    let failures = v["data"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{v}");
    assert_eq!(failures[0]["kind"], "timeout");
    assert!(
        json!(["a", "b", "c"])
            .as_array()
            .unwrap()
            .contains(&failures[0]["endpoint"])
    );
}
