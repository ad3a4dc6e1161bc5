//! The upstream-budget benchmark: how much client load a pool of rate-limited providers
//! sustains with no 429 (or any error) reaching the client, against one provider alone.
//!
//! Each simulated provider allows `limit` calls per sliding second and answers 429 beyond
//! it. The client sends `getBalance` calls with distinct params (so coalescing cannot merge
//! them) open loop at a series of rates, a few seconds each, through:
//! - **single** — straight to one provider;
//! - **dualrpc** — a gateway running `race` over all providers, each configured with
//!   `rate_limit = { rps = 0.95 × limit, burst = 0.05 × limit }` (a token bucket passes at
//!   most `burst + rps × 1 s` in any second, so this never exceeds the provider's window).
//!
//! At every rate it records client errors, upstream calls per client call, latency and each
//! provider's utilisation (its calls ÷ what its limit allows in the same time). The
//! sustained rate is the highest rate with zero client errors.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dualrpc::{Config, Settings};
use dualrpc_gateway::{GatewayConfig, Server};
use dualrpc_sim::{Cluster, ClusterOptions, EndpointSpec, LatencyModel, Profile, RateLimit};
use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// One measured step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Offered client rate (calls/s).
    pub rate: f64,
    /// Calls sent.
    pub sent: u64,
    /// Calls that did not get a usable result (HTTP or JSON-RPC error, 429, timeout).
    pub errors: u64,
    /// Upstream calls per client call.
    pub calls_per_request: f64,
    /// Median latency (ms).
    pub p50_ms: f64,
    /// 99th percentile latency (ms).
    pub p99_ms: f64,
    /// Per provider: calls ÷ (limit × seconds).
    pub utilisation: Vec<(String, f64)>,
}

/// The whole budget run.
#[derive(Debug, Clone)]
pub struct BudgetRun {
    /// Calls per second each provider allows.
    pub limit: u32,
    /// Providers.
    pub providers: usize,
    /// Seconds per step.
    pub step_secs: u64,
    /// Steps straight to one provider.
    pub single: Vec<Step>,
    /// Steps through dualrpc.
    pub pooled: Vec<Step>,
}

impl BudgetRun {
    /// The highest rate with zero client errors.
    pub fn sustained(steps: &[Step]) -> f64 {
        steps
            .iter()
            .filter(|s| s.errors == 0)
            .map(|s| s.rate)
            .fold(0.0, f64::max)
    }
}

fn profile(providers: usize, limit: u32) -> Profile {
    let mut p = Profile::named("zero").expect("zero profile");
    p.name = "budget".into();
    p.description = format!("{providers} providers, ~20 ms, {limit} calls per second each");
    p.slowdown = None;
    p.endpoints = (0..providers)
        .map(|i| {
            EndpointSpec::new(format!("p{i}"), LatencyModel::lognormal(20.0, 0.3)).with_rate_limit(
                RateLimit {
                    window: Duration::from_secs(1),
                    max_calls: limit,
                    max_calls_per_method: limit,
                },
            )
        })
        .collect();
    p
}

/// Runs the benchmark: `rates` are fractions of the providers' combined limit.
pub async fn run(
    providers: usize,
    limit: u32,
    step: Duration,
    rates: &[f64],
) -> std::io::Result<BudgetRun> {
    let total = f64::from(limit) * providers as f64;
    let single_rates: Vec<f64> = [0.5, 0.9, 0.95, 1.0, 1.2]
        .iter()
        .map(|f| f * f64::from(limit))
        .collect();
    let pooled_rates: Vec<f64> = rates.iter().map(|f| f * total).collect();
    let mut single = Vec::new();
    for &rate in &single_rates {
        single.push(measure(providers, limit, rate, step, false).await?);
    }
    let mut pooled = Vec::new();
    for &rate in &pooled_rates {
        pooled.push(measure(providers, limit, rate, step, true).await?);
    }
    Ok(BudgetRun {
        limit,
        providers,
        step_secs: step.as_secs(),
        single,
        pooled,
    })
}

