//! `dualrpc serve`: the gateway from a config file or from `--endpoint NAME=URL` flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use dualrpc::{Config, Pool, Settings};
use dualrpc_gateway::{Gateway, GatewayConfig, Workers, config};

/// Arguments of `dualrpc serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// TOML config file (see README.md). `${VAR}` in values is taken from the environment.
    #[arg(long, short, conflicts_with = "endpoint")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the config's `listen`; default 127.0.0.1:8899).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Worker threads, each with its own runtime, socket and upstream connections
    /// (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// An upstream as NAME=URL; repeat for each. Every other setting takes its default.
    #[arg(long, value_name = "NAME=URL")]
    endpoint: Vec<String>,
}

/// `NAME=URL`, parsed here rather than by clap: clap's error for a bad value quotes the
/// value, and the URL may carry an API key. This error never repeats the argument.
fn parse_endpoint(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, u)| (n.trim().to_string(), u.trim().to_string()))
        .filter(|(n, u)| !n.is_empty() && !u.is_empty())
        .ok_or_else(|| {
            "--endpoint expects NAME=URL (for example helius=https://…); the value is not shown: it may hold a key".to_string()
        })
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (settings, mut gateway) = match (&args.config, args.endpoint.is_empty()) {
        (Some(path), _) => config::load(path)?,
        (None, false) => {
            let endpoints = args
                .endpoint
                .iter()
                .map(|e| parse_endpoint(e))
                .collect::<Result<Vec<_>, _>>()?;
            (
                Settings::from_config(&Config::from_endpoints(endpoints)?)?,
                GatewayConfig::default(),
            )
        }
        (None, true) => return Err("give --config FILE or at least one --endpoint NAME=URL".into()),
    };
    if let Some(listen) = args.listen {
        gateway.listen = listen;
    }
    // The recorder first, so the pool's first metrics are recorded.
    dualrpc_gateway::install_metrics_recorder();
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // One upstream client slot per worker, sized before the pool allocates them.
    dualrpc::worker::reserve(workers);
    let pool = Pool::new(settings)?;
    let server = Workers::start(pool, gateway, workers)?;
    tracing::info!(
        listen = %server.addr(),
        ws_listen = %server.ws_addr(),
        workers,
        endpoints = %server.pool().endpoint_names().join(","),
        "dualrpc gateway ready"
    );
    if let Some(path) = args.config.clone() {
        reload_on_sighup(server.gateway().clone(), path);
    }
    server.run_until(crate::shutdown_signal()).await?;
    tracing::info!("shut down: every in-flight request was answered");
    Ok(())
}

/// On SIGHUP, reads the config file again and swaps in a new pool and options; calls in
/// flight finish on the old ones. The new pool keeps what the old one knew about the chain
/// (slots served, the slot ceiling) when they share an endpoint ([`Pool::new_after`]). A config that does not load is reported and ignored.
/// The listen address is not changed by a reload.
fn reload_on_sighup(gateway: Gateway, path: PathBuf) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP: config reload disabled");
            return;
        };
        while hup.recv().await.is_some() {
            let loaded = config::load(&path).and_then(|(settings, gw)| {
                Pool::new_after(settings, &gateway.pool()).map(|p| (p, gw.options))
            });
            match loaded {
                Ok((pool, options)) => {
                    let names = pool.endpoint_names().join(",");
                    gateway.reload(pool, options);
                    tracing::info!(endpoints = %names, "config reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "config reload failed; keeping the running config")
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (gateway, path);
}
