//! PubSub end to end: real WebSocket clients (tokio-tungstenite) over loopback against a
//! cluster. Clocks are manual wherever timing matters: time moves only through `advance` /
//! `advance_time`, and a request (`getVersion`) is the barrier after which every notification
//! due by then has arrived — so nothing here sleeps to synchronise; waits for frames that must
//! come are bounded (`support::WAIT`).

#[path = "pubsub/support.rs"]
mod support;

use std::time::Duration;

use dualrpc_sim::{
    Commitment, EndpointSpec, LatencyModel, LaunchNotification, PUMP_FUN_PROGRAM_ID as PUMP,
    PubsubModel,
};
use serde_json::{Value, json};
use support::{
    Client, Json, advance_to, fixture_frame, launch_in_tip_slot, manual_cluster, results, rpc,
};

/// Whether `frames` hold a logs notification for `signature`.
fn has_logs(frames: &[Value], signature: &str) -> bool {
    frames.iter().any(|f| {
        f["method"] == "logsNotification"
            && f["params"]["result"]["value"]["signature"] == signature
    })
}

#[tokio::test]
async fn answers_and_errors_are_agave_frames_with_ids_per_connection() {
    let cluster = manual_cluster(vec![EndpointSpec::new("a", LatencyModel::ZERO)], 1).await;
    let endpoint = &cluster.endpoints()[0];
    assert_eq!(
        endpoint.ws_url(),
        endpoint.url().replace("http://", "ws://")
    );
    let info = cluster
        .chain()
        .signatures(cluster.chain().slot(), 1)
        .remove(0);

    // The first connection of the capture: ids 1–8 and 99, byte for byte.
    let mut a = Client::connect(endpoint).await;
    let requests = [
        (1, "slotSubscribe", json!([])),
        (2, "rootSubscribe", json!([])),
        (3, "logsSubscribe", json!([{"mentions": [PUMP]}])),
        (4, "accountSubscribe", json!([info.mint])),
        (5, "programSubscribe", json!([PUMP, {"encoding": "base64"}])),
        (6, "signatureSubscribe", json!([info.signature])),
        (7, "getFoo", json!([])),
        (8, "accountSubscribe", json!(["not-a-pubkey"])),
        (99, "slotUnsubscribe", json!([0])),
    ];
    for (id, method, params) in requests {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let expected = fixture_frame(&format!("response_id_{id}"), 0).to_string();
        assert_eq!(a.send_raw(&request.to_string()).await, expected, "{method}");
    }
    let parse_error = fixture_frame("response_id_None", 0).to_string();
    assert_eq!(a.send_raw("this is not JSON").await, parse_error);

    // agave's other errors.
    let error = |answer: Value| {
        (
            answer["error"]["code"].clone(),
            answer["error"]["message"].clone(),
        )
    };
    let invalid_id = a.call("slotUnsubscribe", json!([0])).await;
    assert_eq!(
        error(invalid_id),
        (json!(-32602), json!("Invalid subscription id."))
    );
    let two = a
        .call("logsSubscribe", json!([{"mentions": [PUMP, info.mint]}]))
        .await;
    assert_eq!(
        error(two),
        (
            json!(-32602),
            json!("Invalid Request: Only 1 address supported")
        )
    );
    let bad_mention = a
        .call("logsSubscribe", json!([{"mentions": ["xyz"]}]))
        .await;
    assert_eq!(
        error(bad_mention).1,
        "Invalid Request: Invalid mentions provided"
    );
    let bad_sig = a.call("signatureSubscribe", json!(["xyz"])).await;
    assert_eq!(
        error(bad_sig).1,
        "Invalid Request: Invalid signature provided"
    );
    let bad_id = a.call("rootUnsubscribe", json!(["x"])).await;
    assert_eq!(error(bad_id).0, -32602);
    let bad_level = a
        .call(
            "accountSubscribe",
            json!([info.mint, {"commitment": "soon"}]),
        )
        .await;
    assert!(
        error(bad_level)
            .1
            .as_str()
            .unwrap()
            .starts_with("Invalid params: unknown variant")
    );
    let invalid = a.send_raw(r#"{"id":5,"method":"slotSubscribe"}"#).await;
    assert_eq!(
        invalid,
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request"},"id":5}"#
    );
    // A batch is answered as one array; ids keep counting on the connection.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 20, "method": "slotSubscribe"},
        {"jsonrpc": "2.0", "id": 21, "method": "nope"},
    ]);
    let answers = [
        r#"{"jsonrpc":"2.0","result":6,"id":20}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":21}"#,
    ];
    let expected = format!("[{}]", answers.join(","));
    assert_eq!(a.send_raw(&batch.to_string()).await, expected);

    // The second connection of the capture: its own ids, from 0.
    let mut b = Client::connect(endpoint).await;
    let confirmed = json!({"commitment": "confirmed"});
    let requests = [
        (
            11,
            "logsSubscribe",
            json!([{"mentions": [info.mint]}, confirmed]),
        ),
        (
            12,
            "accountSubscribe",
            json!([info.mint, {"encoding": "base64", "commitment": "confirmed"}]),
        ),
        (13, "signatureSubscribe", json!([info.signature, confirmed])),
        (14, "rootSubscribe", json!([])),
    ];
    for (id, method, params) in requests {
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let expected = fixture_frame(&format!("response_id_{id}"), 0).to_string();
        assert_eq!(b.send_raw(&request.to_string()).await, expected, "{method}");
    }
    let stats = endpoint.pubsub_stats();
    assert_eq!((stats.open_connections, stats.connections), (2, 2));
    // a: ids 0–6 minus the unsubscribed 0; b: 0–3.
    assert_eq!(stats.open_subscriptions, 6 + 4);
    cluster.shutdown().await;
}

