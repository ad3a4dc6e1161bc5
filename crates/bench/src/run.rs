//! `dualrpc demo` and `dualrpc bench`: argument parsing and the run itself, shared by both.
//!
//! The demo is the bench with a short default duration, no nginx and a terminal table
//! instead of a written report. `bench --budget` and `bench --overhead` run their own
//! measurements instead of the workload, and so does `bench --streaming`; the demo runs the
//! streaming arm after its request arms.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dualrpc_sim::Profile;
use indicatif::{ProgressBar, ProgressStyle};

use crate::arms::{self, ArmSpec};
use crate::results::BenchRun;
use crate::streaming::{self, StreamingConfig};
use crate::workload::WorkloadConfig;
use crate::{oracle, report};

/// Arguments of `dualrpc demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Simulated provider profile (`dualrpc sim --list-profiles`).
    #[arg(long, default_value = "seed")]
    pub profile: String,
    /// Seconds of workload.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Arms to run, comma separated: single, failover, race, hedge, consensus, dual,
    /// broadcast, per-method, nginx (default: all but nginx).
    #[arg(long, value_delimiter = ',')]
    pub arms: Vec<String>,
    /// Launchpad transactions per second on the simulated chain (the bot fetches each).
    #[arg(long, default_value_t = 10.0)]
    pub launch_rate: f64,
    /// Milliseconds between signature polls.
    #[arg(long, default_value_t = 50)]
    pub poll_ms: u64,
}

/// Arguments of `dualrpc bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Workload and arms, as for the demo.
    #[command(flatten)]
    pub run: DemoArgs,
    /// Directory for report.md and the plots (default: bench-results/PROFILE).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Measure the gateway's own cost beside nginx instead (wrk; see BENCHMARKS.md).
    #[arg(long)]
    pub overhead: bool,
    /// Seconds per wrk run in the overhead measurement.
    #[arg(long, default_value_t = 10)]
    pub overhead_secs: u64,
    /// Calls in flight for the overhead measurement's memory figures (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000])]
    pub memory: Vec<usize>,
    /// Rounds of the overhead measurement (its figures are medians over them).
    #[arg(long, default_value_t = 3)]
    pub overhead_rounds: usize,
    /// Run the upstream-budget benchmark instead (rate-limited providers, sustained rate).
    #[arg(long)]
    pub budget: bool,
    /// Seconds per offered rate in the budget benchmark.
    #[arg(long, default_value_t = 5)]
    pub budget_step: u64,
    /// Run the streaming benchmark instead: time from a launch to its notification through
    /// dualrpc and each provider, losses across forced disconnects, and the gateway's
    /// memory and CPU per 1,000 subscriptions.
    #[arg(long)]
    pub streaming: bool,
    /// Subscriptions held for the streaming benchmark's footprint (0: skip it).
    #[arg(long, default_value_t = 1_000)]
    pub streaming_subscriptions: usize,
    /// Seconds between forced disconnects of one provider's PubSub (streaming; 0: none).
    #[arg(long, default_value_t = 5)]
    pub disconnect_every: u64,
}

fn parse_arms(names: &[String], with_nginx: bool) -> Result<Vec<ArmSpec>, String> {
    if names.is_empty() {
        let mut arms = ArmSpec::demo_set();
        if with_nginx {
            arms.insert(1, ArmSpec::Nginx);
        }
        return Ok(arms);
    }
    names.iter().map(|n| ArmSpec::parse(n.trim())).collect()
}

fn profile(args: &DemoArgs) -> Result<Profile, String> {
    let mut p = Profile::named(&args.profile).ok_or_else(|| {
        format!(
            "unknown profile `{}`; known: {}",
            args.profile,
            Profile::names().join(", ")
        )
    })?;
    if !(args.launch_rate > 0.0 && args.launch_rate <= 1000.0) {
        return Err("--launch-rate must be in (0, 1000]".into());
    }
    p.chain.signatures_per_second = args.launch_rate;
    Ok(p)
}

