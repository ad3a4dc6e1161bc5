//! PubSub faults, lag and clocks, end to end with real WebSocket clients: forced disconnects
//! close the socket (and only the connections open then), connections end after their drawn
//! lifetime, drops lose notifications as the oracle says, a lagging endpoint notifies slots
//! late, and a real-time clock notifies every slot. Manual clocks except in the last test;
//! waits for frames are bounded (`support::WAIT`).

#[path = "pubsub/support.rs"]
mod support;

use std::time::Duration;

use dualrpc_sim::{Commitment, EndpointSpec, LatencyModel, LaunchNotification, PubsubModel};
use serde_json::{Value, json};
use support::{Client, launch_in_tip_slot, manual_cluster, results};

#[tokio::test]
async fn forced_disconnects_close_the_socket() {
    let cluster = manual_cluster(vec![EndpointSpec::new("a", LatencyModel::ZERO)], 3).await;
    let (chain, endpoint) = (cluster.chain(), &cluster.endpoints()[0]);
    let mut c1 = Client::connect(endpoint).await;
    let mut c2 = Client::connect(endpoint).await;
    c1.subscribe("slotSubscribe", json!([])).await;
    c2.subscribe("rootSubscribe", json!([])).await;
    c2.subscribe("logsSubscribe", json!(["all"])).await;
    let stats = endpoint.pubsub_stats();
    assert_eq!((stats.open_connections, stats.open_subscriptions), (2, 3));

    endpoint.drop_pubsub_connections();
    assert_eq!(c1.frame().await, None);
    assert_eq!(c2.frame().await, None);
    let stats = endpoint.pubsub_stats();
    assert_eq!((stats.open_connections, stats.open_subscriptions), (0, 0));
    assert_eq!(stats.disconnects, 2);

    // A connection opened afterwards is not affected, and numbers from 0 again.
    let mut c3 = Client::connect(endpoint).await;
    assert_eq!(c3.subscribe("slotSubscribe", json!([])).await, 0);
    chain.advance(1);
    assert_eq!(c3.drain().await.len(), 1);
    // Killing the endpoint closes PubSub too.
    endpoint.kill().await;
    assert_eq!(c3.frame().await, None);
    assert_eq!(endpoint.pubsub_stats().open_connections, 0);
    cluster.shutdown().await;
}

#[tokio::test]
async fn connections_end_after_their_lifetime_and_drops_lose_notifications() {
    let short_lived = PubsubModel::NONE.with_disconnects(Duration::from_secs(1));
    let lossy = PubsubModel::NONE.with_drops(1.0);
    let cluster = manual_cluster(
        vec![
            EndpointSpec::new("short", LatencyModel::ZERO).with_pubsub(short_lived),
            EndpointSpec::new("lossy", LatencyModel::ZERO).with_pubsub(lossy),
        ],
        5,
    )
    .await;
    let chain = cluster.chain();
    let (short, lossy) = (&cluster.endpoints()[0], &cluster.endpoints()[1]);
    let mut c = Client::connect(short).await;
    c.subscribe("rootSubscribe", json!([])).await;
    let mut l = Client::connect(lossy).await;
    let slot_sub = l.subscribe("slotSubscribe", json!([])).await;
    l.subscribe("logsSubscribe", json!(["all", {"commitment": "processed"}]))
        .await;

    // A lifetime with a mean of 1 s is over long before an hour has passed.
    chain.advance_time(Duration::from_secs(3600));
    assert_eq!(c.frame().await, None);
    assert_eq!(short.pubsub_stats().disconnects, 1);

    // Everything is dropped on `lossy`, and the oracle says so.
    let info = launch_in_tip_slot(chain);
    assert!(l.drain().await.is_empty());
    assert!(lossy.pubsub_stats().dropped > 0);
    let timing = lossy
        .notification_timing(
            LaunchNotification::Logs,
            &info.signature,
            Commitment::Processed,
        )
        .unwrap();
    assert!(timing.dropped);
    lossy.set_pubsub(PubsubModel::NONE);
    chain.advance(1);
    let frames = l.drain().await;
    assert_eq!(results(&frames, "slotNotification", slot_sub).len(), 1);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_lagging_endpoint_notifies_slots_and_launches_late() {
    let cluster = manual_cluster(
        vec![
            EndpointSpec::new("fresh", LatencyModel::ZERO),
            EndpointSpec::new("stale", LatencyModel::ZERO).with_lag(3),
        ],
        9,
    )
    .await;
    let chain = cluster.chain();
    let mut clients = Vec::new();
    for endpoint in cluster.endpoints() {
        let mut c = Client::connect(endpoint).await;
        c.subscribe("slotSubscribe", json!([])).await;
        c.subscribe("logsSubscribe", json!(["all", {"commitment": "processed"}]))
            .await;
        clients.push(c);
    }
    let info = launch_in_tip_slot(chain);
    let has = |frames: &[Value]| {
        frames
            .iter()
            .any(|f| f["params"]["result"]["value"]["signature"] == info.signature)
    };
    let fresh = clients[0].drain().await;
    assert!(has(&fresh));
    assert_eq!(
        results(&fresh, "slotNotification", 0).last().unwrap()["slot"],
        chain.slot()
    );
    let stale = clients[1].drain().await;
    assert!(!has(&stale));
    assert_eq!(
        results(&stale, "slotNotification", 0).last().unwrap()["slot"],
        chain.slot() - 3
    );
    // Three slots later the stale endpoint reaches the launch's slot.
    chain.advance(3);
    assert!(has(&clients[1].drain().await));
    cluster.shutdown().await;
}

#[tokio::test]
async fn real_time_clock_notifies_every_slot() {
    let spec = EndpointSpec::new("rt", LatencyModel::ZERO)
        .with_pubsub(PubsubModel::new(LatencyModel::lognormal(5.0, 0.3)));
    let profile = dualrpc_sim::Profile {
        name: "rt".into(),
        description: "real time".into(),
        endpoints: vec![spec],
        chain: dualrpc_sim::ChainConfig::default(),
        slowdown: None,
    };
    let cluster = dualrpc_sim::Cluster::start(&profile, dualrpc_sim::ClusterOptions::default())
        .await
        .unwrap();
    let mut c = Client::connect(&cluster.endpoints()[0]).await;
    let id = c.subscribe("slotSubscribe", json!([])).await;
    let mut slots = Vec::new();
    while slots.len() < 2 {
        let frame: Value = serde_json::from_str(&c.frame().await.expect("a notification")).unwrap();
        assert_eq!(frame["params"]["subscription"], id);
        slots.push(frame["params"]["result"]["slot"].as_u64().unwrap());
    }
    assert_eq!(slots[1], slots[0] + 1);
    cluster.shutdown().await;
}
