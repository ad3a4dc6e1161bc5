//! Subscriptions through the gateway over real WebSockets: fanned out to every upstream,
//! shared between clients, deduplicated, carried on when an upstream drops, and every
//! unhappy path a client or an upstream can take.

use std::time::Duration;

use dualrpc::{Config, Pool};
use dualrpc_testkit::WsUpstream;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

pub(crate) type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn ws_ups(n: usize) -> Vec<WsUpstream> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(WsUpstream::start().await);
    }
    v
}

/// A pool over the PubSub upstreams `ups`, with `rest` appended.
pub(crate) fn ws_pool(ups: &[WsUpstream], rest: &str) -> Pool {
    let mut toml = String::new();
    for (i, u) in ups.iter().enumerate() {
        toml.push_str(&format!(
            "[[endpoint]]\nname = \"{}\"\nurl = \"{}?api-key={SECRET}\"\n",
            NAMES[i],
            u.url()
        ));
    }
    toml.push_str("[health]\ninterval_ms = 0\n");
    toml.push_str(rest);
    Pool::from_config(Config::from_toml(&toml, |_| None).unwrap()).unwrap()
}

pub(crate) async fn connect(addr: std::net::SocketAddr) -> Client {
    let (ws, _) = within(
        "ws connect",
        tokio_tungstenite::connect_async(format!("ws://{addr}/")),
    )
    .await
    .expect("upgrade");
    ws
}

