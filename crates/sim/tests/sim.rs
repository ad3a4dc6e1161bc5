//! End-to-end tests of the simulated cluster over real HTTP on loopback, with a raw TCP client
//! so resets and hangs can be observed exactly.

#[path = "pubsub/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use dualrpc_sim::{
    ChainConfig, ClockMode, Cluster, ClusterOptions, EndpointSpec, Fault, FaultModel, LatencyModel,
    PUMP_FUN_PROGRAM_ID, Profile, RateLimit, SignatureInfo,
};
use serde_json::{Value, json};
use support::base64;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LAG: u64 = 5;

/// Two instant endpoints on a manually clocked chain: `fresh` and `stale` (5 slots behind).
async fn cluster() -> Cluster {
    let profile = Profile {
        name: "test".into(),
        description: "test".into(),
        endpoints: vec![
            EndpointSpec::new("fresh", LatencyModel::ZERO),
            EndpointSpec::new("stale", LatencyModel::ZERO).with_lag(LAG),
        ],
        chain: ChainConfig {
            // Fixed, so blockTimes are reproducible too.
            genesis_unix_ms: Some(1_760_000_000_000),
            ..ChainConfig::default()
        },
        slowdown: None,
    };
    Cluster::start(
        &profile,
        ClusterOptions {
            seed: 42,
            clock: ClockMode::Manual,
            ..ClusterOptions::default()
        },
    )
    .await
    .unwrap()
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send_request(addr: SocketAddr, body: &str) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    Ok(stream)
}

/// POSTs `body` and reads the whole answer (the server closes after it: `Connection: close`).
async fn post(addr: SocketAddr, body: &str) -> io::Result<Reply> {
    let mut stream = send_request(addr, body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no HTTP response: {text:?}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_owned(),
    })
}

async fn rpc(addr: SocketAddr, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}).to_string();
    let reply = post(addr, &body).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn tx_config() -> Value {
    json!({"commitment":"confirmed","maxSupportedTransactionVersion":0,"encoding":"jsonParsed"})
}

/// Advances the chain until a transaction lands that `stale` cannot see yet but `fresh` can
/// at `confirmed`.
fn new_signature(cluster: &Cluster) -> SignatureInfo {
    let chain = cluster.chain();
    for _ in 0..100 {
        chain.advance(1);
        let confirmed = chain.slot_at(dualrpc_sim::Commitment::Confirmed, 0);
        if let Some(newest) = chain.signatures(confirmed, 1).pop()
            && newest.slot > chain.slot_at(dualrpc_sim::Commitment::Processed, LAG)
        {
            return newest;
        }
    }
    panic!("no transaction in 100 slots");
}

