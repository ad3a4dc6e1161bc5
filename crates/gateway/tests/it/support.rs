//! Shared fixtures: scripted upstreams named `a`, `b`, `c`, …, a pool over them built from
//! TOML (so config parsing is exercised too), a gateway on an ephemeral port, and waiting
//! helpers that await conditions instead of sleeping for a fixed time.

use std::future::IntoFuture;
use std::time::Duration;

use dualrpc::stats::EndpointSnapshot;
use dualrpc::{Config, Pool, PoolStatus};
use dualrpc_gateway::{GatewayConfig, GatewayOptions};
use dualrpc_testkit::Upstream;

/// The fake API key every test URL carries; it must never show up anywhere.
pub(crate) const SECRET: &str = "SECRETKEY-5b7d";

/// Endpoint names, in order.
pub(crate) const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// Starts `n` upstreams.
pub(crate) async fn upstreams(n: usize) -> Vec<Upstream> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(Upstream::start().await);
    }
    v
}

/// The `[[endpoint]]` tables for `ups`, with per-endpoint extra lines (e.g. roles).
pub(crate) fn endpoint_toml(ups: &[Upstream], extra: &[&str]) -> String {
    let mut s = String::new();
    for (i, u) in ups.iter().enumerate() {
        s.push_str(&format!(
            "[[endpoint]]\nname = \"{}\"\nurl = \"{}?api-key={SECRET}\"\n{}\n",
            NAMES[i],
            u.url(),
            extra.get(i).copied().unwrap_or("")
        ));
    }
    s
}

/// The `[[endpoint]]` tables of a simulated cluster's endpoints, named `a`, `b`, …
pub(crate) fn cluster_toml(cluster: &dualrpc_sim::Cluster) -> String {
    let mut s = String::new();
    for (i, ep) in cluster.endpoints().iter().enumerate() {
        s.push_str(&format!(
            "[[endpoint]]\nname = \"{}\"\nurl = \"{}\"\n",
            NAMES[i],
            ep.url()
        ));
    }
    s
}

/// A pool over `ups` with the health loop off (unless `rest` turns it on) and `rest`
/// appended to the config.
pub(crate) fn pool_with(ups: &[Upstream], extra: &[&str], rest: &str) -> Pool {
    let mut toml = endpoint_toml(ups, extra);
    if !rest.contains("[health]") {
        toml.push_str("[health]\ninterval_ms = 0\n");
    }
    toml.push_str(rest);
    let config = Config::from_toml(&toml, |_| None).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    Pool::from_config(config).expect("pool")
}

/// A pool over `ups` with defaults and `rest`.
pub(crate) fn pool(ups: &[Upstream], rest: &str) -> Pool {
    pool_with(ups, &[], rest)
}

/// One endpoint's snapshot by name.
pub(crate) fn endpoint<'a>(status: &'a PoolStatus, name: &str) -> &'a EndpointSnapshot {
    status
        .endpoints
        .iter()
        .find(|e| e.name == name)
        .expect("endpoint in status")
}

/// Failures of `kind` recorded for endpoint `name`.
pub(crate) fn failures(pool: &Pool, name: &str, kind: &str) -> u64 {
    endpoint(&pool.status(), name)
        .counts
        .failures
        .get(kind)
        .copied()
        .unwrap_or(0)
}

/// Attempts of endpoint `name` that settled (any outcome).
pub(crate) fn settled(pool: &Pool, name: &str) -> u64 {
    let st = pool.status();
    let c = &endpoint(&st, name).counts;
    c.success + c.empty + c.deterministic_error + c.failures.values().sum::<u64>()
}

/// Awaits `cond` becoming true: re-checks after each millisecond tick, fails the test
/// after 10 s. Used where the event is only observable as state (e.g. pool stats).
pub(crate) async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Bounds a future that should complete, so a regression fails instead of hanging.
pub(crate) async fn within<T>(what: &str, fut: impl IntoFuture<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut.into_future())
        .await
        .unwrap_or_else(|_| panic!("did not complete: {what}"))
}

/// A running gateway on an ephemeral loopback port; stops when dropped.
pub(crate) struct Gateway {
    pub(crate) url: String,
    pub(crate) server: dualrpc_gateway::Server,
}

