//! Arms: the set-ups compared on the same workload.
//!
//! Every arm gets its **own** simulated cluster, built from the same profile and seed, so
//! upstream call counts and rate limits are per arm while the chain, the latency models and
//! the correlated-slowdown windows (placed by seed and elapsed time) are the same for all.
//! Arms run concurrently, so a slowdown hits every arm at the same moment and no arm gets a
//! quieter period of the run than another.
//!
//! - `single (NAME)` — the bot talks to the profile's first endpoint directly;
//! - one arm per strategy — the bot talks to a dualrpc gateway that runs that strategy for
//!   every method;
//! - `per-method` — the seed's configuration: `getAccountInfo` by race (50 ms),
//!   `getTransaction` by consensus (200 ms), `getSignaturesForAddress` by dual (100 ms);
//! - `nginx` — nginx with `proxy_next_upstream` over the same endpoints.

use std::sync::Arc;
use std::time::Duration;

use dualrpc::{Config, Settings, Strategy};
use dualrpc_gateway::{GatewayConfig, Workers};
use dualrpc_sim::{Cluster, ClusterOptions, Profile};

use crate::host::Host;
use crate::results::{ArmKind, ArmResult};
use crate::workload::{self, Target, WorkloadConfig};

/// Per-attempt timeout the strategy arms use: above the profiles' p99.9 body latency, well
/// under their stalls.
pub const ATTEMPT_TIMEOUT_MS: u64 = 300;
/// Call deadline of the strategy arms.
pub const DEADLINE_MS: u64 = 1_500;

/// One arm to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmSpec {
    /// Direct calls to the first endpoint.
    Baseline,
    /// The gateway with one strategy for every method.
    Strategy(Strategy),
    /// The gateway with the seed's per-method configuration.
    PerMethod,
    /// nginx as a failover proxy.
    Nginx,
}

impl ArmSpec {
    /// Parses `single`, `per-method`, `nginx` or a strategy name.
    pub fn parse(s: &str) -> Result<ArmSpec, String> {
        match s {
            "single" | "baseline" => Ok(ArmSpec::Baseline),
            "per-method" | "seed-config" => Ok(ArmSpec::PerMethod),
            "nginx" => Ok(ArmSpec::Nginx),
            other => other
                .parse::<Strategy>()
                .map(ArmSpec::Strategy)
                .map_err(|e| e.to_string()),
        }
    }

    /// Every arm except nginx: what the demo runs.
    pub fn demo_set() -> Vec<ArmSpec> {
        let mut v = vec![ArmSpec::Baseline];
        v.extend(Strategy::ALL.into_iter().map(ArmSpec::Strategy));
        v.push(ArmSpec::PerMethod);
        v
    }
}

/// The gateway config for an arm over `cluster`.
pub fn gateway_config(cluster: &Cluster, spec: &ArmSpec) -> Config {
    let mut toml = String::new();
    let n = cluster.endpoints().len();
    for (i, e) in cluster.endpoints().iter().enumerate() {
        // Alternate roles so `dual` has primary/secondary pairs in profile order.
        let role = if n >= 2 && i % 2 == 0 {
            "primary"
        } else {
            "secondary"
        };
        let role = if n >= 2 {
            format!("role = \"{role}\"\n")
        } else {
            String::new()
        };
        toml.push_str(&format!(
            "[[endpoint]]\nname = \"{}\"\nurl = \"{}\"\n{role}",
            e.name(),
            e.url()
        ));
    }
    let strategy = match spec {
        ArmSpec::Strategy(s) => *s,
        _ => Strategy::Hedge,
    };
    toml.push_str(&format!(
        "[default]\nstrategy = \"{strategy}\"\ntimeout_ms = {ATTEMPT_TIMEOUT_MS}\ndeadline_ms = {DEADLINE_MS}\n"
    ));
    if *spec == ArmSpec::PerMethod {
        toml.push_str(
            "[method.getAccountInfo]\nstrategy = \"race\"\ntimeout_ms = 50\ndeadline_ms = 300\n\
             [method.getTransaction]\nstrategy = \"consensus\"\nquorum = 2\ntimeout_ms = 200\ndeadline_ms = 600\n\
             [method.getSignaturesForAddress]\nstrategy = \"dual\"\ntimeout_ms = 100\ndeadline_ms = 400\n",
        );
    }
    Config::from_toml(&toml, |_| None).expect("generated config is valid")
}

/// The display name of an arm.
pub fn arm_name(spec: &ArmSpec, profile: &Profile) -> String {
    match spec {
        ArmSpec::Baseline => format!(
            "single ({})",
            profile.endpoints.first().map_or("-", |e| e.name.as_str())
        ),
        ArmSpec::Strategy(s) => s.to_string(),
        ArmSpec::PerMethod => "per-method".into(),
        ArmSpec::Nginx => "nginx".into(),
    }
}

/// A simulated cluster of `profile` with `seed`, on loopback.
pub async fn cluster(profile: &Profile, seed: u64) -> std::io::Result<Cluster> {
    Cluster::start(
        profile,
        ClusterOptions {
            seed,
            ..Default::default()
        },
    )
    .await
}

