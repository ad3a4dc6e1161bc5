//! The gateway over HTTP: JSON-RPC single and batch, ids, overrides, headers, errors,
//! admin endpoints, and redaction of upstream URLs.

use dualrpc_testkit::{Gate, Step};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn single_call_preserves_the_id_exactly_and_reports_headers() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getSlot", Step::result("312345678"));
    }
    let gw = gateway(pool(&ups, "")).await;
    for id in [
        "1",
        "\"abc-1\"",
        "null",
        "18446744073709551616",
        "-0.5",
        "\"\"",
    ] {
        let r = post(
            &gw.url,
            &format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getSlot"}}"#),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-dualrpc-strategy"), "failover");
        assert_eq!(header(&r, "x-dualrpc-attempts"), "1");
        assert!(["a", "b"].contains(&header(&r, "x-dualrpc-endpoint")));
        let text = r.text().await.unwrap();
        assert_eq!(
            text,
            format!(r#"{{"jsonrpc":"2.0","result":312345678,"id":{id}}}"#)
        );
    }
}

#[tokio::test]
async fn batch_elements_run_under_their_own_policy_and_answer_in_order() {
    let ups = upstreams(2).await;
    let gate = Gate::new();
    for u in &ups {
        u.set("getSlot", Step::result("77").gated(&gate));
        u.set("getAccountInfo", Step::result(account(3, MINT)));
    }
    let gw = gateway(pool(&ups, "[method.getAccountInfo]\nstrategy = \"race\"\n")).await;
    let body = r#"[
        {"jsonrpc":"2.0","id":"slow","method":"getSlot"},
        {"jsonrpc":"2.0","id":2,"method":"getAccountInfo","params":["m",{"encoding":"base64"}]},
        {"jsonrpc":"2.0","method":"getAccountInfo","params":["notification"]},
        {"jsonrpc":"2.0","id":4,"method":7},
        42
    ]"#;
    let req = tokio::spawn({
        let url = gw.url.clone();
        async move { post(&url, body).await }
    });
    // getAccountInfo (race, both endpoints) completes while getSlot is still held.
    eventually("race done", || {
        ups[0].count("getAccountInfo") + ups[1].count("getAccountInfo") == 4
    })
    .await;
    gate.open();
    let r = within("batch", req).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-dualrpc-strategy"), "failover,race,-,-");
    let v: Vec<Value> = r.json().await.unwrap();
    assert_eq!(
        v.len(),
        4,
        "one answer per element with an id; the notification gets none"
    );
    assert_eq!(v[0], json!({"jsonrpc":"2.0","result":77,"id":"slow"}));
    assert_eq!(v[1]["id"], 2);
    assert_eq!(
        v[1]["result"]["value"]["owner"],
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
    );
    assert_eq!(v[2]["id"], 4);
    assert_eq!(v[2]["error"]["code"], -32600);
    assert_eq!(v[3]["id"], Value::Null);
    assert_eq!(v[3]["error"]["code"], -32600);
}

