//! The hub's bookkeeping under tokio's paused time, with no upstream connection at all:
//! the tests play the upstreams' part (confirm, lose, deliver) by hand, so every instant is
//! exact.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{Config, Pool};

fn hub(stall: Duration) -> (Pool, Hub) {
    let toml = "[[endpoint]]\nname = \"a\"\nurl = \"http://127.0.0.1:1\"\n\
                [[endpoint]]\nname = \"b\"\nurl = \"http://127.0.0.1:2\"\n\
                [health]\ninterval_ms = 0\n";
    let pool = Pool::from_config(Config::from_toml(toml, |_| None).unwrap()).unwrap();
    let settings = SubscriptionSettings {
        stall_timeout: stall,
        ..SubscriptionSettings::default()
    };
    let hub = pool.hub_without_upstreams(settings);
    (pool, hub)
}

/// Starts subscribing `client` to slots; returns the pending subscribe and the shared
/// subscription's id once the hub made it.
async fn subscribing(
    hub: &Hub,
    client: &Arc<Client>,
) -> (tokio::task::JoinHandle<Result<Handle, SubscribeError>>, u64) {
    let pending = {
        let (hub, client) = (hub.clone(), client.clone());
        tokio::spawn(async move { hub.subscribe(&client, 0, Kind::Slot, None).await })
    };
    let shared = loop {
        if let Some(&id) = hub.inner.subs.lock().by_key.values().next() {
            break id;
        }
        tokio::task::yield_now().await;
    };
    (pending, shared)
}

/// A delivered notification's result, as text.
fn text(d: &Delivery) -> &str {
    std::str::from_utf8(&d.result).expect("UTF-8")
}

/// Subscribes `client` to slots, confirmed by upstream 0; returns the handle and the
/// shared subscription's id.
async fn subscribed(hub: &Hub, client: &Arc<Client>) -> (Handle, u64) {
    let (pending, shared) = subscribing(hub, client).await;
    hub.inner.confirmed(shared, 0);
    let handle = pending.await.unwrap().expect("confirmed");
    (handle, shared)
}

