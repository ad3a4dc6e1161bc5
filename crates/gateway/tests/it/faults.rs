//! Faults under load: a simulated cluster of three endpoints behind the gateway takes a
//! few thousand calls while one endpoint at a time is killed and restarted, made to hang,
//! and made to lag. There is always at least one healthy endpoint, so every call must get
//! an HTTP answer carrying valid JSON-RPC, and practically all of them a result.
//!
//! Each fault is triggered by progress (after N completed calls), never by time, so the
//! faults land in the middle of the load however fast or slow the machine is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dualrpc::{Config, Pool};
use dualrpc_sim::{
    Cluster, ClusterOptions, EndpointSpec, Fault, FaultModel, LatencyModel, PUMP_FUN_PROGRAM_ID,
    Profile,
};
use serde_json::Value;
use tokio::sync::watch;

use crate::support::*;

const CALLS: usize = 3000;
const CONCURRENCY: usize = 32;

/// What happened to the calls.
#[derive(Debug, Default)]
struct Tally {
    results: usize,
    errors: usize,
    /// Transport errors, non-200 statuses, bodies that are not one JSON-RPC answer.
    broken: usize,
    samples: Vec<String>,
}

impl Tally {
    fn sample(&mut self, s: String) {
        if self.samples.len() < 10 {
            self.samples.push(s);
        }
    }
}

/// Waits until `n` calls have completed.
async fn after(done: &mut watch::Receiver<usize>, n: usize) {
    let _ = done.wait_for(|d| *d >= n).await;
}