fn workload(args: &DemoArgs) -> Result<WorkloadConfig, String> {
    if args.duration == 0 || args.poll_ms == 0 {
        return Err("--duration and --poll-ms must be > 0".into());
    }
    Ok(WorkloadConfig {
        duration: Duration::from_secs(args.duration),
        poll_interval: Duration::from_millis(args.poll_ms),
        ..WorkloadConfig::default()
    })
}

/// Runs the arms with a progress bar and returns the run (oracle included, no overhead).
async fn run_arms(
    args: &DemoArgs,
    arms: &[ArmSpec],
    command: String,
) -> Result<BenchRun, Box<dyn std::error::Error>> {
    let profile = profile(args)?;
    let wl = workload(args)?;
    eprintln!(
        "profile `{}`: {}\nrunning {} arms side by side for {} s, each with its own simulated cluster (seed {}):\n  {}",
        profile.name,
        profile.summary(),
        arms.len(),
        args.duration,
        args.seed,
        arms.iter()
            .map(|a| arms::arm_name(a, &profile))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% ")
            .expect("static template is valid"),
    );
    let tick_bar = bar.clone();
    let results = arms::run_arms(
        arms,
        &profile,
        args.seed,
        &wl,
        Arc::new(move |f: f64| tick_bar.set_position((f.clamp(0.0, 1.0) * 1000.0) as u64)),
    )
    .await?;
    bar.finish_and_clear();
    let mut all = results;
    let base_requests = all.first().map_or(10_000, |a| a.requests.max(10_000));
    let mut oracle = oracle::oracle(&profile, args.seed, base_requests, wl.duration);
    // The detection oracle polls on an arm's schedule; its row shows the first arm's.
    oracle.detection = all
        .first()
        .and_then(|a| a.detection.as_ref())
        .map(|d| d.oracle_view());
    all.push(oracle);
    Ok(BenchRun {
        scenario: profile.name.clone(),
        scenario_description: profile.description.clone(),
        seed: args.seed,
        duration: wl.duration,
        endpoints: profile.endpoints.iter().map(|e| e.name.clone()).collect(),
        arms: all,
        command,
        machine: machine(),
    })
}

/// The streaming measurement for `args` (its own cluster, the same profile and seed).
fn streaming_config(args: &DemoArgs, disconnect_every: Duration) -> StreamingConfig {
    StreamingConfig {
        duration: Duration::from_secs(args.duration),
        disconnect_every,
        ..StreamingConfig::default()
    }
}

/// `dualrpc demo`.
pub async fn demo(args: DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let arms = parse_arms(&args.arms, false)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let run = run_arms(&args, &arms, command).await?;
    // The streaming arm after the request arms (so neither loads the other), on a
    // cluster of its own, for half the time.
    let profile = profile(&args)?;
    let stream_config = StreamingConfig {
        duration: Duration::from_secs((args.duration / 2).max(5)),
        ..streaming_config(&args, Duration::from_secs(3))
    };
    eprintln!(
        "streaming arm: logsSubscribe through dualrpc and each provider for {} s…",
        stream_config.duration.as_secs()
    );
    let stream = streaming::run(&profile, args.seed, &stream_config).await?;
    println!("{}", report::render_table(&run));
    println!(
        "latency in ms over every request of the workload; success = usable answers ÷ requests; stale = null \
         answers for data the chain already had; calls/req = upstream calls per client request; \
         utilisation = share of client requests that reached each endpoint. `oracle` = the fastest \
         non-failing endpoint per request, drawn from the same models (a lower bound). detect \
         p50/p99 = ms from a launch's creation on the chain to the bot validating its mint, over \
         the launches detected; missed = launches never validated (launches of the run's last {} s \
         are not counted). The oracle's detect columns: at each poll, the provider that already \
         shows the launch and answers fastest (on the first arm's polls).",
        WorkloadConfig::default().detection_grace.as_secs()
    );
    println!(
        "\nstreaming: logsSubscribe on the launchpad at `{}`, through dualrpc and straight to each \
         provider; one provider's PubSub connections dropped every {} s ({} times), {} launches",
        stream.commitment,
        stream_config.disconnect_every.as_secs(),
        stream.forced_disconnects,
        stream.launches
    );
    println!("{}", streaming::render_table(&stream));
    println!(
        "ms from a launch's creation to the client's notification; behind first = after the \
         first provider's copy; ahead of first = launches heard of more than 1 ms before every \
         direct client; lost = launches never notified; first provider = the earliest direct \
         client per launch (the oracle)."
    );
    Ok(())
}

