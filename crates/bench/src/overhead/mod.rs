//! `dualrpc bench --overhead`: what the gateway itself costs, beside nginx, in one run.
//!
//! An upstream that answers at once with a correct result under the caller's id
//! ([`echo`]); wrk with one thread sending a *different* `getBalance` in every request
//! (nothing to coalesce or cache) and counting anything but a JSON-RPC result as a failed
//! request ([`wrk`]); and four targets measured one after the other, each at 2 connections
//! (latency: the p50 a proxy adds over calling the upstream directly) and at 64 connections
//! (throughput):
//!
//! - `direct` — wrk straight to the upstream (the baseline);
//! - `hyper forwarder` — a bare hyper forwarder on one single-threaded runtime, no JSON and
//!   no policy ([`forwarder`]): what hyper and tokio themselves cost here (a reference);
//! - `nginx` — nginx 1.x `proxy_pass` with upstream keep-alive, one worker;
//! - `dualrpc failover` — `dualrpc serve` (the real binary, its own process) with one
//!   endpoint and `failover`;
//! - `dualrpc race` — the same with two endpoints and `race` (two upstream calls per
//!   request).
//!
//! Then memory: a `dualrpc serve` process holding 1,000 and 10,000 calls in flight (the
//! upstream holds each answer for 3 s), its resident set read from `/proc` once every call
//! has reached the upstream.

mod echo;
mod forwarder;
mod process;
mod report;
mod thread;
mod wrk;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use echo::Echo;
pub use forwarder::Forwarder;
pub use process::GatewayProcess;
pub use report::render;
pub use wrk::{Load, find_wrk};

use crate::nginx::{NginxOptions, NginxPeer};

/// What to measure.
#[derive(Debug, Clone)]
pub struct OverheadConfig {
    /// Seconds per wrk run.
    pub secs: u64,
    /// The `dualrpc` binary to run as the gateway.
    pub gateway_bin: PathBuf,
    /// Where configs, logs and the report go.
    pub dir: PathBuf,
    /// Calls in flight for the memory measurement (none: skip it).
    pub memory: Vec<usize>,
    /// Rounds of the latency and throughput runs (figures are medians over them).
    pub rounds: usize,
}

/// One wrk run.
#[derive(Debug, Clone)]
pub struct Row {
    /// One of [`TARGETS`].
    pub target: String,
    /// Connections wrk kept open.
    pub connections: usize,
    /// What it measured.
    pub load: Load,
}

/// One memory measurement.
#[derive(Debug, Clone, Copy)]
pub struct MemoryRow {
    /// Calls in flight.
    pub in_flight: usize,
    /// Resident set before the calls (KiB).
    pub idle_kib: u64,
    /// Resident set with every call in flight (KiB).
    pub rss_kib: u64,
    /// Peak resident set over the whole measurement (KiB).
    pub peak_kib: u64,
    /// Calls that did not get a result.
    pub errors: u64,
}

/// The whole measurement.
#[derive(Debug, Clone)]
pub struct OverheadRun {
    /// Every wrk run, of every round.
    pub rows: Vec<Row>,
    /// Rounds run.
    pub rounds: usize,
    /// Memory with calls in flight.
    pub memory: Vec<MemoryRow>,
}

/// Targets, in the order they are measured and shown.
pub const TARGETS: [&str; 6] = [
    "direct",
    "hyper forwarder",
    "nginx",
    "dualrpc failover",
    "dualrpc race",
    "dualrpc failover, all cores",
];

