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
mod process;
mod wrk;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use echo::Echo;
pub use process::GatewayProcess;
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
}

/// One wrk run.
#[derive(Debug, Clone)]
pub struct Row {
    /// `direct`, `nginx`, `dualrpc failover`, `dualrpc race`.
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
    /// Every wrk run.
    pub rows: Vec<Row>,
    /// Memory with calls in flight.
    pub memory: Vec<MemoryRow>,
}

/// Targets, in the order they are measured and shown.
const TARGETS: [&str; 4] = ["direct", "nginx", "dualrpc failover", "dualrpc race"];

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
    let failover = GatewayProcess::start(
        &config.gateway_bin,
        &config.dir,
        "failover",
        &format!(
            "[[endpoint]]\nname = \"echo\"\nurl = \"http://{a}/\"\n[default]\nstrategy = \"failover\"\n{common}"
        ),
    )?;
    let race = GatewayProcess::start(
        &config.gateway_bin,
        &config.dir,
        "race",
        &format!(
            "[[endpoint]]\nname = \"echo-a\"\nurl = \"http://{a}/\"\n[[endpoint]]\nname = \"echo-b\"\nurl = \"http://{b}/\"\n[default]\nstrategy = \"race\"\n{common}"
        ),
    )?;
    let urls = [
        format!("http://{a}/"),
        nginx.url(),
        failover.url(),
        race.url(),
    ];
    let duration = Duration::from_secs(config.secs.max(1));
    let mut rows = Vec::new();
    for connections in [2, 64] {
        for (target, url) in TARGETS.iter().zip(&urls) {
            // Warm connections and code paths; not measured.
            let _ = load(&wrk_bin, &script, url, connections, Duration::from_secs(1)).await;
            let measured = load(&wrk_bin, &script, url, connections, duration).await?;
            eprintln!(
                "  {target:<17} {connections:>2} connections: p50 {:>5.0} µs  p99 {:>6.0} µs  {:>7.0} req/s  {} errors",
                measured.p50_us, measured.p99_us, measured.rps, measured.errors
            );
            rows.push(Row {
                target: (*target).to_string(),
                connections,
                load: measured,
            });
        }
    }
    drop((failover, race));
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
    Ok(OverheadRun { rows, memory })
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
const BATCH: usize = 250;

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

/// The target's row at `connections`.
fn find<'r>(run: &'r OverheadRun, target: &str, connections: usize) -> Option<&'r Load> {
    run.rows
        .iter()
        .find(|r| r.target == target && r.connections == connections)
        .map(|r| &r.load)
}

/// The Markdown report: the table, the issue's targets met or not, memory.
pub fn render(run: &OverheadRun, command: &str, machine: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Gateway overhead\n");
    let _ = writeln!(md, "- command: `{command}`\n- machine: {machine}\n");
    let _ = writeln!(
        md,
        "A zero-latency upstream that answers each request with a result under its id; wrk, one \
         thread, a different `getBalance` in every request; failed requests counted (any \
         answer that is not a JSON-RPC result). Added p50 = the target's p50 minus direct's, \
         at 2 connections.\n"
    );
    let _ = writeln!(
        md,
        "| target | p50 (2 conn.) | added p50 | p99 (2 conn.) | req/s (2 conn.) | req/s (64 conn.) | p99 (64 conn.) | failed |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|");
    let direct = find(run, "direct", 2).map_or(0.0, |d| d.p50_us);
    for target in TARGETS {
        let (Some(two), Some(many)) = (find(run, target, 2), find(run, target, 64)) else {
            continue;
        };
        let added = if target == "direct" {
            "—".to_string()
        } else {
            format!("{:.0} µs", two.p50_us - direct)
        };
        let _ = writeln!(
            md,
            "| {target} | {:.0} µs | {added} | {:.0} µs | {:.0} | {:.0} | {:.0} µs | {} |",
            two.p50_us,
            two.p99_us,
            two.rps,
            many.rps,
            many.p99_us,
            two.errors + many.errors
        );
    }
    md.push('\n');
    if let (Some(nginx2), Some(fo2), Some(race2), Some(nginx64), Some(fo64), Some(race64)) = (
        find(run, "nginx", 2),
        find(run, "dualrpc failover", 2),
        find(run, "dualrpc race", 2),
        find(run, "nginx", 64),
        find(run, "dualrpc failover", 64),
        find(run, "dualrpc race", 64),
    ) {
        let added = |l: &Load| (l.p50_us - direct).max(1.0);
        let met = |ok: bool| if ok { "**met**" } else { "**not met**" };
        let _ = writeln!(md, "| target | measured | |\n|---|---|---|");
        let ratio = added(fo2) / added(nginx2);
        let _ = writeln!(
            md,
            "| failover's added p50 ≤ 1.25 × nginx's | {:.0} µs vs {:.0} µs ({ratio:.2}×) | {} |",
            added(fo2),
            added(nginx2),
            met(ratio <= 1.25)
        );
        let _ = writeln!(
            md,
            "| failover's req/s at 64 connections ≥ nginx's | {:.0} vs {:.0} | {} |",
            fo64.rps,
            nginx64.rps,
            met(fo64.rps >= nginx64.rps)
        );
        let lat = added(race2) / added(fo2);
        let thr = fo64.rps / race64.rps.max(1.0);
        let _ = writeln!(
            md,
            "| race over two within 1.5× of failover's cost | added p50 {lat:.2}×, req/s {thr:.2}× | {} |",
            met(lat <= 1.5 && thr <= 1.5)
        );
        md.push('\n');
    }
    if !run.memory.is_empty() {
        let _ = writeln!(md, "## Memory with calls in flight\n");
        let _ = writeln!(
            md,
            "`dualrpc serve`, failover over one endpoint that holds every answer 3 s; calls sent \
             as batches of {BATCH}; resident set from `/proc` once every call reached the upstream.\n"
        );
        let _ = writeln!(
            md,
            "| calls in flight | RSS idle | RSS in flight | peak RSS | failed | target |"
        );
        let _ = writeln!(md, "|--:|--:|--:|--:|--:|---|");
        for m in &run.memory {
            let mib = |k: u64| k as f64 / 1024.0;
            let target = if m.in_flight <= 1_000 { 64.0 } else { 256.0 };
            let _ = writeln!(
                md,
                "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} | ≤ {target:.0} MiB: {} |",
                m.in_flight,
                mib(m.idle_kib),
                mib(m.rss_kib),
                mib(m.peak_kib),
                m.errors,
                if mib(m.peak_kib) <= target {
                    "met"
                } else {
                    "not met"
                }
            );
        }
        md.push('\n');
    }
    md
}