/// The gateway config of a test: an ephemeral loopback port and `options`.
pub(crate) fn on_any_port(options: GatewayOptions) -> GatewayConfig {
    GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ws_listen: None,
        options,
    }
}

/// Starts a gateway in front of `pool`.
pub(crate) async fn gateway(pool: Pool) -> Gateway {
    gateway_with(pool, GatewayOptions::default()).await
}

/// Starts a gateway with options.
pub(crate) async fn gateway_with(pool: Pool, options: GatewayOptions) -> Gateway {
    let server = dualrpc_gateway::Server::start_with_pool(pool, on_any_port(options))
        .await
        .expect("gateway starts");
    Gateway {
        url: server.url(),
        server,
    }
}

/// A pool and gateway options from one whole config text (pool and gateway sections)
/// over `ups`, with the health loop off.
pub(crate) fn pool_and_options(ups: &[Upstream], rest: &str) -> (Pool, GatewayOptions) {
    let mut text = endpoint_toml(ups, &[]);
    if !rest.contains("[health]") {
        text.push_str("[health]\ninterval_ms = 0\n");
    }
    text.push_str(rest);
    let (settings, gw) = dualrpc_gateway::config::from_toml(&text, |_| None)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    (Pool::new(settings).expect("pool"), gw.options)
}

/// Starts a `race` call in the background with a 10 s budget, so the test can decide when
/// the upstreams answer.
pub(crate) fn spawn_race(pool: &Pool, method: &'static str, params: serde_json::Value) -> CallTask {
    let pool = pool.clone();
    tokio::spawn(async move {
        pool.call(method, &params)
            .strategy(dualrpc::Strategy::Race)
            .timeout(Duration::from_secs(10))
            .await
    })
}

/// Like [`spawn_race`], but only the call deadline is 10 s: attempts keep the timeouts
/// of the pool's config.
pub(crate) fn spawn_race_with_attempt_timeouts(
    pool: &Pool,
    method: &'static str,
    params: serde_json::Value,
) -> CallTask {
    let pool = pool.clone();
    tokio::spawn(async move {
        pool.call(method, &params)
            .strategy(dualrpc::Strategy::Race)
            .deadline(Duration::from_secs(10))
            .await
    })
}

/// A call running in the background.
pub(crate) type CallTask = tokio::task::JoinHandle<Result<dualrpc::Reply, dualrpc::CallError>>;

/// POSTs a JSON body.
pub(crate) async fn post(url: &str, body: &str) -> reqwest::Response {
    client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A response header's value, or "" if absent.
pub(crate) fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

/// GETs a URL and returns the body text.
pub(crate) async fn get_text(url: &str) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A plain HTTP client.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A `getAccountInfo` result with `value` (raw JSON).
pub(crate) fn account(slot: u64, value: &str) -> String {
    format!(r#"{{"context":{{"apiVersion":"2.2.0","slot":{slot}}},"value":{value}}}"#)
}

/// A realistic SPL mint account value.
pub(crate) const MINT: &str = r#"{"data":["AQAAAJj+huiNm+Lqi8HMpIeLKYjCQPUrhCS/tA7Rot3LXhmbSAO4ZRzDAgAGAQEAAAAqnl7btTwEZ5CY/3sSZRcUQ0/AjFYqmjuGEQXmctQicw==","base64"],"executable":false,"lamports":388127047180,"owner":"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA","rentEpoch":18446744073709551615,"space":82}"#;

/// A simulated cluster with no latency and no faults (`zero`): nodes whose chain moves in
/// real time, a slot every 400 ms.
pub(crate) async fn zero_cluster() -> dualrpc_sim::Cluster {
    let profile = dualrpc_sim::Profile::named("zero").expect("built-in profile");
    dualrpc_sim::Cluster::start(&profile, dualrpc_sim::ClusterOptions::default())
        .await
        .expect("cluster")
}

/// A `getBalance` request for an account every simulated node answers for.
pub(crate) fn sim_balance_request() -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["{}"]}}"#,
        dualrpc_sim::PUMP_FUN_PROGRAM_ID
    )
}
