//! The gateway's front door: API keys, the method deny list, read timeouts against slow
//! clients, and config reload without dropping calls.

use std::time::Duration;

use dualrpc_gateway::GatewayOptions;
use dualrpc_testkit::{Gate, Step};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const KEY: &str = "client-key-0123456789";
const SLOT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#;

fn options(toml: &str, ups: &[dualrpc_testkit::Upstream]) -> (dualrpc::Pool, GatewayOptions) {
    pool_and_options(ups, toml)
}

#[tokio::test]
async fn api_keys_are_required_when_configured() {
    let ups = upstreams(1).await;
    let (pool, opts) = options(&format!("[gateway]\napi_keys = [\"{KEY}\"]\n"), &ups);
    let gw = gateway_with(pool, opts).await;
    let post = |url: String, key: Option<&'static str>| async move {
        let mut r = client()
            .post(url)
            .header("content-type", "application/json")
            .body(SLOT);
        if let Some(k) = key {
            r = r.header("x-api-key", k);
        }
        r.send().await.unwrap()
    };
    let r = post(gw.url.clone(), None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], -32090);
    assert_eq!(
        post(gw.url.clone(), Some("client-key-0123456780"))
            .await
            .status(),
        401
    );
    assert_eq!(post(gw.url.clone(), Some(KEY)).await.status(), 200);
    assert_eq!(
        post(format!("{}/race?api-key={KEY}", gw.url), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        client()
            .get(format!("{}/status", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        client()
            .get(format!("{}/metrics?api-key={KEY}", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client()
            .get(format!("{}/health", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "open for probes"
    );
    assert_eq!(
        ups[0].count("getSlot"),
        2,
        "only authorised calls reached the upstream"
    );
}

#[tokio::test]
async fn denied_methods_never_reach_an_upstream() {
    let ups = upstreams(1).await;
    ups[0].set("requestAirdrop", Step::result("\"sig\""));
    let (pool, opts) = options("[gateway]\ndeny_methods = [\"requestAirdrop\"]\n", &ups);
    let gw = gateway_with(pool, opts).await;
    let r = client()
        .post(&gw.url)
        .header("content-type", "application/json")
        .body(r#"[{"jsonrpc":"2.0","id":1,"method":"requestAirdrop","params":["k",1]},{"jsonrpc":"2.0","id":2,"method":"getSlot"}]"#)
        .send()
        .await
        .unwrap();
    let v: Vec<Value> = r.json().await.unwrap();
    assert_eq!(v[0]["error"]["code"], -32601);
    assert!(
        v[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not allowed")
    );
    assert_eq!(v[1]["result"], 1000);
    assert_eq!(ups[0].count("requestAirdrop"), 0);
}

async fn read_all(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut buf))
        .await
        .expect("server closed the connection");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_gets_a_timeout_error() {
    let ups = upstreams(1).await;
    let (pool, opts) = options("[gateway]\nbody_read_timeout_ms = 100\n", &ups);
    let gw = gateway_with(pool, opts).await;
    let mut s = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"jsonrpc\"").await.unwrap();
    let answer = read_all(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("-32600"), "{answer}");
}

#[tokio::test]
async fn a_slow_loris_client_is_disconnected() {
    let ups = upstreams(1).await;
    let (pool, opts) = options("[gateway]\nheader_read_timeout_ms = 100\n", &ups);
    let gw = gateway_with(pool, opts).await;
    let mut s = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // The headers never end: the server must give up on its own.
    let answer = read_all(&mut s).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn reload_swaps_endpoints_and_policies_without_dropping_calls() {
    let old = upstreams(1).await;
    let gate = Gate::new();
    old[0].set("getSlot", Step::result("1").gated(&gate));
    let (pool, opts) = options("", &old);
    let gw = gateway_with(pool, opts).await;
    let in_flight = tokio::spawn({
        let url = gw.url.clone();
        async move {
            client()
                .post(url)
                .header("content-type", "application/json")
                .body(SLOT)
                .send()
                .await
                .unwrap()
        }
    });
    within("call upstream", old[0].wait_for("getSlot", 1)).await;
    // New endpoints and a new default strategy, while a call is held on the old pool.
    let new = upstreams(2).await;
    for u in &new {
        u.set("getSlot", Step::result("2"));
    }
    let (pool, opts) = options("[default]\nstrategy = \"race\"\n", &new);
    gw.server.gateway().reload(pool, opts);
    let r = client()
        .post(&gw.url)
        .header("content-type", "application/json")
        .body(SLOT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-dualrpc-strategy"], "race");
    assert_eq!(r.json::<Value>().await.unwrap()["result"], 2);
    gate.open();
    let r = within("in-flight call", in_flight).await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["result"],
        1,
        "the call in flight finished on the old pool"
    );
}

#[tokio::test]
async fn shutdown_answers_calls_in_flight_before_returning() {
    let ups = upstreams(1).await;
    let gate = Gate::new();
    ups[0].set("getSlot", Step::result("7").gated(&gate));
    let (pool, opts) = options("[cache]\ncoalesce = false\n", &ups);
    let gw = gateway_with(pool, opts).await;
    let url = gw.url.clone();
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                client()
                    .post(url)
                    .header("content-type", "application/json")
                    .body(SLOT)
                    .send()
                    .await
            })
        })
        .collect();
    within("5 calls upstream", ups[0].wait_for("getSlot", 5)).await;
    let server = tokio::spawn(gw.server.stop());
    // Shutdown has begun; the calls are still held upstream. Release them.
    gate.open();
    for c in calls {
        let r = within("call", c)
            .await
            .unwrap()
            .expect("answered, not dropped");
        assert_eq!(r.json::<Value>().await.unwrap()["result"], 7);
    }
    within("server stops", server).await.unwrap().unwrap();
    assert!(
        client().post(&url).body(SLOT).send().await.is_err(),
        "no longer accepting"
    );
}