/// `dualrpc bench`.
pub async fn bench(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.budget {
        return budget(args).await;
    }
    if args.overhead {
        return overhead(args).await;
    }
    if args.streaming {
        return streaming_bench(args).await;
    }
    let with_nginx = crate::nginx::find_nginx().is_some();
    if !with_nginx && args.run.arms.is_empty() {
        eprintln!("nginx not found: the nginx arm is skipped (scripts/bench.sh installs it)");
    }
    let arms = parse_arms(&args.run.arms, with_nginx)?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let run = run_arms(&args.run, &arms, command).await?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("bench-results").join(&run.scenario));
    let path = report::write_report(&dir, &run, &report::Targets::default())?;
    println!("{}", report::render_table(&run));
    println!("report written to {}", path.display());
    Ok(())
}

/// Writes `md` to `dir/report.md` and prints it, then where it went.
fn publish(dir: &std::path::Path, md: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("report.md");
    std::fs::write(&path, md)?;
    println!("{md}");
    println!("report written to {}", path.display());
    Ok(())
}

/// CPU model, core count, OS and date, for the report.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {} {}, {date}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// `dualrpc bench --overhead`.
async fn overhead(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("bench-results").join("overhead"));
    eprintln!(
        "gateway overhead beside nginx: wrk, one thread, distinct getBalance per request, {} s per run…",
        args.overhead_secs
    );
    let config = crate::overhead::OverheadConfig {
        secs: args.overhead_secs,
        gateway_bin: std::env::current_exe()?,
        dir: dir.join("work"),
        memory: args.memory.clone(),
        rounds: args.overhead_rounds,
    };
    let run = crate::overhead::run(&config).await?;
    let md = crate::overhead::render(&run, &command, &machine());
    let _ = std::fs::remove_dir_all(&config.dir);
    publish(&dir, &md)?;
    Ok(())
}

/// `dualrpc bench --streaming`.
async fn streaming_bench(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let profile = profile(&args.run)?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("bench-results").join("streaming"));
    let config = streaming_config(&args.run, Duration::from_secs(args.disconnect_every));
    eprintln!(
        "streaming on `{}`: logsSubscribe through dualrpc and each provider for {} s…",
        profile.name, args.run.duration
    );
    let run = streaming::run(&profile, args.run.seed, &config).await?;
    let mut footprint = Vec::new();
    if args.streaming_subscriptions > 0 {
        eprintln!(
            "footprint: `dualrpc serve` holding {} subscriptions, distinct then shared…",
            args.streaming_subscriptions
        );
        let mut quiet = profile.clone();
        for e in &mut quiet.endpoints {
            // The footprint measures holding and forwarding, not reconnecting.
            e.pubsub.mean_time_between_disconnects = Duration::ZERO;
        }
        let cluster = arms::cluster(&quiet, args.run.seed).await?;
        footprint = streaming::footprint::run(
            &std::env::current_exe()?,
            &dir.join("work"),
            &cluster,
            args.streaming_subscriptions,
            Duration::from_secs(10),
        )
        .await?;
        cluster.shutdown().await;
        let _ = std::fs::remove_dir_all(dir.join("work"));
    }
    let md = streaming::render_markdown(&run, &footprint, &command, &machine());
    publish(&dir, &md)?;
    Ok(())
}

/// `dualrpc bench --budget`.
async fn budget(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let step = Duration::from_secs(args.budget_step.max(1));
    eprintln!(
        "upstream-budget benchmark: 2 providers × 100 calls/s, {} s per offered rate…",
        step.as_secs()
    );
    let run = crate::budget::run(2, 100, step, &[0.1, 0.5, 0.8, 0.9, 0.95, 1.0, 1.1]).await?;
    let md = crate::budget::render(&run, &command, &machine());
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("bench-results").join("budget"));
    publish(&dir, &md)?;
    Ok(())
}