#[tokio::test]
async fn every_kind_notifies_what_the_chain_shows() {
    let cluster = manual_cluster(vec![EndpointSpec::new("a", LatencyModel::ZERO)], 7).await;
    let (chain, endpoint) = (cluster.chain(), &cluster.endpoints()[0]);
    let addr = endpoint.addr();
    let mut c = Client::connect(endpoint).await;
    let confirmed = json!({"commitment": "confirmed"});
    let slot_sub = c.subscribe("slotSubscribe", json!([])).await;
    let root_sub = c.subscribe("rootSubscribe", json!([])).await;
    let logs_sub = c
        .subscribe("logsSubscribe", json!(["all", confirmed]))
        .await;
    let program_config = json!({"commitment": "confirmed", "encoding": "base64"});
    let program_sub = c
        .subscribe("programSubscribe", json!([PUMP, program_config]))
        .await;
    let filtered = json!({"commitment": "confirmed", "filters": [{"dataSize": 165}]});
    let filtered_sub = c
        .subscribe("programSubscribe", json!([PUMP, filtered]))
        .await;
    let start = chain.slot();

    // A launch created now: shown at `processed` already, not yet at `confirmed`.
    let info = launch_in_tip_slot(chain);
    let account_config = json!({"commitment": "confirmed", "encoding": "base64"});
    let account_sub = c
        .subscribe("accountSubscribe", json!([info.mint, account_config]))
        .await;
    let mentions_sub = c
        .subscribe(
            "logsSubscribe",
            json!([{"mentions": [info.mint]}, confirmed]),
        )
        .await;
    let sig_sub = c
        .subscribe("signatureSubscribe", json!([info.signature, confirmed]))
        .await;
    let processed = json!({"commitment": "processed"});
    let late_sub = c
        .subscribe("signatureSubscribe", json!([info.signature, processed]))
        .await;
    let before = c.drain().await;
    assert!(!has_logs(&before, &info.signature));
    assert!(results(&before, "signatureNotification", late_sub).is_empty());

    // One slot later the launch's slot is confirmed.
    chain.advance(1);
    c.barrier().await;
    let raw = c.take_raw();
    let frames: Vec<Value> = raw
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    // Every slot and root since the subscription, in order.
    let tip = chain.slot();
    let all: Vec<Value> = before.iter().chain(&frames).cloned().collect();
    let slots: Vec<Value> = ((start + 1)..=tip)
        .map(|s| json!({"slot": s, "parent": s - 1, "root": s - 32}))
        .collect();
    assert_eq!(results(&all, "slotNotification", slot_sub), slots);
    let roots: Vec<Value> = ((start - 31)..=(tip - 32)).map(|r| json!(r)).collect();
    assert_eq!(results(&all, "rootNotification", root_sub), roots);

    // Logs: the transaction's, as getTransaction has them.
    let tx_config = json!({"commitment": "confirmed", "maxSupportedTransactionVersion": 0});
    let tx = rpc(addr, "getTransaction", json!([info.signature, tx_config])).await;
    let logs = json!({
        "context": {"slot": info.slot},
        "value": {"signature": info.signature, "err": null, "logs": tx["meta"]["logMessages"]},
    });
    assert!(results(&frames, "logsNotification", logs_sub).contains(&logs));
    assert_eq!(results(&frames, "logsNotification", mentions_sub), [logs]);

    // The mint and the bonding curve, as getAccountInfo has them.
    let mint = rpc(addr, "getAccountInfo", json!([info.mint, account_config])).await;
    let account = json!({"context": {"slot": info.slot}, "value": mint["value"]});
    assert_eq!(
        results(&frames, "accountNotification", account_sub),
        [account]
    );
    let curve_key = tx["transaction"]["message"]["accountKeys"][3]["pubkey"].clone();
    let curve = rpc(addr, "getAccountInfo", json!([curve_key, program_config])).await;
    assert_eq!(curve["value"]["owner"], PUMP);
    let program = json!({
        "context": {"slot": info.slot},
        "value": {"pubkey": curve_key, "account": curve["value"]},
    });
    assert!(results(&frames, "programNotification", program_sub).contains(&program));
    assert!(results(&frames, "programNotification", filtered_sub).is_empty());

    // Signatures: one notification, then the subscription is gone.
    let sig = json!({"context": {"slot": info.slot}, "value": {"err": null}});
    assert_eq!(results(&frames, "signatureNotification", sig_sub), [sig]);
    // Already shown when subscribed: agave finds it at the next update, as of that slot.
    let late = json!({"context": {"slot": tip}, "value": {"err": null}});
    assert_eq!(results(&frames, "signatureNotification", late_sub), [late]);
    for id in [sig_sub, late_sub] {
        let gone = c.call("signatureUnsubscribe", json!([id])).await;
        assert_eq!(gone["error"]["message"], "Invalid subscription id.");
    }

    // Every kind has agave's field order.
    for (kind, id) in [
        ("slotNotification", slot_sub),
        ("rootNotification", root_sub),
        ("logsNotification", logs_sub),
        ("accountNotification", account_sub),
        ("programNotification", program_sub),
        ("signatureNotification", sig_sub),
    ] {
        let ours = raw
            .iter()
            .map(|f| Json::parse(f))
            .find(|f| {
                f.get("method") == Some(&Json::Leaf(kind.into()))
                    && f.get("params").and_then(|p| p.get("subscription"))
                        == Some(&Json::Leaf(id.into()))
            })
            .unwrap_or_else(|| panic!("no {kind}"));
        assert_eq!(ours.skeleton(), fixture_frame(kind, 0).skeleton(), "{kind}");
    }

    // The curve at `finalized`, in the default encoding; unsubscribed slots stop.
    let curve_sub = c.subscribe("accountSubscribe", json!([curve_key])).await;
    assert_eq!(
        c.call("slotUnsubscribe", json!([slot_sub])).await["result"],
        true
    );
    assert_eq!(endpoint.pubsub_stats().open_subscriptions, 7);
    chain.advance(31);
    let frames = c.drain().await;
    let finalized = results(&frames, "accountNotification", curve_sub);
    assert_eq!(finalized.len(), 1, "{finalized:?}");
    assert_eq!(finalized[0]["context"]["slot"], info.slot);
    assert_eq!(finalized[0]["value"]["owner"], PUMP);
    assert!(
        finalized[0]["value"]["data"].is_string(),
        "legacy base58 by default"
    );
    assert!(results(&frames, "slotNotification", slot_sub).is_empty());
    cluster.shutdown().await;
}