#[tokio::test]
async fn strategy_override_by_header_and_by_path() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getSlot", Step::result("5"));
    }
    let gw = gateway(pool(&ups, "")).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#;
    let r = client()
        .post(&gw.url)
        .header("content-type", "application/json")
        .header("x-dualrpc-strategy", "race")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "x-dualrpc-strategy"), "race");
    assert_eq!(header(&r, "x-dualrpc-attempts"), "2");
    for s in [
        "race",
        "hedge",
        "consensus",
        "dual",
        "failover",
        "broadcast",
    ] {
        let r = post(&format!("{}/{s}", gw.url), body).await;
        assert_eq!(r.status(), 200, "{s}");
        assert_eq!(header(&r, "x-dualrpc-strategy"), s);
    }
    let r = client()
        .post(&gw.url)
        .header("content-type", "application/json")
        .header("x-dualrpc-strategy", "fastest")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("fastest"));
    let r = post(&format!("{}/fastest", gw.url), body).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn timeout_header_bounds_the_call() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set("getSlot", Step::hang());
    }
    let gw = gateway(pool(&ups, "[default]\ntimeout_ms = 30000\n")).await;
    let r = within(
        "timeout",
        client()
            .post(&gw.url)
            .header("content-type", "application/json")
            .header("x-dualrpc-timeout-ms", "40")
            .body(r#"{"jsonrpc":"2.0","id":9,"method":"getSlot"}"#)
            .send(),
    )
    .await
    .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], 9);
    assert!(
        [-32080, -32081].contains(&v["error"]["code"].as_i64().unwrap()),
        "{v}"
    );
    assert_eq!(v["error"]["data"]["failures"][0]["kind"], "timeout");
    let r = client()
        .post(&gw.url)
        .header("content-type", "application/json")
        .header("x-dualrpc-timeout-ms", "soon")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn deterministic_upstream_errors_reach_the_client_unchanged() {
    let ups = upstreams(2).await;
    let error =
        r#"{"code":-32602,"message":"Invalid param: could not find account","data":{"k":[1,2]}}"#;
    for u in &ups {
        u.set("getAccountInfo", Step::error_json(error));
    }
    let gw = gateway(pool(&ups, "")).await;
    let r = post(
        &gw.url,
        r#"{"jsonrpc":"2.0","id":"q","method":"getAccountInfo","params":["x"]}"#,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-dualrpc-attempts"), "1");
    assert_eq!(
        r.text().await.unwrap(),
        format!(r#"{{"jsonrpc":"2.0","error":{error},"id":"q"}}"#)
    );
}

#[tokio::test]
async fn malformed_requests_get_json_rpc_errors() {
    let ups = upstreams(1).await;
    let gw = gateway(pool(&ups, "")).await;
    let cases: &[(&str, u16, i64)] = &[
        ("{", 400, -32700),
        ("[]", 400, -32600),
        ("\"just a string\"", 400, -32600),
        (r#"{"jsonrpc":"2.0","id":1}"#, 400, -32600),
    ];
    for (body, status, code) in cases {
        let r = post(&gw.url, body).await;
        assert_eq!(r.status(), *status, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], *code, "{body}");
    }
    let r = client()
        .post(&gw.url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = client().get(&gw.url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = client()
        .get(format!("{}/nope/deeper", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], -32600);
    assert_eq!(ups[0].total(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn health_status_and_metrics_name_endpoints_and_never_show_urls() {
    let ups = upstreams(2).await;
    ups[0].set("getSlot", Step::result("1"));
    ups[1].set("getSlot", Step::status(503, "down"));
    let gw = gateway(pool(&ups, "[breaker]\nfailures = 1\nopen_ms = 60000\n")).await;
    post(
        &format!("{}/race", gw.url),
        r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#,
    )
    .await;
    let r = client()
        .get(format!("{}/health", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = client()
        .get(format!("{}/status", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["endpoints"][0]["name"], "a");
    assert_eq!(status["endpoints"][1]["circuit"], "open");
    let metrics = get_text(&format!("{}/metrics", gw.url)).await;
    assert!(
        metrics.contains("dualrpc_upstream_attempts_total"),
        "{metrics}"
    );
    assert!(metrics.contains(r#"endpoint="b""#), "{metrics}");
    for text in [status.to_string(), metrics] {
        assert!(!text.contains(SECRET), "secret leaked");
        for u in &ups {
            assert!(!text.contains(&u.addr().to_string()), "url leaked");
        }
    }
    // Once every circuit is open, /health says so.
    ups[0].set("getSlot", Step::status(503, "down"));
    post(
        &format!("{}/race", gw.url),
        r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#,
    )
    .await;
    let r = client()
        .get(format!("{}/health", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn all_upstreams_failing_gives_one_error_listing_names_only() {
    let ups = upstreams(2).await;
    ups[0].set("getSlot", Step::status(502, "bad gateway"));
    ups[1].set("getSlot", Step::raw("<html>oops</html>"));
    let gw = gateway(pool(&ups, "")).await;
    let r = post(
        &format!("{}/race", gw.url),
        r#"{"jsonrpc":"2.0","id":5,"method":"getSlot"}"#,
    )
    .await;
    assert_eq!(
        header(&r, "x-dualrpc-attempts"),
        "6",
        "two attempts, a retry round of two, a last chance of two"
    );
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(SECRET) && !text.contains("127.0.0.1"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["id"], 5);
    assert_eq!(v["error"]["code"], -32080);
    let mut kinds: Vec<String> = v["error"]["data"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}", f["endpoint"], f["kind"]))
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        vec![r#""a":"http_status""#, r#""b":"invalid_response""#]
    );
}

#[tokio::test]
async fn oversized_deep_or_non_utf8_requests_get_clear_errors() {
    let ups = upstreams(1).await;
    let (pool, options) =
        pool_and_options(&ups, "[limits]\nmax_request_bytes = 2048\nmax_batch = 3\n");
    let gw = gateway_with(pool, options).await;
    let send = |body: Vec<u8>| {
        let url = gw.url.clone();
        async move {
            let r = client()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (
                status,
                v["error"]["code"].as_i64().unwrap(),
                v["error"]["message"].as_str().unwrap().to_string(),
            )
        }
    };
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"getSlot","params":["{}"]}}"#,
        "x".repeat(4096)
    );
    let (status, code, msg) = send(big.into_bytes()).await;
    assert_eq!((status, code), (413, -32600));
    assert!(msg.contains("2048"), "{msg}");
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"getSlot"},{"jsonrpc":"2.0","id":2,"method":"getSlot"},{"jsonrpc":"2.0","id":3,"method":"getSlot"},{"jsonrpc":"2.0","id":4,"method":"getSlot"}]"#;
    let (status, code, msg) = send(batch.as_bytes().to_vec()).await;
    assert_eq!((status, code), (400, -32600));
    assert!(msg.contains("limit of 3"), "{msg}");
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"getSlot","params":{}{}}}"#,
        "[".repeat(600),
        "]".repeat(600)
    );
    let (status, code, _) = send(deep.into_bytes()).await;
    assert_eq!(
        (status, code),
        (400, -32600),
        "params nested too deeply are refused before any upstream call"
    );
    let (status, code, _) = send(vec![b'{', 0xff, 0xfe, b'}']).await;
    assert_eq!((status, code), (400, -32700));
    assert_eq!(ups[0].total(), 0, "nothing reached the upstream");
}

/// `dualrpc serve`'s shape: several single-threaded workers on one port. An ephemeral port
/// is shared by all of them; a port already taken is refused (not silently shared through
/// `SO_REUSEPORT`); stopping waits for every worker.
#[tokio::test]
async fn workers_share_one_port_refuse_a_taken_one_and_stop_together() {
    use dualrpc_gateway::{GatewayConfig, Workers};
    let ups = upstreams(1).await;
    ups[0].set("getSlot", Step::result("7"));
    let config = GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..GatewayConfig::default()
    };
    let workers = Workers::start(pool(&ups, ""), config.clone(), 2).expect("workers");
    let url = format!("http://{}", workers.addr());
    // Separate connections, so the kernel may hand them to either worker.
    for _ in 0..8 {
        let r = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["result"], 7, "{v}");
    }
    let taken = GatewayConfig {
        listen: workers.addr(),
        ..config
    };
    let err = Workers::start(pool(&ups, ""), taken, 2).expect_err("the port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    within("stop", workers.stop()).await.expect("clean stop");
}