/// The `[[endpoint]]` tables of every endpoint of `cluster` (PubSub at the default
/// `ws_url`, the endpoint's URL with `ws://`).
pub fn endpoints_toml(cluster: &Cluster) -> String {
    let mut toml = String::new();
    for e in cluster.endpoints() {
        toml.push_str(&format!(
            "[[endpoint]]\nname = \"{}\"\nurl = \"{}\"\n",
            e.name(),
            e.url()
        ));
    }
    toml
}

/// Runs one arm: its cluster, its front (none, gateway or nginx), the workload.
pub async fn run_arm(
    spec: ArmSpec,
    profile: &Profile,
    seed: u64,
    workload: &WorkloadConfig,
    tick: impl Fn(f64) + Send + 'static,
) -> std::io::Result<ArmResult> {
    // The providers on a thread of their own (another machine), the gateway on its own
    // workers: the bot's runtime runs only the bot (see `host`).
    let host = Host::start("sim-providers")?;
    let owned = profile.clone();
    let cluster = host
        .run(async move { cluster(&owned, seed).await })
        .await??;
    let mut nginx = None;
    let mut server = None;
    let (url, kind) = match &spec {
        ArmSpec::Baseline => (cluster.endpoints()[0].url(), ArmKind::Baseline),
        ArmSpec::Nginx => {
            let ups: Vec<_> = cluster
                .endpoints()
                .iter()
                .map(|e| (e.name().to_string(), e.addr()))
                .collect();
            let peer = crate::nginx::NginxPeer::start(
                &ups,
                crate::nginx::NginxOptions {
                    timeout_ms: ATTEMPT_TIMEOUT_MS,
                    ..Default::default()
                },
            )
            .await?;
            let url = peer.url();
            nginx = Some(peer);
            (url, ArmKind::Nginx)
        }
        ArmSpec::Strategy(_) | ArmSpec::PerMethod => {
            let settings = Settings::from_config(&gateway_config(&cluster, &spec))
                .map_err(std::io::Error::other)?;
            dualrpc_gateway::install_metrics_recorder();
            let pool = dualrpc::Pool::new(settings).map_err(std::io::Error::other)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let started = Workers::start(pool, GatewayConfig::loopback(), cores)?;
            let url = format!("http://{}/", started.addr());
            server = Some(started);
            let kind = match spec {
                ArmSpec::Strategy(s) => ArmKind::Strategy(s),
                _ => ArmKind::Strategy(Strategy::Hedge),
            };
            (url, kind)
        }
    };
    // The bot on a host of its own as well.
    let bot = Host::start("bot")?;
    let (chain, config) = (cluster.chain().clone(), workload.clone());
    let recorded = bot
        .run(async move { workload::run(&Target { url }, &chain, &config, tick).await })
        .await?;
    bot.stop().await;
    if let Some(server) = server {
        server.stop().await?;
    }
    if let Some(peer) = nginx {
        peer.stop().await;
    }
    let upstream_calls = cluster
        .endpoints()
        .iter()
        .map(|e| {
            let stats = e.stats();
            // The gateway's health loop asks getSlot and getGenesisHash; the workload never
            // does.
            let calls: u64 = stats
                .calls
                .iter()
                .filter(|(m, _)| !matches!(m.as_str(), "getSlot" | "getGenesisHash"))
                .map(|(_, n)| n)
                .sum();
            (e.name().to_string(), calls)
        })
        .collect();
    let detection = crate::detection::measure(cluster.chain(), profile, seed, &recorded.detection);
    cluster.shutdown().await;
    host.stop().await;
    Ok(ArmResult {
        name: arm_name(&spec, profile),
        kind,
        latency_us: recorded.latency_us,
        requests: recorded.requests,
        ok: recorded.ok,
        failed: recorded.failed,
        stale: recorded.stale,
        by_method: recorded.by_method,
        upstream_calls,
        elapsed: recorded.elapsed,
        detection: Some(detection),
    })
}

/// Runs `specs` concurrently (one task each) on the same profile and seed. `tick`
/// receives the elapsed fraction of the run.
pub async fn run_arms(
    specs: &[ArmSpec],
    profile: &Profile,
    seed: u64,
    workload: &WorkloadConfig,
    tick: Arc<dyn Fn(f64) + Send + Sync>,
) -> std::io::Result<Vec<ArmResult>> {
    let mut handles = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (spec, profile, workload, tick) = (
            spec.clone(),
            profile.clone(),
            workload.clone(),
            tick.clone(),
        );
        handles.push(tokio::spawn(async move {
            // Only the first arm reports progress: they all run for the same time.
            run_arm(spec, &profile, seed, &workload, move |f| {
                if i == 0 {
                    tick(f)
                }
            })
            .await
        }));
    }
    let mut out = Vec::new();
    for h in futures_util::future::join_all(handles).await {
        out.push(h.map_err(std::io::Error::other)??);
    }
    Ok(out)
}

/// Default duration of one demo run.
pub const DEMO_DURATION: Duration = Duration::from_secs(20);
