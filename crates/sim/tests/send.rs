//! Sending and confirming a transaction, as a client does it: `sendTransaction` lands the
//! transaction in the next slot, `getSignatureStatuses` and `signatureSubscribe` then show it on
//! every endpoint through its own view (lag, indexing delay, PubSub delivery delay) as the
//! visibility oracle says, a resend lands nothing more, a payload that is no transaction lands
//! nothing; and `getEpochInfo`, which a client watches a blockhash's lifetime with, agrees with
//! the other slot methods.
//!
//! Clocks are manual throughout: time moves only through `advance` / `advance_time`.

#[path = "pubsub/support.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use dualrpc_sim::{
    Chain, Cluster, Commitment, EndpointSpec, LatencyModel, LaunchNotification,
    PUMP_FUN_PROGRAM_ID, PubsubModel, base58_encode,
};
use serde_json::{Value, json};
use support::{
    Client, Json, advance_to, base64, manual_cluster, results, rpc, rpc_reply, rpc_text,
};

const LEVELS: [Commitment; 3] = [
    Commitment::Finalized,
    Commitment::Confirmed,
    Commitment::Processed,
];

const ONE_NS: Duration = Duration::from_nanos(1);

/// `a` at the tip, `b` one slot behind with a PubSub delivery delay; both with indexing delays.
async fn cluster(seed: u64) -> Cluster {
    let endpoints = vec![
        EndpointSpec::new("a", LatencyModel::ZERO)
            .with_indexing_delay(LatencyModel::lognormal_p99(40.0, 250.0)),
        EndpointSpec::new("b", LatencyModel::ZERO)
            .with_lag(1)
            .with_indexing_delay(LatencyModel::lognormal_p99(30.0, 200.0))
            .with_pubsub(PubsubModel::new(LatencyModel::lognormal_p99(10.0, 60.0))),
    ];
    manual_cluster(endpoints, seed).await
}

/// A serialized transaction with one signature (the message bytes are arbitrary: the sim does
/// not execute it).
fn transaction(signature: [u8; 64]) -> Vec<u8> {
    let mut tx = vec![1];
    tx.extend(signature);
    tx.extend([0xA7; 120]);
    tx
}

async fn statuses(addr: SocketAddr, signature: &str) -> Value {
    rpc(addr, "getSignatureStatuses", json!([[signature]])).await["value"][0].clone()
}

/// What `getSignatureStatuses` must answer on endpoint `e` now, from the visibility oracle.
fn expected_status(chain: &Chain, signature: &str, e: usize) -> Value {
    let now = chain.now();
    let shown = LEVELS.into_iter().find_map(|level| {
        let v = chain.visibility(signature, e, level).unwrap();
        v.is_visible_at(now).then_some((level, v.slot))
    });
    let Some((level, slot)) = shown else {
        return Value::Null;
    };
    let tip = chain.slot_at(Commitment::Processed, chain.endpoint_lag(e).unwrap());
    let confirmations = match level {
        Commitment::Finalized => Value::Null,
        _ => json!(tip - slot),
    };
    json!({
        "confirmationStatus": level.as_str(),
        "confirmations": confirmations,
        "err": null,
        "slot": slot,
        "status": {"Ok": null},
    })
}