#[tokio::test]
async fn id_is_echoed_exactly() {
    let cluster = cluster().await;
    let addr = cluster.endpoints()[0].addr();
    for id in [
        "7",
        "\"abc\"",
        "null",
        "18446744073709551615",
        "-1.5",
        "\"a\\\"b\"",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getSlot"}}"#);
        let reply = post(addr, &body).await.unwrap();
        assert!(
            reply.body.ends_with(&format!(",\"id\":{id}}}")),
            "{id}: {}",
            reply.body
        );
        assert!(reply.json()["result"].is_u64());
    }
    // No id: a notification gets no answer.
    let reply = post(addr, r#"{"jsonrpc":"2.0","method":"getSlot"}"#)
        .await
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    cluster.shutdown().await;
}

#[tokio::test]
async fn batch_answers_each_call_in_order() {
    let cluster = cluster().await;
    let addr = cluster.endpoints()[0].addr();
    let body = r#"[
        {"jsonrpc":"2.0","id":1,"method":"getSlot","params":[{"commitment":"processed"}]},
        {"jsonrpc":"2.0","id":"h","method":"getHealth"},
        {"jsonrpc":"2.0","id":3,"method":"getBogus"},
        {"id":4,"method":"getSlot"},
        {"jsonrpc":"2.0","method":"getSlot"},
        {"jsonrpc":"2.0","id":null,"method":"getVersion"}
    ]"#;
    let answers = post(addr, body).await.unwrap().json();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 5, "the notification gets no entry");
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(answers[0]["result"], cluster.chain().slot());
    assert_eq!(answers[1], json!({"jsonrpc":"2.0","result":"ok","id":"h"}));
    assert_eq!(
        answers[2],
        json!({"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":3})
    );
    assert_eq!(answers[3]["error"]["code"], -32600);
    assert_eq!(answers[3]["id"], 4);
    assert_eq!(answers[4]["id"], Value::Null);
    assert_eq!(answers[4]["result"]["solana-core"], "2.3.6");

    let stats = cluster.endpoints()[0].stats();
    assert_eq!(stats.http_requests, 1);
    assert_eq!(stats.calls_to("getSlot"), 2);
    assert_eq!(stats.calls_to("other"), 1);

    for (body, code) in [("{not json", -32700), ("[]", -32600)] {
        let v = post(addr, body).await.unwrap().json();
        assert_eq!(v["error"]["code"], code);
        assert_eq!(v["id"], Value::Null);
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn lagging_endpoint_does_not_know_new_activity() {
    let cluster = cluster().await;
    let fresh = cluster.endpoint("fresh").unwrap().addr();
    let stale = cluster.endpoint("stale").unwrap().addr();
    let info = new_signature(&cluster);
    let chain = cluster.chain();

    let slot = |addr| async move {
        rpc(addr, "getSlot", json!([{"commitment":"processed"}])).await["result"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(slot(fresh).await, chain.slot());
    assert_eq!(slot(stale).await, chain.slot() - LAG);

    // getTransaction: the fresh endpoint has it, with the mint where the demo reads it.
    let tx = rpc(
        fresh,
        "getTransaction",
        json!([info.signature, tx_config()]),
    )
    .await;
    let result = &tx["result"];
    assert_eq!(result["slot"], info.slot);
    assert_eq!(result["blockTime"], info.block_time);
    assert_eq!(result["transaction"]["signatures"][0], info.signature);
    assert_eq!(result["meta"]["postTokenBalances"][0]["mint"], info.mint);
    let stale_tx = rpc(
        stale,
        "getTransaction",
        json!([info.signature, tx_config()]),
    )
    .await;
    assert_eq!(stale_tx["result"], Value::Null);

    // getSignatureStatuses: known vs null.
    let statuses = |addr| {
        let sig = info.signature.clone();
        async move { rpc(addr, "getSignatureStatuses", json!([[sig]])).await }
    };
    let fresh_status = statuses(fresh).await;
    assert_eq!(fresh_status["result"]["value"][0]["slot"], info.slot);
    assert_eq!(
        fresh_status["result"]["value"][0]["status"],
        json!({"Ok":null})
    );
    assert_eq!(statuses(stale).await["result"]["value"][0], Value::Null);

    // getAccountInfo on the new mint: an SPL mint vs not-yet-created.
    let account = |addr, encoding: &'static str| {
        let mint = info.mint.clone();
        async move {
            rpc(
                addr,
                "getAccountInfo",
                json!([mint, {"commitment":"confirmed","encoding":encoding}]),
            )
            .await["result"]
                .clone()
        }
    };
    let parsed = account(fresh, "jsonParsed").await;
    assert_eq!(parsed["value"]["data"]["parsed"]["type"], "mint");
    assert_eq!(parsed["value"]["data"]["parsed"]["info"]["decimals"], 6);
    assert_eq!(
        parsed["value"]["owner"],
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
    );
    assert_eq!(parsed["context"]["apiVersion"], "2.3.6");
    let b64 = account(fresh, "base64").await;
    assert_eq!(b64["value"]["data"][1], "base64");
    assert_eq!(b64["value"]["data"][0].as_str().unwrap().len(), 112);
    let missing = account(stale, "jsonParsed").await;
    assert_eq!(missing["value"], Value::Null);
    assert_eq!(missing["context"]["slot"], chain.slot() - LAG - 1);

    // getSignaturesForAddress: the stale endpoint's list starts further back.
    let sigs = |addr| async move {
        rpc(
            addr,
            "getSignaturesForAddress",
            json!([PUMP_FUN_PROGRAM_ID, {"commitment":"confirmed","limit":5}]),
        )
        .await["result"]
            .clone()
    };
    let fresh_sigs = sigs(fresh).await;
    assert_eq!(fresh_sigs[0]["signature"], info.signature);
    assert_eq!(fresh_sigs.as_array().unwrap().len(), 5);
    let stale_sigs = sigs(stale).await;
    assert!(
        stale_sigs
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["slot"].as_u64().unwrap() < info.slot)
    );

    // Lag is a runtime control.
    cluster.endpoint("stale").unwrap().set_lag(0);
    let caught_up = rpc(
        stale,
        "getTransaction",
        json!([info.signature, tx_config()]),
    )
    .await;
    assert_eq!(
        caught_up["result"]["meta"]["postTokenBalances"][0]["mint"],
        info.mint
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn signatures_for_address_pages_like_agave() {
    let cluster = cluster().await;
    let addr = cluster.endpoints()[0].addr();
    let chain = cluster.chain();
    let call = |config: Value| async move {
        rpc(
            addr,
            "getSignaturesForAddress",
            json!([PUMP_FUN_PROGRAM_ID, config]),
        )
        .await
    };
    // Default limit is 1000 and the history fills it: a mainnet-sized page.
    let reply = post(
        addr,
        &json!({"jsonrpc":"2.0","id":1,"method":"getSignaturesForAddress","params":[PUMP_FUN_PROGRAM_ID]})
            .to_string(),
    )
    .await
    .unwrap();
    let page = reply.json()["result"].as_array().unwrap().clone();
    assert_eq!(page.len(), 1000);
    assert!(reply.body.len() > 190_000, "{} bytes", reply.body.len());
    assert!(page.iter().all(|e| e["confirmationStatus"] == "finalized"));
    let slots: Vec<u64> = page.iter().map(|e| e["slot"].as_u64().unwrap()).collect();
    assert!(slots.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let first = call(json!({"commitment":"confirmed","limit":10})).await["result"].clone();
    let first = first.as_array().unwrap();
    let truth = chain.signatures(chain.slot_at(dualrpc_sim::Commitment::Confirmed, 0), 10);
    let sig = |v: &Value| v["signature"].as_str().unwrap().to_owned();
    assert_eq!(
        first.iter().map(sig).collect::<Vec<_>>(),
        truth
            .iter()
            .map(|s| s.signature.clone())
            .collect::<Vec<_>>()
    );
    let before = call(json!({"commitment":"confirmed","limit":3,"before":sig(&first[4])})).await;
    assert_eq!(
        before["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(sig)
            .collect::<Vec<_>>(),
        first[5..8].iter().map(sig).collect::<Vec<_>>()
    );
    let until = call(json!({"commitment":"confirmed","until":sig(&first[3])})).await;
    assert_eq!(
        until["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(sig)
            .collect::<Vec<_>>(),
        first[..3].iter().map(sig).collect::<Vec<_>>()
    );
    let too_many = call(json!({"limit":1001})).await;
    assert_eq!(too_many["error"]["code"], -32602);
    let processed = call(json!({"commitment":"processed"})).await;
    assert_eq!(
        processed["error"]["message"],
        "Method does not support commitment below `confirmed`"
    );
    cluster.shutdown().await;
}

/// The set of key paths in a JSON value (arrays collapsed), to compare shapes with fixtures.
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{prefix}.{k}");
                out.insert(path.clone());
                key_paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn paths(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    key_paths(v, "", &mut out);
    out
}

#[tokio::test]
async fn payloads_have_the_shape_and_size_of_real_ones() {
    let cluster = cluster().await;
    let addr = cluster.endpoints()[0].addr();
    let info = new_signature(&cluster);

    let fixture: Value = serde_json::from_str(include_str!(
        "../fixtures/pumpfun_create_getTransaction_jsonParsed.json"
    ))
    .unwrap();
    let body = json!({"jsonrpc":"2.0","id":1,"method":"getTransaction","params":[info.signature, tx_config()]});
    let reply = post(addr, &body.to_string()).await.unwrap();
    let ours = reply.json();
    assert_eq!(paths(&ours), paths(&fixture));
    let fixture_len = serde_json::to_string(&fixture).unwrap().len();
    let ratio = reply.body.len() as f64 / fixture_len as f64;
    assert!(
        (0.97..1.03).contains(&ratio),
        "{} vs {fixture_len}",
        reply.body.len()
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));

    let agave_sigs: Value = serde_json::from_str(include_str!(
        "../fixtures/agave_getSignaturesForAddress_confirmed.json"
    ))
    .unwrap();
    let sigs = rpc(
        addr,
        "getSignaturesForAddress",
        json!([PUMP_FUN_PROGRAM_ID, {"commitment":"confirmed","limit":2}]),
    )
    .await;
    assert_eq!(paths(&sigs), paths(&agave_sigs));

    let agave_statuses: Value =
        serde_json::from_str(include_str!("../fixtures/agave_getSignatureStatuses.json")).unwrap();
    let statuses = rpc(addr, "getSignatureStatuses", json!([[info.signature]])).await;
    assert_eq!(paths(&statuses), paths(&agave_statuses));
    cluster.shutdown().await;
}

#[tokio::test]
async fn agave_errors_for_bad_or_early_requests() {
    let cluster = cluster().await;
    let addr = cluster.endpoints()[0].addr();
    let info = new_signature(&cluster);

    let no_version = rpc(
        addr,
        "getTransaction",
        json!([info.signature, {"commitment":"confirmed"}]),
    )
    .await;
    assert_eq!(no_version["error"]["code"], -32015);
    let processed = rpc(
        addr,
        "getTransaction",
        json!([info.signature, {"commitment":"processed","maxSupportedTransactionVersion":0}]),
    )
    .await;
    assert_eq!(processed["error"]["code"], -32602);
    let future = cluster.chain().slot() + 10;
    let early = rpc(addr, "getSlot", json!([{"minContextSlot": future}])).await;
    assert_eq!(early["error"]["code"], -32016);
    assert!(early["error"]["data"]["contextSlot"].is_u64());
    let bad_key = rpc(addr, "getAccountInfo", json!(["abc"])).await;
    assert_eq!(
        bad_key["error"],
        json!({"code":-32602,"message":"Invalid param: WrongSize"})
    );
    // Default commitment is finalized: the brand-new transaction is not there yet.
    let finalized = rpc(
        addr,
        "getTransaction",
        json!([info.signature, {"maxSupportedTransactionVersion":0}]),
    )
    .await;
    assert_eq!(finalized["result"], Value::Null);

    // sendTransaction returns the transaction's first signature.
    let mut tx = vec![1_u8];
    tx.extend([7_u8; 64]);
    tx.extend([0_u8; 100]);
    let encoded = base64(&tx);
    let sent = rpc(
        addr,
        "sendTransaction",
        json!([encoded, {"encoding":"base64"}]),
    )
    .await;
    let sig = sent["result"].as_str().unwrap();
    assert!((86..=88).contains(&sig.len()));
    cluster.shutdown().await;
}

#[tokio::test]
async fn every_fault_kind_is_observable() {
    let cluster = cluster().await;
    let endpoint = &cluster.endpoints()[0];
    let addr = endpoint.addr();
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"getSlot"}"#;

    endpoint.set_faults(FaultModel::always(Fault::Http5xx(502)));
    let reply = post(addr, body).await.unwrap();
    assert!([502, 503].contains(&reply.status), "{}", reply.status);
    assert!(reply.body.contains("nginx"));

    endpoint.set_faults(FaultModel::always(Fault::RateLimited {
        retry_after_secs: 3,
    }));
    let reply = post(addr, body).await.unwrap();
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("3"));
    assert_eq!(reply.json()["error"]["code"], 429);
    assert_eq!(reply.json()["id"], 9);

    endpoint.set_faults(FaultModel::always(Fault::Unhealthy { slots_behind: 0 }));
    let v = post(addr, body).await.unwrap().json();
    assert_eq!(v["error"]["code"], -32005);
    let behind = v["error"]["data"]["numSlotsBehind"].as_u64().unwrap();
    assert!(behind > 128);
    assert_eq!(
        v["error"]["message"],
        format!("Node is behind by {behind} slots")
    );

    endpoint.set_faults(FaultModel::always(Fault::Reset));
    let mut stream = send_request(addr, body).await.unwrap();
    let mut buf = Vec::new();
    let read = stream.read_to_end(&mut buf).await;
    assert!(buf.is_empty(), "no response bytes");
    assert_eq!(
        read.map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionReset)
    );

    endpoint.set_faults(FaultModel::always(Fault::Hang));
    let mut stream = send_request(addr, body).await.unwrap();
    let mut byte = [0_u8; 1];
    // The client gives up...
    let waited = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte)).await;
    assert!(waited.is_err(), "a hung request must not be answered");
    let stats = endpoint.stats();
    assert_eq!(
        (
            stats.http_5xx,
            stats.rate_limited,
            stats.unhealthy,
            stats.resets,
            stats.hangs
        ),
        (1, 1, 1, 1, 1)
    );
    // ...and shutting the cluster down releases the hanging connection.
    cluster.shutdown().await;
    let after = stream.read(&mut byte).await;
    assert!(matches!(after, Ok(0) | Err(_)), "{after:?}");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let cluster = cluster().await;
    let endpoint = &cluster.endpoints()[0];
    let addr = endpoint.addr();
    endpoint.set_rate_limit(Some(RateLimit {
        window: Duration::from_secs(60),
        max_calls: 5,
        max_calls_per_method: 3,
    }));
    let slot = r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#;
    for _ in 0..3 {
        assert_eq!(post(addr, slot).await.unwrap().status, 200);
    }
    let limited = post(addr, slot).await.unwrap();
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("60"));
    assert_eq!(
        limited.json()["error"]["message"],
        "Too many requests for a specific RPC call"
    );
    // Other methods still fit the per-IP budget (5): two more calls, in one batch.
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"getHealth"},{"jsonrpc":"2.0","id":2,"method":"getVersion"}]"#;
    assert_eq!(post(addr, batch).await.unwrap().status, 200);
    let over = post(addr, r#"{"jsonrpc":"2.0","id":1,"method":"getHealth"}"#)
        .await
        .unwrap();
    assert_eq!(over.status, 429);
    assert!(
        over.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("your IP")
    );
    assert_eq!(endpoint.stats().rate_limited, 2);
    // The public profile carries the documented mainnet limit.
    let public = Profile::named("mainnet-like").unwrap();
    assert!(
        public
            .endpoints
            .iter()
            .any(|e| e.rate_limit == Some(RateLimit::PUBLIC_MAINNET))
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn kill_and_restart_on_the_same_port() {
    let cluster = cluster().await;
    let endpoint = &cluster.endpoints()[1];
    let addr = endpoint.addr();
    assert!(rpc(addr, "getHealth", json!([])).await["result"] == "ok");
    endpoint.kill().await;
    assert!(!endpoint.is_running());
    let refused = TcpStream::connect(addr).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionRefused)
    );
    endpoint.restart().await.unwrap();
    assert_eq!(endpoint.addr(), addr);
    assert!(rpc(addr, "getHealth", json!([])).await["result"] == "ok");
    // A node too far behind reports itself unhealthy, like agave.
    endpoint.set_lag(200);
    let health = rpc(addr, "getHealth", json!([])).await;
    assert_eq!(health["error"]["code"], -32005);
    assert_eq!(health["error"]["data"]["numSlotsBehind"], 200);
    cluster.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_chain() {
    let a = cluster().await;
    let b = cluster().await;
    let tip = a.chain().slot();
    assert_eq!(a.chain().signatures(tip, 50), b.chain().signatures(tip, 50));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn real_profiles_start_and_serve() {
    for name in Profile::names() {
        let profile = Profile::named(name).unwrap();
        let cluster = Cluster::start(&profile, ClusterOptions::default())
            .await
            .unwrap();
        assert_eq!(cluster.endpoints().len(), profile.endpoints.len());
        for e in cluster.endpoints() {
            assert!(e.url().starts_with("http://127.0.0.1:"));
            assert!(e.url().ends_with('/'));
        }
        cluster.shutdown().await;
    }
}

#[tokio::test]
async fn cli_lists_profiles_and_serves_until_shutdown() {
    let list = dualrpc_sim::SimArgs {
        profile: "seed".into(),
        seed: 1,
        listen_ip: "127.0.0.1".parse().unwrap(),
        base_port: 0,
        endpoints: None,
        list_profiles: true,
    };
    dualrpc_sim::run_cli(list.clone(), std::future::ready(()))
        .await
        .unwrap();
    let serve = dualrpc_sim::SimArgs {
        list_profiles: false,
        endpoints: Some(3),
        ..list.clone()
    };
    dualrpc_sim::run_cli(serve, std::future::ready(()))
        .await
        .unwrap();
    let unknown = dualrpc_sim::SimArgs {
        profile: "nope".into(),
        list_profiles: false,
        ..list
    };
    assert!(
        dualrpc_sim::run_cli(unknown, std::future::ready(()))
            .await
            .is_err()
    );
}
