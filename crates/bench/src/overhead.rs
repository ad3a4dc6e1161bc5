//! Gateway overhead: the latency the gateway adds and the throughput it sustains on one
//! core, measured against a zero-latency simulated upstream so that nothing but the
//! gateway's own work (HTTP in, parse, plan, HTTP out, splice the answer) is measured.
//!
//! The gateway runs on its own OS thread with a single-threaded Tokio runtime — one core —
//! while the clients and the upstream share the other core. Latency is measured with one
//! request at a time (no queueing); throughput with `concurrency` clients in a closed loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dualrpc::{Config, Settings};
use dualrpc_gateway::{GatewayConfig, Server};
use dualrpc_sim::{Cluster, ClusterOptions, Profile};
use hdrhistogram::Histogram;

use crate::results::Overhead;

const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"getLatestBlockhash","params":[{"commitment":"confirmed"}]}"#;

/// Measures the overhead with `requests` sequential calls per path and a throughput run of
/// `throughput_for` with `concurrency` clients.
pub async fn measure(
    requests: u64,
    concurrency: usize,
    throughput_for: Duration,
) -> std::io::Result<Overhead> {
    let profile = Profile::named("zero").expect("the zero profile exists");
    let cluster = Cluster::start(&profile, ClusterOptions::default()).await?;
    let upstream = cluster.endpoints()[0].url();
    let config = Config::from_toml(
        &format!(
            "[[endpoint]]\nname = \"zero\"\nurl = \"{upstream}\"\n[default]\nstrategy = \"failover\"\n[health]\ninterval_ms = 0\n"
        ),
        |_| None,
    )
    .map_err(std::io::Error::other)?;
    let (gateway, stop) = spawn_one_core_gateway(config)?;
    let gateway_url = format!("http://{gateway}/");
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(std::io::Error::other)?;
    // Warm connections and code paths on both sides first.
    sequential(&client, &upstream, 200).await?;
    sequential(&client, &gateway_url, 200).await?;
    let direct = sequential(&client, &upstream, requests).await?;
    let via = sequential(&client, &gateway_url, requests).await?;
    let rps = throughput(&client, &gateway_url, concurrency, throughput_for).await;
    let _ = stop.send(());
    cluster.shutdown().await;
    Ok(Overhead {
        requests,
        direct_p50_us: direct.value_at_quantile(0.5) as f64,
        direct_p99_us: direct.value_at_quantile(0.99) as f64,
        gateway_p50_us: via.value_at_quantile(0.5) as f64,
        gateway_p99_us: via.value_at_quantile(0.99) as f64,
        gateway_rps_one_core: rps,
        concurrency,
    })
}

fn spawn_one_core_gateway(
    config: Config,
) -> std::io::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("gateway-one-core".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = addr_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                let started = match Settings::from_config(&config) {
                    Ok(settings) => Server::start(settings, GatewayConfig::loopback()).await,
                    Err(e) => Err(std::io::Error::other(e)),
                };
                let server = match started {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                let _ = addr_tx.send(Ok(server.addr()));
                let _ = server
                    .run_until(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        })?;
    let addr = addr_rx.recv().map_err(std::io::Error::other)??;
    Ok((addr, stop_tx))
}

async fn sequential(
    client: &reqwest::Client,
    url: &str,
    n: u64,
) -> std::io::Result<Histogram<u64>> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    for _ in 0..n {
        let t = Instant::now();
        let r = client
            .post(url)
            .header("content-type", "application/json")
            .body(BODY)
            .send()
            .await;
        let ok = match r {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        if !ok {
            return Err(std::io::Error::other("overhead probe request failed"));
        }
        let _ = h.record((t.elapsed().as_micros() as u64).max(1));
    }
    Ok(h)
}

async fn throughput(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    length: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, done, stop) =
                (client.clone(), url.to_string(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(BODY)
                        .send()
                        .await;
                    if let Ok(r) = r
                        && r.bytes().await.is_ok()
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let count = done.load(Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    count as f64 / elapsed.as_secs_f64()
}