/// Runs the measurement (module doc).
pub async fn run(config: &OverheadConfig) -> std::io::Result<OverheadRun> {
    let wrk_bin = find_wrk().ok_or_else(|| {
        std::io::Error::other(
            "wrk not found: install it (apt-get install -y wrk; scripts/bench.sh does)",
        )
    })?;
    std::fs::create_dir_all(&config.dir)?;
    let script = wrk::write_script(&config.dir)?;
    let echo = Echo::start(2, Duration::ZERO)?;
    let [a, b] = [echo.addrs()[0], echo.addrs()[1]];
    let nginx = NginxPeer::start(
        &[("echo".to_string(), a)],
        NginxOptions {
            timeout_ms: 5_000,
            primary_backup: false,
        },
    )
    .await?;
    let common = "[health]\ninterval_ms = 0\n";
    let one = format!(
        "[[endpoint]]\nname = \"echo\"\nurl = \"http://{a}/\"\n[default]\nstrategy = \"failover\"\n{common}"
    );
    let failover = GatewayProcess::start(
        &config.gateway_bin,
        &config.dir,
        "failover",
        &one,
        &["--workers", "1"],
    )?;
    let race = GatewayProcess::start(
        &config.gateway_bin,
        &config.dir,
        "race",
        &format!(
            "[[endpoint]]\nname = \"echo-a\"\nurl = \"http://{a}/\"\n[[endpoint]]\nname = \"echo-b\"\nurl = \"http://{b}/\"\n[default]\nstrategy = \"race\"\n{common}"
        ),
        &["--workers", "1"],
    )?;
    let all_cores =
        GatewayProcess::start(&config.gateway_bin, &config.dir, "all-cores", &one, &[])?;
    let forwarder = Forwarder::start(a)?;
    let urls = [
        format!("http://{a}/"),
        forwarder.url(),
        nginx.url(),
        failover.url(),
        race.url(),
        all_cores.url(),
    ];
    let duration = Duration::from_secs(config.secs.max(1));
    let rounds = config.rounds.max(1);
    let mut rows = Vec::new();
    for round in 1..=rounds {
        for connections in [2, 64] {
            for (target, url) in TARGETS.iter().zip(&urls) {
                // Warm connections and code paths; not measured.
                let _ = load(&wrk_bin, &script, url, connections, Duration::from_secs(1)).await;
                let measured = load(&wrk_bin, &script, url, connections, duration).await?;
                eprintln!(
                    "  round {round}/{rounds}  {target:<28} {connections:>2} connections: p50 {:>5.0} µs  p99 {:>6.0} µs  {:>7.0} req/s  {} errors",
                    measured.p50_us, measured.p99_us, measured.rps, measured.errors
                );
                rows.push(Row {
                    target: (*target).to_string(),
                    connections,
                    load: measured,
                });
            }
        }
    }
    drop((failover, race, all_cores, forwarder));
    nginx.stop().await;
    drop(echo);
    let mut memory = Vec::new();
    for &n in &config.memory {
        let m = in_flight_memory(&config.gateway_bin, &config.dir, n).await?;
        eprintln!(
            "  {n} calls in flight: RSS {} KiB (idle {} KiB, peak {} KiB), {} errors",
            m.rss_kib, m.idle_kib, m.peak_kib, m.errors
        );
        memory.push(m);
    }
    Ok(OverheadRun {
        rows,
        rounds,
        memory,
    })
}

async fn load(
    wrk_bin: &Path,
    script: &Path,
    url: &str,
    connections: usize,
    duration: Duration,
) -> std::io::Result<Load> {
    let (wrk_bin, script, url) = (wrk_bin.to_path_buf(), script.to_path_buf(), url.to_string());
    tokio::task::spawn_blocking(move || wrk::run(&wrk_bin, &script, &url, connections, duration))
        .await
        .map_err(std::io::Error::other)?
}

/// Batch size of the memory measurement's requests (one connection carries this many
/// calls, so 10,000 calls need 40 client connections, not 10,000).
pub(super) const BATCH: usize = 250;

async fn in_flight_memory(bin: &Path, dir: &Path, calls: usize) -> std::io::Result<MemoryRow> {
    let echo = Echo::start(1, Duration::from_secs(3))?;
    let gateway = GatewayProcess::start(
        bin,
        dir,
        &format!("memory-{calls}"),
        &format!(
            "[[endpoint]]\nname = \"echo\"\nurl = \"http://{}/\"\n[default]\nstrategy = \"failover\"\ntimeout_ms = 10000\ndeadline_ms = 20000\n[health]\ninterval_ms = 0\n[limits]\nmax_batch = {BATCH}\n",
            echo.addrs()[0]
        ),
        &[],
    )?;
    let (idle_kib, _) = gateway.memory_kib()?;
    let client = reqwest::Client::new();
    let url = gateway.url();
    let mut batches = tokio::task::JoinSet::new();
    for first in (0..calls).step_by(BATCH) {
        let n = BATCH.min(calls - first);
        let body = (first..first + n)
            .map(|i| {
                format!(
                    r#"{{"jsonrpc":"2.0","id":{i},"method":"getBalance","params":["acct-{i}"]}}"#
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let (client, url) = (client.clone(), url.clone());
        batches.spawn(async move {
            let bytes = client
                .post(url)
                .header("content-type", "application/json")
                .body(format!("[{body}]"))
                .send()
                .await
                .ok()?
                .bytes()
                .await
                .ok()?;
            let answers: Vec<serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
            Some(answers.iter().filter(|a| a.get("result").is_some()).count())
        });
    }
    // Every call has reached the upstream, which holds it: all are in flight now.
    let started = Instant::now();
    while echo.received() < calls as u64 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (rss_kib, _) = gateway.memory_kib()?;
    let mut ok = 0;
    while let Some(done) = batches.join_next().await {
        ok += done.ok().flatten().unwrap_or(0);
    }
    let (_, peak_kib) = gateway.memory_kib()?;
    Ok(MemoryRow {
        in_flight: calls,
        idle_kib,
        rss_kib,
        peak_kib,
        errors: (calls - ok) as u64,
    })
}