#[tokio::test(start_paused = true)]
async fn an_orphan_is_ended_a_full_stall_timeout_after_its_last_carrier_left() {
    let stall = Duration::from_secs(1);
    let (_pool, hub) = hub(stall);
    let (client, _rx) = Client::new(8);
    let (_handle, shared) = subscribed(&hub, &client).await;
    // Lost at 0 ms, back at 500, lost again at 800: the timer armed at 0 must not end it at
    // 1,000 (it has been without a carrier for 200 ms only).
    hub.inner.carrier_lost(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    hub.inner.confirmed(shared, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    hub.inner.carrier_lost(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.reason(), None, "ended by a stale timer");
    // 1,800 ms: a full stall timeout after the second loss.
    tokio::time::sleep(Duration::from_millis(750)).await;
    assert_eq!(client.reason(), Some(CloseReason::NoUpstream));
}

#[tokio::test(start_paused = true)]
async fn a_carrier_that_comes_back_in_time_keeps_the_clients() {
    let (_pool, hub) = hub(Duration::from_secs(1));
    let (client, _rx) = Client::new(8);
    let (_handle, shared) = subscribed(&hub, &client).await;
    hub.inner.carrier_lost(0);
    tokio::time::sleep(Duration::from_millis(900)).await;
    hub.inner.confirmed(shared, 0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(client.reason(), None);
}

#[tokio::test(start_paused = true)]
async fn an_upstream_that_refused_and_then_carries_is_no_refusal() {
    let (_pool, hub) = hub(Duration::from_secs(1));
    let (client, mut rx) = Client::new(8);
    let (_handle, shared) = subscribed(&hub, &client).await;
    hub.inner
        .refused(shared, 1, r#"{"code":-32005,"message":"busy"}"#);
    hub.inner.confirmed(shared, 1);
    let refusals = hub.inner.subs.lock().shared[&shared].refusals;
    assert_eq!(refusals, 0);
    // Both carry it; the second copy of a slot is a duplicate.
    let slot = r#"{"slot":5,"parent":4,"root":0}"#;
    hub.inner.deliver(shared, 1, Kind::Slot, slot);
    hub.inner.deliver(shared, 0, Kind::Slot, slot);
    let d = rx.recv().await.expect("one delivery");
    assert_eq!(&d.result[..], slot.as_bytes());
    assert!(rx.try_recv().is_err(), "the copy was dropped");
}

#[tokio::test(start_paused = true)]
async fn a_malformed_notification_reaches_nobody() {
    let (_pool, hub) = hub(Duration::from_secs(1));
    let (client, mut rx) = Client::new(8);
    let (_handle, shared) = subscribed(&hub, &client).await;
    hub.inner.deliver(shared, 0, Kind::Slot, r#"{"nope":1}"#);
    hub.inner
        .deliver(shared, 0, Kind::Slot, r#"{"slot":6,"parent":5,"root":0}"#);
    let d = rx.recv().await.expect("the good one");
    assert!(text(&d).contains("\"slot\":6"));
}

#[tokio::test(start_paused = true)]
async fn a_notification_claiming_a_slot_beyond_the_ceiling_reaches_nobody() {
    let (pool, hub) = hub(Duration::from_secs(1));
    // The health loop's part: a moved from 1,000 to 1,005 in two seconds.
    let ceiling = &pool.upstreams().ceiling;
    let start = crate::clock::now();
    for (i, slot) in [1_000, 1_003, 1_005].into_iter().enumerate() {
        let at = start + Duration::from_secs(i as u64);
        ceiling.judge_round(at, &[Some((slot, at)), None]);
    }
    let (client, mut rx) = Client::new(8);
    let (_handle, shared) = subscribed(&hub, &client).await;
    hub.inner.confirmed(shared, 1);
    hub.inner.deliver(
        shared,
        1,
        Kind::Slot,
        r#"{"slot":900000000000,"parent":1,"root":0}"#,
    );
    hub.inner.deliver(
        shared,
        0,
        Kind::Slot,
        r#"{"slot":1003,"parent":1002,"root":0}"#,
    );
    let d = rx.recv().await.expect("the plausible one");
    assert!(text(&d).contains("1003"));
    assert!(rx.try_recv().is_err(), "the wrong slot was dropped");
}

#[tokio::test(start_paused = true)]
async fn an_upstream_on_another_cluster_is_not_asked_and_carries_nothing() {
    let (pool, hub) = hub(Duration::from_secs(1));
    pool.upstreams().endpoints[0].stats.set_foreign(true);
    let (client, mut rx) = Client::new(8);
    let (pending, shared) = subscribing(&hub, &client).await;
    // (This hub has no upstream connections to ask; which are asked is tested through the
    // gateway.) A confirmation or a notification from a opens nothing and reaches nobody.
    hub.inner.confirmed(shared, 0);
    assert_eq!(hub.inner.subs.lock().shared[&shared].carriers, 0);
    hub.inner.confirmed(shared, 1);
    let _handle = pending.await.unwrap().expect("b confirmed");
    hub.inner
        .deliver(shared, 0, Kind::Slot, r#"{"slot":7,"parent":6,"root":0}"#);
    hub.inner
        .deliver(shared, 1, Kind::Slot, r#"{"slot":8,"parent":7,"root":0}"#);
    let d = rx.recv().await.expect("b's");
    assert!(text(&d).contains("\"slot\":8"));
    assert!(rx.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn logs_requests_that_mean_the_same_share_one_subscription() {
    let (_pool, hub) = hub(Duration::from_secs(1));
    let (client, _rx) = Client::new(8);
    let raw = |s: &str| serde_json::value::RawValue::from_string(s.to_string()).unwrap();
    // Keys a node ignores, and the default commitment written out or not: one subscription.
    // (A client adding keys cannot multiply the whole chain's logs.)
    let same = [
        r#"["all"]"#,
        r#"["all",{"commitment":"finalized"}]"#,
        r#"["all",{"x":1}]"#,
        r#"["all",{"commitment":"finalized","encoding":"base64","y":[2]}]"#,
    ];
    let mut pending = Vec::new();
    for (i, p) in same.iter().enumerate() {
        let (hub, client, params) = (hub.clone(), client.clone(), raw(p));
        pending.push(tokio::spawn(async move {
            hub.subscribe(&client, i as u64, Kind::Logs, Some(&params))
                .await
        }));
    }
    while hub.counts().1 < same.len() {
        tokio::task::yield_now().await;
    }
    assert_eq!(hub.counts(), (1, same.len()));
    // Another commitment or filter is another subscription; the same mentions with extra
    // keys in the filter are the same.
    let others = [
        r#"["all",{"commitment":"processed"}]"#,
        r#"[{"mentions":["K"]},{"commitment":"confirmed"}]"#,
        r#"[{"mentions":["K"],"z":0},{"commitment":"confirmed","q":1}]"#,
    ];
    for (i, p) in others.iter().enumerate() {
        let (hub, client, params) = (hub.clone(), client.clone(), raw(p));
        pending.push(tokio::spawn(async move {
            hub.subscribe(&client, 10 + i as u64, Kind::Logs, Some(&params))
                .await
        }));
    }
    while hub.counts().1 < same.len() + others.len() {
        tokio::task::yield_now().await;
    }
    assert_eq!(hub.counts().0, 3);
    // A commitment a node does not know is the client's error, at once.
    let bad = raw(r#"["all",{"commitment":"soon"}]"#);
    let err = hub
        .subscribe(&client, 99, Kind::Logs, Some(&bad))
        .await
        .unwrap_err();
    assert!(err.error.contains("-32602"), "{}", err.error);
    assert_eq!(hub.counts().0, 3);
    for p in pending {
        p.abort();
    }
}

/// Two PubSub upstreams on loopback (real WebSockets).
async fn two_ws_upstreams() -> (dualrpc_testkit::WsUpstream, dualrpc_testkit::WsUpstream) {
    (
        dualrpc_testkit::WsUpstream::start().await,
        dualrpc_testkit::WsUpstream::start().await,
    )
}

/// A pool over `a` and `b` (health loop off) whose subscriptions ping every 20 ms,
/// reconnect within 10–20 ms and end orphans after `stall_ms`.
fn ws_pool(
    a: &dualrpc_testkit::WsUpstream,
    b: &dualrpc_testkit::WsUpstream,
    stall_ms: u64,
) -> Pool {
    let toml = format!(
        "[[endpoint]]\nname = \"a\"\nurl = \"{}\"\n[[endpoint]]\nname = \"b\"\nurl = \"{}\"\n\
         [health]\ninterval_ms = 0\n\
         [subscriptions]\nping_interval_ms = 20\nstall_timeout_ms = {stall_ms}\n\
         reconnect_min_ms = 10\nreconnect_max_ms = 20\n",
        a.url(),
        b.url()
    );
    Pool::from_config(Config::from_toml(&toml, |_| None).unwrap()).unwrap()
}

/// Waits (real time, bounded) until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test]
async fn an_upstream_on_another_cluster_stops_carrying_until_it_is_ours_again() {
    // Real WebSockets on loopback: a carries the subscription alone (b refuses it); then
    // the health loop finds a on another cluster.
    let (a, b) = two_ws_upstreams().await;
    b.refuse(Some(r#"{"code":-32602,"message":"not here"}"#));
    let pool = ws_pool(&a, &b, 200);
    let hub = pool.subscriptions().clone();
    let (client, _rx) = Client::new(8);
    let handle = hub
        .subscribe(&client, 1, Kind::Slot, None)
        .await
        .expect("a confirms");
    until("a carries it", || a.subscriptions().len() == 1).await;
    let connections = a.connections();
    pool.upstreams().endpoints[0].stats.set_foreign(true);
    // a no longer carries it: with no other carrier, the client is told (it used to wait
    // for a's notifications forever, every one of them dropped as another chain's).
    let reason = tokio::time::timeout(Duration::from_secs(5), client.closed())
        .await
        .expect("the orphan is ended");
    assert_eq!(reason, CloseReason::NoUpstream);
    until("a's connection closed", || a.subscriptions().is_empty()).await;
    // Not reconnected while it is on another cluster (reconnects would come every 10–20
    // ms; the orphan wait alone was 200 ms).
    assert_eq!(a.connections(), connections);
    // The client's connection closes (its subscription with it); a new client's is not
    // sent to a either.
    drop(handle);
    let (other, _rx) = Client::new(8);
    let pending = {
        let (hub, other) = (hub.clone(), other.clone());
        tokio::spawn(async move { hub.subscribe(&other, 2, Kind::Slot, None).await })
    };
    assert!(pending.await.unwrap().is_err(), "b refuses, a is not asked");
    assert_eq!(a.connections(), connections);
    // Ours again (the health loop found its hash matches after all): asked, connected and
    // carrying again.
    pool.upstreams().endpoints[0].stats.set_foreign(false);
    let (third, _rx) = Client::new(8);
    let _handle = hub
        .subscribe(&third, 3, Kind::Slot, None)
        .await
        .expect("a confirms again");
    until("a carries it again", || a.subscriptions().len() == 1).await;
    assert_eq!(a.connections(), connections + 1);
}

#[tokio::test]
async fn a_subscribe_asked_of_an_endpoint_found_on_another_cluster_is_not_kept_waiting() {
    // a is asked but does not answer yet; b refuses (a refusal it re-asks). a is then found
    // on another cluster: it never will answer, so b's next refusal is the answer (not
    // stall_timeout's "no upstream could open", 5 s later).
    let (a, b) = two_ws_upstreams().await;
    a.hold_confirmations();
    b.refuse(Some(r#"{"code":-32000,"message":"busy here"}"#));
    let pool = ws_pool(&a, &b, 5000);
    let hub = pool.subscriptions().clone();
    let (client, _rx) = Client::new(8);
    let pending = {
        let (hub, client) = (hub.clone(), client.clone());
        tokio::spawn(async move { hub.subscribe(&client, 1, Kind::Slot, None).await })
    };
    until("a asked", || a.subscriptions().len() == 1).await;
    pool.upstreams().endpoints[0].stats.set_foreign(true);
    let err = tokio::time::timeout(Duration::from_secs(2), pending)
        .await
        .expect("answered before stall_timeout")
        .unwrap()
        .unwrap_err();
    assert!(err.error.contains("busy here"), "{}", err.error);
}