async fn measure(
    providers: usize,
    limit: u32,
    rate: f64,
    length: Duration,
    pooled: bool,
) -> std::io::Result<Step> {
    let cluster = Cluster::start(&profile(providers, limit), ClusterOptions::default()).await?;
    let mut server = None;
    let url = if pooled {
        let mut toml = String::from(
            "[default]\nstrategy = \"race\"\ntimeout_ms = 500\ndeadline_ms = 2000\n[health]\ninterval_ms = 0\n",
        );
        for e in cluster.endpoints() {
            let _ = write!(
                toml,
                "[[endpoint]]\nname = \"{}\"\nurl = \"{}\"\nrate_limit = {{ rps = {}, burst = {} }}\n",
                e.name(),
                e.url(),
                f64::from(limit) * 0.95,
                (f64::from(limit) * 0.05).max(1.0)
            );
        }
        let config = Config::from_toml(&toml, |_| None).map_err(std::io::Error::other)?;
        let settings = Settings::from_config(&config).map_err(std::io::Error::other)?;
        let started = Server::start(settings, GatewayConfig::loopback()).await?;
        let url = format!("{}/", started.url());
        server = Some(started);
        url
    } else {
        cluster.endpoints()[0].url()
    };
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(std::io::Error::other)?;
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
    ));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < length {
        ticker.tick().await;
        sent += 1;
        let (client, url, hist, errors) =
            (client.clone(), url.clone(), hist.clone(), errors.clone());
        tasks.spawn(async move {
            // A distinct, valid address per call, so coalescing cannot merge calls.
            let mut key = [7u8; 32];
            key[..8].copy_from_slice(&sent.to_le_bytes());
            let address = dualrpc_sim::base58_encode(&key);
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{sent},"method":"getBalance","params":["{address}"]}}"#
            );
            let t = Instant::now();
            let ok = match client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => match r.bytes().await {
                    Ok(b) => serde_json::from_slice::<serde_json::Value>(&b)
                        .is_ok_and(|v| v.get("result").is_some()),
                    Err(_) => false,
                },
                _ => false,
            };
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            let _ = hist.lock().record((t.elapsed().as_micros() as u64).max(1));
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(server) = server {
        server.stop().await?;
    }
    let calls: Vec<(String, u64)> = cluster
        .endpoints()
        .iter()
        .map(|e| (e.name().to_string(), e.stats().calls_to("getBalance")))
        .collect();
    let upstream: u64 = calls.iter().map(|(_, c)| c).sum();
    cluster.shutdown().await;
    let h = hist.lock();
    Ok(Step {
        rate,
        sent,
        errors: errors.load(Ordering::Relaxed),
        calls_per_request: upstream as f64 / sent.max(1) as f64,
        p50_ms: h.value_at_quantile(0.5) as f64 / 1e3,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1e3,
        utilisation: calls
            .into_iter()
            .map(|(n, c)| (n, c as f64 / (f64::from(limit) * elapsed)))
            .collect(),
    })
}

/// The run as Markdown.
pub fn render(run: &BudgetRun, command: &str, machine: &str) -> String {
    let mut s = String::new();
    let single = BudgetRun::sustained(&run.single);
    let pooled = BudgetRun::sustained(&run.pooled);
    let _ = writeln!(s, "# dualrpc upstream-budget benchmark\n");
    let _ = writeln!(
        s,
        "| | |\n|---|---|\n| command | `{command}` |\n| machine | {machine} |"
    );
    let _ = writeln!(
        s,
        "| providers | {} × ~20 ms, each {} calls per sliding second, 429 beyond |\n| step | {} s open loop per rate, `getBalance` with distinct params |\n",
        run.providers, run.limit, run.step_secs
    );
    let _ = writeln!(
        s,
        "**Sustained with zero client errors: {single:.0} calls/s to one provider alone, {pooled:.0} calls/s through dualrpc over {} — {:.2}×.**\n",
        run.providers,
        if single > 0.0 { pooled / single } else { 0.0 }
    );
    for (title, steps) in [
        ("One provider alone", &run.single),
        ("dualrpc (race, adaptive fan-out)", &run.pooled),
    ] {
        let _ = writeln!(s, "## {title}\n");
        let _ = writeln!(
            s,
            "| offered calls/s | sent | client errors | upstream calls / call | p50 ms | p99 ms | utilisation of each provider's limit |"
        );
        let _ = writeln!(s, "|--:|--:|--:|--:|--:|--:|---|");
        for st in steps.iter() {
            let util: Vec<String> = st
                .utilisation
                .iter()
                .map(|(n, u)| format!("{n} {:.0}%", u * 100.0))
                .collect();
            let _ = writeln!(
                s,
                "| {:.0} | {} | {} | {:.2} | {:.1} | {:.1} | {} |",
                st.rate,
                st.sent,
                st.errors,
                st.calls_per_request,
                st.p50_ms,
                st.p99_ms,
                util.join(" · ")
            );
        }
        let _ = writeln!(s);
    }
    s
}
