//! Subscriptions through the gateway when an upstream refuses and later accepts: a
//! refusal is not for good.

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::subscriptions::*;
use crate::support::*;

#[tokio::test]
async fn an_upstream_that_refused_is_asked_again_and_then_carries_alone() {
    let ups = ws_ups(2).await;
    ups[0].refuse(Some(
        r#"{"code":-32005,"message":"too many subscriptions"}"#,
    ));
    // Pings every 100 ms (the upstream re-asks on a ping tick); the gateway closes a client
    // silent for three of them, so a loaded machine still has 300 ms between reads.
    let gw = gateway(ws_pool(
        &ups,
        "[subscriptions]\nping_interval_ms = 100\nreconnect_min_ms = 10\nreconnect_max_ms = 50\n",
    ))
    .await;
    let mut c = connect(gw.server.ws_addr()).await;
    let r = subscribe(&mut c, 1, "logsSubscribe", mentions()).await;
    assert_eq!(r["result"], 0, "b carries it: {r}");
    assert!(ups[0].subscriptions().is_empty());
    // a recovers: asked again on its open connection, without a reconnect.
    ups[0].refuse(None);
    // Meanwhile the client keeps answering the gateway's pings (it closes silent clients).
    let asked = eventually("a asked again", || ups[0].subscriptions().len() == 1);
    let pings = async {
        loop {
            match c.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    };
    tokio::select! {
        _ = asked => {}
        frame = pings => panic!("nothing but pings expected: {frame:?}"),
    }
    assert_eq!(ups[0].connections(), 1, "no reconnect was needed");
    // b goes silent for good; a alone delivers.
    ups[1].stall(true);
    ups[0].notify("logsSubscribe", &logs(5, "carried-by-a"));
    let n = next(&mut c).await;
    assert_eq!(
        n["params"]["result"]["value"]["signature"],
        json!("carried-by-a"),
        "{n}"
    );
}

#[tokio::test]
async fn a_signature_ended_by_one_node_is_closed_on_a_node_that_confirms_it_later() {
    let ups = ws_ups(2).await;
    ups[0].hold_confirmations();
    let gw = gateway(ws_pool(&ups, "")).await;
    let mut c = connect(gw.server.ws_addr()).await;
    let sig =
        "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW";
    let r = subscribe(
        &mut c,
        1,
        "signatureSubscribe",
        json!([sig, {"commitment": "confirmed"}]),
    )
    .await;
    assert_eq!(r["result"], 0, "b confirmed it: {r}");
    // b's node says it landed: the client is told once, and the subscription is over.
    ups[1].notify(
        "signatureSubscribe",
        r#"{"context":{"slot":5},"value":{"err":null}}"#,
    );
    let n = next(&mut c).await;
    assert_eq!(n["method"], "signatureNotification", "{n}");
    // a's node confirms only now: it must not keep a subscription nobody reads.
    eventually("a received the subscribe", || ups[0].connections() == 1).await;
    ups[0].release();
    eventually("a's late subscription closed", || {
        ups[0].subscriptions().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_signature_one_node_notified_is_unsubscribed_on_the_nodes_that_did_not() {
    let ups = ws_ups(2).await;
    let gw = gateway(ws_pool(&ups, "")).await;
    let mut c = connect(gw.server.ws_addr()).await;
    let sig =
        "4VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW";
    let r = subscribe(
        &mut c,
        1,
        "signatureSubscribe",
        json!([sig, {"commitment": "processed"}]),
    )
    .await;
    assert_eq!(r["result"], 0, "{r}");
    for u in &ups {
        eventually("both nodes hold it", || u.subscriptions().len() == 1).await;
    }
    // Only b's node saw the transaction (a fork a never processes).
    ups[1].notify(
        "signatureSubscribe",
        r#"{"context":{"slot":5},"value":{"err":null}}"#,
    );
    assert_eq!(next(&mut c).await["method"], "signatureNotification");
    eventually("a's node was told to drop it", || {
        ups[0].subscriptions().is_empty()
    })
    .await;
}