pub(crate) async fn send(ws: &mut Client, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next text frame, as JSON.
pub(crate) async fn next(ws: &mut Client) -> Value {
    loop {
        let frame = within("a frame", ws.next())
            .await
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = frame {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

pub(crate) async fn subscribe(ws: &mut Client, id: u64, method: &str, params: Value) -> Value {
    send(
        ws,
        json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}),
    )
    .await;
    next(ws).await
}

pub(crate) fn logs(slot: u64, sig: &str) -> String {
    format!(
        r#"{{"context":{{"slot":{slot}}},"value":{{"signature":"{sig}","err":null,"logs":["Program log: Create"]}}}}"#
    )
}

const PUMP: &str = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P";

pub(crate) fn mentions() -> Value {
    json!([{"mentions": [PUMP]}, {"commitment": "confirmed"}])
}

#[tokio::test]
async fn one_subscription_per_upstream_first_copy_forwarded_duplicates_dropped() {
    let ups = ws_ups(2).await;
    let gw = gateway(ws_pool(&ups, "")).await;
    // On ws_listen, and on the HTTP port itself.
    let mut a = connect(gw.server.ws_addr()).await;
    let mut b = connect(gw.server.addr()).await;
    let r = subscribe(&mut a, 1, "logsSubscribe", mentions()).await;
    assert_eq!(r, json!({"jsonrpc":"2.0","result":0,"id":1}));
    let r = subscribe(&mut b, 7, "logsSubscribe", mentions()).await;
    assert_eq!(r["result"], 0, "ids are per connection, from 0: {r}");
    for u in &ups {
        eventually("one shared subscription on each upstream", || {
            u.subscriptions().len() == 1
        })
        .await;
        assert_eq!(
            u.subscriptions()[0],
            ("logsSubscribe".to_string(), mentions())
        );
    }
    ups[1].notify("logsSubscribe", &logs(5, "launch1"));
    ups[0].notify("logsSubscribe", &logs(5, "launch1"));
    ups[0].notify("logsSubscribe", &logs(5, "launch2"));
    ups[1].notify("logsSubscribe", &logs(5, "launch2"));
    for ws in [&mut a, &mut b] {
        for sig in ["launch1", "launch2"] {
            let n = next(ws).await;
            assert_eq!(n["method"], "logsNotification");
            assert_eq!(n["params"]["subscription"], 0);
            assert_eq!(n["params"]["result"]["value"]["signature"], sig, "{n}");
        }
    }
    // Nothing else arrives: a third, distinct notification is the next frame.
    ups[1].notify("logsSubscribe", &logs(6, "launch3"));
    let n = next(&mut a).await;
    assert_eq!(n["params"]["result"]["value"]["signature"], "launch3");
    // The duplicates were counted.
    let metrics = get_text(&format!("{}/metrics", gw.url)).await;
    assert!(
        metrics.contains("dualrpc_notifications_total{result=\"duplicate\"}"),
        "{metrics}"
    );
    // The last client to leave closes the upstream subscriptions.
    send(
        &mut a,
        json!({"jsonrpc":"2.0","id":2,"method":"logsUnsubscribe","params":[0]}),
    )
    .await;
    assert_eq!(
        next(&mut a).await,
        json!({"jsonrpc":"2.0","result":true,"id":2})
    );
    assert_eq!(ups[0].subscriptions().len(), 1, "b still holds it");
    drop(b);
    for u in &ups {
        eventually("upstream unsubscribed", || u.subscriptions().is_empty()).await;
    }
}

#[tokio::test]
async fn an_upstream_that_drops_loses_no_notification_and_is_resubscribed() {
    let ups = ws_ups(2).await;
    let gw = gateway(ws_pool(
        &ups,
        "[subscriptions]\nreconnect_min_ms = 10\nreconnect_max_ms = 50\n",
    ))
    .await;
    let mut c = connect(gw.server.ws_addr()).await;
    subscribe(
        &mut c,
        1,
        "accountSubscribe",
        json!(["Mint1", {"encoding": "base64"}]),
    )
    .await;
    for u in &ups {
        eventually("subscribed", || u.subscriptions().len() == 1).await;
    }
    let account = |slot: u64, lamports: u64| {
        format!(
            r#"{{"context":{{"slot":{slot}}},"value":{{"lamports":{lamports},"data":["","base64"]}}}}"#
        )
    };
    ups[0].drop_connections();
    // b carries it meanwhile.
    ups[1].notify("accountSubscribe", &account(10, 1));
    assert_eq!(
        next(&mut c).await["params"]["result"]["context"]["slot"],
        10
    );
    eventually("a reconnected and resubscribed", || {
        ups[0].connections() >= 2 && ups[0].subscriptions().len() == 1
    })
    .await;
    // An older state from the reconnected upstream is not forwarded; a newer one is.
    ups[0].notify("accountSubscribe", &account(9, 7));
    ups[0].notify("accountSubscribe", &account(11, 2));
    let n = next(&mut c).await;
    assert_eq!(n["params"]["result"]["context"]["slot"], 11, "{n}");
}

#[tokio::test]
async fn bad_frames_unknown_methods_and_ids_get_node_errors() {
    let ups = ws_ups(1).await;
    let gw = gateway(ws_pool(&ups, "")).await;
    let mut c = connect(gw.server.ws_addr()).await;
    c.send(Message::text("not json")).await.unwrap();
    assert_eq!(
        next(&mut c).await,
        json!({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null})
    );
    send(
        &mut c,
        json!({"jsonrpc":"2.0","id":7,"method":"blockSubscribe","params":[]}),
    )
    .await;
    assert_eq!(next(&mut c).await["error"]["code"], -32601);
    send(
        &mut c,
        json!({"jsonrpc":"2.0","id":8,"method":"slotUnsubscribe","params":[42]}),
    )
    .await;
    assert_eq!(next(&mut c).await["error"]["code"], -32602);
    send(
        &mut c,
        json!({"jsonrpc":"2.0","id":9,"method":"accountSubscribe","params":{"x":1}}),
    )
    .await;
    assert_eq!(next(&mut c).await["error"]["code"], -32602);
    // What the upstream refuses, the client hears.
    ups[0].refuse(Some(
        r#"{"code":-32602,"message":"Invalid Request: Invalid pubkey provided"}"#,
    ));
    let r = subscribe(&mut c, 10, "accountSubscribe", json!(["bad"])).await;
    assert_eq!(
        r["error"]["message"], "Invalid Request: Invalid pubkey provided",
        "{r}"
    );
    assert_eq!(r["id"], 10);
}

#[tokio::test]
async fn limits_per_connection_and_a_stalled_cluster_is_reported() {
    let ups = ws_ups(1).await;
    let gw = gateway(ws_pool(
        &ups,
        "[subscriptions]\nmax_per_connection = 2\nstall_timeout_ms = 300\nping_interval_ms = 50\nreconnect_min_ms = 10\n",
    ))
    .await;
    let mut c = connect(gw.server.ws_addr()).await;
    assert_eq!(
        subscribe(&mut c, 1, "slotSubscribe", json!([])).await["result"],
        0
    );
    assert_eq!(
        subscribe(&mut c, 2, "rootSubscribe", json!([])).await["result"],
        1
    );
    let r = subscribe(&mut c, 3, "logsSubscribe", json!(["all"])).await;
    assert_eq!(r["error"]["code"], -32085, "{r}");
    // The only upstream stalls: after the stall timeout the client is told, not left hanging.
    ups[0].stall(true);
    let closed = within("closed by the gateway", async {
        loop {
            match c.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await;
    assert_eq!(closed, Some(1011));
}

#[tokio::test]
async fn a_client_too_slow_to_read_is_cut_off_without_slowing_others() {
    let ups = ws_ups(1).await;
    let gw = gateway(ws_pool(
        &ups,
        "[subscriptions]\nclient_buffer = 64\nstall_timeout_ms = 1000\n",
    ))
    .await;
    let mut slow = connect(gw.server.ws_addr()).await;
    let mut fast = connect(gw.server.ws_addr()).await;
    subscribe(&mut slow, 1, "logsSubscribe", json!(["all"])).await;
    subscribe(&mut fast, 1, "logsSubscribe", json!(["all"])).await;
    eventually("subscribed", || ups[0].subscriptions().len() == 1).await;
    // Big notifications, more than the socket buffers hold; `slow` reads none of them.
    // They go out in batches the fast client reads before the next: it keeps up.
    let filler = "x".repeat(16 * 1024);
    let total = 1500;
    let (progress, mut read) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < total {
            let n = next(&mut fast).await;
            assert_eq!(
                n["params"]["result"]["value"]["signature"],
                format!("s{got}")
            );
            got += 1;
            let _ = progress.send(got);
        }
        got
    });
    for batch in 0..total / 50 {
        for i in batch * 50..(batch + 1) * 50 {
            let r = format!(
                r#"{{"context":{{"slot":1}},"value":{{"signature":"s{i}","err":null,"logs":["{filler}"]}}}}"#
            );
            ups[0].notify("logsSubscribe", &r);
        }
        let want = (batch + 1) * 50;
        within("the fast client keeps up", read.wait_for(|&n| n >= want))
            .await
            .unwrap();
    }
    assert_eq!(
        within("the fast client got everything", reader)
            .await
            .unwrap(),
        total
    );
    // The slow one was disconnected: what it can still read ends before the last one.
    let mut seen = 0;
    let ended = within("the slow client's stream ends", async {
        loop {
            match slow.next().await {
                Some(Ok(Message::Text(_))) => seen += 1,
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await;
    assert!(seen < total, "the slow client got {seen}");
    assert!(matches!(ended, None | Some(1008)), "{ended:?}");
}

#[tokio::test]
async fn the_upgrade_needs_the_api_key_like_any_request() {
    let ups = ws_ups(1).await;
    let (pool, options) = {
        let mut toml = format!(
            "[[endpoint]]\nname = \"a\"\nurl = \"{}\"\n[health]\ninterval_ms = 0\n",
            ups[0].url()
        );
        toml.push_str("[gateway]\napi_keys = [\"client-key-0123456789\"]\n");
        let (settings, gw) = dualrpc_gateway::config::from_toml(&toml, |_| None).unwrap();
        (Pool::new(settings).unwrap(), gw.options)
    };
    let gw = gateway_with(pool, options).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/", gw.server.ws_addr())).await;
    assert!(refused.is_err(), "no key, no upgrade");
    let url = format!(
        "ws://{}/?api-key=client-key-0123456789",
        gw.server.ws_addr()
    );
    let (mut c, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("with the key");
    assert_eq!(
        subscribe(&mut c, 1, "slotSubscribe", json!([])).await["result"],
        0
    );
    tokio::time::sleep(Duration::ZERO).await;
}

#[tokio::test]
async fn upstream_websocket_urls_are_secret_like_the_http_ones() {
    let ups = ws_ups(1).await;
    let pool = ws_pool(&ups, "");
    let _ = pool.subscriptions();
    let shown = format!("{pool:?} {:?}", pool.subscriptions());
    assert!(!shown.contains(SECRET), "a key leaked: {shown}");
    assert!(!shown.contains("ws://"), "a PubSub URL leaked: {shown}");
}

/// A node gives one id to subscriptions that mean the same once defaults are filled in
/// (`["X"]` and `["X", {"commitment": "finalized"}]`); the gateway keys them apart. One
/// client leaving must not end the other's.
#[tokio::test]
async fn two_of_ours_on_one_node_subscription_end_only_together() {
    let ups = ws_ups(1).await;
    ups[0].same_id_per_method();
    let gw = gateway(ws_pool(&ups, "")).await;
    let mut a = connect(gw.server.ws_addr()).await;
    let mut b = connect(gw.server.ws_addr()).await;
    subscribe(&mut a, 1, "accountSubscribe", json!(["X"])).await;
    subscribe(
        &mut b,
        1,
        "accountSubscribe",
        json!(["X", {"commitment": "finalized"}]),
    )
    .await;
    eventually("both sent upstream", || ups[0].subscriptions().len() == 2).await;
    send(
        &mut b,
        json!({"jsonrpc":"2.0","id":2,"method":"accountUnsubscribe","params":[0]}),
    )
    .await;
    assert_eq!(next(&mut b).await["result"], true);
    let account = r#"{"context":{"slot":3},"value":{"lamports":5,"data":["","base64"]}}"#;
    ups[0].notify("accountSubscribe", account);
    let n = next(&mut a).await;
    assert_eq!(
        n["params"]["result"]["context"]["slot"], 3,
        "a still subscribed: {n}"
    );
    assert_eq!(
        ups[0].subscriptions().len(),
        2,
        "nothing unsubscribed upstream yet"
    );
}

/// A client that leaves while its subscription is being opened leaves nothing behind on
/// the provider: the confirmation that comes later is answered with an unsubscribe.
#[tokio::test]
async fn a_client_leaving_mid_subscribe_leaves_no_subscription_upstream() {
    let ups = ws_ups(1).await;
    ups[0].hold_confirmations();
    let gw = gateway(ws_pool(&ups, "")).await;
    let mut c = connect(gw.server.ws_addr()).await;
    send(
        &mut c,
        json!({"jsonrpc":"2.0","id":1,"method":"slotSubscribe","params":[]}),
    )
    .await;
    eventually("subscribe sent upstream", || {
        ups[0].subscriptions().len() == 1
    })
    .await;
    drop(c);
    // Give the gateway the disconnect before the confirmation arrives.
    eventually("the client's subscription dropped", || {
        gw.server.pool().subscriptions().counts() == (0, 0)
    })
    .await;
    ups[0].release();
    eventually("unsubscribed upstream", || {
        ups[0].subscriptions().is_empty()
    })
    .await;
}

/// The default PubSub port (listen + 1) may be taken by something else: the gateway still
/// starts, and serves PubSub on its listen port.
#[tokio::test]
async fn a_taken_default_pubsub_port_is_not_fatal() {
    let ups = ws_ups(1).await;
    // A port whose successor is held by someone else (a few tries: the port below may be
    // taken too).
    let (server, _blocker) = 'found: {
        for _ in 0..20 {
            let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = blocker.local_addr().unwrap().port() - 1;
            let config = dualrpc_gateway::GatewayConfig {
                listen: format!("127.0.0.1:{port}").parse().unwrap(),
                ..on_any_port(Default::default())
            };
            if let Ok(s) = dualrpc_gateway::Server::start_with_pool(ws_pool(&ups, ""), config).await
            {
                break 'found (s, blocker);
            }
        }
        panic!("no free port pair found");
    };
    assert_eq!(server.ws_addr(), server.addr());
    let mut c = connect(server.addr()).await;
    assert_eq!(
        subscribe(&mut c, 1, "slotSubscribe", json!([])).await["result"],
        0
    );
}

#[tokio::test]
async fn a_subscription_is_never_opened_on_an_endpoint_on_another_cluster() {
    let ups = ws_ups(3).await;
    // Each endpoint's HTTP side tells its cluster; c is a devnet node.
    let http = crate::support::upstreams(3).await;
    for (i, h) in http.iter().enumerate() {
        let hash = if i == 2 {
            "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
        } else {
            "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"
        };
        h.set(
            "getGenesisHash",
            dualrpc_testkit::Step::result(format!("\"{hash}\"")),
        );
    }
    let mut toml = String::new();
    for (i, (u, h)) in ups.iter().zip(&http).enumerate() {
        toml.push_str(&format!(
            "[[endpoint]]\nname = \"{}\"\nurl = \"{}\"\nws_url = \"{}\"\n",
            NAMES[i],
            h.url(),
            u.url().replacen("http", "ws", 1)
        ));
    }
    toml.push_str("[health]\ninterval_ms = 20\n");
    let pool = Pool::from_config(Config::from_toml(&toml, |_| None).unwrap()).unwrap();
    eventually("c left out", || {
        endpoint(&pool.status(), "c").foreign_cluster
    })
    .await;
    let gw = gateway(pool).await;
    let mut ws = connect(gw.server.ws_addr()).await;
    let r = subscribe(&mut ws, 1, "logsSubscribe", mentions()).await;
    assert_eq!(r["result"], 0, "{r}");
    for u in &ups[..2] {
        eventually("subscribed on a and b", || u.subscriptions().len() == 1).await;
    }
    // c's notifications would reach nobody anyway; it was never even asked.
    ups[0].notify("logsSubscribe", &logs(5, "launch1"));
    let n = next(&mut ws).await;
    assert_eq!(n["params"]["result"]["value"]["signature"], "launch1");
    assert!(ups[2].subscriptions().is_empty());
}