#[tokio::test]
async fn endpoints_deliver_the_same_launch_after_their_own_delays() {
    let indexing = LatencyModel::lognormal_p99(40.0, 250.0);
    let spec = |name: &str, median, p99| {
        EndpointSpec::new(name, LatencyModel::ZERO)
            .with_indexing_delay(indexing)
            .with_pubsub(PubsubModel::new(LatencyModel::lognormal_p99(median, p99)))
    };
    let cluster = manual_cluster(vec![spec("a", 10.0, 60.0), spec("b", 25.0, 200.0)], 11).await;
    let chain = cluster.chain();
    let endpoints = cluster.endpoints();
    let mut clients = [
        Client::connect(&endpoints[0]).await,
        Client::connect(&endpoints[1]).await,
    ];
    let filter = json!([{"mentions": [PUMP]}, {"commitment": "confirmed"}]);
    for c in &mut clients {
        assert_eq!(c.subscribe("logsSubscribe", filter.clone()).await, 0);
    }
    // When endpoint `e` sends the confirmed logs notification of `signature`.
    let timing = |e: usize, signature: &str| {
        endpoints[e]
            .notification_timing(LaunchNotification::Logs, signature, Commitment::Confirmed)
            .unwrap()
    };
    let info = launch_in_tip_slot(chain);
    let t = [timing(0, &info.signature), timing(1, &info.signature)];
    for (e, t) in t.iter().enumerate() {
        let v = chain
            .visibility(&info.signature, e, Commitment::Confirmed)
            .unwrap();
        assert_eq!(t.visible_at, v.visible_at);
        assert_eq!(t.due_at, t.visible_at + t.delivery_delay);
        assert!(!t.dropped);
    }
    assert_ne!(t[0].delivery_delay, t[1].delivery_delay);
    assert_ne!(t[0].due_at, t[1].due_at);
    let (first, second) = if t[0].due_at < t[1].due_at {
        (0, 1)
    } else {
        (1, 0)
    };
    let one_ns = Duration::from_nanos(1);

    // Up to a nanosecond before the first due instant, nobody has sent it; then exactly the
    // first endpoint has; the second sends it exactly at its own due instant.
    let mut seen = [false, false];
    for (at, expect) in [
        (t[first].due_at - one_ns, [false, false]),
        (t[first].due_at, [true, false]),
        (t[second].due_at - one_ns, [true, false]),
        (t[second].due_at, [true, true]),
    ] {
        advance_to(chain, at);
        for (e, c) in clients.iter_mut().enumerate() {
            seen[e] |= has_logs(&c.drain().await, &info.signature);
        }
        let expect = if first == 0 {
            expect
        } else {
            [expect[1], expect[0]]
        };
        assert_eq!(seen, expect, "at {at}");
    }

    // Across launches, either endpoint may deliver first.
    let mut first_counts = [0, 0];
    for _ in 0..40 {
        let info = launch_in_tip_slot(chain);
        let due = |e: usize| timing(e, &info.signature).due_at;
        first_counts[usize::from(due(1) < due(0))] += 1;
    }
    assert!(first_counts.iter().all(|&n| n > 0), "{first_counts:?}");
    cluster.shutdown().await;
}