#[tokio::test]
async fn a_sent_transaction_lands_in_the_next_slot_and_confirms_through_each_view() {
    let cluster = cluster(21).await;
    let (chain, endpoints) = (cluster.chain(), cluster.endpoints());
    // Mid-slot: the transaction still lands in the next one.
    chain.advance_time(Duration::from_millis(150));
    let tip = chain.slot();
    let signature = base58_encode(&[7; 64]);
    let sent = rpc(
        endpoints[0].addr(),
        "sendTransaction",
        json!([base58_encode(&transaction([7; 64]))]),
    )
    .await;
    assert_eq!(sent, signature.as_str());
    assert_eq!(chain.sent_slot(&signature), Some(tip + 1));

    // Every endpoint shows it at each level from the oracle's instant on, not a nanosecond
    // earlier; the oracle counts from the start of its slot.
    let mut instants = Vec::new();
    for e in 0..2 {
        for level in LEVELS {
            let v = chain.visibility(&signature, e, level).unwrap();
            assert_eq!((v.slot, v.created_at), (tip + 1, chain.slot_start(tip + 1)));
            let slots = u32::try_from(level.depth() + v.lag_slots).unwrap();
            let reached = v.created_at + Duration::from_millis(400) * slots;
            assert_eq!(v.visible_at, reached + v.indexing_delay);
            instants.push(v.visible_at);
        }
    }
    instants.sort();
    let mut seen = vec![Value::Null];
    for at in instants.iter().flat_map(|&t| [t - ONE_NS, t]) {
        if at > chain.now() {
            advance_to(chain, at);
        }
        for (e, endpoint) in endpoints.iter().enumerate() {
            let status = statuses(endpoint.addr(), &signature).await;
            assert_eq!(status, expected_status(chain, &signature, e), "{e} at {at}");
            if e == 0 && seen.last() != Some(&status["confirmationStatus"]) {
                seen.push(status["confirmationStatus"].clone());
            }
        }
    }
    // Null before its slot, then processed → confirmed → finalized.
    assert_eq!(
        seen,
        [
            Value::Null,
            json!("processed"),
            json!("confirmed"),
            json!("finalized")
        ]
    );

    // It is no launch: no history entry, no transaction.
    let confirmed = json!({"commitment": "confirmed", "maxSupportedTransactionVersion": 0});
    let addr = endpoints[0].addr();
    assert_eq!(
        rpc(addr, "getTransaction", json!([signature, confirmed])).await,
        Value::Null
    );
    let page = rpc(
        addr,
        "getSignaturesForAddress",
        json!([PUMP_FUN_PROGRAM_ID]),
    )
    .await;
    let listed = page
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["signature"] == signature);
    assert!(!listed);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_signature_subscription_made_before_sending_is_notified_once() {
    let cluster = cluster(22).await;
    let (chain, endpoints) = (cluster.chain(), cluster.endpoints());
    let signature = base58_encode(&[8; 64]);
    let mut clients = [
        Client::connect(&endpoints[0]).await,
        Client::connect(&endpoints[1]).await,
    ];
    // (client, subscription, commitment)
    let mut subs = Vec::new();
    for (c, level) in [(0, "processed"), (0, "confirmed"), (1, "confirmed")] {
        let config = json!({"commitment": level});
        let id = clients[c]
            .subscribe("signatureSubscribe", json!([signature, config]))
            .await;
        subs.push((c, id, Commitment::parse(level).unwrap()));
    }
    let tip = chain.slot();
    // Sent to the lagging endpoint: the chain is shared, every endpoint has it.
    let payload = base64(&transaction([8; 64]));
    let config = json!({"encoding": "base64", "skipPreflight": true});
    let sent = rpc(
        endpoints[1].addr(),
        "sendTransaction",
        json!([payload, config]),
    )
    .await;
    assert_eq!(sent, signature.as_str());

    let due: Vec<_> = subs
        .iter()
        .map(|&(c, _, level)| {
            let t = endpoints[c]
                .notification_timing(LaunchNotification::Signature, &signature, level)
                .unwrap();
            assert!(!t.dropped);
            t.due_at
        })
        .collect();
    let mut order: Vec<_> = due.iter().flat_map(|&t| [t - ONE_NS, t]).collect();
    order.sort();
    let mut got: Vec<Vec<Value>> = vec![Vec::new(); subs.len()];
    for at in order {
        if at > chain.now() {
            advance_to(chain, at);
        }
        let frames = [clients[0].drain().await, clients[1].drain().await];
        for (i, &(c, id, _)) in subs.iter().enumerate() {
            got[i].extend(results(&frames[c], "signatureNotification", id));
            assert_eq!(got[i].len(), usize::from(due[i] <= at), "sub {i} at {at}");
        }
    }
    let notification = json!({"context": {"slot": tip + 1}, "value": {"err": null}});
    for g in &got {
        assert_eq!(g, std::slice::from_ref(&notification));
    }

    // Once is all: the subscriptions are gone and nothing more comes.
    chain.advance(40);
    for (c, id, _) in subs {
        assert!(results(&clients[c].drain().await, "signatureNotification", id).is_empty());
        let gone = clients[c].call("signatureUnsubscribe", json!([id])).await;
        assert_eq!(gone["error"]["message"], "Invalid subscription id.");
    }
    // Subscribed when already shown: notified at the next slot, as for a launch.
    let confirmed = json!({"commitment": "confirmed"});
    let late = clients[0]
        .subscribe("signatureSubscribe", json!([signature, confirmed]))
        .await;
    chain.advance(1);
    let frames = clients[0].drain().await;
    assert_eq!(results(&frames, "signatureNotification", late).len(), 1);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_resent_signature_does_not_land_again() {
    let cluster = cluster(23).await;
    let (chain, endpoints) = (cluster.chain(), cluster.endpoints());
    let signature = base58_encode(&[9; 64]);
    let tx = transaction([9; 64]);
    let first = chain.slot() + 1;
    let sent = rpc(
        endpoints[0].addr(),
        "sendTransaction",
        json!([base58_encode(&tx)]),
    )
    .await;
    assert_eq!(sent, signature.as_str());
    // Later, to the other endpoint, in the other encoding.
    chain.advance(3);
    let base64_config = json!({"encoding": "base64"});
    let again = rpc(
        endpoints[1].addr(),
        "sendTransaction",
        json!([base64(&tx), base64_config]),
    )
    .await;
    assert_eq!(again, signature.as_str());
    assert_eq!(chain.sent_slot(&signature), Some(first));
    chain.advance(40);
    for endpoint in endpoints {
        let status = statuses(endpoint.addr(), &signature).await;
        assert_eq!(status["slot"], first);
        assert_eq!(status["confirmationStatus"], "finalized");
    }

    cluster.shutdown().await;
}

#[tokio::test]
async fn payloads_that_are_no_transaction_land_nothing() {
    let cluster = cluster(24).await;
    let chain = cluster.chain();
    let addr = cluster.endpoints()[0].addr();
    let base64_config = json!({"encoding": "base64"});
    let mut no_signatures = vec![0];
    no_signatures.extend([5; 100]);
    let mut too_many = vec![0x80, 0x01];
    too_many.extend([5; 200]);
    let payloads = [
        json!(["0OIl not base58"]),
        json!([base58_encode(&no_signatures)]),
        json!([base58_encode(&[1; 40])]),
        json!([base64(&too_many), base64_config]),
        json!(["%%% not base64", base64_config]),
    ];
    let mut hashed = Vec::new();
    for params in &payloads {
        let signature = rpc(addr, "sendTransaction", params.clone()).await;
        let signature = signature.as_str().unwrap().to_owned();
        assert!((86..=88).contains(&signature.len()), "{signature}");
        // The same payload, the same signature.
        assert_eq!(
            rpc(addr, "sendTransaction", params.clone()).await,
            signature.as_str()
        );
        assert_eq!(chain.sent_slot(&signature), None);
        hashed.push(signature);
    }
    chain.advance(40);
    for signature in &hashed {
        assert_eq!(statuses(addr, signature).await, Value::Null);
    }
    // An unknown encoding or no payload: agave's errors, nothing lands.
    let hex = rpc_reply(addr, "sendTransaction", json!(["00", {"encoding": "hex"}])).await;
    assert_eq!(
        hex["error"],
        json!({"code": -32602, "message": "Invalid params: unknown variant `hex`, expected `base58` or `base64`"})
    );
    let missing = rpc_reply(addr, "sendTransaction", json!([])).await;
    assert_eq!(missing["error"]["code"], -32602);
    // Larger than a packet: refused before decoding (agave's message), whatever it holds.
    let huge = rpc_reply(addr, "sendTransaction", json!(["1".repeat(200_000)])).await;
    assert_eq!(
        huge["error"],
        json!({"code": -32602, "message": "Invalid params: base58 encoded solana_transaction::versioned::VersionedTransaction too large: 200000 bytes (max: encoded/raw 1683/1232)"})
    );
    let huge = rpc_reply(
        addr,
        "sendTransaction",
        json!(["A".repeat(1645), base64_config]),
    )
    .await;
    assert_eq!(huge["error"]["code"], -32602, "{huge}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn epoch_info_agrees_with_the_slot_methods_at_every_commitment() {
    let cluster = cluster(25).await;
    let chain = cluster.chain();
    for endpoint in cluster.endpoints() {
        let addr = endpoint.addr();
        for config in [
            json!({}),
            json!({"commitment": "processed"}),
            json!({"commitment": "confirmed"}),
            json!({"commitment": "finalized"}),
        ] {
            let text = rpc_text(addr, "getEpochInfo", json!([config])).await;
            let info = Json::parse(&text).get("result").unwrap().clone();
            let skeleton = "{epoch:number,slotIndex:number,slotsInEpoch:number,\
                            absoluteSlot:number,blockHeight:number,transactionCount:number}";
            assert_eq!(info.skeleton(), skeleton, "agave's field order");
            let info: Value = serde_json::from_str(&info.to_string()).unwrap();
            let slot = rpc(addr, "getSlot", json!([config])).await;
            let height = rpc(addr, "getBlockHeight", json!([config])).await;
            let blockhash = rpc(addr, "getLatestBlockhash", json!([config])).await;
            let slot = slot.as_u64().unwrap();
            assert_eq!(info["absoluteSlot"], slot);
            assert_eq!(info["blockHeight"], height);
            assert_eq!(
                blockhash["value"]["lastValidBlockHeight"],
                height.as_u64().unwrap() + 150
            );
            assert_eq!(info["epoch"], slot / 432_000);
            assert_eq!(info["slotIndex"], slot % 432_000);
            assert_eq!(info["slotsInEpoch"], 432_000);
            assert!(info["transactionCount"].as_u64().unwrap() > 0);
        }
    }
    // It moves with the chain, and minContextSlot applies.
    let addr = cluster.endpoints()[0].addr();
    let before = rpc(addr, "getEpochInfo", json!([])).await;
    chain.advance(1);
    let after = rpc(addr, "getEpochInfo", json!([])).await;
    assert_eq!(
        after["absoluteSlot"],
        before["absoluteSlot"].as_u64().unwrap() + 1
    );
    let count = |v: &Value| v["transactionCount"].as_u64().unwrap();
    assert!(count(&after) > count(&before));
    let future = json!([{"minContextSlot": chain.slot() + 5}]);
    let early = rpc_reply(addr, "getEpochInfo", future).await;
    assert_eq!(early["error"]["code"], -32016);
    cluster.shutdown().await;
}
