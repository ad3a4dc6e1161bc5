//! What one client sends never changes what another gets, and what every node agrees on
//! reaches the client as the node said it — through the gateway, over real HTTP.

use std::time::Duration;

use dualrpc_testkit::Step;
use serde_json::Value;

use crate::support::*;

const TX: &str = r#"{"slot":300,"blockTime":1700000000,"meta":{"err":null,"fee":5000},"transaction":{"signatures":["5xyz"]}}"#;

async fn rpc(
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (Value, reqwest::header::HeaderMap) {
    let mut req = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = within("rpc", req.send()).await.unwrap();
    let headers = r.headers().clone();
    (r.json().await.unwrap(), headers)
}

#[tokio::test]
async fn a_client_with_tiny_budgets_cannot_open_circuits_or_pull_latency_estimates_down() {
    let ups = upstreams(2).await;
    for u in &ups {
        u.set(
            "getBalance",
            Step::result(account(1, "5")).after(Duration::from_millis(200)),
        );
    }
    let pool = pool(&ups, "[breaker]\nfailures = 3\n");
    let gw = gateway(pool.clone()).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["k"]}"#;
    // Budgets far below the endpoints' 200 ms: 1 ms (on a loaded machine the call may
    // end before any attempt is out) and 20 ms (long enough that attempts are out).
    for budget in ["1", "20"].repeat(5) {
        let (v, _) = rpc(
            &format!("{}/race", gw.url),
            &[("x-dualrpc-timeout-ms", budget)],
            body,
        )
        .await;
        assert_eq!(v["error"]["code"], -32081, "{v}");
    }
    // The attempts finish on the endpoints' own time and are judged on it.
    eventually("every attempt settled", || {
        let st = pool.status();
        st.endpoints.iter().all(|e| e.in_flight == 0)
            && settled(&pool, "a") + settled(&pool, "b") >= 5
    })
    .await;
    let status = pool.status();
    for ep in &status.endpoints {
        assert_eq!(ep.circuit, "closed", "{}", ep.name);
        assert!(
            ep.counts.failures.is_empty(),
            "{}: {:?}",
            ep.name,
            ep.counts
        );
        let ewma = ep.latency_ewma_ms.unwrap();
        assert!(ewma >= 150.0, "{}: EWMA pulled down to {ewma} ms", ep.name);
        assert!(
            ep.latency_p50_ms.unwrap() >= 150.0,
            "{}: hedge delays would move",
            ep.name
        );
    }
    // Another client is served as if nothing happened.
    let (v, _) = rpc(&gw.url, &[], body).await;
    assert_eq!(v["result"]["value"], 5);
}

#[tokio::test]
async fn an_error_every_node_gives_reaches_the_client_unchanged() {
    for (code, message, method) in [
        (
            -32007,
            "Slot 9 was skipped, or missing due to ledger jump to recent snapshot",
            "getBlock",
        ),
        (
            -32009,
            "Slot 9 was skipped, or missing in long-term storage",
            "getBlock",
        ),
        (-32601, "Method not found", "getAssetsByOwner"),
    ] {
        let ups = upstreams(2).await;
        let error = format!(r#"{{"code":{code},"message":"{message}","data":{{"slot":9}}}}"#);
        for u in &ups {
            u.set(method, Step::error_json(error.clone()));
        }
        let pool = pool(&ups, "[breaker]\nfailures = 1\n");
        let gw = gateway(pool.clone()).await;
        let body = format!(r#"{{"jsonrpc":"2.0","id":4,"method":"{method}","params":[9]}}"#);
        let (v, h) = rpc(&format!("{}/race", gw.url), &[], &body).await;
        assert_eq!(v["id"], 4);
        let want: Value = serde_json::from_str(&error).unwrap();
        assert_eq!(v["error"], want, "{code}: code, message and data unchanged");
        assert_eq!(h["x-dualrpc-attempts"], "2", "{code}: no retry round");
        assert!(pool.is_healthy());
        assert!(
            pool.status()
                .endpoints
                .iter()
                .all(|e| e.circuit == "closed"),
            "{code}: an answer is not a breaker failure"
        );
    }
}

#[tokio::test]
async fn consensus_says_how_many_agreed_and_can_refuse_an_unconfirmed_answer() {
    let ups = upstreams(2).await;
    ups[0].set("getTransaction", Step::result(TX));
    ups[1].set("getTransaction", Step::status(503, "down"));
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"getTransaction","params":["5xyz"]}"#;
    let gw = gateway(pool(
        &ups,
        "[method.getTransaction]\nstrategy = \"consensus\"\n",
    ))
    .await;
    let (v, h) = rpc(&gw.url, &[], body).await;
    assert_eq!(v["result"]["slot"], 300);
    assert_eq!(h["x-dualrpc-agreement"], "1/2");
    let gw = gateway(pool(
        &ups,
        "[method.getTransaction]\nstrategy = \"consensus\"\nconsensus_fallback = \"error\"\n",
    ))
    .await;
    let (v, _) = rpc(&gw.url, &[], body).await;
    assert_eq!(v["error"]["code"], -32082, "{v}");
    ups[1].set("getTransaction", Step::result(TX));
    let (v, h) = rpc(&gw.url, &[], body).await;
    assert_eq!(v["result"]["slot"], 300);
    assert_eq!(h["x-dualrpc-agreement"], "2/2");
}

#[tokio::test]
async fn an_endpoint_on_another_cluster_is_never_asked() {
    // Two simulated mainnet nodes and, by mistake, a devnet URL that answers first.
    let cluster = zero_cluster().await;
    let devnet = dualrpc_testkit::Upstream::start().await;
    devnet.set(
        "getGenesisHash",
        Step::result(r#""EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG""#),
    );
    devnet.set("getSlot", Step::result("420000000"));
    devnet.set(
        "getBalance",
        Step::result(r#"{"context":{"slot":420000000},"value":7}"#),
    );
    let mut toml = cluster_toml(&cluster);
    toml.push_str(&format!(
        "[[endpoint]]\nname = \"devnet\"\nurl = \"{}\"\n[health]\ninterval_ms = 20\n",
        devnet.url()
    ));
    let config = dualrpc::Config::from_toml(&toml, |_| None).unwrap();
    let pool = dualrpc::Pool::from_config(config).expect("pool");
    eventually("devnet left out", || {
        endpoint(&pool.status(), "devnet").foreign_cluster
    })
    .await;
    let st = pool.status();
    assert!(!endpoint(&st, "a").foreign_cluster && !endpoint(&st, "b").foreign_cluster);
    assert!(
        st.best_slot.is_some_and(|s| s < 420_000_000),
        "{:?}",
        st.best_slot
    );
    let gw = gateway(pool.clone()).await;
    let body = sim_balance_request();
    for strategy in ["race", "broadcast"] {
        let (v, h) = rpc(&format!("{}/{strategy}", gw.url), &[], &body).await;
        assert_ne!(h["x-dualrpc-endpoint"], "devnet", "{v}");
        assert!(
            v["result"]["context"]["slot"].as_u64() < Some(420_000_000),
            "{v}"
        );
    }
    assert_eq!(devnet.count("getBalance"), 0);
    cluster.shutdown().await;
}
