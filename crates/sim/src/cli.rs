//! `dualrpc sim`: start a cluster from the command line and print its endpoints as
//! `NAME=URL` lines, ready to paste as `--endpoint NAME=URL` into `dualrpc serve`. Each
//! endpoint also serves Solana PubSub at its URL with `ws://` instead of `http://` (same host,
//! port and path), as the gateway expects; a last line says so.

use std::error::Error;
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

use crate::profile::Profile;
use crate::server::{Cluster, ClusterOptions};

/// Command-line options of `dualrpc sim`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct SimArgs {
    /// Profile to run (see --list-profiles).
    #[arg(long, default_value = "seed")]
    pub profile: String,
    /// Seed for the chain and every latency/fault draw (same seed, same chain).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub listen_ip: IpAddr,
    /// First port; endpoints take consecutive ports. 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    pub base_port: u16,
    /// Number of endpoints (default: the profile's own). More than the profile has cycles
    /// through its endpoints (`alpha`, `beta`, `alpha-2`, …); fewer keeps the first ones.
    #[arg(long)]
    pub endpoints: Option<usize>,
    /// Print the profiles and exit.
    #[arg(long)]
    pub list_profiles: bool,
}

/// Runs `dualrpc sim`: prints the profile summary, one `NAME=URL` line per endpoint and a line
/// about PubSub (`ws://` on the same ports), then serves until `shutdown` resolves.
pub async fn run_cli(
    args: SimArgs,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Box<dyn Error>> {
    let mut stdout = std::io::stdout();
    if args.list_profiles {
        for name in Profile::names() {
            if let Some(profile) = Profile::named(name) {
                writeln!(stdout, "{}", profile.summary())?;
            }
        }
        return Ok(());
    }
    let mut profile = Profile::named(&args.profile).ok_or_else(|| {
        format!(
            "unknown profile {:?}; known: {}",
            args.profile,
            Profile::names().join(", ")
        )
    })?;
    if let Some(n) = args.endpoints {
        if !(1..=64).contains(&n) {
            return Err("--endpoints must be between 1 and 64".into());
        }
        profile = profile.with_endpoint_count(n);
    }
    let cluster = Cluster::start(
        &profile,
        ClusterOptions {
            seed: args.seed,
            listen_ip: args.listen_ip,
            base_port: Some(args.base_port),
            ..ClusterOptions::default()
        },
    )
    .await?;
    writeln!(stdout, "{} (seed {})", profile.summary(), args.seed)?;
    for endpoint in cluster.endpoints() {
        writeln!(stdout, "{}={}", endpoint.name(), endpoint.url())?;
    }
    if let Some(first) = cluster.endpoints().first() {
        writeln!(
            stdout,
            "PubSub: each endpoint also serves Solana PubSub at its URL with ws:// (e.g. {})",
            first.ws_url()
        )?;
    }
    stdout.flush()?;
    shutdown.await;
    cluster.shutdown().await;
    Ok(())
}