fn pool_over(cluster: &Cluster) -> Pool {
    let mut toml = cluster_toml(cluster);
    toml.push_str(
        r#"
[default]
strategy = "failover"
timeout_ms = 150
deadline_ms = 1000

[method.getSlot]
strategy = "race"

[method.getLatestBlockhash]
strategy = "hedge"

[health]
interval_ms = 100

[breaker]
failures = 3
open_ms = 100
max_open_ms = 400
"#,
    );
    let config = Config::from_toml(&toml, |_| None).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    Pool::from_config(config).expect("pool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_hang_and_lag_one_endpoint_at_a_time_under_load() {
    let latency = LatencyModel::lognormal(2.0, 0.3);
    let mut profile = Profile::named("zero").expect("built-in profile");
    profile.endpoints = vec![
        EndpointSpec::new("s0", latency),
        EndpointSpec::new("s1", latency),
        EndpointSpec::new("s2", latency),
    ];
    let cluster = Arc::new(
        Cluster::start(
            &profile,
            ClusterOptions {
                seed: 7,
                ..Default::default()
            },
        )
        .await
        .expect("cluster"),
    );
    // An account that exists on every endpoint even 100 slots behind, if the chain has
    // history already; else an address whose value is null everywhere (still a result).
    let chain = cluster.chain();
    let account = chain
        .signatures(chain.slot().saturating_sub(200), 1)
        .first()
        .map(|s| s.mint.clone())
        .unwrap_or_else(|| PUMP_FUN_PROGRAM_ID.to_string());
    let pool = pool_over(&cluster);
    let gw = gateway(pool.clone()).await;

    let (done_tx, done_rx) = watch::channel(0usize);
    let done_tx = Arc::new(done_tx);

    // The faults, one endpoint at a time, each after a number of completed calls.
    let controller = tokio::spawn({
        let cluster = cluster.clone();
        let pool = pool.clone();
        let lagging = move || endpoint(&pool.status(), "c").lagging;
        let mut done = done_rx.clone();
        async move {
            let mut log = Vec::new();
            let eps = cluster.endpoints();
            after(&mut done, 300).await;
            eps[0].kill().await;
            log.push("killed s0");
            after(&mut done, 800).await;
            eps[0].restart().await.expect("restart s0");
            log.push("restarted s0");
            after(&mut done, 1200).await;
            eps[1].set_faults(FaultModel::always(Fault::Hang));
            log.push("s1 hangs");
            after(&mut done, 1700).await;
            eps[1].set_faults(FaultModel::NONE);
            log.push("s1 healthy");
            after(&mut done, 2100).await;
            eps[2].set_lag(100);
            eventually("the health loop sees s2 lagging", &lagging).await;
            log.push("s2 lags 100 slots");
            after(&mut done, 2600).await;
            eps[2].set_lag(0);
            eventually("the health loop sees s2 caught up", || !lagging()).await;
            log.push("s2 caught up");
            log
        }
    });

    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    // A call the gateway never answered shows up as a broken call, not a stuck worker.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (next, tally, http, done_tx) =
            (next.clone(), tally.clone(), http.clone(), done_tx.clone());
        let url = gw.url.clone();
        let account = account.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= CALLS {
                    return;
                }
                // `call` (ignored by the sim) makes every call distinct, so coalescing or
                // caching in the pool cannot fold the load into a few upstream calls.
                let body = match i % 3 {
                    0 => format!(
                        r#"{{"jsonrpc":"2.0","id":{i},"method":"getSlot","params":[{{"commitment":"confirmed","call":{i}}}]}}"#
                    ),
                    1 => format!(
                        r#"{{"jsonrpc":"2.0","id":{i},"method":"getLatestBlockhash","params":[{{"commitment":"confirmed","call":{i}}}]}}"#
                    ),
                    _ => format!(
                        r#"{{"jsonrpc":"2.0","id":{i},"method":"getAccountInfo","params":["{account}",{{"encoding":"base64","commitment":"confirmed","call":{i}}}]}}"#
                    ),
                };
                let outcome = match http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Err(e) => Err(format!("call {i}: HTTP error: {e}")),
                    Ok(r) if r.status() != 200 => Err(format!("call {i}: HTTP {}", r.status())),
                    Ok(r) => match r.json::<Value>().await {
                        Err(e) => Err(format!("call {i}: body: {e}")),
                        Ok(v) if v["jsonrpc"] != "2.0" || v["id"] != i => {
                            Err(format!("call {i}: not its JSON-RPC answer: {v}"))
                        }
                        Ok(v) => Ok(v),
                    },
                };
                {
                    let mut t = tally.lock().unwrap();
                    match outcome {
                        Err(e) => {
                            t.broken += 1;
                            t.sample(e);
                        }
                        Ok(v) => match (v.get("result"), v.get("error")) {
                            (Some(_), None) => t.results += 1,
                            (None, Some(e)) => {
                                t.errors += 1;
                                t.sample(format!("call {i}: {e}"));
                            }
                            _ => {
                                t.broken += 1;
                                t.sample(format!("call {i}: neither result nor error: {v}"));
                            }
                        },
                    }
                }
                done_tx.send_modify(|d| *d += 1);
            }
        }));
    }
    within("the load", async {
        for w in workers {
            w.await.expect("worker");
        }
    })
    .await;
    let log = within("the faults", controller).await.expect("controller");
    assert_eq!(log.len(), 6, "every fault step ran: {log:?}");

    let t = std::mem::take(&mut *tally.lock().unwrap());
    let answered = t.results + t.errors + t.broken;
    assert_eq!(answered, CALLS);
    assert_eq!(
        t.broken, 0,
        "every call gets one HTTP 200 with its JSON-RPC answer: {:?}",
        t.samples
    );
    // At least 99.9 % results.
    assert!(
        t.results * 1000 >= CALLS * 999,
        "{} results, {} errors of {CALLS}: {:?}\n{:#?}",
        t.results,
        t.errors,
        t.samples,
        pool.status()
    );
    // The faults did reach the load: calls met the dead and the hanging endpoint.
    assert!(
        failures(&pool, "a", "connect") + failures(&pool, "a", "transport") > 0,
        "{:?}",
        endpoint(&pool.status(), "a").counts
    );
    assert!(failures(&pool, "b", "timeout") > 0);
    assert!(cluster.endpoints()[1].stats().hangs > 0);
    drop(gw);
    if let Ok(cluster) = Arc::try_unwrap(cluster) {
        cluster.shutdown().await;
    }
}
