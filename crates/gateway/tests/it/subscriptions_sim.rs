//! Subscriptions end to end: the gateway over a simulated cluster whose endpoints serve
//! PubSub from one chain, each with its own indexing and delivery delays.

use std::collections::HashSet;
use std::time::Duration;

use dualrpc::{Config, Pool};
use dualrpc_sim::{Cluster, ClusterOptions, PUMP_FUN_PROGRAM_ID, Profile};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// How alpha's PubSub goes away mid-stream.
#[derive(Clone, Copy, PartialEq)]
enum Loss {
    /// Its connections are dropped (it takes new ones).
    Drop,
    /// The endpoint is killed: connections dropped, new ones refused.
    Kill,
}

#[tokio::test]
async fn every_launch_arrives_once_even_when_an_upstream_drops_mid_stream() {
    every_launch_once_across(Loss::Drop).await;
}

#[tokio::test]
async fn every_launch_arrives_once_even_when_an_upstream_is_killed_mid_stream() {
    every_launch_once_across(Loss::Kill).await;
}

async fn every_launch_once_across(loss: Loss) {
    let mut profile = Profile::named("seed").expect("built-in profile");
    profile.chain.signatures_per_second = 20.0;
    for e in &mut profile.endpoints {
        // Determinism: no random drops or disconnects; the test forces one.
        e.pubsub.drop_probability = 0.0;
        e.pubsub.mean_time_between_disconnects = Duration::ZERO;
    }
    let cluster = Cluster::start(
        &profile,
        ClusterOptions {
            seed: 11,
            ..Default::default()
        },
    )
    .await
    .expect("cluster");
    let mut toml = cluster_toml(&cluster);
    toml.push_str("[health]\ninterval_ms = 0\n[subscriptions]\nreconnect_min_ms = 10\n");
    let pool = Pool::from_config(Config::from_toml(&toml, |_| None).unwrap()).unwrap();
    let gw = gateway(pool).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", gw.server.ws_addr()))
        .await
        .expect("upgrade");
    let params = json!([{"mentions": [PUMP_FUN_PROGRAM_ID]}, {"commitment": "confirmed"}]);
    ws.send(Message::text(
        json!({"jsonrpc":"2.0","id":1,"method":"logsSubscribe","params":params}).to_string(),
    ))
    .await
    .unwrap();
    let chain = cluster.chain().clone();
    // Launches of these slots must all arrive (the subscription is open well before).
    let first = chain.slot() + 3;
    let last = first + 4;
    let mut seen = HashSet::new();
    let mut dropped = false;
    let launches = within("every launch of the slots", async {
        loop {
            let frame = ws.next().await.expect("open").expect("frame");
            let Message::Text(t) = frame else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == 1 {
                assert_eq!(v["result"], 0, "{v}");
                continue;
            }
            assert_eq!(v["method"], "logsNotification", "{v}");
            let sig = v["params"]["result"]["value"]["signature"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(chain.signature_info(&sig).is_some(), "a real launch: {sig}");
            assert!(seen.insert(sig), "no duplicate: {v}");
            if seen.len() == 5 && !dropped {
                // alpha's PubSub goes away mid-stream; beta carries on.
                match loss {
                    Loss::Drop => cluster.endpoints()[0].drop_pubsub_connections(),
                    Loss::Kill => cluster.endpoints()[0].kill().await,
                }
                dropped = true;
            }
            let wanted: Vec<String> = chain
                .signatures(last, 1000)
                .into_iter()
                .filter(|s| s.slot >= first)
                .map(|s| s.signature)
                .collect();
            if chain.slot() > last + 2 && wanted.iter().all(|s| seen.contains(s)) {
                return wanted.len();
            }
        }
    })
    .await;
    assert!(launches >= 10, "{launches} launches checked");
    assert!(dropped);
}
